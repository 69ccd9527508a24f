"""Prediction results and the decision rule that turns logits into a brand (or no brand).

The decision rule, shared by :class:`~logobrand.inference.LogoClassifier` and anything that
computes logits elsewhere (evaluation with a torch model, for instance):

1. ``probs = softmax(logits / temperature)``;
2. ``b`` = the most probable label other than ``"no-logo"``;
3. ``brand = b`` if ``probs[b] >= threshold`` else ``None``;
4. ``score = probs[b]``, whether or not ``b`` is reported: **the score is the calibrated
   probability of the brand the model ranks first** (``closest``), in Python, JSON and the
   command line alike; that brand is the answer when the score reaches ``threshold``.

Example:
    >>> import numpy as np
    >>> p = make_prediction(np.array([0.0, 3.0, 0.0]), ("no-logo", "adidas", "aldi"),
    ...                     threshold=0.5, source="photo.jpg")
    >>> p.brand, round(p.score, 3)
    ('adidas', 0.909)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError

NO_LOGO = "no-logo"
"""The label of the "no brand in this photo" class; :mod:`logobrand.data` and
:mod:`logobrand.metrics` re-export this one definition."""


@dataclass(frozen=True)
class Prediction:
    """The answer for one image.

    Attributes:
        brand: The recognised brand, or ``None`` ("no logo") when no brand reaches the
            threshold.
        score: The calibrated probability of :attr:`closest`, the brand the model ranks
            first: the answer is that brand when ``score >= threshold``, else ``None``. (Before
            version 0.2 a "no logo" answer carried ``1 - score``.)
        top_k: The most probable labels, ``"no-logo"`` included, as ``(label, probability)``
            pairs in decreasing probability.
        source: A short description of the input (its path, URL or ``<N bytes>``).
        boxes: With ``boxes=True``: where the brand is, strongest first (empty when no brand
            is reported or the model cannot place it); see :mod:`logobrand.inference.boxes`.
        image_size: With ``boxes=True``: ``(width, height)`` of the photo the boxes refer to;
            ``None`` when boxes were not requested.
        closest: The brand the model ranks first (equal to ``brand`` when one is reported).
        threshold: The threshold ``score`` was compared with.

    Example:
        >>> p = Prediction("adidas", 0.91, (("adidas", 0.91), ("no-logo", 0.05)), "a.jpg")
        >>> p.to_dict()["top_k"][0]
        {'label': 'adidas', 'score': 0.91}
    """

    brand: str | None
    score: float
    top_k: tuple[tuple[str, float], ...]
    source: str
    boxes: tuple[LogoBox, ...] = ()
    image_size: tuple[int, int] | None = None
    closest: str | None = None
    threshold: float | None = None

    @property
    def ok(self) -> bool:
        """Always ``True``: lets batch consumers test ``result.ok`` instead of ``isinstance``."""
        return True

    @property
    def coverage(self) -> float | None:
        """Share of the photo covered by :attr:`boxes` (their union), in ``[0, 1]``.

        ``None`` when boxes were not requested (``image_size`` is ``None``); ``0.0`` when
        they were and none was found.
        """
        if self.image_size is None:
            return None
        width, height = self.image_size
        return _union_area([b.xyxy for b in self.boxes]) / float(width * height)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (plain ``str``/``float``/``list``/``None`` values).

        With boxes requested (``image_size`` set) it also has ``"boxes"`` (a list, maybe
        empty), ``"image_size"`` (``{"width", "height"}``) and ``"coverage"``.
        """
        out: dict[str, Any] = {
            "source": self.source,
            "brand": self.brand,
            "score": float(self.score),
            "top_k": [{"label": label, "score": float(prob)} for label, prob in self.top_k],
        }
        if self.closest is not None:
            out["closest"] = self.closest
        if self.threshold is not None:
            out["threshold"] = float(self.threshold)
        if self.image_size is not None:
            out["boxes"] = [box.to_dict() for box in self.boxes]
            out["image_size"] = {
                "width": int(self.image_size[0]),
                "height": int(self.image_size[1]),
            }
            out["coverage"] = self.coverage
        return out


