"""The platform registry: one spec per platform, read without loading any platform library."""

from __future__ import annotations

import pytest

import adapters
from adapters.base import PlatformSpec
from adapters.twitter.render import TwitterOptions
from bot.config import target_model
from bot.model import Post
from bot.settings import TargetSettings
from tests.conftest import REPO, modules_loaded_by
from tests.platforms import twitter as x_hooks


def test_every_platform_has_a_spec_named_like_its_registry_key() -> None:
    own = [p for p in adapters.platforms() if adapters.installed()[p].distribution == "feedrelay"]
    assert adapters.platforms()[: len(own)] == own == sorted(own)  # FeedRelay's own first
    assert {"bluesky", "mastodon", "reddit", "tumblr", "twitter", "webhook"} <= set(own)
    for name in adapters.platforms():
        found = adapters.spec(name)
        assert isinstance(found, PlatformSpec)
        assert found.name == name
        assert issubclass(found.settings_model, TargetSettings)
        assert target_model(name) is found.settings_model


def test_an_unknown_platform_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        adapters.spec("myspace")


def test_reading_a_spec_imports_no_platform_library() -> None:
    assert modules_loaded_by('import adapters\nadapters.spec("twitter")') == []
    assert (
        modules_loaded_by("import adapters\n[adapters.spec(p) for p in adapters.platforms()]") == []
    )


def test_only_x_refuses_an_identical_resend() -> None:
    assert adapters.spec("twitter").resend_is_safe
    assert not adapters.spec("reddit").resend_is_safe
    assert not adapters.spec("tumblr").resend_is_safe


@pytest.mark.parametrize(
    ("text", "usd"),
    [
        ("Just words", 0.015),
        ("New post https://example.org/a", 0.20),
        ("See example.com for more", 0.20),  # a bare domain is a URL to X
        ("me@example.com wrote", 0.015),  # an e-mail address is not
    ],
)
def test_x_charges_more_for_a_post_with_a_url(text: str, usd: float) -> None:
    assert adapters.spec("twitter").cost(_x_settings(), Post(text=text)) == pytest.approx(usd)


def test_x_prices_come_from_the_config() -> None:
    settings = _x_settings().model_copy(
        update={"price_per_post": 0.01, "price_per_post_with_url": 0.5}
    )
    spec = adapters.spec("twitter")
    assert spec.cost(settings, Post(text="words")) == pytest.approx(0.01)
    assert spec.cost(settings, Post(text="see example.com")) == pytest.approx(0.5)


def test_reddit_and_tumblr_posts_cost_nothing() -> None:
    post = Post(text="https://example.org/a", link="https://example.org/a", title="A")
    x = _x_settings()
    assert adapters.spec("reddit").cost(x, post) == 0.0
    assert adapters.spec("tumblr").cost(x, post) == 0.0


def _x_settings() -> TargetSettings:
    return adapters.spec("twitter").settings_model.model_validate(
        {
            "platform": "twitter",
            "consumer_key": x_hooks.CONSUMER_KEY,
            "consumer_secret": x_hooks.CONSUMER_SECRET,
            "access_token": x_hooks.ACCESS_TOKEN,
            "access_token_secret": x_hooks.ACCESS_TOKEN_SECRET,
            "template": "{title} {url}",
        }
    )


def test_options_come_from_the_targets_own_settings() -> None:
    options = adapters.spec("twitter").options(_x_settings())
    assert isinstance(options, TwitterOptions)
    assert options.template == "{title} {url}"


def test_a_spec_refuses_another_platforms_settings() -> None:
    with pytest.raises(TypeError):
        adapters.spec("reddit").options(_x_settings())
    with pytest.raises(TypeError):
        adapters.spec("tumblr").open("t", _x_settings())


def test_open_builds_the_adapter_from_the_settings() -> None:
    with x_hooks.start_fake() as fake:
        settings = _x_settings().model_copy(update={"api_base": fake.url})
        adapter = adapters.spec("twitter").open("x-main", settings)
        try:
            assert adapter.verify() == f"@{fake.user['username']}"
        finally:
            adapter.close()
    assert repr(adapter) == "TwitterAdapter(target='x-main')"


def test_platform_libraries_and_sqlalchemy_are_imported_in_their_one_place() -> None:
    """tweepy, praw, requests-oauthlib and Mastodon.py only in an adapter's client.py;
    SQLAlchemy only in bot/store/."""
    import re

    root = REPO
    platform = re.compile(
        r"^\s*(?:import|from)\s+(tweepy|praw|prawcore|requests_oauthlib|mastodon)\b", re.M
    )
    store = re.compile(r"^\s*(?:import|from)\s+sqlalchemy\b", re.M)
    for path in [*root.joinpath("bot").rglob("*.py"), *root.joinpath("adapters").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root).as_posix()
        if platform.search(text):
            assert where.startswith("adapters/") and path.name == "client.py", where
        if store.search(text):
            assert where.startswith("bot/store/"), where
