"""Settings, read from the environment. Every variable is documented in README.md."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path
from typing import cast

from django.core.exceptions import ImproperlyConfigured

from .env import (
    env_bool,
    env_choice,
    env_db,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- data directory ----------------------------------------------------------------------------
DATA_DIR = Path(env_str("WAHA_LOCAL_STORE_BASE_DIR", "./.sessions")).expanduser().resolve()
try:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(
        f"WAHA_LOCAL_STORE_BASE_DIR: cannot create {DATA_DIR}: {exc}"
    ) from None


def _secret_key() -> str:
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    # Kept in the data directory so dashboard logins survive a restart.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or ["*"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "sessions_app",
    "webhooks_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "waha_project.auth.ApiKeyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After the key and the login middlewares: it records who asked (sessions_app/audit.py).
    "sessions_app.audit.AuditMiddleware",
]

ROOT_URLCONF = "waha_project.urls"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "waha_project.asgi.application"

# --- database: SQLite in the data directory unless DATABASE_URL is set ------------------------
POSTGRESQL_ENGINE = "waha_project.postgresql"
SQLITE_ENGINE = "waha_project.sqlite"  # Django's, with this process's writers queued in Python
_SQLITE: dict[str, object] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": str(DATA_DIR / "waha.sqlite3"),
}
DATABASES = {"default": env_db("DATABASE_URL", _SQLITE)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = SQLITE_ENGINE
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock up front
        # so two writers queue instead of failing on a lock upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # Each thread keeps its connection (a file handle): opening one runs the PRAGMAs above and
    # registers Django's SQL functions, which cost a request as much as its own query.
    DATABASES["default"].setdefault("CONN_MAX_AGE", None)
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with a pool that checks a connection only when it may be broken.
        DATABASES["default"]["ENGINE"] = POSTGRESQL_ENGINE
    # A pool of connections per process (psycopg's, through Django): a request, an engine's
    # call or a task borrows an open connection instead of opening one. With a pool Django
    # keeps none of its own (CONN_MAX_AGE 0); a `conn_max_age` in DATABASE_URL, or a size of
    # 0, keeps the old way: a connection per thread.
    DB_POOL_MAX_SIZE = env_int("WAHA_DB_POOL_MAX_SIZE", 20, minimum=0)
    if DB_POOL_MAX_SIZE and not DATABASES["default"].get("CONN_MAX_AGE"):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        _options = cast("dict[str, object]", DATABASES["default"].setdefault("OPTIONS", {}))
        _pool: dict[str, object] = {
            "min_size": min(2, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            # A borrower waits this long for a free connection, then the request fails.
            "timeout": 30,
        }
        if DATABASES["default"]["ENGINE"] == POSTGRESQL_ENGINE:
            # Asked whether it works before a loan only when its socket shows it may be broken
            # (Django's own check asks every time): waha_project/postgresql/base.py.
            _pool["check"] = "waha_project.postgresql.base.check_if_readable"
        _options["pool"] = _pool
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", 0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- the dashboard: Django's login (sessions + CSRF), never the API key -----------------------
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:sessions"
LOGOUT_REDIRECT_URL = "dashboard:login"
# Only read on the first start, when no user exists yet (sessions_app/dashboard/first_run.py).
DASHBOARD_USERNAME = env_str("WAHA_DASHBOARD_USERNAME", "admin")
DASHBOARD_PASSWORD = env_str("WAHA_DASHBOARD_PASSWORD")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"

# --- channels and celery: in-process by default, Redis when REDIS_URL is set -----------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 60},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://localhost/"
    # The in-memory transport polls once a second by default: far too slow for webhooks.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A task cut off by a lost broker connection is safe to drop: its row is swept again.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# --- REST framework and OpenAPI ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # Every API view states who may call it (`access`); a view without a rule is refused.
    "DEFAULT_PERMISSION_CLASSES": ["waha_project.permissions.RouteAccess"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["waha_project.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["waha_project.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "waha_project.api.AutoSchema",
    "EXCEPTION_HANDLER": "waha_project.errors.exception_handler",
    # `format` is a query parameter of WAHA's QR route, not a renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "waha_project.negotiation.AnyAccept",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "WAHA Django - WhatsApp HTTP API",
    "DESCRIPTION": "Self-hosted WhatsApp HTTP API, compatible with WAHA clients.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "api_key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        }
    },
    "SECURITY": [{"api_key": []}],
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    # Swagger UI's assets are served by us, not fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "sessions_app.models.SessionStatus",
        "RetryPolicyEnum": "webhooks_app.models.RetryPolicy",
        "WebhookDeliveryStatusEnum": "webhooks_app.models.DeliveryStatus",
        "HealthStatusEnum": [("ok", "ok"), ("error", "error")],
        "AuditActorTypeEnum": "sessions_app.models.ActorKind",
    },
}

# --- the product ------------------------------------------------------------------------------
WAHA_VERSION = "0.1.0"
WAHA_TIER = "CORE"

API_KEY_RAW = env_str("WAHA_API_KEY")
NO_API_KEY = env_bool("WAHA_NO_API_KEY", False)
API_KEY_EXCLUDE_PATHS = [p.strip("/") for p in env_list("WHATSAPP_API_KEY_EXCLUDE_PATH")]
HTTP_STRICT_MODE = env_bool("WAHA_HTTP_STRICT_MODE", False)
# The largest request body read; a larger one answers 413. 10 MiB leaves room for a photo sent
# as base64 (a third larger than the file) while keeping a request's memory bounded.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("WAHA_HTTP_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)

HTTP_PORT = env_int("PORT", env_int("WHATSAPP_API_PORT", 3000, minimum=1, maximum=65535),
                    minimum=1, maximum=65535)
HTTP_HOST = env_str("WHATSAPP_API_HOSTNAME", "127.0.0.1")
# HTTP requests served at once by the web role (waha_project/http.py): each runs on one of
# this many threads. A request waiting for an engine holds its thread until the engine answers
# or WAHA_ENGINE_REQUEST_TIMEOUT_SECONDS passes; the next requests wait for a free thread.
HTTP_THREADS = env_int("WAHA_HTTP_THREADS", 64, minimum=1)

ENGINE = env_choice("WAHA_ENGINE", "neonize", ("neonize", "fake"))
WORKER_ID = env_str("WAHA_WORKER_ID", f"{socket.gethostname()}-{os.getpid()}")
LEASE_SECONDS = env_float("WAHA_LEASE_SECONDS", 30.0, minimum=1.0)
WORKER_MAX_SESSIONS: int | None = env_int("WAHA_WORKER_MAX_SESSIONS", 0) or None
RECONCILE_SECONDS = env_float("WAHA_RECONCILE_SECONDS", 5.0, minimum=0.05)
ENGINE_REQUEST_TIMEOUT_SECONDS = env_float("WAHA_ENGINE_REQUEST_TIMEOUT_SECONDS", 10.0,
                                           minimum=0.1)

QR_FIRST_SECONDS = env_float("WAHA_QR_FIRST_SECONDS", 60.0, minimum=0.01)
QR_NEXT_SECONDS = env_float("WAHA_QR_NEXT_SECONDS", 20.0, minimum=0.01)
QR_CODES = env_int("WAHA_QR_CODES", 6, minimum=1)
QR_WAIT_RUNNING_SECONDS = env_float("WAHA_QR_WAIT_RUNNING_SECONDS", 5.0)
QR_WAIT_SCAN_SECONDS = env_float("WAHA_QR_WAIT_SCAN_SECONDS", 10.0)
FAKE_PAIR_AFTER_SECONDS: float | None = (
    env_float("WAHA_FAKE_PAIR_AFTER_SECONDS", 0.0) if os.environ.get("WAHA_FAKE_PAIR_AFTER_SECONDS")
    else None
)

# The fake engine's stand-in for WhatsApp's servers, shared by engine processes on one machine:
# who is connected (a lock file per session) and messages waiting for each session.
FAKE_SERVER_DIR = env_str("WAHA_FAKE_SERVER_DIR")

RESTART_ALL_SESSIONS = env_bool("WHATSAPP_RESTART_ALL_SESSIONS", False)
START_SESSIONS = env_list("WHATSAPP_START_SESSION")
AUTO_START_DELAY_SECONDS = env_float("WAHA_AUTO_START_DELAY_SECONDS", 0.0)

PROXY_SERVER = env_str("WHATSAPP_PROXY_SERVER")
PROXY_USERNAME = env_str("WHATSAPP_PROXY_SERVER_USERNAME")
PROXY_PASSWORD = env_str("WHATSAPP_PROXY_SERVER_PASSWORD")
PROXY_SERVER_LIST = env_list("WHATSAPP_PROXY_SERVER_LIST")
# How long after a QR code's lifetime the engine waits for the next one before giving up.
QR_GRACE_SECONDS = env_float("WAHA_QR_GRACE_SECONDS", 5.0)

CLIENT_DEVICE_NAME = env_str("WAHA_CLIENT_DEVICE_NAME", "WAHA")
CLIENT_BROWSER_NAME = env_str("WAHA_CLIENT_BROWSER_NAME", "Chrome")
IGNORE_DEFAULTS = {
    "status": env_bool("WAHA_SESSION_CONFIG_IGNORE_STATUS", False),
    "groups": env_bool("WAHA_SESSION_CONFIG_IGNORE_GROUPS", False),
    "channels": env_bool("WAHA_SESSION_CONFIG_IGNORE_CHANNELS", False),
    "broadcast": env_bool("WAHA_SESSION_CONFIG_IGNORE_BROADCAST", False),
}

# --- webhooks ---------------------------------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env_float("WAHA_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
WEBHOOK_BLOCK_PRIVATE_NETWORKS = env_bool("WAHA_WEBHOOK_BLOCK_PRIVATE_NETWORKS", False)
WEBHOOK_ALLOWED_NETWORKS = env_networks("WAHA_WEBHOOK_ALLOWED_NETWORKS")
WEBHOOK_RETENTION_DAYS = env_int("WAHA_WEBHOOK_RETENTION_DAYS", 7, minimum=1)
# Waits up to this long are Celery countdowns; longer ones are stored and swept when due.
WEBHOOK_COUNTDOWN_MAX_SECONDS = env_float("WAHA_WEBHOOK_COUNTDOWN_MAX_SECONDS", 5.0)
WEBHOOK_SWEEP_SECONDS = env_float("WAHA_WEBHOOK_SWEEP_SECONDS", 2.0, minimum=0.05)
# A due delivery whose task has not run this long after being queued is queued again
# (its message was lost with a worker or a broker).
WEBHOOK_REQUEUE_SECONDS = env_float("WAHA_WEBHOOK_REQUEUE_SECONDS", 30.0, minimum=0.1)
# Attempts in flight at once to one target (scheme://host:port), per worker process. Sends are
# asynchronous, so a slow target holds sockets, not worker threads; the cap keeps one target to a
# share of the process and bounds the load on a receiver.
WEBHOOK_MAX_PER_TARGET = env_int("WAHA_WEBHOOK_MAX_PER_TARGET", 64, minimum=1)
# After this many failures in a row (no answer, 5xx or 429) a target's deliveries wait
# WEBHOOK_BREAKER_COOLDOWN_SECONDS, then one probe attempt decides; 0 turns the breaker off.
WEBHOOK_BREAKER_FAILURES = env_int("WAHA_WEBHOOK_BREAKER_FAILURES", 5, minimum=0)
WEBHOOK_BREAKER_COOLDOWN_SECONDS = env_float("WAHA_WEBHOOK_BREAKER_COOLDOWN_SECONDS", 30.0,
                                             minimum=0.1)
# The global webhook; validated at start-up by webhooks_app (same rules as config.webhooks).
GLOBAL_WEBHOOK_ENV = {
    name: os.environ.get(name, "")
    for name in (
        "WHATSAPP_HOOK_URL", "WHATSAPP_HOOK_EVENTS", "WHATSAPP_HOOK_HMAC_KEY",
        "WHATSAPP_HOOK_RETRIES_POLICY", "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS",
        "WHATSAPP_HOOK_RETRIES_ATTEMPTS", "WHATSAPP_HOOK_CUSTOM_HEADERS",
    )
}

CELERY_BEAT_SCHEDULE = {
    "webhooks-sweep": {"task": "webhooks_app.tasks.sweep", "schedule": WEBHOOK_SWEEP_SECONDS},
    "webhooks-prune": {"task": "webhooks_app.tasks.prune", "schedule": 3600.0},
    "audit-prune": {"task": "sessions_app.tasks.prune_audit", "schedule": 3600.0},
}

# --- access --------------------------------------------------------------------------------------
# Audit rows (who changed what, sessions_app.AuditEntry) older than this are deleted.
AUDIT_RETENTION_DAYS = env_int("WAHA_AUDIT_RETENTION_DAYS", 90, minimum=1)

# --- logging and metrics ----------------------------------------------------------------------
LOG_LEVEL = env_choice("WAHA_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# TEXT: one readable line per record; JSON: one JSON object per line (waha_project/logs.py).
LOG_FORMAT = env_choice("WAHA_LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "waha_project.logs.TextFormatter"},
        "json": {"()": "waha_project.logs.JsonFormatter"},
    },
    "filters": {"no_query": {"()": "waha_project.logs.WithoutQueryString"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                    "stream": sys.stderr},
        # The web server's lines (uvicorn: requests, websockets, start and stop) in this format,
        # without query strings: a client may send its key as `?x-api-key=`.
        "server": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                   "stream": sys.stderr, "filters": ["no_query"]},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "waha": {"level": LOG_LEVEL, "propagate": True},
        "django.request": {"level": "ERROR"},
        "celery": {"level": "WARNING"},
        "uvicorn": {"level": LOG_LEVEL, "handlers": ["server"], "propagate": False},
        "uvicorn.access": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
    },
}

# The engine and Celery worker processes serve their own counters on this port (the web role
# serves everything it knows at /metrics on its own port); unset: no separate exporter.
METRICS_PORT: int | None = env_int("WAHA_METRICS_PORT", 0, minimum=1, maximum=65535) or None
METRICS_HOST = env_str("WAHA_METRICS_HOST", "127.0.0.1")

from .auth import resolve_api_key  # noqa: E402  (needs the values above)

API_KEY = resolve_api_key(API_KEY_RAW, no_api_key=NO_API_KEY)
