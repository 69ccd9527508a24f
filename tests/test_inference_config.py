"""ModelConfig: round trip, strict validation, atomic directory writes (no torch needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.inference.config import (
    FORMAT_VERSION,
    ModelConfig,
    leftover_backups,
    recover_model_dir,
    write_model_dir,
)
from logobrand.models.registry import Preprocessing


def make_config(**changes: Any) -> ModelConfig:
    base: dict[str, Any] = {
        "architecture": "scratch_cnn",
        "labels": ("adidas", "aldi", "no-logo"),
        "preprocessing": Preprocessing(input_size=32),
        "temperature": 1.5,
        "threshold": 0.6,
        "target_precision": 0.98,
        "training": {"epochs": 3, "val_accuracy": 0.91},
    }
    base.update(changes)
    return ModelConfig(**base)


def test_round_trip_dict_and_disk(tmp_path: Path) -> None:
    cfg = make_config()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    path = cfg.save(tmp_path)
    assert path == tmp_path / "config.json"
    data = json.loads(path.read_text())
    assert data["format_version"] == FORMAT_VERSION
    assert data["files"] == {"onnx": "model.onnx", "weights": "model.safetensors"}
    assert data["labels"] == ["adidas", "aldi", "no-logo"]
    assert ModelConfig.load(tmp_path) == cfg
    assert cfg.brands == ("adidas", "aldi")
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp files left


def test_optional_fields_default() -> None:
    data = make_config().to_dict()
    del data["training"], data["target_precision"]
    cfg = ModelConfig.from_dict(data)
    assert cfg.training == {}
    assert cfg.target_precision == 0.98


def test_integers_accepted_as_numbers() -> None:
    data = make_config().to_dict()
    data["temperature"] = 2
    data["threshold"] = 1
    cfg = ModelConfig.from_dict(data)
    assert cfg.temperature == 2.0 and cfg.threshold == 1.0


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda d: d.update(format_version=2), ["format_version", "2", "upgrade"]),
        (lambda d: d.update(format_version="1"), ["format_version"]),
        (lambda d: d.update(format_version=True), ["format_version"]),
        (lambda d: d.pop("labels"), ["'labels'", "missing"]),
        (lambda d: d.pop("format_version"), ["'format_version'", "missing"]),
        (lambda d: d.pop("preprocessing"), ["'preprocessing'", "missing"]),
        (lambda d: d.pop("files"), ["'files'", "missing"]),
        (lambda d: d.update(labels=[]), ["'labels'", "empty"]),
        (lambda d: d.update(labels=["a", "a", "no-logo"]), ["'labels'", "duplicated"]),
        (lambda d: d.update(labels=["a", "b"]), ["'labels'", "no-logo"]),
        (lambda d: d.update(labels=["no-logo"]), ["'labels'", "brand"]),
        (lambda d: d.update(labels="a,no-logo"), ["'labels'", "list"]),
        (lambda d: d.update(labels=["a", 3, "no-logo"]), ["'labels'", "strings"]),
        (lambda d: d.update(threshold=1.5), ["'threshold'", "[0, 1]"]),
        (lambda d: d.update(threshold=-0.1), ["'threshold'", "[0, 1]"]),
        (lambda d: d.update(threshold="0.5"), ["'threshold'", "number"]),
        (lambda d: d.update(threshold=None), ["'threshold'", "number"]),
        (lambda d: d.update(temperature=0), ["'temperature'", "from 0.001 to 1000"]),
        (lambda d: d.update(temperature=-1.0), ["'temperature'", "from 0.001 to 1000"]),
        (lambda d: d.update(temperature=1e-320), ["'temperature'", "from 0.001 to 1000"]),
        (lambda d: d.update(temperature=True), ["'temperature'", "number"]),
        (lambda d: d.update(target_precision=0.0), ["'target_precision'"]),
        (lambda d: d.update(architecture=""), ["'architecture'"]),
        (lambda d: d.update(architecture=5), ["'architecture'"]),
        (lambda d: d.update(preprocessing={"input_size": 32}), ["'preprocessing'"]),
        (lambda d: d.update(preprocessing=[]), ["'preprocessing'"]),
        (lambda d: d["preprocessing"].update(resize="crop"), ["'preprocessing'", "crop"]),
        (lambda d: d["preprocessing"].update(std=[0.5, float("nan"), 0.5]), ["must be finite"]),
        (lambda d: d["preprocessing"].update(mean=[float("inf"), 0, 0]), ["must be finite"]),
        (lambda d: d["preprocessing"].update(std=[1e-300, 1, 1]), ["std >= 1e-6"]),
        (lambda d: d["preprocessing"].update(input_size="320"), ["integer from 8 to 4096"]),
        (lambda d: d["preprocessing"].update(canonical_size=20000), ["canonical_size"]),
        (lambda d: d["preprocessing"].update(input_sise=320), ["unknown key", "input_sise"]),
        (lambda d: d.update(format_version=1.0), ["format_version 1.0"]),
        (lambda d: d.update(files={"weights": "w.safetensors"}), ["'files'", "onnx"]),
        (lambda d: d.update(files={"onnx": "../evil.onnx"}), ["'files'", "plain file name"]),
        (lambda d: d.update(files=["model.onnx"]), ["'files'"]),
        (lambda d: d.update(training=[1]), ["'training'"]),
        (lambda d: d.update(labelz=["x"]), ["'labelz'", "training"]),
    ],
)
def test_validation_errors_name_file_and_field(mutate: Any, fragments: list[str]) -> None:
    data = make_config().to_dict()
    mutate(data)
    with pytest.raises(ModelFormatError) as info:
        ModelConfig.from_dict(data, source="/models/m/config.json")
    message = str(info.value)
    assert message.startswith("/models/m/config.json:")
    for fragment in fragments:
        assert fragment in message


def test_not_an_object() -> None:
    with pytest.raises(ModelFormatError, match="JSON object"):
        ModelConfig.from_dict([1, 2])


def test_load_missing_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"no config\.json in"):
        ModelConfig.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format_version": 1,')
    with pytest.raises(ModelFormatError, match=r"not valid JSON \(line 1"):
        ModelConfig.load(tmp_path)


def test_constructor_validates() -> None:
    with pytest.raises(InvalidArgumentError, match="threshold"):
        make_config(threshold=2.0)
    with pytest.raises(InvalidArgumentError, match="no-logo"):
        make_config(labels=("a", "b"))
    cfg = make_config(labels=["x", "no-logo"])  # lists are stored as tuples
    assert cfg.labels == ("x", "no-logo")


def test_save_rejects_non_json_training(tmp_path: Path) -> None:
    cfg = make_config(training={"path": Path("x")})
    with pytest.raises(InvalidArgumentError, match="training"):
        cfg.save(tmp_path)
    assert not (tmp_path / "config.json").exists()


@settings(max_examples=40, deadline=None)
@given(
    brands=st.lists(
        st.text(min_size=1, max_size=8).filter(lambda s: s != "no-logo"),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    position=st.integers(0, 6),
    threshold=st.floats(0.0, 1.0),
    temperature=st.floats(0.01, 100.0),
)
def test_round_trip_property(
    brands: list[str], position: int, threshold: float, temperature: float
) -> None:
    labels = list(brands)
    labels.insert(min(position, len(labels)), "no-logo")
    cfg = make_config(labels=tuple(labels), threshold=threshold, temperature=temperature)
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


# -- atomic directory replacement ---------------------------------------------------------------


def _writer(version: str) -> Any:
    def write(tmp: Path) -> None:
        make_config(training={"version": version}).save(tmp)
        (tmp / "model.onnx").write_bytes(version.encode())

    return write


def _version(directory: Path) -> str:
    return str(ModelConfig.load(directory).training["version"])


def _siblings(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.parent.iterdir())


def test_write_model_dir_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "model"
    write_model_dir(target, _writer("v1"))
    assert _version(target) == "v1"
    write_model_dir(target, _writer("v2"))
    assert _version(target) == "v2"
    assert (target / "model.onnx").read_bytes() == b"v2"
    assert _siblings(target) == ["model"]


def test_writer_failure_keeps_previous(tmp_path: Path) -> None:
    target = tmp_path / "model"
    write_model_dir(target, _writer("v1"))

    def broken(tmp: Path) -> None:
        _writer("v2")(tmp)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_model_dir(target, broken)
    assert _version(target) == "v1"
    assert _siblings(target) == ["model"]


def test_failed_swap_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    write_model_dir(target, _writer("v1"))
    real_replace = os.replace

    def flaky(src: Any, dst: Any) -> None:
        if Path(dst) == target and ".tmp-" in Path(src).name:
            raise OSError("crash while renaming the new copy into place")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="crash while renaming"):
        write_model_dir(target, _writer("v2"))
    monkeypatch.undo()
    assert _version(target) == "v1"
    assert _siblings(target) == ["model"]


def test_hard_crash_between_renames_is_recoverable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model"
    write_model_dir(target, _writer("v1"))
    real_replace = os.replace

    def dies(src: Any, dst: Any) -> None:
        # The process "dies" after moving the old copy aside: every later rename fails,
        # including the rollback, like a kill -9 would leave things.
        if ".old-" in Path(src).name or ".tmp-" in Path(src).name:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies)
    with pytest.raises(KeyboardInterrupt):
        write_model_dir(target, _writer("v2"))
    monkeypatch.undo()
    assert not target.exists()
    backups = leftover_backups(target)
    assert len(backups) == 1 and _version(backups[0]) == "v1"
    assert recover_model_dir(target) == target
    assert _version(target) == "v1"
    assert _siblings(target) == ["model"]


def test_recover_is_noop_when_intact(tmp_path: Path) -> None:
    target = tmp_path / "model"
    assert recover_model_dir(target) is None
    write_model_dir(target, _writer("v1"))
    (tmp_path / ".model.tmp-abc").mkdir()  # an incomplete new copy from a crash
    assert recover_model_dir(target) == target
    assert _siblings(target) == ["model"]


def test_refuses_to_replace_unrelated_folder(tmp_path: Path) -> None:
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match="not a model directory"):
        write_model_dir(precious, _writer("v1"))
    assert (precious / "holiday.jpg").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        write_model_dir(a_file, _writer("v1"))
    empty = tmp_path / "empty"
    empty.mkdir()
    write_model_dir(empty, _writer("v1"))
    assert _version(empty) == "v1"


def test_replacing_a_model_keeps_the_users_files(tmp_path: Path) -> None:
    target = tmp_path / "model"
    write_model_dir(target, _writer("v1"))
    (target / "README.txt").write_text("my notes")
    (target / "extra").mkdir()
    (target / "extra" / "eval.csv").write_text("a,b")
    (target / "gallery.npz").write_bytes(b"stale")  # a model file the new copy does not write
    # the user's own files that merely look like model files are kept too
    kept = ["gallery.md", "model-fp32-backup.onnx", "notes.safetensors", "gallery.refs/a.jpg"]
    (target / "gallery.refs").mkdir()
    for name in kept:
        (target / name).write_text(name)
    write_model_dir(target, _writer("v2"))
    assert _version(target) == "v2"
    assert (target / "README.txt").read_text() == "my notes"
    assert (target / "extra" / "eval.csv").read_text() == "a,b"
    assert not (target / "gallery.npz").exists()
    assert all((target / name).read_text() == name for name in kept)
    assert _siblings(target) == ["model"]


def test_replacing_a_model_through_a_link_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "models" / "v"
    write_model_dir(real, _writer("v1"))
    link = tmp_path / "current"
    link.symlink_to(real, target_is_directory=True)
    assert write_model_dir(link, _writer("v2")) == link
    assert link.is_symlink() and _version(link) == "v2" and _version(real) == "v2"
    assert _siblings(real) == ["v"]


def test_unwritable_destination_is_an_output_error(tmp_path: Path) -> None:
    from logobrand._io import atomic_write_text
    from logobrand.errors import LogoBrandError, OutputError

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="cannot write") as info:
        write_model_dir(a_file / "model", _writer("v1"))  # a file where a folder should be
    assert isinstance(info.value, LogoBrandError) and isinstance(info.value, OSError)
    with pytest.raises(OutputError, match=str(a_file / "notes.txt")):
        atomic_write_text(a_file / "notes.txt", "hello")
    assert a_file.read_text() == "x"
