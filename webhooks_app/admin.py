"""The support staff's view of webhook configs, deliveries and their attempts.

All read-only: webhook rows follow the session config, deliveries are the record of what was
sent. The one thing staff can do is send a delivery again. HMAC keys are never shown, custom
header values (often tokens) and the passwords in URLs are masked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from waha_project.admin import MASK, ReadOnlyAdmin, ReadOnlyInline, mask, masked_url, pretty_json

from .models import Delivery, DeliveryAttempt, Target, Webhook
from .services import redeliver

RESPONSE_EXCERPT_CHARS = 200


def masked_headers(headers: object) -> list[Any]:
    """`[{name, value}]` with the values masked: a header often carries a token."""
    if not isinstance(headers, list):
        return []
    return [
        {**header, "value": MASK} if isinstance(header, dict) and "value" in header else header
        for header in headers
    ]


def masked_webhook(config: object) -> object:
    """A copy of one `config.webhooks` entry with its URL's password, its HMAC key and its
    header values masked."""
    if not isinstance(config, dict):
        return config
    result = dict(config)
    if isinstance(result.get("url"), str):
        result["url"] = masked_url(result["url"])
    hmac = result.get("hmac")
    if isinstance(hmac, dict) and hmac.get("key"):
        result["hmac"] = {**hmac, "key": MASK}
    if result.get("customHeaders"):
        result["customHeaders"] = masked_headers(result["customHeaders"])
    return result


def header_names(headers: object) -> str:
    """The names of `[{name, value}]` custom headers, for a column that shows no value."""
    if not isinstance(headers, list):
        return "-"
    names = [str(header.get("name", "?")) for header in headers if isinstance(header, dict)]
    return ", ".join(names) or "-"


class ShownUrl:
    """The URL column of a webhook or a delivery: its password masked."""

    @admin.display(description="URL")
    def shown_url(self, row: Webhook | Delivery) -> str:
        return row.display_url


class WebhookColumns(ShownUrl):
    """Admin columns of a Webhook with its secrets masked: shared by its admin and the
    session's inline."""

    @admin.display(description="HMAC key")
    def hmac(self, webhook: Webhook) -> str:
        return mask(webhook.hmac_key)

    @admin.display(description="retries")
    def retries(self, webhook: Webhook) -> str:
        return (f"{webhook.retry_attempts} retries, {webhook.retry_policy}, "
                f"{webhook.retry_delay_seconds} s")

    @admin.display(description="custom headers (values masked)")
    def custom_header_names(self, webhook: Webhook) -> str:
        return header_names(webhook.custom_headers)


@admin.register(Webhook)
class WebhookAdmin(WebhookColumns, ReadOnlyAdmin):
    list_display = ("session", "position", "shown_url", "event_list", "hmac", "retries")
    list_select_related = ("session",)
    list_filter = ("retry_policy",)
    # Shows the search box; get_search_results below does the matching.
    search_fields = ("session__name",)
    search_help_text = "A session name, or a part of the URL as shown (passwords masked)."
    exclude = ("url", "hmac_key", "custom_headers")
    fields = ("session", "position", "shown_url", "event_list", "hmac", "retry_policy",
              "retry_delay_seconds", "retry_attempts", "custom_header_names")
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Webhook],
                           search_term: str) -> tuple[QuerySet[Webhook], bool]:
        # A URL is matched as shown, never in SQL against the stored one: a search must not
        # tell whether a password contains a term. Webhooks are config entries: few rows.
        found, _ = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        by_url = [pk for pk, url in queryset.values_list("pk", "url")
                  if term in masked_url(url).lower()]
        return queryset.filter(Q(pk__in=found.values("pk")) | Q(pk__in=by_url)), False

    @admin.display(description="events")
    def event_list(self, webhook: Webhook) -> str:
        return ", ".join(str(event) for event in webhook.events or [])


class AttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields
    ordering = ("number",)

    @admin.display(description="response body")
    def response_excerpt(self, attempt: DeliveryAttempt) -> SafeString | None:
        if not attempt.response_body:
            return None
        excerpt = Truncator(attempt.response_body).chars(RESPONSE_EXCERPT_CHARS)
        return format_html('<span style="word-break: break-all">{}</span>', excerpt)

