"""Decode any image input to an RGB ``uint8`` HWC array (EXIF applied, first frame).

This is the one decode path that every entry point uses (datasets, ``predict``, the CLI).

Safety rules it follows:

* Only these encodings are decoded: JPEG (and MPO), PNG, GIF, WebP, BMP and TIFF. The type is
  sniffed from the magic bytes (:func:`sniff_image_type`), never trusted from the file name, and
  ``PIL.Image.open`` is restricted to those formats (so e.g. EPS, which would run Ghostscript,
  is never opened).
* The pixel limit (``max_pixels``) is checked from the header, *before* any pixel is decoded,
  so a decompression bomb (a tiny PNG claiming 100000 x 100000 pixels) costs nothing.
  Pillow's own global guard (``PIL.Image.MAX_IMAGE_PIXELS``) is never modified; when it fires
  (``DecompressionBombError``) it is reported as :class:`~logobrand.errors.ImageTooLargeError`,
  and its ``DecompressionBombWarning`` is silenced for our own calls because our per-call
  limit is checked right after the header is read.
* Truncated files raise instead of decoding as grey: ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is
  never set by logobrand, and if another library has set it, truncated JPEG and PNG data is
  still detected and rejected.
* Every failure is a :class:`~logobrand.errors.ImageDecodeError` (or its subclass
  :class:`~logobrand.errors.ImageTooLargeError`) whose message names the input. A missing
  file is an :class:`~logobrand.errors.ImageDecodeError` too (chained from the
  ``FileNotFoundError``), so a data loader can skip and count it like any undecodable file.
  URLs are fetched by :func:`logobrand.images_fetch.fetch_url`, which raises
  :class:`~logobrand.errors.FetchError`.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import struct
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps

from logobrand.errors import (
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidArgumentError,
    check_int,
)
from logobrand.image_types import SUPPORTED_FORMATS, describe_unknown, sniff_image_type

if TYPE_CHECKING:
    from logobrand.images_fetch import FetchPolicy

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_FILE_BYTES",
    "SUPPORTED_FORMATS",
    "ImageInput",
    "check_image_iterable",
    "describe_source",
    "load_image",
    "load_image_sized",
    "sniff_image_type",
]

logger = logging.getLogger(__name__)

ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, Image.Image]
"""Anything :func:`load_image` accepts: a path, a URL, encoded bytes, an array or a PIL image."""

MAX_FILE_BYTES = 512 * 1024 * 1024
"""Image files larger than this are refused before they are read (512 MiB)."""
DEFAULT_MAX_PIXELS = 64_000_000
"""Default pixel limit (width x height); larger images raise :class:`ImageTooLargeError`."""


# Pillow format ids that Image.open may use. (Multi-picture JPEGs from cameras, MPO, are
# opened by Pillow's JPEG opener.)
_PIL_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

# What Pillow raises on malformed input, found by fuzzing JPEG/PNG/GIF/WebP/BMP/TIFF data
# (see tests/test_fuzz_decode.py). Image.DecompressionBombError is handled separately.
_PIL_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    ValueError,
    SyntaxError,  # Pillow's "not a <format> file" and broken-header errors
    EOFError,
    struct.error,
    TypeError,  # TIFF with a non-integer strip offset
    OverflowError,  # TIFF with a strip offset beyond 2**63
    IndexError,  # listed by Pillow's own Image.open as a "not this format" error
)

# Image.open (header parsing) runs inside warnings.catch_warnings(), which is not thread-safe;
# the lock serialises our own uses. Only the header parse is inside it, not pixel decoding.
_OPEN_LOCK = threading.Lock()

_MAX_NAME_CHARS = 200

# "scheme://" with a scheme of two or more characters (so "C://x" stays a Windows path).
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def describe_source(source: object) -> str:
    """Return a short human-readable name of an input, for error messages.

    Args:
        source: Any input given to :func:`load_image`.

    Returns:
        The path or URL itself (shortened when very long), or a description such as
        ``"<1234 bytes (jpeg)>"``, ``"<array (480, 640, 3) uint8>"`` or
        ``"<PIL image (640, 480) RGB>"``.
    """
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if len(text) > _MAX_NAME_CHARS:
            text = text[: _MAX_NAME_CHARS - 3] + "..."
        return text
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source[:16])
        kind = sniff_image_type(data)
        suffix = f" ({kind})" if kind else ""
        return f"<{len(source)} bytes{suffix}>"
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
    fetch_policy: FetchPolicy | None = None,
) -> np.ndarray:
    """Decode ``source`` to an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Encoded images are decoded from their first frame, with the EXIF orientation applied,
    transparency composited on white, 16-bit samples scaled to 8 bits and CMYK converted to
    RGB. The result is always a new C-contiguous array that does not share memory with
    ``source``.

    Arrays are interpreted as RGB(A), never BGR (convert OpenCV images with
    ``cv2.cvtColor`` first): ``uint8`` as is; ``uint16`` scaled by 255/65535; floats in
    ``[0, 1]`` scaled by 255, floats in ``[0, 255]`` rounded; other integer types must lie in
    ``[0, 255]``; ``bool`` maps to 0/255. A 2-channel array is gray + alpha.

    Args:
        source: A file path, an ``http(s)`` URL, encoded bytes, a numpy array (``HxW``,
            ``HxWx1``, ``HxWx2``, ``HxWx3`` or ``HxWx4``) or a PIL image (used at its current
            frame).
        max_pixels: Refuse images with more pixels (width x height) than this. For encoded
            images this is checked from the header, before decoding. Pillow's own global
            limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 179 million pixels for an error)
            still applies on top; logobrand never changes it.
        draft_size: When given, large JPEGs are decoded at a reduced scale (1/2, 1/4 or
            1/8) whose shorter side is still at least this many pixels (the fast path for
            inference, where the photo is resized anyway). Other formats ignore it.
        fetch_policy: The :class:`~logobrand.images_fetch.FetchPolicy` used for URL inputs;
            defaults to :data:`~logobrand.images_fetch.DEFAULT_POLICY`. Anything server-like
            must pass :data:`~logobrand.images_fetch.SERVER_POLICY`.

    Returns:
        The decoded image, ``uint8``, shape ``(H, W, 3)``, RGB.

    Raises:
        ImageDecodeError: The input is missing, empty, truncated, not an image, of an
            unsupported format or type; the message names the input.
        ImageTooLargeError: The image exceeds ``max_pixels`` (or Pillow's own limit).
        FetchError: A URL input could not be fetched (see
            :func:`logobrand.images_fetch.fetch_url`).
        InvalidArgumentError: ``max_pixels`` or ``draft_size`` is not an integer >= 1.
    """
    return load_image_sized(
        source, max_pixels=max_pixels, draft_size=draft_size, fetch_policy=fetch_policy
    )[0]


def load_image_sized(
    source: ImageInput,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`load_image`, and the ``(width, height)`` of the photo at full resolution.

    With ``draft_size`` a large JPEG is decoded at a reduced scale; the size returned is
    still the full one (EXIF orientation applied), e.g. for boxes in the photo's own pixels.
    Arguments and errors as in :func:`load_image`.
    """
    check_int("max_pixels", max_pixels, 1)
    if draft_size is not None:
        check_int("draft_size", draft_size, 1)
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        return _sized(_array_to_rgb(source, name, max_pixels))
    if isinstance(source, Image.Image):
        return _sized(_pil_to_rgb(source, name, max_pixels))
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_source(source, name, fetch_policy)
    else:
        raise ImageDecodeError(
            f"unsupported image input {name}; pass a file path, an http(s) URL, encoded "
            "bytes, a numpy array or a PIL image"
        )
    return _decode_bytes(data, name, max_pixels, draft_size)


def load_image_sized_full(
    source: ImageInput,
    *,
    draft_size: int | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fetch_policy: FetchPolicy | None = None,
) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """:func:`load_image_sized`, and the photo at full resolution too (to draw on it).

    The source is read (or fetched) once. Its bytes are decoded a second time, at full size,
    only when the first decode was reduced (a large JPEG with ``draft_size``); otherwise both
    arrays are the same one. Arguments and errors as in :func:`load_image_sized`.

    Returns:
        ``(pixels, (width, height), full)``: the photo as :func:`load_image_sized` gives it,
        its full-resolution size, and its full-resolution pixels.
    """
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        pixels, size = load_image_sized(source, max_pixels=max_pixels)  # never reduced
        return pixels, size, pixels
    check_int("max_pixels", max_pixels, 1)
    if draft_size is not None:
        check_int("draft_size", draft_size, 1)
    name = describe_source(source)
    if isinstance(source, (str, os.PathLike)):
        data = _read_source(source, name, fetch_policy)
    else:
        data = bytes(source)
    pixels, size = _decode_bytes(data, name, max_pixels, draft_size)
    if pixels.shape[:2] == (size[1], size[0]):
        return pixels, size, pixels
    return pixels, size, _decode_bytes(data, name, max_pixels, None)[0]


def _sized(pixels: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    return pixels, (int(pixels.shape[1]), int(pixels.shape[0]))


def check_image_iterable(images: object, what: str = "images") -> None:
    """Raise unless ``images`` is an iterable of images rather than a single image.

    A single path string would otherwise be iterated character by character.

    Raises:
        InvalidArgumentError: ``images`` is one image (a path, bytes or a PIL image) or not
            iterable.

    Example:
        >>> check_image_iterable(["a.jpg"])  # fine
        >>> # check_image_iterable("a.jpg") raises: "... got a single str; wrap it in a list"
    """
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike, Image.Image)):
        example = f": [{images!r}]" if isinstance(images, (str, os.PathLike)) else ""
        raise InvalidArgumentError(
            f"{what} must be a list of images, got a single {type(images).__name__}; "
            f"wrap it in a list{example}"
        )
    if not hasattr(images, "__iter__"):
        raise InvalidArgumentError(
            f"{what} must be an iterable of images (paths, URLs, bytes, arrays or PIL "
            f"images), got {type(images).__name__}"
        )


