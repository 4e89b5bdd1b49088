"""The command line, through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from adapters.twitter.text import weighted_length
from bot.cli import main
from tests.conftest import (
    PLATFORM_LIBRARIES,
    REPO,
    X_SECRETS,
    feed_table,
    modules_loaded_by,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX


def _invoke(path: Path, *args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, ["--config", str(path), *args], env=env or X_SECRETS)


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help, f"{name} has no help text"
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_example_dry_run_shows_posts_and_changes_nothing(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.toml")
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "blogger-feed.xml", tmp_path / "examples")
    result = CliRunner().invoke(
        main, ["--config", str(tmp_path / "config.toml"), "run", "--once", "--dry-run"], env={}
    )
    assert result.exit_code == 0, result.output
    assert "Rewriting the sensor daemon in Rust" in result.output
    assert "A Raspberry Pi that waters the tomatoes" in result.output
    assert "/280 weighted characters" in result.output
    assert "Blight, again" not in result.output  # older than the backfill of 2
    assert not list(tmp_path.glob("*.sqlite*")), "a dry run must not create the store"


def test_check_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[bot]\npoll_interval = "soon"\n\n[feeds.blog]\nurl = "feed.xml"\ntargets = ["nope"]\n'
        '\n[targets.x]\nplatform = "twitter"\ntemplate = "{title} {url.host}"\n'
    )
    result = _invoke(path, "check", env={})
    assert result.exit_code == 2
    assert "bot.poll_interval" in result.output and "line 2" in result.output
    assert "feeds.blog.targets.0: no target named 'nope'" in result.output
    assert "targets.x.template" in result.output
    assert "targets.x.consumer_key: required key is missing" in result.output
    assert "Traceback" not in result.output


def test_missing_config_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check"], env={})
    assert result.exit_code == 2
    assert "no config file at feedrelay.toml: `feedrelay init` writes one" in result.output


def test_config_from_environment_variable(tmp_path: Path, blog: FakeBlog) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target("http://127.0.0.1:9")
    )
    result = CliRunner().invoke(main, ["check"], env={**X_SECRETS, "FEEDRELAY_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert "(1 feed, 1 target)" in result.output


def test_missing_secret_is_a_config_error_outside_dry_run(tmp_path: Path, blog: FakeBlog) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target("http://127.0.0.1:9")
    )
    result = _invoke(path, "check", env={"X_CONSUMER_KEY": "k"})
    assert result.exit_code == 2
    assert (
        "targets.x.consumer_secret: environment variable X_CONSUMER_SECRET is not set"
        in result.output
    )


def test_run_post_history_and_secrets_never_printed(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, caplog: pytest.LogCaptureFixture
) -> None:
    blog.add_entry("Old news")
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    outputs = []

    def run(*args: str) -> click.testing.Result:
        result = _invoke(path, "-vv", *args)
        outputs.append(result.output)
        return result

    assert run("check", "--online").exit_code == 0
    assert "posting as @feedrelay_bot" in outputs[-1]
    assert run("run", "--once").exit_code == 0
    entry = blog.add_entry("Fresh post", labels=["Rust"])
    assert run("run", "--once").exit_code == 0
    history = run("history", "--json")
    rows = json.loads(history.output)
    assert [r["status"] for r in rows] == ["posted"]
    assert rows[0]["remote_id"] == str(x_api.tweets[0]["id"])
    assert rows[0]["link"] == blog.entry_url(entry)
    for key in (
        "id",
        "feed",
        "entry_id",
        "link",
        "title",
        "target",
        "platform",
        "status",
        "attempts",
        "remote_id",
        "remote_url",
        "error",
        "created_at",
        "updated_at",
    ):
        assert key in rows[0]

    # A manual post of something already posted says so and sends nothing.
    again = run("post", blog.entry_url(entry))
    assert "already posted" in again.output
    assert len(x_api.tweets) == 1
    # The old entry (seen at the baseline) can be posted by hand, by its link.
    old = blog.entries[0]
    manual = run("post", blog.entry_url(old))
    assert manual.exit_code == 0, manual.output
    assert "x: posted https://x.com/" in manual.output
    assert len(x_api.tweets) == 2
    # Forced, X refuses the identical text: the command says so, and that nothing new went out.
    forced = run("post", "--force", blog.entry_url(old))
    assert forced.exit_code == 1
    assert "nothing new went out" in forced.output and "duplicate" in forced.output
    assert len(x_api.tweets) == 2
    assert run("history").exit_code == 0
    assert run("preview", "--limit", "1").exit_code == 0
    assert run("post", "--dry-run", blog.url + "/2019/01/missing.html").exit_code == 1

    printed = "\n".join(outputs) + caplog.text
    for secret in X_SECRETS.values():
        assert secret not in printed


def test_cli_import_loads_no_platform_library() -> None:
    assert (
        modules_loaded_by("import bot.cli", (*PLATFORM_LIBRARIES, "apscheduler", "tqdm", "apprise"))
        == []
    )


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, check=True
    )
    assert "feedrelay" in result.stdout


def test_operator_commands_settle_a_stuck_delivery(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    outputs: list[str] = []

    def run(*args: str) -> click.testing.Result:
        result = _invoke(path, "-v", *args)
        outputs.append(result.output)
        return result

    assert run("run", "--once").exit_code == 0
    blog.add_entry("Refused")
    x_api.fail_next(403)
    refused = run("run", "--once")
    assert refused.exit_code == 1  # something failed
    assert (
        "1 feed: 1 new entry, nothing posted; 1 post held: the target's credentials were"
        " refused (`feedrelay status`)"
    ) in refused.output
    status = run("status")
    assert "1 held" in status.output and "not permitted" in status.output
    (row,) = json.loads(run("history", "--json").output)

    assert "PAUSED" in status.output and "feedrelay resume x" in status.output
    assert run("retry", str(row["id"])).exit_code == 0
    assert run("run", "--once").exit_code == 0
    (row,) = json.loads(run("history", "--json").output)
    assert row["status"] == "queued"  # the target stays paused until it is resumed
    assert run("resume", "x").exit_code == 0
    assert run("run", "--once").exit_code == 0
    (row,) = json.loads(run("history", "--json").output)
    assert row["status"] == "posted"

    again = run("retry", str(row["id"]))
    assert again.exit_code == 1 and "only a delivery that has not gone out" in again.output
    assert run("skip", "999").output.strip() == "error: no delivery 999"

    blog.add_entry("Lost answer")
    x_api.fail_next(503)  # not created, but we cannot know: unknown, then re-sent
    assert run("run", "--once").exit_code == 0
    rows = json.loads(run("history", "--json", "--status", "unknown").output)
    assert len(rows) == 1
    assert run("resolve", str(rows[0]["id"]), "--url", "https://x.com/a/status/1").exit_code == 0
    (resolved,) = json.loads(run("history", "--json", "--limit", "1").output)
    assert resolved["status"] == "posted" and resolved["remote_url"] == "https://x.com/a/status/1"
    for secret in X_SECRETS.values():
        assert secret not in "\n".join(outputs)


def test_dry_run_leaves_an_existing_store_untouched(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Seen at the baseline")
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0
    blog.add_entry("New since")
    store = tmp_path / "state.sqlite"
    before = store.read_bytes()
    result = _invoke(path, "run", "--once", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "New since" in result.output
    assert "Seen at the baseline" not in result.output
    assert store.read_bytes() == before
    assert x_api.tweets == []
    assert json.loads(_invoke(path, "history", "--json").output) == []


def test_reading_the_record_needs_no_credentials(tmp_path: Path, blog: FakeBlog) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target("http://127.0.0.1:9")
    )
    for command in (["history"], ["status"], ["history", "--json"]):
        result = _invoke(path, *command, env={"UNRELATED": "1"})
        assert result.exit_code == 0, result.output
        assert "credentials" not in result.output
    assert _invoke(path, "run", "--once", env={"UNRELATED": "1"}).exit_code == 2


OLD_POST = """<!DOCTYPE html><html><head><title>Old post | Field Notes</title>
<link rel="canonical" href="/2019/05/old-post.html">
<meta property="og:title" content="Planting garlic in May: a mistake">
<meta property="og:description" content="Why garlic wants to go in before winter.">
<meta property="og:image" content="/img/garlic.jpg">
<meta property="og:image:alt" content="Garlic bulbs on a bench">
<meta property="og:site_name" content="Field Notes">
<meta property="article:tag" content="Gardening">
</head><body><p>Long article.</p></body></html>"""


def test_post_a_page_that_no_feed_lists_any_more(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    url = blog.add_page("/2019/05/old-post.html", OLD_POST)
    result = _invoke(path, "post", url + "?utm_source=mail")
    assert result.exit_code == 0, result.output
    assert "x: posted" in result.output
    (tweet,) = x_api.tweets
    assert tweet["text"] == f"Planting garlic in May: a mistake {url} #Gardening"
    again = _invoke(path, "post", url)
    assert "already posted" in again.output
    assert len(x_api.tweets) == 1
    (row,) = json.loads(_invoke(path, "history", "--json").output)
    assert row["feed"] == "blog" and row["link"] == url


def test_a_page_on_no_configured_site_needs_named_targets(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(
        tmp_path, feed_table("blog", "http://localhost:9/feed", ["x"]), x_target(x_api.url)
    )
    url = blog.add_page("/2019/05/old-post.html", OLD_POST)
    refused = _invoke(path, "post", url)
    assert refused.exit_code == 1
    assert "name the targets with --to" in refused.output
    posted = _invoke(path, "post", "--to", "x", url)
    assert posted.exit_code == 0, posted.output
    assert len(x_api.tweets) == 1
    missing = _invoke(path, "post", "--to", "x", blog.url + "/2019/05/nothing-here.html")
    assert missing.exit_code == 1 and "HTTP 404" in missing.output


def test_check_warns_of_a_dollar_name_without_braces(tmp_path: Path, blog: FakeBlog) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target("http://127.0.0.1:9")
    )
    path.write_text(path.read_text().replace('"${X_CONSUMER_KEY}"', '"$X_CONSUMER_KEY"'))
    result = _invoke(path, "check")
    assert result.exit_code == 0, result.output
    assert (
        'warning: targets.x.consumer_key: "$X_CONSUMER_KEY" looks like an environment variable:'
        ' write "${X_CONSUMER_KEY}"' in result.output
    )


def test_version_short_and_long() -> None:
    for flag in ("-V", "--version"):
        result = CliRunner().invoke(main, [flag])
        assert result.exit_code == 0 and result.output.startswith("feedrelay, version ")


def test_quiet_and_verbose_together_are_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["-q", "-v", "check"])
    assert result.exit_code == 2 and "-q and -v" in result.output


def test_reading_commands_never_create_a_store(tmp_path: Path, blog: FakeBlog) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target("http://127.0.0.1:9")
    )
    store = tmp_path / "state.sqlite"
    for command in ("history", "status", "schedule"):
        result = _invoke(path, command)
        assert result.exit_code == 0, result.output
        assert result.output == f"no store yet at {store}: nothing has run\n"
    runner = CliRunner()
    assert (
        json.loads(runner.invoke(main, ["--config", str(path), "history", "--json"]).stdout) == []
    )
    assert (
        json.loads(runner.invoke(main, ["--config", str(path), "schedule", "--json"]).stdout) == []
    )
    shown = json.loads(runner.invoke(main, ["--config", str(path), "status", "--json"]).stdout)
    assert shown["feeds"] == [{"name": "blog", "status": "not polled yet"}]
    assert shown["targets"] == []
    assert not list(tmp_path.glob("state.sqlite*"))


def test_check_json(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    result = _invoke(path, "check", "--json", "--online")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["feeds"] == 1 and report["targets"] == 1
    assert report["online"]["targets"] == [{"name": "x", "ok": True, "account": "@feedrelay_bot"}]
    assert report["online"]["feeds"] == [{"name": "blog", "ok": True, "error": None}]

    path.write_text(path.read_text().replace('platform = "twitter"', 'platform = "twiter"'))
    bad = CliRunner().invoke(main, ["--config", str(path), "check", "--json"], env=X_SECRETS)
    assert bad.exit_code == 2
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert any("did you mean 'twitter'?" in p for p in report["problems"])


def test_post_json(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> None:
    blog.add_entry("Old news")
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0
    link = blog.entry_url(blog.entries[0])
    posted = _invoke(path, "post", "--json", link)
    assert posted.exit_code == 0, posted.output
    (row,) = json.loads(posted.output)
    assert row["target"] == "x" and row["result"] == "posted"
    assert row["url"].startswith("https://x.com/") and row["delivery"]["status"] == "posted"
    again = _invoke(path, "post", "--json", link)
    assert again.exit_code == 1
    (row,) = json.loads(again.output)
    assert row["result"] == "not posted" and "already posted" in row["note"]


def test_history_is_a_table_with_cut_titles_and_since(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0
    blog.add_entry("A title far too long to fit in the column of a table eighty characters wide")
    assert _invoke(path, "run", "--once").exit_code == 0
    result = _invoke(path, "history")
    header, row, where = result.output.splitlines()
    assert header.split() == ["ID", "UPDATED", "(UTC)", "STATUS", "TARGET", "TITLE"]
    assert row.split()[3:5] == ["posted", "x"]
    assert row.endswith("…") and len(row) <= 80
    assert where.strip().startswith("https://x.com/")
    assert len(_invoke(path, "history", "--since", "1h").output.splitlines()) == 3
    assert _invoke(path, "history", "--since", "2999-01-01").output == "no deliveries since then\n"
    bad = _invoke(path, "history", "--since", "soonish")
    assert bad.exit_code == 2 and "neither a duration" in bad.output


def test_resolve_needs_a_url_an_id_or_no_link(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["resolve", "1"])
    assert result.exit_code == 2 and "--url URL or --remote-id ID" in result.output
    both = CliRunner().invoke(main, ["resolve", "1", "--no-link", "--url", "https://x.com/1"])
    assert both.exit_code == 2


def test_counts_are_plural_only_when_they_should_be() -> None:
    from bot.cli.context import plural

    assert plural(1, "feed") == "1 feed"
    assert plural(2, "feed") == "2 feeds"
    assert plural(0, "entry") == "0 entries"
    assert plural(5000, "delivery") == "5,000 deliveries"


def test_run_once_sums_up_and_explains_the_first_run(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    for n in range(3):
        blog.add_entry(f"Entry {n}")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]),
        feed_table("down", blog.url + "/no-such-feed", ["x"]),
        x_target(x_api.url),
    )
    first = _invoke(path, "run", "--once")
    assert first.exit_code == 1  # a feed failed
    assert "2 feeds: 3 entries recorded as seen, nothing posted; 1 feed failing" in first.stdout
    assert "first run of feed blog: what is in the feed now was recorded as seen" in first.stdout
    assert "backfill = N" in first.stdout
    path.write_text(path.read_text().replace(blog.url + "/no-such-feed", blog.feed_url + "?2"))
    second = _invoke(path, "run", "--once")
    assert second.exit_code == 0, second.output
    blog.add_entry("Fresh")
    third = _invoke(path, "-q", "run", "--once")
    assert third.exit_code == 0 and third.output == ""
    assert len(x_api.tweets) == 1


def test_poll_progress_draws_on_a_terminal_only() -> None:
    import io

    from bot.cli.present import _feed_progress
    from bot.ingest import FeedResult

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped = io.StringIO()
    with _feed_progress(False, piped) as on_result:
        assert on_result is None
    assert piped.getvalue() == ""
    with _feed_progress(True, Terminal()) as on_result:
        assert on_result is None
    terminal = Terminal()
    with _feed_progress(False, terminal) as on_result:
        assert on_result is not None
        on_result(FeedResult(feed="a"), 1, 2)
        on_result(FeedResult(feed="b", error="HTTP 404"), 2, 2)
    drawn = terminal.getvalue()
    assert "polling" in drawn and "2/2" in drawn and "1 feed failing" in drawn
    assert drawn.endswith("\r")  # cleared when the poll is done


def test_the_poll_reports_each_feed_as_it_is_recorded(
    tmp_path: Path, blog: FakeBlog, clock: object
) -> None:
    from tests.conftest import open_app

    path = write_config(
        tmp_path,
        feed_table("a", blog.feed_url, ["x"]),
        feed_table("b", blog.feed_url + "?b", ["x"]),
        x_target("http://127.0.0.1:9"),
    )
    seen: list[tuple[str, int, int]] = []
    with open_app(path, clock) as app:  # type: ignore[arg-type]
        app.poll_due_feeds(on_result=lambda r, done, total: seen.append((r.feed, done, total)))
    assert sorted(f for f, _, _ in seen) == ["a", "b"]
    assert [(d, t) for _, d, t in seen] == [(1, 2), (2, 2)]


def test_dry_run_and_preview_as_json_one_object_per_post(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Seen at the baseline")
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0
    entry = blog.add_entry("Tomatoes in November", labels=["Gardening"])
    result = CliRunner().invoke(
        main, ["--config", str(path), "run", "--once", "--dry-run", "--json"], env=X_SECRETS
    )
    assert result.exit_code == 0, result.output
    (post,) = json.loads(result.stdout)
    text = f"Tomatoes in November {blog.entry_url(entry)} #Gardening"
    assert post == {
        "status": "would_post",
        "reason": None,
        "feed": "blog",
        "entry_id": post["entry_id"],
        "link": blog.entry_url(entry),
        "title": "Tomatoes in November",
        "target": "x",
        "platform": "twitter",
        "destination": {"account": None},
        "post": {
            "text": text,
            "title": "Tomatoes in November",
            "link": blog.entry_url(entry),
            "body": "",
            "description": "",
            "tags": ["#Gardening"],
            "image": None,
            "slug": "",
        },
        "length": {"text": {"used": weighted_length(text), "limit": 280, "counting": "weighted"}},
        "budget": f"text {weighted_length(text)}/280",
        "due_at": None,
    }
    assert x_api.tweets == []
    previewed = json.loads(_invoke(path, "preview", "--json", "--limit", "1").stdout)
    assert [(p["status"], p["post"]["text"]) for p in previewed] == [("would_post", text)]
    assert previewed[0]["budget"].endswith(f" = {weighted_length(text)}/280")
    assert _invoke(path, "run", "--once", "--json").exit_code == 2  # --json needs --dry-run


# A platform from another distribution, installed for one test: 500 characters, every URL
# counted as 23 (as Mastodon counts), described by the toolkit's default describe_post.
MADE_UP_PLATFORM = """
from dataclasses import dataclass
from typing import Literal


