"""This process, as `/api/server/environment` and `/api/server/stop` show and stop it: its
environment with every secret masked, and a stop asked over the API."""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
import threading
from collections.abc import Mapping

from .admin import MASK

log = logging.getLogger("waha")

# What `all=false` shows: the product's own settings, as WAHA does.
OWN_PREFIXES = ("WAHA_", "WHATSAPP_")
OWN_NAMES = frozenset({"DEBUG"})
# A variable is a secret when its name holds one of these words anywhere...
SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE")
# ...or ends with one of these (WAHA_API_KEY, WHATSAPP_HOOK_HMAC_KEY, SENTRY_DSN, but not
# WHATSAPP_API_KEY_EXCLUDE_PATH). Custom headers carry tokens.
SECRET_ENDINGS = frozenset({"KEY", "KEYS", "APIKEY", "PASS", "PWD", "AUTH", "COOKIE", "SALT",
                            "DSN", "HEADERS"})
# In any value: the password of a URL or of a `user:password@host` entry (DATABASE_URL,
# REDIS_URL, WHATSAPP_HOOK_URL, WHATSAPP_PROXY_SERVER_LIST, ...), and secret query parameters.
URL_PASSWORD = re.compile(
    r"(?P<lead>[A-Za-z][A-Za-z0-9+.-]*://|^|(?<=[,;\s]))(?P<user>[^:@/\s,;]*):[^@/\s]+@")
QUERY_SECRET = re.compile(
    r"(?P<name>[?&;](?:password|passwd|pwd|sslpassword|token|access_token|secret|key|apikey"
    r"|api_key|auth)=)[^&\s]*", re.IGNORECASE)
# The answer leaves before the process stops.
STOP_DELAY_SECONDS = 1.0


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return (any(word in upper for word in SECRET_WORDS)
            or upper.rsplit("_", 1)[-1] in SECRET_ENDINGS)


def masked_value(value: str) -> str:
    """The value with every password of a URL and every secret query parameter masked."""
    value = URL_PASSWORD.sub(lambda m: f"{m['lead']}{m['user']}:{MASK}@", value)
    return QUERY_SECRET.sub(lambda m: f"{m['name']}{MASK}", value)


def shown_environment(every: bool, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment by name, sorted: only the product's own settings unless `every`, and
    every secret masked (a secret variable wholly, a password inside a value in its place)."""
    source = os.environ if environ is None else environ
    shown: dict[str, str] = {}
    for name in sorted(source):
        if not every and not (name.startswith(OWN_PREFIXES) or name in OWN_NAMES):
            continue
        value = source[name]
        shown[name] = (MASK if value else "") if is_secret_name(name) else masked_value(value)
    return shown


def freeze_startup_objects() -> None:
    """Once a role has loaded (modules, Django's apps and URLs, the ASGI application): moves
    every object so far out of the garbage collector's reach. They live as long as the process,
    and a full collection walking them (150,000 here) paused every thread for 25-50 ms, which
    was the tail of a status's trip to the websockets."""
    gc.collect()
    gc.freeze()


def stop_soon(force: bool, delay: float = STOP_DELAY_SECONDS) -> None:
    """Stop this process `delay` seconds from now, once the answer has gone out.

    SIGTERM is the graceful stop every role handles: the engine stops its clients and hands
    the sessions back, keeping what the user wanted, so they run again after the restart.
    `force` is SIGKILL: at once; the sessions' leases then run out by themselves.
    """
    sent = signal.SIGKILL if force else signal.SIGTERM
    log.warning("stopping this process on request (%s) in %g s", sent.name, delay)
    timer = threading.Timer(delay, os.kill, (os.getpid(), sent))
    timer.daemon = True
    timer.start()
