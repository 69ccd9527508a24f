"""The model directory format: ``config.json`` (:class:`ModelConfig`) and atomic directory swaps.

A *model directory* holds everything needed to run a trained model without torch::

    my-model/
    ├── config.json         ModelConfig.to_dict(): labels, preprocessing, calibration
    ├── model.onnx          input "images" (N, 3, S, S) float32 -> output "logits" (N, C)
    └── model.safetensors   the torch state_dict (optional for inference)

Directories are replaced atomically (:func:`write_model_dir`): the new content is written to a
hidden temporary sibling (``.my-model.tmp-*``), the previous directory is renamed to a hidden
backup (``.my-model.old-*``), the new one is renamed into place and the backup is deleted. If
the process dies between the two renames, ``my-model`` is missing but both complete copies
survive; :func:`recover_model_dir` puts the previous copy back (and
:meth:`LogoClassifier.from_pretrained <logobrand.inference.LogoClassifier.from_pretrained>`
says so in its error message).

Example:
    >>> from logobrand.models.registry import Preprocessing
    >>> cfg = ModelConfig(architecture="scratch_cnn", labels=("adidas", "no-logo"),
    ...                   preprocessing=Preprocessing(input_size=64))
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logobrand._atomic_dir import backups_of, recover_dir, replace_dir
from logobrand._io import _UMASK, _fsync_dir, atomic_write_json
from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.inference.prediction import NO_LOGO
from logobrand.models.registry import Preprocessing

FORMAT_VERSION = 1
"""The ``format_version`` written to and accepted in ``config.json``."""

CONFIG_NAME = "config.json"
ONNX_NAME = "model.onnx"
WEIGHTS_NAME = "model.safetensors"
DEFAULT_FILES: Mapping[str, str] = {"onnx": ONNX_NAME, "weights": WEIGHTS_NAME}

_REQUIRED = (
    "format_version",
    "architecture",
    "labels",
    "preprocessing",
    "temperature",
    "threshold",
    "files",
)
_OPTIONAL = ("target_precision", "training", "views", "words")


def _default_files() -> dict[str, str]:
    return dict(DEFAULT_FILES)


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The content of a model directory's ``config.json``.

    Attributes:
        architecture: Registry name of the network (``logobrand.models.list_models()``).
        labels: Class labels in output index order; contains ``"no-logo"``.
        preprocessing: How to turn a photo into the network input.
        temperature: Softmax temperature from calibration (0.001 to 1000; 1.0 = uncalibrated).
        threshold: Minimum brand probability for a brand to be reported, in ``[0, 1]``.
        target_precision: The logo precision the threshold was chosen for (informational).
        files: File names inside the directory: ``"onnx"`` (required) and ``"weights"``.
        training: Free-form JSON summary of how the model was trained.
        views: Closer-looks settings chosen on validation photos
            (:class:`~logobrand.inference.views.ViewsSettings`: ``crop`` and ``threshold``),
            or ``None`` when they were never calibrated.
        words: Words-rule settings chosen on validation photos
            (:class:`~logobrand.inference.words.WordsSettings`: ``floor`` and ``look``), or
            ``None``.
        format_version: Version of this format; only ``1`` exists.

    Example:
        >>> cfg = ModelConfig(architecture="resnet18_v2", labels=("HP", "no-logo"))
        >>> cfg.brands
        ('HP',)
    """

    architecture: str
    labels: tuple[str, ...]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    temperature: float = 1.0
    threshold: float = 0.5
    target_precision: float = 0.98
    files: dict[str, str] = field(default_factory=_default_files)
    training: dict[str, Any] = field(default_factory=dict)
    views: dict[str, float] | None = None
    words: dict[str, float] | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "files", dict(self.files))
        object.__setattr__(self, "training", dict(self.training))
        if self.views is not None:
            object.__setattr__(self, "views", dict(self.views))
        if self.words is not None:
            object.__setattr__(self, "words", dict(self.words))
        problem = _validate(self)
        if problem is not None:
            name, message = problem
            raise InvalidArgumentError(f"ModelConfig.{name}: {message}")

    @property
    def brands(self) -> tuple[str, ...]:
        """The labels other than ``"no-logo"``, in index order."""
        return tuple(label for label in self.labels if label != NO_LOGO)

    @property
    def onnx_file(self) -> str:
        """File name of the ONNX model inside the directory."""
        return self.files["onnx"]

    @property
    def weights_file(self) -> str | None:
        """File name of the safetensors weights, or ``None`` when the directory has none."""
        return self.files.get("weights")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready content of ``config.json``."""
        data: dict[str, Any] = {
            "format_version": self.format_version,
            "architecture": self.architecture,
            "labels": list(self.labels),
            "preprocessing": self.preprocessing.to_dict(),
            "temperature": float(self.temperature),
            "threshold": float(self.threshold),
            "target_precision": float(self.target_precision),
            "files": dict(self.files),
            "training": dict(self.training),
        }
        if self.views is not None:
            data["views"] = {k: float(v) for k, v in self.views.items()}
        if self.words is not None:
            data["words"] = {k: float(v) for k, v in self.words.items()}
        return data

    @classmethod
    def from_dict(cls, data: Any, *, source: str = CONFIG_NAME) -> ModelConfig:
        """Build and validate a config from parsed ``config.json`` content.

        Args:
            data: The parsed JSON object.
            source: The file it came from, used in error messages.

        Raises:
            ModelFormatError: A field is missing, unknown, of the wrong type or out of range;
                the message names ``source`` and the field.

        Example:
            >>> try:
            ...     ModelConfig.from_dict({"format_version": 2})
            ... except ModelFormatError as exc:
            ...     print(str(exc).split(" (")[0])
            config.json: unsupported format_version 2
        """

        def bad(name: str, message: str) -> ModelFormatError:
            return ModelFormatError(
                f"{source}: field {name!r} {message}; fix the file or re-save the model "
                "with logobrand (save_model_dir / LogoClassifier.save_pretrained)"
            )

        if not isinstance(data, dict):
            raise ModelFormatError(
                f"{source}: expected a JSON object, got {type(data).__name__}; "
                "a model directory's config.json is written by save_model_dir"
            )
        version = data.get("format_version")
        if "format_version" in data and (type(version) is not int or version != FORMAT_VERSION):
            raise ModelFormatError(
                f"{source}: unsupported format_version {version!r} (this logobrand reads "
                f"version {FORMAT_VERSION}); upgrade logobrand or re-export the model"
            )
        for name in _REQUIRED:
            if name not in data:
                raise bad(name, "is missing")
        unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            raise bad(
                unknown[0],
                f"is not part of format_version {FORMAT_VERSION} (allowed: "
                f"{', '.join(_REQUIRED + _OPTIONAL)}); put free-form information under 'training'",
            )
        arch = data["architecture"]
        if not isinstance(arch, str) or not arch:
            raise bad("architecture", "must be a non-empty string")
        labels = data["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise bad("labels", "must be a list of strings")
        pre_data = data["preprocessing"]
        if not isinstance(pre_data, dict):
            raise bad("preprocessing", "must be an object")
        try:
            pre = Preprocessing.from_dict(pre_data)
        except (KeyError, ValueError, TypeError) as exc:
            raise bad("preprocessing", f"is invalid ({type(exc).__name__}: {exc})") from exc
        numbers: dict[str, float] = {}
        for name in ("temperature", "threshold", "target_precision"):
            if name not in data:
                continue
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(name, f"must be a number, got {value!r}")
            numbers[name] = float(value)
        files = data["files"]
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            raise bad("files", "must be an object mapping names to file names")
        training = data.get("training", {})
        if not isinstance(training, dict):
            raise bad("training", "must be an object")
        views = data.get("views")
        if views is not None and not isinstance(views, dict):
            raise bad("views", "must be an object with 'crop' and 'threshold'")
        words = data.get("words")
        if words is not None and not isinstance(words, dict):
            raise bad("words", "must be an object with 'floor' and 'look'")
        try:
            return cls(
                architecture=arch,
                labels=tuple(labels),
                preprocessing=pre,
                files=files,
                training=training,
                temperature=numbers.get("temperature", 1.0),
                threshold=numbers.get("threshold", 0.5),
                target_precision=numbers.get("target_precision", 0.98),
                views=views,
                words=words,
            )
        except InvalidArgumentError as exc:
            # __post_init__ reports "ModelConfig.<field>: <message>"
            text = str(exc).removeprefix("ModelConfig.")
            name, _, message = text.partition(": ")
            raise bad(name, message) from exc

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ModelConfig:
        """Read and validate ``<directory>/config.json``.

        Raises:
            ModelFormatError: The file is missing, is not JSON or is invalid.

        Example:
            >>> try:
            ...     ModelConfig.load("no/such/dir")
            ... except ModelFormatError as exc:
            ...     print(str(exc).split(";")[0])
            no config.json in no/such/dir
        """
        path = Path(directory) / CONFIG_NAME
        data = read_json_file(
            path,
            if_missing=f"no {CONFIG_NAME} in {directory}; pass a model directory written by "
            "save_model_dir or LogoClassifier.save_pretrained",
            if_invalid="fix the file or re-save the model",
        )
        return cls.from_dict(data, source=str(path))

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``<directory>/config.json`` atomically and return its path.

        Raises:
            InvalidArgumentError: ``training`` holds values that JSON cannot represent.
        """
        try:
            payload = self.to_dict()
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"ModelConfig.training must hold plain JSON values (str, number, bool, None, "
                f"list, dict): {exc}"
            ) from exc
        return atomic_write_json(Path(directory) / CONFIG_NAME, payload)


