"""The daemon's web face in one process: the real server (uvicorn on a loopback port)
over a real store with real deliveries, asked with requests as any client would."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import markupsafe
import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.cli import main
from bot.errors import ConfigError
from bot.loops import Loops
from bot.web.server import WebServer
from tests.conftest import (
    X_SECRETS,
    Clock,
    feed_table,
    modules_loaded_by,
    open_app,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX

TOKEN = "web-token-5e2f9c0a71d3"
ENV = {**X_SECRETS, "WEB_TOKEN": TOKEN}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEB_LIBRARIES = ("starlette", "uvicorn", "jinja2", "prometheus_client", "bot.web.app")


class Ticks:
    """A monotonic clock the test moves: the loops' liveness without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    app: App
    loops: Loops
    ticks: Ticks
    url: str
    path: Path
    x: FakeX
    blog: FakeBlog
    woken: list[str]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(main, ["--config", str(self.path), *args], env=ENV)
        assert result.exit_code == 0, result.output
        return result.output


def _serve(tmp_path: Path, blog: FakeBlog, x_api: FakeX, web: str, **target: str) -> Served:
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"], backfill=3),
        x_target(x_api.url, **target),
        web,
    )
    app = open_app(path, Clock(), ENV)
    ticks = Ticks()
    loops = Loops(clock=ticks)
    loops.expect("poll", timedelta(seconds=30), timedelta(minutes=5))
    woken: list[str] = []
    loops.wake = lambda: woken.append("lanes")
    loops.poll_now = lambda feed: woken.append(feed)
    assert app.config.web is not None
    server = WebServer(app, loops, app.config.web)
    server.start()
    host, port = server.address
    served = Served(app, loops, ticks, f"http://{host}:{port}", path, x_api, blog, woken)
    served._server = server  # type: ignore[attr-defined]
    return served


WEB = '[web]\nlisten = "127.0.0.1:0"\ntoken = "${WEB_TOKEN}"\n'


@pytest.fixture
def served(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> Iterator[Served]:
    """A target that waits for approval, and three entries: #1 rejected by X (failed), #2
    posted, #3 still held."""
    blog.add_entry("Refused one")
    blog.add_entry("Posted one")
    blog.add_entry("Held one")
    web = _serve(tmp_path, blog, x_api, WEB, approve="true")
    web.app.poll_due_feeds()
    web.app.approve(ids=[1, 2])
    x_api.fail_next(400)
    web.app.dispatch_due()
    assert [d.state.value for d in web.app.history()] == ["held", "posted", "failed"]
    yield web
    web._server.stop()  # type: ignore[attr-defined]
    web.app.close()


# -- health ----------------------------------------------------------------------------
def test_healthz_is_ok_while_the_loops_tick_and_503_when_one_stops(served: Served) -> None:
    served.loops.started("poll")
    served.loops.finished("poll")
    answer = served.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert [loop["name"] for loop in answer.json()["loops"]] == ["poll"]

    served.ticks.now += 59  # within two periods of 30 s
    assert served.get("/healthz").status_code == 200
    served.ticks.now += 2  # the poll did not run again: the loop has stopped
    answer = served.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "failing"
    assert answer.json()["problems"] == ["poll: last ran 61s ago (every 30s expected)"]

    served.loops.started("poll")  # it runs again
    assert served.get("/healthz").status_code == 200


def test_a_long_tick_is_alive_while_it_makes_progress_and_stuck_when_it_does_not(
    served: Served,
) -> None:
    served.loops.started("poll")
    for _ in range(5):  # a poll of many feeds: each feed that comes back is progress
        served.ticks.now += 100
        served.loops.progressed("poll")
        assert served.get("/healthz").status_code == 200
    served.ticks.now += 301  # five minutes and more without one feed back
    answer = served.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["poll: one tick has made no progress for 301s"]


def test_readyz_names_a_target_whose_credentials_were_refused(served: Served) -> None:
    assert served.get("/readyz").json() == {"status": "ready", "problems": []}
    served.x.fail_next(401)
    served.app.retry(1)
    served.app.dispatch_due()
    answer = served.get("/readyz")
    assert answer.status_code == 503
    (reason,) = answer.json()["problems"]
    assert reason.startswith("target x: ")
    served.app.resume("x")
    assert served.get("/readyz").status_code == 200


def test_an_operators_pause_leaves_the_daemon_ready(served: Served) -> None:
    served.app.pause("x")
    assert served.get("/readyz").status_code == 200


# -- metrics ---------------------------------------------------------------------------
def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_parse_and_the_counters_match_the_history(served: Served) -> None:
    answer = served.get("/metrics")
    assert answer.status_code == 200
    samples = _samples(answer.text)
    history = json.loads(served.cli("history", "--json"))

    def delivered(state: str) -> float:
        labels = (("platform", "twitter"), ("state", state), ("target", "x"))
        return samples.get(("feedrelay_deliveries_total", labels), 0.0)

    for state in ("posted", "failed"):
        assert delivered(state) == sum(1 for row in history if row["status"] == state)
    assert delivered("held") == 3  # each entry was held for approval when it was found
    waiting = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "feedrelay_deliveries_waiting"
    }
    assert waiting == {"queued": 0, "retry": 0, "held": 1, "unknown": 0}
    assert samples[("feedrelay_feed_polls_total", (("feed", "blog"), ("result", "new")))] == 1
    assert samples[("feedrelay_target_paused", (("reason", ""), ("target", "x")))] == 0
    # Two answers from X (one post, one refusal): two observations of its publish time.
    assert samples[("feedrelay_publish_seconds_count", (("platform", "twitter"),))] == 2
    assert ("feedrelay_feed_last_success_timestamp_seconds", (("feed", "blog"),)) in samples


