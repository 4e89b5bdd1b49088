"""Hand-run benchmark: 500 Blogger-shaped feeds on a loopback server, polled by FeedRelay's
real CLI and by the naive way (a sequential ``feedparser.parse(url)`` loop, no validators).

Run from the repository root (takes about eight minutes on 2 cores):

    .venv/bin/python benchmarks/bench_feeds.py            # --pool on|off|both (default both)

``--pool both`` measures the first cycle and the idle daemon twice, in turn: with the parse
workers (``[bot] parse_workers`` left to its default, one per core) and without them
(``parse_workers = 0``, every feed parsed in the daemon's process, as before issue 22), so
before and after share the machine's load. Every figure is printed with its ratio to the
naive loop measured in the same run.

The server is this script in a subprocess (``--serve``): a ``ThreadingHTTPServer`` that
sleeps 20 ms before each answer and serves 500 distinct Atom feeds of about 100 KB with 25
entries each, with an ``ETag`` (``If-None-Match`` that matches gets a 304). A control URL
turns validators off: then every fetch gets a 200 with the same body, which FeedRelay
recognises by its hash and does not parse again.

Every measured client is a subprocess; wall time is ``time.perf_counter`` around it, CPU
time (user + sys) is the delta of ``getrusage(RUSAGE_CHILDREN)`` (which counts the parse
workers too: they are the child's children, waited for) and peak RSS is that one child's
``ru_maxrss`` from ``os.wait4`` (the daemon's process alone). Measured, each as a median of
``--runs``, the naive loop and the first cycles taken in turn within each run:

- the naive loop: 500 x ``feedparser.parse(url)``, one after the other;
- ``python -m bot --config CFG run --once`` on a new store: the first cycle (all 200; every
  feed parsed and its 25 entries recorded as the baseline, which posts nothing);
- the same on the store the first cycle left: the steady cycle (all 304);
- the same with validators ignored by the server: every body unchanged (the hash skip);
- ``feedrelay --help``: start-up;
- the idle daemon: ``python -m bot --config CFG run`` until its first cycle is recorded in
  the store, then ``VmRSS`` from ``/proc/PID/status`` of the daemon and of every process
  it started (after a full first cycle on a new store, and after a steady cycle on the
  warm store); while the cycle runs, the sum of their ``VmRSS`` is sampled every 0.1 s;
- in this process, parsing 20 of the feeds with feedparser's sanitizer and relative-URI
  resolution on and off, and through ``bot.feeds.parse``.

Not ``run --once --dry-run``: a dry run rolls its store back at exit, so no ETag or body
hash would ever be kept and every "steady" cycle would be a first cycle again. The real run
posts nothing here either: the first cycle is a baseline and the later cycles find nothing
new, so the X target's API (pointed at a closed loopback port) is never called.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

FEEDS = 500
ENTRIES = 25
FEED_BYTES = 100_000
LATENCY_S = 0.020
BLOG_ID = "7741592316467340211"
LABELS = ["Gardening", "Raspberry Pi", "Rust", "Oil & Gas", "machine learning", "C++", "Travel"]
TEXT = (
    "the allotment was wet again this week and the tomatoes are showing the first signs of "
    "blight so we cut the lower leaves and moved the pots under the roof of the shed while "
    "the beans climbed higher than last year"
)
WORDS = re.findall(r"\w+", TEXT)


# -- the feeds -----------------------------------------------------------------------------


def _paragraph(seed: int, words: int) -> str:
    text = " ".join(WORDS[(seed * 7 + i) % len(WORDS)] for i in range(words))
    return (
        '<p style="text-align: justify;"><span style="font-family: &quot;georgia&quot; , '
        f'&quot;times new roman&quot; , serif;">{text.capitalize()}, with <b>bold</b>, '
        f'<i>italics</i> and <a href="https://example.org/notes/{seed}">a link</a>.</span></p>'
    )


def _entry_html(feed: int, n: int, paragraphs: int) -> str:
    image = f"https://blogger.googleusercontent.com/img/b/R29vZ2xl/AVvXsEi{feed}x{n}"
    parts = ['<div dir="ltr" style="text-align: left;" trbidi="on">']
    for p in range(paragraphs):
        parts.append(_paragraph(feed * 31 + n * 7 + p, 28))
        if p == 0:
            parts.append(
                '<div class="separator" style="clear: both; text-align: center;">'
                f'<a href="{image}/s1600/IMG_{n}.jpg" imageanchor="1" '
                'style="margin-left: 1em; margin-right: 1em;"><img border="0" '
                'data-original-height="1200" data-original-width="1600" height="240" '
                f'src="{image}/s320/IMG_{n}.jpg" width="320" /></a></div>'
            )
        parts.append("<br />")
    parts.append("</div>")
    return "".join(parts)


def blogger_feed(feed: int, base: str, *, paragraphs: int = 6) -> bytes:
    """One Blogger-shaped Atom feed (the shape of the tests' FakeBlog, with Blogger's
    replies/edit/self links, author details and comment counts), newest first."""
    blog = f"{base}/blog{feed:03d}"
    feed_url = f"{base}/feeds/{feed:03d}/posts/default"
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=feed)
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        "<feed xmlns='http://www.w3.org/2005/Atom' "
        "xmlns:openSearch='http://a9.com/-/spec/opensearchrss/1.0/' "
        "xmlns:blogger='http://schemas.google.com/blogger/2008' "
        "xmlns:georss='http://www.georss.org/georss' "
        "xmlns:gd='http://schemas.google.com/g/2005' "
        "xmlns:thr='http://purl.org/syndication/thread/1.0' "
        "xmlns:media='http://search.yahoo.com/mrss/'>",
        f"<id>tag:blogger.com,1999:blog-{BLOG_ID}{feed:03d}</id>",
        f"<updated>{(start + timedelta(hours=ENTRIES)).isoformat()}</updated>",
        f"<title type='text'>Field Notes {feed}</title>",
        "<subtitle type='html'>A garden, a shed and a Raspberry Pi.</subtitle>",
        f"<link rel='http://schemas.google.com/g/2005#feed' type='application/atom+xml' "
        f"href='{feed_url}'/>",
        f"<link rel='self' type='application/atom+xml' href='{feed_url}'/>",
        f"<link rel='alternate' type='text/html' href='{blog}/'/>",
        "<link rel='hub' href='http://pubsubhubbub.appspot.com/'/>",
        f"<link rel='next' type='application/atom+xml' href='{feed_url}"
        f"?start-index=26&amp;max-results=25'/>",
        "<author><name>Maren Holt</name><uri>https://www.blogger.com/profile/1</uri>"
        "<email>noreply@blogger.com</email></author>",
        "<generator version='7.00' uri='http://www.blogger.com'>Blogger</generator>",
        "<openSearch:totalResults>240</openSearch:totalResults>",
        "<openSearch:startIndex>1</openSearch:startIndex>",
        "<openSearch:itemsPerPage>25</openSearch:itemsPerPage>",
    ]
    for n in reversed(range(ENTRIES)):
        when = (start + timedelta(hours=n)).isoformat()
        post_id = 5_000_000_000_000_000_000 + feed * 1000 + n
        title = f"Week {n}: tomatoes, blight and a Raspberry Pi (blog {feed})"
        link = f"{blog}/2026/11/week-{n}.html"
        image = f"https://blogger.googleusercontent.com/img/b/R29vZ2xl/AVvXsEi{feed}x{n}"
        parts.append("<entry>")
        parts.append(f"<id>tag:blogger.com,1999:blog-{BLOG_ID}.post-{post_id}</id>")
        parts.append(f"<published>{when}</published><updated>{when}</updated>")
        for label in LABELS[n % 4 : n % 4 + 3]:
            parts.append(
                f"<category scheme='http://www.blogger.com/atom/ns#' term={quoteattr(label)}/>"
            )
        parts.append(f"<title type='text'>{escape(title)}</title>")
        html = _entry_html(feed, n, paragraphs)
        parts.append(f"<content type='html'>{escape(html)}</content>")
        parts.append(
            f"<link rel='replies' type='application/atom+xml' "
            f"href='{blog}/feeds/{post_id}/comments/default' title='Post Comments'/>"
            f"<link rel='replies' type='text/html' href='{link}#comment-form' "
            "title='0 Comments'/>"
            f"<link rel='edit' type='application/atom+xml' "
            f"href='https://www.blogger.com/feeds/{BLOG_ID}/posts/default/{post_id}'/>"
            f"<link rel='self' type='application/atom+xml' "
            f"href='https://www.blogger.com/feeds/{BLOG_ID}/posts/default/{post_id}'/>"
            f"<link rel='alternate' type='text/html' href={quoteattr(link)} "
            f"title={quoteattr(title)}/>"
        )
        parts.append(
            "<author><name>Maren Holt</name><uri>https://www.blogger.com/profile/1</uri>"
            "<email>noreply@blogger.com</email><gd:image "
            "rel='http://schemas.google.com/g/2005#thumbnail' width='16' height='16' "
            "src='https://img1.blogblog.com/img/b16-rounded.gif'/></author>"
        )
        parts.append(
            f"<media:thumbnail url='{image}/s72-c/IMG_{n}.jpg' height='72' width='72'/>"
            "<thr:total>0</thr:total>"
        )
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")


def paragraphs_for(size: int) -> int:
    """How many paragraphs an entry needs for a feed of about ``size`` bytes."""
    best = 1
    for paragraphs in range(1, 40):
        if len(blogger_feed(0, "http://127.0.0.1:65535", paragraphs=paragraphs)) > size:
            break
        best = paragraphs
    below = len(blogger_feed(0, "http://127.0.0.1:65535", paragraphs=best))
    above = len(blogger_feed(0, "http://127.0.0.1:65535", paragraphs=best + 1))
    return best if size - below <= above - size else best + 1


# -- the server (a subprocess) -------------------------------------------------------------


def serve(port_file: Path, feeds: int, size: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    paragraphs = paragraphs_for(size)
    state: dict[str, Any] = {
        "bodies": [],
        "validators": True,
        "counts": {},
        "lock": threading.Lock(),
    }
    modified = format_datetime(datetime(2026, 11, 27, tzinfo=UTC), usegmt=True)
    for index in range(feeds):
        body = blogger_feed(index, base, paragraphs=paragraphs)
        state["bodies"].append((body, f'"blogger-{index}-v1"', modified))
    server.state = state  # type: ignore[attr-defined]
    port_file.write_text(base)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.05)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Blogger
    _FEED = re.compile(r"/feeds/(\d+)/posts/default")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path.startswith("/_control/"):
            action = path.removeprefix("/_control/")
            with state["lock"]:
                if action == "validators-off":
                    state["validators"] = False
                elif action == "validators-on":
                    state["validators"] = True
                counts = dict(state["counts"])
                if action == "reset":
                    state["counts"] = {}
            self._send(200, json.dumps(counts).encode(), {"Content-Type": "application/json"})
            return
        time.sleep(LATENCY_S)
        found = self._FEED.fullmatch(path)
        if not found or int(found.group(1)) >= len(state["bodies"]):
            self._count(404)
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        body, etag, modified = state["bodies"][int(found.group(1))]
        headers = {"ETag": etag, "Last-Modified": modified}
        if state["validators"] and self.headers.get("If-None-Match") == etag:
            self._count(304)
            self._send(304, b"", headers)
            return
        self._count(200)
        self._send(200, body, {"Content-Type": "application/atom+xml; charset=UTF-8", **headers})

    def _count(self, status: int) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        with state["lock"]:
            state["counts"][str(status)] = state["counts"].get(str(status), 0) + 1


class Server:
    def __init__(self, feeds: int, size: int, workdir: Path) -> None:
        port_file = workdir / "server-url"
        command = [sys.executable, __file__, "--serve", str(port_file), "--feeds", str(feeds)]
        self.process = subprocess.Popen([*command, "--size", str(size)])
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("the feed server did not start")
            time.sleep(0.05)
        self.base = port_file.read_text()
        self.feeds = feeds

    def url(self, index: int) -> str:
        return f"{self.base}/feeds/{index:03d}/posts/default"

    def control(self, action: str) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.base}/_control/{action}", timeout=10) as answer:
            counts: dict[str, int] = json.loads(answer.read())
            return counts

    def body(self, index: int) -> bytes:
        with urllib.request.urlopen(self.url(index), timeout=10) as answer:
            return bytes(answer.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# -- measuring subprocesses ----------------------------------------------------------------


class Run:
    def __init__(self, wall: float, cpu: float, peak_kb: int, code: int) -> None:
        self.wall = wall
        self.cpu = cpu
        self.peak_mb = peak_kb / 1024
        self.code = code


def measure(command: Sequence[str], log: Path, cwd: Path | None = None) -> Run:
    """Run ``command`` to its end: wall time, user+sys CPU, peak RSS (that child's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("ab") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=out, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(wall, cpu, usage.ru_maxrss, process.returncode)


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        int(statistics.median(r.peak_mb for r in runs) * 1024),
        max(r.code for r in runs),
    )