@dataclass(frozen=True)
class LogoBox:
    """Where a recognised brand is in the photo (``predict(..., boxes=True)``).

    Attributes:
        x1: Left edge, in pixels of the photo (after its EXIF orientation).
        y1: Top edge.
        x2: Right edge (exclusive: ``x2 - x1`` is the width).
        y2: Bottom edge.
        score: Confidence used to rank boxes: the photo's probability of ``label`` times the
            box's strength on the activation map (``1`` for the strongest box of a photo).
        label: The brand.
        area_fraction: Share of the photo the box covers, ``(x2-x1)(y2-y1) / (W H)``.

    Example:
        >>> LogoBox(10, 20, 50, 40, 0.9, "ups", 0.08).to_dict()["box"]
        [10.0, 20.0, 50.0, 40.0]
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str
    area_fraction: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)``."""
        return (self.x1, self.y1, self.x2, self.y2)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"label", "score", "box": [x1, y1, x2, y2], "area_fraction"}``."""
        return {
            "label": self.label,
            "score": float(self.score),
            "box": [round(float(v), 2) for v in self.xyxy],
            "area_fraction": float(self.area_fraction),
        }


def _union_area(boxes: Sequence[tuple[float, float, float, float]]) -> float:
    """Area of the union of axis-aligned boxes (exact, by coordinate compression)."""
    boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    if not boxes:
        return 0.0
    xs = sorted({v for b in boxes for v in (b[0], b[2])})
    total = 0.0
    for left, right in itertools.pairwise(xs):
        spans = sorted((b[1], b[3]) for b in boxes if b[0] <= left and b[2] >= right)
        covered, end = 0.0, -math.inf
        for top, bottom in spans:
            if bottom <= end:
                continue
            covered += bottom - max(top, end)
            end = bottom
        total += covered * (right - left)
    return total


@dataclass(frozen=True)
class Failure:
    """An input of a batch that could not be processed; yielded at that input's position.

    Attributes:
        source: A short description of the input.
        error: The error message (it names the input and says what went wrong).
        error_type: The exception class name, e.g. ``"ImageDecodeError"``.

    Example:
        >>> Failure("x.jpg", "x.jpg is empty (0 bytes)", "ImageDecodeError").ok
        False
    """

    source: str
    error: str
    error_type: str

    @property
    def ok(self) -> bool:
        """Always ``False`` (see :attr:`Prediction.ok`)."""
        return False

    @classmethod
    def from_exception(cls, source: str, exc: BaseException) -> Failure:
        """Build a failure record from the exception raised for ``source``."""
        return cls(source=source, error=str(exc) or repr(exc), error_type=type(exc).__name__)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {"source": self.source, "error": self.error, "error_type": self.error_type}


BatchFailure = Failure
"""Alias of :class:`Failure` (the name used in the project contract)."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax over the last axis of ``logits / temperature``.

    Example:
        >>> softmax(np.array([0.0, 0.0])).tolist()
        [0.5, 0.5]
    """
    if not temperature > 0 or not math.isfinite(temperature):
        raise InvalidArgumentError(f"temperature must be a finite number > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / np.sum(e, axis=-1, keepdims=True)
    return out


def make_prediction(
    logits: np.ndarray,
    labels: Sequence[str],
    *,
    temperature: float = 1.0,
    threshold: float = 0.5,
    top_k: int = 5,
    source: str = "",
) -> Prediction:
    """Apply the decision rule to one row of logits.

    Args:
        logits: Shape ``(C,)``, one value per label.
        labels: The ``C`` labels in index order; must contain ``"no-logo"`` and one brand.
        temperature: Calibration temperature (> 0).
        threshold: Minimum brand probability for a brand to be reported.
        top_k: How many ``(label, probability)`` pairs to return (``0`` for none).
        source: Description of the input, copied into the result.

    Returns:
        The :class:`Prediction`.

    Raises:
        InvalidArgumentError: Shapes or arguments do not fit.

    Example:
        >>> make_prediction(np.array([2.0, 0.0]), ["no-logo", "ups"], top_k=1).brand is None
        True
    """
    row = np.asarray(logits)
    if row.ndim != 1 or row.shape[0] != len(labels):
        raise InvalidArgumentError(
            f"logits of shape {row.shape} do not match the {len(labels)} labels; "
            "pass one row of the model output"
        )
    if NO_LOGO not in labels or len(labels) < 2:
        raise InvalidArgumentError(f"labels must contain {NO_LOGO!r} and at least one brand")
    if top_k < 0:
        raise InvalidArgumentError(f"top_k must be >= 0, got {top_k}")
    probs = softmax(row, temperature)
    no_logo = list(labels).index(NO_LOGO)
    masked = probs.copy()
    masked[no_logo] = -1.0
    best = int(np.argmax(masked))
    p_best = float(probs[best])
    brand = labels[best] if p_best >= threshold else None
    k = min(top_k, len(labels))
    order = np.argsort(-probs, kind="stable")[:k]
    pairs = tuple((str(labels[i]), float(probs[i])) for i in order)
    return Prediction(
        brand=brand,
        score=p_best,
        top_k=pairs,
        source=source,
        closest=str(labels[best]),
        threshold=float(threshold),
    )


__all__ = [
    "NO_LOGO",
    "BatchFailure",
    "Failure",
    "LogoBox",
    "Prediction",
    "make_prediction",
    "softmax",
]
