"""What the operator reads: status, history and previews.

Status is a handful of aggregate and indexed queries, never a loop over the history, so it
costs the same with ten deliveries or a million.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters import spec
from bot import names, policy
from bot.config import Config
from bot.errors import FeedError
from bot.model import Delivery, DeliveryState, Entry, FeedState, Post, PushSubscription
from bot.routes import route
from bot.store import HeldCount, Runner, Store, lock_holder
from bot.targets import cost_of, describe_for, render_for, rules_for
from bot.text.render import Rendered, budget_of

if TYPE_CHECKING:  # the feed readers import feedparser and bs4: only preview needs them
    from bot.ingest import Poller

ATTENTION_LIMIT = 50
# A runner that has not sent a heartbeat for this long is taken for dead in ``status``.
HEARTBEAT_STALE_S = 180


@dataclass(frozen=True, kw_only=True)
class TargetReport:
    name: str
    platform: str
    counts: dict[str, int]
    paused_until: datetime | None = None
    pause_reason: str | None = None
    pause_kind: str | None = None
    rate_limited_until: datetime | None = None
    # The platform refuses to show the account's posts: unknown outcomes wait for a person.
    lookups_refused: str | None = None
    last_sent_at: datetime | None = None
    next_post_at: datetime | None = None
    held: dict[str, int] = field(default_factory=dict)  # held rows by reason
    budget_usd: float = 0.0
    spent_usd: float = 0.0


@dataclass(frozen=True, kw_only=True)
class HeldGroup:
    """Held deliveries that wait for one thing and are released by one command: a flood of
    one feed (on every target it posts to), or one target's posts waiting for approval,
    the budget, new credentials, or something older (``held_for`` ``"other"``)."""

    held_for: str
    feed: str | None  # a flood's feed
    target: str | None  # the target, for every other reason
    by_target: dict[str, int]
    what: str  # "a flood of feed blog", "approval on x"
    release: str  # what releases them, with the command

    @property
    def count(self) -> int:
        return sum(self.by_target.values())


@dataclass(frozen=True, kw_only=True)
class Status:
    feeds: dict[str, FeedState | None]
    targets: list[TargetReport]
    # Deliveries that need a person (failed, held, unknown that cannot be looked up) and
    # those that will be tried or looked up again by themselves, each at its due_at.
    needs_person: list[Delivery]
    will_retry: list[Delivery]
    held: list[HeldGroup] = field(default_factory=list)
    in_flight: list[Delivery]
    runners: list[Runner]
    holder_pid: int | None  # the runner holding the store's lock, if one does
    now: datetime
    # Each feed's WebSub subscription, when [web] public_url turns push on (else None).
    push: dict[str, PushSubscription] | None = None


@dataclass(frozen=True, kw_only=True)
class PreviewItem:
    entry: Entry
    target: str
    platform: str
    rendered: Rendered
    # Why the route's filters keep the entry out (``policy.filtered``), or None.
    filtered: str | None = None
    # Where the route's own table is, and the keys it sets (none: it has no table).
    route_table: str = ""
    route_keys: tuple[str, ...] = ()

    @property
    def skip_reason(self) -> str | None:
        """Why this entry would not go to this target: the filters first, then the post."""
        return self.filtered or self.rendered.skip_reason


def status(config: Config, store: Store, now: datetime) -> Status:
    counts = store.counts()
    held = store.held_counts()
    states = store.target_states()
    due = store.next_due()
    targets = []
    for name in sorted(set(config.targets) | set(counts)):
        state = states.get(name)
        platform = config.targets[name].platform if name in config.targets else "(removed)"
        rules = rules_for(config, name) if name in config.targets else None
        next_post = due.get(name)
        if state is not None and rules is not None and next_post is not None:
            wait = policy.target_wait(state, rules, now)
            if wait is not None:
                next_post = max(next_post, wait.until) if wait.until else None
        spent = policy.spent_this_month(state, rules, now) if state and rules else 0.0
        paused = state is not None and state.paused_at(now)
        limited = state is not None and state.rate_limited_until and state.rate_limited_until > now
        targets.append(
            TargetReport(
                name=name,
                platform=platform,
                counts=counts.get(name, {}),
                paused_until=state.paused_until if state and paused else None,
                pause_reason=state.pause_reason if state and paused else None,
                pause_kind=state.pause_kind if state and paused else None,
                lookups_refused=state.lookups_refused if state else None,
                rate_limited_until=state.rate_limited_until if state and limited else None,
                last_sent_at=state.last_sent_at if state else None,
                next_post_at=next_post,
                held=held.get(name, {}),
                budget_usd=rules.monthly_budget if rules else 0.0,
                spent_usd=spent,
            )
        )
    feed_states = store.feed_states()
    attention = store.attention(limit=ATTENTION_LIMIT * 3)
    platforms = {name: target.platform for name, target in config.targets.items()}
    return Status(
        feeds={name: feed_states.get(name) for name in config.feeds},
        targets=targets,
        needs_person=[d for d in attention if d.state in _NEEDS_PERSON][:ATTENTION_LIMIT],
        will_retry=[d for d in attention if d.state in _RETRIES][:ATTENTION_LIMIT],
        in_flight=[d for d in attention if d.state is DeliveryState.SENDING][:ATTENTION_LIMIT],
        held=held_groups(store.held_by_reason(), platforms),
        runners=[r for r in store.runners() if _alive(r, now)],
        holder_pid=None if config.database_url else lock_holder(config.database_path),
        now=now,
        push=store.push_subscriptions() if config.web and config.web.public_url else None,
    )


_NEEDS_PERSON = (DeliveryState.FAILED, DeliveryState.HELD)
_RETRIES = (DeliveryState.RETRY, DeliveryState.UNKNOWN)


def held_groups(counts: list[HeldCount], platforms: dict[str, str]) -> list[HeldGroup]:
    """Held deliveries grouped by what releases them: a flood by its feed, anything else by
    its target; each with what it waits for and the command that releases it
    (``platforms``: each configured target's platform, for ``auth``)."""
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for item in counts:
        if item.held_for == policy.UNKNOWN_HOLD:
            continue  # each its own: only a person can tell (status lists them under needs you)
        why = item.held_for or "other"
        key = (why, item.feed if why == "flood" else item.target)
        by_target = groups.setdefault(key, {})
        by_target[item.target] = by_target.get(item.target, 0) + item.count
    return [
        _held_group(why, name, by_target, platforms)
        for (why, name), by_target in sorted(groups.items(), key=_held_order)
    ]


_HELD_ORDER = ("credentials", "flood", "approval", "budget")


def _held_order(item: tuple[tuple[str, str], dict[str, int]]) -> tuple[int, str]:
    (why, name), _ = item
    return (_HELD_ORDER.index(why) if why in _HELD_ORDER else len(_HELD_ORDER), name)


def _held_group(
    why: str, name: str, by_target: dict[str, int], platforms: dict[str, str]
) -> HeldGroup:
    them = "it" if sum(by_target.values()) == 1 else "them"
    if why == "flood":
        return HeldGroup(
            held_for=why,
            feed=name,
            target=None,
            by_target=by_target,
            what=f"as a flood of feed {name} (re-dated entries)",
            release=f"`feedrelay approve --feed {name}` posts {them}; `feedrelay skip ID`"
            " drops one",
        )
    if why == "approval":
        what, release = (
            f"for approval on {name}",
            f"`feedrelay approve --target {name} --all` (or `feedrelay approve ID`)",
        )
    elif why == "budget":
        what = f"for the monthly budget of {name}"
        release = f"the next month releases {them} (or raise monthly_budget)"
    elif why == policy.HELD_FOR_CREDENTIALS:
        platform = platforms.get(name)
        auth = platform is not None and spec(platform).auth is not None
        what = f"for {name}'s credentials, refused"
        release = (
            f"{them} {'goes' if them == 'it' else 'go'} when the pause lifts: at the next start"
            " with new credentials"
            + (f" (`feedrelay auth {platform}`)" if auth else "")
            + f", or with `feedrelay resume {name}`"
        )
    else:
        what = f"on {name}"
        release = f"`feedrelay approve --target {name} --all`"
    return HeldGroup(
        held_for=why, feed=None, target=name, by_target=by_target, what=what, release=release
    )


def _alive(runner: Runner, now: datetime) -> bool:
    return (now - runner.heartbeat_at).total_seconds() < HEARTBEAT_STALE_S


def preview(
    config: Config, poller: Poller, feed: str | None = None, *, limit: int = 3
) -> list[PreviewItem]:
    """The latest entries of each feed (or one) rendered for each of its targets, each in
    its route's words, with the reason where the route's filters keep it out."""
    from bot import feeds
    from bot.ingest import publication_order

    chosen = [names.feed(config.feeds, feed)] if feed else list(config.feeds)
    items = []
    for name in chosen:
        fetched = poller.fetch(name, None)
        if isinstance(fetched, FeedError):
            raise fetched
        assert fetched.body is not None
        entries = feeds.parse(name, fetched).entries
        latest = publication_order(entries)[-limit:] if limit > 0 else []
        for entry in reversed(latest):
            for target_name in config.feeds[name].targets:
                found = route(config, name, target_name)
                items.append(
                    PreviewItem(
                        entry=entry,
                        target=target_name,
                        platform=config.targets[target_name].platform,
                        rendered=render_for(config, entry, target_name),
                        filtered=policy.filtered(entry, found.filters),
                        route_table=found.table,
                        route_keys=found.keys,
                    )
                )
    return items


SCHEDULE_LIMIT = 500  # per target
# What the schedule plans (store.waiting): the rows that go out by themselves, or on approval.
PLANNED_STATES = (DeliveryState.QUEUED, DeliveryState.RETRY, DeliveryState.HELD)


def schedule(
    config: Config, store: Store, now: datetime, *, target: str | None = None
) -> dict[str, list[policy.Planned]]:
    """Per target, when each queued or held delivery is planned to go, and why it waits."""
    if target is not None:
        target = names.target(config.targets, target)
    plans = {}
    for name in [target] if target else list(config.targets):
        waiting = store.waiting(target=name, limit=SCHEDULE_LIMIT)
        costs = {d.id: cost_of(config, name, d.post) for d in waiting}
        plans[name] = policy.plan_queue(
            waiting, store.target_state(name), rules_for(config, name), now, costs=costs
        )
    return plans


def planned_times(
    config: Config, store: Store, now: datetime, rows: Sequence[Delivery]
) -> dict[int, datetime | None]:
    """When the schedule will send each of ``rows`` that it plans (queued, retry, held; the
    time is ``None`` for one that waits for a person), by delivery id: ``schedule``'s
    ``planned_at``, for ``history``. Rows it does not plan are left out."""
    planned: dict[int, datetime | None] = {}
    waiting = {d.target for d in rows if d.state in PLANNED_STATES and d.target in config.targets}
    for name in sorted(waiting):
        for plan in schedule(config, store, now, target=name)[name]:
            planned[plan.delivery.id] = plan.at
    return planned


def history_json(
    rows: Sequence[Delivery], planned: Mapping[int, datetime | None]
) -> list[dict[str, Any]]:
    """``history --json``: each delivery with ``planned_at``, as ``schedule --json`` gives
    it (``null`` when the schedule does not plan it, or it waits for a person)."""
    return [{**delivery_json(d), "planned_at": iso(planned.get(d.id))} for d in rows]


def schedule_json(plans: dict[str, list[policy.Planned]]) -> list[dict[str, Any]]:
    return [
        {
            **delivery_json(plan.delivery),
            "planned_at": iso(plan.at),
            "waits_for": plan.reason,
        }
        for planned in plans.values()
        for plan in planned
    ]


# -- JSON ----------------------------------------------------------------------------------
def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    waiting = delivery.state in (DeliveryState.QUEUED, DeliveryState.RETRY, DeliveryState.UNKNOWN)
    return {
        "id": delivery.id,
        "feed": delivery.feed,
        "entry_id": delivery.entry_key,
        "link": delivery.link,
        "title": delivery.title,
        "target": delivery.target,
        "platform": delivery.platform,
        "status": delivery.state.value,
        "attempts": delivery.attempts,
        "remote_id": delivery.remote_id,
        "remote_url": delivery.remote_url,
        "error": delivery.error,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
        "due_at": iso(delivery.due_at) if waiting else None,
        "text": delivery.post.text or delivery.post.title,
    }


def push_json(sub: PushSubscription | None) -> dict[str, Any]:
    """A feed's WebSub state for people and tools; never its secret or callback."""
    if sub is None:
        return {"state": "not looked for yet"}
    shown = {
        "none": "not offered",
        "requested": "requested",
        "subscribed": "subscribed",
        "refused": "refused",
        "failing": "failing",
        "unsubscribing": "unsubscribing",
    }.get(sub.state, sub.state)
    answer: dict[str, Any] = {"state": shown, "hub": sub.hub, "topic": sub.topic}
    if sub.state == "subscribed":
        answer["until"] = iso(sub.lease_until)
    if sub.state == "requested":
        answer["requested_at"] = iso(sub.requested_at)
    if sub.state == "failing":
        answer["next_try_at"] = iso(sub.next_attempt_at)
    if sub.error and sub.state in ("refused", "failing", "none"):
        answer["error"] = sub.error
    return answer


def status_json(report: Status) -> dict[str, Any]:
    def feed(name: str, state: FeedState | None) -> dict[str, Any]:
        answer = _feed(name, state)
        if report.push is not None:
            answer["push"] = push_json(report.push.get(name))
        return answer

    def _feed(name: str, state: FeedState | None) -> dict[str, Any]:
        if state is None or state.last_checked_at is None:
            return {"name": name, "status": "not polled yet"}
        health = "gone" if state.gone else "failing" if state.last_error else "ok"
        if health == "ok" and state.last_warning:
            health = "warning"
        return {
            "name": name,
            "status": health,
            "url": state.url,
            "last_checked_at": iso(state.last_checked_at),
            "next_check_at": None if state.gone else iso(state.next_check_at),
            "error": state.last_error,
            "error_count": state.error_count,
            "warning": state.last_warning,
        }

    return {
        "now": iso(report.now),
        "daemon": {
            "lock_held_by_pid": report.holder_pid,
            "runners": [
                {
                    "id": r.id,
                    "pid": r.pid,
                    "host": r.host,
                    "mode": r.mode,
                    "started_at": iso(r.started_at),
                    "heartbeat_at": iso(r.heartbeat_at),
                }
                for r in report.runners
            ],
        },
        "feeds": [feed(name, state) for name, state in report.feeds.items()],
        "targets": [
            {
                "name": t.name,
                "platform": t.platform,
                "counts": t.counts,
                "paused_until": iso(t.paused_until),
                "pause_reason": t.pause_reason,
                "paused": t.pause_reason is not None,
                "pause_kind": t.pause_kind,
                "lookups_refused": t.lookups_refused,
                "rate_limited_until": iso(t.rate_limited_until),
                "last_sent_at": iso(t.last_sent_at),
                "next_post_at": iso(t.next_post_at),
                "held": t.held,
                "budget_usd": t.budget_usd or None,
                "spent_usd": round(t.spent_usd, 4) if t.budget_usd else None,
                "budget_left_usd": round(t.budget_usd - t.spent_usd, 4) if t.budget_usd else None,
            }
            for t in report.targets
        ],
        "held": [
            {
                "held_for": group.held_for,
                "feed": group.feed,
                "target": group.target,
                "count": group.count,
                "by_target": group.by_target,
                "waits": group.what,
                "release": group.release,
            }
            for group in report.held
        ],
        "needs_attention": [delivery_json(d) for d in report.needs_person],
        "will_retry": [delivery_json(d) for d in report.will_retry],
        "in_flight": [delivery_json(d) for d in report.in_flight],
    }


# -- dry runs and previews as JSON: one object per post ------------------------------------
WOULD_POST = "would_post"


def post_json(
    config: Config,
    *,
    target: str,
    platform: str,
    post: Post,
    status: str,
    feed: str,
    entry_id: str,
    link: str,
    title: str,
    reason: str | None = None,
    due_at: datetime | None = None,
    budget: str | None = None,
) -> dict[str, Any]:
    """One post as ``run --dry-run --json`` and ``preview --json`` print it: its length as
    its platform's spec describes it (``budget``: the render's own account, where there is
    one, else that length in one line)."""
    settings = config.targets.get(target)
    length = describe_for(platform, post).length
    if budget is None:
        budget = budget_of(length)
    return {
        "status": status,
        "reason": reason,
        "feed": feed,
        "entry_id": entry_id,
        "link": link,
        "title": title,
        "target": target,
        "platform": platform,
        "destination": settings.destination() if settings else {"account": None},
        "post": post.to_dict(),
        "length": length,
        "budget": budget,
        "due_at": iso(due_at),
    }


def _stored_post_json(config: Config, delivery: Delivery, status: str) -> dict[str, Any]:
    waiting = status not in (WOULD_POST, DeliveryState.SKIPPED.value)
    return post_json(
        config,
        target=delivery.target,
        platform=delivery.platform,
        post=delivery.post,
        status=status,
        feed=delivery.feed,
        entry_id=delivery.entry_key,
        link=delivery.link,
        title=delivery.title,
        reason=delivery.error if status != WOULD_POST else None,
        due_at=delivery.due_at if waiting else None,
    )


def dry_run_json(
    config: Config, sent: list[Delivery], later: list[Delivery], skipped: list[Delivery]
) -> list[dict[str, Any]]:
    """What a dry run would do: the posts that would go out now (``would_post``), those that
    wait (``queued``, ``held``, ...: ``due_at`` and, for held ones, the ``reason``), and the
    deliveries skipped (``skipped`` with the ``reason``)."""
    return (
        [_stored_post_json(config, d, WOULD_POST) for d in sent]
        + [_stored_post_json(config, d, d.state.value) for d in later]
        + [_stored_post_json(config, d, DeliveryState.SKIPPED.value) for d in skipped]
    )


def preview_json(config: Config, items: list[PreviewItem]) -> list[dict[str, Any]]:
    """The entries as each target would post them (``would_post``), or why not
    (``skipped`` with the ``reason``: a route's filter, or the post), with each post's
    length budget: one object per (entry, target)."""
    return [
        post_json(
            config,
            target=item.target,
            platform=item.platform,
            post=item.rendered.post,
            status=DeliveryState.SKIPPED.value if item.skip_reason else WOULD_POST,
            reason=item.skip_reason,
            feed=item.entry.feed,
            entry_id=item.entry.key,
            link=item.entry.link,
            title=item.entry.title,
            budget=item.rendered.budget,
        )
        for item in items
    ]
