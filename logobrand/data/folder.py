"""Datasets read from plain folders: one sub-folder per class, or folders given one by one."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from logobrand.data.base import FileDataset, NameMap, Sample, Transform, apply_name_map, as_path
from logobrand.errors import DatasetLayoutError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
"""File extensions read as images by default (compared case-insensitively)."""


class ImageFolderDataset(FileDataset):
    """Photos stored one folder per class, such as ``../shared/data/logos32plus/<brand>/``.

    The class of a photo is the name of its folder (renamed by ``name_map``). Files directly
    in ``root`` and hidden entries are ignored; files in a class folder whose extension is not
    in ``extensions`` and sub-folders are counted in :attr:`problems`. Samples are sorted by
    class folder, then file name.

    Args:
        root: The folder holding the class folders.
        transform: Optional callable applied to each decoded image.
        classes: The label set: class folders whose (mapped) name is not in it are ignored,
            and listed classes without a folder stay as empty classes so that label ids line
            up with another dataset. ``None`` uses every class folder.
        name_map: Renames folder names, e.g. :func:`~logobrand.data.canonical_class_name`.
            Two folders may map to one class.
        extensions: File extensions read as images.

    Raises:
        DatasetLayoutError: ``root`` is not a folder or holds no class folder.

    Examples:
        >>> positives = ImageFolderDataset("data/logos32plus")  # doctest: +SKIP
        >>> negatives = ImageFolderDataset.from_folders({NO_LOGO: "data/nologo"})  # doctest: +SKIP
        >>> train = concat(positives, negatives)  # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        transform: Transform | None = None,
        classes: Iterable[str] | None = None,
        name_map: NameMap | None = None,
        extensions: Iterable[str] = IMAGE_EXTENSIONS,
    ) -> None:
        self.root: Path | None = as_path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"image folder root {self.root} is not a folder")
        folders = [p for p in sorted(self.root.iterdir()) if p.is_dir() and _visible(p)]
        if not folders:
            raise DatasetLayoutError(
                f"{self.root} holds no class folder; put each class's photos in "
                "<root>/<class>/ (or use ImageFolderDataset.from_folders)"
            )
        wanted = None if classes is None else set(classes)
        labelled = [(apply_name_map(folder.name, name_map), folder) for folder in folders]
        pairs = [(label, f) for label, f in labelled if wanted is None or label in wanted]
        self._init_from(pairs, wanted, transform, extensions)

    @classmethod
    def from_folders(
        cls,
        folders: Mapping[str, str | os.PathLike[str]],
        *,
        transform: Transform | None = None,
        extensions: Iterable[str] = IMAGE_EXTENSIONS,
    ) -> ImageFolderDataset:
        """Build a dataset from folders named one by one, each with its class label.

        Args:
            folders: ``{label: folder}``; every image directly in a folder gets its label.
            transform: Optional callable applied to each decoded image.
            extensions: File extensions read as images.

        Raises:
            DatasetLayoutError: A folder does not exist.

        Examples:
            >>> from logobrand.data import NO_LOGO
            >>> nologo = ImageFolderDataset.from_folders({NO_LOGO: "data/nologo"})  # doctest: +SKIP
        """
        self = cls.__new__(cls)
        self.root = None
        pairs = []
        for label, folder in folders.items():
            path = as_path(folder)
            if not path.is_dir():
                raise DatasetLayoutError(f"image folder {path} (class {label!r}) is not a folder")
            pairs.append((label, path))
        self._init_from(pairs, None, transform, extensions)
        return self

    def _init_from(
        self,
        pairs: list[tuple[str, Path]],
        classes: Iterable[str] | None,
        transform: Transform | None,
        extensions: Iterable[str],
    ) -> None:
        suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
        samples: list[Sample] = []
        problems: list[str] = []
        for label, folder in pairs:
            files, others = _list_images(folder, suffixes)
            samples.extend(Sample(path, label) for path in files)
            if others:
                shown = ", ".join(p.name for p in others[:3]) + (", ..." if len(others) > 3 else "")
                problems.append(
                    f"{folder}: skipped {len(others)} entries that are not images "
                    f"with extensions {sorted(suffixes)} ({shown})"
                )
            if not files:
                problems.append(f"{folder} holds no image (class {label!r} is empty)")
        names = {label for label, _ in pairs} if classes is None else set(classes)
        FileDataset.__init__(self, samples, names, transform, problems=problems)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _list_images(folder: Path, suffixes: set[str]) -> tuple[list[Path], list[Path]]:
    """The image files of ``folder`` (sorted by name) and the other visible entries."""
    images: list[Path] = []
    others: list[Path] = []
    for path in sorted(folder.iterdir()):
        if not _visible(path):
            continue
        if path.is_file() and path.suffix.lower() in suffixes:
            images.append(path)
        else:
            others.append(path)
    return images, others
