"""Frames of any size and aspect ratio: the crop, the intrinsics, the loop and the CLI's --size."""

from __future__ import annotations

import math

import kornia
import numpy as np
import pytest
import torch

from infinitenature import FlyThroughConfig
from infinitenature.anchor import sample_anchor
from infinitenature.cli import main
from infinitenature.geometry import intrinsics_from_fov
from infinitenature.pipeline import FlyThrough
from infinitenature.render import forward_splat
from infinitenature.scene import center_crop, prepare_scene

from test_pipeline import RES, _photo, pipe, ramp_depth, top_sky  # noqa: F401  (pipe is a fixture)


def test_center_crop_is_the_widest_of_that_shape():
    assert center_crop(600, 800, 16 / 9) == (75, 0, 450, 800)  # a 4:3 photo keeps its full width at 16:9
    assert center_crop(600, 800, 1.0) == (0, 100, 600, 600)  # the published square
    assert center_crop(800, 600, 16 / 9) == (231, 0, 338, 600)  # a portrait photo: full width, a band of rows
    assert center_crop(450, 1600, 16 / 9) == (0, 400, 450, 800)  # a panorama: full height
    with pytest.raises(ValueError, match="aspect"):
        center_crop(10, 10, 0.0)


@pytest.mark.parametrize("size", [(48, 80), (64, 32), (40, 40)])
def test_prepared_scene_has_the_view_shape_and_its_intrinsics(size):
    h, w = size
    photo = _photo(96, 128)
    sc = prepare_scene(photo, ramp_depth, top_sky, size=size, fov_deg=55.0, anchor_scale=2)
    assert sc.rgb.shape == (1, 3, h, w) and sc.disparity.shape == (1, 1, h, w) and sc.sky.shape == (1, 1, h, w)
    assert torch.allclose(sc.K, intrinsics_from_fov(h, w, 55.0))
    assert float(sc.K[0, 0]) == pytest.approx(w / (2 * math.tan(math.radians(27.5))))  # the field of view spans the width
    # The canvas: canvas_scale x the view along both axes, centred on it.
    ch, cw = sc.canvas.rgb.shape[-2:]
    assert abs(ch / h - 1.5) < 0.1 and abs(cw / w - 1.5) < 0.1
    assert float(sc.canvas.K[0, 2] - sc.K[0, 2]) == pytest.approx((cw - w) / 2) and float(sc.canvas.K[1, 2] - sc.K[1, 2]) == pytest.approx((ch - h) / 2)
    # The anchor seen from the first camera is the view itself (its ground: the sky is never re-sampled).
    a = sample_anchor(sc.anchor, sc.disparity, sc.K, torch.eye(4, dtype=torch.float64))
    inner = torch.zeros(1, 1, h, w, dtype=torch.bool)
    inner[..., 3 : h - 3, 3 : w - 3] = True
    ground = (sc.disparity > sc.sky_offset).float()
    ground = inner & (-torch.nn.functional.max_pool2d(-ground, 7, 1, 3) > 0.5)  # 3 px from the skyline (the agreement test's box)
    assert float(ground.float().mean()) > 0.3
    assert bool((a.weight[ground] == 1).all())
    assert float((a.rgb - sc.rgb).abs()[ground.expand_as(a.rgb)].mean()) < 0.02


def test_frame_zero_is_the_centre_crop(pipe):  # noqa: F811
    photo = _photo(96, 128)  # 4:3
    out = pipe(photo, num_frames=2, height=32, width=64, progress=False)  # 2:1: full width, a band of rows
    assert out.frames.shape == (2, 32, 64, 3)
    top, left, ch, cw = center_crop(96, 128, 64 / 32)
    assert (left, cw) == (0, 128)
    want = torch.nn.functional.interpolate(photo[None, :, top : top + ch, left : left + cw], size=(32, 64), mode="bilinear", antialias=True)
    got = torch.from_numpy(out.frames[0]).permute(2, 0, 1).float() / 255
    assert float((got - want[0]).abs().mean()) < 0.03


def test_a_pure_turn_of_a_wide_view_is_the_homography():
    H, W = 36, 64
    K = intrinsics_from_fov(H, W, 55.0)
    y, x = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    rgba = torch.stack([0.5 + 0.5 * torch.sin(0.3 * x), 0.5 + 0.5 * torch.cos(0.25 * y), 0.5 + 0.25 * torch.sin(0.2 * (x + y)), torch.ones_like(x)])[None]
    a = math.radians(6.0)
    R = torch.tensor([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])
    out, _, cov = forward_splat(rgba, torch.full((1, 1, H, W), 0.5), R, torch.zeros(3), K)
    Hmat = (K @ R @ torch.linalg.inv(K)).unsqueeze(0)
    ref = kornia.geometry.transform.warp_perspective(rgba, Hmat, (H, W), align_corners=True)
    ones = kornia.geometry.transform.warp_perspective(torch.ones(1, 1, H, W), Hmat, (H, W), align_corners=True)
    inner = (cov > 0.99) & (ones > 0.999)
    inner = -torch.nn.functional.max_pool2d(-inner.float(), 5, 1, 2) > 0.5
    assert inner.float().mean() > 0.6
    assert float((out - ref).abs()[inner.expand_as(out)].max()) < 0.02


@pytest.mark.parametrize("size", [(32, 64), (64, 32), (40, 56)])
def test_flights_of_several_shapes(pipe, size):  # noqa: F811
    h, w = size
    cfg = FlyThroughConfig(mean_latent_samples=256, anchor_scale=2, keep_visible=True, outpaint=True, max_sky_fraction=1.0, detail=1.0)
    p = FlyThrough(pipe.refiner, ramp_depth, top_sky, config=cfg)
    for trajectory in ("autopilot", "pan"):
        out = p(_photo(96, 128), num_frames=5, trajectory=trajectory, height=h, width=w, progress=False)
        assert out.frames.shape == (5, h, w, 3) and out.disparities.shape == (5, h, w)
        assert np.isfinite(out.disparities).all()
        assert np.allclose(out.K, intrinsics_from_fov(h, w, 55.0).numpy())
    again = p(_photo(96, 128), num_frames=5, trajectory="pan", height=h, width=w, progress=False)
    assert np.array_equal(out.frames, again.frames)


def test_no_size_is_the_published_square(pipe):  # noqa: F811
    assert pipe.frame_shape() == (RES, RES)
    a = pipe(_photo(), num_frames=3, progress=False)
    b = pipe(_photo(), num_frames=3, progress=False, height=RES, width=RES)
    assert np.array_equal(a.frames, b.frames)


@pytest.mark.parametrize(
    "height, width, match",
    [(36, 64, "multiple of 8"), (0, 64, "multiple of 8"), (4096, 2048, "multiple of 8"), (32, 128, "aspect"), (32, None, "both")],
)
def test_bad_sizes_are_one_clear_error(pipe, height, width, match):  # noqa: F811
    with pytest.raises(ValueError, match=match):
        pipe.frame_shape(height, width)


@pytest.mark.parametrize("size", ["512x287", "0x0", "4096x2304", "512by288", "1024x256", "x288"])
def test_cli_size_errors(tmp_path, capsys, size):
    from PIL import Image

    src = tmp_path / "p.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(src)
    code = main(["fly", str(src), "-o", str(tmp_path / "o.gif"), "--frames", "2", "--size", size, "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--size" in lines[0], err
    assert not (tmp_path / "o.gif").exists()
