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
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from logobrand.backends.mxnet._runtime import import_mxnet
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


def _build_scratch(
    num_classes: int, *, hidden: int = 4096, dropout: float = 0.5, pooled_size: int = 12
) -> Any:
    if hidden < 1 or pooled_size < 1 or not 0.0 <= dropout < 1.0:
        raise InvalidArgumentError(
            f"scratch_cnn needs hidden >= 1, pooled_size >= 1 and 0 <= dropout < 1; got "
            f"hidden={hidden}, pooled_size={pooled_size}, dropout={dropout}"
        )
    return _scratch_class()(num_classes, hidden=hidden, dropout=dropout, pooled_size=pooled_size)


def _build_resnet(num_classes: int, *, thumbnail: bool = False) -> Any:
    mx = import_mxnet()
    net = mx.gluon.model_zoo.vision.resnet18_v2(classes=num_classes, thumbnail=thumbnail)
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
        try:
            state = load_file(str(path))
        except (OSError, ValueError) as exc:
            raise ModelFormatError(f"cannot read {path}: {exc}") from exc
        arrays = torch_to_gluon(state, arch)
    else:
        from logobrand.backends.mxnet.params import load_params

        converted = gluon_to_torch(load_params(path), arch, source=str(path))
        arrays = torch_to_gluon(converted.state, arch)
    skipped = set_gluon_arrays(net, arrays, skip_mismatched_head=True, source=str(path))
    if skipped:
        logger.info("kept the initial values of %s (another head in %s)", ", ".join(skipped), path)


def create_gluon_model(
    name: str,
    num_classes: int,
    pretrained: bool | str | os.PathLike[str] = False,
    *,
    ctx: Any = None,
    init: Any = None,
    **kwargs: Any,
) -> Any:
    """Build an initialised Gluon network of a logobrand architecture.

    Args:
        name: ``"resnet18_v2"`` (Gluon's model-zoo network) or ``"scratch_cnn"``.
        num_classes: Width of the output layer.
        pretrained: ``False``, or a local weights file: a Gluon ``.params`` file (any naming
            scheme; e.g. Gluon's ImageNet ``resnet18_v2-*.params``) or a logobrand
            ``.safetensors`` of the torch model. An output layer of another size is left
            freshly initialised. ``True`` is an error: nothing is ever downloaded.
        ctx: MXNet context(s), e.g. ``mx.gpu(0)`` with ``mxnet-cu112``; default CPU.
        init: Initializer; default ``mx.init.Xavier(magnitude=2.24)`` (the tutorial's).
        **kwargs: Architecture options: ``thumbnail`` (resnet18_v2); ``hidden``, ``dropout``,
            ``pooled_size`` (scratch_cnn).

    Returns:
        The ``mxnet.gluon.HybridBlock``, initialised on ``ctx`` (not hybridized).

    Raises:
        MissingExtraError: MXNet is not usable here; the message says how to get it.
        InvalidArgumentError: Unknown name, ``num_classes < 1`` or ``pretrained=True``.
        ModelFormatError: The weights file does not fit.
    """
    if name not in ARCHITECTURES:
        raise InvalidArgumentError(
            f"the mxnet backend has no model {name!r}; available: {', '.join(ARCHITECTURES)}"
        )
    if num_classes < 1:
        raise InvalidArgumentError(f"num_classes must be >= 1, got {num_classes}")
    if pretrained is True:
        raise InvalidArgumentError(
            f"Gluon {name}: logobrand never downloads weights; pass pretrained=<path of a local "
            ".params file> (for example Gluon's ImageNet resnet18_v2 file from "
            "~/.mxnet/models/) or pretrained=False"
        )
    mx = import_mxnet()
    net = _BUILDERS[name](num_classes, **kwargs)
    context = ctx if ctx is not None else mx.cpu()
    net.initialize(init if init is not None else mx.init.Xavier(magnitude=2.24), ctx=context)
    if name == "resnet18_v2":  # the zoo net infers its input channels on the first call
        first = context[0] if isinstance(context, list | tuple) else context
        net(mx.nd.zeros((1, 3, 32, 32), ctx=first))
    if pretrained is not False:
        _load_pretrained(net, name, Path(pretrained))
    return net


__all__ = ["create_gluon_model", "gluon_arrays", "set_gluon_arrays", "structural_params"]
