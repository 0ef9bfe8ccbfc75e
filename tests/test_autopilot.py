import math

import numpy as np
import pytest
import torch

from infinitenature.autopilot import (
    Autopilot,
    AutopilotConfig,
    CallablePath,
    CameraPath,
    KeyframePath,
    OrbitPath,
    PanPath,
    StraightPath,
    make_camera_path,
    skyline_balance,
    wander_offset,
    wander_phases,
)
from infinitenature.geometry import camera_center, intrinsics_from_fov, look_at, project, relative_pose


def _yaw_pose(deg, centre=(0.0, 0.0, 0.0)):
    a = math.radians(deg)
    return look_at(
        torch.tensor(centre, dtype=torch.float64),
        torch.tensor([math.sin(a), 0.0, math.cos(a)], dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    )


class TestSkylineBalance:
    D = torch.tensor([[0.07, 0.0, 0.5, 0.9], [0.2, 0.45, 0.08, 0.1]])

    def test_formula_by_hand(self):
        # sky = clamp(20 (0.1 - D)) = [[0.6, 1, 0, 0], [0, 0, 0.4, 0]]: mean 0.25, left 0.4, right 0.1
        # ground = clamp(10 (D - 0.4)) = [[0, 0, 1, 1], [0, 0.5, 0, 0]]: mean 0.3125
        x, y, h = skyline_balance(self.D)
        assert x.shape == y.shape == h.shape == ()
        assert float(x) == pytest.approx(0.1 / 0.5)
        assert float(y) == pytest.approx(0.5 + 0.25 - 0.3)
        assert float(h) == pytest.approx(0.3 + (0.2 - 0.3125))
        x, y, h = skyline_balance(self.D, horizon=0.4, sky_threshold=0.05, near_fraction=0.3)
        # sky = clamp(20 (0.05 - D)) = [[0, 1, 0, 0], [0, 0, 0, 0]]: mean 1/8, left 1/4, right 0
        assert float(x) == pytest.approx(1e-8 / (0.25 + 2e-8))
        assert float(y) == pytest.approx(0.5 + 0.125 - 0.4)
        assert float(h) == pytest.approx(0.4 + 0.3 - 0.3125)

    def test_batched_equals_single_and_clamps(self):
        batch = torch.stack([self.D, torch.full_like(self.D, 0.01), torch.full_like(self.D, 0.9)]).unsqueeze(1)
        x, y, h = skyline_balance(batch)
        assert x.shape == (3,)
        for i in range(3):
            xi, yi, hi = skyline_balance(batch[i, 0])
            assert torch.allclose(torch.stack([x[i], y[i], h[i]]), torch.stack([xi, yi, hi]))
        assert float(y[1]) == pytest.approx(1.0) and float(x[1]) == pytest.approx(0.5)  # all sky: clamp, balanced
        assert float(y[2]) == pytest.approx(0.2) and float(x[2]) == pytest.approx(0.5)  # no sky: balanced by eps

    def test_errors(self):
        with pytest.raises(ValueError, match=r"\(H, W\) or \(B, 1, H, W\)"):
            skyline_balance(torch.rand(2, 3, 4, 4))
        with pytest.raises(TypeError, match="torch.Tensor"):
            skyline_balance(np.zeros((4, 4)))


class TestAutopilot:
    def _scene(self, size=32):
        disp = torch.full((1, 1, size, size), 0.01)
        disp[..., : size // 2] = 0.5  # mountain on the left, open sky on the right
        disp[..., size * 3 // 4 :, :] = 0.6  # some ground at the bottom
        return disp, intrinsics_from_fov(size, size)

    def test_turns_toward_open_sky(self):
        disp, K = self._scene()
        x, _, _ = skyline_balance(disp, horizon=0.4, near_fraction=0.3)
        assert float(x) > 0.5
        path = Autopilot()
        path.reset(torch.eye(4, dtype=torch.float64))
        forwards, centres = [], []
        for step in range(1, 11):
            pose = path.next_pose(step, disp, K)
            assert pose.shape == (4, 4) and pose.dtype == torch.float64
            R = pose[:3, :3]
            torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=torch.float64))
            forwards.append(R[2])
            centres.append(camera_center(pose))
        fx = torch.stack(forwards)[:, 0]
        assert (fx.diff() > 0).all() and fx[0] > 0  # yaws right, monotonically
        cz = torch.stack(centres)[:, 2]
        assert (cz.diff() > 0).all()  # flies forward
        step_len = torch.stack(centres).diff(dim=0).norm(dim=1)
        torch.testing.assert_close(step_len, torch.full_like(step_len, 0.1875))
        # The camera stays nearly level (the reference rule re-uses the previous
        # down vector, so a little roll can build up while it pitches and yaws).
        assert abs(float(pose[0, 1])) < 0.01

    def test_mirrored_scene_turns_left_and_reset_restarts(self):
        disp, K = self._scene()
        path = Autopilot(AutopilotConfig(speed=0.1, wander=0.0))  # the rule alone is mirror-symmetric
        path.reset(torch.eye(4))
        p1 = [path.next_pose(s, disp, K) for s in (1, 2, 3)]
        path.reset(torch.eye(4))
        p2 = [path.next_pose(s, disp, K) for s in (1, 2, 3)]
        assert all(torch.equal(a, b) for a, b in zip(p1, p2))
        assert p1[0].dtype == torch.float32
        path.reset(torch.eye(4))
        mirrored = [path.next_pose(s, disp.flip(-1), K) for s in (1, 2, 3)]
        assert float(mirrored[-1][2, 0]) == pytest.approx(-float(p1[-1][2, 0]), abs=1e-6)

    def test_seeds_wander_differently_and_wander_zero_ignores_them(self):
        disp = torch.full((1, 1, 32, 32), 0.01)
        disp[..., 24:, :] = 0.3  # open sky over level ground: the rule alone flies straight
        K = intrinsics_from_fov(32, 32)

        def headings(config, seed):
            path = make_camera_path("autopilot", seed=seed, **config)
            path.reset(torch.eye(4, dtype=torch.float64))
            return torch.stack([path.next_pose(s, disp, K)[2, 0] for s in range(1, 61)])  # x of the viewing direction

        straight = headings(dict(wander=0.0), 0)
        assert float(straight.abs().max()) < 1e-9 and torch.equal(straight, headings(dict(wander=0.0), 5))
        a, b = headings({}, 0), headings({}, 1)
        assert torch.equal(a, headings({}, 0))  # the same seed, the same path
        assert float((a - b).abs().max()) > 0.05  # another seed, another heading (about 3 degrees or more)
        assert float(a.abs().max()) < math.sin(math.radians(30))  # a drift, not a U-turn
        assert AutopilotConfig.published().wander == 0.0
        phases = wander_phases(3)
        offsets = [wander_offset(s, phases, 0.1) for s in range(300)]
        assert max(abs(o) for o in offsets) <= 0.1 and max(abs(p - q) for p, q in zip(offsets, offsets[1:])) < 0.01
        assert wander_phases(3) == phases and wander_phases(4) != phases
        with pytest.raises(ValueError, match="wander"):
            AutopilotConfig(wander=-0.1)
        with pytest.raises(TypeError, match="seed"):
            Autopilot(seed=1.5)

    def test_starts_from_the_initial_pose(self):
        disp, K = self._scene()
        start = _yaw_pose(30.0, (1.0, -0.5, 2.0))
        path = Autopilot(AutopilotConfig(speed=0.0, look_lerp=1e-6, move_lerp=1e-6))
        path.reset(start)
        torch.testing.assert_close(path.next_pose(1, disp, K), start, atol=1e-5, rtol=0)

    def test_errors(self):
        path = Autopilot()
        disp, K = self._scene()
        with pytest.raises(RuntimeError, match="reset"):
            path.next_pose(1, disp, K)
        with pytest.raises(ValueError, match="initial_pose"):
            path.reset(torch.eye(3))
        path.reset(torch.eye(4))
        with pytest.raises(ValueError, match="disparity"):
            path.next_pose(1, disp[0], K)
        with pytest.raises(ValueError, match="look_lerp"):
            AutopilotConfig(look_lerp=0.0)
        with pytest.raises(TypeError, match="AutopilotConfig"):
            Autopilot({"speed": 1.0})


class TestLevelAutopilot:
    """The default autopilot: holds the photo's sky share, pitch limited, avoids near content."""

    K = intrinsics_from_fov(32, 32)

    def _fly(self, config, disp, steps=40):
        path = Autopilot(config)
        path.reset(torch.eye(4, dtype=torch.float64))
        return [path.next_pose(s, disp, self.K) for s in range(1, steps + 1)]

    @staticmethod
    def _elevation_deg(v):
        return math.degrees(math.asin(float(-v[1])))  # world y is down

    def test_little_sky_keeps_pitch_within_bounds(self):
        disp = torch.full((1, 1, 32, 32), 0.3)
        disp[..., :2, :] = 0.01  # a forest: 6% sky
        published = self._fly(AutopilotConfig.published(), disp, 80)
        level = self._fly(AutopilotConfig(), disp, 80)
        assert self._elevation_deg(published[-1][2, :3]) > 20  # the released rule pitches up to find 40% sky
        for pose in level:
            assert abs(self._elevation_deg(pose[2, :3])) <= 10.0 + 1e-6
            assert abs(float(pose[0, 1])) < 1e-9  # no roll: right vector stays horizontal
        centres = torch.stack([camera_center(p) for p in level])
        climb = -(centres[1:, 1] - centres[:-1, 1]) / centres.diff(dim=0).norm(dim=1)
        assert float(climb.abs().max()) <= math.sin(math.radians(20.0)) + 1e-6

    def test_holds_the_first_frames_sky_share(self):
        disp = torch.full((1, 1, 32, 32), 0.3)
        disp[..., :16, :] = 0.01  # half sky: within horizon_range, so it is held and the camera stays level
        pose = self._fly(AutopilotConfig(clearance=0.0), disp, 30)[-1]
        assert abs(self._elevation_deg(pose[2, :3])) < 1e-6
        # The released rule wants 40% sky and pitches down.
        assert self._elevation_deg(self._fly(AutopilotConfig.published(), disp, 30)[-1][2, :3]) < -3

    def test_wall_ahead_climbs_turns_and_slows(self):
        disp = torch.full((1, 1, 32, 32), 0.2)
        disp[..., :8, :] = 0.01
        disp[..., 8:, :20] = 0.9  # a near wall filling the centre, more on the left
        free = self._fly(AutopilotConfig(clearance=0.0), disp, 10)
        avoid = self._fly(AutopilotConfig(), disp, 10)

        def climb(poses):  # sine of the climb angle of the step from frame 2 to 3
            step = camera_center(poses[2]) - camera_center(poses[1])
            return float(-step[1] / step.norm())

        assert climb(avoid) > climb(free) + 0.05
        assert float(avoid[-1][2, 0]) > float(free[-1][2, 0]) + 0.02  # turned right, away from the wall
        step = float((camera_center(avoid[1]) - camera_center(avoid[0])).norm())
        assert step < 0.1875 * 0.9  # slowed down

    def test_published_config_reproduces_the_released_poses(self):
        # Released rule (horizon 0.4, no limits, previous down vector), written out for a fixed input.
        g = torch.Generator().manual_seed(0)
        disps = [torch.rand(1, 1, 16, 16, generator=g) ** 3 for _ in range(12)]
        K = intrinsics_from_fov(16, 16).double()
        path = Autopilot(AutopilotConfig.published())
        path.reset(torch.eye(4, dtype=torch.float64))
        pos, look, move, down = torch.zeros(3, dtype=torch.float64), *torch.eye(3, dtype=torch.float64)[[2, 2, 1]]
        pose = torch.eye(4, dtype=torch.float64)
        for step, d in enumerate(disps, 1):
            x, y, h = (v.double() for v in skyline_balance(d[0, 0], horizon=0.4, near_fraction=0.3))

            def ray(u, v):
                r = torch.linalg.solve(K, torch.stack([u * 16 - 0.5, v * 16 - 0.5, torch.ones_like(u)]))
                return pose[:3, :3].T @ torch.nn.functional.normalize(r, dim=0)

            look_t, move_t = ray(x, y), ray(torch.full_like(h, 0.5), h)
            look = torch.nn.functional.normalize(look + 0.05 * (look_t - look), dim=0)
            move = torch.nn.functional.normalize(move + 0.2 * (move_t - move), dim=0)
            pos = pos + 0.1875 * move
            pose = look_at(pos, look, down)
            down = pose[1, :3].clone()
            assert torch.equal(path.next_pose(step, d, K), pose)

    def test_config_errors(self):
        for bad in (
            dict(horizon=1.5), dict(horizon=float("nan")), dict(horizon_range=(0.6, 0.3)), dict(horizon_range=(-0.1, 0.5)),
            dict(max_pitch_deg=0.0), dict(max_climb_deg=91.0), dict(clearance=-0.1), dict(slow=1.5), dict(avoid=-1.0),
        ):
            with pytest.raises(ValueError, match=next(iter(bad))):
                AutopilotConfig(**bad)
        assert AutopilotConfig.published(speed=0.1).speed == 0.1
        assert AutopilotConfig.published().horizon == 0.4


class TestSimplePaths:
    def test_straight_moves_plus_z(self):
        path = StraightPath(0.25)
        start = _yaw_pose(0.0)
        path.reset(start)
        prev = start
        for step in range(1, 4):
            pose = path.next_pose(step, None, None)
            R, t = relative_pose(prev, pose)
            torch.testing.assert_close(R, torch.eye(3, dtype=torch.float64))
            torch.testing.assert_close(t, torch.tensor([0.0, 0.0, -0.25], dtype=torch.float64))
            prev = pose
        torch.testing.assert_close(camera_center(prev), torch.tensor([0.0, 0.0, 0.75], dtype=torch.float64))
        # Along the initial viewing direction of a rotated camera.
        path.reset(_yaw_pose(90.0))
        torch.testing.assert_close(camera_center(path.next_pose(2, None, None)), torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64))

    def test_pan_yaws_right_by_degrees_per_step(self):
        path = PanPath(degrees_per_step=2.0, speed=0.1)
        path.reset(torch.eye(4, dtype=torch.float64))
        for step in (1, 5, 10):
            pose = path.next_pose(step, None, None)
            f = pose[2, :3]
            assert math.degrees(math.atan2(float(f[0]), float(f[2]))) == pytest.approx(2.0 * step)
            assert float(pose[1, 1]) == pytest.approx(1.0)  # still level
        c5, c6 = camera_center(path.next_pose(5, None, None)), camera_center(path.next_pose(6, None, None))
        torch.testing.assert_close((c6 - c5).norm(), torch.tensor(0.1, dtype=torch.float64))
        torch.testing.assert_close(c6 - c5, 0.1 * path.next_pose(6, None, None)[2, :3])

    def test_pan_turns_in_place_in_front_of_near_content(self):
        """Near content filling the middle of the view stops the creep; an open view creeps as without disparity."""
        near, far = torch.full((1, 1, 32, 32), 0.9), torch.full((1, 1, 32, 32), 0.1)
        path = PanPath(degrees_per_step=2.0, speed=0.1)
        path.reset(torch.eye(4, dtype=torch.float64))
        blind = [camera_center(path.next_pose(s, None, None)) for s in (1, 2, 3)]
        path.reset(torch.eye(4, dtype=torch.float64))
        open_view = [camera_center(path.next_pose(s, far, None)) for s in (1, 2, 3)]
        torch.testing.assert_close(torch.stack(open_view), torch.stack(blind))
        path.reset(torch.eye(4, dtype=torch.float64))
        stuck = [path.next_pose(s, near, None) for s in (1, 2, 3)]
        torch.testing.assert_close(camera_center(stuck[-1]), torch.zeros(3, dtype=torch.float64))
        f = stuck[-1][2, :3]
        assert math.degrees(math.atan2(float(f[0]), float(f[2]))) == pytest.approx(6.0)  # it still turns
        # Creep 1 at step 1, none at steps 2 and 3: one step's distance.
        path.reset(torch.eye(4, dtype=torch.float64))
        path.next_pose(1, far, None)
        c = camera_center([path.next_pose(s, near, None) for s in (2, 3)][-1])
        torch.testing.assert_close(c.norm(), torch.tensor(0.1, dtype=torch.float64))
        # clearance 0: the disparity is not read.
        path = PanPath(degrees_per_step=2.0, speed=0.1, clearance=0.0)
        path.reset(torch.eye(4, dtype=torch.float64))
        torch.testing.assert_close(torch.stack([camera_center(path.next_pose(s, near, None)) for s in (1, 2, 3)]), torch.stack(blind))
        with pytest.raises(ValueError, match="clearance"):
            PanPath(clearance=1.5)

    def test_orbit_keeps_the_target_centred(self):
        K = intrinsics_from_fov(64, 64).double()
        path = OrbitPath(depth=3.0, degrees_per_step=5.0)
        path.reset(torch.eye(4, dtype=torch.float64))
        target = torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64)
        for step in (1, 4, 9):
            pose = path.next_pose(step, None, None)
            X = pose[:3, :3] @ target + pose[:3, 3]
            uv, z = project(X.reshape(1, 3, 1), K)
            torch.testing.assert_close(uv.flatten(), K[:2, 2])
            assert float(z) == pytest.approx(3.0)
        assert float(camera_center(pose)[0]) < 0  # swings left while turning right
        with pytest.raises(ValueError, match="depth"):
            OrbitPath(depth=0.0)


