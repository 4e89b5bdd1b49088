"""Hand-run benchmark: the CPU one post costs, end to end and in the dispatch, per platform.

Run from the repository root (not collected by pytest; needs the ``test`` extra):

    .venv/bin/python benchmarks/bench_post_cpu.py [--platforms twitter,reddit,...]
        [--entries 200] [--runs 3] [--baseline-tree /path/to/another/checkout]
        [--profile DIR]

For each platform, each run, and each tree (this checkout, and with ``--baseline-tree`` the
other one, interleaved so that both see the same load), a fresh directory with:

* the platform's loopback fake from ``tests/platforms/<platform>.py`` (zero latency, its
  rate limits opened wide) and a ``FakeBlog``, both served from this process;
* a config: one feed (``max_new_per_poll`` above ``--entries``) for one target of that
  platform (``min_interval = "0s"``; on X and Mastodon the hooks' template gains
  ``{hashtags}``, as the default template has).

**End to end.** ``python -m bot --config CFG run --once`` in a subprocess, with that tree
first on ``PYTHONPATH``: once on the empty feed (the baseline poll), then after the blog
gained ``--entries`` entries (each with a few paragraphs, a link and three labels), then
once more with nothing new (idle). The CPU of a run is the child's user + sys
(``os.wait4`` rusage); per post = (the busy run's CPU - the idle run's) / entries. That is
each post's share of fetching, parsing and rendering the feed, the claim, the request
through the platform's real client library (opening the adapter included: a login, the
library's import) and the settlement, with the run's logging as ``run`` sets it.

**Dispatch.** In another subprocess (same tree, same kind of directory): the app is made,
registered as a runner, the feed polled (the entries queued), the target's adapter opened
(reported on its own: a one-off per process), then ``App.dispatch_due()`` over the queued
deliveries timed with ``time.process_time()``; per post = that / entries.

The fakes run in this process, so neither figure counts the fake's CPU. After every run the
fake's own record must show each entry's link exactly once (``posted_links``) and exactly
one create request per entry.

``--profile DIR`` adds, for the first platform and this tree only, a cProfile of the
dispatch (CPU time, ``DIR/dispatch-<platform>.pstats``) and a py-spy record of the busy
``run --once`` (``DIR/once-<platform>.txt``, collapsed stacks; needs ``py-spy``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from tests.fakes.feed_server import FakeBlog  # noqa: E402
from tests.platforms import hooks  # noqa: E402

PLATFORMS = ("twitter", "reddit", "tumblr", "bluesky", "mastodon", "webhook")
TARGET = "target"
LABELS = ("Gardening", "Raspberry Pi", "Oil & Gas", "machine learning", "C++", "Rust")
HTML = (
    "<p>Paragraph {n} about the allotment, with <b>bold</b> words and a "
    '<a href="https://example.org/notes/{n}">link to the notes</a>.</p>'
    "<p>" + "Some words about tomatoes, blight and the weather this week. " * 6 + "</p>"
)

# Run inside the dispatch subprocess, with the measured tree first on PYTHONPATH.
DISPATCH_CHILD = """
import json, logging, os, sys, time
import bot
from bot.app import make_app
from bot.config import load_config
from pathlib import Path

config_path, target, profile = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
logging.basicConfig(
    level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    stream=sys.stderr,
)
for name in ("bot", "adapters"):  # as `run` sets them
    logging.getLogger(name).setLevel(logging.INFO)
config = load_config(config_path)
with make_app(config) as app, app.running("once"):
    app.start_polling()
    app.poll_due_feeds(everything=True)
    began = time.process_time()
    app.dispatcher._adapter(target)
    opened = time.process_time() - began
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    began = time.process_time()
    outcomes = app.dispatch_due()
    spent = time.process_time() - began
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
print(json.dumps({
    "bot": bot.__file__, "open": opened, "dispatch": spent,
    "posted": sum(1 for o in outcomes if o.state.value == "posted"), "outcomes": len(outcomes),
}))
"""


@dataclass
class Measured:
    tree: str
    once_busy: float  # CPU seconds of the run --once that posted every entry
    once_idle: float  # CPU seconds of the run --once with nothing new
    dispatch: float  # process_time of dispatch_due over every entry
    adapter_open: float  # process_time of opening the adapter (once per process)
    entries: int

    @property
    def end_to_end_ms(self) -> float:
        return (self.once_busy - self.once_idle) / self.entries * 1000

    @property
    def dispatch_ms(self) -> float:
        return self.dispatch / self.entries * 1000


def start_wide_open(platform: ModuleType) -> Any:
    """The platform's fake with its rate limits out of the way of a few hundred posts."""
    fake = platform.start_fake()
    name = platform.PLATFORM
    if name == "twitter":
        for window in (fake._window, fake._user_day, fake._app_day):
            window.limit = 10**9
    elif name == "mastodon":
        fake.remaining = 10**9
    elif name == "tumblr":
        fake.day_remaining = fake.hour_remaining = 10**9
    return fake


