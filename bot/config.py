"""The TOML config file: read it, fill in secrets, validate all of it, report every problem.

Problems are reported together, each as ``dotted.path: what is wrong (line N)``. Secrets are
``${ENV_VAR}`` references filled from the environment and kept as ``SecretStr`` so that
``repr`` and error messages show ``**********``, never the value.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = "feedrelay.toml"
CONFIG_ENV_VAR = "FEEDRELAY_CONFIG"

TEMPLATE_FIELDS = frozenset({"title", "url", "summary", "hashtags", "feed_title", "author"})
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class BotSettings(_Section):
    database: str = "feedrelay.sqlite"
    poll_interval: Duration = timedelta(minutes=10)
    max_feed_bytes: int = Field(default=10_000_000, gt=0)
    max_image_bytes: int = Field(default=5_000_000, gt=0)
    max_attempts: int = Field(default=8, ge=1)


class FeedSettings(_Section):
    url: str = Field(min_length=1)
    targets: list[str] = Field(default_factory=list)
    backfill: int = Field(default=0, ge=0)
    poll_interval: Duration | None = None
    max_new_per_poll: int = Field(default=5, ge=0)
    max_age: Duration = timedelta(days=7)


class _TargetBase(_Section):
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

    def adapter_options(self) -> dict[str, Any]:
        """Keyword arguments for this platform's adapter class."""
        raise NotImplementedError


class TwitterTarget(_TargetBase):
    platform: Literal["twitter"]
    template: TemplateStr = "{title} {url} {hashtags}"
    consumer_key: SecretStr
    consumer_secret: SecretStr
    access_token: SecretStr
    access_token_secret: SecretStr
    max_hashtags: int = Field(default=3, ge=0)
    hashtags_allow: list[str] | None = None
    hashtags_deny: list[str] = Field(default_factory=list)
    hashtags_rename: dict[str, str] = Field(default_factory=dict)
    neutralize_mentions: bool = True

    def adapter_options(self) -> dict[str, Any]:
        return {**self.credentials(), "api_base": self.api_base}


class RedditTarget(_TargetBase):
    platform: Literal["reddit"]
    subreddit: str = Field(min_length=1)
    kind: Literal["link", "self"] = "link"
    title: TemplateStr = "{title}"
    body: TemplateStr = "{summary}\n\n{url}"
    flair_id: str | None = None
    flair_text: str | None = None
    nsfw: bool = False
    spoiler: bool = False
    send_replies: bool = False
    client_id: SecretStr
    client_secret: SecretStr
    username: str | None = None
    password: SecretStr | None = None
    refresh_token: SecretStr | None = None
    user_agent: str | None = None

    @field_validator("subreddit")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        name = value.removeprefix("/").removeprefix("r/")
        if not re.fullmatch(r"[A-Za-z0-9_]{2,21}", name):
            raise ValueError(f"{value!r} is not a subreddit name (like 'python' or 'r/python')")
        return name

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> RedditTarget:
        if self.refresh_token is None and (self.username is None or self.password is None):
            raise ValueError("needs either refresh_token, or username and password")
        return self

    def adapter_options(self) -> dict[str, Any]:
        options = self.model_dump(
            include={
                "subreddit",
                "kind",
                "flair_id",
                "flair_text",
                "nsfw",
                "spoiler",
                "send_replies",
                "username",
                "user_agent",
                "api_base",
            }
        )
        return {**options, **self.credentials()}


class TumblrTarget(_TargetBase):
    platform: Literal["tumblr"]
    blog: str = Field(min_length=1)
    state: Literal["published", "queue", "draft", "private"] = "published"
    text: TemplateStr = "{summary}"
    tags_from_labels: bool = True
    tags: list[str] = Field(default_factory=list)
    consumer_key: SecretStr
    consumer_secret: SecretStr
    oauth_token: SecretStr
    oauth_token_secret: SecretStr

    def adapter_options(self) -> dict[str, Any]:
        options = self.model_dump(include={"blog", "state", "api_base"})
        return {**options, **self.credentials()}


TargetSettings = TwitterTarget | RedditTarget | TumblrTarget
TARGET_MODELS: dict[str, type[TwitterTarget] | type[RedditTarget] | type[TumblrTarget]] = {
    "twitter": TwitterTarget,
    "reddit": RedditTarget,
    "tumblr": TumblrTarget,
}


@dataclass(frozen=True, kw_only=True)
class Config:
    """A validated config. Paths are absolute; secrets are ``SecretStr``."""

    path: Path
    bot: BotSettings
    feeds: dict[str, FeedSettings]
    targets: dict[str, TargetSettings]
    warnings: tuple[str, ...] = ()
    database_path: Path = field(default=Path("feedrelay.sqlite"))

    def feed_url(self, name: str) -> str:
        return self.feeds[name].url

    def poll_interval(self, feed: str) -> timedelta:
        return self.feeds[feed].poll_interval or self.bot.poll_interval


