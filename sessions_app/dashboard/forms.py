"""The dashboard's session form: Django forms parse and render the fields, the API's
serializers judge the config, and each error goes back beside the field it names.

Secrets (HMAC keys, the proxy password) are never rendered: blank means "keep the saved one".
Config keys the form does not show (`gows`, `noweb.markOnline`, ...) are kept as they were.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.forms import formset_factory
from rest_framework import serializers

from waha_project.errors import walk_validation
from webhooks_app.models import RetryPolicy
from webhooks_app.subscriptions import EventName

from .. import services
from ..api.serializers import (
    RequestCodeSerializer,
    SessionCreateSerializer,
    SessionUpdateSerializer,
)
from ..errors import SessionExists
from ..ignore import IgnoreRules
from ..models import Session

EVENT_CHOICES = [("*", "* (every event but engine.event)"),
                 *[(name, name) for name in EventName.values]]
POLICY_CHOICES = [("", "Default (constant)"), *RetryPolicy.choices]
IGNORE_SWITCHES = {
    "status": "Status updates (status@broadcast)",
    "groups": "Groups (@g.us)",
    "channels": "Channels (@newsletter)",
    "broadcast": "Broadcast lists (@broadcast)",
}
# Keys of the config this form owns; everything else is carried over untouched.
MANAGED_KEYS = ("debug", "client", "metadata", "webhooks", "ignore", "proxy")
SAVED_PLACEHOLDER = "Saved; leave blank to keep it"
INTEGER_RE = re.compile(r"^[+-]?\d+$")


class DashboardForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # "Name", not "Name:"
        super().__init__(*args, **kwargs)


class SessionForm(DashboardForm):
    name = forms.CharField(
        required=False, label="Name", strip=False,  # " shop" is refused, as the API does
        help_text="Letters, digits, _ and -; at most 54. Leave empty for a generated name.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    start = forms.BooleanField(required=False, initial=True, label="Start it now")
    debug = forms.BooleanField(required=False, label="Debug logging for this session")
    device_name = forms.CharField(required=False, label="Device name")
    browser_name = forms.CharField(required=False, label="Browser name")
    ignore_status = forms.BooleanField(required=False, label=IGNORE_SWITCHES["status"])
    ignore_groups = forms.BooleanField(required=False, label=IGNORE_SWITCHES["groups"])
    ignore_channels = forms.BooleanField(required=False, label=IGNORE_SWITCHES["channels"])
    ignore_broadcast = forms.BooleanField(required=False, label=IGNORE_SWITCHES["broadcast"])
    proxy_server = forms.CharField(required=False, label="Proxy server",
                                   help_text="host:port, e.g. proxy.example.com:3128")
    proxy_username = forms.CharField(required=False, label="Proxy username",
                                     widget=forms.TextInput(attrs={"autocomplete": "off"}))
    proxy_password = forms.CharField(
        required=False, label="Proxy password", strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    proxy_password_clear = forms.BooleanField(required=False,
                                              label="Remove the saved proxy password")
    store_enabled = forms.BooleanField(required=False,
                                       label="Store chats, contacts and messages")
    store_full_sync = forms.BooleanField(
        required=False, label="Full history sync (about a year instead of 3 months)"
    )

    def __init__(self, *args: Any, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["name"]
            del self.fields["start"]
        self.fields["device_name"].widget.attrs["placeholder"] = settings.CLIENT_DEVICE_NAME
        self.fields["browser_name"].widget.attrs["placeholder"] = settings.CLIENT_BROWSER_NAME


class MetadataForm(DashboardForm):
    key = forms.CharField(required=False, label="Key", strip=True)
    value = forms.CharField(required=False, label="Value", strip=False)


class WebhookForm(DashboardForm):
    # Which webhook of the saved config this block edits, so a blank key keeps its saved key.
    original = forms.IntegerField(required=False, widget=forms.HiddenInput)
    url = forms.CharField(
        required=False, label="URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hook",
                                     "autocomplete": "off"}),
    )
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, required=False, initial=["*"],
                                       widget=forms.CheckboxSelectMultiple, label="Events")
    hmac_key = forms.CharField(
        required=False, label="HMAC key", strip=False,
        help_text="Signs each request (X-Webhook-Hmac and webhook-signature).",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    hmac_clear = forms.BooleanField(required=False, label="Remove the saved key")
    retries_policy = forms.ChoiceField(choices=POLICY_CHOICES, required=False,
                                       label="Retry policy")
    retries_delay = forms.CharField(required=False, label="Retry delay (seconds)",
                                    widget=forms.NumberInput(attrs={"min": 0, "placeholder": 2}))
    retries_attempts = forms.CharField(
        required=False, label="Retries after the first try",
        widget=forms.NumberInput(attrs={"min": 0, "placeholder": 15}),
    )
    custom_headers = forms.CharField(
        required=False, label="Custom headers", strip=False,
        help_text="One per line: Name: value",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )

    has_saved_key = False


class WebhookFormSet(forms.BaseFormSet):
    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove this webhook"


class PairingForm(DashboardForm):
    phone_number = forms.CharField(
        label="Phone number", help_text="International form, digits only, e.g. 12132132130",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )

    def validated_number(self) -> str | None:
        """The digits the API would use, or None with the serializer's errors on the field."""
        self.full_clean()
        serializer = RequestCodeSerializer(data={"phoneNumber": self.data.get("phone_number", "")})
        if serializer.is_valid():
            return str(serializer.validated_data["phoneNumber"])
        for path, message in walk_validation(serializer.errors):
            if path == "phoneNumber" and "phone_number" not in self.errors:
                self.add_error("phone_number", message)
        return None


