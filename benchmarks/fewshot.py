"""Few-shot brands benchmark: add brands the model never saw, from k photos or from artwork.

One run prints one table (plus the embedding comparison and matching times it rests on).

Model: a model trained WITHOUT FlickrLogos-27 (``runs/lite0-nofl27``: the recipe's split of
Logos-32plus + ImageNet-sample no-logo photos, seed 0), re-exported with its feature outputs,
plus a box head trained WITHOUT the new brands' photos (``runs/lite0-nofl27-boxes14``, see
docs/fewshot.rst for the two commands). New brands: the 13 FlickrLogos-27 brands that are not
FlickrLogos-32 brands (Citroen Intel McDonalds Mini Nbc Nike Porsche Puma RedBull Sprite Unicef
Vodafone Yahoo).

Embedding: ``--kind`` (default: the model's own, ``box_crops`` when it has a box head); the
comparison table below the main one measures both kinds.

* References: for each new brand, k = 1, 5, 10 of its FlickrLogos-27 training photos, chosen
  with a seed; byte-identical and near-duplicate photos (``group_samples(..., "content")``)
  stay on one side; every other photo of the brand is a test photo. Repeated for
  ``--seeds`` seeds (averaged).
* Artwork: the new brands that simple-icons covers, 20 renders each (SVG in the brand colour,
  white or black, composited on crops of *training-split* ImageNet no-logo photos or solid
  colours; :mod:`logobrand.artwork`); tested on all their photos.
* Test photos besides the new brands: no-logo photos that no training or calibration saw
  (BSDS500 from ``nologo/`` and FlickrLogos-27's no-logo photos) and photos of the 32 known
  brands (a seeded sample of the *test* part of Logos-32plus, ``--known-per-brand`` per
  brand, and FlickrLogos-27's photos of its 14 shared brands).
* A model directory that stores its own gallery calibration (the bundled ones) gets one more
  row: the brands added to that calibration as shipped, with no ``calibrate`` call.
* Calibration of the gallery threshold (target: 1 % of negatives matched; 2 % in one row):
  the recipe's validation part (Logos-32plus + ImageNet no-logo) plus the ImageNet no-logo
  photos of its test part, never the photos above. ``Gallery.calibrate`` whitens: half of
  these photos fit the whitening, the other half sets the threshold (``--no-whiten``: all of
  them set it, centring only).

Columns: top-1 on the new brands (the final answer, open set: it must beat the threshold and
the classifier must abstain), closed-set top-1 (the best gallery brand, no threshold),
false-positive rate on the no-logo photos and accuracy on the known-brand photos, each
before (classifier alone) and after adding the brands.

``--text``: every new brand is added with its name as its text (``texts=[brand]``), and the
text OCR reads in each photo's model input (:mod:`logobrand.inference.text`, the ocr extra;
cached in ``--cache``) goes into the decision rule.

Everything goes through :class:`logobrand.inference.gallery.Gallery` and its ``decide`` rule
on embeddings computed once (cached in ``--cache``); an end-to-end check with
``LogoClassifier.add_brand``/``predict_batch`` on a copy of the model confirms that the API
gives the same answers.

Usage (needs the train extra for the recipe's split, and the art extra)::

    python benchmarks/fewshot.py --model runs/lite0-nofl27-boxes14 --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from logobrand.data import NO_LOGO, FlickrLogos27Dataset, canonical_class_name
from logobrand.data.splits import group_samples
from logobrand.inference import LogoClassifier, make_prediction
from logobrand.inference.gallery import (
    BOX_CROPS,
    DEFAULT_TARGET_FPR,
    PHOTO,
    Gallery,
    decide,
    default_kind,
    embed_images,
    forward_embeddings,
)
from logobrand.inference.text import Lines
from logobrand.transforms import denormalize

ROOT = Path(__file__).resolve().parents[1]
NEW_BRANDS = (
    "citroen",
    "intel",
    "mcdonalds",
    "mini",
    "nbc",
    "nike",
    "porsche",
    "puma",
    "redbull",
    "sprite",
    "unicef",
    "vodafone",
    "yahoo",
)
KS = (1, 5, 10)
TARGET_FPR = DEFAULT_TARGET_FPR


# ----------------------------------------------------------------------------------------------
# embeddings (computed once, cached)


def embed_all(
    clf: LogoClassifier, paths: Sequence[str], cache: Path, name: str, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (N, C), embeddings (N, views, D))`` of ``paths`` for a gallery of ``kind``
    (the library's :func:`forward_embeddings`), cached by the list, the model and the kind."""
    stamp = ""
    for file in sorted(clf.directory.glob("*.onnx")):
        stamp += f"|{file.name}:{file.stat().st_size}:{file.stat().st_mtime_ns}"
    key = hashlib.sha1(("\n".join(paths) + stamp + kind).encode()).hexdigest()[:16]
    target = cache / f"{name}-{kind}-{key}.npz"
    if target.is_file():
        with np.load(target, allow_pickle=False) as data:
            return data["logits"], data["emb"]
    started = time.perf_counter()
    logits, embs = [], []
    for i in range(0, len(paths), 32):
        batch = np.stack([clf.preprocess(p) for p in paths[i : i + 32]])
        lo, em, _ = forward_embeddings(clf, batch, kind)
        logits.append(lo)
        embs.append(em.reshape(len(batch), -1, em.shape[-1]))
    out = np.concatenate(logits).astype(np.float32), np.concatenate(embs).astype(np.float32)
    np.savez(target, logits=out[0], emb=out[1])
    print(f"  embedded {len(paths)} {name} photos ({kind}) in {time.perf_counter() - started:.0f}s")
    return out


