"""The API's JSON renderer (`waha_project.renderers`, orjson) writes what DRF's renderer writes,
value for value, and refuses what neither knows instead of writing null."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from waha_project.renderers import JSONRenderer

DATA = ReturnDict({
    "name": "ünïcødé ✓ \u2028 \"quoted\" \\",
    "when": datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC),
    "amount": Decimal("12.50"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lazy": gettext_lazy("Not found."),
    "error": [ErrorDetail("required", code="required")],
    "rows": ReturnList([{"n": 2**63 - 1, "f": 1.5, "none": None, "yes": True}], serializer=None),
}, serializer=None)


def test_it_writes_the_values_drf_writes():
    ours = JSONRenderer().render(DATA)

    assert json.loads(ours) == json.loads(renderers.JSONRenderer().render(DATA))
    assert json.loads(ours)["when"] == "2026-11-30T12:00:00.123456Z"


def test_an_object_it_does_not_know_is_refused_not_written_as_null():
    with pytest.raises(TypeError):
        JSONRenderer().render({"what": object()})


def test_no_data_is_an_empty_body():
    assert JSONRenderer().render(None) == b""
