"""Dashboard pages. Every action is a POST form with a CSRF token that calls one function of
sessions_app.services (or webhooks_app.services); the pages then update themselves live over
one websocket (`/dashboard/ws`, see consumers.py).

A superuser sees and does everything. Any other user reaches only the sessions granted to them
(`SessionGrant`), each with its actions, as a key does on the API (`Principal`): another
session's page is missing (404), an action they do not hold is refused (403), creating a
session and the API keys are for superusers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from waha_project.access import Action, MissingAction, Principal, SessionHidden
from waha_project.errors import DomainError
from waha_project.masks import masked_url
from waha_project.timestamps import ms
from webhooks_app import services as webhook_services
from webhooks_app.models import Delivery, DeliveryStatus, Webhook
from webhooks_app.subscriptions import EventName

from .. import access, groups, services
from ..engines import get_engine
from ..errors import SessionExists, SessionNotFound
from ..fanout import qr_frame
from ..models import ApiKey, Session, SessionStatus
from .forms import KeyForm, PairingForm, SessionEditor

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)

# No inline script or style, nothing from elsewhere; QR images are data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
DELIVERIES_PER_PAGE = 50
URLS_LISTED = 200  # webhook URLs offered by the deliveries page's filter
HISTORY_SHOWN = 50


def with_csp(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        response = view(*args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return wrapped


class LoginView(auth_views.LoginView):
    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return with_csp(super().dispatch)(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "label_suffix": ""}


# --- helpers ------------------------------------------------------------------------------------
class PageNotFound(Exception):
    """A dashboard page about a session (or delivery) that does not exist."""


class PageRefused(Exception):
    """A page or an action the user may not reach (403); the message says why."""


def session_or_404(name: str) -> Session:
    try:
        return services.get_session(name)
    except SessionNotFound:
        raise PageNotFound(f"There is no session named {name}.") from None


def viewer(request: HttpRequest) -> Principal:
    """The logged-in user as the access rules know them (templates read it as
    `request.user_principal`)."""
    return access.principal_for_request(request)


def check(request: HttpRequest, name: str, action: str, doing: str) -> None:
    """Nothing when the user may `doing` the session; a session they cannot see is missing,
    as one that does not exist is."""
    try:
        viewer(request).require(name, action)
    except SessionHidden:
        raise PageNotFound(f"There is no session named {name}.") from None
    except MissingAction:
        raise PageRefused(f"You may not {doing} session {name}: the '{action}' action is "
                          "not granted to you.") from None


def allowed_session(request: HttpRequest, name: str, action: str, doing: str) -> Session:
    check(request, name, action, doing)
    return session_or_404(name)


def superuser_only(request: HttpRequest, doing: str) -> None:
    if not viewer(request).is_admin:
        raise PageRefused(f"Only a superuser may {doing}.")


def scoped(query: Any, names: list[str] | None, field: str = "name") -> Any:
    """The rows of these sessions only (None: every row)."""
    return query if names is None else query.filter(**{f"{field}__in": names})


def dashboard_view(view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """Login required, the dashboard's security headers, and an HTML page (not the API's
    JSON) when the session asked for does not exist or the user may not do this."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        request = args[0]
        assert isinstance(request, HttpRequest)
        viewer(request)  # read now: the pages' menus show what it may reach
        try:
            return view(*args, **kwargs)
        except PageNotFound as exc:
            return render(request, "dashboard/not_found.html", {"message": str(exc)},
                          status=404)
        except PageRefused as exc:
            return render(request, "dashboard/refused.html", {"message": str(exc)},
                          status=403)

    return with_csp(login_required(wrapped))


def next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def phone_of(me: dict[str, Any] | None) -> str:
    user = str((me or {}).get("id") or "").split("@", 1)[0]
    return f"+{user}" if user.isdigit() else user


