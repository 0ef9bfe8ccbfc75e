"""Virtual camera trajectories: sampling poses, flying out and back (stage 2).

The "Zero" in InfiniteNature-Zero: from a real photo at the start pose, fly a
virtual camera out along a sampled path (render + refine every step) and back
to the start; the frame that arrives back must reproduce the photo. The views
along the way have no ground truth; the adversarial loss judges them.

Poses follow docs/CONVENTIONS.md: world-to-camera ``(4, 4)``, OpenCV axes, and
the world frame here is the start camera's frame (the start pose is the
identity). Distances are in the units of normalized disparity: the nearest
content (disparity ~0.8) is at depth ~1.25.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix
from torch import Tensor

from ..step import LoopState, RefinerInputs, Warped, paint, warp

__all__ = [
    "sample_relative_poses",
    "sample_cycle",
    "straight_poses",
    "render_refine",
    "CycleResult",
    "fly",
]


def _uniform(shape: tuple[int, ...], low: float, high: float, generator, device, dtype) -> Tensor:
    """``U(low, high)`` drawn on the generator's device (CPU seeds give the same numbers everywhere)."""
    gen_device = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, device=gen_device, dtype=dtype)
    return (low + (high - low) * u).to(device)


def sample_relative_poses(
    batch: int,
    *,
    forward: tuple[float, float] = (0.05, 0.3),
    lateral_max: float = 0.05,
    yaw_max_deg: float = 8.0,
    pitch_max_deg: float = 4.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Random small camera moves: mostly forward, a little sideways, a small yaw and pitch.

    The new camera sits at ``c = (x, y, f)`` in the current camera's frame, with
    ``f ~ U(forward)``, ``x, y ~ U(-lateral_max, lateral_max)``, and is turned by
    yaw (about the camera's y axis) then pitch (about its x axis), each uniform
    within its maximum.

    Returns:
        ``(B, 4, 4)`` relative poses ``[[R, t], [0, 1]]`` with
        ``X_new = R X_current + t``.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if not 0.0 <= forward[0] <= forward[1]:
        raise ValueError(f"forward must be an increasing (min, max) pair >= 0, got {forward}")
    shape = (batch,)
    f = _uniform(shape, forward[0], forward[1], generator, device, dtype)
    lat = _uniform((batch, 2), -lateral_max, lateral_max, generator, device, dtype)
    yaw = _uniform(shape, -math.radians(yaw_max_deg), math.radians(yaw_max_deg), generator, device, dtype)
    pitch = _uniform(shape, -math.radians(pitch_max_deg), math.radians(pitch_max_deg), generator, device, dtype)
    zeros = torch.zeros_like(yaw)
    R_yaw = axis_angle_to_rotation_matrix(torch.stack([zeros, yaw, zeros], dim=-1))
    R_pitch = axis_angle_to_rotation_matrix(torch.stack([pitch, zeros, zeros], dim=-1))
    cam_to_cur = R_yaw @ R_pitch  # the new camera's axes in the current frame
    center = torch.cat([lat, f[:, None]], dim=-1)
    R = cam_to_cur.transpose(-1, -2)
    t = -(R @ center[..., None])[..., 0]
    out = torch.zeros(batch, 4, 4, device=R.device, dtype=dtype)
    out[:, :3, :3] = R
    out[:, :3, 3] = t
    out[:, 3, 3] = 1.0
    return out


def sample_cycle(batch: int, steps: int, **kwargs) -> Tensor:
    """A closed virtual path: ``steps`` random moves out, then back through the same poses.

    Keyword arguments go to ``sample_relative_poses`` (``generator`` included).

    Returns:
        ``(B, 2 * steps, 4, 4)`` world-to-camera poses ``P_1 .. P_n, P_{n-1} .. P_1, P_0``
        where the start pose ``P_0`` (not included as the first entry) is the
        identity; the last entry is exactly the identity.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    moves = [sample_relative_poses(batch, **kwargs) for _ in range(steps)]
    eye = torch.eye(4, dtype=moves[0].dtype, device=moves[0].device).expand(batch, 4, 4)
    out = [eye]
    for m in moves:
        out.append(m @ out[-1])
    return torch.stack(out[1:] + out[-2::-1], dim=1)


def straight_poses(batch: int, steps: int, *, speed: float = 0.1, device=None, dtype=torch.float32) -> Tensor:
    """Flying straight ahead: ``(B, steps, 4, 4)`` poses with camera centres ``(0, 0, k * speed)``."""
    k = torch.arange(1, steps + 1, device=device, dtype=dtype)
    poses = torch.eye(4, device=device, dtype=dtype).repeat(batch, steps, 1, 1)
    poses[..., 2, 3] = -speed * k
    return poses


def render_refine(
    net,
    rgb: Tensor,
    disparity: Tensor,
    rotation: Tensor,
    translation: Tensor,
    K: Tensor,
    global_code: Tensor,
    z: Tensor,
    *,
    beta: float = 4.0,
    keep_visible: bool = False,
    noise: str = "random",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Warped]:
    """One render-refine step, the loop's own (``step.warp`` then ``step.paint``).

    Args:
        net: a generator with ``refine(rgb, disparity, mask, global_code, z, *, noise, generator)``.
        rgb, disparity: ``(B, 3, H, W)`` in ``[0, 1]`` and ``(B, 1, H, W)`` in ``(0, 1]``.
        rotation, translation: ``(B, 3, 3)``, ``(B, 3)``: ``X_next = R X + t``.
        K: ``(3, 3)`` or ``(B, 3, 3)`` intrinsics.
        global_code, z: the sequence's style code ``(B, G)`` and latent ``(B, Z)``.
        keep_visible: composite as ``FlyThroughConfig(keep_visible=True)`` does.

    Returns:
        ``(rgbd, warped)``: the new ``(B, 4, H, W)`` frame (colour in ``[0, 1]``, disparity
        in ``[0.01, 1]``) and the warped frame (``warped.mask``: 1 = warped pixel, 0 = hole).
    """
    w = warp(LoopState(rgb=rgb, disparity=disparity), rotation, translation, K, beta=beta)
    inputs = RefinerInputs(global_code=global_code, z=z, noise=noise, generator=generator)
    new_rgb, new_disp, _, _ = paint(net, w, inputs, keep_visible=keep_visible)
    return torch.cat([new_rgb, new_disp], dim=1), w


@dataclass
class CycleResult:
    """Frames of one flight; ``T`` is the number of poses flown to.

    Attributes:
        frames: ``(T, B, 4, H, W)`` refined RGBD in ``[0, 1]``, one per pose.
        masks: ``(T, B, 1, H, W)`` valid masks of the renders (1 = warped pixel, 0 = hole).
    """

    frames: Tensor
    masks: Tensor

    @property
    def last(self) -> Tensor:
        """``(B, 4, H, W)``: the frame at the final pose (the start pose for a cycle)."""
        return self.frames[-1]


def fly(
    net,
    rgb: Tensor,
    disparity: Tensor,
    poses: Tensor,
    K: Tensor,
    global_code: Tensor,
    z: Tensor,
    *,
    beta: float = 4.0,
    detach_every: int = 0,
    keep_visible: bool = False,
    noise: str = "random",
    generator: torch.Generator | None = None,
) -> CycleResult:
    """Render and refine along ``poses``, starting from the real frame at the identity pose.

    Args:
        net: generator with ``refine`` (see ``render_refine``).
        rgb, disparity: ``(B, 3, H, W)`` / ``(B, 1, H, W)`` start frame at the identity pose.
        poses: ``(B, T, 4, 4)`` world-to-camera poses to visit in order (the
            world frame is the start camera's; ``sample_cycle`` gives closed paths).
        K: ``(3, 3)`` or ``(B, 3, 3)`` intrinsics.
        global_code, z: ``(B, G)``, ``(B, Z)``.
        detach_every: truncated backprop through time: the state is detached
            before every ``detach_every``-th step (0 = never). Gradients then
            reach the refinements of the last ``detach_every`` steps only, which
            bounds memory for long cycles to that many generator graphs.
        keep_visible: composite every step as ``FlyThroughConfig(keep_visible=True)``
            does (``step.composite``): the warped pixels that survived the move are
            kept and ``net``'s output is used only in and around the holes.
        noise, generator: forwarded to ``net.refine``.

    Returns:
        ``CycleResult``.
    """
    if poses.dim() != 4 or poses.shape[-2:] != (4, 4) or poses.shape[0] != rgb.shape[0]:
        raise ValueError(f"poses must be (B, T, 4, 4) with B = {rgb.shape[0]}, got {tuple(poses.shape)}")
    eye = torch.eye(4, dtype=poses.dtype, device=poses.device).expand(poses.shape[0], 4, 4)
    prev = eye
    frames, masks = [], []
    for k in range(poses.shape[1]):
        if detach_every and k > 0 and k % detach_every == 0:
            rgb, disparity = rgb.detach(), disparity.detach()
        cur = poses[:, k]
        rel = cur @ torch.linalg.inv(prev)  # X_cur = rel X_prev
        out, w = render_refine(
            net, rgb, disparity, rel[:, :3, :3], rel[:, :3, 3], K, global_code, z,
            beta=beta, keep_visible=keep_visible, noise=noise, generator=generator,
        )
        frames.append(out)
        masks.append(w.mask)
        rgb, disparity = out[:, :3], out[:, 3:]
        prev = cur
    return CycleResult(frames=torch.stack(frames), masks=torch.stack(masks))
