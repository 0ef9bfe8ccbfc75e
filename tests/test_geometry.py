import math

import pytest
import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix, quaternion_to_rotation_matrix, rotation_matrix_to_quaternion

from infinitenature.geometry import (
    camera_center,
    interpolate_poses,
    intrinsics_from_fov,
    look_at,
    pixel_grid,
    pose_from_rt,
    project,
    quaternion_multiply,
    quaternion_slerp,
    relative_pose,
    shift_principal_point,
    unproject,
)


def _random_poses(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    R = axis_angle_to_rotation_matrix(torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.5)
    t = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return pose_from_rt(R, t)


def test_intrinsics_reference_values():
    K = intrinsics_from_fov(128, 128)
    assert float(K[0, 0]) == pytest.approx(128 / (2 * math.tan(math.radians(27.5))))
    assert float(K[0, 0]) == pytest.approx(122.9, abs=0.05)
    assert K[0, 2] == 63.5 and K[1, 2] == 63.5 and K[2, 2] == 1
    with pytest.raises(ValueError, match="fov_deg"):
        intrinsics_from_fov(8, 8, 180.0)
    Ks = shift_principal_point(K, 10.0, 4.0)
    assert Ks[0, 2] == 73.5 and Ks[1, 2] == 67.5 and K[0, 2] == 63.5


def test_unproject_project_round_trip():
    K = intrinsics_from_fov(6, 8, 60.0, dtype=torch.float64)
    depth = torch.rand(2, 1, 6, 8, dtype=torch.float64) + 0.5
    X = unproject(depth, K)
    torch.testing.assert_close(X[:, 2:3], depth)
    uv, z = project(X.reshape(2, 3, -1), K)
    grid = pixel_grid(6, 8, dtype=torch.float64)[:2].reshape(1, 2, -1).expand(2, 2, -1)
    torch.testing.assert_close(uv, grid)


def test_relative_pose_and_camera_center():
    a, b = _random_poses(2)
    R, t = relative_pose(a, b)
    X_world = torch.randn(3, 5, dtype=torch.float64)
    X_a = a[:3, :3] @ X_world + a[:3, 3:]
    X_b = b[:3, :3] @ X_world + b[:3, 3:]
    torch.testing.assert_close(R @ X_a + t[:, None], X_b)
    c = camera_center(a)
    torch.testing.assert_close(a[:3, :3] @ c + a[:3, 3], torch.zeros(3, dtype=torch.float64))


def test_look_at_rows():
    pos = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    fwd = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    pose = look_at(pos, fwd, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    R = pose[:3, :3]
    torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(R[2], fwd / fwd.norm())
    assert float(torch.linalg.det(R)) == pytest.approx(1.0)
    torch.testing.assert_close(camera_center(pose), pos)


def test_quaternion_multiply_matches_matrix_product():
    R = _random_poses(2, seed=1)[:, :3, :3]
    q = rotation_matrix_to_quaternion(R.contiguous())
    torch.testing.assert_close(quaternion_to_rotation_matrix(quaternion_multiply(q[0], q[1])), R[0] @ R[1])


def test_slerp():
    R = _random_poses(2, seed=2)[:, :3, :3]
    q = rotation_matrix_to_quaternion(R.contiguous())
    torch.testing.assert_close(quaternion_slerp(q[0], q[1], 0.0), q[0])
    end = quaternion_slerp(q[0], q[1], 1.0)
    torch.testing.assert_close(quaternion_to_rotation_matrix(end), R[1])
    # Constant angular velocity: the midpoint is half the angle from both ends.
    mid = quaternion_to_rotation_matrix(quaternion_slerp(q[0], q[1], 0.5))

    def angle(a, b):
        return torch.arccos(((a @ b.T).trace() - 1) / 2)

    torch.testing.assert_close(angle(R[0], mid), angle(mid, R[1]))
    torch.testing.assert_close(angle(R[0], mid) * 2, angle(R[0], R[1]))
    # The shorter arc, whatever the sign of q1.
    torch.testing.assert_close(quaternion_slerp(q[0], -q[1], 0.5), quaternion_slerp(q[0], q[1], 0.5))
    # Batched with per-item t.
    ts = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    out = quaternion_slerp(q[0].expand(3, 4), q[1].expand(3, 4), ts)
    torch.testing.assert_close(out[1], quaternion_slerp(q[0], q[1], 0.25))


def test_interpolate_poses():
    poses = _random_poses(4, seed=3)
    times = torch.tensor([0.0, 1.0, 2.5, 4.0], dtype=torch.float64)
    out = interpolate_poses(poses, times, times)
    torch.testing.assert_close(out, poses, atol=1e-12, rtol=0)
    clamped = interpolate_poses(poses, times, torch.tensor([-3.0, 9.0]))
    torch.testing.assert_close(clamped, poses[[0, -1]], atol=1e-12, rtol=0)
    dense = interpolate_poses(poses, times, torch.linspace(0, 4, 401, dtype=torch.float64))
    R = dense[:, :3, :3]
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand_as(R))
    # Continuous: no jumps between dense samples.
    assert camera_center(dense).diff(dim=0).norm(dim=1).max() < 0.1
    assert (R[1:] - R[:-1]).abs().max() < 0.1
    # Two keyframes with a pure translation: straight line, rotation untouched.
    two = torch.stack([pose_from_rt(torch.eye(3), torch.zeros(3)), pose_from_rt(torch.eye(3), torch.tensor([0.0, 0.0, -2.0]))])
    mid = interpolate_poses(two, torch.tensor([0.0, 1.0]), torch.tensor([0.5]))[0]
    torch.testing.assert_close(mid, pose_from_rt(torch.eye(3), torch.tensor([0.0, 0.0, -1.0])))
    assert mid.dtype == torch.float32
    with pytest.raises(ValueError, match="increasing"):
        interpolate_poses(poses, torch.tensor([0.0, 2.0, 1.0, 3.0]), times)
    with pytest.raises(ValueError, match="times"):
        interpolate_poses(poses, times[:3], times)
