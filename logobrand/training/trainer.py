"""The :class:`Trainer`: fit a classifier on logobrand datasets, epoch by epoch, resumably.

Example:
    >>> from logobrand.models import create_model
    >>> from logobrand.training import Trainer, ModelCheckpoint, EarlyStopping
    >>> model = create_model("resnet18_v2", num_classes=len(train.classes))  # doctest: +SKIP
    >>> trainer = Trainer(model, train, val, test, epochs=20, lr=0.01,
    ...                   callbacks=[ModelCheckpoint("runs/r18"), EarlyStopping(patience=4)])
    ... # doctest: +SKIP
    >>> history = trainer.fit()  # doctest: +SKIP
    [Epoch 1] Train-acc: 0.412, loss: 2.31 | Val-acc: 0.530 | Test-acc: 0.520 | Time: 41.2
    ...
    >>> history = trainer.fit(resume_from="runs/r18")  # after an interruption  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from logobrand.errors import DatasetLayoutError, InvalidArgumentError, ModelFormatError
from logobrand.training.callbacks import Callback, ProgressBar
from logobrand.training.state import (
    TrainingState,
    encode_training_state,
    find_training_state,
    load_training_state,
    replace_state_dir,
    restore_rng,
)

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam", "adamw")
"""Names accepted by ``Trainer(optimizer=...)``."""

HISTORY_KEYS = (
    "epoch",
    "loss",
    "train_accuracy",
    "val_accuracy",
    "val_loss",
    "test_accuracy",
    "seconds",
    "lr",
    "skipped",
)
"""The keys of every history row, in order."""


class Dataset(Protocol):
    """What the trainer needs from a dataset (every :mod:`logobrand.data` dataset has it).

    ``dataset[i]`` returns ``(image, class_index)`` with a preprocessed ``float32`` CHW image.
    """

    classes: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, int]: ...


LoaderFactory = Callable[..., Iterable[Any]]
"""``factory(dataset, batch_size, *, shuffle, seed, num_workers, drop_last)`` returning an
iterable of batches with ``images`` and ``labels``, optionally with ``failures`` (the
``(path, reason)`` of the items skipped in the latest pass), ``set_epoch(epoch)`` and
``close()``, like
:class:`logobrand.data.loader.BatchLoader` (the default)."""


class History(list[dict[str, Any]]):
    """The training history: one dictionary per completed epoch (see :data:`HISTORY_KEYS`).

    ``val_accuracy``, ``val_loss`` and ``test_accuracy`` are ``None`` without those sets;
    ``skipped`` counts the images that failed to decode in that epoch (all splits).
    """

    @property
    def epochs(self) -> list[int]:
        """The epoch numbers, in order."""
        return [int(row["epoch"]) for row in self]

    def column(self, key: str) -> list[Any]:
        """Return one history key across epochs."""
        return [row.get(key) for row in self]

    def best(self, monitor: str = "val_accuracy", mode: str = "auto") -> dict[str, Any] | None:
        """Return the row with the best ``monitor`` value (``None`` if it was never logged)."""
        rows = [row for row in self if row.get(monitor) is not None]
        if not rows:
            return None
        use_min = mode == "min" or (mode == "auto" and "loss" in monitor)
        pick = min if use_min else max
        return pick(rows, key=lambda row: float(row[monitor]))


def balanced_class_weights(targets: Sequence[int], num_classes: int) -> list[float]:
    """Return scikit-learn's "balanced" weights: ``n_samples / (n_classes * count_c)``.

    Args:
        targets: The class index of every training sample.
        num_classes: Number of classes.

    Raises:
        InvalidArgumentError: A class has no sample (its weight would be infinite).

    Example:
        >>> balanced_class_weights([0, 0, 0, 1], 2)
        [0.6666666666666666, 2.0]
    """
    counts = Counter(int(t) for t in targets)
    missing = [c for c in range(num_classes) if counts.get(c, 0) == 0]
    if missing:
        raise InvalidArgumentError(
            f"class_weights='balanced' needs every class in the train set; classes {missing} "
            "have no sample (pass explicit weights or fix the split)"
        )
    n = sum(counts.values())
    return [n / (num_classes * counts[c]) for c in range(num_classes)]


def _targets(dataset: Dataset) -> list[int]:
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return [int(t) for t in targets]
    samples = getattr(dataset, "samples", None)
    if samples is not None:
        index = {name: i for i, name in enumerate(dataset.classes)}
        return [index[s.label] for s in samples]
    raise InvalidArgumentError(
        "class_weights='balanced' needs the train set's labels: give it a 'targets' or "
        "'samples' attribute, or pass explicit weights"
    )


def _default_loader_factory() -> LoaderFactory:
    from logobrand.data.loader import BatchLoader

    return BatchLoader


def check_fit_arguments(
    who: str,
    train: Dataset,
    val: Dataset | None,
    test: Dataset | None,
    *,
    epochs: int,
    batch_size: int,
    optimizer: str,
    optimizers: Sequence[str],
    lr: float,
    momentum: float,
    weight_decay: float,
    label_smoothing: float,
    num_workers: int,
    train_backbone: bool | int,
) -> list[str]:
    """Check a trainer's settings and splits (shared by the torch and Gluon trainers).

    Returns:
        The train set's classes.

    Raises:
        InvalidArgumentError: A setting is out of range (or ``epochs``, ``batch_size``,
            ``num_workers`` or an integer ``train_backbone`` is not an integer), the train set
            is empty or has no ``classes``, or another split's classes differ; the message
            starts with ``who``.
    """
    integers = {"epochs": epochs, "batch_size": batch_size, "num_workers": num_workers}
    if not isinstance(train_backbone, bool):
        integers["train_backbone"] = train_backbone
    for name, value in integers.items():  # before any comparison: None < 1 is a TypeError
        if not isinstance(value, numbers.Integral) or isinstance(value, np.bool_ | bool):
            extra = " (or a bool)" if name == "train_backbone" else ""
            raise InvalidArgumentError(
                f"{who}: {name} must be an integer{extra}, got {value!r} of type "
                f"{type(value).__name__}"
            )
    for name, number in {
        "lr": lr,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "label_smoothing": label_smoothing,
    }.items():
        if not isinstance(number, numbers.Real) or isinstance(number, np.bool_ | bool):
            raise InvalidArgumentError(
                f"{who}: {name} must be a number, got {number!r} of type {type(number).__name__}"
            )
    problems = [
        (epochs >= 1, f"epochs must be >= 1, got {epochs}"),
        (batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"),
        (
            optimizer in optimizers,
            f"optimizer must be one of {tuple(optimizers)}, got {optimizer!r}",
        ),
        (lr > 0 and math.isfinite(lr), f"lr must be a positive number, got {lr}"),
        (0 <= momentum < 1, f"momentum must be in [0, 1), got {momentum}"),
        (weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}"),
        (0 <= label_smoothing < 1, f"label_smoothing must be in [0, 1), got {label_smoothing}"),
        (num_workers >= 0, f"num_workers must be >= 0, got {num_workers}"),
        (
            isinstance(train_backbone, bool) or train_backbone >= 0,
            f"train_backbone must be a bool or an epoch count >= 0, got {train_backbone}",
        ),
    ]
    for ok, message in problems:
        if not ok:
            raise InvalidArgumentError(f"{who}: {message}")
    classes = getattr(train, "classes", None)
    if not classes:
        raise InvalidArgumentError(
            f"{who}: the train set has no 'classes' (a list of label names); use a "
            "logobrand.data dataset or give yours a classes attribute"
        )
    if len(train) == 0:
        raise InvalidArgumentError(f"{who}: the train set is empty")
    for name, ds in (("val", val), ("test", test)):
        if ds is not None and list(ds.classes) != list(classes):
            raise InvalidArgumentError(
                f"{who}: the {name} set's classes {list(ds.classes)} differ from the "
                f"train set's {list(classes)}; build every split with the same classes"
            )
    return list(classes)


class Trainer:
    """Train a classifier epoch by epoch, like the MXNet tutorial's loop, with callbacks.

    Args:
        model: A ``torch.nn.Module`` mapping ``(N, 3, S, S)`` float32 to ``(N, C)`` logits,
            for example from :func:`logobrand.models.create_model`.
        train: Training set (see :class:`Dataset`); its ``classes`` define the labels.
        val: Optional validation set with the same ``classes``.
        test: Optional test set with the same ``classes``.
        epochs: Total number of epochs (a resumed run continues up to this number).
        batch_size: Images per step.
        optimizer: ``"sgd"`` (with ``momentum``), ``"adam"`` or ``"adamw"``.
        lr: Learning rate.
        momentum: SGD momentum.
        weight_decay: Weight decay (L2 for sgd/adam, decoupled for adamw).
        train_backbone: ``True`` trains every layer; ``False`` trains only ``model.head``
            (backbone weights and BatchNorm statistics stay fixed); an integer ``n`` freezes
            the backbone for the first ``n`` epochs, then trains everything. Freezing needs
            a model with ``head`` and ``backbone_parameters()`` (every built-in model).
        class_weights: ``None``, ``"balanced"`` (``n_samples / (n_classes * count_c)``) or one
            weight per class, for the cross-entropy loss.
        callbacks: :class:`~logobrand.training.callbacks.Callback` instances.
        seed: Seeds torch, numpy and ``random`` at the start of :meth:`fit`, and the
            loaders' shuffling.
        num_workers: Decoding processes per loader.
        label_smoothing: Cross-entropy label smoothing in ``[0, 1)``.
        progress: Add a :class:`~logobrand.training.callbacks.ProgressBar` (unless one is
            given). Epoch summaries are always logged at INFO level on ``logobrand.training``.
        loader_factory: Makes the batch loaders; defaults to
            :class:`logobrand.data.loader.BatchLoader` (see :data:`LoaderFactory`).

    Attributes:
        history: The :class:`History` so far.
        epoch: Number of completed epochs.
        stop_training: Set by a callback to end training after the current epoch.
        failures: ``{path: reason}`` of every image that failed to decode and was skipped.
        optimizer: The ``torch.optim.Optimizer``.

    Raises:
        InvalidArgumentError: An argument is out of range or the datasets disagree.
    """

    def __init__(
        self,
        model: nn.Module,
        train: Dataset,
        val: Dataset | None = None,
        test: Dataset | None = None,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: str = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 1e-3,
        train_backbone: bool | int = True,
        class_weights: str | Sequence[float] | None = None,
        callbacks: Sequence[Callback] = (),
        seed: int = 0,
        num_workers: int = 2,
        label_smoothing: float = 0.0,
        progress: bool = True,
        loader_factory: LoaderFactory | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(
                f"model must be a torch.nn.Module, got {type(model).__name__}"
            )
        classes = check_fit_arguments(
            "Trainer",
            train,
            val,
            test,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            optimizers=OPTIMIZERS,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            label_smoothing=label_smoothing,
            num_workers=num_workers,
            train_backbone=train_backbone,
        )
        if train_backbone is not True and not (
            isinstance(getattr(model, "head", None), nn.Module)
            and callable(getattr(model, "backbone_parameters", None))
        ):
            raise InvalidArgumentError(
                f"Trainer: train_backbone={train_backbone!r} needs a model with a 'head' module "
                f"and backbone_parameters(); {type(model).__name__} has not (every "
                "logobrand.models architecture has them)"
            )
        self.model = model
        self.train = train
        self.val = val
        self.test = test
        self.classes: list[str] = list(classes)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.optimizer_name = optimizer
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.train_backbone = train_backbone
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.label_smoothing = float(label_smoothing)
        self.class_weights = self._class_weights(class_weights)
        self.callbacks: list[Callback] = list(callbacks)
        if progress and not any(isinstance(cb, ProgressBar) for cb in self.callbacks):
            self.callbacks.insert(0, ProgressBar())
        self._loader_factory = loader_factory
        self.optimizer = self._make_optimizer()
        self.criterion = nn.CrossEntropyLoss(
            weight=None if self.class_weights is None else torch.tensor(self.class_weights),
            label_smoothing=self.label_smoothing,
        )
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.failures: dict[str, str] = {}
        self._ordered: list[Callback] = []

    # -- configuration -------------------------------------------------------------------------

    def _class_weights(self, spec: str | Sequence[float] | None) -> list[float] | None:
        n = len(self.classes)
        if spec is None:
            return None
        if isinstance(spec, str):
            if spec != "balanced":
                raise InvalidArgumentError(
                    f"Trainer: class_weights must be None, 'balanced' or {n} numbers, got {spec!r}"
                )
            return balanced_class_weights(_targets(self.train), n)
        weights = [float(w) for w in spec]
        if len(weights) != n or any(not (w >= 0 and math.isfinite(w)) for w in weights):
            raise InvalidArgumentError(
                f"Trainer: class_weights needs {n} finite weights >= 0 (one per class "
                f"{self.classes}), got {list(spec)}"
            )
        return weights

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = list(self.model.parameters())
        if self.optimizer_name == "sgd":
            return torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        if self.optimizer_name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

    @property
    def steps_per_epoch(self) -> int:
        """Training steps per epoch (batches of the train set)."""
        return math.ceil(len(self.train) / self.batch_size)

    def summary(self) -> dict[str, Any]:
        """Return the trainer's settings as a JSON-ready dictionary."""
        return {
            "model": type(self.model).__name__,
            "classes": list(self.classes),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer_name,
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "train_backbone": self.train_backbone,
            "class_weights": self.class_weights,
            "label_smoothing": self.label_smoothing,
            "seed": self.seed,
            "train_size": len(self.train),
            "val_size": None if self.val is None else len(self.val),
            "test_size": None if self.test is None else len(self.test),
        }

    def backbone_frozen(self, epoch: int) -> bool:
        """Whether the backbone is frozen during epoch ``epoch`` (1-based)."""
        if self.train_backbone is True:
            return False
        if self.train_backbone is False:
            return True
        return epoch <= int(self.train_backbone)

    # -- loops ---------------------------------------------------------------------------------

    def _make_loader(self, dataset: Dataset, shuffle: bool) -> Iterable[Any]:
        factory = self._loader_factory or _default_loader_factory()
        return factory(
            dataset,
            self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            num_workers=self.num_workers,
            drop_last=False,
        )

    def _set_mode(self, epoch: int) -> bool:
        frozen = self.backbone_frozen(epoch)
        self.model.train()
        if frozen or self.train_backbone is not True:
            backbone = list(self.model.backbone_parameters())  # type: ignore[operator]
            for p in backbone:
                p.requires_grad_(not frozen)
            if frozen:
                self.model.eval()
                head: nn.Module = self.model.head  # type: ignore[assignment]
                head.train()
        return frozen

    def _note_failures(self, loader: Iterable[Any], split: str) -> int:
        """Record the failures of the loader's latest pass; return how many there were."""
        failures = list(getattr(loader, "failures", None) or [])
        unseen = [(str(p), str(r)) for p, r in failures if str(p) not in self.failures]
        for path, reason in unseen:
            self.failures[path] = reason
        if unseen:
            shown = ", ".join(Path(p).name for p, _ in unseen[:10])
            more = f" and {len(unseen) - 10} more" if len(unseen) > 10 else ""
            logger.warning(
                "skipped %d image(s) of the %s set that cannot be decoded: %s%s "
                "(reasons in Trainer.failures)",
                len(unseen),
                split,
                shown,
                more,
            )
        return len(failures)

    @staticmethod
    def _tensors(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        images = np.asarray(batch.images)
        if images.dtype != np.float32 or images.ndim != 4:
            raise InvalidArgumentError(
                f"batches must hold preprocessed float32 (N, 3, S, S) images, got "
                f"{images.dtype} {images.shape}; give the datasets a transform such as "
                "logobrand.transforms.train_transform / eval_transform"
            )
        return torch.from_numpy(images), torch.from_numpy(np.asarray(batch.labels, dtype=np.int64))

    def _check_logits(self, logits: torch.Tensor, n: int) -> None:
        expected = (n, len(self.classes))
        if tuple(logits.shape) != expected:
            raise InvalidArgumentError(
                f"the model returned logits of shape {tuple(logits.shape)}, expected {expected} "
                f"({len(self.classes)} classes); build it with num_classes={len(self.classes)}"
            )

    def _train_epoch(self, loader: Iterable[Any], epoch: int) -> tuple[float, float, int]:
        total_loss, correct, seen = 0.0, 0, 0
        for step, batch in enumerate(loader):
            x, y = self._tensors(batch)
            n = int(y.shape[0])
            if n == 0:
                continue
            logits = self.model(x)
            if seen == 0:
                self._check_logits(logits, n)
            loss = self.criterion(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            value = float(loss.item())
            total_loss += value * n
            correct += int((logits.argmax(1) == y).sum().item())
            seen += n
            for cb in self._ordered:
                cb.on_batch_end(self, step, {"loss": value, "size": n, "epoch": epoch})
        if seen == 0:
            self._note_failures(loader, "train")  # the count below includes this pass
            shown = "; ".join(f"{p}: {r}" for p, r in list(self.failures.items())[:3])
            raise DatasetLayoutError(
                f"epoch {epoch}: no training image could be decoded ({len(self.failures)} "
                f"failures, e.g. {shown}; all in Trainer.failures); check the dataset files"
            )
        return total_loss / seen, correct / seen, seen

    def _evaluate_loader(self, loader: Iterable[Any]) -> tuple[float | None, float | None]:
        was_training = self.model.training
        self.model.eval()
        total_loss, correct, seen = 0.0, 0, 0
        try:
            with torch.no_grad():
                for batch in loader:
                    x, y = self._tensors(batch)
                    n = int(y.shape[0])
                    if n == 0:
                        continue
                    logits = self.model(x)
                    self._check_logits(logits, n)
                    total_loss += float(self.criterion(logits, y).item()) * n
                    correct += int((logits.argmax(1) == y).sum().item())
                    seen += n
        finally:
            self.model.train(was_training)
        if seen == 0:
            return None, None
        return correct / seen, total_loss / seen

    def evaluate(self, dataset: Dataset) -> dict[str, Any]:
        """Return ``accuracy``, ``loss``, ``n`` and ``skipped`` of the model on ``dataset``.

        Images that fail to decode are skipped, counted and recorded in :attr:`failures`.
        ``accuracy`` and ``loss`` are ``None`` when no image could be decoded.
        """
        loader = self._make_loader(dataset, shuffle=False)
        try:
            acc, loss = self._evaluate_loader(loader)
            skipped = self._note_failures(loader, "evaluated")
        finally:
            _close(loader)
        return {"accuracy": acc, "loss": loss, "n": len(dataset) - skipped, "skipped": skipped}

    def format_epoch(self, logs: Mapping[str, Any]) -> str:
        """Format a history row like the tutorial's log line."""
        parts = [
            f"[Epoch {logs['epoch']}] Train-acc: {logs['train_accuracy']:.3f}, "
            f"loss: {logs['loss']:.3f}"
        ]
        if logs.get("val_accuracy") is not None:
            parts.append(f"Val-acc: {logs['val_accuracy']:.3f}")
        if logs.get("test_accuracy") is not None:
            parts.append(f"Test-acc: {logs['test_accuracy']:.3f}")
        parts.append(f"Time: {logs['seconds']:.1f}")
        if logs.get("skipped"):
            parts.append(f"Skipped: {logs['skipped']}")
        return " | ".join(parts)

    # -- fit -----------------------------------------------------------------------------------

    def fit(self, resume_from: str | os.PathLike[str] | None = None) -> History:
        """Train until :attr:`epochs` epochs are complete (or a callback stops training).

        Without ``resume_from``, the run starts at epoch 1 with a fresh history and seeded
        RNGs; the model and optimizer keep their current state. With ``resume_from`` (a
        :class:`~logobrand.training.callbacks.ModelCheckpoint` directory, whose ``last/``
        state is used, or any folder with ``trainer_state.json``), the model, optimizer,
        completed epoch count, history, RNG states and callback states are restored and
        training continues with the next epoch: no epoch is repeated or lost. A run that an
        :class:`~logobrand.training.callbacks.EarlyStopping` had stopped stays stopped.

        Returns:
            The :attr:`history` (restored rows included).

        Raises:
            ModelFormatError: ``resume_from`` holds no usable training state, or one of
                another model, optimizer or class list.
            DatasetLayoutError: No training image of an epoch could be decoded.
        """
        if resume_from is not None:
            self.load_state(find_training_state(resume_from))
            logger.info("resuming after epoch %d from %s", self.epoch, resume_from)
        else:
            self.history = History()
            self.epoch = 0
            self.stop_training = False
            torch.manual_seed(self.seed)
            np.random.seed(self.seed)
            random.seed(self.seed)
        self._ordered = sorted(self.callbacks, key=lambda cb: cb.order)
        loaders: list[Iterable[Any]] = []
        try:
            for cb in self._ordered:
                cb.on_train_begin(self)
            if self.stop_training:
                logger.info("training had stopped early after epoch %d; nothing to do", self.epoch)
            elif self.epoch >= self.epochs:
                logger.info("all %d epochs are already complete", self.epochs)
            else:
                train_loader = self._make_loader(self.train, shuffle=True)
                loaders.append(train_loader)
                evals = []
                for split, ds in (("val", self.val), ("test", self.test)):
                    if ds is not None:
                        loader = self._make_loader(ds, shuffle=False)
                        loaders.append(loader)
                        evals.append((split, loader))
                while self.epoch < self.epochs and not self.stop_training:
                    self._run_epoch(self.epoch + 1, train_loader, evals)
        finally:
            for cb in self._ordered:
                cb.on_train_end(self)
            for loader in loaders:
                _close(loader)
        return self.history

    def _run_epoch(
        self, epoch: int, train_loader: Iterable[Any], evals: list[tuple[str, Iterable[Any]]]
    ) -> None:
        start = time.perf_counter()
        for cb in self._ordered:
            cb.on_epoch_begin(self, epoch)
        self._set_mode(epoch)
        _set_epoch(train_loader, epoch)
        loss, train_acc, _ = self._train_epoch(train_loader, epoch)
        skipped = self._note_failures(train_loader, "train")
        results: dict[str, tuple[float | None, float | None]] = {}
        for split, loader in evals:
            results[split] = self._evaluate_loader(loader)
            skipped += self._note_failures(loader, split)
        val_acc, val_loss = results.get("val", (None, None))
        test_acc, _ = results.get("test", (None, None))
        logs: dict[str, Any] = {
            "epoch": epoch,
            "loss": loss,
            "train_accuracy": train_acc,
            "val_accuracy": val_acc,
            "val_loss": val_loss,
            "test_accuracy": test_acc,
            "seconds": time.perf_counter() - start,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "skipped": skipped,
        }
        self.history.append(logs)
        self.epoch = epoch
        logger.info("%s", self.format_epoch(logs))
        for cb in self._ordered:
            cb.on_epoch_end(self, epoch, logs)

    # -- state ---------------------------------------------------------------------------------

    def _callback_keys(self) -> list[tuple[str, Callback]]:
        seen: Counter[str] = Counter()
        keyed = []
        for cb in self.callbacks:
            name = type(cb).__name__
            seen[name] += 1
            keyed.append((name if seen[name] == 1 else f"{name}#{seen[name]}", cb))
        return keyed

    def state_info(self) -> dict[str, Any]:
        """Return the JSON half of the training state (without RNG and optimizer)."""
        return {
            "kind": "logobrand.trainer_state",
            "epoch": self.epoch,
            "history": [dict(row) for row in self.history],
            "stop_training": self.stop_training,
            "classes": list(self.classes),
            "optimizer_name": self.optimizer_name,
            "trainer": self.summary(),
            "callbacks": {key: cb.state_dict() for key, cb in self._callback_keys()},
            "failures": [[p, r] for p, r in self.failures.items()],
        }

    def encode_state(self) -> tuple[bytes, dict[str, Any]]:
        """Encode the full training state: ``(safetensors bytes, JSON dict)``.

        See :func:`logobrand.training.state.encode_training_state`.
        """
        return encode_training_state(self.model, self.optimizer, self.state_info())

    def save_state(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``trainer_state.safetensors`` + ``trainer_state.json`` to ``directory``,
        replacing it atomically; :meth:`fit` can resume from it."""
        import json

        from logobrand.training.state import STATE_JSON, STATE_TENSORS

        data, payload = self.encode_state()

        def write(folder: Path) -> None:
            (folder / STATE_TENSORS).write_bytes(data)
            (folder / STATE_JSON).write_text(json.dumps(payload, indent=1) + "\n", "utf-8")

        return replace_state_dir(directory, write)

    def load_state(self, directory: str | os.PathLike[str]) -> None:
        """Restore the model, optimizer, epoch, history, RNGs and callbacks from a state.

        Raises:
            ModelFormatError: The state is unreadable or belongs to another setup.
        """
        from logobrand.training.state import load_state_tensors

        state = load_training_state(directory)
        info = state.info
        source = state.directory
        if info.get("classes") != self.classes:
            raise ModelFormatError(
                f"the training state in {source} has classes {info.get('classes')} but the "
                f"train set has {self.classes}; resume with the same datasets"
            )
        saved_opt = info.get("optimizer_name")
        if saved_opt != self.optimizer_name:
            raise ModelFormatError(
                f"the training state in {source} was made with optimizer={saved_opt!r}; "
                f"resume with the same optimizer (this Trainer uses {self.optimizer_name!r})"
            )
        load_state_tensors(self.model, state.model_state, source=str(source))
        if state.optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(state.optimizer_state)
            except (ValueError, KeyError, RuntimeError) as exc:
                raise ModelFormatError(
                    f"the optimizer state in {source} does not fit this model: {exc}"
                ) from exc
        restore_progress(self, state)


def restore_progress(trainer: Any, state: TrainingState) -> None:
    """Restore a trainer's history, epoch, stop flag, failures, RNGs and callback states from
    a loaded training state (shared by :class:`Trainer` and the MXNet backend's trainer).

    Raises:
        ModelFormatError: The state's JSON half is malformed (edited by hand).
    """
    info = state.info
    try:
        trainer.history = History(dict(row) for row in info.get("history", []))
        trainer.epoch = int(info.get("epoch", len(trainer.history)))
        trainer.stop_training = bool(info.get("stop_training", False))
        for path, reason in info.get("failures", []):
            trainer.failures.setdefault(str(path), str(reason))
        restore_rng(state.rng)
        saved = info.get("callbacks", {})
        for key, cb in trainer._callback_keys():
            if key in saved:
                cb.load_state_dict(saved[key])
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelFormatError(
            f"the training state in {state.directory} is malformed ({type(exc).__name__}: "
            f"{exc}); was it edited by hand? resume from another checkpoint"
        ) from exc


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    set_epoch = getattr(loader, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def _close(loader: Iterable[Any]) -> None:
    close = getattr(loader, "close", None)
    if callable(close):
        close()


__all__ = [
    "HISTORY_KEYS",
    "OPTIMIZERS",
    "Dataset",
    "History",
    "LoaderFactory",
    "Trainer",
    "balanced_class_weights",
]
