"""What the deliveries list may be narrowed to: `?session=`, `?event=`, `?status=`."""

from __future__ import annotations

from django_filters import rest_framework as filters

from ..models import Delivery, DeliveryStatus


class DeliveryFilter(filters.FilterSet):
    session = filters.CharFilter(field_name="session_name", max_length=54,
                                 help_text="Session name")
    event = filters.CharFilter(max_length=64, help_text="Event name, e.g. message")
    status = filters.ChoiceFilter(choices=DeliveryStatus.choices)

    class Meta:
        model = Delivery
        fields = ["session", "event", "status"]
