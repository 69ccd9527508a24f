"""Localisation benchmark: logo boxes from the class activation map, against ground truth.

One run prints one table. Photos: the FlickrLogos-27 training photos of the 14 brands it shares
with FlickrLogos-32 (adidas apple bmw cocacola dhl fedex ferrari ford google HP heineken pepsi
starbucks texaco), with their annotated boxes, plus FlickrLogos-27's no-logo photos. Use a model
trained WITHOUT FlickrLogos-27 (e.g. ``runs/lite0-nofl27``), so that every photo is new to it.

Split (no photo on both sides): the annotation file puts every image in nested subsets 1-6; an
image belongs to the first subset it appears in. Images of subsets 1-3 are the *validation*
part, used only to choose the box threshold; subsets 4-6 are the *test* part, where everything
in the table is measured. Byte-identical photos (same SHA-256) go together, to the side of the
lowest subset among them; an image name is one photo, so it is never on both sides. The no-logo
photos (no subset) are split in half by a seeded shuffle of their SHA-256 groups.

Metrics (test part):

* CorLoc, true brand: the fraction of logo photos whose top box, taken on the activation map of
  the photo's *true* brand, has IoU >= 0.5 with one of its ground-truth boxes (weakly supervised
  localisation's usual figure; it measures the boxes alone).
* CorLoc, end to end: the same, with the boxes of the brand the model ranks first among the
  brands, counted as a hit only when that brand is the true one.
* mAP@0.5: mean over the 14 brands of the average precision (PASCAL VOC, all points) of the
  detections: every box of every test photo (no-logo photos included), labelled with the brand
  the model ranks first, scored as ``LogoBox.score``. Detections of the model's 18 other brands
  count for none of the 14 (they miss).
* Baselines, with the same brand and score: the whole photo as the box, and a centred box of
  the mean relative ground-truth size of the validation part.
* Added time per photo: ``predict`` vs ``predict(boxes=True)`` (one photo per call) and
  ``predict_batch`` with and without boxes, interleaved, best of three rounds.

Usage::

    python benchmarks/localization.py --model runs/lite0-nofl27 --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logobrand._io import atomic_write_json
from logobrand.data import NO_LOGO, FlickrLogos27Dataset, Sample, canonical_class_name
from logobrand.data.flickrlogos27 import TRAINING_FILE
from logobrand.images import load_image
from logobrand.inference import LogoClassifier
from logobrand.inference.boxes import (
    DEFAULT_BOX_THRESHOLD,
    DEFAULT_HEAD_THRESHOLD,
    DEFAULT_INTERPOLATION,
    DEFAULT_VOTE_IOU,
    box_iou,
    cam_boxes,
    corloc,
    forward_with_box_maps,
    forward_with_cells,
    head_boxes,
    make_boxes,
    mean_average_precision,
)
from logobrand.inference.prediction import softmax
from logobrand.transforms import preprocess

ROOT = Path(__file__).resolve().parents[1]
SHARED_BRANDS = [
    "adidas", "apple", "bmw", "cocacola", "dhl", "fedex", "ferrari",
    "ford", "google", "HP", "heineken", "pepsi", "starbucks", "texaco",
]  # fmt: skip
CANDIDATE_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
CANDIDATE_INTERPOLATIONS = ("linear", "cubic")
CANDIDATE_HEAD_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
CANDIDATE_VOTE_IOUS = (None, 0.3, 0.4, 0.5, 0.6, 0.7)
SIZE_BINS = ((0.0, 0.03), (0.03, 0.1), (0.1, 0.3), (0.3, 1.01))
"""Bins of the share of the photo covered by its largest ground-truth box (CorLoc by size)."""
Box4 = tuple[float, float, float, float]


@dataclass
class Photo:
    """One photo with the model's outputs on it."""

    sample: Sample
    size: tuple[int, int]  # width, height
    probs: np.ndarray  # (C,) calibrated probabilities
    cells: np.ndarray  # (C, h, w)
    maps: np.ndarray | None  # (5, h', w') box head output, when the model has a head

    @property
    def truths(self) -> list[Box4]:
        return [(b.x1, b.y1, b.x2, b.y2) for b in self.sample.boxes]


