"""``feedrelay status`` after a flood: held deliveries grouped by what releases them (issue 19,
item 12), in text and JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from tests.conftest import X_SECRETS, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX


def _status(path: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(path), "status", *args], env={})
    assert result.exit_code == 0, result.output
    return result.output


def test_status_after_a_flood_groups_the_held_deliveries_with_the_command_that_releases_them(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    blog.add_entry("Known post")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "x-checked"]),
        x_target(x_api.url),
        x_target(x_api.url, name="x-checked", approve="true"),
    )
    with open_app(path, clock) as app:
        app.poll_due_feeds()  # the baseline
    for n in range(21):  # a migrated feed: old posts under new ids
        blog.add_entry(f"Migrated post {n}", published_at=clock.now - timedelta(days=5, hours=n))
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
    blog.add_entry("Written today")
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
    assert len(x_api.tweets) == 1  # to x; x-checked waits for approval

    text = _status(path)
    held = text[text.index("held:") :].splitlines()
    assert held == [
        "held: 43 deliveries (`feedrelay schedule` lists them by id)",
        "   42 wait as a flood of feed blog (re-dated entries) (21 to x, 21 to x-checked):"
        " `feedrelay approve --feed blog` posts them; `feedrelay skip ID` drops one",
        "    1 waits for approval on x-checked: `feedrelay approve --target x-checked --all`"
        " (or `feedrelay approve ID`)",
    ]
    assert "needs you" not in text
    assert "flood guard" not in text  # each delivery's own reason is in history, not here

    report = json.loads(_status(path, "--json"))
    assert [(g["held_for"], g["feed"], g["target"], g["count"]) for g in report["held"]] == [
        ("flood", "blog", None, 42),
        ("approval", None, "x-checked", 1),
    ]
    assert report["held"][0]["by_target"] == {"x": 21, "x-checked": 21}
    assert report["held"][0]["release"].startswith("`feedrelay approve --feed blog`")
    assert len(report["needs_attention"]) == 43  # the deliveries themselves, as before

    released = CliRunner().invoke(
        main, ["--config", str(path), "approve", "--feed", "blog"], env=X_SECRETS
    )
    assert "43 deliveries released" in released.output  # the feed's, whatever held them
    assert "held:" not in _status(path)


def test_posts_held_for_refused_credentials_are_one_group_that_says_how_they_go(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    with open_app(path, clock) as app:
        app.poll_due_feeds()
    blog.add_entry("Refused")
    clock.advance(minutes=11)
    x_api.fail_next(401)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
    text = _status(path)
    assert (
        "    1 waits for x's credentials, refused: it goes when the pause lifts: at the next"
        " start with new credentials (`feedrelay auth twitter`), or with `feedrelay resume x`"
    ) in text.splitlines()
