"""Surface detail where flying closer magnifies the photo beyond its own pixels.

The photo anchor (``anchor.py``) keeps whatever the photo resolves sharp, but
a photo resolves a surface only down to its own pixels. Fly close to a hillside
the photo saw at a grazing angle and one photo pixel covers many view pixels
along the slope (often 5-10x by frame 40 of an autopilot flight, and 1x across
it): bilinear lookup draws that as streaks that run toward the vanishing point,
the "smear" of a long flight.

This module adds the missing octaves as texture. Where a pixel comes from the
anchor, the finest wavelength its content resolves is two anchor pixels along the
lookup's most magnified direction (the smaller singular value of its Jacobian);
where the refiner painted it, two refiner pixels. The loop carries that
wavelength (in world units) and the photo's local fine contrast with every state
pixel, warped along with it, so content keeps its limit as it is magnified
further, long after the photo has left the view. Each emitted frame then gets
one octave of band-limited 3D noise for every octave of wavelength between that
limit and what the view can show without aliasing (three view pixels). The
noise is a function of the pixel's surface point in the first camera's
coordinates, so it moves with the surface and is isotropic on it whatever its
slant. Each octave's amplitude is the carried contrast times ``strength``:
natural images have a roughly ``1/f`` amplitude spectrum, about the same
contrast per octave, so the texture continues the photo's (a smooth lake stays
smooth, grass gets grain). The result multiplies the colour of the frame handed
out, ``rgb * (1 + delta)``; the state and the refiner never see it.

With ``FlyThroughConfig.detail_texture = "photo"`` the octaves come from the
photo's own ground instead, where it has similar ground to give
(``photo_detail``): a landscape is self-similar across depth, so the ground a
camera sees at some place in its view, at the distance it has there, looks like
the ground the photo shows at the same place. Two phases, each re-anchored every
``PHOTO_PERIOD`` frames and cross-faded (``photo_phases``), keep that texture
attached to the surface without a visible jump.

With ``FlyThroughConfig.streak_blur`` the anchor's lookup is also filtered
along the lookup's least magnified direction (``anchor.sample_anchor``), so the
photo's content is about equally soft in every direction and this texture is
the only fine structure there, instead of sitting on streaks.

This invents detail; it does not recover it. It is an inference option of ours
(``FlyThroughConfig.detail``), not part of the published method, whose refiner
repaints every frame and learned to paint texture from far more training than
the shipped model had. docs/SETTINGS.md gives what it does to the benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .anchor import AnchorSample, PhotoAnchor, lookup_jacobian, sample_levels, singular_values
from .geometry import pixel_grid
from .step import Departure, LoopState, Warped

__all__ = [
    "MAX_DETAIL",
    "DetailSource",
    "PhotoTexture",
    "TEXTURES",
    "PHOTO_PERIOD",
    "prepare_detail",
    "photo_texture",
    "photo_phases",
    "photo_detail",
    "detail_contrast",
    "magnification",
    "noise_volume",
    "sample_noise",
    "anchor_texture",
    "painted_texture",
    "limit_texture",
    "surface_detail",
    "SurfaceDetail",
]

#: Largest ``strength`` (``FlyThroughConfig.detail``).
MAX_DETAIL = 10.0
#: Finest wavelength added, in view pixels (a bit above Nyquist's 2, so the noise does not alias).
VIEW_WAVELENGTH_PX = 3.0
#: Largest change of brightness the detail may make, relative: ``delta`` is soft-clipped
#: (``MAX_DELTA * tanh(x / MAX_DELTA)``), so very contrasty spots do not turn into flat blobs.
MAX_DELTA = 0.25
#: Most octaves of detail added at one pixel (up to 2**5 = 32x beyond the photo's pixels).
MAX_OCTAVES = 5


def detail_contrast(anchor: PhotoAnchor, *, window: int = 9) -> Tensor:
    """The photo's local contrast at its finest octave, relative to local brightness.

    The finest band of the luminance (the finest level minus its 2x-blurred
    self) is averaged as RMS over ``window x window`` pixels and divided by the
    local mean luminance (+ 0.05). Sky pixels (and the 2 pixels beside them)
    are left out of both, so a skyline's contrast does not count as texture.

    Args:
        anchor: the first view (``anchor.build_anchor``).
        window: side of the averaging box in anchor pixels (odd, >= 3).

    Returns:
        ``(1, 1, H, W)`` contrast >= 0 at the anchor's finest level (typically 0.005-0.05).
    """
    if int(window) != window or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window}")
    finest = anchor.levels[0]
    lum = finest[:, :3].mean(dim=1, keepdim=True)
    blurred = F.interpolate(F.avg_pool2d(lum, 2), scale_factor=2, mode="bilinear", align_corners=False)
    band = lum - blurred
    if anchor.sky_offset > 0:
        sky = (finest[:, 3:4] <= anchor.sky_offset + 1e-6).float()
        ground = 1.0 - F.max_pool2d(sky, 5, stride=1, padding=2)
    else:
        ground = torch.ones_like(lum)

    def box(x: Tensor) -> Tensor:
        return F.avg_pool2d(x, int(window), stride=1, padding=int(window) // 2, count_include_pad=False)

    n = box(ground).clamp_min(1e-6)
    rms = (box(band**2 * ground) / n).sqrt()
    mean = box(lum * ground) / n
    return torch.where(box(ground) > 1e-3, rms / (mean + 0.05), torch.zeros_like(rms))


def magnification(uv: Tensor) -> Tensor:
    """Anchor pixels per view pixel along the view's most magnified direction.

    The smaller singular value of the 2x2 Jacobian of the lookup position
    ``(u, v)`` with respect to the view pixel (``anchor.lookup_jacobian``: one-sided
    differences, so a depth edge does not distort the pixels beside it).

    Args:
        uv: ``(B, 2, H, W)`` anchor pixel coordinates of every view pixel (``AnchorSample.uv``).

    Returns:
        ``(B, 1, H, W)`` >= 0; below 1 where the view magnifies the anchor beyond its pixels.
    """
    return singular_values(*lookup_jacobian(uv))[1]


#: The ``strength`` at which the photo texture (``photo_detail``) has the photo's own contrast.
DETAIL_PER_PHOTO = 1.5

#: Side of the periodic noise volume in voxels.
NOISE_SIDE = 64
#: Mean wavelength of the noise volume's band in voxels (it holds wavelengths 4-8).
NOISE_WAVELENGTH = 6.0


def noise_volume(seed: int = 0, *, side: int = NOISE_SIDE, device=None) -> Tensor:
    """A periodic 3D volume of band-limited Gaussian noise: one octave of a ``1/f`` field.

    White Gaussian noise, band-passed in the Fourier domain to wavelengths of
    4-8 voxels (isotropic: a spherical shell of frequencies) and scaled to unit
    standard deviation. It tiles seamlessly (the FFT is periodic).

    Args:
        seed: seeds the noise (``torch.Generator``; the same seed, the same volume).
        side: voxels per side (a multiple of 8, >= 16).
        device: where the volume is made.

    Returns:
        ``(1, 1, side, side, side)`` float32, mean 0, standard deviation 1.
    """
    if int(side) != side or side < 16 or side % 8:
        raise ValueError(f"side must be a multiple of 8, >= 16, got {side}")
    g = torch.Generator().manual_seed(int(seed))
    white = torch.randn(side, side, side, generator=g, dtype=torch.float64)
    f = torch.fft.fftfreq(side, dtype=torch.float64) * side  # cycles per volume
    radius = (f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2).sqrt()
    band = ((radius >= side / 8) & (radius <= side / 4)).to(torch.float64)  # wavelengths 4..8 voxels
    noise = torch.fft.ifftn(torch.fft.fftn(white) * band).real
    noise = (noise - noise.mean()) / noise.std()
    return noise.to(dtype=torch.float32, device=device).reshape(1, 1, side, side, side)


def sample_noise(volume: Tensor, points: Tensor) -> Tensor:
    """Look up a periodic noise volume at points (trilinear, wrapping around).

    Args:
        volume: ``(1, 1, D, D, D)`` from ``noise_volume``.
        points: ``(3, N)`` in voxel units (any range; float64 keeps far points exact).

    Returns:
        ``(N,)`` float32, continuous in ``points``, periodic with period ``D``.
    """
    if volume.dim() != 5 or volume.shape[:2] != (1, 1) or len(set(volume.shape[2:])) != 1:
        raise ValueError(f"volume must be (1, 1, D, D, D), got {tuple(volume.shape)}")
    if points.dim() != 2 or points.shape[0] != 3:
        raise ValueError(f"points must be (3, N), got {tuple(points.shape)}")
    D = volume.shape[-1]
    wrapped = F.pad(volume, (0, 1, 0, 1, 0, 1), mode="circular")  # D + 1 samples: the last repeats the first
    q = torch.remainder(points, D).to(torch.float32) * (2.0 / D) - 1.0  # [-1, 1) over D voxels
    grid = q.t().reshape(1, 1, 1, -1, 3)  # grid_sample's (x, y, z) = (W, H, D) axes
    return F.grid_sample(wrapped, grid, mode="bilinear", padding_mode="border", align_corners=True).reshape(-1)


def _octave_frame(seed: int, octave: int, device) -> tuple[Tensor, Tensor]:
    """A fixed pseudo-random rotation and offset per (seed, octave), so the octaves' tilings do not line up."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(octave) * 7919 + 12345) % (2**63))
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    offset = torch.rand(3, 1, generator=g, dtype=torch.float64) * NOISE_SIDE
    return q.to(device), offset.to(device)


