"""Dashboard pages. Every action is a POST form with a CSRF token that calls one function of
sessions_app.services (or webhooks_app.services); the pages then update themselves live over
one websocket (`/dashboard/ws`, see consumers.py)."""

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

from waha_project.errors import DomainError
from waha_project.masks import masked_url
from waha_project.timestamps import ms
from webhooks_app import services as webhook_services
from webhooks_app.models import Delivery, DeliveryStatus, Webhook
from webhooks_app.subscriptions import EventName

from .. import services
from ..engines import get_engine
from ..errors import SessionExists, SessionNotFound
from ..fanout import qr_frame
from ..models import Session, SessionStatus
from . import live
from .forms import PairingForm, SessionEditor

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


def session_or_404(name: str) -> Session:
    try:
        return services.get_session(name)
    except SessionNotFound:
        raise PageNotFound(f"There is no session named {name}.") from None


def dashboard_view(view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """Login required, the dashboard's security headers, and an HTML page (not the API's
    JSON) when the session asked for does not exist."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            return view(*args, **kwargs)
        except PageNotFound as exc:
            request = args[0]
            assert isinstance(request, HttpRequest)
            return render(request, "dashboard/not_found.html", {"message": str(exc)},
                          status=404)

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


def row(session: Session) -> dict[str, Any]:
    status = session.display_status
    me = None if status == SessionStatus.STOPPED else session.me
    return {
        "session": session,
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
    rows = [row(session) for session in Session.objects.order_by("name")]
    return render(request, "dashboard/sessions.html", {
        "rows": rows, "live_target": live.ALL_SESSIONS, "nav": "sessions",
        "engine": get_engine().name,
    })


@dashboard_view
def session_detail(request: HttpRequest, name: str) -> HttpResponse:
    return render_detail(request, session_or_404(name), PairingForm())


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
        "s": row(session),
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
    return edit(request, None)


@dashboard_view
@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, name: str) -> HttpResponse:
    return edit(request, session_or_404(name))


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
    session = session_or_404(name)
    if request.method == "POST":
        services.delete_session(session.name)
        messages.success(request, f"Session {session.name} deleted.")
        return redirect("dashboard:sessions")
    return render(request, "dashboard/session_delete.html",
                  {"session": session, "s": row(session), "nav": "sessions"})


@dashboard_view
@require_POST
def session_request_code(request: HttpRequest, name: str) -> HttpResponse:
    session = session_or_404(name)
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
    names = list(Session.objects.order_by("name").values_list("name", flat=True))
    target = request.GET.get("session") or live.ALL_SESSIONS
    if target != live.ALL_SESSIONS and target not in names:
        target = live.ALL_SESSIONS
    event = request.GET.get("event") or ""
    if event not in EventName.values:
        event = ""
    return render(request, "dashboard/events.html", {
        "names": names, "target": target, "event": event, "event_names": EventName.values,
        "live_target": target, "nav": "events",
    })


# --- deliveries --------------------------------------------------------------------------------
@dashboard_view
def deliveries(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip()
               for key in ("session", "url", "event", "status")}
    query = Delivery.objects.all()
    urls = shown_urls()
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
    return render(request, "dashboard/deliveries.html", {
        "filters": filters,
        "summary": summary,
        "page": page,
        "session_names": list(Session.objects.order_by("name").values_list("name", flat=True)),
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


def shown_urls() -> dict[str, list[str]]:
    """Each delivery URL as the page shows it (password masked), with the stored URLs it
    stands for: the filter is chosen among the shown ones and matches those."""
    by_shown: dict[str, list[str]] = {}
    for url in Delivery.objects.order_by("url").values_list("url", flat=True).distinct():
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
    delivery = Delivery.objects.filter(pk=pk).first()
    if delivery is None:
        raise PageNotFound(f"There is no delivery #{pk}.")
    copy = webhook_services.redeliver(delivery)
    messages.success(request, f"Delivery #{delivery.pk} ({delivery.event}) sent again "
                              f"as delivery #{copy.pk}.")
    return HttpResponseRedirect(next_url(request, reverse("dashboard:deliveries")))
