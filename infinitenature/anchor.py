"""Re-sampling what the photo still shows from the photo itself (the "photo anchor").

The render-refine-repeat loop warps the previous frame to the next camera at
every step, so a surface that has been in view for ``n`` steps has been
resampled ``n`` times: its blur compounds, and magnification (flying closer)
spreads the few pixels it had over many. Both make long flights soft.

The anchor keeps the first view at the photo's own resolution (up to a few
times the loop's state) as an image pyramid with its disparity. After every
render step, each valid pixel of the new view is back-projected with its
rendered disparity, moved into the first camera and looked up in the anchor,
at the pyramid level whose pixels match the pixel's footprint (trilinear, so
neither blurred nor aliased). Where the anchor's disparity at that spot agrees
with the point's (the photo shows this very surface there, not an occluder),
the pixel takes the anchor's colour: one resampling of the photo instead of
``n``. (``sample_anchor`` also returns the anchor's disparity seen from the view;
the loop does not use it, because mixing it in speckled the weights and opened holes.) Elsewhere (disocclusions the refiner painted, what lies
outside the photo, sky) the warped frame stays as it was.

With the photo's haze (``haze.estimate_haze``) the anchor also keeps its
transmission, and ``sample_anchor(aerial_perspective=...)`` changes each re-sampled
colour for the change of its surface's distance from the camera
(``haze.rehaze``): far ground seen from nearby sheds its haze.

This is an inference option of ours (``FlyThroughConfig.anchor_scale``), not
part of the published method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import box_blur
from torch import Tensor

from .filters import min_filter, push_pull_fill
from .geometry import pixel_grid, project_cylinder
from .haze import Haze, haze_density, rehaze, rehaze_moved
from .step import Departure, LoopState, Warped

__all__ = [
    "PhotoAnchor",
    "AnchorSample",
    "build_anchor",
    "anchor_side",
    "anchor_levels",
    "sample_anchor",
    "lookup_jacobian",
    "singular_values",
    "sample_levels",
    "MAX_STREAK_BLUR",
    "PhotoAnchorDeparture",
]

#: Largest ``streak_blur`` of ``sample_anchor`` (``FlyThroughConfig.streak_blur``).
MAX_STREAK_BLUR = 4.0
#: Streak blurs stop growing at this ratio of the lookup's singular values.
MAX_STREAK_RATIO = 32.0
#: Taps of the streak blur along its line, over +-2 sigma.
STREAK_TAPS = 9
#: Side of the window the streak blur averages the lookup's Jacobian over: the warped state's
#: disparity jitters from row to row, and a per-pixel Jacobian turns that into a blur whose
#: length jumps between rows (horizontal "ladder" lines across magnified ground).
STREAK_JACOBIAN_WINDOW = 9
#: The disparity the scene gives the sky (``scene.prepare_scene``).
SKY_DISPARITY = 0.01
#: How an anchor's pixels map to rays (``PhotoAnchor.projection``).
PROJECTIONS = ("pinhole", "cylinder")


@dataclass
class PhotoAnchor:
    """The first view at (up to) the photo's resolution, as a pyramid.

    Attributes:
        levels: ``levels[l]`` is ``(1, 4, H / 2**l, W / 2**l)``: RGB in [0, 1] and
            normalized disparity in [0.01, 1] of the photo, ``levels[0]`` the finest;
            ``(1, 5, ...)`` with the haze's transmission (``haze.Haze``) as a fifth channel.
            It may reach beyond the first view (the whole photo around its square crop).
        K: ``(3, 3)`` intrinsics of ``levels[0]`` (the first camera; its pose is the identity).
        sky_offset: disparity at or below which the anchor is sky (never re-sampled;
            0 = the photo has no sky).
        airlight: ``(3,)`` the haze's colour, or ``None`` when the anchor has no haze.
        view_side: side of the first view's square in anchor pixels (``None``: the
            anchor is that square).
        projection: ``"pinhole"``: the photo's own projection by ``K``; ``"cylinder"``: a
            panorama around the first camera's vertical axis (``panorama.py``), where a
            first-camera point ``(x, y, z)`` lies at column ``K[0, 2] + K[0, 0] * atan2(x, z)``
            and row ``K[1, 2] + K[1, 1] * y / r`` with ``r = sqrt(x**2 + z**2)``, its
            disparity is ``1 / r``, and the columns wrap around the full circle
            (``width = 2 pi K[0, 0]``).
        ground: ``ground[l]`` is ``(1, 3, H / 2**l, W / 2**l)``: the ground's colours
            with the sky, and the ground's pixels along the skyline, replaced by the
            ground's colour carried over them (``build_anchor``), so that a lookup on the
            ground reads no sky colour however it filters (bilinear weights, coarser
            levels, the streak blur); ``None`` when the anchor has no sky.
    """

    levels: list[Tensor]
    K: Tensor
    sky_offset: float = 0.0
    airlight: Tensor | None = None
    view_side: int | None = None
    projection: str = "pinhole"
    ground: list[Tensor] | None = None

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {self.projection!r}")

    @property
    def size(self) -> int:
        """Side of the first view's square at the finest level, in pixels."""
        return int(self.view_side or self.levels[0].shape[-1])

    @property
    def height(self) -> int:
        """Height of the finest level in pixels."""
        return int(self.levels[0].shape[-2])

    @property
    def width(self) -> int:
        """Width of the finest level in pixels."""
        return int(self.levels[0].shape[-1])

    def to(self, device: torch.device | str) -> "PhotoAnchor":
        airlight = None if self.airlight is None else self.airlight.to(device)
        return PhotoAnchor(
            levels=[x.to(device) for x in self.levels], K=self.K.to(device), sky_offset=self.sky_offset, airlight=airlight,
            view_side=self.view_side, projection=self.projection,
            ground=None if self.ground is None else [x.to(device) for x in self.ground],
        )

    @property
    def has_haze(self) -> bool:
        """Whether the anchor carries the photo's haze (``sample_anchor``'s ``aerial_perspective`` needs it)."""
        return self.airlight is not None and self.levels[0].shape[1] == 5


