from __future__ import annotations

from django.apps import AppConfig


class WebhooksAppConfig(AppConfig):
    name = "webhooks_app"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A bad WHATSAPP_HOOK_* value stops start-up, naming the variable.
        from . import monitoring
        from .config import global_webhook

        global_webhook()
        monitoring.register()
