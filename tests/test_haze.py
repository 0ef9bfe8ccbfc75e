"""Aerial perspective: the photo's haze (dark channel prior) and each surface's colour at a new distance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from infinitenature import FlyThroughConfig
from infinitenature.anchor import build_anchor, sample_anchor
from infinitenature.geometry import intrinsics_from_fov
from infinitenature.haze import MIN_TRANSMISSION, Haze, dark_channel, estimate_haze, haze_density, rehaze, rehaze_moved
from infinitenature.scene import PreparedScene, prepare_scene
from infinitenature.sky import SkyCanvas

from test_anchor import _pose_forward
from test_pipeline import RES, _photo, pipe, ramp_depth, top_sky  # noqa: F401  (pipe is a fixture)

AIR = torch.tensor([0.8, 0.82, 0.85])


def _haze_free(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """``(1, 3, h, w)`` random colours with one channel 0 in every pixel: a dark channel of 0 everywhere."""
    g = torch.Generator().manual_seed(seed)
    j = 0.2 + 0.7 * torch.rand(1, 3, h, w, generator=g)
    off = torch.randint(0, 3, (1, 1, h, w), generator=g)
    return j.scatter(1, off, 0.0)


def test_dark_channel_is_the_darkest_channel_over_the_patch():
    x = torch.full((1, 3, 9, 9), 0.7)
    x[0, 1, 4, 4] = 0.1
    assert torch.equal(dark_channel(x, 1)[0, 0, 4, 4], torch.tensor(0.1))
    d = dark_channel(x, 3)[0, 0]
    assert bool((d[3:6, 3:6] == 0.1).all()) and float(d[0, 0]) == pytest.approx(0.7) and float(d[2, 4]) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="odd integer"):
        dark_channel(x, 4)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        dark_channel(x[:, :1], 3)


def test_estimate_recovers_the_airlight_and_transmission_of_a_synthetic_haze():
    """I = J t + A (1 - t) with a haze-free J, t falling from 1 (bottom) to 0.3 and a band of pure haze on top."""
    h = w = 96
    J = _haze_free(h, w)
    t = torch.linspace(0.3, 1.0, h).view(1, 1, h, 1).expand(1, 1, h, w).clone()
    t[..., :12, :] = 0.0  # the horizon's haze: the airlight itself
    img = J * t + AIR.view(1, 3, 1, 1) * (1 - t)
    haze = estimate_haze(img, omega=1.0, patch=5)
    assert torch.allclose(haze.airlight, AIR, atol=0.01), haze.airlight
    got = haze.transmission[0, 0, 24:-8, 8:-8]
    want = t[0, 0, 24:-8, 8:-8]
    assert got.shape == want.shape and float((got - want).abs().mean()) < 0.03
    assert float(haze.transmission.min()) >= MIN_TRANSMISSION and float(haze.transmission.max()) <= 1.0
    # omega < 1 keeps some haze: t = 1 - omega (1 - t_true)
    kept = estimate_haze(img, patch=5).transmission[0, 0, 24:-8, 8:-8]
    assert float((kept - (1 - 0.95 * (1 - want))).abs().mean()) < 0.03
    # a haze-free photo is left alone
    assert float(estimate_haze(_haze_free(h, w, seed=1), patch=5).transmission[..., 8:-8, 8:-8].min()) > 0.97
    # a large photo is evaluated at WORK_SIDE and comes back at its size
    assert estimate_haze(torch.rand(1, 3, 300, 520)).transmission.shape == (1, 1, 300, 520)
    with pytest.raises(ValueError, match="omega"):
        estimate_haze(img, omega=0.0)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        estimate_haze(img[0])


def test_rehaze_moves_a_surface_through_the_haze_model():
    J = _haze_free(8, 8)
    t = torch.full((1, 1, 8, 8), 0.4)
    I = J * t + AIR.view(1, 3, 1, 1) * (1 - t)
    assert torch.allclose(rehaze(I, t, torch.ones_like(t), AIR), I, atol=1e-6)  # same distance
    assert torch.allclose(rehaze(I, t, torch.zeros_like(t), AIR), J, atol=1e-5)  # at the surface: its own colour
    t2 = t**2  # twice as far: t ** 2
    assert torch.allclose(rehaze(I, t, torch.full_like(t, 2.0), AIR), J * t2 + AIR.view(1, 3, 1, 1) * (1 - t2), atol=1e-5)
    assert torch.allclose(rehaze(I, t, torch.zeros_like(t), AIR, strength=0.0), I)
    # carried along the flight: depth 5 -> 3 -> 2 in two steps is the photo's colour re-hazed for 2 / 5
    d5, d3, d2 = (torch.full_like(t, 1 / z) for z in (5.0, 3.0, 2.0))
    b = haze_density(t, d5)
    assert torch.allclose(torch.exp(-b / d5), t)
    two_steps = rehaze_moved(rehaze_moved(I, b, d5, d3, AIR), b, d3, d2, AIR)
    assert torch.allclose(two_steps, rehaze(I, t, torch.full_like(t, 2 / 5), AIR), atol=1e-5)
    assert torch.allclose(rehaze_moved(I, torch.zeros_like(b), d5, d2, AIR), I)  # no haze, no change


def _hazy_wall(side: int, t_value: float):
    """A wall at depth 4 (disparity 0.25) of haze-free colours behind a uniform haze ``t_value``."""
    K = intrinsics_from_fov(side, side, 55.0)
    J = torch.nn.functional.avg_pool2d(_haze_free(4 * side, 4 * side), 4)  # smooth enough to sample
    t = torch.full((1, 1, side, side), t_value)
    rgb = J * t + AIR.view(1, 3, 1, 1) * (1 - t)
    disp = torch.full((1, 1, side, side), 0.25)
    return K, J, rgb, disp, Haze(airlight=AIR.clone(), transmission=t)


def test_sample_anchor_sheds_the_haze_of_a_wall_it_flies_toward():
    """Depth 4 -> 2: the anchor's colour becomes A + (I - A) t ** (2 / 4 - 1)."""
    K, J, rgb, disp, haze = _hazy_wall(RES, 0.5)
    anchor = build_anchor(rgb, disp, K, state_side=RES, haze=haze)
    assert anchor.has_haze and anchor.levels[0].shape[1] == 5
    view = torch.full((1, 1, RES, RES), 0.5)
    plain = sample_anchor(anchor, view, K, _pose_forward(2.0))
    hazed = sample_anchor(anchor, view, K, _pose_forward(2.0), aerial_perspective=1.0)
    want = AIR.view(1, 3, 1, 1) + (plain.rgb - AIR.view(1, 3, 1, 1)) * 0.5**-0.5
    assert torch.allclose(hazed.rgb, want.clamp(0, 1), atol=1e-4)
    assert torch.allclose(hazed.haze_density, torch.full_like(view, -np.log(0.5) * 0.25), atol=1e-5)
    assert torch.equal(hazed.weight, plain.weight)
    assert torch.allclose(sample_anchor(anchor, view, K, _pose_forward(2.0), aerial_perspective=0.0).rgb, plain.rgb)
    no_haze = build_anchor(rgb, disp, K, state_side=RES)
    assert no_haze.levels[0].shape[1] == 4 and sample_anchor(no_haze, view, K, _pose_forward(2.0)).haze_density is None
    with pytest.raises(ValueError, match="needs an anchor built with the photo's haze"):
        sample_anchor(no_haze, view, K, _pose_forward(2.0), aerial_perspective=1.0)
    with pytest.raises(ValueError, match=r"aerial_perspective must be in \[0, 1\]"):
        sample_anchor(anchor, view, K, _pose_forward(2.0), aerial_perspective=1.5)


