"""Outpainting the photo around the first camera: the cylinder's geometry, quilting, the sky canvas, the loop."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from infinitenature import FlyThroughConfig
from infinitenature.anchor import PhotoAnchor, build_anchor, sample_anchor
from infinitenature.geometry import intrinsics_from_fov, pixel_grid
from infinitenature.panorama import cylinder_layout, min_cut_seam, outpaint_panorama, panorama_canvas, quilt, quilt_sizes, to_cylinder
from infinitenature.pipeline import FlyThrough
from infinitenature.sky import SkyCanvas, sky_blend

from test_pipeline import _photo, pipe, ramp_depth, top_sky  # noqa: F401  (pipe is a fixture)

SIDE = 33  # odd: the view's centre is a pixel


def _yaw(a: float) -> torch.Tensor:
    """World-to-camera pose of the first camera turned right by ``a`` radians about its vertical axis."""
    c, s = math.cos(a), math.sin(a)
    P = torch.eye(4, dtype=torch.float64)
    P[:3, :3] = torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]], dtype=torch.float64)
    return P


def _wall(radius: float = 4.0, rows: int = 96, columns: int = 400) -> PhotoAnchor:
    """A cylindrical anchor: a wall at ``radius`` all around, its red channel the column."""
    f = columns / (2 * math.pi)
    K = torch.tensor([[f, 0.0, columns / 2 - 0.5], [0.0, f, rows / 2 - 0.5], [0.0, 0.0, 1.0]])
    u = torch.arange(columns, dtype=torch.float32).view(1, 1, 1, columns).expand(1, 1, rows, columns)
    rgb = torch.cat([u / (columns - 1), torch.full_like(u, 0.5), torch.full_like(u, 0.5)], dim=1)
    a = build_anchor(rgb, torch.full((1, 1, rows, columns), 1.0 / radius), K, state_side=rows // 2, view_side=rows // 2 * 2)
    return dataclasses.replace(a, projection="cylinder")


def _wall_disparity(K: torch.Tensor, radius: float) -> torch.Tensor:
    """The view's disparity ``1 / z`` of a wall at ``radius`` around its own centre (a level camera)."""
    rays = torch.linalg.inv(K) @ pixel_grid(SIDE, SIDE).reshape(3, -1)
    return (torch.sqrt(1 + rays[0].square()) / radius).reshape(1, 1, SIDE, SIDE)


@pytest.mark.parametrize("a", [0.0, 0.4, -1.2, 2.9])
def test_a_turned_view_looks_up_the_column_of_its_azimuth(a):
    wall, K = _wall(), intrinsics_from_fov(SIDE, SIDE, 55.0)
    s = sample_anchor(wall, _wall_disparity(K, 4.0), K, _yaw(a), smooth=1)
    f, cx = float(wall.K[0, 0]), float(wall.K[0, 2])
    c = SIDE // 2
    want = cx + f * a
    assert float(s.uv[0, 0, c, c]) == pytest.approx(want, abs=1e-3)
    # every pixel of the view sees the wall where the view says it is: the same surface, the same disparity
    assert bool((s.weight == 1).all()) and bool((s.inside == 1).all())
    assert torch.allclose(s.disparity, _wall_disparity(K, 4.0), rtol=1e-4)
    # and its colour is the column it looks at (the red ramp; wrapped past +-pi)
    wrapped = (want + 0.5) % wall.width - 0.5
    assert float(s.rgb[0, 0, c, c]) == pytest.approx(wrapped / (wall.width - 1), abs=2e-3)


def test_a_nearer_point_than_the_wall_is_not_the_wall():
    wall, K = _wall(), intrinsics_from_fov(SIDE, SIDE, 55.0)
    s = sample_anchor(wall, 2 * _wall_disparity(K, 4.0), K, _yaw(0.3))
    assert bool((s.weight == 0).all()) and bool((s.inside == 1).all())


def test_sky_blend_from_a_cylindrical_canvas_follows_the_turn():
    wall = _wall()
    x = wall.levels[0]
    canvas = SkyCanvas(rgb=x[:, :3], disparity=torch.full_like(x[:, 3:4], 0.01), K=wall.K, sky_offset=0.02, projection="cylinder")
    K = intrinsics_from_fov(SIDE, SIDE, 55.0)
    for a in (0.5, -2.0, 3.1):  # a turn of more than 90 degrees: a homography could not do it
        R = _yaw(a)[:3, :3].float()
        out = sky_blend(torch.zeros(1, 3, SIDE, SIDE), torch.full((1, 1, SIDE, SIDE), 0.01), canvas, R, K, erode=1, blur_kernel=1)
        want = ((float(wall.K[0, 2]) + float(wall.K[0, 0]) * a + 0.5) % wall.width - 0.5) / (wall.width - 1)
        c = SIDE // 2
        assert float(out.rgb[0, 0, c, c]) == pytest.approx(want, abs=2e-3)
        assert out.fraction == pytest.approx(1.0)
    with pytest.raises(ValueError, match="projection"):
        SkyCanvas(rgb=x[:, :3], disparity=x[:, 3:4], K=wall.K, sky_offset=0.02, projection="sphere")


