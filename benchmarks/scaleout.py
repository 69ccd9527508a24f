"""Scale-out benchmark: LogoClassifier.predict_batch vs Spark and Ray Data, at 1 and 2 cores.

Prints one table from one run. Every row runs in a fresh subprocess pinned to N cores with
``sched_setaffinity`` (inherited by Spark's JVM and Python workers and by Ray's processes), so
"1 core" means the whole engine shares one core, and rows at the same core count compare
fairly.

Rows (each over the same photos, same model, ONNX batch size 4, the library default):

* ``predict_batch``, N cores: ``LogoClassifier.from_pretrained(model)`` then
  ``list(clf.predict_batch(paths))`` with its defaults (N ONNX Runtime threads, max(1, N-1)
  decoding threads). Timed from the model load to the last result.
* Spark ``local[N]``, paths: a DataFrame of paths (4 partitions per core) through
  ``predict_dataframe`` and ``.write.parquet``; ``spark.task.cpus=1``, so N tasks run at
  once, each with 1 ONNX Runtime thread and 1 decoding thread. The JVM runs with
  ``spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`` (its JIT and GC
  threads otherwise take a share of the pinned cores; see docs/scaling.rst). Timed from the
  action to the end of the write, on a started session: Python worker start, imports and
  model loads are inside the time; the JVM start is not (it is the "engine start" column).
* Spark ``local[2]``, binaryFile: the same photos read with ``spark.read.format("binaryFile")``
  and predicted from the ``content`` column, with ``spark.sql.files.openCostInBytes=16k`` and
  ``spark.sql.files.maxPartitionBytes=16m`` (about 200 photos per partition instead of about
  30; each task has a fixed cost; see docs/scaling.rst).
* Ray Data, N actors, paths: ``ray.init(num_cpus=N)``, ``ray.data.from_items`` of paths,
  ``map_batches(LogoPredictor, compute=ActorPoolStrategy(size=N), num_cpus=1,
  batch_size=128)`` (what ``predict_dataset`` does, with a subclass that also reports each
  actor's model load time) and ``.write_parquet``. Timed like Spark (actor start inside,
  ``ray.init`` outside).
* Ray Data, 2 actors, read_binary_files: bytes read by Ray's readers (``num_cpus=0``,
  ``concurrency=1``: unlimited reader tasks started a dozen worker processes on the 2 cores and
  ran at 38 photos/s).

Each row runs twice in its child. The 1st run is a cold job: Spark starts its Python workers
(imports + model load) and Ray its actors inside the timed part. The 2nd run is the same job
again: Spark's Python workers are still up with their cached model (steady state); Ray starts
new actors (a new actor pool per execution) on a running cluster; predict_batch reuses its
classifier. Before the rows, every photo is read once so that all rows see a warm page cache.

Columns: photos/s of each run; "% of predict_batch" = rate / predict_batch's rate at the same
core count, for the 1st and 2nd runs (target >= 85%; the overhead is 100% minus it);
"model load" = the wall time of
``LogoClassifier.from_pretrained`` in each worker process (the per-task start-up cost; Spark
and Ray pay it once per Python worker or actor, not once per task); "engine start" =
SparkSession / ``ray.init`` start-up; "agree" = rows whose brand equals the 2-core
predict_batch's brand (scores within 1e-5).

Photos: ``--photos`` (default 2,000) distinct real photos from ``../shared/data``: 60%
Logos-32plus (224 x 224), 20% FlickrLogos-27 training photos (~500 px), 20% no-logo photos
(~500 px), sampled with ``--seed``. If more photos are asked for than exist, the list repeats
them (the table says so).

Model: ``--model DIR``; default: the bundled model when it exists, else an untrained
``efficientnet_lite0`` (ImageNet trunk, 33 classes) saved with ``save_model_dir`` into the
work dir (speed does not depend on the weights).

Usage (from the repository root, with the ``spark`` and ``ray`` extras and Java installed)::

    python benchmarks/scaleout.py                         # the table (~10 minutes on 2 cores)
    python benchmarks/scaleout.py --photos 200 --rows batch2,spark2   # quick smoke run

Run it on a quiet machine: the table prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
MIX = (("logos32plus", 0.6), ("flickrlogos27", 0.2), ("nologo", 0.2))
BATCH_SIZE = 4  # logobrand.inference.classifier.DEFAULT_BATCH_SIZE (fastest on 2 cores)
RAY_ROWS_PER_CALL = 128

# The settings docs/scaling.rst recommends for small executors (measured there).
SPARK_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# binaryFile partitions of about 200 photos instead of about 30 (docs/scaling.rst, "Partitions")
SPARK_FILE_PARTITIONS = {
    "spark.sql.files.openCostInBytes": str(16 << 10),
    "spark.sql.files.maxPartitionBytes": str(16 << 20),
}

ROWS: dict[str, dict[str, Any]] = {
    "batch1": {"kind": "batch", "cores": 1, "name": "predict_batch, 1 core"},
    "batch2": {"kind": "batch", "cores": 2, "name": "predict_batch, 2 cores"},
    "spark1": {"kind": "spark", "cores": 1, "source": "paths", "name": "Spark local[1], paths"},
    "spark2": {"kind": "spark", "cores": 2, "source": "paths", "name": "Spark local[2], paths"},
    "spark2bin": {
        "kind": "spark",
        "cores": 2,
        "source": "binary",
        "name": "Spark local[2], binaryFile",
    },
    "ray1": {"kind": "ray", "cores": 1, "source": "paths", "name": "Ray Data, 1 actor, paths"},
    "ray2": {"kind": "ray", "cores": 2, "source": "paths", "name": "Ray Data, 2 actors, paths"},
    "ray2bin": {
        "kind": "ray",
        "cores": 2,
        "source": "binary",
        "name": "Ray Data, 2 actors, binary files",
    },
}


# ---------------------------------------------------------------------------------------------
# children: one measurement each, in a fresh interpreter pinned to N cores; one JSON line


def _pin(cores: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < cores:
        raise SystemExit(f"asked for {cores} cores but only {len(available)} are usable")
    os.sched_setaffinity(0, set(available[:cores]))


def _child_batch(job: dict[str, Any]) -> dict[str, Any]:
    from logobrand.inference import LogoClassifier, Prediction

    started = time.perf_counter()
    clf = LogoClassifier.from_pretrained(job["model"])
    load = time.perf_counter() - started
    results = list(clf.predict_batch(job["paths"], batch_size=BATCH_SIZE))
    first = time.perf_counter() - started
    started = time.perf_counter()
    results = list(clf.predict_batch(job["paths"], batch_size=BATCH_SIZE))
    second = time.perf_counter() - started
    out = [
        {"path": p, "brand": r.brand, "score": r.score} if isinstance(r, Prediction) else None
        for p, r in zip(job["paths"], results, strict=True)
    ]
    errors = sum(1 for r in out if r is None)
    Path(job["out"]).write_text(json.dumps(out))
    return {
        "photos": len(results),
        "seconds": [first, second],
        "errors": errors,
        "loads": [load],
    }


def _child_spark(job: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from pyspark.sql import SparkSession

    from logobrand.integrations.spark import predict_dataframe

    cores = int(job["cores"])
    # the Python workers run $PYSPARK_PYTHON (else "python3" on PATH), whatever the settings say
    os.environ["PYSPARK_PYTHON"] = sys.executable
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("logobrand-scaleout-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.driver.memory", "2g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        # the JVM's JIT compiler threads share the pinned cores: C1 only halves the start-up
        .config("spark.driver.extraJavaOptions", SPARK_JAVA_OPTIONS)
        .config(map=SPARK_FILE_PARTITIONS)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1).count()  # the JVM and the scheduler are up
    engine_start = time.perf_counter() - started

    if job["source"] == "paths":
        rows = [(p,) for p in job["paths"]]
        df = spark.sparkContext.parallelize(rows, 4 * cores).toDF("path string")
        column = "path"
    else:
        df = spark.read.format("binaryFile").load(sorted(set(job["paths"])))
        column = "content"
    out = predict_dataframe(df, column, model=job["model"], batch_size=BATCH_SIZE)
    seconds: list[float] = []
    for run in (1, 2):  # the 2nd job finds the Python workers (and their model) running
        started = time.perf_counter()
        writer = out.select("path", "brand", "score", "error").write.mode("overwrite")
        writer.parquet(job["out"] if run == 1 else job["out"] + "-2")
        seconds.append(time.perf_counter() - started)
    tasks = df.rdd.getNumPartitions()

    model = str(Path(job["model"]).resolve())

    def probe(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from logobrand.integrations import load_records

        for _ in batches:
            pass
        mine = [r for r in load_records() if r.model == model]
        yield pd.DataFrame({"pid": [r.pid for r in mine], "seconds": [r.seconds for r in mine]})

    loads = (
        spark.range(4 * cores)
        .repartition(4 * cores)
        .mapInPandas(probe, "pid long, seconds double")
        .dropDuplicates(["pid"])
        .collect()
    )
    spark.stop()
    return {
        "photos": len(job["paths"]) if job["source"] == "paths" else len(set(job["paths"])),
        "seconds": seconds,
        "engine_start": engine_start,
        "loads": [row["seconds"] for row in loads],
        "tasks": tasks,
    }


def _child_ray(job: dict[str, Any]) -> dict[str, Any]:
    import ray
    import ray.data

    from logobrand.integrations import load_records
    from logobrand.integrations.ray import LogoPredictor

    class TimedPredictor(LogoPredictor):
        """LogoPredictor that also reports its process and model load time."""

        def __call__(self, batch: Any) -> Any:
            import pyarrow as pa

            table = super().__call__(batch)
            loads = load_records()
            n = table.num_rows
            table = table.append_column("pid", pa.array([os.getpid()] * n, pa.int64()))
            return table.append_column(
                "load_s", pa.array([loads[0].seconds if loads else -1.0] * n, pa.float64())
            )

    cores = int(job["cores"])
    started = time.perf_counter()
    ray.init(
        num_cpus=cores,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    engine_start = time.perf_counter() - started

    ds: Any
    if job["source"] == "paths":
        ds = ray.data.from_items([{"path": p} for p in job["paths"]])
        column = "path"
        photos = len(job["paths"])
    else:
        files = sorted(set(job["paths"]))
        ds = ray.data.read_binary_files(files, include_paths=True, num_cpus=0, concurrency=1)
        column = "bytes"
        photos = len(files)
    out = ds.map_batches(
        TimedPredictor,
        fn_constructor_args=(column,),
        fn_constructor_kwargs={"model": job["model"], "threads": 1, "batch_size": BATCH_SIZE},
        batch_size=RAY_ROWS_PER_CALL,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=cores),
        num_cpus=1,
    )
    seconds: list[float] = []
    for run in (1, 2):  # the 2nd run starts new actors on a running Ray
        started = time.perf_counter()
        out.select_columns(["path", "brand", "score", "error", "pid", "load_s"]).write_parquet(
            job["out"] if run == 1 else job["out"] + "-2"
        )
        seconds.append(time.perf_counter() - started)
    ray.shutdown()
    import pyarrow.parquet as pq

    table = pq.read_table(job["out"], columns=["pid", "load_s"]).to_pylist()
    loads = {row["pid"]: row["load_s"] for row in table}
    return {
        "photos": photos,
        "seconds": seconds,
        "engine_start": engine_start,
        "loads": list(loads.values()),
    }


def child_main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    _pin(int(job["cores"]))
    sys.path.insert(0, str(REPO))
    kind = job["kind"]
    if kind == "batch":
        result = _child_batch(job)
    elif kind == "spark":
        result = _child_spark(job)
    elif kind == "ray":
        result = _child_ray(job)
    else:
        raise SystemExit(f"unknown job kind {kind!r}")
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# parent: photos, model, the children, the table


@dataclass
class Photos:
    """The benchmark's photo list."""

    paths: list[str]
    counts: dict[str, int]
    repeats: float


