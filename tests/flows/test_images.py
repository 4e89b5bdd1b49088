"""An entry's image: downloaded through the address guard, by ``fetch_deadline``, checked
for its declared type and its bytes; the post goes out without it whenever it fails."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import ImageError
from bot.http import DeadlineSession, make_content_session
from bot.media import download_image
from bot.model import Image
from bot.netguard import AddressGuard
from tests.conftest import LOOPBACK_IMAGES, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.server import FakeServer, Response
from tests.fakes.x_api import FakeX

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
DRIP = 0.2  # seconds between bytes: the whole PNG takes 14 s


@pytest.fixture
def images() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def _session(deadline: float = 5.0) -> DeadlineSession:
    guard = AddressGuard(allow_private=True)  # the image server is on loopback
    return make_content_session(
        user_agent="feedrelay-test", guard=guard, deadline=deadline, connect_timeout=1.0
    )


def _download(url: str, *, deadline: float = 5.0, max_bytes: int = 10_000) -> bytes:
    session = _session(deadline)
    try:
        return download_image(session, Image(url=url), max_bytes=max_bytes).data
    finally:
        session.close()


@pytest.mark.parametrize("declared", [None, "image/png", "application/octet-stream"])
def test_an_image_type_or_none_is_judged_by_its_bytes(
    images: FakeServer, declared: str | None
) -> None:
    headers = {"Content-Type": declared} if declared else {}
    images.route("GET", "/a.png", lambda _r: Response(200, PNG, headers))
    assert _download(images.url + "/a.png") == PNG


@pytest.mark.parametrize(
    ("declared", "body", "said"),
    [
        ("text/html; charset=utf-8", PNG, "is text/html, not an image"),
        ("application/json", PNG, "is application/json, not an image"),
        ("image/png", b"<html>a login page</html>", "is not a JPEG, PNG, GIF or WebP image"),
        (None, b"%PDF-1.7", "is not a JPEG, PNG, GIF or WebP image"),
    ],
)
def test_anything_but_an_image_is_refused(
    images: FakeServer, declared: str | None, body: bytes, said: str
) -> None:
    headers = {"Content-Type": declared} if declared else {}
    images.route("GET", "/a.png", lambda _r: Response(200, body, headers))
    with pytest.raises(ImageError, match=said):
        _download(images.url + "/a.png")


def test_an_image_over_the_cap_is_refused(images: FakeServer) -> None:
    images.route("GET", "/big.png", lambda _r: Response(200, PNG + b"\0" * 1000))
    with pytest.raises(ImageError, match="is larger than 500 bytes"):
        _download(images.url + "/big.png", max_bytes=500)


def test_a_dripping_image_stops_at_the_deadline(images: FakeServer) -> None:
    # Every byte comes well inside the read timeout: only the total deadline stops it.
    images.route("GET", "/slow.png", lambda _r: Response(200, PNG, drip=DRIP))
    with pytest.raises(ImageError, match=r"within the deadline of 1 s"):
        _download(images.url + "/slow.png", deadline=1.0)
    assert 0 < images.dripped < len(PNG)


def test_a_redirect_that_drips_counts_against_the_images_deadline(images: FakeServer) -> None:
    images.route(
        "GET", "/moved.png", lambda _r: Response(302, PNG, {"Location": "/a.png"}, drip=DRIP)
    )
    images.route("GET", "/a.png", lambda _r: Response(200, PNG))
    with pytest.raises(ImageError, match=r"within the deadline of 1 s"):
        _download(images.url + "/moved.png", deadline=1.0)
    assert images.requests_to("GET", "/a.png") == []


# -- end to end: the post goes out without the image ---------------------------------------


def _run_once(path: Path, clock: Clock) -> None:
    with open_app(path, clock) as app:
        app.recover()
        app.poll_due_feeds(everything=True)
        app.dispatch_due()


def test_an_image_from_inside_the_network_is_refused_and_the_post_goes_without_it(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    images: FakeServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The default config: no allow_private_images. Two X targets want the same image.
    images.route("GET", "/secret.png", lambda _r: Response(200, PNG, {"Content-Type": "image/png"}))
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "x2"]),
        x_target(x_api.url),
        x_target(x_api.url, name="x2", template='"{url} {title}"'),
    )
    _run_once(path, clock)
    secret = images.url + "/secret.png"
    blog.add_entry("Inside job", f'<p><img src="{secret}" alt="the router"></p><p>Hi.</p>')
    clock.advance(minutes=11)
    with caplog.at_level(logging.INFO, logger="bot.dispatch"):
        _run_once(path, clock)

    assert len(x_api.tweets) == 2
    assert all(not tweet["media_ids"] for tweet in x_api.tweets)
    assert x_api.media == {}
    assert images.requests == []
    why = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(why) == 1, why
    assert why[0].endswith(
        f"without its image: image {secret} refused: 127.0.0.1 is a loopback address"
        " (set [bot] allow_private_images = true for a blog on your network)"
    )
    assert [r.levelname for r in caplog.records if "without its image" in r.getMessage()] == [
        "WARNING",
        "INFO",
    ]


def test_with_allow_private_images_the_same_image_is_posted(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, images: FakeServer, clock: Clock
) -> None:
    images.route("GET", "/lan.png", lambda _r: Response(200, PNG, {"Content-Type": "image/png"}))
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url), bot=LOOPBACK_IMAGES
    )
    _run_once(path, clock)
    blog.add_entry("On the LAN", f'<p><img src="{images.url}/lan.png"></p>')
    clock.advance(minutes=11)
    _run_once(path, clock)
    (tweet,) = x_api.tweets
    (media_id,) = tweet["media_ids"]
    assert x_api.media[media_id]["data"] == PNG
    assert len(images.requests) == 1


def test_a_dripping_image_gives_up_at_fetch_deadline_and_the_post_goes_without_it(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    images: FakeServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    images.route(
        "GET", "/slow.png", lambda _r: Response(200, PNG, {"Content-Type": "image/png"}, drip=DRIP)
    )
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]),
        x_target(x_api.url),
        bot=LOOPBACK_IMAGES + 'fetch_deadline = "1s"\n',
    )
    _run_once(path, clock)
    blog.add_entry("Slow picture", f'<p><img src="{images.url}/slow.png"></p>')
    clock.advance(minutes=11)
    _run_once(path, clock)
    (tweet,) = x_api.tweets
    assert not tweet["media_ids"] and x_api.media == {}
    assert len(images.requests) == 1 and 0 < images.dripped < len(PNG)
    assert f"cannot download {images.url}/slow.png within the deadline of 1 s" in caplog.text


# -- which image, and its alt text (issue 18: the post's own image over a 72 px thumbnail) --
def _png(_request: object) -> Response:
    return Response(200, PNG, {"Content-Type": "image/png"})


def _post_one_entry(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock, html: str, thumbnail: str = ""
) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url), bot=LOOPBACK_IMAGES
    )
    _run_once(path, clock)
    blog.add_entry("Ripe", html, thumbnail=thumbnail)
    clock.advance(minutes=11)
    _run_once(path, clock)


def test_a_blogger_entry_posts_its_own_image_with_its_alt_text_not_the_thumbnail(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, images: FakeServer, clock: Clock
) -> None:
    images.route("GET", "/img/s640/tomatoes.png", _png)
    html = f'<p><img src="{images.url}/img/s640/tomatoes.png" alt="Ripe tomatoes"></p>'
    _post_one_entry(tmp_path, blog, x_api, clock, html, f"{images.url}/img/s72-c/tomatoes.png")
    (tweet,) = x_api.tweets
    (media_id,) = tweet["media_ids"]
    assert x_api.media[media_id]["alt"] == "Ripe tomatoes"
    assert [r.path for r in images.requests] == ["/img/s640/tomatoes.png"]


def test_a_thumbnail_is_asked_for_large_on_any_host_and_falls_back_to_itself(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, images: FakeServer, clock: Clock
) -> None:
    images.route("GET", "/img/s72-c/only.png", _png)  # the large size is not there (404)
    _post_one_entry(
        tmp_path, blog, x_api, clock, "<p>No picture here.</p>", f"{images.url}/img/s72-c/only.png"
    )
    (tweet,) = x_api.tweets
    assert len(tweet["media_ids"]) == 1
    assert [r.path for r in images.requests] == ["/img/s1600/only.png", "/img/s72-c/only.png"]


def test_an_image_known_to_be_tiny_gives_way_to_a_bigger_one(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, images: FakeServer, clock: Clock
) -> None:
    images.route("GET", "/img/s1600/big.png", _png)
    html = f'<p><img src="{images.url}/icon.png" width="48" height="48" alt="icon"></p>'
    _post_one_entry(tmp_path, blog, x_api, clock, html, f"{images.url}/img/s72-c/big.png")
    (tweet,) = x_api.tweets
    assert len(tweet["media_ids"]) == 1
    assert [r.path for r in images.requests] == ["/img/s1600/big.png"]