def _read_source(source: str | os.PathLike[str], name: str, policy: FetchPolicy | None) -> bytes:
    """Read a path, or fetch a URL, into memory."""
    fspath = os.fspath(source)
    text = os.fsdecode(fspath) if isinstance(fspath, bytes) else fspath
    if _looks_like_url(text):
        from logobrand.images_fetch import fetch_url

        return fetch_url(text, policy=policy)
    if not text:
        raise ImageDecodeError(
            "an empty path was given (an unset variable?); pass an image file path or URL"
        )
    if text[:5].lower() == "data:":
        raise ImageDecodeError(
            f"{name}: data: URLs are not supported; decode the base64 payload and pass the bytes"
        )
    try:
        info = os.stat(text)
    except FileNotFoundError as exc:
        raise ImageNotFoundError(
            f"image file not found: {name}; check the path (relative paths are resolved "
            f"against {os.getcwd()})"
        ) from exc
    except ValueError as exc:  # an embedded NUL character
        raise ImageDecodeError(f"{name} is not a valid path: {exc}") from exc
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image file {name}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageDecodeError(f"{name} is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageDecodeError(
            f"{name} is not a regular file (a pipe, socket or device); pass an image file"
        )
    if info.st_size > MAX_FILE_BYTES:
        raise ImageTooLargeError(
            f"{name} is {info.st_size / 2**20:.0f} MiB; image files over "
            f"{MAX_FILE_BYTES // 2**20} MiB are refused: resize or recompress it"
        )
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ImageDecodeError(f"cannot read image file {name}: {reason}") from exc


