"""Platform registry: platform name -> its spec module, imported only when asked for.

Importing this package imports no platform library, and neither does ``spec``: a spec module
holds what the core needs (settings model, limits, renderer options, cost) and names its
client class, which ``PlatformSpec.open`` imports when a target is opened. Adding a platform
is a folder ``adapters/<name>/`` (``spec.py`` + ``client.py``) and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.base import Adapter, PlatformSpec

PLATFORMS: dict[str, str] = {
    "twitter": "adapters.twitter.spec",
    "reddit": "adapters.reddit.spec",
    "tumblr": "adapters.tumblr.spec",
}


def platforms() -> list[str]:
    """The names of the known platforms, as ``platform = "..."`` in the config spells them."""
    return list(PLATFORMS)


def spec(platform: str) -> PlatformSpec:
    """The spec of ``platform``; raises ``KeyError`` for an unknown platform."""
    from adapters.base import PlatformSpec

    found = getattr(importlib.import_module(PLATFORMS[platform]), "SPEC", None)
    if not isinstance(found, PlatformSpec) or found.name != platform:
        raise TypeError(f"{PLATFORMS[platform]}.SPEC is not the PlatformSpec of {platform!r}")
    return found


def adapter_class(platform: str) -> Callable[..., Adapter]:
    """The adapter class for ``platform`` (imports its platform library); ``KeyError`` if
    the platform is unknown."""
    return spec(platform).client_class()
