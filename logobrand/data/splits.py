"""Seeded, stratified splits that keep duplicate and near-duplicate photos on one side.

Photos are grouped by content before they are shared out: byte-identical files (same
SHA-256) always form one group, and photos of one label that are near duplicates are joined
too (a photo and its re-encoded, resized or slightly cropped copy). Near duplicates have
difference hashes (64-bit dHash of the grayscale image) at most ``max_distance`` bits apart
*and* 16x16 grayscale thumbnails whose mean absolute difference is at most
``max_difference`` times their contrast (mean absolute deviation, plus 4 grey levels). The
second test keeps apart different product shots on a white background, whose hashes match.
Groups, not photos, are then assigned to splits, class by class.
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
import os
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from logobrand.data.base import FileDataset, Sample, as_samples
from logobrand.errors import ImageDecodeError, InvalidArgumentError, check_int
from logobrand.images import load_image

logger = logging.getLogger(__name__)

GroupBy = Literal["content", "sha256"] | Callable[[Sample], Hashable] | None
"""How photos are grouped: ``"content"`` (exact and near duplicates), ``"sha256"`` (exact
duplicates), a function of the sample returning a group key, or ``None`` (no grouping)."""

_D = TypeVar("_D", bound=FileDataset)


@dataclass(frozen=True)
class Fingerprint:
    """The content hashes of one image file.

    Attributes:
        sha256: Hex SHA-256 of the file's bytes.
        dhash: 64-bit difference hash of the grayscale image, or ``None`` when the file
            could not be decoded.
        thumb: The 16x16 grayscale thumbnail (float32, 0-255), or ``None`` likewise.
        contrast: Mean absolute deviation of ``thumb`` (0 when ``thumb`` is ``None``).
    """

    sha256: str
    dhash: int | None
    thumb: NDArray[np.float32] | None
    contrast: float = 0.0


def fingerprint(path: str | os.PathLike[str]) -> Fingerprint:
    """Hash one image file (see :class:`Fingerprint`).

    Raises:
        ImageDecodeError: The file cannot be read (a file that is not an image still gets a
            SHA-256; only its ``dhash`` and ``thumb`` are ``None``).
    """
    import cv2

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image file {path}: {exc.strerror}") from exc
    sha = hashlib.sha256(data).hexdigest()
    if not data:  # OpenCV asserts on an empty buffer
        return Fingerprint(sha, None, None)
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    if gray is None or gray.size == 0:
        try:
            rgb = load_image(data)
        except ImageDecodeError:
            return Fingerprint(sha, None, None)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    dhash = int(np.packbits(bits).view(">u8")[0])
    thumb = cv2.resize(gray, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    contrast = float(np.abs(thumb - thumb.mean()).mean())
    return Fingerprint(sha, dhash, thumb, contrast)


def fingerprints(paths: Sequence[str | os.PathLike[str]], *, workers: int = 2) -> list[Fingerprint]:
    """Hash many files in parallel threads, in input order.

    Raises:
        ImageDecodeError: A file cannot be read.
    """
    if workers <= 1 or len(paths) < 32:
        return [fingerprint(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fingerprint, paths, chunksize=64))


def group_samples(
    data: FileDataset | Sequence[Sample],
    group_by: GroupBy = "content",
    *,
    max_distance: int = 8,
    max_difference: float = 0.12,
    workers: int = 2,
) -> list[int]:
    """Give every sample a group id; samples of one group must stay on one side of a split.

    Byte-identical photos that carry different labels (the same photo in two class folders,
    or a linked class folder) contradict each other: with ``"content"`` and ``"sha256"`` they
    are logged as a warning (their count and one example), and :func:`stratified_split`
    records each of them in the ``problems`` of the parts it returns.

    Args:
        data: A dataset or a list of samples.
        group_by: See :data:`GroupBy`.
        max_distance: Largest dHash Hamming distance of near duplicates (``"content"``).
        max_difference: Largest relative thumbnail difference of near duplicates (see the
            module documentation).
        workers: Threads that hash files.

    Returns:
        One group id per sample, in sample order (ids are ``0..k-1`` by first appearance).

    Raises:
        ImageDecodeError: A file cannot be read (``"content"`` and ``"sha256"``).
        InvalidArgumentError: ``group_by`` is invalid, or a ``group_by`` function returned a
            key that is not hashable.
    """
    ids, _ = _group(
        as_samples(data),
        group_by,
        max_distance=max_distance,
        max_difference=max_difference,
        workers=workers,
    )
    return ids


def _group(
    samples: list[Sample],
    group_by: GroupBy,
    *,
    max_distance: int = 8,
    max_difference: float = 0.12,
    workers: int = 2,
) -> tuple[list[int], list[list[Sample]]]:
    """:func:`group_samples`, plus the sets of byte-identical samples with different labels."""
    n = len(samples)
    sets = _UnionFind(n)
    conflicts: list[list[Sample]] = []
    if group_by is None:
        pass
    elif callable(group_by):
        keys = [group_by(s) for s in samples]
        for sample, key in zip(samples, keys, strict=True):
            if not _hashable(key):
                raise InvalidArgumentError(
                    f"the group_by function returned {key!r} for {sample.path}, which is not "
                    "hashable; return a number, a string or a tuple"
                )
        _union_equal(sets, keys)
    elif group_by in ("content", "sha256"):
        prints = fingerprints([s.path for s in samples], workers=workers)
        _union_equal(sets, [p.sha256 for p in prints])
        conflicts = _label_conflicts(samples, [p.sha256 for p in prints])
        if group_by == "content":
            by_label: dict[str, list[int]] = {}
            for i, s in enumerate(samples):
                by_label.setdefault(s.label, []).append(i)
            for members in by_label.values():
                for i, j in near_duplicate_pairs(
                    [prints[k] for k in members], None, max_distance, max_difference
                ):
                    sets.union(members[i], members[j])
            undecodable = sum(p.dhash is None for p in prints)
            if undecodable:
                logger.warning(
                    "%d of %d photos could not be decoded; only their exact duplicates are grouped",
                    undecodable,
                    n,
                )
    else:
        raise InvalidArgumentError(
            f"group_by must be 'content', 'sha256', None or a function, got {group_by!r}"
        )
    if conflicts:
        logger.warning(
            "byte-identical photos carry different labels in %d case(s), e.g. %s; each set of "
            "copies stays in one part of a split, counted in one class; give the copies one "
            "label or delete the extra copies",
            len(conflicts),
            _describe_conflict(conflicts[0]),
        )
    roots: dict[int, int] = {}
    return [roots.setdefault(sets.find(i), len(roots)) for i in range(n)], conflicts


def _hashable(key: object) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _label_conflicts(samples: Sequence[Sample], shas: Sequence[str]) -> list[list[Sample]]:
    """The sets of samples with one SHA-256 but more than one label, in sample order."""
    by_sha: dict[str, list[Sample]] = {}
    for sample, sha in zip(samples, shas, strict=True):
        by_sha.setdefault(sha, []).append(sample)
    return [members for members in by_sha.values() if len({s.label for s in members}) > 1]


def _describe_conflict(members: Sequence[Sample]) -> str:
    return " = ".join(f"{s.path} ({s.label!r})" for s in members)


def near_duplicate_pairs(
    a: Sequence[Fingerprint],
    b: Sequence[Fingerprint] | None = None,
    max_distance: int = 8,
    max_difference: float = 0.12,
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` of near-duplicate fingerprints.

    With ``b=None`` the pairs are within ``a`` (``i < j``); otherwise ``i`` indexes ``a`` and
    ``j`` indexes ``b``. Runs in chunks over all pairs of 64-bit hashes (about a second for
    10,000 photos).
    """
    ia = [i for i, p in enumerate(a) if p.dhash is not None]
    other = a if b is None else b
    ib = [j for j, p in enumerate(other) if p.dhash is not None]
    if not ia or not ib:
        return []
    ha = np.array([a[i].dhash for i in ia], dtype=np.uint64)
    hb = np.array([other[j].dhash for j in ib], dtype=np.uint64)
    ta = np.stack([_thumb(a[i]) for i in ia])
    tb = np.stack([_thumb(other[j]) for j in ib])
    ca = np.array([a[i].contrast for i in ia], dtype=np.float32)
    cb = np.array([other[j].contrast for j in ib], dtype=np.float32)
    pairs: list[tuple[int, int]] = []
    chunk = max(1, 4_000_000 // len(hb))
    for start in range(0, len(ha), chunk):
        dist = _popcount(ha[start : start + chunk, None] ^ hb[None, :])
        rows, cols = np.nonzero(dist <= max_distance)
        rows = rows + start
        if b is None:
            keep = cols > rows
            rows, cols = rows[keep], cols[keep]
        if rows.size:
            diff = np.abs(ta[rows] - tb[cols]).mean(axis=(1, 2))
            scale = 0.5 * (ca[rows] + cb[cols]) + _CONTRAST_FLOOR
            close = diff <= max_difference * scale
            pairs.extend((ia[r], ib[c]) for r, c in zip(rows[close], cols[close], strict=True))
    return pairs


_CONTRAST_FLOOR = 4.0
"""Grey levels added to the contrast, so that flat images need not match exactly."""


def _thumb(p: Fingerprint) -> NDArray[np.float32]:
    assert p.thumb is not None
    return p.thumb


def _popcount(x: NDArray[np.uint64]) -> NDArray[Any]:
    if hasattr(np, "bitwise_count"):
        counted: NDArray[Any] = np.bitwise_count(x)
        return counted
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    as_bytes = x.view(np.uint8).reshape(*x.shape, 8)
    summed: NDArray[Any] = table[as_bytes].sum(axis=-1)
    return summed


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _union_equal(sets: _UnionFind, keys: Sequence[Hashable]) -> None:
    first: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        sets.union(first.setdefault(key, i), i)


def stratified_split_indices(
    data: FileDataset | Sequence[Sample],
    fractions: Sequence[float] = (0.8, 0.2),
    *,
    seed: int = 0,
    group_by: GroupBy = "content",
    groups: Sequence[Hashable] | None = None,
) -> list[list[int]]:
    """Like :func:`stratified_split`, but return the sorted sample indices of each part.

    Args:
        data: A dataset or a list of samples.
        fractions: The share of each part, e.g. ``(0.8, 0.2)`` or ``(0.7, 0.15, 0.15)``.
        seed: Seed of the shuffle; the result depends only on the data, ``fractions``,
            ``seed`` and the grouping.
        group_by: How photos are grouped (see :data:`GroupBy`); ignored if ``groups`` is given.
        groups: Precomputed group keys, one per sample (e.g. from :func:`group_samples`).

    Raises:
        InvalidArgumentError: ``seed``, ``fractions`` or ``groups`` is invalid.
        ImageDecodeError: A file cannot be read while grouping by content.
    """
    parts, _ = _split(data, fractions, seed=seed, group_by=group_by, groups=groups)
    return parts


def _split(
    data: FileDataset | Sequence[Sample],
    fractions: Sequence[float],
    *,
    seed: int,
    group_by: GroupBy,
    groups: Sequence[Hashable] | None,
) -> tuple[list[list[int]], list[list[Sample]]]:
    """:func:`stratified_split_indices`, plus the label conflicts found while grouping."""
    seed = check_int("seed", seed, 0)
    samples = as_samples(data)
    shares = _check_fractions(fractions)
    conflicts: list[list[Sample]] = []
    if groups is None:
        keys: Sequence[Hashable]
        keys, conflicts = _group(samples, group_by)
    else:
        keys = _check_groups(groups, len(samples))
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    strata: dict[str, list[list[int]]] = {}
    for group in members.values():
        counts = Counter(samples[i].label for i in group)
        label = min(counts, key=lambda name: (-counts[name], name))
        strata.setdefault(label, []).append(group)
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in shares]
    for label in sorted(strata):
        stratum = strata[label]
        order = rng.permutation(len(stratum))
        shuffled = sorted((stratum[k] for k in order), key=len, reverse=True)
        total = sum(len(g) for g in stratum)
        filled = [0] * len(shares)
        for group in shuffled:
            deficits = [share * total - got for share, got in zip(shares, filled, strict=True)]
            target = max(range(len(shares)), key=lambda k: (deficits[k], -k))
            parts[target].extend(group)
            filled[target] += len(group)
    return [sorted(p) for p in parts], conflicts


