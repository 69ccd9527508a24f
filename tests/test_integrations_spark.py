"""logobrand.integrations (shared core) and logobrand.integrations.spark with a real Spark.

The engine tests start one local Spark session (``local[2]``) for the module and run it over
a few dozen real photos from ../shared/data plus generated bad files; every result must equal
``LogoClassifier.predict_batch`` on the same files. The model is a tiny torch CNN exported
with ``save_model_dir`` (fast; its threshold is set to the median brand probability over the
test photos, so both "brand" and "no brand" rows occur).

Markers: ``spark`` + ``slow`` for the engine tests; they skip when pyspark, pandas, pyarrow,
a Java runtime, torch or ../shared/data is absent. The engine-free tests at the top are
quick.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from logobrand.errors import InvalidArgumentError
from logobrand.images_fetch import SERVER_POLICY
from logobrand.inference import Failure, LogoClassifier, Prediction
from logobrand.integrations import (
    PREDICTION_COLUMNS,
    PredictSettings,
    file_uri_to_path,
    get_classifier,
    load_records,
    model_argument,
    predict_chunks,
    resolve_model_dir,
    result_columns,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BRANDS = [
    "HP",
    "adidas",
    "aldi",
    "apple",
    "becks",
    "bmw",
    "carlsberg",
    "chimay",
    "cocacola",
    "corona",
    "dhl",
    "erdinger",
    "esso",
    "fedex",
    "ferrari",
    "ford",
    "fosters",
    "google",
    "guiness",
    "heineken",
    "milka",
    "nvidia",
    "paulaner",
    "pepsi",
    "rittersport",
    "shell",
    "singha",
    "starbucks",
    "stellaartois",
    "texaco",
    "tsingtao",
    "ups",
]
LABELS = tuple(sorted([*BRANDS, "no-logo"]))
SIZE = 64
TOL = 1e-5

# PySpark 4 warns on the driver that it does not fully support pandas 3 yet (a general
# warning, raised whatever the job does); these tests check the results themselves.
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


# -- shared helpers -------------------------------------------------------------------------------


def pick_photos(count_per_brand: int = 1, nologo: int = 4) -> list[Path]:
    """A few real photos: ``count_per_brand`` per Logos-32plus brand plus no-logo photos."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    photos: list[Path] = []
    for brand in BRANDS:
        files = sorted((SHARED_DATA / "logos32plus" / brand).glob("*.jpg"))
        photos.extend(files[:count_per_brand])
    photos.extend(sorted((SHARED_DATA / "nologo").glob("*.jpg"))[:nologo])
    if len(photos) < 10:
        pytest.skip(f"too few photos under {SHARED_DATA}")
    return photos


