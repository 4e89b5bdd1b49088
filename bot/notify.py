"""Failure notifications: one message when a feed or a target starts failing, one when it
recovers, through Apprise (ntfy, mail, Matrix, Slack, ...: ``[notify] urls``).

What is failing now is derived from what the store already keeps, so a restart or the next
cron run knows it too: a feed is failing while its last poll failed (``last_error``, which
includes a feed gone for good); a target while it is paused by refused credentials, or while
the most recent of its deliveries that was settled (posted or failed) failed. An operator's
own ``feedrelay pause`` is not a failure.

What was already said is the notifier's own memory, a small JSON file beside the database,
``<database>.notified.json`` (for a PostgreSQL store, beside the config file:
``<config>.notified.json``, one per host): a key per feed or target notified as failing. It
lives outside the store so that the store's schema stays as it is; losing it costs at most
one repeated message. A message that no service accepted is not remembered, so the next
check tries again.

Every configured secret value (each ``${VAR}`` filled in, every credential, the notification
URLs themselves) is scrubbed from the text before it leaves. Apprise is imported here only,
when a message is sent.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bot.config import Config
from bot.errors import NotifyError
from bot.http import scrub
from bot.model import Clock, DeliveryState
from bot.store import Store

log = logging.getLogger(__name__)

# How many of a target's newest deliveries are searched for the last settled one.
RECENT_DELIVERIES = 20


class Sender(Protocol):
    def send(self, title: str, body: str) -> None:
        """Deliver one message. Raises ``NotifyError`` when no service accepted it."""
        ...


class AppriseSender:
    """Sends through every configured Apprise URL."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)

    def send(self, title: str, body: str) -> None:
        import apprise

        notifier = apprise.Apprise()
        for url in self.urls:
            if not notifier.add(url):
                # Never name the URL: it carries the service's token.
                raise NotifyError("a [notify] url is not one Apprise understands")
        if not notifier.notify(title=title, body=body):
            raise NotifyError("no notification service accepted the message")


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Something failing now: ``kind`` is ``feed`` or ``target``."""

    kind: str
    name: str
    reason: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


def failing_now(
    config: Config, store: Store, now: datetime, *, only: Collection[str] | None = None
) -> dict[str, Problem]:
    """Each configured feed and target that is failing, from the store alone; ``only``
    these keys (``feed:NAME``, ``target:NAME``) when given."""
    problems: dict[str, Problem] = {}
    feeds = [n for n in config.feeds if only is None or f"feed:{n}" in only]
    targets = [n for n in config.targets if only is None or f"target:{n}" in only]
    if only is None:
        feed_states = store.feed_states()
        target_states = store.target_states()
    else:
        feed_states = {n: state for n in feeds if (state := store.feed_state(n)) is not None}
        target_states = {n: store.target_state(n) for n in targets}
    for name in feeds:
        state = feed_states.get(name)
        if state is None or state.url != config.feed_url(name) or not state.last_error:
            continue
        times = f" ({state.error_count} times in a row)" if state.error_count > 1 else ""
        reason = f"{state.last_error}{times}"
        if state.gone:
            reason += "; no longer polled until its url changes in the config"
        problems[f"feed:{name}"] = Problem(kind="feed", name=name, reason=reason)
    for name in targets:
        target = target_states.get(name)
        if target is not None and target.paused_at(now) and target.pause_kind != "operator":
            reason = f"paused: {target.pause_reason}"
        else:
            settled = [
                d
                for d in store.history(target=name, limit=RECENT_DELIVERIES)
                if d.state in (DeliveryState.POSTED, DeliveryState.FAILED) and d.updated_at
            ]
            last = max(settled, key=lambda d: (d.updated_at, d.id), default=None)
            if last is None or last.state is not DeliveryState.FAILED:
                continue
            reason = f"delivery {last.id} failed: {last.error or 'no reason given'}"
        problems[f"target:{name}"] = Problem(kind="target", name=name, reason=reason)
    return problems


def secret_values(config: Config) -> list[str]:
    """Every value in the config that must never appear in a message."""
    values = [s.get_secret_value() for s in config.secrets]
    values += [url.get_secret_value() for url in config.notify.urls]
    if config.database_url:
        values.append(config.database_url)
    for target in config.targets.values():
        values += target.credentials().values()
    return values


def memory_path(config: Config) -> Path:
    """``<database>.notified.json``; for a PostgreSQL store ``<config>.notified.json``."""
    beside = config.path if config.database_url else config.database_path
    return beside.with_name(beside.name + ".notified.json")


class Notifier:
    """Says once when a feed or target starts failing, and once when it recovers.

    The app checks one feed or target as soon as its poll or delivery is recorded (a
    failure fixed a minute later is still told), and everything at the end of `run --once`
    and every minute in the daemon (what could not be sent is tried again then). Lanes run
    in threads: one check at a time, so that nothing is said twice."""

    def __init__(self, config: Config, store: Store, *, clock: Clock, sender: Sender) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.sender = sender
        self.path = memory_path(config)
        self._lock = threading.Lock()

    def check(self, *, only: Collection[str] | None = None) -> list[str]:
        """Compare what fails now with what was said (for ``only`` these keys, ``feed:NAME``
        or ``target:NAME``, when given); send what changed. Returns the titles sent. A
        message that could not be sent is logged and tried next time."""
        with self._lock:
            return self._check(only)

    def _check(self, only: Collection[str] | None) -> list[str]:
        now = self.clock()
        problems = failing_now(self.config, self.store, now, only=only)
        said = self._load()
        before = {key: dict(value) for key, value in said.items()}
        sent = []
        for key, problem in problems.items():
            if key in said:
                continue
            title = f"feedrelay: {problem.kind} {problem.name} is failing"
            body = f"{problem.kind} {problem.name}: {problem.reason}\n`feedrelay status` says more."
            if self._send(title, body):
                said[key] = {"since": now.isoformat(timespec="seconds")}
                sent.append(title)
        for key in list(said):
            if key in problems or (only is not None and key not in only):
                continue
            kind, _, name = key.partition(":")
            if name not in (self.config.feeds if kind == "feed" else self.config.targets):
                del said[key]  # no longer configured: nothing to recover
                continue
            since = said[key].get("since", "?")
            title = f"feedrelay: {kind} {name} recovered"
            if self._send(title, f"{kind} {name} works again (failing since {since})."):
                del said[key]
                sent.append(title)
        if said != before:
            self._save(said)
        return sent

    def _send(self, title: str, body: str) -> bool:
        secrets = secret_values(self.config)
        try:
            self.sender.send(scrub(title, secrets), scrub(body, secrets))
        except NotifyError as error:
            log.warning("notification not sent, trying again later: %s", error)
            return False
        log.info("notified: %s", scrub(title, secrets))
        return True

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("%s is unreadable (%s): starting afresh", self.path, error)
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}
        )

    def _save(self, said: dict[str, dict[str, Any]]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(
                json.dumps(said, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            os.replace(temporary, self.path)
        except OSError as error:
            log.warning("cannot remember what was notified in %s: %s", self.path, error)
