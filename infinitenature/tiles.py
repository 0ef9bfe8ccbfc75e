"""Refining a frame of any size with a refiner that only takes ``tile x tile`` squares.

The refiner (``models.CoModGenerator``) ends its encoder in fully-connected layers, so
it paints exactly ``R x R`` frames. A frame of another size (``step.refine`` on a
non-square flight) is covered by overlapping ``R x R`` tiles:

- ``tile_starts``: evenly spaced starts along one axis, the first at 0 and the last at
  ``length - tile``, neighbours overlapping by at least ``min_overlap``;
- ``tile_weights``: a smooth weight per tile (a raised-cosine ramp across each overlap
  with a neighbour, 1 in the tile's interior), normalised to sum to 1 at every pixel,
  so the blend of the tiles' outputs has no seams;
- ``refine_tiled``: pads an axis shorter than the tile (replicate), runs the refiner on
  the tiles that have a hole within ``margin`` pixels (the others would only repaint
  valid pixels; optionally not on tiles with only a few hole pixels either), blends
  their outputs, and keeps the input where no tile ran (holes there: push-pull).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .filters import push_pull_fill

__all__ = ["tile_starts", "tile_layout", "tile_weights", "refine_tiled", "HOLE_MARGIN", "FEW_HOLES"]

#: Refiner pixels around a hole that a running tile must cover: ``render.soft_keep_mask``'s
#: seam (3 refiner pixels at any ``scale``), the bilinear upsampling (1) and some slack.
HOLE_MARGIN = 6
#: With ``keep_visible``, a tile with at most this many hole pixels (refiner pixels: the
#: cracks a crest opens along the skyline as it comes nearer) is filled by push-pull
#: instead of running the refiner (``step.refine``), which paints such cracks alike.
FEW_HOLES = 60


def tile_starts(length: int, tile: int, min_overlap: int) -> list[int]:
    """Starts of the fewest ``tile``-long windows covering ``[0, length)``, evenly spaced.

    Args:
        length: pixels along the axis (>= 1); an axis shorter than ``tile`` gets one
            window at 0 (the caller pads it to ``tile``).
        tile: window length (>= 1).
        min_overlap: least overlap of neighbouring windows, ``0 <= min_overlap < tile``.

    Returns:
        ``[s_0 = 0, ..., s_{n-1} = length - tile]`` (``[0]`` when ``length <= tile``),
        increasing, with ``s_{i+1} - s_i <= tile - min_overlap``.
    """
    if tile < 1 or length < 1:
        raise ValueError(f"tile and length must be >= 1, got tile={tile}, length={length}")
    if not 0 <= min_overlap < tile:
        raise ValueError(f"min_overlap must be in [0, tile={tile}), got {min_overlap}")
    if length <= tile:
        return [0]
    n = math.ceil((length - min_overlap) / (tile - min_overlap))  # (n - 1) (tile - min_overlap) >= length - tile
    return [i * (length - tile) // (n - 1) for i in range(n)]


def _axis_ramps(starts: list[int], tile: int) -> Tensor:
    """``(n, tile)`` weights of each window along one axis, in (0, 1].

    Each window ramps up across its overlap with the previous window and down across
    its overlap with the next, ``0.5 - 0.5 cos(pi (k + 0.5) / overlap)`` at pixel ``k``
    of the overlap (1 elsewhere); the two ramps of an overlap sum to 1.
    """
    out = torch.ones(len(starts), tile, dtype=torch.float64)
    for i in range(len(starts) - 1):
        ov = starts[i] + tile - starts[i + 1]
        up = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(ov, dtype=torch.float64) + 0.5) / ov)
        out[i + 1, :ov] *= up
        out[i, tile - ov :] *= 1.0 - up
    return out


def tile_layout(height: int, width: int, tile: int, min_overlap: int) -> list[tuple[int, int]]:
    """``(top, left)`` of every tile of a ``height x width`` frame, row by row (``tile_starts`` per axis)."""
    return [(y, x) for y in tile_starts(height, tile, min_overlap) for x in tile_starts(width, tile, min_overlap)]


def tile_weights(height: int, width: int, tile: int, min_overlap: int) -> tuple[list[tuple[int, int]], Tensor]:
    """The tiles of a ``height x width`` frame (both >= ``tile``) and their blend weights.

    Returns:
        ``(layout, weights)``: ``tile_layout(...)`` and ``(n, tile, tile)`` float64 weights
        in (0, 1], 1 in a tile's interior and smooth across the overlaps, that sum to 1
        at every pixel of the frame when each is placed at its tile.
    """
    if height < tile or width < tile:
        raise ValueError(f"the frame ({height} x {width}) must be at least the tile ({tile}) on both sides; pad it")
    ys, xs = tile_starts(height, tile, min_overlap), tile_starts(width, tile, min_overlap)
    wy, wx = _axis_ramps(ys, tile), _axis_ramps(xs, tile)
    layout = [(y, x) for y in ys for x in xs]
    weights = torch.stack([wy[i][:, None] * wx[j][None, :] for i in range(len(ys)) for j in range(len(xs))])
    total = torch.zeros(height, width, dtype=torch.float64)
    for (y, x), w in zip(layout, weights):
        total[y : y + tile, x : x + tile] += w
    for k, (y, x) in enumerate(layout):  # exact where three windows overlap along an axis too
        weights[k] /= total[y : y + tile, x : x + tile]
    return layout, weights


def refine_tiled(
    refine_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
    rgb: Tensor,
    disparity: Tensor,
    mask: Tensor,
    tile: int,
    *,
    min_overlap: int | None = None,
    skip_hole_free: bool = True,
    margin: int = HOLE_MARGIN,
    few_holes: int = 0,
) -> Tensor:
    """A square-only refiner's painting of a ``h x w`` frame, tile by tile.

    Args:
        refine_fn: ``refine_fn(rgb, disparity, mask) -> (B, 4, tile, tile)`` RGBD in [0, 1],
            the refiner on one ``(B, ., tile, tile)`` tile; called once per tile that runs,
            tiles in row-major order (so random noise drawn from a seeded generator is
            reproducible).
        rgb: ``(B, 3, h, w)`` colours in [0, 1] (what the refiner is shown).
        disparity: ``(B, 1, h, w)`` disparity in [0.01, 1].
        mask: ``(B, 1, h, w)`` in {0, 1}, 1 = valid, 0 = hole.
        tile: the refiner's resolution ``R``.
        min_overlap: least overlap of neighbouring tiles (default ``tile // 4``).
        skip_hole_free: don't run tiles without a hole within ``margin`` pixels (per batch
            item: such a tile gets weight 0 there); where no covering tile ran the
            output is the input ``cat([rgb, disparity])``. Use it only where the output
            is kept in and around the holes alone (``keep_visible``).
        margin: see ``skip_hole_free`` (>= 0, refiner pixels).
        few_holes: with ``skip_hole_free``, a tile with at most this many hole pixels
            does not run either (>= 0); where no tile ran, the holes take the push-pull
            fill of the valid pixels (``filters.push_pull_fill``).

    An axis shorter than ``tile`` is padded to ``tile`` (replicate, the mask too, so a
    padded pixel is valid where the edge pixel it copies is) and cropped off after.

    Returns:
        ``(B, 4, h, w)``: the tiles' outputs blended with ``tile_weights`` (renormalised
        over the tiles that ran), RGBD in [0, 1] as ``refine_fn`` gives.
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (B, 3, h, w), got {tuple(rgb.shape)}")
    b, _, h, w = rgb.shape
    for name, t in (("disparity", disparity), ("mask", mask)):
        if tuple(t.shape) != (b, 1, h, w):
            raise ValueError(f"{name} must be (B, 1, h, w) = {(b, 1, h, w)}, got {tuple(t.shape)}")
    if margin < 0 or few_holes < 0:
        raise ValueError(f"margin and few_holes must be >= 0, got {margin} and {few_holes}")
    min_overlap = tile // 4 if min_overlap is None else min_overlap
    pad_h, pad_w = max(tile - h, 0), max(tile - w, 0)
    x = torch.cat([rgb, disparity, mask.to(rgb.dtype)], dim=1)
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    H, W = x.shape[-2:]
    layout, weights = tile_weights(H, W, tile, min_overlap)
    weights = weights.to(rgb)
    if skip_hole_free:
        holes = (x[:, 4:5] < 1).to(rgb.dtype)
        near_hole = F.max_pool2d(holes, 2 * margin + 1, stride=1, padding=margin) > 0 if margin else holes > 0
    acc = x.new_zeros(b, 4, H, W)
    total = x.new_zeros(b, 1, H, W)
    for (ty, tx), wt in zip(layout, weights):
        sl = (slice(None), slice(None), slice(ty, ty + tile), slice(tx, tx + tile))
        wt = wt.expand(b, 1, tile, tile)
        if skip_hole_free:
            runs = near_hole[sl].flatten(1).any(dim=1)
            if few_holes:
                runs = runs & (holes[sl].flatten(1).sum(dim=1) > few_holes)
            if not bool(runs.any()):
                continue
            wt = wt * runs.to(rgb.dtype).view(b, 1, 1, 1)
        t = x[sl]
        out = refine_fn(t[:, :3], t[:, 3:4], t[:, 4:5])
        acc[sl] += wt * out
        total[sl] += wt
    rest = x[:, :4]
    if skip_hole_free and few_holes and bool(((total == 0) & (holes > 0)).any()):  # holes no tile painted
        rest = push_pull_fill(rest, x[:, 4:5])
    out = torch.where(total > 0, acc / total.clamp_min(1e-12), rest)
    return out[..., :h, :w]