def test_metrics_count_polls_across_a_restart(served: Served, tmp_path: Path) -> None:
    served.app.poll_due_feeds(everything=True)  # the same feed: 304 Not Modified
    reopened = open_app(served.path, Clock(), ENV)
    try:
        reopened.poll_due_feeds(everything=True)
        totals = {
            t.label("result"): t.value for t in reopened.store.tallies() if t.metric == "feed_polls"
        }
    finally:
        reopened.close()
    assert totals == {"new": 1, "not_modified": 2}


# -- the API equals the command line ---------------------------------------------------
def test_api_status_is_what_status_json_prints(served: Served) -> None:
    from_cli = json.loads(served.cli("status", "--json"))
    from_api = served.get("/api/status").json()
    for report in (from_cli, from_api):
        report.pop("now")
    assert from_api == from_cli


@pytest.mark.parametrize(
    "query",
    [[], ["--status", "posted"], ["--target", "x", "--limit", "2"], ["--since", "2d"]],
)
def test_api_history_is_what_history_json_prints(served: Served, query: list[str]) -> None:
    from_cli = json.loads(served.cli("history", "--json", *query))
    params = {query[i].lstrip("-"): query[i + 1] for i in range(0, len(query), 2)}
    assert served.get("/api/history", params=params).json() == from_cli


def test_api_history_filters_by_feed_and_words_and_pages(served: Served) -> None:
    rows = served.get("/api/history", params={"q": "posted ONE", "feed": "blog"}).json()
    assert [row["title"] for row in rows] == ["Posted one"]
    assert served.get("/api/history", params={"feed": "elsewhere"}).json() == []
    first = served.get("/api/history", params={"limit": "2"}).json()
    rest = served.get("/api/history", params={"before": str(first[-1]["id"])}).json()
    assert [r["id"] for r in first + rest] == [3, 2, 1]
    bad = served.get("/api/history", params={"status": "lost"})
    assert bad.status_code == 400
    assert "status must be one of" in bad.json()["error"]


# -- actions ---------------------------------------------------------------------------
ACTIONS = [
    ("/api/deliveries/3/approve", {}),
    ("/api/deliveries/1/retry", {}),
    ("/api/deliveries/3/skip", {}),
    ("/api/deliveries/1/resolve", {"url": "https://x.com/fieldnotes/status/1"}),
    ("/api/targets/x/pause", {"for": "2h"}),
    ("/api/feeds/blog/approve", {}),
]


def _state(web: Served) -> object:
    rows = [(d.id, d.state.value, d.remote_url) for d in web.app.history()]
    return rows, web.app.store.target_state("x")


