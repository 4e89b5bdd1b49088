"""One way to build a big store for the benchmarks, on SQLite or on PostgreSQL.

A ``StoreSpec`` describes the rows once: how many entries, the targets (platform, schedule,
a pause, extra config lines), the mix of delivery states drawn for every (entry, target),
and backlogs of exact size (the newest entries' deliveries to a target given one state).
``build_sqlite`` and ``build_postgres`` write the same rows from it:

* the schema through ``bot.store.open_store`` (our migrations), then
* SQLite: SQLAlchemy Core executemany in batches of ``BATCH`` entries;
  PostgreSQL: psycopg ``COPY ... FROM STDIN``, the id sequences set, ``VACUUM ANALYZE``
  (autovacuum would analyse such a load within a minute; FeedRelay never runs it), and
* ``open_store`` once more, to prove the store opens cleanly;

with the config file (``feedrelay.toml``) and a local feed file (``feed.xml``: the 23 newest
stored entries and 2 new ones) beside it. The rows are drawn from one seeded generator in
one order, so a spec gives the same store every time and on both engines.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bot.config import load_config
from bot.model import DeliveryState
from bot.store import open_store
from bot.store.schema import SCHEMA_VERSION

FEED = "blog"
FEED_ENTRIES = 25  # the local feed file: the 23 newest stored entries and 2 new ones
NEW_IN_FEED = 2
BATCH = 50_000
SEED = 20261127
LABELS = ["Gardening", "Raspberry Pi", "Rust", "Compost", "Tomatoes", "Weather", "C++"]
# (state, share of the deliveries): ~95% posted, the rest spread over the other states.
STATES: tuple[tuple[DeliveryState, float], ...] = (
    (DeliveryState.POSTED, 0.950),
    (DeliveryState.QUEUED, 0.004),
    (DeliveryState.RETRY, 0.004),
    (DeliveryState.FAILED, 0.015),
    (DeliveryState.UNKNOWN, 0.002),
    (DeliveryState.HELD, 0.015),
    (DeliveryState.SKIPPED, 0.010),
)
ENTRY_COLUMNS = (
    "id",
    "feed",
    "entry_key",
    "link",
    "title",
    "content_hash",
    "published_at",
    "first_seen_at",
    "data",
)
DELIVERY_COLUMNS = (
    "id",
    "entry_id",
    "target",
    "repost",
    "platform",
    "state",
    "attempts",
    "due_at",
    "post",
    "remote_id",
    "remote_url",
    "error",
    "created_at",
    "updated_at",
    "sent_at",
    "claimed_by",
    "lease_until",
    "held_for",
    "manual",
    "first_try_at",
)


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """A target of the config and of the rows. ``settings``: more ``key = value`` lines
    (TOML values as written) that replace the platform's defaults here (``api_base``, the
    credentials' variables, ``max_per_day``...). ``paused_for``: the target is paused by
    its operator until now + ``paused_for`` (negative: a pause that ended that long ago)."""

    name: str
    platform: str
    min_interval: str = "5m"
    settings: Mapping[str, str] = field(default_factory=dict)
    paused_for: timedelta | None = None
    pause_reason: str = "paused by the operator"


@dataclass(frozen=True, kw_only=True)
class Backlog:
    """``count`` deliveries to ``target`` in ``state``: those of the newest entries that no
    earlier backlog of the spec took (a backlog is what piled up most recently). Queued
    rows are due since their entry was seen; unknown rows were tried once (``first_try_at``)
    and are due for a look-up."""

    target: str
    state: DeliveryState
    count: int


@dataclass(frozen=True, kw_only=True)
class StoreSpec:
    entries: int
    targets: tuple[TargetSpec, ...]
    states: tuple[tuple[DeliveryState, float], ...] = STATES
    backlogs: tuple[Backlog, ...] = ()
    seed: int = SEED
    # The stored entries that the feed file shows again keep the content hash a poll
    # computes for them (else each reads as edited, and a poll re-renders its unsent posts).
    feed_unedited: bool = False
    # A third of the posts show a picture (on blogger.googleusercontent.com); a spec for a
    # real run turns them off, since sending one would fetch it from there.
    images: bool = True

    @property
    def deliveries(self) -> int:
        return self.entries * len(self.targets)

    def describe(self) -> str:
        """A stable description, to tell whether a cached store was built from this spec."""
        return json.dumps(
            {
                "entries": self.entries,
                "targets": [
                    [t.name, t.platform, t.min_interval, dict(t.settings), str(t.paused_for)]
                    for t in self.targets
                ],
                "states": [[s.value, share] for s, share in self.states],
                "backlogs": [[b.target, b.state.value, b.count] for b in self.backlogs],
                "seed": self.seed,
                "feed_unedited": self.feed_unedited,
                "images": self.images,
            }
        )


# The store of bench_store.py and bench_postgres.py's status part: four targets with the
# credentials' variables unset (status, history and dry runs need none).
FOUR_TARGETS = (
    TargetSpec(name="x-main", platform="twitter", min_interval="5m"),
    TargetSpec(name="x-alt", platform="twitter", min_interval="5m"),
    TargetSpec(name="reddit", platform="reddit", min_interval="10m"),
    TargetSpec(name="tumblr", platform="tumblr", min_interval="5m"),
)


def status_spec(entries: int) -> StoreSpec:
    return StoreSpec(entries=entries, targets=FOUR_TARGETS)


# -- what the rows hold ----------------------------------------------------------------
def entry_key(n: int) -> str:
    return f"tag:blogger.com,1999:blog-4242.post-{1_000_000_000 + n}"


def entry_link(n: int) -> str:
    return f"https://allotment.example.blogspot.com/2026/post-{n}-tomatoes-and-blight.html"


def entry_title(n: int) -> str:
    return f"Post {n}: tomatoes, blight and a Raspberry Pi in the greenhouse"


def post_json(n: int, platform_name: str, labels: list[str], *, image: bool = True) -> str:
    """A stored post as ``Post.to_dict`` writes it, about 300 bytes."""
    title, link = entry_title(n), entry_link(n)
    tags = [label.replace(" ", "") for label in labels]
    text = ""
    if platform_name == "twitter":
        text = f"{title} {link} " + " ".join(f"#{t}" for t in tags)
    elif platform_name == "tumblr":
        text = "Blight arrived early this year; what we did about it, and what the sensors saw."
    post = {
        "text": text,
        "title": title if platform_name != "twitter" else "",
        "link": link if platform_name != "twitter" else "",
        "body": "",
        "description": "",
        "tags": tags if platform_name == "tumblr" else [],
        "image": {
            "url": f"https://blogger.googleusercontent.com/img/b/R29v/s1600/p{n}.jpg",
            "alt": "",
        }
        if image and n % 3 == 0
        else None,
        "slug": "",
    }
    return json.dumps(post)


def entry_json(n: int, published: datetime, labels: list[str]) -> str:
    """An entry as ``Entry.to_dict`` writes it (a summary, not the whole post)."""
    summary = (
        f"<p>Entry {n}. Blight arrived early this year; what we did about it, which "
        "varieties held up, and what the greenhouse sensors saw overnight.</p>"
    )
    return json.dumps(
        {
            "feed": FEED,
            "key": entry_key(n),
            "title": entry_title(n),
            "link": entry_link(n),
            "content_html": summary * 3,
            "summary_html": summary,
            "labels": labels,
            "author": "Fieldnotes",
            "feed_title": "Allotment fieldnotes",
            "published_at": published.isoformat(),
            "updated_at": published.isoformat(),
            "images": [],
        }
    )


def _backlog_states(spec: StoreSpec) -> dict[tuple[int, str], DeliveryState]:
    """(entry number, target) -> the backlog state that replaces the drawn one."""
    taken: dict[str, int] = {}  # per target: how many of the newest entries are taken
    states: dict[tuple[int, str], DeliveryState] = {}
    for backlog in spec.backlogs:
        first = taken.get(backlog.target, 0)
        for k in range(first, first + backlog.count):
            states[(spec.entries - 1 - k, backlog.target)] = backlog.state
        taken[backlog.target] = first + backlog.count
    return states


def rows(
    spec: StoreSpec, now: datetime, hashes: Mapping[str, str] | None = None
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each entry's row and its deliveries' rows, in id order (datetimes aware, UTC).
    ``hashes``: content hashes by entry key, for the entries that have their own."""
    hashes = hashes or {}
    rng = random.Random(spec.seed)
    weights = [share for _, share in spec.states]
    states = [state for state, _ in spec.states]
    backlog = _backlog_states(spec)
    year = timedelta(days=365)
    start = now - year
    step = year / max(spec.entries, 1)
    delivery_id = 0
    for n in range(spec.entries):
        published = start + step * n
        seen = published + timedelta(minutes=rng.randint(1, 10))
        labels = LABELS[n % 4 : n % 4 + 3]
        entry = {
            "id": n + 1,
            "feed": FEED,
            "entry_key": entry_key(n),
            "link": entry_link(n),
            "title": entry_title(n),
            "content_hash": hashes.get(entry_key(n), f"{n:064x}"),
            "published_at": published,
            "first_seen_at": seen,
            "data": entry_json(n, published, labels),
        }
        out = []
        for target in spec.targets:
            delivery_id += 1
            state = rng.choices(states, weights)[0]
            updated = seen + timedelta(minutes=rng.randint(1, 90))
            due = seen
            if state is DeliveryState.QUEUED:
                due = now + timedelta(minutes=rng.randint(-60, 7 * 24 * 60))
            elif state is DeliveryState.RETRY:
                due = now + timedelta(minutes=rng.randint(-30, 24 * 60))
            elif state is DeliveryState.UNKNOWN:
                due = updated
            posted = state is DeliveryState.POSTED
            attempts = 1 if posted else rng.randint(0, 8)
            first_try = None
            override = backlog.get((n, target.name))
            if override is not None:
                state, posted = override, False
                due = seen if override is DeliveryState.QUEUED else updated
                attempts = 0 if override is DeliveryState.QUEUED else 1
                first_try = updated if override is DeliveryState.UNKNOWN else None
            out.append(
                {
                    "id": delivery_id,
                    "entry_id": n + 1,
                    "target": target.name,
                    "repost": 0,
                    "platform": target.platform,
                    "state": state.value,
                    "attempts": attempts,
                    "due_at": due,
                    "post": post_json(n, target.platform, labels, image=spec.images),
                    "remote_id": f"{1_800_000_000_000 + delivery_id}" if posted else None,
                    "remote_url": f"https://x.com/i/status/{delivery_id}" if posted else None,
                    "error": _error(state, override is not None),
                    "created_at": seen,
                    "updated_at": updated,
                    "sent_at": updated if posted else None,
                    "claimed_by": None,
                    "lease_until": None,
                    "held_for": None,
                    "manual": False,
                    "first_try_at": first_try,
                }
            )
        yield entry, out


