"""Few-shot gallery brands: Gallery maths, the decision rule, files, LogoClassifier and CLI.

The classifier tests export a tiny torch module with an ``"embedding"`` output through
``save_model_dir`` (skipped without torch); everything else needs numpy only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import ImageDecodeError, InvalidArgumentError, ModelFormatError
from logobrand.inference.gallery import (
    BOX_CROPS,
    CROP_BOXES,
    GALLERY_ARRAYS,
    GALLERY_JSON,
    MIN_WHITEN_PHOTOS,
    Gallery,
    brand_similarities,
    crop_boxes,
    decide,
    fit_whitening,
    gem_pool,
    matmul_one_thread,
    normalize_rows,
    threshold_for_fpr,
)

LABELS = ("a", "b", "no-logo")
SIZE = 32


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return normalize_rows(rng.standard_normal((n, d)))


# -- matching maths -----------------------------------------------------------------------------


def test_brand_similarities_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    queries, refs = _unit(rng, 5, 16), _unit(rng, 9, 16)
    counts = [2, 3, 4]
    starts = np.array([0, 2, 5])
    got = brand_similarities(queries, refs, starts)
    expected = np.stack(
        [np.max(queries @ refs[s : s + c].T, axis=1) for s, c in zip(starts, counts, strict=True)],
        axis=1,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(brand_similarities(queries, refs), queries @ refs.T, atol=1e-6)
    assert brand_similarities(queries, refs[:0]).shape == (5, 0)


def test_matmul_one_thread_limits_blas_only_during_the_product() -> None:
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    before = [lib["num_threads"] for lib in controller.info() if lib["user_api"] == "blas"]
    seen: list[list[int]] = []

    class SpyArray(np.ndarray):
        def __matmul__(self, other: object) -> np.ndarray:  # type: ignore[override]
            infos = ThreadpoolController().info()
            seen.append([lib["num_threads"] for lib in infos if lib["user_api"] == "blas"])
            return np.asarray(self) @ other  # type: ignore[no-any-return]

    rng = np.random.default_rng(0)
    a, b = rng.random((6, 40), np.float32), rng.random((40, 7), np.float32)
    got = matmul_one_thread(a.view(SpyArray), b)
    np.testing.assert_allclose(got, a @ b, rtol=1e-6)
    assert seen and all(n == 1 for n in seen[0])  # one thread inside the product
    after = [lib["num_threads"] for lib in controller.info() if lib["user_api"] == "blas"]
    assert after == before  # and the process's setting is back afterwards


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_gallery_similarities_use_prototypes_or_best_reference(reduce: str) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((3, 8)) + 0.1, rng.random((2, 8)) + 0.1
    g = Gallery.empty(8, reduce=reduce).add("x", a).add("y", b)
    q = rng.random((4, 8))
    qn = normalize_rows(q)
    if reduce == "max":
        expected = np.stack([np.max(qn @ normalize_rows(r).T, axis=1) for r in (a, b)], axis=1)
    else:
        protos = normalize_rows(np.stack([normalize_rows(r).sum(0) for r in (a, b)]))
        expected = qn @ protos.T
    np.testing.assert_allclose(g.similarities(q), expected, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=60),
    st.floats(0.0, 0.99),
)
def test_threshold_for_fpr_bounds_the_false_positive_rate(sims: list[float], fpr: float) -> None:
    arr = np.array(sims, dtype=np.float32)
    t = threshold_for_fpr(arr, fpr)
    assert np.mean(arr >= t) <= fpr + 1e-9 or t <= arr.min()
    # The threshold is the smallest such value among the data: one step lower admits more.
    if np.mean(arr >= t) <= fpr and t > arr.min():
        lower = arr[arr < t].max()
        assert np.mean(arr >= lower) > fpr


def test_add_append_replace_remove_and_errors() -> None:
    g = Gallery.empty(4).add("x", np.ones((2, 4)))
    g2 = g.add("x", np.ones((3, 4)))
    assert g2.counts == (5,) and g.counts == (2,)  # immutable
    assert g2.add("x", np.ones((1, 4)), replace=True).counts == (1,)
    g3 = g2.add("y", np.eye(4)[:2])
    assert g3.brands == ("x", "y") and g3.references("y").shape == (2, 4)
    assert g3.remove("x").brands == ("y",)
    with pytest.raises(InvalidArgumentError, match="no brand 'z'"):
        g3.remove("z")
    with pytest.raises(InvalidArgumentError, match="reserved"):
        g.add("no-logo", np.ones((1, 4)))
    with pytest.raises(InvalidArgumentError, match="reserved"):
        g.add("No-Logo", np.ones((1, 4)))
    with pytest.raises(InvalidArgumentError, match="compared ignoring case"):
        g3.add("Y", np.ones((1, 4)))  # one brand, not two that differ in case
    with pytest.raises(InvalidArgumentError, match="shape"):
        g.add("w", np.ones((1, 5)))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        g.add("w", np.full((1, 4), np.nan))


def test_calibration_threshold_follows_the_gallery() -> None:
    rng = np.random.default_rng(2)
    negatives = rng.random((200, 16))
    g = Gallery.empty(16).calibrate(negatives, target_fpr=0.05)
    assert g.calibrated and g.threshold == 1.0  # nothing to match yet
    g = g.add("x", rng.random((3, 16)))
    best = g.similarities(negatives).max(axis=1)
    assert np.mean(best >= g.threshold) <= 0.05
    bigger = g.add("y", rng.random((3, 16))).add("z", rng.random((3, 16)))
    assert bigger.threshold >= g.threshold - 1e-6  # more brands, more chances of a false match
    with pytest.raises(InvalidArgumentError, match="at least 20"):
        Gallery.empty(16).calibrate(negatives[:5])


# -- decision rule ------------------------------------------------------------------------------


def test_decide_open_set_rule() -> None:
    g = Gallery(2, brands=["acme"], references=np.array([[1.0, 0.0]]), counts=[1], threshold=0.7)
    confident = np.array([5.0, 0.0, 0.0])  # classifier: "a" with p ~ 0.99
    unsure = np.array([0.0, 0.0, 0.5])  # best brand p ~ 0.28: the classifier abstains
    kw: dict[str, Any] = {"threshold": 0.9, "source": "x"}
    # trained class wins when the classifier is confident, even with a gallery match
    assert decide(confident, np.array([0.95]), LABELS, g, **kw).brand == "a"
    # the classifier abstains: the gallery decides
    p = decide(unsure, np.array([0.8]), LABELS, g, **kw)
    assert p.brand == "acme" and p.score == pytest.approx(0.8)
    assert ("acme", pytest.approx(0.8)) in p.top_k
    # neither: no logo
    assert decide(unsure, np.array([0.5]), LABELS, g, **kw).brand is None
    # no gallery: the plain classifier rule
    assert decide(unsure, None, LABELS, None, **kw).brand is None


# -- files --------------------------------------------------------------------------------------


def _saved(tmp_path: Path) -> tuple[Gallery, Path]:
    rng = np.random.default_rng(3)
    g = Gallery.empty(8).add("x", rng.random((2, 8))).add("y", rng.random((1, 8)))
    g = g.calibrate(rng.random((30, 8)), target_fpr=0.1)
    g.save(tmp_path)
    return g, tmp_path


def test_save_load_round_trip(tmp_path: Path) -> None:
    g, folder = _saved(tmp_path)
    loaded = Gallery.load(folder, dim=8)
    assert loaded.brands == g.brands and loaded.counts == g.counts
    assert loaded.threshold == pytest.approx(g.threshold)
    assert loaded.calibrated and loaded.num_negatives == 30
    q = np.random.default_rng(4).random((3, 8))
    np.testing.assert_allclose(loaded.similarities(q), g.similarities(q), atol=2e-3)  # float16
    data = json.loads((folder / GALLERY_JSON).read_text())
    assert data["brands"] == [
        {"name": "x", "references": 2, "texts": []},
        {"name": "y", "references": 1, "texts": []},
    ]
    with np.load(folder / GALLERY_ARRAYS, allow_pickle=False) as npz:
        assert set(npz.files) == {"references", "center", "negatives"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / GALLERY_ARRAYS).write_bytes(b"not a zip"), "not a readable numpy"),
        (lambda f: (f / GALLERY_ARRAYS).unlink(), "is missing"),
        (lambda f: (f / GALLERY_JSON).write_text("{"), "not valid JSON"),
        (
            lambda f: np.savez(f / GALLERY_ARRAYS, references=np.array([{"a": 1}], dtype=object)),
            "not a readable numpy",  # pickled object arrays are refused
        ),
        (
            lambda f: np.savez(
                f / GALLERY_ARRAYS,
                references=np.zeros((3, 8), np.float16),
                center=np.zeros(8, np.float32),
            ),
            "calibrated",
        ),
        (
            lambda f: np.savez(
                f / GALLERY_ARRAYS,
                references=np.zeros((2, 8), np.float16),
                center=np.zeros(8, np.float32),
                negatives=np.zeros((30, 8), np.float16),
            ),
            "counts add up",
        ),
        (
            lambda f: np.savez(f / GALLERY_ARRAYS, references=np.full((3, 8), "x")),
            "holds <U1 values, not numbers",
        ),
        (
            lambda f: np.savez(f / GALLERY_ARRAYS, references=np.zeros((3, 8), np.complex64)),
            "not numbers",
        ),
    ],
)
def test_corrupt_gallery_files_raise_model_format_error(
    tmp_path: Path, damage: Any, message: str
) -> None:
    _, folder = _saved(tmp_path)
    damage(folder)
    with pytest.raises(ModelFormatError, match=message):
        Gallery.load(folder, dim=8)


def test_gallery_of_another_width_is_rejected(tmp_path: Path) -> None:
    _, folder = _saved(tmp_path)
    with pytest.raises(ModelFormatError, match="8-wide embeddings but the model"):
        Gallery.load(folder, dim=16)


# -- whitening ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.floats(0.01, 1.0))
def test_whitening_decorrelates_and_bounds_the_variances(
    seed: int, dims: int, shrink: float
) -> None:
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.1, 10.0, 12)
    x = rng.standard_normal((200, 12)) * scales + rng.normal(size=12)
    center, projection = fit_whitening(x, dims=dims, shrink=shrink)
    assert projection.shape == (12, dims)
    np.testing.assert_allclose(center, x.mean(axis=0), rtol=1e-5, atol=1e-5)
    z = (x - center) @ projection
    cov = z.T @ z / len(z)
    off_diagonal = cov - np.diag(np.diag(cov))
    assert np.abs(off_diagonal).max() < 1e-3  # the kept axes are uncorrelated
    # each variance becomes v / (v + shrink * mean v): below 1, larger for stronger axes
    assert np.all(np.diag(cov) < 1.0) and np.all(np.diag(cov) > 0.0)
    assert np.all(np.diff(np.diag(cov)) <= 1e-4)


def test_whitening_keeps_at_most_half_the_photos_as_dimensions() -> None:
    x = np.random.default_rng(0).standard_normal((10, 8))
    assert fit_whitening(x, dims=512)[1].shape == (8, 5)
    with pytest.raises(InvalidArgumentError, match="N >= 2"):
        fit_whitening(x[:1])
    with pytest.raises(InvalidArgumentError, match="shrink"):
        fit_whitening(x, shrink=0.0)


def _nuisance_photos(rng: np.random.Generator, n: int, brand: np.ndarray | None) -> np.ndarray:
    """16-D embeddings: a strong scene component shared by every photo on axes 0-3, weak noise
    elsewhere, and the brand's direction (a weak one) when given."""
    x = rng.standard_normal((n, 16)) * 0.3
    x[:, :4] += rng.standard_normal((n, 4)) * 5.0 + 3.0
    return x if brand is None else x + brand


