"""Datasets read from plain folders: one sub-folder per class, or folders given one by one."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from logobrand.data.base import FileDataset, NameMap, Sample, Transform, apply_name_map, as_path
from logobrand.errors import DatasetLayoutError, InvalidArgumentError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
"""File extensions read as images by default (compared case-insensitively)."""


class ImageFolderDataset(FileDataset):
    """Photos stored one folder per class, such as ``../shared/data/logos32plus/<brand>/``.

    The class of a photo is the name of its folder (renamed by ``name_map``). Hidden entries
    and files directly in ``root`` are not read; image files directly in ``root`` and broken
    links there are counted in :attr:`problems`, as are files in a class folder whose extension
    is not in ``extensions``, sub-folders of a class folder (not read recursively), broken
    links, empty class folders and class folders that are the same folder (a linked class
    folder, whose photos are read under both names). Samples are sorted by class folder, then
    file name.

    Args:
        root: The folder holding the class folders.
        transform: Optional callable applied to each decoded image.
        classes: The label set: class folders whose (mapped) name is not in it are ignored,
            and listed classes without a folder stay as empty classes so that label ids line
            up with another dataset. ``None`` uses every class folder.
        name_map: Renames folder names, e.g. :func:`~logobrand.data.canonical_class_name`.
            Two folders may map to one class.
        extensions: File extensions read as images, e.g. ``(".jpg", ".png")`` (the dot is
            optional, case does not matter).

    Raises:
        DatasetLayoutError: ``root`` is not a folder or holds no class folder.
        InvalidArgumentError: ``extensions`` is a single string, empty, or holds a non-string.

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
        suffixes = _suffixes(extensions)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"image folder root {self.root} is not a folder")
        # the root's sub-folders are the classes; other files there are not read
        loose, _, folders, broken = _list_images(self.root, suffixes)
        if not folders:
            found = f" (it holds {_count(loose, 'image file', 'image files')} directly)"
            found = found if loose else ""
            raise DatasetLayoutError(
                f"{self.root} holds no class folder{found}; put each class's photos in "
                "<root>/<class>/ (or use ImageFolderDataset.from_folders)"
            )
        problems: list[str] = []
        if loose:
            verb = "is" if len(loose) == 1 else "are"
            problems.append(
                f"{_count(loose, 'image file', 'image files')} directly in {self.root} {verb} "
                f"not in a class folder and were not read ({_shown(loose)}); move them into "
                f"{self.root}/<class>/"
            )
        if broken:
            problems.append(
                f"{self.root}: skipped {_count(broken, 'broken link', 'broken links')} (missing "
                f"target or link loop) ({_shown(broken)})"
            )
        wanted = None if classes is None else set(classes)
        labelled = [(apply_name_map(folder.name, name_map), folder) for folder in folders]
        pairs = [(label, f) for label, f in labelled if wanted is None or label in wanted]
        self._init_from(pairs, wanted, transform, suffixes, problems)

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
            InvalidArgumentError: ``extensions`` is a single string, empty, or holds a
                non-string.

        Examples:
            >>> from logobrand.data import NO_LOGO
            >>> nologo = ImageFolderDataset.from_folders({NO_LOGO: "data/nologo"})  # doctest: +SKIP
        """
        suffixes = _suffixes(extensions)
        self = cls.__new__(cls)
        self.root = None
        pairs = []
        for label, folder in folders.items():
            path = as_path(folder)
            if not path.is_dir():
                raise DatasetLayoutError(f"image folder {path} (class {label!r}) is not a folder")
            pairs.append((label, path))
        self._init_from(pairs, None, transform, suffixes, [])
        return self

    def _init_from(
        self,
        pairs: list[tuple[str, Path]],
        classes: Iterable[str] | None,
        transform: Transform | None,
        suffixes: set[str],
        problems: list[str],
    ) -> None:
        samples: list[Sample] = []
        seen: dict[Path, tuple[str, Path]] = {}
        for label, folder in pairs:
            real = _real_path(folder)
            if real in seen:
                first_label, first = seen[real]
                problems.append(
                    f"{folder} and {first} are the same folder (a link): its photos are read "
                    f"twice, as class {label!r} and as class {first_label!r}; remove the link "
                    "or give the class one folder"
                )
            else:
                seen[real] = (label, folder)
            files, others, subfolders, broken = _list_images(folder, suffixes)
            samples.extend(Sample(path, label) for path in files)
            skipped = len(others) + len(subfolders) + len(broken)
            if skipped:
                kinds = []
                if others:
                    what = _count(others, "file that is not an image", "files that are not images")
                    kinds.append(f"{what} with extensions {sorted(suffixes)} ({_shown(others)})")
                if subfolders:
                    kinds.append(
                        f"{_count(subfolders, 'sub-folder', 'sub-folders')}, not read "
                        f"recursively ({_shown(subfolders)})"
                    )
                if broken:
                    kinds.append(
                        f"{_count(broken, 'broken link', 'broken links')} (missing target or "
                        f"link loop) ({_shown(broken)})"
                    )
                noun = "entry" if skipped == 1 else "entries"
                problems.append(f"{folder}: skipped {skipped} {noun}: {'; '.join(kinds)}")
            if not files:
                problems.append(f"{folder} holds no image (class {label!r} is empty)")
        names = {label for label, _ in pairs} if classes is None else set(classes)
        FileDataset.__init__(self, samples, names, transform, problems=problems)


def _suffixes(extensions: Iterable[str]) -> set[str]:
    """The lower-case suffixes (with the dot) of ``extensions``.

    Raises:
        InvalidArgumentError: ``extensions`` is a single string, empty, or holds a non-string.
    """
    if isinstance(extensions, str):
        raise InvalidArgumentError(
            f"extensions must be a list of file extensions, got the string {extensions!r}; "
            f"pass ({extensions!r},) for one extension"
        )
    if not isinstance(extensions, Iterable):
        raise InvalidArgumentError(
            f"extensions must be a list of file extensions such as ('.jpg', '.png'), "
            f"got {extensions!r}"
        )
    found = list(extensions)
    bad = [e for e in found if not isinstance(e, str) or not e.strip(".")]
    if bad or not found:
        raise InvalidArgumentError(
            f"extensions must be a non-empty list of file extensions such as ('.jpg', '.png'), "
            f"got {found!r}"
        )
    return {e.lower() if e.startswith(".") else f".{e.lower()}" for e in found}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_broken_link(path: Path) -> bool:
    """True for a link whose target is missing, and for a link loop."""
    return path.is_symlink() and not path.exists()


def _real_path(folder: Path) -> Path:
    try:
        return folder.resolve(strict=True)
    except (OSError, RuntimeError):
        return folder.absolute()


def _count(paths: list[Path], singular: str, plural: str) -> str:
    return f"{len(paths)} {singular if len(paths) == 1 else plural}"


def _shown(paths: list[Path]) -> str:
    """The first three names of ``paths``, then ``...`` if there are more."""
    return ", ".join(p.name for p in paths[:3]) + (", ..." if len(paths) > 3 else "")


def _list_images(
    folder: Path, suffixes: set[str]
) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """The visible entries of ``folder``, sorted by name.

    Returns:
        The image files, the other files, the sub-folders and the broken links.
    """
    images: list[Path] = []
    others: list[Path] = []
    subfolders: list[Path] = []
    broken: list[Path] = []
    for path in sorted(folder.iterdir()):
        if not _visible(path):
            continue
        if path.is_dir():
            subfolders.append(path)
        elif _is_broken_link(path):
            broken.append(path)
        elif path.is_file() and path.suffix.lower() in suffixes:
            images.append(path)
        else:
            others.append(path)
    return images, others, subfolders, broken
