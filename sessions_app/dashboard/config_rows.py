"""A table between a JSON config and a form: each row is one config value (a dotted path) and
the form field that shows it, with a kind saying how the value goes into the field and back.

The dashboard's session form (forms.py) holds the tables; this module reads them for the form's
initial values, for the config built from a post and for the field an API error is about.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from django import forms

from waha_project.masks import masked_url, unmasked_url

INTEGER_RE = re.compile(r"^[+-]?\d+$")

OMIT: Final = object()  # a row's value that is left out of the config
DROP_SECTION: Final = object()  # ...and takes its whole section with it


@dataclass(frozen=True)
class Row:
    path: str  # dotted, within the config (or within one webhook)
    field: str  # the form field: the templates, the posted data and the browser tests use it
    kind: Kind


class Kind:
    """How a config value is shown in its field, and read back from the posted form."""

    # Whether a value here makes a webhook block more than an untouched one.
    fills: bool = True

    def initial(self, saved: Any) -> Any:
        """The field's value for the saved value (None when there is none); OMIT hides it."""
        raise NotImplementedError

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        """What to write at `row.path` from the form's cleaned `data`, or OMIT. `saved` is the
        config (or the webhook) as it was saved."""
        raise NotImplementedError

    def problems(self, raw: Any) -> list[str]:
        """What is wrong with the field's text before the API sees it."""
        return []

    def shown(self, raw: Any, rest: str, message: str) -> str | None:
        """The API's message reworded for the field; `rest` is the error's path below the row."""
        return None


@dataclass(frozen=True)
class Text(Kind):
    """Stripped text. Blank text is left out, or "written" so that the API says what is missing,
    or "drops_section": without a server there is no proxy, whatever else was typed."""

    blank: Literal["omitted", "written", "drops_section"] = "omitted"

    def initial(self, saved: Any) -> Any:
        return saved or ""

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        text = (data.get(row.field) or "").strip()
        if text or self.blank == "written":
            return text
        return DROP_SECTION if self.blank == "drops_section" else OMIT


@dataclass(frozen=True)
class Url(Text):
    """A URL shown with its password masked; the mask, posted back, keeps the saved one."""

    def initial(self, saved: Any) -> Any:
        return masked_url(saved) if saved else ""

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        text = super().value(row, data, saved)
        if not isinstance(text, str):
            return text
        return unmasked_url(text, lookup(saved, row.path))


def _off() -> bool:
    return False


@dataclass(frozen=True)
class Switch(Kind):
    """A checkbox. Written when it differs from its default or the saved config sets it, so an
    untouched switch keeps following its default (the server's, for the ignore switches)."""

    default: Callable[[], bool] = _off
    # A saved null counts as set: debug has always been written back once its key was saved.
    null_is_set: bool = False

    def initial(self, saved: Any) -> Any:
        return bool(self.default() if saved is None else saved)

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        on = bool(data.get(row.field))
        above, _, key = row.path.rpartition(".")
        section = lookup(saved, above) if above else saved
        was_set = isinstance(section, Mapping) and key in section and (
            self.null_is_set or section[key] is not None)
        return on if on != self.default() or was_set else OMIT


@dataclass(frozen=True)
class Secret(Kind):
    """Never shown back. Blank keeps the saved value, unless the `clear` checkbox is ticked."""

    clear: str

    def initial(self, saved: Any) -> Any:
        return OMIT

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        secret = data.get(row.field) or ""
        if not secret and not data.get(self.clear):
            secret = lookup(saved, row.path) or ""
        return secret or OMIT


class Number(Kind):
    """A whole number. Other text goes to the API as typed, and the API names the problem."""

    def initial(self, saved: Any) -> Any:
        return "" if saved is None else saved

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        text = (data.get(row.field) or "").strip()
        if not text:
            return OMIT
        return int(text) if INTEGER_RE.match(text) else text


class Choices(Kind):
    """Ticked boxes, written even when none is: the API says a webhook needs one."""

    fills = False  # the boxes start ticked, so an untouched block has them too

    def initial(self, saved: Any) -> Any:
        return list(saved or [])

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        return list(data.get(row.field) or [])


class ParsedHeaders(NamedTuple):
    headers: list[dict[str, str]]
    lines: list[int]  # the line each header came from, for the API's customHeaders[i] errors
    bad_lines: list[int]


