"""The WebSub callback, ``/websub/{callback_id}`` (an unguessable capability URL, 5.1.1):
GET is the hub's verification of intent (5.3) or its denial (5.2); POST is a content
distribution (7), whose signed body makes the daemon fetch that feed now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

if TYPE_CHECKING:
    from bot.web.app import Web


def endpoint(web: Web) -> Callable[[Request], Awaitable[Response]]:
    async def callback(request: Request) -> Response:
        callback_id = request.path_params["callback_id"]
        push = web.app.push
        if request.method == "GET":
            query = request.query_params
            mode = query.get("hub.mode", "")
            topic = query.get("hub.topic", "")
            if mode == "denied":
                await web.run(push.deny, callback_id, topic, query.get("hub.reason", ""))
                return PlainTextResponse("")
            challenge = query.get("hub.challenge", "")
            lease = query.get("hub.lease_seconds", "")
            if await web.run(push.verify, callback_id, mode, topic, challenge, lease):
                return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})
            return PlainTextResponse("no such pending subscription", status_code=404)
        body = await request.body()
        signature = request.headers.get("x-hub-signature")
        try:
            feed = await web.run(push.notified, callback_id, body, signature)
        except KeyError:
            # 7: "MAY return an HTTP 410 code to indicate that the subscription has been
            # deleted"
            return PlainTextResponse("no such subscription", status_code=410)
        if feed is not None:
            web.loops.poll_now(feed)
        # 7: a 2xx acknowledges receipt, valid or not (7.1.2: a forged one is ignored
        # here, and acknowledged so that its sender learns nothing).
        return PlainTextResponse("", status_code=202)

    return callback
