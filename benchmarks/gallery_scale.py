"""Gallery scale benchmark: predict_batch speed with 0 to 5,000 gallery brands.

Prints one table from one run. Each cell is a fresh subprocess that loads a copy of the model
with a synthetic gallery, predicts ``--photos`` photos once to warm up, then times
``list(clf.predict_batch(paths))`` twice and keeps the faster run (ms per photo, the library's
defaults: batch size 4, all cores).

Gallery: ``box_crops`` (the bundled models' default kind: 3 embeddings per photo), 5
references per brand, whitened to 512 dimensions like a calibrated gallery, ``reduce="mean"``
(one prototype per brand) or ``"max"`` (every reference). The references are random vectors:
matching costs the same whatever they hold, and a random gallery never matches, so every row
does the same work apart from the matching.

Columns, measured side by side (the cells alternate):

* "BLAS 1 thread": the shipped code; the two matrix products of matching
  (:func:`~logobrand.inference.gallery.matmul_one_thread`) run on the calling thread.
* "BLAS default": the same two products as a plain ``a @ b`` with numpy's default BLAS
  threads. On a machine with several cores BLAS worker threads spin after each product,
  beside ONNX Runtime's threads. "ratio" = BLAS default / BLAS 1 thread.

Then a second table: matching the text lines OCR read in a photo against every brand's
texts (:class:`~logobrand.inference.text.TextIndex`, what a gallery with texts does for each
photo it reads), with the simple-icons brand titles as texts and 4 lines per photo (one of
them names a brand), against checking :func:`~logobrand.inference.text.line_matches` brand by
brand (the rule the index implements). Pure Python, one thread, best of 3.

Usage::

    python benchmarks/gallery_scale.py --data-root ../shared/data
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROWS = ((0, "mean"), (13, "mean"), (1000, "mean"), (5000, "mean"), (1000, "max"))
REFERENCES = 5


def child(model: str, photos: list[str], default_blas: bool) -> float:
    """ms per photo of the faster of two timed predict_batch runs (in this process)."""
    from logobrand import LogoClassifier
    from logobrand.inference import gallery as gallery_module

    if default_blas:
        gallery_module.matmul_one_thread = lambda a, b: a @ b  # type: ignore[assignment]
    clf = LogoClassifier.from_pretrained(model)
    list(clf.predict_batch(photos))
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        results = list(clf.predict_batch(photos))
        best = min(best, time.perf_counter() - started)
        assert len(results) == len(photos)
    return 1000 * best / len(photos)


def make_model(base: Path, out: Path, brands: int, reduce: str) -> None:
    """Copy ``base`` with a random whitened box-crops gallery of ``brands`` brands."""
    from logobrand import LogoClassifier
    from logobrand.inference.gallery import BOX_CROPS, CROP_BOXES, Gallery

    shutil.copytree(base, out)
    if brands == 0:
        return
    rng = np.random.default_rng(0)
    dim = 1280
    gallery = Gallery(
        dim,
        brands=[f"brand{i}" for i in range(brands)],
        references=rng.standard_normal((brands * REFERENCES * CROP_BOXES, dim), np.float32),
        counts=[REFERENCES] * brands,
        kind=BOX_CROPS,
        reduce=reduce,
        center=rng.standard_normal(dim, np.float32),
        projection=rng.standard_normal((dim, 512), np.float32) / np.sqrt(dim),
        threshold=0.99,
    )
    clf = LogoClassifier.from_pretrained(out)
    clf._gallery = gallery
    clf.save_pretrained(out)


def text_matching_rows(data_root: Path) -> list[tuple[int, float, float]]:
    """``(brands, index ms per photo, brand-by-brand ms per photo)`` for 13 to all brands."""
    from logobrand.inference.text import TextIndex, line_matches, text_key

    index_file = data_root / "brand-art" / "simple-icons" / "simple-icons.json"
    entries = json.loads(index_file.read_text(encoding="utf-8"))
    titles = [[e["title"]] for e in entries if isinstance(e, dict) and "title" in e]
    lines = [
        ("Welcome to the Vodafone store on main street", 0.95),
        ("OPEN 24 HOURS", 0.9),
        ("www.example.com", 0.8),
        ("SALE 50%", 0.92),
    ]
    rows = []
    for brands in (13, 1000, len(titles)):
        texts = titles[:brands]
        index = TextIndex(texts)
        keys = [[text_key(t) for t in ts] for ts in texts]
        timed = []
        for find in (
            lambda index=index: [index.brands_in(line) for line, _ in lines],
            lambda keys=keys: [
                [any(line_matches(line, k) for k in ks) for ks in keys] for line, _ in lines
            ],
        ):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                find()
                best = min(best, time.perf_counter() - started)
            timed.append(1000 * best)
        rows.append((brands, timed[0], timed[1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "logobrand" / "_default"))
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(child(job["model"], job["photos"], job["default_blas"])))
        return 0

    photos = sorted(str(p) for p in (Path(args.data_root) / "nologo").glob("*.jpg"))
    photos = photos[: args.photos]
    if len(photos) < args.photos:
        print(f"need {args.photos} photos in {args.data_root}/nologo, found {len(photos)}")
        return 2
    print(
        f"cores: {os.cpu_count()}; model {args.model}; {len(photos)} photos; box-crops "
        f"galleries of random references, {REFERENCES} per brand, whitened to 512 dims\n"
    )
    print("| gallery brands | reduce | BLAS 1 thread (shipped) | BLAS default | ratio |")
    print("|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for brands, reduce in ROWS:
            model = Path(tmp) / f"model-{brands}-{reduce}"
            make_model(Path(args.model), model, brands, reduce)
            times = {}
            for default_blas in (False, True):
                job = {"model": str(model), "photos": photos, "default_blas": default_blas}
                out = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps(job)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                times[default_blas] = float(out.stdout.strip().splitlines()[-1])
            label = f"{brands:,}" if brands else "none"
            print(
                f"| {label} | {reduce if brands else '-'} | {times[False]:.1f} ms | "
                f"{times[True]:.1f} ms | {times[True] / times[False]:.2f} |",
                flush=True,
            )
    print("\nText matching, 4 OCR lines per photo, simple-icons titles as the brands' texts:\n")
    print("| brands with texts | TextIndex (shipped) | line_matches brand by brand |")
    print("|---:|---:|---:|")
    for brands, fast, slow in text_matching_rows(Path(args.data_root)):
        print(f"| {brands:,} | {fast:.2f} ms | {slow:.1f} ms |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
