"""Batches of decoded images from a dataset, decoded in parallel worker processes.

:class:`BatchLoader` needs no torch: it yields numpy :class:`Batch` objects. Workers are
forked processes where the platform can fork (Linux), threads elsewhere; each pass starts
them afresh, so changes to the dataset between passes are seen. Forked workers stack each
batch straight into an anonymous shared memory slot made before the fork (not ``/dev/shm``,
so small container limits do not matter) and the loader copies it out; only batches larger
than a slot travel through a pipe.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import mmap
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, SupportsIndex

import numpy as np
from numpy.typing import NDArray

from logobrand.errors import ImageDecodeError, InvalidArgumentError, check_int

logger = logging.getLogger(__name__)


class IndexedDataset(Protocol):
    """What :class:`BatchLoader` needs: ``len(ds)`` and ``ds[i] -> (image, label)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: SupportsIndex, /) -> tuple[NDArray[Any], int]: ...


@dataclass(frozen=True)
class Batch:
    """A batch: stacked images, their class indices and their dataset indices.

    Attributes:
        images: ``(N, ...)`` array stacked from the dataset items (dtype of the items).
        labels: ``(N,)`` int64 class indices.
        indices: ``(N,)`` int64 positions of the items in the dataset.
    """

    images: NDArray[Any]
    labels: NDArray[np.int64]
    indices: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class _InSlot:
    """A batch whose images a worker left in a shared memory slot."""

    slot: int
    shape: tuple[int, ...]
    dtype: str
    labels: NDArray[np.int64]
    indices: NDArray[np.int64]


_Failure = tuple[str, str]
_Result = tuple[Batch | None, list[_Failure]]
_WorkerResult = tuple[Batch | _InSlot | None, list[_Failure]]
_Allocate = Callable[[tuple[int, ...], np.dtype[Any]], NDArray[Any] | None]

SLOT_BYTES = 64 * 2**20
"""Size of one shared memory slot (pages are only used as far as a batch fills them)."""