def row(session: Session, principal: Principal) -> dict[str, Any]:
    status = session.display_status
    me = None if status == SessionStatus.STOPPED else session.me
    return {
        "session": session,
        # Which buttons the page offers; the views check again on every request.
        "can": {action.value: principal.can(session.name, action) for action in Action},
        "name": session.name,
        "status": status,
        "phone": phone_of(me),
        "push_name": (me or {}).get("pushName") or "",
        "owner": session.owner if session.lease_is_live() else "",
        "changed_at": session.status_changed_at,
        "running": status != SessionStatus.STOPPED,
    }


# --- sessions ----------------------------------------------------------------------------------
@dashboard_view
def sessions(request: HttpRequest) -> HttpResponse:
    principal = viewer(request)
    query = scoped(Session.objects.order_by("name"), principal.session_names)
    return render(request, "dashboard/sessions.html", {
        "rows": [row(session, principal) for session in query],
        "live_target": groups.ALL_SESSIONS, "nav": "sessions", "engine": get_engine().name,
    })


@dashboard_view
def session_detail(request: HttpRequest, name: str) -> HttpResponse:
    return render_detail(request, allowed_session(request, name, Action.READ, "view"),
                         PairingForm())


def render_detail(request: HttpRequest, session: Session, pairing: PairingForm, *,
                  code: str | None = None, status: int = 200) -> HttpResponse:
    history = [
        {"status": change.status, "at": change.timestamp, "ms": ms(change.timestamp),
         "reason": change.reason}
        for change in session.history.order_by("-timestamp", "-id")[:HISTORY_SHOWN]
    ]
    deliveries = (Delivery.objects.filter(session=session)
                  .aggregate(total=Count("id"),
                             failed=Count("id", filter=Q(status=DeliveryStatus.FAILED))))
    return render(request, "dashboard/session_detail.html", {
        "s": row(session, viewer(request)),
        "session": session,
        "me": None if session.display_status == SessionStatus.STOPPED else session.me,
        "qr": qr_frame(session),
        "history": history,
        "webhooks": list(Webhook.objects.filter(session=session)),
        "deliveries": deliveries,
        "pairing": pairing,
        "pairing_possible": session.display_status in (SessionStatus.SCAN_QR_CODE,
                                                       SessionStatus.STARTING),
        "code": code,
        "live_target": session.name,
        "nav": "sessions",
    }, status=status)


@dashboard_view
@require_http_methods(["GET", "POST"])
def session_create(request: HttpRequest) -> HttpResponse:
    superuser_only(request, "create sessions")
    return edit(request, None)


@dashboard_view
@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, name: str) -> HttpResponse:
    return edit(request, allowed_session(request, name, Action.SETTING,
                                         "change the config of"))


def edit(request: HttpRequest, session: Session | None) -> HttpResponse:
    if request.method != "POST":
        return render_form(request, SessionEditor(session))
    editor = SessionEditor(session, request.POST)
    if not editor.is_valid():
        return render_form(request, editor, status=400)
    try:
        saved = editor.save()
    except SessionExists:  # the name is taken; the error is beside the field now
        return render_form(request, editor, status=400)
    if session is None:
        messages.success(request, f"Session {saved.name} created.")
    else:
        note = " It restarts to apply the change." if saved.should_run else ""
        messages.success(request, f"Session {saved.name} saved.{note}")
    return redirect("dashboard:session", name=saved.name)


def render_form(request: HttpRequest, editor: SessionEditor, status: int = 200) -> HttpResponse:
    return render(request, "dashboard/session_form.html", {
        "editor": editor,
        "form": editor.form,
        "session": editor.session,
        "nav": "create" if editor.creating else "sessions",
    }, status=status)


@dashboard_view
@require_POST
def session_action(request: HttpRequest, name: str, action: str) -> HttpResponse:
    operation = services.LIFECYCLE.get(action)
    if operation is None:
        raise PageNotFound(f"There is no action named {action}.")
    check(request, name, Action.CONTROL, "log out" if action == "logout" else action)
    try:
        operation.run(name)
    except DomainError as exc:
        messages.error(request, f"Could not {action} {name}: {exc.message}")
    else:
        messages.success(request, operation.done.format(name=name))
    return HttpResponseRedirect(next_url(request, reverse("dashboard:session", args=[name])))


