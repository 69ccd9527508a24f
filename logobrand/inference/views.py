"""Closer looks: score a photo whole and in four corner crops, and keep the surest view.

A photo squashed to the model input loses small logos. With views on, each photo is also cut
into four overlapping corner crops (``crop`` of each side, 0.6 by default: they overlap in the
middle), each preprocessed like a whole photo, so a logo fills more of the input. The rule:

1. Score the whole photo. If its best brand reaches the views threshold, that answer stands
   and no crop is scored (most photos the model is sure of cost one run).
2. Otherwise score the four crops too and answer from the view whose best brand has the
   highest probability, with the same views threshold.

The views threshold differs from the model's plain threshold (the best of five views is more
often high by chance), so it is chosen on validation photos by :func:`views_curve` and stored
in ``config.json`` (``views``). Nothing here needs torch.

Example:
    >>> # clf = LogoClassifier.from_pretrained("default", views=True)  # closer looks on
    >>> # clf.predict("photo.jpg").brand
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from logobrand.inference.prediction import NO_LOGO, Prediction, make_prediction, softmax
from logobrand.models.registry import Preprocessing
from logobrand.transforms import preprocess

if TYPE_CHECKING:
    from logobrand.inference.config import ModelConfig

VIEW_NAMES = ("whole", "top-left", "top-right", "bottom-left", "bottom-right")
"""The views, in the order :func:`make_views` stacks them."""


@dataclass(frozen=True)
class ViewsSettings:
    """The closer-looks settings stored in a model's ``config.json`` (``views``).

    Attributes:
        crop: Side of each corner crop, as a share of the photo's side, in ``(0, 1)``.
        threshold: Brand probability the surest view must reach, in ``[0, 1]``.
    """

    crop: float = 0.6
    threshold: float = 0.5

    def to_dict(self) -> dict[str, float]:
        """Return the JSON-ready content."""
        return {"crop": self.crop, "threshold": self.threshold}


def make_views(pixels: np.ndarray, pre: Preprocessing, crop: float = 0.6) -> np.ndarray:
    """The five views of one photo, preprocessed: ``(5, 3, S, S)`` float32.

    Args:
        pixels: ``(H, W, 3)`` RGB ``uint8`` photo.
        pre: The model's preprocessing (each view goes through it like a whole photo).
        crop: Side of each corner crop, as a share of the photo's side.
    """
    h, w = pixels.shape[:2]
    ch, cw = max(1, round(h * crop)), max(1, round(w * crop))
    views = [pixels]
    for y0 in (0, h - ch):
        for x0 in (0, w - cw):
            views.append(pixels[y0 : y0 + ch, x0 : x0 + cw])
    return np.stack([preprocess(np.ascontiguousarray(v), pre) for v in views])


def brand_scores(logits: np.ndarray, labels: Sequence[str], temperature: float) -> np.ndarray:
    """Best brand probability of each row of ``logits`` (``(..., C)`` -> ``(...)``)."""
    probs = softmax(np.asarray(logits, dtype=np.float64), temperature)
    brands = [i for i, label in enumerate(labels) if label != NO_LOGO]
    return np.asarray(probs[..., brands].max(axis=-1))


def surest_view(scores: np.ndarray, threshold: float) -> int:
    """Index of the view that answers, under the rule of this module.

    Args:
        scores: ``(5,)`` best brand probability of each view; ``NaN`` for crops not scored.
        threshold: The views threshold.
    """
    if not np.isfinite(scores[1:]).any() or scores[0] >= threshold:
        return 0
    return int(np.nanargmax(scores))


def forward_views(
    run: Callable[[np.ndarray], np.ndarray],
    batch: np.ndarray,
    config: ModelConfig,
    views: ViewsSettings,
) -> np.ndarray:
    """Run the model on the views of a batch of photos, under the rule of this module.

    Args:
        run: The network: ``(N, 3, S, S)`` inputs to ``(N, C)`` logits.
        batch: ``(B, 5, 3, S, S)`` views (:func:`make_views` of each photo).
        config: The model's config (labels and temperature).
        views: The settings in use.

    Returns:
        ``(B, 5, C)`` logits; the crops of photos whose whole view already reaches the views
        threshold are not run, and their rows are ``NaN``.
    """
    whole = run(batch[:, 0])
    out = np.full((len(batch), batch.shape[1], whole.shape[1]), np.nan, np.float32)
    out[:, 0] = whole
    sure = brand_scores(whole, config.labels, config.temperature) >= views.threshold
    unsure = np.flatnonzero(~sure)
    if len(unsure):
        crops = batch[unsure, 1:].reshape(-1, *batch.shape[2:])
        out[unsure, 1:] = run(crops).reshape(len(unsure), -1, whole.shape[1])
    return out


def decide_views(
    rows: np.ndarray,
    config: ModelConfig,
    views: ViewsSettings,
    *,
    top_k: int = 5,
    source: str = "",
) -> Prediction:
    """The answer for one photo from its ``(5, C)`` view logits (``NaN`` rows: not scored):
    :func:`~logobrand.inference.prediction.make_prediction` on the view :func:`surest_view`
    picks, with the views threshold."""
    scored = np.isfinite(rows).all(axis=1)
    scores = np.full(len(rows), np.nan)
    scores[scored] = brand_scores(rows[scored], config.labels, config.temperature)
    view = surest_view(scores, views.threshold)
    return make_prediction(
        rows[view],
        config.labels,
        temperature=config.temperature,
        threshold=views.threshold,
        top_k=top_k,
        source=source,
    )


def views_curve(
    scores: np.ndarray, names: np.ndarray, truth: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logo precision and recall of the views rule at every threshold, for calibration.

    Args:
        scores: ``(N, 5)`` best brand probability of each view of ``N`` photos (all scored).
        names: ``(N, 5)`` best brand of each view.
        truth: The true label of each photo (``"no-logo"`` for none of the brands).

    Returns:
        ``(thresholds, precision, recall)``, thresholds ascending; a photo counts as found
        when the rule reports its true brand, and as a false alarm when it reports another.
    """
    truth_arr = np.asarray(truth)
    whole = scores[:, 0]
    best = scores.argmax(axis=1)
    rows = np.arange(len(scores))
    candidates = np.unique(scores)
    positives = max(1, int((truth_arr != NO_LOGO).sum()))
    precision, recall = [], []
    for t in candidates:
        view = np.where(whole >= t, 0, best)
        reported = scores[rows, view] >= t
        right = reported & (names[rows, view] == truth_arr)
        n = int(reported.sum())
        precision.append(int(right.sum()) / n if n else 1.0)
        recall.append(int(right.sum()) / positives)
    return candidates, np.asarray(precision), np.asarray(recall)


def choose_views_threshold(
    scores: np.ndarray, names: np.ndarray, truth: Sequence[str], target_precision: float
) -> tuple[float, float, float]:
    """The lowest threshold whose logo precision reaches the target, and its precision and
    recall; the highest-precision threshold when none does."""
    thresholds, precision, recall = views_curve(scores, names, truth)
    ok = np.flatnonzero(precision >= target_precision)
    i = int(ok[0]) if len(ok) else int(np.argmax(precision))
    return float(thresholds[i]), float(precision[i]), float(recall[i])


__all__ = [
    "VIEW_NAMES",
    "ViewsSettings",
    "brand_scores",
    "choose_views_threshold",
    "decide_views",
    "forward_views",
    "make_views",
    "surest_view",
    "views_curve",
]
