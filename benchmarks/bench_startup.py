"""Hand-run benchmark: how long a command takes to start (issue 22, target 4).

Run from the repository root:

    .venv/bin/python benchmarks/bench_startup.py [--runs 9] [--baseline-tree DIR]

Each command runs on the bundled example config (``config.example.toml``, its feed a local
file) in a temporary directory holding an empty store (``open_store``, no rows): ``--help``,
``-V``, ``status``, ``status --json``, ``history``, ``schedule`` and ``run --once
--dry-run``. Each is a whole process (``python -m bot ...``) started from a small launcher
interpreter, which reports its wall time, CPU (user + sys) and peak RSS from ``os.wait4``.

``--baseline-tree DIR`` names another checkout (``git worktree add --detach DIR COMMIT``):
its commands run with ``PYTHONPATH=DIR``, so the same interpreter and libraries import that
tree's ``bot`` and ``adapters``. Each command runs baseline and this tree in turn, one pair
after another, after one warm-up of each; the ratio is this tree's median over the
baseline's, and the per-pair CPU ratio's median is printed too (the machine's speed drifts;
a pair shares the drift).

Last, ``python -X importtime`` of ``status``: the packages that cost most to import.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS: list[tuple[str, ...]] = [
    ("--help",),
    ("-V",),
    ("status",),
    ("status", "--json"),
    ("history",),
    ("schedule",),
    ("run", "--once", "--dry-run"),
]

# The launcher reports on its child: a child of this (bigger) process would inherit its
# high-water RSS across exec.
LAUNCHER = """
import os, subprocess, sys, time
began = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - began
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


@dataclass
class Run:
    wall: float
    cpu: float
    peak_kib: int


def example(directory: Path, tree: Path | None = None) -> Path:
    """The example config, its feed by absolute path, and an empty store beside it (made by
    ``tree``'s code: each tree reads a store of its own schema)."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    feed = json.dumps((ROOT / "examples" / "blogger-feed.xml").as_posix())
    directory.mkdir()
    config = directory / "feedrelay.toml"
    config.write_text(text.replace('"examples/blogger-feed.xml"', feed), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    subprocess.run(
        [sys.executable, "-c", "from bot.store import open_store; open_store('feedrelay.sqlite')"],
        cwd=directory,
        env=env,
        check=True,
    )
    return config


def run_once(argv: list[str], cwd: Path, tree: Path | None) -> Run:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
    )
    wall, cpu, peak, status = done.stdout.split()
    if int(status) != 0:
        raise SystemExit(f"exit {status}: {' '.join(argv)}")
    return Run(float(wall), float(cpu), int(peak))


def compare(
    args: tuple[str, ...], configs: tuple[Path, Path | None], runs: int, baseline: Path | None
) -> tuple[list[Run], list[Run]]:
    mine, theirs_config = configs

    def argv(config: Path) -> list[str]:
        return [sys.executable, "-m", "bot", "--config", str(config), *args]

    ours: list[Run] = []
    theirs: list[Run] = []
    run_once(argv(mine), mine.parent, None)  # warm-up: the .pyc files, the page cache
    if baseline is not None and theirs_config is not None:
        run_once(argv(theirs_config), theirs_config.parent, baseline)
    for _ in range(runs):
        if baseline is not None and theirs_config is not None:
            theirs.append(run_once(argv(theirs_config), theirs_config.parent, baseline))
        ours.append(run_once(argv(mine), mine.parent, None))
    return ours, theirs


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def importtime(config: Path) -> list[tuple[str, float]]:
    """Self import time by top-level package (microseconds summed), for ``status``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        cwd=config.parent,
        check=True,
    )
    by_package: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        package = ".".join(parts[:2]) if parts[0] in ("bot", "adapters") else parts[0]
        by_package[package] += int(own)
    return [(name, us / 1000) for name, us in by_package.most_common(12)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="feedrelay-startup-") as tmp:
        config = example(Path(tmp, "this"))
        baseline_config = (
            example(Path(tmp, "baseline"), args.baseline_tree) if args.baseline_tree else None
        )
        header = "| command | wall (median) | CPU (median) | peak RSS |"
        if args.baseline_tree:
            header += " baseline wall | baseline CPU | baseline peak | CPU ratio (pairs) |"
        print(header)
        print("|" + " --- |" * (header.count("|") - 1))
        for command in COMMANDS:
            ours, theirs = compare(
                command, (config, baseline_config), args.runs, args.baseline_tree
            )
            row = (
                f"| `{' '.join(command)}` | {median(ours, 'wall'):.3f} s"
                f" | {median(ours, 'cpu'):.3f} s | {max(r.peak_kib for r in ours) / 1024:.1f} MiB |"
            )
            if theirs:
                pairs = statistics.median(a.cpu / b.cpu for a, b in zip(ours, theirs, strict=True))
                row += (
                    f" {median(theirs, 'wall'):.3f} s | {median(theirs, 'cpu'):.3f} s"
                    f" | {max(r.peak_kib for r in theirs) / 1024:.1f} MiB | {pairs:.2f} |"
                )
            print(row, flush=True)
        print(f"\nload after: {os.getloadavg()}")
        print("\n`status`, import time by package (python -X importtime, self times summed):")
        for name, ms in importtime(config):
            print(f"  {ms:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
