"""The address guard (``bot/netguard.py``): a URL found in feed content never makes FeedRelay
connect to a loopback, private, link-local or other non-global address.

``internal`` (and ``internal6`` on ``::1``) stands for what lives inside the operator's
network: a router's admin page, a cloud metadata service. It listens on loopback and serves
a PNG to anyone who asks, so it is reachable only if the guard fails. Every refusal below is
checked three ways: the error names the address and why, ``internal`` saw no request, and
no socket connected anywhere (``connects``): the refusal comes before a connection. With
``allow_private=True`` the loopback forms do reach ``internal``: the guard's decision, not
the test's plumbing, is what stopped them.

Names resolve through ``FakeDNS``, the guard's injectable resolver (the tests may not resolve
real names: see ``conftest._loopback_only``).
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.errors import ImageError
from bot.http import CONTENT_MAX_REDIRECTS, DeadlineSession, make_content_session
from bot.media import download_image
from bot.model import Image
from bot.netguard import AddressGuard, AddressRefusedError, IPAddress
from tests.conftest import LOOPBACK_IMAGES, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.server import FakeServer, Response
from tests.fakes.x_api import FakeX

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class FakeDNS:
    """A resolver that knows a few test names, and records every question it is asked.
    A name may have several answers in turn (``answers``): a rebinding attacker's DNS."""

    def __init__(self, names: dict[str, list[list[str]]]) -> None:
        self.names = names
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        answers = self.names.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, f"no such test name {host!r}")
        return answers.pop(0) if len(answers) > 1 else answers[0]


def _dns() -> FakeDNS:
    return FakeDNS(
        {
            "evil.test": [["127.0.0.1"]],
            "evil6.test": [["::1"]],
            # A public address first, a loopback one after: every answer is checked.
            "mixed.test": [["1.1.1.1", "127.0.0.1"]],
            "metadata.test": [["169.254.169.254"]],
            "lan.test": [["192.168.1.20"]],
        }
    )


def _image_route(server: FakeServer) -> None:
    server.route("GET", r"/.*", lambda _request: Response(200, PNG, {"Content-Type": "image/png"}))


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with FakeServer() as server:
        _image_route(server)
        yield server


