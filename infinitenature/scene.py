"""Preparing one photo: the centre crop, disparity and sky, the sky offset and the canvas.

The published method centre-crops the photo to a square, resizes it to 128 px,
estimates disparity (normalized with the crop's 1st/97th percentiles) and a sky
mask, and keeps a wider "canvas" around the crop for sky correction. The
release outpainted that canvas with a GAN; we use the wider original photo,
padded where the photo does not reach (a square photo is all padding around the
crop). Padding gets disparity 1 so it is never taken for sky.

A view of another shape (``size=(height, width)``, e.g. 288 x 512) crops the widest
centred region of that aspect ratio instead, and its field of view spans its width.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .anchor import PhotoAnchor, anchor_levels, anchor_side, build_anchor
from .haze import estimate_haze
from .estimators.normalize import compute_sky_offset, disparity_percentiles, normalize_disparity
from .geometry import intrinsics_from_fov, shift_principal_point
from .layers import pick_layer
from .sky import SkyCanvas
from .skyline import repair_skyline

__all__ = ["PreparedScene", "prepare_scene", "center_square", "center_crop", "SKY_OFFSET_MARGIN"]

#: Added to the published sky offset (see ``prepare_scene``).
SKY_OFFSET_MARGIN = 0.01


@dataclass
class PreparedScene:
    """The initial state of a flythrough.

    Attributes:
        rgb: ``(1, 3, H, W)`` in [0, 1], the prepared input view.
        disparity: ``(1, 1, H, W)`` normalized disparity in [0.01, 1].
        sky: ``(1, 1, H, W)`` sky probability in [0, 1].
        K: ``(3, 3)`` intrinsics of the view.
        sky_offset: disparity below which content counts as sky (0 = no sky).
        canvas: the wider photo around the view, for sky correction.
        anchor: the view at (up to) the photo's own resolution, for
            ``FlyThroughConfig.anchor_scale`` (``None`` = not prepared).
    """

    rgb: Tensor
    disparity: Tensor
    sky: Tensor
    K: Tensor
    sky_offset: float
    canvas: SkyCanvas
    anchor: PhotoAnchor | None = None

    def to(self, device: torch.device | str) -> "PreparedScene":
        c = self.canvas
        return PreparedScene(
            rgb=self.rgb.to(device),
            disparity=self.disparity.to(device),
            sky=self.sky.to(device),
            K=self.K.to(device),
            sky_offset=self.sky_offset,
            canvas=SkyCanvas(rgb=c.rgb.to(device), disparity=c.disparity.to(device), K=c.K.to(device), sky_offset=c.sky_offset),
            anchor=None if self.anchor is None else self.anchor.to(device),
        )


def center_square(height: int, width: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the centred square crop of an ``H x W`` image."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def center_crop(height: int, width: int, aspect: float) -> tuple[int, int, int, int]:
    """``(top, left, crop_height, crop_width)`` of the widest centred crop of an ``H x W`` image
    whose width over height is ``aspect`` (rounded to whole pixels)."""
    if not aspect > 0:
        raise ValueError(f"aspect must be > 0, got {aspect}")
    if width / height >= aspect:  # the photo is wider: keep its height
        ch, cw = height, max(1, min(width, round(height * aspect)))
    else:
        ch, cw = max(1, min(height, round(width / aspect))), width
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-style downscale (antialiased bilinear), bilinear upscale. ``x`` is (B, C, H, W)."""
    if x.shape[-2:] == torch.Size(size):
        return x
    down = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)


def _resize_by_layer(disparity: Tensor, sky: Tensor, size: tuple[int, int]) -> Tensor:
    """``_resize`` of a disparity map, sky and ground apart (``layers.pick_layer``): a pixel
    the ground covers more than half of gets the ground's disparity alone, so a resized
    skyline holds no row of disparity between the sky's and the crest's."""
    if disparity.shape[-2:] == torch.Size(size):
        return disparity
    g = (sky <= 0.5).to(disparity.dtype)
    out = _resize(torch.cat([disparity, g, g * disparity], dim=1), size)
    return pick_layer(out[:, :1], out[:, 1:2], out[:, 2:])


