"""Where is the logo: boxes from the class activation map, and box metrics.

Models with a spatial head (EfficientNet-Lite0's log-sum-exp head) export, beside ``"logits"``,
``"cell_scores"``: the ``(C, h, w)`` per-cell logits whose soft maximum over the cells *is* the
photo's logit of each class, i.e. a class activation map (CAM) over the squashed photo.
:func:`cam_boxes` turns the map of one class into boxes in pixels of the photo:

1. upsample the ``h x w`` map (``cv2.resize``, bicubic by default, :data:`UPSAMPLE` working
   pixels per cell);
2. rescale it to ``[0, 1]`` (``(m - min) / (max - min)``) and keep the pixels at or above
   ``threshold`` (:data:`DEFAULT_BOX_THRESHOLD`, chosen on held-out FlickrLogos-27 photos,
   see ``docs/boxes.rst``);
3. each 8-connected component gives one box (its bounding rectangle), mapped back to the photo
   by scaling ``x`` by ``W / w`` and ``y`` by ``H / h`` (the photo was squashed to a square, so
   the map covers the whole photo whatever its aspect ratio);
4. the component's strength is its peak on the rescaled map (``1.0`` for the strongest).

:func:`make_boxes` scores the boxes for a prediction (``score`` = brand probability x
strength); :func:`draw_boxes` and :func:`save_drawing` draw them. :func:`box_iou`, :func:`corloc`,
:func:`average_precision` and :func:`mean_average_precision` measure boxes against ground
truth (``benchmarks/localization.py``).

Example:
    >>> import numpy as np
    >>> cam = np.zeros((10, 10), np.float32)
    >>> cam[2:4, 6:8] = 5.0                     # a blob in the upper right of a 10x10 map
    >>> [round(v) for v in cam_boxes(cam, (200, 100))[0][:4]]  # photo 200 wide, 100 high
    [118, 19, 162, 41]
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import urllib.parse
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

import cv2
import numpy as np

from logobrand.errors import InvalidArgumentError
from logobrand.images import ImageInput, describe_source, load_image
from logobrand.inference.prediction import Failure, LogoBox, Prediction
from logobrand.transforms import preprocess

if TYPE_CHECKING:
    from logobrand.images_fetch import FetchPolicy
    from logobrand.inference.classifier import LogoClassifier

CELL_SCORES = "cell_scores"
"""Name of the ONNX output holding the ``(N, C, h, w)`` class activation map."""

DEFAULT_BOX_THRESHOLD = 0.4
"""Fraction of the map's range (above its minimum) a pixel needs to belong to a box.

Chosen on FlickrLogos-27 subsets 1-3 (``benchmarks/localization.py --choose``); see
``docs/boxes.rst``."""

DEFAULT_HEAD_THRESHOLD = 0.4
"""Lowest score of a box head's boxes after the first (:func:`head_boxes`); chosen on held-out
FlickrLogos-27 photos (``benchmarks/localization.py``, ``docs/boxes.rst``)."""

DEFAULT_VOTE_IOU = 0.3
"""Box voting of :func:`head_boxes`: a kept box becomes the score-weighted mean of the proposals
that overlap it by more than this IoU (and score at least :data:`VOTE_MIN_SHARE` of it); chosen
on held-out FlickrLogos-27 photos (``benchmarks/localization.py``, ``docs/boxes.rst``)."""

VOTE_MIN_SHARE = 0.5
"""A proposal votes for a kept box only if its score is at least this share of the box's: weak
cells around a small logo must not drag its box out (``docs/boxes.rst``)."""

DEFAULT_INTERPOLATION = "cubic"
"""How the map is upsampled: ``"cubic"`` (``cv2.INTER_CUBIC``) or ``"linear"``; chosen with the
threshold."""

_INTERPOLATIONS = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}

DEFAULT_MAX_BOXES = 5
"""At most this many boxes per photo (the strongest)."""

UPSAMPLE = 16
"""Working pixels per map cell: the map is upsampled to ``(16 h, 16 w)`` before thresholding.

