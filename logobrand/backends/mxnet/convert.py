"""Map Gluon parameter names and values to logobrand's torch models, and back (numpy only).

Two Gluon naming schemes are understood, plus ``arg:``/``aux:`` prefixes of
``HybridBlock.export`` files:

* structural names, written by ``net.save_parameters`` (MXNet >= 1.3):
  ``features.5.0.bn1.gamma``, ``output.weight``;
* prefixed names, written by the older ``net.save_params`` and ``collect_params().save``:
  ``resnetv20_stage1_batchnorm0_gamma``, ``resnetv21_dense0_weight`` (a fine-tuned net whose
  ``features`` came from another instance, like the tutorial's, has two prefixes).

``resnet18_v2`` is mapped layer by layer (Gluon model zoo ``resnet18_v2`` <->
:class:`logobrand.models.resnet18_v2.ResNet18V2`); ``scratch_cnn`` is mapped by tensor shapes
(two convolutions, two dense layers), so any naming works. Gluon's input BatchNorm has no
learnable scale (``fix_gamma``) and its shift is folded into the running mean, exactly.

Example:
    >>> from logobrand.backends.mxnet.convert import torch_layout
    >>> layout = torch_layout("resnet18_v2")
    >>> layout["layer2.0.downsample.weight"]
    ('features.6.0.downsample.weight', 'stage2_conv2_weight')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError, ModelFormatError

ARCHITECTURES = ("resnet18_v2", "scratch_cnn")
"""The architectures that have a Gluon implementation and a converter."""

BN_EPS = 1e-5
"""Epsilon of Gluon's and torch's BatchNorm (both default to 1e-5)."""

_BN = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "running_mean"),
       ("running_var", "running_var"))  # fmt: skip


@dataclass(frozen=True)
class _Layer:
    torch: str  # module path in the torch model, e.g. "layer1.0.bn1"
    struct: str  # module path in the Gluon net, e.g. "features.5.0.bn1"
    prefixed: str  # Gluon auto-name without the model prefix, e.g. "stage1_batchnorm0"
    kind: str  # "data_bn", "bn", "conv" or "dense"


def _resnet_layers(thumbnail: bool) -> list[_Layer]:
    """The parametrised layers of Gluon's resnet18_v2, in Gluon's creation order."""
    layers = [_Layer("data_bn", "features.0", "batchnorm0", "data_bn")]
    layers.append(_Layer("stem.0", "features.1", "conv0", "conv"))
    if thumbnail:
        first_stage, post_bn = 2, "batchnorm1"
    else:
        layers.append(_Layer("stem.1", "features.2", "batchnorm1", "bn"))
        first_stage, post_bn = 5, "batchnorm2"  # features.3 relu, features.4 max-pool
    for stage in range(1, 5):
        n_bn = n_conv = 0
        for block in range(2):
            t = f"layer{stage}.{block}"
            g = f"features.{first_stage + stage - 1}.{block}"
            p = f"stage{stage}_"
            for part in ("1", "2"):
                bn, conv = f"bn{part}", f"conv{part}"
                layers.append(_Layer(f"{t}.{bn}", f"{g}.{bn}", f"{p}batchnorm{n_bn}", "bn"))
                layers.append(_Layer(f"{t}.{conv}", f"{g}.{conv}", f"{p}conv{n_conv}", "conv"))
                n_bn, n_conv = n_bn + 1, n_conv + 1
            if stage > 1 and block == 0:
                down = "downsample"
                layers.append(_Layer(f"{t}.{down}", f"{g}.{down}", f"{p}conv{n_conv}", "conv"))
                n_conv += 1
    layers.append(_Layer("post_bn", f"features.{first_stage + 4}", post_bn, "bn"))
    layers.append(_Layer("head", "output", "dense0", "dense"))
    return layers


def _suffixes(kind: str) -> list[tuple[str, str]]:
    if kind == "data_bn":
        return [("running_mean", "running_mean"), ("running_var", "running_var")]
    if kind == "bn":
        return list(_BN)
    if kind == "conv":
        return [("weight", "weight")]
    return [("weight", "weight"), ("bias", "bias")]


def torch_layout(arch: str, *, thumbnail: bool = False) -> dict[str, tuple[str, str]]:
    """Return ``{torch name: (Gluon structural name, Gluon prefixed name w/o model prefix)}``.

    Only ``resnet18_v2`` has a fixed layout (``scratch_cnn`` is matched by shapes). The data
    BatchNorm's Gluon ``gamma``/``beta`` have no torch counterpart and are not listed.

    Raises:
        InvalidArgumentError: ``arch`` is not ``"resnet18_v2"``.
    """
    if arch != "resnet18_v2":
        raise InvalidArgumentError(f"torch_layout: only resnet18_v2 has a layout, not {arch!r}")
    out: dict[str, tuple[str, str]] = {}
    for layer in _resnet_layers(thumbnail):
        for t_suffix, g_suffix in _suffixes(layer.kind):
            out[f"{layer.torch}.{t_suffix}"] = (
                f"{layer.struct}.{g_suffix}",
                f"{layer.prefixed}_{g_suffix}",
            )
    return out


@dataclass
class Converted:
    """Weights converted from Gluon to a logobrand torch architecture.

    Attributes:
        architecture: Registry name (``"resnet18_v2"`` or ``"scratch_cnn"``).
        num_classes: Width of the output layer.
        state: ``{torch state-dict name: float32 array}`` (BatchNorm ``num_batches_tracked``
            counters are not included; torch keeps its own).
        builder_kwargs: Keyword arguments for the registry builder (``thumbnail``, or
            ``hidden``/``pooled_size``) that make the torch model fit the weights.
        notes: Things worth telling the user (e.g. a folded input shift).
        gluon_names: ``{Gluon structural name: name in the checkpoint}`` of every parameter
            used, to load the original values into a fresh Gluon net (see
            :func:`original_gluon_arrays`).
    """

    architecture: str
    num_classes: int
    state: dict[str, np.ndarray]
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    gluon_names: dict[str, str] = field(default_factory=dict)


def _strip_export_prefixes(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, value in params.items():
        key = name[4:] if name.startswith(("arg:", "aux:")) else name
        if key in out:
            raise ModelFormatError(f"the parameter {key!r} appears twice (as arg: and aux:)")
        out[key] = np.asarray(value)
    return out


def _resolve_resnet_names(
    params: Mapping[str, np.ndarray], source: str
) -> tuple[dict[str, str], bool, str]:
    """Map each torch name to the checkpoint's Gluon name.

    Returns:
        The mapping, ``thumbnail``, and the Gluon name prefix of the input BatchNorm's
        parameters (``"features.0."`` or e.g. ``"resnetv20_batchnorm0_"``).
    """
    structural = any(k.startswith(("features.", "output.")) for k in params)
    if structural:
        conv0 = params.get("features.1.weight")
        prefix = head_prefix = ""
    else:
        data_bn = [
            m.group(1)
            for k in params
            if (m := re.fullmatch(r"(.*?)batchnorm0_running_mean", k))
            and not re.search(r"stage\d+_$", m.group(1))
        ]
        heads = [m.group(1) for k in params if (m := re.fullmatch(r"(.*?)dense0_weight", k))]
        if len(data_bn) != 1 or len(heads) != 1:
            raise ModelFormatError(
                f"{source} does not look like a Gluon resnet18_v2 checkpoint: expected one "
                f"'<prefix>batchnorm0_running_mean' and one '<prefix>dense0_weight' parameter, "
                f"found {len(data_bn)} and {len(heads)} (first names: "
                f"{', '.join(list(params)[:4])})"
            )
        prefix, head_prefix = data_bn[0], heads[0]
        conv0 = params.get(f"{prefix}conv0_weight")
    if conv0 is None or conv0.ndim != 4 or tuple(conv0.shape[:2]) != (64, 3):
        raise ModelFormatError(
            f"{source}: the first convolution of a resnet18_v2 (64 filters over 3 channels) is "
            "missing or has another shape; is this checkpoint of another architecture?"
        )
    thumbnail = tuple(conv0.shape[2:]) == (3, 3)
    names: dict[str, str] = {}
    for t_name, (s_name, p_name) in torch_layout("resnet18_v2", thumbnail=thumbnail).items():
        if structural:
            g_name = s_name
        else:
            g_name = (head_prefix if p_name.startswith("dense0_") else prefix) + p_name
        names[t_name] = g_name
    data_bn_prefix = "features.0." if structural else f"{prefix}batchnorm0_"
    return names, thumbnail, data_bn_prefix


def _resnet_to_torch(params: Mapping[str, np.ndarray], source: str) -> Converted:
    names, thumbnail, data_g = _resolve_resnet_names(params, source)
    missing = [g for g in names.values() if g not in params]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ModelFormatError(
            f"{source} lacks Gluon resnet18_v2 parameters {', '.join(missing[:5])}{more}; it "
            "was saved from another architecture (or a truncated file)"
        )
    state = {t: np.asarray(params[g], dtype=np.float32) for t, g in names.items()}
    # The input BatchNorm's gamma/beta have no torch counterpart (beta is folded below).
    used = set(names.values()) | {f"{data_g}beta", f"{data_g}gamma"}
    extra = sorted(set(params) - used)
    if extra:
        raise ModelFormatError(
            f"{source} holds parameters that resnet18_v2 does not have: "
            f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}; it was saved from "
            "another architecture"
        )
    head, head_bias = state["head.weight"], state["head.bias"]
    if head.ndim != 2 or head.shape[1] != 512:
        raise ModelFormatError(
            f"{source}: the output layer's weight {names['head.weight']} has shape "
            f"{tuple(head.shape)}, expected (classes, 512)"
        )
    if tuple(head_bias.shape) != (head.shape[0],):
        raise ModelFormatError(
            f"{source}: the output layer's bias {names['head.bias']} has shape "
            f"{tuple(head_bias.shape)}, expected ({head.shape[0]},) to match its weight "
            f"{tuple(head.shape)}"
        )
    # Every shape is checked before anything is computed from the arrays (the fold below).
    _check_resnet_shapes(state, source, thumbnail)
    for suffix in ("gamma", "beta"):
        value = params.get(f"{data_g}{suffix}")
        if value is not None and tuple(np.shape(value)) != (3,):
            raise ModelFormatError(
                f"{source}: {data_g}{suffix} (the input BatchNorm's {suffix}) has shape "
                f"{tuple(np.shape(value))}, expected (3,) for resnet18_v2; the checkpoint is of "
                "another network or was edited"
            )
    # Gluon's input BatchNorm (scale=False, center=False): gamma is ignored (fix_gamma) and
    # beta is a fixed shift, 0 unless edited; fold it into the running mean, exactly.
    beta = params.get(f"{data_g}beta")
    notes: list[str] = []
    if beta is not None and np.any(beta != 0):
        std = np.sqrt(state["data_bn.running_var"].astype(np.float64) + BN_EPS)
        mean = state["data_bn.running_mean"].astype(np.float64) - beta.astype(np.float64) * std
        state["data_bn.running_mean"] = mean.astype(np.float32)
        notes.append("folded the input BatchNorm's non-zero beta into its running mean")
    layout = torch_layout("resnet18_v2", thumbnail=thumbnail)
    gluon_names = {layout[t][0]: g for t, g in names.items()}
    for suffix in ("gamma", "beta"):
        if f"{data_g}{suffix}" in params:
            gluon_names[f"features.0.{suffix}"] = f"{data_g}{suffix}"
    return Converted(
        "resnet18_v2", int(head.shape[0]), state, {"thumbnail": thumbnail}, notes, gluon_names
    )


def _check_resnet_shapes(state: Mapping[str, np.ndarray], source: str, thumbnail: bool) -> None:
    in_ch = 64
    expected: dict[str, tuple[int, ...]] = {
        "data_bn.running_mean": (3,),
        "data_bn.running_var": (3,),
        "stem.0.weight": (64, 3, 3, 3) if thumbnail else (64, 3, 7, 7),
    }
    if not thumbnail:
        expected.update({f"stem.1.{s}": (64,) for s, _ in _BN})
    for stage, ch in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            t = f"layer{stage}.{block}"
            c_in = in_ch if block == 0 else ch
            expected.update({f"{t}.bn1.{s}": (c_in,) for s, _ in _BN})
            expected.update({f"{t}.bn2.{s}": (ch,) for s, _ in _BN})
            expected[f"{t}.conv1.weight"] = (ch, c_in, 3, 3)
            expected[f"{t}.conv2.weight"] = (ch, ch, 3, 3)
            if stage > 1 and block == 0:
                expected[f"{t}.downsample.weight"] = (ch, c_in, 1, 1)
        in_ch = ch
    expected.update({f"post_bn.{s}": (512,) for s, _ in _BN})
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ModelFormatError(
                f"{source}: {name} (Gluon) has shape {tuple(state[name].shape)}, expected "
                f"{shape} for resnet18_v2; the checkpoint is of another network"
            )


def _scratch_to_torch(params: Mapping[str, np.ndarray], source: str) -> Converted:
    weights = {k: v for k, v in params.items() if k.endswith("weight")}
    convs = {v.shape[1]: k for k, v in weights.items() if v.ndim == 4}
    denses = [k for k, v in weights.items() if v.ndim == 2]
    if len(weights) != 4 or set(convs) != {3, 96} or len(denses) != 2:
        raise ModelFormatError(
            f"{source} does not look like a scratch_cnn checkpoint: expected 2 convolutions "
            "(3->96 11x11, 96->192 5x5) and 2 dense layers, found "
            + ", ".join(f"{k} {tuple(v.shape)}" for k, v in weights.items())
        )
    conv1, conv2 = convs[3], convs[96]
    # The hidden layer reads the flattened feature map; the head reads the hidden layer.
    first, second = denses
    if params[second].shape[1] == params[first].shape[0]:
        hidden_name, head_name = first, second
    elif params[first].shape[1] == params[second].shape[0]:
        hidden_name, head_name = second, first
    else:
        raise ModelFormatError(
            f"{source}: neither dense layer ({first} {tuple(params[first].shape)}, {second} "
            f"{tuple(params[second].shape)}) reads the other's output; not a scratch_cnn"
        )
    hidden, in_units = (int(d) for d in params[hidden_name].shape)
    pooled = math.isqrt(in_units // 192)
    problems = []
    if tuple(params[conv1].shape) != (96, 3, 11, 11):
        problems.append(f"{conv1} {tuple(params[conv1].shape)} != (96, 3, 11, 11)")
    if tuple(params[conv2].shape) != (192, 96, 5, 5):
        problems.append(f"{conv2} {tuple(params[conv2].shape)} != (192, 96, 5, 5)")
    if pooled * pooled * 192 != in_units:
        problems.append(f"{hidden_name} reads {in_units} features, not 192 x n x n")
    if params[head_name].shape[1] != hidden:
        problems.append(f"{head_name} {tuple(params[head_name].shape)} does not read {hidden}")
    if problems:
        raise ModelFormatError(f"{source} is not a scratch_cnn checkpoint: {'; '.join(problems)}")
    mapping = {"features.0": conv1, "features.3": conv2, "classifier.1": hidden_name,
               "head": head_name}  # fmt: skip
    struct = {"features.0": "features.0", "features.3": "features.3",
              "classifier.1": "features.7", "head": "output"}  # fmt: skip
    state: dict[str, np.ndarray] = {}
    gluon_names: dict[str, str] = {}
    used: set[str] = set()
    for t_name, g_weight in mapping.items():
        g_bias = g_weight[: -len("weight")] + "bias"
        if g_bias not in params:
            raise ModelFormatError(f"{source} lacks {g_bias} (scratch_cnn layers have biases)")
        state[f"{t_name}.weight"] = np.asarray(params[g_weight], dtype=np.float32)
        state[f"{t_name}.bias"] = np.asarray(params[g_bias], dtype=np.float32)
        used.update({g_weight, g_bias})
        gluon_names[f"{struct[t_name]}.weight"] = g_weight
        gluon_names[f"{struct[t_name]}.bias"] = g_bias
    extra = sorted(set(params) - used)
    if extra:
        raise ModelFormatError(
            f"{source} holds parameters that scratch_cnn does not have: {', '.join(extra[:5])}"
        )
    num_classes = int(params[head_name].shape[0])
    notes = []
    if pooled != 12:
        notes.append(
            f"the dense layer reads a {pooled}x{pooled} feature map (12x12 at 224 px input)"
        )
    kwargs = {"hidden": hidden, "pooled_size": pooled}
    return Converted("scratch_cnn", num_classes, state, kwargs, notes, gluon_names)


def gluon_to_torch(
    params: Mapping[str, np.ndarray], arch: str, *, source: str = "the checkpoint"
) -> Converted:
    """Convert Gluon parameters to the state dict of a logobrand torch architecture.

    Args:
        params: ``{Gluon name: array}``, e.g. from
            :func:`~logobrand.backends.mxnet.params.load_params`.
        arch: ``"resnet18_v2"`` or ``"scratch_cnn"``.
        source: How to name the checkpoint in error messages (its path).

    Returns:
        The :class:`Converted` weights.

    Raises:
        InvalidArgumentError: ``arch`` has no Gluon converter.
        ModelFormatError: The parameters do not form that architecture; the message names
            the missing, extra or misshapen parameter.
    """
    if arch not in ARCHITECTURES:
        raise InvalidArgumentError(
            f"no Gluon converter for architecture {arch!r}; choose one of "
            f"{', '.join(ARCHITECTURES)}"
        )
    clean = _strip_export_prefixes(params)
    if not clean:
        raise ModelFormatError(f"{source} holds no parameters")
    if arch == "resnet18_v2":
        converted = _resnet_to_torch(clean, source)
    else:
        converted = _scratch_to_torch(clean, source)
    original = {(name[4:] if name.startswith(("arg:", "aux:")) else name): name for name in params}
    converted.gluon_names = {s: original[c] for s, c in converted.gluon_names.items()}
    return converted


def original_gluon_arrays(
    params: Mapping[str, np.ndarray], converted: Converted
) -> dict[str, np.ndarray]:
    """Return the checkpoint's own values under Gluon structural names.

    Unlike :func:`torch_to_gluon` of the converted state, nothing is folded: loaded into a
    fresh Gluon net (``set_gluon_arrays``) this is the network the checkpoint describes.
    The input BatchNorm's ``gamma``/``beta`` are included when the checkpoint has them.
    """
    return {s: np.asarray(params[o]) for s, o in converted.gluon_names.items()}


def torch_to_gluon(state: Mapping[str, Any], arch: str) -> dict[str, np.ndarray]:
    """Convert a logobrand torch state dict to Gluon structural names (``save_parameters``).

    The result loads into :func:`~logobrand.backends.mxnet.models.create_gluon_model`'s net of
    the same architecture. The input BatchNorm gets ``gamma = 1`` and ``beta = 0``.

    Args:
        state: ``{torch name: tensor or array}`` (``num_batches_tracked`` is ignored).
        arch: ``"resnet18_v2"`` or ``"scratch_cnn"``.

    Raises:
        InvalidArgumentError: ``arch`` has no Gluon implementation.
        ModelFormatError: A tensor is missing.
    """
    arrays = {
        k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        for k, v in state.items()
        if not k.endswith("num_batches_tracked")
    }
    if arch == "scratch_cnn":
        table = {"features.0": "features.0", "features.3": "features.3",
                 "classifier.1": "features.7", "head": "output"}  # fmt: skip
        out = {}
        for t_name, g_name in table.items():
            for suffix in ("weight", "bias"):
                key = f"{t_name}.{suffix}"
                if key not in arrays:
                    raise ModelFormatError(f"the scratch_cnn state lacks {key}")
                out[f"{g_name}.{suffix}"] = arrays[key].astype(np.float32)
        return out
    if arch != "resnet18_v2":
        raise InvalidArgumentError(f"no Gluon implementation of {arch!r}")
    thumbnail = "stem.1.weight" not in arrays
    out = {}
    for t_name, (s_name, _) in torch_layout(arch, thumbnail=thumbnail).items():
        if t_name not in arrays:
            raise ModelFormatError(f"the resnet18_v2 state lacks {t_name}")
        out[s_name] = arrays[t_name].astype(np.float32)
    out["features.0.gamma"] = np.ones(3, np.float32)
    out["features.0.beta"] = np.zeros(3, np.float32)
    return out


__all__ = [
    "ARCHITECTURES",
    "BN_EPS",
    "Converted",
    "gluon_to_torch",
    "original_gluon_arrays",
    "torch_layout",
    "torch_to_gluon",
]
