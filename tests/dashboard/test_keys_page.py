"""The Keys page (superusers): keys listed masked, a new key shown whole once on the answer
page and kept as its digest, switched on and off, deleted."""

from __future__ import annotations

import hashlib
import html as html_module
import re

import pytest
from django.test import Client

from sessions_app import access
from sessions_app.models import ApiKey

from .conftest import make_session

pytestmark = pytest.mark.django_db

SESSION_KEY = {"session": "alpha", "is_active": "on", "action_read": "on",
               "action_send": "on"}


def created_key(html: str) -> str:
    match = re.search(r'<code id="created-key" class="mono">([^<]+)</code>', html)
    assert match, "no key shown"
    return match.group(1)


def test_a_new_key_is_shown_whole_once_and_kept_as_its_digest(browser: Client):
    make_session("alpha")

    answer = browser.post("/dashboard/keys/", SESSION_KEY)
    plain = created_key(answer.content.decode())
    listed = browser.get("/dashboard/keys/").content.decode()

    key = ApiKey.objects.get()
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert key.digest == hashlib.sha256(plain.encode()).hexdigest()
    stored = " ".join(str(getattr(key, f.attname)) for f in ApiKey._meta.concrete_fields)
    assert plain not in stored
    assert plain not in listed and key.masked in listed and key.id in listed
    assert (key.session.name, key.is_admin, key.is_active) == ("alpha", False, True)
    assert key.allowed() == {"read", "send"}
    assert "read, send" in listed
    assert access.principal_for_key(plain).grants == {"alpha": frozenset({"read", "send"})}


def test_an_admin_key_names_no_session(browser: Client):
    make_session("alpha")

    refused = browser.post("/dashboard/keys/", {"is_admin": "on", "session": "alpha"})
    admin = browser.post("/dashboard/keys/", {"is_admin": "on", "is_active": "on"})

    assert refused.status_code == 400
    assert "must be empty for an admin key" in html_module.unescape(refused.content.decode())
    assert access.principal_for_key(created_key(admin.content.decode())).is_admin
    assert ApiKey.objects.get().is_admin


def test_a_session_key_needs_its_session(browser: Client):
    answer = browser.post("/dashboard/keys/", {"is_active": "on"})
    html = answer.content.decode()
    assert answer.status_code == 400
    assert re.search(r'id="id_session".*?is required for a key that is not an admin key',
                     html, re.S)
    assert not ApiKey.objects.exists()


def test_a_key_is_switched_off_and_on(browser: Client):
    make_session("alpha")
    plain = created_key(browser.post("/dashboard/keys/", SESSION_KEY).content.decode())
    key = ApiKey.objects.get()

    off = browser.post(f"/dashboard/keys/{key.id}/active", {"active": "off"}, follow=True)
    assert f"Key {key.id} switched off." in off.content.decode()
    assert access.principal_for_key(plain) is None
    browser.post(f"/dashboard/keys/{key.id}/active", {"active": "on"})
    key.refresh_from_db()
    assert key.is_active and key.allowed() == {"read", "send"}
    assert access.principal_for_key(plain) is not None


def test_a_key_is_deleted_after_a_confirmation(browser: Client):
    make_session("alpha")
    browser.post("/dashboard/keys/", SESSION_KEY)
    key = ApiKey.objects.get()

    asked = browser.get(f"/dashboard/keys/{key.id}/delete")
    assert asked.status_code == 200 and ApiKey.objects.exists()
    browser.post(f"/dashboard/keys/{key.id}/delete")
    assert not ApiKey.objects.exists()
    assert browser.get(f"/dashboard/keys/{key.id}/delete").status_code == 404


def test_the_keys_are_for_superusers_only(scoped_browser: Client, browser: Client):
    make_session("alpha")
    browser.post("/dashboard/keys/", SESSION_KEY)
    key = ApiKey.objects.get()

    listed = scoped_browser.get("/dashboard/keys/")
    created = scoped_browser.post("/dashboard/keys/", SESSION_KEY)
    switched = scoped_browser.post(f"/dashboard/keys/{key.id}/active", {"active": "off"})
    deleted = scoped_browser.post(f"/dashboard/keys/{key.id}/delete")

    assert [r.status_code for r in (listed, created, switched, deleted)] == [403] * 4
    assert "Only a superuser may manage API keys." in listed.content.decode()
    assert key.masked not in listed.content.decode()
    assert list(ApiKey.objects.values_list("id", "is_active")) == [(key.id, True)]
    assert 'href="/dashboard/keys/"' in browser.get("/dashboard/").content.decode()
    assert 'href="/dashboard/keys/"' not in scoped_browser.get("/dashboard/").content.decode()
