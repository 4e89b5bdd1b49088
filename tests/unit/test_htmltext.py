"""bot.text.html: HTML from real blog engines, and hostile HTML, into text, Markdown, images."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text.html import (
    MARKDOWN_MAX_DEPTH,
    _first_image_in_tree,
    _FirstImageScan,
    excerpt,
    first_image,
    first_image_sized,
    html_to_markdown,
    html_to_text,
    title_text,
)

# -- html_to_text: engines -------------------------------------------------------------------

BLOGGER = (
    '<div dir="ltr" style="text-align: left;" trbidi="on">'
    "Hello&nbsp;world, it&#39;s   me.<br />Second line<br /><br />"
    '<div class="separator" style="clear: both; text-align: center;">'
    '<a href="https://blogger.googleusercontent.com/img/b/R29v/s1600/big.jpg" '
    'style="margin-left: 1em; margin-right: 1em;">'
    '<img border="0" data-original-height="1200" data-original-width="1600" '
    'src="https://blogger.googleusercontent.com/img/b/R29v/s320/small.jpg" width="320" />'
    "</a></div><div><br /></div><div>New&nbsp;&nbsp;paragraph &amp; more</div>"
    "<div><br /></div><div><br /></div><div>Last</div></div>"
)

WORDPRESS = (
    "<!-- wp:paragraph -->\n<p>It&#8217;s a &#8220;test&#8221; &#8212; really.</p>\n"
    '<!-- /wp:paragraph -->\n\n<!-- wp:heading -->\n<h2 class="wp-block-heading">'
    "Section&nbsp;two</h2>\n<!-- /wp:heading -->\n\n<!-- wp:list -->\n"
    '<ul class="wp-block-list"><!-- wp:list-item -->\n<li>First</li>\n<!-- /wp:list-item -->'
    "\n\n<!-- wp:list-item -->\n<li>Second</li>\n<!-- /wp:list-item --></ul>\n"
    '<!-- /wp:list -->\n\n<!-- wp:quote -->\n<blockquote class="wp-block-quote">'
    "<p>Quoted</p><cite>Someone</cite></blockquote>\n<!-- /wp:quote -->\n"
    '<p>The post <a href="https://wp.example/p">appeared first</a> on Blog.</p>'
)

GHOST = (
    '<p>Intro text.</p><figure class="kg-card kg-image-card kg-card-hascaption">'
    '<img src="/content/images/2024/05/cat.jpg" class="kg-image" alt="A cat" loading="lazy" '
    'width="2000" height="1333" srcset="/content/images/size/w600/2024/05/cat.jpg 600w">'
    "<figcaption><span>Our <b>cat</b></span></figcaption></figure>"
    '<div class="kg-card kg-callout-card"><div class="kg-callout-emoji">💡</div>'
    '<div class="kg-callout-text">Tip</div></div>'
)

HUGO_SUMMARY = (
    "<p>Hugo summaries are the first paragraphs&hellip;</p>\n"
    "<p>They keep <code>inline code</code> and <em>emphasis</em>.</p>"
)

JEKYLL_EXCERPT = (
    '<p>Jekyll’s excerpt: the first paragraph, with a <a href="/about/">link</a>.</p>\n'
)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            BLOGGER,
            "Hello world, it's me.\nSecond line\n\nNew paragraph & more\n\nLast",
            id="blogger",
        ),
        pytest.param(
            WORDPRESS,
            "It’s a “test” — really.\n\nSection two\n\n• First\n• Second\n\nQuoted\n\n"
            "Someone\n\nThe post appeared first on Blog.",
            id="wordpress",
        ),
        pytest.param(GHOST, "Intro text.\n\nOur cat\n\n💡\n\nTip", id="ghost"),
        pytest.param(
            HUGO_SUMMARY,
            "Hugo summaries are the first paragraphs…\n\nThey keep inline code and emphasis.",
            id="hugo",
        ),
        pytest.param(
            JEKYLL_EXCERPT,
            "Jekyll’s excerpt: the first paragraph, with a link.",
            id="jekyll",
        ),
    ],
)
def test_html_to_text_engines(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


# -- html_to_text: structure -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("<h1>Title</h1><p>Body</p>", "Title\n\nBody"),
        ("<blockquote>quote</blockquote>after", "quote\n\nafter"),
        ("<div>a</div><div>b</div>", "a\n\nb"),
        ("a<br>b", "a\nb"),
        ("a<br/><br/>b", "a\n\nb"),
        ("a<br><br><br><br>b", "a\n\nb"),
        ("<p>a</p><br><br><p>b</p>", "a\n\nb"),
        ("<p>  many   spaces\n\tand\nnewlines  </p>", "many spaces and newlines"),
        ("<p>a</p>\n\n\n<p></p><p> </p><div>&nbsp;</div><p>b</p>", "a\n\nb"),
        ("<p><b>bold</b> <i>it</i>al<span>ic</span></p>", "bold italic"),
        ("<p>one<br>  two  </p>", "one\ntwo"),
        ("<ul><li>one</li><li>two</li></ul>", "• one\n• two"),
        ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
        ('<ol start="5"><li>five</li><li>six</li></ol>', "5. five\n6. six"),
        ('<ol><li>a</li><li value="7">b</li><li>c</li></ol>', "1. a\n7. b\n8. c"),
        ('<ol start="x"><li>a</li></ol>', "1. a"),
        (
            "<ul><li>a<ul><li>a1</li><li>a2<ol><li>deep</li></ol></li></ul></li><li>b</li></ul>",
            "• a\n  • a1\n  • a2\n    1. deep\n• b",
        ),
        ("<p>before</p><ul><li>x</li></ul><p>after</p>", "before\n\n• x\n\nafter"),
        ("<li>orphan item</li>", "• orphan item"),
        ("<ul><li><p>para one</p><p>para two</p></li></ul>", "• para one\npara two"),
        ("<ul><li></li><li>  </li><li>real</li></ul>", "• real"),
        (
            "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>",
            "a | b\n1 | 2",
        ),
        (
            "<pre>def f():\n    return  1\n\n\n\n\treturn 2\n</pre>",
            "def f():\n    return  1\n\n    return 2",
        ),
        ("<p>x</p><hr><p>y</p>", "x\n\ny"),
        ("<dl><dt>term</dt><dd>definition</dd></dl>", "term\n\ndefinition"),
    ],
)
def test_html_to_text_structure(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>&amp; &lt; &gt; &quot; &#39;</p>", "& < > \" '"),
        ("<p>it&#8217;s &#x2014; &hellip;</p>", "it’s — …"),
        ("<p>a&nbsp;b&nbsp;&nbsp;&nbsp;c</p>", "a b c"),
        ("<p>caf&eacute; na&iuml;ve</p>", "café naïve"),
        ("<p>soft&shy;hyphen</p>", "softhyphen"),
        ("<p>unknown &bogus; entity &amp</p>", "unknown &bogus; entity &"),
        ("<p>&#0;&#xD800;x</p>", "\ufffd\ufffdx"),
        # Escaped twice: a post never shows a reference (issue 9).
        ("<p>&amp;amp; escaped twice, it&amp;#39;s</p>", "& escaped twice, it's"),
        # html.parser would return everything after a bad "&#" as raw text.
        (
            "<p>Use &# or &#; or &#xZ;</p><script>evil()</script><b>b</b>",
            "Use &# or &#; or &#xZ;\n\nb",
        ),
        ("<p>&#123abc; &#65;</p>", "&#123abc; A"),
        ("<p>AT&T; R&D</p>", "AT&T; R&D"),
    ],
)
def test_html_to_text_entities(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    "html",
    [
        "<p>keep</p><script>alert('x')</script>",
        '<p>keep</p><script type=\'application/ld+json\'>{"@type": "x"}</script>',
        "<p>keep</p><style>p { color: red }</style>",
        "<p>keep</p><noscript><img src='pixel.gif'>enable js</noscript>",
        "<p>keep</p><template><p>tmpl</p></template>",
        "<p>keep</p><iframe src='https://www.youtube.com/embed/x'>no frames</iframe>",
        "<p>keep</p><!-- a comment --><!--[if IE]>ie<![endif]-->",
        "<p>keep</p><![if !supportLists]><![endif]>",
        "<p>keep</p><svg><title>svg title</title><text>svg text</text></svg>",
        "<p>keep</p><img src='a.jpg' alt='alt text'><img src='b.jpg'>",
        "<p>keep</p><video src='v.mp4'>Your browser does not support video</video>",
        "<!DOCTYPE html><html><head><title>Doc</title><style>x</style></head>"
        "<body><p>keep</p></body></html>",
    ],
)
def test_html_to_text_drops_non_text(html: str) -> None:
    assert html_to_text(html) == "keep"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Just plain text", "Just plain text"),
        ("  Tom &amp; Jerry  ", "Tom & Jerry"),
        ("It&#8217;s\t\tspaced   out\nover lines", "It’s spaced out over lines"),
        ("First para.\n\n\n\nSecond para.\n  \nThird.", "First para.\n\nSecond para.\n\nThird."),
        ("a < b and c > d", "a < b and c > d"),
        ("I <3 you", "I <3 you"),
        ("https://example.com/page.html", "https://example.com/page.html"),
        ("index.html", "index.html"),
        ("", ""),
        ("   \n\t ", ""),
    ],
)
def test_html_to_text_plain_text(text: str, expected: str) -> None:
    assert html_to_text(text) == expected


# -- html_to_text: hostile and broken input --------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>unclosed <b>bold <i>italic", "unclosed bold italic"),
        ("<div><p>a<div>b</p>c", "a\n\nb\n\nc"),
        ("</p></div>stray closers</span>", "stray closers"),
        ('<p title="<script>alert(1)</script>">safe</p>', "safe"),
        ('<img src=x onerror="alert(1)"><p>text</p>', "text"),
        ('<a href="javascript:alert(1)">click</a>', "click"),
        ("<p>x<script>if (a < b && c > d) { w('</p>') }</script>y</p>", "xy"),
        ("<p>hi</p><script>never closed <p>secret", "hi"),
        ('<p>Truncated summary with <a href="http://exa', "Truncated summary with"),
        ("<p>Cut at a tag</p><p", "Cut at a tag"),
        ("<p>Cut in a comment</p><!-- wp:paragraph", "Cut in a comment"),
        ("Ends with a <b then more", "Ends with a <b then more"),
        ("<![CDATA[cdata]]><p>after</p>", "after"),
        ("<![<", "<![<"),
        ("<!x<p>a</p>", "a"),
        ("\x00\x01<p>con\x07trol\x7f</p>", "control"),
        ("<p>lone \ud800 surrogate</p>", "lone \ufffd surrogate"),
        ("<<p>>a", "<\n\n>a"),
    ],
)
def test_html_to_text_broken(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_deep_nesting_does_not_recurse() -> None:
    depth = 10_000
    html = "<div>" * depth + "deep <b>text</b>" + "</div>" * depth
    assert html_to_text(html) == "deep text"


def test_html_to_text_deep_unclosed_nesting() -> None:
    assert html_to_text("<div><span><b>" * 5_000 + "end") == "end"


def test_html_to_text_deep_nested_lists_stay_readable() -> None:
    text = html_to_text("<ul><li>x" * 2_000)
    lines = text.split("\n")
    assert len(lines) == 2_000
    assert all(line.strip() == "• x" for line in lines)
    assert max(len(line) for line in lines) <= 2 * 8 + len("• x")  # indentation is capped


def test_html_to_text_huge_input_is_linear_enough() -> None:
    html = "<p>word &amp; more   words</p>\n" * 20_000 + "<p>" + "x " * 200_000 + "</p>"
    started = time.monotonic()
    text = html_to_text(html)
    assert time.monotonic() - started < 20
    assert text.startswith("word & more words\n\nword")
    assert "\n\n\n" not in text


# -- html_to_markdown ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<p>See <a href="https://ex.com/a">this post</a>.</p>',
            "See [this post](https://ex.com/a).",
        ),
        ("<p><em>em</em> and <strong>strong</strong></p>", "*em* and **strong**"),
        ("<h1>One</h1><h2>Two</h2><h3>Three</h3>", "# One\n\n## Two\n\n### Three"),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ('<ol start="3"><li>c</li><li>d</li></ol>', "3. c\n4. d"),
        ("<ul><li>a<ol><li>b</li><li>c</li></ol></li></ul>", "- a\n  1. b\n  2. c"),
        ("<blockquote><p>q1</p><p>q2</p></blockquote>", "> q1\n>\n> q2"),
        ("<p>Use <code>x_y</code> here</p>", "Use `x_y` here"),
        ("<pre><code>def f():\n    return 1\n</code></pre>", "    def f():\n        return 1"),
        ("<p>snake_case and 2*3</p>", "snake\\_case and 2\\*3"),
        ("<p>a</p><script>alert(1)</script><style>p{}</style><p>b</p>", "a\n\nb"),
        ("<p>a</p><noscript>js</noscript><template>t</template><iframe>f</iframe>", "a"),
        ("<p>a</p><!-- wp:paragraph --><p>b</p>", "a\n\nb"),
        ("<p>a</p><p></p><div><br></div><div>&nbsp;</div><p>b</p>", "a\n\nb"),
        ("<p>a&nbsp;b</p>", "a b"),
        ('<p><a href="javascript:alert(1)">click</a> me</p>', "click me"),
        (
            '<p><a href="https://en.wikipedia.org/wiki/Foo_(bar)">Foo [bar]</a></p>',
            "[Foo \\[bar\\]](https://en.wikipedia.org/wiki/Foo_%28bar%29)",
        ),
        (
            '<p><a href="https://ex.com/">https://ex.com/</a></p>',
            "[https://ex.com/](https://ex.com/)",
        ),
        ('<p><a name="anchor">no href</a></p>', "no href"),
        ('<p><a href="mailto:me@ex.com">mail me</a></p>', "[mail me](mailto:me@ex.com)"),
        # Invisible characters in a link's address are percent-encoded: the link still goes
        # where it went, and cleaning the Markdown of them later cannot change it.
        (
            '<p><a href="https://ex.com/a\u200bb\u202e c">x</a></p>',
            "[x](https://ex.com/a%E2%80%8Bb%E2%80%AE%20c)",
        ),
    ],
)
def test_html_to_markdown(html: str, expected: str) -> None:
    assert html_to_markdown(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<p><img src="https://ex.com/a.png" alt="A cat"></p>', "[A cat](https://ex.com/a.png)"),
        ('<p><img src="https://ex.com/a.png"></p>', "[image](https://ex.com/a.png)"),
        ('<img src="https://ex.com/p.gif" width="1" height="1"><p>x</p>', "x"),
        ('<img src="data:image/png;base64,AAAA" alt="inline"><p>x</p>', "x"),
        (
            '<img src="data:image/gif;base64,R0" data-src="https://ex.com/lazy.jpg" alt="L">',
            "[L](https://ex.com/lazy.jpg)",
        ),
        # Blogger: a thumbnail inside a link to the full picture.
        (
            '<a href="https://bp.example/big.jpg"><img src="https://bp.example/s320/small.jpg"></a>',
            "[image](https://bp.example/big.jpg)",
        ),
        (
            '<a href="https://ex.com/"><img src="https://ex.com/i.png" alt="Logo"> Home</a>',
            "[Logo Home](https://ex.com/)",
        ),
    ],
)
def test_html_to_markdown_images_become_links(html: str, expected: str) -> None:
    assert html_to_markdown(html) == expected


def test_html_to_markdown_engines() -> None:
    blogger = html_to_markdown(BLOGGER)
    assert "[image](https://blogger.googleusercontent.com/img/b/R29v/s1600/big.jpg)" in blogger
    assert "New  paragraph & more" in blogger
    assert "\n\n\n" not in blogger
    wordpress = html_to_markdown(WORDPRESS)
    assert wordpress.startswith("It’s a “test” — really.\n\n## Section two\n\n- First\n- Second")
    assert "[appeared first](https://wp.example/p)" in wordpress
    assert "wp:" not in wordpress
    ghost = html_to_markdown(GHOST, base_url="https://ghost.example/blog/post/")
    assert "[A cat](https://ghost.example/content/images/2024/05/cat.jpg)" in ghost
    assert "Our **cat**" in ghost


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("/about/", "https://blog.example/2024/01/post.html", "https://blog.example/about/"),
        (
            "other.html",
            "https://blog.example/2024/01/post.html",
            "https://blog.example/2024/01/other.html",
        ),
        ("../up/", "https://blog.example/a/b/", "https://blog.example/a/up/"),
        ("//cdn.example/x", "https://blog.example/", "https://cdn.example/x"),
        ("#section", "https://blog.example/p", "https://blog.example/p#section"),
        ("https://elsewhere.example/", "https://blog.example/", "https://elsewhere.example/"),
    ],
)
def test_html_to_markdown_resolves_relative_links(href: str, base: str, expected: str) -> None:
    html = f'<p><a href="{href}">link</a> <img src="{href}" alt="pic"></p>'
    assert html_to_markdown(html, base_url=base) == f"[link]({expected}) [pic]({expected})"


def test_html_to_markdown_leaves_relative_links_without_base() -> None:
    html = '<p><a href="/about/">about</a></p><p><img src="img/a.png" alt="A"></p>'
    assert html_to_markdown(html) == "[about](/about/)\n\n[A](img/a.png)"


def test_html_to_markdown_never_more_than_one_blank_line() -> None:
    html = "<p>a</p>" + "<br>" * 20 + "<div><br></div>" * 5 + "<p>b<br><br><br><br>c</p>"
    markdown = html_to_markdown(html)
    assert "\n\n\n" not in markdown
    assert markdown.startswith("a\n\n")
    assert markdown.endswith("c")


def test_html_to_markdown_deep_nesting_does_not_recurse() -> None:
    depth = 10_000
    html = "<div>" * depth + '<a href="https://ex.com">deep</a> text' + "</div>" * depth
    assert html_to_markdown(html) == "deep text"  # below the cap only the text survives
    shallow = "<div>" * (MARKDOWN_MAX_DEPTH - 2) + '<a href="https://ex.com">kept</a>'
    assert html_to_markdown(shallow) == "[kept](https://ex.com)"


def test_html_to_markdown_long_ordered_list_is_fast() -> None:
    html = "<ol>" + "<li>item</li>" * 10_000 + "</ol>"
    started = time.monotonic()
    markdown = html_to_markdown(html)
    assert time.monotonic() - started < 20
    assert markdown.endswith("10000. item")


# -- first_image -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "base", "expected"),
    [
        (
            '<p>x</p><img src="https://ex.com/a.jpg" alt="A"><img src="https://ex.com/b.jpg">',
            "",
            ("https://ex.com/a.jpg", "A"),
        ),
        (
            '<img src="/content/images/cat.jpg" alt=" A   cat ">',
            "https://ghost.example/p/",
            ("https://ghost.example/content/images/cat.jpg", "A cat"),
        ),
        (
            '<img src="cat.jpg">',
            "https://jekyll.example/2024/05/post.html",
            ("https://jekyll.example/2024/05/cat.jpg", ""),
        ),
        ('<img src="//cdn.example/x.png">', "", ("https://cdn.example/x.png", "")),
        (
            '<img src="//cdn.example/x.png">',
            "http://blog.example/",
            ("http://cdn.example/x.png", ""),
        ),
        (
            '<img src="https://stats.wp.com/p.gif" width="1" height="1">'
            '<img src="https://ex.com/real.jpg">',
            "",
            ("https://ex.com/real.jpg", ""),
        ),
        (
            '<img src="https://ex.com/t.gif" width="1">'
            '<img src="https://ex.com/r.jpg" height="1px">'
            '<img src="https://ex.com/ok.jpg" width="10" height="100">',
            "",
            ("https://ex.com/ok.jpg", ""),
        ),
        (
            '<img src="data:image/png;base64,iVBOR"><img src="https://ex.com/b.jpg" alt="b">',
            "",
            ("https://ex.com/b.jpg", "b"),
        ),
        (
            '<img src="data:image/gif;base64,R0lG" data-src="https://ex.com/lazy.jpg" alt="lazy">',
            "",
            ("https://ex.com/lazy.jpg", "lazy"),
        ),
        (
            '<img src="https://ex.com/a.jpg?w=600&amp;h=400">',
            "",
            ("https://ex.com/a.jpg?w=600&h=400", ""),
        ),
        (
            '<div class="separator"><a href="https://bp.example/big.jpg">'
            '<img border="0" src="https://bp.example/s320/small.jpg" width="320" /></a></div>',
            "",
            ("https://bp.example/s320/small.jpg", ""),
        ),
        ('<img src="relative.jpg">', "", None),
        ('<img src="javascript:alert(1)">', "https://ex.com/", None),
        ("<img>", "", None),
        ('<img src="   ">', "https://ex.com/", None),
        ("<p>no images</p>", "", None),
        ("", "", None),
        ("<script>document.write('<img src=\"https://ex.com/s.jpg\">')</script>", "", None),
        ('<template><img src="https://ex.com/t.jpg"></template>', "", None),
    ],
)
def test_first_image(html: str, base: str, expected: tuple[str, str] | None) -> None:
    assert first_image(html, base) == expected


def test_first_image_deep_nesting() -> None:
    html = "<div>" * 10_000 + '<img src="https://ex.com/deep.jpg" alt="deep">'
    assert first_image(html) == ("https://ex.com/deep.jpg", "deep")


# Pieces of markup where reading only up to the first picture could go wrong: escaped markup
# and references (parsed once more in the tree), templates, <sup>2</sup>, scripts, broken
# references and tags, declarations html.parser rejects, </img> after <img>.
_IMAGE_PIECES = [
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "text ",
    "<br>",
    "</img>",
    "<img/>",
    "<img src='https://a.example/1.jpg' alt='one'>",
    "<img src=rel.jpg>",
    "<img width=1 src='https://t.example/p.gif'>",
    "<img src='https://b.example/2.jpg' class=emoji>",
    "<img data-src='//cdn.example/l.jpg' src='data:x'>",
    "<img src='https://c.example/3.jpg",
    "&lt;img src=&quot;https://e.example/esc.jpg&quot;&gt;",
    "&lt;/div&gt;",
    "&amp;lt;",
    "&amp;",
    "&am",
    "p;",
    "&#60;",
    "&#x3c;",
    "&#",
    "&#150;",
    "<",
    ">",
    "<sup>",
    "</sup>",
    "<sub>",
    "</sub>",
    "2",
    "<template>",
    "</template>",
    "<script>",
    "</script>",
    "<script/>",
    "<style>",
    "</style>",
    "<noscript>",
    "</noscript>",
    "<code>",
    "</code>",
    "<!-- c -->",
    "<![if x]>",
    "<!x>",
    "<?pi?>",
    "<!DOCTYPE html>",
    "<p",
    "\x00",
]


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from(_IMAGE_PIECES), max_size=14).map("".join),
    st.sampled_from(["", "https://blog.example/p/"]),
)
def test_first_image_scan_agrees_with_the_tree(html: str, base: str) -> None:
    """The scan that stops at the first picture finds what the whole tree finds."""
    assert first_image_sized(html, base) == _first_image_in_tree(html, base)


def test_first_image_scan_stops_at_the_first_picture() -> None:
    """What follows the first picture is not read (this is what makes a long entry cheap):
    the parser's position is still at the picture's tag."""
    scan = _FirstImageScan("")
    html = '<p>Hello</p><img src="https://ex.com/a.jpg" alt="A">' + "<p>more</p>" * 1000
    assert scan.run(html) == ("https://ex.com/a.jpg", "A", None)
    assert scan.getpos() == (1, len("<p>Hello</p>"))


# -- excerpt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Hello world. This is more.", 50, "Hello world"),
        ("Hello world.", 50, "Hello world"),
        ("Is it good? Yes.", 50, "Is it good?"),
        ("Wow! Really.", 50, "Wow!"),
        ("Wait for it… and more", 50, "Wait for it…"),
        ("Version 2.0 is out. Download now.", 50, "Version 2.0 is out"),
        ("No sentence end here", 50, "No sentence end here"),
        ("  spaced\n\n  out   text  ", 50, "spaced out text"),
        ("A very long first sentence without any end in sight", 20, "A very long first…"),
        ("Lists, commas, everywhere in this line", 16, "Lists, commas…"),
        ("Supercalifragilisticexpialidocious", 10, "Supercali…"),
        ("日本語の文章です。次の文", 20, "日本語の文章です。"),
        ("日本語の長い文章がここにずっと続いています", 8, "日本語の長い文…"),
        ("Family 👨‍👩‍👧 emoji here", 9, "Family…"),
        ("👨‍👩‍👧👨‍👩‍👧", 6, "👨‍👩‍👧…"),
        ("exactly ten", 11, "exactly ten"),
        ("word", 1, "…"),
        ("", 10, ""),
        ("...", 10, "..."),
    ],
)
def test_excerpt(text: str, limit: int, expected: str) -> None:
    assert excerpt(text, limit) == expected


def test_excerpt_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="limit"):
        excerpt("text", 0)


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_excerpt_fits_the_limit(text: str, limit: int) -> None:
    result = excerpt(text, limit)
    assert len(result) <= limit
    assert result == result.strip()


# -- properties ------------------------------------------------------------------------------

# fmt: off
_HTML_PIECES = st.sampled_from([
    "<", ">", "</", "/>", "<!--", "-->", "<![", "]]>", "<!", "<?", "&", "&amp;", "&#", ";",
    '"', "'", "=", " ", "\n", "p", "div", "script", "style", "li", "ul", "ol", "br", "pre",
    "a href=", "img src=", "td", "tr", "table", "h1", "blockquote", "code", "\x00",
    "\ud800", "9999999999", "value=", "start=", "data:", "http://", "javascript:", "é",
])
# fmt: on
_HTMLISH = st.lists(_HTML_PIECES | st.text(max_size=6), max_size=50).map("".join)


@settings(max_examples=300)
@given(_HTMLISH)
def test_html_functions_never_raise(html: str) -> None:
    text = html_to_text(html)
    assert text == text.strip()
    assert "\n\n\n" not in text
    markdown = html_to_markdown(html, base_url="https://blog.example/a/")
    assert "\n\n\n" not in markdown
    html_to_markdown(html)
    image = first_image(html, "https://blog.example/")
    assert image is None or image[0].startswith(("http://", "https://"))


@settings(max_examples=300)
@given(
    before=_HTMLISH,
    body=st.text(alphabet=st.characters(blacklist_characters="<"), max_size=30),
    after=_HTMLISH,
    attrs=st.sampled_from(["", ' type="text/javascript"', " async src='x.js'", " defer"]),
)
def test_html_to_text_never_returns_script_content(
    before: str, body: str, attrs: str, after: str
) -> None:
    marker = "SCRIPTMARKER"
    html = f"<p>{before}</p><script{attrs}>{body}{marker}{body}</script><p>{after}</p>"
    assert marker not in html_to_text(html)
    assert marker not in html_to_markdown(html)


# -- markup escaped once too often (issue 9) ---------------------------------------------------

REDDIT_TWICE_ESCAPED = (
    "&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;I&amp;#39;m moving to"
    " Lisbon&lt;/p&gt;&lt;/div&gt;&lt;!-- SC_ON --&gt;"
)
SANITIZER_ESCAPED = (
    '<p>Watch it:</p>&lt;object width="425" height="344"&gt;&lt;param name="movie"'
    ' value="http://www.youtube.com/v/x"&gt;&lt;/param&gt;&lt;embed'
    ' src="http://www.youtube.com/v/x" type="application/x-shockwave-flash"&gt;&lt;/embed'
    "&gt;&lt;/object&gt;<p>After the video.</p>"
)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (REDDIT_TWICE_ESCAPED, "I'm moving to Lisbon"),
        (SANITIZER_ESCAPED, "Watch it:\n\nAfter the video."),
        ("<p>Tom &amp;amp; Jerry&amp;#8217;s</p>", "Tom & Jerry’s"),
        ("<p>625ft<sup>2</sup> of H<sub>2</sub>O, note<sup>a</sup></p>", "625ft² of H₂O, notea"),
        # Code samples and prose that merely look like a tag are text.
        ("<p>Run <code>ssh root@&lt;IP-ADDRESS&gt;</code></p>", "Run ssh root@<IP-ADDRESS>"),
        ("<pre>&lt;div class=&quot;x&quot;&gt;hi&lt;/div&gt;</pre>", '<div class="x">hi</div>'),
        ("<p>then ssh &lt;IP-ADDRESS&gt; as &lt;user&gt;</p>", "then ssh <IP-ADDRESS> as <user>"),
        ("<p>wrap it in a &lt;div&gt; and</p>", "wrap it in a <div> and"),
        ("<p>if a &lt; b &amp;&amp; c &gt; d</p>", "if a < b && c > d"),
    ],
)
def test_html_to_text_reads_markup_escaped_once_too_often(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_markdown_reads_markup_escaped_once_too_often() -> None:
    assert html_to_markdown(REDDIT_TWICE_ESCAPED) == "I'm moving to Lisbon"
    assert "object" not in html_to_markdown(SANITIZER_ESCAPED)


@pytest.mark.parametrize(
    ("value", "is_html", "expected"),
    [
        ("Teams is stomping <b>Slack</b>", True, "Teams is stomping Slack"),
        ("ssh &lt;IP-ADDRESS&gt; &amp; more", True, "ssh <IP-ADDRESS> & more"),
        ("A smart collar for <i>dogs</i>", False, "A smart collar for dogs"),
        ('raise <span class="webrupee">₹</span>4,000 crore', False, "raise ₹4,000 crore"),
        ("A 625ft<sup>2</sup> flat", False, "A 625ft² flat"),
        ("Teams &lt;b&gt;wins&lt;/b&gt;", False, "Teams wins"),
        ("How to ssh <IP-ADDRESS> with <b>keys</b>", False, "How to ssh <IP-ADDRESS> with keys"),
        ("How to ssh <IP-ADDRESS>", False, "How to ssh <IP-ADDRESS>"),
        ("Fish &amp;amp; chips", False, "Fish & chips"),
        ("I <3 you, a < b > c", False, "I <3 you, a < b > c"),
        ("  spaced \n  out  ", False, "spaced out"),
        ("", False, ""),
    ],
)
def test_title_text(value: str, is_html: bool, expected: str) -> None:
    assert title_text(value, is_html=is_html) == expected
