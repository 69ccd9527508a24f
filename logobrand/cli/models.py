"""``logobrand models``: the models ready to use and the architectures to train."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from logobrand.cli.args import EXIT_OK, HelpFormatter, resolve_model_dir


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


_MODELS_EPILOG = """\
examples:
  logobrand models
  logobrand models runs/lite0/best --json

Lists the bundled presets (and the model directories given) with their size and purpose, then,
when the train extra is installed, the architectures `train --model` accepts.
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand models`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "models",
        help="list the models ready to use and the architectures to train",
        description="List the bundled presets, the given model directories and, with the "
        "train extra, the registered architectures.",
        epilog=_MODELS_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "model_dirs", nargs="*", metavar="MODEL_DIR", help="model directories to describe too"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)


__all__ = ["add_parser"]
