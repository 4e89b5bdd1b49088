"""Read a fetched feed into entries: the only module that imports feedparser.

Anything that declares a DTD or entities is refused; entries keep their identity (id, else
the normalised link, else a content hash), their links resolved, their images found."""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from html.entities import html5 as _HTML5_ENTITIES
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit
from xml.sax import SAXParseException

import feedparser
from bs4 import BeautifulSoup
from bs4.element import Tag
from bs4.filter import SoupStrainer
from feedparser.encodings import convert_to_utf8

from bot.errors import FeedError
from bot.feeds.fetch import Fetched
from bot.model import Entry, Image
from bot.text.html import first_image_sized, title_text

log = logging.getLogger(__name__)


# A DTD internal subset (``<!DOCTYPE x [``) or an entity declaration, wherever it is. Each
# branch of the DOCTYPE loop starts with a different character: linear, no backtracking.
_DTD_DECLARATION = re.compile(
    rb"<!(?:ENTITY|DOCTYPE(?:[^>\[\"']|\"[^\"]*\"|'[^']*')*\[)", re.IGNORECASE
)


_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


_XML_BASE = re.compile(rb"xml:base\s*=\s*(?:\"[^\"]*\"|'[^']*')")


# Longest first: the UTF-32LE BOM begins with the UTF-16LE one.
_BOMS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)


_DECLARATION_STARTS = tuple(
    "<?xml".encode(encoding)
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "cp037")
)


# The first element of a document, and an HTML doctype, looked for near the start.
_FIRST_ELEMENT = re.compile(rb"<([A-Za-z][\w:.-]*)")


_HTML_DOCTYPE = re.compile(rb"<!doctype\s+html", re.IGNORECASE)


_FEED_ROOTS = frozenset({"rss", "feed", "rdf:rdf", "rdf", "channel"})


_FEED_TYPES = {"application/atom+xml": "Atom", "application/rss+xml": "RSS"}


# What a sound entry's text never holds: replacement characters (undecodable bytes), C1
# controls (Latin-1 mojibake), and in titles entity references nothing declared.
_UNREADABLE = re.compile("[\ufffd\x80-\x9f]")


_ENTITY_REFERENCE = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,31});")


# Blogger's size segment before the file name: /s72-c/, /s72-w640-c-h480/, /w640-h480/.
# An image known to be smaller than this on its longer side is never chosen while a bigger
# one (or one of unknown size) is there.
SMALL_IMAGE_PX = 200
# The size a thumbnail's URL is rewritten to ask for (Blogger's and Google's image servers
# read it from the URL; the original stays as the fallback).
LARGE_IMAGE = "s1600"
_BLOGGER_SIZE = re.compile(r"/[swh]\d+(?:-[a-z]+\d*)*/(?=[^/]+$)")


_BLOGGER_SIZE_PARAM = re.compile(r"=[swh]\d+(?:-[a-z]+\d*)*$")
_IMAGE_SIZE = re.compile(r"/[swh]\d+(?:-[a-z]+\d*)*/(?=[^/]+$)|=[swh]\d+(?:-[a-z]+\d*)*$")


# Attributes holding a URL that rendering reads (links, pictures, lazy-loaded pictures) or
# that feedparser resolved too.
_URL_ATTRIBUTES = (
    "href",
    "src",
    "data-src",
    "data-lazy-src",
    "data-original",
    "poster",
    "cite",
    "longdesc",
    "background",
)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*+:")


# Is there any such attribute whose value has no scheme (a relative or protocol-relative
# URL)? Most feeds have none, and their HTML is then left as it is.
_RELATIVE_URL = re.compile(
    rf"(?<![\w:.-])(?:{'|'.join(_URL_ATTRIBUTES)})\s*+=\s*+"
    r"(?:\"\s*+|'\s*+|(?=[^\s\"'>]))(?![A-Za-z][A-Za-z0-9+.-]*+:)",
    re.IGNORECASE,
)


# A start tag, and one attribute in it. Possessive quantifiers: linear time, whatever the
# markup; a name never holds "<" or a quote, so a broken tag ends at the next "<".
_START_TAG = re.compile(
    r"<[A-Za-z][\w:-]*+(?:[\s/]++[^\s/>=<\"']++(?:\s*+=\s*+(?:\"[^\"]*+\"|'[^']*+'|[^\s>]++))?+)*+"
    r"[\s/]*+>"
)


