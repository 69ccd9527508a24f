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
strength) and :func:`boxes_for` picks them for a decided prediction. Drawing
(:func:`draw_boxes`, :func:`save_drawing`) lives in :mod:`logobrand.plotting` and the box
metrics (:func:`box_iou`, :func:`corloc`, :func:`average_precision`,
:func:`mean_average_precision`) in :mod:`logobrand.metrics_boxes`; both are re-exported here.
Predictions with boxes go through the classifier's one prediction stream
(:mod:`logobrand.inference.stream`).

Example:
    >>> import numpy as np
    >>> cam = np.zeros((10, 10), np.float32)
    >>> cam[2:4, 6:8] = 5.0                     # a blob in the upper right of a 10x10 map
    >>> [round(v) for v in cam_boxes(cam, (200, 100))[0][:4]]  # photo 200 wide, 100 high
    [118, 19, 162, 41]
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

import cv2
import numpy as np

from logobrand.errors import InvalidArgumentError, check_int
from logobrand.images import ImageInput
from logobrand.inference.prediction import Failure, LogoBox, Prediction
from logobrand.inference.runner import BOX_MAPS, LOGITS, HasRunner, OnnxModel, as_model
from logobrand.metrics_boxes import average_precision, box_iou, corloc, mean_average_precision
from logobrand.plotting import draw_boxes, save_drawing

if TYPE_CHECKING:
    from logobrand.images_fetch import FetchPolicy

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
    max_boxes = check_int("max_boxes", max_boxes, 0)
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
    max_boxes = check_int("max_boxes", max_boxes, 0)
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


def boxes_for(
    prediction: Prediction,
    maps: np.ndarray,
    image_size: tuple[int, int],
    labels: Sequence[str],
    *,
    from_head: bool,
    threshold: float | None = None,
) -> Prediction:
    """``prediction`` with the boxes of the brand it reports, and the photo's size.

    With a box head (``from_head``: ``maps`` is its ``(5, h, w)`` output) the boxes are the
    head's, for any brand, gallery brands included; without one, ``maps`` is the ``(C, h, w)``
    cell scores and the boxes are those of the brand's activation map (none for a gallery
    brand).
    """
    boxes: tuple[LogoBox, ...] = ()
    brand = prediction.brand
    if brand is not None and from_head:
        found = head_boxes(maps, image_size, threshold=threshold or DEFAULT_HEAD_THRESHOLD)
        boxes = _as_logo_boxes(found, brand, prediction.score, image_size)
    elif brand is not None and brand in labels:  # not a gallery brand
        boxes = make_boxes(
            maps,
            list(labels).index(brand),
            brand,
            prediction.score,
            image_size,
            threshold=threshold or DEFAULT_BOX_THRESHOLD,
        )
    return dataclasses.replace(prediction, boxes=boxes, image_size=image_size)


def check_can_localise(model: OnnxModel | HasRunner) -> None:
    """Raise unless the model has a ``"cell_scores"`` output.

    Raises:
        InvalidArgumentError: The model has no ``"cell_scores"`` output.
    """
    runner = as_model(model)
    names = [o.name for o in runner.session.get_outputs()]
    if CELL_SCORES not in names:
        raise InvalidArgumentError(
            f"the model in {runner.directory} cannot localise logos: its ONNX file has no "
            f"{CELL_SCORES!r} output (it has {names}); predict without boxes=True (--boxes, "
            "--draw), or re-export a model with a spatial head (efficientnet_lite0) with "
            "`logobrand export` or save_model_dir"
        )


def box_maps_output(model: OnnxModel | HasRunner) -> str:
    """The output boxes come from: :data:`~logobrand.inference.runner.BOX_MAPS` with a box
    head, else :data:`CELL_SCORES`."""
    return BOX_MAPS if as_model(model).box_head is not None else CELL_SCORES


