"""Sky and ground as two layers: resampling that never mixes them (``layers.py``,
``render_step(sky_level=...)``, ``FlyThroughConfig.sky_layers``)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infinitenature import FlyThrough, FlyThroughConfig
from infinitenature.geometry import intrinsics_from_fov
from infinitenature.layers import SkyGroundLayers, under_ground, unmix_skyline, layered, layered_blend, paint_layers, pick_layer, refill, soften_skyline
from infinitenature.models import CoModGenerator, GeneratorConfig
from infinitenature.render import bilinear_coverage, render_step
from infinitenature.step import RefinerInputs, Warped
from infinitenature.step import paint as paint_step

SKY = 0.02  # sky level: sky at disparity 0.01, ground above
RED, GREEN = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])


def _skyline(h: int = 32, w: int = 32, row: int = 16):
    """Red sky (disparity 0.01) above ``row``, green ground (0.05) below, one near pixel (1.0)."""
    rgb = torch.zeros(1, 3, h, w)
    rgb[:, 0, :row] = 1.0
    rgb[:, 1, row:] = 1.0
    disp = torch.full((1, 1, h, w), 0.01)
    disp[..., row:, :] = 0.05
    disp[..., -1, -1] = 1.0  # so that far ground and sky get nearly the same softmax weight
    return rgb, disp


def _mixed(rgb: torch.Tensor) -> int:
    """Pixels with both some red and some green."""
    return int(((rgb[:, 0] > 0.01) & (rgb[:, 1] > 0.01)).sum())


def test_pick_layer_takes_the_majority_layer_whole():
    mixed = torch.tensor([0.7, 0.3, 0.5]).view(1, 1, 1, 3)  # means over both layers
    share = torch.tensor([0.6, 0.4, 0.0]).view(1, 1, 1, 3)  # ground's share of the weight
    ground = torch.tensor([0.6 * 0.5, 0.4 * 0.5, 0.0]).view(1, 1, 1, 3)  # ground value 0.5
    out = pick_layer(mixed, share, ground)
    # pixel 0: ground (0.5); pixel 1: sky, (0.3 - 0.2) / 0.6; pixel 2: sky only
    assert torch.allclose(out.flatten(), torch.tensor([0.5, 0.1 / 0.6, 0.5]))
    with pytest.raises(ValueError, match="do not match"):
        pick_layer(mixed, share[..., :2], ground)


def test_layered_average_pool_never_mixes_sky_and_ground():
    rgb, disp = _skyline(row=15)  # the boundary falls inside 2x2 blocks
    plain = F.avg_pool2d(rgb, 2)
    assert _mixed(plain) > 0
    out, d = layered(lambda x: F.avg_pool2d(x, 2), rgb, disp, SKY)
    assert _mixed(out) == 0
    ground = d > SKY
    assert torch.equal(out[:, 1:2][ground], torch.ones_like(out[:, 1:2][ground]))  # ground is green
    assert float(d[~ground].max()) <= SKY  # the sky stays at the sky's disparity
    # without a skyline it is the plain operation
    flat = torch.rand(1, 3, 8, 8)
    same, _ = layered(lambda x: F.avg_pool2d(x, 2), flat, torch.full((1, 1, 8, 8), 0.5), SKY)
    assert torch.allclose(same, F.avg_pool2d(flat, 2), atol=1e-6)


def test_layered_blend_is_the_plain_blend_within_a_layer_and_a_choice_across():
    keep = torch.tensor([0.25, 0.75]).view(1, 1, 1, 2)
    a = torch.tensor([1.0, 1.0]).view(1, 1, 1, 2)
    b = torch.tensor([0.0, 0.0]).view(1, 1, 1, 2)
    ground = torch.full((1, 1, 1, 2), 0.5)
    v, _ = layered_blend(keep, a, ground, b, ground, SKY)
    assert torch.allclose(v.flatten(), torch.tensor([0.25, 0.75]))  # both ground: plain blend
    sky = torch.full((1, 1, 1, 2), 0.01)
    v, d = layered_blend(keep, a, ground, b, sky, SKY)  # a ground, b sky: the heavier one, whole
    assert torch.allclose(v.flatten(), torch.tensor([0.0, 1.0]))
    assert torch.allclose(d.flatten(), torch.tensor([0.01, 0.5]))


def test_refill_replaces_only_where_from_the_source():
    rgb, disp = _skyline(8, 8, row=4)
    sky, ground = disp <= SKY, disp > SKY
    out = refill(rgb, sky, ground)
    assert torch.equal(out[..., 4:, :], rgb[..., 4:, :])  # the ground is untouched
    assert torch.allclose(out[..., :4, :], GREEN.view(1, 3, 1, 1).expand(1, 3, 4, 8))  # the sky is the ground carried on
    assert refill(rgb, sky & False, ground) is rgb  # nothing to replace
    assert refill(rgb, sky, ground & False) is rgb  # nothing to take it from
    with pytest.raises(ValueError, match="bool masks"):
        refill(rgb, sky.float(), ground)
    blue = torch.zeros_like(rgb)
    blue[:, 2] = 1.0
    other = refill(rgb, sky, ground, blue)  # the fill made of other values
    assert torch.equal(other[..., 4:, :], rgb[..., 4:, :]) and torch.allclose(other[:, 2, :4], torch.ones(1, 4, 8))
    with pytest.raises(ValueError, match="shaped like"):
        refill(rgb, sky, ground, blue[:, :2])


def test_refill_leaves_items_without_a_source_as_they_are():
    rgb, disp = _skyline(8, 8, row=4)
    rgb, disp = rgb.repeat(2, 1, 1, 1), disp.repeat(2, 1, 1, 1)
    sky, ground = disp <= SKY, disp > SKY
    ground[1] = False  # the second item has no ground to carry into its sky
    out = refill(rgb, sky, ground)
    assert torch.equal(out[1], rgb[1])  # not the zeros of an empty push-pull fill
    assert torch.allclose(out[0, :, :4], GREEN.view(3, 1, 1).expand(3, 4, 8))


def test_soften_skyline_mattes_only_the_pixels_near_the_skyline():
    rgb, disp = _skyline(16, 16, row=8)
    disp[..., -1, -1] = 0.05
    out = soften_skyline(rgb, disp, SKY, sigma=1.0)  # a 5 x 5 Gaussian: two rows on either side
    changed = (out != rgb).any(dim=1)[0]
    assert changed[6:10].all()
    assert not changed[:6].any() and not changed[10:].any()
    assert _mixed(out[..., 6:10, :]) == 64  # shown as a mixture of both colours
    assert torch.allclose(out.sum(dim=1), rgb.sum(dim=1))  # a convex blend of red and green
    assert bool((out[:, 1, 7] < out[:, 1, 8]).all())  # more ground below the skyline than above
    assert soften_skyline(rgb, torch.full_like(disp, 0.5), SKY) is rgb  # no skyline: the frame as it is
    with pytest.raises(ValueError, match="sigma must be > 0"):
        soften_skyline(rgb, disp, SKY, sigma=0)


@pytest.mark.parametrize("ty", [-0.2, -0.37, -0.5])
def test_two_layer_render_keeps_the_skyline_unmixed(ty):
    """A sub-pixel move of the ground against the sky: one layer blends the skyline row, two do not."""
    rgb, disp = _skyline()
    K = intrinsics_from_fov(32, 32, 55.0)
    R, t = torch.eye(3)[None], torch.tensor([[0.0, ty, 0.0]])
    one = render_step(rgb, disp, R, t, K)
    assert _mixed(one.rgb) > 0  # the failure this guards against
    two = render_step(rgb, disp, R, t, K, sky_level=SKY)
    assert _mixed(two.rgb) == 0
    ground = two.disparity > SKY
    assert float(two.rgb[:, 0:1][ground].max()) < 1e-6  # no sky colour on the ground
    assert torch.equal(two.mask, one.mask)  # a small disparity step: no edge-alpha hole in either
    # away from the skyline nothing changes
    assert torch.allclose(two.rgb[..., 20:30, :], one.rgb[..., 20:30, :], atol=1e-5)
    assert torch.allclose(two.disparity[..., 20:30, :], one.disparity[..., 20:30, :], atol=1e-5)


def test_two_layer_render_opens_no_holes_at_the_skyline_but_keeps_ground_depth_edges():
    """The skyline is no depth edge between layers; a near block's edge on the ground still is."""
    rgb, disp = _skyline()
    disp[..., 16:, :] = 0.2  # nearer ground: the skyline's disparity step gives a low edge alpha
    disp[..., 24:, 8:24] = 0.6  # and a near block on it
    K = intrinsics_from_fov(32, 32, 55.0)
    R, t = torch.eye(3)[None], torch.tensor([[0.0, -0.37, 0.0]])
    one = render_step(rgb, disp, R, t, K)
    two = render_step(rgb, disp, R, t, K, sky_level=SKY)
    skyline = (slice(None), slice(None), slice(11, 16), slice(None))
    assert float(one.mask[skyline].min()) == 0.0  # one layer: a row of holes along the skyline
    assert float(two.mask[skyline].min()) == 1.0
    assert float(two.mask[..., 18:24, 8:24].min()) == 0.0  # the block's top edge
    assert torch.equal(two.mask[..., 17:, :], one.mask[..., 17:, :])


