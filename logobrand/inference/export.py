"""Export a trained torch model to a model directory (ONNX + safetensors + config.json).

torch is imported lazily inside the functions: importing this module does not need it.

Example:
    >>> # from logobrand.models import create_model
    >>> # model = create_model("scratch_cnn", num_classes=33)
    >>> # cfg = ModelConfig(architecture="scratch_cnn", labels=tuple(classes))
    >>> # save_model_dir(model, "runs/scratch/model", cfg)
    >>> # LogoClassifier.from_pretrained("runs/scratch/model").predict("photo.jpg")

Crash safety and recovery: :func:`save_model_dir` writes everything into a hidden temporary
sibling of the target and verifies it before swapping it into place (see
:func:`logobrand.inference.config.write_model_dir`). An exception at any point leaves the
previous directory untouched. If the process is killed between the two renames of the swap,
the target is briefly missing and the previous copy sits in ``.<name>.old-*`` next to it:
call :func:`logobrand.inference.config.recover_model_dir` (``LogoClassifier.from_pretrained``
names the backup in its error message) to restore it, then save again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError, ModelFormatError, missing_extra
from logobrand.inference.config import (
    DEFAULT_FILES,
    ONNX_NAME,
    WEIGHTS_NAME,
    ModelConfig,
    write_model_dir,
)

logger = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "logits"


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise missing_extra("torch", "train") from exc
    return torch


def export_onnx(model: Any, path: str | os.PathLike[str], input_size: int, opset: int = 17) -> Path:
    """Export ``model`` to ONNX: input ``"images"`` (N, 3, S, S) float32, output ``"logits"``.

    The batch axis is dynamic. The legacy TorchScript exporter is used (fast, one
    self-contained file); if it fails, the ``torch.export`` based exporter is tried
    (opset >= 18). The model is exported in eval mode and its training flag is restored. The
    file is written atomically.

    Args:
        model: A ``torch.nn.Module`` mapping ``(N, 3, S, S)`` to ``(N, C)`` logits.
        path: Destination ``.onnx`` file.
        input_size: ``S``.
        opset: ONNX opset for the legacy exporter.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        MissingExtraError: torch is not installed.
        InvalidArgumentError: The model cannot run on ``input_size`` inputs at all.
        ModelFormatError: Both exporters failed (the message has both reasons).

    Example:
        >>> # export_onnx(model, "model.onnx", input_size=224)
    """
    torch = _torch()
    if input_size < 1:
        raise InvalidArgumentError(f"input_size must be >= 1, got {input_size}")
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    was_training = bool(model.training)
    model.eval()
    dummy = torch.zeros(2, 3, input_size, input_size, dtype=torch.float32)
    try:
        with torch.no_grad():
            try:  # a plain forward first: an input the network cannot take is not an export bug
                model(dummy)
            except (RuntimeError, ValueError) as exc:
                raise InvalidArgumentError(
                    f"{type(model).__name__} cannot run on {input_size} x {input_size} inputs "
                    f"({_first_line(exc)}); export at the model's input size"
                ) from exc
            try:
                _export_legacy(torch, model, dummy, tmp, opset)
                drop_empty_pad_inputs(tmp)
            except (RuntimeError, TypeError, ValueError, NotImplementedError) as legacy_exc:
                logger.info(
                    "legacy ONNX export failed (%s); trying the dynamo exporter", legacy_exc
                )
                try:
                    _export_dynamo(torch, model, dummy, tmp, max(opset, 18))
                except Exception as dynamo_exc:  # torch.export raises many unrelated types
                    raise ModelFormatError(
                        f"cannot export {type(model).__name__} to ONNX: legacy exporter: "
                        f"{_first_line(legacy_exc)}; dynamo exporter: {_first_line(dynamo_exc)}"
                    ) from dynamo_exc
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    return dst


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's run to dozens of lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _with_extra_outputs(torch: Any, model: Any) -> tuple[Any, list[str]]:
    """Wrap a model that has ``forward_all`` so that its extra outputs are exported too."""
    if not hasattr(model, "forward_all") or not hasattr(model, "extra_onnx_outputs"):
        return model, [OUTPUT_NAME]

    class _AllOutputs(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, images: Any) -> Any:
            return self.inner.forward_all(images)

    return _AllOutputs(model), [OUTPUT_NAME, *model.extra_onnx_outputs()]


@contextlib.contextmanager
def quiet_torch_export() -> Iterator[None]:
    """Hide the TorchScript ONNX exporter's chatter inside the block.

    Its deprecation notices, tracer warnings (Python values taken from tensors: constant for
    these models) and the "Constant folding - Only steps=1" notes are harmless for
    logobrand's networks and would repeat at every checkpoint.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", message=r"Constant folding - Only steps=1")
        yield


def _export_legacy(torch: Any, model: Any, dummy: Any, path: Path, opset: int) -> None:
    module, names = _with_extra_outputs(torch, model)
    with quiet_torch_export():
        torch.onnx.export(
            module,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in names}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def drop_empty_pad_inputs(path: Path) -> int:
    """Drop the empty trailing inputs of ``Pad`` nodes so ONNX Runtime fuses them into convs.

    The TorchScript exporter writes ``F.pad`` as ``Pad(x, pads, "")``. ONNX Runtime's
    PadFusion (which folds a zero Pad into the following Conv) only accepts a constant third
    input, and the empty name is not one, so every Pad stayed in the graph: an extra copy each
    plus layout reorders around it. For EfficientNet-Lite0 ("same" padding, five Pads) that made
    the model 1.45x slower on 2 cores (117 -> 170 images/s at batch 4, 320 px). An omitted
    trailing optional input means the same as an empty one (ONNX spec), so outputs do not change.

    Args:
        path: An ``.onnx`` file, rewritten in place (the caller owns the atomic replace).

    Returns:
        How many Pad nodes were edited.

    Raises:
        MissingExtraError: the ``onnx`` package is not installed.
    """
    try:
        import onnx
    except ImportError as exc:
        raise missing_extra("onnx", "train") from exc
    model = onnx.load(str(path))
    edited = 0
    for node in model.graph.node:
        if node.op_type != "Pad":
            continue
        before = len(node.input)
        while node.input and node.input[-1] == "":
            del node.input[-1]
        edited += len(node.input) != before
    if edited:
        onnx.save(model, str(path))
    return edited


