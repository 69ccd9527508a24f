"""The datasets the ``train`` and ``evaluate`` commands read: folders, FlickrLogos-32.

Notes about what was skipped go to stderr; the error messages name the command-line options.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

import numpy as np

from logobrand.cli.args import err
from logobrand.errors import DatasetLayoutError, InvalidArgumentError

if TYPE_CHECKING:
    from logobrand.data import FileDataset


def cap_per_class(data: FileDataset, limit: int | None, seed: int) -> FileDataset:
    """Keep at most ``limit`` photos per class (a seeded random choice, dataset order kept)."""
    if limit is None:
        return data
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, sample in enumerate(data.samples):
        by_class.setdefault(sample.label, []).append(i)
    keep: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) > limit:
            chosen = rng.choice(len(members), size=limit, replace=False)
            members = [members[int(k)] for k in chosen]
        keep.extend(members)
    return data.subset(sorted(keep))


def load_folder_dataset(
    data: str | os.PathLike[str] | None,
    negatives: str | os.PathLike[str] | None,
    *,
    limit_per_class: int | None = None,
    seed: int = 0,
) -> FileDataset:
    """Build a dataset from a folder of class folders plus a folder of no-logo photos.

    Class folder names are mapped to the FlickrLogos-32 spelling
    (:func:`~logobrand.data.canonical_class_name`); every photo of ``negatives`` is labelled
    ``"no-logo"``.

    Args:
        data: A folder with one sub-folder per class (e.g. ``../shared/data/logos32plus``).
        negatives: A folder of photos without logos (e.g. ``../shared/data/nologo``).
        limit_per_class: Keep at most this many photos per class (seeded choice).
        seed: Seed of that choice.

    Returns:
        The dataset.

    Raises:
        DatasetLayoutError: A folder is missing or has no class folders, or no image at all.
        InvalidArgumentError: Neither folder was given, or a photo is in both.
    """
    from logobrand.data import NO_LOGO, ImageFolderDataset, canonical_class_name, concat

    parts: list[FileDataset] = []
    if data is not None:
        parts.append(ImageFolderDataset(data, name_map=canonical_class_name))
    if negatives is not None:
        parts.append(ImageFolderDataset.from_folders({NO_LOGO: negatives}))
    if not parts:
        raise InvalidArgumentError("no data given; pass --data DIR and/or --negatives DIR")
    if len(parts) == 2:
        labelled = {s.path.resolve(): s.label for s in parts[0].samples}
        both = [s.path for s in parts[1].samples if s.path.resolve() in labelled]
        if both:
            raise InvalidArgumentError(
                f"{len(both)} photo(s) of --negatives {negatives} are also in --data {data} "
                f"(e.g. {both[0]}, class {labelled[both[0].resolve()]!r}): they would be "
                "labelled both ways; pass a --negatives folder of photos without logos"
            )
    dataset = parts[0] if len(parts) == 1 else concat(*parts)
    for problem in dataset.problems:
        err(f"note: {problem}")
    if len(dataset) == 0:
        given = " and ".join(str(f) for f in (data, negatives) if f is not None)
        raise DatasetLayoutError(
            f"{given} holds no image (see the notes above); put the photos in one sub-folder "
            "per class"
        )
    return cap_per_class(dataset, limit_per_class, seed)


def describe_counts(name: str, data: FileDataset) -> str:
    counts = data.class_counts()
    from logobrand.data import NO_LOGO

    brands = sum(n for label, n in counts.items() if label != NO_LOGO)
    return (
        f"{name}: {len(data)} photos, {len(counts)} classes "
        f"({brands} with a logo, {counts.get(NO_LOGO, 0)} without)"
    )


def read_flickrlogos32(args: argparse.Namespace, split: str) -> FileDataset:
    """Read a split of ``--flickrlogos32`` and print what was skipped (at most 10 notes)."""
    from logobrand.data import FlickrLogosDataset

    data = FlickrLogosDataset(
        args.flickrlogos32,
        split,  # type: ignore[arg-type]
        tutorial_recipe=getattr(args, "tutorial_recipe", False),
        on_missing="skip" if args.skip_missing else "error",
    )
    for problem in data.problems[:10]:
        err(f"note ({split}): {problem}")
    if len(data.problems) > 10:
        err(f"note ({split}): ... and {len(data.problems) - 10} more")
    return data


def report_leaks(train: FileDataset, val: FileDataset | None) -> None:
    """Warn about byte-identical photos in both parts (content hash), naming them."""
    from logobrand.data import find_leaks

    if val is None:
        return
    leaks = find_leaks(train, val)
    if leaks:
        shown = "; ".join(f"{a} = {b}" for a, b in leaks[:5])
        err(f"warning: {len(leaks)} identical photos in train and val (leakage): {shown}")


__all__ = [
    "cap_per_class",
    "describe_counts",
    "load_folder_dataset",
    "read_flickrlogos32",
    "report_leaks",
]
