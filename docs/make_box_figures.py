"""Draw the example figure of ``docs/boxes.rst`` into ``docs/_static/figures/``.

``boxes_examples.jpg``
    Three FlickrLogos-27 photos of the benchmark's *test* part (subsets 4-6, never used to
    choose the threshold), each drawn by :func:`logobrand.inference.boxes.draw_boxes` from
    ``predict(photo, boxes=True)`` (red), with the annotated boxes added in green. Picked
    automatically, in file-name order: the first with a large logo found (IoU >= 0.7), the
    first with a logo smaller than a tenth of the photo found (IoU >= 0.5), and the first
    whose brand is right but whose box is wrong (IoU < 0.3), so that the page shows a failure
    too. Photos come from ``../shared/data`` and are written only into the git-ignored
    figures folder, never into the repository.

Usage::

    python docs/make_box_figures.py --model runs/lite0-nofl27-boxes

Needs only the core install (no matplotlib, no torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from logobrand._io import atomic_write_bytes
from logobrand.data import FlickrLogos27Dataset, Sample, canonical_class_name
from logobrand.images import load_image
from logobrand.inference import LogoClassifier, Prediction
from logobrand.inference.boxes import box_iou, draw_boxes

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "_static" / "figures"
TILE_HEIGHT = 300


def _benchmark() -> ModuleType:
    """``benchmarks/localization.py``: the same brands and the same split."""
    path = ROOT / "benchmarks" / "localization.py"
    spec = importlib.util.spec_from_file_location("localization_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tile(sample: Sample, prediction: Prediction) -> np.ndarray:
    photo = load_image(sample.path)
    drawn = draw_boxes(photo, prediction)
    line = max(2, round(max(photo.shape[:2]) / 250))
    for b in sample.boxes:
        p1 = (round(b.x1), round(b.y1))
        p2 = (round(b.x2) - 1, round(b.y2) - 1)
        cv2.rectangle(drawn, p1, p2, (40, 200, 40), line)
    scale = TILE_HEIGHT / drawn.shape[0]
    size = (round(drawn.shape[1] * scale), TILE_HEIGHT)
    return cv2.resize(drawn, size, interpolation=cv2.INTER_AREA)


def pick_examples(clf: LogoClassifier, samples: Sequence[Sample]) -> list[Sample]:
    """Three test photos: a large logo found, a small logo found, a wrong box."""
    wanted: dict[str, Sample] = {}
    for sample in sorted(samples, key=lambda s: s.path.name):
        pred = clf.predict(sample.path, boxes=True)
        if pred.brand != sample.label or not pred.boxes or pred.image_size is None:
            continue
        w, h = pred.image_size
        top = pred.boxes[0].xyxy
        truth = [(b.x1, b.y1, b.x2, b.y2) for b in sample.boxes]
        best = max(box_iou(top, t) for t in truth)
        share = max((t[2] - t[0]) * (t[3] - t[1]) for t in truth) / (w * h)
        if best >= 0.7 and share >= 0.2:
            wanted.setdefault("large", sample)
        elif best >= 0.5 and share < 0.1:
            wanted.setdefault("small", sample)
        elif best < 0.3:
            wanted.setdefault("wrong", sample)
        if len(wanted) == 3:
            break
    return [wanted[k] for k in ("large", "small", "wrong") if k in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "lite0-nofl27-boxes")
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=OUT, help="figures folder")
    args = parser.parse_args(argv)
    folder = args.data_root / "flickrlogos27"
    if not folder.is_dir():
        print(f"{folder} is missing: no box figures drawn", file=sys.stderr)
        return 0
    bench = _benchmark()
    data = FlickrLogos27Dataset(
        folder, brands=bench.SHARED_BRANDS, name_map=canonical_class_name, include_none=False
    )
    parts = bench.split_parts(args.data_root, data.samples)
    test = [s for s, part in zip(data.samples, parts, strict=True) if part == "test"]
    clf = LogoClassifier.from_pretrained(args.model)
    chosen = pick_examples(clf, test)
    if not chosen:
        print("no example photo found: no box figure drawn", file=sys.stderr)
        return 0
    tiles = [_tile(s, clf.predict(s.path, boxes=True)) for s in chosen]
    gap = np.full((TILE_HEIGHT, 8, 3), 255, np.uint8)
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    ok, data_jpg = cv2.imencode(
        ".jpg", cv2.cvtColor(row, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88]
    )
    if not ok:
        print("cannot encode the figure", file=sys.stderr)
        return 1
    path = atomic_write_bytes(args.out / "boxes_examples.jpg", data_jpg.tobytes())
    names = ", ".join(f"{s.path.name} ({s.label})" for s in chosen)
    print(f"wrote {path}: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
