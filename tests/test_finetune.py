"""The long recipe's pieces (logobrand.training.finetune): data, augmentation, composites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from logobrand.data import NO_LOGO
from logobrand.errors import InvalidArgumentError
from logobrand.models import Preprocessing
from logobrand.training.finetune import (
    CanonicalEval,
    CanonicalImages,
    StrongAugment,
    decode_canonical,
)

pytestmark = pytest.mark.torch

PRE = Preprocessing(input_size=48)


def _photo(seed: int, shape: tuple[int, int] = (40, 60)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_decode_canonical_squashes_and_counts_failures(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    images, kept, failures = decode_canonical(
        [_photo(0), broken, _photo(1, (90, 30))], 32, progress=False
    )
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    assert kept == [0, 2]
    assert len(failures) == 1 and "broken.jpg" in failures[0]


def test_strong_augment_is_seeded_and_keeps_the_input_contract() -> None:
    image = _photo(3, (32, 32))
    augment = StrongAugment(PRE, seed=0)
    first = [augment(image) for _ in range(3)]
    augment.reseed(0)
    again = [augment(image) for _ in range(3)]
    for a, b in zip(first, again, strict=True):
        assert a.shape == (3, 48, 48) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # views differ within a stream
    negative = StrongAugment(PRE, seed=1, text_negatives=1.0)(image, negative=True)
    assert negative.shape == (3, 48, 48)


def test_canonical_images_apply_the_transform_with_the_negative_flag() -> None:
    images = np.stack([_photo(i, (32, 32)) for i in range(3)])
    seen: list[bool] = []

    def transform(image: np.ndarray, negative: bool) -> np.ndarray:
        seen.append(negative)
        return CanonicalEval(PRE)(image)

    data = CanonicalImages(images, [0, 1, 0], ["adidas", NO_LOGO], transform)
    x, label = data[1]
    assert x.shape == (3, 48, 48) and label == 1 and seen == [True]
    raw, _ = data.with_transform(None)[0]
    assert raw.shape == (32, 32, 3)
    assert len(data) == 3 and data.classes == ["adidas", NO_LOGO]


def test_composites_leave_out_excluded_brands(tmp_path: Path) -> None:
    pytest.importorskip("cairosvg")
    from logobrand.training.boxes import compose_box_photos

    art = tmp_path / "icons-root"
    (art / "icons").mkdir(parents=True)
    square = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
        '<rect width="10" height="10"/></svg>'
    )
    entries = []
    for slug, title, hexa in (("pepsi", "Pepsi", "0000FF"), ("acme", "Acme", "FF0000")):
        (art / "icons" / f"{slug}.svg").write_text(square)
        entries.append({"title": title, "slug": slug, "hex": hexa})
    (art / "simple-icons.json").write_text(json.dumps(entries))
    background = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(InvalidArgumentError, match="icon"):
        compose_box_photos(art, [background], n=2, exclude=["pepsi", "acme"])
    photos = compose_box_photos(art, [background], n=6, seed=0, exclude=["PEPSI"])
    assert len(photos) == 6


def test_strong_augment_pastes_views_into_scenes_seeded() -> None:
    image = np.full((32, 32, 3), 255, np.uint8)  # a white "logo photo"
    scenes = np.zeros((2, 32, 32, 3), np.uint8)  # black scenes
    plain = StrongAugment(PRE, seed=0, scenes=None, paste=1.0)
    assert plain.paste == 0.0  # nothing to paste into: off
    pasted = StrongAugment(PRE, seed=0, scenes=scenes, paste=1.0, paste_scale=(0.3, 0.3))
    first = pasted._paste_into_scene(np.full((48, 48, 3), 255, np.uint8))
    white = (first == 255).all(axis=2).mean()
    assert first.shape == (48, 48, 3)
    assert 0.05 < white < 0.2  # a 0.3-side patch (aspect jittered) on the black scene
    pasted.reseed(0)
    again = pasted._paste_into_scene(np.full((48, 48, 3), 255, np.uint8))
    np.testing.assert_array_equal(first, again)
    view = pasted(image)
    assert view.shape == (3, 48, 48) and view.dtype == np.float32
