"""Celery tasks: they take ids and re-read rows; the logic is in services."""

from __future__ import annotations

from celery import shared_task

from waha_project.logs import log_context

from . import services


@shared_task(name=services.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)
def deliver(delivery_id: int) -> None:
    with log_context(delivery_id=delivery_id):
        services.attempt(delivery_id)


@shared_task(name="webhooks_app.tasks.sweep", ignore_result=True)
def sweep() -> None:
    services.sweep()


@shared_task(name="webhooks_app.tasks.prune", ignore_result=True)
def prune() -> None:
    services.prune()
