from __future__ import annotations

from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "WhatsApp sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from waha_project import auth

        from . import access, monitoring

        monitoring.register()
        auth.use_key_resolver(access.principal_for_key)
