"""The daemon's loops as its web face sees them: is each one still ticking, and a way to
ask it to run now.

``bot.scheduling`` reports every tick here (started, made progress, finished); ``/healthz``
asks ``stuck()``. Times are the process's monotonic clock: liveness is this process's, not
the store's, and a wall-clock jump must not make a loop look dead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta


@dataclass
class _Loop:
    period: float
    # How long one tick may run without progress before the loop is taken for stuck.
    allowance: float
    started: float | None = None  # the tick running now (or the last one)
    moved: float | None = None  # its start or its last progress
    running: bool = False


@dataclass(frozen=True, kw_only=True)
class LoopHealth:
    name: str
    alive: bool
    running: bool
    # Seconds since the loop last started a tick or made progress (None: never yet).
    idle_s: float | None
    period_s: float
    problem: str | None = None


def loop_health(name: str, loop: _Loop, now: float, since: float) -> LoopHealth:
    """Alive while its last tick started within two periods, or while the tick running
    now made progress within its allowance (a long poll of many feeds is not a dead one).
    ``since``: when the loop was expected to start (a loop that never ran is given two
    periods from then)."""
    moved = loop.moved if loop.moved is not None else since
    idle = now - moved
    limit = max(2 * loop.period, loop.allowance) if loop.running else 2 * loop.period
    alive = idle <= limit
    problem = None
    if not alive:
        if loop.running:
            problem = f"{name}: one tick has made no progress for {idle:.0f}s"
        elif loop.started is None:
            problem = f"{name}: has not run since the daemon started {idle:.0f}s ago"
        else:
            problem = f"{name}: last ran {idle:.0f}s ago (every {loop.period:g}s expected)"
    return LoopHealth(
        name=name,
        alive=alive,
        running=loop.running,
        idle_s=None if loop.moved is None else round(idle, 3),
        period_s=loop.period,
        problem=problem,
    )


class Loops:
    """What the scheduler's ticks report, and what may be asked of them (``wake``: the
    lanes look for due work now; ``poll_now``: a feed is fetched now)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._loops: dict[str, _Loop] = {}
        self._since = clock()
        self.wake: Callable[[], None] = lambda: None
        self.poll_now: Callable[[str], None] = lambda feed: None

    def expect(self, name: str, period: timedelta, allowance: timedelta) -> None:
        """``name`` ticks every ``period``; one tick may go ``allowance`` without progress."""
        with self._guard:
            known = self._loops.get(name)
            if known is None:
                self._loops[name] = _Loop(period.total_seconds(), allowance.total_seconds())
            else:
                known.period, known.allowance = period.total_seconds(), allowance.total_seconds()

    def forget(self, name: str) -> None:
        with self._guard:
            self._loops.pop(name, None)

    def started(self, name: str) -> None:
        with self._guard:
            loop = self._loops.get(name)
            if loop is not None:
                loop.started = loop.moved = self._clock()
                loop.running = True

    def progressed(self, name: str) -> None:
        with self._guard:
            loop = self._loops.get(name)
            if loop is not None:
                loop.moved = self._clock()

    def finished(self, name: str) -> None:
        with self._guard:
            loop = self._loops.get(name)
            if loop is not None:
                loop.running = False

    def health(self) -> list[LoopHealth]:
        now = self._clock()
        with self._guard:
            return [
                loop_health(name, loop, now, self._since)
                for name, loop in sorted(self._loops.items())
            ]
