"""Recognition metrics: the FlickrLogos-32 protocol, calibration and threshold selection.

Labels are brand names; ``None`` and the string ``"no-logo"`` both mean "no logo in this
photo". The FlickrLogos-32 recognition protocol counts, over whole images:

* **accuracy** = correct images / all images (a no-logo image predicted as no-logo is correct);
* **logo precision** = images predicted as some brand *with the right brand* / images predicted
  as some brand;
* **logo recall** = logo images predicted with the right brand / logo images.

Conventions for empty denominators (they never produce NaN): a precision with nothing
predicted is ``1.0`` (no false claims) and a recall with nothing to find is ``1.0``; the
per-class table uses ``0.0`` for both instead (scikit-learn's ``zero_division=0``), and the
macro F1 averages only the classes that occur in ``y_true`` or ``y_pred``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError, check_int
from logobrand.inference.prediction import NO_LOGO as NO_LOGO  # defined once, with the rule

LabelLike = str | None
"""A brand name, or ``None`` / ``"no-logo"`` for no logo."""


def _as_list(values: object, name: str, what: str) -> list[Any]:
    """Materialise a sequence or a one-shot iterable (a generator) into a list, once.

    Raises:
        InvalidArgumentError: ``values`` is a single string or bytes, ``None``, a scalar or
            otherwise not iterable.
    """
    if isinstance(values, (str, bytes)):
        raise InvalidArgumentError(
            f"{name} must be a list of {what}, not a single {type(values).__name__} ({values!r})"
        )
    if not isinstance(values, Iterable) or (isinstance(values, np.ndarray) and values.ndim == 0):
        raise InvalidArgumentError(f"{name} must be a list of {what}, got {type(values).__name__}")
    return list(values)


def _normalise_labels(values: Sequence[LabelLike], name: str) -> list[str]:
    out: list[str] = []
    for index, value in enumerate(values):
        if value is None:
            out.append(NO_LOGO)
        elif isinstance(value, str):
            if not value:
                raise InvalidArgumentError(
                    f"{name}[{index}] is an empty string; labels must be non-empty brand names, "
                    f"or None / {NO_LOGO!r} for no logo"
                )
            out.append(str(value))
        else:
            raise InvalidArgumentError(
                f"{name}[{index}] is {value!r} ({type(value).__name__}); labels must be brand "
                f"names (str) or None / {NO_LOGO!r} for no logo"
            )
    return out


def _ratio(numerator: int, denominator: int, empty: float) -> float:
    return numerator / denominator if denominator else empty


# --------------------------------------------------------------------------------------------
# recognition report


@dataclass(frozen=True)
class ClassMetrics:
    """Metrics of one class (one row of the per-class table).

    Attributes:
        label: The class label (a brand, or ``"no-logo"``).
        precision: Correct predictions of this class / predictions of this class (0 if none).
        recall: Correct predictions of this class / its images (0 if it has none).
        f1: Harmonic mean of precision and recall (0 if both are 0).
        support: Number of images whose true label is this class.
        predicted: Number of images predicted as this class.
    """

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "label": self.label,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "predicted": self.predicted,
        }


@dataclass(frozen=True)
class RecognitionReport:
    """The result of :func:`recognition_report`.

    Attributes:
        accuracy: Correct images / all images.
        logo_precision: Images predicted as a brand with the right brand / images predicted as
            a brand (``1.0`` when no image is predicted as a brand).
        logo_recall: Logo images predicted with the right brand / logo images (``1.0`` when
            there is no logo image).
        macro_f1: Mean F1 over the *brand* classes (``"no-logo"`` excluded) that occur in
            ``y_true`` or ``y_pred``; ``1.0`` when there is none.
        n_images: Number of images.
        n_logo_images: Images whose true label is a brand.
        n_logo_predicted: Images predicted as some brand.
        n_logo_correct: Images predicted with their true brand (numerator of both logo
            precision and logo recall).
        labels: Row/column order of :attr:`confusion` and of :attr:`per_class`.
        per_class: One :class:`ClassMetrics` per label, in :attr:`labels` order.
        confusion: ``int64`` matrix, ``confusion[i, j]`` = images of true ``labels[i]``
            predicted as ``labels[j]`` (read-only; sums to ``n_images``).
    """

    accuracy: float
    logo_precision: float
    logo_recall: float
    macro_f1: float
    n_images: int
    n_logo_images: int
    n_logo_predicted: int
    n_logo_correct: int
    labels: tuple[str, ...]
    per_class: tuple[ClassMetrics, ...]
    confusion: np.ndarray = field(compare=False, repr=False)

    def class_metrics(self, label: LabelLike) -> ClassMetrics:
        """Return the row of ``label`` (``None`` means ``"no-logo"``).

        Raises:
            InvalidArgumentError: ``label`` is not in :attr:`labels`.
        """
        key = NO_LOGO if label is None else label
        for row in self.per_class:
            if row.label == key:
                return row
        raise InvalidArgumentError(f"label {key!r} is not in this report; labels: {self.labels}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (the confusion matrix as nested lists)."""
        return {
            "accuracy": self.accuracy,
            "logo_precision": self.logo_precision,
            "logo_recall": self.logo_recall,
            "macro_f1": self.macro_f1,
            "n_images": self.n_images,
            "n_logo_images": self.n_logo_images,
            "n_logo_predicted": self.n_logo_predicted,
            "n_logo_correct": self.n_logo_correct,
            "labels": list(self.labels),
            "per_class": [row.to_dict() for row in self.per_class],
            "confusion": self.confusion.tolist(),
        }

    def format_table(self, digits: int = 3) -> str:
        """Return a plain-text summary and per-class table.

        Args:
            digits: Decimals of the ratios (an integer >= 0).

        Raises:
            InvalidArgumentError: ``digits`` is not an integer >= 0.

        Example:
            >>> r = recognition_report(["ups", "ups", None], ["ups", None, None])
            >>> print(r.format_table())  # doctest: +NORMALIZE_WHITESPACE
            images 3, logo images 2, predicted as a logo 1, correct logo predictions 1
            accuracy 0.667  logo precision 1.000  logo recall 0.500  macro F1 (brands) 0.667
            <BLANKLINE>
            label    precision  recall     f1  support  predicted
            ups          1.000   0.500  0.667        2          1
            no-logo      0.500   1.000  0.667        1          2
        """
        digits = check_int("digits", digits, 0)
        fmt = f"{{:.{digits}f}}"
        lines = [
            f"images {self.n_images}, logo images {self.n_logo_images}, predicted as a logo "
            f"{self.n_logo_predicted}, correct logo predictions {self.n_logo_correct}",
            f"accuracy {fmt.format(self.accuracy)}  logo precision "
            f"{fmt.format(self.logo_precision)}  logo recall {fmt.format(self.logo_recall)}  "
            f"macro F1 (brands) {fmt.format(self.macro_f1)}",
            "",
        ]
        width = max([len("label"), *(len(label) for label in self.labels)])
        num = max(digits + 2, len("precision"))
        header = (
            f"{'label':<{width}}  {'precision':>{num}}  {'recall':>{digits + 3}}  "
            f"{'f1':>{digits + 3}}  {'support':>7}  {'predicted':>9}"
        )
        lines.append(header)
        for row in self.per_class:
            lines.append(
                f"{row.label:<{width}}  {fmt.format(row.precision):>{num}}  "
                f"{fmt.format(row.recall):>{digits + 3}}  {fmt.format(row.f1):>{digits + 3}}  "
                f"{row.support:>7}  {row.predicted:>9}"
            )
        return "\n".join(lines)