_TAG_NAME = re.compile(r"<[A-Za-z][\w:-]*+")


_ATTRIBUTE = re.compile(r"[\s/]++([^\s/>=<\"']++)(?:\s*+=\s*+(\"[^\"]*+\"|'[^']*+'|[^\s>]++))?+")


_WEB = ("http", "https")


# A guid or id that is an absolute URL, as written (CDATA or not).
_URL_ID = re.compile(
    rb"<(?:[\w.-]{1,32}:)?(?:guid|id)(?:\s[^>]{0,200})?>\s*(?:<!\[CDATA\[)?\s*"
    rb"(https?://[^<>\s\]]{1,4000})",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class ParsedFeed:
    """Sound entries in document order. ``warning`` says in plain words what was wrong with
    a feed that could still be read, and how many entries were dropped because of it."""

    title: str
    entries: tuple[Entry, ...]
    warning: str | None = None
    # The feed's next page (``<link rel="next">``), as Blogger pages 25 entries at a time.
    next_url: str | None = None
    # WebSub (W3C WebSub, 4. Discovery): the hubs the feed names (``<link rel="hub">``)
    # and the URL it calls itself (``rel="self"``), the topic to subscribe to.
    hubs: tuple[str, ...] = ()
    self_url: str | None = None

    @property
    def problem(self) -> str | None:
        """The old name of ``warning``."""
        return self.warning


def parse(feed: str, fetched: Fetched) -> ParsedFeed:
    """Parse a fetched body into normalised entries, in document order.

    Raises ``FeedError`` for a body that declares a DTD or entities (anywhere, in any
    encoding), for a web page, for something that is not a feed at all, and for a parse
    result larger than the body could produce. Entries of a malformed feed are kept when
    they read cleanly; the others are dropped and counted in ``warning``.
    """
    assert fetched.body is not None
    headers = {k.lower(): v for k, v in fetched.headers.items()}
    headers.setdefault("content-location", fetched.url)
    if not _is_web_url(headers["content-location"]):
        # feedparser would join relative links to it: file:///home/... is nobody's page.
        # They are resolved against the feed's own <link> instead (``_base_url``).
        del headers["content-location"]
    # Without a Content-Type feedparser assumes ISO-8859-1 (RFC 2616); XML's default is UTF-8.
    headers.setdefault("content-type", "application/xml")
    text, damage = _decode(fetched.body, headers)
    if _is_web_page(text, headers):
        raise FeedError(_web_page_reason(fetched.body, fetched.url), feed=feed)
    _refuse_declarations(feed, fetched.body, text)
    _refuse_link_expansion(feed, text, fetched.url)
    # ``text`` is UTF-8 now and says so: feedparser decodes it once more, and cannot guess.
    # No sanitizing, no resolving (see the module's docstring): ``_entry`` does what of it
    # matters for a post.
    parsed = feedparser.parse(
        io.BytesIO(text),
        response_headers={**headers, "content-type": _UTF8_XML},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    notes = [damage] if damage else []
    if parsed.get("bozo"):
        # Line numbers count the XML declaration feedparser adds when there is none.
        added_line = 0 if _has_declaration(fetched.body) else 1
        notes.append(_malformed(parsed.get("bozo_exception"), added_line))
        if not parsed.entries:
            raise FeedError(f"not a feed: {notes[-1]}", feed=feed)
    feed_title = _text(parsed.feed.get("title", ""), parsed.feed.get("title_detail"))
    _refuse_absurd(feed, len(text), "feed title", feed_title)
    site = str(parsed.feed.get("link") or "")
    link_base = _base_url(parsed.feed, headers.get("content-location", ""))
    sound, dropped = _sound_entries(
        feed, feed_title, parsed.entries, text, location=fetched.url, site=site, link_base=link_base
    )
    total = len(parsed.entries)
    if dropped:
        if dropped == total:
            raise FeedError(f"every entry is unreadable: {'; '.join(notes)}", feed=feed)
        notes.append(f"{dropped} of {total} entries dropped as unreadable")
    entries, repeated = _unique(sound)
    if repeated:
        notes.append(f"{repeated} of {total} entries dropped as repeating an earlier id")
    notes.extend(_date_notes(parsed.entries, entries, fetched.fetched_at))
    return ParsedFeed(
        title=feed_title,
        entries=entries,
        warning="; ".join(notes) or None,
        next_url=_next_page(parsed.feed, fetched.url),
        hubs=tuple(_links(parsed.feed, "hub", fetched.url)),
        self_url=next(iter(_links(parsed.feed, "self", fetched.url)), None),
    )


def _links(feed: Any, rel: str, base: str) -> list[str]:
    """The feed's own ``<link rel=...>`` addresses (http or https), made absolute."""
    found = []
    for link in feed.get("links", []) or []:
        if link.get("rel") == rel and link.get("href"):
            url = urljoin(base, str(link["href"]).strip())
            if url.startswith(("http://", "https://")) and url not in found:
                found.append(url)
    return found


def _next_page(feed: Any, base: str) -> str | None:
    for link in feed.get("links", []) or []:
        if link.get("rel") == "next" and link.get("href"):
            return urljoin(base, str(link["href"]))
    return None


_UTF8_XML = "application/xml; charset=utf-8"


def _decode(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, str | None]:
    """The body as UTF-8, decoded the way feedparser decodes it (declared encoding, XML
    declaration, BOM, then ``chardet``), except that UTF-8 with a few invalid bytes stays
    UTF-8 with replacement characters rather than becoming mojibake in a guessed encoding.
    Also returns what was wrong with the bytes, in words, or ``None``."""
    result: dict[str, Any] = {}
    text: bytes = convert_to_utf8(dict(headers), body, result)
    if result.get("encoding") and body.isascii():
        return text, None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        decoded = body.decode("utf-8-sig", "replace")
        invalid = decoded.count("\ufffd")
        valid = len(decoded) - len(decoded.encode("ascii", "ignore")) - invalid
        # Mostly sound UTF-8 with a few bad bytes: damaged, not another encoding.
        if valid >= 4 * invalid:
            return decoded.encode("utf-8"), f"invalid UTF-8 at byte {error.start}"
    if not result.get("encoding"):
        return body.decode("utf-8-sig", "replace").encode("utf-8"), "unknown text encoding"
    return text, None


def _first_element(text: bytes) -> str:
    found = _FIRST_ELEMENT.search(text, 0, 4096)
    return found.group(1).decode("ascii").lower() if found else ""


def _is_web_page(text: bytes, headers: Mapping[str, str]) -> bool:
    root = _first_element(text)
    if root == "html":
        return True
    if root in _FEED_ROOTS:
        return False
    is_html = headers.get("content-type", "").split(";")[0].strip().lower() == "text/html"
    return is_html or bool(_HTML_DOCTYPE.search(text, 0, 4096))


def _web_page_reason(body: bytes, url: str) -> str:
    found = advertised_feeds(body, url)
    if not found:
        return "this is a web page, not a feed, and it advertises no feed"
    listed = ", ".join(f"{feed_url} ({label})" for feed_url, label in found)
    return f"this is a web page, not a feed; it advertises: {listed}"


def advertised_feeds(html_bytes: bytes, base_url: str) -> list[tuple[str, str]]:
    """The feeds a web page advertises with ``<link rel="alternate" type="application/rss+xml"
    (or atom+xml) href=...>``, as ``(absolute url, title or "RSS"/"Atom")``, in page order."""
    soup = BeautifulSoup(html_bytes, "html.parser", parse_only=SoupStrainer(["base", "link"]))
    base = soup.find("base", href=True)
    if isinstance(base, Tag):
        base_url = urljoin(base_url, str(base["href"]).strip())
    found: dict[str, str] = {}
    for link in soup.find_all("link", href=True):
        if not isinstance(link, Tag):
            continue
        rel = link.get("rel")
        rels = rel.split() if isinstance(rel, str) else list(rel or ())
        kind = _FEED_TYPES.get(str(link.get("type") or "").split(";")[0].strip().lower())
        if kind and "alternate" in (r.lower() for r in rels):
            url = urljoin(base_url, str(link["href"]).strip())
            found.setdefault(url, _text(str(link.get("title") or "")) or kind)
    return list(found.items())


def _refuse_declarations(feed: str, body: bytes, text: bytes) -> None:
    """Refuse a DTD internal subset or an entity declaration anywhere in the decoded body.

    ``text`` is exactly what the parser would read, so a UTF-16, UTF-32 or UTF-7 feed cannot
    hide a declaration from the scan."""
    found = _DTD_DECLARATION.search(text)
    if not found:
        return
    what, start = "<!DOCTYPE ... [", found.start()
    # An internal subset is there to declare entities: name the first one if it has one.
    entity = _ENTITY_DECLARATION.search(text, start, start + 65536)
    if entity:
        what, start = "<!ENTITY", entity.start()
    raw = (_ENTITY_DECLARATION if entity else _DTD_DECLARATION).search(body)
    if raw:
        where = f"at byte {raw.start()}"
    else:
        character = len(text[:start].decode("utf-8", "replace"))
        where = f"at character {character}, hidden by a non-ASCII encoding"
    raise FeedError(
        f"refusing a feed that declares a DTD or XML entities ({what} {where}): "
        "entity expansion is a known attack",
        feed=feed,
    )


def _refuse_link_expansion(feed: str, text: bytes, url: str) -> None:
    """Relative links are made absolute (feedparser's own links, ``_absolute_links`` in the
    entries' HTML): each attribute (each ``=``) can grow by the length of the base, which a
    feed sets with ``xml:base`` (nested ones add up). A long base and many empty ``href=""``
    turn 94 KB into 30 MB; refuse that before parsing."""
    base = len(url) + sum(len(found.group(0)) for found in _XML_BASE.finditer(text))
    growth = text.count(b"=") * base
    if growth > 8 * len(text) + 4_000_000:
        raise FeedError(
            f"refusing a feed whose relative links could grow it by {growth} bytes when made "
            f"absolute (xml:base and the url add up to {base} characters)",
            feed=feed,
        )


def _has_declaration(body: bytes) -> bool:
    for bom in _BOMS:
        if body.startswith(bom):
            body = body[len(bom) :]
            break
    return body.startswith(_DECLARATION_STARTS)


def _malformed(error: object, added_line: int) -> str:
    if isinstance(error, SAXParseException):
        line = (error.getLineNumber() or 0) - added_line
        return (
            f"not well-formed XML at line {line}, "
            f"column {error.getColumnNumber()}: {error.getMessage()}"
        )
    return f"malformed feed: {error or 'unknown problem'}"


def _refuse_absurd(feed: str, size: int, what: str, value: str, factor: int = 1) -> None:
    """Nothing legitimate makes one field longer than the body (``factor`` allows for
    relative links made absolute): something expanded while parsing."""
    if len(value) > factor * size + 1024:
        raise FeedError(
            f"refusing a feed whose {what} is {len(value)} characters long, more than its "
            f"{size} bytes can hold: something expanded while parsing",
            feed=feed,
        )


def _sound_entries(
    feed: str,
    feed_title: str,
    raws: list[Any],
    text: bytes,
    *,
    location: str,
    site: str,
    link_base: str,
) -> tuple[list[Entry], int]:
    """Normalise each entry; drop those whose title or text cannot be read."""
    kept: list[Entry] = []
    dropped = 0
    size = len(text)
    url_ids = _url_ids(text) if any(raw.get("guidislink") for raw in raws) else frozenset()
    for raw in raws:
        entry = _entry(feed, feed_title, raw, location, site, link_base=link_base, url_ids=url_ids)
        _refuse_absurd(feed, size, "entry title", entry.title)
        _refuse_absurd(feed, size, "entry text", entry.content_html, factor=8)
        _refuse_absurd(feed, size, "entry summary", entry.summary_html, factor=8)
        if _unreadable(str(raw.get("title", "")), entry):
            dropped += 1
        else:
            kept.append(entry)
    return kept, dropped


def _unreadable(raw_title: str, entry: Entry) -> bool:
    for value in (entry.title, entry.content_html, entry.summary_html, entry.author):
        if _UNREADABLE.search(value):
            return True
    # A loose parse leaves an undeclared ``&lol9;`` in the title as it stood.
    return any(
        name.group(1) + ";" not in _HTML5_ENTITIES for name in _ENTITY_REFERENCE.finditer(raw_title)
    )


def _unique(entries: list[Entry]) -> tuple[tuple[Entry, ...], int]:
    """The first entry of each key: a feed lists an entry once."""
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.key, entry)
    return tuple(unique.values()), len(entries) - len(unique)


def _date_notes(
    raws: list[Any], entries: tuple[Entry, ...], fetched_at: datetime | None
) -> list[str]:
    notes = []
    unreadable = [
        str(dict.get(raw, key))
        for raw in raws
        for key in ("published", "updated")
        if dict.get(raw, key) and dict.get(raw, key + "_parsed") is None
    ]
    if unreadable:
        notes.append(f"unreadable dates in {_entries(len(unreadable))} (e.g. {unreadable[0]!r})")
    if fetched_at is not None:
        future = [
            entry
            for entry in entries
            if entry.published_at and entry.published_at > fetched_at + timedelta(days=1)
        ]
        if future:
            when = future[0].published_at
            notes.append(f"dated in the future: {_entries(len(future))} (e.g. {when:%Y-%m-%d})")
    return notes


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def content_hash(entry: Entry) -> str:
    digest = hashlib.sha256()
    for part in (entry.title, entry.link, entry.content_html or entry.summary_html):
        digest.update(part.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()


def normalise_link(link: str) -> str:
    """Lower-case scheme and host, no fragment, no default port: the same page, one spelling."""
    parts = urlsplit(link.strip())
    if not parts.scheme or not parts.netloc:
        return link.strip()
    host = parts.hostname or ""
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _url_ids(text: bytes) -> frozenset[str]:
    """The guids and ids the feed writes as absolute http(s) URLs."""
    return frozenset(
        unescape(found.group(1).decode("utf-8", "replace")) for found in _URL_ID.finditer(text)
    )


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _base_url(feed: Any, location: str) -> str:
    """What the entries' relative links are relative to: where the feed was fetched from
    over HTTP(S) (feedparser has joined them to it already, and to any ``xml:base``), else
    the feed's own ``<link>``; ``""`` when neither is a web address."""
    if _is_web_url(location):
        return location
    for link in feed.get("links", []) or []:
        href = urljoin(location, str(link.get("href") or "").strip())
        if link.get("rel", "alternate") == "alternate" and _is_web_url(href):
            return href
    href = str(feed.get("link") or "").strip()
    return href if _is_web_url(href) else ""


# Link types that are a web page (feedparser gives an Atom link without a type text/html).
_PAGE_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})


