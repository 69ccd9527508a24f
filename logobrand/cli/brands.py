"""``logobrand brands``: add, list, remove and calibrate few-shot gallery brands.

:mod:`logobrand.cli.parser` registers the sub-command (:func:`add_parser`). The gallery
itself is :mod:`logobrand.inference.gallery`.

Examples::

    logobrand brands add nike photos/nike/ --model my-model            # in place, atomically
    logobrand brands add nike a.jpg b.jpg --model my-model --out my-model-plus
    logobrand brands add vodafone --artwork vodafone.svg --color E60000 \\
        --backgrounds nologo/ --model my-model
    logobrand brands calibrate held-out/nologo held-out/brands --model my-model
    logobrand brands list --model my-model
    logobrand brands remove nike --model my-model
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logobrand.cli.args import (
    fraction,
    is_url,
    load_classifier,
    non_negative_int,
    positive_int,
    unit_float,
)
from logobrand.errors import InvalidArgumentError

DEFAULT_TARGET_FPR = 0.01
"""Same as ``logobrand.inference.gallery.DEFAULT_TARGET_FPR`` (not imported: ``logobrand
--help`` must not load ONNX Runtime; a test checks that both agree)."""

MIN_WHITEN_PHOTOS = 200
"""Same as ``logobrand.inference.gallery.MIN_WHITEN_PHOTOS`` (not imported, as above)."""

KINDS = ("box_crops", "photo")
"""Same as ``logobrand.inference.gallery.KINDS`` (not imported, as above; a test checks)."""

if TYPE_CHECKING:
    from logobrand.inference import LogoClassifier

_EPILOG = """examples:
  logobrand brands add nike photos/nike/ --model my-model
  logobrand brands add nike a.jpg b.jpg c.jpg --model my-model --out my-model-plus
  logobrand brands add yahoo photos/yahoo/ --text yahoo --model my-model   (needs the ocr extra)
  logobrand brands add vodafone --artwork vodafone.svg --color E60000 --backgrounds nologo/ \\
      --model my-model
  logobrand brands calibrate held-out/ --model my-model      (no-logo + trained-brand photos)
  logobrand brands list --model my-model
  logobrand brands remove nike --model my-model

