"""The rules both scale-out integrations share (see :mod:`logobrand.integrations`): the
per-process model cache, model resolution, decoding and the result columns."""

from __future__ import annotations

import math
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from logobrand.errors import ImageDecodeError, InvalidArgumentError, ModelFormatError, check_int
from logobrand.images import ImageInput, describe_source
from logobrand.images_fetch import SERVER_POLICY, FetchPolicy, fetch_url
from logobrand.inference.classifier import BUNDLED_MODELS, DEFAULT_BATCH_SIZE, LogoClassifier
from logobrand.inference.config import CONFIG_NAME
from logobrand.inference.onnx import MAX_THREADS
from logobrand.inference.prediction import Failure, Prediction

T = TypeVar("T")
D = TypeVar("D")

PREDICTION_COLUMNS: tuple[str, ...] = ("brand", "score", "top_k", "error", "error_type")
"""The columns both integrations add, in order:

* ``brand`` (string, null when no brand reaches the threshold, or on error),
* ``score`` (double: the calibrated probability of the brand the model ranks first, as in
  :attr:`~logobrand.inference.Prediction.score`; null on error),
* ``top_k`` (array of ``struct<label: string, score: double>``, most probable first,
  ``"no-logo"`` included; null on error),
* ``error`` (string: what went wrong with this row, naming the input; null when it worked),
* ``error_type`` (string: the exception class, e.g. ``"ImageDecodeError"``; null when it
  worked).
"""

DEFAULT_MODEL_NAMES: tuple[str, ...] = ("default",)
"""Model names that mean the bundled default model (as does ``None``)."""

# "scheme://" with a scheme of two or more characters: the rule logobrand.images uses to send
# a string to the URL fetcher (so "C://x" stays a Windows path).
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


@dataclass(frozen=True)
class PredictSettings:
    """Everything a worker needs to run predictions; small and picklable (no model inside).

    Attributes:
        input_col: The column holding paths, URLs or encoded image bytes.
        model: A model directory path (as a string) or ``None`` for the bundled model.
        top_k: Number of ``(label, score)`` pairs per row in ``top_k``.
        batch_size: Images per ONNX Runtime run.
        threads: ONNX Runtime threads per worker; ``None`` lets the engine decide from the
            cores given to the task or actor.
        workers: Decoding threads per worker; ``None`` means ``max(1, threads - 1)``, as
            :func:`~logobrand.inference.classifier.default_workers` does for one machine.
        keep_cols: Input columns copied to the output, in order.
        fetch_policy: How URL inputs are fetched.
    """

    input_col: str
    model: str | None = None
    top_k: int = 5
    batch_size: int = DEFAULT_BATCH_SIZE
    threads: int | None = None
    workers: int | None = None
    keep_cols: tuple[str, ...] = ()
    fetch_policy: FetchPolicy = SERVER_POLICY

    def __post_init__(self) -> None:
        if not isinstance(self.input_col, str) or not self.input_col:
            raise InvalidArgumentError(f"input_col must be a column name, got {self.input_col!r}")
        if self.model is not None and not isinstance(self.model, str):
            raise InvalidArgumentError(f"model must be a path string or None, got {self.model!r}")
        check_int("top_k", self.top_k, 0)
        check_int("batch_size", self.batch_size, 1)
        for name in ("threads", "workers"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, 1)
                if value > MAX_THREADS:
                    raise InvalidArgumentError(f"{name} must be at most {MAX_THREADS}, got {value}")
        if not isinstance(self.fetch_policy, FetchPolicy):
            raise InvalidArgumentError(
                "fetch_policy must be a logobrand.images_fetch.FetchPolicy, got "
                f"{type(self.fetch_policy).__name__}"
            )
        object.__setattr__(self, "keep_cols", tuple(self.keep_cols))
        clash = sorted(set(self.keep_cols) & set(PREDICTION_COLUMNS))
        if clash:
            raise InvalidArgumentError(
                f"the input already has column(s) {clash}, which the predictions would "
                f"overwrite ({', '.join(PREDICTION_COLUMNS)}); rename them or leave them out "
                "with keep_cols=[...]"
            )
        if len(set(self.keep_cols)) != len(self.keep_cols):
            twice = sorted({c for c in self.keep_cols if self.keep_cols.count(c) > 1})
            raise InvalidArgumentError(
                f"column(s) {twice} appear twice among the columns to keep (a join can do that): "
                "rename them, or pass keep_cols=[...] without duplicates"
            )

    def decode_workers(self, threads: int) -> int:
        """Decoding threads for a worker whose model runs on ``threads`` threads."""
        return self.workers if self.workers is not None else max(1, threads - 1)


