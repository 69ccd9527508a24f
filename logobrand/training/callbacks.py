"""Training callbacks: hooks that the :class:`~logobrand.training.Trainer` calls.

The trainer calls, in this order::

    on_train_begin(trainer)
    for each epoch:
        on_epoch_begin(trainer, epoch)
        on_batch_end(trainer, batch, logs)        after every training step
        on_epoch_end(trainer, epoch, logs)        logs = the epoch's history row
    on_train_end(trainer)                         also when training fails

Callbacks run sorted by their ``order`` attribute (stable; lower first): :class:`ProgressBar`
first, :class:`ModelCheckpoint` last, so that the state it saves already contains the
decisions of every other callback (for example an :class:`EarlyStopping` stop). A callback
that must survive a resume returns its state from :meth:`Callback.state_dict` (JSON values);
the trainer stores it in the training state and hands it back to :meth:`Callback.load_state_dict`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from logobrand._io import atomic_write_text
from logobrand.errors import InvalidArgumentError
from logobrand.models.registry import Preprocessing

if TYPE_CHECKING:
    from tqdm import tqdm

    from logobrand.training.trainer import Trainer

logger = logging.getLogger(__name__)


class Callback:
    """Base class of training callbacks; every hook is a no-op.

    Attributes:
        order: Callbacks run sorted by this number (lower first).
    """

    order: ClassVar[int] = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch (after a resume restored the state)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Called before epoch ``epoch`` (1-based) trains."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Mapping[str, Any]) -> None:
        """Called after each training step; ``logs`` has ``loss`` and ``size``."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        """Called after epoch ``epoch`` with its history row.

        Set ``trainer.stop_training = True`` to end training after this epoch.
        """

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once when training ends, normally or by an exception."""

    def state_dict(self) -> dict[str, Any]:
        """Return the JSON-ready state to save for a resume (empty by default)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`."""


