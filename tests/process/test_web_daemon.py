"""``feedrelay run`` with ``[web]``, as a real process: it serves beside its scheduler,
answers health and actions while it polls and posts, and stops serving when it stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import X_SECRETS, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX

TOKEN = "daemon-token-7c1e0f93b2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


def start_daemon(path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **X_SECRETS, "WEB_TOKEN": TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(path), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def web_table(port: int, extra: str = "") -> str:
    return f'[web]\nlisten = "127.0.0.1:{port}"\ntoken = "${{WEB_TOKEN}}"\n{extra}'


@pytest.fixture
def approving_daemon(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A daemon whose X target waits for approval, one entry held, serving on a port."""
    blog.add_entry("Waiting for a nod")
    port = free_port()
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"], backfill=1),
        x_target(x_api.url, approve="true"),
        web_table(port),
    )
    daemon = start_daemon(path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(url + "/healthz"))
        wait_for(
            lambda: any(r["status"] == "held" for r in requests.get(url + "/api/history").json())
        )
        yield url, daemon
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=60)


def test_the_daemon_serves_and_an_approval_posts_within_the_tick(
    approving_daemon: tuple[str, subprocess.Popen[str]], x_api: FakeX
) -> None:
    url, daemon = approving_daemon
    health = requests.get(url + "/healthz").json()
    assert health["status"] == "ok"
    assert {loop["name"] for loop in health["loops"]} == {"poll", "lane:x"}
    assert requests.get(url + "/readyz").status_code == 200
    (held,) = requests.get(url + "/api/history", params={"status": "held"}).json()
    answer = requests.post(f"{url}/api/deliveries/{held['id']}/approve", headers=AUTH)
    assert answer.status_code == 200
    # The approval wakes the lane: the post goes out now, not at the next dispatch tick.
    wait_for(lambda: len(x_api.tweets) == 1, timeout=10)
    wait_for(lambda: requests.get(url + "/api/history").json()[0]["status"] == "posted", timeout=10)
    assert daemon.poll() is None


def test_sigterm_stops_the_server_with_the_daemon(
    approving_daemon: tuple[str, subprocess.Popen[str]],
) -> None:
    url, daemon = approving_daemon
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not answers(url + "/healthz")


def test_a_port_in_use_stops_the_daemon_at_start_with_a_clear_error(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(
            tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url), web_table(port)
        )
        daemon = start_daemon(path)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 2
    assert f"web.listen: cannot listen on 127.0.0.1:{port}: Address already in use" in stderr
    assert "Traceback" not in stderr
    assert not blog.feed_fetches()  # nothing started before the server could listen


def test_run_once_serves_nothing(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> None:
    port = free_port()
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url), web_table(port)
    )
    env = {**os.environ, **X_SECRETS, "WEB_TOKEN": TOKEN}
    once = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(path), "run", "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = False
    while once.poll() is None:
        seen = seen or answers(f"http://127.0.0.1:{port}/healthz")
        time.sleep(0.05)
    once.communicate()
    assert once.returncode == 0
    assert not seen


def test_a_hubs_notification_posts_within_seconds_with_an_hourly_poll(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    from tests.fakes.websub_hub import FakeHub

    with FakeHub() as hub:
        blog.hub_url = hub.url + "/"
        blog.add_entry("Already there")
        port = free_port()
        path = write_config(
            tmp_path,
            feed_table("blog", blog.feed_url, ["x"]) + 'poll_interval = "1h"\n',
            x_target(x_api.url),
            web_table(port, f'public_url = "http://127.0.0.1:{port}"\n'),
        )
        daemon = start_daemon(path)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: bool(hub.active(blog.self_url)))
            wait_for(lambda: _push_state(url) == "subscribed")
            fetches = len(blog.feed_fetches())
            blog.add_entry("Out within seconds")
            (delivered,) = hub.publish(blog.self_url)
            assert delivered.status == 202
            wait_for(lambda: len(x_api.tweets) == 1, timeout=15)
            assert x_api.tweets[0]["text"].startswith("Out within seconds")
            assert len(blog.feed_fetches()) == fetches + 1  # one fetch, of the configured URL
            hub.publish(blog.self_url, forge=True)
            metrics = requests.get(url + "/metrics").text
            assert (
                'feedrelay_websub_notifications_total{feed="blog",result="forged"} 1.0' in metrics
            )
            assert len(blog.feed_fetches()) == fetches + 1
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, stderr


def _push_state(url: str) -> str:
    feeds = requests.get(url + "/api/status").json()["feeds"]
    return str(feeds[0]["push"]["state"])