def _entry_link(raw: Any, base: str, url_ids: frozenset[str]) -> str:
    """The entry's web page, as an absolute http(s) URL, or ``""`` when it has none.

    In order: an alternate link that is a web page; the item's ``<link>`` (feedparser's
    ``link``, which is the RSS guid when that is a permalink, and an Atom id when there is
    no link at all: only when the feed wrote it as an absolute URL, one of ``url_ids``);
    an alternate of another type (a PDF,
    when that is all the entry is).
    Each is resolved against ``base``; anything that is not then http(s) (a ``tag:`` id,
    a relative link without a base, ``file:``) is no link.
    """
    alternates = [
        link
        for link in raw.get("links", []) or []
        if link.get("href") and (link.get("rel") or "alternate") == "alternate"
    ]
    pages = [link for link in alternates if _media_type(link) in _PAGE_TYPES]
    others = [link for link in alternates if _media_type(link) not in _PAGE_TYPES]
    candidates = [link["href"] for link in pages]
    item_link = str(raw.get("link") or "")
    # feedparser's link is the guid or id when that "is a link", joined to the base: a
    # guid "12345" becomes https://blog.example/12345, a page nobody wrote. Only an id
    # written as an absolute URL in the feed is taken for a link.
    if not (raw.get("guidislink") and item_link == raw.get("id")) or item_link in url_ids:
        candidates.append(item_link)
    candidates += [link["href"] for link in others]
    for candidate in candidates:
        try:
            url = urljoin(base, str(candidate).strip()) if candidate else ""
        except ValueError:
            continue
        if _is_web_url(url):
            return normalise_link(url)
    return ""


