"""What a person may ask of FeedRelay, from the command line or the web face: the bounds of
ids, lists, pauses and times, and ``since``, which reads ``--since`` (``?since=``). A value
beyond a bound is refused in words: a usage error on the command line, a 400 on the web."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.durations import DurationTooLongError, parse_duration
from bot.model import DeliveryState

STATUSES = [state.value for state in DeliveryState]
LARGEST_ID = 2**63 - 1  # a store's ids are signed 64-bit integers (SQLite, PostgreSQL bigint)
HISTORY_LIMIT = 100_000
PREVIEW_LIMIT = 1_000
LONGEST_PAUSE = timedelta(days=365)
FURTHEST_AT = timedelta(days=365)  # post --at: how far ahead a post may be queued


def since(text: str, timezone: str, now: datetime) -> datetime:
    """``"2d"`` (that long ago) or ``"2026-01-31"`` / ``"2026-01-31 09:00"`` (local time in
    ``timezone``), as aware UTC. Raises ``ValueError`` in words."""
    try:
        return now - parse_duration(text)
    except DurationTooLongError as error:
        raise ValueError(f"{error}; give a date instead") from None
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{_quoted(text)} is neither a duration ('2d', '12h') nor a date ('2026-01-31')"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise ValueError(f"{text} is out of range") from None


def _quoted(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
