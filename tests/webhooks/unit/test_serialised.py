"""An envelope's text (`services.serialised`): compact JSON with unicode as it is, every value
exact, whether orjson writes it or, for what orjson refuses, `json.dumps`."""

from __future__ import annotations

import json

import pytest

from webhooks_app.services import serialised


@pytest.mark.parametrize("payload", [
    {"body": "ünïcødé ✓ 🎉", "quote": '"\\', "n": 12, "f": 0.1, "none": None, "list": [1, 2]},
    {"id": 2**64 + 1, "negative": -(2**70)},  # beyond 64 bits: json.dumps writes them
    {"keys": {1: "an integer key"}},  # not a string: json.dumps makes it one
])
def test_an_envelope_reads_back_as_it_was_written(payload: dict[str, object]) -> None:
    envelope = {"id": "evt_1", "event": "message", "payload": payload}

    text = serialised(envelope)

    assert json.loads(text) == json.loads(json.dumps(envelope))
    assert text == json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
