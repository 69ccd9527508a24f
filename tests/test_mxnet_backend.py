"""The MXNet/Gluon backend against real MXNet (skipped where MXNet is not installed).

Runs in the separate MXNet environment (``.ci/mxnet``: Python 3.11, mxnet==1.9.1,
numpy==1.23.5, torch for the ONNX export).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from logobrand.backends.mxnet import mxnet_available

if not mxnet_available():
    pytest.skip("MXNet is not usable here (see docs/mxnet.rst)", allow_module_level=True)

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.mxnet, pytest.mark.torch]

from logobrand.backends import create_backend_model  # noqa: E402
from logobrand.backends.mxnet import (  # noqa: E402
    GluonTrainer,
    create_gluon_model,
    gluon_net_to_torch,
    import_gluon,
    import_mxnet,
    load_params,
    torch_layout,
)
from logobrand.backends.mxnet.params import encode_params  # noqa: E402
from logobrand.errors import (  # noqa: E402
    InvalidArgumentError,
    MissingExtraError,
    ModelFormatError,
)

mx = import_mxnet()
LABELS = ["adidas", "no-logo", "pepsi"]


def _randomise(net: Any, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics, scales and shifts (also of the input BatchNorm)."""
    rng = np.random.default_rng(seed)
    for name, param in net.collect_params().items():
        if name.endswith(("gamma", "beta", "running_mean")):
            param.set_data(mx.nd.array(rng.normal(0.0, 0.5, param.shape)))
        elif name.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
        elif name.endswith("dense0_weight"):  # larger logits make the comparison meaningful
            param.set_data(param.data() * 20)


def _onnx_logits(model_dir: Path, x: np.ndarray) -> np.ndarray:
    from logobrand.inference.onnx import create_session

    session = create_session(model_dir / "model.onnx", threads=1)
    out: np.ndarray = session.run(["logits"], {"images": x})[0]
    return out


def test_encode_params_matches_mx_nd_save(tmp_path: Path) -> None:
    arrays = {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "h": np.array([1, 2], np.float16),
        "i": np.array([7], np.int64),
    }
    mx.nd.save(
        str(tmp_path / "m.params"), {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()}
    )
    assert (tmp_path / "m.params").read_bytes() == encode_params(arrays)
    loaded = mx.nd.load(str(tmp_path / "m.params"))
    for name, value in load_params(tmp_path / "m.params").items():
        np.testing.assert_array_equal(loaded[name].asnumpy(), value)


@pytest.mark.parametrize("thumbnail", [False, True])
def test_layout_matches_the_gluon_model_zoo(thumbnail: bool) -> None:
    net = create_gluon_model("resnet18_v2", 5, thumbnail=thumbnail)
    structural = set(net._collect_params_with_prefix())
    prefix = net.prefix
    prefixed = {name[len(prefix) :] for name in net.collect_params()}
    layout = torch_layout("resnet18_v2", thumbnail=thumbnail)
    extra = {"features.0.gamma", "features.0.beta"}
    assert {s for s, _ in layout.values()} | extra == structural
    assert {p for _, p in layout.values()} | {"batchnorm0_gamma", "batchnorm0_beta"} == prefixed