@dataclass
class AnchorSample:
    """What ``sample_anchor`` found for every pixel of a view.

    Attributes:
        rgb: ``(B, 3, H, W)`` the anchor's colour at the pixel's surface, in [0, 1].
        disparity: ``(B, 1, H, W)`` that surface's disparity in the view, in [0.01, 1].
        weight: ``(B, 1, H, W)`` in [0, 1]: 1 where the anchor shows the pixel's
            surface, 0 where it does not (outside the photo, occluded, sky, hole).
        uv: ``(B, 2, H, W)`` where each pixel was looked up: column and row in the
            anchor's finest level (pixel centres at integers).
        magnification: ``(B, 1, H, W)`` the smaller singular value of the lookup's
            Jacobian (``detail.magnification`` of ``uv``) where ``sample_anchor`` already
            computed it for its ``streak_blur``; ``None`` otherwise.
        haze_density: ``(B, 1, H, W)`` the photo's haze density along the ray of the
            surface looked up (``haze.haze_density``) where the anchor has haze; ``None`` otherwise.
        inside: ``(B, 1, H, W)`` 1 where the lookup fell inside the anchor (ahead of the
            first camera, within its pixels), else 0.
        sky: ``(B, 1, H, W)`` 1 where the lookup fell inside the anchor on its sky (the
            anchor's disparity there at or below ``sky_offset``), else 0; ``None`` when
            the anchor has no sky.
    """

    rgb: Tensor
    disparity: Tensor
    weight: Tensor
    uv: Tensor
    magnification: Tensor | None = None
    haze_density: Tensor | None = None
    inside: Tensor | None = None
    sky: Tensor | None = None


def anchor_side(state_side: int, photo_side: int, scale: int) -> int:
    """Side of an anchor's finest level: ``scale`` x the state's, at most the photo's own pixels.

    Never below the state's side, and a multiple of ``2 ** (levels - 1)`` so every
    pyramid level covers exactly the same field of view.

    Args:
        state_side: side of the loop's state in pixels.
        photo_side: side of the photo's square crop in its own pixels.
        scale: the wanted ratio (``FlyThroughConfig.anchor_scale``, >= 1).
    """
    if scale < 1 or state_side < 1 or photo_side < 1:
        raise ValueError(f"state_side, photo_side and scale must be >= 1, got {state_side}, {photo_side}, {scale}")
    side = max(state_side, min(scale * state_side, photo_side))
    step = 2 ** (anchor_levels(side, state_side) - 1)
    return max(step, int(round(side / step)) * step)


def anchor_levels(side: int, state_side: int) -> int:
    """Pyramid levels from ``side`` down to at most half the state's side (so moving away can minify)."""
    return max(2, math.ceil(math.log2(max(side / state_side, 1.0))) + 2)