def plugin(api):
    class MadeUpTarget(api.TargetSettings):
        platform: Literal["madeup"]
        template: api.TemplateStr = "{title}"

    @dataclass(frozen=True, kw_only=True)
    class Options:
        template: str

    def urls_as_23(text):
        urls = api.find_urls(text)
        return len(text) - sum(end - start for start, end in urls) + 23 * len(urls)

    def render(entry, options, limits):
        values, _ = api.template_values(entry)
        text = api.fill(options.template, values)
        used = limits.count(text)
        return api.Rendered(
            post=api.Post(text=text, link=entry.link),
            length=used,
            limit=limits.max_text,
            budget=f"text {used} of {limits.max_text}",
        )

    def no_client(name, settings, session, memory):
        raise NotImplementedError("the dry runs here open no client")

    return api.PlatformSpec(
        name="madeup",
        settings_model=MadeUpTarget,
        limits=api.Limits(max_text=500, count=urls_as_23, counting="urls as 23"),
        options=lambda settings: Options(template=MadeUpTarget.of(settings).template),
        render=render,
        connect=no_client,
    )
"""


@pytest.fixture
def made_up_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The platform "madeup", installed by its entry point as another package would be."""
    import adapters

    site = tmp_path / "site"
    (site / "madeup_platform-0.1.dist-info").mkdir(parents=True)
    (site / "madeup_platform.py").write_text(MADE_UP_PLATFORM)
    (site / "madeup_platform-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: madeup-platform\nVersion: 0.1\n"
    )
    (site / "madeup_platform-0.1.dist-info" / "entry_points.txt").write_text(
        "[feedrelay.platforms]\nmadeup = madeup_platform:plugin\n"
    )
    monkeypatch.syspath_prepend(str(site))
    adapters.installed.cache_clear()
    adapters.spec.cache_clear()
    yield "madeup"
    adapters.installed.cache_clear()
    adapters.spec.cache_clear()
    sys.modules.pop("madeup_platform", None)


