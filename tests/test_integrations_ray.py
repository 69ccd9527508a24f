"""logobrand.integrations.ray with a real local Ray instance (2 CPUs).

Every result must equal ``LogoClassifier.predict_batch`` on the same files (a few dozen real
photos from ../shared/data plus generated bad files). The model is a tiny torch CNN exported
with ``save_model_dir`` (see tests/test_integrations_spark.py, whose helpers are repeated
here so that each file runs on its own).

Markers: ``ray`` + ``slow`` for the engine tests; they skip when ray, pandas, pyarrow, torch
or ../shared/data is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.inference import Failure, LogoClassifier, Prediction
from logobrand.integrations import PREDICTION_COLUMNS, load_records

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TOL = 1e-5
SIZE = 64


def brand_folders() -> list[str]:
    """The Logos-32plus brand folders (the 32 FlickrLogos-32 brands)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return sorted(p.name for p in (SHARED_DATA / "logos32plus").iterdir() if p.is_dir())


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
    assert [e["label"] for e in row["top_k"]] == [label for label, _ in expected.top_k]
    scores = [e["score"] for e in row["top_k"]]
    assert np.allclose(scores, [s for _, s in expected.top_k], atol=TOL, rtol=0)


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    photos: list[Path] = []
    for brand in brand_folders():
        photos.extend(sorted((SHARED_DATA / "logos32plus" / brand).glob("*.jpg"))[1:2])
    photos.extend(sorted((SHARED_DATA / "nologo").glob("*.jpg"))[4:8])
    if len(photos) < 10:
        pytest.skip(f"too few photos under {SHARED_DATA}")
    return photos


@pytest.fixture(scope="module")
def model_dir(
    tmp_path_factory: pytest.TempPathFactory,
    photos: list[Path],
    build_tiny_model: Callable[[Path, list[Path], tuple[str, ...]], Path],
) -> Path:
    labels = tuple(sorted([*brand_folders(), "no-logo"]))
    return build_tiny_model(tmp_path_factory.mktemp("ray-model"), photos, labels)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, photos: list[Path]) -> list[Path]:
    """Real photos plus generated bad files: not an image, truncated, empty, missing."""
    folder = tmp_path_factory.mktemp("ray-bad")
    data = photos[0].read_bytes()
    (folder / "not_an_image.jpg").write_bytes(b"<html>not found</html>\n" * 3)
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    bad = [folder / n for n in ("not_an_image.jpg", "truncated.jpg", "empty.jpg", "missing.jpg")]
    items = list(photos)
    for offset, path in enumerate(bad):
        items.insert(2 + 9 * offset, path)
    return items


@pytest.fixture(scope="module")
def expected(model_dir: Path, inputs: list[Path]) -> dict[str, Prediction | Failure]:
    clf = LogoClassifier.from_pretrained(model_dir, threads=1)
    results = list(clf.predict_batch([str(p) for p in inputs]))
    assert any(isinstance(r, Prediction) and r.brand for r in results)
    assert any(isinstance(r, Prediction) and r.brand is None for r in results)
    assert sum(isinstance(r, Failure) for r in results) == 4
    return {str(p): r for p, r in zip(inputs, results, strict=True)}


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    # Workers must import this checkout (and this test module, for CountingPredictor).
    old_path = os.environ.get("PYTHONPATH")
    paths = (str(REPO), str(REPO / "tests"), old_path)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path


def _counting_predictor() -> type:
    from logobrand.integrations.ray import LogoPredictor

    class CountingPredictor(LogoPredictor):
        """LogoPredictor that also reports its process and the model loads done in it."""

        def __call__(self, batch: Any) -> Any:
            import pyarrow as pa

            table = super().__call__(batch)
            loads = load_records()
            n = table.num_rows
            table = table.append_column("pid", pa.array([os.getpid()] * n, pa.int64()))
            table = table.append_column("loads", pa.array([len(loads)] * n, pa.int64()))
            return table.append_column("threads", pa.array([self.threads] * n, pa.int64()))

    return CountingPredictor


# -- tests ---------------------------------------------------------------------------------------


