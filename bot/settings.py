"""What every target's settings share, and the config value types the platform specs use.

``bot.config`` reads the file; each platform's ``adapters/<platform>/spec.py`` declares its
own settings model on ``TargetSettings``. Both import from here, so neither imports the other.
This module imports only pydantic, the standard library, ``bot.errors``, ``bot.model`` and
``bot.filters`` (to compile patterns as filters will use them).
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from bot.durations import (
    LONGEST_DURATION,
    DurationTooLongError,
    format_duration,
    parse_duration,
    range_words,
)
from bot.filters import compile_pattern

__all__ = [
    "FILTER_KEYS",
    "LINK_PARAM_FIELDS",
    "LONGEST_DURATION",
    "TEMPLATE_FIELDS",
    "Between",
    "ClockTime",
    "Duration",
    "FilterSettings",
    "LinkParams",
    "QuietHours",
    "RouteSettings",
    "Section",
    "TargetSettings",
    "TemplateStr",
    "TimeZoneName",
    "format_duration",
    "parse_duration",
    "template_fields",
]

TEMPLATE_FIELDS = frozenset({"title", "url", "summary", "hashtags", "feed_title", "author"})


class Between:
    """The range of a config value, checked at load; its error says the range in words::

        poll_interval: Annotated[Duration, Between(timedelta(minutes=1), timedelta(days=7))]
        max_attempts: Annotated[int, Between(1, 100)]

    Also refuses NaN and infinity, and numbers too large to read, with the same words.
    """

    def __init__(self, low: float | timedelta, high: float | timedelta) -> None:
        self.low = low
        self.high = high

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._validate, handler(source))

    def _validate(self, value: Any, inner: Callable[[Any], Any]) -> Any:
        try:
            result = inner(value)
        except ValidationError as error:
            if any(_beyond_reach(item) for item in error.errors()):
                raise ValueError(self.message(value)) from None
            raise
        if not self.low <= result <= self.high:  # NaN is never in range
            raise ValueError(self.message(result))
        return result

    def message(self, value: object = None) -> str:
        return range_words(self.low, self.high, value)


def _beyond_reach(item: Any) -> bool:
    """A value that failed only for its size: an integer too large to read, a duration
    beyond ``LONGEST_DURATION``."""
    too_long = isinstance(item.get("ctx", {}).get("error"), DurationTooLongError)
    too_big = item["type"] in ("int_parsing_size", "finite_number") or (
        item["type"] == "float_type" and isinstance(item["input"], int)
    )
    return too_long or too_big


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: object) -> time:
    """``"07:00"``, ``"18:30"``: a local time of day, 00:00 to 23:59."""
    if isinstance(value, time):
        return value
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time of day such as '07:00' or '18:30'")
    return time(int(match.group(1)), int(match.group(2)))


def parse_quiet_hours(value: object) -> tuple[time, time]:
    """``"23:00-07:00"``: a window of local time that may wrap midnight."""
    if isinstance(value, tuple):
        return value
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(f"{value!r} is not a window such as '23:00-07:00'")
    start, end = (parse_clock(part) for part in value.split("-"))
    if start == end:
        raise ValueError(f"{value!r} is empty: start and end are the same time")
    return start, end


def parse_timezone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected an IANA time zone name such as 'Europe/Berlin'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone name (IANA, such as 'Europe/Berlin' or 'UTC')"
        ) from None
    return value


ClockTime = Annotated[time, BeforeValidator(parse_clock)]
QuietHours = Annotated[tuple[time, time], BeforeValidator(parse_quiet_hours)]
TimeZoneName = Annotated[str, AfterValidator(parse_timezone)]


def template_fields(template: str) -> list[str]:
    """The fields a template uses; raises ``ValueError`` for anything but plain ``{name}``."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(
            f"malformed template ({error}); write a literal brace as {{{{ or }}}}"
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(
                f"{{{name}}} is not allowed: only plain fields such as {{title}} "
                "(no attribute, index or positional access)"
            )
        if spec or conversion:
            raise ValueError(f"{{{name}}} may not have a format spec or conversion")
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(f"{{{f}}}" for f in sorted(TEMPLATE_FIELDS))
            raise ValueError(f"unknown field {{{name}}} (known: {known})")
        names.append(name)
    return names


def _check_template(value: str) -> str:
    template_fields(value)
    return value


TemplateStr = Annotated[str, AfterValidator(_check_template)]


