"""What every command shares: the config and app it opens (``Context``), argument
checks, and how numbers, times and durations are written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from bot.bounds import (
    FURTHEST_AT,
    HISTORY_LIMIT,
    LARGEST_ID,
    LONGEST_PAUSE,
    PREVIEW_LIMIT,
    STATUSES,
    since,
)
from bot.durations import DurationTooLongError, format_duration, parse_duration, range_words
from bot.text.words import plural

__all__ = [
    "FURTHEST_AT",
    "HISTORY_LIMIT",
    "LARGEST_ID",
    "LONGEST_PAUSE",
    "PREVIEW_LIMIT",
    "STATUSES",
    "Context",
    "pass_context",
    "plural",
]

if TYPE_CHECKING:
    from datetime import datetime

    from bot.app import App
    from bot.config import Config
    from bot.store import Store


# Exit codes (bot/cli/exits.py, README "Exit codes"): 0 done, 1 something failed, 2 the command
# line or the config is wrong (click's own usage errors are 2 as well). A value beyond
# bot.bounds is a usage error (exit 2), in words.


def _delivery_ids(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[int, ...]:
    """``ID...`` (a tuple) or ``ID`` as ints: whole numbers from 1, as ``history`` and
    ``status`` show them, that fit the store; anything else is a usage error in words."""
    if values is None or isinstance(values, int):
        return values
    if isinstance(values, str):
        return _delivery_id(values, param, ctx)
    return tuple(_delivery_id(value, param, ctx) for value in values)


def _delivery_id(value: object, param: click.Parameter, ctx: click.Context) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise click.BadParameter(
            f"{_quoted(value)} is not a delivery id: ids are whole numbers from 1, as"
            " `feedrelay history` shows them",
            ctx,
            param,
        )
    if len(text.lstrip("0")) > len(str(LARGEST_ID)) or not 1 <= int(text) <= LARGEST_ID:
        raise click.BadParameter(
            f"{_quoted(text)} is not a delivery id: ids run from 1 to {LARGEST_ID:,}", ctx, param
        )
    return int(text)


def _pause_for(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """``pause --for``: a duration from 1s to ``LONGEST_PAUSE``, or ``None``."""
    if value is None:
        return None
    shortest = timedelta(seconds=1)
    try:
        duration = parse_duration(value)
    except DurationTooLongError:
        raise click.BadParameter(range_words(shortest, LONGEST_PAUSE, value), ctx, param) from None
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None
    if not shortest <= duration <= LONGEST_PAUSE:
        raise click.BadParameter(range_words(shortest, LONGEST_PAUSE, duration), ctx, param)
    return duration


def _quoted(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Context:
    def __init__(self, config_option: str | None, verbose: int, quiet: bool = False) -> None:
        self.config_option = config_option
        self.verbose = verbose
        self.quiet = quiet

    def load(self, *, dry_run: bool = False, posts: bool = True) -> Config:
        """The config; credentials may be missing in a dry run or where nothing is posted."""
        from bot.config import config_path, load_config  # pydantic's models: only when used

        path = config_path(self.config_option)
        config = load_config(path, allow_missing_secrets=dry_run or not posts)
        for notice in config.notices:
            click.echo(f"warning: {notice}", err=True)
        if config.warnings and posts and not self.quiet:
            click.echo(
                f"note: {plural(len(config.warnings), 'credential')} not set; a dry run needs"
                " none" + ("" if self.verbose else " (-v lists them)"),
                err=True,
            )
            if self.verbose:
                for warning in config.warnings:
                    click.echo(f"  {warning}", err=True)
        return config

    @contextmanager
    def app(
        self,
        *,
        dry_run: bool = False,
        posts: bool = True,
        config: Config | None = None,
        read_only: bool = False,
    ) -> Iterator[App]:
        """The app; ``posts=False`` for commands that only read or edit the record,
        ``read_only`` for those that only read it (the store is opened read-only: they work
        on a full disk, and never migrate or write)."""
        from bot.app import make_app

        config = config or self.load(dry_run=dry_run, posts=posts)
        with make_app(config, dry_run=dry_run, read_only=read_only) as app:
            yield app

    @contextmanager
    def store(self, config: Config) -> Iterator[Store]:
        """The store, read-only, without the app: a command that only reports what the
        store holds starts without importing the feed readers or the platforms' clients."""
        from bot.store import open_store

        store = open_store(config.store, read_only=True)
        try:
            yield store
        finally:
            store.close()

    def existing_store(self, *, as_json: bool, empty: object) -> Config | None:
        """The config of a command that only reads, or ``None`` (having said so, and printed
        ``empty`` for --json) when there is no store yet: reading never creates one."""
        config = self.load(posts=False)
        if config.database_url is not None or config.database_path.exists():
            return config
        message = f"no store yet at {config.database_path}: nothing has run"
        if as_json:
            if not self.quiet:
                click.echo(message, err=True)
            click.echo(json.dumps(empty, indent=2, ensure_ascii=False))
        else:
            click.echo(message)
        return None


pass_context = click.make_pass_decorator(Context)


def _local_time(text: str, timezone: str, now: datetime) -> datetime:
    """``"2026-12-02 09:00"`` in the config's time zone, as aware UTC; in the future."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    try:
        naive = datetime.fromisoformat(text.strip())
        if naive.tzinfo is None:
            naive = naive.replace(tzinfo=ZoneInfo(timezone))
        at = naive.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 across UTC
        raise click.BadParameter(
            f"{_quoted(text)} is not a time such as '2026-12-02 09:00'", param_hint="--at"
        ) from None
    if at <= now:
        raise click.BadParameter(f"{text} ({timezone}) is in the past", param_hint="--at")
    if at > now + FURTHEST_AT:
        raise click.BadParameter(
            f"{text} ({timezone}) is more than {format_duration(FURTHEST_AT)} ahead",
            param_hint="--at",
        )
    return at


def _since(text: str, timezone: str, now: datetime) -> datetime:
    """``--since``: ``"2d"`` (that long ago) or a date (local time), as ``bounds.since``."""
    try:
        return since(text, timezone, now)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--since") from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "?"


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines()) or "   (empty)"
