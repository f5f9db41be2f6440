"""The support staff's console for sessions, engine processes and the audit log.

Everything here is read-only: the desired state changes only through `services` (the actions
below), and the observed state belongs to the engine that owns the session. Secrets in the
config are masked (`masked_config`) and the QR value, a credential, is never shown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from waha_project.admin import MASK, ReadOnlyAdmin, ReadOnlyInline, pretty_json
from webhooks_app.admin import WebhookColumns, masked_webhook
from webhooks_app.models import Delivery, Webhook

from . import services
from .errors import SessionNotFound
from .models import AuditEntry, EngineProcess, Session, SessionStatus, SessionStatusChange

log = logging.getLogger("waha.admin")


def masked_config(config: object) -> Any:
    """A copy of a session config with the password in `webhooks[].url`, `webhooks[].hmac.key`,
    `webhooks[].customHeaders[].value` and `proxy.password` masked. Anything not shaped as
    expected is kept as it is."""
    if not isinstance(config, dict):
        return config
    result = dict(config)
    if isinstance(result.get("webhooks"), list):
        result["webhooks"] = [masked_webhook(webhook) for webhook in result["webhooks"]]
    proxy = result.get("proxy")
    if isinstance(proxy, dict) and proxy.get("password"):
        result["proxy"] = {**proxy, "password": MASK}
    return result


# --- filters ----------------------------------------------------------------------------------
class DisplayStatusFilter(admin.SimpleListFilter):
    """The status the API shows (`Session.display_status`), expressed as a query."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in SessionStatus.values]  # as the API spells them

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        caught_up = Q(should_run=True, generation=F("applied_generation"))
        if value == SessionStatus.STOPPED:
            return queryset.filter(Q(should_run=False) | (caught_up & Q(status=value)))
        if value == SessionStatus.STARTING:
            return queryset.filter(should_run=True).filter(
                ~Q(generation=F("applied_generation")) | Q(status=value)
            )
        if value in SessionStatus.values:
            return queryset.filter(caught_up, status=value)
        return queryset


