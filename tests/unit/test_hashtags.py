"""bot.text.hashtags: labels into hashtags (as X shows them) and plain tags (Tumblr's)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.tumblr.spec import LIMITS as TUMBLR
from bot.text.hashtags import MAX_HASHTAG_LENGTH, hashtag_for, plain_tags, select_hashtags

MAX_TUMBLR_TAGS = 30
MAX_TUMBLR_TAG_LENGTH = 140


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        # words, spaces and punctuation
        ("Oil & Gas", "#OilGas"),
        ("machine learning", "#MachineLearning"),
        ("python", "#Python"),
        ("Web Development", "#WebDevelopment"),
        ("open-source", "#OpenSource"),
        ("self/hosted", "#SelfHosted"),
        ("  padded   label  ", "#PaddedLabel"),
        ("Don't Panic", "#DontPanic"),
        ("Rock ’n’ Roll", "#RockNRoll"),
        ("O'Reilly", "#OReilly"),
        ("#python", "#Python"),
        ("Q&A", "#QA"),
        ("AT&T", "#ATT"),
        ("Node.js", "#NodeJs"),
        ("ASP.NET", "#ASPNET"),
        ("🐍 Python", "#Python"),
        ("news!!!", "#News"),
        # capitals inside a word are kept; nothing is lower-cased
        ("iPhone", "#iPhone"),
        ("iPhone tips", "#iPhoneTips"),
        ("macOS", "#macOS"),
        ("eBay", "#eBay"),
        ("NASA", "#NASA"),
        ("AI ethics", "#AIEthics"),
        ("GitHub Actions", "#GitHubActions"),
        # the table for + # .
        ("C++", "#Cpp"),
        ("c++", "#Cpp"),
        ("Notepad++", "#Notepadpp"),
        ("C#", "#CSharp"),
        ("F# and C++", "#FSharpAndCpp"),
        ("Disney+", "#DisneyPlus"),
        ("Apple TV+", "#AppleTVPlus"),
        (".NET", "#DotNET"),
        (".net core", "#DotNetCore"),
        ("R+D", "#RD"),
        ("a#b", "#AB"),
        ("C+++", "#C"),
        # Unicode letters, marks, accents
        ("Café", "#Café"),
        ("cafe\u0301", "#Café"),  # decomposed: normalised to NFC
        ("日本語", "#日本語"),
        ("東京 オリンピック", "#東京オリンピック"),
        ("straße", "#Straße"),
        ("élection présidentielle", "#ÉlectionPrésidentielle"),
        ("हिन्दी", "#हिन्दी"),
        ("Ελληνικά", "#Ελληνικά"),
        ("col·lecció", "#Collecció"),
        ("ǆungla", "#ǅungla"),  # title case, not upper case, for a digraph
        ("ＡＢＣ", "#ＡＢＣ"),
        # digits and underscores
        ("Python 3.12", "#Python312"),
        ("Web 3", "#Web3"),
        ("2024 elections", "#2024Elections"),
        ("snake_case", "#Snake_case"),
        ("_private", "#_private"),
        # nothing usable
        ("2024", None),
        ("3.14", None),
        ("_", None),
        ("__2024__", None),
        ("", None),
        ("   ", None),
        ("!!!", None),
        ("🎉🎉", None),
        ("&", None),
        ("x" * 99, "#" + "X" + "x" * 98),
        ("x" * 100, None),
    ],
)
def test_hashtag_for(label: str, expected: str | None) -> None:
    assert hashtag_for(label) == expected


def test_hashtag_for_length_limit_counts_the_hash() -> None:
    longest = hashtag_for("a" * (MAX_HASHTAG_LENGTH - 1))
    assert longest is not None
    assert len(longest) == MAX_HASHTAG_LENGTH
    assert hashtag_for("a" * MAX_HASHTAG_LENGTH) is None


# -- select_hashtags -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "options", "expected"),
    [
        (["Python", "Web", "Testing", "CI"], {}, ["#Python", "#Web", "#Testing"]),
        (["Python", "Web", "Testing"], {"max_count": 1}, ["#Python"]),
        (["Python", "Web"], {"max_count": 0}, []),
        (["Python", "Web"], {"max_count": 10}, ["#Python", "#Web"]),
        ([], {}, []),
        # duplicates, case-insensitively and after conversion
        (["python", "Python", "PYTHON", "Web"], {}, ["#Python", "#Web"]),
        (["machine learning", "Machine-Learning", "ML"], {}, ["#MachineLearning", "#ML"]),
        (["Python", "python"], {"max_count": 1}, ["#Python"]),
        # labels without a hashtag are skipped and do not use up the count
        (["2024", "!!!", "Python", "Go", "Rust"], {}, ["#Python", "#Go", "#Rust"]),
        # allow list: only labels on it, case-insensitive, label or hashtag form
        (["Python", "Cooking", "Web"], {"allow": ["python", "WEB"]}, ["#Python", "#Web"]),
        (["machine learning"], {"allow": ["#MachineLearning"]}, ["#MachineLearning"]),
        (["Python"], {"allow": []}, []),
        # deny list: label or hashtag, with or without '#'
        (["Python", "Uncategorized", "Web"], {"deny": ["uncategorized"]}, ["#Python", "#Web"]),
        (["Python", "Oil & Gas"], {"deny": ["#oilgas"]}, ["#Python"]),
        (["Python", "Oil & Gas"], {"deny": ["OILGAS"]}, ["#Python"]),
        (["Python", "Web"], {"deny": ["python"], "allow": ["Python", "web"]}, ["#Web"]),
        # rename: keys case-insensitive, values with or without '#'
        (["ML"], {"rename": {"ml": "Machine Learning"}}, ["#MachineLearning"]),
        (["ml"], {"rename": {"ML": "#ml"}}, ["#ml"]),
        (["Golang"], {"rename": {"golang": "#Go"}}, ["#Go"]),
        (["Golang", "Go"], {"rename": {"golang": "Go"}}, ["#Go"]),
        (["News"], {"rename": {"news": ""}}, []),
        (["News"], {"rename": {"news": "#has space"}}, ["#HasSpace"]),
        (["News"], {"rename": {"news": "2024"}}, []),
        (["  Machine   Learning "], {"rename": {"machine learning": "#ML"}}, ["#ML"]),
        # rename happens before allow and deny; both match either name
        (["ML"], {"rename": {"ml": "#AI"}, "allow": ["ml"]}, ["#AI"]),
        (["ML"], {"rename": {"ml": "#AI"}, "allow": ["ai"]}, ["#AI"]),
        (["ML"], {"rename": {"ml": "#AI"}, "deny": ["#ai"]}, []),
        (["ML"], {"rename": {"ml": "#AI"}, "deny": ["ML"]}, []),
    ],
)
def test_select_hashtags(labels: list[str], options: dict[str, Any], expected: list[str]) -> None:
    assert select_hashtags(labels, **options) == expected


def test_select_hashtags_rejects_a_single_string() -> None:
    with pytest.raises(TypeError, match="labels"):
        select_hashtags("Python")
    with pytest.raises(TypeError, match="deny"):
        select_hashtags(["Python"], deny="python")
    with pytest.raises(TypeError, match="allow"):
        select_hashtags(["Python"], allow="python")


def test_select_hashtags_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="max_count"):
        select_hashtags(["Python"], max_count=-1)


def test_select_hashtags_accepts_tuples_and_sets() -> None:
    assert select_hashtags(("a b", "c"), allow={"A B", "c"}, deny=frozenset()) == ["#AB", "#C"]


def _is_hashtag_char(char: str) -> bool:
    category = unicodedata.category(char)
    # "Cn": a letter in the newer Unicode of the regex module, unassigned in this Python's.
    return char in "_\u200c\u200d" or category.startswith(("L", "M")) or category in {"Nd", "Cn"}


@given(
    labels=st.lists(st.text(max_size=30), max_size=12),
    max_count=st.integers(min_value=0, max_value=6),
    rename=st.dictionaries(st.text(max_size=10), st.text(max_size=12), max_size=3),
    deny=st.lists(st.text(max_size=10), max_size=3),
)
def test_select_hashtags_output_is_clean(
    labels: list[str], max_count: int, rename: dict[str, str], deny: list[str]
) -> None:
    tags = select_hashtags(labels, max_count=max_count, rename=rename, deny=deny)
    assert len(tags) <= max_count
    assert len({tag.casefold() for tag in tags}) == len(tags)
    for tag in tags:
        assert tag.startswith("#")
        assert 2 <= len(tag) <= MAX_HASHTAG_LENGTH
        body = tag[1:]
        assert all(_is_hashtag_char(char) for char in body), tag
        assert not any(char.isspace() for char in body)
        assert not body.replace("_", "").isdigit()  # never digits only


@given(st.text())
def test_hashtag_for_is_none_or_clean(label: str) -> None:
    tag = hashtag_for(label)
    if tag is not None:
        assert tag.startswith("#")
        assert all(_is_hashtag_char(char) for char in tag[1:])
        assert hashtag_for(tag) == tag  # converting a hashtag again changes nothing


# -- plain_tags, with Tumblr's limits ---------------------------------------------------------


def tumblr_tags(labels: Any, extra: Any = ()) -> list[str]:
    return plain_tags(labels, extra, max_count=TUMBLR.max_tags, max_length=TUMBLR.max_tag_length)


def test_tumblr_limits() -> None:
    assert (TUMBLR.max_tags, TUMBLR.max_tag_length) == (MAX_TUMBLR_TAGS, MAX_TUMBLR_TAG_LENGTH)


def test_plain_tags_without_limits_keeps_every_tag_whole() -> None:
    labels = [f"label {n}" for n in range(40)] + ["x" * 200]
    assert plain_tags(labels, ["blog"]) == [*labels, "blog"]


@pytest.mark.parametrize(
    ("labels", "extra", "expected"),
    [
        (["Python", "machine learning"], (), ["Python", "machine learning"]),
        (["Oil & Gas", "C++", "iPhone"], (), ["Oil & Gas", "C++", "iPhone"]),
        (["one, two", "a,b"], (), ["one two", "a b"]),
        (["  lots \n of\t space  "], (), ["lots of space"]),
        (["", "   ", ",", "ok"], (), ["ok"]),
        (["Python", "python", "PYTHON"], (), ["Python"]),
        (["#art", "##Art", "# photo"], (), ["art", "photo"]),
        (["Café", "cafe\u0301"], (), ["Café"]),
        (["2024", "日本語"], (), ["2024", "日本語"]),
        (["Python"], ["blog", "Python"], ["Python", "blog"]),
        ([], ["my blog"], ["my blog"]),
        (["a, b"], ["a b"], ["a b"]),
    ],
)
def test_tumblr_tags(labels: list[str], extra: list[str], expected: list[str]) -> None:
    assert tumblr_tags(labels, extra) == expected


def test_tumblr_tags_cuts_long_tags_on_a_grapheme() -> None:
    assert tumblr_tags(["x" * 200]) == ["x" * MAX_TUMBLR_TAG_LENGTH]
    family = "👨‍👩‍👧"  # five code points, one grapheme
    cut = tumblr_tags(["y" * 138 + family])[0]
    assert cut == "y" * 138
    assert tumblr_tags(["word " * 28 + "end"])[0] == ("word " * 28).strip()


def test_tumblr_tags_at_most_30_and_extras_are_kept() -> None:
    labels = [f"label {n}" for n in range(40)]
    tags = tumblr_tags(labels, ["blog", "news"])
    assert len(tags) == MAX_TUMBLR_TAGS
    assert tags[:28] == labels[:28]
    assert tags[-2:] == ["blog", "news"]
    assert tumblr_tags(labels) == labels[:30]
    too_many_extras = [f"extra {n}" for n in range(35)]
    assert tumblr_tags(["x"], too_many_extras) == too_many_extras[:30]


def test_tumblr_tags_rejects_a_single_string() -> None:
    with pytest.raises(TypeError, match="labels"):
        tumblr_tags("Python")
    with pytest.raises(TypeError, match="extra"):
        tumblr_tags(["Python"], "blog")


@given(st.lists(st.text(max_size=200), max_size=40), st.lists(st.text(max_size=20), max_size=5))
def test_tumblr_tags_invariants(labels: list[str], extra: list[str]) -> None:
    tags = tumblr_tags(labels, extra)
    assert len(tags) <= MAX_TUMBLR_TAGS
    assert len({tag.casefold() for tag in tags}) == len(tags)
    for tag in tags:
        assert tag
        assert tag == tag.strip()
        assert "," not in tag
        assert len(tag) <= MAX_TUMBLR_TAG_LENGTH
