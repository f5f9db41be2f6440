"""The session store: chats, contacts and messages kept from history sync and live traffic.

Engine-agnostic: it keeps WAHA payloads (as published in `message.any` and friends), so any
engine that emits them fills it.
"""

from __future__ import annotations

from typing import Any

from .models import Session


def store_enabled(config: dict[str, Any]) -> bool:
    """`noweb.store.enabled`, or any `gows.storage` switch, turns the store on."""
    noweb = config.get("noweb") or {}
    store = noweb.get("store") or {}
    if store.get("enabled"):
        return True
    storage = (config.get("gows") or {}).get("storage") or {}
    return any(bool(value) for value in storage.values())


def full_sync(config: dict[str, Any]) -> bool:
    return bool(((config.get("noweb") or {}).get("store") or {}).get("fullSync"))


def save_event(session: Session, name: str, payload: dict[str, Any]) -> None:
    raise NotImplementedError  # filled in by the store work


def save_history(session: Session, batch: dict[str, Any]) -> None:
    raise NotImplementedError  # filled in by the store work