@pytest.mark.parametrize(("path", "body"), ACTIONS)
def test_without_the_token_an_action_is_401_and_changes_nothing(
    served: Served, path: str, body: dict[str, str]
) -> None:
    before = _state(served)
    for headers in ({}, {"Authorization": "Bearer wrong-token-000000"}, {"Authorization": TOKEN}):
        answer = served.post(path, json=body, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert _state(served) == before
    assert served.woken == []


def test_approve_releases_and_wakes_the_lanes(served: Served) -> None:
    answer = served.post("/api/deliveries/3/approve", headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] and body["action"] == "approve"
    assert body["message"] == "1 delivery released; they go out with the next dispatch"
    assert [(d["id"], d["status"]) for d in body["deliveries"]] == [(3, "queued")]
    assert served.woken == ["lanes"]
    served.app.dispatch_due()
    assert served.app.store.get(3).state.value == "posted"  # type: ignore[union-attr]


def test_retry_skip_and_resolve_say_what_changed(served: Served) -> None:
    retried = served.post("/api/deliveries/1/retry", headers=AUTH).json()
    assert retried["message"] == "1: queued; it goes out with the next dispatch"
    assert retried["deliveries"][0]["status"] == "queued"
    skipped = served.post("/api/deliveries/3/skip", headers=AUTH).json()
    assert skipped["deliveries"][0]["status"] == "skipped"
    url = "https://x.com/fieldnotes/status/1"
    resolved = served.post("/api/deliveries/1/resolve", json={"url": url}, headers=AUTH).json()
    assert resolved["message"] == "1: marked as posted"
    assert resolved["deliveries"][0]["remote_url"] == url


def test_pause_for_a_while_and_resume(served: Served) -> None:
    paused = served.post("/api/targets/x/pause", json={"for": "2h"}, headers=AUTH).json()
    assert paused["target"]["paused"] is True
    assert paused["target"]["pause_reason"] == "paused by the operator"
    assert paused["target"]["paused_until"]
    resumed = served.post("/api/targets/x/resume", headers=AUTH).json()
    assert resumed["target"] == {
        "name": "x",
        "paused": False,
        "pause_reason": None,
        "paused_until": None,
    }
    assert resumed["message"] == "x: resumed; its deliveries go out with the next dispatch"


def test_approve_a_feeds_flood(served: Served) -> None:
    answer = served.post("/api/feeds/blog/approve", headers=AUTH).json()
    assert [d["id"] for d in answer["deliveries"]] == [3]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/deliveries/99/approve", {}, 404, "no delivery 99"),
        ("/api/deliveries/abc/approve", {}, 404, "is not a delivery id"),
        ("/api/deliveries/2/approve", {}, 409, "delivery 2 is posted, not held"),
        ("/api/deliveries/2/retry", {}, 409, "only a delivery that has not gone out"),
        ("/api/deliveries/1/resolve", {}, 400, "say where the post is"),
        ("/api/deliveries/1/resolve", {"url": "javascript:alert(1)"}, 400, "http:// or https://"),
        ("/api/targets/nobody/pause", {}, 404, "no target named 'nobody'"),
        ("/api/targets/x/pause", {"for": "forever"}, 400, "'for'"),
        ("/api/targets/x/pause", {"for": "400d"}, 400, "from 1s to 365d"),
        ("/api/targets/x/resume", {}, 409, "target x is not paused"),
        ("/api/feeds/nowhere/approve", {}, 404, "no feed named 'nowhere'"),
        ("/api/deliveries/1/destroy", {}, 404, "no action 'destroy'"),
    ],
)
def test_an_action_that_cannot_be_done_says_why_and_changes_nothing(
    served: Served, path: str, body: dict[str, str], status: int, words: str
) -> None:
    before = _state(served)
    answer = served.post(path, json=body, headers=AUTH)
    assert answer.status_code == status
    assert answer.json()["ok"] is False
    assert words in answer.json()["error"]
    assert _state(served) == before


def test_a_body_that_is_not_a_json_object_is_400(served: Served) -> None:
    for body in (b"[1]", b"{not json", "\xff".encode("latin-1")):
        answer = served.post("/api/deliveries/3/approve", data=body, headers=AUTH)
        assert answer.status_code == 400


def test_request_bodies_are_capped(served: Served) -> None:
    before = _state(served)
    big = b'{"url": "' + b"a" * 70_000 + b'"}'
    answer = served.post("/api/deliveries/1/resolve", data=big, headers=AUTH)
    assert answer.status_code == 413
    assert _state(served) == before


