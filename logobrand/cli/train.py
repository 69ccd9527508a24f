"""``logobrand train``: train a classifier with the tutorial's loop (``--recipe``: see
:mod:`logobrand.cli.train_recipe`)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logobrand.cli.args import (
    EXIT_OK,
    PROG,
    SHOWN_FAILURES,
    HelpFormatter,
    ci,
    err,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    require,
    unit_float,
)
from logobrand.cli.datasets import (
    cap_per_class,
    describe_counts,
    load_folder_dataset,
    read_flickrlogos32,
    report_leaks,
)
from logobrand.cli.train_recipe import train_recipe
from logobrand.errors import InvalidArgumentError, OutputError

if TYPE_CHECKING:
    from logobrand.data import FileDataset

_PRETRAINED_BY_DEFAULT = frozenset({"efficientnet_lite0"})
_RESTORED_ON_RESUME = ("lr", "optimizer", "weight_decay")
"""``train`` options that ``--resume`` takes from the saved optimizer state."""

_TUTORIAL_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 40,
    "lr": 0.01,
    "optimizer": "sgd",
    "weight_decay": 0.001,
}


def _train_callbacks(progress: bool) -> list[Any]:
    """A tutorial-style epoch printer (stdout) and, when wanted, a per-batch progress bar."""
    from logobrand.training import Callback, ProgressBar

    class EpochPrinter(Callback):
        """Prints the trainer's one-line epoch summary on stdout, like the tutorial."""

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
            print(trainer.format_epoch(logs), flush=True)

    class BarOnly(ProgressBar):
        """The progress bar without its own summary line (EpochPrinter prints it)."""

        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any) -> None:
            self.on_train_end(trainer)

    callbacks: list[Any] = [EpochPrinter()]
    if progress:
        callbacks.insert(0, BarOnly())
    return callbacks


def _train_datasets(args: argparse.Namespace) -> tuple[FileDataset, FileDataset | None]:
    from logobrand.data import stratified_split

    limit = args.limit_per_class
    if args.flickrlogos32 is not None:
        if args.data is not None or args.negatives is not None:
            raise InvalidArgumentError(
                "--flickrlogos32 cannot be combined with --data/--negatives; choose one source"
            )
        train: FileDataset = read_flickrlogos32(args, "train")
        val: FileDataset | None = read_flickrlogos32(args, "val")
        train = cap_per_class(train, limit, args.seed)
        val = cap_per_class(val, limit, args.seed) if val is not None else None
        report_leaks(train, val)
        return train, val
    for flag, given in (
        ("--tutorial-recipe", args.tutorial_recipe),
        ("--skip-missing", args.skip_missing),
    ):
        if given:
            raise InvalidArgumentError(f"{flag} needs --flickrlogos32 ROOT")
    if args.data is None:
        raise InvalidArgumentError(
            "no training data: pass --data DIR (one folder per class) and --negatives DIR "
            "(no-logo photos), --flickrlogos32 ROOT, or --recipe default --data-root DIR"
        )
    data = load_folder_dataset(args.data, args.negatives, limit_per_class=limit, seed=args.seed)
    if args.val_fraction == 0:
        return data, None
    print(f"splitting {len(data)} photos (duplicates kept together) ...", flush=True)
    fractions = (1.0 - args.val_fraction, args.val_fraction)
    train, val = stratified_split(data, fractions, seed=args.seed)
    if len(val) == 0:
        err(
            f"warning: --val-fraction {args.val_fraction:g} of {len(data)} photos leaves no "
            "validation photo (each class keeps its first photos for training); the best epoch "
            "is chosen on training accuracy. Give more photos per class to validate."
        )
        return train, None
    report_leaks(train, val)
    return train, val


def _check_labels(train: FileDataset, val: FileDataset | None, args: argparse.Namespace) -> None:
    from logobrand.data import NO_LOGO

    labels = {sample.label for sample in train.samples}
    if NO_LOGO not in labels:
        if args.flickrlogos32 is not None and not args.tutorial_recipe:
            hint = (
                "the official FlickrLogos-32 trainset has logos only: add --tutorial-recipe "
                "(it adds half of the no-logo validation photos to the training part)"
            )
        elif val is not None and any(s.label == NO_LOGO for s in val.samples):
            hint = (
                f"the split put all of them in validation: lower --val-fraction "
                f"({args.val_fraction:g}) or give more {NO_LOGO} photos"
            )
        else:
            hint = "pass --negatives DIR (e.g. ../shared/data/nologo)"
        raise InvalidArgumentError(
            f"the training data has no {NO_LOGO!r} photos; a logo classifier must learn what "
            f"no logo looks like: {hint}"
        )
    if len(labels) < 2:
        raise InvalidArgumentError("the training data needs at least one brand besides no-logo")
    empty = sorted(set(train.classes) - labels - {NO_LOGO})
    if empty:
        err(
            f"warning: {len(empty)} class(es) have no training photo after the split "
            f"({', '.join(empty[:5])}); the model cannot learn them: give them more photos"
        )


