"""``feedrelay auth twitter``: X's OAuth 1.0a PIN flow (``adapters.oauth1``), which gets the
posting account's access token and secret (they never expire), then checks them.

With ``api_base`` the requests go to that host but are signed for ``https://api.twitter.com``,
as the adapter's are (``adapters.twitter.client._RewriteHostAdapter``); the authorise address
shown is on ``api_base`` too.
"""

from __future__ import annotations

import requests

from adapters.base import Adapter
from adapters.oauth1 import Endpoints, Grant, PinFlow, ask_for_pin
from adapters.setup import AuthResult, AuthRun
from adapters.twitter.client import (
    OAUTH1,
    X_API,
    _quiet_library_loggers,
    _RewriteHostAdapter,
)
from adapters.twitter.spec import SPEC

__all__ = ["ENDPOINTS", "Grant", "pin_flow", "run"]

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


def run(auth: AuthRun) -> AuthResult:
    """The app's key and secret from the options or the target, the PIN flow at the
    terminal, and the new token's lines with the adapter that checks them."""
    given_key, given_secret = auth.options.get("consumer_key"), auth.options.get("consumer_secret")
    target = auth.target(needed=not (given_key and given_secret))
    key = auth.credential(target, "consumer_key", given=given_key, option="--consumer-key")
    secret = auth.credential(
        target, "consumer_secret", given=given_secret, option="--consumer-secret"
    )
    base = auth.options.get("api_base") or (target.settings.api_base if target else None)
    flow = pin_flow(consumer_key=key, consumer_secret=secret, api_base=base)
    try:
        grant = ask_for_pin(flow, auth)
    finally:
        flow.close()

    def open_adapter() -> Adapter:
        from adapters.twitter.client import TwitterAdapter

        return TwitterAdapter(
            target=target.name if target else SPEC.target_name,
            consumer_key=key,
            consumer_secret=secret,
            access_token=grant.token,
            access_token_secret=grant.token_secret,
            api_base=base,
        )

    return AuthResult(
        lines=[
            f"{auth.variable(target, 'access_token')}={grant.token}",
            f"{auth.variable(target, 'access_token_secret')}={grant.token_secret}",
        ],
        open=open_adapter,
    )
