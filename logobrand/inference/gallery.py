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

Modules
    The embedding maths and the model runs are in :mod:`logobrand.inference.embedding`, the
    :class:`Gallery` store in :mod:`logobrand.inference.gallery_store`, the decision rule in
    :mod:`logobrand.inference.gallery_rule`; this module loads a model's gallery and keeps
    every name importable from here.

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

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.images import ImageInput, check_image_iterable
from logobrand.inference.embedding import (
    BOX_CROPS,
    CROP_BOXES,
    CROP_FEATURES,
    CROP_MARGIN,
    EMBEDDING_OUTPUT,
    GEM_POWER,
    KIND_OUTPUTS,
    KINDS,
    PHOTO,
    WHITEN_DIMS,
    WHITEN_SHRINK,
    brand_similarities,
    crop_boxes,
    default_kind,
    embed_images,
    embedding_dim,
    fit_whitening,
    forward_embeddings,
    gem_pool,
    matmul_one_thread,
    model_probe,
    normalize_rows,
    probe_image,
    require_embedding_dim,
)
from logobrand.inference.gallery_rule import (
    DEFAULT_TARGET_FPR,
    DEFAULT_THRESHOLD,
    check_brand_name,
    decide,
    gallery_scores,
    read_gallery_texts,
    run_with_gallery,
    threshold_for_fpr,
)
from logobrand.inference.gallery_store import (
    GALLERY_ARRAYS,
    GALLERY_FORMAT_VERSION,
    GALLERY_JSON,
    GALLERY_KEY,
    MIN_WHITEN_PHOTOS,
    Gallery,
    GalleryMatch,
    gallery_file,
)
from logobrand.inference.runner import HasRunner, OnnxModel, as_model

PROBE_MIN_SIMILARITY = 0.95
"""Cosine similarity between the stored and the recomputed probe embedding below which a
gallery is refused as made with another model. Measured: 1.0000 for a re-export of the same
weights, 0.988-0.994 for int8 copies (``save_quantized``), 0.45 between two recipe models
trained on different photos (``docs/fewshot.rst``)."""


def check_model_probe(model: OnnxModel | HasRunner, gallery: Gallery, path: Path) -> None:
    """Refuse a gallery saved with another model (see :data:`PROBE_MIN_SIMILARITY`).

    Galleries saved before probes existed, and models without an ``"embedding"`` output, are
    not checked.

    Raises:
        ModelFormatError: The probe embeddings differ (the message names the file).
    """
    stored = gallery.model_probe
    if stored is None:
        return
    runner = as_model(model)
    now = model_probe(runner)
    if now is None:
        return
    if now.shape != stored.shape:
        similarity = 0.0
    else:
        similarity = float(now @ stored / (np.linalg.norm(now) * np.linalg.norm(stored) + 1e-12))
    if similarity < PROBE_MIN_SIMILARITY:
        raise ModelFormatError(
            f"{path} was made with another model than the one in {runner.directory} (their "
            f"embeddings of a fixed probe image agree to {similarity:.3f}, under "
            f"{PROBE_MIN_SIMILARITY}): its references do not fit this model. Copy the gallery's "
            "own model files with it, or delete the gallery (and its 'gallery' entry in "
            "config.json's files) and add the brands again with this model"
        )


def load_model_gallery(model: OnnxModel | HasRunner, files: dict[str, str]) -> Gallery | None:
    """Load the gallery a model directory's ``config.json`` ``files`` name, checked against
    the model.

    Raises:
        ModelFormatError: The gallery files are missing, corrupt, or do not fit the model
            (another width, a kind the model cannot embed, or a brand named like a trained
            class).
    """
    runner = as_model(model)
    name = gallery_file(files)
    if name is None:
        return None
    gallery = Gallery.load(
        runner.directory, name, dim=lambda kind: require_embedding_dim(runner, kind)
    )
    trained = {label.casefold(): label for label in runner.labels}
    for brand in gallery.brands:
        if brand.casefold() in trained:
            raise ModelFormatError(
                f"{Path(runner.directory) / name}: gallery brand {brand!r} has the name of "
                f"the trained class {trained[brand.casefold()]!r} (was the file edited by "
                f"hand?); give it another name in {name}"
            )
    check_model_probe(runner, gallery, Path(runner.directory) / name)
    return gallery


def gallery_of(
    model: OnnxModel | HasRunner, kind: str | None = None, gallery: Gallery | None = None
) -> Gallery:
    """``gallery``, or an empty one of ``kind`` (default: :func:`default_kind`) for the model.

    Raises:
        InvalidArgumentError: ``kind`` is unknown, or differs from the existing gallery's.
        ModelFormatError: The model cannot embed ``kind``.
    """
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(f"kind must be one of {KINDS}, got {kind!r}")
    if gallery is not None:
        if kind is not None and kind != gallery.kind:
            raise InvalidArgumentError(
                f"the gallery embeds {gallery.kind!r}, not {kind!r}; remove its brands "
                "(and its calibration: delete gallery.json and gallery.npz) to change the kind"
            )
        return gallery
    runner = as_model(model)
    kind = kind or default_kind(runner)
    return Gallery.empty(require_embedding_dim(runner, kind), kind=kind)


def add_brand(
    model: OnnxModel | HasRunner,
    name: str,
    images: Iterable[ImageInput],
    *,
    gallery: Gallery | None = None,
    replace: bool = False,
    batch_size: int = 32,
    kind: str | None = None,
    texts: Sequence[str] | None = None,
) -> Gallery:
    """``gallery`` (or a new one) with ``name`` added from ``images`` (see
    :meth:`LogoClassifier.add_brand <logobrand.inference.LogoClassifier.add_brand>`)."""
    runner = as_model(model)
    check_brand_name(name, runner.labels)
    check_image_iterable(images)
    gallery = gallery_of(runner, kind, gallery)
    embeddings = embed_images(runner, images, kind=gallery.kind, batch_size=batch_size)
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
    "gallery_scores",
    "gem_pool",
    "load_model_gallery",
    "matmul_one_thread",
    "model_probe",
    "normalize_rows",
    "probe_image",
    "read_gallery_texts",
    "require_embedding_dim",
    "run_with_gallery",
    "threshold_for_fpr",
]