def read_all(clf: LogoClassifier, paths: Sequence[str], cache: Path, name: str) -> list[Lines]:
    """The text lines OCR reads in each photo's model input (what ``predict`` reads), cached
    by the list and the model."""
    key = hashlib.sha1(("\n".join(paths) + str(clf.directory) + "text").encode()).hexdigest()
    target = cache / f"{name}-text-{key[:16]}.json"
    if target.is_file():
        return [[(t, c) for t, c in lines] for lines in json.loads(target.read_text())]
    started = time.perf_counter()
    out: list[Lines] = []
    for i in range(0, len(paths), 32):
        batch = np.stack([clf.preprocess(p) for p in paths[i : i + 32]])
        out += clf.text_reader.read(denormalize(batch, clf.config.preprocessing))
    target.write_text(json.dumps(out))
    print(f"  read the text of {len(paths)} {name} photos in {time.perf_counter() - started:.0f}s")
    return out


class Part:
    """Photos with labels, logits and embeddings (``(N, views, D)``; :attr:`rows` flattens),
    and the text lines read in them (with ``--text``)."""

    def __init__(
        self,
        paths: list[str],
        labels: list[str],
        logits: np.ndarray,
        emb: np.ndarray,
        lines: list[Lines] | None = None,
    ):
        self.paths, self.labels = paths, np.array(labels)
        self.logits, self.emb, self.lines = logits, emb, lines

    def take(self, idx: Sequence[int] | np.ndarray) -> Part:
        idx = np.asarray(idx, dtype=int)
        return Part(
            [self.paths[i] for i in idx],
            list(self.labels[idx]),
            self.logits[idx],
            self.emb[idx],
            None if self.lines is None else [self.lines[i] for i in idx],
        )

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def rows(self) -> np.ndarray:
        """The embeddings as the gallery takes them: ``(N * views, D)``."""
        return self.emb.reshape(-1, self.emb.shape[-1])


def make_part(
    clf: LogoClassifier,
    items: list[tuple[str, str]],
    cache: Path,
    name: str,
    kind: str,
    text: bool = False,
) -> Part:
    paths = [p for p, _ in items]
    logits, emb = embed_all(clf, paths, cache, name, kind)
    lines = read_all(clf, paths, cache, name) if text else None
    return Part(paths, [label for _, label in items], logits, emb, lines)