def test_whitened_calibration_matches_weak_logo_signals_and_holds_out_its_threshold_half() -> None:
    rng = np.random.default_rng(11)
    brands = {"acme": np.eye(16)[8] * 2.0, "zeta": np.eye(16)[9] * 2.0}
    gallery = Gallery.empty(16)
    for name, direction in brands.items():
        gallery = gallery.add(name, _nuisance_photos(rng, 5, direction))
    negatives = _nuisance_photos(rng, 400, None)
    queries = {name: _nuisance_photos(rng, 60, d) for name, d in brands.items()}

    def accuracy(g: Gallery) -> float:
        right = [
            np.mean(np.array(g.brands)[g.similarities(q).argmax(axis=1)] == name)
            for name, q in queries.items()
        ]
        return float(np.mean(right))

    plain = gallery.calibrate(negatives, whiten=False)
    white = gallery.calibrate(negatives)
    assert plain.whitened_dims == 0 and plain.num_negatives == 400
    assert white.whitened_dims == 16 and white.num_negatives == 200  # the other half fitted it
    assert accuracy(white) >= 0.95 and accuracy(plain) <= 0.7  # centring alone: near chance
    kept = white._negatives  # the threshold half; the whitening was fitted on the other half
    assert kept is not None
    in_kept = np.array(
        [np.any(np.all(np.isclose(kept, row, atol=1e-5), axis=1)) for row in negatives]
    )
    assert in_kept.sum() == 200
    np.testing.assert_allclose(white._center, negatives[~in_kept].mean(axis=0), atol=1e-4)
    best = white.similarities(kept).max(axis=1)
    assert np.mean(best >= white.threshold) <= white.target_fpr
    assert "whitened to 16 dimensions" in repr(white)
    raw = gallery.calibrate(negatives, center=False)  # no centring: no whitening either
    assert raw.whitened_dims == 0 and raw.num_negatives == 400
    few = gallery.calibrate(negatives[: MIN_WHITEN_PHOTOS - 1])
    assert few.whitened_dims == 0 and few.num_negatives == MIN_WHITEN_PHOTOS - 1


