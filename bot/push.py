"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): each feed that names a hub
is subscribed to, so that a new post is fetched seconds after the hub hears of it.

The subscriber's side of the protocol, over the store (one ``PushSubscription`` per feed):
find the hub and the topic (4. Discovery), ask the hub (5.1), answer its verification of
intent (5.3) or its denial (5.2), renew before the lease ends (5.3.1), and check each
notification's signature (7.1). A notification only says *when* to look: the feed is then
fetched as every poll fetches it, conditionally, and the hub's copy is never read as the
content. Polling goes on at the usual interval as the fallback. What is due is decided in
``policy`` (``push_due``); the web face (``bot.web.websub``) calls ``verify``, ``deny``
and ``notified``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import urlsplit

import requests

from bot import feeds, policy
from bot.config import Config
from bot.errors import FeedError
from bot.model import Clock, PushSubscription, Tally
from bot.store import Store

log = logging.getLogger(__name__)

# A runner that takes a feed's subscription in hand holds it this long (another daemon on
# the same store leaves it alone meanwhile).
CLAIM = timedelta(minutes=5)
# 7.1.1 Recognized algorithm names
SIGNATURES: dict[str, Callable[[], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
LONGEST_CHALLENGE = 1024
CALLBACK_PATH = "/websub/"


@dataclass(frozen=True, kw_only=True)
class Advertised:
    """What a feed names for WebSub: its hubs and its own URL (the topic)."""

    hubs: tuple[str, ...]
    topic: str


def advertised(fetched: feeds.Fetched, parsed: feeds.ParsedFeed | None) -> Advertised | None:
    """4. Discovery: HTTP ``Link`` headers first, then the feed's own ``<link>`` elements;
    the topic is ``rel="self"`` (5.1: "this MUST be the "self" URL found during the
    discovery step"), else the address the feed was read from."""
    header = fetched.headers.get("link", "")
    links = requests.utils.parse_header_links(header) if header else []
    hubs = tuple(link["url"] for link in links if "hub" in link.get("rel", "").split())
    selves = [link["url"] for link in links if "self" in link.get("rel", "").split()]
    if hubs:
        return Advertised(hubs=hubs, topic=selves[0] if selves else fetched.url)
    if parsed is not None and parsed.hubs:
        return Advertised(hubs=parsed.hubs, topic=parsed.self_url or fetched.url)
    return None


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """7.1.2: ``X-Hub-Signature: method=signature`` is the HMAC of the body with the
    secret, by one of the recognized algorithms (Google's hub signs with sha1)."""
    if not header or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    digest = SIGNATURES.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class Pusher:
    """The WebSub subscriptions of one config's feeds, kept in one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        session: requests.Session,
        content_session: requests.Session,
    ) -> None:
        """``session`` fetches the feeds and asks a hub on a feed's own host;
        ``content_session`` (the address guard) asks any other hub: its address comes
        from the feed's content."""
        self.config = config
        self.store = store
        self.clock = clock
        self.session = session
        self.content_session = content_session

    @property
    def callback_base(self) -> str | None:
        web = self.config.web
        return web.public_url if web is not None else None

    def callback_url(self, sub: PushSubscription) -> str:
        assert sub.callback_base is not None and sub.callback_id is not None
        return f"{sub.callback_base}{CALLBACK_PATH}{sub.callback_id}"

    # -- the daemon's tick ---------------------------------------------------------------
    def run_due(self) -> None:
        """Look for hubs, subscribe, renew, and unsubscribe feeds that left the config;
        one feed's trouble never stops the others."""
        base = self.callback_base
        if base is None:
            return
        subs = self.store.push_subscriptions()
        for name in self.config.feeds:
            sub = subs.get(name)
            if policy.push_due(sub, self.clock(), callback_base=base):
                self._subscribe(name, sub, base)
        for name, sub in subs.items():
            if name not in self.config.feeds:
                self._unsubscribe(sub)

    def _claim(self, name: str, sub: PushSubscription | None) -> PushSubscription | None:
        now = self.clock()
        claimed = replace(
            sub or PushSubscription(feed=name, state="none"), next_attempt_at=now + CLAIM
        )
        if not self.store.save_push_subscription(claimed, over=sub.version if sub else None):
            return None  # another runner is at it
        return replace(claimed, version=(sub.version if sub else 0) + 1)

    def _save(self, sub: PushSubscription, **changes: object) -> PushSubscription | None:
        changed = replace(sub, **changes)  # type: ignore[arg-type]
        if not self.store.save_push_subscription(changed, over=sub.version):
            return None
        return replace(changed, version=sub.version + 1)

    def _subscribe(self, name: str, sub: PushSubscription | None, base: str) -> None:
        claimed = self._claim(name, sub)
        if claimed is None:
            return
        now = self.clock()
        found = self._discover(name, claimed)
        if found is None:
            return
        hub_url = next((url for url in map(policy.push_hub, found.hubs) if url), None)
        if hub_url is None:
            self._save(
                claimed,
                state="none",
                discovered_at=now,
                next_attempt_at=None,
                error=f"the feed names no http(s) hub ({', '.join(found.hubs)})",
            )
            return
        same = (claimed.hub, claimed.topic, claimed.callback_base) == (hub_url, found.topic, base)
        if claimed.state == "refused" and same:
            self._save(claimed, discovered_at=now, next_attempt_at=None)
            return
        if not same or claimed.callback_id is None or claimed.secret is None:
            # A new subscription: a new capability URL and a new secret (5.1.1, 8.2).
            claimed = replace(
                claimed,
                hub=hub_url,
                topic=found.topic,
                callback_base=base,
                callback_id=secrets.token_urlsafe(24),
                secret=secrets.token_hex(32),
                lease_until=None,
                verified_at=None,
            )
        # Recorded before the request: the hub may verify before it answers (5.1.2).
        asked = self._save(
            claimed,
            state="requested" if claimed.state != "subscribed" else "subscribed",
            requested_at=now,
            discovered_at=now,
            next_attempt_at=None,
            error=None if claimed.state != "subscribed" else claimed.error,
        )
        if asked is None:
            return
        self._ask(asked, "subscribe")

    def _discover(self, name: str, sub: PushSubscription) -> Advertised | None:
        """The feed's hub and topic, fetched as polling fetches the feed; ``None`` (the
        subscription updated) when the feed cannot be read or names no hub."""
        now = self.clock()
        url = self.config.feed_url(name)
        try:
            fetched = feeds.fetch(
                self.session,
                feed=name,
                url=url,
                max_bytes=self.config.bot.max_feed_bytes,
                now=now,
            )
            parsed = feeds.parse(name, fetched) if fetched.body is not None else None
        except FeedError as error:
            self._failed(sub, f"cannot read the feed to find its hub: {error}")
            return None
        found = advertised(fetched, parsed)
        if found is None:
            self._save(sub, state="none", discovered_at=now, next_attempt_at=None, error=None)
        return found

    def _ask(self, sub: PushSubscription, mode: str) -> None:
        """5.1: a form POST to the hub; 2xx means it will verify (5.1.2)."""
        assert sub.hub is not None and sub.topic is not None
        form = {
            "hub.callback": self.callback_url(sub),
            "hub.mode": mode,
            "hub.topic": sub.topic,
            "hub.lease_seconds": str(int(policy.PUSH_LEASE.total_seconds())),
        }
        if mode == "subscribe" and sub.secret and policy.push_may_sign(sub.hub):
            form["hub.secret"] = sub.secret
        session = self.session if self._feeds_own_host(sub) else self.content_session
        try:
            with session.post(sub.hub, data=form, timeout=(10, 30)) as answer:
                status, text = answer.status_code, answer.text[:200].strip()
        except requests.RequestException as error:
            self._failed(sub, f"cannot reach the hub {sub.hub}: {type(error).__name__}")
            return
        if 200 <= status < 300:
            log.info("feed %s: asked %s to %s %s", sub.feed, sub.hub, mode, sub.topic)
            return
        if 400 <= status < 500:
            reason = f"the hub {sub.hub} answered {status}" + (f": {text}" if text else "")
            log.warning("feed %s: %s", sub.feed, reason)
            if mode == "subscribe":
                self._save(sub, state="refused", error=reason, next_attempt_at=None)
            return
        self._failed(sub, f"the hub {sub.hub} answered {status}")

    def _failed(self, sub: PushSubscription, reason: str) -> None:
        log.warning("feed %s: WebSub: %s", sub.feed, reason)
        attempts = sub.attempts + 1
        state = sub.state if sub.state == "subscribed" else "failing"
        self._save(
            sub,
            state=state,
            attempts=attempts,
            error=reason,
            next_attempt_at=policy.push_retry_at(attempts, self.clock()),
        )

    def _feeds_own_host(self, sub: PushSubscription) -> bool:
        """A hub on the feed's own host is the operator's, as the feed is."""
        if sub.feed not in self.config.feeds:
            return False
        feed_host = urlsplit(self.config.feed_url(sub.feed)).hostname
        return feed_host is not None and urlsplit(sub.hub or "").hostname == feed_host

    def _unsubscribe(self, sub: PushSubscription) -> None:
        """A feed that left the config: the hub is asked to stop (5.1), and the record
        goes when the hub confirms or the lease ends."""
        now = self.clock()
        if sub.state in ("subscribed", "requested") and sub.hub and sub.callback_id:
            asked = self._save(sub, state="unsubscribing", requested_at=now)
            if asked is not None:
                session = self.content_session
                form = {
                    "hub.callback": self.callback_url(asked),
                    "hub.mode": "unsubscribe",
                    "hub.topic": asked.topic or "",
                }
                try:
                    session.post(asked.hub or "", data=form, timeout=(10, 30)).close()
                except requests.RequestException as error:
                    log.info("feed %s: could not unsubscribe: %s", sub.feed, error)
            return
        ended = sub.lease_until is None or sub.lease_until <= now
        if sub.state != "unsubscribing" or ended:
            self.store.delete_push_subscription(sub.feed, over=sub.version)

    # -- what the hub sends to the callback ----------------------------------------------
    def verify(self, callback_id: str, mode: str, topic: str, challenge: str, lease: str) -> bool:
        """5.3.1: ``True`` (echo the challenge) when ``topic`` is the one this callback
        asked for, in this mode; ``False`` (404) for anything else."""
        if not challenge or len(challenge) > LONGEST_CHALLENGE:
            return False
        for _ in range(3):  # a concurrent change: look again
            sub = self.store.push_subscription(callback_id=callback_id)
            if sub is None or sub.topic != topic:
                return False
            now = self.clock()
            if mode == "unsubscribe":
                if sub.state != "unsubscribing":
                    return False
                if self.store.delete_push_subscription(sub.feed, over=sub.version):
                    return True
                continue
            wanted = sub.feed in self.config.feeds and sub.callback_base == self.callback_base
            if mode != "subscribe" or sub.state not in ("requested", "subscribed") or not wanted:
                return False
            seconds = int(lease) if lease.isascii() and lease.isdigit() else 0
            seconds = seconds or int(policy.PUSH_LEASE.total_seconds())
            seconds = min(seconds, int(policy.LONGEST_PUSH_LEASE.total_seconds()))
            if self._save(
                sub,
                state="subscribed",
                lease_until=now + timedelta(seconds=seconds),
                verified_at=now,
                attempts=0,
                error=None,
                next_attempt_at=None,
            ):
                log.info("feed %s: subscribed at %s for %ds", sub.feed, sub.hub, seconds)
                return True
        return False

    def deny(self, callback_id: str, topic: str, reason: str) -> None:
        """5.2: the hub refused the subscription (now, or after it was accepted)."""
        sub = self.store.push_subscription(callback_id=callback_id)
        if sub is None or sub.topic != topic:
            return
        why = "the hub denied the subscription" + (f": {reason[:200]}" if reason else "")
        log.warning("feed %s: %s", sub.feed, why)
        self._save(sub, state="refused", error=why, next_attempt_at=None, lease_until=None)

    def notified(self, callback_id: str, body: bytes, signature: str | None) -> str | None:
        """7. A content distribution: the feed to poll now when its signature checks out
        with our secret, else ``None`` (the notification is counted as forged and
        ignored, 7.1.2). ``KeyError`` when no live subscription has this callback."""
        sub = self.store.push_subscription(callback_id=callback_id)
        if sub is None or sub.state not in ("subscribed", "requested") or sub.secret is None:
            raise KeyError(callback_id)
        valid = signature_ok(sub.secret, body, signature)
        result = "valid" if valid else "forged"
        self.store.add_tallies([Tally.of("push_notifications", feed=sub.feed, result=result)])
        if not valid:
            log.warning(
                "feed %s: a WebSub notification with a %s signature was ignored",
                sub.feed,
                "missing" if not signature else "wrong",
            )
            return None
        log.info("feed %s: the hub says it changed; fetching it now", sub.feed)
        return sub.feed