def _check_groups(groups: Any, n: int) -> list[Hashable]:
    """``groups`` as a list of ``n`` hashable keys.

    Raises:
        InvalidArgumentError: ``groups`` is not a sequence of ``n`` hashable keys.
    """
    if isinstance(groups, (str, bytes)):
        raise InvalidArgumentError(
            f"groups must be a list of group keys, one per sample, got the string {groups!r}"
        )
    try:
        keys = list(groups)
    except TypeError:
        raise InvalidArgumentError(
            f"groups must be a list of group keys, one per sample, got {groups!r}"
        ) from None
    if len(keys) != n:
        raise InvalidArgumentError(
            f"groups has {len(keys)} keys for {n} samples; pass one group key per sample"
        )
    for i, key in enumerate(keys):
        if not _hashable(key):
            raise InvalidArgumentError(
                f"groups[{i}] is {key!r}, which is not hashable; use numbers, strings or "
                "tuples as group keys"
            )
    return keys


@overload
def stratified_split(
    data: _D,
    fractions: Sequence[float] = ...,
    *,
    seed: int = ...,
    group_by: GroupBy = ...,
    groups: Sequence[Hashable] | None = ...,
) -> tuple[_D, ...]: ...


@overload
def stratified_split(
    data: Sequence[Sample],
    fractions: Sequence[float] = ...,
    *,
    seed: int = ...,
    group_by: GroupBy = ...,
    groups: Sequence[Hashable] | None = ...,
) -> tuple[list[Sample], ...]: ...


