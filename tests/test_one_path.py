"""One prediction path: every entry point gives the same brand and score for the same photo.

``predict``, ``predict_batch``, both with ``boxes=True``, and the function the Spark and Ray
integrations call (``integrations.core.predict_values``) all go through the one prediction
stream (decode once, the same reduced-size JPEG decode; one model run per batch; one decision
rule), so they agree to 1e-6 on large JPEGs where draft decoding kicks in.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from logobrand.inference import LogoClassifier, ModelConfig, Prediction
from logobrand.models.registry import Preprocessing

LABELS = ("blue", "no-logo", "red")
SIZE = 32


@pytest.fixture(scope="module")
def cam_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with ``cell_scores`` (it can localise), exported with save_model_dir."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("safetensors")
    from logobrand.inference import save_model_dir

    class TinyCam(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.pool = torch.nn.AvgPool2d(4)
            self.classifier = torch.nn.Conv2d(3, len(LABELS), 1)

        def forward(self, images: Any) -> Any:
            return self.forward_all(images)[0]

        def extra_onnx_outputs(self) -> tuple[str, ...]:
            return ("embedding", "cell_scores")

        def forward_all(self, images: Any) -> tuple[Any, Any, Any]:
            cells = self.classifier(self.pool(images))
            logits = torch.logsumexp(cells.flatten(2), -1) - math.log((SIZE // 4) ** 2)
            return logits, self.pool(images).mean((2, 3)), cells

    pre = Preprocessing(input_size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    config = ModelConfig(architecture="tiny_cam", labels=LABELS, preprocessing=pre, threshold=0.4)
    return save_model_dir(TinyCam().eval(), tmp_path_factory.mktemp("one") / "model", config)


def _jpegs(n: int) -> list[bytes]:
    """Large noisy JPEGs (1200 x 900: decoded at 1/8 scale for a 32-pixel model)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        pixels = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
        pixels[100 + 50 * i : 500, 200 : 700 + 60 * i] = (230, 20 + 40 * i, 30)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


@pytest.mark.torch
def test_every_entry_point_gives_the_same_answer(cam_model: Path, tmp_path: Path) -> None:
    from logobrand.integrations.core import PredictSettings, predict_values

    clf = LogoClassifier.from_pretrained(cam_model, threads=1)
    photos = _jpegs(3)
    paths = []
    for i, data in enumerate(photos):
        path = tmp_path / f"p{i}.jpg"
        path.write_bytes(data)
        paths.append(path)

    def answers(results: Any) -> list[tuple[str | None, float]]:
        out = []
        for result in results:
            assert isinstance(result, Prediction), result
            out.append((result.brand, result.score))
        return out

    single = answers(clf.predict(p) for p in paths)
    runs = {
        "predict_batch": answers(clf.predict_batch(paths, batch_size=2, workers=1)),
        "predict(boxes=True)": answers(clf.predict(p, boxes=True) for p in paths),
        "predict_batch(boxes=True)": answers(clf.predict_batch(paths, batch_size=2, boxes=True)),
        "integrations (bytes cells)": answers(
            predict_values(photos, clf, PredictSettings(input_col="image"), threads=1)
        ),
        "integrations (path cells)": answers(
            predict_values([str(p) for p in paths], clf, PredictSettings("image"), threads=1)
        ),
    }
    for name, got in runs.items():
        for (brand, score), (want_brand, want_score) in zip(got, single, strict=True):
            assert brand == want_brand, name
            assert score == pytest.approx(want_score, abs=1e-6), name
    boxed = clf.predict(paths[0], boxes=True)
    assert boxed.image_size == (1200, 900)  # boxes in the photo's own pixels, not the draft's


@pytest.mark.torch
def test_spark_or_ray_path_agrees_when_installed(cam_model: Path, tmp_path: Path) -> None:
    """The integrations' worker-side function is the stream; the engines only ship cells."""
    import importlib.util

    if all(importlib.util.find_spec(name) is None for name in ("pyspark", "ray")):
        pytest.skip("neither pyspark nor ray is installed")
    from logobrand.integrations.core import PredictSettings, predict_chunks

    clf = LogoClassifier.from_pretrained(cam_model, threads=1)
    photos = _jpegs(2)
    want = [clf.predict(p) for p in photos]
    chunks = list(
        predict_chunks([photos[:1], photos[1:]], list, clf, PredictSettings("x"), threads=1)
    )
    got = [r for _, results in chunks for r in results]
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, Prediction)
        assert g.brand == w.brand and g.score == pytest.approx(w.score, abs=1e-6)
