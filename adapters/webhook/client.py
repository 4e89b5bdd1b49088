"""Webhook adapter: one signed POST per delivery, on ``requests``, signed with the
``standardwebhooks`` package (Standard Webhooks, spec/standard-webhooks.md).

Headers: ``webhook-id`` (the delivery's identifier, stored in ``Post.slug``: the same on every
retry), ``webhook-timestamp`` (epoch seconds at sending: the receiver checks freshness) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body`` under the
secret), signed at each attempt over the stored body's exact bytes.

Answers, as the spec suggests: 2xx is delivered (a JSON ``id``/``url`` in the answer is
recorded); 410 Gone, a permanent redirect and a refused token stop the target's deliveries
(``AuthError``: the target pauses until the URL or a credential changes, or ``resume``); 429,
and a 5xx with ``Retry-After``, wait that long; 400/413/415/422 refuse this body; anything
else is retried with the usual backoff. Redirects are never followed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from standardwebhooks import Webhook

from adapters.base import Limits, make_session, request_error, retry_at, scrub
from adapters.webhook.spec import LIMITS, origin, secret_bytes
from bot.errors import (
    AuthError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import MediaFile, Post, Published

RATE_LIMIT_WAIT = timedelta(minutes=5)  # a 429 without Retry-After
BODY_REFUSED = {400, 413, 415, 422}  # this body cannot go, however often it is sent
PERMANENT_REDIRECTS = {301, 308}
MAX_REMOTE_ID = 200
MAX_REMOTE_URL = 2000


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class WebhookAdapter:
    """One receiver URL, with its signing secret and extra headers (``Authorization``...)."""

    limits: ClassVar[Limits] = LIMITS

    def __init__(
        self,
        *,
        target: str,
        url: str,
        secret: str,
        headers: Mapping[str, str] | None = None,
        check: str = "head",
        session: requests.Session | None = None,
    ) -> None:
        self.target = target
        self.url = url
        self.receiver = origin(url)
        self.check = check
        self._signer = Webhook(secret_bytes(secret))
        self._headers = dict(headers or {})
        self._session = session or make_session()
        self._head_status: int | None = None
        parts = urlsplit(url)
        where = parts.path + (f"?{parts.query}" if parts.query else "")
        # The URL's path may be a token (hooks.zapier.com/hooks/catch/...): never shown.
        # A header's value and its token alone ("Bearer TOKEN").
        tokens = [part for v in self._headers.values() for part in (v, v.split()[-1] if v else v)]
        self._secrets = [secret, url, *tokens, *([where] if len(where) > 1 else [])]

    def __repr__(self) -> str:
        return f"WebhookAdapter(target={self.target!r})"

    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        """POST the stored body, signed now; ``media`` is unused (the image goes by URL)."""
        if not post.slug or not post.body:
            raise PostRejectedError(
                "not a webhook delivery (no body or webhook-id): post it again with --force",
                target=self.target,
            )
        body = post.body.encode("utf-8")
        sent_at = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
        headers = {
            **self._headers,
            "content-type": "application/json",
            "webhook-id": post.slug,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(post.slug, sent_at, body),
        }
        with self._errors(sending=True):
            response = self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            )
        if not 200 <= response.status_code < 300:
            raise self._from_response(response, "delivery")
        answer = _json(response)
        remote_id, url = answer.get("id"), answer.get("url")
        if isinstance(remote_id, bool) or not isinstance(remote_id, (str, int)) or remote_id == "":
            remote_id = post.slug  # the receiver named none: the delivery's own identifier
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            url = ""
        return Published(remote_id=str(remote_id)[:MAX_REMOTE_ID], url=url[:MAX_REMOTE_URL])

    def verify(self) -> str:
        """Reach the receiver without delivering anything: a HEAD request (any answer but
        410 means it is there), or nothing with ``check = "none"``. Returns its origin."""
        if self.check == "none":
            return f'{self.receiver} (not checked: check = "none")'
        with self._errors(sending=False):
            response = self._session.head(self.url, headers=self._headers, allow_redirects=False)
        if response.status_code == 410 or response.status_code in PERMANENT_REDIRECTS:
            raise self._from_response(response, "check")
        self._head_status = response.status_code
        return self.receiver

    def problems(self) -> list[str]:
        """What the HEAD answer suggests would stop deliveries (empty before ``verify``)."""
        status = self._head_status
        if status in (401, 403):
            return [
                f"the receiver answered {status} to a HEAD request: if it checks a token,"
                f" check headers in [targets.{self.target}] (a receiver that wants a signed"
                ' request for every method answers so too; set check = "none" then)'
            ]
        if status is not None and status >= 500:
            return [f"the receiver answered {status}: it may be down"]
        return []

    def close(self) -> None:
        self._session.close()

    @contextmanager
    def _errors(self, *, sending: bool) -> Iterator[None]:
        """``requests`` failures; ``sending``: a lost answer may hide a delivery that the
        receiver took (a re-send carries the same webhook-id, which it drops)."""
        try:
            yield
        except requests.RequestException as e:
            raise request_error(
                e,
                service=f"webhook {self.receiver}",
                target=self.target,
                creates=sending,
                secrets=self._secrets,
            ) from e

    def _from_response(self, response: requests.Response, action: str) -> PublishError:
        status, now, target = response.status_code, datetime.now(UTC), self.target
        said = scrub(response.text[:200].strip(), self._secrets) if response.text else ""
        message = f"webhook {action} to {self.receiver}: {status} {response.reason or ''}".rstrip()
        message += f": {said}" if said and "<" not in said[:1] else ""
        if status == 410:
            return AuthError(
                f"{message}; the receiver is gone and wants no more deliveries: set a new url"
                f" in [targets.{target}], or remove the target",
                target=target,
                pause_as="the receiver is gone",
                fix=f"set a new url in [targets.{target}], or remove the target",
            )
        if status in PERMANENT_REDIRECTS:
            moved = scrub(response.headers.get("Location", "?"), self._secrets)
            return AuthError(
                f"{message}; the receiver moved to {moved}: set url in [targets.{target}]",
                target=target,
                pause_as="the receiver moved",
                fix=f"set url in [targets.{target}] to where it moved",
            )
        if status in (401, 403):
            return AuthError(
                f"{message}; the receiver refused the request: check secret and headers in"
                f" [targets.{target}] against what it expects",
                target=target,
            )
        if status == 429:
            when = retry_at(response.headers, now=now, default=RATE_LIMIT_WAIT)
            return RateLimitedError(message, target=target, retry_at=when)
        if status >= 500 and "retry-after" in {k.lower() for k in response.headers}:
            when = retry_at(response.headers, now=now, default=RATE_LIMIT_WAIT)
            return RateLimitedError(message, target=target, retry_at=when)
        if status in BODY_REFUSED:
            return PostRejectedError(message, target=target)
        # Standard Webhooks: any other answer is a failed delivery, to retry with backoff.
        # The receiver did not take it (not 2xx), so it certainly is not there.
        return TransientError(message, target=target)
