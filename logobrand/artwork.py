"""Reference images from clean brand artwork (SVG), for few-shot gallery brands.

A brand with no photos at hand can be added from its logo artwork: the SVG is rendered in the
brand colour (or white/black), and composited at several sizes and positions, slightly
rotated, blurred and JPEG-compressed, on varied backgrounds (random crops of photos without
logos, or solid colours). The renders are ordinary RGB arrays for
:meth:`LogoClassifier.add_brand <logobrand.inference.LogoClassifier.add_brand>`.

SVG rendering needs ``cairosvg`` (``pip install 'logobrand[art]'``, which also needs the cairo
system library, e.g. ``apt-get install libcairo2``); compositing already-rendered RGBA arrays
(:func:`compose_references`) needs only numpy and OpenCV.

The simple-icons collection (CC0, https://simpleicons.org) has about 3,500 brand SVGs and a
``simple-icons.json`` with each brand's colour; :func:`find_simple_icon` looks a brand up in
a local copy.

Example:
    >>> # from logobrand.artwork import find_simple_icon, render_references
    >>> # icon = find_simple_icon("../shared/data/brand-art/simple-icons", "Nike")
    >>> # images = render_references(icon.svg, icon.color, backgrounds, n=20, seed=0)
    >>> # clf.add_brand("nike", images)
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from logobrand.errors import ImageDecodeError, InvalidArgumentError, check_int, missing_extra

DEFAULT_SIZE = 320
"""Side of the square renders (the input size of the default model)."""

PHOTO_SHARE = 0.0
"""Default share of renders composited on a background photo (the rest on solid colours).

Measured with ``benchmarks/fewshot.py`` (docs/fewshot.rst): renders on photos look like no-logo
photos to the embedding. With 70 % photo backgrounds almost no new-brand photo passed the
calibrated threshold (development run); with 30 %, 16 % of them were recognised at a no-logo
false-positive rate of 3.2 %; with solid colours only, 12 % at 2.4 %. Those runs predate the
whitened gallery: with it (the benchmark's table), 30 % on photos scores 32.8 % against 29.1 %
for solid colours, both at 2.4 %, so ``logobrand brands add --artwork`` uses 0.3 with
``--backgrounds``. This default stays 0 until the benchmark is re-run with another value (its
"5 photos + renders" row uses renders made with it)."""

SCALE = (0.4, 0.9)
"""Default range of the logo's longer side, as a share of the image side."""


@dataclass(frozen=True)
class SimpleIcon:
    """One simple-icons entry.

    Attributes:
        title: The brand's display name, e.g. ``"Red Bull"``.
        slug: The icon's file stem, e.g. ``"redbull"``.
        svg: Path of the SVG file.
        color: Brand colour as ``(r, g, b)``.
    """

    title: str
    slug: str
    svg: Path
    color: tuple[int, int, int]


def brand_key(text: str) -> str:
    """A brand name as lower-case ASCII letters and digits (``"Citroën"`` -> ``"citroen"``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def parse_hex_color(text: str) -> tuple[int, int, int]:
    """Parse ``"E60000"`` or ``"#e60000"`` into ``(230, 0, 0)``.

    Example:
        >>> parse_hex_color("#DB0A40")
        (219, 10, 64)
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(f"colour must be a hex string like 'E60000', got {text!r}")
    value = text.strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        raise InvalidArgumentError(f"colour {text!r} is not a 6-digit hex colour like 'E60000'")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def find_simple_icon(root: str | os.PathLike[str], brand: str) -> SimpleIcon | None:
    """Look ``brand`` up in a simple-icons folder (``simple-icons.json`` + ``icons/``).

    Matches the slug, the title or an alias, ignoring case, accents and punctuation
    (``"McDonalds"`` finds ``McDonald's``).

    Returns:
        The icon, or ``None`` when the collection has no such brand.

    Raises:
        InvalidArgumentError: ``root`` lacks ``simple-icons.json``, or it is not a JSON list
            of icons. Entries that are not icons (no ``slug``) are passed over.
    """
    folder = Path(root)
    index = folder / "simple-icons.json"
    if not index.is_file():
        raise InvalidArgumentError(
            f"{index} not found; pass the simple-icons folder (with simple-icons.json and icons/)"
        )
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{index} is not a readable UTF-8 JSON file ({exc}); restore it from simple-icons"
        ) from exc
    if isinstance(entries, dict):
        entries = entries.get("icons", [])
    if not isinstance(entries, list):
        raise InvalidArgumentError(f"{index} holds no list of icons; restore it from simple-icons")
    wanted = brand_key(brand)
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("slug"), str):
            continue  # not an icon entry
        slug = entry["slug"]
        names = [slug, entry.get("title", "")]
        aliases = entry.get("aliases")
        aka = aliases.get("aka", []) if isinstance(aliases, dict) else []
        names += aka if isinstance(aka, list) else []
        if wanted and any(brand_key(str(n)) == wanted for n in names):
            svg = folder / "icons" / f"{slug}.svg"
            if Path(slug).name != slug or not svg.is_file():
                continue  # no file, or a slug such as "../x" that points outside icons/
            hex_color = entry.get("hex", "000000")
            return SimpleIcon(
                str(entry.get("title", slug)),
                slug,
                svg,
                parse_hex_color(hex_color if isinstance(hex_color, str) else "000000"),
            )
    return None