@dashboard_view
@require_http_methods(["GET", "POST"])
def session_delete(request: HttpRequest, name: str) -> HttpResponse:
    session = allowed_session(request, name, Action.DELETE, "delete")
    if request.method == "POST":
        services.delete_session(session.name)
        messages.success(request, f"Session {session.name} deleted.")
        return redirect("dashboard:sessions")
    return render(request, "dashboard/session_delete.html",
                  {"session": session, "s": row(session, viewer(request)), "nav": "sessions"})


@dashboard_view
@require_POST
def session_request_code(request: HttpRequest, name: str) -> HttpResponse:
    session = allowed_session(request, name, Action.CONTROL, "request a pairing code for")
    pairing = PairingForm(request.POST)
    number = pairing.validated_number()
    if number is None:
        return render_detail(request, session, pairing, status=400)
    try:
        code = services.request_code(session.name, number)
    except DomainError as exc:
        pairing.add_error("phone_number", exc.message)
        return render_detail(request, session, pairing, status=422)
    return render_detail(request, session, PairingForm(initial={"phone_number": number}),
                         code=code)


# --- events -----------------------------------------------------------------------------------
@dashboard_view
def events(request: HttpRequest) -> HttpResponse:
    names = readable_names(request)
    target = request.GET.get("session") or groups.ALL_SESSIONS
    if target != groups.ALL_SESSIONS and target not in names:
        target = groups.ALL_SESSIONS
    event = request.GET.get("event") or ""
    if event not in EventName.values:
        event = ""
    return render(request, "dashboard/events.html", {
        "names": names, "target": target, "event": event, "event_names": EventName.values,
        "live_target": target, "nav": "events",
    })


def readable_names(request: HttpRequest) -> list[str]:
    """The sessions whose events and deliveries the user may read, by name."""
    query = Session.objects.order_by("name").values_list("name", flat=True)
    return list(scoped(query, viewer(request).sessions_with(Action.READ)))


# --- deliveries --------------------------------------------------------------------------------
def readable_deliveries(request: HttpRequest) -> Any:
    """Those of the sessions the user may read; a deleted session's only for a superuser."""
    return scoped(Delivery.objects.all(), viewer(request).sessions_with(Action.READ),
                  "session__name")


