"""Tests of logobrand.metrics: hand-computed cases and hypothesis properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import InvalidArgumentError
from logobrand.metrics import (
    NO_LOGO,
    apply_threshold,
    expected_calibration_error,
    precision_recall_curve_logo,
    recognition_report,
    reliability_bins,
    threshold_for_precision,
)

SETTINGS = settings(max_examples=50, deadline=None)
LABEL = st.sampled_from(["adidas", "HP", "ups", None, NO_LOGO])


@st.composite
def label_pairs(draw: st.DrawFn) -> tuple[list[str | None], list[str | None]]:
    n = draw(st.integers(1, 40))
    y_true = draw(st.lists(LABEL, min_size=n, max_size=n))
    y_pred = draw(st.lists(LABEL, min_size=n, max_size=n))
    return y_true, y_pred


# ---------------------------------------------------------------- recognition_report


def test_report_hand_computed() -> None:
    y_true = ["adidas", "adidas", "adidas", "pepsi", "pepsi", None, None, "no-logo"]
    y_pred = ["adidas", "adidas", "pepsi", "pepsi", None, "adidas", None, None]
    r = recognition_report(y_true, y_pred)
    # correct: adidas x2, pepsi x1, no-logo x2 -> 5 / 8
    assert r.accuracy == 5 / 8
    # predicted as a logo: 5 (adidas, adidas, pepsi, pepsi, adidas); right brand: 3
    assert (r.n_logo_predicted, r.n_logo_correct) == (5, 3)
    assert r.logo_precision == 3 / 5
    # logo images: 5; predicted with the right brand: 3
    assert r.n_logo_images == 5 and r.logo_recall == 3 / 5
    assert r.labels == ("adidas", "pepsi", "no-logo")
    assert r.confusion.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    assert r.confusion.dtype == np.int64
    adidas = r.class_metrics("adidas")
    assert (adidas.precision, adidas.recall, adidas.support, adidas.predicted) == (
        2 / 3,
        2 / 3,
        3,
        3,
    )
    assert adidas.f1 == pytest.approx(2 / 3)
    pepsi = r.class_metrics("pepsi")
    assert (pepsi.precision, pepsi.recall) == (1 / 2, 1 / 2)
    no_logo = r.class_metrics(None)
    assert (no_logo.precision, no_logo.recall, no_logo.support) == (2 / 3, 2 / 3, 3)
    assert r.macro_f1 == pytest.approx((2 / 3 + 1 / 2) / 2)  # brands only


def test_report_wrong_brand_counts_against_precision_and_recall() -> None:
    r = recognition_report(["ups"], ["dhl"])
    assert (r.accuracy, r.logo_precision, r.logo_recall, r.macro_f1) == (0.0, 0.0, 0.0, 0.0)
    assert r.labels == ("dhl", "ups")  # no "no-logo" row when it does not occur


def test_report_empty_denominators() -> None:
    r = recognition_report([None, None], [None, "no-logo"])
    assert (r.accuracy, r.logo_precision, r.logo_recall, r.macro_f1) == (1.0, 1.0, 1.0, 1.0)
    r = recognition_report(["ups", None], [None, None])  # nothing predicted as a logo
    assert (r.logo_precision, r.logo_recall, r.accuracy) == (1.0, 0.0, 0.5)
    assert r.class_metrics("ups").precision == 0.0


def test_report_labels_argument() -> None:
    r = recognition_report(["b", "a"], ["b", "a"], labels=["b", "a", "c"])
    assert r.labels == ("b", "a", "c")
    assert r.confusion.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert r.macro_f1 == 1.0  # "c" never occurs, so it is not averaged
    assert r.class_metrics("c").support == 0
    r = recognition_report(["a", None], ["a", None], labels=["a"])
    assert r.labels == ("a", NO_LOGO)
    with pytest.raises(InvalidArgumentError, match="does not contain"):
        recognition_report(["a", "z"], ["a", "a"], labels=["a"])
    with pytest.raises(InvalidArgumentError, match="duplicates"):
        recognition_report(["a"], ["a"], labels=["a", "a"])


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        (["a"], ["a", "b"], "one prediction per image"),
        ([], [], "at least one"),
        (["a", 3], ["a", "a"], r"y_true\[1\]"),
        ([""], [""], r"y_true\[0\] is an empty string"),
        (["a"], [""], r"y_pred\[0\] is an empty string"),
        ("ab", "ab", r"y_true must be a list of labels.*single str \('ab'\)"),
        (None, None, "y_true must be a list of labels"),
        (["a"], 5, "y_pred must be a list of labels"),
    ],
)
def test_report_bad_input(y_true: list[object], y_pred: list[object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        recognition_report(y_true, y_pred)  # type: ignore[arg-type]


def test_report_reads_generators_once() -> None:
    r = recognition_report((x for x in ["a", None]), (x for x in ["a", "a"]))
    assert r == recognition_report(["a", None], ["a", "a"])
    assert recognition_report(["a"], ["a"], labels=(x for x in ["a", "b"])).labels == ("a", "b")
    with pytest.raises(InvalidArgumentError, match="labels must be a list"):
        recognition_report(["a"], ["a"], labels="a")


def test_report_to_dict_format_table_and_frozen() -> None:
    r = recognition_report(["adidas", None], ["adidas", "adidas"])
    d = json.loads(json.dumps(r.to_dict()))
    assert d["confusion"] == [[1, 0], [1, 0]] and d["labels"] == ["adidas", "no-logo"]
    assert d["per_class"][0]["label"] == "adidas"
    table = r.format_table()
    assert "logo precision 0.500" in table and "adidas" in table and "no-logo" in table
    with pytest.raises(AttributeError):
        r.accuracy = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        r.confusion[0, 0] = 5
    assert r == recognition_report(["adidas", None], ["adidas", "adidas"])
    assert "0.50 " in r.format_table(digits=2) and "1 " in r.format_table(digits=0)
    for digits in (-1, None, 1.5, "3"):
        with pytest.raises(InvalidArgumentError, match="digits must be an integer >= 0"):
            r.format_table(digits=digits)  # type: ignore[arg-type]


@SETTINGS
@given(label_pairs())
def test_report_properties(pair: tuple[list[str | None], list[str | None]]) -> None:
    y_true, y_pred = pair
    r = recognition_report(y_true, y_pred)
    for value in (r.accuracy, r.logo_precision, r.logo_recall, r.macro_f1):
        assert 0.0 <= value <= 1.0
    assert int(r.confusion.sum()) == len(y_true)
    assert r.confusion.shape == (len(r.labels), len(r.labels))
    assert int(np.trace(r.confusion)) == round(r.accuracy * len(y_true))
    assert sum(row.support for row in r.per_class) == len(y_true)
    for row in r.per_class:
        assert 0.0 <= row.precision <= 1.0 and 0.0 <= row.recall <= 1.0 and 0.0 <= row.f1 <= 1.0
    perfect = recognition_report(y_true, y_true)
    assert (perfect.accuracy, perfect.logo_precision, perfect.logo_recall) == (1.0, 1.0, 1.0)
    assert perfect.macro_f1 == 1.0


# ---------------------------------------------------------------- calibration


def test_reliability_bins_hand_computed() -> None:
    bins = reliability_bins([0.0, 0.25, 0.5, 0.75, 1.0], [True, False, True, True, False], 2)
    # bin 0 = [0, 0.5] holds 0, 0.25, 0.5 ; bin 1 = (0.5, 1] holds 0.75, 1.0
    assert [b.count for b in bins] == [3, 2]
    assert bins[0].accuracy == pytest.approx(2 / 3) and bins[0].confidence == pytest.approx(0.25)
    assert bins[1].accuracy == 0.5 and bins[1].confidence == pytest.approx(0.875)
    ece = expected_calibration_error([0.0, 0.25, 0.5, 0.75, 1.0], [1, 0, 1, 1, 0], n_bins=2)
    assert ece == pytest.approx(3 / 5 * abs(2 / 3 - 0.25) + 2 / 5 * abs(0.5 - 0.875))
    empty = reliability_bins([0.99], [True], n_bins=15)
    assert len(empty) == 15 and empty[0].count == 0 and empty[0].accuracy == 0.0
    assert empty[-1].to_dict()["count"] == 1


def test_ece_probability_matrix_form() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    labels = np.array([0, 2, 2])
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    assert expected_calibration_error(probs, labels) == expected_calibration_error(conf, correct)
    # documented tie convention: the first of the tied columns is the prediction
    assert expected_calibration_error([[0.5, 0.5]], [0]) == 0.5  # right at confidence 0.5
    assert expected_calibration_error([[0.5, 0.5]], [1]) == 0.5  # wrong at confidence 0.5
    assert reliability_bins([[0.5, 0.5]], [0], 2)[0].accuracy == 1.0
    assert reliability_bins([[0.5, 0.5]], [1], 2)[0].accuracy == 0.0


@pytest.mark.parametrize(
    ("conf", "correct"),
    [
        ([0.5, 1.5], [True, True]),
        ([0.5], [True, False]),
        ([], []),
        ([0.5], [2]),
        ([[0.5]], [0.5]),
        ([[0.6, 0.4], [0.3, 0.7]], [5, 0]),  # a class index beyond the columns
        ([[0.9, 0.9], [0.3, 0.3]], [0, 0]),  # rows that do not sum to 1
        ([[0.9, -5.0], [0.8, -3.0]], [0, 0]),  # negative "probabilities"
        (["a"], [True]),
        ([[0.5, 0.5], [1.0]], [0, 0]),  # ragged rows
    ],
)
def test_ece_bad_input(conf: list[object], correct: list[object]) -> None:
    with pytest.raises(InvalidArgumentError):
        expected_calibration_error(conf, correct)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_bins", [0, -1, float("nan"), None, 2.5, True, "15"])
def test_ece_bad_n_bins(n_bins: object) -> None:
    with pytest.raises(InvalidArgumentError, match="n_bins must be an integer >= 1"):
        expected_calibration_error([0.5], [1], n_bins=n_bins)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="n_bins must be an integer >= 1"):
        reliability_bins([0.5], [1], n_bins=n_bins)  # type: ignore[arg-type]


@SETTINGS
@given(
    st.lists(
        st.tuples(st.floats(0.0, 1.0), st.booleans()),
        min_size=1,
        max_size=50,
    ),
    st.integers(1, 20),
)
def test_ece_properties(rows: list[tuple[float, bool]], n_bins: int) -> None:
    conf = [c for c, _ in rows]
    correct = [k for _, k in rows]
    ece = expected_calibration_error(conf, correct, n_bins)
    assert 0.0 <= ece <= 1.0
    bins = reliability_bins(conf, correct, n_bins)
    assert sum(b.count for b in bins) == len(rows)
    # always-right predictions at confidence 1 are perfectly calibrated
    assert expected_calibration_error([1.0] * len(rows), [True] * len(rows), n_bins) == 0.0


# ---------------------------------------------------------------- thresholds


def test_pr_curve_hand_computed_with_ties() -> None:
    y_true = ["a", "b", "a", None, "c"]
    pred = ["a", "b", "b", "a", None]  # the last image has no brand candidate
    score = [0.9, 0.7, 0.7, 0.4, 0.99]
    c = precision_recall_curve_logo(y_true, pred, score)
    assert c.thresholds.tolist() == [0.4, 0.7, 0.9]
    # >= 0.9: 1 predicted, 1 right ; >= 0.7: 3 predicted, 2 right ; >= 0.4: 4 predicted, 2 right
    assert c.precision.tolist() == [0.5, 2 / 3, 1.0]
    assert c.recall.tolist() == [2 / 4, 2 / 4, 1 / 4]
    assert c.n_logo_images == 4
    assert json.loads(json.dumps(c.to_dict()))["thresholds"] == [0.4, 0.7, 0.9]


def test_threshold_for_precision_reached_and_not() -> None:
    y_true = ["a", "a", "b", None, None]
    pred = ["a", "a", "b", "a", "b"]
    score = [0.95, 0.9, 0.8, 0.85, 0.3]
    choice = threshold_for_precision(y_true, pred, score, target_precision=0.75)
    # >= 0.8: 4 predicted, 3 right -> 0.75 reached at the lowest such threshold
    assert (choice.threshold, choice.precision, choice.recall, choice.reached) == (
        0.8,
        0.75,
        1.0,
        True,
    )
    unreachable = threshold_for_precision(["a", "a"], ["b", "a"], [0.9, 0.5], 0.98)
    # precision: >= 0.9 -> 0/1 ; >= 0.5 -> 1/2 ; best is 0.5 at threshold 0.5
    assert unreachable == type(unreachable)(0.5, 0.5, 0.5, False)
    tie = threshold_for_precision(
        [None, "a", None, "a"], ["a", "a", "a", "a"], [0.9, 0.8, 0.7, 0.6], 0.99
    )
    # precision at 0.9, 0.8, 0.7, 0.6: 0, 1/2, 1/3, 1/2 -> best 1/2, lowest threshold wins
    assert (tie.threshold, tie.precision, tie.recall, tie.reached) == (0.6, 0.5, 1.0, False)
    none = threshold_for_precision(["a", None], [None, None], [0.9, 0.8])
    assert none.to_dict() == {"threshold": 1.0, "precision": 0.0, "recall": 0.0, "reached": False}


def test_threshold_selection_is_consistent_with_report() -> None:
    rng = np.random.default_rng(0)
    brands = ["a", "b", "c"]
    y_true = [brands[i] if i < 3 else None for i in rng.integers(0, 5, 200)]
    pred = [brands[i] for i in rng.integers(0, 3, 200)]
    score = rng.random(200)
    choice = threshold_for_precision(y_true, pred, score, 0.4)
    r = recognition_report(y_true, apply_threshold(pred, score, choice.threshold))
    assert r.logo_precision == pytest.approx(choice.precision)
    assert r.logo_recall == pytest.approx(choice.recall)


@pytest.mark.parametrize("target", [0.0, 1.5, -1.0, float("nan"), None, "x"])
def test_threshold_bad_target(target: float) -> None:
    with pytest.raises(InvalidArgumentError, match="target_precision"):
        threshold_for_precision(["a"], ["a"], [0.5], target)


def test_threshold_bad_input() -> None:
    with pytest.raises(InvalidArgumentError):
        threshold_for_precision(["a"], ["a", "b"], [0.5])
    with pytest.raises(InvalidArgumentError):
        threshold_for_precision(["a"], ["a"], [float("nan")])
    with pytest.raises(InvalidArgumentError):
        apply_threshold(["a"], [0.1, 0.2], 0.5)
    with pytest.raises(InvalidArgumentError, match="at index 1"):
        apply_threshold(["a", "b"], [0.9, float("nan")], 0.5)  # not a silent "no logo"
    for score, threshold in (([0.5], None), ([0.5], "x"), (["x"], 0.5), (0.5, 0.5)):
        with pytest.raises(InvalidArgumentError):
            apply_threshold(["a"], score, threshold)  # type: ignore[arg-type]
    for score in (["x"], 0.5):
        with pytest.raises(InvalidArgumentError, match="brand_score"):
            precision_recall_curve_logo(["a"], ["a"], score)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        threshold_for_precision(["a"], ["a"], ["x"])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="brand_pred must be a list"):
        apply_threshold("a", [0.5], 0.5)
    with pytest.raises(InvalidArgumentError, match="y_true must be a list"):
        threshold_for_precision(None, ["a"], [0.5])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"brand_pred\[0\] is an empty string"):
        apply_threshold([""], [0.5], 0.5)


def test_threshold_functions_read_generators_once() -> None:
    assert apply_threshold((x for x in ["a", "b"]), (s for s in [0.9, 0.2]), 0.5) == ["a", None]
    curve = precision_recall_curve_logo(
        (x for x in ["a", None]), (x for x in ["a", "a"]), (s for s in [0.9, 0.3])
    )
    assert curve.thresholds.tolist() == [0.3, 0.9] and curve.precision.tolist() == [0.5, 1.0]


@SETTINGS
@given(
    st.lists(
        st.tuples(LABEL, st.sampled_from(["adidas", "HP", "ups"]), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.05, 1.0),
)
def test_threshold_properties(rows: list[tuple[str | None, str, float]], target: float) -> None:
    y_true = [t for t, _, _ in rows]
    pred = [p for _, p, _ in rows]
    score = [s for _, _, s in rows]
    curve = precision_recall_curve_logo(y_true, pred, score)
    assert np.all(np.diff(curve.thresholds) > 0)
    assert np.all((curve.precision >= 0) & (curve.precision <= 1))
    assert np.all(np.diff(curve.recall) <= 1e-12)  # recall never grows with the threshold
    choice = threshold_for_precision(y_true, pred, score, target)
    assert choice.reached == (choice.precision >= target - 1e-12)
    if choice.reached:
        lower = curve.thresholds < choice.threshold
        assert not np.any(curve.precision[lower] >= target - 1e-12)
    r = recognition_report(y_true, apply_threshold(pred, score, choice.threshold))
    assert r.logo_precision == pytest.approx(choice.precision)
    # perfect candidates reach any target at the lowest score
    perfect = threshold_for_precision(["adidas"] * len(rows), ["adidas"] * len(rows), score, target)
    assert perfect.reached and perfect.threshold == min(score) and perfect.recall == 1.0
