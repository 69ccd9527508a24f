"""Run every script of ``examples/`` end to end with ``--fast`` on ``../shared/data``.

Each run is a subprocess (as a user would start it) writing into a temporary folder. Slow:
together they take about a minute on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED_DATA = REPO.parent / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent"),
]


def run_example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), CI="true", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--fast", "--data-root", str(SHARED_DATA), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("examples")


@pytest.fixture(scope="module")
def finetuned(workdir: Path) -> tuple[Path, str]:
    out = workdir / "03"
    proc = run_example("03_finetune.py", "--out", str(out), cwd=workdir)
    return out, proc.stdout


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("[0-9]*.py")) == [
        "01_prepare_split.py",
        "02_train_scratch_cnn.py",
        "03_finetune.py",
        "04_classify_photo.py",
        "05_mxnet_tutorial_finetune.py",  # tested in tests/test_mxnet_example.py
    ]


def test_01_prepare_split(workdir: Path) -> None:
    out = workdir / "01"
    proc = run_example("01_prepare_split.py", "--out", str(out), cwd=workdir)
    assert "224x224" in proc.stdout  # the data trap is shown
    assert "near-duplicate photos in both train and test: none" in proc.stdout
    rows = (out / "split.csv").read_text().splitlines()
    assert rows[0] == "path,label,part" and len(rows) > 100
    assert {row.rsplit(",", 1)[1] for row in rows[1:]} == {"train", "val", "test"}


def test_02_train_scratch_cnn(workdir: Path) -> None:
    out = workdir / "02"
    proc = run_example("02_train_scratch_cnn.py", "--out", str(out), cwd=workdir)
    assert "[Epoch 1] Train-acc:" in proc.stdout
    assert (out / "best" / "model.onnx").is_file()
    assert (out / "history.csv").read_text().startswith("epoch,")


def test_03_finetune(finetuned: tuple[Path, str]) -> None:
    out, stdout = finetuned
    assert "[Epoch 1] Train-acc:" in stdout
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["architecture"] == "efficientnet_lite0"
    assert config["training"]["train_backbone"] is False


def test_04_classify_photo(workdir: Path, finetuned: tuple[Path, str]) -> None:
    out, _ = finetuned
    proc = run_example(
        "04_classify_photo.py", "--model", str(out / "best"), "--out", str(workdir / "04"),
        cwd=workdir,
    )  # fmt: skip
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    prediction = json.loads(line)
    assert prediction["source"].endswith("144503924.jpg")
    assert len(prediction["top_k"]) == 5
