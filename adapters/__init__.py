"""The platform registry: every platform installed under the entry-point group
``feedrelay.platforms``, FeedRelay's own included, each loaded only when asked for.

An entry point maps a platform's name (as ``platform = "..."`` spells it) to either its
``PlatformSpec`` (``adapters.twitter.spec:SPEC``, FeedRelay's own) or a function that takes
the plugin surface (``adapters.api``) and returns one (``feedrelay_echo:plugin``, a platform
in another distribution, which so never imports ``bot`` or ``adapters`` by name: see
``docs/plugins.md``). Listing the platforms reads the installed packages' metadata only;
nothing of a platform is imported until its spec is asked for, and a spec imports no
platform library (its client is imported when a target is opened).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import PluginError

if TYPE_CHECKING:
    from adapters.base import PlatformSpec

__all__ = [
    "GROUP",
    "Plugin",
    "PluginError",
    "installed",
    "named",
    "platforms",
    "spec",
]

GROUP = "feedrelay.platforms"


@dataclass(frozen=True, kw_only=True)
class Plugin:
    """One installed platform: its name, where its spec is, and the distribution (with its
    version) that installed it."""

    name: str
    value: str
    distribution: str
    version: str


@functools.cache
def installed() -> dict[str, Plugin]:
    """The installed platforms by name: FeedRelay's own first, then the others, each by
    name. A name installed twice keeps its first (FeedRelay's own win)."""
    # A distribution's metadata is parsed once (each read parses the whole METADATA file,
    # and every command starts here); its entry points share one distribution object.
    named: dict[int, tuple[str, str]] = {}

    def distribution(point: importlib.metadata.EntryPoint) -> tuple[str, str]:
        dist = point.dist
        if dist is None:
            return "?", "?"
        if id(dist) not in named:
            metadata = dist.metadata
            named[id(dist)] = (metadata["Name"], metadata["Version"])
        return named[id(dist)]

    points = sorted(
        importlib.metadata.entry_points(group=GROUP),
        key=lambda p: (distribution(p)[0] != "feedrelay", p.name),
    )
    found: dict[str, Plugin] = {}
    for point in points:
        name, version = distribution(point)
        found.setdefault(
            point.name,
            Plugin(name=point.name, value=point.value, distribution=name, version=version),
        )
    return found


def platforms() -> list[str]:
    """The names of the installed platforms, as ``platform = "..."`` in the config spells
    them (imports nothing)."""
    return list(installed())


@functools.cache
def spec(platform: str) -> PlatformSpec:
    """The spec of ``platform``: ``KeyError`` if no such platform is installed,
    ``PluginError`` (naming it) if it is installed but cannot be loaded."""
    from adapters import api
    from adapters.base import PlatformSpec

    plugin = installed()[platform]
    try:
        module_name, _, attribute = plugin.value.partition(":")
        found: object = importlib.import_module(module_name)
        for part in attribute.split(".") if attribute else ():
            found = getattr(found, part)
        if not isinstance(found, PlatformSpec) and callable(found):
            found = found(api)
    except Exception as error:  # a plugin's bug must not stop the others
        raise PluginError(
            f"platform {platform!r} ({plugin.distribution} {plugin.version}) cannot be loaded:"
            f" {type(error).__name__}: {error}",
            platform=platform,
        ) from error
    if not isinstance(found, PlatformSpec) or found.name != platform:
        raise PluginError(
            f"platform {platform!r} ({plugin.distribution} {plugin.version}): {plugin.value}"
            " is not its PlatformSpec",
            platform=platform,
        )
    _keep_quiet(found.quiet_loggers)
    if found.api != api.API_VERSION:
        raise PluginError(
            f"platform {platform!r} ({plugin.distribution} {plugin.version}) is written for"
            f" plugin API {found.api}; this FeedRelay has API {api.API_VERSION}",
            platform=platform,
        )
    return found


def named(name: str) -> str:
    """The platform ``name`` stands for: itself when it is installed, else the platform whose
    spec declares ``name`` among its ``aliases`` (``x``: ``twitter``); ``KeyError`` if none.

    Only a name that is no platform's own loads the specs (one that cannot be loaded is
    passed over: it is reported when it is asked for by its own name).
    """
    if name in installed():
        return name
    for platform in installed():
        try:
            if name in spec(platform).aliases:
                return platform
        except PluginError:
            continue
    raise KeyError(name)


# The library loggers of the platforms loaded so far (their specs' ``quiet_loggers``).
_QUIET: set[str] = set()


def loaded_quiet_loggers() -> frozenset[str]:
    """The library loggers of the platforms whose specs are loaded (none is loaded here)."""
    return frozenset(_QUIET)


def _keep_quiet(loggers: tuple[str, ...]) -> None:
    """A platform's library loggers at INFO or above, whatever -v said: at DEBUG they print
    request headers, tokens included. Done when its spec loads, before any client opens."""
    _QUIET.update(loggers)
    for name in loggers:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
