"""What the deliveries list may be narrowed to: `?session=`, `?event=`, `?status=`."""

from __future__ import annotations

from django_filters import rest_framework as filters

from ..models import Delivery, DeliveryStatus


def _too_long(limit: int) -> dict[str, str]:
    # The words of the rest of the API (DRF's), not Django forms' own.
    return {"max_length": f"Ensure this field has no more than {limit} characters."}


SESSION_MAX_LENGTH = 54
EVENT_MAX_LENGTH = 64


class DeliveryFilter(filters.FilterSet):
    """An empty value (`?status=`) means the filter is not given, as django-filter has it."""

    # The session of that name now: a deleted session's deliveries are not a new one's.
    session = filters.CharFilter(field_name="session__name", max_length=SESSION_MAX_LENGTH,
                                 help_text="Session name",
                                 error_messages=_too_long(SESSION_MAX_LENGTH))
    event = filters.CharFilter(max_length=EVENT_MAX_LENGTH, help_text="Event name, e.g. message",
                               error_messages=_too_long(EVENT_MAX_LENGTH))
    status = filters.ChoiceFilter(
        choices=DeliveryStatus.choices,
        error_messages={"invalid_choice": '"%(value)s" is not a valid choice.'})

    class Meta:
        model = Delivery
        fields = ["session", "event", "status"]
