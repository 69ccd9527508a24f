"""Step 3 of the tutorial: train the tutorial's CNN from scratch with the Trainer.

The network is the tutorial's: two convolutions (96 11x11 filters with stride 4, then 192
5x5 filters), each followed by max pooling, a 4096-unit dense layer with dropout and the
output layer. It is trained like the tutorial's loop: SGD, learning rate 0.01, weight decay
0.001, batches of 40, one line of log per epoch. :class:`~logobrand.training.ModelCheckpoint`
keeps the best epoch as a model directory (``OUT/best``: ONNX + config.json, loadable with
``LogoClassifier.from_pretrained``) and the resumable state (``OUT/last``);
:class:`~logobrand.training.HistoryLogger` writes ``OUT/history.csv``.

The data are Logos-32plus + no-logo photos from ``../shared/data``, split 80/20 per class with
duplicates kept together (see ``01_prepare_split.py``). Every photo is squashed to a square
before the random crop, so logo and no-logo photos share one geometry (the data trap).

Run::

    python examples/02_train_scratch_cnn.py --epochs 10        # the full data (slow on a CPU)
    python examples/02_train_scratch_cnn.py --fast             # 4 photos per class, 1 epoch

``--fast`` also narrows the dense layer to 512 units (the 4096-unit layer has 113 million
weights: each checkpoint would take about 1 GB).
"""

from __future__ import annotations

import argparse
import importlib.util
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logobrand.data import NO_LOGO, FileDataset, ImageFolderDataset, concat, stratified_split
from logobrand.models import create_model, get_model_spec
from logobrand.training import Callback, HistoryLogger, ModelCheckpoint, Trainer
from logobrand.transforms import eval_transform, train_transform

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


class PrintEpoch(Callback):
    """Print the tutorial's one-line summary after every epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Mapping[str, Any]) -> None:
        """Print e.g. ``[Epoch 1] Train-acc: 0.120, loss: 3.301 | Val-acc: 0.151 | Time: 41.2``."""
        print(trainer.format_epoch(logs), flush=True)


def first_per_class(data: FileDataset, n: int) -> FileDataset:
    """Keep the first ``n`` photos of every class (for quick runs)."""
    seen: Counter[str] = Counter()
    keep = []
    for i, sample in enumerate(data.samples):
        if seen[sample.label] < n:
            keep.append(i)
            seen[sample.label] += 1
    return data.subset(keep)


def load_split(root: Path, per_class: int | None, seed: int) -> tuple[FileDataset, FileDataset]:
    """Logos-32plus + no-logo photos, split 80/20 per class (duplicates on one side)."""
    logos = ImageFolderDataset(root / "logos32plus")
    negatives = ImageFolderDataset.from_folders({NO_LOGO: root / "nologo"})
    data = concat(logos, negatives)
    if per_class is not None:
        data = first_per_class(data, per_class)
    train, val = stratified_split(data, (0.8, 0.2), seed=seed)
    print(f"{len(train)} training and {len(val)} validation photos, {len(data.classes)} classes")
    return train, val


def main() -> None:
    """Parse the arguments and train."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--fast", action="store_true", help="4 photos per class, 1 epoch")
    parser.add_argument("--epochs", type=int, help="default: 10 (1 with --fast)")
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=0.001)
    parser.add_argument("--workers", type=int, default=2, help="decoding processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/02_scratch_cnn"))
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last")
    args = parser.parse_args()
    epochs = args.epochs or (1 if args.fast else 10)

    train, val = load_split(args.data_root, 4 if args.fast else None, args.seed)
    pre = get_model_spec("scratch_cnn").preprocessing  # 224x224, ImageNet mean/std, squash
    hidden = 512 if args.fast else 4096  # the tutorial's dense layer has 4096 units
    model = create_model("scratch_cnn", num_classes=len(train.classes), hidden=hidden)

    trainer = Trainer(
        model,
        train.with_transform(train_transform(pre, seed=args.seed)),  # squash, crop, flip, jitter
        val.with_transform(eval_transform(pre)),  # squash to 224x224 only
        epochs=epochs,
        batch_size=args.batch_size,
        optimizer="sgd",
        lr=args.lr,
        weight_decay=args.weight_decay,
        callbacks=[
            PrintEpoch(),
            ModelCheckpoint(args.out, monitor="val_accuracy", preprocessing=pre),
            HistoryLogger(args.out / "history.csv"),
        ],
        seed=args.seed,
        num_workers=args.workers,
        progress=False,
    )
    history = trainer.fit(resume_from=args.out if args.resume else None)

    best = history.best("val_accuracy")
    if best is not None:
        print(f"best epoch {best['epoch']}: val accuracy {best['val_accuracy']:.3f}")
    print(
        f"model directory: {args.out / 'best'} (try: python examples/04_classify_photo.py "
        f"--model {args.out / 'best'})"
    )
    if importlib.util.find_spec("matplotlib") is not None:
        from logobrand.plotting import plot_history

        plot_history(history, path=args.out / "history.png")
        print(f"saved {args.out / 'history.png'}")


if __name__ == "__main__":
    main()