class TestKeyframePath:
    def _keys(self):
        return torch.stack([_yaw_pose(0.0), _yaw_pose(20.0, (0.2, 0.0, 1.0)), _yaw_pose(-10.0, (0.5, -0.2, 2.0)), _yaw_pose(5.0, (0.3, 0.0, 3.5))])

    def test_hits_keyframes_and_is_smooth(self):
        keys = self._keys()
        path = KeyframePath(keys, steps_per_segment=10)
        path.reset(torch.eye(4, dtype=torch.float64))
        poses = torch.stack([path.next_pose(s, None, None) for s in range(0, 31)])
        for i in range(4):
            torch.testing.assert_close(poses[10 * i], keys[i], atol=1e-9, rtol=0)
        c = camera_center(poses)
        vel = c.diff(dim=0)
        # C1: velocity changes little from one step to the next, across the knots too.
        assert vel.diff(dim=0).norm(dim=1).max() < 0.35 * vel.norm(dim=1).max()
        # Angular speed is continuous: the rotation between consecutive steps changes smoothly.
        rel = poses[1:, :3, :3] @ poses[:-1, :3, :3].transpose(1, 2)
        ang = torch.arccos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1))
        assert ang.diff().abs().max() < 0.5 * ang.max()
        # Past the end the path holds the last keyframe.
        torch.testing.assert_close(path.next_pose(50, None, None), keys[-1], atol=1e-9, rtol=0)
        assert path.num_steps == 30

    def test_times_and_relative_to_initial_pose(self):
        keys = self._keys().numpy()
        path = make_camera_path(keys, times=[0, 3, 10, 12])
        start = _yaw_pose(45.0, (1.0, 0.0, 0.0)).float()
        path.reset(start)
        for s, i in ((3, 1), (10, 2), (12, 3)):
            pose = path.next_pose(s, None, None)
            assert pose.dtype == torch.float32
            torch.testing.assert_close(pose, torch.from_numpy(keys[i]).float() @ start, atol=1e-5, rtol=0)

    def test_errors(self):
        with pytest.raises(ValueError, match=r"\(N, 4, 4\)"):
            KeyframePath(torch.zeros(3, 3, 4))
        with pytest.raises(ValueError, match="increasing"):
            KeyframePath(self._keys(), times=[0, 2, 2, 3])
        with pytest.raises(ValueError, match="not both"):
            KeyframePath(self._keys(), times=[0, 1, 2, 3], steps_per_segment=3)

    def test_poses_must_be_rigid(self):
        keys = np.asarray(self._keys(), dtype=np.float64)
        for name, broken in (("scaled", 2.0 * np.eye(4)), ("zero", np.zeros((4, 4))),
                             ("mirrored", np.diag([-1.0, 1.0, 1.0, 1.0])), ("projective", np.eye(4) + np.eye(4, k=-3))):
            bad = keys.copy()
            bad[2] = broken
            with pytest.raises(ValueError, match=r"rigid world-to-camera transform.*\(pose 2\)"):
                KeyframePath(bad)
        KeyframePath(keys + 1e-5)  # float noise of a saved path is fine


