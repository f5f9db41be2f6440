"""Deliveries: listed, filtered, searched, and sent again as a new delivery of the same event."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from sessions_app import services
from sessions_app.models import Session
from webhooks_app.models import Delivery, DeliveryStatus, Webhook

from .helpers import HOOK_URL_SHOWN, admin_url, make_delivery, working_session

pytestmark = pytest.mark.django_db


def listed(client: Client, **query: str) -> list[str]:
    response = client.get(admin_url(Delivery, "changelist"), query)
    assert response.status_code == 200
    return sorted(delivery.event_id for delivery in response.context["cl"].result_list)


@pytest.fixture
def deliveries() -> None:
    alpha = working_session("alpha")
    bravo = working_session("bravo")
    make_delivery(alpha, event="message", event_id="evt_01jaaa", status=DeliveryStatus.FAILED)
    make_delivery(alpha, event="session.status", event_id="evt_01jbbb",
                  status=DeliveryStatus.DELIVERED)
    make_delivery(bravo, event="message", event_id="evt_01jccc",
                  status=DeliveryStatus.PENDING)


@pytest.mark.usefixtures("deliveries")
def test_filters_by_status_and_event(admin_client: Client) -> None:
    assert listed(admin_client, status=DeliveryStatus.FAILED) == ["evt_01jaaa"]
    assert listed(admin_client, status=DeliveryStatus.PENDING) == ["evt_01jccc"]
    assert listed(admin_client, event="message") == ["evt_01jaaa", "evt_01jccc"]
    assert listed(admin_client, event="session.status", status="delivered") == ["evt_01jbbb"]


@pytest.mark.usefixtures("deliveries")
def test_search_by_event_id_and_session(admin_client: Client) -> None:
    assert listed(admin_client, q="evt_01jbbb") == ["evt_01jbbb"]
    assert listed(admin_client, q="bravo") == ["evt_01jccc"]
    assert listed(admin_client, q="alpha") == ["evt_01jaaa", "evt_01jbbb"]


def test_send_again_creates_a_new_delivery_of_the_same_event(admin_client: Client) -> None:
    original = make_delivery(working_session(), event_id="evt_01jresend")

    response = admin_client.post(
        admin_url(Delivery, "changelist"),
        {"action": "send_again", "_selected_action": [original.pk]}, follow=True,
    )

    copy = Delivery.objects.exclude(pk=original.pk).get()
    assert (copy.event_id, copy.body, copy.url, copy.hmac_key) == (
        original.event_id, original.body, original.url, original.hmac_key)
    assert (copy.status, copy.attempts) == (DeliveryStatus.PENDING, 0)
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any(message.startswith("Queued 1 delivery again") for message in messages)


def test_the_delivery_page_button_sends_again_and_shows_the_copy(admin_client: Client) -> None:
    original = make_delivery(working_session(), event_id="evt_01jbutton")
    url = f"/admin/webhooks_app/delivery/{original.pk}/send-again/"
    page = admin_client.get(admin_url(Delivery, "change", original.pk)).content.decode()
    assert f'action="{url}"' in page

    response = admin_client.post(url)

    copy = Delivery.objects.exclude(pk=original.pk).get()
    assert copy.event_id == "evt_01jbutton"
    assert response["Location"] == admin_url(Delivery, "change", copy.pk)
    assert admin_client.get(url).status_code == 405


def test_deliveries_and_webhooks_cannot_be_deleted_from_the_admin(admin_client: Client) -> None:
    delivery = make_delivery(working_session())
    hook = Webhook.objects.get()

    assert admin_client.get(admin_url(Delivery, "delete", delivery.pk)).status_code == 403
    assert admin_client.get(admin_url(Webhook, "delete", hook.pk)).status_code == 403
    html = admin_client.get(admin_url(Delivery, "changelist")).content.decode()
    assert "delete_selected" not in html


def test_the_webhook_list_shows_events_and_a_masked_key(admin_client: Client) -> None:
    working_session()

    html = admin_client.get(admin_url(Webhook, "changelist")).content.decode()

    assert HOOK_URL_SHOWN in html
    assert "message, session.status" in html
    assert "••••••" in html


def test_a_new_session_of_a_deleted_ones_name_shows_only_its_own_deliveries(
        admin_client: Client) -> None:
    old = working_session("alpha")
    make_delivery(old, event_id="evt_01jold")
    services.delete_session("alpha")
    new = working_session("alpha")
    make_delivery(new, event_id="evt_01jnew")

    page = admin_client.get(admin_url(Session, "change", new.pk)).content.decode()
    link = re.search(r'<a href="([^"]+)">1 delivery</a>', page)
    assert link, "no link to its one delivery"
    own = admin_client.get(html.unescape(link.group(1)))
    assert [row.event_id for row in own.context["cl"].result_list] == ["evt_01jnew"]
    assert listed(admin_client, deleted="yes") == ["evt_01jold"]
    assert listed(admin_client, deleted="no") == ["evt_01jnew"]
    changelist = admin_client.get(admin_url(Delivery, "changelist")).content.decode()
    assert changelist.count("alpha (deleted)") == 1
    assert listed(admin_client, q="alpha") == ["evt_01jnew", "evt_01jold"]  # the record stays
