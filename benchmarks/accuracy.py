"""Accuracy benchmark: the tutorial's recipe, a frozen linear probe and the shipped recipe.

Prints one table from one run. Every row is trained on the same training part of
``shared/data`` (Logos-32plus brands + ImageNet-sample no-logo photos, a seeded stratified split
that keeps near-duplicates together) and scored on

* ``test``: the held-out part of the same sources (in-domain), and
* ``cross``: collections never used for training: the 14 FlickrLogos-27 brands shared with
  FlickrLogos-32, FlickrLogos-27's no-logo photos, and the BSDS500 no-logo photos.

Rows:

(a) the tutorial's recipe: ``scratch_cnn`` trained from scratch with the tutorial's
    hyper-parameters (SGD, lr 0.01, momentum 0.9, wd 0.001, batch 40, random crop and flip).
    The tutorial fine-tuned an ImageNet ResNet-18 v2; no offline ImageNet weights exist for it
    here, so the scratch network stands in for it. Same number of epochs as (c).
(b) a frozen EfficientNet-Lite0 with a linear probe on its average-pooled features.
(c) the shipped recipe (:mod:`logobrand.training.recipe`), with its calibrated threshold.

``--compare DIR...`` prints the table of the long recipe's issue instead, without training:
one row per model directory, scored on the in-domain test part with the ``otherlogos`` test part
among its negatives, the cross-dataset part, and the false-positive rate on other brands'
photos (the ``otherlogos`` test part and FlickrLogos-27's 13 brands that are not ours):

* ``top-1``: arg-max brand among the logo photos (no threshold);
* ``R@P``: logo recall at logo precision 0.95 / 0.98 / 0.99, the threshold swept on the test
  part itself (analysis only: it is an oracle);
* ``cal P/R``: precision and recall at the model's own threshold, chosen on validation data;
* ``FP other`` / ``FP fl27``: share of other brands' photos named as one of ours at that
  threshold.

A model whose ``config.json`` holds calibrated closer looks (``views``, see
:mod:`logobrand.inference.views`) gets a second row, ``+ views``: the same photos under the
views rule, its threshold the views threshold chosen on validation data (the ``accurate``
preset). Its R@P columns sweep the views threshold.

(a) and (b) decide by arg-max (no threshold); (c) uses the threshold chosen on validation data
for the target logo precision. The calibration error is measured on the top-1 probability.

Usage::

    python benchmarks/accuracy.py --data-root ../shared/data            # trains all three
    python benchmarks/accuracy.py --model logobrand/_default             # reuse a trained (c)
    python benchmarks/accuracy.py --model runs/recipe-nofl27 --rows c --int8  # + its int8 copy
    python benchmarks/accuracy.py --compare logobrand/_default runs/finetune/model  # no training
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from logobrand.data import NO_LOGO, FileDataset, Sample
from logobrand.evaluation import evaluate
from logobrand.inference import LogoClassifier
from logobrand.inference.prediction import softmax
from logobrand.inference.views import views_curve
from logobrand.metrics import expected_calibration_error, recognition_report
from logobrand.training.recipe import RecipeConfig, shared_data_splits, train_default_model

ROOT = Path(__file__).resolve().parents[1]


def _scores(labels: list[str], truth: list[str], probs: np.ndarray) -> dict[str, Any]:
    top = probs.argmax(1)
    predicted = [None if labels[i] == NO_LOGO else labels[i] for i in top]
    order = [*sorted(set(labels) - {NO_LOGO}, key=str.lower), NO_LOGO]
    report = recognition_report(truth, predicted, labels=order)
    correct = [labels[i] == t for i, t in zip(top, truth, strict=True)]
    return {
        "images": report.n_images,
        "accuracy": report.accuracy,
        "logo_precision": report.logo_precision,
        "logo_recall": report.logo_recall,
        "macro_f1": report.macro_f1,
        "ece": expected_calibration_error(probs.max(1), correct),
    }


def tutorial_row(
    splits: Any, epochs: int, work: Path
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Row (a): scratch_cnn with the tutorial's hyper-parameters, arg-max decisions."""
    from logobrand.models import create_model, get_model_spec
    from logobrand.training import ModelCheckpoint, Trainer
    from logobrand.transforms import eval_transform, train_transform

    pre = get_model_spec("scratch_cnn").preprocessing
    started = time.perf_counter()
    model = create_model("scratch_cnn", len(splits.train.classes))
    trainer = Trainer(
        model,
        splits.train.with_transform(train_transform(pre, seed=0)),
        splits.val.with_transform(eval_transform(pre)),
        epochs=epochs,
        batch_size=40,
        optimizer="sgd",
        lr=0.01,
        momentum=0.9,
        weight_decay=0.001,
        callbacks=[ModelCheckpoint(work / "tutorial", monitor="val_accuracy")],
        seed=0,
    )
    trainer.fit()
    seconds = time.perf_counter() - started
    clf = LogoClassifier.from_pretrained(work / "tutorial" / "best")
    rows = []
    for part in (splits.test, splits.cross):
        probs, truth = _probabilities(clf, part)
        rows.append(_scores(list(clf.labels), truth, probs))
    return rows[0], rows[1], seconds


