"""Hand-run benchmark: ``status``, ``history`` and ``run --once --dry-run`` on a big store.

Run from the repository root (not collected by pytest):

    .venv/bin/python benchmarks/bench_store.py [--rebuild] [--runs 5] [--explain]

It builds (once, cached under /tmp/feedrelay-bench/) three stores with the same config:
empty (schema only), 1,000 deliveries and 1,000,000 deliveries (250,000 entries x 4
targets), each created by ``bot.store.open_store`` and then filled with SQLAlchemy Core
executemany in large batches. Then, for each store:

* in-process: the library calls after start-up (``App.status()``, the status JSON,
  ``App.history(limit=50)``, each store query ``status`` makes, and a whole dry run),
  best and median of ``--runs`` with time.perf_counter, and the peak of Python's own
  allocations under tracemalloc (one extra run; tracing never runs while timing);
* whole commands: ``python -m bot --config X ...`` as subprocesses, wall time with
  time.perf_counter and each child's peak RSS from os.wait4 (the child's own rusage),
  after one warm-up run; ``python -m bot --help`` is the start-up floor.

``--explain`` prints SQLite's EXPLAIN QUERY PLAN of every statement that ``status``,
``history --limit 50`` and the dry run send, with its time, on the biggest store.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import sqlalchemy as sa

from bot.app import make_app
from bot.config import load_config
from bot.model import DeliveryState
from bot.reports import ATTENTION_LIMIT, delivery_json, status_json
from bot.store import open_store
from bot.store.schema import deliveries, entries, feeds, target_state

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "feedrelay-bench"
FEED = "blog"
TARGETS = {  # name: (platform, min_interval)
    "x-main": ("twitter", "5m"),
    "x-alt": ("twitter", "5m"),
    "reddit": ("reddit", "10m"),
    "tumblr": ("tumblr", "5m"),
}
# (state, share of the deliveries): ~95% posted, the rest spread over the other states.
STATES = [
    (DeliveryState.POSTED, 0.950),
    (DeliveryState.QUEUED, 0.004),
    (DeliveryState.RETRY, 0.004),
    (DeliveryState.FAILED, 0.015),
    (DeliveryState.UNKNOWN, 0.002),
    (DeliveryState.HELD, 0.015),
    (DeliveryState.SKIPPED, 0.010),
]
FEED_ENTRIES = 25  # the local feed file: the 23 newest stored entries and 2 new ones
NEW_IN_FEED = 2
BATCH = 50_000
SIZES = {"empty": 0, "1k": 250, "1M": 250_000}  # entries; deliveries are 4x
LABELS = ["Gardening", "Raspberry Pi", "Rust", "Compost", "Tomatoes", "Weather", "C++"]


# -- building the stores ---------------------------------------------------------------
def entry_key(n: int) -> str:
    return f"tag:blogger.com,1999:blog-4242.post-{1_000_000_000 + n}"


def entry_link(n: int) -> str:
    return f"https://allotment.example.blogspot.com/2026/post-{n}-tomatoes-and-blight.html"


def entry_title(n: int) -> str:
    return f"Post {n}: tomatoes, blight and a Raspberry Pi in the greenhouse"


def post_json(n: int, platform_name: str, labels: list[str]) -> str:
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
        if n % 3 == 0
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


@dataclass(frozen=True)
class Built:
    name: str
    directory: Path
    config: Path
    database: Path
    entries: int
    deliveries: int


def write_config(directory: Path) -> Path:
    lines = [
        "# Written by benchmarks/bench_store.py; credentials come from the environment.",
        "[bot]",
        'database = "store.sqlite"',
        'poll_interval = "10m"',
        "",
        f"[feeds.{FEED}]",
        'url = "feed.xml"',
        f"targets = {json.dumps(list(TARGETS))}",
        "",
    ]
    for name, (platform_name, interval) in TARGETS.items():
        lines += [f'[targets."{name}"]', f'platform = "{platform_name}"']
        lines.append(f'min_interval = "{interval}"')
        prefix = name.upper().replace("-", "_")
        if platform_name == "twitter":
            lines += [
                'template = "{title} {url} {hashtags}"',
                f'consumer_key = "${{{prefix}_CONSUMER_KEY}}"',
                f'consumer_secret = "${{{prefix}_CONSUMER_SECRET}}"',
                f'access_token = "${{{prefix}_ACCESS_TOKEN}}"',
                f'access_token_secret = "${{{prefix}_ACCESS_TOKEN_SECRET}}"',
            ]
        elif platform_name == "reddit":
            lines += [
                'subreddit = "allotmentnotes"',
                'kind = "link"',
                'client_id = "${REDDIT_CLIENT_ID}"',
                'client_secret = "${REDDIT_CLIENT_SECRET}"',
                'username = "allotment_bot"',
                'password = "${REDDIT_PASSWORD}"',
            ]
        else:
            lines += [
                'blog = "fieldnotes-allotment"',
                'consumer_key = "${TUMBLR_CONSUMER_KEY}"',
                'consumer_secret = "${TUMBLR_CONSUMER_SECRET}"',
                'oauth_token = "${TUMBLR_OAUTH_TOKEN}"',
                'oauth_token_secret = "${TUMBLR_OAUTH_TOKEN_SECRET}"',
            ]
        lines.append("")
    path = directory / "feedrelay.toml"
    path.write_text("\n".join(lines))
    return path


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


def build(name: str, n_entries: int, *, rebuild: bool) -> Built:
    directory = CACHE / name
    done = directory / "built.json"
    database = directory / "store.sqlite"
    n_deliveries = n_entries * len(TARGETS)
    if done.exists() and not rebuild:
        info = json.loads(done.read_text())
        if info.get("entries") == n_entries:
            return Built(
                name, directory, directory / "feedrelay.toml", database, n_entries, n_deliveries
            )
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    now = datetime.now(UTC).replace(microsecond=0)
    config_file = write_config(directory)
    write_feed(directory, n_entries, now)
    began = time.perf_counter()
    open_store(database).close()  # our schema, through our migrations

    engine = sa.create_engine(f"sqlite:///{database}")

    @sa.event.listens_for(engine, "connect")
    def _fast(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")  # a benchmark fixture, rebuilt at will
        cursor.execute("PRAGMA cache_size=-400000")
        cursor.close()

    rng = random.Random(20261127)
    weights = [share for _, share in STATES]
    states = [state for state, _ in STATES]
    year = timedelta(days=365)
    start = now - year
    step = year / max(n_entries, 1)
    with engine.begin() as c:
        c.execute(
            feeds.insert().values(
                name=FEED,
                url=load_config(config_file, allow_missing_secrets=True).feed_url(FEED),
                baseline_done=True,
                next_check_at=now + timedelta(minutes=2),
                last_checked_at=now - timedelta(minutes=8),
                error_count=0,
                gone=False,
            )
        )
        for target in TARGETS:
            c.execute(
                target_state.insert().values(
                    target=target,
                    last_sent_at=now - timedelta(hours=2),
                    sent_day=(now - timedelta(hours=2)).date().isoformat(),
                    sent_today=3,
                )
            )
    delivery_id = 0
    for batch_start in range(0, n_entries, BATCH):
        entry_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for n in range(batch_start, min(batch_start + BATCH, n_entries)):
            published = start + step * n
            seen = published + timedelta(minutes=rng.randint(1, 10))
            labels = LABELS[n % 4 : n % 4 + 3]
            entry_rows.append(
                {
                    "id": n + 1,
                    "feed": FEED,
                    "entry_key": entry_key(n),
                    "link": entry_link(n),
                    "title": entry_title(n),
                    "content_hash": f"{n:064x}",
                    "published_at": published,
                    "first_seen_at": seen,
                    "data": entry_json(n, published, labels),
                }
            )
            for target, (platform_name, _) in TARGETS.items():
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
                delivery_rows.append(
                    {
                        "id": delivery_id,
                        "entry_id": n + 1,
                        "target": target,
                        "repost": 0,
                        "platform": platform_name,
                        "state": state.value,
                        "attempts": 1 if posted else rng.randint(0, 8),
                        "due_at": due,
                        "post": post_json(n, platform_name, labels),
                        "remote_id": f"{1_800_000_000_000 + delivery_id}" if posted else None,
                        "remote_url": f"https://x.com/i/status/{delivery_id}" if posted else None,
                        "error": None if posted else f"{state.value}: HTTP 503 from the API",
                        "created_at": seen,
                        "updated_at": updated,
                        "sent_at": updated if posted else None,
                        "claimed_by": None,
                        "lease_until": None,
                    }
                )
        with engine.begin() as c:
            c.execute(entries.insert(), entry_rows)
            c.execute(deliveries.insert(), delivery_rows)
        print(f"  {name}: {delivery_id:,} deliveries ({time.perf_counter() - began:.0f} s)")
    engine.dispose()
    open_store(database).close()  # and opens cleanly as a store
    seconds = time.perf_counter() - began
    size = database.stat().st_size
    done.write_text(json.dumps({"entries": n_entries, "built_s": seconds, "bytes": size}))
    print(f"  {name}: built in {seconds:.1f} s, {size / 1e6:.0f} MB")
    return Built(name, directory, config_file, database, n_entries, n_deliveries)


# -- measuring -------------------------------------------------------------------------
@dataclass
class Timing:
    best: float
    median: float
    worst: float
    peak_py: float | None = None  # bytes, tracemalloc
    peak_rss: float | None = None  # bytes, the child's own maximum RSS


def timed(func: Callable[[], Any], runs: int, *, trace: bool = True) -> Timing:
    func()  # warm-up: imports, the page cache
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    peak = None
    if trace:
        tracemalloc.start()
        func()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Timing(min(times), statistics.median(times), max(times), peak_py=peak)


def command(built: Built, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "--config", str(built.config), *args]


# A small interpreter starts each measured command and reports its wall time and peak RSS.
# The benchmark itself cannot: a child it starts is forked (vfork) from this big process, and
# Linux keeps the high-water RSS across exec, so every child would report this one's RSS.
LAUNCHER = """
import os, subprocess, sys, time
began = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - began
print(wall, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))
"""


def run_child(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in bytes and the exit status of one run of ``argv``."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    wall, rss, status = done.stdout.split()
    if int(status) != 0:
        print(f"    exit {status}: {' '.join(argv[3:])}\n{done.stderr}")
    return float(wall), int(rss), int(status)  # ru_maxrss is KiB on Linux


def timed_command(argv: list[str], runs: int) -> Timing:
    run_child(argv)  # warm-up
    results = [run_child(argv) for _ in range(runs)]
    walls = [wall for wall, _, _ in results]
    return Timing(
        min(walls),
        statistics.median(walls),
        max(walls),
        peak_rss=max(rss for _, rss, _ in results),
    )


def in_process(built: Built, runs: int) -> dict[str, Timing]:
    config = load_config(built.config, allow_missing_secrets=True)
    results: dict[str, Timing] = {}
    began = time.perf_counter()
    app = make_app(config)
    results["make_app (open + migrate check)"] = Timing(*(time.perf_counter() - began,) * 3)
    store = app.store
    try:
        results["App.status()"] = timed(app.status, runs)
        results["status JSON (status + json.dumps)"] = timed(
            lambda: json.dumps(status_json(app.status()), indent=2, ensure_ascii=False), runs
        )
        results["App.history(limit=50) + JSON"] = timed(
            lambda: json.dumps([delivery_json(d) for d in app.history(limit=50)], indent=2),
            runs,
        )
        results["  store.counts()"] = timed(store.counts, runs)
        results[f"  store.attention(limit={ATTENTION_LIMIT * 3})"] = timed(
            lambda: store.attention(limit=ATTENTION_LIMIT * 3), runs
        )
        results["  store.next_due()"] = timed(store.next_due, runs)
        results["  store.target_states()"] = timed(store.target_states, runs)
        results["  store.feed_states()"] = timed(store.feed_states, runs)
        results["  store.runners()"] = timed(store.runners, runs)
        results["  store.history(limit=50)"] = timed(lambda: store.history(limit=50), runs)
        results["  store.history(target=x-main, limit=50)"] = timed(
            lambda: store.history(target="x-main", limit=50), runs
        )
        results["  store.history(state=failed, limit=50)"] = timed(
            lambda: store.history(state="failed", limit=50), runs
        )
        results["  store.history(state=posted, limit=50)"] = timed(
            lambda: store.history(state="posted", limit=50), runs
        )
        results["  store.link_posted(x-main, newest link)"] = timed(
            lambda: store.link_posted("x-main", entry_link(max(built.entries - 1, 0))), runs
        )
    finally:
        app.close()

    def dry_run() -> None:
        with make_app(config, dry_run=True) as dry, dry.running("once"):
            dry.start_polling()
            dry.poll_due_feeds(everything=True)
            dry.dispatch_due()
            dry.pending()

    results["dry run (open, poll, dispatch, pending, close)"] = timed(dry_run, runs)
    return results


COMMANDS = [
    ("--help",),
    ("status",),
    ("status", "--json"),
    ("history", "--limit", "50"),
    ("history", "--json", "--limit", "50"),
    ("history", "--target", "x-main", "--limit", "50"),
    ("history", "--status", "posted", "--limit", "50"),
    ("run", "--once", "--dry-run"),
]


def whole_commands(built: Built, runs: int) -> dict[str, Timing]:
    return {" ".join(args): timed_command(command(built, *args), runs) for args in COMMANDS}


def explain(built: Built) -> None:
    """EXPLAIN QUERY PLAN and the time of every statement status/history/dry run send."""
    config = load_config(built.config, allow_missing_secrets=True)
    seen: list[tuple[str, Any, float]] = []

    def capture(app: Any, what: Callable[[Any], Any]) -> None:
        engine = app.store.engine
        started: dict[int, float] = {}

        @sa.event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            started[id(cursor)] = time.perf_counter()

        @sa.event.listens_for(engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            began = started.pop(id(cursor), time.perf_counter())
            seen.append((statement, params, time.perf_counter() - began))

        what(app)

    def show(title: str) -> None:
        print(f"\n== {title}")
        raw = sa.create_engine(f"sqlite:///{built.database}")
        with raw.connect() as c:
            for statement, params, seconds in seen:
                word = statement.lstrip().split(None, 1)[0].upper()
                if word not in ("SELECT", "UPDATE", "DELETE", "INSERT"):
                    continue
                if word == "SELECT":  # the driver runs a SELECT as its rows are fetched
                    began = time.perf_counter()
                    c.exec_driver_sql(statement, params).all()
                    seconds = time.perf_counter() - began
                text = " ".join(statement.split())
                text = re.sub(
                    r"SELECT (deliveries\.id, deliveries\.entry_id, )[^*]*? FROM",
                    r"SELECT \1... FROM",
                    text,
                )
                print(f"-- {seconds * 1000:8.2f} ms  {text[:400]}")
                plan = c.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
                for row in plan:
                    print(f"     {row[-1]}")
        raw.dispose()
        seen.clear()

    with make_app(config) as app:
        app.status()  # warm
        capture(app, lambda a: a.status())
        show(f"status on {built.name}")
        capture(app, lambda a: a.history(limit=50))
        show(f"history --limit 50 on {built.name}")

    def dry(a: Any) -> None:
        with a.running("once"):
            a.start_polling()
            a.poll_due_feeds(everything=True)
            a.dispatch_due()
            a.pending()

    with make_app(config, dry_run=True) as app:
        capture(app, dry)
    show(f"run --once --dry-run on {built.name}")


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms" if seconds < 10 else f"{seconds:8.1f} s "


def fmt_mb(value: float | None) -> str:
    return f"{value / 1e6:7.1f} MB" if value is not None else "        —"


def machine() -> str:
    def out(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        except OSError:
            return ""

    mem = out("free", "-h").splitlines()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
        f"SQLAlchemy {sa.__version__}; nproc {out('nproc').strip()}; "
        f"memory: {' '.join(mem[1].split()[:2]) if len(mem) > 1 else '?'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the stores again")
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each (default 5)")
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument(
        "--sizes", default=",".join(SIZES), help=f"which stores (default {','.join(SIZES)})"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the dry runs' notes, as without -v
    print(machine())
    names = [name.strip() for name in args.sizes.split(",")]
    built = [build(name, SIZES[name], rebuild=args.rebuild) for name in names]
    for store in built:
        size = store.database.stat().st_size
        print(
            f"\n## {store.name}: {store.deliveries:,} deliveries, {store.entries:,} entries,"
            f" {size / 1e6:.0f} MB ({store.database})"
        )
        print(f"{'in-process (after start-up)':<52} {'best':>11} {'median':>11} {'py peak':>10}")
        for what, t in in_process(store, args.runs).items():
            print(f"{what:<52} {fmt_s(t.best)} {fmt_s(t.median)} {fmt_mb(t.peak_py)}")
        print(
            f"{'whole command (python -m bot --config X ...)':<52} {'best':>11} {'median':>11}"
            f" {'peak RSS':>10}"
        )
        for what, t in whole_commands(store, args.runs).items():
            print(f"{what:<52} {fmt_s(t.best)} {fmt_s(t.median)} {fmt_mb(t.peak_rss)}")
    if args.explain:
        explain(built[-1])


if __name__ == "__main__":
    main()
