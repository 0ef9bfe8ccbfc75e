"""Surface detail: texture where flying closer magnifies the photo beyond its own pixels."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from infinitenature import FlyThroughConfig
from infinitenature.anchor import build_anchor, sample_anchor
from infinitenature.detail import (
    DETAIL_PER_PHOTO,
    MAX_DELTA,
    anchor_texture,
    detail_contrast,
    limit_texture,
    magnification,
    noise_volume,
    painted_texture,
    photo_detail,
    photo_phases,
    prepare_detail,
    sample_noise,
    surface_detail,
)
from infinitenature.geometry import intrinsics_from_fov, pixel_grid
from infinitenature.scene import PreparedScene
from infinitenature.sky import SkyCanvas

from test_pipeline import RES, pipe  # noqa: F401  (pipe is a fixture)

WALL_DISP = 0.25  # a wall at depth 4 facing the first camera


def _pose_forward(z: float) -> torch.Tensor:
    P = torch.eye(4, dtype=torch.float64)
    P[2, 3] = -z
    return P


def _textured(side: int, seed: int = 0, amount: float = 0.2) -> torch.Tensor:
    """A grey photo with pixel-scale grain of about ``amount`` relative contrast."""
    g = torch.Generator().manual_seed(seed)
    grain = torch.rand(1, 1, side, side, generator=g) - 0.5
    return (0.5 * (1 + amount * 2 * grain)).expand(1, 3, side, side).clone()


def _wall_anchor(side: int, rgb: torch.Tensor | None = None):
    rgb = _textured(side) if rgb is None else rgb
    disp = torch.full((1, 1, side, side), WALL_DISP)
    return build_anchor(rgb, disp, intrinsics_from_fov(side, side, 55.0), state_side=RES)


def _wall_view(anchor, z: float):
    K = intrinsics_from_fov(RES, RES, 55.0)
    disp = torch.full((1, 1, RES, RES), 1.0 / (1.0 / WALL_DISP - z))
    return sample_anchor(anchor, disp, K, _pose_forward(z)), K


def test_magnification_is_the_smaller_singular_value_of_the_lookup():
    """An affine lookup u = A x: the smaller singular value of A, whatever its rotation."""
    xy = pixel_grid(16, 16)[:2]  # (2, H, W): x, y
    c, s = math.cos(0.6), math.sin(0.6)
    rot = torch.tensor([[c, -s], [s, c]])
    A = rot @ torch.diag(torch.tensor([3.0, 0.25])) @ rot.t()
    uv = torch.einsum("ij,jhw->ihw", A, xy).unsqueeze(0)
    assert torch.allclose(magnification(uv), torch.full((1, 1, 16, 16), 0.25), atol=1e-5)
    # A depth edge (a jump in the lookup) does not distort the pixels beside it.
    uv[..., 8:] += 100.0
    assert torch.allclose(magnification(uv), torch.full((1, 1, 16, 16), 0.25), atol=1e-3)
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        magnification(uv[:, :1])


def test_flying_toward_a_wall_halves_the_anchor_pixels_per_view_pixel():
    """Anchor 2x the view: 2 anchor px per view px from the start, 2 * (4 - z) / 4 at z forward."""
    anchor = _wall_anchor(2 * RES)
    for z, expected in ((0.0, 2.0), (2.0, 1.0), (3.0, 0.5)):
        s, _ = _wall_view(anchor, z)
        m = magnification(s.uv)[..., 2:-2, 2:-2]
        assert torch.allclose(m, torch.full_like(m, expected), rtol=1e-3), (z, float(m.mean()))


def test_noise_volume_is_seeded_unit_and_periodic():
    a, b = noise_volume(3, side=32), noise_volume(3, side=32)
    assert torch.equal(a, b) and not torch.equal(a, noise_volume(4, side=32))
    assert abs(float(a.mean())) < 1e-5 and abs(float(a.std()) - 1.0) < 1e-4
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 500, generator=g, dtype=torch.float64) * 100 - 50
    n = sample_noise(a, p)
    assert torch.allclose(n, sample_noise(a, p + 32.0), atol=1e-5)  # period = side
    assert torch.allclose(n, sample_noise(a, p + torch.tensor([[0.0], [-64.0], [32.0]], dtype=torch.float64)), atol=1e-5)
    # At a voxel centre it is the voxel (x, y, z = W, H, D axes), and it is continuous in between.
    assert torch.allclose(sample_noise(a, torch.tensor([[5.0], [7.0], [2.0]], dtype=torch.float64)), a[0, 0, 2, 7, 5].view(1))
    step = sample_noise(a, p + 1e-3) - n
    assert float(step.abs().max()) < 0.05
    with pytest.raises(ValueError, match="multiple of 8"):
        noise_volume(0, side=20)
    with pytest.raises(ValueError, match=r"\(3, N\)"):
        sample_noise(a, p[:2])


def test_contrast_measures_the_finest_octave_and_skips_sky():
    side = 2 * RES
    flat = build_anchor(torch.full((1, 3, side, side), 0.5), torch.full((1, 1, side, side), 0.5), intrinsics_from_fov(side, side, 55.0), state_side=RES)
    assert float(detail_contrast(flat).abs().max()) < 1e-6
    grainy = detail_contrast(_wall_anchor(side))
    rough = detail_contrast(_wall_anchor(side, _textured(side, amount=0.4)))
    assert 0.02 < float(grainy.mean()) < 0.2 and float(rough.mean()) > 1.8 * float(grainy.mean())
    # Sky (disparity at the offset) and its skyline count as no texture.
    disp = torch.full((1, 1, side, side), 0.5)
    disp[..., : side // 2, :] = 0.01
    sky = build_anchor(_textured(side), disp, intrinsics_from_fov(side, side, 55.0), state_side=RES, sky_offset=0.02)
    c = detail_contrast(sky)
    assert float(c[..., : side // 2 - 8, :].abs().max()) == 0.0 and float(c[..., side // 2 + 8 :, :].min()) > 0.01


def _detail(anchor, z, strength, source=None, seed=0, **kw):
    s, K = _wall_view(anchor, z)
    source = prepare_detail(anchor, seed=seed) if source is None else source
    tex = anchor_texture(s, source, K)
    return surface_detail(tex, s.disparity, _pose_forward(z), K, source, strength=strength, seed=seed, **kw), tex, s


def test_detail_only_where_the_photo_is_magnified_beyond_its_pixels():
    anchor = _wall_anchor(2 * RES)
    for z in (0.0, 2.0):  # 2 and 1 anchor px per view px: the photo resolves the view
        assert float(_detail(anchor, z, 4.0)[0].abs().max()) == 0.0
    d, tex, s = _detail(anchor, 3.5, 2.0)  # 0.25 anchor px per view px: three octaves beyond the photo's pixels
    # Channel 0: two anchor pixels along the most magnified direction, in world units (pixel = depth / fx).
    pixel = 1.0 / (s.disparity * intrinsics_from_fov(RES, RES, 55.0)[0, 0])
    assert torch.allclose(tex[:, :1, 2:-2, 2:-2], torch.log2(2 * pixel / 0.25)[..., 2:-2, 2:-2], atol=1e-3)
    inner = d[..., 2:-2, 2:-2]
    assert float(inner.std()) > 0.02 and abs(float(inner.mean())) < 0.02 and float(d.abs().max()) < MAX_DELTA
    # Linear in the strength before the soft clip, 0 at strength 0, deterministic, seeded.
    half = _detail(anchor, 3.5, 1.0)[0]

    def unclipped(x):
        return MAX_DELTA * torch.atanh(x / MAX_DELTA)

    assert torch.allclose(unclipped(half) * 2, unclipped(d), atol=1e-3)
    assert float(_detail(anchor, 3.5, 0.0)[0].abs().max()) == 0.0
    assert torch.equal(d, _detail(anchor, 3.5, 2.0)[0])
    assert not torch.allclose(d, _detail(anchor, 3.5, 2.0, seed=1)[0])
    # None where weighted out, none on a textureless photo.
    assert float(_detail(anchor, 3.5, 2.0, weight=torch.zeros(1, 1, RES, RES))[0].abs().max()) == 0.0
    flat = _wall_anchor(2 * RES, torch.full((1, 3, 2 * RES, 2 * RES), 0.5))
    assert float(_detail(flat, 3.5, 4.0)[0].abs().max()) < 1e-6
    with pytest.raises(ValueError, match="strength"):
        _detail(anchor, 3.5, 11.0)


def test_texture_of_painted_and_held_content():
    anchor = _wall_anchor(2 * RES)
    source = prepare_detail(anchor)
    K = intrinsics_from_fov(RES, RES, 55.0)
    disp = torch.full((1, 1, RES, RES), 0.5)
    log_pixel = -math.log2(0.5 * float(K[0, 0]))
    painted = painted_texture(disp, K, source, pixels=2)
    assert torch.allclose(painted[:, 0], torch.full((1, RES, RES), log_pixel + 2.0))  # two painted pixels = 4 view pixels
    assert torch.allclose(painted[:, 1], torch.full((1, RES, RES), source.painted_contrast)) and source.painted_contrast > 0
    held = limit_texture(torch.full((1, 2, RES, RES), -30.0), disp, K)
    assert torch.allclose(held[:, 0], torch.full((1, RES, RES), log_pixel + 1.0)) and bool((held[:, 1] == -30).all())
    with pytest.raises(ValueError, match="pixels"):
        painted_texture(disp, K, source, pixels=0.5)


def test_detail_is_attached_to_the_surface():
    """A camera moved sideways by one pixel's width at the wall sees every surface point one pixel over:
    the same texture there (the noise is a function of the surface point, not of the view)."""
    anchor = _wall_anchor(2 * RES)
    source = prepare_detail(anchor)
    K = intrinsics_from_fov(RES, RES, 55.0)
    depth = 1.0 / WALL_DISP - 3.0
    disp = torch.full((1, 1, RES, RES), 1.0 / depth)
    log_pixel = math.log2(depth / float(K[0, 0]))
    texture = torch.cat([torch.full_like(disp, log_pixel + 4.0), torch.full_like(disp, 0.05)], dim=1)
    a = surface_detail(texture, disp, _pose_forward(3.0), K, source, strength=2.0)
    moved = _pose_forward(3.0)
    moved[0, 3] = -depth / float(K[0, 0])  # the camera one pixel's width to the right
    b = surface_detail(texture, disp, moved, K, source, strength=2.0)
    assert float(a.std()) > 0.02
    assert torch.allclose(b[..., :, :-1], a[..., :, 1:], atol=1e-4)


def test_photo_phases_cross_fade_and_re_anchor_unseen():
    period = 8
    seen = []
    for frame in range(40):
        (a0, w0), (a1, w1) = photo_phases(frame, period)
        assert w0 + w1 == pytest.approx(1.0) and 0 <= w0 <= 1
        assert a0 <= frame and a1 <= frame and a0 % period == 0 and (a1 == 0 or a1 % period == period // 2)
        seen.append((a0, w0, a1, w1))
    # A phase is re-anchored exactly when its weight is 0, and peaks half a period later.
    for frame in range(1, 40):
        for k in (0, 1):
            if seen[frame][2 * k] != seen[frame - 1][2 * k]:
                assert seen[frame][2 * k + 1] == 0.0
    assert seen[4][1] == 1.0 and seen[8][1] == 0.0 and seen[8][3] == 1.0
    assert [a for a, _ in photo_phases(3, period)] == [0, 0]  # before phase 1's first anchor frame: frame 0
    with pytest.raises(ValueError, match="even integer"):
        photo_phases(0, 7)
    with pytest.raises(ValueError, match="frame"):
        photo_phases(-1)


def _ground_photo(side: int, height: float, pattern: torch.Tensor):
    """A ground plane ``height`` below the first camera (sky above the horizon) showing ``pattern``."""
    K = intrinsics_from_fov(side, side, 55.0)
    v = torch.arange(side, dtype=torch.float32).view(1, 1, side, 1).expand(1, 1, side, side)
    disp = ((v - K[1, 2]) / (height * K[1, 1])).clamp(0.01, 1.0)
    return build_anchor(pattern, disp, K, state_side=RES, sky_offset=0.011), K


def test_photo_texture_is_the_photos_ground_at_the_same_place_in_the_view():
    """Flying forward over a ground plane magnifies the photo's far ground at the bottom of the view.
    Re-anchored at the current camera, the photo texture there is what the photo shows at the same
    place: its stripes, at their own period in view pixels (the anchor is 2x the view: 10 anchor px = 5)."""
    side, height, z = 2 * RES, 1.0, 3.0
    u = torch.arange(side, dtype=torch.float32)
    stripes = (0.5 + 0.2 * torch.cos(2 * math.pi * u / 10.0)).view(1, 1, 1, side).expand(1, 3, side, side).clone()
    anchor, _ = _ground_photo(side, height, stripes)
    K = intrinsics_from_fov(RES, RES, 55.0)
    v = torch.arange(RES, dtype=torch.float32).view(1, 1, RES, 1).expand(1, 1, RES, RES)
    disp = ((v - K[1, 2]) / (height * K[1, 1])).clamp(0.01, 1.0)
    pose = _pose_forward(z)
    s = sample_anchor(anchor, disp, K, pose)
    source = prepare_detail(anchor, texture="photo")
    tex = anchor_texture(s, source, K)
    ground = (disp > 0.02).float()
    d = surface_detail(tex, disp, pose, K, source, strength=DETAIL_PER_PHOTO, weight=ground, phases=[(pose, 1.0)])
    rows = d[0, 0, 3 * RES // 4 :, 4:-4]  # near ground: the photo's far stripes magnified past 5 view px
    spectrum = torch.fft.rfft(rows - rows.mean(dim=1, keepdim=True), dim=1).abs().mean(dim=0)
    period = rows.shape[1] / float(spectrum[1:].argmax() + 1)
    assert 4.5 < period < 5.5, period
    assert float(rows.std()) > 0.05
    # Noise alone has no such period; the same texture again for the same inputs.
    noise = surface_detail(tex, disp, pose, K, prepare_detail(anchor), strength=DETAIL_PER_PHOTO, weight=ground)[0, 0, 3 * RES // 4 :, 4:-4]
    def peak_share(x):  # the strongest frequency's share of the rows' spectral power
        power = torch.fft.rfft(x - x.mean(dim=1, keepdim=True), dim=1).abs().pow(2).mean(dim=0)[1:]
        return float(power.max() / power.sum())

    assert peak_share(rows) > 0.6 and peak_share(noise) < 0.3, (peak_share(rows), peak_share(noise))
    assert torch.equal(d, surface_detail(tex, disp, pose, K, source, strength=DETAIL_PER_PHOTO, weight=ground, phases=[(pose, 1.0)]))


def test_photo_texture_moves_with_the_surface_and_skips_sky_and_other_depths():
    anchor = _wall_anchor(2 * RES)
    source = prepare_detail(anchor, texture="photo")
    K = intrinsics_from_fov(RES, RES, 55.0)
    depth = 1.0 / WALL_DISP - 3.0
    disp = torch.full((1, 1, RES, RES), 1.0 / depth)
    log_pixel = math.log2(depth / float(K[0, 0]))
    texture = torch.cat([torch.full_like(disp, log_pixel + 4.0), torch.full_like(disp, 0.05)], dim=1)
    first = torch.eye(4, dtype=torch.float64)  # the phase's camera: the photo's, which sees the wall at its depth
    a = surface_detail(texture, disp, _pose_forward(3.0), K, source, strength=2.0, phases=[(first, 1.0)])
    moved = _pose_forward(3.0)
    moved[0, 3] = -depth / float(K[0, 0])  # the camera one pixel's width to the right
    b = surface_detail(texture, disp, moved, K, source, strength=2.0, phases=[(first, 1.0)])
    assert float(a.std()) > 0.02
    assert torch.allclose(b[..., :, :-1], a[..., :, 1:], atol=1e-4)
    noise = surface_detail(texture, disp, _pose_forward(3.0), K, source, strength=2.0)
    assert not torch.allclose(a, noise, atol=1e-3)
    # Re-anchored at the current camera, the photo's pixels there lie 4x farther than the wall: no texture
    # comes from them (cover ~0), so the noise stays.
    idx = torch.arange(0, RES * RES, 97)
    ray = torch.linalg.inv(K.double()) @ pixel_grid(RES, RES, dtype=torch.float64).reshape(3, -1)[:, idx]
    points = torch.linalg.inv(_pose_forward(3.0))[:3, :3] @ (ray * depth) + torch.linalg.inv(_pose_forward(3.0))[:3, 3:4]
    lv = torch.full((idx.numel(),), log_pixel + math.log2(3.0))
    la = lv + 3.0
    _, cover, _ = photo_detail(points, lv, la, source.photo, [(_pose_forward(3.0), 1.0)])
    assert float(cover.max()) < 0.1
    _, cover, _ = photo_detail(points, lv, la, source.photo, [(first, 1.0)])
    assert float(cover.min()) > 0.99
    # Sky in the photo gives no texture either.
    disp_sky = torch.full((1, 1, 2 * RES, 2 * RES), WALL_DISP)
    disp_sky[..., : RES + 40, :] = 0.01
    sky = build_anchor(_textured(2 * RES), disp_sky, intrinsics_from_fov(2 * RES, 2 * RES, 55.0), state_side=RES, sky_offset=0.02)
    _, cover, _ = photo_detail(points, lv, la, prepare_detail(sky, texture="photo").photo, [(first, 1.0)])
    assert float(cover.max()) < 1.0 and float(cover.min()) == 0.0
    with pytest.raises(ValueError, match="texture must be one of"):
        prepare_detail(anchor, texture="grain")


def test_config_and_loop_checks():
    with pytest.raises(ValueError, match="detail must be a number"):
        FlyThroughConfig(detail=-1.0, anchor_scale=2)
    with pytest.raises(ValueError, match="detail must be a number"):
        FlyThroughConfig(detail=float("nan"), anchor_scale=2)
    with pytest.raises(ValueError, match="needs the photo anchor"):
        FlyThroughConfig(detail=2.0)
    assert FlyThroughConfig(detail=2.0, anchor_scale=2).detail == 2.0
    with pytest.raises(ValueError, match="detail_texture must be one of 'noise', 'photo'"):
        FlyThroughConfig(detail_texture="grain")


def test_the_loop_adds_texture_to_a_wall_it_flies_into(pipe):
    """A grainy wall at depth 4, its anchor at the view's own pixels, flown toward in 9 steps of 1/3:
    at depth 1 the photo is magnified 4x beyond its pixels; detail puts fine contrast back there,
    and the first frames (not magnified yet) are unchanged."""
    K = intrinsics_from_fov(RES, RES, 55.0)
    rgb = _textured(RES, amount=0.4)
    disp = torch.full((1, 1, RES, RES), WALL_DISP)
    canvas = SkyCanvas(rgb=rgb, disparity=disp, K=K, sky_offset=0.0)
    anchor = build_anchor(rgb, disp, K, state_side=RES)
    scene = PreparedScene(rgb=rgb, disparity=disp, sky=torch.zeros_like(disp), K=K, sky_offset=0.0, canvas=canvas, anchor=anchor)
    old = pipe.config
    runs = {}
    try:
        for strength, texture in ((0.0, "noise"), (3.0, "noise"), (3.0, "noise"), (3.0, "photo"), (3.0, "photo")):
            pipe.config = dataclasses.replace(
                old, supersample=1, anchor_scale=1, keep_visible=True, sky_correction=False, detail=strength, detail_texture=texture
            )
            frames = list(pipe.iter_frames(None, 10, scene=scene, trajectory=lambda step: _pose_forward(step / 3.0)))
            runs.setdefault((strength, texture), []).append(np.stack([f.image for f in frames]).astype(np.float32) / 255)
    finally:
        pipe.config = old
    off, on, photo = runs[0.0, "noise"][0], runs[3.0, "noise"][0], runs[3.0, "photo"][0]
    assert np.array_equal(on, runs[3.0, "noise"][1]) and np.array_equal(photo, runs[3.0, "photo"][1])  # deterministic by seed
    assert np.abs(on[:2] - off[:2]).max() < 1e-6  # at z = 1/3 the anchor has 0.92 px per view px: no octave yet

    def fine(x):  # RMS of the difference between neighbouring pixels, in the centre
        c = x[RES // 4 : 3 * RES // 4, RES // 4 : 3 * RES // 4, 0]
        return float(np.sqrt(np.mean(np.diff(c, axis=1) ** 2)))

    # measured: 0.080 with detail, 0.033 without
    assert fine(on[-1]) > 1.5 * fine(off[-1]), (fine(on[-1]), fine(off[-1]))
    # The photo texture: one phase re-anchored at the first camera (which saw the wall at its depth)
    # brings back the photo's own grain; the other, re-anchored nearer, falls back to the noise.
    assert fine(photo[-1]) > 1.5 * fine(off[-1]) and not np.array_equal(photo, on), (fine(photo[-1]), fine(off[-1]))
    with pytest.raises(ValueError, match="detail needs the photo anchor"):
        pipe.config = dataclasses.replace(old, anchor_scale=2, detail=2.0)
        pipe.config.anchor_scale = 0
        try:
            next(pipe.iter_frames(None, 2, scene=scene))
        finally:
            pipe.config = old
