"""The built-in architectures scratch_cnn and resnet18_v2, and weight loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from logobrand.errors import InvalidArgumentError, ModelFormatError  # noqa: E402
from logobrand.models import create_model, get_model_spec, list_models  # noqa: E402
from logobrand.training.state import load_weights  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _partition_ok(model: Any) -> None:
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert backbone and head and not backbone & head
    assert backbone | head == {id(p) for p in model.parameters()}
    assert {id(p) for p in model.head.parameters()} == head


def test_registry_lists_both() -> None:
    names = list_models()
    assert "scratch_cnn" in names and "resnet18_v2" in names
    for name in ("scratch_cnn", "resnet18_v2"):
        spec = get_model_spec(name)
        assert spec.preprocessing.input_size == 224
        assert spec.preprocessing.mean == (0.485, 0.456, 0.406)
        assert spec.description


def test_scratch_cnn_is_the_tutorial_network_at_224() -> None:
    model = create_model("scratch_cnn", num_classes=33).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert tuple(model.features(x).shape) == (1, 192, 12, 12)
        assert tuple(model(x).shape) == (1, 33)
    assert model.classifier[1].in_features == 192 * 12 * 12
    assert model.classifier[1].out_features == 4096
    assert model.classifier[3].p == 0.5
    conv1, conv2 = model.features[0], model.features[3]
    assert (conv1.out_channels, conv1.kernel_size, conv1.stride) == (96, (11, 11), (4, 4))
    assert (conv2.out_channels, conv2.kernel_size, conv2.padding) == (192, (5, 5), (2, 2))
    assert model.architecture == "scratch_cnn"
    _partition_ok(model)


def test_scratch_cnn_other_sizes() -> None:
    model = create_model("scratch_cnn", num_classes=4, hidden=32).eval()
    with torch.no_grad():
        for size in (64, 35, 300):
            assert tuple(model(torch.randn(2, 3, size, size)).shape) == (2, 4)


def test_pretrained_none_means_no_weights() -> None:
    """``pretrained=None`` used to reach ``Path(None)`` (an untyped TypeError)."""
    torch.manual_seed(0)
    none = create_model("scratch_cnn", num_classes=3, hidden=8, pretrained=None)
    torch.manual_seed(0)
    false = create_model("scratch_cnn", num_classes=3, hidden=8, pretrained=False)
    for name, value in false.state_dict().items():
        assert torch.equal(none.state_dict()[name], value), name
    assert create_model("resnet18_v2", num_classes=3, thumbnail=True, pretrained=None)


def test_num_classes_must_be_an_integer() -> None:
    from logobrand.backends import create_backend_model

    for value in ("3", None, 2.5, True):
        with pytest.raises(InvalidArgumentError, match="num_classes must be an integer"):
            create_model("scratch_cnn", num_classes=value)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="num_classes must be an integer"):
            create_backend_model("mxnet", "scratch_cnn", value)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["scratch_cnn", "resnet18_v2"])
def test_pretrained_true_is_an_error(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="path"):
        create_model(name, num_classes=3, pretrained=True)


@pytest.mark.parametrize("thumbnail", [False, True])
def test_resnet18_v2_shapes(thumbnail: bool) -> None:
    model = create_model("resnet18_v2", num_classes=5, thumbnail=thumbnail).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(2, 3, 32, 32)).shape) == (2, 5)
    assert model.head.in_features == 512
    assert model.architecture == "resnet18_v2"
    _partition_ok(model)


def test_resnet18_v2_is_pre_activation() -> None:
    model = create_model("resnet18_v2", num_classes=2)
    n_params = sum(p.numel() for p in model.parameters())
    assert 11_000_000 < n_params < 11_300_000  # ResNet-18 size
    block = model.layer2[0]
    # BN comes before the convolution it normalises; the shortcut projects the
    # pre-activated input with a strided 1x1 convolution.
    assert block.bn1.num_features == 64 and block.conv1.in_channels == 64
    assert block.downsample is not None and block.downsample.stride == (2, 2)
    assert model.layer1[0].downsample is None
    assert model.post_bn.num_features == 512
    assert not model.data_bn.affine


def test_resnet18_v2_224() -> None:
    model = create_model("resnet18_v2", num_classes=3).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(1, 3, 224, 224)).shape) == (1, 3)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_load_weights_round_trip(tmp_path: Path, suffix: str) -> None:
    source = create_model("resnet18_v2", num_classes=3, thumbnail=True)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    copy = create_model("resnet18_v2", num_classes=3, thumbnail=True, pretrained=path)
    for key, value in copy.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_pretrained_path_skips_another_head(tmp_path: Path) -> None:
    source = create_model("scratch_cnn", num_classes=10, hidden=16)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    model = create_model("scratch_cnn", num_classes=3, hidden=16, pretrained=path)
    assert torch.equal(model.features[0].weight, source.features[0].weight)
    assert model.head.weight.shape == (3, 16)
    with pytest.raises(ModelFormatError, match=r"head\.weight"):
        load_weights(create_model("scratch_cnn", num_classes=3, hidden=16), path)


def test_shape_mismatch_names_the_tensor(tmp_path: Path) -> None:
    source = create_model("scratch_cnn", num_classes=3, hidden=16)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    state["features.3.weight"] = torch.zeros(192, 96, 3, 3)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelFormatError, match=r"features\.3\.weight"):
        create_model("scratch_cnn", num_classes=3, hidden=16, pretrained=path)


def test_missing_unexpected_and_bad_files(tmp_path: Path) -> None:
    model = create_model("scratch_cnn", num_classes=3, hidden=16)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    extra = dict(state, **{"bogus.weight": torch.zeros(1)})
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(ModelFormatError, match=r"bogus\.weight"):
        load_weights(model, tmp_path / "extra.safetensors")
    del state["features.0.bias"]
    save_file(state, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ModelFormatError, match=r"features\.0\.bias"):
        load_weights(model, tmp_path / "missing.safetensors")
    with pytest.raises(ModelFormatError, match="does not exist"):
        load_weights(model, tmp_path / "nope.safetensors")
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(ModelFormatError, match="unknown weights file type"):
        load_weights(model, tmp_path / "w.npz")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFormatError, match=r"junk\.safetensors"):
        load_weights(model, tmp_path / "junk.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ModelFormatError, match=r"junk\.pth"):
        load_weights(model, tmp_path / "junk.pth")