NAIVE = """\
import sys, feedparser
entries = 0
for url in open(sys.argv[1]).read().split():
    entries += len(feedparser.parse(url).entries)
print(f"naive loop: {entries} entries")
"""


def write_config(workdir: Path, server: Server, database: str, *, pool: bool = True) -> Path:
    lines = [
        "[bot]",
        f'database = "{database}"',
        'poll_interval = "1h"',
        *([] if pool else ["parse_workers = 0"]),
        "",
    ]
    for index in range(server.feeds):
        lines += [f"[feeds.blog{index:03d}]", f'url = "{server.url(index)}"', 'targets = ["x"]', ""]
    lines += [
        "[targets.x]",
        'platform = "twitter"',
        'consumer_key = "bench"',
        'consumer_secret = "bench"',
        'access_token = "bench"',
        'access_token_secret = "bench"',
        "# never called: the cycles measured here post nothing",
        'api_base = "http://127.0.0.1:9"',
    ]
    path = workdir / f"{database}-workers-{'on' if pool else 'off'}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def store_count(database: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1


# -- the idle daemon -------------------------------------------------------------------------


def _rss_mb(pid: int) -> tuple[float, float]:
    """``VmRSS`` and ``VmHWM`` of one process, in MB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:
        return 0.0, 0.0  # a zombie
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (from ``/proc/*/stat``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


class Idle:
    def __init__(self, cycle: float, rss: float, hwm: float, others: list[float], peak: float):
        self.cycle = cycle  # seconds to the end of the first cycle
        self.rss = rss  # the daemon's VmRSS, idle, MB
        self.hwm = hwm  # the daemon's VmHWM
        self.others = others  # VmRSS of each process it left running, idle
        self.peak = peak  # the most the daemon and its processes held at once, sampled

    @property
    def total(self) -> float:
        return self.rss + sum(self.others)


def idle_daemon(config: Path, database: Path, feeds: int, log: Path) -> Idle:
    """Start the daemon, wait until every feed has been checked (the store says so), let it
    settle, and read its memory and that of every process it started."""
    start = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"], stdout=out, stderr=out
        )
    peak = 0.0
    try:
        checked = "SELECT count(*) FROM feeds WHERE last_checked_at IS NOT NULL"
        deadline = time.monotonic() + 600
        while store_count(database, checked) < feeds:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not finish its first cycle; see {log}")
            pids = [process.pid, *_descendants(process.pid)]
            peak = max(peak, sum(_rss_mb(pid)[0] for pid in pids))
            time.sleep(0.1)
        cycle = time.perf_counter() - start
        time.sleep(5)  # idle: the poll job is done, the lanes have ticked once
        rss, hwm = _rss_mb(process.pid)
        others = [_rss_mb(pid)[0] for pid in _descendants(process.pid)]
        others = [mb for mb in others if mb]
        peak = max(peak, rss + sum(others))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return Idle(cycle, rss, hwm, others, peak)


# -- parsing in this process ---------------------------------------------------------------


def parse_timings(server: Server, count: int) -> dict[str, float]:
    """Seconds per feed: feedparser with its sanitizer / relative-URI resolution on and off,
    and FeedRelay's whole ``feeds.parse`` (decode, checks, feedparser, normalising)."""
    import feedparser

    from bot import feeds

    bodies = [(server.url(i), server.body(i)) for i in range(count)]

    def best(func: Callable[[str, bytes], object]) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for url, body in bodies:
                func(url, body)
            times.append((time.perf_counter() - start) / len(bodies))
        return min(times)

    def raw(sanitize: bool, resolve: bool) -> Callable[[str, bytes], object]:
        def parse(url: str, body: bytes) -> object:
            return feedparser.parse(
                io.BytesIO(body),
                response_headers={
                    "content-location": url,
                    "content-type": "application/atom+xml; charset=utf-8",
                },
                sanitize_html=sanitize,
                resolve_relative_uris=resolve,
            )

        return parse

    def ours(url: str, body: bytes) -> object:
        fetched = feeds.Fetched(
            body=body, url=url, headers={"content-type": "application/atom+xml; charset=UTF-8"}
        )
        return feeds.parse("bench", fetched)

    return {
        "feedparser, sanitize on, resolve on": best(raw(True, True)),
        "feedparser, sanitize off, resolve on": best(raw(False, True)),
        "feedparser, sanitize on, resolve off": best(raw(True, False)),
        "feedparser, sanitize off, resolve off": best(raw(False, False)),
        "bot.feeds.parse (as installed)": best(ours),
    }


