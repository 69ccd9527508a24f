"""run_pipeline: order, failures in place, bounded look-ahead, clean shutdown."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import ImageDecodeError, InvalidArgumentError
from logobrand.inference.pipeline import run_pipeline
from logobrand.inference.prediction import Failure


class Recorder:
    """A fake model: returns each input's value; records batch sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :1] * 10.0


def decode(bad: set[int]) -> Callable[[int], np.ndarray]:
    def fn(x: int) -> np.ndarray:
        if x in bad:
            raise ImageDecodeError(f"item {x} is broken")
        return np.full((2, 2), float(x), dtype=np.float32)

    return fn


def make(source: str, row: np.ndarray) -> tuple[str, float]:
    return source, float(row[0])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 60),
    batch_size=st.integers(1, 9),
    workers=st.integers(1, 4),
    bad=st.sets(st.integers(0, 59), max_size=15),
)
def test_order_and_failures_in_place(n: int, batch_size: int, workers: int, bad: set[int]) -> None:
    runner = Recorder()
    results = list(
        run_pipeline(
            runner, range(n), decode(bad), batch_size, workers, make_result=make, describe=str
        )
    )
    assert len(results) == n
    for i, result in enumerate(results):
        if i in bad:
            assert result == Failure(str(i), f"item {i} is broken", "ImageDecodeError")
        else:
            assert result == (str(i), 10.0 * i)
    assert all(1 <= size <= batch_size for size in runner.batches)
    assert sum(runner.batches) == n - len(bad & set(range(n)))


def test_lazy_and_bounded_on_infinite_input() -> None:
    pulled = 0

    def endless() -> Iterator[int]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    gen = run_pipeline(
        Recorder(), endless(), decode(set()), 4, 2, make_result=make, describe=str, prefetch=2
    )
    first = list(itertools.islice(gen, 6))
    assert [r[1] for r in first if isinstance(r, tuple)] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    # batch being consumed + 2 prefetched batches (+ one refill) at most
    assert pulled <= 4 * 4
    gen.close()  # shuts the thread pool down
    assert not [t for t in threading.enumerate() if t.name.startswith("logobrand-decode")]


def test_unexpected_decode_errors_are_reported_not_dropped() -> None:
    def fn(x: int) -> np.ndarray:
        if x == 2:
            raise ZeroDivisionError("boom")
        return np.zeros(1, np.float32)

    results = list(run_pipeline(Recorder(), range(4), fn, 3, 1, make_result=make, describe=str))
    assert isinstance(results[2], Failure)
    assert results[2].error_type == "ZeroDivisionError"
    assert sum(isinstance(r, Failure) for r in results) == 1


def test_all_failed_batch_skips_model() -> None:
    runner = Recorder()
    results = list(
        run_pipeline(runner, range(3), decode({0, 1, 2}), 3, 1, make_result=make, describe=str)
    )
    assert all(isinstance(r, Failure) for r in results)
    assert runner.batches == []


def test_model_errors_propagate() -> None:
    def broken(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("model exploded")

    with pytest.raises(RuntimeError, match="model exploded"):
        list(run_pipeline(broken, range(3), decode(set()), 2, 1, make_result=make, describe=str))


def test_describe_errors_become_failures() -> None:
    def describe(x: object) -> str:
        if x == 1:
            raise ValueError("cannot describe")
        return str(x)

    results = list(
        run_pipeline(Recorder(), range(3), decode(set()), 2, 1, make_result=make, describe=describe)
    )
    assert isinstance(results[1], Failure) and results[1].error_type == "ValueError"
    assert results[0] == ("0", 0.0) and results[2] == ("2", 20.0)


@pytest.mark.parametrize("name", ["batch_size", "workers", "prefetch"])
def test_invalid_arguments(name: str) -> None:
    kwargs = {"batch_size": 2, "workers": 1, "prefetch": 2}
    kwargs[name] = 0
    gen = run_pipeline(
        Recorder(),
        range(3),
        decode(set()),
        kwargs["batch_size"],
        kwargs["workers"],
        prefetch=kwargs["prefetch"],
        make_result=make,
    )
    with pytest.raises(InvalidArgumentError, match=name):
        next(gen)


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    results = list(
        run_pipeline(
            Recorder(), [1, 2, 3], decode(set()), 2, 1, make_result=make, progress=True, desc="x"
        )
    )
    assert len(results) == 3
    err = capsys.readouterr().err
    assert "3/3" in err
