"""Inference throughput benchmark: eager PyTorch vs ONNX Runtime vs the full pipeline.

Prints one Markdown table from one run. Every row is measured in a fresh subprocess, so its
peak RSS and its cold start (from ``import`` to the first prediction) are honest.

Rows:
    (a) eager PyTorch, the tutorial's style: one photo at a time, decoded (full size, no draft)
        then predicted (torch default threads). Needs the ``train`` extra.
    (b) model-only ONNX Runtime on pre-decoded tensors: the ceiling of (c).
    (c) the full ``logobrand predict DIR`` pipeline: ``iter_image_files`` over a folder of
        symlinks to the photos, ``LogoClassifier.predict_batch(..., progress=True)``.
    (c) x 10,000 (``--files``): the same pipeline over a folder of 10,000 files (the photos
        linked repeatedly), to show that memory stays bounded.

Photos: ``--limit`` (default 1,000) real photos from ``../shared/data``: 35% Logos-32plus
(224 x 224), 25% FlickrLogos-27 (~500 px Flickr photos), 20% no-logo photos (~500 px), and 20%
large photos made by enlarging real FlickrLogos-27 / no-logo photos to a long side of
1920-2560 px (bicubic, light Gaussian grain sigma=3 so the JPEG entropy is like a camera's,
quality 90; a quarter of them stored rotated with an EXIF orientation tag). Everything in
``../shared/data`` is <= 512 px, hence the enlargement; the table says so.

Model: ``--model DIR`` (repeatable: rows (b) and (c) per model); default: the bundled presets
``default`` (float32), ``fast`` (int8) and ``accurate`` (``default`` reading the brands'
names; row (c) only) when they exist, else an untrained
``efficientnet_lite0`` (ImageNet trunk, 33 classes) saved with ``save_model_dir`` into a temp
dir (speed does not depend on weights). Row (a) is measured once, with the first model's
architecture (its safetensors weights, ``--eager-weights``, or random weights).

Usage (from the repository root)::

    python benchmarks/throughput.py                      # the table (takes ~5 minutes)
    python benchmarks/throughput.py --files 10000        # + the 10,000-file memory row
    python benchmarks/throughput.py --limit 50 --rows b,c   # quick smoke run
    python benchmarks/throughput.py --limit 300 --sweep workers=1,2 threads=2 spinning=0,1

Run it on a quiet machine: the table prints the load average before and after.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()  # child processes measure their cold start from here

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
LARGE_SIDES = (1920, 2048, 2240, 2560)
MIX = (("logos32plus", 0.35), ("flickrlogos27", 0.25), ("nologo", 0.20), ("large", 0.20))
MIX_NAMES = tuple(name for name, _ in MIX)


# ---------------------------------------------------------------------------------------------
# children: one measurement each, in a fresh interpreter; print one JSON line


def _peak_rss_mb() -> float:
    """Peak RSS of this process (``VmHWM``).

    Not ``getrusage(...).ru_maxrss``: Linux keeps that across ``fork`` + ``exec``, so a child
    would report at least its parent's peak (here the parent holds the enlarged photos).
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child_eager(job: dict[str, Any]) -> dict[str, Any]:
    """Row (a): the tutorial's loop in eager PyTorch, one photo at a time."""
    import torch

    from logobrand.images import load_image
    from logobrand.inference.config import ModelConfig
    from logobrand.inference.prediction import make_prediction
    from logobrand.models import create_model
    from logobrand.transforms import preprocess

    model_dir = Path(job["model"])
    cfg = ModelConfig.load(model_dir)
    weights: str = ""  # random weights: speed does not depend on them
    if job.get("eager_weights"):
        weights = str(job["eager_weights"])
    elif cfg.weights_file is not None and (model_dir / cfg.weights_file).is_file():
        weights = str(model_dir / cfg.weights_file)
    model = create_model(cfg.architecture, len(cfg.labels), pretrained=weights or False)
    model.eval()
    paths = job["paths"]
    cold = 0.0
    start = time.perf_counter()
    for index, path in enumerate(paths):
        x = torch.from_numpy(preprocess(load_image(path), cfg.preprocessing))[None]
        with torch.no_grad():
            logits = model(x)[0].numpy()
        make_prediction(
            logits,
            cfg.labels,
            temperature=cfg.temperature,
            threshold=cfg.threshold,
            source=path,
        )
        if index == 0:
            cold = time.perf_counter() - _T0
    elapsed = time.perf_counter() - start
    return {
        "photos": len(paths),
        "seconds": elapsed,
        "cold": cold,
        "threads": torch.get_num_threads(),
        "weights": Path(weights).name if weights else "random",
    }