def write_bad_files(folder: Path, good: Path) -> dict[str, Path]:
    """Generated bad inputs: not an image, empty, truncated JPEG, and a missing file."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    bad = {
        "not_an_image": folder / "not_an_image.jpg",
        "empty": folder / "empty.jpg",
        "truncated": folder / "truncated.jpg",
    }
    bad["not_an_image"].write_bytes(b"this is a text file, not a photo\n" * 4)
    bad["empty"].write_bytes(b"")
    bad["truncated"].write_bytes(data[: len(data) // 2])
    bad["missing"] = folder / "missing.jpg"
    return bad


def assert_same(row: dict[str, Any], expected: Prediction | Failure) -> None:
    """One engine row equals one predict_batch result."""
    if isinstance(expected, Failure):
        assert row["error"], row
        assert row["error_type"] == expected.error_type, (row, expected)
        assert row["brand"] is None and row["score"] is None and row["top_k"] is None
        return
    assert row["error"] is None and row["error_type"] is None, row
    assert row["brand"] == expected.brand, (row, expected)
    assert abs(row["score"] - expected.score) <= TOL, (row, expected)
    labels = [entry["label"] for entry in row["top_k"]]
    scores = [entry["score"] for entry in row["top_k"]]
    assert labels == [label for label, _ in expected.top_k]
    assert np.allclose(scores, [score for _, score in expected.top_k], atol=TOL, rtol=0)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    return pick_photos()


@pytest.fixture(scope="module")
def model_dir(
    tmp_path_factory: pytest.TempPathFactory,
    photos: list[Path],
    build_tiny_model: Callable[[Path, list[Path], tuple[str, ...]], Path],
) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("spark-model"), photos, LABELS)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, photos: list[Path]) -> dict[str, Path]:
    return write_bad_files(tmp_path_factory.mktemp("spark-bad"), photos[0])


@pytest.fixture(scope="module")
def inputs(photos: list[Path], bad_files: dict[str, Path]) -> list[Path]:
    """Real photos with the bad files mixed in at a few positions."""
    items = list(photos)
    for offset, path in enumerate(bad_files.values()):
        items.insert(3 + 7 * offset, path)
    return items


@pytest.fixture(scope="module")
def expected(model_dir: Path, inputs: list[Path]) -> dict[str, Prediction | Failure]:
    clf = LogoClassifier.from_pretrained(model_dir, threads=1)
    results = list(clf.predict_batch([str(p) for p in inputs], batch_size=8))
    assert any(isinstance(r, Prediction) and r.brand for r in results)
    assert any(isinstance(r, Prediction) and r.brand is None for r in results)
    return {str(p): r for p, r in zip(inputs, results, strict=True)}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pyspark_sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime (java on PATH or JAVA_HOME); Spark needs one")
    # The Python workers must import this checkout even when it is not pip-installed.
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), old_path) if p)
    # PySpark starts its Python workers with $PYSPARK_PYTHON (else "python3" on PATH), not with
    # the spark.pyspark.python setting: without this, an unactivated venv's workers miss cv2.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("logobrand-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        # small Arrow batches, so that one partition spans several of them
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path


# -- engine-free tests of the shared core --------------------------------------------------------


def test_file_uri_to_path() -> None:
    assert file_uri_to_path("file:/data/a.jpg") == "/data/a.jpg"
    assert file_uri_to_path("file:///data/a%20b.jpg") == "/data/a b.jpg"
    assert file_uri_to_path("FILE://localhost/x.png") == "/x.png"
    assert file_uri_to_path("file://otherhost/x.png") is None
    assert file_uri_to_path("/data/a.jpg") is None
    assert file_uri_to_path("https://example.com/a.jpg") is None


def test_settings_validation() -> None:
    PredictSettings("path")
    with pytest.raises(InvalidArgumentError, match="input_col"):
        PredictSettings("")
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        PredictSettings("path", batch_size=0)
    with pytest.raises(InvalidArgumentError, match="top_k"):
        PredictSettings("path", top_k=-1)
    with pytest.raises(InvalidArgumentError, match="threads"):
        PredictSettings("path", threads=True)
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        PredictSettings("path", keep_cols=("path", "brand"))
    with pytest.raises(InvalidArgumentError, match="twice"):
        PredictSettings("path", keep_cols=("path", "path"))
    assert PredictSettings("path", threads=4).decode_workers(4) == 3
    assert PredictSettings("path").decode_workers(1) == 1
    assert PredictSettings("path", workers=5).decode_workers(1) == 5
    assert model_argument(None) is None and model_argument("default") is None
    assert model_argument("fast") == "fast"  # a bundled preset travels by name
    assert model_argument(Path("a/b")) == str(Path("a/b"))
    with pytest.raises(InvalidArgumentError, match="threads must be at most 256"):
        PredictSettings("path", threads=300)
    with pytest.raises(InvalidArgumentError, match=r"\['id'\] appear twice"):
        PredictSettings("path", keep_cols=("id", "path", "id"))
    with pytest.raises(InvalidArgumentError):
        model_argument(3)  # type: ignore[arg-type]


def test_resolve_model_dir(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    assert resolve_model_dir(str(model)) == model
    # an unpacked archive holding the model folder
    archive = tmp_path / "unpacked"
    (archive / "m").mkdir(parents=True)
    (archive / "m" / "config.json").write_text("{}")
    assert resolve_model_dir(str(archive)) == archive / "m"
    assert resolve_model_dir("shipped", search=lambda name: str(tmp_path / "m")) == model
    with pytest.raises(Exception, match="not available on this worker"):
        resolve_model_dir("nowhere", search=lambda name: None)
    from logobrand.inference.classifier import BUNDLED_MODELS
    from logobrand.integrations import check_model_on_driver

    assert resolve_model_dir("fast") == BUNDLED_MODELS["fast"]
    with pytest.raises(Exception, match="is a file"):
        check_model_on_driver(str(model / "config.json"))


def test_result_columns() -> None:
    ok = Prediction("ups", 0.9, (("ups", 0.9), ("no-logo", 0.1)), "a.jpg")
    none = Prediction(None, 0.8, (("no-logo", 0.8),), "b.jpg")
    bad = Failure("c.jpg", "c.jpg is empty (0 bytes)", "ImageDecodeError")
    cols = result_columns([ok, none, bad])
    assert tuple(cols) == PREDICTION_COLUMNS
    assert cols["brand"] == ["ups", None, None]
    assert cols["score"] == [0.9, 0.8, None]
    assert cols["top_k"][0] == [{"label": "ups", "score": 0.9}, {"label": "no-logo", "score": 0.1}]
    assert cols["top_k"][2] is None
    assert cols["error"] == [None, None, "c.jpg is empty (0 bytes)"]
    assert cols["error_type"] == [None, None, "ImageDecodeError"]


@pytest.mark.torch
@pytest.mark.slow
def test_predict_chunks_spans_chunks_and_keeps_order(
    model_dir: Path, inputs: list[Path], expected: dict[str, Prediction | Failure]
) -> None:
    clf = get_classifier(model_dir, threads=1)
    assert get_classifier(model_dir, threads=1) is clf  # cached
    settings = PredictSettings("path", batch_size=4, top_k=3, fetch_policy=SERVER_POLICY)
    cells: list[Any] = [str(p) for p in inputs]
    cells[5] = None  # a null cell
    cells[6] = inputs[6].read_bytes() if inputs[6].is_file() else cells[6]
    cells[7] = f"file://{inputs[7]}" if inputs[7].is_file() else cells[7]
    # SERVER_POLICY refuses loopback URLs before any connection is made
    url = "http://127.0.0.1:9/photo.jpg"
    chunks = [cells[:3], [], cells[3:4], cells[4:17], cells[17:], [], [url]]
    out = list(predict_chunks(chunks, lambda c: c, clf, settings, threads=1))
    assert [len(c) for c, _ in out] == [len(c) for c in chunks]
    assert all(c is src for (c, _), src in zip(out, chunks, strict=True))
    results = [r for _, rs in out for r in rs]
    blocked = results.pop()
    assert isinstance(blocked, Failure) and blocked.error_type == "FetchError", blocked
    assert blocked.source == url
    assert len(results) == len(inputs)
    for index, (path, result) in enumerate(zip(inputs, results, strict=True)):
        if index == 5:
            assert isinstance(result, Failure) and result.error_type == "InvalidArgumentError"
            assert "null" in result.error and result.source == "<null>"
            continue
        want = expected[str(path)]
        if isinstance(want, Prediction):
            want = dataclasses.replace(want, top_k=want.top_k[:3])
        row = result_columns([result])
        assert_same({k: v[0] for k, v in row.items()}, want)
    assert any(r.model == str(model_dir.resolve()) for r in load_records())


def test_import_without_pyspark_raises_missing_extra_only_when_called() -> None:
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "import logobrand.integrations.spark as s\n"
        "try:\n"
        "    s.predict_dataframe(None, 'path')\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("MissingExtraError"), out.stdout + out.stderr
    assert "logobrand[spark]" in out.stdout


# -- Spark ---------------------------------------------------------------------------------------


def rows_by_source(rows: list[Any], column: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        record = row.asDict(recursive=True)
        source = record[column]
        out[file_uri_to_path(source) or source] = record
    return out


@pytest.mark.spark
@pytest.mark.slow
def test_spark_paths_equal_predict_batch(
    spark: Any,
    model_dir: Path,
    inputs: list[Path],
    expected: dict[str, Prediction | Failure],
) -> None:
    from logobrand.integrations.spark import predict_dataframe

    rows = [(str(p), i) for i, p in enumerate(inputs)] + [(None, len(inputs))]
    df = spark.createDataFrame(rows, "path string, id long").repartition(3)
    out = predict_dataframe(df, "path", model=str(model_dir), batch_size=4)
    assert out.columns == ["path", "id", *PREDICTION_COLUMNS]
    collected = out.collect()
    assert len(collected) == len(rows)
    null_rows = [r for r in collected if r["path"] is None]
    assert len(null_rows) == 1 and null_rows[0]["error_type"] == "InvalidArgumentError"
    got = rows_by_source([r for r in collected if r["path"] is not None], "path")
    assert set(got) == set(expected)
    for source, want in expected.items():
        assert_same(got[source], want)
    errors = {Path(s).name: r["error"] for s, r in got.items() if r["error"]}
    assert set(errors) == {"not_an_image.jpg", "empty.jpg", "truncated.jpg", "missing.jpg"}
    assert all(name in message for name, message in errors.items())


@pytest.mark.spark
@pytest.mark.slow
def test_spark_binary_file_source_equal_predict_batch(
    spark: Any,
    model_dir: Path,
    inputs: list[Path],
    expected: dict[str, Prediction | Failure],
) -> None:
    from logobrand.integrations.spark import predict_dataframe

    # Spark's file sources give no row for an empty file, so only non-empty ones are listed.
    existing = [str(p) for p in inputs if p.is_file() and p.stat().st_size > 0]
    photos = spark.read.format("binaryFile").load(existing)
    out = predict_dataframe(photos, "content", model=str(model_dir), top_k=5)
    assert out.columns == ["path", "modificationTime", "length", *PREDICTION_COLUMNS]
    got = rows_by_source(out.collect(), "path")
    assert set(got) == set(existing)
    for source in existing:
        assert_same(got[source], expected[source])


@pytest.mark.spark
@pytest.mark.slow
def test_spark_loads_model_once_per_worker_with_task_cpus(
    spark: Any, model_dir: Path, inputs: list[Path]
) -> None:
    import pandas as pd

    from logobrand.integrations.spark import predict_dataframe

    tasks = 8
    df = spark.createDataFrame([(str(p),) for p in inputs], "path string").repartition(tasks)
    assert df.rdd.getNumPartitions() == tasks
    out = predict_dataframe(df, "path", model=str(model_dir), keep_cols=[])
    assert out.count() == len(inputs)

    target = str(model_dir.resolve())

    def probe(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from logobrand.integrations import load_records as records

        for _ in batches:
            pass
        mine = [r for r in records() if r.model == target]
        yield pd.DataFrame(
            {
                "pid": [r.pid for r in mine],
                "threads": [r.threads for r in mine],
                "seconds": [r.seconds for r in mine],
            }
        )

    loads = (
        spark.range(4)
        .repartition(4)
        .mapInPandas(probe, "pid long, threads long, seconds double")
        .distinct()  # several probe tasks may run in the same worker
        .collect()
    )
    # Spark's reused Python workers ran the 8 tasks (local[2]: usually two of them); each
    # loaded the model once, with one ONNX Runtime thread (spark.task.cpus = 1).
    pids = [row["pid"] for row in loads]
    assert loads and len(pids) == len(set(pids)), loads
    assert len(pids) < tasks, loads
    assert {row["threads"] for row in loads} == {1}


@pytest.mark.spark
@pytest.mark.slow
def test_spark_model_shipped_with_add_file_and_add_archive(
    spark: Any, model_dir: Path, photos: list[Path], expected: dict[str, Prediction | Failure]
) -> None:
    from logobrand.integrations.spark import predict_dataframe

    root = model_dir.parent
    shipped = root / "shipped-logobrand-model"
    if not shipped.exists():
        shutil.copytree(model_dir, shipped)
    archive = Path(shutil.make_archive(str(root / "logobrand-model-archive"), "zip", root, "model"))
    spark.sparkContext.addFile(str(shipped), recursive=True)
    spark.sparkContext.addArchive(str(archive))
    df = spark.createDataFrame([(str(p),) for p in photos[:5]], "path string")
    for name in (shipped.name, archive.name):  # looked up with SparkFiles.get on the workers
        out = predict_dataframe(df, "path", model=name).collect()
        assert len(out) == 5
        for row in out:
            assert_same(row.asDict(recursive=True), expected[row["path"]])


@pytest.mark.spark
@pytest.mark.slow
def test_spark_argument_errors(spark: Any, model_dir: Path) -> None:
    import pandas as pd

    from logobrand.integrations.spark import predict_dataframe

    df = spark.createDataFrame([("a.jpg", 1, "x")], "path string, n long, brand string")
    with pytest.raises(InvalidArgumentError, match="no column 'nope'"):
        predict_dataframe(df, "nope", model=str(model_dir))
    with pytest.raises(InvalidArgumentError, match="bigint"):
        predict_dataframe(df, "n", model=str(model_dir))
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        predict_dataframe(df, "path", model=str(model_dir))
    with pytest.raises(InvalidArgumentError, match="unknown column"):
        predict_dataframe(df, "path", model=str(model_dir), keep_cols=["zzz"])
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        predict_dataframe(df, "path", model=str(model_dir), keep_cols=["path"], batch_size=0)
    with pytest.raises(InvalidArgumentError, match="must be a Spark DataFrame"):
        predict_dataframe(pd.DataFrame({"path": ["a.jpg"]}), "path", model=str(model_dir))
    dotted = spark.createDataFrame([("a.jpg", 1)], "`image.path` string, `a.b` long")
    out = predict_dataframe(dotted, "image.path", model=str(model_dir))  # names with dots
    assert out.columns[:2] == ["image.path", "a.b"] and out.count() == 1
    # a model directory that no worker has: the task fails with a message saying what to do
    lazy = predict_dataframe(df, "path", model="/nonexistent/model-dir", keep_cols=["path"])
    with pytest.raises(Exception, match="not available on this worker"):
        lazy.collect()
