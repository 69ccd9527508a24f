"""Calibration, one step for any trained model: a temperature, then a threshold.

Given a model and labelled validation photos it never trained on:

1. the softmax temperature that minimises their negative log-likelihood
   (:func:`logobrand.metrics.fit_temperature`);
2. the lowest "no logo" threshold whose logo precision reaches the target
   (:func:`logobrand.metrics.threshold_for_precision`), and the whole precision/recall curve it
   was chosen from (stored, so that ``--target-precision`` can pick another point later).

:class:`~logobrand.training.ModelCheckpoint` runs it on the best epoch at the end of training;
the recipes run it too. Nothing here needs torch.

Example:
    >>> # clf = LogoClassifier.from_pretrained("runs/lite0/best")
    >>> # result = calibrate(clf, val_dataset)
    >>> # calibrated_config(clf.config, result).save("runs/lite0/best")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from logobrand.errors import InvalidArgumentError, LogoBrandError
from logobrand.images import load_image
from logobrand.inference.config import ModelConfig, curve_record
from logobrand.inference.prediction import NO_LOGO, Prediction, softmax
from logobrand.inference.text import Lines, TextReader
from logobrand.inference.views import ViewsSettings, choose_views_threshold
from logobrand.inference.words import WordsSettings
from logobrand.metrics import fit_temperature, precision_recall_curve_logo, threshold_for_precision

if TYPE_CHECKING:
    from logobrand.data import FileDataset
    from logobrand.inference.classifier import LogoClassifier


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` found.

    Attributes:
        temperature: The fitted softmax temperature.
        threshold: The "no logo" threshold for the target precision.
        target_precision: The logo precision asked for.
        reached: Whether the target was reached on the validation photos.
        precision: Logo precision at ``threshold`` on them.
        recall: Logo recall at ``threshold`` on them.
        curve: The validation curve (:func:`logobrand.inference.config.curve_record`).
        photos: Photos used.
        failed: Photos that could not be decoded (left out).
    """

    temperature: float
    threshold: float
    target_precision: float
    reached: bool
    precision: float
    recall: float
    curve: dict[str, list[float]]
    photos: int
    failed: int


def calibrate(
    classifier: LogoClassifier,
    data: FileDataset,
    *,
    target_precision: float = 0.98,
    batch_size: int = 32,
) -> CalibrationResult:
    """Fit the temperature and choose the threshold of ``classifier`` on ``data``.

    Args:
        classifier: The model (its own temperature and threshold are ignored).
        data: Labelled validation photos (``"no-logo"`` for photos without one of its brands),
            never used to train it. Labels the model does not know are refused.
        target_precision: The logo precision the threshold must reach, in ``(0, 1]``.
        batch_size: Photos per ONNX run.

    Returns:
        A :class:`CalibrationResult`.

    Raises:
        InvalidArgumentError: ``data`` is empty, holds labels the model lacks, or none of its
            photos can be decoded.
    """
    labels = list(classifier.labels)
    unknown = sorted({s.label for s in data.samples} - set(labels))
    if unknown:
        raise InvalidArgumentError(
            f"the calibration photos have labels the model does not know: {unknown}"
        )
    if not data.samples:
        raise InvalidArgumentError("calibration needs validation photos; got none")
    rows: list[np.ndarray] = []
    targets: list[int] = []
    batch: list[np.ndarray] = []
    failed = 0
    for sample in data.samples:
        try:
            batch.append(classifier.preprocess(sample.path))
        except LogoBrandError:
            failed += 1
            continue
        targets.append(labels.index(sample.label))
        if len(batch) == batch_size:
            rows.append(classifier.predict_logits(np.stack(batch)))
            batch = []
    if batch:
        rows.append(classifier.predict_logits(np.stack(batch)))
    if not rows:
        raise InvalidArgumentError(f"none of the {failed} calibration photos could be decoded")
    return calibrate_logits(
        np.concatenate(rows), targets, labels, target_precision=target_precision, failed=failed
    )


