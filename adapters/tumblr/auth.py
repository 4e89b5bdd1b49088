"""``feedrelay auth tumblr``: Tumblr's OAuth 1.0a flow (``adapters.oauth1``), which gets the
account's OAuth token and secret, then checks them against the target's blog.

The endpoints are on ``https://www.tumblr.com/oauth/...``; with ``api_base`` they are under
it (a fake or proxy), as the adapter's API requests are.
"""

from __future__ import annotations

from adapters.base import Adapter
from adapters.oauth1 import Endpoints, Grant, PinFlow, ask_for_pin
from adapters.setup import AuthResult, AuthRun
from adapters.tumblr.client import OAUTH1
from adapters.tumblr.spec import SPEC, TumblrTarget
from bot.errors import SetupError

__all__ = ["WWW", "Grant", "endpoints", "pin_flow", "run"]

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


def run(auth: AuthRun) -> AuthResult:
    """The app's key and secret from the options or the target, the flow at the terminal,
    and the new token's lines with the adapter that checks them on the blog."""
    given_key, given_secret = auth.options.get("consumer_key"), auth.options.get("consumer_secret")
    target = auth.target(needed=not (given_key and given_secret))
    key = auth.credential(target, "consumer_key", given=given_key, option="--consumer-key")
    secret = auth.credential(
        target, "consumer_secret", given=given_secret, option="--consumer-secret"
    )
    base = auth.options.get("api_base") or (target.settings.api_base if target else None)
    blog = auth.options.get("blog") or (TumblrTarget.of(target.settings).blog if target else "")
    flow = pin_flow(consumer_key=key, consumer_secret=secret, api_base=base)
    try:
        grant = ask_for_pin(flow, auth)
    finally:
        flow.close()

    def open_adapter() -> Adapter:
        if not blog:
            raise SetupError("the token works only with a blog to check: pass --blog NAME")
        from adapters.tumblr.client import TumblrAdapter

        return TumblrAdapter(
            target=target.name if target else SPEC.name,
            blog=blog,
            consumer_key=key,
            consumer_secret=secret,
            oauth_token=grant.token,
            oauth_token_secret=grant.token_secret,
            api_base=base,
        )

    return AuthResult(
        lines=[
            f"{auth.variable(target, 'oauth_token')}={grant.token}",
            f"{auth.variable(target, 'oauth_token_secret')}={grant.token_secret}",
        ],
        open=open_adapter,
    )
