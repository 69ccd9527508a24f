"""Datasets for training and evaluating logo classifiers, without torch.

Readers return :class:`FileDataset` objects (a list of :class:`Sample` plus sorted
``classes``): :class:`FlickrLogosDataset` (FlickrLogos-32 v2), :class:`FlickrLogos27Dataset`
and :class:`ImageFolderDataset` (one folder per class, or folders given one by one).
:func:`concat` joins datasets, :func:`stratified_split` splits them without leaking duplicate
photos across parts, :func:`find_leaks` checks two parts, and :class:`BatchLoader` decodes
batches in worker processes.

Examples:
    >>> from pathlib import Path
    >>> from logobrand.data import ImageFolderDataset, NO_LOGO, concat, stratified_split
    >>> data = Path("../shared/data")  # doctest: +SKIP
    >>> logos = ImageFolderDataset(data / "logos32plus")  # doctest: +SKIP
    >>> negatives = ImageFolderDataset.from_folders({NO_LOGO: data / "nologo"})  # doctest: +SKIP
    >>> both = concat(logos, negatives)  # doctest: +SKIP
    >>> train, val = stratified_split(both, (0.8, 0.2), seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from logobrand.data.base import (
    CLASS_NAME_ALIASES,
    FLICKRLOGOS32_CLASSES,
    NO_LOGO,
    Box,
    FileDataset,
    NameMap,
    Sample,
    Transform,
    canonical_class_name,
    concat,
)
from logobrand.data.flickrlogos27 import FlickrLogos27Dataset
from logobrand.data.flickrlogos32 import FlickrLogosDataset
from logobrand.data.folder import IMAGE_EXTENSIONS, ImageFolderDataset
from logobrand.data.loader import Batch, BatchLoader
from logobrand.data.otherlogos import OtherLogosDataset, otherlogos_splits, read_yolo_boxes
from logobrand.data.splits import (
    Fingerprint,
    GroupBy,
    find_leaks,
    fingerprint,
    group_samples,
    stratified_split,
    stratified_split_indices,
)

__all__ = [
    "CLASS_NAME_ALIASES",
    "FLICKRLOGOS32_CLASSES",
    "IMAGE_EXTENSIONS",
    "NO_LOGO",
    "Batch",
    "BatchLoader",
    "Box",
    "FileDataset",
    "Fingerprint",
    "FlickrLogos27Dataset",
    "FlickrLogosDataset",
    "GroupBy",
    "ImageFolderDataset",
    "NameMap",
    "OtherLogosDataset",
    "Sample",
    "Transform",
    "canonical_class_name",
    "concat",
    "find_leaks",
    "fingerprint",
    "group_samples",
    "otherlogos_splits",
    "read_yolo_boxes",
    "stratified_split",
    "stratified_split_indices",
]
