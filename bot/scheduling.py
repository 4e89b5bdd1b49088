"""The daemon's clock: APScheduler ticks that ask the app to poll and to dispatch.

The only module that imports apscheduler. Jobs are idempotent ticks kept in memory; what is
due lives in the store, so a restart loses nothing. Polling and each target's lane are
separate jobs on a thread pool: a slow feed never delays posting, and a hung platform delays
only its own target. SIGINT/SIGTERM let the posts in flight finish and be recorded, then
stop; SIGHUP reloads the config.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.app import App
from bot.config import Config
from bot.errors import FeedRelayError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Feeds are polled when the next one is due (the store's next checks), not on a tick; the
# poll job also runs at least this often, which costs one query when nothing is due.
POLL_AT_LEAST_EVERY = timedelta(minutes=5)
POLL_RETRY = timedelta(seconds=30)  # after a poll that failed as a whole (the store)
DISPATCH_TICK = timedelta(seconds=15)
NOTIFY_TICK = timedelta(seconds=60)


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
    dispatch_tick: timedelta = DISPATCH_TICK,
) -> None:
    """Poll each feed when it is due and dispatch on a tick, until SIGINT or SIGTERM."""
    lanes = len(app.config.targets)
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(lanes + 2)},
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

    def poll() -> None:
        if stopping.is_set():
            return
        results = _logged(app.poll_due_feeds, "poll")
        if any(result.queued for result in results or []):
            for name in app.config.targets:
                if scheduler.get_job(f"lane:{name}"):
                    scheduler.modify_job(f"lane:{name}", next_run_time=datetime.now(UTC))
        if not stopping.is_set():
            due = None if results is None else _logged(app.next_poll_at, "poll")
            scheduler.modify_job("poll", next_run_time=_next_poll(due, failed=results is None))

    def lane(name: str) -> Callable[[], None]:
        def run() -> None:
            if not stopping.is_set():
                _logged(lambda: app.run_lane(name, should_stop=stopping.is_set), f"lane {name}")

        return run

    def lanes_for_config() -> None:
        for job in scheduler.get_jobs():
            if job.id.startswith("lane:") and job.id[5:] not in app.config.targets:
                job.remove()
        for name in app.config.targets:
            every(f"lane:{name}", lane(name), dispatch_tick)

    def reload() -> None:
        if reload_config is None:
            return
        try:
            config = reload_config()
        except FeedRelayError as error:
            log.error("config not reloaded, the old one stays: %s", error)
            return
        app.reload(config)
        lanes_for_config()
        scheduler.modify_job("poll", next_run_time=datetime.now(UTC))
        log.info("config reloaded: %d feeds, %d targets", len(config.feeds), len(config.targets))

    every("poll", poll, POLL_AT_LEAST_EVERY)

    def notify() -> None:
        _logged(app.notify, "notifications")

    every("notify", notify, NOTIFY_TICK)
    lanes_for_config()

    # shutdown(wait=True) from the signal handler would wait on the very thread it
    # interrupts; a helper thread waits for the running jobs instead.
    shutdown = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True})
    previous_hup = signal.signal(signal.SIGHUP, lambda *_: scheduler.add_job(reload))
    with stop_on_signals(shutdown.start) as stopping:
        try:
            log.info(
                "feedrelay running: %d feeds, %d targets, polling every %s",
                len(app.config.feeds),
                len(app.config.targets),
                app.config.bot.poll_interval,
            )
            scheduler.start()
            if shutdown.is_alive():
                shutdown.join()  # the posts in flight are finished and recorded
        finally:
            signal.signal(signal.SIGHUP, previous_hup)
    log.info("feedrelay stopped")


def _next_poll(due: datetime | None, *, failed: bool, now: datetime | None = None) -> datetime:
    """When the poll job runs next: when the next feed is due (``due``), at least a second
    from now and at most ``POLL_AT_LEAST_EVERY`` away; ``POLL_RETRY`` after a poll that
    failed as a whole."""
    now = now or datetime.now(UTC)
    if failed:
        return now + POLL_RETRY
    latest = now + POLL_AT_LEAST_EVERY
    at = min(due, latest) if due is not None else latest
    at = max(at, now + timedelta(seconds=1))
    log.debug("next poll at %s", at.isoformat(timespec="seconds"))
    return at


def _logged(func: Callable[[], T], what: str) -> T | None:
    """Run one tick; a failure of our own is logged and the next tick tries again."""
    try:
        return func()
    except FeedRelayError as error:
        log.error("%s failed, next tick tries again: %s", what, error)
        return None