@dashboard_view
def deliveries(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip()
               for key in ("session", "url", "event", "status")}
    query = readable_deliveries(request)
    urls = shown_urls(query)
    if filters["session"]:  # the session of that name now, not a deleted one's
        query = query.filter(session__name=filters["session"])
    if filters["url"]:
        query = query.filter(url__in=urls.get(filters["url"], []))
    if filters["event"]:
        query = query.filter(event=filters["event"])
    if filters["status"] in DeliveryStatus.values:
        query = query.filter(status=filters["status"])
    else:
        filters["status"] = ""
    summary = summarise(query)
    page = Paginator(query.order_by("-created_at", "-id").prefetch_related("attempt_rows"),
                     DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for delivery in page.object_list:  # "Send again" is offered where the user may control
        delivery.may_resend = viewer(request).can(delivery.session_name, Action.CONTROL)
    return render(request, "dashboard/deliveries.html", {
        "filters": filters,
        "summary": summary,
        "page": page,
        "session_names": readable_names(request),
        "urls": sorted(urls)[:URLS_LISTED],
        "event_names": EventName.values,
        "statuses": DeliveryStatus.values,
        "query": without_page(request),
        "nav": "deliveries",
    })


def without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def shown_urls(query: Any) -> dict[str, list[str]]:
    """Each delivery URL as the page shows it (password masked), with the stored URLs it
    stands for: the filter is chosen among the shown ones and matches those."""
    by_shown: dict[str, list[str]] = {}
    for url in query.order_by("url").values_list("url", flat=True).distinct():
        by_shown.setdefault(masked_url(url), []).append(url)
    return by_shown


COUNTS = ("total", "delivered", "pending", "failed")


def summarise(query: Any) -> list[dict[str, Any]]:
    """Per webhook (its URL, as shown, within a session), per event: how many delivered,
    pending, failed. Deleted sessions' deliveries are counted apart from those of a session
    that has their name now."""
    rows = (query.values("session_name", "session", "url", "event")
            .annotate(total=Count("id"),
                      delivered=Count("id", filter=Q(status=DeliveryStatus.DELIVERED)),
                      pending=Count("id", filter=Q(status=DeliveryStatus.PENDING)),
                      failed=Count("id", filter=Q(status=DeliveryStatus.FAILED)))
            .order_by("session_name", "url", "event"))
    hooks: dict[tuple[str, bool, str], dict[str, Any]] = {}
    for item in rows:
        shown, deleted = masked_url(item["url"]), item["session"] is None
        hook = hooks.setdefault((item["session_name"], deleted, shown), {
            "session": item["session_name"], "deleted": deleted, "url": shown, "events": {},
        })
        counts = hook["events"].setdefault(item["event"], {
            "event": item["event"], **dict.fromkeys(COUNTS, 0)})
        for key in COUNTS:
            counts[key] += item[key]
    return [{**hook, "events": sorted(hook["events"].values(), key=lambda e: e["event"])}
            for _, hook in sorted(hooks.items())]


@dashboard_view
@require_POST
def redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = readable_deliveries(request).filter(pk=pk).first()
    if delivery is None:
        raise PageNotFound(f"There is no delivery #{pk}.")
    check(request, delivery.session_name, Action.CONTROL, "send deliveries again of")
    copy = webhook_services.redeliver(delivery)
    messages.success(request, f"Delivery #{delivery.pk} ({delivery.event}) sent again "
                              f"as delivery #{copy.pk}.")
    return HttpResponseRedirect(next_url(request, reverse("dashboard:deliveries")))


# --- API keys (superusers) ---------------------------------------------------------------------
def key_or_404(request: HttpRequest, key_id: str) -> ApiKey:
    superuser_only(request, "manage API keys")
    key = ApiKey.objects.select_related("session").filter(id=key_id).first()
    if key is None:
        raise PageNotFound(f"There is no API key {key_id}.")
    return key


@dashboard_view
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    """The keys, masked, and a form for a new one, whose whole key this answer shows once."""
    superuser_only(request, "manage API keys")
    form, created, status = KeyForm(), None, 200
    if request.method == "POST":
        form = KeyForm(request.POST)
        if form.is_valid():
            key, plain = access.create_key(**form.key_fields)
            created, form = {"key": key, "plain": plain}, KeyForm()
        else:
            status = 400
    rows = [{"key": key, "actions": [name for name, on in key.actions.items() if on]}
            for key in ApiKey.objects.select_related("session")]
    response = render(request, "dashboard/keys.html", {
        "rows": rows, "form": form, "created": created, "nav": "keys",
    }, status=status)
    if created is not None:
        response.headers["Cache-Control"] = "no-store"  # the whole key: never kept by a cache
    return response


@dashboard_view
@require_POST
def key_active(request: HttpRequest, key_id: str) -> HttpResponse:
    key = key_or_404(request, key_id)
    active = request.POST.get("active") == "on"
    access.update_key(key, is_admin=key.is_admin,
                      session=key.session.name if key.session else None,
                      is_active=active, actions=key.actions)
    messages.success(request, f"Key {key.id} switched {'on' if active else 'off'}.")
    return redirect("dashboard:keys")


@dashboard_view
@require_http_methods(["GET", "POST"])
def key_delete(request: HttpRequest, key_id: str) -> HttpResponse:
    key = key_or_404(request, key_id)
    if request.method == "POST":
        key.delete()
        messages.success(request, f"Key {key_id} deleted: it is refused from now on.")
        return redirect("dashboard:keys")
    return render(request, "dashboard/key_delete.html", {"key": key, "nav": "keys"})
