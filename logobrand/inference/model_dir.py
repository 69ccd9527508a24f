"""Model directories by name: the bundled presets, and the checks of a directory to load.

Example:
    >>> sorted(BUNDLED_MODELS)
    ['accurate', 'default', 'fast']
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from logobrand.errors import InvalidArgumentError, ModelFormatError, ModelNotFoundError
from logobrand.inference.config import CONFIG_NAME, leftover_backups

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "_default"
"""Where the bundled default model lives (``logobrand/_default``: config.json + model.onnx)."""
FAST_MODEL_DIR = Path(__file__).resolve().parent.parent / "_fast"
"""Where the bundled int8 copy of the default model lives (``logobrand/_fast``)."""

PRESET_DESCRIPTIONS = {
    "default": "EfficientNet-Lite0, float32: the bundled model",
    "accurate": "'default' reading the brands' names (the ocr extra) in photos it leaves "
    "without a brand (logobrand.inference.words)",
    "fast": "int8 copy of 'default': about 1.7x the photos per second, same accuracy here",
}
"""One line per bundled preset (``logobrand models`` shows them)."""

BUNDLED_MODELS = {
    "default": DEFAULT_MODEL_DIR,
    "accurate": DEFAULT_MODEL_DIR,
    "fast": FAST_MODEL_DIR,
}
"""The bundled presets: ``"default"`` (float32), ``"accurate"`` (the same model, reading the
trained brands' names in photos it leaves without a brand, see
:mod:`logobrand.inference.words`) and ``"fast"`` (its int8 copy: about 1.7x the
photos per second on CPUs with VNNI, same accuracy here; see ``docs/benchmarks.rst``)."""


def resolve_model_dir(name_or_dir: str | os.PathLike[str] | None) -> Path:
    """The model directory that ``name_or_dir`` names: a bundled preset (``None`` is
    ``"default"``) or a directory holding ``config.json``.

    Raises:
        InvalidArgumentError: ``name_or_dir`` is neither a preset nor a path.
        ModelFormatError: No bundled model ships with this install, the path is a file, or a
            training run (its ``best`` checkpoint is named).
        ModelNotFoundError: The directory does not exist (the message suggests a preset or an
            interrupted save's backup).
    """
    if name_or_dir is None or (isinstance(name_or_dir, str) and name_or_dir in BUNDLED_MODELS):
        directory = BUNDLED_MODELS[name_or_dir or "default"]
        if not (directory / CONFIG_NAME).is_file():
            raise ModelFormatError(
                "no bundled model ships with this version of logobrand yet; pass the path "
                "of a model directory, e.g. LogoClassifier.from_pretrained('runs/x/model')"
            )
    else:
        if not isinstance(name_or_dir, (str, os.PathLike)) or not os.fspath(name_or_dir):
            raise InvalidArgumentError(
                f"expected a model directory or one of {sorted(BUNDLED_MODELS)}, got "
                f"{name_or_dir!r}"
            )
        directory = Path(name_or_dir)
        if directory.is_file():
            raise ModelFormatError(
                f"{directory} is a file; pass the model directory that holds config.json "
                "and model.onnx"
            )
        if not directory.is_dir():
            backups = leftover_backups(directory)
            close = difflib.get_close_matches(os.fspath(name_or_dir), list(BUNDLED_MODELS), 1)
            hint = (
                f"; an interrupted save left the previous copy at {backups[0]}: run "
                f"logobrand.inference.recover_model_dir({str(directory)!r}) to restore it"
                if backups
                else f"; did you mean the bundled preset {close[0]!r}?"
                if close
                else "; pass a model directory (written by `logobrand train` or `export`, "
                "or by save_pretrained)"
            )
            raise ModelNotFoundError(f"model directory {directory} does not exist{hint}")
        if not (directory / CONFIG_NAME).exists() and (directory / "best" / CONFIG_NAME).is_file():
            raise ModelFormatError(
                f"{directory} is a training run, not a model directory; load its best "
                f"checkpoint: {directory / 'best'}"
            )
    return directory


def refuse_bundled(directory: str | os.PathLike[str]) -> None:
    """Raise if ``directory`` is a bundled model: saving there would change the package."""
    target = Path(directory).resolve()
    for name, bundled in BUNDLED_MODELS.items():
        if target == bundled.resolve():
            raise InvalidArgumentError(
                f"{directory} is the bundled {name!r} model, which is not changed in place; "
                "save a copy to a folder of your own (save_pretrained(DIR), or --out DIR in "
                "the CLI) and load that"
            )


__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL_DIR",
    "FAST_MODEL_DIR",
    "PRESET_DESCRIPTIONS",
    "refuse_bundled",
    "resolve_model_dir",
]
