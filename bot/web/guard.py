"""Who may read and who may act: the Bearer token, the login cookie, and the form token
that keeps other sites from submitting our forms.

The cookie never holds the token: it is a time of issue and an HMAC of it keyed with the
token, so a new token logs everybody out. A form carries an HMAC of the cookie (the
synchronizer-token pattern); the cookie itself is ``SameSite=Strict`` and ``HttpOnly``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from bot.web.settings import WebSettings

SESSION_COOKIE = "feedrelay_session"
SESSION_LIFETIME = timedelta(days=30)


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def _token(settings: WebSettings) -> str | None:
    return settings.token.get_secret_value() if settings.token is not None else None


def bearer_ok(settings: WebSettings, authorization: str | None) -> bool:
    """``Authorization: Bearer TOKEN`` with the configured token."""
    token = _token(settings)
    if token is None or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def token_ok(settings: WebSettings, given: str) -> bool:
    """The token typed into the login form."""
    token = _token(settings)
    return token is not None and hmac.compare_digest(given.strip().encode(), token.encode())


def session_cookie(settings: WebSettings, now: datetime) -> str:
    token = _token(settings)
    assert token is not None, "no login without a token"
    issued = str(int(now.timestamp()))
    return f"{issued}.{_mac(token, 'session:' + issued)}"


def session_ok(settings: WebSettings, cookie: str | None, now: datetime) -> bool:
    """A login cookie made with the current token, less than ``SESSION_LIFETIME`` old."""
    token = _token(settings)
    if token is None or not cookie or "." not in cookie:
        return False
    issued, _, mac = cookie.partition(".")
    if not issued.isdigit() or not hmac.compare_digest(mac, _mac(token, "session:" + issued)):
        return False
    age = now.timestamp() - int(issued)
    return 0 <= age <= SESSION_LIFETIME.total_seconds()


def form_token(settings: WebSettings, cookie: str) -> str:
    """What a form of this login carries, so that only our own pages can submit it."""
    token = _token(settings)
    assert token is not None
    return _mac(token, "form:" + cookie)[:40]


def form_ok(settings: WebSettings, cookie: str | None, given: str | None) -> bool:
    if not cookie or not given or _token(settings) is None:
        return False
    return hmac.compare_digest(given.encode(), form_token(settings, cookie).encode())