def _validate(cfg: ModelConfig) -> tuple[str, str] | None:
    """Return ``(field, problem)`` for the first invalid field, or ``None``."""
    if isinstance(cfg.format_version, bool) or cfg.format_version != FORMAT_VERSION:
        return "format_version", f"must be {FORMAT_VERSION}, got {cfg.format_version!r}"
    if not isinstance(cfg.architecture, str) or not cfg.architecture:
        return "architecture", "must be a non-empty string"
    labels = cfg.labels
    if not labels:
        return "labels", "is empty; list the class labels in output order"
    if not all(isinstance(x, str) and x for x in labels):
        return "labels", "must be non-empty strings"
    duplicated = sorted({x for x in labels if labels.count(x) > 1})
    if duplicated:
        return "labels", f"has duplicated entries {duplicated}; each label must appear once"
    if NO_LOGO not in labels:
        return "labels", f"lacks {NO_LOGO!r}; the no-logo class is required"
    if len(labels) < 2:
        return "labels", "needs at least one brand besides 'no-logo'"
    if not isinstance(cfg.preprocessing, Preprocessing):
        return "preprocessing", "must be a Preprocessing"
    numbers = {
        "temperature": cfg.temperature,
        "threshold": cfg.threshold,
        "target_precision": cfg.target_precision,
    }
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return name, f"must be a number, got {value!r}"
        if not math.isfinite(value):
            return name, f"must be finite, got {value!r}"
    if not 1e-3 <= cfg.temperature <= 1e3:
        return "temperature", f"must be from 0.001 to 1000, got {cfg.temperature!r}"
    if not 0.0 <= cfg.threshold <= 1.0:
        return "threshold", f"must be in [0, 1], got {cfg.threshold!r}"
    if not 0.0 < cfg.target_precision <= 1.0:
        return "target_precision", f"must be in (0, 1], got {cfg.target_precision!r}"
    if cfg.views is not None:
        crop, threshold = cfg.views.get("crop"), cfg.views.get("threshold")
        if set(cfg.views) != {"crop", "threshold"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in (crop, threshold)
        ):
            return "views", f"must hold the numbers 'crop' and 'threshold', got {cfg.views!r}"
        assert crop is not None and threshold is not None
        if not 0.0 < crop < 1.0 or not 0.0 <= threshold <= 1.0:
            return "views", f"needs crop in (0, 1) and threshold in [0, 1], got {cfg.views!r}"
    if cfg.words is not None and (
        set(cfg.words) != {"floor", "look"}
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
            for v in cfg.words.values()
        )
    ):
        return "words", f"must hold 'floor' and 'look', numbers in [0, 1], got {cfg.words!r}"
    if "onnx" not in cfg.files:
        return "files", "lacks the 'onnx' entry naming the ONNX model file"
    for key, name in cfg.files.items():
        if not isinstance(name, str) or not _is_plain_file_name(name):
            return "files", (
                f"entry {key!r} = {name!r} must be a plain file name inside the model directory"
            )
    return None


