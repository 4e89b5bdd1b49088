"""Tumblr-specific behaviour of ``adapters.tumblr.client`` against the loopback ``FakeTumblr``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from oauthlib.oauth1.rfc5849 import signature, utils
from requests_oauthlib import OAuth1

from adapters.tumblr.client import (
    LOOKUP_PAGES,
    LOOKUP_POSTS,
    TumblrAdapter,
    next_eastern_midnight,
)
from bot.errors import (
    AuthError,
    LookupIncompleteError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Image, Post, Published
from tests.fakes.tumblr_api import FakeTumblr
from tests.platforms import tumblr as hooks


@pytest.fixture
def fake() -> Iterator[FakeTumblr]:
    with hooks.start_fake() as server:
        yield server


@pytest.fixture
def adapter(fake: FakeTumblr) -> Iterator[TumblrAdapter]:
    made = hooks.make_adapter(fake)
    yield made
    made.close()


def publish_error(adapter: TumblrAdapter, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as raised:
        adapter.publish(post or hooks.sample_post())
    return raised.value


# -- what goes out --------------------------------------------------------------------------
def test_publish_sends_npf_blocks_and_fields(fake: FakeTumblr, adapter: TumblrAdapter) -> None:
    post = replace(
        hooks.sample_post(),
        image=Image(url="https://blog.example/img/cover.png?w=1200", alt="A cover"),
        tags=("feedrelay", "a, b", "python"),
    )
    published = adapter.publish(post)

    [sent] = fake.requests_to("POST", r"/v2/blog/[^/]+/posts")
    assert sent.path == f"/v2/blog/{hooks.BLOG}.tumblr.com/posts"
    assert sent.json() == {
        "content": [
            {"type": "text", "text": post.text},
            {
                "type": "link",
                "url": post.link,
                "title": post.title,
                "description": post.description,
                "poster": [
                    {"url": "https://blog.example/img/cover.png?w=1200", "type": "image/png"}
                ],
            },
        ],
        "state": "published",
        "tags": "feedrelay,a b,python",
        "source_url": post.link,
        "slug": "hello-tumblr",
    }
    [created] = fake.posts
    assert published == Published(
        remote_id=str(created["id"]),
        url=f"https://{hooks.BLOG}.tumblr.com/post/{created['id']}/hello-tumblr",
    )


def test_publish_omits_empty_parts_and_guesses_jpeg(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    adapter.publish(Post(link="https://blog.example/p", image=Image(url="https://cdn.example/x")))
    body = fake.requests_to("POST", r"/v2/blog/[^/]+/posts")[0].json()
    assert body["content"] == [
        {
            "type": "link",
            "url": "https://blog.example/p",
            "poster": [{"url": "https://cdn.example/x", "type": "image/jpeg"}],
        }
    ]
    assert body["tags"] == ""
    assert "slug" not in body


@pytest.mark.parametrize("state", ["queue", "draft", "private"])
def test_publish_sends_the_configured_state(fake: FakeTumblr, state: str) -> None:
    hooks.make_adapter(fake, state=state).publish(hooks.sample_post())
    assert fake.posts[0]["state"] == state


def test_unknown_state_is_refused_at_construction(fake: FakeTumblr) -> None:
    with pytest.raises(ValueError, match="state"):
        hooks.make_adapter(fake, state="scheduled")


@pytest.mark.parametrize(
    ("blog", "path_blog"),
    [
        ("feedrelay-test", "feedrelay-test.tumblr.com"),
        ("feedrelay-test.tumblr.com", "feedrelay-test.tumblr.com"),
        ("https://feedrelay-test.tumblr.com/", "feedrelay-test.tumblr.com"),
        ("news.example.org", "news.example.org"),
    ],
)
def test_blog_identifier(blog: str, path_blog: str) -> None:
    urls = {"feedrelay-test": "https://news.example.org/"} if "example" in blog else None
    with hooks.start_fake(urls=urls) as fake:
        adapter = hooks.make_adapter(fake, blog=blog)
        adapter.publish(hooks.sample_post())
        assert adapter.verify() == hooks.USER
        assert fake.requests[0].path == f"/v2/blog/{path_blog}/posts"


def test_authorization_header_is_a_valid_hmac_sha1_signature(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    adapter.publish(hooks.sample_post())
    adapter.find_existing(hooks.sample_post())
    for sent in fake.requests:
        header = sent.header("Authorization")
        assert header.startswith("OAuth ")
        params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        assert params["oauth_signature_method"] == "HMAC-SHA1"
        assert params["oauth_consumer_key"] == hooks.CONSUMER_KEY
        assert params["oauth_token"] == hooks.OAUTH_TOKEN
        query = "&".join(f"{k}={v}" for k, vs in sent.query.items() for v in vs)
        checked: Any = type("Checked", (), {})()
        checked.params = signature.collect_parameters(uri_query=query, headers=sent.headers)
        checked.uri = f"http://{sent.header('Host')}{sent.path}"
        checked.http_method = sent.method
        checked.signature = params["oauth_signature"]
        assert signature.verify_hmac_sha1(checked, hooks.CONSUMER_SECRET, hooks.OAUTH_TOKEN_SECRET)
        assert "user-agent" in sent.headers and "feedrelay" in sent.header("User-Agent")


def test_a_wrong_secret_is_an_auth_error(fake: FakeTumblr) -> None:
    adapter = hooks.make_adapter(fake, oauth_token_secret="not-the-secret")
    error = publish_error(adapter)
    assert type(error) is AuthError
    assert "Invalid OAuth signature" in str(error)
    assert fake.posts == []


def test_the_fake_refuses_unsigned_requests(fake: FakeTumblr) -> None:
    response = requests.get(f"{fake.url}/v2/user/info", timeout=5)
    assert response.status_code == 401
    assert response.json()["errors"][0]["title"] == "Unauthorized"


def test_the_fake_validates_npf(fake: FakeTumblr) -> None:
    auth = OAuth1(*hooks.SECRETS)
    links = [{"type": "link", "url": f"https://e.example/{i}"} for i in range(11)]
    url = f"{fake.url}/v2/blog/{hooks.BLOG}/posts"
    text = [{"type": "text", "text": "hi"}]
    bodies: list[Any] = [
        {"content": links},
        {"content": []},
        {"content": [{"type": "gif"}]},
        {"content": text, "state": "scheduled"},
        {"content": text, "tags": ["a", "b"]},
        "not an object",
    ]
    for body in bodies:
        answer = requests.post(url, json=body, auth=auth, timeout=5)
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["code"] == 8001
    assert requests.post(url, json={"content": text}, auth=auth, timeout=5).status_code == 201
    assert [post["content"] for post in fake.posts] == [text]


def test_too_long_text_is_rejected_with_tumblrs_reason(adapter: TumblrAdapter) -> None:
    error = publish_error(adapter, Post(text="x" * 4097, link="https://blog.example/p"))
    assert type(error) is PostRejectedError
    assert "Oh no! There was an error processing your request." in str(error)
    assert "4096" in str(error)


# -- rate limits -----------------------------------------------------------------------------
def test_daily_post_limit_waits_for_the_later_of_midnight_and_the_header(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    # The per-day header is the app's call quota: it wins only when it is later than
    # Tumblr's midnight, so 30 hours does and a few seconds do not.
    fake.fail_next(403, 8023, headers={"X-Ratelimit-Perday-Reset": str(30 * 3600)})
    before = datetime.now(UTC)
    error = publish_error(adapter)
    assert isinstance(error, RateLimitedError)
    assert "Rate limit exceeded" in str(error)
    assert before + timedelta(hours=30) <= error.retry_at
    assert error.retry_at <= datetime.now(UTC) + timedelta(hours=30)
    fake.fail_next(403, 8023, headers={"X-Ratelimit-Perday-Reset": "5"})
    error = publish_error(adapter)
    assert isinstance(error, RateLimitedError)
    assert error.retry_at >= next_eastern_midnight(before)


def test_daily_post_limit_without_header_retries_at_eastern_midnight(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    fake.fail_next(403, 8023)
    before = datetime.now(UTC)
    error = publish_error(adapter)
    assert isinstance(error, RateLimitedError)
    after = datetime.now(UTC)
    assert error.retry_at in {next_eastern_midnight(before), next_eastern_midnight(after)}


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        (datetime(2025, 1, 15, 12, 0, tzinfo=UTC), datetime(2025, 1, 16, 5, 0, tzinfo=UTC)),
        (datetime(2025, 7, 15, 12, 0, tzinfo=UTC), datetime(2025, 7, 16, 4, 0, tzinfo=UTC)),
        # 22:00 in New York on 15 January is already the 16th in UTC.
        (datetime(2025, 1, 16, 3, 0, tzinfo=UTC), datetime(2025, 1, 16, 5, 0, tzinfo=UTC)),
        # The night DST starts: midnight is still EST.
        (datetime(2025, 3, 9, 3, 0, tzinfo=UTC), datetime(2025, 3, 9, 5, 0, tzinfo=UTC)),
        (datetime(2025, 3, 9, 5, 0, tzinfo=UTC), datetime(2025, 3, 10, 4, 0, tzinfo=UTC)),
    ],
)
def test_next_eastern_midnight(now: datetime, midnight: datetime) -> None:
    assert next_eastern_midnight(now) == midnight


@pytest.mark.parametrize(
    ("headers", "wait_s"),
    [
        ({"X-Ratelimit-Perhour-Remaining": "0", "X-Ratelimit-Perhour-Reset": "120"}, 120),
        (
            {
                "X-Ratelimit-Perhour-Remaining": "0",
                "X-Ratelimit-Perhour-Reset": "120",
                "X-Ratelimit-Perday-Remaining": "0",
                "X-Ratelimit-Perday-Reset": "7000",
            },
            7000,
        ),
        ({"X-Ratelimit-Perhour-Remaining": "3", "X-Ratelimit-Perhour-Reset": "120"}, 3600),
        ({"Retry-After": "30"}, 30),
        ({}, 3600),
    ],
)
def test_429_retry_at(
    fake: FakeTumblr, adapter: TumblrAdapter, headers: dict[str, str], wait_s: int
) -> None:
    fake.fail_next(429, headers=headers)
    before = datetime.now(UTC)
    error = publish_error(adapter)
    assert isinstance(error, RateLimitedError)
    assert "Limit Exceeded" in str(error)
    expected = before + timedelta(seconds=wait_s)
    assert expected <= error.retry_at <= expected + timedelta(seconds=5)


# -- odd answers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [(502, OutcomeUnknownError), (400, PostRejectedError), (403, AuthError)],
)
def test_a_non_json_error_body_is_translated(
    fake: FakeTumblr, adapter: TumblrAdapter, status: int, expected: type[PublishError]
) -> None:
    fake.fail_next(status, body="<html><body>Something went wrong</body></html>")
    error = publish_error(adapter)
    assert type(error) is expected
    assert str(status) in str(error)


def test_created_without_an_id_is_an_unknown_outcome(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    fake.fail_next(201, body="Created")
    assert type(publish_error(adapter)) is OutcomeUnknownError


def test_no_credential_appears_in_any_error(fake: FakeTumblr, adapter: TumblrAdapter) -> None:
    arrangements = [
        *(lambda f, c=case: c.arrange(f) for case in hooks.FAILURES),
        lambda f: f.fail_next(502, body="not json"),
    ]
    errors: list[BaseException] = []
    for arrange in arrangements:
        arrange(fake)
        errors.append(publish_error(adapter))
    errors.append(publish_error(hooks.make_adapter(fake, consumer_secret="wrong-secret")))
    closed = hooks.make_adapter(fake, api_base="http://127.0.0.1:9")
    errors.append(publish_error(closed))
    for name in ("verify", "find_existing"):
        fake.fail_next(401)
        with pytest.raises(PublishError) as raised:
            getattr(adapter, name)(*([hooks.sample_post()] if name == "find_existing" else []))
        errors.append(raised.value)
    for error in errors:
        text = f"{error} {error!r} {error.__cause__}"
        for secret in hooks.SECRETS:
            assert secret not in text


# -- reconciling ---------------------------------------------------------------------------
def test_find_existing_by_slug(fake: FakeTumblr, adapter: TumblrAdapter) -> None:
    fake.add_existing(slug="something-else")
    made = fake.add_existing(slug="hello-tumblr")
    found = adapter.find_existing(hooks.sample_post())
    assert found == Published(remote_id=str(made["id"]), url=made["post_url"])
    [listed] = fake.requests_to("GET", r"/v2/blog/[^/]+/posts")
    assert listed.query == {"limit": ["20"], "npf": ["true"]}


def test_find_existing_by_source_url(fake: FakeTumblr, adapter: TumblrAdapter) -> None:
    made = fake.add_existing(source_url=hooks.sample_post().link)
    found = adapter.find_existing(hooks.sample_post())
    assert found is not None and found.remote_id == str(made["id"])


def test_find_existing_returns_none_when_absent(fake: FakeTumblr, adapter: TumblrAdapter) -> None:
    fake.add_existing(slug="another-entry", source_url="https://blog.example/other")
    fake.add_existing(slug="hello-tumblr", state="draft")  # not where a published post goes
    assert adapter.find_existing(hooks.sample_post()) is None


def test_find_existing_reads_back_to_the_attempt_and_says_when_it_cannot(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    """Pages of 20 back to the attempt's time: found on the second page; with 100 posts
    since and not ours, it may be further back (a re-send on a guess would be a duplicate);
    without a time to compare, the last 20 answer."""
    since = datetime.now(UTC) - timedelta(minutes=5)
    made = fake.add_existing(slug="hello-tumblr")
    for n in range(LOOKUP_POSTS + 5):
        fake.add_existing(slug=f"posted-since-{n}")
    found = adapter.find_existing(hooks.sample_post(), since=since)
    assert found is not None and found.remote_id == str(made["id"])
    offsets = [r.query.get("offset") for r in fake.requests_to("GET", r"/v2/blog/[^/]+/posts")]
    assert offsets == [None, ["20"]]
    for n in range(LOOKUP_POSTS * LOOKUP_PAGES):
        fake.add_existing(slug=f"and-more-{n}")
    with pytest.raises(LookupIncompleteError, match="more than 100 posts since the attempt"):
        adapter.find_existing(hooks.sample_post(), since=since)
    assert adapter.find_existing(hooks.sample_post()) is None  # no time: the last 20


@pytest.mark.parametrize("state", ["queue", "draft"])
def test_find_existing_looks_in_the_queue_and_drafts(fake: FakeTumblr, state: str) -> None:
    made = fake.add_existing(slug="hello-tumblr", state=state)
    found = hooks.make_adapter(fake, state=state).find_existing(hooks.sample_post())
    assert found is not None and found.remote_id == str(made["id"])
    assert fake.requests_to("GET", rf"/v2/blog/[^/]+/posts/{state}")


def test_accepted_then_failed_is_unknown_then_found(
    fake: FakeTumblr, adapter: TumblrAdapter
) -> None:
    fake.accept_then_fail_next(503)
    assert type(publish_error(adapter)) is OutcomeUnknownError
    found = adapter.find_existing(hooks.sample_post())
    [created] = fake.posts
    assert found is not None and found.remote_id == str(created["id"])
    assert found.url.endswith(f"/post/{created['id']}/hello-tumblr")


@pytest.mark.parametrize(
    "arrange",
    [
        lambda f: f.fail_next(503),
        lambda f: f.delay_next(hooks.READ_TIMEOUT_DELAY_S),
        lambda f: f.drop_next(),
    ],
)
def test_reads_that_fail_are_transient(
    fake: FakeTumblr, adapter: TumblrAdapter, arrange: Any
) -> None:
    arrange(fake)
    with pytest.raises(TransientError):
        adapter.find_existing(hooks.sample_post())
    arrange(fake)
    with pytest.raises(TransientError):
        adapter.verify()


# -- verify --------------------------------------------------------------------------------
def test_verify_returns_the_users_name(adapter: TumblrAdapter) -> None:
    assert adapter.verify() == hooks.USER


def test_verify_refuses_a_blog_the_account_does_not_own(fake: FakeTumblr) -> None:
    adapter = hooks.make_adapter(fake, blog="someone-else")
    with pytest.raises(AuthError) as raised:
        adapter.verify()
    assert str(raised.value) == (
        f"account {hooks.USER} cannot post to blog someone-else.tumblr.com: set blog in"
        f" [targets.t] to one of its blogs ({hooks.BLOG}), or authorise the account that"
        " owns it (`feedrelay auth tumblr`)"
    )
    assert raised.value.target == "t"


def test_text_becomes_one_block_per_paragraph_and_list_items() -> None:
    from adapters.tumblr.client import text_blocks

    assert text_blocks("First para.\nSecond line.\n\n• one\n• two\n\n1. a\n2. b\n\n") == [
        {"type": "text", "text": "First para.\nSecond line."},
        {"type": "text", "subtype": "unordered-list-item", "text": "one"},
        {"type": "text", "subtype": "unordered-list-item", "text": "two"},
        {"type": "text", "subtype": "ordered-list-item", "text": "a"},
        {"type": "text", "subtype": "ordered-list-item", "text": "b"},
    ]
    assert text_blocks("") == []
