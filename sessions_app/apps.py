from __future__ import annotations

from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "WhatsApp sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from waha_project import auth

        from . import access, monitoring
        from .models import ApiKey

        monitoring.register()
        auth.use_key_resolver(access.principal_for_key)
        # Signals, so that every way a key changes or goes (the API, the admin, a session's
        # deletion) ends the streams opened with it.
        post_save.connect(access.key_saved, sender=ApiKey)
        post_delete.connect(access.key_deleted, sender=ApiKey)
