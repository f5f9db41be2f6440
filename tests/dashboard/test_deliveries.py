"""Deliveries per webhook and per event, with their attempts, and a re-send button."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from sessions_app import events, services
from webhooks_app.models import Delivery, DeliveryAttempt

from .conftest import make_session


def delivery(event: str = "message", url: str = "https://a.example.com/hook",
             status: str = "delivered", session: str = "alpha") -> Delivery:
    return Delivery.objects.create(
        session_name=session, event=event, event_id=f"evt_{event}_{status}",
        event_timestamp=1, body="{}", url=url, retry_policy="constant",
        retry_delay_seconds=2, retry_attempts=1, status=status,
        attempts=1,
    )


def test_the_page_counts_deliveries_per_webhook_and_event(browser):
    delivery("message", status="delivered")
    delivery("message", status="failed")
    delivery("session.status", status="pending")
    delivery("message", url="https://b.example.com/hook", status="delivered")
    html = browser.get("/dashboard/deliveries/").content.decode()
    tables = re.findall(r'<h3 class="hook-title">.*?</table>', html, re.S)
    assert len(tables) == 2
    first = re.sub(r"<[^>]+>", " ", tables[0])
    assert "https://a.example.com/hook" in first
    assert re.search(r"message\s+1\s+0\s+1\s+2", first)
    assert re.search(r"session\.status\s+0\s+1\s+0\s+1", first)


def test_attempts_show_status_code_and_duration_and_filters_narrow_the_list(browser):
    failed = delivery("message", status="failed")
    DeliveryAttempt.objects.create(delivery=failed, number=1, status_code=503,
                                   duration_ms=187, error="HTTP 503",
                                   started_at=timezone.now() - timedelta(seconds=5))
    delivery("session.status", status="delivered")
    html = browser.get("/dashboard/deliveries/?event=message&status=failed").content.decode()
    assert f"#{failed.pk} message" in html
    assert "<td>503</td>" in html and "<td>187 ms</td>" in html
    assert "session.status</strong>" not in html


def test_send_again_queues_a_copy_of_the_delivery(browser):
    make_session("alpha")
    original = delivery("message", status="failed")
    answer = browser.post(f"/dashboard/deliveries/{original.pk}/redeliver",
                          {"next": "/dashboard/deliveries/?session=alpha"}, follow=True)
    assert answer.redirect_chain == [("/dashboard/deliveries/?session=alpha", 302)]
    copy = Delivery.objects.exclude(pk=original.pk).get()
    assert (copy.event_id, copy.url, copy.status) == (original.event_id, original.url,
                                                      "pending")
    assert f"sent again as delivery #{copy.pk}" in answer.content.decode()


def test_send_again_is_post_only_and_needs_a_login(browser, client):
    original = delivery()
    assert browser.get(f"/dashboard/deliveries/{original.pk}/redeliver").status_code == 405
    assert client.post(f"/dashboard/deliveries/{original.pk}/redeliver").status_code == 302
    assert Delivery.objects.count() == 1


def test_a_delivery_held_by_its_receivers_circuit_breaker_says_until_when(browser):
    until = timezone.now().replace(microsecond=0) + timedelta(seconds=30)
    held = delivery("message", status="pending")
    Delivery.objects.filter(pk=held.pk).update(waiting_until=until, next_attempt_at=until)
    delivery("session.status", status="pending")

    html = browser.get("/dashboard/deliveries/").content.decode()

    [note] = re.findall(r'<p class="small waiting">.*?</p>', html, re.S)
    assert f'datetime="{until.isoformat()}"' in note
    assert until.strftime("%H:%M:%S") in note


def test_url_passwords_are_masked_and_the_filter_takes_the_masked_url(browser):
    delivery("message", url="https://bob:pw-secret@a.example.com/hook")
    delivery("session.status", url="https://bob:older-secret@a.example.com/hook")
    delivery("message.any", url="https://b.example.com/hook")
    shown = "https://bob:••••••@a.example.com/hook"

    page = browser.get("/dashboard/deliveries/").content.decode()
    narrowed = browser.get("/dashboard/deliveries/", {"url": shown}).content.decode()

    for html in (page, narrowed):
        assert "pw-secret" not in html and "older-secret" not in html
    titles = re.findall(r'<h3 class="hook-title">.*?</h3>', page, re.S)
    assert sorted(shown in title for title in titles) == [False, True]  # one title each
    assert f'<option value="{shown}">' in page
    assert "message</strong>" in narrowed and "session.status</strong>" in narrowed
    assert "message.any</strong>" not in narrowed


def test_a_new_session_of_a_deleted_ones_name_shows_only_its_own_deliveries(browser):
    hooked = {"webhooks": [{"url": "https://a.example.com/hook", "events": ["*"]}]}
    old = services.create_session("alpha", hooked, start=False)
    events.publish(old, "message", {"body": "before"})
    events.publish(old, "message.any", {"body": "before"})
    services.delete_session("alpha")
    new = services.create_session("alpha", hooked, start=False)
    events.publish(new, "session.status", {"status": "STOPPED"})
    mine = Delivery.objects.get(session=new)

    page = browser.get("/dashboard/sessions/alpha/").content.decode()
    narrowed = browser.get("/dashboard/deliveries/", {"session": "alpha"}).content.decode()
    everything = browser.get("/dashboard/deliveries/").content.decode()

    assert "1 delivery." in re.sub(r"\s+", " ", page)
    assert re.findall(r"#\d+ [\w.]+</strong>", narrowed) == [f"#{mine.pk} session.status</strong>"]
    assert len(re.findall(r"#\d+ [\w.]+</strong>", everything)) == 3
    assert everything.count("alpha (deleted)") == 4  # two rows, a summary title and caption
