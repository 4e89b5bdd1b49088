"""Schedules end to end: the config keys, approval, the budget, post --at, edits during a
delay, and the daemon with a burst against quiet hours and a daily cap."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import load_config
from bot.errors import ConfigError
from bot.model import DeliveryState
from tests.conftest import X_SECRETS, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX


def _config(tmp_path: Path, blog: FakeBlog, x_api: FakeX, bot: str = "", **x: str) -> Path:
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url, **x)
    )
    if bot:
        path.write_text(path.read_text().replace("[bot]\n", f"[bot]\n{bot}\n"))
    return path


def _baseline(path: Path, clock: Clock) -> None:
    with open_app(path, clock) as app:
        app.poll_due_feeds()
    clock.advance(minutes=11)


def _cli(path: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(path), *args], env=X_SECRETS)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("bot", "target", "says"),
    [
        ("", {"quiet_hours": '"25:00-07:00"'}, "targets.x.quiet_hours"),
        ('timezone = "Mars/Olympus"', {}, "bot.timezone: Value error, 'Mars/Olympus' is not"),
        ("", {"slots": '["09:00", "09:00"]'}, "09:00 is given twice"),
        ("", {"slots": '["09:00", "10:00"]', "min_interval": '"2h"'}, "min_interval 2:00:00"),
    ],
)
def test_each_schedule_rule_is_checked_at_load(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, bot: str, target: dict[str, str], says: str
) -> None:
    path = _config(tmp_path, blog, x_api, bot, **target)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ=X_SECRETS)
    assert says.removeprefix("bot.timezone: Value error, ") in str(error.value)
    assert says.split(":")[0].split(" ")[0] in str(error.value)


def test_approve_holds_new_posts_until_approved(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, approve="true")
    _baseline(path, clock)
    blog.add_entry("Needs a yes")
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
        (row,) = app.history()
    assert row.state is DeliveryState.HELD and x_api.tweets == []
    assert "1 waits for approval" in _cli(path, "status")
    assert "approve --target x --all" in (row.error or "")
    assert "1 delivery released" in _cli(path, "approve", "--target", "x", "--all")
    with open_app(path, clock) as app:
        app.dispatch_due()
    assert len(x_api.tweets) == 1


def test_a_post_over_the_months_budget_is_held_until_the_next_month(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    clock.now = datetime(2026, 12, 30, 12, tzinfo=UTC)
    # Each post costs 0.20 (the fake blog's links are on 127.0.0.1, which X does not count
    # as a URL, so the plain price is set to the price with a URL).
    path = _config(tmp_path, blog, x_api, monthly_budget="0.30", price_per_post="0.20")
    _baseline(path, clock)
    blog.add_entry("First", published_at=clock.now)
    blog.add_entry("Second", published_at=clock.now)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
        states = [d.state for d in reversed(app.history())]
        held = app.history(state="held")
    assert states == [DeliveryState.POSTED, DeliveryState.HELD]
    assert held[0].error == ("budget: 0.20 of 0.30 USD spent this month; this post costs 0.20")
    report = json.loads(_cli(path, "status", "--json"))["targets"][0]
    assert report["spent_usd"] == pytest.approx(0.2) and report["budget_left_usd"] == pytest.approx(
        0.1
    )
    clock.now = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    with open_app(path, clock) as app:
        app.dispatch_due()
        assert {d.state for d in app.history()} == {DeliveryState.POSTED}
    assert len(x_api.tweets) == 2


def test_post_at_queues_it_for_that_local_time(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, 'timezone = "Europe/Berlin"', quiet_hours='"00:00-23:59"')
    entry = blog.add_entry("Later, please")
    _baseline(path, clock)
    when = (clock.now + timedelta(days=1)).astimezone(ZoneInfo("Europe/Berlin"))
    text = when.strftime("%Y-%m-%d %H:%M")
    result = CliRunner().invoke(
        main, ["--config", str(path), "post", "--at", text, blog.entry_url(entry)], env=X_SECRETS
    )
    assert result.exit_code == 0, result.output
    assert "x: queued for" in result.output and x_api.tweets == []
    planned = json.loads(_cli(path, "schedule", "--json"))
    assert [p["title"] for p in planned] == ["Later, please"]
    clock.now = when.astimezone(UTC).replace(second=0) + timedelta(minutes=1)
    with open_app(path, clock) as app:  # inside quiet hours, but a time chosen by hand
        app.dispatch_due()
    assert len(x_api.tweets) == 1


def test_an_edit_during_the_delay_is_what_goes_out(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, delay='"10m"')
    _baseline(path, clock)
    entry = blog.add_entry("Tpyo in the title")
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
    assert x_api.tweets == []  # within its delay
    blog.edit_entry(entry, title="Typo fixed in the title")
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds(everything=True)
        app.dispatch_due()
    (tweet,) = x_api.tweets
    assert tweet["text"].startswith("Typo fixed in the title")


def _quiet_now(now: datetime) -> str:
    """Quiet hours (UTC) that span ``now`` by at least an hour either way."""
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=2)).strftime("%H:%M")
    return f'"{start}-{end}"'


def test_the_daemon_holds_a_burst_to_quiet_hours_and_the_daily_cap(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    now = datetime.now(UTC)
    path = _config(
        tmp_path, blog, x_api, max_per_day="3", quiet_hours=_quiet_now(now), min_interval='"10m"'
    )
    path.write_text(path.read_text().replace("backfill = 0", "backfill = 0\nmax_new_per_poll = 20"))
    with open_app(path, Clock()) as app:
        app.poll_due_feeds()
        state = app.store.feed_state("blog")
        assert state is not None
        app.store.save_feed_state(replace(state, next_check_at=now))  # due when it starts
    for number in range(10):
        blog.add_entry(f"Burst {number}", published_at=now - timedelta(minutes=30 - number))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(path), "run"],
        env={**os.environ, **X_SECRETS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        planned: list[dict[str, object]] = []
        while len(planned) < 10:
            assert time.monotonic() < deadline, "the burst was not queued"
            time.sleep(0.2)
            planned = json.loads(_cli(path, "schedule", "--json"))
        time.sleep(1)  # a few lane ticks' worth of chances to post too early
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    assert x_api.requests_to("POST", "/2/tweets") == []  # nothing inside quiet hours
    assert [p["title"] for p in planned] == [f"Burst {n}" for n in range(10)]
    times = [datetime.fromisoformat(str(p["planned_at"])) for p in planned]
    assert times == sorted(times) and times[0] > now
    per_day: dict[str, int] = {}
    for when in times:
        per_day[when.date().isoformat()] = per_day.get(when.date().isoformat(), 0) + 1
    assert max(per_day.values()) <= 3 and len(per_day) >= 4
    assert all(
        later - earlier >= timedelta(minutes=10) for earlier, later in itertools.pairwise(times)
    )
