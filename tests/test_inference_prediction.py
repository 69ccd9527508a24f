"""The decision rule (softmax, threshold, top-k) and the result records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import ImageDecodeError, InvalidArgumentError
from logobrand.inference.prediction import Failure, Prediction, make_prediction, softmax

LABELS = ("adidas", "no-logo", "aldi", "HP")


def test_softmax_basics() -> None:
    p = softmax(np.array([1000.0, 1000.0, -1000.0]))
    assert p.tolist() == pytest.approx([0.5, 0.5, 0.0])
    q = softmax(np.array([[0.0, 2.0], [3.0, 3.0]]), temperature=2.0)
    assert q.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert q[0, 1] == pytest.approx(1 / (1 + np.exp(-1.0)))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidArgumentError, match="temperature"):
            softmax(np.zeros(2), bad)


def test_brand_reported_above_threshold() -> None:
    p = make_prediction(np.array([0.0, 0.0, 4.0, 0.0]), LABELS, threshold=0.5, source="a.jpg")
    probs = softmax(np.array([0.0, 0.0, 4.0, 0.0]))
    assert p.brand == "aldi"
    assert p.score == pytest.approx(probs[2])
    assert p.source == "a.jpg"
    assert p.top_k[0][0] == "aldi"
    assert p.top_k[0][1] == pytest.approx(probs[2])


def test_no_logo_is_never_the_brand() -> None:
    # "no-logo" has the highest logit; the best *brand* still decides against the threshold
    logits = np.array([1.0, 5.0, 0.0, 0.0])
    p = make_prediction(logits, LABELS, threshold=0.5)
    probs = softmax(logits)
    assert p.brand is None
    assert p.score == pytest.approx(probs[0]) and p.closest == "adidas"
    assert p.top_k[0][0] == "no-logo"
    lenient = make_prediction(logits, LABELS, threshold=0.0)
    assert lenient.brand == "adidas"
    assert lenient.score == pytest.approx(probs[0])


def test_threshold_boundary_is_inclusive() -> None:
    logits = np.array([0.0, 0.0, -50.0, -50.0])  # adidas and no-logo share 0.5
    assert make_prediction(logits, LABELS, threshold=0.5).brand == "adidas"
    assert make_prediction(logits, LABELS, threshold=0.5000001).brand is None


def test_argument_checks() -> None:
    with pytest.raises(InvalidArgumentError, match="do not match"):
        make_prediction(np.zeros(3), LABELS)
    with pytest.raises(InvalidArgumentError, match="no-logo"):
        make_prediction(np.zeros(2), ("a", "b"))
    with pytest.raises(InvalidArgumentError, match="top_k"):
        make_prediction(np.zeros(4), LABELS, top_k=-1)


@settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-30, 30), min_size=4, max_size=4),
    threshold=st.floats(0.0, 1.0),
    temperature=st.floats(0.1, 10.0),
    k=st.integers(0, 6),
)
def test_rule_properties(logits: list[float], threshold: float, temperature: float, k: int) -> None:
    row = np.array(logits)
    p = make_prediction(row, LABELS, temperature=temperature, threshold=threshold, top_k=k)
    probs = softmax(row, temperature)
    brand_probs = {label: probs[i] for i, label in enumerate(LABELS) if label != "no-logo"}
    best = max(brand_probs.values())
    assert 0.0 <= p.score <= 1.0
    if p.brand is None:
        assert best < threshold
        assert p.score == pytest.approx(best)
    else:
        assert brand_probs[p.brand] == best >= threshold
        assert p.score == pytest.approx(best)
    assert len(p.top_k) == min(k, 4)
    values = [v for _, v in p.top_k]
    assert values == sorted(values, reverse=True)


def test_records_to_dict() -> None:
    pred = Prediction("HP", 0.75, (("HP", 0.75), ("no-logo", 0.2)), "x.png")
    data = pred.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "source": "x.png",
        "brand": "HP",
        "score": 0.75,
        "top_k": [{"label": "HP", "score": 0.75}, {"label": "no-logo", "score": 0.2}],
    }
    assert pred.ok
    failure = Failure.from_exception("y.jpg", ImageDecodeError("y.jpg is empty"))
    assert failure == Failure("y.jpg", "y.jpg is empty", "ImageDecodeError")
    assert not failure.ok
    assert failure.to_dict()["error_type"] == "ImageDecodeError"
    none = Prediction(None, 0.9, (), "z")
    assert json.loads(json.dumps(none.to_dict()))["brand"] is None


def test_importing_the_prediction_module_loads_no_runtime() -> None:
    import subprocess
    import sys

    code = (
        "import sys, logobrand.inference.prediction; "
        "print(sorted(m for m in ('onnxruntime', 'cv2', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
