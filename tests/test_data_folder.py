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
from logobrand.errors import DatasetLayoutError, InvalidArgumentError


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


def test_root_level_images_and_broken_links_are_reported(
    tmp_images: ImageWriter, tmp_path: Path
) -> None:
    root = tmp_path / "mixed"
    tmp_images.image(root / "adidas" / "a.jpg", seed=1)
    for k in range(4):
        tmp_images.image(root / f"loose{k}.jpg", seed=10 + k)
    tmp_images.image(root / ".hidden.jpg", seed=20)
    (root / "README.md").write_text("about this folder")
    (root / "gone").symlink_to("nowhere")
    (root / "loop").symlink_to("loop")
    ds = ImageFolderDataset(root)
    assert ds.labels == ["adidas"]
    assert len(ds.problems) == 2
    loose, broken = ds.problems
    assert loose.startswith(f"4 image files directly in {root} are not in a class folder")
    assert "loose0.jpg, loose1.jpg, loose2.jpg, ..." in loose
    assert broken == f"{root}: skipped 2 broken links (missing target or link loop) (gone, loop)"
    assert not any(".hidden" in p or "README" in p for p in ds.problems)
    only_loose = tmp_path / "flat"
    tmp_images.image(only_loose / "x.jpg")
    with pytest.raises(DatasetLayoutError, match=r"no class folder \(it holds 1 image file"):
        ImageFolderDataset(only_loose)


def test_a_linked_class_folder_is_reported(tmp_images: ImageWriter, tmp_path: Path) -> None:
    root = tmp_path / "linked"
    tmp_images.image(root / "a" / "1.jpg", seed=1)
    tmp_images.image(root / "b" / "2.jpg", seed=2)
    (root / "a_link").symlink_to("a")
    ds = ImageFolderDataset(root)
    assert ds.class_counts() == {"a": 1, "a_link": 1, "b": 1}
    assert ds.problems == [
        f"{root / 'a_link'} and {root / 'a'} are the same folder (a link): its photos are read "
        "twice, as class 'a_link' and as class 'a'; remove the link or give the class one folder"
    ]
    assert ImageFolderDataset(root, classes=["a", "b"]).problems == []


def test_skipped_entries_say_what_they_are(tmp_images: ImageWriter, tmp_path: Path) -> None:
    folder = tmp_path / "root" / "adidas"
    tmp_images.image(folder / "ok.jpg", seed=1)
    tmp_images.image(folder / "sub" / "nested.jpg", seed=2)
    (folder / "broken.jpg").symlink_to("missing.jpg")
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "notes.txt").write_text("not an image")
    ds = ImageFolderDataset(tmp_path / "root", extensions=(".jpg",))
    assert [s.path.name for s in ds.samples] == ["ok.jpg"]
    assert ds.problems == [
        f"{folder}: skipped 4 entries: 1 file that is not an image with extensions ['.jpg'] "
        "(notes.txt); 1 sub-folder, not read recursively (sub); 2 broken links (missing target "
        "or link loop) (broken.jpg, loop.jpg)"
    ]


@pytest.mark.parametrize("extensions", ["jpg", [], [None], [".jpg", 3], ["."], 7])
def test_extensions_must_be_a_list_of_names(folder: Path, extensions: object) -> None:
    with pytest.raises(InvalidArgumentError, match="extensions must be a"):
        ImageFolderDataset(folder, extensions=extensions)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="extensions must be a"):
        ImageFolderDataset.from_folders({"x": folder}, extensions=extensions)  # type: ignore[arg-type]


def test_one_extension_given_as_a_tuple(folder: Path) -> None:
    ds = ImageFolderDataset(folder, extensions=("JPG",))
    assert [s.path.name for s in ds.samples] == ["b.jpg"]
