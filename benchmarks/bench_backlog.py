"""Hand-run benchmark: a big backlog (issue 22, target 6).

Run from the repository root (not collected by pytest; the real runs need the ``test``
extra's fakes, ``--postgres`` its pgserver and psycopg):

    .venv/bin/python benchmarks/bench_backlog.py [--runs 5] [--rebuild] [--postgres]
        [--baseline-commit 84bead4 | --baseline-tree DIR] [--min-interval 0s]
        [--max-per-day 50]

The store (``benchmarks/store_builder.py``, cached under /tmp/feedrelay-bench/backlog/;
on PostgreSQL built in a private server for the run): 1,000,000 deliveries, 500,000
entries x two X targets, otherwise bench_store's mix (95% posted ...), and

* ``x-main`` was paused for weeks; the pause ended an hour before the store was built,
  and the newest 10,000 entries' deliveries to it are **queued** (what piled up during the
  pause, due since their entry was seen), the 10,000 before those **unknown** (tried once,
  the answer lost; due for a look-up). Its schedule: ``--min-interval`` and
  ``--max-per-day``;
* ``x-alt`` is paused for two more weeks: its own waiting rows (the mix's) stay waiting.

Each target posts to its own loopback ``FakeX`` (tests/fakes, no latency, rate-limit
windows opened wide) that answers posts and the look-ups of the account's timeline.

Measured, with the tree under test ("new", this checkout) and a baseline tree ("base": a
``git archive`` of ``--baseline-commit``, or ``--baseline-tree``) run in turn, ``--runs``
times each after a warm-up, every command a subprocess started by a small launcher that
reports its wall time, CPU (user + sys) and peak RSS from ``os.wait4``:

* ``--help``: the start-up floor;
* ``run --once --dry-run`` on the store (the fakes must receive nothing);
* ``run --once`` on a fresh copy of the store each time: the time from the launcher
  starting the command to the first ``POST /2/tweets`` the fake of ``x-main`` receives,
  then what the fakes got: posts (each text once: no duplicate), look-ups, and nothing
  posted to ``x-alt``; the posts must fit the schedule (``--max-per-day``, or one post
  where ``--min-interval`` is not zero).

A tree whose code expects an older store schema gets its copies taken back to that schema
(``DOWNGRADES``: the indexes a later version added, dropped), since it would refuse a newer
store. Printed: median (and best) of each figure per tree, and new / base of the medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_store  # noqa: E402
from store_builder import (  # noqa: E402
    Backlog,
    Built,
    StoreSpec,
    TargetSpec,
    build_sqlite,
    write_config,
)

from bot.model import DeliveryState  # noqa: E402
from bot.store.schema import SCHEMA_VERSION  # noqa: E402
from tests.conftest import ENV, X_SECRETS  # noqa: E402
from tests.fakes.server import Request, Response  # noqa: E402
from tests.fakes.x_api import FakeX  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "feedrelay-bench"
ENTRIES = 500_000  # x 2 targets: 1,000,000 deliveries
BACKLOG = 10_000
CREDENTIALS = {
    "consumer_key": '"${X_CONSUMER_KEY}"',
    "consumer_secret": '"${X_CONSUMER_SECRET}"',
    "access_token": '"${X_ACCESS_TOKEN}"',
    "access_token_secret": '"${X_ACCESS_TOKEN_SECRET}"',
}
CLOSED_PORT = '"http://127.0.0.1:9/"'  # the store's own config: never used to post


def backlog_spec(min_interval: str, max_per_day: int, urls: dict[str, str]) -> StoreSpec:
    """The store's rows and config; ``urls``: each target's ``api_base`` (TOML value)."""
    schedule = {"max_per_day": str(max_per_day)} if max_per_day else {}
    return StoreSpec(
        entries=ENTRIES,
        targets=(
            TargetSpec(
                name="x-main",
                platform="twitter",
                min_interval=min_interval,
                settings={**CREDENTIALS, **schedule, "api_base": urls["x-main"]},
                paused_for=-timedelta(hours=1),
                pause_reason="paused by the operator for three weeks",
            ),
            TargetSpec(
                name="x-alt",
                platform="twitter",
                min_interval="5m",
                settings={**CREDENTIALS, "api_base": urls["x-alt"]},
                paused_for=timedelta(days=14),
                pause_reason="paused by the operator",
            ),
        ),
        backlogs=(
            Backlog(target="x-main", state=DeliveryState.QUEUED, count=BACKLOG),
            Backlog(target="x-main", state=DeliveryState.UNKNOWN, count=BACKLOG),
        ),
        feed_unedited=True,
        images=False,
    )


def store_spec() -> StoreSpec:
    """The rows only: the schedule and the fakes' addresses are written per run."""
    closed = {"x-main": CLOSED_PORT, "x-alt": CLOSED_PORT}
    return backlog_spec("0s", 0, closed)


