"""A staff user who is not a superuser sees in the admin only the sessions granted to them,
with their webhooks and deliveries; lifecycle actions need `control`, deleting `delete`."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client

from sessions_app.models import AuditEntry, Session, SessionGrant
from webhooks_app.models import Delivery, Webhook

from .helpers import admin_url, make_delivery, make_session, working_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> User:
    """Every model permission on sessions, webhooks and deliveries."""
    user = User.objects.create_user("support", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label__in=["sessions_app", "webhooks_app"]))
    client.force_login(user)
    return user


def grant(user: User, session: Session, **actions: bool) -> SessionGrant:
    row = SessionGrant(user=user, session=session)
    row.actions = {**row.actions, **actions}
    row.save()
    return row


def test_the_lists_show_only_the_granted_sessions_and_their_rows(client: Client, staff):
    alpha, beta = working_session("alpha"), make_session("beta")
    grant(staff, alpha)
    make_delivery(alpha, event_id="evt_alpha")
    make_delivery(beta, event_id="evt_beta")

    sessions = client.get(admin_url(Session, "changelist")).content.decode()
    deliveries = client.get(admin_url(Delivery, "changelist")).content.decode()
    webhooks = client.get(admin_url(Webhook, "changelist")).content.decode()

    assert "alpha" in sessions and "beta" not in sessions
    assert "alpha" in deliveries
    assert "beta" not in deliveries and "beta" not in webhooks and "alpha" in webhooks


def test_another_session_s_pages_are_missing(client: Client, staff):
    beta = make_session("beta")
    delivery = make_delivery(beta, event_id="evt_beta")
    grant(staff, make_session("alpha"))

    for url in (admin_url(Session, "change", beta.pk),
                admin_url(Webhook, "change", beta.webhooks.get().pk),
                admin_url(Delivery, "change", delivery.pk)):
        answer = client.get(url, follow=True)
        assert "Perhaps it was deleted?" in answer.content.decode(), url
        assert "evt_beta" not in answer.content.decode()


def test_lifecycle_actions_need_control(client: Client, staff):
    alpha = make_session("alpha")
    grant(staff, alpha, control=False)

    page = client.get(admin_url(Session, "change", alpha.pk)).content.decode()
    answer = client.post(admin_url(Session, "changelist"),
                         {"action": "start_sessions", "_selected_action": [alpha.pk]},
                         follow=True)
    button = client.post(f"/admin/sessions_app/session/{alpha.pk}/operate/start/", follow=True)

    assert "operate/start" not in page
    texts = [str(m) for m in get_messages(answer.wsgi_request)]
    assert "Not allowed: the 'control' action is not granted to you on alpha." in texts
    assert "Not allowed" in button.content.decode()
    alpha.refresh_from_db()
    assert not alpha.should_run and alpha.generation == 0


def test_deleting_needs_the_delete_action(client: Client, staff):
    alpha, gamma = make_session("alpha"), make_session("gamma")
    grant(staff, alpha)  # WAHA's default: no delete
    grant(staff, gamma, delete=True)

    single = client.post(admin_url(Session, "delete", alpha.pk), {"post": "yes"})
    bulk = client.post(admin_url(Session, "changelist"),
                       {"action": "delete_selected", "post": "yes",
                        "_selected_action": [alpha.pk, gamma.pk]})

    assert (single.status_code, bulk.status_code) == (403, 403)
    assert set(Session.objects.values_list("name", flat=True)) == {"alpha", "gamma"}
    client.post(admin_url(Session, "delete", gamma.pk), {"post": "yes"})
    assert list(Session.objects.values_list("name", flat=True)) == ["alpha"]


def test_sending_a_delivery_again_needs_control(client: Client, staff):
    alpha = working_session("alpha")
    grant(staff, alpha, control=False)
    delivery = make_delivery(alpha)

    action = client.post(admin_url(Delivery, "changelist"),
                         {"action": "send_again", "_selected_action": [delivery.pk]})
    button = client.post(f"/admin/webhooks_app/delivery/{delivery.pk}/send-again/")

    assert (action.status_code, button.status_code) == (403, 403)
    assert Delivery.objects.count() == 1


def test_a_superuser_sees_every_session(admin_client: Client):
    for name in ("alpha", "beta"):
        make_session(name)
    html = admin_client.get(admin_url(Session, "changelist")).content.decode()
    assert "alpha" in html and "beta" in html


def test_the_audit_log_is_for_superusers_alone(client: Client, staff):
    grant(staff, make_session("alpha"))
    AuditEntry.objects.create(actor_kind="env", actor_id="WAHA_API_KEY", operation="session-stop",
                              session="beta", status=201, summary="POST /api/sessions/beta/stop")

    listing = client.get(admin_url(AuditEntry, "changelist"))
    index = client.get("/admin/").content.decode()

    assert listing.status_code == 403
    assert "Audit log" not in index


def test_a_superuser_reads_the_audit_log_and_cannot_change_it(client: Client):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    row = AuditEntry.objects.create(actor_kind="env", actor_id="WAHA_API_KEY",
                                    operation="session-stop", session="beta", status=201)

    listing = client.get(admin_url(AuditEntry, "changelist"))
    deleted = client.post(admin_url(AuditEntry, "delete", row.pk), {"post": "yes"})

    assert listing.status_code == 200 and "session-stop" in listing.content.decode()
    assert deleted.status_code == 403
    assert AuditEntry.objects.filter(pk=row.pk).exists()
