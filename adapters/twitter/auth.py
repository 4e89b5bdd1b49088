"""X's OAuth 1.0a PIN flow (``adapters.oauth1``): the posting account's access token and
secret, which never expire, for ``feedrelay auth twitter``.

With ``api_base`` the requests go to that host but are signed for ``https://api.twitter.com``,
as the adapter's are (``adapters.twitter.client._RewriteHostAdapter``); the authorise address
shown is on ``api_base`` too.
"""

from __future__ import annotations

import requests

from adapters.oauth1 import Endpoints, Grant, PinFlow
from adapters.twitter.client import OAUTH1, X_API, _quiet_library_loggers, _RewriteHostAdapter

__all__ = ["ENDPOINTS", "Grant", "pin_flow"]

ENDPOINTS = Endpoints(
    service="X",
    command="feedrelay auth twitter",
    request_token=X_API + "/oauth/request_token",
    authorize=X_API + "/oauth/authorize",
    access_token=X_API + "/oauth/access_token",
    key_fix=(
        "check X_CONSUMER_KEY and X_CONSUMER_SECRET against developer.x.com (your app, Keys"
        " and tokens: API Key and Secret; regenerate them if in doubt)"
    ),
)


def pin_flow(*, consumer_key: str, consumer_secret: str, api_base: str | None = None) -> PinFlow:
    """The PIN flow for one X app (``api_base``: a fake or proxy instead of X)."""
    _quiet_library_loggers()
    base = (api_base or "").rstrip("/")

    def prepare(session: requests.Session) -> None:
        if base:
            session.mount(X_API + "/", _RewriteHostAdapter(base))

    def shown(url: str) -> str:
        return base + url[len(X_API) :] if base and url.startswith(X_API) else url

    return PinFlow(
        ENDPOINTS,
        library=OAUTH1,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        prepare=prepare,
        shown=shown,
    )
