"""Disparity normalization and the sky offset, as in the published method.

This is the one place the pipeline, the training data and the procedural
landscapes turn a relative disparity into the state the generator sees.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["disparity_percentiles", "normalize_disparity", "compute_sky_offset", "depth_to_disparity"]

#: The nearest content maps to about this value.
NEAR_VALUE = 0.8
#: Disparity is clipped to this range after normalization.
DISPARITY_RANGE = (0.01, 1.0)


def _check_b1hw(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (B, 1, H, W) tensor, got {shape}")


def disparity_percentiles(disparity: Tensor, low: float = 0.01, high: float = 0.97) -> tuple[Tensor, Tensor]:
    """Per-image 1st and 97th percentiles of a relative disparity.

    Args:
        disparity: ``(B, 1, H, W)``, any scale, larger = nearer. Non-finite
            values are ignored.

    Returns:
        ``(p_low, p_high)``, each ``(B, 1, 1, 1)``.
    """
    _check_b1hw(disparity, "disparity")
    flat = disparity.flatten(1).float()
    lows, highs = [], []
    for row in flat:  # per image: nanquantile needs finite/nan data, B is small
        row = row[torch.isfinite(row)]
        if row.numel() == 0:
            row = torch.zeros(1, device=flat.device)
        q = torch.quantile(row, torch.tensor([low, high], device=row.device))
        lows.append(q[0])
        highs.append(q[1])
    shape = (-1, 1, 1, 1)
    return (
        torch.stack(lows).reshape(shape).to(disparity.dtype),
        torch.stack(highs).reshape(shape).to(disparity.dtype),
    )


def normalize_disparity(
    disparity: Tensor,
    p_low: Tensor | None = None,
    p_high: Tensor | None = None,
) -> Tensor:
    """``(d - p1) / (p97 - p1 + 1e-6) * 0.8`` clipped to ``[0.01, 1]``.

    Args:
        disparity: ``(B, 1, H, W)`` relative disparity (larger = nearer).
        p_low, p_high: ``(B, 1, 1, 1)`` percentiles to use; computed from
            ``disparity`` itself when omitted. Pass the crop's percentiles to
            normalize a wider canvas consistently with the crop.

    Returns:
        ``(B, 1, H, W)`` disparity in ``[0.01, 1]``.
    """
    _check_b1hw(disparity, "disparity")
    if p_low is None or p_high is None:
        p_low, p_high = disparity_percentiles(disparity)
    d = torch.nan_to_num(disparity, nan=0.0, posinf=0.0, neginf=0.0)
    out = (d - p_low) / (p_high - p_low + 1e-6) * NEAR_VALUE
    return out.clamp(*DISPARITY_RANGE)


def compute_sky_offset(disparity: Tensor, sky: Tensor, max_disparity: float = 0.08, quantile: float = 0.95) -> Tensor:
    """Disparity below which content counts as sky.

    The 95th percentile of ``disparity`` over pixels that are sky and have
    disparity below 0.08; 0 for an image without such pixels.

    Args:
        disparity: ``(B, 1, H, W)`` normalized disparity.
        sky: ``(B, 1, H, W)`` sky mask (bool or probability; > 0.5 is sky).

    Returns:
        ``(B,)`` tensor.
    """
    _check_b1hw(disparity, "disparity")
    _check_b1hw(sky, "sky")
    sel = (sky > 0.5) & (disparity < max_disparity)
    out = []
    for d, m in zip(disparity.flatten(1), sel.flatten(1)):
        vals = d[m]
        out.append(torch.quantile(vals.float(), quantile).to(d.dtype) if vals.numel() else d.new_zeros(()))
    return torch.stack(out)


def depth_to_disparity(depth: Tensor) -> Tensor:
    """``1 / depth`` with infinite depth (sky) giving 0. Shapes are kept."""
    disp = 1.0 / depth.clamp_min(1e-6)
    return torch.where(torch.isfinite(depth), disp, torch.zeros_like(disp))
