"""The :class:`GluonTrainer`: logobrand's training loop, callbacks and checkpoints for Gluon nets.

It takes the same arguments as :class:`logobrand.training.Trainer` and behaves the same way:
the same :class:`~logobrand.data.loader.BatchLoader` batches, the same callbacks
(:class:`~logobrand.training.ModelCheckpoint`, :class:`~logobrand.training.EarlyStopping`,
:class:`~logobrand.training.HistoryLogger`, progress bar), the same :class:`History` rows and
log line, and resumable training states. Only the network and optimizer are MXNet's, so the
tutorial's exact recipe (Gluon ``resnet18_v2``, ``sgd``) runs through logobrand's API.

:attr:`GluonTrainer.net` is the Gluon network being trained; :attr:`GluonTrainer.model` is a
torch copy of its current weights (logobrand's architecture of the same name), which is what
:class:`~logobrand.training.ModelCheckpoint` exports: every ``best/`` folder is a complete
logobrand model directory (ONNX + safetensors + config) that runs without MXNet.

Needs MXNet (``pip install 'logobrand[mxnet]'``) and torch for the checkpoints' ONNX export.

Example:
    >>> from logobrand.backends.mxnet import GluonTrainer, create_gluon_model  # doctest: +SKIP
    >>> net = create_gluon_model("resnet18_v2", num_classes=len(train.classes))  # doctest: +SKIP
    >>> trainer = GluonTrainer(net, train, val, epochs=20, batch_size=40, lr=0.01,
    ...                        momentum=0.0, weight_decay=0.001,
    ...                        callbacks=[ModelCheckpoint("runs/gluon")])  # doctest: +SKIP
    >>> history = trainer.fit()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from logobrand.backends.mxnet._runtime import check_contexts, import_mxnet
from logobrand.backends.mxnet.models import structural_params
from logobrand.errors import DatasetLayoutError, InvalidArgumentError, ModelFormatError
from logobrand.training.callbacks import Callback, ProgressBar
from logobrand.training.state import (
    STATE_FORMAT_VERSION,
    STATE_JSON,
    STATE_TENSORS,
    find_training_state,
    load_training_state,
    replace_state_dir,
)
from logobrand.training.trainer import (
    Dataset,
    History,
    LoaderFactory,
    balanced_class_weights,
    check_fit_arguments,
    restore_progress,
)

logger = logging.getLogger("logobrand.training")

OPTIMIZERS = ("sgd", "adam")
"""Optimizers of the Gluon path (MXNet 1.9 has no AdamW)."""

BACKEND = "mxnet"


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


def _close(loader: Iterable[Any]) -> None:
    close = getattr(loader, "close", None)
    if callable(close):
        close()


class GluonTrainer:
    """Train a Gluon network with logobrand's loop, callbacks and checkpoints.

    Args:
        model: A Gluon ``HybridBlock`` from
            :func:`~logobrand.backends.mxnet.create_gluon_model` (initialised), mapping
            ``(N, 3, S, S)`` to ``(N, C)`` logits.
        train: Training set; its ``classes`` define the labels.
        val: Optional validation set with the same ``classes``.
        test: Optional test set with the same ``classes``.
        epochs: Total number of epochs (a resumed run continues up to this number).
        batch_size: Images per step.
        optimizer: ``"sgd"`` (with ``momentum``; Gluon's ``sgd`` without momentum is
            ``momentum=0``) or ``"adam"``.
        lr: Learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay (Gluon's ``wd``).
        train_backbone: ``True`` trains every layer; ``False`` trains only ``net.output``
            (the backbone runs in inference mode: fixed BatchNorm statistics, no dropout);
            an integer ``n`` freezes the backbone for the first ``n`` epochs.
        class_weights: ``None``, ``"balanced"`` or one weight per class.
        callbacks: logobrand callbacks; they receive this trainer.
        seed: Seeds numpy, ``random`` and MXNet at the start of :meth:`fit` (MXNet's RNG,
            which drives dropout, is re-seeded from ``seed`` and the epoch number at every
            epoch, so a resumed run draws the same numbers), and the loaders' shuffling.
        num_workers: Decoding processes per loader.
        label_smoothing: Cross-entropy label smoothing in ``[0, 1)``.
        progress: Add a progress bar unless one is given.
        loader_factory: Makes the batch loaders (default ``BatchLoader``).
        ctx: MXNet context(s) of the net, e.g. ``mx.gpu(0)``; default: where its parameters
            are.
        hybridize: Call ``net.hybridize()`` before training (faster).

    Attributes:
        net: The Gluon network. model: A torch copy of its current weights (property).
        history: The :class:`~logobrand.training.History`. epoch: Completed epochs.
        stop_training: Set by a callback to stop after the current epoch.
        failures: ``{path: reason}`` of images that failed to decode.
        optimizer: The ``mxnet.gluon.Trainer``.

    Raises:
        InvalidArgumentError: An argument is out of range or of the wrong type (``ctx``
            included), or the datasets disagree.
        MissingExtraError: MXNet is not usable here, or ``ctx`` names a GPU and this MXNet
            build has no GPU support.
    """

    def __init__(
        self,
        model: Any,
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
        ctx: Any = None,
        hybridize: bool = True,
    ) -> None:
        mx = import_mxnet()
        self._mx = mx
        if not isinstance(model, mx.gluon.Block):
            raise InvalidArgumentError(
                f"GluonTrainer needs a Gluon block, got {type(model).__name__}; build one with "
                "logobrand.backends.mxnet.create_gluon_model (torch models go to "
                "logobrand.training.Trainer)"
            )
        classes = check_fit_arguments(
            "GluonTrainer",
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
            isinstance(getattr(model, "features", None), mx.gluon.Block)
            and isinstance(getattr(model, "output", None), mx.gluon.Block)
        ):
            raise InvalidArgumentError(
                f"GluonTrainer: train_backbone={train_backbone!r} needs a net with 'features' and "
                f"'output' blocks; {type(model).__name__} has not"
            )
        self.net = model
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
        self._hybridize = bool(hybridize)
        self._params = structural_params(model)
        first = next(iter(self._params.values()))
        self.ctx: list[Any] = (
            check_contexts(ctx, "GluonTrainer") if ctx is not None else list(first.list_ctx())
        )
        self._grad_req = {name: p.grad_req for name, p in self._params.items()}
        head = (
            {id(p) for p in model.output.collect_params().values()}
            if hasattr(model, "output")
            else set()
        )
        self._backbone = [n for n, p in self._params.items() if id(p) not in head]
        self.optimizer = self._make_optimizer()
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.failures: dict[str, str] = {}
        self._ordered: list[Callback] = []
        self._torch_model: Any = None
        self._torch_version = -1
        self._version = 0

    # -- configuration -------------------------------------------------------------------------

    def _class_weights(self, spec: str | Sequence[float] | None) -> list[float] | None:
        n = len(self.classes)
        if spec is None:
            return None
        if isinstance(spec, str):
            if spec != "balanced":
                raise InvalidArgumentError(
                    f"GluonTrainer: class_weights must be None, 'balanced' or {n} numbers, "
                    f"got {spec!r}"
                )
            return balanced_class_weights(_targets(self.train), n)
        weights = [float(w) for w in spec]
        if len(weights) != n or any(not (w >= 0 and math.isfinite(w)) for w in weights):
            raise InvalidArgumentError(
                f"GluonTrainer: class_weights needs {n} finite weights >= 0 (one per class "
                f"{self.classes}), got {list(spec)}"
            )
        return weights

    def _make_optimizer(self) -> Any:
        params: dict[str, Any] = {"learning_rate": self.lr, "wd": self.weight_decay}
        if self.optimizer_name == "sgd":
            params["momentum"] = self.momentum
        return self._mx.gluon.Trainer(
            self.net.collect_params(), self.optimizer_name, params, update_on_kvstore=False
        )

    @property
    def model(self) -> Any:
        """A torch copy of the net's current weights (logobrand's model of the same
        architecture), rebuilt when the weights changed; what checkpoints export."""
        if self._torch_model is None or self._torch_version != self._version:
            from logobrand.backends.mxnet.importer import gluon_net_to_torch

            self._torch_model = gluon_net_to_torch(self.net)
            self._torch_version = self._version
        return self._torch_model

    @property
    def steps_per_epoch(self) -> int:
        """Training steps per epoch."""
        return math.ceil(len(self.train) / self.batch_size)

    def summary(self) -> dict[str, Any]:
        """Return the trainer's settings as a JSON-ready dictionary."""
        return {
            "backend": BACKEND,
            "model": f"gluon.{type(self.net).__name__}",
            "architecture": getattr(self.net, "architecture", None),
            "classes": list(self.classes),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer_name,
            "lr": self.lr,
            "momentum": self.momentum if self.optimizer_name == "sgd" else None,
            "weight_decay": self.weight_decay,
            "train_backbone": self.train_backbone,
            "class_weights": self.class_weights,
            "label_smoothing": self.label_smoothing,
            "seed": self.seed,
            "train_size": len(self.train),
            "val_size": None if self.val is None else len(self.val),
            "test_size": None if self.test is None else len(self.test),
            "mxnet": str(getattr(self._mx, "__version__", "?")),
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
        if self._loader_factory is not None:
            factory = self._loader_factory
        else:
            from logobrand.data.loader import BatchLoader

            factory = BatchLoader
        return factory(
            dataset,
            self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            num_workers=self.num_workers,
            drop_last=False,
        )

    def _set_frozen(self, frozen: bool) -> None:
        for name in self._backbone:
            param = self._params[name]
            wanted = "null" if frozen else self._grad_req[name]
            if param.grad_req != wanted:
                param.grad_req = wanted

    def _note_failures(self, loader: Iterable[Any], split: str) -> int:
        failures = list(getattr(loader, "failures", None) or [])
        unseen = [(str(p), str(r)) for p, r in failures if str(p) not in self.failures]
        for path, reason in unseen:
            self.failures[path] = reason
        if unseen:
            shown = ", ".join(Path(p).name for p, _ in unseen[:10])
            more = f" and {len(unseen) - 10} more" if len(unseen) > 10 else ""
            logger.warning(
                "skipped %d image(s) of the %s set that cannot be decoded: %s%s "
                "(reasons in GluonTrainer.failures)",
                len(unseen),
                split,
                shown,
                more,
            )
        return len(failures)

    def _arrays(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(batch.images)
        if images.dtype != np.float32 or images.ndim != 4:
            raise InvalidArgumentError(
                f"batches must hold preprocessed float32 (N, 3, S, S) images, got "
                f"{images.dtype} {images.shape}; give the datasets a transform such as "
                "logobrand.transforms.train_transform / eval_transform"
            )
        return images, np.asarray(batch.labels, dtype=np.int64)

    def _check_logits(self, shape: tuple[int, ...], n: int) -> None:
        expected = (n, len(self.classes))
        if tuple(shape) != expected:
            raise InvalidArgumentError(
                f"the net returned logits of shape {tuple(shape)}, expected {expected} "
                f"({len(self.classes)} classes); build it with num_classes={len(self.classes)}"
            )

    def _split(self, images: np.ndarray, labels: np.ndarray) -> list[tuple[Any, Any]]:
        """Slice a batch over the contexts (one slice per device)."""
        nd = self._mx.nd
        parts = np.array_split(np.arange(len(labels)), min(len(self.ctx), len(labels)))
        return [
            (nd.array(images[idx], ctx=c), nd.array(labels[idx], ctx=c, dtype="int64"))
            for idx, c in zip(parts, self.ctx, strict=False)
        ]

    def _weight_total(self, labels: np.ndarray) -> float:
        """The loss normaliser of a batch: its size, or the sum of its class weights."""
        if self.class_weights is None:
            return float(len(labels))
        return float(np.asarray(self.class_weights, dtype=np.float64)[labels].sum())

    def _loss_sum(self, logits: Any, y: Any) -> Any:
        """Sum over the batch of torch's (weighted, smoothed) cross-entropy terms."""
        nd = self._mx.nd
        logp = nd.log_softmax(logits, axis=1)
        nll = -nd.pick(logp, y, axis=1)
        eps = self.label_smoothing
        if self.class_weights is None:
            per = nll if eps == 0 else (1 - eps) * nll - eps * logp.mean(axis=1)
            return per.sum()
        w = nd.array(self.class_weights, ctx=logits.context)
        per = nd.take(w, y) * nll
        if eps:
            smooth = -nd.broadcast_mul(logp, w.reshape((1, -1))).sum(axis=1)
            per = (1 - eps) * per + eps / len(self.classes) * smooth
        return per.sum()

    def _run_net(self, x: Any, frozen: bool = False) -> Any:
        """Logits of ``x``, with MXNet's shape errors turned into an error that says what to do."""
        try:
            return self._forward(x, frozen)
        except self._mx.base.MXNetError as exc:
            first = str(exc).strip().splitlines()[-1][:300]
            raise InvalidArgumentError(
                f"the Gluon {type(self.net).__name__} cannot run on a batch of shape "
                f"{tuple(x.shape)}: {first}; give the datasets transforms of the input size the "
                "net expects (224 x 224 for scratch_cnn and resnet18_v2, 32 x 32 for a "
                "thumbnail resnet18_v2)"
            ) from exc

    def _forward(self, x: Any, frozen: bool) -> Any:
        """Logits of ``x``; called while autograd records."""
        if frozen:
            # The backbone runs in inference mode (fixed BN statistics, no dropout) and is
            # not recorded: only the output layer learns, as with torch's frozen backbone.
            with self._mx.autograd.pause(train_mode=False):
                features = self.net.features(x)
            return self.net.output(features)
        return self.net(x)

    def _train_epoch(self, loader: Iterable[Any], epoch: int, frozen: bool) -> tuple[float, float]:
        autograd = self._mx.autograd
        total_loss, correct, seen = 0.0, 0, 0
        for step, batch in enumerate(loader):
            images, labels = self._arrays(batch)
            n = len(labels)
            if n == 0:
                continue
            norm = self._weight_total(labels)
            scale = 1.0 / norm if norm > 0 else 0.0
            losses, outputs = [], []
            with autograd.record():
                for x, y in self._split(images, labels):
                    logits = self._run_net(x, frozen)
                    losses.append(self._loss_sum(logits, y) * scale)
                    outputs.append(logits)
            if seen == 0:
                self._check_logits((sum(o.shape[0] for o in outputs), *outputs[0].shape[1:]), n)
            autograd.backward(losses)
            self.optimizer.step(1)
            self._version += 1
            value = sum(float(loss.asscalar()) for loss in losses)
            predicted = np.concatenate([o.argmax(axis=1).asnumpy() for o in outputs])
            total_loss += value * n
            correct += int((predicted.astype(np.int64) == labels).sum())
            seen += n
            for cb in self._ordered:
                cb.on_batch_end(cast(Any, self), step, {"loss": value, "size": n, "epoch": epoch})
        if seen == 0:
            raise DatasetLayoutError(
                f"epoch {epoch}: no training image could be decoded ({len(self.failures)} "
                "failures; see GluonTrainer.failures); check the dataset files"
            )
        return total_loss / seen, correct / seen

    def _evaluate_loader(self, loader: Iterable[Any]) -> tuple[float | None, float | None]:
        total_loss, total_weight, correct, seen = 0.0, 0.0, 0, 0
        for batch in loader:
            images, labels = self._arrays(batch)
            n = len(labels)
            if n == 0:
                continue
            predicted = []
            for x, y in self._split(images, labels):
                logits = self._run_net(x)  # not recording: inference mode
                self._check_logits(tuple(logits.shape), int(y.shape[0]))
                total_loss += float(self._loss_sum(logits, y).asscalar())
                predicted.append(logits.argmax(axis=1).asnumpy())
            correct += int((np.concatenate(predicted).astype(np.int64) == labels).sum())
            total_weight += self._weight_total(labels)
            seen += n
        if seen == 0:
            return None, None
        return correct / seen, total_loss / total_weight if total_weight > 0 else float("nan")

    def evaluate(self, dataset: Dataset) -> dict[str, Any]:
        """Return ``accuracy``, ``loss``, ``n`` and ``skipped`` of the net on ``dataset``."""
        loader = self._make_loader(dataset, shuffle=False)
        try:
            acc, loss = self._evaluate_loader(loader)
            skipped = self._note_failures(loader, "evaluated")
        finally:
            _close(loader)
        return {"accuracy": acc, "loss": loss, "n": len(dataset) - skipped, "skipped": skipped}

    def format_epoch(self, logs: Mapping[str, Any]) -> str:
        """Format a history row like the tutorial's log line (as the torch Trainer does)."""
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

        ``resume_from`` is a :class:`~logobrand.training.ModelCheckpoint` directory (or a
        folder with ``trainer_state.json``) written by a :class:`GluonTrainer`: the net,
        optimizer state, epoch, history, RNGs and callback states are restored and training
        continues with the next epoch.

        Returns:
            The :attr:`history`.

        Raises:
            ModelFormatError: ``resume_from`` holds no usable Gluon training state.
            DatasetLayoutError: No training image of an epoch could be decoded.
        """
        if resume_from is not None:
            self.load_state(find_training_state(resume_from))
            logger.info("resuming after epoch %d from %s", self.epoch, resume_from)
        else:
            self.history = History()
            self.epoch = 0
            self.stop_training = False
            np.random.seed(self.seed)
            random.seed(self.seed)
            self._mx.random.seed(self.seed)
        if self._hybridize:
            self.net.hybridize()
        self._ordered = sorted(self.callbacks, key=lambda cb: cb.order)
        loaders: list[Iterable[Any]] = []
        try:
            for cb in self._ordered:
                cb.on_train_begin(cast(Any, self))
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
            self._set_frozen(False)
            for cb in self._ordered:
                cb.on_train_end(cast(Any, self))
            for loader in loaders:
                _close(loader)
        return self.history

    def _run_epoch(
        self, epoch: int, train_loader: Iterable[Any], evals: list[tuple[str, Iterable[Any]]]
    ) -> None:
        start = time.perf_counter()
        for cb in self._ordered:
            cb.on_epoch_begin(cast(Any, self), epoch)
        frozen = self.backbone_frozen(epoch)
        self._set_frozen(frozen)
        self._mx.random.seed(self.seed * 100_003 + epoch)
        set_epoch = getattr(train_loader, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        loss, train_acc = self._train_epoch(train_loader, epoch, frozen)
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
            "lr": float(self.optimizer.learning_rate),
            "skipped": skipped,
        }
        self.history.append(logs)
        self.epoch = epoch
        logger.info("%s", self.format_epoch(logs))
        for cb in self._ordered:
            cb.on_epoch_end(cast(Any, self), epoch, logs)

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
            "backend": BACKEND,
            "epoch": self.epoch,
            "history": [dict(row) for row in self.history],
            "stop_training": self.stop_training,
            "classes": list(self.classes),
            "optimizer_name": self.optimizer_name,
            "trainer": self.summary(),
            "callbacks": {key: cb.state_dict() for key, cb in self._callback_keys()},
            "failures": [[p, r] for p, r in self.failures.items()],
        }

    def _updaters(self) -> list[Any]:
        return list(getattr(self.optimizer, "_updaters", None) or [])

    def encode_state(self) -> tuple[bytes, dict[str, Any]]:
        """Encode the full training state: ``(safetensors bytes, JSON dict)``.

        Tensors: ``model/<Gluon structural name>``, ``optimizer/<index>/<path>`` (momentum or
        Adam moments), ``rng/numpy``. The JSON holds :meth:`state_info`, the optimizer's
        counters and state layout, the Python RNG state and the tensors' SHA-256, in the
        format of :mod:`logobrand.training.state` (``backend: "mxnet"``).
        """
        import hashlib

        from safetensors.numpy import save

        from logobrand.training.state import capture_rng

        tensors: dict[str, np.ndarray] = {
            f"model/{name}": np.ascontiguousarray(p.data(self.ctx[0]).asnumpy())
            for name, p in self._params.items()
        }
        layout: dict[str, Any] = {}
        updaters = self._updaters()
        if updaters:

            def flatten(value: Any, key: str) -> Any:
                if value is None:
                    return None
                if isinstance(value, list | tuple):
                    return [flatten(v, f"{key}.{i}") for i, v in enumerate(value)]
                tensors[f"optimizer/{key}"] = np.ascontiguousarray(value.asnumpy())
                return "array"

            for index, value in updaters[0].states.items():
                layout[str(index)] = flatten(value, str(index))
        opt = self.optimizer._optimizer
        optimizer_json = {
            "type": self.optimizer_name,
            "states": layout,
            "num_update": int(getattr(opt, "num_update", 0)),
            "index_update_count": {
                str(k): int(v) for k, v in getattr(opt, "_index_update_count", {}).items()
            },
            "learning_rate": float(self.optimizer.learning_rate),
        }
        rng = capture_rng()
        numpy_rng = dict(rng["numpy"])
        tensors["rng/numpy"] = np.asarray(numpy_rng.pop("keys"), dtype=np.int64)
        data = save(tensors)
        payload = {
            **json.loads(json.dumps(self.state_info(), default=_json_default)),
            "format_version": STATE_FORMAT_VERSION,
            "optimizer": None,
            "gluon_optimizer": optimizer_json,
            "rng": {"numpy": numpy_rng, "python": json.loads(json.dumps(rng["python"]))},
            "tensors_file": STATE_TENSORS,
            "tensors_sha256": hashlib.sha256(data).hexdigest(),
        }
        return data, payload

    def save_state(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``trainer_state.safetensors`` + ``trainer_state.json`` to ``directory``
        (replaced atomically); :meth:`fit` can resume from it."""
        data, payload = self.encode_state()
        text = json.dumps(payload, indent=1) + "\n"

        def write(folder: Path) -> None:
            (folder / STATE_TENSORS).write_bytes(data)
            (folder / STATE_JSON).write_text(text, encoding="utf-8")

        return replace_state_dir(directory, write)

    def load_state(self, directory: str | os.PathLike[str]) -> None:
        """Restore the net, optimizer, epoch, history, RNGs and callbacks from a state.

        Raises:
            ModelFormatError: The state is unreadable, was written by the torch Trainer, or
                belongs to another setup.
        """
        state = load_training_state(directory)
        info, source = state.info, state.directory
        if info.get("backend") != BACKEND:
            raise ModelFormatError(
                f"the training state in {source} was written by the torch Trainer; resume it "
                "with logobrand.training.Trainer (a GluonTrainer resumes only its own states)"
            )
        if info.get("classes") != self.classes:
            raise ModelFormatError(
                f"the training state in {source} has classes {info.get('classes')} but the "
                f"train set has {self.classes}; resume with the same datasets"
            )
        saved_opt = (info.get("gluon_optimizer") or {}).get("type")
        if saved_opt != self.optimizer_name:
            raise ModelFormatError(
                f"the training state in {source} was made with optimizer={saved_opt!r}; resume "
                f"with the same optimizer (this GluonTrainer uses {self.optimizer_name!r})"
            )
        nd = self._mx.nd
        arrays = {k: v.numpy() for k, v in state.model_state.items()}
        from logobrand.backends.mxnet.models import set_gluon_arrays

        set_gluon_arrays(self.net, arrays, source=str(source))
        self._version += 1
        self._restore_optimizer(info["gluon_optimizer"], state, nd)
        restore_progress(self, state)

    def _restore_optimizer(self, saved: Mapping[str, Any], state: Any, nd: Any) -> None:
        from safetensors.numpy import load

        tensors = load(Path(state.directory, STATE_TENSORS).read_bytes())

        def rebuild(spec: Any, key: str, ctx: Any) -> Any:
            if spec is None:
                return None
            if isinstance(spec, list):
                return tuple(rebuild(s, f"{key}.{i}", ctx) for i, s in enumerate(spec))
            name = f"optimizer/{key}"
            if name not in tensors:
                raise ModelFormatError(f"the training state in {state.directory} lacks {name}")
            return nd.array(tensors[name], ctx=ctx)

        for updater, ctx in zip(self._updaters(), self.ctx, strict=False):
            updater.states = {
                int(i): rebuild(spec, i, ctx) for i, spec in saved.get("states", {}).items()
            }
            updater.states_synced = {int(i): True for i in saved.get("states", {})}
        opt = self.optimizer._optimizer
        opt.num_update = int(saved.get("num_update", 0))
        opt._index_update_count = {
            int(k): int(v) for k, v in saved.get("index_update_count", {}).items()
        }
        if "learning_rate" in saved:
            self.optimizer.set_learning_rate(float(saved["learning_rate"]))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["OPTIMIZERS", "GluonTrainer"]
