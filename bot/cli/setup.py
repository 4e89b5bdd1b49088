"""``feedrelay init`` and ``feedrelay auth PLATFORM``: the first steps, as questions and answers.

Registered on ``bot.cli.main`` by ``register``. The work is in ``bot.setup`` (finding the
feed, writing the files, finding the target) and in each platform's spec (its questions,
its target's lines, its credentials, its ``auth`` flow: ``adapters/<platform>/setup.py``);
this module asks, and prints. Every question is an option too, so that scripts can run it
without a terminal.

Both commands take their options from the installed platforms when the command line is
read: ``init`` one option per question a platform declares (``--handle``), ``auth`` one
command per platform (and per alias: ``auth x``) with the options its flow declares. That
loads the platforms' specs, never their libraries.

Tokens an ``auth`` command obtains are the user's own new secrets: they are printed once, on
purpose, to standard output, and never logged; with ``--write-env`` they are written into
the env file beside the config instead (``bot.setup.update_env``) and not printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli.exits import EXIT_FAILED
from bot.errors import PluginError, SetupError

if TYPE_CHECKING:
    from adapters.base import PlatformSpec
    from adapters.setup import AuthOption, AuthTarget
    from bot.setup import FoundFeed


def register(main: click.Group) -> None:
    """Add ``init`` and ``auth`` to the ``feedrelay`` command group."""
    main.add_command(init)
    main.add_command(auth)


def _config_file(ctx: click.Context, given: str | None = None) -> Path:
    """``init --config``, else the global ``--config``, else ``$FEEDRELAY_CONFIG``, else
    ``./feedrelay.toml``."""
    from bot.config import config_path

    return config_path(given or getattr(ctx.obj, "config_option", None))


def _with_config(path: Path) -> str:
    """``feedrelay`` as the user should type it to use ``path``."""
    import shlex

    from bot.config import DEFAULT_CONFIG_PATH

    if path == Path(DEFAULT_CONFIG_PATH):
        return "feedrelay"
    return f"feedrelay --config {shlex.quote(str(path))}"


# -- init --------------------------------------------------------------------------------
def _answer_name(option: str) -> str:
    """The parameter name of a platform question's ``init`` option (``--handle``)."""
    return "answer_" + option.lstrip("-").replace("-", "_")


def question_options(taken: set[str]) -> list[click.Parameter]:
    """One option per question an installed platform's spec declares (``--QUESTION``),
    for ``init`` and ``add target``; an option in ``taken`` is left out (two platforms
    that ask the same option share its answer). Loads the specs, never the libraries."""
    import adapters
    from bot import setup

    asked: list[click.Parameter] = []
    for platform in adapters.platforms():
        try:
            questions = setup.questions(platform)
        except PluginError:
            continue  # named when it is chosen
        for question in questions:
            if question.option in taken:
                continue
            taken.add(question.option)
            asked.append(
                click.Option(
                    [question.option, _answer_name(question.option)],
                    metavar=question.metavar,
                    help=question.help,
                )
            )
    return asked


