"""PySpark integration: brand predictions for a DataFrame of photos (extra ``spark``).

:func:`predict_dataframe` works on a column of paths or ``http(s)`` URLs, or on a binary
column of encoded images such as the ``content`` column of Spark's ``binaryFile`` source.
It runs with ``DataFrame.mapInPandas``: every Python worker loads the model once (the
process-wide cache of :func:`logobrand.integrations.get_classifier`) and reuses it for every
Arrow batch of every task it runs; only the model's path travels with the tasks.

ONNX Runtime gets as many threads as the task has cores (``spark.task.cpus``, read from the
``TaskContext``), so ``executor cores / spark.task.cpus`` concurrent tasks fill the executor
without oversubscribing it.

Example:
    >>> # from logobrand.integrations.spark import predict_dataframe
    >>> # photos = spark.read.format("binaryFile").load("s3://bucket/photos/")
    >>> # predict_dataframe(photos, "content", model="my-model").write.parquet("out/")
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from logobrand.errors import InvalidArgumentError, missing_extra
from logobrand.images_fetch import SERVER_POLICY, FetchPolicy
from logobrand.inference.classifier import DEFAULT_BATCH_SIZE
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
    import pandas as pd
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType


def _import_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise missing_extra("pyspark", "spark") from exc


def prediction_schema() -> StructType:
    """The Spark schema of the columns :func:`predict_dataframe` adds.

    Returns:
        ``brand string, score double, top_k array<struct<label string, score double>>,
        error string, error_type string`` (all nullable).

    Raises:
        MissingExtraError: pyspark is not installed.
    """
    _import_pyspark()
    from pyspark.sql.types import (
        ArrayType,
        DoubleType,
        StringType,
        StructField,
        StructType,
    )

    top_k = ArrayType(
        StructType(
            [
                StructField("label", StringType(), nullable=False),
                StructField("score", DoubleType(), nullable=False),
            ]
        ),
        containsNull=False,
    )
    return StructType(
        [
            StructField("brand", StringType(), nullable=True),
            StructField("score", DoubleType(), nullable=True),
            StructField("top_k", top_k, nullable=True),
            StructField("error", StringType(), nullable=True),
            StructField("error_type", StringType(), nullable=True),
        ]
    )


def predict_dataframe(
    df: DataFrame,
    input_col: str = "path",
    *,
    model: str | os.PathLike[str] | None = None,
    keep_cols: Sequence[str] | None = None,
    top_k: int = 5,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    workers: int | None = None,
    fetch_policy: FetchPolicy = SERVER_POLICY,
) -> DataFrame:
    """Add brand predictions to a DataFrame of photos (lazily: nothing runs until an action).

    Args:
        df: The input DataFrame.
        input_col: The column with the photos: a string column of local paths, ``file:``
            URIs or ``http(s)`` URLs, or a binary column of encoded images (the ``content``
            column of ``spark.read.format("binaryFile")``).
        model: A model directory, or ``None`` for the bundled model. The path must exist on
            the workers: a shared filesystem path, or the name of a directory shipped with
            ``spark.sparkContext.addFile(dir, recursive=True)`` or an archive shipped with
            ``addArchive``/``--archives`` (looked up with ``SparkFiles.get``).
        keep_cols: Input columns copied to the output. Default: every column except a
            binary ``input_col`` (so the image bytes are not written out again).
        top_k: Number of ``(label, score)`` entries in ``top_k``.
        batch_size: Images per ONNX Runtime run (the Arrow batch size,
            ``spark.sql.execution.arrow.maxRecordsPerBatch``, is independent: decoding runs
            ahead across Arrow batches).
        threads: ONNX Runtime threads per task. Default: the task's cores
            (``spark.task.cpus``).
        workers: Decoding threads per task. Default: ``max(1, threads - 1)``.
        fetch_policy: How URLs are fetched; the default refuses private and loopback
            addresses (see :mod:`logobrand.images_fetch`).

    Returns:
        A DataFrame with ``keep_cols`` followed by ``brand``, ``score``, ``top_k``,
        ``error`` and ``error_type``, one row per input row, in the input's order within
        each partition. Rows whose image is missing, unreadable or not an image have
        ``error`` set; they never fail the task.

    Raises:
        MissingExtraError: pyspark (or pandas/pyarrow) is not installed.
        InvalidArgumentError: ``input_col`` is missing or of another type, ``keep_cols``
            names unknown columns or clashes with the prediction columns, or a number is out
            of range.
        ModelFormatError: No bundled model ships with this version and ``model`` is
            ``None``, or ``model`` exists on the driver but is not a valid model directory.

    Example:
        >>> # paths = spark.createDataFrame([("a.jpg",), ("b.jpg",)], "path string")
        >>> # predict_dataframe(paths, "path", model="/shared/models/logos").show()
    """
    _import_pyspark()
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise missing_extra(str(exc.name or "pyarrow"), "spark") from exc
    from pyspark.sql import functions as F
    from pyspark.sql.types import BinaryType, StringType, StructField, StructType

    if not (hasattr(df, "schema") and hasattr(df, "mapInPandas")):
        raise InvalidArgumentError(
            f"df must be a Spark DataFrame, got {type(df).__name__}; for a pandas DataFrame "
            "use spark.createDataFrame(...) first, or LogoClassifier.predict_batch"
        )
    schema = df.schema
    names = [field.name for field in schema.fields]
    if input_col not in names:
        raise InvalidArgumentError(
            f"the DataFrame has no column {input_col!r} (columns: {names}); pass "
            "input_col= the column of paths, URLs or image bytes"
        )
    input_type = schema[input_col].dataType
    if not isinstance(input_type, (StringType, BinaryType)):
        raise InvalidArgumentError(
            f"column {input_col!r} is {input_type.simpleString()}; it must be a string column "
            "of paths/URLs or a binary column of image bytes"
        )
    if keep_cols is None:
        keep = [n for n in names if not (n == input_col and isinstance(input_type, BinaryType))]
    else:
        if isinstance(keep_cols, str):
            raise InvalidArgumentError("keep_cols must be a list of column names, not a string")
        keep = list(keep_cols)
        unknown = [n for n in keep if n not in names]
        if unknown:
            raise InvalidArgumentError(
                f"keep_cols names unknown column(s) {unknown}; the DataFrame has {names}"
            )
    model_path = model_argument(model)
    settings = PredictSettings(
        input_col=input_col,
        model=model_path,
        top_k=top_k,
        batch_size=batch_size,
        threads=threads,
        workers=workers,
        keep_cols=tuple(keep),
        fetch_policy=fetch_policy,
    )
    check_model_on_driver(model_path)
    # The workers see the columns under plain positional names: Spark parses a name such as
    # "a.b" as a field of a struct, in select() and inside mapInPandas. The real names come
    # back with toDF, which does not parse them.
    needed = list(dict.fromkeys([*keep, input_col]))
    alias = {name: f"_logobrand_{i}" for i, name in enumerate(needed)}
    quoted = [F.col("`" + n.replace("`", "``") + "`").alias(alias[n]) for n in needed]
    on_workers = replace(
        settings, input_col=alias[input_col], keep_cols=tuple(alias[n] for n in keep)
    )
    added = list(prediction_schema().fields)
    out_schema = StructType(
        [StructField(alias[n], schema[n].dataType, schema[n].nullable) for n in keep] + added
    )
    predicted = df.select(*quoted).mapInPandas(partial(_predict_partition, on_workers), out_schema)
    return predicted.toDF(*keep, *(field.name for field in added))


def task_threads(settings: PredictSettings) -> int:
    """ONNX Runtime threads for the running task: ``settings.threads`` or the task's cores."""
    if settings.threads is not None:
        return settings.threads
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is not None:
        try:
            return max(1, int(context.cpus()))
        except (AttributeError, TypeError, ValueError):  # pyspark < 3.3 has no cpus()
            pass
    return 1


