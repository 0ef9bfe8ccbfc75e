"""Ground-truth metrics: PSNR and SSIM per image, optionally over a mask.

Both take float ``(B, C, H, W)`` tensors in ``[0, max_val]``, or frames in the
library's video format (``uint8 (T, H, W, 3)``, numpy or torch), and return one
value per image. A mask (``(B, 1, H, W)``, bool or weights in ``[0, 1]``)
restricts the average to covered pixels, e.g. the pixels a warp reached.
"""

from __future__ import annotations

import numpy as np
import torch
from kornia.metrics import ssim as kornia_ssim
from torch import Tensor

from .features import to_float_frames

__all__ = ["psnr", "ssim"]


def psnr(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, *, mask: Tensor | None = None, max_val: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(max_val^2 / MSE)``.

    Args:
        pred, target: ``(B, C, H, W)`` float in ``[0, max_val]``, or ``uint8 (B, H, W, 3)``.
        mask: optional ``(B, 1, H, W)`` (or ``(B, C, H, W)``) weights; the MSE is
            the weighted mean over covered pixels.
        max_val: the largest possible value of the float inputs.

    Returns:
        ``(B,)`` PSNR in dB; ``inf`` for identical images, ``nan`` for an empty mask.

    Example:
        >>> x = torch.zeros(1, 3, 4, 4)
        >>> psnr(x + 0.1, x).round(decimals=2)
        tensor([20.])
    """
    pred, target = _pair(pred, target)
    sq = (pred - target) ** 2
    if mask is None:
        mse = sq.mean(dim=(1, 2, 3))
    else:
        w = _mask(mask, pred).expand_as(sq)
        mse = (sq * w).sum(dim=(1, 2, 3)) / w.sum(dim=(1, 2, 3))
    return 10.0 * torch.log10(max_val**2 / mse)


def ssim(
    pred: Tensor | np.ndarray,
    target: Tensor | np.ndarray,
    *,
    mask: Tensor | None = None,
    window_size: int = 11,
    max_val: float = 1.0,
) -> Tensor:
    """Structural similarity per image (Gaussian window, sigma 1.5, via kornia).

    The SSIM map is computed with ``'valid'`` padding, as in the original
    implementation and ``tf.image.ssim``, and averaged over channels and
    positions (weighted by the mask cropped to the valid region).

    Args:
        pred, target: ``(B, C, H, W)`` float in ``[0, max_val]``, or
            ``uint8 (B, H, W, 3)``; ``H, W >= window_size``.
        mask: optional ``(B, 1, H, W)`` (or ``(B, C, H, W)``) weights.
        window_size: odd Gaussian window size.
        max_val: the largest possible value of the float inputs.

    Returns:
        ``(B,)`` SSIM in ``[-1, 1]``; 1 for identical images.

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> ssim(x, x)
        tensor([1., 1.])
    """
    pred, target = _pair(pred, target)
    if window_size % 2 == 0 or min(pred.shape[-2:]) < window_size:
        raise ValueError(f"window_size must be odd and <= image size {tuple(pred.shape[-2:])}, got {window_size}")
    smap = kornia_ssim(pred, target, window_size, max_val=max_val, padding="valid")
    if mask is None:
        return smap.mean(dim=(1, 2, 3))
    r = window_size // 2
    w = _mask(mask, pred)[..., r : pred.shape[-2] - r, r : pred.shape[-1] - r].expand_as(smap)
    return (smap * w).sum(dim=(1, 2, 3)) / w.sum(dim=(1, 2, 3))


def _pair(pred, target) -> tuple[Tensor, Tensor]:
    pred, target = _image(pred, "pred"), _image(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return pred, target.to(pred)


def _image(x, name: str) -> Tensor:
    if isinstance(x, np.ndarray) or (isinstance(x, Tensor) and x.dtype == torch.uint8):
        return to_float_frames(x, name=name)
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 4:
        desc = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a float (B, C, H, W) tensor or uint8 (B, H, W, 3) frames, got {desc}")
    return x


def _mask(mask: Tensor, like: Tensor) -> Tensor:
    B, C, H, W = like.shape
    if not isinstance(mask, Tensor) or mask.dim() != 4 or mask.shape[0] != B or mask.shape[1] not in (1, C) or mask.shape[2:] != (H, W):
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be (B, 1, H, W) = ({B}, 1, {H}, {W}), got {shape}")
    return mask.to(like)