#: Where the detail's texture comes from (``FlyThroughConfig.detail_texture``).
TEXTURES = ("noise", "photo")
#: Frames between two re-anchorings of one phase of the photo texture (``photo_phases``).
PHOTO_PERIOD = 16
#: Disparity ratio (log2) between a surface point and the photo pixel it reads at which that
#: pixel's texture counts half (``photo_detail``): texture from much nearer or farther ground
#: would have the wrong scale.
PHOTO_DEPTH_TOLERANCE = 1.0
#: Differences between a surface point's colour and that of the photo's ground it reads at which
#: that ground's texture counts half (``photo_detail``): of chromaticity (RGB over its mean), and
#: of brightness in stops (haze and light change brightness more than hue).
PHOTO_CHROMA_TOLERANCE = 0.25
PHOTO_LIGHT_TOLERANCE = 1.5
#: Pixels beside the sky (and the sky) whose texture is not used: the skyline's contrast is not texture.
PHOTO_SKY_MARGIN = 2


@dataclass
class PhotoTexture:
    """The photo's ground as a source of texture (``photo_texture``).

    Attributes:
        levels: ``levels[l]`` is ``(1, 3, H / 2**l, W / 2**l)``: the ground's colours in
            [0, 1] (``PhotoAnchor.ground`` where the photo has sky), box-filtered ``2**l`` x;
            level ``l`` resolves wavelengths of ``2**(l + 1)`` anchor pixels and longer.
        ground: ``(1, 2, H, W)``: channel 0 is 1 on ground at least ``PHOTO_SKY_MARGIN`` pixels
            from the sky, else 0; channel 1 the anchor's disparity.
        K: ``(3, 3)`` the anchor's intrinsics (the first camera at the anchor's resolution).
    """

    levels: list[Tensor]
    ground: Tensor
    K: Tensor


