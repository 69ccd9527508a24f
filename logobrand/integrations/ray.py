"""Ray Data integration: brand predictions with an actor pool (extra ``ray``).

:class:`LogoPredictor` is a callable class for ``Dataset.map_batches``: each actor loads the
model once, in its constructor, and reuses it for every batch it is given.
:func:`predict_dataset` wires it up with a fixed-size actor pool.

The input column holds paths, ``file:`` URIs or ``http(s)`` URLs (strings), or encoded
images (bytes, as ``ray.data.read_binary_files`` gives in its ``bytes`` column). The output
has the same prediction columns as the Spark integration
(:data:`~logobrand.integrations.PREDICTION_COLUMNS`), with one fixed Arrow schema for every
batch; a photo that cannot be read gives a row with ``error`` set and never fails the actor.

Example:
    >>> # import ray
    >>> # from logobrand.integrations.ray import predict_dataset
    >>> # ds = ray.data.read_binary_files("photos/", include_paths=True)
    >>> # predict_dataset(ds, "bytes", model="my-model", actors=4).write_parquet("out/")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logobrand.errors import InvalidArgumentError, ModelFormatError, check_int, missing_extra
from logobrand.images_fetch import SERVER_POLICY, FetchPolicy
from logobrand.inference.classifier import BUNDLED_MODELS, DEFAULT_BATCH_SIZE
from logobrand.inference.onnx import usable_cpu_count
from logobrand.integrations.core import (
    PREDICTION_COLUMNS,
    PredictSettings,
    check_model_on_driver,
    get_classifier,
    model_argument,
    predict_chunks,
    resolve_model_dir,
    result_columns,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from ray.data import Dataset

logger = logging.getLogger(__name__)

DEFAULT_RAY_BATCH_SIZE = 128
"""Rows per ``map_batches`` call in :func:`predict_dataset` (each call runs ONNX Runtime on
``batch_size`` rows at a time, decoding ahead)."""


def _import_pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise missing_extra("pyarrow", "ray") from exc
    return pyarrow


def prediction_arrow_schema() -> pa.Schema:
    """The Arrow schema of the prediction columns.

    Returns:
        ``brand: string, score: double, top_k: list<struct<label: string, score: double>>,
        error: string, error_type: string``.

    Raises:
        MissingExtraError: pyarrow is not installed.
    """
    arrow = _import_pyarrow()
    entry = arrow.struct(
        [
            arrow.field("label", arrow.string(), nullable=False),
            arrow.field("score", arrow.float64(), nullable=False),
        ]
    )
    schema: pa.Schema = arrow.schema(
        [
            arrow.field("brand", arrow.string()),
            arrow.field("score", arrow.float64()),
            arrow.field("top_k", arrow.list_(arrow.field("item", entry, nullable=False))),
            arrow.field("error", arrow.string()),
            arrow.field("error_type", arrow.string()),
        ]
    )
    return schema


def actor_threads() -> int:
    """The CPUs Ray assigned to the calling actor or task (at least 1).

    Outside Ray (or when Ray reports no CPU), the usable cores of this process.
    """
    try:
        import ray
    except ImportError:
        return usable_cpu_count()
    if not ray.is_initialized():
        return usable_cpu_count()
    try:
        context: Any = ray.get_runtime_context()
        assigned: dict[str, float] = context.get_assigned_resources()
    except (RuntimeError, AttributeError):
        return usable_cpu_count()
    cpus = float(assigned.get("CPU", 0.0))
    return max(1, round(cpus)) if cpus > 0 else usable_cpu_count()


class LogoPredictor:
    """Callable class for ``Dataset.map_batches``: loads the model once per actor.

    Args:
        input_col: The column with paths/URLs (strings) or encoded images (bytes).
        model: A model directory reachable from every node (a shared filesystem path, or one
            shipped with ``runtime_env={"working_dir": ...}``), or ``None`` for the bundled
            model.
        keep_cols: Input columns copied to the output. Default: every column except a bytes
            ``input_col``.
        top_k: Number of ``(label, score)`` entries in ``top_k``.
        batch_size: Images per ONNX Runtime run inside one ``map_batches`` call.
        threads: ONNX Runtime threads. Default: the actor's CPUs (``num_cpus`` of
            ``map_batches``).
        workers: Decoding threads. Default: ``max(1, threads - 1)``.
        fetch_policy: How URLs are fetched (default: private addresses refused).

    Raises:
        InvalidArgumentError: An argument is out of range.
        ModelFormatError: The model cannot be found or loaded on this actor.

    Example:
        >>> # ds.map_batches(LogoPredictor, fn_constructor_kwargs={"input_col": "path"},
        >>> #                batch_format="pandas", compute=ActorPoolStrategy(size=2), num_cpus=1)
    """

    def __init__(
        self,
        input_col: str = "path",
        *,
        model: str | os.PathLike[str] | None = None,
        keep_cols: Sequence[str] | None = None,
        top_k: int = 5,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        workers: int | None = None,
        fetch_policy: FetchPolicy = SERVER_POLICY,
    ) -> None:
        """Validate the settings and load the model (once per actor)."""
        if isinstance(keep_cols, str):
            raise InvalidArgumentError("keep_cols must be a list of column names, not a string")
        self._keep: tuple[str, ...] | None = None if keep_cols is None else tuple(keep_cols)
        self._settings = PredictSettings(
            input_col=input_col,
            model=model_argument(model),
            top_k=top_k,
            batch_size=batch_size,
            threads=threads,
            workers=workers,
            keep_cols=self._keep or (),
            fetch_policy=fetch_policy,
        )
        self._threads = threads if threads is not None else actor_threads()
        directory = resolve_model_dir(self._settings.model)
        self._classifier = get_classifier(directory, threads=self._threads)
        self._pa = _import_pyarrow()
        self._schema = prediction_arrow_schema()

    @property
    def threads(self) -> int:
        """ONNX Runtime threads this actor's model runs on."""
        return self._threads

    def __call__(self, batch: Any) -> pa.Table:
        """Predict one batch.

        Args:
            batch: A ``pandas.DataFrame`` (``batch_format="pandas"``), a ``pyarrow.Table``
                (``"pyarrow"``) or a dict of 1-D numpy arrays (``"numpy"``/``"default"``).

        Returns:
            A ``pyarrow.Table``: the kept columns, then the prediction columns, one row per
            input row, in order.

        Raises:
            InvalidArgumentError: The input column is missing, the batch is of another kind,
                or a kept column would clash with a prediction column.
        """
        table = self._to_arrow(batch)
        column = self._settings.input_col
        if column not in table.column_names:
            raise InvalidArgumentError(
                f"the batch has no column {column!r} (columns: {table.column_names}); pass "
                "input_col= the column of paths, URLs or image bytes"
            )
        keep = self._keep_for(table)
        cells = table.column(column).to_pylist()
        results: list[Any] = []
        for _, chunk_results in predict_chunks(
            [cells], lambda c: c, self._classifier, self._settings, threads=self._threads
        ):
            results.extend(chunk_results)
        out = table.select(list(keep))
        for name, values in result_columns(results).items():
            field = self._schema.field(name)
            out = out.append_column(field, self._pa.array(values, type=field.type))
        return out

    def _keep_for(self, table: pa.Table) -> tuple[str, ...]:
        if self._keep is not None:
            unknown = [n for n in self._keep if n not in table.column_names]
            if unknown:
                raise InvalidArgumentError(
                    f"keep_cols names unknown column(s) {unknown}; the batch has "
                    f"{table.column_names}"
                )
            return self._keep
        column = self._settings.input_col
        kind = table.schema.field(column).type
        types = self._pa.types
        binary = (
            types.is_binary(kind)
            or types.is_large_binary(kind)
            or (hasattr(types, "is_binary_view") and types.is_binary_view(kind))
        )
        keep = tuple(n for n in table.column_names if not (binary and n == column))
        clash = sorted(set(keep) & set(PREDICTION_COLUMNS))
        if clash:
            raise InvalidArgumentError(
                f"the batch already has column(s) {clash}, which the predictions would "
                "overwrite; rename them or choose the columns to keep with keep_cols=[...]"
            )
        return keep

    def _to_arrow(self, batch: Any) -> pa.Table:
        arrow = self._pa
        if isinstance(batch, arrow.Table):
            return batch
        if isinstance(batch, Mapping):
            try:
                converted: pa.Table = arrow.table(
                    {str(k): arrow.array(v) for k, v in batch.items()}
                )
            except (arrow.ArrowInvalid, arrow.ArrowTypeError, ValueError, TypeError) as exc:
                raise InvalidArgumentError(
                    f"cannot turn the numpy batch into a table ({exc}); use "
                    'batch_format="pandas" or drop the column'
                ) from exc
            return converted
        try:
            import pandas as pd
        except ImportError as exc:
            raise missing_extra("pandas", "ray") from exc
        if isinstance(batch, pd.DataFrame):
            table: pa.Table = arrow.Table.from_pandas(batch, preserve_index=False)
            return table
        raise InvalidArgumentError(
            f"map_batches gave a {type(batch).__name__}; use batch_format='pandas', "
            "'pyarrow' or 'numpy'"
        )