Photos of a brand are matched against the references by embedding similarity; the threshold
is calibrated on held-out photos without the gallery brands. A brand added with --text is also
reported when OCR reads one of its texts in a photo (see docs/fewshot.rst)."""


def _image_paths(inputs: Sequence[str]) -> Iterator[str | Path]:
    """The image files in ``inputs`` (files and folders); URLs pass through as they are."""
    from logobrand.inference.pipeline import iter_image_files

    for item in inputs:
        if is_url(item):
            yield item
        else:
            yield from iter_image_files(item)


def _load(args: argparse.Namespace) -> LogoClassifier:

    return load_classifier(args.model, getattr(args, "threads", None))


def _check_destination(args: argparse.Namespace) -> None:
    """Refuse, before any work, to change a bundled model in place."""
    from logobrand.inference.classifier import BUNDLED_MODELS

    if args.out is None and (args.model is None or args.model in BUNDLED_MODELS):
        raise InvalidArgumentError(
            f"the bundled model {args.model or 'default'!r} is not changed in place; pass "
            "--out DIR to write a copy with the gallery (or --model DIR to change your own "
            "model directory)"
        )


def _write(clf: LogoClassifier, args: argparse.Namespace) -> Path:
    return clf.save_pretrained(args.out if args.out is not None else clf.directory)


def _artwork_images(args: argparse.Namespace, size: int) -> list[Any]:
    from logobrand.artwork import parse_hex_color, render_references
    from logobrand.images import load_image

    backgrounds = [load_image(p, draft_size=size) for p in _image_paths(args.backgrounds or [])]
    share = args.photo_share
    if backgrounds and share == 0:
        print(
            f"note: --photo-share is 0, so the {len(backgrounds)} --backgrounds photos are not "
            "used",
            file=sys.stderr,
        )
    color = parse_hex_color(args.color) if args.color else (0, 0, 0)
    return render_references(
        args.artwork,
        color,
        backgrounds,
        n=args.renders,
        size=size,
        seed=args.seed,
        photo_share=share if backgrounds else 0.0,
    )


def _cmd_add(args: argparse.Namespace) -> int:
    if not args.images and args.artwork is None:
        raise InvalidArgumentError(
            "give reference photos (files or folders) or --artwork SVG for the brand"
        )
    if args.artwork is not None and not Path(args.artwork).is_file():
        raise InvalidArgumentError(
            f"--artwork {args.artwork}: no such file; pass the path of the brand's .svg logo"
        )
    _check_destination(args)
    clf = _load(args)
    images: list[Any] = list(_image_paths(args.images))
    if args.images and not images:
        raise InvalidArgumentError(f"no image files found in {', '.join(args.images)}")
    if args.artwork is not None:
        images += _artwork_images(args, clf.config.preprocessing.input_size)
    gallery = clf.add_brand(
        args.name, images, replace=args.replace, kind=args.embedding, texts=args.text
    )
    where = _write(clf, args)
    note = "" if gallery.calibrated else " (uncalibrated: run `logobrand brands calibrate`)"
    texts = gallery.texts[gallery.brands.index(args.name)]
    read = f"; read in photos as {', '.join(map(repr, texts))}" if texts else ""
    print(
        f"added {args.name!r} from {len(images)} images to {where}: {len(gallery)} gallery "
        f"brands, threshold {gallery.threshold:.3f}{note}{read}"
    )
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    _check_destination(args)
    clf = _load(args)
    gallery = clf.remove_brand(args.name)
    where = _write(clf, args)
    print(f"removed {args.name!r} from {where}: {len(gallery)} gallery brands left")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    _check_destination(args)
    clf = _load(args)
    paths = list(_image_paths(args.negatives))
    gallery = clf.calibrate_gallery(
        paths, target_fpr=args.target_fpr, kind=args.embedding, whiten=args.whiten
    )
    where = _write(clf, args)
    whitening = (
        f"; whitened to {gallery.whitened_dims} dimensions, fitted on "
        f"{len(paths) - gallery.num_negatives} of the photos, threshold set on the other "
        f"{gallery.num_negatives}"
        if gallery.whitened_dims
        else (
            f"; not whitened: that needs {MIN_WHITEN_PHOTOS} photos or more" if args.whiten else ""
        )
    )
    print(
        f"calibrated the gallery of {where} on {len(paths)} photos: threshold "
        f"{gallery.threshold:.3f} (at most {args.target_fpr:g} of them match a gallery "
        f"brand){whitening}"
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    clf = _load(args)
    gallery = clf.gallery
    brands = (
        []
        if gallery is None
        else list(zip(gallery.brands, gallery.counts, gallery.texts, strict=True))
    )
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(clf.directory),
                    "trained": list(clf.config.brands),
                    "gallery": [
                        {"name": b, "references": c, "texts": list(t)} for b, c, t in brands
                    ],
                    "threshold": None if gallery is None else gallery.threshold,
                    "calibrated": gallery is not None and gallery.calibrated,
                    "embedding": None if gallery is None else gallery.kind,
                }
            )
        )
        return 0
    print(f"{clf.directory}: {len(clf.config.brands)} trained brands, {len(brands)} gallery brands")
    for name, count, texts in brands:
        read = f"\ttexts: {', '.join(texts)}" if texts else ""
        print(f"  {name}\t{count} references{read}")
    if gallery is not None and brands:
        state = "calibrated" if gallery.calibrated else "uncalibrated"
        print(f"threshold {gallery.threshold:.3f} ({state}); embedding: {gallery.kind}")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``logobrand brands`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """

    p = sub.add_parser(
        "brands",
        help="add, list or remove few-shot brands (no training)",
        description="Manage the gallery of few-shot brands stored in a model directory.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="brands_command", metavar="ACTION")
    actions.required = True

    def common(q: argparse.ArgumentParser, writes: bool) -> None:
        q.add_argument("--model", help="model directory [the bundled model]")
        q.add_argument("--threads", type=int, help="ONNX Runtime threads [all cores]")
        if writes:
            q.add_argument("--out", help="write the result here instead of changing --model")

    def embedding(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--embedding",
            choices=KINDS,
            help="how a new gallery embeds photos: box_crops (with a box head: more accurate, "
            "about 4x the model time) or photo [box_crops when the model has a box head]",
        )

    q = actions.add_parser("add", help="add a brand from photos or artwork")
    q.add_argument("name", help="brand name")
    q.add_argument("images", nargs="*", metavar="IMAGE", help="reference photos or folders")
    q.add_argument("--replace", action="store_true", help="replace the brand's references")
    q.add_argument("--artwork", help="SVG logo to render into references (needs the art extra)")
    q.add_argument("--color", help="logo colour as hex, e.g. E60000 [black]")
    q.add_argument("--renders", type=positive_int, default=20, help="artwork renders [20]")
    q.add_argument("--backgrounds", nargs="*", help="photos/folders without logos for renders")
    q.add_argument(
        "--photo-share",
        type=unit_float,
        default=0.3,
        help="share of renders on --backgrounds photos, the rest on solid colours [0.3: with "
        "the whitened gallery it scored higher than solid colours at the same no-logo false "
        "positives; see docs/fewshot]",
    )
    q.add_argument("--seed", type=non_negative_int, default=0, help="seed of the renders [0]")
    q.add_argument(
        "--text",
        action="append",
        metavar="TEXT",
        help="a text printed in the logo, read in photos by OCR (repeat it; needs the ocr extra)",
    )
    embedding(q)
    common(q, True)
    q.set_defaults(func=_cmd_add)

    q = actions.add_parser("list", help="list the trained and gallery brands")
    q.add_argument("--json", action="store_true", help="print JSON")
    common(q, False)
    q.set_defaults(func=_cmd_list)

    q = actions.add_parser("remove", help="remove a gallery brand")
    q.add_argument("name", help="brand name")
    common(q, True)
    q.set_defaults(func=_cmd_remove)

    q = actions.add_parser(
        "calibrate", help="calibrate the threshold on held-out photos without gallery brands"
    )
    q.add_argument("negatives", nargs="+", metavar="IMAGE", help="photos or folders")
    q.add_argument(
        "--target-fpr",
        type=fraction,
        default=DEFAULT_TARGET_FPR,
        help=f"share allowed to match a gallery brand [{DEFAULT_TARGET_FPR}]",
    )
    q.add_argument(
        "--no-whiten",
        dest="whiten",
        action="store_false",
        help=f"do not whiten the embeddings (done with {MIN_WHITEN_PHOTOS} photos or more)",
    )
    embedding(q)
    common(q, True)
    q.set_defaults(func=_cmd_calibrate)


__all__ = ["add_parser"]
