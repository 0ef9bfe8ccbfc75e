"""Sky correction: keep the first frame's sky from drifting.

After each refine step the sky of the *initial* photo (its wider canvas) is
warped into the current view and blended in where the refined frame has sky.
The sky lies at infinity, so only the camera rotation moves it; for a pure
rotation the warp is the homography ``H = K R K_canvas^-1``, which we apply
with ``kornia.geometry.transform.warp_perspective`` (an inverse, gather-based
warp). We use the homography rather than ``forward_splat`` with zero
translation because it is exact for a pure rotation, leaves no splatting holes
when the view is magnified, needs no softmax ordering (every canvas pixel is at
the same infinite depth) and is cheaper (one ``grid_sample``).

The released code aborted a sequence when the blend covered less than 5% or
more than 60% of the frame; here ``sky_blend`` reports the fraction and the
caller decides (the pipeline warns and skips the blend).

The canvas holds the sky the photo shows (the release outpainted its canvas with
a GAN). Where a flight uncovers sky the photo hid (the sky behind a crest, which
the crest's parallax or the camera's pitch brings into view), the frame keeps the
sky the loop carried there: the sky's lowest row, the skyline's mixed pixels,
stretched up into a band of ground colour. ``continue_sky`` gives the canvas the
sky behind its ground instead (``FlyThroughConfig.sky_behind``).
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
from torch import Tensor

from .filters import min_filter, push_pull_fill
from .geometry import pixel_grid, project_cylinder

__all__ = ["SkyCanvas", "SkyBlendResult", "sky_blend", "continue_sky"]

#: Added to ``sky_offset`` in the ``<=`` tests, so that resampling round-off of a
#: sky sitting at the 0.01 floor (0.01 -> 0.0100001) does not flip it.
_OFFSET_TOLERANCE = 1e-6
#: View rays closer than this (the cosine) to the first camera's image plane get no canvas sky.
_FRONT_EPS = 1e-2


@dataclass
class SkyCanvas:
    """The initial photo's wider view, used as the reference sky.

    Attributes:
        rgb: ``(1, 3, Hc, Wc)`` colours in ``[0, 1]``.
        disparity: ``(1, 1, Hc, Wc)`` disparity normalized like the crop, in ``[0.01, 1]``.
        K: ``(3, 3)`` intrinsics of the canvas in pixels: the crop's ``K`` with
            the principal point shifted by the crop's offset inside the canvas
            (``geometry.shift_principal_point``).
        sky_offset: disparity at or below which content counts as sky (0 = no sky).
        projection: ``"pinhole"`` (the wider photo) or ``"cylinder"`` (a panorama around
            the first camera's vertical axis, ``panorama.panorama_canvas``; its columns
            wrap around the full circle, as ``anchor.PhotoAnchor.projection``).
        continued: ``True`` when the canvas is sky everywhere (``continue_sky``): its
            ground replaced by the sky behind it, its skyline's mixed pixels by clean sky.
    """

    rgb: Tensor
    disparity: Tensor
    K: Tensor
    sky_offset: float
    projection: str = "pinhole"
    continued: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rgb, Tensor) or self.rgb.dim() != 4 or self.rgb.shape[:2] != (1, 3):
            raise ValueError(f"canvas rgb must be (1, 3, Hc, Wc), got {_shape(self.rgb)}")
        if not isinstance(self.disparity, Tensor) or self.disparity.shape != (1, 1, *self.rgb.shape[2:]):
            raise ValueError(f"canvas disparity must be (1, 1, {self.rgb.shape[2]}, {self.rgb.shape[3]}), got {_shape(self.disparity)}")
        if not isinstance(self.K, Tensor) or self.K.shape != (3, 3):
            raise ValueError(f"canvas K must be (3, 3), got {_shape(self.K)}")
        if self.projection not in ("pinhole", "cylinder"):
            raise ValueError(f"canvas projection must be 'pinhole' or 'cylinder', got {self.projection!r}")
        self.sky_offset = float(self.sky_offset)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "SkyCanvas":
        """A copy on another device / dtype."""
        return SkyCanvas(
            rgb=self.rgb.to(device=device, dtype=dtype),
            disparity=self.disparity.to(device=device, dtype=dtype),
            K=self.K.to(device=device, dtype=dtype),
            sky_offset=self.sky_offset,
            projection=self.projection,
            continued=self.continued,
        )


@dataclass
class SkyBlendResult:
    """Output of ``sky_blend``.

    Attributes:
        rgb: ``(B, 3, H, W)`` blended colours.
        disparity: ``(B, 1, H, W)`` blended disparity.
        weight: ``(B, 1, H, W)`` blend weight of the warped initial sky, in ``[0, 1]``.
        fraction: mean of ``weight`` over the whole batch (share of the frame
            replaced by the initial sky), in ``[0, 1]``.
    """

    rgb: Tensor
    disparity: Tensor
    weight: Tensor
    fraction: float


def _shape(x: object) -> object:
    return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__


def _in_front(R: Tensor, K: Tensor, pixels: Tensor) -> Tensor:
    """``(B, 1, N)`` bool: the view rays through ``pixels`` (``(3, N)`` homogeneous: columns,
    rows, ones) point in front of the first camera (``R``: first camera to view, ``(B, 3, 3)``;
    ``K`` the view's)."""
    rays = torch.linalg.inv(K) @ pixels
    return (R.transpose(1, 2) @ rays)[:, 2:3] > _FRONT_EPS * rays.norm(dim=1, keepdim=True)


def _warp_cylinder(src: Tensor, Kc: Tensor, R: Tensor, K: Tensor, H: int, W: int) -> Tensor:
    """A cylindrical canvas ``src`` (``(1, C, Hc, Wc)``, intrinsics ``Kc``) seen along the view's
    rays: ``(B, C, H, W)``, zero where the rays leave the canvas's rows (``R``, ``K``: ``(B, 3, 3)``)."""
    B = R.shape[0]
    Hc, Wc = src.shape[-2:]
    rays = R.transpose(1, 2) @ torch.linalg.inv(K) @ pixel_grid(H, W, device=src.device, dtype=src.dtype).reshape(3, H * W)
    u, v, _ = project_cylinder(rays, Kc)
    u = torch.remainder(u + 0.5, Wc) - 0.5
    grid = torch.stack([(u + 0.5) * (2.0 / Wc) - 1.0, (v + 0.5) * (2.0 / Hc) - 1.0], dim=-1).reshape(B, H, W, 2)
    return torch.nn.functional.grid_sample(src.expand(B, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def sky_blend(
    rgb: Tensor,
    disparity: Tensor,
    canvas: SkyCanvas,
    rotation: Tensor,
    K: Tensor,
    *,
    erode: int = 7,
    blur_kernel: int = 5,
    blur_sigma: float = 1.5,
) -> SkyBlendResult:
    """Blend the initial sky, warped by the camera rotation, into a refined frame.

    1. Warp the canvas RGB, disparity, sky indicator ``disp <= sky_offset`` and
       a constant 1 (coverage) into the current view with
       ``H = K R K_canvas^-1`` (bilinear).
    2. Sky of the warped canvas: ``coverage > 0.9`` and warped ``disp <= sky_offset``
       (all four bilinear source pixels are sky);
       erode it with a ``erode x erode`` square (``filters.min_filter``)
       and blur it (``kornia.filters.gaussian_blur2d``, ``blur_kernel``,
       ``blur_sigma``).
    3. Where the refined frame is also sky (``disparity <= sky_offset``),
       blend: ``out = w * warped + (1 - w) * refined`` for RGB and disparity.

    A ``continued`` canvas (``continue_sky``) is sky everywhere and has no mixed
    skyline pixels: step 2 keeps only ``coverage > 0.9`` (no erosion, no blur), so
    every sky pixel of the frame the canvas reaches takes the canvas's sky, also
    where the photo showed ground.

    ``<=`` (not ``<``, and with a 1e-6 tolerance) because disparity is
    clipped at 0.01: a sky whose disparity sits at the floor has
    ``sky_offset = 0.01`` and must still count.
    With ``sky_offset <= 0`` (no sky in the photo) nothing is blended.

    Args:
        rgb: ``(B, 3, H, W)`` refined frame in ``[0, 1]``.
        disparity: ``(B, 1, H, W)`` refined disparity in ``[0.01, 1]``.
        canvas: the initial photo's ``SkyCanvas``.
        rotation: ``(B, 3, 3)`` or ``(3, 3)`` rotation from the initial camera to
            the current one, ``X_current = R X_initial`` (the rotation part of
            ``geometry.relative_pose(initial_pose, current_pose)``).
        K: ``(B, 3, 3)`` or ``(3, 3)`` intrinsics of the current view.
        erode: side of the erosion square (odd, >= 1; 1 = no erosion).
        blur_kernel: side of the Gaussian kernel (odd, >= 1; 1 = no blur).
        blur_sigma: Gaussian sigma in pixels (> 0).

    Returns:
        ``SkyBlendResult``.
    """
    if not isinstance(rgb, Tensor) or rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be a (B, 3, H, W) tensor, got {_shape(rgb)}")
    B, _, H, W = rgb.shape
    if not isinstance(disparity, Tensor) or disparity.shape != (B, 1, H, W):
        raise ValueError(f"disparity must be ({B}, 1, {H}, {W}), got {_shape(disparity)}")
    if not isinstance(canvas, SkyCanvas):
        raise TypeError(f"canvas must be a SkyCanvas, got {type(canvas).__name__}")
    for name, m in (("rotation", rotation), ("K", K)):
        if not isinstance(m, Tensor) or m.shape[-2:] != (3, 3) or m.dim() not in (2, 3) or (m.dim() == 3 and m.shape[0] not in (1, B)):
            raise ValueError(f"{name} must be (3, 3) or ({B}, 3, 3), got {_shape(m)}")
    for name, k in (("erode", erode), ("blur_kernel", blur_kernel)):
        if int(k) != k or k < 1 or k % 2 == 0:
            raise ValueError(f"{name} must be an odd integer >= 1, got {k}")
    if blur_sigma <= 0:
        raise ValueError(f"blur_sigma must be > 0, got {blur_sigma}")

    like = dict(device=rgb.device, dtype=rgb.dtype)
    if canvas.sky_offset <= 0.0:
        zero = torch.zeros_like(disparity)
        return SkyBlendResult(rgb=rgb, disparity=disparity, weight=zero, fraction=0.0)

    offset = canvas.sky_offset + _OFFSET_TOLERANCE
    R = rotation.to(**like).expand(B, 3, 3)
    Kv = K.to(**like).expand(B, 3, 3)
    c_disp = canvas.disparity.to(**like)
    c_sky = (c_disp <= offset).to(c_disp.dtype)
    src = torch.cat([canvas.rgb.to(**like), c_disp, c_sky, torch.ones_like(c_disp)], dim=1)
    if canvas.projection == "cylinder":
        warped = _warp_cylinder(src, canvas.K.to(**like), R, Kv, H, W)
    else:
        Hmat = Kv @ R @ torch.linalg.inv(canvas.K.to(**like))
        warped = kornia.geometry.transform.warp_perspective(src.expand(B, -1, -1, -1), Hmat, (H, W), align_corners=True)
        # A homography cannot tell a ray in front of the first camera from the opposite ray: once
        # the camera has turned far enough, the view's pixels whose rays point away from the first
        # camera (or along its image plane, where the warp divides by zero: NaN) would get its sky
        # mirrored. They get nothing.
        # (z - eps |ray|, with z linear in the pixel, is concave: if the four corners pass, all do.)
        corners = torch.tensor([[0, W - 1, 0, W - 1], [0, 0, H - 1, H - 1], [1, 1, 1, 1]], **like)
        if not bool(_in_front(R, Kv, corners).all()):
            front = _in_front(R, Kv, pixel_grid(H, W, **like).reshape(3, H * W)).reshape(B, 1, H, W)
            warped = torch.where(front, torch.nan_to_num(warped, nan=0.0, posinf=0.0, neginf=0.0), torch.zeros_like(warped))
    coverage = warped[:, 5:6]
    norm = torch.where(coverage > 0, coverage, torch.ones_like(coverage))  # undo the zero padding's fade
    w_rgb, w_disp, w_sky = warped[:, :3] / norm, warped[:, 3:4] / norm, warped[:, 4:5] / norm

    # "warped disp <= sky_offset", tested on the warped sky indicator so that
    # interpolation round-off (0.01 -> 0.0100001) cannot flip it: ~1 only where
    # every source pixel of the bilinear footprint is sky.
    sky = ((coverage > 0.9) & (w_sky > 1.0 - 1e-4)).to(rgb.dtype)
    if not canvas.continued:  # a continued canvas is clean sky up to its skyline: nothing to keep away from
        if erode > 1:
            sky = min_filter(sky, erode // 2)  # = kornia.morphology.erosion with a square, several times faster
        if blur_kernel > 1:
            sky = kornia.filters.gaussian_blur2d(sky, (blur_kernel, blur_kernel), (blur_sigma, blur_sigma))
    weight = sky * (disparity <= offset).to(rgb.dtype)
    return SkyBlendResult(
        rgb=weight * w_rgb + (1 - weight) * rgb,
        disparity=weight * w_disp + (1 - weight) * disparity,
        weight=weight,
        fraction=float(weight.mean()),
    )


def continue_sky(canvas: SkyCanvas, *, margin: int = 8) -> SkyCanvas:
    """The canvas with its sky continued behind its ground (``FlyThroughConfig.sky_behind``).

    A flight uncovers sky the photo hid: a crest's parallax, or the camera pitching
    down, moves the sky away from the skyline faster than the ground. The canvas has
    ground there, so ``sky_blend`` cannot help, and the render stretches the sky's
    lowest row over the gap; that row is the skyline's mixed pixels, part ground
    colour, so a band of ground colour climbs into the sky. Here the canvas's sky
    with ``margin`` pixels trimmed off its skyline (those mixed pixels, and the rows of
    hill that an imprecise mask gives the sky) is carried
    over everything else by push-pull (``filters.push_pull_fill``): behind the ground
    the canvas holds the colour of the nearest clean sky, smoothly, and its disparity
    is the sky's.

    Args:
        canvas: a ``SkyCanvas`` with sky (``sky_offset > 0``; else it is returned as is).
        margin: pixels trimmed off the sky along the skyline (>= 0).

    Returns:
        A ``SkyCanvas`` with ``continued=True``, the same ``K`` and projection; its
        ``rgb`` in [0, 1] is the clean sky everywhere, its ``disparity`` at most the
        sky offset everywhere.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if canvas.sky_offset <= 0.0:
        return canvas
    sky = (canvas.disparity <= canvas.sky_offset + _OFFSET_TOLERANCE).to(canvas.rgb.dtype)
    core = min_filter(sky, margin)
    if not bool(core.any()):
        core = sky
    values = push_pull_fill(torch.cat([canvas.rgb, canvas.disparity], dim=1), core)
    return SkyCanvas(
        rgb=values[:, :3].clamp(0, 1),
        disparity=torch.minimum(values[:, 3:], torch.full_like(values[:, 3:], canvas.sky_offset)),
        K=canvas.K,
        sky_offset=canvas.sky_offset,
        projection=canvas.projection,
        continued=True,
    )
