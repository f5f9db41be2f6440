"""The API's access rules, checked in one place: `RouteAccess`, DRF's default permission.

Every view says its rules in `access`, keyed by viewset action or HTTP method. A route with no
rule is refused, and the table test over the schema fails until it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .access import Principal, principal_of
from .parsers import json_object

if TYPE_CHECKING:  # DRF's views read RouteAccess while they load
    from rest_framework.request import Request
    from rest_framework.views import APIView


# --- rules -----------------------------------------------------------------------------------
class Rule:
    # The refusals the rule can answer a key that is not an admin's: (status, why), for the
    # schema (`waha_project.api.AutoSchema`).
    refusals: tuple[tuple[int, str], ...] = ()

    def check(self, principal: Principal, request: Request, view: APIView) -> None:
        raise NotImplementedError

    def check_object(self, principal: Principal, request: Request, view: APIView,
                     obj: Any) -> None:
        """For the routes that name an object (DRF's `check_object_permissions`)."""
        return None


class Anyone(Rule):
    """Any valid key: the route shows nothing of any session (server version, status)."""

    def check(self, principal: Principal, request: Request, view: APIView) -> None:
        return None


ADMIN_ONLY = (403, "Not an admin key")
MISSING_ACTION = (403, "The key lacks the action (scope) this route needs; message names it")
HIDDEN = (404, "Not found, or a session the key does not reach")


class AdminRule(Rule):
    refusals = (ADMIN_ONLY,)

    def check(self, principal: Principal, request: Request, view: APIView) -> None:
        principal.require_admin()


@dataclass(frozen=True)
class Listing(Rule):
    """A list narrowed to the principal's sessions: the action on one of them at least."""

    action: str
    refusals = (MISSING_ACTION,)

    def check(self, principal: Principal, request: Request, view: APIView) -> None:
        principal.require_anywhere(self.action)


@dataclass(frozen=True)
class OnObject(Rule):
    """The action on the session of the object the route names (`view.session_of(obj)`).
    The view finds the object among the sessions the principal sees (`session_names`), so
    another session's object is a 404, and one of its own without the action a 403."""

    action: str
    refusals = (MISSING_ACTION, HIDDEN)

    def check(self, principal: Principal, request: Request, view: APIView) -> None:
        principal.require_anywhere(self.action)

    def check_object(self, principal: Principal, request: Request, view: APIView,
                     obj: Any) -> None:
        principal.require(view.session_of(obj), self.action)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OnSession(Rule):
    """The action on the session the route names: a path parameter, or a body field."""

    action: str
    path: str | None = None
    body: str | None = None
    default: str | None = None  # the body's session when it names none
    refusals = (MISSING_ACTION, HIDDEN)

    def check(self, principal: Principal, request: Request, view: APIView) -> None:
        if principal.is_admin:
            return
        principal.require(self.session_named(request, view), self.action)

    def session_named(self, request: Request, view: APIView) -> str:
        if self.path is not None:
            return str(view.kwargs[self.path])
        assert self.body is not None
        name = json_object(request.data).get(self.body) or self.default
        if not isinstance(name, str) or not name:
            raise exceptions.ValidationError({self.body: ["a session name is required"]})
        return name


ANYONE = Anyone()
ADMIN = AdminRule()
OPTIONS = {"options": ANYONE, "metadata": ANYONE}


def rule_of(view: APIView, request: Request) -> Rule | None:
    return rule_for(view, request.method or "")


def rule_for(view: APIView, method: str) -> Rule | None:
    """The view's rule for its action (a viewset's) or this HTTP method."""
    key = getattr(view, "action", None) or method.lower()
    rules: Mapping[str, Rule] = {**OPTIONS, **getattr(view, "access", {})}
    # HEAD is GET without the body (Django answers it with the view's `get`): GET's rule.
    return rules.get(key) or (rules.get("get") if key == "head" else None)


def handled(view: APIView, request: Request) -> bool:
    """Whether the view has a handler for this request at all (else DRF answers 405)."""
    if hasattr(view, "action"):
        return getattr(view, "action", None) is not None
    return hasattr(view, (request.method or "").lower())


class RouteAccess(BasePermission):
    """Every API view's permission: the view's rule for this action or method, checked
    against the request's principal (`access.Refused` answers the refusal). No rule, no
    access."""

    message = "This route has no access rule"

    def has_permission(self, request: Request, view: APIView) -> bool:
        rule = rule_of(view, request)
        if rule is None:
            return not handled(view, request)  # a method the view lacks: DRF's 405
        rule.check(principal_of(request), request, view)
        return True

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        rule = rule_of(view, request)
        if rule is None:
            return False
        rule.check_object(principal_of(request), request, view, obj)
        return True
