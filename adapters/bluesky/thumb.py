"""The link card's thumbnail: an image kept within the lexicon's ``maxSize`` for
``app.bsky.embed.external#external.thumb`` (1,000,000 bytes), with Pillow.

``uploadBlob`` itself takes bigger files (its limit is the PDS's, several megabytes); the
lexicon's limit is checked when the record that uses the blob is created, and a record refused
for its thumbnail would be a post refused for its image. So the size is FeedRelay's to keep:
an image that fits is sent as it is; a bigger one (or one of a type the app does not show) is
scaled down and recompressed as JPEG until it fits; one that cannot be read is left out.

Imported by ``adapters.bluesky.client`` only, when a post with an image is sent.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

MAX_THUMB_BYTES = 1_000_000  # app.bsky.embed.external#external.thumb maxSize
# Cards are shown at most about 600 pixels wide; 2000 leaves room for dense screens.
MAX_SIDE = 2000
SENT_AS_IS = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
_QUALITIES = (85, 75, 65, 50)


def thumbnail(
    data: bytes, mime_type: str, *, max_bytes: int = MAX_THUMB_BYTES
) -> tuple[bytes, str] | None:
    """``(data, mime type)`` of an image of at most ``max_bytes``, or ``None`` when the image
    cannot be read or made that small."""
    if mime_type in SENT_AS_IS and len(data) <= max_bytes:
        return data, mime_type
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.seek(0)  # the first frame of an animation
                image = _flattened(opened)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError):  # fmt: skip
        return None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    for _ in range(6):
        for quality in _QUALITIES:
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue(), "image/jpeg"
        width, height = image.size
        if width < 64 or height < 64:
            break
        image = image.resize((max(1, width * 3 // 4), max(1, height * 3 // 4)))
    return None


def _flattened(image: Image.Image) -> Image.Image:
    """The image in RGB, transparency laid over white (JPEG has no alpha)."""
    if image.mode in ("RGBA", "LA", "P") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
