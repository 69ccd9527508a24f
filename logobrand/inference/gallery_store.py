"""The gallery store: few-shot brands' reference embeddings, their threshold and their files.

:class:`Gallery` is immutable; it matches embeddings (:mod:`logobrand.inference.embedding`)
against its brands and reads and writes ``gallery.json`` + ``gallery.npz``. The layout, the
matching and the calibration are described in :mod:`logobrand.inference.gallery`.

Example:
    >>> g = Gallery.empty(2).add("acme", np.array([[1.0, 0.0]]))
    >>> g.brands
    ('acme',)
"""

from __future__ import annotations

import copy
import io
import itertools
import math
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logobrand._io import atomic_write_bytes, atomic_write_json
from logobrand.errors import InvalidArgumentError, ModelFormatError, check_int
from logobrand.inference.config import read_json_file
from logobrand.inference.embedding import (
    BOX_CROPS,
    CROP_BOXES,
    KIND_OUTPUTS,
    KINDS,
    PHOTO,
    _check_matrix,
    _check_probe,
    _check_projection,
    _check_vector,
    _stack,
    brand_similarities,
    fit_whitening,
    matmul_one_thread,
    normalize_rows,
)
from logobrand.inference.gallery_rule import (
    DEFAULT_TARGET_FPR,
    DEFAULT_THRESHOLD,
    _name_problem,
    threshold_for_fpr,
)
from logobrand.inference.text import TextIndex, text_key

GALLERY_FORMAT_VERSION = 4
"""The ``format_version`` of ``gallery.json`` (versions 1, whole-photo embeddings only, 2,
without whitening, and 3, without brand texts, are read too)."""

GALLERY_KEY = "gallery"
"""The key of the gallery in ``config.json``'s ``files``."""

GALLERY_JSON = "gallery.json"

GALLERY_ARRAYS = "gallery.npz"

MIN_WHITEN_PHOTOS = 200
"""Calibration photos needed to whiten (half fit the whitening, half set the threshold)."""

REDUCTIONS = ("mean", "max")


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
        dim = check_int("dim", dim, 1)
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


__all__ = [
    "GALLERY_ARRAYS",
    "GALLERY_FORMAT_VERSION",
    "GALLERY_JSON",
    "GALLERY_KEY",
    "MIN_WHITEN_PHOTOS",
    "Gallery",
    "GalleryMatch",
    "gallery_file",
]
