"""Camera geometry shared by the renderer, the autopilot, the sky blend and the
procedural landscapes.

Conventions (see docs/CONVENTIONS.md):

* Camera frame is OpenCV: x right, y down, z forward.
* A pose is **world-to-camera**, a ``(4, 4)`` matrix ``[[R, t], [0, 1]]`` with
  ``X_cam = R @ X_world + t``.
* Intrinsics ``K`` are in pixels; pixel ``(u, v)`` = column, row; the centre of
  the top-left pixel is ``(0, 0)``, so a centred principal point is
  ``((W - 1) / 2, (H - 1) / 2)``.
* Disparity is ``1 / depth`` along the camera z axis (not along the ray).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "intrinsics_from_fov",
    "shift_principal_point",
    "pixel_grid",
    "unproject",
    "project",
    "relative_pose",
    "pose_from_rt",
    "look_at",
    "camera_center",
]


def intrinsics_from_fov(
    height: int,
    width: int,
    fov_deg: float = 55.0,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Pinhole intrinsics with square pixels and a centred principal point.

    ``fov_deg`` is the horizontal field of view. The reference setting (128 px,
    55 degrees) gives ``fx = fy = 128 / (2 tan 27.5deg) ~= 122.9`` and principal
    point ``(63.5, 63.5)``.

    Returns:
        ``(3, 3)`` tensor.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    f = width / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    return torch.tensor(
        [[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]],
        dtype=dtype,
        device=device,
    )


def shift_principal_point(K: Tensor, dx: float, dy: float) -> Tensor:
    """Intrinsics of a larger canvas whose crop starts ``(dx, dy)`` pixels in.

    ``K`` is ``(..., 3, 3)``; the focal length is unchanged.
    """
    K = K.clone()
    K[..., 0, 2] += dx
    K[..., 1, 2] += dy
    return K


def pixel_grid(
    height: int, width: int, *, dtype: torch.dtype = torch.float32, device=None
) -> Tensor:
    """Homogeneous pixel coordinates ``(3, H, W)``: rows are u (column), v (row), 1."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([u, v, torch.ones_like(u)], dim=0)


def unproject(depth: Tensor, K: Tensor) -> Tensor:
    """Back-project every pixel to a camera-frame point.

    Args:
        depth: ``(B, 1, H, W)`` z-depth (positive).
        K: ``(B, 3, 3)`` or ``(3, 3)`` intrinsics.

    Returns:
        ``(B, 3, H, W)`` points ``X = depth * K^-1 [u, v, 1]``.
    """
    B, _, H, W = depth.shape
    K = K.to(depth).expand(B, 3, 3) if K.dim() == 2 else K.to(depth)
    grid = pixel_grid(H, W, dtype=depth.dtype, device=depth.device).reshape(3, -1)
    rays = torch.linalg.solve(K, grid.unsqueeze(0).expand(B, 3, H * W))
    return (rays * depth.reshape(B, 1, H * W)).reshape(B, 3, H, W)


def project(points: Tensor, K: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Project camera-frame points ``(B, 3, N)`` to pixels.

    Returns:
        ``(uv, z)``: ``(B, 2, N)`` pixel coordinates and ``(B, 1, N)`` z-depth.
        Points with ``z <= eps`` get non-finite-safe but meaningless ``uv``;
        callers must mask them with ``z > eps``.
    """
    K = K.to(points).expand(points.shape[0], 3, 3) if K.dim() == 2 else K.to(points)
    z = points[:, 2:3]
    p = K @ points
    uv = p[:, :2] / z.clamp_min(eps)
    return uv, z


def pose_from_rt(R: Tensor, t: Tensor) -> Tensor:
    """Assemble ``(..., 4, 4)`` poses from ``R (..., 3, 3)`` and ``t (..., 3)``."""
    out = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    out[..., :3, :3] = R
    out[..., :3, 3] = t
    out[..., 3, 3] = 1.0
    return out


def relative_pose(world_to_src: Tensor, world_to_dst: Tensor) -> tuple[Tensor, Tensor]:
    """Pose that maps source-camera points to destination-camera points.

    Args:
        world_to_src, world_to_dst: ``(..., 4, 4)`` world-to-camera poses.

    Returns:
        ``(R, t)`` with shapes ``(..., 3, 3)`` and ``(..., 3)`` such that
        ``X_dst = R @ X_src + t``.
    """
    rel = world_to_dst @ torch.linalg.inv(world_to_src)
    return rel[..., :3, :3], rel[..., :3, 3]


def camera_center(world_to_camera: Tensor) -> Tensor:
    """World position ``(..., 3)`` of the camera of a world-to-camera pose."""
    R = world_to_camera[..., :3, :3]
    t = world_to_camera[..., :3, 3:4]
    return -(R.transpose(-1, -2) @ t)[..., 0]


def look_at(position: Tensor, forward: Tensor, down: Tensor) -> Tensor:
    """World-to-camera pose of a camera at ``position`` looking along ``forward``.

    ``down`` is the approximate image-down direction in world coordinates; it is
    re-orthogonalised as ``right = down x forward``, ``down' = forward x right``
    (the autopilot's rule). All inputs are ``(..., 3)``.

    Returns:
        ``(..., 4, 4)`` pose whose rotation rows are ``right, down', forward``
        and whose translation is ``-R @ position``.
    """
    f = torch.nn.functional.normalize(forward, dim=-1)
    right = torch.nn.functional.normalize(torch.linalg.cross(down, f, dim=-1), dim=-1)
    d = torch.nn.functional.normalize(torch.linalg.cross(f, right, dim=-1), dim=-1)
    R = torch.stack([right, d, f], dim=-2)
    t = -(R @ position.unsqueeze(-1))[..., 0]
    return pose_from_rt(R, t)
