"""Reddit-specific behaviour of ``adapters.reddit.client``: real praw against ``FakeReddit``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from adapters.base import make_session
from adapters.reddit.client import (
    RECENT_SUBMISSIONS,
    RedditAdapter,
    _retry_at,
    parse_ratelimit_wait,
)
from bot import __version__
from bot.errors import (
    AuthError,
    DuplicatePostError,
    LookupIncompleteError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Post, Published
from tests.fakes.reddit_api import FakeReddit
from tests.platforms import reddit as hooks

SUBMIT = "/api/submit/"
POST = hooks.sample_post()
A_LOT = "Looks like you've been doing that a lot."
SELF_POST = Post(title="Weekly notes, week 3", body="Three things I learned this week.")


@pytest.fixture
def fake() -> Iterator[FakeReddit]:
    with hooks.start_fake() as server:
        yield server


def adapter_for(fake: FakeReddit, **options: Any) -> RedditAdapter:
    return hooks.make_adapter(fake, **options)


def submits(fake: FakeReddit) -> list[dict[str, str]]:
    return [r.form() for r in fake.requests_to("POST", SUBMIT)]


def messages(error: BaseException) -> str:
    """The error and every exception it was raised from."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- what praw sends -------------------------------------------------------------------
def test_link_post_sends_the_exact_form(fake: FakeReddit) -> None:
    adapter = adapter_for(
        fake, flair_id="abc-123", flair_text="Blog", nsfw=True, spoiler=True, send_replies=True
    )
    published = adapter.publish(POST)

    assert submits(fake) == [
        {
            "api_type": "json",
            "flair_id": "abc-123",
            "flair_text": "Blog",
            "kind": "link",
            "nsfw": "True",
            "resubmit": "False",
            "sendreplies": "True",
            "spoiler": "True",
            "sr": "feedrelaytest",
            "title": POST.title,
            "url": POST.link,
            "validate_on_submit": "True",
        }
    ]
    (request,) = fake.requests_to("POST", SUBMIT)
    assert request.header("Authorization") == f"bearer {hooks.ACCESS_TOKEN}"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    (created,) = fake.submissions
    assert published == Published(
        remote_id=created["id"],
        url=f"https://www.reddit.com/r/feedrelaytest/comments/{created['id']}/",
    )
    # praw builds the submission from the submit answer: nothing is fetched afterwards.
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/v1/access_token"),
        ("POST", SUBMIT),
    ]


def test_defaults_send_no_flair_and_no_replies(fake: FakeReddit) -> None:
    adapter_for(fake).publish(POST)
    (form,) = submits(fake)
    assert "flair_id" not in form and "flair_text" not in form
    assert (form["nsfw"], form["spoiler"], form["sendreplies"], form["resubmit"]) == (
        "False",
        "False",
        "False",
        "False",
    )


def test_self_post_sends_the_body_as_text(fake: FakeReddit) -> None:
    published = adapter_for(fake, kind="self").publish(SELF_POST)
    (form,) = submits(fake)
    assert form["kind"] == "self"
    assert form["text"] == SELF_POST.body
    assert "url" not in form
    assert published.remote_id == fake.submissions[0]["id"]


def test_a_link_target_posts_a_post_without_a_link_as_a_self_post(fake: FakeReddit) -> None:
    """It sent kind=link with url="", which Reddit refuses (issue 9)."""
    adapter = adapter_for(fake, kind="link")
    adapter.publish(SELF_POST)
    (form,) = submits(fake)
    assert form["kind"] == "self"
    assert form["text"] == SELF_POST.body
    assert "url" not in form
    assert adapter.find_existing(SELF_POST) is not None


def test_the_password_grant_and_the_user_agent(fake: FakeReddit) -> None:
    adapter_for(fake, session=None).publish(POST)
    token, submit = fake.requests
    assert token.form()["grant_type"] == "password"
    assert token.form()["username"] == hooks.USERNAME
    for request in (token, submit):
        agent = request.header("User-Agent")
        assert agent.startswith(f"python:feedrelay:{__version__} (by /u/feedrelaybot) PRAW/")
        assert "prawcore/" in agent


def test_a_configured_user_agent_wins(fake: FakeReddit) -> None:
    adapter_for(fake, user_agent="python:my-relay:1.2 (by /u/someone)").verify()
    assert fake.requests[-1].header("User-Agent").startswith("python:my-relay:1.2 (by /u/someone)")


class _NoInternet(requests.adapters.HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"request left the loopback: {request.url}")


