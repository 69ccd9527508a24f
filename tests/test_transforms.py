"""Tests of logobrand.transforms: shapes, dtypes, determinism and exact small cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logobrand.errors import InvalidArgumentError
from logobrand.models import Preprocessing
from logobrand.transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomCrop,
    RandomResizedCrop,
    Resize,
    ToCHW,
    ToRGB,
    denormalize,
    eval_transform,
    make_rng,
    preprocess,
    preprocess_batch,
    to_rgb,
    train_transform,
)

PRE = Preprocessing(input_size=16)
SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def images(
    draw: st.DrawFn, max_side: int = 64, channels: tuple[int, ...] = (0, 1, 3, 4)
) -> np.ndarray:
    """Random uint8 images: 1x1 to max_side, thin ones included; channel 0 means 2-D."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    c = draw(st.sampled_from(channels))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = (h, w) if c == 0 else (h, w, c)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _channels(img: np.ndarray) -> int:
    return 0 if img.ndim == 2 else img.shape[2]


# ---------------------------------------------------------------- preprocess


@SETTINGS
@given(images())
@example(np.zeros((1, 1), np.uint8))
@example(np.zeros((1, 64, 3), np.uint8))
@example(np.zeros((64, 1, 4), np.uint8))
@example(np.zeros((1, 300, 1), np.uint8))
def test_preprocess_shape_dtype_any_input(img: np.ndarray) -> None:
    out = preprocess(img, PRE)
    assert out.shape == (3, 16, 16)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert np.isfinite(out).all()


