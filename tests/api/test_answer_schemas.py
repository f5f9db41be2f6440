"""The schema documents each answer with the serializer that renders it."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from sessions_app.api.serializers import SessionDetailSerializer, SessionInfoSerializer
from sessions_app.models import Session


def schema() -> dict[str, Any]:
    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return document


def test_the_deliveries_list_is_documented_as_a_bare_array_of_deliveries() -> None:
    document = schema()
    answer = document["paths"]["/api/webhooks/deliveries"]["get"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    listed = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    assert listed == {"type": "array",
                      "items": {"$ref": "#/components/schemas/WebhookDelivery"}}


def test_the_delivery_detail_documents_every_field_of_a_delivery_and_more() -> None:
    components = schema()["components"]["schemas"]
    delivery = list(components["WebhookDelivery"]["properties"])
    detail = list(components["WebhookDeliveryDetail"]["properties"])

    assert detail == [*delivery, "payload", "attemptList"]
    assert components["WebhookDeliveryDetail"]["required"] == sorted(detail)


def test_the_answer_components_keep_the_names_clients_know() -> None:
    components = schema()["components"]["schemas"]

    assert {"WebhookDelivery", "WebhookDeliveryDetail", "WebhookDeliveryAttempt",
            "WebhookDeliveryStatusEnum", "SessionInfo", "SessionDetail", "EngineInfo", "Me",
            "Timestamps", "ChatSummary", "Contact", "WAMessage"} <= set(components)


# A stopped, a starting, a scanning and a working session, with and without config and `me`.
SESSIONS = [
    {"name": "stopped", "should_run": False, "config": {}},
    {"name": "starting", "should_run": True, "generation": 2, "applied_generation": 1,
     "config": {"metadata": {"user": "7"}}},
    {"name": "scanning", "should_run": True, "generation": 1, "applied_generation": 1,
     "status": "SCAN_QR_CODE", "config": {"debug": True}},
    {"name": "working", "should_run": True, "generation": 3, "applied_generation": 3,
     "status": "WORKING", "owner": "engine-a", "last_error": "",
     "me": {"id": "491234@c.us", "pushName": "Ana"}, "config": {}},
    {"name": "failed", "should_run": True, "generation": 1, "applied_generation": 1,
     "status": "FAILED", "last_error": "no route", "me": {"id": "491234@c.us"}},
]


@pytest.mark.parametrize("fields", SESSIONS, ids=[row["name"] for row in SESSIONS])
def test_a_session_renders_exactly_as_its_documented_fields_do(fields: dict[str, Any]) -> None:
    session = Session(status_changed_at=timezone.now(), **fields)
    context = {"driver": "fake"}

    for serializer_class in (SessionInfoSerializer, SessionDetailSerializer):
        serializer = serializer_class(context=context)
        fast = serializer.to_representation(session)
        by_fields = serializer.render_by_fields(session)
        assert list(fast) == list(serializer.fields)
        assert fast == by_fields
