"""Joining a group and changes to one → `group.v2.*`."""

from __future__ import annotations

import time
from typing import Any

from webhooks_app.subscriptions import EventName

from .jids import full_jid, waha_chat_id
from .waha import Event, ms_or_now

_PARTICIPANT_CHANGES = (("Leave", "leave", "left"), ("Join", "join", "participant"),
                        ("Promote", "promote", "admin"), ("Demote", "demote", "participant"))


def _participant(jid: Any, role: str) -> dict[str, Any]:
    pid = waha_chat_id(jid)
    return {"id": pid, "pn": pid if pid.endswith("@c.us") else None, "role": role}


def translate_joined_group(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    group = event.GroupInfo
    participants = []
    for member in group.Participants:
        role = ("superadmin" if member.IsSuperAdmin
                else "admin" if member.IsAdmin else "participant")
        participants.append(_participant(member.JID, role))
    return [(EventName.GROUP_JOIN.value, {
        "group": {
            "id": chat,
            "subject": group.GroupName.Name or None,
            "description": group.GroupTopic.Topic or None,
            "participants": participants,
        },
        "timestamp": int(time.time() * 1000),
        "_data": {"Reason": event.Reason, "Sender": full_jid(event.Sender)},
    })]


def translate_group_info(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    timestamp = ms_or_now(event.Timestamp)
    data = {"Sender": full_jid(event.Sender), "Notify": event.Notify}
    found: list[Event] = []
    # Only our phone-number id is known here: a leave under our lid reads as someone else's.
    if me_id and any(waha_chat_id(jid) == me_id for jid in event.Leave):
        found.append((EventName.GROUP_LEAVE.value,
                      {"group": {"id": chat}, "timestamp": timestamp, "_data": data}))
    for field, change, role in _PARTICIPANT_CHANGES:
        jids = getattr(event, field)
        if jids:
            found.append((EventName.GROUP_PARTICIPANTS.value, {
                "group": {"id": chat},
                "type": change,
                "participants": [_participant(jid, role) for jid in jids],
                "timestamp": timestamp,
                "_data": data,
            }))
    update = _group_update(event, chat)
    if update is not None:
        found.append((EventName.GROUP_UPDATE.value,
                      {"group": update, "timestamp": timestamp, "_data": data}))
    return found or None


def _group_update(event: Any, chat: str) -> dict[str, Any] | None:
    changed = False
    group: dict[str, Any] = {"id": chat, "subject": None, "description": None}
    if event.HasField("Name"):
        group["subject"] = event.Name.Name
        changed = True
    if event.HasField("Topic"):
        group["description"] = "" if event.Topic.TopicDeleted else event.Topic.Topic
        changed = True
    if event.NewInviteLink:
        group["invite"] = event.NewInviteLink
        changed = True
    if event.HasField("Announce"):
        group["membersCanSendMessages"] = not event.Announce.IsAnnounce
        changed = True
    if event.HasField("Locked"):
        # "Only admins can edit group info": no WAHA field of its own, so named like the others.
        group["membersCanChangeInfo"] = not event.Locked.isLocked
        changed = True
    return group if changed else None
