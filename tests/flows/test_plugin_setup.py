"""``init`` and ``auth`` for a platform that only its spec describes (``tests/pigeon.py``):
registered in the registry alone, no file of ``bot/`` edited, it gets its own questions, its
own table, its own ``.env`` lines and its own ``auth`` flow."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

import adapters
from adapters import Plugin
from bot.cli import main
from bot.config import load_config
from tests.conftest import modules_loaded_by
from tests.fakes.feed_server import FakeBlog

Register = Callable[[str], None]


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Iterator[Register]:
    """Install ``tests.pigeon:<attribute>`` as platform ``pigeon``, beside the real ones."""

    def install(attribute: str) -> None:
        plugins = {
            **adapters.installed(),
            "pigeon": Plugin(
                name="pigeon", value=f"tests.pigeon:{attribute}", distribution="test", version="0"
            ),
        }
        monkeypatch.setattr(adapters, "installed", lambda: plugins)
        adapters.spec.cache_clear()

    yield install
    adapters.spec.cache_clear()


def _invoke(*args: str, input: str | None = None, **env: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), input=input, env=env)


def test_init_asks_a_plugins_own_questions_and_writes_its_own_table(
    tmp_path: Path, blog: FakeBlog, register: Register
) -> None:
    register("SPEC")
    blog.add_entry("Feathers")
    # A wrong loft first: its own parser says why and it asks again; the handle's default.
    result = _invoke(
        "init", "--blog", blog.url, "--to", "pigeon", input="my loft\nHome.example\n\n"
    )
    assert result.exit_code == 0, result.output
    assert "Loft (NAME.example): " in result.output
    assert "'my loft' is not a loft: give it as NAME.example" in result.output
    assert "Handle [feedrelay]: " in result.output
    assert "Subreddit" not in result.output and "Tumblr blog" not in result.output
    assert "pigeon: prints the loft's token line:\n       feedrelay auth pigeon\n" in result.output

    text = (tmp_path / "feedrelay.toml").read_text()
    assert 'targets = ["loft"]' in text
    assert '[targets.loft]\nplatform = "pigeon"\nloft = "home.example"\n' in text
    assert 'handle = "feedrelay"   # who posts\ntoken = "${PIGEON_TOKEN}"\n' in text
    assert "blog =" not in text and "state =" not in text  # no Tumblr table
    env = (tmp_path / ".env").read_text()
    assert "# pigeon\n# the loft's token: feedrelay auth pigeon\nPIGEON_TOKEN=\n" in env
    config = load_config(tmp_path / "feedrelay.toml", environ={"PIGEON_TOKEN": "t"})
    assert config.targets["loft"].platform == "pigeon"


def test_init_takes_a_plugins_answers_and_alias_as_options(
    tmp_path: Path, blog: FakeBlog, register: Register
) -> None:
    register("SPEC")
    helped = _invoke("init", "--help")
    assert "--loft NAME" in helped.output
    assert "The loft to post from (with pigeon)." in helped.output
    assert "--subreddit NAME" in helped.output  # the others' options are all still there
    args = ["init", "--blog", blog.url, "--to", "coo,x", "--loft", "far.example", "--yes"]
    result = _invoke(*args)  # no input: a question would abort
    assert result.exit_code == 0, result.output
    text = (tmp_path / "feedrelay.toml").read_text()
    assert 'targets = ["loft", "x"]' in text and 'loft = "far.example"' in text
    assert 'handle = "feedrelay"' in text  # --yes takes the question's default
    wrong = _invoke("init", "--blog", blog.url, "--to", "pigeon", "--loft", "a b", "--force")
    assert wrong.exit_code == 2
    assert "Invalid value for --loft: 'a b' is not a loft: give it as NAME.example" in wrong.output
    no_default = _invoke("init", "--blog", blog.url, "--to", "pigeon", "--yes", "--force")
    assert no_default.exit_code == 2
    assert "--yes needs --loft: nothing to default it to" in no_default.output


def test_auth_runs_the_flow_a_plugin_declares(
    tmp_path: Path, blog: FakeBlog, register: Register
) -> None:
    register("SPEC")
    made = _invoke("init", "--blog", blog.url, "--to", "pigeon", "--loft", "home.example", "--yes")
    assert made.exit_code == 0, made.output
    result = _invoke("auth", "pigeon", input="coo\n")
    assert result.exit_code == 0, result.output
    assert "Ask the keeper of home.example for a code (3 tries)." in result.output
    assert "Code: " in result.output
    assert "Put this line in the environment (your .env)" in result.output
    assert "\nPIGEON_TOKEN=tok-coo\n" in result.output
    assert "checked: posting as @feedrelay@home.example" in result.output

    # Its alias, its own options (checked as declared), and its refusals, said cleanly.
    alias = _invoke("auth", "coo", "--loft", "far.example", "--tries", "5", input="coo\n")
    assert "Ask the keeper of far.example for a code (5 tries)." in alias.output
    assert alias.exit_code == 0, alias.output
    too_many = _invoke("auth", "pigeon", "--tries", "9")
    assert too_many.exit_code == 2 and "9 is not in the range 1<=x<=5" in too_many.output
    refused = _invoke("auth", "pigeon", input="nope\n")
    assert refused.exit_code == 1
    assert "error: home.example refused the code 'nope': ask the keeper again" in refused.output
    assert "Traceback" not in refused.output + too_many.output

    listed = _invoke("auth", "--help")
    assert "pigeon" in listed.output and "Get the loft's token from its keeper." in listed.output
    helped = _invoke("auth", "pigeon", "--help")
    assert "--target NAME" in helped.output and "The Pigeon target (if several)." in helped.output
    assert "[default: 3; 1<=x<=5]" in helped.output and "Also: auth coo." in helped.output


def test_check_online_sends_to_the_plugins_own_auth(
    tmp_path: Path, blog: FakeBlog, register: Register
) -> None:
    register("SPEC")
    args = ["init", "--blog", blog.url, "--to", "pigeon", "--loft", "home.example", "--yes"]
    assert _invoke(*args).exit_code == 0
    ok = _invoke("check", "--online", PIGEON_TOKEN="tok-coo")
    assert "target loft: ok, posting as @feedrelay@home.example" in ok.output, ok.output
    refused = _invoke("check", "--online", PIGEON_TOKEN="tok-old")
    assert refused.exit_code == 1
    assert "`feedrelay auth pigeon` makes new ones" in refused.output


def test_a_plugin_without_auth_has_no_auth_command(
    tmp_path: Path, blog: FakeBlog, register: Register
) -> None:
    register("SPEC_WITHOUT_AUTH")
    args = ["init", "--blog", blog.url, "--to", "pigeon", "--loft", "home.example", "--yes"]
    made = _invoke(*args)
    assert made.exit_code == 0, made.output
    assert "auth pigeon" not in made.output
    assert _invoke("auth", "pigeon").exit_code == 2  # no such command
    assert "pigeon" not in _invoke("auth", "--help").output
    refused = _invoke("check", "--online", PIGEON_TOKEN="tok-old")
    assert "fix: check the target's credentials in the environment\n" in refused.output
    assert "feedrelay auth pigeon" not in refused.output


def test_a_plugin_that_cannot_be_loaded_is_named_and_the_others_work(
    tmp_path: Path, blog: FakeBlog, register: Register
) -> None:
    register("NO_SUCH_SPEC")
    listed = _invoke("auth", "--help")
    assert listed.exit_code == 0 and "cannot be loaded" in listed.output
    broken = _invoke("auth", "pigeon")
    assert broken.exit_code == 1
    assert "error: platform 'pigeon' (test 0) cannot be loaded" in broken.output
    made = _invoke("init", "--blog", blog.url, "--to", "reddit", "--subreddit", "gardening")
    assert made.exit_code == 0, made.output


def test_logging_keeps_the_loggers_a_plugin_names_quiet(register: Register) -> None:
    from bot.cli import _setup_logging

    register("SPEC")
    root = logging.getLogger()
    root_level = root.level
    try:
        _setup_logging(2)  # -vv
        # As -vv leaves it in a process of its own: here basicConfig is a no-op when an
        # earlier test left a handler on the root (the test depended on the order).
        root.setLevel(logging.DEBUG)
        adapters.spec("pigeon")  # a spec loads before any client of it opens
        adapters.spec("twitter")
        quiet = [logging.getLogger(n) for n in ("pigeonlib", "pigeonlib.wire", "tweepy")]
        assert [logger.getEffectiveLevel() for logger in quiet] == [logging.INFO] * 3
        assert logging.getLogger("pigeonlib.other").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("unrelated").getEffectiveLevel() == logging.DEBUG
    finally:
        root.setLevel(root_level)
        for name in ("pigeonlib", "pigeonlib.wire"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_help_for_init_and_auth_loads_no_platform_library() -> None:
    for args in (["--help"], ["auth", "--help"], ["init", "--help"], ["auth", "x", "--help"]):
        code = (
            "from click.testing import CliRunner\nfrom bot.cli import main\n"
            f"assert CliRunner().invoke(main, {args!r}).exit_code == 0"
        )
        assert modules_loaded_by(code) == [], args
