"""What a person can do from the web: the CLI's settling commands (``approve``, ``retry``,
``skip``, ``resolve``, ``pause``, ``resume``, ``approve --feed``), through the same ``App``
methods, each answered with what changed.

The JSON API and the page's forms both call ``act``; the page shows ``Done.message``, the
API answers ``Done.json()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.app import App
from bot.bounds import LARGEST_ID, LONGEST_PAUSE
from bot.durations import DurationTooLongError, parse_duration
from bot.errors import OperatorError
from bot.reports import delivery_json, iso

DELIVERY_ACTIONS = ("approve", "retry", "skip", "resolve")
TARGET_ACTIONS = ("pause", "resume")
FEED_ACTIONS = ("approve",)
# Actions after which a delivery may be due now: the daemon's lanes look at once.
WAKING = {"approve", "retry", "resume"}


class ActionError(Exception):
    """The action cannot be done: ``status`` 400 (a bad request), 404 (no such delivery,
    target or feed) or 409 (not in a state that allows it); nothing changed."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, kw_only=True)
class Done:
    action: str
    message: str  # for a person, as the CLI words it
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": True, "action": self.action, "message": self.message}
        if self.target is not None:
            answer["target"] = self.target
        else:
            answer["deliveries"] = self.deliveries
        return answer


def act(app: App, kind: str, subject: str, action: str, params: dict[str, Any]) -> Done:
    """Do ``action`` on a delivery (``subject``: its id), a target or a feed (its name)."""
    try:
        if kind == "deliveries" and action in DELIVERY_ACTIONS:
            return _on_delivery(app, _delivery_id(app, subject), action, params)
        if kind == "targets" and action in TARGET_ACTIONS:
            return _on_target(app, _known(app.config.targets, "target", subject), action, params)
        if kind == "feeds" and action in FEED_ACTIONS:
            name = _known(app.config.feeds, "feed", subject)
            released = app.approve(feed=name)
            return _released(app, released, "approve")
    except OperatorError as error:
        raise ActionError(409, str(error)) from None
    raise ActionError(404, f"no action {action!r} on {kind}")


def _known(names: dict[str, Any], what: str, name: str) -> str:
    if name not in names:
        raise ActionError(404, f"no {what} named {name!r}")
    return name


def _delivery_id(app: App, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= LARGEST_ID:
        raise ActionError(404, f"{text[:40]!r} is not a delivery id: ids are whole numbers from 1")
    delivery_id = int(text)
    if app.store.get(delivery_id) is None:
        raise ActionError(404, f"no delivery {delivery_id}")
    return delivery_id


def _released(app: App, released: list[int], action: str) -> Done:
    if not released:
        return Done(action=action, message="nothing was held")
    noun = "delivery" if len(released) == 1 else "deliveries"
    rows = [app.store.get(i) for i in released]
    return Done(
        action=action,
        message=f"{len(released)} {noun} released; they go out with the next dispatch",
        deliveries=[delivery_json(d) for d in rows if d is not None],
    )


def _on_delivery(app: App, delivery_id: int, action: str, params: dict[str, Any]) -> Done:
    if action == "approve":
        return _released(app, app.approve(ids=[delivery_id]), action)
    if action == "retry":
        delivery = app.retry(delivery_id)
        state = app.store.target_state(delivery.target)
        message = f"{delivery_id}: queued; it goes out with the next dispatch"
        if state.pause_reason is not None:
            message = (
                f"{delivery_id}: queued, but target {delivery.target} is paused"
                f" ({state.pause_reason}); resuming it lifts that"
            )
        return Done(action=action, message=message, deliveries=[delivery_json(delivery)])
    if action == "skip":
        delivery = app.skip(delivery_id)
        return Done(
            action=action, message=f"{delivery_id}: skipped", deliveries=[delivery_json(delivery)]
        )
    url = _text(params, "url")
    remote_id = _text(params, "remote_id")
    no_link = params.get("no_link") in (True, "true", "on", "1")
    if no_link and (url or remote_id):
        raise ActionError(400, "no_link contradicts url and remote_id: give one or the other")
    if not (url or remote_id or no_link):
        raise ActionError(
            400, 'say where the post is: {"url": URL} or {"remote_id": ID} (or {"no_link": true})'
        )
    if url and not url.startswith(("https://", "http://")):
        raise ActionError(400, "url must be the post's http:// or https:// address")
    delivery = app.resolve(delivery_id, url=url, remote_id=remote_id)
    return Done(
        action=action,
        message=f"{delivery_id}: marked as posted",
        deliveries=[delivery_json(delivery)],
    )


def _on_target(app: App, name: str, action: str, params: dict[str, Any]) -> Done:
    if action == "resume":
        state = app.resume(name)
        message = f"{name}: resumed; its deliveries go out with the next dispatch"
    else:
        duration = _pause_for(_text(params, "for"))
        until = app.clock() + duration if duration is not None else None
        state = app.pause(name, until=until)
        message = f"{name}: {state.pause_reason}"
    paused = state.paused_at(app.clock())
    return Done(
        action=action,
        message=message,
        target={
            "name": name,
            "paused": paused,
            "pause_reason": state.pause_reason if paused else None,
            "paused_until": iso(state.paused_until) if paused else None,
        },
    )


def _pause_for(text: str) -> timedelta | None:
    """``pause``'s ``for``, as ``feedrelay pause --for`` takes it: 1s to ``LONGEST_PAUSE``."""
    if not text:
        return None
    words = f"'for' must be a duration from 1s to {LONGEST_PAUSE.days}d, such as '2h' or '3d'"
    try:
        duration = parse_duration(text)
    except DurationTooLongError:
        raise ActionError(400, words) from None
    except ValueError as error:
        raise ActionError(400, f"'for': {error}") from None
    if not timedelta(seconds=1) <= duration <= LONGEST_PAUSE:
        raise ActionError(400, words)
    return duration


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ActionError(400, f"{key!r} must be a string")
    return value.strip()