def stratified_split(
    data: FileDataset | Sequence[Sample],
    fractions: Sequence[float] = (0.8, 0.2),
    *,
    seed: int = 0,
    group_by: GroupBy = "content",
    groups: Sequence[Hashable] | None = None,
) -> tuple[FileDataset, ...] | tuple[list[Sample], ...]:
    """Split a dataset into parts with the same class proportions, duplicates kept together.

    Each class is split on its own, so every part gets about ``fractions[k]`` of every class.
    Groups of duplicate photos (see :data:`GroupBy`) land in one part, counted in the class
    most of their photos have. The split is reproducible: the same data, fractions, seed and
    grouping give the same parts on every machine. Byte-identical photos with different labels
    (found with ``group_by="content"`` or ``"sha256"``) are logged as a warning and, for a
    dataset, listed in the ``problems`` of every part.

    Args:
        data: A dataset (the parts are :meth:`FileDataset.subset` copies keeping its classes,
            label ids and transform) or a list of samples (the parts are lists).
        fractions: The share of each part; two or three positive numbers summing to 1.
        seed: Seed of the shuffle.
        group_by: How photos are grouped; ``"content"`` decodes every photo once.
        groups: Precomputed group keys, one per sample; overrides ``group_by``.

    Returns:
        One part per fraction, samples in their original order.

    Raises:
        InvalidArgumentError: ``fractions`` or ``groups`` is invalid.
        ImageDecodeError: A file cannot be read while grouping by content.

    Examples:
        >>> train, val = stratified_split(dataset, (0.8, 0.2), seed=0)  # doctest: +SKIP
        >>> find_leaks(train, val)  # doctest: +SKIP
        []
    """
    parts, conflicts = _split(data, fractions, seed=seed, group_by=group_by, groups=groups)
    if isinstance(data, FileDataset):
        notes = [
            f"{_describe_conflict(members)} are byte-identical but labelled differently; the "
            "split keeps them in one part; give the copies one label or delete the extra copies"
            for members in conflicts
        ]
        split = tuple(data.subset(p) for p in parts)
        for part in split:
            part.problems.extend(notes)
        return split
    samples = list(data)
    return tuple([samples[i] for i in p] for p in parts)


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    example = "e.g. (0.8, 0.2)"
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Iterable):
        raise InvalidArgumentError(
            f"fractions must be a sequence of two or three numbers, {example}; got {fractions!r}"
        )
    values = list(fractions)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidArgumentError(
                f"fractions must hold numbers, {example}; got {value!r} in {fractions!r}"
            )
    shares = [float(f) for f in values]
    if not 2 <= len(shares) <= 3 or any(not f > 0 for f in shares):
        raise InvalidArgumentError(
            f"fractions must be two or three positive numbers, e.g. (0.8, 0.2); got {fractions}"
        )
    if not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
        raise InvalidArgumentError(f"fractions must sum to 1, got {fractions} (sum {sum(shares)})")
    return shares