def _label_order(
    y_true: list[str], y_pred: list[str], labels: Sequence[LabelLike] | None
) -> list[str]:
    seen = set(y_true) | set(y_pred)
    if labels is None:
        order = sorted(seen - {NO_LOGO})
        if NO_LOGO in seen:
            order.append(NO_LOGO)
        return order
    order = _normalise_labels(_as_list(labels, "labels", "brand names"), "labels")
    if len(set(order)) != len(order):
        raise InvalidArgumentError(f"labels contains duplicates: {order}")
    missing = sorted(seen - set(order) - {NO_LOGO})
    if missing:
        raise InvalidArgumentError(
            f"labels does not contain {missing}, which occur in y_true or y_pred; "
            "add them or pass labels=None"
        )
    if NO_LOGO in seen and NO_LOGO not in order:
        order.append(NO_LOGO)
    return order


def recognition_report(
    y_true: Sequence[LabelLike],
    y_pred: Sequence[LabelLike],
    *,
    labels: Sequence[LabelLike] | None = None,
) -> RecognitionReport:
    """Score image-level brand predictions with the FlickrLogos-32 protocol.

    Args:
        y_true: True brand of each image; ``None`` or ``"no-logo"`` for no logo. Any iterable
            of labels (a generator is read once); a single string is refused.
        y_pred: Predicted brand of each image; ``None`` or ``"no-logo"`` for no logo (same
            kinds of input as ``y_true``).
        labels: Order of the per-class table and the confusion matrix. By default the brands
            in ``y_true`` and ``y_pred`` sorted, then ``"no-logo"`` last when it occurs. When
            given it must contain every brand that occurs (``"no-logo"`` is appended when it
            occurs and is missing); classes that never occur get zero rows.

    Returns:
        A :class:`RecognitionReport`.

    Raises:
        InvalidArgumentError: Lengths differ, the input is empty or not a list of labels (a
            bare string, ``None``), a label is not a non-empty string or ``None``, or
            ``labels`` misses a brand.

    Example:
        >>> r = recognition_report(["adidas", "adidas", "pepsi", None],
        ...                        ["adidas", "pepsi", "pepsi", "pepsi"])
        >>> r.accuracy, r.logo_precision, round(r.logo_recall, 3)
        (0.5, 0.5, 0.667)
        >>> r.labels, r.confusion.tolist()
        (('adidas', 'pepsi', 'no-logo'), [[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    """
    true_list = _as_list(y_true, "y_true", "labels (one per image)")
    pred_list = _as_list(y_pred, "y_pred", "labels (one per image)")
    if len(true_list) != len(pred_list):
        raise InvalidArgumentError(
            f"y_true has {len(true_list)} labels but y_pred has {len(pred_list)}; pass one "
            "prediction per image"
        )
    if len(true_list) == 0:
        raise InvalidArgumentError("recognition_report needs at least one image, got none")
    truth = _normalise_labels(true_list, "y_true")
    pred = _normalise_labels(pred_list, "y_pred")
    order = _label_order(truth, pred, labels)
    index = {label: i for i, label in enumerate(order)}
    t_idx = np.fromiter((index[v] for v in truth), dtype=np.int64, count=len(truth))
    p_idx = np.fromiter((index[v] for v in pred), dtype=np.int64, count=len(pred))
    n_labels = len(order)
    confusion = np.bincount(t_idx * n_labels + p_idx, minlength=n_labels * n_labels)
    confusion = confusion.reshape(n_labels, n_labels).astype(np.int64)
    confusion.setflags(write=False)

    n_images = len(truth)
    correct = t_idx == p_idx
    if NO_LOGO in index:
        no_logo = index[NO_LOGO]
        true_logo, pred_logo = t_idx != no_logo, p_idx != no_logo
    else:
        true_logo = pred_logo = np.ones(n_images, dtype=bool)
    n_logo_images = int(true_logo.sum())
    n_logo_predicted = int(pred_logo.sum())
    n_logo_correct = int((correct & true_logo).sum())

    tp = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    rows: list[ClassMetrics] = []
    brand_f1: list[float] = []
    for i, label in enumerate(order):
        precision = _ratio(int(tp[i]), int(predicted[i]), 0.0)
        recall = _ratio(int(tp[i]), int(support[i]), 0.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(ClassMetrics(label, precision, recall, f1, int(support[i]), int(predicted[i])))
        if label != NO_LOGO and (support[i] or predicted[i]):
            brand_f1.append(f1)

    return RecognitionReport(
        accuracy=float(correct.mean()),
        logo_precision=_ratio(n_logo_correct, n_logo_predicted, 1.0),
        logo_recall=_ratio(n_logo_correct, n_logo_images, 1.0),
        macro_f1=float(np.mean(brand_f1)) if brand_f1 else 1.0,
        n_images=n_images,
        n_logo_images=n_logo_images,
        n_logo_predicted=n_logo_predicted,
        n_logo_correct=n_logo_correct,
        labels=tuple(order),
        per_class=tuple(rows),
        confusion=confusion,
    )


# --------------------------------------------------------------------------------------------
# calibration


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin of a reliability diagram.

    Attributes:
        lower: Lower edge (exclusive, except the first bin which includes 0).
        upper: Upper edge (inclusive).
        count: Number of predictions in the bin.
        accuracy: Fraction of them that are correct (0.0 for an empty bin).
        confidence: Their mean confidence (0.0 for an empty bin).
    """

    lower: float
    upper: float
    count: int
    accuracy: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "lower": self.lower,
            "upper": self.upper,
            "count": self.count,
            "accuracy": self.accuracy,
            "confidence": self.confidence,
        }


def _confidences_and_correct(
    confidences: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    try:
        conf = np.asarray(confidences, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"confidences must be numbers: a list of N probabilities or an (N, C) matrix ({exc})"
        ) from None
    hits = np.asarray(correct)
    if conf.ndim == 2:
        rows_ok = np.isfinite(conf).all() and conf.min(initial=0.0) >= 0.0
        if not rows_ok or not np.allclose(conf.sum(axis=1), 1.0, atol=1e-3):
            raise InvalidArgumentError(
                f"an (N, C) probability matrix needs rows of finite values in [0, 1] that sum "
                f"to 1, got shape {conf.shape}; apply a softmax to logits first"
            )
        if hits.ndim != 1 or len(hits) != len(conf) or not np.issubdtype(hits.dtype, np.integer):
            raise InvalidArgumentError(
                f"with a (N, C) probability matrix of shape {conf.shape}, the second argument "
                f"must be N integer class indices, got shape {hits.shape} dtype {hits.dtype}"
            )
        if hits.size and (hits.min() < 0 or hits.max() >= conf.shape[1]):
            raise InvalidArgumentError(
                f"class indices must be in [0, {conf.shape[1]}) for {conf.shape[1]} columns of "
                f"probabilities, got {hits.min()}..{hits.max()}"
            )
        hits = conf.argmax(axis=1) == hits
        conf = conf.max(axis=1)
    elif conf.ndim == 1:
        if hits.shape != conf.shape:
            raise InvalidArgumentError(
                f"confidences has shape {conf.shape} but correct has shape {hits.shape}; "
                "pass one boolean per confidence"
            )
        if hits.dtype != np.bool_:
            if not np.isin(hits, (0, 1)).all():
                raise InvalidArgumentError("correct must hold booleans (or 0/1)")
            hits = hits.astype(bool)
    else:
        raise InvalidArgumentError(
            f"confidences must be 1-D (N,) or a 2-D (N, C) probability matrix, got shape "
            f"{conf.shape}"
        )
    if conf.size == 0:
        raise InvalidArgumentError("calibration needs at least one prediction, got none")
    if not np.isfinite(conf).all() or conf.min() < 0.0 or conf.max() > 1.0 + 1e-6:
        raise InvalidArgumentError("confidences must be finite probabilities in [0, 1]")
    return np.clip(conf, 0.0, 1.0), hits


def reliability_bins(
    confidences: Sequence[float] | np.ndarray,
    correct: Sequence[Any] | np.ndarray,
    n_bins: int = 15,
) -> tuple[ReliabilityBin, ...]:
    """Group predictions into equal-width confidence bins.

    Args:
        confidences: ``(N,)`` confidence of each prediction in ``[0, 1]``, or a ``(N, C)``
            probability matrix (then ``correct`` holds the ``N`` true class indices and the
            confidence is the top probability).
        correct: ``(N,)`` booleans (or 0/1): whether each prediction is right; or the true
            class indices when ``confidences`` is a matrix.
        n_bins: Number of bins over ``[0, 1]``; bin ``i`` is ``(i/n, (i+1)/n]`` and the first
            one also holds 0.

    Returns:
        ``n_bins`` :class:`ReliabilityBin`, empty bins included (count 0).

    Raises:
        InvalidArgumentError: Shapes differ, values are not numbers or out of range, or
            ``n_bins`` is not an integer >= 1.

    Example:
        >>> bins = reliability_bins([0.1, 0.9, 0.95], [False, True, False], n_bins=2)
        >>> [(b.count, b.accuracy, round(b.confidence, 3)) for b in bins]
        [(1, 0.0, 0.1), (2, 0.5, 0.925)]
    """
    n_bins = check_int("n_bins", n_bins, 1)
    conf, hits = _confidences_and_correct(confidences, correct)
    which = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    hit_sums = np.bincount(which, weights=hits.astype(np.float64), minlength=n_bins)
    conf_sums = np.bincount(which, weights=conf, minlength=n_bins)
    bins = []
    for i in range(n_bins):
        count = int(counts[i])
        bins.append(
            ReliabilityBin(
                lower=i / n_bins,
                upper=(i + 1) / n_bins,
                count=count,
                accuracy=float(hit_sums[i] / count) if count else 0.0,
                confidence=float(conf_sums[i] / count) if count else 0.0,
            )
        )
    return tuple(bins)


def expected_calibration_error(
    confidences: Sequence[float] | np.ndarray,
    correct: Sequence[Any] | np.ndarray,
    n_bins: int = 15,
) -> float:
    """Expected calibration error: bin-weighted mean of ``|accuracy - confidence|``.

    Accepts the same inputs as :func:`reliability_bins`: ``(confidences, correct)`` or
    ``(probs (N, C), labels (N,))``.

    With a ``(N, C)`` matrix the prediction of a row is its ``argmax``, so when several
    columns tie for the top probability the *first* (lowest-index) of them is the prediction:
    the row counts as correct only if its true class is that column. For example
    ``[[0.5, 0.5]]`` with true class ``1`` is a wrong prediction at confidence 0.5. Pass
    ``(confidences, correct)`` to use another tie convention.

    Returns:
        A value in ``[0, 1]``; 0 means perfectly calibrated (on these bins).

    Raises:
        InvalidArgumentError: As :func:`reliability_bins`.

    Example:
        >>> expected_calibration_error([0.8, 0.8, 0.8, 0.8, 0.8], [1, 1, 1, 1, 0])
        0.0
        >>> round(expected_calibration_error([[0.9, 0.1], [0.3, 0.7]], [1, 1]), 3)
        0.6
    """
    bins = reliability_bins(confidences, correct, n_bins)
    total = sum(b.count for b in bins)
    ece = sum(b.count / total * abs(b.accuracy - b.confidence) for b in bins)
    return float(min(max(ece, 0.0), 1.0))


# --------------------------------------------------------------------------------------------
# logo precision/recall against the acceptance threshold


@dataclass(frozen=True, eq=False)
class LogoPRCurve:
    """Logo precision and recall as a function of the acceptance threshold.

    At threshold ``t`` an image is predicted as its best brand when that brand's score is
    ``>= t``, and as no-logo otherwise.

    Attributes:
        thresholds: Distinct scores of the brand candidates, ascending.
        precision: Logo precision at each threshold.
        recall: Logo recall at each threshold (``1.0`` when there is no logo image).
        n_logo_images: Number of images whose true label is a brand.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_logo_images: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "thresholds": self.thresholds.tolist(),
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "n_logo_images": self.n_logo_images,
        }


