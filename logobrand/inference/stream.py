"""The one prediction stream: decode once, run the model once per batch, decide once.

Every way of predicting goes through :class:`PredictionStream`: ``LogoClassifier.predict``
and ``predict_batch`` (with or without boxes, with closer looks or a few-shot gallery) and the
Spark and Ray integrations. A stream has three steps:

1. :meth:`~PredictionStream.decode`: one photo -> a :class:`~logobrand.inference.decode.Photo`
   record (the model input and the photo's full-resolution size), in decoding threads;
2. :meth:`~PredictionStream.run`: one model run per batch
   (:class:`~logobrand.inference.runner.OnnxModel`) for everything the decision needs:
   logits, the gallery's similarities and texts read, the box maps, or the closer looks;
3. :meth:`~PredictionStream.decide`: the one decision rule for one photo (the views rule, the
   gallery rule or the plain rule), plus the boxes of the brand it reports.

So the same photo gets the same brand and score whichever entry point it comes through.

Example:
    >>> # stream = clf.prediction_stream(top_k=3, boxes=True)
    >>> # stream.predict("photo.jpg").boxes
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from logobrand.errors import InvalidArgumentError
from logobrand.images import ImageInput, describe_source
from logobrand.inference.boxes import (
    CELL_SCORES,
    box_maps_output,
    boxes_for,
    check_can_localise,
    check_cells,
)
from logobrand.inference.decode import Photo, decode_photo
from logobrand.inference.gallery_rule import decide as gallery_decide
from logobrand.inference.gallery_rule import gallery_scores, read_gallery_texts
from logobrand.inference.pipeline import run_stream
from logobrand.inference.prediction import (
    NO_LOGO,
    Failure,
    Prediction,
    make_prediction,
    softmax,
)
from logobrand.inference.runner import OnnxModel
from logobrand.inference.views import ViewsSettings, decide_views, forward_views
from logobrand.inference.words import WordsSettings, brand_from_words, brands_read

if TYPE_CHECKING:
    from logobrand.images_fetch import FetchPolicy
    from logobrand.inference.config import ModelConfig
    from logobrand.inference.gallery_store import Gallery
    from logobrand.inference.text import TextReader


READ_SIDE = 640
"""With words on, photos are read at their own resolution, the longer side at most this."""


@dataclass(frozen=True)
class Scores:
    """What the decision rule reads for one photo (one row of a batch's model run).

    Attributes:
        logits: ``(C,)`` logits, or ``(5, C)`` view logits with closer looks (``NaN`` rows:
            crops not scored).
        size: ``(width, height)`` of the photo.
        similarities: ``(B,)`` similarities to the gallery brands, or ``None``.
        texts: ``(B,)`` gallery texts read (0: none), or ``None``.
        maps: The box maps (box head ``(5, h, w)`` or cell scores ``(C, h, w)``), or ``None``.
        pixels: The photo's pixels for reading the brands' names, or ``None``.
    """

    logits: np.ndarray
    size: tuple[int, int]
    similarities: np.ndarray | None = None
    texts: np.ndarray | None = None
    maps: np.ndarray | None = None
    pixels: np.ndarray | None = None


@dataclass(frozen=True)
class PredictionStream:
    """Decode, run and decide for one kind of request (see the module docstring).

    Build one with :meth:`LogoClassifier.prediction_stream
    <logobrand.inference.LogoClassifier.prediction_stream>`.

    Attributes:
        model: The model runner.
        config: The model's config (labels, temperature, threshold, preprocessing).
        gallery: The few-shot gallery, or ``None`` (an empty one counts as none).
        views: The closer-looks settings in use, or ``None`` (never with a gallery with
            brands, nor with boxes).
        top_k: ``(label, score)`` pairs per prediction.
        boxes: Also say where the brand is.
        box_threshold: The box threshold (``None``: the default of the box source).
        text_reader: Gives the OCR reader, for a gallery that reads texts.
        fetch_policy: For URL inputs.
        draft: The reduced-size JPEG decoding target (``None``: full size).
        words: The words-rule settings (:mod:`logobrand.inference.words`), or ``None`` (never
            with a gallery with brands, nor with boxes).
        brand_texts: The trained brands' texts the words rule looks for.
        full_pixels: Keep each photo's pixels at full resolution, for
            :meth:`predict_many_with_pixels` (``predict --draw`` draws on them instead of
            decoding the photo again). Not with the words rule (which reads its own, smaller
            pixels).
    """

    model: OnnxModel
    config: ModelConfig
    gallery: Gallery | None = None
    views: ViewsSettings | None = None
    top_k: int = 5
    boxes: bool = False
    box_threshold: float | None = None
    text_reader: Callable[[], TextReader] | None = None
    fetch_policy: FetchPolicy | None = None
    draft: int | None = -1
    words: WordsSettings | None = None
    brand_texts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    full_pixels: bool = False

    def __post_init__(self) -> None:
        if self.gallery is not None and len(self.gallery) == 0:
            object.__setattr__(self, "gallery", None)
        if self.gallery is not None or self.boxes:
            object.__setattr__(self, "views", None)
            object.__setattr__(self, "words", None)
        if self.full_pixels and self.words is not None:
            raise InvalidArgumentError(
                "full_pixels cannot be combined with the words rule (it reads its own, "
                "smaller pixels); ask for boxes=True, which turns the words rule off"
            )
        if self.boxes:
            check_can_localise(self.model)

    # -- the three steps ----------------------------------------------------------------------

    def decode(self, image: ImageInput) -> Photo:
        """Decode one photo into its record (runs in decoding threads)."""
        crop = None if self.views is None else self.views.crop
        return decode_photo(
            image,
            self.config.preprocessing,
            crop=crop,
            draft=self.draft,
            fetch_policy=self.fetch_policy,
            keep_pixels=None if self.words is None else READ_SIDE,
            full_pixels=self.full_pixels,
        )

    def run(self, photos: Sequence[Photo]) -> list[Scores]:
        """One model run for a batch of decoded photos: what :meth:`decide` reads, per photo."""
        sizes = [p.size for p in photos]
        batch = np.stack([p.x for p in photos])
        if self.views is not None:
            rows = forward_views(self.model.logits, batch, self.config, self.views)
            return [Scores(r, p.size, pixels=p.pixels) for r, p in zip(rows, photos, strict=True)]
        names = [box_maps_output(self.model)] if self.boxes else []
        logits, sims, texts, others = gallery_scores(
            self.model, batch, self.gallery, names, read_texts=self._read_texts
        )
        maps: Any = others[0] if others else [None] * len(photos)
        if self.boxes and names[0] == CELL_SCORES:
            check_cells(maps, len(self.config.labels))
        return [
            Scores(
                logits[i],
                sizes[i],
                None if sims is None else sims[i],
                None if texts is None else texts[i],
                maps[i],
                photos[i].pixels,
            )
            for i in range(len(photos))
        ]

    def decide(self, source: str, scores: Scores) -> Prediction:
        """The one decision rule for one photo, plus the boxes of the brand it reports."""
        cfg = self.config
        if self.views is not None:
            prediction = decide_views(
                scores.logits, cfg, self.views, top_k=self.top_k, source=source
            )
            return self._read_name(prediction, scores.logits[0], scores.pixels)
        if self.gallery is not None:
            prediction = gallery_decide(
                scores.logits,
                scores.similarities,
                cfg.labels,
                self.gallery,
                texts_read=scores.texts,
                temperature=cfg.temperature,
                threshold=cfg.threshold,
                top_k=self.top_k,
                source=source,
            )
        else:
            prediction = make_prediction(
                scores.logits,
                cfg.labels,
                temperature=cfg.temperature,
                threshold=cfg.threshold,
                top_k=self.top_k,
                source=source,
            )
        if not self.boxes or scores.maps is None:
            return self._read_name(prediction, scores.logits, scores.pixels)
        return boxes_for(
            prediction,
            scores.maps,
            scores.size,
            cfg.labels,
            from_head=self.model.box_head is not None,
            threshold=self.box_threshold,
        )

    def _read_name(
        self, prediction: Prediction, whole: np.ndarray, pixels: np.ndarray | None
    ) -> Prediction:
        """The words rule (:mod:`logobrand.inference.words`) on a photo left without a brand:
        read it when its whole view's best brand reaches ``look``; a brand whose name is read
        answers when the whole view gives it at least ``floor`` (its ``score`` is then the
        read's confidence)."""
        if self.words is None or prediction.brand is not None or pixels is None:
            return prediction
        cfg = self.config
        probs = softmax(np.asarray(whole, dtype=np.float64), cfg.temperature)
        brands = [i for i, label in enumerate(cfg.labels) if label != NO_LOGO]
        if probs[brands].max() < self.words.look or self.text_reader is None:
            return prediction
        lines = self.text_reader().read(pixels[None])[0]
        read = brands_read(lines, self.brand_texts)
        brand = brand_from_words(probs, list(cfg.labels), read, self.words.floor)
        if brand is None:
            return prediction
        return dataclasses.replace(prediction, brand=brand, score=read[brand], closest=brand)

    def _read_texts(self, batch: np.ndarray, logits: np.ndarray) -> np.ndarray:
        assert self.gallery is not None and self.text_reader is not None
        return read_gallery_texts(
            batch, logits, self.gallery, config=self.config, reader=self.text_reader()
        )

    # -- whole requests -----------------------------------------------------------------------

    def predict(self, image: ImageInput) -> Prediction:
        """One photo through the three steps (errors are raised, not returned)."""
        scores = self.run([self.decode(image)])[0]
        return self.decide(describe_source(image), scores)

    def predict_many(
        self,
        images: Iterable[Any],
        *,
        batch_size: int,
        workers: int,
        progress: bool = False,
        total: int | None = None,
        decode: Callable[[Any], Photo] | None = None,
        describe: Callable[[Any], str] = describe_source,
    ) -> Iterator[Prediction | Failure]:
        """Many photos, streamed in input order (:func:`~logobrand.inference.pipeline.run_stream`:
        decoding threads overlapped with the model runs; a photo that cannot be decoded gives
        a :class:`~logobrand.inference.prediction.Failure` at its position).

        Args:
            images: The inputs (consumed lazily).
            batch_size: Photos per model run.
            workers: Decoding threads.
            progress: Show a progress bar.
            total: Number of inputs, for the progress bar.
            decode: Turns one input into its record (default: :meth:`decode`; the
                integrations first turn table cells into images).
            describe: Short description of an input for results and failures.
        """
        return run_stream(
            self.run,
            images,
            decode or self.decode,
            batch_size,
            workers,
            make_result=self.decide,
            describe=describe,
            progress=progress,
            total=total,
        )

    def predict_many_with_pixels(
        self,
        images: Iterable[Any],
        *,
        batch_size: int,
        workers: int,
        progress: bool = False,
        total: int | None = None,
    ) -> Generator[tuple[Prediction | Failure, np.ndarray | None], None, None]:
        """:meth:`predict_many`, each result paired with its photo's full-resolution pixels
        (``None`` for a failure), decoded once: what ``predict --draw`` draws on.

        Needs ``full_pixels=True``. Only the photos in flight hold pixels: those of the batch
        being yielded and of the batches decoded ahead (as in
        :func:`~logobrand.inference.pipeline.run_stream`); drop each pair once used.

        Raises:
            InvalidArgumentError: The stream was not made with ``full_pixels=True``.
        """
        if not self.full_pixels:
            raise InvalidArgumentError(
                "predict_many_with_pixels needs a stream made with full_pixels=True"
            )

        def paired(source: str, scores: Scores) -> tuple[Prediction, np.ndarray | None]:
            return self.decide(source, scores), scores.pixels

        inner = run_stream(
            self.run,
            images,
            self.decode,
            batch_size,
            workers,
            make_result=paired,
            progress=progress,
            total=total,
        )
        try:
            for result in inner:
                yield result if isinstance(result, tuple) else (result, None)
        finally:
            inner.close()  # stops the decoding threads when the caller stops early


__all__ = ["PredictionStream", "Scores"]
