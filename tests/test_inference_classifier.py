"""LogoClassifier with a tiny hand-built ONNX model (no torch needed).

The model averages each normalised channel (GlobalAveragePool), then a linear layer maps the
three channel means to the logits of ("no-logo", "red", "green", "blue"). A saturated red
photo is thus recognised as "red" with high confidence, and a mid-grey photo as no brand.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from logobrand.errors import ImageDecodeError, InvalidArgumentError, ModelFormatError
from logobrand.inference import (
    Failure,
    LogoClassifier,
    ModelConfig,
    Prediction,
    make_prediction,
)
from logobrand.models.registry import Preprocessing

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABELS = ("no-logo", "red", "green", "blue")
SIZE = 32
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "grey": (128, 128, 128)}


def make_onnx(
    path: Path,
    *,
    classes: int = len(LABELS),
    size: int = SIZE,
    batch: int | str = "N",
    gain: float = 3.0,
    rank3: bool = False,
) -> None:
    """GlobalAveragePool -> Flatten -> Gemm: logits[c] = gain * channel_mean[c - 1]
    (``rank3``: then an Unsqueeze to ``(N, 1, classes)``)."""
    weight = np.zeros((classes, 3), dtype=np.float32)
    for c in range(1, min(classes, 4)):
        weight[c, c - 1] = gain
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "W", "B"], ["gemm" if rank3 else "logits"], transB=1),
    ]
    initializer = [
        helper.make_tensor("W", TensorProto.FLOAT, weight.shape, weight.flatten().tolist()),
        helper.make_tensor("B", TensorProto.FLOAT, [classes], [0.0] * classes),
    ]
    if rank3:
        nodes.append(helper.make_node("Unsqueeze", ["gemm", "axes"], ["logits"]))
        initializer.append(helper.make_tensor("axes", TensorProto.INT64, [1], [1]))
    shape = [batch, 1, classes] if rank3 else [batch, classes]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape)],
        initializer=initializer,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def make_model_dir(root: Path, name: str = "model", **config: Any) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    onnx_kwargs = config.pop("onnx_kwargs", {})
    settings: dict[str, Any] = {
        "architecture": "tiny_onnx",
        "labels": LABELS,
        "preprocessing": Preprocessing(input_size=SIZE),
        "files": {"onnx": "model.onnx"},
    }
    settings.update(config)
    ModelConfig(**settings).save(directory)
    make_onnx(directory / "model.onnx", **onnx_kwargs)
    return directory


def photo(colour: str, size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGB", size, COLOURS[colour])


def png_bytes(colour: str) -> bytes:
    buffer = io.BytesIO()
    photo(colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def clf(model_dir: Path) -> LogoClassifier:
    return LogoClassifier.from_pretrained(model_dir, threads=1)


def test_properties(clf: LogoClassifier, model_dir: Path) -> None:
    assert clf.labels == list(LABELS)
    assert clf.config.preprocessing.input_size == SIZE
    assert clf.directory == model_dir
    assert "tiny_onnx" in repr(clf)


def test_predict_accepts_every_input_kind(clf: LogoClassifier, tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    photo("red").save(path)
    inputs: list[Any] = [
        str(path),
        path,
        path.read_bytes(),
        photo("red"),
        np.asarray(photo("red")),
    ]
    for image in inputs:
        result = clf.predict(image)
        assert isinstance(result, Prediction)
        assert result.brand == "red"
        assert result.score > 0.9
        assert result.top_k[0][0] == "red"
        assert len(result.top_k) == 4
    assert clf.predict(str(path)).source == str(path)
    assert clf.predict(path.read_bytes()).source.startswith("<98 bytes")


def test_prediction_to_dict_is_json_ready(clf: LogoClassifier) -> None:
    import json

    data = clf.predict(png_bytes("blue"), top_k=2).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["brand"] == "blue"
    assert [entry["label"] for entry in data["top_k"]] == ["blue", "no-logo"]


def test_predict_matches_decision_rule(clf: LogoClassifier) -> None:
    x = clf.preprocess(photo("green"))
    logits = clf.predict_logits(x[None])
    assert logits.shape == (1, 4) and logits.dtype == np.float32
    expected = make_prediction(logits[0], LABELS, threshold=0.5, top_k=3, source="s")
    got = clf.predict(photo("green"), top_k=3)
    assert got.brand == expected.brand == "green"
    assert got.top_k == expected.top_k
    assert got.score == pytest.approx(expected.score)


def test_no_brand_below_threshold(clf: LogoClassifier) -> None:
    result = clf.predict(photo("grey"))
    assert result.brand is None
    probs = dict(result.top_k)
    best_brand = max(probs[label] for label in LABELS[1:])
    assert best_brand < 0.5
    assert result.score == pytest.approx(best_brand)  # the closest brand's probability


def test_threshold_and_temperature_from_config(clf: LogoClassifier) -> None:
    lenient = clf.with_calibration(threshold=0.0)
    assert lenient.predict(photo("grey")).brand is not None
    strict = clf.with_calibration(threshold=1.0)
    assert strict.predict(photo("red")).brand is None
    hot = clf.with_calibration(temperature=100.0)  # flattens the distribution
    assert hot.predict(photo("red")).brand is None
    assert clf.config.threshold == 0.5  # the original is unchanged


def test_top_k_bounds(clf: LogoClassifier) -> None:
    assert clf.predict(photo("red"), top_k=0).top_k == ()
    assert len(clf.predict(photo("red"), top_k=99).top_k) == 4
    with pytest.raises(InvalidArgumentError, match="top_k"):
        clf.predict(photo("red"), top_k=-1)


def test_bad_input_raises_typed_error_naming_it(clf: LogoClassifier, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageDecodeError, match=r"broken\.jpg"):
        clf.predict(bad)
    with pytest.raises(ImageDecodeError, match=r"missing\.png"):
        clf.predict(tmp_path / "missing.png")


def test_predict_logits_checks_shape(clf: LogoClassifier) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\(N, 3, 32, 32\)"):
        clf.predict_logits(np.zeros((2, 3, 16, 16), np.float32))
    assert clf.predict_logits(np.zeros((0, 3, SIZE, SIZE), np.float32)).shape == (0, 4)
    out = clf.predict_logits(np.zeros((5, 3, SIZE, SIZE), np.float64))
    assert out.shape == (5, 4)


def test_run_time_model_failures_are_model_format_errors(model_dir: Path) -> None:
    """ONNX Runtime failing on a batch, or NaN logits, used to escape untyped or as NaN scores."""
    from logobrand.errors import ModelFormatError

    class Broken:
        def __init__(self, session: Any, mode: str) -> None:
            self.session, self.mode = session, mode

        def get_inputs(self) -> Any:
            return self.session.get_inputs()

        def run(self, names: Any, feeds: Any) -> Any:
            if self.mode == "fail":
                raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Reshape")
            return [np.full((len(next(iter(feeds.values()))), 4), np.nan, np.float32)]

    x = np.zeros((2, 3, SIZE, SIZE), np.float32)
    for mode, message in (("fail", "ONNX Runtime failed on a batch of"), ("nan", "NaN")):
        broken = LogoClassifier.from_pretrained(model_dir)
        broken._model = broken.runner.with_session(Broken(broken.session, mode))
        with pytest.raises(ModelFormatError, match=message):
            broken.predict_logits(x)
        with pytest.raises(ModelFormatError, match=message):
            broken.predict(photo("red"))


# -- predict_batch --------------------------------------------------------------------------------


def test_predict_batch_order_and_failure_position(clf: LogoClassifier, tmp_path: Path) -> None:
    colours = ["red", "green", "blue", "grey"]
    paths: list[Path] = []
    for i in range(70):
        path = tmp_path / f"img{i:03d}.png"
        if i == 37:
            path.write_bytes(b"\x89PNG\r\n\x1a\n truncated garbage")
        else:
            photo(colours[i % 4], size=(20 + i, 30)).save(path)
        paths.append(path)
    results = list(clf.predict_batch(paths, batch_size=8, workers=3))
    assert len(results) == 70
    for i, (path, result) in enumerate(zip(paths, results, strict=True)):
        assert result.source == str(path)
        if i == 37:
            assert isinstance(result, Failure)
            assert not result.ok
            assert result.error_type == "ImageDecodeError"
            assert "img037.png" in result.error
        else:
            assert isinstance(result, Prediction)
            expected = None if colours[i % 4] == "grey" else colours[i % 4]
            assert result.brand == expected


def test_predict_batch_accepts_generators_and_mixed_inputs(clf: LogoClassifier) -> None:
    def inputs() -> Any:
        yield photo("red")
        yield png_bytes("green")
        yield b""
        yield np.asarray(photo("blue"))

    results = list(clf.predict_batch(inputs(), batch_size=3, workers=2, progress=True))
    kinds = [r.brand if isinstance(r, Prediction) else r.error_type for r in results]
    assert kinds == ["red", "green", "ImageDecodeError", "blue"]


def test_predict_batch_matches_predict(clf: LogoClassifier) -> None:
    images = [photo(c) for c in ("red", "grey", "blue")]
    batch = list(clf.predict_batch(images, batch_size=2, workers=1, top_k=2))
    single = [clf.predict(image, top_k=2) for image in images]
    for b, s in zip(batch, single, strict=True):
        assert isinstance(b, Prediction)
        assert b.brand == s.brand
        assert b.score == pytest.approx(s.score, abs=1e-6)


def test_predict_batch_validates_eagerly(clf: LogoClassifier) -> None:
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        clf.predict_batch([], batch_size=0)
    with pytest.raises(InvalidArgumentError, match="workers"):
        clf.predict_batch([], workers=0)
    assert list(clf.predict_batch([])) == []


# -- loading and saving ---------------------------------------------------------------------------


def test_save_pretrained_round_trip(clf: LogoClassifier, tmp_path: Path) -> None:
    strict = clf.with_calibration(threshold=0.97, temperature=1.2)
    out = strict.save_pretrained(tmp_path / "copy")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.onnx"]
    again = LogoClassifier.from_pretrained(out, threads=1)
    assert again.config == strict.config
    assert again.predict(photo("red")).score == pytest.approx(strict.predict(photo("red")).score)
    strict.save_pretrained(out)  # replacing an existing model directory works too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]


def test_default_model_missing_says_what_to_do() -> None:
    from logobrand.inference import DEFAULT_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("a bundled model ships in this checkout")
    with pytest.raises(ModelFormatError, match="no bundled model"):
        LogoClassifier.from_pretrained()


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="does not exist"):
        LogoClassifier.from_pretrained(tmp_path / "nope")


def test_interrupted_save_is_named_in_the_error(tmp_path: Path) -> None:
    backup = make_model_dir(tmp_path, ".model.old-x1")
    with pytest.raises(ModelFormatError, match="recover_model_dir") as info:
        LogoClassifier.from_pretrained(tmp_path / "model")
    assert str(backup) in str(info.value)


@pytest.mark.parametrize(
    ("onnx_kwargs", "fragment"),
    [
        ({"classes": 5}, "width 5"),
        ({"size": 16}, "input_size=32"),
        ({"batch": 1}, "fixed batch size"),
        ({"rank3": True}, "has 3 dimensions"),
    ],
)
def test_model_must_fit_config(tmp_path: Path, onnx_kwargs: dict[str, Any], fragment: str) -> None:
    directory = make_model_dir(tmp_path, onnx_kwargs=onnx_kwargs)
    with pytest.raises(ModelFormatError, match=fragment):
        LogoClassifier.from_pretrained(directory)


def test_missing_or_corrupt_onnx(tmp_path: Path) -> None:
    directory = make_model_dir(tmp_path)
    (directory / "model.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelFormatError, match="cannot load ONNX model"):
        LogoClassifier.from_pretrained(directory)
    (directory / "model.onnx").unlink()
    with pytest.raises(ModelFormatError, match="not found"):
        LogoClassifier.from_pretrained(directory)


def test_works_with_torch_blocked(model_dir: Path, tmp_path: Path) -> None:
    image = tmp_path / "blue.png"
    photo("blue").save(image)
    code = f"""
import sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
import logobrand.inference as inf
from logobrand.errors import MissingExtraError
clf = inf.LogoClassifier.from_pretrained({str(model_dir)!r}, threads=1)
print(clf.predict({str(image)!r}).brand)
print([r.brand for r in clf.predict_batch([{str(image)!r}] * 3, batch_size=2)])
try:
    inf.save_model_dir(object(), {str(tmp_path / "out")!r}, clf.config)
except MissingExtraError as exc:
    print("missing:", "pip install" in str(exc))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["blue", "['blue', 'blue', 'blue']", "missing: True"]


# -- int8 copies --------------------------------------------------------------------------------


def test_save_quantized_writes_an_int8_copy(clf: LogoClassifier, tmp_path: Path) -> None:
    calibration: list[Any] = [photo(c) for c in ("red", "green", "blue", "grey")]
    calibration.insert(1, b"not an image")  # skipped and counted, not fatal
    out = clf.save_quantized(tmp_path / "int8", calibration, limit=3)  # grey unused
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    info = ModelConfig.load(out).training["quantization"]
    assert (info["calibration_photos"], info["calibration_skipped"]) == (3, 1)
    small = LogoClassifier.from_pretrained(out, threads=1)
    assert small.labels == clf.labels and small.config.threshold == clf.config.threshold
    for colour in ("red", "green", "blue"):
        want = clf.predict(photo(colour))
        got = small.predict(photo(colour))
        assert got.brand == want.brand == colour
        assert got.score == pytest.approx(want.score, abs=0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8"]  # no temporary files left
    with pytest.raises(InvalidArgumentError, match="already an int8 copy"):
        small.save_quantized(tmp_path / "int8-again", calibration)  # would not load


def test_save_quantized_needs_decodable_photos(clf: LogoClassifier, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no calibration photo could be decoded"):
        clf.save_quantized(tmp_path / "int8", [b"junk", tmp_path / "missing.jpg"])
    with pytest.raises(InvalidArgumentError, match="limit"):
        clf.save_quantized(tmp_path / "int8", [photo("red")], limit=0)
    assert not (tmp_path / "int8").exists()


def test_quantize_int8_checks_its_calibration(model_dir: Path, tmp_path: Path) -> None:
    from logobrand.inference import quantize_int8

    with pytest.raises(InvalidArgumentError, match=r"\(N, 3, S, S\)"):
        quantize_int8(model_dir / "model.onnx", tmp_path / "q.onnx", np.zeros((3, SIZE, SIZE)))
    with pytest.raises(ModelFormatError, match="not found"):
        quantize_int8(tmp_path / "nope.onnx", tmp_path / "q.onnx", np.zeros((1, 3, SIZE, SIZE)))


def test_argument_mistakes_are_typed_errors(
    clf: LogoClassifier, model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"wrap it in a list: \['a\.jpg'\]"):
        clf.predict_batch("a.jpg")  # not eight failures named 'a', '.', 'j', ...
    with pytest.raises(InvalidArgumentError, match="wrap it in a list"):
        clf.embed("a.jpg")
    with pytest.raises(InvalidArgumentError, match="iterable of images"):
        clf.predict_batch(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="workers must be at most"):
        clf.predict_batch(["a.jpg"], workers=100_000)
    for threads in (100_000, 0, "2"):
        with pytest.raises(InvalidArgumentError, match="threads must be an integer from 1"):
            LogoClassifier.from_pretrained(model_dir, threads=threads)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="expected a model directory"):
        LogoClassifier.from_pretrained(5)  # type: ignore[arg-type]
    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="is a file"):
        LogoClassifier.from_pretrained(a_file)
    run = tmp_path / "run"
    clf.save_pretrained(run / "best")  # the layout `logobrand train --out run` writes
    with pytest.raises(ModelFormatError, match=r"training run.*best"):
        LogoClassifier.from_pretrained(run)


