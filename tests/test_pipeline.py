"""The render-refine-repeat loop end to end, with a tiny random refiner and simple estimators."""

from __future__ import annotations

import re

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
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(ValueError, match="num_frames must be a whole number >= 1"):
            pipe(_photo(), num_frames=bad, progress=False)
    assert len(pipe(_photo(), num_frames=np.int64(2), progress=False).frames) == 2
    for bad in (None, "a", 1.5):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            pipe(_photo(), num_frames=2, seed=bad, progress=False)
    with pytest.raises(ValueError):
        pipe(_photo(), num_frames=2, trajectory="sideways-loop", progress=False)


def test_weights_carry_pipeline_settings(tmp_path, pipe):
    path = save_model(pipe.refiner, tmp_path / "g.safetensors", extra={"pipeline": {"keep_visible": True, "truncation": 0.5}})
    loaded = FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky)
    assert loaded.config.keep_visible is True and loaded.config.truncation == 0.5
    # keyword overrides are merged onto the stored settings, not in place of them
    merged = FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky, keep_visible=False)
    assert merged.config.keep_visible is False and merged.config.truncation == 0.5
    with pytest.raises(ValueError, match=r"unknown setting detial; the settings are: fov_deg, .*, detail, "):
        FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky, detial=1.0)
    with pytest.raises(ValueError, match="supersample must be an integer in 1..8, got 0"):
        FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky, supersample=0)
    with pytest.raises(TypeError, match="keyword overrides"):
        FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky, config=FlyThroughConfig())


def test_retired_and_renamed_settings_in_stored_weights(tmp_path, pipe):
    """Weights may store settings the loop no longer has (accepted while off) and the old name of frame_size."""
    old = {"hole_context": 0, "disparity_median": 0, "sky_completion": False, "output": "state", "supersample": 2}
    path = save_model(pipe.refiner, tmp_path / "old.safetensors", extra={"pipeline": old})
    loaded = FlyThrough.from_pretrained(path, depth=ramp_depth, sky=top_sky)
    assert loaded.config.frame_size == "state" and loaded.config.supersample == 2
    on = save_model(pipe.refiner, tmp_path / "on.safetensors", extra={"pipeline": {"hole_context": 3}})
    with pytest.raises(ValueError, match="ask for hole_context=3, a setting this version of infinitenature no longer has"):
        FlyThrough.from_pretrained(on, depth=ramp_depth, sky=top_sky)
    bad = save_model(pipe.refiner, tmp_path / "bad.safetensors", extra={"pipeline": {"warp_speed": 9}})
    with pytest.raises(ValueError, match="unknown setting warp_speed"):
        FlyThrough.from_pretrained(bad, depth=ramp_depth, sky=top_sky)


def test_save_pretrained_round_trip(tmp_path, pipe):
    """save_pretrained writes the refiner with the settings in force; from_pretrained(folder) restores both."""
    import dataclasses

    from infinitenature.estimators import load_depth, load_sky

    depth, sky = load_depth("default"), load_sky("default")
    pipe = FlyThrough(pipe.refiner, depth, sky, config=dataclasses.replace(pipe.config, keep_visible=True, truncation=0.5))
    folder = pipe.save_pretrained(tmp_path / "mine")
    assert sorted(p.name for p in folder.iterdir()) == ["depth.safetensors", "generator.safetensors", "sky.safetensors"]
    back = FlyThrough.from_pretrained(folder)
    assert back.config == pipe.config
    img = _photo()
    assert np.array_equal(pipe(img, num_frames=3, seed=1, progress=False).frames, back(img, num_frames=3, seed=1, progress=False).frames)
    with pytest.raises(FileExistsError, match="generator.safetensors already exists"):
        pipe.save_pretrained(folder)
    pipe.config.truncation = 1.0
    pipe.save_pretrained(folder, overwrite=True)
    assert FlyThrough.from_pretrained(folder).config.truncation == 1.0
    # estimators that are not our networks are not saved; the folder then uses the given ones
    plain = FlyThrough(pipe.refiner, ramp_depth, top_sky).save_pretrained(tmp_path / "plain")
    assert sorted(p.name for p in plain.iterdir()) == ["generator.safetensors"]