def _reason(exc: BaseException) -> str:
    """An exception's message without the object reprs Pillow puts in it (``<_io.BytesIO
    object at 0x...>``): the caller names the input instead."""
    return re.sub(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>", "", str(exc)) or type(exc).__name__


def _looks_like_url(text: str) -> bool:
    """True for ``scheme://...`` strings; the fetcher refuses schemes other than http(s)."""
    return _URL_RE.match(text) is not None


def _decode_bytes(
    data: bytes, name: str, max_pixels: int, draft_size: int | None
) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode encoded image bytes, and give the full-resolution ``(width, height)`` (EXIF
    orientation applied); the one place that calls ``Image.open``."""
    if not data:
        raise ImageDecodeError(f"{name} is empty (0 bytes); expected a JPEG/PNG/WebP/GIF image")
    kind = sniff_image_type(data)
    if kind is None:
        raise ImageDecodeError(f"{name} is not a supported image: {describe_unknown(data)}")
    try:
        img = _open_header(data)
    except Image.DecompressionBombError as exc:
        raise _too_large_from_pillow(name, exc) from exc
    except _PIL_ERRORS as exc:
        raise ImageDecodeError(
            f"cannot decode {name}: its header is not a valid {kind.upper()} ({_reason(exc)}); "
            "the file is corrupt or only partly downloaded"
        ) from exc
    with img:
        _check_header_size(img, name, max_pixels)
        full = _oriented_size(img)
        pixels = _decode_jpeg_with_opencv(data, img, draft_size)
        if pixels is not None:
            return pixels, full if draft_size is not None else _sized(pixels)[1]
        if draft_size is not None and img.format in ("JPEG", "MPO"):
            try:
                img.draft("RGB", (draft_size, draft_size))
            except _PIL_ERRORS as exc:
                raise ImageDecodeError(
                    f"cannot decode {name} at reduced size: {_reason(exc)}"
                ) from exc
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise _too_large_from_pillow(name, exc) from exc
        except _PIL_ERRORS as exc:
            raise ImageDecodeError(
                f"cannot decode {name} as {kind.upper()}: {_reason(exc)}; the file is corrupt or "
                "truncated (only partly downloaded or copied)"
            ) from exc
        if ImageFile.LOAD_TRUNCATED_IMAGES:
            _reject_truncated(data, img, kind, name)
        pixels = _pil_to_rgb(img, name, max_pixels)
        return pixels, full if draft_size is not None else _sized(pixels)[1]


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of an opened image at full size, after its EXIF orientation."""
    width, height = img.size
    try:
        transposed = img.getexif().get(0x0112) in (5, 6, 7, 8)
    except _PIL_ERRORS:
        transposed = False
    return (height, width) if transposed else (width, height)


_OPENCV_JPEG_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _decode_jpeg_with_opencv(
    data: bytes, img: Image.Image, draft_size: int | None
) -> np.ndarray | None:
    """The fast path for complete RGB or grayscale JPEGs, or ``None`` to use Pillow.

    ``cv2.imdecode`` runs the same libjpeg-turbo as Pillow and writes straight into a numpy
    array, where Pillow's decode is followed by a copy out of its own image memory
    (``tobytes``) that costs about as much again: a 500 px photo takes 0.45 ms instead of
    1.1 ms. The pixels are identical (checked on 300 photos of ``../shared/data``, and in the
    tests for every EXIF orientation and reduced scale), OpenCV applies the EXIF orientation
    the same way, and the reduced scale is the one Pillow's ``draft`` picks (the largest of
    1/2, 1/4, 1/8 keeping both sides >= ``draft_size``). Everything else goes through Pillow,
    which reports problems precisely: other modes (CMYK, YCCK), multi-picture files, and files
    without an end-of-image marker after their last scan (truncated: OpenCV would fill the
    missing part with grey).
    """
    if img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return None
    last_scan = data.rfind(b"\xff\xda")
    if last_scan < 0 or data.find(b"\xff\xd9", last_scan) < 0:
        return None
    factor = 1
    if draft_size is not None:
        width, height = img.size
        fit = min(width // draft_size, height // draft_size)
        factor = max(f for f in (1, 2, 4, 8) if f <= max(fit, 1))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _OPENCV_JPEG_FLAGS[factor])
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        return None
    rgb: np.ndarray = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return rgb


def _open_header(data: bytes) -> ImageFile.ImageFile:
    """``Image.open`` restricted to the supported formats, with Pillow's bomb warning muted.

    Our own pixel limit is checked right after this returns, before any pixel is decoded, so
    Pillow's ``DecompressionBombWarning`` is redundant here; its ``DecompressionBombError`` is
    left to propagate. ``warnings.catch_warnings`` restores the filters on exit.
    """
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data), formats=_PIL_FORMATS)


