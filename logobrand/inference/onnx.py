"""ONNX Runtime sessions tuned for CPU inference (no torch needed).

Example:
    >>> from logobrand.inference.onnx import create_session, usable_cpu_count
    >>> usable_cpu_count() >= 1
    True
    >>> # session = create_session("my-model/model.onnx")   # intra-op threads = usable cores
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from logobrand.errors import (
    ImageDecodeError,
    InvalidArgumentError,
    ModelFormatError,
    check_int,
    missing_extra,
)


def _ort_errors() -> tuple[type[BaseException], ...]:
    """Exception classes ONNX Runtime raises for unreadable or invalid models."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = (
        "Fail",
        "InvalidArgument",
        "InvalidGraph",
        "InvalidProtobuf",
        "NoSuchFile",
        "NoModel",
        "NotImplemented",
        "RuntimeException",
        "EngineError",
    )
    found: list[type[BaseException]] = [RuntimeError, OSError]
    for name in names:
        cls = getattr(state, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


ORT_ERRORS: tuple[type[BaseException], ...] = _ort_errors()
"""What ``onnxruntime`` raises for bad models or inputs (its exceptions are not typed)."""

MAX_THREADS = 256
"""The most ONNX Runtime threads a session may be given (more only exhaust the machine)."""


def run_session(
    session: Any, outputs: list[str], feeds: dict[str, np.ndarray], model: object
) -> list[np.ndarray]:
    """``session.run`` with typed errors: float32 outputs, the first one checked to be finite.

    Args:
        session: An ``onnxruntime.InferenceSession``.
        outputs: The output names to compute.
        feeds: Input name -> array.
        model: What to name in messages (the model directory or file).

    Raises:
        ModelFormatError: ONNX Runtime fails on the batch, or the first output holds NaN or
            infinite values (a damaged model file or preprocessing in ``config.json``).
    """
    try:
        results = session.run(outputs, feeds)
    except ORT_ERRORS as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"{model}: ONNX Runtime failed on a batch of {len(next(iter(feeds.values())))} "
            f"({first}); the model file is damaged or was exported with fixed shapes: "
            "re-export it with `logobrand export`"
        ) from exc
    arrays = [np.asarray(r, dtype=np.float32) for r in results]
    if arrays and not np.isfinite(arrays[0]).all():
        raise ModelFormatError(
            f"{model}: the model computed NaN or infinite {outputs[0]}; check the "
            "preprocessing mean/std and temperature in its config.json, or re-export the model"
        )
    return arrays


