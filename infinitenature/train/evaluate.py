"""Held-out hole filling: how well a refiner reconstructs what a mask hides.

``identity_l1`` is the other half of a refiner's job: with nothing hidden, how far
its output strays from its input (what makes colours drift when every pixel is
refined, step after step).

The stage-1 task as a score: each held-out RGBD frame is masked twice, once
with a real disocclusion (warped to a nearby camera and back, as at inference
time) and once with random blocks; the refiner fills both and the L1 error is
measured on the hidden pixels only. Masks, cameras and latents are drawn from
one seeded generator, so two refiners scored with the same ``seed`` see exactly
the same holes (this is what the masked-warm-up ablation compares).

Each ``HoleFillingScore`` also says how much texture the fill has: the gradient
energy of the output inside the holes (pixels at least ``DETAIL_MARGIN`` from any
visible pixel, so the seam does not count) over the true frame's there. A fill that
is right on average but smooth scores near 0 however low its L1; 1 is as much fine
structure as the photo had (not necessarily the same structure: blotches and
artefacts count as much as grass does, so read it next to the L1 and look at the fills).

``detail_restoration`` scores a third job, the one the published loop gives the
refiner by refining every pixel of every frame: given a frame blurred as if the camera
had flown so close that it is magnified beyond the resolution it was seen at
(``masks.magnify_blur``), how much of the lost detail its fine correction brings back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor

from ..metrics.stability import gradient_energy, sharpness
from .cyclic import sample_relative_poses
from .data import PhotoCache, PhotoDataset
from .masks import magnify_blur, random_block_masks, round_trip

__all__ = ["HoleFillingScore", "HoleTask", "hole_tasks", "hole_filling_l1", "hole_interior", "identity_l1", "DetailScore", "detail_restoration", "heldout_crops"]


@dataclass(frozen=True)
class HoleFillingScore:
    """Mean absolute error on hidden pixels (values in ``[0, 1]`` units).

    Attributes:
        rgb_l1: L1 of RGB over hidden pixels, averaged over the 3 channels.
        disparity_l1: L1 of normalized disparity over hidden pixels.
        hole_fraction: the fraction of pixels that were hidden.
        detail: gradient energy of the filled grey image over the true frame's, summed
            over the holes' interior (``hole_interior``); ``nan`` when no hole has one.
    """

    rgb_l1: float
    disparity_l1: float
    hole_fraction: float
    detail: float = float("nan")


#: Hidden pixels closer than this to a visible pixel are left out of ``HoleFillingScore.detail``.
DETAIL_MARGIN = 2


def hole_interior(mask: Tensor, margin: int = DETAIL_MARGIN) -> Tensor:
    """Hidden pixels at least ``margin`` px (Chebyshev) from any visible one.

    Args:
        mask: ``(B, 1, H, W)``, 1 = visible, 0 = hidden.
    Returns:
        ``(B, 1, H, W)`` float, 1 on the interior of the holes.
    """
    near_visible = F.max_pool2d(mask.float(), 2 * margin + 1, stride=1, padding=margin)
    return 1.0 - near_visible



def _check_frames(rgb: Tensor, disparity: Tensor) -> None:
    if rgb.dim() != 4 or rgb.shape[1] != 3 or disparity.shape != (rgb.shape[0], 1, *rgb.shape[2:]):
        raise ValueError(f"rgb must be (N, 3, H, W) and disparity (N, 1, H, W), got {tuple(rgb.shape)}, {tuple(disparity.shape)}")


@dataclass(frozen=True)
class HoleTask:
    """One kind of hole over a batch of frames: what the refiner is shown.

    Attributes:
        rgb: ``(N, 3, H, W)`` in ``[0, 1]`` (for disocclusions: the round-tripped frame).
        disparity: ``(N, 1, H, W)`` in ``(0, 1]``.
        mask: ``(N, 1, H, W)``: 1 visible, 0 hidden.
    """

    rgb: Tensor
    disparity: Tensor
    mask: Tensor


@torch.no_grad()
def hole_tasks(
    rgb: Tensor,
    disparity: Tensor,
    K: Tensor,
    *,
    seed: int = 0,
    latent_dim: int = 0,
    block_ratio: tuple[float, float] = (0.4, 0.9),
    patch: int = 8,
    forward: tuple[float, float] = (0.05, 0.3),
    lateral_max: float = 0.05,
    yaw_max_deg: float = 8.0,
    pitch_max_deg: float = 4.0,
    beta: float = 4.0,
) -> tuple[dict[str, HoleTask], Tensor]:
    """The held-out holes of ``hole_filling_l1``: disocclusions and random blocks, drawn from ``seed``.

    Args:
        rgb: ``(N, 3, H, W)`` held-out frames in ``[0, 1]``.
        disparity: ``(N, 1, H, W)`` normalized disparity in ``(0, 1]``.
        K: ``(3, 3)`` intrinsics of the frames.
        seed: seeds cameras, block masks and latents (same seed, same holes).
        latent_dim: size of the latents drawn after the masks (the refiner's ``config.latent_dim``).
        block_ratio, patch: the random block masks (as in stage 1).
        forward, lateral_max, yaw_max_deg, pitch_max_deg, beta: the nearby cameras of the
            disocclusion masks (as ``sample_relative_poses`` / ``round_trip``).

    Returns:
        ``({"disocclusion": HoleTask, "blocks": HoleTask}, z)`` with ``z`` ``(N, latent_dim)``.
    """
    _check_frames(rgb, disparity)
    N, _, H, W = rgb.shape
    device = rgb.device
    g = torch.Generator().manual_seed(seed)
    poses = sample_relative_poses(
        N, forward=forward, lateral_max=lateral_max, yaw_max_deg=yaw_max_deg, pitch_max_deg=pitch_max_deg,
        generator=g, device=device,
    )
    blocks = random_block_masks(N, H, W, ratio=block_ratio, patch=patch, generator=g, device=device)
    z = torch.randn(N, latent_dim, generator=g).to(device)
    rt = round_trip(rgb, disparity, poses, K.to(device), beta=beta)
    return {
        "disocclusion": HoleTask(rt.rgb, rt.disparity, rt.mask),
        "blocks": HoleTask(rgb, disparity, blocks),
    }, z


@torch.no_grad()
def hole_filling_l1(refiner, rgb: Tensor, disparity: Tensor, K: Tensor, *, seed: int = 0, batch_size: int = 16, **holes) -> dict[str, HoleFillingScore]:
    """Score ``refiner`` on filling disocclusion holes and random block holes.

    Args:
        refiner: a generator with ``encode_style(x)``, ``refine(rgb, disparity, mask,
            code, z, noise=...)`` and ``config.latent_dim`` (``CoModGenerator``).
        rgb: ``(N, 3, H, W)`` held-out frames in ``[0, 1]``.
        disparity: ``(N, 1, H, W)`` normalized disparity in ``(0, 1]``.
        K: ``(3, 3)`` intrinsics of the frames.
        seed: seeds cameras, block masks and latents (same seed, same holes).
        batch_size: frames per refiner call.
        **holes: passed to ``hole_tasks`` (mask ratios, camera ranges).

    Returns:
        ``{"disocclusion": HoleFillingScore, "blocks": HoleFillingScore}``; each L1 is
        pooled over all hidden pixels of all frames, ``detail`` over the holes' interiors
        of all frames. The refiner sees the round-tripped
        frame (with its resampling blur) for disocclusions, the original for blocks, and
        is always compared with the original frame; noise inputs are zero.
    """
    _check_frames(rgb, disparity)
    N, _, H, W = rgb.shape
    device = next(refiner.parameters()).device
    rgb, disparity, K = rgb.to(device), disparity.to(device), K.to(device)
    tasks, z = hole_tasks(rgb, disparity, K, seed=seed, latent_dim=refiner.config.latent_dim, **holes)

    # rgb error, disparity error, hidden pixels, output and true gradient energy in the holes' interior
    sums = {k: [0.0, 0.0, 0.0, 0.0, 0.0] for k in tasks}
    for lo in range(0, N, batch_size):
        sl = slice(lo, lo + batch_size)
        real_rgb, real_disp = rgb[sl], disparity[sl]
        code = refiner.encode_style(torch.cat([real_rgb, real_disp], 1) * 2 - 1)
        for kind, task in tasks.items():
            mask = task.mask[sl]
            out = refiner.refine(task.rgb[sl], task.disparity[sl], mask, code, z[sl], noise="zero")
            hole = 1.0 - mask
            acc = sums[kind]
            acc[0] += float(((out[:, :3] - real_rgb).abs() * hole).sum()) / 3.0
            acc[1] += float(((out[:, 3:] - real_disp).abs() * hole).sum())
            acc[2] += float(hole.sum())
            inner = hole_interior(mask)
            acc[3] += float((gradient_energy(out[:, :3]) * inner).sum())
            acc[4] += float((gradient_energy(real_rgb) * inner).sum())
    total = float(N * H * W)
    return {
        k: HoleFillingScore(
            rgb_l1=e_rgb / max(n, 1.0), disparity_l1=e_disp / max(n, 1.0), hole_fraction=n / total,
            detail=e_out / e_true if e_true > 0 else float("nan"),
        )
        for k, (e_rgb, e_disp, n, e_out, e_true) in sums.items()
    }


@torch.no_grad()
def identity_l1(refiner, rgb: Tensor, disparity: Tensor, *, seed: int = 0, batch_size: int = 16) -> tuple[float, float]:
    """L1 between a refiner's output and its input when nothing is hidden.

    Args:
        refiner: as for ``hole_filling_l1``.
        rgb: ``(N, 3, H, W)`` frames in ``[0, 1]``; disparity ``(N, 1, H, W)`` in ``(0, 1]``.
        seed: seeds the latents.

    Returns:
        ``(rgb_l1, disparity_l1)`` averaged over all pixels (0 for a perfect identity).
    """
    _check_frames(rgb, disparity)
    device = next(refiner.parameters()).device
    rgb, disparity = rgb.to(device), disparity.to(device)
    z = torch.randn(rgb.shape[0], refiner.config.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    err_rgb = err_disp = 0.0
    for lo in range(0, rgb.shape[0], batch_size):
        sl = slice(lo, lo + batch_size)
        code = refiner.encode_style(torch.cat([rgb[sl], disparity[sl]], 1) * 2 - 1)
        out = refiner.refine(rgb[sl], disparity[sl], torch.ones_like(disparity[sl]), code, z[sl], noise="zero")
        err_rgb += float((out[:, :3] - rgb[sl]).abs().sum())
        err_disp += float((out[:, 3:] - disparity[sl]).abs().sum())
    return err_rgb / rgb.numel(), err_disp / disparity.numel()


def high_pass(x: Tensor, sigma: float) -> Tensor:
    """``x`` minus its Gaussian blur of ``sigma`` pixels (reflect padding): the detail finer than ``sigma``."""
    k = 2 * int(math.ceil(3.0 * sigma)) + 1
    return x - gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")


@dataclass(frozen=True)
class DetailScore:
    """Restoring magnified frames, at one magnification.

    Attributes:
        blurred_l1: RGB L1 of the blurred input against the sharp frame (keeping it as is).
        restored_l1: RGB L1 of the input plus the refiner's fine correction.
        blurred_detail: gradient energy of the blurred input over the sharp frame's (1 = as much).
        restored_detail: the same for the restored frames.
    """

    blurred_l1: float
    restored_l1: float
    blurred_detail: float
    restored_detail: float


@torch.no_grad()
def detail_restoration(
    refiner,
    rgb: Tensor,
    disparity: Tensor,
    *,
    factors: tuple[float, ...] = (1.5, 2.0, 3.0),
    sigma: float = 1.5,
    seed: int = 0,
    batch_size: int = 16,
) -> dict[float, DetailScore]:
    """How much detail the refiner restores in frames magnified beyond their resolution.

    Each frame is blurred by ``magnify_blur`` (nothing hidden) and refined (the style
    code comes from the sharp frame, as the loop's comes from the photo). The restored
    frame is the blurred input plus ``high_pass(output - input, sigma)``: the refiner's
    fine correction only, so that its colour drift (``identity_l1``) does not count
    here. Everything is compared with the sharp frame.

    Args:
        refiner: as for ``hole_filling_l1``.
        rgb: ``(N, 3, H, W)`` sharp frames in ``[0, 1]``; disparity ``(N, 1, H, W)`` in ``(0, 1]``.
        factors: magnifications (each ``>= 1``).
        sigma: the high-pass width in pixels.
        seed: seeds the latents.

    Returns:
        ``{factor: DetailScore}``; L1 averaged over all pixels and channels, detail as
        the ratio of gradient energies summed over all frames.
    """
    _check_frames(rgb, disparity)
    N = rgb.shape[0]
    device = next(refiner.parameters()).device
    rgb, disparity = rgb.to(device), disparity.to(device)
    z = torch.randn(N, refiner.config.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    true_energy = float(sharpness(rgb).sum())
    sums = {float(f): [0.0, 0.0, 0.0, 0.0] for f in factors}  # L1 in, L1 out, energy in, energy out
    for lo in range(0, N, batch_size):
        sl = slice(lo, lo + batch_size)
        sharp = torch.cat([rgb[sl], disparity[sl]], 1)
        code = refiner.encode_style(sharp * 2 - 1)  # as in the loop: the style of the sharp photo
        for factor, acc in sums.items():
            blurred = magnify_blur(sharp, torch.full((sharp.shape[0],), factor))
            b_rgb, b_disp = blurred[:, :3], blurred[:, 3:].clamp(0.01, 1.0)
            out = refiner.refine(b_rgb, b_disp, torch.ones_like(b_disp), code, z[sl], noise="zero")
            restored = (b_rgb + high_pass(out[:, :3] - b_rgb, sigma)).clamp(0.0, 1.0)
            acc[0] += float((b_rgb - rgb[sl]).abs().sum())
            acc[1] += float((restored - rgb[sl]).abs().sum())
            acc[2] += float(sharpness(b_rgb).sum())
            acc[3] += float(sharpness(restored).sum())
    n, energy = rgb.numel(), max(true_energy, 1e-12)
    return {
        f: DetailScore(blurred_l1=a / n, restored_l1=b / n, blurred_detail=c / energy, restored_detail=d / energy)
        for f, (a, b, c, d) in sums.items()
    }


def heldout_crops(photos, cache: PhotoCache, *, resolution: int, crops: int = 8) -> tuple[Tensor, Tensor, list[str]]:
    """Fixed square crops of held-out photos, as training would cut them (no colour jitter).

    Args:
        photos: photo paths; unreadable ones are skipped (``PhotoCache.build``).
        cache: where their disparity and sky are computed once (give it estimators).
        resolution: crop size ``S`` in pixels.
        crops: random crops (0.6-1x the short side, seeded by the photo's position) per
            photo, on top of its centre crop.

    Returns:
        ``(rgb (N, 3, S, S) in [0, 1], disparity (N, 1, S, S) in (0, 1], names)``
        with ``N = len(names) * (crops + 1)``.
    """
    usable = cache.build(list(photos))
    if not usable:
        raise ValueError("no readable held-out photos")
    data = PhotoDataset(usable, cache, resolution=resolution, crop_scale=(0.6, 1.0), color_jitter=0.0)
    items = []
    for i in range(len(usable)):
        items.append(data[i])
        items += [data[(i, 10_000 * i + k)] for k in range(crops)]
    return (
        torch.stack([it["rgb"] for it in items]),
        torch.stack([it["disparity"] for it in items]),
        [p.name for p in usable],
    )