The boxes are computed on this small grid, whatever the photo size, and then scaled to the
photo: fast for any photo, and finer than the map itself (a cell of a 10x10 map is a tenth of
the photo)."""

XYXY: TypeAlias = tuple[float, float, float, float]
"""A box as ``(x1, y1, x2, y2)`` in pixels."""


def _check_size(image_size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"image_size must be (width, height), got {image_size!r}"
        ) from None
    if width < 1 or height < 1:
        raise InvalidArgumentError(f"image_size must be positive, got {image_size!r}")
    return width, height


def _check_threshold(threshold: float) -> float:
    value = float(threshold)
    if not 0.0 < value <= 1.0:
        raise InvalidArgumentError(
            f"box threshold must be in (0, 1] (a fraction of the map's range), got {threshold!r}"
        )
    return value


def cam_boxes(
    cam: np.ndarray,
    image_size: tuple[int, int],
    *,
    threshold: float = DEFAULT_BOX_THRESHOLD,
    max_boxes: int = DEFAULT_MAX_BOXES,
    interpolation: str = DEFAULT_INTERPOLATION,
) -> list[tuple[float, float, float, float, float]]:
    """Turn one class's activation map into boxes in pixels of the photo.

    Args:
        cam: ``(h, w)`` map over the whole (squashed) photo, higher = more of the class.
        image_size: ``(width, height)`` of the photo the boxes refer to.
        threshold: A pixel belongs to a box when its value, rescaled to ``[0, 1]`` between
            the map's minimum and maximum, is at least this (``0 < threshold <= 1``).
        max_boxes: Keep at most this many boxes, the strongest first.
        interpolation: ``"cubic"`` or ``"linear"`` upsampling of the map.

    Returns:
        ``(x1, y1, x2, y2, strength)`` tuples, strongest first: corners in photo pixels
        (``0 <= x1 < x2 <= width``), ``strength`` the component's peak on the rescaled map in
        ``[threshold, 1]`` (``1.0`` for the first). Empty when the map is flat (every cell
        equal: nothing stands out) or ``max_boxes`` is 0.

    Raises:
        InvalidArgumentError: ``cam`` is not a finite 2-D array, or an argument is out of
            range.

    Example:
        >>> cam = np.zeros((10, 10)); cam[4:6, 4:6] = 1.0
        >>> [round(v) for v in cam_boxes(cam, (100, 100))[0]]
        [39, 39, 61, 61, 1]
    """
    width, height = _check_size(image_size)
    threshold = _check_threshold(threshold)
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 0:
        raise InvalidArgumentError(f"max_boxes must be an integer >= 0, got {max_boxes!r}")
    if interpolation not in _INTERPOLATIONS:
        raise InvalidArgumentError(
            f"interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation!r}"
        )
    grid = np.asarray(cam, dtype=np.float32)
    if grid.ndim != 2 or grid.size == 0:
        raise InvalidArgumentError(
            f"cam must be a non-empty 2-D (h, w) map, got shape {grid.shape}"
        )
    if not np.isfinite(grid).all():
        raise InvalidArgumentError("cam holds NaN or infinite values; the model output is broken")
    lo, hi = float(grid.min()), float(grid.max())
    if max_boxes == 0 or not hi > lo:
        return []
    gh, gw = grid.shape
    big = cv2.resize(
        grid, (gw * UPSAMPLE, gh * UPSAMPLE), interpolation=_INTERPOLATIONS[interpolation]
    )
    rel = (big - lo) / (hi - lo)
    mask = (rel >= threshold).astype(np.uint8)
    if not mask.any():  # the peak of a 1-cell map can fall between samples; keep the top
        mask = (rel >= rel.max()).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    sx = width / (gw * UPSAMPLE)
    sy = height / (gh * UPSAMPLE)
    found: list[tuple[float, float, float, float, float]] = []
    for k in range(1, count):
        x, y, w, h = (int(v) for v in stats[k, :4])
        strength = min(1.0, float(rel[labels == k].max()))
        found.append(
            (
                min(x * sx, float(width)),
                min(y * sy, float(height)),
                min((x + w) * sx, float(width)),
                min((y + h) * sy, float(height)),
                strength,
            )
        )
    found.sort(key=lambda b: (-b[4], b[1], b[0]))
    if found:  # the strongest component holds the map's maximum
        x1, y1, x2, y2, _ = found[0]
        found[0] = (x1, y1, x2, y2, 1.0)
    return found[:max_boxes]


def make_boxes(
    cell_scores: np.ndarray,
    label_index: int,
    label: str,
    probability: float,
    image_size: tuple[int, int],
    *,
    threshold: float = DEFAULT_BOX_THRESHOLD,
    max_boxes: int = DEFAULT_MAX_BOXES,
    interpolation: str = DEFAULT_INTERPOLATION,
) -> tuple[LogoBox, ...]:
    """Boxes of one label from a model's ``(C, h, w)`` cell scores, scored for ranking.

    Each box's ``score`` is ``probability * strength`` (see :func:`cam_boxes`): the strongest
    box of a photo gets the photo's probability of the label, weaker ones proportionally less,
    so scores can be ranked across photos (as average precision does).

    Args:
        cell_scores: ``(C, h, w)`` per-cell logits of one photo (the ``"cell_scores"`` output).
        label_index: Row of ``cell_scores`` to use.
        label: Name of that label, copied into the boxes.
        probability: The photo-level probability of the label.
        image_size: ``(width, height)`` of the photo.
        threshold: See :func:`cam_boxes`.
        max_boxes: See :func:`cam_boxes`.
        interpolation: See :func:`cam_boxes`.

    Returns:
        :class:`~logobrand.inference.prediction.LogoBox` objects, strongest first.

    Raises:
        InvalidArgumentError: Shapes or arguments do not fit.

    Example:
        >>> cells = np.zeros((2, 4, 4)); cells[1, 0, 0] = 3.0
        >>> make_boxes(cells, 1, "ups", 0.9, (40, 40))[0].score
        0.9
    """
    scores = np.asarray(cell_scores)
    if scores.ndim != 3 or not 0 <= label_index < scores.shape[0]:
        raise InvalidArgumentError(
            f"cell_scores of shape {scores.shape} have no map {label_index}; pass one photo's "
            "(C, h, w) cell scores"
        )
    size = _check_size(image_size)
    found = cam_boxes(
        scores[label_index],
        size,
        threshold=threshold,
        max_boxes=max_boxes,
        interpolation=interpolation,
    )
    return _as_logo_boxes(found, label, probability, size)


def head_boxes(
    maps: np.ndarray,
    image_size: tuple[int, int],
    *,
    threshold: float = DEFAULT_HEAD_THRESHOLD,
    max_boxes: int = DEFAULT_MAX_BOXES,
    overlap: float = 0.5,
    vote_iou: float | None = DEFAULT_VOTE_IOU,
) -> list[tuple[float, float, float, float, float]]:
    """Turn a box head's output for one photo into boxes in pixels of the photo.

    Every cell proposes the box its distances describe, scored by its ``box_scores`` value;
    proposals overlapping a stronger one by more than ``overlap`` (IoU) are dropped
    (non-maximum suppression), and those scoring below ``threshold`` too, except the
    strongest, which is always kept. With ``vote_iou``, each kept box is then replaced by the
    mean of the proposals that overlap it by more than ``vote_iou`` and score at least
    :data:`VOTE_MIN_SHARE` of its score, weighted by their scores (box voting; its score stays
    its own): neighbouring cells that each see part of a large logo agree on its extent.

    Args:
        maps: ``(5, h, w)``: the head's ``box_scores`` then its four ``box_ltrb`` maps
            (distances in fractions of the photo's sides; see :mod:`logobrand.models.box_head`).
        image_size: ``(width, height)`` of the photo.
        threshold: Lowest score of a box after the first (``0 < threshold <= 1``).
        max_boxes: Keep at most this many boxes.
        overlap: IoU above which a weaker proposal is suppressed.
        vote_iou: IoU above which a proposal votes for a kept box's corners (``0 <= vote_iou
            < 1``), or ``None`` for the plain cell boxes.

    Returns:
        ``(x1, y1, x2, y2, score)`` tuples, strongest first (clipped to the photo).

    Raises:
        InvalidArgumentError: ``maps`` is not a finite ``(5, h, w)`` array, or an argument is
            out of range.

    Example:
        >>> maps = np.zeros((5, 4, 4), np.float32); maps[1:] = 0.125  # 1/8 to every side
        >>> maps[0, 1, 2] = 0.9                                        # cell centre (0.625, 0.375)
        >>> [round(v, 2) for v in head_boxes(maps, (100, 100))[0]]
        [50.0, 25.0, 75.0, 50.0, 0.9]
    """
    width, height = _check_size(image_size)
    threshold = _check_threshold(threshold)
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, int) or max_boxes < 0:
        raise InvalidArgumentError(f"max_boxes must be an integer >= 0, got {max_boxes!r}")
    if vote_iou is not None and (
        isinstance(vote_iou, bool)
        or not isinstance(vote_iou, (int, float))
        or not 0.0 <= vote_iou < 1.0
    ):
        raise InvalidArgumentError(f"vote_iou must be in [0, 1) or None, got {vote_iou!r}")
    grid = np.asarray(maps, dtype=np.float32)
    if grid.ndim != 3 or grid.shape[0] != 5 or grid.size == 0:
        raise InvalidArgumentError(
            f"box head maps must be (5, h, w) (scores + 4 distances), got shape {grid.shape}"
        )
    if not np.isfinite(grid).all():
        raise InvalidArgumentError("box head maps hold NaN or infinite values; the head is broken")
    gh, gw = grid.shape[1:]
    cy, cx = np.meshgrid((np.arange(gh) + 0.5) / gh, (np.arange(gw) + 0.5) / gw, indexing="ij")
    scores = grid[0].ravel()
    x1 = np.clip((cx - grid[1]).ravel(), 0.0, 1.0) * width
    y1 = np.clip((cy - grid[2]).ravel(), 0.0, 1.0) * height
    x2 = np.clip((cx + grid[3]).ravel(), 0.0, 1.0) * width
    y2 = np.clip((cy + grid[4]).ravel(), 0.0, 1.0) * height
    areas = (x2 - x1) * (y2 - y1)

    def iou_with(i: int, others: np.ndarray) -> np.ndarray:
        iw = np.clip(np.minimum(x2[others], x2[i]) - np.maximum(x1[others], x1[i]), 0, None)
        ih = np.clip(np.minimum(y2[others], y2[i]) - np.maximum(y1[others], y1[i]), 0, None)
        inter = iw * ih
        return np.asarray(inter / (areas[others] + areas[i] - inter))

    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if len(kept) == max_boxes or (kept and scores[i] < threshold):
            break
        if areas[i] <= 0:
            continue
        if kept and iou_with(int(i), np.array(kept)).max() > overlap:
            continue
        kept.append(int(i))
    corners = np.stack([x1, y1, x2, y2], axis=1)
    out = []
    for i in kept:
        box = corners[i]
        if vote_iou is not None:
            proposals = np.flatnonzero((areas > 0) & (scores >= VOTE_MIN_SHARE * scores[i]))
            voters = proposals[iou_with(i, proposals) > vote_iou]  # the box itself included
            weights = np.maximum(scores[voters], 0.0) + 1e-12
            box = (corners[voters] * weights[:, None]).sum(axis=0) / weights.sum()
        out.append((float(box[0]), float(box[1]), float(box[2]), float(box[3]), float(scores[i])))
    return out


def _as_logo_boxes(
    found: Sequence[tuple[float, float, float, float, float]],
    label: str,
    probability: float,
    image_size: tuple[int, int],
) -> tuple[LogoBox, ...]:
    area = float(image_size[0] * image_size[1])
    return tuple(
        LogoBox(
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            score=float(probability) * strength,
            label=label,
            area_fraction=(x2 - x1) * (y2 - y1) / area,
        )
        for x1, y1, x2, y2, strength in found
    )


# -- predictions with boxes (LogoClassifier.predict/predict_batch with boxes=True) ------------


def check_can_localise(clf: LogoClassifier) -> None:
    """Raise unless the classifier's model has a ``"cell_scores"`` output.

    Raises:
        InvalidArgumentError: The model has no ``"cell_scores"`` output.
    """
    names = [o.name for o in clf.session.get_outputs()]
    if CELL_SCORES not in names:
        raise InvalidArgumentError(
            f"the model in {clf.directory} cannot localise logos: its ONNX file has no "
            f"{CELL_SCORES!r} output (it has {names}); predict without boxes=True (--boxes, "
            "--draw), or re-export a model with a spatial head (efficientnet_lite0) with "
            "`logobrand export` or save_model_dir"
        )


def _gallery_of(clf: LogoClassifier) -> Any:
    """The classifier's few-shot gallery when it has brands, else ``None``."""
    gallery = getattr(clf, "gallery", None)
    return gallery if gallery is not None and len(gallery) > 0 else None


