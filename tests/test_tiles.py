"""Tiled refining of frames that are not the refiner's R x R square (``tiles``, ``step.refine``)."""

from __future__ import annotations

import pytest
import torch

from infinitenature import step
from infinitenature.layers import SkyGroundLayers
from infinitenature.models import CoModGenerator, GeneratorConfig
from infinitenature.filters import push_pull_fill
from infinitenature.tiles import refine_tiled, tile_layout, tile_starts, tile_weights

R = 32
CONST = 0.25


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=R, latent_dim=16, mapping_layers=2, f_base=128, f_base_style=64, f_max=16)
    return CoModGenerator(cfg).eval()


def _codes(gen, b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        code = gen.encode_style(torch.rand(b, 4, R, R, generator=g) * 2 - 1)
    return code, torch.randn(b, gen.config.latent_dim, generator=g)


def _frame(h, w, b=1, seed=0, holes=((3, 5), (20, 60))):
    """Random RGBD with square 4x4 holes at the given (top, left) corners."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(b, 3, h, w, generator=g)
    disp = torch.rand(b, 1, h, w, generator=g).clamp(0.01, 1)
    mask = torch.ones(b, 1, h, w)
    for y, x in holes:
        mask[..., y : y + 4, x : x + 4] = 0
    return rgb, disp, mask


class _PlusConst:
    """A fake square refiner: its input, plus ``CONST`` in the holes; counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, rgb, disp, mask):
        assert rgb.shape[-2:] == (R, R) and disp.shape[-2:] == (R, R) and mask.shape[-2:] == (R, R)
        self.calls += 1
        return torch.cat([rgb, disp], 1) + CONST * (1 - mask)


