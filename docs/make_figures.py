"""Draw the figures of the documentation into ``docs/_static/figures/``.

The pages include a figure only when its file exists, so the docs build with or without
them. Figures:

``augmented_grid.jpg``
    A few photos from ``../shared/data`` (four Logos-32plus brands and one no-logo photo), each
    followed by random draws of :func:`logobrand.transforms.train_transform`. Always drawn
    when the shared data is present; cheap. JPEG, as it shows photos.
``training_curves_<name>.png``
    :func:`logobrand.plotting.plot_history` of a training history (the ``history.jsonl`` or
    ``history.csv`` that :class:`~logobrand.training.HistoryLogger` and ``logobrand train``
    write), for each ``--history NAME=PATH``.
``confusion_matrix_<name>.png``
    :func:`logobrand.plotting.plot_confusion_matrix` of a recognition report (the JSON of
    :meth:`logobrand.metrics.RecognitionReport.to_dict`, also accepted nested under a
    ``"report"`` key as ``logobrand evaluate --json`` prints it), for each ``--report NAME=PATH``.

The tutorial page uses the names ``scratch`` and ``finetune``::

    python docs/make_figures.py \\
        --history scratch=runs/scratch/history.jsonl \\
        --history finetune=runs/finetune/history.jsonl \\
        --report finetune=runs/finetune/test_report.json

Needs the ``plot`` extra (matplotlib); torch is not needed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent / "_static" / "figures"

GRID_BRANDS = ("adidas", "ups", "heineken", "starbucks")
"""Brand folders of ``logos32plus`` shown in the augmented grid (first photo of each)."""
GRID_DRAWS = 4
"""Augmented draws per photo."""
GRID_SEED = 0


def _first_image(folder: Path) -> Path:
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise SystemExit(f"make_figures: no photo in {folder}; is the shared data complete?")
    return photos[0]


def augmented_grid(data: Path, out: Path, seed: int = GRID_SEED) -> Path:
    """Draw ``augmented_grid.jpg``: each chosen photo, then ``GRID_DRAWS`` augmentations."""
    from logobrand.data import NO_LOGO
    from logobrand.images import load_image
    from logobrand.models import Preprocessing
    from logobrand.plotting import show_images
    from logobrand.transforms import train_transform

    pre = Preprocessing()
    augment = train_transform(pre, seed=seed)
    chosen = [(brand, _first_image(data / "logos32plus" / brand)) for brand in GRID_BRANDS]
    chosen.append((NO_LOGO, _first_image(data / "nologo")))
    images: list[Any] = []
    captions: list[str] = []
    for label, path in chosen:
        photo = load_image(path)
        height, width = photo.shape[:2]
        images.append(photo)
        captions.append(f"{label} ({width}x{height})")
        for draw in range(1, GRID_DRAWS + 1):
            images.append(augment(photo))
            captions.append(f"draw {draw}")
    target = out / "augmented_grid.jpg"
    show_images(
        images,
        captions,
        pre=pre,
        ncols=GRID_DRAWS + 1,
        path=target,
        title=f"train_transform(Preprocessing(), seed={seed}): photo as stored, then random draws",
    )
    return target


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def read_history(path: Path) -> list[dict[str, Any]]:
    """Read a training history: JSON Lines (one dict per epoch) or CSV with a header row."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return [
            {k: _number(v) for k, v in row.items()} for row in csv.DictReader(text.splitlines())
        ]
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"make_figures: {path} line {number} is not JSON: {exc}") from exc
    return rows


def read_report(path: Path) -> tuple[list[str], list[list[int]]]:
    """Read ``labels`` and ``confusion`` from a recognition report JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "confusion" not in data and isinstance(data.get("report"), dict):
        data = data["report"]
    if not isinstance(data, dict) or "labels" not in data or "confusion" not in data:
        raise SystemExit(
            f"make_figures: {path} has no 'labels' and 'confusion'; pass the JSON of "
            "RecognitionReport.to_dict() (or logobrand evaluate --json)"
        )
    return list(data["labels"]), data["confusion"]


def training_curves(name: str, history: Path, out: Path) -> Path:
    """Draw ``training_curves_<name>.png`` from a history file."""
    from logobrand.plotting import plot_history

    rows = read_history(history)
    target = out / f"training_curves_{name}.png"
    plot_history(rows, target, title=f"{name}: loss and accuracy per epoch")
    return target


def confusion_matrix(name: str, report: Path, out: Path) -> Path:
    """Draw ``confusion_matrix_<name>.png`` from a report file (rows normalised)."""
    from logobrand.plotting import plot_confusion_matrix

    labels, matrix = read_report(report)
    target = out / f"confusion_matrix_{name}.png"
    plot_confusion_matrix(
        matrix, labels, target, normalize=True, title=f"{name}: confusion matrix (rows sum to 1)"
    )
    return target


def _named_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path or not name.replace("_", "").replace("-", "").isalnum():
        raise argparse.ArgumentTypeError(
            f"expected NAME=PATH (NAME: letters, digits, -, _), got {text!r}"
        )
    return name, Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the PNGs")
    parser.add_argument("--seed", type=int, default=GRID_SEED, help="seed of the augmentations")
    parser.add_argument("--no-grid", action="store_true", help="skip the augmented grid")
    parser.add_argument(
        "--history",
        type=_named_path,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="draw training_curves_NAME.png",
    )
    parser.add_argument(
        "--report",
        type=_named_path,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="draw confusion_matrix_NAME.png",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if not args.no_grid:
        if (args.data / "logos32plus").is_dir():
            written.append(augmented_grid(args.data, args.out, args.seed))
        else:
            print(
                f"make_figures: {args.data / 'logos32plus'} not found; augmented grid skipped",
                file=sys.stderr,
            )
    for name, path in args.history:
        written.append(training_curves(name, path, args.out))
    for name, path in args.report:
        written.append(confusion_matrix(name, path, args.out))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # the working tree's logobrand, installed or not
    sys.exit(main())
