"""Gallery embeddings: how photos become vectors, and the vector maths of matching them.

Two kinds (``Gallery.kind``, see :mod:`logobrand.inference.gallery`): ``"photo"`` reads the
model's ``"embedding"`` output; ``"box_crops"`` cuts the box head's best boxes out of the model
input and GeM-pools the ``features_s32`` map of each crop. Everything here receives the
model runner (:class:`~logobrand.inference.runner.OnnxModel`) or arrays, never the classifier
(a classifier is accepted where a runner is, for its :attr:`runner`).

Example:
    >>> normalize_rows(np.array([[3.0, 4.0]])).tolist()
    [[0.6, 0.8]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError, ModelFormatError, check_int
from logobrand.images import ImageInput
from logobrand.inference.boxes import head_boxes
from logobrand.inference.decode import decode_input
from logobrand.inference.runner import BOX_MAPS, LOGITS, HasRunner, OnnxModel, as_model
from logobrand.transforms import preprocess

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

WHITEN_DIMS = 512
"""Most dimensions a whitened gallery keeps."""

WHITEN_SHRINK = 0.1
"""Added to every kept variance, as a share of their mean, before whitening divides by it."""

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
    dims = check_int("dims", dims, 1)
    if not shrink > 0:
        raise InvalidArgumentError(f"shrink must be > 0, got {shrink!r}")
    center = x.mean(axis=0)
    centred = x - center
    variances, axes = np.linalg.eigh(centred.T @ centred / x.shape[0])
    keep = np.argsort(variances)[::-1][: min(dims, x.shape[0] // 2, x.shape[1])]
    kept = np.maximum(variances[keep], 0.0)
    projection = axes[:, keep] / np.sqrt(kept + shrink * kept.mean() + _EPS)
    return center.astype(np.float32), projection.astype(np.float32)


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


def embedding_dim(session: Any, kind: str = PHOTO) -> int | None:
    """Width of the ONNX output a gallery of ``kind`` reads, or ``None`` when there is none.

    ``session`` is an ``onnxruntime.InferenceSession`` (see :meth:`OnnxModel.output_width
    <logobrand.inference.runner.OnnxModel.output_width>` for the runner's)."""
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


def require_embedding_dim(model: OnnxModel | HasRunner, kind: str) -> int:
    """The embedding width of ``kind`` for the model, or raise when it cannot embed ``kind``.

    Raises:
        ModelFormatError: The model lacks the output (or, for ``"box_crops"``, the box head)
            that a gallery of ``kind`` needs.
    """
    runner = as_model(model)
    directory = runner.directory
    if kind == BOX_CROPS and runner.box_head is None:
        raise ModelFormatError(
            f"the gallery of the model in {directory} embeds box crops, which needs the "
            f"model's box head, and it has none; restore {directory}/box_head.onnx (or train "
            "one with logobrand train-boxes), or delete the gallery and add the brands again"
        )
    dim = runner.output_width(KIND_OUTPUTS[kind])
    if dim is None:
        raise ModelFormatError(
            f"the model in {directory} has no {KIND_OUTPUTS[kind]!r} output, so it cannot match "
            "few-shot brands; re-export it with an architecture that provides one "
            "(efficientnet_lite0, via save_model_dir)"
        )
    return dim


def default_kind(model: OnnxModel | HasRunner) -> str:
    """The embedding kind of a new gallery: ``"box_crops"`` with a box head, else ``"photo"``."""
    runner = as_model(model)
    if runner.box_head is not None and runner.has_output(CROP_FEATURES):
        return BOX_CROPS
    return PHOTO


def probe_image(size: int = 320) -> np.ndarray:
    """A fixed synthetic RGB image (smooth colour waves plus seeded noise) that identifies a
    model by its embedding of it (:func:`model_probe`)."""
    y, x = np.mgrid[0:size, 0:size] / size
    waves = np.stack([np.sin(6 * x + 2 * y), np.cos(5 * y - 3 * x), np.sin(4 * (x + y))], axis=-1)
    noise = np.random.default_rng(0).normal(0.0, 20.0, waves.shape)
    return np.asarray(np.clip(waves * 90 + 128 + noise, 0, 255), dtype=np.uint8)


def model_probe(model: OnnxModel | HasRunner) -> np.ndarray | None:
    """The model's ``"embedding"`` output for :func:`probe_image` (``None`` without that
    output). It does not depend on the box head, so a new head keeps it."""
    runner = as_model(model)
    if not runner.has_output(EMBEDDING_OUTPUT):
        return None
    batch = preprocess(probe_image(), runner.preprocessing)[None]
    embedding = runner.run(batch, (LOGITS, EMBEDDING_OUTPUT))[EMBEDDING_OUTPUT]
    return np.asarray(embedding[0], dtype=np.float32)


def forward_embeddings(
    model: OnnxModel | HasRunner, batch: np.ndarray, kind: str, names: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Run the model for a gallery of ``kind``: logits, raw embeddings and other outputs.

    ``"photo"``: one run, the ``"embedding"`` output. ``"box_crops"``: the run also feeds the
    box head; the :data:`CROP_BOXES` best boxes of each photo (fewer when the head finds
    fewer; the best one repeated) are cut from ``batch`` (:func:`crop_boxes`) and run through
    the model again; their ``features_s32`` maps are GeM-pooled (:func:`gem_pool`).

    Args:
        model: The model runner (or a classifier).
        batch: ``(N, C, H, W)`` preprocessed float32 images.
        kind: ``"photo"`` or ``"box_crops"``.
        names: Other outputs of the first run to return (:meth:`OnnxModel.run
            <logobrand.inference.runner.OnnxModel.run>` names).

    Returns:
        ``(logits (N, C), embeddings (N * views, D), [outputs named in names])``, float32.
    """
    runner = as_model(model)
    if kind == PHOTO:
        out = runner.run(batch, list(dict.fromkeys([LOGITS, *names, EMBEDDING_OUTPUT])))
        return out[LOGITS], out[EMBEDDING_OUTPUT], [out[n] for n in names]
    if runner.box_head is None:
        require_embedding_dim(runner, BOX_CROPS)  # raises: says what to do
    out = runner.run(batch, list(dict.fromkeys([LOGITS, *names, BOX_MAPS])))
    boxes = []
    for m in out[BOX_MAPS]:
        boxed = head_boxes(m, (1, 1), threshold=1e-6, max_boxes=CROP_BOXES, vote_iou=None)
        found = [b[:4] for b in boxed]
        boxes.append(found + found[:1] * (CROP_BOXES - len(found)))
    crops = crop_boxes(runner.check_batch(batch), boxes)
    crop_maps = runner.run(crops, (CROP_FEATURES,))[CROP_FEATURES]
    return out[LOGITS], gem_pool(crop_maps), [out[n] for n in names]


def embed_images(
    model: OnnxModel | HasRunner,
    images: Iterable[ImageInput],
    *,
    kind: str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Decode, preprocess and embed images with a model.

    Args:
        model: The model runner (or a classifier).
        images: Paths, URLs, bytes, PIL images or RGB arrays.
        kind: ``"photo"`` or ``"box_crops"``; default: :func:`default_kind` (the classifier's
            :meth:`~logobrand.inference.LogoClassifier.embed` passes its gallery's kind).
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
    batch_size = check_int("batch_size", batch_size, 1)
    runner = as_model(model)
    if kind is None:
        kind = default_kind(runner)
    if kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS}, got {kind!r}")
    dim = require_embedding_dim(runner, kind)
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        chunks.append(forward_embeddings(runner, np.stack(pending), kind)[1])
        pending.clear()

    for image in images:
        pending.append(decode_input(image, runner.preprocessing))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if not chunks:
        return np.zeros((0, dim), np.float32)
    return np.concatenate(chunks).astype(np.float32)


__all__ = [
    "BOX_CROPS",
    "CROP_BOXES",
    "CROP_FEATURES",
    "CROP_MARGIN",
    "EMBEDDING_OUTPUT",
    "GEM_POWER",
    "KINDS",
    "KIND_OUTPUTS",
    "PHOTO",
    "WHITEN_DIMS",
    "WHITEN_SHRINK",
    "brand_similarities",
    "crop_boxes",
    "default_kind",
    "embed_images",
    "embedding_dim",
    "fit_whitening",
    "forward_embeddings",
    "gem_pool",
    "matmul_one_thread",
    "model_probe",
    "normalize_rows",
    "probe_image",
    "require_embedding_dim",
]