def _as_scores(brand_score: Sequence[float] | np.ndarray) -> np.ndarray:
    values: object = list(brand_score) if isinstance(brand_score, Iterator) else brand_score
    try:
        scores = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        scores = np.zeros((0, 0))
    if scores.ndim != 1:
        raise InvalidArgumentError(
            "brand_score must be a list of numbers, one per image, got a "
            f"{type(brand_score).__name__}{f' of shape {scores.shape}' if scores.size else ''}"
        )
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise InvalidArgumentError(
            f"brand_score must be finite numbers, got {scores[bad[0]]} at index {bad[0]}"
        )
    return scores


def _brand_inputs(
    y_true: Sequence[LabelLike],
    brand_pred: Sequence[LabelLike],
    brand_score: Sequence[float] | np.ndarray,
) -> tuple[list[str], list[str], np.ndarray]:
    true_list = _as_list(y_true, "y_true", "labels (one per image)")
    pred_list = _as_list(brand_pred, "brand_pred", "brand candidates (one per image)")
    scores = _as_scores(brand_score)
    if not len(true_list) == len(pred_list) == len(scores):
        raise InvalidArgumentError(
            f"y_true ({len(true_list)}), brand_pred ({len(pred_list)}) and brand_score "
            f"(shape {scores.shape}) must have one entry per image"
        )
    if len(scores) == 0:
        raise InvalidArgumentError("threshold selection needs at least one image, got none")
    return (
        _normalise_labels(true_list, "y_true"),
        _normalise_labels(pred_list, "brand_pred"),
        scores,
    )


