"""API keys in the admin (superusers): a new key is shown whole once, in the message after it
is saved, and kept as its digest; the change form edits its session, switch and actions.
Dashboard grants are edited on a user's page."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client

from sessions_app import access
from sessions_app.models import ApiKey, Session, SessionGrant

from .helpers import admin_url, make_session

pytestmark = pytest.mark.django_db

ACTIONS = {"can_read": "on", "can_control": "on"}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_new_key_is_shown_once_and_only_its_digest_is_kept(admin_client: Client):
    alpha = make_session("alpha")

    answer = admin_client.post(admin_url(ApiKey, "add"),
                               {"session": alpha.pk, "is_active": "on", **ACTIONS},
                               follow=True)

    [shown] = [m for m in messages_of(answer) if "shown this once" in m]
    plain = re.search(r"(key_[0-9a-f]{32})$", shown).group(1)
    key = ApiKey.objects.get()
    assert key.digest == hashlib.sha256(plain.encode()).hexdigest()
    stored = " ".join(str(getattr(key, f.attname)) for f in ApiKey._meta.concrete_fields)
    assert plain not in stored
    assert access.principal_for_key(plain).grants == {"alpha": frozenset({"read", "control"})}
    for url in (admin_url(ApiKey, "changelist"), admin_url(ApiKey, "change", key.pk)):
        html = admin_client.get(url).content.decode()
        assert key.masked in html and plain not in html and key.digest not in html, url


def test_an_admin_key_names_no_session_and_another_names_one(admin_client: Client):
    alpha = make_session("alpha")

    both = admin_client.post(admin_url(ApiKey, "add"), {"is_admin": "on", "session": alpha.pk})
    neither = admin_client.post(admin_url(ApiKey, "add"), {"is_active": "on"})
    admin = admin_client.post(admin_url(ApiKey, "add"), {"is_admin": "on", "is_active": "on"})

    assert "must be empty for an admin key" in both.content.decode()
    assert "is required for a key that is not an admin key" in neither.content.decode()
    assert admin.status_code == 302
    assert list(ApiKey.objects.values_list("is_admin", "session")) == [(True, None)]


def test_the_change_form_edits_session_switch_and_actions(admin_client: Client):
    make_session("alpha")
    beta = make_session("beta")
    key, plain = access.create_key(is_admin=False, session="alpha", is_active=True, actions={})

    page = admin_client.get(admin_url(ApiKey, "change", key.pk)).content.decode()
    admin_client.post(admin_url(ApiKey, "change", key.pk),
                      {"session": beta.pk, "can_read": "on"})

    key.refresh_from_db()
    assert 'name="is_admin"' not in page and 'name="digest"' not in page
    assert (key.session_id, key.is_active, key.allowed()) == (beta.pk, False, {"read"})
    assert access.principal_for_key(plain) is None  # switched off


def test_a_key_is_deleted(admin_client: Client):
    make_session("alpha")
    key, plain = access.create_key(is_admin=False, session="alpha", is_active=True, actions={})

    admin_client.post(admin_url(ApiKey, "delete", key.pk), {"post": "yes"})

    assert not ApiKey.objects.exists()
    assert access.principal_for_key(plain) is None


def test_staff_who_are_not_superusers_never_reach_the_keys(client: Client):
    make_session("alpha")
    key, _ = access.create_key(is_admin=False, session="alpha", is_active=True, actions={})
    staff = User.objects.create_user("support", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__endswith="_apikey"))
    client.force_login(staff)

    answers = [client.get(admin_url(ApiKey, "changelist")),
               client.get(admin_url(ApiKey, "change", key.pk)),
               client.post(admin_url(ApiKey, "add"), {"is_admin": "on", "is_active": "on"})]

    assert [answer.status_code for answer in answers] == [403, 403, 403]
    assert ApiKey.objects.count() == 1
    assert "API keys" not in client.get("/admin/").content.decode()


def test_grants_are_edited_on_the_user_s_page(admin_client: Client):
    alpha = make_session("alpha")
    user = User.objects.create_user("agent", password="pw")
    page = admin_client.get(admin_url(User, "change", user.pk)).content.decode()
    form = {
        "username": "agent", "is_active": "on", "date_joined_0": "2025-01-01",
        "date_joined_1": "00:00:00",
        "session_grants-TOTAL_FORMS": "1", "session_grants-INITIAL_FORMS": "0",
        "session_grants-MIN_NUM_FORMS": "0", "session_grants-MAX_NUM_FORMS": "1000",
        "session_grants-0-session": alpha.pk, "session_grants-0-can_read": "on",
    }

    answer = admin_client.post(admin_url(User, "change", user.pk), form)

    assert "session grants" in page.lower()
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    grant = SessionGrant.objects.get(user=user)
    assert (grant.session_id, grant.allowed()) == (alpha.pk, {"read"})
    assert access.principal_for_user(user).grants == {"alpha": frozenset({"read"})}


def test_a_session_s_page_lists_its_grants_to_superusers_only(admin_client: Client,
                                                               client: Client):
    alpha = make_session("alpha")
    SessionGrant.objects.create(user=User.objects.create_user("agent", password="pw"),
                                session=alpha)
    staff = User.objects.create_user("support", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_session"))
    SessionGrant.objects.create(user=staff, session=alpha)
    client.force_login(staff)

    for_superuser = admin_client.get(admin_url(Session, "change", alpha.pk))
    for_staff = client.get(admin_url(Session, "change", alpha.pk))

    assert "Dashboard grants" in for_superuser.content.decode()
    assert ">agent<" in for_superuser.content.decode()
    assert for_staff.status_code == 200
    assert "Dashboard grants" not in for_staff.content.decode()
    assert ">agent<" not in for_staff.content.decode()
