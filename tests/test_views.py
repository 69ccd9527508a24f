"""Closer looks (logobrand.inference.views): views, the rule, its calibration, the preset."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import ImageWriter
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import ModelFormatError
from logobrand.inference.config import ModelConfig
from logobrand.inference.views import (
    ViewsSettings,
    choose_views_threshold,
    decide_views,
    forward_views,
    make_views,
    surest_view,
    views_curve,
)
from logobrand.models.registry import Preprocessing

LABELS = ("a", "b", "no-logo")
CONFIG = ModelConfig(architecture="x", labels=LABELS, preprocessing=Preprocessing(input_size=16))


def test_make_views_cuts_the_four_corners() -> None:
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:20, :30] = 255  # top-left quarter white
    views = make_views(pixels, Preprocessing(input_size=16, mean=(0, 0, 0), std=(1, 1, 1)), 0.5)
    assert views.shape == (5, 3, 16, 16) and views.dtype == np.float32
    means = views.mean(axis=(1, 2, 3))
    assert means[1] == pytest.approx(1.0)  # top-left crop: all white
    assert means[2] == means[3] == means[4] == pytest.approx(0.0)
    assert means[0] == pytest.approx(0.25, abs=0.02)  # the whole photo


@given(
    whole=st.floats(0, 1),
    crops=st.lists(st.floats(0, 1), min_size=4, max_size=4),
    threshold=st.floats(0, 1),
)
@settings(max_examples=200, deadline=None)
def test_surest_view_keeps_a_sure_whole_view_else_the_best(
    whole: float, crops: list[float], threshold: float
) -> None:
    scores = np.array([whole, *crops])
    view = surest_view(scores, threshold)
    if whole >= threshold:
        assert view == 0
    else:
        assert scores[view] == scores.max()
    not_scored = np.array([whole, np.nan, np.nan, np.nan, np.nan])
    assert surest_view(not_scored, threshold) == 0


def _logits(brand: int, margin: float) -> np.ndarray:
    row = np.zeros(3, np.float32)
    row[brand] = margin
    return row


def test_forward_views_runs_crops_only_for_unsure_photos() -> None:
    sure, unsure = _logits(0, 8.0), _logits(2, 4.0)  # brand a / no logo
    calls: list[int] = []

    def run(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.stack([sure if v[0, 0, 0] > 0 else unsure for v in x])

    batch = np.zeros((2, 5, 3, 4, 4), np.float32)
    batch[0, 0] = 1.0  # photo 0: whole view sure
    batch[1, 3] = 1.0  # photo 1: only the top-right... third crop sees the logo
    views = ViewsSettings(crop=0.6, threshold=0.9)
    rows = forward_views(run, batch, CONFIG, views)
    assert calls == [2, 4]  # two whole views, then the four crops of photo 1 only
    assert np.isnan(rows[0, 1:]).all() and np.isfinite(rows[1]).all()
    first = decide_views(rows[0], CONFIG, views)
    second = decide_views(rows[1], CONFIG, views, source="p1")
    assert first.brand == "a" and second.brand == "a" and second.source == "p1"
    assert second.threshold == 0.9
    strict = decide_views(rows[1], CONFIG, ViewsSettings(crop=0.6, threshold=1.0))
    assert strict.brand is None and strict.closest == "a"


def test_views_threshold_reaches_the_precision_on_a_known_case() -> None:
    # photo 0: logo a seen only in a crop; 1: no logo but a crop fools at 0.7; 2: logo b whole
    scores = np.array(
        [[0.2, 0.9, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1, 0.1], [0.95, 0.1, 0.1, 0.1, 0.1]]
    )
    names = np.array([["b", "a", "a", "a", "a"], ["a"] * 5, ["b"] * 5])
    truth = ["a", "no-logo", "b"]
    thresholds, precision, recall = views_curve(scores, names, truth)
    assert list(thresholds) == sorted(thresholds)
    assert precision[thresholds == 0.7][0] == pytest.approx(2 / 3)  # the fooled crop counts
    assert recall[thresholds == 0.95][0] == pytest.approx(1 / 2)  # only photo 2 stays
    t, p, r = choose_views_threshold(scores, names, truth, 1.0)
    assert 0.7 < t <= 0.9 and p == 1.0 and r == 1.0
    t, p, r = choose_views_threshold(scores, names, truth, 0.5)
    assert t <= 0.7 and p >= 0.5


def test_config_stores_and_checks_views(tmp_path: Path) -> None:
    cfg = ModelConfig(architecture="x", labels=LABELS, views={"crop": 0.6, "threshold": 0.9})
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.views == {"crop": 0.6, "threshold": 0.9}
    assert "views" not in ModelConfig(architecture="x", labels=LABELS).to_dict()
    data = cfg.to_dict()
    for bad in ({"crop": 1.5, "threshold": 0.9}, {"crop": 0.6}, [0.6, 0.9]):
        data["views"] = bad
        with pytest.raises(ModelFormatError, match="views"):
            ModelConfig.from_dict(data)


@pytest.mark.torch
def test_views_calibrate_and_predict_on_a_tiny_model(
    tmp_path: Path, tmp_images: ImageWriter, build_tiny_model: Callable[..., Path]
) -> None:
    from logobrand.data import FileDataset
    from logobrand.data.base import Sample
    from logobrand.inference import LogoClassifier
    from logobrand.inference.calibrate import calibrate_views

    photos = [tmp_images.image(f"p{i}.png", seed=i, size=(48, 64)) for i in range(12)]
    labels = ("a", "b", "no-logo")
    directory = build_tiny_model(tmp_path, photos, labels)
    with pytest.raises(ModelFormatError, match="no calibrated views"):
        LogoClassifier.from_pretrained(directory, views=True)
    clf = LogoClassifier.from_pretrained(directory, threads=1)
    assert clf.views is None
    data = FileDataset([Sample(p, labels[i % 3]) for i, p in enumerate(photos)], list(labels))
    found = calibrate_views(clf, data, crops=(0.5, 0.7))
    assert set(found.by_crop) == {"0.5", "0.7"} and found.photos == 12
    assert found.settings.crop in (0.5, 0.7)
    found.config(clf.config).save(directory)
    looked = LogoClassifier.from_pretrained(directory, threads=1, views=True)
    assert looked.views == found.settings
    single = [looked.predict(p) for p in photos[:4]]
    batch = list(looked.predict_batch(photos[:4], batch_size=3))
    for one, many in zip(single, batch, strict=True):
        assert one.brand == many.brand and one.score == pytest.approx(many.score, abs=1e-6)
        assert one.threshold == found.settings.threshold
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    assert LogoClassifier.from_pretrained(copy, threads=1).views is None  # off unless asked
