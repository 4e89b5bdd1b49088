"""What ``feedrelay init`` and ``feedrelay auth`` do, without the questions.

- ``discover_feed(address)``: the feed of a blog, from the address of its home page (the
  page's ``<link rel="alternate">`` feeds, else Blogger's ``/feeds/posts/default``) or of the
  feed itself, with its title and newest entry.
- ``parse_platforms``, ``default_platform``, ``questions``: where to post, and what to ask
  about each platform's target (its spec's ``questions``).
- ``Answers`` -> ``render_config`` / ``render_env``: a commented ``feedrelay.toml`` that
  ``feedrelay check`` accepts once the environment variables are set, and a ``.env`` template
  with their names and no values. ``write_files`` never overwrites without ``force``.
- ``auth_target(path, platform)``: the target an ``auth`` command works for, its settings,
  and the environment variable each credential comes from.

Everything about a platform comes from its spec (``adapters/<platform>/setup.py``: the
target's name, the questions, the table's lines, the credentials); nothing here names one.

The CLI (``bot.cli.setup``) asks the questions and prints; everything here can be called
from a test. Errors are ``SetupError`` and ``ConfigError``, each saying what to do.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import adapters
import adapters.setup
from adapters.setup import Credential, Question, credential_lines, toml_string
from bot import names
from bot.config import DEFAULT_CONFIG_PATH, env_file, load_config, load_env_command
from bot.errors import ConfigError, PluginError, SetupError
from bot.feeds.discover import FoundFeed, blog_address, discover_feed
from bot.settings import TargetSettings

FEED_NAME = "blog"  # the [feeds.NAME] init writes


_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


# -- the answers -------------------------------------------------------------------------
def parse_platforms(text: str) -> list[str]:
    """``"a,b"`` (platform names or their aliases, with or without spaces) as installed
    platform names, in the order given, each once; ``ValueError`` naming the unknown ones."""
    known = adapters.platforms()
    given = [p.strip().lower() for p in re.split(r"[,\s]+", text)]
    found, unknown = [], []
    for name in (p for p in given if p):
        try:
            found.append(adapters.named(name))
        except KeyError:
            unknown.append(name)
    if unknown:
        raise ValueError(
            f"unknown platform {', '.join(unknown)}: choose from {', '.join(known)}"
            " (comma-separated)"
        )
    if not found:
        raise ValueError(f"name at least one platform: {', '.join(known)}")
    return list(dict.fromkeys(found))


def default_platform() -> str | None:
    """Where ``init`` posts when told nothing: the first installed platform whose spec says
    ``init_default``, else the first installed one (``None``: none is installed)."""
    for platform in adapters.platforms():
        try:
            if adapters.spec(platform).init_default:
                return platform
        except PluginError:
            continue
    return next(iter(adapters.platforms()), None)


def offered_platforms() -> list[str]:
    """The installed platforms as ``init`` offers them: its default first."""
    default = default_platform()
    return sorted(adapters.platforms(), key=lambda platform: platform != default)


def questions(platform: str) -> tuple[Question, ...]:
    """What ``init`` asks about ``platform``'s target, as its spec declares."""
    return adapters.spec(platform).questions


def target_names(platforms: Sequence[str]) -> dict[str, str]:
    """The ``[targets.NAME]`` ``init`` writes for each platform: its spec's ``target_name``
    (else the platform's name), made unique where two would be the same."""
    names: dict[str, str] = {}
    for platform in platforms:
        name = adapters.spec(platform).target_name or platform
        if name in names.values():
            name = platform if platform not in names.values() else f"{name}-{platform}"
        names[platform] = name
    return names


@dataclass(frozen=True, kw_only=True)
class Answers:
    """What ``init`` asked: the feed, the platforms, and each platform's answers to its
    questions, by platform and then by question ``key``."""

    feed: FoundFeed
    platforms: Sequence[str]
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    api_base: Mapping[str, str] = field(default_factory=dict)


def credentials(platform: str) -> tuple[Credential, ...]:
    """What ``platform``'s targets read from the environment, as its spec declares."""
    return adapters.spec(platform).credentials


def _comment(text: str) -> str:
    return " ".join(text.split())


