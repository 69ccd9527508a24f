"""Logo boxes: CAM -> boxes, box metrics, ``predict(boxes=True)`` and ``predict --boxes/--draw``.

The end-to-end tests export a tiny torch model with the same protocol as EfficientNet-Lite0
(``forward_all`` + ``extra_onnx_outputs``): 4x4 average pooling makes an 8x8 grid of cells
over the 32x32 input, a 1x1 convolution scores each cell (``"red"`` = 4 (R - G - B) - 2 on
inputs normalised to [-1, 1], ``"no-logo"`` = 0) and a log-sum-exp pool gives the logits. A red
patch on a grey photo is thus recognised as ``"red"``, and its cells light up where it is.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from logobrand.cli import main
from logobrand.errors import InvalidArgumentError
from logobrand.inference import LogoClassifier, ModelConfig, Prediction
from logobrand.inference.boxes import (
    average_precision,
    box_iou,
    cam_boxes,
    corloc,
    draw_boxes,
    make_boxes,
    mean_average_precision,
)
from logobrand.inference.prediction import LogoBox
from logobrand.models.registry import Preprocessing

LABELS = ("blue", "no-logo", "red")
SIZE = 32
HALF = Preprocessing(input_size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


# -- CAM -> boxes -------------------------------------------------------------------------------


def blob_map(rows: slice, cols: slice, shape: tuple[int, int] = (10, 10)) -> np.ndarray:
    cam = np.zeros(shape, np.float32)
    cam[rows, cols] = 5.0
    return cam


def test_blob_gives_a_box_around_it() -> None:
    cam = blob_map(slice(4, 6), slice(2, 5))  # cells x 2..4, y 4..5 of a 10x10 map
    (box,) = cam_boxes(cam, (100, 100))
    x1, y1, x2, y2, strength = box
    assert strength == 1.0
    assert box_iou((x1, y1, x2, y2), (20, 40, 50, 60)) > 0.6
    assert x1 < 35 < x2 and y1 < 50 < y2  # the blob's centre is inside


def test_boxes_scale_to_non_square_photos() -> None:
    cam = blob_map(slice(4, 6), slice(2, 5))
    (square,) = cam_boxes(cam, (100, 100))
    (wide,) = cam_boxes(cam, (400, 50))  # x scaled by W / 10, y by H / 10
    assert wide[0] == pytest.approx(square[0] * 4) and wide[2] == pytest.approx(square[2] * 4)
    assert wide[1] == pytest.approx(square[1] / 2) and wide[3] == pytest.approx(square[3] / 2)
    assert 0 <= wide[0] < wide[2] <= 400 and 0 <= wide[1] < wide[3] <= 50


def test_box_stays_inside_the_photo_at_the_border() -> None:
    cam = blob_map(slice(0, 3), slice(7, 10))  # top-right corner
    (box,) = cam_boxes(cam, (37, 23))
    assert box[0] > 0 and box[1] == 0.0 and box[2] == 37.0 and box[3] > 0
    assert box[3] <= 23


def test_threshold_controls_the_extent_and_the_split() -> None:
    cam = np.zeros((10, 10), np.float32)
    cam[2, 2] = 4.0
    cam[2, 3] = 3.0  # a weaker neighbour
    cam[7, 7] = 2.0  # a second, weaker blob
    low = cam_boxes(cam, (100, 100), threshold=0.2)
    high = cam_boxes(cam, (100, 100), threshold=0.9)
    assert len(low) == 2 and len(high) == 1
    assert low[0][4] == 1.0 and 0.2 <= low[1][4] < 1.0  # strongest first
    width = [b[2] - b[0] for b in (low[0], high[0])]
    assert width[0] > width[1]  # a lower threshold gives a larger box
    assert cam_boxes(cam, (100, 100), threshold=0.2, max_boxes=1) == low[:1]


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
def test_empty_or_flat_map_gives_no_box(interpolation: str) -> None:
    for cam in (np.zeros((10, 10)), np.full((7, 5), -3.0)):
        assert cam_boxes(cam, (50, 60), interpolation=interpolation) == []
    assert cam_boxes(blob_map(slice(1, 2), slice(1, 2)), (50, 60), max_boxes=0) == []


def test_one_cell_map_and_single_peak() -> None:
    (box,) = cam_boxes(blob_map(slice(5, 6), slice(5, 6)), (10, 10), threshold=1.0)
    assert box[0] < 5.5 < box[2] and box[1] < 5.5 < box[3]


@pytest.mark.parametrize(
    ("cam", "kwargs"),
    [
        (np.zeros(10), {}),
        (np.zeros((0, 3)), {}),
        (np.full((4, 4), np.nan), {}),
        (np.zeros((4, 4)), {"threshold": 0.0}),
        (np.zeros((4, 4)), {"threshold": 1.5}),
        (np.zeros((4, 4)), {"max_boxes": -1}),
        (np.zeros((4, 4)), {"interpolation": "nearest"}),
        (np.zeros((4, 4)), {"image_size": (0, 10)}),
    ],
)
def test_cam_boxes_rejects_bad_input(cam: np.ndarray, kwargs: dict[str, Any]) -> None:
    size = kwargs.pop("image_size", (10, 10))
    with pytest.raises(InvalidArgumentError):
        cam_boxes(cam, size, **kwargs)


def test_make_boxes_scores_and_area() -> None:
    cells = np.zeros((3, 10, 10), np.float32)
    cells[2, 1, 1] = 4.0
    cells[2, 8, 8] = 3.0
    boxes = make_boxes(cells, 2, "red", 0.8, (200, 100), threshold=0.5)
    assert [b.label for b in boxes] == ["red", "red"]
    assert boxes[0].score == pytest.approx(0.8) and 0.4 <= boxes[1].score < 0.8
    for b in boxes:
        assert b.area_fraction == pytest.approx((b.x2 - b.x1) * (b.y2 - b.y1) / 20000)
    with pytest.raises(InvalidArgumentError, match="no map 3"):
        make_boxes(cells, 3, "x", 0.5, (10, 10))


def test_prediction_coverage_and_dict() -> None:
    plain = Prediction("red", 0.9, (("red", 0.9),), "a.jpg")
    assert plain.boxes == () and plain.coverage is None
    assert set(plain.to_dict()) == {"source", "brand", "score", "top_k"}
    boxes = (
        LogoBox(0, 0, 10, 10, 0.9, "red", 0.1),
        LogoBox(5, 0, 15, 10, 0.5, "red", 0.1),  # overlaps the first by half
    )
    pred = Prediction("red", 0.9, (("red", 0.9),), "a.jpg", boxes, (20, 50))
    assert pred.coverage == pytest.approx(150 / 1000)
    data = json.loads(json.dumps(pred.to_dict()))
    assert data["image_size"] == {"width": 20, "height": 50}
    assert data["boxes"][1] == {"label": "red", "score": 0.5, "box": [5, 0, 15, 10],
                                "area_fraction": 0.1}  # fmt: skip
    none_found = Prediction(None, 0.7, (), "b.jpg", (), (20, 50))
    assert none_found.to_dict()["boxes"] == [] and none_found.coverage == 0.0


# -- metrics ------------------------------------------------------------------------------------


def test_iou_by_hand() -> None:
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou((0, 0, 1, 1), (1, 0, 2, 1)) == 0.0  # touching
    assert box_iou((0, 0, 4, 4), (1, 1, 2, 2)) == pytest.approx(1 / 16)
    assert box_iou((0, 0, 0, 5), (0, 0, 0, 5)) == 0.0  # empty boxes


coord = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
side = st.floats(min_value=1e-2, max_value=1e3, allow_nan=False)
boxes_st = st.builds(lambda x, y, w, h: (x, y, x + w, y + h), coord, coord, side, side)


@given(boxes_st, boxes_st)
def test_iou_properties(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    ab = box_iou(a, b)
    assert ab == box_iou(b, a)
    assert 0.0 <= ab <= 1.0
    assert box_iou(a, a) == pytest.approx(1.0)


def test_corloc_by_hand() -> None:
    truths = [[(0, 0, 10, 10)], [(0, 0, 10, 10), (20, 20, 30, 30)], [(0, 0, 4, 4)]]
    tops = [(0, 0, 10, 8), (21, 21, 30, 30), (0, 0, 10, 10)]  # hit, hit (2nd box), miss
    assert corloc(tops, truths) == pytest.approx(2 / 3)
    assert corloc([None, None, None], truths) == 0.0
    with pytest.raises(InvalidArgumentError, match="one entry per photo"):
        corloc(tops[:2], truths)
    with pytest.raises(InvalidArgumentError, match="no ground-truth box"):
        corloc([None], [[]])


def test_average_precision_by_hand() -> None:
    truths = {"a": [(0, 0, 10, 10)], "b": [(0, 0, 10, 10)], "c": []}
    perfect = [("a", 0.9, (0, 0, 10, 10)), ("b", 0.8, (1, 1, 10, 10))]
    assert average_precision(perfect, truths) == pytest.approx(1.0)
    # a false positive ranked first: precision 1/2 at recall 1/2, 2/3 at recall 1; made
    # monotone, the precision at recall 1/2 is 2/3 too
    fp_first = [("c", 0.95, (0, 0, 10, 10)), *perfect]
    assert average_precision(fp_first, truths) == pytest.approx(2 / 3)
    # a false positive between the two hits: 1 at recall 1/2, 2/3 at recall 1
    fp_middle = [perfect[0], ("c", 0.85, (0, 0, 10, 10)), perfect[1]]
    assert average_precision(fp_middle, truths) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # a duplicate of a matched box is a false positive; a missed box caps recall at 1/2
    dup = [("a", 0.9, (0, 0, 10, 10)), ("a", 0.8, (0, 0, 10, 10))]
    assert average_precision(dup, truths) == pytest.approx(0.5)
    assert average_precision([], truths) == 0.0
    assert math.isnan(average_precision(perfect, {"a": []}))


def test_mean_average_precision() -> None:
    truths = {1: [("red", (0, 0, 10, 10))], 2: [("blue", (0, 0, 10, 10))], 3: []}
    dets = [(1, "red", 0.9, (0, 0, 10, 10)), (2, "red", 0.8, (0, 0, 10, 10)),
            (3, "green", 0.9, (0, 0, 1, 1))]  # fmt: skip
    m, per_class = mean_average_precision(dets, truths, ["red", "blue", "green"])
    assert per_class["red"] == 1.0 and per_class["blue"] == 0.0
    assert math.isnan(per_class["green"]) and m == pytest.approx(0.5)
    with pytest.raises(InvalidArgumentError):
        mean_average_precision(dets, {3: []}, ["red"])


def test_draw_boxes_marks_the_box() -> None:
    photo = np.full((60, 80, 3), 128, np.uint8)
    pred = Prediction("red", 0.9, (), "x", (LogoBox(20, 20, 60, 50, 0.9, "red", 0.25),), (80, 60))
    drawn = draw_boxes(photo, pred)
    assert drawn.shape == photo.shape and (photo == 128).all()  # the input is not modified
    assert (drawn[35, 19:22] != 128).any() and (drawn[45, 40] == 128).all()
    with pytest.raises(InvalidArgumentError):
        draw_boxes(photo[..., 0], pred)


# -- predict(boxes=True) with a tiny model ------------------------------------------------------


def patch_photo(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    photo = np.full((height, width, 3), 128, np.uint8)
    x1, y1, x2, y2 = box
    photo[y1:y2, x1:x2] = (255, 0, 0)
    return photo


@pytest.fixture(scope="module")
def cam_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("safetensors")
    from logobrand.inference import save_model_dir

    class TinyCam(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.pool = torch.nn.AvgPool2d(4)
            self.classifier = torch.nn.Conv2d(3, len(LABELS), 1)
            with torch.no_grad():
                weight = torch.zeros(len(LABELS), 3, 1, 1)
                weight[0, :, 0, 0] = torch.tensor([-4.0, -4.0, 4.0])  # blue
                weight[2, :, 0, 0] = torch.tensor([4.0, -4.0, -4.0])  # red
                self.classifier.weight.copy_(weight)
                self.classifier.bias.copy_(torch.tensor([-2.0, 0.0, -2.0]))

        def cells(self, images: Any) -> Any:
            return self.classifier(self.pool(images))

        def forward(self, images: Any) -> Any:
            return self.forward_all(images)[0]

        def extra_onnx_outputs(self) -> tuple[str, ...]:
            return ("embedding", "cell_scores")

        def forward_all(self, images: Any) -> tuple[Any, Any, Any]:
            cells = self.cells(images)
            flat = cells.flatten(2)
            logits = torch.logsumexp(flat, -1) - math.log((SIZE // 4) ** 2)
            return logits, self.pool(images).mean((2, 3)), cells

    config = ModelConfig(architecture="tiny_cam", labels=LABELS, preprocessing=HALF, threshold=0.5)
    return save_model_dir(TinyCam(), tmp_path_factory.mktemp("cam") / "model", config)


@pytest.mark.torch
def test_predict_boxes_finds_the_patch(cam_model: Path) -> None:
    clf = LogoClassifier.from_pretrained(cam_model, threads=1)
    patch = (48, 16, 72, 32)
    photo = patch_photo(96, 64, patch)  # not square: boxes are scaled per axis
    pred = clf.predict(photo, boxes=True)
    assert pred.brand == "red" and pred.image_size == (96, 64)
    assert len(pred.boxes) == 1
    (box,) = pred.boxes
    assert box.label == "red" and box.score == pytest.approx(pred.score)
    assert box_iou(box.xyxy, patch) >= 0.5
    assert pred.coverage == pytest.approx(box.area_fraction)
    assert 0 < box.area_fraction < 0.25
    json.dumps(pred.to_dict())

    plain = clf.predict(photo)  # without boxes: same decision, nothing else
    assert plain.boxes == () and plain.image_size is None and "boxes" not in plain.to_dict()
    assert (plain.brand, plain.score) == (pred.brand, pytest.approx(pred.score))


@pytest.mark.torch
def test_predict_batch_boxes_in_order_with_failures(cam_model: Path) -> None:
    clf = LogoClassifier.from_pretrained(cam_model, threads=1)
    photos = [patch_photo(64, 64, (0, 0, 16, 16)), patch_photo(40, 80, (20, 40, 40, 80))]
    grey = np.full((30, 30, 3), 128, np.uint8)
    results = list(clf.predict_batch([photos[0], b"junk", grey, photos[1]], batch_size=2,
                                     workers=1, boxes=True))  # fmt: skip
    assert [r.ok for r in results] == [True, False, True, True]
    first, _, nothing, last = results
    assert isinstance(first, Prediction) and isinstance(last, Prediction)
    assert box_iou(first.boxes[0].xyxy, (0, 0, 16, 16)) >= 0.5
    assert box_iou(last.boxes[0].xyxy, (20, 40, 40, 80)) >= 0.5
    assert last.image_size == (40, 80)
    assert isinstance(nothing, Prediction) and nothing.brand is None
    assert nothing.boxes == () and nothing.to_dict()["boxes"] == []
    single = clf.predict(photos[1], boxes=True)
    assert single.boxes == last.boxes
    plain = list(clf.predict_batch(photos, workers=1))
    assert all(isinstance(p, Prediction) and p.image_size is None for p in plain)


@pytest.mark.torch
def test_boxes_follow_exif_orientation(cam_model: Path) -> None:
    clf = LogoClassifier.from_pretrained(cam_model, threads=1)
    stored = Image.fromarray(patch_photo(80, 40, (0, 0, 20, 20)))  # patch top-left, stored
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: 40 wide, 80 high
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    pred = clf.predict(buf.getvalue(), boxes=True)
    assert pred.image_size == (40, 80)
    assert box_iou(pred.boxes[0].xyxy, (20, 0, 40, 20)) >= 0.5  # now at the top right


def tiny_onnx_dir(root: Path) -> Path:
    """A model without a ``cell_scores`` output (hand-made ONNX, no torch)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = np.zeros((len(LABELS), 3), np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(LABELS)])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, weight.shape, weight.flatten().tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, [len(LABELS)], [0.0] * len(LABELS)),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    directory = root / "plain"
    directory.mkdir()
    onnx.save(model, str(directory / "model.onnx"))
    ModelConfig(architecture="tiny_onnx", labels=LABELS, preprocessing=HALF).save(directory)
    return directory