def test_no_request_goes_to_reddit(fake: FakeReddit) -> None:
    session = make_session(**hooks.TIMEOUT)
    session.mount("https://", _NoInternet())
    adapter = adapter_for(fake, session=session)
    adapter.verify()
    adapter.publish(POST)
    adapter.find_existing(POST)
    with pytest.raises(DuplicatePostError):
        adapter.publish(hooks.sample_post())
    assert all(r.path != "/" for r in fake.requests)
    assert len(fake.requests) == 5  # token, me, submit, submitted, submit


# -- RATELIMIT ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        (f"{A_LOT} Take a break for 5 minutes before trying again.", 300),
        ("You are doing that too much. Try again in 6 seconds.", 6),
        (f"{A_LOT} Take a break for 1 hour before trying again.", 3600),
        ("You are doing that too much. Try again in 2 milliseconds.", 0.002),
        ("Take a break for 9 minutes and 30 seconds before trying again.", 570),
        ("You are doing that too much.", 600),  # no wait named: 10 minutes
    ],
)
def test_ratelimit_waits(fake: FakeReddit, message: str, seconds: float) -> None:
    fake.fail_next_submit("RATELIMIT", message, "ratelimit")
    before = datetime.now(UTC)
    with pytest.raises(RateLimitedError) as raised:
        adapter_for(fake).publish(POST)
    wait = timedelta(seconds=seconds)
    assert before + wait <= raised.value.retry_at <= datetime.now(UTC) + wait
    assert message in str(raised.value)
    assert len(submits(fake)) == 1  # praw neither slept nor sent it again


def test_parse_ratelimit_wait() -> None:
    assert parse_ratelimit_wait("Try again in 1 minute.") == timedelta(minutes=1)
    assert parse_ratelimit_wait("Take a break for 2 hours") == timedelta(hours=2)
    assert parse_ratelimit_wait("slow down") is None


def test_429_waits_for_retry_after_or_the_reset_header(fake: FakeReddit) -> None:
    fake.fail_next(429, headers={"retry-after": "30"})
    with pytest.raises(RateLimitedError) as raised:
        adapter_for(fake).publish(POST)
    assert raised.value.retry_at - datetime.now(UTC) <= timedelta(seconds=30)
    assert raised.value.retry_at - datetime.now(UTC) > timedelta(seconds=25)

    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    response = requests.Response()
    response.headers["x-ratelimit-reset"] = "42"
    assert _retry_at(response, now=now) == now + timedelta(seconds=42)
    response.headers["Retry-After"] = "Fri, 01 May 2026 12:05:00 GMT"  # an HTTP date
    assert _retry_at(response, now=now) == now + timedelta(minutes=5)
    assert _retry_at(requests.Response(), now=now) == now + timedelta(seconds=60)


def test_a_spent_request_quota_raises_instead_of_sleeping(fake: FakeReddit) -> None:
    adapter = adapter_for(fake)
    fake.ratelimit_remaining, fake.ratelimit_reset = 0, 120
    adapter.verify()  # this answer says the quota is spent for 120 s
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as raised:
        adapter.publish(POST)
    assert time.monotonic() - started < 1
    assert submits(fake) == []
    assert raised.value.retry_at > datetime.now(UTC) + timedelta(seconds=100)


# -- duplicates and reconciling ----------------------------------------------------------
def test_already_sub_then_find_existing_returns_the_earlier_submission(
    fake: FakeReddit,
) -> None:
    adapter = adapter_for(fake)
    first = adapter.publish(POST)
    with pytest.raises(DuplicatePostError) as raised:
        adapter.publish(POST)
    assert "ALREADY_SUB" in str(raised.value)
    assert len(fake.submissions) == 1
    found = adapter.find_existing(POST)
    assert found is not None
    assert found.remote_id == first.remote_id
    assert found.url == "https://www.reddit.com" + fake.submissions[0]["permalink"]
    (listing,) = fake.requests_to("GET", "/user/feedrelaybot/submitted")
    assert listing.query["limit"] == ["100"] and listing.query["sort"] == ["new"]


def test_find_existing_is_none_when_absent(fake: FakeReddit) -> None:
    fake.add_existing(title=POST.title, url="https://blog.example.com/other.html")
    fake.add_existing(title=POST.title, url=POST.link, subreddit="someotherplace")
    assert adapter_for(fake).find_existing(POST) is None