# ----------------------------------------------------------------------------------------------
# evaluation


def predictions(clf: LogoClassifier, part: Part, gallery: Gallery | None) -> np.ndarray:
    """Final answers (``"no-logo"`` for none) through the library's decision rule."""
    cfg = clf.config
    sims = gallery.similarities(part.rows) if gallery is not None else None
    out = []
    for i in range(len(part)):
        if gallery is None:
            p = make_prediction(
                part.logits[i], cfg.labels, temperature=cfg.temperature, threshold=cfg.threshold
            )
        else:
            assert sims is not None
            read = None
            if gallery.reads_text:
                assert part.lines is not None, "the gallery reads text: run with --text"
                read = gallery.text_index.scores([part.lines[i]])[0]
            p = decide(
                part.logits[i],
                sims[i],
                cfg.labels,
                gallery,
                texts_read=read,
                temperature=cfg.temperature,
                threshold=cfg.threshold,
            )
        out.append(p.brand or NO_LOGO)
    return np.array(out)


def choose_references(
    fl: Part, groups: np.ndarray, brands: Sequence[str], k: int, seed: int
) -> tuple[dict[str, list[int]], list[int]]:
    """k reference photos per brand (duplicate groups kept whole) and the other photos."""
    rng = np.random.default_rng(seed)
    refs: dict[str, list[int]] = {}
    tests: list[int] = []
    for brand in brands:
        idx = np.flatnonzero(fl.labels == brand)
        order = sorted(set(groups[idx].tolist()))
        rng.shuffle(order)
        chosen: list[int] = []
        for g in order:
            members = [int(i) for i in idx if groups[i] == g]
            if len(chosen) + len(members) <= k:
                chosen += members
            if len(chosen) == k:
                break
        refs[brand] = chosen
        used = set(groups[chosen].tolist())
        tests += [int(i) for i in idx if groups[i] not in used]
    return refs, tests


def score_row(
    clf: LogoClassifier,
    gallery: Gallery,
    new: Part,
    nologo: Part,
    known: Part,
) -> dict[str, float]:
    pn = predictions(clf, new, gallery)
    sims = gallery.similarities(new.rows)
    closed = np.array(gallery.brands)[sims.argmax(axis=1)]
    return {
        "top1": float(np.mean(pn == new.labels)),
        "closed_top1": float(np.mean(closed == new.labels)),
        "fpr": float(np.mean(predictions(clf, nologo, gallery) != NO_LOGO)),
        "known": float(np.mean(predictions(clf, known, gallery) == known.labels)),
        "threshold": gallery.threshold,
        "new_photos": len(new),
    }


def mean_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


# ----------------------------------------------------------------------------------------------
# embedding variants (closed set, 13 brands)


def closed_top1(fl: Part, groups: np.ndarray, k: int, seeds: int, empty: Gallery) -> float:
    """Closed-set top-1 among the new brands, matched with ``empty``'s rule (its centring,
    whitening and ``reduce``) once the brands are added."""
    accs = []
    features = fl.emb
    dim = features.shape[-1]
    for seed in range(seeds):
        refs, tests = choose_references(fl, groups, NEW_BRANDS, k, seed)
        g = empty
        for brand in NEW_BRANDS:
            g = g.add(brand, features[refs[brand]].reshape(-1, dim))
        sims = g.similarities(features[tests].reshape(-1, dim))
        pred = np.array(g.brands)[sims.argmax(axis=1)]
        accs.append(np.mean(pred == fl.labels[tests]))
    return float(np.mean(accs))


# ----------------------------------------------------------------------------------------------
# timing