def _probabilities(
    clf: LogoClassifier, part: FileDataset, temperature: float = 1.0
) -> tuple[np.ndarray, list[str]]:
    from logobrand.inference.prediction import softmax

    batch, truth, out = [], [], []
    for sample in part.samples:
        batch.append(clf.preprocess(sample.path))
        truth.append(sample.label)
        if len(batch) == 64:
            out.append(clf.predict_logits(np.stack(batch)))
            batch = []
    if batch:
        out.append(clf.predict_logits(np.stack(batch)))
    return softmax(np.concatenate(out), temperature), truth


def probe_row(splits: Any) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Row (b): frozen Lite0 trunk, average-pooled features, logistic regression."""
    import torch

    from logobrand.models import create_model, get_model_spec
    from logobrand.training.recipe import cache_trunk_features

    pre = get_model_spec("efficientnet_lite0").preprocessing
    started = time.perf_counter()
    model = create_model("efficientnet_lite0", len(splits.train.classes), pretrained=True).eval()

    def pooled(part: FileDataset) -> np.ndarray:
        maps, _ = cache_trunk_features(
            model,
            part.samples,
            frozen_blocks=16,
            views=1,
            pre=pre,
            seed=0,
            description="probe features",
        )
        with torch.no_grad():
            top = model.top(torch.from_numpy(maps[:, 0].astype(np.float32)))
        return top.mean((2, 3)).numpy()

    x_train, x_test, x_cross = (pooled(p) for p in (splits.train, splits.test, splits.cross))
    y = torch.tensor(splits.train.targets)
    counts = np.bincount(y.numpy(), minlength=len(splits.train.classes))
    weights = torch.tensor(len(y) / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32)
    torch.manual_seed(0)
    linear = torch.nn.Linear(x_train.shape[1], len(splits.train.classes))
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=300, line_search_fn="strong_wolfe")
    xt = torch.from_numpy(x_train)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(xt), y, weight=weights)
        loss = loss + 1e-4 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    seconds = time.perf_counter() - started
    labels = list(splits.train.classes)
    rows = []
    for feats, part in ((x_test, splits.test), (x_cross, splits.cross)):
        with torch.no_grad():
            probs = torch.softmax(linear(torch.from_numpy(feats)), 1).numpy()
        rows.append(_scores(labels, [s.label for s in part.samples], probs))
    return rows[0], rows[1], seconds


def recipe_row(
    splits: Any, model_dir: Path | None, work: Path
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Row (c): the shipped recipe with its calibrated threshold."""
    if model_dir is None:
        model_dir = work / "recipe"
        result = train_default_model(splits.train, splits.val, model_dir, RecipeConfig())
        seconds = result.seconds
    else:
        config = json.loads((model_dir / "config.json").read_text())
        seconds = float(config.get("training", {}).get("train_seconds", float("nan")))
    clf = LogoClassifier.from_pretrained(model_dir)
    test = evaluate(clf, splits.test).summary()
    cross = evaluate(clf, splits.cross).summary()
    return test, cross, seconds


