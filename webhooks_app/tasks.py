"""Celery tasks: they take ids and re-read rows; the logic is in services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown
from django.conf import settings

from waha_project.logs import log_context

from . import services


@shared_task(name=services.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def deliver(delivery_ids: list[int] | int) -> None:
    # A single id is what a message queued before batches carries.
    ids = [delivery_ids] if isinstance(delivery_ids, int) else list(delivery_ids)
    with log_context(delivery_id=ids[0] if len(ids) == 1 else None):
        services.deliver(ids)


@shared_task(name="webhooks_app.tasks.sweep", ignore_result=True)
def sweep() -> None:
    services.sweep()


@shared_task(name="webhooks_app.tasks.prune", ignore_result=True)
def prune() -> None:
    services.prune()


@worker_shutdown.connect
@worker_process_shutdown.connect  # a prefork pool's child
def _finish_in_flight(sender: Any = None, **kwargs: Any) -> None:
    """A worker stopping on purpose lets the attempts its tasks left running end and be
    recorded (at most one timeout), so none is sent twice for want of a record."""
    services.finish_in_flight(settings.WEBHOOK_TIMEOUT_SECONDS + 1)