def parse_headers(text: str) -> ParsedHeaders:
    parsed = ParsedHeaders([], [], [])
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            parsed.bad_lines.append(number)
            continue
        parsed.headers.append({"name": name.strip(), "value": value.strip()})
        parsed.lines.append(number)
    return parsed


HEADER_PATH_RE = re.compile(r"^\[(\d+)\](?:\.(\w+))?$")


class Headers(Kind):
    """One `Name: value` a line, for the webhook's customHeaders list. Values are secrets (a
    header often carries a token): shown as `Name:` alone, and a blank value keeps the saved
    value of that header (the first saved one of that name, then the next, ...)."""

    def initial(self, saved: Any) -> Any:
        return "\n".join(f"{header.get('name', '')}:" for header in saved or []
                         if isinstance(header, Mapping))

    def value(self, row: Row, data: Mapping[str, Any], saved: Mapping[str, Any] | None) -> Any:
        kept: dict[str, list[str]] = {}
        for header in lookup(saved, row.path) or []:
            if isinstance(header, Mapping) and header.get("value"):
                kept.setdefault(str(header.get("name", "")).lower(), []).append(
                    str(header["value"]))
        headers = parse_headers(data.get(row.field) or "").headers
        for header in headers:
            left = kept.get(header["name"].lower())
            if not header["value"] and left:
                header["value"] = left.pop(0)
        return headers or OMIT

    def problems(self, raw: Any) -> list[str]:
        return [f"line {number}: expected 'Name: value'"
                for number in parse_headers(raw or "").bad_lines]

    def shown(self, raw: Any, rest: str, message: str) -> str | None:
        # customHeaders[1] is the second header, not the second line: blank lines are skipped.
        match = HEADER_PATH_RE.match(rest)
        if not match:
            return message
        lines = parse_headers(raw or "").lines
        position = int(match.group(1))
        line = lines[position] if position < len(lines) else position + 1
        part = f" ({match.group(2)})" if match.group(2) else ""
        return f"line {line}{part}: {message}"


def parent(path: str) -> str:
    """`a.b` → `a`, `a[1]` → `a`, `a` → ``."""
    if path.endswith("]") and "[" in path:
        return path[:path.rindex("[")]
    return path.rpartition(".")[0]


def lookup(config: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted path; None when any part of it is missing."""
    value: Any = config
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def put(config: dict[str, Any], path: str, value: Any) -> None:
    *sections, key = path.split(".")
    for name in sections:
        if not isinstance(config.get(name), dict):
            config[name] = {}
        config = config[name]
    config[key] = value


def remove(config: dict[str, Any], path: str) -> None:
    """Take out the value at `path`, and each section above it that is left empty (or null)."""
    above, _, key = path.rpartition(".")
    section = lookup(config, above) if above else config
    if isinstance(section, dict):
        section.pop(key, None)
    if above and not lookup(config, above):
        remove(config, above)


def initial_values(rows: Iterable[Row], saved: Mapping[str, Any] | None) -> dict[str, Any]:
    values = {row.field: row.kind.initial(lookup(saved, row.path)) for row in rows}
    return {name: value for name, value in values.items() if value is not OMIT}


def write_rows(form: forms.Form, rows: Iterable[Row], data: Mapping[str, Any],
               saved: Mapping[str, Any] | None, config: dict[str, Any]) -> None:
    """Each row's value from the form's cleaned `data` into `config`; the problems the fields'
    text has go beside them."""
    dropped = []
    for row in rows:
        for problem in row.kind.problems(data.get(row.field)):
            form.add_error(row.field, problem)
        value = row.kind.value(row, data, saved)
        if value is DROP_SECTION:
            dropped.append(parent(row.path))
        elif value is not OMIT:
            put(config, row.path, value)
    for section in dropped:
        remove(config, section)


def find_row(rows: Iterable[Row], path: str) -> tuple[Row | None, str]:
    """The row an API error at `path` is about, and the rest of the path below it: `events[1]`
    is about events, `retries` (a section) about its first row."""
    rows = tuple(rows)
    here = path
    while here:
        row = (next((row for row in rows if row.path == here), None)
               or next((row for row in rows if parent(row.path) == here), None))
        if row is not None:
            return row, path[len(here):]
        here = parent(here)
    return None, ""
