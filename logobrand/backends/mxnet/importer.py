"""Convert a Gluon checkpoint into a logobrand model directory (``logobrand import-gluon``).

The ``.params`` file is parsed without MXNet (:mod:`logobrand.backends.mxnet.params`), its
weights are mapped onto logobrand's torch architecture (:mod:`~logobrand.backends.mxnet.convert`)
and :func:`logobrand.inference.export.save_model_dir` writes ``model.safetensors``,
``model.onnx`` (checked against torch) and ``config.json``. Where MXNet is importable the ONNX
logits are also checked against the Gluon network itself, before the directory is swapped
into place. Needs torch (the ``train`` extra), not MXNet; the result runs on the core install.

Example:
    >>> result = import_gluon("ft-16.params", "models/tutorial-ft16", arch="resnet18_v2",
    ...                       labels=classes)  # doctest: +SKIP
    >>> result.max_abs_diff  # ONNX vs Gluon logits, when MXNet was there  # doctest: +SKIP
    2.4e-06
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logobrand.backends.mxnet._runtime import mxnet_available
from logobrand.backends.mxnet.convert import Converted, gluon_to_torch, original_gluon_arrays
from logobrand.backends.mxnet.params import load_params
from logobrand.errors import InvalidArgumentError, ModelFormatError, missing_extra

logger = logging.getLogger(__name__)

DEFAULT_ATOL = 1e-4
"""Allowed absolute difference between the Gluon and the converted logits."""

DEFAULT_RTOL = 1e-6
"""Allowed extra difference per unit of the largest absolute logit (float32 rounding: a net
whose logits reach 500 differs by ~1e-4 between two correct implementations)."""


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_gluon` wrote.

    Attributes:
        directory: The model directory.
        architecture: Registry name.
        num_classes: Number of outputs (= labels).
        max_abs_diff: Largest absolute Gluon-vs-ONNX logit difference on a random batch, or
            ``None`` when MXNet was not there to compare with.
        max_abs_logit: Largest absolute logit of the reference output on that batch (torch's
            when MXNet was absent), the scale of ``max_abs_diff``.
        notes: Remarks about the conversion.
    """

    directory: Path
    architecture: str
    num_classes: int
    max_abs_diff: float | None
    max_abs_logit: float
    notes: list[str] = field(default_factory=list)


def torch_model_from(converted: Converted) -> Any:
    """Build logobrand's torch model for converted Gluon weights (in eval mode).

    Raises:
        MissingExtraError: torch is not installed.
    """
    try:
        import torch
    except ImportError as exc:
        raise missing_extra("torch", "train") from exc
    from logobrand.models import create_model

    model = create_model(
        converted.architecture, converted.num_classes, pretrained=False, **converted.builder_kwargs
    )
    own = model.state_dict()
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in converted.state.items()}
    for name, value in own.items():
        if name.endswith("num_batches_tracked"):
            state[name] = value
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFormatError(
            f"the converted {converted.architecture} weights do not fit logobrand's model: {exc}"
        ) from exc
    return model.eval()


def gluon_net_to_torch(net: Any, arch: str | None = None) -> Any:
    """Return logobrand's torch model with the current weights of a Gluon net.

    Args:
        net: A net from :func:`~logobrand.backends.mxnet.models.create_gluon_model` (or Gluon's
            model-zoo ``resnet18_v2``).
        arch: Registry name; defaults to ``net.architecture``.
    """
    from logobrand.backends.mxnet.models import gluon_arrays

    name = arch or getattr(net, "architecture", None)
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"cannot tell the architecture of {type(net).__name__}; pass arch='resnet18_v2' or "
            "'scratch_cnn'"
        )
    return torch_model_from(gluon_to_torch(gluon_arrays(net), name, source=type(net).__name__))


def gluon_logits(
    params: Mapping[str, np.ndarray], converted: Converted, x: np.ndarray
) -> np.ndarray:
    """Run the checkpoint's own Gluon network on ``x`` (needs MXNet).

    Args:
        params: The checkpoint's parameters (as read by ``load_params``).
        converted: ``gluon_to_torch(params, ...)``, which knows the names.
        x: ``(N, 3, S, S)`` float32 input.
    """
    from logobrand.backends.mxnet._runtime import import_mxnet
    from logobrand.backends.mxnet.models import create_gluon_model, gluon_arrays, set_gluon_arrays

    mx = import_mxnet()
    net = create_gluon_model(
        converted.architecture, converted.num_classes, **converted.builder_kwargs
    )
    arrays = gluon_arrays(net)  # defaults for what the checkpoint may lack (data-BN gamma)
    arrays.update(original_gluon_arrays(params, converted))
    set_gluon_arrays(net, arrays)
    out: np.ndarray = net(mx.nd.array(x)).asnumpy()
    return out


def compare_with_gluon(
    params: Mapping[str, np.ndarray],
    converted: Converted,
    onnx_path: str | os.PathLike[str],
    input_size: int,
    *,
    seed: int = 0,
) -> tuple[float, float]:
    """Compare the ONNX file with the checkpoint's Gluon network on a random batch of 3.

    The Gluon net gets the checkpoint's own values (needs MXNet); the ONNX file runs in ONNX
    Runtime.

    Returns:
        ``(largest abs(Gluon - ONNX) difference, largest abs(Gluon logit))``.
    """
    from logobrand.inference.export import INPUT_NAME, OUTPUT_NAME
    from logobrand.inference.onnx import create_session

    x = np.random.default_rng(seed).standard_normal((3, 3, input_size, input_size))
    x = x.astype(np.float32)
    expected = gluon_logits(params, converted, x)
    session = create_session(onnx_path, threads=1)
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    if got.shape != expected.shape:
        raise ModelFormatError(
            f"{onnx_path}: ONNX logits have shape {got.shape}, Gluon's {expected.shape}"
        )
    diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    return diff, float(np.max(np.abs(expected)))


