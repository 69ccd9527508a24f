"""The Trainer: fitting, class weights, frozen backbone, resume, corrupt images."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import Tensor, nn  # noqa: E402

from logobrand.data import ImageFolderDataset, Sample  # noqa: E402
from logobrand.errors import InvalidArgumentError, ModelFormatError  # noqa: E402
from logobrand.models import Preprocessing  # noqa: E402
from logobrand.training import (  # noqa: E402
    History,
    ModelCheckpoint,
    Trainer,
    balanced_class_weights,
)
from logobrand.training.state import STATE_JSON, STATE_TENSORS  # noqa: E402

pytestmark = pytest.mark.torch

CLASSES = ["adidas", "no-logo", "pepsi"]


class ArrayDataset:
    """The dataset protocol over in-memory 32x32 float32 CHW images."""

    def __init__(self, n: int = 24, seed: int = 0, classes: list[str] | None = None) -> None:
        self.classes = list(classes or CLASSES)
        rng = np.random.default_rng(seed)
        labels = [i % len(self.classes) for i in range(n)]
        self.images = rng.normal(0, 1, (n, 3, 32, 32)).astype(np.float32)
        for i, label in enumerate(labels):  # class = which channel is bright
            self.images[i, label % 3] += 1.5
        self.samples = [Sample(Path(f"mem/{i}.png"), self.classes[c]) for i, c in enumerate(labels)]

    @property
    def targets(self) -> list[int]:
        return [self.classes.index(s.label) for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], self.targets[index]


class TinyNet(nn.Module):
    """Conv + BN + dropout backbone and a linear head."""

    def __init__(self, num_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.3),
        )
        self.head = nn.Linear(8, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.features(x))
        return out

    def backbone_parameters(self) -> Any:
        return self.features.parameters()

    def head_parameters(self) -> Any:
        return self.head.parameters()


def make_trainer(model: nn.Module | None = None, **kwargs: Any) -> Trainer:
    options: dict[str, Any] = {
        "epochs": 2,
        "batch_size": 8,
        "lr": 0.05,
        "num_workers": 0,
        "progress": False,
    }
    options.update(kwargs)
    train = options.pop("train", ArrayDataset(24, seed=0))
    val = options.pop("val", ArrayDataset(9, seed=1))
    test = options.pop("test", None)
    return Trainer(model or TinyNet(), train, val, test, **options)


def test_fit_history_rows() -> None:
    trainer = make_trainer(test=ArrayDataset(6, seed=2), epochs=3)
    history = trainer.fit()
    assert isinstance(history, History) and history is trainer.history
    assert history.epochs == [1, 2, 3]
    for row in history:
        assert set(row) >= {
            "epoch",
            "loss",
            "train_accuracy",
            "val_accuracy",
            "test_accuracy",
            "seconds",
            "lr",
            "skipped",
        }
        assert 0 <= row["train_accuracy"] <= 1 and 0 <= row["val_accuracy"] <= 1
        assert row["test_accuracy"] is not None and row["skipped"] == 0
        assert row["lr"] == pytest.approx(0.05) and row["seconds"] >= 0
    assert history[-1]["loss"] < history[0]["loss"]
    assert trainer.epoch == 3
    line = trainer.format_epoch(history[0])
    assert line.startswith("[Epoch 1] Train-acc: ") and "| Val-acc: " in line
    assert "| Test-acc: " in line and "| Time: " in line
    json.dumps(list(history))  # JSON-ready


def test_without_val_and_test() -> None:
    history = make_trainer(val=None, epochs=1).fit()
    assert history[0]["val_accuracy"] is None and history[0]["test_accuracy"] is None


def test_fit_is_deterministic() -> None:
    a = make_trainer(TinyNet(seed=3), optimizer="adam", lr=0.01).fit()
    b = make_trainer(TinyNet(seed=3), optimizer="adam", lr=0.01).fit()
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["val_accuracy"] for r in a] == [r["val_accuracy"] for r in b]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_optimizers(name: str) -> None:
    trainer = make_trainer(optimizer=name, lr=0.01, epochs=1)
    expected = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    assert type(trainer.optimizer) is expected[name]
    trainer.fit()


def test_balanced_weights_match_sklearn_formula() -> None:
    assert balanced_class_weights([0, 0, 0, 1], 2) == pytest.approx([2 / 3, 2.0])
    targets = [0] * 6 + [1] * 2 + [2] * 4
    expected = [12 / (3 * 6), 12 / (3 * 2), 12 / (3 * 4)]
    assert balanced_class_weights(targets, 3) == pytest.approx(expected)
    with pytest.raises(InvalidArgumentError, match=r"\[2\]"):
        balanced_class_weights([0, 1, 1], 3)
    train = ArrayDataset(12)
    train.samples = [Sample(Path(f"{i}.png"), CLASSES[t]) for i, t in enumerate(targets)]
    trainer = make_trainer(train=train, class_weights="balanced")
    assert trainer.class_weights == pytest.approx(expected)
    assert trainer.criterion.weight is not None
    assert trainer.criterion.weight.tolist() == pytest.approx(expected)


def test_explicit_class_weights_and_label_smoothing() -> None:
    trainer = make_trainer(class_weights=[1.0, 0.5, 2.0], label_smoothing=0.1, epochs=1)
    assert trainer.criterion.label_smoothing == pytest.approx(0.1)
    trainer.fit()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizer": "rmsprop"},
        {"epochs": 0},
        {"batch_size": 0},
        {"lr": -1.0},
        {"class_weights": [1.0, 2.0]},
        {"class_weights": "auto"},
        {"label_smoothing": 1.0},
        {"val": ArrayDataset(6, classes=["x", "y", "z"])},
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        make_trainer(**kwargs)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("epochs", None),
        ("epochs", 2.5),
        ("epochs", "3"),
        ("epochs", True),
        ("batch_size", None),
        ("num_workers", 1.5),
        ("train_backbone", None),
        ("train_backbone", "2"),
    ],
)
def test_integer_settings_of_the_wrong_type_are_typed_errors(name: str, value: object) -> None:
    """None, floats, strings and bools used to reach a comparison and raise TypeError."""
    with pytest.raises(InvalidArgumentError, match=rf"Trainer: {name} must be an integer"):
        make_trainer(**{name: value})


@pytest.mark.parametrize("name", ["lr", "momentum", "weight_decay", "label_smoothing"])
def test_number_settings_of_the_wrong_type_are_typed_errors(name: str) -> None:
    for value in (None, "0.1", True):
        with pytest.raises(InvalidArgumentError, match=rf"Trainer: {name} must be a number"):
            make_trainer(**{name: value})


def test_numpy_integer_settings_are_accepted() -> None:
    assert make_trainer(epochs=np.int64(2), batch_size=np.int32(4), train_backbone=1).epochs == 2


def test_freeze_needs_head() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3))
    with pytest.raises(InvalidArgumentError, match="head"):
        make_trainer(model, train_backbone=False)


def test_wrong_number_of_outputs() -> None:
    with pytest.raises(InvalidArgumentError, match="num_classes=3"):
        make_trainer(TinyNet(num_classes=5)).fit()


def test_uint8_images_are_refused() -> None:
    train = ArrayDataset(8)
    train.images = (train.images > 0).astype(np.uint8)
    with pytest.raises(InvalidArgumentError, match="float32"):
        make_trainer(train=train, val=None).fit()


def _snapshot(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_frozen_backbone_trains_only_the_head() -> None:
    model = TinyNet()
    before = _snapshot(model)
    make_trainer(model, train_backbone=False, weight_decay=0.01).fit()
    after = model.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        if key.startswith("head."):
            assert changed, key
        else:  # weights and BatchNorm running statistics stay fixed
            assert not changed, key


def test_backbone_unfreezes_after_n_epochs() -> None:
    model = TinyNet()
    start = _snapshot(model)
    trainer = make_trainer(model, train_backbone=1, epochs=1)
    trainer.fit()
    assert torch.equal(model.features[0].weight, start["features.0.weight"])
    assert [trainer.backbone_frozen(e) for e in (1, 2)] == [True, False]
    trainer.epochs = 2
    trainer.fit(resume_from=None)  # fresh history, but the model keeps its weights
    assert not torch.equal(model.features[0].weight, start["features.0.weight"])


def test_resume_continues_without_duplicates(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"optimizer": "adam", "lr": 0.01}
    full = make_trainer(TinyNet(seed=7), epochs=4, **kwargs).fit()

    ckpt = tmp_path / "ckpt"
    first = make_trainer(
        TinyNet(seed=7), epochs=2, callbacks=[ModelCheckpoint(ckpt, save_model=False)], **kwargs
    )
    assert first.fit().epochs == [1, 2]
    assert json.loads((ckpt / "last" / STATE_JSON).read_text())["epoch"] == 2

    # A new process: fresh model (other init), same settings, resume from the checkpoint.
    second = make_trainer(
        TinyNet(seed=99), epochs=4, callbacks=[ModelCheckpoint(ckpt, save_model=False)], **kwargs
    )
    resumed = second.fit(resume_from=ckpt)
    assert resumed.epochs == [1, 2, 3, 4]
    for got, want in zip(resumed, full, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5, abs=1e-7)
        assert got["val_accuracy"] == pytest.approx(want["val_accuracy"])
    assert json.loads((ckpt / "last" / STATE_JSON).read_text())["epoch"] == 4
    # Everything on disk is JSON or safetensors: no pickle.
    suffixes = {p.suffix for p in ckpt.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".safetensors"}

    # Resuming a finished run trains nothing more.
    third = make_trainer(TinyNet(), epochs=4, **kwargs)
    assert third.fit(resume_from=ckpt).epochs == [1, 2, 3, 4]


def test_save_and_load_state(tmp_path: Path) -> None:
    trainer = make_trainer(epochs=1)
    trainer.fit()
    folder = trainer.save_state(tmp_path / "state")
    assert (folder / STATE_TENSORS).is_file()
    other = make_trainer(TinyNet(seed=5), epochs=1)
    other.load_state(folder)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, other.model.state_dict()[key])
    assert other.history.epochs == [1] and other.epoch == 1


def test_resume_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"trainer_state\.json"):
        make_trainer().fit(resume_from=tmp_path)
    trainer = make_trainer(epochs=1)
    trainer.fit()
    folder = trainer.save_state(tmp_path / "state")
    with pytest.raises(ModelFormatError, match="optimizer"):
        make_trainer(optimizer="adam").fit(resume_from=folder)
    with pytest.raises(ModelFormatError, match="shape"):
        make_trainer(_WiderNet()).load_state(folder)
    tensors = (folder / STATE_TENSORS).read_bytes()
    (folder / STATE_TENSORS).write_bytes(tensors[:-1] + bytes([tensors[-1] ^ 0xFF]))
    with pytest.raises(ModelFormatError, match="SHA-256"):
        make_trainer().fit(resume_from=folder)


@pytest.mark.parametrize(
    "edit",
    [
        lambda info: info["optimizer"].update(param_groups=[{"lr": "x"}, 5]),
        lambda info: info.update(history=[["not", "a", "row"]]),
        lambda info: info.update(epoch="three"),
    ],
)
def test_a_hand_edited_state_is_a_model_format_error(tmp_path: Path, edit: Any) -> None:
    import json

    trainer = make_trainer(epochs=1)
    trainer.fit()
    folder = trainer.save_state(tmp_path / "state")
    info = json.loads((folder / "trainer_state.json").read_text())
    edit(info)
    (folder / "trainer_state.json").write_text(json.dumps(info))
    with pytest.raises(ModelFormatError, match="malformed"):
        make_trainer().fit(resume_from=folder)


class _WiderNet(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 3)
        self.features[0] = nn.Conv2d(3, 8, 5, padding=2)


def test_corrupt_image_is_skipped_and_reported(
    tmp_images: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from logobrand.transforms import eval_transform

    for label in CLASSES:
        for i in range(3):
            tmp_images.image(f"photos/{label}/{i}.png", size=(40, 48), seed=hash(label) % 99 + i)
    tmp_images.corrupt("photos/pepsi/broken.jpg")
    dataset = ImageFolderDataset(tmp_path / "photos").with_transform(
        eval_transform(Preprocessing(input_size=32))
    )
    assert dataset.classes == CLASSES and len(dataset) == 10
    trainer = make_trainer(train=dataset, val=dataset, epochs=2, batch_size=4)
    with caplog.at_level(logging.WARNING):
        history = trainer.fit()
    assert history.epochs == [1, 2]
    assert [row["skipped"] for row in history] == [2, 2]  # once in train, once in val
    assert list(trainer.failures) == [str(tmp_path / "photos/pepsi/broken.jpg")]
    assert "broken.jpg" in caplog.text
    assert "Skipped: 2" in trainer.format_epoch(history[0])


def test_no_decodable_training_image_is_reported_with_its_count(
    tmp_images: Any, tmp_path: Path
) -> None:
    from logobrand.errors import DatasetLayoutError
    from logobrand.transforms import eval_transform

    for label in CLASSES:
        tmp_images.corrupt(f"bad/{label}/0.jpg")
    dataset = ImageFolderDataset(tmp_path / "bad").with_transform(
        eval_transform(Preprocessing(input_size=32))
    )
    trainer = make_trainer(train=dataset, val=None, epochs=1, batch_size=4)
    with pytest.raises(DatasetLayoutError, match=rf"\({len(CLASSES)} failures, e\.g\. "):
        trainer.fit()


def test_evaluate() -> None:
    trainer = make_trainer(epochs=1)
    trainer.fit()
    result = trainer.evaluate(ArrayDataset(6, seed=3))
    assert result["n"] == 6 and result["skipped"] == 0
    assert 0.0 <= result["accuracy"] <= 1.0 and result["loss"] > 0
    assert trainer.model.training  # evaluation restores the mode


def test_unwritable_checkpoint_places_fail_early_and_typed(tmp_path: Path) -> None:
    from logobrand.errors import OutputError
    from logobrand.training import ModelCheckpoint

    a_file = tmp_path / "afile"
    a_file.write_text("x")
    trainer = make_trainer(epochs=1, callbacks=[ModelCheckpoint(a_file, save_model=False)])
    with pytest.raises(InvalidArgumentError, match="is a file"):
        trainer.fit()
    with pytest.raises(OutputError, match="cannot write"):
        make_trainer(epochs=1).save_state(a_file / "state")
    assert a_file.read_text() == "x"
