"""X-specific behaviour of TwitterAdapter: real tweepy + requests against the loopback FakeX."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from adapters.base import make_session
from adapters.twitter.client import LOOKUP_MOST, TwitterAdapter, retry_at_from_headers
from bot.errors import (
    AllowanceError,
    AuthError,
    CannotResendError,
    DuplicatePostError,
    LookupIncompleteError,
    LookupRefusedError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Image, MediaFile, Post
from tests.fakes.x_api import DUPLICATE_DETAIL, NOT_ENROLLED_BODY, FakeX
from tests.platforms import twitter as hooks

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) + b"\r\n--not-a-boundary\r\n"
POST = hooks.sample_post()


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with hooks.start_fake() as server:
        assert isinstance(server, FakeX)
        yield server


@pytest.fixture
def adapter(fake: FakeX) -> Iterator[TwitterAdapter]:
    made = hooks.make_adapter(fake)
    yield made
    made.close()


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in hooks.SECRETS:
            assert secret not in text


# -- the request tweepy sends ---------------------------------------------------------------


def test_publish_sends_the_text_as_json_signed_with_oauth1_to_the_fake(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    published = adapter.publish(POST)

    (sent,) = fake.requests_to("POST", "/2/tweets")
    assert sent.json() == {"text": POST.text}
    assert sent.header("Content-Type") == "application/json"
    auth = sent.header("Authorization")
    assert auth.startswith("OAuth ")
    assert f'oauth_consumer_key="{hooks.CONSUMER_KEY}"' in auth
    assert 'oauth_signature_method="HMAC-SHA1"' in auth
    assert sent.header("Host") == fake.url.removeprefix("http://")
    assert sent.header("User-Agent").startswith("feedrelay/")
    assert fake.tweets == [{"id": published.remote_id, "text": POST.text, "media_ids": []}]
    assert published.url == f"https://x.com/i/web/status/{published.remote_id}"


def test_verify_returns_the_handle_and_later_urls_use_it(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    assert adapter.verify() == "@feedrelay_bot"
    assert fake.tweets == []
    published = adapter.publish(POST)
    assert published.url == f"https://x.com/feedrelay_bot/status/{published.remote_id}"


def test_verify_failures_translate(fake: FakeX, adapter: TwitterAdapter) -> None:
    fake.fail_me_next(503)
    with pytest.raises(TransientError, match="Service Unavailable"):
        adapter.verify()
    fake.fail_me_next(401)
    with pytest.raises(AuthError, match="Unauthorized"):
        adapter.verify()


def test_a_wrong_secret_fails_the_signature_check(fake: FakeX) -> None:
    adapter = hooks.make_adapter(fake, consumer_secret="not-the-secret")
    with pytest.raises(AuthError) as raised:
        adapter.publish(POST)
    assert raised.value.target == "t"
    assert "Unauthorized" in str(raised.value)
    assert fake.tweets == []


# -- rate limits ----------------------------------------------------------------------------


def _retry_at_for(adapter: TwitterAdapter) -> datetime:
    with pytest.raises(RateLimitedError) as raised:
        adapter.publish(POST)
    retry_at = raised.value.retry_at
    assert retry_at.tzinfo is not None
    assert retry_at.utcoffset() == timedelta(0)
    return retry_at


def _headers(**values: int | str) -> dict[str, str]:
    return {f"x-{name.replace('_', '-')}": str(value) for name, value in values.items()}


NOW = datetime.now(UTC).replace(microsecond=0)
SOON, LATER, LATEST = NOW + timedelta(minutes=5), NOW + timedelta(hours=3), NOW + timedelta(hours=9)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            _headers(rate_limit_limit=100, rate_limit_remaining=0, rate_limit_reset=_epoch(SOON)),
            SOON,
            id="15-minute-window",
        ),
        pytest.param(
            _headers(
                rate_limit_remaining=42,
                rate_limit_reset=_epoch(SOON),
                user_limit_24hour_remaining=0,
                user_limit_24hour_reset=_epoch(LATER),
                app_limit_24hour_remaining=9000,
                app_limit_24hour_reset=_epoch(LATEST),
            ),
            LATER,
            id="user-24h-window",
        ),
        pytest.param(
            _headers(
                rate_limit_remaining=42,
                rate_limit_reset=_epoch(SOON),
                user_limit_24hour_remaining=3,
                user_limit_24hour_reset=_epoch(LATEST),
                app_limit_24hour_remaining=0,
                app_limit_24hour_reset=_epoch(LATER),
            ),
            LATER,
            id="app-24h-window",
        ),
        pytest.param(
            _headers(
                rate_limit_reset=_epoch(SOON),
                user_limit_24hour_remaining=0,
                user_limit_24hour_reset=_epoch(LATER),
                app_limit_24hour_remaining=0,
                app_limit_24hour_reset=_epoch(LATEST),
            ),
            LATEST,
            id="both-24h-windows-latest-wins",
        ),
    ],
)
def test_retry_at_comes_from_the_headers(
    fake: FakeX, adapter: TwitterAdapter, headers: dict[str, str], expected: datetime
) -> None:
    fake.fail_next(429, headers=headers)
    assert _retry_at_for(adapter) == expected


def test_retry_at_without_headers_is_fifteen_minutes(fake: FakeX, adapter: TwitterAdapter) -> None:
    fake.fail_next(429, headers={})
    before = datetime.now(UTC)
    retry_at = _retry_at_for(adapter)
    assert before + timedelta(minutes=15) <= retry_at <= datetime.now(UTC) + timedelta(minutes=15)


def test_an_exhausted_user_day_answers_429_until_its_reset(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.exhaust_user_window(reset_in=5 * 3600)
    expected = int(time.time()) + 5 * 3600
    retry_at = _retry_at_for(adapter)
    assert abs(_epoch(retry_at) - expected) <= 2
    assert fake.tweets == []


def test_retry_at_is_never_in_the_past() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    headers = {"x-rate-limit-reset": str(_epoch(now - timedelta(minutes=1)))}
    assert retry_at_from_headers(headers, now=now) == now
    assert retry_at_from_headers({"x-rate-limit-reset": "soon"}, now=now) == now + timedelta(
        minutes=15
    )


# -- duplicates and ambiguous outcomes -------------------------------------------------------


def test_an_identical_resend_is_a_duplicate(fake: FakeX, adapter: TwitterAdapter) -> None:
    adapter.publish(POST)
    with pytest.raises(DuplicatePostError, match=DUPLICATE_DETAIL):
        adapter.publish(POST)
    assert len(fake.tweets) == 1


def test_a_5xx_after_creating_is_unknown_and_the_resend_finds_it(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.accept_then_fail_next(503)
    with pytest.raises(OutcomeUnknownError):
        adapter.publish(POST)
    with pytest.raises(DuplicatePostError):
        adapter.publish(POST)
    assert [tweet["text"] for tweet in fake.tweets] == [POST.text]


def test_a_dropped_connection_after_sending_is_unknown(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.drop_next()
    with pytest.raises(OutcomeUnknownError, match="connection to X lost"):
        adapter.publish(POST)
    assert len(fake.tweets) == 1


def test_an_answer_dripping_past_the_deadline_is_unknown_not_a_hang(fake: FakeX) -> None:
    session = make_session(connect_timeout=1.0, read_timeout=5.0, deadline=1.0)
    adapter = hooks.make_adapter(fake, session=session)
    fake.drip_next(0.2)  # created; the answer then comes a byte every 0.2 s (about 30 s)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError, match="did not answer in time"):
        adapter.publish(POST)
    assert time.monotonic() - started < 5
    assert 0 < fake.dripped < 60
    assert len(fake.tweets) == 1


def test_connection_refused_is_transient_not_unknown(fake: FakeX) -> None:
    adapter = hooks.make_adapter(fake)
    fake.stop()
    with pytest.raises(TransientError) as raised:
        adapter.publish(POST)
    assert type(raised.value) is TransientError
    assert "could not reach X" in str(raised.value)


def test_a_404_is_a_rejection(fake: FakeX, adapter: TwitterAdapter) -> None:
    fake.fail_next(404)
    with pytest.raises(PostRejectedError, match="Not Found"):
        adapter.publish(POST)


# -- media ----------------------------------------------------------------------------------


def test_image_and_alt_text_reach_x_and_the_post_carries_the_media_id(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    image = MediaFile(data=PNG, mime_type="image/png", alt="A cat on a keyboard", filename="c.png")
    adapter.publish(POST, image)

    assert [r.path for r in fake.requests] == ["/2/media/upload", "/2/media/metadata", "/2/tweets"]
    (media,) = fake.media.values()
    assert media["data"] == PNG
    assert media["mime_type"] == "image/png"
    assert media["media_category"] == "tweet_image"
    assert media["alt"] == "A cat on a keyboard"
    (tweet,) = fake.tweets
    assert tweet["media_ids"] == [media["id"]]
    (sent,) = fake.requests_to("POST", "/2/tweets")
    assert sent.json() == {"text": POST.text, "media": {"media_ids": [media["id"]]}}
    for request in fake.requests:
        assert f'oauth_consumer_key="{hooks.CONSUMER_KEY}"' in request.header("Authorization")


def test_no_alt_text_means_no_metadata_call(fake: FakeX, adapter: TwitterAdapter) -> None:
    adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png"))
    assert fake.requests_to("POST", "/2/media/metadata") == []
    assert len(fake.tweets[0]["media_ids"]) == 1


def test_long_alt_text_is_cut_to_xs_limit(fake: FakeX, adapter: TwitterAdapter) -> None:
    adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png", alt="a" * 1500))
    (media,) = fake.media.values()
    assert media["alt"] == "a" * 1000


@pytest.mark.parametrize("status", [400, 401, 403, 429, 503])
def test_a_failed_upload_posts_without_the_image(
    fake: FakeX, adapter: TwitterAdapter, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_media_next(status)
    with caplog.at_level(logging.WARNING, logger="adapters.twitter"):
        published = adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png", alt="x"))
    assert fake.tweets == [{"id": published.remote_id, "text": POST.text, "media_ids": []}]
    assert fake.requests_to("POST", "/2/media/metadata") == []
    (record,) = caplog.records
    assert "posting without it" in record.getMessage()
    assert str(status) in record.getMessage()
    _no_secrets(caplog.text)


def test_a_failed_alt_text_keeps_the_image(
    fake: FakeX, adapter: TwitterAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_metadata_next(503)
    with caplog.at_level(logging.WARNING, logger="adapters.twitter"):
        adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png", alt="x"))
    assert len(fake.tweets[0]["media_ids"]) == 1
    assert "alt text not set" in caplog.text


def test_an_oversized_image_is_not_uploaded(
    fake: FakeX, adapter: TwitterAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    huge = MediaFile(data=b"\0" * (5 * 1024 * 1024 + 1), mime_type="image/png")
    with caplog.at_level(logging.WARNING, logger="adapters.twitter"):
        adapter.publish(POST, huge)
    assert fake.requests_to("POST", "/2/media/upload") == []
    assert fake.tweets[0]["media_ids"] == []
    assert "over X's" in caplog.text


# -- secrets, host rewrite, logging ---------------------------------------------------------


def test_credentials_never_appear_in_errors_or_logs(
    fake: FakeX, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[PublishError] = []
    for failure in hooks.FAILURES:
        with hooks.start_fake() as other:
            adapter = hooks.make_adapter(other)
            failure.arrange(other)
            with pytest.raises(PublishError) as raised:
                adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png", alt="x"))
            errors.append(raised.value)
    fake.fail_media_next(401).fail_me_next(403)
    adapter = hooks.make_adapter(fake, consumer_secret="wrong")
    with pytest.raises(PublishError) as raised:
        adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png"))
    errors.append(raised.value)
    with pytest.raises(PublishError) as raised:
        adapter.verify()
    errors.append(raised.value)
    fake.stop()
    with pytest.raises(PublishError) as raised:
        adapter.publish(POST)
    errors.append(raised.value)

    assert len(errors) == len(hooks.FAILURES) + 3
    for error in errors:
        _no_secrets(str(error), repr(error), *map(str, error.args), str(error.__cause__))
    _no_secrets(caplog.text, repr(adapter))


class _Unreachable(BaseAdapter):
    """Mounted for every https:// URL: any request that is not rewritten lands here."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.urls.append(str(request.url))
        raise requests.ConnectionError("tried to leave the loopback")

    def close(self) -> None:
        pass


