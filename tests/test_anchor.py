"""The photo anchor: re-sampling what the first view still shows from the first view itself."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from infinitenature import FlyThroughConfig
from infinitenature.anchor import anchor_side, build_anchor, sample_anchor
from infinitenature.geometry import intrinsics_from_fov, shift_principal_point
from infinitenature.scene import PreparedScene, prepare_scene
from infinitenature.sky import SkyCanvas

from test_pipeline import RES, _photo, _SpeckledRefiner, _stripes, pipe, ramp_depth, top_sky  # noqa: F401  (pipe is a fixture)


def _pose_forward(z: float) -> torch.Tensor:
    """World-to-camera pose of a camera moved ``z`` units forward (first camera = identity)."""
    P = torch.eye(4, dtype=torch.float64)
    P[2, 3] = -z
    return P


def _ramp_anchor(side: int, state: int, disp: float = 0.25):
    u = torch.arange(side, dtype=torch.float32).view(1, 1, 1, side).expand(1, 3, side, side)
    rgb = (0.1 + 0.8 * u / (side - 1)).clone()
    return build_anchor(rgb, torch.full((1, 1, side, side), disp), intrinsics_from_fov(side, side, 55.0), state_side=state), rgb


def test_anchor_side_caps_and_rounds():
    assert anchor_side(256, 960, 4) == 960  # the photo's own pixels (a multiple of 8)
    assert anchor_side(256, 900, 4) % 8 == 0 and abs(anchor_side(256, 900, 4) - 900) <= 4
    assert anchor_side(256, 2000, 4) == 1024  # scale x the state
    assert anchor_side(256, 100, 4) == 256  # never below the state
    with pytest.raises(ValueError, match=">= 1"):
        anchor_side(256, 900, 0)


def test_same_view_gives_the_area_average_of_the_anchor():
    anchor, rgb = _ramp_anchor(4 * RES, RES)
    assert [lvl.shape[-1] for lvl in anchor.levels] == [4 * RES, 2 * RES, RES, RES // 2]
    s = sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.25), intrinsics_from_fov(RES, RES, 55.0), torch.eye(4, dtype=torch.float64))
    inner = slice(1, RES - 1)  # half a pixel in from the border
    assert torch.allclose(s.rgb, torch.nn.functional.avg_pool2d(rgb, 4), atol=1e-5)
    assert bool((s.weight[..., inner, inner] == 1).all())
    assert torch.allclose(s.disparity, torch.full_like(s.disparity, 0.25), atol=1e-6)


def test_flying_toward_a_wall_magnifies_about_the_centre():
    """Depth 4, camera 2 forward: view pixel u looks at anchor pixel c + (u - c) / 2 (in anchor units)."""
    A = 4 * RES
    anchor, _ = _ramp_anchor(A, RES)
    K = intrinsics_from_fov(RES, RES, 55.0)
    s = sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.5), K, _pose_forward(2.0))
    u = torch.arange(RES, dtype=torch.float32)
    u_anchor = (A - 1) / 2 + ((u + 0.5) * 4 - 0.5 - (A - 1) / 2) / 2  # the view pixel in anchor pixels, halved about the centre
    expected = 0.1 + 0.8 * u_anchor / (A - 1)  # the ramp is linear, so bilinear sampling is exact
    assert torch.allclose(s.rgb[0, 0, RES // 2], expected, atol=1e-4)
    assert bool((s.weight == 1).all())
    # the anchor's surface, moved into the view: disparity 1 / (4 - 2)
    assert torch.allclose(s.disparity, torch.full_like(s.disparity, 0.5), atol=1e-5)


def test_occluders_outside_and_sky_get_no_weight():
    anchor, _ = _ramp_anchor(2 * RES, RES, disp=0.5)
    K = intrinsics_from_fov(RES, RES, 55.0)
    eye = torch.eye(4, dtype=torch.float64)
    # the view sees a surface at disparity 0.25 where the anchor shows a nearer one
    assert float(sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.25), K, eye).weight.max()) == 0.0
    # within the tolerance (5%) it is the same surface
    assert float(sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.51), K, eye).weight[..., 2:-2, 2:-2].min()) == 1.0
    # a camera turned 90 degrees looks where the anchor never saw
    turn = eye.clone()
    turn[:3, :3] = torch.tensor([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]], dtype=torch.float64)
    assert float(sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.5), K, turn).weight.max()) == 0.0
    sky = build_anchor(anchor.levels[0][:, :3], torch.full((1, 1, 2 * RES, 2 * RES), 0.01), anchor.K, state_side=RES, sky_offset=0.02)
    assert float(sample_anchor(sky, torch.full((1, 1, RES, RES), 0.01), K, eye).weight.max()) == 0.0
    with pytest.raises(ValueError, match="tolerance"):
        sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.5), K, eye, tolerance=0)
    with pytest.raises(ValueError, match="smooth"):
        sample_anchor(anchor, torch.full((1, 1, RES, RES), 0.5), K, eye, smooth=4)


def test_prepare_scene_builds_the_anchor_from_the_photo():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 200), torch.linspace(0, 1, 300), indexing="ij")
    photo = torch.stack([xx, yy, 0.5 + 0.3 * torch.sin(6 * xx)])  # smooth, crop side 200
    scene = prepare_scene(photo, ramp_depth, top_sky, size=RES, anchor_scale=4)
    a = scene.anchor
    assert a is not None and a.size == 4 * RES and len(a.levels) == 4
    # the whole photo at the crop's scale (200 px -> 128): 128 x 192, the view's square 32 px in
    assert (a.height, a.width) == (4 * RES, 6 * RES)
    assert torch.allclose(a.K, shift_principal_point(intrinsics_from_fov(4 * RES, 4 * RES, 55.0), RES, 0.0), atol=1e-4)
    assert a.sky_offset == scene.sky_offset
    # the view's square of the finest level is the photo's centred crop: averaged down to the state's size it is the view
    square = a.levels[0][:, :3, :, RES : 5 * RES]
    assert torch.allclose(torch.nn.functional.avg_pool2d(square, 4), scene.rgb, atol=0.01)
    # a view turned right looks past the square into the photo's own pixels there (x = 0.83 .. 1 of the photo)
    yaw = math.radians(10.0)
    turned = torch.eye(4, dtype=torch.float64)
    turned[:3, :3] = torch.tensor([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]], dtype=torch.float64)
    guess = sample_anchor(a, torch.full((1, 1, RES, RES), 0.5), scene.K, turned)
    look = sample_anchor(a, guess.disparity, scene.K, turned)  # at the photo's own surface: the disparities agree
    u, v = look.uv[0, 0], look.uv[0, 1]
    beyond = u > 5 * RES - 0.5  # looked up right of the view's square
    assert bool(beyond[:, -4:].all())  # the right edge of the turned view
    beyond &= (v > RES * 2) & (v < a.height - 2)  # on the photo's ground (top_sky: its top third is sky, never given)
    got = look.rgb[0, 0][beyond]  # red = the photo's x (0..1)
    assert bool((look.weight[0, 0][beyond] > 0.99).all()) and float(got.min()) > 0.8
    assert prepare_scene(photo, ramp_depth, top_sky, size=RES).anchor is None
    assert prepare_scene(photo, ramp_depth, top_sky, size=RES, anchor_scale=8).anchor.size == 192  # the photo's 200 px, to a multiple of 16
    assert scene.to("cpu").anchor.size == a.size
    with pytest.raises(ValueError, match="anchor_scale"):
        prepare_scene(photo, ramp_depth, top_sky, size=RES, anchor_scale=-1)


def test_config_and_scene_errors(pipe):
    with pytest.raises(ValueError, match="anchor_scale must be an integer in 0..8"):
        FlyThroughConfig(anchor_scale=9)
    with pytest.raises(ValueError, match="anchor_scale must be"):
        FlyThroughConfig(anchor_scale=True)
    scene = prepare_scene(_photo(), ramp_depth, top_sky, size=RES)  # no anchor
    old = pipe.config
    pipe.config = dataclasses.replace(old, anchor_scale=2)
    try:
        with pytest.raises(ValueError, match="needs a scene with an anchor"):
            next(pipe.iter_frames(None, 2, scene=scene))
        assert pipe.prepare(_photo()).anchor is not None
        out = pipe(_photo(), num_frames=3, seed=0, progress=False)  # runs end to end
        assert out.frames.shape == (3, RES, RES, 3)
    finally:
        pipe.config = old


def test_anchor_keeps_detail_without_a_supersampled_state(pipe):
    """The wall of ``test_supersampling_keeps_detail_when_flying_closer``, at supersample 1.

    Stripes 8 px apart in a 4x anchor; 8 steps of 1/3 unit toward the wall at depth 4
    magnify it 3x. Without the anchor the state (at the refiner's resolution) has lost
    the stripes; with it, every step re-samples them from the anchor.
    """
    side = 4 * RES
    K = intrinsics_from_fov(RES, RES, 55.0)
    rgb_big = _stripes(side, 8.0)
    rgb = torch.nn.functional.avg_pool2d(rgb_big, 4)
    disp = torch.full((1, 1, RES, RES), 0.25)
    canvas = SkyCanvas(rgb=rgb, disparity=disp, K=K, sky_offset=0.0)
    anchor = build_anchor(rgb_big, torch.full((1, 1, side, side), 0.25), intrinsics_from_fov(side, side, 55.0), state_side=RES)
    scene = PreparedScene(rgb=rgb, disparity=disp, sky=torch.zeros_like(disp), K=K, sky_offset=0.0, canvas=canvas, anchor=anchor)
    truth = torch.nn.functional.avg_pool2d(_stripes(side, 8.0 * 3.0), 4)[0, 0].numpy()
    centre = slice(RES // 4, 3 * RES // 4)
    errors = {}
    old = pipe.config
    try:
        for scale in (0, 4):
            pipe.config = dataclasses.replace(old, supersample=1, anchor_scale=scale, keep_visible=True, sky_correction=False)
            frames = list(pipe.iter_frames(None, 9, scene=scene, trajectory=lambda step: _pose_forward(step / 3.0)))
            last = frames[-1].image[..., 0].astype(np.float32) / 255
            errors[scale] = float(np.abs(last - truth)[centre, centre].mean())
    finally:
        pipe.config = old
    # measured: {0: 0.243, 4: 0.028}
    assert errors[4] < 0.05 and errors[4] < 0.3 * errors[0], errors


# ----------------------------------------------------------------------- streak blur
def test_singular_values_and_direction_of_an_affine_lookup():
    """u = A x with A = R diag(3, 0.25) R^T: singular values 3 and 0.25, the larger along R's first column."""
    from infinitenature.anchor import lookup_jacobian, singular_values
    from infinitenature.geometry import pixel_grid

    xy = pixel_grid(12, 12)[:2]
    c, s = math.cos(0.6), math.sin(0.6)
    rot = torch.tensor([[c, -s], [s, c]])
    A = rot @ torch.diag(torch.tensor([3.0, 0.25])) @ rot.t()
    uv = torch.einsum("ij,jhw->ihw", A, xy).unsqueeze(0)
    s_max, s_min, theta = singular_values(*lookup_jacobian(uv))
    assert torch.allclose(s_max, torch.full_like(s_max, 3.0), atol=1e-4)
    assert torch.allclose(s_min, torch.full_like(s_min, 0.25), atol=1e-4)
    assert torch.allclose(theta, torch.full_like(theta, 0.6), atol=1e-4)


def _ground(side: int, K: torch.Tensor, height: float = 0.5) -> torch.Tensor:
    """``(1, 1, side, side)`` disparity of a ground plane ``height`` below the camera (0.01 above the horizon)."""
    v = torch.arange(side, dtype=torch.float32).view(1, 1, side, 1).expand(1, 1, side, side)
    return ((v - float(K[1, 2])) / (height * float(K[1, 1]))).clamp(0.01, 1.0)


def test_streak_blur_averages_across_the_flight_over_magnified_ground_only():
    """Flying over a ground plane magnifies the photo's rows (the depth direction) more than its columns.

    With the blur, stripes that vary across the flight (along the photo's rows) are averaged
    away where the ground is magnified anisotropically; stripes that vary along it (down the
    photo's columns) are untouched, and so is a head-on view of a wall (equal magnification).
    """
    side = 2 * RES  # the view at the anchor's resolution, so that flying forward magnifies it
    K_a = K = intrinsics_from_fov(side, side, 55.0)
    ground_a = _ground(side, K_a)
    u = torch.arange(side, dtype=torch.float32)
    across = (0.5 + 0.4 * torch.sin(2 * math.pi * u / 6)).view(1, 1, 1, side).expand(1, 3, side, side).clone()
    along = across.transpose(-1, -2).clone()
    pose = _pose_forward(1.0)
    view = _ground(side, K)
    near = (slice(None), slice(None), slice(3 * side // 4, side - 2), slice(side // 2 - 4, side // 2 + 4))  # near ground, centre
    for rgb, blurred in ((across, True), (along, False)):
        anchor = build_anchor(rgb, ground_a, K_a, state_side=side)
        plain = sample_anchor(anchor, view, K, pose)
        soft = sample_anchor(anchor, view, K, pose, streak_blur=1.0)
        assert bool((plain.weight[near] == 1).all())
        assert torch.equal(soft.weight, plain.weight) and torch.equal(soft.disparity, plain.disparity)
        # the lookup's smaller singular value, computed once for the filter, is handed on to the detail
        from infinitenature.detail import magnification

        assert plain.magnification is None and torch.equal(soft.magnification, magnification(soft.uv))
        if blurred:
            assert float(soft.rgb[near].std()) < 0.5 * float(plain.rgb[near].std())
            assert abs(float(soft.rgb[near].mean()) - 0.5) < 0.05  # the stripes' mean
        else:
            assert torch.allclose(soft.rgb[near], plain.rgb[near], atol=0.01)
    # A wall seen head-on is magnified equally in every direction: nothing changes.
    anchor = build_anchor(across, torch.full((1, 1, side, side), 0.25), K_a, state_side=side)
    wall = torch.full((1, 1, side, side), 0.5)
    assert torch.equal(sample_anchor(anchor, wall, K, pose, streak_blur=2.0).rgb, sample_anchor(anchor, wall, K, pose).rgb)
    with pytest.raises(ValueError, match="streak_blur"):
        sample_anchor(anchor, wall, K, pose, streak_blur=-1.0)


def test_streak_blur_length_does_not_jump_with_row_jitter(monkeypatch):
    """Ground magnified 2x down the view, its lookup jittering by up to 0.3 anchor px from row to row
    (as a warped state's disparity does): the blur's shape comes from the Jacobian averaged over
    a window, so its length does not jump from row to row into horizontal "ladder" lines."""
    import torch.nn.functional as F

    import infinitenature.anchor as anchor_module

    side = 64
    stripes = 0.5 + 0.4 * torch.sin(2 * math.pi * torch.arange(side, dtype=torch.float32) / 16.0)  # across the blur's line
    anchor = build_anchor(stripes.view(1, 1, 1, side).expand(1, 3, side, side).clone(), torch.full((1, 1, side, side), 0.5),
                          intrinsics_from_fov(side, side, 55.0), state_side=32)
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    jitter = 0.3 * torch.rand(32, 1, generator=torch.Generator().manual_seed(0))
    uv = torch.stack([10.0 + x, 20.0 + 0.5 * y + jitter]).unsqueeze(0)
    grid = ((uv + 0.5) * (2.0 / side) - 1.0).permute(0, 2, 3, 1)
    plain = F.grid_sample(anchor.levels[0][:, :3], grid, mode="bilinear", align_corners=False)
    use = torch.ones(1, 32, 32, dtype=torch.bool)

    def ladder(window):  # mean change from one row to the next, away from the edges
        monkeypatch.setattr(anchor_module, "STREAK_JACOBIAN_WINDOW", window)
        out, s_min = anchor_module._blur_streaks(anchor, plain, uv, use, 1.0)
        inner = out[..., 6:-6, 6:-6]
        return float(inner.diff(dim=-2).abs().mean()), s_min

    window = anchor_module.STREAK_JACOBIAN_WINDOW
    jumpy, s_raw = ladder(1)
    smooth, s_min = ladder(window)
    assert smooth < 0.5 * jumpy, (smooth, jumpy)
    assert torch.equal(s_min, s_raw)  # the magnification handed on stays each pixel's own


def test_streak_blur_config_checks_and_loop(pipe):
    with pytest.raises(ValueError, match="streak_blur"):
        FlyThroughConfig(anchor_scale=2, streak_blur=5.0)
    with pytest.raises(ValueError, match="anchor"):
        FlyThroughConfig(streak_blur=1.0)
    pipe.config = dataclasses.replace(pipe.config, anchor_scale=2, streak_blur=1.0)
    a = pipe(_photo(), num_frames=3, seed=0, trajectory="straight", progress=False).frames
    b = pipe(_photo(), num_frames=3, seed=0, trajectory="straight", progress=False).frames
    assert a.shape == (3, RES, RES, 3) and np.array_equal(a, b)
    pipe.config.anchor_scale = 0  # set after construction: the run checks it
    with pytest.raises(ValueError, match="streak_blur"):
        pipe(_photo(), num_frames=2, progress=False)


def test_streak_blur_is_anisotropic_filtering_where_the_view_minifies():
    """A view at a quarter of the anchor's resolution, 1 unit forward over the ground, steps more anchor
    pixels across the flight than along it: the isotropic level blurs stripes that run across the flight
    (varying down the photo's columns); the filter reads the finer level and keeps more of them."""
    side = 4 * RES
    K_a, K = intrinsics_from_fov(side, side, 55.0), intrinsics_from_fov(RES, RES, 55.0)
    v = torch.arange(side, dtype=torch.float32)
    rows = (0.5 + 0.4 * torch.sin(2 * math.pi * v / 8)).view(1, 1, side, 1).expand(1, 3, side, side).clone()
    anchor = build_anchor(rows, _ground(side, K_a), K_a, state_side=RES)
    column = (0, 0, slice(3 * RES // 4, RES - 2), RES // 2)  # near ground, down the centre
    view = _ground(RES, K)
    plain = sample_anchor(anchor, view, K, _pose_forward(1.0)).rgb[column]
    soft = sample_anchor(anchor, view, K, _pose_forward(1.0), streak_blur=1.0).rgb[column]
    assert float(soft.std()) > 1.15 * float(plain.std())
    same = sample_anchor(anchor, view, K, torch.eye(4, dtype=torch.float64), streak_blur=1.0).rgb  # equal minification
    assert torch.equal(same, sample_anchor(anchor, view, K, torch.eye(4, dtype=torch.float64)).rgb)


def test_level_lookup_is_trilinear_over_the_two_levels_around_each_pixel():
    """``sample_levels`` (grouped by level) equals weighting every level by ``max(0, 1 - |level - i|)``."""
    import torch.nn.functional as F

    from infinitenature.anchor import sample_levels

    g = torch.Generator().manual_seed(0)
    levels = [torch.rand(1, 4, 32 >> i, 32 >> i, generator=g) for i in range(4)]
    B, H, W = 2, 9, 11
    grid = torch.rand(B, H, W, 2, generator=g) * 2.2 - 1.1  # some outside: border padding
    level = (torch.rand(B, H, W, generator=g) * 3.4 - 0.2).clamp(0, 3)
    level[0, 0, :4] = torch.tensor([0.0, 1.0, 2.0, 3.0])  # exactly on levels, and the top one
    expected = torch.zeros(B, 4, H, W)
    for i, lvl in enumerate(levels):
        w = (1.0 - (level - i).abs()).clamp_min(0).unsqueeze(1)
        expected += w * F.grid_sample(lvl.expand(B, -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=False)
    got = sample_levels(levels, grid, level)
    assert got.shape == (B, 4, H, W)
    assert torch.allclose(got, expected, atol=1e-6)
    on_level = F.grid_sample(levels[2], grid[:1, :1, 2:3], mode="bilinear", padding_mode="border", align_corners=False)
    assert torch.allclose(got[0, :, 0, 2], on_level[0, :, 0, 0], atol=1e-6)  # level 2.0 reads level 2 alone


class _GreyPainter(_SpeckledRefiner):
    """Paints holes grey, with the disparity of the valid pixels carried in (push-pull), everything else as warped."""

    def refine(self, rgb, disparity, mask, code, z, **kw):
        from infinitenature.filters import push_pull_fill

        return torch.cat([rgb * mask + 0.5 * (1 - mask), push_pull_fill(disparity, mask)], 1)


def test_a_turn_fills_the_new_strip_from_the_photo_beyond_the_square():
    """Turning right opens a strip at the right edge; the photo shows what is there, so it takes the photo's colour."""
    from infinitenature import FlyThrough

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 200), torch.linspace(0, 1, 300), indexing="ij")
    photo = torch.stack([xx, yy, torch.full_like(xx, 0.2)])  # red = the photo's x
    no_sky = lambda image: torch.zeros_like(image[:, :1])  # noqa: E731
    cfg = FlyThroughConfig(keep_visible=True, anchor_scale=2, sky_correction=False)
    flyer = FlyThrough(_GreyPainter(RES), ramp_depth, no_sky, config=cfg)
    yaw = math.radians(4.0)
    poses = torch.eye(4, dtype=torch.float64).repeat(2, 1, 1)
    poses[1, :3, :3] = torch.tensor([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]], dtype=torch.float64)
    frames = list(flyer.iter_frames(photo, 2, trajectory=lambda step: poses[step], progress=False))
    assert frames[1].hole_fraction > 0.03  # a strip at the right edge was painted
    strip = frames[1].image[RES // 4 : -4, -2:, 0] / 255.0  # the strip's red, below the far rows at the top
    assert float(strip.min()) > 0.8, strip  # the photo's own pixels right of the square (x = 0.83 .. 1), not the grey paint


def test_a_lookup_on_the_ground_reads_no_sky_colour_at_the_skyline():
    side = 4 * RES
    rows = torch.arange(side).view(1, 1, side, 1).expand(1, 1, side, side)
    sky_row = side // 2 + 2  # not on a 4-texel boundary: coarser levels straddle the skyline
    blue, brown = torch.tensor([0.3, 0.5, 0.9]).view(1, 3, 1, 1), torch.tensor([0.4, 0.3, 0.1]).view(1, 3, 1, 1)
    rgb = torch.where(rows < sky_row, blue, brown).clone()
    rgb[..., sky_row, :] = 0.5 * (blue + brown)[..., 0, :]  # the skyline row: half sky, called ground
    disp = torch.where(rows < sky_row, 0.01, 0.25).float()
    K = intrinsics_from_fov(side, side, 55.0)
    anchor = build_anchor(rgb, disp, K, state_side=RES, sky_offset=0.02)
    assert anchor.ground is not None and [g.shape[-1] for g in anchor.ground] == [lv.shape[-1] for lv in anchor.levels]
    assert torch.equal(anchor.to("cpu").ground[0], anchor.ground[0])
    view = torch.where(torch.arange(RES).view(1, 1, RES, 1) < sky_row // 4 + 1, 0.01, 0.25).float().expand(1, 1, RES, RES)
    s = sample_anchor(anchor, view.contiguous(), intrinsics_from_fov(RES, RES, 55.0), torch.eye(4, dtype=torch.float64))
    on_ground = ((s.sky == 0) & (s.inside == 1)).expand(1, 3, RES, RES)  # every lookup landing on the ground
    assert bool(on_ground.any()) and bool((s.weight > 0).any())
    torch.testing.assert_close(s.rgb[on_ground], brown.expand(1, 3, RES, RES)[on_ground], atol=1e-5, rtol=0)
    plain = dataclasses.replace(anchor, ground=None)  # what the photo's own pyramid gives there: some sky
    p = sample_anchor(plain, view.contiguous(), intrinsics_from_fov(RES, RES, 55.0), torch.eye(4, dtype=torch.float64))
    assert float((p.rgb - brown).abs()[on_ground].max()) > 0.05
    assert _ramp_anchor(RES, RES)[0].ground is None  # an anchor without sky has no ground colours