def find_leaks(
    a: FileDataset | Sequence[Sample] | Sequence[str | os.PathLike[str]],
    b: FileDataset | Sequence[Sample] | Sequence[str | os.PathLike[str]],
    *,
    near_duplicates: bool = False,
) -> list[tuple[Path, Path]]:
    """Find photos of ``a`` that also appear in ``b`` (for example train vs. test).

    Args:
        a: A dataset, samples or image paths.
        b: Likewise.
        near_duplicates: Also report near duplicates (same test as ``group_by="content"``,
            across labels); this decodes every photo.

    Returns:
        Sorted ``(path in a, path in b)`` pairs of byte-identical photos (and near duplicates
        if asked); empty when the two are disjoint.

    Raises:
        ImageDecodeError: A file cannot be read.

    Examples:
        >>> find_leaks(train, test)  # doctest: +SKIP
        [(PosixPath('.../4491308340.jpg'), PosixPath('.../4506432358.jpg'))]
    """
    paths_a, paths_b = _paths(a), _paths(b)
    if near_duplicates:
        pa, pb = fingerprints(paths_a), fingerprints(paths_b)
        sha_a, sha_b = [p.sha256 for p in pa], [p.sha256 for p in pb]
    else:
        sha_a, sha_b = _sha256_all(paths_a), _sha256_all(paths_b)
    by_sha: dict[str, list[int]] = {}
    for j, sha in enumerate(sha_b):
        by_sha.setdefault(sha, []).append(j)
    found = {(i, j) for i, sha in enumerate(sha_a) for j in by_sha.get(sha, [])}
    if near_duplicates:
        found.update(near_duplicate_pairs(pa, pb))
    return sorted((paths_a[i], paths_b[j]) for i, j in found)


def _paths(data: FileDataset | Sequence[Sample] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    items: Iterable[Any] = data.samples if isinstance(data, FileDataset) else data
    return [item.path if isinstance(item, Sample) else Path(item) for item in items]


def _sha256_file(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image file {path}: {exc.strerror}") from exc


def _sha256_all(paths: Sequence[Path]) -> list[str]:
    if len(paths) < 32:
        return [_sha256_file(p) for p in paths]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_sha256_file, paths, chunksize=64))
