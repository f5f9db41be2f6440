"""An API key's fields from a form (the dashboard's Keys page, the admin), judged as `/api/keys`
judges a body: its serializer and its messages, each error beside the form field it names."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from waha_project.errors import walk_validation

from .api.keys import ApiKeyRequestSerializer, fields_of

# The body's names, as the form calls them.
FORM_FIELDS = {"isAdmin": "is_admin", "session": "session", "isActive": "is_active"}


def judged_key(*, is_admin: bool, session: str | None, is_active: bool,
               actions: dict[str, bool]) -> dict[str, Any]:
    """The keyword arguments of `access.create_key` / `update_key`; a ValidationError by form
    field otherwise (an admin key names no session, any other key names one)."""
    serializer = ApiKeyRequestSerializer(data={
        "isAdmin": is_admin, "session": session or None, "isActive": is_active,
        "actions": actions,
    })
    if not serializer.is_valid():
        errors: dict[str, list[str]] = {}
        for path, message in walk_validation(serializer.errors):
            field = FORM_FIELDS.get(path.split(".", 1)[0], NON_FIELD_ERRORS)
            errors.setdefault(field, []).append(message)
        raise forms.ValidationError(errors)
    return fields_of(dict(serializer.validated_data))
