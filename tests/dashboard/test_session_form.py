"""The create / edit form: the API's validation, errors beside their fields, secrets kept
out of the HTML, and nothing of the config lost that the form does not show."""

from __future__ import annotations

import html as html_module
import re
from typing import Any

import pytest

from sessions_app import services
from sessions_app.dashboard.forms import CONFIG_ROWS, WEBHOOK_ROWS, SessionForm, WebhookForm
from sessions_app.models import Session
from webhooks_app.models import Webhook

from .conftest import form_data, make_session, management


def webhook(index: int = 0, **fields: Any) -> dict[str, Any]:
    values = {"url": "", "events": ["*"], "hmac_key": "", "retries_policy": "",
              "retries_delay": "", "retries_attempts": "", "custom_headers": "", "original": ""}
    values.update(fields)
    return {f"webhooks-{index}-{key}": value for key, value in values.items()}


def error_beside(html: str, field_id: str) -> str:
    """The error list that follows the field's input inside its own field container."""
    match = re.search(
        rf'<(?:input|textarea|select)[^>]*aria-describedby="[^"]*{field_id}_error"[^>]*'
        rf'id="{field_id}"[^>]*>.*?<ul class="errorlist" id="{field_id}_error">(.*?)</ul>',
        html, re.S)
    assert match, f"no error list beside {field_id}"
    return html_module.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_it_creates_a_session_with_a_webhook_and_metadata(browser):
    answer = browser.post("/dashboard/create", form_data(
        name="shop", start="on",
        **management("metadata", 1), **{"metadata-0-key": "user.id", "metadata-0-value": "42"},
        **management("webhooks", 1),
        **webhook(0, url="https://hooks.example.com/waha", events=["message", "session.status"],
                  hmac_key="s3cret-key", retries_policy="linear", retries_delay="3",
                  retries_attempts="4", custom_headers="X-Team: support\n\nX-Env: prod"),
        device_name="Shop", ignore_groups="on", proxy_server="proxy.example.com:3128",
        proxy_username="bob", proxy_password="pw-123", store_enabled="on",
    ))

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard/sessions/shop/"
    session = Session.objects.get(name="shop")
    assert session.should_run
    assert session.config == {
        "client": {"deviceName": "Shop"},
        "metadata": {"user.id": "42"},
        "webhooks": [{
            "url": "https://hooks.example.com/waha",
            "events": ["message", "session.status"],
            "hmac": {"key": "s3cret-key"},
            "retries": {"policy": "linear", "delaySeconds": 3, "attempts": 4},
            "customHeaders": [{"name": "X-Team", "value": "support"},
                              {"name": "X-Env", "value": "prod"}],
        }],
        "ignore": {"groups": True},
        "proxy": {"server": "proxy.example.com:3128", "username": "bob", "password": "pw-123"},
        "noweb": {"store": {"enabled": True}},
    }
    assert Webhook.objects.get(session=session).hmac_key == "s3cret-key"


def test_an_untouched_webhook_block_is_not_a_webhook_and_start_can_be_off(browser):
    answer = browser.post("/dashboard/create", form_data(
        name="quiet", **management("webhooks", 1), **webhook(0)))
    assert answer.status_code == 302
    session = Session.objects.get(name="quiet")
    assert session.config == {}
    assert not session.should_run


def test_a_bad_webhook_url_is_shown_beside_the_url_field(browser):
    answer = browser.post("/dashboard/create", form_data(
        name="shop", **management("webhooks", 1), **webhook(0, url="ftp://files.example.com/x")))

    assert answer.status_code == 400
    html = answer.content.decode()
    assert error_beside(html, "id_webhooks-0-url") == "must be an http or https URL"
    assert 'aria-invalid="true"' in re.search(r'<input[^>]*id="id_webhooks-0-url"[^>]*>',
                                              html).group(0)
    # The summary uses the API's own wording and links to the field.
    assert ('<a href="#id_webhooks-0-url">config.webhooks[0].url: must be an http or https URL'
            in html)
    assert 'value="ftp://files.example.com/x"' in html
    assert not Session.objects.exists()


