"""ONNX export and save_model_dir with a tiny torch model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("onnx")

from logobrand.errors import InvalidArgumentError, ModelFormatError  # noqa: E402
from logobrand.inference import (  # noqa: E402
    LogoClassifier,
    ModelConfig,
    check_onnx_matches,
    export_onnx,
    make_prediction,
    recover_model_dir,
    save_model_dir,
)
from logobrand.inference import export as export_module  # noqa: E402
from logobrand.models.registry import Preprocessing  # noqa: E402

pytestmark = pytest.mark.torch

SIZE = 32
LABELS = ("adidas", "aldi", "no-logo")


def tiny_model(classes: int = len(LABELS), seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, classes),
    )


def config(**changes: Any) -> ModelConfig:
    settings: dict[str, Any] = {
        "architecture": "tiny_torch",
        "labels": LABELS,
        "preprocessing": Preprocessing(input_size=SIZE),
        "training": {"epochs": 0},
    }
    settings.update(changes)
    return ModelConfig(**settings)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_export_matches_torch(tmp_path: Path) -> None:
    model = tiny_model()
    model.train()  # export must switch to eval and restore the flag
    path = export_onnx(model, tmp_path / "m.onnx", SIZE)
    assert model.training
    diff = check_onnx_matches(model, path, SIZE, atol=1e-4)
    assert diff <= 1e-4
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(float)"
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, SIZE, SIZE]
    assert session.get_outputs()[0].name == "logits"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_an_input_size_the_model_cannot_take_is_an_argument_error(tmp_path: Path) -> None:
    from logobrand.models import create_model

    model = create_model("scratch_cnn", 3)  # 11 x 11 convolutions with stride 4
    with pytest.raises(InvalidArgumentError, match=r"cannot run on 8 x 8 inputs \("):
        export_onnx(model, tmp_path / "m.onnx", 8)
    assert not (tmp_path / "m.onnx").exists()


def test_check_detects_mismatch(tmp_path: Path) -> None:
    model = tiny_model()
    path = export_onnx(model, tmp_path / "m.onnx", SIZE)
    with torch.no_grad():
        model[-1].bias.add_(1.0)
    with pytest.raises(ModelFormatError, match="differ from the torch model"):
        check_onnx_matches(model, path, SIZE)
    with torch.no_grad():
        model[-1].bias.fill_(float("nan"))  # what a diverged training leaves
    with pytest.raises(InvalidArgumentError, match="diverged"):
        check_onnx_matches(model, path, SIZE)


def test_save_model_dir_and_load(tmp_path: Path) -> None:
    model = tiny_model().eval()
    out = save_model_dir(model, tmp_path / "model", config(threshold=0.2))
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "model.onnx",
        "model.safetensors",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    from safetensors.torch import load_file

    state = load_file(str(out / "model.safetensors"))
    fresh = tiny_model(seed=1)
    fresh.load_state_dict(state)
    clf = LogoClassifier.from_pretrained(out, threads=1)
    assert clf.config.threshold == 0.2
    assert clf.config.files == {"onnx": "model.onnx", "weights": "model.safetensors"}

    rng = np.random.default_rng(3)
    batch = rng.standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = fresh.eval()(torch.from_numpy(batch)).numpy()
    got = clf.predict_logits(batch)
    np.testing.assert_allclose(got, expected, atol=1e-4)

    image = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
    x = clf.preprocess(image)
    with torch.no_grad():
        torch_logits = fresh(torch.from_numpy(x[None])).numpy()[0]
    want = make_prediction(torch_logits, LABELS, threshold=0.2, top_k=3)
    pred = clf.predict(image, top_k=3)
    assert pred.brand == want.brand
    assert pred.score == pytest.approx(want.score, abs=1e-4)


def test_wrong_output_width_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="3 labels"):
        save_model_dir(tiny_model(classes=5), tmp_path / "model", config())
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_previous_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = save_model_dir(tiny_model(), tmp_path / "model", config(threshold=0.3))
    before = snapshot(target)

    def crash(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("simulated crash during export")

    monkeypatch.setattr(export_module, "export_onnx", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_model_dir(tiny_model(seed=5), target, config(threshold=0.9))
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert LogoClassifier.from_pretrained(target).config.threshold == 0.3


def test_failed_swap_keeps_previous_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = save_model_dir(tiny_model(), tmp_path / "model", config(threshold=0.3))
    before = snapshot(target)
    real_replace = os.replace

    def crash_on_swap(src: Any, dst: Any) -> None:
        if Path(dst) == target and ".tmp-" in Path(src).name:
            raise OSError("simulated crash while swapping")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_swap)
    with pytest.raises(OSError, match="simulated crash"):
        save_model_dir(tiny_model(seed=5), target, config(threshold=0.9))
    monkeypatch.undo()
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_killed_mid_swap_is_recoverable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = save_model_dir(tiny_model(), tmp_path / "model", config(threshold=0.3))
    before = snapshot(target)
    real_replace = os.replace

    def killed(src: Any, dst: Any) -> None:
        if (".tmp-" in Path(src).name and Path(dst) == target) or ".old-" in Path(src).name:
            raise SystemExit("killed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(SystemExit):
        save_model_dir(tiny_model(seed=5), target, config(threshold=0.9))
    monkeypatch.undo()
    with pytest.raises(ModelFormatError, match="recover_model_dir"):
        LogoClassifier.from_pretrained(target)
    assert recover_model_dir(target) == target
    assert snapshot(target) == before


def test_extra_files_land_atomically(tmp_path: Path) -> None:
    def add_state(tmp: Path) -> None:
        (tmp / "trainer_state.json").write_text("{}")

    out = save_model_dir(tiny_model(), tmp_path / "ckpt", config(), extra=add_state)
    assert (out / "trainer_state.json").read_text() == "{}"


def test_refuses_unrelated_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidArgumentError, match="not a model directory"):
        save_model_dir(tiny_model(), tmp_path, config())
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_save_pretrained_copies_weights(tmp_path: Path) -> None:
    src = save_model_dir(tiny_model(), tmp_path / "a", config())
    clf = LogoClassifier.from_pretrained(src, threads=1)
    dst = clf.save_pretrained(tmp_path / "b")
    assert snapshot(dst)["model.safetensors"] == snapshot(src)["model.safetensors"]
    assert snapshot(dst)["model.onnx"] == snapshot(src)["model.onnx"]