def target_table(platform: ModuleType, fake: Any) -> str:
    table = platform.target_table(fake.url, TARGET)
    # The hooks' template ends with the link (posted_links reads it there); the default
    # template renders hashtags too, so the benchmark does.
    table = table.replace('template = "{title} {url}"', 'template = "{title} {hashtags} {url}"')
    return table + 'min_interval = "0s"\n'


def write_config(directory: Path, blog: FakeBlog, table: str, entries: int) -> Path:
    path = directory / "feedrelay.toml"
    path.write_text(
        '[bot]\ndatabase = "state.sqlite"\npoll_interval = "10m"\n\n'
        f'[feeds.blog]\nurl = "{blog.feed_url}"\ntargets = ["{TARGET}"]\nbackfill = 0\n'
        f"max_new_per_poll = {entries * 10}\n\n{table}"
    )
    return path


def publish(blog: FakeBlog, entries: int) -> list[str]:
    now = datetime.now(UTC).replace(microsecond=0)
    links = []
    for n in range(entries):
        entry = blog.add_entry(
            f"Benchmark entry {n}: tomatoes and a Raspberry Pi",
            HTML.format(n=n),
            labels=[LABELS[(n + k) % len(LABELS)] for k in range(3)],
            published_at=now - timedelta(minutes=entries - n),
        )
        links.append(blog.entry_url(entry))
    return links


def child_env(platform: ModuleType, tree: Path) -> dict[str, str]:
    env = {**os.environ, **platform.ENV, "PYTHONPATH": str(tree)}
    env.pop("FEEDRELAY_FAILPOINT", None)
    return env


def run_once(
    path: Path, platform: ModuleType, tree: Path, prefix: tuple[str, ...] = ()
) -> tuple[float, str]:
    """CPU seconds (user + sys) of one ``run --once``, and its stderr."""
    log = path.parent / "run.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "bot", "--config", str(path), "run", "--once"],
            env=child_env(platform, tree),
            cwd=path.parent,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    text = log.read_text()
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or "Traceback" in text:
        raise SystemExit(f"run --once exited {code} ({tree}):\n{text[-3000:]}")
    return usage.ru_utime + usage.ru_stime, text


def check_once_each(platform: ModuleType, fake: Any, links: list[str], tree: Path) -> None:
    posted = sorted(platform.posted_links(fake))
    method, create = platform.CREATE
    requests = len(fake.requests_to(method, create))
    if posted != sorted(links) or requests != len(links):
        raise SystemExit(
            f"{platform.PLATFORM} ({tree}): {len(posted)} posts ({len(set(posted))} distinct) and"
            f" {requests} create requests for {len(links)} entries"
        )


