"""Download an entry's image once: through the address guard, by a total deadline, within a
size cap, and only if it really is an image.

The URL comes from feed content, so it is fetched with the content session
(``bot.http.make_content_session``): a host that is or resolves to a loopback, private,
link-local or other non-global address is refused before anything is sent, redirects
included, unless ``[bot] allow_private_images`` is set. The whole download (connect,
redirects, body) ends within the session's deadline (``[bot] fetch_deadline``). An answer
that declares a type other than an image (``text/html``) is refused before its body is
read; one that declares none, or ``application/octet-stream``, is judged by its bytes. The
bytes must begin as a JPEG, PNG, GIF or WebP does. Whatever goes wrong raises ``ImageError``
saying why, and the post goes out without the image.
"""

from __future__ import annotations

import time

import requests

from bot.errors import ImageError
from bot.http import (
    BodyTooLargeError,
    DeadlineExceededError,
    DeadlineSession,
    in_words,
    read_body,
)
from bot.model import Image, MediaFile
from bot.netguard import AddressRefusedError

# Magic numbers of the formats every platform we post to accepts.
_SIGNATURES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
# Declared types that say nothing about the bytes: the magic number decides.
_UNDECLARED = ("", "application/octet-stream", "binary/octet-stream")
ALLOW_PRIVATE_HINT = "set [bot] allow_private_images = true for a blog on your network"


def sniff_image_type(data: bytes) -> str | None:
    for signature, mime_type in _SIGNATURES.items():
        if data.startswith(signature):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def download_image(session: DeadlineSession, image: Image, *, max_bytes: int) -> MediaFile:
    """Fetch ``image`` with ``session`` (the content session); raise ``ImageError`` saying
    why it cannot be used."""
    url = image.url
    if not url.startswith(("http://", "https://")):
        raise ImageError(f"not an http(s) image URL: {url}")
    try:
        with session.get(url, stream=True) as response:
            if response.status_code != 200:
                raise ImageError(f"HTTP {response.status_code} for {url}")
            declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not declared.startswith("image/") and declared not in _UNDECLARED:
                raise ImageError(f"{url} is {declared}, not an image")
            data = read_body(
                response,
                max_bytes=max_bytes,
                deadline_at=getattr(response, "deadline_at", time.monotonic() + session.deadline),
                read_timeout=session.read_timeout,
                deadline=session.deadline,
            )
    except AddressRefusedError as error:
        hop = error.request.url if error.request is not None else url
        via = f"redirected to {hop}: " if hop != url else ""
        hint = f" ({ALLOW_PRIVATE_HINT})" if error.liftable else ""
        raise ImageError(f"image {url} refused: {via}{error}{hint}") from error
    except BodyTooLargeError:
        raise ImageError(f"{url} is larger than {max_bytes} bytes") from None
    except DeadlineExceededError as error:
        raise ImageError(
            f"cannot download {url} within the deadline of {session.deadline:g} s"
        ) from error
    except requests.RequestException as error:
        raise ImageError(f"cannot download {url}: {in_words(error)}") from error
    mime_type = sniff_image_type(data)
    if mime_type is None:
        raise ImageError(f"{url} is not a JPEG, PNG, GIF or WebP image")
    name = url.rsplit("/", 1)[-1].split("?", 1)[0] or "image"
    return MediaFile(data=data, mime_type=mime_type, alt=image.alt, filename=name)
