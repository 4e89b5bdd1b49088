"""Text from a feed without the characters that make it display as something else.

:func:`clean_text` removes the invisible characters a feed can use to make a title, a text or
a tag look different from what it is: ``gnp\\u202e.exe`` shows as ``exe.png``, ``a\\u200bdmin``
looks like ``admin`` and is not. The list starts from Unicode's Default_Ignorable_Code_Point
property (DerivedCoreProperties.txt: characters with no visible glyph of their own) and the
bidirectional formatting characters of UAX #9 (Unicode Bidirectional Algorithm, section 2,
"Explicit Directional Embeddings/Overrides/Isolates" and "Implicit Directional Marks").

Always removed:

- Bidi controls (UAX #9): U+202A-U+202E (LRE, RLE, PDF, LRO, RLO), U+2066-U+2069 (LRI, RLI,
  FSI, PDI), and the marks U+200E (LRM), U+200F (RLM) and U+061C (ALM, Arabic letter mark).
  ALM is the Arabic counterpart of RLM (UAX #9 2.6, "Implicit Directional Marks"): it moves
  neutrals and digits across a direction boundary as RLM does, so it can reorder what is shown
  in the same way. Its honest use, placing punctuation and numbers in mixed Arabic text, is
  rare in titles and never changes a letter; an override is worse than a comma shown on the
  other side.
- Zero-width and invisible characters: U+200B (zero width space; Thai and Khmer text may use
  it as an invisible word break: removing it only changes where a line may wrap), U+2060
  (word joiner), U+2061-U+2064 (invisible math operators), U+2065 (reserved), U+206A-U+206F
  (deprecated format controls: they switch mirroring, shaping and digit shapes), U+FEFF
  (zero width no-break space / byte order mark), U+00AD (soft hyphen: invisible unless a line
  breaks there, and counted by every platform), U+17B4 and U+17B5 (Khmer inherent vowels,
  "not recommended" by Unicode), U+3164 and U+FFA0 (Hangul fillers: a blank that is not a
  space, the usual way to an "empty" name), U+FFF0-U+FFF8 (reserved), U+FFF9-U+FFFB
  (interlinear annotation controls: not default-ignorable, but they mark text to be hidden or
  shown elsewhere), U+1BCA0-U+1BCA3 (shorthand format controls), U+1D173-U+1D17A (musical
  format controls), and U+E0000-U+E0FFF (the language tag, reserved code points) but for the
  tag characters and variation selectors below.

Kept where they do something, removed elsewhere (decided from the characters around them):

- U+200D (ZWJ) inside an emoji ZWJ sequence: after an emoji (Extended_Pictographic, with any
  variation selector or skin tone after it) and before one (``👩‍💻``, ``🏳️‍🌈``, ``👨‍👩‍👧‍👦``,
  ``👩🏽‍💻``), as in UAX #29's rule GB11.
- U+200C (ZWNJ) and U+200D (ZWJ) after a virama (canonical combining class 9: Devanagari,
  Malayalam, Sinhala, Khmer, Myanmar ...), where they choose between a conjunct, a half form
  and a visible virama, and make Malayalam chillu letters (``ന്‍``) even at the end of a word.
- U+200C and U+200D between two letters or marks when at least one of them is of a script
  other than Latin, Greek, Cyrillic (or a character common to all scripts): Persian
  ``می‌خواهم``, Arabic, Indic scripts and the like. Between two Latin letters a
  joiner changes nothing and only hides a difference (``pay\\u200cpal``).
- U+200D next to an Arabic-style joining letter on the side it joins (Joining_Type Dual or
  Left before it, Dual or Right after it): Persian ``ه‍`` in abbreviations shows the joined
  form on purpose.
- U+034F (combining grapheme joiner) after a letter or mark and before a combining mark,
  where it keeps two marks from being reordered.
- U+180E (Mongolian vowel separator) between two Mongolian characters.
- Tag characters U+E0020-U+E007F in an emoji tag sequence (an emoji, tags, U+E007F), the
  flags of England, Scotland and Wales (``🏴󠁧󠁢󠁳󠁣󠁴󠁿``).

In a run of joiners only the last one can be kept: each is judged by the character right after
it, and by the nearest character before it that is no joiner.

Never touched: variation selectors (U+FE00-U+FE0F, U+E0100-U+E01EF and the Mongolian
U+180B-U+180D, U+180F), which choose an emoji's or an ideograph's glyph, and the conjoining
Hangul fillers U+115F and U+1160, which are parts of Old Hangul syllables. Nothing with a
glyph is removed (the Hangul fillers above show as a blank at most) and nothing is
normalised: look-alike letters (``раураl`` in Cyrillic) are another problem.

The module stands alone (only ``regex``), for any text: a title, a label, a text made from
HTML, a Markdown body. Whoever adds characters on purpose afterwards (a mention neutraliser
adds U+2060) must do it after cleaning, never before.
"""

from __future__ import annotations

import regex

