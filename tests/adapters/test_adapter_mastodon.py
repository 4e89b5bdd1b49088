"""The Mastodon adapter: the real Mastodon.py against a loopback fake instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.api import LocalMemory
from adapters.mastodon.client import STATUSES_PAGE
from adapters.mastodon.render import idempotency_key
from adapters.mastodon.spec import SPEC
from bot.errors import (
    LookupIncompleteError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Entry, Image, MediaFile, Post, Published
from bot.text.render import render
from tests.adapters import test_adapter_contract as contract
from tests.fakes.mastodon_api import FakeMastodon
from tests.platforms import mastodon as hooks

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def fake() -> Any:
    with hooks.start_fake() as server:
        yield server


def _post(text: str = "Hello, fediverse https://blog.example.com/2026/12/hello", **kw: Any) -> Post:
    entry = Entry(
        feed="blog", key="k1", title="Hello", link="https://blog.example.com/2026/12/hello"
    )
    return Post(text=text, link=entry.link, slug=idempotency_key(entry), **kw)


# -- the contract, on Mastodon (until the contract suite takes every registered platform) --
def test_contract_publish_verify_and_refused_connection() -> None:
    contract.test_publish_returns_the_platforms_id(hooks)
    contract.test_verify_names_the_account(hooks)
    contract.test_connection_refused_is_transient(hooks)


@pytest.mark.parametrize("failure", hooks.FAILURES, ids=[f.id for f in hooks.FAILURES])
def test_contract_error_mapping(failure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "_hooks", lambda name: hooks)
    contract.test_error_mapping("mastodon", failure)


# -- publishing ----------------------------------------------------------------------------
def test_a_status_carries_the_targets_settings_and_the_key(fake: FakeMastodon) -> None:
    adapter = hooks.make_adapter(
        fake, visibility="unlisted", language="en", sensitive=True, target="masto"
    )
    post = _post(title="CW: food")
    published = adapter.publish(post)
    (request,) = fake.requests_to(*hooks.CREATE)
    form = {k: v for k, v in (pair.split("=", 1) for pair in request.body.decode().split("&"))}
    assert form["visibility"] == "unlisted" and form["language"] == "en"
    assert "spoiler_text" in form
    assert request.header("Idempotency-Key") == post.slug
    assert request.header("Authorization") == f"Bearer {hooks.ACCESS_TOKEN}"
    status = fake.statuses[0]
    assert status["spoiler_text"] == "CW: food"
    assert status["sensitive"] is False  # no media: nothing to hide
    assert published == Published(remote_id=status["id"], url=status["url"])


def test_a_resend_with_the_same_key_returns_the_same_status(fake: FakeMastodon) -> None:
    adapter = hooks.make_adapter(fake)
    post = _post()
    first = adapter.publish(post)
    second = adapter.publish(post)
    assert first == second
    assert len(fake.statuses) == 1
    assert len(fake.requests_to(*hooks.CREATE)) == 2


def test_the_instance_limit_is_read_once_and_kept_in_memory(fake: FakeMastodon) -> None:
    memory = LocalMemory()
    adapter = hooks.make_adapter(fake, memory=memory)
    adapter.publish(_post())
    adapter.publish(_post("Second https://blog.example.com/2"))
    assert len(fake.requests_to("GET", r"/api/v2/instance/?")) == 1
    kept = json.loads(memory.get("instance") or "{}")
    assert kept["max_characters"] == 500 and kept["url_weight"] == 23
    again = hooks.make_adapter(fake, memory=memory)
    again.publish(_post("Third https://blog.example.com/3"))
    assert len(fake.requests_to("GET", r"/api/v2/instance/?")) == 1


def test_a_status_over_the_instances_limit_is_refused_before_sending() -> None:
    with hooks.start_fake(max_characters=100) as fake:
        adapter = hooks.make_adapter(fake, target="masto")
        with pytest.raises(PostRejectedError) as raised:
            adapter.publish(_post("word " * 30))
        assert "limit of 100" in str(raised.value)
        assert "max_characters = 100" in str(raised.value)
        assert fake.requests_to(*hooks.CREATE) == []


def test_a_bigger_instance_takes_a_longer_status() -> None:
    with hooks.start_fake(max_characters=5000) as fake:
        adapter = hooks.make_adapter(fake, max_characters=5000)
        adapter.publish(_post("word " * 500))
        assert len(fake.statuses) == 1


def test_urls_count_as_the_instances_reserved_length(fake: FakeMastodon) -> None:
    url = "https://blog.example.com/" + "a" * 300
    adapter = hooks.make_adapter(fake)
    adapter.publish(_post("x" * 470 + " " + url))  # 470 + 1 + 23 = 494
    assert len(fake.statuses) == 1


def test_rate_limit_names_the_reset_from_the_iso_header(fake: FakeMastodon) -> None:
    reset = (datetime.now(UTC) + timedelta(minutes=4)).replace(microsecond=0)
    fake.fail_next(429, headers={"X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    adapter = hooks.make_adapter(fake)
    with pytest.raises(RateLimitedError) as raised:
        adapter.publish(_post())
    assert raised.value.retry_at == reset
    assert "Too many requests" in str(raised.value)


# -- media ---------------------------------------------------------------------------------
def test_a_small_image_goes_up_with_its_alt_text_at_once(fake: FakeMastodon) -> None:
    adapter = hooks.make_adapter(fake)
    media = MediaFile(data=PNG, mime_type="image/png", alt="Beans on a plate", filename="a.png")
    adapter.publish(_post(image=Image(url="https://img.example/a.png", alt="x")), media)
    (upload,) = fake.requests_to("POST", r"/api/v2/media")
    assert b"Beans on a plate" in upload.body
    assert fake.requests_to("GET", r"/api/v1/media/.+") == []
    (status,) = fake.statuses
    assert status["media_attachments"][0]["description"] == "Beans on a plate"


def test_an_image_still_processing_is_waited_for(fake: FakeMastodon) -> None:
    fake.processing_polls = 3
    adapter = hooks.make_adapter(fake, sensitive=True)
    media = MediaFile(data=PNG, mime_type="image/png", alt="Beans")
    adapter.publish(_post(), media)
    assert len(fake.requests_to("GET", r"/api/v1/media/.+")) == 4  # 206, 206, 206, 200
    (status,) = fake.statuses
    assert len(status["media_attachments"]) == 1 and status["sensitive"] is True


def test_an_image_not_processed_by_the_deadline_is_left_out(
    fake: FakeMastodon, caplog: pytest.LogCaptureFixture
) -> None:
    fake.processing_polls = 1000
    adapter = hooks.make_adapter(fake, media_deadline=0.2)
    adapter.publish(_post(), MediaFile(data=PNG, mime_type="image/png"))
    (status,) = fake.statuses
    assert status["media_attachments"] == []
    assert "still processing" in caplog.text


def test_an_image_the_instance_refuses_is_left_out(
    fake: FakeMastodon, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = hooks.make_adapter(fake)
    adapter.publish(_post(), MediaFile(data=b"%PDF", mime_type="application/pdf"))
    (status,) = fake.statuses
    assert status["media_attachments"] == []
    assert "image refused" in caplog.text


# -- reconciliation ------------------------------------------------------------------------
def test_find_existing_matches_text_and_content_warning_since_the_render(
    fake: FakeMastodon,
) -> None:
    adapter = hooks.make_adapter(fake)
    post = _post(
        "Hello @\u2060alice, see https://blog.example.com/2026/12/hello\n\n#Python", title="cw"
    )
    assert adapter.find_existing(post) is None
    fake.add_status(post.text, spoiler_text="other cw")
    assert adapter.find_existing(post) is None
    made = fake.add_status(post.text, spoiler_text="cw")
    assert adapter.find_existing(post) == Published(remote_id=made["id"], url=made["url"])


def test_find_existing_ignores_an_identical_status_older_than_the_delivery(
    fake: FakeMastodon,
) -> None:
    """A repost of an entry has the text of the first post: the first is not it."""
    post = _post()
    fake.add_status(post.text, created_at=datetime.now(UTC) - timedelta(days=2))
    assert hooks.make_adapter(fake).find_existing(post) is None


def test_find_existing_past_its_page_cannot_tell_rather_than_not_found(
    fake: FakeMastodon,
) -> None:
    """40 statuses since the render and not ours: it may be the 41st (a re-send on a guess
    would be a duplicate); with fewer, the answer is sure."""
    adapter = hooks.make_adapter(fake)
    post = _post()
    fake.add_status(post.text)
    for n in range(STATUSES_PAGE - 1):
        fake.add_status(f"posted since {n}")
    assert adapter.find_existing(post) is not None  # the 40th, the oldest read
    fake.add_status("one more")
    with pytest.raises(LookupIncompleteError, match=f"more than {STATUSES_PAGE} statuses"):
        adapter.find_existing(post)


def test_find_existing_after_a_lost_answer_finds_the_status(fake: FakeMastodon) -> None:
    adapter = hooks.make_adapter(fake)
    fake.drop_after_create_next()
    post = _post()
    with pytest.raises(PublishError):
        adapter.publish(post)
    found = adapter.find_existing(post)
    assert found is not None and found.remote_id == fake.statuses[0]["id"]


def test_find_existing_that_cannot_read_is_transient(fake: FakeMastodon) -> None:
    adapter = hooks.make_adapter(fake)
    adapter.verify()
    fake.fail_next(403)
    with pytest.raises(TransientError):
        adapter.find_existing(_post())


# -- check --online -------------------------------------------------------------------------
def test_verify_names_the_account_on_its_instance(fake: FakeMastodon) -> None:
    host = fake.url.split("://", 1)[1]
    assert hooks.make_adapter(fake).verify() == f"@feedrelay@{host}"


def test_problems_warn_about_missing_write_scopes() -> None:
    with hooks.start_fake(scopes=("read", "write:statuses")) as fake:
        problems = hooks.make_adapter(fake).problems()
    assert len(problems) == 1 and "write:media" in problems[0]


def test_problems_warn_about_a_max_characters_above_the_instances() -> None:
    with hooks.start_fake(max_characters=500) as fake:
        problems = hooks.make_adapter(fake, max_characters=1000).problems()
    assert problems and "allows 500" in problems[0]


def test_no_problems_with_a_full_token(fake: FakeMastodon) -> None:
    assert hooks.make_adapter(fake).problems() == []


# -- the whole render, end to end --------------------------------------------------------------
def test_a_rendered_entry_goes_out_as_rendered(fake: FakeMastodon) -> None:
    entry = Entry(
        feed="blog",
        key="k",
        title="Ask @bob@example.social about beans " * 20,
        link="https://blog.example.com/2026/12/" + "b" * 120,
        labels=("Gardening",),
    )
    options = SPEC.options(
        SPEC.settings_model(
            platform="mastodon", instance=fake.url, access_token="t", spoiler_text="Long"
        )
    )
    post = render(entry, SPEC.render, options, SPEC.limits).post
    hooks.make_adapter(fake).publish(post)
    (status,) = fake.statuses
    assert status["spoiler_text"] == "Long"
    assert entry.link in status["content"]


def test_problems_say_a_token_without_read_scopes_cannot_reconcile() -> None:
    with hooks.start_fake(scopes=("write",)) as fake:
        adapter = hooks.make_adapter(fake)
        (problem,) = adapter.problems()
        assert "read:accounts or read:statuses" in problem
        with pytest.raises(TransientError):  # cannot tell: never a pause
            adapter.find_existing(_post())
