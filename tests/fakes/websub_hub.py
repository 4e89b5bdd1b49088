"""A loopback WebSub hub that behaves as the W3C Recommendation says a hub does
(https://www.w3.org/TR/websub/, sections cited at each step), the way Google's
pubsubhubbub.appspot.com (the hub Blogger names) does it: it signs with sha1.

``hub.publish(topic)`` is the publisher's ping: the hub fetches the topic and distributes
it to every active subscriber. ``hub.publish(topic, forge=True)`` sends one with a wrong
signature; ``hub.deny_next(reason)`` refuses the next subscription; ``hub.lease_seconds``
is the lease the hub grants, whatever is asked (5.3.1: "MAY change the value").
``hub.requests`` records what subscribers sent, ``hub.verifications`` and
``hub.deliveries`` what the hub sent and the answers it got.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests

from tests.fakes.server import FakeServer, Request, Response


@dataclass
class Subscription:
    callback: str
    topic: str
    secret: str | None
    lease_seconds: int
    active: bool = False


@dataclass
class Sent:
    url: str
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class FakeHub(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.verifications: list[Sent] = []
        self.deliveries: list[Sent] = []
        self.lease_seconds: int | None = None  # None: the lease asked for, else this
        self.algorithm = "sha1"  # 7.1.1; Google's hub signs with SHA-1
        self._deny: list[str] = []
        self._work: list[threading.Thread] = []
        self.route("POST", r"/", self._subscribe)

    # -- 5.1 Subscriber Sends Subscription Request -----------------------------------------
    def _subscribe(self, request: Request) -> Response:
        if not request.header("content-type").startswith("application/x-www-form-urlencoded"):
            return Response(400, "5.1: Content-Type must be application/x-www-form-urlencoded")
        form = request.form()
        for key in ("hub.callback", "hub.mode", "hub.topic"):
            if not form.get(key):
                return Response(400, f"5.1: {key} is REQUIRED")
        mode = form["hub.mode"]
        if mode not in ("subscribe", "unsubscribe"):
            return Response(400, "5.1: hub.mode must be subscribe or unsubscribe")
        secret = form.get("hub.secret")
        if secret is not None and len(secret.encode()) >= 200:
            return Response(400, "5.1: hub.secret MUST be less than 200 bytes")
        asked = int(form.get("hub.lease_seconds") or 864000)
        subscription = Subscription(
            callback=form["hub.callback"],
            topic=form["hub.topic"],
            secret=secret,
            lease_seconds=self.lease_seconds or asked,
        )
        # 5.1.2: 202 Accepted, and verification after the answer (asynchronously).
        worker = threading.Thread(target=self._verify, args=(subscription, mode), daemon=True)
        self._work.append(worker)
        worker.start()
        return Response(202, "")

    def deny_next(self, reason: str = "") -> None:
        self._deny.append(reason)

    def _verify(self, subscription: Subscription, mode: str) -> None:
        key = (subscription.topic, subscription.callback)
        if self._deny and mode == "subscribe":
            # 5.2 Subscription Validation: a denial is a GET with hub.mode=denied.
            reason = self._deny.pop(0)
            query = {"hub.mode": "denied", "hub.topic": subscription.topic}
            if reason:
                query["hub.reason"] = reason
            self._get(subscription.callback, query)
            return
        # 5.3 Hub Verifies Intent of the Subscriber
        challenge = secrets.token_urlsafe(16)
        query = {
            "hub.mode": mode,
            "hub.topic": subscription.topic,
            "hub.challenge": challenge,
        }
        if mode == "subscribe":
            query["hub.lease_seconds"] = str(subscription.lease_seconds)
        sent = self._get(subscription.callback, query)
        # 5.3.1: only a 2xx whose body is the challenge verifies; anything else fails and
        # the subscription state is left unchanged (5.1).
        if not (200 <= sent.status < 300 and sent.body == challenge):
            return
        with self._lock:
            if mode == "subscribe":
                subscription.active = True
                self.subscriptions[key] = subscription  # a re-request overrides (5.1)
            else:
                self.subscriptions.pop(key, None)

    def _get(self, callback: str, query: dict[str, str]) -> Sent:
        # 5.1.1: the hub preserves the callback's own query string and appends its own.
        joiner = "&" if "?" in callback else "?"
        url = callback + joiner + urlencode(query)
        try:
            answer = requests.get(url, timeout=10)
            sent = Sent(url, answer.status_code, answer.text)
        except requests.RequestException as error:
            sent = Sent(url, 0, str(error))
        with self._lock:
            self.verifications.append(sent)
        return sent

    def settle(self, timeout: float = 10) -> None:
        """Wait until the verifications in flight are done."""
        for worker in list(self._work):
            worker.join(timeout)

    def active(self, topic: str) -> list[Subscription]:
        with self._lock:
            return [s for s in self.subscriptions.values() if s.topic == topic and s.active]

    # -- 6. Publishing / 7. Content Distribution -------------------------------------------
    def publish(self, topic: str, *, forge: bool = False, unsigned: bool = False) -> list[Sent]:
        """The publisher's ping (6: "the hub and the publisher can agree on any
        mechanism"): fetch the topic, POST its full content to each subscriber (7)."""
        content = requests.get(topic, timeout=10)
        sent = []
        for subscription in self.active(topic):
            body = content.content
            headers = {
                # 7: the topic's own Content-Type, and Link headers naming hub and self
                "Content-Type": content.headers.get("Content-Type", "application/atom+xml"),
                "Link": f'<{self.url}/>; rel="hub", <{topic}>; rel="self"',
            }
            if subscription.secret is not None and not unsigned:
                # 7.1: X-Hub-Signature: method=hex(HMAC(secret, body))
                key = ("not-the-secret" if forge else subscription.secret).encode()
                digest = hmac.new(key, body, getattr(hashlib, self.algorithm)).hexdigest()
                headers["X-Hub-Signature"] = f"{self.algorithm}={digest}"
            answer = requests.post(subscription.callback, data=body, headers=headers, timeout=10)
            delivered = Sent(subscription.callback, answer.status_code, answer.text, headers)
            with self._lock:
                self.deliveries.append(delivered)
            sent.append(delivered)
        return sent
