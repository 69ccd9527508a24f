"""Reader of the official FlickrLogos-32 v2 download (Romberg et al., ICMR 2011).

The dataset is not shipped with logobrand; point :class:`FlickrLogosDataset` at the
``FlickrLogos-v2`` folder of your own copy::

    FlickrLogos-v2/
      trainset.txt  valset-logosonly.txt  valset-nologos.txt  testset.txt   <class>,<file>
      (or the same names ending in .relpaths.txt: classes/jpg/<class>/<file>)
      classes/jpg/<class>/<file>
      classes/masks/<class>/<file>.bboxes.txt     "x y width height", then one box per line
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from logobrand.data.base import (
    NO_LOGO,
    Box,
    FileDataset,
    Sample,
    Transform,
    as_path,
    read_text_file,
)
from logobrand.data.base import canonical_class_name as _canonical
from logobrand.errors import DatasetLayoutError, InvalidArgumentError

logger = logging.getLogger(__name__)

Split = Literal["train", "val", "test"]
OnMissing = Literal["error", "skip"]

LIST_NAMES = ("trainset", "valset-logosonly", "valset-nologos", "testset")
"""The list files that :class:`FlickrLogosDataset` reads (without ``.txt``)."""


class FlickrLogosDataset(FileDataset):
    """One split of a FlickrLogos-32 v2 download, with the logo boxes of every photo.

    The official partition: ``train`` = ``trainset`` (P1, 320 photos), ``val`` =
    ``valset-logosonly`` + ``valset-nologos`` (P2, 3,960), ``test`` = ``testset`` (P3, 3,960).
    With ``tutorial_recipe=True`` the no-logo half of P2 is shared out as in the dataset's
    tutorial: ``train`` = ``trainset`` + the first half of ``valset-nologos`` (1,820) and
    ``val`` = ``valset-logosonly`` + the second half (2,460).

    The classes are the union of the labels of all four lists (the 32 brands and ``no-logo``
    on the real set), so every split of one root has the same label ids. Each list is read
    from ``<name>.txt`` (``<class>,<file>``) or, when absent, ``<name>.relpaths.txt``
    (``classes/jpg/<class>/<file>``); class folders are matched case-insensitively.

    Args:
        root: The ``FlickrLogos-v2`` folder.
        split: ``"train"``, ``"val"`` or ``"test"``.
        tutorial_recipe: Use the tutorial's train/val partition (see above).
        transform: Optional callable applied to each decoded image.
        on_missing: What to do with a listed photo that is absent: ``"error"`` raises
            :class:`DatasetLayoutError` naming it, ``"skip"`` leaves it out and records it in
            :attr:`problems`.

    Attributes:
        root: The dataset folder.
        split: The split that was read.
        missing: The listed photos that were absent (with ``on_missing="skip"``).
        problems: Messages about skipped photos and photos without a box file.

    Raises:
        DatasetLayoutError: A list file or the ``classes/jpg`` folder is missing, a list line
            or a box file is malformed, or (``on_missing="error"``) a listed photo is absent.

    Examples:
        >>> train = FlickrLogosDataset("FlickrLogos-v2", "train")  # doctest: +SKIP
        >>> image, label = train[0]  # doctest: +SKIP
        >>> train.classes[label], train.samples[0].boxes  # doctest: +SKIP
        ('adidas', (Box(x1=38.0, y1=12.0, x2=234.0, y2=142.0),))
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: Split = "train",
        *,
        tutorial_recipe: bool = False,
        transform: Transform | None = None,
        on_missing: OnMissing = "error",
    ) -> None:
        if split not in ("train", "val", "test"):
            raise InvalidArgumentError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if on_missing not in ("error", "skip"):
            raise InvalidArgumentError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
        self.root = as_path(root)
        self.split: Split = split
        self.tutorial_recipe = tutorial_recipe
        self.missing: list[Path] = []
        jpg_dir = _layout_dir(self.root, "classes/jpg")
        lists = {name: _read_list(self.root, name) for name in LIST_NAMES}
        entries = _select(lists, split, tutorial_recipe)
        jpg_folders = _folders_by_lower(jpg_dir)
        masks_dir = self.root / "classes" / "masks"
        mask_folders = _folders_by_lower(masks_dir) if masks_dir.is_dir() else {}
        problems: list[str] = []
        if not masks_dir.is_dir():
            problems.append(f"{masks_dir} is missing: photos have no logo boxes")
        samples: list[Sample] = []
        seen: set[Path] = set()
        for list_file, class_name, file_name in entries:
            folder = jpg_folders.get(class_name.lower(), jpg_dir / class_name)
            path = folder / file_name
            if path in seen:
                problems.append(f"{path} is listed twice (again in {list_file.name}); kept once")
                continue
            seen.add(path)
            if not path.is_file():
                if on_missing == "error":
                    raise DatasetLayoutError(
                        f"{path} is listed in {list_file} but does not exist; restore the "
                        "photo or pass on_missing='skip' to leave it out"
                    )
                self.missing.append(path)
                problems.append(f"{path} (listed in {list_file.name}) is missing; skipped")
                continue
            label = _canonical(class_name)
            boxes: tuple[Box, ...] = ()
            if label != NO_LOGO and masks_dir.is_dir():
                box_file = mask_folders.get(class_name.lower(), masks_dir / class_name)
                box_file = box_file / f"{file_name}.bboxes.txt"
                if box_file.is_file():
                    boxes = read_bboxes_file(box_file)
                else:
                    problems.append(f"{box_file} is missing: {path} has no logo boxes")
            samples.append(Sample(path, label, boxes))
        if self.missing:
            logger.warning(
                "FlickrLogos-32 %s split: %d listed photos are missing and were skipped "
                "(see dataset.problems)",
                split,
                len(self.missing),
            )
        classes = {_canonical(c) for entries_ in lists.values() for _, c, _ in entries_}
        super().__init__(samples, classes, transform, problems=problems)


