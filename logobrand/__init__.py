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
    "ImageNotFoundError": "logobrand.errors",
    "ImageTooLargeError": "logobrand.errors",
    "FetchError": "logobrand.errors",
    "DatasetLayoutError": "logobrand.errors",
    "ModelFormatError": "logobrand.errors",
    "ModelNotFoundError": "logobrand.errors",
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
    from logobrand.data import (
        NO_LOGO as NO_LOGO,
    )
    from logobrand.data import (
        FlickrLogos27Dataset as FlickrLogos27Dataset,
    )
    from logobrand.data import (
        FlickrLogosDataset as FlickrLogosDataset,
    )
    from logobrand.data import (
        ImageFolderDataset as ImageFolderDataset,
    )
    from logobrand.errors import (
        DatasetLayoutError as DatasetLayoutError,
    )
    from logobrand.errors import (
        FetchError as FetchError,
    )
    from logobrand.errors import (
        ImageDecodeError as ImageDecodeError,
    )
    from logobrand.errors import (
        ImageNotFoundError as ImageNotFoundError,
    )
    from logobrand.errors import (
        ImageTooLargeError as ImageTooLargeError,
    )
    from logobrand.errors import (
        InvalidArgumentError as InvalidArgumentError,
    )
    from logobrand.errors import (
        LogoBrandError as LogoBrandError,
    )
    from logobrand.errors import (
        MissingExtraError as MissingExtraError,
    )
    from logobrand.errors import (
        ModelFormatError as ModelFormatError,
    )
    from logobrand.errors import (
        ModelNotFoundError as ModelNotFoundError,
    )
    from logobrand.images import (
        load_image as load_image,
    )
    from logobrand.inference import (
        Failure as Failure,
    )
    from logobrand.inference import (
        LogoClassifier as LogoClassifier,
    )
    from logobrand.inference import (
        ModelConfig as ModelConfig,
    )
    from logobrand.inference import (
        Prediction as Prediction,
    )
    from logobrand.models import (
        Preprocessing as Preprocessing,
    )
    from logobrand.models import (
        create_model as create_model,
    )
    from logobrand.models import (
        list_models as list_models,
    )
    from logobrand.models import (
        register_model as register_model,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'logobrand' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