MAX_RENDER_SIZE = 4096
"""The largest ``size`` :func:`render_svg` and :func:`compose_references` accept."""

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ROOT = re.compile(r"<(?:[\w.-]+:)?svg\b")


def render_svg(
    svg: str | os.PathLike[str] | bytes, size: int, color: tuple[int, int, int]
) -> np.ndarray:
    """Render an SVG in ``color`` to an RGBA ``(H, W, 4)`` uint8 array.

    The longer side of the drawing is ``size`` pixels. ``color`` becomes the default fill and
    ``currentColor`` of the root element, so single-colour icons (simple-icons, which have no
    fill of their own) come out in it; parts with their own colours keep them. Nothing outside
    the SVG is read: cairosvg loads no external images or files here.

    Raises:
        MissingExtraError: cairosvg (the ``art`` extra) is not installed.
        InvalidArgumentError: ``size`` is not an integer from 1 to :data:`MAX_RENDER_SIZE`, or
            ``color`` is not three integers from 0 to 255.
        ImageDecodeError: The SVG cannot be rendered, or draws nothing visible.
    """
    size = check_int("size", size, 1, maximum=MAX_RENDER_SIZE)
    if (
        not isinstance(color, (tuple, list))
        or len(color) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
    ):
        raise InvalidArgumentError(
            f"color must be three integers from 0 to 255, e.g. (230, 0, 0), got {color!r}; "
            "parse_hex_color('E60000') gives one"
        )
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # OSError: the cairo system library is missing
        raise missing_extra("cairosvg", "art") from exc
    if isinstance(svg, bytes):
        data = svg
    else:
        try:
            data = Path(svg).read_bytes()
        except OSError as exc:
            raise ImageDecodeError(
                f"cannot read SVG file {svg}: {exc.strerror or exc}; pass the path of an .svg file"
            ) from exc
    if not data.strip():
        raise ImageDecodeError(f"SVG {_describe(svg)} is empty; pass an .svg file with a drawing")
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    text = data.decode("utf-16" if utf16 else "utf-8", errors="replace")
    visible = _COMMENT.sub(lambda m: " " * len(m.group()), text)  # same offsets, no comments
    root = _ROOT.search(visible)
    if root is None:
        raise ImageDecodeError(f"SVG {_describe(svg)} has no <svg> element; is it an SVG file?")
    tag = visible[root.start() : visible.find(">", root.start())]
    hex_color = "#{:02x}{:02x}{:02x}".format(*color)
    extra = "" if re.search(r"\sfill\s*=", tag) else f' fill="{hex_color}"'
    extra += "" if re.search(r"\scolor\s*=", tag) else f' color="{hex_color}"'
    source = (text[: root.end()] + extra + text[root.end() :]).encode("utf-8")
    if utf16:  # the XML declaration may still say UTF-16
        source = re.sub(rb"^<\?xml[^>]*\?>", b"", source.lstrip())
    rgba = _render(cairosvg, source, svg, output_width=size)
    if rgba.shape[0] > rgba.shape[1]:  # portrait: the height is the longer side
        rgba = _render(cairosvg, source, svg, output_height=size)
    if not rgba[..., 3].any():
        raise ImageDecodeError(
            f"SVG {_describe(svg)} draws nothing visible (empty, transparent, or only external "
            "images, which are not loaded); pass the logo's own drawing"
        )
    return rgba


