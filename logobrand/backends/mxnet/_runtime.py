"""Import MXNet on demand, turning every way it can be missing into one clear error."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType

import numpy as np

from logobrand.errors import MissingExtraError

INSTALL_HINT = (
    "pip install 'logobrand[mxnet]' (MXNet 1.9.1 is retired upstream: it needs Python 3.11 "
    "or older and numpy 1.23.5, so use a separate virtual environment, e.g. "
    "`python3.11 -m venv .venv-mxnet`; on a CUDA 11.2 + cuDNN 8 machine install "
    "mxnet-cu112==1.9.1 instead of mxnet, with numpy==1.23.5: the Python API is the same). "
    "Converting a Gluon .params file (logobrand import-gluon) does not need MXNet"
)
"""What to do when MXNet is absent: appended to every :class:`MissingExtraError` here."""

_cached: ModuleType | None = None


def _environment_problem() -> str | None:
    """Why MXNet 1.9 cannot work in this interpreter, before even trying to import it."""
    if sys.version_info >= (3, 12):
        return f"MXNet has no build for Python {sys.version_info.major}.{sys.version_info.minor}"
    major, minor = (int(part) for part in np.__version__.split(".")[:2])
    if (major, minor) >= (1, 24):
        return (
            f"MXNet 1.9 does not work with numpy {np.__version__} (it uses aliases such as "
            "np.bool that numpy 1.24 removed)"
        )
    return None


def import_mxnet() -> ModuleType:
    """Return the ``mxnet`` module, or raise a :class:`MissingExtraError` that says how to get it.

    Raises:
        MissingExtraError: MXNet is not installed, cannot be imported (for example a CUDA
            build without its CUDA libraries), or cannot work here (Python >= 3.12,
            numpy >= 1.24). Never a bare ``ImportError`` traceback.
    """
    global _cached
    if _cached is not None:
        return _cached
    problem = _environment_problem()
    if problem is not None:
        raise MissingExtraError(f"the MXNet backend is unavailable: {problem}; {INSTALL_HINT}")
    try:
        with warnings.catch_warnings():  # MXNet 1.9 touches numpy aliases deprecated in 1.20
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module("mxnet")
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"the MXNet backend needs 'mxnet', which is not installed; {INSTALL_HINT}"
        ) from exc
    except (ImportError, OSError, AttributeError) as exc:
        # OSError: a CUDA build whose libcudart/libcudnn is missing; AttributeError: a numpy
        # that removed an alias MXNet uses. Both leave a half-imported package behind.
        for name in [n for n in sys.modules if n == "mxnet" or n.startswith("mxnet.")]:
            del sys.modules[name]
        raise MissingExtraError(
            f"the MXNet backend is unavailable: importing mxnet failed ({type(exc).__name__}: "
            f"{exc}); {INSTALL_HINT}"
        ) from exc
    _cached = module
    return module


def mxnet_available() -> bool:
    """Whether :func:`import_mxnet` succeeds (imports MXNet when it can)."""
    try:
        import_mxnet()
    except MissingExtraError:
        return False
    return True


__all__ = ["INSTALL_HINT", "import_mxnet", "mxnet_available"]
