"""Weights files and resumable training state, in safetensors + JSON (never pickle).

This module is the one place that reads and writes tensors for training:

* :func:`load_weights` loads a weights file (``.safetensors``, or a ``.pth``/``.pt`` state dict
  read with ``torch.load(..., weights_only=True)``) into a model, checking every tensor name
  and shape. The model builders use it for ``pretrained=<path>``.
* :func:`save_training_state` / :func:`load_training_state` write and read a *training state*:
  ``trainer_state.safetensors`` (model weights, optimizer tensors flattened, torch and numpy
  RNG states) and ``trainer_state.json`` (everything else: completed epochs, history, optimizer
  hyper-parameters, Python RNG state, callback states). The JSON records the SHA-256 of the
  tensor file, so a mismatched pair is detected.
* :func:`replace_state_dir` creates or replaces a training-state folder atomically (write a
  temporary sibling, rename the old folder away, rename the new one in, delete the old one);
  :func:`find_training_state` finds the state to resume from, recovering an interrupted swap.

Tensor names inside ``trainer_state.safetensors``::

    model/<state_dict key>              model parameters and buffers
    optimizer/<param index>/<key>       per-parameter optimizer tensors (momentum, exp_avg, ...)
    rng/torch                           torch.get_rng_state()
    rng/numpy                           the numpy global MT19937 key (624 uint32, as int64)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from logobrand._atomic_dir import recover_dir, replace_dir
from logobrand._io import atomic_write_bytes, atomic_write_text
from logobrand.errors import InvalidArgumentError, ModelFormatError

logger = logging.getLogger(__name__)

STATE_TENSORS = "trainer_state.safetensors"
"""File name of the tensor half of a training state."""
STATE_JSON = "trainer_state.json"
"""File name of the JSON half of a training state."""
STATE_FORMAT_VERSION = 1
"""Version of the training-state format written by this module."""


# ----------------------------------------------------------------------------------------------
# Weights files
# ----------------------------------------------------------------------------------------------


def read_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a weights file into a flat ``{name: tensor}`` dictionary.

    ``.safetensors`` files are read with safetensors; ``.pth``, ``.pt`` and ``.bin`` files with
    ``torch.load(path, map_location="cpu", weights_only=True)`` (no pickle code runs). A
    checkpoint that nests its state dict under ``"state_dict"``, ``"model_state_dict"`` or
    ``"model"`` is unwrapped, and a ``"module."`` prefix on every name (``DataParallel``) is
    removed.

    Args:
        path: The weights file.

    Returns:
        The tensors by name.

    Raises:
        ModelFormatError: The file is missing, has an unknown extension or cannot be read.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelFormatError(
            f"weights file {file} does not exist; pass the path of a local .safetensors or "
            ".pth file (logobrand never downloads weights)"
        )
    suffix = file.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(file), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFormatError(f"cannot read safetensors file {file}: {exc}") from exc
    if suffix in (".pth", ".pt", ".bin"):
        try:
            loaded: Any = torch.load(str(file), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError...)
            raise ModelFormatError(
                f"cannot read {file} as a weights-only torch state dict ({type(exc).__name__}: "
                f"{exc}); convert it to .safetensors"
            ) from exc
        return _flatten_checkpoint(loaded, file)
    raise ModelFormatError(
        f"unknown weights file type {file.name!r}; expected .safetensors (preferred), .pth or .pt"
    )


def _flatten_checkpoint(loaded: Any, file: Path) -> dict[str, torch.Tensor]:
    nested = isinstance(loaded, Mapping) and not any(
        isinstance(v, torch.Tensor) for v in loaded.values()
    )
    if nested:
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping):
        raise ModelFormatError(
            f"{file} holds a {type(loaded).__name__}, not a state dict of named tensors"
        )
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelFormatError(f"{file} holds no tensors; expected a model state dict")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors


def load_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    skip_mismatched_head: bool = False,
) -> list[str]:
    """Load a weights file into ``model``, checking every tensor.

    Args:
        model: The model to fill in place.
        path: A ``.safetensors`` (preferred), ``.pth`` or ``.pt`` file whose names follow
            ``model.state_dict()``.
        skip_mismatched_head: When ``True``, tensors of the model's ``head`` that are missing
            or have another shape in the file (for example a 1000-class ImageNet head) are
            skipped and keep their initial values.

    Returns:
        The names of the tensors that were skipped (empty unless ``skip_mismatched_head``).

    Raises:
        ModelFormatError: The file cannot be read, a tensor is missing, unexpected, or has
            another shape; the message names the tensor and the file.
    """
    file = Path(path)
    return load_state_tensors(
        model, read_weights(file), source=str(file), skip_mismatched_head=skip_mismatched_head
    )


def load_state_tensors(
    model: nn.Module,
    tensors: Mapping[str, torch.Tensor],
    *,
    source: str,
    skip_mismatched_head: bool = False,
) -> list[str]:
    """Load named tensors into ``model`` after checking every name and shape.

    Args:
        model: The model to fill in place.
        tensors: Tensors named like ``model.state_dict()``.
        source: Where the tensors came from, for error messages.
        skip_mismatched_head: See :func:`load_weights`.

    Returns:
        The names of the skipped head tensors.

    Raises:
        ModelFormatError: A tensor is missing, unexpected or has another shape; the message
            names it and ``source``.
    """
    own = model.state_dict()
    head_prefix = "head." if isinstance(getattr(model, "head", None), nn.Module) else None
    skipped: list[str] = []
    to_load: dict[str, torch.Tensor] = {}
    for name, current in own.items():
        is_head = head_prefix is not None and name.startswith(head_prefix)
        given = tensors.get(name)
        if given is None:
            if skip_mismatched_head and is_head:
                skipped.append(name)
                continue
            if name.endswith("num_batches_tracked"):
                continue
            raise ModelFormatError(
                f"tensor {name!r} (shape {tuple(current.shape)}) is missing from {source}; it "
                f"was not saved from this architecture ({type(model).__name__})"
            )
        if tuple(given.shape) != tuple(current.shape):
            if skip_mismatched_head and is_head:
                skipped.append(name)
                continue
            raise ModelFormatError(
                f"tensor {name!r} has shape {tuple(given.shape)} in {source} but the model "
                f"({type(model).__name__}) expects {tuple(current.shape)}; check the "
                "architecture and its arguments (num_classes, ...)"
            )
        to_load[name] = given.to(current.dtype)
    unexpected = sorted(set(tensors) - set(own))
    if unexpected:
        more = f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        raise ModelFormatError(
            f"{source} holds tensors that {type(model).__name__} does not have: "
            f"{', '.join(repr(n) for n in unexpected[:5])}{more}; it was saved from "
            "another architecture"
        )
    model.load_state_dict(to_load, strict=False)
    if skipped:
        logger.info(
            "%s: kept the initial values of %s (another head in %s)",
            type(model).__name__,
            ", ".join(skipped),
            source,
        )
    return skipped


# ----------------------------------------------------------------------------------------------
# Training state
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainingState:
    """A training state read back by :func:`load_training_state`.

    Attributes:
        directory: The folder it was read from.
        info: The JSON half (``epoch``, ``history``, ``callbacks``, ... as the trainer wrote it).
        model_state: The model's state dict.
        optimizer_state: A state dict ready for ``torch.optim.Optimizer.load_state_dict``, or
            ``None`` when none was saved.
        rng: RNG states (``torch``, ``numpy``, ``python``) for :func:`restore_rng`.
    """

    directory: Path
    info: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None
    rng: dict[str, Any] = field(default_factory=dict)


def capture_rng() -> dict[str, Any]:
    """Return the current torch, numpy-global and Python ``random`` RNG states."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": np.asarray(keys, dtype=np.int64),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),
    }