def precision_recall_curve_logo(
    y_true: Sequence[LabelLike],
    brand_pred: Sequence[LabelLike],
    brand_score: Sequence[float] | np.ndarray,
) -> LogoPRCurve:
    """Logo precision/recall at every distinct brand score used as threshold.

    Args:
        y_true: True label of each image (``None`` / ``"no-logo"`` for no logo).
        brand_pred: The best *brand* of each image (argmax over the brand classes); an image
            whose candidate is ``None`` / ``"no-logo"`` is never predicted as a logo.
        brand_score: The score (probability) of that brand.

    Returns:
        A :class:`LogoPRCurve` (empty arrays when no image has a brand candidate).

    Example:
        >>> c = precision_recall_curve_logo(["a", "b", None], ["a", "a", "b"], [0.9, 0.6, 0.3])
        >>> c.thresholds.tolist(), c.precision.tolist(), c.recall.tolist()
        ([0.3, 0.6, 0.9], [0.3333333333333333, 0.5, 1.0], [0.5, 0.5, 0.5])
    """
    truth, pred, scores = _brand_inputs(y_true, brand_pred, brand_score)
    n_logo = sum(label != NO_LOGO for label in truth)
    candidate = np.array([label != NO_LOGO for label in pred], dtype=bool)
    hit = np.array([p == t for p, t in zip(pred, truth, strict=True)], dtype=bool) & candidate
    cand_scores, cand_hits = scores[candidate], hit[candidate]
    if cand_scores.size == 0:
        empty = np.zeros(0, dtype=np.float64)
        return LogoPRCurve(empty, empty.copy(), empty.copy(), n_logo)
    order = np.argsort(-cand_scores, kind="stable")
    sorted_scores = cand_scores[order]
    cum_hits = np.cumsum(cand_hits[order])
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    precision = cum_hits[last] / (last + 1)
    recall = cum_hits[last] / n_logo if n_logo else np.ones(len(last))
    return LogoPRCurve(
        thresholds=sorted_scores[last][::-1].copy(),
        precision=precision[::-1].astype(np.float64),
        recall=recall[::-1].astype(np.float64),
        n_logo_images=n_logo,
    )


