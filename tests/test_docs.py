"""The documentation builds without warnings, its doctests pass, and docs/make_figures.py works.

The two Sphinx builds run in a subprocess (Sphinx mocks torch while it imports the package, and
that must not leak into the test process) and are marked slow: each takes several seconds.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _sphinx_build(builder: str, out: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("sphinx")
    pytest.importorskip("furo")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        builder,
        "-d",
        str(out / "doctrees"),
        str(DOCS),
        str(out / builder),
    ]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.slow
def test_html_build_has_no_warnings(tmp_path: Path) -> None:
    result = _sphinx_build("html", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    html = tmp_path / "html"
    for page in ("index", "quickstart", "concepts", "tutorial", "own_data", "extending",
                 "model_card", "benchmarks", "changelog", "api"):  # fmt: skip
        assert (html / f"{page}.html").is_file(), page
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in ("logobrand.inference.LogoClassifier", "logobrand.transforms.preprocess",
                 "logobrand.training.Trainer", "logobrand.data.NO_LOGO"):  # fmt: skip
        assert f'id="{name}"' in api, name


@pytest.mark.slow
def test_doctests_pass(tmp_path: Path) -> None:
    result = _sphinx_build("doctest", tmp_path)
    report = tmp_path / "doctest" / "output.txt"
    summary = report.read_text(encoding="utf-8") if report.is_file() else ""
    assert result.returncode == 0, summary + result.stdout + result.stderr
    totals = summary.rpartition("Doctest summary")[2]
    ran = re.search(r"^\s*(\d+) tests?$", totals, re.MULTILINE)
    assert ran is not None and int(ran.group(1)) > 0, summary
    assert re.search(r"^\s*0 failures in tests$", totals, re.MULTILINE), summary


# -- docs/make_figures.py (fast) --------------------------------------------------------------


@pytest.fixture(scope="module")
def make_figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_read_history_jsonl_and_csv(make_figures: ModuleType, tmp_path: Path) -> None:
    rows = [
        {"epoch": 1, "loss": 2.0, "val_accuracy": None},
        {"epoch": 2, "loss": 1.5, "val_accuracy": 0.5},
    ]
    jsonl = tmp_path / "history.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    csv = tmp_path / "history.csv"
    csv.write_text("epoch,loss,val_accuracy\n1,2.0,\n2,1.5,0.5\n", encoding="utf-8")
    assert make_figures.read_history(jsonl) == rows
    assert make_figures.read_history(csv) == rows


def test_read_report_plain_and_nested(make_figures: ModuleType, tmp_path: Path) -> None:
    report = {"labels": ["ups", "no-logo"], "confusion": [[1, 0], [1, 2]], "accuracy": 0.75}
    plain = tmp_path / "report.json"
    plain.write_text(json.dumps(report), encoding="utf-8")
    nested = tmp_path / "evaluate.json"
    nested.write_text(json.dumps({"model": "m", "report": report}), encoding="utf-8")
    expected = (["ups", "no-logo"], [[1, 0], [1, 2]])
    assert make_figures.read_report(plain) == expected
    assert make_figures.read_report(nested) == expected
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit, match="labels"):
        make_figures.read_report(bad)


def test_main_draws_history_and_confusion(make_figures: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    history = tmp_path / "h.jsonl"
    history.write_text('{"epoch": 1, "loss": 1.0, "train_accuracy": 0.5}\n', encoding="utf-8")
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"labels": ["a", "no-logo"], "confusion": [[1, 0], [0, 1]]}))
    out = tmp_path / "figures"
    status = make_figures.main(
        ["--no-grid", "--out", str(out), "--history", f"run={history}", "--report", f"run={report}"]
    )
    assert status == 0
    assert (out / "training_curves_run.png").stat().st_size > 0
    assert (out / "confusion_matrix_run.png").stat().st_size > 0