def test_import_without_ray_raises_missing_extra_only_when_called() -> None:
    code = (
        "import sys; sys.modules['ray'] = None; sys.modules['ray.data'] = None\n"
        "import logobrand.integrations.ray as r\n"
        "try:\n"
        "    r.predict_dataset(None, 'path')\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("MissingExtraError"), out.stdout + out.stderr
    assert "logobrand[ray]" in out.stdout


@pytest.mark.ray
@pytest.mark.slow
def test_predictor_without_ray_loads_once(
    model_dir: Path, inputs: list[Path], expected: dict[str, Prediction | Failure]
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from logobrand.integrations.ray import LogoPredictor

    first = LogoPredictor("path", model=model_dir, threads=1, batch_size=4)
    second = LogoPredictor("path", model=model_dir, threads=1)
    assert first._classifier is second._classifier  # one model per process
    frame = pd.DataFrame({"path": [str(p) for p in inputs], "n": range(len(inputs))})
    table = first(frame)
    assert table.column_names == ["path", "n", *PREDICTION_COLUMNS]
    for row in table.to_pylist():
        assert_same(row, expected[row["path"]])
    # the numpy batch format and an all-bad batch give the same prediction schema
    bad = {"path": np.array([str(inputs[2]), "nope.jpg"], dtype=object)}
    out = first(bad)
    cols = list(PREDICTION_COLUMNS)
    assert out.select(cols).schema.equals(table.select(cols).schema)
    assert out.column("error_type").to_pylist() == ["ImageDecodeError", "ImageNotFoundError"]
    with pytest.raises(InvalidArgumentError, match="no column"):
        first({"other": np.array(["a"])})
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        first(pd.DataFrame({"path": ["a.jpg"], "score": [1.0]}))


@pytest.mark.ray
@pytest.mark.slow
def test_ray_paths_equal_predict_batch_and_load_once_per_actor(
    ray_session: Any,
    model_dir: Path,
    inputs: list[Path],
    expected: dict[str, Prediction | Failure],
) -> None:
    items = [{"path": str(p), "id": i} for i, p in enumerate(inputs)]
    ds = ray_session.data.from_items([*items, {"path": None, "id": len(items)}])
    out = ds.map_batches(
        _counting_predictor(),
        fn_constructor_args=("path",),
        fn_constructor_kwargs={"model": str(model_dir), "batch_size": 4},
        batch_size=5,
        batch_format="pandas",
        compute=ray_session.data.ActorPoolStrategy(size=2),
        num_cpus=1,
    )
    rows = out.take_all()
    assert len(rows) == len(items) + 1
    for row in rows:
        if row["path"] is None:
            assert row["error_type"] == "InvalidArgumentError"
            continue
        assert_same(row, expected[row["path"]])
    # 9+ batches over two actors: each actor loaded the model once, with 1 thread (num_cpus)
    pids = {row["pid"] for row in rows}
    assert 1 <= len(pids) <= 2
    assert {row["loads"] for row in rows} == {1}
    assert {row["threads"] for row in rows} == {1}


@pytest.mark.ray
@pytest.mark.slow
def test_ray_binary_files_equal_predict_batch(
    ray_session: Any,
    model_dir: Path,
    inputs: list[Path],
    expected: dict[str, Prediction | Failure],
) -> None:
    from logobrand.integrations.ray import predict_dataset

    existing = [str(p) for p in inputs if p.is_file()]
    # The readers take no CPU slot, so that two 1-CPU actors on 2 CPUs cannot starve them.
    ds = ray_session.data.read_binary_files(existing, include_paths=True, num_cpus=0)
    out = predict_dataset(ds, "bytes", model=model_dir, actors=2, rows_per_call=8)
    rows = out.take_all()
    assert sorted(rows[0]) == sorted(["path", *PREDICTION_COLUMNS])
    assert sorted(row["path"] for row in rows) == sorted(existing)
    for row in rows:
        assert_same(row, expected[row["path"]])


@pytest.mark.ray
@pytest.mark.slow
def test_predict_dataset_refuses_a_missing_model(ray_session: Any, tmp_path: Path) -> None:
    from logobrand.integrations.ray import predict_dataset

    ds = ray_session.data.from_items([{"path": "a.jpg"}])
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="does not exist on the driver"):
        predict_dataset(ds, "path", model=tmp_path / "nope")
    with pytest.raises(InvalidArgumentError, match="actors"):
        predict_dataset(ds, "path", model=tmp_path, actors=0)
    # refused on the driver, not as a failed UDF in the actors
    with pytest.raises(InvalidArgumentError, match="no column 'image'"):
        predict_dataset(ds, "image")
    with pytest.raises(InvalidArgumentError, match="unknown column"):
        predict_dataset(ds, "path", keep_cols=["nope"])
    with pytest.raises(InvalidArgumentError, match="overwrite"):
        predict_dataset(ray_session.data.from_items([{"path": "a.jpg", "brand": "x"}]), "path")
    with pytest.raises(InvalidArgumentError, match=r"ray\.data\.Dataset"):
        predict_dataset([{"path": "a.jpg"}], "path")  # type: ignore[arg-type]
    with pytest.raises(ModelFormatError, match="is a file"):
        predict_dataset(ds, "path", model=tmp_path / "photo.jpg")
    with pytest.raises(InvalidArgumentError, match="the Ray cluster has 2"):
        predict_dataset(ds, "path", actors=3)  # the pool could never start