def split_parts(data_root: Path, samples: Sequence[Sample], seed: int = 0) -> list[str]:
    """``"val"`` or ``"test"`` per sample (see the module docstring)."""
    folder = data_root / "flickrlogos27"
    first: dict[str, int] = {}
    for line in (folder / TRAINING_FILE).read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 7:
            first[fields[0]] = min(first.get(fields[0], 99), int(fields[2]))
    digest = [hashlib.sha256(s.path.read_bytes()).hexdigest() for s in samples]
    group_subset: dict[str, int] = {}
    for s, d in zip(samples, digest, strict=True):
        if s.path.name in first:
            group_subset[d] = min(group_subset.get(d, 99), first[s.path.name])
    no_subset = sorted({d for d in digest if d not in group_subset})
    order = np.random.default_rng(seed).permutation(len(no_subset))
    for rank, k in enumerate(order):
        group_subset[no_subset[k]] = 1 if rank < len(no_subset) // 2 else 6
    return ["val" if group_subset[d] <= 3 else "test" for d in digest]


def run_model(clf: LogoClassifier, samples: Sequence[Sample], batch: int = 32) -> list[Photo]:
    """Decode each photo at full size (as ``predict(boxes=True)`` does) and run the model."""
    pre = clf.config.preprocessing
    photos: list[Photo] = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        pixels = [load_image(s.path) for s in chunk]
        x = np.stack([preprocess(p, pre) for p in pixels])
        rows, cells = forward_with_cells(clf, x)
        maps = forward_with_box_maps(clf, x)[1] if clf.box_head is not None else [None] * len(x)
        probs = softmax(rows[:, : len(clf.labels)], clf.config.temperature)
        for s, p, pr, c, m in zip(chunk, pixels, probs, cells, maps, strict=True):
            photos.append(Photo(s, (p.shape[1], p.shape[0]), pr, c, m))
        print(f"  model: {len(photos)}/{len(samples)} photos", file=sys.stderr, flush=True)
    return photos


def top_brand(photo: Photo, labels: list[str]) -> tuple[int, float]:
    """The brand the model ranks first (``no-logo`` excluded) and its probability."""
    masked = photo.probs.copy()
    masked[labels.index(NO_LOGO)] = -1.0
    best = int(np.argmax(masked))
    return best, float(photo.probs[best])


def method_boxes(
    method: str, photo: Photo, index: int, label: str, prob: float, params: dict[str, Any]
) -> list[tuple[Box4, float]]:
    """``(box, score)`` pairs of ``method`` for the brand at ``index``, strongest first."""
    w, h = photo.size
    if method == "whole":
        return [((0.0, 0.0, float(w), float(h)), prob)]
    if method == "centred":
        rw, rh = params["mean_size"]
        return [(((1 - rw) * w / 2, (1 - rh) * h / 2, (1 + rw) * w / 2, (1 + rh) * h / 2), prob)]
    if method == "head":
        assert photo.maps is not None
        found_head = head_boxes(
            photo.maps, (w, h), threshold=params["head_threshold"], vote_iou=params["vote_iou"]
        )
        return [((x1, y1, x2, y2), prob * strength) for x1, y1, x2, y2, strength in found_head]
    boxes = make_boxes(
        photo.cells,
        index,
        label,
        prob,
        (w, h),
        threshold=params["threshold"],
        interpolation=params["interpolation"],
    )
    found = [(b.xyxy, b.score) for b in boxes]
    if method == "zoom" and found:
        found[0] = (params["refine"](photo, index, found[0][0]), found[0][1])
    return found


def zoom_refiner(
    clf: LogoClassifier, threshold: float, interpolation: str, expand: float = 1.25
) -> Any:
    """Experimental second pass: re-run the model on the top box, enlarged, and re-box it."""
    pre = clf.config.preprocessing
    cache: dict[tuple[Path, int], Box4] = {}

    def refine(photo: Photo, index: int, box: Box4) -> Box4:
        key = (photo.sample.path, index)
        if key not in cache:
            w, h = photo.size
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            bw, bh = (box[2] - box[0]) * expand, (box[3] - box[1]) * expand
            x1, y1 = max(0, int(cx - bw / 2)), max(0, int(cy - bh / 2))
            x2, y2 = min(w, int(np.ceil(cx + bw / 2))), min(h, int(np.ceil(cy + bh / 2)))
            crop = load_image(photo.sample.path)[y1:y2, x1:x2]
            _, cells = forward_with_cells(clf, preprocess(crop, pre)[None])
            inner = cam_boxes(
                cells[0, index],
                (x2 - x1, y2 - y1),
                threshold=threshold,
                interpolation=interpolation,
            )
            if inner:
                a = inner[0]
                cache[key] = (a[0] + x1, a[1] + y1, a[2] + x1, a[3] + y1)
            else:
                cache[key] = box
        return cache[key]

    return refine