def _error(state: DeliveryState, backlog: bool) -> str | None:
    if state is DeliveryState.POSTED or (backlog and state is DeliveryState.QUEUED):
        return None
    if backlog and state is DeliveryState.UNKNOWN:
        return "timed out waiting for the platform's answer"
    return f"{state.value}: HTTP 503 from the API"


# -- the files beside the store --------------------------------------------------------
def write_config(directory: Path, spec: StoreSpec, database: str) -> Path:
    lines = [
        "# Written by benchmarks/store_builder.py; credentials come from the environment.",
        "[bot]",
        f"database = {json.dumps(database)}",
        'poll_interval = "10m"',
        "",
        f"[feeds.{FEED}]",
        'url = "feed.xml"',
        f"targets = {json.dumps([t.name for t in spec.targets])}",
        "",
    ]
    for target in spec.targets:
        settings = {"platform": json.dumps(target.platform)}
        settings["min_interval"] = json.dumps(target.min_interval)
        settings.update(_platform_settings(target))
        settings.update(target.settings)
        lines.append(f'[targets."{target.name}"]')
        lines += [f"{key} = {value}" for key, value in settings.items()]
        lines.append("")
    path = directory / "feedrelay.toml"
    path.write_text("\n".join(lines))
    return path


def _platform_settings(target: TargetSpec) -> dict[str, str]:
    prefix = target.name.upper().replace("-", "_")
    if target.platform == "twitter":
        return {
            "template": '"{title} {url} {hashtags}"',
            "consumer_key": f'"${{{prefix}_CONSUMER_KEY}}"',
            "consumer_secret": f'"${{{prefix}_CONSUMER_SECRET}}"',
            "access_token": f'"${{{prefix}_ACCESS_TOKEN}}"',
            "access_token_secret": f'"${{{prefix}_ACCESS_TOKEN_SECRET}}"',
        }
    if target.platform == "reddit":
        return {
            "subreddit": '"allotmentnotes"',
            "kind": '"link"',
            "client_id": '"${REDDIT_CLIENT_ID}"',
            "client_secret": '"${REDDIT_CLIENT_SECRET}"',
            "username": '"allotment_bot"',
            "password": '"${REDDIT_PASSWORD}"',
        }
    if target.platform == "tumblr":
        return {
            "blog": '"fieldnotes-allotment"',
            "consumer_key": '"${TUMBLR_CONSUMER_KEY}"',
            "consumer_secret": '"${TUMBLR_CONSUMER_SECRET}"',
            "oauth_token": '"${TUMBLR_OAUTH_TOKEN}"',
            "oauth_token_secret": '"${TUMBLR_OAUTH_TOKEN_SECRET}"',
        }
    return {}


