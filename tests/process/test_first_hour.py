"""The first hour (issue 19), in a terminal: a person runs `feedrelay init`, then types into
their shell, one after another, the commands `init` printed, loading `.env` as it says, and
reads what each one prints. Against the loopback fakes of the blog, X and Reddit."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.conftest import X_SECRETS
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks
from tests.terminal import Shell, Terminal

# What the person writes into .env from the platforms' sites (the tokens come from auth).
APP_VALUES = {
    "X_CONSUMER_KEY": X_SECRETS["X_CONSUMER_KEY"],
    "X_CONSUMER_SECRET": X_SECRETS["X_CONSUMER_SECRET"],
    "REDDIT_CLIENT_ID": reddit_hooks.ENV["REDDIT_CLIENT_ID"],
    "REDDIT_CLIENT_SECRET": reddit_hooks.ENV["REDDIT_CLIENT_SECRET"],
    "REDDIT_USERNAME": reddit_hooks.USERNAME,
    "REDDIT_PASSWORD": reddit_hooks.ENV["REDDIT_PASSWORD"],
}


# What the person reads after each command init printed.
EXPECTED = {
    "feedrelay auth reddit": [rf"checked: posting as u/{reddit_hooks.USERNAME}"],
    "feedrelay check --online": [
        r"target x: ok, posting as @feedrelay_bot",
        rf"target reddit: ok, posting as u/{reddit_hooks.USERNAME}",
        r"feed blog: ok",
    ],
    "feedrelay run --once --dry-run": [r"first run of feed blog: the first real run records"],
}


def _init(tmp_path: Path, blog: FakeBlog) -> list[tuple[str, list[str]]]:
    """`feedrelay init` for X and Reddit; its next steps as (what, commands), in order."""
    term = Terminal(
        "init",
        "--blog",
        blog.url,
        "--to",
        "twitter,reddit",
        "--subreddit",
        reddit_hooks.SUBREDDIT,
        cwd=tmp_path,
        env={},
    )
    assert term.finish() == 0
    steps: list[tuple[str, list[str]]] = []
    for line in term.screen.split("next:\n", 1)[1].splitlines():
        numbered = re.match(r"  \d+\. (.*)", line)
        if numbered:
            steps.append((numbered.group(1), []))
        elif line.startswith("       "):
            steps[-1][1].append(line.strip())
    return steps


def _use_fakes(tmp_path: Path, x_api: FakeX, reddit_api: FakeReddit) -> None:
    """Uncomment each target's api_base and point it at the fake, as for a proxy."""
    config = tmp_path / "feedrelay.toml"
    text = config.read_text()
    for url in (x_api.url, reddit_api.url):
        commented = r'# api_base = "http://127\.0\.0\.1:\d+".*'
        text = re.sub(commented, f'api_base = "{url}"', text, count=1)
    config.write_text(text)


def _fill_in(env: Path, values: dict[str, str]) -> None:
    """What a person does in an editor: the value after each NAME= line."""
    text = env.read_text()
    for name, value in values.items():
        text, found = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", text)
        if not found:
            text += f"{name}={value}\n"
    env.write_text(text)


def _the_person_opens(url: str) -> str:
    page = requests.get(url, timeout=5)
    found = re.search(r"<code>([^<]+)</code>", page.text)
    assert found, page.text
    return found.group(1)


