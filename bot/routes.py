"""A route: the entries of one feed on their way to one target (``[feeds.FEED.to.TARGET]``).

What a route means is gathered here from the config: its filters (the feed's, the target's
and its own, in that order; ``policy.filtered`` decides with them), the target's settings
with the route's wording (``Config.target_for``), and the query parameters added to the
entry's link in its posts: the target's ``link_params``, then the route's (a route's value
wins; an empty one removes the target's), with ``{feed}``, ``{target}`` and ``{platform}``
filled in.

Only entries planned from now on see a changed route: a delivery keeps the post rendered
when it was planned, so changing a route never posts anything again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from bot.config import Config
from bot.filters import Filter
from bot.settings import FILTER_KEYS, FilterSettings, TargetSettings

__all__ = ["Route", "route", "with_params"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One (feed, target) pair as the config makes it."""

    feed: str
    target: str
    # The target's settings with the route's wording.
    settings: TargetSettings
    # The levels that set any filter, in order: feeds.FEED, targets.TARGET, the route.
    filters: tuple[Filter, ...]
    # The parameters added to the entry's link, filled in, in order.
    link_params: tuple[tuple[str, str], ...]
    # The keys the route's own table sets (empty: it has no table).
    keys: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        """Where the route's own keys are written."""
        return f"feeds.{self.feed}.to.{self.target}"


def route(config: Config, feed: str, target: str) -> Route:
    """The route from ``feed`` to ``target``. A feed that is not in the config (the
    pseudo-feed of pages posted by hand, a feed since removed) has the target's filters
    and link parameters only."""
    target_settings = config.targets[target]
    feed_settings = config.feeds.get(feed)
    own = feed_settings.to.get(target) if feed_settings is not None else None
    levels = [
        _filter(f"feeds.{feed}", feed_settings),
        _filter(f"targets.{target}", target_settings),
        _filter(f"feeds.{feed}.to.{target}", own),
    ]
    params = dict(target_settings.link_params)
    if own is not None:
        params.update(own.link_params)
    values = {"feed": feed.strip("()"), "target": target, "platform": target_settings.platform}
    return Route(
        feed=feed,
        target=target,
        settings=config.target_for(feed, target),
        filters=tuple(level for level in levels if level is not None),
        link_params=tuple(
            (name, value.format_map(values)) for name, value in params.items() if value
        ),
        keys=tuple(sorted(own.model_fields_set | set(own.wording()))) if own is not None else (),
    )


def _filter(where: str, settings: FilterSettings | None) -> Filter | None:
    """The filters one level sets, or ``None`` if it sets none."""
    if settings is None or not any(getattr(settings, key) for key in FILTER_KEYS):
        return None
    return Filter(
        where=where,
        include_labels=tuple(settings.include_labels),
        exclude_labels=tuple(settings.exclude_labels),
        include_words=tuple(settings.include_words),
        exclude_words=tuple(settings.exclude_words),
        include_pattern=settings.include_pattern,
        exclude_pattern=settings.exclude_pattern,
    )


def with_params(link: str, params: Sequence[tuple[str, str]]) -> str:
    """``link`` with ``params`` added to its query: each one the link does not have already
    (the link's own value wins), after the link's own parameters, which are kept as written,
    and before its fragment. A link that is not http(s) is left as it is."""
    if not link or not params:
        return link
    base, hash_sign, fragment = link.partition("#")
    parts = urlsplit(base)
    if parts.scheme.lower() not in ("http", "https"):
        return link
    own = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = [(name, value) for name, value in params if name not in own]
    if not added:
        return link
    if not parts.query:
        joint = "" if base.endswith("?") else "?"
    else:
        joint = "" if base.endswith("&") else "&"
    return f"{base}{joint}{urlencode(added, quote_via=quote)}{hash_sign}{fragment}"
