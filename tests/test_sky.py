import math

import pytest
import torch

from infinitenature.geometry import intrinsics_from_fov, shift_principal_point
from infinitenature.sky import SkyBlendResult, SkyCanvas, continue_sky, sky_blend

SIZE, MARGIN = 32, 8
SKY = 0.01


def _canvas(sky_offset=SKY, sky_rows=20):
    """A 48x48 canvas: sky (disparity 0.01) in the top rows, ground below.

    Red encodes the canvas column, green the row, so a warp is easy to read.
    """
    Hc = Wc = SIZE + 2 * MARGIN
    v, u = torch.meshgrid(torch.arange(Hc).float(), torch.arange(Wc).float(), indexing="ij")
    rgb = torch.stack([u / Wc, v / Hc, torch.full_like(u, 0.7)]).unsqueeze(0)
    disp = torch.where(v < sky_rows, torch.full_like(v, SKY), torch.full_like(v, 0.5)).reshape(1, 1, Hc, Wc)
    K = intrinsics_from_fov(SIZE, SIZE)
    return SkyCanvas(rgb=rgb, disparity=disp, K=shift_principal_point(K, MARGIN, MARGIN), sky_offset=sky_offset), K


def _turn_right(deg):
    """World-to-camera rotation of a camera at the origin yawed right by ``deg``."""
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])


