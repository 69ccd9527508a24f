"""Step 1 of the tutorial: prepare the data (the tutorial's "data preparation" section).

With your own FlickrLogos-32 download (``--flickrlogos32 ROOT``) this shows the tutorial's
partition: 1,820 training photos (``trainset`` + the first half of the no-logo validation
photos), 2,460 validation photos and the official 3,960 test photos.

Without it (the default here) it builds the same kind of data from ``../shared/data``: the
Logos-32plus photos of the 32 brands plus the no-logo photos, and a seeded, stratified
train/val/test split that keeps duplicate and near-duplicate photos on one side. It prints
the class counts, a leak check, the data trap (photo geometry of logos vs. no-logo photos)
and saves a grid of augmented training samples when matplotlib is installed.

Run::

    python examples/01_prepare_split.py            # the whole shared data set (~1 minute)
    python examples/01_prepare_split.py --fast     # 6 photos per class
    python examples/01_prepare_split.py --flickrlogos32 ~/FlickrLogos-v2
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
from collections import Counter
from pathlib import Path

from PIL import Image

from logobrand.data import (
    NO_LOGO,
    FileDataset,
    FlickrLogosDataset,
    ImageFolderDataset,
    concat,
    find_leaks,
    stratified_split,
)
from logobrand.models import Preprocessing
from logobrand.transforms import train_transform

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def first_per_class(data: FileDataset, n: int) -> FileDataset:
    """Keep the first ``n`` photos of every class (for quick runs)."""
    seen: Counter[str] = Counter()
    keep = []
    for i, sample in enumerate(data.samples):
        if seen[sample.label] < n:
            keep.append(i)
            seen[sample.label] += 1
    return data.subset(keep)


def print_counts(parts: dict[str, FileDataset]) -> None:
    """Print a class x split table of photo counts."""
    names = list(parts)
    classes = sorted({c for part in parts.values() for c in part.classes})
    counts = {name: part.class_counts() for name, part in parts.items()}
    print(f"{'class':<14}" + "".join(f"{name:>8}" for name in names))
    for label in classes:
        print(f"{label:<14}" + "".join(f"{counts[n].get(label, 0):>8}" for n in names))
    print(f"{'total':<14}" + "".join(f"{len(parts[n]):>8}" for n in names))


def check_leaks(parts: dict[str, FileDataset], near_duplicates: bool) -> None:
    """Report photos shared by two parts (they would inflate the scores)."""
    names = list(parts)
    kind = "identical or near-duplicate" if near_duplicates else "identical"
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            leaks = find_leaks(parts[a], parts[b], near_duplicates=near_duplicates)
            verdict = "none" if not leaks else f"{len(leaks)}, e.g. {leaks[0]}"
            print(f"{kind} photos in both {a} and {b}: {verdict}")


def print_geometry(data: FileDataset, per_side: int = 40) -> None:
    """Show the data trap: Logos-32plus photos are all 224x224, the no-logo ones are not."""
    sizes: dict[str, Counter[tuple[int, int]]] = {"logo": Counter(), "no-logo": Counter()}
    for sample in data.samples:
        side = "no-logo" if sample.label == NO_LOGO else "logo"
        if sum(sizes[side].values()) < per_side:
            with Image.open(sample.path) as image:
                sizes[side][image.size] += 1
    for side, counter in sizes.items():
        total = sum(counter.values())
        common = ", ".join(f"{w}x{h} ({n})" for (w, h), n in counter.most_common(3))
        print(f"  {side:<8} photos, first {total}: most common sizes {common}")
    print(
        "  -> a model could learn 'square 224x224 means logo'. Every photo is squashed to a\n"
        "     square before cropping (train_transform / Preprocessing.resize='squash'), so both\n"
        "     sides reach the network with the same geometry."
    )


def save_augmented_grid(train: FileDataset, path: Path, seed: int) -> None:
    """Save 16 augmented training samples as a PNG (needs matplotlib: the plot extra)."""
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed (pip install 'logobrand[plot]'): no sample grid")
        return
    from logobrand.plotting import show_images

    pre = Preprocessing(input_size=224)
    count = min(16, len(train))
    spread = sorted({round(i * (len(train) - 1) / max(1, count - 1)) for i in range(count)})
    picked = train.subset(spread).with_transform(train_transform(pre, seed))
    images, labels = [], []
    for i in range(min(16, len(picked))):
        image, target = picked[i]
        images.append(image)
        labels.append(picked.classes[target])
    show_images(images, labels, pre=pre, ncols=8, path=path, title="augmented training samples")
    print(f"saved {path}")


def write_split(parts: dict[str, FileDataset], path: Path) -> None:
    """Write ``path,label,part`` rows so that other tools can reuse the split."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "part"])
        for name, part in parts.items():
            for sample in part.samples:
                writer.writerow([str(sample.path), sample.label, name])
    print(f"saved {path}")


def flickrlogos32(root: Path) -> dict[str, FileDataset]:
    """The tutorial's FlickrLogos-32 partition (1820 / 2460 / 3960)."""
    parts: dict[str, FileDataset] = {
        "train": FlickrLogosDataset(root, "train", tutorial_recipe=True),
        "val": FlickrLogosDataset(root, "val", tutorial_recipe=True),
        "test": FlickrLogosDataset(root, "test"),
    }
    print("FlickrLogos-32, the tutorial's recipe (expected 1820 / 2460 / 3960 photos):")
    return parts


def shared_data(root: Path, fast: bool, seed: int) -> dict[str, FileDataset]:
    """Logos-32plus + no-logo photos, split 70/15/15 per class, duplicates kept together."""
    logos = ImageFolderDataset(root / "logos32plus")
    negatives = ImageFolderDataset.from_folders({NO_LOGO: root / "nologo"})
    data = concat(logos, negatives)
    if fast:
        data = first_per_class(data, 6)
    print(f"{len(data)} photos of {len(data.classes)} classes from {root}")
    print("photo geometry (the data trap, see ../shared/data/README.md):")
    print_geometry(data)
    print(f"splitting 70/15/15 with seed {seed}, near-duplicates kept on one side ...")
    train, val, test = stratified_split(data, (0.7, 0.15, 0.15), seed=seed)
    return {"train": train, "val": val, "test": test}


def main() -> None:
    """Parse the arguments and prepare the split."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--flickrlogos32", type=Path, help="a FlickrLogos-32 v2 download")
    parser.add_argument("--fast", action="store_true", help="6 photos per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/01_prepare_split"))
    args = parser.parse_args()

    if args.flickrlogos32 is not None:
        parts = flickrlogos32(args.flickrlogos32)
    else:
        parts = shared_data(args.data_root, args.fast, args.seed)
    print_counts(parts)
    check_leaks(parts, near_duplicates=args.flickrlogos32 is None)
    write_split(parts, args.out / "split.csv")
    save_augmented_grid(parts["train"], args.out / "augmented.png", args.seed)


if __name__ == "__main__":
    main()
