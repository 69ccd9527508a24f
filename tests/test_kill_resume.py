"""Crash safety: a training run killed with SIGKILL resumes with no lost or duplicated epoch."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

pytestmark = [pytest.mark.slow, pytest.mark.torch]


def _write_photos(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    brands, negatives = root / "brands", root / "negatives"
    for label, colour in (("red", (0, 0, 255)), ("blue", (255, 0, 0))):
        (brands / label).mkdir(parents=True)
        for i in range(6):
            img = rng.integers(0, 80, (40, 48, 3), dtype=np.uint8)
            cv2.rectangle(img, (8, 8), (30, 28), colour, -1)
            cv2.imwrite(str(brands / label / f"{i}.jpg"), img)
    negatives.mkdir()
    for i in range(6):
        cv2.imwrite(str(negatives / f"{i}.jpg"), rng.integers(0, 255, (40, 48, 3), np.uint8))
    return brands, negatives


def _train_command(brands: Path, negatives: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "logobrand", "train", "--model", "resnet18_v2",
        "--no-pretrained", "--data", str(brands), "--negatives", str(negatives),
        "--epochs", "4", "--batch-size", "6", "--workers", "0", "--seed", "3",
        "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _history(out: Path) -> list[dict[str, str]]:
    with (out / "history.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_sigkill_mid_training_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    brands, negatives = _write_photos(tmp_path)
    env = {**os.environ, "CI": "true"}

    reference = tmp_path / "reference"
    subprocess.run(_train_command(brands, negatives, reference), check=True, env=env)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(brands, negatives, killed), env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until epoch 2 is logged, then kill in epoch 3
        if (killed / "history.csv").is_file() and len(_history(killed)) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail("training ended before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(_history(killed)) < 4

    subprocess.run(_train_command(brands, negatives, killed, "--resume"), check=True, env=env)

    got, want = _history(killed), _history(reference)
    assert [row["epoch"] for row in got] == ["1", "2", "3", "4"]
    for row_got, row_want in zip(got, want, strict=True):
        for key in ("loss", "train_accuracy", "val_accuracy"):
            assert float(row_got[key]) == pytest.approx(float(row_want[key]), rel=1e-4, abs=1e-6)
    assert (killed / "best" / "config.json").is_file()
