"""The dashboard's session form: Django forms parse and render the fields, the API's
serializers judge the config, and each error goes back beside the field it names.

Which config value each field shows is written once, in CONFIG_ROWS and WEBHOOK_ROWS: the
form's initial values, the config built from a post and the field an error goes beside all
come from those rows.

Secrets (HMAC keys, the proxy password, custom header values) are never rendered: blank means
"keep the saved one". A webhook URL's password is shown masked, and the mask posted back keeps
it.
Config keys the form does not show (`gows`, `noweb.markOnline`, ...) are kept as they were.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.forms import formset_factory
from rest_framework import serializers

from waha_project.access import DEFAULT_ACTIONS, Action
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
from ..key_forms import judged_key
from ..models import Session
from .config_rows import (
    Choices,
    Headers,
    Number,
    Row,
    Secret,
    Switch,
    Text,
    Url,
    find_row,
    initial_values,
    lookup,
    parent,
    remove,
    write_rows,
)

EVENT_CHOICES = [("*", "* (every event but engine.event)"),
                 *[(name, name) for name in EventName.values]]
POLICY_CHOICES = [("", "Default (constant)"), *RetryPolicy.choices]
IGNORE_SWITCHES = {
    "status": "Status updates (status@broadcast)",
    "groups": "Groups (@g.us)",
    "channels": "Channels (@newsletter)",
    "broadcast": "Broadcast lists (@broadcast)",
}
SAVED_PLACEHOLDER = "Saved; leave blank to keep it"


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
        help_text="One per line: Name: value. Saved values are not shown: leave a value blank "
                  "to keep it.",
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


class KeyForm(DashboardForm):
    """A new API key: `/api/keys` judges it (`judged_key`), `access.create_key` makes it."""

    is_admin = forms.BooleanField(
        required=False, label="Admin key",
        help_text="Reaches every session and manages the keys; it names no session.")
    session = forms.ChoiceField(required=False, label="Session",
                                help_text="The one session a key that is not an admin key "
                                          "reaches.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = Session.objects.order_by("name").values_list("name", flat=True)
        session = self.fields["session"]
        assert isinstance(session, forms.ChoiceField)
        session.choices = [("", "None (admin key)"), *((n, n) for n in names)]
        for action in Action:
            self.fields[f"action_{action.value}"] = forms.BooleanField(
                required=False, initial=DEFAULT_ACTIONS[action.value], label=action.label)
        self.key_fields: dict[str, Any] = {}

    @property
    def action_fields(self) -> list[forms.BoundField]:
        return [self[f"action_{action.value}"] for action in Action]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            self.key_fields = judged_key(
                is_admin=bool(data.get("is_admin")), session=data.get("session") or None,
                is_active=bool(data.get("is_active")),
                actions={action.value: bool(data.get(f"action_{action.value}"))
                         for action in Action})
        return data


# --- the config values the form shows: one row each, read by the editor -------------------------
def ignore_default(switch: str) -> Callable[[], bool]:
    """The server's WAHA_SESSION_CONFIG_IGNORE_* value, read when used (tests change it)."""
    return lambda: bool(getattr(IgnoreRules.from_config(None), switch))


CONFIG_ROWS = (
    Row("debug", "debug", Switch(null_is_set=True)),
    Row("client.deviceName", "device_name", Text()),
    Row("client.browserName", "browser_name", Text()),
    Row("ignore.status", "ignore_status", Switch(default=ignore_default("status"))),
    Row("ignore.groups", "ignore_groups", Switch(default=ignore_default("groups"))),
    Row("ignore.channels", "ignore_channels", Switch(default=ignore_default("channels"))),
    Row("ignore.broadcast", "ignore_broadcast", Switch(default=ignore_default("broadcast"))),
    Row("proxy.server", "proxy_server", Text(blank="drops_section")),
    Row("proxy.username", "proxy_username", Text()),
    Row("proxy.password", "proxy_password", Secret(clear="proxy_password_clear")),
    Row("noweb.store.enabled", "store_enabled", Switch()),
    Row("noweb.store.fullSync", "store_full_sync", Switch()),
)
WEBHOOK_ROWS = (
    Row("url", "url", Url(blank="written")),
    Row("events", "events", Choices()),
    Row("hmac.key", "hmac_key", Secret(clear="hmac_clear")),
    Row("retries.policy", "retries_policy", Text()),
    Row("retries.delaySeconds", "retries_delay", Number()),
    Row("retries.attempts", "retries_attempts", Number()),
    Row("customHeaders", "custom_headers", Headers()),
)
# What the form rebuilds from its fields; the rest of the saved config is carried over.
OWNED = ("metadata", "webhooks",
         *dict.fromkeys(parent(row.path) or row.path for row in CONFIG_ROWS))
# The create request's own keys, beside the config; their fields have the same names.
REQUEST_FIELDS = ("name", "start")


