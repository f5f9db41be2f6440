"""whatsmeow JIDs in WAHA's forms: chat ids, message ids, and the paired account."""

from __future__ import annotations

from typing import Any

_USER_SERVERS = frozenset({"s.whatsapp.net", "c.us", "hosted"})
_MULTI_SERVERS = ("@g.us", "@broadcast")


def waha_chat_id(jid: Any) -> str:
    """A whatsmeow JID (or JID string) in WAHA's form: phone numbers as `<user>@c.us`."""
    if isinstance(jid, str):
        return chat_id_from_string(jid)
    user = getattr(jid, "User", "")
    if not user:
        return ""
    server = jid.Server
    if server in _USER_SERVERS:
        return f"{user}@c.us"
    return f"{user}@{server}"


def chat_id_from_string(value: str) -> str:
    """A JID string in WAHA's form; "" when it names no user."""
    user, at, server = value.partition("@")
    if not at or not user:
        return ""
    # "user.agent:device@server" → "user"
    user = user.split(":", 1)[0].split(".", 1)[0]
    if server in _USER_SERVERS:
        return f"{user}@c.us"
    return f"{user}@{server}"


def full_jid(jid: Any) -> str:
    """The whole JID string as whatsmeow prints it, device included (`<user>:<device>@<server>`)."""
    if isinstance(jid, str):
        return jid
    user = getattr(jid, "User", "")
    server = getattr(jid, "Server", "")
    if not user:
        return server
    if jid.RawAgent > 0:
        return f"{user}.{jid.RawAgent}:{jid.Device}@{server}"
    if jid.Device > 0:
        return f"{user}:{jid.Device}@{server}"
    return f"{user}@{server}"


def is_multi(chat: str) -> bool:
    """A group or broadcast (status) chat, where a message names its participant."""
    return chat.endswith(_MULTI_SERVERS)


def sender_of(source: Any, chat: str) -> str | None:
    """The participant of a MessageSource in a group or broadcast chat; None in a 1:1 chat."""
    if source.IsGroup or is_multi(chat):
        return waha_chat_id(source.Sender) or None
    return None


def message_id(from_me: bool, chat: str, msg_id: str, participant: str | None = None) -> str:
    """WAHA's serialized message id; the participant only for others' messages in groups."""
    base = f"{'true' if from_me else 'false'}_{chat}_{msg_id}"
    if participant and not from_me and is_multi(chat):
        return f"{base}_{participant}"
    return base


def me_info(jid: Any, push_name: str = "", lid: Any = None) -> dict[str, Any]:
    """WAHA's MeInfo for the paired account: `{id, pushName, jid, lid}`."""
    lid_id = waha_chat_id(lid) if lid is not None else ""
    return {
        "id": waha_chat_id(jid),
        "pushName": push_name or "",
        "jid": full_jid(jid),
        "lid": lid_id or None,
    }
