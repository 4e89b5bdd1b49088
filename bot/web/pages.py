"""The pages, for a person and a phone: ``/`` (what ``status`` shows, with what needs a
person and the last deliveries), ``/history`` (filters and pages), the login, and the forms
that call the same actions as the API.

Server-rendered Jinja2, no JavaScript. A form carries a token tied to the login cookie
(``guard.form_token``) and the cookie is ``SameSite=Strict``: no other site can submit one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.bounds import STATUSES
from bot.model import Delivery, DeliveryState, PushSubscription
from bot.reports import Status
from bot.web.actions import WAKING, ActionError, act
from bot.web.api import _history_filters
from bot.web.guard import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    form_ok,
    form_token,
    session_cookie,
    token_ok,
)

if TYPE_CHECKING:
    from bot.web.app import Web

TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "feedrelay_flash"
RECENT = 50
PAGE = 50
# Pages load nothing from elsewhere and run no script; forms post only to this server.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
HELD_GROUPS = {
    "approval": "Waiting for approval",
    "flood": "Held as a flood (new by id, dated before what the feed had)",
    "budget": "Held for the monthly budget",
    "credentials": "Refused for the target's credentials (they go when its pause lifts)",
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["web_link"] = _web_link
    return env


def _web_link(url: str | None) -> str | None:
    """Only http(s) addresses become links (never ``javascript:``)."""
    return url if url and re.match(r"^https?://", url, re.IGNORECASE) else None


def routes(web: Web) -> list[BaseRoute]:
    env = _environment()

    def local(value: datetime | None) -> str:
        if value is None:
            return "–"
        zone = ZoneInfo(web.app.config.bot.timezone)
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    env.filters["local"] = local

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        logged_in = web.logged_in(request)
        flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:300]
        page = env.get_template(name).render(
            logged_in=logged_in,
            can_act=logged_in and web.settings.token is not None,
            has_token=web.settings.token is not None,
            form_token=form_token(web.settings, cookie) if logged_in and cookie else "",
            flash=flash,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        )
        response = HTMLResponse(page, status_code=status, headers=HEADERS)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def login_first(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    async def status_page(request: Request) -> Response:
        if not web.may_read(request):
            return login_first(request)
        data = await web.run(_status_data, web)
        return render(request, "status.html", **data)

    async def history_page(request: Request) -> Response:
        if not web.may_read(request):
            return login_first(request)
        query = request.query_params
        error = None
        try:
            filters = _history_filters(web, query)
        except ValueError as problem:
            filters, error = {"limit": PAGE}, str(problem)
        filters["limit"] = min(filters.get("limit", PAGE), PAGE)
        rows = await web.run(web.app.history, **filters)
        older = None
        if len(rows) == filters["limit"]:
            kept = {k: v for k, v in query.items() if k in ("target", "status", "feed", "q")}
            older = "/history?" + urlencode({**kept, "before": rows[-1].id})
        return render(
            request,
            "history.html",
            status=400 if error else 200,
            rows=rows,
            error=error,
            older=older,
            query={k: query.get(k, "") for k in ("target", "status", "feed", "q")},
            targets=sorted(web.app.config.targets),
            feeds=sorted(web.app.config.feeds),
            statuses=STATUSES,
        )

    async def login_page(request: Request) -> Response:
        return render(request, "login.html", next=_local_path(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        form = await _form(request)
        next_path = _local_path(form.get("next"))
        if web.settings.token is None:
            return render(request, "login.html", status=400, next=next_path, wrong=False)
        if not token_ok(web.settings, form.get("token", "")):
            return render(request, "login.html", status=401, next=next_path, wrong=True)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_cookie(web.settings, web.now()),
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        form = await _form(request)
        if not form_ok(web.settings, request.cookies.get(SESSION_COOKIE), form.get("form_token")):
            return render(request, "refused.html", status=403, reason="This form has expired.")
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def form_action(request: Request) -> Response:
        form = await _form(request)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not web.logged_in(request):
            return render(
                request, "refused.html", status=401, reason="Log in with the token to act."
            )
        if not form_ok(web.settings, cookie, form.get("form_token")):
            return render(
                request,
                "refused.html",
                status=403,
                reason="This form was not sent from this page (or it has expired): reload the"
                " page and try again.",
            )
        kind, subject = request.path_params["kind"], request.path_params["subject"]
        verb = request.path_params["action"]
        try:
            done = await web.run(act, web.app, kind, subject, verb, form)
        except ActionError as error:
            message = error.message
        else:
            message = done.message
            if verb in WAKING:
                web.loops.wake()
        response = RedirectResponse(_local_path(form.get("back")), status_code=303)
        response.set_cookie(
            FLASH_COOKIE, quote(message), max_age=60, path="/", httponly=True, samesite="strict"
        )
        return response

    return [
        Route("/", status_page),
        Route("/history", history_page),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/{kind:str}/{subject:str}/{action:str}", form_action, methods=["POST"]),
    ]


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send)."""
    body = await request.body()
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[-1] for key, values in parsed.items()}


def _local_path(value: str | None) -> str:
    """Where to go back to: a path on this server, never another site."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _status_data(web: Web) -> dict[str, Any]:
    app = web.app
    report: Status = app.status()
    push: dict[str, PushSubscription] = (
        app.store.push_subscriptions() if web.settings.public_url else {}
    )
    groups: dict[str, list[Delivery]] = {}
    floods: dict[str, int] = {}
    for delivery in report.needs_person:
        if delivery.state is DeliveryState.FAILED:
            title = "Failed"
        else:
            title = HELD_GROUPS.get(delivery.held_for or "", "Held")
            if delivery.held_for == "flood":
                floods[delivery.feed] = floods.get(delivery.feed, 0) + 1
        groups.setdefault(title, []).append(delivery)
    return {
        "report": report,
        "push": push,
        "push_on": web.settings.public_url is not None,
        "groups": groups,
        "floods": floods,
        "recent": app.history(limit=RECENT),
        "now": datetime.now(UTC),
    }
