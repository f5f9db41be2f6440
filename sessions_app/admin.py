"""The support staff's console for sessions, engine processes and the audit log.

Everything here is read-only: the desired state changes only through `services` (the actions
below), and the observed state belongs to the engine that owns the session. Secrets in the
config are masked (`masked_config`) and the QR value, a credential, is never shown.

A staff user who is not a superuser sees only the sessions granted to them (`SessionGrant`,
with `read`), and their webhooks and deliveries; the lifecycle actions need `control`,
deleting needs `delete`, as on the API and the dashboard. API keys are for superusers. Grants
are edited on the user's page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext, unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from waha_project.access import Action, Principal
from waha_project.admin import (
    MASK,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReadOnlyPermissions,
    pretty_json,
)
from webhooks_app.admin import DeliveryAdmin, WebhookAdmin, WebhookColumns, masked_webhook
from webhooks_app.models import Delivery, Webhook

from . import access, services
from .errors import SessionNotFound
from .key_forms import judged_key
from .models import (
    ApiKey,
    AuditEntry,
    EngineProcess,
    Session,
    SessionGrant,
    SessionStatus,
    SessionStatusChange,
)

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


# --- who sees which sessions -------------------------------------------------------------------
ACTION_COLUMNS = tuple(f"can_{action.value}" for action in Action)


def principal(request: HttpRequest) -> Principal:
    return access.principal_for_request(request)


class GrantedOnly:
    """Rows of the sessions the staff user may read, by `session_lookup` (all for a
    superuser); another session's page is missing, as a deleted one's is."""

    session_lookup = "name"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        names = principal(request).sessions_with(Action.READ)
        if names is None:
            return queryset
        return queryset.filter(**{f"{self.session_lookup}__in": names})


class SuperusersOnly:
    """Pages for superusers alone, whatever a staff user's model permissions say."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return principal(request).is_admin

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return principal(request).is_admin

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return principal(request).is_admin

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return principal(request).is_admin

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return principal(request).is_admin


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


class GrantInline(ReadOnlyInline):
    """Who may use this session from the dashboard (edited on each user's page); shown to
    superusers."""

    model = SessionGrant
    verbose_name = "dashboard grant"
    fields = readonly_fields = ("user", "can_read", "can_send", "can_control", "can_setting",
                                "can_app", "can_delete")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return principal(request).is_admin


# --- sessions ---------------------------------------------------------------------------------
@admin.register(Session)
class SessionAdmin(GrantedOnly, admin.ModelAdmin):
    list_display = ("name", "status_column", "phone", "push_name", "owner", "updated_at")
    list_filter = (DisplayStatusFilter, OwnerFilter)
    # Shows the search box; get_search_results below does the matching.
    search_fields = ("name", "me__id", "config__metadata")
    search_help_text = "Name, phone number (me.id) or a metadata key or value."
    ordering = ("name",)
    actions = ("start_sessions", "stop_sessions", "restart_sessions", "logout_sessions")
    inlines = (WebhookInline, StatusHistoryInline, GrantInline)
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
        done, missing, refused = 0, [], []
        for session in sessions:
            if not principal(request).can(session.name, Action.CONTROL):
                refused.append(session.name)
                continue
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
        if refused:
            self.message_user(request, f"Not allowed: the 'control' action is not granted to "
                                       f"you on {', '.join(refused)}.", messages.ERROR)
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
        session = self.get_object(request, unquote(object_id))
        if (self.has_change_permission(request) and session is not None
                and principal(request).can(session.name, Action.CONTROL)):
            operations = [
                {"name": name, "label": operation.label,
                 "url": reverse("admin:sessions_app_session_operate", args=[object_id, name])}
                for name, operation in services.LIFECYCLE.items()
            ]
        context = {**(extra_context or {}), "session_operations": operations}
        return super().change_view(request, object_id, form_url, context)

    # --- deletion: through the service, so the auth state is wiped and the engine told
    def has_delete_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None or principal(request).can(obj.name, Action.DELETE))

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
        needed = {name for name in perms_needed if name in own}
        # One session without the delete action refuses the whole batch (Django then answers
        # 403 to the confirmation).
        needed |= {f"session {session.name} (the 'delete' action)" for session in objs
                   if not principal(request).can(session.name, Action.DELETE)}
        return deleted, counts, needed, protected


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
class AuditEntryAdmin(ReadOnlyPermissions, SuperusersOnly, admin.ModelAdmin):
    """A record of every session's changes, for superusers: nothing is added, changed or
    deleted here (pruning, `WAHA_AUDIT_RETENTION_DAYS`, owns their removal)."""

    list_display = ("timestamp", "actor_kind", "actor_id", "operation", "session", "status",
                    "summary")
    list_filter = ("actor_kind", "operation", "status")
    search_fields = ("session", "actor_id")
    search_help_text = "A session name or an actor (a key id or a username)."
    date_hierarchy = "timestamp"
    readonly_fields = list_display


