"""A session's `ignore` switches drop exactly the chats they name, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from neonize.events import ChatPresenceEv, MessageEv, ReceiptEv
from neonize.proto.Neonize_pb2 import JID, MessageInfo, MessageSource, Receipt
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.jid import build_jid

from sessions_app.engines.neonize_events import translate
from sessions_app.ignore import IgnoreRules

SWITCHES = ("status", "groups", "channels", "broadcast")

# Each chat kind, as a JID and in WAHA form, with the switch that drops it (None: nothing does).
CHATS: dict[str, tuple[JID, str, str | None]] = {
    "direct": (build_jid("6282222222222"), "6282222222222@c.us", None),
    "group": (build_jid("120363000000000000", "g.us"), "120363000000000000@g.us", "groups"),
    "channel": (build_jid("120363111111111111", "newsletter"),
                "120363111111111111@newsletter", "channels"),
    "status": (build_jid("status", "broadcast"), "status@broadcast", "status"),
    "broadcast list": (build_jid("1700000000", "broadcast"), "1700000000@broadcast",
                       "broadcast"),
}
SENDER = build_jid("6283333333333")


def incoming_text(chat: JID) -> MessageEv:
    multi = chat.Server in ("g.us", "broadcast")
    event = MessageEv(
        Info=MessageInfo(MessageSource=MessageSource(Chat=chat, Sender=SENDER if multi else chat,
                                                     IsFromMe=False, IsGroup=multi),
                         ID="3EB0IGNORE", Timestamp=1_700_000_000_000),
        Message=Message(conversation="hello"),
    )
    return MessageEv.FromString(event.SerializePartialToString())


def only_switch(switch: str) -> IgnoreRules:
    return IgnoreRules(**{name: name == switch for name in SWITCHES})


@pytest.mark.parametrize("kind", CHATS)
@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_drops_exactly_its_own_chat_kind(switch: str, kind: str) -> None:
    jid, chat_id, dropped_by = CHATS[kind]
    rules = only_switch(switch)
    dropped = switch == dropped_by

    assert rules.ignores(chat_id) is dropped
    events = translate(incoming_text(jid), me_id="6281111111111@c.us", rules=rules)
    assert (events == []) is dropped
    if not dropped:
        assert [name for name, _ in events] == ["message", "message.any"]


@pytest.mark.parametrize("kind", CHATS)
def test_nothing_is_dropped_with_every_switch_off(kind: str) -> None:
    _, chat_id, _ = CHATS[kind]
    assert IgnoreRules().ignores(chat_id) is False


def test_a_direct_chat_is_never_dropped_even_with_every_switch_on() -> None:
    rules = IgnoreRules(status=True, groups=True, channels=True, broadcast=True)
    assert not rules.ignores("6282222222222@c.us")
    assert not rules.ignores("99999999999999@lid")
    assert not rules.ignores("6282222222222@s.whatsapp.net")
    assert not rules.ignores("")


def test_every_event_of_an_ignored_chat_is_dropped() -> None:
    group = build_jid("120363000000000000", "g.us")
    source = MessageSource(Chat=group, Sender=SENDER, IsGroup=True)
    receipt = ReceiptEv(MessageSource=source, MessageIDs=["A1"], Timestamp=1, Type=Receipt.READ)
    typing = ChatPresenceEv(MessageSource=source)
    rules = IgnoreRules(groups=True)

    assert translate(receipt, me_id=None, rules=rules) == []
    assert translate(typing, me_id=None, rules=rules) == []


def test_from_config_reads_the_session_switches(settings: Any) -> None:
    settings.IGNORE_DEFAULTS = dict.fromkeys(SWITCHES, False)
    config = {"ignore": {"status": True, "groups": False, "channels": True, "broadcast": False}}
    assert IgnoreRules.from_config(config) == IgnoreRules(status=True, channels=True)


@pytest.mark.parametrize("config", [
    {},
    {"ignore": None},
    {"ignore": {}},
    {"ignore": {"status": None, "groups": None, "channels": None, "broadcast": None}},
    None,
])
def test_unset_switches_take_the_env_defaults(settings: Any,
                                              config: dict[str, Any] | None) -> None:
    settings.IGNORE_DEFAULTS = {"status": True, "groups": False, "channels": True,
                                "broadcast": False}
    assert IgnoreRules.from_config(config) == IgnoreRules(status=True, channels=True)


def test_a_session_switch_beats_the_env_default(settings: Any) -> None:
    settings.IGNORE_DEFAULTS = dict.fromkeys(SWITCHES, True)
    rules = IgnoreRules.from_config({"ignore": {"groups": False, "status": None}})
    assert rules == IgnoreRules(status=True, groups=False, channels=True, broadcast=True)


def test_without_env_defaults_nothing_is_ignored(settings: Any) -> None:
    settings.IGNORE_DEFAULTS = {}
    assert IgnoreRules.from_config({"ignore": {"groups": None}}) == IgnoreRules()
