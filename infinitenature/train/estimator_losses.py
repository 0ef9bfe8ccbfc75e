"""Training losses and evaluation metrics of the depth and sky estimators.

Depth is learned up to scale and shift (a photo's disparity has no absolute
scale): ``ssi_loss`` aligns the prediction to the target by least squares per
image before an L1, and ``gradient_matching_loss`` asks the aligned residual to
be flat at several scales (sharp, well-placed depth edges), as in MiDaS
(Ranftl et al., TPAMI 2020). Sky is binary segmentation: BCE + soft dice.

Metrics: ``sky_iou`` (intersection over union at 0.5) and
``ordinal_agreement`` (the fraction of random pixel pairs whose disparity
order the prediction gets right).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "align_scale_shift",
    "ssi_loss",
    "gradient_matching_loss",
    "dice_loss",
    "sky_loss",
    "sky_iou_counts",
    "ordinal_agreement_counts",
]


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 1:
        raise ValueError(f"pred and target must both be (B, 1, H, W), got {tuple(pred.shape)} and {tuple(target.shape)}")


def align_scale_shift(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Per image ``s * pred + t`` with ``(s, t)`` minimising the squared error to ``target``.

    Args:
        pred, target: ``(B, 1, H, W)``.
        mask: optional ``(B, 1, H, W)`` weights (1 = use the pixel).

    Returns:
        ``(B, 1, H, W)`` aligned prediction (differentiable in ``pred``).
    """
    _check_pair(pred, target)
    m = torch.ones_like(pred) if mask is None else mask.to(pred.dtype)
    n = m.sum((1, 2, 3)).clamp_min(1)
    a00 = (m * pred * pred).sum((1, 2, 3))
    a01 = (m * pred).sum((1, 2, 3))
    b0 = (m * pred * target).sum((1, 2, 3))
    b1 = (m * target).sum((1, 2, 3))
    det = a00 * n - a01 * a01
    ok = det.abs() > 1e-8
    det = torch.where(ok, det, torch.ones_like(det))
    s = torch.where(ok, (n * b0 - a01 * b1) / det, torch.ones_like(det))
    t = torch.where(ok, (a00 * b1 - a01 * b0) / det, (b1 - a01) / n)
    return s.view(-1, 1, 1, 1) * pred + t.view(-1, 1, 1, 1)


def ssi_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scale-and-shift-invariant L1: mean ``|align(pred) - target|`` (a scalar)."""
    aligned = align_scale_shift(pred, target, mask)
    m = torch.ones_like(pred) if mask is None else mask.to(pred.dtype)
    return ((aligned - target).abs() * m).sum() / m.sum().clamp_min(1)


def gradient_matching_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, *, scales: int = 4) -> Tensor:
    """Multi-scale gradient matching on the aligned residual (a scalar).

    ``sum_k mean(|d/dx R_k| + |d/dy R_k|)`` with ``R_k`` the residual
    ``align(pred) - target`` subsampled by ``2**k``.
    """
    residual = align_scale_shift(pred, target, mask) - target
    m = torch.ones_like(pred) if mask is None else mask.to(pred.dtype)
    total = pred.new_zeros(())
    for k in range(scales):
        step = 2**k
        r, w = residual[..., ::step, ::step], m[..., ::step, ::step]
        if r.shape[-1] < 2 or r.shape[-2] < 2:
            break
        wx = w[..., :, 1:] * w[..., :, :-1]
        wy = w[..., 1:, :] * w[..., :-1, :]
        gx = (r[..., :, 1:] - r[..., :, :-1]).abs() * wx
        gy = (r[..., 1:, :] - r[..., :-1, :]).abs() * wy
        total = total + (gx.sum() + gy.sum()) / (wx.sum() + wy.sum()).clamp_min(1)
    return total


def dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """Soft dice loss ``1 - 2|P∩T| / (|P| + |T|)`` per image, averaged (a scalar).

    ``weight`` (``(B, 1, H, W)``, optional) leaves out pixels where it is 0.
    """
    _check_pair(logits, target)
    p = torch.sigmoid(logits)
    if weight is not None:
        p, target = p * weight, target * weight
    inter = (p * target).sum((1, 2, 3))
    denom = p.sum((1, 2, 3)) + target.sum((1, 2, 3))
    return (1 - (2 * inter + eps) / (denom + eps)).mean()


def sky_loss(logits: Tensor, target: Tensor, *, dice_weight: float = 0.5, weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy + ``dice_weight`` x dice (a scalar); ``target`` in ``[0, 1]``.

    ``weight`` (``(B, 1, H, W)``, optional, e.g. 0 on uncertain mask pixels)
    weights the cross-entropy per pixel and masks the dice term.
    """
    _check_pair(logits, target)
    if weight is None:
        return F.binary_cross_entropy_with_logits(logits, target) + dice_weight * dice_loss(logits, target)
    _check_pair(weight, target)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).sum() / weight.sum().clamp_min(1)
    return bce + dice_weight * dice_loss(logits, target, weight=weight)


def sky_iou_counts(prob: Tensor, target: Tensor, threshold: float = 0.5) -> tuple[int, int]:
    """``(intersection, union)`` pixel counts of ``prob > t`` vs ``target > t``, summed over the batch.

    Sum the counts over a data set and divide once: the data-set IoU.
    """
    _check_pair(prob, target)
    p, t = prob > threshold, target > threshold
    return int((p & t).sum()), int((p | t).sum())


def ordinal_agreement_counts(
    pred: Tensor,
    target: Tensor,
    *,
    pairs: int = 5000,
    min_ratio: float = 1.05,
    generator: torch.Generator | None = None,
) -> tuple[int, int]:
    """``(correct, total)`` over random pixel pairs whose disparity order the prediction gets right.

    Per image ``pairs`` random pixel pairs are drawn; pairs whose true
    disparities differ by less than ``min_ratio`` (e.g. two sky pixels) are not
    counted. A pair is correct when ``sign(pred_i - pred_j) == sign(target_i - target_j)``.

    Args:
        pred: ``(B, 1, H, W)`` any relative disparity (larger = nearer).
        target: ``(B, 1, H, W)`` true disparity, positive.
        generator: draws the pairs (on CPU) for reproducible numbers.
    """
    _check_pair(pred, target)
    b = pred.shape[0]
    n = pred[0].numel()
    idx = torch.randint(0, n, (b, 2, pairs), generator=generator).to(pred.device)
    p = pred.flatten(1)
    t = target.flatten(1).clamp_min(1e-9)
    pi, pj = p.gather(1, idx[:, 0]), p.gather(1, idx[:, 1])
    ti, tj = t.gather(1, idx[:, 0]), t.gather(1, idx[:, 1])
    valid = torch.maximum(ti / tj, tj / ti) >= min_ratio
    correct = (torch.sign(pi - pj) == torch.sign(ti - tj)) & valid
    return int(correct.sum()), int(valid.sum())
