"""Camera paths through a :class:`~infinitenature.synthetic.Landscape`.

All paths start at the scene's start position and heading and move ``speed``
scene units per frame:

* ``"straight"``: constant heading; constant altitude, raised smoothly only
  where the ground would come closer than half the clearance.
* ``"curve"``: the same, turning at a constant rate (``turn_deg`` per unit).
* ``"terrain"``: follows the ground at ``clearance`` (smoothed, never lower
  than half the clearance), looking with a constant pitch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import geometry

__all__ = ["PATHS", "camera_path"]

PATHS = ("straight", "curve", "terrain")


def _safe_envelope(floor: Tensor, window: int) -> Tensor:
    """Smooth curve that is >= ``floor`` everywhere: moving max, then moving mean.

    The mean over a centred window of moving maxima (same window) is at least
    the value at the centre, because every one of those maxima covers it.
    """
    if window <= 1:
        return floor
    pad = window // 2
    x = floor[None, None]
    x = torch.nn.functional.max_pool1d(torch.nn.functional.pad(x, (pad, pad), mode="replicate"), window, stride=1)
    x = torch.nn.functional.avg_pool1d(torch.nn.functional.pad(x, (pad, pad), mode="replicate"), window, stride=1)
    return x[0, 0, : floor.shape[0]]


def camera_path(
    scene,
    num_frames: int,
    *,
    path: str = "straight",
    speed: float = 0.15,
    clearance: float = 1.0,
    pitch_deg: float = -6.0,
    turn_deg: float = 3.0,
    start_distance: float = 0.0,
) -> Tensor:
    """World-to-camera poses of a flight through ``scene``.

    Args:
        scene: a :class:`~infinitenature.synthetic.Landscape`.
        num_frames: number of poses ``T`` (>= 1).
        path: ``"straight"``, ``"curve"`` or ``"terrain"``.
        speed: scene units per frame (> 0).
        clearance: camera height above the ground at the start (> 0).
        pitch_deg: constant pitch (negative looks down).
        turn_deg: heading change per scene unit travelled (``"curve"`` only;
            positive turns right).
        start_distance: where along the valley the flight starts.

    Returns:
        ``(T, 4, 4)`` float32 poses; camera positions are never closer than
        ``clearance / 2`` above the surface (terrain or water) below them.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive int, got {num_frames!r}")
    if not speed > 0.0:
        raise ValueError(f"speed must be positive, got {speed}")
    start = scene.pose_at(start_distance, clearance=clearance, pitch_deg=pitch_deg)
    c0 = geometry.camera_center(start)
    fwd0 = start[2, :3]
    heading0 = math.atan2(float(fwd0[0]), float(fwd0[2]))
    steps = torch.arange(num_frames, dtype=torch.float32)
    rate = math.radians(turn_deg) * speed if path == "curve" else 0.0
    heading = heading0 + rate * steps
    # Integrate the heading (exact for constant turn rate: midpoint of each step).
    mid = heading0 + rate * (steps - 0.5)
    dx = torch.where(steps > 0, speed * torch.sin(mid), torch.zeros(()))
    dz = torch.where(steps > 0, speed * torch.cos(mid), torch.zeros(()))
    x = c0[0] + torch.cumsum(dx, 0)
    z = c0[2] + torch.cumsum(dz, 0)
    # Ground under and slightly around each position, for a safe altitude.
    offsets = torch.tensor([-0.5, 0.0, 0.5, 1.0])
    fx, fz = torch.sin(heading), torch.cos(heading)
    ground = scene.ground_height(x[:, None] + offsets * fx[:, None], z[:, None] + offsets * fz[:, None]).amax(1)
    window = max(1, int(round(3.0 / speed)) | 1)
    if path == "terrain":
        altitude = _safe_envelope(ground + clearance, window)
    else:
        altitude = torch.maximum(-c0[1], _safe_envelope(ground + 0.5 * clearance, window))
    pitch = math.radians(pitch_deg)
    position = torch.stack([x, -altitude, z], dim=1)
    forward = torch.stack([fx * math.cos(pitch), torch.full_like(fx, -math.sin(pitch)), fz * math.cos(pitch)], dim=1)
    down = torch.tensor([0.0, 1.0, 0.0]).expand_as(forward)
    return geometry.look_at(position, forward, down)