def _torch_scale(model: Any, input_size: int, seed: int = 0) -> float:
    """Largest absolute logit of the torch model on the random batch the checks use."""
    import torch

    x = np.random.default_rng(seed).standard_normal((3, 3, input_size, input_size))
    with torch.no_grad():
        out = model(torch.from_numpy(x.astype(np.float32)))
    return float(out.abs().max())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_gluon(
    params_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    arch: str,
    labels: Sequence[str],
    input_size: int | None = None,
    temperature: float = 1.0,
    threshold: float = 0.5,
    verify: bool | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
) -> ImportResult:
    """Convert a Gluon ``.params`` checkpoint into a logobrand model directory.

    Args:
        params_path: The Gluon checkpoint (``save_parameters``, ``save_params`` or
            ``export`` output), e.g. the tutorial's ``ft-16.params``.
        out_dir: The model directory to write (replaced atomically if it exists).
        arch: ``"resnet18_v2"`` or ``"scratch_cnn"``.
        labels: Class labels in the network's output order (the tutorial's folder order);
            must contain ``"no-logo"``.
        input_size: Input side; default: the architecture's (224), 32 for a thumbnail
            resnet18_v2.
        temperature: Softmax temperature written to ``config.json``.
        threshold: Brand probability threshold written to ``config.json``.
        verify: Compare the ONNX logits with the Gluon network: ``None`` (default) when MXNet
            is importable, ``True`` always (MissingExtraError without MXNet), ``False`` never.
            The torch-vs-ONNX check of :func:`~logobrand.inference.export.save_model_dir`
            always runs.
        atol: Allowed absolute logit difference of both checks ...
        rtol: ... plus this much per unit of the largest absolute logit (float32 rounding of
            nets with large logits); the tolerance is ``atol + rtol * max(abs(logits))``.

    Returns:
        An :class:`ImportResult`.

    Raises:
        ModelFormatError: The file is not a Gluon checkpoint of ``arch``, or the converted
            logits differ by more than ``atol`` (nothing is written then).
        InvalidArgumentError: The number of labels differs from the network's outputs, or a
            label set without ``"no-logo"``, or an ``input_size`` that is not an integer >= 1.
        MissingExtraError: torch is missing (``pip install 'logobrand[train]'``), or
            ``verify=True`` without MXNet.
    """
    if input_size is not None and (
        isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1
    ):
        raise InvalidArgumentError(
            f"input_size must be an integer >= 1 (or None for the architecture's), got "
            f"{input_size!r}"
        )
    source = Path(params_path)
    params = load_params(source)
    converted = gluon_to_torch(params, arch, source=str(source))
    labels = [str(label) for label in labels]
    if len(labels) != converted.num_classes:
        raise InvalidArgumentError(
            f"{source} has {converted.num_classes} outputs but {len(labels)} labels were given; "
            "pass one label per output, in the network's output order"
        )
    if verify is True:
        from logobrand.backends.mxnet._runtime import import_mxnet

        import_mxnet()
    check_gluon = mxnet_available() if verify is None else verify
    from logobrand.inference.config import ModelConfig
    from logobrand.inference.export import save_model_dir
    from logobrand.models import Preprocessing, get_model_spec

    model = torch_model_from(converted)
    default = get_model_spec(arch).preprocessing
    thumbnail = bool(converted.builder_kwargs.get("thumbnail", False))
    size = input_size if input_size is not None else (32 if thumbnail else default.input_size)
    pre = Preprocessing(input_size=size, mean=default.mean, std=default.std)
    config = ModelConfig(
        architecture=arch,
        labels=tuple(labels),
        preprocessing=pre,
        temperature=temperature,
        threshold=threshold,
        training={
            "imported_from": source.name,
            "source_format": "mxnet-gluon-params",
            "source_sha256": _sha256(source),
            "builder_kwargs": dict(converted.builder_kwargs),
            "notes": list(converted.notes),
        },
    )
    checks: list[tuple[float, float]] = []
    scale = _torch_scale(model, size)
    tolerance = atol + rtol * scale

    def verify_against_gluon(tmp: Path) -> None:
        if not check_gluon:
            return
        diff, gluon_scale = compare_with_gluon(params, converted, tmp / config.onnx_file, size)
        allowed = atol + rtol * gluon_scale
        if not diff <= allowed:
            raise ModelFormatError(
                f"the converted {arch} differs from the Gluon network of {source} by {diff:.3g} "
                f"in the logits (allowed {allowed:.3g}, largest |logit| {gluon_scale:.3g}); "
                "nothing was written"
            )
        checks.append((diff, gluon_scale))

    directory = save_model_dir(model, out_dir, config, atol=tolerance, extra=verify_against_gluon)
    result = ImportResult(
        directory=directory,
        architecture=arch,
        num_classes=converted.num_classes,
        max_abs_diff=checks[0][0] if checks else None,
        max_abs_logit=checks[0][1] if checks else scale,
        notes=list(converted.notes),
    )
    logger.info("imported %s into %s (%s)", source, directory, result)
    return result


__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "ImportResult",
    "compare_with_gluon",
    "gluon_logits",
    "gluon_net_to_torch",
    "import_gluon",
    "torch_model_from",
]
