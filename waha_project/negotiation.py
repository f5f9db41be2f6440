"""Content negotiation that never answers 406: JSON when no renderer fits `Accept`.

WAHA clients send `Accept: image/png` to the QR route (which serves the PNG itself) and
browsers send `text/html`; an error must still come back as our JSON error, not a 406.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class AnyAccept(DefaultContentNegotiation):
    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer],
                        format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            renderer = next(iter(renderers))
            return renderer, renderer.media_type
