"""``feedrelay add feed URL`` and ``feedrelay add target PLATFORM``: a feed or a target more
in an existing config, found and asked for as ``init`` does, written as ``init`` writes it.

The editing is in ``bot.config_edit`` (tomlkit: comments and layout kept; checked with the
config loader before the file is replaced); this module asks and prints. Every question is
an option too (``add target PLATFORM --QUESTION VALUE``), and ``--yes`` asks nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot.cli.setup import (
    _answer_name,
    _ask,
    _config_file,
    _print_feed,
    _with_config,
    question_options,
)
from bot.errors import SetupError, UnknownNameError


def register(main: click.Group) -> None:
    """Add ``add`` (``add feed``, ``add target``) to the ``feedrelay`` command group."""
    main.add_command(add)


@click.group()
def add() -> None:
    """Add a feed or a target to the config (its comments and layout are kept)."""


def _names(text: str, known: list[str], find: Any) -> list[str]:
    """``"a, b"`` as configured names, each once (``find``: ``bot.names``' function);
    ``ValueError`` for one the config lacks, with the nearest name and the list."""
    chosen = []
    for word in (w.strip() for w in text.replace(" ", ",").split(",")):
        if not word:
            continue
        try:
            chosen.append(find(known, word))
        except UnknownNameError as error:
            raise ValueError(str(error)) from None
    if not chosen:
        raise ValueError(f"name at least one: {', '.join(known)}")
    return list(dict.fromkeys(chosen))


@add.command("feed")
@click.argument("url")
@click.option("--name", metavar="NAME", help="The feed's name in the config (default: its title).")
@click.option(
    "--to",
    "targets",
    metavar="TARGETS",
    help="The targets it posts to, comma-separated (default: every target).",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: post to every target unless --to.")
@click.pass_context
def add_feed(
    ctx: click.Context, url: str, name: str | None, targets: str | None, yes: bool
) -> None:
    """Find the feed of a blog (its home page or its feed), as init does, and add it.

    Its first poll records what it holds as a baseline and posts none of it, as for the
    first feed.
    """
    from bot import config_edit, names, setup
    from bot.config import load_config

    path = _config_file(ctx)
    config = load_config(path, allow_missing_secrets=True)
    known = list(config.targets)
    if not known:
        raise SetupError(f"{path} has no targets: add one first (`feedrelay add target PLATFORM`)")
    given = None
    if targets is not None:
        try:
            given = _names(targets, known, lambda _, n: names.target(config.targets, n))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--to") from None
    click.echo("looking for its feed ...")
    found = setup.discover_feed(url)
    _print_feed(found)
    feed = config_edit.feed_name(config, found, name)
    chosen: list[str] = given or _ask(
        None,
        yes,
        "--to",
        f"Post to which targets ({', '.join(known)}; comma-separated)",
        lambda text: _names(text, known, lambda _, n: names.target(config.targets, n)),
        default=", ".join(known),
    )
    config_edit.add_feed(path, found, name=feed, targets=chosen)
    command = _with_config(path)
    click.echo(f"added [feeds.{feed}] to {path}, posting to {', '.join(chosen)}")
    click.echo(
        "its first poll records what the feed holds as a baseline and posts none of it"
        f" (`backfill = N` in its table posts the N newest); see them: {command} preview {feed}"
    )


class _AddTargetCommand(click.Command):
    """``add target``, with one option per question an installed platform asks (as
    ``init``), made when the command line is read."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params: list[click.Parameter] | None = ctx.meta.get("feedrelay.add.params")
        if params is None:
            taken = {opt for param in self.params for opt in param.opts} | {"--help", "-h"}
            params = ctx.meta["feedrelay.add.params"] = [
                *self.params,
                *question_options(taken),
            ]
        help_option = self.get_help_option(ctx)
        return [*params, help_option] if help_option is not None else params


@add.command("target", cls=_AddTargetCommand)
@click.argument("platform")
@click.option("--name", metavar="NAME", help="The target's name (default: as init names it).")
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="FEED",
    help="A feed that posts to it (repeatable; default: every feed).",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: take each question's default.")
@click.pass_context
def add_target(
    ctx: click.Context,
    /,
    platform: str,
    name: str | None,
    feeds: tuple[str, ...],
    yes: bool,
    **given: str | None,
) -> None:
    """Add a target on PLATFORM, asking what init asks for it; every feed posts to it
    unless --feed says which.

    Its secrets are written as ${VARIABLE} references (the variables' names are added to
    the .env beside the config, without values), never into the config.
    """
    import adapters
    from bot import config_edit, names, setup
    from bot.config import load_config

    try:
        chosen = adapters.named(platform.lower())
    except KeyError:
        raise click.BadParameter(
            f"unknown platform {platform}: choose from {', '.join(adapters.platforms())}",
            param_hint="PLATFORM",
        ) from None
    path = _config_file(ctx)
    config = load_config(path, allow_missing_secrets=True)
    posting = [names.feed(config.feeds, feed) for feed in feeds] or list(config.feeds)
    target = config_edit.target_name(config, chosen, name)
    values = {
        question.key: _ask(
            given.get(_answer_name(question.option)),
            yes,
            question.option,
            question.prompt,
            question.parse,
            question.default,
        )
        for question in setup.questions(chosen)
    }
    added = config_edit.add_target(
        path, chosen, name=target, values=values, feeds=list(dict.fromkeys(posting))
    )
    command = _with_config(path)
    if added.feeds:
        plural = len(added.feeds) > 1
        posts = f"feed{'s' if plural else ''} {', '.join(added.feeds)} post{'' if plural else 's'}"
        click.echo(f"added [targets.{target}] ({chosen}) to {path}; {posts} to it")
    else:
        click.echo(f"added [targets.{target}] ({chosen}) to {path}; no feed posts to it yet")
    variables = [variable for variable, _ in added.variables]
    env = _name_variables(path, chosen, target, added.variables) if variables else None
    steps = []
    if env is not None:
        source = str(env) if env.is_absolute() or len(env.parts) > 1 else f"./{env}"
        steps += [f"fill in their values in {env}", f"set -a; . {source}; set +a"]
    flow = adapters.spec(chosen).auth
    if flow is not None:
        write = " --write-env" if env is not None else ""
        does = "  # writes its new secrets there" if write else f"  # {flow.next_step}"
        steps.append(f"{command} auth {chosen} --target {target}{write}{does}")
        if write:
            steps.append(f"set -a; . {source}; set +a")
    steps.append(f"{command} check --online")
    click.echo("next:")
    for number, step in enumerate(steps, 1):
        click.echo(f"  {number}. {step}")


def _name_variables(
    path: Path, platform: str, target: str, variables: tuple[tuple[str, str], ...]
) -> Path | None:
    """The new target's variables, without values, in the env file beside the config (as
    ``init``'s template names them); where that file is, or ``None`` if it cannot be."""
    from bot import setup

    names = [variable for variable, _ in variables]
    try:
        update = setup.update_env(
            path,
            [f"{variable}=" for variable in names],
            keep_existing=True,
            comments=dict(variables),
            heading=f"{platform}: target {target} (feedrelay add target)",
            writer="add target",
        )
    except SetupError as error:
        click.echo(f"its secrets come from {', '.join(names)} (not named in .env: {error})")
        return None
    there = [name for name in names if name not in update.added]
    if update.added:
        also = f" ({', '.join(there)} already there)" if there else ""
        click.echo(f"its secrets come from {', '.join(names)}: named in {update.path}{also}")
    else:
        click.echo(f"its secrets come from {', '.join(names)}, which {update.path} names")
    return update.path
