"""The schema documents each answer with the serializer that renders it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator


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
