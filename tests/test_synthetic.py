"""Procedural landscapes: determinism, depth vs ray geometry, sky, paths, dataset, CLI."""

from __future__ import annotations

import math

import pytest
import torch

from infinitenature import geometry
from infinitenature.synthetic import (
    FAR,
    PATHS,
    STYLE_NAMES,
    Landscape,
    LandscapeStyle,
    SyntheticDataset,
    camera_path,
    main,
    style_for_seed,
)
from infinitenature.synthetic.terrain import NoiseLattice, PeriodicTexture, fbm, grid_coords

RES = 128  # small height-field bakes keep the tests fast


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes():
    return {s: Landscape(s, resolution=RES) for s in range(5)}


def _world_points(depth: torch.Tensor, K: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """(1, H, W) depth -> (3, H*W) world points."""
    cam = geometry.unproject(depth[None].clamp_max(1e6), K)[0].reshape(3, -1)
    R, t = pose[:3, :3], pose[:3, 3:]
    return R.T @ (cam - t)


# ---------------------------------------------------------------- noise & textures
def test_noise_is_periodic_and_seeded():
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a, b = NoiseLattice(8, generator=g1), NoiseLattice(8, generator=g2)
    x, z = torch.rand(100) * 8, torch.rand(100) * 8
    assert torch.equal(a(x, z), b(x, z))
    torch.testing.assert_close(a(x + 8.0, z - 16.0), a(x, z), atol=1e-5, rtol=0)
    f = fbm(x * 10, z * 10, period=80.0, base_cells=2, octaves=4, generator=torch.Generator().manual_seed(0))
    f2 = fbm(x * 10 + 80, z * 10, period=80.0, base_cells=2, octaves=4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(f, f2, atol=1e-4, rtol=0)


def test_periodic_texture_samples_texels_exactly():
    data = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 16, 16)
    tex = PeriodicTexture(data, 32.0)
    x, z = grid_coords(16, 32.0)
    torch.testing.assert_close(tex.sample(x, z), data)
    torch.testing.assert_close(tex.sample(x - 32.0, z + 64.0), data, atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match=r"\(C, N, N\)"):
        PeriodicTexture(torch.zeros(4, 4), 1.0)


# ---------------------------------------------------------------- scenes
def test_styles_from_seed_and_by_name():
    assert [style_for_seed(s).name for s in range(5)] == list(STYLE_NAMES)
    assert style_for_seed(3) == style_for_seed(3)
    assert style_for_seed(7, "desert").name == "desert"
    with pytest.raises(ValueError, match="unknown style 'moon'"):
        style_for_seed(0, "moon")
    with pytest.raises(ValueError, match="terrain must be"):
        LandscapeStyle(terrain="caves")
    with pytest.raises(TypeError, match="seed must be an int"):
        Landscape(1.5)  # type: ignore[arg-type]


def test_render_is_deterministic_by_seed(scenes):
    K = geometry.intrinsics_from_fov(24, 32)
    a = scenes[1].render(scenes[1].start_pose(), K, 24, 32)
    b = Landscape(1, resolution=RES).render(scenes[1].start_pose(), K, 24, 32)
    for key in ("rgb", "depth", "sky"):
        assert torch.equal(a[key], b[key]), key
    assert a["rgb"].shape == (3, 24, 32) and a["depth"].shape == (1, 24, 32) and a["sky"].dtype == torch.bool
    c = scenes[2].render(scenes[1].start_pose(), K, 24, 32)
    assert not torch.equal(a["rgb"], c["rgb"])
    assert 0.0 <= float(a["rgb"].min()) and float(a["rgb"].max()) <= 1.0


def test_flat_ground_depth_is_analytic():
    h, H, W = 1.5, 48, 40
    scene = Landscape.flat(height=-0.25)
    K = geometry.intrinsics_from_fov(H, W, 60.0)
    pose = geometry.look_at(torch.tensor([3.0, 0.25 - h, -7.0]), torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 0.0]))
    out = scene.render(pose, K, H, W)
    fy, cy = float(K[1, 1]), float(K[1, 2])
    v = torch.arange(H, dtype=torch.float32).reshape(1, H, 1).expand(1, H, W)
    expected = h * fy / (v - cy)
    ground = (v > cy) & (expected < 0.9 * FAR)
    assert ground.sum() > H * W // 3
    torch.testing.assert_close(out["depth"][ground], expected[ground], rtol=1e-4, atol=0)
    assert bool(out["sky"][v < cy].all())
    assert torch.equal(out["sky"], torch.isinf(out["depth"]))


def test_depth_agrees_with_ray_geometry_on_terrain(scenes):
    """Unprojected hits lie on the surface; the sky is exactly where depth is inf."""
    K = geometry.intrinsics_from_fov(32, 32)
    for seed in (0, 2, 3):
        scene = scenes[seed]
        pose = scene.pose_at(5.0, yaw_deg=10.0, pitch_deg=-4.0)
        out = scene.render(pose, K, 32, 32)
        sky = out["sky"].reshape(-1)
        assert torch.equal(out["sky"], torch.isinf(out["depth"]))
        assert 0 < int(sky.sum()) < sky.numel()
        pts = _world_points(out["depth"], K, pose)[:, ~sky]
        surface = scene.ground_height(pts[0], pts[2])
        err = (-pts[1] - surface).abs()
        assert float(err.max()) < 2e-2, (seed, float(err.max()))