def test_find_existing_past_its_recent_submissions_cannot_tell(fake: FakeReddit) -> None:
    """25 submissions since the attempt and not ours: it may be the 26th (a re-send on a
    guess would be a duplicate); without a time to compare, the last 25 answer."""
    since = datetime.now(UTC) - timedelta(minutes=5)
    fake.add_existing(title=POST.title, url=POST.link)
    for n in range(RECENT_SUBMISSIONS):
        fake.add_existing(title=f"Posted since {n}", url=f"https://blog.example.com/{n}.html")
    adapter = adapter_for(fake)
    with pytest.raises(LookupIncompleteError, match=f"more than {RECENT_SUBMISSIONS}"):
        adapter.find_existing(POST, since=since)
    assert adapter.find_existing(POST) is None


def test_find_existing_matches_self_posts_by_title(fake: FakeReddit) -> None:
    fake.add_existing(title="Something else", selftext="...")
    earlier = fake.add_existing(title=SELF_POST.title, selftext=SELF_POST.body)
    adapter = adapter_for(fake, kind="self")
    found = adapter.find_existing(SELF_POST)
    assert found == Published(
        remote_id=earlier["id"], url="https://www.reddit.com" + earlier["permalink"]
    )
    assert adapter.find_existing(Post(title="Never posted", body="x")) is None


def test_a_submit_applied_then_answered_500_is_found_again(fake: FakeReddit) -> None:
    adapter = adapter_for(fake)
    fake.accept_then_fail_next(500)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError):
        adapter.publish(POST)
    assert time.monotonic() - started < 1  # prawcore did not sleep and retry
    assert len(submits(fake)) == 1  # ...nor send the submit again
    found = adapter.find_existing(POST)
    assert found is not None
    assert found.remote_id == fake.submissions[0]["id"]


def test_a_dropped_submit_is_not_found(fake: FakeReddit) -> None:
    adapter = adapter_for(fake)
    fake.drop_next()
    with pytest.raises(OutcomeUnknownError):
        adapter.publish(POST)
    assert adapter.find_existing(POST) is None


@pytest.mark.parametrize("status", [500, 403, 429])
def test_find_existing_failures_are_retryable(fake: FakeReddit, status: int) -> None:
    fake.fail_next(status, on="submitted")
    with pytest.raises((TransientError, RateLimitedError)) as raised:
        adapter_for(fake).find_existing(POST)
    assert raised.value.retryable
    assert raised.value.target == "t"


def test_a_read_timeout_uses_the_sessions_timeout_not_prawcores_16_s(
    fake: FakeReddit,
) -> None:
    fake.delay_next(3.0)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError):
        adapter_for(fake).publish(POST)
    assert time.monotonic() - started < 2.5


def test_refused_after_the_token_is_transient_even_on_submit(fake: FakeReddit) -> None:
    session = make_session(**hooks.TIMEOUT)
    adapter = adapter_for(fake, session=session)
    adapter.verify()
    fake.stop()
    # FakeServer.stop() leaves open keep-alive connections served: start afresh.
    session.close()
    with pytest.raises(TransientError):
        adapter.publish(POST)


# -- accounts ------------------------------------------------------------------------------
def test_refresh_token_auth(fake: FakeReddit) -> None:
    adapter = adapter_for(
        fake, username=None, password=None, refresh_token=hooks.REFRESH_TOKEN, session=None
    )
    assert adapter.user_agent == f"python:feedrelay:{__version__}"
    published = adapter.publish(POST)
    assert adapter.find_existing(POST) == Published(
        remote_id=published.remote_id,
        url="https://www.reddit.com" + fake.submissions[0]["permalink"],
    )
    token = fake.requests[0].form()
    assert token["grant_type"] == "refresh_token"
    assert token["refresh_token"] == hooks.REFRESH_TOKEN
    assert "username" not in token
    assert [r.path for r in fake.requests[2:]] == ["/api/v1/me", "/user/feedrelaybot/submitted"]


def test_verify_names_the_account(fake: FakeReddit) -> None:
    assert adapter_for(fake).verify() == "u/feedrelaybot"
    assert fake.submissions == []


@pytest.mark.parametrize(
    "options",
    [
        {"password": "wrong-password-4Rr"},
        {"client_secret": "wrong-secret-8Pp"},
        {"username": None, "password": None, "refresh_token": "wrong-refresh-2Jj"},
    ],
)
def test_bad_credentials_are_an_auth_error_without_secrets(
    fake: FakeReddit, options: dict[str, Any]
) -> None:
    adapter = adapter_for(fake, **options)
    for call in (adapter.verify, lambda: adapter.publish(POST)):
        with pytest.raises(AuthError) as raised:
            call()
        assert raised.value.target == "t"
        text = messages(raised.value)
        for secret in [*hooks.SECRETS, *(v for v in options.values() if v)]:
            assert secret not in text
    assert fake.submissions == []