def write_feed(directory: Path, stored: int, now: datetime) -> None:
    """25 entries: the newest stored ones, then NEW_IN_FEED the store has not seen."""
    first = max(0, stored - (FEED_ENTRIES - NEW_IN_FEED))
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        "<title type='text'>Allotment fieldnotes</title>"
    ]
    for n in range(first, first + FEED_ENTRIES):
        when = (now - timedelta(minutes=5 * (first + FEED_ENTRIES - n))).isoformat()
        labels = "".join(
            f"<category scheme='http://www.blogger.com/atom/ns#' term='{escape(label)}'/>"
            for label in LABELS[n % 4 : n % 4 + 3]
        )
        html = "<p>" + "Blight arrived early; what we did about it. " * 12 + "</p>"
        parts.append(
            f"<entry><id>{entry_key(n)}</id><published>{when}</published>"
            f"<updated>{when}</updated>{labels}<title type='text'>{escape(entry_title(n))}"
            f"</title><content type='html'>{escape(html)}</content>"
            f"<link rel='alternate' type='text/html' href='{entry_link(n)}'/></entry>"
        )
    parts.append("</feed>")
    (directory / "feed.xml").write_text("".join(parts))


def feed_row(config_file: Path, now: datetime) -> dict[str, Any]:
    return {
        "name": FEED,
        "url": load_config(config_file, allow_missing_secrets=True).feed_url(FEED),
        "baseline_done": True,
        "next_check_at": now + timedelta(minutes=2),
        "last_checked_at": now - timedelta(minutes=8),
        "error_count": 0,
        "gone": False,
    }


