"""The exception hierarchy of logobrand.

Every error that logobrand raises on purpose derives from :class:`LogoBrandError`, so callers
can catch one type. Messages name the offending input and say what to do about it.

.. code-block:: text

    LogoBrandError
    ├── ImageDecodeError        the bytes are not a decodable image
    │   ├── ImageNotFoundError  the image file does not exist (also a FileNotFoundError)
    │   └── ImageTooLargeError  the image exceeds the pixel limit
    ├── FetchError              a URL could not be fetched safely
    ├── DatasetLayoutError      a dataset folder or list file is missing or malformed
    ├── ModelFormatError        a model directory or config.json is invalid
    │   └── ModelNotFoundError  the model directory does not exist (also a FileNotFoundError)
    ├── MissingExtraError       an optional dependency is not installed
    ├── InvalidArgumentError    an argument is out of range or of the wrong kind
    └── OutputError             an output file or folder could not be written
"""

from __future__ import annotations

import numbers


class LogoBrandError(Exception):
    """Base class of every error raised by logobrand."""


class ImageDecodeError(LogoBrandError, ValueError):
    """An input could not be decoded as an image (empty, truncated, not an image)."""


class ImageNotFoundError(ImageDecodeError, FileNotFoundError):
    """An image file does not exist; ``except FileNotFoundError`` / ``OSError`` catch it too."""


class ImageTooLargeError(ImageDecodeError):
    """An image has more pixels than the configured limit (a possible decompression bomb)."""


class FetchError(LogoBrandError):
    """A URL could not be fetched: bad scheme, blocked address, timeout, size or type."""


class DatasetLayoutError(LogoBrandError):
    """A dataset directory, list file or annotation file is missing or malformed."""


class ModelFormatError(LogoBrandError):
    """A model directory, its ``config.json`` or its weights are missing or invalid."""


class ModelNotFoundError(ModelFormatError, FileNotFoundError):
    """A model directory does not exist; ``except FileNotFoundError`` / ``OSError`` catch it."""


class MissingExtraError(LogoBrandError, ImportError):
    """An optional dependency is needed; the message names the ``pip install`` to run."""


class InvalidArgumentError(LogoBrandError, ValueError):
    """An argument has an invalid value."""


class OutputError(LogoBrandError, OSError):
    """An output file or folder could not be written: no permission, a file where a folder
    should be, a full disk. The previous contents, if any, are left intact."""


def output_error(path: object, exc: OSError) -> OutputError:
    """Build the :class:`OutputError` for a failed write of ``path``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None and str(exc.filename) != str(path):
        reason += f" ({exc.filename})"
    return OutputError(
        f"cannot write {path}: {reason}; choose a destination in a folder you can write to"
    )


def check_int(name: str, value: object, minimum: int, *, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int``, or raise :class:`InvalidArgumentError` naming ``name``
    unless it is an integer (Python or numpy, not a bool) >= ``minimum`` (and <= ``maximum``
    when given).

    The message reads ``"<name> must be an integer >= <minimum>, got <value!r>"``, or
    ``"... must be an integer from <minimum> to <maximum>, got ..."`` with a ``maximum``.
    """
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    number = int(value) if integral else 0  # type: ignore[call-overload]
    if maximum is None and (not integral or number < minimum):
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and (not integral or not minimum <= number <= maximum):
        raise InvalidArgumentError(
            f"{name} must be an integer from {minimum} to {maximum}, got {value!r}"
        )
    return number


def missing_extra(package: str, extra: str) -> MissingExtraError:
    """Build the error raised when an optional dependency is absent.

    Args:
        package: The importable module that is missing, e.g. ``"torch"``.
        extra: The logobrand extra that provides it, e.g. ``"train"``.

    Returns:
        A :class:`MissingExtraError` whose message says what to install.
    """
    hint = "pip install torch==2.13.0 && " if package == "torch" else ""
    return MissingExtraError(
        f"this feature needs '{package}', which is not installed; "
        f"install it with: {hint}pip install 'logobrand[{extra}]' (in a source checkout: "
        f"pip install -e '.[{extra}]')"
    )


__all__ = [
    "DatasetLayoutError",
    "FetchError",
    "ImageDecodeError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InvalidArgumentError",
    "LogoBrandError",
    "MissingExtraError",
    "ModelFormatError",
    "ModelNotFoundError",
    "OutputError",
    "check_int",
    "missing_extra",
    "output_error",
]