_Entry = tuple[Path, str, str]
"""``(list file, class folder name, file name)``."""


def _layout_dir(root: Path, relative: str) -> Path:
    if not root.is_dir():
        raise DatasetLayoutError(
            f"FlickrLogos-32 root {root} is not a folder; pass the FlickrLogos-v2 folder of "
            "the download"
        )
    path = root / relative
    if not path.is_dir():
        hint = ""
        nested = [p for p in root.iterdir() if (p / relative).is_dir()]
        if nested:
            hint = f" (did you mean root={nested[0]}?)"
        raise DatasetLayoutError(
            f"{path} is missing: {root} is not a FlickrLogos-32 v2 folder{hint}; pass the "
            "folder that holds trainset.txt and classes/"
        )
    return path


def _read_list(root: Path, name: str) -> list[_Entry]:
    """Read ``<name>.txt`` or ``<name>.relpaths.txt`` as (list file, class, file) entries."""
    plain, relpaths = root / f"{name}.txt", root / f"{name}.relpaths.txt"
    list_file = plain if plain.is_file() else relpaths
    if not list_file.is_file():
        raise DatasetLayoutError(
            f"{plain} is missing (and so is {relpaths.name}); the FlickrLogos-32 v2 download "
            f"has both; restore one of them"
        )
    entries: list[_Entry] = []
    text = read_text_file(list_file)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().replace("\\", "/")
        if not line:
            continue
        if "/" in line:
            parts = [p for p in line.split("/") if p]
            ok = len(parts) >= 2
            class_name, file_name = (parts[-2], parts[-1]) if ok else ("", "")
        else:
            class_name, _, file_name = (p.strip() for p in line.partition(","))
            ok = bool(class_name and file_name)
        if not ok:
            raise DatasetLayoutError(
                f"{list_file}, line {number}: expected '<class>,<file>' or "
                f"'classes/jpg/<class>/<file>', got {raw!r}"
            )
        entries.append((list_file, class_name, file_name))
    return entries


def _select(lists: dict[str, list[_Entry]], split: Split, tutorial: bool) -> list[_Entry]:
    if split == "test":
        return lists["testset"]
    nologos = lists["valset-nologos"]
    half = len(nologos) // 2
    if split == "train":
        return lists["trainset"] + (nologos[:half] if tutorial else [])
    return lists["valset-logosonly"] + (nologos[half:] if tutorial else nologos)


def _folders_by_lower(directory: Path) -> dict[str, Path]:
    """Subfolders of ``directory`` by lower-cased name (the first in sorted order wins)."""
    folders: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir():
            folders.setdefault(path.name.lower(), path)
    return folders


def read_bboxes_file(path: Path) -> tuple[Box, ...]:
    """Read a FlickrLogos-32 ``*.bboxes.txt`` file (``x y width height`` lines).

    A first line that is not numeric (the ``x y width height`` header) is skipped.

    Raises:
        DatasetLayoutError: A line is not four numbers; the message names file and line.
    """
    boxes: list[Box] = []
    lines = read_text_file(path).splitlines()
    for number, raw in enumerate(lines, start=1):
        fields = raw.replace(",", " ").split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            if not boxes and number == _first_nonblank(lines):
                continue
            values = []
        if len(values) != 4:
            raise DatasetLayoutError(
                f"{path}, line {number}: expected 'x y width height', got {raw!r}"
            )
        boxes.append(Box.from_xywh(*values))
    return tuple(boxes)


def _first_nonblank(lines: Sequence[str]) -> int:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            return number
    return 0