def config_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """``--config``, else ``$FEEDRELAY_CONFIG``, else ``./feedrelay.toml``."""
    return Path(explicit or environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(
    path: Path, *, environ: Mapping[str, str] = os.environ, allow_missing_secrets: bool = False
) -> Config:
    """Read and validate ``path``; raise ``ConfigError`` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"no config file at {path} (pass --config PATH or set ${CONFIG_ENV_VAR})"]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"cannot read {path}: {error}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"not valid TOML: {error}"], path=str(path)) from None
    return _validate(raw, text, path, environ, allow_missing_secrets)


def _validate(
    raw: dict[str, Any],
    text: str,
    path: Path,
    environ: Mapping[str, str],
    allow_missing_secrets: bool,
) -> Config:
    problems: list[str] = []
    warnings: list[str] = []
    locate = _Locator(text)

    def report(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(f"{'.'.join(str(p) for p in loc)}: {message}{locate(loc)}")

    raw = _fill_env(raw, (), environ, report, warnings, allow_missing_secrets)
    for key in raw:
        if key not in {"bot", "feeds", "targets"}:
            report((key,), "unknown section (expected [bot], [feeds.NAME], [targets.NAME])")

    bot = _model(BotSettings, raw.get("bot", {}), ("bot",), report) or BotSettings()
    feeds: dict[str, FeedSettings] = {}
    targets: dict[str, TargetSettings] = {}
    for name, section in _tables(raw, "feeds", report):
        feed = _model(FeedSettings, section, ("feeds", name), report)
        if feed is not None:
            feeds[name] = feed
    for name, section in _tables(raw, "targets", report):
        platform = section.get("platform")
        model = TARGET_MODELS.get(platform) if isinstance(platform, str) else None
        if model is None:
            known = ", ".join(repr(p) for p in TARGET_MODELS)
            report(("targets", name, "platform"), f"must be one of {known}, not {platform!r}")
            continue
        target = _model(model, section, ("targets", name), report)
        if target is not None:
            targets[name] = target

    if "feeds" not in raw:
        report(("feeds",), "no feeds configured: add a [feeds.NAME] table with a url")
    for name, section in _tables(raw, "feeds", lambda *_: None):
        named = section.get("targets")
        if not isinstance(named, list):
            continue
        if not named:
            report(("feeds", name, "targets"), "lists no targets")
        for index, target_name in enumerate(named):
            if isinstance(target_name, str) and target_name not in raw.get("targets", {}):
                report(("feeds", name, "targets", index), f"no target named {target_name!r}")

    if problems:
        raise ConfigError(problems, path=str(path))
    base = path.resolve().parent
    feeds = {name: _resolve_feed_path(feed, base) for name, feed in feeds.items()}
    return Config(
        path=path.resolve(),
        bot=bot,
        feeds=feeds,
        targets=targets,
        warnings=tuple(warnings),
        database_path=(base / bot.database).resolve(),
    )


def _tables(raw: dict[str, Any], section: str, report: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    tables = raw.get(section, {})
    if not isinstance(tables, dict):
        report((section,), f"must be a table of [{section}.NAME] tables")
        return
    for name, value in tables.items():
        if not _NAME.match(name):
            report((section, name), "names may hold only letters, digits, '_', '-' and '.'")
        elif not isinstance(value, dict):
            report((section, name), f"must be a table ([{section}.{name}])")
        else:
            yield name, value


def _model(model: type[Any], data: Any, loc: tuple[str, ...], report: Any) -> Any:
    if not isinstance(data, dict):
        report(loc, "must be a table")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            where = loc + tuple(p for p in item["loc"] if p != "__root__")
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            elif item["type"] == "missing":
                message = "required key is missing"
            report(where, message)
        return None


def _fill_env(
    value: Any,
    loc: tuple[str | int, ...],
    environ: Mapping[str, str],
    report: Any,
    warnings: list[str],
    allow_missing: bool,
) -> Any:
    if isinstance(value, dict):
        return {
            k: _fill_env(v, (*loc, k), environ, report, warnings, allow_missing)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _fill_env(v, (*loc, i), environ, report, warnings, allow_missing)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in environ:
            return environ[name]
        where = ".".join(str(p) for p in loc)
        if allow_missing:
            warnings.append(f"{where}: environment variable {name} is not set")
            return f"<{name} not set>"
        report(loc, f"environment variable {name} is not set")
        return ""

    return _ENV_REF.sub(substitute, value)


def _resolve_feed_path(feed: FeedSettings, base: Path) -> FeedSettings:
    url = feed.url
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        return feed
    return feed.model_copy(update={"url": (base / url).resolve().as_uri()})


class _Locator:
    """Best-effort line numbers for dotted config paths (tomllib keeps none)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def __call__(self, loc: tuple[str | int, ...]) -> str:
        keys = [str(p) for p in loc if isinstance(p, str)]
        if not keys:
            return ""
        line = self._find(keys)
        return f" (line {line})" if line else ""

    def _find(self, keys: list[str]) -> int | None:
        # Look for the deepest table header that is a prefix of the path, then the key.
        for depth in range(len(keys), 0, -1):
            pattern = re.compile(
                r"^\s*\[\s*" + r"\s*\.\s*".join(_quoted(k) for k in keys[:depth]) + r"\s*\]"
            )
            for number, text in enumerate(self.lines, 1):
                if pattern.match(text):
                    if depth == len(keys):
                        return number
                    return self._key_after(number, keys[depth]) or number
        top = re.compile(r"^\s*" + _quoted(keys[0]) + r"\s*=")
        for number, text in enumerate(self.lines, 1):
            if top.match(text):
                return number
        return None

    def _key_after(self, start: int, key: str) -> int | None:
        pattern = re.compile(r"^\s*" + _quoted(key) + r"\s*=")
        for number in range(start + 1, len(self.lines) + 1):
            text = self.lines[number - 1]
            if text.lstrip().startswith("["):
                return None
            if pattern.match(text):
                return number
        return None


def _quoted(key: str) -> str:
    escaped = re.escape(key)
    return rf"(?:{escaped}|\"{escaped}\"|'{escaped}')"