def test_whitened_gallery_round_trip_and_damage(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    g = Gallery.empty(8).add("x", rng.random((2, 8))).calibrate(rng.random((MIN_WHITEN_PHOTOS, 8)))
    assert g.whitened_dims == 8
    g.save(tmp_path)
    data = json.loads((tmp_path / GALLERY_JSON).read_text())
    assert data["format_version"] == 4 and data["embedding"]["whitened_dims"] == 8
    loaded = Gallery.load(tmp_path, dim=8)
    assert loaded.whitened_dims == 8 and loaded.num_negatives == MIN_WHITEN_PHOTOS // 2
    assert loaded.threshold == pytest.approx(g.threshold)
    q = rng.random((4, 8))
    np.testing.assert_allclose(loaded.similarities(q), g.similarities(q), atol=5e-3)
    data["embedding"]["whitened_dims"] = 0
    (tmp_path / GALLERY_JSON).write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match="whitened_dims"):
        Gallery.load(tmp_path, dim=8)
    with pytest.raises(InvalidArgumentError, match="projection must be"):
        Gallery(8, center=np.zeros(8), projection=np.zeros((4, 2)))
    with pytest.raises(InvalidArgumentError, match="needs a center"):
        Gallery(8, projection=np.eye(8))


# -- box-crop galleries: several embeddings per photo -------------------------------------------


