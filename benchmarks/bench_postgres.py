"""Hand-run benchmark: several daemons on one PostgreSQL store, and ``status`` at 1M there.

Run from the repository root (not collected by pytest; needs the ``test`` extra, which
brings psycopg and pgserver):

    .venv/bin/python benchmarks/bench_postgres.py [--daemons 1,2,3] [--targets 6]
        [--entries 100] [--latency 0.05] [--size 250000] [--runs 5]
        [--skip-throughput] [--skip-status]

It starts a private PostgreSQL server (pgserver) in a temporary directory, then:

**Throughput.** For each N in ``--daemons`` and for two ways of giving the daemons work, a
fresh database and one config: a feed on the loopback ``FakeBlog`` with ``--targets`` X
targets (``x1`` ...; each its own template, so the texts differ) on one ``FakeX`` that waits
``--latency`` seconds before every answer (a subclass here; tests/fakes is not changed) and
whose rate-limit windows are opened wide. The baseline poll is made in-process, then
``--entries`` entries are published (``max_new_per_poll`` above that, ``min_interval`` 0):

* ``poll``: as the issue asks, N ``python -m bot -v --config CFG run`` are started with the
  feed due; one of them polls it and queues every delivery;
* ``queued``: the benchmark polls in-process first, so every delivery is queued before the
  N daemons start (what the lanes do when no poll is needed to find the work).

The clock runs from starting the daemons until the store has every delivery ``posted``
(the store polled every 50 ms). Deliveries per second = deliveries / that time; also
from the first post to the last (the start-up excluded). Afterwards the daemons get
SIGTERM; each must exit 0 without a traceback. From the fake's own log: one tweet per
delivery, every text distinct, and exactly one ``POST /2/tweets`` per delivery (no re-send,
no duplicate-content answer). The fake counts the most POSTs it had in flight at once; each
daemon's ``posted ... to`` log lines say how the work was shared; its CPU (user + sys) comes
from its rusage.

**Status at 1M on PostgreSQL.** bench_store.py's store (same config, rows and states, four
targets) on PostgreSQL: ``open_store(url)`` for the schema, then COPY FROM STDIN (psycopg)
of ``--size`` entries x 4 deliveries, sequences set, ``ANALYZE`` (autovacuum would do it
soon after such a load; a store migrated by ``migrate-store`` is in the same position).
Then bench_store's in-process timings (``App.status()`` and the store calls it makes, best
and median of ``--runs``) and whole commands (``python -m bot --config CFG status`` etc.,
wall and peak RSS from a small launcher), against the same database.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_store  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bot.app import make_app  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.model import DeliveryState  # noqa: E402
from bot.store import open_store  # noqa: E402
from tests.conftest import ENV, X_SECRETS, x_target  # noqa: E402
from tests.fakes.feed_server import FakeBlog  # noqa: E402
from tests.fakes.server import Request, Response  # noqa: E402
from tests.fakes.x_api import FakeX  # noqa: E402


# -- the server --------------------------------------------------------------------------
class Postgres:
    """A private PostgreSQL server for this run, and new databases on it."""

    def __init__(self, directory: Path) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(directory / "runtime"))
        (directory / "runtime").mkdir(exist_ok=True)
        import pgserver

        self.server = pgserver.get_server(directory / "pgdata", cleanup_mode="stop")
        self.admin = self.server.get_uri()
        with psycopg.connect(self.admin) as c:
            self.version = str(c.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            self.settings = {
                name: str(c.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections")
            }

    def database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.admin.replace("/postgres?", f"/{name}?")

    def close(self) -> None:
        self.server.cleanup()


# -- throughput --------------------------------------------------------------------------
class SlowX(FakeX):
    """FakeX behind ``latency`` seconds before every answer, counting POSTs in flight."""

    def __init__(self, latency: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency
        self.in_flight = 0
        self.most_in_flight = 0
        self._flight = threading.Lock()

    def dispatch(self, request: Request) -> Response:
        posting = request.method == "POST" and request.path == "/2/tweets"
        if posting:
            with self._flight:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            threading.Event().wait(self.latency)  # the network and the platform's work
            return super().dispatch(request)
        finally:
            if posting:
                with self._flight:
                    self.in_flight -= 1


@dataclass
class RunResult:
    daemons: int
    mode: str
    deliveries: int
    seconds: float  # daemons started -> every delivery posted
    first_post: float  # daemons started -> the first delivery posted
    per_daemon: list[int] = field(default_factory=list)  # posts each daemon logged
    cpu: list[float] = field(default_factory=list)  # user + sys of each daemon
    most_in_flight: int = 0
    posts_requests: int = 0
    tweets: int = 0
    distinct_texts: int = 0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def steady_rate(self) -> float:
        return self.deliveries / max(self.seconds - self.first_post, 1e-9)


def throughput_config(directory: Path, url: str, blog: FakeBlog, x: FakeX, targets: int) -> Path:
    names = [f"x{i}" for i in range(1, targets + 1)]
    quoted = ", ".join(f'"{n}"' for n in names)
    tables = [
        "[bot]",
        f'database = "{url}"',
        'poll_interval = "10m"',
        "",
        "[feeds.blog]",
        f'url = "{blog.feed_url}"',
        f"targets = [{quoted}]",
        "backfill = 0",
        "max_new_per_poll = 100000",
        "",
    ]
    for name in names:
        template = f'"{{title}} ({name}) {{url}}"'  # each target's texts its own
        tables.append(x_target(x.url, name=name, template=template, min_interval='"0s"'))
    path = directory / "feedrelay.toml"
    path.write_text("\n".join(tables))
    return path


def counts(url: str) -> tuple[int, int]:
    """(posted, all) deliveries, straight from the database."""
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT count(*) FILTER (WHERE state = 'posted'), count(*) FROM deliveries"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def throughput_run(
    pg: Postgres,
    work: Path,
    *,
    daemons: int,
    mode: str,
    targets: int,
    entries: int,
    latency: float,
    timeout: float,
) -> RunResult:
    directory = work / f"run-{mode}-{daemons}"
    directory.mkdir()
    url = pg.database("feedrelay_tp")
    with (
        FakeBlog() as blog,
        SlowX(
            latency,
            consumer_key=X_SECRETS["X_CONSUMER_KEY"],
            consumer_secret=X_SECRETS["X_CONSUMER_SECRET"],
            access_token=X_SECRETS["X_ACCESS_TOKEN"],
            access_token_secret=X_SECRETS["X_ACCESS_TOKEN_SECRET"],
            window_limit=10**9,
            user_daily_limit=10**9,
            app_daily_limit=10**9,
        ) as x,
    ):
        path = throughput_config(directory, url, blog, x, targets)
        config = load_config(path, environ=ENV)
        now = datetime.now(UTC)
        with make_app(config) as app:
            app.poll_due_feeds()  # the baseline: nothing in the feed yet, nothing queued
            state = app.store.feed_state("blog")
            assert state is not None and state.baseline_done
            app.store.save_feed_state(replace(state, next_check_at=now))
        for number in range(entries):
            blog.add_entry(f"Benchmark entry {number}", published_at=now)
        expected = entries * targets
        if mode == "queued":
            with make_app(config) as app:
                app.poll_due_feeds(everything=True)
            assert counts(url) == (0, expected), counts(url)
        env = {**os.environ, **ENV}
        logs = [directory / f"daemon{i}.log" for i in range(daemons)]
        handles = [log.open("w") for log in logs]
        began = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bot", "-v", "--config", str(path), "run"],
                env=env,
                cwd=directory,
                stdout=subprocess.DEVNULL,
                stderr=handle,
            )
            for handle in handles
        ]
        first = None
        try:
            while True:
                posted, total = counts(url)
                elapsed = time.perf_counter() - began
                if posted and first is None:
                    first = elapsed
                if total == expected and posted == expected:
                    break
                if elapsed > timeout:
                    raise SystemExit(f"timed out: {posted} of {total} posted ({expected} due)")
                time.sleep(0.05)
            seconds = time.perf_counter() - began
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            cpu, codes = [], []
            for proc in procs:
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                codes.append(proc.returncode)
                cpu.append(usage.ru_utime + usage.ru_stime)
            for handle in handles:
                handle.close()
        per_daemon = []
        for log, code in zip(logs, codes, strict=True):
            text = log.read_text()
            if code != 0 or "Traceback" in text:
                raise SystemExit(f"{log} exited {code}:\n{text[-3000:]}")
            per_daemon.append(len(re.findall(r" posted .* to x\d+: ", text)))
        texts = [t["text"] for t in x.tweets]
        result = RunResult(
            daemons=daemons,
            mode=mode,
            deliveries=expected,
            seconds=seconds,
            first_post=first or 0.0,
            per_daemon=per_daemon,
            cpu=cpu,
            most_in_flight=x.most_in_flight,
            posts_requests=len(x.requests_to("POST", r"/2/tweets")),
            tweets=len(texts),
            distinct_texts=len(set(texts)),
        )
    problems = []
    if result.tweets != expected or result.distinct_texts != expected:
        problems.append(f"{result.tweets} tweets, {result.distinct_texts} distinct")
    if result.posts_requests != expected:
        problems.append(f"{result.posts_requests} POST /2/tweets for {expected} deliveries")
    if sum(per_daemon) != expected:
        problems.append(f"the daemons logged {sum(per_daemon)} posts")
    if problems:
        raise SystemExit("posted twice or lost: " + "; ".join(problems))
    return result


def throughput(pg: Postgres, work: Path, args: argparse.Namespace) -> list[RunResult]:
    results: list[RunResult] = []
    counts_ = [int(n) for n in args.daemons.split(",")]
    for mode in args.modes.split(","):
        base = None
        for n in counts_:
            r = throughput_run(
                pg,
                work,
                daemons=n,
                mode=mode,
                targets=args.targets,
                entries=args.entries,
                latency=args.latency,
                timeout=args.timeout,
            )
            base = base or r
            results.append(r)
            print(
                f"  {mode:<6} {n} daemon(s): {r.deliveries} deliveries in {r.seconds:6.2f} s ="
                f" {r.rate:6.1f}/s (x{r.rate / base.rate:.2f} of one daemon);"
                f" first post at {r.first_post:.2f} s, then {r.steady_rate:.1f}/s;"
                f" posts per daemon {r.per_daemon}; CPU per daemon"
                f" {[round(c, 1) for c in r.cpu]} s; most POSTs in flight {r.most_in_flight};"
                f" {r.posts_requests} POST /2/tweets, {r.distinct_texts} distinct tweets",
                flush=True,
            )
    return results


# -- the big store -----------------------------------------------------------------------
ENTRY_COLUMNS = [
    "id",
    "feed",
    "entry_key",
    "link",
    "title",
    "content_hash",
    "published_at",
    "first_seen_at",
    "data",
]
DELIVERY_COLUMNS = [
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
]


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)  # as UTCDateTime stores it


def rows(n_entries: int, now: datetime) -> Iterator[tuple[list[Any], list[list[Any]]]]:
    """bench_store.build's rows (same seed, states and shapes), one entry at a time."""
    rng = random.Random(20261127)
    weights = [share for _, share in bench_store.STATES]
    states = [state for state, _ in bench_store.STATES]
    year = timedelta(days=365)
    start = now - year
    step = year / max(n_entries, 1)
    delivery_id = 0
    for n in range(n_entries):
        published = start + step * n
        seen = published + timedelta(minutes=rng.randint(1, 10))
        labels = bench_store.LABELS[n % 4 : n % 4 + 3]
        entry = [
            n + 1,
            bench_store.FEED,
            bench_store.entry_key(n),
            bench_store.entry_link(n),
            bench_store.entry_title(n),
            f"{n:064x}",
            naive(published),
            naive(seen),
            bench_store.entry_json(n, published, labels),
        ]
        out = []
        for target, (platform_name, _) in bench_store.TARGETS.items():
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
            out.append(
                [
                    delivery_id,
                    n + 1,
                    target,
                    0,
                    platform_name,
                    state.value,
                    1 if posted else rng.randint(0, 8),
                    naive(due),
                    bench_store.post_json(n, platform_name, labels),
                    f"{1_800_000_000_000 + delivery_id}" if posted else None,
                    f"https://x.com/i/status/{delivery_id}" if posted else None,
                    None if posted else f"{state.value}: HTTP 503 from the API",
                    naive(seen),
                    naive(updated),
                    naive(updated) if posted else None,
                    None,
                    None,
                    None,
                    False,
                ]
            )
        yield entry, out


