"""The processes that send from a store: who this one is, which others are known to be dead,
and keeping this one's claims alive while its requests are in flight.

A claim (a delivery in ``sending``) belongs to one runner. Another runner may take it over
only when its lease has run out, or when its runner is known to be dead: registered in the
same *scope* as the one asking (the same machine boot and pid namespace, where a pid means
the same process) and its process gone. Another runner merely starting never takes a claim.
Every process that sends (a daemon, ``run --once``, ``post``) registers, and a
``LeaseKeeper`` renews its claims in flight until it stops.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from bot.errors import StorageError
from bot.model import Clock
from bot.store import Runner, Store

log = logging.getLogger(__name__)


# How often a runner renews its claims, at most: a lease is renewed at least three times
# before it can run out.
RENEW_EVERY = timedelta(seconds=30)


def process_scope() -> str:
    """Where this process's pid means something: the kernel's boot and its pid namespace.
    Two containers with one host name but separate pid namespaces differ here."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(path) if path.endswith("/ns/pid") else Path(path).read_text())
        except OSError:
            parts.append("?")
    return hashlib.sha256("\0".join(p.strip() for p in parts).encode()).hexdigest()[:32]


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_alive(pid: int) -> bool:
    """Is there a process with this pid (in this pid namespace)? A zombie counts as alive:
    its claims expire with their lease."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def dead_runners(
    runners: Iterable[Runner],
    *,
    scope: str,
    me: str,
    alive: Callable[[int], bool] = pid_alive,
) -> list[str]:
    """The ids of the runners known to be dead: of this scope, not this one, process gone.
    A runner of another scope (another machine, another container) is never known dead:
    its claims wait for their lease."""
    return [r.id for r in runners if r.scope == scope and r.id != me and not alive(r.pid)]


class LeaseKeeper:
    """A thread that keeps a runner's heartbeat and the leases of its claims fresh.

    Started when the runner registers, stopped when it leaves; a store error is logged and
    tried again at the next beat (the claims then hold until their lease runs out).
    """

    def __init__(self, store: Store, runner_id: str, *, clock: Clock, lease: timedelta) -> None:
        self._store = store
        self._runner_id = runner_id
        self._clock = clock
        self._lease = lease
        self._every = min(RENEW_EVERY, lease / 3).total_seconds()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def beat(self) -> int:
        """Renew now; return how many claims in flight were renewed."""
        return self._store.heartbeat(self._runner_id, self._clock(), lease=self._lease)

    def _run(self) -> None:
        while not self._stopping.wait(self._every):
            try:
                self.beat()
            except StorageError as error:
                log.warning("cannot renew this runner's claims (tried again soon): %s", error)
