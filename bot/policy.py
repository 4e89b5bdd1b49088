"""Every scheduling, retry and safety rule: pure functions of state and a clock.

Nothing here does I/O or reads the time: the callers (``ingest``, ``dispatch``) pass the
state they read from the store and ``now``, and carry out what comes back. A rule is then a
one-line unit test, not a daemon run.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from bot.errors import (
    AllowanceError,
    AuthError,
    CannotResendError,
    DuplicatePostError,
    OutcomeUnknownError,
    PublishError,
    RateLimitedError,
)
from bot.model import (
    Decision,
    Delivery,
    DeliveryState,
    Entry,
    FeedState,
    Published,
    PushSubscription,
    Settlement,
    TargetState,
)

if TYPE_CHECKING:  # the matching itself (Unicode words, patterns) is bot.filters' job
    from bot.filters import Filter

MAX_ATTEMPTS = 8
# The wait before attempt n + 1 (n = attempts made so far); the last step repeats.
RETRY_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
FEED_BACKOFF_MAX = timedelta(hours=6)
# A target paused because the platform refused its credentials (``AuthError``), and why a
# post refused for them is held: it goes when that pause lifts.
AUTH_PAUSE = "auth"
HELD_FOR_CREDENTIALS = "credentials"
FEED_JITTER = 0.1  # a feed's next check moves by up to 10% of its interval, either way
SLOT_OPEN = timedelta(minutes=30)


@dataclass(frozen=True, kw_only=True)
class TargetRules:
    """A target's configured rules, as the policy needs them."""

    min_interval: timedelta = timedelta(0)
    max_attempts: int = MAX_ATTEMPTS
    # A digest of the target's credentials: a pause for refused credentials ends when the
    # credentials in the config change.
    credentials_hash: str = ""
    # The schedule; times of day are local to ``timezone``.
    timezone: tzinfo = UTC
    delay: timedelta = timedelta(0)
    max_per_day: int = 0
    quiet_hours: tuple[time, time] | None = None
    slots: tuple[time, ...] = ()
    jitter: timedelta = timedelta(0)
    approve: bool = False
    monthly_budget: float = 0.0
    # Where the platform cannot be asked whether a post went out: send it again, once, in a
    # form the platform refuses as a duplicate, rather than wait for the operator.
    resend_unknown: bool = False


# How long a target whose allowance is used up waits before a post tries again, where the
# platform names no time: credits may be topped up at any moment; a usage cap resets with a
# billing cycle that need not start on the 1st.
RECHECK_AFTER = {"credits": timedelta(hours=4), "usage_cap": timedelta(days=1)}
DEFAULT_RECHECK = timedelta(hours=4)


# -- what a due delivery does now -------------------------------------------------------
def target_wait(
    state: TargetState, rules: TargetRules, now: datetime, *, manual: bool = False
) -> Decision | None:
    """Why the target may not post now, and until when; ``None`` if it may.

    A pause and a platform rate limit hold every post, a manual one too; spacing
    (``min_interval``) holds only what the daemon sends on its own.
    """
    if _auth_paused(state):
        return Decision(action="wait", until=None, reason=state.pause_reason or "")
    if allowance_paused(state):
        if state.paused_until is not None and state.paused_until > now:
            return Decision(
                action="wait",
                until=state.paused_until,
                reason=f"{state.pause_reason}; trying again at {_clock(state.paused_until)}",
            )
        # The re-check is due: the next post tries (it lifts the pause, or renews it).
    elif state.paused_at(now):
        return Decision(action="wait", until=state.paused_until, reason=state.pause_reason or "")
    if state.rate_limited_until is not None and state.rate_limited_until > now:
        return Decision(
            action="wait",
            until=state.rate_limited_until,
            reason=f"rate limited until {_clock(state.rate_limited_until)}",
        )
    if manual:
        return None
    until, reason = next_slot(state, rules, now)
    if until > now:
        return Decision(action="wait", until=until, reason=reason)
    return None


