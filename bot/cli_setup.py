"""``feedrelay init`` and ``feedrelay auth ...``: the first steps, as questions and answers.

Registered on ``bot.cli.main`` by ``register``. The work is in ``bot.setup`` (finding the
feed, writing the files, finding the target) and ``adapters/<platform>/auth.py`` (each
platform's OAuth flow); this module asks, and prints. Every question is an option too, so
that scripts can run it without a terminal.

Tokens an ``auth`` command obtains are the user's own new secrets: they are printed once, on
purpose, to standard output, and never logged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.errors import SetupError
from bot.exits import EXIT_FAILED, _fail_cleanly

if TYPE_CHECKING:
    from bot.setup import AuthTarget, FoundFeed


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
    from bot.config import DEFAULT_CONFIG_PATH

    if path == Path(DEFAULT_CONFIG_PATH):
        return "feedrelay"
    return f"feedrelay --config {path}"


# -- init --------------------------------------------------------------------------------
@click.command()
@click.option("--blog", metavar="URL", help="The blog's address: its home page or its feed.")
@click.option(
    "--to",
    "platforms",
    metavar="PLATFORMS",
    help="Where to post, comma-separated: twitter, reddit, tumblr.",
)
@click.option("--subreddit", metavar="NAME", help="The subreddit to post to (with reddit).")
@click.option("--tumblr-blog", metavar="NAME", help="The Tumblr blog to post to (with tumblr).")
@click.option(
    "--config",
    "config_file",
    metavar="PATH",
    help="The config to write (default: ./feedrelay.toml); .env goes beside it.",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing; post to twitter unless --to.")
@click.option("--force", is_flag=True, help="Overwrite an existing config and .env.")
@click.pass_context
@_fail_cleanly
def init(
    ctx: click.Context,
    blog: str | None,
    platforms: str | None,
    subreddit: str | None,
    tumblr_blog: str | None,
    config_file: str | None,
    yes: bool,
    force: bool,
) -> None:
    """Write a first feedrelay.toml and a .env template, asking for what it needs.

    Finds the blog's feed from its address and shows the newest entry, asks where to post,
    and writes a commented config (secrets as ${VARIABLE} references) and a .env with the
    variables' names. Never overwrites a file without --force. With every answer given as an
    option (or --yes), it asks nothing.
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
        "Post to which platforms (twitter, reddit, tumblr; comma-separated)",
        setup.parse_platforms,
        default="twitter",
    )
    sub = None
    if "reddit" in chosen:
        sub = _ask(subreddit, yes, "--subreddit", "Subreddit (r/NAME)", setup.subreddit_name)
    tumblr = None
    if "tumblr" in chosen:
        tumblr = _ask(
            tumblr_blog,
            yes,
            "--tumblr-blog",
            "Tumblr blog (NAME, NAME.tumblr.com or its own domain)",
            setup.tumblr_blog_name,
        )
    answers = setup.Answers(feed=feed, platforms=chosen, subreddit=sub, tumblr_blog=tumblr)
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
    click.echo(f"  title: {found.title or '(none)'}, {found.entries} entries")
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
    command = _with_config(path)
    source = str(env) if env.is_absolute() or len(env.parts) > 1 else f"./{env}"
    click.echo(f"wrote {config} and {env} (the variable names; no values)")
    click.echo("next:")
    click.echo(f"  1. fill in the values in {env} (each line says where it comes from)")
    step = 2
    for platform in platforms:
        if platform == "reddit":
            click.echo(f"  {step}. {command} auth reddit   # checks the app and the account")
        else:
            click.echo(f"  {step}. {command} auth {platform:<7}# prints the account's token lines")
        step += 1
    click.echo(f"  {step}. set -a; . {source}; set +a")
    click.echo(f"  {step + 1}. {command} check --online")
    click.echo(f"  {step + 2}. {command} run --once --dry-run, then {command} run")


# -- auth --------------------------------------------------------------------------------
@click.group()
def auth() -> None:
    """Get an account's tokens (OAuth) or check its credentials, for the environment."""


def _target(
    ctx: click.Context, platform: str, name: str | None, *, needed: bool
) -> AuthTarget | None:
    """The config's ``platform`` target, or ``None`` when there is no config and the
    credentials come from options (``needed``: they do not)."""
    from bot import setup

    path = _config_file(ctx)
    if not path.exists() and not needed:
        return None
    if not path.exists():
        raise SetupError(
            f"no config at {path}: run `feedrelay init` first (or pass --config PATH, or the"
            " app's credentials as options)"
        )
    return setup.auth_target(path, platform, name)