class Section(BaseModel):
    """One table of the config file: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("an empty label or word matches nothing: remove it")
    return value


def _check_pattern(value: str) -> str:
    compile_pattern(value)
    return value


FilterItem = Annotated[str, AfterValidator(_not_blank)]
Pattern = Annotated[str, AfterValidator(_check_pattern)]


class FilterSettings(Section):
    """The filters a feed, a target and a route may each set (``bot.filters``): an entry
    goes to a target only if it passes all three levels."""

    include_labels: list[FilterItem] = Field(default_factory=list)
    exclude_labels: list[FilterItem] = Field(default_factory=list)
    include_words: list[FilterItem] = Field(default_factory=list)
    exclude_words: list[FilterItem] = Field(default_factory=list)
    include_pattern: Pattern | None = None
    exclude_pattern: Pattern | None = None


FILTER_KEYS = tuple(FilterSettings.model_fields)
# The placeholders a link parameter's value may use.
LINK_PARAM_FIELDS = ("feed", "target", "platform")


def _check_link_param(value: str) -> str:
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as error:
        raise ValueError(
            f"malformed value ({error}); write a literal brace as {{{{ or }}}}"
        ) from None
    known = ", ".join(f"{{{name}}}" for name in LINK_PARAM_FIELDS)
    for _literal, name, spec, conversion in parsed:
        if name is not None and (name not in LINK_PARAM_FIELDS or spec or conversion):
            raise ValueError(f"{{{name}}} is not allowed here (known: {known})")
    return value


def _check_link_param_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not name.strip():
            raise ValueError("a parameter needs a name")
    return value


# Query parameters added to the entry's link in a target's posts: name -> value, where the
# value may use {feed}, {target} and {platform} (``bot.routes``).
LinkParams = Annotated[
    dict[str, Annotated[str, AfterValidator(_check_link_param)]],
    AfterValidator(_check_link_param_names),
]


class RouteSettings(FilterSettings):
    """``[feeds.FEED.to.TARGET]``: the route's own filters and link parameters, and any
    wording key of the target's platform (``PlatformSpec.wording``), kept as extra keys
    here and checked by ``bot.config`` against the target's settings model."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)

    link_params: LinkParams = Field(default_factory=dict)

    def wording(self) -> dict[str, Any]:
        """The platform's keys this route sets (its extra keys), as written."""
        return dict(self.model_extra or {})


class TargetSettings(FilterSettings):
    """The settings every target has; each platform's spec subclasses it with its own."""

    platform: str
    api_base: str | None = None
    link_params: LinkParams = Field(default_factory=dict)
    image: bool = True
    # The schedule (bot.policy applies it; every time of day is in [bot] timezone).
    delay: Annotated[Duration, Between(timedelta(0), timedelta(days=30))] = timedelta(0)
    min_interval: Annotated[Duration, Between(timedelta(0), timedelta(days=30))] = timedelta(0)
    max_per_day: Annotated[int, Between(0, 100_000)] = 0
    quiet_hours: QuietHours | None = None
    slots: list[ClockTime] = Field(default_factory=list)
    jitter: Annotated[Duration, Between(timedelta(0), timedelta(days=1))] = timedelta(0)
    approve: bool = False

    @field_validator("slots")
    @classmethod
    def _distinct_slots(cls, value: list[time]) -> list[time]:
        seen = sorted(value)
        for earlier, later in itertools.pairwise(seen):
            if earlier == later:
                raise ValueError(f"{later:%H:%M} is given twice: one post per slot")
        return seen

    @model_validator(mode="after")
    def _slots_fit_the_spacing(self) -> Self:
        if len(self.slots) > 1 and self.min_interval:
            day = datetime(2000, 1, 1)
            times = [datetime.combine(day, slot) for slot in self.slots]
            times.append(times[0] + timedelta(days=1))
            gap = min(later - earlier for earlier, later in itertools.pairwise(times))
            if gap < self.min_interval:
                raise ValueError(
                    f"min_interval {self.min_interval} is longer than the {gap} between two"
                    " slots: a slot would always be missed (shorten min_interval or space"
                    " the slots)"
                )
        return self

    def budget_usd(self) -> float:
        """The most this target may spend in a calendar month, USD (0: no budget)."""
        return 0.0

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    def credentials(self) -> dict[str, str]:
        """Every secret field with its value revealed, for the adapter only."""
        return {
            name: value.get_secret_value() for name, value in self if isinstance(value, SecretStr)
        }

    def destination(self) -> dict[str, str | None]:
        """Where this target's posts go, for people and tools: ``account`` (None where only
        the platform knows it, before ``check --online``) and the platform's own place
        (``subreddit``, ``blog``)."""
        return {"account": None}

    @classmethod
    def of(cls, settings: TargetSettings) -> Self:
        """``settings`` as this platform's model; ``TypeError`` for another platform's."""
        if not isinstance(settings, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(settings).__name__}")
        return settings