def test_two_layer_render_carries_features_by_layer():
    rgb, disp = _skyline()
    K = intrinsics_from_fov(32, 32, 55.0)
    feat = (disp > SKY).float() * 2.0  # 2 on the ground, 0 on the sky
    r = render_step(rgb, disp, torch.eye(3)[None], torch.tensor([[0.0, -0.37, 0.0]]), K, features=feat, sky_level=SKY)
    ground = r.disparity > SKY
    assert torch.allclose(r.features[ground], torch.full_like(r.features[ground], 2.0), atol=1e-5)
    assert float(r.features[~ground].abs().max()) < 1e-5


def test_two_layer_render_one_scatter_matches_the_joint_splat_of_both_layers():
    """The torch backend scatters each layer into its own copy of the target (``_splat_layers``);
    any other backend splats both layers as channels of one splat (``_splat_layers_generic``).
    Through ``forward_splat`` the two give the same layers, alpha and coverage."""
    from infinitenature.render import _splat_layers, _splat_layers_generic, forward_splat

    g = torch.Generator().manual_seed(3)
    rgb, disp = _skyline(24, 40, row=9)
    disp = disp * (1 + 0.5 * torch.rand(disp.shape, generator=g)) * (disp > SKY) + disp * (disp <= SKY)
    moved = torch.cat([rgb, torch.rand(1, 3, 24, 40, generator=g)], dim=1)
    ground = disp > SKY
    K = intrinsics_from_fov(24, 40, 60.0)
    R, t = _rotation(0.03, -0.02)[None], torch.tensor([[0.05, -0.1, -0.3]])
    fast, cov_fast = _splat_layers(moved, disp, ground, R, t, K)
    slow, cov_slow = _splat_layers_generic(forward_splat, moved, disp, ground, R, t, K)
    assert fast.shape == slow.shape == (1, 2, 9, 24, 40)  # 6 values, new-view disparity, weight, coverage
    w_fast, w_slow = fast[:, :, 7:8], slow[:, :, 7:8]
    landed = (w_fast > 0) & (w_slow > 0)
    assert int(landed.sum()) > 900 and torch.equal(w_fast > 0, w_slow > 0)  # of 960 pixels, a few in both layers
    where = landed.expand(-1, -1, 7, -1, -1)
    mean_fast, mean_slow = fast[:, :, :7] / w_fast.clamp_min(1e-30), slow[:, :, :7] / w_slow.clamp_min(1e-30)
    torch.testing.assert_close(mean_fast[where], mean_slow[where], atol=1e-5, rtol=0)
    torch.testing.assert_close(fast[:, :, 8:], slow[:, :, 8:], atol=1e-5, rtol=0)  # each layer's coverage
    torch.testing.assert_close(cov_fast, cov_slow, atol=1e-6, rtol=0)


