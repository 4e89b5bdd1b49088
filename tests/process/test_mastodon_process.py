"""Mastodon as a real subprocess: ``run --once`` posts with the entry's image and its alt
text, and the auth flows. (The crash suite, ``tests/process/test_crash.py``, kills it at each
failpoint as it does every registered platform.)"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bot.cli import main
from bot.failpoints import ENV_VAR
from tests.conftest import LOOPBACK_IMAGES, feed_table, write_config
from tests.fakes.feed_server import FakeBlog
from tests.fakes.mastodon_api import FakeMastodon
from tests.platforms import mastodon as hooks
from tests.terminal import Terminal


@pytest.fixture
def mastodon_api() -> Iterator[FakeMastodon]:
    with hooks.start_fake() as fake:
        yield fake


def _feedrelay(
    path: Path, *args: str, failpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **hooks.ENV}
    env.pop(ENV_VAR, None)
    if failpoint:
        env[ENV_VAR] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_run_once_posts_the_entry_with_its_image_and_alt_text(
    tmp_path: Path, blog: FakeBlog, mastodon_api: FakeMastodon
) -> None:
    fake = mastodon_api
    fake.processing_polls = 2
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    image = blog.add_image("beans.png", png)
    entry = blog.add_entry("Beans", f'<p><img src="{image}" alt="A bowl of beans"></p>')
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["target"], backfill=1),
        hooks.target_table(fake.url, name="target")
        + 'visibility = "unlisted"\nspoiler_text = "food"\n',
        bot=LOOPBACK_IMAGES,
    )
    result = _feedrelay(path, "run", "--once")
    assert result.returncode == 0, result.stderr
    (status,) = fake.statuses
    assert hooks.posted_links(fake) == [blog.entry_url(entry)]
    assert status["visibility"] == "unlisted" and status["spoiler_text"] == "food"
    (attachment,) = status["media_attachments"]
    assert attachment["description"] == "A bowl of beans"
    (request,) = fake.requests_to(*hooks.CREATE)
    assert request.header("Idempotency-Key")
    history = _feedrelay(path, "history")
    assert status["url"] in history.stdout
    for secret in hooks.SECRETS:
        assert secret not in result.stdout + result.stderr + history.stdout + history.stderr


# -- feedrelay auth mastodon, and check --online ---------------------------------------------
def _config(tmp_path: Path, blog: FakeBlog, fake: FakeMastodon) -> Path:
    return write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["mastodon"]),
        hooks.target_table(fake.url),
    )


def _the_person_opens(url: str) -> str:
    """Open the authorise page as the signed-in person would; return the code it shows."""
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    found = re.search(r"<code>([^<]+)</code>", page.text)
    assert found, page.text
    return found.group(1)


def test_auth_mastodon_registers_an_app_and_trades_the_pasted_code(
    tmp_path: Path, blog: FakeBlog, mastodon_api: FakeMastodon
) -> None:
    fake = mastodon_api
    _config(tmp_path, blog, fake)
    term = Terminal("-vv", "auth", "mastodon", cwd=tmp_path, env={})
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?\S+)").group(1)
    term.answer(r"code the instance shows: ", _the_person_opens(url))
    token = term.expect(r"MASTODON_ACCESS_TOKEN=(\S+)\r?\n").group(1)
    host = fake.url.split("://", 1)[1]
    term.expect(rf"checked: posting as @feedrelay@{re.escape(host)}")
    assert term.finish() == 0
    assert token in fake.tokens and term.screen.count(token) == 1
    (app,) = fake.apps.values()
    assert app["scopes"] == ["read:accounts", "read:statuses", "write:statuses", "write:media"]
    assert app["redirect_uri"] == "urn:ietf:wg:oauth:2.0:oob"
    assert app["client_secret"] not in term.screen


def test_auth_mastodon_receives_the_code_on_a_local_redirect(
    tmp_path: Path, blog: FakeBlog, mastodon_api: FakeMastodon
) -> None:
    fake = mastodon_api
    _config(tmp_path, blog, fake)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    term = Terminal("auth", "mastodon", "--redirect-port", str(port), cwd=tmp_path, env={})
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?\S+)").group(1)
    term.expect("Waiting for the instance")
    page = requests.get(url, timeout=5)  # the instance sends the browser to the port
    assert "FeedRelay has the code" in page.text
    token = term.expect(r"MASTODON_ACCESS_TOKEN=(\S+)\r?\n").group(1)
    assert term.finish() == 0
    assert token in fake.tokens


def test_a_wrong_code_says_to_run_it_again(
    tmp_path: Path, blog: FakeBlog, mastodon_api: FakeMastodon
) -> None:
    _config(tmp_path, blog, mastodon_api)
    term = Terminal("auth", "mastodon", cwd=tmp_path, env={})
    term.expect(r"http://127\.0\.0\.1:\d+/oauth/authorize\?\S+")
    term.answer(r"code the instance shows: ", "not-the-code")
    term.expect(r"run `feedrelay auth mastodon` again")
    assert term.finish() == 1


def test_check_online_names_the_account_and_a_token_without_write_media(
    tmp_path: Path, blog: FakeBlog
) -> None:
    with hooks.start_fake(scopes=("read", "write:statuses")) as fake:
        path = _config(tmp_path, blog, fake)
        result = CliRunner().invoke(
            main, ["--config", str(path), "check", "--online"], env=hooks.ENV
        )
        host = fake.url.split("://", 1)[1]
    assert result.exit_code == 1, result.output
    assert f"target mastodon: PROBLEM, posting as @feedrelay@{host}:" in result.output
    assert "the token may not write:media" in result.output
    assert fake.statuses == []
    assert hooks.ACCESS_TOKEN not in result.output
