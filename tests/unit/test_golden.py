"""Golden tests: feeds in the shapes Blogger, WordPress, Ghost, Hugo and Jekyll really produce,
parsed and rendered for the three targets of ``config.example.toml``.

Each ``tests/data/golden/<generator>-<n>.xml`` has ``<generator>-<n>.expected.json`` next to it:
per entry, in document order, the normalised fields and the post for X, Reddit and Tumblr.

To regenerate after an intended change, run
``FEEDRELAY_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and read the diff of every expected
file before committing it: these files are the record of what users will see.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from adapters import spec
from adapters.twitter.text import weighted_length
from bot import feeds
from bot.app import options_for
from bot.config import load_config
from bot.model import Image
from bot.text.render import Rendered, render
from tests.conftest import DATA

GOLDEN = DATA / "golden"
# Read at import time: the autouse fixture in conftest.py removes FEEDRELAY_* variables.
UPDATE = os.environ.get("FEEDRELAY_UPDATE_GOLDEN") == "1"

# Where each blog publishes its feed (relative links resolve against it).
FEED_URLS = {
    "blogger-1": "https://rignotes-northsea.blogspot.com/feeds/posts/default",
    "ghost-1": "https://slowweb.ghost.io/rss/",
    "hugo-1": "https://notes.danielsson.dev/index.xml",
    "hugo-2": "https://sakura-zakki.netlify.app/index.xml",
    "jekyll-1": "https://noalevi.github.io/feed.xml",
    "wordpress-1": "https://kettleandcode.co.uk/feed/",
}
FEED_FILES = sorted(GOLDEN.glob("*.xml"))

# The three targets of config.example.toml, with its settings.
CONFIG = """
[feeds.golden]
url = "https://example.invalid/feed"
targets = ["x", "reddit", "tumblr"]

[targets.x]
platform = "twitter"
template = "{title} {url} {hashtags}"
consumer_key = "${X_CONSUMER_KEY}"
consumer_secret = "${X_CONSUMER_SECRET}"
access_token = "${X_ACCESS_TOKEN}"
access_token_secret = "${X_ACCESS_TOKEN_SECRET}"
max_hashtags = 3
hashtags_deny = []
hashtags_rename = { "Raspberry Pi" = "RaspberryPi" }
neutralize_mentions = true
image = true

[targets.reddit]
platform = "reddit"
subreddit = "allotmentnotes"
kind = "link"
title = "{title}"
body = "{summary}\\n\\n{url}"
client_id = "${REDDIT_CLIENT_ID}"
client_secret = "${REDDIT_CLIENT_SECRET}"
username = "allotment_bot"
password = "${REDDIT_PASSWORD}"

[targets.tumblr]
platform = "tumblr"
blog = "fieldnotes-allotment"
text = "{summary}"
tags_from_labels = true
tags = ["allotment"]
image = true
consumer_key = "${TUMBLR_CONSUMER_KEY}"
consumer_secret = "${TUMBLR_CONSUMER_SECRET}"
oauth_token = "${TUMBLR_OAUTH_TOKEN}"
oauth_token_secret = "${TUMBLR_OAUTH_TOKEN_SECRET}"
"""
SECRETS = [
    "X_CONSUMER_KEY",
    "X_CONSUMER_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_TOKEN_SECRET",
    "REDDIT_CLIENT_ID",
    "REDDIT_CLIENT_SECRET",
    "REDDIT_PASSWORD",
    "TUMBLR_CONSUMER_KEY",
    "TUMBLR_CONSUMER_SECRET",
    "TUMBLR_OAUTH_TOKEN",
    "TUMBLR_OAUTH_TOKEN_SECRET",
]


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any, Any]]:
    path = tmp_path_factory.mktemp("golden") / "feedrelay.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path, environ={name: f"dummy-{name.lower()}" for name in SECRETS})
    return {
        name: (spec(target.platform).render, options_for(target), spec(target.platform).limits)
        for name, target in config.targets.items()
    }


def _image(image: Image | None) -> str | None:
    return image.url if image else None


def _golden(entry: Any, posts: dict[str, Rendered]) -> dict[str, Any]:
    x, reddit, tumblr = (posts[name].post for name in ("x", "reddit", "tumblr"))
    return {
        "entry": {
            "key": entry.key,
            "title": entry.title,
            "link": entry.link,
            "labels": list(entry.labels),
            "published_at": entry.published_at.isoformat() if entry.published_at else None,
            "image": _image(entry.images[0] if entry.images else None),
        },
        "x": {
            "text": x.text,
            "weighted_length": weighted_length(x.text),
            "tags": list(x.tags),
            "image": _image(x.image),
        },
        "reddit": {"title": reddit.title, "link": reddit.link},
        "tumblr": {
            "text": tumblr.text,
            "link": tumblr.link,
            "title": tumblr.title,
            "description": tumblr.description,
            "tags": list(tumblr.tags),
            "slug": tumblr.slug,
            "image": _image(tumblr.image),
        },
    }


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def test_every_feed_file_has_a_url() -> None:
    assert len(FEED_FILES) >= 5
    assert {path.stem for path in FEED_FILES} == set(FEED_URLS)


@pytest.mark.parametrize("feed_file", FEED_FILES, ids=[path.stem for path in FEED_FILES])
def test_golden(feed_file: Path, targets: dict[str, tuple[Any, Any, Any]]) -> None:
    name = feed_file.stem
    fetched = feeds.Fetched(
        body=feed_file.read_bytes(),
        url=FEED_URLS[name],
        headers={"content-type": "application/xml"},
    )
    parsed = feeds.parse(name, fetched)
    assert parsed.problem is None
    actual = {
        "feed": name,
        "url": FEED_URLS[name],
        "entries": [
            _golden(
                entry,
                {target: render(entry, *settings) for target, settings in targets.items()},
            )
            for entry in parsed.entries
        ],
    }
    expected_file = feed_file.with_name(f"{name}.expected.json")
    if UPDATE:
        expected_file.write_text(_dump(actual), encoding="utf-8")
    if not expected_file.exists():
        pytest.fail(f"{expected_file.name} is missing: run with FEEDRELAY_UPDATE_GOLDEN=1")
    expected_text = expected_file.read_text(encoding="utf-8")
    if json.loads(expected_text) != actual:
        diff = difflib.unified_diff(
            expected_text.splitlines(),
            _dump(actual).splitlines(),
            f"{expected_file.name} (expected)",
            f"{name} (rendered now)",
            lineterm="",
        )
        pytest.fail(
            f"{name}: output differs from {expected_file.name}\n" + "\n".join(diff), pytrace=False
        )

    # Whatever the expected files say, these hold for every post.
    for item in actual["entries"]:
        assert item["x"]["weighted_length"] <= 280
        assert item["entry"]["link"] in item["x"]["text"]
        assert len(item["reddit"]["title"]) <= 300
        assert item["reddit"]["title"]
