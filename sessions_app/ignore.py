"""A session's `ignore` switches: which chats' events (and storage) are dropped at the source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

STATUS_CHAT = "status@broadcast"
_SWITCHES = ("status", "groups", "channels", "broadcast")


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    status: bool = False
    groups: bool = False
    channels: bool = False
    broadcast: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> IgnoreRules:
        """`config["ignore"]`; a switch that is missing or null takes its env default."""
        ignore = (config or {}).get("ignore") or {}
        defaults: Mapping[str, Any] = settings.IGNORE_DEFAULTS
        values = {}
        for switch in _SWITCHES:
            value = ignore.get(switch)
            values[switch] = bool(defaults.get(switch, False) if value is None else value)
        return cls(**values)

    def ignores(self, chat_id: str) -> bool:
        """Whether events of this chat (WAHA or raw JID form) are dropped; 1:1 chats never are."""
        _, at, server = chat_id.rpartition("@")
        if not at:
            return False
        if server == "g.us":
            return self.groups
        if server == "newsletter":
            return self.channels
        if server == "broadcast":
            return self.status if chat_id == STATUS_CHAT else self.broadcast
        return False
