"""bot.text.cut: URL spans (twitter-text's extractor), graphemes, and cutting text to a
budget without breaking a word, a link or a grapheme.

Where the extractor's implementations disagree, the comment next to a case says which reading
is used and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.text.cut import find_urls, graphemes, truncate_chars
from tests.conftest import REPO

ZWJ = "\u200d"
FAMILY = ZWJ.join(["\U0001f468", "\U0001f469", "\U0001f467", "\U0001f466"])  # 👨‍👩‍👧‍👦


# --- find_urls -------------------------------------------------------------------------


def _urls(text: str) -> list[str]:
    return [text[start:end] for start, end in find_urls(text)]


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://example.com/a?b=c#d, ok", ["https://example.com/a?b=c#d"]),
        ("(https://example.com/x)", ["https://example.com/x"]),
        (
            "https://en.wikipedia.org/wiki/Primer_(film).",
            ["https://en.wikipedia.org/wiki/Primer_(film)"],
        ),
        ("'https://example.com/it's'", ["https://example.com/it's"]),
        ("https://example.com/path...", ["https://example.com/path"]),
        ("https://example.com:8080/x", ["https://example.com:8080/x"]),
        ("http://domain.com-and-more", ["http://domain.com"]),
        ("foo.com foo.net foo.org", ["foo.com", "foo.net", "foo.org"]),
        ("foo.baz www.foo.co.uk foo.comm", ["www.foo.co.uk"]),
        ("t.co/abcde bit.ly/abcde", ["t.co/abcde", "bit.ly/abcde"]),
        ("example.com:8080/x example.com:8080", ["example.com:8080/x", "example.com"]),
        ("これは日本語です。example.com/path中国語", ["example.com/path"]),
        ("example.comてすとですtwitter.みんなです", ["example.com", "twitter.みんな"]),
        ("ELPAÍS.com", ["ELPAÍS.com"]),
        ("a.com,b.com", ["a.com", "b.com"]),
        ("http://t.co/pbY2NfTZ's", ["http://t.co/pbY2NfTZ"]),  # t.co stops at the slug
        ("http://t.co/abc?amp=1", ["http://t.co/abc"]),
        ("http://t.co/" + "a" * 41, []),  # a t.co slug has 40 characters at most
        ("john.doe.gov@mail.com", []),  # a TLD followed by "@" is no TLD
        ("#test.com @test.com $test.com", []),
        ("long.test.tar.bz2", []),
        ("fooexample.com", ["fooexample.com"]),  # the letters before belong to the host
        ("xhttps://example.com", []),  # a protocol glued to a letter is no URL...
        ("/example.com .example.com -example.com", []),  # ...nor a bare host after these
        ("http://-bad.com http://bad-.com http://under_score.com", []),
        ("http://sub_domain.example.com", ["http://sub_domain.example.com"]),
        ("Hello http://xn--はじめよう.com/", []),
        ("test http://xn--ls8h.XN--ls8h.la/", ["http://xn--ls8h.XN--ls8h.la/"]),
        ("no dots at all http", []),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    assert _urls(text) == urls


def test_find_urls_spans() -> None:
    text = "Hi https://example.com/a, see foo.co.jp!"
    assert find_urls(text) == [(3, 24), (30, 39)]
    assert text[3:24] == "https://example.com/a"
    assert text[30:39] == "foo.co.jp"


def test_find_urls_indexes_text_as_given() -> None:
    decomposed = "e\u0301 example.com"
    assert find_urls(decomposed) == [(3, 14)]


def test_the_bundled_tlds_are_tldextracts() -> None:
    """``bot/text/tlds.txt`` is the TLD list of the installed tldextract's snapshot; after an
    upgrade of tldextract, ``FEEDRELAY_UPDATE_GOLDEN=1`` writes it again."""
    from bot.text import cut

    wanted = cut.public_suffix_tlds()
    if os.environ.get("FEEDRELAY_UPDATE_GOLDEN") == "1":
        path = REPO / "bot" / "text" / "tlds.txt"
        head = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
        path.write_text("\n".join([*head, *sorted(wanted)]) + "\n", encoding="utf-8")
        cut._top_level_domains.cache_clear()
    assert cut._top_level_domains() == wanted, "run with FEEDRELAY_UPDATE_GOLDEN=1"


def test_tld_data_is_read_offline(tmp_path: Path) -> None:
    """tldextract's bundled snapshot is used: no socket, no cache directory."""
    code = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from adapters.twitter.text import weighted_length
        from bot.text.cut import find_urls

        assert weighted_length("see example.com and foo.co.jp") == 55
        assert find_urls("setup.py file.txt") == [(0, 8)]
        print("ok")
        """
    )
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TLDEXTRACT_CACHE": str(tmp_path / "tldextract"),
    }
    root = REPO
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == []  # nothing cached anywhere


# --- graphemes ---------------------------------------------------------------------------


def test_graphemes() -> None:
    assert graphemes("e\u0301" + FAMILY + "🇯🇵a") == ["e\u0301", FAMILY, "🇯🇵", "a"]
    assert graphemes("") == []


# --- truncate_chars ---------------------------------------------------------------------


def test_truncate_chars() -> None:
    assert truncate_chars("Hello world, this is a title", 14) == "Hello world…"
    assert truncate_chars("日本語", 3) == "日本語"  # code points, not weights
    assert truncate_chars("日本語のテキスト", 4) == "日本語…"
    text = "see https://example.com/a/b/c and more"
    assert truncate_chars(text, 29) == "see…"
    assert truncate_chars(text, 30) == "see https://example.com/a/b/c…"
    assert truncate_chars(FAMILY + FAMILY, 8) == FAMILY + "…"


# --- properties -------------------------------------------------------------------------

FRAGMENTS = [
    " ",
    "  ",
    "\n",
    "word",
    "longerword",
    ",",
    ".",
    ":",
    "—",
    "…",
    "(",
    ")",
    '"',
    "'",
    "@",
    "#",
    "_",
    "-",
    "/",
    "日本語",
    "한국어",
    "é",
    "e\u0301",
    "q\u0307",
    "©",
    "©\ufe0f",
    "😀",
    "👍🏽",
    FAMILY,
    "🇯🇵",
    "🇯",
    "1\ufe0f\u20e3",
    "\u200d",
    "\ufe0f",
    "example.com",
    "foo.co.jp",
    "t.co",
    ".com",
    ".jp",
    "co",
    "https://",
    "http://",
    "https://example.com/path?q=1",
    "http://日本.jp",
    "www.example.org/a_(b)",
    "user@example.com",
    "x" * 30,
]

texts = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join),
    st.text(max_size=300),
)
budgets = st.integers(min_value=25, max_value=300)


def _check_cut(text: str, result: str, ellipsis: str) -> None:
    full = unicodedata.normalize("NFC", text)
    assert result.endswith(ellipsis)
    kept = result[: len(result) - len(ellipsis)]
    assert full.startswith(kept)
    # never inside a grapheme
    boundaries = {0}
    for cluster in graphemes(full):
        boundaries.add(max(boundaries) + len(cluster))
    assert len(kept) in boundaries
    # every URL in the result is a URL of the text, and none of the text's URLs is cut
    original = set(find_urls(full))
    assert set(find_urls(result)) <= original
    assert not any(start < len(kept) < end for start, end in original)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, limit=st.integers(min_value=1, max_value=300))
def test_property_truncate_chars(text: str, limit: int) -> None:
    result = truncate_chars(text, limit)
    assert len(result) <= limit
    full = unicodedata.normalize("NFC", text)
    if len(text) <= limit:
        assert result == text
    elif len(full) <= limit:  # composing made it fit
        assert result == full
    else:
        _check_cut(text, result, "…")


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_property_url_spans_are_sane(text: str) -> None:
    spans = find_urls(text)
    ends = [0]
    for start, end in spans:
        assert ends[-1] <= start < end <= len(text)
        assert not any(ch.isspace() for ch in text[start:end])
        ends.append(end)
