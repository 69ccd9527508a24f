"""What encoded bytes are: image magic numbers, and a readable guess for anything else.

The one module both the decoder (:mod:`logobrand.images`) and the URL fetcher
(:mod:`logobrand.images_fetch`) read, so that neither imports the other's internals.
"""

from __future__ import annotations

SUPPORTED_FORMATS: tuple[str, ...] = ("jpeg", "png", "gif", "webp", "bmp", "tiff")
"""The encodings :func:`logobrand.images.load_image` decodes, as named by
:func:`sniff_image_type`."""


def sniff_image_type(data: bytes) -> str | None:
    """Identify an encoded image from its first bytes (magic numbers).

    Args:
        data: The start of the encoded file; 12 bytes are enough.

    Returns:
        One of ``"jpeg"``, ``"png"``, ``"gif"``, ``"webp"``, ``"bmp"``, ``"tiff"``, or ``None``
        when the bytes do not start like any of them.
    """
    head = bytes(data[:12])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 6:
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    return None


def describe_unknown(data: bytes) -> str:
    """Say what non-image bytes look like, for the error message."""
    head = data[:512]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n\x00").lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        stripped.startswith(b"<") and b"<html" in stripped
    ):
        return (
            "it looks like HTML/text, not an image (was a web page saved instead of the "
            "image itself?)"
        )
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in head):
        return "it looks like an SVG (vector graphics), which is not supported; rasterise it"
    if stripped.startswith(b"%pdf"):
        return "it looks like a PDF document, not an image"
    if head[4:8] == b"ftyp":
        return (
            "it looks like HEIC/AVIF or a video (ISO media container), which is not "
            "supported; convert it to JPEG or PNG"
        )
    if _is_mostly_text(head):
        return "it looks like HTML/text, not an image (was an error page or text file saved?)"
    supported = ", ".join(f.upper() for f in SUPPORTED_FORMATS)
    return f"unknown format (first bytes {data[:8].hex(' ')}); supported formats: {supported}"


def _is_mostly_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the sample.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    if not text:
        return False
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return printable / len(text) >= 0.95


__all__ = ["SUPPORTED_FORMATS", "describe_unknown", "sniff_image_type"]
