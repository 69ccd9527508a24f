"""examples/05_mxnet_tutorial_finetune.py end to end (``--fast``) on ``../shared/data``.

In the MXNet environment the example fine-tunes Gluon's resnet18_v2 for one epoch, converts
its ``ft-<epoch>.params`` and saves the Gluon network's predictions; the check mode then
re-runs the converted model with MXNet made unimportable. Without MXNet, ``--fast`` must
exit 0 with a clear message (CI's core run of every example).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logobrand.backends.mxnet import mxnet_available

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "05_mxnet_tutorial_finetune.py"
SHARED_DATA = REPO.parent / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent"),
]

# Runs the example's --check with every mxnet import failing, as in a core install.
WITHOUT_MXNET = (
    "import runpy, sys; sys.modules['mxnet'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _run(*args: str, cwd: Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), CI="true", MPLBACKEND="Agg")
    command = [sys.executable, *(["-c", code] if code else []), str(EXAMPLE), *args]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=env, timeout=900, check=False
    )


@pytest.mark.mxnet
@pytest.mark.skipif(not mxnet_available(), reason="MXNet is not usable here")
def test_example_finetunes_converts_and_agrees(tmp_path: Path) -> None:
    out = tmp_path / "05"
    args = ("--fast", "--data-root", str(SHARED_DATA), "--out", str(out), "--workers", "1")
    proc = _run(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "[Epoch 1] Train-acc:" in proc.stdout
    assert "largest |Gluon - ONNX| logit difference" in proc.stdout
    assert (out / "best" / "model.onnx").is_file() and (out / "imported" / "model.onnx").is_file()
    saved = json.loads((out / "gluon_predictions.json").read_text())
    assert len(saved["predictions"]) == 33 and saved["gluon_params"].startswith("ft-")
    check = _run("--check", str(out), cwd=tmp_path, code=WITHOUT_MXNET)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "for 33/33 photos" in check.stdout


@pytest.mark.skipif(mxnet_available(), reason="MXNet is installed here")
def test_example_without_mxnet_explains_and_skips(tmp_path: Path) -> None:
    proc = _run("--fast", "--data-root", str(SHARED_DATA), "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "logobrand[mxnet]" in proc.stderr and "skipped" in proc.stdout
    full = _run("--data-root", str(SHARED_DATA), "--out", str(tmp_path), cwd=tmp_path)
    assert full.returncode == 1 and "Traceback" not in full.stderr