def model_argument(model: str | os.PathLike[str] | None) -> str | None:
    """Normalise a ``model`` argument to what travels to the workers (a string or ``None``).

    Raises:
        InvalidArgumentError: ``model`` is neither a path nor ``None``.
    """
    if model is None:
        return None
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        text = os.fsdecode(text) if isinstance(text, bytes) else text
        return None if text in DEFAULT_MODEL_NAMES else text  # "fast" etc. travel as names
    raise InvalidArgumentError(
        f"model must be a model directory path or None (the bundled model), got "
        f"{type(model).__name__}"
    )


def check_model_on_driver(model: str | None) -> None:
    """Fail early, on the driver, for a model that certainly cannot load anywhere.

    The bundled model must exist; a model directory that exists here must have a valid
    ``config.json``. A path that does not exist here is left to the workers (it may be on
    their filesystem, or shipped with ``SparkContext.addFile``).

    Raises:
        ModelFormatError: The bundled model is missing, or the directory's config is invalid.
    """
    from logobrand.inference.config import ModelConfig

    if model is None or model in BUNDLED_MODELS:
        bundled = BUNDLED_MODELS[model or "default"]
        if not (bundled / CONFIG_NAME).is_file():
            raise ModelFormatError(
                f"the bundled model {model or 'default'!r} does not ship with this install of "
                "logobrand; pass model= the path of a model directory (see docs/scaling.rst "
                "for shipping it to workers)"
            )
        return
    path = Path(model)
    if path.is_file():
        raise ModelFormatError(
            f"model {model} is a file; pass the model directory that holds config.json"
        )
    if path.is_dir():
        ModelConfig.load(_model_root(path))


def _model_root(path: Path) -> Path:
    """``path``, or its only sub-directory holding a config (an unpacked archive of a folder)."""
    if (path / CONFIG_NAME).is_file():
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and (p / CONFIG_NAME).is_file()]
    return subdirs[0] if len(subdirs) == 1 else path


def resolve_model_dir(
    model: str | None, *, search: Callable[[str], str | None] | None = None
) -> Path:
    """Find the model directory on this worker.

    Args:
        model: A path, or ``None`` for the bundled model.
        search: Optional extra lookup for names that are not a directory here, e.g.
            ``pyspark.SparkFiles.get`` for a model shipped with ``addFile``/``addArchive``.

    Returns:
        The directory holding ``config.json``. An unpacked archive whose only content is the
        model folder is accepted too (its sub-directory is returned).

    Raises:
        ModelFormatError: Nothing usable is found; the message says how to ship the model.
    """
    if model is None or model in BUNDLED_MODELS:
        return BUNDLED_MODELS[model or "default"]
    path = Path(model)
    if path.is_dir():
        return _model_root(path)
    tried = [str(path)]
    if search is not None and not path.is_absolute():
        found = search(model)
        if found is not None:
            candidate = Path(found)
            if candidate.is_dir():
                return _model_root(candidate)
            tried.append(str(candidate))
    raise ModelFormatError(
        f"model directory {model} is not available on this worker (pid {os.getpid()}, looked "
        f"at {', '.join(tried)}); put it on a filesystem every worker mounts, or ship it "
        "with SparkContext.addFile(dir, recursive=True) / addArchive / --archives and pass "
        "its name (see docs/scaling.rst)"
    )