def test_scale_start_pose_above_ground(scenes):
    K = geometry.intrinsics_from_fov(32, 32)
    for seed, scene in scenes.items():
        pose = scene.start_pose()
        c = geometry.camera_center(pose)
        assert -float(c[1]) - float(scene.ground_height(c[0], c[2])) >= 0.99
        assert pose[2, 1] > 0  # looking slightly down (world y is down)
        depth = scene.render(pose, K, 32, 32)["depth"]
        finite = depth[torch.isfinite(depth)]
        assert 1.0 < float(finite.min()) < 3.0 and float(finite.max()) > 50.0, seed


def test_batched_render_matches_single(scenes):
    scene = scenes[4]
    K = geometry.intrinsics_from_fov(16, 16)
    poses = camera_path(scene, 3, path="curve", speed=0.5)
    batch = scene.render(poses, K, 16, 16)
    assert batch["rgb"].shape == (3, 3, 16, 16)
    for i in range(3):
        one = scene.render(poses[i], K, 16, 16)
        torch.testing.assert_close(batch["rgb"][i], one["rgb"], atol=1e-5, rtol=0)
        assert torch.equal(batch["sky"][i], one["sky"])


def test_render_errors(scenes):
    K = geometry.intrinsics_from_fov(8, 8)
    with pytest.raises(ValueError, match="world_to_camera must be"):
        scenes[0].render(torch.eye(3), K, 8, 8)
    with pytest.raises(ValueError, match="K has batch 2"):
        scenes[0].render(torch.eye(4).expand(3, 4, 4), K.expand(2, 3, 3), 8, 8)
    with pytest.raises(ValueError, match="path must be one of"):
        camera_path(scenes[0], 3, path="loop")
    with pytest.raises(ValueError, match="speed must be positive"):
        camera_path(scenes[0], 3, speed=0.0)


# ---------------------------------------------------------------- paths
@pytest.mark.parametrize("path", PATHS)
def test_paths_stay_above_ground_and_move_at_speed(scenes, path):
    scene = scenes[0]
    poses = camera_path(scene, 40, path=path, speed=0.5, clearance=1.0)
    c = geometry.camera_center(poses)
    assert torch.allclose(poses[0], scene.start_pose(), atol=1e-5)
    ground = scene.ground_height(c[:, 0], c[:, 2])
    assert float((-c[:, 1] - ground).min()) >= 0.5 - 1e-4
    step = (c[1:, [0, 2]] - c[:-1, [0, 2]]).norm(dim=1)
    torch.testing.assert_close(step, torch.full_like(step, 0.5), atol=1e-4, rtol=0)
    R = poses[:, :3, :3]
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(40, 3, 3), atol=1e-5, rtol=0)
    if path == "curve":
        yaw = torch.atan2(poses[:, 2, 0], poses[:, 2, 2])
        torch.testing.assert_close(yaw[-1] - yaw[0], torch.tensor(math.radians(3.0) * 0.5 * 39), atol=1e-4, rtol=0)


def test_flythrough_outputs(scenes):
    clip = scenes[2].flythrough(5, 12, 16, path="terrain", speed=0.2, batch_size=2)
    assert clip["rgb"].shape == (5, 3, 12, 16) and clip["depth"].shape == (5, 1, 12, 16)
    assert clip["sky"].shape == (5, 1, 12, 16) and clip["poses"].shape == (5, 4, 4)
    torch.testing.assert_close(clip["K"], geometry.intrinsics_from_fov(12, 16, 55.0))


# ---------------------------------------------------------------- dataset
def test_dataset_items_are_deterministic_and_normalized():
    ds = SyntheticDataset(range(10, 12), 16, views_per_scene=2, resolution=64)
    assert len(ds) == 4
    a, b = ds[3], SyntheticDataset(range(10, 12), 16, views_per_scene=2, resolution=64)[3]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(ds[2]["pose"], a["pose"])
    assert a["rgb"].shape == (3, 16, 16) and a["disparity"].shape == (1, 16, 16)
    assert a["sky"].dtype == torch.float32 and set(a["sky"].unique().tolist()) <= {0.0, 1.0}
    d = a["disparity"]
    assert float(d.min()) >= 0.01 - 1e-6 and float(d.max()) <= 1.0
    torch.testing.assert_close(d[a["sky"] > 0.5], torch.full_like(d[a["sky"] > 0.5], 0.01))
    with pytest.raises(IndexError):
        ds[4]


# ---------------------------------------------------------------- command
def test_command_writes_pngs_and_refuses_overwrite(tmp_path, capsys):
    args = [str(tmp_path / "out"), "--num", "2", "--size", "16", "--resolution", "64", "--start", "3"]
    assert main(args) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "contact_sheet.png" in files and "seed_0004_disparity.png" in files and len(files) == 8
    assert main(args) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


# ---------------------------------------------------------------- renderer vs truth
def test_forward_splat_reproduces_next_frame():
    from infinitenature.render import forward_splat

    scene = Landscape(1, resolution=256)
    clip = scene.flythrough(2, 64, 64, path="straight", speed=0.05)
    R, t = geometry.relative_pose(clip["poses"][:1], clip["poses"][1:])
    disparity = torch.where(clip["sky"][:1], torch.zeros(()), 1.0 / clip["depth"][:1])
    rgba = torch.cat([clip["rgb"][:1], torch.ones(1, 1, 64, 64)], dim=1)
    warped, _, coverage = forward_splat(rgba, disparity, R, t, clip["K"])
    covered = (coverage > 0.9) & ~clip["sky"][1:]
    assert covered.float().mean() > 0.4
    mse = ((warped[:, :3] - clip["rgb"][1:]) ** 2).mean(1, keepdim=True)[covered].mean()
    psnr = -10.0 * math.log10(float(mse))
    assert psnr > 28.0, psnr