def _wall_scene(t_value: float) -> PreparedScene:
    K, _, rgb, disp, haze = _hazy_wall(RES, t_value)
    canvas = SkyCanvas(rgb=rgb, disparity=disp, K=K, sky_offset=0.0)
    anchor = build_anchor(rgb, disp, K, state_side=RES, haze=haze)
    return PreparedScene(rgb=rgb, disparity=disp, sky=torch.zeros_like(disp), K=K, sky_offset=0.0, canvas=canvas, anchor=anchor)


def _fly(pipe, scene, **settings):
    old = pipe.config
    try:
        pipe.config = dataclasses.replace(old, supersample=1, anchor_scale=1, keep_visible=True, sky_correction=False, **settings)
        frames = list(pipe.iter_frames(None, 7, scene=scene, trajectory=lambda step: _pose_forward(step / 3.0)))
    finally:
        pipe.config = old
    return np.stack([f.image for f in frames]).astype(np.float32) / 255


def test_the_loop_brings_back_the_colour_of_a_hazy_wall_it_flies_toward(pipe):
    """7 frames toward the wall (depth 4 -> 2): its centre's distance from the airlight grows by t ** -0.5."""
    scene = _wall_scene(0.5)
    off, on = _fly(pipe, scene), _fly(pipe, scene, aerial_perspective=1.0)
    assert np.abs(on[0] - off[0]).max() < 1e-6  # frame 0 is the photo
    c = slice(RES // 4, 3 * RES // 4)
    air = AIR.numpy()
    gain = np.abs(on[-1][c, c] - air).mean() / np.abs(off[-1][c, c] - air).mean()
    # measured: 1.414
    assert gain == pytest.approx(0.5**-0.5, rel=0.05), gain
    half = _fly(pipe, scene, aerial_perspective=0.5)
    gain_half = np.abs(half[-1][c, c] - air).mean() / np.abs(off[-1][c, c] - air).mean()
    assert gain_half == pytest.approx(0.5**-0.25, rel=0.05), gain_half
    # a wall without haze flies the same with it on
    clear = _wall_scene(1.0)
    assert np.abs(_fly(pipe, clear, aerial_perspective=1.0) - _fly(pipe, clear)).max() < 1.5 / 255


def test_the_loop_carries_the_haze_where_the_photo_no_longer_shows_the_surface(pipe, monkeypatch):
    """The same flight with the anchor's weight 0 after frame 0 (as where the photo has run out): the
    state's own colours shed the haze by the density carried with them (``haze.rehaze_moved``)."""
    import infinitenature.anchor as pipeline_module  # the loop looks the anchor up through anchor.sample_anchor

    real = pipeline_module.sample_anchor
    calls = []

    def blind_after_first(*args, **kwargs):
        s = real(*args, **kwargs)
        calls.append(1)
        return s if len(calls) == 1 else dataclasses.replace(s, weight=torch.zeros_like(s.weight))

    scene = _wall_scene(0.5)
    off = _fly(pipe, scene)
    monkeypatch.setattr(pipeline_module, "sample_anchor", blind_after_first)
    on = _fly(pipe, scene, aerial_perspective=1.0)
    assert len(calls) == 7  # frame 0, then one lookup per step
    c = slice(RES // 4, 3 * RES // 4)
    air = AIR.numpy()
    gain = np.abs(on[-1][c, c] - air).mean() / np.abs(off[-1][c, c] - air).mean()
    # measured: 1.412 (the anchored flight: 1.414; exact: 2 ** 0.5)
    assert gain == pytest.approx(0.5**-0.5, rel=0.05), gain


def test_config_checks_and_the_loop_end_to_end(pipe):
    with pytest.raises(ValueError, match=r"aerial_perspective must be a number in \[0, 1\]"):
        FlyThroughConfig(anchor_scale=2, aerial_perspective=2.0)
    with pytest.raises(ValueError, match="aerial_perspective needs the photo anchor"):
        FlyThroughConfig(aerial_perspective=1.0)
    scene = prepare_scene(_photo(), ramp_depth, top_sky, size=2 * RES, anchor_scale=2)
    assert scene.anchor.has_haze
    K, _, rgb, disp, _ = _hazy_wall(RES, 0.5)
    no_haze = PreparedScene(
        rgb=rgb, disparity=disp, sky=torch.zeros_like(disp), K=K, sky_offset=0.0,
        canvas=SkyCanvas(rgb=rgb, disparity=disp, K=K, sky_offset=0.0), anchor=build_anchor(rgb, disp, K, state_side=RES),
    )  # fmt: skip
    with pytest.raises(ValueError, match="anchor carries the photo's haze"):
        _fly(pipe, no_haze, aerial_perspective=1.0)
    old = pipe.config
    try:  # supersampled state, refiner painting holes, detail, sky: the whole loop runs and stays in range
        pipe.config = dataclasses.replace(old, supersample=2, anchor_scale=2, keep_visible=True, detail=1.5, aerial_perspective=1.0)
        frames = [f.image for f in pipe.iter_frames(_photo(), 5, trajectory="straight")]
        pipe.config = dataclasses.replace(old, anchor_scale=2, aerial_perspective=1.0)  # published refinement of every pixel
        frames += [f.image for f in pipe.iter_frames(_photo(), 3, trajectory="straight")]
    finally:
        pipe.config = old
    assert all(f.dtype == np.uint8 and f.shape[-1] == 3 for f in frames)
