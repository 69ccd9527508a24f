"""The MXNet/Gluon backend: the tutorial's Gluon networks, trained with logobrand's API.

MXNet 1.9.1 is retired upstream and installs only on Python <= 3.11 with numpy 1.23.5, so it
is an optional extra, kept in its own virtual environment::

    python3.11 -m venv .venv-mxnet && . .venv-mxnet/bin/activate
    pip install 'logobrand[mxnet]'      # CPU; on CUDA 11.2 + cuDNN 8: mxnet-cu112==1.9.1

What it offers:

* :func:`create_gluon_model` — Gluon ``resnet18_v2`` (the model zoo's pre-activation
  ResNet-18) and ``scratch_cnn``; also ``logobrand.models.create_model(name, n,
  backend="mxnet")``.
* :class:`GluonTrainer` — :class:`logobrand.training.Trainer`'s loop, callbacks, history and
  checkpoints for Gluon nets; :class:`~logobrand.training.ModelCheckpoint` writes logobrand
  model directories (converted to ONNX) that run without MXNet.
* :func:`import_gluon` — convert a Gluon ``.params`` checkpoint (e.g. the tutorial's
  ``ft-16.params``) into a model directory. This part needs torch, **not** MXNet: the
  ``.params`` format is read with numpy (:func:`load_params`).

Importing this package never imports MXNet; the first function that needs it does, and
raises :class:`~logobrand.errors.MissingExtraError` (saying how to get MXNet) when it cannot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logobrand.backends.mxnet._runtime import INSTALL_HINT, import_mxnet, mxnet_available
from logobrand.backends.mxnet.convert import (
    ARCHITECTURES,
    Converted,
    gluon_to_torch,
    torch_layout,
    torch_to_gluon,
)
from logobrand.backends.mxnet.importer import ImportResult, gluon_net_to_torch, import_gluon
from logobrand.backends.mxnet.models import create_gluon_model
from logobrand.backends.mxnet.params import load_params, read_params, save_params

if TYPE_CHECKING:
    from logobrand.backends.mxnet.trainer import GluonTrainer


def __getattr__(name: str) -> Any:
    if name == "GluonTrainer":  # imports the torch-based training package: only on demand
        from logobrand.backends.mxnet.trainer import GluonTrainer

        return GluonTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ARCHITECTURES",
    "INSTALL_HINT",
    "Converted",
    "GluonTrainer",
    "ImportResult",
    "create_gluon_model",
    "gluon_net_to_torch",
    "gluon_to_torch",
    "import_gluon",
    "import_mxnet",
    "load_params",
    "mxnet_available",
    "read_params",
    "save_params",
    "torch_layout",
    "torch_to_gluon",
]