def calibrate_logits(
    logits: np.ndarray,
    targets: Sequence[int],
    labels: Sequence[str],
    *,
    target_precision: float = 0.98,
    failed: int = 0,
) -> CalibrationResult:
    """The calibration step on validation logits already computed (what :func:`calibrate` and
    the training recipes share).

    Args:
        logits: ``(N, C)`` raw network outputs, columns in ``labels`` order.
        targets: The true class index of each row.
        labels: The labels; must contain ``"no-logo"``.
        target_precision: The logo precision the threshold must reach, in ``(0, 1]``.
        failed: Photos that could not be decoded (recorded in the result).

    Returns:
        A :class:`CalibrationResult`.
    """
    labels = list(labels)
    temperature = fit_temperature(logits, targets)
    probs = softmax(np.asarray(logits, dtype=np.float64), temperature)
    brand_cols = [i for i, label in enumerate(labels) if label != NO_LOGO]
    best = np.asarray(brand_cols)[probs[:, brand_cols].argmax(1)]
    truth = [labels[t] for t in targets]
    names = [labels[b] for b in best]
    scores = probs[np.arange(len(probs)), best]
    choice = threshold_for_precision(truth, names, scores, target_precision)
    curve = precision_recall_curve_logo(truth, names, scores)
    return CalibrationResult(
        temperature=temperature,
        threshold=choice.threshold,
        target_precision=float(target_precision),
        reached=choice.reached,
        precision=choice.precision,
        recall=choice.recall,
        curve=curve_record(
            curve.thresholds.tolist(), curve.precision.tolist(), curve.recall.tolist()
        ),
        photos=len(truth),
        failed=failed,
    )


def calibrated_config(config: ModelConfig, result: CalibrationResult) -> ModelConfig:
    """``config`` with the temperature, threshold and validation curve of ``result``."""
    training: dict[str, Any] = {
        **config.training,
        "validation_curve": result.curve,
        "calibration": {
            "photos": result.photos,
            "failed": result.failed,
            "val_logo_precision": result.precision,
            "val_logo_recall": result.recall,
            "target_reached": result.reached,
        },
    }
    return dataclasses.replace(
        config,
        temperature=result.temperature,
        threshold=result.threshold,
        target_precision=result.target_precision,
        training=training,
    )


@dataclass(frozen=True)
class ViewsCalibration:
    """What :func:`calibrate_views` found.

    Attributes:
        settings: The chosen crop and views threshold.
        precision: Logo precision of the views rule at that threshold on the photos.
        recall: Logo recall of the views rule there.
        by_crop: ``{crop: [threshold, precision, recall]}`` for every crop tried.
        photos: Photos used.
        failed: Photos that could not be decoded (left out).
    """

    settings: ViewsSettings
    precision: float
    recall: float
    by_crop: dict[str, list[float]]
    photos: int
    failed: int

    def config(self, config: ModelConfig) -> ModelConfig:
        """``config`` with these views settings (and how they were chosen, under training)."""
        record = {
            "photos": self.photos,
            "failed": self.failed,
            "val_logo_precision": self.precision,
            "val_logo_recall": self.recall,
            "by_crop": self.by_crop,
        }
        return dataclasses.replace(
            config,
            views=self.settings.to_dict(),
            training={**config.training, "views_calibration": record},
        )


def view_logits(
    classifier: LogoClassifier, data: FileDataset, crop: float, *, batch_size: int = 16
) -> tuple[np.ndarray, list[str], int]:
    """Logits of all five views of each photo of ``data`` (none skipped).

    Returns:
        ``(logits, truth, failed)``: ``(N, 5, C)`` logits, the label of each decoded photo and
        the number that could not be decoded.
    """
    rows: list[np.ndarray] = []
    truth: list[str] = []
    batch: list[np.ndarray] = []
    failed = 0
    for i, sample in enumerate(data.samples):
        try:
            batch.append(classifier.preprocess_views(sample.path, crop))
            truth.append(sample.label)
        except LogoBrandError:
            failed += 1
        if batch and (len(batch) == batch_size or i == len(data.samples) - 1):
            views = np.stack(batch)
            logits = classifier.predict_logits(views.reshape(-1, *views.shape[2:]))
            rows.append(logits.reshape(len(batch), views.shape[1], -1))
            batch = []
    if not rows:
        raise InvalidArgumentError(f"none of the {failed} calibration photos could be decoded")
    return np.concatenate(rows), truth, failed


