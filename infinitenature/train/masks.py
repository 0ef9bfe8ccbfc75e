"""Masks for masked image modeling (stage 1).

Two kinds of mask, mixed per item:

* random blocks: a grid of ``patch`` x ``patch`` blocks of which a random,
  high fraction is hidden (as in masked autoencoders);
* real disocclusions: the RGBD is warped to a random nearby camera and back;
  what survives the round trip is valid, the rest (content hidden from the
  other view, depth edges, the border that left the frame) is a hole with the
  shapes the generator meets at inference time.

Optionally (``magnify_blur``) an item's input is also blurred the way a surface
looks when the camera has flown so close that it is magnified beyond the
resolution it was seen at: shrunk by a factor and stretched back. The target
stays the sharp photo, so that the refiner is asked to restore detail in what it
keeps seeing, not only to fill holes (the published refiner re-synthesizes every
pixel of every frame; this is that job with a ground truth). At the shipped
weights' scale (a 4.4 M-parameter refiner, a few CPU hours) it does not learn to.

Optionally (``sky``) the refiner is shown what the loop shows it with
``FlyThroughConfig.sky_layers``: no sky colour, the visible ground's colour carried
into the sky instead (``layers.refill``).

Masks are float ``(B, 1, H, W)`` in ``{0, 1}``, 1 = kept (valid) pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..layers import refill
from ..render import edge_alpha, forward_splat, render_step, valid_mask

__all__ = ["random_block_masks", "RoundTrip", "round_trip", "magnify_blur", "mim_inputs"]


def random_block_masks(
    batch: int,
    height: int,
    width: int,
    *,
    ratio: tuple[float, float] = (0.4, 0.9),
    patch: int = 8,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Hide a random fraction ``~U(ratio)`` of the ``patch``-sized blocks of each image.

    The fraction is exact up to rounding to whole blocks (blocks cut by the
    right/bottom border count as whole blocks).

    Returns:
        ``(B, 1, H, W)`` float mask, 1 = kept, 0 = hidden.
    """
    if batch < 1 or height < 1 or width < 1 or patch < 1:
        raise ValueError(f"batch, height, width and patch must be >= 1, got {batch}, {height}, {width}, {patch}")
    if not 0.0 <= ratio[0] <= ratio[1] <= 1.0:
        raise ValueError(f"ratio must be an increasing pair in [0, 1], got {ratio}")
    gh, gw = -(-height // patch), -(-width // patch)
    n = gh * gw
    gen_device = generator.device if generator is not None else device
    frac = ratio[0] + (ratio[1] - ratio[0]) * torch.rand(batch, generator=generator, device=gen_device)
    n_hide = torch.round(frac * n)
    scores = torch.rand(batch, n, generator=generator, device=gen_device)
    rank = scores.argsort(dim=1).argsort(dim=1)  # 0..n-1, a random permutation per image
    keep = (rank >= n_hide[:, None]).to(dtype).reshape(batch, 1, gh, gw)
    keep = keep.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)
    return keep[:, :, :height, :width].to(device)


@dataclass
class RoundTrip:
    """The photo warped to a nearby camera and back.

    Attributes:
        rgb: ``(B, 3, H, W)`` round-tripped colours (resampling blur included).
        disparity: ``(B, 1, H, W)`` round-tripped disparity in ``[0.01, 1]``.
        mask: ``(B, 1, H, W)`` float ``{0, 1}``: pixels that survived both warps.
    """

    rgb: Tensor
    disparity: Tensor
    mask: Tensor


def round_trip(rgb: Tensor, disparity: Tensor, pose: Tensor, K: Tensor, *, beta: float = 4.0) -> RoundTrip:
    """Warp RGBD to ``pose`` and back; the surviving pixels are a real disocclusion mask.

    Args:
        rgb: ``(B, 3, H, W)`` in ``[0, 1]``; disparity ``(B, 1, H, W)`` in ``(0, 1]``.
        pose: ``(B, 4, 4)`` relative pose of the virtual camera (``X_v = R X + t``).
        K: ``(3, 3)`` or ``(B, 3, 3)``.

    The return warp splats the virtual view's valid mask (times its edge alpha)
    as the alpha channel, so holes of the virtual view stay holes after coming
    back.
    """
    out = render_step(rgb, disparity, pose[:, :3, :3], pose[:, :3, 3], K, beta=beta)
    inv = torch.linalg.inv(pose)
    alpha = edge_alpha(out.disparity.detach(), beta) * out.mask
    rgba, disp, coverage = forward_splat(torch.cat([out.rgb, alpha], dim=1), out.disparity, inv[:, :3, :3], inv[:, :3, 3], K)
    return RoundTrip(rgb=rgba[:, :3], disparity=disp.clamp(0.01, 1.0), mask=valid_mask(rgba[:, 3:4], coverage))