def fit_temperature(logits: np.ndarray, targets: Sequence[int] | np.ndarray) -> float:
    """The softmax temperature (0.25 to 4, 61 log-spaced values) with the lowest mean negative
    log-likelihood of ``targets`` under ``softmax(logits / T)``. Use validation data.

    Example:
        >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
        >>> fit_temperature(logits, [0, 1, 1]) > 1.0  # over-confident: soften
        True
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],) or z.shape[0] == 0:
        raise InvalidArgumentError(
            f"fit_temperature needs (N, C) logits and N targets, got {z.shape} and {y.shape}"
        )
    grid = np.exp(np.linspace(math.log(0.25), math.log(4.0), 61))
    losses = []
    for t in grid:
        scaled = z / t
        shifted = scaled - scaled.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        losses.append(-float(log_probs[np.arange(len(y)), y].mean()))
    return float(grid[int(np.argmin(losses))])


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold picked by :func:`threshold_for_precision` and what it achieves.

    Attributes:
        threshold: Accept the best brand when its score is ``>= threshold``.
        precision: Logo precision at that threshold on the given data.
        recall: Logo recall at that threshold on the given data.
        reached: Whether ``precision >= target_precision``.
    """

    threshold: float
    precision: float
    recall: float
    reached: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "threshold": self.threshold,
            "precision": self.precision,
            "recall": self.recall,
            "reached": self.reached,
        }


