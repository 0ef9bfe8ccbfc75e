"""Sky and ground as two layers: resampling that never mixes them (``layers.py``,
``render_step(sky_level=...)``, ``anchor.ground_coloured_sky``, ``FlyThroughConfig.sky_layers``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from infinitenature import FlyThrough, FlyThroughConfig
from infinitenature.anchor import build_anchor, ground_coloured_sky
from infinitenature.geometry import intrinsics_from_fov
from infinitenature.layers import ground_beside_sky, layered, layered_blend, pick_layer
from infinitenature.models import CoModGenerator, GeneratorConfig
from infinitenature.render import render_step

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


def test_ground_beside_sky():
    _, disp = _skyline(8, 8, row=4)
    near = ground_beside_sky(disp, SKY, 1)
    assert near[0, 0, 4].all() and not near[0, 0, 5].any() and not near[0, 0, :4].any()


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


def test_ground_coloured_sky_fills_only_the_sky():
    rgb, disp = _skyline(64, 64, row=24)
    disp[..., -1, -1] = 0.05
    K = intrinsics_from_fov(64, 64, 55.0)
    anchor = build_anchor(rgb, disp, K, state_side=32, sky_offset=SKY)
    filled = ground_coloured_sky(anchor)
    ground = disp > SKY
    assert torch.equal(filled.levels[0][:, :3] * ground, anchor.levels[0][:, :3] * ground)
    assert torch.allclose(filled.levels[0][:, :3], GREEN.view(1, 3, 1, 1).expand(1, 3, 64, 64))  # the sky is now green
    assert torch.equal(filled.levels[0][:, 3:], anchor.levels[0][:, 3:])
    assert len(filled.levels) == len(anchor.levels)
    assert float(filled.levels[-1][:, 0].max()) == 0.0  # no red reaches the coarsest level either
    no_sky = build_anchor(rgb, disp, K, state_side=32)
    assert ground_coloured_sky(no_sky) is no_sky


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