def _credential(
    target: AuthTarget | None, given: str | None, key: str, what: str, option: str
) -> str:
    from bot import setup

    if given:
        return given
    value = target.value(key) if target is not None else None
    if value:
        return value
    if target is None:
        raise SetupError(f"no {what} given: pass {option}")
    raise setup.missing_credential(target, key, what, option)


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


def _finish_check(account: str, problems: list[str]) -> None:
    click.echo(f"checked: posting as {account}")
    for problem in problems:
        click.echo(f"PROBLEM: {problem}")
    if problems:
        sys.exit(EXIT_FAILED)


def _pin_flow(flow: Any, service: str) -> Any:
    """Run a PIN flow: show the address, read the PIN, return the grant."""
    url = flow.start()
    click.echo(f"1. Open this address in a browser, signed in to {service} as the account")
    click.echo("   that will post, and authorise the app:")
    click.echo("")
    click.echo(f"   {url}")
    click.echo("")
    click.echo(f"2. {service} then shows a PIN (or sends you to an address with")
    click.echo("   oauth_verifier=... in it: paste that whole address).")
    pin = click.prompt("PIN")
    return flow.finish(pin)


def _token_lines(target: AuthTarget | None, pairs: list[tuple[str, str, str]]) -> list[str]:
    """``NAME=value`` for each (config key, default variable, value)."""
    return [
        f"{target.env_name(key, default) if target else default}={value}"
        for key, default, value in pairs
    ]


@auth.command("twitter")
@click.option("--target", "target_name", metavar="NAME", help="The X target (if several).")
@click.option("--consumer-key", metavar="KEY", help="The app's API key (default: from the config).")
@click.option("--consumer-secret", metavar="SECRET", help="The app's API key secret.")
@click.option("--api-base", metavar="URL", help="Another API host (default: the target's).")
@click.pass_context
@_fail_cleanly
def auth_twitter(
    ctx: click.Context,
    target_name: str | None,
    consumer_key: str | None,
    consumer_secret: str | None,
    api_base: str | None,
) -> None:
    """Get the posting account's access token from X (OAuth 1.0a, with a PIN).

    Reads the app's API key and secret from the variables the config names (or the
    options), shows the address where you authorise the app, asks for the PIN X shows, and
    prints the X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET lines for the environment. Set the
    app's permission to Read and write before you run it.
    """
    import adapters
    from adapters.twitter.auth import pin_flow

    target = _target(ctx, "twitter", target_name, needed=not (consumer_key and consumer_secret))
    key = _credential(target, consumer_key, "consumer_key", "the app's API key", "--consumer-key")
    secret = _credential(
        target, consumer_secret, "consumer_secret", "the app's API key secret", "--consumer-secret"
    )
    base = api_base or (target.settings.api_base if target else None)
    flow = pin_flow(consumer_key=key, consumer_secret=secret, api_base=base)
    try:
        grant = _pin_flow(flow, "X")
    finally:
        flow.close()
    _print_secret_lines(
        _token_lines(
            target,
            [
                ("access_token", "X_ACCESS_TOKEN", grant.token),
                ("access_token_secret", "X_ACCESS_TOKEN_SECRET", grant.token_secret),
            ],
        )
    )
    adapter: Any = adapters.spec("twitter").client_class()(
        target=target.name if target else "x",
        consumer_key=key,
        consumer_secret=secret,
        access_token=grant.token,
        access_token_secret=grant.token_secret,
        api_base=base,
    )
    try:
        account = adapter.verify()
        problems = adapter.problems()
    finally:
        adapter.close()
    _finish_check(account, problems)


@auth.command("tumblr")
@click.option("--target", "target_name", metavar="NAME", help="The Tumblr target (if several).")
@click.option("--consumer-key", metavar="KEY", help="The app's consumer key (default: config).")
@click.option("--consumer-secret", metavar="SECRET", help="The app's secret key.")
@click.option("--blog", metavar="NAME", help="The blog to check (default: the target's).")
@click.option("--api-base", metavar="URL", help="Another API host (default: the target's).")
@click.pass_context
@_fail_cleanly
def auth_tumblr(
    ctx: click.Context,
    target_name: str | None,
    consumer_key: str | None,
    consumer_secret: str | None,
    blog: str | None,
    api_base: str | None,
) -> None:
    """Get the account's OAuth token from Tumblr (OAuth 1.0a).

    Reads the app's consumer key and secret from the variables the config names (or the
    options), shows the address where you authorise the app, asks for the verifier, and
    prints the TUMBLR_OAUTH_TOKEN and TUMBLR_OAUTH_TOKEN_SECRET lines for the environment.
    """
    import adapters
    from adapters.tumblr.auth import pin_flow

    target = _target(ctx, "tumblr", target_name, needed=not (consumer_key and consumer_secret))
    key = _credential(
        target, consumer_key, "consumer_key", "the app's consumer key", "--consumer-key"
    )
    secret = _credential(
        target, consumer_secret, "consumer_secret", "the app's secret key", "--consumer-secret"
    )
    base = api_base or (target.settings.api_base if target else None)
    blog_name = blog or (str(getattr(target.settings, "blog", "")) if target else "")
    flow = pin_flow(consumer_key=key, consumer_secret=secret, api_base=base)
    try:
        grant = _pin_flow(flow, "Tumblr")
    finally:
        flow.close()
    _print_secret_lines(
        _token_lines(
            target,
            [
                ("oauth_token", "TUMBLR_OAUTH_TOKEN", grant.token),
                ("oauth_token_secret", "TUMBLR_OAUTH_TOKEN_SECRET", grant.token_secret),
            ],
        )
    )
    if not blog_name:
        raise SetupError("the token works only with a blog to check: pass --blog NAME")
    adapter: Any = adapters.spec("tumblr").client_class()(
        target=target.name if target else "tumblr",
        blog=blog_name,
        consumer_key=key,
        consumer_secret=secret,
        oauth_token=grant.token,
        oauth_token_secret=grant.token_secret,
        api_base=base,
    )
    try:
        account = adapter.verify()
    finally:
        adapter.close()
    _finish_check(account, [])


