from __future__ import annotations

from django.apps import AppConfig


class WebhooksAppConfig(AppConfig):
    name = "webhooks_app"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A bad WHATSAPP_HOOK_* value stops start-up, naming the variable.
        from waha_project.database import faster_array_dumps

        from . import monitoring
        from .config import global_webhook

        faster_array_dumps()  # before any connection: bulk inserts of bodies in half the CPU
        global_webhook()
        monitoring.register()