def measure(
    name: str, tree: Path, entries: int, work: Path, profile: Path | None = None
) -> Measured:
    platform = hooks(name)
    # End to end.
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-once-", dir=work))
    fake = start_wide_open(platform)
    try:
        with FakeBlog() as blog:
            path = write_config(directory, blog, target_table(platform, fake), entries)
            run_once(path, platform, tree)  # the baseline poll: nothing queued
            links = publish(blog, entries)
            spy = ()
            if profile is not None:
                out = profile / f"once-{name}.txt"
                spy = (
                    "py-spy",
                    "record",
                    "--gil",
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "-o",
                    str(out),
                    "--",
                )
            busy, text = run_once(path, platform, tree, spy)
            if text.count(" posted ") != entries:
                raise SystemExit(f"{name}: run --once logged {text.count(' posted ')} posts")
            idle, _ = run_once(path, platform, tree)
            check_once_each(platform, fake, links, tree)
    finally:
        fake.stop()
    # Dispatch.
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-dispatch-", dir=work))
    fake = start_wide_open(platform)
    try:
        with FakeBlog() as blog:
            path = write_config(directory, blog, target_table(platform, fake), entries)
            run_once(path, platform, tree)
            links = publish(blog, entries)
            stats = str(profile / f"dispatch-{name}.pstats") if profile is not None else ""
            done = subprocess.run(
                [sys.executable, "-c", DISPATCH_CHILD, str(path), TARGET, stats],
                env=child_env(platform, tree),
                cwd=directory,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"dispatch child failed ({tree}):\n{done.stderr[-3000:]}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            if not figures["bot"].startswith(str(tree)):
                raise SystemExit(f"the child imported {figures['bot']}, not from {tree}")
            if figures["posted"] != entries or figures["outcomes"] != entries:
                raise SystemExit(f"{name}: the dispatch posted {figures['posted']} of {entries}")
            check_once_each(platform, fake, links, tree)
    finally:
        fake.stop()
    shutil.rmtree(work / directory, ignore_errors=True)
    return Measured(
        tree=str(tree),
        once_busy=busy,
        once_idle=idle,
        dispatch=figures["dispatch"],
        adapter_open=figures["open"],
        entries=entries,
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", default=",".join(PLATFORMS))
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to compare with")
    parser.add_argument("--profile", type=Path, help="write profiles of the first platform here")
    args = parser.parse_args()

    trees = [("after", ROOT)]
    if args.baseline_tree is not None:
        trees.append(("before", args.baseline_tree.resolve()))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        if shutil.which("py-spy") is None:
            raise SystemExit("--profile needs py-spy on PATH")
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()},"
        f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, Python"
        f" {sys.version.split()[0]}; {args.entries} entries a run, {args.runs} runs",
        flush=True,
    )
    for label, tree in trees:
        commit = subprocess.run(
            ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        print(f"  {label}: {tree} {commit[:70] or '(not a git checkout)'}")

    results: dict[tuple[str, str], list[Measured]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-post-cpu-") as tmp:
        work = Path(tmp)
        for n, name in enumerate(args.platforms.split(",")):
            for run in range(args.runs):
                order = trees if run % 2 == 0 else trees[::-1]
                for label, tree in order:
                    profile = args.profile if (n == 0 and run == 0 and label == "after") else None
                    began = time.perf_counter()
                    m = measure(name, tree, args.entries, work, profile)
                    results.setdefault((name, label), []).append(m)
                    print(
                        f"  {name:<9} {label:<6} run {run + 1}: end to end"
                        f" {m.end_to_end_ms:6.2f} ms/post (busy {m.once_busy:.2f} s, idle"
                        f" {m.once_idle:.2f} s); dispatch {m.dispatch_ms:6.2f} ms/post;"
                        f" adapter open {m.adapter_open * 1000:.0f} ms"
                        f" [{time.perf_counter() - began:.0f} s]",
                        flush=True,
                    )

    print(
        f"\nmedians of {args.runs} runs, ms of CPU per post; load average {os.getloadavg()[0]:.2f}"
    )
    print("(open: opening the adapter, a library's import and a login, once per process, per post)")
    header = f"{'platform':<10} {'end to end':>11} {'dispatch':>9} {'open':>6}"
    if len(trees) > 1:
        header += f" {'before e2e':>11} {'before disp':>12} {'e2e ratio':>10} {'disp ratio':>11}"
    print(header)
    for name in args.platforms.split(","):
        after = results[(name, "after")]
        e2e, disp = median([m.end_to_end_ms for m in after]), median([m.dispatch_ms for m in after])
        opened = median([m.adapter_open / m.entries * 1000 for m in after])
        line = f"{name:<10} {e2e:11.2f} {disp:9.2f} {opened:6.2f}"
        if len(trees) > 1:
            before = results[(name, "before")]
            b_e2e = median([m.end_to_end_ms for m in before])
            b_disp = median([m.dispatch_ms for m in before])
            line += f" {b_e2e:11.2f} {b_disp:12.2f} {e2e / b_e2e:10.2f} {disp / b_disp:11.2f}"
        print(line)


if __name__ == "__main__":
    main()