def _check_header_size(img: Image.Image, name: str, max_pixels: int) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{name} declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name} has {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels}; it may be a decompression bomb. Raise max_pixels only if this "
            "image is trusted"
        )
    # TIFF allocates whole tiles, whose declared size may exceed the image itself.
    tile_size = getattr(img, "_tile_size", None)
    if isinstance(tile_size, tuple) and len(tile_size) == 2:
        tw, th = tile_size
        if isinstance(tw, int) and isinstance(th, int) and tw * th > max_pixels:
            raise ImageTooLargeError(
                f"{name} declares {tw}x{th}-pixel tiles, over the limit of {max_pixels} pixels"
            )


def _too_large_from_pillow(name: str, exc: Exception) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{name} is too large for Pillow's safety limit ({exc}); it may be a decompression "
        "bomb. If the image is trusted, the application may raise PIL.Image.MAX_IMAGE_PIXELS"
    )


def _reject_truncated(data: bytes, img: Image.Image, kind: str, name: str) -> None:
    """Second line of defence when another library set ``LOAD_TRUNCATED_IMAGES = True``.

    With that flag Pillow silently fills the missing part of a truncated file with grey, so
    check that the data reaches the end the format declares.
    """
    if kind == "jpeg":
        # No marker bytes occur inside entropy-coded data, so the end-of-image marker must
        # follow the last start-of-scan marker.
        last_scan = data.rfind(b"\xff\xda")
        complete = last_scan < 0 or data.find(b"\xff\xd9", last_scan) >= 0
    elif kind == "png":
        complete = data.rfind(b"IEND") >= 0
    elif kind == "gif":
        # The last data sub-block terminator (0) followed by the trailer (";").
        complete = data.endswith(b"\x00;")
    elif kind == "bmp":
        declared = int.from_bytes(data[2:6], "little")
        complete = declared == 0 or len(data) >= declared
    elif kind == "webp":
        complete = len(data) >= 8 + int.from_bytes(data[4:8], "little")
    else:  # tiff: every strip or tile must lie inside the data
        complete = _tiff_strips_inside(img, len(data))
    if not complete:
        raise ImageDecodeError(
            f"cannot decode {name}: the {kind.upper()} data is truncated (it ends before the "
            "end its header declares); the file was only partly downloaded or copied"
        )