def prepare_photos(data: Path, n: int, seed: int) -> Photos:
    """``n`` photos in the MIX proportions, distinct where the data allows."""
    import numpy as np

    if not data.is_dir():
        raise SystemExit(f"{data} is absent; pass --data")
    pools = {
        "logos32plus": sorted((data / "logos32plus").glob("*/*.jpg")),
        "flickrlogos27": sorted((data / "flickrlogos27" / "images").glob("*.jpg")),
        "nologo": sorted((data / "nologo").glob("*.jpg")),
    }
    rng = np.random.default_rng(seed)
    chosen: list[Path] = []
    counts: dict[str, int] = {}
    for name, share in MIX:
        pool = pools[name]
        if not pool:
            raise SystemExit(f"no photos under {data / name}")
        want = round(n * share) if name != MIX[-1][0] else n - len(chosen)
        order = rng.permutation(len(pool))
        picked = [pool[int(order[i % len(pool)])] for i in range(want)]
        counts[name] = want
        chosen.extend(picked)
    order = rng.permutation(len(chosen))
    paths = [str(chosen[int(i)]) for i in order]
    return Photos(paths, counts, len(paths) / len(set(paths)))


def default_model(workdir: Path) -> tuple[Path, str]:
    """The bundled model, else an untrained efficientnet_lite0 saved into ``workdir``."""
    sys.path.insert(0, str(REPO))
    from logobrand.inference import DEFAULT_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return DEFAULT_MODEL_DIR, "bundled default model"
    from throughput import untrained_model  # benchmarks/ is on sys.path when run as a script

    return untrained_model(workdir)


