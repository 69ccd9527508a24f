"""Tests of BatchLoader: order, determinism, workers, corrupt photos, shapes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from conftest import ImageWriter

from logobrand.data import Batch, BatchLoader, FileDataset, Sample
from logobrand.data import loader as loader_module
from logobrand.errors import InvalidArgumentError


def make_dataset(writer: ImageWriter, n: int, corrupt: tuple[int, ...] = ()) -> FileDataset:
    samples = []
    for i in range(n):
        if i in corrupt:
            path = writer.corrupt(f"img/{i}.jpg")
        else:
            path = writer.image(f"img/{i}.jpg", seed=i, size=(16, 16))
        samples.append(Sample(path, "ab"[i % 2]))
    return FileDataset(samples)


def collect(loader: BatchLoader) -> list[Batch]:
    return list(loader)


def test_in_order_batches(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, 10)
    loader = BatchLoader(ds, 4, num_workers=0)
    batches = collect(loader)
    assert len(loader) == 3
    assert [b.indices.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    first = batches[0]
    assert first.images.shape == (4, 16, 16, 3)
    assert first.images.dtype == np.uint8
    assert first.labels.dtype == np.int64
    assert first.labels.tolist() == [0, 1, 0, 1]
    assert np.array_equal(first.images[2], ds[2][0])
    dropped = BatchLoader(ds, 4, num_workers=0, drop_last=True)
    assert len(dropped) == 2
    assert [len(b) for b in dropped] == [4, 4]


def test_shuffle_depends_on_seed_and_epoch_only(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, 12)
    inline = BatchLoader(ds, 5, shuffle=True, seed=7, num_workers=0)
    workers = BatchLoader(ds, 5, shuffle=True, seed=7, num_workers=2, prefetch=1)
    order = [b.indices.tolist() for b in inline]
    assert sorted(i for chunk in order for i in chunk) == list(range(12))
    assert order != [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    parallel = collect(workers)
    assert [b.indices.tolist() for b in parallel] == order
    for a, b in zip(collect(inline), parallel, strict=True):
        assert np.array_equal(a.images, b.images)
        assert np.array_equal(a.labels, b.labels)
    inline.set_epoch(1)
    assert [b.indices.tolist() for b in inline] != order
    inline.set_epoch(0)
    assert [b.indices.tolist() for b in inline] == order


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_images_are_skipped_and_reported(
    tmp_images: ImageWriter, num_workers: int, caplog: pytest.LogCaptureFixture
) -> None:
    ds = make_dataset(tmp_images, 7, corrupt=(1, 4, 5))
    loader = BatchLoader(ds, 2, num_workers=num_workers)
    with caplog.at_level(logging.WARNING, logger="logobrand.data.loader"):
        batches = collect(loader)
    assert [b.indices.tolist() for b in batches] == [[0], [2, 3], [6]]
    assert [p.name for p, _ in loader.failures] == ["1.jpg", "4.jpg", "5.jpg"]
    assert all("cannot decode" in message for _, message in loader.failures)
    assert sum("1.jpg" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="logobrand.data.loader"):
        collect(loader)
    assert len(loader.failures) == 3
    assert not caplog.records  # each photo is logged once per loader


def test_transform_and_shape_mismatch(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, 4)
    ds.samples[2] = Sample(tmp_images.image("big.jpg", size=(20, 16)), "a")
    with pytest.raises(InvalidArgumentError, match=r"different shapes.*big\.jpg"):
        collect(BatchLoader(ds, 4, num_workers=0))
    with pytest.raises(InvalidArgumentError, match="different shapes"):
        collect(BatchLoader(ds, 4, num_workers=2))
    fixed = ds.with_transform(lambda im: im[:8, :8].astype(np.float32) / 255.0)
    (batch,) = collect(BatchLoader(fixed, 4, num_workers=2))
    assert batch.images.shape == (4, 8, 8, 3)
    assert batch.images.dtype == np.float32


def test_batches_larger_than_a_shared_slot_use_the_pipe(
    tmp_images: ImageWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = make_dataset(tmp_images, 6)
    monkeypatch.setattr(loader_module, "SLOT_BYTES", 2 * 16 * 16 * 3)
    expected = [b.images for b in BatchLoader(ds, 3, num_workers=0)]
    got = [b.images for b in BatchLoader(ds, 3, num_workers=2)]
    assert [g.shape for g in got] == [(3, 16, 16, 3)] * 2
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    small = [b.images for b in BatchLoader(ds, 2, num_workers=2)]
    assert np.array_equal(np.concatenate(small), np.concatenate(expected))


class Reseeded:
    """A random transform with the optional ``reseed`` hook."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.full((2,), self.rng.integers(1_000_000), dtype=np.int64)


def test_random_transforms_are_reproducible_across_workers(tmp_images: ImageWriter) -> None:
    ds = make_dataset(tmp_images, 9).with_transform(Reseeded())
    inline = [b.images for b in BatchLoader(ds, 2, shuffle=True, num_workers=0)]
    parallel = [b.images for b in BatchLoader(ds, 2, shuffle=True, num_workers=2)]
    assert all(np.array_equal(a, b) for a, b in zip(inline, parallel, strict=True))


def test_thread_workers_where_fork_is_unavailable(
    tmp_images: ImageWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = make_dataset(tmp_images, 9, corrupt=(4,)).with_transform(Reseeded())
    expected = [b.images for b in BatchLoader(ds, 2, shuffle=True, num_workers=0)]
    monkeypatch.setattr(loader_module, "_can_fork", lambda: False)
    loader = BatchLoader(ds, 2, shuffle=True, num_workers=2)
    got = [b.images for b in loader]
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    assert [p.name for p, _ in loader.failures] == ["4.jpg"]


def test_worker_errors_propagate(tmp_images: ImageWriter) -> None:
    def broken(image: np.ndarray) -> np.ndarray:
        raise KeyError("bug in a transform")

    ds = make_dataset(tmp_images, 4).with_transform(broken)
    with pytest.raises(KeyError, match="bug in a transform"):
        collect(BatchLoader(ds, 2, num_workers=2))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="workers are threads here"
)
def test_dead_worker_is_reported(tmp_images: ImageWriter) -> None:
    def die(image: np.ndarray) -> np.ndarray:
        os._exit(3)

    ds = make_dataset(tmp_images, 4).with_transform(die)
    with pytest.raises(BrokenProcessPool, match="worker process died"):
        collect(BatchLoader(ds, 2, num_workers=1))


def test_early_break_stops_workers(tmp_images: ImageWriter) -> None:
    loader = BatchLoader(make_dataset(tmp_images, 20), 2, num_workers=2)
    for batch in loader:
        assert len(batch) == 2
        break
    assert len(collect(loader)) == 10


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"num_workers": -1}, {"prefetch": 0}, {"batch_size": True}]
)
def test_invalid_arguments(kwargs: dict[str, int]) -> None:
    args = {"batch_size": 2, **kwargs}
    batch_size = args.pop("batch_size")
    with pytest.raises(InvalidArgumentError):
        BatchLoader(FileDataset([]), batch_size, **args)  # type: ignore[arg-type]


def test_empty_dataset() -> None:
    loader = BatchLoader(FileDataset([]), 3)
    assert len(loader) == 0
    assert collect(loader) == []


def test_data_package_does_not_import_torch() -> None:
    code = "import sys, logobrand.data; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
