"""Odd input gets words, never a traceback: any value for a config key, any argument.

Hypothesis writes values of every kind (durations huge or malformed, numbers of every size,
NaN, booleans, strings, lists, tables) into a config file and runs ``check`` through click's
CliRunner: it exits 0 or 2 and says why. What ``check`` accepts (the ends of each range
included) runs: ``run --once --dry-run``, ``run --once``, ``status``, ``schedule``. Command
arguments (``history --limit/--since``, ``pause --for``, ``retry ID``) likewise exit 0, 1
or 2 with words.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import click.testing
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.store import SqlStore
from tests.conftest import REPO, X_SECRETS

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

BOT_KEYS = (
    "poll_interval",
    "fetch_deadline",
    "claim_lease",
    "max_attempts",
    "max_feed_bytes",
    "max_image_bytes",
    "fetch_workers",
    "timezone",
    "database",
)
FEED_KEYS = ("backfill", "poll_interval", "max_new_per_poll", "max_age", "targets", "url")
TARGET_KEYS = (
    "platform",
    "delay",
    "min_interval",
    "jitter",
    "max_per_day",
    "max_hashtags",
    "monthly_budget",
    "price_per_post",
    "price_per_post_with_url",
    "quiet_hours",
    "slots",
    "approve",
)


def toml(value: Any) -> str:
    """``value`` as a TOML value (nan and inf included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + " }"


UNITS = st.sampled_from(["ms", "s", "m", "h", "d"])
AMOUNTS = st.one_of(
    st.integers(0, 10**30).map(str),
    st.floats(0, 1e30, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.sampled_from(["999999999", "1000000000", "3650", "3651", "0", "1", "7", "30", "365"]),
)
DURATIONS = st.lists(st.tuples(AMOUNTS, UNITS), min_size=1, max_size=3).map(
    lambda parts: "".join(n + u for n, u in parts)
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
SCALARS = st.one_of(
    DURATIONS,
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.floats(),
    st.booleans(),
    TEXT,
    st.sampled_from(["twitter", "reddit", "tumblr", "23:00-07:00", "09:00", "UTC", "-5m", "1e5"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=2),
    max_leaves=4,
)
# Values check accepts, the ends of each range first: whatever it accepts must run.
IN_RANGE: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("bot", "poll_interval"): st.sampled_from(["1m", "7d", "10m", "6d23h59m59s"]),
    ("bot", "fetch_deadline"): st.sampled_from(["1s", "10m"]),
    ("bot", "claim_lease"): st.sampled_from(["1s", "1d"]),
    ("bot", "max_attempts"): st.sampled_from([1, 100]),
    ("bot", "max_image_bytes"): st.sampled_from([1, 50_000_000]),
    ("bot", "max_feed_bytes"): st.sampled_from([1, 1_000_000_000]),
    ("bot", "fetch_workers"): st.sampled_from([1, 256]),
    ("bot", "timezone"): st.sampled_from(["UTC", "Pacific/Kiritimati", "America/Adak"]),
    ("feed", "backfill"): st.sampled_from([0, 1, 10_000]),
    ("feed", "max_new_per_poll"): st.sampled_from([0, 1, 1_000_000]),
    ("feed", "max_age"): st.sampled_from(["0s", "3650d", "1ms"]),
    ("feed", "poll_interval"): st.sampled_from(["1m", "7d"]),
    ("target", "delay"): st.sampled_from(["0s", "30d", "29d23h59m"]),
    ("target", "min_interval"): st.sampled_from(["0s", "30d", "1ms"]),
    ("target", "jitter"): st.sampled_from(["0s", "1d"]),
    ("target", "max_per_day"): st.sampled_from([0, 1, 100_000]),
    ("target", "quiet_hours"): st.sampled_from(["23:00-07:00", "00:00-23:59", "00:01-00:00"]),
    ("target", "slots"): st.sampled_from([["00:00"], ["23:59"], ["09:00", "13:00", "18:30"]]),
    ("target", "max_hashtags"): st.sampled_from([0, 100]),
    ("target", "monthly_budget"): st.sampled_from([0.0, 0.01, 1_000_000.0]),
    ("target", "price_per_post"): st.sampled_from([0.0, 1_000.0]),
    ("target", "price_per_post_with_url"): st.sampled_from([0.0, 1_000.0]),
    ("target", "approve"): st.booleans(),
}


KEYS = st.one_of(
    st.sampled_from(BOT_KEYS).map(lambda k: ("bot", k)),
    st.sampled_from(FEED_KEYS).map(lambda k: ("feed", k)),
    st.sampled_from(TARGET_KEYS).map(lambda k: ("target", k)),
)


@st.composite
def changes(draw: st.DrawFn) -> dict[tuple[str, str], Any]:
    """One to three keys, each set to any value or (more often) to one its range holds."""
    keys = draw(st.lists(KEYS, min_size=1, max_size=3, unique=True))
    return {key: draw(st.one_of(VALUES, *[IN_RANGE.get(key, VALUES)] * 2)) for key in keys}


def write(directory: Path, changes: dict[tuple[str, str], Any]) -> Path:
    """A valid config (a feed from a file, an X target on a closed loopback port) with
    ``changes``: (table, key) -> value."""
    tables: dict[str, dict[str, Any]] = {
        "bot": {"database": "state.sqlite"},
        "feed": {"url": "feed.xml", "targets": ["x"], "backfill": 2},
        "target": {
            "platform": "twitter",
            "api_base": "http://127.0.0.1:9",
            **{key.removeprefix("X_").lower(): f"${{{key}}}" for key in X_SECRETS},
        },
    }
    for (table, key), value in changes.items():
        tables[table][key] = value
    headers = {"bot": "[bot]", "feed": "[feeds.blog]", "target": "[targets.x]"}
    lines = []
    for table, values in tables.items():
        lines.append(headers[table])
        lines += [f"{key} = {toml(value)}" for key, value in values.items()]
    path = directory / "feedrelay.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def invoke(path: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(main, ["--config", str(path), *args], env=X_SECRETS)


def words_not_a_traceback(result: click.testing.Result, *codes: int) -> None:
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    if result.exit_code:
        assert result.output.strip(), "a failure says why"


def test_check_answers_any_config_value_in_words(tmp_path: Path) -> None:
    @FAST
    @given(changes())
    def check(changes: dict[tuple[str, str], Any]) -> None:
        path = write(tmp_path, changes)
        words_not_a_traceback(invoke(path, "check"), 0, 2)

    check()


@st.composite
def accepted(draw: st.DrawFn) -> dict[tuple[str, str], Any]:
    keys = draw(st.lists(st.sampled_from(sorted(IN_RANGE)), min_size=1, max_size=5, unique=True))
    return {key: draw(IN_RANGE[key]) for key in keys}


@pytest.mark.slow
def test_what_check_accepts_runs_and_reports(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    shutil.copy(REPO / "examples" / "blogger-feed.xml", feed)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(accepted())
    def runs(changes: dict[tuple[str, str], Any]) -> None:
        for old in tmp_path.glob("state.sqlite*"):
            old.unlink()
        path = write(tmp_path, changes)
        checked = invoke(path, "check")
        if changes.get(("target", "min_interval")) and ("target", "slots") in changes:
            return  # slots closer than min_interval: a config error of its own
        words_not_a_traceback(checked, 0)
        words_not_a_traceback(invoke(path, "run", "--once", "--dry-run"), 0, 1)
        # Posts go to a closed loopback port: they fail, retry or wait; nothing crashes.
        words_not_a_traceback(invoke(path, "run", "--once"), 0, 1)
        for command in (["status"], ["schedule"], ["history"], ["status", "--json"]):
            words_not_a_traceback(invoke(path, *command), 0)

    runs()


@pytest.fixture
def store_config(tmp_path: Path) -> Path:
    """A config whose store exists, with target x."""
    (tmp_path / "feed.xml").write_text("<rss><channel><title>t</title></channel></rss>")
    path = write(tmp_path, {})
    SqlStore.open(tmp_path / "state.sqlite").close()
    return path


NUMBERS = st.one_of(
    st.integers(), st.integers(-(10**30), 10**30), st.floats(), st.sampled_from([2**63, 2**63 - 1])
).map(str)
ARGUMENT = st.one_of(NUMBERS, DURATIONS, TEXT.filter(lambda t: not t.startswith("-")))
DATES = st.datetimes().map(lambda d: d.isoformat(sep=" ")) | st.dates().map(str)


def test_history_limit_and_since_answer_in_words(store_config: Path) -> None:
    @FAST
    @given(st.one_of(NUMBERS, TEXT), st.one_of(DURATIONS, DATES, ARGUMENT))
    def history(limit: str, since: str) -> None:
        for args in (["--limit", limit], ["--since", since], ["--limit", limit, "--json"]):
            words_not_a_traceback(invoke(store_config, "history", *args), 0, 2)

    history()


def test_pause_for_and_delivery_ids_answer_in_words(store_config: Path) -> None:
    @FAST
    @given(st.one_of(DURATIONS, ARGUMENT), st.lists(ARGUMENT, min_size=1, max_size=3))
    def operator(duration: str, ids: list[str]) -> None:
        words_not_a_traceback(invoke(store_config, "pause", "x", "--for", duration), 0, 2)
        for command in ("retry", "skip", "approve"):
            words_not_a_traceback(invoke(store_config, command, "--", *ids), 1, 2)
        words_not_a_traceback(invoke(store_config, "resolve", ids[0], "--no-link"), 1, 2)

    operator()
