"""Hand-run benchmark: parse, normalise and render feeds; one poll cycle; a hostile feed.

Run from the repository root:

    .venv/bin/python benchmarks/bench_pipeline.py

Prints wall time (best of 3, time.perf_counter) and peak Python memory (tracemalloc) for:
a 25-entry Blogger page (what a poll usually sees), a 1,000-entry feed (~2 MB), rendering
every entry for X, Reddit and Tumblr, a whole `poll_due_feeds` + dry-run dispatch over 20
file feeds, and a 58 KB quadratic-entity feed (refused before parsing).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from adapters import spec
from bot import feeds
from bot.app import make_app
from bot.config import load_config
from bot.errors import FeedError
from bot.text.render import render

LABELS = ["Gardening", "Raspberry Pi", "Rust", "Oil & Gas", "machine learning", "C++"]


def blogger_feed(entries: int) -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom' "
        "xmlns:media='http://search.yahoo.com/mrss/'><title type='text'>Bench</title>"
    ]
    for n in range(entries):
        when = (start + timedelta(hours=n)).isoformat()
        html = (
            f'<div dir="ltr"><p>Paragraph {n} with <b>bold</b> and a '
            '<a href="https://example.com/x">link</a>&nbsp;and an emoji 👨‍👩‍👧‍👦.</p>'
            + "<p>"
            + "Some words about the allotment and the weather. " * 20
            + "</p>"
            + '<img src="https://blogger.googleusercontent.com/img/b/x/s320/p.jpg" alt="a"></div>'
        )
        labels = "".join(
            f"<category scheme='http://www.blogger.com/atom/ns#' term='{escape(label)}'/>"
            for label in LABELS[n % 3 : n % 3 + 3]
        )
        parts.append(
            f"<entry><id>tag:blogger.com,1999:blog-1.post-{n}</id><published>{when}</published>"
            f"<updated>{when}</updated>{labels}<title type='text'>Post number {n}: "
            f"tomatoes, blight and a Raspberry Pi</title><content type='html'>{escape(html)}"
            f"</content><link rel='alternate' type='text/html' "
            f"href='https://bench.blogspot.com/2026/01/post-{n}.html'/>"
            "<media:thumbnail url='https://blogger.googleusercontent.com/img/b/x/s72-c/p.jpg'/>"
            "</entry>"
        )
    parts.append("</feed>")
    return "".join(parts).encode()


def measure(name: str, func: Callable[[], Any], repeat: int = 3) -> Any:
    """Best wall time of ``repeat`` runs, then one more run under tracemalloc for the peak
    (tracing slows Python down several times, so it never runs while timing)."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - began)
    tracemalloc.start()
    result = func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name:<52} {best * 1000:9.1f} ms   peak {peak / 1e6:7.1f} MB")
    return result


def main() -> None:
    small, large = blogger_feed(25), blogger_feed(1000)
    print(f"feed sizes: 25 entries {len(small) / 1e3:.0f} KB, ", end="")
    print(f"1000 entries {len(large) / 1e6:.1f} MB")

    def parse(body: bytes) -> feeds.ParsedFeed:
        return feeds.parse("bench", feeds.Fetched(body=body, url="https://bench.blogspot.com/f"))

    measure("parse + normalise, 25 entries", lambda: parse(small))
    parsed = measure("parse + normalise, 1000 entries", lambda: parse(large), repeat=2)

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        example = Path(__file__).resolve().parent.parent / "config.example.toml"
        for n in range(20):
            (directory / f"feed{n}.xml").write_bytes(blogger_feed(25))
        text = example.read_text().replace('url = "examples/blogger-feed.xml"', 'url = "feed0.xml"')
        text = text.replace("backfill = 2", "backfill = 25")
        extra = "".join(
            f'\n[feeds.f{n}]\nurl = "feed{n}.xml"\ntargets = ["x", "reddit", "tumblr"]\n'
            "backfill = 25\n"
            for n in range(1, 20)
        )
        config_path = directory / "config.toml"
        config_path.write_text(text.replace("[targets.x]", extra + "\n[targets.x]", 1))
        config = load_config(config_path, environ={}, allow_missing_secrets=True)
        targets = [
            (spec(target.platform), spec(target.platform).options(target))
            for target in config.targets.values()
        ]

        def render_all() -> int:
            count = 0
            for entry in parsed.entries:
                for platform, options in targets:
                    render(entry, platform.render, options, platform.limits)
                    count += 1
            return count

        count = measure("render 1000 entries x 3 platforms", render_all, repeat=1)
        print(f"{'':<52} {count} posts")

        def poll_cycle() -> int:
            with make_app(config, dry_run=True) as app:
                app.poll_due_feeds(everything=True)
                return len(app.dispatch_due())

        sent = measure("first poll of 20 feeds x 25 entries + dry dispatch", poll_cycle, repeat=1)
        print(f"{'':<52} {sent} posts due now (rest spaced by min_interval)")

    bomb = (
        b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a '" + b"x" * 50_000 + b"'>]><rss><channel>"
        b"<title>" + b"&a;" * 2000 + b"</title></channel></rss>"
    )

    def hostile() -> str:
        try:
            parse(bomb)
        except FeedError as error:
            return str(error)
        return "parsed!"

    print(f"hostile feed: {len(bomb) / 1e3:.0f} KB, {measure('quadratic entity feed', hostile)}")


if __name__ == "__main__":
    main()
