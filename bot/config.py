"""The TOML config file: read it, fill in secrets, validate all of it, report every problem.

Problems are reported together, each as ``dotted.path: what is wrong (line N)``. Secrets are
``${ENV_VAR}`` references filled from the environment and kept as ``SecretStr`` so that
``repr`` and error messages show ``**********``, never the value.

The settings of a target come from its platform's spec (``adapters.spec(platform)``); what
every target shares, and the duration and template types, are in ``bot.settings`` (and are
importable from here too).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, SecretStr, ValidationError

import adapters
from bot.errors import ConfigError, PluginError
from bot.settings import (
    FILTER_KEYS,
    LONGEST_DURATION,
    TEMPLATE_FIELDS,
    Between,
    Duration,
    FilterSettings,
    RouteSettings,
    Section,
    TargetSettings,
    TemplateStr,
    TimeZoneName,
    parse_duration,
    template_fields,
)
from bot.web.settings import WebSettings

__all__ = [
    "TEMPLATE_FIELDS",
    "BotSettings",
    "Config",
    "Duration",
    "FeedSettings",
    "NotifySettings",
    "TargetSettings",
    "TemplateStr",
    "config_path",
    "load_config",
    "parse_duration",
    "target_model",
    "template_fields",
]

DEFAULT_CONFIG_PATH = "feedrelay.toml"
# The secrets' file beside the config: `init` writes it, the service files read it. FeedRelay
# itself reads only the environment: the shell (`set -a; . ./.env; set +a`), systemd
# (EnvironmentFile=) or compose (env_file:) load it.
ENV_FILE = ".env"
SECTIONS = ("bot", "feeds", "targets", "notify", "web")
DATABASE_ENV_VAR = "FEEDRELAY_DATABASE"
CONFIG_ENV_VAR = "FEEDRELAY_CONFIG"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# "$NAME" without braces: never filled in, so almost certainly a mistake.
_BARE_ENV_REF = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _no_nul(value: str) -> str:
    """A path or URL with a NUL character in it: no file system or server takes one."""
    if "\0" in value:
        raise ValueError("may not contain a NUL character (\\u0000)")
    return value


# Every duration and number has a range (README's configuration reference gives each);
# a value outside it is a config error naming the key, the line and the range.
PollInterval = Annotated[Duration, Between(timedelta(minutes=1), timedelta(days=7))]


class BotSettings(Section):
    database: Annotated[str, AfterValidator(_no_nul)] = Field(
        default="feedrelay.sqlite", min_length=1
    )
    timezone: TimeZoneName = "UTC"
    poll_interval: PollInterval = timedelta(minutes=10)
    max_feed_bytes: Annotated[int, Between(1, 1_000_000_000)] = 10_000_000
    max_image_bytes: Annotated[int, Between(1, 50_000_000)] = 5_000_000
    max_attempts: Annotated[int, Between(1, 100)] = 8
    fetch_workers: Annotated[int, Between(1, 256)] = 16
    # Processes that parse feeds in a cycle with more than a few changed bodies (None: one
    # per core; 0: every feed is parsed in the daemon's own process).
    parse_workers: Annotated[int, Between(0, 256)] | None = None
    fetch_deadline: Annotated[Duration, Between(timedelta(seconds=1), timedelta(minutes=10))] = (
        timedelta(seconds=60)
    )
    # How long a runner's claim on a delivery holds: after it, a runner that died while
    # sending is taken over (its post looked up first). Longer than any post takes.
    claim_lease: Annotated[Duration, Between(timedelta(seconds=1), timedelta(days=1))] = timedelta(
        minutes=10
    )
    # Images named by feed content may come from loopback, private and link-local addresses
    # (a blog on the operator's own network; tests). Off: such images are refused.
    allow_private_images: bool = False


class FeedSettings(FilterSettings):
    url: Annotated[str, AfterValidator(_no_nul)] = Field(min_length=1)
    targets: list[str] = Field(default_factory=list)
    backfill: Annotated[int, Between(0, 10_000)] = 0
    poll_interval: PollInterval | None = None
    max_new_per_poll: Annotated[int, Between(0, 1_000_000)] = 5
    max_age: Annotated[Duration, Between(timedelta(0), LONGEST_DURATION)] = timedelta(days=7)
    # The routes of this feed that say more than its targets do: [feeds.NAME.to.TARGET].
    to: dict[str, RouteSettings] = Field(default_factory=dict)


class NotifySettings(Section):
    """Where failure notifications go: Apprise URLs (``"${NTFY_URL}"``, ``"mailto://..."``)."""

    urls: list[SecretStr] = Field(default_factory=list)


def target_model(platform: str) -> type[TargetSettings]:
    """The settings model of an installed platform, from its spec (loaded now, and only
    for a platform the config uses): ``KeyError`` if none is installed by that name,
    ``PluginError`` if it cannot be loaded."""
    return adapters.spec(platform).settings_model


@dataclass(frozen=True, kw_only=True)
class Config:
    """A validated config. Paths are absolute; secrets are ``SecretStr``."""

    path: Path
    bot: BotSettings
    feeds: dict[str, FeedSettings]
    targets: dict[str, TargetSettings]
    warnings: tuple[str, ...] = ()
    # Likely mistakes that are not errors, such as "$NAME" written without braces.
    notices: tuple[str, ...] = ()
    database_path: Path = field(default=Path("feedrelay.sqlite"))
    notify: NotifySettings = field(default_factory=lambda: NotifySettings())
    # Every value filled in from the environment, to scrub from anything sent out.
    secrets: tuple[SecretStr, ...] = field(default=(), repr=False)
    # A PostgreSQL URL when [bot] database is one (several daemons share that store);
    # ``None`` for the default SQLite file at ``database_path``.
    database_url: str | None = field(default=None, repr=False)
    # The daemon's web face; ``None`` (no [web] table): it serves nothing.
    web: WebSettings | None = None
    # Each target as a route of one feed sees it, where [feeds.FEED.to.TARGET] sets wording
    # of the target's platform: the target's settings with the route's, validated together.
    worded: dict[tuple[str, str], TargetSettings] = field(default_factory=dict, repr=False)

    def target_for(self, feed: str, target: str) -> TargetSettings:
        """The settings of ``target`` for the entries of ``feed`` (its route's wording)."""
        return self.worded.get((feed, target)) or self.targets[target]

    @property
    def store(self) -> str:
        """What ``open_store`` opens: the PostgreSQL URL, or the SQLite file's path."""
        return self.database_url or str(self.database_path)

    def feed_url(self, name: str) -> str:
        return self.feeds[name].url

    def poll_interval(self, feed: str) -> timedelta:
        return self.feeds[feed].poll_interval or self.bot.poll_interval


def is_server_url(database: str) -> bool:
    """Is ``[bot] database`` a PostgreSQL URL (else a SQLite file)?"""
    return re.match(r"^postgres(?:ql)?(?:\+\w+)?://", database) is not None


# A database URL as SQLAlchemy reads one (sqlalchemy.engine.url._parse_url), so that a URL
# it cannot use is a config error at load; SQLAlchemy itself is imported in bot/store only.
_SERVER_URL = re.compile(
    r"""
    (?P<name>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    """,
    re.X,
)
_SERVER_URL_FORM = (
    "write postgresql://USER:PASSWORD@HOST:PORT/DATABASE (an @ in the password as %40)"
)


def database_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL, or ``None``. Never quotes the URL: it may hold
    the password."""
    match = _SERVER_URL.match(url)
    if match is None:  # pragma: no cover (every part after "://" is optional)
        return f"not a PostgreSQL URL: {_SERVER_URL_FORM}"
    ipv6, host, port = match["ipv6host"], match["ipv4host"], match["port"]
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6)
        except ValueError:
            return f"the host in [...] is not an IPv6 address: {_SERVER_URL_FORM}"
    if host is not None and not re.fullmatch(r"[A-Za-z0-9._~%-]+", host):
        return f"the host is malformed: {_SERVER_URL_FORM}"
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"the port must be a number from 1 to 65535: {_SERVER_URL_FORM}"
    return None


def env_file(config: Path) -> Path:
    """The secrets' file beside the config at ``config``."""
    return config.parent / ENV_FILE


def load_env_command(config: Path) -> str:
    """The shell line that loads the env file beside ``config`` into the environment."""
    import shlex

    env = env_file(config)
    shown = str(env) if env.is_absolute() or len(env.parts) > 1 else f"./{env}"
    return f"set -a; . {shlex.quote(shown)}; set +a"


def missing_variables_hint(config: Path) -> str:
    """What to do about ``${VAR}`` references that are unset or empty."""
    return (
        f"FeedRelay reads these from the environment: write their values in"
        f" {env_file(config)}, then load it into this shell with `{load_env_command(config)}`"
        " (a systemd unit: EnvironmentFile=; compose: env_file:)"
    )


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
            [
                f"no config file at {path}: `feedrelay init` writes one (or pass --config"
                f" PATH, or set ${CONFIG_ENV_VAR})"
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"cannot read {path}: {error}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"not valid TOML: {error}"], path=str(path)) from None
    except ValueError as error:  # tomllib's int() of a number thousands of digits long
        raise ConfigError(
            [f"not valid TOML: a number too long to read ({error})"], path=str(path)
        ) from None
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

    notices: list[str] = []
    filled: list[str] = []
    unset: list[str] = []

    def report_unset(loc: tuple[str | int, ...], name: str) -> None:
        unset.append(name)
        report(loc, f"environment variable {name} is not set")

    raw = _fill_env(
        raw, (), environ, report_unset, warnings, allow_missing_secrets, notices, filled, locate
    )
    for key in raw:
        if key not in SECTIONS:
            report(
                (key,),
                "unknown section"
                + (
                    _did_you_mean(key, SECTIONS)
                    or " (expected [bot], [feeds.NAME], [targets.NAME])"
                ),
            )

    bot = _model(BotSettings, raw.get("bot", {}), ("bot",), report) or BotSettings()
    notify = _model(NotifySettings, raw.get("notify", {}), ("notify",), report)
    web = _model(WebSettings, raw["web"], ("web",), report) if "web" in raw else None
    if web is not None and web.unguarded():
        report(("web", "token"), web.unguarded())
    feeds: dict[str, FeedSettings] = {}
    targets: dict[str, TargetSettings] = {}
    routes: dict[str, dict[str, RouteSettings]] = {}
    for name, section in _tables(raw, "feeds", report):
        own = {key: value for key, value in section.items() if key != "to"}
        feed = _model(FeedSettings, own, ("feeds", name), report)
        # A feed's routes are checked even where the feed's own keys are wrong.
        routes[name] = _route_tables(section, ("feeds", name, "to"), report)
        if feed is not None:
            feeds[name] = feed.model_copy(update={"to": routes[name]})
    for name, section in _tables(raw, "targets", report):
        platform = section.get("platform")
        installed = adapters.platforms()
        if not isinstance(platform, str) or platform not in installed:
            known = ", ".join(repr(p) for p in installed)
            misspelt = [key for key in section if _did_you_mean(key, ["platform"])]
            if platform is None and misspelt:
                # `plaform = "..."`: the unknown key is the mistake, not a missing one.
                for key in misspelt:
                    report(("targets", name, key), "unknown key (did you mean platform?)")
                continue
            if platform is None:
                message = f"required key is missing (one of {known})"
            elif isinstance(platform, str):
                hint = _did_you_mean(platform, installed, quote=True)
                message = f"must be one of {known}, not {platform!r}{hint}"
            else:  # a number, a list, a table: its value says nothing useful
                message = f"must be one of {known} (a string)"
            report(("targets", name, "platform"), message)
            continue
        try:
            model = target_model(platform)
        except PluginError as error:
            report(("targets", name, "platform"), str(error))
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
            known_targets = raw.get("targets", {})
            if isinstance(target_name, str) and target_name not in known_targets:
                hint = _did_you_mean(target_name, known_targets, quote=True)
                report(("feeds", name, "targets", index), f"no target named {target_name!r}{hint}")

    worded = _routes(raw, routes, targets, report)

    # The environment may put the store elsewhere (a container's volume, systemd's
    # StateDirectory) without editing the config file.
    database = environ.get(DATABASE_ENV_VAR) or bot.database
    if is_server_url(database):
        problem = database_url_problem(database)
        if problem:
            where = ("bot", "database") if database == bot.database else (f"${DATABASE_ENV_VAR}",)
            report(where, problem)
    if problems:
        hint = missing_variables_hint(path) if unset else ""
        raise ConfigError(problems, path=str(path), hint=hint)
    base = path.resolve().parent
    feeds = {name: _resolve_feed_path(feed, base) for name, feed in feeds.items()}
    return Config(
        path=path.resolve(),
        bot=bot,
        feeds=feeds,
        targets=targets,
        warnings=tuple(warnings),
        notices=tuple(notices),
        database_path=(base / database).resolve() if not is_server_url(database) else Path(),
        database_url=database if is_server_url(database) else None,
        notify=notify or NotifySettings(),
        web=web,
        secrets=tuple(SecretStr(value) for value in filled if value),
        worded=worded,
    )


def _route_tables(
    feed: dict[str, Any], loc: tuple[str, ...], report: Any
) -> dict[str, RouteSettings]:
    """The route tables of one feed (``[feeds.FEED.to.TARGET]``), each checked on its own,
    and each for a target of the feed."""
    tables = feed.get("to", {})
    if not isinstance(tables, dict):
        report(loc, "must be a table of [feeds.NAME.to.TARGET] tables")
        return {}
    named = feed.get("targets")
    found = {}
    for target, table in tables.items():
        if isinstance(named, list) and target not in named:
            hint = _did_you_mean(target, [str(t) for t in named], quote=True)
            report(
                (*loc, target),
                f"{target!r} is not one of this feed's targets{hint}: a route's target must"
                " be in the feed's targets",
            )
        checked = _model(RouteSettings, table, (*loc, target), report)
        if checked is not None and (not isinstance(named, list) or target in named):
            found[target] = checked
    return found


def _routes(
    raw: dict[str, Any],
    routes: Mapping[str, Mapping[str, RouteSettings]],
    targets: Mapping[str, TargetSettings],
    report: Any,
) -> dict[tuple[str, str], TargetSettings]:
    """Check each route's wording against its target's platform, and return each target
    as the routes that set wording of its platform see it."""
    worded: dict[tuple[str, str], TargetSettings] = {}
    for feed_name, feed_routes in routes.items():
        for target_name, route in feed_routes.items():
            where = ("feeds", feed_name, "to", target_name)
            target = targets.get(target_name)
            wording = route.wording()
            if target is None or not wording:
                continue  # a target that failed is reported on its own
            platform = adapters.spec(target.platform)
            for key in wording:
                if key not in platform.wording:
                    report((*where, key), _not_wording(key, platform.name, platform.wording))
            known = {k: v for k, v in wording.items() if k in platform.wording}
            merged = _model(type(target), {**raw["targets"][target_name], **known}, where, report)
            if merged is not None and len(known) == len(wording):
                worded[feed_name, target_name] = merged
    return worded


def _not_wording(key: str, platform: str, wording: Collection[str]) -> str:
    """The error of a key a route may not set, naming the keys it may."""
    hint = _did_you_mean(key, [*wording, *FILTER_KEYS, "link_params"])
    if not wording:
        return (
            f"unknown key{hint}: a route to a {platform} target takes filters and link_params"
            f" ({platform} has no wording keys)"
        )
    return (
        f"unknown key{hint}: a route to a {platform} target takes {platform}'s wording keys"
        f" ({', '.join(wording)}), filters and link_params"
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
                key = str(item["loc"][-1]) if item["loc"] else ""
                message = "unknown key" + _did_you_mean(key, model.model_fields)
            elif item["type"] == "missing":
                message = "required key is missing"
            elif item["type"] == "list_type" and isinstance(item.get("input"), str):
                # `targets = "x"`: TOML's list of one is written ["x"].
                key = str(where[-1])
                example = json.dumps([item["input"]], ensure_ascii=False)
                message = f"must be a list: {key} = {example}"
            report(where, message)
        return None


def _did_you_mean(word: str, choices: Collection[str], *, quote: bool = False) -> str:
    """`` (did you mean min_interval?)`` for the nearest choice, or ``""``; case-blind."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if not close:
        return ""
    nearest = by_lower[close[0]]
    return f" (did you mean {nearest!r}?)" if quote else f" (did you mean {nearest}?)"


def _fill_env(
    value: Any,
    loc: tuple[str | int, ...],
    environ: Mapping[str, str],
    report: Any,
    warnings: list[str],
    allow_missing: bool,
    notices: list[str],
    filled: list[str],
    locate: _Locator,
) -> Any:
    """``value`` with each ``${NAME}`` filled in from ``environ``. A variable that is unset
    or empty (an env file sourced before its values were written sets it to ``""``) is
    missing: ``report(loc, name)``, or under ``allow_missing`` a warning."""
    more = (environ, report, warnings, allow_missing, notices, filled, locate)
    if isinstance(value, dict):
        return {k: _fill_env(v, (*loc, k), *more) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_env(v, (*loc, i), *more) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    for match in _BARE_ENV_REF.finditer(value):
        where = ".".join(str(p) for p in loc)
        notices.append(
            f'{where}: "${match.group(1)}" looks like an environment variable:'
            f' write "${{{match.group(1)}}}"'
        )
    if "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if environ.get(name):
            filled.append(environ[name])
            return environ[name]
        where = ".".join(str(p) for p in loc)
        if allow_missing:
            warnings.append(f"{where}: environment variable {name} is not set{locate(loc)}")
            return f"<{name} not set>"
        report(loc, name)
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
