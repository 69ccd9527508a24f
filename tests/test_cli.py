"""The ``logobrand`` command line: help, predict, evaluate, models, export, train, errors.

The model used here is tiny and built in the test: a hand-made ONNX graph (always) that maps
the three channel means to the logits of ("no-logo", "red", "green", "blue"), so a red photo
is "red" and a grey one has no brand. Commands that need torch (models, export, train) use a
tiny registered architecture and are skipped when torch is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from logobrand.cli import PredictInputs, build_parser, main, read_labels, resolve_model_dir
from logobrand.errors import InvalidArgumentError
from logobrand.inference import ModelConfig
from logobrand.models.registry import Preprocessing

REPO = Path(__file__).resolve().parents[1]
LABELS = ("no-logo", "red", "green", "blue")
SIZE = 32
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "grey": (128, 128, 128)}
COMMANDS = ("train", "evaluate", "predict", "models", "export", "quantize")


def make_onnx(path: Path) -> None:
    """GlobalAveragePool -> Flatten -> Gemm: logits[c] = 3 * mean of channel c - 1."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = np.zeros((len(LABELS), 3), dtype=np.float32)
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
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(LABELS)])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, weight.shape, weight.flatten().tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, [len(LABELS)], [0.0] * len(LABELS)),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def make_model_dir(directory: Path) -> Path:
    directory.mkdir(parents=True)
    ModelConfig(
        architecture="tiny_onnx",
        labels=LABELS,
        preprocessing=Preprocessing(input_size=SIZE),
        files={"onnx": "model.onnx"},
    ).save(directory)
    make_onnx(directory / "model.onnx")
    return directory


def save_photo(path: Path, colour: str, size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, COLOURS[colour]).save(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("cli") / "model")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command_has_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: logobrand {command}" in out
    assert "examples:" in out
    assert f"logobrand {command}" in out.split("examples:")[1]


def test_main_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["predict", "--top-k", "-1", "x.jpg"])
    assert exc.value.code == 2
    assert "--top-k" in capsys.readouterr().err


