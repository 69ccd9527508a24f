"""The fast inference path: ONNX == PyTorch, ordered streaming, folder walk, draft decoding.

The ONNX/PyTorch agreement test uses the default backbone (efficientnet_lite0, randomly
initialised: agreement does not depend on the weights). The others use a tiny hand-built ONNX
model (no torch) whose logits are the channel means of the input, so a wrong row order or a
mixed-up batch shows up in the scores.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from logobrand.errors import InvalidArgumentError
from logobrand.images import load_image
from logobrand.inference import Failure, LogoClassifier, ModelConfig, Prediction
from logobrand.inference.classifier import DEFAULT_BATCH_SIZE, default_workers
from logobrand.inference.pipeline import iter_image_files
from logobrand.models.registry import Preprocessing
from logobrand.transforms import preprocess

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
LABELS = ("no-logo", "red", "green", "blue")
SIZE = 32


def make_tiny_model_dir(root: Path) -> Path:
    """GlobalAveragePool -> Flatten -> Gemm: logits = (0, 3*mean_r, 3*mean_g, 3*mean_b)."""
    directory = root / "tiny"
    directory.mkdir(parents=True)
    weight = np.zeros((4, 3), dtype=np.float32)
    for c in range(1, 4):
        weight[c, c - 1] = 3.0
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, weight.shape, weight.flatten().tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, [4], [0.0] * 4),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(directory / "model.onnx"))
    ModelConfig(
        architecture="tiny_onnx",
        labels=LABELS,
        preprocessing=Preprocessing(input_size=SIZE),
        files={"onnx": "model.onnx"},
    ).save(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("speed-models"))


@pytest.fixture(scope="module")
def clf(tiny_dir: Path) -> LogoClassifier:
    return LogoClassifier.from_pretrained(tiny_dir, threads=1)


def colour_image(index: int, size: tuple[int, int] = (30, 40)) -> np.ndarray:
    """A flat image whose colour encodes ``index`` (distinct for 0..999)."""
    rgb = ((index * 37) % 256, (index * 91 + 50) % 256, (index * 13 + 100) % 256)
    return np.full((*size, 3), rgb, dtype=np.uint8)


def assert_same(got: Prediction | Failure, want: Prediction) -> None:
    """Same labels in the same order with the same probabilities (batched float rounding)."""
    assert isinstance(got, Prediction)
    assert got.brand == want.brand
    assert [label for label, _ in got.top_k] == [label for label, _ in want.top_k]
    assert [p for _, p in got.top_k] == pytest.approx([p for _, p in want.top_k], abs=1e-6)


# -- ONNX Runtime == eager PyTorch for the default backbone ---------------------------------------


@pytest.mark.torch
def test_efficientnet_lite0_onnx_matches_pytorch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from logobrand.inference import save_model_dir
    from logobrand.models import create_model, get_model_spec

    torch.manual_seed(0)
    labels = tuple(sorted(["no-logo", *(f"brand{i:02d}" for i in range(32))]))
    model = create_model("efficientnet_lite0", len(labels), pretrained=False).eval()
    pre = get_model_spec("efficientnet_lite0").preprocessing
    config = ModelConfig(architecture="efficientnet_lite0", labels=labels, preprocessing=pre)
    out = save_model_dir(model, tmp_path / "lite0", config)  # verifies 1e-4 on random input
    # Exported "same" padding Pads have no empty trailing input: ONNX Runtime can fuse them.
    pads = [n for n in onnx.load(str(out / "model.onnx")).graph.node if n.op_type == "Pad"]
    assert pads and all(n.input[-1] != "" for n in pads)
    onnx_clf = LogoClassifier.from_pretrained(out, threads=2)

    # Real preprocessed photos (generated), batch sizes other than the export's.
    rng = np.random.default_rng(0)
    images = [
        (rng.random((h, w, 3)) * 255).astype(np.uint8)
        for h, w in ((240, 320), (500, 375), (224, 224))
    ]
    batch = np.stack([preprocess(image, pre) for image in images])
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    for rows in (batch[:1], batch):
        got = onnx_clf.predict_logits(rows)
        np.testing.assert_allclose(got, expected[: len(rows)], atol=1e-4, rtol=0)

    # Whole path: predict_batch (ONNX, threads, batches) == the eager loop of benchmark row (a).
    results = list(onnx_clf.predict_batch(images, batch_size=2, workers=2, top_k=3))
    for image, result in zip(images, results, strict=True):
        assert isinstance(result, Prediction)
        x = torch.from_numpy(onnx_clf.preprocess(image))[None]
        with torch.no_grad():
            logits = model(x)[0].numpy()
        want = onnx_clf._decide(logits, result.source, 3)
        assert result.brand == want.brand
        assert result.score == pytest.approx(want.score, abs=1e-4)
        assert [label for label, _ in result.top_k] == [label for label, _ in want.top_k]


# -- Pad fusion: the exporter's Pad(x, pads, "") is made fusable --------------------------------


def make_pad_conv_model(path: Path) -> None:
    """images -> Pad(images, pads, "") -> Conv(stride 2) -> GlobalAveragePool -> logits."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Pad", ["images", "pads", ""], ["padded"], mode="constant"),
            helper.make_node(
                "Conv", ["padded", "W"], ["conv"], kernel_shape=[3, 3], strides=[2, 2]
            ),
            helper.make_node("GlobalAveragePool", ["conv"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["logits"], axis=1),
        ],
        "padconv",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])],
        initializer=[
            helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 0, 0, 0, 0, 1, 1]),
            helper.make_tensor("W", TensorProto.FLOAT, weight.shape, weight.flatten().tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _optimized_ops(model: str, tmp_path: Path) -> list[str]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return [node.op_type for node in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]


def test_pad_with_empty_input_becomes_fusable(tmp_path: Path) -> None:
    import onnxruntime as ort

    from logobrand.inference.export import drop_empty_pad_inputs

    path = tmp_path / "padconv.onnx"
    make_pad_conv_model(path)
    x = np.random.default_rng(1).standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )[0]
    assert "Pad" in _optimized_ops(str(path), tmp_path)  # ONNX Runtime keeps it as exported

    assert drop_empty_pad_inputs(path) == 1
    edited = onnx.load(str(path))
    onnx.checker.check_model(edited)
    assert [list(n.input) for n in edited.graph.node if n.op_type == "Pad"] == [["images", "pads"]]
    assert drop_empty_pad_inputs(path) == 0  # idempotent
    assert "Pad" not in _optimized_ops(str(path), tmp_path)  # folded into the Conv
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# -- order is preserved ---------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(0, 45),
    batch_size=st.integers(1, 8),
    workers=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_predict_batch_keeps_input_order_when_decoding_finishes_out_of_order(
    clf: LogoClassifier, n: int, batch_size: int, workers: int, seed: int
) -> None:
    images = [colour_image(i) for i in range(n)]
    expected = [clf.predict(image) for image in images]
    delays = random.Random(seed)
    lock = threading.Lock()

    class Jittery(LogoClassifier):
        def preprocess(self, image: Any, *, fetch_policy: Any = None) -> np.ndarray:
            with lock:
                pause = delays.random() * 0.004
            time.sleep(pause)  # later items often finish first
            return super().preprocess(image, fetch_policy=fetch_policy)

    jittery = Jittery(clf.session, clf.config, clf.directory)
    results = list(jittery.predict_batch(iter(images), batch_size=batch_size, workers=workers))
    assert len(results) == n
    for got, want in zip(results, expected, strict=True):
        assert_same(got, want)


