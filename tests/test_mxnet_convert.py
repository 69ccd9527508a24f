"""Gluon <-> torch weight mapping and ``import_gluon``, without MXNet (torch needed).

Gluon checkpoints are synthesised from random torch models with the converter's inverse and
the numpy ``.params`` writer; ``test_mxnet_backend.py`` checks the same against real Gluon
networks where MXNet is installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from logobrand.backends import create_backend_model, get_backend, list_backends, register_backend
from logobrand.backends.mxnet import (
    create_gluon_model,
    gluon_to_torch,
    import_gluon,
    mxnet_available,
    save_params,
    torch_layout,
    torch_to_gluon,
)
from logobrand.backends.mxnet.convert import BN_EPS
from logobrand.errors import InvalidArgumentError, MissingExtraError, ModelFormatError

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

LABELS = ["adidas", "no-logo", "pepsi"]


def _random_torch(arch: str, **kwargs: object) -> torch.nn.Module:
    from logobrand.models import create_model

    torch.manual_seed(0)
    model = create_model(arch, len(LABELS), **kwargs)
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine parameters
        for name, value in model.state_dict().items():
            if name.endswith(("running_mean", "bn1.bias", "bn2.bias", "post_bn.bias")):
                value.normal_(0, 0.3)
            elif name.endswith("running_var"):
                value.uniform_(0.5, 2.0)
            elif re.search(r"bn\d?\.weight$|post_bn\.weight$|stem\.1\.weight$", name):
                value.uniform_(0.5, 1.5)
    return model.eval()


def _logits(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = model(torch.from_numpy(x)).numpy()
    return out


def _prefixed(arch_state: dict[str, np.ndarray], thumbnail: bool) -> dict[str, np.ndarray]:
    """Rename structural Gluon names to the old ``save_params`` names, as in the tutorial's
    fine-tuned net (features of instance 0, output layer of instance 1)."""
    out = {}
    layout = torch_layout("resnet18_v2", thumbnail=thumbnail)
    by_struct = {s: p for s, p in layout.values()}
    by_struct["features.0.gamma"] = "batchnorm0_gamma"
    by_struct["features.0.beta"] = "batchnorm0_beta"
    for name, value in arch_state.items():
        short = by_struct[name]
        prefix = "resnetv21_" if short.startswith("dense0_") else "resnetv20_"
        out[prefix + short] = value
    return out


def test_layout_covers_every_torch_tensor() -> None:
    from logobrand.models import create_model

    for thumbnail in (False, True):
        model = create_model("resnet18_v2", 4, thumbnail=thumbnail)
        names = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
        layout = torch_layout("resnet18_v2", thumbnail=thumbnail)
        assert set(layout) == names
        assert len({s for s, _ in layout.values()}) == len(layout)
        assert len({p for _, p in layout.values()}) == len(layout)
    assert torch_layout("resnet18_v2")["layer2.0.downsample.weight"] == (
        "features.6.0.downsample.weight",
        "stage2_conv2_weight",
    )
    with pytest.raises(InvalidArgumentError):
        torch_layout("scratch_cnn")


@pytest.mark.parametrize(
    ("arch", "kwargs", "size"),
    [
        ("resnet18_v2", {}, 64),
        ("resnet18_v2", {"thumbnail": True}, 32),
        ("scratch_cnn", {"hidden": 32}, 224),
    ],
)
def test_round_trip_keeps_the_logits(arch: str, kwargs: dict[str, object], size: int) -> None:
    from logobrand.backends.mxnet.importer import torch_model_from

    model = _random_torch(arch, **kwargs)
    gluon = torch_to_gluon(model.state_dict(), arch)
    converted = gluon_to_torch(gluon, arch)
    assert converted.num_classes == len(LABELS)
    for key, value in kwargs.items():
        assert converted.builder_kwargs[key] == value
    back = torch_model_from(converted)
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    np.testing.assert_array_equal(_logits(back, x), _logits(model, x))


def test_prefixed_and_exported_names_are_understood() -> None:
    model = _random_torch("resnet18_v2")
    struct = torch_to_gluon(model.state_dict(), "resnet18_v2")
    plain = gluon_to_torch(struct, "resnet18_v2").state
    prefixed = _prefixed(struct, thumbnail=False)
    assert "resnetv20_stage4_conv4_weight" in prefixed and "resnetv21_dense0_bias" in prefixed
    exported = {("aux:" if "running" in k else "arg:") + k: v for k, v in prefixed.items()}
    for variant in (prefixed, exported):
        converted = gluon_to_torch(variant, "resnet18_v2")
        assert set(converted.state) == set(plain)
        for name, value in plain.items():
            np.testing.assert_array_equal(converted.state[name], value)
    names = gluon_to_torch(exported, "resnet18_v2").gluon_names
    assert names["features.1.weight"] == "arg:resnetv20_conv0_weight"


def test_input_batchnorm_shift_is_folded_exactly() -> None:
    model = _random_torch("resnet18_v2", thumbnail=True)
    struct = torch_to_gluon(model.state_dict(), "resnet18_v2")
    beta = np.array([0.5, -1.0, 2.0], np.float32)
    struct["features.0.beta"] = beta
    struct["features.0.gamma"] = np.array([3.0, 3.0, 3.0], np.float32)  # ignored: fix_gamma
    converted = gluon_to_torch(struct, "resnet18_v2")
    assert any("folded" in note for note in converted.notes)
    mean = struct["features.0.running_mean"].astype(np.float64)
    std = np.sqrt(struct["features.0.running_var"].astype(np.float64) + BN_EPS)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float64)
    gluon_out = (x - mean[:, None]) / std[:, None] + beta[:, None]
    folded = converted.state["data_bn.running_mean"].astype(np.float64)
    torch_out = (x - folded[:, None]) / std[:, None]
    np.testing.assert_allclose(torch_out, gluon_out, atol=1e-5)


def test_mismatched_checkpoints_name_the_problem() -> None:
    model = _random_torch("resnet18_v2", thumbnail=True)
    struct = torch_to_gluon(model.state_dict(), "resnet18_v2")
    missing = dict(struct)
    del missing["features.3.0.conv2.weight"]
    with pytest.raises(ModelFormatError, match=r"features\.3\.0\.conv2\.weight"):
        gluon_to_torch(missing, "resnet18_v2", source="ft.params")
    extra = {**struct, "features.99.weight": np.zeros(1, np.float32)}
    with pytest.raises(ModelFormatError, match="does not have"):
        gluon_to_torch(extra, "resnet18_v2")
    bad = {**struct, "features.2.0.conv1.weight": np.zeros((64, 64, 1, 1), np.float32)}
    with pytest.raises(ModelFormatError, match="shape"):
        gluon_to_torch(bad, "resnet18_v2")
    with pytest.raises(ModelFormatError, match="scratch_cnn"):
        gluon_to_torch(struct, "scratch_cnn")
    scratch = torch_to_gluon(_random_torch("scratch_cnn", hidden=8).state_dict(), "scratch_cnn")
    with pytest.raises(ModelFormatError, match="resnet18_v2"):
        gluon_to_torch(scratch, "resnet18_v2")
    with pytest.raises(InvalidArgumentError, match="efficientnet_lite0"):
        gluon_to_torch(struct, "efficientnet_lite0")
    with pytest.raises(ModelFormatError, match="no parameters"):
        gluon_to_torch({}, "resnet18_v2")


def test_misshapen_input_batchnorm_and_head_are_named_before_folding() -> None:
    struct = torch_to_gluon(
        _random_torch("resnet18_v2", thumbnail=True).state_dict(), "resnet18_v2"
    )
    # A beta of another length used to reach the fold: an untyped numpy broadcast ValueError.
    for name in ("features.0.beta", "features.0.gamma"):
        bad = {**struct, name: np.ones(5, np.float32)}
        with pytest.raises(ModelFormatError, match=rf"{re.escape(name)} .*\(5,\), expected \(3,\)"):
            gluon_to_torch(bad, "resnet18_v2", source="ft.params")
    for name in ("features.0.running_mean", "features.0.running_var"):
        bad = {**struct, name: np.ones(5, np.float32), "features.0.beta": np.ones(3, np.float32)}
        with pytest.raises(ModelFormatError, match=r"data_bn\.running_.* \(5,\)"):
            gluon_to_torch(bad, "resnet18_v2")
    # The message quotes the bad bias, not the (correct) weight shape.
    bias = {**struct, "output.bias": np.zeros(7, np.float32)}
    with pytest.raises(
        ModelFormatError, match=r"bias output\.bias has shape \(7,\), expected \(3,\)"
    ):
        gluon_to_torch(bias, "resnet18_v2")
    weight = {**struct, "output.weight": np.zeros((3, 256), np.float32)}
    with pytest.raises(ModelFormatError, match=r"weight output\.weight has shape \(3, 256\)"):
        gluon_to_torch(weight, "resnet18_v2")


def test_import_gluon_without_mxnet(tmp_path: Path) -> None:
    from logobrand.inference import LogoClassifier
    from logobrand.inference.onnx import create_session

    model = _random_torch("resnet18_v2", thumbnail=True)
    params = save_params(
        tmp_path / "ft-16.params",
        _prefixed(torch_to_gluon(model.state_dict(), "resnet18_v2"), thumbnail=True),
    )
    result = import_gluon(
        params, tmp_path / "model", arch="resnet18_v2", labels=LABELS, verify=False
    )
    assert result.max_abs_diff is None and result.num_classes == 3
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["labels"] == LABELS and config["preprocessing"]["input_size"] == 32
    assert config["training"]["imported_from"] == "ft-16.params"
    x = np.random.default_rng(3).standard_normal((4, 3, 32, 32)).astype(np.float32)
    onnx = create_session(tmp_path / "model" / "model.onnx", threads=1)
    got = onnx.run(["logits"], {"images": x})[0]
    assert float(np.abs(got - _logits(model, x)).max()) <= 1e-4
    clf = LogoClassifier.from_pretrained(tmp_path / "model")
    prediction = clf.predict(np.zeros((40, 50, 3), np.uint8))
    assert prediction.top_k[0][0] in LABELS


def test_import_gluon_checks_the_labels(tmp_path: Path) -> None:
    model = _random_torch("scratch_cnn", hidden=8)
    params = save_params(tmp_path / "s.params", torch_to_gluon(model.state_dict(), "scratch_cnn"))
    with pytest.raises(InvalidArgumentError, match="3 outputs but 2 labels"):
        import_gluon(params, tmp_path / "m", arch="scratch_cnn", labels=LABELS[:2], verify=False)
    for size in (0, -5, 2.5):  # 0 used to mean "the default" without a word
        with pytest.raises(InvalidArgumentError, match="input_size must be an integer"):
            import_gluon(params, tmp_path / "m", arch="scratch_cnn", labels=LABELS, input_size=size)  # type: ignore[arg-type]
    assert not (tmp_path / "m").exists()


@pytest.mark.skipif(mxnet_available(), reason="MXNet is installed here")
def test_missing_mxnet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingExtraError, match=r"logobrand\[mxnet\]") as info:
        create_gluon_model("resnet18_v2", 3)
    message = str(info.value)
    assert "Python 3.11" in message and "numpy 1.23.5" in message and "mxnet-cu112" in message
    with pytest.raises(MissingExtraError):
        create_backend_model("mxnet", "resnet18_v2", 3)
    model = _random_torch("scratch_cnn", hidden=8)
    params = save_params(tmp_path / "s.params", torch_to_gluon(model.state_dict(), "scratch_cnn"))
    with pytest.raises(MissingExtraError, match="MXNet"):
        import_gluon(params, tmp_path / "m", arch="scratch_cnn", labels=LABELS, verify=True)


def test_backend_registry() -> None:
    assert {"torch", "mxnet"} <= set(list_backends())
    from logobrand.models.registry import create_model

    assert get_backend("torch") is create_model
    assert get_backend("mxnet") is create_gluon_model
    calls: list[tuple[object, ...]] = []
    register_backend("demo", lambda *args, **kw: calls.append((*args, kw)) or "net")
    try:
        assert create_backend_model("demo", "scratch_cnn", 4, False, x=1) == "net"
        assert calls == [("scratch_cnn", 4, False, {"x": 1})]
        assert "demo" in list_backends()
    finally:
        from logobrand.backends import _REGISTERED

        _REGISTERED.pop("demo", None)
    with pytest.raises(InvalidArgumentError, match=r"unknown backend 'jax'.*mxnet"):
        create_backend_model("jax", "resnet18_v2", 3)
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        create_backend_model("mxnet", "resnet18_v2", 0)
    with pytest.raises(InvalidArgumentError):
        register_backend("torch", create_gluon_model)


def test_importing_the_backend_does_not_import_mxnet() -> None:
    import subprocess
    import sys

    code = (
        "import sys, logobrand.backends.mxnet, logobrand.backends; "
        "assert 'mxnet' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
