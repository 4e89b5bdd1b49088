"""Routes in the config ([feeds.F.to.T]): what is refused at load, with its key and line;
the wording a route sets over its target's; link parameters on a link."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import adapters
from bot.config import load_config
from bot.errors import ConfigError
from bot.model import Entry
from bot.routes import route, with_params
from bot.targets import render_for
from tests.unit.test_config import ENV, X

FEED = '[feeds.news]\nurl = "feed.xml"\ntargets = ["x"]\n'


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "feedrelay.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    return raised.value.problems


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "feedrelay.toml"
    path.write_text(text)
    return load_config(path, environ=ENV)


# -- refused at load ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            FEED + 'exclude_pattern = "(unclosed"\n' + X,
            "feeds.news.exclude_pattern: not a valid regular expression:"
            " missing ) at position 9 (line 4)",
        ),
        (
            FEED + X + 'include_pattern = "[a-"\n',
            "targets.x.include_pattern: not a valid regular expression:"
            " unterminated character set at position 3 (line 11)",
        ),
        (
            FEED
            + '\n[feeds.news.to.x]\ninclude_labels = ["Local"]\nexclude_pattern = "a{2,1}"\n'
            + X,
            "feeds.news.to.x.exclude_pattern: not a valid regular expression:"
            " min repeat greater than max repeat at position 2 (line 7)",
        ),
    ],
    ids=["feed", "target", "route"],
)
def test_a_bad_regular_expression_is_refused_with_its_key_and_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    assert _problems(tmp_path, text) == [problem]


def test_a_route_key_that_is_not_its_platforms_wording_names_the_keys_it_takes(
    tmp_path: Path,
) -> None:
    text = (
        FEED.replace('["x"]', '["x", "hook"]')
        + '\n[feeds.news.to.x]\ntemplat = "{title}"\ndelay = "1h"\n'
        + '\n[feeds.news.to.hook]\ntemplate = "{title}"\n'
        + X
        + '\n[targets.hook]\nplatform = "webhook"\nurl = "https://hooks.example/in"\n'
        + 'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"\n'
    )
    keys = ", ".join(adapters.spec("twitter").wording)
    assert _problems(tmp_path, text) == [
        "feeds.news.to.x.templat: unknown key (did you mean template?): a route to a twitter"
        f" target takes twitter's wording keys ({keys}), filters and link_params (line 6)",
        "feeds.news.to.x.delay: unknown key: a route to a twitter target takes twitter's"
        f" wording keys ({keys}), filters and link_params (line 7)",
        "feeds.news.to.hook.template: unknown key: a route to a webhook target takes"
        " webhook's wording keys (summary_chars), filters and link_params (line 10)",
    ]


def test_a_routes_wording_is_checked_as_its_targets_would_be(tmp_path: Path) -> None:
    text = FEED + '\n[feeds.news.to.x]\ntemplate = "{titel} {url}"\nmax_hashtags = -1\n' + X
    problems = _problems(tmp_path, text)
    assert problems[0].startswith("feeds.news.to.x.template: unknown field {titel} (known:")
    assert problems[0].endswith("(line 6)")
    assert problems[1] == (
        "feeds.news.to.x.max_hashtags: must be between 0 and 100, not -1 (line 7)"
    )


def test_a_route_to_a_target_the_feed_does_not_post_to_is_refused(tmp_path: Path) -> None:
    text = FEED + '\n[feeds.news.to.xx]\ninclude_labels = [""]\n' + X
    assert _problems(tmp_path, text) == [
        "feeds.news.to.xx: 'xx' is not one of this feed's targets (did you mean 'x'?): a"
        " route's target must be in the feed's targets (line 5)",
        "feeds.news.to.xx.include_labels.0: an empty label or word matches nothing:"
        " remove it (line 6)",
    ]


def test_link_params_take_only_feed_target_and_platform(tmp_path: Path) -> None:
    text = FEED + X + 'link_params = { utm_source = "{source}", ok = "{feed}" }\n'
    assert _problems(tmp_path, text) == [
        "targets.x.link_params.utm_source: {source} is not allowed here"
        " (known: {feed}, {target}, {platform}) (line 11)",
    ]
    text = FEED + X + 'link_params = { "" = "x" }\n'
    assert _problems(tmp_path, text) == [
        "targets.x.link_params: a parameter needs a name (line 11)"
    ]


# -- what a route is ----------------------------------------------------------------------


def test_a_routes_wording_overrides_its_targets_for_that_feed_only(tmp_path: Path) -> None:
    text = (
        FEED
        + '\n[feeds.news.to.x]\ntemplate = "[{feed_title}] {title} {url}"\nmax_hashtags = 0\n'
        + '\n[feeds.other]\nurl = "other.xml"\ntargets = ["x"]\n'
        + X
        + 'template = "{title} {url} {hashtags}"\n'
    )
    config = _load(tmp_path, text)
    entry = Entry(
        feed="news",
        key="1",
        title="Tomatoes",
        link="https://blog.example/t.html",
        labels=("Gardening",),
        feed_title="Field Notes",
    )
    assert render_for(config, entry, "x").post.text == (  # type: ignore[arg-type]
        "[Field Notes] Tomatoes https://blog.example/t.html"
    )
    other = replace(entry, feed="other")
    assert render_for(config, other, "x").post.text == (  # type: ignore[arg-type]
        "Tomatoes https://blog.example/t.html #Gardening"
    )
    assert config.targets["x"].template == "{title} {url} {hashtags}"  # type: ignore[attr-defined]


def test_link_params_of_the_target_and_the_route_filled_in(tmp_path: Path) -> None:
    text = (
        FEED
        + '\n[feeds.news.to.x]\nlink_params = { utm_source = "x-news", utm_content = "" }\n'
        + X
        + 'link_params = { utm_source = "{platform}", utm_campaign = "{feed}-{target}",'
        + ' utm_content = "dropped on the route" }\n'
    )
    config = _load(tmp_path, text)
    assert route(config, "news", "x").link_params == (  # type: ignore[arg-type]
        ("utm_source", "x-news"),
        ("utm_campaign", "news-x"),
    )
    # A page posted by hand that no feed lists: the target's own, {feed} "manual".
    assert route(config, "(manual)", "x").link_params == (  # type: ignore[arg-type]
        ("utm_source", "twitter"),
        ("utm_campaign", "manual-x"),
        ("utm_content", "dropped on the route"),
    )


@pytest.mark.parametrize(
    ("link", "tagged"),
    [
        ("https://b.example/p.html", "https://b.example/p.html?utm_source=x&utm_medium=social"),
        (
            "https://b.example/p.html?id=7&utm_source=own#comments",
            "https://b.example/p.html?id=7&utm_source=own&utm_medium=social#comments",
        ),
        ("https://b.example/p?", "https://b.example/p?utm_source=x&utm_medium=social"),
        ("https://b.example/p#", "https://b.example/p?utm_source=x&utm_medium=social#"),
        (
            "https://b.example/a%20b?q=caf%C3%A9",
            "https://b.example/a%20b?q=caf%C3%A9&utm_source=x&utm_medium=social",
        ),
        ("mailto:me@b.example", "mailto:me@b.example"),
        ("", ""),
    ],
)
def test_with_params_keeps_the_links_own_parameters_and_fragment(link: str, tagged: str) -> None:
    assert with_params(link, [("utm_source", "x"), ("utm_medium", "social")]) == tagged


def test_parameter_values_are_encoded() -> None:
    assert with_params("https://b.example/", [("c", "spring sale & more/€")]) == (
        "https://b.example/?c=spring%20sale%20%26%20more%2F%E2%82%AC"
    )


query_parts = st.text(alphabet="abcdefgh_-.~%=+&", max_size=12)


@given(
    path=st.sampled_from(["/", "/post.html", "/2026/11/a-b"]),
    query=st.lists(st.tuples(st.sampled_from("abcdu"), query_parts), max_size=3),
    fragment=st.one_of(st.none(), st.text(alphabet="abc-?&=#", max_size=8)),
    params=st.dictionaries(
        st.sampled_from("abcuvw"),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=6),  # as TOML holds text
        max_size=3,
    ),
)
def test_a_tagged_link_is_the_link_with_only_the_new_parameters_after_it(
    path: str,
    query: list[tuple[str, str]],
    fragment: str | None,
    params: dict[str, str],
) -> None:
    own_query = "&".join(f"{name}={value}" for name, value in query)
    link = "https://blog.example" + path + (f"?{own_query}" if own_query else "")
    link += f"#{fragment}" if fragment is not None else ""
    tagged = with_params(link, list(params.items()))
    base, _, own_fragment = link.partition("#")
    # The fragment is the link's own, and so is everything before the added parameters.
    assert tagged.partition("#")[2] == own_fragment
    assert tagged.startswith(base)
    added = parse_qsl(tagged.partition("#")[0][len(base) :].lstrip("?&"), keep_blank_values=True)
    own_names = {name for name, _ in parse_qsl(urlsplit(base).query, keep_blank_values=True)}
    assert added == [(name, value) for name, value in params.items() if name not in own_names]
