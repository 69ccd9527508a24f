"""The bundled default model loads offline with the core install and answers sensibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from logobrand.inference import DEFAULT_MODEL_DIR, LogoClassifier, Prediction
from logobrand.inference.classifier import FAST_MODEL_DIR

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
@pytest.mark.parametrize("name", ["default", "fast"])
def test_bundled_model_recognises_a_real_logo_and_a_landscape(name: str) -> None:
    clf = LogoClassifier.from_pretrained(name)
    # A FlickrLogos-27 adidas photo and a BSDS500 landscape (both seen in training, so this
    # checks the shipped artefact end to end, not its accuracy).
    assert clf.predict(SHARED_DATA / "flickrlogos27" / "images" / "144503924.jpg").brand == "adidas"
    assert clf.predict(SHARED_DATA / "nologo" / "bsds500_test_238025.jpg").brand is None


@pytest.mark.skipif(
    not (Path(FAST_MODEL_DIR) / "config.json").is_file(), reason="no bundled fast model here"
)
def test_fast_preset_is_the_int8_copy_of_the_default() -> None:
    onnx = pytest.importorskip("onnx")
    default = LogoClassifier.from_pretrained()
    fast = LogoClassifier.from_pretrained("fast")
    assert fast.labels == default.labels
    assert fast.config.threshold == default.config.threshold
    assert fast.config.training["quantization"]["calibration_photos"] == 256
    ops = {node.op_type for node in onnx.load(str(FAST_MODEL_DIR / "model.onnx")).graph.node}
    assert "QuantizeLinear" in ops
    total = sum(
        (d / "model.onnx").stat().st_size for d in (Path(DEFAULT_MODEL_DIR), Path(FAST_MODEL_DIR))
    )
    assert total <= 25 * 1024 * 1024
    images = np.random.default_rng(1).integers(0, 256, (4, 3, 320, 320)).astype(np.float32)
    x = (images / 255.0 - 0.498) / 0.502
    want = default.predict_logits(x.astype(np.float32))
    got = fast.predict_logits(x.astype(np.float32))
    assert np.corrcoef(want.ravel(), got.ravel())[0, 1] > 0.9
