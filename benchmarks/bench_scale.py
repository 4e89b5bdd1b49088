"""Hand-run benchmark: posts per second of one and two daemons on one PostgreSQL store, with
a slow platform and many targets, and the store's claim rate (issue 22, target 2).

Run from the repository root (not collected by pytest; needs the ``test`` extra, which
brings psycopg and pgserver):

    .venv/bin/python benchmarks/bench_scale.py [--latency 0.2] [--targets 20]
        [--entries 100] [--daemons 1,2] [--modes poll,queued] [--repeat 1]
        [--baseline DIR] [--claimers 1,2,4,8] [--skip-throughput] [--skip-claims]

It starts a private PostgreSQL server (pgserver) in a temporary directory, then:

**Throughput.** For each mode, each N in ``--daemons`` and each code (this checkout, and
with ``--baseline DIR`` another checkout of FeedRelay run side by side, interleaved: its
daemons import ``bot`` and ``adapters`` from DIR through ``PYTHONPATH``; the store and the
fakes are this checkout's), a fresh database and one config: a feed on the loopback
``FakeBlog`` with ``--targets`` X targets (``x1`` ...; each its own template, so the texts
differ; ``min_interval = "0s"``) on one ``FakeX`` that waits ``--latency`` seconds before
every answer (a subclass here; tests/fakes is not changed) and whose rate-limit windows are
opened wide. The baseline poll is made in-process, then ``--entries`` entries are published:

* ``poll``: N ``python -m bot -v --config CFG run`` start with the feed due; one of them
  polls it and queues every delivery, and the others must hear of it (before issue 22: at
  their next lane tick, 15 s);
* ``queued``: the benchmark polls in-process first, so every delivery is queued before the
  N daemons start.

The clock runs from starting the daemons until the store has every delivery ``posted`` (a
``count(*)`` every 50 ms); "steady" is the rate from the first post to the last (start-up
left out). Then SIGTERM: every daemon must exit 0 without a traceback. From the fake's own
log: exactly one ``POST /2/tweets`` per delivery and as many distinct tweets (nothing posted
twice, nothing lost). Also: each daemon's share (its ``posted ... to`` log lines), the CPU
(user + sys) of each daemon (its rusage), of this process (the fakes' threads: FakeX and
the blog) and of the PostgreSQL server (the postmaster, its live children and those it
reaped, through psutil), the POSTs in flight at the fake (most, and the mean of a sample
every 50 ms from first post to last), and the load average before each run.

**Claims.** The store's own rate, no platform: one database with ``--claim-targets``
targets and enough queued deliveries, then N processes (``--claimers``) that each open the
store and, in a loop, ``claim_due`` one delivery of a target and ``settle`` it as posted
(what a lane does around each post, without the post), for ``--claim-seconds``. Two
layouts: every claimer on a target of its own (claims on different targets), and every
claimer on the same target (claims serialised by the target's row lock). Claims per second
in total, and the CPU of the claimers and of PostgreSQL per claim.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import psycopg  # noqa: E402
import sqlalchemy  # noqa: E402
from store_builder import Postgres  # noqa: E402

from bot.app import make_app  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.model import Decision, Delivery, DeliveryState, Published, Settlement  # noqa: E402
from bot.store import NewDelivery, open_store  # noqa: E402
from tests.conftest import ENV, X_SECRETS, x_target  # noqa: E402
from tests.fakes.feed_server import FakeBlog  # noqa: E402
from tests.fakes.server import Request, Response  # noqa: E402
from tests.fakes.x_api import FakeX  # noqa: E402

POSTED_LINE = re.compile(r" posted .* to x\d+: ")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> float:
    return os.getloadavg()[0]


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
    code: str  # "new" (this checkout) or "base" (--baseline)
    mode: str
    daemons: int
    deliveries: int
    seconds: float  # daemons started -> every delivery posted
    first_post: float  # daemons started -> the first delivery posted
    load: float  # the load average (1 min) before the run
    per_daemon: list[int] = field(default_factory=list)  # posts each daemon logged
    cpu: list[float] = field(default_factory=list)  # user + sys of each daemon
    fakes_cpu: float = 0.0  # this process meanwhile: FakeX, FakeBlog, the count(*) loop
    postgres_cpu: float = 0.0
    most_in_flight: int = 0
    mean_in_flight: float = 0.0
    sessions: int = 0  # connections the daemons opened to the database (pg_stat_database)

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


def sessions(url: str) -> int:
    """Connections made to this database so far (PostgreSQL's own count)."""
    with psycopg.connect(url) as c:
        row = c.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def throughput_run(
    pg: Postgres,
    work: Path,
    *,
    code: str,
    code_path: Path | None,
    daemons: int,
    mode: str,
    targets: int,
    entries: int,
    latency: float,
    timeout: float,
    profile: Path | None = None,
) -> RunResult:
    directory = Path(tempfile.mkdtemp(prefix=f"{code}-{mode}-{daemons}-", dir=work))
    url = pg.database("feedrelay_scale")
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
        if code_path is not None:
            env["PYTHONPATH"] = str(code_path)
        logs = [directory / f"daemon{i}.log" for i in range(daemons)]
        handles = [log.open("w") for log in logs]
        load = load_average()
        sessions_before = sessions(url)
        cpu_before, pg_before = own_cpu(), pg.cpu()
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
        profilers = [
            subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(proc.pid), "--format", "raw"),
                    *(
                        "--idle",
                        "--threads",
                        "--output",
                        str(profile / f"{directory.name}-{i}.txt"),
                    ),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, proc in enumerate(procs)
            if profile is not None
        ]
        first = None
        in_flight: list[int] = []
        samples = 0
        try:
            while True:
                posted, total = counts(url)
                samples += 1
                elapsed = time.perf_counter() - began
                if posted and first is None:
                    first = elapsed
                if first is not None:
                    in_flight.append(x.in_flight)
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
            for profiler in profilers:
                profiler.wait()
        fakes_cpu, pg_cpu = own_cpu() - cpu_before, pg.cpu() - pg_before
        time.sleep(0.5)  # PostgreSQL's statistics reach pg_stat_database within 0.5 s
        # Less the count(*) loop's own connections (one per sample) and this one.
        opened = sessions(url) - sessions_before - samples - 1
        per_daemon = []
        for log, exit_code in zip(logs, codes, strict=True):
            text = log.read_text()
            if exit_code != 0 or "Traceback" in text:
                raise SystemExit(f"{log} exited {exit_code}:\n{text[-3000:]}")
            per_daemon.append(len(POSTED_LINE.findall(text)))
        texts = [t["text"] for t in x.tweets]
        posts = len(x.requests_to("POST", r"/2/tweets"))
        problems = []
        if len(texts) != expected or len(set(texts)) != expected:
            problems.append(f"{len(texts)} tweets, {len(set(texts))} distinct")
        if posts != expected:
            problems.append(f"{posts} POST /2/tweets for {expected} deliveries")
        if sum(per_daemon) != expected:
            problems.append(f"the daemons logged {sum(per_daemon)} posts")
        if problems:
            raise SystemExit("posted twice or lost: " + "; ".join(problems))
        return RunResult(
            code=code,
            mode=mode,
            daemons=daemons,
            deliveries=expected,
            seconds=seconds,
            first_post=first or 0.0,
            load=load,
            per_daemon=per_daemon,
            cpu=cpu,
            fakes_cpu=fakes_cpu,
            postgres_cpu=pg_cpu,
            most_in_flight=x.most_in_flight,
            mean_in_flight=statistics.fmean(in_flight) if in_flight else 0.0,
            sessions=opened,
        )