def _render(cairosvg: Any, source: bytes, svg: object, **size: int) -> np.ndarray:
    try:
        png = cairosvg.svg2png(bytestring=source, **size)
    except Exception as exc:  # cairosvg raises many unrelated types for bad SVGs
        raise ImageDecodeError(f"cannot render SVG {_describe(svg)}: {exc}") from exc
    buffer = np.frombuffer(png, dtype=np.uint8)
    bgra = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if bgra is not None and bgra.ndim == 3 and bgra.shape[2] == 3:  # fully opaque drawing
        bgra = cv2.cvtColor(bgra, cv2.COLOR_BGR2BGRA)
    if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
        raise ImageDecodeError(f"rendering SVG {_describe(svg)} gave no RGBA image")
    rgba: np.ndarray = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)
    return rgba


def _describe(svg: object) -> str:
    return f"<{len(svg)} bytes>" if isinstance(svg, bytes) else str(svg)


def _background(
    rng: np.random.Generator, backgrounds: Sequence[np.ndarray], size: int, photo_share: float
) -> np.ndarray:
    if backgrounds and rng.random() < photo_share:
        photo = backgrounds[int(rng.integers(len(backgrounds)))]
        h, w = photo.shape[:2]
        side = max(1, int(min(h, w) * rng.uniform(0.5, 1.0)))
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        crop = photo[y : y + side, x : x + side]
        return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    if rng.random() < 0.5:
        value = rng.choice([245, 235, 20, 40])
        colour = np.full(3, value) + rng.integers(-10, 11, 3)
    else:
        colour = rng.integers(0, 256, 3)
    return np.ascontiguousarray(
        np.broadcast_to(np.clip(colour, 0, 255), (size, size, 3)).astype(np.uint8)
    )