def _media_type(link: Any) -> str:
    return str(link.get("type") or "").split(";")[0].strip().lower()


def _entry(
    feed: str,
    feed_title: str,
    raw: Any,
    base: str,
    site: str = "",
    *,
    link_base: str | None = None,
    url_ids: frozenset[str] = frozenset(),
) -> Entry:
    link = _entry_link(raw, base if link_base is None else link_base, url_ids)
    parts = raw.get("content") or []
    resolved = [_html_value(part, _content_base(part.get("base"), site, base)) for part in parts]
    content_html = "".join(resolved)
    summary_html = raw.get("summary", "") or ""
    detail = raw.get("summary_detail")
    if summary_html and detail is None and parts and summary_html == parts[0].get("value"):
        summary_html = resolved[0]  # feedparser's copy of the content
    elif summary_html:
        detail = detail or {}
        summary_html = _html_value(
            {"type": "text/html", **detail, "value": summary_html},
            _content_base(detail.get("base"), site, base),
        )
    entry = Entry(
        feed=feed,
        key="",
        title=_text(raw.get("title", ""), raw.get("title_detail")),
        link=link,
        content_html=content_html or summary_html,
        summary_html=summary_html if content_html else "",
        labels=_labels(raw),
        author=_text((raw.get("author_detail") or {}).get("name") or raw.get("author", "")),
        feed_title=feed_title,
        published_at=_date(raw, "published_parsed") or _date(raw, "updated_parsed"),
        updated_at=_date(raw, "updated_parsed"),
        images=tuple(_images(raw, content_html or summary_html, link or base)),
    )
    key = raw.get("id") or link or "sha256:" + content_hash(entry)
    return Entry(**{**entry.__dict__, "key": str(key)})