def test_box_crop_gallery_takes_the_best_view_and_counts_images() -> None:
    rng = np.random.default_rng(7)
    refs = _unit(rng, 2 * CROP_BOXES, 6)  # 2 reference images, 3 crops each
    g = Gallery.empty(6, kind=BOX_CROPS).add("acme", refs)
    assert g.views == CROP_BOXES and g.counts == (2,) and g.references("acme").shape == (6, 6)
    photo = _unit(rng, CROP_BOXES, 6)
    photo[1] = g._build_index()[0]  # one crop is the prototype itself
    sims = g.similarities(np.concatenate([photo, _unit(rng, CROP_BOXES, 6)]))
    assert sims.shape == (2, 1)
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-5) and sims[1, 0] < 1.0
    with pytest.raises(InvalidArgumentError, match="3 per image"):
        g.add("other", refs[:2])
    with pytest.raises(InvalidArgumentError, match="3 per photo"):
        g.similarities(refs[:4])
    with pytest.raises(InvalidArgumentError, match="at least 20 negative photos"):
        g.calibrate(rng.random((19 * CROP_BOXES, 6)))
    calibrated = g.calibrate(rng.random((20 * CROP_BOXES, 6)), target_fpr=0.1)
    assert calibrated.num_negatives == 20 and calibrated.kind == BOX_CROPS
    best = calibrated.similarities(calibrated._negatives).max(axis=1)  # type: ignore[arg-type]
    assert np.mean(best >= calibrated.threshold) <= 0.1


def test_box_crop_gallery_round_trip_and_version_1_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    g = Gallery.empty(4, kind=BOX_CROPS).add("x", rng.random((2 * CROP_BOXES, 4)))
    g.save(tmp_path)
    data = json.loads((tmp_path / GALLERY_JSON).read_text())
    assert data["format_version"] == 4
    assert data["embedding"]["kind"] == BOX_CROPS and data["embedding"]["views"] == CROP_BOXES
    assert data["brands"] == [{"name": "x", "references": 2, "texts": []}]
    loaded = Gallery.load(tmp_path)
    assert loaded.kind == BOX_CROPS and loaded.counts == (2,)
    q = rng.random((2 * CROP_BOXES, 4))
    np.testing.assert_allclose(loaded.similarities(q), g.similarities(q), atol=2e-3)
    # a file written before kinds existed (format 1) is a whole-photo gallery
    photo = Gallery.empty(4).add("y", rng.random((3, 4)))
    photo.save(tmp_path)
    data = json.loads((tmp_path / GALLERY_JSON).read_text())
    data["format_version"] = 1
    del data["embedding"]["kind"], data["embedding"]["views"]
    (tmp_path / GALLERY_JSON).write_text(json.dumps(data))
    old = Gallery.load(tmp_path)
    assert old.kind == "photo" and old.counts == (3,)
    data["format_version"] = 5
    (tmp_path / GALLERY_JSON).write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match="upgrade logobrand"):
        Gallery.load(tmp_path)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.0, 0.8),
    st.floats(0.0, 0.8),
    st.floats(0.1, 0.2),
    st.floats(0.1, 0.2),
    st.sampled_from([0.0, 0.25]),
)
def test_crop_boxes_cuts_out_the_box(x: float, y: float, w: float, h: float, margin: float) -> None:
    size = 40
    image = np.zeros((1, 3, size, size), np.float32)
    inner = (x + w * margin + 0.05, y + h * margin + 0.05)  # well inside the enlarged crop
    image[0, 1] = np.arange(size, dtype=np.float32)[None, :]  # channel 1: the column index
    image[0, 2] = np.arange(size, dtype=np.float32)[:, None]  # channel 2: the row index
    crops = crop_boxes(image, [[(x, y, x + w, y + h), (0.0, 0.0, 1.0, 1.0)]], margin=margin)
    assert crops.shape == (2, 3, size, size) and crops.dtype == np.float32
    np.testing.assert_allclose(crops[1], image[0], atol=1e-4)  # the whole image: unchanged
    cols, rows = crops[0, 1], crops[0, 2]
    left = max(0.0, (x - w * margin) * size) - 1
    right = min(float(size), (x + w + w * margin) * size) + 1
    assert left <= cols.min() and cols.max() <= right  # only columns of the (enlarged) box
    top = max(0.0, (y - h * margin) * size) - 1
    assert top <= rows.min() and rows.max() <= min(float(size), (y + h + h * margin) * size) + 1
    assert inner[0] * size - 1 <= cols.max()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=4, max_size=4))
