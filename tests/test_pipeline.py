"""The render-refine-repeat loop end to end, with a tiny random refiner and simple estimators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infinitenature import FlyThrough, FlyThroughConfig
from infinitenature.models import CoModGenerator, GeneratorConfig
from infinitenature.scene import prepare_scene
from infinitenature.weights import save_model

RES = 32


def ramp_depth(image):
    """Disparity grows toward the bottom of the image (ground near, horizon far)."""
    B, _, H, W = image.shape
    ramp = torch.linspace(0.0, 1.0, H, device=image.device).view(1, 1, H, 1)
    return ramp.expand(B, 1, H, W).clone()


def top_sky(image):
    """The top third is sky."""
    B, _, H, W = image.shape
    sky = torch.zeros(B, 1, H, W, device=image.device)
    sky[:, :, : H // 3] = 1.0
    return sky


def _photo(h=48, w=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, h, w, generator=g) * 0.3
    img[2, : h // 3] += 0.6  # blue sky
    img[1, h // 3 :] += 0.4  # green ground
    return img.clamp(0, 1)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=RES, latent_dim=16, mapping_layers=2, f_base=128, f_base_style=64, f_max=16)
    gen = CoModGenerator(cfg)
    return FlyThrough(gen, ramp_depth, top_sky, config=FlyThroughConfig(mean_latent_samples=256))


def test_output_shapes_and_first_frame(pipe):
    img = _photo()
    out = pipe(img, num_frames=4, seed=0, progress=False)
    assert out.frames.shape == (4, RES, RES, 3) and out.frames.dtype == np.uint8
    assert out.disparities.shape == (4, RES, RES)
    assert out.poses.shape == (4, 4, 4)
    assert np.allclose(out.poses[0], np.eye(4))
    scene = pipe.prepare(img)
    expected = (scene.rgb[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(out.frames[0], expected)
    assert (out.disparities >= 0.01).all() and (out.disparities <= 1.0).all()
    # the autopilot moves the camera forward (+z in the first camera's frame)
    centre = -out.poses[-1, :3, :3].T @ out.poses[-1, :3, 3]
    assert centre[2] > 0.1


def test_same_seed_same_frames_other_seed_differs(pipe):
    img = _photo()
    a = pipe(img, num_frames=3, seed=7, progress=False).frames
    b = pipe(img, num_frames=3, seed=7, progress=False).frames
    c = pipe(img, num_frames=3, seed=8, progress=False).frames
    assert np.array_equal(a, b)
    assert not np.array_equal(a[1:], c[1:])


def test_stochastic_mode_is_seeded(pipe):
    pipe.config.stochastic = True
    try:
        a = pipe(_photo(), num_frames=3, seed=1, progress=False).frames
        b = pipe(_photo(), num_frames=3, seed=1, progress=False).frames
    finally:
        pipe.config.stochastic = False
    assert np.array_equal(a, b)


def test_iter_frames_streams_the_same_frames(pipe):
    img = _photo()
    out = pipe(img, num_frames=3, seed=2, trajectory="straight", progress=False)
    streamed = [f.image for f in pipe.iter_frames(img, 3, seed=2, trajectory="straight")]
    assert all(np.array_equal(x, y) for x, y in zip(out.frames, streamed))


@pytest.mark.parametrize("trajectory", ["straight", "pan", "orbit"])
def test_named_trajectories(pipe, trajectory):
    out = pipe(_photo(), num_frames=3, trajectory=trajectory, progress=False)
    assert out.frames.shape[0] == 3
    assert not np.allclose(out.poses[1], out.poses[0])


def test_callable_trajectory(pipe):
    def path(step):
        pose = torch.eye(4, dtype=torch.float64)
        pose[2, 3] = -0.05 * step
        return pose

    out = pipe(_photo(), num_frames=3, trajectory=path, progress=False)
    assert np.allclose(out.poses[2][2, 3], -0.1)


def test_bad_arguments(pipe):
    with pytest.raises(ValueError, match="num_frames"):
        pipe(_photo(), num_frames=0, progress=False)
    with pytest.raises(ValueError):
        pipe(_photo(), num_frames=2, trajectory="sideways-loop", progress=False)


def test_weights_carry_pipeline_settings(tmp_path, pipe):
    path = save_model(pipe.refiner, tmp_path / "g.safetensors", extra={"pipeline": {"keep_visible": True, "truncation": 0.5}})
    loaded = FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky)
    assert loaded.config.keep_visible is True and loaded.config.truncation == 0.5
    explicit = FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky, config=FlyThroughConfig())
    assert explicit.config.keep_visible is False


def test_save_and_from_pretrained(tmp_path, pipe):
    path = save_model(pipe.refiner, tmp_path / "g.safetensors")
    pipe2 = FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky)
    pipe2.config.mean_latent_samples = 256
    a = pipe(_photo(), num_frames=2, seed=3, progress=False)
    b = pipe2(_photo(), num_frames=2, seed=3, progress=False)
    assert np.array_equal(a.frames, b.frames)
    a.save(tmp_path / "v.gif", fps=5)
    assert (tmp_path / "v.gif").stat().st_size > 0
    with pytest.raises(FileExistsError):
        a.save(tmp_path / "v.gif")


def test_prepare_scene_canvas_and_sky_offset():
    img = _photo(48, 96)
    scene = prepare_scene(img, ramp_depth, top_sky, size=RES)
    assert scene.rgb.shape == (1, 3, RES, RES)
    assert scene.disparity.min() >= 0.01 and scene.disparity.max() <= 1.0
    # the sky (top third) is at the smallest disparity and yields a positive offset
    assert scene.sky_offset > 0.0
    assert torch.all(scene.disparity[..., : RES // 4, :] <= 0.011)
    c = scene.canvas
    assert c.rgb.shape[-1] == c.rgb.shape[-2] >= RES * 1.4
    # the canvas centre is the view: same pixels where the crop sits
    off = (c.rgb.shape[-1] - RES) // 2
    assert torch.allclose(c.rgb[..., off : off + RES, off : off + RES], scene.rgb, atol=0.08)
    assert torch.allclose(c.K[0, 2] - scene.K[0, 2], torch.tensor(float(off)), atol=0.51)


def test_prepare_scene_square_photo_pads_canvas_as_non_sky():
    img = _photo(64, 64)
    scene = prepare_scene(img, ramp_depth, top_sky, size=RES)
    c = scene.canvas
    assert torch.all(c.disparity[..., :, :2] > 0.999)  # padding is never taken for sky


def test_keep_visible_keeps_warped_pixels(pipe):
    from infinitenature.pipeline import soft_keep_mask

    mask = torch.ones(1, 1, 16, 16)
    mask[..., 8:12, 8:12] = 0
    keep = soft_keep_mask(mask)
    assert torch.all(keep[..., 8:12, 8:12] == 0)  # holes come from the refiner only
    assert torch.allclose(keep[..., :4, :], torch.ones(1, 1, 4, 16))  # far from holes: the warped frame
    assert torch.all((keep >= 0) & (keep <= 1))
    pipe.config.keep_visible = True
    try:
        out = pipe(_photo(), num_frames=3, seed=0, trajectory="straight", progress=False)
    finally:
        pipe.config.keep_visible = False
    assert out.frames.shape == (3, RES, RES, 3)


def test_shipped_default_runs_on_an_example_photo(tmp_path):
    """The README's main job on the installed default weights (generator, depth, sky)."""
    from pathlib import Path

    pipe = FlyThrough.from_pretrained("default")
    assert pipe.config.keep_visible is True  # the setting stored with the shipped weights
    photo = Path(__file__).resolve().parents[1] / "examples" / "hills.jpg"
    out = pipe(photo, num_frames=3, seed=0, progress=False)
    assert out.frames.shape == (3, 128, 128, 3)
    assert 0.05 < out.frames.mean() / 255 < 0.95
    # frames move: later frames differ from the input view, and consecutive frames are related
    assert np.abs(out.frames[2].astype(float) - out.frames[0]).mean() > 1.0
    assert np.abs(out.frames[2].astype(float) - out.frames[1]).mean() < 40.0
