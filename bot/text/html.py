"""Turn the HTML of an entry into what a post can carry: plain text, Markdown, one image.

Feeds deliver HTML in every state of repair: Blogger's ``<div dir="ltr">`` and ``<br />``
soup, WordPress block comments, Ghost cards, truncated summaries with half a tag at the end,
and sometimes something hostile. Every function here accepts any string and never raises on
bad markup.

- :func:`html_to_text` plain text for X and Tumblr: blocks separated by one blank line,
  ``<br>`` as a newline, list items as ``• item`` / ``1. item`` lines, no images.
- :func:`html_to_markdown` Reddit-flavoured Markdown for self posts.
- :func:`first_image` the first real picture of an entry (no tracking pixels, no ``data:``).
- :func:`excerpt` a short stand-in title for an untitled entry.

The tree is walked with an explicit stack, never recursively, so 10,000 nested ``<div>``
cost time in proportion to their size, not a ``RecursionError``. markdownify does recurse, so
:func:`html_to_markdown` first flattens whatever lies deeper than :data:`MARKDOWN_MAX_DEPTH`
into plain text.
"""

from __future__ import annotations

import html as _html
import re
import warnings
from collections.abc import Iterator
from html.entities import html5 as _HTML5_ENTITIES
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import quote, urljoin, urlsplit

import regex
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, ParserRejectedMarkup
from bs4.builder import HTMLTreeBuilder
from bs4.dammit import EntitySubstitution, UnicodeDammit
from bs4.element import NavigableString, PageElement, PreformattedString, Tag
from markdownify import ATX, MarkdownConverter

# A title or summary that is only a URL (or a file name) is text to convert, not a mistake:
# Beautiful Soup's warning that it "looks like a URL" would reach the operator's log.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)

__all__ = [
    "MARKDOWN_MAX_DEPTH",
    "SKIP_TAGS",
    "excerpt",
    "first_image",
    "html_to_markdown",
    "html_to_text",
    "title_text",
]

#: Elements whose content is never text for a post.
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "head",
        "title",
        "svg",
        "canvas",
        "video",
        "audio",
        "object",
        "embed",
        "select",
        "textarea",
    }
)

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "html",
        "main",
        "nav",
        "p",
        "pre",
        "section",
        "summary",
        "table",
    }
)
_LIST_TAGS = frozenset({"ul", "ol", "menu"})
_CELL_TAGS = frozenset({"td", "th"})
_INLINE_NAMES = (
    "a abbr b bdi bdo big br cite code col colgroup del dfn em font i img input ins kbd"
    " label li link mark meta param picture q s samp small source span strike strong sub"
    " sup tbody tfoot thead time tr tt u var wbr"
)
_INLINE_TAGS = frozenset(_INLINE_NAMES.split())
# Text inside these is shown as written: a code sample's "<div>" is text.
_CODE_TAGS = frozenset({"pre", "code", "kbd", "samp", "tt", "xmp", "listing", "plaintext"})
_VOID_TAGS = "br|hr|img|wbr"
_HTML_NAMES = "|".join(
    sorted(_BLOCK_TAGS | _LIST_TAGS | _CELL_TAGS | _INLINE_TAGS | SKIP_TAGS, key=len, reverse=True)
)
# What in a piece of text can only be HTML escaped once too often (a feed that escaped its
# HTML twice, feedparser's sanitizer escaping what it could not parse, an RSS title with
# escaped markup): a comment, the closing tag of an HTML element, an HTML element with
# attributes, a void element. A lone "<div>" or "<IP-ADDRESS>" may be prose: it is not.
_MARKUP_IN_TEXT = re.compile(
    rf"<!--|</(?:{_HTML_NAMES})\s*>|<(?:{_HTML_NAMES})\s+[A-Za-z_:][-\w:.]*\s*="
    rf"|<(?:{_VOID_TAGS})\s*/?>",
    re.IGNORECASE,
)
# A "<" that starts no HTML element or comment: text, in text read as HTML.
_NOT_MARKUP = re.compile(rf"<(?!!--|/?(?:{_HTML_NAMES})(?=[\s/>]))", re.IGNORECASE)
# A character reference left in text after decoding: the text was escaped twice.
_REFERENCE_IN_TEXT = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
_SUPERSCRIPTS = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUBSCRIPTS = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SCRIPT_TEXT = re.compile(r"[0-9+\-=()n]{1,8}")

