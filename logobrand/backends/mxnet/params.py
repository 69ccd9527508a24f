"""Read and write MXNet ``.params`` files with numpy only (no MXNet needed).

A ``.params`` file is what ``mx.nd.save``, Gluon's ``net.save_parameters`` (and the older
``net.save_params`` / ``net.collect_params().save``) and ``HybridBlock.export`` write: a list
of NDArrays and, optionally, their names. This module parses that binary format directly, so
a Gluon checkpoint such as the tutorial's ``ft-16.params`` can be converted on any Python and
numpy version, where MXNet itself no longer installs.

Layout (little-endian)::

    uint64 0x112            list magic
    uint64 0                reserved
    uint64 n                number of arrays, then n arrays:
        uint32 0xF993FAC9   NDArray V2 magic (V3 = 0xF993FACA: NumPy shape semantics;
                            V1 = 0xF993FAC8; older files start with the ndim itself)
        int32  stype        storage type (V2/V3 only; 0 = dense)
        int32  ndim, int64 dims[ndim]       (legacy files: uint32 dims)
        int32  dev_type, int32 dev_id       the context it was saved from
        int32  type_flag                    0 float32, 1 float64, 2 float16, 3 uint8, ...
        bytes  data
    uint64 m                number of names (0 or n), then m times: uint64 length, bytes

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.params")
    >>> _ = save_params(path, {"dense0_weight": np.ones((2, 3), np.float32)})
    >>> {k: v.shape for k, v in load_params(path).items()}
    {'dense0_weight': (2, 3)}
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from logobrand._io import atomic_write_bytes
from logobrand.errors import InvalidArgumentError, ModelFormatError

LIST_MAGIC = 0x112
"""First 8 bytes of every ``mx.nd.save`` file."""

NDARRAY_V1_MAGIC = 0xF993FAC8
NDARRAY_V2_MAGIC = 0xF993FAC9
NDARRAY_V3_MAGIC = 0xF993FACA

DTYPES: dict[int, np.dtype[np.generic]] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
    7: np.dtype("?"),
    8: np.dtype("<i2"),
    9: np.dtype("<u2"),
    10: np.dtype("<u4"),
    11: np.dtype("<u8"),
}
"""MXNet (mshadow) type flags and the numpy dtypes they map to."""

_FLAGS = {dtype: flag for flag, dtype in DTYPES.items()}
_MAX_NDIM = 32


def _as_path(path: object, who: str) -> Path:
    """``path`` as a :class:`Path`, or an :class:`InvalidArgumentError` naming ``who``."""
    if isinstance(path, str | os.PathLike):
        try:
            file = Path(path)
        except TypeError:  # an os.PathLike whose __fspath__ returns bytes
            pass
        else:
            if str(path):
                return file
    raise InvalidArgumentError(
        f"{who}: path must be the path of a .params file (a str or pathlib.Path), got {path!r}"
    )


class _Reader:
    """A bounds-checked cursor over the file's bytes."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise ModelFormatError(
                f"{self.source} is truncated or not an MXNet .params file: it ends while "
                f"reading {what} at byte {self.pos} (file size {len(self.data)})"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size, what))

    def u64(self, what: str) -> int:
        return int(self.unpack("<Q", what)[0])

    def u32(self, what: str) -> int:
        return int(self.unpack("<I", what)[0])

    def i32(self, what: str) -> int:
        return int(self.unpack("<i", what)[0])


def _read_shape(reader: _Reader, ndim: int, dim_fmt: str, what: str) -> tuple[int, ...]:
    if not -1 <= ndim <= _MAX_NDIM:
        raise ModelFormatError(
            f"{reader.source}: {what} has an invalid number of dimensions ({ndim}); the file is "
            "corrupt or not an MXNet .params file"
        )
    if ndim <= 0:
        return ()
    dims = reader.unpack(f"<{ndim}{dim_fmt}", f"the shape of {what}")
    if any(d < 0 for d in dims):
        raise ModelFormatError(f"{reader.source}: {what} has an unknown dimension {dims}")
    return tuple(int(d) for d in dims)