def test_a_platforms_own_counting_is_what_dry_runs_and_previews_report(
    tmp_path: Path, blog: FakeBlog, made_up_platform: str
) -> None:
    """A dry run printed 'text 397/4096' for any platform but X and Reddit, whatever its
    limits said (issue 16): the length and the limit are the platform's own."""
    title = "x" * 276 + " https://example.org/" + "a" * 100  # 397 characters, 300 counted
    blog.add_entry(title)
    target = f'[targets.m]\nplatform = "{made_up_platform}"\n'
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["m"], backfill=1), target)
    shown = _invoke(path, "run", "--once", "--dry-run", env={})
    assert shown.exit_code == 0, shown.output
    assert "── m (madeup) · " in shown.output
    assert "   [text 300/500]" in shown.output
    as_json = _invoke(path, "run", "--once", "--dry-run", "--json", env={})
    (post,) = json.loads(as_json.stdout)
    assert post["length"] == {"text": {"used": 300, "limit": 500, "counting": "urls as 23"}}
    assert post["budget"] == "text 300/500"
    previewed = _invoke(path, "preview", "--limit", "1", env={})
    assert "   [text 300 of 500]" in previewed.output  # the render's own account
    (item,) = json.loads(_invoke(path, "preview", "--json", "--limit", "1", env={}).stdout)
    assert item["length"] == post["length"]
    assert item["budget"] == "text 300 of 500"


