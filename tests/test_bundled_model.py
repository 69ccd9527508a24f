"""The bundled default model loads offline with the core install and answers sensibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from logobrand.inference import DEFAULT_MODEL_DIR, LogoClassifier, Prediction

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

pytestmark = pytest.mark.skipif(
    not (Path(DEFAULT_MODEL_DIR) / "config.json").is_file(), reason="no bundled model here"
)


def test_bundled_model_is_small_and_valid() -> None:
    clf = LogoClassifier.from_pretrained()
    assert (Path(DEFAULT_MODEL_DIR) / "model.onnx").stat().st_size <= 25 * 1024 * 1024
    assert len(clf.labels) == 33 and "no-logo" in clf.labels and "guiness" in clf.labels
    assert 0.0 < clf.config.threshold < 1.0
    assert clf.config.training["recipe"]["target_precision"] == pytest.approx(0.98)


def test_bundled_model_predicts_a_generated_image() -> None:
    clf = LogoClassifier.from_pretrained()
    image = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    prediction = clf.predict(image)
    assert isinstance(prediction, Prediction)
    assert 0.0 <= prediction.score <= 1.0
    assert sum(p for _, p in clf.predict(image, top_k=33).top_k) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_bundled_model_recognises_a_real_logo_and_a_landscape() -> None:
    clf = LogoClassifier.from_pretrained()
    # A FlickrLogos-27 adidas photo and a BSDS500 landscape (both seen in training, so this
    # checks the shipped artefact end to end, not its accuracy).
    assert clf.predict(SHARED_DATA / "flickrlogos27" / "images" / "144503924.jpg").brand == "adidas"
    assert clf.predict(SHARED_DATA / "nologo" / "bsds500_test_238025.jpg").brand is None
