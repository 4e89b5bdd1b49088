"""``feedrelay auth reddit``: check a target's login (a script app's username + password), or
get a refresh token through Reddit's authorisation in the browser and a one-shot loopback
redirect (``adapters.reddit.client.CodeFlow``); then log in and check the subreddit's rules.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from adapters.base import Adapter
from adapters.reddit.client import CodeFlow
from adapters.reddit.spec import SPEC, RedditTarget
from adapters.setup import AuthResult, AuthRun
from bot.errors import SetupError

__all__ = ["run"]


def run(auth: AuthRun) -> AuthResult:
    """The target's app and login, a refresh token when asked for (or when the config uses
    one and it is not set), and the adapter that checks them."""
    target = auth.target(needed=True)
    assert target is not None
    settings = RedditTarget.of(target.settings)
    uses_token = "refresh_token" in target.env or (
        settings.refresh_token is not None and settings.password is None
    )
    client_id = auth.credential(target, "client_id", option="the variable")
    client_secret = auth.credential(target, "client_secret", option="the variable")
    # The target's settings with what this flow learns: the adapter is opened from them.
    changes: dict[str, Any] = {
        "client_id": SecretStr(client_id),
        "client_secret": SecretStr(client_secret),
    }
    lines: list[str] = []
    note = ""
    if auth.options.get("refresh_token") or (uses_token and target.value("refresh_token") is None):
        port = int(auth.options.get("port", 8080))
        timeout = int(auth.options.get("timeout", 300))
        try:
            flow = CodeFlow(
                client_id=client_id,
                client_secret=client_secret,
                user_agent=settings.user_agent,
                api_base=settings.api_base,
                port=port,
            )
        except OSError as error:
            raise SetupError(
                f"cannot listen on 127.0.0.1:{port} ({error.strerror}): pass --port N (and set"
                " the app's redirect uri to http://127.0.0.1:N/)"
            ) from None
        with flow:
            url = flow.start()
            auth.echo(f"Reddit sends your browser back to {flow.redirect_uri}: the app's redirect")
            auth.echo("uri (reddit.com/prefs/apps, edit) must be exactly that.")
            auth.echo("Open this address in a browser, signed in as the posting account, and")
            auth.echo("choose Allow:")
            auth.echo("")
            auth.echo(f"   {url}")
            auth.echo("")
            auth.echo(f"waiting for Reddit (up to {timeout} s) ...")
            token = flow.finish(flow.wait(timeout))
        variable = auth.variable(target, "refresh_token")
        if not uses_token:
            note = (
                "The config logs in with username + password; to use the token, replace those"
                f' two lines with refresh_token = "${{{variable}}}".'
            )
        lines = [f"{variable}={token}"]
        changes.update(username=None, password=None, refresh_token=SecretStr(token))
    elif not uses_token:
        for key in ("username", "password"):
            if key in target.missing:
                auth.credential(target, key, option="the variable")  # says which to set

    def open_adapter() -> Adapter:
        return SPEC.open(target.name, settings.model_copy(update=changes))

    return AuthResult(lines=lines, note=note, open=open_adapter)
