"""Hand-run benchmark for X's weighted length (adapters.twitter.text) and the toolkit's cut.

Run from the repository root:

    .venv/bin/python benchmarks/bench_xtext.py [--posts 1000] [--repeat 5]

It builds the same 1,000 "realistic" posts every time (a seeded mix of English, accented,
CJK and emoji text with links, bare domains and hashtags, 60-900 characters long), times
each function over all of them with time.perf_counter and prints the best of the repeats.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from adapters.twitter.text import truncate_weighted, weighted_length
from bot.text.cut import truncate_chars

WORDS = [
    "the",
    "a",
    "release",
    "notes",
    "new",
    "version",
    "blog",
    "post",
    "today",
    "why",
    "how",
    "we",
    "built",
    "faster",
    "database",
    "cache",
    "python",
    "rust",
    "deploy",
    "fix",
    "bug",
    "performance",
    "tutorial",
    "guide",
    "review",
    "weekend",
    "trip",
    "photos",
    "recipe",
    "garden",
    "coffee",
    "book",
    "reading",
    "list",
    "thoughts",
    "on",
]
ACCENTED = [
    "café",
    "naïve",
    "façade",
    "Zürich",
    "São",
    "Paulo",
    "Kraków",
    "résumé",
    "crème",
    "brûlée",
]
CJK = [
    "日本語のブログ",
    "新しい記事",
    "今日の写真",
    "안녕하세요",
    "오늘의 일기",
    "旅行记",
    "读书笔记",
]
EMOJI = ["😀", "🎉", "🚀", "👍🏽", "❤️", "🇯🇵", "👨‍👩‍👧‍👦", "☕", "📷", "1️⃣"]
LINKS = [
    "https://blog.example.com/2024/05/why-we-moved-to-postgres.html",
    "https://example.org/posts/123?utm_source=feed&utm_medium=rss",
    "http://en.wikipedia.org/wiki/Primer_(film)",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "example.com/about",
    "foo.co.jp",
    "github.com/someone/project",
]
TAGS = ["#python", "#travel", "#rust", "#photography", "#日本", "#food"]


def make_posts(count: int, seed: int = 20240501) -> list[str]:
    rng = random.Random(seed)
    posts = []
    for _ in range(count):
        parts: list[str] = []
        for _ in range(rng.randint(8, 140)):
            roll = rng.random()
            if roll < 0.70:
                parts.append(rng.choice(WORDS))
            elif roll < 0.78:
                parts.append(rng.choice(ACCENTED))
            elif roll < 0.86:
                parts.append(rng.choice(CJK))
            elif roll < 0.93:
                parts.append(rng.choice(EMOJI))
            elif roll < 0.97:
                parts.append(rng.choice(LINKS))
            else:
                parts.append(rng.choice(TAGS))
            if rng.random() < 0.08:
                parts[-1] += rng.choice([",", ".", ":", "!", "…", " —"])
        posts.append(" ".join(parts))
    return posts


def timed(label: str, func: Callable[[str], object], posts: list[str], repeat: int) -> None:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for post in posts:
            func(post)
        runs.append(time.perf_counter() - started)
    best = min(runs)
    print(
        f"{label:<34} best {best * 1000:8.1f} ms   median {statistics.median(runs) * 1000:8.1f} ms"
        f"   {best / len(posts) * 1e6:7.1f} us/post"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    posts = make_posts(args.posts)
    lengths = [len(p) for p in posts]
    print(
        f"{len(posts)} posts, {min(lengths)}-{max(lengths)} code points "
        f"(mean {statistics.mean(lengths):.0f})"
    )
    started = time.perf_counter()
    weighted_length("warm-up: compiles the URL, TLD and emoji patterns https://example.com 😀")
    print(f"{'first call (compile patterns)':<34} {(time.perf_counter() - started) * 1000:8.1f} ms")

    weights = [weighted_length(p) for p in posts]
    over = sum(w > 280 for w in weights)
    print(f"weights {min(weights)}-{max(weights)}, {over} of {len(posts)} over 280")
    timed("weighted_length", weighted_length, posts, args.repeat)
    timed("truncate_weighted(budget=280)", lambda p: truncate_weighted(p, 280), posts, args.repeat)
    timed("truncate_weighted(budget=100)", lambda p: truncate_weighted(p, 100), posts, args.repeat)
    timed("truncate_chars(limit=300)", lambda p: truncate_chars(p, 300), posts, args.repeat)


if __name__ == "__main__":
    main()
