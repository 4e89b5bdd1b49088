"""The daemon's clock: APScheduler ticks that ask the app to poll and to dispatch.

The only module that imports apscheduler. Jobs are idempotent ticks kept in memory; what is
due lives in the store, so a restart loses nothing. Polling and each target's lane are
separate jobs on a thread pool: a slow feed never delays posting, and a hung platform delays
only its own target. SIGINT/SIGTERM let the posts in flight finish and be recorded, then
stop; SIGHUP reloads the config.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.app import App, FeedResult
from bot.config import Config
from bot.errors import FeedRelayError
from bot.loops import Loops
from bot.settings import format_duration
from bot.text.words import plural

if TYPE_CHECKING:
    from bot.web.server import WebServer

log = logging.getLogger(__name__)

T = TypeVar("T")

POLL_TICK = timedelta(seconds=30)
DISPATCH_TICK = timedelta(seconds=15)
NOTIFY_TICK = timedelta(seconds=60)
PUSH_TICK = timedelta(seconds=60)
# A poll tick is taken for stuck when no feed came back for this many fetch deadlines (a
# feed's next pages are fetched one by one, each by the deadline).
POLL_STALL_FACTOR = 12


@contextmanager
def stop_on_signals(on_stop: Callable[[], None] = lambda: None) -> Iterator[threading.Event]:
    """While inside, SIGINT and SIGTERM set the event (and call ``on_stop`` once) instead of
    killing the process: the post in flight finishes and is recorded first."""
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        log.info(
            "received %s; finishing the posts in flight, then stopping",
            signal.Signals(signum).name,
        )
        stopping.set()
        on_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_daemon(
    app: App,
    *,
    reload_config: Callable[[], Config] | None = None,
    poll_tick: timedelta = POLL_TICK,
    dispatch_tick: timedelta = DISPATCH_TICK,
) -> None:
    """Poll and dispatch on a schedule until SIGINT or SIGTERM; with ``[web]``, serve the
    web face beside them (started first, stopped last)."""
    loops = Loops()
    pushed: set[str] = set()
    pushed_guard = threading.Lock()
    lanes = len(app.config.targets)
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(lanes + 3)},  # the lanes, poll, notify, push
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
    )

    def every(job_id: str, func: Callable[[], None], tick: timedelta) -> None:
        scheduler.add_job(
            func,
            "interval",
            seconds=tick.total_seconds(),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=int(tick.total_seconds()),
            next_run_time=datetime.now(UTC),
        )

    def wake_lanes() -> None:
        """Every lane looks for due work now (new entries, an approval from the web)."""
        for name in app.config.targets:
            if scheduler.get_job(f"lane:{name}"):
                scheduler.modify_job(f"lane:{name}", next_run_time=datetime.now(UTC))

    def poll_feeds(now_too: set[str]) -> list[FeedResult]:
        return app.poll_due_feeds(now_too=now_too, on_result=lambda *_: loops.progressed("poll"))

    def poll() -> None:
        loops.started("poll")
        try:
            while not stopping.is_set():
                with pushed_guard:
                    now_too = set(pushed)
                    pushed.clear()
                results = _logged(functools.partial(poll_feeds, now_too), "poll")
                if any(result.queued for result in results or []):
                    wake_lanes()
                with pushed_guard:
                    if not pushed:  # a hub's notification while polling: poll again
                        break
        finally:
            loops.finished("poll")

    def poll_now(feed: str) -> None:
        """Fetch this feed now (a WebSub hub says it changed), in the poll job."""
        with pushed_guard:
            pushed.add(feed)
        if not stopping.is_set():
            scheduler.modify_job("poll", next_run_time=datetime.now(UTC))

    def lane(name: str) -> Callable[[], None]:
        loop = f"lane:{name}"

        def should_stop() -> bool:
            loops.progressed(loop)  # asked before each post: the lane is moving
            return stopping.is_set()

        def run() -> None:
            if stopping.is_set():
                return
            loops.started(loop)
            try:
                _logged(lambda: app.run_lane(name, should_stop=should_stop), f"lane {name}")
            finally:
                loops.finished(loop)

        return run

    def lanes_for_config() -> None:
        for job in scheduler.get_jobs():
            if job.id.startswith("lane:") and job.id[5:] not in app.config.targets:
                job.remove()
                loops.forget(job.id)
        for name in app.config.targets:
            # A lane may send for as long as a claim lasts without looking up.
            loops.expect(f"lane:{name}", dispatch_tick, app.config.bot.claim_lease)
            every(f"lane:{name}", lane(name), dispatch_tick)

    def reload() -> None:
        if reload_config is None:
            return
        try:
            config = reload_config()
        except FeedRelayError as error:
            log.error("config not reloaded, the old one stays: %s", error)
            return
        served = app.config.web
        app.reload(config)
        if (served and served.listen) != (config.web and config.web.listen):
            log.warning("[web] listen changed: restart feedrelay to serve there")
        lanes_for_config()
        scheduler.modify_job("poll", next_run_time=datetime.now(UTC))
        log.info(
            "config reloaded: %s, %s",
            plural(len(config.feeds), "feed"),
            plural(len(config.targets), "target"),
        )

    # A poll may run long (many feeds, pages to catch up), each fetch bounded by the
    # deadline: it is stuck when no feed has come back for that long.
    loops.expect("poll", poll_tick, app.config.bot.fetch_deadline * POLL_STALL_FACTOR)
    loops.wake = wake_lanes
    loops.poll_now = poll_now
    every("poll", poll, poll_tick)

    def notify() -> None:
        _logged(app.notify, "notifications")

    every("notify", notify, NOTIFY_TICK)

    def push() -> None:
        if not stopping.is_set():
            _logged(app.push.run_due, "WebSub subscriptions")

    if app.config.web is not None:  # subscribes only with [web] public_url
        every("push", push, PUSH_TICK)
    lanes_for_config()

    # shutdown(wait=True) from the signal handler would wait on the very thread it
    # interrupts; a helper thread waits for the running jobs instead.
    shutdown = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True})
    server = _web_server(app, loops)
    previous_hup = signal.signal(signal.SIGHUP, lambda *_: scheduler.add_job(reload))
    with stop_on_signals(shutdown.start) as stopping:
        try:
            log.info(
                "feedrelay running: %s, %s, polling every %s",
                plural(len(app.config.feeds), "feed"),
                plural(len(app.config.targets), "target"),
                format_duration(app.config.bot.poll_interval),
            )
            scheduler.start()
            if shutdown.is_alive():
                shutdown.join()  # the posts in flight are finished and recorded
        finally:
            signal.signal(signal.SIGHUP, previous_hup)
            if server is not None:
                server.stop()
    log.info("feedrelay stopped")


def _web_server(app: App, loops: Loops) -> WebServer | None:
    """The web face, listening already, when the config has ``[web]``; the web stack is
    imported only then."""
    if app.config.web is None:
        return None
    from bot.web.server import WebServer

    server = WebServer(app, loops, app.config.web)
    server.start()
    return server


def _logged(func: Callable[[], T], what: str) -> T | None:
    """Run one tick; a failure of our own is logged and the next tick tries again."""
    try:
        return func()
    except FeedRelayError as error:
        log.error("%s failed, next tick tries again: %s", what, error)
        return None
