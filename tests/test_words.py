"""Words for the trained brands (logobrand.inference.words): matching, the rule, the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import ModelFormatError
from logobrand.inference.words import (
    BRAND_TEXTS_FILE,
    DEFAULT_BRAND_TEXTS,
    brand_from_words,
    brands_read,
    load_brand_texts,
    text_shows,
)

LABELS = ["corona", "heineken", "no-logo", "ups"]


@pytest.mark.parametrize(
    ("line", "text", "shown"),
    [
        ("CORONAVIRUS: keep your distance", "corona", False),  # inside a longer word
        ("Corona Extra", "corona", True),
        ("Coca-Cola", "coca cola", True),
        ("COCA", "coca cola", False),
        ("HEINEKEM", "heineken", True),  # one edit away, long word
        ("HEINEKENS", "heineken", True),
        ("HEINIKEMS", "heineken", False),  # two edits
        ("CUPS", "ups", False),
        ("ups", "ups", True),
        ("UPS!", "ups", True),
        ("esse", "esso", False),  # short words: exact only
        ("", "esso", False),
        ("anything", "", False),
    ],
)
def test_text_shows_whole_words_only(line: str, text: str, shown: bool) -> None:
    assert text_shows(line, text) is shown


ALL_TEXTS = sorted({t for texts in DEFAULT_BRAND_TEXTS.values() for t in texts})


@given(st.text(max_size=30), st.sampled_from(ALL_TEXTS), st.sampled_from(["xq", "zz", "ab"]))
@settings(max_examples=300, deadline=None)
def test_a_text_shows_as_whole_words_never_glued(prefix: str, text: str, glue: str) -> None:
    assert text_shows(f"{prefix} {text.upper()} ", text)
    assert not text_shows(glue + text.replace(" ", "") + glue, text)


def test_brands_read_keeps_the_best_confidence_and_drops_weak_lines() -> None:
    texts = {"heineken": ("heineken",), "ups": ("ups",), "corona": ("corona",)}
    lines = [("Heineken", 0.7), ("HEINEKEN beer", 0.95), ("ups", 0.3), ("CORONAVIRUS", 0.99)]
    assert brands_read(lines, texts) == {"heineken": 0.95}
    assert brands_read([("UPS and Heineken", 0.8)], texts) == {"heineken": 0.8, "ups": 0.8}


def test_the_rule_needs_the_picture_to_agree_a_little() -> None:
    probs = np.array([0.001, 0.2, 0.75, 0.049])
    assert brand_from_words(probs, LABELS, {"corona": 0.99}, floor=0.01) is None
    assert brand_from_words(probs, LABELS, {"heineken": 0.9}, floor=0.01) == "heineken"
    # two brands read: the one the classifier ranks higher answers
    assert brand_from_words(probs, LABELS, {"ups": 0.99, "heineken": 0.7}, floor=0.01) == (
        "heineken"
    )
    assert brand_from_words(probs, LABELS, {"ups": 0.99}, floor=0.05) is None
    assert brand_from_words(probs, LABELS, {"pepsi": 0.99}, floor=0.0) is None  # not ours
    assert brand_from_words(probs, LABELS, {}, floor=0.0) is None


def test_brand_texts_file_is_editable_and_checked(tmp_path: Path) -> None:
    defaults = load_brand_texts(tmp_path, LABELS)
    assert defaults == {b: DEFAULT_BRAND_TEXTS[b] for b in ("corona", "heineken", "ups")}
    (tmp_path / BRAND_TEXTS_FILE).write_text(json.dumps({"heineken": ["heineken", "heini"]}))
    assert load_brand_texts(tmp_path, LABELS) == {"heineken": ("heineken", "heini")}
    (tmp_path / BRAND_TEXTS_FILE).write_text(json.dumps({"pepsi": ["pepsi"]}))
    with pytest.raises(ModelFormatError, match="pepsi"):
        load_brand_texts(tmp_path, LABELS)
    (tmp_path / BRAND_TEXTS_FILE).write_text(json.dumps({"ups": "ups"}))
    with pytest.raises(ModelFormatError, match="list of texts"):
        load_brand_texts(tmp_path, LABELS)
    (tmp_path / BRAND_TEXTS_FILE).write_text("{not json")
    with pytest.raises(ModelFormatError, match="JSON"):
        load_brand_texts(tmp_path, LABELS)


def test_every_folder_brand_has_an_entry() -> None:
    folders = {
        "HP", "adidas", "aldi", "apple", "becks", "bmw", "carlsberg", "chimay", "cocacola",
        "corona", "dhl", "erdinger", "esso", "fedex", "ferrari", "ford", "fosters", "google",
        "guiness", "heineken", "milka", "nvidia", "paulaner", "pepsi", "rittersport", "shell",
        "singha", "starbucks", "stellaartois", "texaco", "tsingtao", "ups",
    }  # fmt: skip
    assert set(DEFAULT_BRAND_TEXTS) == folders


def test_config_stores_and_checks_words() -> None:
    from logobrand.inference.config import ModelConfig

    cfg = ModelConfig(architecture="x", labels=tuple(LABELS), words={"floor": 0.01, "look": 0.1})
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.words == {"floor": 0.01, "look": 0.1}
    data = cfg.to_dict()
    for bad in ({"floor": 2.0, "look": 0.1}, {"floor": 0.1}, "0.1"):
        data["words"] = bad
        with pytest.raises(ModelFormatError, match="words"):
            ModelConfig.from_dict(data)


class _FakeReader:
    """Reads "alpha" in every photo whose top-left pixel is bright."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, images: np.ndarray) -> list[list[tuple[str, float]]]:
        self.calls += len(images)
        return [[("ALPHA", 0.9)] if image[0, 0].mean() > 127 else [] for image in images]


