"""Webhook-specific behaviour of ``adapters.webhook`` against the loopback ``FakeReceiver``,
which checks signatures as the Standard Webhooks spec says; and end to end through the CLI."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click.testing
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

import adapters
from adapters.webhook.client import WebhookAdapter
from adapters.webhook.render import WebhookOptions, describe_webhook, render_webhook
from adapters.webhook.spec import LIMITS, WebhookTarget
from bot.cli import main
from bot.errors import (
    AuthError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Post, Published
from tests.conftest import REPO, feed_table, modules_loaded_by, write_config
from tests.fakes.feed_server import FakeBlog
from tests.fakes.webhook_receiver import FakeReceiver, expected_signature
from tests.platforms import Failure
from tests.platforms import webhook as hooks


@pytest.fixture
def fake() -> Iterator[FakeReceiver]:
    with hooks.start_fake() as server:
        yield server


@pytest.fixture
def adapter(fake: FakeReceiver) -> Iterator[WebhookAdapter]:
    made = hooks.make_adapter(fake)
    yield made
    made.close()


def publish_error(adapter: WebhookAdapter, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as raised:
        adapter.publish(post or hooks.sample_post())
    return raised.value


# -- the body ------------------------------------------------------------------------------
def test_the_body_carries_the_entry_and_the_delivery_id() -> None:
    post = hooks.sample_post()
    body = json.loads(post.body)
    assert body == {
        "type": "entry.new",
        "id": post.slug,
        "timestamp": body["timestamp"],
        "data": {
            "feed": "blog",
            "feed_title": "A blog",
            "id": "tag:blog.example,2025:post-1",
            "link": "https://blog.example/2025/06/hello-webhooks.html",
            "title": "Hello, webhooks",
            "summary": "Why FeedRelay now signs what it sends.",
            "labels": ["feedrelay", "python"],
            "image": {"url": "https://blog.example/img/cover.png", "alt": "A cover"},
            "published": "2025-06-01T09:30:00Z",
            "author": "Ada",
        },
    }
    assert post.slug.startswith("msg_") and len(post.slug) == 36
    assert post.link == body["data"]["link"] and post.title == "Hello, webhooks"
    assert post.body == json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def test_every_render_is_a_new_delivery_id() -> None:
    ids = {hooks.sample_post().slug for _ in range(50)}
    assert len(ids) == 50


def test_render_options_and_missing_parts() -> None:
    entry = replace(
        hooks.SAMPLE_ENTRY,
        summary_html="<p>" + "word " * 400 + "</p>",
        published_at=None,
    )
    body = json.loads(render_webhook(entry, WebhookOptions(summary_chars=50), LIMITS).post.body)
    assert len(body["data"]["summary"]) <= 50 and body["data"]["summary"].endswith("…")
    assert body["data"]["published"] is None
    bare = render_webhook(entry, WebhookOptions(summary_chars=0, image=False), LIMITS).post
    assert json.loads(bare.body)["data"]["summary"] == ""
    assert json.loads(bare.body)["data"]["image"] is None and bare.image is None


def test_describe_shows_the_id_and_the_indented_body() -> None:
    post = hooks.sample_post()
    described = describe_webhook(post, LIMITS)
    labels = [line.label for line in described.lines]
    assert labels == ["webhook-id", "title", "link", "image", "body"]
    assert described.lines[-1].value.startswith('{\n  "type": "entry.new"')
    assert described.budget == f"body {len(post.body.encode())} bytes"


# -- what goes out -------------------------------------------------------------------------
def test_publish_posts_the_stored_body_signed_now(
    fake: FakeReceiver, adapter: WebhookAdapter
) -> None:
    post = hooks.sample_post()
    before = int(time.time())
    published = adapter.publish(post)
    [sent] = fake.requests_to("POST", hooks.PATH)
    assert sent.body == post.body.encode()
    assert sent.header("content-type") == "application/json"
    assert sent.header("webhook-id") == post.slug
    timestamp = sent.header("webhook-timestamp")
    assert before <= int(timestamp) <= int(time.time())
    assert sent.header("webhook-signature") == expected_signature(
        hooks.SECRET, post.slug, timestamp, sent.body
    )
    assert sent.header("authorization") == f"Bearer {hooks.HOOK_TOKEN}"
    assert "feedrelay" in sent.header("user-agent").lower()
    assert fake.refused == []
    [taken] = fake.accepted
    assert published == Published(
        remote_id=taken["id"], url=f"https://automation.example.org/runs/{taken['id']}"
    )


def test_the_reference_library_verifies_what_we_send(
    fake: FakeReceiver, adapter: WebhookAdapter
) -> None:
    # What docs/webhooks.md tells a receiver to do.
    from standardwebhooks import Webhook

    adapter.publish(hooks.sample_post())
    [sent] = fake.requests_to("POST", hooks.PATH)
    payload = Webhook(hooks.SECRET).verify(sent.body, sent.headers)
    assert payload["data"]["link"] == hooks.SAMPLE_ENTRY.link


def test_a_retry_sends_the_same_id_and_body_and_the_receiver_drops_it(
    fake: FakeReceiver, adapter: WebhookAdapter
) -> None:
    post = hooks.sample_post()
    fake.accept_then_drop_next()
    assert type(publish_error(adapter, post)) is OutcomeUnknownError
    again = adapter.publish(post)
    first, second = fake.requests_to("POST", hooks.PATH)
    assert first.header("webhook-id") == second.header("webhook-id") == post.slug
    assert first.body == second.body
    assert len(fake.accepted) == 1 and [r["webhook_id"] for r in fake.repeats] == [post.slug]
    assert fake.repeats[0]["same_body"]
    assert again.remote_id == fake.accepted[0]["id"]


@pytest.mark.parametrize(("answer_id", "answer_url"), [(False, False), (True, False)])
def test_an_answer_without_json_records_the_delivery_id(answer_id: bool, answer_url: bool) -> None:
    with hooks.start_fake(answer_id=answer_id, answer_url=answer_url) as fake:
        post = hooks.sample_post()
        published = hooks.make_adapter(fake).publish(post)
        expected = fake.accepted[0]["id"] if answer_id else post.slug
        assert published == Published(remote_id=expected, url="")


def test_a_wrong_secret_is_refused_by_the_receiver(fake: FakeReceiver) -> None:
    other = "whsec_" + "QUJD" * 8
    error = publish_error(hooks.make_adapter(fake, secret=other))
    assert type(error) is AuthError
    assert fake.accepted == [] and fake.refused[0][1] == "no matching signature"


def test_a_post_without_a_body_is_refused_before_sending(adapter: WebhookAdapter) -> None:
    error = publish_error(adapter, Post(text="hi", link="https://blog.example/p"))
    assert type(error) is PostRejectedError and "--force" in str(error)


def test_redirects_are_not_followed(fake: FakeReceiver, adapter: WebhookAdapter) -> None:
    fake.fail_next(307, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    assert type(publish_error(adapter)) is TransientError
    assert len(fake.requests) == 1


# -- answers -------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", hooks.FAILURES, ids=lambda f: f.id)
def test_error_mapping(fake: FakeReceiver, adapter: WebhookAdapter, failure: Failure) -> None:
    failure.arrange(fake)
    error = publish_error(adapter)
    assert type(error) is failure.expected, f"{type(error).__name__}: {error}"
    assert error.target == "t"
    assert failure.says in str(error)


def test_retry_after_is_honoured(fake: FakeReceiver, adapter: WebhookAdapter) -> None:
    for status, headers, wait_s in [(429, {"Retry-After": "120"}, 120), (429, {}, 300)]:
        fake.fail_next(status, headers=headers)
        before = datetime.now(UTC)
        error = publish_error(adapter)
        assert isinstance(error, RateLimitedError)
        expected = before + timedelta(seconds=wait_s)
        assert expected <= error.retry_at <= expected + timedelta(seconds=5)


def test_connection_refused_is_transient(fake: FakeReceiver) -> None:
    adapter = hooks.make_adapter(fake, url="http://127.0.0.1:9/hooks/blog")
    assert type(publish_error(adapter)) is TransientError


def test_no_secret_appears_in_any_error(fake: FakeReceiver) -> None:
    token_path = "/hooks/catch/123/Zt9sQk3LmW"
    url = fake.url + token_path
    errors: list[BaseException] = []
    with hooks.start_fake(path=token_path) as tokened:
        url = tokened.url + token_path
        adapter = hooks.make_adapter(tokened, url=url)
        for case in hooks.FAILURES:
            case.arrange(tokened)
            errors.append(publish_error(adapter))
        tokened.fail_next(410, body=f"gone {hooks.HOOK_TOKEN} {url}")
        errors.append(publish_error(adapter))
    errors.append(publish_error(hooks.make_adapter(fake, url=f"http://127.0.0.1:9{token_path}")))
    for error in errors:
        text = f"{error} {error!r}"
        for secret in (*hooks.SECRETS, token_path, url):
            assert secret not in text, text
        # The cause is requests' own exception (tracebacks at -vv): it names the path.
        for secret in hooks.SECRETS:
            assert secret not in str(error.__cause__)


# -- check --online --------------------------------------------------------------------------
def test_verify_sends_one_head_and_delivers_nothing(
    fake: FakeReceiver, adapter: WebhookAdapter
) -> None:
    assert adapter.verify() == fake.url
    assert adapter.problems() == []
    [head] = fake.requests
    assert head.method == "HEAD" and head.header("authorization").endswith(hooks.HOOK_TOKEN)
    assert "webhook-signature" not in head.headers
    assert fake.accepted == []


def test_verify_reports_a_gone_receiver_and_a_refused_token(fake: FakeReceiver) -> None:
    adapter = hooks.make_adapter(fake)
    fake.head_status = 410
    with pytest.raises(AuthError, match="the receiver is gone"):
        adapter.verify()
    fake.head_status = 401
    assert adapter.verify() == fake.url
    assert "answered 401" in adapter.problems()[0]


def test_verify_with_check_none_sends_nothing(fake: FakeReceiver) -> None:
    adapter = hooks.make_adapter(fake, check="none")
    assert "not checked" in adapter.verify()
    assert fake.requests == []


def test_verify_cannot_reach_is_transient(fake: FakeReceiver) -> None:
    with pytest.raises(TransientError):
        hooks.make_adapter(fake, url="http://127.0.0.1:9/x").verify()


# -- settings ------------------------------------------------------------------------------
def _settings(**values: Any) -> WebhookTarget:
    base: dict[str, Any] = {
        "platform": "webhook",
        "url": "https://automation.example.org/hooks/blog",
        "secret": hooks.SECRET,
    }
    return WebhookTarget.model_validate(base | values)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"secret": "whsec_not*base64"}, "must be whsec_ followed by base64"),
        ({"secret": "whsec_QUJD"}, "holds 3 bytes"),
        ({"url": "ftp://example.org/x"}, "is not a webhook URL"),
        ({"headers": {"webhook-id": "x"}}, "is set by FeedRelay"),
        ({"headers": {"Bad Name": "x"}}, "is not a header name"),
        ({"headers": {"X-A": "a\r\nb"}}, "line break"),
        ({"check": "ping"}, "'head' or 'none'"),
        ({"api_base": "http://127.0.0.1:1"}, "its whole address is url"),
    ],
)
def test_settings_are_checked(values: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _settings(**values)
    assert says in str(raised.value)
    assert hooks.SECRET not in str(raised.value)


def test_settings_hide_secrets_and_count_url_and_headers_as_credentials() -> None:
    settings = _settings(headers={"Authorization": f"Bearer {hooks.HOOK_TOKEN}"})
    assert hooks.SECRET not in repr(settings) and hooks.HOOK_TOKEN not in repr(settings)
    assert settings.credentials() == {
        "secret": hooks.SECRET,
        "url": "https://automation.example.org/hooks/blog",
        "headers.Authorization": f"Bearer {hooks.HOOK_TOKEN}",
    }
    assert settings.destination() == {
        "account": None,
        "receiver": "https://automation.example.org",
    }
    # Without the prefix, as some receivers show it, the secret is the same key.
    assert _settings(secret=hooks.SECRET.removeprefix("whsec_")).secret


def test_reading_the_spec_loads_no_signing_library() -> None:
    assert (
        modules_loaded_by(
            'import adapters\nadapters.spec("webhook")', modules=("standardwebhooks",)
        )
        == []
    )
    imports = re.compile(r"^\s*(?:import|from)\s+standardwebhooks\b", re.M)
    for path in [*REPO.joinpath("adapters").rglob("*.py"), *REPO.joinpath("bot").rglob("*.py")]:
        if imports.search(path.read_text(encoding="utf-8")):
            assert path.relative_to(REPO).as_posix() == "adapters/webhook/client.py", path


def test_the_platform_is_registered_and_resends_safely() -> None:
    spec = adapters.spec("webhook")
    assert spec.resend_is_safe
    assert spec.cost(_settings(), hooks.sample_post()) == 0.0
    assert adapters.named("webhooks") == "webhook"


# -- end to end ----------------------------------------------------------------------------
def _cli(path: Path) -> Any:
    def run(*args: str) -> click.testing.Result:
        return CliRunner().invoke(main, ["--config", str(path), *args], env=hooks.ENV)

    return run


def test_run_once_delivers_each_entry_once_and_history_shows_the_url(
    tmp_path: Path, blog: FakeBlog, fake: FakeReceiver
) -> None:
    blog.add_entry("Old news")
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["hook"]), hooks.target_table(fake.url, "hook")
    )
    run = _cli(path)
    checked = run("check", "--online")
    assert checked.exit_code == 0, checked.output
    assert run("run", "--once").exit_code == 0  # the baseline: nothing sent
    entry = blog.add_entry("Fresh post", labels=["Rust"])
    result = run("-v", "run", "--once")
    assert result.exit_code == 0, result.output
    assert run("run", "--once").exit_code == 0
    assert hooks.posted_links(fake) == [blog.entry_url(entry)]
    assert fake.repeats == [] and fake.refused == []
    (row,) = json.loads(run("history", "--json").output)
    assert row["status"] == "posted" and row["platform"] == "webhook"
    assert row["remote_id"] == fake.accepted[0]["id"]
    assert row["remote_url"] == f"https://automation.example.org/runs/{row['remote_id']}"
    assert fake.accepted[0]["body"]["data"]["labels"] == ["Rust"]
    # A forced repost is a new delivery: a new webhook-id, taken as a new one.
    forced = run("post", blog.entry_url(entry), "--to", "hook", "--force")
    assert forced.exit_code == 0, forced.output
    first, second = fake.accepted
    assert second["body"]["data"]["link"] == blog.entry_url(entry)
    assert second["webhook_id"] != first["webhook_id"]
    for output in (checked.output, result.output, run("status").output):
        for secret in hooks.SECRETS:
            assert secret not in output


def test_an_unknown_outcome_is_resent_with_the_same_id_and_taken_once(
    tmp_path: Path, blog: FakeBlog, fake: FakeReceiver
) -> None:
    from tests.conftest import Clock, open_app

    clock = Clock()
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["hook"]), hooks.target_table(fake.url, "hook")
    )
    with open_app(path, clock, hooks.ENV) as app:
        app.poll_due_feeds()
    entry = blog.add_entry("Answer lost")
    fake.accept_then_drop_next()
    clock.advance(minutes=11)
    with open_app(path, clock, hooks.ENV) as app:
        app.poll_due_feeds()
        app.dispatch_due()
        assert [d.state.value for d in app.history()] == ["unknown"]
    for _ in range(3):
        clock.advance(minutes=30)
        with open_app(path, clock, hooks.ENV) as app:
            app.dispatch_due()
    with open_app(path, clock, hooks.ENV) as app:
        assert [d.state.value for d in app.history()] == ["posted"]
    assert hooks.posted_links(fake) == [blog.entry_url(entry)]
    sent = {r.header("webhook-id") for r in fake.requests_to(*hooks.CREATE)}
    assert len(fake.requests_to(*hooks.CREATE)) == 2 and sent == {fake.accepted[0]["webhook_id"]}
    assert [r["webhook_id"] for r in fake.repeats] == [fake.accepted[0]["webhook_id"]]


def test_410_pauses_the_target_until_the_url_changes(
    tmp_path: Path, blog: FakeBlog, fake: FakeReceiver
) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["hook"]), hooks.target_table(fake.url, "hook")
    )
    run = _cli(path)
    assert run("run", "--once").exit_code == 0
    blog.add_entry("First")
    fake.fail_next(410)
    assert run("run", "--once").exit_code == 1
    blog.add_entry("Second")
    run("run", "--once")
    assert len(fake.requests_to(*hooks.CREATE)) == 1  # nothing more went out
    status = run("status").output
    assert "PAUSED" in status and "the receiver is gone" in status
    assert "credentials refused" not in status  # the target's pause says why, in its words
    # A new URL lifts the pause: the entry the old one refused (held, not failed) and the
    # later one go there, in their order.
    with hooks.start_fake() as moved:
        path.write_text(path.read_text().replace(fake.url, moved.url))
        assert run("run", "--once").exit_code == 0
        posted = [link.rsplit("/", 1)[1] for link in hooks.posted_links(moved)]
        assert posted == ["first.html", "second.html"]


def test_preview_shows_the_body(tmp_path: Path, blog: FakeBlog, fake: FakeReceiver) -> None:
    blog.add_entry("Previewed")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["hook"], backfill=1),
        hooks.target_table(fake.url, "hook"),
    )
    result = _cli(path)("run", "--once", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "webhook-id" in result.output and '"type": "entry.new"' in result.output
    assert fake.requests == []


# -- init ----------------------------------------------------------------------------------
def test_init_asks_for_the_url_and_writes_the_target(
    tmp_path: Path, blog: FakeBlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import load_config

    monkeypatch.chdir(tmp_path)
    blog.add_entry("Hooked")
    result = CliRunner().invoke(
        main,
        ["init", "--blog", blog.url, "--to", "webhook"],
        input="ftp://nope\nhttps://automation.example.org/hooks/blog\n",
        env={},
    )
    assert result.exit_code == 0, result.output
    assert "Webhook URL (where each new entry is POSTed): " in result.output
    assert "'ftp://nope' is not a webhook URL" in result.output
    text = (tmp_path / "feedrelay.toml").read_text()
    assert (
        '[targets.webhook]\nplatform = "webhook"\n'
        'url = "https://automation.example.org/hooks/blog"\nsecret = "${WEBHOOK_SECRET}"\n'
    ) in text
    env = (tmp_path / ".env").read_text()
    assert "whsec_" in env and "\nWEBHOOK_SECRET=\n" in env
    config = load_config(tmp_path / "feedrelay.toml", environ={"WEBHOOK_SECRET": hooks.SECRET})
    assert config.targets["webhook"].platform == "webhook"
    url = "http://127.0.0.1:8080/h"
    args = ["init", "--blog", blog.url, "--to", "webhooks", "--webhook-url", url, "--force"]
    given = CliRunner().invoke(main, args, env={})  # no input: a question would abort
    assert given.exit_code == 0, given.output
    assert f'url = "{url}"' in (tmp_path / "feedrelay.toml").read_text()


def test_the_env_comment_makes_a_valid_secret() -> None:
    import shlex
    import subprocess
    import sys

    from adapters.webhook import setup
    from adapters.webhook.spec import secret_bytes

    command = shlex.split(setup.MAKE_SECRET)
    made = subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert made.startswith("whsec_") and len(secret_bytes(made)) == 24


# -- docs/webhooks.md ------------------------------------------------------------------------
DOC = REPO / "docs" / "webhooks.md"


def test_the_docs_worked_example_is_correctly_signed() -> None:
    text = DOC.read_text()
    secret = re.search(r"with the secret\n`(whsec_[^`]+)`", text)
    request = re.search(r"```http\n(.*?)\n\n(.*?)\n```", text, re.S)
    assert secret and request
    headers = dict(line.split(": ", 1) for line in request.group(1).splitlines()[1:])
    body = request.group(2).encode()
    assert headers["webhook-signature"] == expected_signature(
        secret.group(1), headers["webhook-id"], headers["webhook-timestamp"], body
    )
    assert json.loads(body)["id"] == headers["webhook-id"]


def test_the_docs_verifying_snippet_accepts_a_delivery_and_refuses_a_change(
    fake: FakeReceiver, adapter: WebhookAdapter
) -> None:
    code = re.search(
        r"```python\n(import base64, hashlib, hmac, time\n.*?)```", DOC.read_text(), re.S
    )
    assert code
    space: dict[str, Any] = {}
    exec(code.group(1), space)
    adapter.publish(hooks.sample_post())
    [sent] = fake.requests_to(*hooks.CREATE)
    assert space["verified"](hooks.SECRET, sent.body, sent.headers)
    assert not space["verified"](hooks.SECRET, sent.body + b" ", sent.headers)