def _load_classifier(job: dict[str, Any]) -> Any:
    from logobrand.inference import LogoClassifier

    kwargs: dict[str, Any] = {}
    if job.get("threads") is not None:
        kwargs["threads"] = job["threads"]
    if job.get("spinning") is not None:
        kwargs["allow_spinning"] = bool(job["spinning"])
    clf = LogoClassifier.from_pretrained(job["model"], **kwargs)
    if job.get("draft") is not None:  # tuning knob for --sweep only
        clf._draft_size = int(job["draft"]) or None
    return clf


def _child_model_only(job: dict[str, Any]) -> dict[str, Any]:
    """Row (b): ONNX Runtime on pre-decoded tensors, batches of ``batch_size``."""
    import numpy as np

    clf = _load_classifier(job)
    paths = job["paths"]
    first = clf.preprocess(paths[0])
    clf.predict_logits(first[None])
    cold = time.perf_counter() - _T0
    size = clf.config.preprocessing.input_size
    tensors = np.empty((len(paths), 3, size, size), dtype=np.float32)
    for index, path in enumerate(paths):
        tensors[index] = clf.preprocess(path)
    batch = job["batch_size"]
    clf.predict_logits(tensors[:batch])  # warm-up at the benchmark's batch shape
    start = time.perf_counter()
    for begin in range(0, len(paths), batch):
        clf.predict_logits(tensors[begin : begin + batch])
    elapsed = time.perf_counter() - start
    return {
        "photos": len(paths),
        "seconds": elapsed,
        "cold": cold,
        "note_mb": tensors.nbytes / 2**20,
    }


def _child_decode(job: dict[str, Any]) -> dict[str, Any]:
    """Where the time goes: decode + preprocess of each photo on one core, no model."""
    from logobrand.images import load_image
    from logobrand.inference.classifier import draft_size
    from logobrand.inference.config import ModelConfig
    from logobrand.transforms import preprocess

    cfg = ModelConfig.load(Path(job["model"]))
    pre = cfg.preprocessing
    decode_ms: dict[str, list[float]] = {}
    for path, kind in zip(job["paths"], job["kinds"], strict=True):
        begin = time.perf_counter()
        preprocess(load_image(path, draft_size=draft_size(pre)), pre)
        decode_ms.setdefault(kind, []).append(1e3 * (time.perf_counter() - begin))
    total = sum(sum(v) for v in decode_ms.values())
    return {
        "photos": len(job["paths"]),
        "seconds": total / 1e3,
        "cold": 0.0,
        "decode_ms": {kind: sum(v) / len(v) for kind, v in decode_ms.items()},
    }


def _child_pipeline(job: dict[str, Any]) -> dict[str, Any]:
    """Row (c): ``logobrand predict DIR`` = iter_image_files + predict_batch, in order."""
    from logobrand.inference.pipeline import iter_image_files

    clf = _load_classifier(job)
    kwargs: dict[str, Any] = {"batch_size": job["batch_size"], "progress": job["progress"]}
    if job.get("workers") is not None:
        kwargs["workers"] = job["workers"]
    _experiments(clf, job)
    start = time.perf_counter()
    results = clf.predict_batch(iter_image_files(job["root"]), **kwargs)
    count = failures = 0
    cold = 0.0
    rss_trace: list[float] = []
    for result in results:
        if count == 0:
            cold = time.perf_counter() - _T0
        count += 1
        failures += not result.ok
        if count % 1000 == 0:
            rss_trace.append(round(_current_rss_mb(), 1))
    elapsed = time.perf_counter() - start
    return {
        "photos": count,
        "failures": failures,
        "seconds": elapsed,
        "cold": cold,
        "rss_trace": rss_trace,
    }


def _decode_in_process(model_dir: str, path: str) -> Any:
    global _PROCESS_CLF
    if _PROCESS_CLF is None:
        from logobrand.inference import LogoClassifier

        _PROCESS_CLF = LogoClassifier.from_pretrained(model_dir, threads=1)
    return _PROCESS_CLF.preprocess(path)


_PROCESS_CLF: Any = None


