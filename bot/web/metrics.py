"""``/metrics``: the store's totals in the Prometheus text format (prometheus-client).

Every number comes from the store, through a handful of aggregate queries, so that every
daemon sharing a PostgreSQL store reports the same totals and a restart loses none. They
are read at most once per ``CACHE_S`` seconds, however often Prometheus scrapes.
docs/metrics.md describes each metric.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot import policy
from bot.app import App
from bot.model import PushSubscription, Tally, TargetState
from bot.store import PUBLISH_BUCKETS
from bot.targets import rules_for

CACHE_S = 5.0
WAITING = ("queued", "retry", "held", "unknown")
POLL_RESULTS = ("new", "unchanged", "not_modified", "error")


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    now: datetime
    tallies: list[Tally]
    counts: dict[str, dict[str, int]]
    oldest: dict[str, datetime]
    targets: dict[str, TargetState]
    push: dict[str, PushSubscription]


class StoreCollector(Collector):
    """FeedRelay's metrics, read from the store (cached for ``CACHE_S`` seconds)."""

    def __init__(self, app: App, *, cache_s: float = CACHE_S) -> None:
        self.app = app
        self.cache_s = cache_s
        self._guard = threading.Lock()
        self._cached: tuple[float, Snapshot] | None = None

    def snapshot(self) -> Snapshot:
        with self._guard:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_s:
                return self._cached[1]
            store = self.app.store
            taken = Snapshot(
                now=self.app.clock(),
                tallies=store.tallies(),
                counts=store.counts(),
                oldest=store.oldest_waiting(),
                targets=store.target_states(),
                push=store.push_subscriptions(),
            )
            self._cached = (time.monotonic(), taken)
            return taken

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        config = self.app.config
        by_metric: dict[str, list[Tally]] = {}
        for tally in snap.tallies:
            by_metric.setdefault(tally.metric, []).append(tally)

        delivered = CounterMetricFamily(
            "feedrelay_deliveries",
            "Outcomes of deliveries as they were recorded (posted, retry, failed, unknown,"
            " skipped, held).",
            labels=["target", "platform", "state"],
        )
        for t in by_metric.get("deliveries", []):
            delivered.add_metric(
                [t.label("target"), t.label("platform"), t.label("state")], t.value
            )
        yield delivered

        waiting = GaugeMetricFamily(
            "feedrelay_deliveries_waiting",
            "Deliveries waiting now, by why: queued, retry, held, unknown.",
            labels=["target", "reason"],
        )
        oldest = GaugeMetricFamily(
            "feedrelay_oldest_waiting_seconds",
            "Age of the oldest delivery still waiting (queued, retry, held, unknown); 0 if none.",
            labels=["target"],
        )
        for name in sorted(set(config.targets) | set(snap.counts)):
            counts = snap.counts.get(name, {})
            for reason in WAITING:
                waiting.add_metric([name, reason], counts.get(reason, 0))
            since = snap.oldest.get(name)
            age = (snap.now - since).total_seconds() if since is not None else 0.0
            oldest.add_metric([name], max(age, 0.0))
        yield waiting
        yield oldest

        polls = CounterMetricFamily(
            "feedrelay_feed_polls",
            "Polls of each feed by result: new, unchanged, not_modified, error.",
            labels=["feed", "result"],
        )
        for t in by_metric.get("feed_polls", []):
            polls.add_metric([t.label("feed"), t.label("result")], t.value)
        yield polls
        success = GaugeMetricFamily(
            "feedrelay_feed_last_success_timestamp_seconds",
            "When each feed was last fetched and read without an error (Unix time).",
            labels=["feed"],
        )
        for t in by_metric.get("feed_last_success", []):
            success.add_metric([t.label("feed")], t.value)
        yield success

        paused = GaugeMetricFamily(
            "feedrelay_target_paused",
            "1 while a target is paused, with why (auth: credentials refused; operator: by"
            ' hand; or the platform\'s reason); 0 with reason "" otherwise.',
            labels=["target", "reason"],
        )
        spend = GaugeMetricFamily(
            "feedrelay_spend_usd",
            "What a target with a monthly budget spent this (local) month, USD.",
            labels=["target"],
        )
        budget = GaugeMetricFamily(
            "feedrelay_budget_usd", "A target's monthly budget, USD.", labels=["target"]
        )
        for name in sorted(config.targets):
            state = snap.targets.get(name, TargetState(target=name))
            if state.paused_at(snap.now):
                paused.add_metric([name, state.pause_kind or "other"], 1)
            else:
                paused.add_metric([name, ""], 0)
            rules = rules_for(config, name)
            if rules.monthly_budget:
                spend.add_metric([name], policy.spent_this_month(state, rules, snap.now))
                budget.add_metric([name], rules.monthly_budget)
        yield paused
        yield spend
        yield budget

        yield self._publish_times(by_metric)

        notified = CounterMetricFamily(
            "feedrelay_websub_notifications",
            "WebSub notifications received, by result: valid (the feed was polled at once),"
            " forged (bad or missing signature: ignored).",
            labels=["feed", "result"],
        )
        for t in by_metric.get("push_notifications", []):
            notified.add_metric([t.label("feed"), t.label("result")], t.value)
        yield notified
        subscribed = GaugeMetricFamily(
            "feedrelay_feed_push_subscribed",
            "1 while a feed's WebSub subscription is verified and its lease runs.",
            labels=["feed"],
        )
        for name, sub in sorted(snap.push.items()):
            live = sub.state == "subscribed" and (sub.lease_until or snap.now) > snap.now
            subscribed.add_metric([name], 1 if live else 0)
        yield subscribed

    def _publish_times(self, by_metric: dict[str, list[Tally]]) -> Metric:
        histogram = HistogramMetricFamily(
            "feedrelay_publish_seconds",
            "How long each platform took to answer a post (seconds).",
            labels=["platform"],
        )
        # Stored per target (stores written before issue 22: per platform): added up here.
        sums: dict[str, float] = {}
        for t in by_metric.get("publish_seconds_sum", []):
            sums[t.label("platform")] = sums.get(t.label("platform"), 0.0) + t.value
        counts: dict[str, dict[str, float]] = {}
        for t in by_metric.get("publish_seconds_bucket", []):
            bucket = counts.setdefault(t.label("platform"), {})
            bucket[t.label("le")] = bucket.get(t.label("le"), 0.0) + t.value
        bounds = [f"{b:g}" for b in PUBLISH_BUCKETS] + ["+Inf"]
        for platform in sorted(counts):
            running = 0.0
            buckets = []
            for bound in bounds:
                running += counts[platform].get(bound, 0.0)
                buckets.append((bound, running))
            histogram.add_metric([platform], buckets, sum_value=sums.get(platform, 0.0))
        return histogram


def registry_for(app: App) -> CollectorRegistry:
    """Our metrics and the process's own (memory, CPU, open files)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(app))
    ProcessCollector(registry=registry)
    return registry
