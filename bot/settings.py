"""What every target's settings share, and the config value types the platform specs use.

``bot.config`` reads the file; each platform's ``adapters/<platform>/spec.py`` declares its
own settings model on ``TargetSettings``. Both import from here, so neither imports the other.
This module imports only pydantic, the standard library, ``bot.errors`` and ``bot.model``.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    field_validator,
)

__all__ = [
    "TEMPLATE_FIELDS",
    "Duration",
    "Section",
    "TargetSettings",
    "TemplateStr",
    "parse_duration",
    "template_fields",
]

TEMPLATE_FIELDS = frozenset({"title", "url", "summary", "hashtags", "feed_title", "author"})
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """``"90s"``, ``"10m"``, ``"2h"``, ``"1d"``, ``"1h30m"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '90s', '10m', '2h' or '1d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        parts = _DURATION.findall(value)
        if parts and "".join(f"{n}{u}" for n, u in parts) == re.sub(r"\s+", "", value):
            return timedelta(seconds=sum(float(n) * _DURATION_UNITS[u] for n, u in parts))
    raise ValueError(f"{value!r} is not a duration such as '90s', '10m', '2h' or '1d'")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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


class TargetSettings(Section):
    """The settings every target has; each platform's spec subclasses it with its own."""

    platform: str
    api_base: str | None = None
    min_interval: Duration = timedelta(0)
    image: bool = True

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

    def adapter_options(self) -> dict[str, object]:
        """Keyword arguments for this platform's adapter class (besides target and session)."""
        raise NotImplementedError

    @classmethod
    def of(cls, settings: TargetSettings) -> Self:
        """``settings`` as this platform's model; ``TypeError`` for another platform's."""
        if not isinstance(settings, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(settings).__name__}")
        return settings
