"""The daemon's clock: APScheduler ticks that ask the app to poll and to dispatch.

The only module that imports apscheduler. Jobs are idempotent ticks kept in memory; what is
due lives in the store, so a restart loses nothing. SIGINT/SIGTERM let the post in flight
finish and be recorded, then stop.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.app import App

log = logging.getLogger(__name__)

POLL_TICK = timedelta(seconds=30)
DISPATCH_TICK = timedelta(seconds=15)


def run_daemon(
    app: App,
    *,
    poll_tick: timedelta = POLL_TICK,
    dispatch_tick: timedelta = DISPATCH_TICK,
) -> None:
    """Poll and dispatch on a schedule until SIGINT or SIGTERM."""
    stopping = threading.Event()
    # One worker for both jobs: SQLite sees one writer, and the adapters (praw is not
    # thread-safe) are used from one thread only.
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
    )

    def poll() -> None:
        if stopping.is_set():
            return
        if any(result.queued for result in app.poll_due_feeds()):
            scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))

    def dispatch() -> None:
        if not stopping.is_set():
            app.dispatch_due(should_stop=stopping.is_set)

    for job_id, func, tick in (("poll", poll, poll_tick), ("dispatch", dispatch, dispatch_tick)):
        scheduler.add_job(
            func,
            "interval",
            seconds=tick.total_seconds(),
            id=job_id,
            misfire_grace_time=int(tick.total_seconds()),
            next_run_time=datetime.now(UTC),
        )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "received %s; finishing the post in flight, then stopping", signal.Signals(signum).name
        )
        if stopping.is_set():
            return
        stopping.set()
        # shutdown(wait=True) from the signal handler would wait on the very thread it
        # interrupts; a helper thread waits for the running jobs instead.
        shutdown.start()

    shutdown = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True})

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        log.info(
            "feedrelay running: %d feeds, %d targets",
            len(app.config.feeds),
            len(app.config.targets),
        )
        scheduler.start()
        if shutdown.is_alive():
            shutdown.join()  # the post in flight is finished and recorded
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("feedrelay stopped")
