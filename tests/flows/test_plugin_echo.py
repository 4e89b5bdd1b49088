"""The example platform of ``docs/plugins.md`` (``examples/plugin-echo``), installed into
the test environment as its own distribution with its entry point, works everywhere a
built-in platform does: ``check``, ``preview``, ``run --once``, ``post``, ``history``,
``init --to`` and ``auth``. No file of FeedRelay names it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import adapters
from bot.cli import main
from tests.conftest import REPO, feed_table, modules_loaded_by, write_config
from tests.fakes.echo_api import FakeEcho
from tests.fakes.feed_server import FakeBlog
from tests.platforms import echo as hooks

PLUGIN = REPO / "examples" / "plugin-echo"


@pytest.fixture(autouse=True)
def _installed() -> None:
    assert "echo" in adapters.platforms(), (
        "the example plugin is not installed: pip install -e examples/plugin-echo"
    )


@pytest.fixture
def endpoint() -> Iterator[FakeEcho]:
    fake = hooks.start_fake()
    yield fake
    fake.stop()


def _invoke(path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(path), *args], env=env or hooks.ENV)


def test_a_blog_posts_to_the_plugin_from_check_to_history(
    tmp_path: Path, blog: FakeBlog, endpoint: FakeEcho
) -> None:
    blog.add_entry("Already there")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["hook"]),
        hooks.target_table(endpoint.url, "hook"),
    )
    checked = _invoke(path, "check")
    assert checked.exit_code == 0, checked.output
    online = _invoke(path, "check", "--online")
    assert online.exit_code == 0, online.output
    assert "echo-user" in online.output

    first = _invoke(path, "run", "--once")  # a baseline: nothing is posted
    assert first.exit_code == 0, first.output
    assert endpoint.posts == []

    entry = blog.add_entry("Tomatoes in December")
    previewed = json.loads(_invoke(path, "preview", "--json", "--limit", "1").stdout)
    assert previewed[0]["platform"] == "echo"
    assert previewed[0]["post"]["text"] == f"Tomatoes in December {blog.entry_url(entry)}"

    second = _invoke(path, "run", "--once")
    assert second.exit_code == 0, second.output
    assert [p["text"] for p in endpoint.posts] == [f"Tomatoes in December {blog.entry_url(entry)}"]

    old = blog.add_entry("Posted by hand")
    by_hand = _invoke(path, "post", blog.entry_url(old))
    assert by_hand.exit_code == 0, by_hand.output
    assert f"hook: posted {endpoint.url}/p/" in by_hand.output

    history = json.loads(_invoke(path, "history", "--json").stdout)
    assert sorted(row["remote_id"] for row in history) == sorted(p["id"] for p in endpoint.posts)
    assert hooks.TOKEN not in first.output + second.output + by_hand.output + online.output


def test_init_asks_the_plugins_question_and_auth_runs_its_flow(
    tmp_path: Path, blog: FakeBlog, endpoint: FakeEcho
) -> None:
    config = tmp_path / "feedrelay.toml"
    written = CliRunner().invoke(
        main,
        ["init", "--config", str(config), "--blog", blog.url, "--to", "echo"],
        input=f"{endpoint.endpoint}\n",
    )
    assert written.exit_code == 0, written.output
    assert "Endpoint (http://... or https://...)" in written.output  # the plugin's question
    text = config.read_text()
    assert '[targets.echo]\nplatform = "echo"' in text
    assert f'url = "{endpoint.endpoint}"' in text
    assert 'token = "${ECHO_TOKEN}"' in text
    assert "ECHO_TOKEN=" in (tmp_path / ".env").read_text()

    checked = CliRunner().invoke(main, ["--config", str(config), "auth", "echo"], env=hooks.ENV)
    assert checked.exit_code == 0, checked.output
    assert "echo-user" in checked.output
    refused = CliRunner().invoke(
        main, ["--config", str(config), "auth", "echo"], env={"ECHO_TOKEN": "wrong-token"}
    )
    assert refused.exit_code == 1
    assert "refused the token" in refused.output


def test_nothing_of_the_plugin_is_imported_until_a_config_uses_it(tmp_path: Path) -> None:
    plugin_modules = ("feedrelay_echo", "feedrelay_echo.client")
    help_code = "from click.testing import CliRunner\nfrom bot.cli import main\n"
    help_code += "CliRunner().invoke(main, ['--help'])"
    assert modules_loaded_by(help_code, plugin_modules) == []
    path = write_config(tmp_path, feed_table("blog", "http://127.0.0.1:9/feed", ["x"]))
    path.write_text(path.read_text() + '[targets.x]\nplatform = "reddit"\nsubreddit = "a_b"\n')
    loading = (
        "from bot.config import load_config\n"
        f"from pathlib import Path\ntry:\n    load_config(Path({str(path)!r}))\n"
        "except Exception:\n    pass"
    )
    assert modules_loaded_by(loading, plugin_modules) == []
    uses_it = write_config(tmp_path, feed_table("blog", "http://127.0.0.1:9/feed", ["e"]))
    uses_it.write_text(uses_it.read_text() + hooks.target_table("http://127.0.0.1:9", "e"))
    loading = (
        "from bot.config import load_config\n"
        "from pathlib import Path\n"
        f"load_config(Path({str(uses_it)!r}), environ={{'ECHO_TOKEN': 'x' * 8}})"
    )
    assert modules_loaded_by(loading, plugin_modules) == ["feedrelay_echo"]  # not its client


def test_the_plugin_page_shows_the_files_the_tests_install() -> None:
    """docs/plugins.md writes out every file of the example: each block headed by its
    path is that file, byte for byte."""
    page = (REPO / "docs" / "plugins.md").read_text()
    blocks = dict(
        re.findall(r"^`(examples/plugin-echo/[^`]+)`:\n\n```\w*\n(.*?)```$", page, re.M | re.S)
    )
    files = {
        str(path.relative_to(REPO)): path.read_text()
        for path in PLUGIN.rglob("*")
        if path.is_file() and path.suffix in (".py", ".toml")
    }
    assert set(blocks) == set(files)
    for name, text in files.items():
        assert blocks[name] == text, f"docs/plugins.md shows another {name}"
