"""logobrand: offline brand-logo recognition for photos, on a plain CPU.

Quick start::

    from logobrand import LogoClassifier
    clf = LogoClassifier.from_pretrained()      # the bundled model, offline
    print(clf.predict("photo.jpg").to_dict())

The public names below are imported lazily, so ``import logobrand`` stays fast and never
imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # errors
    "LogoBrandError": "logobrand.errors",
    "ImageDecodeError": "logobrand.errors",
    "ImageTooLargeError": "logobrand.errors",
    "FetchError": "logobrand.errors",
    "DatasetLayoutError": "logobrand.errors",
    "ModelFormatError": "logobrand.errors",
    "MissingExtraError": "logobrand.errors",
    "InvalidArgumentError": "logobrand.errors",
    # images
    "load_image": "logobrand.images",
    # inference
    "LogoClassifier": "logobrand.inference",
    "Prediction": "logobrand.inference",
    "Failure": "logobrand.inference",
    "ModelConfig": "logobrand.inference",
    # data
    "FlickrLogosDataset": "logobrand.data",
    "FlickrLogos27Dataset": "logobrand.data",
    "ImageFolderDataset": "logobrand.data",
    "NO_LOGO": "logobrand.data",
    # models
    "register_model": "logobrand.models",
    "create_model": "logobrand.models",
    "list_models": "logobrand.models",
    "Preprocessing": "logobrand.models",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from logobrand.data import NO_LOGO, FlickrLogos27Dataset, FlickrLogosDataset, ImageFolderDataset
    from logobrand.errors import (
        DatasetLayoutError,
        FetchError,
        ImageDecodeError,
        ImageTooLargeError,
        InvalidArgumentError,
        LogoBrandError,
        MissingExtraError,
        ModelFormatError,
    )
    from logobrand.images import load_image
    from logobrand.inference import Failure, LogoClassifier, ModelConfig, Prediction
    from logobrand.models import Preprocessing, create_model, list_models, register_model


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'logobrand' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
