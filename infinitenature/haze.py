"""Aerial perspective: the haze between the camera and each surface, estimated from the photo.

Far surfaces in a landscape photo are seen through air that scatters light
toward the camera. Their colour is the haze model of Koschmieder (used by all
single-image dehazing since He, Sun and Tang, "Single Image Haze Removal Using
Dark Channel Prior", CVPR 2009):

    I = J t + A (1 - t),    t = exp(-b * depth)

with ``J`` the surface's own colour, ``A`` the colour of the haze ("airlight")
and ``t`` the transmission. A flythrough that keeps a far surface's photographed
colour as the camera closes in keeps its haze too: the far hills stay blue-grey
and, once the camera has passed all the nearer ground, the whole lower frame
takes on the colour of the photo's horizon (docs/SETTINGS.md, ``aerial_perspective``). Seen from a new distance ``depth'``, the same
surface has ``t' = t ** (depth' / depth)``, so

    I' = A + (I - A) * t ** (depth' / depth - 1)

which needs only ``A``, ``t`` at the photo's pixels and the ratio of the two
distances, not the scale of the depth or the haze's density.

The loop carries, with every pixel of its state, the haze's density along that
pixel's ray, ``b = -ln(t) / depth`` (``haze_density``; depth = 1 / disparity, so
the scale of the depth cancels again), warped along with the state, and
``rehaze_moved`` changes the colour of every warped pixel for its change of
distance at each step, also where the photo no longer shows the surface (the
anchor sets colour and density again wherever it does).

``estimate_haze`` finds ``A`` and ``t`` with the dark channel prior: in haze-free
outdoor images, almost every patch has a pixel that is dark in some colour
channel (shadows, saturated colours), so what lifts the darkest channel of a
patch is haze. The transmission is refined with a guided filter (He, Sun and
Tang, "Guided Image Filtering", 2013, in its fast 4x-subsampled form) instead of the
paper's soft matting.
``rehaze`` applies the formula above; the photo anchor (``anchor.sample_anchor``)
calls it for every pixel it re-samples from the photo.

The prior is known to fail on surfaces that are bright and grey by nature (snow,
white rock, a white wall): they read as haze and come out darker and more
saturated as the camera nears them. This is an inference option of ours
(``FlyThroughConfig.aerial_perspective``), not part of the published method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import guided_blur
from torch import Tensor

from .filters import min_filter

__all__ = ["Haze", "MIN_TRANSMISSION", "dark_channel", "estimate_haze", "rehaze", "haze_density", "rehaze_moved"]

#: Transmission floor (He et al.'s ``t0``): a surface is never taken to keep less than this of its own
#: colour, so ``rehaze`` brings its contrast back by at most ``1 / MIN_TRANSMISSION``.
MIN_TRANSMISSION = 0.1
#: The haze kept by the estimate (``omega`` of He et al.): 5%, so that far things still look far.
OMEGA = 0.95
#: Side of the image the prior is evaluated at (the transmission is smooth; it is upsampled after).
WORK_SIDE = 256


@dataclass
class Haze:
    """The photo's haze.

    Attributes:
        airlight: ``(3,)`` the colour of the haze ``A`` in [0, 1].
        transmission: ``(1, 1, H, W)`` the share of each pixel's colour that is the
            surface's own, in ``[MIN_TRANSMISSION, 1]`` (1 = no haze).
    """

    airlight: Tensor
    transmission: Tensor


def dark_channel(rgb: Tensor, patch: int) -> Tensor:
    """The darkest colour channel over ``patch x patch`` pixels around each pixel.

    Args:
        rgb: ``(B, 3, H, W)`` (any non-negative values, e.g. RGB over the airlight).
        patch: odd side of the patch (>= 1).

    Returns:
        ``(B, 1, H, W)``.
    """
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (B, 3, H, W), got {tuple(rgb.shape)}")
    if int(patch) != patch or patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be an odd integer >= 1, got {patch!r}")
    return min_filter(rgb.amin(dim=1, keepdim=True), int(patch) // 2)


def estimate_haze(rgb: Tensor, sky: Tensor | None = None, *, omega: float = OMEGA, patch: int | None = None) -> Haze:
    """The airlight and transmission of a photo by the dark channel prior.

    The image is evaluated at (at most) ``WORK_SIDE`` pixels on its long side. The
    airlight is the colour of the sky at the horizon, where the haze is thickest:
    with a ``sky`` mask, the median colour of the sky pixels just above the ground
    (those with ground a few pixels below them); without one, or when the photo shows
    no such skyline, the mean colour of the 0.1% of pixels with the brightest dark
    channel (He et al.'s rule, which picks the horizon's haze in most landscapes but a
    white cloud in some, and a cloud's colour is not the haze's). The transmission is
    ``1 - omega * dark_channel(rgb / airlight)``, refined by a guided filter on the
    image's grey levels, clamped to ``[MIN_TRANSMISSION, 1]`` and upsampled to the
    image's size.

    Args:
        rgb: ``(1, 3, H, W)`` in [0, 1].
        sky: optional ``(1, 1, H, W)`` sky probability in [0, 1] (sky where > 0.5).
        omega: share of the haze removed (He et al.: 0.95), in (0, 1].
        patch: odd side of the dark channel's patch at the working size (default:
            1/16 of its side, 15 px at 256 px).

    Returns:
        ``Haze`` at the image's size.
    """
    if rgb.dim() != 4 or rgb.shape[:2] != (1, 3):
        raise ValueError(f"rgb must be (1, 3, H, W), got {tuple(rgb.shape)}")
    if sky is not None and sky.shape != (1, 1, *rgb.shape[-2:]):
        raise ValueError(f"sky must be (1, 1, H, W) like rgb {tuple(rgb.shape)}, got {tuple(sky.shape)}")
    if not 0.0 < float(omega) <= 1.0:
        raise ValueError(f"omega must be in (0, 1], got {omega!r}")
    H, W = rgb.shape[-2:]
    x = rgb.float().clamp(0, 1)
    scale = min(1.0, WORK_SIDE / max(H, W))
    m = None if sky is None else (sky.float() > 0.5).float()
    if scale < 1.0:
        size = (max(1, round(H * scale)), max(1, round(W * scale)))
        x = F.interpolate(x, size=size, mode="area")
        m = None if m is None else (F.interpolate(m, size=size, mode="area") > 0.5).float()
    h, w = x.shape[-2:]
    if patch is None:
        patch = max(3, (max(h, w) // 16) | 1)
    dark = dark_channel(x, patch)
    airlight = None if m is None else _horizon_sky(x, m)
    if airlight is None:
        n = max(1, dark.numel() // 1000)
        idx = dark.flatten().topk(n).indices
        airlight = x.flatten(2)[0][:, idx].mean(dim=1)
    airlight = airlight.clamp(0.05, 1.0)  # (3,)
    t = 1.0 - float(omega) * dark_channel(x / airlight.view(1, 3, 1, 1), patch)
    grey = x.mean(dim=1, keepdim=True)
    k = 2 * patch + 1
    if min(h, w) > k:  # He's fast guided filter (4x subsampled) where the image allows: 2 ms instead of 60 at 256 px
        t = guided_blur(grey, t, k, 1e-3, subsample=4 if min(h, w) >= 64 else 1)
    t = t.clamp(MIN_TRANSMISSION, 1.0)
    if (h, w) != (H, W):
        t = F.interpolate(t, size=(H, W), mode="bilinear", align_corners=False).clamp(MIN_TRANSMISSION, 1.0)
    return Haze(airlight=airlight.to(rgb.device), transmission=t.to(rgb.device))


def _horizon_sky(x: Tensor, sky: Tensor) -> Tensor | None:
    """Median colour ``(3,)`` of the sky pixels of ``x`` with ground 1-4% of the height below them (None: fewer than 8)."""
    h = x.shape[-2]
    near = torch.zeros_like(sky, dtype=torch.bool)
    for k in range(max(1, h // 100), max(2, h // 25) + 1):
        if k < h:
            near[..., : h - k, :] |= sky[..., : h - k, :].bool() & ~sky[..., k:, :].bool()
    if int(near.sum()) < 8:
        return None
    return x[0][:, near[0, 0]].median(dim=1).values


def rehaze(rgb: Tensor, transmission: Tensor, depth_ratio: Tensor, airlight: Tensor, strength: float = 1.0) -> Tensor:
    """A surface's colour seen from a new distance: ``A + (rgb - A) * t ** (strength * (depth_ratio - 1))``.

    Args:
        rgb: ``(B, 3, H, W)`` in [0, 1]: the colour the photo shows, at its distance.
        transmission: ``(B, 1, H, W)`` in ``[MIN_TRANSMISSION, 1]``: the photo's ``t`` there.
        depth_ratio: ``(B, 1, H, W)`` > 0: the new distance over the photo's (< 1: closer,
            less haze; > 1: farther, more).
        airlight: ``(3,)`` the haze's colour in [0, 1].
        strength: 0 = the photo's colour unchanged, 1 = the estimate as it is.

    Returns:
        ``(B, 3, H, W)`` in [0, 1].
    """
    t = transmission.float().clamp(MIN_TRANSMISSION, 1.0)
    exponent = float(strength) * (depth_ratio.float().clamp_min(0.0) - 1.0)
    a = airlight.to(device=rgb.device, dtype=torch.float32).view(1, 3, 1, 1)
    out = a + (rgb.float() - a) * t.pow(exponent)
    return out.clamp(0, 1).to(rgb.dtype)


def haze_density(transmission: Tensor, disparity: Tensor) -> Tensor:
    """The haze's density along each ray, ``b = -ln(t) * disparity`` (so ``t = exp(-b / disparity)``).

    Args:
        transmission: ``(B, 1, H, W)`` in ``[MIN_TRANSMISSION, 1]``.
        disparity: ``(B, 1, H, W)`` in (0, 1]: the surface's, where ``transmission`` was measured.

    Returns:
        ``(B, 1, H, W)`` >= 0, in the loop's units of disparity.
    """
    return -torch.log(transmission.float().clamp(MIN_TRANSMISSION, 1.0)) * disparity.float().clamp_min(1e-4)


def rehaze_moved(
    rgb: Tensor, density: Tensor, disparity_from: Tensor, disparity_to: Tensor, airlight: Tensor, strength: float = 1.0
) -> Tensor:
    """Colours of surfaces that moved from disparity ``disparity_from`` to ``disparity_to`` in the view.

    ``A + (rgb - A) * exp(strength * b * (1 / d_from - 1 / d_to))``: the ratio of the
    surface's transmissions at its new and old distance. The factor is kept within
    ``[MIN_TRANSMISSION, 1 / MIN_TRANSMISSION]`` per call.

    Args:
        rgb: ``(B, 3, H, W)`` in [0, 1].
        density: ``(B, 1, H, W)`` from ``haze_density`` (0 = no change).
        disparity_from, disparity_to: ``(B, 1, H, W)`` in (0, 1].
        airlight: ``(3,)`` in [0, 1].
        strength: in [0, 1] (0 = unchanged).

    Returns:
        ``(B, 3, H, W)`` in [0, 1].
    """
    z_from = 1.0 / disparity_from.float().clamp_min(1e-4)
    z_to = 1.0 / disparity_to.float().clamp_min(1e-4)
    bound = -math.log(MIN_TRANSMISSION)
    exponent = (float(strength) * density.float() * (z_from - z_to)).clamp(-bound, bound)
    a = airlight.to(device=rgb.device, dtype=torch.float32).view(1, 3, 1, 1)
    return (a + (rgb.float() - a) * torch.exp(exponent)).clamp(0, 1).to(rgb.dtype)
