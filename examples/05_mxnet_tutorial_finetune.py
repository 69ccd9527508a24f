"""The tutorial's fine-tune on MXNet/Gluon, run through logobrand's API (the ``mxnet`` extra).

The O'Reilly tutorial fine-tunes Gluon's ``resnet18_v2`` on the logo photos with SGD (learning
rate 0.01, weight decay 0.001, batches of 40, 20 epochs), 224-pixel random crops and
horizontal flips, and saves Gluon checkpoints such as ``ft-16.params``. This script runs that
recipe with logobrand's pieces around the Gluon network:

1. the photos of ``../shared/data`` (Logos-32plus + no-logo photos), split 80/20 per class;
2. ``create_backend_model("mxnet", "resnet18_v2", 33)`` (the same as ``create_model(...,
   backend="mxnet")``): Gluon's model-zoo network
   (``--weights`` loads a local Gluon ImageNet ``.params`` file, as the tutorial's
   ``pretrained=True`` did; logobrand never downloads one, so without it the network starts
   from random weights and a few epochs learn little);
3. :class:`~logobrand.backends.mxnet.GluonTrainer` with logobrand's callbacks: the tutorial's
   log line per epoch, ``ModelCheckpoint`` (``best/`` is a logobrand model directory, ONNX
   included) and the tutorial's Gluon checkpoint ``ft-<epoch>.params`` of the best epoch;
4. ``import_gluon``: the ``ft-<epoch>.params`` file converted into a model directory
   (``imported/``), checked against the Gluon network's logits;
5. the Gluon network's predicted class for every validation photo, saved in
   ``gluon_predictions.json`` and compared with the converted model's.

Then, in the *core* install (no MXNet, any Python)::

    python examples/05_mxnet_tutorial_finetune.py --check runs/05_mxnet

re-runs the converted model with ONNX Runtime only and checks it predicts the same classes.

Run (in the MXNet environment, see docs/mxnet.rst)::

    python examples/05_mxnet_tutorial_finetune.py --epochs 20         # the tutorial's recipe
    python examples/05_mxnet_tutorial_finetune.py --fast              # 4 photos/class, 1 epoch
    python examples/05_mxnet_tutorial_finetune.py --weights resnet18_v2-a81db45f.params

Without MXNet, ``--fast`` says why and exits 0 (CI's core run); other runs exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
PREDICTIONS = "gluon_predictions.json"


def check(out: Path) -> int:
    """Compare the converted model's classes with the Gluon network's (no MXNet needed)."""
    from logobrand.inference import LogoClassifier, Prediction

    saved = json.loads((out / PREDICTIONS).read_text(encoding="utf-8"))
    model_dir = out / saved["model_dir"]
    clf = LogoClassifier.from_pretrained(model_dir)
    paths = [row["path"] for row in saved["predictions"]]
    agree, failed = 0, 0
    for row, result in zip(saved["predictions"], clf.predict_batch(paths), strict=True):
        if not isinstance(result, Prediction):
            failed += 1
            continue
        if result.top_k[0][0] == row["label"]:
            agree += 1
        else:
            print(f"differs: {row['path']}: Gluon {row['label']}, converted {result.top_k[0][0]}")
    total = len(paths)
    print(
        f"{model_dir}: the converted model predicts the Gluon network's class for {agree}/{total} "
        f"photos ({failed} unreadable) without MXNet"
    )
    return 0 if agree == total and total > 0 else 1


def first_per_class(data: Any, n: int) -> Any:
    """Keep the first ``n`` photos of every class (for quick runs)."""
    seen: Counter[str] = Counter()
    keep = []
    for i, sample in enumerate(data.samples):
        if seen[sample.label] < n:
            keep.append(i)
            seen[sample.label] += 1
    return data.subset(keep)


def main() -> int:
    """Parse the arguments, fine-tune, convert and compare."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--weights", type=Path, help="Gluon resnet18_v2 ImageNet .params file")
    parser.add_argument("--fast", action="store_true", help="4 photos per class, 1 epoch")
    parser.add_argument("--per-class", type=int, help="use the first N photos of every class")
    parser.add_argument("--epochs", type=int, help="default: 20, the tutorial's (1 with --fast)")
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=0.001)
    parser.add_argument(
        "--momentum", type=float, default=0.0, help="Gluon's 'sgd' has none unless given"
    )
    parser.add_argument("--gpu", action="store_true", help="train on mx.gpu(0) (mxnet-cu112)")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/05_mxnet"))
    parser.add_argument(
        "--check", type=Path, metavar="OUT", help="only compare a finished run's predictions"
    )
    args = parser.parse_args()
    if args.check is not None:
        return check(args.check)

    from logobrand.backends.mxnet import mxnet_available

    if not mxnet_available():
        from logobrand.backends.mxnet import import_mxnet
        from logobrand.errors import MissingExtraError

        try:
            import_mxnet()
        except MissingExtraError as exc:
            print(f"05_mxnet_tutorial_finetune: {exc}", file=sys.stderr)
        if args.fast:
            print("skipped: this example needs the MXNet backend (see above)")
            return 0
        return 1
    return run(args)