def mark_saved_secrets(form: forms.Form, rows: Iterable[Row],
                       saved: Mapping[str, Any] | None) -> bool:
    """Say in each secret's field that a value is saved; whether any is."""
    marked = False
    for row in rows:
        if isinstance(row.kind, Secret) and lookup(saved, row.path):
            form.fields[row.field].widget.attrs["placeholder"] = SAVED_PLACEHOLDER
            marked = True
    return marked


@dataclass
class FieldError:
    path: str
    message: str
    anchor: str  # the id of the input it belongs beside, for the summary's link
    shown: str = ""  # the wording beside the field, when it differs

    @property
    def text(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


WEBHOOK_PATH_RE = re.compile(r"^config\.webhooks\[(\d+)\]\.?(.*)$")


class SessionEditor:
    """The create / edit page: one main form, metadata rows and webhook blocks."""

    def __init__(self, session: Session | None, data: Mapping[str, Any] | None = None) -> None:
        self.session = session
        self.creating = session is None
        self.saved: dict[str, Any] = copy.deepcopy(session.config or {}) if session else {}
        saved = self.saved
        bound = data is not None
        self.form = SessionForm(data, creating=self.creating,
                                initial=None if bound else initial_values(CONFIG_ROWS, saved))
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
            initial=None if bound else [{"original": index, **initial_values(WEBHOOK_ROWS, hook)}
                                        for index, hook in enumerate(hooks)],
        )
        for form in self.webhooks.forms:
            form.has_saved_key = mark_saved_secrets(
                form, WEBHOOK_ROWS, self._saved_hook(form["original"].value()))
        self.has_saved_proxy_password = mark_saved_secrets(self.form, CONFIG_ROWS, saved)
        self.errors: list[FieldError] = []
        self.metadata_errors: list[str] = []
        self.webhooks_errors: list[str] = []
        # What the built config came from: the main form's data, each webhook's block and
        # data (config webhooks[i] need not be block i), each metadata key's row.
        self._main_data: dict[str, Any] = {}
        self._webhook_blocks: list[tuple[WebhookForm, dict[str, Any]]] = []
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
        """The saved config with what the form owns rebuilt from the posted fields."""
        # Copies: adding an error to a field takes its value out of cleaned_data.
        self._main_data = dict(getattr(self.form, "cleaned_data", None) or {})
        config = copy.deepcopy(self.saved)
        for path in OWNED:
            remove(config, path)
        write_rows(self.form, CONFIG_ROWS, self._main_data, self.saved, config)
        metadata = self._metadata()
        if metadata:
            config["metadata"] = metadata
        webhooks = self._webhooks()
        if webhooks:
            config["webhooks"] = webhooks
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

    def _saved_hook(self, original: Any) -> Any:
        """The saved webhook a block edits, by its hidden index: its key is kept when blank."""
        hooks = self.saved.get("webhooks") or []
        try:
            index = int(original)
        except (TypeError, ValueError):
            return None
        return hooks[index] if 0 <= index < len(hooks) else None

    def _webhooks(self) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = []
        self._webhook_blocks = []
        for form in self.webhooks.forms:
            data = dict(getattr(form, "cleaned_data", None) or {})
            untouched = not any(data.get(row.field) for row in WEBHOOK_ROWS if row.kind.fills)
            if data.get("DELETE") or untouched:
                continue
            hook: dict[str, Any] = {}
            write_rows(form, WEBHOOK_ROWS, data, self._saved_hook(data.get("original")), hook)
            hooks.append(hook)
            self._webhook_blocks.append((form, data))
        return hooks

    # --- errors back beside their fields ------------------------------------------------------
    def attach(self, path: str, message: str) -> None:
        """Put one serializer error beside the field it names (or its group)."""
        if path in REQUEST_FIELDS and path in self.form.fields:
            self._add(self.form, path, path, message)
            return
        if path.startswith("config.") and self._add_to_row(
                self.form, CONFIG_ROWS, self._main_data, path, path[len("config."):], message):
            return
        match = WEBHOOK_PATH_RE.match(path)
        if match and int(match.group(1)) < len(self._webhook_blocks):
            form, data = self._webhook_blocks[int(match.group(1))]
            if not self._add_to_row(form, WEBHOOK_ROWS, data, path, match.group(2), message):
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

    def _add_to_row(self, form: forms.Form, rows: Iterable[Row], data: Mapping[str, Any],
                    path: str, within: str, message: str) -> bool:
        """Beside the field of the row that `within` (the error's path inside the config or
        the webhook) is about; False when it is about none."""
        row, rest = find_row(rows, within)
        if row is None:
            return False
        shown = row.kind.shown(data.get(row.field), rest, message)
        self._add(form, row.field, path, message, shown)
        return True

    def _add(self, form: forms.Form, field: str, path: str, message: str,
             shown: str | None = None) -> None:
        """`shown` beside the field; the summary keeps the API's own wording."""
        form.add_error(field, shown or message)
        self.errors.append(FieldError(path, message, form[field].auto_id, shown or ""))
