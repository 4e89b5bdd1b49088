"""Feed text that displays as something else, or mentions somebody (issue 15, items 4 and 5).

``bot.text.clean`` removes bidi controls and invisible characters, keeping joiners where a
script or an emoji needs them; ``adapters.twitter.mentions`` and ``adapters.reddit.mentions``
neutralise X and Reddit mentions; rendering does both for every platform.
"""

from __future__ import annotations

import sys
import time

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import PlatformSpec
from adapters.reddit import spec as reddit_spec
from adapters.reddit.mentions import neutralize_reddit_mentions
from adapters.reddit.render import RedditOptions
from adapters.tumblr import spec as tumblr_spec
from adapters.tumblr.render import TumblrOptions
from adapters.twitter import spec as twitter_spec
from adapters.twitter.mentions import neutralize_x_mentions
from adapters.twitter.render import TwitterOptions
from adapters.twitter.text import weighted_length
from bot.config import Config, load_config
from bot.model import Entry, Image
from bot.targets import render_for
from bot.text.clean import BIDI_CONTROLS, INVISIBLE, clean_text
from bot.text.render import render
from tests.platforms import reddit as reddit_hooks
from tests.platforms import tumblr as tumblr_hooks
from tests.platforms import twitter as twitter_hooks

BIDI_CHARS = [
    "\u202a",  # LRE
    "\u202b",  # RLE
    "\u202c",  # PDF
    "\u202d",  # LRO
    "\u202e",  # RLO
    "\u2066",  # LRI
    "\u2067",  # RLI
    "\u2068",  # FSI
    "\u2069",  # PDI
    "\u200e",  # LRM
    "\u200f",  # RLM
    "\u061c",  # ALM
]
INVISIBLE_CHARS = [
    "\u200b",  # zero width space
    "\u2060",  # word joiner
    "\u2061",  # function application
    "\u2062",  # invisible times
    "\u2063",  # invisible separator
    "\u2064",  # invisible plus
    "\u206a",  # inhibit symmetric swapping (deprecated)
    "\u206f",  # nominal digit shapes (deprecated)
    "\ufeff",  # zero width no-break space, byte order mark
    "\u00ad",  # soft hyphen
    "\u17b4",  # Khmer vowel inherent aq
    "\u3164",  # Hangul filler
    "\uffa0",  # halfwidth Hangul filler
    "\ufff9",  # interlinear annotation anchor
    "\U0001d173",  # musical symbol begin beam
    "\U000e0001",  # language tag
    "\U000e0041",  # tag latin capital letter a, outside an emoji tag sequence
]
# Default-ignorable code points that stay wherever they are (documented in the module).
KEPT_ANYWHERE = {0x115F, 0x1160, 0x180B, 0x180C, 0x180D, 0x180F}
KEPT_ANYWHERE |= set(range(0xFE00, 0xFE10)) | set(range(0xE0100, 0xE01F0))
# Default-ignorable code points kept only where they do something.
CONDITIONAL = {0x034F, 0x180E, 0x200C, 0x200D} | set(range(0xE0020, 0xE0080))


# -- bidi controls and invisible characters ----------------------------------------------


