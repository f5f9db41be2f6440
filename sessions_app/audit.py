"""The audit log's recording rule: one `AuditEntry` per state-changing request, refusals
included.

A POST, PUT, PATCH or DELETE is recorded when it reaches a view (its URL resolved and, for a
form, Django's CSRF check passed) and someone known asked: an API key (`request.principal`:
a stored key's id, or "env" for `WAHA_API_KEY`) or a dashboard or admin user (their username).
What nobody known asked is not: the key middleware answers 401 before any view, and a refused
dashboard login stays anonymous, so an unauthenticated flood cannot fill the table. A login
that succeeds is recorded as the user it logged in.

A row holds the operation (`operation_of`), the session the request is about (`session_of`),
the status code, and the method and path: never the query string (it may hold the key) nor
the body (a config holds webhook keys and proxy passwords). It is one INSERT, in autocommit,
after the answer is ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch

from waha_project.access import Principal
from waha_project.permissions import OnSession, rule_of

from . import services
from .access import record
from .models import ActorKind, Session

log = logging.getLogger("waha.audit")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a method does to the resource a URL names, in DRF's words (a viewset's actions); a POST
# route's own name already says what it does (`send-text`, `server-stop`).
METHOD_VERBS = {"POST": "", "PUT": "update", "PATCH": "partial-update", "DELETE": "destroy"}
ADMIN_SESSION_ROUTE = "sessions_app_session_"


@dataclass
class Pending:
    """What is known of a request's row before its view runs."""

    actor: Principal | None  # None: anonymous so far (a login may name the user)
    operation: str
    session: str | None  # None: found once the view has run (the API reads the body)


# --- who, what, on which session -----------------------------------------------------------
def actor_of(request: HttpRequest) -> Principal | None:
    principal: Principal | None = getattr(request, "principal", None)  # a keyed path
    if principal is not None:
        return principal
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return Principal(kind=ActorKind.USER, id=user.get_username())


def route_name(match: ResolverMatch) -> str:
    return match.url_name or match.route


def operation_of(request: HttpRequest, view: Callable[..., Any], match: ResolverMatch) -> str:
    """A stable short name: an API viewset's basename and action (`session-stop`,
    `key-create`), another API route's name with DRF's verb for its method
    (`send-text`, `session-profile-picture-destroy`), `dashboard:<route or lifecycle
    operation>` (`dashboard:stop`), or the admin's view name with its action
    (`admin:sessions_app_session_changelist:stop_sessions`)."""
    if match.namespace == "admin":
        return admin_operation(request, match)
    if match.namespace == "dashboard":
        name = route_name(match)
        if name == "action" and match.kwargs.get("action") in services.LIFECYCLE:
            name = match.kwargs["action"]
        return f"dashboard:{name}"
    return api_operation(request.method or "", view, route_name(match))


def api_operation(method: str, view: Callable[..., Any], fallback: str) -> str:
    actions: Mapping[str, str] = getattr(view, "actions", None) or {}
    basename = getattr(view, "initkwargs", {}).get("basename")
    action = actions.get(method.lower())
    if basename and action:
        return f"{basename}-{action.replace('_', '-')}"
    verb = METHOD_VERBS.get(method, method.lower())
    return f"{fallback}-{verb}" if verb else fallback


def admin_operation(request: HttpRequest, match: ResolverMatch) -> str:
    detail = ""
    if route_name(match) == f"{ADMIN_SESSION_ROUTE}operate":
        detail = match.kwargs.get("name", "")
    elif route_name(match).endswith("_changelist"):
        detail = request.POST.get("action", "")
    if detail.isidentifier() and len(detail) <= 50:
        return f"{match.view_name}:{detail}"
    return match.view_name


def path_session(kwargs: Mapping[str, Any]) -> str:
    return str(kwargs.get("name") or kwargs.get("session") or "")


def body_session(data: Any) -> str:
    if not isinstance(data, Mapping):
        return ""
    name = data.get("session") or data.get("name")
    return name if isinstance(name, str) else ""


def session_before_view(request: HttpRequest, match: ResolverMatch) -> str | None:
    """The dashboard's and the admin's session, read before the view (a delete removes the
    admin's row); None for the API, whose body is read once its view has parsed it."""
    if match.namespace == "dashboard":
        if route_name(match) == "create":
            return request.POST.get("name", "")
        return str(match.kwargs.get("name", ""))
    if match.namespace == "admin":
        object_id = str(match.kwargs.get("object_id", ""))
        if route_name(match).startswith(ADMIN_SESSION_ROUTE) and object_id.isdigit():
            name = Session.objects.filter(pk=object_id).values_list("name", flat=True).first()
            return name or ""
        return ""
    return None


def api_session(response: HttpResponse, kwargs: Mapping[str, Any]) -> str:
    """The session the route's access rule names (`OnSession`: its path parameter, or its body
    field and default), else the path's `name`/`session`, else the body's `session`/`name`
    (an admin route: a new session, a key for a session)."""
    context: Mapping[str, Any] = getattr(response, "renderer_context", None) or {}
    view, request = context.get("view"), context.get("request")
    if view is None or request is None:  # not a DRF answer
        return path_session(kwargs)
    try:
        rule = rule_of(view, request)
        if isinstance(rule, OnSession):
            return rule.session_named(request, view)
        return path_session(view.kwargs) or body_session(request.data)
    except Exception:  # a body the view never parsed may be anything: no session then
        return ""


def session_of(request: HttpRequest, response: HttpResponse, pending: Pending) -> str:
    if pending.session is not None:
        return pending.session
    match = request.resolver_match
    return api_session(response, match.kwargs if match else {})


# --- what a view knows better than its route ------------------------------------------------
def pending_of(request: Any) -> Pending | None:
    """The row a request will write (Django's request or DRF's), if any."""
    request = getattr(request, "_request", request)
    return getattr(request, "audit_pending", None)


def names_session(request: Any, session: str) -> None:
    """The session a view chose (a create without a name makes one up)."""
    pending = pending_of(request)
    if pending is not None:
        pending.session = session


def handed_to(request: Any, view: Callable[..., Any], session: str) -> None:
    """A request a view hands on to another route's view (WAHA's deprecated paths that are
    also a session's own): recorded as that route's operation on that session."""
    pending = pending_of(request)
    if pending is not None:
        method = getattr(request, "method", None) or ""
        pending.operation = api_operation(method, view, pending.operation)
        pending.session = session


# --- the middleware --------------------------------------------------------------------------
class AuditMiddleware:
    """Placed after the authentication middlewares: it reads `request.principal` and
    `request.user`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        pending: Pending | None = getattr(request, "audit_pending", None)
        if pending is not None:
            self.write(request, response, pending)
        return response

    def process_view(self, request: HttpRequest, view: Callable[..., Any], args: Any,
                     kwargs: Any) -> None:
        match = request.resolver_match
        if request.method not in STATE_CHANGING or match is None:
            return
        request.audit_pending = Pending(  # type: ignore[attr-defined]
            actor=actor_of(request), operation=operation_of(request, view, match),
            session=session_before_view(request, match))

    def write(self, request: HttpRequest, response: HttpResponse, pending: Pending) -> None:
        actor = pending.actor or actor_of(request)  # a login names its user afterwards
        if actor is None:
            return
        try:
            record(actor, operation=pending.operation,
                   session=session_of(request, response, pending),
                   status=response.status_code, summary=f"{request.method} {request.path}")
        except DatabaseError:
            # The change is made and answered: a lost row must not turn it into a 500.
            log.exception("audit: the row of %s %s was not written", request.method,
                          request.path)
