"""Reader of FlickrLogos-27 (Kalantidis et al., ICMR 2011): training photos plus no-logo photos.

Expected folder (as distributed, or as in ``../shared/data/flickrlogos27``)::

    flickr_logos_27_dataset_training_set_annotation.txt   "<file> <brand> <subset> x1 y1 x2 y2"
    flickr_logos_27_dataset_query_set_annotation.txt      "<file>\\t<brand>" (brand "none")
    images/  (or flickr_logos_27_dataset_images/)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from logobrand.data.base import (
    NO_LOGO,
    Box,
    FileDataset,
    NameMap,
    Sample,
    Transform,
    apply_name_map,
    as_path,
    read_text_file,
)
from logobrand.errors import DatasetLayoutError, InvalidArgumentError

logger = logging.getLogger(__name__)

TRAINING_FILE = "flickr_logos_27_dataset_training_set_annotation.txt"
QUERY_FILE = "flickr_logos_27_dataset_query_set_annotation.txt"
IMAGE_DIRS = ("images", "flickr_logos_27_dataset_images")


class FlickrLogos27Dataset(FileDataset):
    """The FlickrLogos-27 training photos (27 brands) and the no-logo photos present on disk.

    One sample per image file: repeated annotation lines (the file repeats boxes once per
    ``subset``) are merged, the boxes of an image are collected, degenerate boxes
    (``x1 >= x2`` or ``y1 >= y2``) are dropped while the photo is kept, and photos whose file
    is absent are left out. The query set's ``none`` photos that exist in the image folder
    become :data:`~logobrand.data.NO_LOGO` samples (its logo photos are not used); a ``none``
    photo that the training file annotates with a brand is not used as a no-logo photo (it
    keeps its brand if that brand is selected). Everything dropped is counted in
    :attr:`problems`. An image annotated with two brands is labelled with the first one (in
    file order, among ``brands``) and keeps the boxes of that brand.

    Args:
        root: The folder holding the annotation files and the image folder.
        brands: Keep only these brands (original spelling or after ``name_map``; case does
            not matter). ``None`` keeps all 27.
        include_none: Add the no-logo photos of the query set.
        transform: Optional callable applied to each decoded image.
        name_map: Renames brands, e.g. :func:`~logobrand.data.canonical_class_name` for the
            FlickrLogos-32 spelling (``Adidas`` -> ``adidas``, ``HP`` stays ``HP``). By default
            brands keep the dataset's capitalised names.

    Attributes:
        root: The dataset folder.
        duplicates_removed: Number of annotation lines that repeated a box already read.
        problems: Degenerate boxes, missing photos, multi-brand photos, the number of query-set
            ``none`` photos absent from the image folder, and ``none`` photos that the
            training file annotates with a brand.

    Raises:
        DatasetLayoutError: An annotation file or the image folder is missing, or a line is
            malformed.
        InvalidArgumentError: ``brands`` is not a list of brand names, or names a brand the
            dataset does not have.

    Examples:
        >>> from logobrand.data import canonical_class_name
        >>> ds = FlickrLogos27Dataset("fl27", name_map=canonical_class_name)  # doctest: +SKIP
        >>> len(ds), len(ds.classes)  # doctest: +SKIP
        (831, 28)
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        brands: Sequence[str] | None = None,
        include_none: bool = True,
        transform: Transform | None = None,
        name_map: NameMap | None = None,
    ) -> None:
        self.root = as_path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"FlickrLogos-27 root {self.root} is not a folder")
        image_dir = next((self.root / d for d in IMAGE_DIRS if (self.root / d).is_dir()), None)
        if image_dir is None:
            raise DatasetLayoutError(
                f"{self.root / IMAGE_DIRS[0]} is missing: FlickrLogos-27 photos go in "
                f"{IMAGE_DIRS[0]}/ (or {IMAGE_DIRS[1]}/)"
            )
        records = _read_training(self.root / TRAINING_FILE)
        self.duplicates_removed = sum(len(boxes) for _, boxes in records) - sum(
            len(set(boxes)) for _, boxes in records
        )
        names = {brand: apply_name_map(brand, name_map) for (_, brand), _ in records}
        keep = _brand_filter(brands, names)
        problems: list[str] = []
        samples: dict[str, Sample] = {}
        for (file_name, brand), raw_boxes in records:
            if brand not in keep:
                continue
            if file_name in samples:
                problems.append(
                    f"{image_dir / file_name} is annotated with {brand} too; labelled "
                    f"{samples[file_name].label}, the {brand} boxes are not used"
                )
                continue
            boxes = []
            for box in dict.fromkeys(raw_boxes):
                if box.is_degenerate:
                    problems.append(
                        f"{image_dir / file_name}: degenerate {brand} box {box} dropped"
                    )
                else:
                    boxes.append(box)
            samples[file_name] = Sample(image_dir / file_name, names[brand], tuple(boxes))
        if include_none:
            trained: dict[str, str] = {}
            for (file_name, brand), _ in records:
                trained.setdefault(file_name, brand)
            absent: list[str] = []
            for file_name in dict.fromkeys(_read_query_none(self.root / QUERY_FILE)):
                if file_name in trained:
                    kept = samples.get(file_name)
                    outcome = (
                        f"kept as {kept.label}, not used as a no-logo photo"
                        if kept is not None
                        else "left out: its brand is not selected and it is not used as a "
                        "no-logo photo"
                    )
                    problems.append(
                        f"{image_dir / file_name} is annotated with {trained[file_name]} in "
                        f"{TRAINING_FILE} but listed as none in {QUERY_FILE}; {outcome}"
                    )
                elif (image_dir / file_name).is_file():
                    samples[file_name] = Sample(image_dir / file_name, NO_LOGO)
                else:
                    absent.append(file_name)
            if absent:
                shown = ", ".join(absent[:3]) + (", ..." if len(absent) > 3 else "")
                one = len(absent) == 1
                photos, are, were = ("photo", "is", "was") if one else ("photos", "are", "were")
                problems.append(
                    f"{len(absent)} query-set none {photos} listed in {QUERY_FILE} {are} not in "
                    f"{image_dir} and {were} skipped ({shown}); add the files there to use them "
                    "as no-logo photos"
                )
        present = []
        for sample in samples.values():
            if sample.path.is_file():
                present.append(sample)
            else:
                problems.append(f"{sample.path} ({sample.label}) is missing; skipped")
        if len(present) < len(samples):
            logger.warning(
                "FlickrLogos-27: %d annotated photos are missing and were skipped "
                "(see dataset.problems)",
                len(samples) - len(present),
            )
        classes = {names[b] for b in keep} | ({NO_LOGO} if include_none else set())
        super().__init__(present, classes, transform, problems=problems)