def test_order_with_files_and_failures(clf: LogoClassifier, tmp_path: Path) -> None:
    paths: list[Path] = []
    for i in range(53):
        path = tmp_path / f"{i:03d}.png"
        if i in (0, 17, 52):
            path.write_bytes(b"not an image")
        else:
            Image.fromarray(colour_image(i)).save(path)
        paths.append(path)
    results = list(clf.predict_batch(iter_image_files(tmp_path), batch_size=8, workers=3))
    assert [r.source for r in results] == [str(p) for p in paths]
    for i, result in enumerate(results):
        if i in (0, 17, 52):
            assert isinstance(result, Failure)
            assert result.error_type == "ImageDecodeError"
        else:
            assert_same(result, clf.predict(paths[i]))


def test_bounded_lookahead_on_endless_input(clf: LogoClassifier) -> None:
    pulled = 0

    def endless() -> Iterator[np.ndarray]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield colour_image(i % 1000)

    stream = clf.predict_batch(endless(), batch_size=4, workers=2)
    first = list(itertools.islice(stream, 10))
    for i, result in enumerate(first):
        assert_same(result, clf.predict(colour_image(i)))
    assert pulled <= 4 * 5  # the batches in flight, never the whole input
    stream.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("logobrand-decode")]


def test_predict_batch_arguments(clf: LogoClassifier) -> None:
    assert default_workers() >= 1
    assert DEFAULT_BATCH_SIZE >= 1
    with pytest.raises(InvalidArgumentError, match="total"):
        clf.predict_batch([], total=-1)
    results = list(clf.predict_batch(iter([colour_image(1)]), total=1, progress=True))
    assert len(results) == 1


