"""Durations and ranges as the config and the command line write them: ``"10m"``, ``"7d"``;
"must be between 1m and 7d, not 30s". Standard library only: the command line reads
``--for`` and ``--since`` with it without loading the config's models."""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = [
    "LONGEST_DURATION",
    "DurationTooLongError",
    "format_duration",
    "parse_duration",
    "range_words",
]

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


# No duration FeedRelay takes is longer: anything added to a date stays far from year 9999,
# and a typo such as "999999999d" is an error at load, not an overflow in the daemon.
LONGEST_DURATION = timedelta(days=3650)


class DurationTooLongError(ValueError):
    """A duration beyond ``LONGEST_DURATION`` (``Between`` turns it into its own range)."""


def parse_duration(value: object) -> timedelta:
    """``"90s"``, ``"10m"``, ``"2h"``, ``"1d"``, ``"1h30m"``. A number without a unit is
    refused: ``min_interval = 30`` could mean seconds or minutes, so it must say which.
    Anything longer than ``LONGEST_DURATION`` (10 years) is refused too."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '90s', '10m', '2h' or '1d'")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a duration such as '90s', '10m', '2h' or '1d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        raise ValueError(f"{value} has no unit: write '{value}s', '{value}m', '2h' or '1d'")
    if isinstance(value, str):
        parts = _DURATION.findall(value)
        if parts and "".join(f"{n}{u}" for n, u in parts) == re.sub(r"\s+", "", value):
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
            if not math.isfinite(seconds) or seconds > LONGEST_DURATION.total_seconds():
                raise DurationTooLongError(
                    f"{value!r} is too long: the longest duration is"
                    f" {format_duration(LONGEST_DURATION)} (10 years)"
                )
            return timedelta(seconds=seconds)
    raise ValueError(f"{value!r} is not a duration such as '90s', '10m', '2h' or '1d'")


def format_duration(value: timedelta) -> str:
    """``"10m"``, ``"7d"``, ``"90s"``: a duration as the config writes it."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def range_words(low: object, high: object, value: object = None) -> str:
    """A range in words, and the value outside it: ``must be between 1s and 365d, not 2y``."""
    words = f"must be between {_shown(low)} and {_shown(high)}"
    return words if value is None else f"{words}, not {_shown(value)}"


def _shown(value: object) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bool):
        return repr(value).lower()
    if isinstance(value, int):
        text = f"{value:,}"
        return text if len(text) <= 30 else text[:12] + "..."
    if isinstance(value, float):
        return f"{value:,g}" if math.isfinite(value) else str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