def show_run(r: RunResult, one: RunResult | None) -> None:
    ratio = f"x{r.rate / one.rate:.2f}" if one else "  -  "
    steady = f"x{r.steady_rate / one.steady_rate:.2f}" if one else "  -  "
    print(
        f"  {r.code:<4} {r.mode:<6} {r.daemons}: {r.deliveries} posts in {r.seconds:6.2f} s ="
        f" {r.rate:5.1f}/s ({ratio} of one); first post {r.first_post:5.2f} s, then"
        f" {r.steady_rate:5.1f}/s ({steady}); shares {r.per_daemon}; CPU daemons"
        f" {[round(c, 1) for c in r.cpu]} s, fakes {r.fakes_cpu:.1f} s, PostgreSQL"
        f" {r.postgres_cpu:.1f} s; in flight {r.mean_in_flight:.1f} mean, {r.most_in_flight}"
        f" most; {r.sessions} connections opened; load {r.load:.2f}",
        flush=True,
    )


def throughput(pg: Postgres, work: Path, args: argparse.Namespace) -> list[RunResult]:
    codes: list[tuple[str, Path | None]] = [("new", None)]
    if args.baseline:
        codes.insert(0, ("base", Path(args.baseline).resolve()))
    daemons = [int(n) for n in args.daemons.split(",")]
    results: list[RunResult] = []
    for repeat in range(args.repeat):
        print(f"\n# repeat {repeat + 1} of {args.repeat}", flush=True)
        for mode in args.modes.split(","):
            for code, code_path in codes:
                one = None
                for n in daemons:
                    r = throughput_run(
                        pg,
                        work,
                        code=code,
                        code_path=code_path,
                        daemons=n,
                        mode=mode,
                        targets=args.targets,
                        entries=args.entries,
                        latency=args.latency,
                        timeout=args.timeout,
                        profile=args.profile,
                    )
                    one = one or (r if n == 1 else None)
                    results.append(r)
                    show_run(r, one)
    summary(results, codes, daemons, args.modes.split(","))
    return results


