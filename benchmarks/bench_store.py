"""Hand-run benchmark: ``status``, ``history`` and ``run --once --dry-run`` on a big store.

Run from the repository root (not collected by pytest):

    .venv/bin/python benchmarks/bench_store.py [--rebuild] [--runs 5] [--explain]

It builds (once, cached under /tmp/feedrelay-bench/) three stores with the same config:
empty (schema only), 1,000 deliveries and 1,000,000 deliveries (250,000 entries x 4
targets), each built by ``benchmarks/store_builder.py`` (``bot.store.open_store``, then
SQLAlchemy Core executemany in large batches). Then, for each store:

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
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.app import make_app
from bot.config import load_config
from bot.reports import ATTENTION_LIMIT, delivery_json, status_json

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from store_builder import Built, build_sqlite, entry_link, status_spec  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "feedrelay-bench"
SIZES = {"empty": 0, "1k": 250, "1M": 250_000}  # entries; deliveries are 4x


def build(name: str, n_entries: int, *, rebuild: bool) -> Built:
    """bench_store's store of ``n_entries`` x 4 targets (store_builder.status_spec)."""
    return build_sqlite(name, CACHE / name, status_spec(n_entries), rebuild=rebuild)


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
