"""The echo platform's client: JSON over HTTP with ``requests``, every failure translated
into FeedRelay's errors (``api.AuthError``, ``api.PostRejectedError``, ...) at this border."""

from __future__ import annotations

from typing import Any

import requests


class EchoAdapter:
    """Posts to ``url`` (``POST`` a JSON ``{"text", "link", "title"}``: ``{"id", "url"}``),
    looks posts up by link (``GET ?link=``) and names the account (``GET ?whoami=1``)."""

    def __init__(
        self,
        api: Any,
        *,
        target: str,
        url: str,
        token: str,
        limits: Any,
        session: requests.Session | None = None,
    ) -> None:
        self.api = api
        self.target = target
        self.url = url
        self.limits = limits
        self._token = token
        self._session = session or api.make_session()

    def publish(self, post: Any, media: Any = None) -> Any:
        body = {"text": post.text, "link": post.link, "title": post.title}
        answer = self._call("POST", json=body, creates=True)
        return self.api.Published(remote_id=str(answer["id"]), url=str(answer.get("url", "")))

    def find_existing(self, post: Any) -> Any:
        for found in self._call("GET", params={"link": post.link}, creates=False)["posts"]:
            if found.get("text") == post.text:
                return self.api.Published(remote_id=str(found["id"]), url=found.get("url", ""))
        return None

    def verify(self) -> str:
        return str(self._call("GET", params={"whoami": "1"}, creates=False)["account"])

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, *, creates: bool, **kwargs: Any) -> dict[str, Any]:
        api = self.api
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self._session.request(method, self.url, headers=headers, **kwargs)
        except requests.RequestException as error:
            raise api.request_error(
                error,
                service="the echo endpoint",
                target=self.target,
                creates=creates,
                secrets=[self._token],
            ) from error
        said = api.scrub(response.text[:200], [self._token])
        if response.status_code in (401, 403):
            raise api.AuthError(f"the endpoint refused the token: {said}", target=self.target)
        if response.status_code == 429:
            retry_at = api.retry_at(response.headers, now=_now(), default=_minutes(1))
            raise api.RateLimitedError(
                "the endpoint says: slow down", target=self.target, retry_at=retry_at
            )
        if response.status_code >= 500:
            failed = api.OutcomeUnknownError if creates else api.TransientError
            raise failed(
                f"the endpoint failed ({response.status_code}): {said}", target=self.target
            )
        if response.status_code >= 400:
            raise api.PostRejectedError(
                f"the endpoint refused it ({response.status_code}): {said}", target=self.target
            )
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as error:
            failed = api.OutcomeUnknownError if creates else api.TransientError
            raise failed(
                f"the endpoint's answer is not JSON: {said}", target=self.target
            ) from error
        return answer


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _minutes(count: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=count)