@pytest.mark.parametrize("char", BIDI_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_bidi_control_is_removed(char: str) -> None:
    assert clean_text(f"gnp{char}.exe") == "gnp.exe"
    assert clean_text(f"{char}Title{char}") == "Title"


@pytest.mark.parametrize("char", INVISIBLE_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_invisible_character_is_removed(char: str) -> None:
    assert clean_text(f"ad{char}min") == "admin"


def test_the_override_trick_becomes_plain_text() -> None:
    # Shown as "exe.png" by a bidi-aware renderer; after cleaning it is what it is.
    assert clean_text("invoice_\u202egnp.exe") == "invoice_gnp.exe"
    assert clean_text("\u2067\u202eevil\u202c\u2069 news") == "evil news"


def test_every_default_ignorable_code_point_is_decided() -> None:
    """Each Default_Ignorable_Code_Point is removed, kept, or kept where it does something:
    a character Unicode adds to the property later fails here until it is decided."""
    ignorable = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    undecided = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if not ignorable.match(char) or code in KEPT_ANYWHERE | CONDITIONAL:
            continue
        if clean_text(f"a{char}b") != "ab":
            undecided.append(f"U+{code:04X}")
    assert undecided == []
    for code in KEPT_ANYWHERE:
        assert clean_text(f"a{chr(code)}b") == f"a{chr(code)}b"


def test_text_without_anything_to_remove_is_returned_as_it_is() -> None:
    text = "Plain title — with “quotes”, 日本語, العربية and emoji 🎉"
    assert clean_text(text) is text


# -- joiners: kept in emoji sequences and in scripts that need them ------------------------

EMOJI_SEQUENCES = {
    "technologist": "\U0001f469\u200d\U0001f4bb",  # 👩‍💻
    "family": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # 👨‍👩‍👧‍👦
    "rainbow flag": "\U0001f3f3\ufe0f\u200d\U0001f308",  # 🏳️‍🌈
    "skin tone": "\U0001f469\U0001f3fd\u200d\U0001f4bb",  # 👩🏽‍💻
    "skin tones couple": "\U0001f9d1\U0001f3fb\u200d\U0001f91d\u200d\U0001f9d1\U0001f3ff",
    "red hair": "\U0001f469\u200d\U0001f9b0",  # 👩‍🦰
    "pirate flag": "\U0001f3f4\u200d\u2620\ufe0f",  # 🏴‍☠️
    "heart on fire": "\u2764\ufe0f\u200d\U0001f525",  # ❤️‍🔥
    "flag of Scotland": "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "keycap": "1\ufe0f\u20e3",  # 1️⃣
    "flag of Japan": "\U0001f1ef\U0001f1f5",  # 🇯🇵
}


@pytest.mark.parametrize("sequence", EMOJI_SEQUENCES.values(), ids=EMOJI_SEQUENCES.keys())
def test_emoji_sequences_stay_whole(sequence: str) -> None:
    text = f"Our trip {sequence} in pictures"
    assert clean_text(text) == text


def test_a_joiner_outside_an_emoji_sequence_goes() -> None:
    assert clean_text("\U0001f469\u200d and") == "\U0001f469 and"
    assert clean_text("a\u200d\U0001f4bb") == "a\U0001f4bb"
    assert clean_text("\U000e0067\U000e0062 hidden tags") == " hidden tags"


PERSIAN = {
    "mikhaham": "می\u200cخواهم",  # I want
    "laptop": "لپ\u200cتاپ",
    "ketabha": "کتاب\u200cها",  # books
}


@pytest.mark.parametrize("word", PERSIAN.values(), ids=PERSIAN.keys())
def test_zwnj_in_persian_is_kept(word: str) -> None:
    assert clean_text(f"عنوان {word} است") == f"عنوان {word} است"


def test_zwnj_next_to_a_space_does_nothing_and_goes() -> None:
    # From tests/data/real/wordpress-fa-tech.xml: a stray ZWNJ after a space.
    assert clean_text("روی \u200cلپ\u200cتاپ") == "روی لپ\u200cتاپ"


INDIC = {
    "Devanagari half form": "क्\u200dष",
    "Devanagari explicit virama": "क्\u200cष",
    "Malayalam chillu at a word's end": "അവന്\u200d",
    "Malayalam chillu mid-text": "അവന്\u200d വന്നു",
    "Sinhala repaya": "ශ්\u200dරී",
    "Bengali": "র\u200d্য",
}


@pytest.mark.parametrize("word", INDIC.values(), ids=INDIC.keys())
def test_joiners_in_indic_scripts_are_kept(word: str) -> None:
    assert clean_text(word) == word


def test_zwj_that_shows_an_arabic_joining_form_is_kept() -> None:
    # Persian abbreviation of the Hijri year: "ه‍" shows its joined form on purpose.
    assert clean_text("۱۴۰۲ ه\u200d.ش") == "۱۴۰۲ ه\u200d.ش"


def test_joiners_between_latin_letters_go() -> None:
    assert clean_text("pay\u200cpal") == "paypal"
    assert clean_text("pay\u200dpal") == "paypal"
    assert clean_text("Ελλ\u200cάδα и Рос\u200dсия") == "Ελλάδα и Россия"
    assert clean_text("@\u200cname") == "@name"


def test_a_run_of_joiners_keeps_one_at_most() -> None:
    assert clean_text("می\u200c\u200c\u200c\u200cخواهم") == "می\u200cخواهم"
    assert clean_text("a\u200c\u200d\u200cb") == "ab"


def test_a_long_run_of_joiners_takes_linear_time() -> None:
    # Each joiner once looked back over the whole run before it: 50,000 took 100 s.
    started = time.perf_counter()
    assert clean_text("ب" + "\u200c" * 200_000 + "پ") == "ب\u200cپ"
    assert clean_text("\u200d" * 200_000) == ""
    assert time.perf_counter() - started < 10


def test_combining_grapheme_joiner_and_mongolian_vowel_separator() -> None:
    assert clean_text("u\u034f\u0308") == "u\u034f\u0308"  # keeps the marks apart
    assert clean_text("a\u034fb") == "ab"
    assert clean_text("ᠨᠠ\u180eᠢ") == "ᠨᠠ\u180eᠢ"
    assert clean_text("a\u180eb") == "ab"


def test_cleaning_is_idempotent() -> None:
    samples = [*EMOJI_SEQUENCES.values(), *PERSIAN.values(), *INDIC.values()]
    samples.append("gnp\u202e.exe pay\u200cpal a\u200b\u200cb")
    for text in samples:
        once = clean_text(text)
        assert clean_text(once) == once


# -- mentions ---------------------------------------------------------------------------------

WJ = "\u2060"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@name", f"@{WJ}name"),
        ("＠name", f"＠{WJ}name"),  # the fullwidth at sign, U+FF20
        ("Thanks @ferris_fan and ＠rustlang!", f"Thanks @{WJ}ferris_fan and ＠{WJ}rustlang!"),
        ("RT @name: hello", f"RT @{WJ}name: hello"),
        ("RT@name rt:@other Rt＠third", f"RT@{WJ}name rt:@{WJ}other Rt＠{WJ}third"),
        ("@name/list", f"@{WJ}name/list"),
        ("の@usernameに到着", f"の@{WJ}usernameに到着"),  # twitter-text conformance
        ("(cc: @username)", f"(cc: @{WJ}username)"),
        ("@12345 and @_x", f"@{WJ}12345 and @{WJ}_x"),
        ("@username\n@mention", f"@{WJ}username\n@{WJ}mention"),
    ],
)
def test_x_mentions_are_neutralised(text: str, expected: str) -> None:
    assert neutralize_x_mentions(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "email@example.com",
        "mail me: first.last@example.co.uk",
        "f!@kn f#@kn f$@kn f%@kn f&@kn f*@kn f@@kn f＠＠kn",  # twitter-text: no mention
        "xRT@name",  # "RT" inside a word is no retweet marker
        "@ alone, @, ＠",
        "@名前",  # X's screen names are ASCII
        "https://mastodon.social/@name/123 is a link",
        "nothing to see",
    ],
)
def test_what_x_does_not_link_is_left_alone(text: str) -> None:
    assert neutralize_x_mentions(text) == text