def _read_array(reader: _Reader, index: int) -> np.ndarray | None:
    what = f"array #{index}"
    magic = reader.u32(f"the header of {what}")
    if magic in (NDARRAY_V2_MAGIC, NDARRAY_V3_MAGIC):
        stype = reader.i32(f"the storage type of {what}")
        if stype != 0:
            raise ModelFormatError(
                f"{reader.source}: {what} is a sparse array (storage type {stype}); only dense "
                "arrays are supported (convert it with .tostype('default') and save again)"
            )
        ndim = reader.i32(f"the shape of {what}")
        shape = _read_shape(reader, ndim, "q", what)
        # V2 (MXNet shape semantics): ndim 0 is an empty NDArray, nothing follows.
        # V3 (NumPy semantics): ndim -1 is unknown (empty), ndim 0 is a scalar.
        if (magic == NDARRAY_V2_MAGIC and ndim == 0) or ndim < 0:
            return None
    elif magic == NDARRAY_V1_MAGIC:
        ndim = reader.i32(f"the shape of {what}")
        shape = _read_shape(reader, ndim, "q", what)
        if ndim == 0:
            return None
    else:  # pre-V1 files: the magic is the number of dimensions, dims are uint32
        ndim = magic
        shape = _read_shape(reader, ndim, "I", what)
        if ndim == 0:
            return None
    reader.unpack("<ii", f"the context of {what}")
    flag = reader.i32(f"the type of {what}")
    if flag not in DTYPES:
        raise ModelFormatError(
            f"{reader.source}: {what} has MXNet type flag {flag}, which logobrand cannot read "
            "(supported: float16/32/64 and integer types; cast to float32 and save again)"
        )
    dtype = DTYPES[flag]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    raw = reader.take(count * dtype.itemsize, f"the data of {what}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def read_params(data: bytes, source: str = "<bytes>") -> list[tuple[str, np.ndarray | None]]:
    """Parse the bytes of an ``mx.nd.save`` file into ``(name, array)`` pairs, in file order.

    Args:
        data: The file's content.
        source: How to name the input in error messages.

    Returns:
        The pairs; names are ``""`` when the file holds an unnamed list, and an array is
        ``None`` for an empty (shape-less) NDArray.

    Raises:
        ModelFormatError: The bytes are not an MXNet NDArray file, are truncated, or hold a
            sparse array or an unsupported type; the message says which array.
    """
    reader = _Reader(data, source)
    if len(data) < 16 or reader.u64("the file header") != LIST_MAGIC:
        raise ModelFormatError(
            f"{source} is not an MXNet .params file (no 0x112 NDArray-list header); pass a file "
            "written by Gluon's save_parameters/save_params or mx.nd.save"
        )
    reader.u64("the file header")
    count = reader.u64("the number of arrays")
    if count > len(data) // 8:
        raise ModelFormatError(f"{source}: implausible array count {count}; the file is corrupt")
    arrays = [_read_array(reader, i) for i in range(count)]
    n_names = reader.u64("the number of names") if reader.pos < len(data) else 0
    if n_names not in (0, count):
        raise ModelFormatError(
            f"{source} has {count} arrays but {n_names} names; the file is corrupt"
        )
    names: list[str] = []
    for i in range(n_names):
        length = reader.u64(f"the length of name #{i}")
        raw = bytes(reader.take(length, f"name #{i}"))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"{source}: name #{i} is not valid UTF-8: {exc}") from exc
    if reader.pos != len(data):
        raise ModelFormatError(
            f"{source} has {len(data) - reader.pos} unexpected bytes after its last name; the "
            "file is corrupt or not an MXNet .params file"
        )
    if not names:
        names = [""] * count
    return list(zip(names, arrays, strict=True))