@auth.command("reddit")
@click.option("--target", "target_name", metavar="NAME", help="The Reddit target (if several).")
@click.option(
    "--refresh-token",
    "code_flow",
    is_flag=True,
    help="Get a refresh token in the browser instead of checking username + password.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Loopback port for Reddit's redirect: the app's redirect uri is http://127.0.0.1:PORT/.",
)
@click.option(
    "--timeout",
    type=click.IntRange(1, 3600),
    default=300,
    show_default=True,
    help="Seconds to wait for Reddit's redirect.",
)
@click.pass_context
@_fail_cleanly
def auth_reddit(
    ctx: click.Context, target_name: str | None, code_flow: bool, port: int, timeout: int
) -> None:
    """Check a Reddit target's login, or get a refresh token (--refresh-token).

    With username + password (a script app), logs in with them and names the account. With
    --refresh-token (or a config that uses refresh_token), runs Reddit's authorisation in
    the browser, receives the answer on a one-shot local address, and prints the
    REDDIT_REFRESH_TOKEN line for the environment. Either way it then checks the subreddit's
    rules against the target.
    """
    import adapters
    from adapters.reddit.client import CodeFlow
    from bot import setup

    target = _target(ctx, "reddit", target_name, needed=True)
    assert target is not None
    settings: Any = target.settings
    uses_token = "refresh_token" in target.env or (
        settings.refresh_token is not None and settings.password is None
    )
    client_id = _credential(target, None, "client_id", "the app's id", "the variable")
    client_secret = _credential(target, None, "client_secret", "the app's secret", "the variable")
    options = settings.adapter_options()
    options.update(client_id=client_id, client_secret=client_secret)
    if code_flow or (uses_token and target.value("refresh_token") is None):
        try:
            flow = CodeFlow(
                client_id=client_id,
                client_secret=client_secret,
                user_agent=settings.user_agent,
                api_base=settings.api_base,
                port=port,
            )
        except OSError as error:
            raise SetupError(
                f"cannot listen on 127.0.0.1:{port} ({error.strerror}): pass --port N (and set"
                " the app's redirect uri to http://127.0.0.1:N/)"
            ) from None
        with flow:
            url = flow.start()
            click.echo(f"Reddit sends your browser back to {flow.redirect_uri}: the app's redirect")
            click.echo("uri (reddit.com/prefs/apps, edit) must be exactly that.")
            click.echo("Open this address in a browser, signed in as the posting account, and")
            click.echo("choose Allow:")
            click.echo("")
            click.echo(f"   {url}")
            click.echo("")
            click.echo(f"waiting for Reddit (up to {timeout} s) ...")
            token = flow.finish(flow.wait(timeout))
        variable = target.env_name("refresh_token", setup.REDDIT_REFRESH_TOKEN_ENV)
        note = ""
        if not uses_token:
            note = (
                "The config logs in with username + password; to use the token, replace those"
                f' two lines with refresh_token = "${{{variable}}}".'
            )
        _print_secret_lines([f"{variable}={token}"], note)
        options.update(username=None, password=None, refresh_token=token)
    elif not uses_token:
        for key, what in (("username", "the account's name"), ("password", "its password")):
            if key in target.missing:
                raise setup.missing_credential(target, key, what, "the variable")
    adapter: Any = adapters.spec("reddit").client_class()(target=target.name, **options)
    try:
        account = adapter.verify()
        problems = adapter.problems()
    finally:
        adapter.close()
    _finish_check(account, problems)