@dataclass(frozen=True)
class LoadRecord:
    """One model load by :func:`get_classifier` in this process.

    Attributes:
        model: The model directory.
        threads: ONNX Runtime threads of the session.
        seconds: Wall time of ``LogoClassifier.from_pretrained``.
        pid: The process that loaded it.
    """

    model: str
    threads: int
    seconds: float
    pid: int


_CACHE: dict[tuple[str, int], LogoClassifier] = {}
_LOADS: list[LoadRecord] = []
_CACHE_LOCK = threading.Lock()


def get_classifier(directory: Path, *, threads: int) -> LogoClassifier:
    """Return this process's classifier for ``directory``, loading it on first use.

    The cache lives as long as the process: a Spark Python worker serving many tasks, or a
    Ray actor serving many batches, loads each model once. Thread-safe.

    Args:
        directory: The model directory (see :func:`resolve_model_dir`).
        threads: ONNX Runtime intra-op threads.

    Returns:
        The shared :class:`~logobrand.inference.LogoClassifier`.

    Raises:
        ModelFormatError: The directory is not a loadable model.
    """
    key = (str(directory.resolve()), threads)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        classifier = LogoClassifier.from_pretrained(directory, threads=threads)
        seconds = time.perf_counter() - started
        _CACHE[key] = classifier
        _LOADS.append(LoadRecord(key[0], threads, seconds, os.getpid()))
        return classifier


def load_records() -> list[LoadRecord]:
    """The model loads this process has done (for start-up cost measurements)."""
    with _CACHE_LOCK:
        return list(_LOADS)


def clear_cache() -> None:
    """Forget the cached classifiers of this process (the next use loads them again)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _LOADS.clear()


def _is_missing(value: object) -> bool:
    """True for ``None``, NaN and ``pandas.NA`` (how pandas shows a null cell)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def describe_input(value: object) -> str:
    """Short name of one cell for results and messages (``"<null>"`` for a missing one)."""
    if _is_missing(value):
        return "<null>"
    if isinstance(value, np.bytes_):
        value = bytes(value)
    return describe_source(value)


def file_uri_to_path(text: str) -> str | None:
    """Turn a ``file:`` URI (``file:/a/b.jpg``, ``file:///a/b.jpg``) into a local path.

    Returns:
        The path, or ``None`` when ``text`` is not a ``file:`` URI.

    Example:
        >>> file_uri_to_path("file:/data/a%20b.jpg")
        '/data/a b.jpg'
        >>> file_uri_to_path("photos/a.jpg") is None
        True
    """
    if not text.lower().startswith("file:"):
        return None
    parsed = urllib.parse.urlparse(text)
    if parsed.netloc not in ("", "localhost"):
        return None
    return urllib.request.url2pathname(parsed.path)


def make_decoder(classifier: LogoClassifier, policy: FetchPolicy) -> Callable[[object], np.ndarray]:
    """Build the function that turns one cell into a model input (runs in decode threads).

    Cells may be encoded image bytes, a local path, a ``file:`` URI or an ``http(s)`` URL
    (fetched with ``policy``). Anything else, and null cells, raise
    :class:`~logobrand.errors.InvalidArgumentError`, which becomes that row's error.
    """
    return cell_decoder(classifier.preprocess, policy)


def cell_decoder(
    decode_image: Callable[[ImageInput], D], policy: FetchPolicy
) -> Callable[[object], D]:
    """Build the function that turns one cell into ``decode_image``'s record (see
    :func:`make_decoder` for the cells accepted)."""

    def decode(value: object) -> D:
        if _is_missing(value):
            raise InvalidArgumentError(
                "the input cell is null: there is no image to read for this row"
            )
        if isinstance(value, (bytes, bytearray, memoryview, np.bytes_)):
            return decode_image(bytes(value))
        if isinstance(value, (str, os.PathLike)):
            text = os.fspath(value)
            text = os.fsdecode(text) if isinstance(text, bytes) else text
            local = file_uri_to_path(text)
            if local is not None:
                return decode_image(local)
            if _URL_RE.match(text):
                data = fetch_url(text, policy=policy)
                try:
                    return decode_image(data)
                except ImageDecodeError as exc:
                    raise type(exc)(f"{text}: {exc}") from exc
            return decode_image(text)
        raise InvalidArgumentError(
            f"unsupported input {describe_input(value)}: the column must hold paths, "
            "http(s) URLs or encoded image bytes"
        )

    return decode


