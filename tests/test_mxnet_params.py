"""The numpy-only MXNet ``.params`` reader/writer (no MXNet needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from logobrand.backends.mxnet.params import (
    DTYPES,
    NDARRAY_V1_MAGIC,
    NDARRAY_V3_MAGIC,
    encode_params,
    load_params,
    read_params,
    save_params,
)
from logobrand.errors import InvalidArgumentError, ModelFormatError

# The bytes MXNet 1.9.1 writes for mx.nd.save("w.params", {"w": arange(6, float32).reshape(2, 3)}).
MXNET_BYTES = bytes.fromhex(
    "120100000000000000000000000000000100000000000000c9fa93f9000000000200000002000000000000"
    "000300000000000000010000000000000000000000000000000000803f0000004000004040000080400000"
    "a0400100000000000000010000000000000077"
)


def _header(count: int) -> bytes:
    return struct.pack("<QQQ", 0x112, 0, count)


def _names(*names: str) -> bytes:
    out = struct.pack("<Q", len(names))
    for name in names:
        out += struct.pack("<Q", len(name)) + name.encode()
    return out


def test_reads_and_writes_what_mxnet_writes() -> None:
    expected = np.arange(6, dtype=np.float32).reshape(2, 3)
    [(name, array)] = read_params(MXNET_BYTES)
    assert name == "w" and array is not None and array.dtype == np.float32
    np.testing.assert_array_equal(array, expected)
    assert encode_params({"w": expected}) == MXNET_BYTES


def test_round_trip_file(tmp_path: Path) -> None:
    arrays = {
        "resnetv20_conv0_weight": np.random.default_rng(0).standard_normal((4, 3, 3, 3)),
        "b": np.array([1, 2], np.float16),
        "i": np.array([[7]], np.int64),
        "u": np.array([255], np.uint8),
    }
    path = save_params(tmp_path / "x.params", arrays)
    loaded = load_params(path)
    assert list(loaded) == list(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        hnp.arrays(
            st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8]),
            hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
        ),
        max_size=4,
    )
)
def test_round_trip_property(arrays: dict[str, np.ndarray]) -> None:
    pairs = read_params(encode_params(arrays))
    assert [name for name, _ in pairs] == list(arrays)
    for (_, got), want in zip(pairs, arrays.values(), strict=True):
        assert got is not None
        np.testing.assert_array_equal(got, want)


def test_legacy_v1_and_pre_v1_arrays() -> None:
    value = np.array([1.5, -2.0], np.float32)
    v1 = struct.pack("<Ii", NDARRAY_V1_MAGIC, 1) + struct.pack("<q", 2)
    v1 += struct.pack("<iii", 1, 0, 0) + value.tobytes()
    pre_v1 = struct.pack("<II", 1, 2) + struct.pack("<iii", 1, 0, 0) + value.tobytes()
    v3_scalar = struct.pack("<Iii", NDARRAY_V3_MAGIC, 0, 0) + struct.pack("<iii", 1, 0, 1)
    v3_scalar += np.float64(4.0).tobytes()
    data = _header(3) + v1 + pre_v1 + v3_scalar + _names("a", "b", "c")
    got = dict(read_params(data))
    np.testing.assert_array_equal(got["a"], value)
    np.testing.assert_array_equal(got["b"], value)
    assert got["c"] is not None and got["c"].shape == () and float(got["c"]) == 4.0


def test_empty_v2_array_is_skipped(tmp_path: Path) -> None:
    empty = struct.pack("<Iii", 0xF993FAC9, 0, 0)
    path = tmp_path / "e.params"
    path.write_bytes(_header(1) + empty + _names("none"))
    assert read_params(path.read_bytes()) == [("none", None)]
    assert load_params(path) == {}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "not an MXNet .params file"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an MXNet .params file"),
        (encode_params({"w": np.ones((8, 8), np.float32)})[:-40], "truncated"),
        (encode_params({"w": np.ones(2, np.float32)}) + b"junk", "unexpected bytes"),
        (_header(1) + struct.pack("<Iii", 0xF993FAC9, 1, 1), "sparse"),
        (
            _header(1) + struct.pack("<Iiiq", 0xF993FAC9, 0, 1, 1) + struct.pack("<iii", 1, 0, 12),
            "type flag 12",
        ),
        (_header(1) + struct.pack("<Iii", 0xF993FAC9, 0, 99), "invalid number of dimensions"),
        (_header(2**40), "implausible array count"),
    ],
)
def test_bad_files_raise_model_format_error(data: bytes, needle: str) -> None:
    with pytest.raises(ModelFormatError, match=needle):
        read_params(data, "bad.params")


def test_unnamed_and_duplicate_names(tmp_path: Path) -> None:
    one = struct.pack("<Iiiq", 0xF993FAC9, 0, 1, 1) + struct.pack("<iii", 1, 0, 0) + b"\0" * 4
    unnamed = tmp_path / "list.params"
    unnamed.write_bytes(_header(1) + one + struct.pack("<Q", 0))
    with pytest.raises(ModelFormatError, match="unnamed"):
        load_params(unnamed)
    twice = tmp_path / "twice.params"
    twice.write_bytes(_header(2) + one + one + _names("a", "a"))
    with pytest.raises(ModelFormatError, match="twice"):
        load_params(twice)
    with pytest.raises(ModelFormatError, match="does not exist"):
        load_params(tmp_path / "missing.params")


def test_encode_rejects_scalars_and_objects() -> None:
    with pytest.raises(InvalidArgumentError, match="0-dimensional"):
        encode_params({"s": np.float32(1.0).reshape(())})
    with pytest.raises(InvalidArgumentError, match="dtype"):
        encode_params({"o": np.array(["x"], dtype=object)})
    assert set(DTYPES) == set(range(12))


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({1: np.ones(2, np.float32)}, "names must be non-empty strings"),  # used to be an
        ({"": np.ones(2, np.float32)}, "names must be non-empty strings"),  # AttributeError
        ({"\udc80": np.ones(2, np.float32)}, "UTF-8"),
        ([np.ones(2, np.float32)], "mapping"),
    ],
)
def test_encode_rejects_bad_names(arrays: object, needle: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        save_params(tmp_path / "o.params", arrays)  # type: ignore[arg-type]
    assert not (tmp_path / "o.params").exists()


@pytest.mark.parametrize("path", [None, 3, ""])
def test_load_and_save_need_a_path(path: object) -> None:
    with pytest.raises(InvalidArgumentError, match="load_params: path must be"):
        load_params(path)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="save_params: path must be"):
        save_params(path, {"w": np.ones(2, np.float32)})  # type: ignore[arg-type]
