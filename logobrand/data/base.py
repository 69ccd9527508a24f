"""Shared building blocks of every logobrand dataset.

:class:`Box` and :class:`Sample` describe one annotated photo; :class:`FileDataset` is a list
of samples plus a sorted class list, and every reader in :mod:`logobrand.data` returns one.
This module also holds the canonical class names (:data:`NO_LOGO`,
:data:`FLICKRLOGOS32_CLASSES`) and :func:`canonical_class_name`, which maps the spellings of
other datasets onto them.
"""

from __future__ import annotations

import copy
import math
import operator
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsIndex, TypeVar

from numpy.typing import NDArray

from logobrand.errors import DatasetLayoutError, InvalidArgumentError
from logobrand.images import load_image
from logobrand.inference.prediction import NO_LOGO as NO_LOGO  # defined once, with the rule

FLICKRLOGOS32_CLASSES: tuple[str, ...] = (
    "adidas", "aldi", "apple", "becks", "bmw", "carlsberg", "chimay", "cocacola", "corona",
    "dhl", "erdinger", "esso", "fedex", "ferrari", "ford", "fosters", "google", "guiness",
    "heineken", "HP", "milka", "nvidia", "paulaner", "pepsi", "rittersport", "shell", "singha",
    "starbucks", "stellaartois", "texaco", "tsingtao", "ups",
)  # fmt: skip
"""The 32 FlickrLogos-32 brands, spelled as the dataset spells them (``HP``, ``guiness``)."""

CLASS_NAME_ALIASES: Mapping[str, str] = {
    "guinness": "guiness",
    "coca-cola": "cocacola",
    "coca cola": "cocacola",
    "coke": "cocacola",
    "stella artois": "stellaartois",
    "stella-artois": "stellaartois",
    "ritter sport": "rittersport",
    "ritter-sport": "rittersport",
    "red bull": "redbull",
    "hewlett-packard": "HP",
    "none": NO_LOGO,
    "no logo": NO_LOGO,
    "no_logo": NO_LOGO,
    "nologo": NO_LOGO,
    "no-logos": NO_LOGO,
}
"""Other spellings (lower-case keys) of class names, mapped to the canonical name."""

_CANONICAL_BY_LOWER = {name.lower(): name for name in (*FLICKRLOGOS32_CLASSES, NO_LOGO)}

Transform = Callable[[NDArray[Any]], NDArray[Any]]
"""A callable applied to the decoded ``(H, W, 3)`` ``uint8`` image of a sample."""

NameMap = Mapping[str, str] | Callable[[str], str]
"""Renames labels: a mapping (names it lacks stay as they are) or a function."""

_D = TypeVar("_D", bound="FileDataset")


def canonical_class_name(name: str) -> str:
    """Map a brand name of any supported dataset to the FlickrLogos-32 spelling.

    FlickrLogos-32 brands keep their spelling (lower case, except ``HP``); known aliases are
    translated (Logos-32plus ``guinness`` becomes ``guiness``, ``none`` becomes
    :data:`NO_LOGO`); any other brand is lower-cased (FlickrLogos-27 ``RedBull`` becomes
    ``redbull``).

    Args:
        name: A class name as a dataset spells it.

    Returns:
        The canonical class name.

    Examples:
        >>> canonical_class_name("Adidas"), canonical_class_name("hp")
        ('adidas', 'HP')
        >>> canonical_class_name("guinness"), canonical_class_name("none")
        ('guiness', 'no-logo')
    """
    key = name.strip().lower()
    key = CLASS_NAME_ALIASES.get(key, key)
    return _CANONICAL_BY_LOWER.get(key.lower(), key)


