"""Route filters: labels, whole words in any script, patterns, and how the three levels of
a route (feed, target, route) combine. The property drives the real planner
(``ingest.new_delivery``) over a config file Hypothesis writes, against a model of the
rules written here with plain Python."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import policy
from bot.config import load_config
from bot.filters import Filter
from bot.ingest import new_delivery
from bot.model import DeliveryState, Entry

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _entry(title: str = "", summary: str = "", labels: tuple[str, ...] = ()) -> Entry:
    return Entry(
        feed="news",
        key=f"k-{title}-{summary}-{labels}",
        title=title,
        link="https://blog.example/post.html",
        summary_html=f"<p>{summary}</p>" if summary else "",
        labels=labels,
    )


def _refused(entry: Entry, **level: object) -> str | None:
    return policy.filtered(entry, [Filter(where="targets.t", **level)])  # type: ignore[arg-type]


# -- labels ------------------------------------------------------------------------------


def test_labels_are_compared_case_insensitively_with_the_reason_in_words() -> None:
    entry = _entry("Council meets", labels=("SPONSORED", "local"))
    assert _refused(entry, exclude_labels=("Sponsored",)) == (
        'filtered: label "Sponsored" excluded by targets.t'
    )
    assert _refused(entry, include_labels=("Local", "Almaty")) is None
    assert _refused(entry, include_labels=("Sport", "Almaty")) == (
        'filtered: not labelled "Sport" or "Almaty" (include_labels of targets.t)'
    )


def test_an_exclusion_wins_over_an_inclusion_and_is_named_first() -> None:
    entry = _entry("Win a bike: our giveaway", labels=("Local",))
    reason = _refused(entry, include_labels=("Local",), exclude_words=("giveaway",))
    assert reason == 'filtered: word "giveaway" excluded by targets.t'
    # Across levels too: the feed's inclusion is unmet, the route's exclusion is named.
    levels = [
        Filter(where="feeds.news", include_labels=("Sport",)),
        Filter(where="feeds.news.to.t", exclude_labels=("local",)),
    ]
    assert policy.filtered(entry, levels) == ('filtered: label "local" excluded by feeds.news.to.t')


def test_each_include_key_is_a_condition_of_its_own() -> None:
    entry = _entry("Election night in Almaty", labels=("Politics",))
    both = {"include_labels": ("Politics",), "include_words": ("election",)}
    assert _refused(entry, **both) is None
    assert _refused(_entry("Election night", labels=("Sport",)), **both) == (
        'filtered: not labelled "Politics" (include_labels of targets.t)'
    )
    assert _refused(_entry("A quiet night", labels=("Politics",)), **both) == (
        'filtered: no word "election" in the title or summary (include_words of targets.t)'
    )


# -- whole words, in any script ----------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "title", "summary", "found"),
    [
        # English: whole words, any case, not inside another word
        ("giveaway", "Our big GIVEAWAY!", "", True),
        ("give", "Our big giveaway", "", False),
        ("sponsored", "", "This post is <b>sponsored</b> by a shop.", True),
        ("Straße", "NEUE STRASSE", "", True),  # full case folding
        ("İstanbul", "istanbul notes", "", True),
        # Kazakh (Cyrillic): case-insensitive, and a suffixed form is another word
        ("Алматы", "АЛМАТЫ: жаңа саябақ ашылды", "", True),
        ("алматы", "", "Қала әкімі Алматыда сөйледі", False),
        ("қала", "Қала әкімдігі", "", True),
        ("жаңалық", "ЖАҢАЛЫҚ", "", True),
        # Japanese: no spaces between words, so a word is found where it is written
        ("東京", "東京都の新しい公園", "", True),
        ("ニュース", "", "今日のニュース。", True),
        ("大阪", "東京都の新しい公園", "", False),
        # Arabic: vowel marks and tatweel written or not; the article makes another word
        ("كتاب", "كتابٌ جديد للأطفال", "", True),
        ("كتاب", "", "هذا الكتاب جميل", False),
        ("رياضة", "أخبار الريـاضة اليوم", "", False),
        ("الرياضة", "أخبار الريـاضة اليوم", "", True),
        ("مدرسة", "مَدْرَسَة جديدة", "", True),
    ],
)
def test_whole_words_in_any_script(word: str, title: str, summary: str, found: bool) -> None:
    entry = _entry(title, summary)
    excluded = _refused(entry, exclude_words=(word,))
    assert (excluded == f'filtered: word "{word}" excluded by targets.t') is found
    assert (_refused(entry, include_words=(word,)) is None) is found


@pytest.mark.parametrize(
    ("configured", "labels"),
    [
        ("Жаңалықтар", ("ЖАҢАЛЫҚТАР",)),  # Kazakh
        ("東京", ("東京",)),  # Japanese
        ("رياضة", ("ريـاضة",)),  # Arabic, with a tatweel
        ("Local  News", ("local news",)),  # spaces inside a label
        ("Sponsored", ("Spon\u200bsored",)),  # an invisible character hides nothing
    ],
)
def test_labels_in_any_script(configured: str, labels: tuple[str, ...]) -> None:
    entry = _entry("A title", labels=labels)
    assert _refused(entry, exclude_labels=(configured,)) == (
        f'filtered: label "{configured}" excluded by targets.t'
    )


# -- patterns ----------------------------------------------------------------------------


def test_a_pattern_is_searched_in_the_title_then_in_the_summary() -> None:
    entry = _entry("[Ad] A new bike shop", "Visit us on Main Street")
    assert _refused(entry, exclude_pattern=r"^\[ad\]") == (
        'filtered: pattern "^\\[ad\\]" excluded by targets.t (it matched "[Ad]" in the title)'
    )
    assert _refused(entry, exclude_pattern=r"main\s+street") == (
        'filtered: pattern "main\\s+street" excluded by targets.t'
        ' (it matched "Main Street" in the summary)'
    )
    assert _refused(entry, include_pattern=r"\bbike\b") is None
    assert _refused(entry, include_pattern=r"\bcar\b") == (
        'filtered: pattern "\\bcar\\b" matches neither the title nor the summary'
        " (include_pattern of targets.t)"
    )


def test_an_entry_without_filters_goes() -> None:
    assert policy.filtered(_entry("Anything"), []) is None


# -- the three levels, through the planner -------------------------------------------------

LABELS = ("Local", "Almaty", "Sponsored", "Sport")
WORDS = ("giveaway", "election", "garden", "rust")
FILLER = ("breaking", "news", "today", "2026")
PATTERNS = (r"^breaking", r"\d+", r"garden(ing)?")


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.capitalize()])


def _text(min_size: int) -> st.SearchStrategy[str]:
    return st.lists(
        st.sampled_from(WORDS + FILLER).flatmap(_cased), min_size=min_size, max_size=6
    ).map(" ".join)


def _items(choices: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(choices), min_size=1, max_size=2, unique=True)


# A level sets no filter at all now and then, and one to six of them otherwise.
levels = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "include_labels": _items(LABELS),
            "exclude_labels": _items(LABELS),
            "include_words": _items(WORDS),
            "exclude_words": _items(WORDS),
            "include_pattern": st.sampled_from(PATTERNS),
            "exclude_pattern": st.sampled_from(PATTERNS),
        },
    ).filter(bool),
)


def _verdict(level: dict[str, object], title: str, summary: str, labels: list[str]) -> str:
    """The rules, written plainly: "excluded" when the entry matches an exclude_*, else
    "unmet" when it misses an include_* that is set, else "passes"."""
    have_labels = {label.lower() for label in labels}
    have_words = set(title.lower().split()) | set(summary.lower().split())

    def listed(key: str) -> set[str]:
        items = level.get(key, [])
        assert isinstance(items, list)
        return {item.lower() for item in items}

    def found(key: str) -> bool:
        return any(re.search(str(level[key]), text, re.I) for text in (title, summary))

    if listed("exclude_labels") & have_labels or listed("exclude_words") & have_words:
        return "excluded"
    if "exclude_pattern" in level and found("exclude_pattern"):
        return "excluded"
    if "include_labels" in level and not listed("include_labels") & have_labels:
        return "unmet"
    if "include_words" in level and not listed("include_words") & have_words:
        return "unmet"
    if "include_pattern" in level and not found("include_pattern"):
        return "unmet"
    return "passes"


def _toml(values: dict[str, object]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


@settings(max_examples=150, deadline=None)
@example(  # every level sets filters; only the route's own keeps the entry out
    feed={"exclude_words": ["rust"]},
    target={"include_labels": ["Local"]},
    route={"include_pattern": r"\d+"},
    title="garden news",
    summary="",
    labels=["LOCAL"],
)
@given(
    feed=levels,
    target=levels,
    route=levels,
    title=_text(min_size=1),
    summary=_text(min_size=0),
    labels=st.lists(st.sampled_from(LABELS).flatmap(_cased), max_size=3),
)
def test_an_entry_reaches_a_target_iff_it_passes_all_three_filters(
    feed: dict[str, object],
    target: dict[str, object],
    route: dict[str, object],
    title: str,
    summary: str,
    labels: list[str],
) -> None:
    """Through the config file and the planner: queued if the entry passes the feed's,
    the target's and the route's filters; else skipped, naming the level that keeps it
    out (the first that excludes it, else the first whose inclusion it misses)."""
    text = (
        '[feeds.news]\nurl = "feed.xml"\ntargets = ["hook"]\n'
        + _toml(feed)
        + "[feeds.news.to.hook]\n"
        + _toml(route)
        + '[targets.hook]\nplatform = "webhook"\nurl = "https://hooks.example/in"\n'
        + 'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"\n'
        + _toml(target)
    )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "feedrelay.toml"
        path.write_text(text)
        config = load_config(path, environ={})
    entry = _entry(title, summary, tuple(labels))

    delivery = new_delivery(config, entry, "hook", NOW)

    levels = {"feeds.news": feed, "targets.hook": target, "feeds.news.to.hook": route}
    verdicts = {where: _verdict(level, title, summary, labels) for where, level in levels.items()}
    if all(verdict == "passes" for verdict in verdicts.values()):
        assert delivery.state is DeliveryState.QUEUED, delivery.error
        return
    assert delivery.state is DeliveryState.SKIPPED
    assert delivery.error is not None
    excluded = [where for where, verdict in verdicts.items() if verdict == "excluded"]
    if excluded:
        assert f"excluded by {excluded[0]}" in delivery.error
    else:
        unmet = [where for where, verdict in verdicts.items() if verdict == "unmet"]
        assert delivery.error.endswith(f" of {unmet[0]})")
    assert delivery.error.startswith(policy.FILTERED)
    assert delivery.post.link == entry.link  # the post is kept: `retry` can still send it