#: Deeper than this, :func:`html_to_markdown` keeps only the text (markdownify recurses).
MARKDOWN_MAX_DEPTH = 64

_BULLET = "• "
_INDENT = "  "
_MAX_INDENT_LEVELS = 8

# Lone surrogates cannot be encoded; C0 controls (bar tab/newlines) and DEL have no place in a
# post; a soft hyphen is invisible but would still be counted by the platforms.
# Removed from the input and again from decoded text (``&shy;`` is only one after parsing).
_JUNK = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0e-\x1f\x7f\xad]")
# A truncated summary often ends in half a tag or comment; html.parser would keep it as text.
_PARTIAL_TAG_NAME = re.compile(r"/?[A-Za-z][\w:-]*")
_DECLARATION = re.compile(r"<!(?!--|doctype)", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")
# "&#" that html.parser's own charref pattern would not match, or a named reference.
_REFERENCE = re.compile(r"&(?:#(?!(?:[0-9]+|[xX][0-9a-fA-F]+)[^0-9a-fA-F])|([A-Za-z][-.\w]*);)")
_KNOWN_ENTITIES = frozenset(EntitySubstitution.HTML_ENTITY_TO_CHARACTER)
_WS = re.compile(r"\s+")
# In a URL: whitespace and format characters, percent-encoded in a Markdown link.
_URL_HIDDEN = regex.compile(r"[\s\p{Z}\p{Cf}]")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_TRAILING_SPACE_BEFORE_BLANK = re.compile(r"[^\S\n]+\n(?=\n)")
_WHITESPACE_ONLY_LINE = re.compile(r"^[^\S\n]+$", re.MULTILINE)


# -- parsing and walking -----------------------------------------------------------------


def _unjunk(text: str) -> str:
    return _JUNK.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else "", text)


def _clean(html: str) -> str:
    return _drop_partial_tag(_unjunk(html))


def _drop_partial_tag(html: str) -> str:
    """Drop half a comment or tag at the very end (``<a href="http://exa``, ``<!-- wp:``)."""
    start = html.rfind("<!--")
    if start >= 0 and "-->" not in html[start:]:
        html = html[:start]
    start = html.rfind("<")
    if start >= 0 and ">" not in html[start:]:
        tail = html[start + 1 :]
        name = _PARTIAL_TAG_NAME.match(tail)
        # "<p" or "<a href=..." but not "a <b then" or "I <3 you".
        if name and (name.end() == len(tail) or (tail[name.end()].isspace() and "=" in tail)):
            html = html[:start]
    return html


