"""Bluesky: the shape (facets byte by byte, the limits, the record key), and
``adapters.bluesky.client`` through the real ``atproto`` SDK against the loopback
``FakeBluesky``: the card and its thumbnail, the stored session, exactly once."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

import adapters
from adapters.api import LocalMemory
from adapters.bluesky.client import SESSION_KEY, BlueskyAdapter
from adapters.bluesky.render import (
    MAX_BYTES,
    MAX_GRAPHEMES,
    bluesky_weight,
    facets,
    grapheme_count,
    is_tid,
    tid_for,
    tid_now,
    utf8_length,
)
from adapters.bluesky.spec import LIMITS, BlueskyTarget
from adapters.bluesky.thumb import MAX_THUMB_BYTES, thumbnail
from bot import feeds
from bot.cli import main
from bot.errors import (
    AuthError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Entry, MediaFile, Post, Published
from bot.store import open_store
from bot.targets import TargetMemory
from bot.text.render import render
from tests.adapters import test_adapter_contract as contract
from tests.conftest import feed_table, modules_loaded_by, write_config
from tests.fakes.bluesky_api import FakeBluesky
from tests.fakes.feed_server import FakeBlog
from tests.platforms import bluesky as hooks

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
BLUESKY_LIBRARIES = ("atproto", "atproto_client", "PIL", "httpx", "adapters.bluesky.client")


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with hooks.start_fake() as server:
        yield server


@pytest.fixture
def adapter(fake: FakeBluesky) -> Iterator[BlueskyAdapter]:
    made = hooks.make_adapter(fake)
    yield made
    made.close()


def publish_error(adapter: BlueskyAdapter, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as raised:
        adapter.publish(post or hooks.sample_post())
    return raised.value


def entry(title: str, *, labels: tuple[str, ...] = (), summary: str = "", **kw: Any) -> Entry:
    return Entry(
        feed="blog",
        key=f"k-{title}",
        title=title,
        link=kw.pop("link", "https://blog.example/2025/06/post.html"),
        summary_html=f"<p>{summary}</p>" if summary else "",
        labels=labels,
        **kw,
    )


def rendered(e: Entry, **options: Any) -> Post:
    spec = adapters.spec("bluesky")
    settings = BlueskyTarget(
        platform="bluesky", handle=hooks.HANDLE, app_password=hooks.APP_PASSWORD, **options
    )
    return render(e, spec.render, spec.options(settings), spec.limits).post


def check_facets(post: Post) -> None:
    """Every facet's byte range covers exactly its link or ``#tag`` in the UTF-8 text."""
    data = post.text.encode()
    for facet in facets(post.text, post.link, post.tags):
        covered = data[facet.byte_start : facet.byte_end].decode()
        expected = facet.value if facet.kind == "link" else "#" + facet.value
        assert covered == expected, (covered, expected)


# -- the contract, over the Bluesky hooks ------------------------------------------------------
@pytest.mark.parametrize(
    "test",
    [
        contract.test_publish_returns_the_platforms_id,
        contract.test_verify_names_the_account,
        contract.test_connection_refused_is_transient,
    ],
    ids=lambda t: t.__name__,
)
def test_contract(test: Any) -> None:
    test(hooks)


@pytest.mark.parametrize("failure", hooks.FAILURES, ids=lambda f: f.id)
def test_contract_error_mapping(failure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "_hooks", lambda name: hooks)
    contract.test_error_mapping("bluesky", failure)


def test_registered_with_its_hooks() -> None:
    assert "bluesky" in adapters.platforms()
    assert adapters.spec("bluesky").name == hooks.PLATFORM
    assert adapters.named("bsky") == "bluesky"


# -- the record key ---------------------------------------------------------------------------
def test_tids_are_valid_sortable_and_distinct() -> None:
    assert tid_for(0, 0) == "2222222222222"
    assert is_tid(tid_for((1 << 53) - 1, 1023))
    made = [tid_now() for _ in range(500)]
    assert all(is_tid(t) and len(t) == 13 for t in made)
    assert made == sorted(made) and len(set(made)) == len(made)
    assert not is_tid("hello-bluesky") and not is_tid("3lbqd2yxkxk2a1")


def test_render_fixes_a_record_key_per_rendering() -> None:
    first, second = rendered(entry("Hello")), rendered(entry("Hello"))
    assert is_tid(first.slug) and is_tid(second.slug) and first.slug != second.slug