@dataclass
class FieldError:
    path: str
    message: str
    anchor: str  # the id of the input it belongs beside, for the summary's link
    shown: str = ""  # the wording beside the field, when it differs

    @property
    def text(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


WEBHOOK_PATH_RE = re.compile(r"^config\.webhooks\[(\d+)\](?:\.(\w+))?(.*)$")
HEADER_PATH_RE = re.compile(r"^\[(\d+)\](?:\.(\w+))?$")
MAIN_FIELDS = {
    "name": "name",
    "start": "start",
    "config.debug": "debug",
    "config.client.deviceName": "device_name",
    "config.client.browserName": "browser_name",
    "config.client": "device_name",
    "config.ignore.status": "ignore_status",
    "config.ignore.groups": "ignore_groups",
    "config.ignore.channels": "ignore_channels",
    "config.ignore.broadcast": "ignore_broadcast",
    "config.proxy": "proxy_server",
    "config.proxy.server": "proxy_server",
    "config.proxy.username": "proxy_username",
    "config.proxy.password": "proxy_password",
    "config.noweb.store.enabled": "store_enabled",
    "config.noweb.store.fullSync": "store_full_sync",
}
WEBHOOK_FIELDS = {
    "url": "url", "events": "events", "hmac": "hmac_key", "customHeaders": "custom_headers",
    "retries.policy": "retries_policy", "retries.delaySeconds": "retries_delay",
    "retries.attempts": "retries_attempts", "retries": "retries_policy",
}


class SessionEditor:
    """The create / edit page: one main form, metadata rows and webhook blocks."""

    def __init__(self, session: Session | None, data: Mapping[str, Any] | None = None) -> None:
        self.session = session
        self.creating = session is None
        self.saved: dict[str, Any] = copy.deepcopy(session.config or {}) if session else {}
        saved = self.saved
        bound = data is not None
        self.form = SessionForm(data, creating=self.creating,
                                initial=None if bound else main_initial(saved))
        metadata_rows = [{"key": key, "value": value}
                         for key, value in (saved.get("metadata") or {}).items()]
        metadata_set = formset_factory(MetadataForm, extra=1)
        self.metadata = metadata_set(data, prefix="metadata",
                                     initial=None if bound else metadata_rows)
        hooks = saved.get("webhooks") or []
        webhook_set = formset_factory(WebhookForm, formset=WebhookFormSet,
                                     extra=0 if hooks else 1, can_delete=True)
        self.webhooks = webhook_set(
            data, prefix="webhooks",
            initial=None if bound else [webhook_initial(i, hook) for i, hook in enumerate(hooks)],
        )
        for form in self.webhooks.forms:
            form.has_saved_key = self._saved_key(form["original"].value()) is not None
            if form.has_saved_key:
                form.fields["hmac_key"].widget.attrs["placeholder"] = SAVED_PLACEHOLDER
        self.has_saved_proxy_password = bool((saved.get("proxy") or {}).get("password"))
        if self.has_saved_proxy_password:
            self.form.fields["proxy_password"].widget.attrs["placeholder"] = SAVED_PLACEHOLDER
        self.errors: list[FieldError] = []
        self.metadata_errors: list[str] = []
        self.webhooks_errors: list[str] = []
        # Which form (and which header lines) each entry of the built config came from.
        self._webhook_forms: list[WebhookForm] = []
        self._header_lines: list[list[int]] = []
        self._metadata_forms: dict[str, MetadataForm] = {}
        self.validated: dict[str, Any] = {}

    # --- validation -------------------------------------------------------------------------
    def is_valid(self) -> bool:
        parsed = all([self.form.is_valid(), self.metadata.is_valid(), self.webhooks.is_valid()])
        config = self.build_config()
        payload: dict[str, Any] = {"config": config}
        if self.creating:
            payload["name"] = self.form.cleaned_data.get("name", "")
            payload["start"] = bool(self.form.cleaned_data.get("start"))
            serializer: serializers.Serializer = SessionCreateSerializer(data=payload)
        else:
            serializer = SessionUpdateSerializer(data=payload)
        if serializer.is_valid() and parsed and not self._has_form_errors():
            self.validated = dict(serializer.validated_data)
            return True
        for path, message in walk_validation(serializer.errors):
            self.attach(path, message)
        self._collect_form_errors()
        return False

    def save(self) -> Session:
        config = dict(self.validated.get("config") or {})
        if self.session is None:
            try:
                return services.create_session(self.validated.get("name") or None, config,
                                               start=bool(self.validated.get("start")))
            except SessionExists as exc:
                self.attach("name", exc.message)
                raise
        return services.update_config(self.session.name, config)

    def _has_form_errors(self) -> bool:
        forms_ = [self.form, *self.metadata.forms, *self.webhooks.forms]
        return any(form.errors for form in forms_) or bool(self.metadata_errors)

    def _collect_form_errors(self) -> None:
        """Errors raised while parsing (not by the serializer) go in the summary too."""
        known = {error.shown or error.message for error in self.errors}
        for form in [self.form, *self.metadata.forms, *self.webhooks.forms]:
            for name, messages in form.errors.items():
                anchor = form[name].auto_id if name in form.fields else ""
                for message in messages:
                    if message not in known:
                        self.errors.append(FieldError(form.add_prefix(name), message, anchor))
        for formset, anchor in ((self.metadata, "metadata"), (self.webhooks, "webhooks")):
            for message in formset.non_form_errors():
                self.errors.append(FieldError(formset.prefix or "", str(message), anchor))

    # --- building the config ------------------------------------------------------------------
    def build_config(self) -> dict[str, Any]:
        saved = self.saved
        main = self.form.cleaned_data if hasattr(self.form, "cleaned_data") else {}
        config = {key: value for key, value in copy.deepcopy(saved).items()
                  if key not in MANAGED_KEYS}
        if main.get("debug") or "debug" in saved:
            config["debug"] = bool(main.get("debug"))
        client = {key: (main.get(field) or "").strip()
                  for key, field in (("deviceName", "device_name"),
                                     ("browserName", "browser_name"))}
        client = {key: value for key, value in client.items() if value}
        if client:
            config["client"] = client
        metadata = self._metadata()
        if metadata:
            config["metadata"] = metadata
        webhooks = self._webhooks()
        if webhooks:
            config["webhooks"] = webhooks
        ignore = self._ignore(main)
        if ignore:
            config["ignore"] = ignore
        proxy = self._proxy(main)
        if proxy:
            config["proxy"] = proxy
        self._store(config, main)
        return config

    def _metadata(self) -> dict[str, str]:
        metadata: dict[str, str] = {}
        self._metadata_forms = {}
        for form in self.metadata.forms:
            data = getattr(form, "cleaned_data", {}) or {}
            key, value = data.get("key") or "", data.get("value") or ""
            if not key and not value:
                continue
            if not key:
                form.add_error("key", "A key is needed for this value.")
                self.metadata_errors.append("A value has no key.")
                continue
            if key in metadata:
                form.add_error("key", f"'{key}' is already used above.")
                self.metadata_errors.append(f"The key '{key}' appears twice.")
                continue
            metadata[key] = value
            self._metadata_forms[key] = form
        return metadata

    def _saved_key(self, original: Any) -> str | None:
        hooks = self.saved.get("webhooks") or []
        try:
            index = int(original)
        except (TypeError, ValueError):
            return None
        if not 0 <= index < len(hooks):
            return None
        return ((hooks[index] or {}).get("hmac") or {}).get("key") or None

    def _webhooks(self) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = []
        self._webhook_forms, self._header_lines = [], []
        for form in self.webhooks.forms:
            data = getattr(form, "cleaned_data", {}) or {}
            if data.get("DELETE") or _blank_webhook(data):
                continue
            hook: dict[str, Any] = {"url": (data.get("url") or "").strip(),
                                    "events": list(data.get("events") or [])}
            key = data.get("hmac_key") or ""
            if not key and not data.get("hmac_clear"):
                key = self._saved_key(data.get("original")) or ""
            if key:
                hook["hmac"] = {"key": key}
            retries: dict[str, Any] = {}
            if data.get("retries_policy"):
                retries["policy"] = data["retries_policy"]
            for name, field in (("delaySeconds", "retries_delay"),
                                ("attempts", "retries_attempts")):
                number = _number(data.get(field) or "")
                if number is not None:
                    retries[name] = number
            if retries:
                hook["retries"] = retries
            headers, lines = _headers(form, data.get("custom_headers") or "")
            if headers:
                hook["customHeaders"] = headers
            hooks.append(hook)
            self._webhook_forms.append(form)
            self._header_lines.append(lines)
        return hooks

    def _ignore(self, main: Mapping[str, Any]) -> dict[str, bool]:
        """Only switches set before or differing from the server default are written, so an
        untouched switch keeps following WAHA_SESSION_CONFIG_IGNORE_*."""
        saved = self.saved.get("ignore") or {}
        defaults: Mapping[str, bool] = settings.IGNORE_DEFAULTS
        ignore = {}
        for switch in IGNORE_SWITCHES:
            value = bool(main.get(f"ignore_{switch}"))
            if saved.get(switch) is not None or value != bool(defaults.get(switch)):
                ignore[switch] = value
        return ignore

    def _proxy(self, main: Mapping[str, Any]) -> dict[str, Any]:
        server = (main.get("proxy_server") or "").strip()
        if not server:
            return {}
        proxy: dict[str, Any] = {"server": server}
        username = (main.get("proxy_username") or "").strip()
        if username:
            proxy["username"] = username
        password = main.get("proxy_password") or ""
        if not password and not main.get("proxy_password_clear"):
            password = (self.saved.get("proxy") or {}).get("password") or ""
        if password:
            proxy["password"] = password
        return proxy

    def _store(self, config: dict[str, Any], main: Mapping[str, Any]) -> None:
        noweb = dict(config.get("noweb") or {})
        saved_store = dict(noweb.get("store") or {})
        store = {}
        for key, field in (("enabled", "store_enabled"), ("fullSync", "store_full_sync")):
            value = bool(main.get(field))
            if value or saved_store.get(key) is not None:
                store[key] = value
        if store:
            noweb["store"] = store
        else:
            noweb.pop("store", None)
        if noweb:
            config["noweb"] = noweb
        else:
            config.pop("noweb", None)

    # --- errors back beside their fields ------------------------------------------------------
    def attach(self, path: str, message: str) -> None:
        """Put one serializer error beside the field it names (or its group)."""
        if path in MAIN_FIELDS and MAIN_FIELDS[path] in self.form.fields:
            self._add(self.form, MAIN_FIELDS[path], path, message)
            return
        match = WEBHOOK_PATH_RE.match(path)
        if match and int(match.group(1)) < len(self._webhook_forms):
            index, key, rest = int(match.group(1)), match.group(2) or "", match.group(3)
            form = self._webhook_forms[index]
            if key == "customHeaders":
                self._add(form, "custom_headers", path, message,
                          shown=self._header_message(index, rest, message))
                return
            field = WEBHOOK_FIELDS.get(f"{key}{rest}") or WEBHOOK_FIELDS.get(key)
            if field:
                self._add(form, field, path, message)
            else:
                form.add_error(None, message)
                self.errors.append(FieldError(path, message, form["url"].auto_id))
            return
        if path.startswith("config.metadata"):
            key = path[len("config.metadata."):] if path.startswith("config.metadata.") else ""
            pair = self._metadata_forms.get(key)
            if pair is not None:
                self._add(pair, "value", path, message)
            else:
                self.metadata_errors.append(message)
                self.errors.append(FieldError(path, message, "metadata"))
            return
        if path.startswith("config.webhooks"):
            self.webhooks_errors.append(message)
            self.errors.append(FieldError(path, message, "webhooks"))
            return
        self.errors.append(FieldError(path, message, ""))

    def _add(self, form: forms.Form, field: str, path: str, message: str,
             shown: str | None = None) -> None:
        """`shown` beside the field; the summary keeps the API's own wording."""
        form.add_error(field, shown or message)
        self.errors.append(FieldError(path, message, form[field].auto_id, shown or ""))

    def _header_message(self, index: int, rest: str, message: str) -> str:
        match = HEADER_PATH_RE.match(rest)
        if not match:
            return message
        lines = self._header_lines[index]
        position = int(match.group(1))
        line = lines[position] if position < len(lines) else position + 1
        part = f" ({match.group(2)})" if match.group(2) else ""
        return f"line {line}{part}: {message}"


def main_initial(config: Mapping[str, Any]) -> dict[str, Any]:
    client = config.get("client") or {}
    proxy = config.get("proxy") or {}
    store = (config.get("noweb") or {}).get("store") or {}
    rules = IgnoreRules.from_config(config)
    return {
        "start": True,
        "debug": bool(config.get("debug")),
        "device_name": client.get("deviceName") or "",
        "browser_name": client.get("browserName") or "",
        "ignore_status": rules.status,
        "ignore_groups": rules.groups,
        "ignore_channels": rules.channels,
        "ignore_broadcast": rules.broadcast,
        "proxy_server": proxy.get("server") or "",
        "proxy_username": proxy.get("username") or "",
        "store_enabled": bool(store.get("enabled")),
        "store_full_sync": bool(store.get("fullSync")),
    }


def webhook_initial(index: int, hook: Mapping[str, Any]) -> dict[str, Any]:
    retries = hook.get("retries") or {}
    return {
        "original": index,
        "url": hook.get("url") or "",
        "events": list(hook.get("events") or []),
        "retries_policy": retries.get("policy") or "",
        "retries_delay": "" if retries.get("delaySeconds") is None else retries["delaySeconds"],
        "retries_attempts": "" if retries.get("attempts") is None else retries["attempts"],
        "custom_headers": "\n".join(f"{header.get('name', '')}: {header.get('value', '')}"
                                    for header in hook.get("customHeaders") or []),
    }


def _blank_webhook(data: Mapping[str, Any]) -> bool:
    """An untouched block (no URL, key, headers or retries) is not a webhook."""
    return not any((data.get("url") or "").strip() or data.get(field)
                   for field in ("hmac_key", "custom_headers", "retries_delay",
                                 "retries_attempts", "retries_policy"))


def _number(raw: str) -> int | str | None:
    """An int when it is one; other text goes to the serializer, which names the problem."""
    text = raw.strip()
    if not text:
        return None
    return int(text) if INTEGER_RE.match(text) else text


def _headers(form: WebhookForm, text: str) -> tuple[list[dict[str, str]], list[int]]:
    headers: list[dict[str, str]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            form.add_error("custom_headers", f"line {number}: expected 'Name: value'")
            continue
        headers.append({"name": name.strip(), "value": value.strip()})
        lines.append(number)
    return headers, lines
