"""Outpainting the photo all around the first camera from its own pixels, before the flight.

A turn or a pan brings into view what lies beyond the photo. Left to the loop,
the refiner paints it a thin strip per frame from what is beside it, and a long
pan ends as the photo's edge smeared sideways, or as dark ground. Here the
photo is first continued around the full circle as a cylindrical panorama by
image quilting in one dimension (Efros and Freeman, SIGGRAPH 2001): full-height
strips of the photo itself are laid side by side, each one chosen among all the
photo's strips for how well it matches the overlap
with what is already laid (at random among the near-best, so the seed picks the
panorama), and joined to it along the seam of least difference through the
overlap (``min_cut_seam``).

Full-height strips keep the photo's vertical order (sky above the skyline above
near ground) at every azimuth, and every strip brings its disparity along: on
level ground the disparity depends only on the angle below the horizon, which a
turn about the vertical axis keeps, so it is right at any azimuth. Colour,
disparity and the haze's transmission are quilted together, and the seam cost
weighs the skyline heavily, so strips are joined where their skylines meet.

The panorama is a ``PhotoAnchor`` with the cylinder projection
(``anchor.sample_anchor`` looks it up like the photo) at ``scale`` times the
state's focal length; ``anchor.PhotoAnchorDeparture`` re-samples it wherever a
view looks beyond the photo, and ``panorama_canvas`` makes the sky canvas from
it. This is an inference option of ours (``FlyThroughConfig.outpaint``); the
release outpainted its canvas with a GAN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .anchor import PhotoAnchor, anchor_levels, build_anchor
from .estimators.refine import box_filter
from .haze import Haze
from .sky import SkyCanvas
from .step import downsample_intrinsics

__all__ = ["Panorama", "quilt_sizes", "cylinder_layout", "to_cylinder", "min_cut_seam", "quilt", "outpaint_panorama", "panorama_canvas"]

#: Strips are this share of the photo's width in the panorama ...
STRIP_SHARE = 0.35
#: ... and overlap the laid part by this share of their width.
OVERLAP_SHARE = 0.25
#: A strip is a candidate when the photo covers at least this share of each of its columns.
MIN_COVERAGE = 0.9
#: Candidates whose cost is within this factor of the best are drawn from at random.
NEAR_BEST = 1.25
#: The last this many strips laid cost this much more to lay again, within +- this many candidates.
REPEAT_MEMORY, REPEAT_PENALTY, REPEAT_SPAN = 3, 2.0, 8
#: The costs are compared on a grid this many times coarser (and candidates start on it).
COST_POOL = 4
#: Rows beyond the photo's edges are blurred along the row over this fraction (1 / n) of its width.
UNCOVERED_BLUR_SHARE = 12
#: Weights of colour, disparity and the sky indicator in the seam and strip costs.
COLOUR_WEIGHT, DISPARITY_WEIGHT, SKY_WEIGHT = 1.0, 2.0, 4.0


def cylinder_layout(K: Tensor, height: int, width: int, focal: float, *, multiple: int = 1) -> tuple[Tensor, int, int, tuple[int, int]]:
    """The panorama's intrinsics and size for a photo, and the columns the photo fills.

    The panorama spans the full circle (``width = 2 pi focal``, rounded up to ``multiple``;
    the focal length is then ``width / (2 pi)``), with azimuth 0 (the first camera's axis)
    between its two middle columns. Its rows span the photo's vertical extent on that axis.

    Args:
        K: ``(3, 3)`` the photo's intrinsics (pinhole, pixel centres at integers).
        height, width: the photo's size in pixels.
        focal: the wanted focal length of the panorama in pixels (> 0).
        multiple: the panorama's sides are multiples of this.

    Returns:
        ``(Kc, rows, columns, (c0, c1))``: ``Kc`` the cylinder's ``(3, 3)`` intrinsics
        (``anchor.PhotoAnchor.projection``), its size, and the half-open range of
        columns whose azimuth the photo covers.
    """
    if not focal > 0 or multiple < 1:
        raise ValueError(f"focal must be > 0 and multiple >= 1, got {focal} and {multiple}")
    fx, fy, cx, cy = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    cols = int(math.ceil(2 * math.pi * focal / multiple)) * multiple
    f = cols / (2 * math.pi)
    tall = int(round(f * height / fy))
    rows = int(math.ceil(tall / multiple)) * multiple
    ccx = cols / 2 - 0.5
    ccy = f * (cy + 0.5) / fy - 0.5 + (rows - tall) / 2
    Kc = K.new_tensor([[f, 0.0, ccx], [0.0, f, ccy], [0.0, 0.0, 1.0]])
    left, right = math.atan((-0.5 - cx) / fx), math.atan((width - 0.5 - cx) / fx)
    c0, c1 = int(math.ceil(ccx + f * left)), int(math.floor(ccx + f * right)) + 1
    return Kc, rows, cols, (max(c0, 0), min(c1, cols))


def to_cylinder(image: Tensor, K: Tensor, Kc: Tensor, rows: int, columns: tuple[int, int], *, sky_offset: float = 0.0) -> tuple[Tensor, Tensor]:
    """Resample a photo onto the panorama's cylinder, over the columns it covers.

    Args:
        image: ``(1, C, H, W)``: channel 3 is the photo's disparity (``1 / z``), which
            becomes the cylinder's ``1 / r`` (times the cosine of the azimuth; sky, at or
            below ``sky_offset``, stays as it is and ground stays above it); the other
            channels are resampled as they are.
        K: ``(3, 3)`` the photo's intrinsics.
        Kc: ``(3, 3)`` the cylinder's (``cylinder_layout``).
        rows: the panorama's height.
        columns: ``(c0, c1)``: the columns to fill.
        sky_offset: the scene's sky offset (0 = no sky).

    Returns:
        ``(strip, covered)``: ``(1, C, rows, c1 - c0)`` the photo on the cylinder (its
        edge rows repeated where it does not reach), and ``(1, 1, rows, c1 - c0)`` 1 where
        the photo reaches, else 0.
    """
    c0, c1 = columns
    dev = image.device
    _, C, H, W = image.shape
    u = torch.arange(c0, c1, device=dev, dtype=torch.float32)
    v = torch.arange(rows, device=dev, dtype=torch.float32)
    phi = (u - Kc[0, 2]) / Kc[0, 0]  # (n,)
    height = (v - Kc[1, 2]) / Kc[1, 1]  # y / r, (rows,)
    x = K[0, 2] + K[0, 0] * torch.tan(phi)[None, :].expand(rows, -1)
    y = K[1, 2] + K[1, 1] * height[:, None] / torch.cos(phi)[None, :]
    grid = torch.stack([(x + 0.5) * (2.0 / W) - 1.0, (y + 0.5) * (2.0 / H) - 1.0], dim=-1)[None]
    out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    covered = ((grid.abs() <= 1.0).all(-1)).float()[:, None]
    # Beyond the photo's top and bottom edges the border rows repeat: blurred along the row, so
    # that they do not turn into vertical streaks.
    k = max(3, (c1 - c0) // UNCOVERED_BLUR_SHARE | 1)
    smooth = F.avg_pool2d(F.pad(out, (k // 2, k // 2, 0, 0), mode="replicate"), (1, k), stride=1)
    out = covered * out + (1 - covered) * smooth
    if C > 3:
        d = out[:, 3:4]
        r_inv = d * torch.cos(phi)[None, None, None, :]
        if sky_offset > 0:
            r_inv = torch.where(d <= sky_offset + 1e-6, d, r_inv.clamp_min(sky_offset + 1e-3))
        out[:, 3:4] = r_inv
    return out, covered


def min_cut_seam(error: Tensor) -> Tensor:
    """The top-to-bottom path of least summed ``error`` through an overlap, one column per row.

    Consecutive rows' columns differ by at most one (dynamic programming).

    Args:
        error: ``(H, O)`` non-negative cost of a seam through each pixel.

    Returns:
        ``(H,)`` long: the path's column in every row; the new strip takes the columns
        from there on.
    """
    if error.dim() != 2 or error.shape[1] < 1:
        raise ValueError(f"error must be (H, O), got {tuple(error.shape)}")
    e = error.detach().double().cpu().numpy()
    H, O = e.shape
    total = e.copy()
    step = np.zeros((H, O), dtype=np.int64)
    for i in range(1, H):
        prev = total[i - 1]
        options = np.stack([np.r_[np.inf, prev[:-1]], prev, np.r_[prev[1:], np.inf]])  # from j-1, j, j+1
        pick = options.argmin(0)
        step[i] = pick - 1
        total[i] += options[pick, np.arange(O)]
    path = np.empty(H, dtype=np.int64)
    path[-1] = int(total[-1].argmin())
    for i in range(H - 1, 0, -1):
        path[i - 1] = path[i] + step[i, path[i]]
    return torch.from_numpy(path).to(error.device)


def _features(x: Tensor, sky_offset: float) -> Tensor:
    """What the costs compare: colour, disparity and the sky indicator, weighted."""
    feats = [COLOUR_WEIGHT * x[:, :3], DISPARITY_WEIGHT * x[:, 3:4]]
    if sky_offset > 0:
        feats.append(SKY_WEIGHT * (x[:, 3:4] <= sky_offset + 1e-6).float())
    return torch.cat(feats, dim=1)


def _seam_blend(old: Tensor, new: Tensor, sky_offset: float) -> Tensor:
    """``old`` on the left of the least-difference seam through the overlap, ``new`` on its right
    (both ``(1, C, H, O)``: channel 3 the disparity, the others in [0, 1]).

    Two bands (Burt and Adelson): the colours' coarse part (a box blur as wide as the overlap)
    changes from ``old`` to ``new`` linearly across the overlap, so two skies of slightly
    different blue meet without a step; their fine part and the disparity switch at the
    seam, softened over three columns.
    """
    error = (_features(old, sky_offset) - _features(new, sky_offset)).square().sum(1)[0]
    path = min_cut_seam(error)
    O = old.shape[-1]
    take = (torch.arange(O, device=old.device)[None, :] >= path[:, None]).to(old.dtype)[None, None]
    if O >= 3:
        take = F.avg_pool2d(F.pad(take, (1, 1, 0, 0), mode="replicate"), (1, 3), stride=1)
    out = old + take * (new - old)
    if O >= 4:
        k = O | 1

        def coarse(x: Tensor) -> Tensor:
            return box_filter(x, k // 2)

        ramp = ((torch.arange(O, device=old.device, dtype=old.dtype) + 0.5) / O).view(1, 1, 1, O)
        colour = [c for c in range(old.shape[1]) if c != 3]
        lo_old, lo_new = coarse(old[:, colour]), coarse(new[:, colour])
        fine = out[:, colour] - (lo_old + take * (lo_new - lo_old))
        out[:, colour] = (fine + lo_old + ramp * (lo_new - lo_old)).clamp(0, 1)
    return out


def _match_colour(old: Tensor, piece: Tensor, sky_offset: float) -> Tensor:
    """``piece`` (``(1, C, H, n)``, channel 3 the disparity) with its colours shifted, row by row
    and layer by layer (sky, ground), by their mean difference from ``old`` (``(1, C, H, O)``,
    the overlap already laid) where both show that layer: the full shift across the overlap,
    fading linearly to none at the strip's far end, so that a strip of a slightly different
    shade joins without a band. The disparity is not changed."""
    O, n = old.shape[-1], piece.shape[-1]
    colour = [c for c in range(piece.shape[1]) if c != 3]
    x = torch.arange(n, device=piece.device, dtype=piece.dtype)
    fade = ((n - 1 - x) / max(n - 1 - O, 1)).clamp(0, 1).view(1, 1, 1, n)
    radius = max(1, O // 2)  # the shift is smoothed along the column: a shade, not a texture

    def layers(d: Tensor) -> list[Tensor]:
        if sky_offset <= 0:
            return [torch.ones_like(d, dtype=torch.bool)]
        sky = d <= sky_offset + 1e-6
        return [sky, ~sky]

    out = piece.clone()
    for in_old, in_new, in_piece in zip(layers(old[:, 3:4]), layers(piece[:, 3:4, :, :O]), layers(piece[:, 3:4])):
        both = (in_old & in_new).to(piece.dtype)
        diff = ((old[:, colour] - piece[:, colour, :, :O]) * both).sum(-1, keepdim=True)
        count = both.sum(-1, keepdim=True)
        num, den = box_filter(diff, radius), box_filter(count, radius)
        shift = torch.where(den > 1e-3, num / den.clamp_min(1e-3), torch.zeros_like(num))  # (1, c, H, 1)
        out[:, colour] = out[:, colour] + shift * fade * in_piece.to(piece.dtype)
    out[:, colour] = out[:, colour].clamp(0, 1)
    return out


def quilt(source: Tensor, covered: Tensor, length: int, *, sky_offset: float, generator: torch.Generator) -> Tensor:
    """Continue ``source`` to its right by ``length`` columns with strips of itself.

    Args:
        source: ``(1, C, H, n)`` the photo on the cylinder (``to_cylinder``; channel 3 its
            disparity, at or below ``sky_offset`` where it is sky).
        covered: ``(1, 1, H, n)`` where the photo reaches (``to_cylinder``).
        length: columns to add (>= 0).
        sky_offset: the scene's sky offset (0 = no sky).
        generator: draws among the near-best strips.

    Returns:
        ``(1, C, H, overlap + length)``: ``source``'s last ``overlap`` columns as the first
        strip's seam changed them (``overlap = quilt_overlap(n)``), then the continuation.
    """
    n = source.shape[-1]
    strip, overlap = quilt_sizes(n)
    if n < strip + COST_POOL:
        raise ValueError(f"the photo is too narrow to quilt ({n} columns on the cylinder)")
    starts = torch.arange(0, n - strip + 1, COST_POOL, device=source.device)
    column_cover = covered[0, 0].mean(0)  # (n,)
    ok = torch.stack([column_cover[s : s + strip].min() >= MIN_COVERAGE for s in starts.tolist()])
    if not bool(ok.any()):
        ok = torch.ones_like(ok)
    o4 = overlap // COST_POOL
    pooled = F.avg_pool2d(_features(source, sky_offset), COST_POOL, ceil_mode=True)
    windows = pooled.unfold(-1, o4, 1)[..., : len(starts), :]  # (1, Cf, h4, K, o4): each strip's left overlap
    laid = source
    recent: list[int] = []
    while laid.shape[-1] < n + length:
        target = F.avg_pool2d(_features(laid[..., -overlap:], sky_offset), COST_POOL, ceil_mode=True)  # (1, Cf, h4, o4)
        costs = (windows - target.unsqueeze(3)).square().sum(dim=(0, 1, 2, 4))  # (K,)
        costs = torch.where(ok, costs, torch.full_like(costs, float("inf")))
        for k in recent:  # not the same strips again
            costs[max(0, k - REPEAT_SPAN) : k + REPEAT_SPAN + 1] *= REPEAT_PENALTY
        near = (costs <= float(costs.min()) * NEAR_BEST + 1e-9).nonzero().squeeze(1)
        k = int(near[torch.randint(len(near), (1,), generator=generator, device=generator.device).item()])
        recent = (recent + [k])[-REPEAT_MEMORY:]
        s0 = int(starts[k])
        piece = _match_colour(laid[..., -overlap:], source[..., s0 : s0 + strip], sky_offset)
        joined = _seam_blend(laid[..., -overlap:], piece[..., :overlap], sky_offset)
        laid = torch.cat([laid[..., :-overlap], joined, piece[..., overlap:]], dim=-1)
    return laid[..., n - overlap : n + length]


def quilt_sizes(n: int) -> tuple[int, int]:
    """``(strip, overlap)`` widths ``quilt`` uses for a photo ``n`` columns wide on the cylinder."""
    strip = max(8, int(round(STRIP_SHARE * n)) // COST_POOL * COST_POOL)
    return strip, max(COST_POOL, int(round(OVERLAP_SHARE * strip)) // COST_POOL * COST_POOL)


@dataclass
class Panorama:
    """The photo outpainted around the first camera.

    Attributes:
        anchor: the panorama as a cylindrical ``PhotoAnchor`` (``sample_anchor`` looks it up).
        photo_columns: ``(u0, u1)``: between these columns of the photo anchor's finest
            level the panorama is the photo unchanged; beyond them (and beyond the photo)
            it is the quilted continuation, joined to the photo by the seams of its first
            strips, so a view should take the panorama there.
        scale: the panorama's resolution relative to the state's (``outpaint_panorama``).
    """

    anchor: PhotoAnchor
    photo_columns: tuple[float, float]
    scale: int = 1

    def to(self, device: torch.device | str) -> "Panorama":
        return Panorama(anchor=self.anchor.to(device), photo_columns=self.photo_columns, scale=self.scale)


def outpaint_panorama(anchor: PhotoAnchor, *, focal: float, state_side: int, scale: int = 2, seed: int = 0) -> Panorama:
    """The photo continued around the full circle as a cylindrical ``PhotoAnchor``.

    Args:
        anchor: the photo anchor (``scene.PreparedScene.anchor``, pinhole).
        focal: the state's focal length in pixels; the panorama's is ``scale`` times it.
        state_side: side of the loop's state (sets the pyramid's levels, as ``build_anchor``).
        scale: the panorama's resolution relative to the state (>= 1).
        seed: picks among the near-best strips (the same seed, the same panorama).

    Returns:
        A ``Panorama`` whose anchor has ``projection="cylinder"``: RGB, disparity ``1 / r``
        and (when the photo anchor has it) the haze's transmission, with the photo's sky
        offset and airlight.
    """
    if anchor.projection != "pinhole":
        raise ValueError("outpaint_panorama needs the photo's own (pinhole) anchor")
    if int(scale) != scale or scale < 1 or not focal > 0:
        raise ValueError(f"scale must be an integer >= 1 and focal > 0, got {scale} and {focal}")
    target = focal * scale
    # The pyramid level of the photo whose pixels are nearest the panorama's (not coarser).
    level = max(0, min(len(anchor.levels) - 1, int(math.floor(math.log2(max(float(anchor.K[0, 0]) / target, 1.0))))))
    photo = anchor.levels[level]
    K = downsample_intrinsics(anchor.K.float(), 2**level)
    view_side = int(state_side * scale)
    step = 2 ** (anchor_levels(view_side, state_side) - 1)
    Kc, rows, cols, (c0, c1) = cylinder_layout(K, photo.shape[-2], photo.shape[-1], target, multiple=step)
    strip, covered = to_cylinder(photo, K, Kc, rows, (c0, c1), sky_offset=anchor.sky_offset)
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    sky = anchor.sky_offset
    n = c1 - c0
    _, overlap = quilt_sizes(n)
    left_len, right_len = c0, cols - c1
    right = quilt(strip.cpu(), covered.cpu(), right_len + overlap, sky_offset=sky, generator=g).to(strip.device)
    left = quilt(strip.flip(-1).cpu(), covered.flip(-1).cpu(), left_len, sky_offset=sky, generator=g).to(strip.device).flip(-1)
    # the photo's edge columns as the first strips' seams changed them
    middle = torch.cat([left[..., left_len:], strip[..., overlap : n - overlap], right[..., :overlap]], dim=-1)
    pano = torch.cat([left[..., :left_len], middle, right[..., overlap : overlap + right_len]], dim=-1)
    # Behind the first camera the two continuations meet: join them along a seam too.
    o = min(overlap, left_len)
    if o >= 1:
        pano[..., :o] = _seam_blend(right[..., overlap + right_len : overlap + right_len + o], pano[..., :o], sky)
    pano = pano.contiguous()
    pano[:, :3].clamp_(0, 1)
    pano[:, 3:4].clamp_(0.01, 1.0)
    haze = Haze(airlight=anchor.airlight, transmission=pano[:, 4:5]) if anchor.has_haze else None
    out = build_anchor(pano[:, :3], pano[:, 3:4], Kc, state_side=state_side, sky_offset=sky, haze=haze, view_side=view_side)
    out.projection = "cylinder"
    K0 = anchor.K.float()
    edges = [K0[0, 2] + K0[0, 0] * math.tan((c - float(Kc[0, 2])) / float(Kc[0, 0])) for c in (c0 + overlap, c1 - 1 - overlap)]
    return Panorama(anchor=out, photo_columns=(float(edges[0]), float(edges[1])), scale=int(scale))


def panorama_canvas(panorama: Panorama) -> SkyCanvas:
    """The sky canvas (cylindrical, ``sky.sky_blend``) from the panorama's pyramid level whose
    pixels are nearest the state's (level ``floor(log2(panorama.scale))``).

    Args:
        panorama: ``outpaint_panorama``'s answer.
    """
    anchor = panorama.anchor
    level = min(int(panorama.scale).bit_length() - 1, len(anchor.levels) - 1)
    x = anchor.levels[level]
    K = downsample_intrinsics(anchor.K, 2**level)
    return SkyCanvas(rgb=x[:, :3], disparity=x[:, 3:4], K=K, sky_offset=anchor.sky_offset, projection="cylinder")
