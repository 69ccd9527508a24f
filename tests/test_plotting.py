"""Tests of logobrand.plotting: figures are built and PNGs written into tmp_path."""

from __future__ import annotations

import builtins
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from logobrand import plotting
from logobrand.errors import InvalidArgumentError, MissingExtraError
from logobrand.metrics import recognition_report
from logobrand.models import Preprocessing
from logobrand.transforms import preprocess_batch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_confusion_matrix_from_report(tmp_path: Path) -> None:
    report = recognition_report(["ups", "dhl", None, "ups"], ["ups", "ups", None, None])
    out = tmp_path / "sub" / "cm.png"
    fig = plotting.plot_confusion_matrix(report, path=out, title="test")
    assert _is_png(out)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(report.labels)
    assert ax.get_title() == "test"
    assert len(ax.texts) == len(report.labels) ** 2
    assert not list(tmp_path.glob("sub/.*tmp"))  # atomic write left no temp file


def test_confusion_matrix_from_array_normalized_and_large(tmp_path: Path) -> None:
    fig = plotting.plot_confusion_matrix(np.array([[2, 2], [0, 0]]), normalize=True)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.50", "0.50", "0.00", "0.00"]
    big = np.eye(33, dtype=np.int64)
    fig = plotting.plot_confusion_matrix(big, [f"c{i}" for i in range(33)], tmp_path / "big.png")
    assert not fig.axes[0].texts  # too many classes to annotate
    assert _is_png(tmp_path / "big.png")


@pytest.mark.parametrize(
    ("matrix", "labels"),
    [
        (np.zeros((2, 3)), None),
        (np.zeros((2, 2)), ["a"]),
        (np.zeros((0, 0)), None),
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), None),
        (np.array([[np.inf, 1.0], [0.0, 1.0]]), None),
        (np.array([[-1.0, 1.0], [0.0, 1.0]]), None),
        (np.array([["a"]]), None),
        (np.zeros((1, 1)), "a"),  # a bare string, not a list of names
        (np.zeros((1, 1)), 5),
    ],
)
def test_confusion_matrix_bad_input(matrix: np.ndarray, labels: list[str] | None) -> None:
    with pytest.raises(InvalidArgumentError):
        plotting.plot_confusion_matrix(matrix, labels)


@pytest.mark.parametrize("annotate_max", [None, -1, 2.5, "20"])
def test_confusion_matrix_bad_annotate_max(annotate_max: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="annotate_max must be an integer >= 0"):
        plotting.plot_confusion_matrix([[1]], annotate_max=annotate_max)


def test_confusion_matrix_prints_shares_as_shares() -> None:
    fig = plotting.plot_confusion_matrix(np.array([[0.6, 0.4], [0.0, 1.0]]))
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.60", "0.40", "0.00", "1.00"]
    fig = plotting.plot_confusion_matrix(np.array([[3, 1], [0, 2]]))
    assert [t.get_text() for t in fig.axes[0].texts] == ["3", "1", "0", "2"]


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown format"):
        plotting.plot_confusion_matrix([[1]], path=tmp_path / "cm.docx")
    assert not (tmp_path / "cm.docx").exists()


