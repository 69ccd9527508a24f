"""OtherLogosDataset / otherlogos_splits and the training records of a model directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from logobrand.data import NO_LOGO, OtherLogosDataset, otherlogos_splits, read_yolo_boxes
from logobrand.errors import DatasetLayoutError, InvalidArgumentError
from logobrand.inference.config import (
    ModelConfig,
    curve_record,
    photo_digest,
    threshold_from_curve,
    trained_on,
    trained_on_record,
)


def _collection(root: Path, n: int = 10) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = ["filename,query,has_boxes,sha256,width,height,orig_width,orig_height,source_path"]
    rng = np.random.default_rng(0)
    for i in range(n):
        name = f"1_google_{i:04d}.jpg"
        pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / name)
        rows.append(f"{name},hotel,{int(i % 2 == 0)},x,40,30,40,30,src/{name}")
        if i % 2 == 0:
            (root / "labels" / f"1_google_{i:04d}.txt").write_text(
                "3 0.5 0.5 0.5 0.2\nnot a box\n9 0.1 0.1 0 0.1\n"
            )
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_read_yolo_boxes_converts_to_pixels_and_skips_bad_lines(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text(
        "3 0.5 0.5 0.5 0.2\nnot a box\n1 a b c d\n9 0.1 0.1 0 0.1\n0 0.0 0.0 0.4 0.4\n"
    )
    boxes = read_yolo_boxes(label, 40, 30)
    assert [(b.x1, b.y1, b.x2, b.y2) for b in boxes] == [
        (10.0, 12.0, 30.0, 18.0),
        (0.0, 0.0, 8.0, 6.0),  # clipped to the photo
    ]


def test_otherlogos_dataset_reads_every_photo_as_no_logo_with_boxes(tmp_path: Path) -> None:
    data = OtherLogosDataset(_collection(tmp_path / "otherlogos"))
    assert len(data) == 10 and data.classes == [NO_LOGO]
    assert all(s.label == NO_LOGO for s in data.samples)
    assert [len(s.boxes) for s in data.samples] == [1, 0] * 5
    train, val, test = otherlogos_splits(tmp_path / "otherlogos", fractions=(0.6, 0.2, 0.2))
    assert len(train) + len(val) + len(test) == 10
    parts = [{s.path for s in part} for part in (train, val, test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    again = otherlogos_splits(tmp_path / "otherlogos", fractions=(0.6, 0.2, 0.2))
    assert [s.path for s in again[0]] == [s.path for s in train]  # seeded
    with pytest.raises(DatasetLayoutError, match=r"no \.jpg photos"):
        OtherLogosDataset(tmp_path / "empty")


def test_trained_on_record_finds_photos_by_content(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{name}.bin" for name in "abc")
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    c.write_bytes(b"three")
    copy = tmp_path / "copy-of-a.bin"
    copy.write_bytes(b"one")
    config = ModelConfig(architecture="x", labels=("a", NO_LOGO))
    assert trained_on(config) is None
    config = ModelConfig(
        architecture="x", labels=("a", NO_LOGO), training={"trained_on": trained_on_record([a, b])}
    )
    seen = trained_on(config)
    assert seen is not None and len(seen) == 2
    assert photo_digest(copy) in seen and photo_digest(c) not in seen
    back = ModelConfig.from_dict(config.to_dict())
    assert trained_on(back) == seen


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=600), st.floats(0.01, 1.0))
def test_threshold_from_curve_picks_the_lowest_threshold_reaching_the_target(
    precision: list[float], target: float
) -> None:
    n = len(precision)
    thresholds = [i / n for i in range(n)]
    recall = [1 - i / n for i in range(n)]
    record = curve_record(thresholds, precision, recall)
    assert len(record["thresholds"]) == min(n, 200)
    config = ModelConfig(
        architecture="x", labels=("a", NO_LOGO), training={"validation_curve": record}
    )
    kept = list(zip(record["thresholds"], record["precision"], strict=True))
    reaching = [t for t, p in kept if p >= target]
    if not reaching:
        with pytest.raises(InvalidArgumentError, match="no threshold reaches"):
            threshold_from_curve(config, target)
        return
    threshold, got_precision, _ = threshold_from_curve(config, target)
    assert threshold == min(reaching) and got_precision >= target


def test_threshold_from_curve_needs_a_curve_and_a_valid_target() -> None:
    config = ModelConfig(architecture="x", labels=("a", NO_LOGO))
    with pytest.raises(InvalidArgumentError, match="no validation curve"):
        threshold_from_curve(config, 0.9)
    with pytest.raises(InvalidArgumentError, match=r"in \(0, 1\]"):
        threshold_from_curve(config, 1.5)