def summary(
    results: list[RunResult],
    codes: list[tuple[str, Path | None]],
    daemons: list[int],
    modes: list[str],
) -> None:
    """Medians over the repeats; each ratio is taken within one repeat, then its median."""
    print("\n## medians: posts/s (whole run), steady posts/s, ratio to one daemon of the same")
    print("## repeat (whole, steady), CPU per daemon, fakes and PostgreSQL CPU, mean in flight")
    for mode in modes:
        for code, _ in codes:
            rows = [r for r in results if r.mode == mode and r.code == code]
            ones = [r for r in rows if r.daemons == 1]
            for n in daemons:
                runs = [r for r in rows if r.daemons == n]
                ratios = [r.rate / o.rate for r, o in zip(runs, ones, strict=False)]
                steadies = [r.steady_rate / o.steady_rate for r, o in zip(runs, ones, strict=False)]
                med: Callable[[list[float]], float] = statistics.median
                print(
                    f"  {code:<4} {mode:<6} {n}: {med([r.rate for r in runs]):5.1f}/s,"
                    f" steady {med([r.steady_rate for r in runs]):5.1f}/s,"
                    f" x{med(ratios or [0]):.2f} / x{med(steadies or [0]):.2f}"
                    f" of one; CPU per daemon"
                    f" {med([statistics.fmean(r.cpu) for r in runs]):.1f} s"
                    f" ({med([1000 * sum(r.cpu) / r.deliveries for r in runs]):.1f} ms a post),"
                    f" fakes {med([r.fakes_cpu for r in runs]):.1f} s,"
                    f" PostgreSQL {med([r.postgres_cpu for r in runs]):.1f} s;"
                    f" in flight {med([r.mean_in_flight for r in runs]):.1f}",
                    flush=True,
                )


# -- claims ------------------------------------------------------------------------------
CLAIM_LEASE = timedelta(minutes=10)


def claim_store(pg: Postgres, targets: int, rows_per_target: int) -> str:
    """A database with ``targets`` targets of ``rows_per_target`` queued deliveries each,
    made through the store (its schema, its inserts)."""
    from bot.model import Entry, Post
    from bot.store import NewEntry

    url = pg.database("feedrelay_claims")
    store = open_store(url)
    now = datetime.now(UTC) - timedelta(minutes=1)
    try:
        batch = []
        for number in range(rows_per_target):
            entry = Entry(
                feed="blog",
                key=f"entry-{number}",
                link=f"https://blog.example/{number}",
                title=f"Entry {number}",
                published_at=now,
            )
            deliveries = [
                NewDelivery(
                    target=f"t{t}",
                    platform="webhook",
                    post=Post(text=f"Entry {number} for t{t}", link=entry.link),
                    due_at=now,
                )
                for t in range(targets)
            ]
            batch.append(
                NewEntry(entry=entry, content_hash=f"{number:064x}", deliveries=deliveries)
            )
            if len(batch) == 500:
                _record(store, batch, now)
                batch = []
        if batch:
            _record(store, batch, now)
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    return url


def _record(store: Any, batch: list[Any], now: datetime) -> None:
    from bot.model import FeedState

    feed = FeedState(name="blog", url="https://blog.example/feed", baseline_done=True)
    store.record_poll(batch, seen_at=now, feed_state=feed)


def _send_every_row(delivery: Delivery, state: Any, link_posted: bool) -> Decision:
    return Decision(action="send", reason="benchmark")


