"""Atomic folder replacement: write a hidden sibling, then swap it into place by renames.

The one implementation behind :func:`logobrand.inference.config.write_model_dir` (model
directories) and :func:`logobrand.training.state.replace_state_dir` (training states). It
needs neither torch nor onnxruntime.

:func:`replace_dir` fills a hidden temporary sibling ``.<name>.tmp-*``, renames the previous
folder (if any) to a hidden backup ``.<name>.old-*``, renames the new folder into place and
deletes the backup. An exception at any step leaves the previous folder intact (a failed
second rename is rolled back); a hard crash between the two renames leaves the backup, which
:func:`recover_dir` renames back into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from logobrand._io import _fsync_dir
from logobrand.errors import LogoBrandError, output_error

TMP_TAG = ".tmp-"
"""Infix of the temporary sibling that holds a new copy while it is written."""
OLD_TAG = ".old-"
"""Infix of the hidden backup that holds the previous copy during a swap."""


def replace_dir(
    target: Path,
    writer: Callable[[Path], None],
    *,
    finish: Callable[[Path], None] | None = None,
) -> None:
    """Create or replace the folder ``target`` atomically with what ``writer`` writes.

    The caller checks beforehand that ``target`` may be replaced (it is a folder of the
    expected kind, or empty, or missing).

    Args:
        target: The folder to create or replace (not a link: resolve one first).
        writer: Called with the fresh temporary folder; writes the new content.
        finish: Called with the temporary folder after ``writer``, before the swap (to carry
            files over, set permissions, fsync).

    Raises:
        OutputError: A file or folder cannot be written (an ``OSError`` from any step,
            ``writer`` and ``finish`` included); the previous ``target`` is intact.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_TAG}", dir=target.parent))
    except OSError as exc:
        raise output_error(target, exc) from exc
    try:
        writer(tmp)
        if finish is not None:
            finish(tmp)
        _swap_into_place(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, LogoBrandError):
            raise output_error(target, exc) from exc
        raise


def _swap_into_place(new: Path, target: Path) -> None:
    parent = target.parent
    if not target.exists():
        os.replace(new, target)
        _fsync_dir(parent)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}{OLD_TAG}", dir=parent))
    backup.rmdir()  # only reserve a unique name
    os.replace(target, backup)  # step 1: previous copy -> backup
    try:
        os.replace(new, target)  # step 2: new copy -> target
    except BaseException:
        os.replace(backup, target)  # roll back step 1
        raise
    _fsync_dir(parent)
    shutil.rmtree(backup, ignore_errors=True)  # step 3: drop the previous copy


def backups_of(target: Path, marker: str) -> list[Path]:
    """Backups of ``target`` left by an interrupted swap that hold ``marker``, newest first."""
    if not target.parent.is_dir():
        return []
    found = [
        p
        for p in target.parent.glob(f".{target.name}{OLD_TAG}*")
        if p.is_dir() and (p / marker).exists()
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def recover_dir(
    target: Path,
    marker: str,
    *,
    remove_tmp: bool,
    on_restore: Callable[[Path], None] | None = None,
) -> bool:
    """Repair ``target`` after a crash in the middle of :func:`replace_dir`.

    If ``target`` is missing, the newest backup that holds ``marker`` is renamed back into
    place; once ``target`` exists, the other backups are deleted.

    Args:
        target: The folder a swap was replacing.
        marker: A file every complete copy holds (``config.json``, ``trainer_state.json``).
        remove_tmp: Also delete leftover temporary folders (incomplete new copies).
        on_restore: Called with the backup just before it is renamed back.

    Returns:
        Whether ``target`` exists afterwards.
    """
    backups = backups_of(target, marker)
    if not target.exists() and backups:
        if on_restore is not None:
            on_restore(backups[0])
        os.replace(backups.pop(0), target)
        _fsync_dir(target.parent)
    if target.exists():
        for old in backups:
            shutil.rmtree(old, ignore_errors=True)
    if remove_tmp and target.parent.is_dir():
        for tmp in target.parent.glob(f".{target.name}{TMP_TAG}*"):
            shutil.rmtree(tmp, ignore_errors=True)
    return target.exists()