class BatchLoader:
    """Iterate over a dataset in batches, decoding in parallel and skipping corrupt photos.

    The order is fixed by ``seed`` and the epoch (:meth:`set_epoch`): the same seed and
    epoch give the same batches whatever ``num_workers`` is. Items whose decode raises
    :class:`~logobrand.errors.ImageDecodeError` are left out of their batch, recorded in
    :attr:`failures` and logged (once per loader and photo); a batch whose items all failed
    is not yielded. If the dataset's transform has a ``reseed(seed: int)`` method it is
    called before each batch with a seed derived from ``(seed, epoch, batch number)``, so
    random augmentations are reproducible too.

    Args:
        dataset: A dataset (``len`` and ``ds[i] -> (image, class index)``), e.g. a
            :class:`~logobrand.data.FileDataset`.
        batch_size: Items per batch (the last batch may be smaller).
        shuffle: Visit items in a random order that depends on ``seed`` and the epoch.
        seed: Seed of the shuffle.
        num_workers: Worker processes (threads where ``fork`` is unavailable); ``0`` decodes
            in the calling thread.
        drop_last: Leave out the last, incomplete batch.
        prefetch: Batches decoded ahead per worker (bounds memory use).

    Attributes:
        failures: ``(path, message)`` of every item skipped during the latest pass.
        epoch: The epoch set by :meth:`set_epoch`.

    Raises:
        InvalidArgumentError: An argument is out of range, or the items of a batch have
            different shapes (give the dataset a transform to a fixed size).

    Examples:
        >>> loader = BatchLoader(dataset.with_transform(to_224), 32, shuffle=True)  # doctest: +SKIP
        >>> for epoch in range(3):  # doctest: +SKIP
        ...     loader.set_epoch(epoch)
        ...     for batch in loader:
        ...         train_step(batch.images, batch.labels)
    """

    def __init__(
        self,
        dataset: IndexedDataset,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        num_workers: int = 2,
        drop_last: bool = False,
        prefetch: int = 2,
    ) -> None:
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("prefetch", prefetch, 1),
        ):
            check_int(name, value, low)
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.num_workers = num_workers
        self.drop_last = drop_last
        self.prefetch = prefetch
        self.epoch = 0
        self.failures: list[tuple[Path, str]] = []
        self._logged: set[str] = set()

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next pass uses (only matters with shuffle)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_indices(self) -> list[NDArray[np.int64]]:
        """The dataset indices of every batch of the next pass, before failures."""
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        return [
            order[i : i + self.batch_size]
            for i in range(0, len(self) * self.batch_size, self.batch_size)
        ]

    def __iter__(self) -> Iterator[Batch]:
        self.failures = []
        tasks = [
            (chunk, _batch_seed(self.seed, self.epoch, number))
            for number, chunk in enumerate(self.batch_indices())
        ]
        if self.num_workers == 0:
            for chunk, batch_seed in tasks:
                batch = self._receive(_load_batch(self.dataset, chunk, batch_seed))
                if batch is not None:
                    yield batch
            return
        slots = self.num_workers * self.prefetch
        arena = _make_arena(slots) if _can_fork() else None
        executor = self._executor(arena)
        pending: deque[Future[_WorkerResult]] = deque()
        queue = iter(enumerate(tasks))
        try:
            for number, (chunk, batch_seed) in queue:
                pending.append(self._submit(executor, chunk, batch_seed, number % slots))
                if len(pending) >= slots:
                    break
            while pending:
                try:
                    loaded, failures = pending.popleft().result()
                except BrokenProcessPool as exc:
                    raise BrokenProcessPool(
                        "a BatchLoader worker process died (out of memory, or killed); "
                        "use a smaller batch_size or num_workers=0 to see the error"
                    ) from exc
                if isinstance(loaded, _InSlot):
                    assert arena is not None
                    loaded = _copy_from_slot(arena, loaded)
                for number, (chunk, batch_seed) in queue:
                    pending.append(self._submit(executor, chunk, batch_seed, number % slots))
                    break
                batch = self._receive((loaded, failures))
                if batch is not None:
                    yield batch
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            if arena is not None:
                with contextlib.suppress(BufferError):  # a view still alive: GC frees it
                    arena.close()

    def _executor(self, arena: mmap.mmap | None) -> Executor:
        if _can_fork():
            return ProcessPoolExecutor(
                self.num_workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_init_worker,
                initargs=(self.dataset, arena),
            )
        return ThreadPoolExecutor(self.num_workers, thread_name_prefix="logobrand-loader")

    def _submit(
        self, executor: Executor, chunk: NDArray[np.int64], batch_seed: int, slot: int
    ) -> Future[_WorkerResult]:
        if isinstance(executor, ProcessPoolExecutor):
            return executor.submit(_load_batch_in_worker, chunk, batch_seed, slot)
        dataset = self.dataset
        transform = getattr(dataset, "transform", None)
        with_transform = getattr(dataset, "with_transform", None)
        if callable(getattr(transform, "reseed", None)) and callable(with_transform):
            dataset = with_transform(copy.deepcopy(transform))  # threads must not share it
        return executor.submit(partial(_load_batch, dataset, chunk, batch_seed))

    def _receive(self, result: _Result) -> Batch | None:
        batch, failures = result
        for path, message in failures:
            self.failures.append((Path(path), message))
            if path not in self._logged:
                self._logged.add(path)
                logger.warning("skipping an image that cannot be decoded: %s", message)
        return batch


def _batch_seed(seed: int, epoch: int, number: int) -> int:
    entropy = [seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF, number]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _describe_item(dataset: IndexedDataset, index: int) -> str:
    samples = getattr(dataset, "samples", None)
    if isinstance(samples, Sequence) and 0 <= index < len(samples):
        path = getattr(samples[index], "path", None)
        if path is not None:
            return str(path)
    return f"<item {index}>"


