import pytest
import torch

from infinitenature.scene import prepare_scene
from infinitenature.skyline import CREST_BAND, crest_disparity, repair_skyline, snap_sky

BLUE, BROWN = torch.tensor([0.3, 0.5, 0.9]), torch.tensor([0.4, 0.3, 0.1])


def _photo(H=40, W=24, skyline=20):
    """Blue sky above row ``skyline``, brown ground below, a little noise."""
    g = torch.Generator().manual_seed(0)
    rows = torch.arange(H).view(H, 1).expand(H, W)
    rgb = torch.where((rows < skyline).unsqueeze(0), BLUE.view(3, 1, 1), BROWN.view(3, 1, 1))
    return (rgb + 0.02 * torch.randn(3, H, W, generator=g)).clamp(0, 1).unsqueeze(0)


def test_snap_sky_moves_a_misplaced_edge_onto_the_colour_edge():
    rgb = _photo()
    mask = torch.zeros(1, 1, 40, 24, dtype=torch.bool)
    mask[..., :17, :12] = True  # three rows short of the skyline (a row of cloud called ground)
    mask[..., :23, 12:] = True  # three rows past it (a row of hilltop called sky)
    snapped = snap_sky(rgb, mask, band=5)
    truth = torch.zeros_like(mask)
    truth[..., :20, :] = True
    assert torch.equal(snapped, truth)
    assert torch.equal(snap_sky(rgb, mask, band=0), mask)  # no band: unchanged
    assert torch.equal(snap_sky(rgb, torch.zeros_like(mask), band=5), torch.zeros_like(mask))  # no sky
    far = torch.zeros_like(mask)
    far[..., :10, :] = True  # ten rows short: beyond the band, only the band moves
    assert torch.equal(snap_sky(rgb, far, band=5)[..., 15:, :], far[..., 15:, :])
    with pytest.raises(ValueError, match="band"):
        snap_sky(rgb, mask, band=-1)


def test_crest_disparity_raises_only_the_band_below_the_sky_to_its_foot():
    H, W = 30, 4
    ramp = torch.linspace(0.0, 1.0, H).view(1, 1, H, 1).expand(1, 1, H, W).clone()  # lower is nearer
    sky = torch.zeros(1, 1, H, W, dtype=torch.bool)
    sky[..., :10, :3] = True  # column 3 has no sky
    out = crest_disparity(ramp, sky, band=5)
    foot = ramp[0, 0, 14, 0]  # 5 rows below the last sky row, 9
    torch.testing.assert_close(out[..., 10:15, :3], torch.full_like(out[..., 10:15, :3], float(foot)))  # rows 10-14: the foot's value
    assert torch.equal(out[..., 15:, :], ramp[..., 15:, :]) and torch.equal(out[..., :10, :], ramp[..., :10, :])
    assert torch.equal(out[..., 3], ramp[..., 3])  # no sky above: unchanged
    assert bool((out >= ramp).all())  # nothing is lowered
    near_top = ramp.clone()
    near_top[..., 10:12, :] = 0.9  # a crest already nearer than its foot stays
    assert torch.equal(crest_disparity(near_top, sky, band=5)[..., 10:12, :3], near_top[..., 10:12, :3])
    assert torch.equal(crest_disparity(ramp, sky, band=0), ramp)
    noisy = ramp + 0.05 * torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(0))
    sky_all = torch.zeros(1, 1, H, W, dtype=torch.bool)
    sky_all[..., :10, :] = True
    crest = crest_disparity(noisy, sky_all, band=5)[..., 10:15, :]
    feet = noisy[..., 14:15, :].expand_as(crest)
    assert float(crest.std(dim=-1).max()) < float(feet.std(dim=-1).max())  # the feet smoothed along the row
    with pytest.raises(ValueError, match="band"):
        crest_disparity(ramp, sky, band=-1)


def test_repair_skyline_returns_a_binary_mask_and_raised_crests():
    rgb = _photo(H=200, W=200, skyline=100)
    prob = torch.zeros(1, 1, 200, 200)
    prob[..., :98, :] = 0.9  # two rows short: within the band, 0.015 x 200 = 3 px
    disp = torch.linspace(0.0, 1.0, 200).view(1, 1, 200, 1).expand(1, 1, 200, 200).clone()
    sky, out = repair_skyline(rgb, disp, prob)
    assert set(sky.unique().tolist()) == {0.0, 1.0} and bool(sky[..., :100, :].all()) and not bool(sky[..., 100:, :].any())
    band = round(CREST_BAND * 200)
    torch.testing.assert_close(out[..., 100 : 100 + band, :], disp[..., 99 + band : 100 + band, :].expand(1, 1, band, 200))
    assert torch.equal(out[..., 100 + band :, :], disp[..., 100 + band :, :])


def test_prepare_scene_with_skyline_repair_gives_the_crest_the_slope_s_disparity():
    img = _photo(H=96, W=128, skyline=40)[0]

    def ramp(x):  # the depth network's habit: the ground fades to the sky's disparity at the skyline
        B, _, H, W = x.shape
        rows = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1) / H
        return (rows - 0.4).clamp_min(0).expand(B, 1, H, W).clone()

    def sky(x):  # four rows short of the skyline (row 160 of 384)
        B, _, H, W = x.shape
        s = torch.zeros(B, 1, H, W)
        s[..., : H * 156 // 384, :] = 1.0
        return s

    plain = prepare_scene(img, ramp, sky, size=96, estimator_side=384)
    fixed = prepare_scene(img, ramp, sky, size=96, estimator_side=384, skyline_repair=True)
    col = 48
    assert int((fixed.sky[0, 0, :, col] > 0.5).sum()) == 40 > int((plain.sky[0, 0, :, col] > 0.5).sum())  # the skyline at row 40
    # the ground just below the skyline: near as the slope, not faded toward the sky
    assert float(fixed.disparity[0, 0, 40, col]) > 1.4 * float(plain.disparity[0, 0, 40, col])
    assert float(fixed.disparity[0, 0, 40, col]) >= float(plain.disparity[0, 0, 41, col])  # as near as the row below
    assert bool((fixed.disparity[0, 0, 40:43, col] >= plain.disparity[0, 0, 40:43, col]).all())
    torch.testing.assert_close(fixed.disparity[..., 50:, :], plain.disparity[..., 50:, :])