def target_rows(spec: StoreSpec, now: datetime) -> list[dict[str, Any]]:
    out = []
    for target in spec.targets:
        row: dict[str, Any] = {
            "target": target.name,
            "last_sent_at": now - timedelta(hours=2),
            "sent_day": (now - timedelta(hours=2)).date().isoformat(),
            "sent_today": 3,
            "spent_usd": 0.0,
            "paused_until": None,
            "pause_reason": None,
        }
        if target.paused_for is not None:
            row["paused_until"] = now + target.paused_for
            row["pause_reason"] = target.pause_reason
        out.append(row)
    return out


@dataclass(frozen=True)
class Built:
    name: str
    directory: Path
    config: Path
    database: Path  # SQLite's file (unused on PostgreSQL)
    entries: int
    deliveries: int
    url: str = ""  # PostgreSQL's URL


def _prepare(
    directory: Path, spec: StoreSpec, database: str, now: datetime
) -> tuple[Path, dict[str, str]]:
    """The config and feed files; the content hashes a poll of that feed computes, by
    entry key, where the spec wants the stored entries to match them."""
    from bot.feeds import Fetched, content_hash, parse

    directory.mkdir(parents=True, exist_ok=True)
    config_file = write_config(directory, spec, database)
    write_feed(directory, spec.entries, now)
    if not spec.feed_unedited:
        return config_file, {}
    url = load_config(config_file, allow_missing_secrets=True).feed_url(FEED)
    parsed = parse(FEED, Fetched(body=(directory / "feed.xml").read_bytes(), url=url))
    return config_file, {entry.key: content_hash(entry) for entry in parsed.entries}