def load_params(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a named ``.params`` file (e.g. Gluon's ``save_parameters`` output) into a dict.

    Args:
        path: The ``.params`` file.

    Returns:
        ``{name: array}`` in file order. Empty (shape-less) arrays are left out.

    Raises:
        InvalidArgumentError: ``path`` is not a path (e.g. ``None``).
        ModelFormatError: The file is missing, unreadable, unnamed, has duplicate names or is
            not a valid MXNet NDArray file.
    """
    file = _as_path(path, "load_params")
    try:
        data = file.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFormatError(
            f"{file} does not exist; pass the .params file written by Gluon"
        ) from exc
    except OSError as exc:
        raise ModelFormatError(f"cannot read {file}: {exc}") from exc
    pairs = read_params(data, str(file))
    if pairs and not any(name for name, _ in pairs):
        raise ModelFormatError(
            f"{file} holds {len(pairs)} unnamed arrays (mx.nd.save of a list); a Gluon "
            "checkpoint needs parameter names (use net.save_parameters)"
        )
    out: dict[str, np.ndarray] = {}
    for name, array in pairs:
        if name in out:
            raise ModelFormatError(f"{file} holds the parameter {name!r} twice")
        if array is not None:
            out[name] = array
    return out


def encode_params(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Encode named arrays in the format ``mx.nd.save`` writes (NDArray V2, CPU context).

    Args:
        arrays: ``{name: array}``; names are non-empty strings, arrays need at least one
            dimension and a dtype of :data:`DTYPES`.

    Returns:
        The bytes of a ``.params`` file that ``mx.nd.load`` and Gluon's
        ``load_parameters`` read.

    Raises:
        InvalidArgumentError: ``arrays`` is not a mapping, a name is not a non-empty string
            (or not encodable as UTF-8), or an array is 0-dimensional, ragged or of an
            unsupported dtype.
    """
    if not isinstance(arrays, Mapping):
        raise InvalidArgumentError(
            f"encode_params: arrays must be a mapping {{name: array}} (e.g. a dict), got "
            f"{type(arrays).__name__}"
        )
    encoded: dict[str, bytes] = {}
    for name in arrays:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"encode_params: parameter names must be non-empty strings (e.g. "
                f"'output.weight'), got {name!r} of type {type(name).__name__}"
            )
        try:
            encoded[name] = name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(
                f"encode_params: the name {name!r} cannot be written as UTF-8 ({exc.reason}); "
                "rename the parameter"
            ) from exc
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    for name, value in arrays.items():
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:  # e.g. a ragged nested list
            raise InvalidArgumentError(
                f"encode_params: {name!r} is not an array ({exc}); pass a numpy array"
            ) from exc
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        flag = _FLAGS.get(np.dtype(dtype))
        if flag is None:
            raise InvalidArgumentError(
                f"encode_params: {name!r} has dtype {array.dtype}, which MXNet files cannot hold"
            )
        if array.ndim == 0:
            raise InvalidArgumentError(
                f"encode_params: {name!r} is 0-dimensional; reshape it to (1,) (MXNet's V2 "
                "format cannot store scalars)"
            )
        parts.append(struct.pack("<Iii", NDARRAY_V2_MAGIC, 0, array.ndim))
        parts.append(struct.pack(f"<{array.ndim}q", *array.shape))
        parts.append(struct.pack("<iii", 1, 0, flag))
        parts.append(np.ascontiguousarray(array, dtype=DTYPES[flag]).tobytes())
    parts.append(struct.pack("<Q", len(arrays)))
    for raw in encoded.values():
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(parts)


def save_params(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> Path:
    """Write named arrays to a ``.params`` file atomically (see :func:`encode_params`).

    Returns:
        The path.

    Raises:
        InvalidArgumentError: ``path`` is not a path, or :func:`encode_params` refuses the
            arrays (nothing is written then).
        OutputError: The file cannot be written (a previous file, if any, is intact).
    """
    file = _as_path(path, "save_params")
    return atomic_write_bytes(file, encode_params(arrays))


__all__ = [
    "DTYPES",
    "LIST_MAGIC",
    "encode_params",
    "load_params",
    "read_params",
    "save_params",
]