def apply_name_map(name: str, name_map: NameMap | None) -> str:
    """Rename ``name`` with ``name_map`` (a mapping or a function); ``None`` keeps it."""
    if name_map is None:
        return name
    if callable(name_map):
        return name_map(name)
    return name_map.get(name, name)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the original photo, corners ``(x1, y1)``-``(x2, y2)``.

    Examples:
        >>> Box.from_xywh(10, 20, 30, 40)
        Box(x1=10.0, y1=20.0, x2=40.0, y2=60.0)
    """

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        for name in ("x1", "y1", "x2", "y2"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise InvalidArgumentError(f"Box.{name} must be a finite number, got {value}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_xywh(cls, x: float, y: float, width: float, height: float) -> Box:
        """Build a box from its top-left corner and its size."""
        return cls(x, y, float(x) + float(width), float(y) + float(height))

    @property
    def width(self) -> float:
        """``x2 - x1`` (zero or negative for a degenerate box)."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """``y2 - y1`` (zero or negative for a degenerate box)."""
        return self.y2 - self.y1

    @property
    def is_degenerate(self) -> bool:
        """True when the box has no area (``x1 >= x2`` or ``y1 >= y2``)."""
        return self.x1 >= self.x2 or self.y1 >= self.y2


@dataclass(frozen=True)
class Sample:
    """One photo of a dataset: its file, its class label and its logo boxes (may be empty)."""

    path: Path
    label: str
    boxes: tuple[Box, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.label, str) or not self.label:
            raise InvalidArgumentError(f"Sample {self.path}: label must be a non-empty string")
        object.__setattr__(self, "boxes", tuple(self.boxes))


class FileDataset:
    """A list of image files with class labels, decoded on access.

    ``dataset[i]`` returns ``(transform(load_image(path)), class_index)``; without a transform
    the image is the raw ``(H, W, 3)`` ``uint8`` array. ``classes`` is sorted and the index of
    a name in it is its label id. The readers of this package (FlickrLogos-32, FlickrLogos-27,
    image folders) are subclasses; build one directly from any list of :class:`Sample`.

    Args:
        samples: The photos, in dataset order.
        classes: The label set. ``None`` uses the labels of ``samples``; a given list may hold
            classes that have no sample (so that ids line up with another dataset) but must
            contain every sample's label. It is sorted and de-duplicated.
        transform: Optional callable applied to each decoded image.
        problems: Messages about data that was skipped or repaired while reading.

    Raises:
        InvalidArgumentError: A sample's label is not in ``classes``.

    Examples:
        >>> ds = FileDataset([Sample(Path("a.jpg"), "adidas"), Sample(Path("b.jpg"), NO_LOGO)])
        >>> ds.classes, ds.targets
        (['adidas', 'no-logo'], [0, 1])
    """

    def __init__(
        self,
        samples: Iterable[Sample],
        classes: Iterable[str] | None = None,
        transform: Transform | None = None,
        *,
        problems: Iterable[str] = (),
    ) -> None:
        self.samples: list[Sample] = list(samples)
        names = {s.label for s in self.samples} if classes is None else set(classes)
        self.classes: list[str] = sorted(names)
        self.class_to_idx: dict[str, int] = {name: i for i, name in enumerate(self.classes)}
        for sample in self.samples:
            if sample.label not in self.class_to_idx:
                raise InvalidArgumentError(
                    f"{sample.path} has label {sample.label!r}, which is not among the given "
                    f"classes {self.classes}; add it to classes or drop the sample"
                )
        self.transform: Transform | None = transform
        self.problems: list[str] = list(problems)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: SupportsIndex) -> tuple[NDArray[Any], int]:
        sample = self.samples[self._check_index(index)]
        image = load_image(sample.path)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.class_to_idx[sample.label]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} samples, {len(self.classes)} classes"
            f"{f', {len(self.problems)} problems' if self.problems else ''})"
        )

    def _check_index(self, index: SupportsIndex) -> int:
        i = operator.index(index)
        n = len(self.samples)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} samples")
        return i % n

    def load(self, index: SupportsIndex) -> NDArray[Any]:
        """Decode sample ``index`` without applying the transform."""
        return load_image(self.samples[self._check_index(index)].path)

    @property
    def targets(self) -> list[int]:
        """The class index of every sample, in dataset order."""
        return [self.class_to_idx[s.label] for s in self.samples]

    @property
    def labels(self) -> list[str]:
        """The class name of every sample, in dataset order."""
        return [s.label for s in self.samples]

    @property
    def paths(self) -> list[Path]:
        """The file of every sample, in dataset order."""
        return [s.path for s in self.samples]

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class, for every class (zero included), in class order."""
        counts = Counter(s.label for s in self.samples)
        return {name: counts.get(name, 0) for name in self.classes}

    def _copy(self: _D, samples: list[Sample] | None = None) -> _D:
        clone = copy.copy(self)
        clone.samples = list(self.samples if samples is None else samples)
        clone.classes = list(self.classes)
        clone.class_to_idx = dict(self.class_to_idx)
        clone.problems = list(self.problems)
        return clone

    def with_transform(self: _D, transform: Transform | None) -> _D:
        """Return a copy that applies ``transform`` (``None``: raw images) instead."""
        clone = self._copy()
        clone.transform = transform
        return clone

    def subset(self: _D, indices: Iterable[SupportsIndex]) -> _D:
        """Return a copy holding the samples at ``indices``, with the same classes and ids."""
        return self._copy([self.samples[self._check_index(i)] for i in indices])

    def map_labels(self, name_map: NameMap) -> FileDataset:
        """Return a :class:`FileDataset` whose labels are renamed by ``name_map``.

        Several names may map to one (classes merge). Classes without samples are renamed too.

        Examples:
            >>> ds = FileDataset([Sample(Path("a.jpg"), "Adidas")])
            >>> ds.map_labels(canonical_class_name).classes
            ['adidas']
        """
        samples = [Sample(s.path, apply_name_map(s.label, name_map), s.boxes) for s in self.samples]
        classes = [apply_name_map(name, name_map) for name in self.classes]
        return FileDataset(samples, classes, self.transform, problems=self.problems)


