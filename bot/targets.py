"""What a configured target means: its rules (for ``policy``), what a post costs on it, and
how its posts are rendered, limited and described, all from its platform's spec."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters import spec
from bot import policy
from bot.config import Config, TargetSettings
from bot.model import Clock, Entry, Limits, Post
from bot.routes import route, with_params
from bot.store import Store
from bot.text.render import Description, Rendered, render


def credentials_hash(name: str, target: TargetSettings) -> str:
    """A digest of a target's credentials, to notice that they changed."""
    digest = hashlib.sha256(name.encode())
    for key, value in sorted(target.credentials().items()):
        digest.update(f"\0{key}\0{value}".encode())
    return digest.hexdigest()


def min_interval(target: TargetSettings) -> timedelta:
    """The target's ``min_interval``, or, where it sets none, its platform's default (a
    platform that penalises bursts)."""
    if "min_interval" in target.model_fields_set:
        return target.min_interval
    return spec(target.platform).default_min_interval or target.min_interval


def rules_for(config: Config, name: str) -> policy.TargetRules:
    target = config.targets[name]
    return policy.TargetRules(
        min_interval=min_interval(target),
        max_attempts=config.bot.max_attempts,
        credentials_hash=credentials_hash(name, target),
        timezone=ZoneInfo(config.bot.timezone),
        delay=target.delay,
        max_per_day=target.max_per_day,
        quiet_hours=target.quiet_hours,
        slots=tuple(target.slots),
        jitter=target.jitter,
        approve=target.approve,
        monthly_budget=target.budget_usd(),
        # A platform that can re-send an unknown outcome as a checked duplicate says so
        # in its settings.
        resend_unknown=bool(getattr(target, "resend_unknown", False)),
    )


def cost_of(config: Config, name: str, post: Post) -> float:
    """What the platform charges for ``post`` on this target, in USD."""
    target = config.targets[name]
    return spec(target.platform).cost(target, post)


def options_for(target: TargetSettings) -> Any:
    """The rendering options of one configured target (from its platform's spec)."""
    return spec(target.platform).options(target)


def limits_for(platform: str) -> Limits:
    return spec(platform).limits


def render_for(config: Config, entry: Entry, target_name: str) -> Rendered:
    """An entry as one configured target would post it: in the words of the route from the
    entry's feed, with the route's parameters on its link wherever the post shows it (so
    that its length is counted on the link as posted)."""
    found = route(config, entry.feed, target_name)
    platform = spec(found.settings.platform)
    tagged = replace(entry, link=with_params(entry.link, found.link_params))
    return render(tagged, platform.render, platform.options(found.settings), platform.limits)


def describe_for(platform: str, post: Post) -> Description:
    """What ``post`` is, as its platform's spec says it, counted by its limits."""
    found = spec(platform)
    return found.describe(post, found.limits)


class TargetMemory:
    """What a platform keeps for one target between runs (``adapters.api.Memory``), in the
    store: every runner of the store reads and changes the same value."""

    def __init__(self, store: Store, target: str, *, clock: Clock) -> None:
        self._store = store
        self._target = target
        self._clock = clock

    def get(self, key: str) -> str | None:
        return self._store.remembered(self._target, key)

    def swap(self, key: str, old: str | None, new: str) -> bool:
        return self._store.remember(self._target, key, old=old, new=new, now=self._clock())