def test_bundled_models_are_not_changed_in_place() -> None:
    from logobrand.inference.classifier import BUNDLED_MODELS

    default = BUNDLED_MODELS["default"]
    if not (default / "config.json").is_file():
        pytest.skip("no bundled model in this install")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in default.iterdir())
    bundled = LogoClassifier.from_pretrained(threads=1)
    shipped = bundled.gallery  # the bundled models ship a calibrated gallery without brands
    with pytest.raises(InvalidArgumentError, match="bundled 'default' model"):
        bundled.save_pretrained(default)
    with pytest.raises(InvalidArgumentError, match="not changed in place"):
        bundled.add_brand("acme", [np.zeros((8, 8, 3), np.uint8)], save=True)
    assert bundled.gallery is shipped  # refused before any change
    assert shipped is None or (len(shipped) == 0 and shipped.calibrated)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in default.iterdir()) == before


def test_missing_model_directory_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    from logobrand.errors import ModelFormatError, ModelNotFoundError

    with pytest.raises(FileNotFoundError) as exc:
        LogoClassifier.from_pretrained(tmp_path / "no-model")
    assert isinstance(exc.value, ModelNotFoundError) and isinstance(exc.value, ModelFormatError)
    assert "no-model" in str(exc.value)


def test_mistyped_preset_name_suggests_the_preset() -> None:
    from logobrand.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="did you mean the bundled preset 'fast'"):
        LogoClassifier.from_pretrained("fsat")