_Record = tuple[tuple[str, str], list[Box]]


def _read_training(path: Path) -> list[_Record]:
    """Group the lines of the training file by (file, brand), keeping the file order."""
    if not path.is_file():
        raise DatasetLayoutError(
            f"{path} is missing: it is the FlickrLogos-27 training annotation file "
            "('<file> <brand> <subset> x1 y1 x2 y2' per line)"
        )
    grouped: dict[tuple[str, str], list[Box]] = {}
    for number, raw in enumerate(read_text_file(path).splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        try:
            if len(fields) != 7:
                raise ValueError
            box = Box(*(float(v) for v in fields[3:7]))
        except (ValueError, InvalidArgumentError):
            raise DatasetLayoutError(
                f"{path}, line {number}: expected '<file> <brand> <subset> x1 y1 x2 y2', "
                f"got {raw!r}"
            ) from None
        grouped.setdefault((fields[0], fields[1]), []).append(box)
    return list(grouped.items())


def _read_query_none(path: Path) -> list[str]:
    """The file names that the query annotation file labels ``none``."""
    if not path.is_file():
        raise DatasetLayoutError(
            f"{path} is missing: it lists the no-logo photos; restore it or pass include_none=False"
        )
    names = []
    for raw in read_text_file(path).splitlines():
        fields = raw.split()
        if len(fields) >= 2 and fields[1].lower() == "none":
            names.append(fields[0])
    return names


def _brand_filter(brands: Sequence[str] | None, names: dict[str, str]) -> set[str]:
    """The original brand names selected by ``brands`` (original or mapped spelling)."""
    if brands is None:
        return set(names)
    if isinstance(brands, str):
        raise InvalidArgumentError(f"brands must be a list of names, got the string {brands!r}")
    if not isinstance(brands, Iterable):
        raise InvalidArgumentError(f"brands must be a list of brand names, got {brands!r}")
    keep: set[str] = set()
    for wanted in brands:
        if not isinstance(wanted, str):
            raise InvalidArgumentError(
                f"brands must hold brand names (strings), got {wanted!r} in {brands!r}"
            )
        match = {b for b, m in names.items() if wanted.lower() in (b.lower(), m.lower())}
        if not match:
            raise InvalidArgumentError(
                f"FlickrLogos-27 has no brand {wanted!r}; its brands are {', '.join(sorted(names))}"
            )
        keep |= match
    return keep
