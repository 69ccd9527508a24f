"""Few-shot brands: a gallery of reference embeddings stored in the model directory.

A model whose ONNX file has an ``"embedding"`` output (EfficientNet-Lite0 exports the
average-pooled last feature map, ``(N, 1280)``) can recognise brands it was never trained on
from a handful of reference photos (or rendered artwork, see :mod:`logobrand.artwork`),
without retraining:

* :meth:`LogoClassifier.add_brand <logobrand.inference.LogoClassifier.add_brand>` embeds the
  references and stores them in a :class:`Gallery`;
* every prediction compares the photo's embedding with each gallery brand;
* :meth:`LogoClassifier.save_pretrained <logobrand.inference.LogoClassifier.save_pretrained>`
  writes the gallery next to the model (``gallery.json`` + ``gallery.npz``).

Embedding (``Gallery.kind``)
    ``"box_crops"`` (the default for a model with a box head, :mod:`logobrand.models.box_head`):
    the head's :data:`CROP_BOXES` best boxes, each enlarged by :data:`CROP_MARGIN` of its size
    on every side, are cut from the model input, resized back to the input size and run
    through the model once more; each crop's ``features_s32`` map, GeM-pooled
    (:func:`gem_pool`), is one embedding. A photo therefore has :data:`CROP_BOXES` embeddings
    (``Gallery.views``) and its similarity to a brand is the best of them. The logo fills the
    crop, so the scene around it weighs less than in the whole photo's embedding; this costs
    one more model run on 3 crops per photo (about 4x the model time). ``"photo"`` (a model
    without a box head, galleries of format 1, or on request): the model's ``"embedding"``
    output of the whole photo, one per photo.

Matching
    Embeddings are centred (minus the mean embedding of the calibration photos, when the
    gallery has been calibrated), whitened when the calibration had enough photos (see
    below), and L2-normalised. A brand's *prototype* is the normalised
    mean of its normalised references (``reduce="mean"``, the default; ``reduce="max"`` takes
    the best single reference instead). The similarity of a photo to a brand is the cosine
    ``q . p``; one matrix product scores every brand at once, so thousands of brands cost a
    few milliseconds (:func:`brand_similarities`).

Decision rule (:func:`decide`)
    1. The trained classes first: the classifier's rule
       (:func:`~logobrand.inference.prediction.make_prediction`) picks the best trained brand
       ``b``; if ``p(b) >= threshold`` the answer is ``b`` (a confident trained-class decision
       is never overridden by the gallery).
    2. Otherwise the classifier abstains. When the photo shows one of the texts of some
       gallery brands (brands added with ``texts``, read by OCR: :mod:`logobrand.inference.text`),
       the answer is the one of those brands with the highest similarity, with ``score`` =
       the confidence of the text read.
    3. Otherwise the best gallery brand ``g`` is the answer when its
       similarity ``s(g) >= gallery.threshold``, with ``score = s(g)``.
    4. Otherwise: no logo (``brand=None``; ``score`` stays the closest trained brand's
       probability).

Open-set calibration
    ``gallery.threshold`` is chosen on *held-out* photos that show none of the gallery brands
    (no-logo photos and photos of the trained brands; never the photos you test on):
    :meth:`Gallery.calibrate` keeps their embeddings (``negatives``) and picks the smallest
    threshold at which at most ``target_fpr`` of them match any gallery brand. Because the
    negatives are stored, the threshold is recomputed automatically whenever a brand is added
    or removed (more brands -> more chances of a false match -> a higher threshold). An
    uncalibrated gallery uses :data:`DEFAULT_THRESHOLD` and says so in ``gallery.json``.

Whitening
    With at least :data:`MIN_WHITEN_PHOTOS` calibration photos, :meth:`Gallery.calibrate`
    splits them in two halves (seeded, by photo). One half fits a PCA whitening
    (:func:`fit_whitening`: the centre, and a projection on the :data:`WHITEN_DIMS` main axes
    of their embeddings, each divided by the square root of its shrunk variance); the other
    half, which the whitening never saw, sets the threshold and is the half kept as
    ``negatives``. Whitening lowers the weight of what photos without the gallery brands
    have in common, so a logo stands out more; ``docs/fewshot.rst`` gives the measured gain.

Files (``config.json`` ``files["gallery"] = "gallery.json"``)::

    gallery.json   format_version, embedding kind + output + views + dim + centred + whitened
                   dimensions, reduce, threshold, calibration summary, brands (name, number
                   of reference images, texts), arrays file name
    gallery.npz    numpy arrays (read with allow_pickle=False): "references" (R, D) float16
                   raw embeddings grouped by brand (``views`` rows per image), optional
                   "negatives" (M, D) float16, "center" (D,) float32 and "projection"
                   (D, K) float32

Example:
    >>> g = Gallery.empty(4)
    >>> g = g.add("acme", np.array([[1.0, 0.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0]]))
    >>> g.brands, g.counts
    (('acme',), (2,))
    >>> sims = g.similarities(np.array([[1.0, 0.05, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    >>> (sims[:, 0] > 0.99).tolist()
    [True, False]
"""

from __future__ import annotations

import copy
import dataclasses
import io
import itertools
import math
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logobrand._io import atomic_write_bytes, atomic_write_json
from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.images import check_image_iterable
from logobrand.inference.config import read_json_file
from logobrand.inference.onnx import run_session
from logobrand.inference.prediction import NO_LOGO, Prediction, make_prediction
from logobrand.inference.text import TextIndex, text_key

GALLERY_FORMAT_VERSION = 4
"""The ``format_version`` of ``gallery.json`` (versions 1, whole-photo embeddings only, 2,
without whitening, and 3, without brand texts, are read too)."""

GALLERY_KEY = "gallery"
"""The key of the gallery in ``config.json``'s ``files``."""

GALLERY_JSON = "gallery.json"
GALLERY_ARRAYS = "gallery.npz"
EMBEDDING_OUTPUT = "embedding"
"""The ONNX output a ``"photo"`` gallery matches (``(N, D)`` float32)."""

CROP_FEATURES = "features_s32"
"""The ONNX output a ``"box_crops"`` gallery pools (``(N, D, h, w)``)."""

PHOTO = "photo"
BOX_CROPS = "box_crops"
KINDS = (PHOTO, BOX_CROPS)
"""Gallery embedding kinds (see the module docstring)."""

KIND_OUTPUTS = {PHOTO: EMBEDDING_OUTPUT, BOX_CROPS: CROP_FEATURES}
"""The ONNX output each kind reads."""

CROP_BOXES = 3
"""Box-head boxes embedded per photo by a ``"box_crops"`` gallery."""

CROP_MARGIN = 0.25
"""Each crop extends its box by this share of the box's width/height on every side."""

GEM_POWER = 3.0
"""Exponent of the generalised-mean pooling of a crop's feature map."""

DEFAULT_TARGET_FPR = 0.01
"""Default share of held-out negative photos allowed to match a gallery brand."""

DEFAULT_THRESHOLD = 0.6
"""Similarity threshold of an uncalibrated gallery (see ``docs/fewshot.rst``; calibrate it)."""

MIN_WHITEN_PHOTOS = 200
"""Calibration photos needed to whiten (half fit the whitening, half set the threshold)."""

