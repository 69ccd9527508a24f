"""Tests of ImageFolderDataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ImageWriter

from logobrand.data import (
    FLICKRLOGOS32_CLASSES,
    NO_LOGO,
    ImageFolderDataset,
    canonical_class_name,
    concat,
)
from logobrand.errors import DatasetLayoutError


@pytest.fixture
def folder(tmp_images: ImageWriter, tmp_path: Path) -> Path:
    root = tmp_path / "logos"
    tmp_images.image(root / "pepsi" / "b.jpg", seed=1)
    tmp_images.image(root / "pepsi" / "a.PNG", seed=2)
    tmp_images.image(root / "guinness" / "c.jpeg", seed=3)
    (root / "guinness" / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    (root / ".hidden").mkdir()
    (root / "README.md").write_text("ignored: not in a class folder")
    return root


def test_one_folder_per_class(folder: Path) -> None:
    ds = ImageFolderDataset(folder)
    assert ds.classes == ["empty", "guinness", "pepsi"]
    assert [(s.path.name, s.label) for s in ds.samples] == [
        ("c.jpeg", "guinness"),
        ("a.PNG", "pepsi"),
        ("b.jpg", "pepsi"),
    ]
    assert len(ds.problems) == 2
    assert any("notes.txt" in p for p in ds.problems)
    assert any("empty" in p for p in ds.problems)
    assert ds[1][0].shape == (24, 32, 3)


def test_classes_and_name_map(folder: Path) -> None:
    wanted = [*FLICKRLOGOS32_CLASSES, NO_LOGO]
    ds = ImageFolderDataset(folder, classes=wanted, name_map=canonical_class_name)
    assert len(ds.classes) == 33
    assert ds.labels == ["guiness", "pepsi", "pepsi"]
    assert ds.class_counts()["guiness"] == 1
    only = ImageFolderDataset(folder, classes=["pepsi"], extensions=("jpg",))
    assert [s.path.name for s in only.samples] == ["b.jpg"]
    assert any("a.PNG" in p for p in only.problems)


def test_from_folders_and_concat(folder: Path, tmp_images: ImageWriter, tmp_path: Path) -> None:
    tmp_images.image(tmp_path / "neg" / "x.jpg", seed=9)
    negatives = ImageFolderDataset.from_folders({NO_LOGO: tmp_path / "neg"})
    assert negatives.root is None
    assert negatives.labels == [NO_LOGO]
    both = concat(ImageFolderDataset(folder, classes=["pepsi"]), negatives)
    assert both.classes == [NO_LOGO, "pepsi"]
    assert both.targets == [1, 1, 0]
    with pytest.raises(DatasetLayoutError, match="absent"):
        ImageFolderDataset.from_folders({NO_LOGO: tmp_path / "absent"})


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        ImageFolderDataset(tmp_path / "absent")
    (tmp_path / "flat.jpg").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match="no class folder"):
        ImageFolderDataset(tmp_path)


@pytest.mark.slow
def test_shared_logos32plus_and_nologo(shared_data: Path) -> None:
    root = shared_data / "logos32plus"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    ds = ImageFolderDataset(root)
    assert len(ds) == 5992
    assert ds.classes == sorted(FLICKRLOGOS32_CLASSES)
    assert ds.problems == []
    assert min(ds.class_counts().values()) >= 84
    negatives = ImageFolderDataset.from_folders({NO_LOGO: shared_data / "nologo"})
    assert len(negatives) == 965
    assert len(concat(ds, negatives).classes) == 33
