"""New work heard across runners at once: PostgreSQL's ``LISTEN``/``NOTIFY``.

A transaction that makes deliveries due (a poll queues them; ``approve``, ``retry`` and
``resume`` release them) names their targets (``due``) and, just before it commits, sends
``NOTIFY feedrelay_work`` with those names (``announce``). PostgreSQL delivers a
notification to every listening session when, and only if, the transaction commits, so a
listener never hears of rows it cannot see yet. Each daemon listens on a connection of its
own, in a thread (``WorkListener``), and wakes the lanes of the targets named. A notification
missed (the connection dropped, the server restarted) costs only the wait for the lane's
tick, which stays. SQLite needs none of this: one process serves the file (the instance
lock), and it wakes its own lanes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

CHANNEL = "feedrelay_work"
# PostgreSQL refuses a payload of 8000 bytes or more; a longer list of names is sent as
# none, which wakes every lane.
PAYLOAD_LIMIT = 7000
_DUE = "feedrelay_due"  # the targets named in this transaction, in Connection.info

# wake(targets): these targets have due work; ``None``: any target may have.
Wake = Callable[[Collection[str] | None], None]


class Listening(Protocol):
    def stop(self) -> None: ...


class NotListening:
    """What a store that only one process uses returns: nothing to hear."""

    def stop(self) -> None:
        pass


def due(c: Connection, targets: Collection[str] | None) -> None:
    """In this transaction, deliveries of ``targets`` (``None``: of any target) become due
    now: the listening runners hear of it when it commits. Nothing on SQLite."""
    if c.dialect.name != "postgresql" or (targets is not None and not targets):
        return
    named: set[str] | None = c.info.get(_DUE, set())
    if named is not None:
        c.info[_DUE] = None if targets is None else named | set(targets)


def forget(c: Connection) -> None:
    """A transaction begins: nothing named yet (a failed one's names must not carry over)."""
    c.info.pop(_DUE, None)


def announce(c: Connection) -> None:
    """Just before the commit: send the notification for what ``due`` named, if anything."""
    if _DUE not in c.info:
        return
    named = c.info.pop(_DUE)
    payload = "" if named is None else json.dumps(sorted(named))
    if len(payload) > PAYLOAD_LIMIT:
        payload = ""
    c.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


def heard(payload: str) -> Collection[str] | None:
    """The targets a notification names; ``None`` (every lane) when it names none, or
    cannot be read (another program's, on our channel)."""
    try:
        names = json.loads(payload) if payload else None
    except ValueError:
        return None
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return names
    return None


class WorkListener:
    """Listens for ``CHANNEL`` on a connection of its own, in a daemon thread, and calls
    ``wake`` with the targets each notification names, until ``stop``.

    A dropped connection (the server restarted, its backend terminated) is said once, as a
    warning, and tried again after ``retry_after`` seconds, doubling up to
    ``retry_at_most``; once listening again it says so and calls ``wake(None)``: whatever
    was announced meanwhile was not heard. ``connect`` opens an autocommit connection.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        wake: Wake,
        *,
        retry_after: float = 1.0,
        retry_at_most: float = 30.0,
        check_every: float = 1.0,
        pause: Callable[[float], object] | None = None,
        say: Callable[[BaseException], str] = str,
    ) -> None:
        """``pause(seconds)`` waits before a new try (default: that long, or until
        ``stop``); ``say(error)`` puts a lost connection in words for the log (the store's
        own, which leaves out a connection URL's password)."""
        self._say = say
        self._connect = connect
        self._wake = wake
        self._retry_after = retry_after
        self._retry_at_most = retry_at_most
        self._check_every = check_every  # how soon a stop is seen while nothing is heard
        self._stopping = threading.Event()
        self._pause = pause or self._stopping.wait
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)
        self.listening = threading.Event()  # set while LISTEN holds (tests wait on it)

    def start(self) -> WorkListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(self._check_every + 1.0)

    def _run(self) -> None:
        import psycopg

        delay = self._retry_after
        lost: str | None = None
        while not self._stopping.is_set():
            try:
                with self._connect() as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if lost is not None:
                        log.info("hearing of new work from other runners again")
                        lost = None
                        self._wake(None)
                    delay = self._retry_after
                    while not self._stopping.is_set():
                        for notice in connection.notifies(timeout=self._check_every):
                            self._wake(heard(notice.payload))
            except psycopg.Error as error:
                self.listening.clear()
                if self._stopping.is_set():
                    break
                if lost is None:
                    lost = " ".join(self._say(error).split()) or type(error).__name__
                    log.warning(
                        "not hearing of new work from other runners (%s); lanes look for"
                        " work on their tick meanwhile, and listening is tried again",
                        lost,
                    )
                self._pause(delay)
                delay = min(delay * 2, self._retry_at_most)
        self.listening.clear()