def calibrate_views(
    classifier: LogoClassifier,
    data: FileDataset,
    *,
    crops: Sequence[float] = (0.5, 0.6, 0.7),
    target_precision: float | None = None,
) -> ViewsCalibration:
    """Choose the crop and the views threshold of the closer looks on validation photos.

    For each crop, the threshold is the lowest whose logo precision under the views rule
    (:mod:`logobrand.inference.views`) reaches ``target_precision``; the crop with the highest
    recall there wins. The model's temperature is kept.

    Args:
        classifier: The model (its own threshold is ignored).
        data: Labelled validation photos never used to train it.
        crops: Crop sides to try, as shares of the photo's side.
        target_precision: Default: the model's own ``target_precision``.

    Raises:
        InvalidArgumentError: ``data`` is empty, holds labels the model lacks, or none of its
            photos can be decoded.
    """
    labels = classifier.labels
    unknown = sorted({s.label for s in data.samples} - set(labels))
    if unknown or not data.samples:
        raise InvalidArgumentError(
            f"calibrate_views needs validation photos with the model's labels; got "
            f"{len(data.samples)} photos, unknown labels {unknown}"
        )
    target = classifier.config.target_precision if target_precision is None else target_precision
    brand_cols = np.asarray([i for i, label in enumerate(labels) if label != NO_LOGO])
    best: ViewsCalibration | None = None
    by_crop: dict[str, list[float]] = {}
    for crop in crops:
        logits, truth, failed = view_logits(classifier, data, crop)
        probs = softmax(logits.astype(np.float64), classifier.config.temperature)
        top = probs[..., brand_cols].argmax(axis=-1)
        scores = np.take_along_axis(probs[..., brand_cols], top[..., None], -1)[..., 0]
        names = np.asarray(labels)[brand_cols[top]]
        threshold, precision, recall = choose_views_threshold(scores, names, truth, target)
        by_crop[str(crop)] = [threshold, precision, recall]
        if best is None or recall > best.recall:
            best = ViewsCalibration(
                ViewsSettings(crop=crop, threshold=threshold),
                precision,
                recall,
                by_crop,
                len(truth),
                failed,
            )
    assert best is not None
    return dataclasses.replace(best, by_crop=by_crop)


@dataclass(frozen=True)
class WordsCalibration:
    """What :func:`calibrate_words` found.

    Attributes:
        settings: The chosen ``floor`` and ``look``.
        precision: Logo precision of the rule with words on the photos.
        recall: Logo recall with words.
        recall_without: Logo recall of the same rule without words.
        read_share: Share of the photos read at the chosen ``look`` (the OCR cost).
        by_floor: ``{floor: [precision, recall]}`` for every floor tried (``look`` 0).
        photos: Photos used.
        failed: Photos that could not be decoded (left out).
    """

    settings: WordsSettings
    precision: float
    recall: float
    recall_without: float
    read_share: float
    by_floor: dict[str, list[float]]
    photos: int
    failed: int

    def config(self, config: ModelConfig) -> ModelConfig:
        """``config`` with these words settings (and how they were chosen, under training)."""
        record = {
            "photos": self.photos,
            "failed": self.failed,
            "val_logo_precision": self.precision,
            "val_logo_recall": self.recall,
            "val_logo_recall_without_words": self.recall_without,
            "read_share": self.read_share,
            "by_floor": self.by_floor,
        }
        return dataclasses.replace(
            config,
            words=self.settings.to_dict(),
            training={**config.training, "words_calibration": record},
        )


def read_photo_text(reader: TextReader, path: Any, max_side: int = 640) -> Lines:
    """OCR one photo at its own resolution, its longer side capped at ``max_side``."""
    pixels = load_image(path)
    scale = max_side / max(pixels.shape[:2])
    if scale < 1:
        size = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    return reader.read(np.ascontiguousarray(pixels)[None])[0]


