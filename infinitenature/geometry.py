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
from kornia.geometry.conversions import (
    quaternion_exp_to_log,
    quaternion_log_to_exp,
    quaternion_to_rotation_matrix,
    rotation_matrix_to_quaternion,
)
from torch import Tensor

__all__ = [
    "intrinsics_from_fov",
    "shift_principal_point",
    "pixel_grid",
    "unproject",
    "project",
    "project_cylinder",
    "relative_pose",
    "pose_from_rt",
    "look_at",
    "camera_center",
    "quaternion_multiply",
    "quaternion_slerp",
    "interpolate_poses",
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


def project_cylinder(points: Tensor, K: Tensor, around: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Camera-frame points onto a cylinder about the camera's vertical axis (a panorama).

    A point ``(x, y, z)`` lies at column ``K[0, 2] + K[0, 0] * atan2(x, z)`` and row
    ``K[1, 2] + K[1, 1] * y / r``, with ``r = sqrt(x**2 + z**2)`` its distance from the axis.

    Args:
        points: ``(B, 3, N)`` points (or rays: only their direction sets ``u`` and ``v``).
        K: ``(3, 3)`` the cylinder's intrinsics (its width spans ``2 pi K[0, 0]`` pixels).
        around: ``(B, 1, 1)`` an azimuth in radians; columns are then unwrapped to within
            pi of it (so they do not jump across the back of the cylinder), else ``atan2``'s
            ``(-pi, pi]``.

    Returns:
        ``(u, v, r)``, each ``(B, 1, N)``.
    """
    r = torch.sqrt(points[:, 0:1].square() + points[:, 2:3].square())
    phi = torch.atan2(points[:, 0:1], points[:, 2:3])
    if around is not None:
        phi = around + torch.remainder(phi - around + math.pi, 2 * math.pi) - math.pi
    return K[0, 2] + K[0, 0] * phi, K[1, 2] + K[1, 1] * points[:, 1:2] / r.clamp_min(1e-6), r


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


def quaternion_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product of quaternions in ``(w, x, y, z)`` order (kornia's order).

    ``a`` and ``b`` are ``(..., 4)`` and broadcast; the result is ``(..., 4)``.
    For unit quaternions, ``quaternion_to_rotation_matrix(a * b) = R(a) @ R(b)``.
    """
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def _quaternion_conjugate(q: Tensor) -> Tensor:
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def quaternion_slerp(q0: Tensor, q1: Tensor, t: Tensor | float, *, shortest_path: bool = True) -> Tensor:
    """Spherical linear interpolation between unit quaternions ``(w, x, y, z)``.

    ``slerp(q0, q1, t) = q0 exp(t log(q0^-1 q1))``: constant angular velocity,
    ``q0`` at ``t = 0`` and ``q1`` at ``t = 1`` (exactly, up to the sign of
    ``q1`` when ``shortest_path`` flips it to take the shorter arc).

    Args:
        q0, q1: ``(..., 4)`` unit quaternions.
        t: scalar or ``(...)`` tensor broadcasting with the batch shape.
        shortest_path: flip ``q1`` where ``q0 . q1 < 0`` (same rotation, shorter arc).

    Returns:
        ``(..., 4)`` unit quaternions.
    """
    if shortest_path:
        q1 = torch.where((q0 * q1).sum(-1, keepdim=True) < 0, -q1, q1)
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    delta = quaternion_exp_to_log(quaternion_multiply(_quaternion_conjugate(q0), q1), eps=1e-12)
    return quaternion_multiply(q0, quaternion_log_to_exp(delta * t.unsqueeze(-1), eps=1e-12))


def interpolate_poses(poses: Tensor, times: Tensor, query: Tensor) -> Tensor:
    """Smoothly interpolate world-to-camera keyframe poses.

    Rotations use squad (spherical cubic interpolation of quaternions, C1
    across keyframes), camera centres a Catmull-Rom cubic (Hermite with
    tangents ``(c[i+1] - c[i-1]) / (t[i+1] - t[i-1])``, one-sided at the ends),
    which handles uneven ``times``. Queries outside ``[times[0], times[-1]]``
    are clamped (the path holds its first / last pose). A query equal to a
    keyframe time returns that keyframe (up to float round-off). Computed in
    float64, returned in ``poses.dtype``.

    Args:
        poses: ``(N, 4, 4)`` world-to-camera poses, ``N >= 1``.
        times: ``(N,)`` strictly increasing keyframe times.
        query: ``(M,)`` times to evaluate.

    Returns:
        ``(M, 4, 4)`` world-to-camera poses.
    """
    if poses.dim() != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 1:
        raise ValueError(f"poses must be (N, 4, 4) with N >= 1, got {tuple(poses.shape)}")
    if times.shape != (poses.shape[0],):
        raise ValueError(f"times must be ({poses.shape[0]},), got {tuple(times.shape)}")
    if poses.shape[0] > 1 and not bool((times[1:] > times[:-1]).all()):
        raise ValueError("times must be strictly increasing")
    dtype = poses.dtype
    P, T = poses.double(), times.double().to(poses.device)
    q_t = query.double().to(poses.device).reshape(-1)
    N = P.shape[0]
    if N == 1:
        return poses.expand(q_t.shape[0], 4, 4).clone()
    R = P[:, :3, :3]
    centres = camera_center(P)  # (N, 3)
    q = rotation_matrix_to_quaternion(R.transpose(-1, -2).contiguous(), eps=1e-12)  # camera-to-world
    # Sign-consistent sequence: each quaternion on the same hemisphere as the previous one.
    qs = [q[0]]
    for i in range(1, N):
        qs.append(-q[i] if torch.dot(qs[-1], q[i]) < 0 else q[i])
    q = torch.stack(qs)

    # squad control points s_i = q_i exp(-(log(q_i^-1 q_{i+1}) + log(q_i^-1 q_{i-1})) / 4).
    q_prev = torch.cat([q[:1], q[:-1]])
    q_next = torch.cat([q[1:], q[-1:]])
    inv = _quaternion_conjugate(q)
    log_sum = quaternion_exp_to_log(quaternion_multiply(inv, q_next), eps=1e-12) + quaternion_exp_to_log(
        quaternion_multiply(inv, q_prev), eps=1e-12
    )
    s = quaternion_multiply(q, quaternion_log_to_exp(-log_sum / 4.0, eps=1e-12))

    # Catmull-Rom tangents (per unit time) for the centres.
    t_prev = torch.cat([T[:1], T[:-1]])
    t_next = torch.cat([T[1:], T[-1:]])
    c_prev = torch.cat([centres[:1], centres[:-1]])
    c_next = torch.cat([centres[1:], centres[-1:]])
    m = (c_next - c_prev) / (t_next - t_prev).unsqueeze(-1)

    tq = q_t.clamp(T[0], T[-1])
    i = (torch.searchsorted(T, tq, right=True) - 1).clamp(0, N - 2)
    dt = T[i + 1] - T[i]
    h = ((tq - T[i]) / dt).clamp(0, 1)

    rot = quaternion_slerp(
        quaternion_slerp(q[i], q[i + 1], h, shortest_path=False),
        quaternion_slerp(s[i], s[i + 1], h, shortest_path=False),
        2 * h * (1 - h),
        shortest_path=False,
    )
    h2, h3 = h * h, h * h * h
    hc = lambda x: x.unsqueeze(-1)  # noqa: E731
    pos = (
        hc(2 * h3 - 3 * h2 + 1) * centres[i]
        + hc(h3 - 2 * h2 + h) * hc(dt) * m[i]
        + hc(-2 * h3 + 3 * h2) * centres[i + 1]
        + hc(h3 - h2) * hc(dt) * m[i + 1]
    )
    R_w2c = quaternion_to_rotation_matrix(torch.nn.functional.normalize(rot, dim=-1)).transpose(-1, -2)
    return pose_from_rt(R_w2c, -(R_w2c @ pos.unsqueeze(-1))[..., 0]).to(dtype)
