"""The model registry: ``register_model``, ``create_model``, ``list_models``.

Built-in architectures live one per module in :mod:`logobrand.models` and register themselves
with the :func:`register_model` decorator when imported. Third-party packages add models through
the ``logobrand.models`` entry-point group; each entry point names a module (or a callable) whose
import registers its models.

Importing this module does not import torch: the built-in architecture modules are imported on
the first call to :func:`list_models`, :func:`get_model_spec` or :func:`create_model`.
"""

from __future__ import annotations

import importlib
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from logobrand.errors import InvalidArgumentError, missing_extra

_BUILTIN_MODULES = (
    "logobrand.models.scratch_cnn",
    "logobrand.models.resnet18_v2",
    "logobrand.models.efficientnet_lite0",
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""The ImageNet channel means (RGB, on values scaled to ``[0, 1]``)."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The ImageNet channel standard deviations (RGB, on values scaled to ``[0, 1]``)."""


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input: the metadata a set of weights carries.

    Attributes:
        input_size: Side of the square input, in pixels.
        mean: Per-channel mean subtracted from RGB values scaled to ``[0, 1]``.
        std: Per-channel standard deviation that the centred values are divided by.
        resize: ``"squash"`` resizes the whole photo to ``input_size`` x ``input_size``,
            ignoring its aspect ratio (every training photo gets the same geometry, which
            defuses the squashed-positives trap in Logos-32plus).
        canonical_size: When set, the photo is first squashed to this square size and only
            then resized to ``input_size``. Logos-32plus was published at 224 x 224; passing
            every photo through the same 224 x 224 stage gives positives and negatives the
            same sharpness as well as the same geometry.
    """

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: str = "squash"
    canonical_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dictionary."""
        out: dict[str, Any] = {
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
        }
        if self.canonical_size is not None:
            out["canonical_size"] = self.canonical_size
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Build from :meth:`to_dict` output; raises ``KeyError``/``ValueError`` when invalid."""
        unknown = sorted(set(data) - {"input_size", "mean", "std", "resize", "canonical_size"})
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} (a typo?)")
        mean = tuple(float(v) for v in data["mean"])
        std = tuple(float(v) for v in data["std"])
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std need 3 values each")
        if not all(math.isfinite(v) and abs(v) <= 1e3 for v in mean) or not all(
            math.isfinite(v) and 1e-6 <= v <= 1e3 for v in std
        ):
            raise ValueError(f"mean {mean} and std {std} must be finite (std >= 1e-6)")
        size = _side(data["input_size"], "input_size")
        resize = str(data.get("resize", "squash"))
        if resize != "squash":
            raise ValueError(f"unknown resize policy {resize!r}")
        canonical = data.get("canonical_size")
        if canonical is not None:
            canonical = _side(canonical, "canonical_size")
        return cls(
            size,
            (mean[0], mean[1], mean[2]),
            (std[0], std[1], std[2]),
            resize,
            None if canonical is None else int(canonical),
        )


def _side(value: Any, name: str) -> int:
    """A side length of ``config.json`` preprocessing: an integer in [8, 4096]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 4096:
        raise ValueError(f"{name} must be an integer from 8 to 4096, got {value!r}")
    return value


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry.

    Attributes:
        name: The registry name, e.g. ``"efficientnet_lite0"``.
        builder: ``builder(num_classes, pretrained, **kwargs)`` returns a ``torch.nn.Module``
            that maps a normalised ``(N, 3, S, S)`` float tensor to ``(N, num_classes)`` logits.
        preprocessing: The input the model expects.
        pretrained_source: Where pretrained weights come from, for humans (no download ever).
        description: One line for ``logobrand models``.
    """

    name: str
    builder: Callable[..., Any]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    pretrained_source: str = ""
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False

F = TypeVar("F", bound=Callable[..., Any])


def register_model(
    name: str | None = None,
    *,
    preprocessing: Preprocessing | None = None,
    pretrained_source: str = "",
    description: str = "",
) -> Callable[[F], F]:
    """Register a model builder under ``name`` (the function's name by default).

    Example:
        >>> from logobrand.models import register_model, Preprocessing
        >>> @register_model("tiny_demo", preprocessing=Preprocessing(input_size=32))
        ... def tiny_demo(num_classes: int, pretrained: bool | str = False):
        ...     import torch
        ...     return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))
    """

    def decorator(fn: F) -> F:
        key = name or fn.__name__
        doc_line = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTRY[key] = ModelSpec(
            name=key,
            builder=fn,
            preprocessing=preprocessing or Preprocessing(),
            pretrained_source=pretrained_source,
            description=description or doc_line,
        )
        return fn

    return decorator


def _load_plugins() -> None:
    global _LOADED
    if _LOADED:
        return
    try:
        importlib.import_module("torch")
    except ImportError as exc:
        raise missing_extra("torch", "train") from exc
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group="logobrand.models"):
        loaded = ep.load()
        if callable(loaded) and not isinstance(loaded, type):
            loaded()
    _LOADED = True


def list_models() -> list[str]:
    """Return the sorted names of every registered model (built-in and plugins)."""
    _load_plugins()
    return sorted(_REGISTRY)


def get_model_spec(name: str) -> ModelSpec:
    """Return the :class:`ModelSpec` registered as ``name``.

    Raises:
        InvalidArgumentError: ``name`` is not registered; the message lists what is.
    """
    _load_plugins()
    if name not in _REGISTRY:
        raise InvalidArgumentError(
            f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def create_model(
    name: str,
    num_classes: int,
    pretrained: bool | str | Path | None = False,
    *,
    backend: str = "torch",
    **kwargs: Any,
) -> Any:
    """Build a registered model.

    Args:
        name: A name from :func:`list_models`.
        num_classes: Size of the output layer.
        pretrained: ``False`` (or ``None``) for random initialisation, ``True`` for the
            model's bundled offline weights, or a path to a local weights file (safetensors,
            or a ``torch.save`` state dict loaded with ``weights_only=True``).
        backend: ``"torch"`` (a ``torch.nn.Module``), ``"mxnet"`` (a Gluon ``HybridBlock``;
            needs the ``mxnet`` extra; kwargs such as ``ctx=mx.gpu(0)``), or another name from
            :func:`logobrand.backends.list_backends`.
        **kwargs: Passed to the builder.

    Returns:
        A ``torch.nn.Module`` (or the backend's model type).
    """
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool):
        raise InvalidArgumentError(
            f"num_classes must be an integer >= 1, got {num_classes!r} of type "
            f"{type(num_classes).__name__}"
        )
    if num_classes < 1:
        raise InvalidArgumentError(f"num_classes must be >= 1, got {num_classes}")
    if pretrained is None:  # "no weights", like False (None is no path and not True)
        pretrained = False
    if backend != "torch":
        from logobrand.backends import create_backend_model

        return create_backend_model(backend, name, num_classes, pretrained, **kwargs)
    spec = get_model_spec(name)
    return spec.builder(num_classes=num_classes, pretrained=pretrained, **kwargs)


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelSpec",
    "Preprocessing",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
]