def forward_with_cells(clf: LogoClassifier, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the model once for its decision rows and its cell scores.

    Args:
        clf: The classifier (its model must have a ``"cell_scores"`` output).
        batch: ``(N, 3, S, S)`` preprocessed photos.

    Returns:
        ``(rows, cells)``: the rows the classifier's decision rule takes (the logits, with
        the few-shot gallery similarities appended when the classifier has a gallery) and the
        ``(N, C, h, w)`` cell scores.

    Raises:
        InvalidArgumentError: Wrong input shape, or a ``"cell_scores"`` output of the wrong
            shape.
    """
    rows, (cells,) = _run_with(clf, batch, [CELL_SCORES])
    if cells.ndim != 4 or cells.shape[:2] != (len(batch), len(clf.labels)):
        raise InvalidArgumentError(
            f"the model's {CELL_SCORES!r} output has shape {cells.shape}; expected (N, "
            f"{len(clf.labels)}, h, w): re-export the model (`logobrand export`, or "
            "save_model_dir in Python)"
        )
    return rows, cells


def _run_with(
    clf: LogoClassifier, batch: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One model run: the decision rows (logits, plus the gallery's similarities when the
    classifier has a gallery) and the outputs ``names``, as float32 arrays."""
    from logobrand.inference.gallery import run_with_gallery

    clf.predict_logits(batch[:0])  # shape check only
    return run_with_gallery(clf, batch, _gallery_of(clf), names)