def compose_references(
    logos: Sequence[np.ndarray],
    backgrounds: Sequence[np.ndarray] = (),
    *,
    n: int = 20,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    photo_share: float = PHOTO_SHARE,
    scale: tuple[float, float] = SCALE,
) -> list[np.ndarray]:
    """Composite RGBA logo renders onto varied backgrounds.

    Each output picks a render, scales it so its longer side is a share ``scale`` of the
    image side, rotates it by up to 12 degrees, places it at a random position, and puts it on
    a random crop of a background photo (with probability ``photo_share``) or on a solid
    colour (light, dark or random); then a light blur and JPEG compression (quality 60-95)
    are applied.

    Args:
        logos: RGBA uint8 renders (e.g. from :func:`render_svg`, in several colours).
        backgrounds: RGB photos without logos (none: solid colours only).
        n: Number of images.
        size: Side of the square outputs.
        seed: Seed of the random choices (same seed, same images).
        photo_share: Probability of a photo background (when ``backgrounds`` are given).
        scale: Range of the logo's longer side as a share of ``size``.

    Returns:
        ``n`` RGB uint8 arrays ``(size, size, 3)``.

    Raises:
        InvalidArgumentError: No logos, a logo that is not a non-empty RGBA array, a
            background that is not a uint8 image array (grey and RGBA ones are turned into
            RGB), ``n`` < 1, ``size`` outside 8 to :data:`MAX_RENDER_SIZE`, or a negative
            ``seed``.
    """
    if not logos:
        raise InvalidArgumentError("compose_references needs at least one RGBA logo render")
    for logo in logos:
        if logo.ndim != 3 or logo.shape[2] != 4 or logo.dtype != np.uint8 or 0 in logo.shape:
            raise InvalidArgumentError(
                f"logos must be RGBA uint8 arrays (H, W, 4), got {logo.dtype} {logo.shape}"
            )
    if not 0.0 <= photo_share <= 1.0 or not 0.0 < scale[0] <= scale[1] <= 1.0:
        raise InvalidArgumentError(
            f"photo_share must be in [0, 1] and scale a range within (0, 1], got "
            f"{photo_share} and {scale}"
        )
    n = check_int("n", n, 0)
    size = check_int("size", size, 0)
    seed = check_int("seed", seed, 0)
    if n < 1 or not 8 <= size <= MAX_RENDER_SIZE:
        raise InvalidArgumentError(
            f"n must be >= 1 and size from 8 to {MAX_RENDER_SIZE}, got n={n}, size={size}"
        )
    pictures = []
    for i, photo in enumerate(backgrounds):
        arr = np.asarray(photo) if isinstance(photo, np.ndarray) else None
        if arr is None or arr.dtype != np.uint8 or arr.ndim not in (2, 3) or min(arr.shape[:2]) < 1:
            raise InvalidArgumentError(
                f"backgrounds[{i}] must be a uint8 image array (H, W) or (H, W, 3|4), got "
                f"{type(photo).__name__}; decode paths first with logobrand.images.load_image"
            )
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        pictures.append(np.ascontiguousarray(arr[..., :3]))
    backgrounds = pictures
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    for _ in range(n):
        canvas = _background(rng, backgrounds, size, photo_share).astype(np.float32)
        logo = logos[int(rng.integers(len(logos)))]
        h, w = logo.shape[:2]
        factor = rng.uniform(*scale) * size / max(h, w)
        lw, lh = max(2, round(w * factor)), max(2, round(h * factor))
        patch = cv2.resize(logo, (lw, lh), interpolation=cv2.INTER_AREA)
        side = int(np.ceil(np.hypot(lw, lh))) + 2
        matrix = cv2.getRotationMatrix2D((lw / 2, lh / 2), float(rng.uniform(-12, 12)), 1.0)
        matrix[:, 2] += ((side - lw) / 2, (side - lh) / 2)
        patch = cv2.warpAffine(patch, matrix, (side, side), flags=cv2.INTER_LINEAR)
        side = min(side, size)
        patch = patch[:side, :side]
        y = int(rng.integers(0, size - side + 1))
        x = int(rng.integers(0, size - side + 1))
        alpha = patch[..., 3:4].astype(np.float32) / 255.0
        region = canvas[y : y + side, x : x + side]
        region[:] = region * (1 - alpha) + patch[..., :3].astype(np.float32) * alpha
        image: np.ndarray = np.clip(canvas, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            image = np.asarray(cv2.GaussianBlur(image, (3, 3), float(rng.uniform(0.3, 1.2))))
        quality = int(rng.integers(60, 96))
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            image = np.asarray(decoded)[..., ::-1]
        out.append(np.ascontiguousarray(image))
    return out


def render_references(
    svg: str | os.PathLike[str] | bytes,
    color: tuple[int, int, int],
    backgrounds: Sequence[np.ndarray] = (),
    *,
    n: int = 20,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    photo_share: float = PHOTO_SHARE,
) -> list[np.ndarray]:
    """Render an SVG logo (brand colour, white and black) and composite ``n`` references.

    See :func:`compose_references` for the compositing and its defaults.

    Raises:
        MissingExtraError: cairosvg (the ``art`` extra) is not installed.
        ImageDecodeError: The SVG cannot be rendered.

    Example:
        >>> # render_references("icons/nike.svg", (17, 17, 17), photos, n=20)
    """
    renders = [render_svg(svg, size, c) for c in (color, (255, 255, 255), (0, 0, 0))]
    return compose_references(
        renders, backgrounds, n=n, size=size, seed=seed, photo_share=photo_share
    )


__all__ = [
    "DEFAULT_SIZE",
    "MAX_RENDER_SIZE",
    "PHOTO_SHARE",
    "SCALE",
    "SimpleIcon",
    "compose_references",
    "find_simple_icon",
    "parse_hex_color",
    "render_references",
    "render_svg",
]
