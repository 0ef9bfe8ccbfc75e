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

Resampling is not the only way in: the refiner paints a hole at the skyline from
what it sees on both sides, so its new ground carries part of the sky's colour
(about a fifth of it on the hills photo), and in a forward flight that thin strip of
farthest ground is what the render stretches over the frame next. Measured with the
dye test (``benchmarks/bench_sky_leak.py``), two-layer resampling alone only
delayed the leak; what stops it is ``refill``: the refiner is shown the ground's
colour carried into the sky, and its own sky is replaced by the warped sky carried
into it, so neither layer's colour reaches the other through the network.
``soften_skyline`` anti-aliases the hard edge that leaves, on the frame shown only.

A hard layer boundary must also stay where it is, and three things moved it, each
by a fraction of a pixel per step, always toward the sky: over a long flight the
ground grew up into the sky in blocks (stepped skylines, peaks flattened into
plateaus, a column of ground rising from the image's edge into the sky). The render
gave a pixel to the layer with the larger share of its near-wins softmax weight,
so to the ground wherever a ground pixel's footprint touched it; it now goes to the
layer that covers it (``render.bilinear_coverage``). The edge alpha opened holes
along the skyline, which the refiner repainted at its coarser resolution and a
little above the sky's disparity; the skyline is now no depth edge
(``render.render_step``). And the painted seam around a hole, and the strip that
turning brings in at the image's edge, came back as ground where they were sky
(``paint_layers``).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from kornia.filters import gaussian_blur2d

from .filters import min_filter, push_pull_fill, refill
from .step import Layering, Warped

__all__ = ["pick_layer", "layered", "layered_blend", "refill", "paint_layers", "under_ground", "unmix_skyline", "soften_skyline", "SkyGroundLayers"]


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


def paint_layers(
    rgb: Tensor,
    disparity: Tensor,
    warped_rgb: Tensor,
    warped_disparity: Tensor,
    valid: Tensor,
    sky_level: float,
    *,
    border: int = 8,
) -> tuple[Tensor, Tensor]:
    """The refiner's painted frame put in the layers of the warped frame.

    The refiner paints disparity from what it sees on both sides, so the feathered seam
    around a hole, and the strip that turning the camera brings in at the image's
    edge, come back a little above the sky's disparity where they are sky: ground,
    which the next steps carry on as a dark column rising from the image's edge into
    the sky. Here a valid pixel keeps its own layer, and a hole within ``border``
    pixels of the image's edge takes the layer of the majority of the valid pixels
    around it (the push-pull fill of the sky indicator, ``filters.push_pull_fill``,
    above or below 0.5). Another hole is ground when the nearest valid pixel above it
    in its column is ground (``under_ground``: the base of a far hill that a nearer
    crest hid); else it keeps the layer the refiner painted (the majority is no guide
    there: a hole uncovered behind a crest is ground even with the sky all around it;
    making holes under the sky sky instead lets the sky eat down into the ground in
    columns, one hole at a time). Where the painted disparity puts a pixel in the other
    layer it gets its layer's warped disparity carried in (``refill``). Colours follow
    the layers: a pixel
    the refiner painted as sky that is ground now gets the warped ground's colour
    carried in, and every sky pixel the warped sky's (so the refiner's sky, made from
    what it saw of both layers, never stays).

    Args:
        rgb: ``(B, 3, H, W)`` the refiner's colours in [0, 1], at the warped frame's size.
        disparity: ``(B, 1, H, W)`` the refiner's disparity in (0, 1].
        warped_rgb, warped_disparity: the render's (``RenderResult.rgb`` / ``.disparity``).
        valid: ``(B, 1, H, W)`` bool, the render's valid pixels (``RenderResult.mask >= 1``).
        sky_level: the disparity of the sky (> 0): at or below it is sky.
        border: width in pixels of the edge band whose holes follow the majority (>= 0).

    Returns:
        ``(rgb, disparity)``, ``(B, 3, H, W)`` and ``(B, 1, H, W)``: as painted where that
        is in the right layer and not sky, else carried in from the warped frame's layer.
    """
    if valid.dtype != torch.bool:
        raise ValueError(f"valid must be a bool mask, got {valid.dtype}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if not bool(valid.any()):
        return rgb, disparity
    sky = (warped_disparity <= sky_level) & valid
    ground = valid & ~sky
    want_sky, want_ground = sky, ground
    H, W = disparity.shape[-2:]
    band = torch.ones(H, W, dtype=torch.bool, device=disparity.device)
    band[border : H - border, border : W - border] = False
    edge_holes = ~valid & band
    if border > 0 and bool(edge_holes.any()):
        majority = push_pull_fill(sky.to(disparity.dtype), valid.to(disparity.dtype)) > 0.5
        want_sky = want_sky | (edge_holes & majority)
        want_ground = want_ground | (edge_holes & ~majority)
    want_ground = want_ground | (~valid & ~edge_holes & under_ground(ground, valid))
    painted_sky = disparity <= sky_level
    out = disparity
    to_sky = want_sky & ~painted_sky
    if bool(to_sky.any()):
        out = refill(out, to_sky, sky, warped_disparity)
    to_ground = want_ground & painted_sky
    if bool(to_ground.any()):
        out = refill(out, to_ground, ground, warped_disparity)
    rgb = refill(rgb, to_ground, ground, warped_rgb)
    rgb = refill(rgb, out <= sky_level, sky, warped_rgb)
    return rgb, out


def under_ground(ground: Tensor, valid: Tensor) -> Tensor:
    """Pixels whose nearest valid pixel at or above them, in their column, is ground.

    Args:
        ground: ``(B, 1, H, W)`` bool, the valid pixels that are ground.
        valid: ``(B, 1, H, W)`` bool, the valid pixels.

    Returns:
        ``(B, 1, H, W)`` bool; ``False`` where no valid pixel lies above.
    """
    H = valid.shape[-2]
    rows = torch.arange(H, device=valid.device).view(1, 1, H, 1)
    last = torch.where(valid, rows, -1).cummax(dim=-2).values  # the last valid row at or above each pixel
    return torch.gather(ground, -2, last.clamp_min(0)) & (last >= 0)


def soften_skyline(rgb: Tensor, disparity: Tensor, sky_level: float, sigma: float = 1.0) -> Tensor:
    """A frame's skyline anti-aliased for display: the two layers composited with a soft matte.

    Two-layer resampling keeps the state's skyline a hard edge, pixel-stepped, and a
    forward flight magnifies those steps (an area-sampled photo's skyline mixes both
    colours over a pixel). Here each layer is carried across the skyline
    (``refill``), and the frame is ``a * ground + (1 - a) * sky`` with the matte
    ``a`` the ground indicator blurred by a Gaussian of ``sigma`` pixels: pixels within
    about ``2 sigma`` of the skyline show a mixture, the rest are unchanged. Only the
    frame handed out is softened; the state keeps its layers apart.

    Args:
        rgb: ``(B, 3, H, W)`` in [0, 1].
        disparity: ``(B, 1, H, W)`` in (0, 1]; at or below ``sky_level`` is sky.
        sky_level: the disparity of the sky (> 0).
        sigma: the matte's blur in pixels (> 0).

    Returns:
        ``(B, 3, H, W)`` in [0, 1], ``rgb`` itself without a skyline.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    ground = disparity > sky_level
    if bool(ground.all()) or not bool(ground.any()):
        return rgb
    k = 2 * math.ceil(2 * sigma) + 1
    a = gaussian_blur2d(ground.to(rgb.dtype), (k, k), (sigma, sigma), border_type="replicate")
    a = torch.where((a > 1e-3) & (a < 1 - 1e-3), a, ground.to(rgb.dtype))  # exactly the frame away from the skyline
    return a * refill(rgb, ~ground, ground) + (1 - a) * refill(rgb, ground, ~ground)


def unmix_skyline(rgb: Tensor, disparity: Tensor, sky_level: float, rim: int) -> Tensor:
    """A photo's skyline pixels given the colour of their own layer alone.

    Along a photo's skyline each pixel mixes sky and ground colour over its area (and the
    sky mask's edge is off by a pixel or so), so the ground's top row is part sky and the
    sky's lowest row part ground. A forward flight that brings a crest nearer magnifies
    that row into a band of bluish-grey ground. Here the ground pixels within ``rim``
    pixels of the sky take the colour of the ground farther from it, carried over them
    (``refill``), and the sky pixels within ``rim`` pixels of the ground the sky's.

    Args:
        rgb: ``(B, 3, H, W)`` in [0, 1].
        disparity: ``(B, 1, H, W)`` in (0, 1]; at or below ``sky_level`` is sky.
        sky_level: the disparity of the sky (> 0).
        rim: pixels on each side of the skyline that are replaced (>= 0; 0: none).

    Returns:
        ``(B, 3, H, W)`` in [0, 1]: ``rgb`` farther than ``rim`` from the skyline.
    """
    if rim < 0:
        raise ValueError(f"rim must be >= 0, got {rim}")
    ground = disparity > sky_level
    if rim == 0 or bool(ground.all()) or not bool(ground.any()):
        return rgb
    g = ground.to(rgb.dtype)
    inner_ground = min_filter(g, rim) > 0.5
    inner_sky = min_filter(1 - g, rim) > 0.5
    rgb = refill(rgb, ground & ~inner_ground, inner_ground)
    return refill(rgb, ~ground & ~inner_sky, inner_sky)


class SkyGroundLayers(Layering):
    """Sky and ground kept apart in the loop (``FlyThroughConfig.sky_layers``).

    The render splats the two as layers (``render.render_step(sky_level=...)``), every
    resampling is ``layered``, the refiner is shown the ground carried into the sky
    (``refill``), its painting is put in the warped frame's layers (``paint_layers``),
    the composite is ``layered_blend``, the frame handed out has its skyline softened
    (``soften_skyline``), and once frame 0 (the photo) is out the state's skyline pixels
    are unmixed (``unmix_skyline``).

    Args:
        sky_level: the disparity of the sky (> 0): at or below it is sky.
    """

    #: Pixels on each side of the first frame's skyline whose colours ``unmix_skyline`` replaces.
    RIM = 2

    def __init__(self, sky_level: float) -> None:
        if not sky_level > 0:
            raise ValueError(f"sky_level must be > 0, got {sky_level}")
        self.sky_level = self.render_sky_level = sky_level

    def resample(self, op, rgb: Tensor, disparity: Tensor) -> tuple[Tensor, Tensor]:
        return layered(op, rgb, disparity, self.sky_level)

    def refiner_input(self, rgb: Tensor, disparity: Tensor, mask: Tensor) -> Tensor:
        # the refiner sees no sky colour (in its holes neither): the sky it is shown is the ground carried on
        return refill(rgb, disparity <= self.sky_level, (disparity > self.sky_level) & (mask >= 1))

    def settle(self, rgb: Tensor, disparity: Tensor, warped: Warped, border: int) -> tuple[Tensor, Tensor]:
        return paint_layers(rgb, disparity, warped.rgb, warped.disparity, warped.valid >= 1, self.sky_level, border=border)

    def blend(self, keep: Tensor, a: Tensor, a_disp: Tensor, b: Tensor, b_disp: Tensor) -> tuple[Tensor, Tensor]:
        return layered_blend(keep, a, a_disp, b, b_disp, self.sky_level)

    def show(self, rgb: Tensor, disparity: Tensor) -> Tensor:
        return soften_skyline(rgb, disparity, self.sky_level)

    def carry(self, rgb: Tensor, disparity: Tensor) -> Tensor:
        return unmix_skyline(rgb, disparity, self.sky_level, self.RIM)