def test_show_images_uint8_mixed_sizes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = [
        rng.integers(0, 256, (10, 14, 3), dtype=np.uint8),
        rng.integers(0, 256, (5, 5), dtype=np.uint8),
        rng.integers(0, 256, (8, 8, 4), dtype=np.uint8),
    ]
    fig = plotting.show_images(imgs, ["adidas", None, 3], ncols=2, path=tmp_path / "grid.png")
    assert _is_png(tmp_path / "grid.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["adidas", "no-logo", "3", ""]


def test_show_images_normalised_batch(tmp_path: Path) -> None:
    pre = Preprocessing(input_size=16)
    batch = preprocess_batch(np.zeros((10, 20, 20, 3), np.uint8), pre)
    fig = plotting.show_images(batch, pre=pre, path=tmp_path / "aug.png", title="augmented")
    assert len(fig.axes) == 16  # 2 rows of 8
    assert _is_png(tmp_path / "aug.png")
    shown = fig.axes[0].images[0].get_array()
    assert shown is not None and np.asarray(shown).shape == (16, 16, 3)


def test_show_images_bad_input() -> None:
    pre_less = np.zeros((2, 3, 8, 8), np.float32)
    with pytest.raises(InvalidArgumentError, match="pre="):
        plotting.show_images(pre_less)
    with pytest.raises(InvalidArgumentError, match="no images"):
        plotting.show_images([])
    with pytest.raises(InvalidArgumentError, match="labels"):
        plotting.show_images(np.zeros((2, 4, 4, 3), np.uint8), ["a"])
    with pytest.raises(InvalidArgumentError):
        plotting.show_images([np.zeros((4, 4, 2), np.uint16)])
    one = np.zeros((1, 8, 8, 3), np.uint8)
    for ncols in (0, float("nan"), "x", None, 2.5):
        with pytest.raises(InvalidArgumentError, match="ncols must be an integer >= 1"):
            plotting.show_images(one, ncols=ncols)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="labels must be a list of captions"):
        plotting.show_images(one, "a")
    for images in (None, 5, "a.jpg"):
        with pytest.raises(InvalidArgumentError, match="images must be a list"):
            plotting.show_images(images)  # type: ignore[arg-type]
    fig = plotting.show_images(one, (x for x in ["from a generator"]))
    assert [ax.get_title() for ax in fig.axes] == ["from a generator"]


class _History:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows


def test_plot_history(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"epoch": 1, "loss": 2.0, "train_accuracy": 0.3, "val_accuracy": 0.2},
        {"epoch": 2, "loss": 1.0, "train_accuracy": 0.6, "val_accuracy": None},
        {"epoch": 3, "loss": 0.5, "train_accuracy": 0.8, "val_accuracy": 0.7, "test_accuracy": 0.6},
        {"epoch": 4, "loss": math.nan, "train_accuracy": 0.9},
    ]
    fig = plotting.plot_history(rows, tmp_path / "history.png", title="run")
    assert _is_png(tmp_path / "history.png")
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in acc_ax.get_lines()] == ["train", "val", "test"]
    val_line = acc_ax.get_lines()[1]
    assert np.asarray(val_line.get_xdata()).tolist() == [1.0, 3.0]  # None skipped
    assert np.asarray(loss_ax.get_lines()[0].get_xdata()).tolist() == [1.0, 2.0, 3.0]  # NaN skipped
    fig = plotting.plot_history(_History(rows[:1]))
    assert len(fig.axes) == 2


def test_plot_history_svg_and_bad_input(tmp_path: Path) -> None:
    plotting.plot_history([{"loss": 1.0}], tmp_path / "h.svg")
    assert (tmp_path / "h.svg").read_bytes().lstrip().startswith(b"<?xml")
    with pytest.raises(InvalidArgumentError, match="empty"):
        plotting.plot_history([])
    with pytest.raises(InvalidArgumentError):
        plotting.plot_history({"loss": 1.0})
    with pytest.raises(InvalidArgumentError, match="row 0"):
        plotting.plot_history([1.0])
    with pytest.raises(InvalidArgumentError, match="row 1: loss 'n/a'"):
        plotting.plot_history([{"epoch": "1", "loss": "n/a"}])
    with pytest.raises(InvalidArgumentError, match=r"row 1: loss array\(\[1\., 2\.\]\)"):
        plotting.plot_history([{"epoch": 1, "loss": np.array([1.0, 2.0])}])
    with pytest.raises(InvalidArgumentError, match=r"no value to plot; the rows have \['acc'"):
        plotting.plot_history([{"epoch": 1, "acc": 0.5, "val_acc": 0.4}])  # Keras-style keys


def test_plot_history_reads_rows_of_its_own_csv(tmp_path: Path) -> None:
    import csv

    csv_file = tmp_path / "history.csv"
    csv_file.write_text("epoch,loss,val_loss,val_accuracy\n1,2.0,,\n2,1.5,1.7,0.5\n")
    with csv_file.open() as handle:
        rows = list(csv.DictReader(handle))  # every value a string, empty cells ""
    figure = plotting.plot_history(rows)
    lines = {line.get_label(): line.get_ydata().tolist() for ax in figure.axes for line in ax.lines}
    assert lines["val_loss"] == [1.7] and lines["loss"] == [2.0, 1.5]


def test_missing_matplotlib_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtraError, match=r"logobrand\[plot\]"):
        plotting.plot_confusion_matrix([[1]])
