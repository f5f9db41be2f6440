"""Reading settings from the environment: every helper names the variable it failed on."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import TypeVar

import environ
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

env = environ.Env()

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _parse(name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = _raw(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def env_bool(name: str, default: bool = False) -> bool:
    def parse(raw: str) -> bool:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true/false, got {raw!r}")

    return _parse(name, default, parse)


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {raw!r}")
        return value

    return _parse(name, default, parse)


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            raise ValueError(f"must be at least {minimum}{upper}, got {raw!r}")
        return value

    return _parse(name, default, parse)


def env_str(name: str, default: str = "") -> str:
    raw = _raw(name)
    return default if raw is None or raw == "" else raw


def env_list(name: str) -> list[str]:
    raw = _raw(name) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    def parse(raw: str) -> str:
        low = raw.lower()
        if low not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return low

    return _parse(name, default, parse)


def env_db(name: str, default: dict[str, object]) -> dict[str, object]:
    raw = _raw(name)
    if not raw:
        return default
    try:
        return dict(env.db_url_config(raw))
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name}: not a usable database URL ({exc})") from None


def env_networks(name: str) -> list[str]:
    """A comma list of CIDR networks, each checked."""
    networks = env_list(name)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {network!r} is not a network (e.g. 10.0.0.0/8)"
                                       ) from None
    return networks