# -- reading from elsewhere needs the token ----------------------------------------------
@pytest.fixture
def exposed(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> Iterator[Served]:
    """Listening on every address (the test reaches it on loopback)."""
    web = _serve(tmp_path, blog, x_api, WEB.replace("127.0.0.1:0", "0.0.0.0:0"))
    web.url = web.url.replace("0.0.0.0", "127.0.0.1")
    yield web
    web._server.stop()  # type: ignore[attr-defined]
    web.app.close()


def test_reachable_from_elsewhere_reading_needs_the_token(exposed: Served) -> None:
    for path in ("/api/status", "/api/history", "/metrics"):
        assert exposed.get(path).status_code == 401
        assert exposed.get(path, headers=AUTH).status_code == 200
    page = exposed.get("/", allow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2F"
    # Health says nothing but whether the daemon works: orchestrators ask without a token.
    assert exposed.get("/healthz").status_code in (200, 503)
    assert exposed.get("/readyz").status_code == 200


def test_on_loopback_reading_needs_no_token(served: Served) -> None:
    for path in ("/api/status", "/api/history", "/metrics", "/", "/history"):
        assert served.get(path).status_code == 200


# -- secrets ---------------------------------------------------------------------------
def test_no_page_or_answer_shows_a_secret(served: Served) -> None:
    session = requests.Session()
    session.post(served.url + "/login", data={"token": TOKEN, "next": "/"}, timeout=10)
    served.x.fail_next(401)  # an auth error's message, on the page and in the API
    served.app.retry(1)
    served.app.dispatch_due()
    secrets = [TOKEN, *X_SECRETS.values()]
    answers = [
        session.get(served.url + path, timeout=10).text
        for path in ("/", "/history", "/login", "/api/status", "/api/history", "/metrics")
    ]
    answers += [served.get("/healthz").text, served.get("/readyz").text]
    answers.append(served.post("/api/deliveries/3/approve", headers=AUTH).text)
    assert "FeedRelay" in answers[0]
    for text in answers:
        for secret in secrets:
            assert secret not in text


# -- start-up --------------------------------------------------------------------------
def test_a_port_in_use_is_a_clean_error(served: Served, tmp_path: Path) -> None:
    _host, port = served.url.removeprefix("http://").split(":")
    (tmp_path / "two").mkdir()
    config = write_config(
        tmp_path / "two",
        feed_table("blog", served.blog.feed_url, ["x"]),
        x_target(served.x.url),
        WEB.replace("127.0.0.1:0", f"127.0.0.1:{port}"),
    )
    other = open_app(config, Clock(), ENV)
    try:
        assert other.config.web is not None
        with pytest.raises(ConfigError) as raised:
            WebServer(other, Loops(), other.config.web).start()
    finally:
        other.close()
    assert re.match(
        rf"web\.listen: cannot listen on 127\.0\.0\.1:{port}: ", raised.value.problems[0]
    )


def test_the_command_line_loads_no_web_library() -> None:
    code = "from click.testing import CliRunner\nfrom bot.cli import main\n"
    assert modules_loaded_by(code + "CliRunner().invoke(main, ['--help'])", WEB_LIBRARIES) == []
    assert modules_loaded_by("import bot.config, bot.scheduling", WEB_LIBRARIES) == []


# -- the page's forms ------------------------------------------------------------------
def _logged_in(web: Served) -> tuple[requests.Session, str]:
    session = requests.Session()
    answer = session.post(web.url + "/login", data={"token": TOKEN, "next": "/"}, timeout=10)
    assert answer.status_code == 200 and answer.url == web.url + "/"
    cookie = session.cookies["feedrelay_session"]
    assert TOKEN not in cookie
    match = re.search(r'name="form_token" value="([0-9a-f]+)"', answer.text)
    assert match is not None
    return session, match.group(1)


def test_a_wrong_token_does_not_log_in(served: Served) -> None:
    session = requests.Session()
    answer = session.post(served.url + "/login", data={"token": "not-the-token-123"}, timeout=10)
    assert answer.status_code == 401
    assert "That is not the token." in answer.text
    assert "feedrelay_session" not in session.cookies


def test_a_form_approves_and_the_page_says_so(served: Served) -> None:
    session, form_token = _logged_in(served)
    answer = session.post(
        served.url + "/deliveries/3/approve",
        data={"form_token": form_token, "back": "/"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.url == served.url + "/"
    assert "1 delivery released; they go out with the next dispatch" in answer.text
    assert served.app.store.get(3).state.value == "queued"  # type: ignore[union-attr]
    assert served.woken == ["lanes"]
    # The message is shown once.
    assert "1 delivery released" not in session.get(served.url + "/", timeout=10).text


def test_a_form_without_its_token_changes_nothing(served: Served) -> None:
    session, form_token = _logged_in(served)
    before = _state(served)
    tampered = form_token[:-1] + ("1" if form_token.endswith("0") else "0")
    for data in ({}, {"form_token": "0" * 40}, {"form_token": tampered}):
        answer = session.post(served.url + "/deliveries/3/approve", data=data, timeout=10)
        assert answer.status_code == 403
        assert "Nothing was changed" in answer.text
    # Another site's form, without the login cookie (SameSite=Strict keeps it home).
    answer = served.post("/deliveries/3/approve", data={"form_token": form_token})
    assert answer.status_code == 401
    assert _state(served) == before
    assert served.woken == []


def test_a_form_that_cannot_be_done_says_why(served: Served) -> None:
    session, form_token = _logged_in(served)
    answer = session.post(
        served.url + "/targets/x/pause",
        data={"form_token": form_token, "for": "forever", "back": "/history?target=x"},
        timeout=10,
    )
    assert answer.url == served.url + "/history?target=x"
    assert "&#39;for&#39;:" in answer.text  # escaped, as every value on a page
    assert served.app.store.target_state("x").pause_reason is None


def test_going_back_never_leaves_the_site(served: Served) -> None:
    session, form_token = _logged_in(served)
    for back in ("https://elsewhere.example/", "//elsewhere.example/", "/\\elsewhere"):
        answer = session.post(
            served.url + "/deliveries/3/skip",
            data={"form_token": form_token, "back": back},
            timeout=10,
            allow_redirects=False,
        )
        assert answer.headers["location"] == "/"


def test_the_page_without_a_login_shows_no_buttons(served: Served) -> None:
    page = served.get("/").text
    assert "Waiting for approval (1)" in page
    assert 'action="/deliveries/3/approve"' not in page
    assert "Log in to act" in page


def test_logging_out_ends_the_login(served: Served) -> None:
    session, form_token = _logged_in(served)
    session.post(served.url + "/logout", data={"form_token": form_token}, timeout=10)
    assert "feedrelay_session" not in session.cookies
    answer = session.post(
        served.url + "/deliveries/3/approve", data={"form_token": form_token}, timeout=10
    )
    assert answer.status_code == 401


def test_history_page_filters_and_pages(served: Served) -> None:
    page = served.get("/history", params={"status": "failed"}).text
    assert "Refused one" in page and "Posted one" not in page
    page = served.get("/history", params={"q": "held"}).text
    assert "Held one" in page and "Refused one" not in page
    bad = served.get("/history", params={"limit": "0"})
    assert bad.status_code == 400
    assert "limit must be a whole number" in bad.text


def test_a_title_from_the_feed_is_text_on_the_page(served: Served) -> None:
    served.blog.add_entry('<script>alert("x")</script> & co')
    served.app.poll_due_feeds(everything=True)
    (row,) = served.app.history(text="co")
    page = served.get("/").text
    assert "<script>" not in page
    assert str(markupsafe.escape(row.title)) in page


# -- feedrelay health (Docker's and compose's health check) ----------------------------
def _port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_asks_the_daemon_and_exits_1_when_a_loop_stopped(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    port = _port()
    web = _serve(tmp_path, blog, x_api, WEB.replace("127.0.0.1:0", f"0.0.0.0:{port}"))
    try:
        runner = CliRunner()
        args = ["--config", str(web.path), "health"]
        web.loops.started("poll")
        result = runner.invoke(main, args, env=ENV)
        assert result.exit_code == 0, result.output
        assert result.output == f"http://127.0.0.1:{port}/healthz: ok\n"
        web.ticks.now += 3600
        result = runner.invoke(main, args, env=ENV)
        assert result.exit_code == 1
        assert "HTTP 503" in result.output
        assert "poll: one tick has made no progress for 3600s" in result.output
        assert runner.invoke(main, [*args, "--ready"], env=ENV).exit_code == 0
    finally:
        web._server.stop()  # type: ignore[attr-defined]
        web.app.close()
    result = CliRunner().invoke(main, ["--config", str(web.path), "health"], env=ENV)
    assert result.exit_code == 1
    assert "no answer" in result.output and "is `feedrelay run` running?" in result.output


def test_health_without_web_checks_the_store(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    result = CliRunner().invoke(main, ["--config", str(path), "health"], env=ENV)
    assert result.exit_code == 0
    assert "nothing has run" in result.output
    open_app(path, Clock(), ENV).close()
    result = CliRunner().invoke(main, ["--config", str(path), "health"], env=ENV)
    assert result.exit_code == 0
    assert "only the store was checked" in result.output