__all__ = ["BIDI_CONTROLS", "INVISIBLE", "WORD_JOINER", "clean_text"]

#: Bidirectional formatting characters (UAX #9), as a regex character class body.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: Invisible characters removed wherever they are, as a regex character class body.
INVISIBLE = (
    "\u00ad\u17b4\u17b5\u200b\u2060-\u2065\u206a-\u206f\u3164\ufeff\uffa0\ufff0-\ufffb"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e001f\U000e0080-\U000e00ff\U000e01f0-\U000e0fff"
)
_TAGS = "\U000e0020-\U000e007f"
#: U+2060, invisible, which keeps the characters on either side from reading as one token:
#: after a mention's sign it makes the mention plain text. Cleaning removes it.
WORD_JOINER = "\u2060"
ZWNJ = "\u200c"
ZWJ = "\u200d"
CGJ = "\u034f"
MVS = "\u180e"
_JOINERS = frozenset(ZWNJ + ZWJ + CGJ + MVS)

# Everything that may need removing; most text has none of it and is returned as it is.
_SUSPECT = regex.compile(f"[{BIDI_CONTROLS}{INVISIBLE}{_TAGS}{ZWNJ}{ZWJ}{CGJ}{MVS}]")
# Pass one: what goes whatever surrounds it; an emoji tag sequence is matched whole and kept.
_ALWAYS = regex.compile(
    rf"(?P<flag>\p{{Extended_Pictographic}}[\U000e0020-\U000e007e]+\U000e007f)"
    rf"|[{BIDI_CONTROLS}{INVISIBLE}{_TAGS}]"
)
_CONDITIONAL = regex.compile(f"[{ZWNJ}{ZWJ}{CGJ}{MVS}]")

_LETTER_OR_MARK = regex.compile(r"[\p{L}\p{M}]")
_MARK = regex.compile(r"\p{M}")
_VIRAMA = regex.compile(r"\p{Canonical_Combining_Class=9}")
# A letter or mark of a script whose letters join or combine (anything but the scripts that
# never need a joiner between letters, and the characters shared by all scripts).
_JOINING_SCRIPT = regex.compile(
    r"[\p{L}\p{M}--[\p{scx=Latin}\p{scx=Greek}\p{scx=Cyrillic}\p{scx=Common}\p{scx=Inherited}]]",
    regex.V1,
)
_JOINS_FORWARD = regex.compile(r"[\p{Joining_Type=Dual_Joining}\p{Joining_Type=Left_Joining}]")
_JOINS_BACKWARD = regex.compile(r"[\p{Joining_Type=Dual_Joining}\p{Joining_Type=Right_Joining}]")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_EXTEND = regex.compile(r"\p{Grapheme_Cluster_Break=Extend}")
_MONGOLIAN = regex.compile(r"\p{scx=Mongolian}")


def clean_text(text: str) -> str:
    """``text`` without bidi controls and invisible characters, joiners kept where a script
    or an emoji sequence needs them (the lists are in the module docstring)."""
    if not _SUSPECT.search(text):
        return text
    text = _ALWAYS.sub(lambda m: m.group("flag") or "", text)
    if not _CONDITIONAL.search(text):
        return text
    pieces: list[str] = []
    position = 0
    before_index = -1
    for found in _CONDITIONAL.finditer(text):
        index = found.start()
        pieces.append(text[position:index])
        if index != position:  # else a run of joiners goes on: the character before it stays
            before_index = index - 1
        if _keep(text, index, before_index):
            pieces.append(found.group())
        position = index + 1
    pieces.append(text[position:])
    return "".join(pieces)


def _keep(text: str, index: int, before_index: int) -> bool:
    """Whether the joiner at ``index`` does something where it stands; ``before_index`` is
    where the nearest character before it that is no joiner stands (-1: none)."""
    joiner = text[index]
    after = text[index + 1] if index + 1 < len(text) else ""
    before = text[before_index] if before_index >= 0 else ""
    if not before or after in _JOINERS:
        return False
    if joiner == CGJ:
        return bool(_LETTER_OR_MARK.match(before) and _MARK.match(after))
    if joiner == MVS:
        return bool(_MONGOLIAN.match(before) and _MONGOLIAN.match(after))
    if joiner == ZWJ and _PICTOGRAPHIC.match(after) and _after_emoji(text, before_index):
        return True
    if _VIRAMA.match(before):
        return True
    letters = _LETTER_OR_MARK.match(before) and _LETTER_OR_MARK.match(after)
    if letters and (_JOINING_SCRIPT.match(before) or _JOINING_SCRIPT.match(after)):
        return True
    return joiner == ZWJ and bool(_JOINS_FORWARD.match(before) or _JOINS_BACKWARD.match(after))


def _after_emoji(text: str, index: int) -> bool:
    """Whether ``text[index]`` ends an emoji: a pictograph and its selectors or skin tone."""
    while index >= 0 and _EXTEND.match(text[index]):
        index -= 1
    return index >= 0 and bool(_PICTOGRAPHIC.match(text[index]))
