"""Prediction results and the decision rule that turns logits into a brand (or no brand).

The decision rule, shared by :class:`~logobrand.inference.LogoClassifier` and anything that
computes logits elsewhere (evaluation with a torch model, for instance):

1. ``probs = softmax(logits / temperature)``;
2. ``b`` = the most probable label other than ``"no-logo"``;
3. ``brand = b`` if ``probs[b] >= threshold`` else ``None``;
4. ``score = probs[b]`` when a brand is reported, else ``1 - probs[b]`` (the confidence that
   the photo shows none of the brands).

Example:
    >>> import numpy as np
    >>> p = make_prediction(np.array([0.0, 3.0, 0.0]), ("no-logo", "adidas", "aldi"),
    ...                     threshold=0.5, source="photo.jpg")
    >>> p.brand, round(p.score, 3)
    ('adidas', 0.909)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError

NO_LOGO = "no-logo"
"""The label of the "no brand in this photo" class (same as ``logobrand.data.NO_LOGO``)."""


@dataclass(frozen=True)
class Prediction:
    """The answer for one image.

    Attributes:
        brand: The recognised brand, or ``None`` when no brand reaches the threshold.
        score: Confidence in ``brand`` (its calibrated probability), or, when ``brand`` is
            ``None``, the confidence that no brand is shown (``1 - p(best brand)``).
        top_k: The most probable labels, ``"no-logo"`` included, as ``(label, probability)``
            pairs in decreasing probability.
        source: A short description of the input (its path, URL or ``<N bytes>``).

    Example:
        >>> p = Prediction("adidas", 0.91, (("adidas", 0.91), ("no-logo", 0.05)), "a.jpg")
        >>> p.to_dict()["top_k"][0]
        {'label': 'adidas', 'score': 0.91}
    """

    brand: str | None
    score: float
    top_k: tuple[tuple[str, float], ...]
    source: str

    @property
    def ok(self) -> bool:
        """Always ``True``: lets batch consumers test ``result.ok`` instead of ``isinstance``."""
        return True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (plain ``str``/``float``/``list``/``None`` values)."""
        return {
            "source": self.source,
            "brand": self.brand,
            "score": float(self.score),
            "top_k": [{"label": label, "score": float(prob)} for label, prob in self.top_k],
        }


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
    score = p_best if brand is not None else 1.0 - p_best
    k = min(top_k, len(labels))
    order = np.argsort(-probs, kind="stable")[:k]
    pairs = tuple((str(labels[i]), float(probs[i])) for i in order)
    return Prediction(brand=brand, score=score, top_k=pairs, source=source)


__all__ = ["NO_LOGO", "BatchFailure", "Failure", "Prediction", "make_prediction", "softmax"]