def magnify_blur(x: Tensor, factor: Tensor) -> Tensor:
    """Blur each image as if magnified ``factor`` times beyond its resolution.

    Each item is area-downsampled to ``round(side / factor)`` pixels and stretched
    back bilinearly (what the loop's warp does to content it magnifies).

    Args:
        x: ``(B, C, H, W)`` images.
        factor: ``(B,)`` factors ``>= 1``; items with factor 1 (or that would keep
            their size after rounding) come back unchanged.

    Returns:
        ``(B, C, H, W)``.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got {tuple(x.shape)}")
    factor = torch.as_tensor(factor, dtype=torch.float64).reshape(-1)
    if factor.numel() != x.shape[0] or bool((factor < 1.0).any()):
        raise ValueError(f"factor must be {x.shape[0]} values >= 1, got {factor.tolist()}")
    H, W = x.shape[-2:]
    out = []
    for item, f in zip(x, factor.tolist()):
        h, w = max(1, round(H / f)), max(1, round(W / f))
        if (h, w) == (H, W):
            out.append(item)
            continue
        small = F.interpolate(item[None], size=(h, w), mode="area")
        out.append(F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False)[0])
    return torch.stack(out)


def mim_inputs(
    rgb: Tensor,
    disparity: Tensor,
    K: Tensor,
    *,
    pose: Tensor,
    use_geometric: Tensor,
    ratio: tuple[float, float] = (0.4, 0.9),
    patch: int = 8,
    beta: float = 4.0,
    generator: torch.Generator | None = None,
    magnify: Tensor | None = None,
    sky: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Masked inputs for stage 1: per item either random blocks or a round-trip disocclusion.

    Args:
        rgb, disparity: ``(B, 3, H, W)`` / ``(B, 1, H, W)`` real frame.
        K: intrinsics; pose: ``(B, 4, 4)`` virtual cameras for the round trip.
        use_geometric: ``(B,)`` bool: which items get the disocclusion mask.
        generator: for the block masks.
        magnify: optional ``(B,)`` factors ``>= 1``: the input RGBD of each item is
            then blurred by ``magnify_blur`` (1 = unchanged).
        sky: optional ``(B, 1, H, W)`` sky probability of the real frame in ``[0, 1]``:
            the kept pixels where it is above 0.5 then show the push-pull fill of the
            kept ground's colour (``layers.refill``; items without kept ground keep
            their sky). The disparity is unchanged.

    Returns:
        ``(rgb_in, disparity_in, mask)``: where ``use_geometric`` the
        round-tripped RGBD (with its resampling blur), else the original, blurred
        where ``magnify`` asks, the sky refilled where ``sky`` is given; the
        generator multiplies by ``mask`` itself.
    """
    B, _, H, W = rgb.shape
    blocks = random_block_masks(B, H, W, ratio=ratio, patch=patch, generator=generator, device=rgb.device, dtype=rgb.dtype)
    with torch.no_grad():
        rt = round_trip(rgb, disparity, pose, K, beta=beta)
    sel = use_geometric.to(rgb.device).reshape(B, 1, 1, 1)
    rgb_in = torch.where(sel, rt.rgb, rgb)
    disp_in = torch.where(sel, rt.disparity, disparity)
    if magnify is not None:
        rgbd = magnify_blur(torch.cat([rgb_in, disp_in], dim=1), magnify)
        rgb_in, disp_in = rgbd[:, :3], rgbd[:, 3:].clamp(0.01, 1.0)
    mask = torch.where(sel, rt.mask, blocks)
    if sky is not None:
        if sky.shape != (B, 1, H, W):
            raise ValueError(f"sky must be shaped (B, 1, H, W) = {(B, 1, H, W)}, got {tuple(sky.shape)}")
        kept, is_sky = mask >= 0.5, sky > 0.5
        rgb_in = refill(rgb_in, kept & is_sky, kept & ~is_sky)
    return rgb_in, disp_in, mask