def test_two_layer_render_runs_on_the_pytorch3d_backend(monkeypatch):
    """With sky layers, the pytorch3d backend (driven by the reference rasterizer of
    test_render_pytorch3d) keeps sky and ground apart as the torch backend does."""
    import infinitenature.render_pytorch3d as rp3d
    from test_render_pytorch3d import reference_rasterize

    monkeypatch.setattr(rp3d, "pytorch3d_available", lambda: True)
    monkeypatch.setattr(rp3d, "_pytorch3d_rasterize", reference_rasterize)
    rgb, disp = _skyline()
    K = intrinsics_from_fov(32, 32, 55.0)
    r = render_step(rgb, disp, torch.eye(3)[None], torch.tensor([[0.0, -0.37, 0.0]]), K, sky_level=SKY, backend="pytorch3d")
    assert _mixed(r.rgb) == 0
    ground = r.disparity > SKY
    assert float(r.rgb[:, 0:1][ground].max()) < 1e-6 and float(r.disparity[~ground].max()) <= SKY
    assert float(r.mask[..., 4:28, 4:28].min()) == 1.0


def _rotation(yaw: float, pitch: float) -> torch.Tensor:
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    Ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rx = torch.tensor([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return (Ry @ Rx).float()


@pytest.mark.parametrize("ground_disp", [0.05, 0.3])
def test_two_layer_render_keeps_a_peak_through_rotations_there_and_back(ground_disp):
    """Pure rotation has no parallax: 30 random sub-pixel turns and their inverses must bring a peak
    back as it was. Deciding the layer by the near-wins softmax weight gave the ground every pixel its
    footprint touched: the peak was buried (over 1,000 pixels gained, 728 to start with)."""
    H = W = 64
    K = intrinsics_from_fov(H, W, 55.0)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ground = (yy > 44 - (24 - (xx - 32).abs() * 1.5).clamp(min=0))[None, None]
    disp = torch.where(ground, ground_disp, 0.01).float()
    disp[..., 56:, :] = 1.0  # near ground: far ground and sky get nearly the same softmax weight
    rgb = torch.cat([ground.float(), 1 - ground.float(), torch.zeros_like(disp)], dim=1)
    g = torch.Generator().manual_seed(0)
    f = float(K[0, 0])
    turns = [_rotation(*((torch.rand(2, generator=g) - 0.5) * 1.4 / f).tolist()) for _ in range(30)]
    for R in turns + [R.T for R in reversed(turns)]:
        r = render_step(rgb, disp, R[None], torch.zeros(1, 3), K, sky_level=0.0105)
        # the sky's planar disparity drifts by < 0.1% under these turns; the loop's sky blend re-levels it
        rgb, disp = r.rgb, torch.where(r.disparity <= 0.0105, 0.01, r.disparity)
    window = (slice(None), slice(None), slice(8, 52), slice(8, 56))  # away from the image's edges
    start, end = ground[window], (disp > 0.0105)[window]
    assert int(start.sum()) == 728
    assert int((end & ~start).sum()) <= 20 and int((start & ~end).sum()) <= 20
    assert float(rgb[:, 0:1][window][end].min()) > 0.999  # and the ground is ground-coloured


def test_bilinear_coverage_is_the_covered_share_of_each_pixel():
    H = W = 32
    K = intrinsics_from_fov(H, W, 55.0)
    ones = torch.ones(1, 1, H, W)
    same = bilinear_coverage(ones, torch.full((1, 1, H, W), 0.5), torch.eye(3), torch.zeros(3), K)
    assert torch.allclose(same, ones, atol=1e-5)
    # a half-pixel shift: interior pixels are still covered once, the first column half
    shift = torch.tensor([0.5 / float(K[0, 0]) / 0.5, 0.0, 0.0])  # x moves by 0.5 px at disparity 0.5
    moved = bilinear_coverage(ones, torch.full((1, 1, H, W), 0.5), torch.eye(3), shift, K)
    assert torch.allclose(moved[..., 2:-2, 2:-2], torch.ones(1, 1, H - 4, W - 4), atol=1e-4)
    assert torch.allclose(moved[..., 2:-2, 0], torch.full((H - 4,), 0.5), atol=1e-4)
    # flying toward a near wall magnifies it 1.3x: still covered about once inside (on average; the
    # bilinear footprints of a magnified grid overlap unevenly), not 1 / 1.3^2 = 0.59
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    wall = (((yy - 15.5).abs() < 6) & ((xx - 15.5).abs() < 6))[None, None].float()
    disp = torch.where(wall > 0, 0.8, 0.01)
    cover = bilinear_coverage(wall, disp, torch.eye(3), torch.tensor([0.0, 0.0, -0.29]), K)
    inner = ((yy - 15.5).abs() < 6) & ((xx - 15.5).abs() < 6)
    assert abs(float(cover[0, 0][inner].mean()) - 1.0) < 0.05
    assert float(cover[0, 0][inner].min()) > 0.75  # above the 0.5 that decides the layer
    # a strip one pixel high (or wide) has no differences across it: a unit step stands in
    for shape in ((1, 1, 1, W), (1, 1, H, 1)):
        strip = bilinear_coverage(torch.ones(shape), torch.full(shape, 0.5), torch.eye(3), torch.zeros(3), K)
        assert torch.allclose(strip, torch.ones(shape), atol=1e-5)


def test_paint_layers_keeps_the_warped_layers_and_follows_the_majority_at_the_edge():
    H = W = 32
    warped = torch.full((1, 1, H, W), 0.01)
    warped[..., 16:, :] = 0.2  # sky above row 16, ground below
    valid = torch.ones(1, 1, H, W, dtype=torch.bool)
    valid[..., :, :3] = False  # a strip brought in at the left edge
    valid[..., 20:26, 14:20] = False  # a hole inside the ground
    valid[..., 4:10, 14:20] = False  # and one inside the sky
    painted = torch.full((1, 1, H, W), 0.03)  # the refiner: a little above the sky everywhere
    painted[..., 28:, 24:] = 0.01  # but sky in the lower right corner, on valid ground
    blue, brown, grey = (torch.tensor(c).view(1, 3, 1, 1) for c in ([0.2, 0.4, 0.9], [0.4, 0.3, 0.1], [0.5, 0.5, 0.5]))
    warped_rgb = torch.where(warped <= SKY, blue, brown).expand(1, 3, H, W)
    painted_rgb = grey.expand(1, 3, H, W)
    rgb, out = paint_layers(painted_rgb, painted, warped_rgb, warped, valid, SKY + 1e-6, border=4)
    sky = out <= SKY + 1e-6
    assert torch.equal(sky[valid], (warped <= SKY)[valid])  # valid pixels keep their own layer
    assert torch.equal(out[valid & sky], warped[valid & sky])  # painted ground on the sky: the warped sky's disparity
    on_ground = valid & ~sky & (painted > SKY)
    assert torch.equal(out[on_ground], painted[on_ground])  # painted ground on the ground: as painted
    assert torch.equal(out[..., 28:, 24:], warped[..., 28:, 24:])  # painted sky on the ground: the warped ground's
    # colours follow the layers: every sky pixel the warped sky's, ground painted as sky the warped
    # ground's, ground painted as ground as painted
    assert torch.allclose(rgb * sky, blue * sky) and torch.equal(rgb[..., 28:, 24:], warped_rgb[..., 28:, 24:])
    assert torch.equal(rgb[..., 20:26, 14:20], painted_rgb[..., 20:26, 14:20])
    assert bool(sky[..., :14, :3].all()) and not bool(sky[..., 18:, :3].any())  # the edge strip: the majority
    assert not bool(sky[..., 4:10, 14:20].any())  # an interior hole: what the refiner painted (ground here)
    assert torch.equal(out[..., 20:26, 14:20], painted[..., 20:26, 14:20])
    no_band = paint_layers(painted_rgb, painted, warped_rgb, warped, valid, SKY + 1e-6, border=0)[1]
    assert torch.equal(no_band[..., :, :3], painted[..., :, :3])
    with pytest.raises(ValueError, match="bool"):
        paint_layers(painted_rgb, painted, warped_rgb, warped, valid.float(), SKY)
    with pytest.raises(ValueError, match="border"):
        paint_layers(painted_rgb, painted, warped_rgb, warped, valid, SKY, border=-1)


def _pipe(**config):
    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=32, latent_dim=16, mapping_layers=2, f_base=128, f_base_style=64, f_max=16)

    def ramp(image):
        B, _, H, W = image.shape
        return torch.linspace(0.0, 1.0, H).view(1, 1, H, 1).expand(B, 1, H, W).clone()

    def sky(image):
        B, _, H, W = image.shape
        s = torch.zeros(B, 1, H, W)
        s[:, :, : H // 3] = 1.0
        return s

    return FlyThrough(CoModGenerator(cfg), ramp, sky, config=FlyThroughConfig(mean_latent_samples=64, **config))


def _photo():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 48, 64, generator=g) * 0.3
    img[0, :16] += 0.6  # red sky
    img[1, 16:] += 0.5  # green ground
    return img.clamp(0, 1)


def test_sky_layers_flight_runs_and_is_seeded():
    """End to end with a random tiny refiner (what it paints is arbitrary: the unmixing itself is tested above)."""
    settings = dict(keep_visible=True, supersample=2, frame_size="state", anchor_scale=2, detail=1.0, streak_blur=1.0)
    on = _pipe(sky_layers=True, **settings)
    a = on(_photo(), num_frames=6, progress=False, trajectory="straight")
    b = on(_photo(), num_frames=6, progress=False, trajectory="straight")
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.frames[0], _pipe(**settings)(_photo(), num_frames=1, progress=False).frames[0])  # frame 0 is the photo
    with pytest.raises(ValueError, match="sky_layers must be True or False"):
        FlyThroughConfig(sky_layers=1)
    assert dataclasses.replace(on.config, sky_layers=False).sky_layers is False


