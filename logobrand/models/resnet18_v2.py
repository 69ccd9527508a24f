"""``resnet18_v2``: pre-activation ResNet-18 (He et al. 2016, "Identity Mappings in Deep
Residual Networks"), laid out like Gluon's ``resnet18_v2``.

Every residual block applies BatchNorm and ReLU *before* each convolution; the projection
shortcut (when the shape changes) takes the pre-activated input. The network::

    data_bn   BatchNorm without scale/shift (Gluon's input normalisation layer)
    stem      conv 64 7x7/2, BN, ReLU, max-pool 3x3/2   (thumbnail: conv 64 3x3/1 only)
    layer1-4  2 basic blocks each, 64/128/256/512 channels, stride 1/2/2/2
    post_bn   BN + ReLU, global average pool, flatten
    head      dense num_classes

Pretrained weights are never downloaded: pass the path of a local file (``.safetensors``
preferred; ``.pth``/``.pt`` state dicts are read with ``torch.load(..., weights_only=True)``)
whose tensor names follow this module's ``state_dict()``. A head of another size (for example
1000 ImageNet classes) is skipped and left randomly initialised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from logobrand.errors import InvalidArgumentError
from logobrand.models.registry import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, register_model


class BasicBlockV2(nn.Module):
    """A pre-activation basic block: ``x + conv(relu(bn(conv(relu(bn(x))))))``.

    Args:
        in_channels: Channels of the input.
        channels: Channels of the output.
        stride: Stride of the first convolution (and of the projection shortcut).
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Conv2d(in_channels, channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        residual = x
        x = torch.relu(self.bn1(x))
        if self.downsample is not None:
            residual = self.downsample(x)
        x = self.conv1(x)
        x = self.conv2(torch.relu(self.bn2(x)))
        return x + residual


class ResNet18V2(nn.Module):
    """Pre-activation ResNet-18.

    Args:
        num_classes: Number of output logits.
        thumbnail: Use Gluon's small-image stem (3x3 convolution, no max-pool) for inputs of
            about 32 x 32 pixels.

    Attributes:
        head: The final ``nn.Linear`` that produces the logits.
        architecture: The registry name (``"resnet18_v2"``), written to ``config.json``.
    """

    architecture = "resnet18_v2"
    channels = (64, 128, 256, 512)

    def __init__(self, num_classes: int, *, thumbnail: bool = False) -> None:
        super().__init__()
        self.data_bn = nn.BatchNorm2d(3, affine=False)
        if thumbnail:
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, 2, 3, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        in_ch = 64
        layers: list[nn.Sequential] = []
        for i, ch in enumerate(self.channels):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlockV2(in_ch, ch, stride), BasicBlockV2(ch, ch, 1)))
            in_ch = ch
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.post_bn = nn.BatchNorm2d(in_ch)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_ch, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a normalised ``(N, 3, S, S)`` batch to ``(N, num_classes)`` logits."""
        x = self.stem(self.data_bn(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.relu(self.post_bn(x))
        logits: torch.Tensor = self.head(torch.flatten(self.pool(x), 1))
        return logits

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Yield every parameter except the head's (what ``train_backbone=False`` freezes)."""
        head = {id(p) for p in self.head.parameters()}
        return (p for p in self.parameters() if id(p) not in head)

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Yield the parameters of the final classifier."""
        return self.head.parameters()


@register_model(
    "resnet18_v2",
    preprocessing=Preprocessing(input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    pretrained_source="a local weights file only (pretrained=<path>); nothing is bundled",
    description="Pre-activation ResNet-18 (He et al. 2016 v2, Gluon resnet18_v2 layout)",
)
def resnet18_v2(
    num_classes: int,
    pretrained: bool | str | Path = False,
    *,
    thumbnail: bool = False,
) -> ResNet18V2:
    """Build a pre-activation ResNet-18.

    Args:
        num_classes: Number of output logits.
        pretrained: ``False`` for random initialisation, or the path of a local weights
            file. ``True`` is an error: no weights are bundled, pass a path instead.
        thumbnail: Use the small-image stem (for inputs of about 32 x 32 pixels).

    Returns:
        A :class:`ResNet18V2`.

    Raises:
        InvalidArgumentError: ``pretrained=True`` or ``num_classes < 1``.
        ModelFormatError: The weights file is unreadable, or a tensor is missing or has
            another shape (the message names the tensor).
    """
    if num_classes < 1:
        raise InvalidArgumentError(f"resnet18_v2 needs num_classes >= 1, got {num_classes}")
    if pretrained is True:
        raise InvalidArgumentError(
            "resnet18_v2 has no bundled pretrained weights and never downloads any; pass "
            "pretrained=<path to a .safetensors (preferred) or .pth file> with tensor names "
            "of ResNet18V2.state_dict(), or pretrained=False"
        )
    model = ResNet18V2(num_classes, thumbnail=thumbnail)
    if pretrained is not False:
        from logobrand.training.state import load_weights

        load_weights(model, pretrained, skip_mismatched_head=True)
    return model


__all__ = ["BasicBlockV2", "ResNet18V2", "resnet18_v2"]