def test_identity_rotation_returns_the_canvas_crop_in_the_sky():
    canvas, K = _canvas()
    crop_rgb = canvas.rgb[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
    rgb = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    disp = torch.full((1, 1, SIZE, SIZE), SKY)  # the refined frame is all sky
    res = sky_blend(rgb, disp, canvas, torch.eye(3), K)
    assert isinstance(res, SkyBlendResult) and res.weight.shape == (1, 1, SIZE, SIZE)
    # Canvas sky ends at canvas row 20 = crop row 12; erosion (3) + blur (2) keep rows < 7 at weight 1.
    full = res.weight[0, 0] > 1 - 1e-6
    assert full[:7].all() and not full[12:].any()
    torch.testing.assert_close(res.rgb[..., :7, :], crop_rgb[..., :7, :], atol=1e-5, rtol=0)
    torch.testing.assert_close(res.disparity[..., :7, :], torch.full((1, 1, 7, SIZE), SKY), atol=1e-6, rtol=0)
    # Below the canvas sky nothing changes.
    torch.testing.assert_close(res.rgb[..., 12:, :], rgb[..., 12:, :])
    assert 0.15 < res.fraction < 12 / SIZE


def test_blend_only_where_refined_disparity_is_sky():
    canvas, K = _canvas()
    rgb = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    disp = torch.full((1, 1, SIZE, SIZE), SKY)
    disp[..., 0:6, 10:20] = 0.6  # a bird / a tree top in the refined frame
    res = sky_blend(rgb, disp, canvas, torch.eye(3), K)
    torch.testing.assert_close(res.rgb[..., 0:6, 10:20], rgb[..., 0:6, 10:20])
    torch.testing.assert_close(res.disparity[..., 0:6, 10:20], disp[..., 0:6, 10:20])
    assert (res.weight[..., 0:6, 10:20] == 0).all() and (res.weight[..., 0:6, 0:8] > 0.99).all()


def test_rotation_moves_the_sky_by_the_homography():
    canvas, K = _canvas()
    deg = 5.0
    rgb = torch.zeros(1, 3, SIZE, SIZE)
    disp = torch.full((1, 1, SIZE, SIZE), SKY)
    res = sky_blend(rgb, disp, canvas, _turn_right(deg), K)
    # Turning right by a: the view centre sees canvas column cx_c + f tan a (row unchanged).
    f, cx = float(K[0, 0]), float(K[0, 2])
    expected_col = cx + MARGIN + f * math.tan(math.radians(deg))
    c = SIZE // 2
    got_col = float(res.rgb[0, 0, 2, c - 1 : c + 1].mean()) * (SIZE + 2 * MARGIN)  # centre is between pixels
    assert abs(got_col - expected_col) < 0.1
    # Batched rotations equal single calls.
    R = torch.stack([torch.eye(3), _turn_right(deg)])
    batch = sky_blend(rgb.expand(2, -1, -1, -1), disp.expand(2, -1, -1, -1), canvas, R, K)
    torch.testing.assert_close(batch.rgb[1:], res.rgb)


def test_a_camera_turned_away_gets_no_mirrored_sky_and_no_nan():
    """A homography maps the ray opposite to one the first camera saw onto the same canvas
    pixel: turned 180 degrees the view would get the canvas sky mirrored. Turned 90 degrees
    the view's centre column lies in the first camera's image plane, where the warp divides
    by zero (NaN, which ended a 1,000-frame flight)."""
    canvas, K = _canvas()
    rgb = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    disp = torch.full((1, 1, SIZE, SIZE), SKY)
    back = sky_blend(rgb, disp, canvas, _turn_right(180.0), K)
    assert back.fraction == 0.0 and torch.equal(back.rgb, rgb)
    side = sky_blend(rgb, disp, canvas, _turn_right(90.0), K)
    assert all(bool(torch.isfinite(x).all()) for x in (side.rgb, side.disparity, side.weight))
    assert side.fraction == 0.0  # the left half of the view looks behind, the right half off the canvas


def test_no_sky_is_graceful():
    canvas, K = _canvas(sky_offset=0.0)
    rgb, disp = torch.rand(2, 3, SIZE, SIZE), torch.full((2, 1, SIZE, SIZE), SKY)
    res = sky_blend(rgb, disp, canvas, torch.eye(3), K)
    assert res.fraction == 0.0 and (res.weight == 0).all()
    assert torch.equal(res.rgb, rgb) and torch.equal(res.disparity, disp)
    # Looking far away from the canvas: no coverage, no blend, no NaN.
    canvas, K = _canvas()
    res = sky_blend(rgb, disp, canvas, _turn_right(80.0), K)
    assert res.fraction == 0.0 and torch.isfinite(res.rgb).all()
    # A canvas without sky (all ground) blends nothing either.
    canvas, K = _canvas(sky_rows=0)
    res = sky_blend(rgb, disp, canvas, torch.eye(3), K)
    assert res.fraction == 0.0 and torch.equal(res.rgb, rgb)


def test_errors():
    canvas, K = _canvas()
    rgb, disp = torch.rand(1, 3, SIZE, SIZE), torch.full((1, 1, SIZE, SIZE), SKY)
    with pytest.raises(ValueError, match="rgb"):
        sky_blend(rgb[:, :2], disp, canvas, torch.eye(3), K)
    with pytest.raises(ValueError, match="disparity"):
        sky_blend(rgb, disp[..., :5], canvas, torch.eye(3), K)
    with pytest.raises(TypeError, match="SkyCanvas"):
        sky_blend(rgb, disp, {"rgb": rgb}, torch.eye(3), K)
    with pytest.raises(ValueError, match="rotation"):
        sky_blend(rgb, disp, canvas, torch.eye(4), K)
    with pytest.raises(ValueError, match="erode"):
        sky_blend(rgb, disp, canvas, torch.eye(3), K, erode=4)
    with pytest.raises(ValueError, match="canvas disparity"):
        SkyCanvas(rgb=canvas.rgb, disparity=canvas.disparity[..., :3], K=canvas.K, sky_offset=0.01)



def test_a_continued_canvas_gives_the_sky_behind_the_ground_to_every_sky_pixel():
    canvas, K = _canvas(sky_offset=SKY + 1e-4)
    # the canvas's skyline row holds a mixed colour: half ground
    canvas.rgb[..., 19, :] = 0.5 * canvas.rgb[..., 18, :] + 0.5 * torch.tensor([0.4, 0.3, 0.1]).view(1, 3, 1)
    cont = continue_sky(canvas, margin=2)
    assert cont.continued and cont.projection == canvas.projection and torch.equal(cont.K, canvas.K)
    assert bool((cont.disparity <= canvas.sky_offset).all())
    torch.testing.assert_close(cont.rgb[..., :17, :], canvas.rgb[..., :17, :])  # the clean sky as it was
    # behind the ground (and on the trimmed skyline): the clean sky's colour, blue 0.7, not the ground's
    torch.testing.assert_close(cont.rgb[:, 2, 17:], torch.full_like(cont.rgb[:, 2, 17:], 0.7))
    assert float(cont.rgb[:, 1, 18:].max()) <= float(canvas.rgb[:, 1, :18].max()) + 1e-6  # within the clean sky's greens
    # every sky pixel of the frame takes it, also where the canvas showed ground (rows 12 and below)
    rgb = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    disp = torch.full((1, 1, SIZE, SIZE), SKY)
    disp[..., 24:, :] = 0.5
    res = sky_blend(rgb, disp, cont, torch.eye(3), K)
    assert bool((res.weight[..., :24, :] == 1).all()) and bool((res.weight[..., 24:, :] == 0).all())
    torch.testing.assert_close(res.rgb[..., :24, :], cont.rgb[..., MARGIN : MARGIN + 24, MARGIN:-MARGIN])
    plain = sky_blend(rgb, disp, canvas, torch.eye(3), K)
    assert bool((plain.weight[..., 12:, :] == 0).all())  # without it those pixels keep what they had
    assert continue_sky(_canvas(sky_offset=0.0)[0]) is not None and not continue_sky(_canvas(sky_offset=0.0)[0]).continued
    moved = cont.to(dtype=torch.float64)
    assert moved.continued and moved.rgb.dtype == torch.float64
    with pytest.raises(ValueError, match="margin"):
        continue_sky(canvas, margin=-1)