@pytest.mark.parametrize(
    ("arch", "kwargs", "size", "save"),
    [
        ("resnet18_v2", {}, 64, "save_parameters"),
        ("resnet18_v2", {}, 64, "save_params"),
        ("resnet18_v2", {"thumbnail": True}, 32, "export"),
        ("scratch_cnn", {"hidden": 64}, 224, "save_parameters"),
        ("scratch_cnn", {"hidden": 64}, 224, "save_params"),
    ],
)
def test_import_gluon_gives_the_gluon_logits(
    tmp_path: Path, arch: str, kwargs: dict[str, Any], size: int, save: str
) -> None:
    mx.random.seed(0)
    net = create_gluon_model(arch, len(LABELS), **kwargs)
    _randomise(net)
    x = np.random.default_rng(1).standard_normal((4, 3, size, size)).astype(np.float32)
    expected = net(mx.nd.array(x)).asnumpy()
    if save == "save_parameters":
        params = tmp_path / "ft-16.params"
        net.save_parameters(str(params))
    elif save == "save_params":  # the old prefixed names (collect_params().save)
        params = tmp_path / "ft-16.params"
        net.collect_params().save(str(params))
    else:  # HybridBlock.export: arg:/aux: prefixes
        net.hybridize()
        net(mx.nd.array(x))
        net.export(str(tmp_path / "ft"), epoch=16)
        params = tmp_path / "ft-0016.params"
    result = import_gluon(params, tmp_path / "model", arch=arch, labels=LABELS, input_size=size)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    got = _onnx_logits(tmp_path / "model", x)
    diff = float(np.abs(got - expected).max())
    print(f"{arch} {kwargs} {save}: max |Gluon - ONNX| = {diff:.3g}, max |logit| = "
          f"{np.abs(expected).max():.3g}")  # fmt: skip
    assert diff <= 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_pretrained_params_skip_another_head(tmp_path: Path) -> None:
    imagenet = create_gluon_model("resnet18_v2", 10, thumbnail=True)
    _randomise(imagenet, seed=3)
    imagenet.save_parameters(str(tmp_path / "imagenet.params"))
    net = create_gluon_model(
        "resnet18_v2", 3, pretrained=tmp_path / "imagenet.params", thumbnail=True
    )
    np.testing.assert_array_equal(
        net.features[1].weight.data().asnumpy(), imagenet.features[1].weight.data().asnumpy()
    )
    assert net.output.weight.shape == (3, 512)
    with pytest.raises(InvalidArgumentError, match="never downloads"):
        create_gluon_model("resnet18_v2", 3, pretrained=True)
    with pytest.raises(ModelFormatError):
        create_gluon_model("scratch_cnn", 3, pretrained=tmp_path / "imagenet.params")


def test_pretrained_none_means_no_weights() -> None:
    from logobrand.models import create_model

    for net in (
        create_gluon_model("scratch_cnn", 3, pretrained=None, hidden=8),
        create_model("scratch_cnn", 3, backend="mxnet", pretrained=None, hidden=8),
    ):
        assert net.output.weight.shape == (3, 8)
    with pytest.raises(InvalidArgumentError, match="pretrained must be False"):
        create_gluon_model("scratch_cnn", 3, pretrained=5, hidden=8)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (("resnet18_v2", 3), {"hidden": 8}, r"no option 'hidden'; its options are thumbnail"),
        (("scratch_cnn", 3), {"thumbnail": True}, r"its options are hidden, dropout, pooled_size"),
        (("scratch_cnn", 3), {"hidden": "8"}, r"hidden='8'"),
        (("scratch_cnn", 3), {"hidden": 2.5}, r"hidden=2\.5"),
        (("scratch_cnn", 3), {"hidden": 8, "dropout": float("nan")}, "dropout=nan"),
        (("resnet18_v2", 3), {"thumbnail": "yes"}, "thumbnail='yes'"),
        (("scratch_cnn", "3"), {"hidden": 8}, "num_classes must be an integer >= 1"),
        (("scratch_cnn", None), {"hidden": 8}, "num_classes must be an integer >= 1"),
        (("scratch_cnn", 2.5), {"hidden": 8}, "num_classes must be an integer >= 1"),
        (("scratch_cnn", 3), {"hidden": 8, "ctx": "cpu"}, "ctx must be an MXNet context"),
        (("scratch_cnn", 3), {"hidden": 8, "ctx": []}, "ctx must be an MXNet context"),
        (("scratch_cnn", 3), {"hidden": 8, "init": "nope"}, "could not initialise"),
    ],
)
def test_create_gluon_model_rejects_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], needle: str
) -> None:
    """Each of these used to end in a TypeError or MXNetError traceback."""
    with pytest.raises(InvalidArgumentError, match=needle):
        create_gluon_model(*args, **kwargs)