def _content_base(declared: str | None, site: str, url: str) -> str:
    """What relative URLs in an entry's HTML are relative to: the ``xml:base`` in force
    (feedparser starts it at the feed's address), unless that is no web address (a feed read
    from disk, say), then the feed's own web page (``<link rel="alternate">``)."""
    for base in (declared or url, site):
        if base and urlsplit(base).scheme.lower() in _WEB:
            return base
    return declared or url


def _html_value(part: Any, base: str) -> str:
    """The value of a content element, HTML with relative URLs made absolute."""
    value = str(part.get("value", "") or "")
    if part.get("type", "text/html") not in _HTML_TYPES:
        return value
    return _absolute_links(value, base)


def _absolute_links(markup: str, base: str) -> str:
    """``markup`` with the relative URLs of its links and pictures (``_URL_ATTRIBUTES``)
    made absolute against ``base``; everything else is left exactly as it was."""
    if not base or not _RELATIVE_URL.search(markup):
        return markup
    return _START_TAG.sub(lambda tag: _absolute_tag(tag.group(), base), markup)


def _absolute_tag(tag: str, base: str) -> str:
    name = _TAG_NAME.match(tag)
    assert name is not None  # _START_TAG matched
    pieces = [name.group()]
    position = name.end()
    while attribute := _ATTRIBUTE.match(tag, position):
        value = attribute.group(2)
        absolute = None
        if value is not None and attribute.group(1).lower() in _URL_ATTRIBUTES:
            absolute = _absolute_value(value, base)
        if absolute is None:
            pieces.append(attribute.group())
        else:
            pieces.append(tag[attribute.start() : attribute.start(2)] + absolute)
        position = attribute.end()
    pieces.append(tag[position:])
    return "".join(pieces)