def next_slot(state: TargetState, rules: TargetRules, at: datetime) -> tuple[datetime, str]:
    """The earliest time at or after ``at`` when the target's own schedule lets it post,
    and why it waits until then ("" if it need not): spacing (``min_interval``), the daily
    cap, quiet hours and posting slots, each in the target's time zone. Platform limits and
    pauses are not part of it (``target_wait``)."""
    when, reason = at, ""
    for _ in range(64):  # each rule only moves the time later; a few rounds settle it
        moved = when
        if rules.min_interval and state.last_sent_at is not None:
            spaced = state.last_sent_at + rules.min_interval
            if spaced > moved:
                moved, reason = spaced, f"spacing until {_local(spaced, rules)}"
        if rules.max_per_day and sent_on_day(state, rules, moved) >= rules.max_per_day:
            moved = _next_midnight(moved, rules)
            reason = (
                f"daily cap reached ({rules.max_per_day} a day); next day {_local(moved, rules)}"
            )
        if rules.quiet_hours is not None and in_quiet_hours(moved, rules):
            moved = _quiet_end(moved, rules)
            reason = f"quiet hours until {_local(moved, rules, time_only=True)}"
        if rules.slots:
            slot = _next_open_slot(moved, state, rules)
            if slot > moved:
                moved, reason = slot, f"next slot {_local(slot, rules, time_only=True)}"
        if moved == when:
            return when, reason
        when = moved
    return when, reason


def sent_on_day(state: TargetState, rules: TargetRules, at: datetime) -> int:
    """How many posts went to the target on the local calendar day of ``at``."""
    return state.sent_today if state.sent_day == local_day(at, rules) else 0


def local_day(at: datetime, rules: TargetRules) -> str:
    return at.astimezone(rules.timezone).date().isoformat()


def in_quiet_hours(at: datetime, rules: TargetRules) -> bool:
    assert rules.quiet_hours is not None
    start, end = rules.quiet_hours
    clock = at.astimezone(rules.timezone).time()
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # the window wraps midnight


def _quiet_end(at: datetime, rules: TargetRules) -> datetime:
    """The first instant after ``at`` that is outside the quiet window."""
    assert rules.quiet_hours is not None
    _, end = rules.quiet_hours
    local = at.astimezone(rules.timezone)
    for days, fold in itertools.product(range(3), (0, 1)):
        # fold 1: when the clocks go back past the end, the window ends a second time
        candidate = _at_local(local.date() + timedelta(days=days), end, rules, fold=fold)
        if candidate > at and not in_quiet_hours(candidate, rules):
            return candidate
    return at + timedelta(minutes=1)  # a DST oddity: creep forward, the loop re-checks


def _next_midnight(at: datetime, rules: TargetRules) -> datetime:
    day = at.astimezone(rules.timezone).date() + timedelta(days=1)
    return _at_local(day, time(0), rules)


def _next_open_slot(at: datetime, state: TargetState, rules: TargetRules) -> datetime:
    """``at`` if a slot is open then, else the next slot: a slot opens at its time, stays
    open for ``SLOT_OPEN`` (the daemon ticks; a post is never due on the second), and
    takes one post."""
    local = at.astimezone(rules.timezone)
    for days in range(-1, 9):
        for slot in rules.slots:
            opens = _at_local(local.date() + timedelta(days=days), slot, rules)
            if state.last_sent_at is not None and state.last_sent_at >= opens:
                continue  # this slot has had its post
            if opens <= at < opens + SLOT_OPEN:
                return at
            if opens > at:
                return opens
    return at + timedelta(days=1)


def _at_local(day: date, clock: time, rules: TargetRules, *, fold: int = 0) -> datetime:
    """When the local clock reads ``clock`` on ``day``: of a time that comes twice (the
    clocks go back), the first (``fold`` 1: the second); a time the clocks skip (they go
    forward) comes at the jump, not an offset's difference after it."""
    local = datetime.combine(day, clock, tzinfo=rules.timezone).replace(fold=fold)
    at = local.astimezone(UTC)
    naive = local.replace(tzinfo=None)
    if at.astimezone(rules.timezone).replace(tzinfo=None) == naive:
        return at
    # Skipped: read with the offset of before the jump, ``at`` is that much after it; read
    # with the offset of after it, before it. The jump is the first second between the two
    # whose local clock reads ``clock`` or later.
    low = int(local.replace(fold=1 - fold).astimezone(UTC).timestamp())
    low, high = sorted((low, int(at.timestamp())))
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, rules.timezone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _local(at: datetime, rules: TargetRules, *, time_only: bool = False) -> str:
    local = at.astimezone(rules.timezone)
    return local.strftime("%H:%M") if time_only else local.strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True, kw_only=True)
