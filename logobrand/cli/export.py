"""``logobrand export``: turn trained weights into a model directory with ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from logobrand.cli.args import (
    EXIT_OK,
    PROG,
    HelpFormatter,
    check_out_is_not_source,
    positive_float,
    positive_int,
    read_labels,
    require,
    unit_float,
)
from logobrand.errors import InvalidArgumentError, ModelFormatError


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


def _cmd_export(args: argparse.Namespace) -> int:
    require("torch")
    require("safetensors")
    require("onnx")
    from logobrand.inference import ModelConfig, save_model_dir
    from logobrand.models import Preprocessing, create_model, get_model_spec
    from logobrand.training import load_weights

    weights, folder = _find_weights(Path(args.source))
    check_out_is_not_source(args.out, folder if folder is not None else weights, "export")
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


_EXPORT_EPILOG = """\
examples:
  logobrand export runs/lite0 --out models/lite0            # arch and labels from its config.json
  logobrand export weights.safetensors --arch resnet18_v2 --labels labels.txt --out models/r18
  logobrand export w.safetensors --arch scratch_cnn --labels adidas,pepsi,no-logo --out models/s

Writes model.safetensors, model.onnx (checked against the torch model within 1e-4) and
config.json, atomically. The labels must be in the model's output order and include no-logo.
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand export`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "export",
        help="turn trained weights into a model directory with ONNX",
        description="Convert trained PyTorch weights (safetensors) into a model directory.",
        epilog=_EXPORT_EPILOG,
        formatter_class=HelpFormatter,
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


__all__ = ["add_parser"]