def threshold_for_precision(
    y_true: Sequence[LabelLike],
    brand_pred: Sequence[LabelLike],
    brand_score: Sequence[float] | np.ndarray,
    target_precision: float = 0.98,
) -> ThresholdChoice:
    """Pick the lowest threshold whose logo precision reaches ``target_precision``.

    Use validation data, never the test set. The lowest such threshold has the highest logo
    recall among those meeting the target. Candidate thresholds are the distinct brand scores,
    so the chosen operating point always predicts at least one logo.

    If no threshold reaches the target, the threshold with the highest precision is returned
    (the lowest one among ties, i.e. the best recall) with ``reached=False``. If no image has
    a brand candidate at all, the result is ``threshold=1.0, precision=0.0, recall=0.0,
    reached=False``.

    Args:
        y_true: True label of each image (``None`` / ``"no-logo"`` for no logo).
        brand_pred: The best brand of each image.
        brand_score: Its score (probability).
        target_precision: Wanted logo precision, in ``(0, 1]``.

    Returns:
        A :class:`ThresholdChoice`.

    Raises:
        InvalidArgumentError: Lengths differ, the input is empty, scores are not finite or
            the target is not a number in ``(0, 1]``.

    Example:
        >>> y = ["a", "a", "b", None, None]
        >>> pred = ["a", "a", "b", "a", "b"]
        >>> score = [0.95, 0.9, 0.8, 0.85, 0.3]
        >>> threshold_for_precision(y, pred, score, target_precision=0.9)
        ThresholdChoice(threshold=0.9, precision=1.0, recall=0.6666666666666666, reached=True)
    """
    try:
        target = float(target_precision)
    except (TypeError, ValueError):
        target = math.nan
    if not 0.0 < target <= 1.0:
        raise InvalidArgumentError(
            f"target_precision must be a number in (0, 1], got {target_precision!r}"
        )
    curve = precision_recall_curve_logo(y_true, brand_pred, brand_score)
    if curve.thresholds.size == 0:
        return ThresholdChoice(threshold=1.0, precision=0.0, recall=0.0, reached=False)
    ok = np.flatnonzero(curve.precision >= target - 1e-12)
    if ok.size:
        i, reached = int(ok[0]), True
    else:
        i, reached = int(np.flatnonzero(curve.precision == curve.precision.max())[0]), False
    return ThresholdChoice(
        threshold=float(curve.thresholds[i]),
        precision=float(curve.precision[i]),
        recall=float(curve.recall[i]),
        reached=reached,
    )