def test_sky_layers_refiner_pass_never_sees_the_sky_colour():
    """The leak path: the refiner paints ground at the skyline from both sides. With sky_layers, two
    warped frames that differ only in the sky's colour get exactly the same painted ground."""
    pipe = _pipe(sky_layers=True, keep_visible=True, supersample=2, truncation=1.0)
    paint = pipe.refiner.refine

    def refine(rgb, disparity, *args, **kwargs):  # the random refiner's colours, the skyline where it was
        return torch.cat([paint(rgb, disparity, *args, **kwargs)[:, :3], disparity], dim=1)

    pipe.refiner.refine = refine
    rgb, disp = _skyline(64, 64, row=24)
    disp[..., -1, -1] = 0.05
    mask = torch.ones(1, 1, 64, 64)
    mask[..., 20:32, 24:40] = 0  # a hole across the skyline
    blue = rgb.clone()
    blue[:, :, :24] = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(1, pipe.refiner.config.latent_dim, generator=gen)
    code = pipe.refiner.encode_style(torch.rand(1, 4, 32, 32) * 2 - 1)
    outs = []
    inputs = RefinerInputs(global_code=code, z=z)
    for colour in (rgb, blue):
        w = Warped(rgb=colour * mask, disparity=disp, mask=mask)
        with torch.no_grad():
            outs.append(paint_step(pipe.refiner, w, inputs, keep_visible=True, scale=2, layering=SkyGroundLayers(SKY + 1e-6)))
    (a, da, _, _), (b, db, _, _) = outs
    assert torch.equal(da, db)
    ground = da > SKY
    assert bool(ground[..., 20:32, 24:40].any()) and bool((~ground)[..., 20:32, 24:40].any())  # painted both layers
    assert torch.equal(a * ground, b * ground)
    # the painted sky is the warped sky carried on: red in one, blue in the other, never ground-coloured
    sky = ~ground[:, 0]
    assert torch.allclose(a.permute(0, 2, 3, 1)[sky], RED.expand(int(sky.sum()), 3), atol=1e-5)
    assert torch.allclose(b.permute(0, 2, 3, 1)[sky], torch.tensor([0.0, 0.0, 1.0]).expand(int(sky.sum()), 3), atol=1e-5)


