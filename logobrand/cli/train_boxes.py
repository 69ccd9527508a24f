"""``logobrand train-boxes``: add a box head (where the logo is) to a model directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from logobrand.cli.args import (
    EXIT_OK,
    PROG,
    HelpFormatter,
    check_out_is_not_source,
    ci,
    load_classifier,
    non_negative_int,
    positive_int,
    require,
)
from logobrand.errors import InvalidArgumentError


def _cmd_train_boxes(args: argparse.Namespace) -> int:
    require("torch")
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
    check_out_is_not_source(args.out, clf.directory, "train-boxes")
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
    head = train_box_head(clf, photos, epochs=args.epochs, seed=args.seed, progress=not ci())
    out = save_box_head(clf, head, args.out, summary=summary)
    print(
        f"wrote {out}: {args.model_dir} with a box head trained on {len(photos)} photos; "
        f"try: {PROG} predict --model {out} --boxes PHOTO"
    )
    return EXIT_OK


_TRAIN_BOXES_EPILOG = """\
examples:
  logobrand train-boxes runs/lite0 --flickrlogos27 data/flickrlogos27 \\
      --artwork data/brand-art/simple-icons --backgrounds data/nologo --out runs/lite0-boxes

Trains a light box head (a few seconds per epoch) on the model's frozen trunk: annotated
FlickrLogos-27 photos (mirrored too) plus --composites artwork-on-photo composites, whose boxes
are known. Needs torch (pip install 'logobrand[train]'); the result runs with the core install.
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand train-boxes`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "train-boxes",
        help="add a box head to a model directory (where the logo is)",
        description="Train a box head on a model's frozen trunk and write a copy with it.",
        epilog=_TRAIN_BOXES_EPILOG,
        formatter_class=HelpFormatter,
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


__all__ = ["add_parser"]