def prepare_scene(
    image: Tensor,
    depth,
    sky,
    *,
    size: int | tuple[int, int] = 128,
    fov_deg: float = 55.0,
    canvas_scale: float = 1.5,
    estimator_side: int = 384,
    anchor_scale: int = 0,
    skyline_repair: bool = False,
) -> PreparedScene:
    """Turn a photo into the initial RGBD state, sky offset and canvas.

    Args:
        image: ``(3, H, W)`` in [0, 1] (see ``io.load_image``).
        depth: a depth estimator, ``(B, 3, h, w) -> (B, 1, h, w)`` relative disparity.
        sky: a sky estimator, ``(B, 3, h, w) -> (B, 1, h, w)`` probability.
        size: the view's ``(height, width)`` in pixels, or one side of a square view (the
            generator's resolution); both even, >= 16.
        fov_deg: horizontal field of view of the view (across its width).
        canvas_scale: canvas side relative to the view (1.5 as in the release).
        estimator_side: the estimators see the photo resized so its short side is this.
        anchor_scale: also keep the view at ``anchor_scale`` x its size in pixels (at most
            the photo's own, at least the view's) as ``PreparedScene.anchor``; 0 = none.
        skyline_repair: snap the sky mask's edge to the photo's colours and raise the
            ground along the skyline to the disparity below it (``skyline.repair_skyline``).

    Returns:
        A ``PreparedScene`` on the image's device.
    """
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got {tuple(image.shape)}")
    vh, vw = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
    if min(vh, vw) < 16 or vh % 2 or vw % 2:
        raise ValueError(f"size must be even numbers >= 16, got {size}")
    if canvas_scale < 1.0:
        raise ValueError(f"canvas_scale must be >= 1, got {canvas_scale}")
    if isinstance(anchor_scale, bool) or int(anchor_scale) != anchor_scale or anchor_scale < 0:
        raise ValueError(f"anchor_scale must be an integer >= 0, got {anchor_scale!r}")
    _, H, W = image.shape
    top, left, ch, cw = center_crop(H, W, vw / vh)
    side = min(ch, cw)
    # Work at a resolution where the crop's short side is `estimator_side` pixels (at least
    # the view's): the estimators and the canvas both live on this grid.
    scale = max(estimator_side, min(vh, vw)) / side
    h_w, w_w = max(1, round(H * scale)), max(1, round(W * scale))
    photo = _resize(image.unsqueeze(0).float(), (h_w, w_w))
    with torch.no_grad():
        disp_full = depth(photo).float()
        sky_full = sky(photo).float().clamp(0, 1)
    if disp_full.shape != (1, 1, h_w, w_w) or sky_full.shape != (1, 1, h_w, w_w):
        raise ValueError(
            f"estimators must return (1, 1, {h_w}, {w_w}), got depth {tuple(disp_full.shape)} and sky {tuple(sky_full.shape)}"
        )
    sh, sw = max(1, round(ch * scale)), max(1, round(cw * scale))
    t, l = min(round(top * scale), h_w - sh), min(round(left * scale), w_w - sw)

    def crop(x: Tensor) -> Tensor:
        return x[..., t : t + sh, l : l + sw]

    p_lo, p_hi = disparity_percentiles(crop(disp_full))
    lo, hi = float(p_lo), float(p_hi)
    if hi - lo <= 1e-5 * max(abs(hi), abs(lo)):
        warnings.warn(
            f"the disparity map is flat (its 1st and 97th percentiles are both {hi:.4g}): everything is put at the "
            "far plane and the flight shows a flat picture; check the depth map or estimator",
            UserWarning,
            stacklevel=3,
        )
    disp_norm_full = normalize_disparity(disp_full, p_lo, p_hi)
    if skyline_repair:
        sky_full, disp_norm_full = repair_skyline(photo, disp_norm_full, sky_full)
    # Sky lies at infinity: give it the smallest disparity so the renderer treats it as far.
    disp_norm_full = torch.where(sky_full > 0.5, torch.full_like(disp_norm_full, 0.01), disp_norm_full)

    def resize_disparity(x: Tensor, sky: Tensor, size: tuple[int, int]) -> Tensor:
        return _resize_by_layer(x, sky, size) if skyline_repair else _resize(x, size)

    rgb = _resize(crop(photo), (vh, vw)).clamp(0, 1)
    disparity = resize_disparity(crop(disp_norm_full), crop(sky_full), (vh, vw)).clamp(0.01, 1.0)
    sky_mask = _resize(crop(sky_full), (vh, vw)).clamp(0, 1)
    sky_offset = float(compute_sky_offset(disparity, sky_mask)[0])
    if sky_offset > 0.0:
        # Sky is set to exactly the floor (0.01), so the offset equals the floor; warped
        # and refined sky lands a hair above it. A small margin keeps it counted as sky.
        sky_offset += SKY_OFFSET_MARGIN

    # Canvas: canvas_scale x the crop, centred on it, from the photo where it reaches.
    my, mx = (int(round(n * (canvas_scale - 1.0) / 2.0)) for n in (sh, sw))
    rh, rw = sh + 2 * my, sw + 2 * mx

    def around_crop(x: Tensor, **pad_options) -> Tensor:
        # Pad by the margins on every side, so the crop's (t, l) is the region's top-left corner.
        return F.pad(x, (mx, mx, my, my), **pad_options)[..., t : t + rh, l : l + rw]

    c_rgb = around_crop(photo, mode="replicate")
    c_disp = around_crop(disp_norm_full, value=1.0)  # beyond the photo: never sky
    c_h, c_w = (n + n % 2 for n in (int(round(rh * vh / sh)), int(round(rw * vw / sw))))
    canvas_rgb = _resize(c_rgb, (c_h, c_w)).clamp(0, 1)
    canvas_disp = resize_disparity(c_disp, around_crop(sky_full, value=0.0), (c_h, c_w)).clamp(0.01, 1.0)

    K = intrinsics_from_fov(vh, vw, fov_deg, device=image.device)
    K_canvas = shift_principal_point(K, (c_w - vw) / 2.0, (c_h - vh) / 2.0)
    canvas = SkyCanvas(rgb=canvas_rgb, disparity=canvas_disp, K=K_canvas, sky_offset=sky_offset)
    anchor = None
    if anchor_scale:
        anchor = _photo_anchor(
            image, disp_norm_full, sky_full, (top, left, ch, cw), size=(vh, vw), fov_deg=fov_deg, scale=int(anchor_scale),
            sky_offset=sky_offset, by_layer=skyline_repair,
        )
    return PreparedScene(rgb=rgb, disparity=disparity, sky=sky_mask, K=K, sky_offset=sky_offset, canvas=canvas, anchor=anchor)