class Planned:
    """When a waiting delivery is planned to go, and why it waits until then."""

    delivery: Delivery
    at: datetime | None  # None: it waits for something that has no time (a person)
    reason: str


def plan_queue(
    waiting: Sequence[Delivery],
    state: TargetState,
    rules: TargetRules,
    now: datetime,
    *,
    costs: Mapping[int, float],
) -> list[Planned]:
    """The planned times of one target's waiting deliveries, in the order they go: each
    planned send counts as sent for the ones after it (spacing, daily cap, slots, budget).
    Held deliveries wait for a person; the rest are planned from their due time."""
    planned: list[Planned] = []
    for delivery in waiting:
        if delivery.state is DeliveryState.HELD:
            planned.append(Planned(delivery=delivery, at=None, reason=delivery.error or "held"))
    queue = [d for d in waiting if d.state is not DeliveryState.HELD]
    # The lane sends in order: none goes before the one planned ahead of it (a target's
    # state after that send says nothing of the days before it).
    after, after_reason = now, "due"
    for delivery in queue:
        earliest = max(after, delivery.due_at or now)
        wait = target_wait(state, rules, earliest, manual=delivery.manual)
        reason = after_reason if earliest > (delivery.due_at or now) else "due"
        if wait is not None and wait.until is None:
            planned.append(Planned(delivery=delivery, at=None, reason=wait.reason))
            continue
        if wait is not None and wait.until is not None:
            earliest, reason = wait.until, wait.reason
            again = target_wait(state, rules, earliest, manual=delivery.manual)
            if again is not None and again.until is not None:
                earliest, reason = again.until, again.reason
        elif delivery.due_at is not None and delivery.due_at == earliest > now:
            reason = f"delay until {_local(delivery.due_at, rules)}"
        cost = costs.get(delivery.id, 0.0)
        budget = over_budget(state, rules, earliest, cost=cost)
        if budget is not None:
            planned.append(Planned(delivery=delivery, at=None, reason=budget))
            continue
        planned.append(Planned(delivery=delivery, at=earliest, reason=reason))
        state = record_send(state, rules, earliest, cost=cost)
        after, after_reason = earliest, reason
    return planned


def new_budget_month(state: TargetState, rules: TargetRules, now: datetime) -> TargetState | None:
    """The target's state at the start of a new month with money spent in an earlier one
    (what was held for the budget may go again), or ``None`` if the month is the same."""
    month = local_day(now, rules)[:7]
    if not rules.monthly_budget or state.spent_month in (None, month):
        return None
    return replace(state, spent_month=month, spent_usd=0.0)


def planned_at(*, first_seen_at: datetime, rules: TargetRules, jitter_fraction: float) -> datetime:
    """When a new delivery is first due: after the target's ``delay`` (edits made in the
    meantime are picked up), plus its share of ``jitter`` (``jitter_fraction`` in [0, 1),
    fixed per delivery so that planning again gives the same time)."""
    return first_seen_at + rules.delay + rules.jitter * max(0.0, min(jitter_fraction, 1.0))


def record_send(
    state: TargetState, rules: TargetRules, now: datetime, *, cost: float
) -> TargetState:
    """The target's state once a post is sent now: last sent, the local day's count, the
    month's spend."""
    day = local_day(now, rules)
    month = day[:7]
    return replace(
        state,
        last_sent_at=now,
        sent_day=day,
        sent_today=state.sent_today + 1 if state.sent_day == day else 1,
        spent_month=month,
        spent_usd=spent_this_month(state, rules, now) + cost,
    )


def spent_this_month(state: TargetState, rules: TargetRules, now: datetime) -> float:
    """What the target spent in the (local) month of ``now``, USD: nothing in a new month."""
    return state.spent_usd if state.spent_month == local_day(now, rules)[:7] else 0.0


def over_budget(
    state: TargetState, rules: TargetRules, now: datetime, *, cost: float
) -> str | None:
    """Why this post would go over the month's budget, or ``None``."""
    if not rules.monthly_budget or not cost:
        return None
    spent = spent_this_month(state, rules, now)
    if spent + cost <= rules.monthly_budget + 1e-9:
        return None
    return (
        f"budget: {spent:.2f} of {rules.monthly_budget:.2f} USD spent this month;"
        f" this post costs {cost:.2f}"
    )


