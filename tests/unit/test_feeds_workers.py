"""Parsing in worker processes (``bot.feeds.workers``): the same results as parsing in the
daemon's own process, hostile feeds refused the same way, a worker killed by a feed fails
that feed only, the workers stop with the pool, and a few feeds start no pool at all.

These start real worker processes (``spawn``): nothing here is mocked."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.errors import FeedError
from bot.failpoints import ENV_VAR
from bot.feeds import Fetched, ParsedFeed, parse
from bot.feeds.workers import IN_THREAD_FIRST, Parsers
from tests.conftest import DATA

pytestmark = pytest.mark.xdist_group("parse-workers")  # one worker's cores at a time


def _fetched(path: Path) -> Fetched:
    kind = "text/html" if path.suffix == ".html" else "application/xml"
    return Fetched(
        body=path.read_bytes(),
        url=f"https://blog.example/{path.name}",
        headers={"Content-Type": kind},
    )


def _feeds(folder: str) -> list[tuple[str, Fetched]]:
    paths = sorted(p for p in (DATA / folder).iterdir() if p.suffix in (".xml", ".html"))
    return [(p.stem, _fetched(p)) for p in paths]


def _in_process(name: str, fetched: Fetched) -> ParsedFeed | str:
    try:
        return parse(name, fetched)
    except FeedError as error:
        return str(error)


def _through(parsers: Parsers, name: str, fetched: Fetched) -> ParsedFeed | str:
    try:
        return parsers.parse(name, fetched)
    except FeedError as error:
        return str(error)


def _workers() -> list[multiprocessing.process.BaseProcess]:
    return multiprocessing.active_children()


def test_workers_parse_every_feed_as_the_daemon_itself_does() -> None:
    """The real corpus and the hostile one (entity expansion, web pages, undeclared
    encodings, broken dates): the same entries, the same warnings, the same refusals."""
    feeds = _feeds("real") + _feeds("hostile")
    assert len(feeds) > 30
    with Parsers(2, in_thread_first=0) as parsers:
        with ThreadPoolExecutor(4) as threads:  # as the fetch threads call it
            results = list(threads.map(lambda feed: _through(parsers, *feed), feeds))
        assert parsers.pools_started == 1
    assert results == [_in_process(name, fetched) for name, fetched in feeds]
    refused = [r for r in results if isinstance(r, str)]
    assert any("entity expansion is a known attack" in r for r in refused)
    assert any("this is a web page, not a feed" in r for r in refused)


def test_a_worker_killed_by_a_feed_fails_that_feed_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The failpoint kills the worker process that parses feed ``evil`` (as the kernel's
    out-of-memory killer would): that feed is refused with a reason, the pool is started
    again, and every other feed, those in the pool when it broke too, is parsed."""
    monkeypatch.setenv(ENV_VAR, "in-parse-worker:evil")
    feeds = _feeds("real")[:12]
    evil = feeds[3][1]
    with Parsers(2, in_thread_first=0) as parsers:
        first = _through(parsers, *feeds[0])
        with pytest.raises(FeedError, match="feed evil: parsing it stopped the worker process"):
            parsers.parse("evil", evil)
        with ThreadPoolExecutor(4) as threads:
            both = list(
                threads.map(lambda feed: _through(parsers, *feed), [*feeds[1:], ("evil", evil)])
            )
        assert parsers.pools_started >= 2  # the first, then one after it broke
    assert [first, *both[:-1]] == [_in_process(name, fetched) for name, fetched in feeds]
    assert both[-1] == (
        "feed evil: parsing it stopped the worker process (killed, or out of memory): it is"
        " tried again at its next check"
    )
    assert _workers() == []


def test_closing_stops_the_workers_and_later_parses_run_here() -> None:
    name, fetched = _feeds("real")[0]
    parsers = Parsers(2, in_thread_first=0)
    assert _through(parsers, name, fetched) == _in_process(name, fetched)
    assert _workers()  # started as they are needed: one, here
    parsers.close()
    assert _workers() == []
    assert _through(parsers, name, fetched) == _in_process(name, fetched)
    assert parsers.pools_started == 1 and _workers() == []


def test_a_few_feeds_start_no_pool() -> None:
    """One blog, or a cycle where a few feeds changed: parsed in the calling thread, no
    process started. The next body after those starts the pool."""
    feeds = _feeds("real")[: IN_THREAD_FIRST + 1]
    with Parsers(2) as parsers:
        for name, fetched in feeds[:-1]:
            assert _through(parsers, name, fetched) == _in_process(name, fetched)
        assert parsers.pools_started == 0 and _workers() == []
        assert _through(parsers, *feeds[-1]) == _in_process(*feeds[-1])
        assert parsers.pools_started == 1 and _workers()
    assert _workers() == []


def test_no_workers_means_every_feed_is_parsed_here() -> None:
    feeds = _feeds("real")[: IN_THREAD_FIRST + 4]
    with Parsers(0) as parsers:
        for name, fetched in feeds:
            assert _through(parsers, name, fetched) == _in_process(name, fetched)
        assert parsers.pools_started == 0 and _workers() == []


def _pools_started_here(paths: list[str]) -> int:
    with Parsers(2, in_thread_first=0) as parsers:
        for path in paths:
            parsers.parse(Path(path).stem, _fetched(Path(path)))
        return parsers.pools_started


def test_a_worker_process_starts_no_pool_of_its_own() -> None:
    """A process started by multiprocessing (a worker, or a program that runs FeedRelay in
    one) parses in itself: never a pool of pools."""
    paths = [str(p) for p in sorted((DATA / "real").glob("*.xml"))[:3]]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as child:
        assert child.submit(_pools_started_here, paths).result() == 0
    assert _pools_started_here(paths) == 1
