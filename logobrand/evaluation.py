"""Evaluate a :class:`~logobrand.inference.LogoClassifier` on a labelled dataset.

The metrics follow the FlickrLogos-32 recognition protocol (see :mod:`logobrand.metrics`); the
calibration error is measured on the top-1 probability of the full softmax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from logobrand.data import NO_LOGO, FileDataset
from logobrand.errors import InvalidArgumentError
from logobrand.inference.config import photo_digest, trained_on
from logobrand.inference.prediction import Failure, Prediction
from logobrand.metrics import RecognitionReport, expected_calibration_error, recognition_report

if TYPE_CHECKING:
    from logobrand.inference import LogoClassifier


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one classifier on one dataset.

    Attributes:
        report: The FlickrLogos-32 protocol report (accuracy, logo precision and recall, ...).
        calibration_error: Expected calibration error of the top-1 probability (15 bins).
        failures: Photos that could not be decoded (left out of the metrics).
        seen_in_training: How many of the dataset's photos the model was trained or
            calibrated on (by content, from its ``training["trained_on"]`` record); ``None``
            when the model has no such record.
        excluded: How many of those were left out (``exclude_training=True``).
    """

    report: RecognitionReport
    calibration_error: float
    failures: tuple[Failure, ...]
    seen_in_training: int | None = None
    excluded: int = 0

    def summary(self) -> dict[str, Any]:
        """Return the headline figures as a JSON-ready dictionary."""
        return {
            "images": self.report.n_images,
            "accuracy": self.report.accuracy,
            "logo_precision": self.report.logo_precision,
            "logo_recall": self.report.logo_recall,
            "macro_f1": self.report.macro_f1,
            "ece": self.calibration_error,
            "failed": len(self.failures),
            "seen_in_training": self.seen_in_training,
            "excluded": self.excluded,
        }


def evaluate(
    classifier: LogoClassifier,
    dataset: FileDataset,
    *,
    batch_size: int = 32,
    progress: bool = False,
    exclude_training: bool = False,
) -> Evaluation:
    """Predict every photo of ``dataset`` and score the answers.

    Args:
        classifier: The model to evaluate (its calibrated threshold decides "no logo").
        dataset: Labelled photos; ``"no-logo"`` marks photos without a brand.
        batch_size: Photos per inference batch.
        progress: Show a progress bar.
        exclude_training: Leave out the photos the model was trained or calibrated on (known
            from its ``training["trained_on"]`` record; nothing is left out without one).

    Returns:
        An :class:`Evaluation`; undecodable photos are counted in ``failures``, not scored.
        Its ``seen_in_training`` says how many photos the model had seen: scores on them
        flatter the model.

    Raises:
        InvalidArgumentError: The dataset is empty, or none of its photos could be decoded
            (the message names some).
    """
    if len(dataset) == 0:
        raise InvalidArgumentError("the evaluation data holds no photo; check its folder or lists")
    seen, excluded = _seen_in_training(classifier, dataset), 0
    if seen is not None and exclude_training:
        keep = [i for i, was_seen in enumerate(seen) if not was_seen]
        excluded = len(dataset) - len(keep)
        dataset = dataset.subset(keep)
        if len(dataset) == 0:
            raise InvalidArgumentError(
                f"every one of the {excluded} photos was used to train the model; evaluate it "
                "on photos it has not seen"
            )
    truth: list[str] = []
    predicted: list[str | None] = []
    confidences: list[float] = []
    correct: list[bool] = []
    failures: list[Failure] = []
    paths = [sample.path for sample in dataset.samples]
    results = classifier.predict_batch(paths, batch_size=batch_size, progress=progress)
    for sample, result in zip(dataset.samples, results, strict=True):
        if isinstance(result, Failure):
            failures.append(result)
            continue
        assert isinstance(result, Prediction)
        truth.append(sample.label)
        predicted.append(result.brand)
        top_label, top_prob = result.top_k[0]
        confidences.append(top_prob)
        correct.append(top_label == sample.label)
    if failures and not truth:
        shown = "; ".join(f"{f.source} ({f.error})" for f in failures[:3])
        raise InvalidArgumentError(
            f"none of the {len(failures)} photos could be decoded, e.g. {shown}; check the "
            "dataset files"
        )
    # the model may name brands the dataset lacks (and the reverse): scored, not an error
    named = {p for p in predicted if p is not None}
    brands = (set(dataset.classes) | set(classifier.labels) | named) - {NO_LOGO}
    labels = [*sorted(brands, key=str.lower), NO_LOGO]
    report = recognition_report(truth, predicted, labels=labels)
    return Evaluation(
        report,
        expected_calibration_error(confidences, correct),
        tuple(failures),
        None if seen is None else sum(seen),
        excluded,
    )


def _seen_in_training(classifier: LogoClassifier, dataset: FileDataset) -> list[bool] | None:
    """Per photo, whether the model was trained on it (``None``: the model keeps no record)."""
    digests = trained_on(classifier.config)
    if digests is None:
        return None
    seen = []
    for sample in dataset.samples:
        try:
            seen.append(photo_digest(sample.path) in digests)
        except OSError:  # unreadable: predict_batch reports it as a failure
            seen.append(False)
    return seen