def test_from_init_to_the_first_post_following_what_init_printed(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, reddit_api: FakeReddit
) -> None:
    blog.add_entry("Planting garlic")
    steps = _init(tmp_path, blog)
    whats = [what for what, _ in steps]
    commands = [command for _, lines in steps for command in lines]
    load = "set -a; . ./.env; set +a"
    # The env file is loaded before any auth command needs it, and again after.
    assert commands == [
        load,
        "feedrelay auth twitter",
        "feedrelay auth reddit",
        load,
        "feedrelay check --online",
        "feedrelay run --once --dry-run",
        "feedrelay run",
    ]
    assert whats[0].startswith("fill in the values in .env")
    assert all("#" not in command for command in commands)
    _use_fakes(tmp_path, x_api, reddit_api)
    env = tmp_path / ".env"

    shell = Terminal.shell(cwd=tmp_path, env={})
    # Loading the template as it was written sets every variable to "": `check` refuses
    # it, naming each variable and its line, and saying how to load the file.
    assert shell.run(load) == 0
    shell.type("feedrelay check")
    shell.expect(r"targets\.x\.consumer_key: environment variable X_CONSUMER_KEY is not set \(line")
    shell.expect(r"write their values in \.env, then load it into this shell with")
    assert shell.status() == 2
    # ... while a dry run only warns, and says what the first real run will do.
    shell.type("feedrelay run --once --dry-run")
    shell.expect(r"first run of feed blog: the first real run records what the feed holds now")
    assert shell.status() == 0
    assert not (tmp_path / "feedrelay.sqlite").exists()

    _fill_in(env, APP_VALUES)
    _follow(shell, steps, env)
    # In the daemon's place: two runs, the baseline, then a new post goes to both.
    shell.type("feedrelay run --once")
    shell.expect(r"first run of feed blog: what is in the feed now was recorded as seen")
    assert shell.status() == 0
    blog.add_entry("Leeks in December")
    shell.type("feedrelay run --once")
    shell.expect(r"1 feed: 1 new entry, 2 posts sent")
    assert shell.status() == 0
    shell.close()
    assert [t["text"].split(" http")[0] for t in x_api.tweets] == ["Leeks in December"]
    assert [s["title"] for s in reddit_api.submissions] == ["Leeks in December"]
    screen = shell.screen
    assert "Traceback" not in screen
    for name, value in {**APP_VALUES, **X_SECRETS}.items():
        if name != "REDDIT_USERNAME" and name not in ("X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
            assert value not in screen, name


def _follow(shell: Shell, steps: list[tuple[str, list[str]]], env: Path) -> None:
    """Each command init printed, in its order, as a person would; each must succeed (the
    daemon, last, is left out: the test runs `run --once` in its place)."""
    for what, lines in steps:
        for command in lines:
            if command == "feedrelay run":
                continue
            shell.type(command)
            for expected in EXPECTED.get(command, ()):
                shell.expect(expected)
            if command == "feedrelay auth twitter":
                url = shell.expect(r"(http://127\.0\.0\.1:\d+/oauth/authorize\?\S+)").group(1)
                shell.answer(r"PIN: ", _the_person_opens(url))
                token = shell.expect(r"X_ACCESS_TOKEN=(\S+)\r?\n").group(1)
                secret = shell.expect(r"X_ACCESS_TOKEN_SECRET=(\S+)\r?\n").group(1)
                assert shell.status() == 0, what
                # "put them in .env": the person pastes the two lines into the file.
                _fill_in(env, {"X_ACCESS_TOKEN": token, "X_ACCESS_TOKEN_SECRET": secret})
                continue
            assert shell.status() == 0, f"{what}: {command}\n{shell.screen}"


def test_a_wrong_reddit_password_says_the_likely_causes(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, reddit_api: FakeReddit
) -> None:
    _init(tmp_path, blog)
    _use_fakes(tmp_path, x_api, reddit_api)
    _fill_in(tmp_path / ".env", {**APP_VALUES, "REDDIT_PASSWORD": "hunter2-wrong"})
    shell = Terminal.shell(cwd=tmp_path, env={})
    assert shell.run("set -a; . ./.env; set +a") == 0
    shell.type("feedrelay auth reddit")
    shell.expect(
        rf"reddit refused the login of u/{reddit_hooks.USERNAME} \(invalid_grant\); the likely"
        r"\s+causes: a wrong password"
    )
    shell.expect(r"two-factor\s+authentication")
    shell.expect(r"not a developer of the app")
    shell.expect(r"an app Reddit has not approved yet")
    assert shell.status() == 1
    shell.close()
    assert "hunter2-wrong" not in shell.screen
