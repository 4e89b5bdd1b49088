"""``feedrelay auth twitter|tumblr|reddit`` through each platform's flow against its fake."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import click.testing
import requests
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import ENV, X_SECRETS, feed_table, reddit_target, tumblr_target, write_config
from tests.conftest import x_target as _x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.tumblr_api import FakeTumblr
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks
from tests.platforms import tumblr as tumblr_hooks
from tests.terminal import Terminal

X_APP = {k: X_SECRETS[k] for k in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET")}
TUMBLR_APP = {k: ENV[k] for k in ("TUMBLR_CONSUMER_KEY", "TUMBLR_CONSUMER_SECRET")}


def _config(tmp_path: Path, blog: FakeBlog, *tables: str) -> Path:
    names = [re.search(r"\[targets\.([^\]]+)\]", t).group(1) for t in tables]  # type: ignore[union-attr]
    return write_config(tmp_path, feed_table("blog", blog.feed_url, names), *tables)


def _invoke(*args: str, env: dict[str, str]) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env=env)


def _the_person_opens(url: str) -> str:
    """Open the authorise page as the signed-in person would; return the code it shows."""
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    found = re.search(r"<code>([^<]+)</code>", page.text)
    assert found, page.text
    return found.group(1)


def test_auth_twitter_pin_flow_in_a_terminal(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> None:
    _config(tmp_path, blog, _x_target(x_api.url))
    # -vv: the debug log is on the screen too, and must not repeat a token.
    term = Terminal("-vv", "auth", "twitter", cwd=tmp_path, env=X_APP)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    pin = _the_person_opens(url)
    term.answer(r"PIN: ", pin)
    token = term.expect(r"X_ACCESS_TOKEN=(\S+)\r?\n").group(1)
    token_secret = term.expect(r"X_ACCESS_TOKEN_SECRET=(\S+)\r?\n").group(1)
    term.expect(r"checked: posting as @feedrelay_bot")
    assert term.finish() == 0
    assert [(token, token_secret)] == x_api.issued
    assert "shown this once and stored nowhere" in term.screen
    assert term.screen.count(token) == 1 and term.screen.count(token_secret) == 1
    # Nothing secret the test did not ask for: the app's key and secret, the request token's.
    for secret in (X_SECRETS["X_CONSUMER_KEY"], X_SECRETS["X_CONSUMER_SECRET"], "req-secret"):
        assert secret not in term.screen

    # The new lines work: `check --online` logs in with them.
    online = Terminal(
        "check",
        "--online",
        cwd=tmp_path,
        env={**X_APP, "X_ACCESS_TOKEN": token, "X_ACCESS_TOKEN_SECRET": token_secret},
    )
    online.expect(r"target x: ok, posting as @feedrelay_bot")
    assert online.finish() == 0


def test_auth_twitter_wrong_pin_says_to_run_it_again(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    _config(tmp_path, blog, _x_target(x_api.url))
    term = Terminal("auth", "twitter", cwd=tmp_path, env=X_APP)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    _the_person_opens(url)
    term.answer(r"PIN: ", "0000000")
    term.expect(r"X refused the PIN \(401: .*Invalid oauth_verifier parameter\)")
    term.expect(r"run `feedrelay auth twitter`\s+again and type the PIN X shows")
    assert term.finish() == 1
    assert x_api.issued == [] and "X_ACCESS_TOKEN=" not in term.screen


def test_auth_twitter_names_a_missing_or_refused_app_key(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    _config(tmp_path, blog, _x_target(x_api.url))
    missing = _invoke("auth", "twitter", env={"X_CONSUMER_KEY": "k"})
    assert missing.exit_code == 1
    assert (
        "targets.x.consumer_secret: environment variable X_CONSUMER_SECRET is not set: put the"
        " app's API key secret in it (write it in .env, then load it: `set -a; . ./.env;"
        " set +a`), or pass --consumer-secret"
    ) in missing.output
    refused = _invoke("auth", "twitter", env={**X_APP, "X_CONSUMER_SECRET": "wrong-secret"})
    assert refused.exit_code == 1
    assert "X refused the app's consumer key and secret (401:" in refused.output
    assert "check X_CONSUMER_KEY and X_CONSUMER_SECRET against developer.x.com" in refused.output
    assert "wrong-secret" not in refused.output and "Traceback" not in refused.output
    no_config = _invoke("--config", "nowhere.toml", "auth", "twitter", env={})
    assert no_config.exit_code == 1
    assert "no config at nowhere.toml: run `feedrelay init` first" in no_config.output


def test_auth_twitter_on_a_read_only_app_says_to_fix_the_permission(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    x_api.read_only()
    term = Terminal(
        "auth", "twitter", "--api-base", x_api.url, *_app_options(), cwd=tmp_path, env={}
    )
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    term.answer(r"PIN: ", _the_person_opens(url))
    term.expect(r"X_ACCESS_TOKEN=")  # the default names: there is no config
    term.expect(r"PROBLEM: the X app has read-only permission: set it to Read and write")
    assert term.finish() == 1


def _app_options() -> list[str]:
    return [
        "--consumer-key",
        X_SECRETS["X_CONSUMER_KEY"],
        "--consumer-secret",
        X_SECRETS["X_CONSUMER_SECRET"],
    ]


def test_auth_tumblr_takes_the_address_it_was_sent_to(
    tmp_path: Path, blog: FakeBlog, tumblr_api: FakeTumblr
) -> None:
    _config(tmp_path, blog, tumblr_target(tumblr_api.url))
    term = Terminal("auth", "tumblr", cwd=tmp_path, env=TUMBLR_APP)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    verifier = _the_person_opens(url)
    token = url.split("oauth_token=")[1]
    term.answer(
        r"PIN: ", f"https://app.example/callback?oauth_token={token}&oauth_verifier={verifier}"
    )
    issued = term.expect(r"TUMBLR_OAUTH_TOKEN=(\S+)\r?\n").group(1)
    term.expect(r"TUMBLR_OAUTH_TOKEN_SECRET=(\S+)\r?\n")
    term.expect(rf"checked: posting as {tumblr_hooks.USER}")
    assert term.finish() == 0
    assert issued == tumblr_api.issued[0][0]
    for secret in TUMBLR_APP.values():
        assert secret not in term.screen


def test_auth_tumblr_for_a_blog_the_account_does_not_own(
    tmp_path: Path, blog: FakeBlog, tumblr_api: FakeTumblr
) -> None:
    _config(tmp_path, blog, tumblr_target(tumblr_api.url).replace(tumblr_hooks.BLOG, "other"))
    term = Terminal("auth", "tumblr", cwd=tmp_path, env=TUMBLR_APP)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    term.answer(r"PIN: ", _the_person_opens(url))
    term.expect(r"TUMBLR_OAUTH_TOKEN=")  # the token is good: shown before the check
    term.expect(r"cannot post to blog other\.tumblr\.com: set blog in \[targets\.tumblr\]")
    assert term.finish() == 1


def test_auth_reddit_checks_a_script_apps_password(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit
) -> None:
    _config(tmp_path, blog, reddit_target(reddit_api.url))
    result = _invoke("auth", "reddit", env=ENV)
    assert result.exit_code == 0, result.output
    assert f"checked: posting as u/{reddit_hooks.USERNAME}" in result.output
    wrong = _invoke("auth", "reddit", env={**ENV, "REDDIT_PASSWORD": "nope"})
    assert wrong.exit_code == 1
    assert "invalid_grant" in wrong.output
    unset = _invoke("auth", "reddit", env={k: v for k, v in ENV.items() if k != "REDDIT_PASSWORD"})
    assert unset.exit_code == 1
    assert "targets.reddit.password: environment variable REDDIT_PASSWORD is not set" in (
        unset.output
    )
    for secret in reddit_hooks.SECRETS:
        assert secret not in result.output + wrong.output + unset.output


def test_auth_reddit_refresh_token_through_the_loopback_redirect(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit
) -> None:
    _config(tmp_path, blog, reddit_target(reddit_api.url))
    env = {k: ENV[k] for k in ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")}
    term = Terminal("auth", "reddit", "--refresh-token", "--port", "0", cwd=tmp_path, env=env)
    redirect = term.expect(r"back to (http://127\.0\.0\.1:\d+/)").group(1)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/api/v1/authorize\?\S+)").group(1)
    term.expect(r"waiting for Reddit")
    landed = requests.get(url, timeout=5)  # Allow: Reddit sends the browser to the redirect
    assert landed.url.startswith(redirect) and "you can close this tab" in landed.text
    term.expect(rf"REDDIT_REFRESH_TOKEN={reddit_hooks.REFRESH_TOKEN}\r?\n")
    term.expect(r'replace those two lines with refresh_token = "\$\{REDDIT_REFRESH_TOKEN\}"')
    term.expect(rf"checked: posting as u/{reddit_hooks.USERNAME}")
    assert term.finish() == 0
    # The app's id is in the authorise address (OAuth makes it public); its secret is not,
    # nor is the one-time code.
    for secret in (reddit_hooks.CLIENT_SECRET, "code-1-Zr8", reddit_hooks.ACCESS_TOKEN):
        assert secret not in term.screen


def test_auth_reddit_declined_says_to_choose_allow(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit
) -> None:
    _config(tmp_path, blog, reddit_target(reddit_api.url))
    reddit_api.deny_next_authorize()
    env = {k: ENV[k] for k in ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")}
    term = Terminal("auth", "reddit", "--refresh-token", "--port", "0", cwd=tmp_path, env=env)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/api/v1/authorize\?\S+)").group(1)
    term.expect(r"waiting for Reddit")
    requests.get(url, timeout=5)
    term.expect(r"Reddit answered 'access_denied': you declined: run it again and choose Allow")
    assert term.finish() == 1


def test_auth_reddit_gives_up_waiting_with_what_to_do(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit
) -> None:
    _config(tmp_path, blog, reddit_target(reddit_api.url))
    env = {k: ENV[k] for k in ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")}
    result = _invoke("auth", "reddit", "--refresh-token", "--port", "0", "--timeout", "1", env=env)
    assert result.exit_code == 1
    assert "no answer from Reddit at http://127.0.0.1:" in result.output
    assert "open the address it shows and choose Allow" in result.output


def test_auth_subcommands_have_help() -> None:
    for name in ("twitter", "tumblr", "reddit"):
        result = CliRunner().invoke(main, ["auth", name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_auth_target_choice_errors_say_what_to_pass(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, tumblr_api: FakeTumblr
) -> None:
    _config(tmp_path, blog, _x_target(x_api.url), _x_target(x_api.url, name="x2"))
    several = _invoke("auth", "twitter", env=X_APP)
    assert several.exit_code == 1
    assert "has 2 twitter targets (x, x2): name one with --target NAME" in several.output
    unknown = _invoke("auth", "twitter", "--target", "nope", env=X_APP)
    assert unknown.exit_code == 2
    assert "no target named 'nope'; the targets: x (twitter), x2 (twitter)" in unknown.output
    none = _invoke("auth", "reddit", env=ENV)
    assert none.exit_code == 1
    assert "has no reddit target: add one (`feedrelay add target reddit`)" in none.output
    no_blog = CliRunner().invoke(
        main,
        ["--config", "nowhere.toml", "auth", "tumblr", "--api-base", tumblr_api.url,
         "--consumer-key", tumblr_hooks.CONSUMER_KEY,
         "--consumer-secret", tumblr_hooks.CONSUMER_SECRET],
        input="whatever\n",
    )  # fmt: skip
    assert no_blog.exit_code == 1
    assert "Tumblr refused the PIN" in no_blog.output  # the flow ran without a config


def test_auth_reddit_on_a_busy_port_says_to_pick_another(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit
) -> None:
    import socket

    _config(tmp_path, blog, reddit_target(reddit_api.url))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _invoke("auth", "reddit", "--refresh-token", "--port", str(port), env=ENV)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "pass --port N (and set the app's redirect uri to http://127.0.0.1:N/)" in result.output


def _env_of(path: Path) -> dict[str, str]:
    """The variables a shell sets from ``path`` (``set -a; . FILE``), as FeedRelay's
    README loads it."""
    script = f"set -a; . {path}; set +a; env -0"
    shown = subprocess.run(
        ["bash", "-c", script], capture_output=True, env={}, check=True
    ).stdout.decode()
    return dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)


def test_auth_twitter_write_env_leaves_a_working_env_file_and_prints_no_secret(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    """Issue 19, item 3: the tokens went through the screen and were copied by hand."""
    _config(tmp_path, blog, _x_target(x_api.url))
    env = tmp_path / ".env"
    env.write_text(  # as `init` writes it, the app's key and secret filled in
        "# The secrets feedrelay.toml reads from the environment.\n\n# twitter\n"
        f"# the app's API key\nX_CONSUMER_KEY={X_SECRETS['X_CONSUMER_KEY']}\n"
        f"X_CONSUMER_SECRET={X_SECRETS['X_CONSUMER_SECRET']}\n"
        "# the posting account's token: feedrelay auth twitter\nX_ACCESS_TOKEN=\n"
        "# ... and its secret (same command)\nX_ACCESS_TOKEN_SECRET=\n"
    )
    env.chmod(0o600)
    term = Terminal("-vv", "auth", "twitter", "--write-env", cwd=tmp_path, env=X_APP)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    term.answer(r"PIN: ", _the_person_opens(url))
    term.expect(
        r"wrote X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET to \./\.env \(replaced the old"
        r" lines\); load it: set -a; \. \./\.env; set \+a"
    )
    term.expect(r"checked: posting as @feedrelay_bot")
    assert term.finish() == 0
    ((token, token_secret),) = x_api.issued
    for secret in (token, token_secret, *X_APP.values(), "req-secret"):
        assert secret not in term.screen
    assert "X_ACCESS_TOKEN=" not in term.screen

    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    text = env.read_text()
    assert "# the posting account's token: feedrelay auth twitter\n" in text  # kept
    loaded = _env_of(env)
    assert loaded["X_ACCESS_TOKEN"] == token and loaded["X_ACCESS_TOKEN_SECRET"] == token_secret
    # The file works as it is: `check --online` logs in with what it sets.
    online = Terminal("check", "--online", cwd=tmp_path, env={k: loaded[k] for k in ENV_X})
    online.expect(r"target x: ok, posting as @feedrelay_bot")
    assert online.finish() == 0


ENV_X = ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")


def test_auth_write_env_makes_the_file_and_refuses_a_symbolic_link_before_asking(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, tumblr_api: FakeTumblr
) -> None:
    _config(tmp_path, blog, _x_target(x_api.url))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("KEEP=me\n")
    (tmp_path / ".env").symlink_to(elsewhere)
    refused = _invoke("auth", "twitter", "--write-env", env=X_APP)
    assert refused.exit_code == 2, refused.output
    assert ".env is a symbolic link: auth --write-env writes .env itself" in refused.output
    assert x_api.requests == [] and elsewhere.read_text() == "KEEP=me\n"

    (tmp_path / ".env").unlink()
    term = Terminal("auth", "twitter", "--write-env", cwd=tmp_path, env=X_APP)
    url = term.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\S+)").group(1)
    term.answer(r"PIN: ", _the_person_opens(url))
    term.expect(r"wrote X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET to \./\.env \(created it,")
    assert term.finish() == 0
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    ((token, _),) = x_api.issued
    assert token not in term.screen
    assert f"X_ACCESS_TOKEN={token}\n" in (tmp_path / ".env").read_text()


def test_auth_target_names_the_nearest_target_and_the_platform_it_posts_to(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, tumblr_api: FakeTumblr
) -> None:
    _config(tmp_path, blog, _x_target(x_api.url), tumblr_target(tumblr_api.url))
    near = _invoke("auth", "twitter", "--target", "xx", env=X_APP)
    assert near.exit_code == 2
    assert "no target named 'xx' (did you mean 'x'?); the targets: x (twitter)" in near.output
    other = _invoke("auth", "twitter", "--target", "tumblr", env=X_APP)
    assert other.exit_code == 1
    assert (
        "target tumblr posts to tumblr, not twitter: run `feedrelay auth tumblr --target tumblr`"
        in other.output
    )
