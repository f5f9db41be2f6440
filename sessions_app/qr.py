"""QR images: the one module that draws them (the `qrcode` library is imported nowhere else)."""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

import qrcode


@lru_cache(maxsize=256)
def png(value: str) -> bytes:
    """The PNG of a QR code's value, drawn once per value (every page and socket shares it)."""
    image = qrcode.make(value, box_size=8, border=4)
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
