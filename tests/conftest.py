"""Shared fixtures: loopback fakes, a config writer and a controllable clock."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bot.app import App, make_app
from bot.config import Config, load_config
from bot.runners import process_scope
from bot.store import Runner, Store
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.tumblr_api import FakeTumblr
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks
from tests.platforms import tumblr as tumblr_hooks

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
# Every test of these folders is slow (processes, PostgreSQL, terminals), and so is every
# test on the PostgreSQL server: `pytest -m "not slow"` leaves them out of the inner loop.
# Other slow tests (long Hypothesis runs, big inputs) carry the mark themselves.
SLOW_FOLDERS = ("process",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses_postgres = "postgres_server" in getattr(item, "fixturenames", ())
        if Path(item.path).parent.name in SLOW_FOLDERS or uses_postgres:
            item.add_marker(pytest.mark.slow)
            # One worker runs them all, one after another (pytest-xdist's loadgroup): they
            # start processes and servers of their own, and they time what those do.
            item.add_marker(pytest.mark.xdist_group("processes"))


# CI explores the same examples on every run (a failure there is reproducible, never a
# roll of the dice); developers' runs keep finding new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

X_SECRETS = {
    "X_CONSUMER_KEY": "fake-consumer-key",
    "X_CONSUMER_SECRET": "ck-secret-5f0b1e77",
    "X_ACCESS_TOKEN": "at-1600000000000000001-9c41d2",
    "X_ACCESS_TOKEN_SECRET": "ats-secret-30aa7e91",
}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to loopback fakes only: any other address fails loudly, before a packet."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: object, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost", "127.0.0.1", "::1") and not _is_loopback(host):
            raise socket.gaierror(f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise OSError(f"tests may not connect to {address[0]!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


def _is_loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the user's config or secrets: FeedRelay's own variables, and every
    variable a registered platform's targets read (``ENV`` of ``tests/platforms``), or one
    named like them (``X_...``: the prefix before the first underscore)."""
    prefixes = {"FEEDRELAY_"} | {
        variable.split("_", 1)[0] + "_" for variable in _platform_variables()
    }
    for name in list(os.environ):
        if name.startswith(tuple(prefixes)):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _platform_variables() -> list[str]:
    from tests.platforms import hooks, registered

    return [variable for name in registered() for variable in hooks(name).ENV]


class Clock:
    def __init__(self) -> None:
        # Starts at the real time: the fakes compute rate-limit resets from the real clock.
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def blog() -> Iterator[FakeBlog]:
    with FakeBlog() as server:
        yield server


@pytest.fixture
def x_api(clock: Clock) -> Iterator[FakeX]:
    # X's clock is the test's: a post's created_at and a lookup's start_time agree.
    with FakeX(
        clock=lambda: clock().timestamp(),
        consumer_key=X_SECRETS["X_CONSUMER_KEY"],
        consumer_secret=X_SECRETS["X_CONSUMER_SECRET"],
        access_token=X_SECRETS["X_ACCESS_TOKEN"],
        access_token_secret=X_SECRETS["X_ACCESS_TOKEN_SECRET"],
    ) as server:
        yield server


