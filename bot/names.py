"""The target or feed a person means by the name typed on a command line.

Every command that takes a target name (``pause``, ``resume``, ``schedule``, ``history
--target``, ``approve --target``, ``post --to``, ``auth --target``, ``add feed --to``) asks
``target``; those that take a feed name ask ``feed``. A name that is not configured is
accepted when it names a platform (or its alias: ``x``) that exactly one target posts to;
otherwise the error names the nearest name and lists the configured ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import adapters
from bot.errors import UnknownNameError

if TYPE_CHECKING:
    from bot.settings import TargetSettings

__all__ = ["feed", "target"]


def target(targets: Mapping[str, TargetSettings], name: str, *, also: Collection[str] = ()) -> str:
    """The configured target ``name`` means: the target of that name; else, when ``name``
    is a platform (or an alias of one) that exactly one target posts to, that target.
    ``also``: names that count as targets too (a removed target still in the record).

    Raises ``UnknownNameError`` saying the nearest name and listing the targets.
    """
    if name in targets or name in also:
        return name
    platform = _platform(name)
    mine = [n for n, settings in targets.items() if settings.platform == platform]
    if platform is not None and len(mine) == 1:
        return mine[0]
    listed = ", ".join(f"{n} ({settings.platform})" for n, settings in targets.items())
    if platform is not None and mine:
        raise UnknownNameError(
            f"no target named {name!r}: {len(mine)} targets post to {platform}"
            f" ({', '.join(mine)}): name one"
        )
    hint = _nearest(name, [*targets, *also]) or _nearest_platform(name, targets)
    where = f"the targets: {listed}" if targets else "the config has no targets"
    raise UnknownNameError(f"no target named {name!r}{hint}; {where}")


def feed(feeds: Collection[str], name: str) -> str:
    """The configured feed ``name``; ``UnknownNameError`` saying the nearest name and
    listing the feeds."""
    if name in feeds:
        return name
    hint = _nearest(name, feeds)
    where = f"the feeds: {', '.join(feeds)}" if feeds else "the config has no feeds"
    raise UnknownNameError(f"no feed named {name!r}{hint}; {where}")


def _platform(name: str) -> str | None:
    try:
        return adapters.named(name.lower())
    except KeyError:
        return None


def _nearest_platform(name: str, targets: Mapping[str, TargetSettings]) -> str:
    """`` (did you mean 'PLATFORM', the platform of TARGET?)`` for a misspelt platform that one
    target posts to, or ``""``."""
    by_platform: dict[str, list[str]] = {}
    for target, settings in targets.items():
        by_platform.setdefault(settings.platform, []).append(target)
    close = difflib.get_close_matches(name.lower(), list(by_platform), n=1, cutoff=0.6)
    if not close or len(by_platform[close[0]]) != 1:
        return ""
    return f" (did you mean {close[0]!r}, the platform of {by_platform[close[0]][0]}?)"


def _nearest(name: str, choices: Collection[str]) -> str:
    """`` (did you mean 'x'?)``, case-blind, or ``""``."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
