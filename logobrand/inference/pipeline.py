"""Streaming batched inference: parallel decoding overlapped with model runs, in input order.

How it works: the input iterable is consumed lazily, one batch at a time. Each item of a batch
is decoded and preprocessed by a thread pool (Pillow and OpenCV release the GIL, so threads
run in parallel). While the calling thread runs the model on batch *k* (ONNX Runtime also
releases the GIL), the pool is already decoding batches *k+1* .. *k+prefetch*. At most
``prefetch + 1`` batches are in memory at any time, so an iterator of millions of paths is
fine. Results come out strictly in input order; an item that fails to decode yields a
:class:`~logobrand.inference.prediction.Failure` at its position and the others go on.

:func:`iter_image_files` lists the photos of a folder lazily (one directory's names at a
time), so ``LogoClassifier.predict_batch(iter_image_files(folder), progress=True)`` is the
whole of ``logobrand predict DIR`` with bounded memory.

Example:
    >>> import numpy as np
    >>> runner = lambda batch: batch.reshape(len(batch), -1)[:, :2]
    >>> decode = lambda x: np.full((1, 1, 2), float(x), np.float32)
    >>> make = lambda src, row: float(row[0])
    >>> list(run_pipeline(runner, [1, 2, 3], decode, 2, 1, make_result=make))
    [1.0, 2.0, 3.0]
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from logobrand.errors import InvalidArgumentError, check_int
from logobrand.images import describe_source
from logobrand.inference.prediction import Failure

S = TypeVar("S")
R = TypeVar("R")
D = TypeVar("D")
T = TypeVar("T")


IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".mpo",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
    }
)
"""File name endings (lower case) that :func:`iter_image_files` treats as photos."""


def iter_image_files(
    root: str | os.PathLike[str],
    *,
    recursive: bool = True,
    suffixes: Iterable[str] = IMAGE_SUFFIXES,
    on_skip: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield the image files under ``root`` lazily, in a stable sorted order.

    Each directory is listed once and sorted by name; its files come first, then its
    sub-directories (depth first). Only the names of the directories on the current path are
    held in memory (about 100 bytes per entry), so the walk itself stays small however many
    files there are. Symbolic links to files are followed; links to directories are not
    (no cycles). Hidden entries (names starting with ``"."``) are skipped.

    Args:
        root: A folder, or a single image file (yielded as is).
        recursive: Descend into sub-directories.
        suffixes: File name endings to keep (compared in lower case).
        on_skip: Called with every file that is skipped because of its suffix, so that a caller
            can count and report them (nothing is dropped silently).

    Yields:
        Paths of image files (``root / name``).

    Raises:
        InvalidArgumentError: ``root`` does not exist, or a folder cannot be listed.

    Example:
        >>> # for path in iter_image_files("photos"): ...
        >>> # clf.predict_batch(iter_image_files("photos"), progress=True)
    """
    if not os.fspath(root):
        raise InvalidArgumentError(
            "an empty path was given (an unset variable?); pass a folder of photos or one image"
        )
    top = Path(root)
    keep = frozenset(s.lower() for s in suffixes)
    if top.is_file():
        yield top
        return
    if not top.is_dir():
        raise InvalidArgumentError(
            f"{top} does not exist or is not a folder; pass a folder of photos or one image"
        )
    stack: list[Path] = [top]
    while stack:
        folder = stack.pop()
        files, dirs = _list_dir(folder)
        for name in files:
            path = folder / name
            if os.path.splitext(name)[1].lower() in keep:
                yield path
            elif on_skip is not None:
                on_skip(path)
        if recursive:
            stack.extend(folder / name for name in reversed(dirs))


def _list_dir(folder: Path) -> tuple[list[str], list[str]]:
    """Sorted (file names, sub-directory names) of ``folder``, hidden entries left out."""
    files: list[str] = []
    dirs: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.name)
                else:
                    files.append(entry.name)
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot list folder {folder}: {exc.strerror or exc}; check that it exists and is "
            "readable"
        ) from exc
    files.sort()
    dirs.sort()
    return files, dirs


