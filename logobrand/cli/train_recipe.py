"""``logobrand train --recipe default|long``: the recipes on ``--data-root`` (not the Trainer)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from logobrand.cli.args import EXIT_OK, PROG, ci, err, load_classifier
from logobrand.cli.datasets import cap_per_class, describe_counts
from logobrand.errors import InvalidArgumentError


def _train_long_recipe(args: argparse.Namespace) -> int:
    """``train --recipe long``: the bundled model's recipe (hours; resumable)."""
    from dataclasses import replace

    from logobrand.training.finetune import FinetuneConfig, train_finetuned_model

    config = FinetuneConfig()
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    directory = train_finetuned_model(
        args.data_root, args.out, config, resume=args.resume, progress=not (ci() or args.quiet)
    )
    print(f"saved {directory}; try: {PROG} predict --model {directory} PHOTO", flush=True)
    return EXIT_OK


def train_recipe(args: argparse.Namespace) -> int:
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
    train = cap_per_class(splits.train, limit, seed)
    val = cap_per_class(splits.val, limit, seed)
    print(describe_counts("train", train), flush=True)
    print(describe_counts("val", val), flush=True)
    config = recipe.RecipeConfig(seed=args.seed)
    overrides = {
        name: getattr(args, name)
        for name in ("epochs", "batch_size", "lr", "weight_decay")
        if getattr(args, name) is not None
    }
    config = replace(config, **overrides)
    result = recipe.train_default_model(
        train, val, args.out, config, progress=not (ci() or args.quiet), log=print
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
        part = cap_per_class(part, limit, seed)
        scores = evaluate(clf, part, progress=not (ci() or args.quiet)).summary()
        print(
            f"{name} ({len(part)} photos): accuracy {scores['accuracy']:.3f}, logo precision "
            f"{scores['logo_precision']:.3f}, logo recall {scores['logo_recall']:.3f}, "
            f"ECE {scores['ece']:.3f}",
            flush=True,
        )
    print(f"try: {PROG} predict --model {result.directory} PHOTO", flush=True)
    return EXIT_OK


__all__ = ["train_recipe"]
