"""`/dashboard/ws`: live status, QR codes and events for the dashboard's pages.

Authenticated by the Django session cookie (AuthMiddlewareStack). It joins the events group of
one session or of all, sends the current state, then forwards the frames each publication
carries, prepared once for every page (`sessions_app.fanout`): no database, no drawing here.
A user who is not a superuser joins only the groups of the sessions granted to them with the
`read` action (read when the page connects); asking for another session is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from waha_project.access import Action

from .. import fanout, groups
from ..access import principal_for_user
from ..fanout import Forwarding
from . import live


class DashboardConsumer(Forwarding):
    groups_joined: list[str] | None = None
    with_events = False

    async def connect(self) -> None:
        if not live.same_origin(self.scope):
            await self.close(code=live.CLOSE_POLICY)
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first, so the browser sees why and can send the user to the login form.
            await self.accept()
            await self.close(code=live.CLOSE_UNAUTHENTICATED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        target = live.target_of(query)
        if target is None:
            await self.close(code=live.CLOSE_POLICY)
            return
        principal = await database_sync_to_async(principal_for_user)(user)
        joined = groups.readable_groups(principal, target)
        if joined is None:
            await self.close(code=live.CLOSE_POLICY)
            return
        self.with_events = (query.get("events") or ["0"])[0] == "1"
        self.groups_joined = joined
        for group in joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        # Joined first, then the current state: nothing published in between is lost.
        frames = await database_sync_to_async(live.snapshot)(
            target, principal.sessions_with(Action.READ))
        for frame in frames:
            await self.send_json(frame)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined or []:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def waha_event(self, message: dict[str, Any]) -> None:
        for item in message["items"]:
            for text in item["frames"]:
                await self.send(text_data=text)
            if item.get("qr"):
                await self.send(text_data=fanout.qr_frame_text(*item["qr"]))
            if self.with_events:
                await self.send(text_data=item["event_frame"])