def _tiff_strips_inside(img: Image.Image, size: int) -> bool:
    tags = getattr(img, "tag_v2", None)
    if tags is None:
        return True
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):  # strips, tiles
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is None or counts is None:
            continue
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        try:
            if any(int(o) + int(c) > size for o, c in zip(offsets, counts, strict=False)):
                return False
        except (TypeError, ValueError):  # malformed tags: cannot show the data is complete
            return False
    return True


def _pil_to_rgb(img: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    """Convert a PIL image (its current frame) to RGB ``uint8``, EXIF orientation applied."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name} has {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels}; raise max_pixels if this image is trusted"
        )
    try:
        img.load()
        img = _exif_transpose(img, name)
        mode = img.mode
        if mode.startswith("I") or mode == "F":
            return _array_to_rgb(_high_depth_array(img), name, max_pixels)
        if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
            return _composite_on_white(rgba)
        if mode != "RGB":
            img = img.convert("RGB")
        return np.array(img, dtype=np.uint8, copy=True)
    except Image.DecompressionBombError as exc:
        raise _too_large_from_pillow(name, exc) from exc
    except _PIL_ERRORS as exc:
        raise ImageDecodeError(f"cannot convert {name} to RGB: {_reason(exc)}") from exc


def _exif_transpose(img: Image.Image, name: str) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block leaves the image as stored."""
    try:
        rotated = ImageOps.exif_transpose(img)
    except _PIL_ERRORS as exc:
        logger.debug("ignoring malformed EXIF orientation of %s: %s", name, exc)
        return img
    return rotated if rotated is not None else img


def _high_depth_array(img: Image.Image) -> np.ndarray:
    """Pixels of a 16/32-bit integer or float PIL image as an array for :func:`_array_to_rgb`.

    ``I;16*`` is 16-bit data; mode ``I`` (32-bit) from a file is taken as 16-bit data too
    (clipped to 0..65535), which is what PNG and TIFF store; ``F`` follows the float rules.
    """
    arr = np.asarray(img)
    if img.mode == "F":
        return arr.astype(np.float64)
    if img.mode.startswith("I;16"):
        return arr.astype(np.uint16)
    clipped: np.ndarray = np.clip(arr, 0, 65535)
    return clipped.astype(np.uint16)


def _array_to_rgb(arr: np.ndarray, name: str, max_pixels: int) -> np.ndarray:
    """Validate and convert an array (see :func:`load_image` for the rules)."""
    if arr.size == 0:
        raise ImageDecodeError(f"{name} is empty (no pixels)")
    if arr.ndim == 3 and arr.shape[2] > 4 and arr.shape[0] in (1, 2, 3, 4):
        raise ImageDecodeError(
            f"{name}: expected HxW or HxWxC pixels (C = 1, 2, 3 or 4); this looks "
            "channels-first, transpose it with arr.transpose(1, 2, 0)"
        )
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ImageDecodeError(f"{name}: expected HxW or HxWxC pixels with C = 1, 2, 3 or 4")
    height, width = arr.shape[:2]
    if height * width > max_pixels:
        raise ImageTooLargeError(
            f"{name} has {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels}; raise max_pixels if this image is trusted"
        )
    pixels = _to_uint8(arr, name)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    if channels == 2:
        gray = np.repeat(pixels[:, :, :1], 3, axis=2)
        return _composite_on_white(np.concatenate([gray, pixels[:, :, 1:]], axis=2))
    if channels == 4:
        return _composite_on_white(pixels)
    return np.array(pixels, dtype=np.uint8, order="C", copy=True)


def _to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    dtype = arr.dtype
    if dtype == np.uint8:
        return arr
    if dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if dtype == np.uint16:
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(dtype, np.floating):
        values = arr.astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageDecodeError(f"{name} contains NaN or infinite values")
        low, high = float(values.min()), float(values.max())
        if low >= 0.0 and high <= 1.0:
            values = values * 255.0
        elif low < 0.0 or high > 255.0:
            raise ImageDecodeError(
                f"{name} has values in [{low:.3g}, {high:.3g}]; float images must lie in "
                "[0, 1] or [0, 255] (is it a normalised tensor? pass the raw image)"
            )
        return np.rint(values).astype(np.uint8)
    if np.issubdtype(dtype, np.integer):
        low_i, high_i = int(arr.min()), int(arr.max())
        if low_i < 0 or high_i > 255:
            raise ImageDecodeError(
                f"{name} has integer values in [{low_i}, {high_i}]; expected 0..255 "
                "(use uint16 for 16-bit images)"
            )
        return arr.astype(np.uint8)
    raise ImageDecodeError(
        f"{name} has unsupported dtype {dtype}; use uint8, uint16, bool, integers or floats"
    )


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite an ``(H, W, 4)`` uint8 RGBA array on a white background (exact rounding)."""
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    rgb = rgba[:, :, :3].astype(np.uint32)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(out.astype(np.uint8))
