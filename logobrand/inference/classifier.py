"""``LogoClassifier``: load a model directory and recognise brands in photos (no torch).

Example:
    >>> # from logobrand.inference import LogoClassifier
    >>> # clf = LogoClassifier.from_pretrained("runs/exp1/model")
    >>> # clf.predict("photo.jpg")
    >>> # Prediction(brand='adidas', score=0.97, top_k=(('adidas', 0.97), ...), source='photo.jpg')
    >>> # for result in clf.predict_batch(paths, progress=True):
    >>> #     print(result.to_dict())
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from logobrand.errors import InvalidArgumentError, ModelFormatError, check_int
from logobrand.images import ImageInput, check_image_iterable
from logobrand.inference.config import ModelConfig, copy_model_files, write_model_dir
from logobrand.inference.decode import decode_photo, draft_size
from logobrand.inference.gallery import (
    DEFAULT_TARGET_FPR,
    GALLERY_JSON,
    GALLERY_KEY,
    Gallery,
    add_brand,
    embed_images,
    gallery_of,
    load_model_gallery,
    model_probe,
)
from logobrand.inference.model_dir import (
    BUNDLED_MODELS,
    DEFAULT_MODEL_DIR,
    FAST_MODEL_DIR,
    PRESET_DESCRIPTIONS,
    refuse_bundled,
    resolve_model_dir,
)
from logobrand.inference.onnx import MAX_THREADS, calibration_batch, quantize_int8, usable_cpu_count
from logobrand.inference.prediction import Failure, Prediction
from logobrand.inference.runner import BOX_HEAD_FILE, BOX_HEAD_KEY, OnnxModel
from logobrand.inference.stream import PredictionStream, Scores
from logobrand.inference.text import TextReader
from logobrand.inference.views import ViewsSettings
from logobrand.inference.words import WordsSettings, load_brand_texts

if TYPE_CHECKING:
    from logobrand.images_fetch import FetchPolicy

DEFAULT_BATCH_SIZE = 4
"""Images per ONNX Runtime run in :meth:`LogoClassifier.predict_batch` (see
``benchmarks/README.md`` for how it was chosen)."""


class LogoClassifier:
    """Recognise FlickrLogos-32 style brands in photos with an ONNX model on the CPU.

    Build one with :meth:`from_pretrained`. Instances are safe to share between threads.

    Example:
        >>> # clf = LogoClassifier.from_pretrained("my-model")
        >>> # clf.labels[:3]
        >>> # ['HP', 'adidas', 'aldi']
        >>> # clf.predict(open("photo.jpg", "rb").read()).brand
        >>> # 'adidas'
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        config: ModelConfig,
        directory: Path,
        gallery: Gallery | None = None,
        box_head: ort.InferenceSession | None = None,
    ) -> None:
        """Wrap an open session; prefer :meth:`from_pretrained`, which validates both."""
        self._model = OnnxModel(session, config.preprocessing, config.labels, directory, box_head)
        self._gallery = gallery  # few-shot brands (logobrand.inference.gallery); swapped whole
        self._config = config
        self._directory = directory
        self._draft_size: int | None = draft_size(config.preprocessing)
        self._threads: int | None = None  # ONNX Runtime threads asked for (None: all cores)
        self._text_reader: TextReader | None = None  # made on first use (gallery texts)
        self._views: ViewsSettings | None = None  # closer looks (views=True)
        self._words: WordsSettings | None = None  # trained brands' names read (the same)
        self._brand_texts: dict[str, tuple[str, ...]] = {}

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        name_or_dir: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        allow_spinning: bool = False,
        views: bool | None = None,
        words: bool | None = None,
    ) -> LogoClassifier:
        """Load a model directory (or the bundled default model).

        Args:
            name_or_dir: A model directory written by :meth:`save_pretrained` or
                :func:`~logobrand.inference.save_model_dir`; ``None`` or ``"default"`` for the
                model bundled with the package, ``"fast"`` for its int8 copy (see
                :data:`BUNDLED_MODELS`).
            threads: ONNX Runtime intra-op threads (default: every usable core).
            allow_spinning: Let idle ONNX Runtime threads busy-wait between operators. Off by
                default: :meth:`predict_batch` decodes photos on the same cores, and spinning
                threads would take their CPU time.
            views: Closer looks (:mod:`logobrand.inference.views`): photos the model is unsure
                of are scored again in four corner crops. Default: off (on the bundled model
                they did not pay on validation photos; see ``docs/benchmarks.rst``). Needs a
                model whose ``config.json`` holds calibrated ``views``.
            words: Read the trained brands' names (:mod:`logobrand.inference.words`) in photos
                still without a brand. Default: on for the ``"accurate"`` preset only. Needs
                the ``ocr`` extra and a model whose ``config.json`` holds calibrated ``words``.

        Returns:
            The classifier.

        Raises:
            ModelFormatError: The directory is missing or invalid, or the ONNX model does not
                fit the config (input not ``(N, 3, S, S)`` float32 with ``S =
                preprocessing.input_size``, or output width != number of labels), or
                ``views=True`` (or ``words=True``) for a model without calibrated views (or
                words).
            MissingExtraError: ``words=True`` without the ``ocr`` extra.

        Example:
            >>> # clf = LogoClassifier.from_pretrained("runs/exp1/model", threads=2)
        """
        directory = resolve_model_dir(name_or_dir)
        config = ModelConfig.load(directory)
        if views is None:
            views = False
        if words is None:
            words = name_or_dir == "accurate" and config.words is not None
        for wanted, setting, name in (
            (views, config.views, "views"),
            (words, config.words, "words"),
        ):
            if wanted and setting is None:
                raise ModelFormatError(
                    f"{directory} has no calibrated {name} ({name!r} in config.json); choose "
                    f"them on validation photos with logobrand.inference.calibrate."
                    f"calibrate_{name}, or load it with {name}=False"
                )
        model = OnnxModel.load(directory, config, threads=threads, allow_spinning=allow_spinning)
        classifier = cls(model.session, config, directory, None, model.box_head)
        classifier._threads = threads
        if views and config.views is not None:
            classifier._views = ViewsSettings(**config.views)
        if words and config.words is not None:
            classifier._words = WordsSettings(**config.words)
            classifier._brand_texts = load_brand_texts(directory, config.labels)
            classifier.text_reader  # noqa: B018 - without the ocr extra, fail now, not mid-batch
        classifier._gallery = load_model_gallery(model, config.files)
        if classifier._gallery is not None and classifier._gallery.reads_text:
            classifier.text_reader  # noqa: B018 - without the ocr extra, fail now, not mid-batch
        return classifier

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Copy this model to ``directory`` atomically (with the current config).

        The ONNX file (and the safetensors weights, when the source has them) are copied and
        ``config.json`` is written from :attr:`config`, so calibration changes made with
        :meth:`with_calibration` are saved.

        Returns:
            The directory path.

        Example:
            >>> # clf.with_calibration(threshold=0.8).save_pretrained("strict-model")
        """
        files = self._model_files()
        source = self._directory
        return self._write_copy(
            directory,
            self._config,
            files,
            lambda tmp: copy_model_files(source, tmp, list(files.values())),
        )

    def _model_files(self) -> dict[str, str]:
        """``files`` entries of the ONNX model and, when present on disk, the weights."""
        files = {"onnx": self._config.onnx_file}
        weights = self._config.weights_file
        if weights is not None and (self._directory / weights).is_file():
            files["weights"] = weights
        return files

    def _write_copy(
        self,
        directory: str | os.PathLike[str],
        config: ModelConfig,
        files: dict[str, str],
        write_model_files: Callable[[Path], object],
    ) -> Path:
        """Write a model directory atomically: the model files, the gallery and ``config``."""
        refuse_bundled(directory)
        gallery = self._gallery
        if gallery is not None and (len(gallery) > 0 or gallery.calibrated):
            files = {**files, GALLERY_KEY: GALLERY_JSON}  # few-shot brands (see add_brand)
            gallery = gallery.with_model_probe(model_probe(self._model))  # which model made it
        head_file = self._config.files.get(BOX_HEAD_KEY)
        copy_head = BOX_HEAD_KEY not in files and head_file is not None
        if copy_head:
            files = {**files, BOX_HEAD_KEY: str(head_file)}
        config = dataclasses.replace(config, files=files)
        source = self._directory

        def writer(tmp: Path) -> None:
            write_model_files(tmp)
            if copy_head:
                copy_model_files(source, tmp, [str(head_file)])
            if GALLERY_KEY in files and gallery is not None:
                gallery.save(tmp)
            config.save(tmp)

        return write_model_dir(directory, writer)

    def save_quantized(
        self,
        directory: str | os.PathLike[str],
        calibration: Iterable[ImageInput],
        *,
        limit: int = 256,
    ) -> Path:
        """Save an int8 copy of this model to ``directory`` atomically.

        The ONNX file is quantised statically (:func:`~logobrand.inference.onnx.quantize_int8`:
        int8 weights per channel, uint8 activations whose ranges are measured on
        ``calibration``); ``config.json`` (threshold, temperature, labels) and the few-shot
        gallery are kept, and ``training["quantization"]`` records how it was made. The
        safetensors weights are not copied: the copy is for inference only. For the default
        recipe this was as accurate as float32 and about 1.7x faster end to end (see
        ``docs/benchmarks.rst``); check it with ``logobrand evaluate`` on your own data.

        Args:
            directory: The model directory to write.
            calibration: Photos like those the model will see, e.g. its validation photos
                (never the photos you test on). Inputs that cannot be decoded are skipped and
                counted in ``config.json``.
            limit: Use at most this many of them (the first ``limit``).

        Returns:
            The directory path.

        Raises:
            InvalidArgumentError: ``limit`` < 1, no calibration photo could be decoded, or the
                model is already an int8 copy.
            MissingExtraError: The ``onnx`` package (``pip install 'logobrand[train]'``) is
                absent.
            ModelFormatError: The model cannot be quantised.

        Example:
            >>> # clf.save_quantized("model-int8", iter_image_files("val/"))
        """
        if "quantization" in self._config.training:
            raise InvalidArgumentError(
                f"the model in {self._directory} is already an int8 copy; quantise its float "
                "original instead"
            )
        calibration_batch_, quantization = calibration_batch(calibration, self.preprocess, limit)
        config = dataclasses.replace(
            self._config, training={**self._config.training, "quantization": quantization}
        )
        onnx_file = config.onnx_file
        source = self._directory / onnx_file
        return self._write_copy(
            directory,
            config,
            {"onnx": onnx_file},
            lambda tmp: quantize_int8(source, tmp / onnx_file, calibration_batch_),
        )

    def with_calibration(
        self, *, temperature: float | None = None, threshold: float | None = None
    ) -> LogoClassifier:
        """Return a classifier sharing this ONNX session with another temperature/threshold.

        Example:
            >>> # strict = clf.with_calibration(threshold=0.9)
        """
        changes: dict[str, Any] = {}
        if temperature is not None:
            changes["temperature"] = temperature
        if threshold is not None:
            changes["threshold"] = threshold
        config = dataclasses.replace(self._config, **changes)
        copy = LogoClassifier(self.session, config, self._directory, self._gallery, self.box_head)
        copy._model = self._model
        copy._threads, copy._text_reader = self._threads, self._text_reader
        copy._views = self._views
        copy._words, copy._brand_texts = self._words, self._brand_texts
        if self._views is not None and threshold is not None:  # the views rule's threshold
            copy._views = dataclasses.replace(self._views, threshold=threshold)
        return copy

    # -- properties ----------------------------------------------------------------------------

    @property
    def box_head(self) -> ort.InferenceSession | None:
        """The box head's ONNX session (``box_head.onnx``), or ``None`` (boxes from the CAM)."""
        return self._model.box_head

    @property
    def runner(self) -> OnnxModel:
        """The :class:`~logobrand.inference.runner.OnnxModel` that runs the ONNX sessions."""
        return self._model

    @property
    def words(self) -> WordsSettings | None:
        """The words-rule settings in use, or ``None`` when names are not read (see
        :mod:`logobrand.inference.words`)."""
        return self._words

    @property
    def views(self) -> ViewsSettings | None:
        """The closer-looks settings in use, or ``None`` when the classifier scores whole
        photos only (see :mod:`logobrand.inference.views`)."""
        return self._views

    @property
    def config(self) -> ModelConfig:
        """The model's :class:`~logobrand.inference.config.ModelConfig`."""
        return self._config

    @property
    def labels(self) -> list[str]:
        """Class labels in output order (``"no-logo"`` included)."""
        return list(self._config.labels)

    @property
    def directory(self) -> Path:
        """The model directory this classifier was loaded from."""
        return self._directory

    @property
    def session(self) -> ort.InferenceSession:
        """The underlying ``onnxruntime.InferenceSession``."""
        return self._model.session

    def __repr__(self) -> str:
        cfg = self._config
        return (
            f"LogoClassifier({str(self._directory)!r}, architecture={cfg.architecture!r}, "
            f"labels={len(cfg.labels)}, input_size={cfg.preprocessing.input_size}, "
            f"threshold={cfg.threshold:g}, temperature={cfg.temperature:g})"
        )

    # -- inference -----------------------------------------------------------------------------

    def predict_logits(self, batch: np.ndarray) -> np.ndarray:
        """Run the network on preprocessed inputs.

        Args:
            batch: ``(N, 3, S, S)`` float array from :func:`logobrand.transforms.preprocess`.

        Returns:
            ``(N, C)`` float32 logits, columns in :attr:`labels` order.

        Raises:
            InvalidArgumentError: ``batch`` has the wrong shape.
            ModelFormatError: ONNX Runtime fails, or the logits are not finite.

        Example:
            >>> # clf.predict_logits(np.zeros((2, 3, 224, 224), np.float32)).shape  # (2, 33)
        """
        return self._model.logits(batch)

    def preprocess(
        self, image: ImageInput, *, fetch_policy: FetchPolicy | None = None
    ) -> np.ndarray:
        """Decode one input and turn it into a ``(3, S, S)`` float32 model input.

        Args:
            image: As in :meth:`predict`.
            fetch_policy: For URL inputs, as in :func:`~logobrand.images.load_image`.

        Raises:
            ImageDecodeError: The input is not a decodable image (the message names it).
            FetchError: A URL input could not be fetched.
        """
        pre = self._config.preprocessing
        return decode_photo(image, pre, draft=self._draft_size, fetch_policy=fetch_policy).x

    def predict(self, image: ImageInput, *, top_k: int = 5, boxes: bool = False) -> Prediction:
        """Recognise the brand in one photo.

        Args:
            image: A path, an ``http(s)`` URL, encoded bytes, a PIL image or an RGB array.
            top_k: Number of ``(label, probability)`` pairs in :attr:`Prediction.top_k`.
            boxes: Also say where the brand is: :attr:`Prediction.boxes` in pixels of the
                photo (see :mod:`logobrand.inference.boxes`). Needs a model with a
                ``"cell_scores"`` output; the photo is then decoded at full resolution.

        Returns:
            A :class:`~logobrand.inference.prediction.Prediction`; ``brand`` is ``None`` when
            no brand reaches the model's threshold.

        Raises:
            ImageDecodeError: The input cannot be decoded (the message names it).
            ImageTooLargeError: The image has too many pixels.
            FetchError: A URL could not be fetched.
            InvalidArgumentError: ``boxes=True`` with a model that cannot localise.

        Example:
            >>> # clf.predict("photo.jpg", top_k=3).brand
            >>> # 'heineken'
        """
        top_k = check_int("top_k", top_k, 0)
        return self.prediction_stream(top_k=top_k, boxes=boxes).predict(image)

    def predict_batch(
        self,
        images: Iterable[ImageInput],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
        top_k: int = 5,
        progress: bool = False,
        total: int | None = None,
        boxes: bool = False,
        fetch_policy: FetchPolicy | None = None,
    ) -> Iterator[Prediction | Failure]:
        """Recognise brands in many photos, streaming results in input order.

        Decoding runs in ``workers`` threads, overlapped with inference; memory stays bounded
        (about three batches) however long ``images`` is, so a generator of millions of
        paths is fine (``logobrand predict DIR`` is
        ``predict_batch(iter_image_files(DIR), progress=True)``). An input that cannot be
        decoded yields a :class:`~logobrand.inference.prediction.Failure` at its position;
        the others go on.

        Args:
            images: Any iterable of inputs accepted by :meth:`predict`, e.g.
                :func:`~logobrand.inference.pipeline.iter_image_files` of a folder.
            batch_size: Images per ONNX run.
            workers: Decoding threads (default: :func:`default_workers`, one per usable core
                beyond the first, at least one).
            top_k: As in :meth:`predict`.
            progress: Show a progress bar on stderr.
            total: Number of inputs, for the progress bar when ``images`` has no ``len()``.
            boxes: As in :meth:`predict`.
            fetch_policy: The :class:`~logobrand.images_fetch.FetchPolicy` for URL inputs
                (default :data:`~logobrand.images_fetch.DEFAULT_POLICY`); a server fed
                untrusted URLs passes :data:`~logobrand.images_fetch.SERVER_POLICY`.

        Returns:
            An iterator of ``Prediction`` or ``Failure``, one per input, in order.

        Raises:
            InvalidArgumentError: ``batch_size``, ``workers``, ``top_k`` or ``total`` is
                invalid, or ``boxes=True`` with a model that cannot localise.

        Example:
            >>> # results = list(clf.predict_batch(["a.jpg", "b.png"], batch_size=16))
            >>> # [r.brand for r in results if r.ok]
        """
        check_image_iterable(images)
        top_k = check_int("top_k", top_k, 0)
        batch_size = check_int("batch_size", batch_size, 1)
        if workers is not None:
            workers = check_int("workers", workers, 1)
            if workers > MAX_THREADS:
                raise InvalidArgumentError(
                    f"workers must be at most {MAX_THREADS} decoding threads, got {workers}"
                )
        if total is not None and (
            isinstance(total, bool) or not isinstance(total, int) or total < 0
        ):
            raise InvalidArgumentError(f"total must be an integer >= 0 or None, got {total!r}")
        n_workers = workers if workers is not None else default_workers()
        stream = self.prediction_stream(top_k=top_k, boxes=boxes, fetch_policy=fetch_policy)
        return stream.predict_many(
            images, batch_size=batch_size, workers=n_workers, progress=progress, total=total
        )

    def prediction_stream(
        self,
        *,
        top_k: int = 5,
        boxes: bool = False,
        box_threshold: float | None = None,
        fetch_policy: FetchPolicy | None = None,
        full_pixels: bool = False,
    ) -> PredictionStream:
        """The one prediction stream (:mod:`logobrand.inference.stream`) that :meth:`predict`,
        :meth:`predict_batch` and the integrations use: decode, run and decide.

        Args:
            top_k: As in :meth:`predict`.
            boxes: As in :meth:`predict`.
            box_threshold: The box threshold (default: that of the box source, see
                :mod:`logobrand.inference.boxes`).
            fetch_policy: As in :meth:`predict_batch`.
            full_pixels: Keep each photo's full-resolution pixels, for
                :meth:`PredictionStream.predict_many_with_pixels
                <logobrand.inference.stream.PredictionStream.predict_many_with_pixels>`
                (drawing on the photos); needs ``boxes=True`` when the model reads words.

        Raises:
            InvalidArgumentError: ``boxes=True`` with a model that cannot localise.
        """
        gallery = self._gallery
        return PredictionStream(
            self._model,
            self._config,
            gallery,
            self._views_for(gallery),
            top_k=top_k,
            boxes=boxes,
            box_threshold=box_threshold,
            text_reader=lambda: self.text_reader,
            fetch_policy=fetch_policy,
            draft=self._draft_size,
            words=self._words,
            brand_texts=self._brand_texts,
            full_pixels=full_pixels,
        )

    # -- few-shot brands (logic in logobrand.inference.gallery) --------------------------------

    @property
    def text_reader(self) -> TextReader:
        """The OCR reader of gallery brands' texts (made on first use, with the same number
        of threads as the model).

        Raises:
            MissingExtraError: The ``ocr`` extra is not installed.
        """
        if self._text_reader is None:
            self._text_reader = TextReader(threads=self._threads)
        return self._text_reader

    @property
    def gallery(self) -> Gallery | None:
        """The few-shot brands added with :meth:`add_brand` (``None`` when there are none)."""
        return self._gallery

    def embed(
        self, images: Iterable[ImageInput], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        """Return the raw gallery embeddings of ``images``, in order.

        They are of the kind the gallery matches (:attr:`Gallery.kind
        <logobrand.inference.gallery.Gallery.kind>`; for a model without a gallery, the kind a
        new one would get): ``(N, D)`` whole-photo embeddings for ``"photo"``, ``(3 N, D)``
        for ``"box_crops"`` (the crops of each image's 3 best boxes, consecutive).

        Raises:
            ModelFormatError: The model cannot embed photos (no ``"embedding"`` output, or no
                box head for a box-crops gallery).
            ImageDecodeError: An input cannot be decoded.
        """
        check_image_iterable(images)
        kind = self._gallery.kind if self._gallery is not None else None
        return embed_images(self._model, images, kind=kind, batch_size=batch_size)

    def add_brand(
        self,
        name: str,
        images: Iterable[ImageInput],
        *,
        replace: bool = False,
        save: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        kind: str | None = None,
        texts: Sequence[str] | None = None,
    ) -> Gallery:
        """Teach the classifier a new brand from a few reference images, without training.

        The images (photos of the brand, or artwork renders from
        :mod:`logobrand.artwork`) are embedded and stored in the gallery; predictions then
        report ``name`` for photos similar enough to them (rule in
        :mod:`logobrand.inference.gallery`). Adding to an existing gallery brand appends
        references (``replace=True`` replaces them).

        Args:
            name: The brand name (not ``"no-logo"`` nor a trained label).
            images: Paths, URLs, bytes, PIL images or RGB arrays.
            replace: Replace the brand's references instead of appending.
            save: Also write the model directory this classifier was loaded from
                (atomically; see :meth:`save_pretrained`).
            batch_size: Images per ONNX run.
            kind: How a new gallery embeds photos: ``"box_crops"`` (the default with a box
                head: more accurate, about 4x the model time per photo) or ``"photo"``
                (see :mod:`logobrand.inference.gallery`). ``None`` keeps the existing
                gallery's kind.
            texts: Texts printed in the brand's logo, e.g. ``["yahoo"]``: a photo in which
                one of them is read (OCR, the ``ocr`` extra; about 50 ms per photo the
                classifier is unsure of) is reported as this brand
                (:mod:`logobrand.inference.text`). ``None`` keeps the brand's texts (none for
                a new brand); ``[]`` removes them.

        Returns:
            The new gallery.

        Raises:
            InvalidArgumentError: Bad name or no images, or a ``kind`` other than the
                existing gallery's.
            ModelFormatError: The model has no ``"embedding"`` output.
            ImageDecodeError: An image cannot be decoded (nothing is added).
            MissingExtraError: ``texts`` without the ``ocr`` extra (nothing is added).

        Example:
            >>> # clf.add_brand("yahoo", ["yahoo1.jpg", "yahoo2.jpg"], texts=["yahoo"])
        """
        if texts:
            self.text_reader  # noqa: B018 - fails now, before any work, without the extra
        if save:
            refuse_bundled(self._directory)
        self._gallery = add_brand(
            self._model,
            name,
            images,
            gallery=self._gallery,
            replace=replace,
            batch_size=batch_size,
            kind=kind,
            texts=texts,
        )
        if not self._gallery.calibrated:
            warnings.warn(
                f"the gallery of {self._directory} is not calibrated, so {name!r} may be "
                "reported for many photos that do not show it; calibrate it on 300 or more "
                "held-out photos without gallery brands: clf.calibrate_gallery(photos) or "
                "`logobrand brands calibrate PHOTOS --model DIR`",
                UserWarning,
                stacklevel=2,
            )
        if save:
            self.save_pretrained(self._directory)
        return self._gallery

    def remove_brand(self, name: str, *, save: bool = False) -> Gallery:
        """Forget a gallery brand (``save=True`` also rewrites the model directory).

        Raises:
            InvalidArgumentError: The gallery has no such brand.
        """
        if save:
            refuse_bundled(self._directory)
        self._gallery = gallery_of(self._model, None, self._gallery).remove(name)
        if save:
            self.save_pretrained(self._directory)
        return self._gallery

    def calibrate_gallery(
        self,
        negatives: Iterable[ImageInput],
        *,
        target_fpr: float | None = None,
        save: bool = False,
        kind: str | None = None,
        whiten: bool = True,
    ) -> Gallery:
        """Calibrate the gallery threshold on held-out photos showing no gallery brand.

        Use no-logo photos and photos of the trained brands that were not used to train or
        test the model; their embeddings are kept so that later :meth:`add_brand` calls
        recompute the threshold. With at least
        :data:`~logobrand.inference.gallery.MIN_WHITEN_PHOTOS` photos, half of them fit a
        whitening of the embeddings and the other half sets the threshold
        (:meth:`Gallery.calibrate <logobrand.inference.gallery.Gallery.calibrate>`).

        Args:
            negatives: The held-out photos (at least 20; 300 or more to whiten well, see
                ``docs/fewshot.rst``).
            target_fpr: Largest share of them allowed to match a gallery brand
                (default: :data:`~logobrand.inference.gallery.DEFAULT_TARGET_FPR`).
            save: Also rewrite the model directory.
            kind: The embedding of a new gallery (as in :meth:`add_brand`).
            whiten: Whiten the embeddings when there are enough photos.

        Returns:
            The calibrated gallery.
        """
        if save:
            refuse_bundled(self._directory)
        fpr = DEFAULT_TARGET_FPR if target_fpr is None else target_fpr
        gallery = gallery_of(self._model, kind, self._gallery)
        embeddings = embed_images(self._model, negatives, kind=gallery.kind)
        self._gallery = gallery.calibrate(embeddings, target_fpr=fpr, whiten=whiten)
        if save:
            self.save_pretrained(self._directory)
        return self._gallery

    # -- closer looks (logic in logobrand.inference.views) -------------------------------------

    def _views_for(self, gallery: Gallery | None) -> ViewsSettings | None:
        """The views settings to use: none when off, or when the gallery has brands (few-shot
        brands are matched on the whole photo)."""
        if self._views is None or (gallery is not None and len(gallery) > 0):
            return None
        return self._views

    def preprocess_views(
        self, image: ImageInput, crop: float, *, fetch_policy: FetchPolicy | None = None
    ) -> np.ndarray:
        """Decode one photo (with enough pixels for its crops) into its five views.

        Args:
            image: As in :meth:`predict`.
            crop: Side of each corner crop, as a share of the photo's side.
            fetch_policy: As in :meth:`preprocess`.

        Returns:
            ``(5, 3, S, S)`` float32 (:func:`logobrand.inference.views.make_views`).
        """
        pre = self._config.preprocessing
        return decode_photo(
            image, pre, crop=crop, draft=self._draft_size, fetch_policy=fetch_policy
        ).x

    def _decide(self, logits: np.ndarray, source: str, top_k: int) -> Prediction:
        """The plain decision rule for one row of logits (no gallery, no views)."""
        stream = PredictionStream(self._model, self._config, top_k=top_k)
        return stream.decide(source, Scores(np.asarray(logits), (0, 0)))


def default_workers() -> int:
    """Decoding threads used by :meth:`LogoClassifier.predict_batch` by default.

    One per usable core beyond the first (at least one): ONNX Runtime already uses every core
    for the model, which costs several times more CPU per photo than decoding it.
    """
    return max(1, usable_cpu_count() - 1)


__all__ = [
    "BOX_HEAD_FILE",
    "BOX_HEAD_KEY",
    "BUNDLED_MODELS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MODEL_DIR",
    "FAST_MODEL_DIR",
    "PRESET_DESCRIPTIONS",
    "LogoClassifier",
    "default_workers",
    "draft_size",
]
