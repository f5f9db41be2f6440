"""What the deliveries list may be narrowed to: `?session=`, `?event=`, `?status=`."""

from __future__ import annotations

from django_filters import rest_framework as filters

from ..models import Delivery, DeliveryStatus


def _too_long(limit: int) -> dict[str, str]:
    # The words of the rest of the API (DRF's), not Django forms' own.
    return {"max_length": f"Ensure this field has no more than {limit} characters."}


class DeliveryFilter(filters.FilterSet):
    """An empty value (`?status=`) means the filter is not given, as django-filter has it."""

    # The session of that name now: a deleted session's deliveries are not a new one's.
    session = filters.CharFilter(field_name="session__name", max_length=54,
                                 help_text="Session name", error_messages=_too_long(54))
    event = filters.CharFilter(max_length=64, help_text="Event name, e.g. message",
                               error_messages=_too_long(64))
    status = filters.ChoiceFilter(
        choices=DeliveryStatus.choices,
        error_messages={"invalid_choice": '"%(value)s" is not a valid choice.'})

    class Meta:
        model = Delivery
        fields = ["session", "event", "status"]