def render_config(answers: Answers, *, now: datetime | None = None) -> str:
    """The commented ``feedrelay.toml`` for ``answers``."""
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    feed = answers.feed
    names = target_names(answers.platforms)
    targets = list(names.values())
    lines = [
        f"# FeedRelay configuration, written by `feedrelay init` on {when}.",
        "# Every option is described in the README and in config.example.toml.",
        '# No secret is written here: "${NAME}" is read from the environment variable NAME.',
        "# Their names are in .env: fill in the values there (or in your service's",
        "# environment), then run `feedrelay check --online`.",
        "",
        "[bot]",
        'database = "feedrelay.sqlite"    # the record of every entry and delivery (SQLite)',
        'poll_interval = "10m"            # how often the feed is checked',
        'timezone = "UTC"                 # IANA name ("Europe/Berlin") for quiet hours, slots',
        "",
        f"# {_comment(feed.title) or 'The blog'}",
        f"[feeds.{FEED_NAME}]",
        f"url = {toml_string(feed.url)}",
        f"targets = [{', '.join(toml_string(t) for t in targets)}]",
        "# The first poll records what is already there and posts none of it; backfill = N",
        "# posts the N newest entries on that first poll too.",
        "backfill = 0",
        "# max_new_per_poll = 5          # more new entries at once are held for `approve`",
        '# max_age = "7d"                # older entries are recorded, not posted',
    ]
    for number, platform in enumerate(answers.platforms):
        table = target_table(
            platform,
            names[platform],
            answers.values.get(platform, {}),
            api_base=answers.api_base.get(platform),
            example_port=EXAMPLE_PORT + number,
        )
        lines += ["", *table]
    return "\n".join(lines) + "\n"


# The commented api_base of the first target; the next ones count up. Not 8080, where an
# `auth` flow's local redirect listens (docs/troubleshooting.md).
EXAMPLE_PORT = 8081


def target_table(
    platform: str,
    name: str,
    values: Mapping[str, str],
    *,
    api_base: str | None = None,
    example_port: int = EXAMPLE_PORT,
) -> list[str]:
    """``[targets.NAME]`` as ``init`` writes it (``add target`` too): the platform, the
    lines its spec writes from the answers to its questions (``values``, by question key;
    else its credentials as ``"${VARIABLE}"``), then ``api_base`` (when not given, commented
    out on a port of its own: two test servers cannot share one)."""
    spec = adapters.spec(platform)
    lines = [f"[targets.{name}]", f"platform = {toml_string(platform)}"]
    if spec.target_lines is not None:
        lines += spec.target_lines(values)
    else:
        lines += credential_lines(spec.credentials)
    if api_base:
        lines.append(
            f"api_base = {toml_string(api_base)}   # not the platform: a proxy or test server"
        )
    else:
        lines.append(
            f'# api_base = "http://127.0.0.1:{example_port}"   # an API-compatible proxy or'
            " test server"
        )
    return lines


def render_env(platforms: Sequence[str]) -> str:
    """The ``.env`` template: every variable the config names, without values."""
    lines = [
        "# The secrets feedrelay.toml reads from the environment. Fill in the values; keep",
        "# this file private (it is created readable by you only) and out of version control.",
        "# Load it with `set -a; . ./.env; set +a`, or EnvironmentFile= in a systemd unit.",
    ]
    for platform in platforms:
        lines += ["", f"# {platform}"]
        for credential in credentials(platform):
            if not credential.optional:
                lines += [f"# {credential.comment or credential.what}", f"{credential.env}="]
    return "\n".join(lines) + "\n"


def existing_files(config_path: Path) -> list[Path]:
    """The files ``init`` would write that are already there."""
    return [p for p in (config_path, env_path(config_path)) if p.exists()]


def env_path(config_path: Path) -> Path:
    return env_file(config_path)


def symlinked_env(config_path: Path, *, writer: str = "init") -> str | None:
    """Why ``writer`` (``init``, ``auth --write-env``) will not write the env file (it is a
    symbolic link), or ``None``."""
    env = env_path(config_path)
    if not env.is_symlink():
        return None
    instead = (
        "write the config elsewhere with --config PATH"
        if writer == "init"
        else "leave out --write-env and put the lines in the file yourself"
    )
    return (
        f"{env} is a symbolic link: {writer} writes {env.name} itself, with mode 0600, and"
        f" does not follow a link to somewhere else; remove the link (or {instead})"
    )


