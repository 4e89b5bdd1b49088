"""Tumblr's OAuth 1.0a flow (``adapters.oauth1``): the account's OAuth token and secret,
for ``feedrelay auth tumblr``.

The endpoints are on ``https://www.tumblr.com/oauth/...``; with ``api_base`` they are under
it (a fake or proxy), as the adapter's API requests are.
"""

from __future__ import annotations

from adapters.oauth1 import Endpoints, Grant, PinFlow
from adapters.tumblr.client import OAUTH1

__all__ = ["WWW", "Grant", "endpoints", "pin_flow"]

WWW = "https://www.tumblr.com"


def endpoints(api_base: str | None = None) -> Endpoints:
    base = (api_base or WWW).rstrip("/")
    return Endpoints(
        service="Tumblr",
        command="feedrelay auth tumblr",
        request_token=base + "/oauth/request_token",
        authorize=base + "/oauth/authorize",
        access_token=base + "/oauth/access_token",
        key_fix=(
            "check TUMBLR_CONSUMER_KEY and TUMBLR_CONSUMER_SECRET against"
            " tumblr.com/oauth/apps (OAuth Consumer Key and Secret Key)"
        ),
    )


def pin_flow(*, consumer_key: str, consumer_secret: str, api_base: str | None = None) -> PinFlow:
    """The flow for one Tumblr app (``api_base``: a fake or proxy instead of Tumblr)."""
    return PinFlow(
        endpoints(api_base),
        library=OAUTH1,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
    )
