"""Tests of FlickrLogos27Dataset on generated annotation files (and on the shared copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ImageWriter

from logobrand.data import NO_LOGO, Box, FlickrLogos27Dataset, canonical_class_name
from logobrand.data.flickrlogos27 import QUERY_FILE, TRAINING_FILE
from logobrand.errors import DatasetLayoutError, InvalidArgumentError

TRAINING = """\
1.jpg Adidas 1 10 10 50 40 \n\
1.jpg Adidas 2 10 10 50 40 \n\
1.jpg Adidas 3 60 10 90 40 \n\
2.jpg HP 1 5 5 20 20 \n\
3.jpg RedBull 2 3 197 3 197 \n\
3.jpg RedBull 3 3 197 3 197 \n\
4.jpg Cocacola 5 1 1 9 9 \n\
4.jpg Pepsi 1 2 2 8 8 \n\
5.jpg Nike 1 1 1 5 5 \n\
"""

QUERY = "10.jpg\tAdidas\n11.jpg\tnone\n12.jpg\tnone\n"


@pytest.fixture
def root(tmp_images: ImageWriter, tmp_path: Path) -> Path:
    folder = tmp_path / "fl27"
    for seed, name in enumerate(["1.jpg", "2.jpg", "3.jpg", "4.jpg", "11.jpg"]):
        tmp_images.image(folder / "images" / name, seed=seed)
    (folder / TRAINING_FILE).write_text(TRAINING)
    (folder / QUERY_FILE).write_text(QUERY)
    return folder


def test_merge_dedupe_and_degenerate(root: Path) -> None:
    ds = FlickrLogos27Dataset(root)
    by_name = {s.path.name: s for s in ds.samples}
    assert list(by_name) == ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "11.jpg"]
    assert by_name["1.jpg"].label == "Adidas"
    assert by_name["1.jpg"].boxes == (Box(10, 10, 50, 40), Box(60, 10, 90, 40))
    assert by_name["3.jpg"].label == "RedBull"
    assert by_name["3.jpg"].boxes == ()
    assert by_name["4.jpg"].label == "Cocacola"
    assert by_name["11.jpg"].label == NO_LOGO
    assert ds.duplicates_removed == 2
    assert ds.classes == ["Adidas", "Cocacola", "HP", "Nike", "Pepsi", "RedBull", NO_LOGO]
    problems = "\n".join(ds.problems)
    assert len(ds.problems) == 4
    assert "degenerate RedBull box" in problems
    assert "4.jpg is annotated with Pepsi too" in problems
    assert "5.jpg (Nike) is missing" in problems
    assert ds.problems[2] == (
        f"1 query-set none photo listed in {QUERY_FILE} is not in {root / 'images'} and was "
        "skipped (12.jpg); add the files there to use them as no-logo photos"
    )


def test_name_map_and_brand_filter(root: Path) -> None:
    ds = FlickrLogos27Dataset(root, name_map=canonical_class_name, include_none=False)
    assert ds.classes == ["HP", "adidas", "cocacola", "nike", "pepsi", "redbull"]
    assert NO_LOGO not in ds.labels
    only = FlickrLogos27Dataset(root, brands=["pepsi", "HP"], name_map=canonical_class_name)
    assert [(s.path.name, s.label) for s in only.samples] == [
        ("2.jpg", "HP"),
        ("4.jpg", "pepsi"),
        ("11.jpg", NO_LOGO),
    ]
    assert only.samples[1].boxes == (Box(2, 2, 8, 8),)
    with pytest.raises(InvalidArgumentError, match="Ferrari"):
        FlickrLogos27Dataset(root, brands=["Ferrari"])
    with pytest.raises(InvalidArgumentError):
        FlickrLogos27Dataset(root, brands="Adidas")


def test_layout_errors(root: Path) -> None:
    (root / QUERY_FILE).unlink()
    assert len(FlickrLogos27Dataset(root, include_none=False)) == 4
    with pytest.raises(DatasetLayoutError, match="include_none=False"):
        FlickrLogos27Dataset(root)
    (root / TRAINING_FILE).write_text("1.jpg Adidas 1 10 10 50\n")
    with pytest.raises(DatasetLayoutError, match="line 1"):
        FlickrLogos27Dataset(root, include_none=False)
    (root / TRAINING_FILE).unlink()
    with pytest.raises(DatasetLayoutError, match=TRAINING_FILE):
        FlickrLogos27Dataset(root, include_none=False)


@pytest.mark.slow
def test_shared_flickrlogos27(shared_data: Path) -> None:
    root = shared_data / "flickrlogos27"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    ds = FlickrLogos27Dataset(root)
    assert len(ds) == 831
    assert len(ds.classes) == 28
    counts = ds.class_counts()
    assert counts[NO_LOGO] == 22
    assert sum(counts.values()) == 831
    assert all(counts[name] > 0 for name in ds.classes)
    assert ds.duplicates_removed > 3000
    degenerate = [p for p in ds.problems if "degenerate" in p]
    assert len(degenerate) == 1
    assert "2662264721.jpg" in degenerate[0]
    red_bull = next(s for s in ds.samples if s.path.name == "2662264721.jpg")
    assert red_bull.boxes == ()
    assert not any("missing" in p for p in ds.problems)
    mapped = FlickrLogos27Dataset(root, name_map=canonical_class_name)
    assert {"HP", "adidas", "cocacola", "redbull", NO_LOGO} <= set(mapped.classes)


def test_none_photos_that_are_absent_or_conflict_are_reported(root: Path) -> None:
    absent = [f"gone{k}.jpg\tnone" for k in range(4)]
    query = ["11.jpg\tnone", "2.jpg\tnone", "1.jpg\tnone", "11.jpg\tnone", *absent]
    (root / QUERY_FILE).write_text("\n".join(query) + "\n")
    ds = FlickrLogos27Dataset(root)
    labels = {s.path.name: s.label for s in ds.samples}
    assert (labels["1.jpg"], labels["2.jpg"], labels["11.jpg"]) == ("Adidas", "HP", NO_LOGO)
    assert ds.labels.count(NO_LOGO) == 1  # the repeated 11.jpg line gives one sample
    conflicts = [p for p in ds.problems if "listed as none" in p]
    assert conflicts == [
        f"{root / 'images' / name} is annotated with {brand} in {TRAINING_FILE} but listed as "
        f"none in {QUERY_FILE}; kept as {brand}, not used as a no-logo photo"
        for name, brand in [("2.jpg", "HP"), ("1.jpg", "Adidas")]
    ]
    summary = [p for p in ds.problems if "query-set none photos" in p]
    assert len(summary) == 1
    assert summary[0].startswith(
        f"4 query-set none photos listed in {QUERY_FILE} are not in {root / 'images'}"
    )
    assert "(gone0.jpg, gone1.jpg, gone2.jpg, ...)" in summary[0]
    only_hp = FlickrLogos27Dataset(root, brands=["HP"])
    assert [(s.path.name, s.label) for s in only_hp.samples] == [
        ("2.jpg", "HP"),
        ("11.jpg", NO_LOGO),
    ]  # 1.jpg shows an Adidas logo: it must not become a no-logo photo
    assert any(
        "1.jpg is annotated with Adidas" in p and "left out: its brand is not selected" in p
        for p in only_hp.problems
    )
    without = FlickrLogos27Dataset(root, include_none=False).problems
    assert not any(QUERY_FILE in p for p in without)


@pytest.mark.parametrize("brands", [[None], ["Adidas", 3], 5])
def test_brands_must_be_names(root: Path, brands: object) -> None:
    with pytest.raises(InvalidArgumentError, match="brands must"):
        FlickrLogos27Dataset(root, brands=brands)  # type: ignore[arg-type]