def calibrate_words(
    classifier: LogoClassifier,
    data: FileDataset,
    *,
    texts: Mapping[str, Sequence[str]] | None = None,
    reader: TextReader | None = None,
    floors: Sequence[float] = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3),
    looks: Sequence[float] = (0.0, 0.01, 0.03, 0.1, 0.2, 0.3),
    target_precision: float | None = None,
    progress: bool = False,
) -> WordsCalibration:
    """Choose the words rule's ``floor`` and ``look`` on validation photos.

    The classifier's own rule (closer looks included when it has them on) answers first; the
    photos it leaves without a brand are read (:func:`read_photo_text`) and judged on their
    whole photo's probabilities (:func:`~logobrand.inference.words.brand_from_words`;
    ``look`` compares its best brand's). ``floor``: the lowest
    whose logo precision, with words, still reaches ``target_precision`` (the most recall);
    ``look``: the highest that keeps 90 % of the recall words add (the fewest photos read).

    Raises:
        InvalidArgumentError: ``data`` is empty or holds labels the model lacks.
    """
    from tqdm.auto import tqdm

    from logobrand.inference.words import brand_from_words, brands_read, load_brand_texts

    labels = classifier.labels
    unknown = sorted({s.label for s in data.samples} - set(labels))
    if unknown or not data.samples:
        raise InvalidArgumentError(
            f"calibrate_words needs validation photos with the model's labels; got "
            f"{len(data.samples)} photos, unknown labels {unknown}"
        )
    target = classifier.config.target_precision if target_precision is None else target_precision
    texts = load_brand_texts(classifier.directory, labels) if texts is None else texts
    reader = reader or classifier.text_reader
    truth, answers, best, probs, reads = [], [], [], [], []
    failed = 0
    results = classifier.predict_batch([s.path for s in data.samples], progress=progress)
    for sample, result in zip(data.samples, tqdm(results, disable=not progress), strict=True):
        if not isinstance(result, Prediction):
            failed += 1
            continue
        truth.append(sample.label)
        answers.append(result.brand)
        if result.brand is None:  # the words rule reads the whole photo's probabilities
            logits = classifier.predict_logits(classifier.preprocess(sample.path)[None])[0]
            whole = softmax(logits.astype(np.float64), classifier.config.temperature)
            lines = read_photo_text(reader, sample.path)
        else:
            whole, lines = np.zeros(len(labels)), []
        probs.append(whole)
        best.append(float(np.delete(whole, labels.index(NO_LOGO)).max()))
        reads.append(brands_read(lines, texts))
    if not truth:
        raise InvalidArgumentError(f"none of the {failed} calibration photos could be decoded")
    logos = max(1, sum(t != NO_LOGO for t in truth))

    def score(floor: float, look: float) -> tuple[float, float]:
        said = right = 0
        for t, a, b, p, r in zip(truth, answers, best, probs, reads, strict=True):
            if a is None and b >= look:
                a = brand_from_words(p, labels, r, floor)
            if a is not None:
                said += 1
                right += a == t
        return (right / said if said else 1.0), right / logos

    _, recall_without = score(2.0, 2.0)
    by_floor = {str(f): list(score(f, 0.0)) for f in floors}
    ok = [f for f in floors if by_floor[str(f)][0] >= target]
    floor = min(ok) if ok else max(floors, key=lambda f: by_floor[str(f)][0])
    precision, recall = by_floor[str(floor)]
    gain = recall - recall_without
    look = max(x for x in looks if score(floor, x)[1] - recall_without >= 0.9 * gain)
    precision, recall = score(floor, look)
    read_share = float(
        np.mean([a is None and b >= look for a, b in zip(answers, best, strict=True)])
    )
    return WordsCalibration(
        WordsSettings(floor=floor, look=look),
        precision,
        recall,
        recall_without,
        read_share,
        by_floor,
        len(truth),
        failed,
    )


__all__ = [
    "CalibrationResult",
    "ViewsCalibration",
    "WordsCalibration",
    "calibrate",
    "calibrate_logits",
    "calibrate_views",
    "calibrate_words",
    "calibrated_config",
    "read_photo_text",
    "view_logits",
]
