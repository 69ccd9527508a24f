"""Decode any image input to an RGB ``uint8`` HWC array (EXIF applied, first frame).

This is the one decode path that every entry point uses (datasets, ``predict``, the CLI).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from logobrand.errors import ImageDecodeError, ImageTooLargeError

ImageInput = Union[str, "os.PathLike[str]", bytes, np.ndarray, Image.Image]
"""Anything :func:`load_image` accepts: a path, a URL, encoded bytes, an array or a PIL image."""

DEFAULT_MAX_PIXELS = 64_000_000
"""Default pixel limit (width x height); larger images raise :class:`ImageTooLargeError`."""


def describe_source(source: object) -> str:
    """Return a short human-readable name of an input, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.size} {source.mode}>"
    return f"<{type(source).__name__}>"


def load_image(
    source: ImageInput,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> np.ndarray:
    """Decode ``source`` to an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        source: A file path, an ``http(s)`` URL, encoded bytes, a numpy array (HW, HWC with 1,
            3 or 4 channels) or a PIL image.
        max_pixels: Refuse images with more pixels than this.
        draft_size: When given, large JPEGs may be decoded at a reduced scale whose shorter
            side is still at least this many pixels (fast path for inference).

    Raises:
        ImageDecodeError: The input is not a decodable image; the message names it.
        ImageTooLargeError: The image exceeds ``max_pixels``.
    """
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, name)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source, name, max_pixels)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if text.startswith(("http://", "https://")):
            from logobrand.images_fetch import fetch_url

            data = fetch_url(text)
        else:
            try:
                data = Path(text).read_bytes()
            except OSError as exc:
                raise ImageDecodeError(f"cannot read image file {name}: {exc.strerror}") from exc
    else:
        raise ImageDecodeError(f"unsupported image input {name}")
    if not data:
        raise ImageDecodeError(f"{name} is empty (0 bytes); expected a JPEG/PNG/WebP/GIF image")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))
            return _pil_to_rgb(img, name, max_pixels)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"cannot decode {name} as an image: {exc}") from exc


def _pil_to_rgb(img: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name} has {width}x{height} pixels, over the limit of {max_pixels}; "
            "raise max_pixels if this image is trusted"
        )
    img.seek(0)
    img.load()
    img = ImageOps.exif_transpose(img)
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            img = background
        elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr16 = np.asarray(img, dtype=np.float64)
            peak = max(float(arr16.max()), 1.0)
            scale = 255.0 / (65535.0 if peak > 255 else 255.0)
            gray = np.clip(arr16 * scale, 0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        else:
            img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _array_to_rgb(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.size == 0:
        raise ImageDecodeError(f"{name} is empty")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.max(initial=0) <= 1.0:
            arr = np.clip(arr * 255.0, 0, 255).astype(np.uint8)
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageDecodeError(f"{name}: expected HxW, HxWx1, HxWx3 or HxWx4 pixels")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(arr)
