"""GET /api/server/environment: the product's settings (or every variable), secrets masked."""

from __future__ import annotations

import os

import pytest

from waha_project.admin import MASK

pytestmark = pytest.mark.django_db(transaction=True)

SECRETS = {
    "WAHA_API_KEY": "env-api-key-value",
    "WHATSAPP_HOOK_HMAC_KEY": "hook-hmac-value",
    "WAHA_DASHBOARD_PASSWORD": "dashboard-pass-value",
    "WHATSAPP_PROXY_SERVER_PASSWORD": "proxy-pass-value",
    "WHATSAPP_HOOK_CUSTOM_HEADERS": "Authorization:Bearer header-token-value",
    "DJANGO_SECRET_KEY": "django-secret-value",
    "GITHUB_TOKEN": "github-token-value",
}
WITH_PASSWORDS = {
    "WHATSAPP_HOOK_URL": ("https://hooker:hook-url-pass@example.com/hook",
                          f"https://hooker:{MASK}@example.com/hook"),
    "WHATSAPP_PROXY_SERVER_LIST": ("u1:list-pass-one@proxy1:3128,u2:list-pass-two@proxy2:3128",
                                   f"u1:{MASK}@proxy1:3128,u2:{MASK}@proxy2:3128"),
    "DATABASE_URL": ("postgres://waha:db-pass-value@db.internal:5432/waha?sslmode=require",
                     f"postgres://waha:{MASK}@db.internal:5432/waha?sslmode=require"),
    "REDIS_URL": ("redis://:redis-pass-value@127.0.0.1:6379/0",
                  f"redis://:{MASK}@127.0.0.1:6379/0"),
    "SOME_DSN_URL": ("postgres://db.internal/waha?password=query-pass-value",
                     f"postgres://db.internal/waha?password={MASK}"),
}


@pytest.fixture
def secret_environment(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for name, (value, _) in WITH_PASSWORDS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAHA_WORKER_ID", "engine-7")
    monkeypatch.setenv("WHATSAPP_API_KEY_EXCLUDE_PATH", "ping,health")
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.setenv("UNRELATED_SETTING", "plain")


def assert_no_secret_in(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text
    for name in ("hook-url-pass", "list-pass-one", "list-pass-two", "db-pass-value",
                 "redis-pass-value", "query-pass-value"):
        assert name not in text


async def test_by_default_only_the_products_own_settings_are_shown(api, secret_environment):
    response = await api.get("/api/server/environment")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == sorted(body)
    assert all(name.startswith(("WAHA_", "WHATSAPP_")) or name == "DEBUG" for name in body)
    assert body["WAHA_WORKER_ID"] == "engine-7"
    assert body["WHATSAPP_API_KEY_EXCLUDE_PATH"] == "ping,health"
    assert body["DEBUG"] == "0"
    assert "UNRELATED_SETTING" not in body
    assert "DATABASE_URL" not in body
    assert_no_secret_in(response.text)


async def test_every_secret_is_masked(api, secret_environment):
    response = await api.get("/api/server/environment", params={"all": "true"})

    assert response.status_code == 200
    body = response.json()
    for name in SECRETS:
        assert body[name] == MASK, name
    for name, (_, shown) in WITH_PASSWORDS.items():
        assert body[name] == shown, name
    assert_no_secret_in(response.text)


async def test_all_shows_every_variable_of_the_process(api, secret_environment):
    body = (await api.get("/api/server/environment", params={"all": "1"})).json()

    assert set(body) == set(os.environ)
    assert body["UNRELATED_SETTING"] == "plain"
    assert body["PATH"] == os.environ["PATH"]
    narrow = (await api.get("/api/server/environment", params={"all": "false"})).json()
    assert set(narrow) < set(body)


@pytest.mark.parametrize("value", ["yes", "", "TRUE1"])
async def test_a_bad_all_is_a_400_naming_it(api, value):
    response = await api.get("/api/server/environment", params={"all": value})

    assert response.status_code == 400
    assert response.json()["message"] == ["all: must be true, false, 1 or 0"]


async def test_the_environment_needs_the_api_key(api):
    response = await api.get("/api/server/environment", headers={"X-Api-Key": "wrong"})

    assert response.status_code == 401