def _is_plain_file_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


# ----------------------------------------------------------------------------------------------
# Atomic directory replacement
# ----------------------------------------------------------------------------------------------


def write_model_dir(directory: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Create or replace ``directory`` atomically with what ``writer`` puts in a fresh folder.

    ``writer(tmp)`` fills a new hidden sibling folder. Files and folders of the previous
    ``directory`` that are not its model files (``config.json``, the files its ``files``
    names, ``gallery.json`` and ``gallery.npz``) and that the writer did not write, such as a
    README, notes or a backup the user keeps beside the model, are copied into it. Only then is
    the new folder swapped into place: the previous ``directory`` (if any) is renamed to a
    hidden backup, the new folder is renamed to ``directory`` and the backup is deleted. An
    exception at any step leaves the previous ``directory`` intact (a failed second rename is
    rolled back); a hard crash between the renames leaves the backup, which
    :func:`recover_model_dir` restores.

    Args:
        directory: The model directory to create or replace. If it exists it must be a model
            directory (contain ``config.json``) or be empty, so that a typo cannot replace an
            unrelated folder.
        writer: Called with the temporary folder; must write every file of the new directory.

    Returns:
        The directory path, as given (a link to a folder stays a link: the folder it points
        to is replaced).

    Raises:
        InvalidArgumentError: ``directory`` exists and is a file or an unrelated folder.
        OutputError: A file or folder cannot be written (the previous ``directory`` is left
            intact).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> write_model_dir(root / "m", lambda tmp: (tmp / "config.json").write_text("{}")).name
        'm'
    """
    given = Path(directory)
    # a link to a folder: replace the folder it points to, and keep the link
    target = given.resolve() if given.is_symlink() and given.is_dir() else given
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise InvalidArgumentError(
                f"{target} exists and is not a directory; choose another destination"
            )
        if not (target / CONFIG_NAME).exists() and any(target.iterdir()):
            raise InvalidArgumentError(
                f"{target} exists and is not a model directory (no {CONFIG_NAME}); refusing to "
                "replace it: choose a new or empty folder"
            )

    def finish(tmp: Path) -> None:
        carried = _carry_user_files(target, tmp) if target.is_dir() else set()
        for path in tmp.iterdir():
            if path.is_file() and path.name not in carried:
                path.chmod(0o666 & ~_UMASK)  # mkstemp/mkdtemp make private files; use the umask
            _fsync_file(path)
        tmp.chmod(0o777 & ~_UMASK)
        _fsync_dir(tmp)

    replace_dir(target, writer, finish=finish)
    return given


def _carry_user_files(old: Path, new: Path) -> set[str]:
    """Copy the entries of ``old`` that are not model files and that ``new`` lacks; return
    their names."""
    owned = {CONFIG_NAME, "gallery.json", "gallery.npz"}
    try:
        files = json.loads((old / CONFIG_NAME).read_text(encoding="utf-8")).get("files", {})
        owned |= {str(name) for name in files.values()} if isinstance(files, dict) else set()
    except (OSError, ValueError, AttributeError):
        pass  # no readable config: only the fixed names above are the model's
    carried: set[str] = set()
    for entry in old.iterdir():
        name = entry.name
        if name in owned or os.path.lexists(new / name):
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), new / name)
        elif entry.is_dir():
            shutil.copytree(entry, new / name, symlinks=True)
        else:
            shutil.copy2(entry, new / name)
        carried.add(name)
    return carried


def leftover_backups(directory: str | os.PathLike[str]) -> list[Path]:
    """Return backups of ``directory`` left by an interrupted swap, newest first."""
    return backups_of(Path(directory), CONFIG_NAME)


def recover_model_dir(directory: str | os.PathLike[str]) -> Path | None:
    """Repair ``directory`` after a crash in the middle of :func:`write_model_dir`.

    If ``directory`` is missing and a backup of it exists, the newest backup is renamed back
    into place (the save that crashed is lost; run it again). Leftover temporary folders
    (incomplete new copies) are deleted, as are backups once ``directory`` exists.

    Args:
        directory: The model directory that a save was writing.

    Returns:
        The directory if it exists after recovery, else ``None``.

    Example:
        >>> recover_model_dir("never/saved") is None
        True
    """
    target = Path(directory)
    return target if recover_dir(target, CONFIG_NAME, remove_tmp=True) else None


def read_json_file(path: Path, *, if_missing: str, if_invalid: str) -> Any:
    """Read a JSON file of a model directory, or raise a :class:`ModelFormatError`.

    Args:
        path: The file.
        if_missing: The whole message when the file does not exist.
        if_invalid: What to do, appended to the message when the file is not valid JSON.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ModelFormatError(if_missing) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"cannot read {path}: {exc}; {if_invalid}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"{if_invalid}"
        ) from exc