def matching_times(
    dim: int, brands: Sequence[int], refs_per_brand: int = 10
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    rows = []
    for n in brands:
        refs = rng.random((n * refs_per_brand, dim), dtype=np.float32)
        names = [f"brand{i}" for i in range(n)]
        for reduce in ("mean", "max"):
            g = Gallery(
                dim, brands=names, references=refs, counts=[refs_per_brand] * n, reduce=reduce
            )
            row: dict[str, Any] = {"brands": n, "references": n * refs_per_brand, "reduce": reduce}
            for batch in (1, 32):
                q = rng.random((batch, dim), dtype=np.float32)
                g.similarities(q)
                times = []
                for _ in range(20):
                    started = time.perf_counter()
                    g.similarities(q)
                    times.append(time.perf_counter() - started)
                row[f"ms_batch{batch}"] = 1000 * float(np.min(times))
            rows.append(row)
    return rows


def timing_in_subprocess(dim: int) -> list[dict[str, Any]]:
    """:func:`matching_times` with one BLAS thread (a busy second core makes the default
    two-thread OpenBLAS wait in 4 ms steps, which measures the scheduler, not the matching)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env["MKL_NUM_THREADS"] = "1"
    result = subprocess.run(
        [sys.executable, __file__, "--timing-only", str(dim)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


# ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "runs" / "lite0-nofl27-boxes14"))
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--cache", help="folder for cached embeddings [a temporary folder]")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--known-per-brand", type=int, default=20)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--kind", choices=(PHOTO, BOX_CROPS), help="gallery embedding [the model's default]"
    )
    parser.add_argument(
        "--no-whiten",
        dest="whiten",
        action="store_false",
        help="calibrate without whitening (Gallery.calibrate(..., whiten=False))",
    )
    parser.add_argument(
        "--text",
        action="store_true",
        help="add each brand with its name as text, read by OCR (the ocr extra)",
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--timing-only", type=int, metavar="DIM", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timing_only:
        print(json.dumps(matching_times(args.timing_only, (1, 100, 5000))))
        return 0
    from logobrand.training.recipe import shared_data_splits

    started = time.perf_counter()
    root = Path(args.data_root)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="fewshot-"))
    cache.mkdir(parents=True, exist_ok=True)
    clf = LogoClassifier.from_pretrained(args.model, threads=args.threads)
    kind = args.kind or default_kind(clf)
    print(
        f"model {args.model}; gallery embedding {kind}; whitening "
        f"{'on' if args.whiten else 'off'}; brand names read (OCR): "
        f"{'on' if args.text else 'off'}; caching embeddings in {cache}"
    )

    def texts(brand: str) -> list[str] | None:
        return [brand] if args.text else None

    splits = shared_data_splits(root, seed=0)
    rng = np.random.default_rng(0)
    test_logos = [s for s in splits.test.samples if s.label != NO_LOGO]
    by_brand: dict[str, list[str]] = {}
    for s in test_logos:
        by_brand.setdefault(s.label, []).append(str(s.path))
    known_items = []
    for brand in sorted(by_brand):
        paths = sorted(by_brand[brand])
        pick = rng.permutation(len(paths))[: args.known_per_brand]
        known_items += [(paths[i], brand) for i in sorted(pick)]
    fl_ds = FlickrLogos27Dataset(root / "flickrlogos27", name_map=canonical_class_name)
    fl = make_part(
        clf, [(str(s.path), s.label) for s in fl_ds.samples], cache, "fl27", kind, args.text
    )
    groups = np.array(group_samples(fl_ds.samples, "content"))
    bsds = sorted(str(p) for p in (root / "nologo").glob("bsds500_*.jpg"))
    nologo = make_part(
        clf,
        [(p, NO_LOGO) for p in bsds]
        + [(p, NO_LOGO) for p, lab in zip(fl.paths, fl.labels, strict=True) if lab == NO_LOGO],
        cache,
        "nologo",
        kind,
        args.text,
    )
    known_fl = [
        (p, lab)
        for p, lab in zip(fl.paths, fl.labels, strict=True)
        if lab != NO_LOGO and lab not in NEW_BRANDS
    ]
    known = make_part(clf, known_items + known_fl, cache, "known", kind, args.text)
    calib_items = [(str(s.path), s.label) for s in splits.val.samples] + [
        (str(s.path), s.label) for s in splits.test.samples if s.label == NO_LOGO
    ]
    calib = make_part(clf, calib_items, cache, "calibration", kind)
    dim = fl.emb.shape[-1]
    base = Gallery.empty(dim, kind=kind).calibrate(
        calib.rows, target_fpr=TARGET_FPR, whiten=args.whiten
    )
    print(
        f"test photos: {int(np.isin(fl.labels, NEW_BRANDS).sum())} of the 13 new brands, "
        f"{len(nologo)} no-logo ({len(bsds)} BSDS500 + {len(nologo) - len(bsds)} FL27), "
        f"{len(known)} of known brands ({len(known_items)} Logos-32plus test + "
        f"{len(known_fl)} FL27); calibration: {len(calib)} photos"
    )
    before = {
        "fpr": float(np.mean(predictions(clf, nologo, None) != NO_LOGO)),
        "known": float(np.mean(predictions(clf, known, None) == known.labels)),
        "new_as_known": float(
            np.mean(
                np.isin(
                    predictions(clf, fl.take(np.flatnonzero(np.isin(fl.labels, NEW_BRANDS))), None),
                    clf.config.brands,
                )
            )
        ),
    }

    def photo_rows(brands: Sequence[str], k: int, base_gallery: Gallery, label: str) -> None:
        per_seed = []
        for seed in range(args.seeds):
            refs, tests = choose_references(fl, groups, brands, k, seed)
            g = base_gallery
            for brand in brands:
                g = g.add(brand, fl.take(refs[brand]).rows, texts=texts(brand))
            per_seed.append(score_row(clf, g, fl.take(tests), nologo, known))
        rows.append(
            {
                "references": label,
                "brands": len(brands),
                "target_fpr": base_gallery.target_fpr,
                **mean_rows(per_seed),
            }
        )

    rows: list[dict[str, Any]] = []
    for k in KS:
        photo_rows(NEW_BRANDS, k, base, f"{k} photo{'s' if k > 1 else ''}")
    loose = Gallery.empty(dim, kind=kind).calibrate(
        calib.rows, target_fpr=2 * TARGET_FPR, whiten=args.whiten
    )
    photo_rows(NEW_BRANDS, 5, loose, "5 photos")
    shipped = clf.gallery  # the calibration stored in the model directory, if any
    if shipped is not None and shipped.calibrated and len(shipped) == 0 and shipped.kind == kind:
        photo_rows(NEW_BRANDS, 5, shipped, "5 photos, the model's stored calibration")

    # artwork: the new brands that simple-icons covers
    from logobrand.artwork import PHOTO_SHARE, find_simple_icon, render_references
    from logobrand.images import load_image

    icons_root = root / "brand-art" / "simple-icons"
    icons = {b: find_simple_icon(icons_root, b) for b in NEW_BRANDS}
    covered = [b for b, icon in icons.items() if icon is not None]
    print(f"simple-icons covers {len(covered)} of the 13: {' '.join(covered)}")
    train_nologo = sorted(str(s.path) for s in splits.train.samples if s.label == NO_LOGO)
    backgrounds = [
        load_image(train_nologo[i], draft_size=320)
        for i in sorted(rng.permutation(len(train_nologo))[:60])
    ]
    size = clf.config.preprocessing.input_size
    art_test = fl.take(np.flatnonzero(np.isin(fl.labels, covered)))

    def render_all(photo_share: float, seed: int) -> dict[str, np.ndarray]:
        out = {}
        for i, brand in enumerate(covered):
            icon = icons[brand]
            assert icon is not None
            renders = render_references(
                icon.svg,
                icon.color,
                backgrounds,
                n=args.renders,
                size=size,
                seed=1000 * seed + i,
                photo_share=photo_share,
            )
            out[brand] = embed_images(clf, renders, kind=kind)
        return out

    solid: list[dict[str, np.ndarray]] = []
    for share in (0.0, 0.3):
        per_seed = []
        for seed in range(args.seeds):
            art_emb = render_all(share, seed)
            if share == PHOTO_SHARE:
                solid.append(art_emb)
            g = base
            for brand in covered:
                g = g.add(brand, art_emb[brand], texts=texts(brand))
            per_seed.append(score_row(clf, g, art_test, nologo, known))
        where = "solid colours" if share == 0 else f"{share:.0%} on photos"
        rows.append(
            {
                "references": f"artwork only ({args.renders} renders, {where})",
                "brands": len(covered),
                "target_fpr": TARGET_FPR,
                **mean_rows(per_seed),
            }
        )
    photo_rows(covered, 5, base, "5 photos (same brands)")
    per_seed = []
    for seed in range(args.seeds):
        refs, tests = choose_references(fl, groups, covered, 5, seed)
        g = base
        for brand in covered:
            g = g.add(
                brand,
                np.concatenate([solid[seed][brand], fl.take(refs[brand]).rows]),
                texts=texts(brand),
            )
        per_seed.append(score_row(clf, g, fl.take(tests), nologo, known))
    rows.append(
        {
            "references": "artwork + 5 photos",
            "brands": len(covered),
            "target_fpr": TARGET_FPR,
            **mean_rows(per_seed),
        }
    )

    print()
    print(
        f"Few-shot brands on {Path(args.model).name} (never trained on FlickrLogos-27); mean of "
        f"{args.seeds} seeds (of the reference choice, or of the renders); threshold calibrated "
        "on held-out negatives for the target FPR"
    )
    print()
    header = (
        "| references | brands | target FPR | new-brand top-1 | closed-set top-1 "
        "| no-logo FPR before -> after | known-brand acc. before -> after | threshold |"
    )
    print(header)
    print("|" + "---|" * 8)
    for r in rows:
        print(
            f"| {r['references']} | {r['brands']} | {r['target_fpr']:.0%} | {r['top1']:.1%} | "
            f"{r['closed_top1']:.1%} | "
            f"{before['fpr']:.1%} -> {r['fpr']:.1%} | {before['known']:.1%} -> {r['known']:.1%} "
            f"| {r['threshold']:.3f} |"
        )
    print(
        f"\nbefore adding: the classifier calls {before['new_as_known']:.1%} of the new-brand "
        "photos a known brand (those stay wrong: a confident trained class is never overridden)"
    )

    # embedding variants
    print("\nEmbedding variants, closed-set top-1 among the 13 new brands (no threshold):\n")
    print("| embedding | reduce | k=1 | k=5 | k=10 |")
    print("|---|---|---|---|---|")
    variant_rows = []
    kinds = [PHOTO, BOX_CROPS] if clf.box_head is not None else [PHOTO]
    for variant_kind in kinds:
        if variant_kind == kind:
            fl_k, calib_k = fl, calib
        else:
            fl_k = make_part(
                clf, list(zip(fl.paths, fl.labels, strict=True)), cache, "fl27", variant_kind
            )
            calib_k = make_part(
                clf,
                list(zip(calib.paths, calib.labels, strict=True)),
                cache,
                "calibration",
                variant_kind,
            )
        name = "whole photo, 'embedding' output" if variant_kind == PHOTO else "box crops, GeM"
        for rule, reduce in (("", "mean"), ("centred", "mean"), ("centred", "max")) + (
            (("whitened", "mean"),) if args.whiten else ()
        ):
            empty = Gallery.empty(dim, reduce=reduce, kind=variant_kind)
            if rule:
                empty = empty.calibrate(calib_k.rows, whiten=(rule == "whitened"))
            accs = [closed_top1(fl_k, groups, k, args.seeds, empty) for k in KS]
            label = f"{name}{', ' + rule if rule else ''}"
            variant_rows.append({"embedding": label, "reduce": reduce, "top1": accs})
            print(f"| {label} | {reduce} | " + " | ".join(f"{a:.1%}" for a in accs) + " |")

    # matching time
    print(
        "\nMatching time (numpy matrix product, one BLAS thread, best of 20; synthetic "
        "galleries of 10 references per brand):\n"
    )
    print("| brands | references | reduce | 1 photo | 32 photos |")
    print("|---|---|---|---|---|")
    timing = timing_in_subprocess(dim)
    for t in timing:
        print(
            f"| {t['brands']} | {t['references']} | {t['reduce']} | {t['ms_batch1']:.2f} ms | "
            f"{t['ms_batch32']:.2f} ms |"
        )

    # end-to-end check through the public API
    check: dict[str, Any] = {}
    if kind == default_kind(clf):  # add_brand embeds with the model's default kind
        check = api_check(clf, fl, groups, nologo, known, calib, base, args.text)
        print(
            f"\nAPI check (add_brand x13 with 5 photos, save_pretrained, from_pretrained, "
            f"predict_batch on {check['photos']} photos): {check['agree']}/{check['photos']} "
            f"answers equal to the table's path; predict_batch {check['ms_per_photo_plain']:.1f} "
            f"ms/photo without and {check['ms_per_photo_gallery']:.1f} ms/photo with the gallery."
        )
    else:
        print(f"\nAPI check skipped: add_brand embeds {default_kind(clf)}, not {kind}")
    print(f"\ntotal {time.perf_counter() - started:.0f}s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "before": before,
                    "rows": rows,
                    "variants": variant_rows,
                    "timing": timing,
                    "api_check": check,
                },
                indent=2,
            )
        )
    return 0


def api_check(
    clf: LogoClassifier,
    fl: Part,
    groups: np.ndarray,
    nologo: Part,
    known: Part,
    calib: Part,
    base: Gallery,
    text: bool,
) -> dict[str, Any]:
    """Add the brands with the public API on a copy of the model; compare answers."""
    refs, tests = choose_references(fl, groups, NEW_BRANDS, 5, 0)
    work = Path(tempfile.mkdtemp(prefix="fewshot-model-"))
    try:
        model = clf.save_pretrained(work / "model")
        api = LogoClassifier.from_pretrained(model, threads=None)
        api.calibrate_gallery(
            calib.paths, target_fpr=base.target_fpr, whiten=base.whitened_dims > 0
        )
        for brand in NEW_BRANDS:
            api.add_brand(
                brand, [fl.paths[i] for i in refs[brand]], texts=[brand] if text else None
            )
        api.save_pretrained(model)
        api = LogoClassifier.from_pretrained(model)
        g = api.gallery
        assert g is not None
        sample = fl.take(tests[::4])
        photos = sample.paths + nologo.paths[::8] + known.paths[::10]
        expected = np.concatenate(
            [
                predictions(clf, part, g)
                for part in (
                    sample,
                    nologo.take(range(0, len(nologo), 8)),
                    known.take(range(0, len(known), 10)),
                )
            ]
        )
        plain = LogoClassifier.from_pretrained(clf.directory)
        list(plain.predict_batch(photos[:32]))  # warm up both sessions
        list(api.predict_batch(photos[:32]))
        started = time.perf_counter()
        got = [p.brand or NO_LOGO for p in api.predict_batch(photos)]  # type: ignore[union-attr]
        with_gallery = (time.perf_counter() - started) / len(photos)
        started = time.perf_counter()
        list(plain.predict_batch(photos))
        without = (time.perf_counter() - started) / len(photos)
        return {
            "photos": len(photos),
            "agree": int(np.sum(np.array(got) == expected)),
            "ms_per_photo_gallery": 1000 * with_gallery,
            "ms_per_photo_plain": 1000 * without,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
