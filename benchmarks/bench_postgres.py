"""Hand-run benchmark: ``status`` at 1,000,000 deliveries on a PostgreSQL store.

Run from the repository root (not collected by pytest; needs the ``test`` extra, which
brings psycopg and pgserver):

    .venv/bin/python benchmarks/bench_postgres.py [--size 250000] [--runs 5]

(Its throughput part, several daemons on one store, is now ``benchmarks/bench_scale.py``.)

It starts a private PostgreSQL server (pgserver) in a temporary directory, then builds
bench_store.py's store (same config, rows and states, four targets) there with
``benchmarks/store_builder.py``: ``open_store(url)`` for the schema, then COPY FROM STDIN
(psycopg) of ``--size`` entries x 4 deliveries, sequences set, ``VACUUM ANALYZE``
(autovacuum would do it soon after such a load; a store migrated by ``migrate-store`` is in
the same position). Then bench_store's in-process timings (``App.status()`` and the store
calls it makes, best and median of ``--runs``) and whole commands (``python -m bot
--config CFG status`` etc., wall and peak RSS from a small launcher), against the same
database.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_store  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from store_builder import Built, Postgres, build_postgres, status_spec  # noqa: E402

from bot.app import make_app  # noqa: E402
from bot.config import load_config  # noqa: E402


def build_big(pg: Postgres, work: Path, n_entries: int) -> tuple[Built, str, dict[str, float]]:
    url = pg.database("feedrelay_1m")
    built, info = build_postgres("pg", work / "big", status_spec(n_entries), url)
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


def explain(built: Built, url: str) -> None:
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
    parser.add_argument("--size", type=int, default=250_000, help="entries; deliveries x4")
    parser.add_argument("--runs", type=int, default=5, help="counted runs (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="feedrelay-pg-") as temp:
        work = Path(temp)
        pg = Postgres(work)
        try:
            print(machine(pg), flush=True)
            status_bench(pg, work, args)
        finally:
            pg.close()


if __name__ == "__main__":
    main()