def test_api_base_rewrites_every_request_and_nothing_reaches_api_twitter_com(
    fake: FakeX,
) -> None:
    session = make_session(**hooks.TIMEOUT)
    guard = _Unreachable()
    session.mount("https://", guard)
    adapter = hooks.make_adapter(fake, session=session)

    assert adapter.verify() == "@feedrelay_bot"
    adapter.publish(POST, MediaFile(data=PNG, mime_type="image/png", alt="a picture"))

    assert guard.urls == []
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/2/users/me"),
        ("POST", "/2/media/upload"),
        ("POST", "/2/media/metadata"),
        ("POST", "/2/tweets"),
    ]
    # FakeX checked each HMAC-SHA1 signature against https://api.twitter.com + path: the
    # rewrite changes where requests go, not what was signed.
    assert len(fake.tweets) == 1


def test_without_api_base_requests_go_to_api_twitter_com() -> None:
    session = make_session(**hooks.TIMEOUT)
    guard = _Unreachable()
    session.mount("https://", guard)
    adapter = TwitterAdapter(
        target="t",
        consumer_key=hooks.CONSUMER_KEY,
        consumer_secret=hooks.CONSUMER_SECRET,
        access_token=hooks.ACCESS_TOKEN,
        access_token_secret=hooks.ACCESS_TOKEN_SECRET,
        session=session,
    )
    with pytest.raises(PublishError):
        adapter.publish(POST)
    assert guard.urls == ["https://api.twitter.com/2/tweets"]


