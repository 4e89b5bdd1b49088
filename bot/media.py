"""Download an entry's image once, with a size cap and a check that it really is an image."""

from __future__ import annotations

import requests

from bot.errors import FeedRelayError
from bot.model import Image, MediaFile

# Magic numbers of the formats every platform we post to accepts.
_SIGNATURES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class ImageError(FeedRelayError):
    """An image could not be used; the post goes out without it."""


def sniff_image_type(data: bytes) -> str | None:
    for signature, mime_type in _SIGNATURES.items():
        if data.startswith(signature):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def download_image(session: requests.Session, image: Image, *, max_bytes: int) -> MediaFile:
    """Fetch ``image``; raise ``ImageError`` saying why it cannot be used."""
    if image.url.startswith("file://") or not image.url.startswith(("http://", "https://")):
        raise ImageError(f"not an http(s) image URL: {image.url}")
    try:
        with session.get(image.url, stream=True, timeout=(5, 20)) as response:
            if response.status_code != 200:
                raise ImageError(f"HTTP {response.status_code} for {image.url}")
            data = bytearray()
            for chunk in response.iter_content(65536):
                data += chunk
                if len(data) > max_bytes:
                    raise ImageError(f"{image.url} is larger than {max_bytes} bytes")
    except requests.RequestException as error:
        raise ImageError(f"cannot download {image.url}: {type(error).__name__}") from error
    mime_type = sniff_image_type(bytes(data))
    if mime_type is None:
        raise ImageError(f"{image.url} is not a JPEG, PNG, GIF or WebP image")
    name = image.url.rsplit("/", 1)[-1].split("?", 1)[0] or "image"
    return MediaFile(data=bytes(data), mime_type=mime_type, alt=image.alt, filename=name)