WHITEN_DIMS = 512
"""Most dimensions a whitened gallery keeps."""

WHITEN_SHRINK = 0.1
"""Added to every kept variance, as a share of their mean, before whitening divides by it."""

REDUCTIONS = ("mean", "max")

_EPS = 1e-12


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Return ``x`` (``(N, D)``) with rows scaled to unit L2 norm (zero rows stay zero).

    Example:
        >>> normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6, 0.8], [0.0, 0.0]]
    """
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: np.ndarray = arr / np.maximum(norms, _EPS)
    return out


def gem_pool(features: np.ndarray, power: float = GEM_POWER) -> np.ndarray:
    """Generalised-mean pooling of ``(N, D, h, w)`` feature maps: ``(N, D)``.

    ``mean(max(x, 1e-6) ** power) ** (1 / power)`` over the ``h x w`` cells: between the
    average (``power=1``) and the maximum (large ``power``), so a strong local response counts
    more than in the average.

    Example:
        >>> x = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> round(float(gem_pool(x, 1.0)[0, 0]), 3), round(float(gem_pool(x, 3.0)[0, 0]), 3)
        (0.25, 0.63)
    """
    x = np.maximum(np.asarray(features, dtype=np.float32), 1e-6)
    if x.ndim != 4:
        raise InvalidArgumentError(f"features must be (N, D, h, w), got shape {x.shape}")
    pooled: np.ndarray = np.mean(x**power, axis=(2, 3)) ** (1.0 / power)
    return pooled.astype(np.float32)


def crop_boxes(
    batch: np.ndarray,
    boxes: Sequence[Sequence[tuple[float, float, float, float]]],
    *,
    margin: float = CROP_MARGIN,
) -> np.ndarray:
    """Cut boxes out of preprocessed images and resize each back to the image size.

    Args:
        batch: ``(N, C, H, W)`` float32 model inputs.
        boxes: For each image, boxes ``(x1, y1, x2, y2)`` in fractions of its sides.
        margin: Each box grows by this share of its width and height on every side (clipped
            to the image; at least one pixel wide and high).

    Returns:
        ``(sum of the boxes, C, H, W)`` float32 crops, image by image, bilinear resize.

    Example:
        >>> x = np.zeros((1, 3, 8, 8), np.float32); x[0, :, :4, :4] = 1.0
        >>> crop_boxes(x, [[(0.0, 0.0, 0.5, 0.5)]], margin=0.0).min()
        1.0
    """
    import cv2

    arr = np.asarray(batch, dtype=np.float32)
    if arr.ndim != 4 or len(boxes) != arr.shape[0]:
        raise InvalidArgumentError(
            f"crop_boxes needs (N, C, H, W) images and N box lists, got shape {arr.shape} and "
            f"{len(boxes)} lists"
        )
    height, width = arr.shape[2:]
    crops: list[np.ndarray] = []
    for image, image_boxes in zip(arr, boxes, strict=True):
        hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
        for x1, y1, x2, y2 in image_boxes:
            dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
            c1 = int(np.clip(np.floor((x1 - dx) * width), 0, width - 1))
            r1 = int(np.clip(np.floor((y1 - dy) * height), 0, height - 1))
            c2 = int(np.clip(np.ceil((x2 + dx) * width), c1 + 1, width))
            r2 = int(np.clip(np.ceil((y2 + dy) * height), r1 + 1, height))
            patch = cv2.resize(hwc[r1:r2, c1:c2], (width, height), interpolation=cv2.INTER_LINEAR)
            crops.append(patch.reshape(height, width, -1).transpose(2, 0, 1))
    if not crops:
        return np.zeros((0, *arr.shape[1:]), np.float32)
    return np.ascontiguousarray(np.stack(crops), dtype=np.float32)


_BLAS_CONTROLLER: Any = None


def matmul_one_thread(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``, with numpy's BLAS limited to the calling thread for this product.

    Inference runs beside ONNX Runtime's own threads. A multi-threaded BLAS product wakes
    BLAS worker threads that keep spinning after it returns and take the cores ONNX Runtime
    needs: on 2 cores, ``predict_batch`` with a 1,000-brand gallery ran at about 35 ms per
    photo instead of about 27 (``benchmarks/gallery_scale.py``). The limit (threadpoolctl) is
    process-wide while the product runs, so another thread's BLAS work at that moment also
    runs on one thread.

    Example:
        >>> matmul_one_thread(np.eye(2, dtype=np.float32), np.ones((2, 1), np.float32)).tolist()
        [[1.0], [1.0]]
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()  # scans the loaded libraries once
    with _BLAS_CONTROLLER.limit(limits=1, user_api="blas"):
        product: np.ndarray = a @ b
    return product


def brand_similarities(
    queries: np.ndarray, references: np.ndarray, starts: np.ndarray | None = None
) -> np.ndarray:
    """Cosine similarity of each query to each brand, with one matrix product.

    Args:
        queries: ``(N, D)`` L2-normalised query embeddings.
        references: ``(R, D)`` L2-normalised vectors: one prototype per brand
            (``starts=None``), or every reference grouped by brand.
        starts: With grouped references, the index of each brand's first reference
            (increasing, starting at 0); a brand's similarity is then the maximum over its
            references.

    Returns:
        ``(N, B)`` float32 similarities (``B = R`` without ``starts``).

    Example:
        >>> q = np.array([[1.0, 0.0]], np.float32)
        >>> refs = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], np.float32)
        >>> brand_similarities(q, refs, np.array([0, 2])).round(2).tolist()
        [[1.0, 0.6]]
    """
    q = np.asarray(queries, dtype=np.float32)
    r = np.asarray(references, dtype=np.float32)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise InvalidArgumentError(
            f"queries {q.shape} and references {r.shape} must be 2-D with the same width"
        )
    if r.shape[0] == 0:
        return np.zeros((q.shape[0], 0), dtype=np.float32)
    sims = matmul_one_thread(q, r.T)
    if starts is None:
        return sims
    out: np.ndarray = np.maximum.reduceat(sims, np.asarray(starts, dtype=np.intp), axis=1)
    return out


def fit_whitening(
    embeddings: np.ndarray, *, dims: int = WHITEN_DIMS, shrink: float = WHITEN_SHRINK
) -> tuple[np.ndarray, np.ndarray]:
    """PCA whitening of raw embeddings: their mean, and a projection on their main axes.

    Whitened embeddings are ``(x - center) @ projection``: the coordinates on the
    ``K = min(dims, N // 2, D)`` axes of largest variance, each divided by
    ``sqrt(variance + shrink * mean kept variance)`` (the shrinkage keeps the weak axes from
    being blown up by noise).

    Args:
        embeddings: ``(N, D)`` raw embeddings, ``N >= 2``.
        dims: Most axes to keep.
        shrink: Share of the mean kept variance added to every variance.

    Returns:
        ``(center (D,), projection (D, K))``, float32.

    Raises:
        InvalidArgumentError: Fewer than 2 embeddings, or ``dims < 1`` or ``shrink <= 0``.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 4)) * [10.0, 1.0, 1.0, 0.1]
        >>> center, projection = fit_whitening(x, dims=3)
        >>> projection.shape
        (4, 3)
        >>> z = (x - center) @ projection
        >>> bool(np.ptp(z.std(axis=0)) < 0.2 * z.std(axis=0).max())
        True
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InvalidArgumentError(f"whitening needs (N, D) embeddings with N >= 2, got {x.shape}")
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise InvalidArgumentError(f"dims must be an integer >= 1, got {dims!r}")
    if not shrink > 0:
        raise InvalidArgumentError(f"shrink must be > 0, got {shrink!r}")
    center = x.mean(axis=0)
    centred = x - center
    variances, axes = np.linalg.eigh(centred.T @ centred / x.shape[0])
    keep = np.argsort(variances)[::-1][: min(dims, x.shape[0] // 2, x.shape[1])]
    kept = np.maximum(variances[keep], 0.0)
    projection = axes[:, keep] / np.sqrt(kept + shrink * kept.mean() + _EPS)
    return center.astype(np.float32), projection.astype(np.float32)


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


@dataclass(frozen=True)
class GalleryMatch:
    """The best gallery brand for one photo.

    Attributes:
        brand: The gallery brand with the highest similarity.
        similarity: Its cosine similarity (in ``[-1, 1]``).
        matched: Whether ``similarity`` reaches the gallery's threshold.
    """

    brand: str
    similarity: float
    matched: bool


class Gallery:
    """Reference embeddings of few-shot brands, and the threshold that accepts a match.

    Instances are immutable: :meth:`add`, :meth:`remove` and :meth:`calibrate` return new
    galleries (so a classifier shared between threads swaps its gallery atomically).

    Args:
        dim: Embedding width ``D``.
        brands: Brand names, in the order of their references.
        references: ``(R, D)`` raw embeddings (not normalised), grouped by brand, ``views``
            consecutive rows per reference image.
        counts: Number of reference images of each brand (``sum(counts) * views == R``).
        threshold: Similarity needed to report a gallery brand.
        reduce: ``"mean"`` (match each brand's prototype) or ``"max"`` (best reference).
        center: ``(D,)`` vector subtracted before normalising, or ``None``.
        projection: ``(D, K)`` whitening applied after centring (:func:`fit_whitening`), or
            ``None``; needs ``center``.
        negatives: ``(M, D)`` raw embeddings of held-out photos without gallery brands
            (``views`` rows per photo), used to recalibrate ``threshold`` when the brands
            change, or ``None``.
        target_fpr: The share of negatives allowed to match (with ``negatives``).
        kind: ``"box_crops"`` or ``"photo"``: how photos are embedded (module docstring).
        texts: For each brand, the texts printed in its logo that a photo may show
            (:mod:`logobrand.inference.text`; empty: none); ``()`` for no texts at all.

    Raises:
        InvalidArgumentError: Shapes, names or numbers do not fit.
    """

    def __init__(
        self,
        dim: int,
        *,
        brands: Sequence[str] = (),
        references: np.ndarray | None = None,
        counts: Sequence[int] = (),
        threshold: float = DEFAULT_THRESHOLD,
        reduce: str = "mean",
        center: np.ndarray | None = None,
        projection: np.ndarray | None = None,
        negatives: np.ndarray | None = None,
        target_fpr: float = DEFAULT_TARGET_FPR,
        kind: str = PHOTO,
        texts: Sequence[Sequence[str]] = (),
        model_probe: np.ndarray | None = None,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidArgumentError(f"dim must be an integer >= 1, got {dim!r}")
        refs = (
            np.zeros((0, dim), np.float32)
            if references is None
            else np.asarray(references, dtype=np.float32)
        )
        self._dim = dim
        self._brands = tuple(brands)
        self._counts = tuple(int(c) for c in counts)
        self._references = _check_matrix("references", refs, dim)
        self._center = None if center is None else _check_vector("center", center, dim)
        self._projection = None if projection is None else _check_projection(projection, dim)
        self._negatives = None if negatives is None else _check_matrix("negatives", negatives, dim)
        self._threshold = float(threshold)
        self._reduce = reduce
        self._target_fpr = float(target_fpr)
        self._kind = kind
        if isinstance(texts, str) or any(isinstance(t, str) for t in texts):
            raise InvalidArgumentError(
                f"Gallery: texts must hold one list of strings per brand, got {texts!r}"
            )
        self._texts = tuple(tuple(t) for t in texts) or tuple(() for _ in self._brands)
        self._text_index: TextIndex | None = None
        self._model_probe = None if model_probe is None else _check_probe(model_probe)
        problem = self._problem()
        if problem is not None:
            raise InvalidArgumentError(f"Gallery: {problem}")
        self._index = self._build_index()

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def empty(cls, dim: int, *, reduce: str = "mean", kind: str = PHOTO) -> Gallery:
        """An empty gallery for ``dim``-wide embeddings of ``kind``."""
        return cls(dim, reduce=reduce, kind=kind)

    def _replace(self, **changes: Any) -> Gallery:
        fields: dict[str, Any] = {
            "brands": self._brands,
            "references": self._references,
            "counts": self._counts,
            "threshold": self._threshold,
            "reduce": self._reduce,
            "center": self._center,
            "projection": self._projection,
            "negatives": self._negatives,
            "target_fpr": self._target_fpr,
            "kind": self._kind,
            "texts": self._texts,
            "model_probe": self._model_probe,
        }
        fields.update(changes)
        gallery = Gallery(self._dim, **fields)
        if gallery._negatives is not None and "threshold" not in changes:
            gallery = gallery._recalibrated()
        return gallery

    def _problem(self) -> str | None:
        if self._kind not in KINDS:
            return f"kind must be one of {KINDS}, got {self._kind!r}"
        if self._projection is not None and self._center is None:
            return "a whitening projection needs a center"
        if self._reduce not in REDUCTIONS:
            return f"reduce must be one of {REDUCTIONS}, got {self._reduce!r}"
        if len(self._brands) != len(self._counts):
            return f"{len(self._brands)} brands but {len(self._counts)} reference counts"
        if len(self._texts) != len(self._brands):
            return f"{len(self._brands)} brands but {len(self._texts)} lists of texts"
        for brand, texts in zip(self._brands, self._texts, strict=True):
            for text in texts:
                if not isinstance(text, str) or not text_key(text):
                    return (
                        f"texts of {brand!r} must be strings with a letter or digit, got {text!r}"
                    )
        for name in self._brands:
            problem = _name_problem(name)
            if problem is not None:
                return problem
        if len(set(self._brands)) != len(self._brands):
            return f"brand names must be unique, got {list(self._brands)}"
        if any(c < 1 for c in self._counts):
            return f"every brand needs at least one reference, got counts {list(self._counts)}"
        if sum(self._counts) * self.views != self._references.shape[0]:
            return (
                f"the counts add up to {sum(self._counts)} images ({self.views} embeddings "
                f"each) but there are {self._references.shape[0]} reference embeddings"
            )
        if self._negatives is not None and self._negatives.shape[0] % self.views:
            return (
                f"{self._negatives.shape[0]} negative embeddings is not a multiple of "
                f"{self.views} (embeddings per photo)"
            )
        if not -1.0 <= self._threshold <= 1.0 + 1e-6:
            return f"threshold must be a cosine similarity in [-1, 1], got {self._threshold}"
        if not 0.0 <= self._target_fpr < 1.0:
            return f"target_fpr must be in [0, 1), got {self._target_fpr}"
        return None

    def _build_index(self) -> np.ndarray:
        """Normalised matrix compared with queries: prototypes, or all references."""
        refs = self.normalize(self._references)
        if self._reduce == "max" or not self._brands:
            return refs
        sums = np.add.reduceat(refs, self._starts(), axis=0)
        return normalize_rows(sums)

    def _starts(self) -> np.ndarray:
        """Index of each brand's first reference row."""
        return np.cumsum((0, *(c * self.views for c in self._counts[:-1])))

    # -- properties ------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Embedding width ``D``."""
        return self._dim

    @property
    def kind(self) -> str:
        """``"box_crops"`` or ``"photo"``: how photos are embedded (module docstring)."""
        return self._kind

    @property
    def views(self) -> int:
        """Embeddings per photo: :data:`CROP_BOXES` for ``"box_crops"``, else 1."""
        return CROP_BOXES if self._kind == BOX_CROPS else 1

    @property
    def brands(self) -> tuple[str, ...]:
        """The gallery brands, in insertion order."""
        return self._brands

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of reference images of each brand."""
        return self._counts

    @property
    def texts(self) -> tuple[tuple[str, ...], ...]:
        """For each brand, the texts that identify it when read in a photo."""
        return self._texts

    @property
    def reads_text(self) -> bool:
        """Whether some brand has texts: predictions then read the photos' text (OCR)."""
        return any(self._texts)

    @property
    def text_index(self) -> TextIndex:
        """The :class:`~logobrand.inference.text.TextIndex` of the brands' texts (built on
        first use)."""
        if self._text_index is None:
            self._text_index = TextIndex(self._texts)
        return self._text_index

    @property
    def threshold(self) -> float:
        """Similarity needed to report a gallery brand."""
        return self._threshold

    @property
    def reduce(self) -> str:
        """``"mean"`` (prototype per brand) or ``"max"`` (best single reference)."""
        return self._reduce

    @property
    def target_fpr(self) -> float:
        """Share of calibration negatives allowed to match a gallery brand."""
        return self._target_fpr

    @property
    def calibrated(self) -> bool:
        """Whether the threshold comes from held-out negatives (see :meth:`calibrate`)."""
        return self._negatives is not None

    @property
    def whitened_dims(self) -> int:
        """Dimensions of the whitened embeddings (0 when the gallery is not whitened)."""
        return 0 if self._projection is None else int(self._projection.shape[1])

    @property
    def num_negatives(self) -> int:
        """Number of calibration photos kept (0 when uncalibrated)."""
        return 0 if self._negatives is None else int(self._negatives.shape[0]) // self.views

    def references(self, brand: str) -> np.ndarray:
        """The raw reference embeddings of ``brand`` (``(k * views, D)`` float32 copy)."""
        i = self._position(brand)
        start = int(self._starts()[i])
        return self._references[start : start + self._counts[i] * self.views].copy()

    def __len__(self) -> int:
        return len(self._brands)

    def __contains__(self, brand: object) -> bool:
        return brand in self._brands

    def __repr__(self) -> str:
        state = (
            f"calibrated on {self.num_negatives} negatives, target_fpr={self._target_fpr:g}"
            if self.calibrated
            else "uncalibrated"
        )
        if self._projection is not None:
            state += f", whitened to {self.whitened_dims} dimensions"
        return (
            f"Gallery({len(self._brands)} brands, {sum(self._counts)} reference images, "
            f"kind={self._kind!r}, dim={self._dim}, reduce={self._reduce!r}, "
            f"threshold={self._threshold:.4f}, {state})"
        )

    # -- matching --------------------------------------------------------------------------

    def normalize(self, embeddings: np.ndarray) -> np.ndarray:
        """Centre and whiten (when calibrated) and L2-normalise raw ``(N, D)`` embeddings."""
        x = _check_matrix("embeddings", np.asarray(embeddings, dtype=np.float32), self._dim)
        if self._center is not None:
            x = x - self._center
        if self._projection is not None:
            x = matmul_one_thread(x, self._projection)
        return normalize_rows(x)

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Similarity of each photo to each brand: ``(N, len(brands))`` float32.

        Args:
            embeddings: ``(N * views, D)`` raw embeddings, ``views`` consecutive rows per
                photo; a photo's similarity is the best of its rows.
        """
        q = self.normalize(embeddings)
        if q.shape[0] % self.views:
            raise InvalidArgumentError(
                f"got {q.shape[0]} embeddings; a {self._kind!r} gallery needs {self.views} "
                "per photo"
            )
        if self._reduce == "max" and self._brands:
            sims = brand_similarities(q, self._index, self._starts())
        else:
            sims = brand_similarities(q, self._index)
        if self.views == 1:
            return sims
        best: np.ndarray = sims.reshape(-1, self.views, sims.shape[1]).max(axis=1)
        return best

    def match(self, similarities: np.ndarray) -> GalleryMatch | None:
        """The best brand of one row of :meth:`similarities` (``None`` for an empty gallery)."""
        row = np.asarray(similarities, dtype=np.float32).ravel()
        if row.size != len(self._brands):
            raise InvalidArgumentError(
                f"got {row.size} similarities for a gallery of {len(self._brands)} brands"
            )
        if row.size == 0:
            return None
        best = int(np.argmax(row))
        sim = float(row[best])
        return GalleryMatch(self._brands[best], sim, sim >= self._threshold)

    # -- changes ---------------------------------------------------------------------------

    def add(
        self,
        brand: str,
        embeddings: np.ndarray,
        *,
        replace: bool = False,
        texts: Sequence[str] | None = None,
    ) -> Gallery:
        """Return a gallery with ``embeddings`` as references of ``brand``.

        Adding to a brand that exists appends the references (``replace=True`` replaces
        them). A calibrated gallery recomputes its threshold. ``texts`` sets the texts that
        identify the brand when read in a photo (:mod:`logobrand.inference.text`);
        ``None`` keeps the brand's texts (none for a new brand).

        Raises:
            InvalidArgumentError: The name is empty or ``"no-logo"``, or the embeddings are
                not ``(k * views, D)`` finite numbers with ``k >= 1``.
        """
        problem = _name_problem(brand)
        if problem is not None:
            raise InvalidArgumentError(problem)
        new = _check_matrix("embeddings", np.asarray(embeddings, dtype=np.float32), self._dim)
        if new.shape[0] == 0:
            raise InvalidArgumentError(f"no reference embeddings given for {brand!r}")
        if new.shape[0] % self.views:
            raise InvalidArgumentError(
                f"got {new.shape[0]} embeddings for {brand!r}; a {self._kind!r} gallery needs "
                f"{self.views} per image"
            )
        if isinstance(texts, str):
            raise InvalidArgumentError(
                f"texts must be a list of strings, got the string {texts!r}; wrap it in a list"
            )
        brands, counts, blocks = self._blocks()
        twins = [b for b in brands if b != brand and b.casefold() == brand.casefold()]
        if twins:
            raise InvalidArgumentError(
                f"the gallery already has the brand {twins[0]!r}; brand names are compared "
                f"ignoring case: add to {twins[0]!r} or pick another name than {brand!r}"
            )
        all_texts = list(self._texts)
        if brand in brands:
            i = brands.index(brand)
            blocks[i] = new if replace else np.concatenate([blocks[i], new])
        else:
            brands.append(brand)
            counts.append(0)
            blocks.append(new)
            all_texts.append(())
            i = len(brands) - 1
        counts[i] = blocks[i].shape[0] // self.views
        if texts is not None:
            all_texts[i] = tuple(texts)
        return self._replace(
            brands=tuple(brands),
            counts=tuple(counts),
            references=_stack(blocks, self._dim),
            texts=tuple(all_texts),
        )

    def remove(self, brand: str) -> Gallery:
        """Return a gallery without ``brand``.

        Raises:
            InvalidArgumentError: The gallery has no such brand.
        """
        i = self._position(brand)
        brands, counts, blocks = self._blocks()
        texts = list(self._texts)
        del brands[i], counts[i], blocks[i], texts[i]
        return self._replace(
            brands=tuple(brands),
            counts=tuple(counts),
            references=_stack(blocks, self._dim),
            texts=tuple(texts),
        )

    def calibrate(
        self,
        negatives: np.ndarray,
        *,
        target_fpr: float = DEFAULT_TARGET_FPR,
        center: bool = True,
        whiten: bool = True,
    ) -> Gallery:
        """Return a gallery calibrated on held-out photos that show no gallery brand.

        The negatives (no-logo photos and photos of the trained brands, never test photos)
        are kept, so later :meth:`add`/:meth:`remove` recompute the threshold. With
        ``whiten`` and at least :data:`MIN_WHITEN_PHOTOS` photos, half of them (seeded) fit
        the whitening and only the other half is kept and sets the threshold (module
        docstring).

        Args:
            negatives: ``(M * views, D)`` raw embeddings of the held-out photos.
            target_fpr: Largest share of negatives allowed to match a gallery brand.
            center: Subtract the negatives' mean embedding before normalising.
            whiten: Whiten when there are enough photos (whitening centres too, so
                ``center=False`` means neither).

        Raises:
            InvalidArgumentError: Fewer than 20 negatives, or bad shapes or numbers.
        """
        neg = _check_matrix("negatives", np.asarray(negatives, dtype=np.float32), self._dim)
        if neg.shape[0] < 20 * self.views:
            raise InvalidArgumentError(
                f"calibration needs at least 20 negative photos, got {neg.shape[0] // self.views}"
                "; pass held-out photos without the gallery brands (no-logo and trained-brand "
                "photos)"
            )
        middle: np.ndarray | None = None
        projection: np.ndarray | None = None
        photos = neg.shape[0] // self.views
        if center and whiten and photos >= MIN_WHITEN_PHOTOS:
            order = np.random.default_rng(0).permutation(photos)
            rows = neg.reshape(photos, self.views, self._dim)
            fit = rows[order[: photos // 2]].reshape(-1, self._dim)
            neg = rows[np.sort(order[photos // 2 :])].reshape(-1, self._dim)
            middle, projection = fit_whitening(fit)
        elif center:
            middle = neg.mean(axis=0)
        return Gallery(
            self._dim,
            brands=self._brands,
            references=self._references,
            counts=self._counts,
            reduce=self._reduce,
            center=middle,
            projection=projection,
            negatives=neg,
            target_fpr=target_fpr,
            kind=self._kind,
            texts=self._texts,
            model_probe=self._model_probe,
        )._recalibrated()

    @property
    def model_probe(self) -> np.ndarray | None:
        """The ``"embedding"`` output of :func:`probe_image` by the model the gallery was saved
        with (``(D,)`` float32), or ``None``: see :func:`check_model_probe`."""
        return None if self._model_probe is None else self._model_probe.copy()

    def with_model_probe(self, probe: np.ndarray | None) -> Gallery:
        """Return a copy that records ``probe`` (see :attr:`model_probe`)."""
        gallery = copy.copy(self)
        gallery._model_probe = None if probe is None else _check_probe(probe)
        return gallery

    def with_threshold(self, threshold: float) -> Gallery:
        """Return a copy with a fixed ``threshold`` (kept until the brands change)."""
        return self._replace(threshold=float(threshold))

    def _recalibrated(self) -> Gallery:
        if self._negatives is None:
            return self
        if self._brands:
            best = self.similarities(self._negatives).max(axis=1)
            threshold = min(threshold_for_fpr(best, self._target_fpr), 1.0)
        else:
            threshold = 1.0
        gallery = copy.copy(self)
        gallery._threshold = threshold
        return gallery

    def _position(self, brand: str) -> int:
        if brand not in self._brands:
            known = ", ".join(self._brands) or "none"
            raise InvalidArgumentError(
                f"the gallery has no brand {brand!r} (gallery brands: {known})"
            )
        return self._brands.index(brand)

    def _blocks(self) -> tuple[list[str], list[int], list[np.ndarray]]:
        starts = np.cumsum((0, *(c * self.views for c in self._counts)))
        blocks = [self._references[a:b] for a, b in itertools.pairwise(starts)]
        return list(self._brands), list(self._counts), blocks

    # -- persistence -----------------------------------------------------------------------

    def to_json(self, arrays_name: str = GALLERY_ARRAYS) -> dict[str, Any]:
        """The content of ``gallery.json``."""
        return {
            "format_version": GALLERY_FORMAT_VERSION,
            "embedding": {
                "kind": self._kind,
                "output": KIND_OUTPUTS[self._kind],
                "views": self.views,
                "dim": self._dim,
                "centered": (self._center is not None),
                "whitened_dims": self.whitened_dims,
            },
            "reduce": self._reduce,
            "threshold": self._threshold,
            "calibration": {
                "calibrated": self.calibrated,
                "negatives": self.num_negatives,
                "target_fpr": self._target_fpr,
            },
            "brands": [
                {"name": b, "references": c, "texts": list(t)}
                for b, c, t in zip(self._brands, self._counts, self._texts, strict=True)
            ],
            "arrays": arrays_name,
        }

    def arrays_bytes(self) -> bytes:
        """The content of ``gallery.npz`` (numpy arrays only, no pickled objects)."""
        arrays: dict[str, np.ndarray] = {"references": self._references.astype(np.float16)}
        if self._center is not None:
            arrays["center"] = self._center.astype(np.float32)
        if self._projection is not None:
            arrays["projection"] = self._projection.astype(np.float32)
        if self._negatives is not None:
            arrays["negatives"] = self._negatives.astype(np.float16)
        if self._model_probe is not None:
            arrays["model_probe"] = self._model_probe
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``gallery.npz`` then ``gallery.json`` into ``directory``, each atomically.

        Returns:
            The path of ``gallery.json``.
        """
        folder = Path(directory)
        atomic_write_bytes(folder / GALLERY_ARRAYS, self.arrays_bytes())
        return atomic_write_json(folder / GALLERY_JSON, self.to_json())

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        name: str = GALLERY_JSON,
        *,
        dim: int | Callable[[str], int] | None = None,
    ) -> Gallery:
        """Read and validate a gallery written by :meth:`save`.

        Args:
            directory: The model directory.
            name: The ``gallery.json`` file name inside it.
            dim: The model's embedding width, or a function of the gallery's kind that returns
                it (or raises a ModelFormatError when the model cannot embed that kind); a
                gallery of another width is rejected.

        Raises:
            ModelFormatError: A file is missing, corrupt or inconsistent (the message names
                it and says what to do).
        """
        path = Path(directory) / name
        data = _read_json(path)
        arrays_name = data.get("arrays", GALLERY_ARRAYS)

        def bad(message: str) -> ModelFormatError:
            return ModelFormatError(
                f"{path}: {message}; fix or delete the gallery (and its 'gallery' entry in "
                "config.json's files), then add the brands again"
            )

        version = data.get("format_version")
        if version not in (1, 2, 3, GALLERY_FORMAT_VERSION) or isinstance(version, bool):
            raise bad(
                f"unsupported format_version {version!r} (this logobrand reads 1 to "
                f"{GALLERY_FORMAT_VERSION}); upgrade logobrand"
            )
        embedding = data.get("embedding")
        if not isinstance(embedding, dict):
            raise bad("field 'embedding' must be an object")
        kind = embedding.get("kind", PHOTO) if version != 1 else PHOTO
        if kind not in KINDS:
            raise bad(f"field 'embedding.kind' must be one of {KINDS}, got {kind!r}")
        output = KIND_OUTPUTS[kind]
        stored_dim = embedding.get("dim")
        if isinstance(stored_dim, bool) or not isinstance(stored_dim, int) or stored_dim < 1:
            raise bad(f"field 'embedding.dim' must be a positive integer, got {stored_dim!r}")
        if embedding.get("output", output) != output:
            raise bad(f"field 'embedding.output' must be {output!r} for kind {kind!r}")
        if callable(dim):
            dim = dim(kind)
        if dim is not None and stored_dim != dim:
            raise bad(
                f"the gallery holds {stored_dim}-wide embeddings but the model's "
                f"{output!r} output is {dim} wide: it was made with another model"
            )
        brands = data.get("brands")
        if not isinstance(brands, list) or not all(
            isinstance(b, dict)
            and isinstance(b.get("name"), str)
            and isinstance(b.get("references"), int)
            and not isinstance(b.get("references"), bool)
            and isinstance(b.get("texts", []), list)
            and all(isinstance(t, str) for t in b.get("texts", []))
            for b in brands
        ):
            raise bad("field 'brands' must be a list of {name: str, references: int, texts: [str]}")
        numbers: dict[str, float] = {}
        calibration = data.get("calibration", {})
        if not isinstance(calibration, dict):
            raise bad("field 'calibration' must be an object")
        for key, value in (
            ("threshold", data.get("threshold")),
            ("calibration.target_fpr", calibration.get("target_fpr", DEFAULT_TARGET_FPR)),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(f"field {key!r} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise bad(f"field {key!r} must be finite, got {value!r}")
            numbers[key] = float(value)
        if not isinstance(arrays_name, str) or "/" in arrays_name or "\\" in arrays_name:
            raise bad(f"field 'arrays' must be a plain file name, got {arrays_name!r}")
        arrays = _read_arrays(Path(directory) / arrays_name)
        if "references" not in arrays:
            raise bad(f"{arrays_name} lacks the 'references' array")
        refs = arrays["references"]
        negatives = arrays.get("negatives")
        if bool(calibration.get("calibrated", False)) != (negatives is not None):
            raise bad(
                "calibration.calibrated does not match the presence of the 'negatives' array "
                f"in {arrays_name}"
            )
        try:
            gallery = cls(
                stored_dim,
                brands=[b["name"] for b in brands],
                counts=[b["references"] for b in brands],
                references=refs,
                threshold=numbers["threshold"],
                reduce=data.get("reduce", "mean"),
                center=arrays.get("center"),
                projection=arrays.get("projection"),
                negatives=negatives,
                target_fpr=numbers["calibration.target_fpr"],
                kind=kind,
                texts=[b.get("texts", []) for b in brands],
                model_probe=arrays.get("model_probe"),
            )
        except InvalidArgumentError as exc:
            raise bad(str(exc).removeprefix("Gallery: ")) from exc
        if bool(embedding.get("centered", False)) != (gallery._center is not None):
            raise bad(f"embedding.centered does not match the 'center' array in {arrays_name}")
        if embedding.get("whitened_dims", 0) != gallery.whitened_dims:
            raise bad(
                f"embedding.whitened_dims does not match the 'projection' array in {arrays_name}"
            )
        return gallery


# ----------------------------------------------------------------------------------------------
# The decision rule


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


# ----------------------------------------------------------------------------------------------
# Helpers


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


def _check_matrix(what: str, x: np.ndarray, dim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidArgumentError(f"{what} must have shape (N, {dim}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{what} contains NaN or infinite values")
    return arr


def _check_probe(probe: np.ndarray) -> np.ndarray:
    arr = np.asarray(probe, dtype=np.float32)
    if arr.ndim != 1 or not np.any(arr):
        raise InvalidArgumentError(
            f"model_probe must be a non-zero 1-D embedding, got shape {arr.shape}"
        )
    return _check_vector("model_probe", arr, arr.size)


def _check_projection(projection: np.ndarray, dim: int) -> np.ndarray:
    p = np.asarray(projection, dtype=np.float32)
    if p.ndim != 2 or p.shape[0] != dim or not 1 <= p.shape[1] <= dim:
        raise InvalidArgumentError(
            f"projection must be ({dim}, K) with 1 <= K <= {dim}, got shape {p.shape}"
        )
    if not np.all(np.isfinite(p)):
        raise InvalidArgumentError("projection contains NaN or infinite values")
    return p


def _check_vector(what: str, x: np.ndarray, dim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.shape != (dim,):
        raise InvalidArgumentError(f"{what} must have shape ({dim},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{what} contains NaN or infinite values")
    return arr


def _stack(blocks: Sequence[np.ndarray], dim: int) -> np.ndarray:
    if not blocks:
        return np.zeros((0, dim), np.float32)
    return np.concatenate(blocks).astype(np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json_file(
        path,
        if_missing=f"{path} is missing but config.json names it; restore it, or remove the "
        "'gallery' entry from config.json's files",
        if_invalid="restore it or add the brands again",
    )
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key]) for key in npz.files}
    except FileNotFoundError as exc:
        raise ModelFormatError(
            f"{path} is missing; gallery.json refers to it: restore it or add the brands again"
        ) from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFormatError(
            f"{path} is not a readable numpy .npz archive ({type(exc).__name__}: {exc}); "
            "restore it or add the brands again"
        ) from exc
    for key, value in arrays.items():
        if value.dtype.kind not in "fiu":  # strings, booleans, complex numbers, objects
            raise ModelFormatError(
                f"{path}: array {key!r} holds {value.dtype} values, not numbers; restore the "
                "file or add the brands again"
            )
    return arrays


def gallery_file(files: Mapping[str, str]) -> str | None:
    """The ``gallery.json`` name listed in a config's ``files``, or ``None``."""
    return files.get(GALLERY_KEY)


# ----------------------------------------------------------------------------------------------
# Glue for LogoClassifier (kept here so that classifier.py only delegates)


def embedding_dim(session: Any, kind: str = PHOTO) -> int | None:
    """Width of the ONNX output a gallery of ``kind`` reads, or ``None`` when there is none."""
    name = KIND_OUTPUTS[kind]
    for output in session.get_outputs():
        if output.name == name:
            width = output.shape[1] if len(output.shape) > 1 else None
            if isinstance(width, int):
                return width
            inputs = session.get_inputs()[0]
            size = [d if isinstance(d, int) else 1 for d in inputs.shape]
            x = np.zeros(size, dtype=np.float32)
            result = session.run([name], {inputs.name: x})[0]
            return int(result.shape[1]) if result.ndim >= 2 else None
    return None


def require_embedding_dim(classifier: Any, kind: str) -> int:
    """Like :func:`embedding_dim` for a classifier, but raise when it cannot embed ``kind``.

    Raises:
        ModelFormatError: The model lacks the output (or, for ``"box_crops"``, the box head)
            that a gallery of ``kind`` needs.
    """
    directory = classifier.directory
    if kind == BOX_CROPS and classifier.box_head is None:
        raise ModelFormatError(
            f"the gallery of the model in {directory} embeds box crops, which needs the "
            f"model's box head, and it has none; restore {directory}/box_head.onnx (or train "
            "one with logobrand train-boxes), or delete the gallery and add the brands again"
        )
    dim = embedding_dim(classifier.session, kind)
    if dim is None:
        raise ModelFormatError(
            f"the model in {directory} has no {KIND_OUTPUTS[kind]!r} output, so it cannot match "
            "few-shot brands; re-export it with an architecture that provides one "
            "(efficientnet_lite0, via save_model_dir)"
        )
    return dim


def default_kind(classifier: Any) -> str:
    """The embedding kind of a new gallery: ``"box_crops"`` with a box head, else ``"photo"``."""
    outputs = {o.name for o in classifier.session.get_outputs()}
    if classifier.box_head is not None and CROP_FEATURES in outputs:
        return BOX_CROPS
    return PHOTO


PROBE_MIN_SIMILARITY = 0.95
"""Cosine similarity between the stored and the recomputed probe embedding below which a
gallery is refused as made with another model. Measured: 1.0000 for a re-export of the same
weights, 0.988-0.994 for int8 copies (``save_quantized``), 0.45 between two recipe models
trained on different photos (``docs/fewshot.rst``)."""


def probe_image(size: int = 320) -> np.ndarray:
    """A fixed synthetic RGB image (smooth colour waves plus seeded noise) that identifies a
    model by its embedding of it (:func:`model_probe`)."""
    y, x = np.mgrid[0:size, 0:size] / size
    waves = np.stack([np.sin(6 * x + 2 * y), np.cos(5 * y - 3 * x), np.sin(4 * (x + y))], axis=-1)
    noise = np.random.default_rng(0).normal(0.0, 20.0, waves.shape)
    return np.asarray(np.clip(waves * 90 + 128 + noise, 0, 255), dtype=np.uint8)


def model_probe(classifier: Any) -> np.ndarray | None:
    """The model's ``"embedding"`` output for :func:`probe_image` (``None`` without that
    output). It does not depend on the box head, so a new head keeps it."""
    from logobrand.transforms import preprocess

    if embedding_dim(classifier.session, PHOTO) is None:
        return None
    batch = preprocess(probe_image(), classifier.config.preprocessing)[None]
    embedding = forward_embeddings(classifier, batch, PHOTO)[1]
    return np.asarray(embedding[0], dtype=np.float32)


def check_model_probe(classifier: Any, gallery: Gallery, path: Path) -> None:
    """Refuse a gallery saved with another model (see :data:`PROBE_MIN_SIMILARITY`).

    Galleries saved before probes existed, and models without an ``"embedding"`` output, are
    not checked.

    Raises:
        ModelFormatError: The probe embeddings differ (the message names the file).
    """
    stored = gallery.model_probe
    if stored is None:
        return
    now = model_probe(classifier)
    if now is None:
        return
    if now.shape != stored.shape:
        similarity = 0.0
    else:
        similarity = float(now @ stored / (np.linalg.norm(now) * np.linalg.norm(stored) + 1e-12))
    if similarity < PROBE_MIN_SIMILARITY:
        raise ModelFormatError(
            f"{path} was made with another model than the one in {classifier.directory} (their "
            f"embeddings of a fixed probe image agree to {similarity:.3f}, under "
            f"{PROBE_MIN_SIMILARITY}): its references do not fit this model. Copy the gallery's "
            "own model files with it, or delete the gallery (and its 'gallery' entry in "
            "config.json's files) and add the brands again with this model"
        )


def load_model_gallery(classifier: Any) -> Gallery | None:
    """Load the gallery a model directory's ``config.json`` names, checked against the model.

    Raises:
        ModelFormatError: The gallery files are missing, corrupt, or do not fit the model
            (another width, a kind the model cannot embed, or a brand named like a trained
            class).
    """
    name = gallery_file(classifier.config.files)
    if name is None:
        return None
    gallery = Gallery.load(
        classifier.directory, name, dim=lambda kind: require_embedding_dim(classifier, kind)
    )
    trained = {label.casefold(): label for label in classifier.labels}
    for brand in gallery.brands:
        if brand.casefold() in trained:
            raise ModelFormatError(
                f"{Path(classifier.directory) / name}: gallery brand {brand!r} has the name of "
                f"the trained class {trained[brand.casefold()]!r} (was the file edited by "
                f"hand?); give it another name in {name}"
            )
    check_model_probe(classifier, gallery, Path(classifier.directory) / name)
    return gallery


def forward_embeddings(
    classifier: Any, batch: np.ndarray, kind: str, names: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Run the model for a gallery of ``kind``: logits, raw embeddings and other outputs.

    ``"photo"``: one run, the ``"embedding"`` output. ``"box_crops"``: the run also feeds the
    box head; the :data:`CROP_BOXES` best boxes of each photo (fewer when the head finds
    fewer; the best one repeated) are cut from ``batch`` (:func:`crop_boxes`) and run through
    the model again; their ``features_s32`` maps are GeM-pooled (:func:`gem_pool`).

    Args:
        classifier: A :class:`~logobrand.inference.LogoClassifier`.
        batch: ``(N, C, H, W)`` preprocessed float32 images.
        kind: ``"photo"`` or ``"box_crops"``.
        names: Other outputs of the first run to return.

    Returns:
        ``(logits (N, C), embeddings (N * views, D), [outputs named in names])``, float32.
    """
    session = classifier.session
    input_name = session.get_inputs()[0].name
    arr = np.ascontiguousarray(batch, dtype=np.float32)
    if kind == PHOTO:
        wanted = ["logits", *names, EMBEDDING_OUTPUT]
        outs = run_session(session, wanted, {input_name: arr}, classifier.directory)
        return outs[0], outs[-1], outs[1:-1]
    from logobrand.inference.boxes import head_boxes

    head = classifier.box_head
    if head is None:
        require_embedding_dim(classifier, BOX_CROPS)  # raises: says what to do
    head_inputs = [i.name for i in head.get_inputs()]
    wanted = ["logits", *names, *(n for n in head_inputs if n not in names)]
    outs = run_session(session, wanted, {input_name: arr}, classifier.directory)
    by_name = dict(zip(wanted, outs, strict=True))
    scores, ltrb = head.run(None, {n: by_name[n] for n in head_inputs})
    maps = np.concatenate([scores, ltrb], axis=1).astype(np.float32)
    boxes = []
    for m in maps:
        boxed = head_boxes(m, (1, 1), threshold=1e-6, max_boxes=CROP_BOXES, vote_iou=None)
        found = [b[:4] for b in boxed]
        boxes.append(found + found[:1] * (CROP_BOXES - len(found)))
    crops = crop_boxes(arr, boxes)
    crop_maps = run_session(session, [CROP_FEATURES], {input_name: crops}, classifier.directory)[0]
    return outs[0], gem_pool(crop_maps), outs[1 : 1 + len(names)]


def run_with_gallery(
    classifier: Any, batch: np.ndarray, gallery: Gallery | None, names: Sequence[str] = ()
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Decision rows (``(N, C)`` logits, the ``(N, B)`` gallery similarities appended when
    the gallery has brands) and the outputs ``names`` of the same model run."""
    if gallery is None or len(gallery) == 0:
        session = classifier.session
        wanted = ["logits", *names]
        arr = np.ascontiguousarray(batch, dtype=np.float32)
        feeds = {session.get_inputs()[0].name: arr}
        outs = run_session(session, wanted, feeds, classifier.directory)
        return outs[0], outs[1:]
    logits, emb, others = forward_embeddings(classifier, batch, gallery.kind, names)
    rows = [logits, gallery.similarities(emb)]
    if gallery.reads_text:
        rows.append(read_gallery_texts(classifier, batch, logits, gallery))
    return np.concatenate(rows, axis=1), others


def read_gallery_texts(
    classifier: Any, batch: np.ndarray, logits: np.ndarray, gallery: Gallery
) -> np.ndarray:
    """``(N, B)`` text scores (:meth:`~logobrand.inference.text.TextIndex.scores`) of the model
    inputs ``batch``; photos whose trained-class answer is already confident are not read
    (zeros): the decision rule would not use their text."""
    from logobrand.transforms import denormalize

    cfg = classifier.config
    out = np.zeros((len(batch), len(gallery)), np.float32)
    unsure = [
        i
        for i, row in enumerate(logits)
        if make_prediction(
            row, cfg.labels, temperature=cfg.temperature, threshold=cfg.threshold
        ).brand
        is None
    ]
    if unsure:
        pixels = denormalize(np.asarray(batch)[unsure], cfg.preprocessing)
        out[unsure] = gallery.text_index.scores(classifier.text_reader.read(pixels))
    return out


def embed_images(
    classifier: Any, images: Iterable[Any], *, kind: str | None = None, batch_size: int = 32
) -> np.ndarray:
    """Decode, preprocess and embed images with a classifier's model.

    Args:
        classifier: A :class:`~logobrand.inference.LogoClassifier`.
        images: Paths, URLs, bytes, PIL images or RGB arrays.
        kind: ``"photo"`` or ``"box_crops"``; default: the classifier's gallery's kind, or
            :func:`default_kind` when it has none.
        batch_size: Images per ONNX run.

    Returns:
        ``(N * views, D)`` float32 raw embeddings, in input order (``views`` rows per image:
        :data:`CROP_BOXES` for ``"box_crops"``, else 1).

    Raises:
        ModelFormatError: The model cannot embed ``kind``.
        ImageDecodeError: An input cannot be decoded (the message names it; nothing is
            skipped silently).
        InvalidArgumentError: ``batch_size`` < 1 or an unknown ``kind``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if kind is None:
        kind = gallery_of(classifier).kind
    if kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS}, got {kind!r}")
    dim = require_embedding_dim(classifier, kind)
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        chunks.append(forward_embeddings(classifier, np.stack(pending), kind)[1])
        pending.clear()

    for image in images:
        pending.append(classifier.preprocess(image))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if not chunks:
        return np.zeros((0, dim), np.float32)
    return np.concatenate(chunks).astype(np.float32)


def gallery_of(classifier: Any, kind: str | None = None) -> Gallery:
    """The classifier's gallery, or an empty one of ``kind`` (default: :func:`default_kind`).

    Raises:
        InvalidArgumentError: ``kind`` is unknown, or differs from the existing gallery's.
        ModelFormatError: The model cannot embed ``kind``.
    """
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS}, got {kind!r}")
    gallery: Gallery | None = classifier.gallery
    if gallery is not None:
        if kind is not None and kind != gallery.kind:
            raise InvalidArgumentError(
                f"the gallery embeds {gallery.kind!r}, not {kind!r}; remove its brands "
                "(and its calibration: delete gallery.json and gallery.npz) to change the kind"
            )
        return gallery
    kind = kind or default_kind(classifier)
    return Gallery.empty(require_embedding_dim(classifier, kind), kind=kind)


def add_brand(
    classifier: Any,
    name: str,
    images: Iterable[Any],
    *,
    replace: bool = False,
    batch_size: int = 32,
    kind: str | None = None,
    texts: Sequence[str] | None = None,
) -> Gallery:
    """The classifier's gallery with ``name`` added from ``images`` (see ``add_brand``)."""
    check_brand_name(name, classifier.labels)
    check_image_iterable(images)
    gallery = gallery_of(classifier, kind)
    embeddings = embed_images(classifier, images, kind=gallery.kind, batch_size=batch_size)
    if embeddings.shape[0] == 0:
        raise InvalidArgumentError(f"no reference images given for brand {name!r}")
    return gallery.add(name, embeddings, replace=replace, texts=texts)


__all__ = [
    "BOX_CROPS",
    "CROP_BOXES",
    "CROP_FEATURES",
    "CROP_MARGIN",
    "DEFAULT_TARGET_FPR",
    "DEFAULT_THRESHOLD",
    "EMBEDDING_OUTPUT",
    "GALLERY_ARRAYS",
    "GALLERY_FORMAT_VERSION",
    "GALLERY_JSON",
    "GALLERY_KEY",
    "GEM_POWER",
    "KINDS",
    "KIND_OUTPUTS",
    "MIN_WHITEN_PHOTOS",
    "PHOTO",
    "PROBE_MIN_SIMILARITY",
    "WHITEN_DIMS",
    "WHITEN_SHRINK",
    "Gallery",
    "GalleryMatch",
    "add_brand",
    "brand_similarities",
    "check_brand_name",
    "check_model_probe",
    "crop_boxes",
    "decide",
    "default_kind",
    "embed_images",
    "embedding_dim",
    "fit_whitening",
    "forward_embeddings",
    "gallery_file",
    "gallery_of",
    "gem_pool",
    "load_model_gallery",
    "model_probe",
    "normalize_rows",
    "probe_image",
    "read_gallery_texts",
    "require_embedding_dim",
    "run_with_gallery",
    "threshold_for_fpr",
]
