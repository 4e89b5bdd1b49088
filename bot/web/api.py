"""The JSON face: ``/healthz``, ``/readyz``, ``/metrics``, ``GET /api/status`` and
``/api/history`` (what ``status --json`` and ``history --json`` print, from the same
functions), and the actions as ``POST /api/...`` with ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot import __version__
from bot.bounds import HISTORY_LIMIT, LARGEST_ID, STATUSES, since
from bot.errors import StorageError
from bot.reports import history_json, status_json
from bot.web.actions import WAKING, ActionError, act
from bot.web.guard import bearer_ok
from bot.web.metrics import registry_for

if TYPE_CHECKING:
    from bot.web.app import Web

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
API_HISTORY_LIMIT = 100  # rows when ?limit= is not given


def unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def routes(web: Web) -> list[BaseRoute]:
    registry = registry_for(web.app)

    async def healthz(request: Request) -> Response:
        loops = web.loops.health()
        problems = [loop.problem for loop in loops if loop.problem]
        body = {
            "status": "failing" if problems else "ok",
            "version": __version__,
            "problems": problems,
            "loops": [asdict(loop) for loop in loops],
        }
        return JSONResponse(body, status_code=503 if problems else 200)

    async def readyz(request: Request) -> Response:
        try:
            reasons = await web.run(_not_ready, web)
        except StorageError as error:
            reasons = [f"the store does not answer: {error}"]
        body = {"status": "not ready" if reasons else "ready", "problems": reasons}
        return JSONResponse(body, status_code=503 if reasons else 200)

    def reading(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not web.may_read(request):
                return unauthorized(
                    "this server can be reached from other machines: send"
                    " Authorization: Bearer TOKEN ([web] token)"
                )
            return await handler(request)

        return guarded

    async def metrics(request: Request) -> Response:
        exposition = await web.run(generate_latest, registry)
        return Response(exposition, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    async def status(request: Request) -> Response:
        report = await web.run(web.app.status)
        return JSONResponse(status_json(report))

    async def history(request: Request) -> Response:
        try:
            filters = _history_filters(web, request.query_params)
        except ValueError as error:
            return problem(400, str(error))
        rows = await web.run(web.app.history, **filters)
        planned = await web.run(web.app.planned, rows)
        return JSONResponse(history_json(rows, planned))

    async def action(request: Request) -> Response:
        if web.settings.token is None:
            return unauthorized("actions need [web] token set in the config")
        if not bearer_ok(web.settings, request.headers.get("authorization")):
            return unauthorized("send Authorization: Bearer TOKEN ([web] token)")
        body = await request.body()
        try:
            params = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return problem(400, "the body must be a JSON object")
        if not isinstance(params, dict):
            return problem(400, "the body must be a JSON object")
        kind, subject = request.path_params["kind"], request.path_params["subject"]
        verb = request.path_params["action"]
        try:
            done = await web.run(act, web.app, kind, subject, verb, params)
        except ActionError as error:
            return problem(error.status, error.message)
        if verb in WAKING:
            web.loops.wake()
        return JSONResponse(done.json())

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", reading(metrics)),
        Route("/api/status", reading(status)),
        Route("/api/history", reading(history)),
        Route(
            "/api/{kind:str}/{subject:str}/{action:str}",
            action,
            methods=["POST"],
        ),
    ]


def _not_ready(web: Web) -> list[str]:
    """Why the daemon cannot do its work: a target whose credentials were refused (it posts
    nothing until they are fixed). Reading the target states is the store's answer too."""
    now = web.now()
    reasons = []
    for name, state in sorted(web.app.store.target_states().items()):
        if name in web.app.config.targets and state.pause_kind == "auth" and state.paused_at(now):
            reasons.append(f"target {name}: {state.pause_reason}")
    return reasons


def _history_filters(web: Web, query: Any) -> dict[str, Any]:
    """``?target=&status=&feed=&q=&since=&limit=&before=`` as ``App.history`` takes them
    (``since`` as ``history --since`` reads it); ``ValueError`` in words."""
    filters: dict[str, Any] = {"limit": API_HISTORY_LIMIT}
    for key in ("target", "feed"):
        if query.get(key):
            filters[key] = query[key]
    if query.get("q"):
        filters["text"] = query["q"][:200]
    state = query.get("status") or query.get("state")
    if state:
        if state not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        filters["state"] = state
    for key, low, high in (("limit", 1, HISTORY_LIMIT), ("before", 1, LARGEST_ID)):
        text = query.get(key)
        if text:
            if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
                raise ValueError(f"{key} must be a whole number from {low} to {high:,}")
            filters[key] = int(text)
    if query.get("since"):
        try:
            filters["since"] = since(query["since"], web.app.config.bot.timezone, web.now())
        except ValueError as error:
            raise ValueError(f"since: {error}") from None
    return filters