def _experiments(clf: Any, job: dict[str, Any]) -> None:
    """--sweep only: alternatives that were measured and not adopted (see README)."""
    import functools

    from logobrand.inference import pipeline

    nice = int(job.get("nice") or 0)
    if nice:

        def lower_priority() -> None:  # Linux: per-thread niceness
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)

        import concurrent.futures

        pool_cls = functools.partial(
            concurrent.futures.ThreadPoolExecutor, initializer=lower_priority
        )
        setattr(pipeline, "ThreadPoolExecutor", pool_cls)  # noqa: B010
    if job.get("cv2threads") is not None:
        import cv2

        cv2.setNumThreads(int(job["cv2threads"]))
    procs = int(job.get("procs") or 0)
    if procs:
        import concurrent.futures
        import multiprocessing

        pool = concurrent.futures.ProcessPoolExecutor(
            procs, mp_context=multiprocessing.get_context("forkserver")
        )
        decode = functools.partial(_decode_in_process, job["model"])

        def remote(image: Any) -> Any:
            return pool.submit(decode, str(image)).result()

        clf.preprocess = remote


def child_main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    sys.path.insert(0, str(REPO))
    kind = job["kind"]
    if kind == "eager":
        result = _child_eager(job)
    elif kind == "decode":
        result = _child_decode(job)
    elif kind == "model":
        result = _child_model_only(job)
    else:
        result = _child_pipeline(job)
    result["peak_rss_mb"] = _peak_rss_mb()
    result["torch_imported"] = "torch" in sys.modules
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# parent: photos, model, rows, table


