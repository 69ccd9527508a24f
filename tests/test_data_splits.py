"""Tests of stratified_split, group_samples and find_leaks."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ImageWriter
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.data import (
    NO_LOGO,
    FileDataset,
    FlickrLogos27Dataset,
    ImageFolderDataset,
    Sample,
    canonical_class_name,
    concat,
    find_leaks,
    fingerprint,
    group_samples,
    stratified_split,
    stratified_split_indices,
)
from logobrand.errors import InvalidArgumentError


def make_dataset(
    writer: ImageWriter, counts: dict[str, int], size: tuple[int, int] = (24, 32)
) -> FileDataset:
    samples = []
    seed = 0
    for label, count in counts.items():
        for _ in range(count):
            seed += 1
            samples.append(Sample(writer.image(f"{label}/{seed}.jpg", seed=seed, size=size), label))
    return FileDataset(samples)


def test_split_is_stratified_and_deterministic(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, {"a": 20, "b": 10, NO_LOGO: 30})
    train, val = stratified_split(ds, (0.8, 0.2), seed=3)
    assert isinstance(train, FileDataset)
    assert train.classes == val.classes == ds.classes
    assert train.class_counts() == {"a": 16, "b": 8, NO_LOGO: 24}
    assert val.class_counts() == {"a": 4, "b": 2, NO_LOGO: 6}
    assert set(train.paths).isdisjoint(val.paths)
    again = stratified_split(ds, (0.8, 0.2), seed=3)
    assert again[0].paths == train.paths
    other = stratified_split(ds, (0.8, 0.2), seed=4)
    assert other[0].paths != train.paths
    assert find_leaks(train, val) == []


def test_three_way_split_of_samples(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, {"a": 10, "b": 20})
    parts = stratified_split(ds.samples, (0.6, 0.2, 0.2), seed=0)
    assert [len(p) for p in parts] == [18, 6, 6]
    assert all(isinstance(p, list) for p in parts)
    assert Counter(s.label for s in parts[1]) == {"a": 2, "b": 4}


def test_near_duplicates_stay_together(tmp_images: ImageWriter, tmp_path: Path) -> None:
    ds = make_dataset(tmp_images, {"a": 12, "b": 12}, size=(96, 128))
    original = ds.samples[0].path
    copies = [
        tmp_images.reencode(original, "a/copy_q50.jpg", quality=50),
        tmp_images.reencode(original, "a/copy_small.jpg", quality=80, scale=0.8),
    ]
    exact = tmp_path / "a" / "exact.jpg"
    shutil.copyfile(ds.samples[5].path, exact)
    samples = [*ds.samples, *(Sample(p, "a") for p in copies), Sample(exact, "a")]
    groups = group_samples(samples)
    assert groups[0] == groups[-3] == groups[-2]
    assert groups[5] == groups[-1]
    assert len(set(groups)) == 24
    assert len(set(group_samples(samples, "sha256"))) == 26
    assert len(set(group_samples(samples, None))) == 27
    for seed in range(5):
        train, _ = stratified_split(samples, (0.7, 0.3), seed=seed)
        train_paths = {s.path for s in train}
        together = {original, *copies}
        assert together <= train_paths or together.isdisjoint(train_paths)
        assert (exact in train_paths) == (ds.samples[5].path in train_paths)


def test_custom_groups(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, {"a": 8})
    by_parity = stratified_split_indices(ds, (0.5, 0.5), group_by=lambda s: int(s.path.stem) % 2)
    assert sorted(len(p) for p in by_parity) == [4, 4]
    assert len({int(ds.samples[i].path.stem) % 2 for i in by_parity[0]}) == 1
    explicit = stratified_split_indices(ds, (0.5, 0.5), groups=[0, 0, 0, 0, 1, 1, 1, 1])
    assert explicit in ([[0, 1, 2, 3], [4, 5, 6, 7]], [[4, 5, 6, 7], [0, 1, 2, 3]])


def test_find_leaks(tmp_images: ImageWriter) -> None:
    a = tmp_images.image("x/a.jpg", seed=1, size=(64, 64))
    b = tmp_images.image("x/b.jpg", seed=2, size=(64, 64))
    c = tmp_images.image("y/c.jpg", seed=1, size=(64, 64))
    d = tmp_images.reencode(b, "y/d.jpg", quality=50)
    assert find_leaks([a, b], [c, d]) == [(a, c)]
    assert find_leaks([a, b], [c, d], near_duplicates=True) == [(a, c), (b, d)]
    assert find_leaks(FileDataset([Sample(a, "p")]), [Sample(d, "q")]) == []


def test_fingerprint_of_non_image(tmp_images: ImageWriter) -> None:
    bad = tmp_images.corrupt("bad.jpg")
    print_ = fingerprint(bad)
    assert print_.dhash is None
    assert len(print_.sha256) == 64
    groups = group_samples([Sample(bad, "a"), Sample(tmp_images.image("ok.jpg"), "a")])
    assert groups == [0, 1]


@pytest.mark.parametrize("fractions", [(1.0,), (0.5, 0.6), (0.5, 0.5, 0.0), (0.2,) * 5])
def test_invalid_fractions(fractions: tuple[float, ...]) -> None:
    with pytest.raises(InvalidArgumentError, match="fractions"):
        stratified_split([Sample(Path("a.jpg"), "a")], fractions, group_by=None)


def test_invalid_group_by() -> None:
    with pytest.raises(InvalidArgumentError, match="group_by"):
        group_samples([Sample(Path("a.jpg"), "a")], "name")  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=60),
    seed=st.integers(0, 2**31),
    first=st.floats(0.1, 0.9),
)
def test_split_is_a_stratified_partition(labels: list[str], seed: int, first: float) -> None:
    samples = [Sample(Path(f"{i}.jpg"), label) for i, label in enumerate(labels)]
    parts = stratified_split_indices(samples, (first, 1 - first), seed=seed, group_by=None)
    assert sorted(parts[0] + parts[1]) == list(range(len(samples)))
    for label, total in Counter(labels).items():
        got = sum(labels[i] == label for i in parts[0])
        assert abs(got - first * total) <= 1
    assert parts == stratified_split_indices(samples, (first, 1 - first), seed=seed, group_by=None)


@pytest.mark.slow
def test_shared_data_grouping_is_fast_and_finds_the_known_duplicates(shared_data: Path) -> None:
    folders = [shared_data / "logos32plus", shared_data / "nologo", shared_data / "flickrlogos27"]
    if not all(f.is_dir() for f in folders):
        pytest.skip("shared data folders are absent")
    logos = ImageFolderDataset(folders[0])
    fl27 = FlickrLogos27Dataset(folders[2], name_map=canonical_class_name)
    everything = concat(logos, ImageFolderDataset.from_folders({NO_LOGO: folders[1]}), fl27)
    assert len(everything) == 5992 + 965 + 831
    start = time.perf_counter()
    groups = group_samples(everything)
    assert time.perf_counter() - start < 60
    assert len(set(groups)) < len(everything)
    sprite = [
        groups[i]
        for i, s in enumerate(everything.samples)
        if s.path.stem in ("2219451836", "2244358347", "2866536247")
    ]
    assert len(sprite) == 3
    assert len(set(sprite)) == 1  # byte-identical FlickrLogos-27 copies under three names
    leaks = find_leaks(logos, fl27, near_duplicates=True)
    assert (folders[0] / "HP" / "005016.jpg", folders[2] / "images" / "4018954001.jpg") in leaks


def test_empty_and_non_image_files_get_a_content_hash_only(tmp_path: Path) -> None:
    from logobrand.data.splits import fingerprint

    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")  # OpenCV's decoder asserts on an empty buffer
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for path in (empty, text):
        fp = fingerprint(path)
        assert fp.dhash is None and fp.thumb is None and len(fp.sha256) == 64


def test_a_negative_seed_is_refused_up_front(tmp_images: ImageWriter) -> None:
    from logobrand.errors import InvalidArgumentError

    data = [Sample(tmp_images.image("a0.png", seed=1), "a")]
    with pytest.raises(InvalidArgumentError, match="seed must be an integer >= 0"):
        stratified_split(data, (0.5, 0.5), seed=-1)


def test_identical_photos_with_different_labels_are_reported(
    tmp_images: ImageWriter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = make_dataset(tmp_images, {"a": 4, "b": 4})
    copy = tmp_path / "b" / "copy_of_a1.jpg"
    shutil.copyfile(ds.samples[0].path, copy)
    same_label = tmp_path / "a" / "copy_of_a2.jpg"
    shutil.copyfile(ds.samples[1].path, same_label)
    data = FileDataset([*ds.samples, Sample(copy, "b"), Sample(same_label, "a")])
    with caplog.at_level("WARNING", logger="logobrand.data.splits"):
        parts = stratified_split(data, (0.5, 0.5), seed=0)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0].startswith("byte-identical photos carry different labels in 1 case(s)")
    assert f"{ds.samples[0].path} ('a') = {copy} ('b')" in warnings[0]
    expected = (
        f"{ds.samples[0].path} ('a') = {copy} ('b') are byte-identical but labelled "
        "differently; the split keeps them in one part; give the copies one label or delete "
        "the extra copies"
    )
    assert [p.problems for p in parts] == [[expected], [expected]]
    assert data.problems == []  # the input dataset is left as it was
    holder = next(p for p in parts if ds.samples[0].path in p.paths)
    assert copy in holder.paths
    caplog.clear()
    with caplog.at_level("WARNING", logger="logobrand.data.splits"):
        group_samples(data.samples, "sha256")
        stratified_split(ds, (0.5, 0.5))
    assert len(caplog.records) == 1  # group_samples warns too; ds alone has no conflict
    assert all(p.problems == [] for p in stratified_split(data, (0.5, 0.5), group_by=None))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": ("a", "b")}, "fractions must hold numbers"),
        ({"fractions": None}, "fractions must be a sequence"),
        ({"fractions": "0.8"}, "fractions must be a sequence"),
        ({"fractions": 0.8}, "fractions must be a sequence"),
        ({"fractions": (True, 0.5)}, "fractions must hold numbers"),
        ({"groups": [[1], [2], [3]]}, r"groups\[0\] is \[1\], which is not hashable"),
        ({"groups": 3}, "groups must be a list of group keys"),
        ({"groups": "abc"}, "groups must be a list of group keys"),
        ({"groups": [1, 2]}, "groups has 2 keys for 3 samples"),
        ({"group_by": lambda s: [s.label]}, "group_by function returned"),
    ],
)
def test_bad_argument_types_are_refused(kwargs: dict[str, object], message: str) -> None:
    samples = [Sample(Path(f"{i}.jpg"), "a") for i in range(3)]
    with pytest.raises(InvalidArgumentError, match=message):
        stratified_split(samples, **kwargs)  # type: ignore[arg-type]


def test_numpy_fractions_and_group_keys_are_accepted() -> None:
    import numpy as np

    samples = [Sample(Path(f"{i}.jpg"), "a") for i in range(4)]
    parts = stratified_split_indices(samples, np.array([0.5, 0.5]), groups=np.array([0, 0, 1, 1]))
    assert sorted(parts) == [[0, 1], [2, 3]]
