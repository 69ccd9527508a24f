"""Helpers shared by the command-line modules: argument types, inputs, model loading.

:mod:`logobrand.cli` and :mod:`logobrand.cli_brands` both import from here, and from nowhere
else in the command line, so that neither imports the other's internals.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from logobrand.errors import ModelFormatError

if TYPE_CHECKING:
    from logobrand.inference import LogoClassifier

PROG = "logobrand"
"""The command's name, in messages."""


def err(message: str) -> None:
    """Print a message to stderr (flushed)."""
    print(message, file=sys.stderr, flush=True)


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


URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str) -> bool:
    return URL_RE.match(text) is not None


def is_folder(text: str) -> bool:
    """Whether a command-line input names a folder (``""`` does not: it is not ``.``)."""
    return bool(text) and not is_url(text) and Path(text).is_dir()


__all__ = [
    "PROG",
    "URL_RE",
    "add_threshold_options",
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
    "resolve_model_dir",
    "unit_float",
    "with_threshold",
]
