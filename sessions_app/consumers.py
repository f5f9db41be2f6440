"""`/ws`: the event stream for integrations. One text frame per envelope."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from waha_project import auth
from waha_project.access import Principal
from webhooks_app.subscriptions import ALL, matches

from . import groups
from .fanout import Forwarding
from .models import ActorKind


def groups_for(principal: Principal | None, asked: str) -> list[str]:
    """The groups a subscriber joins: what `session=` asks, narrowed to the sessions its key
    may read. A session key hears only its own sessions, whatever it asks; nothing to hear (or
    no valid key) refuses the handshake."""
    if principal is None:
        return []
    joined = groups.readable_groups(principal, asked)
    if joined is None:  # another session: its own, as WAHA's session keys hear
        joined = groups.readable_groups(principal, groups.ALL_SESSIONS)
    return joined or []


class EventStreamConsumer(Forwarding):
    groups_joined: list[str]
    events: set[str]

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        headers = dict(self.scope.get("headers", []))
        key = (query.get("x-api-key") or [None])[0] or headers.get(b"x-api-key", b"").decode(
            "latin-1") or None
        principal = await database_sync_to_async(auth.principal_for_key)(key)
        asked = (query.get("session") or ["*"])[0] or "*"
        joined = groups_for(principal, asked)
        if not joined:
            # Closed before it is accepted: the handshake is refused with 403, before any frame.
            await self.close(code=1008)
            return
        names = [n.strip() for value in query.get("events", [ALL]) for n in value.split(",")]
        self.events = {n for n in names if n} or {ALL}
        # A stored key is checked here only: its change or deletion ends the stream (`access`).
        key_groups = [groups.key_group(principal.id)] if principal.kind == ActorKind.KEY else []
        self.groups_joined = joined + key_groups
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.leave()

    async def leave(self) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def waha_key_changed(self, message: dict[str, Any]) -> None:
        await self.leave()  # not one more event, even before the close is through
        await self.close(code=1008)

    async def waha_event(self, message: dict[str, Any]) -> None:
        """Forward each event's text, serialised once when it was published (`fanout`)."""
        for item in message["items"]:
            if matches(self.events, item["event"]):
                await self.send(text_data=item["text"])
