"""The daemon's clock: APScheduler jobs that ask the app to poll and to dispatch.

The only module that imports apscheduler. Jobs are idempotent and kept in memory; what is
due lives in the store, so a restart loses nothing. The poll job runs when the next feed is
due (the store's next checks); each target's lane when it is woken (new work queued or
released, here or, on a shared store, by another runner: ``Store.listen_for_work``) and on
a tick, which finds what no wake announced (a row that came due, a wake missed). Polling
and the lanes are separate jobs on a thread pool: a slow feed never delays posting, and a
hung platform delays only its own target. SIGINT/SIGTERM let what is in flight finish and
be recorded, for at most a request's deadline, then stop (a second signal stops at once:
``stop_on_signals``); SIGHUP reloads the config.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.app import App, FeedResult
from bot.config import Config
from bot.errors import FeedRelayError
from bot.http import DEADLINE_S
from bot.loops import Loops
from bot.settings import format_duration
from bot.text.words import plural

if TYPE_CHECKING:
    from bot.web.server import WebServer

log = logging.getLogger(__name__)

T = TypeVar("T")

# Feeds are polled when the next one is due (the store's next checks), not on a tick; the
# poll job also runs at least this often, which costs one query when nothing is due.
POLL_AT_LEAST_EVERY = timedelta(minutes=5)
POLL_RETRY = timedelta(seconds=30)  # after a poll that failed as a whole (the store)
# How long a stop waits for what is in flight: a request's deadline (bot.http). A platform
# answers in that time or the request fails; then the stop does not wait any longer.
STOP_GRACE = timedelta(seconds=DEADLINE_S)
DISPATCH_TICK = timedelta(seconds=15)
NOTIFY_TICK = timedelta(seconds=60)
PUSH_TICK = timedelta(seconds=60)
# A poll tick is taken for stuck when no feed came back for this many fetch deadlines (a
# feed's next pages are fetched one by one, each by the deadline).
POLL_STALL_FACTOR = 12


class Stop(threading.Event):
    """Set by the first SIGINT or SIGTERM: no new work starts, and what is in flight is
    finished and recorded. ``signum`` is the signal that set it."""

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None

    @property
    def exit_status(self) -> int:
        """What a run stopped this way exits with once it has finished cleanly: 130 after
        Ctrl-C (SIGINT: the shell's convention for an interrupted command), 0 after SIGTERM
        (a service stopped as asked)."""
        return 128 + signal.SIGINT if self.signum == signal.SIGINT else 0


@contextmanager
def stop_on_signals(
    on_stop: Callable[[], None] = lambda: None,
    *,
    say: Callable[[str], None] = log.warning,
    in_flight: Callable[[], list[str]] = list,
    grace: timedelta = STOP_GRACE,
) -> Iterator[Stop]:
    """While inside, SIGINT and SIGTERM set the yielded ``Stop`` (and call ``on_stop`` once)
    instead of killing the process: what is in flight (``in_flight()``, in words) finishes
    and is recorded first, for at most ``grace``, and ``say`` tells the person so. A second
    signal, or the end of the grace, stops the process at once (exit status 128 + the
    first signal): a post still in flight is left ``sending``, and the next start looks it
    up on the platform before anything is sent again, so nothing is sent twice."""
    stop = Stop()
    timer: threading.Timer | None = None

    def leave(why: str) -> None:
        what = in_flight()
        left = (
            f"; {_listed(what)} {'is' if len(what) == 1 else 'are'} left to the next start,"
            " which looks up on the platform what may have gone out before sending anything"
            " again (nothing is sent twice)"
            if what
            else ""
        )
        say(f"{why}: stopping now{left}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + (stop.signum or signal.SIGTERM))

    def handle(signum: int, _frame: FrameType | None) -> None:
        nonlocal timer
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if stop.is_set():
            leave(f"{name} again")
        stop.signum = signum
        stop.set()
        what = in_flight()
        again = "Ctrl-C again" if signum == signal.SIGINT else f"{name} again"
        if what:
            say(
                f"{name}: stopping; waiting for {_listed(what)} to finish and be recorded, at"
                f" most {_seconds(grace)} ({again} stops at once)"
            )
        else:
            say(f"{name}: stopping")
        timer = threading.Timer(
            grace.total_seconds(),
            leave,
            args=(f"not finished after {_seconds(grace)}",),
        )
        timer.daemon = True
        timer.start()
        on_stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        if timer is not None:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_grace(config: Config) -> timedelta:
    """How long a stop waits for what is in flight: a request's deadline, or a feed fetch's
    (``[bot] fetch_deadline``) when that is longer."""
    return max(STOP_GRACE, config.bot.fetch_deadline)


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g} seconds"


def _listed(what: list[str]) -> str:
    return what[0] if len(what) == 1 else ", ".join(what[:-1]) + " and " + what[-1]


def run_daemon(
    app: App,
    *,
    reload_config: Callable[[], Config] | None = None,
    dispatch_tick: timedelta = DISPATCH_TICK,
    say: Callable[[str], None] = log.warning,
) -> Stop:
    """Poll each feed when it is due and dispatch when woken and on a tick (each lane every
    ``dispatch_tick``), until SIGINT or SIGTERM (what is in flight then is finished,
    ``stop_on_signals``); with ``[web]``, serve the web face beside them (started first,
    stopped last). Return the stop, which says the signal."""
    loops = Loops()
    pushed: set[str] = set()
    pushed_guard = threading.Lock()
    wakes = LaneWakes()
    lanes = len(app.config.targets)
    scheduler = BlockingScheduler(
        # Each lane, and a lane's second instance (woken while it runs: it returns at
        # once), the poll, notify and push. Threads are made only when needed.
        executors={"default": ThreadPoolExecutor(2 * lanes + 3)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",
    )

    def every(job_id: str, func: Callable[[], None], tick: timedelta, instances: int = 1) -> None:
        scheduler.add_job(
            func,
            "interval",
            seconds=tick.total_seconds(),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=int(tick.total_seconds()),
            next_run_time=datetime.now(UTC),
            max_instances=instances,
        )

    def wake_lanes(targets: Collection[str] | None = None) -> None:
        """These lanes (every lane: ``None``) look for due work now: new entries, an
        approval, a retry, a resume, here or in another process."""
        for name in app.config.targets if targets is None else targets:
            if name not in app.config.targets:
                continue  # another config's target, or one removed by a reload
            if wakes.wake(name):
                _run_at(scheduler, f"lane:{name}")

    def poll_feeds(now_too: set[str]) -> list[FeedResult]:
        return app.poll_due_feeds(
            now_too=now_too,
            on_result=lambda *_: loops.progressed("poll"),
            should_stop=stopping.is_set,
        )

    def poll() -> None:
        loops.started("poll")
        results: list[FeedResult] | None = []
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
            if not stopping.is_set():
                due = None if results is None else _logged(app.next_poll_at, "poll")
                with pushed_guard:  # a notification meanwhile: poll_now asks for now
                    at = datetime.now(UTC) if pushed else _next_poll(due, failed=results is None)
                    _run_at(scheduler, "poll", at)
        finally:
            loops.finished("poll")

    def poll_now(feed: str) -> None:
        """Fetch this feed now (a WebSub hub says it changed), in the poll job."""
        with pushed_guard:
            pushed.add(feed)
        if not stopping.is_set():
            _run_at(scheduler, "poll")

    def lane(name: str) -> Callable[[], None]:
        loop = f"lane:{name}"

        def should_stop() -> bool:
            loops.progressed(loop)  # asked before each post: the lane is moving
            return stopping.is_set()

        def run() -> None:
            if stopping.is_set() or not wakes.begin(name):
                return  # a tick or a wake while the lane runs: it looks again itself
            loops.started(loop)
            try:
                while not stopping.is_set():
                    wakes.looking(name)
                    _logged(lambda: app.run_lane(name, should_stop=should_stop), f"lane {name}")
                    if wakes.done(name):
                        break
            finally:
                wakes.end(name)
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
            every(f"lane:{name}", lane(name), dispatch_tick, instances=2)

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
        _run_at(scheduler, "poll")
        log.info(
            "config reloaded: %s, %s",
            plural(len(config.feeds), "feed"),
            plural(len(config.targets), "target"),
        )

    # A poll may run long (many feeds, pages to catch up), each fetch bounded by the
    # deadline: it is stuck when no feed has come back for that long.
    loops.expect("poll", POLL_AT_LEAST_EVERY, app.config.bot.fetch_deadline * POLL_STALL_FACTOR)
    loops.wake = wake_lanes
    loops.poll_now = poll_now
    every("poll", poll, POLL_AT_LEAST_EVERY)

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
    with stop_on_signals(
        shutdown.start, say=say, in_flight=app.in_flight, grace=stop_grace(app.config)
    ) as stopping:
        listener = app.store.listen_for_work(wake_lanes)
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
            listener.stop()
            signal.signal(signal.SIGHUP, previous_hup)
            if server is not None:
                server.stop()
    log.info("feedrelay stopped")
    return stopping


class LaneWakes:
    """Which lanes run now, and which were woken since they last looked for work. A lane
    woken while it runs looks again before it ends (the wake may name rows its look had
    already passed), so no wake is lost, and no second run of a lane is started."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._running: set[str] = set()
        self._woken: set[str] = set()

    def wake(self, name: str) -> bool:
        """``name`` has work; ``True`` when the lane is to be started (it does not run)."""
        with self._guard:
            self._woken.add(name)
            return name not in self._running

    def begin(self, name: str) -> bool:
        """A run of the lane starts; ``False`` when one runs already."""
        with self._guard:
            if name in self._running:
                return False
            self._running.add(name)
            return True

    def looking(self, name: str) -> None:
        """The lane looks for work now: what woke it is being seen."""
        with self._guard:
            self._woken.discard(name)

    def done(self, name: str) -> bool:
        """The lane found nothing more to do: ``True`` when it ends, ``False`` when it was
        woken meanwhile and looks again."""
        with self._guard:
            if name in self._woken:
                return False
            self._running.discard(name)
            return True

    def end(self, name: str) -> None:
        """The run ended, however (a stop, an error)."""
        with self._guard:
            self._running.discard(name)


def _web_server(app: App, loops: Loops) -> WebServer | None:
    """The web face, listening already, when the config has ``[web]``; the web stack is
    imported only then."""
    if app.config.web is None:
        return None
    from bot.web.server import WebServer

    server = WebServer(app, loops, app.config.web)
    server.start()
    return server


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


def _run_at(scheduler: BlockingScheduler, job: str, at: datetime | None = None) -> None:
    """Run ``job`` at ``at`` (now); a job that is gone (a lane removed by a reload, every
    job once the daemon stops) has nothing to run."""
    with suppress(JobLookupError):
        scheduler.modify_job(job, next_run_time=at or datetime.now(UTC))
