"""Hand-run benchmark: the memory of an idle daemon (issue 22, target 5, first half).

Run from the repository root:

    .venv/bin/python benchmarks/bench_memory.py [--runs 3] [--idle 8] [--baseline-tree DIR]

The daemon is ``python -m bot --config CFG run`` on the bundled example config (three
targets: X, Reddit, Tumblr; one feed, a local file) in a temporary directory, with made-up
credentials in its environment and ``backfill = 0``, so its first poll records the example's
entries as seen and nothing is ever posted (no platform is reached). Once the store shows the
feed checked, it idles ``--idle`` seconds; then ``VmRSS`` and ``VmHWM`` from
``/proc/PID/status``, and SIGTERM (it must exit 0). ``--baseline-tree`` runs another checkout
in turn (``PYTHONPATH=DIR``, same interpreter and libraries).

Then the floor: the RSS of a fresh interpreter that only imports a set of the libraries the
daemon cannot run without, to show what the rest costs.

The daemon with 500 feeds (target 5, second half) is measured by ``bench_feeds.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CREDENTIALS = {
    name: "made-up"
    for name in (
        "X_CONSUMER_KEY",
        "X_CONSUMER_SECRET",
        "X_ACCESS_TOKEN",
        "X_ACCESS_TOKEN_SECRET",
        "REDDIT_CLIENT_ID",
        "REDDIT_CLIENT_SECRET",
        "REDDIT_USERNAME",
        "REDDIT_PASSWORD",
        "TUMBLR_CONSUMER_KEY",
        "TUMBLR_CONSUMER_SECRET",
        "TUMBLR_OAUTH_TOKEN",
        "TUMBLR_OAUTH_TOKEN_SECRET",
    )
}

FLOORS = [
    ("python", "pass"),
    ("sqlalchemy", "import sqlalchemy"),
    ("+ requests, pydantic", "import sqlalchemy, requests, pydantic"),
    (
        "+ apscheduler, feedparser, bs4",
        "import sqlalchemy, requests, pydantic, apscheduler.schedulers.blocking, feedparser, bs4",
    ),
    ("bot.scheduling (the daemon's modules)", "import bot.scheduling"),
    (
        "bot.scheduling + the three targets' clients",
        "import bot.scheduling, adapters.twitter.client, adapters.reddit.client,"
        " adapters.tumblr.client",
    ),
]


def example(directory: Path) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    feed = json.dumps((ROOT / "examples" / "blogger-feed.xml").as_posix())
    text = text.replace('"examples/blogger-feed.xml"', feed)
    text = text.replace("\nbackfill = 2\n", "\nbackfill = 0\n")
    config = directory / "feedrelay.toml"
    config.write_text(text, encoding="utf-8")
    return config


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0])  # kB
    return fields


def _feed_checked(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT count(*) FROM feeds WHERE last_checked_at IS NOT NULL"
            ).fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def idle_daemon(tree: Path | None, idle: float) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="feedrelay-memory-") as tmp:
        config = example(Path(tmp))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | CREDENTIALS
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        log = open(Path(tmp) / "daemon.log", "wb")  # noqa: SIM115 - closed below
        daemon = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while not _feed_checked(Path(tmp) / "feedrelay.sqlite"):
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((Path(tmp) / "daemon.log").read_text())
                time.sleep(0.1)
            time.sleep(idle)
            fields = _status(daemon.pid)
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(60)
            log.close()
        if code != 0:
            raise SystemExit(f"the daemon exited {code}:\n{(Path(tmp) / 'daemon.log').read_text()}")
        return fields


def floor(statement: str) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{statement}\nimport pathlib\n"
            "print(pathlib.Path('/proc/self/status').read_text().split('VmRSS:')[1].split()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=8.0)
    parser.add_argument("--baseline-tree", type=Path)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    ours: list[dict[str, int]] = []
    theirs: list[dict[str, int]] = []
    for _ in range(args.runs):
        if args.baseline_tree is not None:
            theirs.append(idle_daemon(args.baseline_tree, args.idle))
        ours.append(idle_daemon(None, args.idle))
    for label, runs in (("this tree", ours), ("baseline", theirs)):
        if runs:
            print(
                f"idle daemon, 3 targets, {label}: "
                + ", ".join(
                    f"{key} {statistics.median(run[key] for run in runs) / 1024:.1f} MiB"
                    for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile")
                )
                + f" (median of {len(runs)})"
            )
    print("\nfloor: VmRSS of a fresh interpreter after importing")
    for label, statement in FLOORS:
        print(f"  {floor(statement) / 1024:6.1f} MiB  {label}")


if __name__ == "__main__":
    main()
