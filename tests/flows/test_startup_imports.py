"""What a command imports to start: a command that only reads the record never loads the feed
readers, the HTML parsers, an HTTP library or a platform's client library (each costs
hundredths of a second or more, on every run; docs/performance.md, "Start-up"). Asserted on
the modules a fresh interpreter holds after the command, never on seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# Loaded only where a post is rendered, a feed read or a platform called.
HEAVY = (
    "bs4",
    "soupsieve",
    "markdownify",
    "feedparser",
    "emoji",
    "tweepy",
    "praw",
    "atproto",
    "mastodon",
    "requests_oauthlib",
    "apscheduler",
    "requests",
    "urllib3",
    "starlette",
    "uvicorn",
    "PIL",
)

_PROBE = """
import json, sys
from bot.cli import main
try:
    main(sys.argv[1:], prog_name="feedrelay")
except SystemExit:
    pass
print("MODULES " + json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _imported(cwd: Path, *args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The bundled example config, with a store that exists and is empty."""
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    feed = (REPO / "examples" / "blogger-feed.xml").as_posix()
    (tmp_path / "feedrelay.toml").write_text(
        text.replace('"examples/blogger-feed.xml"', json.dumps(feed)), encoding="utf-8"
    )
    subprocess.run(
        [sys.executable, "-c", "from bot.store import open_store; open_store('feedrelay.sqlite')"],
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("-V",),
        ("status",),
        ("status", "--json"),
        ("history",),
        ("history", "--json", "--target", "x"),
        ("schedule",),
    ],
    ids=" ".join,
)
def test_a_command_that_only_reads_loads_no_feed_reader_or_platform_client(
    example: Path, args: tuple[str, ...]
) -> None:
    imported = _imported(example, "--config", "feedrelay.toml", *args)
    assert "bot" in imported
    assert sorted(imported.intersection(HEAVY)) == []


def test_a_dry_run_loads_what_it_needs(example: Path) -> None:
    """The probe can fail: the same config's dry run renders posts and reads the feed."""
    imported = _imported(example, "--config", "feedrelay.toml", "run", "--once", "--dry-run")
    assert {"bs4", "feedparser"} <= imported