# -- the shape: limits and facets -------------------------------------------------------------
@pytest.mark.parametrize(
    "title",
    [
        "東京の春、桜の季節に歩いた十の小径と、その先にあった古い喫茶店の話" * 8,
        "Family trip 👨‍👩‍👧‍👦🏖️ with flags 🇯🇵🇫🇷 and skin tones 👍🏽 " * 12,
        "Zalgo: " + "e\u0301\u0302\u0303\u0304\u0305\u0306 " * 200,
        "हिन्दी में लिखा गया एक लंबा शीर्षक जो कई शब्दों का है " * 10,
        "Café naïve coöperation résumé " * 20,
    ],
    ids=["cjk", "emoji", "combining-marks", "devanagari", "latin-accents"],
)
def test_text_fits_both_limits_and_facets_are_exact(title: str) -> None:
    link = "https://blog.example/2025/06/日本語-ページ.html"
    post = rendered(
        entry(title, link=link, labels=("日本語", "Travel", "Café")),
        template="{title} {url} {hashtags}",
    )
    assert grapheme_count(post.text) <= MAX_GRAPHEMES
    assert utf8_length(post.text) <= MAX_BYTES
    assert link in post.text
    found = facets(post.text, post.link, post.tags)
    assert found[0].kind == "link"
    assert {f.value for f in found if f.kind == "tag"} == {t.lstrip("#") for t in post.tags}
    check_facets(post)


def test_the_byte_cap_binds_before_the_grapheme_count() -> None:
    # A family emoji is one grapheme of 25 bytes: 300 of them would be 7,500 bytes.
    post = rendered(entry("👨‍👩‍👧‍👦 " * 400), template="{title} {url}")
    assert utf8_length(post.text) <= MAX_BYTES
    assert grapheme_count(post.text) < MAX_GRAPHEMES
    assert bluesky_weight(post.text) <= MAX_GRAPHEMES
    assert post.text.endswith("… https://blog.example/2025/06/post.html")


def test_facets_by_hand() -> None:
    text = "日本 👍🏽 https://e.example/é?q=1 #Tag #Tagged https://other.org/x"
    found = facets(text, "https://e.example/é?q=1", ("#Tag", "#Tagged", "#Missing"))
    data = text.encode()
    assert [(f.kind, f.value) for f in found] == [
        ("link", "https://e.example/é?q=1"),
        ("tag", "Tag"),
        ("tag", "Tagged"),
        ("link", "https://other.org/x"),
    ]
    assert data[found[0].byte_start : found[0].byte_end].decode() == "https://e.example/é?q=1"
    assert found[0].byte_start == len("日本 👍🏽 ".encode())
    # "#Tag" inside "#Tagged" is not a second tag.
    assert sum(1 for f in found if f.value == "Tag") == 1


def test_hashtags_too_long_for_a_tag_facet_are_left_out() -> None:
    long_label = "a" * 70
    post = rendered(entry("Title", labels=(long_label, "Short")))
    assert post.tags == ("#Short",)


def test_card_fields_come_from_the_entry() -> None:
    post = rendered(entry("A title", summary="The summary of the entry."))
    assert post.link == "https://blog.example/2025/06/post.html"
    assert post.title == "A title"
    assert post.description == "The summary of the entry."


def test_describe_shows_facets_card_and_key() -> None:
    post = rendered(entry("Hello", labels=("Python",)))
    description = adapters.spec("bluesky").describe(post, LIMITS)
    labels = [line.label for line in description.lines]
    assert labels[:3] == ["text", "facets", "link card"]
    assert "record key" in labels
    assert description.budget.startswith("text ") and "/300 graphemes" in description.budget


def test_the_real_feed_corpus_renders_within_limits() -> None:
    corpus = sorted(REAL.glob("*.xml"))
    assert corpus
    count = 0
    for path in corpus:
        fetched = feeds.fetch(feeds.make_session(), feed="real", url=path.as_uri())
        for e in feeds.parse("real", fetched).entries:
            for template in (
                "{title} {url} {hashtags}",
                "{title}\n\n{summary}\n\n{url} {hashtags}",
            ):
                post = rendered(e, template=template, max_hashtags=5)
                assert grapheme_count(post.text) <= MAX_GRAPHEMES, path.name
                assert utf8_length(post.text) <= MAX_BYTES, path.name
                if e.link:
                    assert e.link in post.text, (path.name, e.link)
                check_facets(post)
                count += 1
    assert count > 10


