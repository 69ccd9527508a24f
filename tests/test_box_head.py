"""The box head: training targets, decoding, training on a tiny model, saving, predicting.

The tiny model follows the EfficientNet-Lite0 export protocol of ``tests/test_boxes.py`` and
adds the two feature outputs a box head reads: ``features_s16`` (the 32x32 photo average-pooled
to 8x8) and ``features_s32`` (4x4). A red patch on a grey photo is thus visible in the
features, and a head trained on such photos must find it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.inference import LogoClassifier, ModelConfig
from logobrand.inference.boxes import box_iou, head_boxes
from logobrand.models.registry import Preprocessing
from logobrand.training.boxes import box_targets

LABELS = ("blue", "no-logo", "red")
SIZE = 32
HALF = Preprocessing(input_size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


# -- targets and decoding -----------------------------------------------------------------------


def test_targets_mark_the_cells_inside_the_box() -> None:
    score, ltrb, positive = box_targets([(0.25, 0.25, 0.75, 0.75)], (4, 4))
    assert positive[1:3, 1:3].all() and positive.sum() == 4
    assert score[positive].min() >= 0.2 and score[~positive].max() == 0.0
    # the cell centred at (0.375, 0.375) is 0.125 from the left/top and 0.375 from the others
    assert ltrb[:, 1, 1] == pytest.approx([0.125, 0.125, 0.375, 0.375])


def test_tiny_box_takes_the_cell_under_its_centre() -> None:
    _, ltrb, positive = box_targets([(0.30, 0.30, 0.32, 0.32)], (4, 4))
    assert positive.sum() == 1 and positive[1, 1]
    assert ltrb[:, 1, 1] == pytest.approx([0.075, 0.075, -0.055, -0.055])


def test_overlapping_boxes_give_the_cell_to_the_smaller() -> None:
    big, small = (0.0, 0.0, 1.0, 1.0), (0.5, 0.5, 1.0, 1.0)
    _, ltrb, positive = box_targets([big, small], (2, 2))
    assert positive.all()
    assert ltrb[:, 1, 1] == pytest.approx([0.25, 0.25, 0.25, 0.25])  # the small box's sides
    assert ltrb[:, 0, 0] == pytest.approx([0.25, 0.25, 0.75, 0.75])  # the big one's


@given(
    x=st.floats(0.0, 0.9),
    y=st.floats(0.0, 0.9),
    w=st.floats(0.01, 1.0),
    h=st.floats(0.01, 1.0),
    grid=st.integers(1, 12),
)
@settings(max_examples=60, deadline=None)
def test_targets_decode_back_to_the_box(x: float, y: float, w: float, h: float, grid: int) -> None:
    box = (x, y, min(1.0, x + w), min(1.0, y + h))
    score, ltrb, positive = box_targets([box], (grid, grid))
    assert positive.any()
    maps = np.concatenate([score[None], ltrb]).astype(np.float32)
    maps[0][positive] = np.maximum(maps[0][positive], 0.5)
    (found,) = head_boxes(maps, (1000, 1000), threshold=1.0, max_boxes=1)
    expected = [v * 1000 for v in box]
    assert found[:4] == pytest.approx(expected, abs=0.5)


def test_head_boxes_suppresses_overlaps_and_weak_boxes() -> None:
    maps = np.zeros((5, 4, 4), np.float32)
    maps[1:] = 0.25  # boxes 50 px wide around the cell centres, clipped to the photo
    maps[0, 0, 0], maps[0, 0, 1], maps[0, 3, 3], maps[0, 2, 0] = 0.9, 0.8, 0.5, 0.1
    found = head_boxes(maps, (100, 100), threshold=0.3)
    # (0, 1) overlaps (0, 0) by IoU 0.4 < 0.5: kept; (2, 0) is below the threshold
    assert [round(b[4], 2) for b in found] == [0.9, 0.8, 0.5]
    assert head_boxes(maps, (100, 100), threshold=0.3, overlap=0.3)[1][4] == pytest.approx(0.5)
    assert len(head_boxes(maps, (100, 100), threshold=1.0)) == 1  # the strongest always stays
    assert head_boxes(maps, (100, 100), max_boxes=0) == []


def test_box_voting_averages_the_strong_overlapping_proposals() -> None:
    maps = np.zeros((5, 4, 4), np.float32)
    maps[1:] = 0.25  # boxes 50 px wide around the cell centres, clipped to the photo
    maps[0, 1, 1], maps[0, 1, 2], maps[0, 3, 3] = 0.6, 0.25, 0.2
    plain = head_boxes(maps, (100, 100), threshold=0.1, vote_iou=None)
    assert [b[:4] for b in plain[:2]] == [(12.5, 12.5, 62.5, 62.5), (37.5, 12.5, 87.5, 62.5)]
    # (1, 2) overlaps (1, 1) by IoU 1/3 but scores under half of it: no vote
    assert head_boxes(maps, (100, 100), threshold=0.1, vote_iou=0.3)[0] == plain[0]
    maps[0, 1, 2] = 0.4  # now it votes, with weight 0.4 against 0.6
    voted = head_boxes(maps, (100, 100), threshold=0.1, vote_iou=0.3)
    assert voted[0][:4] == pytest.approx(
        (0.6 * 12.5 + 0.4 * 37.5, 12.5, 0.6 * 62.5 + 0.4 * 87.5, 62.5)
    )
    assert voted[0][4] == pytest.approx(0.6)  # the score stays the kept box's own
    assert head_boxes(maps, (100, 100), threshold=0.1, vote_iou=0.4)[0] == plain[0]  # IoU 1/3


@pytest.mark.parametrize(
    ("maps", "kwargs"),
    [
        (np.zeros((5, 3, 3)), {"vote_iou": 1.0}),
        (np.zeros((5, 3, 3)), {"vote_iou": -0.1}),
        (np.zeros((5, 3, 3)), {"vote_iou": "0.3"}),
        (np.zeros((4, 3, 3)), {}),
        (np.full((5, 3, 3), np.nan), {}),
        (np.zeros((5, 3, 3)), {"threshold": 0.0}),
        (np.zeros((5, 3, 3)), {"max_boxes": -1}),
    ],
)
def test_head_boxes_rejects_bad_input(maps: np.ndarray, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        head_boxes(maps, (10, 10), **kwargs)


# -- training, saving and predicting with a tiny model ----------------------------------------


def patch_photo(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, ...]]]:
    width, height = int(rng.integers(48, 97)), int(rng.integers(48, 97))
    photo = np.full((height, width, 3), 128, np.uint8)
    w, h = int(rng.integers(width // 4, width // 2)), int(rng.integers(height // 4, height // 2))
    x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    photo[y : y + h, x : x + w] = (255, 0, 0)
    return photo, [(x / width, y / height, (x + w) / width, (y + h) / height)]


@pytest.fixture(scope="module")
def feature_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("safetensors")
    from logobrand.inference import save_model_dir

    class TinyFeatures(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.fine = torch.nn.AvgPool2d(4)
            self.coarse = torch.nn.AvgPool2d(8)
            self.classifier = torch.nn.Conv2d(3, len(LABELS), 1)
            with torch.no_grad():
                weight = torch.zeros(len(LABELS), 3, 1, 1)
                weight[2, :, 0, 0] = torch.tensor([4.0, -4.0, -4.0])  # red
                self.classifier.weight.copy_(weight)
                self.classifier.bias.copy_(torch.tensor([-2.0, 0.0, -2.0]))

        def forward(self, images: Any) -> Any:
            return self.forward_all(images)[0]

        def extra_onnx_outputs(self) -> tuple[str, ...]:
            return ("embedding", "cell_scores", "features_s16", "features_s32")

        def forward_all(self, images: Any) -> tuple[Any, ...]:
            fine = self.fine(images)
            cells = self.classifier(fine)
            logits = torch.logsumexp(cells.flatten(2), -1) - math.log((SIZE // 4) ** 2)
            return logits, fine.mean((2, 3)), cells, fine, self.coarse(images)

    config = ModelConfig(architecture="tiny_feat", labels=LABELS, preprocessing=HALF, threshold=0.5)
    return save_model_dir(TinyFeatures(), tmp_path_factory.mktemp("feat") / "model", config)


@pytest.fixture(scope="module")
def boxes_model(feature_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from logobrand.training.boxes import save_box_head, train_box_head

    clf = LogoClassifier.from_pretrained(feature_model, threads=1)
    rng = np.random.default_rng(0)
    photos = [patch_photo(rng) for _ in range(96)]
    head = train_box_head(clf, photos, epochs=40, batch_size=16, learning_rate=1e-2, width=16)
    out = tmp_path_factory.mktemp("boxes") / "model"
    return save_box_head(clf, head, out, summary={"photos": len(photos)})


@pytest.mark.torch
def test_trained_head_finds_the_patch(boxes_model: Path) -> None:
    clf = LogoClassifier.from_pretrained(boxes_model, threads=1)
    assert clf.box_head is not None
    assert clf.config.files["box_head"] == "box_head.onnx"
    assert clf.config.training["box_head"] == {"photos": 96}
    rng = np.random.default_rng(1)  # photos the head never saw
    hits = []
    for _ in range(12):
        photo, (box,) = patch_photo(rng)
        pred = clf.predict(photo, boxes=True)
        assert pred.brand == "red" and pred.boxes
        height, width = photo.shape[:2]
        truth = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
        hits.append(box_iou(pred.boxes[0].xyxy, truth) >= 0.5)
        assert pred.boxes[0].score <= pred.score
    assert np.mean(hits) >= 0.75
    plain = clf.predict(photo)
    assert plain.boxes == () and plain.brand == "red"


@pytest.mark.torch
def test_batch_boxes_equal_single_boxes(boxes_model: Path) -> None:
    clf = LogoClassifier.from_pretrained(boxes_model, threads=1)
    rng = np.random.default_rng(2)
    photos = [patch_photo(rng)[0] for _ in range(5)]
    batch = list(clf.predict_batch(photos, boxes=True, batch_size=2, workers=1))
    for photo, result in zip(photos, batch, strict=True):
        single = clf.predict(photo, boxes=True)
        assert len(single.boxes) == len(result.boxes) >= 1
        for a, b in zip(single.boxes, result.boxes, strict=True):
            assert a.xyxy == pytest.approx(b.xyxy, abs=1e-3) and a.score == pytest.approx(b.score)


@pytest.mark.torch
def test_copies_keep_the_head(boxes_model: Path, tmp_path: Path) -> None:
    clf = LogoClassifier.from_pretrained(boxes_model, threads=1)
    photo = patch_photo(np.random.default_rng(3))[0]
    want = clf.predict(photo, boxes=True).boxes
    strict = clf.with_calibration(threshold=0.6)
    assert strict.box_head is clf.box_head
    copy = LogoClassifier.from_pretrained(strict.save_pretrained(tmp_path / "copy"), threads=1)
    assert copy.box_head is not None and copy.config.threshold == 0.6
    got = copy.predict(photo, boxes=True).boxes
    assert [b.xyxy for b in got] == [b.xyxy for b in want]
    rng = np.random.default_rng(4)
    int8 = clf.save_quantized(tmp_path / "int8", [patch_photo(rng)[0] for _ in range(8)])
    assert (int8 / "box_head.onnx").is_file()
    assert LogoClassifier.from_pretrained(int8, threads=1).predict(photo, boxes=True).boxes


@pytest.mark.torch
def test_a_new_head_warns_that_box_crop_references_are_stale(
    boxes_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from logobrand.training.boxes import save_box_head, train_box_head

    clf = LogoClassifier.from_pretrained(boxes_model, threads=1)
    rng = np.random.default_rng(5)
    clf.add_brand("acme", [patch_photo(rng)[0] for _ in range(2)])
    assert clf.gallery is not None and clf.gallery.kind == "box_crops"
    head = train_box_head(clf, [patch_photo(rng) for _ in range(8)], epochs=1, width=8)
    with caplog.at_level("WARNING", logger="logobrand.training.boxes"):
        out = save_box_head(clf, head, tmp_path / "new-head")
    assert "cropped with the previous box head" in caplog.text and str(out) in caplog.text
    copy = LogoClassifier.from_pretrained(out, threads=1)
    assert copy.gallery is not None and copy.gallery.brands == ("acme",)  # nothing lost


@pytest.mark.torch
def test_training_needs_the_feature_outputs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from logobrand.inference import save_model_dir
    from logobrand.training.boxes import train_box_head

    net = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 3)
    )
    config = ModelConfig(architecture="plain", labels=LABELS, preprocessing=HALF)
    clf = LogoClassifier.from_pretrained(save_model_dir(net, tmp_path / "m", config), threads=1)
    photo = np.full((32, 32, 3), 128, np.uint8)
    with pytest.raises(InvalidArgumentError, match="features_s16"):
        train_box_head(clf, [(photo, [(0.1, 0.1, 0.5, 0.5)])])
    with pytest.raises(InvalidArgumentError, match="needs photos"):
        train_box_head(clf, [])


def test_cli_train_boxes_needs_training_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    from logobrand.cli import main

    code = main(["train-boxes", "default", "--out", str(tmp_path / "x"), "--composites", "0"])
    assert code != 0
    assert "no training photos" in capsys.readouterr().err


def test_composites_have_their_boxes_where_the_artwork_is(tmp_path: Path) -> None:
    pytest.importorskip("cairosvg")
    from logobrand.training.boxes import compose_box_photos

    (tmp_path / "icons").mkdir()
    disc = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
        '<circle cx="12" cy="12" r="11"/></svg>'
    )
    (tmp_path / "icons" / "disc.svg").write_text(disc)
    (tmp_path / "simple-icons.json").write_text(
        '[{"title": "Disc", "slug": "disc", "hex": "FF0000"}]'
    )
    grey = np.full((120, 160, 3), 128, np.uint8)
    photos = compose_box_photos(tmp_path, [grey], n=12, seed=0)
    again = compose_box_photos(tmp_path, [grey], n=12, seed=0)
    assert all(
        np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(photos, again, strict=True)
    )
    assert sum(bool(boxes) for _, boxes in photos) >= 8
    for photo, boxes in photos:
        assert photo.shape == grey.shape and photo.dtype == np.uint8
        for x1, y1, x2, y2 in boxes:
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
            inside = photo[
                int(y1 * 120) : int(np.ceil(y2 * 120)), int(x1 * 160) : int(np.ceil(x2 * 160))
            ]
            assert np.abs(inside.astype(int) - 128).max() > 40  # something was pasted there
    with pytest.raises(InvalidArgumentError, match="simple-icons"):
        compose_box_photos(tmp_path / "nowhere", [grey])


@pytest.mark.torch
def test_head_whose_inputs_the_model_lacks_is_refused(boxes_model: Path, tmp_path: Path) -> None:
    import shutil

    torch = pytest.importorskip("torch")
    from logobrand.inference import save_model_dir

    net = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, len(LABELS))
    )
    config = ModelConfig(architecture="plain", labels=LABELS, preprocessing=HALF)
    plain = save_model_dir(net, tmp_path / "plain", config)
    broken = Path(shutil.copytree(boxes_model, tmp_path / "broken"))
    shutil.copy(plain / "model.onnx", broken / "model.onnx")
    with pytest.raises(ModelFormatError, match="features_s16"):
        LogoClassifier.from_pretrained(broken, threads=1)


def colour_patch(rng: np.random.Generator, colour: tuple[int, int, int]) -> np.ndarray:
    photo = patch_photo(rng)[0]
    photo[np.all(photo == (255, 0, 0), axis=-1)] = colour
    return photo


@pytest.mark.torch
def test_gallery_of_a_model_with_a_head_embeds_box_crops(boxes_model: Path, tmp_path: Path) -> None:
    from logobrand.inference.gallery import BOX_CROPS, CROP_BOXES

    clf = LogoClassifier.from_pretrained(boxes_model, threads=1)
    rng = np.random.default_rng(7)
    green = [colour_patch(rng, (0, 255, 0)) for _ in range(4)]
    yellow = [colour_patch(rng, (255, 255, 0)) for _ in range(4)]
    assert clf.embed(green[:2]).shape == (2 * CROP_BOXES, 3)  # 3 = features_s32 channels
    clf.add_brand("green", green)
    gallery = clf.add_brand("yellow", yellow)
    assert gallery.kind == BOX_CROPS and gallery.counts == (4, 4)
    tests = {"green": (0, 255, 0), "yellow": (255, 255, 0)}
    for name, colour in tests.items():
        for _ in range(3):
            pred = clf.predict(colour_patch(rng, colour))
            assert pred.top_k[0][0] == name or pred.brand == name
    saved = LogoClassifier.from_pretrained(clf.save_pretrained(tmp_path / "copy"), threads=1)
    assert saved.gallery is not None and saved.gallery.kind == BOX_CROPS
    photo = colour_patch(rng, (0, 255, 0))
    want = clf.predict(photo)
    for got in [
        saved.predict(photo),  # float16 references on disk: equal to 1e-3
        *saved.predict_batch([photo, photo], batch_size=2, workers=1),
        saved.predict(photo, boxes=True),
    ]:
        assert got.brand == want.brand and got.score == pytest.approx(want.score, abs=1e-3)
        assert [k for k, _ in got.top_k] == [k for k, _ in want.top_k]
    # the kind is chosen when the gallery is made: photo embeddings on request, one per photo
    with pytest.raises(InvalidArgumentError, match="embeds 'box_crops', not 'photo'"):
        clf.add_brand("blue-ish", green[:1], kind="photo")
    fresh = LogoClassifier.from_pretrained(boxes_model, threads=1)
    assert fresh.add_brand("green", green, kind="photo").kind == "photo"
    assert fresh.embed(green[:2]).shape[0] == 2
    # the gallery needs the head: a copy without it is refused with what to do
    config = json.loads((tmp_path / "copy" / "config.json").read_text())
    del config["files"]["box_head"]
    (tmp_path / "copy" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="needs the model's box head"):
        LogoClassifier.from_pretrained(tmp_path / "copy", threads=1)


@pytest.mark.torch
def test_boxes_from_a_head_need_no_torch(boxes_model: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from PIL import Image

    photo = tmp_path / "patch.png"
    Image.fromarray(patch_photo(np.random.default_rng(6))[0]).save(photo)
    code = f"""
import sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
from logobrand.inference import LogoClassifier
clf = LogoClassifier.from_pretrained({str(boxes_model)!r}, threads=1)
print(len(clf.predict({str(photo)!r}, boxes=True).boxes) > 0)
print(all(r.boxes for r in clf.predict_batch([{str(photo)!r}] * 2, boxes=True)))
clf.add_brand("patch", [{str(photo)!r}])  # a box-crops gallery: the head, no torch
print(clf.gallery.kind, clf.predict({str(photo)!r}).top_k[0][0])
"""
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo)),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "box_crops", "patch"]
