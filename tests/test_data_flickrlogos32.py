"""Tests of FlickrLogosDataset on a miniature FlickrLogos-32 v2 tree generated here."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ImageWriter

from logobrand.data import NO_LOGO, Box, FlickrLogosDataset
from logobrand.errors import DatasetLayoutError, InvalidArgumentError

# (class folder in jpg/, file) per list; masks use lower-case folders (as the example's hp/).
LISTS = {
    "trainset": [("adidas", "1.jpg"), ("HP", "2.jpg")],
    "valset-logosonly": [("adidas", "3.jpg"), ("HP", "4.jpg")],
    "valset-nologos": [(NO_LOGO, f"n{i}.jpg") for i in range(5)],
    "testset": [("adidas", "5.jpg"), ("HP", "6.jpg"), (NO_LOGO, "n9.jpg")],
}


def make_tree(writer: ImageWriter, root: Path, *, relpaths: bool = False) -> Path:
    """Write a miniature FlickrLogos-v2 tree; every brand photo has one box."""
    seed = 0
    for name, entries in LISTS.items():
        lines = []
        for class_name, file_name in entries:
            seed += 1
            writer.image(root / "classes" / "jpg" / class_name / file_name, seed=seed)
            if class_name != NO_LOGO:
                box_file = (
                    root / "classes" / "masks" / class_name.lower() / f"{file_name}.bboxes.txt"
                )
                box_file.parent.mkdir(parents=True, exist_ok=True)
                box_file.write_text(f"x y width height\n{seed} 2 10 5\n")
            lines.append(
                f"classes/jpg/{class_name}/{file_name}" if relpaths else f"{class_name},{file_name}"
            )
        suffix = ".relpaths.txt" if relpaths else ".txt"
        (root / f"{name}{suffix}").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tree(tmp_images: ImageWriter, tmp_path: Path) -> Path:
    return make_tree(tmp_images, tmp_path / "FlickrLogos-v2")


def names(ds: FlickrLogosDataset) -> list[str]:
    return [s.path.name for s in ds.samples]


def test_official_partition(tree: Path) -> None:
    train = FlickrLogosDataset(tree, "train")
    val = FlickrLogosDataset(tree, "val")
    test = FlickrLogosDataset(tree, "test")
    assert names(train) == ["1.jpg", "2.jpg"]
    assert names(val) == ["3.jpg", "4.jpg"] + [f"n{i}.jpg" for i in range(5)]
    assert names(test) == ["5.jpg", "6.jpg", "n9.jpg"]
    for ds in (train, val, test):
        assert ds.classes == ["HP", "adidas", NO_LOGO]
        assert ds.problems == []
    assert train.labels == ["adidas", "HP"]
    assert test.targets == [1, 0, 2]


def test_tutorial_recipe(tree: Path) -> None:
    train = FlickrLogosDataset(tree, "train", tutorial_recipe=True)
    val = FlickrLogosDataset(tree, "val", tutorial_recipe=True)
    test = FlickrLogosDataset(tree, "test", tutorial_recipe=True)
    assert names(train) == ["1.jpg", "2.jpg", "n0.jpg", "n1.jpg"]
    assert names(val) == ["3.jpg", "4.jpg", "n2.jpg", "n3.jpg", "n4.jpg"]
    assert names(test) == ["5.jpg", "6.jpg", "n9.jpg"]


def test_boxes_are_corners_and_masks_match_case_insensitively(tree: Path) -> None:
    train = FlickrLogosDataset(tree, "train")
    adidas, hp = train.samples
    assert adidas.boxes == (Box(1, 2, 11, 7),)
    assert hp.boxes == (Box(2, 2, 12, 7),)  # jpg/HP, masks/hp
    val = FlickrLogosDataset(tree, "val")
    assert all(s.boxes == () for s in val.samples if s.label == NO_LOGO)


def test_relpaths_lists(tmp_images: ImageWriter, tmp_path: Path) -> None:
    root = make_tree(tmp_images, tmp_path / "v2", relpaths=True)
    val = FlickrLogosDataset(root, "val", tutorial_recipe=True)
    assert names(val) == ["3.jpg", "4.jpg", "n2.jpg", "n3.jpg", "n4.jpg"]
    assert val.samples[0].path == root / "classes" / "jpg" / "adidas" / "3.jpg"


def test_getitem_decodes(tree: Path) -> None:
    image, label = FlickrLogosDataset(tree, "test")[2]
    assert image.shape == (24, 32, 3)
    assert label == 2


def test_missing_list_file_is_named(tree: Path) -> None:
    (tree / "valset-nologos.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"valset-nologos\.txt"):
        FlickrLogosDataset(tree, "test")


def test_wrong_root(tree: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="did you mean"):
        FlickrLogosDataset(tree.parent, "train")
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        FlickrLogosDataset(tree / "absent", "train")


def test_missing_photo_error_or_skip(tree: Path) -> None:
    (tree / "classes" / "jpg" / "HP" / "4.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match=r"4\.jpg.*valset-logosonly\.txt, line 2"):
        FlickrLogosDataset(tree, "val")
    val = FlickrLogosDataset(tree, "val", on_missing="skip")
    assert "4.jpg" not in names(val)
    assert len(val) == 6
    assert val.missing == [tree / "classes" / "jpg" / "HP" / "4.jpg"]
    assert len(val.problems) == 1
    assert "4.jpg" in val.problems[0]


def test_missing_box_file_is_reported(tree: Path) -> None:
    (tree / "classes" / "masks" / "adidas" / "1.jpg.bboxes.txt").unlink()
    train = FlickrLogosDataset(tree, "train")
    assert train.samples[0].boxes == ()
    assert len(train.problems) == 1
    assert "1.jpg.bboxes.txt" in train.problems[0]


def test_malformed_lines(tree: Path) -> None:
    (tree / "classes" / "masks" / "adidas" / "1.jpg.bboxes.txt").write_text(
        "x y width height\n1 2 3\n"
    )
    with pytest.raises(DatasetLayoutError, match=r"1\.jpg\.bboxes\.txt, line 2"):
        FlickrLogosDataset(tree, "train")
    (tree / "trainset.txt").write_text("adidas;1.jpg\n")
    with pytest.raises(DatasetLayoutError, match=r"trainset\.txt, line 1"):
        FlickrLogosDataset(tree, "train")


def test_invalid_arguments(tree: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        FlickrLogosDataset(tree, "trainval")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        FlickrLogosDataset(tree, "train", on_missing="ignore")  # type: ignore[arg-type]


@pytest.mark.slow
def test_shared_example_tree(shared_data: Path) -> None:
    root = shared_data / "flickrlogos32-format" / "example" / "FlickrLogos-v2"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    train = FlickrLogosDataset(root, "train")
    val = FlickrLogosDataset(root, "val")
    test = FlickrLogosDataset(root, "test")
    assert (len(train), len(val), len(test)) == (3, 5, 5)
    assert train.classes == ["HP", "adidas", "guiness", NO_LOGO]
    hp = next(s for s in train.samples if s.label == "HP")
    assert hp.boxes == (Box(45, 38, 127, 88),)
    assert train.problems == []
    # The miniature example reuses its 3 valset-logosonly photos in testset: both say so.
    assert len(val.problems) == len(test.problems) == 3
    assert all("also in the test split" in p for p in val.problems)
    assert all("also in the val split" in p for p in test.problems)
    tutorial = FlickrLogosDataset(root, "train", tutorial_recipe=True)
    assert len(tutorial) == 4
    assert tutorial[3][0].ndim == 3


def test_a_list_file_that_is_not_utf8_is_named(tree: Path) -> None:
    (tree / "valset-nologos.txt").write_bytes("0/1.jpg\n".encode("utf-16"))
    with pytest.raises(DatasetLayoutError, match=r"valset-nologos\.txt is not UTF-8"):
        FlickrLogosDataset(tree, "test")
    with pytest.raises(InvalidArgumentError, match="dataset folder"):
        FlickrLogosDataset(None, "test")  # type: ignore[arg-type]


def test_tutorial_recipe_drops_list_duplicates_before_halving(tree: Path) -> None:
    lines = [f"{NO_LOGO},n{i}.jpg" for i in (0, 1, 1, 2, 3, 4)]
    (tree / "valset-nologos.txt").write_text("\n".join(lines) + "\n")
    train = FlickrLogosDataset(tree, "train", tutorial_recipe=True)
    val = FlickrLogosDataset(tree, "val", tutorial_recipe=True)
    assert names(train) == ["1.jpg", "2.jpg", "n0.jpg", "n1.jpg"]
    assert names(val) == ["3.jpg", "4.jpg", "n2.jpg", "n3.jpg", "n4.jpg"]
    assert train.problems == [
        f"{tree / 'classes' / 'jpg' / NO_LOGO / 'n1.jpg'} is listed twice in "
        "valset-nologos.txt (lines 2 and 3); kept once"
    ]
    assert val.problems == []  # the duplicate is not in val
    official = FlickrLogosDataset(tree, "val")
    assert names(official) == names(val)[:2] + [f"n{i}.jpg" for i in range(5)]
    assert len(official.problems) == 1 and "lines 2 and 3" in official.problems[0]


def test_a_photo_in_two_splits_is_reported_by_both(tree: Path) -> None:
    with (tree / "testset.txt").open("a") as f:
        f.write("adidas,1.jpg\n")
    train = FlickrLogosDataset(tree, "train")
    test = FlickrLogosDataset(tree, "test")
    assert "1.jpg" in names(train) and "1.jpg" in names(test)  # kept, but reported
    assert len(train.problems) == 1
    assert (
        "1.jpg (trainset.txt, line 1) is also in the test split (testset.txt, line 4)"
        in (train.problems[0])
    )
    assert len(test.problems) == 1 and "also in the train split" in test.problems[0]
    assert FlickrLogosDataset(tree, "val").problems == []


def test_the_exact_case_class_folder_wins(tmp_images: ImageWriter, tree: Path) -> None:
    jpg, masks = tree / "classes" / "jpg", tree / "classes" / "masks"
    tmp_images.image(jpg / "hp" / "50.jpg", seed=50)  # hp/ next to HP/
    (masks / "hp" / "50.jpg.bboxes.txt").write_text("3 3 4 4\n")
    (masks / "HP").mkdir()
    (masks / "HP" / "2.jpg.bboxes.txt").write_text("7 7 2 2\n")  # masks/HP next to masks/hp
    with (tree / "trainset.txt").open("a") as f:
        f.write("hp,50.jpg\n")
    train = FlickrLogosDataset(tree, "train")
    assert [s.path for s in train.samples] == [
        jpg / "adidas" / "1.jpg",
        jpg / "HP" / "2.jpg",
        jpg / "hp" / "50.jpg",
    ]
    assert train.labels == ["adidas", "HP", "HP"]
    assert train.samples[1].boxes == (Box(7, 7, 9, 9),)  # masks/HP, not masks/hp
    assert train.samples[2].boxes == (Box(3, 3, 7, 7),)
    assert len(train.problems) == 1 and "differ only in case (HP, hp)" in train.problems[0]
    # without the exact spelling, the case-insensitive match is used
    (tree / "testset.txt").write_text("Adidas,5.jpg\n")
    assert FlickrLogosDataset(tree, "test").samples[0].path == jpg / "adidas" / "5.jpg"


def test_a_line_without_class_folder_adds_no_class(tree: Path) -> None:
    text = (tree / "trainset.txt").read_text()
    (tree / "trainset.txt").write_text("class,file\n" + text)
    test = FlickrLogosDataset(tree, "test")
    assert test.classes == ["HP", "adidas", NO_LOGO] and test.problems == []
    with pytest.raises(
        DatasetLayoutError, match=r"trainset\.txt, line 1, .*no class folder 'class'"
    ):
        FlickrLogosDataset(tree, "train")
    train = FlickrLogosDataset(tree, "train", on_missing="skip")
    assert train.classes == ["HP", "adidas", NO_LOGO]
    assert names(train) == ["1.jpg", "2.jpg"]
    assert train.missing == [tree / "classes" / "jpg" / "class" / "file"]
    assert train.problems == [
        f"{train.missing[0]} (listed in trainset.txt, line 1) is missing (no such class "
        "folder); skipped"
    ]
    # the same with a relpaths line that names a folder ("jpg" would be the class)
    (tree / "trainset.txt").unlink()
    (tree / "trainset.relpaths.txt").write_text("classes/jpg/adidas\nclasses/jpg/adidas/1.jpg\n")
    assert FlickrLogosDataset(tree, "val").classes == ["HP", "adidas", NO_LOGO]
    train = FlickrLogosDataset(tree, "train", on_missing="skip")
    assert names(train) == ["1.jpg"] and len(train.missing) == 1


def test_degenerate_and_empty_box_files_are_reported(tree: Path) -> None:
    masks = tree / "classes" / "masks"
    (masks / "adidas" / "1.jpg.bboxes.txt").write_text("x y width height\n5 5 -3 0\n1 1 4 4\n")
    (masks / "hp" / "2.jpg.bboxes.txt").write_text("x y width height\n")
    train = FlickrLogosDataset(tree, "train")
    assert [s.boxes for s in train.samples] == [(Box(1, 1, 5, 5),), ()]
    assert len(train.problems) == 2
    assert "1.jpg.bboxes.txt: degenerate box" in train.problems[0]
    assert "2.jpg.bboxes.txt holds no usable box" in train.problems[1]
    (masks / "adidas" / "1.jpg.bboxes.txt").write_text("0 0 10 0\n")
    train = FlickrLogosDataset(tree, "train")
    assert train.samples[0].boxes == ()
    assert [": degenerate box" in p for p in train.problems] == [True, False, False]
    assert "1.jpg.bboxes.txt holds no usable box" in train.problems[1]


@pytest.mark.parametrize("line", ["nan 1 2 3", "1 inf 2 3", "1 2 1e999 3", "1e308 1 1e308 3"])
def test_a_non_finite_box_number_names_file_and_line(tree: Path, line: str) -> None:
    (tree / "classes" / "masks" / "adidas" / "1.jpg.bboxes.txt").write_text(
        f"x y width height\n{line}\n"
    )
    with pytest.raises(DatasetLayoutError, match=r"1\.jpg\.bboxes\.txt, line 2: expected"):
        FlickrLogosDataset(tree, "train")


def test_a_list_line_with_three_fields_is_malformed(tree: Path) -> None:
    (tree / "trainset.txt").write_text("HP,2.jpg\nadidas,1.jpg,extra\n")
    with pytest.raises(DatasetLayoutError, match=r"trainset\.txt, line 2: expected") as info:
        FlickrLogosDataset(tree, "test")  # every list is read, whatever the split
    assert "does not exist" not in str(info.value)
