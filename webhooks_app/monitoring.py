"""What webhooks_app shows of itself: attempt counters, latency histograms, stored deliveries,
open circuit breakers.

Registered with the platform (`waha_project.metrics`) when the app is ready.
"""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Count
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from waha_project import metrics

from .models import Delivery, DeliveryStatus, Target

# A delivery's status after an attempt, as the outcome of that attempt.
OUTCOMES = {DeliveryStatus.DELIVERED: "delivered", DeliveryStatus.PENDING: "retry",
            DeliveryStatus.FAILED: "failed"}
WEBHOOK_ATTEMPTS = Counter(
    "waha_webhook_attempts",
    "Webhook delivery attempts by outcome: delivered; retry (failed, another attempt is "
    "scheduled); failed (failed for good: no attempt left, 410 Gone, or a refused target).",
    ["outcome"],
)
for _outcome in OUTCOMES.values():
    WEBHOOK_ATTEMPTS.labels(outcome=_outcome)

WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "waha_webhook_attempt_duration_seconds",
    "How long one webhook request took (connect, send, read the answer), every outcome.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_DELIVERY_LATENCY = Histogram(
    "waha_webhook_delivery_latency_seconds",
    "From the event's creation to its successful delivery, retries and queueing included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)


def observe_attempts(attempts: Iterable[tuple[str, int, int]], finished: datetime) -> None:
    """Attempts recorded together, each (status, event timestamp ms, duration ms): their
    outcomes (each counter moves once for the batch), their durations, and the latency of the
    delivered ones."""
    outcomes: Counter_[str] = Counter_()
    finished_s = finished.timestamp()
    for status, event_timestamp_ms, duration_ms in attempts:
        outcomes[status] += 1
        WEBHOOK_ATTEMPT_SECONDS.observe(duration_ms / 1000)
        if status == DeliveryStatus.DELIVERED:
            WEBHOOK_DELIVERY_LATENCY.observe(max(finished_s - event_timestamp_ms / 1000, 0.0))
    for status, n in outcomes.items():
        WEBHOOK_ATTEMPTS.labels(outcome=OUTCOMES[DeliveryStatus(status)]).inc(n)


class DeliveriesCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "waha_webhook_deliveries", "Stored webhook deliveries by status (delivered ones are "
            "pruned after WAHA_WEBHOOK_RETENTION_DAYS).", labels=["status"])
        counts = dict.fromkeys(DeliveryStatus.values, 0)
        for row in Delivery.objects.order_by().values("status").annotate(n=Count("pk")):
            counts[row["status"]] = row["n"]
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family
        now = timezone.now()
        yield GaugeMetricFamily(
            "waha_webhook_targets_open", "Webhook receivers whose circuit breaker is open: "
            "their deliveries wait for the cool-down instead of being attempted.",
            value=Target.objects.filter(open_until__gt=now).count())
        yield GaugeMetricFamily(
            "waha_webhook_deliveries_waiting", "Pending deliveries held by an open circuit "
            "breaker (not attempts, no retry used).",
            value=Delivery.objects.filter(status=DeliveryStatus.PENDING,
                                          waiting_until__gt=now).count())


def register() -> None:
    metrics.register_database_collector(DeliveriesCollector())
