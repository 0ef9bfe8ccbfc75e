"""Stride-1 max / min filters over square windows (morphological dilation and erosion).

PyTorch's ``max_pool2d`` with stride 1 and kornia's ``morphology.erosion`` are slow on
the CPU (about 0.3 ms for a 3 x 3 window on 128 x 128 pixels, 2.3 ms for kornia's 7 x 7
erosion at 256 x 256); the loop runs several of these per frame. These compute the
same result separably from shifted slices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["max_filter", "min_filter"]


def max_filter(x: Tensor, radius: int) -> Tensor:
    """Maximum over the ``(2 radius + 1)`` square around each pixel (outside the image counts as -inf).

    The same as ``max_pool2d(x, 2 * radius + 1, stride=1, padding=radius)``, computed
    separably from shifted slices: several times faster on the CPU, where stride-1
    max pooling is slow (about 0.3 ms for a 3 x 3 window on 128 x 128 pixels).

    Args:
        x: ``(..., H, W)`` tensor.
        radius: half-width of the window in pixels (0 returns ``x``).

    Returns:
        Tensor of the same shape.
    """
    if radius <= 0:
        return x
    H, W = x.shape[-2:]
    k = 2 * radius + 1
    p = F.pad(x, (radius, radius, 0, 0), value=float("-inf"))
    out = p[..., :, 0:W]
    for i in range(1, k):
        out = torch.maximum(out, p[..., :, i : i + W])
    p = F.pad(out, (0, 0, radius, radius), value=float("-inf"))
    out = p[..., 0:H, :]
    for i in range(1, k):
        out = torch.maximum(out, p[..., i : i + H, :])
    return out


def min_filter(x: Tensor, radius: int) -> Tensor:
    """Minimum over the ``(2 radius + 1)`` square around each pixel (outside the image counts as +inf).

    Equal to ``kornia.morphology.erosion(x, torch.ones(k, k))`` with its default
    geodesic border, ``k = 2 radius + 1``.
    """
    return x if radius <= 0 else -max_filter(-x, radius)