def predict_values(
    values: Iterable[object],
    classifier: LogoClassifier,
    settings: PredictSettings,
    *,
    threads: int,
) -> Iterator[Prediction | Failure]:
    """Predict one result per cell, in order (a ``predict_batch`` that knows table cells).

    Args:
        values: Cells of the input column; consumed lazily.
        classifier: The model.
        settings: ``top_k``, ``batch_size``, ``workers`` and ``fetch_policy`` are used.
        threads: The model's thread count (sets the default number of decoding threads).

    Returns:
        An iterator of :class:`~logobrand.inference.Prediction` or
        :class:`~logobrand.inference.Failure`, one per cell, in order.
    """
    stream = classifier.prediction_stream(top_k=settings.top_k)  # as predict_batch decides
    return stream.predict_many(
        values,
        batch_size=settings.batch_size,
        workers=settings.decode_workers(threads),
        decode=cell_decoder(stream.decode, settings.fetch_policy),
        describe=describe_input,
    )


def predict_chunks(
    chunks: Iterable[T],
    cells: Callable[[T], Sequence[object]],
    classifier: LogoClassifier,
    settings: PredictSettings,
    *,
    threads: int,
) -> Iterator[tuple[T, list[Prediction | Failure]]]:
    """Predict the cells of a stream of chunks (Arrow/pandas batches) as one pipeline.

    Decoding runs ahead across chunk boundaries, so small chunks do not stall the model;
    each chunk comes back with its results as soon as they are all done, in order. Memory
    stays bounded: only the chunks whose cells are being decoded are held.

    Args:
        chunks: The input batches.
        cells: Gives the input-column cells of one chunk.
        classifier: The model.
        settings: See :func:`predict_values`.
        threads: See :func:`predict_values`.

    Yields:
        ``(chunk, results)`` with one result per cell of the chunk.
    """
    pending: deque[tuple[T, int]] = deque()

    def values() -> Iterator[object]:
        for chunk in chunks:
            items = cells(chunk)
            pending.append((chunk, len(items)))
            yield from items

    done: list[Prediction | Failure] = []
    for result in predict_values(values(), classifier, settings, threads=threads):
        done.append(result)
        while pending and len(done) >= pending[0][1]:
            chunk, size = pending.popleft()
            yield chunk, done[:size]
            done = done[size:]
    while pending:  # chunks with no rows at the end of the stream
        chunk, size = pending.popleft()
        yield chunk, done[:size]
        done = done[size:]


def result_columns(results: Sequence[Prediction | Failure]) -> dict[str, list[Any]]:
    """Turn results into the :data:`PREDICTION_COLUMNS` as plain Python lists (nulls = None).

    Example:
        >>> from logobrand.inference import Failure
        >>> result_columns([Failure("x.jpg", "x.jpg is empty", "ImageDecodeError")])["error"]
        ['x.jpg is empty']
    """
    columns: dict[str, list[Any]] = {name: [] for name in PREDICTION_COLUMNS}
    for result in results:
        if isinstance(result, Prediction):
            columns["brand"].append(result.brand)
            columns["score"].append(float(result.score))
            columns["top_k"].append(
                [{"label": label, "score": float(score)} for label, score in result.top_k]
            )
            columns["error"].append(None)
            columns["error_type"].append(None)
        else:
            columns["brand"].append(None)
            columns["score"].append(None)
            columns["top_k"].append(None)
            columns["error"].append(result.error)
            columns["error_type"].append(result.error_type)
    return columns
