"""Tests for the one decode path, :func:`logobrand.images.load_image`.

Every image is generated here, tiny. ``BAD_INPUTS`` is the catalogue of bad inputs that must be
rejected with a typed error naming the input; its size and pass count are printed at the end
of the module's run.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

import logobrand.images
import logobrand.images_fetch  # (imported to check it leaves Pillow's flags alone)
from logobrand.errors import (
    FetchError,
    ImageDecodeError,
    ImageTooLargeError,
    InvalidArgumentError,
    LogoBrandError,
)
from logobrand.images import (
    DEFAULT_MAX_PIXELS,
    describe_source,
    load_image,
    sniff_image_type,
)

# ---------------------------------------------------------------------------------------------
# Generators


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    """Encode a PIL image to bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def blocks(height: int = 40, width: int = 60) -> np.ndarray:
    """Grey image with a red top-left block and a blue bottom-right block (JPEG-friendly)."""
    arr = np.full((height, width, 3), 128, np.uint8)
    arr[: height // 3, : width // 3] = (255, 0, 0)
    arr[-height // 3 :, -width // 3 :] = (0, 0, 255)
    return arr


def gradient(height: int, width: int) -> np.ndarray:
    """A smooth RGB gradient."""
    y = np.linspace(0, 255, height)[:, None]
    x = np.linspace(0, 255, width)[None, :]
    return np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2],
        axis=2,
    ).astype(np.uint8)