def _fix_references(html: str) -> str:
    """Escape the ``&`` of references html.parser mishandles.

    A ``&#`` that starts no valid character reference makes html.parser (3.11) hand back the
    whole rest of the document as text, tags and scripts included; an unknown ``&name;``
    loses its semicolon in bs4. Both are read as the literal text a browser shows.
    """

    def fix(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "&amp;#"
        return match.group() if name in _KNOWN_ENTITIES else f"&amp;{name};"

    return _REFERENCE.sub(fix, html)


def _parse(html: str) -> BeautifulSoup:
    """Parse with html.parser, which rejects some ``<![...`` markup outright.

    Then ``<!`` declarations (other than comments and the doctype) are read as text; should
    even that be rejected, every tag is dropped and the rest is read as text.
    """
    # Short input without "<" or a newline that looks like a URL or file name makes bs4 warn;
    # a trailing newline (whitespace, stripped anyway) keeps it quiet.
    html = _fix_references(_clean(html) + "\n")
    try:
        return BeautifulSoup(html, "html.parser")
    except ParserRejectedMarkup:
        pass
    try:
        return BeautifulSoup(_DECLARATION.sub("&lt;!", html), "html.parser")
    except ParserRejectedMarkup:  # pragma: no cover - no known input gets here
        return BeautifulSoup(_ANY_TAG.sub(" ", html).replace("<", "&lt;"), "html.parser")


def _parse_text(html: str) -> BeautifulSoup:
    """Parse for text: markup and references left in the text are parsed once more."""
    soup = _parse(html)
    _unescape_escaped(soup)
    _script_digits(soup)
    return soup


def _has_escaped_reference(text: str) -> bool:
    return any(
        m.group().startswith("&#") or m.group()[1:] in _HTML5_ENTITIES
        for m in _REFERENCE_IN_TEXT.finditer(text)
    )


def _escaped_in(text: str) -> bool:
    return ("<" in text or "&" in text) and (
        bool(_MARKUP_IN_TEXT.search(text)) or _has_escaped_reference(text)
    )


def _unescape_escaped(soup: BeautifulSoup) -> None:
    """Markup and character references that stand in the text (outside code) were escaped
    once too often: parse that text again, once (:data:`_MARKUP_IN_TEXT`)."""
    found = [
        node
        for entering, node in _walk(soup, SKIP_TAGS | _CODE_TAGS)
        if entering and _is_text(node) and _escaped_in(str(node))
    ]
    for node in found:
        text = str(node)
        if not _MARKUP_IN_TEXT.search(text):
            node.replace_with(NavigableString(_unjunk(_html.unescape(text))))
            continue
        try:
            fragment = BeautifulSoup(_fix_references(_clean(as_markup(text))), "html.parser")
        except ParserRejectedMarkup:
            continue
        node.replace_with(*list(fragment.contents))


def _script_digits(soup: BeautifulSoup) -> None:
    """``625ft<sup>2</sup>`` reads ``625ft²`` once the tags are gone."""
    # Not soup.find_all: its filters cost ten times this walk (about 20 µs a document).
    scripts = [n for n in soup.descendants if isinstance(n, Tag) and n.name in ("sup", "sub")]
    for tag in scripts:
        text = tag.get_text()
        if _SCRIPT_TEXT.fullmatch(text):
            table = _SUPERSCRIPTS if tag.name == "sup" else _SUBSCRIPTS
            tag.replace_with(NavigableString(text.translate(table)))


def as_markup(text: str) -> str:
    """Text that holds HTML markup, as HTML: every ``<`` that starts no HTML element or
    comment (``<IP-ADDRESS>``, ``a < b``) is escaped, so it stays text."""
    return _NOT_MARKUP.sub("&lt;", text)


def has_markup(text: str) -> bool:
    """Whether plain text holds HTML markup (:data:`_MARKUP_IN_TEXT`): escaped once too
    often somewhere on its way."""
    return bool(_MARKUP_IN_TEXT.search(text))


def title_text(value: str, *, is_html: bool = False) -> str:
    """One line of plain text for a title, an author or a label.

    ``is_html`` says the feed declared the value HTML (Atom ``type="html"``): its tags go
    and its references are decoded. Plain text is decoded once more (Blogger's ``&amp;amp;``
    is a title's ``&``), and where it then holds HTML markup (an RSS title with escaped
    ``<i>dogs</i>``) that markup goes too; ``<IP-ADDRESS>`` or ``a < b`` stay as written.
    """
    if not value:
        return ""
    if not is_html:
        value = _html.unescape(value)
        if _has_escaped_reference(value):  # escaped three times: once more, no further
            value = _html.unescape(value)
        if not has_markup(value):
            return _WS.sub(" ", _unjunk(value)).strip()
        value = as_markup(value)
    return _WS.sub(" ", html_to_text(value)).strip()


def _walk(root: Tag, skip: frozenset[str] = SKIP_TAGS) -> Iterator[tuple[bool, PageElement]]:
    """Yield ``(True, node)`` on entering every node and ``(False, tag)`` on leaving a tag.

    Document order, iterative, and the subtrees of ``skip`` tags are left out entirely.
    """
    stack: list[tuple[bool, PageElement]] = [(True, child) for child in reversed(root.contents)]
    while stack:
        entering, node = stack.pop()
        if not entering:
            yield False, node
        elif isinstance(node, Tag):
            if node.name in skip:
                continue
            yield True, node
            stack.append((False, node))
            stack.extend((True, child) for child in reversed(node.contents))
        else:
            yield True, node


def _is_text(node: PageElement) -> bool:
    """Visible text: not a comment, CDATA, doctype or ``<![if ...]>`` instruction."""
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _attr(tag: Tag | dict[str, str], name: str) -> str:
    value = tag.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


# -- plain text ------------------------------------------------------------------------------


class _TextWriter:
    """Collects text and breaks; a break of 1 is a newline, 2 is a blank line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.pending = 0
        self.prefix = ""
        self.preformatted = False

    def text(self, value: str) -> None:
        self.current.append(value)

    def _flush(self) -> bool:
        line = "".join(self.current)
        self.current = []
        # Inside <pre> indentation and inner spaces stay; elsewhere whitespace collapses.
        line = line.expandtabs(4).rstrip() if self.preformatted else _WS.sub(" ", line).strip()
        if not line.strip():
            return False
        if self.lines:
            self.lines.append("\n" * max(self.pending, 1))
        self.lines.append(self.prefix + line)
        self.prefix = ""
        self.pending = 0
        return True

    def newline(self) -> None:
        """``<br>``: each one adds a newline; two in a row make a blank line."""
        self._flush()
        self.pending = min(2, self.pending + 1)

    def brk(self, level: int) -> None:
        self._flush()
        self.pending = max(self.pending, level)

    def line_has_text(self) -> bool:
        return bool("".join(self.current).strip())

    def result(self) -> str:
        self._flush()
        return "".join(self.lines).strip()


_INTEGER = re.compile(r"-?[0-9]{1,9}")


class _ListState:
    """An open ``<ul>`` or ``<ol>``: whether it is numbered and the next item's number."""

    def __init__(self, tag: Tag) -> None:
        self.ordered = tag.name == "ol"
        start = _attr(tag, "start").strip()
        self.next = int(start) if _INTEGER.fullmatch(start) else 1

    def number(self, item: Tag) -> int:
        value = _attr(item, "value").strip()
        if _INTEGER.fullmatch(value):
            self.next = int(value)
        self.next += 1
        return self.next - 1


def _li_prefix(item: Tag, lists: list[_ListState]) -> str:
    if not lists:
        return _BULLET
    indent = _INDENT * min(len(lists) - 1, _MAX_INDENT_LEVELS)
    state = lists[-1]
    return f"{indent}{state.number(item)}. " if state.ordered else indent + _BULLET


def _plain_text_paragraphs(text: str) -> str:
    paragraphs = (_WS.sub(" ", part).strip() for part in _BLANK_LINE.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def html_to_text(html: str) -> str:
    """Plain text for a social post.

    Paragraphs, headings, blockquotes and other blocks are separated by one blank line;
    ``<br>`` is a newline (two make a blank line); list items become ``• item`` or ``1. item``
    lines, nested lists indented by two spaces a level; table cells are joined with `` | ``.
    Entities are decoded and ``&nbsp;`` becomes a space. Scripts, styles, ``<noscript>``,
    ``<template>``, ``<iframe>``, comments and images are dropped. Whitespace inside a
    paragraph collapses to one space; there is never more than one blank line in a row and
    never leading or trailing whitespace.

    Input without a single tag is taken as plain text: entities are decoded and its blank
    lines are kept as paragraph breaks, all other whitespace collapses.

    Markup and references that stand in the text outside code (HTML escaped twice, or
    escaped by a sanitizer) are read as HTML; ``<sup>2</sup>`` becomes ``²``.
    """
    soup = _parse_text(html)
    if not any(isinstance(node, Tag) for node in soup.descendants):  # (soup.find(True))
        return _plain_text_paragraphs(_unjunk("".join(s for s in soup.strings if _is_text(s))))

    out = _TextWriter()
    lists: list[_ListState] = []
    in_item = 0  # open <li> elements: blocks inside an item only start a new line
    in_pre = 0
    for entering, node in _walk(soup):
        if not isinstance(node, Tag):
            if not _is_text(node):
                continue
            value = _unjunk(str(node))
            if in_pre:
                first, *rest = value.split("\n")
                out.text(first)
                for line in rest:
                    out.newline()
                    out.text(line)
            else:
                out.text(value)
            continue
        name = node.name
        if name == "br":
            if entering:
                out.newline()
        elif name in _LIST_TAGS:
            out.brk(1 if in_item else 2)
            if entering:
                lists.append(_ListState(node))
            elif lists:
                lists.pop()
        elif name == "li":
            out.brk(1)
            if entering:
                in_item += 1
                out.prefix = _li_prefix(node, lists)
            else:
                in_item -= 1
                out.prefix = ""
        elif name == "tr":
            out.brk(1)
        elif name in _CELL_TAGS:
            if entering and out.line_has_text():
                out.text(" | ")
        elif name in _BLOCK_TAGS:
            if name == "pre" and entering:
                out.brk(1 if in_item else 2)
                in_pre += 1
                out.preformatted = True
            else:
                out.brk(1 if in_item else 2)
                if name == "pre":
                    in_pre -= 1
                    out.preformatted = in_pre > 0
    return out.result()


def _subtree_text(tag: Tag) -> str:
    return _WS.sub(" ", "".join(str(n) for _, n in _walk(tag) if _is_text(n))).strip()


# -- Markdown --------------------------------------------------------------------------------

_SAFE_LINK_SCHEMES = frozenset({"", "http", "https", "mailto"})


def _is_tracking_pixel(tag: Tag | dict[str, str]) -> bool:
    """A 0/1 px tracker, or an emoji drawn as an image (WordPress's ``wp-smiley``)."""
    classes = _attr(tag, "class").lower().split()
    if "wp-smiley" in classes or "emoji" in classes:
        return True
    for name in ("width", "height"):
        value = _attr(tag, name).strip().lower().removesuffix("px").strip()
        if value in {"0", "1"}:
            return True
    return False


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return "invalid"


def _image_src(tag: Tag | dict[str, str]) -> str:
    """The picture's URL as written (lazy-loading attributes count); "" if none worth using."""
    if _is_tracking_pixel(tag):
        return ""
    for name in ("src", "data-src", "data-lazy-src", "data-original"):
        src = _attr(tag, name).strip()
        if src and not src.lower().startswith("data:"):
            return src
    return ""


def _escape_link_text(text: str) -> str:
    return re.sub(r"(?<!\\)([\[\]])", r"\\\1", text)


def _escape_url(url: str) -> str:
    """A link destination that ends where Markdown expects it and shows nothing hidden:
    spaces, parentheses and invisible characters (format controls such as U+200B or U+202E)
    percent-encoded, as a browser would send them."""
    url = _URL_HIDDEN.sub(lambda m: quote(m.group(), safe=""), url)
    return url.replace("(", "%28").replace(")", "%29")


def _resolve(url: str, base_url: str) -> str:
    if not base_url or not url:
        return url
    try:
        return urljoin(base_url, url)
    except ValueError:
        return url


class _PostMarkdownConverter(MarkdownConverter):
    """markdownify tuned for Reddit self posts (old and new Reddit)."""

    def __init__(self) -> None:
        super().__init__(heading_style=ATX, bullets="-", autolinks=False, escape_misc=False)
        # Item numbers per <ol>, computed once: markdownify counts previous siblings for
        # every item, which is quadratic in the length of the list.
        self._numbers: dict[int, dict[int, int]] = {}

    def _number(self, item: Tag, ordered: Tag) -> int:
        numbers = self._numbers.get(id(ordered))
        if numbers is None:
            numbers = {}
            state = _ListState(ordered)
            for child in ordered.children:
                if isinstance(child, Tag) and child.name == "li":
                    numbers[id(child)] = state.number(child)
            self._numbers[id(ordered)] = numbers
        return numbers.get(id(item), 1)

    def convert_li(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip()
        if not text:
            return "\n"
        parent = el.parent
        ordered = parent is not None and parent.name == "ol"
        bullet = f"{self._number(el, parent)}. " if ordered and parent is not None else "- "
        indent = " " * len(bullet)
        lines = text.split("\n")
        rest = [indent + line if line else "" for line in lines[1:]]
        return "\n".join([bullet + lines[0], *rest]) + "\n"

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags:
            return text
        stripped = text.strip()
        if not stripped:
            return ""
        href = _attr(el, "href").strip()
        if not href or _scheme(href) not in _SAFE_LINK_SCHEMES:
            return text
        prefix = " " if text[:1].isspace() else ""
        suffix = " " if text[-1:].isspace() else ""
        return f"{prefix}[{_escape_link_text(stripped)}]({_escape_url(href)}){suffix}"

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        alt = _WS.sub(" ", _attr(el, "alt")).strip()
        src = _image_src(el)
        if not src or _scheme(src) not in _SAFE_LINK_SCHEMES:
            return ""
        link = el.find_parent("a")
        if link is not None:
            # A picture inside a link (Blogger always does this): the link carries it.
            return alt or ("" if _subtree_text(link) else "image")
        if "_inline" in parent_tags:
            return alt
        return f"[{_escape_link_text(alt or 'image')}]({_escape_url(src)})"

    def convert_pre(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # Four-space indented code works on old and new Reddit; fences only on new.
        text = text.strip("\n")
        if not text.strip():
            return ""
        indented = "\n".join("    " + line if line.strip() else "" for line in text.split("\n"))
        return f"\n\n{indented}\n\n"


def _flatten_deep(soup: BeautifulSoup, max_depth: int) -> None:
    """Replace the content of every tag at ``max_depth`` that has child tags by its text."""
    too_deep: list[Tag] = []
    stack: list[tuple[Tag, int]] = [(soup, 0)]
    while stack:
        tag, depth = stack.pop()
        children = [child for child in tag.contents if isinstance(child, Tag)]
        if depth >= max_depth and children:
            too_deep.append(tag)
            continue
        stack.extend((child, depth + 1) for child in children)
    for tag in too_deep:
        text = _subtree_text(tag)
        tag.clear()
        tag.append(NavigableString(text))


def html_to_markdown(html: str, base_url: str = "") -> str:
    """Reddit-flavoured Markdown for a self post.

    Links stay ``[text](url)`` (only http, https, mailto and relative ones; a
    ``javascript:`` link keeps just its text); emphasis, ``#`` headings, lists, blockquotes
    and code (indented four spaces, which old Reddit understands too) are kept. Scripts,
    styles and the other :data:`SKIP_TAGS` are dropped. Reddit does not embed pictures in
    self posts, so an image becomes a link ``[alt](src)``; one inside a link becomes that
    link's text. Tracking pixels and ``data:`` images are dropped. Never more than one blank
    line in a row. With ``base_url``, relative ``href`` and ``src`` values are resolved
    against it; without, they are left for the caller.
    """
    soup = _parse_text(html)
    doomed = [
        node
        for entering, node in _walk(soup, frozenset())
        if entering
        and (
            (isinstance(node, Tag) and node.name in SKIP_TAGS)
            or isinstance(node, PreformattedString)
        )
    ]
    for node in doomed:
        node.extract()
    if base_url:
        for _, element in _walk(soup, frozenset()):
            if isinstance(element, Tag) and element.name in {"a", "img"}:
                for name in ("href",) if element.name == "a" else ("src", "data-src"):
                    if element.get(name) is not None:
                        element[name] = _resolve(_attr(element, name).strip(), base_url)
    _flatten_deep(soup, MARKDOWN_MAX_DEPTH)
    converter = _PostMarkdownConverter()
    try:
        markdown = converter.convert_soup(soup)
    except RecursionError:  # pragma: no cover - the depth cap above should prevent it
        return html_to_text(html)
    markdown = _unjunk(markdown).replace("\xa0", " ")
    markdown = _WHITESPACE_ONLY_LINE.sub("", markdown)
    markdown = _TRAILING_SPACE_BEFORE_BLANK.sub("\n", markdown)
    markdown = _MANY_NEWLINES.sub("\n\n", markdown)
    return markdown.lstrip("\n").rstrip()  # keep a leading code block's indent


# -- images ----------------------------------------------------------------------------------


def _absolute_http(url: str, base_url: str) -> str | None:
    if url.startswith("//") and not base_url:
        url = "https:" + url
    url = _resolve(url, base_url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def first_image(html: str, base_url: str = "") -> tuple[str, str] | None:
    """``(absolute src, alt)`` of the first real ``<img>``, or None (see
    :func:`first_image_sized`)."""
    found = first_image_sized(html, base_url)
    return (found[0], found[1]) if found else None


def first_image_sized(html: str, base_url: str = "") -> tuple[str, str, int | None] | None:
    """``(absolute src, alt, longer side in px if its width or height says)`` of the first
    real ``<img>``, or None.

    Tracking pixels (a ``width`` or ``height`` of 0 or 1) and ``data:`` URIs are skipped; a
    lazy-loading ``data-src`` stands in for a placeholder ``src``. ``src`` is resolved
    against ``base_url`` (a protocol-relative ``//host/...`` gets ``https:`` when there is no
    base); a picture whose address cannot be made an absolute http(s) URL is skipped.

    The markup is read only as far as that picture (:class:`_FirstImageScan`); where what
    comes before it could read differently once the whole tree is built, the whole tree is.
    """
    found = _FirstImageScan(base_url).run(html)
    return _first_image_in_tree(html, base_url) if found == "unsure" else found


def _first_image_in_tree(html: str, base_url: str) -> tuple[str, str, int | None] | None:
    soup = _parse_text(html)
    for entering, node in _walk(soup, _NO_IMAGES_IN):
        if entering and isinstance(node, Tag) and node.name == "img":
            found = _usable_image(node, base_url)
            if found:
                return found
    return None


def _usable_image(attrs: Tag | dict[str, str], base_url: str) -> tuple[str, str, int | None] | None:
    src = _image_src(attrs)
    url = _absolute_http(src, base_url) if src else None
    if not url:
        return None
    sides = [_pixels(_attr(attrs, name)) for name in ("width", "height")]
    longer = max((side for side in sides if side is not None), default=None)
    return url, _WS.sub(" ", _attr(attrs, "alt")).strip(), longer


# Pictures inside these are not the entry's: a script's markup, a template's.
_NO_IMAGES_IN = frozenset({"script", "style", "template"})
# Before the first picture, these change the tree :func:`_parse_text` builds around it: a
# template hides it, ``<sup>2</sup>`` becomes text (with what is inside it).
_UNSURE_BEFORE_IMAGE = frozenset({"template", "sup", "sub"})


class _FoundImage(Exception):
    """Ends a scan early."""


class _FirstImageScan(HTMLParser):
    """Reads markup as :func:`_parse` does (the same preparation, html.parser's tokens,
    references decoded as Beautiful Soup decodes them) up to its first usable picture,
    without building a tree. :func:`_parse_text` would then change the tree only where a
    text before the picture holds escaped markup or references (:func:`_escaped_in`), or
    where a ``<template>``, ``<sup>`` or ``<sub>`` is open; the scan then says it is not
    sure (``"unsure"``) and the caller builds the tree. A long entry costs only what lies
    before its first picture."""

    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=False)
        self.base_url = base_url
        self.text: list[str] = []
        self.unsure = False
        self.in_raw_text = ""  # inside <script> or <style>
        self.found: tuple[str, str, int | None] | None = None
        self.closed_empty: list[str] = []

    def run(self, html: str) -> tuple[str, str, int | None] | Literal["unsure"] | None:
        markup = _fix_references(_clean(html) + "\n")
        if _DECLARATION.search(markup):
            return "unsure"  # html.parser may reject it: _parse reads it again, differently
        try:
            self.feed(markup)
            self.close()
        except _FoundImage:
            return self.found
        except Exception:  # whatever html.parser does, the tree decides
            return "unsure"
        self._end_text()
        return "unsure" if self.unsure else None

    def _end_text(self) -> None:
        if self.text:
            text = "".join(self.text)
            self.text = []
            if _escaped_in(text):
                self.unsure = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs)
        if tag in _EMPTY_ELEMENTS:
            self.closed_empty.append(tag)  # Beautiful Soup closes it now, and ignores </img>

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs)
        self._end(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.closed_empty:
            self.closed_empty.remove(tag)  # the text around it stays one string
        else:
            self._end(tag)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._end_text()
        if tag in _UNSURE_BEFORE_IMAGE:
            self.unsure = True
        if tag in ("script", "style"):
            self.in_raw_text = tag
        if tag != "img" or self.unsure:
            return
        if self.in_raw_text:
            self.unsure = True
            return
        found = _usable_image({name: value or "" for name, value in attrs}, self.base_url)
        if found:
            self.found = found
            raise _FoundImage

    def _end(self, tag: str) -> None:
        self._end_text()
        if tag == self.in_raw_text:
            self.in_raw_text = ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(EntitySubstitution.HTML_ENTITY_TO_CHARACTER.get(name, "&" + name))

    def handle_charref(self, name: str) -> None:
        hexadecimal = name[:1] in ("x", "X")
        digits = name[1:] if hexadecimal else name
        if not digits or not all(c in (_HEX_DIGITS if hexadecimal else _DIGITS) for c in digits):
            self.unsure = True  # Beautiful Soup splits such a reference its own way
            return
        character, _ = UnicodeDammit.numeric_character_reference(
            int(digits, 16 if hexadecimal else 10)
        )
        self.text.append(character)

    def handle_comment(self, data: str) -> None:
        self._end_text()

    def handle_decl(self, decl: str) -> None:
        self._end_text()

    def handle_pi(self, data: str) -> None:
        self._end_text()

    def unknown_decl(self, data: str) -> None:
        self._end_text()


_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Elements Beautiful Soup's html.parser builder closes as they open.
_EMPTY_ELEMENTS = frozenset(HTMLTreeBuilder.DEFAULT_EMPTY_ELEMENT_TAGS or ())


def _pixels(value: str) -> int | None:
    """``"320"`` or ``"320px"`` as 320; anything else (``"100%"``, ``""``) as None."""
    match = re.fullmatch(r"\s*(\d{1,5})(?:px)?\s*", value)
    return int(match.group(1)) if match else None


# -- excerpt ---------------------------------------------------------------------------------

# A sentence ends at . ! ? or … followed by whitespace, or at a CJK full stop.
_SENTENCE_END = regex.compile(r"[.!?…]+(?=\s)|[。！？]+")
_GRAPHEME = regex.compile(r"\X")
_TRAILING_PUNCT = " \t,;:-–—([{/"


def excerpt(text: str, limit: int) -> str:
    """A stand-in title: the first sentence if it fits in ``limit`` characters, else a cut.

    Whitespace is collapsed first. The first sentence keeps its ``!``, ``?`` or ``…`` but
    loses a single final ``.``. When it is longer than ``limit`` (or there is no sentence end)
    the text is cut on the last word boundary that leaves room for ``…`` (a single word longer
    than that is cut between graphemes, never inside one) and ends with ``…``. The result is
    never longer than ``limit`` characters. ``limit`` must be at least 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    text = _WS.sub(" ", text).strip()
    match = _SENTENCE_END.search(text)
    sentence = text[: match.end()] if match else text
    if sentence.endswith(".") and not sentence.endswith(".."):
        sentence = sentence[:-1].rstrip()
    if len(sentence) <= limit:
        return sentence
    room = limit - 1
    cut = 0
    for grapheme in _GRAPHEME.finditer(sentence):
        if grapheme.end() > room:
            break
        cut = grapheme.end()
    head = sentence[:cut]
    if not sentence[cut].isspace():
        space = head.rfind(" ")
        if space > 0:
            head = head[:space]
    return head.rstrip(_TRAILING_PUNCT) + "…"
