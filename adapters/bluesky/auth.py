"""``feedrelay auth bluesky``: check a handle and its app password by logging in once, then
name the account. Bluesky has no token to fetch for an app password: the password is the
credential, so nothing new is printed for the environment."""

from __future__ import annotations

from adapters.api import AuthResult, AuthRun, LocalMemory, SetupError
from adapters.base import Adapter
from adapters.bluesky.setup import DEFAULT_SERVICE, handle_of
from adapters.bluesky.spec import SPEC, BlueskyTarget

__all__ = ["run"]


def run(auth: AuthRun) -> AuthResult:
    """The handle and app password from the options or the target, and the adapter that
    logs in with them (``auth`` then names the account)."""
    given_handle = auth.options.get("handle")
    given_password = auth.options.get("app_password")
    target = auth.target(needed=not (given_handle and given_password))
    settings = BlueskyTarget.of(target.settings) if target is not None else None
    handle_text = given_handle or (settings.handle if settings else "")
    if not handle_text:
        raise SetupError("no account to check: pass --handle NAME.bsky.social")
    try:
        handle = handle_of(handle_text)
    except ValueError as error:
        raise SetupError(str(error)) from error
    password = auth.credential(
        target, "app_password", given=given_password, option="--app-password"
    )
    service = auth.options.get("service") or (settings.host() if settings else DEFAULT_SERVICE)

    def open_adapter() -> Adapter:
        from adapters.bluesky.client import BlueskyAdapter

        return BlueskyAdapter(
            target=target.name if target else SPEC.name,
            handle=handle,
            app_password=password,
            service=service,
            memory=LocalMemory(),  # a check logs in once and keeps nothing
        )

    return AuthResult(
        note=(
            "An app password is the credential Bluesky bots use: FeedRelay keeps the session"
            " it opens in its store and renews it, so it logs in rarely."
        ),
        open=open_adapter,
    )
