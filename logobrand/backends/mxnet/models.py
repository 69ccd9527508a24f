"""Gluon implementations of logobrand's ``scratch_cnn`` and ``resnet18_v2`` (MXNet backend).

``resnet18_v2`` is Gluon's own model-zoo network, the one the tutorial fine-tunes;
``scratch_cnn`` is the tutorial's small CNN, laid out exactly like
:class:`logobrand.models.scratch_cnn.ScratchCNN`. Both have ``features`` (the backbone) and
``output`` (the last dense layer, the "head"), and an ``architecture`` attribute with the
registry name. MXNet is imported on the first call, never when this module is imported.

Example:
    >>> net = create_gluon_model("resnet18_v2", num_classes=33)  # doctest: +SKIP
    >>> net(mx.nd.zeros((1, 3, 224, 224))).shape  # doctest: +SKIP
    (1, 33)
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import numbers
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from logobrand.backends.mxnet._runtime import check_contexts, import_mxnet
from logobrand.backends.mxnet.convert import ARCHITECTURES, gluon_to_torch, torch_to_gluon
from logobrand.errors import InvalidArgumentError, ModelFormatError

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _scratch_class() -> type:
    mx = import_mxnet()
    nn = mx.gluon.nn
    hybrid_block: Any = mx.gluon.HybridBlock

    class GluonScratchCNN(hybrid_block):  # type: ignore[misc]
        """The tutorial's CNN in Gluon, layer for layer
        :class:`~logobrand.models.scratch_cnn.ScratchCNN`.

        ``features``: conv 96 11x11/4, ReLU, max-pool 3/2, conv 192 5x5 pad 2, ReLU,
        max-pool 3/2, flatten, dense ``hidden``, ReLU, dropout; ``output``: dense
        ``num_classes``. The dense layer reads a ``pooled_size`` x ``pooled_size`` map
        (12 x 12 for the tutorial's 224 x 224 input).
        """

        architecture = "scratch_cnn"

        def __init__(
            self,
            num_classes: int,
            hidden: int = 4096,
            dropout: float = 0.5,
            pooled_size: int = 12,
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            with self.name_scope():
                self.features = nn.HybridSequential(prefix="")
                self.features.add(
                    nn.Conv2D(96, 11, strides=4, in_channels=3),
                    nn.Activation("relu"),
                    nn.MaxPool2D(3, 2),
                    nn.Conv2D(192, 5, padding=2, in_channels=96),
                    nn.Activation("relu"),
                    nn.MaxPool2D(3, 2),
                    nn.Flatten(),
                    nn.Dense(hidden, in_units=192 * pooled_size * pooled_size),
                    nn.Activation("relu"),
                    nn.Dropout(dropout),
                )
                self.output = nn.Dense(num_classes, in_units=hidden)

        def hybrid_forward(self, F: Any, x: Any) -> Any:
            """Map a normalised ``(N, 3, 224, 224)`` batch to ``(N, num_classes)`` logits."""
            return self.output(self.features(x))

    return GluonScratchCNN


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _build_scratch(
    num_classes: int, *, hidden: int = 4096, dropout: float = 0.5, pooled_size: int = 12
) -> Any:
    sizes_ok = _is_int(hidden) and hidden >= 1 and _is_int(pooled_size) and pooled_size >= 1
    dropout_ok = (
        isinstance(dropout, numbers.Real)
        and not isinstance(dropout, bool | np.bool_)
        and math.isfinite(dropout)
        and 0.0 <= dropout < 1.0
    )
    if not (sizes_ok and dropout_ok):
        raise InvalidArgumentError(
            f"scratch_cnn needs integers hidden >= 1 and pooled_size >= 1 and a number "
            f"0 <= dropout < 1; got hidden={hidden!r}, pooled_size={pooled_size!r}, "
            f"dropout={dropout!r}"
        )
    return _scratch_class()(
        num_classes, hidden=int(hidden), dropout=float(dropout), pooled_size=int(pooled_size)
    )


def _build_resnet(num_classes: int, *, thumbnail: bool = False) -> Any:
    if not isinstance(thumbnail, bool | np.bool_):
        raise InvalidArgumentError(
            f"resnet18_v2 needs thumbnail=True or False (the 3x3 stem for small inputs); got "
            f"thumbnail={thumbnail!r}"
        )
    mx = import_mxnet()
    net = mx.gluon.model_zoo.vision.resnet18_v2(classes=num_classes, thumbnail=bool(thumbnail))
    net.architecture = "resnet18_v2"
    return net


_BUILDERS: dict[str, Callable[..., Any]] = {
    "resnet18_v2": _build_resnet,
    "scratch_cnn": _build_scratch,
}


def structural_params(net: Any) -> dict[str, Any]:
    """Return ``{structural name: Parameter}`` of a Gluon block (the names ``save_parameters``
    writes, e.g. ``features.1.weight``)."""
    collect = getattr(net, "_collect_params_with_prefix", None)
    if callable(collect):
        return dict(collect())
    prefix = str(net.prefix)  # MXNet without the helper: strip the block's own prefix
    return {name[len(prefix) :]: p for name, p in net.collect_params().items()}


def gluon_arrays(net: Any) -> dict[str, np.ndarray]:
    """Return the net's parameters as numpy arrays under their structural names."""
    return {name: p.data().asnumpy() for name, p in structural_params(net).items()}


def set_gluon_arrays(
    net: Any,
    arrays: Mapping[str, np.ndarray],
    *,
    skip_mismatched_head: bool = False,
    source: str = "",
) -> list[str]:
    """Copy arrays (structural names) into an initialised Gluon net.

    Args:
        net: The Gluon block (initialised, shapes known).
        arrays: ``{structural name: array}``.
        skip_mismatched_head: Leave ``output.*`` as it is when its shape differs (another
            number of classes).
        source: Names the arrays' origin in error messages.

    Returns:
        The names that were skipped.

    Raises:
        ModelFormatError: A parameter is missing, unexpected or of another shape.
    """
    nd = import_mxnet().nd
    own = structural_params(net)
    where = f" in {source}" if source else ""
    missing = sorted(set(own) - set(arrays))
    extra = sorted(set(arrays) - set(own))
    if missing or extra:
        raise ModelFormatError(
            f"the weights{where} do not fit {type(net).__name__}: missing {missing[:5]}, "
            f"unexpected {extra[:5]}"
        )
    skipped = []
    for name, param in own.items():
        value = np.asarray(arrays[name])
        if tuple(value.shape) != tuple(param.shape):
            if skip_mismatched_head and name.startswith("output."):
                skipped.append(name)
                continue
            raise ModelFormatError(
                f"{name}{where} has shape {tuple(value.shape)} but the net expects "
                f"{tuple(param.shape)}; check the architecture and num_classes"
            )
        # An NDArray source (not numpy): MXNet then copies into MKL-DNN-laid-out weights too.
        param.set_data(nd.array(value, dtype=param.dtype))
    return skipped


def _load_pretrained(net: Any, arch: str, path: Path) -> None:
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError as exc:
            from logobrand.errors import missing_extra

            raise missing_extra("safetensors", "train") from exc
        from safetensors import SafetensorError

        try:
            state = load_file(str(path))
        except FileNotFoundError as exc:
            raise ModelFormatError(
                f"{path} does not exist; pass the path of a local weights file"
            ) from exc
        except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: bad header
            raise ModelFormatError(
                f"cannot read {path} as a safetensors file ({exc}); it is truncated or not a "
                "safetensors file: save the weights again (safetensors.torch.save_file)"
            ) from exc
        arrays = torch_to_gluon(state, arch)
    else:
        from logobrand.backends.mxnet.params import load_params

        converted = gluon_to_torch(load_params(path), arch, source=str(path))
        arrays = torch_to_gluon(converted.state, arch)
    skipped = set_gluon_arrays(net, arrays, skip_mismatched_head=True, source=str(path))
    if skipped:
        logger.info("kept the initial values of %s (another head in %s)", ", ".join(skipped), path)


def _check_options(name: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse architecture options that ``name``'s builder does not take."""
    options = [
        p.name
        for p in inspect.signature(_BUILDERS[name]).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise InvalidArgumentError(
            f"Gluon {name} has no option {', '.join(map(repr, unknown))}; its options are "
            f"{', '.join(options)} (plus ctx and init)"
        )


def create_gluon_model(
    name: str,
    num_classes: int,
    pretrained: bool | str | os.PathLike[str] | None = False,
    *,
    ctx: Any = None,
    init: Any = None,
    **kwargs: Any,
) -> Any:
    """Build an initialised Gluon network of a logobrand architecture.

    Args:
        name: ``"resnet18_v2"`` (Gluon's model-zoo network) or ``"scratch_cnn"``.
        num_classes: Width of the output layer.
        pretrained: ``False`` (or ``None``) for no weights, or a local weights file: a Gluon
            ``.params`` file (any naming scheme; e.g. Gluon's ImageNet
            ``resnet18_v2-*.params``) or a logobrand ``.safetensors`` of the torch model. An
            output layer of another size is left freshly initialised. ``True`` is an error:
            nothing is ever downloaded.
        ctx: MXNet context(s), e.g. ``mx.gpu(0)`` with ``mxnet-cu112``; default CPU.
        init: Initializer; default ``mx.init.Xavier(magnitude=2.24)`` (the tutorial's).
        **kwargs: Architecture options: ``thumbnail`` (resnet18_v2); ``hidden``, ``dropout``,
            ``pooled_size`` (scratch_cnn).

    Returns:
        The ``mxnet.gluon.HybridBlock``, initialised on ``ctx`` (not hybridized).

    Raises:
        MissingExtraError: MXNet is not usable here, or ``ctx`` names a GPU and this MXNet
            build has none; the message says how to get it.
        InvalidArgumentError: Unknown name or option, ``num_classes`` not an integer >= 1,
            ``pretrained=True`` or not a path, an option or ``ctx``/``init`` of the wrong kind.
        ModelFormatError: The weights file does not fit.
    """
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise InvalidArgumentError(
            f"the mxnet backend has no model {name!r}; available: {', '.join(ARCHITECTURES)}"
        )
    if not _is_int(num_classes) or num_classes < 1:
        raise InvalidArgumentError(
            f"num_classes must be an integer >= 1 (the number of labels), got {num_classes!r}"
        )
    if pretrained is None:
        pretrained = False
    if pretrained is True:
        raise InvalidArgumentError(
            f"Gluon {name}: logobrand never downloads weights; pass pretrained=<path of a local "
            ".params file> (for example Gluon's ImageNet resnet18_v2 file from "
            "~/.mxnet/models/) or pretrained=False"
        )
    if pretrained is not False and (
        not isinstance(pretrained, str | os.PathLike) or not os.fspath(pretrained)
    ):
        raise InvalidArgumentError(
            f"Gluon {name}: pretrained must be False (no weights) or the path of a local "
            f".params or .safetensors file, got {pretrained!r}"
        )
    _check_options(name, kwargs)
    mx = import_mxnet()
    contexts = check_contexts(ctx if ctx is not None else mx.cpu(), f"Gluon {name}")
    net = _BUILDERS[name](int(num_classes), **kwargs)
    try:
        net.initialize(init if init is not None else mx.init.Xavier(magnitude=2.24), ctx=contexts)
        if name == "resnet18_v2":  # the zoo net infers its input channels on the first call
            net(mx.nd.zeros((1, 3, 32, 32), ctx=contexts[0]))
    except (mx.base.MXNetError, AssertionError) as exc:  # MXNet checks init with assert
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InvalidArgumentError(
            f"Gluon {name}: MXNet could not initialise the net with ctx={ctx!r} and "
            f"init={init!r} ({reason}); pass an mx.init initializer (or None) and a context "
            "this MXNet build supports"
        ) from exc
    if pretrained is not False:
        _load_pretrained(net, name, Path(pretrained))
    return net


__all__ = ["create_gluon_model", "gluon_arrays", "set_gluon_arrays", "structural_params"]
