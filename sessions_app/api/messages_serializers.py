"""Request and answer shapes of the chats, contacts and messages routes (WAHA's names)."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from waha_project.api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    FullMatch,
    OptionalCharField,
    StrictCharField,
    WahaSerializer,
    WireNames,
)

from ..models import Chat, Contact
from .serializers import SESSION_NAME

DEFAULT_SESSION = "default"  # WAHA's default when a body names no session
MAX_TEXT = 65536
CHAT_ID_RE = re.compile(r"^(?:[0-9]+@c\.us|[0-9A-Za-z._:-]+@(?:g\.us|newsletter|lid))$")
# What a path may name as a chat: anything the store could hold (status@broadcast too).
STORED_CHAT_ID_RE = re.compile(r"^[^\x00-\x20/]{1,128}$")


def _limit(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT,
        help_text=f"How many to answer, 1 to {MAX_LIMIT}",
        error_messages={"invalid": "must be a positive integer",
                        "min_value": "must be a positive integer",
                        "max_value": "must be at most {max_value}",
                        "max_string_length": "must be a positive integer"},
        **kwargs,
    )


def _offset() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_OFFSET, default=0, help_text="How many to skip",
        error_messages={"invalid": "must be a whole number, 0 or more",
                        "min_value": "must be a whole number, 0 or more",
                        "max_value": "must be at most {max_value}",
                        "max_string_length": "must be a whole number, 0 or more"},
    )


# --- queries (not WahaSerializer: query strings also carry x-api-key and WAHA's extras) ---------
class PageQuerySerializer(serializers.Serializer):
    """Chats and contacts: everything unless a limit is given."""

    limit = _limit()
    offset = _offset()


class MessagesQuerySerializer(serializers.Serializer):
    limit = _limit(default=DEFAULT_LIMIT)
    offset = _offset()


# --- bodies --------------------------------------------------------------------------------------
class SendTextSerializer(WahaSerializer):
    accepted_fields = ("linkPreview", "linkPreviewHighQuality", "mentions")

    session = StrictCharField(required=False, allow_null=True, max_length=54,
                              trim_whitespace=False, validators=[SESSION_NAME],
                              help_text=f"Session name; {DEFAULT_SESSION!r} when not given")
    # Not trimmed: " 123@c.us" is refused, not silently changed.
    chatId = StrictCharField(
        max_length=128, trim_whitespace=False,
        validators=[FullMatch(CHAT_ID_RE, "must be a chat id: <digits>@c.us, <id>@g.us, "
                                          "<id>@newsletter or <id>@lid")],
        help_text="123@c.us, <id>@g.us, <id>@newsletter or <id>@lid",
    )
    text = StrictCharField(max_length=MAX_TEXT, trim_whitespace=False,
                           error_messages={"blank": "must not be empty"})
    reply_to = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=255,
                               help_text="The id of the message to reply to")


# --- answers -------------------------------------------------------------------------------------
class ChatSummarySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="chat_id")
    name = OptionalCharField()
    conversationTimestamp = serializers.IntegerField(
        source="conversation_timestamp", allow_null=True,
        help_text="Unix seconds of the latest message",
    )

    class Meta:
        model = Chat
        fields = ["id", "name", "conversationTimestamp"]


class ContactSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="contact_id")
    name = OptionalCharField(help_text="The name in the phone's book")
    pushname = OptionalCharField(source="push_name", help_text="The name they chose")

    class Meta:
        model = Contact
        fields = ["id", "name", "pushname"]


class WAMessageSerializer(WireNames):
    """Documents a WAHA message payload, as in `message.any`; answers are the payload itself."""

    id = serializers.CharField(help_text="false_123@c.us_ABCDEF")
    timestamp = serializers.IntegerField(help_text="Unix seconds")
    from_ = serializers.CharField(allow_null=True)
    fromMe = serializers.BooleanField()
    source_ = serializers.CharField(required=False, allow_null=True, help_text="api or app")
    to = serializers.CharField(required=False, allow_null=True)
    participant = serializers.CharField(required=False, allow_null=True)
    body = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    hasMedia = serializers.BooleanField(required=False)
    media = serializers.JSONField(required=False, allow_null=True)
    ack = serializers.IntegerField(required=False, allow_null=True)
    ackName = serializers.CharField(required=False, allow_null=True)
    replyTo = serializers.JSONField(required=False, allow_null=True)
    _data = serializers.JSONField(required=False, allow_null=True)
