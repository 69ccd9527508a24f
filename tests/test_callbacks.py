"""Callbacks: hook order, EarlyStopping, ModelCheckpoint, HistoryLogger, ProgressBar."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import Tensor, nn  # noqa: E402

from logobrand.errors import InvalidArgumentError  # noqa: E402
from logobrand.models import Preprocessing  # noqa: E402
from logobrand.training import (  # noqa: E402
    Callback,
    EarlyStopping,
    HistoryLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)
from logobrand.training.callbacks import infer_architecture  # noqa: E402
from logobrand.training.state import STATE_JSON  # noqa: E402

pytestmark = pytest.mark.torch

CLASSES = ["adidas", "no-logo", "pepsi"]


class ArrayDataset:
    """The dataset protocol over in-memory 32x32 float32 CHW images."""

    def __init__(self, n: int = 18, seed: int = 0) -> None:
        self.classes = list(CLASSES)
        rng = np.random.default_rng(seed)
        self.targets = [i % 3 for i in range(n)]
        self.images = rng.normal(0, 1, (n, 3, 32, 32)).astype(np.float32)
        for i, label in enumerate(self.targets):
            self.images[i, label] += 1.5

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], self.targets[index]


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.features(x))
        return out


def make_trainer(callbacks: list[Callback], **kwargs: Any) -> Trainer:
    options: dict[str, Any] = {"epochs": 4, "batch_size": 6, "num_workers": 0, "progress": False}
    options.update(kwargs)
    return Trainer(
        TinyNet(), ArrayDataset(), ArrayDataset(6, seed=1), callbacks=callbacks, **options
    )


class Recorder(Callback):
    def __init__(self, events: list[str], name: str) -> None:
        self.events, self.name = events, name

    def on_train_begin(self, trainer: Trainer) -> None:
        self.events.append(f"{self.name}:train_begin")

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.events.append(f"{self.name}:epoch_begin:{epoch}")

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Mapping[str, Any]) -> None:
        self.events.append(f"{self.name}:batch:{batch}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        assert trainer.history[-1] is logs and logs["epoch"] == epoch
        self.events.append(f"{self.name}:epoch_end:{epoch}")

    def on_train_end(self, trainer: Trainer) -> None:
        self.events.append(f"{self.name}:train_end")


class Late(Recorder):
    order: ClassVar[int] = 50


class Score(Callback):
    """Writes a scripted value into the epoch's logs before the checkpoint reads it."""

    order: ClassVar[int] = -1

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        assert isinstance(logs, dict)
        logs["score"] = self.values[epoch - 1]


def test_hook_order() -> None:
    events: list[str] = []
    make_trainer([Late(events, "late"), Recorder(events, "rec")], epochs=2).fit()
    rec = [e.removeprefix("rec:") for e in events if e.startswith("rec:")]
    assert rec == [
        "train_begin",
        "epoch_begin:1",
        "batch:0",
        "batch:1",
        "batch:2",
        "epoch_end:1",
        "epoch_begin:2",
        "batch:0",
        "batch:1",
        "batch:2",
        "epoch_end:2",
        "train_end",
    ]
    # Sorted by `order`: the default (0) runs before Late (50), whatever the list order.
    assert events.index("rec:epoch_end:1") < events.index("late:epoch_end:1")
    assert events[0] == "rec:train_begin" and events[-1] == "late:train_end"


