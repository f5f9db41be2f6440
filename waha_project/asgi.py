"""The ASGI application: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import logging
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waha_project.settings")
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from sessions_app.consumers import EventStreamConsumer  # noqa: E402
from sessions_app.dashboard.consumers import DashboardConsumer  # noqa: E402
from waha_project.http import SyncASGIHandler  # noqa: E402
from waha_project.process import freeze_startup_objects  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files (Swagger UI, dashboard assets) straight from the app folders:
        # no collectstatic step and no separate file server on the embedded default.
        "http": ASGIStaticFilesHandler(SyncASGIHandler(threads=settings.HTTP_THREADS)),
        "websocket": AuthMiddlewareStack(
            URLRouter([
                path("ws", EventStreamConsumer.as_asgi()),
                # The dashboard's live updates, authenticated by the Django session cookie.
                path("dashboard/ws", DashboardConsumer.as_asgi()),
            ])
        ),
    }
)


# The web role's server loads this module and serves: what it loaded lives as long as the process.
freeze_startup_objects()


def announce_api_key() -> None:
    """Print a generated key once, at start-up, so the operator can use it."""
    generated = settings.API_KEY.generated
    if generated:
        print(
            f"WAHA_API_KEY is not set (or is too weak); this run's generated API key: {generated}\n"
            "Set WAHA_API_KEY to keep a key across restarts.",
            flush=True,
        )
    elif not settings.API_KEY.required:
        logging.getLogger("waha").warning("WAHA_NO_API_KEY=true: the API is open to anyone")