def _absolute_value(value: str, base: str) -> str | None:
    """A quoted absolute URL for a relative one; ``None`` to leave ``value`` as it is."""
    if value[:1] in ('"', "'"):
        value = value[1:-1]
    url = html.unescape(value).strip()
    if _SCHEME.match(url):
        return None  # absolute already, or javascript: and the like (rendering drops them)
    try:
        absolute = urljoin(base, url)
    except ValueError:
        return None
    return '"' + html.escape(absolute, quote=True) + '"'


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})


def _text(value: str, detail: Mapping[str, Any] | None = None) -> str:
    """One line of plain text. A value the feed declares HTML (Atom ``type="html"``, in
    ``detail``) loses its tags; in plain text, entities left over from double-escaping
    feeds (Blogger's ``&amp;amp;``) are decoded and escaped markup (an RSS title's
    ``&lt;i&gt;dogs&lt;/i&gt;``) goes, while ``<IP-ADDRESS>`` stays: see ``title_text``."""
    kind = str((detail or {}).get("type") or "").lower()
    return title_text(value or "", is_html=kind in _HTML_TYPES)


def _labels(raw: Any) -> tuple[str, ...]:
    labels: list[str] = []
    for tag in raw.get("tags", []) or []:
        term = _text(tag.get("term") or tag.get("label") or "")
        if term and term not in labels:
            labels.append(term)
    return tuple(labels)