def test_errors_of_several_fields_each_go_beside_their_own(browser):
    answer = browser.post("/dashboard/create", form_data(
        name="bad name!", proxy_server="no-port-here",
        **management("webhooks", 2),
        **webhook(0, url="https://ok.example.com/a", retries_attempts="1000"),
        **webhook(1, url="https://ok.example.com/b", events=[],
                  custom_headers="X-Fine: 1\nBad Header: 2\nno colon"),
    ))

    html = answer.content.decode()
    assert answer.status_code == 400
    assert "may contain only letters" in error_beside(html, "id_name")
    assert "host:port" in error_beside(html, "id_proxy_server")
    assert "100" in error_beside(html, "id_webhooks-0-retries_attempts")
    assert "may not be empty" in html
    headers_error = error_beside(html, "id_webhooks-1-custom_headers")
    assert "line 3: expected 'Name: value'" in headers_error
    assert "line 2 (name): 'Bad Header' is not a valid header name" in headers_error


def test_the_events_error_lands_on_the_right_block_when_an_earlier_one_is_removed(browser):
    answer = browser.post("/dashboard/create", form_data(
        name="shop", **management("webhooks", 2),
        **webhook(0, url="https://gone.example.com", DELETE="on"),
        **webhook(1, url="https://ok.example.com/b", events=[]),
    ))
    html = answer.content.decode()
    # The config's webhooks[0] came from the form's second block.
    assert "config.webhooks[0].events" in html
    group = re.search(r'<fieldset class="events has-error" '
                      r'aria-describedby="id_webhooks-1-events_error">(.*?)</fieldset>',
                      html, re.S)
    assert group, "the events group of the second block is not marked"
    assert ('<ul class="errorlist" id="id_webhooks-1-events_error">'
            "<li>This list may not be empty.</li></ul>") in group.group(1)
    assert 'id="id_webhooks-0-events_error"' not in html


def test_a_taken_name_is_shown_beside_the_name(browser):
    make_session("shop")
    answer = browser.post("/dashboard/create", form_data(name="shop"))
    assert answer.status_code == 400
    assert "already exists" in error_beside(answer.content.decode(), "id_name")


def test_metadata_needs_keys_and_no_duplicates(browser):
    answer = browser.post("/dashboard/create", form_data(
        name="shop", **management("metadata", 3),
        **{"metadata-0-key": "a", "metadata-0-value": "1", "metadata-1-key": "a",
           "metadata-1-value": "2", "metadata-2-key": "", "metadata-2-value": "orphan"}))
    html = answer.content.decode()
    assert answer.status_code == 400
    assert "already used" in error_beside(html, "id_metadata-1-key")
    assert "A key is needed" in error_beside(html, "id_metadata-2-key")
    assert not Session.objects.exists()


def saved_shop() -> Session:
    return services.create_session("shop", {
        "metadata": {"team": "a"},
        "webhooks": [{"url": "https://one.example.com", "events": ["*"],
                      "hmac": {"key": "first-hmac-secret"}},
                     {"url": "https://two.example.com", "events": ["message"],
                      "hmac": {"key": "second-hmac-secret"}}],
        "proxy": {"server": "proxy.example.com:3128", "username": "bob",
                  "password": "proxy-pass-secret"},
        "gows": {"storage": {"messages": True}},
        "noweb": {"markOnline": True},
    }, start=False)


def test_the_edit_form_never_echoes_the_saved_secrets(browser):
    saved_shop()
    html = browser.get("/dashboard/sessions/shop/edit").content.decode()
    for secret in ("first-hmac-secret", "second-hmac-secret", "proxy-pass-secret"):
        assert secret not in html
    assert 'value="https://one.example.com"' in html
    assert 'value="bob"' in html
    assert html.count("Saved; leave blank to keep it") == 3


def edit_post(**overrides: Any) -> dict[str, Any]:
    data = form_data(
        **management("metadata", 1, 1), **{"metadata-0-key": "team", "metadata-0-value": "a"},
        **management("webhooks", 2, 2),
        **webhook(0, url="https://one.example.com", original="0"),
        **webhook(1, url="https://two.example.com", events=["message"], original="1"),
        proxy_server="proxy.example.com:3128", proxy_username="bob",
    )
    data.update(overrides)
    return data


def test_blank_secrets_keep_the_saved_ones_and_hidden_keys_survive(browser):
    saved_shop()
    answer = browser.post("/dashboard/sessions/shop/edit", edit_post())
    assert answer.status_code == 302
    config = Session.objects.get(name="shop").config
    assert [hook["hmac"]["key"] for hook in config["webhooks"]] == [
        "first-hmac-secret", "second-hmac-secret"]
    assert config["proxy"]["password"] == "proxy-pass-secret"
    assert config["gows"] == {"storage": {"messages": True}}
    assert config["noweb"] == {"markOnline": True}