def test_a_hole_under_ground_is_ground_whatever_the_refiner_painted():
    H = W = 16
    warped = torch.full((1, 1, H, W), 0.01)
    warped[..., 4:6, :] = 0.05  # a far hill's crest seen above ...
    warped[..., 10:, :] = 0.3  # ... the nearer ground; between them rows 6-10 open up
    valid = torch.ones(1, 1, H, W, dtype=torch.bool)
    valid[..., 6:10, 6:10] = False  # uncovered below the crest
    valid[..., 1:3, 2:5] = False  # a hole under the sky
    valid[..., 0:2, 10:12] = False  # a hole with nothing valid above it
    painted = torch.full((1, 1, H, W), 0.01)  # the refiner paints all as sky ...
    painted[..., 1:3, 2:5] = 0.2  # ... but this one as ground
    painted[..., 0:2, 10:12] = 0.2
    rgb = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    _, out = paint_layers(rgb, painted, rgb, warped, valid, SKY + 1e-6, border=0)
    assert bool((out[..., 6:10, 6:10] > SKY + 1e-6).all())  # under ground: ground
    assert torch.equal(out[..., 1:3, 2:5], painted[..., 1:3, 2:5])  # under sky: as painted
    assert torch.equal(out[..., 0:2, 10:12], painted[..., 0:2, 10:12])  # nothing above: as painted
    g = torch.tensor([0, 1, 0, 0, 1, 0, 0], dtype=torch.bool).view(1, 1, 7, 1)
    v = torch.tensor([0, 1, 0, 1, 1, 0, 1], dtype=torch.bool).view(1, 1, 7, 1)
    assert under_ground(g & v, v).view(-1).tolist() == [False, True, True, False, True, True, False]
    assert not bool(under_ground(g & v, torch.zeros_like(v)).any())  # no valid pixel above: none