def apply_threshold(
    brand_pred: Sequence[LabelLike], brand_score: Sequence[float] | np.ndarray, threshold: float
) -> list[str | None]:
    """Turn brand candidates into final predictions: the brand if ``score >= threshold``.

    Args:
        brand_pred: The best brand of each image (any iterable; a generator is read once).
        brand_score: Its score (probability), one finite number per image.
        threshold: Accept the brand when its score is ``>= threshold``.

    Returns:
        The brand, or ``None`` (no logo), of each image.

    Raises:
        InvalidArgumentError: Lengths differ, a score is not finite, ``threshold`` is not a
            number, or ``brand_pred`` is not a list of labels.

    Example:
        >>> apply_threshold(["a", "b"], [0.9, 0.2], 0.5)
        ['a', None]
    """
    brand_pred = _as_list(brand_pred, "brand_pred", "brand candidates (one per image)")
    scores = _as_scores(brand_score)
    try:
        limit = float(threshold)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"threshold must be a number, got {threshold!r}") from None
    if len(scores) != len(brand_pred):
        raise InvalidArgumentError(
            f"brand_pred has {len(brand_pred)} entries but brand_score has {len(scores)}"
        )
    if math.isnan(limit):
        raise InvalidArgumentError("threshold must be a number, got NaN")
    pred = _normalise_labels(brand_pred, "brand_pred")
    return [
        p if p != NO_LOGO and float(s) >= limit else None for p, s in zip(pred, scores, strict=True)
    ]


__all__ = [
    "NO_LOGO",
    "ClassMetrics",
    "LogoPRCurve",
    "RecognitionReport",
    "ReliabilityBin",
    "ThresholdChoice",
    "apply_threshold",
    "expected_calibration_error",
    "fit_temperature",
    "precision_recall_curve_logo",
    "recognition_report",
    "reliability_bins",
    "threshold_for_precision",
]