class DeletedSessionFilter(admin.SimpleListFilter):
    """A deleted session's deliveries are kept, apart from those of a session of its name."""

    title = "session"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Existing sessions"), ("yes", "Deleted sessions")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(session__isnull=self.value() == "yes")
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ShownUrl, admin.ModelAdmin):
    list_display = ("event", "session_column", "shown_url", "status", "attempts",
                    "last_status_code", "waiting_until", "created_at")
    list_filter = ("status", "event", "is_global", DeletedSessionFilter)
    search_fields = ("=event_id", "session_name")
    search_help_text = "An event id (evt_…), exactly, or a session name."
    date_hierarchy = "created_at"
    actions = ("send_again",)
    inlines = (AttemptInline,)
    exclude = ("session", "url", "hmac_key", "custom_headers", "body", "origin", "claim_token")
    fieldsets = (
        (None, {"fields": ("event", "event_id", "event_timestamp", "session_column", "webhook",
                           "is_global", "shown_url", "custom_header_names", "hmac")}),
        ("Progress", {"fields": ("status", "attempts", "last_status_code", "last_error",
                                 "next_attempt_at", "waiting_until", "enqueued_at",
                                 "locked_until", "created_at", "finished_at")}),
        ("Retries", {"fields": ("retry_policy", "retry_delay_seconds", "retry_attempts")}),
        ("Body", {"fields": ("body_display",)}),
    )
    readonly_fields = (
        "event", "event_id", "event_timestamp", "session_column", "webhook", "is_global",
        "shown_url", "custom_header_names", "hmac", "status", "attempts", "last_status_code",
        "last_error", "next_attempt_at", "waiting_until", "enqueued_at", "locked_until",
        "created_at", "finished_at",
        "retry_policy", "retry_delay_seconds", "retry_attempts", "body_display",
    )

    @admin.display(description="session", ordering="session_name")
    def session_column(self, delivery: Delivery) -> str:
        deleted = " (deleted)" if delivery.session_id is None else ""
        return f"{delivery.session_name}{deleted}"

    @admin.display(description="HMAC key")
    def hmac(self, delivery: Delivery) -> str:
        return mask(delivery.hmac_key)

    @admin.display(description="custom headers (values masked)")
    def custom_header_names(self, delivery: Delivery) -> str:
        return header_names(delivery.custom_headers)

    @admin.display(description="body")
    def body_display(self, delivery: Delivery) -> SafeString:
        try:
            return pretty_json(json.loads(delivery.body))
        except ValueError:
            return format_html("<pre>{}</pre>", delivery.body)

    # --- permissions: a delivery is a record; model-level change permission sends it again
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False  # pruning (WAHA_WEBHOOK_RETENTION_DAYS) owns their removal

    # --- sending again
    @admin.action(description="Send again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        self.resend(request, queryset)

    def resend(self, request: HttpRequest,
               deliveries: QuerySet[Delivery] | Sequence[Delivery]) -> list[Delivery]:
        copies = []
        for delivery in deliveries:
            copy = redeliver(delivery)
            self.log_change(request, delivery, f"Sent again from the admin as delivery {copy.pk}")
            copies.append(copy)
        count = len(copies)
        self.message_user(
            request,
            f"Queued {count} {model_ngettext(self.opts, count)} again, as new deliveries of "
            "the same events.",
            messages.SUCCESS,
        )
        return copies

    def get_urls(self) -> list[URLPattern]:
        send_again = path(
            "<path:object_id>/send-again/",
            self.admin_site.admin_view(self.send_again_view),
            name="webhooks_app_delivery_send_again",
        )
        return [send_again, *super().get_urls()]

    def send_again_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        delivery = self.get_object(request, unquote(object_id))
        if delivery is None:
            self.message_user(request, f"No delivery with id {object_id}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:webhooks_app_delivery_changelist"))
        [copy] = self.resend(request, [delivery])
        return HttpResponseRedirect(reverse("admin:webhooks_app_delivery_change", args=[copy.pk]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        buttons = []
        if self.has_change_permission(request):
            buttons = [{"label": "Send again",
                        "url": reverse("admin:webhooks_app_delivery_send_again",
                                       args=[object_id])}]
        context = {**(extra_context or {}), "delivery_buttons": buttons}
        return super().change_view(request, object_id, form_url, context)


@admin.register(Target)
class TargetAdmin(ReadOnlyAdmin):
    """Receivers that have failed at some point, and their circuit breakers."""

    list_display = ("origin", "consecutive_failures", "open_until", "probe_until", "last_error",
                    "updated_at")
    search_fields = ("origin",)
    fields = list_display
    readonly_fields = list_display