def photo_texture(anchor: PhotoAnchor) -> PhotoTexture:
    """The texture source ``photo_detail`` reads: a colour pyramid of the anchor's ground.

    Args:
        anchor: the first view (``anchor.build_anchor``, pinhole projection).

    Returns:
        A ``PhotoTexture`` with levels down to a side of 4 pixels.
    """
    if anchor.projection != "pinhole":
        raise ValueError(f"the photo texture reads a pinhole anchor, got a {anchor.projection} one")
    finest = anchor.levels[0]
    levels = [x.float() for x in (anchor.ground or [level[:, :3] for level in anchor.levels])]  # the anchor's own pyramid ...
    while min(levels[-1].shape[-2:]) >= 8:  # ... continued down
        levels.append(F.avg_pool2d(levels[-1], 2))
    disparity = finest[:, 3:4].float()
    if anchor.sky_offset > 0:
        sky = (disparity <= anchor.sky_offset + 1e-6).float()
        usable = 1.0 - F.max_pool2d(sky, 2 * PHOTO_SKY_MARGIN + 1, stride=1, padding=PHOTO_SKY_MARGIN)
    else:
        usable = torch.ones_like(disparity)
    return PhotoTexture(levels=levels, ground=torch.cat([usable, disparity], dim=1), K=anchor.K.float())