def predict_dataset(
    ds: Dataset,
    input_col: str = "path",
    *,
    model: str | os.PathLike[str] | None = None,
    actors: int = 1,
    cpus_per_actor: int = 1,
    keep_cols: Sequence[str] | None = None,
    top_k: int = 5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rows_per_call: int = DEFAULT_RAY_BATCH_SIZE,
    workers: int | None = None,
    fetch_policy: FetchPolicy = SERVER_POLICY,
) -> Dataset:
    """Add brand predictions to a Ray Dataset with a fixed pool of :class:`LogoPredictor` actors.

    Args:
        ds: The input dataset.
        input_col: See :class:`LogoPredictor` (``"bytes"`` for ``read_binary_files``).
        model: See :class:`LogoPredictor`.
        actors: Number of actors (model copies) in the pool.
        cpus_per_actor: CPUs reserved by each actor; ONNX Runtime uses that many threads.
        keep_cols: See :class:`LogoPredictor`.
        top_k: See :class:`LogoPredictor`.
        batch_size: Images per ONNX Runtime run.
        rows_per_call: Rows per ``map_batches`` call.
        workers: Decoding threads per actor (default ``max(1, cpus_per_actor - 1)``).
        fetch_policy: See :class:`LogoPredictor`.

    Returns:
        The lazy dataset of predictions (``keep_cols`` + the prediction columns).

    Raises:
        MissingExtraError: ray is not installed.
        InvalidArgumentError: A number is out of range.
        ModelFormatError: No bundled model ships with this version and ``model`` is
            ``None``, or ``model`` is not a valid model directory on the driver.

    Example:
        >>> # predict_dataset(ray.data.from_items([{"path": "a.jpg"}]), "path",
        >>> #                 model="my-model", actors=2).take_all()
    """
    try:
        from ray.data import ActorPoolStrategy, Dataset
    except ImportError as exc:
        raise missing_extra("ray", "ray") from exc
    if not isinstance(ds, Dataset):
        raise InvalidArgumentError(
            f"ds must be a ray.data.Dataset, got {type(ds).__name__}; wrap rows with "
            "ray.data.from_items(...) first"
        )
    for name, value in (
        ("actors", actors),
        ("cpus_per_actor", cpus_per_actor),
        ("rows_per_call", rows_per_call),
    ):
        check_int(name, value, 1)
    model_path = model_argument(model)
    if isinstance(keep_cols, str):
        raise InvalidArgumentError("keep_cols must be a list of column names, not a string")
    PredictSettings(  # validate on the driver, before any actor starts
        input_col=input_col,
        model=model_path,
        top_k=top_k,
        batch_size=batch_size,
        threads=cpus_per_actor,
        workers=workers,
        keep_cols=tuple(keep_cols or ()),
        fetch_policy=fetch_policy,
    )
    _check_columns_on_driver(ds, input_col, keep_cols)
    _check_cluster_cpus(actors * cpus_per_actor)
    check_model_on_driver(model_path)
    if (
        model_path is not None
        and model_path not in BUNDLED_MODELS
        and not Path(model_path).is_dir()
    ):
        # An actor whose constructor fails is restarted by Ray Data again and again, so a
        # path that cannot work must be refused here rather than on the actors.
        raise ModelFormatError(
            f"model directory {model_path} does not exist on the driver; pass a path that the "
            "driver and every Ray node can read (a shared filesystem), or use LogoPredictor "
            "with map_batches directly"
        )
    kwargs: dict[str, Any] = {
        "model": model_path,
        "keep_cols": None if keep_cols is None else list(keep_cols),
        "top_k": top_k,
        "batch_size": batch_size,
        "threads": cpus_per_actor,
        "workers": workers,
        "fetch_policy": fetch_policy,
    }
    result: Dataset = ds.map_batches(
        LogoPredictor,
        fn_constructor_args=(input_col,),
        fn_constructor_kwargs=kwargs,
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
    )
    return result


