"""Import MXNet on demand, turning every way it can be missing into one clear error."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError, MissingExtraError

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


GPU_HINT = (
    "install mxnet-cu112==1.9.1 (with numpy==1.23.5) in place of mxnet on a machine with "
    "CUDA 11.2 and cuDNN 8 (see docs/mxnet.rst), or pass ctx=mx.cpu()"
)
"""What to do when a GPU context is asked of an MXNet build without CUDA."""


def _cuda_enabled(mx: ModuleType) -> bool:
    """Whether this MXNet build was compiled with CUDA (True when it cannot tell)."""
    try:
        return bool(mx.runtime.Features().is_enabled("CUDA"))
    except Exception:  # an old or odd build: let MXNet decide later
        return True


def _gpu_count(mx: ModuleType) -> int | None:
    """How many GPUs a CUDA build of MXNet sees; None when it cannot tell."""
    try:
        return int(mx.context.num_gpus())
    except Exception:  # e.g. no CUDA driver: let MXNet decide later
        return None


def check_contexts(ctx: Any, who: str) -> list[Any]:
    """Validate ``ctx`` (one MXNet context or a list of them) before anything uses it.

    Args:
        ctx: ``mx.cpu()``, ``mx.gpu(i)``, or a non-empty list or tuple of them.
        who: Names the caller in error messages.

    Returns:
        The contexts, as a list.

    Raises:
        InvalidArgumentError: ``ctx`` is not a context (or a list of them), or names a GPU
            that MXNet does not see.
        MissingExtraError: ``ctx`` names a GPU but this MXNet build has no GPU support; the
            message says how to get one (``mxnet-cu112``).
    """
    mx = import_mxnet()
    contexts = list(ctx) if isinstance(ctx, list | tuple) else [ctx]
    if not contexts or not all(isinstance(c, mx.Context) for c in contexts):
        raise InvalidArgumentError(
            f"{who}: ctx must be an MXNet context such as mx.cpu() or mx.gpu(0), or a non-empty "
            f"list of them; got {ctx!r}"
        )
    gpus = [c for c in contexts if c.device_type == "gpu"]
    if not gpus:
        return contexts
    if not _cuda_enabled(mx):
        raise MissingExtraError(
            f"{who}: ctx={gpus[0]} asks for a GPU, but this MXNet build has no GPU support (the "
            f"CPU-only 'mxnet' package is installed); {GPU_HINT}"
        )
    count = _gpu_count(mx)
    if count is not None:
        beyond = [c for c in gpus if c.device_id >= count]
        if beyond:
            choice = f"use mx.gpu(0) to mx.gpu({count - 1})" if count else "pass ctx=mx.cpu()"
            raise InvalidArgumentError(
                f"{who}: ctx={beyond[0]} names a GPU that MXNet does not see (it sees {count}); "
                f"{choice}, or check CUDA_VISIBLE_DEVICES and the NVIDIA driver"
            )
    return contexts


def mxnet_available() -> bool:
    """Whether :func:`import_mxnet` succeeds (imports MXNet when it can)."""
    try:
        import_mxnet()
    except MissingExtraError:
        return False
    return True


__all__ = ["GPU_HINT", "INSTALL_HINT", "check_contexts", "import_mxnet", "mxnet_available"]