def test_dry_runs_print_each_post_as_its_platform_describes_it() -> None:
    from bot.cli.present import _describe_post
    from bot.model import Image, Post

    link = "https://blog.example.com/a"
    image = Image(url="https://img.example/a.jpg", alt="Beans")
    assert _describe_post("twitter", Post(text=f"Beans\n{link}", image=image)) == (
        f"   Beans\n   {link}\n   image: https://img.example/a.jpg (alt: Beans)\n"
        "   [29/280 weighted characters]"
    )
    assert _describe_post("reddit", Post(title="Beans", link=link)) == (
        f"   title: Beans\n   link:  {link}\n   [title 5/300]"
    )
    assert _describe_post("reddit", Post(title="Beans")) == (
        "   title: Beans\n   (empty)\n   [title 5/300]"
    )
    tumblr = Post(text="Up.", link=link, title="Beans", tags=("a", "b"), image=image)
    assert _describe_post("tumblr", tumblr, "text 3/4096, 2 tags") == (
        f"   Up.\n   link block: {link} (Beans)\n   tags: a, b\n"
        "   image: https://img.example/a.jpg (alt: Beans)\n   [text 3/4096, 2 tags]"
    )
    assert _describe_post("tumblr", Post(text="Up.")) == (
        "   Up.\n   (text only: the entry has no link)\n   [text 3/4096]"
    )