def usable_cpu_count() -> int:
    """Return the number of CPU cores this process may run on.

    Uses ``os.sched_getaffinity`` where available (it honours taskset, cgroup cpusets and
    container limits that pin the process), else ``os.cpu_count()``.
    """
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return max(1, len(getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def create_session(
    onnx_path: str | os.PathLike[str],
    *,
    threads: int | None = None,
    allow_spinning: bool = True,
) -> ort.InferenceSession:
    """Open an ONNX model for CPU inference.

    Settings: intra-op threads = ``threads`` (default: :func:`usable_cpu_count`), one inter-op
    thread, sequential execution, all graph optimisations (on x86 this includes the blocked
    NCHWc layout), ``CPUExecutionProvider`` only, and the memory arena without ONNX Runtime's
    "memory pattern": the pattern pre-plans one block per input shape holding every
    intermediate tensor, which for EfficientNet-Lite0 at batch 32 raised peak RSS from about
    600 MB to 930 MB and was no faster (``benchmarks/README.md``).

    Args:
        onnx_path: The ``.onnx`` file.
        threads: Intra-op thread count; ``None`` uses every usable core.
        allow_spinning: Let idle ORT threads busy-wait for the next task (lowest latency);
            ``False`` frees the cores for other work, such as decoding the next batch.

    Returns:
        An ``onnxruntime.InferenceSession``; ``session.run`` is thread-safe.

    Raises:
        ModelFormatError: The file is missing or is not a loadable ONNX model.
        InvalidArgumentError: ``threads`` is not an integer from 1 to :data:`MAX_THREADS`.

    Example:
        >>> # sess = create_session("model.onnx", threads=2)
        >>> # logits = sess.run(["logits"], {"images": batch})[0]
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS
    ):
        raise InvalidArgumentError(
            f"threads must be an integer from 1 to {MAX_THREADS} or None (every usable core: "
            f"{usable_cpu_count()} here), got {threads!r}"
        )
    path = Path(onnx_path)
    if not path.is_file():
        raise ModelFormatError(
            f"ONNX model {path} not found; the model directory is incomplete: re-save it "
            "with `logobrand export`, save_model_dir or LogoClassifier.save_pretrained"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else usable_cpu_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_mem_pattern = False
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
    )
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except ORT_ERRORS as exc:
        raise ModelFormatError(
            f"cannot load ONNX model {path}: {exc}; re-export it (`logobrand export`, or "
            "save_model_dir in Python)"
        ) from exc


def quantize_int8(
    onnx_in: str | os.PathLike[str],
    onnx_out: str | os.PathLike[str],
    calibration: np.ndarray,
    *,
    input_name: str = "images",
    batch_size: int = 8,
) -> Path:
    """Write a statically quantised int8 copy of an ONNX model.

    Weights are int8 per output channel, activations uint8 with ranges measured (min/max) on
    ``calibration``; the file uses Quantize/DequantizeLinear pairs (QDQ), which ONNX Runtime
    runs as int8 convolutions (``QLinearConv``). On CPUs with AVX-512 VNNI or AVX-VNNI that is
    about 2.4x faster than float32 for EfficientNet-Lite0 (``benchmarks/README.md``). CPUs
    with AVX2 but no VNNI use an instruction whose 16-bit sums can saturate with 8-bit
    weights (ONNX Runtime's quantisation docs); 7-bit weights (``reduce_range``) avoid that
    but cost the default recipe 1.9 points of cross-dataset accuracy, so they are not used:
    evaluate an int8 model on such a CPU before relying on it. Dynamic quantisation (int8
    weights, float activations) is not offered: ONNX Runtime ran its ``ConvInteger`` 17x
    slower than float32 here. The output is written atomically.

    Args:
        onnx_in: The float32 model.
        onnx_out: Where to write the quantised model.
        calibration: Preprocessed photos ``(N, 3, S, S)`` float32, typical of what the model
            will see (some hundreds of validation photos; never the test set).
        input_name: The model's input.
        batch_size: Photos per calibration run.

    Returns:
        ``onnx_out`` as a ``Path``.

    Raises:
        MissingExtraError: ``onnx`` (needed by ``onnxruntime.quantization``) is absent.
        InvalidArgumentError: ``calibration`` is not a non-empty ``(N, 3, S, S)`` array.
        ModelFormatError: ``onnx_in`` is missing or cannot be quantised.

    Example:
        >>> # quantize_int8("m/model.onnx", "m-int8/model.onnx", clf.preprocess_batch(photos))
    """
    src = Path(onnx_in)
    dst = Path(onnx_out)
    if not src.is_file():
        raise ModelFormatError(f"ONNX model {src} not found; nothing to quantise")
    data = np.asarray(calibration, dtype=np.float32)
    if data.ndim != 4 or data.shape[0] == 0 or data.shape[1] != 3:
        raise InvalidArgumentError(
            f"calibration must be preprocessed photos (N, 3, S, S) with N >= 1, got shape "
            f"{data.shape}"
        )
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise missing_extra("onnx", "train") from exc

    class _Batches(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.start = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.start >= len(data):
                return None
            batch = data[self.start : self.start + batch_size]
            self.start += batch_size
            return {input_name: batch}

    dst.parent.mkdir(parents=True, exist_ok=True)
    errors: tuple[type[BaseException], ...] = (*ORT_ERRORS, ValueError, KeyError)
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=dst.parent) as work:
        prepared = Path(work) / "prepared.onnx"
        tmp = Path(work) / dst.name
        try:
            quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(tmp),
                _Batches(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        except errors as exc:
            raise ModelFormatError(f"cannot quantise {src}: {exc}") from exc
        os.replace(tmp, dst)
    return dst


def calibration_batch(
    photos: Iterable[Any], decode: Callable[[Any], np.ndarray], limit: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the calibration photos of :func:`quantize_int8` (at most ``limit``; those that
    cannot be decoded are skipped and counted).

    Returns:
        ``(batch (N, 3, S, S), record)``: ``record`` says how the copy was made (for
        ``config.json``'s ``training["quantization"]``).

    Raises:
        InvalidArgumentError: ``limit`` < 1, or no photo could be decoded.
    """
    limit = check_int("limit", limit, 1)
    inputs: list[np.ndarray] = []
    skipped: list[str] = []
    for image in photos:
        if len(inputs) == limit:
            break
        try:
            inputs.append(decode(image))
        except ImageDecodeError as exc:
            skipped.append(str(exc))
    if not inputs:
        raise InvalidArgumentError(
            f"no calibration photo could be decoded ({len(skipped)} failed"
            + (f", first: {skipped[0]}" if skipped else "")
            + "); pass some hundreds of photos like those the model will see"
        )
    record = {
        "method": "onnxruntime static QDQ, int8 per-channel weights, uint8 activations (min/max)",
        "calibration_photos": len(inputs),
        "calibration_skipped": len(skipped),
    }
    return np.stack(inputs), record


__all__ = [
    "MAX_THREADS",
    "ORT_ERRORS",
    "calibration_batch",
    "create_session",
    "quantize_int8",
    "run_session",
    "usable_cpu_count",
]