class OwnerFilter(admin.SimpleListFilter):
    """Which engine process owns the session (by worker id), or none."""

    title = "owner"
    parameter_name = "owner"
    NONE = "-"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        owners = (Session.objects.exclude(owner="").order_by("owner")
                  .values_list("owner", flat=True).distinct())
        return [(self.NONE, "No owner"), *((owner, owner) for owner in owners)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(owner="" if value == self.NONE else value)


def search_terms(search_term: str) -> list[str]:
    """Split as the admin does: by spaces, with quoted phrases kept whole."""
    terms = []
    for bit in smart_split(search_term):
        if bit[:1] in ('"', "'") and bit[-1:] == bit[:1]:
            bit = unescape_string_literal(bit)
        if bit:
            terms.append(bit)
    return terms


def session_matches(term: str) -> Q:
    """A term found in the name, the phone (me.id, a leading + ignored) or the metadata.

    The metadata object is searched as JSON text, on SQLite and PostgreSQL alike; SQLite keeps
    non-ASCII characters as \\u escapes, hence the escaped form too. Only the metadata is
    searched, never the whole config: a search must not tell whether a secret contains a term.
    """
    query = (Q(name__icontains=term) | Q(me__id__icontains=term.lstrip("+") or term)
             | Q(config__metadata__icontains=term))
    escaped = json.dumps(term)[1:-1]
    if escaped != term:
        query |= Q(config__metadata__icontains=escaped)
    return query


# --- inlines ----------------------------------------------------------------------------------
class StatusHistoryInline(ReadOnlyInline):
    model = SessionStatusChange
    verbose_name = "status change"
    verbose_name_plural = "status history"
    fields = ("timestamp", "status", "reason")
    readonly_fields = fields
    ordering = ("-timestamp", "-id")


class WebhookInline(WebhookColumns, ReadOnlyInline):
    model = Webhook
    fields = ("position", "shown_url", "events", "hmac", "retries", "custom_header_names")
    readonly_fields = fields
    exclude = ("url", "hmac_key", "custom_headers")


# --- sessions ---------------------------------------------------------------------------------
@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("name", "status_column", "phone", "push_name", "owner", "updated_at")
    list_filter = (DisplayStatusFilter, OwnerFilter)
    # Shows the search box; get_search_results below does the matching.
    search_fields = ("name", "me__id", "config__metadata")
    search_help_text = "Name, phone number (me.id) or a metadata key or value."
    ordering = ("name",)
    actions = ("start_sessions", "stop_sessions", "restart_sessions", "logout_sessions")
    inlines = (WebhookInline, StatusHistoryInline)
    # The raw fields that carry secrets never reach a form: config is shown masked instead.
    exclude = ("config", "qr_value")
    fieldsets = (
        (None, {"fields": ("name", "uid", "api_status", "created_at", "updated_at",
                           "deliveries")}),
        ("Desired state", {"fields": ("should_run", "generation", "logout_pending")}),
        ("Observed state", {"fields": ("status", "status_changed_at", "applied_generation",
                                       "me_display", "device_jid", "qr_expires_at",
                                       "last_error")}),
        ("Owner", {"fields": ("owner", "lease_expires_at", "lease_live")}),
        ("Config (secrets masked)", {"fields": ("config_display",)}),
    )
    readonly_fields = (
        "name", "uid", "api_status", "created_at", "updated_at", "deliveries", "should_run",
        "generation",
        "logout_pending", "status", "status_changed_at", "applied_generation", "me_display",
        "device_jid", "qr_expires_at", "last_error", "owner", "lease_expires_at", "lease_live",
        "config_display",
    )

    # --- columns and fields
    @admin.display(description="status")
    def status_column(self, session: Session) -> str:
        return session.display_status

    @admin.display(description="status (as the API shows it)")
    def api_status(self, session: Session) -> str:
        return session.display_status

    @admin.display(description="phone", ordering="me__id")
    def phone(self, session: Session) -> str | None:
        return me_field(session, "id")

    @admin.display(description="push name")
    def push_name(self, session: Session) -> str | None:
        return me_field(session, "pushName")

    @admin.display(description="me")
    def me_display(self, session: Session) -> SafeString | None:
        return pretty_json(session.me) if session.me else None

    @admin.display(description="lease live", boolean=True)
    def lease_live(self, session: Session) -> bool:
        return session.lease_is_live()

    @admin.display(description="config")
    def config_display(self, session: Session) -> SafeString:
        return pretty_json(masked_config(session.config))

    @admin.display(description="webhook deliveries")
    def deliveries(self, session: Session) -> SafeString:
        """Its own: a deleted session's of the same name are not this one's."""
        url = reverse("admin:webhooks_app_delivery_changelist")
        count = Delivery.objects.filter(session=session).count()
        return format_html('<a href="{}?session__id__exact={}">{} deliver{}</a>', url,
                           session.pk, count, "y" if count == 1 else "ies")

    # --- permissions: nothing is edited in a form
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a session is created through the API or the dashboard, validated there

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        # Model-level change permission runs the actions; an object's page is view-only,
        # so a save can never write stale observed state over the engine's.
        return obj is None and super().has_change_permission(request)

    # --- search
    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any],
                           search_term: str) -> tuple[QuerySet[Session], bool]:
        for term in search_terms(search_term):
            queryset = queryset.filter(session_matches(term))
        return queryset, False

    # --- actions
    @admin.action(description="Start the selected sessions", permissions=["change"])
    def start_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        self.operate(request, queryset, "start")

    @admin.action(description="Stop the selected sessions", permissions=["change"])
    def stop_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        self.operate(request, queryset, "stop")

    @admin.action(description="Restart the selected sessions", permissions=["change"])
    def restart_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        self.operate(request, queryset, "restart")

    @admin.action(description="Log out the selected sessions (unlink the phone)",
                  permissions=["change"])
    def logout_sessions(self, request: HttpRequest,
                        queryset: QuerySet[Session]) -> TemplateResponse | None:
        if request.POST.get("confirmed") != "yes":
            return self.confirm_logout(request, list(queryset), bulk=True)
        self.operate(request, queryset, "logout")
        return None

    def operate(self, request: HttpRequest, sessions: QuerySet[Session] | Sequence[Session],
                name: str) -> int:
        """Run one lifecycle operation per session through `services`; report the count."""
        operation = services.LIFECYCLE[name]
        done, missing = 0, []
        for session in sessions:
            try:
                operation.run(session.name)
            except SessionNotFound:
                missing.append(session.name)
                continue
            except Exception as exc:  # one broken session must not stop the others
                log.exception("admin: %s of session %s failed", name, session.name)
                self.message_user(request, f"{operation.label} of {session.name} failed: {exc}",
                                  messages.ERROR)
                continue
            done += 1
            self.log_change(request, session, f"{operation.label} from the admin")
        if done or not missing:
            self.message_user(
                request, f"{operation.label} requested for {done} "
                         f"{model_ngettext(self.opts, done)}.",
                messages.SUCCESS,
            )
        if missing:
            self.message_user(request, f"Already deleted: {', '.join(missing)}.",
                              messages.WARNING)
        return done

    def confirm_logout(self, request: HttpRequest, sessions: list[Session],
                       *, bulk: bool) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Log out sessions?",
            "sessions": sessions,
            "bulk": bulk,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/sessions_app/session/logout_confirmation.html", context
        )

    # --- the change page's buttons
    def get_urls(self) -> list[URLPattern]:
        operate = path(
            "<path:object_id>/operate/<str:name>/",
            self.admin_site.admin_view(self.operate_view),
            name="sessions_app_session_operate",
        )
        return [operate, *super().get_urls()]

    def operate_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if name not in services.LIFECYCLE or not self.has_change_permission(request):
            raise PermissionDenied
        session = self.get_object(request, unquote(object_id))
        if session is None:
            self.message_user(request, f"No session with id {object_id}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:sessions_app_session_changelist"))
        if services.LIFECYCLE[name].confirm and request.POST.get("confirmed") != "yes":
            return self.confirm_logout(request, [session], bulk=False)
        self.operate(request, [session], name)
        return HttpResponseRedirect(
            reverse("admin:sessions_app_session_change", args=[session.pk])
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        operations = []
        if self.has_change_permission(request):
            operations = [
                {"name": name, "label": operation.label,
                 "url": reverse("admin:sessions_app_session_operate", args=[object_id, name])}
                for name, operation in services.LIFECYCLE.items()
            ]
        context = {**(extra_context or {}), "session_operations": operations}
        return super().change_view(request, object_id, form_url, context)

    # --- deletion: through the service, so the auth state is wiped and the engine told
    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        services.delete_session(obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        for name in list(queryset.values_list("name", flat=True)):
            services.delete_session(name)

    def get_deleted_objects(
        self, objs: Sequence[Session] | QuerySet[Session], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The rows that follow a session (history, webhooks, the store) go with it; their
        # admins being read-only must not block deleting the session itself.
        own = {str(self.opts.verbose_name)}
        return deleted, counts, {name for name in perms_needed if name in own}, protected


def me_field(session: Session, key: str) -> str | None:
    value = session.me.get(key) if isinstance(session.me, dict) else None
    return str(value) if value else None


# --- engine processes ------------------------------------------------------------------------
@admin.register(EngineProcess)
class EngineProcessAdmin(ReadOnlyAdmin):
    list_display = ("worker_id", "engine", "hostname", "pid", "started_at", "heartbeat_at",
                    "alive", "sessions_owned")
    list_filter = ("engine", "hostname")
    search_fields = ("worker_id", "hostname")
    readonly_fields = ("worker_id", "engine", "hostname", "pid", "started_at", "heartbeat_at",
                       "alive", "sessions_owned")

    @admin.display(description="alive", boolean=True)
    def alive(self, process: EngineProcess) -> bool:
        return process.is_alive()

    @admin.display(description="sessions owned")
    def sessions_owned(self, process: EngineProcess) -> int:
        return Session.objects.owned_by(process.worker_id).count()


# --- the audit log ---------------------------------------------------------------------------
@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """A record: nothing is added, changed or deleted here."""

    list_display = ("timestamp", "actor_kind", "actor_id", "operation", "session", "status",
                    "summary")
    list_filter = ("actor_kind", "operation", "status")
    search_fields = ("session", "actor_id")
    search_help_text = "A session name or an actor (a key id or a username)."
    date_hierarchy = "timestamp"
    readonly_fields = list_display

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False  # pruning (WAHA_AUDIT_RETENTION_DAYS) owns their removal