def score_method(
    method: str, photos: Sequence[Photo], labels: list[str], params: dict[str, Any]
) -> dict[str, float]:
    """CorLoc (true brand, end to end) and mAP@0.5 of one method on ``photos``."""
    logo = [p for p in photos if p.sample.label != NO_LOGO]
    given: list[Box4 | None] = []
    e2e: list[Box4 | None] = []
    detections: list[tuple[int, str, float, Box4]] = []
    for k, p in enumerate(photos):
        best, prob = top_brand(p, labels)
        found = method_boxes(method, p, best, labels[best], prob, params)
        detections += [(k, labels[best], score, box) for box, score in found]
        if p.sample.label == NO_LOGO:
            continue
        true = labels.index(p.sample.label)
        mine = method_boxes(method, p, true, p.sample.label, float(p.probs[true]), params)
        given.append(mine[0][0] if mine else None)
        e2e.append(found[0][0] if found and best == true else None)
    truths = {k: [(p.sample.label, b) for b in p.truths] for k, p in enumerate(photos)}
    m_ap, per_class = mean_average_precision(detections, truths, SHARED_BRANDS)
    share = [max((b[2] - b[0]) * (b[3] - b[1]) for b in p.truths) / (p.size[0] * p.size[1])
             for p in logo]  # fmt: skip
    by_size = {}
    for lo, hi in SIZE_BINS:
        pick = [i for i, a in enumerate(share) if lo <= a < hi]
        if pick:
            hit = corloc([given[i] for i in pick], [logo[i].truths for i in pick])
            by_size[f"{lo:g}-{min(hi, 1):g}"] = (hit, len(pick))
    return {
        "corloc_by_size": by_size,  # type: ignore[dict-item]
        "corloc_true_brand": corloc(given, [p.truths for p in logo]),
        "corloc_end_to_end": corloc(e2e, [p.truths for p in logo]),
        "map50": m_ap,
        "ap_per_class": per_class,  # type: ignore[dict-item]
        "boxes_per_photo": len(detections) / len(photos),
    }


def time_predict(clf: LogoClassifier, paths: Sequence[Path], rounds: int = 3) -> dict[str, float]:
    """ms/photo of predict and predict_batch, with and without boxes (interleaved, best round)."""
    for p in paths[:3]:  # warm-up
        clf.predict(p)
        clf.predict(p, boxes=True)
    single: dict[bool, list[float]] = {False: [], True: []}
    batch: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        spent = {False: 0.0, True: 0.0}
        for p in paths:
            for boxes in (False, True):
                t = time.perf_counter()
                clf.predict(p, boxes=boxes)
                spent[boxes] += time.perf_counter() - t
        for boxes in (False, True):
            single[boxes].append(1000 * spent[boxes] / len(paths))
            t = time.perf_counter()
            n = sum(1 for r in clf.predict_batch(paths, boxes=boxes) if r.ok)
            batch[boxes].append(1000 * (time.perf_counter() - t) / n)
    return {
        "predict_ms": min(single[False]),
        "predict_boxes_ms": min(single[True]),
        "batch_ms": min(batch[False]),
        "batch_boxes_ms": min(batch[True]),
        "rounds": rounds,
        "photos": len(paths),
    }


def check_api_matches(
    clf: LogoClassifier, photos: Sequence[Photo], method: str, params: dict[str, Any]
) -> int:
    """Count photos where ``predict_batch(boxes=True)`` differs from the benchmark's boxes."""
    labels = list(clf.labels)
    anyone = clf.with_calibration(threshold=0.0)  # top-ranked brand always reported
    results = anyone.predict_batch([p.sample.path for p in photos], boxes=True)
    bad = 0
    for photo, result in zip(photos, results, strict=True):
        best, prob = top_brand(photo, labels)
        mine = method_boxes(method, photo, best, labels[best], prob, params)
        theirs = [(b.xyxy, b.score) for b in getattr(result, "boxes", ())]
        same = len(mine) == len(theirs) and all(
            box_iou(a[0], b[0]) > 0.999 and abs(a[1] - b[1]) < 1e-4
            for a, b in zip(mine, theirs, strict=True)
        )
        bad += not same
    return bad