# -- the folder walk ------------------------------------------------------------------------------


def test_iter_image_files_sorted_recursive_and_reports_skips(tmp_path: Path) -> None:
    for name in (
        "b.jpg",
        "a.PNG",
        "c.txt",
        ".hidden.jpg",
        "sub/z.webp",
        "sub/deeper/y.jpeg",
        "aa/x.gif",
        ".git/objects.jpg",
    ):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"x")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "b.jpg")
    skipped: list[Path] = []
    found = list(iter_image_files(tmp_path, on_skip=skipped.append))
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a.PNG", "b.jpg", "link.jpg", "aa/x.gif", "sub/z.webp", "sub/deeper/y.jpeg"]
    assert skipped == [tmp_path / "c.txt"]
    assert [p.name for p in iter_image_files(tmp_path, recursive=False)] == [
        "a.PNG",
        "b.jpg",
        "link.jpg",
    ]
    assert list(iter_image_files(tmp_path / "b.jpg")) == [tmp_path / "b.jpg"]
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        list(iter_image_files(tmp_path / "missing"))


def test_iter_image_files_is_lazy(tmp_path: Path) -> None:
    for d in range(3):
        for f in range(3):
            target = tmp_path / f"d{d}" / f"{f}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"x")
    walk = iter_image_files(tmp_path)
    assert next(walk).as_posix().endswith("d0/0.jpg")
    (tmp_path / "d2" / "late.jpg").write_bytes(b"x")  # d2 is listed only when reached
    assert [p.name for p in walk][-1] == "late.jpg"


# -- fast JPEG path: reduced-size decoding keeps EXIF and the picture -----------------------------


def _large_jpeg(path: Path, *, orientation: int | None) -> np.ndarray:
    """Write a 1600 x 1000 JPEG (red left, blue right as displayed); return its pixels."""
    displayed = np.zeros((1000, 1600, 3), dtype=np.uint8)
    displayed[:, :800] = (220, 30, 30)
    displayed[:, 800:] = (30, 30, 220)
    image = Image.fromarray(displayed)
    exif = Image.Exif()
    if orientation == 6:  # stored rotated, displayed upright after "rotate 90 CW"
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif[0x0112] = 6
    image.save(path, format="JPEG", quality=92, exif=exif.tobytes())
    return displayed


@pytest.mark.parametrize("orientation", [None, 6])
def test_large_jpeg_reduced_decode_matches_full_decode(
    tmp_path: Path, orientation: int | None
) -> None:
    pre = Preprocessing(input_size=224)
    path = tmp_path / "big.jpg"
    _large_jpeg(path, orientation=orientation)
    full = preprocess(load_image(path), pre)
    reduced_pixels = load_image(path, draft_size=224)
    assert max(reduced_pixels.shape[:2]) < 1600  # really decoded at a reduced scale
    assert reduced_pixels.shape[1] > reduced_pixels.shape[0]  # EXIF applied: landscape
    fast = preprocess(reduced_pixels, pre)
    assert np.abs(fast - full).mean() < 0.02
    # left half red, right half blue, as displayed
    assert fast[0, :, :100].mean() > fast[2, :, :100].mean()
    assert fast[2, :, 124:].mean() > fast[0, :, 124:].mean()


def test_classifier_uses_the_reduced_decode(tmp_path: Path) -> None:
    directory = make_tiny_model_dir(tmp_path)
    clf = LogoClassifier.from_pretrained(directory, threads=1)
    path = tmp_path / "big.jpg"
    _large_jpeg(path, orientation=6)
    x = clf.preprocess(path)
    full = preprocess(load_image(path), clf.config.preprocessing)
    assert np.abs(x - full).mean() < 0.05


# -- the benchmark script runs (small) ------------------------------------------------------------


@pytest.mark.slow
def test_throughput_benchmark_smoke(tiny_dir: Path, tmp_path: Path) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "throughput.py"),
            "--limit",
            "12",
            "--rows",
            "b,c",
            "--files",
            "30",
            "--model",
            str(tiny_dir),
            "--batch-size",
            "4",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = proc.stdout
    assert "| (b) |" in table and "| (c) |" in table and "x 30 files" in table
    assert "WARNING" not in table