def test_a_neutralised_mention_is_no_mention_and_weighs_what_x_counts() -> None:
    neutral = neutralize_x_mentions("hi @name and ＠other")
    assert neutral == f"hi @{WJ}name and ＠{WJ}other"
    # U+2060 lies outside X's weight-1 ranges: 2 each; ＠ is 2 as well.
    assert weighted_length("hi @name and ＠other") == 20
    assert weighted_length(neutral) == 24
    assert neutralize_x_mentions(neutral) == neutral  # nothing left to neutralise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks u/spez", f"thanks u{WJ}/spez"),
        ("thanks /u/spez", f"thanks /u{WJ}/spez"),
        ("U/Spez, (u/a-b_c) and 'u/x'", f"U{WJ}/Spez, (u{WJ}/a-b_c) and 'u{WJ}/x'"),
        ("u/name at the start", f"u{WJ}/name at the start"),
        ("- u/name in a list", f"- u{WJ}/name in a list"),
        ("[u/name](https://www.reddit.com/u/name)", f"[u{WJ}/name](https://www.reddit.com/u/name)"),
    ],
)
def test_reddit_user_mentions_are_neutralised(text: str, expected: str) -> None:
    assert neutralize_reddit_mentions(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "r/python and /r/rust are subreddits",
        "menu/item, emu/x, tofu/u",
        "https://www.reddit.com/user/name and https://www.reddit.com/u/name",
        "<https://old.reddit.com/u/name>",
        "www.reddit.com/u/name",
        "@name (Reddit does not link @)",
        "u/ alone",
    ],
)
def test_what_reddit_does_not_link_is_left_alone(text: str) -> None:
    assert neutralize_reddit_mentions(text) == text


# -- every platform's post ------------------------------------------------------------------