def decide(
    delivery: Delivery,
    state: TargetState,
    rules: TargetRules,
    now: datetime,
    *,
    link_posted: bool,
    manual: bool = False,
    cost: float = 0.0,
) -> Decision:
    """What a due delivery does now: send, wait (the whole target), hold (over the
    month's budget) or skip. A manual post ignores the target's schedule, never a pause,
    a platform rate limit or the budget."""
    wait = target_wait(state, rules, now, manual=manual)
    if wait is not None:
        return wait
    if link_posted and not manual:
        # The same page reached this target through another entry (two feeds of one blog).
        return Decision(action="skip", reason="this link was posted to this target before")
    budget = over_budget(state, rules, now, cost=cost)
    if budget is not None:
        return Decision(action="hold", reason=budget, held_for="budget")
    return Decision(action="send")


def _auth_paused(state: TargetState) -> bool:
    """A pause for refused credentials has no end time: it lasts until lifted (resume, or
    new credentials), whatever ``paused_until`` says. An operator's pause that ran out
    leaves its ``paused_until`` (in the past) on the state, and the auth pause's Settlement
    cannot clear it (``None`` there means "unchanged")."""
    return state.pause_kind == AUTH_PAUSE and state.pause_reason is not None


def allowance_paused(state: TargetState) -> bool:
    """Paused because the account's paid allowance is used up (``AllowanceError``): posts
    wait until ``paused_until``, then one tries; a post that goes through lifts it."""
    return state.pause_kind in RECHECK_AFTER and state.pause_reason is not None


def pause_lifted(state: TargetState, rules: TargetRules) -> bool:
    """A pause for refused credentials ends once the credentials in the config change: the
    state keeps a digest of the ones refused (never the secrets), the rules have the
    current ones'. Checked at start-up, on reload and before each dispatch."""
    return (
        state.pause_kind == AUTH_PAUSE
        and state.credentials_hash is not None
        and bool(rules.credentials_hash)
        and state.credentials_hash != rules.credentials_hash
    )


def unpaused(state: TargetState) -> TargetState:
    """The target's state with its pause lifted (and the refused credentials forgotten)."""
    return replace(
        state, paused_until=None, pause_reason=None, pause_kind=None, credentials_hash=None
    )


def release_held_for_pause(state: TargetState) -> bool:
    """Do the posts held for refused credentials go now? Only once the target is no longer
    paused for them: the pause was lifted (new credentials, ``resume``), or it never was
    (a crash between the release and the lift leaves them held)."""
    return not _auth_paused(state)


# -- the order of a lane's work ----------------------------------------------------------
# A lane's look-ups of unknown outcomes in one run (a daemon's tick, a `run --once`): a
# backlog of them is worked through a batch at a time.
LOOKUPS_PER_RUN = 20
# After each post, this many look-ups (of those due) before the next post.
LOOKUPS_AFTER_POST = 5

LaneStep = Literal["post", "look up", "done"]


def lane_step(*, may_post: bool, lookups_left: int, owed: int) -> LaneStep:
    """What a target's lane does next in a run: send its next due post, look up its next
    unknown outcome, or stop.

    A post the schedule lets go comes first: a backlog of unknown outcomes (each look-up
    one or more requests to the platform) must not hold back what is due now, and posting
    first sends nothing twice, since a look-up settles only its own row (an unknown row is
    never claimed; found, it is recorded as posted; not found, it is queued again after
    the backoff). After each post the lane makes the look-ups it owes (``owed``, set to
    ``LOOKUPS_AFTER_POST`` by a post) before the next post, so that a long run of posts
    does not starve them; once no post may go (``may_post`` false: the target waits for
    its schedule, or nothing is due), the rest of the run's look-ups. ``lookups_left``: the
    look-ups due that the run may still make (at most ``LOOKUPS_PER_RUN``)."""
    if lookups_left > 0 and (owed > 0 or not may_post):
        return "look up"
    if may_post:
        return "post"
    return "done"


