"""Edge-aware refinement of soft masks: the guided filter (He, Sun, Tang, ECCV 2010).

A sky mask predicted at a low working resolution and upsampled is blurry along
the skyline. The guided filter fits it, in every local window, as a linear
function of the photo's colour (``q = a . I + b``); fitting at the low
resolution and evaluating at full resolution (the *fast* guided filter) gives a
mask whose edges are the photo's edges, for the price of a few box filters at
the low resolution. The box filters use cumulative sums, so their cost does not
depend on the radius.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["box_filter", "guided_filter", "guided_upsample", "refine_mask"]


def _box_filter_1d(x: Tensor, radius: int, dim: int) -> Tensor:
    # Mean over a window of 2r+1 samples along ``dim`` with replicated borders,
    # computed as a difference of cumulative sums (float64 on CPU for accuracy).
    n = x.shape[dim]
    work = x.double() if x.device.type == "cpu" else x.float()
    # F.pad pads the last dims first; build padding for ``dim`` only.
    idx = x.dim() - 1 - dim
    pad = [0, 0] * (x.dim() - 2)
    pad[2 * idx : 2 * idx + 2] = [radius + 1, radius]
    padded = F.pad(work, pad, mode="replicate")
    csum = padded.cumsum(dim)
    hi = csum.narrow(dim, 2 * radius + 1, n)
    lo = csum.narrow(dim, 0, n)
    return ((hi - lo) / (2 * radius + 1)).to(x.dtype)


def box_filter(x: Tensor, radius: int) -> Tensor:
    """Mean over ``(2r+1) x (2r+1)`` windows with replicated borders.

    Args:
        x: ``(B, C, H, W)`` tensor.
        radius: window radius ``r >= 0`` in pixels.

    Returns:
        ``(B, C, H, W)`` box-filtered tensor.
    """
    if x.dim() != 4:
        raise ValueError(f"box_filter expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if radius == 0:
        return x
    return _box_filter_1d(_box_filter_1d(x, radius, 2), radius, 3)


def _coefficients(guide: Tensor, src: Tensor, radius: int, eps: float) -> tuple[Tensor, Tensor]:
    """Window-averaged linear coefficients ``(a (B, C, H, W) per src channel, b)`` of ``src ~ a . guide + b``."""
    b_, c, h, w = guide.shape
    mean_i = box_filter(guide, radius)
    outs_a, outs_b = [], []
    if c == 1:
        var = box_filter(guide * guide, radius) - mean_i * mean_i
    else:  # per-pixel C x C covariance of the guide
        prod = (guide[:, :, None] * guide[:, None, :]).flatten(1, 2)
        cov = box_filter(prod, radius).view(b_, c, c, h, w) - mean_i[:, :, None] * mean_i[:, None, :]
        sigma = cov.permute(0, 3, 4, 1, 2) + eps * torch.eye(c, dtype=guide.dtype, device=guide.device)
    for k in range(src.shape[1]):  # usually one channel (a mask)
        p = src[:, k : k + 1]
        mean_p = box_filter(p, radius)
        cov_ip = box_filter(guide * p, radius) - mean_i * mean_p
        if c == 1:
            a = cov_ip / (var.clamp_min(0) + eps)
        else:
            a = torch.linalg.solve(sigma, cov_ip.permute(0, 2, 3, 1)[..., None])[..., 0].permute(0, 3, 1, 2)
        b = mean_p - (a * mean_i).sum(1, keepdim=True)
        outs_a.append(box_filter(a, radius))
        outs_b.append(box_filter(b, radius))
    return torch.stack(outs_a, 1), torch.cat(outs_b, 1)


def _check(guide: Tensor, src: Tensor) -> None:
    if guide.dim() != 4 or guide.shape[1] not in (1, 3):
        raise ValueError(f"guide must be (B, 1|3, H, W), got shape {tuple(guide.shape)}")
    if src.dim() != 4 or src.shape[0] != guide.shape[0]:
        raise ValueError(f"src must be (B, C, H, W) with the guide's batch {guide.shape[0]}, got {tuple(src.shape)}")


def guided_filter(guide: Tensor, src: Tensor, *, radius: int, eps: float = 1e-3) -> Tensor:
    """Guided filter: edge-preserving smoothing of ``src`` steered by ``guide``.

    In every ``(2r+1)^2`` window ``src`` is fitted as ``a . guide + b``; the
    averaged fits are evaluated at each pixel. A colour guide uses the full
    ``3 x 3`` colour covariance (He et al., Eq. 14).

    Args:
        guide: ``(B, 1, H, W)`` or ``(B, 3, H, W)`` guide image in ``[0, 1]``.
        src: ``(B, C, H, W)`` image to filter (e.g. a mask in ``[0, 1]``).
        radius: window radius in pixels.
        eps: regularisation; larger smooths more across weak edges.

    Returns:
        ``(B, C, H, W)`` filtered ``src``.

    Example:
        >>> img = torch.zeros(1, 3, 16, 16); img[..., 8:] = 1
        >>> guided_filter(img, torch.rand(1, 1, 16, 16), radius=2).shape
        torch.Size([1, 1, 16, 16])
    """
    _check(guide, src)
    if src.shape[-2:] != guide.shape[-2:]:
        raise ValueError(f"src size {tuple(src.shape[-2:])} must match the guide's {tuple(guide.shape[-2:])}")
    a, b = _coefficients(guide, src, radius, eps)
    return (a * guide[:, None]).sum(2) + b


def guided_upsample(src: Tensor, guide: Tensor, *, radius: int = 2, eps: float = 1e-3) -> Tensor:
    """Fast guided filter (He & Sun 2015): fit ``src ~ a . guide + b`` at ``src``'s low
    resolution, upsample ``a, b`` bilinearly and evaluate them on the full-resolution guide.

    The result has the guide's sharp edges wherever the low-resolution ``src``
    changes along with the guide's colour, at the cost of a low-resolution filter.

    Args:
        src: ``(B, C, h, w)`` low-resolution map (e.g. sky probability).
        guide: ``(B, 1|3, H, W)`` full-resolution image in ``[0, 1]``.
        radius: window radius in low-resolution pixels.
        eps: regularisation.

    Returns:
        ``(B, C, H, W)``.
    """
    _check(guide, src)
    size = tuple(guide.shape[-2:])
    low = F.interpolate(guide, size=src.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    a, b = _coefficients(low, src, radius, eps)
    up = dict(size=size, mode="bilinear", align_corners=False)
    a = F.interpolate(a.flatten(1, 2), **up).view(a.shape[0], a.shape[1], a.shape[2], *size)
    return (a * guide[:, None]).sum(2) + F.interpolate(b, **up)


def refine_mask(mask: Tensor, image: Tensor, *, radius: int = 2, eps: float = 1e-3) -> Tensor:
    """Upsample a low-resolution mask to ``image``'s size with edges snapped to the image.

    Args:
        mask: ``(B, 1, h, w)`` probabilities in ``[0, 1]`` at the network's resolution.
        image: ``(B, 3, H, W)`` in ``[0, 1]``, the full-resolution photo.
        radius: guided-filter window radius in low-resolution pixels.
        eps: guided-filter regularisation (larger = smoother, closer to bilinear).

    Returns:
        ``(B, 1, H, W)`` refined probabilities in ``[0, 1]``.
    """
    return guided_upsample(mask, image, radius=radius, eps=eps).clamp(0.0, 1.0)
