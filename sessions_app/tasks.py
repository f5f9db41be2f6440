"""Celery tasks of the sessions app; the logic is in `access`."""

from __future__ import annotations

from celery import shared_task

from . import access


@shared_task(name="sessions_app.tasks.prune_audit", ignore_result=True)
def prune_audit() -> None:
    """On the beat schedule (`audit-prune`, hourly): audit rows past their retention go."""
    access.prune_audit()
