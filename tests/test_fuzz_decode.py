"""Property test: whatever bytes arrive, ``load_image`` returns an image or a LogoBrandError.

Corrupted (random byte flips and splices), truncated and random inputs derived from a small
generated JPEG (with EXIF) and PNG. Every outcome must be an ``(H, W, 3)`` ``uint8`` array or
a :class:`~logobrand.errors.LogoBrandError`; any other exception, or an example taking longer
than a few seconds, fails. About 200 examples in all, derandomised so runs are repeatable;
each test prints how many inputs it tried and how they ended.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from logobrand.errors import ImageDecodeError, LogoBrandError
from logobrand.images import load_image

PER_EXAMPLE_SECONDS = 5.0

FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,  # the wall-clock guard below kills real hangs instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _photo_like() -> np.ndarray:
    """A 48x48 image with edges, gradients and noise, so every JPEG code path is used."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:48]
    arr = np.stack([x * 5, y * 5, (x + y) * 2], axis=2).astype(np.float64)
    arr[10:30, 12:36] = (220, 30, 40)
    arr += rng.normal(0, 12, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _seeds() -> dict[str, bytes]:
    img = Image.fromarray(_photo_like())
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation, so EXIF parsing and rotation are fuzzed too
    out: dict[str, bytes] = {}
    for name, fmt, kwargs in (
        ("jpeg", "JPEG", {"quality": 85, "exif": exif.tobytes()}),
        ("progressive-jpeg", "JPEG", {"quality": 85, "progressive": True}),
        ("png", "PNG", {}),
    ):
        buf = io.BytesIO()
        img.save(buf, fmt, **kwargs)
        out[name] = buf.getvalue()
    return out


SEEDS = _seeds()


class _Hang(Exception):
    """Raised by the wall-clock guard."""


@contextmanager
def time_guard(seconds: float) -> Iterator[None]:
    """Fail an example that runs longer than ``seconds`` (POSIX main thread only)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if sys.platform == "win32" or not hasattr(signal, "setitimer") or not in_main_thread:
        yield
        return

    def _alarm(signum: int, frame: object) -> None:
        raise _Hang(f"decoding took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(data: bytes, **kwargs: object) -> str:
    """Decode ``data``; return a label for the outcome, failing on any non-typed exception."""
    with time_guard(PER_EXAMPLE_SECONDS), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF; not an outcome
        try:
            out = load_image(data, **kwargs)  # type: ignore[arg-type]
        except LogoBrandError as exc:
            return type(exc).__name__
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8
    assert out.ndim == 3
    assert out.shape[2] == 3
    assert out.shape[0] >= 1
    assert out.shape[1] >= 1
    return "decoded"


def report(
    capsys: pytest.CaptureFixture[str], what: str, counts: Counter[str], minimum: int
) -> None:
    total = sum(counts.values())
    parts = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
    with capsys.disabled():
        print(f"\nfuzz {what}: {total} inputs tried, all handled ({parts})")
    assert total >= minimum


def test_corrupted_images_decode_or_raise_typed_errors(capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[str] = Counter()

    @settings(FUZZ_SETTINGS, max_examples=80)
    @given(
        seed=st.sampled_from(sorted(SEEDS)),
        flips=st.lists(
            st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
            min_size=1,
            max_size=24,
        ),
        splice=st.one_of(st.none(), st.tuples(st.floats(0, 1), st.binary(max_size=64))),
        draft=st.sampled_from([None, 8, 32]),
    )
    def check(
        seed: str,
        flips: list[tuple[float, int]],
        splice: tuple[float, bytes] | None,
        draft: int | None,
    ) -> None:
        data = bytearray(SEEDS[seed])
        for where, value in flips:
            data[int(where * len(data))] = value
        if splice is not None:
            at = int(splice[0] * len(data))
            data[at:at] = splice[1]
        counts[outcome(bytes(data), draft_size=draft)] += 1

    check()
    report(capsys, "corrupted", counts, 80)


def test_truncated_images_are_rejected_or_complete(capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[str] = Counter()

    @settings(FUZZ_SETTINGS, max_examples=60)
    @given(seed=st.sampled_from(sorted(SEEDS)), keep=st.floats(0, 1, exclude_max=True))
    def check(seed: str, keep: float) -> None:
        full = SEEDS[seed]
        cut = int(keep * len(full))
        result = outcome(full[:cut])
        counts[result] += 1
        if seed.endswith("jpeg"):
            # A JPEG cut anywhere never decodes (no grey-filled half images).
            assert result == ImageDecodeError.__name__
        elif result == "decoded":
            # A PNG may lose only its trailer (after the last pixel data) and still decode.
            assert cut >= len(full) - 24

    check()
    report(capsys, "truncated", counts, 60)


def test_random_bytes_raise_typed_errors(capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[str] = Counter()
    magics = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x01\x00\x00WEBP"]
    magics += [b"BM", b"II*\x00", b"MM\x00*", b"<html>"]

    @settings(FUZZ_SETTINGS, max_examples=60)
    @given(prefix=st.sampled_from(magics), tail=st.binary(max_size=512))
    def check(prefix: bytes, tail: bytes) -> None:
        data = prefix + tail
        result = outcome(data)
        counts[result] += 1
        if not data:
            assert result == ImageDecodeError.__name__

    check()
    report(capsys, "random", counts, 60)