def test_library_loggers_stay_at_info_or_above(fake: FakeX) -> None:
    tweepy_logger = logging.getLogger("tweepy")
    saved = tweepy_logger.level
    try:
        tweepy_logger.setLevel(logging.DEBUG)
        hooks.make_adapter(fake)
        assert tweepy_logger.getEffectiveLevel() >= logging.INFO
        assert logging.getLogger("oauthlib").getEffectiveLevel() >= logging.INFO
    finally:
        tweepy_logger.setLevel(saved)


class _Raising(BaseAdapter):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    def close(self) -> None:
        pass


def _adapter_raising(error: Exception) -> TwitterAdapter:
    session = make_session()
    session.mount("https://", _Raising(error))
    return TwitterAdapter(
        target="t",
        consumer_key=hooks.CONSUMER_KEY,
        consumer_secret=hooks.CONSUMER_SECRET,
        access_token=hooks.ACCESS_TOKEN,
        access_token_secret=hooks.ACCESS_TOKEN_SECRET,
        session=session,
    )


@pytest.mark.parametrize(
    ("error", "on_publish", "on_verify"),
    [
        (requests.ConnectTimeout("connect timed out"), TransientError, TransientError),
        (requests.ReadTimeout("read timed out"), OutcomeUnknownError, TransientError),
        (requests.ConnectionError("connection reset"), OutcomeUnknownError, TransientError),
    ],
    ids=["connect-timeout", "read-timeout", "reset-after-send"],
)
def test_network_errors_translate_by_what_may_have_happened(
    error: Exception, on_publish: type[PublishError], on_verify: type[PublishError]
) -> None:
    adapter = _adapter_raising(error)
    with pytest.raises(PublishError) as raised:
        adapter.publish(POST)
    assert type(raised.value) is on_publish
    assert raised.value.__cause__ is error
    with pytest.raises(PublishError) as raised:
        adapter.verify()
    assert type(raised.value) is on_verify


