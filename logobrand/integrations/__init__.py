"""Scale-out integrations: recognise brands in big tables of photos with Spark or Ray Data.

* :mod:`logobrand.integrations.spark` (extra ``spark``):
  :func:`~logobrand.integrations.spark.predict_dataframe` turns a PySpark DataFrame of paths,
  URLs or image bytes into predictions with ``mapInPandas``.
* :mod:`logobrand.integrations.ray` (extra ``ray``):
  :class:`~logobrand.integrations.ray.LogoPredictor`, a callable class for
  ``Dataset.map_batches`` with an actor pool, and
  :func:`~logobrand.integrations.ray.predict_dataset`.

Both add the same columns (:data:`PREDICTION_COLUMNS`) and follow the same rules, which live
in :mod:`logobrand.integrations.core`:

* **One model per worker process.** :func:`get_classifier` keeps one
  :class:`~logobrand.inference.LogoClassifier` per ``(model directory, threads)`` in a
  process-wide cache, so a Spark Python worker (reused across tasks) or a Ray actor loads the
  model once and reuses it for every batch. Only the model's *path* travels with a task.
* **A bad image is a row, not a crash.** An input that cannot be read, fetched or decoded
  gives a row whose ``error`` and ``error_type`` are filled in and whose ``brand``,
  ``score`` and ``top_k`` are null; the task goes on. (A model that cannot be loaded is not a
  per-row problem: that fails the task, with a message saying how to ship the model.)
* **Same answers as** :meth:`~logobrand.inference.LogoClassifier.predict_batch`: decoding is
  :meth:`~logobrand.inference.LogoClassifier.preprocess`, batches run through
  :func:`~logobrand.inference.run_pipeline` (decoding overlapped with inference) and the
  decision rule is :func:`~logobrand.inference.make_prediction` with the model's calibration.
* **URLs are fetched with** :data:`~logobrand.images_fetch.SERVER_POLICY` by default
  (private and loopback addresses refused), because the URLs of a table come from someone
  else. ``file:`` URIs (as Spark writes paths, ``file:/data/a.jpg``) are read as local paths.

Example:
    >>> from logobrand.integrations import PREDICTION_COLUMNS
    >>> PREDICTION_COLUMNS
    ('brand', 'score', 'top_k', 'error', 'error_type')
"""

from logobrand.integrations.core import (
    DEFAULT_MODEL_NAMES,
    PREDICTION_COLUMNS,
    LoadRecord,
    PredictSettings,
    check_model_on_driver,
    clear_cache,
    describe_input,
    file_uri_to_path,
    get_classifier,
    load_records,
    make_decoder,
    model_argument,
    predict_chunks,
    predict_values,
    resolve_model_dir,
    result_columns,
)

__all__ = [
    "DEFAULT_MODEL_NAMES",
    "PREDICTION_COLUMNS",
    "LoadRecord",
    "PredictSettings",
    "check_model_on_driver",
    "clear_cache",
    "describe_input",
    "file_uri_to_path",
    "get_classifier",
    "load_records",
    "make_decoder",
    "model_argument",
    "predict_chunks",
    "predict_values",
    "resolve_model_dir",
    "result_columns",
]
