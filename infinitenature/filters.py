"""Image filters of the loop: stride-1 max / min over square windows (dilation, erosion) and push-pull hole filling.

PyTorch's ``max_pool2d`` with stride 1 and kornia's ``morphology.erosion`` are slow on
the CPU (about 0.3 ms for a 3 x 3 window on 128 x 128 pixels, 2.3 ms for kornia's 7 x 7
erosion at 256 x 256); the loop runs several of these per frame. ``max_filter`` and
``min_filter`` compute the same result separably from shifted slices.

``push_pull_fill`` fills holes with a smooth blend of the valid content around them
(pyramid diffusion). It is the inpainting baseline of the benchmarks
(``metrics.baselines``) and, with ``GeneratorConfig(hole_fill="push_pull")``, the
refiner's input in the holes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["max_filter", "min_filter", "push_pull_fill", "refill"]


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


def push_pull_fill(x: Tensor, mask: Tensor) -> Tensor:
    """Fill holes by push-pull: average valid pixels down a pyramid, then paste back up.

    Pull: each coarser level is the mask-weighted mean of 2x2 blocks of the
    finer one, with weight ``min(1, sum of the 4 weights)``. Push: from the
    coarsest level up, every level is composited over the bilinearly upsampled
    coarser (already filled) level, ``w * x + (1 - w) * up(coarse)``. Holes get
    a smooth blend of the nearest valid content at all scales; pixels with
    mask 1 are returned unchanged. Works for any size (odd sizes are padded
    by ``ceil_mode`` pooling) and batch; fully vectorised.

    Args:
        x: ``(B, C, H, W)`` values (any range, e.g. RGB in [0, 1] or disparity).
        mask: ``(B, 1, H, W)`` validity weights in ``[0, 1]`` (1 = valid,
            0 = hole); bool is accepted.

    Returns:
        ``(B, C, H, W)`` filled values, in ``x``'s dtype. An image without any
        valid pixel is filled with zeros.

    Example:
        >>> x = torch.full((1, 1, 4, 4), 0.5); x[..., 1, 2] = 9.0  # a hole holding garbage
        >>> m = torch.ones(1, 1, 4, 4); m[..., 1, 2] = 0
        >>> y = push_pull_fill(x, m)
        >>> torch.equal(y * m, x * m), float(y[0, 0, 1, 2])
        (True, 0.5)
    """
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    B, _, H, W = x.shape
    if not isinstance(mask, Tensor) or mask.shape != (B, 1, H, W):
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be ({B}, 1, {H}, {W}), got {shape}")
    work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    w = mask.to(device=x.device, dtype=work).clamp(0.0, 1.0)
    v = x.to(work) * w  # premultiplied values

    # Pull: premultiplied sums and weights, down to 1x1.
    levels = [(v, w)]
    while v.shape[-1] > 1 or v.shape[-2] > 1:
        v_sum = F.avg_pool2d(v, 2, ceil_mode=True, divisor_override=1)
        w_sum = F.avg_pool2d(w, 2, ceil_mode=True, divisor_override=1)
        w = w_sum.clamp(max=1.0)
        v = v_sum * (w / w_sum.clamp_min(1e-12))  # mean colour times the clamped weight
        levels.append((v, w))

    # Push: the coarsest mean (or 0 where nothing was valid), then composite upward.
    v, w = levels[-1]
    filled = v / w.clamp_min(1e-12)
    for v, w in reversed(levels[:-1]):
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        filled = v + (1.0 - w) * up  # v is already premultiplied by w
    # Keep valid pixels bit-exact (the premultiplication above rounds).
    m = mask.to(device=x.device, dtype=work)
    out = torch.where(m >= 1.0, x.to(work), filled)
    return out.to(x.dtype)


def refill(values: Tensor, where: Tensor, source: Tensor, source_values: Tensor | None = None) -> Tensor:
    """``values`` with the pixels ``where`` replaced by the push-pull fill of the pixels ``source``.

    With ``where`` the sky and ``source`` the ground (or the other way round) each layer
    is rebuilt from the other's colours alone: the refiner is shown the ground carried
    into the sky, and its sky is replaced by the warped sky carried into it, so neither
    layer's colour reaches the other through the network (``FlyThroughConfig.sky_layers``).

    Args:
        values: ``(B, C, H, W)`` e.g. RGB in [0, 1].
        where: ``(B, 1, H, W)`` bool, the pixels to replace.
        source: ``(B, 1, H, W)`` bool, the pixels the fill is made of (``filters.push_pull_fill``).
        source_values: ``(B, C, H, W)`` the values the fill is made of (default: ``values``).

    Returns:
        ``(B, C, H, W)``; ``values`` itself where nothing is to be replaced, and in every
        item of the batch without a source pixel.
    """
    if where.dtype != torch.bool or source.dtype != torch.bool:
        raise ValueError(f"where and source must be bool masks, got {where.dtype} and {source.dtype}")
    source_values = values if source_values is None else source_values
    if source_values.shape != values.shape:
        raise ValueError(f"source_values {tuple(source_values.shape)} must be shaped like values {tuple(values.shape)}")
    if not bool(where.any()) or not bool(source.any()):
        return values
    has_source = source.flatten(1).any(dim=1).reshape(-1, 1, 1, 1)
    return torch.where(where & has_source, push_pull_fill(source_values, source.to(values.dtype)), values)
