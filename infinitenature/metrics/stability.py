"""Stability metrics for long flythroughs.

Long runs of perpetual view generation fail in a few recognisable ways: the
frames lose detail (``relative_sharpness`` falls), the colours drift
(``colour_drift`` grows), the sky takes over or vanishes (``sky_fraction``),
and the camera stalls or jerks (``per_step_motion``). Each function returns one
value per frame (or per step) so curves can be plotted; :func:`stability_report`
samples them at a few steps as a JSON-ready dict.

Frames are ``uint8 (T, H, W, 3)`` or float ``(T, 3, H, W)`` in ``[0, 1]`` (numpy
or torch), or an iterable of such chunks; they are processed ``batch_size``
frames at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch
from kornia.color import rgb_to_grayscale, rgb_to_lab
from kornia.filters import spatial_gradient
from kornia.geometry.conversions import rotation_matrix_to_axis_angle
from torch import Tensor

from ..geometry import camera_center
from .features import FrameSource, iter_frame_batches

__all__ = [
    "sharpness",
    "relative_sharpness",
    "colour_drift",
    "sky_fraction",
    "StepMotion",
    "per_step_motion",
    "gradient_energy",
    "stability_report",
]


@dataclass
class _FrameMeasures:
    sharpness: Tensor  # (T,)
    mean_rgb: Tensor  # (T, 3)
    mean_lab: Tensor  # (T, 3)


def gradient_energy(rgb: Tensor) -> Tensor:
    """Per-pixel gradient energy: squared Sobel magnitude of the grey image.

    Args:
        rgb: ``(B, 3, H, W)`` in ``[0, 1]``.
    Returns:
        ``(B, 1, H, W)``, ``>= 0``. Normalized kernels (kornia ``spatial_gradient``,
        borders replicated): a ramp rising by ``a`` per pixel has energy ``a**2``.
    """
    grad = spatial_gradient(rgb_to_grayscale(rgb), mode="sobel", order=1, normalized=True)  # (B, 1, 2, H, W)
    return grad.pow(2).sum(dim=2)


def _measure(frames: FrameSource, batch_size: int) -> _FrameMeasures:
    """One pass over the frames: gradient energy and mean colours."""
    sharp, rgb, lab = [], [], []
    for x in iter_frame_batches(frames, batch_size):
        sharp.append(gradient_energy(x).mean(dim=(1, 2, 3)))
        rgb.append(x.mean(dim=(2, 3)))
        lab.append(rgb_to_lab(x).mean(dim=(2, 3)))
    if not sharp:
        raise ValueError("frames is empty")
    return _FrameMeasures(torch.cat(sharp), torch.cat(rgb), torch.cat(lab))


def sharpness(frames: FrameSource, *, batch_size: int = 64) -> Tensor:
    """Gradient energy per frame: mean squared Sobel magnitude of the grey image.

    The Sobel kernels are normalized (kornia ``spatial_gradient``, borders
    replicated), so a ramp rising by ``a`` per pixel has gradient magnitude ``a``.

    Returns:
        ``(T,)`` float32, ``>= 0``; larger = more detail.
    """
    return _measure(frames, batch_size).sharpness


def relative_sharpness(frames: FrameSource, *, batch_size: int = 64) -> Tensor:
    """``sharpness / sharpness[0]``: ``(T,)``, 1 at the first frame (``nan`` if it is flat)."""
    s = sharpness(frames, batch_size=batch_size)
    return s / s[0]


def colour_drift(frames: FrameSource, *, space: Literal["lab", "rgb"] = "lab", batch_size: int = 64) -> Tensor:
    """Distance of each frame's mean colour from the first frame's.

    Args:
        frames: see the module docstring.
        space: ``"lab"``: Euclidean distance of the mean CIELAB colour (kornia's
            sRGB -> Lab, L in ``[0, 100]``; a distance of about 2.3 is just
            noticeable). ``"rgb"``: of the mean RGB in ``[0, 1]``.

    Returns:
        ``(T,)`` float32, 0 at the first frame.
    """
    if space not in ("lab", "rgb"):
        raise ValueError(f"space must be 'lab' or 'rgb', got {space!r}")
    m = _measure(frames, batch_size)
    mean = m.mean_lab if space == "lab" else m.mean_rgb
    return (mean - mean[:1]).norm(dim=1)


def sky_fraction(disparities: Tensor | np.ndarray, threshold: float = 0.1) -> Tensor:
    """Fraction of pixels with disparity below ``threshold`` (sky) per frame.

    Args:
        disparities: ``(T, 1, H, W)`` or ``(T, H, W)`` normalized disparity in ``(0, 1]``.
        threshold: disparity below which a pixel counts as sky (the autopilot's
            reference ``sky_threshold`` is 0.1).

    Returns:
        ``(T,)`` float32 in ``[0, 1]``.
    """
    d = torch.as_tensor(disparities)
    if d.dim() == 4 and d.shape[1] == 1:
        d = d[:, 0]
    if d.dim() != 3 or not d.is_floating_point():
        raise ValueError(f"disparities must be float (T, 1, H, W) or (T, H, W), got {d.dtype} {tuple(d.shape)}")
    return (d < threshold).float().mean(dim=(1, 2))


@dataclass
class StepMotion:
    """Camera motion between consecutive poses.

    Attributes:
        translation: ``(T-1,)`` distance between consecutive camera centres (scene units).
        rotation_deg: ``(T-1,)`` angle of the relative rotation, degrees in ``[0, 180]``.
    """

    translation: Tensor
    rotation_deg: Tensor


def per_step_motion(poses: Tensor) -> StepMotion:
    """Camera-centre displacement and rotation angle of each step of a path.

    Args:
        poses: ``(T, 4, 4)`` world-to-camera poses, ``T >= 2``.

    Returns:
        :class:`StepMotion` with ``(T-1,)`` tensors.

    Example:
        >>> from infinitenature.geometry import pose_from_rt
        >>> t = torch.tensor([[0.0, 0, 0], [0, 0, -0.5]])  # the camera moves 0.5 along +z
        >>> per_step_motion(pose_from_rt(torch.eye(3).expand(2, 3, 3), t)).translation
        tensor([0.5000])
    """
    poses = torch.as_tensor(poses)
    if poses.dim() != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 2 or not poses.is_floating_point():
        raise ValueError(f"poses must be float (T, 4, 4) with T >= 2, got {poses.dtype} {tuple(poses.shape)}")
    centres = camera_center(poses)
    translation = (centres[1:] - centres[:-1]).norm(dim=-1)
    R = poses[:, :3, :3]
    rel = R[1:] @ R[:-1].transpose(-1, -2)
    angle = rotation_matrix_to_axis_angle(rel.contiguous()).norm(dim=-1)
    return StepMotion(translation=translation, rotation_deg=torch.rad2deg(angle))


def stability_report(
    frames: FrameSource,
    poses: Tensor | None = None,
    disparities: Tensor | np.ndarray | None = None,
    *,
    steps: Sequence[int] | None = None,
    sky_threshold: float = 0.1,
    batch_size: int = 64,
) -> dict:
    """Stability of one run, sampled at a few steps, as a JSON-ready dict.

    Args:
        frames: ``T`` frames (see the module docstring).
        poses: optional ``(T, 4, 4)`` world-to-camera poses.
        disparities: optional ``(T, 1, H, W)`` disparities.
        steps: frame indices to report (negative counts from the end);
            default: 5 evenly spaced steps from the first to the last frame.
        sky_threshold: see :func:`sky_fraction`.

    Returns:
        ``{"num_frames", "steps", "sharpness", "relative_sharpness",
        "colour_drift_lab", "colour_drift_rgb"}`` (lists aligned with ``steps``),
        plus ``"sky_fraction"`` with disparities and ``"motion"`` (mean/std/max
        of the per-step translation and rotation, and the path length) with poses.
    """
    m = _measure(frames, batch_size)
    T = m.sharpness.shape[0]
    if steps is None:
        steps = sorted({int(round(s)) for s in np.linspace(0, T - 1, num=min(5, T))})
    idx = [int(s) + T if int(s) < 0 else int(s) for s in steps]
    if any(not 0 <= i < T for i in idx):
        raise ValueError(f"steps must index {T} frames, got {list(steps)}")

    def at(values: Tensor) -> list[float]:
        return [float(values[i]) for i in idx]

    report: dict = {
        "num_frames": T,
        "steps": idx,
        "sharpness": at(m.sharpness),
        "relative_sharpness": at(m.sharpness / m.sharpness[0]),
        "colour_drift_lab": at((m.mean_lab - m.mean_lab[:1]).norm(dim=1)),
        "colour_drift_rgb": at((m.mean_rgb - m.mean_rgb[:1]).norm(dim=1)),
    }
    if disparities is not None:
        sky = sky_fraction(disparities, sky_threshold)
        if sky.shape[0] != T:
            raise ValueError(f"disparities hold {sky.shape[0]} frames, frames hold {T}")
        report["sky_fraction"] = at(sky)
    if poses is not None:
        if torch.as_tensor(poses).shape[0] != T:
            raise ValueError(f"poses hold {torch.as_tensor(poses).shape[0]} frames, frames hold {T}")
        motion = per_step_motion(poses)
        report["motion"] = {
            "path_length": float(motion.translation.sum()),
            "mean_translation": float(motion.translation.mean()),
            "std_translation": float(motion.translation.std(correction=0)),
            "max_translation": float(motion.translation.max()),
            "mean_rotation_deg": float(motion.rotation_deg.mean()),
            "std_rotation_deg": float(motion.rotation_deg.std(correction=0)),
            "max_rotation_deg": float(motion.rotation_deg.max()),
        }
    return report