def test_model_without_cell_scores_cannot_localise(tmp_path: Path) -> None:
    clf = LogoClassifier.from_pretrained(tiny_onnx_dir(tmp_path), threads=1)
    photo = patch_photo(32, 32, (0, 0, 8, 8))
    assert clf.predict(photo).boxes == ()
    with pytest.raises(InvalidArgumentError, match="cannot localise"):
        clf.predict(photo, boxes=True)
    with pytest.raises(InvalidArgumentError, match="cannot localise"):
        clf.predict_batch([photo], boxes=True)  # at the call, not at the first next()
    code = main(["predict", "--model", str(tmp_path / "plain"), "--boxes", "x.jpg"])
    assert code == 2


# -- command line -------------------------------------------------------------------------------


@pytest.mark.torch
def test_cli_boxes_json_and_draw(
    cam_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    Image.fromarray(patch_photo(96, 64, (48, 16, 72, 32))).save(photos / "a.png")
    Image.fromarray(patch_photo(64, 64, (0, 0, 16, 16))).save(photos / "sub" / "a.jpg")
    (photos / "broken.jpg").write_bytes(b"not an image")
    code = main(["predict", "--model", str(cam_model), "--boxes", "--json", str(photos)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(out) == 3
    first = next(r for r in out if r["source"].endswith("a.png"))
    assert first["brand"] == "red" and first["image_size"] == {"width": 96, "height": 64}
    assert box_iou(first["boxes"][0]["box"], (48, 16, 72, 32)) >= 0.5
    assert any("error" in r for r in out)

    drawn = tmp_path / "drawn"
    code = main(["predict", "--model", str(cam_model), "--draw", str(drawn), str(photos)])
    captured = capsys.readouterr()
    assert code == 0 and "[boxes: " in captured.out and "drew 2 photo(s)" in captured.err
    names = sorted(p.name for p in drawn.iterdir())
    assert names == ["a-2.jpg", "a.jpg"]  # same stem twice: both kept
    with Image.open(drawn / "a.jpg") as img:
        assert img.size == (96, 64)  # a.png comes first (files before sub-folders)


@pytest.mark.torch
def test_cli_draw_never_overwrites_and_strict_counts_drawing_failures(
    cam_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(patch_photo(64, 64, (0, 0, 16, 16))).save(photos / "a.jpg")
    original = (photos / "a.jpg").read_bytes()
    code = main(["predict", "--model", str(cam_model), "--draw", str(photos), str(photos)])
    assert code == 0 and (photos / "a.jpg").read_bytes() == original  # the photo is kept
    assert sorted(p.name for p in photos.iterdir()) == ["a-2.jpg", "a.jpg"]
    capsys.readouterr()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the drawings folder should be")
    draw = ["predict", "--model", str(cam_model), "--draw"]
    assert main([*draw, str(blocked), str(photos / "a.jpg")]) == 2  # before any prediction
    assert "is a file; pass a folder" in capsys.readouterr().err
    args = [*draw, str(blocked / "sub"), str(photos / "a.jpg")]  # cannot be created
    assert main(args) == 0
    assert "1 drawing(s) failed" in capsys.readouterr().err
    assert main([*args, "--strict"]) == 1


@pytest.mark.torch
def test_cli_draw_decodes_each_photo_once(
    cam_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logobrand.images
    import logobrand.plotting

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(patch_photo(96, 64, (48, 16, 72, 32))).save(photos / "a.png")
    # under twice the model's input size: not decoded at reduced scale (a larger JPEG is
    # decoded again from the same bytes, see the next test)
    Image.fromarray(patch_photo(48, 48, (0, 0, 12, 12))).save(photos / "b.jpg")
    code = main(["predict", "--model", str(cam_model), "--boxes", str(photos)])
    expected = capsys.readouterr().out
    assert code == 0

    decoded: list[str] = []
    real_decode = logobrand.images._decode_bytes

    def counting_decode(data: bytes, name: str, *args: Any) -> Any:
        decoded.append(name)
        return real_decode(data, name, *args)

    def read_again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("--draw read the photo a second time")

    monkeypatch.setattr(logobrand.images, "_decode_bytes", counting_decode)
    monkeypatch.setattr(logobrand.plotting, "load_image", read_again)
    drawn = tmp_path / "drawn"
    code = main(["predict", "--model", str(cam_model), "--draw", str(drawn), str(photos)])
    captured = capsys.readouterr()
    assert code == 0 and "drew 2 photo(s)" in captured.err, captured.err
    assert captured.out == expected  # the same results as --boxes
    assert sorted(Path(name).name for name in decoded) == ["a.png", "b.jpg"]  # once each
    assert sorted(p.name for p in drawn.iterdir()) == ["a.jpg", "b.jpg"]
    with Image.open(drawn / "a.jpg") as img:
        assert img.size == (96, 64)


def test_full_pixels_of_a_photo_decoded_at_reduced_scale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logobrand.images
    from logobrand.inference.decode import decode_photo

    photo = np.zeros((256, 320, 3), np.uint8)
    photo[64:192, 80:240] = (200, 30, 30)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    (tmp_path / "big.jpg").write_bytes(data)
    pre = Preprocessing(input_size=32)
    plain = decode_photo(tmp_path / "big.jpg", pre)  # decoded at 1/8 scale for the model
    reads: list[int] = []
    real_read = logobrand.images._read_source

    def counting_read(*args: Any) -> bytes:
        reads.append(1)
        return real_read(*args)

    monkeypatch.setattr(logobrand.images, "_read_source", counting_read)
    full = decode_photo(tmp_path / "big.jpg", pre, full_pixels=True)
    np.testing.assert_array_equal(full.x, plain.x)  # the same model input
    assert plain.pixels is None and full.size == plain.size == (320, 256)
    assert full.pixels is not None and full.pixels.shape == (256, 320, 3)
    np.testing.assert_array_equal(full.pixels, logobrand.images.load_image(data))
    assert reads == [1]  # read once, decoded twice (reduced for the model, full to draw)


@pytest.mark.torch
def test_gallery_brand_has_no_box_but_the_same_decision(cam_model: Path) -> None:
    clf = LogoClassifier.from_pretrained(cam_model, threads=1)
    green = np.zeros((48, 48, 3), np.uint8)
    green[..., 1] = 255
    clf.add_brand("greenco", [green, green[:40]])
    plain = clf.predict(green)
    located = clf.predict(green, boxes=True)
    assert plain.brand == located.brand == "greenco"
    assert located.score == pytest.approx(plain.score) and located.boxes == ()
    assert located.image_size == (48, 48)
    red = clf.predict(patch_photo(64, 64, (0, 0, 16, 16)), boxes=True)
    assert red.brand == "red" and len(red.boxes) == 1


# -- benchmark split and docs figure script ---------------------------------------------------

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _load_script(relative: str) -> Any:
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / relative
    name = "_test_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_box_figures_without_data_draw_nothing(tmp_path: Path) -> None:
    script = _load_script("docs/make_box_figures.py")
    code = script.main(["--data-root", str(tmp_path / "absent"), "--out", str(tmp_path / "f")])
    assert code == 0 and not (tmp_path / "f").exists()


@pytest.mark.slow
def test_benchmark_split_keeps_photos_on_one_side() -> None:
    if not (DATA / "flickrlogos27").is_dir():
        pytest.skip("../shared/data/flickrlogos27 is absent")
    import hashlib

    from logobrand.data import FlickrLogos27Dataset, canonical_class_name

    bench = _load_script("benchmarks/localization.py")
    data = FlickrLogos27Dataset(
        DATA / "flickrlogos27", brands=bench.SHARED_BRANDS, name_map=canonical_class_name
    )
    parts = bench.split_parts(DATA, data.samples)
    assert set(parts) == {"val", "test"}
    side: dict[str, str] = {}
    for sample, part in zip(data.samples, parts, strict=True):
        for key in (sample.path.name, hashlib.sha256(sample.path.read_bytes()).hexdigest()):
            assert side.setdefault(key, part) == part, sample.path
    assert bench.split_parts(DATA, data.samples) == parts  # deterministic