def run(args: argparse.Namespace) -> int:
    """The fine-tune itself (MXNet is importable)."""
    import mxnet as mx
    import numpy as np

    from logobrand.backends import create_backend_model
    from logobrand.backends.mxnet import GluonTrainer, import_gluon
    from logobrand.data import NO_LOGO, ImageFolderDataset, concat, stratified_split
    from logobrand.models import Preprocessing
    from logobrand.training import Callback, HistoryLogger, ModelCheckpoint
    from logobrand.transforms import (
        Compose,
        HorizontalFlip,
        Normalize,
        RandomCrop,
        Resize,
        ToCHW,
        ToRGB,
        eval_transform,
    )

    epochs = args.epochs or (1 if args.fast else 20)
    logos = ImageFolderDataset(args.data_root / "logos32plus")
    negatives = ImageFolderDataset.from_folders({NO_LOGO: args.data_root / "nologo"})
    data = concat(logos, negatives)
    per_class = args.per_class or (4 if args.fast else None)
    if per_class is not None:
        data = first_per_class(data, per_class)
    train, val = stratified_split(data, (0.8, 0.2), seed=args.seed)
    print(f"{len(train)} training and {len(val)} validation photos, {len(data.classes)} classes")

    pre = Preprocessing(input_size=224)  # ImageNet mean/std, as the tutorial normalises
    # The tutorial's augmentation: a random 224-pixel crop and a horizontal flip. Every photo
    # is first squashed to 256 x 256 (logos and no-logo photos get the same geometry).
    augment = Compose(
        [
            ToRGB(),
            Resize(256),
            RandomCrop(224),
            HorizontalFlip(0.5),
            Normalize(pre.mean, pre.std),
            ToCHW(),
        ],
        seed=args.seed,
    )
    ctx = mx.gpu(0) if args.gpu else mx.cpu()
    mx.random.seed(args.seed)
    net = create_backend_model(
        "mxnet", "resnet18_v2", len(data.classes), pretrained=args.weights or False, ctx=ctx
    )
    if args.weights is None:
        print(
            "note: no --weights: Gluon's ImageNet resnet18_v2 weights are never downloaded, so "
            "the network starts from random weights (the tutorial started from ImageNet's)"
        )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    class PrintEpoch(Callback):
        """Print the tutorial's one-line summary after every epoch."""

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Mapping[str, Any]) -> None:
            """Print e.g. ``[Epoch 1] Train-acc: 0.512, loss: 2.104 | Val-acc: 0.634 | ...``."""
            print(trainer.format_epoch(logs), flush=True)

    class SaveGluonParams(Callback):
        """Keep the tutorial's Gluon checkpoint ``ft-<epoch>.params`` of the best epoch."""

        def __init__(self) -> None:
            self.best: float | None = None
            self.path: Path | None = None

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Mapping[str, Any]) -> None:
            """Save the net's parameters when validation accuracy improved."""
            value = float(logs["val_accuracy"])
            if self.best is not None and value <= self.best:
                return
            path = out / f"ft-{epoch}.params"
            trainer.net.save_parameters(str(path))
            if self.path is not None and self.path != path:
                self.path.unlink(missing_ok=True)
            self.best, self.path = value, path

    saver = SaveGluonParams()
    trainer = GluonTrainer(
        net,
        train.with_transform(augment),
        val.with_transform(eval_transform(pre)),
        epochs=epochs,
        batch_size=args.batch_size,
        optimizer="sgd",
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        callbacks=[
            PrintEpoch(),
            saver,
            ModelCheckpoint(out, monitor="val_accuracy", preprocessing=pre),
            HistoryLogger(out / "history.csv"),
        ],
        seed=args.seed,
        num_workers=args.workers,
        progress=False,
        ctx=ctx,
    )
    history = trainer.fit()
    best = history.best("val_accuracy")
    assert best is not None and saver.path is not None
    print(
        f"best epoch {best['epoch']}: val accuracy {best['val_accuracy']:.3f} ({saver.path.name})"
    )

    # The tutorial's checkpoint -> a logobrand model directory (what `logobrand import-gluon` does).
    result = import_gluon(saver.path, out / "imported", arch="resnet18_v2", labels=data.classes)
    diff = "not checked" if result.max_abs_diff is None else f"{result.max_abs_diff:.2g}"
    print(
        f"imported {saver.path.name} -> {result.directory}: largest |Gluon - ONNX| logit "
        f"difference {diff} (largest |logit| {result.max_abs_logit:.3g})"
    )

    # The Gluon network's own predictions of the validation photos, for the core-install check.
    net.load_parameters(str(saver.path), ctx=ctx)
    evaluation = val.with_transform(eval_transform(pre))
    rows = []
    for start in range(0, len(evaluation), 32):
        items = [evaluation[i] for i in range(start, min(start + 32, len(evaluation)))]
        x = mx.nd.array(np.stack([image for image, _ in items]), ctx=ctx)
        predicted = net(x).argmax(axis=1).asnumpy().astype(int)
        for offset, index in enumerate(predicted):
            sample = evaluation.samples[start + offset]
            rows.append({"path": str(sample.path), "label": data.classes[int(index)]})
    payload = {"model_dir": "imported", "gluon_params": saver.path.name, "predictions": rows}
    (out / PREDICTIONS).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out / PREDICTIONS}; in the core install run: python {sys.argv[0]} --check {out}")
    return check(out)


if __name__ == "__main__":
    sys.exit(main())
