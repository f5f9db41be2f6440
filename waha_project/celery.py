"""The Celery app. Embedded default: in-memory transport and a worker inside `serve`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waha_project.settings")

app = Celery("waha")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