def test_a_removed_block_does_not_shift_the_saved_keys(browser):
    saved_shop()
    answer = browser.post("/dashboard/sessions/shop/edit", edit_post(**{"webhooks-0-DELETE": "on"}))
    assert answer.status_code == 302
    [hook] = Session.objects.get(name="shop").config["webhooks"]
    assert hook["url"] == "https://two.example.com"
    assert hook["hmac"] == {"key": "second-hmac-secret"}


def test_secrets_can_be_replaced_or_removed(browser):
    saved_shop()
    answer = browser.post("/dashboard/sessions/shop/edit", edit_post(**{
        "webhooks-0-hmac_key": "new-hmac-key", "webhooks-1-hmac_clear": "on",
        "proxy_password_clear": "on",
    }))
    assert answer.status_code == 302
    config = Session.objects.get(name="shop").config
    assert config["webhooks"][0]["hmac"] == {"key": "new-hmac-key"}
    assert "hmac" not in config["webhooks"][1]
    assert "password" not in config["proxy"]


def test_an_invalid_edit_does_not_echo_a_newly_typed_secret(browser):
    saved_shop()
    answer = browser.post("/dashboard/sessions/shop/edit", edit_post(**{
        "webhooks-0-url": "not a url", "webhooks-0-hmac_key": "typed-new-secret",
        "proxy_password": "typed-proxy-secret",
    }))
    assert answer.status_code == 400
    html = answer.content.decode()
    assert "typed-new-secret" not in html and "typed-proxy-secret" not in html
    assert "first-hmac-secret" not in html
    assert error_beside(html, "id_webhooks-0-url") == "Enter a valid URL."
    assert Session.objects.get(name="shop").config["webhooks"][0]["url"] == \
        "https://one.example.com"


def test_a_saved_key_index_from_another_session_cannot_be_borrowed(browser):
    saved_shop()
    make_session("other")
    answer = browser.post("/dashboard/sessions/other/edit", form_data(
        **management("webhooks", 1), **webhook(0, url="https://x.example.com", original="0")))
    assert answer.status_code == 302
    assert "hmac" not in Session.objects.get(name="other").config["webhooks"][0]


@pytest.mark.parametrize(("env_default", "checked", "expected"), [
    (False, False, None), (False, True, {"status": True}),
    (True, True, None), (True, False, {"status": False}),
])
def test_ignore_switches_follow_the_server_default_until_changed(browser, settings,
                                                                 env_default, checked, expected):
    settings.IGNORE_DEFAULTS = {**settings.IGNORE_DEFAULTS, "status": env_default}
    make_session("shop")
    extra = {"ignore_status": "on"} if checked else {}
    assert browser.post("/dashboard/sessions/shop/edit", form_data(**extra)).status_code == 302
    assert Session.objects.get(name="shop").config.get("ignore") == expected


def test_saving_a_running_session_restarts_it(browser):
    session = make_session("shop", should_run=True, generation=3)
    answer = browser.post("/dashboard/sessions/shop/edit", form_data(debug="on"), follow=True)
    session.refresh_from_db()
    assert session.generation == 4
    assert session.config == {"debug": True}
    assert b"It restarts to apply the change." in answer.content


def test_every_input_of_the_form_has_a_label(browser):
    saved_shop()
    for path in ["/dashboard/create", "/dashboard/sessions/shop/edit"]:
        html = browser.get(path).content.decode()
        html = re.sub(r"<template.*?</template>", "", html, flags=re.S)
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            field_id = re.search(r'id="([^"]+)"', tag)
            assert field_id and field_id.group(1) in labelled, tag


def test_every_row_of_the_config_tables_names_a_field_of_its_form():
    main_fields = SessionForm(creating=True).fields
    webhook_fields = WebhookForm().fields
    assert [row.field for row in CONFIG_ROWS if row.field not in main_fields] == []
    assert [row.field for row in WEBHOOK_ROWS if row.field not in webhook_fields] == []


