"""Session config and request bodies: every field is validated, errors name it, and bad input
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from sessions_app.models import Session

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK = {"url": "https://example.com/hook", "events": ["message"]}

BAD_CONFIGS: list[tuple[dict[str, Any], str]] = [
    # debug
    ({"debug": "yes"}, "config.debug: must be a boolean (true or false)"),
    ({"debug": 1}, "config.debug: must be a boolean (true or false)"),
    # client
    ({"client": "Chrome"}, "config.client: must be an object"),
    ({"client": {"deviceName": 5}}, "config.client.deviceName: must be a string"),
    ({"client": {"browserName": "x" * 65}},
     "config.client.browserName: Ensure this field has no more than 64 characters."),
    # metadata
    ({"metadata": {"user.id": 123}}, "config.metadata.user.id: must be a string"),
    ({"metadata": {"flag": True}}, "config.metadata.flag: must be a string"),
    ({"metadata": {"nested": {"a": "b"}}}, "config.metadata.nested: must be a string"),
    ({"metadata": "user=1"},
     'config.metadata: Expected a dictionary of items but got type "str".'),
    ({"metadata": {f"k{i}": "v" for i in range(51)}}, "config.metadata: at most 50 keys"),
    ({"metadata": {"k" * 101: "v"}},
     "config.metadata: key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…' is longer than 100 characters"),
    ({"metadata": {"note": "v" * 1001}},
     "config.metadata.note: Ensure this field has no more than 1000 characters."),
    # webhooks
    ({"webhooks": WEBHOOK}, 'config.webhooks: Expected a list of items but got type "dict".'),
    ({"webhooks": ["https://example.com"]}, "config.webhooks[0]: must be an object"),
    ({"webhooks": [{"events": ["message"]}]}, "config.webhooks[0].url: This field is required."),
    ({"webhooks": [{**WEBHOOK, "url": "ftp://example.com/hook"}]},
     "config.webhooks[0].url: must be an http or https URL"),
    ({"webhooks": [{**WEBHOOK, "url": "not a url"}]},
     "config.webhooks[0].url: Enter a valid URL."),
    ({"webhooks": [{**WEBHOOK, "url": "https://example.com:99999/hook"}]},
     "config.webhooks[0].url: the port must be between 1 and 65535"),
    ({"webhooks": [{**WEBHOOK, "url": "http://example.com:0/hook"}]},
     "config.webhooks[0].url: the port must be between 1 and 65535"),
    ({"webhooks": [{**WEBHOOK, "url": "http://192.0.0.192/opc/v2/instance/"}]},
     "config.webhooks[0].url: this address is never contacted: 192.0.0.192 is a cloud "
     "metadata address"),
    ({"webhooks": [WEBHOOK, {**WEBHOOK, "url": None}]},
     "config.webhooks[1].url: This field may not be null."),
    ({"webhooks": [{"url": "https://example.com/hook"}]},
     "config.webhooks[0].events: This field is required."),
    ({"webhooks": [{**WEBHOOK, "events": []}]},
     "config.webhooks[0].events: This list may not be empty."),
    ({"webhooks": [{**WEBHOOK, "events": ["message", "messages.upsert"]}]},
     'config.webhooks[0].events[1]: "messages.upsert" is not a valid choice.'),
    ({"webhooks": [{**WEBHOOK, "hmac": {"key": ""}}]},
     "config.webhooks[0].hmac.key: This field may not be blank."),
    ({"webhooks": [{**WEBHOOK, "hmac": {"key": 42}}]},
     "config.webhooks[0].hmac.key: must be a string"),
    ({"webhooks": [{**WEBHOOK, "retries": {"policy": "random"}}]},
     'config.webhooks[0].retries.policy: "random" is not a valid choice.'),
    ({"webhooks": [{**WEBHOOK, "retries": {"delaySeconds": -1}}]},
     "config.webhooks[0].retries.delaySeconds: Ensure this value is greater than or equal to 0."),
    ({"webhooks": [{**WEBHOOK, "retries": {"delaySeconds": "2"}}]},
     "config.webhooks[0].retries.delaySeconds: must be a whole number"),
    ({"webhooks": [{**WEBHOOK, "retries": {"attempts": 101}}]},
     "config.webhooks[0].retries.attempts: Ensure this value is less than or equal to 100."),
    ({"webhooks": [{**WEBHOOK, "retries": {"attempts": True}}]},
     "config.webhooks[0].retries.attempts: must be a whole number"),
    ({"webhooks": [{**WEBHOOK, "retries": {"attempts": 1.5}}]},
     "config.webhooks[0].retries.attempts: must be a whole number"),
    ({"webhooks": [{**WEBHOOK,
                    "customHeaders": [{"name": "X-Tenant", "value": "a\r\nX-Evil: 1"}]}]},
     "config.webhooks[0].customHeaders[0].value: must not contain CR, LF or NUL characters"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"name": "X-Tenant", "value": "a\nb"}]}]},
     "config.webhooks[0].customHeaders[0].value: must not contain CR, LF or NUL characters"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"name": "X Tenant", "value": "a"}]}]},
     "config.webhooks[0].customHeaders[0].name: 'X Tenant' is not a valid header name"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"name": "X-A:b", "value": "a"}]}]},
     "config.webhooks[0].customHeaders[0].name: 'X-A:b' is not a valid header name"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"name": "content-type", "value": "a"}]}]},
     "config.webhooks[0].customHeaders[0].name: 'content-type' is set by the server and "
     "cannot be overridden"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"name": "X-Webhook-Hmac", "value": "a"}]}]},
     "config.webhooks[0].customHeaders[0].name: 'X-Webhook-Hmac' is set by the server and "
     "cannot be overridden"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"name": "webhook-signature", "value": "a"}]}]},
     "config.webhooks[0].customHeaders[0].name: 'webhook-signature' is set by the server and "
     "cannot be overridden"),
    ({"webhooks": [{**WEBHOOK, "customHeaders": [{"value": "a"}]}]},
     "config.webhooks[0].customHeaders[0].name: This field is required."),
    # ignore
    ({"ignore": {"status": "true"}}, "config.ignore.status: must be a boolean (true or false)"),
    ({"ignore": {"groups": 0}}, "config.ignore.groups: must be a boolean (true or false)"),
    ({"ignore": {"channels": "no"}}, "config.ignore.channels: must be a boolean (true or false)"),
    ({"ignore": {"broadcast": []}}, "config.ignore.broadcast: must be a boolean (true or false)"),
    # proxy
    ({"proxy": {}}, "config.proxy.server: This field is required."),
    ({"proxy": {"server": "proxy.example.com"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "proxy.example.com:99999"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "proxy.example.com:0"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "proxy example.com:3128"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "proxy.example.com:3128", "password": 1234}},
     "config.proxy.password: must be a string"),
    ({"proxy": {"server": "ftp://proxy.example.com:3128"}},
     "config.proxy.server: the scheme must be http, https or socks5"),
    ({"proxy": {"server": "socks4://proxy.example.com:1080"}},
     "config.proxy.server: the scheme must be http, https or socks5"),
    ({"proxy": {"server": "SOCKS5://proxy.example.com:1080"}},
     "config.proxy.server: the scheme must be http, https or socks5"),
    ({"proxy": {"server": " proxy.example.com:3128"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "proxy.example.com:65536"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "proxy.example.com:03128"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "http://[BaD]:3128"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "[1::2::3]:3128"}},
     "config.proxy.server: must be host:port, e.g. proxy.example.com:3128"),
    ({"proxy": {"server": "http://user:pw@proxy.example.com:3128"}},
     "config.proxy.server: must not hold credentials: put them in username and password"),
    ({"proxy": {"server": "user@proxy.example.com:3128"}},
     "config.proxy.server: must not hold credentials: put them in username and password"),
    ({"proxy": {"server": "socks5://:secret@proxy.example.com:1080"}},
     "config.proxy.server: must not hold credentials: put them in username and password"),
    # noweb
    ({"noweb": {"store": {"enabled": "yes"}}},
     "config.noweb.store.enabled: must be a boolean (true or false)"),
    ({"noweb": {"store": {"enabled": True, "fullSync": 1}}},
     "config.noweb.store.fullSync: must be a boolean (true or false)"),
    ({"noweb": {"store": True}}, "config.noweb.store: must be an object"),
    ({"noweb": {"markOnline": "true"}},
     "config.noweb.markOnline: must be a boolean (true or false)"),
    # gows
    ({"gows": {"storage": {"messages": 1}}},
     "config.gows.storage.messages: must be a boolean (true or false)"),
    ({"gows": {"storage": {"contacts": "false"}}},
     "config.gows.storage.contacts: must be a boolean (true or false)"),
    ({"gows": {"storage": []}}, "config.gows.storage: must be an object"),
    # the config itself
    ({"webhooks": None, "debug": None, "ignore": "all"}, "config.ignore: must be an object"),
]


def case_id(case: tuple[dict[str, Any], str]) -> str:
    return case[1].split(":")[0]


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS, ids=map(case_id, BAD_CONFIGS))
async def test_a_bad_config_on_create_answers_400_naming_the_field(api, config, message):
    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": False, "config": config})

    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert body["error"] == "Bad Request"
    assert message in body["message"], body["message"]
    assert not await Session.objects.filter(name="alpha").aexists()


@pytest.mark.parametrize(("config", "message"), BAD_CONFIGS, ids=map(case_id, BAD_CONFIGS))
async def test_a_bad_config_on_update_answers_400_and_keeps_the_old_config(api, config, message):
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"metadata": {"kept": "yes"}}})

    response = await api.put("/api/sessions/alpha", json={"config": config})

    assert response.status_code == 400
    assert message in response.json()["message"]
    row = await Session.objects.aget(name="alpha")
    assert row.config == {"metadata": {"kept": "yes"}}
    assert (row.should_run, row.generation) == (False, 0)


async def test_a_bad_config_on_legacy_start_creates_nothing(api):
    response = await api.post("/api/sessions/start",
                              json={"name": "alpha", "config": {"debug": "yes"}})

    assert response.status_code == 400
    assert response.json()["message"] == ["config.debug: must be a boolean (true or false)"]
    assert await Session.objects.acount() == 0


async def test_every_error_of_a_body_is_reported_at_once(api):
    response = await api.post("/api/sessions", json={
        "name": "bad name", "start": "yes",
        "config": {"debug": 1, "webhooks": [{"url": "ftp://x.example", "events": ["nope"]}]},
    })

    assert response.status_code == 400
    assert sorted(response.json()["message"]) == sorted([
        "name: may contain only letters, digits, '_' and '-' (^[a-zA-Z0-9_-]*$)",
        "start: must be a boolean (true or false)",
        "config.debug: must be a boolean (true or false)",
        "config.webhooks[0].url: must be an http or https URL",
        'config.webhooks[0].events[0]: "nope" is not a valid choice.',
    ])


# --- names and the top level ---------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "with space", "dots.not.allowed", "slash/no", "émoji", "a+b", "alpha\n", " alpha",
])
async def test_a_name_outside_the_pattern_answers_400(api, name):
    response = await api.post("/api/sessions", json={"name": name, "start": False})

    assert response.status_code == 400
    assert response.json()["message"] == [
        "name: may contain only letters, digits, '_' and '-' (^[a-zA-Z0-9_-]*$)"
    ]
    assert await Session.objects.acount() == 0


async def test_a_name_of_54_characters_is_accepted_and_55_is_not(api):
    longest = "a" * 54

    accepted = await api.post("/api/sessions", json={"name": longest, "start": False})
    refused = await api.post("/api/sessions", json={"name": "b" * 55, "start": False})

    assert accepted.status_code == 201
    assert accepted.json()["name"] == longest
    assert refused.status_code == 400
    assert refused.json()["message"] == [
        "name: Ensure this field has no more than 54 characters."
    ]


async def test_a_name_that_is_not_a_string_answers_400(api):
    response = await api.post("/api/sessions", json={"name": 12, "start": False})

    assert response.status_code == 400
    assert response.json()["message"] == ["name: must be a string"]


async def test_a_body_that_is_not_an_object_answers_400(api):
    response = await api.post("/api/sessions", json=["alpha"])

    assert response.status_code == 400
    assert response.json()["message"] == ["body: must be a JSON object, got an array"]


async def test_a_body_that_is_not_json_answers_400(api):
    response = await api.post("/api/sessions", content=b"{name: alpha",
                              headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    [message] = response.json()["message"]
    assert message.startswith("body: JSON parse error")


async def test_a_config_that_is_not_an_object_answers_400(api):
    response = await api.post("/api/sessions", json={"name": "alpha", "config": ["debug"]})

    assert response.status_code == 400
    assert response.json()["message"] == ["config: must be an object"]


# --- null means "not set" -------------------------------------------------------------------------
FULL_OF_NULLS: dict[str, Any] = {
    "debug": None,
    "client": {"deviceName": None, "browserName": None},
    "metadata": None,
    "webhooks": [{
        "url": "https://example.com/hook", "events": ["*"], "hmac": None,
        "retries": {"policy": None, "delaySeconds": None, "attempts": None},
        "customHeaders": None,
    }, {
        "url": "http://example.com/hook", "events": ["session.status", "message"],
        "hmac": {"key": None}, "retries": None, "customHeaders": [],
    }],
    "ignore": {"status": None, "groups": None, "channels": None, "broadcast": None},
    "proxy": {"server": "proxy.example.com:3128", "username": None, "password": None},
    "noweb": {"store": None, "markOnline": None},
    "gows": {"storage": None},
    "webjs": None,
    "apps": None,
}


async def test_null_is_accepted_for_every_optional_field(api):
    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": None, "config": FULL_OF_NULLS})

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "STARTING"
    row = await Session.objects.aget(name="alpha")
    assert row.config["webhooks"][0]["url"] == "https://example.com/hook"
    assert row.config["proxy"]["server"] == "proxy.example.com:3128"


@pytest.mark.parametrize("config", [
    {"client": None}, {"webhooks": None}, {"ignore": None}, {"proxy": None}, {"noweb": None},
    {"gows": None}, {"gows": {"storage": {"messages": None, "groups": None, "chats": None,
                                          "labels": None, "contacts": None}}},
    {"noweb": {"store": {"enabled": None, "fullSync": None}}},
])
async def test_null_is_accepted_for_each_optional_object(api, config):
    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": False, "config": config})

    assert response.status_code == 201, response.json()


async def test_null_name_config_and_start_create_a_running_session(api):
    response = await api.post("/api/sessions", json={"name": None, "config": None, "start": None})

    assert response.status_code == 201
    assert response.json()["status"] == "STARTING"
    assert response.json()["config"] is None


async def test_a_full_valid_config_is_stored_as_sent(api):
    config = {
        "debug": True,
        "client": {"deviceName": "My Bot", "browserName": "Chrome"},
        "metadata": {"user.id": "123", "empty": ""},
        "webhooks": [{
            "url": "https://example.com/hook", "events": ["message", "session.status"],
            "hmac": {"key": "my-secret-key"},
            "retries": {"policy": "exponential", "delaySeconds": 2, "attempts": 15},
            "customHeaders": [{"name": "X-Tenant", "value": " spaced "}],
        }],
        "ignore": {"status": True, "groups": False, "channels": True, "broadcast": False},
        "proxy": {"server": "http://proxy.example.com:3128", "username": "u",
                  "password": "p"},
        "noweb": {"store": {"enabled": True, "fullSync": False}, "markOnline": True},
        "gows": {"storage": {"messages": True, "groups": True, "chats": True, "labels": False,
                             "contacts": True}},
    }

    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": False, "config": config})

    assert response.status_code == 201, response.json()
    assert response.json()["config"] == config
    assert (await Session.objects.aget(name="alpha")).config == config


@pytest.mark.parametrize("server", [
    "proxy.example.com:3128", "http://proxy.example.com:3128", "https://proxy.example.com:443",
    "socks5://proxy.example.com:1080", "10.0.0.1:3128", "proxy.example.com:1",
    "[2001:db8::1]:3128", "socks5://[::1]:1080", "[fe80:0:0:0:0:0:0:1]:8080",
    "http://proxy.example.com:65535/",
])
async def test_a_proxy_server_of_a_supported_form_is_accepted(api, server):
    response = await api.post("/api/sessions", json={
        "name": "alpha", "start": False,
        "config": {"proxy": {"server": server, "username": "u", "password": "p"}},
    })

    assert response.status_code == 201, response.json()


async def test_metadata_at_its_limits_is_accepted(api):
    metadata = {f"{i:02d}" + "k" * 98: "v" * 1000 for i in range(50)}

    response = await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                                     "config": {"metadata": metadata}})

    assert response.status_code == 201, response.json()
    assert (await Session.objects.aget(name="alpha")).config == {"metadata": metadata}


async def test_a_refused_metadata_key_is_named_without_echoing_it_whole(api):
    key = "x" * 1_000_000

    response = await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                                     "config": {"metadata": {key: "v" * 5000}}})

    assert response.status_code == 400
    [message] = response.json()["message"]
    assert message.startswith("config.metadata: key 'xxxx") and len(message) < 200


# --- unknown fields -------------------------------------------------------------------------------
async def test_unknown_fields_are_dropped_by_default(api, settings):
    settings.HTTP_STRICT_MODE = False

    response = await api.post("/api/sessions", json={
        "name": "alpha", "start": False, "futureTopLevel": 1,
        "config": {"debug": True, "futureField": {"x": 1},
                   "webhooks": [{**WEBHOOK, "futureWebhookField": True}],
                   "noweb": {"store": {"enabled": True, "futureStoreField": 1}}},
    })

    assert response.status_code == 201
    stored = {"debug": True, "webhooks": [WEBHOOK], "noweb": {"store": {"enabled": True}}}
    echoed = {**stored, "noweb": {"store": {"enabled": True, "fullSync": False},
                                  "markOnline": True}}
    assert response.json()["config"] == echoed
    assert (await Session.objects.aget(name="alpha")).config == stored


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "alpha", "futureTopLevel": 1},
     "futureTopLevel: unknown field (WAHA_HTTP_STRICT_MODE is on)"),
    ({"name": "alpha", "config": {"futureField": 1}},
     "config.futureField: unknown field (WAHA_HTTP_STRICT_MODE is on)"),
    ({"name": "alpha", "config": {"webhooks": [{**WEBHOOK, "futureWebhookField": 1}]}},
     "config.webhooks[0].futureWebhookField: unknown field (WAHA_HTTP_STRICT_MODE is on)"),
    ({"name": "alpha", "config": {"noweb": {"store": {"enabled": True, "sync": 1}}}},
     "config.noweb.store.sync: unknown field (WAHA_HTTP_STRICT_MODE is on)"),
    ({"name": "alpha", "config": {"proxy": {"server": "p.example.com:1", "type": "socks"}}},
     "config.proxy.type: unknown field (WAHA_HTTP_STRICT_MODE is on)"),
])
async def test_strict_mode_refuses_unknown_fields_naming_them(api, settings, body, message):
    settings.HTTP_STRICT_MODE = True

    response = await api.post("/api/sessions", json=body)

    assert response.status_code == 400
    assert response.json()["message"] == [message]
    assert await Session.objects.acount() == 0


async def test_strict_mode_accepts_wahas_unused_fields(api, settings):
    settings.HTTP_STRICT_MODE = True

    response = await api.post("/api/sessions", json={"name": "alpha", "start": False, "config": {
        "debug": True, "webjs": {"tagsEventsOn": False}, "apps": ["chatwoot"],
    }})

    assert response.status_code == 201, response.json()
    assert (await Session.objects.aget(name="alpha")).config == {"debug": True}


async def test_strict_mode_accepts_wahas_top_level_fields_on_put(api, settings):
    settings.HTTP_STRICT_MODE = True
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.put("/api/sessions/alpha", json={
        "name": "alpha", "config": {"debug": True}, "start": False, "stop": False,
    })

    assert response.status_code == 200, response.json()
    assert (await Session.objects.aget(name="alpha")).config == {"debug": True}


async def test_strict_mode_refuses_an_unknown_field_on_put_and_keeps_the_config(api, settings):
    settings.HTTP_STRICT_MODE = True
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"debug": True}})

    response = await api.put("/api/sessions/alpha", json={"config": {"debug": False},
                                                           "restart": True})

    assert response.status_code == 400
    assert response.json()["message"] == ["restart: unknown field (WAHA_HTTP_STRICT_MODE is on)"]
    assert (await Session.objects.aget(name="alpha")).config == {"debug": True}