# -- SQLite ----------------------------------------------------------------------------
def build_sqlite(
    name: str, directory: Path, spec: StoreSpec, *, rebuild: bool, say: Any = print
) -> Built:
    """The store in ``directory`` (cached: built again only if ``rebuild``, or the spec or
    the schema's version changed)."""
    import shutil

    import sqlalchemy as sa

    from bot.store.schema import deliveries, entries, feeds, target_state

    done = directory / "built.json"
    database = directory / "store.sqlite"
    built = Built(
        name, directory, directory / "feedrelay.toml", database, spec.entries, spec.deliveries
    )
    if done.exists() and not rebuild:
        info = json.loads(done.read_text())
        if info.get("spec") == spec.describe() and info.get("schema") == SCHEMA_VERSION:
            return built
    if directory.exists():
        shutil.rmtree(directory)
    now = datetime.now(UTC).replace(microsecond=0)
    config_file, hashes = _prepare(directory, spec, "store.sqlite", now)
    began = time.perf_counter()
    open_store(database).close()  # our schema, through our migrations

    engine = sa.create_engine(f"sqlite:///{database}")

    @sa.event.listens_for(engine, "connect")
    def _fast(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")  # a benchmark fixture, rebuilt at will
        cursor.execute("PRAGMA cache_size=-400000")
        cursor.close()

    with engine.begin() as c:
        c.execute(feeds.insert().values(**feed_row(config_file, now)))
        for row in target_rows(spec, now):
            c.execute(target_state.insert().values(**row))
    entry_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        with engine.begin() as c:
            c.execute(entries.insert(), entry_rows)
            c.execute(deliveries.insert(), delivery_rows)
        entry_rows.clear()
        delivery_rows.clear()
        say(f"  {name}: {written:,} deliveries ({time.perf_counter() - began:.0f} s)")

    for entry, out in rows(spec, now, hashes):
        entry_rows.append(entry)
        delivery_rows += out
        written += len(out)
        if len(entry_rows) == BATCH:
            flush()
    if entry_rows:
        flush()
    engine.dispose()
    open_store(database).close()  # and opens cleanly as a store
    seconds = time.perf_counter() - began
    size = database.stat().st_size
    done.write_text(
        json.dumps(
            {
                "spec": spec.describe(),
                "schema": SCHEMA_VERSION,
                "built_at": now.isoformat(),
                "built_s": seconds,
                "bytes": size,
            }
        )
    )
    say(f"  {name}: built in {seconds:.1f} s, {size / 1e6:.0f} MB")
    return built


# -- PostgreSQL ------------------------------------------------------------------------
def _naive(value: Any) -> Any:
    """A datetime as UTCDateTime stores it (naive UTC); anything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def libpq(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as psycopg takes it."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def build_postgres(
    name: str, directory: Path, spec: StoreSpec, url: str, *, say: Any = print
) -> tuple[Built, dict[str, float]]:
    """The store in the (new, empty) database at ``url``; the config in ``directory``."""
    import psycopg

    now = datetime.now(UTC).replace(microsecond=0)
    config_file, hashes = _prepare(directory, spec, url, now)
    began = time.perf_counter()
    open_store(url).close()  # our schema, through our migrations
    with psycopg.connect(libpq(url)) as c:
        _insert(c, "feeds", feed_row(config_file, now))
        for row in target_rows(spec, now):
            _insert(c, "target_state", row)
        cur = c.cursor()
        # Entries first (the foreign key), then deliveries: two passes over the generator.
        with cur.copy(f"COPY entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy:
            for entry, _ in rows(spec, now, hashes):
                copy.write_row([_naive(entry[column]) for column in ENTRY_COLUMNS])
        say(f"  entries copied ({time.perf_counter() - began:.0f} s)")
        with cur.copy(f"COPY deliveries ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN") as copy:
            for _, out in rows(spec, now, hashes):
                for row in out:
                    copy.write_row([_naive(row[column]) for column in DELIVERY_COLUMNS])
        say(f"  deliveries copied ({time.perf_counter() - began:.0f} s)")
        for table in ("entries", "deliveries"):
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    copied = time.perf_counter() - began
    with psycopg.connect(libpq(url), autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
        size = int(c.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]
    open_store(url).close()  # and opens cleanly as a store
    seconds = time.perf_counter() - began
    say(
        f"  built {spec.deliveries:,} deliveries in {seconds:.1f} s ({copied:.1f} s to COPY),"
        f" {size / 1e6:.0f} MB"
    )
    built = Built(
        name,
        directory,
        config_file,
        directory / "unused.sqlite",
        spec.entries,
        spec.deliveries,
        url=url,
    )
    return built, {"copied_s": copied, "built_s": seconds, "bytes": size}


def _insert(connection: Any, table: str, row: Mapping[str, Any]) -> None:
    columns: Sequence[str] = list(row)
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
        [_naive(row[column]) for column in columns],
    )


# -- a private PostgreSQL server (pgserver, from the test extra) ---------------------------
class Postgres:
    """A private PostgreSQL server for this run, new databases on it, and its CPU."""

    def __init__(self, directory: Path) -> None:
        import os

        os.environ.setdefault("XDG_RUNTIME_DIR", str(directory / "runtime"))
        (directory / "runtime").mkdir(exist_ok=True)
        import pgserver  # after XDG_RUNTIME_DIR: it reads it when imported
        import psycopg

        self.server = pgserver.get_server(directory / "pgdata", cleanup_mode="stop")
        self.admin = self.server.get_uri()
        with psycopg.connect(self.admin) as c:
            self.version = str(c.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            self.settings = {
                name: str(c.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections")
            }

    def database(self, prefix: str, *, template: str | None = None) -> str:
        """A new database (a copy of ``template``'s where named), its SQLAlchemy URL."""
        import uuid

        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.admin.replace("/postgres?", f"/{name}?")

    def cpu(self) -> float:
        """User + sys seconds of the server so far: the postmaster, its live children
        (backends, checkpointer, WAL writer...) and the children it has reaped."""
        import psutil  # pgserver's dependency

        postmaster = psutil.Process(self.server.get_pid())
        times = postmaster.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in postmaster.children():
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:  # reaped meanwhile: counted in children_* next time
                continue
            total += child_times.user + child_times.system
        return total

    def close(self) -> None:
        self.server.cleanup()
