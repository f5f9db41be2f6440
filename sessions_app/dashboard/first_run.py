"""The first dashboard user, created by `serve` after migrate when no user exists yet."""

from __future__ import annotations

import secrets
import sys
from typing import Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction


class Output(Protocol):
    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


def ensure_dashboard_user(out: Output | None = None) -> AbstractBaseUser | None:
    """Create the first user from WAHA_DASHBOARD_USERNAME / _PASSWORD, or with a generated
    password printed once; do nothing when any user exists (the variables are then unused)."""
    out = out or sys.stdout
    user_model = get_user_model()
    if user_model.objects.exists():
        return None
    username = settings.DASHBOARD_USERNAME or "admin"
    password = settings.DASHBOARD_PASSWORD
    generated = not password
    if generated:
        password = secrets.token_urlsafe(18)
    else:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise ImproperlyConfigured(
                f"WAHA_DASHBOARD_PASSWORD: {' '.join(exc.messages)}"
            ) from None
    try:
        with transaction.atomic():
            # A superuser, so the same account also opens the Django admin.
            user = user_model.objects.create_superuser(username=username, email="",
                                                       password=password)
    except IntegrityError:  # another process created it first
        return None
    if generated:
        out.write(
            f"Dashboard user '{username}' created with a generated password (shown only "
            f"this once): {password}\n"
            "Log in at /dashboard/ and change it at /admin/password_change/, or set "
            "WAHA_DASHBOARD_PASSWORD before the first start.\n"
        )
    else:
        out.write(f"Dashboard user '{username}' created from WAHA_DASHBOARD_PASSWORD.\n")
    out.flush()
    return user