def x_target(api_base: str, name: str = "x", **extra: str) -> str:
    lines = [
        f"[targets.{name}]",
        'platform = "twitter"',
        'consumer_key = "${X_CONSUMER_KEY}"',
        'consumer_secret = "${X_CONSUMER_SECRET}"',
        'access_token = "${X_ACCESS_TOKEN}"',
        'access_token_secret = "${X_ACCESS_TOKEN_SECRET}"',
        f'api_base = "{api_base}"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def feed_table(name: str, url: str, targets: list[str], backfill: int = 0) -> str:
    quoted = ", ".join(f'"{t}"' for t in targets)
    return f'[feeds.{name}]\nurl = "{url}"\ntargets = [{quoted}]\nbackfill = {backfill}\n'


# A [bot] line for tests whose blog serves its images from loopback, as every fake does:
# without it, FeedRelay refuses to fetch them (the address guard, bot/netguard.py).
LOOPBACK_IMAGES = "allow_private_images = true\n"


def write_config(directory: Path, *tables: str, bot: str = "") -> Path:
    """A config with ``tables``; ``bot``: more lines for its ``[bot]`` table."""
    path = directory / "feedrelay.toml"
    path.write_text(
        '[bot]\ndatabase = "state.sqlite"\npoll_interval = "10m"\n' + bot + "\n" + "\n".join(tables)
    )
    return path


def register_dead_runner(store: Store, runner_id: str, now: datetime) -> None:
    """A runner of this machine whose process has exited (as after ``kill -9``)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    store.register_runner(
        Runner(
            id=runner_id,
            pid=child.pid,
            host=socket.gethostname(),
            mode="daemon",
            started_at=now,
            heartbeat_at=now,
            scope=process_scope(),
        )
    )


def open_app(path: Path, clock: Clock, env: dict[str, str] | None = None, **kwargs: object) -> App:
    config: Config = load_config(path, environ=env if env is not None else X_SECRETS)
    return make_app(config, clock=clock, **kwargs)  # type: ignore[arg-type]


ENV = {
    **X_SECRETS,
    "REDDIT_CLIENT_ID": reddit_hooks.CLIENT_ID,
    "REDDIT_CLIENT_SECRET": reddit_hooks.CLIENT_SECRET,
    "REDDIT_PASSWORD": reddit_hooks.PASSWORD,
    "TUMBLR_CONSUMER_KEY": tumblr_hooks.CONSUMER_KEY,
    "TUMBLR_CONSUMER_SECRET": tumblr_hooks.CONSUMER_SECRET,
    "TUMBLR_OAUTH_TOKEN": tumblr_hooks.OAUTH_TOKEN,
    "TUMBLR_OAUTH_TOKEN_SECRET": tumblr_hooks.OAUTH_TOKEN_SECRET,
}


@pytest.fixture
def reddit_api() -> Iterator[FakeReddit]:
    fake = reddit_hooks.start_fake()
    yield fake
    fake.stop()


@pytest.fixture
def tumblr_api() -> Iterator[FakeTumblr]:
    fake = tumblr_hooks.start_fake()
    yield fake
    fake.stop()


def reddit_target(api_base: str, extra: str = "", name: str = "reddit") -> str:
    return f"""[targets.{name}]
platform = "reddit"
subreddit = "{reddit_hooks.SUBREDDIT}"
client_id = "${{REDDIT_CLIENT_ID}}"
client_secret = "${{REDDIT_CLIENT_SECRET}}"
username = "{reddit_hooks.USERNAME}"
password = "${{REDDIT_PASSWORD}}"
api_base = "{api_base}"
{extra}
"""


def tumblr_target(api_base: str, name: str = "tumblr") -> str:
    return f"""[targets.{name}]
platform = "tumblr"
blog = "{tumblr_hooks.BLOG}"
tags = ["from-feedrelay"]
consumer_key = "${{TUMBLR_CONSUMER_KEY}}"
consumer_secret = "${{TUMBLR_CONSUMER_SECRET}}"
oauth_token = "${{TUMBLR_OAUTH_TOKEN}}"
oauth_token_secret = "${{TUMBLR_OAUTH_TOKEN_SECRET}}"
api_base = "{api_base}"
"""


def three_platforms(
    tmp_path: Path,
    blog: FakeBlog,
    x: FakeX,
    reddit: FakeReddit,
    tumblr: FakeTumblr,
    reddit_extra: str = "",
    bot: str = "",
) -> Path:
    return write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "reddit", "tumblr"]),
        x_target(x.url),
        reddit_target(reddit.url, reddit_extra),
        tumblr_target(tumblr.url),
        bot=bot,
    )


# Modules that must load only when a configured target is opened.
PLATFORM_LIBRARIES = (
    "tweepy",
    "praw",
    "prawcore",
    "requests_oauthlib",
    "adapters.twitter.client",
    "adapters.reddit.client",
    "adapters.tumblr.client",
)


def modules_loaded_by(code: str, modules: tuple[str, ...] = PLATFORM_LIBRARIES) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private PostgreSQL server (the pgserver package's binaries), for this test run
    only, reached over a Unix socket in a temporary directory; its admin URL."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the test server, as a FeedRelay ``[bot] database`` URL."""
    import psycopg

    name = f"feedrelay_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.replace("/postgres?", f"/{name}?")