def test_square_frame_is_the_direct_refiner(gen):
    code, z = _codes(gen)
    rgb, disp, mask = _frame(R, R, holes=((8, 8),))
    warped = step.Warped(rgb=rgb, disparity=disp, mask=mask)
    inputs = step.RefinerInputs(global_code=code, z=z, noise="random", generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got, got_d = step.refine(gen, warped, inputs)
        ref = gen.refine(rgb, disp, mask, code, z, noise="random", generator=torch.Generator().manual_seed(3))
    assert torch.equal(got, ref[:, :3]) and torch.equal(got_d, ref[:, 3:4].clamp(0.01, 1))
    # one tile, unpadded: refine_tiled is the refiner too
    with torch.no_grad():
        tiled = refine_tiled(lambda *a: gen.refine(*a, code, z, noise="zero"), rgb, disp, mask, R)
        direct = gen.refine(rgb, disp, mask, code, z, noise="zero")
    assert torch.equal(tiled, direct)


@pytest.mark.parametrize("length", [R, R + 1, R + 8, 40, 64, 80, 2 * R + 3, 100, 4 * R, 8 * R + 12])
def test_tile_starts_cover_with_overlap(length):
    starts = tile_starts(length, R, R // 4)
    assert starts[0] == 0 and starts[-1] == length - R
    assert all(b - a <= R - R // 4 and b > a for a, b in zip(starts, starts[1:]))  # overlap >= R / 4
    covered = torch.zeros(length, dtype=torch.bool)
    for s in starts:
        covered[s : s + R] = True
    assert covered.all()


def test_tile_starts_short_axis_and_bad_sizes():
    assert tile_starts(20, R, 8) == [0]
    for args in ((0, R, 8), (40, 0, 0), (40, R, R), (40, R, -1)):
        with pytest.raises(ValueError):
            tile_starts(*args)
    with pytest.raises(ValueError):
        tile_weights(20, 40, R, 8)
    with pytest.raises(ValueError):
        refine_tiled(_PlusConst(), torch.rand(1, 3, 40, 50), torch.rand(1, 1, 40, 51), torch.ones(1, 1, 40, 50), R)


@pytest.mark.parametrize("size", [(R, R), (40, 80), (R, 3 * R), (100, 70), (2 * R - 1, 4 * R + 5)])
def test_weights_positive_and_sum_to_one(size):
    h, w = size
    layout, weights = tile_weights(h, w, R, R // 4)
    assert layout == tile_layout(h, w, R, R // 4)
    assert weights.shape == (len(layout), R, R) and bool((weights > 0).all()) and bool((weights <= 1).all())
    total = torch.zeros(h, w, dtype=torch.float64)
    for (y, x), wt in zip(layout, weights):
        total[y : y + R, x : x + R] += wt
    assert torch.allclose(total, torch.ones_like(total), atol=1e-12)
    # smooth: neighbouring pixels of a weight differ by little (no step at an overlap's edge)
    assert float(weights.diff(dim=1).abs().max()) < 0.2 and float(weights.diff(dim=2).abs().max()) < 0.2


def test_wide_frame_blend_is_exact_and_seamless():
    h, w = int(1.25 * R), int(2.5 * R)  # 40 x 80: 2 x 3 tiles
    holes = ((0, 0), (2, 30), (18, 14), (20, 38), (36, 76), (10, 60), (30, 50))  # in corners, overlaps, interiors
    rgb, disp, mask = _frame(h, w, b=2, holes=holes)
    for skip in (True, False):
        out = refine_tiled(_PlusConst(), rgb, disp, mask, R, skip_hole_free=skip)
        expected = torch.cat([rgb, disp], 1) + CONST * (1 - mask)
        assert out.shape == (2, 4, h, w)
        assert torch.allclose(out, expected, atol=1e-6)


def test_tiles_without_holes_are_not_run():
    h, w = 40, 80  # tiles at y in {0, 8}, x in {0, 24, 48}
    spy = _PlusConst()
    rgb, disp, mask = _frame(h, w, holes=((20, 2),))  # rows 20-23, cols 2-5: only the x=0 tiles (both rows)
    out = refine_tiled(spy, rgb, disp, mask, R)
    assert spy.calls == 2
    assert torch.allclose(out, torch.cat([rgb, disp], 1) + CONST * (1 - mask), atol=1e-6)
    spy = _PlusConst()
    refine_tiled(spy, rgb, disp, torch.ones_like(mask), R)
    assert spy.calls == 0
    spy = _PlusConst()
    refine_tiled(spy, rgb, disp, mask, R, skip_hole_free=False)
    assert spy.calls == 6
    # a hole just outside a tile (within HOLE_MARGIN) still runs it
    spy = _PlusConst()
    refine_tiled(spy, rgb, disp, _frame(h, w, holes=((20, 17),))[2], R)  # cols 17-20: the x=24 tiles start 4 px to its right
    assert spy.calls == 4


def test_tiles_with_few_holes_are_filled_by_push_pull():
    h, w = 40, 80
    rgb, disp, mask = _frame(h, w, holes=((20, 2),))  # 16 hole pixels in the x=0 tiles only
    spy = _PlusConst()
    out = refine_tiled(spy, rgb, disp, mask, R, few_holes=16)
    assert spy.calls == 0
    x = torch.cat([rgb, disp], 1)
    torch.testing.assert_close(out, push_pull_fill(x, mask))  # the holes: push-pull of the valid pixels
    spy = _PlusConst()
    refine_tiled(spy, rgb, disp, mask, R, few_holes=15)  # one pixel more than allowed: both x=0 tiles run
    assert spy.calls == 2
    spy = _PlusConst()
    refine_tiled(spy, rgb, disp, mask, R, few_holes=16, skip_hole_free=False)  # every tile runs regardless
    assert spy.calls == 6
    with pytest.raises(ValueError, match="few_holes"):
        refine_tiled(spy, rgb, disp, mask, R, few_holes=-1)


def test_hole_seam_gets_the_running_tiles_output():
    """Every pixel within the margin of a hole is painted as if every tile had run."""
    h, w = 40, 80

    def refiner(rgb, disp, mask):  # repaints everything, differently from its input
        return torch.cat([rgb, disp], 1).flip(-1) * 0.5 + 0.1

    for holes in (((20, 26),), ((0, 50),), ((36, 20),), ((10, 18),)):
        rgb, disp, mask = _frame(h, w, holes=holes)
        skipped = refine_tiled(refiner, rgb, disp, mask, R)
        full = refine_tiled(refiner, rgb, disp, mask, R, skip_hole_free=False)
        near = torch.nn.functional.max_pool2d(1 - mask, 13, stride=1, padding=6) > 0
        assert torch.allclose(skipped[near.expand_as(skipped)], full[near.expand_as(full)], atol=1e-6)


@pytest.mark.parametrize("size", [(20, 48), (48, 20), (20, 20), (24, R)])
def test_frame_shorter_than_the_tile_is_padded(size):
    h, w = size
    spy = _PlusConst()
    rgb, disp, mask = _frame(h, w, holes=((2, 3), (h - 4, w - 4)))  # one hole on the bottom-right edge
    out = refine_tiled(spy, rgb, disp, mask, R)
    assert out.shape == (1, 4, h, w)
    assert torch.allclose(out, torch.cat([rgb, disp], 1) + CONST * (1 - mask), atol=1e-6)

    seen = []
    refine_tiled(lambda r, d, m: seen.append(m) or torch.cat([r, d], 1), rgb, disp, mask, R)
    assert len(seen) == len(tile_layout(max(h, R), max(w, R), R, R // 4)) and all(m.shape == (1, 1, R, R) for m in seen)
    # the padding copies the edge's validity: valid beyond the valid edge pixels, a hole beyond the edge hole
    starts_y, starts_x = tile_starts(max(h, R), R, R // 4), tile_starts(max(w, R), R, R // 4)
    padded = torch.zeros(1, 1, max(h, R), max(w, R))
    for m, (y, x) in zip(seen, tile_layout(max(h, R), max(w, R), R, R // 4)):
        padded[..., y : y + R, x : x + R] = m
    assert len(starts_y) == 1 or len(starts_x) == 1
    assert torch.equal(padded[..., :h, :w], mask)
    assert bool((padded[..., h:, : w - 4] == 1).all()) and bool((padded[..., : h - 4, w:] == 1).all())
    assert bool((padded[..., h - 4 :, w - 4 :] == 0).all())


@pytest.mark.parametrize("layering", [step.OneLayer(), SkyGroundLayers(0.02)], ids=["one-layer", "sky-ground"])
@pytest.mark.parametrize("scale", [1, 2])
def test_step_refine_non_square(gen, layering, scale):
    h, w = 40, 64
    code, z = _codes(gen)
    rgb, disp, mask = _frame(h, w, holes=((4, 4), (30, 40), (16, 56)))
    disp[..., :10, :] = 0.01  # a sky band
    warped = step.Warped(rgb=rgb, disparity=disp, mask=mask)

    def run(keep_visible):
        inputs = step.RefinerInputs(global_code=code, z=z, noise="random", generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            return step.paint(gen, warped, inputs, keep_visible=keep_visible, scale=scale, layering=layering)

    for keep_visible in (False, True):
        out_rgb, out_disp, keep, painted = run(keep_visible)
        assert painted and out_rgb.shape == (1, 3, h, w) and out_disp.shape == (1, 1, h, w)
        assert torch.isfinite(out_rgb).all() and torch.isfinite(out_disp).all()
        assert out_rgb.min() >= 0 and out_rgb.max() <= 1 and out_disp.min() >= 0.01 and out_disp.max() <= 1
        again = run(keep_visible)
        assert torch.equal(out_rgb, again[0]) and torch.equal(out_disp, again[1])  # same seed, same frame
    with pytest.raises(ValueError, match="multiple of scale"):
        step.refine(gen, step.Warped(rgb=rgb[..., :39, :], disparity=disp[..., :39, :], mask=mask[..., :39, :]),
                    step.RefinerInputs(global_code=code, z=z), scale=2)