# -- settings --------------------------------------------------------------------------------
def test_settings_validate_handle_langs_and_host() -> None:
    base = {"platform": "bluesky", "app_password": "x"}
    assert BlueskyTarget(**base, handle="@Name.bsky.social").handle == "name.bsky.social"
    assert BlueskyTarget(**base, handle="did:plc:abc123").handle == "did:plc:abc123"
    assert BlueskyTarget(**base, handle="n.bsky.social").host() == "https://bsky.social"
    for bad in ({"handle": "not a handle"}, {"handle": "a.b", "langs": ["en", "de", "fr", "ja"]}):
        with pytest.raises(ValueError):
            BlueskyTarget(**base, **bad)
    with pytest.raises(ValueError, match="not both"):
        BlueskyTarget(
            **base,
            handle="a.bsky.social",
            service="https://a.example",
            api_base="https://b.example",
        )


def test_spec_loads_no_platform_library() -> None:
    code = "import adapters, bot.cli; adapters.spec('bluesky')"
    assert modules_loaded_by(code, BLUESKY_LIBRARIES) == []


# -- what goes out ----------------------------------------------------------------------------
def test_publish_sends_text_facets_card_langs_under_its_own_key(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    post = hooks.sample_post()
    published = adapter.publish(post)
    [sent] = fake.requests_to(*hooks.CREATE)
    body = sent.json()
    assert body["repo"] == hooks.DID
    assert body["collection"] == "app.bsky.feed.post"
    assert body["rkey"] == post.slug
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == post.text
    assert record["langs"] == ["en"]
    datetime.fromisoformat(record["createdAt"].replace("Z", "+00:00"))
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "$type": "app.bsky.embed.external#external",
            "uri": post.link,
            "title": post.title,
            "description": post.description,
        },
    }
    data = post.text.encode()
    spans = [
        (data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(), f["features"][0])
        for f in record["facets"]
    ]
    assert spans == [
        (post.link, {"$type": "app.bsky.richtext.facet#link", "uri": post.link}),
        ("#FeedRelay", {"$type": "app.bsky.richtext.facet#tag", "tag": "FeedRelay"}),
    ]
    assert published == Published(
        remote_id=f"at://{hooks.DID}/app.bsky.feed.post/{post.slug}",
        url=f"https://bsky.app/profile/{hooks.HANDLE}/post/{post.slug}",
    )
    assert sent.header("Authorization").startswith("Bearer ")
    assert "feedrelay" in sent.header("User-Agent")