def int8_row(splits: Any, model_dir: Path, work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Row (c) int8: the int8 copy of (c), calibrated on 256 seeded validation photos."""
    rng = np.random.default_rng(0)
    val = [sample.path for sample in splits.val.samples]
    chosen = [val[int(i)] for i in sorted(rng.choice(len(val), min(256, len(val)), replace=False))]
    out = LogoClassifier.from_pretrained(model_dir).save_quantized(work / "int8", chosen)
    clf = LogoClassifier.from_pretrained(out)
    return evaluate(clf, splits.test).summary(), evaluate(clf, splits.cross).summary()


def _brand_scores(
    clf: LogoClassifier, paths: list[Path]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Arg-max brand (no-logo column left out) and its calibrated probability per photo."""
    part = FileDataset([Sample(p, NO_LOGO) for p in paths], [NO_LOGO])
    probs, _ = _probabilities(clf, part, clf.config.temperature)
    labels = list(clf.labels)
    brands = [i for i, name in enumerate(labels) if name != NO_LOGO]
    best = np.asarray(brands)[probs[:, brands].argmax(1)]
    return [labels[i] for i in best], probs[np.arange(len(probs)), best], probs


def _recall_at(truth: list[str], names: list[str], scores: np.ndarray, target: float) -> float:
    """Best logo recall over thresholds whose logo precision reaches ``target``."""
    logos = sum(t != NO_LOGO for t in truth)
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum([names[i] == truth[i] for i in order])
    said = np.arange(1, len(order) + 1)
    ok = hits / said >= target
    return float(hits[ok].max() / logos) if ok.any() and logos else 0.0


def _at_threshold(
    truth: list[str], names: list[str], scores: np.ndarray, threshold: float
) -> tuple[float, float]:
    said = scores >= threshold
    hits = sum(1 for i in range(len(truth)) if said[i] and names[i] == truth[i])
    logos = sum(t != NO_LOGO for t in truth)
    return hits / max(1, int(said.sum())), hits / max(1, logos)


def _view_scores(clf: LogoClassifier, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Best brand and its probability in each of the five views of each photo."""
    from logobrand.inference.calibrate import view_logits

    assert clf.config.views is not None
    part = FileDataset([Sample(p, NO_LOGO) for p in paths], [NO_LOGO])
    logits, _, failed = view_logits(clf, part, float(clf.config.views["crop"]))
    assert not failed, f"{failed} photos could not be decoded"
    labels = list(clf.labels)
    probs = softmax(logits.astype(np.float64), clf.config.temperature)
    brands = np.asarray([i for i, name in enumerate(labels) if name != NO_LOGO])
    top = probs[..., brands].argmax(-1)
    scores = np.take_along_axis(probs[..., brands], top[..., None], -1)[..., 0]
    return scores, np.asarray(labels)[brands[top]]


def _views_rule(
    scores: np.ndarray, names: np.ndarray, threshold: float
) -> tuple[list[str], np.ndarray]:
    """The answering view's brand and probability per photo (logobrand.inference.views)."""
    view = np.where(scores[:, 0] >= threshold, 0, scores.argmax(1))
    rows = np.arange(len(scores))
    return [str(n) for n in names[rows, view]], scores[rows, view]


def _with_words(
    clf: LogoClassifier, paths: list[Path], names: list[str], said: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """The words rule on top of the views rule: photos left without a brand whose best brand
    reaches ``look`` are read, and a brand read answers when the whole photo gives it at
    least ``floor`` (logobrand.inference.words)."""
    from logobrand.inference.calibrate import read_photo_text
    from logobrand.inference.words import brand_from_words, brands_read, load_brand_texts

    assert clf.config.words is not None
    floor, look = float(clf.config.words["floor"]), float(clf.config.words["look"])
    texts = load_brand_texts(clf.directory, clf.labels)
    _, scores, probs = _brand_scores(clf, paths)
    names, said = list(names), said.copy()
    for i, path in enumerate(paths):
        if said[i] or scores[i] < look:
            continue
        read = brands_read(read_photo_text(clf.text_reader, path), texts)
        brand = brand_from_words(probs[i], clf.labels, read, floor)
        if brand is not None:
            names[i], said[i] = brand, True
    return names, said


def _trained_on(config: dict[str, Any], data_root: Path) -> set[Path]:
    """The photos of ``shared/data`` a model's training and validation parts used.

    Read from ``config.json``: the long recipe's split (its seed), or the quick recipe's,
    which the bundled model ran with ``train_on_all_sources=True`` (its ``train_photos``
    count tells which).
    """
    from logobrand.data.otherlogos import otherlogos_splits

    training = config.get("training", {})
    recipe = training.get("recipe", {})
    seed = int(recipe.get("seed", 0))
    if recipe.get("name") == "finetune":
        splits = shared_data_splits(data_root, seed=seed)
        fractions = tuple(recipe.get("otherlogos_fractions", (0.6, 0.2, 0.2)))
        other_train, other_val, _ = otherlogos_splits(
            data_root / "otherlogos", fractions=fractions, seed=seed
        )
        extra = [s.path for s in other_train + other_val]
    else:
        splits = shared_data_splits(data_root, seed=seed)
        if training.get("train_photos") not in (None, len(splits.train)):
            splits = shared_data_splits(data_root, seed=seed, train_on_all_sources=True)
        extra = []
    return {s.path for s in splits.train.samples + splits.val.samples} | set(extra)


def compare_rows(data_root: Path, models: list[Path]) -> list[dict[str, Any]]:
    """The issue table: one row per model directory (see the module docstring).

    Every model is scored on the same photos: the test and cross-dataset parts less every
    photo that any of the compared models trained or calibrated on.
    """
    from logobrand.data import FlickrLogos27Dataset
    from logobrand.data.base import canonical_class_name
    from logobrand.data.otherlogos import otherlogos_splits
    from logobrand.training.finetune import FLICKRLOGOS27_OTHERS

    splits = shared_data_splits(data_root)
    _, _, other_test = otherlogos_splits(data_root / "otherlogos")
    fl27 = FlickrLogos27Dataset(data_root / "flickrlogos27", name_map=canonical_class_name)
    others = {canonical_class_name(n) for n in FLICKRLOGOS27_OTHERS}
    fl27_other = [s.path for s in fl27.samples if s.label in others]
    classifiers = [LogoClassifier.from_pretrained(d) for d in models]
    seen: set[Path] = set()
    for clf in classifiers:
        config = json.loads((Path(clf.directory) / "config.json").read_text())
        seen |= _trained_on(config, data_root)
    test = [s for s in [*splits.test.samples, *other_test] if s.path not in seen]
    cross = [s for s in splits.cross.samples if s.path not in seen]
    other_test = [s for s in other_test if s.path not in seen]
    parts = {
        "test": ([s.path for s in test], [s.label for s in test]),
        "cross": ([s.path for s in cross], [s.label for s in cross]),
    }
    print(
        f"data (unseen by every compared model): test {len(test)} photos "
        f"({sum(s.label != NO_LOGO for s in test)} logo, {len(other_test)} otherlogos), "
        f"cross {len(cross)} ({sum(s.label != NO_LOGO for s in cross)} logo), "
        f"FlickrLogos-27 other brands {len(fl27_other)}",
        flush=True,
    )
    rows = []
    for directory, clf in zip(models, classifiers, strict=True):
        threshold = clf.config.threshold
        config = json.loads((Path(clf.directory) / "config.json").read_text())
        row: dict[str, Any] = {"model": str(directory), "threshold": threshold}
        row["train_seconds"] = config.get("training", {}).get("train_seconds")
        for part, (paths, truth) in parts.items():
            names, scores, _ = _brand_scores(clf, paths)
            logo = [i for i, t in enumerate(truth) if t != NO_LOGO]
            row[f"{part}_top1"] = float(np.mean([names[i] == truth[i] for i in logo]))
            for target in (0.95, 0.98, 0.99):
                row[f"{part}_R@{target}"] = _recall_at(truth, names, scores, target)
            row[f"{part}_cal_P"], row[f"{part}_cal_R"] = _at_threshold(
                truth, names, scores, threshold
            )
        for key, paths in (
            ("fp_other", [s.path for s in other_test]),
            ("fp_fl27", fl27_other),
        ):
            _, scores, _ = _brand_scores(clf, paths)
            row[key] = float(np.mean(scores >= threshold))
        rows.append(row)
        print("row done:", json.dumps(row), flush=True)
        if clf.config.views is None:
            continue
        view_rows: list[dict[str, Any]] = [{**row, "model": f"{directory} + views", "views": 1}]
        if clf.config.words is not None:
            view_rows.append({**row, "model": f"{directory} + words", "words": 1})
            view_rows.append(
                {**row, "model": f"{directory} + views + words", "views": 1, "words": 1}
            )
        for vrow in view_rows:
            looks = bool(vrow.get("views"))
            threshold = float(clf.config.views["threshold"]) if looks else clf.config.threshold
            vrow["threshold"] = threshold
            for part, (paths, truth) in parts.items():
                if looks:
                    all_scores, all_names = _view_scores(clf, paths)
                    names, scores = _views_rule(all_scores, all_names, threshold)
                else:
                    names, scores, _ = _brand_scores(clf, paths)
                said = scores >= threshold
                if vrow.get("words"):
                    names, said = _with_words(clf, paths, names, said)
                logo = [i for i, t in enumerate(truth) if t != NO_LOGO]
                vrow[f"{part}_top1"] = float(np.mean([names[i] == truth[i] for i in logo]))
                for target in (0.95, 0.98, 0.99):  # swept: only without words
                    vrow[f"{part}_R@{target}"] = float("nan")
                    if not vrow.get("words"):
                        _, precision, recall = views_curve(all_scores, all_names, truth)
                        ok = precision >= target
                        vrow[f"{part}_R@{target}"] = float(recall[ok].max()) if ok.any() else 0.0
                hits = sum(1 for i in range(len(truth)) if said[i] and names[i] == truth[i])
                vrow[f"{part}_cal_P"] = hits / max(1, int(said.sum()))
                vrow[f"{part}_cal_R"] = hits / max(1, len(logo))
            for key, paths in (
                ("fp_other", [s.path for s in other_test]),
                ("fp_fl27", fl27_other),
            ):
                if looks:
                    names, scores = _views_rule(*_view_scores(clf, paths), threshold)
                else:
                    names, scores, _ = _brand_scores(clf, paths)
                said = scores >= threshold
                if vrow.get("words"):
                    names, said = _with_words(clf, paths, names, said)
                vrow[key] = float(np.mean(said))
            rows.append(vrow)
            print("row done:", json.dumps(vrow), flush=True)
    return rows


def print_compare(rows: list[dict[str, Any]]) -> None:
    """Print :func:`compare_rows` as one Markdown table."""
    head = (
        "| model | split | top-1 | R@P.95 | R@P.98 | R@P.99 | cal P | cal R | FP other | "
        "FP fl27 | train s |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for row in rows:
        for part in ("test", "cross"):
            cells = [
                row["model"],
                part,
                *(
                    f"{row[f'{part}_{k}']:.3f}"
                    for k in ("top1", "R@0.95", "R@0.98", "R@0.99", "cal_P", "cal_R")
                ),
                f"{row['fp_other']:.3f}" if part == "test" else "",
                f"{row['fp_fl27']:.3f}" if part == "test" else "",
                f"{row['train_seconds'] or float('nan'):.0f}" if part == "test" else "",
            ]
            print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="evaluate this trained recipe model for (c) instead of training it",
    )
    parser.add_argument("--rows", default="abc", help="which rows to run (default: abc)")
    parser.add_argument(
        "--epochs", type=int, default=RecipeConfig().epochs, help="epochs of rows (a) and (c)"
    )
    parser.add_argument(
        "--int8", action="store_true", help="add row (c) int8: its int8 copy (needs row c)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        default=None,
        help="print the other-brands table for these model directories (no training)",
    )
    args = parser.parse_args(argv)
    if args.compare:
        rows = compare_rows(args.data_root, args.compare)
        print_compare(rows)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        return 0

    splits = shared_data_splits(args.data_root)
    print(
        f"data: train {len(splits.train)}, val {len(splits.val)}, test {len(splits.test)}, "
        f"cross {len(splits.cross)} photos",
        flush=True,
    )
    results: list[tuple[str, dict[str, Any], dict[str, Any], float]] = []
    with tempfile.TemporaryDirectory(prefix="logobrand-accuracy-") as tmp:
        work = Path(tmp)
        if "a" in args.rows:
            results.append(
                ("(a) tutorial: scratch_cnn, SGD", *tutorial_row(splits, args.epochs, work))
            )
        if "b" in args.rows:
            results.append(("(b) frozen Lite0 + linear probe", *probe_row(splits)))
            print("row done:", json.dumps(results[-1]), flush=True)
        if "c" in args.rows:
            results.append(
                ("(c) shipped recipe (calibrated)", *recipe_row(splits, args.model, work))
            )
            if args.int8:
                recipe_dir = args.model if args.model is not None else work / "recipe"
                seconds = results[-1][3]
                results.append(
                    ("(c) int8 copy (same threshold)", *int8_row(splits, recipe_dir, work), seconds)
                )

    header = (
        f"| {'row':34} | {'split':5} | {'n':>5} | {'acc':>5} | {'logo P':>6} | {'logo R':>6} "
        f"| {'mF1':>5} | {'ECE':>5} | {'train s':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    table = []
    for name, test, cross, seconds in results:
        for split, row in (("test", test), ("cross", cross)):
            print(
                f"| {name:34} | {split:5} | {row['images']:5d} | {row['accuracy']:.3f} | "
                f"{row['logo_precision']:6.3f} | {row['logo_recall']:6.3f} | "
                f"{row['macro_f1']:.3f} | {row['ece']:.3f} | {seconds:7.0f} |"
            )
            table.append({"row": name, "split": split, "train_seconds": seconds, **row})
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
