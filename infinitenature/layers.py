"""Sky and ground as two layers that resampling never mixes.

Every linear resampling of the loop's state (the render's splat, the 2x2 average
that shows the refiner its input, the bilinear upsampling of its output, the
feathered blend of warped and painted pixels) turns a pixel at the skyline into a
mixture of sky and ground colour with a disparity above the sky's: a ground pixel
tinted by the sky. The tint is small, but it is made again at every step and a
flight at a hill's crest stretches the ground at the skyline over the whole frame:
after a few hundred frames the hills had turned the colour of the sky.

Here a resampling is applied to each layer on its own: with the ground indicator
``g = disparity > sky_level`` and a linear operation ``op``, a pixel belongs to the
ground when ``s = op(g) > 0.5`` and is then ``op(g x) / s``, the weighted mean of the
ground alone; otherwise it is ``op((1 - g) x) / (1 - s)``, the sky's. Pixels that
only one layer reaches are what ``op`` gives; the layer boundary stays where the
majority of the weight puts it, so it neither grows nor shrinks on average.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .filters import max_filter

__all__ = ["pick_layer", "layered", "layered_blend", "ground_beside_sky"]


def pick_layer(mixed: Tensor, share: Tensor, ground: Tensor) -> Tensor:
    """Each pixel as the mean of one layer, from sums over both.

    Args:
        mixed: ``(B, C, H, W)`` a linear operation's output on the values of both layers.
        share: ``(B, 1, H, W)`` the same operation on the ground indicator (in [0, 1]).
        ground: ``(B, C, H, W)`` the same operation on the values times the indicator.

    Returns:
        ``(B, C, H, W)``: ``ground / share`` where ``share > 0.5``, else
        ``(mixed - ground) / (1 - share)`` (0 where the operation gave 0 weight to both).
    """
    if mixed.shape != ground.shape or share.shape[1] != 1 or share.shape[0] != mixed.shape[0] or share.shape[2:] != mixed.shape[2:]:
        raise ValueError(f"mixed {tuple(mixed.shape)}, share {tuple(share.shape)} and ground {tuple(ground.shape)} do not match")
    share = share.clamp(0, 1)
    front = share > 0.5
    return torch.where(front, ground / share.clamp_min(0.5), (mixed - ground) / (1 - share).clamp_min(1e-6))


def layered(op: Callable[[Tensor], Tensor], values: Tensor, disparity: Tensor, sky_level: float) -> tuple[Tensor, Tensor]:
    """Apply a linear resampling ``op`` to sky and ground separately (module docstring).

    Args:
        op: a linear, per-channel map of ``(B, C, H, W)`` tensors (e.g. ``avg_pool2d``,
            bilinear ``interpolate``), the same for every channel.
        values: ``(B, C, H, W)`` e.g. RGB in [0, 1].
        disparity: ``(B, 1, H, W)`` in (0, 1]; at or below ``sky_level`` is sky.
        sky_level: the disparity of the sky (``PreparedScene.sky_offset``, > 0).

    Returns:
        ``(values, disparity)`` resampled: ``(B, C, H', W')`` and ``(B, 1, H', W')``.
    """
    c = values.shape[1]
    g = (disparity > sky_level).to(values.dtype)
    both = torch.cat([values, disparity.to(values.dtype)], dim=1)
    out = op(torch.cat([both, g, g * both], dim=1))
    picked = pick_layer(out[:, : c + 1], out[:, c + 1 : c + 2], out[:, c + 2 :])
    return picked[:, :c], picked[:, c:]


def layered_blend(
    keep: Tensor, a: Tensor, a_disp: Tensor, b: Tensor, b_disp: Tensor, sky_level: float
) -> tuple[Tensor, Tensor]:
    """``keep * a + (1 - keep) * b`` for values and disparity, sky and ground separately.

    Where ``a`` and ``b`` are the same layer this is the plain blend; where they differ,
    the pixel takes the layer with the larger weight, whole.

    Args:
        keep: ``(B, 1, H, W)`` weights of ``a`` in [0, 1].
        a, b: ``(B, C, H, W)`` values; ``a_disp``, ``b_disp``: ``(B, 1, H, W)`` their disparity.
        sky_level: the disparity of the sky (> 0).

    Returns:
        ``(values, disparity)``, ``(B, C, H, W)`` and ``(B, 1, H, W)``.
    """
    c = a.shape[1]
    xa, xb = torch.cat([a, a_disp], dim=1), torch.cat([b, b_disp], dim=1)
    ga, gb = (a_disp > sky_level).to(a.dtype), (b_disp > sky_level).to(a.dtype)
    picked = pick_layer(keep * xa + (1 - keep) * xb, keep * ga + (1 - keep) * gb, keep * ga * xa + (1 - keep) * gb * xb)
    return picked[:, :c], picked[:, c:]


def ground_beside_sky(disparity: Tensor, sky_level: float, radius: int) -> Tensor:
    """``(B, 1, H, W)`` bool: ground pixels (disparity above ``sky_level``) within ``radius``
    pixels of the sky (a square neighbourhood)."""
    sky = (disparity <= sky_level).to(disparity.dtype)
    return (disparity > sky_level) & (max_filter(sky, int(radius)) > 0)
