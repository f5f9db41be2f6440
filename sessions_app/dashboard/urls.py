"""Dashboard routes, all under /dashboard/ (the websocket is in waha_project/asgi.py)."""

from __future__ import annotations

from django.contrib.auth.views import LogoutView
from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "dashboard"

urlpatterns = [
    path("dashboard", RedirectView.as_view(pattern_name="dashboard:sessions")),
    path("dashboard/", views.sessions, name="sessions"),
    path("dashboard/login/", views.LoginView.as_view(), name="login"),
    path("dashboard/logout/", LogoutView.as_view(), name="logout"),
    path("dashboard/create", views.session_create, name="create"),
    path("dashboard/sessions/<str:name>/", views.session_detail, name="session"),
    path("dashboard/sessions/<str:name>/edit", views.session_edit, name="edit"),
    path("dashboard/sessions/<str:name>/delete", views.session_delete, name="delete"),
    path("dashboard/sessions/<str:name>/request-code", views.session_request_code,
         name="request-code"),
    path("dashboard/sessions/<str:name>/<slug:action>", views.session_action, name="action"),
    path("dashboard/events/", views.events, name="events"),
    path("dashboard/deliveries/", views.deliveries, name="deliveries"),
    path("dashboard/deliveries/<int:pk>/redeliver", views.redeliver, name="redeliver"),
    path("dashboard/keys/", views.keys, name="keys"),
    path("dashboard/keys/<str:key_id>/active", views.key_active, name="key-active"),
    path("dashboard/keys/<str:key_id>/delete", views.key_delete, name="key-delete"),
]