def run_child(job: dict[str, Any], workdir: Path, timeout: float = 3600) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    fd, job_name = tempfile.mkstemp(prefix="job-", suffix=".json", dir=workdir)
    with os.fdopen(fd, "w") as fh:
        json.dump(job, fh)
    old = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), old) if p))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", job_name],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    os.unlink(job_name)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise SystemExit(
        f"benchmark child {job['kind']} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )


def read_predictions(out: Path) -> dict[str, tuple[str | None, float | None, str | None]]:
    """path -> (brand, score, error) from an engine's Parquet output."""
    import pyarrow.parquet as pq

    rows = pq.read_table(out, columns=["path", "brand", "score", "error"]).to_pylist()
    result: dict[str, tuple[str | None, float | None, str | None]] = {}
    for row in rows:
        path = str(row["path"])
        if path.startswith("file:"):
            path = path[len("file:") :]
        result[path] = (row["brand"], row["score"], row["error"])
    return result


def compare(
    baseline: list[dict[str, Any] | None], got: dict[str, tuple[str | None, float | None, Any]]
) -> tuple[int, int, int]:
    """(rows checked, rows whose brand and score agree, rows with an error)."""
    checked = agree = errors = 0
    for item in baseline:
        if item is None or item["path"] not in got:
            continue
        brand, score, error = got[item["path"]]
        checked += 1
        errors += error is not None
        if brand == item["brand"] and score is not None and abs(score - item["score"]) <= 1e-5:
            agree += 1
    return checked, agree, errors


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