def test_the_edit_form_shows_the_saved_config_but_no_secret(browser, settings):
    settings.IGNORE_DEFAULTS = {**settings.IGNORE_DEFAULTS, "groups": True}
    services.create_session("shop", {
        "debug": True,
        "client": {"deviceName": "Shop", "browserName": "Edge"},
        "ignore": {"status": True},
        "proxy": {"server": "proxy.example.com:3128", "username": "bob", "password": "pw-secret"},
        "noweb": {"store": {"enabled": True}},
        "webhooks": [{"url": "https://one.example.com", "events": ["message"],
                      "hmac": {"key": "hmac-secret"},
                      "retries": {"policy": "linear", "delaySeconds": 0, "attempts": 4},
                      "customHeaders": [{"name": "X-Team", "value": "support"},
                                        {"name": "X-Env", "value": "prod"}]}],
    }, start=False)
    html = browser.get("/dashboard/sessions/shop/edit").content.decode()

    def tag(attribute: str) -> str:
        pattern = rf"<(?:input|select|textarea)[^>]*{re.escape(attribute)}[^>]*>"
        return re.search(pattern, html).group(0)

    for field_id in ("id_debug", "id_ignore_status", "id_ignore_groups", "id_store_enabled"):
        assert "checked" in tag(f'id="{field_id}"'), field_id
    for field_id in ("id_ignore_channels", "id_store_full_sync"):
        assert "checked" not in tag(f'id="{field_id}"'), field_id
    assert "checked" in tag('name="webhooks-0-events" value="message"')
    assert "checked" not in tag('name="webhooks-0-events" value="*"')
    for field_id, value in [("id_device_name", "Shop"), ("id_browser_name", "Edge"),
                            ("id_proxy_server", "proxy.example.com:3128"),
                            ("id_proxy_username", "bob"), ("id_webhooks-0-original", "0"),
                            ("id_webhooks-0-retries_delay", "0"),
                            ("id_webhooks-0-retries_attempts", "4")]:
        assert f'value="{value}"' in tag(f'id="{field_id}"'), field_id
    assert '<option value="linear" selected>' in html
    assert "X-Team:\nX-Env:</textarea>" in html
    assert "pw-secret" not in html and "hmac-secret" not in html
    assert "support" not in html and "prod" not in html


def test_saved_switches_stay_written_when_turned_off(browser):
    services.create_session("shop", {"debug": True, "noweb": {"store": {"enabled": True}}},
                            start=False)
    assert browser.post("/dashboard/sessions/shop/edit", form_data()).status_code == 302
    assert Session.objects.get(name="shop").config == {
        "debug": False, "noweb": {"store": {"enabled": False}}}


def test_a_proxy_without_a_server_is_not_written(browser):
    saved_shop()
    answer = browser.post("/dashboard/sessions/shop/edit",
                          edit_post(proxy_server="", proxy_username="bob"))
    assert answer.status_code == 302
    assert "proxy" not in Session.objects.get(name="shop").config


def secret_hook_shop() -> Session:
    return services.create_session("shop", {
        "webhooks": [{"url": "https://bob:url-secret@one.example.com/hook?x=1", "events": ["*"],
                      "customHeaders": [{"name": "Authorization", "value": "Bearer tok-secret"},
                                        {"name": "X-Env", "value": "prod-secret"}]}],
    }, start=False)


def test_the_edit_form_masks_the_url_password_and_shows_header_names_only(browser):
    secret_hook_shop()

    html = browser.get("/dashboard/sessions/shop/edit").content.decode()

    assert 'value="https://bob:••••••@one.example.com/hook?x=1"' in html
    assert "\nAuthorization:\nX-Env:</textarea>" in html
    for secret in ("url-secret", "tok-secret", "prod-secret"):
        assert secret not in html


def test_the_masked_password_and_blank_header_values_keep_the_saved_ones(browser):
    secret_hook_shop()

    answer = browser.post("/dashboard/sessions/shop/edit", form_data(
        **management("webhooks", 1, 1),
        **webhook(0, url="https://bob:••••••@one.example.com/other", original="0",
                  custom_headers="Authorization:\nX-Env:\nX-New: added"),
    ))

    assert answer.status_code == 302
    [hook] = Session.objects.get(name="shop").config["webhooks"]
    assert hook["url"] == "https://bob:url-secret@one.example.com/other"
    assert hook["customHeaders"] == [{"name": "Authorization", "value": "Bearer tok-secret"},
                                     {"name": "X-Env", "value": "prod-secret"},
                                     {"name": "X-New", "value": "added"}]
    assert Webhook.objects.get(session__name="shop").url == hook["url"]


def test_typed_credentials_and_header_values_replace_the_saved_ones_and_a_removed_line_goes(
        browser):
    secret_hook_shop()

    answer = browser.post("/dashboard/sessions/shop/edit", form_data(
        **management("webhooks", 1, 1),
        **webhook(0, url="https://ann:new-pass@one.example.com/hook", original="0",
                  custom_headers="Authorization: Bearer new-token"),
    ))

    assert answer.status_code == 302
    [hook] = Session.objects.get(name="shop").config["webhooks"]
    assert hook["url"] == "https://ann:new-pass@one.example.com/hook"
    assert hook["customHeaders"] == [{"name": "Authorization", "value": "Bearer new-token"}]