def _take_saved_optimizer_settings(args: argparse.Namespace, out: Path) -> None:
    """``--resume``: use the run's saved optimizer settings; refuse different explicit ones."""
    state = out / "last" / "trainer_state.json"
    try:
        saved = json.loads(state.read_text(encoding="utf-8")).get("trainer", {})
    except (OSError, ValueError, AttributeError):
        return  # no readable state: the --resume check below explains
    if not isinstance(saved, dict):
        return
    for name in _RESTORED_ON_RESUME:
        given, kept = getattr(args, name), saved.get(name)
        if kept is None:
            continue
        if given is not None and given != kept:
            flag = f"--{name.replace('_', '-')}"
            raise InvalidArgumentError(
                f"--resume continues {out} with its saved {flag} {kept}, not {given}: drop "
                f"{flag}, or start a new run in another folder"
            )
        setattr(args, name, kept)


_RUN_ENTRIES = {"best", "last", "history.csv"}


def _check_train_out(args: argparse.Namespace, out: Path) -> None:
    """Refuse, before any work, a ``--out`` or ``--history`` that training would damage."""
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out} is a file; pass a folder for the training run")
    if out.is_dir():
        foreign = sorted(
            e.name
            for e in out.iterdir()
            if e.name not in _RUN_ENTRIES and not e.name.startswith(".")
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise InvalidArgumentError(
                f"--out {out} holds files that are not a training run's ({shown}); choose a new "
                "or empty folder"
            )
    resolved = out.resolve()
    for flag, source in (("--data", args.data), ("--negatives", args.negatives)):
        if source is not None and resolved.is_relative_to(Path(source).resolve()):
            raise InvalidArgumentError(
                f"--out {out} is inside {flag} {source}: the next run would take its best/ and "
                "last/ folders for classes; choose a folder outside the data"
            )
    if args.history is not None:
        history = Path(args.history)
        if history.is_dir():
            raise InvalidArgumentError(f"--history {history} is a folder; pass a .csv file path")
        if history.exists() and not (args.resume or args.overwrite):
            raise InvalidArgumentError(
                f"--history {history} exists; pass --resume to append to it or --overwrite to "
                "replace it"
            )
    existing = out  # the nearest existing folder decides whether --out can be made
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {out}: {existing} is a file; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {out}: {existing} is not writable; choose another --out")


def _cmd_train(args: argparse.Namespace) -> int:
    require("torch")
    if args.recipe is not None:
        return train_recipe(args)
    if args.data_root is not None:
        raise InvalidArgumentError("--data-root is for --recipe default; use --data DIR instead")
    if args.all_sources:
        raise InvalidArgumentError("--all-sources is for --recipe default")
    if args.resume:
        _take_saved_optimizer_settings(args, Path(args.out))
    for name, value in _TUTORIAL_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.resume and args.overwrite:
        raise InvalidArgumentError("--resume continues a run and --overwrite starts over; pick one")
    out = Path(args.out)
    _check_train_out(args, out)
    has_state = (out / "last" / "trainer_state.json").is_file()
    if args.resume and not has_state:
        raise InvalidArgumentError(
            f"--resume: {out} holds no training state ({out}/last/trainer_state.json); "
            "run without --resume to start a new training"
        )
    if has_state and not args.resume and not args.overwrite:
        raise InvalidArgumentError(
            f"{out} already holds a training checkpoint; pass --resume to continue it or "
            "--overwrite to start over (the previous best model is replaced)"
        )

    from logobrand.models import create_model, get_model_spec
    from logobrand.training import HistoryLogger, ModelCheckpoint, Trainer
    from logobrand.transforms import eval_transform, train_transform

    spec = get_model_spec(args.model)
    pre = spec.preprocessing
    train, val = _train_datasets(args)
    _check_labels(train, val, args)
    print(describe_counts("train", train), flush=True)
    if val is not None:
        print(describe_counts("val", val), flush=True)

    if args.weights is not None:
        pretrained: bool | str = str(args.weights)
    else:
        pretrained = args.model in _PRETRAINED_BY_DEFAULT and not args.no_pretrained
    import torch

    torch.manual_seed(args.seed)  # the initial weights are part of the run: same seed, same run
    model = create_model(args.model, len(train.classes), pretrained=pretrained)
    train_backbone = args.train_backbone
    if train_backbone is None:
        train_backbone = not pretrained
    elif args.freeze_epochs is not None:
        raise InvalidArgumentError(
            "--freeze-epochs N already says when the backbone trains; drop "
            "--train-backbone/--freeze-backbone"
        )
    if args.freeze_epochs is not None:
        train_backbone = args.freeze_epochs

    monitor = "val_accuracy" if val is not None else "train_accuracy"
    history = args.history if args.history is not None else out / "history.csv"
    callbacks = [
        *_train_callbacks(progress=not (ci() or args.quiet)),
        ModelCheckpoint(
            out, monitor=monitor, mode="max", architecture=args.model, preprocessing=pre
        ),
        HistoryLogger(history),
    ]
    trainer = Trainer(
        model,
        train.with_transform(train_transform(pre, seed=args.seed)),
        None if val is None else val.with_transform(eval_transform(pre)),
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        train_backbone=train_backbone,
        class_weights=args.class_weights,
        callbacks=callbacks,
        seed=args.seed,
        num_workers=args.workers,
        progress=False,
    )
    if train_backbone is True:
        frozen = "trains every layer"
    elif train_backbone is False:
        frozen = "backbone frozen (head only)"
    else:
        frozen = f"backbone frozen for {train_backbone} epoch(s)"
    print(
        f"training {args.model} ({'pretrained' if pretrained else 'random init'}, {frozen}): "
        f"{args.epochs} epochs, batch {args.batch_size}, {args.optimizer} lr {args.lr:g}, "
        f"weight decay {args.weight_decay:g}",
        flush=True,
    )
    started = time.perf_counter()
    trainer.fit(resume_from=out if args.resume else None)
    if trainer.failures:
        shown = ", ".join(Path(p).name for p in list(trainer.failures)[:SHOWN_FAILURES])
        err(f"skipped {len(trainer.failures)} photo(s) that could not be decoded: {shown}")
    checkpoint = next(cb for cb in callbacks if isinstance(cb, ModelCheckpoint))
    print(f"done in {time.perf_counter() - started:.0f}s; history: {history}", flush=True)
    if checkpoint.best is not None:
        print(
            f"best model: {checkpoint.best_dir} ({monitor} {checkpoint.best:.3f} at epoch "
            f"{checkpoint.best_epoch}); try: {PROG} predict --model {out} PHOTO",
            flush=True,
        )
    return EXIT_OK


_TRAIN_EPILOG = """\
examples:
  # the tutorial's scratch CNN on Logos-32plus + no-logo photos (SGD, lr 0.01, batch 40)
  logobrand train --model scratch_cnn --data ../shared/data/logos32plus \\
      --negatives ../shared/data/nologo --epochs 10 --out runs/scratch

  # transfer learning: ImageNet EfficientNet-Lite0, backbone frozen, head only
  logobrand train --model efficientnet_lite0 --freeze-backbone --data ../shared/data/logos32plus \\
      --negatives ../shared/data/nologo --epochs 3 --out runs/lite0

  # a quick smoke run: 5 photos per class, 1 epoch
  logobrand train --model efficientnet_lite0 --data ../shared/data/logos32plus \\
      --negatives ../shared/data/nologo --limit-per-class 5 --epochs 1 --out runs/quick

  # FlickrLogos-32 (your own download) with the tutorial's 1820/2460 partition
  logobrand train --model resnet18_v2 --flickrlogos32 ~/FlickrLogos-v2 --tutorial-recipe \\
      --out runs/fl32

  # continue an interrupted run where it stopped
  logobrand train ... --out runs/lite0 --epochs 10 --resume

  # the quick recipe (cached trunk, calibrated threshold; about 30 minutes on 2 cores)
  logobrand train --recipe default --data-root ../shared/data --out runs/default

  # the bundled model's recipe (whole network, other brands as negatives; about 2 hours;
  # run it again with --resume after an interruption)
  logobrand train --recipe long --data-root ../shared/data --out runs/long

--out DIR receives best/ (a model directory: `logobrand predict --model DIR` loads it),
last/ (the resumable state) and history.csv. Every photo is squashed to a square before
cropping, so the 224x224 Logos-32plus positives and the unsquashed negatives share one
geometry (see the data README's trap note).
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand train`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "train",
        help="train a model (PyTorch; needs the train extra)",
        description="Train a logo classifier with the tutorial's loop and save a model directory.",
        epilog=_TRAIN_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="architecture: scratch_cnn | resnet18_v2 | efficientnet_lite0 (`logobrand models`)",
    )
    src = p.add_argument_group("data")
    src.add_argument("--data", help="folder with one sub-folder of photos per class")
    src.add_argument("--negatives", help="folder of photos without logos (label no-logo)")
    src.add_argument("--flickrlogos32", metavar="ROOT", help="a FlickrLogos-32 v2 download")
    src.add_argument(
        "--skip-missing",
        action="store_true",
        help="with --flickrlogos32: leave out listed photos that are absent (a partial "
        "download) instead of stopping; they are reported (at most 10 notes per split)",
    )
    src.add_argument(
        "--tutorial-recipe",
        action="store_true",
        help="with --flickrlogos32: train on trainset + half of the no-logo val photos (1820)",
    )
    src.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.2,
        help="share of each class held out for validation (--data; the recipe splits "
        "70/10/20); 0 for none",
    )
    src.add_argument(
        "--limit-per-class",
        type=positive_int,
        metavar="N",
        help="keep at most N photos per class (quick runs)",
    )
    src.add_argument(
        "--recipe",
        choices=["default", "long"],
        help="run a recipe on --data-root instead of the Trainer: 'default' (about 30 min) or "
        "'long' (the bundled model's: hours, resumable with --resume)",
    )
    src.add_argument(
        "--data-root",
        metavar="DIR",
        help="with --recipe: the folder holding logos32plus/, nologo/ and flickrlogos27/ "
        "(../shared/data)",
    )
    src.add_argument(
        "--all-sources",
        action="store_true",
        help="with --recipe: also train on FlickrLogos-27 and BSDS500 (the shipped model); "
        "there is then no cross-dataset test",
    )
    opt = p.add_argument_group("optimisation (defaults: the tutorial's; the recipe has its own)")
    opt.add_argument("--epochs", type=positive_int, help="number of epochs [10]")
    opt.add_argument("--batch-size", type=positive_int, help="photos per step [40]")
    opt.add_argument("--lr", type=positive_float, help="learning rate [0.01]")
    opt.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], help="optimizer [sgd]")
    opt.add_argument("--momentum", type=unit_float, default=0.9, help="SGD momentum")
    opt.add_argument("--weight-decay", type=non_negative_float, help="weight decay [0.001]")
    bb = opt.add_mutually_exclusive_group()
    bb.add_argument(
        "--train-backbone",
        dest="train_backbone",
        action="store_const",
        const=True,
        default=None,
        help="train every layer (default without pretrained weights)",
    )
    bb.add_argument(
        "--freeze-backbone",
        dest="train_backbone",
        action="store_const",
        const=False,
        help="train the last layer only (default with pretrained weights)",
    )
    opt.add_argument(
        "--freeze-epochs",
        type=non_negative_int,
        metavar="N",
        help="freeze the backbone for the first N epochs, then train everything",
    )
    opt.add_argument(
        "--class-weights",
        choices=["balanced"],
        help="weigh the loss by inverse class frequency (negatives are scarce)",
    )
    opt.add_argument(
        "--weights", metavar="FILE", help="initial weights (.safetensors) instead of the default"
    )
    opt.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random initialisation even where ImageNet weights ship (efficientnet_lite0)",
    )
    run = p.add_argument_group("output and run")
    run.add_argument("--out", required=True, help="checkpoint folder (best/, last/, history.csv)")
    run.add_argument("--resume", action="store_true", help="continue from --out's last state")
    run.add_argument(
        "--overwrite", action="store_true", help="start over even if --out holds a checkpoint"
    )
    run.add_argument(
        "--history", metavar="FILE", help="history file, .csv or .jsonl [OUT/history.csv]"
    )
    run.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of splits, shuffles, augmentation"
    )
    run.add_argument(
        "--workers", type=non_negative_int, default=2, help="decoding processes (0: in-process)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)


__all__ = ["add_parser"]
