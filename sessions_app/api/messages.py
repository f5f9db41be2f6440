"""Chats, contacts and messages from the store, and sending a text through the engine."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from waha_project.access import Action
from waha_project.api import E400, E401, E404, E422, E503, validated
from waha_project.permissions import OnSession

from .. import services, store
from . import messages_serializers as m
from .views import SESSION_PARAM

log = logging.getLogger("waha.api")

M = TypeVar("M", bound=Model)

CHAT_ID_PARAM = OpenApiParameter("chatId", str, OpenApiParameter.PATH,
                                 description="Chat id, e.g. 123@c.us or 123-456@g.us",
                                 pattern=m.STORED_CHAT_ID_RE.pattern)


def page_query(serializer_class: type[serializers.Serializer], request: Request
               ) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def paged(rows: QuerySet[M], page: dict[str, Any]) -> QuerySet[M]:
    offset = page.get("offset") or 0
    limit = page.get("limit")
    return rows[offset:] if limit is None else rows[offset : offset + limit]


class ChatsView(APIView):
    access = {"get": OnSession(Action.READ, path="session")}

    @extend_schema(
        summary="Chats of a session, latest conversation first",
        description="From the session store (config.noweb.store.enabled or a "
        "config.gows.storage switch); empty when the store is off.",
        parameters=[SESSION_PARAM, m.PageQuerySerializer],
        responses={200: m.ChatSummarySerializer(many=True), 400: E400, 401: E401, 404: E404},
    )
    def get(self, request: Request, session: str) -> Response:
        page = page_query(m.PageQuerySerializer, request)
        current = services.get_session(session)
        return Response(m.ChatSummarySerializer(paged(store.chats_of(current), page),
                                                many=True).data)


class ChatMessagesView(APIView):
    access = {"get": OnSession(Action.READ, path="session")}

    @extend_schema(
        summary="Messages of a chat, newest first",
        description="The stored WAHA message payloads, as published in `message.any`.",
        parameters=[SESSION_PARAM, CHAT_ID_PARAM, m.MessagesQuerySerializer],
        responses={200: m.WAMessageSerializer(many=True), 400: E400, 401: E401, 404: E404},
    )
    def get(self, request: Request, session: str, chatId: str) -> Response:
        page = page_query(m.MessagesQuerySerializer, request)
        if not m.STORED_CHAT_ID_RE.fullmatch(chatId):
            raise exceptions.ValidationError({"chatId": ["is not a chat id, e.g. 123@c.us"]})
        current = services.get_session(session)
        rows = paged(store.messages_of(current, chatId), page)
        return Response(list(rows.values_list("payload", flat=True)))


class ContactsView(APIView):
    access = {"get": OnSession(Action.READ, path="session")}

    @extend_schema(
        summary="Contacts of a session",
        description="From the session store: contacts of the history sync and the senders "
        "of incoming messages.",
        parameters=[SESSION_PARAM, m.PageQuerySerializer],
        responses={200: m.ContactSerializer(many=True), 400: E400, 401: E401, 404: E404},
    )
    def get(self, request: Request, session: str) -> Response:
        page = page_query(m.PageQuerySerializer, request)
        current = services.get_session(session)
        return Response(m.ContactSerializer(paged(store.contacts_of(current), page),
                                            many=True).data)


class SendTextView(APIView):
    access = {"post": OnSession(Action.SEND, body="session", default=m.DEFAULT_SESSION)}

    @extend_schema(
        summary="Send a text message",
        description="Only through a WORKING session; answers the sent message.",
        request=m.SendTextSerializer,
        responses={201: m.WAMessageSerializer, 400: E400, 401: E401, 404: E404, 422: E422,
                   503: E503},
    )
    def post(self, request: Request) -> Response:
        body = validated(m.SendTextSerializer, request.data)
        message = services.send_text(body.get("session") or m.DEFAULT_SESSION, body["chatId"],
                                     body["text"], body.get("reply_to") or None)
        return Response(message, status=status.HTTP_201_CREATED)