def build_big(
    pg: Postgres, work: Path, n_entries: int
) -> tuple[bench_store.Built, str, dict[str, float]]:
    directory = work / "big"
    directory.mkdir()
    url = pg.database("feedrelay_1m")
    now = datetime.now(UTC).replace(microsecond=0)
    config_file = bench_store.write_config(directory)
    config_file.write_text(config_file.read_text().replace('"store.sqlite"', f'"{url}"'))
    bench_store.write_feed(directory, n_entries, now)
    began = time.perf_counter()
    open_store(url).close()  # our schema, through our migrations
    libpq = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    with psycopg.connect(libpq) as c:
        c.execute(
            "INSERT INTO feeds (name, url, baseline_done, next_check_at, last_checked_at,"
            " error_count, gone) VALUES (%s, %s, true, %s, %s, 0, false)",
            (
                bench_store.FEED,
                load_config(config_file, allow_missing_secrets=True).feed_url(bench_store.FEED),
                naive(now + timedelta(minutes=2)),
                naive(now - timedelta(minutes=8)),
            ),
        )
        for target in bench_store.TARGETS:
            c.execute(
                "INSERT INTO target_state (target, last_sent_at, sent_day, sent_today,"
                " spent_usd) VALUES (%s, %s, %s, 3, 0)",
                (
                    target,
                    naive(now - timedelta(hours=2)),
                    (now - timedelta(hours=2)).date().isoformat(),
                ),
            )
        entry_copy = f"COPY entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN"
        delivery_copy = f"COPY deliveries ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN"
        cur = c.cursor()
        # Entries first (the foreign key), then deliveries: two passes over the generator.
        with cur.copy(entry_copy) as copy:
            for entry, _ in rows(n_entries, now):
                copy.write_row(entry)
        print(f"  entries copied ({time.perf_counter() - began:.0f} s)", flush=True)
        with cur.copy(delivery_copy) as copy:
            for _, out in rows(n_entries, now):
                for row in out:
                    copy.write_row(row)
        print(f"  deliveries copied ({time.perf_counter() - began:.0f} s)", flush=True)
        for table in ("entries", "deliveries"):
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    copied = time.perf_counter() - began
    with psycopg.connect(libpq, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
        size = int(c.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]
    open_store(url).close()  # and opens cleanly as a store
    seconds = time.perf_counter() - began
    info = {"copied_s": copied, "built_s": seconds, "bytes": size}
    print(
        f"  built {n_entries * 4:,} deliveries in {seconds:.1f} s ({copied:.1f} s to COPY),"
        f" {size / 1e6:.0f} MB",
        flush=True,
    )
    built = bench_store.Built(
        "pg", directory, config_file, directory / "unused.sqlite", n_entries, n_entries * 4
    )
    return built, url, info


COMMANDS = [
    ("--help",),
    ("status",),
    ("status", "--json"),
    ("history", "--limit", "50"),
    ("history", "--json", "--limit", "50"),
    ("history", "--status", "posted", "--limit", "50"),
]


def status_bench(pg: Postgres, work: Path, args: argparse.Namespace) -> None:
    built, url, _ = build_big(pg, work, args.size)
    print(f"\n## PostgreSQL store: {built.deliveries:,} deliveries, {built.entries:,} entries")
    print(f"{'in-process (after start-up)':<52} {'best':>11} {'median':>11} {'py peak':>10}")
    for what, t in bench_store.in_process(built, args.runs).items():
        print(
            f"{what:<52} {bench_store.fmt_s(t.best)} {bench_store.fmt_s(t.median)}"
            f" {bench_store.fmt_mb(t.peak_py)}"
        )
    print(
        f"{'whole command (python -m bot --config X ...)':<52} {'best':>11} {'median':>11}"
        f" {'peak RSS':>10}"
    )
    for args_ in COMMANDS:
        t = bench_store.timed_command(bench_store.command(built, *args_), args.runs)
        print(
            f"{' '.join(args_):<52} {bench_store.fmt_s(t.best)} {bench_store.fmt_s(t.median)}"
            f" {bench_store.fmt_mb(t.peak_rss)}",
            flush=True,
        )
    explain(built, url)


def explain(built: bench_store.Built, url: str) -> None:
    """Each statement ``status`` sends, with its time and PostgreSQL's plan (top line)."""
    config = load_config(built.config, allow_missing_secrets=True)
    seen: list[tuple[str, Any]] = []
    with make_app(config) as app:
        app.status()
        engine = app.store.engine  # type: ignore[attr-defined]

        @sa.event.listens_for(engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            seen.append((statement, params))

        app.status()
        sa.event.remove(engine, "before_cursor_execute", before)
        print("\n== the statements of status(), each run again: ms, then EXPLAIN ANALYZE's top")
        with engine.connect() as c:
            for statement, params in list(seen):
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                began = time.perf_counter()
                c.exec_driver_sql(statement, params).all()
                ms = (time.perf_counter() - began) * 1000
                plan = c.exec_driver_sql(f"EXPLAIN ANALYZE {statement}", params).all()
                text = " ".join(statement.split())[:160]
                print(f"-- {ms:7.1f} ms  {text}")
                for line in [*[p[0] for p in plan][:3], plan[-1][0]]:
                    print(f"     {line}")


def machine(pg: Postgres) -> str:
    return (
        bench_store.machine() + f"; PostgreSQL {pg.version} (pgserver, {json.dumps(pg.settings)});"
        f" psycopg {psycopg.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", default="1,2,3", help="daemon counts (default 1,2,3)")
    parser.add_argument("--modes", default="poll,queued", help="poll and/or queued")
    parser.add_argument("--targets", type=int, default=6, help="X targets (default 6)")
    parser.add_argument("--entries", type=int, default=100, help="new entries (default 100)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds (default 0.05)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument("--size", type=int, default=250_000, help="entries; deliveries x4")
    parser.add_argument("--runs", type=int, default=5, help="counted runs (default 5)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-status", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="feedrelay-pg-") as temp:
        work = Path(temp)
        pg = Postgres(work)
        try:
            print(machine(pg), flush=True)
            if not args.skip_throughput:
                print(
                    f"\n## throughput: {args.targets} X targets on one FakeX,"
                    f" {args.latency * 1000:.0f} ms before every answer,"
                    f" {args.entries} entries ({args.entries * args.targets} deliveries)",
                    flush=True,
                )
                throughput(pg, work, args)
            if not args.skip_status:
                status_bench(pg, work, args)
        finally:
            pg.close()


if __name__ == "__main__":
    main()
