"""The ``otherlogos`` collection: shop fronts and signboards of other businesses.

Every photo is a negative for the 32 brands ("none of our brands", label ``no-logo``); 1,440 of
them carry YOLO-format boxes (``labels/<photo stem>.txt``: ``class cx cy w h``, normalised to
the photo) around each logo or sign mark. The box classes are shapes, not brands: every box
reads "a logo is here".

Example:
    >>> # data = OtherLogosDataset("../shared/data/otherlogos")
    >>> # train, val, test = otherlogos_splits("../shared/data/otherlogos")
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from logobrand.data.base import NO_LOGO, Box, FileDataset, Sample
from logobrand.data.splits import stratified_split
from logobrand.errors import DatasetLayoutError

OTHERLOGOS_FRACTIONS = (0.6, 0.2, 0.2)
"""Train, validation and test shares of :func:`otherlogos_splits`."""


def read_yolo_boxes(path: Path, width: int, height: int) -> tuple[Box, ...]:
    """Read a YOLO label file (``class cx cy w h`` per line, normalised) as pixel boxes.

    Lines that are not five numbers, and boxes without area, are left out.
    """
    boxes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        try:
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            continue
        box = Box(
            max(0.0, (cx - w / 2) * width),
            max(0.0, (cy - h / 2) * height),
            min(float(width), (cx + w / 2) * width),
            min(float(height), (cy + h / 2) * height),
        )
        if not box.is_degenerate:
            boxes.append(box)
    return tuple(boxes)


class OtherLogosDataset(FileDataset):
    """Every photo of ``root/images`` as a ``no-logo`` sample, with its boxes where annotated.

    Photos are sorted by name. Photo sizes come from ``manifest.csv`` (so the boxes are read
    without decoding); a photo missing from it has no boxes.

    Args:
        root: The ``otherlogos`` folder (``images/``, ``labels/``, ``manifest.csv``).

    Raises:
        DatasetLayoutError: ``root/images`` holds no ``.jpg`` photo.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        folder = Path(root)
        paths = sorted((folder / "images").glob("*.jpg"))
        if not paths:
            raise DatasetLayoutError(
                f"{folder / 'images'} holds no .jpg photos; pass the otherlogos folder of "
                "../shared/data (images/, labels/, manifest.csv)"
            )
        sizes: dict[str, tuple[int, int]] = {}
        manifest = folder / "manifest.csv"
        if manifest.is_file():
            with manifest.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    sizes[row["filename"]] = (int(row["width"]), int(row["height"]))
        samples = []
        for path in paths:
            label_file = folder / "labels" / f"{path.stem}.txt"
            boxes: tuple[Box, ...] = ()
            if label_file.is_file() and path.name in sizes:
                boxes = read_yolo_boxes(label_file, *sizes[path.name])
            samples.append(Sample(path, NO_LOGO, boxes))
        super().__init__(samples, [NO_LOGO])


def otherlogos_splits(
    root: str | os.PathLike[str],
    *,
    fractions: Sequence[float] = OTHERLOGOS_FRACTIONS,
    seed: int = 0,
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """Split :class:`OtherLogosDataset` into train, validation and test samples.

    Seeded; byte-identical and near-duplicate photos stay on one side.
    """
    parts = stratified_split(OtherLogosDataset(root), tuple(fractions), seed=seed)
    return parts[0].samples, parts[1].samples, parts[2].samples
