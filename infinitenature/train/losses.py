"""Named training losses (rosinality's style: one small function each).

Images handed to the discriminator are RGBD in ``[-1, 1]``; reconstruction
losses compare RGBD in ``[0, 1]`` (RGB then normalized disparity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "l1_rgbd",
    "laplacian_pyramid_l1",
    "texture_filters",
    "texture_gram_loss",
    "d_logistic_loss",
    "g_nonsaturating_loss",
    "d_r1_loss",
    "d_patch_loss",
    "g_patch_loss",
    "patch_weights",
]


def _check_rgbd(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (B, 4, H, W) RGBD tensor, got {shape}")


def l1_rgbd(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Mean absolute error on RGB and on disparity, separately.

    Args:
        pred, target: ``(B, 4, H, W)`` RGBD in ``[0, 1]``.

    Returns:
        ``(rgb_l1, disparity_l1)`` scalars.
    """
    _check_rgbd(pred, "pred")
    _check_rgbd(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    err = (pred - target).abs()
    return err[:, :3].mean(), err[:, 3:].mean()


def laplacian_pyramid_l1(pred: Tensor, target: Tensor, *, levels: int = 4) -> Tensor:
    """L1 between Laplacian pyramids (a cheap perceptual-ish term, as in Bojanowski et al. 2018).

    The per-pixel mean L1 of each band-pass level (and of the final low-pass)
    is averaged over the ``levels + 1`` levels, so coarse structure counts as
    much as fine detail. A constant offset ``c`` costs ``|c| / (levels + 1)``.

    Args:
        pred, target: ``(B, C, H, W)`` images (any range, same shape).

    Returns:
        Scalar.
    """
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred and target must be equal (B, C, H, W) shapes, got {tuple(pred.shape)} and {tuple(target.shape)}")
    loss = pred.new_zeros(())
    a, b = pred, target
    for level in range(levels):
        if min(a.shape[-2:]) < 2:
            loss = loss + (a - b).abs().mean()
            return loss / (level + 1)
        a_down, b_down = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        a_band = a - F.interpolate(a_down, size=a.shape[-2:], mode="bilinear", align_corners=False)
        b_band = b - F.interpolate(b_down, size=b.shape[-2:], mode="bilinear", align_corners=False)
        loss = loss + (a_band - b_band).abs().mean()
        a, b = a_down, b_down
    loss = loss + (a - b).abs().mean()
    return loss / (levels + 1)


#: Luminance weights (ITU-R BT.601) of the texture loss.
_LUMA = (0.299, 0.587, 0.114)


def texture_filters(channels: int = 32, size: int = 5, *, colour: bool = True, seed: int = 0) -> Tensor:
    """Fixed random filters for ``texture_gram_loss``: zero-mean (blind to flat colour), unit norm.

    Random, untrained filters capture much of a texture's statistics (Ustyuzhaninov
    et al., "What does it take to generate natural textures?", ICLR 2017); no
    pretrained network can be downloaded here.

    Args:
        channels: number of filters.
        size: odd side of each filter.
        colour: filters over RGB (so colour in the texture counts: blotches of a hue
            the photo does not have there cost), or over the luminance alone.
        seed: the same seed, the same filters.

    Returns:
        ``(channels, 3 or 1, size, size)`` float32; each filter sums to 0 over space in every
        input channel.
    """
    if channels < 1 or size < 3 or size % 2 == 0:
        raise ValueError(f"need channels >= 1 and an odd size >= 3, got {channels} and {size}")
    g = torch.Generator().manual_seed(int(seed))
    w = torch.randn(channels, 3 if colour else 1, size, size, generator=g)
    w = w - w.mean(dim=(2, 3), keepdim=True)
    return w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def _masked_grams(img: Tensor, mask: Tensor, filters: Tensor, scales: int) -> list[Tensor]:
    if filters.shape[1] == 3:
        x = img[:, :3]
    else:
        x = (img[:, :3] * img.new_tensor(_LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    m = mask.to(x.dtype)
    pad = filters.shape[-1] // 2
    grams = []
    for level in range(scales):
        if level:
            x, m = F.avg_pool2d(x, 2), F.avg_pool2d(m, 2)
        f = F.relu(F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), filters.to(x)))
        area = m.sum(dim=(2, 3)).clamp_min(1e-6).unsqueeze(-1)  # (B, 1, 1)
        grams.append(torch.einsum("bchw,bdhw->bcd", f * m, f) / area)
    return grams


def texture_gram_loss(pred: Tensor, target: Tensor, mask: Tensor, filters: Tensor, *, scales: int = 3) -> Tensor:
    """Texture (style) loss: how far ``pred``'s fine structure statistics inside ``mask`` are from ``target``'s.

    Each image (its RGB, or its luminance for one-channel filters) goes through fixed
    random filters (``texture_filters``) and a ReLU at ``scales`` scales (2x apart); per
    sample and scale, the Gram matrix of the responses is averaged over the
    pixels ``mask`` weights. The loss is the L1 distance of ``pred``'s Gram
    matrices from ``target``'s relative to the L1 size of ``target``'s, averaged
    over the scales: 0 for the same statistics, about 1 for a flat fill of
    textured ground, more for added noise or blotches. Unlike L1 it does not ask
    for the exact texture at each pixel, only for its kind, so the best guess
    under it is not a blur (the "style loss" of inpainting: Liu et al. 2018,
    with random filters in place of VGG's).

    Args:
        pred, target: ``(B, C>=3, H, W)`` images in ``[0, 1]`` (the first three channels are RGB).
        mask: ``(B, 1, H, W)`` in ``[0, 1]``: where to compare (e.g. the painted pixels).
        filters: ``(F, 3, k, k)`` or ``(F, 1, k, k)`` from ``texture_filters``.
        scales: how many scales (>= 1).

    Returns:
        Scalar >= 0 (0 when ``mask`` is empty).
    """
    if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] < 3:
        raise ValueError(f"pred and target must be equal (B, C>=3, H, W) shapes, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if mask.shape != (pred.shape[0], 1, *pred.shape[-2:]):
        raise ValueError(f"mask must be {(pred.shape[0], 1, *pred.shape[-2:])}, got {tuple(mask.shape)}")
    if scales < 1:
        raise ValueError(f"scales must be >= 1, got {scales}")
    loss = pred.new_zeros(())
    for gp, gt in zip(_masked_grams(pred, mask, filters, scales), _masked_grams(target, mask, filters, scales)):
        loss = loss + (gp - gt).abs().sum() / gt.abs().sum().clamp_min(1e-8)
    return loss / scales


def d_logistic_loss(real_pred: Tensor, fake_pred: Tensor) -> Tensor:
    """Discriminator logistic loss: ``softplus(-D(real)) + softplus(D(fake))``, batch means."""
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def g_nonsaturating_loss(fake_pred: Tensor) -> Tensor:
    """Non-saturating generator loss ``softplus(-D(fake))``, batch mean."""
    return F.softplus(-fake_pred).mean()


def patch_weights(fake_pred: Tensor, painted: Tensor) -> Tensor:
    """``painted`` ``(N, 1, H, W)`` area-averaged to the logit map of ``fake_pred`` ``(N, 1, h, w)``:
    the painted share of each patch, in ``[0, 1]``."""
    if painted.shape[0] != fake_pred.shape[0] or painted.shape[1] != 1 or painted.dim() != 4:
        raise ValueError(f"painted must be (N, 1, H, W) for logits {tuple(fake_pred.shape)}, got {tuple(painted.shape)}")
    return F.adaptive_avg_pool2d(painted.to(fake_pred.dtype), fake_pred.shape[-2:])


def d_patch_loss(real_pred: Tensor, fake_pred: Tensor, painted: Tensor) -> Tensor:
    """Patch discriminator loss with the painted share of each patch as its fake label.

    A patch of a generated frame counts as fake in proportion to the share of its
    pixels the generator painted, and as real for the rest (it shows the photo's own
    pixels); every patch of a real photo is real (LaMa's masked patch loss).

    Args:
        real_pred: ``(N, 1, h, w)`` logits of real photos.
        fake_pred: ``(N, 1, h, w)`` logits of generated frames.
        painted: ``(N, 1, H, W)`` in ``[0, 1]``: 1 where the generator painted the pixel.
    Returns:
        scalar, patch means.
    """
    w = patch_weights(fake_pred, painted)
    fake = w * F.softplus(fake_pred) + (1.0 - w) * F.softplus(-fake_pred)
    return F.softplus(-real_pred).mean() + fake.mean()


def g_patch_loss(fake_pred: Tensor, painted: Tensor) -> Tensor:
    """Non-saturating generator loss on the painted patches only (weighted by their painted share)."""
    w = patch_weights(fake_pred, painted)
    return (w * F.softplus(-fake_pred)).sum() / w.sum().clamp(min=1e-6)


def d_r1_loss(real_pred: Tensor, real_input: Tensor) -> Tensor:
    """R1 penalty ``E |grad_x D(x)|^2`` on real data (Mescheder et al. 2018).

    ``real_input`` must have ``requires_grad=True`` and ``real_pred`` must be
    computed from it. The graph is kept (``create_graph=True``) so that the
    penalty can be back-propagated into D. Multiply by ``gamma / 2`` outside.
    """
    if not real_input.requires_grad:
        raise ValueError("real_input must require grad (call real_input.requires_grad_(True) before D)")
    (grad,) = torch.autograd.grad(outputs=real_pred.sum(), inputs=real_input, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
