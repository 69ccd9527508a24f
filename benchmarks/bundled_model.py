"""Score the bundled model on the held-out part of its own training sources, per brand.

The bundled model is trained with ``shared_data_splits(..., train_on_all_sources=True)``;
this prints its FlickrLogos-32 protocol figures on that split's test part (never trained on,
never used for calibration) and the per-brand table of the model card.

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
    splits = shared_data_splits(args.data_root, train_on_all_sources=True)
    result = evaluate(LogoClassifier.from_pretrained(args.model), splits.test)
    print(json.dumps(result.summary()))
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