# -- the whole benchmark -------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=FEEDS)
    parser.add_argument("--size", type=int, default=FEED_BYTES, help="bytes per feed")
    parser.add_argument("--runs", type=int, default=3, help="runs of each cycle (median)")
    parser.add_argument("--naive-runs", type=int, default=None, help="default: --runs")
    parser.add_argument(
        "--pool",
        choices=["on", "off", "both"],
        default="both",
        help="first cycles and idle daemons with the parse workers, without, or both in turn",
    )
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve), args.feeds, args.size)
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    log = workdir / "output.log"
    server = Server(args.feeds, args.size, workdir)
    try:
        report(args, workdir, log, server)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, workdir: Path, log: Path, server: Server) -> None:
    feeds = args.feeds
    sample = server.body(0)
    pools = {"on": [True], "off": [False], "both": [True, False]}[args.pool]
    naive_runs = args.runs if args.naive_runs is None else args.naive_runs
    print(
        f"{feeds} feeds of {len(sample) / 1000:.1f} KB ({sample.count(b'<entry>')} entries), "
        f"{LATENCY_S * 1000:.0f} ms latency, {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}; {args.runs} runs of each cycle (median); load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    database = workdir / "cycles.sqlite"
    configs = {pool: write_config(workdir, server, "cycles.sqlite", pool=pool) for pool in pools}
    rows: dict[str, Run] = {}

    def cli(pool: bool) -> list[str]:
        return [sys.executable, "-m", "bot", "--config", str(configs[pool]), "run", "--once"]

    def check(what: str, counts: dict[str, int], status: str) -> None:
        if counts.get(status, 0) != feeds or len(counts) != 1:
            raise SystemExit(f"{what}: expected {feeds} x {status}, the server saw {counts}")

    def first_name(pool: bool) -> str:
        return f"first cycle (all 200, parsed), workers {'on' if pool else 'off'}"

    urls = workdir / "urls.txt"
    urls.write_text("\n".join(server.url(i) for i in range(feeds)) + "\n")
    naive = workdir / "naive.py"
    naive.write_text(NAIVE)
    naive_name = "naive: sequential feedparser.parse(url)"
    # The naive loop and the first cycles (with the workers and without) in turn, so that
    # they share the machine's load.
    runs: dict[str, list[Run]] = {naive_name: [], **{first_name(pool): [] for pool in pools}}
    for index in range(max(naive_runs, args.runs)):
        if index < naive_runs:
            server.control("reset")
            runs[naive_name].append(measure([sys.executable, str(naive), str(urls)], log))
            check("naive", server.control("reset"), "200")
        if index >= args.runs:
            continue
        for pool in pools:
            database.unlink(missing_ok=True)
            server.control("reset")
            runs[first_name(pool)].append(measure(cli(pool), log))
            check("first cycle", server.control("reset"), "200")
            entries = store_count(database, "SELECT count(*) FROM entries")
            if entries != feeds * ENTRIES:
                raise SystemExit(f"first cycle recorded {entries} entries, not {feeds * ENTRIES}")
    rows.update({name: median_run(measured) for name, measured in runs.items()})

    steady_runs = []
    for _ in range(args.runs):
        server.control("reset")
        steady_runs.append(measure(cli(pools[0]), log))
        check("steady cycle", server.control("reset"), "304")
    rows["steady cycle (all 304)"] = median_run(steady_runs)

    server.control("validators-off")
    skip_runs = []
    for _ in range(args.runs):
        server.control("reset")
        skip_runs.append(measure(cli(pools[0]), log))
        check("hash-skip cycle", server.control("reset"), "200")
    server.control("validators-on")
    rows["unchanged bodies, validators ignored (hash skip)"] = median_run(skip_runs)
    if store_count(database, "SELECT count(*) FROM deliveries") != 0:
        raise SystemExit("a cycle planned deliveries: the benchmark must post nothing")

    help_runs = [measure([sys.executable, "-m", "bot", "--help"], log) for _ in range(5)]
    rows["feedrelay --help (start-up)"] = median_run(help_runs)
    codes = {name: row.code for name, row in rows.items() if row.code != 0}
    if codes:
        raise SystemExit(f"non-zero exit codes {codes}; see {log}")

    naive_row = rows[naive_name]
    width = max(len(name) for name in rows) + 2
    print(
        f"\n{'':<{width}}{'wall s':>8}{'cpu s':>8}{'peak MB':>9}{'wall/naive':>12}{'cpu/naive':>11}"
    )
    for name, row in rows.items():
        print(
            f"{name:<{width}}{row.wall:>8.2f}{row.cpu:>8.2f}{row.peak_mb:>9.1f}"
            f"{row.wall / naive_row.wall:>12.3f}{row.cpu / naive_row.cpu:>11.3f}"
        )

    steady = rows["steady cycle (all 304)"]
    skip = rows["unchanged bodies, validators ignored (hash skip)"]
    print("\nagainst the targets (issue 22, target 3)")
    for pool in pools:
        first = rows[first_name(pool)]
        label = f"first / naive wall, workers {'on' if pool else 'off'}"
        print(f"  {label:<38}{first.wall / naive_row.wall:7.2f}   (target <= 0.33)")
    print(f"  {'naive / steady wall':<38}{naive_row.wall / steady.wall:7.1f}x  (target >= 20x)")
    print(f"  {'steady wall':<38}{steady.wall:7.2f} s (target < 2 s)")
    print(f"  {'naive / hash-skip wall':<38}{naive_row.wall / skip.wall:7.1f}x")
    first = rows[first_name(pools[0])]
    print(f"  {'steady cpu / first cpu':<38}{steady.cpu / first.cpu:7.1%}   (target <= 5%)")
    print(f"  {'hash-skip cpu / first cpu':<38}{skip.cpu / first.cpu:7.1%}")

    # The idle daemon: once on a new store (a full first cycle), once on the warm store
    # with every feed due again (a steady cycle, as a long-running daemon polls).
    print("\nidle daemon (python -m bot run), 5 s after its first cycle (target 5: <= 150 MB)")
    for pool in pools:
        name = f"daemon-new-{'on' if pool else 'off'}.sqlite"
        fresh = write_config(workdir, server, name, pool=pool)
        idle = idle_daemon(fresh, workdir / name, feeds, log)
        _print_idle(f"new store (all 200), workers {'on' if pool else 'off'}", idle)
    warm = workdir / "daemon-warm.sqlite"
    shutil.copy(database, warm)
    with sqlite3.connect(warm) as db:
        db.execute("UPDATE feeds SET next_check_at = NULL, last_checked_at = NULL")
    warm_config = write_config(workdir, server, "daemon-warm.sqlite", pool=pools[0])
    _print_idle("warm store (all 304)", idle_daemon(warm_config, warm, feeds, log))

    print("\nparse in this process, 20 feeds, best of 3, per feed")
    for name, seconds in parse_timings(server, min(20, feeds)).items():
        print(f"  {name:<40}{seconds * 1000:7.1f} ms")


def _print_idle(label: str, idle: Idle) -> None:
    others = " + ".join(f"{mb:.1f}" for mb in idle.others) or "none"
    print(
        f"  {label:<34} cycle {idle.cycle:5.1f} s, VmRSS {idle.rss:5.1f} MB (VmHWM "
        f"{idle.hwm:5.1f}); its processes: {others}; total {idle.total:5.1f} MB; "
        f"peak of all during the cycle {idle.peak:5.1f} MB"
    )


if __name__ == "__main__":
    main()