def test_repr_names_only_the_target(fake: FakeX) -> None:
    assert repr(hooks.make_adapter(fake)) == "TwitterAdapter(target='t')"


def test_an_empty_post_is_rejected_with_xs_reason(fake: FakeX, adapter: TwitterAdapter) -> None:
    with pytest.raises(PostRejectedError, match="either text or media"):
        adapter.publish(Post(text=""))


# -- finding an existing post ------------------------------------------------------------


def test_find_existing_after_a_duplicate_returns_the_earlier_post(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    post = Post(text="Fish & chips, at last: see example.com and https://example.org/2026/05/once/")
    first = adapter.publish(post)
    with pytest.raises(DuplicatePostError):
        adapter.publish(post)
    # X shows the text with t.co links and escaped: a plain comparison would not match.
    listed = fake._as_shown(fake.tweets[0], {"entities"})
    assert "https://t.co/" in listed["text"] and "&amp;" in listed["text"]
    assert "example.org" not in listed["text"]

    found = adapter.find_existing(post)
    assert found is not None
    assert found.remote_id == first.remote_id == fake.tweets[0]["id"]
    assert found.url == f"https://x.com/{fake.user['username']}/status/{first.remote_id}"
    (listing,) = fake.requests_to("GET", r"/2/users/\d+/tweets")
    assert listing.path == f"/2/users/{fake.user['id']}/tweets"
    assert 5 <= int(listing.query["max_results"][0]) <= 100
    assert set(listing.query["tweet.fields"][0].split(",")) >= {"entities", "created_at"}


def test_a_post_with_an_image_is_found_again_though_x_appends_the_media_link(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    post = Post(text="A cat on a keyboard https://example.org/2026/05/cat")
    published = adapter.publish(post, MediaFile(data=PNG, mime_type="image/png", alt="A cat"))
    listed = fake._as_shown(fake.tweets[0], {"entities"})
    (media_link,) = [u for u in listed["entities"]["urls"] if u.get("media_key")]
    assert listed["text"].endswith(media_link["url"])
    assert media_link["expanded_url"].endswith("/photo/1")

    found = adapter.find_existing(post)
    assert found is not None and found.remote_id == published.remote_id


def test_find_existing_ignores_whitespace_and_asks_who_the_account_is_once(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    seeded = fake.seed_tweet("Line one\n\nline two https://example.org/a")
    fake.seed_tweet("Something else")
    found = adapter.find_existing(Post(text="Line one  line two https://example.org/a"))
    assert found is not None and found.remote_id == seeded["id"]
    assert adapter.find_existing(Post(text="Line one")) is None
    assert len(fake.requests_to("GET", "/2/users/me")) == 1


def test_find_existing_is_none_when_the_post_is_not_there(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    assert adapter.find_existing(POST) is None
    fake.seed_tweet("A different post https://example.org/2026/05/other")
    assert adapter.find_existing(POST) is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html>upstream error</html>", TransientError),
        (200, {"data": [{"id": "1"}]}, TransientError),  # no text: cannot compare
        (200, {"errors": [{"detail": "Could not find user"}]}, TransientError),
        (503, None, TransientError),
        (401, None, TransientError),
        (429, None, RateLimitedError),
    ],
    ids=["not-json", "no-text", "errors-only", "503", "401", "429"],
)
def test_an_unreadable_timeline_cannot_tell(
    fake: FakeX, adapter: TwitterAdapter, status: int, body: Any, expected: type[PublishError]
) -> None:
    adapter.publish(POST)
    fake.fail_timeline_next(status, body)
    with pytest.raises(PublishError) as raised:
        adapter.find_existing(POST)
    assert type(raised.value) is expected
    assert raised.value.retryable
    _no_secrets(str(raised.value))


def test_find_existing_when_x_cannot_say_who_the_account_is(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.fail_me_next(503)
    with pytest.raises(TransientError):
        adapter.find_existing(POST)


# -- X's plans: reads refused, credits, caps, what a lookup costs ---------------------------
def test_an_app_without_reads_has_its_lookup_refused_not_retried(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.tier = "free"
    with pytest.raises(LookupRefusedError) as raised:
        adapter.find_existing(POST)
    assert "client-not-enrolled" in str(raised.value)
    assert adapter.take_spent() == 0.0
    # Posting still works on that tier.
    assert adapter.publish(POST).remote_id


def test_client_forbidden_on_a_post_is_an_account_problem(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.fail_next(403, NOT_ENROLLED_BODY)
    with pytest.raises(AuthError) as raised:
        adapter.publish(POST)
    assert raised.value.pause_as == "the X app may not post"


@pytest.mark.parametrize("body", [0, 1], ids=["CreditsDepleted", "Payment-Required"])
def test_out_of_credits_is_an_allowance_error_on_posts_and_lookups(
    fake: FakeX, adapter: TwitterAdapter, body: int
) -> None:
    fake.credits, fake.credits_body = 0, body
    with pytest.raises(AllowanceError) as raised:
        adapter.publish(POST)
    assert raised.value.kind == "credits"
    assert "402" in str(raised.value)
    with pytest.raises(AllowanceError):
        adapter.find_existing(POST)
    assert fake.tweets == []


def test_a_usage_cap_is_an_allowance_error_and_a_plain_429_a_rate_limit(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    fake.usage_cap = 0
    with pytest.raises(AllowanceError) as raised:
        adapter.publish(POST)
    assert raised.value.kind == "usage_cap"
    assert "monthly usage cap" in str(raised.value)
    fake.usage_cap = None
    fake.fail_next(429)
    with pytest.raises(RateLimitedError):
        adapter.publish(POST)


def test_a_lookup_reads_five_at_a_time_since_the_first_attempt_and_counts_each_read(
    fake: FakeX,
) -> None:
    adapter = hooks.make_adapter(fake, price_per_read=0.005)
    clock = [time.time()]
    fake.clock = lambda: clock[0]
    for n in range(20):
        fake.seed_tweet(f"older {n}")
    clock[0] += 3600
    since = datetime.fromtimestamp(clock[0], UTC) - timedelta(minutes=5)
    mine = fake.seed_tweet(POST.text)
    for n in range(7):
        fake.seed_tweet(f"newer {n}")
    found = adapter.find_existing(POST, since=since)
    assert found is not None and found.remote_id == mine["id"]
    assert [q["max_results"] for q in fake.timeline_reads] == [["5"], ["5"]]
    assert all(q["start_time"] for q in fake.timeline_reads)
    assert fake.reads_billed == 8  # 7 newer posts, then ours: the older ones never read
    assert adapter.take_spent() == pytest.approx(8 * 0.005)
    assert adapter.take_spent() == 0.0  # taken once


def test_a_lookup_that_reaches_its_bound_cannot_tell_rather_than_not_found(
    fake: FakeX,
) -> None:
    """100 posts read since the attempt and X has more: the post may be further back, so
    "not there" would be a guess (and a re-send on a guess a duplicate)."""
    adapter = hooks.make_adapter(fake, price_per_read=0.005)
    since = datetime.now(UTC) - timedelta(minutes=5)
    fake.seed_tweet(POST.text)
    for n in range(LOOKUP_MOST + 3):
        fake.seed_tweet(f"newer {n}")
    with pytest.raises(LookupIncompleteError) as raised:
        adapter.find_existing(POST, since=since)
    assert f"more than {LOOKUP_MOST} posts" in str(raised.value)
    assert fake.reads_billed == LOOKUP_MOST
    assert adapter.take_spent() == pytest.approx(LOOKUP_MOST * 0.005)


def test_a_resend_of_an_image_post_uses_the_same_media_id(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    post = Post(text="With a picture", image=Image(url="https://blog.example/a.png"))
    media = MediaFile(data=PNG, mime_type="image/png", filename="a.png")
    first = adapter.publish(post, media)
    with pytest.raises(DuplicatePostError):
        adapter.resend(post)
    creates = [r.json() for r in fake.requests_to("POST", "/2/tweets")]
    assert creates[0]["media"] == creates[1]["media"]
    assert len(fake.requests_to("POST", "/2/media/upload")) == 1
    assert first.remote_id == fake.tweets[0]["id"]


def test_an_image_post_without_a_kept_upload_is_not_resent(
    fake: FakeX, adapter: TwitterAdapter
) -> None:
    post = Post(text="Never uploaded", image=Image(url="https://blog.example/b.png"))
    with pytest.raises(CannotResendError):
        adapter.resend(post)
    assert fake.requests_to("POST", "/2/tweets") == []