def _search_spark_files(name: str) -> str | None:
    """Where ``SparkContext.addFile``/``addArchive`` put ``name`` on this worker, if anywhere."""
    from pyspark import SparkFiles

    try:
        found: str = SparkFiles.get(name)
    except (RuntimeError, AttributeError, TypeError, ValueError):  # no SparkFiles root here
        return None
    return found


def _predict_partition(
    settings: PredictSettings, batches: Iterator[pd.DataFrame]
) -> Iterator[pd.DataFrame]:
    """The ``mapInPandas`` function: runs on the workers, one call per partition."""
    import pandas as pd

    threads = task_threads(settings)
    directory = resolve_model_dir(settings.model, search=_search_spark_files)
    classifier = get_classifier(directory, threads=threads)
    column = settings.input_col

    def cells(frame: pd.DataFrame) -> list[Any]:
        values: list[Any] = frame[column].tolist()
        return values

    for frame, results in predict_chunks(batches, cells, classifier, settings, threads=threads):
        out = pd.DataFrame(
            {name: frame[name].reset_index(drop=True) for name in settings.keep_cols},
            index=pd.RangeIndex(len(frame)),
        )
        for name, values in result_columns(results).items():
            out[name] = pd.Series(values, index=out.index, dtype=object)
        yield out


__all__ = ["PREDICTION_COLUMNS", "predict_dataframe", "prediction_schema", "task_threads"]
