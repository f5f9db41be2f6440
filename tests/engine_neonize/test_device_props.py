"""Device props, history settings, pairing names and proxies built from each config."""

from __future__ import annotations

import pytest
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.utils.enum import ClientType

from sessions_app.engines.base import SessionSpec
from sessions_app.engines.neonize_engine import (
    device_props,
    pairing_client_type,
    parse_jid,
    proxy_for,
    proxy_url,
)


def test_an_empty_config_uses_the_env_defaults_and_three_months_of_history(settings):
    settings.CLIENT_DEVICE_NAME = "Acme Bot"
    settings.CLIENT_BROWSER_NAME = "Firefox"

    props = device_props({})

    assert props.os == "Acme Bot"
    assert props.platformType == DeviceProps.FIREFOX
    assert props.requireFullSync is False
    assert props.historySyncConfig.fullSyncDaysLimit == 90
    assert props.historySyncConfig.recentSyncDaysLimit == 90


def test_the_client_names_of_the_config_win_over_the_defaults():
    props = device_props({"client": {"deviceName": "My Bot", "browserName": "Safari"}})

    assert props.os == "My Bot"
    assert props.platformType == DeviceProps.SAFARI


def test_full_sync_with_the_store_on_asks_for_a_year_of_history():
    props = device_props({"noweb": {"store": {"enabled": True, "fullSync": True}}})

    assert props.requireFullSync is True
    assert props.historySyncConfig.fullSyncDaysLimit == 365


def test_full_sync_without_the_store_asks_for_nothing_more():
    props = device_props({"noweb": {"store": {"enabled": False, "fullSync": True}}})

    assert props.requireFullSync is False
    assert props.historySyncConfig.fullSyncDaysLimit == 90


def test_every_field_is_set_so_nothing_leaks_between_sessions_through_the_go_global():
    props = device_props({})

    for name in ("os", "platformType", "requireFullSync", "historySyncConfig"):
        assert props.HasField(name), name


@pytest.mark.parametrize(("browser", "expected"), [
    ("Chrome", ClientType.CHROME), ("firefox", ClientType.FIREFOX),
    ("Edge", ClientType.EDGE), ("Netscape", ClientType.CHROME),
])
def test_the_pairing_code_names_the_configured_browser(browser, expected):
    assert pairing_client_type({"client": {"browserName": browser}}) is expected


def test_proxy_credentials_are_percent_encoded():
    assert proxy_url("proxy.example.com:3128", "us er", "p@ss:w/rd") == (
        "http://us%20er:p%40ss%3Aw%2Frd@proxy.example.com:3128"
    )
    assert proxy_url("socks5://10.0.0.1:1080") == "socks5://10.0.0.1:1080"


def test_the_session_proxy_beats_the_global_one_which_beats_the_list(settings):
    settings.PROXY_SERVER = "global:3128"
    settings.PROXY_USERNAME = "g"
    settings.PROXY_PASSWORD = "s"
    settings.PROXY_SERVER_LIST = ["a:1", "b:2"]
    own = SessionSpec("one", "u1", {"proxy": {"server": "own:8080"}})
    bare = SessionSpec("two", "u2", {})

    assert proxy_for(own) == "http://own:8080"
    assert proxy_for(bare) == "http://g:s@global:3128"

    settings.PROXY_SERVER = ""
    picks = {proxy_for(SessionSpec(f"s{i}", f"u{i}", {})) for i in range(20)}
    assert picks == {"http://a:1", "http://b:2"}  # rotated across sessions
    assert proxy_for(bare) == proxy_for(SessionSpec("two", "other-uid", {}))  # stable per name


def test_no_proxy_anywhere_means_a_direct_connection(settings):
    settings.PROXY_SERVER = ""
    settings.PROXY_SERVER_LIST = []
    assert proxy_for(SessionSpec("x", "u", {})) is None


def test_a_stored_device_jid_parses_back():
    jid = parse_jid("15550001111:7@s.whatsapp.net")
    assert (jid.User, jid.Device, jid.Server) == ("15550001111", 7, "s.whatsapp.net")