def copy_model_files(source: Path, destination: Path, names: Sequence[str]) -> None:
    """Copy the named files of a model directory (helper for ``save_pretrained``)."""
    for name in names:
        src = source / name
        if not src.is_file():
            raise ModelFormatError(
                f"{src} is missing; the model directory {source} is incomplete: re-save it"
            )
        shutil.copyfile(src, destination / name)


# -- what a model was trained on, and the curve its threshold was chosen from -----------------

DIGEST_CHARS = 12
"""Hex characters kept of each photo's SHA-256 in ``training["trained_on"]`` (48 bits: a
test photo is mistaken for a training photo about once in 10^10 tries per 1,000 photos)."""


def photo_digest(path: str | os.PathLike[str]) -> str:
    """The first :data:`DIGEST_CHARS` hex characters of a file's SHA-256 (its content)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:DIGEST_CHARS]


def trained_on_record(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """A compact record of the photos a model was trained or calibrated on.

    Store it as ``training["trained_on"]`` of a :class:`ModelConfig`; :func:`trained_on`
    reads it back. Photos are identified by content, so a copy under another name is still
    recognised.
    """
    digests = sorted({photo_digest(p) for p in paths})
    return {"sha256_prefix": DIGEST_CHARS, "photos": len(digests), "digests": "".join(digests)}


def trained_on(config: ModelConfig) -> frozenset[str] | None:
    """The digests of the photos ``config``'s model was trained on, or ``None`` if unrecorded."""
    record = config.training.get("trained_on")
    if not isinstance(record, dict) or not isinstance(record.get("digests"), str):
        return None
    width = int(record.get("sha256_prefix", DIGEST_CHARS))
    text = record["digests"]
    return frozenset(text[i : i + width] for i in range(0, len(text), width))


