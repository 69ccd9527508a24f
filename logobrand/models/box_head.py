"""A light box head on a frozen trunk: where the logos are, class-agnostic.

The head reads two feature maps of the classifier's trunk that the exported ONNX model gives
beside its logits (EfficientNet-Lite0: ``"features_s16"``, the last stride-16 block, 20x20 for
a 320 px input, and ``"features_s32"``, the last feature map, 10x10). The coarse map is reduced
and upsampled to the fine grid, both are concatenated, and two depthwise-separable blocks
score every cell of the fine grid (FCOS-like, Tian et al. 2019):

* ``"box_scores"`` ``(N, 1, h, w)``: the probability that the cell is near the centre of a
  logo (trained on the "centerness" of the cells inside each annotated box);
* ``"box_ltrb"`` ``(N, 4, h, w)``: the distances from the cell's centre to the box's left,
  top, right and bottom sides, as fractions of the (squashed) photo's width and height.

It adds about 28 M multiply-adds to the trunk's 800 M and runs as its own small ONNX file
(``box_head.onnx`` in the model directory), so plain classification does not run it.
:func:`logobrand.training.boxes.train_box_head` trains it; :mod:`logobrand.inference.boxes`
decodes its output into boxes.
"""

from __future__ import annotations

import torch
from torch import nn

BOX_HEAD_INPUTS = ("features_s16", "features_s32")
"""ONNX outputs of the classifier that the box head reads (and its own input names)."""
BOX_HEAD_OUTPUTS = ("box_scores", "box_ltrb")
"""Output names of the exported box head."""
DEFAULT_WIDTH = 96
"""Channels inside the head."""


class BoxHead(nn.Module):
    """Score every cell of the fine feature grid and regress a box from it.

    Args:
        fine_channels: Channels of the stride-16 map (``features_s16``).
        coarse_channels: Channels of the stride-32 map (``features_s32``), half its size.
        width: Channels inside the head.
    """

    def __init__(self, fine_channels: int, coarse_channels: int, width: int = DEFAULT_WIDTH):
        super().__init__()
        self.fine = nn.Sequential(nn.Conv2d(fine_channels, width, 1), nn.ReLU())
        self.coarse = nn.Sequential(nn.Conv2d(coarse_channels, width, 1), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(2 * width, 2 * width, 3, padding=1, groups=2 * width),
            nn.Conv2d(2 * width, width, 1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, groups=width),
            nn.Conv2d(width, width, 1),
            nn.ReLU(),
        )
        self.score = nn.Conv2d(width, 1, 1)
        self.ltrb = nn.Conv2d(width, 4, 1)
        with torch.no_grad():
            self.score.bias.fill_(-4.0)  # type: ignore[union-attr]  # most cells hold no logo

    def forward(
        self, fine: torch.Tensor, coarse: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(score_logits (N, 1, h, w), ltrb (N, 4, h, w))``, ``ltrb`` in photo sides."""
        up = nn.functional.interpolate(self.coarse(coarse), size=fine.shape[-2:], mode="nearest")
        x = self.body(torch.cat([self.fine(fine), up], 1))
        side = float(fine.shape[-1])
        ltrb = torch.exp(self.ltrb(x).clamp(max=4.0)) / side
        return self.score(x), ltrb


class ExportedBoxHead(nn.Module):
    """The head as exported: scores as probabilities (a sigmoid), distances as they are."""

    def __init__(self, head: BoxHead) -> None:
        super().__init__()
        self.head = head

    def forward(
        self, fine: torch.Tensor, coarse: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, ltrb = self.head(fine, coarse)
        return torch.sigmoid(logits), ltrb


__all__ = [
    "BOX_HEAD_INPUTS",
    "BOX_HEAD_OUTPUTS",
    "DEFAULT_WIDTH",
    "BoxHead",
    "ExportedBoxHead",
]
