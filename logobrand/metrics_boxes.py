"""Box metrics: overlap (IoU), correct localisation (CorLoc) and average precision.

They measure boxes (:mod:`logobrand.inference.boxes`) against ground truth
(``benchmarks/localization.py``); :mod:`logobrand.inference.boxes` re-exports them.

Example:
    >>> box_iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from logobrand.errors import InvalidArgumentError


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


__all__ = ["average_precision", "box_iou", "corloc", "mean_average_precision"]