def _resolve_mode(monitor: str, mode: str, who: str) -> str:
    if mode == "auto":
        return "min" if "loss" in monitor else "max"
    if mode not in ("min", "max"):
        raise InvalidArgumentError(f"{who}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _monitored(logs: Mapping[str, Any], monitor: str, who: str) -> float:
    value = logs.get(monitor)
    if value is None:
        available = sorted(k for k, v in logs.items() if isinstance(v, (int, float)))
        raise InvalidArgumentError(
            f"{who} monitors {monitor!r} but this epoch's logs have no value for it (available: "
            f"{', '.join(available)}); give the Trainer a val set or choose another monitor"
        )
    return float(value)


def _check_monitor_available(trainer: Trainer, monitor: str, who: str) -> None:
    if monitor.startswith("val_") and trainer.val is None:
        raise InvalidArgumentError(
            f"{who} monitors {monitor!r} but the Trainer has no val set; pass val=... or "
            "monitor='train_accuracy'/'loss'"
        )
    if monitor.startswith("test_") and trainer.test is None:
        raise InvalidArgumentError(f"{who} monitors {monitor!r} but the Trainer has no test set")


class _Monitor:
    """Tracks the best value of a monitored metric."""

    def __init__(self, monitor: str, mode: str, min_delta: float, who: str) -> None:
        if min_delta < 0:
            raise InvalidArgumentError(f"{who}: min_delta must be >= 0, got {min_delta}")
        self.monitor = monitor
        self.mode = _resolve_mode(monitor, mode, who)
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load(self, state: Mapping[str, Any]) -> None:
        best = state.get("best")
        self.best = None if best is None else float(best)
        epoch = state.get("best_epoch")
        self.best_epoch = None if epoch is None else int(epoch)


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    Args:
        monitor: History key to watch, e.g. ``"val_accuracy"`` or ``"val_loss"``.
        patience: Epochs without improvement after which training stops.
        min_delta: Smallest change that counts as an improvement.
        mode: ``"max"``, ``"min"``, or ``"auto"`` (``"min"`` for keys containing ``loss``).

    Attributes:
        best: Best value seen. best_epoch: Its epoch. wait: Epochs since the last improvement.
        stopped_epoch: The epoch after which training stopped, or ``None``.

    Example:
        >>> stopper = EarlyStopping("val_accuracy", patience=3)
    """

    def __init__(
        self,
        monitor: str = "val_accuracy",
        patience: int = 3,
        min_delta: float = 0.0,
        mode: str = "auto",
    ) -> None:
        if patience < 1:
            raise InvalidArgumentError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self._m = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.patience = int(patience)
        self.wait = 0
        self.stopped_epoch: int | None = None

    @property
    def monitor(self) -> str:
        """The watched history key."""
        return self._m.monitor

    @property
    def mode(self) -> str:
        """``"min"`` or ``"max"``."""
        return self._m.mode

    @property
    def best(self) -> float | None:
        """The best value seen so far."""
        return self._m.best

    @property
    def best_epoch(self) -> int | None:
        """The epoch of :attr:`best`."""
        return self._m.best_epoch

    def on_train_begin(self, trainer: Trainer) -> None:
        """Check that the monitored metric will exist."""
        _check_monitor_available(trainer, self.monitor, "EarlyStopping")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        """Count epochs without improvement and stop after ``patience`` of them."""
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._m.improves(value):
            self._m.best, self._m.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            logger.info(
                "early stopping after epoch %d: %s has not improved for %d epochs (best %.4f "
                "at epoch %s)",
                epoch,
                self.monitor,
                self.wait,
                self._m.best if self._m.best is not None else float("nan"),
                self._m.best_epoch,
            )

    def state_dict(self) -> dict[str, Any]:
        """Return best value, its epoch, the wait counter and the stop epoch."""
        return {**self._m.state(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self._m.load(state)
        self.wait = int(state.get("wait", 0))
        stopped = state.get("stopped_epoch")
        self.stopped_epoch = None if stopped is None else int(stopped)


def infer_architecture(model: object) -> str | None:
    """Return the registry name of ``model``'s architecture, or ``None`` if unknown.

    Uses the model's ``architecture`` attribute when it is a string, else the registered
    model whose builder lives in the module that defines the model's class (when exactly one
    does).
    """
    arch = getattr(model, "architecture", None)
    if isinstance(arch, str) and arch:
        return arch
    from logobrand.models.registry import get_model_spec, list_models

    module = type(model).__module__
    found = [name for name in list_models() if get_model_spec(name).builder.__module__ == module]
    return found[0] if len(found) == 1 else None


class ModelCheckpoint(Callback):
    """Keep the best epoch's model (deleting the previous best) and a resumable last state.

    Layout of ``directory``::

        best/         model directory of the best epoch so far (config.json, model.onnx,
                      model.safetensors, written by logobrand.inference.export.save_model_dir)
                      + trainer_state.safetensors/.json (so it can be resumed from too)
        last/         trainer_state.safetensors/.json after the latest epoch: what
                      Trainer.fit(resume_from=directory) continues from
        epoch-NNN/    with save_best_only=False only: the model directory of every epoch

    Every folder is replaced atomically (written beside it, then renamed into place), so a
    crash never loses the previous best.

    Args:
        directory: Checkpoint folder (created if needed).
        monitor: History key that decides the best epoch.
        mode: ``"max"``, ``"min"``, or ``"auto"`` (``"min"`` for keys containing ``loss``).
        save_best_only: ``False`` also keeps an ``epoch-NNN`` model directory per epoch.
        save_model: ``False`` writes only training states (no ONNX export, no config.json):
            faster, and needs no inference module; ``best/`` can still be resumed from.
        architecture: Registry name written to ``config.json``; by default
            :func:`infer_architecture` finds it.
        preprocessing: Preprocessing written to ``config.json``; defaults to the
            architecture's registered preprocessing. Give it when training at another size.
        labels: Labels in output order; defaults to the train set's ``classes``.
        calibrate: When training ends, calibrate ``best/`` on the validation set (its
            temperature, its threshold for ``target_precision`` and the validation curve:
            :mod:`logobrand.inference.calibrate`) and record the photos it was trained and
            calibrated on (``training["trained_on"]``). Needs a validation set of files
            (a :mod:`logobrand.data` dataset); skipped, with a log line, otherwise.
        target_precision: The logo precision the threshold is chosen for.

    Attributes:
        best: Best monitored value so far. best_epoch: Its epoch.

    Example:
        >>> ckpt = ModelCheckpoint("runs/resnet", monitor="val_accuracy")
    """

    order: ClassVar[int] = 100

    def __init__(
        self,
        directory: str | os.PathLike[str],
        monitor: str = "val_accuracy",
        mode: str = "max",
        save_best_only: bool = True,
        *,
        save_model: bool = True,
        architecture: str | None = None,
        preprocessing: Preprocessing | None = None,
        labels: Sequence[str] | None = None,
        calibrate: bool = True,
        target_precision: float = 0.98,
    ) -> None:
        self.directory = Path(directory)
        self.calibrate = bool(calibrate)
        self.target_precision = float(target_precision)
        self._m = _Monitor(monitor, mode, 0.0, "ModelCheckpoint")
        self.save_best_only = bool(save_best_only)
        self.save_model = bool(save_model)
        self.architecture = architecture
        self.preprocessing = preprocessing
        self.labels = None if labels is None else list(labels)

    @property
    def monitor(self) -> str:
        """The history key that decides the best epoch."""
        return self._m.monitor

    @property
    def best(self) -> float | None:
        """The best value so far."""
        return self._m.best

    @property
    def best_epoch(self) -> int | None:
        """The epoch of :attr:`best`."""
        return self._m.best_epoch

    @property
    def best_dir(self) -> Path:
        """The model directory of the best epoch."""
        return self.directory / "best"

    @property
    def last_dir(self) -> Path:
        """The training state after the latest epoch."""
        return self.directory / "last"

    def on_train_begin(self, trainer: Trainer) -> None:
        """Check the monitor and resolve the model-directory configuration."""
        _check_monitor_available(trainer, self.monitor, "ModelCheckpoint")
        if self.directory.exists() and not self.directory.is_dir():
            raise InvalidArgumentError(
                f"ModelCheckpoint: {self.directory} is a file; pass a folder for the checkpoints"
            )
        if self.labels is None:
            self.labels = list(trainer.classes)
        if not self.save_model:
            return
        if self.architecture is None:
            arch = infer_architecture(trainer.model)
            if arch is None:
                raise InvalidArgumentError(
                    "ModelCheckpoint cannot tell the architecture of "
                    f"{type(trainer.model).__name__}; pass architecture='<registry name>' "
                    "(or save_model=False)"
                )
            self.architecture = arch
        if self.preprocessing is None:
            from logobrand.models.registry import get_model_spec

            self.preprocessing = get_model_spec(self.architecture).preprocessing
        try:  # validate now (labels need "no-logo"), not after the first epoch
            self._config({})
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                f"ModelCheckpoint cannot write a model directory: {exc} (save_model=False "
                "keeps training states only)"
            ) from exc

    def _config(self, training: dict[str, Any]) -> Any:
        from logobrand.inference.config import ModelConfig

        assert self.architecture is not None and self.labels is not None
        return ModelConfig(
            architecture=self.architecture,
            labels=tuple(self.labels),
            preprocessing=self.preprocessing or Preprocessing(),
            training=training,
        )

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        """Save ``last/``; replace ``best/`` when the monitored value improved."""
        from logobrand.training.state import (
            STATE_JSON,
            STATE_TENSORS,
            capture_rng,
            replace_state_dir,
            restore_rng,
        )

        value = _monitored(logs, self.monitor, "ModelCheckpoint")
        improved = self._m.improves(value)
        if improved:
            self._m.best, self._m.best_epoch = value, epoch
        rng = capture_rng()
        data, payload = trainer.encode_state()
        text = json.dumps(payload, indent=1) + "\n"

        def write_state(folder: Path) -> None:
            (folder / STATE_TENSORS).write_bytes(data)
            (folder / STATE_JSON).write_text(text, encoding="utf-8")

        def write_model(target: Path) -> None:
            if not self.save_model:
                replace_state_dir(target, write_state)
                return
            from logobrand.inference.export import save_model_dir

            training = {
                **trainer.summary(),
                "epoch": epoch,
                "monitor": self.monitor,
                "value": value,
                "history": [dict(row) for row in trainer.history],
            }
            save_model_dir(trainer.model, target, self._config(training), extra=write_state)

        try:
            # best/ first: if its write fails, last/ still holds the previous epoch, so a
            # resume repeats this epoch instead of skipping its (never saved) best model.
            if improved:
                write_model(self.best_dir)
                logger.info(
                    "epoch %d: %s = %.4f is the best so far; saved %s",
                    epoch,
                    self.monitor,
                    value,
                    self.best_dir,
                )
            if not self.save_best_only:
                write_model(self.directory / f"epoch-{epoch:03d}")
            replace_state_dir(self.last_dir, write_state)
        finally:
            restore_rng(rng)  # saving (ONNX export) must not change the training randomness

    def on_train_end(self, trainer: Trainer) -> None:
        """Calibrate ``best/`` on the validation set and record the training photos."""
        from logobrand.inference.config import CONFIG_NAME

        if not (self.calibrate and self.save_model and (self.best_dir / CONFIG_NAME).is_file()):
            return
        if trainer.stop_training is False and trainer.epoch < trainer.epochs:
            return  # training failed or was interrupted: calibrate when it completes
        samples = getattr(trainer.val, "samples", None)
        if not samples:
            logger.info(
                "ModelCheckpoint: %s not calibrated: the validation set has no photo files",
                self.best_dir,
            )
            return
        from logobrand.data import FileDataset
        from logobrand.inference import LogoClassifier
        from logobrand.inference.calibrate import calibrate, calibrated_config
        from logobrand.inference.config import ModelConfig, trained_on_record

        clf = LogoClassifier.from_pretrained(self.best_dir, threads=1)
        result = calibrate(
            clf, FileDataset(list(samples), trainer.classes), target_precision=self.target_precision
        )
        config = calibrated_config(ModelConfig.load(self.best_dir), result)
        paths = [s.path for s in getattr(trainer.train, "samples", [])] + [s.path for s in samples]
        training = {**config.training, "trained_on": trained_on_record(paths)}
        dataclasses.replace(config, training=training).save(self.best_dir)
        logger.info(
            "calibrated %s on %d validation photos: temperature %.3f, threshold %.4f "
            "(logo precision %.3f, recall %.3f)",
            self.best_dir,
            result.photos,
            result.temperature,
            result.threshold,
            result.precision,
            result.recall,
        )

    def state_dict(self) -> dict[str, Any]:
        """Return the best value and its epoch."""
        return self._m.state()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self._m.load(state)


class HistoryLogger(Callback):
    """Write the training history to a CSV or JSON Lines file after every epoch.

    The whole file is rewritten atomically from ``trainer.history`` each epoch, so it always
    matches the history (also after a resume: no duplicated or missing rows).

    Args:
        path: ``*.csv`` or ``*.jsonl`` file.

    Raises:
        InvalidArgumentError: The extension is neither.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise InvalidArgumentError(
                f"HistoryLogger: {self.path} must end in .csv or .jsonl, got {suffix or 'none'!r}"
            )
        self.format = suffix[1:]

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        """Rewrite the file with every history row so far."""
        rows = [dict(row) for row in trainer.history]
        if self.format == "jsonl":
            text = "".join(json.dumps(row) + "\n" for row in rows)
        else:
            columns: list[str] = []
            for row in rows:
                columns.extend(k for k in row if k not in columns)
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
            text = buffer.getvalue()
        atomic_write_text(self.path, text)