def test_gem_pool_lies_between_the_mean_and_the_max(values: list[float]) -> None:
    x = np.array(values, np.float32).reshape(1, 1, 2, 2)
    mean, top = float(np.maximum(x, 1e-6).mean()), float(x.max())
    assert gem_pool(x, 1.0)[0, 0] == pytest.approx(mean, rel=1e-4, abs=1e-5)
    pooled = float(gem_pool(x, 3.0)[0, 0])
    assert mean - 1e-4 <= pooled <= max(top, 1e-6) + 1e-4
    with pytest.raises(InvalidArgumentError, match="N, D, h, w"):
        gem_pool(x[0])


# -- LogoClassifier and CLI with a tiny exported model ------------------------------------------


def _solid(colours: list[tuple[int, int, int]]) -> list[np.ndarray]:
    return [np.full((SIZE, SIZE, 3), c, np.uint8) for c in colours]


def _images(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(n)]


def _png_folder(folder: Path, images: list[np.ndarray]) -> Path:
    """Write RGB ``images`` as ``000.png``, ``001.png``, ... into a new ``folder``."""
    import cv2

    folder.mkdir()
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image[..., ::-1])
    return folder


@pytest.mark.torch
def test_add_remove_and_persist_round_trip(gallery_model_dir: Path, tmp_path: Path) -> None:
    from logobrand.inference import LogoClassifier

    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    assert clf.gallery is None
    refs = _solid([(250, 20, 20), (230, 40, 30), (240, 10, 40)])
    clf.calibrate_gallery(_images(30, seed=5))
    clf.add_brand("acme", refs)
    clf.add_brand("zeta", _solid([(20, 20, 250), (30, 40, 230)]))
    for name in ("a", "A"):
        with pytest.raises(InvalidArgumentError, match="trained classes"):
            clf.add_brand(name, refs)
    assert clf.gallery is not None and clf.gallery.brands == ("acme", "zeta")
    sims = clf.gallery.similarities(clf.embed(refs))
    assert (sims.argmax(axis=1) == 0).all()
    assert clf.predict(refs[0]).brand == "acme"
    out = clf.save_pretrained(tmp_path / "saved")
    assert json.loads((out / "config.json").read_text())["files"]["gallery"] == GALLERY_JSON
    again = LogoClassifier.from_pretrained(out, threads=1)
    assert again.gallery is not None and again.gallery.counts == (3, 2)
    assert again.gallery.calibrated
    batch = list(again.predict_batch(refs, batch_size=2))
    assert [p.brand for p in batch] == [again.predict(r).brand for r in refs]  # type: ignore[union-attr]
    again.remove_brand("acme", save=True)
    assert LogoClassifier.from_pretrained(out).gallery.brands == ("zeta",)  # type: ignore[union-attr]
    again.remove_brand("zeta", save=True)  # empty, but the calibration is kept
    empty = LogoClassifier.from_pretrained(out).gallery
    assert empty is not None and len(empty) == 0 and empty.calibrated
    assert again.predict(refs[0]).brand is None


@pytest.mark.torch
def test_a_gallery_copied_to_another_model_is_refused(
    gallery_model_dir: Path, other_embedding_model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from logobrand.inference import LogoClassifier
    from logobrand.inference.gallery import GALLERY_ARRAYS, model_probe, probe_image

    assert np.array_equal(probe_image(40), probe_image(40))  # fixed
    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    clf.add_brand("acme", _solid([(250, 20, 20), (230, 40, 30)]))
    saved = clf.save_pretrained(tmp_path / "saved")
    stored = np.load(saved / GALLERY_ARRAYS, allow_pickle=False)["model_probe"]
    assert np.allclose(stored, model_probe(clf))
    again = LogoClassifier.from_pretrained(saved, threads=1)  # same model: loads
    assert again.gallery is not None and again.gallery.model_probe is not None
    assert np.allclose(again.gallery.model_probe, stored)
    other = tmp_path / "other"
    shutil.copytree(other_embedding_model_dir, other)
    for name in (GALLERY_JSON, GALLERY_ARRAYS):  # copied by hand into a same-width model
        shutil.copyfile(saved / name, other / name)
    config = json.loads((other / "config.json").read_text())
    config["files"]["gallery"] = GALLERY_JSON
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="made with another model") as caught:
        LogoClassifier.from_pretrained(other, threads=1)
    assert str(other / GALLERY_JSON) in str(caught.value)


