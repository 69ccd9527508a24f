"""Shared pytest fixtures: tiny generated images, the path of ../shared/data, a tiny model."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The read-only real data (``../shared/data`` relative to the repository root)."""


class ImageWriter:
    """Writes tiny deterministic images for tests (smooth colour fields, so JPEG keeps them)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _target(self, path: str | Path) -> Path:
        target = Path(path)
        if not target.is_absolute():
            target = self.root / target
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def array(self, size: tuple[int, int] = (24, 32), seed: int = 0) -> np.ndarray:
        """An RGB ``uint8`` image of ``size`` = (height, width), different for every seed."""
        rng = np.random.default_rng(seed)
        coarse = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
        height, width = size
        return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)

    def image(
        self,
        path: str | Path,
        *,
        size: tuple[int, int] = (24, 32),
        seed: int = 0,
        quality: int = 95,
    ) -> Path:
        """Write an image (format from the suffix: .jpg, .png, ...) and return its path."""
        target = self._target(path)
        bgr = cv2.cvtColor(self.array(size, seed), cv2.COLOR_RGB2BGR)
        params = (
            [cv2.IMWRITE_JPEG_QUALITY, quality]
            if target.suffix.lower() in (".jpg", ".jpeg")
            else []
        )
        ok, data = cv2.imencode(target.suffix, bgr, params)
        assert ok, target
        target.write_bytes(data.tobytes())
        return target

    def reencode(
        self, source: Path, path: str | Path, *, quality: int = 60, scale: float = 1.0
    ) -> Path:
        """Write a re-encoded (optionally resized) JPEG copy of ``source``."""
        target = self._target(path)
        bgr = cv2.imread(str(source))
        if scale != 1.0:
            height, width = bgr.shape[:2]
            size = (round(width * scale), round(height * scale))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok, target
        target.write_bytes(data.tobytes())
        return target

    def corrupt(self, path: str | Path) -> Path:
        """Write a file with an image name whose bytes are not an image."""
        target = self._target(path)
        target.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
        return target


@pytest.fixture
def tmp_images(tmp_path: Path) -> ImageWriter:
    """Write tiny images under ``tmp_path``: ``tmp_images.image("a/b.jpg", seed=1)``."""
    return ImageWriter(tmp_path)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA


def _build_tiny_model(directory: Path, photos: list[Path], labels: tuple[str, ...]) -> Path:
    """A small random CNN exported with save_model_dir, then calibrated on ``photos``.

    The threshold becomes the median best-brand probability over ``photos``, so that about
    half of them get a brand and half get none.
    """
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from logobrand.inference import LogoClassifier, ModelConfig, Prediction, save_model_dir
    from logobrand.models.registry import Preprocessing

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, len(labels)),
    ).eval()
    config = ModelConfig(
        architecture="tiny_test_cnn",
        labels=labels,
        preprocessing=Preprocessing(input_size=64),
        temperature=0.05,
    )
    raw = save_model_dir(net, directory / "raw", config)
    clf = LogoClassifier.from_pretrained(raw, threads=1)
    best = [r.score for r in clf.predict_batch(photos) if isinstance(r, Prediction)]
    threshold = float(np.median(best))
    return clf.with_calibration(threshold=threshold).save_pretrained(directory / "model")


@pytest.fixture(scope="session")
def build_tiny_model() -> Callable[[Path, list[Path], tuple[str, ...]], Path]:
    """``build_tiny_model(directory, photos, labels)``: see :func:`_build_tiny_model`."""
    return _build_tiny_model


def _tiny_embedding_model(directory: Path, seed: int) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("onnx")
    from logobrand.inference import ModelConfig, save_model_dir
    from logobrand.models.registry import Preprocessing

    class Tiny(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(seed)
            self.conv = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
            self.head = torch.nn.Linear(16, 3)

        def forward_all(self, x: Any) -> tuple[Any, Any]:
            emb = torch.relu(self.conv(x)).mean((2, 3))
            return self.head(emb), emb

        def forward(self, x: Any) -> Any:
            return self.forward_all(x)[0]

        def extra_onnx_outputs(self) -> tuple[str, ...]:
            return ("embedding",)

    config = ModelConfig(
        architecture="tiny",
        labels=("a", "b", "no-logo"),
        preprocessing=Preprocessing(input_size=32),
        threshold=1.0,  # the classifier never reports a trained brand: the gallery decides
    )
    save_model_dir(Tiny().eval(), directory, config)
    return directory


@pytest.fixture(scope="session")
def tiny_embedding_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_embedding_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def other_embedding_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny embedding model's architecture with other weights (seed 1)."""
    return _tiny_embedding_model(tmp_path_factory.mktemp("tiny-other") / "model", seed=1)


@pytest.fixture
def gallery_model_dir(tiny_embedding_model_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of a tiny model with an ``embedding`` output (labels a, b, no-logo;
    32 x 32 input; the classifier never reports a trained brand, so the gallery decides)."""
    target = tmp_path / "model"
    shutil.copytree(tiny_embedding_model_dir, target)
    return target