def _load_batch(
    dataset: IndexedDataset,
    chunk: NDArray[np.int64],
    batch_seed: int,
    allocate: _Allocate | None = None,
) -> _Result:
    """Decode the items of one batch; decode failures are returned, not raised.

    ``allocate(shape, dtype)`` may return the array to stack the images into.
    """
    reseed = getattr(getattr(dataset, "transform", None), "reseed", None)
    if callable(reseed):
        reseed(batch_seed)
    images: list[NDArray[Any]] = []
    labels: list[int] = []
    indices: list[int] = []
    failures: list[_Failure] = []
    for index in chunk.tolist():
        try:
            image, label = dataset[index]
        except ImageDecodeError as exc:
            failures.append((_describe_item(dataset, index), str(exc)))
            continue
        image = np.asarray(image)
        if images and image.shape != images[0].shape:
            raise InvalidArgumentError(
                "BatchLoader cannot stack images of different shapes: "
                f"{images[0].shape} ({_describe_item(dataset, indices[0])}) and {image.shape} "
                f"({_describe_item(dataset, index)}); give the dataset a transform that "
                "resizes every image to one size, e.g. dataset.with_transform(...)"
            )
        images.append(image)
        labels.append(int(label))
        indices.append(index)
    if not images:
        return None, failures
    dtype = np.result_type(*images)
    out = allocate((len(images), *images[0].shape), dtype) if allocate else None
    batch = Batch(
        np.stack(images, out=out) if out is not None else np.stack(images),
        np.asarray(labels, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
    )
    return batch, failures


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _make_arena(slots: int) -> mmap.mmap | None:
    """Anonymous shared memory for ``slots`` batches, inherited by forked workers."""
    try:
        return mmap.mmap(-1, slots * SLOT_BYTES)
    except (OSError, ValueError, OverflowError):
        return None


def _slot_view(
    arena: mmap.mmap, slot: int, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> NDArray[Any] | None:
    if dtype.hasobject or int(np.prod(shape)) * dtype.itemsize > SLOT_BYTES:
        return None
    return np.ndarray(shape, dtype, buffer=arena, offset=slot * SLOT_BYTES)


def _copy_from_slot(arena: mmap.mmap, shared: _InSlot) -> Batch:
    view = _slot_view(arena, shared.slot, shared.shape, np.dtype(shared.dtype))
    assert view is not None
    return Batch(view.copy(), shared.labels, shared.indices)


_WORKER_DATASET: IndexedDataset | None = None
_WORKER_ARENA: mmap.mmap | None = None


def _init_worker(dataset: IndexedDataset, arena: mmap.mmap | None) -> None:
    global _WORKER_DATASET, _WORKER_ARENA
    _WORKER_DATASET = dataset
    _WORKER_ARENA = arena
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Do not call cv2.setNumThreads here: after a fork it can wait forever on the parent's
    # thread pool (seen with OpenCV 5, pthreads backend).


def _load_batch_in_worker(chunk: NDArray[np.int64], batch_seed: int, slot: int) -> _WorkerResult:
    if _WORKER_DATASET is None:
        raise RuntimeError("BatchLoader worker was not initialised with a dataset")
    arena = _WORKER_ARENA
    used: list[NDArray[Any]] = []

    def allocate(shape: tuple[int, ...], dtype: np.dtype[Any]) -> NDArray[Any] | None:
        view = None if arena is None else _slot_view(arena, slot, shape, dtype)
        used.extend([] if view is None else [view])
        return view

    batch, failures = _load_batch(_WORKER_DATASET, chunk, batch_seed, allocate)
    if batch is None or not used:
        return batch, failures
    shape, dtype = batch.images.shape, batch.images.dtype.str
    return _InSlot(slot, shape, dtype, batch.labels, batch.indices), failures