@dataclass
class Photos:
    """The benchmark's photo set."""

    paths: list[str]
    kinds: list[str]
    counts: dict[str, int]
    large_mb: float
    workdir: Path
    links: dict[int, Path] = field(default_factory=dict)

    def folder(self, n_files: int) -> Path:
        """A folder of ``n_files`` symlinks (the photos repeated), as ``logobrand predict`` sees."""
        if n_files in self.links:
            return self.links[n_files]
        root = self.workdir / f"folder-{n_files}"
        if root.exists():
            shutil.rmtree(root)
        chunk = len(self.paths)
        for rep in range((n_files + chunk - 1) // chunk):
            sub = root / f"part{rep:03d}"
            sub.mkdir(parents=True)
            for index, src in enumerate(self.paths[: n_files - rep * chunk]):
                (sub / f"{index:05d}{Path(src).suffix}").symlink_to(src)
        self.links[n_files] = root
        return root


def _sample(rng: Any, items: list[Path], n: int) -> list[Path]:
    if n > len(items):
        raise SystemExit(f"need {n} photos but only {len(items)} were found")
    picked = rng.choice(len(items), size=n, replace=False)
    return [items[int(i)] for i in sorted(picked)]


def prepare_photos(data: Path, limit: int, workdir: Path, seed: int) -> Photos:
    """Pick the real photos and write the enlarged large ones into ``workdir``."""
    import cv2
    import numpy as np
    from PIL import Image

    if not data.is_dir():
        raise SystemExit(f"{data} not found; pass --data (the shared data folder)")
    rng = np.random.default_rng(seed)
    pools = {
        "logos32plus": sorted((data / "logos32plus").glob("*/*.jpg")),
        "flickrlogos27": sorted((data / "flickrlogos27" / "images").glob("*.jpg")),
        "nologo": sorted((data / "nologo").glob("*.jpg")),
    }
    wanted = {name: round(share * limit) for name, share in MIX}
    wanted["nologo"] = limit - sum(v for k, v in wanted.items() if k != "nologo")
    chosen: dict[str, list[Path]] = {}
    for name in ("logos32plus", "flickrlogos27", "nologo"):
        chosen[name] = _sample(rng, pools[name], wanted[name])
    used = set(chosen["flickrlogos27"]) | set(chosen["nologo"])
    spare = [p for p in pools["flickrlogos27"] + pools["nologo"] if p not in used]
    sources = _sample(rng, spare, wanted["large"])
    large_dir = workdir / f"large-{seed}"
    large_dir.mkdir(parents=True, exist_ok=True)
    large: list[Path] = []
    for index, src in enumerate(sources):
        target = large_dir / f"large{index:04d}.jpg"
        large.append(target)
        if target.is_file():
            continue
        rgb = np.asarray(Image.open(src).convert("RGB"))
        height, width = rgb.shape[:2]
        side = LARGE_SIDES[index % len(LARGE_SIDES)]
        scale = side / max(height, width)
        big = cv2.resize(
            rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC
        )
        grain = np.asarray(rng.normal(0.0, 3.0, size=big.shape), dtype=np.float32)
        big = np.clip(big.astype(np.float32) + grain, 0, 255).astype(np.uint8)
        image = Image.fromarray(big)
        exif = Image.Exif()
        if index % 4 == 3:  # stored sideways + orientation tag, like a phone photo
            image = image.transpose(Image.Transpose.ROTATE_90)
            exif[0x0112] = 6
        tmp = target.with_suffix(".tmp")
        image.save(tmp, format="JPEG", quality=90, exif=exif.tobytes())
        os.replace(tmp, target)
    chosen["large"] = large
    tagged = [(str(p), name) for name in chosen for p in chosen[name]]
    order = rng.permutation(len(tagged))
    paths = [tagged[int(i)][0] for i in order]
    kinds = [tagged[int(i)][1] for i in order]
    large_mb = float(np.mean([p.stat().st_size for p in large]) / 1e6) if large else 0.0
    return Photos(paths, kinds, {k: len(v) for k, v in chosen.items()}, large_mb, workdir)


def default_models(workdir: Path) -> list[tuple[Path, str]]:
    """The bundled presets, else an untrained efficientnet_lite0 saved into ``workdir``."""
    sys.path.insert(0, str(REPO))
    from logobrand.inference.classifier import DEFAULT_MODEL_DIR, FAST_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        models = [(DEFAULT_MODEL_DIR, "bundled default (float32)")]
        if (FAST_MODEL_DIR / "config.json").is_file():
            models.append((FAST_MODEL_DIR, "bundled fast (its int8 copy)"))
        if "words" in json.loads((DEFAULT_MODEL_DIR / "config.json").read_text()):
            # a preset name, not a folder: from_pretrained("accurate") reads the brands' names
            models.append((Path("accurate"), "bundled accurate (default + words)"))
        return models
    return [untrained_model(workdir)]


def untrained_model(workdir: Path) -> tuple[Path, str]:
    """An efficientnet_lite0 model dir with an untrained head (speed does not need weights)."""
    target = workdir / "efficientnet_lite0-untrained"
    if not (target / "config.json").is_file():
        print("building an untrained efficientnet_lite0 model dir ...", file=sys.stderr)
        code = (
            "import sys, warnings; warnings.simplefilter('ignore')\n"
            "from logobrand.inference import ModelConfig, save_model_dir\n"
            "from logobrand.data import FLICKRLOGOS32_CLASSES, NO_LOGO\n"
            "from logobrand.models import create_model, get_model_spec\n"
            "labels = tuple(sorted((*FLICKRLOGOS32_CLASSES, NO_LOGO)))\n"
            "model = create_model('efficientnet_lite0', len(labels), pretrained=True)\n"
            "pre = get_model_spec('efficientnet_lite0').preprocessing\n"
            "cfg = ModelConfig(architecture='efficientnet_lite0', labels=labels,"
            " preprocessing=pre, training={'note': 'untrained head, for benchmarks'})\n"
            "save_model_dir(model, sys.argv[1], cfg)\n"
        )
        env = dict(os.environ, PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-c", code, str(target)], check=True, env=env)
    return target, "efficientnet_lite0, untrained head (ImageNet trunk)"


def run_child(job: dict[str, Any], workdir: Path, timeout: float = 3600) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    fd, job_name = tempfile.mkstemp(prefix="job-", suffix=".json", dir=workdir)
    with os.fdopen(fd, "w") as fh:
        json.dump(job, fh)
    env = dict(os.environ, PYTHONPATH=str(REPO))
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


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


@dataclass
class Row:
    """One line of the table."""

    name: str
    model: str
    result: dict[str, Any]
    note: str = ""

    @property
    def rate(self) -> float:
        return float(self.result["photos"]) / float(self.result["seconds"])


def format_table(rows: Sequence[Row]) -> str:
    """The Markdown table; rows are compared with the one (a) row and (b) of the same model."""
    eager_rows = [row.rate for row in rows if row.name.startswith("(a)")]
    base = {(row.model, "(b)"): row.rate for row in rows if row.name.startswith("(b)")}
    lines = [
        "| row | photos/s | vs (a) | % of (b) | peak RSS | cold start | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        eager = eager_rows[0] if eager_rows and not row.name.startswith("(a)") else None
        ceiling = base.get((row.model, "(b)")) if not row.name.startswith("(b)") else None
        vs_a = f"{row.rate / eager:.1f}x" if eager else "–"
        of_b = f"{100 * row.rate / ceiling:.0f}%" if ceiling else "–"
        lines.append(
            f"| {row.name} | {row.rate:.1f} | {vs_a} | {of_b} | "
            f"{row.result['peak_rss_mb']:.0f} MB | {row.result['cold']:.2f} s | {row.note} |"
        )
    return "\n".join(lines)


SWEEP_KEYS = ("workers", "threads", "spinning", "batch", "draft", "nice", "procs", "cv2threads")


def parse_sweep(items: Sequence[str]) -> list[dict[str, Any]]:
    keys: list[str] = []
    values: list[list[Any]] = []
    for item in items:
        key, _, text = item.partition("=")
        if key not in SWEEP_KEYS or not text:
            raise SystemExit(
                f"bad --sweep item {item!r}; use KEY=V1,V2 with KEY in {', '.join(SWEEP_KEYS)}"
            )
        keys.append(key)
        values.append([int(v) for v in text.split(",")])
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        type=Path,
        default=[],
        help="model directory (repeatable; default: bundled or untrained)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--eager-weights",
        type=Path,
        default=None,
        help="safetensors for row (a) when the model dir has none (default: random weights)",
    )
    parser.add_argument("--limit", type=int, default=1000, help="photos per row (default 1000)")
    parser.add_argument("--rows", default="a,b,c", help="which rows: any of a,b,c")
    parser.add_argument(
        "--files",
        type=int,
        default=0,
        help="add the (c) row over a folder of this many files (e.g. 10000)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batch size of (b) and (c) (default: predict_batch's default)",
    )
    parser.add_argument("--workers", type=int, default=None, help="decode threads of (c)")
    parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads")
    parser.add_argument("--no-progress", action="store_true", help="(c) without a progress bar")
    parser.add_argument(
        "--sweep",
        nargs="+",
        default=None,
        metavar="KEY=V1,V2",
        help="tune row (c): workers, threads, spinning, batch, draft (0=off)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep generated photos/models here between runs (default: temp)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    args = parser.parse_args(argv)

    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="logobrand-bench-")
        workdir = Path(temp.name)
    else:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(args, workdir)
    finally:
        if temp is not None:
            temp.cleanup()


def _default_batch_size() -> int:
    sys.path.insert(0, str(REPO))
    from logobrand.inference.classifier import DEFAULT_BATCH_SIZE

    return DEFAULT_BATCH_SIZE


def run(args: argparse.Namespace, workdir: Path) -> None:
    load_before = load_average()
    photos = prepare_photos(args.data.resolve(), args.limit, workdir, args.seed)
    models = [(m.resolve(), m.name) for m in args.model] or default_models(workdir)
    batch = args.batch_size or _default_batch_size()
    base: dict[str, Any] = {
        "paths": photos.paths,
        "kinds": photos.kinds,
        "eager_weights": str(args.eager_weights.resolve()) if args.eager_weights else None,
        "batch_size": batch,
        "threads": args.threads,
        "workers": args.workers,
        "progress": not args.no_progress,
    }
    raw: list[dict[str, Any]] = []

    if args.sweep:
        model_dir, _ = models[0]
        lines = [
            "| workers | threads | spinning | batch | draft | nice | procs | cv2 threads "
            "| photos/s | peak RSS |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        root = photos.folder(len(photos.paths))
        for combo in parse_sweep(args.sweep):
            job = {
                **base,
                "kind": "pipeline",
                "model": str(model_dir),
                "root": str(root),
                "batch_size": combo.get("batch", batch),
                "workers": combo.get("workers", args.workers),
                "threads": combo.get("threads", args.threads),
                "spinning": combo.get("spinning"),
                "draft": combo.get("draft"),
                "nice": combo.get("nice"),
                "procs": combo.get("procs"),
                "cv2threads": combo.get("cv2threads"),
            }
            result = run_child(job, workdir)
            rate = result["photos"] / result["seconds"]
            cells = [
                job["workers"],
                job["threads"],
                job["spinning"],
                job["batch_size"],
                job["draft"],
                job["nice"],
                job["procs"],
                job["cv2threads"],
            ]
            text = " | ".join("default" if c is None else str(c) for c in cells)
            lines.append(f"| {text} | {rate:.1f} | {result['peak_rss_mb']:.0f} MB |")
            print(lines[-1], file=sys.stderr, flush=True)
            raw.append({"combo": combo, **result})
        print(
            f"\nSweep of row (c), {len(photos.paths)} photos, load before: {load_before}, "
            f"after: {load_average()}\n"
        )
        print("\n".join(lines))
        if args.json:
            args.json.write_text(json.dumps(raw, indent=1))
        return

    wanted = set(args.rows.split(","))
    rows: list[Row] = []
    decode = None
    if "c" in wanted:
        print("measuring decode + preprocess alone ...", file=sys.stderr, flush=True)
        decode = run_child({**base, "kind": "decode", "model": str(models[0][0])}, workdir)
    for index, (model_dir, _label) in enumerate(models):
        tag = f" [{model_dir.name}]" if len(models) > 1 else ""
        for row_key in ("a", "b", "c"):
            if row_key not in wanted or (row_key == "a" and index > 0):
                continue  # one eager row: its speed does not depend on the preset
            if row_key != "c" and str(model_dir) == "accurate":
                continue  # reading names is a pipeline setting: rows (a), (b) = default's
            name = f"({row_key}){tag}"
            job = {**base, "model": str(model_dir)}
            if row_key == "a":
                job["kind"] = "eager"
                note = "eager PyTorch, 1 photo at a time, full decode"
            elif row_key == "b":
                job["kind"] = "model"
                job["spinning"] = 1  # nothing else needs the cores: spinning is faster
                note = f"ONNX Runtime on pre-decoded tensors, batch {batch}"
            else:
                job["kind"] = "pipeline"
                job["root"] = str(photos.folder(len(photos.paths)))
                note = f"predict_batch over a folder of {len(photos.paths):,}, batch {batch}"
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            result = run_child(job, workdir)
            if result.get("failures"):
                note += f", {result['failures']} failures"
            if row_key == "b":
                note += f" (RSS includes the {result['note_mb']:.0f} MB of tensors)"
            if row_key == "a":
                note += f", torch threads {result['threads']}, weights: {result['weights']}"
            elif result["torch_imported"]:
                note += ", WARNING: torch was imported"
            rows.append(Row(name, str(model_dir), result, note))
            raw.append({"row": name, **result})
        if args.files and "c" in wanted:
            name = f"(c) x {args.files:,} files{tag}"
            job = {
                **base,
                "model": str(model_dir),
                "kind": "pipeline",
                "root": str(photos.folder(args.files)),
            }
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            result = run_child(job, workdir, timeout=7200)
            trace = result["rss_trace"]
            note = f"{result['photos']:,} files (the photos linked repeatedly)"
            if trace:
                note += (
                    f"; RSS after 1k/5k/10k files: {trace[0]:.0f}/"
                    f"{trace[len(trace) // 2 - 1]:.0f}/{trace[-1]:.0f} MB"
                )
            rows.append(Row(name, str(model_dir), result, note))
            raw.append({"row": name, **result})

    counts = photos.counts
    print()
    print(
        f"Throughput, {len(photos.paths):,} photos, one run, "
        f"{os.cpu_count()} CPU cores; load average before: {load_before}, after: "
        f"{load_average()}."
    )
    print(f"Model: {', '.join(f'{d} ({label})' for d, label in models)}.")
    print(
        f"Photos: {counts['logos32plus']} Logos-32plus (224 px), {counts['flickrlogos27']} "
        f"FlickrLogos-27 (~500 px Flickr), {counts['nologo']} no-logo (~500 px), "
        f"{counts['large']} large 1920-2560 px JPEGs made by enlarging real photos from "
        f"../shared/data (bicubic + grain, q90, mean {photos.large_mb:.2f} MB, 1 in 4 "
        "EXIF-rotated)."
    )
    print()
    print(format_table(rows))
    if decode is not None:
        ms = decode["decode_ms"]
        parts = ", ".join(f"{kind} {ms[kind]:.2f}" for kind in MIX_NAMES if kind in ms)
        ceiling = next((row for row in rows if row.name.startswith("(b)")), None)
        model = f"; model alone (b): {1e3 / ceiling.rate:.2f} ms" if ceiling else ""
        print(
            f"\nWhere the time goes, ms per photo: decode + preprocess on one core: {parts}; "
            f"mean {1e3 * decode['seconds'] / decode['photos']:.2f}{model} (wall, "
            f"{os.cpu_count()} threads)."
        )
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
    else:
        main()
