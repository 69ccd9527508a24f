"""The gallery's decision rule: trained classes first, then texts read, then the gallery.

:func:`decide` combines, for one photo, the classifier's logits with its similarities to the
gallery brands (and the gallery texts read in it); :func:`threshold_for_fpr` is the open-set
calibration of the gallery threshold; :func:`gallery_scores` computes what :func:`decide`
needs for a batch with one model run. The rule itself is described in
:mod:`logobrand.inference.gallery`.

Example:
    >>> round(threshold_for_fpr(np.array([0.1, 0.2, 0.3, 0.9]), 0.25), 3)
    0.3
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from logobrand.errors import InvalidArgumentError
from logobrand.inference.embedding import forward_embeddings
from logobrand.inference.prediction import NO_LOGO, Prediction, make_prediction
from logobrand.inference.runner import LOGITS, HasRunner, OnnxModel, as_model

if TYPE_CHECKING:
    from logobrand.inference.config import ModelConfig
    from logobrand.inference.gallery_store import Gallery
    from logobrand.inference.text import TextReader

DEFAULT_TARGET_FPR = 0.01
"""Default share of held-out negative photos allowed to match a gallery brand."""

DEFAULT_THRESHOLD = 0.6
"""Similarity threshold of an uncalibrated gallery (see ``docs/fewshot.rst``; calibrate it)."""


def threshold_for_fpr(best_similarities: np.ndarray, target_fpr: float) -> float:
    """Smallest threshold at which at most ``target_fpr`` of the negatives reach it.

    A photo matches when its similarity is ``>= threshold``; the result is just above the
    ``floor(target_fpr * M) + 1``-th largest of the ``M`` negative similarities.

    Example:
        >>> round(threshold_for_fpr(np.array([0.1, 0.2, 0.3, 0.9]), 0.25), 3)
        0.3
        >>> threshold_for_fpr(np.array([0.1, 0.2, 0.3, 0.9]), 0.0) > 0.9
        True
    """
    sims = np.sort(np.asarray(best_similarities, dtype=np.float64).ravel())[::-1]
    if not 0.0 <= target_fpr < 1.0:
        raise InvalidArgumentError(f"target_fpr must be in [0, 1), got {target_fpr}")
    if sims.size == 0:
        return DEFAULT_THRESHOLD
    allowed = math.floor(target_fpr * sims.size + 1e-9)
    if allowed >= sims.size:
        return float(sims[-1])
    return float(np.nextafter(np.float32(sims[allowed]), np.float32(np.inf)))


def decide(
    logits: np.ndarray,
    similarities: np.ndarray | None,
    labels: Sequence[str],
    gallery: Gallery | None,
    *,
    texts_read: np.ndarray | None = None,
    temperature: float = 1.0,
    threshold: float = 0.5,
    top_k: int = 5,
    source: str = "",
) -> Prediction:
    """Combine the trained classes and the gallery brands for one photo (see module doc).

    ``top_k`` lists the classifier's labels with their probabilities and the best gallery
    brands with their similarities, by decreasing value.

    Args:
        logits: ``(C,)`` classifier logits.
        similarities: ``(B,)`` row of :meth:`Gallery.similarities`, or ``None``.
        labels: The classifier's labels.
        gallery: The gallery (``None`` or empty: the classifier's rule alone).
        texts_read: ``(B,)`` row of :func:`read_gallery_texts` (0: no text of that brand
            read), or ``None``.
        temperature: Classifier temperature.
        threshold: Classifier brand threshold.
        top_k: Number of ``(label, score)`` pairs.
        source: Description of the input.

    Returns:
        The :class:`~logobrand.inference.prediction.Prediction`.

    Example:
        >>> g = Gallery(2, brands=["acme"], references=np.array([[1.0, 0.0]]), counts=[1],
        ...             threshold=0.8)
        >>> p = decide(np.array([2.0, 0.0]), np.array([0.9]), ["no-logo", "ups"], g,
        ...            threshold=0.9, source="x.jpg")
        >>> p.brand, round(p.score, 2)
        ('acme', 0.9)
    """
    base = make_prediction(
        logits, labels, temperature=temperature, threshold=threshold, top_k=top_k, source=source
    )
    if gallery is None or len(gallery) == 0 or similarities is None:
        return base
    row = np.asarray(similarities, dtype=np.float32).ravel()
    match = gallery.match(row)
    if match is None:
        return base
    order = np.argsort(-row, kind="stable")[:top_k]
    extra = [(gallery.brands[i], float(row[i])) for i in order]
    pairs = tuple(sorted([*base.top_k, *extra], key=lambda p: -p[1])[:top_k])
    read = None if texts_read is None else np.asarray(texts_read, dtype=np.float32).ravel()
    if base.brand is None and read is not None and read.max(initial=0.0) > 0.0:
        shown = np.flatnonzero(read > 0.0)
        best = int(shown[np.argmax(row[shown])])
        return dataclasses.replace(
            base,
            brand=gallery.brands[best],
            score=float(read[best]),
            top_k=pairs,
            closest=gallery.brands[best],
        )
    if base.brand is None and match.matched:
        return dataclasses.replace(
            base, brand=match.brand, score=match.similarity, top_k=pairs, closest=match.brand
        )
    return dataclasses.replace(base, top_k=pairs)


def check_brand_name(name: str, trained_labels: Iterable[str] = ()) -> None:
    """Raise :class:`InvalidArgumentError` if ``name`` cannot be a gallery brand."""
    problem = _name_problem(name)
    if problem is not None:
        raise InvalidArgumentError(problem)
    same = [label for label in trained_labels if label.casefold() == name.casefold()]
    if same:
        raise InvalidArgumentError(
            f"{name!r} is already one of the model's trained classes ({same[0]!r}; names are "
            "compared ignoring case); pick another name for the gallery brand"
        )


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return f"a brand name must be a non-empty string without outer spaces, got {name!r}"
    if name.casefold() == NO_LOGO:
        return f"{NO_LOGO!r} (in any case) is reserved for photos without a brand"
    if any(ch in name for ch in "\n\r\t"):
        return f"a brand name cannot contain control characters, got {name!r}"
    return None


def gallery_scores(
    model: OnnxModel | HasRunner,
    batch: np.ndarray,
    gallery: Gallery | None,
    names: Sequence[str] = (),
    *,
    read_texts: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[np.ndarray]]:
    """One model run for the decision rule: ``(logits (N, C), similarities (N, B) or None,
    texts read (N, B) or None, [outputs named in names])``.

    Similarities are computed when ``gallery`` has brands; texts when it reads text and
    ``read_texts`` (``(batch, logits) -> (N, B)``, e.g. :func:`read_gallery_texts`) is given.
    """
    runner = as_model(model)
    if gallery is None or len(gallery) == 0:
        out = runner.run(batch, list(dict.fromkeys([LOGITS, *names])))
        return out[LOGITS], None, None, [out[n] for n in names]
    logits, emb, others = forward_embeddings(runner, batch, gallery.kind, names)
    texts = None
    if gallery.reads_text and read_texts is not None:
        texts = read_texts(np.asarray(batch), logits)
    return logits, gallery.similarities(emb), texts, others


def run_with_gallery(
    model: OnnxModel | HasRunner,
    batch: np.ndarray,
    gallery: Gallery | None,
    names: Sequence[str] = (),
    *,
    read_texts: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Decision rows (``(N, C)`` logits, the ``(N, B)`` gallery similarities and texts read
    appended when there are some) and the outputs ``names`` of the same model run.

    Deprecated: :func:`gallery_scores` gives the parts without packing them in one row.
    """
    logits, sims, texts, others = gallery_scores(
        model, batch, gallery, names, read_texts=read_texts
    )
    parts = [p for p in (logits, sims, texts) if p is not None]
    return np.concatenate(parts, axis=1), others


def read_gallery_texts(
    batch: np.ndarray,
    logits: np.ndarray,
    gallery: Gallery,
    *,
    config: ModelConfig,
    reader: TextReader,
) -> np.ndarray:
    """``(N, B)`` text scores (:meth:`~logobrand.inference.text.TextIndex.scores`) of the model
    inputs ``batch``; photos whose trained-class answer is already confident are not read
    (zeros): the decision rule would not use their text."""
    from logobrand.transforms import denormalize

    out = np.zeros((len(batch), len(gallery)), np.float32)
    unsure = [
        i
        for i, row in enumerate(logits)
        if make_prediction(
            row, config.labels, temperature=config.temperature, threshold=config.threshold
        ).brand
        is None
    ]
    if unsure:
        pixels = denormalize(np.asarray(batch)[unsure], config.preprocessing)
        out[unsure] = gallery.text_index.scores(reader.read(pixels))
    return out


__all__ = [
    "DEFAULT_TARGET_FPR",
    "DEFAULT_THRESHOLD",
    "check_brand_name",
    "decide",
    "gallery_scores",
    "read_gallery_texts",
    "run_with_gallery",
    "threshold_for_fpr",
]
