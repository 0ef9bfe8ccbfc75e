"""The skyline of a photo: where the sky mask ends, and how far the ground there is.

Two errors of the estimators meet at the skyline, and a forward flight magnifies both:

- **The mask's edge misses the colour edge by a few pixels.** The sky network works
  at a coarse grid, so its edge is off by 1-2% of the photo's height: a row of cloud
  under it is called ground (and flown into, a pale band that grows down the
  hillside), or a row of hilltop above it is called sky (and replaced by sky).
  ``snap_sky`` moves a pixel of a band around the edge to the other side where its
  colour is clearly nearer that side's: the sky's and the ground's colour are those
  of the sure pixels nearest to it, outside the band.
- **The depth network ramps the ground toward the sky's disparity at the skyline.**
  It is smooth across the edge, so the top rows of a hill near by get the disparity
  of the far horizon: in a forward flight the hill's body moves down and its crest
  stays put, and the gap between them fills with a stretched band of crest pixels
  (pale blocks, or sky). ``crest_disparity`` gives the ground within a band below
  the sky at least the disparity of the ground at the band's foot, so a crest is as
  near as the slope under it.

``repair_skyline`` does both (``FlyThroughConfig.skyline_repair``); ``scene.prepare_scene``
applies it on the estimators' grid, before the state, the canvas and the anchor are
cut from it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kornia.filters import gaussian_blur2d

from .filters import min_filter, push_pull_fill

__all__ = ["snap_sky", "crest_disparity", "repair_skyline", "SNAP_BAND", "CREST_BAND", "SNAP_EVIDENCE"]

#: How far ``repair_skyline`` moves the mask's edge, as a share of the photo's short
#: side (6 px of a 384 px grid) ...
SNAP_BAND = 0.015
#: ... and how deep the crests it raises reach below the sky (8 px of 384).
CREST_BAND = 0.02
#: A pixel of the band changes side only when its colour is nearer the other side's than
#: this share of its distance to its own side's.
SNAP_EVIDENCE = 0.5


def snap_sky(rgb: Tensor, sky: Tensor, band: int) -> Tensor:
    """The sky mask with its edge moved onto the photo's colour edge.

    Pixels farther than ``band`` from the mask's edge are sure: their label stays. A
    pixel within ``band`` of it changes side when the distance of its colour to the
    other side's is below ``SNAP_EVIDENCE`` times its distance to its own side's; a
    side's colour is that of its sure pixels nearest to the pixel (the push-pull fill,
    ``filters.push_pull_fill``, of the sure pixels' colours).

    Args:
        rgb: ``(B, 3, H, W)`` the photo in [0, 1].
        sky: ``(B, 1, H, W)`` bool, the sky mask.
        band: half-width of the band in pixels (>= 0; 0 returns ``sky``).

    Returns:
        ``(B, 1, H, W)`` bool.
    """
    if band < 0:
        raise ValueError(f"band must be >= 0, got {band}")
    if band == 0 or not bool(sky.any()) or bool(sky.all()):
        return sky
    s = sky.to(rgb.dtype)
    sure_sky = min_filter(s, band) > 0.5
    sure_ground = min_filter(1 - s, band) > 0.5
    if not bool(sure_sky.any()) or not bool(sure_ground.any()):
        return sky
    sky_colour = push_pull_fill(rgb, sure_sky.to(rgb.dtype))
    ground_colour = push_pull_fill(rgb, sure_ground.to(rgb.dtype))
    d_sky = (rgb - sky_colour).square().sum(1, keepdim=True).sqrt()
    d_ground = (rgb - ground_colour).square().sum(1, keepdim=True).sqrt()
    to_sky = ~sky & (d_sky < SNAP_EVIDENCE * d_ground)
    to_ground = sky & (d_ground < SNAP_EVIDENCE * d_sky)
    unsure = ~sure_sky & ~sure_ground
    return torch.where(unsure & (to_sky | to_ground), ~sky, sky)


def crest_disparity(disparity: Tensor, sky: Tensor, band: int) -> Tensor:
    """Ground along the skyline raised to the disparity of the ground just below it.

    In each column, a ground pixel at most ``band`` rows below a sky pixel takes the
    larger of its own disparity and that of its foot, the pixel ``band`` rows below that
    sky pixel (when that one is ground), the feet averaged along the row over the raised
    pixels within about ``band`` columns (a Gaussian of ``band / 2``), so a crest keeps
    one depth along its length. Nothing is lowered; ground with no sky above it is
    unchanged.

    Args:
        disparity: ``(B, 1, H, W)`` normalised disparity (larger = nearer).
        sky: ``(B, 1, H, W)`` bool, the sky mask.
        band: rows below the sky that are raised (>= 0; 0 returns ``disparity``).

    Returns:
        ``(B, 1, H, W)``, at least ``disparity`` everywhere.
    """
    if band < 0:
        raise ValueError(f"band must be >= 0, got {band}")
    if band == 0 or not bool(sky.any()):
        return disparity
    H = disparity.shape[-2]
    rows = torch.arange(H, device=disparity.device).view(1, 1, H, 1)
    last_sky = torch.where(sky, rows, -1).cummax(dim=-2).values  # the last sky row at or above each pixel
    foot = (last_sky + band).clamp(max=H - 1)
    foot_value = torch.gather(disparity, -2, foot)
    raise_it = ~sky & (last_sky >= 0) & (rows - last_sky <= band) & ~torch.gather(sky, -2, foot)
    # Smooth along the rows: neighbouring columns' feet differ by the depth network's noise, and a
    # crest whose columns stand at different depths breaks into a sawtooth as the camera nears it.
    w = raise_it.to(disparity.dtype)
    k = 2 * band + 1
    sigma = max(band / 2.0, 0.5)
    num = gaussian_blur2d(foot_value * w, (1, k), (1.0, sigma), border_type="constant")
    den = gaussian_blur2d(w, (1, k), (1.0, sigma), border_type="constant")
    smooth = torch.where(den > 1e-6, num / den.clamp_min(1e-6), foot_value)
    return torch.where(raise_it, torch.maximum(disparity, smooth), disparity)


def repair_skyline(rgb: Tensor, disparity: Tensor, sky: Tensor) -> tuple[Tensor, Tensor]:
    """``snap_sky`` and then ``crest_disparity`` (module docstring).

    Args:
        rgb: ``(B, 3, H, W)`` the photo in [0, 1].
        disparity: ``(B, 1, H, W)`` its normalised disparity (larger = nearer).
        sky: ``(B, 1, H, W)`` its sky probability in [0, 1].

    The bands are ``SNAP_BAND`` and ``CREST_BAND`` of the photo's short side (at least 1 px).

    Returns:
        ``(sky, disparity)``: the snapped mask as a float ``(B, 1, H, W)`` in {0, 1}, and
        the disparity with its crests raised, ``(B, 1, H, W)``.
    """
    side = min(rgb.shape[-2:])
    mask = snap_sky(rgb, sky > 0.5, max(1, round(SNAP_BAND * side)))
    return mask.to(sky.dtype), crest_disparity(disparity, mask, max(1, round(CREST_BAND * side)))