_SAME: Any = object()


def concat(*datasets: FileDataset, transform: Transform | None = _SAME) -> FileDataset:
    """Join datasets into one :class:`FileDataset` whose classes are the union of theirs.

    Label ids are recomputed for the union (compare names, not ids, across datasets).

    Args:
        *datasets: The datasets, in order.
        transform: Transform of the result. By default the transform the datasets share; it
            must be given when their transforms differ.

    Raises:
        InvalidArgumentError: No dataset was given, or their transforms differ and none was
            given.

    Examples:
        >>> a = FileDataset([Sample(Path("a.jpg"), "adidas")])
        >>> b = FileDataset([Sample(Path("n.jpg"), NO_LOGO)])
        >>> concat(a, b).classes
        ['adidas', 'no-logo']
    """
    if not datasets:
        raise InvalidArgumentError("concat() needs at least one dataset")
    if transform is _SAME:
        transforms = {id(d.transform): d.transform for d in datasets}
        if len(transforms) > 1:
            raise InvalidArgumentError(
                "concat(): the datasets have different transforms; pass transform=... "
                "(or None for raw images)"
            )
        transform = datasets[0].transform
    return FileDataset(
        [s for d in datasets for s in d.samples],
        {name for d in datasets for name in d.classes},
        transform,
        problems=[p for d in datasets for p in d.problems],
    )


def as_path(root: str | os.PathLike[str]) -> Path:
    """``Path(root)`` with ``~`` expanded.

    Raises:
        InvalidArgumentError: ``root`` is not a path (``None``, a number) or is empty.
    """
    if not isinstance(root, (str, os.PathLike)) or not os.fspath(root):
        raise InvalidArgumentError(
            f"expected the path of a dataset folder, got {root!r}; pass a folder path"
        )
    return Path(os.fspath(root)).expanduser()


def read_text_file(path: Path) -> str:
    """The UTF-8 text of a dataset list or annotation file (a BOM is dropped).

    Raises:
        DatasetLayoutError: The file cannot be read or is not UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetLayoutError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "or restore the file from the dataset download"
        ) from exc
    except OSError as exc:
        raise DatasetLayoutError(f"cannot read {path}: {exc.strerror or exc}") from exc


def as_samples(data: FileDataset | Sequence[Sample]) -> list[Sample]:
    """The samples of a dataset, or a copy of a list of samples."""
    return list(data.samples if isinstance(data, FileDataset) else data)
