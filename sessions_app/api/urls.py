from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import audit, keys, messages, server, views

router = SimpleRouter(trailing_slash=False)
router.register("sessions", views.SessionViewSet, basename="session")
router.register("keys", keys.ApiKeyViewSet, basename="key")
router.register("audit", audit.AuditViewSet, basename="audit")

urlpatterns = [
    path("api/sessions/start", views.LegacyStartView.as_view(), name="session-legacy-start"),
    path("api/sessions/stop", views.LegacyStopView.as_view(), name="session-legacy-stop"),
    path("api/sessions/logout", views.LegacyLogoutView.as_view(), name="session-legacy-logout"),
    path("api/sendText", messages.SendTextView.as_view(), name="send-text"),
    path("api/", include(router.urls)),
    path("api/<str:session>/auth/qr", views.QRView.as_view(), name="session-auth-qr"),
    path("api/<str:session>/auth/request-code", views.RequestCodeView.as_view(),
         name="session-auth-request-code"),
    path("api/<str:session>/profile", views.ProfileView.as_view(), name="session-profile"),
    path("api/<str:session>/profile/name", views.ProfileNameView.as_view(),
         name="session-profile-name"),
    path("api/<str:session>/profile/status", views.ProfileStatusView.as_view(),
         name="session-profile-status"),
    path("api/<str:session>/profile/picture", views.ProfilePictureView.as_view(),
         name="session-profile-picture"),
    path("api/<str:session>/chats", messages.ChatsView.as_view(), name="session-chats"),
    path("api/<str:session>/chats/<str:chatId>/messages", messages.ChatMessagesView.as_view(),
         name="session-chat-messages"),
    path("api/<str:session>/contacts/all", messages.ContactsView.as_view(),
         name="session-contacts-all"),
    path("api/server/version", server.VersionView.as_view(), name="server-version"),
    path("api/server/status", server.StatusView.as_view(), name="server-status"),
    path("api/server/environment", server.EnvironmentView.as_view(), name="server-environment"),
    path("api/server/stop", server.StopView.as_view(), name="server-stop"),
]
