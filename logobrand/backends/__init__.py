"""Model backends: which framework builds and trains a registry architecture.

``"torch"`` is the default and lives in :mod:`logobrand.models`. Other backends register a
*model factory* ``factory(name, num_classes, pretrained=False, **kwargs)`` under a name:

* built in: ``"mxnet"`` (:func:`logobrand.backends.mxnet.create_gluon_model`, Gluon nets);
* from Python: :func:`register_backend`;
* from another package: an entry point in the ``logobrand.backends`` group whose name is the
  backend name and whose object is the factory (``module:function``).

:func:`create_backend_model` is what ``logobrand.models.create_model(..., backend=NAME)``
calls. Nothing here imports a framework until a model is built.

Example:
    >>> from logobrand.backends import list_backends
    >>> "mxnet" in list_backends() and "torch" in list_backends()
    True
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from logobrand.errors import InvalidArgumentError

ENTRY_POINT_GROUP = "logobrand.backends"
"""The entry-point group that third-party backends register in."""

ModelFactory = Callable[..., Any]
"""``factory(name, num_classes, pretrained=False, **kwargs)`` returning a model."""

_BUILTIN: dict[str, str] = {
    "torch": "logobrand.models.registry:create_model",
    "mxnet": "logobrand.backends.mxnet.models:create_gluon_model",
}
_REGISTERED: dict[str, ModelFactory | str] = {}


def register_backend(name: str, factory: ModelFactory | str) -> None:
    """Register a backend's model factory (a callable, or ``"module:function"`` to import
    lazily). Registering an existing name replaces it.

    Raises:
        InvalidArgumentError: ``name`` is empty or ``"torch"`` (the built-in default).
    """
    if not name or name == "torch":
        raise InvalidArgumentError(f"cannot register a backend named {name!r}")
    _REGISTERED[name] = factory


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_backends() -> list[str]:
    """Return the names of every known backend (built in, registered, entry points)."""
    return sorted({*_BUILTIN, *_REGISTERED, *_entry_points()})


def _resolve(target: str) -> ModelFactory:
    module, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    if not callable(obj):
        raise InvalidArgumentError(f"backend factory {target!r} is not callable")
    factory: ModelFactory = obj
    return factory


def get_backend(name: str) -> ModelFactory:
    """Return the model factory of backend ``name``.

    Raises:
        InvalidArgumentError: No backend has that name; the message lists the known ones.
    """
    if name in _REGISTERED:
        target = _REGISTERED[name]
        return _resolve(target) if isinstance(target, str) else target
    if name in _BUILTIN:
        return _resolve(_BUILTIN[name])
    eps = _entry_points()
    if name in eps:
        loaded = eps[name].load()
        if not callable(loaded):
            raise InvalidArgumentError(f"the entry point of backend {name!r} is not callable")
        factory: ModelFactory = loaded
        return factory
    raise InvalidArgumentError(
        f"unknown backend {name!r}; known backends: {', '.join(list_backends())}"
    )


def create_backend_model(
    backend: str,
    name: str,
    num_classes: int,
    pretrained: bool | str | Path = False,
    **kwargs: Any,
) -> Any:
    """Build architecture ``name`` with ``backend``'s factory.

    Args:
        backend: A name from :func:`list_backends` (``"torch"``, ``"mxnet"``, ...).
        name: The architecture (registry name).
        num_classes: Width of the output layer.
        pretrained: Passed to the factory.
        **kwargs: Passed to the factory (e.g. ``ctx=mx.gpu(0)`` for ``"mxnet"``).

    Raises:
        InvalidArgumentError: Unknown backend or architecture, or ``num_classes < 1``.
        MissingExtraError: The backend's framework is not installed (the message says how
            to install it).
    """
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool):
        raise InvalidArgumentError(
            f"num_classes must be an integer >= 1, got {num_classes!r} of type "
            f"{type(num_classes).__name__}"
        )
    if num_classes < 1:
        raise InvalidArgumentError(f"num_classes must be >= 1, got {num_classes}")
    return get_backend(backend)(name, num_classes, pretrained, **kwargs)


__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelFactory",
    "create_backend_model",
    "get_backend",
    "list_backends",
    "register_backend",
]