def otherlogos_recall(
    clf: LogoClassifier,
    data_root: Path,
    *,
    threshold: float,
    vote_iou: float | None,
    batch: int = 32,
) -> dict[str, float]:
    """Class-agnostic recall of the ``otherlogos`` test part's boxes at IoU 0.5.

    A ground-truth box is found when any box of the head (whatever brand it would be given)
    overlaps it by IoU >= 0.5. Every photo of the test part with boxes is used.
    """
    from logobrand.data import otherlogos_splits

    _, _, test = otherlogos_splits(data_root / "otherlogos")
    boxed = [s for s in test if s.boxes]
    found = total = predicted = 0
    top_found = 0
    for start in range(0, len(boxed), batch):
        chunk = boxed[start : start + batch]
        pixels = [load_image(s.path) for s in chunk]
        x = np.stack([preprocess(p, clf.config.preprocessing) for p in pixels])
        maps = forward_with_box_maps(clf, x)[1]
        for sample, photo, m in zip(chunk, pixels, maps, strict=True):
            size = (photo.shape[1], photo.shape[0])
            boxes = head_boxes(m, size, threshold=threshold, vote_iou=vote_iou)
            predicted += len(boxes)
            truths = [(b.x1, b.y1, b.x2, b.y2) for b in sample.boxes]
            for truth in truths:
                total += 1
                found += any(box_iou(b[:4], truth) >= 0.5 for b in boxes)
            top_found += any(box_iou(boxes[0][:4], t) >= 0.5 for t in truths) if boxes else 0
    return {
        "photos": len(boxed),
        "boxes": total,
        "recall50": found / max(1, total),
        "top_box_hit": top_found / max(1, len(boxed)),
        "boxes_per_photo": predicted / max(1, len(boxed)),
    }


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "runs" / "lite0-nofl27-boxes")
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    parser.add_argument("--timing-photos", type=int, default=100, help="photos timed per round")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)

    clf = LogoClassifier.from_pretrained(args.model, threads=args.threads)
    labels = list(clf.labels)
    missing = [b for b in SHARED_BRANDS if b not in labels]
    if missing:
        parser.error(f"the model does not know {missing}; use a FlickrLogos-32 brand model")
    data = FlickrLogos27Dataset(
        args.data_root / "flickrlogos27", brands=SHARED_BRANDS, name_map=canonical_class_name
    )
    if data.problems:
        print(
            f"FlickrLogos-27: {len(data.problems)} annotation problem(s) skipped:", file=sys.stderr
        )
        for problem in data.problems:
            print(f"  {problem}", file=sys.stderr)
    parts = split_parts(args.data_root, data.samples)
    photos = run_model(clf, data.samples)
    val = [p for p, part in zip(photos, parts, strict=True) if part == "val"]
    test = [p for p, part in zip(photos, parts, strict=True) if part == "test"]
    val_logo = [p for p in val if p.sample.label != NO_LOGO]
    rel = np.array(
        [((b[2] - b[0]) / p.size[0], (b[3] - b[1]) / p.size[1]) for p in val_logo for b in p.truths]
    )
    mean_size = (float(rel[:, 0].mean()), float(rel[:, 1].mean()))

    # 1. choose the box threshold and the upsampling on the validation part
    choice = []
    for interp in CANDIDATE_INTERPOLATIONS:
        for t in CANDIDATE_THRESHOLDS:
            s = score_method("cam", val, labels, {"threshold": t, "interpolation": interp})
            choice.append((s["corloc_true_brand"], s["map50"], t, interp))
    best_corloc, _, chosen, interp = max(choice, key=lambda c: (c[0], c[1]))
    zoom_choice = []
    for t in (0.2, 0.3, 0.4):
        zp = {"threshold": chosen, "interpolation": interp, "refine": zoom_refiner(clf, t, interp)}
        zoom_choice.append((score_method("zoom", val, labels, zp)["corloc_true_brand"], t))
    _, zoom_t = max(zoom_choice)
    vote_choice = []
    head_choice = []
    vote = DEFAULT_VOTE_IOU
    if clf.box_head is not None:
        # box voting moves the boxes: CorLoc decides (then mAP), at the default threshold
        for v in CANDIDATE_VOTE_IOUS:
            vp = {"head_threshold": DEFAULT_HEAD_THRESHOLD, "vote_iou": v}
            s = score_method("head", val, labels, vp)
            vote_choice.append((s["corloc_true_brand"], s["map50"], v))
        vote = max(vote_choice, key=lambda c: (c[0], c[1]))[2]
        # the threshold only adds or drops weaker boxes: mAP decides
        for t in CANDIDATE_HEAD_THRESHOLDS:
            s = score_method("head", val, labels, {"head_threshold": t, "vote_iou": vote})
            head_choice.append((s["map50"], s["corloc_true_brand"], t))
    head_t = DEFAULT_HEAD_THRESHOLD
    if head_choice:  # the highest threshold (fewest boxes) within 0.005 of the best mAP
        best_map = max(m for m, _, _ in head_choice)
        head_t = max(t for m, _, t in head_choice if m >= best_map - 0.005)

    # 2. measure on the test part
    params = {
        "threshold": chosen,
        "interpolation": interp,
        "mean_size": mean_size,
        "head_threshold": head_t,
        "vote_iou": vote,
    }
    cam_row = f"CAM boxes ({interp}, threshold {chosen:g})"
    zoom_row = f"CAM + zoomed 2nd pass on the top box (threshold {zoom_t:g})"
    rows = {
        "whole photo (baseline)": score_method("whole", test, labels, params),
        "centred box of mean size (baseline)": score_method("centred", test, labels, params),
        cam_row: score_method("cam", test, labels, params),
        zoom_row: score_method(
            "zoom", test, labels, {**params, "refine": zoom_refiner(clf, zoom_t, interp)}
        ),
    }
    head_row = f"box head (threshold {head_t:g}, voting IoU {vote})"
    if clf.box_head is not None:
        rows["box head without box voting"] = score_method(
            "head", test, labels, {**params, "vote_iou": None}
        )
        rows[head_row] = score_method("head", test, labels, params)
        api_row, api_method = head_row, "head"
        is_default = head_t == DEFAULT_HEAD_THRESHOLD and vote == DEFAULT_VOTE_IOU
    else:
        api_row, api_method = cam_row, "cam"
        is_default = chosen == DEFAULT_BOX_THRESHOLD and interp == DEFAULT_INTERPOLATION
    differ = check_api_matches(clf, test, api_method, params) if is_default else -1
    other = (
        otherlogos_recall(clf, args.data_root, threshold=head_t, vote_iou=vote)
        if clf.box_head is not None and (args.data_root / "otherlogos").is_dir()
        else None
    )
    timing_paths = [p.sample.path for p in test if p.sample.label != NO_LOGO]
    timing = time_predict(clf, timing_paths[: args.timing_photos])

    n_val = sum(p.sample.label != NO_LOGO for p in val)
    n_test = sum(p.sample.label != NO_LOGO for p in test)
    print()
    print(
        f"Model: {args.model} ({clf.config.architecture}, {len(labels)} labels). Photos: "
        f"FlickrLogos-27, 14 shared brands; validation (subsets 1-3): {n_val} logo + "
        f"{len(val) - n_val} no-logo; test (subsets 4-6): {n_test} logo + "
        f"{len(test) - n_test} no-logo."
    )
    print()
    print("Chosen on the validation part (CorLoc true brand / mAP@0.5 per threshold):")
    for name in CANDIDATE_INTERPOLATIONS:
        print(
            f"  {name}: "
            + ", ".join(f"{t:g}: {_fmt(c)} / {_fmt(m)}" for c, m, t, i in choice if i == name)
        )
    print(
        f"  -> {interp}, threshold {chosen:g}; zoomed 2nd pass, CorLoc per threshold: "
        + ", ".join(f"{t:g}: {_fmt(c)}" for c, t in zoom_choice)
        + f" -> {zoom_t:g}"
    )
    if vote_choice:
        print(
            "  box head, CorLoc / mAP@0.5 per box-voting IoU: "
            + ", ".join(f"{v}: {_fmt(c)} / {_fmt(m)}" for c, m, v in vote_choice)
            + f" -> {vote}"
        )
    if head_choice:
        print(
            "  box head, mAP@0.5 / CorLoc per threshold: "
            + ", ".join(f"{t:g}: {_fmt(m)} / {_fmt(c)}" for m, c, t in head_choice)
            + f" -> {head_t:g}"
        )
    print()
    print("| method (test part) | CorLoc, true brand | CorLoc, end to end | mAP@0.5 |")
    print("|---|---:|---:|---:|")
    for name, s in rows.items():
        print(
            f"| {name} | {_fmt(s['corloc_true_brand'])} | {_fmt(s['corloc_end_to_end'])} | "
            f"{_fmt(s['map50'])} |"
        )
    if other is not None:
        print()
        print(
            f"otherlogos test part, class-agnostic ({other['photos']:.0f} photos, "
            f"{other['boxes']:.0f} boxes): recall at IoU 0.5 {_fmt(other['recall50'])} with "
            f"{other['boxes_per_photo']:.2f} boxes per photo; the top box hits a logo in "
            f"{_fmt(other['top_box_hit'])} of the photos"
        )
    print()
    for name in dict.fromkeys([cam_row, api_row]):
        per_class: dict[str, float] = rows[name]["ap_per_class"]  # type: ignore[assignment]
        print(f"AP per brand ({name}): " + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items()))
        print(f"Boxes per photo ({name}): {rows[name]['boxes_per_photo']:.2f}")
    print("CorLoc (true brand) by the share of the photo its largest logo covers:")
    for name in dict.fromkeys(["whole photo (baseline)", cam_row, api_row]):
        sizes: dict[str, tuple[float, int]] = rows[name]["corloc_by_size"]  # type: ignore[assignment]
        print(f"  {name}: " + ", ".join(
            f"{k}: {v:.2f} ({n} photos)" for k, (v, n) in sizes.items()))  # fmt: skip
    print()
    print(
        f"Time per photo ({timing['photos']} test photos, ONNX Runtime CPU, "
        f"{clf.session.get_session_options().intra_op_num_threads or 'default'} threads, "
        f"best of {timing['rounds']} interleaved rounds):"
    )
    print(
        f"  predict: {timing['predict_ms']:.1f} ms; predict(boxes=True): "
        f"{timing['predict_boxes_ms']:.1f} ms "
        f"({timing['predict_boxes_ms'] - timing['predict_ms']:+.1f} ms)"
    )
    print(
        f"  predict_batch: {timing['batch_ms']:.1f} ms; predict_batch(boxes=True): "
        f"{timing['batch_boxes_ms']:.1f} ms "
        f"({timing['batch_boxes_ms'] - timing['batch_ms']:+.1f} ms)"
    )
    if differ >= 0:
        print(
            f"predict_batch(boxes=True) gives the boxes of '{api_row}' on "
            f"{len(test) - differ} of {len(test)} test photos."
        )
    else:
        print(
            f"note: the chosen settings (CAM {interp}, {chosen:g}; head {head_t:g}) differ "
            f"from the library defaults (CAM {DEFAULT_INTERPOLATION}, "
            f"{DEFAULT_BOX_THRESHOLD:g}; head {DEFAULT_HEAD_THRESHOLD:g}): update "
            "logobrand/inference/boxes.py"
        )
    cmd = f"python benchmarks/localization.py --model {args.model} --data-root {args.data_root}"
    print()
    print(f"Reproduce: {cmd}")
    if args.json_out is not None:
        atomic_write_json(
            args.json_out,
            {
                "model": str(args.model),
                "choice": [
                    {"interpolation": i, "threshold": t, "corloc_true_brand": c, "map50": m}
                    for c, m, t, i in choice
                ],
                "chosen": {"threshold": chosen, "interpolation": interp},
                "validation_corloc": best_corloc,
                "zoom_choice": [{"threshold": t, "corloc_true_brand": c} for c, t in zoom_choice],
                "vote_choice": [
                    {"vote_iou": v, "corloc_true_brand": c, "map50": m} for c, m, v in vote_choice
                ],
                "head_choice": [
                    {"threshold": t, "map50": m, "corloc_true_brand": c} for m, c, t in head_choice
                ],
                "mean_size": mean_size,
                "rows": rows,
                "timing": timing,
                "otherlogos": other,
                "api_mismatches": differ,
                "photos": {
                    "val_logo": n_val,
                    "val": len(val),
                    "test_logo": n_test,
                    "test": len(test),
                },
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