def test_a_malformed_postgresql_url_is_a_usage_or_config_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, feed_table("blog", "feed.xml", ["x"]), x_target("http://h"))
    moved = _invoke(path, "migrate-store", "--to", "postgresql://u:pw-secret@db:notaport/x")
    assert moved.exit_code == 2, moved.output
    assert "the port must be a number from 1 to 65535" in moved.output
    assert "secret" not in moved.output and "Traceback" not in moved.output
    path.write_text(path.read_text().replace('"state.sqlite"', '"postgresql://u@db:5432:9/x"'))
    checked = _invoke(path, "check")
    assert checked.exit_code == 2, checked.output
    assert "bot.database: the port must be a number from 1 to 65535" in checked.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["history", "--limit", "99999999999999999999"], "not in the range 1<=x<=100000"),
        (["history", "--limit", "0"], "not in the range 1<=x<=100000"),
        (["history", "--since", "999999999d"], "is too long: the longest duration is 3650d"),
        (["history", "--since", "0001-01-01"], "is out of range"),
        (["preview", "--limit", "99999999999999999999"], "not in the range 1<=x<=1000"),
        (["pause", "x", "--for", "999999999d"], "must be between 1s and 365d"),
        (["pause", "x", "--for", "366d"], "must be between 1s and 365d, not 366d"),
        (["pause", "x", "--for", "0s"], "must be between 1s and 365d, not 0s"),
        (["pause", "x", "--for", ""], "is not a duration"),
        (["retry", "99999999999999999999"], "is not a delivery id: ids run from 1 to 9,223,"),
        (["retry", "1", "0"], "'0' is not a delivery id"),
        (["skip", "1e5"], "'1e5' is not a delivery id: ids are whole numbers from 1"),
        (["resolve", "9223372036854775808", "--no-link"], "is not a delivery id"),
        (["approve", "9" * 5000], "is not a delivery id"),
        (["post", "https://b.example/1", "--at", "9999-12-31 23:00"], "more than 365d ahead"),
        (["post", "https://b.example/1", "--at", "0001-01-01"], "is not a time such as"),
    ],
)
def test_an_argument_out_of_range_is_a_usage_error_in_words(
    tmp_path: Path, args: list[str], words: str
) -> None:
    from bot.store import SqlStore

    path = write_config(tmp_path, feed_table("blog", "feed.xml", ["x"]), x_target("http://h"))
    (tmp_path / "feed.xml").write_text("<rss><channel></channel></rss>")
    SqlStore.open(tmp_path / "state.sqlite").close()  # a store to read
    zone = path.read_text().replace("[bot]\n", '[bot]\ntimezone = "Asia/Tokyo"\n')
    path.write_text(zone)  # east of UTC: 0001-01-01 local is before year 1 in UTC
    result = _invoke(path, *args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback


def test_the_largest_ids_and_durations_are_taken(tmp_path: Path) -> None:
    from bot.store import SqlStore

    path = write_config(tmp_path, feed_table("blog", "feed.xml", ["x"]), x_target("http://h"))
    SqlStore.open(tmp_path / "state.sqlite").close()
    largest = str(2**63 - 1)
    for args in (["retry", largest], ["skip", largest], ["approve", largest]):
        result = _invoke(path, *args)
        assert result.exit_code == 1, result.output
        assert f"error: no delivery {largest}" in result.output
    assert _invoke(path, "pause", "x", "--for", "365d").exit_code == 0
    assert _invoke(path, "history", "--since", "3650d", "--limit", "100000").exit_code == 0


def _on_a_full_disk(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``feedrelay ARGS`` in a process where no file may grow (``RLIMIT_FSIZE`` 0: a write
    that needs room fails, as on a full disk; root is bound by it too). Its output goes to
    pipes, which the limit does not touch."""
    import os
    import resource

    def no_room() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=no_room,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("left", ["closed cleanly", "a WAL of changes and no -shm"])
def test_reading_commands_work_on_a_full_disk_and_writing_ones_say_so(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, left: str
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0
    blog.add_entry("Posted before the disk filled up")
    assert _invoke(path, "run", "--once").exit_code == 0
    store = tmp_path / "state.sqlite"
    if left == "a WAL of changes and no -shm":
        # A runner killed with changes only in the WAL, its -shm gone: the reader must
        # rebuild the index from the WAL, or it would miss them.
        live = sqlite3.connect(store)
        live.execute("PRAGMA wal_autocheckpoint=0")
        live.execute("UPDATE deliveries SET error = 'only in the WAL'")
        live.commit()
        shutil.copy(store, tmp_path / "copy.sqlite")
        shutil.copy(f"{store}-wal", tmp_path / "copy.sqlite-wal")
        live.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        (tmp_path / "copy.sqlite").rename(store)
        (tmp_path / "copy.sqlite-wal").rename(f"{store}-wal")
        assert not Path(f"{store}-shm").exists() and Path(f"{store}-wal").stat().st_size
    else:
        assert not Path(f"{store}-wal").exists()  # the last connection checkpointed it
    before = store.read_bytes()

    history = _on_a_full_disk(path, "history", "--json")
    assert history.returncode == 0, history.stderr
    (row,) = json.loads(history.stdout)
    assert row["title"] == "Posted before the disk filled up" and row["status"] == "posted"
    if left == "a WAL of changes and no -shm":
        assert row["error"] == "only in the WAL"
        return
    status = _on_a_full_disk(path, "status")
    assert status.returncode == 0, status.stderr
    assert "target x: 1 posted" in status.stdout
    schedule = _on_a_full_disk(path, "schedule")
    assert schedule.returncode == 0, schedule.stderr
    assert store.read_bytes() == before

    paused = _on_a_full_disk(path, "pause", "x")  # it writes: it cannot, and says so
    assert paused.returncode == 1
    assert paused.stderr.startswith("error: the store failed: disk I/O error")
    assert "Traceback" not in paused.stderr


def test_every_command_that_takes_a_target_knows_it_by_its_platform_or_suggests_one(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    """Issue 19, item 6: `init` names the X target `x`, `auth` takes `twitter`; a command
    given either finds the target, and a misspelt name is answered with the nearest one
    and the list."""
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0

    paused = _invoke(path, "pause", "twitter", "--for", "1h")
    assert paused.exit_code == 0, paused.output
    assert paused.output.startswith("x: paused by the operator")
    assert _invoke(path, "resume", "twitter").output.startswith("x: resumed")
    for args in (
        ("schedule", "twitter"),
        ("history", "--target", "twitter"),
        ("approve", "--target", "twitter", "--all"),
    ):
        result = _invoke(path, *args)
        assert result.exit_code == 0, (args, result.output)

    for args in (
        ("pause", "twiter"),
        ("resume", "twiter"),
        ("schedule", "twiter"),
        ("history", "--target", "twiter"),
        ("approve", "--target", "twiter", "--all"),
        ("post", blog.feed_url, "--to", "twiter"),
    ):
        result = _invoke(path, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output == (
            "error: no target named 'twiter' (did you mean 'twitter', the platform of x?);"
            " the targets: x (twitter)\n"
        ), (args, result.output)
    (tmp_path / "two").mkdir()
    two = write_config(
        tmp_path / "two",
        feed_table("blog", blog.feed_url, ["x-main", "x-alt"]),
        x_target(x_api.url, name="x-main"),
        x_target(x_api.url, name="x-alt"),
    )
    near = _invoke(two, "pause", "x-mian")
    assert near.exit_code == 2
    assert near.output == (
        "error: no target named 'x-mian' (did you mean 'x-main'?); the targets:"
        " x-main (twitter), x-alt (twitter)\n"
    )
    both = _invoke(two, "pause", "twitter")
    assert both.output == (
        "error: no target named 'twitter': 2 targets post to twitter (x-main, x-alt): name one\n"
    )
    feed = _invoke(path, "approve", "--feed", "blgo")
    assert feed.exit_code == 2
    assert feed.output == "error: no feed named 'blgo' (did you mean 'blog'?); the feeds: blog\n"
