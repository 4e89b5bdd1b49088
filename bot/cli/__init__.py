"""The ``feedrelay`` command: a thin layer of click commands over ``bot.app.App``.

The group is here (its options, logging, ``-V``); the commands are in one module per family
(``running``, ``records``, ``settling``, ``store``, ``setup``, ``add``), the text presenters in
``present``, what they share in ``context``. Our own errors become a clean message and a
non-zero exit status in the group (``exits.Commands``), in one place; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from bot import __version__
from bot.cli.context import Context
from bot.cli.exits import Commands

# The core's own libraries that log request headers at DEBUG: requests' transport, and the
# notification senders. The platforms name theirs in their specs (``quiet_loggers``).
CORE_LIBRARY_LOGGERS = ("urllib3", "apprise")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # At DEBUG these libraries print request headers, tokens included. A platform's own
    # (its spec's ``quiet_loggers``) are kept quiet when its spec is loaded (``adapters``).
    import adapters

    for name in (*CORE_LIBRARY_LOGGERS, *adapters.loaded_quiet_loggers()):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    # APScheduler reports every tick at INFO; only -vv wants that.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    no_args_is_help=True,
)
@click.option(
    "--config",
    "config_option",
    metavar="PATH",
    help="Config file (default: $FEEDRELAY_CONFIG, else ./feedrelay.toml).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log more (-v: what happens, -vv: debug; `run` logs what happens anyway, and -v"
    " adds each poll and wait).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings, errors and results.")
@click.option(
    "-V", "--version", is_flag=True, help="Print the version and exit (-V -v: with platforms)."
)
@click.pass_context
def main(
    ctx: click.Context, config_option: str | None, verbose: int, quiet: bool, version: bool
) -> None:
    """Announce every new blog post on each configured platform, exactly once
    (`feedrelay -V -v` lists the installed platforms).

    Exit status: 0 done, 1 something failed, 2 a usage or config error.
    """
    if version:
        click.echo(f"feedrelay, version {__version__}")
        if verbose:
            _print_platforms()
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        raise click.UsageError("Missing command.")
    if quiet and verbose:
        raise click.UsageError("-q and -v contradict each other: give one")
    _setup_logging(verbose)
    ctx.obj = Context(config_option, verbose, quiet)


def _print_platforms() -> None:
    """The installed platforms, each with the package that brought it and whether it loads."""
    import adapters

    click.echo("platforms:")
    for name, plugin in adapters.installed().items():
        try:
            adapters.spec(name)
        except adapters.PluginError as error:
            state = f"cannot be loaded: {error}"
        else:
            state = "ok"
        click.echo(f"  {name:<10} {plugin.distribution} {plugin.version}  {state}")


def _register() -> None:
    from bot.cli import add, records, running, settling, setup, store, web

    for command in (
        running.run,
        running.post,
        running.preview,
        running.check,
        records.history,
        records.status,
        records.schedule,
        settling.retry,
        settling.skip,
        settling.resolve,
        settling.approve,
        settling.pause,
        settling.resume,
        store.migrate_store,
        web.health,
    ):
        main.add_command(command)
    setup.register(main)
    add.register(main)


_register()