def _export_dynamo(torch: Any, model: Any, dummy: Any, path: Path, opset: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(
            model,
            (dummy,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    program.save(str(path))


def check_onnx_matches(
    model: Any,
    onnx_path: str | os.PathLike[str],
    input_size: int,
    atol: float = 1e-4,
    *,
    batch: int = 3,
    seed: int = 0,
) -> float:
    """Check that the ONNX file computes the same logits as the torch model.

    Runs both on the same random ``(batch, 3, S, S)`` input (a batch size other than the
    one used at export, to exercise the dynamic axis).

    Args:
        model: The torch model.
        onnx_path: Its exported ONNX file.
        input_size: ``S``.
        atol: Largest allowed absolute difference.
        batch: Batch size of the test input.
        seed: Seed of the test input.

    Returns:
        The largest absolute difference.

    Raises:
        ModelFormatError: The outputs differ by more than ``atol`` or have different shapes.
        InvalidArgumentError: The torch model's own outputs are not finite (diverged weights).

    Example:
        >>> # check_onnx_matches(model, "model.onnx", 224)   # -> 3.1e-07
    """
    torch = _torch()
    from logobrand.inference.onnx import create_session

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, input_size, input_size)).astype(np.float32)
    was_training = bool(model.training)
    model.eval()
    try:
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).detach().cpu().numpy()
    finally:
        model.train(was_training)
    if not np.isfinite(expected).all():
        raise InvalidArgumentError(
            "the model's own outputs are not finite numbers (NaN or inf): its weights diverged "
            "in training; train again with a lower learning rate"
        )
    session = create_session(onnx_path, threads=1)
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    if got.shape != expected.shape:
        raise ModelFormatError(
            f"{onnx_path}: ONNX output shape {got.shape} differs from the torch output shape "
            f"{expected.shape}; re-export the model"
        )
    diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    if not diff <= atol:
        raise ModelFormatError(
            f"{onnx_path}: ONNX logits differ from the torch model by {diff:.3g} "
            f"(allowed {atol:g}); the export is wrong: check for ops that behave differently "
            "in eval mode or are unsupported by the exporter"
        )
    return diff


def save_model_dir(
    model: Any,
    directory: str | os.PathLike[str],
    config: ModelConfig,
    *,
    check: bool = True,
    atol: float = 1e-4,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a complete model directory atomically.

    Writes ``model.safetensors`` (the state dict), ``model.onnx`` (exported and, by default,
    verified against the torch model) and ``config.json`` into a fresh temporary sibling,
    then swaps it into place; the previous directory stays intact until the swap (see the
    module docstring for crash recovery).

    Args:
        model: The trained ``torch.nn.Module``; its output width must equal
            ``len(config.labels)``.
        directory: The model directory to create or replace.
        config: Labels, preprocessing and calibration. ``files`` is set to the standard
            names.
        check: Verify the ONNX logits against torch (:func:`check_onnx_matches`).
        atol: Tolerance of that check.
        extra: Called with the temporary folder before the swap, to add files that must land
            atomically with the model (e.g. a trainer state for checkpoints).

    Returns:
        The directory path.

    Raises:
        MissingExtraError: torch or safetensors is not installed.
        ModelFormatError: Export failed, the ONNX logits differ, or the model's output width
            differs from the number of labels.
        InvalidArgumentError: ``directory`` exists and is not a model directory.

    Example:
        >>> # save_model_dir(model, "runs/exp1/model", ModelConfig(architecture="scratch_cnn",
        >>> #                labels=tuple(dataset.classes)))
    """
    torch = _torch()
    try:
        from safetensors.torch import save_file
    except ImportError as exc:
        raise missing_extra("safetensors", "train") from exc
    config = dataclasses.replace(config, files=dict(DEFAULT_FILES))
    size = config.preprocessing.input_size

    def writer(tmp: Path) -> None:
        state = {
            key: value.detach().cpu().contiguous().clone()
            for key, value in model.state_dict().items()
            if isinstance(value, torch.Tensor)
        }
        save_file(
            state,
            str(tmp / WEIGHTS_NAME),
            metadata={"format": "pt", "architecture": config.architecture},
        )
        onnx_path = export_onnx(model, tmp / ONNX_NAME, size)
        if check:
            check_onnx_matches(model, onnx_path, size, atol)
        _check_output_width(onnx_path, size, len(config.labels))
        config.save(tmp)
        if extra is not None:
            extra(tmp)

    return write_model_dir(directory, writer)


def _check_output_width(onnx_path: Path, input_size: int, num_labels: int) -> None:
    from logobrand.inference.onnx import create_session

    session = create_session(onnx_path, threads=1)
    x = np.zeros((1, 3, input_size, input_size), dtype=np.float32)
    out = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    if out.ndim != 2 or out.shape[1] != num_labels:
        raise ModelFormatError(
            f"the model outputs shape {tuple(out.shape)} but the config has {num_labels} "
            "labels; build the model with num_classes=len(labels)"
        )


__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "check_onnx_matches",
    "export_onnx",
    "quiet_torch_export",
    "save_model_dir",
]