def claimer(url: str, target: str, seconds: float, start: Any, out: Any) -> None:
    """One claimer process: claim and settle ``target``'s rows for ``seconds``."""
    store = open_store(url)
    worker = f"bench:{os.getpid()}"
    done = 0
    start.wait()
    began = time.perf_counter()
    cpu = own_cpu()
    while time.perf_counter() - began < seconds:
        now = datetime.now(UTC)
        claimed = store.claim_due(
            now, target=target, worker=worker, lease=CLAIM_LEASE, decide=_send_every_row
        )
        if not claimed:
            break
        published = Published(remote_id=f"r{claimed[0].id}", url="")
        store.settle(
            claimed[0],
            Settlement(state=DeliveryState.POSTED, published=published),
            now=now,
            elapsed=0.0,
        )
        done += 1
    out.put((done, time.perf_counter() - began, own_cpu() - cpu))
    store.close()


def claims(pg: Postgres, args: argparse.Namespace) -> None:
    claimers = [int(n) for n in args.claimers.split(",")]
    print(
        f"\n## claims: claim_due + settle (posted) in a loop, no platform,"
        f" {args.claim_seconds:g} s per measurement",
        flush=True,
    )
    context = multiprocessing.get_context("spawn")
    for layout in ("own target", "one target"):
        for n in claimers:
            # Enough rows that no claimer runs out (600 claims/s each: more than measured).
            own = layout == "own target"
            rows = int(600 * args.claim_seconds * (1 if own else n)) + 100
            targets = n if own else 1
            url = claim_store(pg, targets, rows)
            start, out = context.Event(), context.Queue()
            procs = [
                context.Process(
                    target=claimer,
                    args=(url, f"t{i if own else 0}", args.claim_seconds, start, out),
                )
                for i in range(n)
            ]
            for proc in procs:
                proc.start()
            time.sleep(2.0)  # every claimer imported and connected
            load = load_average()
            pg_before = pg.cpu()
            start.set()
            got = [out.get() for _ in procs]
            pg_cpu = pg.cpu() - pg_before
            for proc in procs:
                proc.join()
            done = sum(g[0] for g in got)
            wall = max(g[1] for g in got)
            cpu = sum(g[2] for g in got)
            print(
                f"  {layout:<10} {n:2} claimer(s): {done / wall:7.1f} claims/s"
                f" ({done} in {wall:.1f} s); CPU per claim: claimers {1000 * cpu / done:.2f} ms,"
                f" PostgreSQL {1000 * pg_cpu / done:.2f} ms; load {load:.2f}",
                flush=True,
            )


def machine(pg: Postgres) -> str:
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1]
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc {os.cpu_count()};"
        f" memory {free.split()[1]}; {platform.system()} {platform.release()}"
        f" {platform.machine()}; Python {platform.python_version()}; SQLAlchemy"
        f" {sqlalchemy.__version__}; psycopg {psycopg.__version__}; PostgreSQL {pg.version}"
        f" (pgserver, {json.dumps(pg.settings)}); load average {os.getloadavg()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", default="1,2", help="daemon counts (default 1,2)")
    parser.add_argument("--modes", default="poll,queued", help="poll and/or queued")
    parser.add_argument("--targets", type=int, default=20, help="X targets (default 20)")
    parser.add_argument("--entries", type=int, default=100, help="new entries (default 100)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (default 1)")
    parser.add_argument("--baseline", help="another checkout, run side by side (e.g. main)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    parser.add_argument("--claimers", default="1,2,4,8", help="claimer counts")
    parser.add_argument("--claim-seconds", type=float, default=5.0)
    parser.add_argument(
        "--profile", type=Path, help="a directory: py-spy records each daemon there (raw stacks)"
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-claims", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feedrelay-scale-") as temp:
        work = Path(temp)
        pg = Postgres(work)
        try:
            print(machine(pg), flush=True)
            if not args.skip_throughput:
                print(
                    f"\n## throughput: {args.targets} X targets on one FakeX,"
                    f" {args.latency * 1000:.0f} ms before every answer,"
                    f" {args.entries} entries ({args.entries * args.targets} posts)",
                    flush=True,
                )
                throughput(pg, work, args)
            if not args.skip_claims:
                claims(pg, args)
        finally:
            pg.close()


if __name__ == "__main__":
    main()
