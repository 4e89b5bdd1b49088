"""The status page in a real browser: Debian's chromium (/usr/bin/chromium, installed by
.ci/run) driven by Playwright, against ``feedrelay run`` serving its web face. A person
loads the page, logs in with the token, approves a held delivery with a click and sees it
posted. The screenshot it takes is the one docs/web.md shows
(``DOCS_SCREENSHOTS=1`` writes it to docs/web-status.png)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import REPO, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX
from tests.process.test_web_daemon import AUTH, TOKEN, free_port, start_daemon, wait_for, web_table

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 412, "height": 915}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()


def test_approve_a_held_delivery_with_a_click_and_see_it_posted(
    browser: Browser, tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Winter sowing in modules", labels=["Seeds"])
    blog.add_entry("The leek trench, a month on", labels=["Leeks"])
    blog.add_entry("Frost cloth or fleece?", labels=["Kit"])
    port = free_port()
    path = write_config(
        tmp_path,
        feed_table("allotment", blog.feed_url, ["x"], backfill=3),
        x_target(x_api.url, approve="true"),
        web_table(port),
    )
    url = f"http://127.0.0.1:{port}"
    daemon = start_daemon(path)
    try:
        wait_for(lambda: _held(url) == 3)
        for delivery_id in (1, 2):  # two went out already, approved from the API
            requests.post(f"{url}/api/deliveries/{delivery_id}/approve", headers=AUTH)
        wait_for(lambda: len(x_api.tweets) == 2)

        page = browser.new_page(viewport=PHONE)  # type: ignore[arg-type]
        page.goto(url + "/")
        held = page.locator("#delivery-3")
        expect(held).to_contain_text("Frost cloth or fleece?")
        expect(held.locator(".state")).to_have_text("held")
        expect(held.get_by_role("button", name="Approve")).to_have_count(0)  # not logged in

        page.get_by_role("link", name="Log in to act").click()
        page.get_by_label("token").fill(TOKEN)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(url + "/")

        page.locator("#delivery-3").get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_have_text(
            "1 delivery released; they go out with the next dispatch"
        )
        wait_for(lambda: len(x_api.tweets) == 3, timeout=10)
        _reload_until_posted(page, 3)
        expect(page.locator("#delivery-3")).to_have_count(0)  # nothing needs a person
        posted = page.locator("#recent-3")
        expect(posted.locator(".state")).to_have_text("posted")
        remote_url = requests.get(url + "/api/history", params={"limit": "1"}).json()[0][
            "remote_url"
        ]
        expect(posted.get_by_role("link", name=remote_url)).to_have_attribute("href", remote_url)
        expect(page.get_by_text("Nothing waits for a person.")).to_be_visible()

        shot = tmp_path / "web-status.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("DOCS_SCREENSHOTS") == "1":
            shutil.copy(shot, REPO / "docs" / "web-status.png")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)


def _held(url: str) -> int:
    try:
        rows = requests.get(url + "/api/history", params={"status": "held"}, timeout=5).json()
    except requests.ConnectionError:
        return 0
    return len(rows)


def _reload_until_posted(page: Page, delivery_id: int) -> None:
    def posted() -> bool:
        page.reload()
        return page.locator(f"#recent-{delivery_id} .state").text_content() == "posted"

    wait_for(posted, timeout=15)
