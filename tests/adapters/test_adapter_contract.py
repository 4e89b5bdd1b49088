"""One contract, every registered platform (FeedRelay's own and installed plugins): the real
client library against a loopback fake, through each platform's hooks (``tests/platforms``)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from bot.errors import PublishError
from bot.model import Published
from tests.platforms import hooks as _hooks
from tests.platforms import registered

PLATFORM_MODULES = registered()


def test_every_registered_platform_has_its_hooks_and_its_spec() -> None:
    import adapters

    assert {"twitter", "reddit", "tumblr"} <= set(PLATFORM_MODULES)  # FeedRelay's own
    for name in PLATFORM_MODULES:
        assert name == _hooks(name).PLATFORM
        assert adapters.spec(name).name == name


def _cases() -> Iterator[Any]:
    for name in PLATFORM_MODULES:
        for failure in _hooks(name).FAILURES:
            yield pytest.param(name, failure, id=f"{name}-{failure.id}")


@pytest.fixture(params=PLATFORM_MODULES)
def platform(request: pytest.FixtureRequest) -> ModuleType:
    return _hooks(request.param)


def test_publish_returns_the_platforms_id(platform: ModuleType) -> None:
    with platform.start_fake() as fake:
        adapter = platform.make_adapter(fake)
        published = adapter.publish(platform.sample_post())
        adapter.close()
        assert isinstance(published, Published)
        accepted = platform.accepted(fake)
        assert len(accepted) == 1
        assert published.remote_id == str(accepted[0]["id"])
        assert published.url


def test_verify_names_the_account(platform: ModuleType) -> None:
    with platform.start_fake() as fake:
        adapter = platform.make_adapter(fake)
        assert adapter.verify()
        assert platform.accepted(fake) == []


def test_connection_refused_is_transient(platform: ModuleType) -> None:
    fake = platform.start_fake()
    adapter = platform.make_adapter(fake)
    fake.stop()
    with pytest.raises(PublishError) as raised:
        adapter.publish(platform.sample_post())
    assert raised.value.retryable


@pytest.mark.parametrize(("name", "failure"), list(_cases()))
def test_error_mapping(name: str, failure: Any) -> None:
    platform = _hooks(name)
    with platform.start_fake() as fake:
        adapter = platform.make_adapter(fake)
        failure.arrange(fake)
        with pytest.raises(PublishError) as raised:
            adapter.publish(platform.sample_post())
    error = raised.value
    assert type(error) is failure.expected, f"{type(error).__name__}: {error}"
    assert error.target == "t"
    assert failure.says in str(error)
    for secret in platform.SECRETS:
        assert secret not in str(error)