def test_min_cut_seam_follows_the_cheap_path():
    err = torch.ones(6, 5)
    path = [1, 2, 2, 3, 4, 3]
    for i, j in enumerate(path):
        err[i, j] = 0
    assert min_cut_seam(err).tolist() == path
    steps = min_cut_seam(torch.rand(50, 7, generator=torch.Generator().manual_seed(0)))
    assert int((steps[1:] - steps[:-1]).abs().max()) <= 1 and int(steps.min()) >= 0 and int(steps.max()) <= 6


def _two_band_source(n: int = 80, rows: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1, 3, rows, n, generator=g)
    disp = torch.cat([torch.full((1, 1, rows // 2, n), 0.01), torch.full((1, 1, rows - rows // 2, n), 0.5)], dim=2)
    return torch.cat([rgb, disp], dim=1), torch.ones(1, 1, rows, n)


def test_quilting_keeps_the_vertical_order_and_is_seeded():
    src, cov = _two_band_source()
    out = quilt(src, cov, 200, sky_offset=0.02, generator=torch.Generator().manual_seed(1))
    assert out.shape[-1] > 200 and out.shape[:3] == src.shape[:3]
    # full-height strips: sky stays above, ground below, whatever strips were drawn
    assert torch.equal(out[:, 3:4], torch.cat([src[:, 3:4, :, :1]] * out.shape[-1], dim=-1))
    assert float(out[:, :3].min()) >= 0 and float(out[:, :3].max()) <= 1
    again = quilt(src, cov, 200, sky_offset=0.02, generator=torch.Generator().manual_seed(1))
    other = quilt(src, cov, 200, sky_offset=0.02, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_quilting_is_made_of_the_photos_own_columns():
    """Away from the seams every column of the continuation is a column of the photo (its disparity
    exactly; its colours shifted by a shade, row by row, to meet the strip laid before)."""
    src, cov = _two_band_source(seed=3)
    src[:, 3:4] = 0.3 + 0.5 * torch.rand(1, 1, *src.shape[-2:], generator=torch.Generator().manual_seed(4))  # all ground
    out = quilt(src, cov, 120, sky_offset=0.02, generator=torch.Generator().manual_seed(0))
    cols = src[0, 3].T  # (n, H)
    found = [bool(((cols - c).abs().amax(1) < 1e-6).any()) for c in out[0, 3].T]
    assert np.mean(found) > 0.5
    # the colours keep the photo's texture: a column's deviation from its row means matches a source column's
    rgb = out[0, :3]
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1


def test_a_strip_of_another_shade_is_matched_to_what_it_joins():
    """A sky that brightens from left to right: every other strip is darker than the photo's right
    edge, and the continuation still has no step of shade there."""
    n, rows = 96, 24
    g = torch.Generator().manual_seed(5)
    rgb = 0.2 + 0.5 * torch.linspace(0, 1, n).view(1, 1, 1, n) + 0.02 * torch.rand(1, 3, rows, n, generator=g)
    src = torch.cat([rgb, torch.full((1, 1, rows, n), 0.01)], dim=1)  # all sky
    out = quilt(src, torch.ones(1, 1, rows, n), 60, sky_offset=0.02, generator=torch.Generator().manual_seed(0))
    edge = float(src[0, :3, :, -4:].mean())
    strip, _ = quilt_sizes(n)
    first = out[0, :3, :, :strip].mean(dim=(0, 1))  # the shade of each column of the first strip
    assert float(first.min()) > edge - 0.03  # without the shift it dips by 0.07 over the overlap


def _photo_anchor(h: int = 48, w: int = 80) -> PhotoAnchor:
    side = h
    rgb = _photo(h, w)[None]
    K = intrinsics_from_fov(side, side, 55.0)
    K[0, 2] += (w - side) / 2
    rows = torch.linspace(0.01, 0.8, h).view(1, 1, h, 1).expand(1, 1, h, w).clone()
    rows[..., : h // 3, :] = 0.01  # sky on top
    return build_anchor(rgb, rows, K, state_side=h // 2, sky_offset=0.02, view_side=side)


def test_outpaint_panorama_keeps_the_photo_and_goes_all_around():
    anchor = _photo_anchor()
    focal = float(intrinsics_from_fov(24, 24, 55.0)[0, 0])
    pano = outpaint_panorama(anchor, focal=focal, state_side=24, scale=2, seed=0)
    p = pano.anchor
    assert p.projection == "cylinder" and p.sky_offset == anchor.sky_offset
    assert p.width == pytest.approx(2 * math.pi * float(p.K[0, 0]), abs=1e-3) and p.width % 4 == 0 and p.height % 4 == 0
    u0, u1 = pano.photo_columns
    assert 0 < u0 < u1 < anchor.width - 1
    # Inside the photo's kept columns the panorama is the photo on the cylinder, unchanged.
    K1 = anchor.K.clone()
    Kc, rows, cols, (c0, c1) = cylinder_layout(K1, anchor.height, anchor.width, 2 * focal, multiple=4)
    ref, _ = to_cylinder(anchor.levels[0], K1, Kc, rows, (c0, c1), sky_offset=anchor.sky_offset)
    mid = slice(c0 + (c1 - c0) // 3, c1 - (c1 - c0) // 3)
    assert torch.allclose(p.levels[0][..., mid], ref[..., mid.start - c0 : mid.stop - c0], atol=1e-5)
    # Sky above, ground below, all the way around.
    d = p.levels[0][0, 3]
    assert bool((d[: rows // 4] <= 0.02).all()) and bool((d[-rows // 4 :] > 0.02).all())
    other = outpaint_panorama(anchor, focal=focal, state_side=24, scale=2, seed=1)
    assert not torch.equal(other.anchor.levels[0], p.levels[0])
    assert pano.scale == 2
    canvas = panorama_canvas(pano)
    assert canvas.projection == "cylinder" and canvas.rgb.shape[-1] == p.width // 2
    with pytest.raises(ValueError, match="pinhole"):
        outpaint_panorama(p, focal=focal, state_side=24)


def test_outpaint_needs_the_anchor():
    with pytest.raises(ValueError, match="outpaint needs the photo anchor"):
        FlyThroughConfig(outpaint=True)


def test_a_pan_with_outpainting_is_seeded_and_shows_the_panorama(pipe):  # noqa: F811
    cfg = FlyThroughConfig(mean_latent_samples=256, anchor_scale=2, keep_visible=True, outpaint=True, max_sky_fraction=1.0)
    on = FlyThrough(pipe.refiner, ramp_depth, top_sky, config=cfg)
    off = FlyThrough(pipe.refiner, ramp_depth, top_sky, config=dataclasses.replace(cfg, outpaint=False))
    photo = _photo()
    kw = dict(num_frames=8, trajectory="pan", seed=0, progress=False)
    a, b, c = on(photo, **kw), on(photo, **kw), off(photo, **kw)
    assert np.array_equal(a.frames, b.frames)
    assert a.frames.shape == c.frames.shape and not np.array_equal(a.frames[-1], c.frames[-1])
    assert np.isfinite(a.disparities).all() and float(a.disparities.min()) >= 0.01 - 1e-6


def test_the_shade_shift_never_mixes_sky_and_ground():
    """Two strips whose skylines differ by 4 rows but whose sky and ground match are not changed."""
    from infinitenature.panorama import _match_colour

    def strip(skyline: int, n: int) -> torch.Tensor:
        x = torch.full((1, 4, 24, n), 0.2)
        x[:, 3] = 0.5
        x[:, :3, :skyline], x[:, 3, :skyline] = 0.8, 0.01
        return x

    old, piece = strip(10, 6), strip(14, 24)
    assert torch.allclose(_match_colour(old, piece, 0.02), piece)
    darker = piece.clone()
    darker[:, :3] -= 0.1  # both layers a shade darker: lifted back over the overlap where both agree
    got = _match_colour(old, darker, 0.02)
    agree = torch.cat([torch.arange(10), torch.arange(14, 24)])
    assert torch.allclose(got[:, :, agree, :6], piece[:, :, agree, :6], atol=1e-5)


def test_the_sample_says_sky_only_where_the_anchor_shows_sky_not_where_its_ground_is_behind_the_camera():
    rows, columns = 96, 400
    wall = _wall(rows=rows, columns=columns)
    disp = torch.full((1, 1, rows, columns), 0.9)  # ground close by (about 1.1 away) in the lower half ...
    disp[..., : rows // 2, :] = 0.01  # ... under sky
    levels = [torch.cat([lv[:, :3], torch.nn.functional.interpolate(disp, size=lv.shape[-2:], mode="nearest")], dim=1) for lv in wall.levels]
    anchor = dataclasses.replace(wall, levels=levels, sky_offset=0.02)
    K = intrinsics_from_fov(SIDE, SIDE, 55.0)
    pose = torch.eye(4, dtype=torch.float64)
    pose[2, 3] = -2.0  # the camera flew 2 forward: past that ground
    far = sample_anchor(anchor, torch.full((1, 1, SIDE, SIDE), 1e-3), K, pose, smooth=1)
    top, bottom = far.sky[0, 0, : SIDE // 2 - 3], far.sky[0, 0, SIDE // 2 + 3 :]
    assert bool((top == 1).all()) and bool((bottom == 0).all())
    # the moved surface's disparity cannot tell: behind the camera it falls back to the floor, like the sky's
    assert float(far.disparity[0, 0, -1, SIDE // 2]) <= 0.02
    assert sample_anchor(_wall(), torch.full((1, 1, SIDE, SIDE), 0.25), K, pose).sky is None  # an anchor without sky
