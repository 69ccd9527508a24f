"""Tests of the default-model recipe: views, calibration helpers and a tiny end-to-end run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from logobrand.data import NO_LOGO, FileDataset, Sample  # noqa: E402
from logobrand.inference.calibrate import calibrate_logits  # noqa: E402
from logobrand.metrics import fit_temperature  # noqa: E402
from logobrand.training.recipe import (  # noqa: E402
    RecipeConfig,
    augmented_view,
    train_default_model,
)

pytestmark = pytest.mark.torch


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(1, 80),
    width=st.integers(1, 80),
    view=st.integers(0, 5),
    negative=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_augmented_view_shape_and_determinism(
    height: int, width: int, view: int, negative: bool, seed: int
) -> None:
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    a = augmented_view(image, 32, view, np.random.default_rng(seed), negative=negative)
    b = augmented_view(image, 32, view, np.random.default_rng(seed), negative=negative)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_view_zero_is_the_plain_squashed_photo() -> None:
    image = np.full((10, 40, 3), 77, np.uint8)
    out = augmented_view(image, 16, 0, np.random.default_rng(0), negative=True)
    assert np.all(out == 77)


def test_fit_temperature_recovers_a_known_temperature() -> None:
    gen = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 5, generator=gen) * 2.0
    targets = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=gen).squeeze(1)
    fitted = fit_temperature((true_logits * 3.0).numpy(), targets.numpy())  # over-confident x3
    assert 2.4 < fitted < 3.7


def test_choose_threshold_reaches_the_target_on_separable_scores() -> None:
    labels = ["a", "b", NO_LOGO]
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.3, 0.2, 0.5], [0.35, 0.3, 0.35]], np.float32
    )
    targets = [0, 1, 2, 2]
    result = calibrate_logits(np.log(probs), targets, labels, target_precision=0.98)
    assert result.reached and result.precision == 1.0 and result.recall == 1.0
    from logobrand.inference.prediction import softmax

    scaled = softmax(np.log(probs.astype(np.float64)), result.temperature)
    best_brand = scaled[:, :2].max(1)  # the threshold applies to the best brand's probability
    assert best_brand[2:].max() < result.threshold <= best_brand[:2].min() + 1e-6


def _tiny_dataset(root: Path, per_class: int, seed: int) -> FileDataset:
    import cv2

    samples = []
    rng = np.random.default_rng(seed)
    for label, colour in (("red", (0, 0, 255)), ("blue", (255, 0, 0)), (NO_LOGO, None)):
        for i in range(per_class):
            img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            if colour is not None:
                cv2.rectangle(img, (10, 10), (40, 30), colour, -1)
            path = root / f"{label}_{seed}_{i}.jpg"
            cv2.imwrite(str(path), img)
            samples.append(Sample(path, label))
    return FileDataset(samples, ["blue", NO_LOGO, "red"])


@pytest.mark.slow
def test_train_default_model_end_to_end(tmp_path: Path) -> None:
    from logobrand.inference import LogoClassifier

    train = _tiny_dataset(tmp_path, 6, 0)
    val = _tiny_dataset(tmp_path, 3, 1)
    config = RecipeConfig(input_size=64, canonical_size=None, epochs=2, views=2, batch_size=8)
    result = train_default_model(train, val, tmp_path / "model", config, progress=False)
    assert len(result.history) == 2
    assert [row["epoch"] for row in result.history] == [1.0, 2.0]
    clf = LogoClassifier.from_pretrained(result.directory)
    assert clf.config.threshold == pytest.approx(result.threshold)
    assert clf.config.preprocessing.input_size == 64
    prediction = clf.predict(train.samples[0].path)
    assert prediction.brand in (None, "blue", "red")
    assert 0.0 <= prediction.score <= 1.0


def test_shared_data_splits_reports_the_nologo_photos_it_cannot_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import cv2

    from logobrand.training.recipe import shared_data_splits

    def photo(path: Path, value: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((20, 20, 3), value, np.uint8))

    for b, brand in enumerate(("adidas", "bmw")):
        for i in range(5):
            photo(tmp_path / "logos32plus" / brand / f"{i}.jpg", 10 * i + 100 * b)
    for i in range(5):
        photo(tmp_path / "nologo" / f"imagenet_{i}.jpg", 200 + 5 * i)
    photo(tmp_path / "nologo" / "bsds500_0.jpg", 3)
    photo(tmp_path / "nologo" / "my_photo.jpg", 7)
    fl27 = tmp_path / "flickrlogos27"
    (fl27 / "images").mkdir(parents=True)
    (fl27 / "flickr_logos_27_dataset_training_set_annotation.txt").write_text("")
    (fl27 / "flickr_logos_27_dataset_query_set_annotation.txt").write_text("")
    with caplog.at_level("WARNING", logger="logobrand.training.recipe"):
        splits = shared_data_splits(tmp_path)
    assert "1 photo(s) in" in caplog.text and "not used" in caplog.text
    assert any("my_photo" in p or "not used" in p for p in splits.problems)
    used = [*splits.train.samples, *splits.val.samples, *splits.test.samples]
    assert len(used) == 15 and len(splits.cross) == 1
    assert all(s.path.name != "my_photo.jpg" for s in [*used, *splits.cross.samples])


def test_shared_data_splits_names_the_missing_source_folder(tmp_path: Path) -> None:
    from logobrand.errors import DatasetLayoutError
    from logobrand.training.recipe import shared_data_splits

    (tmp_path / "logos32plus").mkdir()
    (tmp_path / "nologo").mkdir()
    with pytest.raises(DatasetLayoutError, match="has no flickrlogos27 folder"):
        shared_data_splits(tmp_path)