def test_python_dash_m_works() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "logobrand", "--version"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("logobrand ")


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, logobrand.cli; logobrand.cli.build_parser(); print('torch' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# -- predict ---------------------------------------------------------------------------------


def test_predict_json_keeps_order_and_reports_a_bad_file(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    red = save_photo(tmp_path / "red.png", "red")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    grey = save_photo(tmp_path / "grey.png", "grey")
    green = save_photo(tmp_path / "green.jpg", "green")
    args = ["predict", "--model", str(model_dir), "--json", "--top-k", "2"]
    code, out, err = run([*args, str(red), str(bad), str(grey), str(green)], capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["source"] for r in rows] == [str(red), str(bad), str(grey), str(green)]
    assert rows[0]["brand"] == "red" and len(rows[0]["top_k"]) == 2
    assert rows[1]["error_type"] == "ImageDecodeError" and "bad.jpg" in rows[1]["error"]
    assert rows[2]["brand"] is None
    assert rows[3]["brand"] == "green"
    assert "1 of 4 input(s) failed" in err and "bad.jpg" in err
    assert "Traceback" not in err


def test_predict_strict_exits_1_when_an_input_fails(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    red = save_photo(tmp_path / "red.png", "red")
    args = ["predict", "--model", str(model_dir), "--strict", str(red)]
    assert run(args, capsys)[0] == 0
    code, out, err = run([*args, str(tmp_path / "missing.jpg")], capsys)
    assert code == 1
    assert "missing.jpg: FAILED (ImageNotFoundError" in out
    assert "1 of 2 input(s) failed" in err


def test_predict_text_output(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blue = save_photo(tmp_path / "blue.png", "blue")
    grey = save_photo(tmp_path / "grey.png", "grey")
    code, out, _ = run(["predict", "--model", str(model_dir), str(blue), str(grey)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{blue}: blue 1.000") and "[top: blue" in lines[0]
    assert lines[1].startswith(f"{grey}: no logo (closest: blue 0.")
    assert "< threshold 0.500)" in lines[1]


def test_predict_folders_recursively_in_sorted_order(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "photos"
    save_photo(root / "b" / "2.png", "green")
    save_photo(root / "b" / "1.JPG", "red")
    save_photo(root / "a.png", "blue")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"ignored")
    (tmp_path / "empty").mkdir()
    single = save_photo(tmp_path / "single.png", "red")
    args = ["predict", "--model", str(model_dir), "--json", str(single), str(root)]
    code, out, err = run([*args, str(tmp_path / "empty")], capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["source"]).name for r in rows] == [
        "single.png",
        "a.png",
        "1.JPG",
        "2.png",
        "empty",
    ]
    assert [r.get("brand") for r in rows[:4]] == ["red", "blue", "red", "green"]
    assert "holds no image" in rows[4]["error"]
    assert "skipped 1 file(s)" in err


def test_predict_inputs_expand_lazily_and_keep_order(tmp_path: Path) -> None:
    save_photo(tmp_path / "photos" / "x.png", "red")
    (tmp_path / "photos" / "x.txt").write_text("skip me")
    inputs = PredictInputs(["https://example.com/a.jpg", str(tmp_path / "photos"), "nope.jpg"])
    assert inputs.has_folders and inputs.skipped == 0  # nothing is listed before it is needed
    sources = inputs.sources()
    assert next(sources) == "https://example.com/a.jpg"
    assert inputs.skipped == 0
    assert list(sources) == [str(tmp_path / "photos" / "x.png"), "nope.jpg"]
    assert inputs.skipped == 1


def test_predict_no_private_urls_refuses_loopback(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://127.0.0.1:9/logo.jpg"
    args = ["predict", "--model", str(model_dir), "--json", "--no-private-urls", url]
    code, out, _ = run(args, capsys)
    assert code == 2  # no input could be read
    row = json.loads(out)
    assert row["source"] == url and row["error_type"] == "FetchError"
    assert "allow_private=False" in row["error"]
    assert run([*args, "--strict"], capsys)[0] == 2  # still none read: 2 wins over --strict


def test_predict_accepts_a_checkpoint_folder(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "run"
    make_model_dir(checkpoint / "best")
    assert resolve_model_dir(checkpoint) == checkpoint / "best"
    assert resolve_model_dir(model_dir) == model_dir
    red = save_photo(tmp_path / "red.png", "red")
    code, out, _ = run(["predict", "--model", str(checkpoint), "--json", str(red)], capsys)
    assert code == 0 and json.loads(out)["brand"] == "red"


def test_missing_model_dir_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-model"
    code, out, err = run(["predict", "--model", str(missing), "photo.jpg"], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("logobrand predict: error:")
    assert str(missing) in lines[0] and "does not exist" in lines[0]


def test_invalid_model_dir_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    code, _, err = run(["evaluate", str(broken), "--data", str(tmp_path)], capsys)
    assert code == 2
    assert "config.json" in err and "Traceback" not in err


# -- evaluate --------------------------------------------------------------------------------


@pytest.fixture
def colour_dataset(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    for colour in ("red", "green", "blue"):
        for i in range(2):
            save_photo(data / colour / f"{i}.png", colour, size=(30 + i, 20))
    save_photo(data / "blue" / "looks_red.png", "red")
    negatives = tmp_path / "negatives"
    for i in range(3):
        save_photo(negatives / f"{i}.png", "grey", size=(25 + i, 25))
    return data, negatives


def test_negatives_inside_data_are_refused(
    model_dir: Path, colour_dataset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = colour_dataset
    args = ["evaluate", str(model_dir), "--data", str(data), "--negatives", str(data / "blue")]
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    assert "3 photo(s) of --negatives" in err and "class 'blue'" in err


def test_evaluate_a_partial_flickrlogos32_download_with_skip_missing(
    model_dir: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    root = tmp_path / "FlickrLogos-v2"
    shutil.copytree(shared_data / "flickrlogos32-format" / "example" / "FlickrLogos-v2", root)
    gone = sorted((root / "classes" / "jpg" / "no-logo").glob("*.jpg"))[0]
    gone.unlink()
    args = ["evaluate", str(model_dir), "--flickrlogos32", str(root), "--split", "val"]
    code, out, err = run(args, capsys)
    assert code == 2 and out == "" and gone.name in err and "--skip-missing" in err
    code, out, err = run([*args, "--skip-missing", "--json"], capsys)
    assert code == 0 and f"{gone.name} (listed in" in err and "is missing; skipped" in err
    assert json.loads(out)["report"]["n_images"] > 0
    code, _, err = run(["evaluate", str(model_dir), "--data", str(root), "--skip-missing"], capsys)
    assert code == 2 and "--skip-missing needs --flickrlogos32" in err


def test_evaluate_prints_the_protocol_table(
    model_dir: Path, colour_dataset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, negatives = colour_dataset
    args = ["evaluate", str(model_dir), "--data", str(data), "--negatives", str(negatives)]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "logo precision" in out and "expected calibration error" in out
    code, out, _ = run([*args, "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    report = result["report"]
    assert report["n_images"] == 10
    assert report["accuracy"] == pytest.approx(0.9)  # the red photo in blue/ is wrong
    assert report["logo_precision"] == pytest.approx(6 / 7)
    assert report["logo_recall"] == pytest.approx(6 / 7)
    assert 0.0 <= result["ece"] <= 1.0
    assert result["n_failed"] == 0


def test_evaluate_counts_undecodable_photos(
    model_dir: Path, colour_dataset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = colour_dataset
    (data / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    args = ["evaluate", str(model_dir), "--data", str(data), "--json"]
    code, out, err = run(args, capsys)
    assert code == 0
    result = json.loads(out)
    assert result["n_failed"] == 1 and result["report"]["n_images"] == 7
    assert "broken.png" in err


def test_evaluate_scores_brands_the_data_lacks(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    negatives = tmp_path / "negatives"
    save_photo(negatives / "grey.png", "grey")
    save_photo(negatives / "red_sign.png", "red")  # the model sees "red": a false logo
    data = tmp_path / "data"
    save_photo(data / "Nike" / "n.png", "blue")  # a class the model does not know
    args = ["evaluate", str(model_dir), "--negatives", str(negatives), "--data", str(data)]
    code, out, _ = run([*args, "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["report"]["n_images"] == 3
    assert result["report"]["logo_precision"] == 0.0
    assert result["unknown_classes"] == ["nike"]


def test_library_evaluate_scores_brands_the_data_lacks(model_dir: Path, tmp_path: Path) -> None:
    from logobrand.data import FileDataset, ImageFolderDataset
    from logobrand.evaluation import evaluate
    from logobrand.inference import LogoClassifier

    save_photo(tmp_path / "data" / "no-logo" / "red_sign.png", "red")  # answered "red"
    save_photo(tmp_path / "data" / "Nike" / "n.png", "blue")  # answered "blue"
    clf = LogoClassifier.from_pretrained(model_dir)
    result = evaluate(clf, ImageFolderDataset(tmp_path / "data"))
    assert result.report.n_images == 2 and result.report.accuracy == 0.0
    assert result.report.logo_precision == 0.0
    with pytest.raises(InvalidArgumentError, match="holds no photo"):
        evaluate(clf, FileDataset([], ["no-logo", "red"]))


def test_evaluate_without_data_is_a_clear_error(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["evaluate", str(model_dir)], capsys)
    assert code == 2 and "--data" in err


def test_evaluate_names_the_photos_when_none_decodes(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "red").mkdir(parents=True)
    (data / "red" / "broken.png").write_bytes(b"not a png")
    code, _, err = run(["evaluate", str(model_dir), "--data", str(data)], capsys)
    assert code == 2 and "none of the 1 photos could be decoded, e.g." in err
    assert "broken.png" in err


# -- labels ----------------------------------------------------------------------------------


def test_read_labels(tmp_path: Path) -> None:
    assert read_labels("adidas, pepsi,no-logo") == ["adidas", "pepsi", "no-logo"]
    text = tmp_path / "labels.txt"
    text.write_text("# brands\nadidas\n\nno-logo\n")
    assert read_labels(str(text)) == ["adidas", "no-logo"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"labels": ["HP", "no-logo"]}))
    assert read_labels(str(config)) == ["HP", "no-logo"]
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        read_labels(str(tmp_path / "missing.txt"))
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        read_labels("labels_missing")  # not a one-label list
    text.write_bytes("\ufeffadidas\nno-logo\n".encode())
    assert read_labels(str(text)) == ["adidas", "no-logo"]  # the BOM is not part of a label
    with pytest.raises(InvalidArgumentError, match="more than once"):
        read_labels("adidas,no-logo,adidas")


# -- torch commands --------------------------------------------------------------------------


def test_torch_commands_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    for args in (["train", "--data", "x", "--out", "y"], ["export", "w", "--out", "o"]):
        code, _, err = run(args, capsys)
        assert code == 2, args
        assert "pip install torch==2.13.0 && pip install 'logobrand[train]'" in err
        assert "Traceback" not in err


@pytest.fixture(scope="module")
def tiny_arch() -> str:
    """Register a tiny architecture (32x32 input) for the export and train commands."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from logobrand.models import register_model

    class TinyNet(nn.Module):
        def __init__(self, num_classes: int) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(4, num_classes)

        def forward(self, x: Any) -> Any:
            return self.head(self.body(x).mean(dim=(2, 3)))

        def backbone_parameters(self) -> Any:
            return self.body.parameters()

    @register_model("tiny_cli_test", preprocessing=Preprocessing(input_size=SIZE))
    def tiny_cli_test(num_classes: int, pretrained: bool | str = False) -> TinyNet:
        """A tiny test network."""
        torch.manual_seed(0)
        return TinyNet(num_classes)

    return "tiny_cli_test"


@pytest.mark.torch
def test_models_lists_the_builtin_architectures(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    code, out, _ = run(["models"], capsys)
    assert code == 0
    for name in ("scratch_cnn", "resnet18_v2", "efficientnet_lite0"):
        assert name in out
    assert "224x224" in out
    code, out, _ = run(["models", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)["architectures"]}
    assert rows["efficientnet_lite0"]["input_size"] == 224
    assert rows["scratch_cnn"]["description"]


def test_models_lists_presets_and_directories_without_torch(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    code, out, _ = run(["models", str(model_dir)], capsys)
    assert code == 0
    assert "default" in out and "fast" in out and "MB" in out
    assert str(model_dir) in out and "install the train extra" in out
    code, out, _ = run(["models", "--json"], capsys)
    listing = json.loads(out)
    assert listing["architectures"] is None
    assert {"default", "fast"} <= {m["name"] for m in listing["models"]}


@pytest.mark.torch
def test_export_weights_to_a_model_dir(
    tiny_arch: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import save_file

    from logobrand.inference import LogoClassifier
    from logobrand.models import create_model

    model = create_model(tiny_arch, len(LABELS))
    weights = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    out_dir = tmp_path / "exported"
    args = ["export", str(weights), "--arch", tiny_arch, "--labels", str(labels)]
    code, out, err = run([*args, "--out", str(out_dir), "--threshold", "0.7"], capsys)
    assert code == 0, err
    assert str(out_dir) in out
    clf = LogoClassifier.from_pretrained(out_dir, threads=1)
    assert clf.labels == list(LABELS) and clf.config.threshold == 0.7
    # re-export from the model directory: architecture and labels come from its config.json
    code, _, err = run(["export", str(out_dir), "--out", str(tmp_path / "again")], capsys)
    assert code == 0, err
    # labels that do not fit the weights: one clear line, exit 2
    code, _, err = run([*args[:4], "--labels", "a,no-logo", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "head.weight" in err and "Traceback" not in err


@pytest.mark.torch
def test_train_then_predict_and_resume(
    tiny_arch: str,
    colour_dataset: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, negatives = colour_dataset
    out_dir = tmp_path / "run"
    base = [
        "train", "--model", tiny_arch, "--data", str(data), "--negatives", str(negatives),
        "--val-fraction", "0.3", "--batch-size", "4", "--lr", "0.05", "--workers", "0",
        "--out", str(out_dir),
    ]  # fmt: skip
    code, out, err = run([*base, "--epochs", "1", "--history", str(tmp_path / "h.jsonl")], capsys)
    assert code == 0, err
    assert "[Epoch 1] Train-acc:" in out and "Val-acc:" in out
    assert (out_dir / "best" / "config.json").is_file()
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) == 1
    # the best model is calibrated on the validation part and records its training photos
    from logobrand.inference.config import photo_digest, trained_on

    best = ModelConfig.load(out_dir / "best")
    assert best.training["validation_curve"]["thresholds"]
    assert best.training["calibration"]["photos"] > 0
    seen = trained_on(best)
    assert seen is not None and photo_digest(next(data.rglob("*.png"))) in seen
    # the checkpoint folder is a model for predict
    red = save_photo(tmp_path / "red.png", "red")
    code, out, _ = run(["predict", "--model", str(out_dir), "--json", str(red)], capsys)
    assert code == 0 and "top_k" in json.loads(out)
    # starting again on the same --out needs --resume or --overwrite
    code, _, err = run([*base, "--epochs", "2"], capsys)
    assert code == 2 and "--resume" in err
    code, out, err = run(
        [*base, "--epochs", "2", "--resume", "--history", str(tmp_path / "h.jsonl")], capsys
    )
    assert code == 0, err
    assert "[Epoch 2]" in out and "[Epoch 1]" not in out
    assert len((tmp_path / "h.jsonl").read_text().splitlines()) == 2
    # --resume keeps the saved optimizer settings: another --lr is refused, not ignored
    code, _, err = run([*base, "--epochs", "3", "--resume", "--lr", "0.5"], capsys)
    assert code == 2 and "saved --lr 0.05, not 0.5" in err


@pytest.mark.torch
def test_train_refuses_an_out_folder_it_would_damage(
    tiny_arch: str,
    colour_dataset: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, negatives = colour_dataset
    base = ["train", "--model", tiny_arch, "--data", str(data), "--negatives", str(negatives)]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    cases = [
        (["--out", str(mine)], "not a training run's (notes.txt)"),
        (["--out", str(data / "runs")], "inside --data"),
        (["--out", str(mine / "notes.txt")], "is a file"),
        (["--out", str(mine / "notes.txt" / "run")], "is a file"),
        (["--out", str(tmp_path / "r"), "--history", str(mine / "notes.txt")], "exists"),
    ]
    for extra, message in cases:
        code, _, err = run([*base, *extra], capsys)
        assert code == 2 and message in err, (extra, err)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert not (data / "runs").exists()
    # a refusal after the --out checks leaves no empty folder behind
    code, _, err = run([*base[:5], "--out", str(tmp_path / "new")], capsys)  # no --negatives
    assert code == 2 and "no 'no-logo' photos" in err
    assert not (tmp_path / "new").exists()
    with pytest.raises(SystemExit):
        main([*base, "--out", str(tmp_path / "new"), "--lr", "inf"])
    assert "a finite number > 0" in capsys.readouterr().err


@pytest.mark.torch
def test_train_without_negatives_says_what_to_pass(
    tiny_arch: str,
    colour_dataset: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, _ = colour_dataset
    args = ["train", "--model", tiny_arch, "--data", str(data), "--out", str(tmp_path / "o")]
    code, _, err = run(args, capsys)
    assert code == 2 and "--negatives" in err


@pytest.mark.torch
def test_train_says_why_no_nologo_photo_is_left(
    tiny_arch: str,
    colour_dataset: tuple[Path, Path],
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, negatives = colour_dataset
    base = ["train", "--model", tiny_arch, "--out", str(tmp_path / "o")]
    split_all = ["--data", str(data), "--negatives", str(negatives), "--val-fraction", "0.999"]
    code, _, err = run([*base, *split_all], capsys)
    assert code == 2 and "lower --val-fraction" in err
    official = shared_data / "flickrlogos32-format" / "example" / "FlickrLogos-v2"
    code, _, err = run([*base, "--flickrlogos32", str(official)], capsys)
    assert code == 2 and "add --tutorial-recipe" in err
    (tmp_path / "empty" / "adidas").mkdir(parents=True)
    code, _, err = run([*base, "--data", str(tmp_path / "empty")], capsys)
    assert code == 2 and "holds no image" in err
    assert not (tmp_path / "o").exists()


def test_parser_defaults() -> None:
    from logobrand.inference.classifier import DEFAULT_BATCH_SIZE

    args = build_parser().parse_args(["predict", "a.jpg"])
    assert args.model is None and args.top_k == 5 and args.batch_size == DEFAULT_BATCH_SIZE
    assert not args.strict and not args.no_private_urls


# -- quantize ----------------------------------------------------------------------------------


def test_quantize_writes_an_int8_copy_that_predicts(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "calibration"
    for i, colour in enumerate(("red", "green", "blue", "grey", "red")):
        save_photo(photos / f"{i}.png", colour)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "int8"
    args = ["quantize", str(model_dir), "--calibration", str(photos), "--out", str(out)]
    code, text, _ = run([*args, "--limit", "6"], capsys)
    assert code == 0
    assert "calibrated on 5 photos (1 could not be decoded and were skipped)" in text
    code, text, _ = run(["predict", "--model", str(out), "--json", str(photos / "0.png")], capsys)
    assert code == 0 and json.loads(text)["brand"] == "red"


def test_quantize_without_photos_says_what_to_do(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    args = ["quantize", str(model_dir), "--calibration", str(tmp_path / "empty")]
    code, _, err = run([*args, "--out", str(tmp_path / "int8")], capsys)
    assert code == 2 and "no image files" in err and not (tmp_path / "int8").exists()


def test_brands_refusals_come_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(photo)
    assert main(["brands", "add", "acme", str(photo), "--model", "fast"]) == 2
    assert "bundled model 'fast' is not changed in place" in capsys.readouterr().err
    art = ["brands", "add", "acme", "--artwork", str(tmp_path / "nope.svg"), "--model", "m"]
    assert main(art) == 2
    err = capsys.readouterr().err
    assert "nope.svg: no such file" in err and "Traceback" not in err


def test_empty_argument_is_not_the_current_folder() -> None:
    from logobrand.cli.brands import _image_paths

    inputs = PredictInputs([""])
    assert not inputs.has_folders
    assert list(inputs.sources()) == [""]  # predicted, so it fails as an empty path
    with pytest.raises(InvalidArgumentError, match="empty path"):
        list(_image_paths([""]))
    assert list(_image_paths(["https://example.com/a.jpg"])) == ["https://example.com/a.jpg"]


def test_commands_refuse_to_write_over_the_model_they_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (Path(__file__).parents[1] / "logobrand" / "_default" / "config.json").is_file():
        pytest.skip("no bundled model in this install")
    pytest.importorskip("onnx")
    from logobrand.inference import LogoClassifier

    model = tmp_path / "m"

    LogoClassifier.from_pretrained(threads=1).save_pretrained(model)
    photo = tmp_path / "a.jpg"
    Image.new("RGB", (16, 16)).save(photo)
    capsys.readouterr()
    code = main(["quantize", str(model), "--calibration", str(photo), "--out", str(model)])
    assert code == 2 and "is the model quantize reads" in capsys.readouterr().err


@pytest.mark.torch
def test_recipe_refuses_options_it_would_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "--recipe", "default", "--data-root", str(tmp_path), "--out", str(tmp_path)]
    for extra, flag in (
        (["--optimizer", "adam"], "--optimizer"),
        (["--model", "scratch_cnn"], "--model"),
        (["--val-fraction", "0.5"], "--val-fraction"),
        (["--no-pretrained"], "--no-pretrained"),
    ):
        assert main([*base, *extra]) == 2
        assert f"does not take {flag}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--weight-decay", "-1"])
    assert "a finite number >= 0" in capsys.readouterr().err


# -- exit codes, thresholds, evaluation on training photos ------------------------------------


def test_predict_exit_codes(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    red = save_photo(tmp_path / "red.png", "red")
    missing = str(tmp_path / "missing.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["predict", "--model", str(model_dir)]
    assert run([*base, str(red)], capsys)[0] == 0  # all read
    assert run([*base, str(red), missing], capsys)[0] == 0  # some failed, not strict
    assert run([*base, "--strict", str(red), missing], capsys)[0] == 1  # some failed, strict
    code, _, err = run([*base, missing], capsys)
    assert code == 2 and "no input could be read" in err  # none read
    assert run([*base, str(empty)], capsys)[0] == 2  # an empty folder: nothing to read


def _with_curve(model_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir, target)
    config = json.loads((target / "config.json").read_text())
    config["training"] = {
        "validation_curve": {
            "thresholds": [0.1, 0.5, 0.6],
            "precision": [0.5, 0.9, 1.0],
            "recall": [0.9, 0.6, 0.2],
        }
    }
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_predict_threshold_and_target_precision(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grey = str(save_photo(tmp_path / "grey.png", "grey"))  # blue 0.47, the others less
    base = ["predict", "--json", grey]
    assert json.loads(run([*base, "--model", str(model_dir)], capsys)[1])["brand"] is None
    low = run([*base, "--model", str(model_dir), "--threshold", "0.2"], capsys)[1]
    assert json.loads(low)["brand"] is not None
    code, _, err = run([*base, "--model", str(model_dir), "--target-precision", "0.9"], capsys)
    assert code == 2 and "no validation curve" in err
    curved = str(_with_curve(model_dir, tmp_path / "curved"))
    code, out, err = run([*base, "--model", curved, "--target-precision", "0.85"], capsys)
    assert code == 0 and json.loads(out)["brand"] is None and "threshold 0.5000" in err
    code, out, err = run([*base, "--model", curved, "--target-precision", "0.4"], capsys)
    assert code == 0 and json.loads(out)["brand"] is not None and "threshold 0.1000" in err
    code, _, err = run([*base, "--model", curved, "--target-precision", "1.0"], capsys)
    assert code == 0  # the curve's last point reaches 1.0
    both = [*base, "--model", curved, "--threshold", "0.5", "--target-precision", "0.9"]
    with pytest.raises(SystemExit) as exc:
        main(both)
    assert exc.value.code == 2  # one or the other


def test_evaluate_warns_about_training_photos(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from logobrand.inference.config import trained_on_record

    data = tmp_path / "data"
    photos = [save_photo(data / c / f"{c}.png", c) for c in ("red", "green", "blue")]
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["training"] = {"trained_on": trained_on_record(photos[:2])}
    (model / "config.json").write_text(json.dumps(config))
    code, out, err = run(["evaluate", str(model), "--data", str(data)], capsys)
    assert code == 0 and "WARNING" in err and "2 of these 3 photos" in err
    assert "2 seen in training" in out
    code, out, err = run(
        ["evaluate", str(model), "--data", str(data), "--exclude-training", "--json"], capsys
    )
    report = json.loads(out)
    assert code == 0 and report["summary"]["images"] == 1 and report["excluded"] == 2
    assert "left out 2 photo(s)" in err
    code, _, err = run(["evaluate", str(model_dir), "--data", str(data)], capsys)
    assert code == 0 and "keeps no record" in err


def test_predict_inputs_count_and_no_bars_off_a_terminal(
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "photos"
    for i, colour in enumerate(("red", "green", "blue")):
        save_photo(folder / f"{i}.png", colour)
    empty = tmp_path / "empty"
    empty.mkdir()
    single = save_photo(tmp_path / "one.png", "red")
    assert PredictInputs([str(folder), str(single), str(empty)]).count() == 4
    assert PredictInputs([str(empty)]).count() == 0
    monkeypatch.delenv("CI", raising=False)  # bars allowed, but stderr is not a terminal here
    code, out, err = run(["predict", "--model", str(model_dir), str(folder)], capsys)
    assert code == 0 and len(out.splitlines()) == 3
    assert "\r" not in err


def test_train_long_recipe_needs_data_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    code, _, err = run(["train", "--recipe", "long", "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "--recipe long needs --data-root" in err
