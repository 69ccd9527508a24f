"""``logobrand import-gluon``: convert an MXNet/Gluon ``.params`` checkpoint into a model
directory."""

from __future__ import annotations

import argparse
from typing import Any

from logobrand.cli.args import (
    EXIT_OK,
    HelpFormatter,
    positive_float,
    positive_int,
    read_labels,
    require,
    unit_float,
)


def _cmd_import_gluon(args: argparse.Namespace) -> int:
    require("torch")
    require("safetensors")
    require("onnx")
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


def add_parser(sub: Any) -> None:
    """Register ``logobrand import-gluon`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
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
        formatter_class=HelpFormatter,
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


__all__ = ["add_parser"]