def refuse_overwrite(config_path: Path, *, force: bool) -> None:
    """``SetupError`` when ``init`` would overwrite a file and ``force`` is not given, or
    when ``.env`` is a symbolic link (``force`` or not)."""
    problem = symlinked_env(config_path)
    if problem:
        raise SetupError(problem)
    there = existing_files(config_path)
    if there and not force:
        names = " and ".join(str(p) for p in there)
        # .env goes beside the config: another name in the same folder would meet it again.
        elsewhere = (
            "--config DIR/feedrelay.toml to write both in another folder (.env goes beside"
            " the config)"
            if env_path(config_path) in there
            else "--config PATH to write the config under another name"
        )
        raise SetupError(
            f"{names} already {'exist' if len(there) > 1 else 'exists'}: pass --force to"
            f" overwrite, or {elsewhere}"
        )


def write_files(config_path: Path, answers: Answers, *, force: bool = False) -> list[Path]:
    """Write the config and the ``.env`` template beside it; return their paths.

    Raises ``SetupError`` if either exists and ``force`` is not given. The config written is
    checked by loading it (without the secrets) before this returns.
    """
    refuse_overwrite(config_path, force=force)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    text = render_config(answers)
    config_path.write_text(text, encoding="utf-8")
    env = env_path(config_path)
    _write_private(env, render_env(answers.platforms), config_path)
    load_config(config_path, environ={}, allow_missing_secrets=True)  # a bug if it fails
    return [config_path, env]


def _write_private(path: Path, text: str, config_path: Path) -> None:
    """Write ``path`` with mode 0600, whatever the mode of the file it replaces; never
    through a symbolic link (it may point at any file), and whole or not at all: the text
    goes to a new file beside it (``O_EXCL | O_NOFOLLOW``, mode 0600), which then takes
    its name (``os.replace`` renames over a link, never writes through one)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise SetupError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.is_symlink():  # made since refuse_overwrite looked
            raise SetupError(symlinked_env(config_path) or f"{path} is a symbolic link")
        os.replace(temporary, path)
    except OSError as error:
        raise SetupError(f"cannot write {path}: {error.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)


@dataclass(frozen=True, kw_only=True)
class EnvUpdate:
    """What ``update_env`` did to the env file: its path, whether it made it, and the
    variables whose line it replaced or added (names only: never a value)."""

    path: Path
    created: bool
    replaced: tuple[str, ...]
    added: tuple[str, ...]


_ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)\s*=")


def update_env(
    config_path: Path,
    lines: Sequence[str],
    *,
    keep_existing: bool = False,
    comments: Mapping[str, str] | None = None,
    heading: str = "",
    writer: str = "auth --write-env",
) -> EnvUpdate:
    """Put each ``NAME=value`` of ``lines`` in the env file beside the config (``env_path``,
    the file ``init`` writes): the line that sets ``NAME`` is replaced (an ``export`` before
    it kept; ``keep_existing``: left as it is), a variable it does not set yet is added at
    the end (under ``heading``, each after its ``comments[NAME]``), every other line stays
    as it was. The file is made with mode 0600, or kept at 0600, and never written through
    a symbolic link (``SetupError``, as for a file that cannot be read or written)."""
    path = env_path(config_path)
    problem = symlinked_env(config_path, writer=writer)
    if problem:
        raise SetupError(problem)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        old: list[str] = []
        created = True
    except OSError as error:
        raise SetupError(f"cannot read {path}: {error.strerror}") from None
    else:
        with os.fdopen(descriptor, encoding="utf-8") as handle:
            old = handle.read().splitlines()
        created = False
    new = {line.split("=", 1)[0].strip(): line.strip() for line in lines}
    replaced: list[str] = []
    text: list[str] = []
    there: set[str] = set()
    for line in old:
        match = _ENV_LINE.match(line)
        name = match.group(2) if match else None
        if name in new and name not in there and not keep_existing:
            assert match is not None
            text.append(match.group(1) + new[name])
            replaced.append(name)
        elif name not in replaced:
            text.append(line)
        if name is not None:
            there.add(name)
    added = [name for name in new if name not in there]
    if added and text and text[-1].strip():
        text.append("")
    if added and heading:
        text.append(f"# {heading}")
    for name in added:
        if comments and comments.get(name):
            text.append(f"# {comments[name]}")
        text.append(new[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, "\n".join(text) + "\n", config_path)
    return EnvUpdate(path=path, created=created, replaced=tuple(replaced), added=tuple(added))


# -- auth --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AuthTarget:
    """The target an ``auth`` command works for.

    ``settings`` is validated with the secrets that are set; ``env`` maps each config key
    given as ``"${NAME}"`` to ``NAME``; ``missing`` lists the keys whose variable is unset.
    """

    name: str
    settings: TargetSettings
    env: Mapping[str, str]
    missing: frozenset[str]

    def value(self, key: str) -> str | None:
        """A setting's value (a secret revealed), ``None`` if unset or its variable is not."""
        if key in self.missing:
            return None
        raw = getattr(self.settings, key, None)
        if raw is None:
            return None
        reveal = getattr(raw, "get_secret_value", None)
        return str(reveal() if reveal else raw)

    def env_name(self, key: str, default: str) -> str:
        return self.env.get(key, default)


def auth_target(
    path: Path, platform: str, name: str | None = None, *, environ: Mapping[str, str] = os.environ
) -> AuthTarget:
    """The ``platform`` target ``name`` of the config at ``path`` (the only one, if no name).

    Raises ``ConfigError`` for a config that is wrong in itself (unset variables are fine:
    the command may be about to make them), ``UnknownNameError`` for a ``name`` the config
    does not have (``bot.names``), ``SetupError`` when no target fits.
    """
    config = load_config(path, environ=environ, allow_missing_secrets=True)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    mine = [n for n, t in config.targets.items() if t.platform == platform]
    if name is None:
        if not mine:
            raise SetupError(
                f"{path} has no {platform} target: add one (`feedrelay add target {platform}`),"
                " or pass the app's credentials as options"
            )
        if len(mine) > 1:
            raise SetupError(
                f"{path} has {len(mine)} {platform} targets ({', '.join(mine)}): name one with"
                " --target NAME"
            )
        name = mine[0]
    else:
        name = names.target(config.targets, name)
        other = config.targets[name].platform
        if other != platform:
            raise SetupError(
                f"target {name} posts to {other}, not {platform}: run `feedrelay auth {other}"
                f" --target {name}`"
            )
    table = raw.get("targets", {}).get(name, {})
    env = {}
    for key, value in table.items():
        match = _ENV_REF.match(value) if isinstance(value, str) else None
        if match:
            env[key] = match.group(1)
    missing = frozenset(k for k, variable in env.items() if not environ.get(variable))
    return AuthTarget(name=name, settings=config.targets[name], env=env, missing=missing)


def missing_credential(
    target: adapters.setup.AuthTarget,
    key: str,
    what: str,
    option: str,
    *,
    config: Path = Path(DEFAULT_CONFIG_PATH),
) -> SetupError:
    """The error for a credential ``auth`` needs and cannot find (``what`` it is; the
    ``option`` that gives it instead), saying how to load the env file beside ``config``."""
    variable = target.env.get(key)
    where = f"targets.{target.name}.{key}"
    if variable:
        return SetupError(
            f"{where}: environment variable {variable} is not set: put {what} in it"
            f" (write it in {env_file(config)}, then load it: `{load_env_command(config)}`),"
            f" or pass {option}"
        )
    return SetupError(f"{where} is not set: add it to the config (or pass {option})")


__all__ = [
    "Answers",
    "AuthTarget",
    "ConfigError",
    "EnvUpdate",
    "FoundFeed",
    "SetupError",
    "auth_target",
    "blog_address",
    "credentials",
    "default_platform",
    "discover_feed",
    "offered_platforms",
    "parse_platforms",
    "questions",
    "render_config",
    "render_env",
    "target_names",
    "target_table",
    "update_env",
    "write_files",
]
