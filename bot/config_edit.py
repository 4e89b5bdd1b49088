"""What ``feedrelay add feed`` and ``feedrelay add target`` do to an existing config.

The file is edited with tomlkit, which keeps its comments, order and layout: a new table
goes after the last one of its kind, and a list it joins keeps its shape. The result is
checked with the same loader as every command (``load_config``, without the secrets)
before it replaces the file, whole (a temporary file beside it, then a rename), so a
config is never left half written or invalid.

A target's secrets are written as ``"${VARIABLE}"`` references, exactly as ``init`` writes
them (the platform's spec says which); where another target already uses a variable of
that name, the new target's gets its own (``X_ACCESS_TOKEN_X2``). No secret is ever
written into the config.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

import adapters
from bot.config import Config, load_config
from bot.errors import ConfigError, SetupError
from bot.feeds.discover import FoundFeed
from bot.setup import target_table

__all__ = ["AddedTarget", "add_feed", "add_target", "feed_name", "target_name"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# -- names -------------------------------------------------------------------------------
def feed_name(config: Config, found: FoundFeed, given: str | None = None) -> str:
    """The ``[feeds.NAME]`` of a new feed: ``given`` (checked), else made from the feed's
    title (``Field Notes``: ``field-notes``), else from its host; unique in the config."""
    if given is not None:
        return _free(given, config.feeds, "feed")
    words = re.findall(r"[a-z0-9]+", found.title.lower())
    name = "-".join(words)[:32].strip("-")
    if not name:
        host = re.sub(r"^www\.", "", found.url.split("://", 1)[-1].split("/", 1)[0])
        name = "-".join(re.findall(r"[a-z0-9]+", host.split(".")[0].lower())) or "feed"
    return _unique(name, config.feeds)


def target_name(config: Config, platform: str, given: str | None = None) -> str:
    """The ``[targets.NAME]`` of a new target: ``given`` (checked), else the name ``init``
    gives the platform's target (``x``), made unique in the config (``x-2``)."""
    if given is not None:
        return _free(given, config.targets, "target")
    return _unique(adapters.spec(platform).target_name or platform, config.targets)


def _free(name: str, taken: Any, kind: str) -> str:
    if not _NAME.match(name):
        raise SetupError(
            f"{name!r} cannot name a {kind}: use letters, digits, '_', '-' and '.' only"
        )
    if name in taken:
        raise SetupError(f"the config has a {kind} named {name!r} already: choose another --name")
    return name


def _unique(name: str, taken: Any) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"


# -- add feed ----------------------------------------------------------------------------
def add_feed(path: Path, found: FoundFeed, *, name: str, targets: Sequence[str]) -> None:
    """Add ``[feeds.NAME]`` for ``found``, posting to ``targets``, after the last feed.

    Raises ``SetupError`` when the config reads that feed already, ``ConfigError`` when the
    config is wrong (before or, a bug, after)."""
    config = load_config(path, environ={}, allow_missing_secrets=True)
    for other, feed in config.feeds.items():
        if feed.url == found.url:
            raise SetupError(f"feed {other} reads {found.url} already")
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    table = tomlkit.table()
    title = " ".join(found.title.split())
    table.comment(f"{title + ', ' if title else ''}added by `feedrelay add feed` on {when}")
    table.add("url", found.url)
    listed = tomlkit.array()
    listed.extend(targets)
    table.add("targets", listed)
    table.add("backfill", _commented(0, "the first poll records what is there, posts none"))
    table.add(tomlkit.nl())

    def change(doc: TOMLDocument) -> None:
        _insert(doc, "feeds", name, table)

    _edit(path, change)


# -- add target --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AddedTarget:
    """A target ``add_target`` wrote: its name, the feeds that post to it now, and the
    environment variables its secrets come from (each with what it is)."""

    name: str
    feeds: tuple[str, ...]
    variables: tuple[tuple[str, str], ...]


def add_target(
    path: Path,
    platform: str,
    *,
    name: str,
    values: dict[str, str],
    feeds: Sequence[str],
) -> AddedTarget:
    """Add ``[targets.NAME]`` for ``platform`` with the lines ``init`` writes for its answers
    (``values``, by question key), and add it to the ``targets`` of each of ``feeds``.

    Raises ``ConfigError`` when the config is wrong (before or, a bug, after)."""
    text = path.read_text(encoding="utf-8")
    load_config(path, environ={}, allow_missing_secrets=True)
    lines = "\n".join(target_table(platform, name, values))
    used = set(_ENV_REF.findall(text))
    suffix = "_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    variables: list[tuple[str, str]] = []
    for credential in adapters.spec(platform).credentials:
        variable = credential.env
        if variable in used:  # another target reads it: this one gets its own
            lines = lines.replace(f"${{{variable}}}", f"${{{variable}{suffix}}}")
            variable += suffix
        if not credential.optional and f"${{{variable}}}" in lines:
            variables.append((variable, credential.comment or credential.what))
    table = tomlkit.parse(lines + "\n")["targets"][name]  # its comments with it
    assert isinstance(table, Table)
    table.add(tomlkit.nl())

    def change(doc: TOMLDocument) -> None:
        _insert(doc, "targets", name, table)
        for feed in feeds:
            doc["feeds"][feed]["targets"].append(name)

    _edit(path, change)
    return AddedTarget(name=name, feeds=tuple(feeds), variables=tuple(variables))


# -- editing -----------------------------------------------------------------------------
def _commented(value: Any, comment: str) -> Any:
    item = tomlkit.item(value)
    item.comment(comment)
    item.trivia.comment_ws = "   "
    return item


def _insert(doc: TOMLDocument, section: str, name: str, table: Table) -> None:
    """``[section.name]`` after the last table of ``section``, a blank line before it."""
    if section not in doc:
        doc.add(section, tomlkit.table(is_super_table=True))
    tables = doc[section]
    assert isinstance(tables, Table)
    last = next(reversed(list(tables.values())), None)
    if isinstance(last, Table):
        while not tomlkit.dumps(tomlkit.document().add("t", last)).endswith("\n\n"):
            last.add(tomlkit.nl())
    tables[name] = table


def _edit(path: Path, change: Callable[[TOMLDocument], None]) -> None:
    """Apply ``change`` to the config at ``path`` (the file a symbolic link points at, if
    it is one), check the result with ``load_config`` and put it in place whole, with the
    file's own mode."""
    real = path.resolve()
    doc = tomlkit.parse(real.read_text(encoding="utf-8"))
    change(doc)
    text = tomlkit.dumps(doc)
    mode = stat.S_IMODE(real.stat().st_mode)
    temporary = real.with_name(f".{real.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            load_config(temporary, environ={}, allow_missing_secrets=True)
        except ConfigError as error:  # a bug: what was added is wrong; the file stays as it was
            raise ConfigError(error.problems, path=str(path)) from None
        os.replace(temporary, real)
    except OSError as error:
        raise SetupError(f"cannot write {path}: {error.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)
