"""The API's JSON parser: DRF's, with a bound on how deep a body may nest.

Python's decoder recurses once per level and gives up near the interpreter's recursion limit
(about 1,000 levels) with a RecursionError, which DRF does not expect. No WAHA body comes close to
the bound (a webhook's custom header sits at level 6), so anything deeper is refused as a bad
body, whether the decoder managed it or not.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 64


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests objects and arrays more than `limit` levels deep (walked without
    recursion, so no depth can break the walk itself)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item
        for child in children:
            if isinstance(child, Mapping | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def json_object(data: Any) -> Mapping[str, Any]:
    """The request body, which must be a JSON object (an empty body counts as `{}`): `null` or
    an array is a 400 naming `body`, before anything could read it as "nothing given"."""
    if not isinstance(data, Mapping):
        raise exceptions.ValidationError(
            {"body": [f"must be a JSON object, got {json_kind(data)}"]})
    return data


class JSONParser(parsers.JSONParser):
    def parse(self, stream: IO[Any] | None, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        too_deep = exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        # Fewer brackets than levels allowed cannot nest too deep: most bodies skip the walk.
        if (raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
                and isinstance(data, Mapping | list) and depth_exceeds(data, MAX_JSON_DEPTH)):
            raise too_deep
        return data
