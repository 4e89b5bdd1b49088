"""Parse feeds on every core: a pool of worker processes, started when a cycle has enough
bodies to parse to be worth it.

Parsing holds the GIL (feedparser, the entries' HTML), so threads parse one feed at a time
however many cores there are. ``Parsers`` parses the first ``IN_THREAD_FIRST`` bodies of a
cycle in the calling thread, as FeedRelay always did; from the next one on, it starts a
``ProcessPoolExecutor`` of ``workers`` processes and parses there. One blog, or a cycle in
which a few feeds changed, never pays a pool's start-up (about 0.25 s of CPU and 40 MB a
process); a first cycle of hundreds of feeds parses on every core. The pool lives for one
cycle: an idle daemon holds no worker processes.

The workers are started with ``spawn``: a fresh interpreter that imports the parser, and,
as ``spawn`` does, the program's main script (``feedrelay``'s guards itself, ``python -m
bot``'s is not run again; a script of one's own that runs FeedRelay must guard itself with
``if __name__ == "__main__":``). The daemon has threads (fetches, lanes, the web face, the
scheduler), and ``fork`` would copy their locks held mid-use (logging's, the store's, the
HTTP pools') into a child that has no thread to release them. ``forkserver`` would start
faster, but would keep a server process of its own for the daemon's whole life.

What crosses to a worker is plain data (the feed's name and ``Fetched`` with a plain dict of
headers) and what comes back too (``ParsedFeed``, or the reason a feed was refused): the
worker runs the same ``parse`` with the same bounds on a hostile feed. A worker that dies
(``BrokenProcessPool``: killed, out of memory, a crash in C) takes the pool's other parses
down with it, so each feed that was in the broken pool is parsed again in a process of its
own: the one that kills that process too is refused with an error for that feed alone, the
others go on, and the pool is started afresh for the rest of the cycle. Where no process
can be started, or three feeds' lone processes die in one cycle, the rest of the cycle is
parsed in the daemon's process, with a warning; a process that multiprocessing started never
starts a pool of its own.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from types import TracebackType

from bot.errors import FeedError
from bot.failpoints import failpoint
from bot.feeds.fetch import Fetched
from bot.feeds.parse import ParsedFeed, parse

log = logging.getLogger(__name__)

# A cycle's first bodies are parsed in the calling thread: a pool starts only for more.
IN_THREAD_FIRST = 8
# Feeds whose lone worker died too, in one cycle, after which workers are not used again
# in that cycle: they cannot run here (a container without shared memory, a limit on
# processes), and every feed would otherwise start and lose a process of its own.
LONE_DEATHS_TO_GIVE_UP = 3


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Refused:
    """A feed ``parse`` refused, as it crosses back from a worker (``FeedError`` itself
    does not survive pickling: its ``feed`` is a keyword)."""

    reason: str


def _parse_in_worker(feed: str, fetched: Fetched) -> ParsedFeed | _Refused:
    failpoint("in-parse-worker", subject=feed)
    return _parse_here(feed, fetched)


def _parse_here(feed: str, fetched: Fetched) -> ParsedFeed | _Refused:
    try:
        return parse(feed, fetched)
    except FeedError as error:
        return _Refused(error.reason)


def _start_worker() -> None:
    # Ctrl-C reaches the whole process group: the daemon decides, and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Parsers:
    """Parses the bodies of one cycle; thread-safe. ``workers`` 0 parses every body in the
    calling thread. Use as a context manager: leaving it shuts the pool down."""

    def __init__(self, workers: int, *, in_thread_first: int = IN_THREAD_FIRST) -> None:
        self.workers = workers
        self.in_thread_first = in_thread_first
        self._lock = threading.Lock()
        # One parse at a time in this process, as when the main thread parsed: the GIL
        # allows no more, and 16 fetch threads each holding a parse would hold 16 times
        # its memory.
        self._here = threading.Lock()
        self._bodies = 0
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self._lone_deaths = 0
        self.pools_started = 0  # how many pools this cycle started (a broken one is replaced)

    def __enter__(self) -> Parsers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def parse(self, feed: str, fetched: Fetched) -> ParsedFeed:
        """``bot.feeds.parse``, here or in a worker. Raises ``FeedError`` as it does, and
        for a feed whose parse kills the process it runs in."""
        try:
            with self._lock:
                self._bodies += 1
                pool = self._pool_for(self._bodies)
        except (OSError, NotImplementedError) as error:  # no process can be started here
            self._give_up(f"worker processes cannot start ({error})")
            pool = None
        if pool is None:
            with self._here:
                return parse(feed, fetched)
        plain = replace(fetched, headers=dict(fetched.headers))
        try:
            result = pool.submit(_parse_in_worker, feed, plain).result()
        except BrokenProcessPool:
            self._replace_broken(pool)
            result = self._parse_alone(feed, plain)
        except (OSError, NotImplementedError) as error:  # no process can be started here
            self._give_up(f"worker processes cannot start ({error})")
            with self._here:
                return parse(feed, fetched)
        if isinstance(result, _Refused):
            raise FeedError(result.reason, feed=feed)
        return result

    def close(self) -> None:
        """Stop the workers (parses under way finish first); later parses run in the
        calling thread."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _pool_for(self, bodies: int) -> ProcessPoolExecutor | None:
        if self._closed or self.workers < 1 or bodies <= self.in_thread_first:
            return None
        if multiprocessing.parent_process() is not None:
            return None  # a worker itself (or a program's own child): no pool of pools
        if self._pool is None:
            self._pool = self._new_pool(self.workers)
            self.pools_started += 1
            log.debug("parsing in %d worker processes", self.workers)
        return self._pool

    def _replace_broken(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None  # the next parse starts a new one
        pool.shutdown(wait=False, cancel_futures=True)

    def _parse_alone(self, feed: str, fetched: Fetched) -> ParsedFeed | _Refused:
        """Parse again in a process of its own: a feed whose worker died may only have been
        in the same pool as the one that killed it."""
        alone: ProcessPoolExecutor | None = None
        try:
            alone = self._new_pool(1)
            return alone.submit(_parse_in_worker, feed, fetched).result()
        except (OSError, NotImplementedError) as error:
            self._give_up(f"worker processes cannot start ({error})")
            return _parse_here(feed, fetched)
        except BrokenProcessPool:
            log.warning("feed %s: its parse stopped the worker process", feed)
            with self._lock:
                self._lone_deaths += 1
                deaths = self._lone_deaths
            if deaths >= LONE_DEATHS_TO_GIVE_UP:
                self._give_up(f"worker processes died parsing {deaths} feeds")
            return _Refused(
                "parsing it stopped the worker process (killed, or out of memory): it is "
                "tried again at its next check"
            )
        finally:
            if alone is not None:
                alone.shutdown(wait=True)

    def _give_up(self, why: str) -> None:
        """Parse in the calling thread for the rest of the cycle."""
        with self._lock:
            if self.workers == 0:
                return
            self.workers = 0
            pool, self._pool = self._pool, None
        log.warning("%s: feeds are parsed in this process for the rest of this poll", why)
        if pool is not None:
            pool.shutdown(wait=False)  # what was given to it still finishes there

    @staticmethod
    def _new_pool(workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )
