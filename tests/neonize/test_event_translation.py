"""neonize events → WAHA events, on real neonize event objects.

Message and receipt events are serialized and decoded first, as neonize's callback does
(`FromString` of the bytes Go hands over), so the translation runs on decoded objects.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from google.protobuf.message import Message as ProtoMessage
from neonize.events import (
    CallAcceptEv,
    CallOfferEv,
    CallOfferNoticeEv,
    CallTerminateEv,
    ChatPresenceEv,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    GroupInfoEv,
    HistorySyncEv,
    JoinedGroupEv,
    LoggedOutEv,
    MessageEv,
    PictureEv,
    PresenceEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import (
    JID,
    BasicCallMeta,
    ChatPresence,
    ConnectFailureReason,
    GroupAnnounce,
    GroupEphemeral,
    GroupInfo,
    GroupLocked,
    GroupName,
    GroupParticipant,
    GroupTopic,
    MessageInfo,
    MessageSource,
    Node,
    NodeAttrs,
    Receipt,
    TemporaryBan,
)
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    Message,
    ProtocolMessage,
    ReactionMessage,
    SenderKeyDistributionMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import (
    Conversation,
    HistorySync,
    HistorySyncMsg,
    Pushname,
)
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from neonize.utils.jid import build_jid

from sessions_app.engines.neonize_events import (
    failure_reason,
    history_batch,
    me_info,
    message_id,
    messages,
    translate,
    waha_chat_id,
)
from sessions_app.ignore import IgnoreRules

P = TypeVar("P", bound=ProtoMessage)

ME_USER = "6281111111111"
ME = f"{ME_USER}@c.us"
ME_LID = "99999999999999@lid"
BOB = "6282222222222"
CAROL = "6283333333333"
GROUP = "120363000000000000"
CHANNEL = "120363111111111111"
KEEP_ALL = IgnoreRules()

me_jid = build_jid(ME_USER)
bob_jid = build_jid(BOB)
carol_jid = build_jid(CAROL)
group_jid = build_jid(GROUP, "g.us")
channel_jid = build_jid(CHANNEL, "newsletter")
status_jid = build_jid("status", "broadcast")


def decoded(event: P) -> P:
    """What neonize's callback hands a handler: the event decoded from Go's bytes."""
    return type(event).FromString(event.SerializePartialToString())


def run(event: Any, *, me_id: str | None = ME,
        rules: IgnoreRules = KEEP_ALL) -> list[tuple[str, dict[str, Any]]]:
    return translate(event, me_id=me_id, rules=rules)


def only(event: Any, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    events = run(event, **kwargs)
    assert len(events) == 1, events
    return events[0]


def message_event(content: Message, *, chat: JID = bob_jid, sender: JID | None = None,
                  from_me: bool = False, group: bool = False, msg_id: str = "3EB0ABCDEF",
                  timestamp_ms: int = 1_700_000_000_000, is_edit: bool = False) -> MessageEv:
    if sender is None:
        sender = me_jid if from_me else chat
    info = MessageInfo(
        MessageSource=MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=group),
        ID=msg_id, Timestamp=timestamp_ms, Pushname="Bob", Type="text",
    )
    return decoded(MessageEv(Info=info, Message=content, IsEdit=is_edit))


def receipt_event(kind: int | None, *, chat: JID = bob_jid, sender: JID | None = None,
                  from_me: bool = False, group: bool = False,
                  ids: tuple[str, ...] = ("3EB0ABCDEF",)) -> ReceiptEv:
    source = MessageSource(Chat=chat, Sender=sender or chat, IsFromMe=from_me, IsGroup=group)
    receipt = ReceiptEv(MessageSource=source, MessageIDs=list(ids), Timestamp=1_700_000_001)
    if kind is not None:
        receipt.Type = kind
    return decoded(receipt)


def text(body: str) -> Message:
    return Message(conversation=body)


def call_meta(caller: JID = bob_jid, call_id: str = "CALL1") -> BasicCallMeta:
    return BasicCallMeta(**{"from": caller}, timestamp=1_700_000_002, callCreator=caller,
                         callID=call_id)


# --- chat ids and MeInfo ------------------------------------------------------------------------

@pytest.mark.parametrize(("jid", "expected"), [
    (build_jid(BOB), f"{BOB}@c.us"),
    (JID(User=BOB, Device=12, Server="s.whatsapp.net"), f"{BOB}@c.us"),
    (build_jid(GROUP, "g.us"), f"{GROUP}@g.us"),
    (build_jid(CHANNEL, "newsletter"), f"{CHANNEL}@newsletter"),
    (build_jid("status", "broadcast"), "status@broadcast"),
    (build_jid("1700000000", "broadcast"), "1700000000@broadcast"),
    (build_jid("99999999999999", "lid"), "99999999999999@lid"),
    (JID(), ""),
    (f"{BOB}:3@s.whatsapp.net", f"{BOB}@c.us"),
    (f"{GROUP}@g.us", f"{GROUP}@g.us"),
    ("", ""),
])
def test_chat_ids_take_wahas_form(jid: Any, expected: str) -> None:
    assert waha_chat_id(jid) == expected


def test_me_info_has_the_short_id_the_full_jid_and_the_lid() -> None:
    jid = JID(User=ME_USER, Device=7, Server="s.whatsapp.net")
    lid = JID(User="99999999999999", Device=7, Server="lid")
    assert me_info(jid, "Me", lid) == {
        "id": ME, "pushName": "Me", "jid": f"{ME_USER}:7@s.whatsapp.net", "lid": ME_LID,
    }


def test_me_info_without_a_lid_says_none() -> None:
    assert me_info(me_jid) == {"id": ME, "pushName": "", "jid": f"{ME_USER}@s.whatsapp.net",
                               "lid": None}
    assert me_info(me_jid, "Me", JID())["lid"] is None


def test_message_ids_name_the_participant_only_for_others_group_messages() -> None:
    assert message_id(False, f"{BOB}@c.us", "X") == f"false_{BOB}@c.us_X"
    assert message_id(True, f"{BOB}@c.us", "X") == f"true_{BOB}@c.us_X"
    assert message_id(False, f"{GROUP}@g.us", "X", f"{BOB}@c.us") == \
        f"false_{GROUP}@g.us_X_{BOB}@c.us"
    assert message_id(True, f"{GROUP}@g.us", "X", ME) == f"true_{GROUP}@g.us_X"
    assert message_id(False, f"{BOB}@c.us", "X", f"{BOB}@c.us") == f"false_{BOB}@c.us_X"


# --- messages -----------------------------------------------------------------------------------

def test_an_incoming_text_is_a_message_and_a_message_any() -> None:
    events = run(message_event(text("hello")))

    assert [name for name, _ in events] == ["message", "message.any"]
    payload = events[0][1]
    assert payload == {
        "id": f"false_{BOB}@c.us_3EB0ABCDEF",
        "timestamp": 1_700_000_000,
        "from": f"{BOB}@c.us",
        "fromMe": False,
        "source": "app",
        "to": ME,
        "participant": None,
        "body": "hello",
        "hasMedia": False,
        "media": None,
        "ack": 2,
        "ackName": "DEVICE",
        "replyTo": None,
        "_data": {
            "ID": "3EB0ABCDEF",
            "Chat": f"{BOB}@s.whatsapp.net",
            "Sender": f"{BOB}@s.whatsapp.net",
            "IsFromMe": False,
            "IsGroup": False,
            "Pushname": "Bob",
            "Timestamp": 1_700_000_000_000,
            "Type": "text",
        },
    }
    assert events[1][1] == payload
    assert events[1][1] is not payload


def test_our_own_message_is_only_a_message_any_sent_from_us() -> None:
    name, payload = only(message_event(text("from my phone"), from_me=True))

    assert name == "message.any"
    assert payload["id"] == f"true_{BOB}@c.us_3EB0ABCDEF"
    assert (payload["from"], payload["to"]) == (ME, f"{BOB}@c.us")
    assert payload["fromMe"] is True
    assert (payload["ack"], payload["ackName"]) == (1, "SERVER")


def test_before_pairing_completes_our_own_id_is_unknown() -> None:
    _, payload = run(message_event(text("hello")), me_id=None)[0]
    assert payload["to"] is None


def test_the_timestamp_is_seconds_whether_whatsmeow_gave_ms_or_seconds() -> None:
    _, in_ms = run(message_event(text("a"), timestamp_ms=1_700_000_000_123))[0]
    _, in_s = run(message_event(text("a"), timestamp_ms=1_700_000_000))[0]
    _, zero = run(message_event(text("a"), timestamp_ms=0))[0]
    assert (in_ms["timestamp"], in_s["timestamp"], zero["timestamp"]) == (
        1_700_000_000, 1_700_000_000, None)


def test_a_group_message_names_its_sender_as_participant_and_in_its_id() -> None:
    name, payload = run(message_event(text("hi all"), chat=group_jid, sender=bob_jid,
                                      group=True))[0]

    assert name == "message"
    assert payload["id"] == f"false_{GROUP}@g.us_3EB0ABCDEF_{BOB}@c.us"
    assert (payload["from"], payload["to"]) == (f"{GROUP}@g.us", ME)
    assert payload["participant"] == f"{BOB}@c.us"


def test_our_own_group_message_has_no_participant_in_its_id() -> None:
    sender = JID(User=ME_USER, Device=3, Server="s.whatsapp.net")
    name, payload = only(message_event(text("hi"), chat=group_jid, sender=sender,
                                       from_me=True, group=True))

    assert name == "message.any"
    assert payload["id"] == f"true_{GROUP}@g.us_3EB0ABCDEF"
    assert payload["participant"] == ME
    assert (payload["from"], payload["to"]) == (ME, f"{GROUP}@g.us")


def test_a_status_update_comes_from_status_broadcast_with_its_author() -> None:
    name, payload = run(message_event(text("my day"), chat=status_jid, sender=bob_jid,
                                      group=True))[0]

    assert name == "message"
    assert payload["from"] == "status@broadcast"
    assert payload["participant"] == f"{BOB}@c.us"
    assert payload["id"] == f"false_status@broadcast_3EB0ABCDEF_{BOB}@c.us"


def test_a_channel_post_comes_from_the_newsletter() -> None:
    name, payload = run(message_event(text("news"), chat=channel_jid))[0]

    assert name == "message"
    assert payload["from"] == f"{CHANNEL}@newsletter"
    assert payload["participant"] is None
    assert payload["id"] == f"false_{CHANNEL}@newsletter_3EB0ABCDEF"


@pytest.mark.parametrize(("content", "body", "has_media"), [
    (Message(extendedTextMessage=ExtendedTextMessage(text="a link https://x.y")),
     "a link https://x.y", False),
    (Message(imageMessage=ImageMessage(caption="a photo", mimetype="image/jpeg")),
     "a photo", True),
    (Message(videoMessage=VideoMessage(caption="a clip")), "a clip", True),
    (Message(documentMessage=DocumentMessage(caption="", fileName="a.pdf")), None, True),
    (Message(audioMessage=AudioMessage(PTT=True)), None, True),
    (Message(stickerMessage=StickerMessage(mimetype="image/webp")), None, True),
])
def test_body_and_media_come_from_the_content(content: Message, body: str | None,
                                              has_media: bool) -> None:
    _, payload = run(message_event(content))[0]
    assert (payload["body"], payload["hasMedia"], payload["media"]) == (body, has_media, None)


def test_a_disappearing_message_is_read_through_its_wrapper() -> None:
    content = Message(ephemeralMessage=FutureProofMessage(message=text("gone soon")))
    _, payload = run(message_event(content))[0]
    assert payload["body"] == "gone soon"


def test_a_reply_names_the_quoted_message() -> None:
    quote = ContextInfo(stanzaID="QUOTED1", participant=f"{ME_USER}@s.whatsapp.net",
                        quotedMessage=text("the original"))
    content = Message(extendedTextMessage=ExtendedTextMessage(text="yes", contextInfo=quote))

    _, payload = run(message_event(content))[0]

    assert payload["body"] == "yes"
    assert payload["replyTo"] == {"id": "QUOTED1", "participant": ME, "body": "the original",
                                  "hasMedia": False, "media": None}


def test_a_reply_to_a_photo_says_the_quote_has_media() -> None:
    quote = ContextInfo(stanzaID="Q2", participant=f"{BOB}@s.whatsapp.net",
                        quotedMessage=Message(imageMessage=ImageMessage(caption="look")))
    content = Message(extendedTextMessage=ExtendedTextMessage(text="nice", contextInfo=quote))

    _, payload = run(message_event(content))[0]

    assert payload["replyTo"]["body"] == "look"
    assert payload["replyTo"]["hasMedia"] is True


def test_a_mention_without_a_quote_is_no_reply() -> None:
    context = ContextInfo(mentionedJID=[f"{ME_USER}@s.whatsapp.net"])
    content = Message(extendedTextMessage=ExtendedTextMessage(text="@me", contextInfo=context))
    _, payload = run(message_event(content))[0]
    assert payload["replyTo"] is None


# --- reactions, revokes, edits -----------------------------------------------------------------

def test_a_reaction_to_our_message_points_at_our_message() -> None:
    # Bob's key is written from his side: the target is not his (fromMe false), his chat is us.
    key = MessageKey(remoteJID=f"{ME_USER}@s.whatsapp.net", fromMe=False, ID="MINE1")
    event = message_event(Message(reactionMessage=ReactionMessage(key=key, text="👍")),
                          msg_id="R1")

    name, payload = only(event)

    assert name == "message.reaction"
    assert payload == {
        "id": f"false_{BOB}@c.us_R1",
        "timestamp": 1_700_000_000,
        "from": f"{BOB}@c.us",
        "fromMe": False,
        "source": "app",
        "to": ME,
        "participant": None,
        "reaction": {"text": "👍", "messageId": f"true_{BOB}@c.us_MINE1"},
    }


def test_a_reaction_to_the_reactors_own_message_points_at_theirs() -> None:
    key = MessageKey(remoteJID=f"{ME_USER}@s.whatsapp.net", fromMe=True, ID="HIS1")
    event = message_event(Message(reactionMessage=ReactionMessage(key=key, text="😂")))
    _, payload = only(event)
    assert payload["reaction"]["messageId"] == f"false_{BOB}@c.us_HIS1"


def test_a_group_reaction_names_the_author_of_the_target() -> None:
    key = MessageKey(remoteJID=f"{GROUP}@g.us", fromMe=False, ID="CAROLS1",
                     participant=f"{CAROL}@s.whatsapp.net")
    event = message_event(Message(reactionMessage=ReactionMessage(key=key, text="❤")),
                          chat=group_jid, sender=bob_jid, group=True, msg_id="R2")

    _, payload = only(event)

    assert payload["id"] == f"false_{GROUP}@g.us_R2_{BOB}@c.us"
    assert payload["participant"] == f"{BOB}@c.us"
    assert payload["reaction"]["messageId"] == f"false_{GROUP}@g.us_CAROLS1_{CAROL}@c.us"


def test_a_group_reaction_to_our_message_points_at_ours() -> None:
    key = MessageKey(remoteJID=f"{GROUP}@g.us", fromMe=False, ID="MINE2",
                     participant=f"{ME_USER}@s.whatsapp.net")
    event = message_event(Message(reactionMessage=ReactionMessage(key=key, text="🔥")),
                          chat=group_jid, sender=bob_jid, group=True)
    _, payload = only(event)
    assert payload["reaction"]["messageId"] == f"true_{GROUP}@g.us_MINE2"


def test_our_own_reaction_keeps_our_key() -> None:
    key = MessageKey(remoteJID=f"{BOB}@s.whatsapp.net", fromMe=False, ID="HIS2")
    event = message_event(Message(reactionMessage=ReactionMessage(key=key, text="")),
                          from_me=True)

    _, payload = only(event)

    assert (payload["from"], payload["to"], payload["fromMe"]) == (ME, f"{BOB}@c.us", True)
    assert payload["reaction"] == {"text": "", "messageId": f"false_{BOB}@c.us_HIS2"}


def test_a_revoke_names_the_deleted_message() -> None:
    revoke = ProtocolMessage(type=ProtocolMessage.REVOKE,
                             key=MessageKey(remoteJID=f"{ME_USER}@s.whatsapp.net", fromMe=True,
                                            ID="GONE1"))
    name, payload = only(message_event(Message(protocolMessage=revoke), msg_id="REV1"))

    assert name == "message.revoked"
    assert {key: value for key, value in payload.items() if key != "_data"} == {
        "id": f"false_{BOB}@c.us_REV1",
        "from": f"{BOB}@c.us",
        "fromMe": False,
        "to": ME,
        "participant": None,
        "timestamp": 1_700_000_000,
        "revokedMessageId": "GONE1",
        "after": None,
        "before": None,
    }


def test_an_edit_carries_the_new_body_and_the_edited_id() -> None:
    edit = ProtocolMessage(type=ProtocolMessage.MESSAGE_EDIT, key=MessageKey(ID="ORIG1"),
                           editedMessage=text("hello (edited)"))
    name, payload = only(message_event(Message(protocolMessage=edit), msg_id="EDIT1",
                                       is_edit=True))

    assert name == "message.edited"
    assert payload["id"] == f"false_{BOB}@c.us_EDIT1"
    assert payload["body"] == "hello (edited)"
    assert payload["editedMessageId"] == "ORIG1"
    assert (payload["from"], payload["to"], payload["participant"]) == (f"{BOB}@c.us", ME, None)
    assert payload["timestamp"] == 1_700_000_000


def test_an_edit_still_wrapped_in_edited_message_is_read_too() -> None:
    edit = ProtocolMessage(type=ProtocolMessage.MESSAGE_EDIT, key=MessageKey(ID="ORIG2"),
                           editedMessage=Message(extendedTextMessage=ExtendedTextMessage(
                               text="fixed typo")))
    content = Message(editedMessage=FutureProofMessage(message=Message(protocolMessage=edit)))
    name, payload = only(message_event(content, from_me=True))

    assert name == "message.edited"
    assert (payload["body"], payload["editedMessageId"]) == ("fixed typo", "ORIG2")
    assert payload["fromMe"] is True


def test_an_edit_flagged_without_a_protocol_message_edits_itself() -> None:
    name, payload = only(message_event(text("new wording"), chat=channel_jid, msg_id="POST1",
                                       is_edit=True))
    assert name == "message.edited"
    assert (payload["body"], payload["editedMessageId"]) == ("new wording", "POST1")


def test_other_protocol_messages_are_engine_events() -> None:
    sync = ProtocolMessage(type=ProtocolMessage.EPHEMERAL_SETTING, ephemeralExpiration=86400)
    name, payload = only(message_event(Message(protocolMessage=sync)))

    assert name == "engine.event"
    assert payload["event"] == "Message"
    assert payload["data"]["Message"]["protocolMessage"]["type"] == "EPHEMERAL_SETTING"


def test_a_key_distribution_without_content_is_an_engine_event() -> None:
    keys = SenderKeyDistributionMessage(groupID=f"{GROUP}@g.us")
    name, _ = only(message_event(Message(senderKeyDistributionMessage=keys), chat=group_jid,
                                 sender=bob_jid, group=True))
    assert name == "engine.event"


# --- receipts -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "ack", "ack_name"), [
    (Receipt.DELIVERED, 2, "DEVICE"),
    (Receipt.INACTIVE, 2, "DEVICE"),
    (Receipt.READ, 3, "READ"),
    (Receipt.PLAYED, 4, "PLAYED"),
    (Receipt.SERVER_ERROR, -1, "ERROR"),
])
def test_a_receipt_on_our_message_is_an_ack(kind: int, ack: int, ack_name: str) -> None:
    name, payload = only(receipt_event(kind))

    assert name == "message.ack"
    assert payload == {
        "id": f"true_{BOB}@c.us_3EB0ABCDEF",
        "from": ME,
        "fromMe": True,
        "participant": None,
        "to": f"{BOB}@c.us",
        "ack": ack,
        "ackName": ack_name,
        "timestamp": 1_700_000_001,
        "_data": {"Chat": f"{BOB}@s.whatsapp.net", "Sender": f"{BOB}@s.whatsapp.net",
                  "Type": Receipt.ReceiptType.Name(kind), "Timestamp": 1_700_000_001},
    }


def test_one_ack_per_message_in_the_receipt() -> None:
    events = run(receipt_event(Receipt.READ, ids=("A1", "A2", "A3")))
    assert [payload["id"] for _, payload in events] == [
        f"true_{BOB}@c.us_A1", f"true_{BOB}@c.us_A2", f"true_{BOB}@c.us_A3"]


def test_a_group_receipt_names_who_read_it() -> None:
    name, payload = only(receipt_event(Receipt.READ, chat=group_jid, sender=carol_jid,
                                       group=True))
    assert name == "message.ack"
    assert payload["id"] == f"true_{GROUP}@g.us_3EB0ABCDEF"
    assert payload["participant"] == f"{CAROL}@c.us"
    assert payload["to"] == f"{GROUP}@g.us"


@pytest.mark.parametrize("kind", [
    Receipt.READ_SELF, Receipt.SENDER, Receipt.RETRY, Receipt.PEER_MSG, Receipt.HISTORY_SYNC,
    Receipt.PLAYED_SELF,
])
def test_receipts_that_are_no_ack_of_ours_are_engine_events(kind: int) -> None:
    name, payload = only(receipt_event(kind, from_me=kind in (Receipt.READ_SELF,
                                                               Receipt.PLAYED_SELF)))
    assert name == "engine.event"
    assert payload["event"] == "Receipt"
    assert payload["data"]["Type"] == Receipt.ReceiptType.Name(kind)


def test_our_own_played_receipt_mislabelled_server_error_is_no_error_ack() -> None:
    # neonize 0.5.2 encodes whatsmeow's "played-self" as SERVER_ERROR.
    name, _ = only(receipt_event(Receipt.SERVER_ERROR, from_me=True))
    assert name == "engine.event"


def test_a_receipt_without_a_type_is_an_engine_event() -> None:
    # The same encoder leaves "server-error" unset, and an unset enum reads as DELIVERED.
    name, _ = only(receipt_event(None))
    assert name == "engine.event"


# --- presence -----------------------------------------------------------------------------------

def test_a_contact_coming_online_is_a_presence_update() -> None:
    event = PresenceEv(From=bob_jid, Unavailable=False, LastSeen=0)
    assert only(event) == ("presence.update", {
        "id": f"{BOB}@c.us",
        "presences": [{"participant": f"{BOB}@c.us", "lastKnownPresence": "online",
                       "lastSeen": None}],
    })


def test_a_contact_going_offline_says_when_it_was_last_seen() -> None:
    _, payload = only(PresenceEv(From=bob_jid, Unavailable=True, LastSeen=1_700_000_005))
    assert payload["presences"] == [{"participant": f"{BOB}@c.us",
                                     "lastKnownPresence": "offline",
                                     "lastSeen": 1_700_000_005}]


@pytest.mark.parametrize(("state", "media", "expected"), [
    (ChatPresence.COMPOSING, ChatPresence.TEXT, "typing"),
    (ChatPresence.COMPOSING, ChatPresence.AUDIO, "recording"),
    (ChatPresence.PAUSED, ChatPresence.TEXT, "paused"),
])
def test_typing_in_a_chat_is_a_presence_update(state: int, media: int, expected: str) -> None:
    event = ChatPresenceEv(MessageSource=MessageSource(Chat=bob_jid, Sender=bob_jid),
                           State=state, Media=media)
    assert only(event) == ("presence.update", {
        "id": f"{BOB}@c.us",
        "presences": [{"participant": f"{BOB}@c.us", "lastKnownPresence": expected,
                       "lastSeen": None}],
    })


def test_typing_in_a_group_names_the_group_and_the_typist() -> None:
    event = ChatPresenceEv(MessageSource=MessageSource(Chat=group_jid, Sender=carol_jid,
                                                       IsGroup=True),
                           State=ChatPresence.COMPOSING)
    _, payload = only(event)
    assert payload["id"] == f"{GROUP}@g.us"
    assert payload["presences"][0]["participant"] == f"{CAROL}@c.us"


# --- groups -------------------------------------------------------------------------------------

def test_joining_a_group_is_a_group_join() -> None:
    info = GroupInfo(JID=group_jid, GroupName=GroupName(Name="Family"),
                     GroupTopic=GroupTopic(Topic="Sunday lunch"),
                     Participants=[GroupParticipant(JID=bob_jid, IsAdmin=True,
                                                    IsSuperAdmin=True),
                                   GroupParticipant(JID=me_jid)])
    name, payload = only(JoinedGroupEv(Reason="invite", GroupInfo=info, Sender=bob_jid))

    assert name == "group.v2.join"
    assert payload["group"] == {
        "id": f"{GROUP}@g.us",
        "subject": "Family",
        "description": "Sunday lunch",
        "participants": [
            {"id": f"{BOB}@c.us", "pn": f"{BOB}@c.us", "role": "superadmin"},
            {"id": ME, "pn": ME, "role": "participant"},
        ],
    }
    assert isinstance(payload["timestamp"], int)


@pytest.mark.parametrize(("field", "change", "role"), [
    ("Join", "join", "participant"),
    ("Leave", "leave", "left"),
    ("Promote", "promote", "admin"),
    ("Demote", "demote", "participant"),
])
def test_membership_changes_are_group_participants_events(field: str, change: str,
                                                          role: str) -> None:
    lid = build_jid("77777777777777", "lid")
    event = GroupInfoEv(JID=group_jid, Sender=bob_jid, Timestamp=1_700_000_010,
                        **{field: [carol_jid, lid]})

    name, payload = only(event)

    assert name == "group.v2.participants"
    assert payload["group"] == {"id": f"{GROUP}@g.us"}
    assert payload["type"] == change
    assert payload["participants"] == [
        {"id": f"{CAROL}@c.us", "pn": f"{CAROL}@c.us", "role": role},
        {"id": "77777777777777@lid", "pn": None, "role": role},
    ]
    assert payload["timestamp"] == 1_700_000_010_000


def test_being_removed_from_a_group_is_also_a_group_leave() -> None:
    event = GroupInfoEv(JID=group_jid, Sender=bob_jid, Timestamp=1_700_000_010, Leave=[me_jid])

    events = run(event)

    assert [name for name, _ in events] == ["group.v2.leave", "group.v2.participants"]
    assert events[0][1]["group"] == {"id": f"{GROUP}@g.us"}


def test_a_leave_under_a_lid_is_only_a_participants_change() -> None:
    """Only our phone-number id is known to the translation, so our lid is someone else's."""
    lid = build_jid("99999999999999", "lid")
    event = GroupInfoEv(JID=group_jid, Timestamp=1_700_000_010, Leave=[lid])

    assert [name for name, _ in run(event)] == ["group.v2.participants"]


def test_a_new_subject_and_description_are_a_group_update() -> None:
    event = GroupInfoEv(JID=group_jid, Timestamp=1_700_000_020,
                        Name=GroupName(Name="Family 2024"),
                        Topic=GroupTopic(Topic="New rules"))
    name, payload = only(event)

    assert name == "group.v2.update"
    assert payload["group"] == {"id": f"{GROUP}@g.us", "subject": "Family 2024",
                                "description": "New rules"}
    assert payload["timestamp"] == 1_700_000_020_000


def test_announce_and_locked_changes_are_group_updates() -> None:
    event = GroupInfoEv(JID=group_jid, Announce=GroupAnnounce(IsAnnounce=True),
                        Locked=GroupLocked(isLocked=True))
    name, payload = only(event)

    assert name == "group.v2.update"
    assert payload["group"] == {"id": f"{GROUP}@g.us", "subject": None, "description": None,
                                "membersCanSendMessages": False,
                                "membersCanChangeInfo": False}


def test_a_group_change_with_no_waha_event_is_an_engine_event() -> None:
    event = GroupInfoEv(JID=group_jid, Ephemeral=GroupEphemeral(IsEphemeral=True,
                                                                DisappearingTimer=86400))
    name, payload = only(event)
    assert name == "engine.event"
    assert payload["event"] == "GroupInfoEvent"


# --- calls --------------------------------------------------------------------------------------

def test_an_incoming_call_is_call_received() -> None:
    offer = Node(Tag="offer", Attrs=[NodeAttrs(name="call-id", text="CALL1")],
                 Nodes=[Node(Tag="audio"), Node(Tag="video")])
    assert only(CallOfferEv(basicCallMeta=call_meta(), data=offer)) == ("call.received", {
        "id": "CALL1", "from": f"{BOB}@c.us", "timestamp": 1_700_000_002,
        "isVideo": True, "isGroup": False,
    })


def test_a_group_call_offer_says_it_is_a_group_call() -> None:
    offer = Node(Tag="offer", Attrs=[NodeAttrs(name="group-jid", jid=group_jid)],
                 Nodes=[Node(Tag="audio")])
    _, payload = only(CallOfferEv(basicCallMeta=call_meta(), data=offer))
    assert (payload["isVideo"], payload["isGroup"]) == (False, True)


def test_a_call_offer_notice_is_call_received_too() -> None:
    event = CallOfferNoticeEv(basicCallMeta=call_meta(call_id="CALL2"), media="video",
                              type="group", data=Node(Tag="offer_notice"))
    name, payload = only(event)
    assert name == "call.received"
    assert (payload["id"], payload["isVideo"], payload["isGroup"]) == ("CALL2", True, True)


def test_an_accepted_call_is_call_accepted() -> None:
    name, payload = only(CallAcceptEv(basicCallMeta=call_meta(), data=Node(Tag="accept")))
    assert name == "call.accepted"
    assert payload["id"] == "CALL1"


@pytest.mark.parametrize("reason", ["reject", "rejected_elsewhere", "busy"])
def test_a_call_ended_by_a_rejection_is_call_rejected(reason: str) -> None:
    event = CallTerminateEv(basicCallMeta=call_meta(), reason=reason,
                            data=Node(Tag="terminate"))
    name, payload = only(event)
    assert name == "call.rejected"
    assert (payload["id"], payload["from"], payload["reason"]) == (
        "CALL1", f"{BOB}@c.us", reason)


@pytest.mark.parametrize("reason", ["", "timeout", "accepted_elsewhere"])
def test_a_call_ended_otherwise_is_an_engine_event(reason: str) -> None:
    event = CallTerminateEv(basicCallMeta=call_meta(), reason=reason,
                            data=Node(Tag="terminate"))
    name, payload = only(event)
    assert name == "engine.event"
    assert payload["event"] == "CallTerminate"


# --- everything else ---------------------------------------------------------------------------

def test_an_event_without_a_waha_name_is_an_engine_event_with_its_data() -> None:
    event = PictureEv(JID=bob_jid, Author=bob_jid, Timestamp=1_700_000_030, Remove=False)
    name, payload = only(event)

    assert name == "engine.event"
    assert payload["event"] == "Picture"
    assert payload["data"]["JID"]["User"] == BOB
    assert payload["data"]["Timestamp"] == "1700000030"


def test_status_events_passed_to_translate_are_engine_events() -> None:
    assert only(ConnectedEv(status=True)) == ("engine.event", {"event": "Connected",
                                                              "data": {"status": True}})


@pytest.mark.parametrize("odd", [None, object(), "Message", MessageEv(), ReceiptEv()])
def test_odd_input_never_raises(odd: Any) -> None:
    events = run(odd)
    assert [name for name, _ in events] == ["engine.event"] * len(events)
    assert len(events) == 1


def test_a_translation_that_fails_falls_back_to_engine_event(monkeypatch: Any) -> None:
    def broken(*args: Any) -> None:
        raise ValueError("a content type this code never saw")

    monkeypatch.setattr(messages, "_body", broken)
    name, payload = only(message_event(text("hello")))

    assert name == "engine.event"
    assert payload["event"] == "Message"
    assert payload["data"]["Message"] == {"conversation": "hello"}


def test_a_failing_translation_still_honours_the_ignore_rules(monkeypatch: Any) -> None:
    monkeypatch.setattr(messages, "_body", None)
    event = message_event(text("hi"), chat=group_jid, sender=bob_jid, group=True)
    assert run(event, rules=IgnoreRules(groups=True)) == []


# --- failure reasons ----------------------------------------------------------------------------

@pytest.mark.parametrize(("event", "expected"), [
    (LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT),
     "Logged out from the phone (LOGGED_OUT)"),
    (LoggedOutEv(OnConnect=True, Reason=ConnectFailureReason.LOGGED_OUT),
     "Logged out from the phone while connecting (LOGGED_OUT)"),
    (LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.MAIN_DEVICE_GONE),
     "Logged out: the phone's WhatsApp account is gone (MAIN_DEVICE_GONE)"),
    (StreamReplacedEv(),
     "Stream replaced: this WhatsApp account was opened by another client"),
    (TemporaryBanEv(Code=TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600),
     "Temporarily banned by WhatsApp (SEND_TO_TOO_MANY_PEOPLE), expires in 1:00:00"),
    (ClientOutdatedEv(),
     "Client outdated: WhatsApp no longer accepts this whatsmeow version (update neonize)"),
    (ConnectFailureEv(Reason=ConnectFailureReason.TEMP_BANNED, Message="banned"),
     "Connection failed: temporarily banned by WhatsApp (TEMP_BANNED): banned"),
    (ConnectFailureEv(Reason=ConnectFailureReason.SERVICE_UNAVAILABLE),
     "Connection failed: WhatsApp is unavailable (SERVICE_UNAVAILABLE)"),
    (ConnectFailureEv(Reason=ConnectFailureReason.GENERIC, Message="stream end"),
     "Connection failed (GENERIC): stream end"),
    (LoggedOutEv(OnConnect=True, Reason=ConnectFailureReason.UNKNOWN_LOGOUT),
     "Logged out for an unknown reason while connecting (UNKNOWN_LOGOUT)"),
])
def test_failure_reasons_read_as_sentences(event: Any, expected: str) -> None:
    assert failure_reason(decoded(event)) == expected


def test_a_failure_reason_never_raises() -> None:
    assert failure_reason(None) == "NoneType"


# --- history sync ------------------------------------------------------------------------------

def web_message(chat: str, msg_id: str, content: Message | None, *, from_me: bool = False,
                participant: str = "", timestamp: int = 1_690_000_000,
                status: int | None = None) -> HistorySyncMsg:
    web = WebMessageInfo(key=MessageKey(remoteJID=chat, fromMe=from_me, ID=msg_id,
                                        participant=participant),
                         messageTimestamp=timestamp, pushName="Bob")
    if content is not None:
        web.message.CopyFrom(content)
    if status is not None:
        web.status = status
    return HistorySyncMsg(message=web)


def history(rules: IgnoreRules = KEEP_ALL) -> dict[str, Any]:
    bob_chat = f"{BOB}@s.whatsapp.net"
    group_chat = f"{GROUP}@g.us"
    reaction = Message(reactionMessage=ReactionMessage(key=MessageKey(ID="H1"), text="👍"))
    data = HistorySync(
        syncType=HistorySync.RECENT,
        conversations=[
            Conversation(ID=bob_chat, conversationTimestamp=1_690_000_100, messages=[
                web_message(bob_chat, "H1", text("old hello")),
                web_message(bob_chat, "H2", text("old answer"), from_me=True,
                            status=WebMessageInfo.READ),
                web_message(bob_chat, "H3", reaction),
                web_message(bob_chat, "H4", None),
            ]),
            Conversation(ID=group_chat, name="Family", lastMsgTimestamp=1_690_000_200,
                         messages=[web_message(group_chat, "G1", Message(
                             imageMessage=ImageMessage(caption="photo")),
                             participant=f"{CAROL}@s.whatsapp.net")]),
            Conversation(ID=f"{CHANNEL}@newsletter", name="News"),
        ],
        statusV3Messages=[web_message("status@broadcast", "S1", text("my day"),
                                      participant=f"{BOB}@s.whatsapp.net").message],
        pushnames=[Pushname(ID=bob_chat, pushname="Bob"),
                   Pushname(ID=f"{CAROL}@s.whatsapp.net", pushname="Carol")],
    )
    return history_batch(decoded(HistorySyncEv(Data=data)), me_id=ME, rules=rules)


def test_a_history_chunk_gives_chats_messages_and_contacts() -> None:
    batch = history()

    assert batch["chats"] == [
        {"id": f"{BOB}@c.us", "name": None, "conversationTimestamp": 1_690_000_100},
        {"id": f"{GROUP}@g.us", "name": "Family", "conversationTimestamp": 1_690_000_200},
        {"id": f"{CHANNEL}@newsletter", "name": "News", "conversationTimestamp": None},
    ]
    assert batch["contacts"] == [
        {"id": f"{BOB}@c.us", "pushName": "Bob", "name": None},
        {"id": f"{CAROL}@c.us", "pushName": "Carol", "name": None},
    ]
    assert [message["id"] for message in batch["messages"]] == [
        f"false_{BOB}@c.us_H1",
        f"true_{BOB}@c.us_H2",
        f"false_{GROUP}@g.us_G1_{CAROL}@c.us",
        f"false_status@broadcast_S1_{BOB}@c.us",
    ]


def test_history_messages_are_waha_message_payloads() -> None:
    incoming, own, group, _ = history()["messages"]

    assert {key: value for key, value in incoming.items() if key != "_data"} == {
        "id": f"false_{BOB}@c.us_H1", "timestamp": 1_690_000_000, "from": f"{BOB}@c.us",
        "fromMe": False, "source": "app", "to": ME, "participant": None,
        "body": "old hello", "hasMedia": False, "media": None, "ack": 2,
        "ackName": "DEVICE", "replyTo": None,
    }
    assert (own["from"], own["to"], own["ack"], own["ackName"]) == (
        ME, f"{BOB}@c.us", 3, "READ")
    assert (group["participant"], group["body"], group["hasMedia"]) == (
        f"{CAROL}@c.us", "photo", True)


def test_history_follows_the_ignore_rules() -> None:
    batch = history(IgnoreRules(status=True, groups=True, channels=True))

    assert [chat["id"] for chat in batch["chats"]] == [f"{BOB}@c.us"]
    assert [message["id"] for message in batch["messages"]] == [
        f"false_{BOB}@c.us_H1", f"true_{BOB}@c.us_H2"]


def test_a_history_batch_never_raises() -> None:
    assert history_batch(None, me_id=ME, rules=KEEP_ALL) == {
        "chats": [], "messages": [], "contacts": []}