# -- the fakes ---------------------------------------------------------------------------
class TimedX(FakeX):
    """FakeX that notes when (``time.monotonic``) each ``POST /2/tweets`` arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.post_times: list[float] = []
        self._times = threading.Lock()

    def dispatch(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/2/tweets":
            with self._times:
                self.post_times.append(time.monotonic())
        return super().dispatch(request)


def fake_x() -> TimedX:
    return TimedX(
        consumer_key=X_SECRETS["X_CONSUMER_KEY"],
        consumer_secret=X_SECRETS["X_CONSUMER_SECRET"],
        access_token=X_SECRETS["X_ACCESS_TOKEN"],
        access_token_secret=X_SECRETS["X_ACCESS_TOKEN_SECRET"],
        window_limit=10**9,
        user_daily_limit=10**9,
        app_daily_limit=10**9,
    )


@contextmanager
def fakes() -> Iterator[dict[str, TimedX]]:
    with fake_x() as main, fake_x() as alt:
        yield {"x-main": main, "x-alt": alt}


# -- running a tree's command ------------------------------------------------------------
# Started by a small interpreter of its own: a child forked from this big process would
# report this process's RSS (Linux keeps the high-water mark across exec).
LAUNCHER = """
import json, os, subprocess, sys, time
began = time.monotonic()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = child.stderr.read()
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"began": began, "wall": time.monotonic() - began,
    "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * 1024,
    "status": os.waitstatus_to_exitcode(status), "stderr": err.decode()[-3000:]}))
