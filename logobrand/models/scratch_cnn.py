"""``scratch_cnn``: the small CNN of the O'Reilly MXNet logo-detection tutorial, in PyTorch.

The network, layer by layer (input ``224 x 224``)::

    conv 96, 11x11, stride 4  + ReLU     -> 96 x 54 x 54
    max-pool 3x3, stride 2               -> 96 x 26 x 26
    conv 192, 5x5, padding 2  + ReLU     -> 192 x 26 x 26
    max-pool 3x3, stride 2               -> 192 x 12 x 12
    adaptive max-pool to 12 x 12         (identity at 224; lets other sizes work)
    flatten, dense 4096 + ReLU, dropout 0.5
    dense num_classes                    (the ``head``)

It is trained from scratch: no pretrained weights exist, so ``pretrained=True`` is an error;
a path to a weights file saved from this architecture is loaded. Inputs must be at least
35 x 35 pixels (the second max-pool needs a 3 x 3 map).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from logobrand.errors import InvalidArgumentError
from logobrand.models.registry import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, register_model

MIN_INPUT_SIZE = 35
"""The smallest input side the network accepts."""


class ScratchCNN(nn.Module):
    """The tutorial's two-convolution network with a 4096-unit dense layer.

    Args:
        num_classes: Number of output logits.
        hidden: Width of the dense layer (4096 in the tutorial).
        dropout: Dropout probability after the dense layer.
        pooled_size: Side of the feature map fed to the dense layer (12 = the size a
            224 x 224 input produces, so that input runs exactly as in the tutorial).

    Attributes:
        features: The convolutional part.
        classifier: Flatten, dense, ReLU, dropout.
        head: The final ``nn.Linear`` that produces the logits.
        architecture: The registry name (``"scratch_cnn"``), written to ``config.json``.
    """

    architecture = "scratch_cnn"

    def __init__(
        self,
        num_classes: int,
        *,
        hidden: int = 4096,
        dropout: float = 0.5,
        pooled_size: int = 12,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(96, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.AdaptiveMaxPool2d(pooled_size),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(192 * pooled_size * pooled_size, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a normalised ``(N, 3, S, S)`` batch to ``(N, num_classes)`` logits."""
        logits: torch.Tensor = self.head(self.classifier(self.features(x)))
        return logits

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Yield every parameter except the head's (what ``train_backbone=False`` freezes)."""
        head = {id(p) for p in self.head.parameters()}
        return (p for p in self.parameters() if id(p) not in head)

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Yield the parameters of the final classifier."""
        return self.head.parameters()


@register_model(
    "scratch_cnn",
    preprocessing=Preprocessing(input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    pretrained_source="none: trained from scratch (the O'Reilly MXNet tutorial network)",
    description="The O'Reilly tutorial CNN (2 convolutions + 4096 dense), trained from scratch",
)
def scratch_cnn(
    num_classes: int,
    pretrained: bool | str | Path = False,
    *,
    hidden: int = 4096,
    dropout: float = 0.5,
    pooled_size: int = 12,
) -> ScratchCNN:
    """Build the tutorial CNN.

    Args:
        num_classes: Number of output logits.
        pretrained: ``False``, or a path to weights saved from this architecture
            (``.safetensors``, or a ``.pth``/``.pt`` state dict). ``True`` is an error:
            no pretrained weights exist for this network. A head of another size in the
            file (other classes) is skipped and left randomly initialised.
        hidden: Width of the dense layer.
        dropout: Dropout probability after the dense layer.
        pooled_size: Side of the feature map before flattening.

    Returns:
        A :class:`ScratchCNN`.

    Raises:
        InvalidArgumentError: ``pretrained=True``, or a bad size argument.
        ModelFormatError: The weights file is unreadable or does not fit the network.
    """
    if num_classes < 1 or hidden < 1 or pooled_size < 1 or not 0.0 <= dropout < 1.0:
        raise InvalidArgumentError(
            f"scratch_cnn needs num_classes >= 1, hidden >= 1, pooled_size >= 1 and "
            f"0 <= dropout < 1; got num_classes={num_classes}, hidden={hidden}, "
            f"pooled_size={pooled_size}, dropout={dropout}"
        )
    if pretrained is True:
        raise InvalidArgumentError(
            "scratch_cnn has no pretrained weights (it is trained from scratch); use "
            "pretrained=False, or pass the path of a .safetensors/.pth file saved from it"
        )
    model = ScratchCNN(num_classes, hidden=hidden, dropout=dropout, pooled_size=pooled_size)
    if pretrained is not False:
        from logobrand.training.state import load_weights

        load_weights(model, pretrained, skip_mismatched_head=True)
    return model


__all__ = ["MIN_INPUT_SIZE", "ScratchCNN", "scratch_cnn"]