def test_generator_callback_and_progress_config(pipe, capsys):
    """generator= gives the flight seed= gives; callback sees every frame; the progress bar obeys its config."""
    img = _photo()
    by_seed = pipe(img, num_frames=3, seed=5, progress=False)
    by_gen = pipe(img, num_frames=3, generator=torch.Generator().manual_seed(5), progress=False)
    assert np.array_equal(by_seed.frames, by_gen.frames)
    other = pipe(img, num_frames=3, generator=torch.Generator().manual_seed(6), progress=False)
    assert not np.array_equal(by_seed.frames[2], other.frames[2])
    seen = []
    out = pipe(img, num_frames=4, seed=5, callback=lambda f: seen.append((f.index, f.image.copy())), progress=False)
    assert [i for i, _ in seen] == [0, 1, 2, 3] and all(np.array_equal(a, b) for (_, a), b in zip(seen, out.frames))
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        pipe(img, num_frames=2, generator=5)
    capsys.readouterr()
    pipe.set_progress_bar_config(disable=True)
    try:
        pipe(img, num_frames=2)
        assert "flythrough" not in capsys.readouterr().err
    finally:
        pipe.set_progress_bar_config()
    pipe(img, num_frames=2)
    assert "flythrough" in capsys.readouterr().err


def test_output_carries_warnings_timings_and_shows_itself(pipe):
    """Warnings and timings belong to the run's output; a notebook shows a strip of frames."""
    import base64
    import io

    from PIL import Image

    out = pipe(_photo(), num_frames=3, seed=0, progress=False)
    assert out.timings.steps == 2 and set(out.timings.per_frame_ms()) == {"pose", "warp", "refine", "sky", "emit"}
    assert not hasattr(pipe, "warnings") and not hasattr(pipe, "timings")
    html = out._repr_html_()
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1))
    strip = np.asarray(Image.open(io.BytesIO(png)))
    assert strip.shape == (RES, 3 * RES, 3) and np.array_equal(strip[:, :RES], out.frames[0])
    assert "3 frames of" in html
    flight = pipe.iter_frames(_photo(), 2, progress=False, trajectory="straight")
    frames = list(flight)
    assert len(frames) == 2 and flight.timings.steps == 1 and isinstance(flight.warnings, list)