class _InitCommand(click.Command):
    """``init``, whose ``--to``, ``--yes`` and per-platform options (one per question a
    platform's spec declares) are made from the installed platforms when the command line
    is read."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params: list[click.Parameter] | None = ctx.meta.get("feedrelay.init.params")
        if params is None:
            params = ctx.meta["feedrelay.init.params"] = self._platform_params()
        help_option = self.get_help_option(ctx)
        return [*params, help_option] if help_option is not None else params

    def _platform_params(self) -> list[click.Parameter]:
        from bot import setup

        own = {param.name: param for param in self.params}
        names = ", ".join(setup.offered_platforms())
        default = setup.default_platform()
        taken = {"--to", "-y", "--yes", "--help", "-h"}
        taken |= {opt for param in self.params for opt in param.opts}
        asked = question_options(taken)
        to = click.Option(
            ["--to", "platforms"],
            metavar="PLATFORMS",
            help=f"Where to post, comma-separated: {names}.",
        )
        yes = click.Option(
            ["-y", "--yes"],
            is_flag=True,
            help=f"Ask nothing; post to {default} unless --to." if default else "Ask nothing.",
        )
        return [own["blog"], to, *asked, own["config_file"], yes, own["force"]]


@click.command(cls=_InitCommand)
@click.option("--blog", metavar="URL", help="The blog's address: its home page or its feed.")
@click.option(
    "--config",
    "config_file",
    metavar="PATH",
    help="The config to write (default: ./feedrelay.toml); .env goes beside it.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config and .env.")
@click.pass_context
def init(
    ctx: click.Context,
    /,
    blog: str | None,
    platforms: str | None,
    config_file: str | None,
    yes: bool,
    force: bool,
    **given: str | None,
) -> None:
    """Write a first feedrelay.toml and a .env template, asking for what it needs.

    Finds the blog's feed from its address and shows the newest entry, asks where to post
    and what each platform needs (an account, a community, ...), and writes a commented config
    (secrets as ${VARIABLE} references) and a .env with the variables' names. Never
    overwrites a file without --force. With every answer given as an option (or --yes), it
    asks nothing.
    """
    from bot import setup

    path = _config_file(ctx, config_file)
    symlinked = setup.symlinked_env(path)
    if symlinked:  # the command line cannot be carried out: a usage error, before a question
        raise click.UsageError(symlinked)
    setup.refuse_overwrite(path, force=force)

    feed = _ask_feed(blog, yes)
    chosen = _ask(
        platforms,
        yes,
        "--to",
        f"Post to which platforms ({', '.join(setup.offered_platforms())}; comma-separated)",
        setup.parse_platforms,
        default=setup.default_platform(),
    )
    values: dict[str, dict[str, str]] = {}
    for platform in chosen:
        values[platform] = {}
        for question in setup.questions(platform):
            values[platform][question.key] = _ask(
                given.get(_answer_name(question.option)),
                yes,
                question.option,
                question.prompt,
                question.parse,
                question.default,
            )
    answers = setup.Answers(feed=feed, platforms=chosen, values=values)
    config, env = setup.write_files(path, answers, force=force)
    _print_next_steps(path, config, env, chosen)


def _ask_feed(blog: str | None, yes: bool) -> FoundFeed:
    from bot import setup

    if blog is not None or yes:
        if not blog:
            raise click.UsageError("--yes needs --blog URL: the blog's address")
        found = setup.discover_feed(blog)
    else:
        while True:
            address = click.prompt("Blog address (its home page or its feed)")
            click.echo("looking for its feed ...")
            try:
                found = setup.discover_feed(address)
                break
            except SetupError as error:
                click.echo(f"  {error}")
    _print_feed(found)
    return found


def _print_feed(found: FoundFeed) -> None:
    click.echo(f"feed: {found.url} ({found.how})")
    from bot.cli.context import plural

    click.echo(f"  title: {found.title or '(none)'}, {plural(found.entries, 'entry')}")
    if found.last_title or found.last_link:
        when = f" ({found.last_published_at:%Y-%m-%d})" if found.last_published_at else ""
        click.echo(f"  newest: {found.last_title or found.last_link}{when}")
    else:
        click.echo("  it has no entries yet")


def _ask(
    given: str | None,
    yes: bool,
    option: str,
    question: str,
    parse: Callable[[str], Any],
    default: str | None = None,
) -> Any:
    """An answer from its option, else (with --yes) the default, else from a prompt that
    asks again until ``parse`` accepts it (``parse`` raises ``ValueError``)."""
    if given is None and yes:
        if default is None:
            raise click.UsageError(f"--yes needs {option}: nothing to default it to")
        given = default
    if given is not None:
        try:
            return parse(given)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=option) from None

    def value_proc(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise click.UsageError(str(error)) from None

    return click.prompt(question, default=default, value_proc=value_proc)


def _print_next_steps(path: Path, config: Path, env: Path, platforms: list[str]) -> None:
    """What to do next, in the order that works: the values, loading them, each ``auth``,
    loading what it gave, the checks. Each command stands on a line of its own, so that it
    can be copied whole (no ``# comment`` after it: some shells do not take one)."""
    import adapters
    from bot.config import load_env_command

    command = _with_config(path)
    load = load_env_command(config)
    flows = [(p, flow) for p in platforms if (flow := adapters.spec(p).auth) is not None]
    steps: list[tuple[str, list[str]]] = [
        (f"fill in the values in {env} (each line says where it comes from)", []),
        ("load them into this shell (FeedRelay reads the environment, not the file):", [load]),
    ]
    for platform, flow in flows:
        steps.append((f"{platform}: {flow.next_step}:", [f"{command} auth {platform}"]))
    if flows:
        steps.append(
            (f"if an auth command printed lines, put them in {env} and load it again:", [load])
        )
    steps += [
        (
            "log in to each target and read the feed, posting nothing:",
            [f"{command} check --online"],
        ),
        (
            "see what would be posted, then start:",
            [f"{command} run --once --dry-run", f"{command} run"],
        ),
    ]
    click.echo(f"wrote {config} and {env} (the variable names; no values)")
    click.echo("next:")
    for number, (what, lines) in enumerate(steps, 1):
        click.echo(f"  {number}. {what}")
        for line in lines:
            click.echo(f"       {line}")


# -- auth --------------------------------------------------------------------------------
class _AuthGroup(click.Group):
    """``auth PLATFORM``: a command for each installed platform whose spec declares an
    ``auth`` flow, made from it when it is asked for; a platform's alias names it too."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        import adapters

        return adapters.platforms()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        import adapters

        try:
            platform = adapters.named(cmd_name)
        except KeyError:
            return None
        try:
            spec = adapters.spec(platform)
        except PluginError as error:
            return _broken(platform, error)
        if spec.auth is None:
            return None
        return _auth_command(spec)


@click.group(cls=_AuthGroup)
def auth() -> None:
    """Get an account's tokens (OAuth) or check its credentials, for the environment."""


def _option_name(option: AuthOption) -> str:
    """The parameter name of a flow's option (apart from ``--target``'s)."""
    return f"flow_{option.key}"


def _click_option(option: AuthOption) -> click.Option:
    decls = [option.option, _option_name(option)]
    if option.flag:
        return click.Option(decls, is_flag=True, help=option.help)
    return click.Option(
        decls,
        metavar=option.metavar,
        type=click.IntRange(*option.between) if option.between else None,
        default=option.default,
        show_default=option.default is not None,
        help=option.help,
    )


def _auth_command(spec: PlatformSpec) -> click.Command:
    """``auth PLATFORM`` as ``spec.auth`` declares it: ``--target NAME`` and its options."""
    flow = spec.auth
    assert flow is not None
    also = ", ".join(f"auth {alias}" for alias in spec.aliases)
    params: list[click.Parameter] = [
        click.Option(
            ["--target", "target_name"],
            metavar="NAME",
            help=f"The {spec.display_name or spec.name} target (if several).",
        ),
        *(_click_option(option) for option in flow.options),
        click.Option(
            ["--write-env"],
            is_flag=True,
            help="Write the new secret lines into the env file beside the config (made"
            " with mode 0600; a variable's line is replaced) instead of printing them.",
        ),
    ]

    def run(target_name: str | None, write_env: bool, **values: Any) -> None:
        options = {option.key: values[_option_name(option)] for option in flow.options}
        ctx = click.get_current_context()
        env_file = _config_file(ctx) if write_env else None
        if env_file is not None:
            from bot import setup

            symlinked = setup.symlinked_env(env_file, writer="auth --write-env")
            if symlinked:  # before the flow: a token made then could not be kept
                raise click.UsageError(symlinked)
        terminal = _AuthTerminal(ctx, spec, target_name, options)
        _run_auth(spec, terminal, write_env_beside=env_file)

    return click.Command(
        spec.name,
        params=params,
        callback=run,
        help=flow.help + (f"\n\nAlso: {also}." if also else ""),
    )


def _broken(platform: str, error: PluginError) -> click.Command:
    """``auth PLATFORM`` for a platform that cannot be loaded: it says why."""

    def run() -> None:
        raise error

    return click.Command(platform, callback=run, help=f"(cannot be loaded: {error})")


def _run_auth(
    spec: PlatformSpec, terminal: _AuthTerminal, *, write_env_beside: Path | None = None
) -> None:
    """Run the flow, show the new secrets (or, ``write_env_beside`` a config, write them
    into the env file beside it), then log in with them and name the account."""
    from adapters.base import SelfCheck

    assert spec.auth is not None
    result = spec.auth.run(terminal)
    if result.lines and write_env_beside is not None:
        _write_secret_lines(write_env_beside, list(result.lines), result.note)
    elif result.lines:
        _print_secret_lines(list(result.lines), result.note)
    elif write_env_beside is not None:
        click.echo(f"nothing to write: auth {spec.name} makes no new secret, it checks them")
    adapter = result.open()
    try:
        account = adapter.verify()
        problems = adapter.problems() if isinstance(adapter, SelfCheck) else []
    finally:
        adapter.close()
    _finish_check(account, problems)


class _AuthTerminal:
    """``adapters.setup.AuthRun`` at the terminal: what an ``auth`` flow asks the core."""

    def __init__(
        self,
        ctx: click.Context,
        spec: PlatformSpec,
        target_name: str | None,
        options: Mapping[str, Any],
    ) -> None:
        self.platform = spec.name
        self.options = options
        self._ctx = ctx
        self._credentials = {c.key: c for c in spec.credentials}
        self._target_name = target_name

    def target(self, *, needed: bool = True) -> AuthTarget | None:
        """The config's target, or ``None`` when there is no config and the credentials come
        from options (``needed``: they do not)."""
        from bot import setup

        path = _config_file(self._ctx)
        if not path.exists() and not needed:
            return None
        if not path.exists():
            raise SetupError(
                f"no config at {path}: run `feedrelay init` first (or pass --config PATH, or"
                " the app's credentials as options)"
            )
        return setup.auth_target(path, self.platform, self._target_name)

    def credential(
        self, target: AuthTarget | None, key: str, *, option: str, given: str | None = None
    ) -> str:
        from bot import setup

        if given:
            return given
        value = target.value(key) if target is not None else None
        if value:
            return value
        declared = self._credentials.get(key)
        what = declared.what if declared else key
        if target is None:
            raise SetupError(f"no {what} given: pass {option}")
        raise setup.missing_credential(target, key, what, option, config=_config_file(self._ctx))

    def variable(self, target: AuthTarget | None, key: str) -> str:
        declared = self._credentials.get(key)
        default = declared.env if declared else key.upper()
        return target.env.get(key, default) if target is not None else default

    def echo(self, text: str = "") -> None:
        click.echo(text)

    def prompt(self, text: str) -> str:
        return str(click.prompt(text))


def _print_secret_lines(lines: list[str], note: str = "") -> None:
    click.echo("")
    click.echo(
        "Put these lines in the environment (your .env); they are shown this once and"
        " stored nowhere:"
        if len(lines) > 1
        else "Put this line in the environment (your .env); it is shown this once and"
        " stored nowhere:"
    )
    click.echo("")
    for line in lines:
        click.echo(line)
    click.echo("")
    if note:
        click.echo(note)


def _write_secret_lines(config: Path, lines: list[str], note: str = "") -> None:
    """The new secrets into the env file beside ``config``, naming the variables and the
    file, never a value. Should the file not be written, the lines are printed instead:
    a token that was just made is not lost."""
    from bot import setup

    try:
        update = setup.update_env(config, lines)
    except SetupError as error:
        click.echo(f"could not write them: {error}")
        _print_secret_lines(lines, note)
        return
    names = [*update.replaced, *update.added]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    path = update.path
    shown = str(path) if path.is_absolute() or len(path.parts) > 1 else f"./{path}"
    if update.created:
        how = "created it, readable by you only"
    elif update.replaced and update.added:
        how = f"replaced {', '.join(update.replaced)}, added {', '.join(update.added)}"
    elif update.replaced:
        how = "replaced the old line" + ("s" if len(update.replaced) > 1 else "")
    else:
        how = "added at its end"
    click.echo("")
    click.echo(f"wrote {listed} to {shown} ({how}); load it: set -a; . {shown}; set +a")
    if note:
        click.echo(note)


def _finish_check(account: str, problems: list[str]) -> None:
    click.echo(f"checked: posting as {account}")
    for problem in problems:
        click.echo(f"PROBLEM: {problem}")
    if problems:
        sys.exit(EXIT_FAILED)