def test_model_probe_must_be_a_finite_nonzero_vector() -> None:
    g = Gallery.empty(4)
    assert g.with_model_probe(np.ones(3)).model_probe is not None
    assert g.with_model_probe(None).model_probe is None
    for bad in (np.zeros(3), np.array([1.0, np.nan]), np.ones((2, 2)), np.ones(0)):
        with pytest.raises(InvalidArgumentError, match="model_probe"):
            g.with_model_probe(bad)


@pytest.mark.torch
def test_calibrated_gallery_reports_its_brand_and_rejects_others(gallery_model_dir: Path) -> None:
    from logobrand.inference import LogoClassifier

    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    clf.calibrate_gallery(_images(40, seed=5), target_fpr=0.05)
    solid = [np.full((SIZE, SIZE, 3), (250, 10, 10), np.uint8) for _ in range(2)]
    clf.add_brand("red", solid)
    assert clf.predict(solid[0]).brand == "red"
    others = [p.brand for p in clf.predict_batch(_images(40, seed=5))]
    assert sum(b == "red" for b in others) <= 2  # at most target_fpr of the negatives


@pytest.mark.torch
def test_gallery_files_validated_on_load(gallery_model_dir: Path) -> None:
    from logobrand.inference import LogoClassifier

    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    clf.add_brand("acme", _images(2, seed=1), save=True)
    (gallery_model_dir / GALLERY_ARRAYS).write_bytes(b"garbage")
    with pytest.raises(ModelFormatError, match=r"gallery\.npz"):
        LogoClassifier.from_pretrained(gallery_model_dir)
    Gallery.empty(7).add("acme", np.ones((1, 7))).save(gallery_model_dir)
    with pytest.raises(ModelFormatError, match="7-wide"):
        LogoClassifier.from_pretrained(gallery_model_dir)
    # a brand renamed by hand to a trained class would answer as that class, twice in top_k
    clf.add_brand("acme", _images(2, seed=1), save=True)
    doc = json.loads((gallery_model_dir / "gallery.json").read_text())
    doc["brands"][0]["name"] = "A"
    (gallery_model_dir / "gallery.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match="has the name of the trained class 'a'"):
        LogoClassifier.from_pretrained(gallery_model_dir)


@pytest.mark.torch
def test_cli_brands_add_list_remove(
    gallery_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from logobrand.cli import main

    photos = _png_folder(tmp_path / "photos", _images(3, seed=7))
    out = tmp_path / "out"
    assert (
        main(
            [
                "brands",
                "add",
                "acme",
                str(photos),
                "--model",
                str(gallery_model_dir),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert main(["brands", "add", "zeta", str(photos / "000.png"), "--model", str(out)]) == 0
    capsys.readouterr()
    crops = ["brands", "add", "x", str(photos), "--model", str(gallery_model_dir), "--embedding"]
    assert main([*crops, "box_crops"]) == 2  # the tiny model has no box head
    assert "needs the model's box head" in capsys.readouterr().err
    assert main(["brands", "list", "--model", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["gallery"] == [
        {"name": "acme", "references": 3, "texts": []},
        {"name": "zeta", "references": 1, "texts": []},
    ]
    assert listed["embedding"] == "photo"  # the tiny model has no box head
    assert main(["brands", "remove", "acme", "--model", str(out)]) == 0
    assert main(["brands", "list", "--model", str(out)]) == 0
    text = capsys.readouterr().out
    assert "zeta" in text and "acme" not in text.split("gallery brands")[-1]
    assert main(["brands", "remove", "nope", "--model", str(out)]) == 2
    assert "no brand 'nope'" in capsys.readouterr().err
    assert not (gallery_model_dir / GALLERY_JSON).exists()  # --out left the source untouched


@pytest.mark.torch
def test_cli_brands_calibrate_whitens_with_enough_photos(
    gallery_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from logobrand.cli import main
    from logobrand.inference import LogoClassifier

    negatives = _png_folder(tmp_path / "negatives", _images(MIN_WHITEN_PHOTOS, seed=9))
    calibrate = ["brands", "calibrate", str(negatives), "--model", str(gallery_model_dir)]
    assert main([*calibrate, "--no-whiten"]) == 0
    assert "whitened" not in capsys.readouterr().out
    few = ["brands", "calibrate", *sorted(str(p) for p in negatives.iterdir())[:30]]
    assert main([*few, "--model", str(gallery_model_dir), "--out", str(tmp_path / "few")]) == 0
    assert f"not whitened: that needs {MIN_WHITEN_PHOTOS} photos" in capsys.readouterr().out
    gallery = LogoClassifier.from_pretrained(gallery_model_dir).gallery
    assert gallery is not None and gallery.num_negatives == MIN_WHITEN_PHOTOS
    assert gallery.whitened_dims == 0
    assert main(calibrate) == 0
    half = MIN_WHITEN_PHOTOS // 2
    assert f"fitted on {half} of the photos, threshold set on the other {half}" in (
        capsys.readouterr().out
    )
    gallery = LogoClassifier.from_pretrained(gallery_model_dir).gallery
    assert gallery is not None and gallery.num_negatives == half and gallery.whitened_dims > 0


@pytest.mark.torch
def test_model_without_embedding_output_cannot_add_brands(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from logobrand.inference import LogoClassifier, ModelConfig, save_model_dir
    from logobrand.models.registry import Preprocessing

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, len(LABELS)),
    ).eval()
    config = ModelConfig(
        architecture="plain", labels=LABELS, preprocessing=Preprocessing(input_size=SIZE)
    )
    clf = LogoClassifier.from_pretrained(save_model_dir(model, tmp_path / "plain", config))
    with pytest.raises(ModelFormatError, match="no 'embedding' output"):
        clf.add_brand("acme", _images(1, seed=0))


# -- artwork ------------------------------------------------------------------------------------


def test_compose_references_is_deterministic() -> None:
    from logobrand.artwork import compose_references

    logo = np.zeros((40, 80, 4), np.uint8)
    logo[10:30, 10:70] = (200, 30, 30, 255)
    backgrounds = _images(2, seed=9)
    first = compose_references([logo], backgrounds, n=4, size=64, seed=3)
    second = compose_references([logo], backgrounds, n=4, size=64, seed=3)
    assert len(first) == 4 and all(im.shape == (64, 64, 3) and im.dtype == np.uint8 for im in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    with pytest.raises(InvalidArgumentError, match="RGBA"):
        compose_references([logo[..., :3]])
    # tiny, grey and RGBA backgrounds work; paths and bad counts are typed errors
    odd = [np.zeros((1, 1, 3), np.uint8), np.zeros((9, 9), np.uint8), np.zeros((9, 9, 4), np.uint8)]
    assert len(compose_references([logo], odd, n=6, size=16, photo_share=1.0)) == 6
    bad: list[dict[str, Any]] = [
        {"backgrounds": ["photo.jpg"]},
        {"n": 2.5},
        {"seed": -1},
        {"size": 10**6},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidArgumentError):
            compose_references([logo], **kwargs)
    with pytest.raises(InvalidArgumentError, match="RGBA"):
        compose_references([np.zeros((0, 0, 4), np.uint8)])


def test_find_simple_icon_reads_damaged_indexes_safely(tmp_path: Path) -> None:
    from logobrand.artwork import find_simple_icon

    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "acme.svg").write_text("<svg/>")
    index = tmp_path / "simple-icons.json"
    for text in ("{", '"icons"', "\udcff"):
        index.write_text(text, encoding="utf-8", errors="surrogateescape")
        with pytest.raises(InvalidArgumentError, match=r"simple-icons\.json"):
            find_simple_icon(tmp_path, "acme")
    entries = [
        7,
        {"title": "no slug"},
        {"slug": "../acme", "title": "Evil"},
        {"slug": "acme", "title": "Acme", "hex": "E60000", "aliases": {"aka": "abc"}},
    ]
    index.write_text(json.dumps(entries))
    assert find_simple_icon(tmp_path, "evil") is None  # a slug outside icons/
    assert find_simple_icon(tmp_path, "b") is None  # a string alias is not a list of names
    icon = find_simple_icon(tmp_path, "ACME")
    assert icon is not None and icon.color == (230, 0, 0)


def test_render_svg_when_cairosvg_is_installed() -> None:
    pytest.importorskip("cairosvg")
    from logobrand.artwork import render_references, render_svg

    svg = (
        b'<svg viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg">'
        b'<path d="M2 2h20v20H2z"/></svg>'
    )
    rgba = render_svg(svg, 48, (255, 0, 0))
    assert rgba.shape == (48, 48, 4) and rgba[24, 24].tolist() == [255, 0, 0, 255]
    assert len(render_references(svg, (255, 0, 0), n=3, size=64)) == 3
    opaque = (
        b'<svg viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg">'
        b'<path d="M0 0h24v24H0z"/></svg>'
    )
    full = render_svg(opaque, 24, (0, 0, 255))  # cairo writes RGB without alpha for these
    assert full.shape == (24, 24, 4) and full[12, 12].tolist() == [0, 0, 255, 255]
    # a root that sets its own fill, or a comment holding "<svg", used to break the colouring
    for svg_text in (
        '<svg viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg" fill="currentColor">'
        '<path d="M2 2h20v20H2z"/></svg>',
        '<!-- <svg --><svg viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg">'
        '<path d="M2 2h20v20H2z"/></svg>',
    ):
        assert render_svg(svg_text.encode(), 48, (255, 0, 0))[24, 24].tolist() == [255, 0, 0, 255]
    head = b'xmlns="http://www.w3.org/2000/svg"'
    tall = b'<svg viewBox="0 0 10 40" ' + head + b'><rect width="10" height="40"/></svg>'
    assert render_svg(tall, 48, (0, 0, 0)).shape[:2] == (48, 12)  # the longer side is size
    nothing = b'<svg viewBox="0 0 24 24" ' + head + b' fill="none"><path d="M2 2h2v2H2z"/></svg>'
    with pytest.raises(ImageDecodeError, match="draws nothing visible"):
        render_svg(nothing, 48, (0, 0, 0))
    for size, colour in ((0, (0, 0, 0)), (48, (300, 0, 0)), (48, "red")):
        with pytest.raises(InvalidArgumentError):
            render_svg(svg, size, colour)  # type: ignore[arg-type]


def test_cli_default_target_fpr_matches_the_library() -> None:
    from logobrand.cli.brands import DEFAULT_TARGET_FPR as CLI_DEFAULT
    from logobrand.inference.gallery import DEFAULT_TARGET_FPR

    assert CLI_DEFAULT == DEFAULT_TARGET_FPR
    from logobrand.cli.brands import KINDS as CLI_KINDS
    from logobrand.inference.gallery import KINDS

    assert set(CLI_KINDS) == set(KINDS)
    from logobrand.cli.brands import MIN_WHITEN_PHOTOS as CLI_MIN_WHITEN
    from logobrand.inference.gallery import MIN_WHITEN_PHOTOS

    assert CLI_MIN_WHITEN == MIN_WHITEN_PHOTOS


@pytest.mark.torch
def test_cli_brands_add_from_artwork(
    gallery_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cairosvg")
    from logobrand.cli import main
    from logobrand.inference import LogoClassifier

    svg = tmp_path / "logo.svg"
    svg.write_text(
        '<svg viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg"><path d="M2 2h20v8H2z"/></svg>'
    )
    args = ["brands", "add", "acme", "--artwork", str(svg), "--color", "E60000"]
    assert main([*args, "--renders", "4", "--model", str(gallery_model_dir)]) == 0
    gallery = LogoClassifier.from_pretrained(gallery_model_dir).gallery
    assert gallery is not None and gallery.counts == (4,)
    # --backgrounds with --photo-share 0 are said to be unused
    from PIL import Image

    background = tmp_path / "bg.png"
    Image.fromarray(_images(1, seed=4)[0]).save(background)
    more = ["--renders", "2", "--replace", "--backgrounds", str(background)]
    assert main([*args, *more, "--model", str(gallery_model_dir)]) == 0
    assert "not used" not in capsys.readouterr().err
    assert main([*args, *more, "--photo-share", "0", "--model", str(gallery_model_dir)]) == 0
    assert "the 1 --backgrounds photos are not used" in capsys.readouterr().err


@pytest.mark.torch
def test_spark_and_ray_cells_use_the_gallery_like_predict_batch(
    gallery_model_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from logobrand.inference import LogoClassifier
    from logobrand.integrations import PredictSettings, predict_values

    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    clf.calibrate_gallery(_images(40, seed=5), target_fpr=0.05)
    clf.add_brand("red", _solid([(250, 10, 10), (240, 20, 20)]))
    paths = []
    for i, image in enumerate(_solid([(250, 10, 10), (10, 250, 10)]) + _images(4, seed=9)):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    settings = PredictSettings("path", batch_size=2, top_k=3)
    got = list(predict_values(paths, clf, settings, threads=1))
    want = list(clf.predict_batch(paths, batch_size=2, top_k=3))
    assert got[0].brand == "red"  # type: ignore[union-attr]
    assert [r.to_dict() for r in got] == [r.to_dict() for r in want]


@pytest.mark.torch
def test_add_brand_warns_until_the_gallery_is_calibrated(gallery_model_dir: Path) -> None:
    import warnings

    from logobrand.inference import LogoClassifier

    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    with pytest.warns(UserWarning, match="not calibrated.*calibrate_gallery"):
        clf.add_brand("acme", _images(3, seed=1))
    clf.calibrate_gallery(_images(40, seed=5), target_fpr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.add_brand("zeta", _images(3, seed=2))
