"""Decoding for inference: one photo -> the record the prediction stream carries.

Every entry point (``predict``, ``predict_batch``, boxes, closer looks, the gallery, Spark and
Ray) turns a photo into a model input here, the same way: a large JPEG is decoded at a reduced
scale (:func:`draft_size`), then :func:`~logobrand.transforms.preprocess` makes the model
input. The record (:class:`Photo`) also keeps the photo's full-resolution size, which boxes
are measured in.

Example:
    >>> from logobrand.models.registry import Preprocessing
    >>> pre = Preprocessing(input_size=32)
    >>> photo = decode_photo(np.zeros((60, 80, 3), np.uint8), pre)
    >>> photo.x.shape, photo.size
    ((3, 32, 32), (80, 60))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from logobrand.images import ImageInput, load_image_sized, load_image_sized_full
from logobrand.inference.views import make_views
from logobrand.models.registry import Preprocessing
from logobrand.transforms import preprocess

if TYPE_CHECKING:
    from logobrand.images_fetch import FetchPolicy


def draft_size(pre: Preprocessing) -> int:
    """The reduced-size JPEG decoding target used by :meth:`LogoClassifier.preprocess
    <logobrand.inference.LogoClassifier.preprocess>`.

    A JPEG at least twice this size on both sides is decoded at 1/2, 1/4 or 1/8 scale (DCT
    scaling in libjpeg, see ``load_image(draft_size=...)``), keeping both sides >= this many
    pixels. The first resize of :func:`~logobrand.transforms.preprocess` goes to
    ``canonical_size`` (when set) and the last to ``input_size``, so no detail finer than the
    smaller of the two reaches the model. Photos smaller than twice this size on either side
    are decoded at full size, as before. See ``benchmarks/README.md`` for the gain.

    Example:
        >>> from logobrand.models.registry import Preprocessing
        >>> draft_size(Preprocessing(input_size=320, canonical_size=224))
        224
    """
    size = pre.input_size
    if pre.canonical_size is not None:
        size = min(size, pre.canonical_size)
    return size


@dataclass(frozen=True)
class Photo:
    """One decoded photo, as the prediction stream carries it.

    Attributes:
        x: The model input: ``(3, S, S)`` float32, or ``(5, 3, S, S)`` with closer looks
            (:func:`~logobrand.inference.views.make_views`).
        size: ``(width, height)`` of the photo at full resolution (boxes are in its pixels).
        pixels: The decoded photo, its longer side at most ``keep_pixels``, when the stream
            reads text in it (:mod:`logobrand.inference.words`); at full resolution with
            ``full_pixels`` (to draw on it: ``predict --draw``); else ``None``.
    """

    x: np.ndarray
    size: tuple[int, int]
    pixels: np.ndarray | None = None


def decode_photo(
    image: ImageInput,
    pre: Preprocessing,
    *,
    crop: float | None = None,
    draft: int | None = -1,
    fetch_policy: FetchPolicy | None = None,
    keep_pixels: int | None = None,
    full_pixels: bool = False,
) -> Photo:
    """Decode one photo into its :class:`Photo` record.

    Args:
        image: A path, an ``http(s)`` URL, encoded bytes, a PIL image or an RGB array.
        pre: The model's preprocessing.
        crop: With closer looks: the corner crops' share of the photo's side (the photo is
            then decoded with enough pixels for its crops, and ``x`` holds the five views).
        draft: The reduced-size decoding target; ``-1`` (the default) for
            :func:`draft_size`, ``None`` for a full-size decode.
        fetch_policy: For URL inputs, as in :func:`~logobrand.images.load_image`.
        keep_pixels: Keep the decoded pixels in the record, the longer side shrunk to at most
            this many pixels (for reading text); ``None`` keeps none.
        full_pixels: Keep the decoded pixels at full resolution (for drawing on the photo).
            The source is read once; a photo decoded at reduced scale for the model is
            decoded again, at full size, from the same bytes. Overrides ``keep_pixels``.

    Raises:
        ImageDecodeError: The input is not a decodable image (the message names it).
        FetchError: A URL input could not be fetched.
    """
    if draft == -1:
        draft = draft_size(pre)
    if draft is not None and crop is not None:
        draft = math.ceil(draft / crop)
    kept = None
    if full_pixels:
        pixels, size, kept = load_image_sized_full(
            image, draft_size=draft, fetch_policy=fetch_policy
        )
    else:
        pixels, size = load_image_sized(image, draft_size=draft, fetch_policy=fetch_policy)
    x = preprocess(pixels, pre) if crop is None else make_views(pixels, pre, crop)
    if keep_pixels is not None and not full_pixels:
        scale = keep_pixels / max(pixels.shape[:2])
        kept = pixels
        if scale < 1:
            shape = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
            kept = cv2.resize(pixels, shape, interpolation=cv2.INTER_AREA)
        kept = np.ascontiguousarray(kept)
    return Photo(x, size, kept)


def decode_input(
    image: ImageInput, pre: Preprocessing, *, fetch_policy: FetchPolicy | None = None
) -> np.ndarray:
    """The ``(3, S, S)`` model input of one photo (:func:`decode_photo`'s ``x``)."""
    return decode_photo(image, pre, fetch_policy=fetch_policy).x


__all__ = ["Photo", "decode_input", "decode_photo", "draft_size"]
