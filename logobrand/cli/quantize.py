"""``logobrand quantize``: write an int8 copy of a model directory (static, calibrated)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from logobrand.cli.args import (
    EXIT_OK,
    PROG,
    HelpFormatter,
    check_out_is_not_source,
    load_classifier,
    non_negative_int,
    positive_int,
    require,
)
from logobrand.errors import InvalidArgumentError


def _cmd_quantize(args: argparse.Namespace) -> int:
    require("onnx")
    from logobrand.inference.pipeline import iter_image_files

    clf = load_classifier(args.model_dir)
    check_out_is_not_source(args.out, clf.directory, "quantize")
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


_QUANTIZE_EPILOG = """\
examples:
  logobrand quantize runs/lite0 --calibration data/val --out models/lite0-int8
  logobrand quantize default --calibration my-photos/ --limit 512 --out models/mine-int8

Ranges of the activations are measured on --limit photos chosen (seeded) from --calibration.
Needs the onnx package (pip install 'logobrand[train]'); the result runs with the core install.
Int8 uses the CPU's VNNI instructions where they exist; evaluate the copy before relying on it.
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand quantize`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "quantize",
        help="write an int8 copy of a model directory (faster on CPUs with VNNI)",
        description="Quantise a model directory's ONNX file to int8 (static, calibrated).",
        epilog=_QUANTIZE_EPILOG,
        formatter_class=HelpFormatter,
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


__all__ = ["add_parser"]