# --- webhooks and deliveries: those of the sessions a staff user may read ---------------------
admin.site.unregister(Webhook)
admin.site.unregister(Delivery)


@admin.register(Webhook)
class GrantedWebhookAdmin(GrantedOnly, WebhookAdmin):
    session_lookup = "session__name"


@admin.register(Delivery)
class GrantedDeliveryAdmin(GrantedOnly, DeliveryAdmin):
    session_lookup = "session__name"

    def resend(self, request: HttpRequest,
               deliveries: QuerySet[Delivery] | Sequence[Delivery]) -> list[Delivery]:
        # Sending again needs control on each delivery's session, as on the API.
        if not all(principal(request).can(delivery.session_name, Action.CONTROL)
                   for delivery in deliveries):
            raise PermissionDenied
        return super().resend(request, deliveries)


# --- API keys ---------------------------------------------------------------------------------
class ApiKeyForm(forms.ModelForm):
    """Judged as `/api/keys` judges a body (`judged_key`); `access` creates and updates."""

    class Meta:
        model = ApiKey
        fields = ("is_admin", "session", "is_active", *ACTION_COLUMNS)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            is_admin = data["is_admin"] if "is_admin" in self.fields else self.instance.is_admin
            session = data.get("session")
            self.key_fields = judged_key(
                is_admin=bool(is_admin), session=session.name if session else None,
                is_active=bool(data.get("is_active")),
                actions={action.value: bool(data.get(f"can_{action.value}"))
                         for action in Action})
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(SuperusersOnly, admin.ModelAdmin):
    """The whole key is shown once, in the message after it is created; the digest never."""

    form = ApiKeyForm
    list_display = ("id", "masked", "session", "is_admin", "is_active", "action_list",
                    "created_at")
    list_select_related = ("session",)
    list_filter = ("is_admin", "is_active")
    search_fields = ("id", "session__name")
    search_help_text = "A key id (key_id_…) or a session name."
    EDITABLE: tuple[str, ...] = ("session", "is_active", *ACTION_COLUMNS)
    SHOWN: tuple[str, ...] = ("id", "masked", "is_admin", "created_at", "updated_at")

    @admin.display(description="actions")
    def action_list(self, key: ApiKey) -> str:
        if key.is_admin:
            return "all (admin)"
        return ", ".join(name for name, on in key.actions.items() if on) or "none"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("is_admin", *self.EDITABLE)
        return (*self.SHOWN[:3], *self.EDITABLE, *self.SHOWN[3:])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.SHOWN

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            access.update_key(obj, **form.key_fields)
            return
        key, plain = access.create_key(**form.key_fields)
        obj.pk = key.pk
        obj.refresh_from_db()  # the admin's answer and its log name the key it created
        self.message_user(request, f"The new key, shown this once (only its digest is kept): "
                                   f"{plain}", messages.SUCCESS)


# --- users: their dashboard grants -----------------------------------------------------------
class SessionGrantInline(admin.TabularInline):
    """The sessions a user who is not a superuser reaches in the dashboard and the admin."""

    model = SessionGrant
    extra = 0
    fields = ("session", *ACTION_COLUMNS)
    verbose_name = "session grant"
    verbose_name_plural = ("session grants (what this user reaches when not a superuser; "
                           "a superuser reaches every session)")


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithGrantsAdmin(UserAdmin):
    inlines = (*UserAdmin.inlines, SessionGrantInline)
