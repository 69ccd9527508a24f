"""Brand texts read in photos: matching rules, gallery texts, the decision rule, OCR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import InvalidArgumentError, MissingExtraError
from logobrand.inference.gallery import GALLERY_JSON, Gallery, decide
from logobrand.inference.text import TextIndex, line_matches, text_key

LETTERS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.text("abcdefghijklmnopqrstuvwxyz", min_size=5, max_size=12), LETTERS, LETTERS)
def test_a_long_key_matches_anywhere_in_a_line(word: str, before: str, after: str) -> None:
    line = f"{before.upper()}{word.title()}! {after}"
    assert line_matches(line, text_key(word))


@settings(max_examples=60, deadline=None)
@given(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=4), LETTERS, LETTERS)
def test_a_short_key_must_be_a_whole_word(word: str, before: str, after: str) -> None:
    assert line_matches(f"{before} {word.upper()}, {after}", word)
    assert not line_matches(f"{before}{word}{after}", word)  # inside a longer word


def test_accents_are_dropped_and_other_scripts_have_no_key() -> None:
    assert text_key("Škoda Auto") == "skodaauto" and line_matches("ŠKODA", "skoda")
    assert line_matches("Café NESTLÉ", "nestle")
    assert text_key("日本") == ""
    with pytest.raises(InvalidArgumentError, match="letter or digit"):
        Gallery.empty(2).add("jp", np.ones((1, 2)), texts=["日本"])


def test_bad_text_arguments_are_typed_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="for each brand, a list of texts"):
        TextIndex(["yahoo"])  # type: ignore[list-item]  # would match "y a h o o"
    with pytest.raises(InvalidArgumentError, match="for each brand, a list of texts"):
        TextIndex([[None]])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="two strings"):
        line_matches(None, "yahoo")  # type: ignore[arg-type]


def test_one_edit_away_only_for_keys_of_six_or_more() -> None:
    assert line_matches("VODAFONC", "vodafone")  # substitution
    assert line_matches("the vodafne shop", "vodafone")  # deletion
    assert line_matches("xxvodaafonexx", "vodafone")  # insertion
    assert not line_matches("VADAFONC", "vodafone")  # two edits
    assert not line_matches("pumo", "puma") and not line_matches("intal", "intel")
    assert not line_matches("anything", "")


def test_text_scores_take_the_most_confident_matching_line() -> None:
    lines = [("Intel inside", 0.81), ("INTEL", 0.95), ("intel", 0.5), ("amd", 0.99)]
    index = TextIndex([["intel"], [], ["amd", "!!"], ["nv"]])
    scores = index.scores([lines, [], [("intel", 0.5)]])
    np.testing.assert_allclose(
        scores,
        [[0.95, 0.0, 0.99, 0.0], [0.0] * 4, [0.0] * 4],  # 0.5 < MIN_TEXT_CONFIDENCE
    )


def test_an_exact_read_drops_brands_read_one_edit_away() -> None:
    index = TextIndex([["singha"], ["tsingtao"], ["vodafone"]])
    assert index.brands_in("TSINGTAO") == {0, 1}  # "singta" is one edit from "singha"
    scores = index.scores(
        [[("TSINGTAO", 0.9)], [("TSINGTA", 0.9)], [("TSINGTAO", 0.8), ("vodafonc", 0.95)]]
    )
    np.testing.assert_allclose(
        scores,
        [
            [0.0, 0.9, 0.0],  # exact beats one edit away
            [0.9, 0.9, 0.0],  # no exact read: both one edit away
            [0.0, 0.8, 0.0],  # an exact read anywhere in the photo drops near reads
        ],
    )


WORDS = st.text("abcdeo", min_size=1, max_size=9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(WORDS, max_size=2), min_size=1, max_size=6), st.lists(WORDS, max_size=5))
def test_text_index_finds_what_line_matches_finds(texts: list[list[str]], words: list[str]) -> None:
    # a small alphabet makes near misses (one edit, two edits) common
    line = " ".join(words)
    expected = {b for b, ts in enumerate(texts) if any(line_matches(line, text_key(t)) for t in ts)}
    assert TextIndex(texts).brands_in(line) == expected


def test_gallery_texts_follow_add_remove_and_persist(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = Gallery.empty(4).add("acme", rng.random((2, 4)), texts=["ACME", "Acme Corp."])
    g = g.add("zeta", rng.random((1, 4)))
    assert g.texts == (("ACME", "Acme Corp."), ()) and g.reads_text
    assert g.add("acme", rng.random((1, 4))).texts[0] == ("ACME", "Acme Corp.")  # kept
    assert not g.add("acme", rng.random((1, 4)), texts=[]).reads_text  # removed
    assert g.remove("acme").texts == ((),)
    with pytest.raises(InvalidArgumentError, match="wrap it in a list"):
        g.add("x", rng.random((1, 4)), texts="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="letter or digit"):
        g.add("x", rng.random((1, 4)), texts=["!!"])
    with pytest.raises(InvalidArgumentError, match="one list of strings per brand"):
        Gallery(4, brands=["x"], references=rng.random((1, 4)), counts=[1], texts=["x"])
    calibrated = g.calibrate(rng.random((30, 4)))
    assert calibrated.texts == g.texts
    calibrated.save(tmp_path)
    data = json.loads((tmp_path / GALLERY_JSON).read_text())
    assert data["brands"][0]["texts"] == ["ACME", "Acme Corp."]
    assert Gallery.load(tmp_path).texts == g.texts
    # format 3 files have no texts
    data["format_version"] = 3
    for brand in data["brands"]:
        del brand["texts"]
    (tmp_path / GALLERY_JSON).write_text(json.dumps(data))
    old = Gallery.load(tmp_path)
    assert old.texts == ((), ()) and not old.reads_text


def test_decide_reads_texts_after_a_confident_class_and_before_the_threshold() -> None:
    g = Gallery(
        2,
        brands=["acme", "zeta"],
        references=np.array([[1.0, 0.0], [0.0, 1.0]]),
        counts=[1, 1],
        threshold=0.9,
        texts=[["acme"], ["zeta"]],
    )
    unsure, sure = np.array([0.0, 0.0, 0.1]), np.array([5.0, 0.0, 0.0])
    labels = ["ups", "dhl", "no-logo"]
    sims = np.array([0.3, 0.5])  # below the threshold
    none_read = decide(unsure, sims, labels, g, texts_read=np.zeros(2), threshold=0.9)
    assert none_read.brand is None
    acme = decide(unsure, sims, labels, g, texts_read=np.array([0.8, 0.0]), threshold=0.9)
    assert acme.brand == "acme" and acme.score == pytest.approx(0.8)
    both = decide(unsure, sims, labels, g, texts_read=np.array([0.99, 0.75]), threshold=0.9)
    assert both.brand == "zeta"  # read both: the more similar one
    trained = decide(sure, sims, labels, g, texts_read=np.array([0.9, 0.0]), threshold=0.9)
    assert trained.brand == "ups"


class _FakeReader:
    """Reads "ACME Corp" in reddish images, nothing elsewhere; counts what it was given."""

    def __init__(self) -> None:
        self.images = 0

    def read(self, images: np.ndarray) -> list[list[tuple[str, float]]]:
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3
        self.images += len(images)
        return [[("ACME Corp", 0.9)] if img[..., 0].mean() > 200 else [] for img in images]


@pytest.mark.torch
def test_classifier_reads_gallery_texts_in_unsure_photos(
    gallery_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logobrand.inference import LogoClassifier

    clf = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    reader = _FakeReader()
    clf._text_reader = reader  # type: ignore[assignment]
    rng = np.random.default_rng(3)
    blue = [np.full((32, 32, 3), (10, 20, 240), np.uint8) for _ in range(2)]
    clf.add_brand("acme", blue, texts=["acme"])
    clf.add_brand("zeta", [np.full((32, 32, 3), (10, 240, 20), np.uint8)])
    clf.calibrate_gallery([rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(30)])
    red = np.full((32, 32, 3), (250, 30, 30), np.uint8)
    red[8:24, 8:24] = rng.integers(0, 256, (16, 16, 3), np.uint8)
    assert clf.gallery is not None and clf.gallery.similarities(clf.embed([red]))[0, 0] < 0.99
    assert clf.predict(red).brand == "acme"  # the text, not the look
    photos = [red, blue[0], rng.integers(0, 256, (32, 32, 3), np.uint8)]
    batch = [p.brand for p in clf.predict_batch(photos, batch_size=2)]  # type: ignore[union-attr]
    assert batch == [clf.predict(p).brand for p in photos]
    assert batch[0] == "acme"
    saved = clf.save_pretrained(tmp_path / "saved")
    assert Gallery.load(saved).texts == (("acme",), ())
    # photos the classifier is sure of are not read
    sure = clf.with_calibration(threshold=0.0)
    sure._text_reader = counted = _FakeReader()  # type: ignore[assignment]
    assert sure.predict(red).brand in {"a", "b"} and counted.images == 0
    # without the ocr extra, add_brand(texts=...) fails before changing anything, and a
    # model whose gallery reads text fails to load (not in the middle of a batch)
    fresh = LogoClassifier.from_pretrained(gallery_model_dir, threads=1)
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(MissingExtraError, match=r"logobrand\[ocr\]"):
        fresh.add_brand("acme", blue, texts=["acme"])
    assert fresh.gallery is None
    with pytest.raises(MissingExtraError, match=r"logobrand\[ocr\]"):
        LogoClassifier.from_pretrained(tmp_path / "saved")


@pytest.mark.torch
@pytest.mark.ocr
def test_cli_brands_add_text(
    gallery_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("rapidocr")
    import cv2

    from logobrand.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((32, 32, 3), 200, np.uint8))
    args = ["brands", "add", "acme", str(folder), "--model", str(gallery_model_dir)]
    assert main([*args, "--text", "ACME", "--text", "Acme Corp"]) == 0
    assert "read in photos as 'ACME', 'Acme Corp'" in capsys.readouterr().out
    assert main(["brands", "list", "--model", str(gallery_model_dir), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["gallery"] == [{"name": "acme", "references": 1, "texts": ["ACME", "Acme Corp"]}]


@pytest.mark.ocr
def test_text_reader_reads_a_printed_word() -> None:
    pytest.importorskip("rapidocr")
    import cv2

    from logobrand.inference.text import TextReader

    image = np.full((320, 320, 3), 255, np.uint8)
    cv2.putText(image, "YAHOO", (30, 180), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (0, 0, 0), 6)
    blank = np.full((320, 320, 3), 255, np.uint8)
    lines = TextReader(threads=1).read(np.stack([image, blank]))
    assert TextIndex([["Yahoo"]]).scores(lines)[0, 0] > 0.7
    assert lines[1] == []
    with pytest.raises(InvalidArgumentError, match="uint8 RGB"):
        TextReader(threads=1).read(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(InvalidArgumentError, match="uint8 RGB"):
        TextReader(threads=1).read(np.zeros((1, 0, 0, 3), np.uint8))  # was a ZeroDivisionError