def _check_cluster_cpus(wanted: int) -> None:
    """Refuse an actor pool larger than the running cluster; warn when it takes every CPU,
    since read tasks that need a CPU then wait for ever."""
    import ray

    if not ray.is_initialized():
        return
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call,unused-ignore]
    total = int(resources.get("CPU", 0))
    if total and wanted > total:
        raise InvalidArgumentError(
            f"actors x cpus_per_actor = {wanted} CPUs, but the Ray cluster has {total}; the "
            "pool would never start: use fewer actors or CPUs per actor"
        )
    if total and wanted == total:
        logger.warning(
            "the actors take all %d CPUs of the Ray cluster: read tasks that need a CPU (e.g. "
            "read_binary_files without num_cpus=0) will wait for ever; see docs/scaling.rst",
            total,
        )


def _check_columns_on_driver(ds: Any, input_col: str, keep_cols: Sequence[str] | None) -> None:
    """Refuse missing or clashing columns before any actor starts, when the schema is known
    without running the dataset (Ray Data would only report them as a failed UDF)."""
    schema = ds.schema(fetch_if_missing=False)
    if schema is None:
        return
    names = list(schema.names)
    if input_col not in names:
        raise InvalidArgumentError(
            f"the dataset has no column {input_col!r} (columns: {names}); pass input_col= the "
            "column of paths, URLs or image bytes"
        )
    keep = names if keep_cols is None else list(keep_cols)
    unknown = [n for n in keep if n not in names]
    if unknown:
        raise InvalidArgumentError(
            f"keep_cols names unknown column(s) {unknown}; the dataset has {names}"
        )
    clash = sorted(set(keep) & set(PREDICTION_COLUMNS))
    if clash:
        raise InvalidArgumentError(
            f"the dataset already has column(s) {clash}, which the predictions would "
            f"overwrite; rename them or leave them out with keep_cols=[...]"
        )


__all__ = [
    "DEFAULT_RAY_BATCH_SIZE",
    "PREDICTION_COLUMNS",
    "LogoPredictor",
    "actor_threads",
    "predict_dataset",
    "prediction_arrow_schema",
]
