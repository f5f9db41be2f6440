"""Admin pieces both apps use: read-only permissions, masks for secrets (`masks`), JSON shown
as text.

Support staff read rows; what they change goes through each app's services, never a form.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .masks import MASK, mask, masked_url

__all__ = ["MASK", "ReadOnlyAdmin", "ReadOnlyInline", "ReadOnlyPermissions", "mask",
           "masked_url", "pretty_json"]


def pretty_json(value: object) -> SafeString:
    """Indented JSON in a <pre>, HTML-escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    return format_html('<pre style="margin: 0; white-space: pre-wrap">{}</pre>', text)


class ReadOnlyPermissions:
    """Never added, changed or deleted from the admin: the one home of that rule."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyPermissions, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyPermissions, admin.TabularInline):
    """Rows shown beside their parent."""

    extra = 0
    can_delete = False
    show_change_link = False
