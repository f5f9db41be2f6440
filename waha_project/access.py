"""Who is asking and what they may do: the principal of a request (a key, a dashboard user),
its actions (scopes) on each session, and the refusals. The API's rules per route are in
`waha_project.permissions`; the dashboard and `/ws` ask the principal directly.

A principal is the admin (the `WAHA_API_KEY`, an admin key, a superuser) or holds grants: the
sessions it may reach, each with its actions (scopes). A session a principal cannot reach is
answered as missing (404), so its existence is not revealed; a reachable session without the
action is a 403 naming it; an admin-only route is a 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models


class Action(models.TextChoices):
    """WAHA's key actions (scopes), with what each one opens."""

    READ = "read", "read: session data, QR code, store reads, deliveries"
    SEND = "send", "send: sendText and profile writes"
    CONTROL = "control", "control: start, stop, restart, logout, pairing code"
    SETTING = "setting", "setting: replace the session's config"
    APP = "app", "app: apps (nothing yet)"
    DELETE = "delete", "delete: delete the session"


# What a key or a grant holds when its actions are not given (WAHA's defaults).
DEFAULT_ACTIONS: dict[str, bool] = {action.value: action != Action.DELETE for action in Action}


class Refused(Exception):
    """A principal may not do this; `status` is the HTTP answer (404 hides the session)."""

    status = 403

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class SessionHidden(Refused):
    status = 404

    def __init__(self) -> None:
        super().__init__("Session not found")


class MissingAction(Refused):
    def __init__(self, action: str) -> None:
        super().__init__(f"The '{action}' action (scope) is required for this route")
        self.action = action


class AdminOnly(Refused):
    def __init__(self) -> None:
        super().__init__("An admin key is required for this route")


@dataclass(frozen=True)
class Principal:
    """`kind`: "env" (WAHA_API_KEY), "key" (a stored key) or "user" (a dashboard user); `id`
    names it in the audit log, never a secret. `grants` is None for the admin."""

    kind: str
    id: str
    grants: Mapping[str, frozenset[str]] | None = None

    @property
    def is_admin(self) -> bool:
        return self.grants is None

    @property
    def session_names(self) -> list[str] | None:
        """The sessions it may see, or None for all."""
        return None if self.grants is None else sorted(self.grants)

    def sessions_with(self, action: str) -> list[str] | None:
        """The sessions where it holds the action (what its lists and `/ws` narrow to), or
        None for all."""
        if self.grants is None:
            return None
        return sorted(name for name, actions in self.grants.items() if action in actions)

    def can(self, session: str, action: str) -> bool:
        return self.grants is None or action in self.grants.get(session, ())

    def sees(self, session: str) -> bool:
        return self.grants is None or session in self.grants

    def require(self, session: str, action: str) -> None:
        """Nothing when allowed; a 404 for a session it cannot see; a 403 naming the action."""
        if self.grants is None:
            return
        if session not in self.grants:
            raise SessionHidden()
        if action not in self.grants[session]:
            raise MissingAction(action)

    def require_anywhere(self, action: str) -> None:
        """For lists: the action on at least one of its sessions (the list then narrows)."""
        if self.grants is not None and not any(action in a for a in self.grants.values()):
            raise MissingAction(action)

    def require_admin(self) -> None:
        if self.grants is not None:
            raise AdminOnly()


ENV_ADMIN = Principal(kind="env", id="WAHA_API_KEY")


def principal_of(request: Any) -> Principal:
    """The principal the API key middleware found (Django's or DRF's request)."""
    return getattr(request, "principal", None) or ENV_ADMIN