@pytest.mark.torch
def test_calibrate_words_on_a_tiny_model(
    tmp_path: Path, build_tiny_model: Any, tmp_images: Any
) -> None:
    from logobrand.data import FileDataset
    from logobrand.data.base import Sample
    from logobrand.inference import LogoClassifier
    from logobrand.inference.calibrate import calibrate_words

    photos = [tmp_images.image(f"p{i}.png", seed=i, size=(40, 40)) for i in range(10)]
    labels = ("a", "b", "no-logo")
    clf = LogoClassifier.from_pretrained(build_tiny_model(tmp_path, photos, labels), threads=1)
    data = FileDataset([Sample(p, labels[i % 3]) for i, p in enumerate(photos)], list(labels))
    reader = _FakeReader()
    found = calibrate_words(
        clf,
        data,
        texts={"a": ("alpha",)},
        reader=reader,
        target_precision=0.0,  # type: ignore[arg-type]
    )
    unsure = sum(r.brand is None for r in clf.predict_batch(photos))  # type: ignore[union-attr]
    assert reader.calls == unsure  # only the photos the classifier leaves without a brand
    assert found.photos == 10 and found.failed == 0
    assert found.settings.floor == 0.0  # any precision will do: the most recall
    assert found.recall >= found.recall_without
    assert 0.0 <= found.read_share <= unsure / 10
    saved = found.config(clf.config)
    assert saved.words == found.settings.to_dict()
    assert saved.training["words_calibration"]["by_floor"] == found.by_floor


@pytest.mark.torch
def test_the_stream_reads_names_only_in_photos_left_without_a_brand(
    tmp_path: Path, build_tiny_model: Any, tmp_images: Any
) -> None:
    from logobrand.inference import LogoClassifier
    from logobrand.inference.config import ModelConfig

    photos = [tmp_images.image(f"p{i}.png", seed=i, size=(40, 50)) for i in range(10)]
    directory = build_tiny_model(tmp_path, photos, ("a", "b", "no-logo"))
    with pytest.raises(ModelFormatError, match="words"):
        LogoClassifier.from_pretrained(directory, words=True)
    plain = LogoClassifier.from_pretrained(directory, threads=1)
    before = [plain.predict(p) for p in photos]
    config = ModelConfig.load(directory)
    import dataclasses

    dataclasses.replace(config, words={"floor": 0.0, "look": 0.0}).save(directory)
    (directory / BRAND_TEXTS_FILE).write_text(json.dumps({"a": ["alpha"]}))
    clf = LogoClassifier.from_pretrained(directory, threads=1, words=True)
    assert clf.words is not None and clf.words.floor == 0.0
    reader = _FakeReader()
    clf._text_reader = reader  # type: ignore[assignment]
    after = [clf.predict(p) for p in photos]
    unsure = [b.brand is None for b in before]
    assert reader.calls == sum(unsure)
    for old, new, photo in zip(before, after, photos, strict=True):
        if old.brand is not None:
            assert new == old  # a photo with a brand is never read
        else:
            bright = _FakeReader().read(
                np.asarray(__import__("cv2").imread(str(photo)))[None, ..., ::-1].copy()
            )[0]
            assert (new.brand, new.score) == (("a", 0.9) if bright else (None, old.score))
    batch = list(clf.predict_batch(photos, batch_size=3))
    assert [(r.brand, r.score) for r in batch] == [(r.brand, r.score) for r in after]  # type: ignore[union-attr]
    assert LogoClassifier.from_pretrained(directory, threads=1).words is None  # off unless asked
