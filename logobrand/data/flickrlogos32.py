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
from typing import Literal, NamedTuple

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

    Each list is read from ``<name>.txt`` (``<class>,<file>``) or, when absent,
    ``<name>.relpaths.txt`` (``classes/jpg/<class>/<file>``). A line that is neither (three
    comma-separated fields, say) is an error naming the list file and the line. A photo listed
    twice in one list is kept once, before the halves of ``valset-nologos`` are taken, so it
    cannot land in two splits. A class folder is looked up by its exact spelling first, else
    case-insensitively (masks too: the download has ``jpg/HP`` and ``masks/hp``).

    The classes are the union of the labels of all four lists whose class folder exists under
    ``classes/jpg``, plus ``no-logo`` when it is listed (the 32 brands and ``no-logo`` on the
    real set), so every split of one root has the same label ids. A line whose class folder
    does not exist (a header such as ``class,file``, a typo) adds no class: it names a missing
    photo, which the split that reads the line handles as ``on_missing`` says.

    Everything left out or repaired is counted in :attr:`problems`: photos listed twice, photos
    that are also in another split (they stay in both; delete one of the lines), missing photos
    (``on_missing="skip"``), missing box files, degenerate boxes (zero or negative width or
    height, dropped), box files that hold no usable box, and class folders whose names differ
    only in case.

    Args:
        root: The ``FlickrLogos-v2`` folder.
        split: ``"train"``, ``"val"`` or ``"test"``.
        tutorial_recipe: Use the tutorial's train/val partition (see above).
        transform: Optional callable applied to each decoded image.
        on_missing: What to do with a listed photo that is absent (or whose class folder is):
            ``"error"`` raises :class:`DatasetLayoutError` naming it, the list file and the
            line; ``"skip"`` leaves it out and records it in :attr:`problems`.

    Attributes:
        root: The dataset folder.
        split: The split that was read.
        missing: The listed photos that were absent (with ``on_missing="skip"``).
        problems: Messages about what was left out or repaired (see above).

    Raises:
        DatasetLayoutError: A list file or the ``classes/jpg`` folder is missing, a list line
            or a box file line is malformed (the message names the file and the line), or
            (``on_missing="error"``) a listed photo is absent.

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
        jpg_folders = _ClassFolders(jpg_dir)
        problems: list[str] = [
            f"{jpg_dir} has class folders whose names differ only in case "
            f"({', '.join(p.name for p in group)}); a list entry uses the folder of its exact "
            "spelling, else the first of them; merge them into one folder"
            for group in jpg_folders.case_clashes()
        ]
        lists: dict[str, list[_Entry]] = {}
        duplicates: list[tuple[_Entry, _Entry]] = []
        for name in LIST_NAMES:
            lists[name], repeated = _dedupe(_read_list(self.root, name), jpg_folders)
            duplicates += repeated
        entries = _select(lists, split, tutorial_recipe)
        selected = set(entries)
        for kept, again in duplicates:
            if kept in selected:
                problems.append(
                    f"{jpg_folders.photo(kept)} is listed twice in {kept.list_file.name} "
                    f"(lines {kept.line} and {again.line}); kept once"
                )
        elsewhere: dict[Path, tuple[str, _Entry]] = {}
        for other in ("train", "val", "test"):
            if other != split:
                for entry in _select(lists, other, tutorial_recipe):
                    elsewhere.setdefault(jpg_folders.photo(entry), (other, entry))
        masks_dir = self.root / "classes" / "masks"
        mask_folders = _ClassFolders(masks_dir)
        if not masks_dir.is_dir():
            problems.append(f"{masks_dir} is missing: photos have no logo boxes")
        samples: list[Sample] = []
        seen: dict[Path, _Entry] = {}
        for entry in entries:
            path = jpg_folders.photo(entry)
            where = f"{entry.list_file.name}, line {entry.line}"
            if path in seen:
                problems.append(
                    f"{path} is listed twice ({seen[path].list_file.name}, line "
                    f"{seen[path].line}; again in {where}); kept once"
                )
                continue
            seen[path] = entry
            if not (jpg_folders.has(entry.class_name) and path.is_file()):
                if on_missing == "error":
                    raise DatasetLayoutError(_missing_message(entry, path, jpg_folders))
                self.missing.append(path)
                absent = "" if jpg_folders.has(entry.class_name) else " (no such class folder)"
                problems.append(f"{path} (listed in {where}) is missing{absent}; skipped")
                continue
            if path in elsewhere:
                other, other_entry = elsewhere[path]
                problems.append(
                    f"{path} ({where}) is also in the {other} split ({other_entry.list_file.name}"
                    f", line {other_entry.line}); the splits overlap: delete one of the lines"
                )
            label = _canonical(entry.class_name)
            boxes: tuple[Box, ...] = ()
            if label != NO_LOGO and masks_dir.is_dir():
                box_file = mask_folders.folder(entry.class_name) / f"{entry.file_name}.bboxes.txt"
                if box_file.is_file():
                    boxes = _usable_boxes(box_file, path, problems)
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
        classes = {
            _canonical(e.class_name)
            for entries_ in lists.values()
            for e in entries_
            if jpg_folders.has(e.class_name) or _canonical(e.class_name) == NO_LOGO
        }
        super().__init__(samples, classes, transform, problems=problems)