def restore_rng(rng: Mapping[str, Any]) -> None:
    """Restore RNG states captured by :func:`capture_rng` (or read from a training state)."""
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "numpy" in rng:
        n = rng["numpy"]
        np.random.set_state(
            (
                n["kind"],
                np.asarray(n["keys"], dtype=np.uint32),
                int(n["pos"]),
                int(n["has_gauss"]),
                float(n["cached_gaussian"]),
            )
        )
    if "python" in rng:
        version, internal, gauss = rng["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_training_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    info: Mapping[str, Any],
    rng: Mapping[str, Any] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Encode a training state as safetensors bytes and a JSON-ready dictionary.

    Args:
        model: The model whose ``state_dict()`` is saved.
        optimizer: The optimizer whose state is saved (tensors flattened), or ``None``.
        info: Free JSON-ready information (the trainer's epoch, history, callbacks, ...).
        rng: RNG states from :func:`capture_rng`; captured now when ``None``.

    Returns:
        ``(tensor_bytes, json_dict)``; the JSON holds ``info`` plus ``format_version``,
        ``optimizer`` (hyper-parameters and scalar state), ``rng`` and ``tensors_sha256``.
    """
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[f"model/{name}"] = value.detach().cpu().contiguous().clone()
    optim_json: dict[str, Any] | None = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, per_param in sd["state"].items():
            for key, value in per_param.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{index}/{key}"] = value.detach().cpu().contiguous().clone()
                else:
                    scalars.setdefault(str(index), {})[key] = _jsonable(value)
        optim_json = {
            "type": type(optimizer).__name__,
            "param_groups": _jsonable(sd["param_groups"]),
            "scalars": scalars,
        }
    rng = capture_rng() if rng is None else rng
    rng_json: dict[str, Any] = {}
    if "torch" in rng:
        tensors["rng/torch"] = rng["torch"].clone()
    if "numpy" in rng:
        n = dict(rng["numpy"])
        tensors["rng/numpy"] = torch.from_numpy(np.asarray(n.pop("keys"), dtype=np.int64).copy())
        rng_json["numpy"] = n
    if "python" in rng:
        rng_json["python"] = _jsonable(rng["python"])
    data = save(tensors)
    payload = {
        **_jsonable(dict(info)),
        "format_version": STATE_FORMAT_VERSION,
        "optimizer": optim_json,
        "rng": rng_json,
        "tensors_file": STATE_TENSORS,
        "tensors_sha256": hashlib.sha256(data).hexdigest(),
    }
    return data, payload


def save_training_state(
    directory: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    info: Mapping[str, Any],
    rng: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``trainer_state.safetensors`` + ``trainer_state.json`` into ``directory``.

    Each file is written atomically; the JSON (written second) records the SHA-256 of the
    tensor file, so :func:`load_training_state` detects a pair torn by a crash. Use
    :func:`replace_state_dir` to replace a whole folder atomically.

    Returns:
        The directory.
    """
    target = Path(directory)
    data, payload = encode_training_state(model, optimizer, info, rng)
    atomic_write_bytes(target / STATE_TENSORS, data)
    atomic_write_text(target / STATE_JSON, json.dumps(payload, indent=1) + "\n")
    return target


def load_training_state(directory: str | os.PathLike[str]) -> TrainingState:
    """Read a training state written by :func:`save_training_state`.

    Raises:
        ModelFormatError: A file is missing, unreadable, of another format version, or the
            two files do not belong together; the message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = Path(directory)
    json_path, tensor_path = folder / STATE_JSON, folder / STATE_TENSORS
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
        data = tensor_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFormatError(
            f"{exc.filename} is missing; {folder} is not a complete training state "
            "(written by ModelCheckpoint or Trainer.save_state)"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"cannot read the training state in {folder}: {exc}") from exc
    if not isinstance(info, dict) or info.get("format_version") != STATE_FORMAT_VERSION:
        version = info.get("format_version") if isinstance(info, dict) else None
        raise ModelFormatError(
            f"{json_path}: unsupported training-state format_version {version!r} (this "
            f"logobrand reads {STATE_FORMAT_VERSION})"
        )
    if info.get("tensors_sha256") != hashlib.sha256(data).hexdigest():
        raise ModelFormatError(
            f"{tensor_path} does not match {json_path} (SHA-256 differs): the pair was torn by "
            "an interrupted write or edited by hand; resume from another checkpoint"
        )
    try:
        tensors = load(data)
    except (SafetensorError, ValueError) as exc:
        raise ModelFormatError(f"cannot read {tensor_path}: {exc}") from exc
    try:
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
        optimizer_state: dict[str, Any] | None = None
        optim = info.get("optimizer")
        if isinstance(optim, dict):
            state: dict[int, dict[str, Any]] = {}
            for key, value in tensors.items():
                if key.startswith("optimizer/"):
                    _, index, name = key.split("/", 2)
                    state.setdefault(int(index), {})[name] = value
            for index_text, values in optim.get("scalars", {}).items():
                state.setdefault(int(index_text), {}).update(values)
            groups = []
            for group in optim["param_groups"]:
                groups.append(
                    {
                        k: (tuple(v) if isinstance(v, list) and k != "params" else v)
                        for k, v in group.items()
                    }
                )
            optimizer_state = {"state": state, "param_groups": groups}
        rng: dict[str, Any] = {}
        if "rng/torch" in tensors:
            rng["torch"] = tensors["rng/torch"]
        rng_info = info.get("rng", {})
        if "rng/numpy" in tensors and "numpy" in rng_info:
            rng["numpy"] = {**rng_info["numpy"], "keys": tensors["rng/numpy"].numpy()}
        if "python" in rng_info:
            rng["python"] = rng_info["python"]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelFormatError(
            f"{json_path} is malformed ({type(exc).__name__}: {exc}); was it edited by hand? "
            "resume from another checkpoint"
        ) from exc
    return TrainingState(folder, info, model_state, optimizer_state, rng)


# ----------------------------------------------------------------------------------------------
# Atomic folders
# ----------------------------------------------------------------------------------------------


def replace_state_dir(directory: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Create or replace ``directory`` atomically with what ``writer`` puts in a fresh folder.

    ``writer(tmp)`` fills a hidden sibling ``.<name>.tmp-*``. Then the previous folder is
    renamed to ``.<name>.old-*``, the new one renamed into place and the old one deleted; an
    error leaves the previous folder intact, and a crash between the two renames leaves the
    backup, which :func:`find_training_state` puts back.

    Args:
        directory: The folder to create or replace. If it exists it must hold a training
            state (``trainer_state.json``) or be empty.
        writer: Called with the temporary folder.

    Returns:
        The directory.

    Raises:
        InvalidArgumentError: ``directory`` is a file or an unrelated non-empty folder.
        OutputError: A file or folder cannot be written (the previous folder is intact).
    """
    target = Path(directory)
    if target.exists():
        if not target.is_dir():
            raise InvalidArgumentError(f"{target} exists and is not a folder; choose another")
        if not (target / STATE_JSON).exists() and any(target.iterdir()):
            raise InvalidArgumentError(
                f"{target} exists and holds no {STATE_JSON}; refusing to replace an unrelated "
                "folder: choose a new or empty checkpoint directory"
            )
    replace_dir(target, writer)
    return target


def _recover(target: Path) -> None:
    def tell(backup: Path) -> None:
        logger.warning("restoring %s from %s (an earlier save was interrupted)", target, backup)

    recover_dir(target, STATE_JSON, remove_tmp=False, on_restore=tell)


def find_training_state(path: str | os.PathLike[str]) -> Path:
    """Return the folder holding the training state to resume from.

    Args:
        path: A folder with ``trainer_state.json``, or a :class:`ModelCheckpoint
            <logobrand.training.callbacks.ModelCheckpoint>` directory (its ``last/`` subfolder
            is used: the state after the most recent epoch).

    Raises:
        ModelFormatError: No training state is there.
    """
    folder = Path(path)
    for candidate in (folder / "last", folder):
        _recover(candidate)
        if (candidate / STATE_JSON).is_file():
            return candidate
    raise ModelFormatError(
        f"no {STATE_JSON} in {folder} or {folder / 'last'}; pass a ModelCheckpoint directory "
        "or a folder written by Trainer.save_state"
    )


__all__ = [
    "STATE_FORMAT_VERSION",
    "STATE_JSON",
    "STATE_TENSORS",
    "TrainingState",
    "capture_rng",
    "encode_training_state",
    "find_training_state",
    "load_state_tensors",
    "load_training_state",
    "load_weights",
    "read_weights",
    "replace_state_dir",
    "restore_rng",
    "save_training_state",
]
