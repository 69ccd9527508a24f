"""Score the bundled model on the held-out part of its own training sources, per brand.

The split follows the model's recipe, read from its ``config.json``: the long recipe
(:mod:`logobrand.training.finetune`) uses ``shared_data_splits(...)`` and the ``otherlogos``
split, so its test part is the Logos-32plus + ImageNet no-logo test part plus the
``otherlogos`` test part (other brands' signs, answered right only by "no logo"); older
bundled models were trained with ``train_on_all_sources=True``. This prints the FlickrLogos-32
protocol figures on that test part (never trained on, never used for calibration), then on the
cross-dataset part when the model did not train on it, and the per-brand table of the model
card.

Usage::

    python benchmarks/bundled_model.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from logobrand.evaluation import evaluate
from logobrand.inference import LogoClassifier
from logobrand.training.recipe import shared_data_splits

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model", type=Path, default=None, help="model directory [bundled]")
    args = parser.parse_args(argv)
    clf = LogoClassifier.from_pretrained(args.model)
    recipe = clf.config.training.get("recipe", {})
    if recipe.get("name") == "finetune":
        from logobrand.data import FileDataset, otherlogos_splits

        splits = shared_data_splits(args.data_root, seed=int(recipe.get("seed", 0)))
        _, _, other_test = otherlogos_splits(args.data_root / "otherlogos")
        test = FileDataset([*splits.test.samples, *other_test], splits.test.classes)
        cross = evaluate(clf, splits.cross)
        print("cross-dataset:", json.dumps(cross.summary()))
    else:
        test = shared_data_splits(args.data_root, train_on_all_sources=True).test
    result = evaluate(clf, test)
    print("test:", json.dumps(result.summary()))
    print("| brand | support | precision | recall | F1 |")
    print("|---|---:|---:|---:|---:|")
    for row in result.report.per_class:
        print(
            f"| {row.label} | {row.support} | {row.precision:.2f} | {row.recall:.2f} "
            f"| {row.f1:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