def test_train_end_runs_after_an_error() -> None:
    events: list[str] = []

    class Boom(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        make_trainer([Boom(), Late(events, "late")]).fit()
    assert events[-1] == "late:train_end"


def test_early_stopping_stops() -> None:
    stopper = EarlyStopping("score", patience=2, mode="max")
    trainer = make_trainer([Score([0.5, 0.6, 0.6, 0.55, 0.9, 0.9]), stopper], epochs=6)
    history = trainer.fit()
    assert history.epochs == [1, 2, 3, 4]  # no improvement in epochs 3 and 4
    assert trainer.stop_training and stopper.stopped_epoch == 4
    assert stopper.best == pytest.approx(0.6) and stopper.best_epoch == 2


def test_early_stopping_min_delta_and_auto_mode() -> None:
    stopper = EarlyStopping("val_loss", patience=1, min_delta=10.0)
    assert stopper.mode == "min"
    history = make_trainer([stopper], epochs=5).fit()
    assert history.epochs == [1, 2]  # epoch 2 cannot beat epoch 1 by 10
    with pytest.raises(InvalidArgumentError):
        EarlyStopping(patience=0)
    with pytest.raises(InvalidArgumentError):
        EarlyStopping(mode="bigger")


def test_monitor_without_val_set_is_an_error() -> None:
    trainer = Trainer(
        TinyNet(), ArrayDataset(), callbacks=[EarlyStopping()], num_workers=0, progress=False
    )
    with pytest.raises(InvalidArgumentError, match="no val set"):
        trainer.fit()
    with pytest.raises(InvalidArgumentError, match="nothing"):
        make_trainer([EarlyStopping("nothing")], epochs=1).fit()


def _checkpoint(directory: Path, **kwargs: Any) -> ModelCheckpoint:
    return ModelCheckpoint(
        directory,
        monitor="score",
        architecture="tiny_test_net",
        preprocessing=Preprocessing(input_size=32),
        **kwargs,
    )


def test_model_checkpoint_keeps_only_the_best(tmp_path: Path) -> None:
    from logobrand.inference.config import ModelConfig

    ckpt = _checkpoint(tmp_path / "run")
    make_trainer([Score([0.2, 0.5, 0.3, 0.4]), ckpt]).fit()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best", "last"]
    best = tmp_path / "run" / "best"
    assert sorted(p.name for p in best.iterdir()) == [
        "config.json",
        "model.onnx",
        "model.safetensors",
        "trainer_state.json",
        "trainer_state.safetensors",
    ]
    assert json.loads((best / STATE_JSON).read_text())["epoch"] == 2
    assert json.loads((tmp_path / "run" / "last" / STATE_JSON).read_text())["epoch"] == 4
    config = ModelConfig.load(best)
    assert config.labels == tuple(CLASSES) and config.architecture == "tiny_test_net"
    assert config.training["epoch"] == 2 and config.training["value"] == pytest.approx(0.5)
    assert ckpt.best == pytest.approx(0.5) and ckpt.best_epoch == 2


def test_model_checkpoint_every_epoch(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "run", save_best_only=False, save_model=False)
    make_trainer([Score([0.2, 0.5, 0.3]), ckpt], epochs=3).fit()
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["best", "epoch-001", "epoch-002", "epoch-003", "last"]


def test_failed_save_keeps_the_previous_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logobrand.inference.export as export

    original = export.save_model_dir
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Path:
        calls["n"] += 1
        if calls["n"] == 2:  # the second improvement dies half-way through the write

            def die(folder: Path) -> None:
                raise OSError("disk full")

            kwargs["extra"] = die
        return original(*args, **kwargs)

    monkeypatch.setattr(export, "save_model_dir", flaky)
    with pytest.raises(OSError, match="disk full"):
        make_trainer([Score([0.2, 0.5, 0.9]), _checkpoint(tmp_path / "run")]).fit()
    best = tmp_path / "run" / "best"
    assert json.loads((best / STATE_JSON).read_text())["epoch"] == 1
    assert (best / "model.onnx").is_file()
    # last/ was not advanced past the epoch whose best model could not be written.
    assert json.loads((tmp_path / "run" / "last" / STATE_JSON).read_text())["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best", "last"]


def test_model_checkpoint_needs_an_architecture(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(tmp_path / "run")
    with pytest.raises(InvalidArgumentError, match="architecture"):
        make_trainer([ckpt], epochs=1).fit()
    bad_labels = _checkpoint(tmp_path / "run", labels=["adidas", "pepsi", "shell"])
    with pytest.raises(InvalidArgumentError, match="no-logo"):
        make_trainer([bad_labels], epochs=1).fit()


def test_infer_architecture() -> None:
    from logobrand.models import create_model

    assert infer_architecture(TinyNet()) is None
    assert infer_architecture(create_model("resnet18_v2", num_classes=2)) == "resnet18_v2"
    model = create_model("scratch_cnn", num_classes=2, hidden=8)
    assert infer_architecture(model) == "scratch_cnn"
    type(model).architecture = None  # fall back to the module of the builder
    try:
        assert infer_architecture(model) == "scratch_cnn"
    finally:
        type(model).architecture = "scratch_cnn"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_history_logger(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"history{suffix}"
    ckpt = _checkpoint(tmp_path / "run", save_model=False)
    make_trainer([Score([0.1, 0.2, 0.3, 0.4]), ckpt, HistoryLogger(path)], epochs=2).fit()
    again = [Score([0.1, 0.2, 0.3, 0.4]), ckpt, HistoryLogger(path)]
    make_trainer(again, epochs=4).fit(resume_from=tmp_path / "run")
    if suffix == ".csv":
        with path.open(newline="") as handle:
            rows: list[dict[str, Any]] = list(csv.DictReader(handle))
        assert rows[0]["val_accuracy"] != "" and rows[0]["test_accuracy"] == ""
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert rows[0]["test_accuracy"] is None
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]
    assert float(rows[3]["score"]) == pytest.approx(0.4)
    with pytest.raises(InvalidArgumentError, match=r"\.csv or \.jsonl"):
        HistoryLogger(tmp_path / "history.txt")


def test_progress_bar_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = make_trainer([], epochs=2, progress=True)
    assert any(isinstance(cb, ProgressBar) for cb in trainer.callbacks)
    trainer.fit()
    err = capsys.readouterr().err
    assert "[Epoch 1] Train-acc:" in err and "[Epoch 2] Train-acc:" in err


# -- CosineSchedule ---------------------------------------------------------------------------


class LrRecorder(Callback):
    order: ClassVar[int] = 0  # after CosineSchedule (-50): sees the rate of the next step

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.rates.append(float(trainer.optimizer.param_groups[0]["lr"]))


def test_cosine_schedule_warms_up_then_decays_and_resumes_on_the_curve(tmp_path: Path) -> None:
    from logobrand.training import CosineSchedule, ModelCheckpoint

    schedule = CosineSchedule(warmup=1.0, final=0.1)
    trainer = make_trainer([schedule], epochs=4, lr=0.1)  # 3 steps per epoch
    rates = [schedule.rate(trainer, step) for step in range(12)]
    assert rates[0] < rates[1] < rates[2] <= 0.1 + 1e-12  # warm-up over the first epoch
    assert all(a >= b for a, b in itertools.pairwise(rates[3:]))  # then decays
    assert 0.01 < rates[-1] < 0.02  # near final * peak on the last step
    assert schedule.rate(trainer, 12) == pytest.approx(0.01)  # reached once the run is over
    recorder = LrRecorder()
    whole = make_trainer([CosineSchedule(warmup=1.0), recorder], epochs=4, lr=0.1)
    whole.fit()
    first = make_trainer(
        [CosineSchedule(warmup=1.0), ModelCheckpoint(tmp_path / "ck", save_model=False)],
        epochs=2,
        lr=0.1,
    )
    first.fit()
    resumed_rates = LrRecorder()
    second = make_trainer(
        [
            CosineSchedule(warmup=1.0),
            resumed_rates,
            ModelCheckpoint(tmp_path / "ck", save_model=False),
        ],
        epochs=4,
        lr=0.1,
    )
    second.fit(resume_from=tmp_path / "ck")
    assert resumed_rates.rates == pytest.approx(recorder.rates[2:])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"warmup": -1.0}, "warmup"), ({"final": 1.5}, "final"), ({"peak": 0.0}, "peak")],
)
def test_cosine_schedule_refuses_bad_settings(kwargs: dict[str, float], match: str) -> None:
    from logobrand.training import CosineSchedule

    with pytest.raises(InvalidArgumentError, match=match):
        CosineSchedule(**kwargs)  # type: ignore[arg-type]