def test_a_post_without_a_valid_key_is_refused_before_sending(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    error = publish_error(adapter, replace(hooks.sample_post(), slug="hello-bluesky"))
    assert type(error) is PostRejectedError
    assert fake.requests_to(*hooks.CREATE) == []


def test_a_post_without_link_has_no_card(fake: FakeBluesky, adapter: BlueskyAdapter) -> None:
    adapter.publish(Post(text="Just words #Tag", tags=("#Tag",), slug=tid_now()))
    record = fake.created[0]["value"]
    assert "embed" not in record
    assert record["facets"][0]["features"][0]["tag"] == "Tag"


def _png(width: int, height: int, *, noisy: bool = False) -> bytes:
    import random

    image = PILImage.new("RGB", (width, height), (30, 120, 200))
    if noisy:
        rng = random.Random(7)
        image.putdata(
            [
                (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                for _ in range(width * height)
            ]
        )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_small_image_is_the_cards_thumbnail_as_it_is(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    data = _png(120, 80)
    adapter.publish(hooks.sample_post(), MediaFile(data=data, mime_type="image/png"))
    [upload] = fake.requests_to("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob")
    assert upload.body == data and upload.header("Content-Type") == "image/png"
    thumb = fake.created[0]["value"]["embed"]["external"]["thumb"]
    assert thumb["mimeType"] == "image/png" and thumb["size"] == len(data)
    assert thumb["ref"]["$link"] in fake.blobs


def test_a_big_image_is_recompressed_under_the_lexicons_max_size(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    data = _png(1400, 1000, noisy=True)
    assert len(data) > MAX_THUMB_BYTES
    adapter.publish(hooks.sample_post(), MediaFile(data=data, mime_type="image/png"))
    thumb = fake.created[0]["value"]["embed"]["external"]["thumb"]
    assert thumb["mimeType"] == "image/jpeg"
    assert thumb["size"] <= MAX_THUMB_BYTES


def test_a_broken_image_never_fails_the_post(
    fake: FakeBluesky, adapter: BlueskyAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_THUMB_BYTES + 10)
    adapter.publish(hooks.sample_post(), MediaFile(data=broken, mime_type="image/png"))
    assert "thumb" not in fake.created[0]["value"]["embed"]["external"]
    assert fake.requests_to("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob") == []
    assert "goes without" in caplog.text


def test_a_failed_upload_never_fails_the_post(fake: FakeBluesky, adapter: BlueskyAdapter) -> None:
    fake.fail_next(500, "InternalServerError", method="com.atproto.repo.uploadBlob")
    adapter.publish(hooks.sample_post(), MediaFile(data=_png(10, 10), mime_type="image/png"))
    assert "thumb" not in fake.created[0]["value"]["embed"]["external"]


def test_the_fake_refuses_a_thumb_over_max_size(fake: FakeBluesky) -> None:
    import httpx

    adapter = hooks.make_adapter(fake)
    adapter.verify()
    token = json.loads(adapter._memory.get(SESSION_KEY) or "{}")["access"]
    auth = {"Authorization": f"Bearer {token}"}
    blob = httpx.post(
        f"{fake.url}/xrpc/com.atproto.repo.uploadBlob",
        content=b"x" * (MAX_THUMB_BYTES + 1),
        headers={**auth, "Content-Type": "image/jpeg"},
    ).json()["blob"]
    record = {
        "$type": "app.bsky.feed.post",
        "text": "t",
        "createdAt": "2025-01-01T00:00:00Z",
        "embed": {
            "$type": "app.bsky.embed.external",
            "external": {"uri": "https://e.example", "title": "", "description": "", "thumb": blob},
        },
    }
    answer = httpx.post(
        f"{fake.url}/xrpc/com.atproto.repo.createRecord",
        json={"repo": hooks.DID, "collection": "app.bsky.feed.post", "record": record},
        headers=auth,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "BlobTooLarge"


def test_thumbnail_keeps_small_images_and_refuses_unreadable_ones() -> None:
    small = _png(8, 8)
    assert thumbnail(small, "image/png") == (small, "image/png")
    assert thumbnail(b"not an image", "image/bmp") is None
    made = thumbnail(_png(50, 50), "image/bmp")  # a type the app does not show
    assert made is not None and made[1] == "image/jpeg"


# -- exactly once -------------------------------------------------------------------------------
def test_a_resend_under_the_same_key_is_settled_by_reading_it_back(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    first = adapter.publish(hooks.sample_post())
    again = adapter.publish(hooks.sample_post())  # the PDS answers 500 for the existing key
    assert again == first
    assert len(fake.created) == 1
    assert len(fake.requests_to(*hooks.CREATE)) == 2
    assert fake.requests_to("GET", r"/xrpc/com\.atproto\.repo\.getRecord")


def test_accepted_then_500_is_found_by_reading_back(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    fake.accept_then_fail_next(500)
    published = adapter.publish(hooks.sample_post())
    assert published.remote_id == fake.created[0]["uri"]


def test_a_timeout_is_unknown_then_found_by_key(fake: FakeBluesky, adapter: BlueskyAdapter) -> None:
    fake.delay_next(hooks.SLOWER_THAN_TIMEOUT)
    assert type(publish_error(adapter)) is OutcomeUnknownError
    found = adapter.find_existing(hooks.sample_post())
    assert found is not None and found.remote_id == fake.created[0]["uri"]
    assert found.url.endswith(f"/post/{hooks.SAMPLE_RKEY}")


def test_find_existing_none_when_absent_and_by_link_without_key(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    assert adapter.find_existing(hooks.sample_post()) is None
    made = fake.add_existing(tid_now(), link="https://blog.example/old")
    found = adapter.find_existing(Post(text="x", link="https://blog.example/old"))
    assert found is not None and found.remote_id == made["uri"]
    assert adapter.find_existing(Post(text="x", link="https://blog.example/none")) is None


@pytest.mark.parametrize(
    "arrange",
    [
        lambda f: f.fail_next(503, "InternalServerError", method="com.atproto.repo.getRecord"),
        lambda f: f.drop_next(method="com.atproto.repo.getRecord"),
    ],
)
def test_a_lookup_that_fails_is_transient(
    fake: FakeBluesky, adapter: BlueskyAdapter, arrange: Any
) -> None:
    arrange(fake)
    with pytest.raises(TransientError):
        adapter.find_existing(hooks.sample_post())


# -- the session --------------------------------------------------------------------------------
def test_the_session_is_stored_and_reused_by_the_next_adapter(fake: FakeBluesky) -> None:
    memory = LocalMemory()
    for _ in range(3):
        adapter = hooks.make_adapter(fake, memory=memory)
        adapter.publish(replace(hooks.sample_post(), slug=tid_now()))
        adapter.close()
    assert fake.logins == 1
    stored = json.loads(memory.get(SESSION_KEY) or "")
    assert stored["did"] == hooks.DID and stored["pds"] == fake.url
    assert hooks.APP_PASSWORD not in json.dumps(stored)


def test_a_session_near_expiry_is_refreshed_and_rewritten(fake: FakeBluesky) -> None:
    fake.access_ttl = 60  # inside the refresh margin: every use refreshes
    memory = LocalMemory()
    adapter = hooks.make_adapter(fake, memory=memory)
    adapter.verify()
    first = memory.get(SESSION_KEY)
    adapter.verify()
    second = memory.get(SESSION_KEY)
    assert fake.logins == 1
    assert len(fake.refreshes) == 1
    assert first != second
    assert json.loads(second or "")["refresh"] != json.loads(first or "")["refresh"]


def test_two_runners_never_refresh_with_one_token(fake: FakeBluesky) -> None:
    memory = LocalMemory()
    a, b = hooks.make_adapter(fake, memory=memory), hooks.make_adapter(fake, memory=memory)
    a.verify()
    b.verify()
    fake.access_ttl = 60
    fake.expire_access_tokens()
    # Both saw the same stored session; a refreshes first; b must use what a stored.
    a._ensure_session(stale=True)
    b.verify()
    assert len(fake.refreshes) == len(set(fake.refreshes))
    assert fake.logins == 1


def test_a_refused_refresh_token_means_logging_in_again(fake: FakeBluesky) -> None:
    memory = LocalMemory()
    hooks.make_adapter(fake, memory=memory).verify()
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    adapter = hooks.make_adapter(fake, memory=memory)
    adapter.publish(hooks.sample_post())
    assert fake.logins == 2
    assert len(fake.created) == 1


def test_an_expired_token_answer_renews_the_session_and_sends_once(fake: FakeBluesky) -> None:
    memory = LocalMemory()
    adapter = hooks.make_adapter(fake, memory=memory)
    adapter.verify()
    fake.expire_access_tokens()  # the PDS says ExpiredToken though the JWT looks fresh
    adapter.publish(hooks.sample_post())
    assert len(fake.created) == 1
    assert len(fake.refreshes) == 1 and fake.logins == 1


def test_a_429_on_login_waits_for_its_reset_and_says_so(fake: FakeBluesky) -> None:
    fake.login_limit = 0
    before = datetime.now(UTC)
    error = publish_error(hooks.make_adapter(fake))
    assert isinstance(error, RateLimitedError)
    assert before + timedelta(seconds=290) <= error.retry_at <= before + timedelta(seconds=310)
    assert "logins are limited" in str(error) and "waiting until" in str(error)


def test_the_session_lives_in_the_store_across_runners(tmp_path: Path, fake: FakeBluesky) -> None:
    store = open_store(str(tmp_path / "s.sqlite"))
    try:
        for _ in range(10):  # ten cron runs: each opens the target again
            memory = TargetMemory(store, "bsky", clock=lambda: datetime.now(UTC))
            adapter = hooks.make_adapter(fake, memory=memory)
            adapter.publish(replace(hooks.sample_post(), slug=tid_now()))
            adapter.close()
    finally:
        store.close()
    assert fake.logins == 1
    assert len(fake.created) == 10


def test_no_secret_appears_in_any_error(fake: FakeBluesky) -> None:
    errors: list[BaseException] = []
    for case in hooks.FAILURES:
        with hooks.start_fake() as other:
            case.arrange(other)
            errors.append(publish_error(hooks.make_adapter(other)))
    errors.append(publish_error(hooks.make_adapter(fake, service="http://127.0.0.1:9")))
    for error in errors:
        text = f"{error} {error!r} {error.__cause__}"
        assert hooks.APP_PASSWORD not in text


# -- verify and problems ---------------------------------------------------------------------------
def test_verify_names_the_handle(adapter: BlueskyAdapter) -> None:
    assert adapter.verify() == f"@{hooks.HANDLE}"


def test_problems_name_an_inactive_account(fake: FakeBluesky, adapter: BlueskyAdapter) -> None:
    assert adapter.problems() == []
    fake.active = False
    [problem] = adapter.problems()
    assert "not active" in problem and "deactivated" in problem


def test_a_wrong_app_password_is_an_auth_error_saying_what_to_do(fake: FakeBluesky) -> None:
    error = publish_error(hooks.make_adapter(fake, app_password="wrong-password-123"))
    assert type(error) is AuthError
    assert "App passwords" in str(error) and "[targets.t]" in str(error)
    assert fake.created == []


# -- end to end ------------------------------------------------------------------------------------
def test_run_once_posts_to_bluesky_and_history_shows_the_url(
    tmp_path: Path, fake: FakeBluesky
) -> None:
    with FakeBlog() as blog:
        blog.add_entry("Old news")
        path = write_config(
            tmp_path, feed_table("blog", blog.feed_url, ["bsky"]), hooks.target_table(fake.url)
        )

        def run(*args: str) -> Any:
            result = CliRunner().invoke(main, ["--config", str(path), *args], env=hooks.ENV)
            assert result.exit_code == 0, result.output
            assert hooks.APP_PASSWORD not in result.output
            return result

        assert "@feedrelay.bsky.social" in run("check", "--online").output
        run("run", "--once")
        posted = blog.add_entry("東京 🌸 Fresh post", labels=["Python", "日本語"])
        for _ in range(3):
            run("run", "--once")
        rows = json.loads(run("history", "--json").output)
        link = blog.entry_url(posted)
    assert [r["status"] for r in rows] == ["posted"]
    assert hooks.posted_links(fake) == [link]
    rkey = fake.created[0]["uri"].rsplit("/", 1)[-1]
    assert rows[0]["remote_url"] == f"https://bsky.app/profile/{hooks.HANDLE}/post/{rkey}"
    record = fake.created[0]["value"]
    check_facets(
        Post(
            text=record["text"],
            link=link,
            tags=tuple(
                "#" + f["features"][0]["tag"] for f in record["facets"] if "tag" in f["features"][0]
            ),
        )
    )
    assert {f["features"][0].get("tag") for f in record["facets"]} >= {"Python", "日本語"}
    # check --online works on a dry-run store, which keeps nothing: its own login; the runs
    # then share one stored session.
    assert fake.logins == 2


def test_init_asks_the_handle_and_auth_checks_the_app_password(
    tmp_path: Path, fake: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with FakeBlog() as blog:
        blog.add_entry("Old news")
        made = CliRunner().invoke(
            main,
            ["init", "--blog", blog.url, "--to", "bluesky"],
            input="not a handle\n@Feedrelay.bsky.social\n",
        )
        assert made.exit_code == 0, made.output
        assert "Bluesky handle (name.bsky.social): " in made.output
        assert "is not a Bluesky handle" in made.output
        config = tmp_path / "feedrelay.toml"
        text = config.read_text()
        assert '[targets.bluesky]\nplatform = "bluesky"\nhandle = "feedrelay.bsky.social"' in text
        assert 'app_password = "${BLUESKY_APP_PASSWORD}"' in text
        assert "BLUESKY_APP_PASSWORD=" in (tmp_path / ".env").read_text()
        config.write_text(
            text.replace('# api_base = "http://127.0.0.1:8081"', f'api_base = "{fake.url}"')
        )
        checked = CliRunner().invoke(main, ["auth", "bluesky"], env=hooks.ENV)
        assert checked.exit_code == 0, checked.output
        assert "posting as @feedrelay.bsky.social" in checked.output
        assert hooks.APP_PASSWORD not in checked.output
        refused = CliRunner().invoke(
            main, ["auth", "bluesky"], env={"BLUESKY_APP_PASSWORD": "wrong-password-42"}
        )
        assert refused.exit_code != 0
        assert "Invalid identifier or password" in refused.output
        bare = CliRunner().invoke(
            main,
            ["auth", "bluesky", "--handle", hooks.HANDLE, "--app-password", hooks.APP_PASSWORD,
             "--service", fake.url],
        )  # fmt: skip
        assert bare.exit_code == 0, bare.output


def test_a_500_whose_read_back_fails_stays_unknown(
    fake: FakeBluesky, adapter: BlueskyAdapter
) -> None:
    fake.fail_next(500, "InternalServerError", "Internal Server Error")
    fake.fail_next(503, "InternalServerError", method="com.atproto.repo.getRecord")
    error = publish_error(adapter)
    assert type(error) is OutcomeUnknownError
    assert "500 InternalServerError" in str(error)


# -- the crash suite, on Bluesky ------------------------------------------------------------
def _feedrelay(path: Path, *args: str, failpoint: str | None = None) -> Any:
    import os
    import subprocess
    import sys

    from bot.failpoints import ENV_VAR

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


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after-claim", "after-response", "mid-fetch"])
def test_killed_at_a_failpoint_then_restarted_posts_each_entry_once(
    tmp_path: Path, fake: FakeBluesky, clock: Any, point: str
) -> None:
    from tests.conftest import open_app

    with FakeBlog() as blog:
        entries = [blog.add_entry("First of two"), blog.add_entry("Second of two")]
        path = write_config(
            tmp_path,
            feed_table("blog", blog.feed_url, ["target"], backfill=2),
            hooks.target_table(fake.url, name="target"),
        )
        crashed = _feedrelay(path, "run", failpoint=point)
        assert crashed.returncode == -9, crashed.stderr
        restarted = _feedrelay(path, "run", "--once")
        assert restarted.returncode == 0, restarted.stderr
        assert "Traceback" not in restarted.stderr
        for _ in range(4):
            clock.advance(minutes=30)
            with open_app(path, clock, hooks.ENV) as app:
                app.poll_due_feeds()
                app.dispatch_due()
        expected = sorted(blog.entry_url(entry) for entry in entries)
        with open_app(path, clock, hooks.ENV) as app:
            states = sorted(d.state.value for d in app.history())
    assert sorted(hooks.posted_links(fake)) == expected
    assert states == ["posted", "posted"]
    assert len({made["uri"] for made in fake.created}) == 2
    assert fake.logins == 1  # the crashed run's session was kept and reused


def test_a_runner_that_lost_the_refresh_race_uses_the_winners_session(fake: FakeBluesky) -> None:
    from adapters.bluesky.client import _Session

    memory = LocalMemory()
    winner, loser = hooks.make_adapter(fake, memory=memory), hooks.make_adapter(fake, memory=memory)
    winner.verify()
    loser.verify()
    read_by_both = memory.get(SESSION_KEY)
    seen = _Session.parse(read_by_both, service=fake.url, login=hooks.HANDLE)
    assert seen is not None
    winner._ensure_session(stale=True)  # refreshes and stores first
    taken = loser._refresh(read_by_both, seen)  # its refresh token was just rotated
    assert taken.encode() == memory.get(SESSION_KEY)
    assert fake.logins == 1
    loser.verify()
    # The winner's only: the loser never refreshes with a token another runner claimed.
    assert len(fake.refreshes) == 1


def test_a_link_too_long_for_the_text_is_skipped_with_the_reason() -> None:
    spec = adapters.spec("bluesky")
    settings = BlueskyTarget(platform="bluesky", handle=hooks.HANDLE, app_password="x")
    long_link = "https://blog.example/" + "a" * 400
    result = render(entry("Title", link=long_link), spec.render, spec.options(settings), LIMITS)
    assert result.skip_reason is not None and "without cutting the link" in result.skip_reason


def test_a_refresh_that_cannot_reach_bluesky_keeps_a_token_that_still_works(
    fake: FakeBluesky,
) -> None:
    fake.access_ttl = 120  # inside the refresh margin, not yet expired
    memory = LocalMemory()
    adapter = hooks.make_adapter(fake, memory=memory)
    adapter.verify()
    fake.drop_next(method="com.atproto.server.refreshSession")
    adapter.publish(hooks.sample_post())
    assert len(fake.created) == 1 and fake.logins == 1
