"""What every HTTP caller shares, without importing an HTTP library: the timeouts, the
User-Agent, reading a server's wait from its headers, and masking secrets in what is shown.

Loading a config imports every configured platform's spec, which uses these; a command that
only reads the store must not pay for requests and urllib3 (``bot.http`` holds the sessions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from bot import __version__

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
DEADLINE_S = 60.0
USER_AGENT = f"feedrelay/{__version__} (+https://pypi.org/project/feedrelay/)"
SCRUBBED = "****"
# Shorter values are not masked: a one-character "secret" would mask every such letter.
MIN_SECRET_LENGTH = 4


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (and its URL-quoted form) replaced by ``****``."""
    forms = {form for s in secrets if len(s) >= MIN_SECRET_LENGTH for form in (s, quote(s, ""))}
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, SCRUBBED)
    return text


def header_time(
    headers: Mapping[str, str], name: str, *, now: datetime, epoch: bool = False
) -> datetime | None:
    """The moment header ``name`` names (aware UTC), or ``None`` if it is absent or unreadable.

    The value is a wait as in ``Retry-After`` (seconds, or an HTTP date), or with ``epoch``
    an epoch time in seconds (``x-rate-limit-reset``). ``name`` is matched case-insensitively.
    """
    wanted = name.lower()
    value = next((v.strip() for k, v in headers.items() if k.lower() == wanted), "")
    try:
        number = float(value)
    except ValueError:
        if epoch:
            return None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        if epoch:
            return datetime.fromtimestamp(number, UTC)
        return now + timedelta(seconds=number)
    except (OverflowError, OSError, ValueError):
        return None


def retry_at(
    headers: Mapping[str, str],
    *,
    now: datetime,
    default: timedelta,
    waits: Iterable[str] = ("Retry-After",),
    resets: Iterable[str] = (),
) -> datetime:
    """When a server takes requests again, from an answer's headers (aware UTC).

    Each header named in ``waits`` holds a wait as ``Retry-After`` does, each in ``resets`` an
    epoch time (see ``header_time``). The latest readable one wins, never earlier than
    ``now``; with none, ``now + default``.
    """
    moments = [header_time(headers, name, now=now) for name in waits]
    moments += [header_time(headers, name, now=now, epoch=True) for name in resets]
    known = [moment for moment in moments if moment is not None]
    return max(*known, now) if known else now + default