class CosineSchedule(Callback):
    """Set the learning rate every step: a linear warm-up, then a cosine decay to ``final``.

    The rate is a function of the global step only (``(epoch - 1) * steps_per_epoch +
    batch``), so a resumed run continues on the same curve without any saved state.

    Args:
        peak: The learning rate after the warm-up; ``None`` takes the trainer's ``lr``.
        warmup: Warm-up length in epochs (may be a fraction).
        final: The last rate, as a share of ``peak``.

    Raises:
        InvalidArgumentError: ``warmup`` < 0, ``final`` outside ``[0, 1]`` or ``peak`` <= 0.

    Example:
        >>> schedule = CosineSchedule(warmup=0.5)
    """

    order: ClassVar[int] = -50

    def __init__(self, peak: float | None = None, *, warmup: float = 0.5, final: float = 0.0):
        if not (math.isfinite(warmup) and warmup >= 0):
            raise InvalidArgumentError(f"CosineSchedule: warmup must be >= 0, got {warmup}")
        if not (0.0 <= final <= 1.0):
            raise InvalidArgumentError(f"CosineSchedule: final must be in [0, 1], got {final}")
        if peak is not None and not (math.isfinite(peak) and peak > 0):
            raise InvalidArgumentError(f"CosineSchedule: peak must be > 0, got {peak}")
        self.peak = peak
        self.warmup = float(warmup)
        self.final = float(final)

    def rate(self, trainer: Trainer, step: int) -> float:
        """Return the learning rate of global step ``step`` (0-based)."""
        peak = self.peak if self.peak is not None else trainer.lr
        total = max(1, trainer.epochs * trainer.steps_per_epoch)
        warm = self.warmup * trainer.steps_per_epoch
        if step < warm:
            return peak * (step + 1) / (warm + 1)
        progress = min(1.0, (step - warm) / max(1.0, total - warm))
        return peak * (self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * progress)))

    def _apply(self, trainer: Trainer, step: int) -> None:
        lr = self.rate(trainer, step)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Set the rate of the epoch's first step."""
        self._apply(trainer, (epoch - 1) * trainer.steps_per_epoch)

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Mapping[str, Any]) -> None:
        """Set the rate of the next step."""
        epoch = int(logs.get("epoch", trainer.epoch + 1))
        self._apply(trainer, (epoch - 1) * trainer.steps_per_epoch + batch + 1)


class ProgressBar(Callback):
    """A tqdm progress bar per epoch on stderr, then the epoch's summary line.

    The trainer adds one when ``progress=True`` and none is given.
    """

    order: ClassVar[int] = -100

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Open the bar."""
        from tqdm import tqdm

        self._close()
        self._bar = tqdm(
            total=trainer.steps_per_epoch,
            desc=f"Epoch {epoch}/{trainer.epochs}",
            unit="batch",
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
        )

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Mapping[str, Any]) -> None:
        """Advance the bar and show the batch loss."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{float(logs.get('loss', float('nan'))):.3f}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        """Close the bar and print the summary line."""
        from tqdm import tqdm

        self._close()
        tqdm.write(trainer.format_epoch(logs), file=sys.stderr)

    def on_train_end(self, trainer: Trainer) -> None:
        """Close a bar left open by an exception."""
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


__all__ = [
    "Callback",
    "CosineSchedule",
    "EarlyStopping",
    "HistoryLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "infer_architecture",
]