LINK = "https://blog.example/2026/05/release-notes.html"
CONFIG = """
[feeds.blog]
url = "https://blog.example/feed.xml"
targets = ["x", "x-loud", "reddit", "reddit-self", "reddit-loud", "tumblr"]

[targets.x]
platform = "twitter"
template = "{title} — {summary} {url} {hashtags}"
consumer_key = "ck"
consumer_secret = "cs"
access_token = "at"
access_token_secret = "ats"

[targets.x-loud]
platform = "twitter"
template = "{title} — {summary} {url} {hashtags}"
neutralize_mentions = false
consumer_key = "ck"
consumer_secret = "cs"
access_token = "at"
access_token_secret = "ats"

[targets.reddit]
platform = "reddit"
subreddit = "feedrelay"
client_id = "id"
client_secret = "secret"
username = "bot"
password = "pw"

[targets.reddit-self]
platform = "reddit"
subreddit = "feedrelay"
kind = "self"
body = "{title}\\n\\n{summary}\\n\\nby {author}: {url}"
client_id = "id"
client_secret = "secret"
username = "bot"
password = "pw"

[targets.reddit-loud]
platform = "reddit"
subreddit = "feedrelay"
kind = "self"
body = "{title}\\n\\n{summary}\\n\\nby {author}: {url}"
neutralize_mentions = false
client_id = "id"
client_secret = "secret"
username = "bot"
password = "pw"

[targets.tumblr]
platform = "tumblr"
blog = "feedrelay-test"
text = "{title}"
consumer_key = "ck"
consumer_secret = "cs"
oauth_token = "ot"
oauth_token_secret = "ots"
"""
# Bidi and invisible characters in every field, some as HTML references (decoded only when
# the HTML becomes text), mentions in both at signs and both Reddit forms.
ENTRY = Entry(
    feed="blog",
    key="k1",
    title="Thanks ＠rustlang and u/spez: invoice_\u202egnp.exe\u200b is out",
    link=LINK,
    content_html=(
        "<p>By @ferris and /u/kn0thing, \u2067hidden\u2069 &#x202E;text&#8236; &rlm;here.</p>"
        "<p>Persian: می\u200cخواهم. Team 👩\u200d💻, pay\u200cpal.</p>"
    ),
    labels=("a\u202eb", "Rust\u200b", "Persian\u2066"),
    author="＠author\u200f",
    feed_title="Field\ufeff Notes",
    images=(Image(url="https://blog.example/cover.png", alt="cover\u202e of a\u200b cat"),),
)
CLEAN_TITLE = "Thanks ＠rustlang and u/spez: invoice_gnp.exe is out"
CLEAN_SUMMARY = "By @ferris and /u/kn0thing, hidden text here."
HIDDEN = regex.compile(f"[{BIDI_CONTROLS}{INVISIBLE}]")


def _shown(text: str) -> str:
    """``text`` without the word joiners that neutralise mentions."""
    return regex.sub(f"(?<=[@＠uU]){WJ}", "", text)


def _assert_clean(*parts: str) -> None:
    for part in parts:
        assert not HIDDEN.search(_shown(part)), repr(part)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("safety") / "feedrelay.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, environ={})


def test_x_post_mentions_nobody_and_shows_what_it_is(config: Config) -> None:
    rendered = render_for(config, ENTRY, "x")
    post = rendered.post
    assert post.text.startswith(f"Thanks ＠{WJ}rustlang and u/spez: invoice_gnp.exe is out — ")
    assert f"By @{WJ}ferris and /u/kn0thing, hidden text here." in post.text
    assert "می\u200cخواهم" in post.text and "👩\u200d💻" in post.text and "paypal" in post.text
    assert post.text.endswith(f" {LINK} #Ab #Rust #Persian")
    assert post.tags == ("#Ab", "#Rust", "#Persian")
    assert post.image is not None and post.image.alt == "cover of a cat"
    _assert_clean(post.text, post.title, post.image.alt)
    assert rendered.length == weighted_length(post.text) <= 280
    # Sent as it was rendered.
    with twitter_hooks.start_fake() as fake:
        adapter = twitter_hooks.make_adapter(fake)
        try:
            adapter.publish(post)
        finally:
            adapter.close()
        [tweet] = fake.tweets
    assert tweet["text"] == post.text


def test_x_without_neutralize_mentions_still_shows_what_it_is(config: Config) -> None:
    text = render_for(config, ENTRY, "x-loud").post.text
    assert text.startswith("Thanks ＠rustlang and u/spez: invoice_gnp.exe is out — By @ferris")
    assert WJ not in text
    _assert_clean(text)


def test_reddit_link_post_title_is_clean(config: Config) -> None:
    post = render_for(config, ENTRY, "reddit").post
    assert post.title == CLEAN_TITLE  # a title is plain text: Reddit links nothing in it
    assert post.link == LINK and post.body == ""
    with reddit_hooks.start_fake() as fake:
        adapter = reddit_hooks.make_adapter(fake)
        try:
            adapter.publish(post)
        finally:
            adapter.close()
        [sent] = fake.submissions
    assert (sent["title"], sent["url"], sent["kind"]) == (CLEAN_TITLE, LINK, "link")


