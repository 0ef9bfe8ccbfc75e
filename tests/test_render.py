import math

import kornia
import pytest
import torch

from infinitenature.geometry import intrinsics_from_fov
from infinitenature.render import RenderResult, edge_alpha, forward_splat, render_step, valid_mask

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _K(size=32, f=40.0):
    c = (size - 1) / 2
    return torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def _texture(B, C, H, W, seed=0, freq=0.4):
    """Smooth, non-periodic-looking texture in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(B, C, 1, 1, generator=g) * 6.28
    u = torch.arange(W).float().reshape(1, 1, 1, W)
    v = torch.arange(H).float().reshape(1, 1, H, 1)
    return 0.5 + 0.25 * torch.sin(freq * u + phase) + 0.2 * torch.cos(0.7 * freq * v + 2 * phase)


def _near_square_scene(H=32, W=32):
    """A blue far plane (disparity 0.2) with a red near square (disparity 0.8) at rows/columns 12-19."""
    rgba = torch.zeros(1, 4, H, W)
    rgba[:, 2] = 1.0  # far plane: blue
    rgba[:, 3] = 1.0
    disp = torch.full((1, 1, H, W), 0.2)
    rgba[:, :, 12:20, 12:20] = torch.tensor([1.0, 0.0, 0.0, 1.0]).reshape(1, 4, 1, 1)  # near square: red
    disp[:, :, 12:20, 12:20] = 0.8
    return rgba, disp


def _yaw(deg):
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])


class TestForwardSplat:
    @pytest.mark.parametrize("device", DEVICES)
    def test_identity(self, device):
        rgba = torch.rand(2, 4, 16, 20, device=device)
        disp = torch.rand(2, 1, 16, 20, device=device) * 0.9 + 0.1
        out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(16).to(device))
        assert out.device.type == device
        torch.testing.assert_close(out, rgba, atol=1e-4, rtol=0)
        torch.testing.assert_close(d, disp, atol=1e-4, rtol=0)
        assert cov.min() > 0.99 and cov.max() <= 1.0

    @pytest.mark.parametrize("shift", [3.0, 2.5, -1.25])
    def test_sideways_translation_shifts_by_f_tx_over_depth(self, shift):
        H = W = 32
        f, depth = 40.0, 2.0
        tx = shift * depth / f  # target pixel = source pixel + f * tx / depth
        rgba = _texture(1, 4, H, W)
        disp = torch.full((1, 1, H, W), 1.0 / depth)
        out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.tensor([tx, 0.0, 0.0]), _K(H, f))
        # Expected: backward linear interpolation of the source at u - shift.
        grid_u = torch.arange(W).float() - shift
        src_u = grid_u.clamp(0, W - 1)
        u0 = src_u.floor().long().clamp(max=W - 2)
        a = src_u - u0
        expected = rgba[..., u0] * (1 - a) + rgba[..., u0 + 1] * a
        lo, hi = int(math.ceil(max(shift, 0))) + 1, W - int(math.ceil(max(-shift, 0))) - 1
        torch.testing.assert_close(out[..., lo:hi], expected[..., lo:hi], atol=1e-4, rtol=0)
        torch.testing.assert_close(d[..., lo:hi], torch.full_like(d[..., lo:hi], 1.0 / depth), atol=1e-5, rtol=0)
        assert cov[..., lo:hi].min() > 0.99
        # The strip uncovered by the move is empty: zero features, zero disparity.
        u = torch.arange(W)
        empty = (u < shift - 1) if shift > 0 else (u > W + shift)
        assert empty.any()
        assert (cov[..., empty] < 1e-6).all() and (d[..., empty] == 0).all() and (out[..., empty] == 0).all()

    def test_occlusion_near_wins(self):
        H = W = 32
        f = 40.0
        rgba, disp = _near_square_scene(H, W)
        # Move right by 0.1: far plane shifts 0.8 px, near square 3.2 px; they overlap.
        tx = 0.1
        out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.tensor([tx, 0.0, 0.0]), _K(H, f))
        square = out[0, :, 13:19, 17:22]  # columns 15.2..22.2 hold the moved square
        torch.testing.assert_close(square[:3], torch.tensor([1.0, 0, 0]).reshape(3, 1, 1).expand_as(square[:3]), atol=1e-4, rtol=0)
        torch.testing.assert_close(d[0, 0, 13:19, 17:22], torch.full((6, 5), 0.8), atol=1e-4, rtol=0)
        # Without the softmax ordering, far content would bleed into the square.
        flat, _, _ = forward_splat(rgba, disp, torch.eye(3), torch.tensor([tx, 0.0, 0.0]), _K(H, f), weight_range=0.0)
        assert flat[0, 2, 13:19, 17:22].max() > 0.1

    def test_pure_rotation_equals_homography(self):
        H = W = 48
        K = _K(H, 50.0)
        rgba = _texture(1, 4, H, W, freq=0.25)
        disp = torch.full((1, 1, H, W), 0.5)
        R = _yaw(4.0) @ _yaw(0.0).T
        R = R @ torch.tensor([[1.0, 0, 0], [0, math.cos(0.03), -math.sin(0.03)], [0, math.sin(0.03), math.cos(0.03)]])
        out, d, cov = forward_splat(rgba, disp, R, torch.zeros(3), K)
        Hmat = (K @ R @ torch.linalg.inv(K)).unsqueeze(0)
        ref = kornia.geometry.transform.warp_perspective(rgba, Hmat, (H, W), align_corners=True)
        ones = kornia.geometry.transform.warp_perspective(torch.ones(1, 1, H, W), Hmat, (H, W), align_corners=True)
        inner = (cov > 0.99) & (ones > 0.999)
        inner = -torch.nn.functional.max_pool2d(-inner.float(), 5, 1, 2) > 0.5  # stay away from the border
        assert inner.float().mean() > 0.6
        err = (out - ref).abs()[inner.expand_as(out)]
        assert err.max() < 0.02
        # Depth is irrelevant for a pure rotation (up to the softmax ordering).
        rand_disp = torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.3
        out2, _, _ = forward_splat(rgba, rand_disp, R, torch.zeros(3), K, weight_range=0.0)
        out3, _, _ = forward_splat(rgba, disp, R, torch.zeros(3), K, weight_range=0.0)
        torch.testing.assert_close(out2, out3, atol=1e-5, rtol=0)

    def test_points_behind_camera_and_nan_are_dropped(self):
        H = W = 16
        rgba = torch.rand(1, 4, H, W)
        disp = torch.full((1, 1, H, W), 0.5)  # depth 2
        out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.tensor([0.0, 0.0, -3.0]), _K(H))
        assert torch.isfinite(out).all() and (out == 0).all() and (cov == 0).all() and (d == 0).all()

        disp = disp.clone().requires_grad_(False)
        disp[..., 5] = float("nan")
        disp[..., 9] = float("inf")
        disp[..., 11] = 0.0
        rgba = rgba.clone().requires_grad_(True)
        disp.requires_grad_(True)
        out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H))
        assert torch.isfinite(out).all() and torch.isfinite(d).all() and torch.isfinite(cov).all()
        for col in (5, 9, 11):
            assert cov[..., col].max() < 0.01
        keep = [c for c in range(W) if c not in (5, 9, 11)]
        torch.testing.assert_close(out[..., keep], rgba[..., keep].detach(), atol=1e-4, rtol=0)
        (out.sum() + d.sum()).backward()
        assert torch.isfinite(rgba.grad).all() and torch.isfinite(disp.grad).all()

    def test_batch_equals_per_item(self):
        B, H, W = 3, 20, 24
        g = torch.Generator().manual_seed(1)
        rgba = torch.rand(B, 4, H, W, generator=g)
        disp = torch.rand(B, 1, H, W, generator=g) * 0.8 + 0.1
        R = torch.stack([_yaw(a) for a in (-3.0, 0.0, 5.0)])
        t = torch.randn(B, 3, generator=g) * 0.1
        K = torch.stack([_K(24, f) for f in (30.0, 35.0, 40.0)])[:, :, :]
        K[:, 1, 2] = (H - 1) / 2
        out, d, cov = forward_splat(rgba, disp, R, t, K)
        for i in range(B):
            o, di, c = forward_splat(rgba[i : i + 1], disp[i : i + 1], R[i], t[i], K[i])
            torch.testing.assert_close(out[i : i + 1], o, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(d[i : i + 1], di, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(cov[i : i + 1], c, atol=1e-6, rtol=1e-6)

    def test_k_dst_changes_the_target_camera(self):
        H = W = 16
        rgba = _texture(1, 3, H, W)
        disp = torch.full((1, 1, H, W), 0.5)
        K_dst = _K(H).clone()
        K_dst[0, 2] += 2.0  # principal point 2 px right -> image shifts 2 px right
        out, _, _ = forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H), K_dst)
        torch.testing.assert_close(out[..., 2:], rgba[..., :-2], atol=1e-4, rtol=0)

    def test_gradients(self):
        H = W = 6
        g = torch.Generator().manual_seed(3)
        rgba = torch.rand(1, 2, H, W, generator=g, dtype=torch.float64, requires_grad=True)
        disp = (torch.rand(1, 1, H, W, generator=g, dtype=torch.float64) * 0.5 + 0.3).requires_grad_(True)
        R = _yaw(2.0).double()
        t = torch.tensor([0.031, -0.017, -0.05], dtype=torch.float64)
        K = _K(H, 8.0).double()
        # With weight_range=0 the softmax weights are constant, so the numerical
        # gradient w.r.t. disparity matches the analytic one.
        fn = lambda a, b: forward_splat(a, b, R, t, K, weight_range=0.0)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (rgba, disp), atol=1e-6)
        out, d, _ = forward_splat(rgba, disp, R, t, K)
        (out.sum() + d.sum()).backward()
        assert rgba.grad.abs().sum() > 0 and disp.grad.abs().sum() > 0

    def test_half_precision_keeps_dtype(self):
        rgba = torch.rand(1, 4, 8, 8, dtype=torch.float16)
        disp = torch.full((1, 1, 8, 8), 0.5, dtype=torch.float16)
        out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(8))
        assert out.dtype == d.dtype == cov.dtype == torch.float16
        torch.testing.assert_close(out, rgba, atol=2e-3, rtol=0)

    def test_errors(self):
        rgba, disp = torch.rand(1, 4, 8, 8), torch.rand(1, 1, 8, 8)
        with pytest.raises(ValueError, match="disparity"):
            forward_splat(rgba, torch.rand(1, 2, 8, 8), torch.eye(3), torch.zeros(3), _K(8))
        with pytest.raises(ValueError, match="rotation"):
            forward_splat(rgba, disp, torch.eye(4), torch.zeros(3), _K(8))
        with pytest.raises(ValueError, match="translation"):
            forward_splat(rgba, disp, torch.eye(3), torch.zeros(4), _K(8))
        with pytest.raises(ValueError, match="K_src"):
            forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), torch.eye(3).expand(2, 3, 3))
        with pytest.raises(ValueError, match="share batch"):
            forward_splat(rgba, torch.rand(1, 1, 8, 9), torch.eye(3), torch.zeros(3), _K(8))
        with pytest.raises(ValueError, match="weight_range"):
            forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(8), weight_range=-1.0)
        with pytest.raises(TypeError, match="rgba"):
            forward_splat(rgba.numpy(), disp, torch.eye(3), torch.zeros(3), _K(8))


class TestEdgeAlphaAndMask:
    def test_edge_alpha_matches_unnormalized_sobel(self):
        disp = torch.zeros(1, 1, 8, 8)
        disp[..., 4:] = 0.5  # vertical step
        alpha = edge_alpha(disp, beta=4.0)
        # Unnormalized Sobel on a step of 0.5: |gx| = (1 + 2 + 1) * 0.5 = 2 next to the edge.
        torch.testing.assert_close(alpha[0, 0, 4, 3], torch.tensor(math.exp(-8.0)), rtol=1e-4, atol=0)
        torch.testing.assert_close(alpha[0, 0, 4, 0], torch.tensor(1.0), atol=1e-5, rtol=0)
        assert alpha.shape == disp.shape and (alpha > 0).all() and (alpha <= 1).all()
        ramp = torch.arange(8.0).reshape(1, 1, 1, 8).expand(1, 1, 8, 8) * 0.01  # unit ramp gives 8x
        torch.testing.assert_close(edge_alpha(ramp, beta=1.0)[..., 3, 3], torch.tensor([[math.exp(-0.08)]]))

    def test_edge_alpha_errors(self):
        with pytest.raises(ValueError, match="beta"):
            edge_alpha(torch.rand(1, 1, 4, 4), beta=-1)
        with pytest.raises(ValueError, match="disparity"):
            edge_alpha(torch.rand(1, 3, 4, 4))

    def test_valid_mask(self):
        alpha = torch.tensor([0.2, 0.5, 0.5, 0.31]).reshape(1, 1, 2, 2)
        cov = torch.tensor([1.0, 0.95, 0.5, 0.91]).reshape(1, 1, 2, 2)
        torch.testing.assert_close(valid_mask(alpha, cov), torch.tensor([0.0, 1.0, 0.0, 1.0]).reshape(1, 1, 2, 2))
        with pytest.raises(ValueError, match="must match"):
            valid_mask(alpha, cov[..., :1])


class TestRenderStep:
    def test_forward_move_opens_holes_at_depth_edges(self):
        H = W = 32
        K = intrinsics_from_fov(H, W)
        rgb = _texture(1, 3, H, W)
        disp = torch.full((1, 1, H, W), 0.1)
        disp[..., 10:22, 10:22] = 0.8  # a near box in front of a far wall
        res = render_step(rgb, disp, torch.eye(3), torch.tensor([0.3, 0.0, 0.0]), K)
        assert isinstance(res, RenderResult)
        assert res.rgb.shape == (1, 3, H, W) and res.mask.shape == res.disparity.shape == (1, 1, H, W)
        assert set(res.mask.unique().tolist()) <= {0.0, 1.0}
        assert res.disparity.min() >= 0.01 and res.disparity.max() <= 1.0
        # The box moves right by f * 0.3 * 0.8 ~ 7.4 px, the wall by 0.9 px: the wall
        # behind the box's old left edge is disoccluded and has no content.
        assert res.coverage[0, 0, 16, 11:17].max() < 1e-6 and res.mask[0, 0, 16, 10:18].max() == 0
        assert res.mask[0, 0, 2:6, 2:6].min() == 1  # far wall, still valid
        assert res.mask[0, 0, 14:18, 20:26].min() == 1  # inside of the moved box, valid
        # The box's soft edges (alpha < 0.3) are holes too.
        assert res.mask[0, 0, 16, 29] == 0

    def test_identity_keeps_everything_but_edges(self):
        rgb, disp = torch.rand(2, 3, 16, 16), torch.full((2, 1, 16, 16), 0.4)
        res = render_step(rgb, disp, torch.eye(3), torch.zeros(3), _K(16))
        assert res.mask.min() == 1
        torch.testing.assert_close(res.rgb, rgb, atol=1e-4, rtol=0)




def test_max_and_min_filters_equal_max_pooling_and_kornia_erosion():
    import kornia

    from infinitenature.filters import max_filter, min_filter

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 19, 27, generator=g)
    x[0, 1, 4:9, 2:5] = float("inf")
    x[1, 2, 0] = float("-inf")
    for r in (1, 2, 3):
        assert torch.equal(max_filter(x, r), torch.nn.functional.max_pool2d(x, 2 * r + 1, stride=1, padding=r))
    m = (torch.rand(1, 1, 40, 33, generator=g) > 0.2).float()
    for r in (1, 3):
        assert torch.equal(min_filter(m, r), kornia.morphology.erosion(m, torch.ones(2 * r + 1, 2 * r + 1)))
    assert max_filter(x, 0) is x and min_filter(x, 0) is x