@pytest.fixture
def internal6() -> Iterator[FakeServer]:
    try:
        server = FakeServer(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    _image_route(server)
    yield server
    server.stop()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every address a socket connected to (or tried to), in order. It wraps conftest's
    loopback-only rule, which still applies."""
    seen: list[tuple[Any, ...]] = []
    loopback_only = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        seen.append(tuple(address[:2]))
        loopback_only(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def _session(guard: AddressGuard) -> DeadlineSession:
    return make_content_session(
        user_agent="feedrelay-test", guard=guard, deadline=5.0, connect_timeout=1.0
    )


def _get(url: str, guard: AddressGuard) -> requests.Response:
    session = _session(guard)
    try:
        return session.get(url)
    finally:
        session.close()


# Each way of naming a loopback address, and what the refusal says.
LOOPBACK_FORMS = [
    ("http://127.0.0.1:{port}/a.png", "127.0.0.1 is a loopback address"),
    ("http://evil.test:{port}/a.png", "evil.test resolves to 127.0.0.1, a loopback address"),
    ("http://[::1]:{port6}/a.png", "::1 is a loopback address"),
    ("http://evil6.test:{port6}/a.png", "evil6.test resolves to ::1, a loopback address"),
    (
        "http://[::ffff:127.0.0.1]:{port}/a.png",
        "::ffff:127.0.0.1 carries 127.0.0.1, a loopback address",
    ),
    ("http://2130706433:{port}/a.png", "2130706433 is 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1:{port}/a.png", "0177.0.0.1 is 127.0.0.1, a loopback address"),
    ("http://0x7f.1:{port}/a.png", "0x7f.1 is 127.0.0.1, a loopback address"),
    ("http://127.1:{port}/a.png", "127.1 is 127.0.0.1, a loopback address"),
    ("http://0x7f000001:{port}/a.png", "0x7f000001 is 127.0.0.1, a loopback address"),
]

# Addresses inside a network (never reachable from the tests: refused or not, nothing may
# connect to them).
OTHER_NON_GLOBAL = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    (
        "http://metadata.test/latest/meta-data/",
        "metadata.test resolves to 169.254.169.254, a link-local address",
    ),
    ("http://10.0.0.5/a.png", "10.0.0.5 is a private address"),
    ("http://172.16.3.4/a.png", "172.16.3.4 is a private address"),
    ("http://192.168.1.1/a.png", "192.168.1.1 is a private address"),
    ("http://lan.test/a.png", "lan.test resolves to 192.168.1.20, a private address"),
    ("http://100.64.0.1/a.png", "100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("http://[fe80::1]/a.png", "fe80::1 is a link-local address"),
    ("http://[fd00::5]/a.png", "fd00::5 is a private address"),
    ("http://[2002:a00:5::]/a.png", "2002:a00:5:: carries 10.0.0.5, a private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe carries 169.254.169.254, a link-local"),
    ("http://192.0.2.7/a.png", "192.0.2.7 is a special-purpose address, not a global one"),
]

# Never a web server's address: refused even with allow_private.
NEVER = [
    ("http://0.0.0.0:{port}/a.png", "0.0.0.0 is the unspecified address"),
    ("http://[::]:{port}/a.png", ":: is the unspecified address"),
    ("http://0:{port}/a.png", "0 is 0.0.0.0, the unspecified address"),
    ("http://224.0.0.1/a.png", "224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/a.png", "ff02::1 is a multicast address"),
    ("http://255.255.255.255/a.png", "255.255.255.255 is a reserved address"),
    ("http://240.0.0.1/a.png", "240.0.0.1 is a reserved address"),
    ("http://999.1.1.1/a.png", "999.1.1.1 is not a valid IPv4 address"),
    ("http://1.2.3.4.5/a.png", "1.2.3.4.5 is not a valid IPv4 address"),
]


def _url(template: str, internal: FakeServer, internal6: FakeServer) -> str:
    return template.format(port=internal.port, port6=internal6.port)


@pytest.mark.parametrize(
    ("template", "reason"),
    [*LOOPBACK_FORMS, ("http://mixed.test:{port}/a.png", "mixed.test resolves to 127.0.0.1"),
     *OTHER_NON_GLOBAL, *NEVER],
)  # fmt: skip
def test_refused_by_default_before_any_connection(
    template: str,
    reason: str,
    internal: FakeServer,
    internal6: FakeServer,
    connects: list[tuple[Any, ...]],
) -> None:
    url = _url(template, internal, internal6)
    with pytest.raises(AddressRefusedError, match=re.escape(reason)) as refused:
        _get(url, AddressGuard(resolver=_dns()))
    assert refused.value.request is not None and refused.value.request.url == url
    assert connects == []
    assert internal.requests == [] and internal6.requests == []


@pytest.mark.parametrize(("template", "reason"), LOOPBACK_FORMS)
def test_allow_private_reaches_loopback_in_every_form(
    template: str,
    reason: str,
    internal: FakeServer,
    internal6: FakeServer,
    connects: list[tuple[Any, ...]],
) -> None:
    response = _get(
        _url(template, internal, internal6), AddressGuard(resolver=_dns(), allow_private=True)
    )
    assert response.status_code == 200 and response.content == PNG
    assert len(internal.requests) + len(internal6.requests) == 1
    # It connected to the address it checked, and only there.
    server = internal6 if internal6.requests else internal
    assert connects == [(server.host, server.port)]


@pytest.mark.parametrize(("template", "reason"), NEVER)
def test_allow_private_still_refuses_what_no_server_has(
    template: str,
    reason: str,
    internal: FakeServer,
    internal6: FakeServer,
    connects: list[tuple[Any, ...]],
) -> None:
    guard = AddressGuard(resolver=_dns(), allow_private=True)
    with pytest.raises(AddressRefusedError, match=re.escape(reason)) as refused:
        _get(_url(template, internal, internal6), guard)
    assert not refused.value.liftable
    assert connects == [] and internal.requests == []


def test_a_name_is_resolved_by_the_system_too(
    internal: FakeServer, connects: list[tuple[Any, ...]]
) -> None:
    # The default resolver (getaddrinfo; conftest lets it resolve "localhost" only).
    with pytest.raises(AddressRefusedError, match=r"localhost resolves to \S+, a loopback"):
        _get(f"http://localhost:{internal.port}/a.png", AddressGuard())
    assert connects == [] and internal.requests == []


# -- redirects ---------------------------------------------------------------------------


class PublicForThisTest(AddressGuard):
    """Judges every address as the real guard does, except one loopback server that stands
    for a public web server (the tests have no other): so that it can redirect."""

    def __init__(self, public: FakeServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.public = public

    def refusal(self, address: IPAddress, port: int) -> str | None:
        if str(address) == "127.0.0.1" and port == self.public.port:
            return None
        return super().refusal(address, port)


@pytest.fixture
def public() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def _dns_with_public() -> FakeDNS:
    dns = _dns()
    dns.names["public.test"] = [["127.0.0.1"]]
    return dns


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:{port}/a.png", "127.0.0.1 is a loopback address"),
        ("http://evil.test:{port}/a.png", "evil.test resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433:{port}/a.png", "2130706433 is 127.0.0.1, a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ],
)
def test_a_redirect_to_a_refused_address_is_refused(
    location: str,
    reason: str,
    public: FakeServer,
    internal: FakeServer,
    connects: list[tuple[Any, ...]],
) -> None:
    target = location.format(port=internal.port)
    public.route("GET", "/pic.png", lambda _r: Response(302, b"", {"Location": target}))
    guard = PublicForThisTest(public, resolver=_dns_with_public())
    with pytest.raises(AddressRefusedError, match=re.escape(reason)) as refused:
        _get(f"http://public.test:{public.port}/pic.png", guard)
    # The hop was refused, before connecting: only the public server was reached.
    assert refused.value.request is not None and refused.value.request.url == target
    assert [r.path for r in public.requests] == ["/pic.png"]
    assert internal.requests == []
    assert connects == [("127.0.0.1", public.port)]


def test_a_refused_redirect_is_named_in_the_image_error(
    public: FakeServer, internal: FakeServer
) -> None:
    target = f"http://127.0.0.1:{internal.port}/a.png"
    public.route("GET", "/pic.png", lambda _r: Response(301, b"", {"Location": target}))
    session = _session(PublicForThisTest(public, resolver=_dns_with_public()))
    url = f"http://public.test:{public.port}/pic.png"
    with pytest.raises(ImageError) as refused:
        download_image(session, Image(url=url), max_bytes=1000)
    session.close()
    assert str(refused.value) == (
        f"image {url} refused: redirected to {target}: 127.0.0.1 is a loopback address"
        " (set [bot] allow_private_images = true for a blog on your network)"
    )
    assert internal.requests == []


def test_with_allow_private_a_redirect_to_loopback_is_followed(
    public: FakeServer, internal: FakeServer
) -> None:
    target = f"http://evil.test:{internal.port}/a.png"
    public.route("GET", "/pic.png", lambda _r: Response(302, b"", {"Location": target}))
    guard = PublicForThisTest(public, resolver=_dns_with_public(), allow_private=True)
    response = _get(f"http://public.test:{public.port}/pic.png", guard)
    assert response.content == PNG
    assert [r.url for r in response.history] == [f"http://public.test:{public.port}/pic.png"]
    assert len(internal.requests) == 1


def test_redirects_are_capped(public: FakeServer) -> None:
    public.route("GET", "/loop", lambda _r: Response(302, b"", {"Location": "/loop"}))
    guard = PublicForThisTest(public, resolver=_dns_with_public())
    with pytest.raises(requests.TooManyRedirects):
        _get(f"http://public.test:{public.port}/loop", guard)
    assert len(public.requests) == CONTENT_MAX_REDIRECTS + 1


# -- one answer, one connection ------------------------------------------------------------


def test_the_connection_goes_to_the_address_that_was_checked(
    public: FakeServer, connects: list[tuple[Any, ...]]
) -> None:
    # A rebinding DNS: the first answer passes the check, the next would be inside. The
    # name is resolved once, and that answer is where the connection goes.
    _image_route(public)
    dns = _dns()
    dns.names["rebind.test"] = [["127.0.0.1"], ["10.0.0.5"]]
    response = _get(
        f"http://rebind.test:{public.port}/a.png", PublicForThisTest(public, resolver=dns)
    )
    assert response.content == PNG
    assert dns.asked == ["rebind.test"]
    assert connects == [("127.0.0.1", public.port)]


def test_no_proxy_from_the_environment(
    public: FakeServer, internal: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect to any address on our behalf: content never goes through one.
    _image_route(public)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, internal.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    guard = PublicForThisTest(public, resolver=_dns_with_public())
    assert _get(f"http://public.test:{public.port}/a.png", guard).content == PNG
    assert len(public.requests) == 1 and internal.requests == []
    session = _session(guard)
    with pytest.raises(ValueError, match="never fetched through a proxy"):
        session.get(f"http://public.test:{public.port}/a.png", proxies={"http": internal.url})
    session.close()
    assert internal.requests == []


# -- https: the connection goes to the checked address, TLS still checks the name ---------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``secure.test`` (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=secure.test", "-addext", "subjectAltName=DNS:secure.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_checks_the_certificate_against_the_name(
    certificate: tuple[Path, Path], connects: list[tuple[Any, ...]]
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)  # type: ignore[assignment,misc]
    with FakeServer(tls=context) as server:
        _image_route(server)
        port = server.port
        dns = _dns()
        dns.names["secure.test"] = [["127.0.0.1"]]
        dns.names["other.test"] = [["127.0.0.1"]]
        session = _session(AddressGuard(resolver=dns, allow_private=True))
        session.verify = str(cert)
        response = session.get(f"https://secure.test:{port}/a.png")
        assert response.content == PNG
        # The same server under a name its certificate does not carry: refused by TLS.
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://other.test:{port}/a.png")
        session.close()
    assert names[:2] == ["secure.test", "other.test"]
    assert connects == [("127.0.0.1", port)] * 2
    assert len(server.requests) == 1


# -- a feed's next pages -------------------------------------------------------------------


def _run_once(path: Path, clock: Clock) -> None:
    with open_app(path, clock) as app:
        app.poll_due_feeds(everything=True)
        app.dispatch_due()


@pytest.mark.parametrize("allow_private", [False, True])
def test_a_next_page_on_another_site_goes_through_the_guard(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    allow_private: bool,
) -> None:
    # The feed's rel="next" names a server inside the network (another loopback origin).
    # Pages on the feed's own site are the operator's (tests/test_pipeline.py catches up
    # from them); a page elsewhere is only named by the feed's content.
    blog.page_size = 3
    with FakeBlog() as inside:
        blog.next_base = elsewhere = inside.feed_url
        for title in ("Old one", "Old two", "Old three"):
            blog.add_entry(title)
        path = write_config(
            tmp_path,
            feed_table("blog", blog.feed_url, ["x"]),
            x_target(x_api.url),
            bot=LOOPBACK_IMAGES if allow_private else "",
        )
        _run_once(path, clock)
        for number in range(1, 6):
            blog.add_entry(f"Missed {number}")
        clock.advance(minutes=11)
        _run_once(path, clock)
    if allow_private:
        assert len(inside.feed_fetches()) == 1
    else:
        assert inside.requests == []
        assert (
            f"feed blog: catching up stopped at {elsewhere}?start-index=4&max-results=3:"
            f" feed blog: cannot fetch {elsewhere}?start-index=4&max-results=3:"
            " refused: 127.0.0.1 is a loopback address"
        ) in caplog.text
    # The first page's entries go out either way (the page inside lists none).
    posted = [tweet["text"].split(" http")[0] for tweet in x_api.tweets]
    assert posted == ["Missed 3", "Missed 4", "Missed 5"]


def test_a_next_page_on_this_machine_is_not_read(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # A feed on the web names a file here as its next page: FeedRelay reads feeds from
    # files, but only those the operator configured.
    local = tmp_path / "private-feed.xml"
    with FakeBlog() as other:
        other.add_entry("Read from this machine's disk")
        local.write_bytes(other.body())
    blog.page_size = 3
    blog.next_base = f"file://localhost{local}"  # a form feedparser keeps as it is
    for title in ("Old one", "Old two", "Old three"):
        blog.add_entry(title)
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    _run_once(path, clock)
    for number in range(1, 6):
        blog.add_entry(f"Missed {number}")
    clock.advance(minutes=11)
    _run_once(path, clock)
    posted = [tweet["text"].split(" http")[0] for tweet in x_api.tweets]
    assert posted == ["Missed 3", "Missed 4", "Missed 5"]
    assert f"not following its next page file://localhost{local}?start-index=4" in caplog.text
    assert "caught up" not in caplog.text  # the file was not read