def _date(raw: Any, key: str) -> datetime | None:
    # dict.get, not raw.get: feedparser's own get() falls back from updated_parsed to
    # published_parsed (with a DeprecationWarning), which would invent an update time.
    value = dict.get(raw, key)
    # Hugo writes year 1 ("Mon, 01 Jan 0001") for pages without a date: no date at all.
    if value is None or value.tm_year < 1900:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _images(raw: Any, html: str, base: str) -> list[Image]:
    """The entry's images, the one to post first: the post's own (the first ``<img>`` of its
    content, with its alt text), then ``media:content`` and image enclosures, then
    ``media:thumbnail`` asked for at a large size (``/s72-c/`` -> ``/s1600/``, on any host,
    the thumbnail itself as the fallback). An image known to be smaller than
    ``SMALL_IMAGE_PX`` on its longer side (its ``width``/``height``, ``media:*`` attributes or
    the size in its URL) goes last when another is there."""
    found: list[tuple[int, int | None, Image]] = []
    seen: set[str] = set()

    def add(
        rank: int, url: str, *, alt: str = "", size: int | None = None, fallback: str = ""
    ) -> None:
        try:
            url = urljoin(base, url.strip()) if url else ""
            fallback = urljoin(base, fallback.strip()) if fallback else ""
        except ValueError:
            return
        if _is_web_url(url) and url not in seen:
            seen.add(url)
            size = size if size is not None else _size_in_url(url)
            found.append((rank, size, Image(url=url, alt=alt, fallback=fallback)))

    content = first_image_sized(html, base) if html else None
    if content:
        add(0, content[0], alt=content[1], size=content[2])
    for media in raw.get("media_content", []) or []:
        kind = media.get("type", "") or ""
        if kind.startswith("image/") or media.get("medium") == "image":
            add(1, media.get("url", ""), size=_longer_side(media))
    for link in raw.get("links", []) or []:
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/"):
            add(2, link.get("href", ""))
    for thumb in raw.get("media_thumbnail", []) or []:
        url = thumb.get("url", "") or ""
        larger = larger_image(url)
        if larger != url:
            add(3, larger, fallback=url)
        else:
            add(3, url, size=_longer_side(thumb))

    def small(size: int | None) -> bool:
        return size is not None and size < SMALL_IMAGE_PX

    any_big = any(not small(size) for _, size, _ in found)
    found.sort(key=lambda item: (any_big and small(item[1]), item[0]))
    return [image for _, _, image in found]


def _longer_side(attributes: Mapping[str, Any]) -> int | None:
    sides = []
    for name in ("width", "height"):
        try:
            sides.append(int(str(attributes.get(name, "")).strip()))
        except ValueError:
            continue
    return max(sides, default=None)


def _size_in_url(url: str) -> int | None:
    """The size an image server's URL asks for: ``/s72-c/``, ``=s72-c``, ``/w640-h480/``."""
    match = _IMAGE_SIZE.search(url)
    if match is None:
        return None
    return max(int(number) for number in re.findall(r"\d+", match.group()))


def larger_image(url: str) -> str:
    """``url`` asking for a large size where it names a small one the way Blogger's (and
    Google's) image servers read it (``/s72-c/``, ``/w72-h72-p/``, ``=s72-c``), on any
    host; else ``url`` as it is."""
    size = _size_in_url(url)
    if size is None or size >= SMALL_IMAGE_PX:
        return url
    url = _BLOGGER_SIZE.sub(f"/{LARGE_IMAGE}/", url, count=1)
    return _BLOGGER_SIZE_PARAM.sub(f"={LARGE_IMAGE}", url)
