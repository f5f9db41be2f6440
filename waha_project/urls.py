from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .health import HealthView, PingView
from .metrics import metrics_view

handler404 = "waha_project.errors.not_found"
handler500 = "waha_project.errors.server_error"

urlpatterns = [
    path("", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Prometheus text, not part of the JSON API: a plain Django view, so not in the schema.
    path("metrics", metrics_view, name="metrics"),
    path("ping", PingView.as_view(), name="ping"),
    path("health", HealthView.as_view(), name="health"),
    path("", include("webhooks_app.api.urls")),
    path("", include("sessions_app.api.urls")),
    path("admin/", admin.site.urls),
    # The dashboard, its login and logout (Django's sessions + CSRF, never the API key).
    path("", include("sessions_app.dashboard.urls")),
]