def test_unmix_skyline_gives_the_skyline_pixels_their_own_layer_s_colour():
    H = W = 16
    disp = torch.full((1, 1, H, W), 0.01)
    disp[..., 8:, :] = 0.3  # ground from row 8
    blue, brown = torch.tensor([0.3, 0.5, 0.9]).view(1, 3, 1, 1), torch.tensor([0.4, 0.3, 0.1]).view(1, 3, 1, 1)
    rgb = torch.where(disp <= SKY, blue, brown).expand(1, 3, H, W).clone()
    rgb[..., 7:9, :] = 0.5 * (blue + brown)  # the skyline's two rows: half sky, half ground
    out = unmix_skyline(rgb, disp, SKY + 1e-6, rim=2)
    torch.testing.assert_close(out[..., :8, :], blue.expand(1, 3, 8, W))
    torch.testing.assert_close(out[..., 8:, :], brown.expand(1, 3, 8, W))
    assert torch.equal(unmix_skyline(rgb, disp, SKY + 1e-6, rim=0), rgb)
    assert torch.equal(unmix_skyline(rgb, torch.full_like(disp, 0.3), SKY + 1e-6, rim=2), rgb)  # no sky: as it was
    with pytest.raises(ValueError, match="rim"):
        unmix_skyline(rgb, disp, SKY, rim=-1)