HEADER = (
    "row",
    "cores",
    "photos/s, 1st run",
    "photos/s, 2nd run",
    "% of predict_batch (1st / 2nd)",
    "model load per worker",
    "engine start",
    "agree",
)


def table_cells(rows: list[dict[str, Any]]) -> list[list[str]]:
    """One list of cell texts per row, in HEADER order."""
    base = {r["cores"]: r["rates"] for r in rows if r["kind"] == "batch"}
    cells: list[list[str]] = []
    for r in rows:
        ref = base.get(r["cores"])
        rates = r["rates"]
        if r["kind"] == "batch" or ref is None:
            share = "–"
        else:
            share = f"{100 * rates[0] / ref[0]:.0f}% / {100 * rates[1] / ref[1]:.0f}%"
        loads = r["result"].get("loads", [])
        load = (
            f"{min(loads):.2f}–{max(loads):.2f} s (x{len(loads)})"
            if len(loads) > 1
            else (f"{loads[0]:.2f} s" if loads else "–")
        )
        start = r["result"].get("engine_start")
        cells.append(
            [
                r["name"],
                str(r["cores"]),
                f"{rates[0]:.1f}",
                f"{rates[1]:.1f}",
                share,
                load,
                f"{start:.1f} s" if start is not None else "–",
                r["agree"],
            ]
        )
    return cells


