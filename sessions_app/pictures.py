"""A profile picture from WAHA's file shape (`{mimetype, data}` in base64, or `{url}`): read,
checked, and made the square JPEG WhatsApp takes, before any engine sees it.

This is the one module that fetches a file a client names by URL. It follows the rule of every
request the server makes on a client's word: the address policy of webhooks
(`webhooks_app.transport.TargetPolicy`, whose resolver the connector uses, so a connection only
ever goes to a checked address), no redirects, one deadline and a bounded read.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import warnings
from collections.abc import Mapping
from typing import Any

import aiohttp
from asgiref.sync import async_to_sync
from PIL import Image, ImageOps, UnidentifiedImageError

from webhooks_app.services import user_agent
from webhooks_app.transport import CheckedResolver, TargetPolicy, check_url_literal, ssl_context

# What a client may send; the declared type must be what the data is.
TYPES = {"image/jpeg": "JPEG", "image/jpg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
# WhatsApp shows profile pictures square, at most 640 pixels a side.
SIDE = 640
FETCH_TIMEOUT_SECONDS = 10.0


class PictureRejected(ValueError):
    """The picture cannot be used; `field` names the part of the file at fault."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def prepared(file: Mapping[str, Any]) -> bytes:
    """The square JPEG for a validated file shape: `data` (base64) or `url`, and `mimetype`."""
    if file.get("data") is not None:
        raw, field = decoded(file["data"]), "data"
    else:
        raw, field = async_to_sync(fetched)(file["url"]), "url"
    return square_jpeg(raw, file.get("mimetype"), field)


def decoded(data: str) -> bytes:
    if len(data) > MAX_BYTES * 4 // 3 + 4:
        raise PictureRejected("data", f"is larger than {MAX_BYTES} bytes")
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PictureRejected("data", "is not base64") from None


async def fetched(url: str) -> bytes:
    """The body of a GET of `url` (200 only), at most MAX_BYTES."""
    policy = TargetPolicy.from_settings()
    refusal = check_url_literal(url, policy)
    if refusal:
        raise PictureRejected("url", f"may not be fetched: {refusal}")
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(policy), use_dns_cache=False,
                                     ssl=ssl_context())
    try:
        async with (asyncio.timeout(FETCH_TIMEOUT_SECONDS),
                    aiohttp.ClientSession(connector=connector, trust_env=False,
                                          cookie_jar=aiohttp.DummyCookieJar()) as http,
                    http.get(url, allow_redirects=False,
                             headers={"User-Agent": user_agent()}) as response):
            if response.status != 200:
                raise PictureRejected("url", f"answered {response.status} {response.reason}, "
                                             "not 200")
            if (response.content_length or 0) > MAX_BYTES:
                raise PictureRejected("url", f"is larger than {MAX_BYTES} bytes")
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise PictureRejected("url", f"is larger than {MAX_BYTES} bytes")
            return bytes(body)
    except TimeoutError:
        raise PictureRejected("url", f"did not answer within {FETCH_TIMEOUT_SECONDS:g} s"
                              ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise PictureRejected("url", f"could not be fetched: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The innermost cause, which names a refused address rather than a failed connection."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def square_jpeg(raw: bytes, mimetype: str | None, field: str) -> bytes:
    """The picture checked (a JPEG, PNG or WebP image of sane size, of the declared type),
    cropped to its centre square, at most SIDE pixels a side, as a JPEG."""
    if len(raw) > MAX_BYTES:
        raise PictureRejected(field, f"is larger than {MAX_BYTES} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError):
        raise PictureRejected(field, "is not a JPEG, PNG or WebP image") from None
    kind = image.format or "unknown"
    if kind not in TYPES.values():
        raise PictureRejected(field, f"is a {kind} image, not a JPEG, PNG or WebP one")
    if mimetype is not None and TYPES.get(mimetype) != kind:
        raise PictureRejected("mimetype", f"says {mimetype} but the picture is a {kind} image")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PictureRejected(field, f"is {width}x{height} pixels, more than {MAX_PIXELS}")
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        raise PictureRejected(field, "is a damaged or cut-off image") from None
    side = min(SIDE, *upright.size)
    square = ImageOps.fit(upright, (side, side))
    if square.mode != "RGB":
        background = Image.new("RGB", square.size, "white")
        rgba = square.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        square = background
    out = io.BytesIO()
    square.save(out, "JPEG", quality=90)
    return out.getvalue()
