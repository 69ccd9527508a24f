"""``logobrand evaluate``: score a model with the FlickrLogos-32 protocol (and its ECE)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from logobrand.cli.args import (
    EXIT_OK,
    PROG,
    SHOWN_FAILURES,
    HelpFormatter,
    add_threshold_options,
    ci,
    err,
    load_classifier,
    non_negative_int,
    positive_int,
    with_threshold,
)
from logobrand.cli.datasets import cap_per_class, load_folder_dataset, read_flickrlogos32
from logobrand.errors import InvalidArgumentError

if TYPE_CHECKING:
    from logobrand.data import FileDataset


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from logobrand.evaluation import evaluate

    clf = with_threshold(load_classifier(args.model_dir, threads=args.threads), args)
    if args.flickrlogos32 is not None:
        if args.data is not None or args.negatives is not None:
            raise InvalidArgumentError("--flickrlogos32 cannot be combined with --data/--negatives")
        data: FileDataset = read_flickrlogos32(args, args.split)
        data = cap_per_class(data, args.limit_per_class, args.seed)
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
    progress = not (ci() or args.quiet or args.json)
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
        shown = "; ".join(f["source"] for f in failures[:SHOWN_FAILURES])
        err(
            f"{PROG} evaluate: {len(failures)} photo(s) could not be decoded and were left "
            f"out of the scores: {shown}"
        )
    return EXIT_OK


_EVALUATE_EPILOG = """\
examples:
  logobrand evaluate runs/lite0 --data ../shared/data/logos32plus --negatives ../shared/data/nologo
  logobrand evaluate default --flickrlogos32 ~/FlickrLogos-v2 --split test --json > report.json

Prints accuracy, logo precision and logo recall (the FlickrLogos-32 protocol: a photo without
a logo counts as correct when no brand is reported), the per-class table and the expected
calibration error of the reported scores. Photos that cannot be decoded are left out, counted
and named on stderr. Evaluate on photos the model was not trained on.
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand evaluate`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "evaluate",
        help="score a model with the FlickrLogos-32 protocol",
        description="Score a model directory on labelled photos (FlickrLogos-32 protocol + ECE).",
        epilog=_EVALUATE_EPILOG,
        formatter_class=HelpFormatter,
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


__all__ = ["add_parser"]