def check_cells(cells: np.ndarray, n_labels: int) -> np.ndarray:
    """``cells`` when it is ``(N, n_labels, h, w)``.

    Raises:
        InvalidArgumentError: A ``"cell_scores"`` output of the wrong shape.
    """
    if cells.ndim != 4 or cells.shape[1] != n_labels:
        raise InvalidArgumentError(
            f"the model's {CELL_SCORES!r} output has shape {cells.shape}; expected (N, "
            f"{n_labels}, h, w): re-export the model (`logobrand export`, or "
            "save_model_dir in Python)"
        )
    return cells


def forward_with_cells(
    model: OnnxModel | HasRunner, batch: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Run the model once for its ``(N, C)`` logits and its ``(N, C, h, w)`` cell scores.

    Raises:
        InvalidArgumentError: Wrong input shape, no ``"cell_scores"`` output, or one of the
            wrong shape.
    """
    runner = as_model(model)
    check_can_localise(runner)
    out = runner.run(batch, (LOGITS, CELL_SCORES))
    return out[LOGITS], check_cells(out[CELL_SCORES], len(runner.labels))


def forward_with_box_maps(
    model: OnnxModel | HasRunner, batch: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and what the boxes come from: the box head's ``(N, 5, h, w)`` maps (scores then
    distances, see :func:`head_boxes`) when the model has one, else the ``(N, C, h, w)`` cell
    scores."""
    runner = as_model(model)
    if runner.box_head is None:
        return forward_with_cells(runner, batch)
    out = runner.run(batch, (LOGITS, BOX_MAPS))
    return out[LOGITS], out[BOX_MAPS]


class _BoxStream(Protocol):
    def predict(self, image: ImageInput) -> Prediction: ...

    def predict_many(
        self,
        images: Iterable[ImageInput],
        *,
        batch_size: int,
        workers: int,
        progress: bool,
        total: int | None,
    ) -> Iterator[Prediction | Failure]: ...


class _Streams(Protocol):
    def prediction_stream(
        self,
        *,
        top_k: int = 5,
        boxes: bool = False,
        box_threshold: float | None = None,
        fetch_policy: FetchPolicy | None = None,
    ) -> _BoxStream: ...


def predict_with_boxes(
    clf: _Streams,
    image: ImageInput,
    *,
    top_k: int = 5,
    threshold: float | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> Prediction:
    """Deprecated: ``clf.predict(image, boxes=True)`` (the one prediction stream)."""
    warnings.warn(
        "predict_with_boxes is deprecated; use LogoClassifier.predict(image, boxes=True)",
        DeprecationWarning,
        stacklevel=2,
    )
    stream = clf.prediction_stream(
        top_k=top_k, boxes=True, box_threshold=threshold, fetch_policy=fetch_policy
    )
    return stream.predict(image)


def predict_batch_with_boxes(
    clf: _Streams,
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
    """Deprecated: ``clf.predict_batch(images, boxes=True)`` (the one prediction stream)."""
    warnings.warn(
        "predict_batch_with_boxes is deprecated; use "
        "LogoClassifier.predict_batch(images, boxes=True)",
        DeprecationWarning,
        stacklevel=2,
    )
    stream = clf.prediction_stream(
        top_k=top_k, boxes=True, box_threshold=threshold, fetch_policy=fetch_policy
    )
    return stream.predict_many(
        images, batch_size=batch_size, workers=workers, progress=progress, total=total
    )


__all__ = [
    "CELL_SCORES",
    "DEFAULT_BOX_THRESHOLD",
    "DEFAULT_INTERPOLATION",
    "DEFAULT_MAX_BOXES",
    "UPSAMPLE",
    "XYXY",
    "average_precision",
    "box_iou",
    "boxes_for",
    "cam_boxes",
    "check_can_localise",
    "corloc",
    "draw_boxes",
    "forward_with_box_maps",
    "forward_with_cells",
    "make_boxes",
    "mean_average_precision",
    "predict_batch_with_boxes",
    "predict_with_boxes",
    "save_drawing",
]