def curve_record(
    thresholds: Sequence[float], precision: Sequence[float], recall: Sequence[float]
) -> dict[str, list[float]]:
    """A validation precision/recall curve, thinned to at most 200 points, for ``config.json``.

    Store it as ``training["validation_curve"]``; :func:`threshold_from_curve` reads it.
    """
    n = len(thresholds)
    keep = sorted({round(i * (n - 1) / 199) for i in range(200)}) if n > 200 else range(n)
    return {
        "thresholds": [round(float(thresholds[i]), 6) for i in keep],
        "precision": [round(float(precision[i]), 6) for i in keep],
        "recall": [round(float(recall[i]), 6) for i in keep],
    }


def threshold_from_curve(
    config: ModelConfig, target_precision: float
) -> tuple[float, float, float]:
    """The lowest threshold of the stored validation curve whose precision reaches the target.

    Returns:
        ``(threshold, precision, recall)`` on the validation data.

    Raises:
        InvalidArgumentError: The target is not in ``(0, 1]``, the model stores no curve (its
            ``training["validation_curve"]``), or no point of it reaches the target.
    """
    if not (isinstance(target_precision, int | float) and 0 < target_precision <= 1):
        raise InvalidArgumentError(
            f"target precision must be a number in (0, 1], got {target_precision!r}"
        )
    curve = config.training.get("validation_curve")
    if not isinstance(curve, dict) or not curve.get("thresholds"):
        raise InvalidArgumentError(
            "this model stores no validation curve (training.validation_curve in its "
            "config.json), so a target precision cannot be turned into a threshold; pass a "
            "threshold instead, or recalibrate the model on validation data"
        )
    points = zip(curve["thresholds"], curve["precision"], curve["recall"], strict=True)
    for threshold, precision, recall in points:  # ascending thresholds: best recall first
        if precision >= target_precision:
            return float(threshold), float(precision), float(recall)
    best = max(curve["precision"])
    raise InvalidArgumentError(
        f"no threshold reaches precision {target_precision} on this model's validation data "
        f"(at most {best:.3f}); ask for a lower target"
    )


def _fsync_file(path: Path) -> None:
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "CONFIG_NAME",
    "DEFAULT_FILES",
    "FORMAT_VERSION",
    "ONNX_NAME",
    "WEIGHTS_NAME",
    "ModelConfig",
    "copy_model_files",
    "curve_record",
    "leftover_backups",
    "photo_digest",
    "recover_model_dir",
    "threshold_from_curve",
    "trained_on",
    "trained_on_record",
    "write_model_dir",
]