def jpeg(arr: np.ndarray, *, orientation: int | None = None, **kwargs: object) -> bytes:
    """Encode an RGB array as JPEG, optionally with an EXIF orientation tag."""
    img = Image.fromarray(arr)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    return encode(img, "JPEG", quality=95, **kwargs)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_claiming(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header claims ``width`` x ``height`` pixels (a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to claim ``width`` x ``height``."""
    data = bytearray(jpeg(blocks(16, 16)))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    """A small GIF whose logical screen claims ``width`` x ``height``."""
    data = bytearray(encode(Image.fromarray(blocks(8, 8)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def animated(fmt: str) -> bytes:
    """A two-frame animation: red, then blue."""
    red = Image.new("RGB", (12, 10), (255, 0, 0))
    blue = Image.new("RGB", (12, 10), (0, 0, 255))
    kwargs: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    return encode(red, fmt, save_all=True, append_images=[blue], duration=100, **kwargs)


def close_to(actual: np.ndarray, expected: np.ndarray, tol: float) -> bool:
    """Mean absolute difference below ``tol``."""
    return bool(np.abs(actual.astype(np.int32) - expected.astype(np.int32)).mean() < tol)


def assert_rgb(out: np.ndarray, shape: tuple[int, int]) -> None:
    """The output contract: uint8, (H, W, 3), C-contiguous."""
    assert out.dtype == np.uint8
    assert out.shape == (*shape, 3)
    assert out.flags.c_contiguous


# ---------------------------------------------------------------------------------------------
# Decoding: every mode and container decodes correctly


def test_rgb_png_round_trip_is_exact(tmp_path: Path) -> None:
    arr = gradient(20, 30)
    path = tmp_path / "a.png"
    path.write_bytes(encode(Image.fromarray(arr), "PNG"))
    for source in (path, str(path), path.read_bytes(), bytearray(path.read_bytes())):
        out = load_image(source)
        assert_rgb(out, (20, 30))
        np.testing.assert_array_equal(out, arr)
    np.testing.assert_array_equal(load_image(memoryview(path.read_bytes())), arr)


def test_grayscale_l() -> None:
    gray = gradient(10, 12)[:, :, 0]
    out = load_image(encode(Image.fromarray(gray, "L"), "PNG"))
    assert_rgb(out, (10, 12))
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray)


def test_bilevel_mode_1() -> None:
    img = Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).convert("1")
    out = load_image(encode(img, "PNG"))
    np.testing.assert_array_equal(out[:, :, 0], [[0, 255], [255, 0]])


def _palette_image(transparent: bool) -> Image.Image:
    img = Image.new("P", (4, 2))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putdata([0, 1, 0, 1, 1, 0, 1, 0])
    if transparent:
        img.info["transparency"] = 1
    return img


def test_palette_without_transparency() -> None:
    out = load_image(encode(_palette_image(False), "PNG"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (0, 0, 255)


def test_palette_with_transparency_composites_on_white() -> None:
    img = _palette_image(True)
    out = load_image(encode(img, "PNG", transparency=1))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)  # the transparent index becomes white
    out_gif = load_image(encode(img, "GIF", transparency=1))
    assert tuple(out_gif[0, 1]) == (255, 255, 255)


def test_rgba_composited_on_white() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (255, 0, 0, 0)  # fully transparent
    rgba[1, 0] = (255, 0, 0, 128)  # half red
    rgba[1, 1] = (0, 0, 0, 51)  # 20 % black
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[1, 0]) == (255, 127, 127)
    assert tuple(out[1, 1]) == (204, 204, 204)
    # An RGBA array gives the same result as the encoded RGBA image.
    np.testing.assert_array_equal(load_image(rgba), out)


def test_la_composited_on_white() -> None:
    la = np.zeros((1, 2, 2), np.uint8)
    la[0, 0] = (0, 255)
    la[0, 1] = (0, 0)
    out = load_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    np.testing.assert_array_equal(load_image(la), out)


def test_16bit_gray_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 128 * 257, 65535, 255]], np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode.startswith("I")
    out = load_image(data)
    # 255/65535 of full scale is ~1/255: a dark 16-bit pixel stays dark.
    np.testing.assert_array_equal(out[:, :, 0], [[0, 128, 255, 1]])


def test_16bit_rgb_png() -> None:
    bgr16 = np.zeros((1, 3, 3), np.uint16)
    bgr16[0, 0] = (0, 0, 0xFFFF)  # red in BGR
    bgr16[0, 1] = (0x8080, 0x8080, 0x8080)
    ok, buf = cv2.imencode(".png", bgr16)
    assert ok
    out = load_image(buf.tobytes())
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert np.all(np.abs(out[0, 1].astype(int) - 128) <= 1)
    assert tuple(out[0, 2]) == (0, 0, 0)


def test_cmyk_jpeg_has_correct_colours() -> None:
    for cmyk, rgb in (
        ((0, 255, 255, 0), (255, 0, 0)),
        ((255, 0, 255, 0), (0, 255, 0)),
        ((0, 0, 0, 0), (255, 255, 255)),
    ):
        data = encode(Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=95)
        out = load_image(data)
        assert_rgb(out, (16, 16))
        assert np.all(np.abs(out[8, 8].astype(int) - rgb) <= 8), (cmyk, out[8, 8])


def test_progressive_jpeg() -> None:
    arr = blocks()
    data = jpeg(arr, progressive=True)
    with Image.open(io.BytesIO(data)) as img:
        assert img.info.get("progressive") or img.info.get("progression")
    out = load_image(data)
    assert_rgb(out, (40, 60))
    assert close_to(out, arr, 4)


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        (1, lambda a: a),
        (2, lambda a: a[:, ::-1]),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # rotate 90 degrees clockwise to display
        (8, lambda a: np.rot90(a, 1)),
    ],
)
def test_exif_orientation_is_applied(
    orientation: int, expected: Callable[[np.ndarray], np.ndarray]
) -> None:
    arr = blocks(40, 60)
    out = load_image(jpeg(arr, orientation=orientation))
    want = expected(arr)
    assert out.shape == want.shape
    assert close_to(out, want, 6)


def test_webp_lossless_and_lossy() -> None:
    arr = gradient(16, 24)
    np.testing.assert_array_equal(
        load_image(encode(Image.fromarray(arr), "WEBP", lossless=True)), arr
    )
    assert close_to(load_image(encode(Image.fromarray(arr), "WEBP", quality=90)), arr, 6)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_decodes_first_frame(fmt: str) -> None:
    data = animated(fmt)
    with Image.open(io.BytesIO(data)) as img:
        assert getattr(img, "n_frames", 1) == 2
    out = load_image(data)
    assert_rgb(out, (10, 12))
    assert np.all(out == (255, 0, 0))


def test_bmp_and_tiff() -> None:
    arr = gradient(9, 7)
    for fmt in ("BMP", "TIFF"):
        np.testing.assert_array_equal(load_image(encode(Image.fromarray(arr), fmt)), arr)
    deflated = encode(Image.fromarray(arr), "TIFF", compression="tiff_deflate")
    np.testing.assert_array_equal(load_image(deflated), arr)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 5000), (5000, 1)])
def test_tiny_and_very_thin_images(height: int, width: int) -> None:
    arr = gradient(height, width)
    assert_rgb(load_image(encode(Image.fromarray(arr), "PNG")), (height, width))
    assert_rgb(load_image(jpeg(arr)), (height, width))


# ---------------------------------------------------------------------------------------------
# numpy and PIL inputs


def test_arrays_of_every_layout() -> None:
    rgb = gradient(4, 5)
    gray = rgb[:, :, 0]
    np.testing.assert_array_equal(load_image(rgb), rgb)
    np.testing.assert_array_equal(load_image(gray), np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(load_image(gray[:, :, None]), load_image(gray))
    rgba = np.concatenate([rgb, np.full((4, 5, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(load_image(rgba), rgb)
    gray_alpha = np.stack([gray, np.full_like(gray, 255)], axis=2)
    np.testing.assert_array_equal(load_image(gray_alpha), load_image(gray))


def test_array_dtypes() -> None:
    rgb = gradient(4, 5)
    np.testing.assert_array_equal(load_image(rgb.astype(np.float32) / 255.0), rgb)
    np.testing.assert_array_equal(load_image(rgb.astype(np.float64)), rgb)
    np.testing.assert_array_equal(load_image(rgb.astype(np.uint16) * 257), rgb)
    np.testing.assert_array_equal(load_image(rgb.astype(np.int64)), rgb)
    mask = np.array([[True, False]])
    np.testing.assert_array_equal(load_image(mask)[:, :, 0], [[255, 0]])


def test_array_output_is_a_fresh_contiguous_copy() -> None:
    rgb = gradient(6, 8)
    out = load_image(rgb)
    assert not np.shares_memory(out, rgb)
    bgr_view = rgb[:, ::-1, ::-1]  # negative strides
    out_view = load_image(bgr_view)
    assert out_view.flags.c_contiguous
    np.testing.assert_array_equal(out_view, bgr_view)


def test_pil_images() -> None:
    arr = gradient(6, 8)
    np.testing.assert_array_equal(load_image(Image.fromarray(arr)), arr)
    gray = Image.fromarray(arr[:, :, 0], "L")
    assert load_image(gray).shape == (6, 8, 3)
    rgba = Image.fromarray(np.dstack([arr, np.zeros((6, 8), np.uint8)]), "RGBA")
    assert np.all(load_image(rgba) == 255)
    i16 = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    assert np.all(load_image(i16) == 255)
    floats = Image.fromarray(np.full((2, 2), 0.5, np.float32), "F")
    assert np.all(load_image(floats) == 128)


def test_pil_image_is_used_at_its_current_frame_and_not_modified() -> None:
    with Image.open(io.BytesIO(animated("GIF"))) as img:
        img.seek(1)
        out = load_image(img)
        assert img.tell() == 1
        assert np.all(out == (0, 0, 255))


def test_pil_exif_orientation_applies_to_pil_input() -> None:
    arr = blocks(40, 60)
    with Image.open(io.BytesIO(jpeg(arr, orientation=6))) as img:
        out = load_image(img)
        assert img.size == (60, 40)  # the caller's image is not rotated in place
    assert out.shape == (60, 40, 3)


# ---------------------------------------------------------------------------------------------
# draft_size: the fast JPEG path


def test_draft_size_reduces_large_jpegs_but_keeps_the_requested_side() -> None:
    arr = gradient(600, 800)
    data = jpeg(arr)
    full = load_image(data)
    assert full.shape == (600, 800, 3)
    for draft in (100, 150, 300, 599):
        out = load_image(data, draft_size=draft)
        assert min(out.shape[:2]) >= draft
        assert out.shape[0] < 600 or draft > 300
        # Same picture, smaller: compare with a plain resize of the full decode.
        resized = cv2.resize(full, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)
        assert close_to(out, resized, 6)
    assert load_image(data, draft_size=100).shape == (150, 200, 3)  # scale 1/4


def test_draft_size_keeps_exif_orientation() -> None:
    arr = blocks(600, 800)
    out = load_image(jpeg(arr, orientation=6), draft_size=100)
    assert out.shape == (200, 150, 3)
    want = cv2.resize(np.rot90(arr, -1), (150, 200), interpolation=cv2.INTER_AREA)
    assert close_to(out, want, 8)


def test_draft_size_never_enlarges_and_ignores_other_formats() -> None:
    small = gradient(40, 50)
    assert load_image(jpeg(small), draft_size=100).shape == (40, 50, 3)
    big_png = encode(Image.fromarray(gradient(300, 400)), "PNG")
    assert load_image(big_png, draft_size=50).shape == (300, 400, 3)


# ---------------------------------------------------------------------------------------------
# Limits


def test_max_pixels_boundary() -> None:
    data = encode(Image.fromarray(gradient(100, 100)), "PNG")
    assert load_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageTooLargeError, match="10000 pixels, over the limit of 9999"):
        load_image(data, max_pixels=9_999)
    with pytest.raises(ImageTooLargeError):
        load_image(gradient(100, 100), max_pixels=9_999)
    with pytest.raises(ImageTooLargeError):
        load_image(Image.fromarray(gradient(100, 100)), max_pixels=9_999)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "64"])
def test_invalid_limits_are_argument_errors(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_pixels"):
        load_image(gradient(2, 2), max_pixels=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="draft_size"):
        load_image(gradient(2, 2), draft_size=bad)  # type: ignore[arg-type]


def test_bombs_are_refused_from_the_header_without_decoding() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # 10^10 pixels: beyond Pillow's own limit (DecompressionBombError inside Pillow).
        with pytest.raises(ImageTooLargeError, match="decompression bomb"):
            load_image(png_claiming(100_000, 100_000))
        # Even a caller who raises our limit is stopped by Pillow's, as ImageTooLargeError.
        with pytest.raises(ImageTooLargeError, match="Pillow"):
            load_image(png_claiming(100_000, 100_000), max_pixels=10**12)
        # 10^8 pixels: Pillow would only warn; our header check refuses it.
        with pytest.raises(ImageTooLargeError, match="10000x10000"):
            load_image(png_claiming(10_000, 10_000))
        # 8.1e7 pixels: under Pillow's limit, over ours.
        with pytest.raises(ImageTooLargeError, match="9000x9000"):
            load_image(png_claiming(9_000, 9_000))
        with pytest.raises(ImageTooLargeError):
            load_image(jpeg_claiming(60_000, 60_000))
        with pytest.raises(ImageTooLargeError, match="9000x9000"):
            load_image(jpeg_claiming(9_000, 9_000))
        with pytest.raises(ImageTooLargeError):
            load_image(gif_claiming(65_535, 65_535))
    assert before == Image.MAX_IMAGE_PIXELS
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_default_limit_value() -> None:
    assert DEFAULT_MAX_PIXELS == 64_000_000
    defaults = load_image.__kwdefaults__
    assert defaults is not None
    assert defaults["max_pixels"] == DEFAULT_MAX_PIXELS


# ---------------------------------------------------------------------------------------------
# Truncation


def test_pillow_truncation_flag_is_left_off() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("progressive", [False, True])
def test_every_truncated_jpeg_prefix_is_rejected(progressive: bool) -> None:
    data = jpeg(gradient(24, 24), progressive=progressive)
    for cut in range(1, len(data), 7):
        with pytest.raises(ImageDecodeError, match="bytes"):
            load_image(data[:cut])


TRUNCATABLE: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: jpeg(gradient(32, 32)),
    "png": lambda: encode(Image.fromarray(gradient(32, 32)), "PNG"),
    "gif": lambda: encode(Image.fromarray(gradient(32, 32)), "GIF"),
    "bmp": lambda: encode(Image.fromarray(gradient(32, 32)), "BMP"),
    "tiff": lambda: encode(Image.fromarray(gradient(32, 32)), "TIFF"),
    "webp": lambda: encode(Image.fromarray(gradient(32, 32)), "WEBP"),
}


@pytest.mark.parametrize("kind", sorted(TRUNCATABLE))
def test_truncation_is_caught_even_if_another_library_set_the_pillow_flag(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = TRUNCATABLE[kind]()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert load_image(data).shape == (32, 32, 3)  # complete files still decode
    for fraction in (0.3, 0.6, 0.9):
        with pytest.raises(ImageDecodeError):
            load_image(data[: int(len(data) * fraction)])


# ---------------------------------------------------------------------------------------------
# Sniffing and naming


def test_sniff_image_type() -> None:
    img = Image.fromarray(gradient(4, 4))
    assert sniff_image_type(jpeg(gradient(4, 4))) == "jpeg"
    for fmt, kind in (("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp")):
        assert sniff_image_type(encode(img, fmt)) == kind
    assert sniff_image_type(encode(img, "TIFF")) == "tiff"
    assert sniff_image_type(b"MM\x00*\x00\x00\x00\x08") == "tiff"
    for junk in (b"", b"\xff\xd8", b"<html>", b"RIFF\x00\x00\x00\x00WAVE", b"GIF90a", b"BM"):
        assert sniff_image_type(junk) is None


def test_describe_source() -> None:
    assert describe_source("a/b.jpg") == "a/b.jpg"
    assert describe_source(Path("a/b.jpg")) == str(Path("a/b.jpg"))
    assert describe_source(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8) == "<16 bytes (png)>"
    assert describe_source(b"abc") == "<3 bytes>"
    assert describe_source(np.zeros((2, 3), np.uint8)) == "<array (2, 3) uint8>"
    assert describe_source(Image.new("L", (3, 2))) == "<PIL image (3, 2) L>"
    assert describe_source(42) == "<int>"
    assert len(describe_source("x" * 1000)) == 200


def test_missing_file_is_an_image_decode_error_chained_from_file_not_found(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageDecodeError, match="not found") as info:
        load_image(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_concurrent_decoding_leaves_global_state_alone() -> None:
    good = encode(Image.fromarray(gradient(32, 32)), "PNG")
    bomb = png_claiming(100_000, 100_000)
    filters_before = list(warnings.filters)

    def work(i: int) -> str:
        try:
            load_image(bomb if i % 3 == 0 else good)
        except ImageTooLargeError:
            return "too-large"
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(60)))
    assert results.count("too-large") == 20
    assert results.count("ok") == 40
    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS is not None
    assert threading.active_count() >= 1


# ---------------------------------------------------------------------------------------------
# The bad-input catalogue


@dataclass(frozen=True)
class BadInput:
    """One bad input, the error it must raise and words its message must contain."""

    name: str
    make: Callable[[Path], object]
    error: type[LogoBrandError]
    says: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()


def _file(name: str, data: bytes) -> Callable[[Path], object]:
    def make(tmp_path: Path) -> object:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return make


def _value(value: object) -> Callable[[Path], object]:
    return lambda _tmp: value


_JPEG = jpeg(gradient(32, 32))
_PJPEG = jpeg(gradient(32, 32), progressive=True)
_PNG = encode(Image.fromarray(gradient(32, 32)), "PNG")
_GIF = encode(Image.fromarray(gradient(32, 32)), "GIF")
_WEBP = encode(Image.fromarray(gradient(32, 32)), "WEBP")
_BMP = encode(Image.fromarray(gradient(32, 32)), "BMP")
_TIFF = encode(Image.fromarray(gradient(32, 32)), "TIFF")
_RANDOM = np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes()
_HTML = b"<!DOCTYPE html>\n<html><head><title>Photo</title></head><body>...</body></html>\n"
_BAD_CRC_PNG = _PNG[:29] + b"\x00\x00\x00\x00" + _PNG[33:]  # IHDR CRC zeroed

BAD_INPUTS: list[BadInput] = [
    BadInput("empty bytes", _value(b""), ImageDecodeError, ("empty",)),
    BadInput("empty file", _file("empty.jpg", b""), ImageDecodeError, ("empty",)),
    BadInput("missing path", lambda t: t / "missing.jpg", ImageDecodeError, ("not found",)),
    BadInput("missing str path", lambda t: str(t / "gone.png"), ImageDecodeError, ("not found",)),
    BadInput("directory", lambda t: t, ImageDecodeError, ("directory",)),
    BadInput(
        "truncated JPEG (half)", _file("half.jpg", _JPEG[: len(_JPEG) // 2]), ImageDecodeError
    ),
    BadInput("truncated JPEG (header only)", _value(_JPEG[:200]), ImageDecodeError),
    BadInput("truncated JPEG (last 2 bytes cut)", _value(_JPEG[:-2]), ImageDecodeError),
    BadInput("truncated progressive JPEG", _value(_PJPEG[: len(_PJPEG) // 2]), ImageDecodeError),
    BadInput("truncated PNG", _file("cut.png", _PNG[: len(_PNG) // 2]), ImageDecodeError),
    BadInput("truncated GIF", _value(_GIF[: len(_GIF) // 2]), ImageDecodeError),
    BadInput("truncated WebP", _value(_WEBP[: len(_WEBP) // 2]), ImageDecodeError),
    BadInput("truncated BMP", _value(_BMP[: len(_BMP) // 2]), ImageDecodeError),
    BadInput("truncated TIFF", _value(_TIFF[: len(_TIFF) // 2]), ImageDecodeError),
    BadInput("random bytes .jpg", _file("noise.jpg", _RANDOM), ImageDecodeError, ("unknown",)),
    BadInput(
        "HTML saved as .jpg",
        _file("page.jpg", _HTML),
        ImageDecodeError,
        ("looks like HTML/text, not an image",),
    ),
    BadInput(
        "JSON error body saved as .png",
        _file("err.png", b'{"error": "forbidden", "code": 403}'),
        ImageDecodeError,
        ("looks like HTML/text, not an image",),
    ),
    BadInput(
        "SVG",
        _value(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>'),
        ImageDecodeError,
        ("SVG",),
    ),
    BadInput("PDF", _value(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), ImageDecodeError, ("PDF",)),
    BadInput(
        "HEIC", _value(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), ImageDecodeError, ("HEIC",)
    ),
    BadInput(
        "ICO (Pillow reads it, we do not)",
        _value(encode(Image.new("RGB", (16, 16)), "ICO")),
        ImageDecodeError,
        ("not a supported image",),
    ),
    BadInput("JPEG magic + garbage", _value(b"\xff\xd8\xff\xe0" + _RANDOM), ImageDecodeError),
    BadInput("PNG magic + garbage", _value(_PNG[:8] + _RANDOM), ImageDecodeError),
    BadInput("PNG with a bad IHDR CRC", _value(_BAD_CRC_PNG), ImageDecodeError),
    BadInput("GIF signature only", _value(b"GIF89a"), ImageDecodeError),
    BadInput("WebP RIFF header only", _value(b"RIFF\x10\x00\x00\x00WEBPVP8 "), ImageDecodeError),
    BadInput("BMP magic + garbage", _value(b"BM" + _RANDOM[:100]), ImageDecodeError),
    BadInput("TIFF magic + garbage", _value(b"II*\x00" + _RANDOM[:100]), ImageDecodeError),
    BadInput(
        "PNG bomb 100000x100000",
        _file("bomb.png", png_claiming(100_000, 100_000)),
        ImageTooLargeError,
        ("decompression bomb",),
    ),
    BadInput(
        "PNG 9000x9000 over default limit", _value(png_claiming(9000, 9000)), ImageTooLargeError
    ),
    BadInput(
        "JPEG claiming 60000x60000", _value(jpeg_claiming(60_000, 60_000)), ImageTooLargeError
    ),
    BadInput("GIF claiming 65535x65535", _value(gif_claiming(65_535, 65_535)), ImageTooLargeError),
    BadInput(
        "small image over a custom limit",
        _value(_PNG),
        ImageTooLargeError,
        ("over the limit of 100",),
        (("max_pixels", 100),),
    ),
    BadInput(
        "array over a custom limit",
        _value(np.zeros((20, 20, 3), np.uint8)),
        ImageTooLargeError,
        (),
        (("max_pixels", 100),),
    ),
    BadInput("empty array", _value(np.zeros((0, 5, 3), np.uint8)), ImageDecodeError, ("empty",)),
    BadInput("1-D array", _value(np.zeros(12, np.uint8)), ImageDecodeError, ("HxW",)),
    BadInput("5-channel array", _value(np.zeros((4, 4, 5), np.uint8)), ImageDecodeError),
    BadInput(
        "channels-first array",
        _value(np.zeros((3, 32, 32), np.float32)),
        ImageDecodeError,
        ("channels-first",),
    ),
    BadInput("float array with NaN", _value(np.full((2, 2), np.nan)), ImageDecodeError, ("NaN",)),
    BadInput(
        "normalised tensor (negative floats)",
        _value(np.full((2, 2, 3), -1.5, np.float32)),
        ImageDecodeError,
        ("normalised",),
    ),
    BadInput("int array above 255", _value(np.full((2, 2), 300, np.int32)), ImageDecodeError),
    BadInput("complex array", _value(np.zeros((2, 2), np.complex64)), ImageDecodeError),
    BadInput("unsupported type", _value(42), ImageDecodeError, ("unsupported image input",)),
    BadInput("file:// URL", _value("file:///etc/passwd"), FetchError, ("http",)),
    BadInput("ftp:// URL", _value("ftp://example.com/a.jpg"), FetchError, ("http",)),
]


def check_bad_input(case: BadInput, tmp_path: Path) -> None:
    """Assert that ``case`` raises its typed error, naming the input and saying the words."""
    source = case.make(tmp_path)
    with pytest.raises(case.error) as info:
        load_image(source, **dict(case.kwargs))  # type: ignore[arg-type]
    message = str(info.value)
    assert isinstance(info.value, LogoBrandError)
    assert describe_source(source) in message, message
    for words in case.says:
        assert words in message, message


def test_catalogue_is_large_and_uniquely_named() -> None:
    names = [case.name for case in BAD_INPUTS]
    assert len(names) == len(set(names))
    assert len(BAD_INPUTS) >= 40


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF in junk
@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input_is_rejected_with_a_typed_error_naming_it(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bad_input_catalogue_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs the whole catalogue once more and prints how many cases pass (for the notes)."""
    failed = []
    for i, case in enumerate(BAD_INPUTS):
        folder = tmp_path / str(i)
        folder.mkdir()
        try:
            check_bad_input(case, folder)
        except AssertionError as exc:  # pytest.raises failures are AssertionErrors
            failed.append(f"{case.name}: {exc}")
    with capsys.disabled():
        print(
            f"\nbad-input catalogue: {len(BAD_INPUTS)} cases, "
            f"{len(BAD_INPUTS) - len(failed)} rejected with the expected typed error naming "
            "the input"
        )
    assert not failed, failed


# -- the OpenCV fast path for JPEGs equals the Pillow path --------------------------------------


def _pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import logobrand.images as images

    monkeypatch.setattr(images, "_decode_jpeg_with_opencv", lambda *args: None)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("draft", [None, 100, 150, 290])
def test_opencv_jpeg_path_equals_the_pillow_path(
    orientation: int, draft: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = jpeg(blocks(601, 803), orientation=orientation)
    fast = load_image(data, draft_size=draft)
    _pillow_only(monkeypatch)
    slow = load_image(data, draft_size=draft)
    assert fast.shape == slow.shape and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, slow)


def test_opencv_jpeg_path_equals_the_pillow_path_for_grayscale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.BytesIO()
    Image.fromarray(gradient(90, 70)[..., 0]).save(buffer, format="JPEG", quality=90)
    fast = load_image(buffer.getvalue())
    _pillow_only(monkeypatch)
    np.testing.assert_array_equal(fast, load_image(buffer.getvalue()))


def test_plain_jpegs_take_the_opencv_path_and_cmyk_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logobrand.images as images

    taken: list[bool] = []
    real = images._decode_jpeg_with_opencv

    def spy(*args: object) -> np.ndarray | None:
        out = real(*args)  # type: ignore[arg-type]
        taken.append(out is not None)
        return out

    monkeypatch.setattr(images, "_decode_jpeg_with_opencv", spy)
    load_image(jpeg(blocks(64, 48)))
    cmyk = io.BytesIO()
    Image.fromarray(blocks(64, 48)).convert("CMYK").save(cmyk, format="JPEG")
    load_image(cmyk.getvalue())
    assert taken == [True, False]


def test_paths_that_are_not_image_files_fail_fast_and_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ImageDecodeError, match="empty path"):
        load_image("")  # not the current folder
    with pytest.raises(ImageDecodeError, match="not a valid path"):
        load_image("photo.jpg\x00")
    with pytest.raises(ImageDecodeError, match="data: URLs are not supported"):
        load_image("data:image/png;base64,iVBORw0KGgo=")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageDecodeError, match="not a regular file"):
        load_image(fifo)  # refused before open(), which would wait for a writer
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\x00" * 64)
    monkeypatch.setattr(logobrand.images, "MAX_FILE_BYTES", 32)
    with pytest.raises(ImageTooLargeError, match="resize or recompress"):
        load_image(big)


def test_a_single_image_is_not_taken_for_a_list_of_images() -> None:
    from logobrand.images import check_image_iterable

    check_image_iterable(["a.jpg"])
    check_image_iterable(iter([b"x"]))
    for single in ("a.jpg", Path("a.jpg"), b"\xff\xd8", Image.new("RGB", (2, 2))):
        with pytest.raises(InvalidArgumentError, match="wrap it in a list"):
            check_image_iterable(single)
    with pytest.raises(InvalidArgumentError, match="iterable of images"):
        check_image_iterable(5)


def test_decode_errors_do_not_quote_object_reprs() -> None:
    with pytest.raises(ImageDecodeError) as info:
        load_image(b"GIF89a" + b"\x00" * 20)
    message = str(info.value)
    assert "not a valid GIF" in message and "object at 0x" not in message


def test_missing_image_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    from logobrand.errors import ImageDecodeError, ImageNotFoundError, LogoBrandError

    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError) as exc:
        load_image(missing)
    assert isinstance(exc.value, ImageNotFoundError)
    assert isinstance(exc.value, ImageDecodeError) and isinstance(exc.value, LogoBrandError)
    assert isinstance(exc.value, OSError) and str(missing) in str(exc.value)