def test_run_and_checkpoint_folders_name_their_generator(tmp_path, pipe):
    """A training run folder loads its exported EMA generator; a checkpoint folder its G_ema."""
    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "checkpoints" / "step-0000002").mkdir(parents=True)
    save_model(pipe.refiner, run / "export" / "generator_ema.safetensors", extra={"pipeline": {"truncation": 0.5}})
    save_model(pipe.refiner, run / "checkpoints" / "step-0000002" / "G_ema.safetensors")
    assert FlyThrough.from_pretrained(run, depth=ramp_depth, sky=top_sky).config.truncation == 0.5
    ckpt = FlyThrough.from_pretrained(run / "checkpoints" / "step-0000002", depth=ramp_depth, sky=top_sky)
    assert ckpt.config.truncation == FlyThroughConfig().truncation
    with pytest.raises(FileNotFoundError, match="is a folder without a generator"):
        FlyThrough.from_pretrained(run / "checkpoints", depth=ramp_depth, sky=top_sky)


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


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("keep_visible", "yes", "keep_visible must be True or False"),
        ("sky_correction", 1, "sky_correction must be True or False"),
        ("fov_deg", 0.0, "fov_deg must be a number in (0, 180)"),
        ("truncation", float("nan"), "truncation must be a finite number"),
        ("beta", -1.0, "beta must be a number > 0"),
        ("max_sky_fraction", 1.5, "max_sky_fraction must be a number in (0, 1]"),
        ("canvas_scale", 0.5, "canvas_scale must be a number >= 1"),
        ("mean_latent_samples", 0, "mean_latent_samples must be a whole number >= 1"),
    ],
)
def test_config_fields_are_checked_at_construction_and_at_run(pipe, field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        FlyThroughConfig(**{field: value})
    before = getattr(pipe.config, field)
    try:
        setattr(pipe.config, field, value)  # assigned after construction: caught when a run starts
        with pytest.raises(ValueError, match=re.escape(message)):
            pipe(_photo(), num_frames=2, progress=False)
    finally:
        setattr(pipe.config, field, before)


def test_flat_disparity_warns_and_a_ramp_does_not(recwarn):
    img = _photo(48, 96)
    for value in (0.0, -1.0, 5.0):
        with pytest.warns(UserWarning, match="the disparity map is flat"):
            scene = prepare_scene(img, lambda x, v=value: torch.full_like(x[:, :1], v), top_sky, size=RES)
        assert torch.all(scene.disparity <= 0.011)  # everything at the far plane
    recwarn.clear()
    prepare_scene(img, ramp_depth, top_sky, size=RES)
    assert not [w for w in recwarn if "flat" in str(w.message)]


def test_prepare_scene_square_photo_pads_canvas_as_non_sky():
    img = _photo(64, 64)
    scene = prepare_scene(img, ramp_depth, top_sky, size=RES)
    c = scene.canvas
    assert torch.all(c.disparity[..., :, :2] > 0.999)  # padding is never taken for sky


def test_keep_visible_keeps_warped_pixels(pipe):
    from infinitenature.render import soft_keep_mask

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
    # the settings stored with the shipped weights: keep warped pixels, a 2x state, state-sized frames, the photo
    # anchor, surface detail, the anchor's streak blur, aerial perspective, sky layers
    assert pipe.config.keep_visible is True and pipe.config.supersample == 2 and pipe.config.frame_size == "state"
    assert pipe.config.anchor_scale == 4 and pipe.config.detail == 1.5 and pipe.config.streak_blur == 1.0
    assert pipe.config.aerial_perspective == 0.5 and pipe.config.sky_layers is True
    # the generator sees push-pull fills in its holes and outputs a correction of its input
    assert pipe.refiner.config.hole_fill == "push_pull" and pipe.refiner.config.residual is True
    photo = Path(__file__).resolve().parents[1] / "examples" / "hills.jpg"
    assert pipe.prepare(photo).anchor.size == 960  # the photo's 960 px crop (4x the state would be 1024)
    out = pipe(photo, num_frames=3, seed=0, progress=False)
    assert out.frames.shape == (3, 256, 256, 3) and pipe.resolution == 128
    assert 0.05 < out.frames.mean() / 255 < 0.95
    # frames move: later frames differ from the input view, and consecutive frames are related
    assert np.abs(out.frames[2].astype(float) - out.frames[0]).mean() > 1.0
    assert np.abs(out.frames[2].astype(float) - out.frames[1]).mean() < 40.0


# ----------------------------------------------------------------- supersampled state


def test_command_line_settings_parse_as_json_or_bare_strings():
    from infinitenature.config import parse_setting

    assert parse_setting("detail=0") == ("detail", 0)
    assert parse_setting("outpaint=true") == ("outpaint", True)
    assert parse_setting("detail_texture=photo") == ("detail_texture", "photo")
    assert parse_setting('frame_size="state"') == ("frame_size", "state")
    assert parse_setting("note=a=b") == ("note", "a=b")
    for bad in ("detail", "=1", ""):
        with pytest.raises(ValueError, match="expected NAME=VALUE"):
            parse_setting(bad)


def test_supersample_config_is_checked():
    for bad in (0, 9, 1.5, True, "2"):
        with pytest.raises(ValueError, match="supersample"):
            FlyThroughConfig(supersample=bad)


def test_downsample_intrinsics_matches_the_smaller_camera():
    from infinitenature.geometry import intrinsics_from_fov
    from infinitenature.step import downsample_intrinsics

    for s in (1, 2, 4):
        assert torch.allclose(downsample_intrinsics(intrinsics_from_fov(RES * s, RES * s, 50.0), s), intrinsics_from_fov(RES, RES, 50.0))


def test_soft_keep_mask_seam_scales_with_supersampling():
    from infinitenature.render import soft_keep_mask
    from infinitenature.step import upsample

    mask = torch.ones(1, 1, 16, 16)
    mask[..., 6:10, 6:10] = 0
    big = (upsample(mask, 4) > 0.5).float()  # the same hole at 4x
    keep, keep4 = soft_keep_mask(mask), soft_keep_mask(big, scale=4)
    assert torch.all(keep4[big == 0] == 0)
    # the seam is as wide in refiner pixels: averaged back down, the two masks agree closely
    assert (torch.nn.functional.avg_pool2d(keep4, 4) - keep).abs().max() < 0.2


def test_scene_size_must_match_the_supersampling(pipe):
    import dataclasses

    scene = prepare_scene(_photo(), ramp_depth, top_sky, size=RES + 8)
    with pytest.raises(ValueError, match="need a 32x32 state"):
        list(pipe.iter_frames(None, 2, scene=scene))
    old = pipe.config
    pipe.config = dataclasses.replace(old, supersample=2)
    try:
        with pytest.raises(ValueError, match="supersample=2 need a 64x64 state"):  # a plain-size scene is not silently used at 1x
            list(pipe.iter_frames(None, 2, scene=prepare_scene(_photo(), ramp_depth, top_sky, size=RES)))
    finally:
        pipe.config = old


def test_supersampled_run_shapes_and_determinism(pipe):
    import dataclasses

    old = pipe.config
    pipe.config = dataclasses.replace(old, supersample=2, keep_visible=True)
    try:
        scene = pipe.prepare(_photo())
        assert scene.rgb.shape[-1] == 2 * RES
        a = pipe(_photo(), num_frames=3, seed=0, progress=False)
        b = pipe(_photo(), num_frames=3, seed=0, progress=False)
    finally:
        pipe.config = old
    assert a.frames.shape == (3, RES, RES, 3) and a.disparities.shape == (3, RES, RES)
    assert np.array_equal(a.frames, b.frames)
    expected = (torch.nn.functional.avg_pool2d(scene.rgb, 2)[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(a.frames[0], expected)


def _stripes(side: int, period: float) -> torch.Tensor:
    """``(1, 3, side, side)`` grey vertical stripes (sinusoid of ``period`` px around the centre)."""
    x = torch.arange(side, dtype=torch.float32) - (side - 1) / 2
    row = 0.5 + 0.4 * torch.sin(2 * torch.pi * x / period)
    return row.view(1, 1, 1, side).expand(1, 3, side, side).clone()


def test_supersampling_keeps_detail_when_flying_closer(pipe):
    """Fly toward a textured wall until it is magnified 3x: only a supersampled state still shows the texture.

    The wall (constant disparity 0.25, depth 4) has stripes 8 px apart at 4x the
    refiner's resolution (2 refiner pixels, where the plain loop's first frame can
    barely hold them). After 8 steps of 1/3 unit the camera is at depth 4/3: the truth
    shows the stripes 3x wider. Flying forward opens no holes, so with ``keep_visible``
    this is pure warping.
    """
    import dataclasses

    from infinitenature.geometry import intrinsics_from_fov
    from infinitenature.scene import PreparedScene
    from infinitenature.sky import SkyCanvas

    def scene_at(s: int) -> PreparedScene:
        side = RES * s
        rgb = torch.nn.functional.avg_pool2d(_stripes(RES * 4, 8.0), 4 // s)
        disp = torch.full((1, 1, side, side), 0.25)
        K = intrinsics_from_fov(side, side, 55.0)
        canvas = SkyCanvas(rgb=rgb, disparity=disp, K=K, sky_offset=0.0)
        return PreparedScene(rgb=rgb, disparity=disp, sky=torch.zeros_like(disp), K=K, sky_offset=0.0, canvas=canvas)

    def pose(step: int) -> torch.Tensor:
        P = torch.eye(4, dtype=torch.float64)
        P[2, 3] = -step / 3.0  # camera centre at z = step / 3
        return P

    truth = torch.nn.functional.avg_pool2d(_stripes(RES * 4, 8.0 * 3.0), 4)[0, 0].numpy()
    centre = slice(RES // 4, 3 * RES // 4)
    errors, contrast = {}, {}
    old = pipe.config
    try:
        for s in (1, 4):
            pipe.config = dataclasses.replace(old, supersample=s, keep_visible=True, sky_correction=False)
            frames = [f for f in pipe.iter_frames(None, 9, scene=scene_at(s), trajectory=pose)]
            last = frames[-1].image[..., 0].astype(np.float32) / 255
            errors[s] = float(np.abs(last - truth)[centre, centre].mean())
            contrast[s] = float(last[centre, centre].std())
    finally:
        pipe.config = old
    true_contrast = float(truth[centre, centre].std())
    # measured: errors {1: 0.243, 4: 0.061}; contrast {1: 0.114, 4: 0.239} of a true 0.279
    assert errors[4] < 0.08 and errors[4] < 0.35 * errors[1], errors
    assert contrast[4] > 0.8 * true_contrast and contrast[1] < 0.5 * true_contrast, (contrast, true_contrast)


def test_state_sized_frames(pipe):
    import dataclasses

    old = pipe.config
    pipe.config = dataclasses.replace(old, supersample=2, keep_visible=True, frame_size="state")
    try:
        scene = pipe.prepare(_photo())
        out = pipe(_photo(), num_frames=3, seed=0, progress=False)
        pipe.config = dataclasses.replace(pipe.config, frame_size="refiner")
        small = pipe(_photo(), num_frames=3, seed=0, progress=False)
    finally:
        pipe.config = old
    assert out.frames.shape == (3, 2 * RES, 2 * RES, 3) and out.disparities.shape == (3, 2 * RES, 2 * RES)
    expected = (scene.rgb[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(out.frames[0], expected)  # the prepared state itself
    assert np.allclose(out.K[0, 0], 2 * small.K[0, 0])
    # the same run: averaged down, the big frames are the small ones (up to rounding)
    down = torch.nn.functional.avg_pool2d(torch.from_numpy(out.frames).permute(0, 3, 1, 2).float(), 2)
    assert (down - torch.from_numpy(small.frames).permute(0, 3, 1, 2).float()).abs().max() <= 1.0
    with pytest.raises(ValueError, match="frame_size must be one of 'refiner', 'state'"):
        FlyThroughConfig(frame_size="big")


# ----------------------------------------------------------------- keep_visible and the refiner


class _SpeckledRefiner(torch.nn.Module):
    """Paints every pixel grey with disparity 0.5, and every 4th pixel of every 4th row at 0.9 (speckles)."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.config = GeneratorConfig(resolution=resolution, latent_dim=4, mapping_layers=1, f_base=64, f_base_style=32, f_max=8)
        self.p = torch.nn.Parameter(torch.zeros(1))

    def encode_style(self, x, **kw):
        return x.new_zeros(x.shape[0], 4)

    def mean_latent(self, n, **kw):
        return torch.zeros(1, 4)

    def refine(self, rgb, disparity, mask, code, z, **kw):
        disp = torch.full_like(disparity, 0.5)
        disp[..., ::4, ::4] = 0.9
        return torch.cat([torch.full_like(rgb, 0.5), disp], 1)


class _SpyRefiner(_SpeckledRefiner):
    """Paints the warped frame's own values back (grey where empty) and records each input mask."""

    def __init__(self, resolution: int) -> None:
        super().__init__(resolution)
        self.masks: list[torch.Tensor] = []
        self.disparities: list[torch.Tensor] = []

    def refine(self, rgb, disparity, mask, code, z, **kw):
        self.masks.append(mask.clone())
        self.disparities.append(disparity.clone())
        return torch.cat([rgb * mask + 0.5 * (1 - mask), disparity.clamp(0.01, 1) * mask + 0.05 * (1 - mask)], 1)


def test_keep_visible_skips_the_refiner_on_steps_without_holes():
    """With keep_visible a step whose warp left no hole keeps every warped pixel: the refiner is not run."""
    import dataclasses

    spy = _SpyRefiner(RES)
    no_sky = lambda image: torch.zeros_like(image[:, :1])  # noqa: E731
    pipe = FlyThrough(spy, ramp_depth, no_sky, config=FlyThroughConfig(sky_correction=False, keep_visible=True))
    path = torch.eye(4, dtype=torch.float64).repeat(5, 1, 1)
    path[3:, 0, 3] = -0.15 * torch.arange(1, 3, dtype=torch.float64)  # still for steps 1-2, then a sideways slide
    frames = list(pipe.iter_frames(_photo(), 5, seed=0, trajectory=lambda step: path[step]))
    holes = [f.hole_fraction for f in frames[1:]]
    assert holes[:2] == [0.0, 0.0] and all(h > 0 for h in holes[2:])  # the slide opens a strip at the border
    assert len(spy.masks) == 2  # run on the two steps with holes only
    assert np.array_equal(frames[2].image, frames[0].image)  # a still camera keeps the frame
    # without keep_visible the refiner's output replaces every pixel, so it runs on every step
    spy.masks = []
    pipe.config = dataclasses.replace(pipe.config, keep_visible=False)
    list(pipe.iter_frames(_photo(), 5, seed=0, trajectory=lambda step: path[step]))
    assert len(spy.masks) == 4