"""
# The command line of one tree: its checkout first on sys.path, then ``python -m bot``.
RUN_TREE = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'feedrelay';"
    " runpy.run_module('bot', run_name='__main__', alter_sys=True)"
)


@dataclass(frozen=True)
class Result:
    began: float
    wall: float
    cpu: float
    rss: int
    status: int
    stderr: str


def launch(tree: Path, args: list[str], cwd: Path) -> Result:
    argv = [sys.executable, "-c", RUN_TREE, str(tree), *args]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **ENV},
        check=True,
    )
    result = Result(**json.loads(done.stdout))
    return result


def baseline_tree(args: argparse.Namespace) -> Path:
    if args.baseline_tree:
        return Path(args.baseline_tree).resolve()
    tree = CACHE / f"tree-{args.baseline_commit}"
    if not (tree / "bot").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline_commit],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


# -- the store for one run ---------------------------------------------------------------
# What takes a store built by this tree back to an older schema, for a baseline tree that
# would refuse a newer store: version -> the statements that undo that version's step.
DOWNGRADES = {7: ["DROP INDEX ix_entries_feed_published"]}


def schema_of(tree: Path) -> int:
    """The store schema version the tree's code expects."""
    text = (tree / "bot" / "store" / "schema.py").read_text()
    return int(re.search(r"^SCHEMA_VERSION = (\d+)$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]


def downgrade(execute: Callable[[str], Any], schema: int) -> None:
    for version in range(SCHEMA_VERSION, schema, -1):
        for statement in DOWNGRADES[version]:
            execute(statement)
    execute(f"UPDATE schema_version SET version = {schema}")


class SqliteStores:
    """The cached store, and a fresh copy of it for each run."""

    def __init__(self, rebuild: bool) -> None:
        self.built = build_sqlite("backlog", CACHE / "backlog", store_spec(), rebuild=rebuild)

    def fresh(self, directory: Path, schema: int = SCHEMA_VERSION) -> str:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for path in self.built.directory.glob("store.sqlite*"):
            shutil.copyfile(path, directory / path.name)
        shutil.copyfile(self.built.directory / "feed.xml", directory / "feed.xml")
        if schema < SCHEMA_VERSION:
            with sqlite3.connect(directory / "store.sqlite") as c:
                downgrade(c.execute, schema)
        return "store.sqlite"

    def counts(self, database: str, directory: Path) -> dict[tuple[str, str], int]:
        with sqlite3.connect(directory / database) as c:
            rows = c.execute("SELECT target, state, count(*) FROM deliveries GROUP BY 1, 2")
            return {(target, state): n for target, state, n in rows}

    def close(self) -> None:
        pass


class PostgresStores:
    """The store built once in a private server; each run gets a database copied from it."""

    def __init__(self, work: Path) -> None:
        from store_builder import Postgres, build_postgres

        self.pg = Postgres(work)
        url = self.pg.database("backlog")
        self.template = url.split("?", 1)[0].rsplit("/", 1)[1]
        self.built, _ = build_postgres("backlog", work / "backlog", store_spec(), url)
        self.count = 0

    def fresh(self, directory: Path, schema: int = SCHEMA_VERSION) -> str:
        import psycopg
        from store_builder import libpq

        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        shutil.copyfile(self.built.directory / "feed.xml", directory / "feed.xml")
        self.count += 1
        url = self.pg.database(f"backlog_run_{self.count}", template=self.template)
        if schema < SCHEMA_VERSION:
            with psycopg.connect(libpq(url), autocommit=True) as c:
                downgrade(c.execute, schema)
        return url

    def counts(self, database: str, directory: Path) -> dict[tuple[str, str], int]:
        import psycopg
        from store_builder import libpq

        with psycopg.connect(libpq(database)) as c:
            rows = c.execute("SELECT target, state, count(*) FROM deliveries GROUP BY 1, 2")
            return {(target, state): n for target, state, n in rows}

    def close(self) -> None:
        self.pg.close()


# -- the measurements --------------------------------------------------------------------
@dataclass(frozen=True)
class RealRun:
    result: Result
    first_post: float | None  # seconds from the launcher's start to the first POST
    posts: int
    distinct: int
    lookups: int
    other_posts: int
    before: dict[tuple[str, str], int]
    after: dict[tuple[str, str], int]


def dry_run(tree: Path, database: str, directory: Path, args: argparse.Namespace) -> Result:
    with fakes() as xs:
        config = write_run_config(directory, database, xs, args)
        result = launch(tree, ["--config", str(config), "run", "--once", "--dry-run"], directory)
        reached = sum(len(x.requests) for x in xs.values())
    if result.status != 0:
        raise SystemExit(f"dry run exited {result.status}:\n{result.stderr}")
    if reached:
        raise SystemExit(f"the dry run reached the fakes: {reached} requests")
    return result


def real_run(tree: Path, stores: Any, directory: Path, args: argparse.Namespace) -> RealRun:
    database = stores.fresh(directory, schema_of(tree))
    before = stores.counts(database, directory)
    with fakes() as xs:
        config = write_run_config(directory, database, xs, args)
        result = launch(tree, ["--config", str(config), "run", "--once"], directory)
        main, alt = xs["x-main"], xs["x-alt"]
        texts = [tweet["text"] for tweet in main.tweets]
        run = RealRun(
            result=result,
            first_post=main.post_times[0] - result.began if main.post_times else None,
            posts=len(main.requests_to("POST", r"/2/tweets")),
            distinct=len(set(texts)),
            lookups=len(main.requests_to("GET", r"/2/users/\d+/tweets")),
            other_posts=len(alt.requests_to("POST", r"/2/tweets")),
            before=before,
            after=stores.counts(database, directory),
        )
    if result.status not in (0, 1) or "Traceback" in result.stderr:
        raise SystemExit(f"run --once exited {result.status}:\n{result.stderr}")
    problems = []
    if run.distinct != len(texts) or run.posts != len(texts):
        problems.append(f"{run.posts} POSTs, {len(texts)} tweets, {run.distinct} distinct")
    if run.other_posts:
        problems.append(f"{run.other_posts} posts to the paused x-alt")
    allowed = args.max_per_day or (1 if args.min_interval not in ("0s", "0") else None)
    if allowed is not None and run.posts > allowed:
        problems.append(f"{run.posts} posts; the schedule allows {allowed}")
    if problems:
        raise SystemExit("run --once: " + "; ".join(problems))
    return run


def write_run_config(
    directory: Path, database: str, xs: dict[str, TimedX], args: argparse.Namespace
) -> Path:
    urls = {name: json.dumps(x.url) for name, x in xs.items()}
    return write_config(
        directory, backlog_spec(args.min_interval, args.max_per_day, urls), database
    )


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.3f} (best {min(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each (default 5)")
    parser.add_argument("--rebuild", action="store_true", help="build the SQLite store again")
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL (pgserver)")
    parser.add_argument("--baseline-commit", default="84bead4", help="default 84bead4")
    parser.add_argument("--baseline-tree", help="a checkout to compare with instead")
    parser.add_argument("--min-interval", default="0s", help="x-main's (default 0s)")
    parser.add_argument("--max-per-day", type=int, default=50, help="x-main's (default 50)")
    parser.add_argument("--skip-real", action="store_true", help="only --help and the dry run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    trees = {"new": ROOT, "base": baseline_tree(args)}
    print(bench_store.machine(), f"; load average {os.getloadavg()}", flush=True)
    print(f"new: {ROOT}; base: {trees['base']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="feedrelay-backlog-") as temp:
        work = Path(temp)
        stores: Any = PostgresStores(work) if args.postgres else SqliteStores(args.rebuild)
        try:
            measure(stores, trees, work, args)
        finally:
            stores.close()
    print(f"load average at the end {os.getloadavg()}")


def measure(stores: Any, trees: dict[str, Path], work: Path, args: argparse.Namespace) -> None:
    built: Built = stores.built
    print(f"store: {built.deliveries:,} deliveries, {built.entries:,} entries ({built.directory})")
    dry = {name: (work / f"dry-{name}") for name in trees}
    databases = {name: stores.fresh(dry[name], schema_of(tree)) for name, tree in trees.items()}
    counts = stores.counts(databases["new"], dry["new"])
    print("rows:", {f"{t}/{s}": n for (t, s), n in sorted(counts.items())}, flush=True)
    helps: dict[str, list[Result]] = {name: [] for name in trees}
    drys: dict[str, list[Result]] = {name: [] for name in trees}
    reals: dict[str, list[RealRun]] = {name: [] for name in trees}
    for name, tree in trees.items():  # warm-up: imports, the page cache
        launch(tree, ["--help"], work)
        dry_run(tree, databases[name], dry[name], args)
    for turn in range(args.runs):
        for name, tree in trees.items() if turn % 2 == 0 else reversed(trees.items()):
            helps[name].append(launch(tree, ["--help"], work))
            drys[name].append(dry_run(tree, databases[name], dry[name], args))
            if not args.skip_real:
                reals[name].append(real_run(tree, stores, work / f"real-{name}", args))
            first = reals[name][-1].first_post if reals[name] else None
            print(
                f"  run {turn + 1} {name}: dry {drys[name][-1].wall:.2f} s"
                + (f", first post at {first:.2f} s" if first is not None else ""),
                flush=True,
            )
    print(
        f"\n{'figure':<44} {'new: median (best)':>24} {'base: median (best)':>24} {'new/base':>9}"
    )
    rows: list[tuple[str, Callable[[str], list[float]]]] = [
        ("--help: wall s", lambda n: [r.wall for r in helps[n]]),
        ("--help: CPU s", lambda n: [r.cpu for r in helps[n]]),
        ("--help: peak RSS MB", lambda n: [r.rss / 1e6 for r in helps[n]]),
        ("run --once --dry-run: wall s", lambda n: [r.wall for r in drys[n]]),
        ("run --once --dry-run: CPU s", lambda n: [r.cpu for r in drys[n]]),
        ("run --once --dry-run: peak RSS MB", lambda n: [r.rss / 1e6 for r in drys[n]]),
    ]
    if not args.skip_real:
        rows += [
            (
                "run --once: start to first post s",
                lambda n: [
                    r.first_post if r.first_post is not None else float("nan") for r in reals[n]
                ],
            ),
            ("run --once: wall s", lambda n: [r.result.wall for r in reals[n]]),
            ("run --once: CPU s", lambda n: [r.result.cpu for r in reals[n]]),
            ("run --once: peak RSS MB", lambda n: [r.result.rss / 1e6 for r in reals[n]]),
            ("run --once: posts to x-main", lambda n: [float(r.posts) for r in reals[n]]),
            ("run --once: look-ups on x-main", lambda n: [float(r.lookups) for r in reals[n]]),
        ]
    for label, values in rows:
        new, base = values("new"), values("base")
        ratio = statistics.median(new) / statistics.median(base) if statistics.median(base) else 0
        print(f"{label:<44} {summary(new):>24} {summary(base):>24} {ratio:9.2f}")
    for name in trees:
        for run in reals[name][:1]:
            changed = {
                f"{t}/{s}": run.after.get((t, s), 0) - run.before.get((t, s), 0)
                for (t, s) in sorted(set(run.before) | set(run.after))
                if run.after.get((t, s), 0) != run.before.get((t, s), 0)
            }
            print(f"{name}: one real run changed the rows by {changed}")


if __name__ == "__main__":
    main()