def _photo_anchor(
    image: Tensor, disparity: Tensor, sky: Tensor, crop: tuple[int, int, int, int], *, size: tuple[int, int], fov_deg: float, scale: int,
    sky_offset: float, by_layer: bool = False,
) -> PhotoAnchor:
    """The whole photo as the anchor, its centre crop ``anchor_side(width, crop width, scale)`` pixels wide.

    The anchor reaches beyond the first view wherever the photo does (a 4:3 photo seen
    square: about 7 degrees on each side at a 55-degree view), so a turn re-samples the
    photo's own pixels there. ``disparity`` and ``sky`` are the estimator-grid maps of the
    whole photo (normalised disparity, sky probability); ``crop`` is ``(top, left, height,
    width)`` of the first view in the photo's pixels and ``size`` the view's ``(height,
    width)``. The pyramid needs sides that are multiples of ``2 ** (levels - 1)``: the photo
    is resized by ``a / width`` and cut down to such multiples at its right and bottom edges
    (which does not move its pixels). ``by_layer`` resizes the disparity with sky and ground
    apart (``_resize_by_layer``).
    """
    top, left, ch, cw = crop
    _, H, W = image.shape
    a = anchor_side(size[1], cw, scale)
    step = 2 ** (anchor_levels(a, size[1]) - 1)
    hr, wr = max(1, round(H * a / cw)), max(1, round(W * a / cw))
    fy, fx = hr / H, wr / W
    ha, wa = max(step, hr // step * step), max(step, wr // step * step)
    rgb = _resize(image.unsqueeze(0).float(), (hr, wr)).clamp(0, 1)[..., :ha, :wa]
    disp = (_resize_by_layer(disparity, sky, (hr, wr)) if by_layer else _resize(disparity, (hr, wr))).clamp(0.01, 1.0)[..., :ha, :wa]
    sky_a = _resize(sky, (hr, wr)).clamp(0, 1)[..., :ha, :wa]
    # The view's intrinsics at the photo's pixels, moved to the crop's place, then scaled to the
    # anchor's pixels (pixel centres at integers: x' = (x + 0.5) f - 0.5).
    K = shift_principal_point(intrinsics_from_fov(ch, cw, fov_deg, device=image.device), left, top)
    S = K.new_tensor([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
    haze = estimate_haze(rgb, sky_a)  # for FlyThroughConfig.aerial_perspective
    return build_anchor(rgb, disp, S @ K, state_side=size[1], sky_offset=sky_offset, haze=haze, view_side=a)