# -- how an attempt ends -----------------------------------------------------------------
def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt; it never shrinks."""
    return RETRY_BACKOFF[min(max(attempts, 1), len(RETRY_BACKOFF)) - 1]


def after_publish(published: Published) -> Settlement:
    """A post went out; if the target is paused for a used-up allowance, the allowance is
    back: that pause lifts (and no other)."""
    return Settlement(
        state=DeliveryState.POSTED, published=published, lifts_pause=frozenset(RECHECK_AFTER)
    )


def after_duplicate(existing: Published | None, said: str) -> Settlement:
    """The platform refused the post as one it already has: done, never lost."""
    return Settlement(
        state=DeliveryState.POSTED,
        published=existing or Published(remote_id=""),
        error=f"already on the platform: {said}",
    )


def after_error(
    error: PublishError,
    *,
    attempts: int,
    rules: TargetRules,
    now: datetime,
    cost: float = 0.0,
    resend: bool = False,
) -> Settlement:
    """How a failed attempt (the ``attempts``-th) settles, and what the target learns.
    ``cost``: what the claim counted for the post; ``resend``: the attempt was the one
    re-send after an unknown outcome."""
    reason = str(error)
    if isinstance(error, DuplicatePostError):
        return after_duplicate(None, error.message)
    if isinstance(error, AllowanceError):
        # Every post would be refused the same way, and none was made: this one waits with
        # the rest, uncounted, and the target pauses until the allowance is back.
        return replace(
            allowance_pause(error, now=now),
            state=DeliveryState.RETRY,
            due_at=now,
            error=reason,
            void_attempt=True,
            refund=cost,
        )
    if isinstance(error, CannotResendError):
        return _for_operator(f"not re-sent: {reason}. {OPERATOR_SETTLES}")
    if resend and isinstance(error, OutcomeUnknownError):
        return _for_operator(
            f"outcome unknown again, after its one re-send ({reason}). {OPERATOR_SETTLES}"
        )
    if isinstance(error, AuthError):
        # Every post to the target would be refused the same way: the target pauses until
        # its credentials change or the operator resumes it, and this post, refused only
        # for them (nothing was made: the attempt and its cost do not count), is held until
        # then, released when the pause lifts, never failed.
        return Settlement(
            state=DeliveryState.HELD,
            error=reason,
            held_for=HELD_FOR_CREDENTIALS,
            pause_kind=AUTH_PAUSE,
            pause_reason=f"{error.pause_as}: {reason}",
            credentials_hash=rules.credentials_hash,
            void_attempt=True,
            refund=cost,
        )
    if isinstance(error, OutcomeUnknownError):
        # The platform may have it: look it up before anything is sent again.
        return Settlement(state=DeliveryState.UNKNOWN, error=reason, due_at=now)
    if not error.retryable:
        return Settlement(state=DeliveryState.FAILED, error=reason)
    if isinstance(error, RateLimitedError):
        # The platform takes nothing from the target before retry_at, whatever becomes of
        # this row: the limit is recorded on the target even when the row gives up.
        retry_at = max(error.retry_at, now)
        if attempts >= rules.max_attempts:
            return replace(_given_up(attempts, reason), rate_limited_until=retry_at)
        return Settlement(
            state=DeliveryState.RETRY, error=reason, due_at=retry_at, rate_limited_until=retry_at
        )
    if attempts >= rules.max_attempts:
        return _given_up(attempts, reason)
    return Settlement(state=DeliveryState.RETRY, error=reason, due_at=now + retry_delay(attempts))


def after_lookup(
    delivery: Delivery, found: Published | None, *, rules: TargetRules, now: datetime
) -> Settlement:
    """An unknown outcome looked up on the platform: there (posted), or not (a retry that
    counts like any other, after the backoff)."""
    if found is not None:
        return Settlement(
            state=DeliveryState.POSTED,
            published=found,
            error="found on the platform after an unknown outcome",
        )
    reason = f"not on the platform after: {_last_reason(delivery)}"
    if delivery.attempts >= rules.max_attempts:
        return _given_up(delivery.attempts, _last_reason(delivery))
    return Settlement(
        state=DeliveryState.RETRY, error=reason, due_at=now + retry_delay(delivery.attempts)
    )


def allowance_pause(error: AllowanceError, *, now: datetime) -> Settlement:
    """The target's pause for a used-up allowance (the delivery's fields are the caller's):
    re-checked at the time the platform names, else after ``RECHECK_AFTER``."""
    recheck = error.recheck_at or now + RECHECK_AFTER.get(error.kind, DEFAULT_RECHECK)
    return Settlement(
        state=DeliveryState.RETRY,
        pause_kind=error.kind,
        pause_reason=f"{error.pause_as}: {error}",
        paused_until=max(recheck, now),
    )


OPERATOR_SETTLES = (
    "Look on the platform: if the post is there, run `feedrelay resolve ID --url URL`;"
    " if not, `feedrelay retry ID`"
)


def after_refused_lookup(
    delivery: Delivery, *, refused: str, rules: TargetRules, now: datetime
) -> Settlement:
    """The platform will not show the account's posts (``refused``: its words), so an
    unknown outcome cannot be looked up. With ``resend_unknown`` the post is sent again,
    once (the adapter's ``resend``: a form the platform refuses as a duplicate); else, or
    after that one re-send, it waits for the operator, saying what to look at."""
    if rules.resend_unknown and not delivery.resend:
        return Settlement(
            state=DeliveryState.RETRY,
            due_at=now,
            resend=True,
            error=f"{_last_reason(delivery)}; the platform cannot be asked ({refused}):"
            " sending it once more (resend_unknown), which the platform refuses as a"
            " duplicate if the first went out",
        )
    again = " again, after its one re-send" if delivery.resend else ""
    return _for_operator(
        f"outcome unknown{again} ({_last_reason(delivery)}), and the platform cannot be"
        f" asked whether the post is there ({refused}). {OPERATOR_SETTLES}"
    )


def _for_operator(reason: str) -> Settlement:
    return Settlement(state=DeliveryState.HELD, error=reason, held_for=UNKNOWN_HOLD)


# A platform that refused to show the account's posts is asked again after this long (its
# plan may have changed); until then an unknown outcome is not looked up. A refused lookup
# costs nothing.
LOOKUP_REASK = timedelta(days=1)


def lookups_refused(state: TargetState, now: datetime) -> str | None:
    """The platform's words if it refused a lookup less than ``LOOKUP_REASK`` ago."""
    if state.lookups_refused is None:
        return None
    if state.lookups_refused_at is not None and state.lookups_refused_at + LOOKUP_REASK <= now:
        return None
    return state.lookups_refused


# Why a held row waits when only a person can tell whether it went out: ``approve`` does
# not release it (``retry`` or ``resolve`` does, after looking).
UNKNOWN_HOLD = "unknown"


def after_failed_lookup(delivery: Delivery, error: PublishError, *, now: datetime) -> Settlement:
    """The platform could not say whether it has the post: look again later, send nothing."""
    if isinstance(error, AllowanceError):
        pause = allowance_pause(error, now=now)
        return replace(
            pause,
            state=DeliveryState.UNKNOWN,
            due_at=pause.paused_until,
            error=f"cannot check the platform ({error}); looking again when the target's"
            " pause ends",
        )
    later = now + retry_delay(delivery.attempts)
    return Settlement(
        state=DeliveryState.UNKNOWN,
        error=f"cannot check the platform yet ({error}); looking again at {_clock(later)}",
        due_at=later,
    )


def settle_late(current: Delivery, ours: Settlement) -> Settlement | None:
    """What to record when an attempt ends after its claim was taken over (its lease ran
    out while the platform was slow): ``current`` is the row as it is now, ``ours`` what
    the attempt learned. ``None``: the row already says at least as much.

    A post that went out is never forgotten: it is recorded over whatever the row says,
    even over another runner's claim (whose own outcome then arrives late in turn); a row
    already posted keeps its post and names ours as a second one, to be deleted by hand.
    An attempt that ended without a post only answers a row still waiting to be looked up.
    """
    if ours.state is DeliveryState.POSTED and ours.published is not None:
        if current.state is not DeliveryState.POSTED:
            return replace(ours, error="recorded after its claim had been taken over")
        if current.remote_id == ours.published.remote_id or not ours.published.remote_id:
            return None
        where = ours.published.url or ours.published.remote_id
        return Settlement(
            state=DeliveryState.POSTED,
            published=Published(remote_id=current.remote_id or "", url=current.remote_url or ""),
            error=f"posted twice: a slow attempt also made {where}; delete one of the two",
        )
    if current.state is DeliveryState.UNKNOWN and ours.state is not DeliveryState.UNKNOWN:
        return ours
    return None


def _given_up(attempts: int, reason: str) -> Settlement:
    return Settlement(
        state=DeliveryState.FAILED, error=f"gave up after {attempts} attempts: {reason}"
    )


def _last_reason(delivery: Delivery) -> str:
    reason = delivery.error or "an unknown outcome"
    for prefix in ("not on the platform after: ",):
        reason = reason.removeprefix(prefix)
    return reason


# -- feeds -------------------------------------------------------------------------------
def feed_due(state: FeedState | None, url: str, now: datetime) -> bool:
    """Is the feed to be fetched now? A new or moved (in the config) feed always is; a feed
    the server said is gone never is, until its url changes."""
    if state is None or state.url != url:
        return True
    if state.gone:
        return False
    return state.next_check_at is None or state.next_check_at <= now


def next_poll_at(
    states: Mapping[str, FeedState | None], urls: Mapping[str, str], now: datetime
) -> datetime | None:
    """When the daemon next polls: the earliest time one of the configured feeds (``urls``:
    name -> url) is due (``now`` if one is due already); ``None`` if none ever will be
    (every one is gone)."""
    earliest: datetime | None = None
    for name, url in urls.items():
        state = states.get(name)
        if feed_due(state, url, now):
            return now
        assert state is not None  # a feed without a state is due
        if state.gone or state.next_check_at is None:
            continue
        if earliest is None or state.next_check_at < earliest:
            earliest = state.next_check_at
    return earliest


def next_check(interval: timedelta, now: datetime, *, jitter: float) -> datetime:
    """After a good poll; ``jitter`` in [-1, 1] spreads feeds that would fire together."""
    return now + interval + interval * (FEED_JITTER * max(-1.0, min(1.0, jitter)))


def next_check_after_error(
    interval: timedelta, error_count: int, now: datetime, *, retry_at: datetime | None
) -> datetime:
    """After the ``error_count``-th failure in a row: exponential backoff up to 6 hours
    (or the interval, if longer); a server's ``Retry-After`` wins when it is later."""
    doubled = interval * (1 << min(max(error_count, 1) - 1, 10))
    backoff = min(doubled, max(FEED_BACKOFF_MAX, interval))
    planned = now + backoff
    return max(planned, retry_at) if retry_at is not None else planned


def pulled_back(state: FeedState, interval: timedelta, now: datetime) -> datetime | None:
    """At start-up: a healthy feed's next check further away than one interval and its
    jitter (the interval was shortened, or the clock moved) comes back to ``now +
    interval``. One planned within its jitter keeps it: the jitter spreads the feeds."""
    if state.gone or state.error_count or state.next_check_at is None:
        return None
    if state.next_check_at <= now + interval * (1 + FEED_JITTER):
        return None
    return now + interval


def too_old(published_at: datetime | None, max_age: timedelta, now: datetime) -> bool:
    """Older than ``max_age`` (0: no limit): recorded, not posted on its own."""
    return bool(max_age) and published_at is not None and published_at < now - max_age


# How far before the newest date a feed had that a "new" entry must be dated to look re-dated.
REDATED_BEFORE = timedelta(days=1)


def looks_redated(
    published_at: datetime | None, updated_at: datetime | None, newest_known: datetime | None
) -> bool:
    """An entry new by its id but not new in time: published and updated (where it says)
    more than a day before the newest date the feed already had. A regenerated or migrated
    feed gives its old posts new ids; a post written while FeedRelay was down is dated after
    what it last saw. An entry with no date at all cannot be told apart: it counts too."""
    if newest_known is None:
        return False
    dates = [d for d in (published_at, updated_at) if d is not None]
    return all(d < newest_known - REDATED_BEFORE for d in dates)


def is_flood(new: int, max_new_per_poll: int) -> bool:
    """More entries new by id but not new in time (``looks_redated``) in one poll than a
    blogger publishes: a migrated or regenerated feed, most likely. They wait for
    ``feedrelay approve``; entries that are new in time go out."""
    return max_new_per_poll > 0 and new > max_new_per_poll


# -- routes ------------------------------------------------------------------------------
# A skipped delivery's reason starts so when a route's filters kept its entry out (``retry``
# and ``post`` then say that they override it).
FILTERED = "filtered: "


def filtered(entry: Entry, filters: Sequence[Filter]) -> str | None:
    """Why a route keeps ``entry`` from its target (``filtered: label "Sponsored" excluded
    by feeds.news``), or ``None`` if the entry goes. ``filters`` are the route's levels (the
    feed's, the target's, the route's own): the entry goes only if it passes every one of
    them, and an exclusion on any level wins over every inclusion (it is named first)."""
    for level in filters:
        reason = level.excluded(entry)
        if reason is not None:
            return FILTERED + reason
    for level in filters:
        reason = level.unmet(entry)
        if reason is not None:
            return FILTERED + reason
    return None


def is_filtered(reason: str | None) -> bool:
    """Is this a skipped delivery's reason given by a route's filters?"""
    return reason is not None and reason.startswith(FILTERED)


def _clock(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


# -- WebSub subscriptions (W3C WebSub) -----------------------------------------------------
# Asked of the hub; it decides (5.3.1). Ten days is the spec's own suggestion (8.2).
PUSH_LEASE = timedelta(days=10)
# A request the hub has not verified after this long is asked again.
PUSH_VERIFY_WAIT = timedelta(hours=1)
# A feed that names no hub, or whose hub refused, is looked at again this often.
PUSH_REDISCOVER = timedelta(days=1)
PUSH_LONGEST_BACKOFF = timedelta(hours=6)


def push_hub(hub: str) -> str | None:
    """The address to ask a hub at: ``https`` (8.2: "subscribers SHOULD always favor the
    HTTPS URL for hubs (even if the URL is advertised as HTTP)", as Blogger's
    ``http://pubsubhubbub.appspot.com/`` is), except a hub on this machine, which may
    stay ``http``; ``None`` for anything but http(s)."""
    parts = urlsplit(hub)
    if parts.scheme == "https":
        return hub
    if parts.scheme != "http" or not parts.hostname:
        return None
    if is_loopback(parts.hostname):
        return hub
    return urlunsplit(("https", parts.netloc, parts.path, parts.query, ""))


def push_may_sign(hub: str) -> bool:
    """``hub.secret`` goes only where nobody else can read it: over https, or to a hub on
    this machine (5.1: "SHOULD only be specified when the request was made over HTTPS")."""
    parts = urlsplit(hub)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))


