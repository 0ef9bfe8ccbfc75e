"""Sky and ground as two layers: resampling that never mixes them (``layers.py``,
``render_step(sky_level=...)``, ``FlyThroughConfig.sky_layers``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infinitenature import FlyThrough, FlyThroughConfig
from infinitenature.geometry import intrinsics_from_fov
from infinitenature.layers import layered, layered_blend, pick_layer, refill, soften_skyline
from infinitenature.models import CoModGenerator, GeneratorConfig
from infinitenature.render import RenderResult, render_step

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
    assert torch.equal(two.mask, one.mask)  # the mask comes from the mixed alpha, as before
    # away from the skyline nothing changes
    assert torch.allclose(two.rgb[..., 20:30, :], one.rgb[..., 20:30, :], atol=1e-5)
    assert torch.allclose(two.disparity[..., 20:30, :], one.disparity[..., 20:30, :], atol=1e-5)


def test_two_layer_render_carries_features_by_layer():
    rgb, disp = _skyline()
    K = intrinsics_from_fov(32, 32, 55.0)
    feat = (disp > SKY).float() * 2.0  # 2 on the ground, 0 on the sky
    r = render_step(rgb, disp, torch.eye(3)[None], torch.tensor([[0.0, -0.37, 0.0]]), K, features=feat, sky_level=SKY)
    ground = r.disparity > SKY
    assert torch.allclose(r.features[ground], torch.full_like(r.features[ground], 2.0), atol=1e-5)
    assert float(r.features[~ground].abs().max()) < 1e-5


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
    settings = dict(keep_visible=True, supersample=2, output="state", anchor_scale=2, detail=1.0, streak_blur=1.0)
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
    for colour in (rgb, blue):
        r = RenderResult(rgb=colour * mask, disparity=disp, mask=mask, coverage=mask, alpha=mask, features=None)
        with torch.no_grad():
            outs.append(pipe._paint(r, -F.max_pool2d(-mask, 2), code, z, None, gen, SKY + 1e-6))
    (a, da, _), (b, db, _) = outs
    assert torch.equal(da, db)
    ground = da > SKY
    assert bool(ground[..., 20:32, 24:40].any()) and bool((~ground)[..., 20:32, 24:40].any())  # painted both layers
    assert torch.equal(a * ground, b * ground)
    # the painted sky is the warped sky carried on: red in one, blue in the other, never ground-coloured
    sky = ~ground[:, 0]
    assert torch.allclose(a.permute(0, 2, 3, 1)[sky], RED.expand(int(sky.sum()), 3), atol=1e-5)
    assert torch.allclose(b.permute(0, 2, 3, 1)[sky], torch.tensor([0.0, 0.0, 1.0]).expand(int(sky.sum()), 3), atol=1e-5)