def test_unreadable_safetensors_is_a_model_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"xx")  # safetensors raises its own SafetensorError, not an OSError
    with pytest.raises(ModelFormatError, match=r"bad\.safetensors.*not a safetensors file"):
        create_gluon_model("scratch_cnn", 3, pretrained=bad, hidden=8)
    with pytest.raises(ModelFormatError, match="does not exist"):
        create_gluon_model("scratch_cnn", 3, pretrained=tmp_path / "no.safetensors", hidden=8)


@pytest.mark.skipif(
    mx.runtime.Features().is_enabled("CUDA"), reason="this MXNet build has GPU support"
)
def test_gpu_context_on_a_cpu_build_says_how_to_get_gpu_support(tiny_data: Any) -> None:
    from logobrand.models import create_model

    for ctx in (mx.gpu(0), [mx.cpu(), mx.gpu(1)]):
        with pytest.raises(MissingExtraError, match=r"no GPU support.*mxnet-cu112"):
            create_gluon_model("scratch_cnn", 3, hidden=8, ctx=ctx)
    with pytest.raises(MissingExtraError, match="no GPU support"):
        create_model("scratch_cnn", 3, backend="mxnet", hidden=8, ctx=mx.gpu(0))
    net = create_gluon_model("scratch_cnn", 3, hidden=8)
    with pytest.raises(MissingExtraError, match=r"GluonTrainer: ctx=gpu\(0\).*mxnet-cu112"):
        GluonTrainer(net, tiny_data[0], ctx=mx.gpu(0), num_workers=0, progress=False)


def test_create_backend_model_builds_gluon_nets() -> None:
    net = create_backend_model("mxnet", "scratch_cnn", 4, hidden=16)
    assert isinstance(net, mx.gluon.HybridBlock) and net.architecture == "scratch_cnn"
    assert net(mx.nd.zeros((2, 3, 224, 224))).shape == (2, 4)
    with pytest.raises(InvalidArgumentError, match="efficientnet_lite0"):
        create_backend_model("mxnet", "efficientnet_lite0", 4)


# -- training ----------------------------------------------------------------------------------


@pytest.fixture
def tiny_data(tmp_path: Path) -> tuple[Any, Any]:
    import cv2

    from logobrand.data import ImageFolderDataset
    from logobrand.models import Preprocessing
    from logobrand.transforms import eval_transform, train_transform

    rng = np.random.default_rng(0)
    colours = {"adidas": (230, 30, 30), "no-logo": (30, 30, 230), "pepsi": (30, 230, 30)}
    for label, colour in colours.items():
        for i in range(5):
            noise = rng.normal(0, 25, (36, 44, 3))
            image = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / "data" / label / f"{i}.png"), image)
    data = ImageFolderDataset(tmp_path / "data")
    pre = Preprocessing(input_size=32)
    return data.with_transform(train_transform(pre, seed=0)), data.with_transform(
        eval_transform(pre)
    )