def forward_with_box_maps(clf: LogoClassifier, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decision rows and what the boxes come from: the box head's maps, else the cell scores.

    Returns:
        ``(rows, maps)``: ``rows`` as in :func:`forward_with_cells`; ``maps`` the box head's
        ``(N, 5, h, w)`` output (scores then distances, see :func:`head_boxes`) when the
        model has one (:attr:`LogoClassifier.box_head`), else the ``(N, C, h, w)`` cell
        scores.
    """
    head = clf.box_head
    if head is None:
        return forward_with_cells(clf, batch)
    names = [i.name for i in head.get_inputs()]  # checked against the model's outputs on load
    rows, features = _run_with(clf, batch, names)
    scores, ltrb = head.run(None, dict(zip(names, features, strict=True)))
    return rows, np.concatenate([scores, ltrb], axis=1).astype(np.float32)


def _decide_with_boxes(
    clf: LogoClassifier,
    row: np.ndarray,
    maps: np.ndarray,
    image_size: tuple[int, int],
    source: str,
    top_k: int,
    threshold: float | None,
) -> Prediction:
    """The classifier's usual decision for ``row``, plus the boxes of the brand it reports.

    With a box head the boxes are the head's (for any brand, gallery brands included);
    without one, those of the brand's activation map (not for gallery brands).
    """
    gallery = _gallery_of(clf)
    if gallery is not None:
        prediction: Prediction = cast(Any, clf)._decide(row, source, top_k, gallery)
    else:
        prediction = clf._decide(row, source, top_k)
    labels = clf.labels
    boxes: tuple[LogoBox, ...] = ()
    if prediction.brand is not None and clf.box_head is not None:
        found = head_boxes(maps, image_size, threshold=threshold or DEFAULT_HEAD_THRESHOLD)
        boxes = _as_logo_boxes(found, prediction.brand, prediction.score, image_size)
    elif prediction.brand is not None and prediction.brand in labels:  # not a gallery brand
        index = labels.index(prediction.brand)
        boxes = make_boxes(
            maps,
            index,
            prediction.brand,
            prediction.score,
            image_size,
            threshold=threshold or DEFAULT_BOX_THRESHOLD,
        )
    return dataclasses.replace(prediction, boxes=boxes, image_size=image_size)


def predict_with_boxes(
    clf: LogoClassifier,
    image: ImageInput,
    *,
    top_k: int = 5,
    threshold: float | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> Prediction:
    """``clf.predict(image, boxes=True)``: the prediction with the boxes of its brand.

    The photo is decoded at full resolution (no reduced-size JPEG decoding), so that the
    boxes are in its own pixels.

    Raises:
        InvalidArgumentError: The model cannot localise (no ``"cell_scores"`` output).
        ImageDecodeError: The input cannot be decoded.
    """
    check_can_localise(clf)
    if threshold is not None:
        threshold = _check_threshold(threshold)
    pixels = load_image(image, fetch_policy=fetch_policy)
    x = preprocess(pixels, clf.config.preprocessing)
    rows, cells = forward_with_box_maps(clf, x[None])
    size = (int(pixels.shape[1]), int(pixels.shape[0]))
    return _decide_with_boxes(
        clf, rows[0], cells[0], size, describe_source(image), top_k, threshold
    )


_HEADER = 5  # packed row: [n_decision, h, w, width, height, decision..., cells...]


def predict_batch_with_boxes(
    clf: LogoClassifier,
    images: Iterable[ImageInput],
    *,
    batch_size: int,
    workers: int,
    top_k: int = 5,
    progress: bool = False,
    total: int | None = None,
    threshold: float | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> Iterator[Prediction | Failure]:
    """``clf.predict_batch(images, boxes=True)`` (arguments as there, already checked).

    Same streaming pipeline as without boxes: each decoded photo travels with its size
    (packed after the model input), and each result row carries the decision row, the cell
    scores and that size, so nothing is held outside the pipeline's bounded batches.

    Raises:
        InvalidArgumentError: The model cannot localise (no ``"cell_scores"`` output).
    """
    from logobrand.inference.pipeline import run_pipeline

    check_can_localise(clf)
    if threshold is not None:
        threshold = _check_threshold(threshold)
    pre = clf.config.preprocessing

    def decode(source: ImageInput) -> np.ndarray:
        pixels = load_image(source, fetch_policy=fetch_policy)
        x = preprocess(pixels, pre)
        size = np.array([pixels.shape[1], pixels.shape[0]], dtype=np.float32)
        return np.concatenate([x.ravel(), size])

    def runner(packed: np.ndarray) -> np.ndarray:
        n = len(packed)
        s = pre.input_size
        batch = packed[:, :-2].reshape(n, 3, s, s)
        rows, cells = forward_with_box_maps(clf, batch)
        head = np.empty((n, _HEADER), dtype=np.float32)
        head[:, 0] = rows.shape[1]
        head[:, 1:3] = cells.shape[2:]
        head[:, 3:5] = packed[:, -2:]
        return np.concatenate([head, rows, cells.reshape(n, -1)], axis=1)

    def make_result(source: str, packed_row: np.ndarray) -> Prediction:
        n_dec, gh, gw, width, height = (int(v) for v in packed_row[:_HEADER])
        row = packed_row[_HEADER : _HEADER + n_dec]
        cells = packed_row[_HEADER + n_dec :].reshape(-1, gh, gw)
        return _decide_with_boxes(clf, row, cells, (width, height), source, top_k, threshold)

    return run_pipeline(
        runner,
        images,
        decode,
        batch_size,
        workers,
        make_result=make_result,
        describe=describe_source,
        progress=progress,
        total=total,
    )


# -- drawing ----------------------------------------------------------------------------------


def draw_boxes(
    image: np.ndarray,
    prediction: Prediction,
    *,
    color: tuple[int, int, int] = (255, 40, 40),
    thickness: int | None = None,
) -> np.ndarray:
    """Draw a prediction's boxes and labels on a copy of an RGB photo.

    Args:
        image: ``(H, W, 3)`` RGB ``uint8`` photo, as :func:`logobrand.images.load_image`
            returns it (the boxes are in its pixels).
        prediction: A prediction made with ``boxes=True``.
        color: RGB colour of the boxes.
        thickness: Line width in pixels (default: scaled to the photo, at least 2).

    Returns:
        A new ``uint8`` array with the boxes drawn (``brand score`` above each box); the
        photo itself when there is no box. Without any box, ``brand``/``no logo`` is
        written in the corner.

    Raises:
        InvalidArgumentError: ``image`` is not an ``(H, W, 3)`` uint8 array.

    Example:
        >>> # pred = clf.predict("a.jpg", boxes=True)
        >>> # drawn = draw_boxes(load_image("a.jpg"), pred)
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InvalidArgumentError(
            f"image must be an (H, W, 3) uint8 RGB array, got {arr.dtype} {arr.shape}"
        )
    out = np.ascontiguousarray(arr.copy())
    height, width = out.shape[:2]
    line = thickness if thickness is not None else max(2, round(max(height, width) / 250))
    font_scale = max(0.4, max(height, width) / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if not prediction.boxes:
        text = prediction.brand if prediction.brand is not None else "no logo"
        _label(out, f"{text} {prediction.score:.2f}", (0, 0), color, font, font_scale, line)
        return out
    for box in prediction.boxes:
        p1 = (round(box.x1), round(box.y1))
        p2 = (max(p1[0], round(box.x2) - 1), max(p1[1], round(box.y2) - 1))
        cv2.rectangle(out, p1, p2, color, line)
        _label(out, f"{box.label} {box.score:.2f}", p1, color, font, font_scale, line)
    return out


def save_drawing(
    source: ImageInput,
    prediction: Prediction,
    directory: str | os.PathLike[str],
    *,
    taken: set[str] | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> Path:
    """Draw a prediction on its photo and write it as a JPEG into ``directory``, atomically.

    The photo is read again from ``source`` (for a URL: fetched again). The file is named
    after the source (``photos/a.png`` -> ``a.jpg``, a URL after its last path segment,
    other inputs ``photo.jpg``); a name already in ``taken`` or already a file in
    ``directory`` gets ``-2``, ``-3``, ... appended (an existing file, such as the photo
    itself when ``directory`` is its folder, is never overwritten), and the name used is
    added to ``taken``.

    Args:
        source: The input the prediction was made from.
        prediction: A prediction made with ``boxes=True``.
        directory: Output folder (created when missing).
        taken: File names already written in this run (updated).
        fetch_policy: Fetch policy for URL sources.

    Returns:
        The path written.

    Raises:
        ImageDecodeError: The photo cannot be read again.
        FetchError: A URL cannot be fetched again.

    Example:
        >>> # save_drawing("a.jpg", clf.predict("a.jpg", boxes=True), "drawn")  # drawn/a.jpg
    """
    from logobrand._io import atomic_write_bytes

    pixels = load_image(source, fetch_policy=fetch_policy)
    drawn = draw_boxes(pixels, prediction)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise InvalidArgumentError(f"cannot encode the drawing of {describe_source(source)}")
    used = taken if taken is not None else set()
    out = Path(directory)
    stem = _file_stem(source)
    name, n = f"{stem}.jpg", 1
    while name in used or os.path.lexists(out / name):
        n += 1
        name = f"{stem}-{n}.jpg"
    used.add(name)
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(out / name, encoded.tobytes())


def _file_stem(source: object) -> str:
    """A safe file stem for the drawing of ``source``."""
    stem = ""
    if isinstance(source, (str, os.PathLike)):
        text = os.fsdecode(os.fspath(source))
        if "://" in text:
            text = urllib.parse.urlsplit(text).path
        stem = PurePosixPath(text.replace("\\", "/")).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return stem[:100] or "photo"


def _label(
    img: np.ndarray,
    text: str,
    corner: tuple[int, int],
    color: tuple[int, int, int],
    font: int,
    scale: float,
    line: int,
) -> None:
    """Write ``text`` on a filled band just above ``corner`` (inside the photo)."""
    weight = max(1, line // 2)
    (tw, th), base = cv2.getTextSize(text, font, scale, weight)
    x = min(max(0, corner[0]), max(0, img.shape[1] - tw - 4))
    y = corner[1] - th - base - 4
    if y < 0:
        y = corner[1]
    cv2.rectangle(img, (x, y), (x + tw + 4, y + th + base + 4), color, -1)
    cv2.putText(img, text, (x + 2, y + th + 2), font, scale, (255, 255, 255), weight, cv2.LINE_AA)


# -- metrics ----------------------------------------------------------------------------------


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 when either is empty).

    Example:
        >>> box_iou((0, 0, 2, 2), (1, 0, 3, 2))
        0.3333333333333333
    """
    ax1, ay1, ax2, ay2 = (float(v) for v in a[:4])
    bx1, by1, bx2, by2 = (float(v) for v in b[:4])
    iw = min(ax2, bx2) - max(ax1, bx1)
    ih = min(ay2, by2) - max(ay1, by1)
    inter = max(0.0, iw) * max(0.0, ih)
    area_a = max(0.0, ax2 - ax1) * max(0.0, ay2 - ay1)
    area_b = max(0.0, bx2 - bx1) * max(0.0, by2 - by1)
    union = area_a + area_b - inter
    if union <= 0.0 or inter <= 0.0:
        return 0.0
    return min(1.0, inter / union)


def corloc(
    top_boxes: Sequence[Sequence[float] | None],
    truths: Sequence[Sequence[Sequence[float]]],
    *,
    iou_threshold: float = 0.5,
) -> float:
    """Correct localisation: the fraction of photos whose top box overlaps a true box.

    Args:
        top_boxes: One entry per photo: its top box ``(x1, y1, x2, y2)``, or ``None`` when
            the method gave no box (a miss).
        truths: One entry per photo: its ground-truth boxes (at least one each).
        iou_threshold: A hit needs an IoU of at least this with one of the photo's boxes.

    Returns:
        The hit fraction in ``[0, 1]``.

    Raises:
        InvalidArgumentError: The lists differ in length, are empty, or a photo has no
            ground-truth box.

    Example:
        >>> corloc([(0, 0, 10, 10), None], [[(0, 0, 10, 9)], [(5, 5, 9, 9)]])
        0.5
    """
    if len(top_boxes) != len(truths):
        raise InvalidArgumentError(
            f"{len(top_boxes)} top boxes for {len(truths)} photos; pass one entry per photo"
        )
    if not truths:
        raise InvalidArgumentError("corloc needs at least one photo")
    hits = 0
    for index, (box, gts) in enumerate(zip(top_boxes, truths, strict=True)):
        if not gts:
            raise InvalidArgumentError(
                f"photo {index} has no ground-truth box; CorLoc is measured on logo photos only"
            )
        if box is not None and max(box_iou(box, g) for g in gts) >= iou_threshold:
            hits += 1
    return hits / len(truths)


K = TypeVar("K", bound=Hashable)
"""Type of the photo ids of :func:`average_precision` and :func:`mean_average_precision`."""


def average_precision(
    detections: Sequence[tuple[K, float, Sequence[float]]],
    truths: Mapping[K, Sequence[Sequence[float]]],
    *,
    iou_threshold: float = 0.5,
) -> float:
    """Average precision of one class's detections (PASCAL VOC 2010+, all points).

    Detections are taken in decreasing score (ties in input order); each is a true positive
    when it overlaps a not-yet-matched true box of its photo with IoU >= ``iou_threshold``
    (the best-overlapping one), else a false positive (a duplicate of a matched box is a false
    positive). AP is the area under the precision-recall curve with precision made monotone.

    Args:
        detections: ``(image_id, score, box)`` of this class, from all photos.
        truths: ``image_id -> true boxes`` of this class (photos without it may be absent).
        iou_threshold: Overlap needed for a match.

    Returns:
        AP in ``[0, 1]``; ``nan`` when there is no true box at all.

    Example:
        >>> average_precision([("a", 0.9, (0, 0, 2, 2)), ("b", 0.8, (0, 0, 1, 1))],
        ...                   {"a": [(0, 0, 2, 2)], "b": [(5, 5, 6, 6)]})
        0.5
    """
    n_true = sum(len(v) for v in truths.values())
    if n_true == 0:
        return math.nan
    order = sorted(range(len(detections)), key=lambda i: -float(detections[i][1]))
    used: dict[K, list[bool]] = {k: [False] * len(v) for k, v in truths.items()}
    tp = np.zeros(len(order))
    for rank, i in enumerate(order):
        image_id, _, box = detections[i]
        gts = truths.get(image_id, ())
        if not gts:
            continue
        overlaps = [box_iou(box, g) for g in gts]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou_threshold and not used[image_id][best]:
            used[image_id][best] = True
            tp[rank] = 1.0
    ctp = np.cumsum(tp)
    recall = ctp / n_true
    precision = ctp / np.arange(1, len(order) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def mean_average_precision(
    detections: Sequence[tuple[K, str, float, Sequence[float]]],
    truths: Mapping[K, Sequence[tuple[str, Sequence[float]]]],
    classes: Sequence[str],
    *,
    iou_threshold: float = 0.5,
) -> tuple[float, dict[str, float]]:
    """Mean of :func:`average_precision` over ``classes``.

    Args:
        detections: ``(image_id, label, score, box)`` from all photos; labels outside
            ``classes`` are ignored.
        truths: ``image_id -> [(label, box), ...]`` for every photo evaluated (photos without
            a logo map to an empty list).
        classes: The classes averaged over; a class without any true box is left out of the
            mean (its AP is ``nan``).
        iou_threshold: Overlap needed for a match.

    Returns:
        ``(mAP, {class: AP})``.

    Raises:
        InvalidArgumentError: No class of ``classes`` has a true box.

    Example:
        >>> mean_average_precision([("a", "ups", 0.9, (0, 0, 2, 2))],
        ...                        {"a": [("ups", (0, 0, 2, 2))]}, ["ups"])
        (1.0, {'ups': 1.0})
    """
    per_class: dict[str, float] = {}
    for name in classes:
        dets = [(i, s, b) for i, label, s, b in detections if label == name]
        gts = {i: [b for label, b in v if label == name] for i, v in truths.items()}
        per_class[name] = average_precision(dets, gts, iou_threshold=iou_threshold)
    valid = [v for v in per_class.values() if not math.isnan(v)]
    if not valid:
        raise InvalidArgumentError(f"no true box of any of the classes {list(classes)}")
    return float(np.mean(valid)), per_class


__all__ = [
    "CELL_SCORES",
    "DEFAULT_BOX_THRESHOLD",
    "DEFAULT_INTERPOLATION",
    "DEFAULT_MAX_BOXES",
    "UPSAMPLE",
    "XYXY",
    "average_precision",
    "box_iou",
    "cam_boxes",
    "check_can_localise",
    "corloc",
    "draw_boxes",
    "forward_with_cells",
    "make_boxes",
    "mean_average_precision",
    "predict_batch_with_boxes",
    "predict_with_boxes",
    "save_drawing",
]