def run_pipeline(
    session_runner: Callable[[np.ndarray], np.ndarray],
    sources: Iterable[S],
    decode_fn: Callable[[S], np.ndarray],
    batch_size: int,
    workers: int,
    *,
    make_result: Callable[[str, np.ndarray], R],
    describe: Callable[[Any], str] = describe_source,
    prefetch: int = 2,
    progress: bool = False,
    total: int | None = None,
    desc: str = "predict",
) -> Generator[R | Failure, None, None]:
    """Decode, batch and run ``sources`` through a model; yield one result per input, in order.

    :func:`run_stream` for array inputs: the decoded arrays of a batch are stacked into one
    ``(N, ...)`` float32 array for ``session_runner``.

    Args:
        session_runner: Maps a stacked ``(N, ...)`` float32 batch to ``(N, C)`` outputs.
        sources: Any iterable (a list, a generator, a file of paths); consumed lazily.
        decode_fn: Turns one source into one model input array (decode + preprocess).
        batch_size: Inputs per model run.
        workers: Decoding threads.
        make_result: Builds the result of a successful item from its description and its
            output row.
        describe: Short description of a source for results and failures.
        prefetch: Batches decoded ahead of the one being run.
        progress: Show a ``tqdm`` progress bar (on stderr).
        total: Number of inputs, for the progress bar.
        desc: Progress bar label.

    Yields:
        As :func:`run_stream`.
    """
    return run_stream(
        lambda items: list(session_runner(np.stack(items))),
        sources,
        decode_fn,
        batch_size,
        workers,
        make_result=make_result,
        describe=describe,
        prefetch=prefetch,
        progress=progress,
        total=total,
        desc=desc,
    )


def run_stream(
    run_batch: Callable[[list[D]], Sequence[T]],
    sources: Iterable[S],
    decode_fn: Callable[[S], D],
    batch_size: int,
    workers: int,
    *,
    make_result: Callable[[str, T], R],
    describe: Callable[[Any], str] = describe_source,
    prefetch: int = 2,
    progress: bool = False,
    total: int | None = None,
    desc: str = "predict",
) -> Generator[R | Failure, None, None]:
    """Decode, batch and run ``sources`` through a model; yield one result per input, in order.

    Args:
        run_batch: Maps the decoded items of a batch (a list) to one output per item.
        sources: Any iterable (a list, a generator, a file of paths); consumed lazily.
        decode_fn: Turns one source into one decoded item (e.g. decode + preprocess). Runs in
            worker threads. Any exception it raises becomes a :class:`Failure` for that item
            (the error type and message are kept, so nothing is dropped silently).
        batch_size: Inputs per model run.
        workers: Decoding threads.
        make_result: Builds the result of a successful item from its description and its
            output row.
        describe: Short description of a source for results and failures.
        prefetch: Batches decoded ahead of the one being run (memory bound:
            ``(prefetch + 1) * batch_size`` decoded inputs).
        progress: Show a ``tqdm`` progress bar (on stderr).
        total: Number of inputs, for the progress bar; defaults to ``len(sources)`` when
            ``sources`` has a length.
        desc: Progress bar label.

    Yields:
        ``make_result(...)`` for each decoded input, or a :class:`Failure`, in input order.
        Closing the generator early (``close()``, or dropping it) stops the decoding threads.

    Raises:
        InvalidArgumentError: ``batch_size``, ``workers`` or ``prefetch`` is < 1 (raised at
            the first ``next()``).
        Exception: Whatever ``run_batch`` raises (a model error is not a per-item
            problem, so it stops the run).
    """
    batch_size = check_int("batch_size", batch_size, 1)
    workers = check_int("workers", workers, 1)
    prefetch = check_int("prefetch", prefetch, 1)
    if total is None and hasattr(sources, "__len__"):
        total = len(sources)  # type: ignore[arg-type]

    from tqdm.auto import tqdm

    iterator = iter(sources)
    pending: deque[list[tuple[str, Future[D] | BaseException]]] = deque()
    bar = tqdm(total=total, disable=not progress, unit="img", desc=desc)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="logobrand-decode")

    def submit_next() -> bool:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            return False
        jobs: list[tuple[str, Future[D] | BaseException]] = []
        for src in chunk:
            try:
                name = describe(src)
            except Exception as exc:  # a describe() bug must not hide the item
                name = f"<{type(src).__name__}>"
                jobs.append((name, exc))
                continue
            jobs.append((name, pool.submit(decode_fn, src)))
        pending.append(jobs)
        return True

    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) <= prefetch:
                exhausted = not submit_next()
            if not pending:
                break
            jobs = pending.popleft()
            items: list[D] = []
            slots: list[int] = []
            results: list[R | Failure | None] = [None] * len(jobs)
            for position, (name, job) in enumerate(jobs):
                if isinstance(job, BaseException):
                    results[position] = Failure.from_exception(name, job)
                    continue
                try:
                    items.append(job.result())
                    slots.append(position)
                # Per-item isolation boundary: any decode error is reported as a Failure.
                except Exception as exc:
                    results[position] = Failure.from_exception(name, exc)
            if items:
                outputs = run_batch(items)
                if len(outputs) != len(slots):
                    raise RuntimeError(
                        f"the model returned {len(outputs)} rows for a batch of {len(slots)}"
                    )
                for row, position in zip(outputs, slots, strict=True):
                    results[position] = make_result(jobs[position][0], row)
            bar.update(len(jobs))
            for result in results:
                assert result is not None
                yield result
    finally:
        for jobs in pending:
            for _, job in jobs:
                if isinstance(job, Future):
                    job.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


__all__ = ["IMAGE_SUFFIXES", "iter_image_files", "run_pipeline", "run_stream"]
