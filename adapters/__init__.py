"""Platform registry: platform name -> adapter class, imported only when asked for.

Importing this package imports no platform library; ``adapter_class`` does, for one platform.
"""

from __future__ import annotations

import importlib
from typing import Any

PLATFORMS: dict[str, str] = {
    "twitter": "adapters.twitter:TwitterAdapter",
    "reddit": "adapters.reddit:RedditAdapter",
    "tumblr": "adapters.tumblr:TumblrAdapter",
}


def adapter_class(platform: str) -> Any:
    """The adapter class for ``platform``; raises ``KeyError`` for an unknown platform."""
    module_name, _, class_name = PLATFORMS[platform].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