def photo_phases(frame: int, period: int = PHOTO_PERIOD) -> list[tuple[int, float]]:
    """The two phases of the photo texture at ``frame``: ``(anchor frame, weight)`` each.

    Phase ``k`` (``k = 0, 1``) re-anchors every ``period`` frames, offset by ``k * period / 2``;
    its weight rises from 0 at its anchor frame to 1 half a period later and falls
    back to 0 at the next, so the two weights always sum to 1 and each phase is
    re-anchored while it is unseen (the "flow map" of real-time water rendering).
    Before a phase's first anchor frame, frame 0 is its anchor.

    Args:
        frame: index of the frame handed out (>= 0).
        period: frames between a phase's anchor frames (even, >= 2).
    """
    if int(period) != period or period < 2 or period % 2:
        raise ValueError(f"period must be an even integer >= 2, got {period}")
    if frame < 0:
        raise ValueError(f"frame must be >= 0, got {frame}")
    out = []
    for shift in (0, period // 2):
        since = (frame - shift) % period
        w = 1.0 - abs(2.0 * since / period - 1.0)
        out.append((max(frame - since, 0), w))
    return out


def _colour_match(a: Tensor, b: Tensor) -> Tensor:
    """``(N,)`` in (0, 1]: how alike the colours ``a`` and ``b`` (``(3, N)`` in [0, 1]) are in hue and brightness."""
    la, lb = a.mean(dim=0) + 0.02, b.mean(dim=0) + 0.02
    chroma = (a / la - b / lb).square().sum(dim=0).sqrt()  # (linalg's norm over dim 0 is slow on a CPU)
    light = torch.log2(la / lb)
    return torch.exp2(-((chroma / PHOTO_CHROMA_TOLERANCE) ** 2) - (light / PHOTO_LIGHT_TOLERANCE) ** 2)


def photo_detail(
    points: Tensor, log_view: Tensor, log_res: Tensor, photo: PhotoTexture, phases: list[tuple[Tensor, float]], colour: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Texture from the photo's own ground for surface points: what a camera sees there up close.

    A landscape is self-similar across depth: the ground a camera sees at a place in
    its view, at the distance it has there, looks like the ground the photo shows at
    the same place. Each phase re-anchors a camera of the flight (``pose``, pinhole
    with the anchor's intrinsics) as if it had taken the photo, and gives a surface
    point the photo's texture where that camera sees the point: so the texture moves
    with the surface, and has the right scale when the phase is re-anchored. The
    octaves the content does not resolve (wavelengths between ``log_view`` and
    ``log_res``) are the photo's luminance band between those wavelengths, relative to
    its local mean. A phase counts where its photo pixel is ground (``usable``), less
    the more its disparity differs from the point's (``PHOTO_DEPTH_TOLERANCE``), and less
    the more the photo's colour there (at the band's coarse end) differs from the
    point's (``PHOTO_CHROMA_TOLERANCE``, ``PHOTO_LIGHT_TOLERANCE``): a tree's trunk or a
    hedge's shadow is not the texture of the meadow beside it.

    Args:
        points: ``(3, N)`` surface points in the first camera's coordinates (float64).
        log_view: ``(N,)`` log2 of the finest wavelength added, in world units.
        log_res: ``(N,)`` log2 of the finest wavelength the content resolves, in world units.
        photo: ``photo_texture`` of the run's anchor.
        phases: ``(pose, weight)`` per phase: the ``(4, 4)`` world-to-camera pose of its
            anchor frame and its weight (``photo_phases``).
        colour: optional ``(3, N)`` the points' colours in the view, in [0, 1].

    Returns:
        ``(detail, cover, finest)``, each ``(N,)`` float32: the relative brightness change
        (the phases' mix, scaled to keep the texture's contrast where they overlap); the
        share of the weight the phases had a usable photo pixel for, in [0, 1]; and the
        log2 of the finest wavelength the photo gives there in world units (two photo
        pixels, as the phases see the point; their mean by weight). Octaves finer than
        that are not in the photo's texture.
    """
    if points.dim() != 2 or points.shape[0] != 3:
        raise ValueError(f"points must be (3, N), got {tuple(points.shape)}")
    N, dev = points.shape[1], points.device
    detail = torch.zeros(N, dtype=torch.float32, device=dev)
    cover = torch.zeros(N, dtype=torch.float32, device=dev)
    finest = torch.zeros(N, dtype=torch.float32, device=dev)
    norm = sum(float(w) ** 2 for _, w in phases)
    if N == 0 or norm == 0.0:
        return detail, cover, finest
    K = photo.K.to(device=dev, dtype=torch.float64)
    H, W = photo.ground.shape[-2:]
    top = len(photo.levels) - 1
    if colour is not None and colour.shape != (3, N):
        raise ValueError(f"colour must be (3, {N}), got {tuple(colour.shape)}")
    size = torch.tensor([W, H], dtype=torch.float64, device=dev)
    for pose, w in phases:
        if w <= 0:
            continue
        pose = pose.to(device=dev, dtype=torch.float64)
        Xa = pose[:3, :3] @ points + pose[:3, 3:4]
        z = Xa[2]
        ahead = z > 1e-6
        zs = torch.where(ahead, z, torch.ones_like(z))
        uv = (K[:2] @ Xa) / zs
        inside = ahead & (uv[0] >= 0) & (uv[0] <= W - 1) & (uv[1] >= 0) & (uv[1] <= H - 1)
        grid = ((uv + 0.5) * (2.0 / size.unsqueeze(1)) - 1.0).t().to(torch.float32).reshape(1, 1, N, 2)
        looked = F.grid_sample(photo.ground.to(dev), grid, mode="bilinear", padding_mode="border", align_corners=False).reshape(2, N)
        usable, disp = looked[0], looked[1]
        ratio = torch.log2(disp.double().clamp_min(1e-4) * zs).to(torch.float32)
        near = torch.exp2(-(ratio / PHOTO_DEPTH_TOLERANCE) ** 2)
        use = inside.to(torch.float32) * (usable > 0.999).to(torch.float32) * near
        # Anchor pixels per world unit at the point, as that camera sees it.
        to_anchor = torch.log2(K[0, 0] / zs).to(torch.float32)
        lo = (log_view + to_anchor - 1.0).clamp(0, top).reshape(1, 1, N)
        hi = (log_res + to_anchor - 1.0).clamp(0, top).reshape(1, 1, N)
        fine = sample_levels(photo.levels, grid, lo).reshape(3, N).mean(dim=0)
        coarse_rgb = sample_levels(photo.levels, grid, hi).reshape(3, N)
        coarse = coarse_rgb.mean(dim=0)
        band = (fine - coarse) / (coarse + 0.05)
        if colour is not None:
            use = use * _colour_match(colour.float(), coarse_rgb)
        detail += float(w) * use * band
        cover += float(w) * use
        finest += float(w) * use * (1.0 - to_anchor)
    finest = torch.where(cover > 0, finest / cover.clamp_min(1e-6), log_res)
    return detail / math.sqrt(norm), cover.clamp(0, 1), finest


@dataclass
class DetailSource:
    """What the detail needs from a run, made once by ``prepare_detail``.

    Attributes:
        contrast: ``(1, 1, H, W)`` the photo's fine contrast (``detail_contrast``).
        volume: ``(1, 1, D, D, D)`` the run's noise (``noise_volume``).
        painted_contrast: the contrast given to what the refiner paints (the median of
            ``contrast`` over the photo's non-sky pixels).
        photo: the photo's ground as texture (``photo_texture``), or ``None``: noise only.
    """

    contrast: Tensor
    volume: Tensor
    painted_contrast: float
    photo: PhotoTexture | None = None


def prepare_detail(anchor: PhotoAnchor, seed: int = 0, *, texture: str = "noise") -> DetailSource:
    """The contrast map of ``anchor`` and a noise volume seeded by ``seed``, on the anchor's device.

    With ``texture="photo"`` also the photo's ground as texture (``photo_texture``).
    """
    if texture not in TEXTURES:
        raise ValueError(f"texture must be one of {', '.join(TEXTURES)}, got {texture!r}")
    contrast = detail_contrast(anchor)
    ground = contrast[contrast > 0]
    painted = float(ground.median()) if ground.numel() else 0.0
    photo = photo_texture(anchor) if texture == "photo" else None
    return DetailSource(contrast=contrast, volume=noise_volume(seed, device=contrast.device), painted_contrast=painted, photo=photo)


def _log2_pixel(disparity: Tensor, K: Tensor) -> Tensor:
    """log2 of a view pixel's size in world units at each pixel's surface: depth over focal length."""
    return -torch.log2(disparity.float().clamp_min(1e-4) * float(K[0, 0]))


def _nyquist(disparity: Tensor, K: Tensor, pixels: float) -> Tensor:
    """log2 of the finest wavelength content held at ``pixels`` view pixels per pixel resolves (two of them)."""
    if not pixels >= 1:
        raise ValueError(f"pixels must be >= 1, got {pixels}")
    return _log2_pixel(disparity, K) + math.log2(2.0 * float(pixels))


def anchor_texture(sample: AnchorSample, source: DetailSource, K: Tensor) -> Tensor:
    """What the anchor resolves at each view pixel, and the photo's contrast there.

    Args:
        sample: ``anchor.sample_anchor``'s answer for the view (``uv`` and ``disparity`` are used).
        source: ``prepare_detail`` of the same anchor.
        K: ``(3, 3)`` intrinsics of the view.

    Returns:
        ``(B, 2, H, W)``: channel 0 is ``log2`` of the finest wavelength the anchor
        resolves there in world units (two anchor pixels along the most magnified
        direction); channel 1 the photo's contrast at the lookup (``detail_contrast``).
    """
    uv = sample.uv.float()
    mag = magnification(uv) if sample.magnification is None else sample.magnification.float()
    resolved = _log2_pixel(sample.disparity, K) + 1.0 - torch.log2(mag.clamp_min(1e-8))
    size = uv.new_tensor([source.contrast.shape[-1], source.contrast.shape[-2]]).view(1, 2, 1, 1)  # width, height
    grid = ((uv + 0.5) * (2.0 / size) - 1.0).permute(0, 2, 3, 1)
    contrast = F.grid_sample(source.contrast.float().expand(uv.shape[0], -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return torch.cat([resolved, contrast], dim=1)


def painted_texture(disparity: Tensor, K: Tensor, source: DetailSource, *, pixels: float) -> Tensor:
    """``anchor_texture``'s channels for content painted at ``pixels`` view pixels per painted pixel.

    Args:
        disparity: ``(B, 1, H, W)`` the view's disparity in (0, 1].
        K: ``(3, 3)`` intrinsics of the view.
        source: gives the contrast (``DetailSource.painted_contrast``).
        pixels: view pixels per pixel of the painting (>= 1; e.g. the state's
            supersampling for what the refiner painted).

    Returns:
        ``(B, 2, H, W)``: ``log2`` of two painted pixels in world units, and the contrast.
    """
    resolved = _nyquist(disparity, K, pixels)
    return torch.cat([resolved, torch.full_like(resolved, source.painted_contrast)], dim=1)


def limit_texture(texture: Tensor, disparity: Tensor, K: Tensor, *, pixels: float = 1.0) -> Tensor:
    """Content held at ``pixels`` view pixels per pixel resolves nothing finer than two of those.

    Clamps ``texture``'s channel 0 (``log2`` resolved wavelength in world units) from below
    at ``log2(2 * pixels)`` view pixels; channel 1 is unchanged.
    """
    return torch.cat([torch.maximum(texture[:, :1], _nyquist(disparity, K, pixels)), texture[:, 1:]], dim=1)


def surface_detail(
    texture: Tensor,
    disparity: Tensor,
    pose: Tensor,
    K: Tensor,
    source: DetailSource,
    *,
    strength: float,
    seed: int = 0,
    weight: Tensor | None = None,
    phases: list[tuple[Tensor, float]] = (),
    rgb: Tensor | None = None,
) -> Tensor:
    """Relative brightness detail for a view: the octaves its content does not resolve.

    Each pixel is traced to its surface point in the first camera's coordinates
    (``pose^-1 K^-1 [u, v, 1] / d``). Octave ``k`` has wavelength ``2**k`` in those
    units (disparity 1 is distance 1). A pixel gets the octaves between
    ``VIEW_WAVELENGTH_PX`` view pixels and the wavelength its content resolves
    (``texture`` channel 0; at most ``MAX_OCTAVES``), each fading in over one
    octave, each with amplitude ``strength`` x its contrast (channel 1).

    Args:
        texture: ``(B, 2, H, W)`` from ``anchor_texture`` / ``painted_texture``,
            carried along with the frame.
        disparity: ``(B, 1, H, W)`` the view's disparity in (0, 1].
        pose: ``(4, 4)`` world-to-camera pose of the view (first camera = identity).
        K: ``(3, 3)`` intrinsics of the view.
        source: ``prepare_detail`` of the run.
        strength: per-octave amplitude in units of the contrast (0 = none; at most ``MAX_DETAIL``).
        seed: turns each octave's noise differently (the same seed and source give
            the same texture on the same surface).
        weight: optional ``(B, 1, H, W)`` in [0, 1] the result is multiplied by (e.g. 0 at sky).
        phases: with ``source.photo``, the photo texture's phases (``photo_detail``): where
            they cover a point, its octaves come from the photo's ground (at the photo's
            own contrast, times ``strength / DETAIL_PER_PHOTO``) instead of noise.
        rgb: optional ``(B, 3, H, W)`` the view's colours, for ``photo_detail``'s colour match.

    Returns:
        ``(B, 1, H, W)`` ``delta`` in ``(-MAX_DELTA, MAX_DELTA)`` (soft-clipped), 0 wherever
        the content resolves what the view can show; the view's colour there becomes
        ``rgb * (1 + delta)``.
    """
    if not 0.0 <= float(strength) <= MAX_DETAIL:
        raise ValueError(f"strength must be in [0, {MAX_DETAIL:g}], got {strength}")
    if texture.dim() != 4 or texture.shape[1] != 2 or texture.shape[-2:] != disparity.shape[-2:]:
        raise ValueError(f"texture must be (B, 2, H, W) like the disparity {tuple(disparity.shape)}, got {tuple(texture.shape)}")
    B, _, H, W = disparity.shape
    dev = disparity.device
    delta = torch.zeros(B * H * W, dtype=torch.float32, device=dev)
    if float(strength) == 0.0:
        return delta.reshape(B, 1, H, W)
    log_view = _log2_pixel(disparity, K) + math.log2(VIEW_WAVELENGTH_PX)
    log_res = torch.minimum(texture[:, :1].float(), log_view + MAX_OCTAVES)
    active = log_res > log_view
    if weight is not None:
        active = active & (weight > 0)
    active = active.flatten()
    if not bool(active.any()):
        return delta.reshape(B, 1, H, W)
    idx = active.nonzero().squeeze(1)
    lv, la = log_view.flatten()[idx], log_res.flatten()[idx]
    amp = float(strength) * texture[:, 1:2].float().flatten()[idx]
    photo = source.photo is not None and bool(phases)
    # Surface points in the first camera's coordinates (float64: far points stay exact).
    ray = torch.linalg.inv(K.to(dev).double()) @ pixel_grid(H, W, dtype=torch.float64, device=dev).reshape(3, -1)
    X = (ray.unsqueeze(0) / disparity.double().clamp_min(1e-4).reshape(B, 1, -1))  # (B, 3, HW) in the view
    to_first = torch.linalg.inv(pose.to(device=dev, dtype=torch.float64)).expand(B, 4, 4)
    Xw = to_first[:, :3, :3] @ X + to_first[:, :3, 3:4]
    points = Xw.permute(1, 0, 2).reshape(3, -1)[:, idx]
    if photo:
        # Where the photo texture covers a point, the noise keeps only the octaves finer than the photo gives.
        colour = None if rgb is None else rgb.float().permute(1, 0, 2, 3).reshape(3, -1)[:, idx]
        from_photo, cover, finest = photo_detail(points, lv, la, source.photo, list(phases), colour)
        below = torch.minimum(la, finest)
    lo, hi = math.floor(float(lv.min())), math.ceil(float(la.max()))
    chunks, owners, weights = [], [], []
    for octave in range(lo, hi + 1):
        w = (la - octave).clamp(0, 1) * (octave - lv).clamp(0, 1)  # fades in over an octave at both ends
        if photo:
            w = (1 - cover) * w + cover * (below - octave).clamp(0, 1) * (octave - lv).clamp(0, 1)
        on = (w > 0).nonzero().squeeze(1)
        if on.numel() == 0:
            continue
        rot, offset = _octave_frame(seed, octave, dev)
        chunks.append(rot @ points[:, on] * (NOISE_WAVELENGTH * 2.0**-octave) + offset)
        owners.append(on)
        weights.append(w[on])
    total = torch.zeros(idx.numel(), dtype=torch.float32, device=dev)
    if chunks:
        noise = sample_noise(source.volume, torch.cat(chunks, dim=1))
        total.index_add_(0, torch.cat(owners), torch.cat(weights) * noise)
    total = amp * total
    if photo:
        total = total + (float(strength) / DETAIL_PER_PHOTO) * from_photo
    delta[idx] = MAX_DELTA * torch.tanh(total / MAX_DELTA)
    out = delta.reshape(B, 1, H, W)
    return out if weight is None else out * weight.float()


class SurfaceDetail(Departure):
    """Surface detail in the loop (``FlyThroughConfig.detail``; needs the photo anchor).

    The state carries, per pixel, the finest wavelength its content resolves and the
    photo's contrast there (channel ``"texture"``, ``anchor_texture`` /
    ``painted_texture``), warped with it; every frame handed out gets the octaves its
    content does not resolve (``surface_detail``). Sky (disparity at or below
    ``sky_level``) gets none. With a photo texture in ``source``, the departure keeps
    the poses of the frames its two phases are anchored to (``photo_phases``).

    Args:
        source: ``prepare_detail`` of the run's anchor.
        K: ``(3, 3)`` intrinsics of the state.
        strength: per-octave amplitude (``FlyThroughConfig.detail``).
        seed: the run's seed (turns the noise).
        scale: state pixels per refiner pixel (what the refiner paints resolves ``scale`` of them).
        sky_level: the disparity of the sky (0 = no sky).
        period: frames between a phase's anchor frames (``PHOTO_PERIOD``).
    """

    def __init__(self, source: DetailSource, K: Tensor, *, strength: float, seed: int, scale: int, sky_level: float, period: int = PHOTO_PERIOD) -> None:
        self.source, self.K = source, K
        self.strength, self.seed, self.scale, self.sky_level = strength, seed, scale, sky_level
        self.period = period
        self.shown = 0  # frames handed out so far
        self.anchor_poses: dict[int, Tensor] = {}  # the photo texture's anchor frames -> their poses

    def start(self, state: LoopState) -> None:
        a0 = state.anchor
        if a0 is None:
            raise ValueError("detail needs the photo anchor: set anchor_scale >= 1 too (detail continues the photo's texture)")
        painted = painted_texture(state.disparity, self.K, self.source, pixels=self.scale)
        texture = a0.weight * anchor_texture(a0, self.source, self.K) + (1 - a0.weight) * painted
        state.channels["texture"] = limit_texture(texture, state.disparity, self.K)

    def after_warp(self, warped: Warped) -> None:
        if warped.anchor is not None:  # the holes get theirs once the refiner has painted them (after_paint)
            w = warped.anchor_weight
            warped.channels["texture"] = w * anchor_texture(warped.anchor, self.source, self.K) + (1 - w) * warped.channels["texture"]

    def after_paint(self, warped: Warped, state: LoopState, keep: Tensor | None, painted: bool) -> None:
        texture, disp, K = state.channels["texture"], state.disparity, self.K
        if not painted:
            state.channels["texture"] = limit_texture(texture, disp, K)
            return
        # Holes: what the refiner painted there. Elsewhere, where its output replaced the
        # warped pixels (all of them without keep_visible), nothing finer than its pixels.
        texture = warped.mask * texture + (1 - warped.mask) * painted_texture(disp, K, self.source, pixels=self.scale)
        repainted = limit_texture(texture, disp, K, pixels=self.scale)
        texture = repainted if keep is None else keep * texture + (1 - keep) * repainted
        state.channels["texture"] = limit_texture(texture, disp, K)

    def _phases(self, pose: Tensor) -> list[tuple[Tensor, float]]:
        """The photo texture's phases for the frame about to be shown (``photo_phases``)."""
        if self.source.photo is None:
            return []
        frame = self.shown
        if frame % (self.period // 2) == 0:
            self.anchor_poses[frame] = pose
        phases = photo_phases(frame, self.period)
        self.anchor_poses = {f: p for f, p in self.anchor_poses.items() if f in {a for a, _ in phases}}
        return [(self.anchor_poses[a], w) for a, w in phases]

    def on_show(self, rgb: Tensor, state: LoopState) -> Tensor:
        disp = state.disparity
        ground = (disp > self.sky_level).float() if self.sky_level > 0 else None
        phases = self._phases(state.pose)
        self.shown += 1
        texture = state.channels["texture"]
        delta = surface_detail(
            texture, disp, state.pose, self.K, self.source, strength=self.strength, seed=self.seed, weight=ground, phases=phases, rgb=rgb
        )
        return (rgb * (1 + delta)).clamp(0, 1)