def test_reddit_self_post_body_mentions_nobody(config: Config) -> None:
    post = render_for(config, ENTRY, "reddit-self").post
    assert post.title == CLEAN_TITLE
    assert post.body == (
        f"Thanks ＠rustlang and u{WJ}/spez: invoice_gnp.exe is out\n\n"
        f"By @ferris and /u{WJ}/kn0thing, hidden text here.\n\n"
        "Persian: می\u200cخواهم. Team 👩\u200d💻, paypal.\n\n"
        f"by ＠author: {LINK}"
    )
    _assert_clean(post.title, post.body)
    with reddit_hooks.start_fake() as fake:
        adapter = reddit_hooks.make_adapter(fake, kind="self")
        try:
            adapter.publish(post)
        finally:
            adapter.close()
        [sent] = fake.submissions
    assert (sent["title"], sent["selftext"], sent["kind"]) == (CLEAN_TITLE, post.body, "self")


def test_reddit_without_neutralize_mentions_still_shows_what_it_is(config: Config) -> None:
    body = render_for(config, ENTRY, "reddit-loud").post.body
    assert "u/spez" in body and "/u/kn0thing" in body and WJ not in body
    _assert_clean(body)


def test_tumblr_blocks_and_tags_are_clean(config: Config) -> None:
    post = render_for(config, ENTRY, "tumblr").post
    assert post.text == CLEAN_TITLE  # Tumblr links no plain-text mention: ＠ stays as it is
    assert post.title == CLEAN_TITLE
    assert post.description == CLEAN_SUMMARY + " Persian: می\u200cخواهم. Team 👩\u200d💻, paypal."
    assert post.tags == ("ab", "Rust", "Persian")
    assert post.link == LINK
    assert post.slug.startswith("thanks-rustlang-and-u-spez-invoice-gnp-exe-is-out-")
    _assert_clean(post.text, post.title, post.description, *post.tags)
    with tumblr_hooks.start_fake() as fake:
        adapter = tumblr_hooks.make_adapter(fake)
        try:
            adapter.publish(post)
        finally:
            adapter.close()
        [sent] = fake.posts
    assert sent["content"] == [
        {"type": "text", "text": CLEAN_TITLE},
        {
            "type": "link",
            "url": LINK,
            "title": CLEAN_TITLE,
            "description": post.description,
            "poster": [{"url": "https://blog.example/cover.png", "type": "image/png"}],
        },
    ]
    assert sent["tags"] == "ab,Rust,Persian"


# -- any text, any platform -------------------------------------------------------------------

_TRICKS = [*BIDI_CHARS, *INVISIBLE_CHARS, "\u200c", "\u200d", "\u034f", "\u180e"]
_ALPHABET = st.sampled_from([*"abcXYZ019 .:-_/#", "@", "＠", "u/", "rt", "\n", *_TRICKS])
_TEXT = st.lists(_ALPHABET, max_size=60).map("".join)
_TARGETS: list[tuple[PlatformSpec, object]] = [
    (twitter_spec.SPEC, TwitterOptions(template="{title} {summary} {url}")),
    (reddit_spec.SPEC, RedditOptions(template="{title}")),
    (
        reddit_spec.SPEC,
        RedditOptions(
            template="{title}", kind="self", body_template="{title}\n\n{summary}\n\n{url}"
        ),
    ),
    (tumblr_spec.SPEC, TumblrOptions(template="{title}")),
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_TEXT, summary=_TEXT, labels=st.lists(_TEXT, max_size=4))
def test_no_trick_survives_rendering_and_the_link_stays_whole(
    title: str, summary: str, labels: list[str]
) -> None:
    """Text of Latin letters only: no bidi control, invisible character or joiner has a
    reason to stay anywhere in any post, every mention is neutralised, the link is whole."""
    entry = Entry(
        feed="blog", key="k", title=title, link=LINK, content_html=summary, labels=tuple(labels)
    )
    for platform, options in _TARGETS:
        post = render(entry, platform.render, options, platform.limits).post
        parts = [post.text, post.title, post.body, post.description, *post.tags]
        for part in parts:
            shown = _shown(part)
            assert not HIDDEN.search(shown), (platform.name, part)
            assert not regex.search("[\u200c\u200d\u034f\u180e]", shown), (platform.name, part)
        if platform.name == "twitter":
            assert LINK in post.text
            assert neutralize_x_mentions(post.text) == post.text
        elif post.body:
            assert post.body.endswith(LINK)
            assert neutralize_reddit_mentions(post.body) == post.body
        else:
            assert post.link == LINK