class TestCallableAndFactory:
    def test_callable_path(self):
        calls = []

        def fn(step):
            calls.append(step)
            return np.asarray(_yaw_pose(float(step)))

        path = make_camera_path(fn)
        assert isinstance(path, CallablePath)
        path.reset(torch.eye(4))
        pose = path.next_pose(3, None, None)
        assert pose.dtype == torch.float32 and calls == [3]
        torch.testing.assert_close(pose, _yaw_pose(3.0).float())
        bad = CallablePath(lambda s: torch.eye(3))
        bad.reset(torch.eye(4))
        with pytest.raises(ValueError, match=r"fn\(1\)"):
            bad.next_pose(1, None, None)
        for out in ("x", 2.0 * torch.eye(4), None):
            bad = CallablePath(lambda s, out=out: out)
            bad.reset(torch.eye(4))
            with pytest.raises(ValueError, match=r"fn\(1\)"):
                bad.next_pose(1, None, None)

    def test_factory(self):
        assert isinstance(make_camera_path("autopilot", speed=0.3), Autopilot)
        assert make_camera_path("autopilot", speed=0.3).config.speed == 0.3
        assert isinstance(make_camera_path("Straight"), StraightPath)
        assert isinstance(make_camera_path("pan", degrees_per_step=1.0), PanPath)
        assert isinstance(make_camera_path("orbit"), OrbitPath)
        assert isinstance(make_camera_path(torch.eye(4).expand(2, 4, 4)), KeyframePath)
        mine = StraightPath()
        assert make_camera_path(mine) is mine and isinstance(mine, CameraPath)
        with pytest.raises(ValueError, match="autopilot, straight, pan, orbit"):
            make_camera_path("spiral")
        with pytest.raises(ValueError, match="autopilot, straight, pan, orbit"):
            make_camera_path(42)
        with pytest.raises(ValueError, match="cannot be applied"):
            make_camera_path(mine, speed=1.0)
        with pytest.raises(TypeError):
            make_camera_path("straight", sped=1.0)