class _Entry(NamedTuple):
    """One line of a list file."""

    list_file: Path
    line: int
    class_name: str
    file_name: str


class _ClassFolders:
    """The class folders under ``directory`` (which may be absent), looked up by class name.

    The folder of the exact spelling wins; without it, a folder whose name matches
    case-insensitively (the first in sorted order) is used.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._by_lower: dict[str, list[Path]] = {}
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if path.is_dir():
                    self._by_lower.setdefault(path.name.lower(), []).append(path)
        self._cache: dict[str, tuple[Path, bool]] = {}

    def _lookup(self, class_name: str) -> tuple[Path, bool]:
        if class_name not in self._cache:
            exact = self.directory / class_name
            if class_name in (".", ".."):
                found = (exact, False)
            elif exact.is_dir():
                found = (exact, True)
            else:
                matches = self._by_lower.get(class_name.lower(), [])
                found = (matches[0], True) if matches else (exact, False)
            self._cache[class_name] = found
        return self._cache[class_name]

    def folder(self, class_name: str) -> Path:
        """The folder of ``class_name`` (``directory / class_name`` when there is none)."""
        return self._lookup(class_name)[0]

    def has(self, class_name: str) -> bool:
        """Whether ``class_name`` has a folder."""
        return self._lookup(class_name)[1]

    def photo(self, entry: _Entry) -> Path:
        """The path of the photo that ``entry`` names."""
        return self.folder(entry.class_name) / entry.file_name

    def case_clashes(self) -> list[list[Path]]:
        """The groups of folders whose names differ only in case."""
        return [group for group in self._by_lower.values() if len(group) > 1]


def _missing_message(entry: _Entry, path: Path, folders: _ClassFolders) -> str:
    where = f"{entry.list_file}, line {entry.line}"
    if not folders.has(entry.class_name):
        return (
            f"{path} is listed in {where}, but {folders.directory} has no class folder "
            f"{entry.class_name!r}; correct or delete the line (a header line has no place "
            "in the list), or pass on_missing='skip' (CLI: --skip-missing) to leave it out"
        )
    return (
        f"{path} is listed in {where}, but does not exist; restore the photo or pass "
        "on_missing='skip' (CLI: --skip-missing) to leave it out"
    )


def _usable_boxes(box_file: Path, photo: Path, problems: list[str]) -> tuple[Box, ...]:
    """The boxes of ``box_file`` that have an area; what is dropped goes to ``problems``."""
    boxes = []
    for box in read_bboxes_file(box_file):
        if box.is_degenerate:
            problems.append(
                f"{box_file}: degenerate box x={box.x1:g} y={box.y1:g} width={box.width:g} "
                f"height={box.height:g} (no area) dropped"
            )
        else:
            boxes.append(box)
    if not boxes:
        problems.append(f"{box_file} holds no usable box: {photo} has no logo boxes")
    return tuple(boxes)


def _dedupe(
    entries: list[_Entry], folders: _ClassFolders
) -> tuple[list[_Entry], list[tuple[_Entry, _Entry]]]:
    """Keep the first entry of each photo; also return the ``(kept, repeated)`` pairs."""
    first: dict[Path, _Entry] = {}
    repeated: list[tuple[_Entry, _Entry]] = []
    for entry in entries:
        kept = first.setdefault(folders.photo(entry), entry)
        if kept is not entry:
            repeated.append((kept, entry))
    return list(first.values()), repeated


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
    """Read ``<name>.txt`` or ``<name>.relpaths.txt`` as entries, in file order."""
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
            fields = [p.strip() for p in line.split(",")]
            ok = len(fields) == 2 and all(fields)
            class_name, file_name = (fields[0], fields[1]) if ok else ("", "")
        if not ok:
            raise DatasetLayoutError(
                f"{list_file}, line {number}: expected '<class>,<file>' or "
                f"'classes/jpg/<class>/<file>', got {raw!r}; correct or delete the line"
            )
        entries.append(_Entry(list_file, number, class_name, file_name))
    return entries


def _select(lists: dict[str, list[_Entry]], split: Split, tutorial: bool) -> list[_Entry]:
    if split == "test":
        return lists["testset"]
    nologos = lists["valset-nologos"]
    half = len(nologos) // 2
    if split == "train":
        return lists["trainset"] + (nologos[:half] if tutorial else [])
    return lists["valset-logosonly"] + (nologos[half:] if tutorial else nologos)


def read_bboxes_file(path: Path) -> tuple[Box, ...]:
    """Read a FlickrLogos-32 ``*.bboxes.txt`` file (``x y width height`` lines).

    A first line that is not numeric (the ``x y width height`` header) is skipped. Boxes are
    returned as written, degenerate ones (zero or negative width or height) included;
    :class:`FlickrLogosDataset` drops those and reports them.

    Args:
        path: The box file.

    Returns:
        The boxes, in file order (empty when the file holds none).

    Raises:
        DatasetLayoutError: A line is not four finite numbers; the message names file and line.
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
        try:
            if len(values) != 4:
                raise ValueError
            boxes.append(Box.from_xywh(*values))
        except (ValueError, InvalidArgumentError):
            raise DatasetLayoutError(
                f"{path}, line {number}: expected 'x y width height' (four finite numbers), "
                f"got {raw!r}; correct or delete the line"
            ) from None
    return tuple(boxes)


def _first_nonblank(lines: Sequence[str]) -> int:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            return number
    return 0