def test_preprocess_matches_reference_formula() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    pre = Preprocessing(input_size=24)
    # Both sides shrink here (40 -> 24 and 30 -> 24), so INTER_AREA is the contract.
    resized = cv2.resize(img, (24, 24), interpolation=cv2.INTER_AREA)
    mean, std = np.array(pre.mean), np.array(pre.std)
    expected = ((resized / 255.0 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(preprocess(img, pre), expected, atol=1e-5)


def test_preprocess_enlarging_uses_linear() -> None:
    img = np.random.default_rng(2).integers(0, 256, (8, 40, 3), dtype=np.uint8)
    pre = Preprocessing(input_size=16)  # height grows, width shrinks -> INTER_LINEAR
    resized = cv2.resize(img, (16, 16), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(denormalize(preprocess(img, pre), pre), resized)


def test_preprocess_same_size_is_not_resized() -> None:
    img = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(denormalize(preprocess(img, PRE), PRE), img)


def test_preprocess_grayscale_and_rgba() -> None:
    gray = np.full((5, 7), 200, np.uint8)
    out = preprocess(gray, PRE)
    rgb = preprocess(np.full((5, 7, 3), 200, np.uint8), PRE)
    np.testing.assert_array_equal(out, rgb)
    transparent = np.zeros((4, 4, 4), np.uint8)
    white = preprocess(np.full((4, 4, 3), 255, np.uint8), PRE)
    np.testing.assert_array_equal(preprocess(transparent, PRE), white)


def test_preprocess_does_not_modify_input() -> None:
    img = np.random.default_rng(4).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    before = img.copy()
    preprocess(img, PRE)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((2, 4, 4, 3), np.uint8),
        "photo.jpg",
    ],
)
def test_preprocess_rejects_bad_input(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="preprocess"):
        preprocess(bad, PRE)  # type: ignore[arg-type]


def test_preprocess_batch() -> None:
    imgs = [
        np.zeros((3, 9, 3), np.uint8),
        np.full((30, 2), 9, np.uint8),
        np.ones((1, 1, 4), np.uint8),
    ]
    batch = preprocess_batch(imgs, PRE)
    assert batch.shape == (3, 3, 16, 16) and batch.dtype == np.float32
    for i, img in enumerate(imgs):
        np.testing.assert_array_equal(batch[i], preprocess(img, PRE))
    assert preprocess_batch([], PRE).shape == (0, 3, 16, 16)
    arr = np.zeros((2, 5, 5, 3), np.uint8)
    assert preprocess_batch(arr, PRE).shape == (2, 3, 16, 16)
    with pytest.raises(InvalidArgumentError, match="image 1 of the batch"):
        preprocess_batch([imgs[0], np.zeros((3, 3), np.int64)], PRE)
    with pytest.raises(InvalidArgumentError, match=r"\(N, H, W, C\)"):
        preprocess_batch(np.zeros((2, 5, 5), np.uint8), PRE)


@SETTINGS
@given(images(max_side=20, channels=(3,)))
def test_denormalize_roundtrip_at_input_size(img: np.ndarray) -> None:
    pre = Preprocessing(input_size=img.shape[0] + 8)
    big = cv2.resize(img, (pre.input_size, pre.input_size))
    np.testing.assert_array_equal(denormalize(preprocess(big, pre), pre), big)
    batch = preprocess_batch([big, big], pre)
    assert denormalize(batch, pre).shape == (2, pre.input_size, pre.input_size, 3)


# ---------------------------------------------------------------- individual transforms


def test_to_rgb_exact() -> None:
    rgba = np.array([[[200, 100, 0, 128]]], np.uint8)
    # 200*128/255 + 255*127/255 = 100.39 + 127 = 227.39 -> 227 ; 100 -> 177.2 -> 177 ; 0 -> 127
    assert to_rgb(rgba).tolist() == [[[227, 177, 127]]]
    assert to_rgb(np.array([[[7]]], np.uint8)).tolist() == [[[7, 7, 7]]]
    img = np.zeros((2, 2, 3), np.uint8)
    assert to_rgb(img) is img


@SETTINGS
@given(images())
def test_flip_twice_is_identity(img: np.ndarray) -> None:
    flip = HorizontalFlip(p=1.0)
    once = flip(img)
    assert once.shape == img.shape and once.dtype == np.uint8
    np.testing.assert_array_equal(once, img[:, ::-1])
    np.testing.assert_array_equal(flip(once), img)


def test_flip_probability_zero_and_validation() -> None:
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert HorizontalFlip(p=0.0, seed=0)(img) is img
    with pytest.raises(InvalidArgumentError):
        HorizontalFlip(p=1.5)
    flips = sum(not np.array_equal(HorizontalFlip(0.5, seed=s)(img), img) for s in range(200))
    assert 60 < flips < 140


@SETTINGS
@given(images(), st.integers(1, 40), st.integers(1, 40), st.sampled_from(["reflect", "constant"]))
def test_random_crop_any_size(img: np.ndarray, h: int, w: int, mode: str) -> None:
    out = RandomCrop((h, w), seed=0, padding_mode=mode)(img)
    assert out.shape[:2] == (h, w)
    assert out.ndim == img.ndim and out.shape[2:] == img.shape[2:]
    assert out.dtype == np.uint8


def test_random_crop_without_padding_raises_and_inside_is_subwindow() -> None:
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    with pytest.raises(InvalidArgumentError, match="smaller than the crop"):
        RandomCrop(12, pad_if_needed=False)(img)
    out = RandomCrop(4, seed=3)(img)
    top, left = divmod(int(out[0, 0]), 10)
    np.testing.assert_array_equal(out, img[top : top + 4, left : left + 4])


def test_padding_is_reflection_or_constant() -> None:
    img = np.array([[1, 2, 3]], np.uint8)
    assert CenterCrop((1, 7))(img).tolist() == [[3, 2, 1, 2, 3, 2, 1]]
    assert CenterCrop((1, 5), padding_mode="constant", fill=9)(img).tolist() == [[9, 1, 2, 3, 9]]
    with pytest.raises(InvalidArgumentError, match="padding_mode"):
        CenterCrop(3, padding_mode="wrap")


@SETTINGS
@given(images(), st.integers(1, 40))
def test_center_crop_and_resize_any_size(img: np.ndarray, size: int) -> None:
    for t in (CenterCrop(size), Resize(size), Resize((size, size + 1))):
        out = t(img)
        assert out.shape[:2] in ((size, size), (size, size + 1))
        assert out.ndim == img.ndim and out.shape[2:] == img.shape[2:]
        assert out.dtype == np.uint8


def test_resize_keep_aspect() -> None:
    img = np.zeros((30, 10, 3), np.uint8)
    assert Resize(5, keep_aspect=True)(img).shape == (15, 5, 3)
    assert Resize((12, 12), keep_aspect=True)(img).shape == (12, 4, 3)
    assert Resize((1, 1), keep_aspect=True)(np.zeros((1, 50), np.uint8)).shape == (1, 1)
    with pytest.raises(InvalidArgumentError):
        Resize(0)


@SETTINGS
@given(images(), st.integers(1, 24), st.integers(0, 2**31))
def test_random_resized_crop_any_size(img: np.ndarray, size: int, seed: int) -> None:
    out = RandomResizedCrop(size, seed=seed)(img)
    assert out.shape[:2] == (size, size)
    assert out.ndim == img.ndim and out.shape[2:] == img.shape[2:]


def test_random_resized_crop_box_within_image() -> None:
    rrc = RandomResizedCrop(8, scale=(0.1, 1.0), seed=0)
    for h, w in [(1, 1), (1, 100), (100, 1), (50, 60)]:
        for _ in range(20):
            top, left, ch, cw = rrc.crop_box(h, w)
            assert top >= 0 and left >= 0 and ch >= 1 and cw >= 1
            assert top + ch <= h and left + cw <= w
    with pytest.raises(InvalidArgumentError):
        RandomResizedCrop(8, scale=(0.0, 1.0))


@SETTINGS
@given(images(), st.integers(0, 2**31))
def test_color_jitter_keeps_shape(img: np.ndarray, seed: int) -> None:
    out = ColorJitter(0.4, 0.4, 0.4, 0.1, seed=seed)(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    if _channels(img) == 4:
        np.testing.assert_array_equal(out[:, :, 3], img[:, :, 3])


def test_color_jitter_noop_and_validation() -> None:
    img = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    assert ColorJitter(seed=0)(img) is img
    with pytest.raises(InvalidArgumentError):
        ColorJitter(hue=0.6)
    with pytest.raises(InvalidArgumentError):
        ColorJitter(brightness=-1)
    gray = np.full((3, 3, 3), 128, np.uint8)  # saturation and hue leave gray unchanged
    out = ColorJitter(saturation=0.5, hue=0.3, seed=1)(gray)
    assert np.abs(out.astype(int) - 128).max() <= 1


@SETTINGS
@given(images(channels=(0, 1, 3)))
def test_normalize_inverse_roundtrip(img: np.ndarray) -> None:
    c = max(_channels(img), 1)
    norm = Normalize([0.4] * c, [0.2] * c)
    x = norm(img)
    assert x.shape == img.shape and x.dtype == np.float32
    np.testing.assert_allclose(x, (img / 255.0 - 0.4) / 0.2, atol=1e-5)
    np.testing.assert_array_equal(norm.inverse(x), img)


def test_normalize_channel_mismatch() -> None:
    with pytest.raises(InvalidArgumentError, match="ToRGB"):
        Normalize((0.5, 0.5, 0.5), (0.2, 0.2, 0.2))(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(InvalidArgumentError):
        Normalize((0.5,), (0.0,))
    out = Normalize((0.5,), (0.5,))(np.full((2, 2, 3), 255, np.uint8))
    np.testing.assert_allclose(out, 1.0)


def test_to_chw_and_to_rgb() -> None:
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    chw = ToCHW()(img)
    assert chw.shape == (3, 2, 4) and chw.flags.c_contiguous
    np.testing.assert_array_equal(chw[1], img[:, :, 1])
    assert ToCHW()(np.zeros((2, 3), np.uint8)).shape == (1, 2, 3)
    assert ToRGB()(np.zeros((2, 3, 1), np.uint8)).shape == (2, 3, 3)


# ---------------------------------------------------------------- seeds and pipelines


@SETTINGS
@given(images(max_side=40), st.integers(0, 2**31))
def test_train_transform_shape_and_determinism(img: np.ndarray, seed: int) -> None:
    a = train_transform(PRE, seed=seed)
    b = train_transform(PRE, seed=seed)
    out_a, out_b = a(img), b(img)
    assert out_a.shape == (3, 16, 16) and out_a.dtype == np.float32
    assert out_a.flags.c_contiguous
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(a(img), b(img))  # streams stay in step
    a.reseed(seed)
    b.reseed(seed)
    np.testing.assert_array_equal(a(img), b(img))


def test_train_transform_varies_and_flip_option() -> None:
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    t = train_transform(PRE, seed=0)
    outs = [t(img) for _ in range(4)]
    assert not all(np.array_equal(outs[0], o) for o in outs[1:])
    flips = [s for s in train_transform(PRE, flip_p=0.0) if isinstance(s, HorizontalFlip)]
    assert flips[0].p == 0.0
    with pytest.raises(InvalidArgumentError):
        train_transform(PRE, enlarge=0.5)


def test_random_transforms_same_seed_same_output() -> None:
    img = np.random.default_rng(5).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    for make in (
        lambda s: RandomCrop(10, seed=s),
        lambda s: RandomResizedCrop(12, seed=s),
        lambda s: HorizontalFlip(seed=s),
        lambda s: ColorJitter(0.3, 0.3, 0.3, 0.1, seed=s),
    ):
        a, b = make(7), make(7)
        for _ in range(3):
            np.testing.assert_array_equal(a(img), b(img))
        a.reseed(11)
        b.reseed(np.random.default_rng(11))
        np.testing.assert_array_equal(a(img), b(img))


def test_compose_reseed_from_generator_and_nested() -> None:
    img = np.random.default_rng(6).integers(0, 256, (30, 30, 3), dtype=np.uint8)

    def build() -> Compose:
        return Compose([Compose([RandomCrop(20)]), HorizontalFlip(), RandomResizedCrop(8)])

    a, b = build(), build()
    a.reseed(np.random.default_rng(3))
    b.reseed(np.random.default_rng(3))
    np.testing.assert_array_equal(a(img), b(img))
    assert len(a) == 3 and isinstance(a[0], Compose)
    assert "RandomCrop" in repr(a)
    with pytest.raises(InvalidArgumentError):
        Compose([1])  # type: ignore[list-item]


def test_make_rng_validation() -> None:
    g = np.random.default_rng(0)
    assert make_rng(g) is g
    for bad in (-1, 1.5, "x", True):
        with pytest.raises(InvalidArgumentError):
            make_rng(bad)  # type: ignore[arg-type]


@SETTINGS
@given(images(max_side=40))
def test_eval_transform_equals_preprocess(img: np.ndarray) -> None:
    np.testing.assert_array_equal(eval_transform(PRE)(img), preprocess(img, PRE))


def test_transform_parameters_are_checked_when_built() -> None:
    with pytest.raises(InvalidArgumentError, match="finite"):
        Normalize([float("nan")] * 3, [1.0] * 3)
    with pytest.raises(InvalidArgumentError, match="from 1 to 16384"):
        Resize(10**6)  # would only fail later, as an OpenCV out-of-memory error
    with pytest.raises(InvalidArgumentError, match="from 1 to 16384"):
        CenterCrop((0, 5))


def test_train_transform_applies_the_canonical_squash_like_preprocess() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    pre = Preprocessing(input_size=32, canonical_size=24)
    plain = train_transform(
        pre,
        seed=0,
        flip_p=0.0,
        enlarge=1.0,
        scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
        jitter=(0, 0, 0, 0),
    )
    np.testing.assert_allclose(plain(img), preprocess(img, pre), atol=1e-5)