def is_loopback(host: str) -> bool:
    """Only this machine can reach ``host``: ``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def push_due(sub: PushSubscription | None, now: datetime, *, callback_base: str) -> bool:
    """Should this feed's hub be looked for (and asked) now?"""
    if sub is None or sub.callback_base != callback_base:
        return True
    if sub.next_attempt_at is not None and sub.next_attempt_at > now:
        return False  # another runner is at it, or the hub could not be asked: wait
    if sub.state == "failing":
        return True
    if sub.state == "requested":
        return sub.requested_at is None or now >= sub.requested_at + PUSH_VERIFY_WAIT
    if sub.state == "subscribed":
        return sub.lease_until is None or now >= sub.lease_until - push_renew_margin(sub)
    # "none" (no hub named) and "refused": look at the feed once a day
    return sub.discovered_at is None or now >= sub.discovered_at + PUSH_REDISCOVER


def push_renew_margin(sub: PushSubscription) -> timedelta:
    """How long before the lease ends it is renewed (5.3.1: "the subscriber MUST
    re-request the subscription on the hub before hub.lease_seconds seconds has
    elapsed"): half the lease, at most a day."""
    if sub.lease_until is None or sub.verified_at is None:
        return timedelta(0)
    return min(timedelta(days=1), (sub.lease_until - sub.verified_at) / 2)


def push_retry_at(attempts: int, now: datetime) -> datetime:
    """When a hub that could not be asked is asked again: one minute, doubling, at most
    ``PUSH_LONGEST_BACKOFF``."""
    return now + min(PUSH_LONGEST_BACKOFF, timedelta(minutes=1 << min(max(attempts, 0), 20)))


# A lease longer than this, however long the hub grants, is renewed within it (8.2: hubs
# "MUST NOT issue perpetual lease durations").
LONGEST_PUSH_LEASE = timedelta(days=30)
