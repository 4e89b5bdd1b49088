"""``health``: ask the running daemon's web face whether it works (Docker's and compose's
health checks, a systemd timer, a monitoring script)."""

from __future__ import annotations

import sys

import click

from bot.cli.context import Context, pass_context
from bot.cli.exits import EXIT_FAILED

TIMEOUT_S = 10


@click.command()
@click.option(
    "--ready",
    is_flag=True,
    help="Ask /readyz (the store answers, no target's credentials refused), not /healthz.",
)
@pass_context
def health(ctx: Context, ready: bool) -> None:
    """Ask the running daemon ([web] listen) whether its loops are alive.

    Exits 0 when it answers that it is, 1 when it does not (or nothing answers). Without
    [web] in the config only the store is checked.
    """
    import requests

    config = ctx.load(posts=False)
    if config.web is None:
        if config.database_url is None and not config.database_path.exists():
            click.echo("no [web] in the config, and no store yet: nothing has run")
            return
        with ctx.app(posts=False, config=config, read_only=True) as app:
            app.store.target_states()
        click.echo("no [web] in the config: only the store was checked (docs/web.md)")
        return
    host, port = config.web.address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/{'readyz' if ready else 'healthz'}"
    try:
        answer = requests.get(url, timeout=TIMEOUT_S)
    except requests.RequestException as error:
        click.echo(f"{url}: no answer ({type(error).__name__}): is `feedrelay run` running?")
        sys.exit(EXIT_FAILED)
    try:
        problems = answer.json().get("problems", [])
    except ValueError:
        problems = [f"not FeedRelay's answer (HTTP {answer.status_code})"]
    if answer.status_code == 200:
        click.echo(f"{url}: ok")
        return
    click.echo(f"{url}: HTTP {answer.status_code}")
    for problem in problems:
        click.echo(f"  - {problem}")
    sys.exit(EXIT_FAILED)