def test_no_credential_in_any_error_message(fake: FakeReddit) -> None:
    raised: list[PublishError] = []
    for failure in hooks.FAILURES:
        failure.arrange(fake)
        try:
            adapter_for(fake).publish(hooks.sample_post())
        except PublishError as caught:
            raised.append(caught)
        fake.password = hooks.PASSWORD  # undo the invalid_grant case
        fake.existing.clear()
    assert len(raised) == len(hooks.FAILURES)
    for error in raised:
        text = messages(error)
        for secret in hooks.SECRETS:
            assert secret not in text, text


def test_bad_settings_are_refused_up_front(fake: FakeReddit) -> None:
    with pytest.raises(ValueError, match="kind"):
        adapter_for(fake, kind="image")
    with pytest.raises(ValueError, match="refresh_token"):
        adapter_for(fake, password=None)


def test_prawcore_logs_nothing_below_info(fake: FakeReddit) -> None:
    logger = logging.getLogger("prawcore")
    logger.setLevel(logging.DEBUG)
    try:
        adapter_for(fake)
        assert logger.getEffectiveLevel() >= logging.INFO
    finally:
        logger.setLevel(logging.NOTSET)


# -- flair: Reddit needs flair_id whenever flair_text is sent --------------------------------
def test_flair_text_alone_is_sent_with_the_id_of_the_template_of_that_text(
    fake: FakeReddit,
) -> None:
    fake.set_flair_templates(hooks.SUBREDDIT, [("id-news", "News"), ("id-blog", "Blog post")])
    adapter = adapter_for(fake, flair_text="blog POST")
    adapter.publish(hooks.sample_post())
    adapter.publish(hooks.sample_post().__class__(title="Again", link="https://b.example/2"))
    forms = submits(fake)
    assert [(f["flair_id"], f["flair_text"]) for f in forms] == 2 * [("id-blog", "blog POST")]
    # looked up once per adapter
    assert len(fake.requests_to("GET", f"/r/{hooks.SUBREDDIT}/api/link_flair_v2/?")) == 1


def test_the_fake_refuses_flair_text_without_flair_id_as_reddit_does(fake: FakeReddit) -> None:
    answer = requests.post(
        f"{fake.url}/api/submit/",
        data={"sr": hooks.SUBREDDIT, "kind": "link", "title": "T", "flair_text": "Blog"},
        headers={"Authorization": f"bearer {fake.access_token}"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert fake.submissions == []


def test_a_subreddit_without_flairs_refuses_flair_text_in_words(fake: FakeReddit) -> None:
    adapter = adapter_for(fake, flair_text="Blog")
    fake.set_flair_templates(hooks.SUBREDDIT, [])
    with pytest.raises(PostRejectedError) as raised:
        adapter.publish(hooks.sample_post())
    assert "matches none of its flairs: it has none" in str(raised.value)
    assert submits(fake) == []


@pytest.mark.parametrize(
    ("templates", "says"),
    [
        (
            [("id-news", "News")],
            "flair_text 'Blog' matches none of its flairs: 'News' (flair_id id-news)",
        ),
        ([("a", "Blog"), ("b", "blog")], "matches more than one of its flairs"),
    ],
)
def test_flair_text_without_exactly_one_template_is_refused_in_words(
    fake: FakeReddit, templates: list[tuple[str, str]], says: str
) -> None:
    fake.set_flair_templates(hooks.SUBREDDIT, templates)
    adapter = adapter_for(fake, flair_text="Blog")
    with pytest.raises(PostRejectedError) as raised:
        adapter.publish(hooks.sample_post())
    assert says in str(raised.value) and "set flair_id" in str(raised.value)
    assert submits(fake) == []
    problems = adapter.problems()  # check --online says the same
    assert any(says in problem for problem in problems)


def test_a_refused_flair_list_says_to_set_flair_id(fake: FakeReddit) -> None:
    fake.refuse_flair_templates(hooks.SUBREDDIT)
    adapter = adapter_for(fake, flair_text="Blog")
    with pytest.raises(PostRejectedError, match="does not let this account read its flairs"):
        adapter.publish(hooks.sample_post())
    assert submits(fake) == []