def format_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---|" + "---:|" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(c) + " |" for c in table_cells(rows)]
    return "\n".join(lines)


def format_rst(rows: list[dict[str, Any]]) -> str:
    """The same table as a reST list-table (for docs/scaling.rst)."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [list(HEADER), *table_cells(rows)]:
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {c}" for c in cells[1:]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, default=None, help="model directory")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--photos", type=int, default=2000, help="photos per row (2000)")
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help=f"comma-separated rows out of {','.join(ROWS)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep models/outputs here")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    parser.add_argument("--rst", action="store_true", help="also print a reST list-table")
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {list(ROWS)}")
    cores = len(os.sched_getaffinity(0))
    if any(ROWS[n]["cores"] > cores for n in names):
        raise SystemExit(f"this machine has {cores} usable cores; the rows need up to 2")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, names, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="logobrand-scaleout-") as tmp:
            run(args, names, Path(tmp))


def run(args: argparse.Namespace, names: list[str], workdir: Path) -> None:
    load_before = load_average()
    photos = prepare_photos(args.data.resolve(), args.photos, args.seed)
    if args.model is not None:
        model_dir, model_name = args.model.resolve(), str(args.model)
    else:
        model_dir, model_name = default_model(workdir)
    for path in set(photos.paths):  # warm the page cache for every row alike
        Path(path).read_bytes()
    # the 2-core predict_batch is the reference for "agree": run it first when asked for
    names = sorted(names, key=lambda n: (n != "batch2", list(ROWS).index(n)))
    baseline: list[dict[str, Any] | None] | None = None
    rows: list[dict[str, Any]] = []
    for name in names:
        spec = ROWS[name]
        out = workdir / f"out-{name}"
        for old in (out, workdir / f"out-{name}-2"):
            if old.is_dir():
                shutil.rmtree(old)
        job = {**spec, "model": str(model_dir), "paths": photos.paths, "out": str(out)}
        print(f"running {spec['name']} ...", file=sys.stderr, flush=True)
        result = run_child(job, workdir)
        rates = [result["photos"] / sec for sec in result["seconds"]]
        agree = "–"
        if spec["kind"] == "batch":
            predicted = json.loads(out.read_text())
            if name == "batch2":
                baseline = predicted
        elif baseline is not None:
            checked, same, errors = compare(baseline, read_predictions(out))
            agree = f"{same}/{checked}" + (f" ({errors} errors)" if errors else "")
        rows.append({**spec, "result": result, "rates": rates, "agree": agree})
        print(f"  {rates[0]:.1f}, {rates[1]:.1f} photos/s", file=sys.stderr, flush=True)

    distinct = len(set(photos.paths))
    mix = ", ".join(f"{k} {v}" for k, v in photos.counts.items())
    repeat = (
        f"; each photo used {photos.repeats:.2f} times on average (the shared data has fewer)"
        if photos.repeats > 1
        else " (no repeats)"
    )
    print(
        f"\nModel: {model_name}; ONNX batch size {BATCH_SIZE}; Ray rows per call "
        f"{RAY_ROWS_PER_CALL}"
    )
    print(f"Photos: {len(photos.paths)} ({distinct} distinct{repeat}): {mix}; seed {args.seed}")
    print(
        f"Machine: {os.cpu_count()} CPUs; load average before {load_before}, "
        f"after {load_average()}\n"
    )
    print(format_table(rows))
    if args.rst:
        print("\n" + format_rst(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
