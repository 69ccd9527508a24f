"""Tests of logobrand.data.base: Box, Sample, FileDataset, concat and class names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ImageWriter
from hypothesis import given
from hypothesis import strategies as st

from logobrand.data import (
    FLICKRLOGOS32_CLASSES,
    NO_LOGO,
    Box,
    FileDataset,
    Sample,
    canonical_class_name,
    concat,
)
from logobrand.errors import ImageDecodeError, InvalidArgumentError


def test_class_constants() -> None:
    assert len(FLICKRLOGOS32_CLASSES) == 32
    assert len(set(FLICKRLOGOS32_CLASSES)) == 32
    assert FLICKRLOGOS32_CLASSES[0] == "adidas"
    assert FLICKRLOGOS32_CLASSES[-1] == "ups"
    assert "HP" in FLICKRLOGOS32_CLASSES
    assert "guiness" in FLICKRLOGOS32_CLASSES
    assert NO_LOGO == "no-logo"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("guinness", "guiness"),
        ("Adidas", "adidas"),
        ("HP", "HP"),
        ("hp", "HP"),
        ("Cocacola", "cocacola"),
        ("RedBull", "redbull"),
        ("McDonalds", "mcdonalds"),
        ("none", NO_LOGO),
        ("no-logo", NO_LOGO),
        ("Stella Artois", "stellaartois"),
    ],
)
def test_canonical_class_name(name: str, expected: str) -> None:
    assert canonical_class_name(name) == expected


@given(st.text(min_size=1, max_size=20))
def test_canonical_class_name_is_idempotent(name: str) -> None:
    once = canonical_class_name(name)
    assert canonical_class_name(once) == once


@given(
    st.floats(-1e4, 1e4),
    st.floats(-1e4, 1e4),
    st.floats(0, 1e4),
    st.floats(0, 1e4),
)
def test_box_from_xywh(x: float, y: float, w: float, h: float) -> None:
    box = Box.from_xywh(x, y, w, h)
    assert box.width == pytest.approx(w, abs=1e-6)
    assert box.height == pytest.approx(h, abs=1e-6)
    assert box.is_degenerate == (box.x1 >= box.x2 or box.y1 >= box.y2)


def test_box_validation() -> None:
    assert Box(1, 2, 3, 4) == Box(1.0, 2.0, 3.0, 4.0)
    assert Box(3, 0, 3, 5).is_degenerate
    with pytest.raises(InvalidArgumentError):
        Box(float("nan"), 0, 1, 1)


def test_sample_validation() -> None:
    sample = Sample("a.jpg", "adidas", [Box(0, 0, 1, 1)])  # type: ignore[arg-type]
    assert sample.path == Path("a.jpg")
    assert sample.boxes == (Box(0, 0, 1, 1),)
    with pytest.raises(InvalidArgumentError):
        Sample(Path("a.jpg"), "")


def _dataset(tmp_images: ImageWriter, labels: list[str]) -> FileDataset:
    samples = [
        Sample(tmp_images.image(f"{i}.jpg", seed=i), label) for i, label in enumerate(labels)
    ]
    return FileDataset(samples)


def test_file_dataset_basics(tmp_images: ImageWriter) -> None:
    ds = _dataset(tmp_images, ["pepsi", NO_LOGO, "HP", "pepsi"])
    assert ds.classes == ["HP", NO_LOGO, "pepsi"]
    assert ds.targets == [2, 1, 0, 2]
    assert ds.class_counts() == {"HP": 1, NO_LOGO: 1, "pepsi": 2}
    image, label = ds[0]
    assert image.dtype == np.uint8
    assert image.shape == (24, 32, 3)
    assert label == 2
    assert ds[-1][1] == 2
    with pytest.raises(IndexError):
        ds[4]
    assert len(list(ds)) == 4
    assert "4 samples" in repr(ds)


def test_with_transform_and_subset(tmp_images: ImageWriter) -> None:
    ds = _dataset(tmp_images, ["a", "b", "c"])
    flipped = ds.with_transform(lambda im: im[:, ::-1])
    assert ds.transform is None
    assert np.array_equal(flipped[1][0], ds[1][0][:, ::-1])
    part = flipped.subset([2])
    assert part.classes == ["a", "b", "c"]
    assert part.targets == [2]
    assert part.transform is flipped.transform
    assert len(ds) == 3
    assert np.array_equal(ds.load(2), part.load(0))


def test_explicit_classes() -> None:
    samples = [Sample(Path("x.jpg"), "pepsi")]
    ds = FileDataset(samples, classes=["pepsi", NO_LOGO, "adidas"])
    assert ds.classes == ["adidas", NO_LOGO, "pepsi"]
    assert ds.targets == [2]
    with pytest.raises(InvalidArgumentError, match=r"x\.jpg"):
        FileDataset(samples, classes=["adidas"])


def test_missing_file_raises_decode_error(tmp_path: Path) -> None:
    ds = FileDataset([Sample(tmp_path / "absent.jpg", "a")])
    with pytest.raises(ImageDecodeError, match=r"absent\.jpg"):
        ds[0]


def test_map_labels() -> None:
    ds = FileDataset(
        [Sample(Path("1.jpg"), "Adidas"), Sample(Path("2.jpg"), "none")],
        classes=["Adidas", "none", "HP"],
    )
    mapped = ds.map_labels(canonical_class_name)
    assert mapped.classes == ["HP", "adidas", NO_LOGO]
    assert mapped.labels == ["adidas", NO_LOGO]
    merged = ds.map_labels({"Adidas": "brand", "HP": "brand"})
    assert merged.classes == ["brand", "none"]


def test_concat_unions_classes() -> None:
    a = FileDataset([Sample(Path("a.jpg"), "adidas")], classes=["adidas", "pepsi"], problems=["p1"])
    b = FileDataset([Sample(Path("n.jpg"), NO_LOGO)])
    both = concat(a, b)
    assert both.classes == ["adidas", NO_LOGO, "pepsi"]
    assert both.labels == ["adidas", NO_LOGO]
    assert both.problems == ["p1"]

    def flip(im: np.ndarray) -> np.ndarray:
        return im[:, ::-1]

    assert concat(a.with_transform(flip), b.with_transform(flip)).transform is flip
    with pytest.raises(InvalidArgumentError, match="transform"):
        concat(a.with_transform(flip), b)
    assert concat(a.with_transform(flip), b, transform=None).transform is None
    with pytest.raises(InvalidArgumentError):
        concat()