def test_short_training_run_checkpoints_and_resumes(tmp_path: Path, tiny_data: Any) -> None:
    from logobrand.inference import LogoClassifier
    from logobrand.models import Preprocessing
    from logobrand.training import EarlyStopping, HistoryLogger, ModelCheckpoint

    train, val = tiny_data
    mx.random.seed(0)
    net = create_gluon_model("resnet18_v2", 3, thumbnail=True)
    pre = Preprocessing(input_size=32)

    def trainer(epochs: int) -> GluonTrainer:
        return GluonTrainer(
            net, train, val, epochs=epochs, batch_size=6, lr=0.01, num_workers=0, progress=False,
            class_weights="balanced", label_smoothing=0.1,
            callbacks=[ModelCheckpoint(tmp_path / "ckpt", preprocessing=pre),
                       EarlyStopping(patience=5), HistoryLogger(tmp_path / "history.csv")],
        )  # fmt: skip

    history = trainer(2).fit()
    assert history.epochs == [1, 2]
    assert all(np.isfinite(row["loss"]) and row["val_accuracy"] is not None for row in history)
    best = tmp_path / "ckpt" / "best"
    config = json.loads((best / "config.json").read_text())
    assert config["architecture"] == "resnet18_v2" and config["labels"] == LABELS
    assert config["training"]["backend"] == "mxnet"
    # best/ is a logobrand model directory: the ONNX model gives the Gluon logits.
    x = np.stack([val[i][0] for i in range(len(val))])
    state = json.loads((best / "trainer_state.json").read_text())
    assert state["backend"] == "mxnet"
    resumed = trainer(3)
    history = resumed.fit(resume_from=tmp_path / "ckpt")
    assert history.epochs == [1, 2, 3]
    assert (tmp_path / "history.csv").read_text().count("\n") == 4
    clf = LogoClassifier.from_pretrained(best)
    assert clf.predict(val.samples[0].path).top_k[0][0] in LABELS
    torch_model = gluon_net_to_torch(net)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    # float32 rounding grows with the logits (a few hundred after this tiny run)
    np.testing.assert_allclose(net(mx.nd.array(x)).asnumpy(), expected, rtol=1e-5, atol=1e-4)


def test_resume_continues_exactly(tmp_path: Path, tiny_data: Any) -> None:
    """Two epochs in one go == one epoch, a checkpoint, and a resumed second epoch."""
    from logobrand.training import ModelCheckpoint

    train, val = tiny_data

    def run(epochs: int, resume: bool, directory: Path) -> dict[str, np.ndarray]:
        mx.random.seed(0)
        net = create_gluon_model("resnet18_v2", 3, thumbnail=True)
        trainer = GluonTrainer(
            net, train, val, epochs=epochs, batch_size=5, lr=0.01, momentum=0.9,
            num_workers=0, progress=False, callbacks=[ModelCheckpoint(directory, save_model=False)],
        )  # fmt: skip
        trainer.fit(resume_from=directory if resume else None)
        return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}

    straight = run(2, False, tmp_path / "a")
    run(1, False, tmp_path / "b")
    resumed = run(2, True, tmp_path / "b")
    for name, value in straight.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_frozen_backbone_trains_only_the_output(tiny_data: Any) -> None:
    train, _ = tiny_data
    net = create_gluon_model("resnet18_v2", 3, thumbnail=True)
    before = {k: p.data().asnumpy().copy() for k, p in net._collect_params_with_prefix().items()}
    GluonTrainer(
        net, train, epochs=1, batch_size=5, num_workers=0, progress=False, train_backbone=False
    ).fit()
    after = {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    assert changed == {"output.weight", "output.bias"}
    grad_reqs = {p.grad_req for p in net.features.collect_params().values()}
    assert "write" in grad_reqs  # unfrozen again after fit


def test_trainer_rejects_bad_arguments(tiny_data: Any) -> None:
    train, _ = tiny_data
    net = create_gluon_model("scratch_cnn", 3, hidden=8)
    with pytest.raises(InvalidArgumentError, match="adamw"):
        GluonTrainer(net, train, optimizer="adamw")
    with pytest.raises(InvalidArgumentError, match="Gluon block"):
        GluonTrainer(torch.nn.Linear(2, 2), train)
    for name, value in (("epochs", None), ("batch_size", 2.5), ("train_backbone", "1")):
        with pytest.raises(InvalidArgumentError, match=f"GluonTrainer: {name} must be an integer"):
            GluonTrainer(net, train, **{name: value})
    with pytest.raises(InvalidArgumentError, match="ctx must be an MXNet context"):
        GluonTrainer(net, train, ctx="cpu")
    with pytest.raises(InvalidArgumentError, match=r"\(5, 3, 32, 32\).*224"):
        GluonTrainer(net, train, epochs=1, batch_size=5, num_workers=0, progress=False).fit()