def build_anchor(
    rgb: Tensor,
    disparity: Tensor,
    K: Tensor,
    *,
    state_side: int,
    sky_offset: float = 0.0,
    haze: Haze | None = None,
    view_side: int | None = None,
) -> PhotoAnchor:
    """Build the pyramid of a photo seen from the first camera.

    Args:
        rgb: ``(1, 3, H, W)`` in [0, 1]: the first view's square (``S x S``, ``S`` from
            ``anchor_side``), or the whole photo around it at the same scale.
        disparity: ``(1, 1, H, W)`` normalized disparity in [0.01, 1].
        K: ``(3, 3)`` intrinsics of ``rgb`` (for a wider photo: the view's, with the
            principal point moved by the square's offset).
        state_side: side of the loop's state (with ``view_side``, sets how many levels are built).
        sky_offset: the scene's sky offset (``PreparedScene.sky_offset``).
        haze: the photo's haze (``haze.estimate_haze`` of ``rgb``; its transmission is
            resized to ``H x W`` if needed), for ``sample_anchor``'s ``aerial_perspective``.
        view_side: the side ``S`` of the first view's square in ``rgb``'s pixels (``None``:
            ``rgb`` is that square).

    Raises:
        ValueError: shapes that do not match, or sides that are not multiples of
            ``2 ** (levels - 1)`` (``anchor_side`` gives such sides).
    """
    if rgb.dim() != 4 or rgb.shape[:2] != (1, 3) or disparity.shape != (1, 1, *rgb.shape[-2:]):
        raise ValueError(f"rgb must be (1, 3, H, W) and disparity (1, 1, H, W), got {tuple(rgb.shape)} and {tuple(disparity.shape)}")
    if view_side is None and rgb.shape[-1] != rgb.shape[-2]:
        raise ValueError(f"a photo wider than the first view needs its view_side, got {tuple(rgb.shape)}")
    side = int(view_side or rgb.shape[-1])
    n = anchor_levels(side, state_side)
    if any(x % (2 ** (n - 1)) for x in (*rgb.shape[-2:], side)):
        raise ValueError(f"the anchor's sides {tuple(rgb.shape[-2:])} and view side {side} must be multiples of {2 ** (n - 1)} (see anchor_side)")
    channels = [rgb, disparity]
    if haze is not None:
        t = haze.transmission.to(device=rgb.device, dtype=torch.float32)
        if t.dim() != 4 or t.shape[:2] != (1, 1) or haze.airlight.shape != (3,):
            raise ValueError(f"haze must have a (1, 1, H, W) transmission and a (3,) airlight, got {tuple(t.shape)} and {tuple(haze.airlight.shape)}")
        if t.shape[-2:] != rgb.shape[-2:]:
            t = F.interpolate(t, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        channels.append(t)
    levels = [torch.cat([c.float() for c in channels], dim=1)]
    for _ in range(n - 1):
        levels.append(F.avg_pool2d(levels[-1], 2))
    airlight = None if haze is None else haze.airlight.to(device=rgb.device, dtype=torch.float32)
    ground = None
    if sky_offset > 0:
        # The ground's colours alone: its skyline pixels (part sky in any photo) and the sky take
        # the colour of the ground carried over them, so no filtering of a ground lookup reads sky.
        sure = min_filter((disparity > sky_offset + 1e-6).float(), 1) > 0.5
        if bool(sure.any()):
            ground = [torch.where(sure, rgb.float(), push_pull_fill(rgb.float(), sure.float()))]
            for _ in range(n - 1):
                ground.append(F.avg_pool2d(ground[-1], 2))
    return PhotoAnchor(levels=levels, K=K.float(), sky_offset=float(sky_offset), airlight=airlight, view_side=view_side, ground=ground)


def lookup_jacobian(uv: Tensor) -> tuple[Tensor, Tensor]:
    """The 2x2 Jacobian of a lookup ``(u, v)`` with respect to the view pixel, per pixel.

    Each axis uses the one-sided difference (forward or backward) with the smaller
    length, so a depth edge (where one side jumps) does not distort the pixels beside it.

    Args:
        uv: ``(B, 2, H, W)`` lookup positions of every view pixel (e.g. ``AnchorSample.uv``), H, W >= 2.

    Returns:
        ``(jx, jy)``: ``(B, 2, H, W)`` each, ``d(u, v)/dx`` and ``d(u, v)/dy`` (the Jacobian's columns).
    """
    if uv.dim() != 4 or uv.shape[1] != 2 or uv.shape[-1] < 2 or uv.shape[-2] < 2:
        raise ValueError(f"uv must be (B, 2, H, W) with H, W >= 2, got {tuple(uv.shape)}")

    def axis(dim: int) -> Tensor:
        d = torch.diff(uv, dim=dim)
        back = torch.cat([d.narrow(dim, 0, 1), d], dim=dim)
        fwd = torch.cat([d, d.narrow(dim, d.shape[dim] - 1, 1)], dim=dim)
        use_back = back.square().sum(1, keepdim=True) < fwd.square().sum(1, keepdim=True)
        return torch.where(use_back, back, fwd)

    return axis(-1), axis(-2)


def singular_values(jx: Tensor, jy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Singular values of the per-pixel 2x2 Jacobian ``[jx jy]``, and the direction of the larger.

    Args:
        jx, jy: ``(B, 2, H, W)`` the Jacobian's columns (``lookup_jacobian``).

    Returns:
        ``(s_max, s_min, theta)``, each ``(B, 1, H, W)``: ``s_max >= s_min >= 0``, and
        ``theta`` the angle (radians, in the lookup's ``(u, v)`` plane) of the left
        singular vector of ``s_max``: the direction along which the lookup moves
        fastest as the view pixel moves.
    """
    a = jx[:, 0:1].square() + jy[:, 0:1].square()  # J J^T = [[a, b], [b, c]]
    c = jx[:, 1:2].square() + jy[:, 1:2].square()
    b = jx[:, 0:1] * jx[:, 1:2] + jy[:, 0:1] * jy[:, 1:2]
    mid, rad = (a + c) / 2, (((a - c) / 2).square() + b.square()).sqrt()
    return (mid + rad).clamp_min(0).sqrt(), (mid - rad).clamp_min(0).sqrt(), 0.5 * torch.atan2(2 * b, a - c)


def _footprint(u: Tensor, v: Tensor) -> Tensor:
    """Anchor pixels per view pixel, from finite differences of the lookup positions ``(B, H, W)``.

    Each axis takes the smaller of the forward and backward difference, so a depth
    edge (where one side jumps) does not blow up the footprint of the pixels beside it.
    """

    def axis(x: Tensor, dim: int) -> Tensor:
        d = torch.diff(x, dim=dim).abs()
        lo = torch.cat([d.narrow(dim, 0, 1), d], dim=dim)  # backward difference (first row repeated)
        hi = torch.cat([d, d.narrow(dim, d.shape[dim] - 1, 1)], dim=dim)  # forward difference
        return torch.minimum(lo, hi)

    du = torch.maximum(axis(u, -1), axis(v, -1))  # along the row
    dv = torch.maximum(axis(u, -2), axis(v, -2))  # along the column
    return torch.maximum(du, dv)


def sample_levels(levels: list[Tensor], grid: Tensor, level: Tensor) -> Tensor:
    """Trilinear lookup: every pixel reads the two pyramid levels around its ``level``.

    ``levels``: the anchor's ``(1, C, h_i, w_i)`` pyramid; ``grid``: ``(B, H, W, 2)`` in
    ``grid_sample``'s coordinates; ``level``: ``(B, H, W)`` in ``[0, len(levels) - 1]``.
    Returns ``(B, C, H, W)``: ``sum_i max(0, 1 - |level - i|) * bilinear(levels[i])``.
    Pixels are grouped by ``floor(level)``, so each level is sampled only where its
    weight can be non-zero (two lookups per pixel, not one per level).
    """
    B, H, W = level.shape
    C = levels[0].shape[1]
    flat = level.reshape(-1)
    lo = flat.floor().long()
    order = torch.argsort(lo)
    points = grid.reshape(-1, 2)[order]
    lo_sorted, flat_sorted = lo[order], flat[order]
    out = torch.empty(C, flat.numel(), device=grid.device, dtype=levels[0].dtype)
    values, runs = torch.unique_consecutive(lo_sorted, return_counts=True)
    start = 0
    for i, n in zip(values.tolist(), runs.tolist()):
        sl = slice(start, start + n)
        g = points[sl].view(1, 1, n, 2)
        acc = None
        for j in (i, i + 1):
            if j >= len(levels):
                continue
            w = (1.0 - (flat_sorted[sl] - j).abs()).clamp_min(0)
            got = w * F.grid_sample(levels[j], g, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
            acc = got if acc is None else acc + got
        out[:, sl] = acc
        start += n
    result = torch.empty_like(out)
    result[:, order] = out
    return result.view(C, B, H, W).permute(1, 0, 2, 3)


def _blur_streaks(anchor: PhotoAnchor, rgb: Tensor, uv: Tensor, use: Tensor, gain: float) -> tuple[Tensor, Tensor]:
    """``sample_anchor``'s colour, filtered along the lookup's least magnified direction where it streaks,
    and the lookup's smaller singular value ``s_min`` (``(B, 1, H, W)``, for ``AnchorSample.magnification``).

    The filter's direction and length come from the Jacobian averaged over
    ``STREAK_JACOBIAN_WINDOW`` pixels; the ``s_min`` returned is each pixel's own.

    ``use`` (``(B, H, W)`` bool) marks the pixels that may change (inside the anchor, not its sky).
    The line of taps reads the pyramid level of the lookup's *smaller* singular value (or of the
    taps' spacing, if coarser, so sparse taps do not pick out single photo pixels) with trilinear
    weights; where ``sigma`` is below 1.5 anchor pixels the result fades back to ``rgb``.
    """
    jacobian = lookup_jacobian(uv)
    s_min_here = singular_values(*jacobian)[1]
    # The blur's shape comes from the Jacobian averaged over a window (STREAK_JACOBIAN_WINDOW).
    if STREAK_JACOBIAN_WINDOW > 1:
        jacobian = tuple(box_blur(j, (STREAK_JACOBIAN_WINDOW,) * 2, border_type="replicate") for j in jacobian)
    s_max, s_min, theta = singular_values(*jacobian)
    ratio = (s_max / s_min.clamp_min(1e-6)).clamp(1.0, MAX_STREAK_RATIO)
    # Target width along the line: one view footprint of the coarser direction, max(s_max, s_max / s_min)
    # anchor pixels; the level read already has pixels of max(1, s_min).
    width = torch.maximum(s_max, ratio)
    own = s_min.clamp_min(1.0)
    sigma = gain * (width.square() - own.square()).clamp_min(0).sqrt()
    on = ((sigma > 0.5) & use.unsqueeze(1)).flatten()
    if not bool(on.any()):
        return rgb, s_min_here
    B, _, H, W = rgb.shape
    Wa, Ha, top = anchor.width, anchor.height, len(anchor.levels) - 1
    idx = on.nonzero().squeeze(1)  # over B * H * W
    # One gather of everything per pixel, ordered by pyramid level (contiguous runs below; every
    # image of the batch looks up the same anchor).
    per_pixel = torch.cat([uv, sigma, theta, own], dim=1).permute(1, 0, 2, 3).reshape(5, -1)[:, idx]
    spacing = per_pixel[2] * (4.0 / (STREAK_TAPS - 1))
    read = torch.log2(torch.maximum(per_pixel[4], spacing)).clamp(0, top)
    lo = read.floor().long()
    order = torch.argsort(lo)
    idx, lo, read, per_pixel = idx[order], lo[order], read[order], per_pixel[:, order]
    u, v, sg, th = per_pixel[0], per_pixel[1], per_pixel[2], per_pixel[3]
    frac = (read - lo).unsqueeze(0)
    t = torch.linspace(-2.0, 2.0, STREAK_TAPS, device=rgb.device)
    taps = torch.exp(-0.5 * t.square())
    taps = taps / taps.sum()
    off = t[:, None] * sg[None]  # (T, N) anchor pixels along theta
    grid = torch.stack([(_wrapped(anchor, u[None] + off * torch.cos(th)[None]) + 0.5) * (2.0 / Wa) - 1.0,
                        (v[None] + off * torch.sin(th)[None] + 0.5) * (2.0 / Ha) - 1.0], dim=-1)  # (T, N, 2)  # fmt: skip
    out = torch.zeros(3, idx.numel(), device=rgb.device)
    levels, runs = torch.unique_consecutive(lo, return_counts=True)
    start = 0
    for i, n in zip(levels.tolist(), runs.tolist()):
        sl = slice(start, start + n)
        g = grid[:, sl].unsqueeze(0)  # (1, T, n, 2)
        for level, w in ((i, 1.0 - frac[:, sl]), (i + 1, frac[:, sl])):
            if level > top:
                continue
            colours = anchor.levels[level][:, :3] if anchor.ground is None else anchor.ground[level]  # it blurs ground only
            got = F.grid_sample(colours, g, mode="bilinear", padding_mode="border", align_corners=False)[0]
            out[:, sl] += w * (got * taps[None, :, None]).sum(1)  # (3, T, n) -> (3, n)
        start += n
    fade = ((sg - 0.5) / 1.0).clamp(0, 1)
    blurred = rgb.permute(1, 0, 2, 3).reshape(3, -1).clone()
    blurred[:, idx] += fade * (out.clamp(0, 1).to(blurred.dtype) - blurred[:, idx])
    return blurred.reshape(3, B, H, W).permute(1, 0, 2, 3), s_min_here


def _project(anchor: PhotoAnchor, Xa: Tensor, shape: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """First-camera points ``(B, 3, N)`` to the anchor's pixels: ``(u, v)`` ``(B, H, W)`` each,
    the disparity ``(B, 1, H, W)`` the anchor stores for such a point, and ``(B, H, W)`` whether
    the point can be looked up at all (ahead of a pinhole, off the axis of a cylinder).

    A cylinder's columns are unwrapped around the first point's azimuth, so that finite
    differences across a view stay small where it crosses the azimuth of +-pi.
    """
    B, H, W = shape
    K = anchor.K.to(Xa.device)
    if anchor.projection == "cylinder":
        c = Xa[:, :, (H // 2) * W + W // 2].unsqueeze(-1)
        mid = torch.atan2(c[:, 0:1], c[:, 2:3])  # the view's central azimuth
        u, v, r = project_cylinder(Xa, K, around=mid)
        ahead = r > 1e-6
        rs = torch.where(ahead, r, torch.ones_like(r))
    else:
        za = Xa[:, 2:3]
        ahead = za > 1e-6
        rs = torch.where(ahead, za, torch.ones_like(za))
        p = K @ Xa
        u, v = p[:, 0:1] / rs, p[:, 1:2] / rs
    return u.reshape(B, H, W), v.reshape(B, H, W), (1.0 / rs).reshape(B, 1, H, W), ahead.reshape(B, H, W)


def _unproject(anchor: PhotoAnchor, u: Tensor, v: Tensor, d: Tensor) -> Tensor:
    """The first-camera points ``(B, 3, H * W)`` at anchor pixels ``(u, v)`` (``(B, H, W)``) with
    the anchor's disparity ``d`` (``(B, 1, H, W)``) there: the inverse of ``_project``."""
    B, H, W = u.shape
    K = anchor.K.to(u.device)
    dist = 1.0 / d.reshape(B, 1, H * W).clamp_min(1e-4)
    u, v = u.reshape(B, 1, H * W), v.reshape(B, 1, H * W)
    if anchor.projection == "cylinder":
        phi = (u - K[0, 2]) / K[0, 0]
        return torch.cat([torch.sin(phi), (v - K[1, 2]) / K[1, 1], torch.cos(phi)], dim=1) * dist
    return torch.linalg.inv(K) @ torch.cat([u, v, torch.ones_like(u)], dim=1) * dist


def _wrapped(anchor: PhotoAnchor, u: Tensor) -> Tensor:
    """Columns ``u`` of a cylinder wrapped into ``[-0.5, width - 0.5)``; a pinhole's unchanged."""
    if anchor.projection != "cylinder":
        return u
    return torch.remainder(u + 0.5, anchor.width) - 0.5


def sample_anchor(
    anchor: PhotoAnchor,
    disparity: Tensor,
    K: Tensor,
    pose: Tensor,
    *,
    tolerance: float = 0.05,
    smooth: int = 5,
    streak_blur: float = 0.0,
    aerial_perspective: float = 0.0,
) -> AnchorSample:
    """Look up every pixel of a view in the anchor.

    A pixel ``(u, v)`` with disparity ``d`` is the view-camera point
    ``X = K^-1 [u, v, 1] / d``; ``pose^-1 X`` is that point in the first camera,
    where it projects to ``(u_a, v_a)`` with disparity ``d_p``. The anchor is
    sampled there (bilinear within a level, linear between the two levels around
    ``log2`` of the footprint). The pixel counts as the anchor's surface when the
    anchor's disparity ``d_a`` there is within ``tolerance`` of ``d_p``, relative and
    averaged over ``smooth x smooth`` pixels (weight 1), fading to 0 at twice that; points behind the first camera, outside
    its view (half a pixel in), or at the anchor's sky get weight 0.

    Args:
        anchor: the first view (``build_anchor``).
        disparity: ``(B, 1, H, W)`` the view's disparity in (0, 1] (e.g. the render's).
        K: ``(3, 3)`` intrinsics of the view.
        pose: ``(4, 4)`` or ``(B, 4, 4)`` world-to-camera pose of the view, with the
            first camera at the identity (the pipeline's poses).
        tolerance: relative disparity agreement that counts as the same surface (> 0).
        smooth: side of the box the relative error is averaged over before the test
            (odd, >= 1; 1 = per pixel), so that noise in the view's disparity does not
            speckle the weights.
        streak_blur: filter the colour along the lookup's least magnified direction,
            so a slope the photo saw at a grazing angle does not turn into streaks when
            it is flown close to (0 = off, the lookup above; at most ``MAX_STREAK_BLUR``).
            There the view moves through the anchor ``s_max`` anchor pixels per view
            pixel in one direction and only ``s_min`` in the other (the singular values
            of the lookup's Jacobian, averaged over ``STREAK_JACOBIAN_WINDOW`` pixels
            for this filter), so the content on screen is sharp across the
            flight and stretched along it. The colour is then the Gaussian-weighted
            average of ``STREAK_TAPS`` taps along the anchor direction of ``s_max``, read
            at the pyramid level of ``s_min`` (pixels ``p = max(1, s_min)``), with
            ``sigma = streak_blur * sqrt(w**2 - p**2)`` anchor pixels and
            ``w = max(s_max, s_max / s_min)`` (the ratio at most ``MAX_STREAK_RATIO``):
            at 1, about one view footprint of the coarser direction in both. Where the
            view minifies the anchor this is anisotropic filtering (sharper along the
            flight than the isotropic level above); where it magnifies it, a blur across
            the flight to the sharpness along it, and ``detail.surface_detail`` adds the
            finer octaves as texture. Disparity and weight are not filtered, and the
            taps are not tested for occlusion: where the line crosses a depth edge or a
            skyline in the photo, it mixes in a little of the other side.
        aerial_perspective: change each colour for the change of its surface's distance
            from the camera, by the photo's haze (``haze.rehaze`` with the anchor's
            transmission and airlight; the depth ratio is ``d_p / d``, the first camera's
            disparity of the point over the view's): 0 = off, 1 = the haze estimate as it
            is (in [0, 1]; needs an anchor built with ``haze``).

    Returns:
        ``AnchorSample`` at the view's size.
    """
    if disparity.dim() != 4 or disparity.shape[1] != 1:
        raise ValueError(f"disparity must be (B, 1, H, W), got {tuple(disparity.shape)}")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if int(smooth) != smooth or smooth < 1 or smooth % 2 == 0:
        raise ValueError(f"smooth must be an odd integer >= 1, got {smooth}")
    if isinstance(streak_blur, bool) or not 0.0 <= float(streak_blur) <= MAX_STREAK_BLUR:
        raise ValueError(f"streak_blur must be in [0, {MAX_STREAK_BLUR:g}], got {streak_blur!r}")
    if isinstance(aerial_perspective, bool) or not 0.0 <= float(aerial_perspective) <= 1.0:
        raise ValueError(f"aerial_perspective must be in [0, 1], got {aerial_perspective!r}")
    if aerial_perspective > 0 and not anchor.has_haze:
        raise ValueError("aerial_perspective needs an anchor built with the photo's haze (build_anchor(haze=...))")
    B, _, H, W = disparity.shape
    dev = disparity.device
    d = disparity.float().clamp_min(1e-4)
    # view camera -> first camera
    to_first = torch.linalg.inv(pose.to(device=dev, dtype=torch.float64)).float().expand(B, 4, 4)
    ray = torch.linalg.inv(K.to(dev).float()) @ pixel_grid(H, W, device=dev).reshape(3, -1)  # (3, H*W), z = 1
    X = ray.unsqueeze(0) / d.reshape(B, 1, H * W)  # (B, 3, N)
    Xa = to_first[:, :3, :3] @ X + to_first[:, :3, 3:4]
    ua, va, d_pred, ahead = _project(anchor, Xa, (B, H, W))

    Wa, Ha = anchor.width, anchor.height
    gx, gy = (_wrapped(anchor, ua) + 0.5) * (2.0 / Wa) - 1.0, (va + 0.5) * (2.0 / Ha) - 1.0
    inside = (gy.abs() < 1.0 - 1.0 / Ha) & ahead
    if anchor.projection == "pinhole":
        inside &= gx.abs() < 1.0 - 1.0 / Wa
    grid = torch.where(inside.unsqueeze(-1), torch.stack([gx, gy], dim=-1), 0.0)
    # Level per pixel: log2 of anchor pixels per view pixel, clamped to the pyramid.
    level = torch.log2(_footprint(ua, va).clamp_min(1e-6)).clamp(0, len(anchor.levels) - 1)
    sampled = sample_levels(anchor.levels, grid, level)
    rgb, d_a = sampled[:, :3].clamp(0, 1), sampled[:, 3:4]
    if anchor.ground is not None:  # a lookup on the ground reads the ground's colours alone
        on_ground = d_a > anchor.sky_offset + 1e-6
        rgb = torch.where(on_ground, sample_levels(anchor.ground, grid, level).clamp(0, 1), rgb)
    s_min = None
    if float(streak_blur) > 0 and H >= 2 and W >= 2:
        use = inside if anchor.sky_offset <= 0 else inside & (d_a[:, 0] > anchor.sky_offset + 1e-6)
        rgb, s_min = _blur_streaks(anchor, rgb, torch.stack([ua, va], dim=1), use, float(streak_blur))
    if float(aerial_perspective) > 0:
        ratio = d_pred / d  # the view's distance of the point over the first camera's
        rgb = rehaze(rgb, sampled[:, 4:5], ratio, anchor.airlight, float(aerial_perspective))
    err = (d_a - d_pred).abs() / d_pred.clamp_min(1e-4)
    if smooth > 1:  # the same surface agrees over a neighbourhood; noise in the view's disparity does not flip pixels
        err = F.avg_pool2d(F.pad(err, [int(smooth) // 2] * 4, mode="replicate"), int(smooth), stride=1)
    weight = ((2.0 * tolerance - err) / tolerance).clamp(0, 1) * inside.unsqueeze(1)
    if anchor.sky_offset > 0:
        weight = weight * (d_a > anchor.sky_offset + 1e-6)
    # The anchor's surface point, moved into the view: its disparity there.
    Xs = _unproject(anchor, ua, va, d_a)
    from_first = pose.to(device=dev, dtype=torch.float32).expand(B, 4, 4)
    zv = (from_first[:, 2:3, :3] @ Xs + from_first[:, 2:3, 3:4]).reshape(B, 1, H, W)
    disp_view = torch.where(zv > 1e-6, 1.0 / zv.clamp_min(1e-6), disparity.float()).clamp(0.01, 1.0)
    dt = disparity.dtype
    return AnchorSample(
        rgb=rgb.to(dt),
        disparity=disp_view.to(dt),
        weight=weight.to(dt),
        uv=torch.stack([ua, va], dim=1),
        magnification=s_min,
        haze_density=haze_density(sampled[:, 4:5], d_a).to(dt) if anchor.has_haze else None,
        inside=inside.unsqueeze(1).to(dt),
        sky=(inside.unsqueeze(1) & (d_a <= anchor.sky_offset + 1e-6)).to(dt) if anchor.sky_offset > 0 else None,
    )



class PhotoAnchorDeparture(Departure):
    """The photo anchor in the loop (``FlyThroughConfig.anchor_scale``, ``streak_blur``,
    ``aerial_perspective``, ``outpaint``).

    After every warp each valid pixel takes the anchor's colour where the anchor shows
    its surface (``sample_anchor``); the sample is left on the warped frame for other
    departures (``Warped.anchor``). With ``aerial_perspective`` the state carries the
    photo's haze density per pixel (channel ``"haze"``): every warped colour is first
    re-hazed for its surface's change of distance (``haze.rehaze_moved``, from the
    disparity the pixel had before the warp, moved along as ``"haze_from"``), and what
    the refiner painted takes the density of the surfaces around it.

    With a ``panorama`` (``panorama.outpaint_panorama``), what lies beyond the photo is
    re-sampled from the panorama the same way, and before the refiner runs a hole there
    takes the panorama's surface along its ray (colour and disparity, or its sky): the ray
    is marched by ``RAY_STEPS`` fixed-point steps from the disparity of the surfaces around
    the hole (look the point up, move the panorama's surface there into the view, take its
    disparity), kept where the panorama then agrees with it; a ray on which it shows no
    ground but its sky takes the sky. Such holes are marked
    ``Warped.filled``, so the refiner paints only what neither the photo nor the panorama shows.

    Args:
        anchor: the first view (``build_anchor``; with haze for ``aerial_perspective``).
        K: ``(3, 3)`` intrinsics of the state.
        streak_blur, aerial_perspective: as in ``sample_anchor``.
        panorama: the photo outpainted around the first camera (``panorama.Panorama``), or ``None``.
    """

    #: Fixed-point steps of the march along a hole's ray into the panorama.
    RAY_STEPS = 3

    def __init__(
        self, anchor: PhotoAnchor, K: Tensor, *, streak_blur: float = 0.0, aerial_perspective: float = 0.0, panorama=None
    ) -> None:
        if aerial_perspective > 0 and not anchor.has_haze:
            raise ValueError(
                "aerial_perspective needs a scene whose anchor carries the photo's haze (prepare it with FlyThrough.prepare, "
                "or build_anchor(haze=haze.estimate_haze(...)))"
            )
        self.anchor, self.K, self.panorama = anchor, K, panorama
        self.streak_blur, self.aerial_perspective = streak_blur, aerial_perspective

    def _look(
        self, anchor: PhotoAnchor, disparity: Tensor, pose: Tensor, where: Tensor | None = None, *, plain: bool = False, smooth: int = 5
    ) -> AnchorSample | None:
        """``sample_anchor`` with the run's settings (``plain``: neither), over the box around ``where``
        (``(B, 1, H, W)``, > 0 where it is needed; ``None``: everywhere); ``None`` when nothing is needed.
        Outside the box the sample has weight 0 and the given disparity."""
        kw = {"smooth": smooth} if plain else {"smooth": smooth, "streak_blur": self.streak_blur, "aerial_perspective": self.aerial_perspective}
        if where is None:
            return sample_anchor(anchor, disparity, self.K, pose, **kw)
        need = where.amax(dim=(0, 1)) > 0
        if not bool(need.any()):
            return None
        rows, cols = need.any(1).nonzero().squeeze(1), need.any(0).nonzero().squeeze(1)
        H, W = need.shape
        pad = 4  # the agreement test's box and the footprint's differences look at neighbours
        y0, y1 = max(0, int(rows[0]) - pad), min(H, int(rows[-1]) + 1 + pad)
        x0, x1 = max(0, int(cols[0]) - pad), min(W, int(cols[-1]) + 1 + pad)
        if (y1 - y0) * (x1 - x0) > 0.6 * H * W:
            return sample_anchor(anchor, disparity, self.K, pose, **kw)
        K = self.K.clone()
        K[0, 2] -= x0
        K[1, 2] -= y0
        box = sample_anchor(anchor, disparity[..., y0:y1, x0:x1], K, pose, **kw)

        def full(x: Tensor | None, fill: Tensor | float) -> Tensor | None:
            if x is None:
                return None
            out = fill.clone() if isinstance(fill, Tensor) else x.new_full((x.shape[0], x.shape[1], H, W), fill)
            out[..., y0:y1, x0:x1] = x
            return out

        return AnchorSample(
            rgb=full(box.rgb, 0.0), disparity=full(box.disparity, disparity), weight=full(box.weight, 0.0), uv=full(box.uv, 0.0),
            haze_density=full(box.haze_density, 0.0), inside=full(box.inside, 0.0), sky=full(box.sky, 0.0),
        )

    def start(self, state: LoopState) -> None:
        a0 = sample_anchor(self.anchor, state.disparity, self.K, state.pose)
        state.anchor = a0
        if self.aerial_perspective > 0:
            state.channels["haze"] = a0.weight * a0.haze_density

    def before_warp(self, state: LoopState) -> dict[str, Tensor]:
        return {"haze_from": state.disparity} if self.aerial_perspective > 0 else {}

    def after_warp(self, warped: Warped) -> None:
        ch = warped.channels
        if self.aerial_perspective > 0:  # every warped surface's colour at its new distance
            rehazed = rehaze_moved(warped.rgb, ch["haze"], ch.pop("haze_from"), warped.disparity, self.anchor.airlight, self.aerial_perspective)
            warped.rgb = warped.mask * rehazed + (1 - warped.mask) * warped.rgb
        a = self._look(self.anchor, warped.disparity, warped.pose)
        w = a.weight * warped.mask
        warped.rgb = w * a.rgb + (1 - w) * warped.rgb
        warped.anchor, warped.anchor_weight = a, w
        if self.aerial_perspective > 0:
            ch["haze"] = w * a.haze_density + (1 - w) * ch["haze"]
        if self.panorama is not None:  # what lies beyond the photo, from the panorama
            beyond = self._beyond(a)
            p = self._look(self.panorama.anchor, warped.disparity, warped.pose, warped.mask * beyond)
            if p is not None:
                wp = p.weight * warped.mask * beyond
                warped.rgb = wp * p.rgb + (1 - wp) * warped.rgb
                if self.aerial_perspective > 0:
                    ch["haze"] = wp * p.haze_density + (1 - wp) * ch["haze"]
            self._fill_from_panorama(warped, (1 - warped.mask) * beyond)

    def after_paint(self, warped: Warped, state: LoopState, keep: Tensor | None, painted: bool) -> None:
        if not painted:
            return
        if self.aerial_perspective > 0:  # what the refiner painted: the density of the surfaces around it
            state.channels["haze"] = push_pull_fill(state.channels["haze"], warped.mask)
        # A hole the photo shows (beyond the first view's square, or behind what moved) takes the
        # photo's colour where the painted disparity agrees with the photo's there.
        hole = 1 - warped.valid
        a = self._look(self.anchor, state.disparity, state.pose, hole)
        if a is None:
            return
        w = a.weight * hole
        state.rgb = w * a.rgb + (1 - w) * state.rgb
        if self.aerial_perspective > 0:
            state.channels["haze"] = w * a.haze_density + (1 - w) * state.channels["haze"]

    def _beyond(self, a: AnchorSample) -> Tensor:
        """``(B, 1, H, W)`` 1 where the view looks beyond the photo the panorama keeps unchanged."""
        u0, u1 = self.panorama.photo_columns
        u = a.uv[:, 0:1]
        return 1 - a.inside * ((u >= u0) & (u <= u1)).to(a.inside.dtype)

    def _fill_from_panorama(self, warped: Warped, hole: Tensor) -> None:
        """Holes beyond the photo (``hole``, ``(B, 1, H, W)``) take the panorama's surface along their
        ray before the refiner runs; they are marked ``warped.filled``, so the refiner skips them."""
        if not bool((hole > 0).any()):
            return
        pano, pose = self.panorama.anchor, warped.pose
        d = push_pull_fill(warped.disparity, warped.mask)  # a first guess from the surfaces around each hole
        for _ in range(self.RAY_STEPS):
            p = self._look(pano, d, pose, hole, plain=True)
            d = torch.where(hole > 0, p.disparity, d)
        p = self._look(pano, d, pose, hole, smooth=1)  # the disparity is the panorama's own: no noise to average
        w = (p.weight * hole > 0.5).to(d.dtype)  # settled on the panorama's ground
        rgb = w * p.rgb + (1 - w) * warped.rgb
        disp = w * p.disparity + (1 - w) * warped.disparity
        if self.aerial_perspective > 0:
            warped.channels["haze"] = w * p.haze_density + (1 - w) * warped.channels["haze"]
        if pano.sky_offset > 0:  # a ray the panorama shows no ground on, but its sky
            far = self._look(pano, torch.full_like(d, 1e-3), pose, hole * (1 - w), plain=True)
            if far is not None:
                sky = hole * (1 - w) * far.sky  # the panorama's own sky (a ground point behind the camera is no sky)
                rgb = sky * far.rgb + (1 - sky) * rgb
                disp = sky * SKY_DISPARITY + (1 - sky) * disp
                w = w + sky
        warped.rgb, warped.disparity = rgb, disp
        warped.filled = w if warped.filled is None else torch.maximum(warped.filled, w)
