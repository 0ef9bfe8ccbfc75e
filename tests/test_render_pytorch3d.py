"""The optional pytorch3d render backend.

pytorch3d is usually not installed here, so the backend is driven by
``reference_rasterize``: a brute-force, pure-torch implementation of the
semantics of ``pytorch3d.renderer.points.rasterize_points`` written from
pytorch3d's source (``rasterize_points_python`` and the C++ kernels in
``csrc/rasterize_points``), independent of the package's own NDC code. The
last test compares it with the real rasterizer where pytorch3d imports.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from test_render import _near_square_scene, _texture, _yaw  # shared test scenes and a yaw rotation

import infinitenature.render_pytorch3d as rp3d
from infinitenature import FlyThrough, FlyThroughConfig
from infinitenature.cli import main
from infinitenature.render import RenderResult, check_render_backend, forward_splat, render_step
from infinitenature.render_pytorch3d import (
    PYTORCH3D_MISSING,
    forward_splat_pytorch3d,
    ndc_to_opencv,
    opencv_to_ndc,
    pytorch3d_available,
)

HAVE_PYTORCH3D = pytorch3d_available()
needs_no_pytorch3d = pytest.mark.skipif(HAVE_PYTORCH3D, reason="pytorch3d is installed")


# --------------------------------------------------------------------------- reference
def _pix_to_non_square_ndc(i: torch.Tensor, S1: int, S2: int) -> torch.Tensor:
    """pytorch3d's ``PixToNonSquareNdc``: centre of pixel ``i`` of ``S1`` (other side ``S2``)."""
    ndc_range = 2.0 * S1 / S2 if S1 > S2 else 2.0
    offset = ndc_range / 2.0
    return -offset + (ndc_range * i + offset) / S1


def reference_rasterize(points, *, image_size, radius, points_per_pixel):
    """``rasterize_points(Pointclouds(points=points), image_size, radius, points_per_pixel)``, brute force.

    Output pixel ``(yi, xi)`` has its centre at NDC ``(PixToNonSquareNdc(W-1-xi, W, H),
    PixToNonSquareNdc(H-1-yi, H, W))`` (row 0 = top = +Y, column 0 = left = +X). It keeps
    the ``K`` points with ``z >= 0`` and squared xy distance ``< radius^2`` that are
    nearest in z (ties: lower index first, as the CPU kernel's priority queue does),
    sorted by z; ``idx`` indexes the packed points (``n * P + p``), ``-1`` pads.
    """
    N, P, _ = points.shape
    H, W = image_size
    K = points_per_pixel
    pts = points.double()
    xf = _pix_to_non_square_ndc(W - 1 - torch.arange(W, dtype=torch.float64), W, H)  # (W,)
    yf = _pix_to_non_square_ndc(H - 1 - torch.arange(H, dtype=torch.float64), H, W)  # (H,)
    cx = xf.reshape(1, W).expand(H, W).reshape(1, H * W, 1)
    cy = yf.reshape(H, 1).expand(H, W).reshape(1, H * W, 1)
    d2 = (pts[:, None, :, 0] - cx) ** 2 + (pts[:, None, :, 1] - cy) ** 2  # (N, H*W, P)
    z = pts[:, None, :, 2].expand_as(d2)
    key = torch.where((d2 < radius * radius) & (z >= 0), z, torch.full_like(z, math.inf))
    if P < K:
        pad = torch.full((N, H * W, K - P), math.inf, dtype=key.dtype)
        key, d2 = torch.cat([key, pad], -1), torch.cat([d2, pad], -1)
    order = torch.sort(key, dim=-1, stable=True).indices[..., :K]
    zsel = key.gather(-1, order)
    ok = torch.isfinite(zsel)
    base = torch.arange(N).reshape(N, 1, 1) * P
    idx = torch.where(ok, order + base, torch.full_like(order, -1)).int()
    zbuf = torch.where(ok, zsel, torch.full_like(zsel, -1.0)).float()
    dists = torch.where(ok, d2.gather(-1, order), torch.full_like(zsel, -1.0)).float()
    return tuple(x.reshape(N, H, W, K) for x in (idx, zbuf, dists))


# --------------------------------------------------------------------------- helpers
def _K(H, W=None, f=40.0):
    W = H if W is None else W
    return torch.tensor([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])


def splat(*args, **kwargs):
    kwargs.setdefault("rasterizer", reference_rasterize)
    return forward_splat_pytorch3d(*args, **kwargs)


def _unproject_pixels(u, v, z, K):
    """Camera-frame points (1, P, 3) of pixels (u, v) at depth z."""
    pix = torch.stack([u, v, torch.ones_like(u)], dim=0).double()
    rays = torch.linalg.solve(K.double(), pix)
    return (rays * z).T.unsqueeze(0)


# --------------------------------------------------------------------------- conversion
class TestNdcConversion:
    @pytest.mark.parametrize("size", [(16, 16), (12, 20), (20, 12)])
    def test_round_trip(self, size):
        H, W = size
        g = torch.Generator().manual_seed(0)
        pts = torch.randn(2, 50, 3, generator=g, dtype=torch.float64)
        pts[..., 2] = pts[..., 2].abs() + 0.5
        K = torch.stack([_K(H, W, 30.0), _K(H, W, 25.0)]).double()
        K[1, 0, 1] = 0.3  # skew
        K[1, 0, 2] += 1.7
        ndc = opencv_to_ndc(pts, K, H, W)
        assert ndc.shape == pts.shape
        torch.testing.assert_close(ndc[..., 2], pts[..., 2], atol=0, rtol=0)  # z is the camera z
        torch.testing.assert_close(ndc_to_opencv(ndc, K, H, W), pts, atol=1e-12, rtol=0)
        torch.testing.assert_close(opencv_to_ndc(ndc_to_opencv(ndc, K, H, W), K, H, W), ndc, atol=1e-12, rtol=0)

    @pytest.mark.parametrize("size", [(16, 16), (12, 20), (20, 12)])
    def test_known_points(self, size):
        H, W = size
        s = min(H, W)
        K = _K(H, W, 30.0).double()
        u = torch.tensor([(W - 1) / 2, 0.0, W - 1.0, 0.0, W - 1.0])
        v = torch.tensor([(H - 1) / 2, 0.0, H - 1.0, H - 1.0, 0.0])
        ndc = opencv_to_ndc(_unproject_pixels(u, v, 2.5, K), K, H, W)[0]
        expected = torch.tensor(
            [
                [0.0, 0.0],  # principal point -> NDC origin
                [(W - 1) / s, (H - 1) / s],  # top-left pixel centre: +X left, +Y up
                [-(W - 1) / s, -(H - 1) / s],  # bottom-right
                [(W - 1) / s, -(H - 1) / s],  # bottom-left
                [-(W - 1) / s, (H - 1) / s],  # top-right
            ],
            dtype=torch.float64,
        )
        torch.testing.assert_close(ndc[:, :2], expected, atol=1e-12, rtol=0)
        if H == W:  # the shorter side spans [-1, 1]: the edge pixel centres sit half a pixel in
            torch.testing.assert_close(ndc[1, :2], torch.full((2,), 1 - 1 / W, dtype=torch.float64), atol=1e-12, rtol=0)
        # One pixel is 2 / s NDC units along both axes (square pixels).
        torch.testing.assert_close(ndc[1, 0] - ndc[4, 0], torch.tensor((W - 1) * 2 / s, dtype=torch.float64))

    @pytest.mark.parametrize("size", [(8, 8), (6, 10), (10, 6)])
    def test_pixel_centres_match_the_rasterizer_layout(self, size):
        """Pixel (u, v) maps onto the centre of rasterizer output row v, column u."""
        H, W = size
        K = _K(H, W, 12.0)
        v, u = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
        pts = _unproject_pixels(u.reshape(-1), v.reshape(-1), 3.0, K).float()
        ndc = opencv_to_ndc(pts, K, H, W)
        xf = _pix_to_non_square_ndc(W - 1 - torch.arange(W).float(), W, H)
        yf = _pix_to_non_square_ndc(H - 1 - torch.arange(H).float(), H, W)
        torch.testing.assert_close(ndc[0, :, 0].reshape(H, W), xf.expand(H, W), atol=1e-5, rtol=0)
        torch.testing.assert_close(ndc[0, :, 1].reshape(H, W), yf.reshape(H, 1).expand(H, W), atol=1e-5, rtol=0)
        # so a tiny radius rasterizes every point into exactly its own pixel
        idx, zbuf, dists = reference_rasterize(ndc, image_size=(H, W), radius=0.1 / min(H, W), points_per_pixel=1)
        torch.testing.assert_close(idx[0, ..., 0], torch.arange(H * W).reshape(H, W).int())
        assert (zbuf == 3.0).all() and (dists >= 0).all() and dists.max() < 1e-9

    def test_axes_and_batched_K(self):
        K = _K(16)
        right_down = torch.tensor([[[0.5, 0.5, 2.0]]])
        x, y, _ = opencv_to_ndc(right_down, K, 16, 16)[0, 0]
        assert x < 0 and y < 0  # OpenCV right/down is NDC -X/-Y
        pts = torch.rand(3, 4, 3) + torch.tensor([0.0, 0.0, 1.0])
        Ks = torch.stack([_K(16, f=f) for f in (20.0, 30.0, 40.0)])
        batched = opencv_to_ndc(pts, Ks, 16, 16)
        for i in range(3):
            torch.testing.assert_close(batched[i : i + 1], opencv_to_ndc(pts[i : i + 1], Ks[i], 16, 16))

    def test_errors(self):
        with pytest.raises(ValueError, match="points"):
            opencv_to_ndc(torch.rand(4, 3), _K(8), 8, 8)
        with pytest.raises(ValueError, match="K"):
            opencv_to_ndc(torch.rand(1, 4, 3), torch.eye(4), 8, 8)
        with pytest.raises(ValueError, match="K"):
            ndc_to_opencv(torch.rand(2, 4, 3), torch.eye(3).expand(3, 3, 3), 8, 8)
        with pytest.raises(ValueError, match="image size"):
            opencv_to_ndc(torch.rand(1, 4, 3), _K(8), 0, 8)


class TestReferenceRasterizer:
    def test_semantics(self):
        # Point 0 at the centre of pixel (row 1, col 2) of a 4x4 image, point 1 behind it
        # in z at the same spot, point 2 behind the camera, point 3 far away.
        c = lambda i: float(_pix_to_non_square_ndc(torch.tensor(3.0 - i), 4, 4))  # noqa: E731
        pts = torch.tensor([[[c(2), c(1), 2.0], [c(2), c(1), 5.0], [c(2), c(1), -1.0], [9.0, 9.0, 1.0]]])
        idx, zbuf, dists = reference_rasterize(pts, image_size=(4, 4), radius=0.6, points_per_pixel=3)
        assert idx.shape == zbuf.shape == dists.shape == (1, 4, 4, 3) and idx.dtype == torch.int32
        assert idx[0, 1, 2].tolist() == [0, 1, -1] and zbuf[0, 1, 2].tolist() == [2.0, 5.0, -1.0]
        assert dists[0, 1, 2, :2].tolist() == [0.0, 0.0]
        # one pixel = 0.5 NDC units: the 4 neighbours are hit at squared distance 0.25
        for r, col in ((0, 2), (2, 2), (1, 1), (1, 3)):
            assert idx[0, r, col, 0] == 0 and abs(float(dists[0, r, col, 0]) - 0.25) < 1e-6
        assert idx[0, 0, 1, 0] == -1  # diagonal: 0.5 > 0.36
        assert (idx == 3).sum() == 0 and (idx == 2).sum() == 0


# --------------------------------------------------------------------------- the backend
class TestForwardSplatPytorch3d:
    @pytest.mark.parametrize("size", [(24, 24), (16, 28), (28, 16)])
    def test_identity(self, size):
        H, W = size
        rgba = _texture(2, 4, H, W)
        disp = torch.full((2, 1, H, W), 0.5)
        out, d, cov = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H, W))
        assert out.shape == rgba.shape and d.shape == cov.shape == (2, 1, H, W)
        inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
        torch.testing.assert_close(out[inner], rgba[inner], atol=0.012, rtol=0)  # the 3x3 kernel blurs a little
        torch.testing.assert_close(d, disp, atol=1e-5, rtol=0)
        assert cov.min() > 0.99 and cov.max() <= 1.0

    def test_identity_with_one_pixel_radius_is_exact(self):
        H, W = 16, 20
        g = torch.Generator().manual_seed(0)
        rgba = torch.rand(2, 4, H, W, generator=g)
        disp = torch.rand(2, 1, H, W, generator=g) * 0.9 + 0.1
        out, d, cov = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H, W), radius=2.0 / min(H, W))
        torch.testing.assert_close(out, rgba, atol=1e-4, rtol=0)
        torch.testing.assert_close(d, disp, atol=1e-4, rtol=0)
        assert cov.min() > 0.99

    @pytest.mark.parametrize("shift", [3.0, -2.0, 2.5, -1.25])
    def test_sideways_translation_shifts_by_f_tx_over_depth(self, shift):
        H = W = 32
        f, depth = 40.0, 2.0
        tx = shift * depth / f  # target pixel = source pixel + f * tx / depth
        rgba = _texture(1, 4, H, W)
        disp = torch.full((1, 1, H, W), 1.0 / depth)
        K = _K(H, W, f)
        out, d, cov = splat(rgba, disp, torch.eye(3), torch.tensor([tx, 0.0, 0.0]), K)
        # Analytic: the source sampled at u - shift (linear interpolation).
        src_u = (torch.arange(W).float() - shift).clamp(0, W - 1)
        u0 = src_u.floor().long().clamp(max=W - 2)
        a = src_u - u0
        expected = rgba[..., u0] * (1 - a) + rgba[..., u0 + 1] * a
        lo, hi = int(math.ceil(max(shift, 0))) + 2, W - int(math.ceil(max(-shift, 0))) - 2
        inner = (..., slice(1, -1), slice(lo, hi))
        torch.testing.assert_close(out[inner], expected[inner], atol=0.015, rtol=0)
        ref, _, _ = forward_splat(rgba, disp, torch.eye(3), torch.tensor([tx, 0.0, 0.0]), K)
        torch.testing.assert_close(out[inner], ref[inner], atol=0.015, rtol=0)
        torch.testing.assert_close(d[..., lo:hi], torch.full_like(d[..., lo:hi], 1.0 / depth), atol=1e-5, rtol=0)
        assert cov[..., lo:hi].min() > 0.99
        if shift == int(shift):  # whole pixels: exactly the unmoved render, shifted
            still, _, _ = splat(rgba, disp, torch.eye(3), torch.zeros(3), K)
            n = int(shift)
            moved = out[..., n:] if n > 0 else out[..., :n]
            kept = still[..., :-n] if n > 0 else still[..., -n:]
            torch.testing.assert_close(moved, kept, atol=1e-5, rtol=0)
        # Beyond the radius (1.5 px) of the first landed column nothing landed.
        u = torch.arange(W)
        empty = (u < shift - 1.5) if shift > 0 else (u > W - 1 + shift + 1.5)
        assert empty.any() == (abs(shift) > 1.5)
        assert (cov[..., empty] < 1e-6).all() and (d[..., empty] == 0).all() and (out[..., empty] == 0).all()

    def test_non_square_shift_up(self):
        H, W = 20, 32
        f, depth, shift = 30.0, 2.0, 2.0
        rgba = _texture(1, 3, H, W)
        disp = torch.full((1, 1, H, W), 1.0 / depth)
        ty = shift * depth / f  # +y is down in OpenCV: the image moves down by 2 rows
        out, _, cov = splat(rgba, disp, torch.eye(3), torch.tensor([0.0, ty, 0.0]), _K(H, W, f))
        still, _, _ = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H, W, f))
        torch.testing.assert_close(out[..., 2:, :], still[..., :-2, :], atol=1e-5, rtol=0)
        assert cov[..., 0, :].max() < 1e-6 and cov[..., 2:, :].min() > 0.99

    def test_k_dst_changes_the_target_camera(self):
        H = W = 16
        rgba = _texture(1, 3, H, W)
        disp = torch.full((1, 1, H, W), 0.5)
        K_dst = _K(H).clone()
        K_dst[0, 2] += 2.0  # principal point 2 px right -> image shifts 2 px right
        out, _, _ = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H), K_dst)
        still, _, _ = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H))
        torch.testing.assert_close(out[..., 2:], still[..., :-2], atol=1e-5, rtol=0)

    def test_occlusion_near_wins(self):
        H = W = 32
        f = 40.0
        rgba, disp = _near_square_scene(H, W)
        t = torch.tensor([0.1, 0.0, 0.0])  # far plane shifts 0.8 px, near square 3.2 px: they overlap
        out, d, cov = splat(rgba, disp, torch.eye(3), t, _K(H, W, f))
        square = out[0, :, 13:19, 17:22]  # columns 15.2..22.2 hold the moved square
        red = torch.tensor([1.0, 0, 0]).reshape(3, 1, 1).expand_as(square[:3])
        torch.testing.assert_close(square[:3], red, atol=1e-4, rtol=0)
        torch.testing.assert_close(d[0, 0, 13:19, 17:22], torch.full((6, 5), 0.8), atol=1e-4, rtol=0)
        assert out[0, 2, 2:8, 2:8].min() > 0.999  # the far plane elsewhere
        # With every candidate kept and no softmax ordering, far content bleeds into the square.
        flat, _, _ = splat(rgba, disp, torch.eye(3), t, _K(H, W, f), weight_range=0.0, points_per_pixel=32)
        assert flat[0, 2, 13:19, 17:22].max() > 0.1

    def test_points_behind_camera_and_nan_are_dropped(self):
        H = W = 16
        rgba = torch.rand(1, 4, H, W)
        disp = torch.full((1, 1, H, W), 0.5)  # depth 2
        out, d, cov = splat(rgba, disp, torch.eye(3), torch.tensor([0.0, 0.0, -3.0]), _K(H))
        assert torch.isfinite(out).all() and (out == 0).all() and (cov == 0).all() and (d == 0).all()

        disp = disp.clone()
        disp[..., 5] = float("nan")
        disp[..., 9] = float("inf")
        disp[..., 11] = 0.0
        seen = []

        def spy(points, **kw):
            seen.append(points)
            return reference_rasterize(points, **kw)

        rgba.requires_grad_(True)
        disp.requires_grad_(True)
        out, d, cov = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(H), rasterizer=spy)
        assert torch.isfinite(out).all() and torch.isfinite(d).all() and torch.isfinite(cov).all()
        pts = seen[0].reshape(H, W, 3)
        assert torch.isfinite(pts).all() and (pts[:, [5, 9, 11], 2] == -1).all() and (pts[:, [0, 4, 15], 2] == 2).all()
        (out.sum() + d.sum()).backward()
        assert torch.isfinite(rgba.grad).all() and torch.isfinite(disp.grad).all()
        # With a sub-pixel radius the dropped columns stay empty.
        out, d, cov = splat(rgba.detach(), disp.detach(), torch.eye(3), torch.zeros(3), _K(H), radius=0.9 * 2 / H)
        for col in (5, 9, 11):
            assert cov[..., col].max() < 0.01
        keep = [c for c in range(W) if c not in (5, 9, 11)]
        torch.testing.assert_close(out[..., keep], rgba[..., keep].detach(), atol=1e-4, rtol=0)

    def test_batch_equals_per_item(self):
        B, H, W = 3, 12, 16
        g = torch.Generator().manual_seed(1)
        rgba = torch.rand(B, 4, H, W, generator=g)
        disp = torch.rand(B, 1, H, W, generator=g) * 0.8 + 0.1
        R = torch.stack([_yaw(a) for a in (-3.0, 0.0, 5.0)])
        t = torch.randn(B, 3, generator=g) * 0.1
        K = torch.stack([_K(H, W, f) for f in (15.0, 18.0, 20.0)])
        out, d, cov = splat(rgba, disp, R, t, K)
        for i in range(B):
            o, di, c = splat(rgba[i : i + 1], disp[i : i + 1], R[i], t[i], K[i])
            torch.testing.assert_close(out[i : i + 1], o, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(d[i : i + 1], di, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(cov[i : i + 1], c, atol=1e-6, rtol=1e-6)

    def test_agrees_with_forward_splat_on_a_general_move(self):
        H = W = 32
        rgba = _texture(1, 4, H, W, freq=0.25)
        v = torch.arange(H).float().reshape(1, 1, H, 1)
        disp = (0.2 + 0.5 * v / (H - 1)).expand(1, 1, H, W).contiguous()  # ground-like ramp
        R, t = _yaw(2.0), torch.tensor([0.05, -0.02, 0.1])
        out, d, cov = splat(rgba, disp, R, t, _K(H, W))
        ref, d_ref, cov_ref = forward_splat(rgba, disp, R, t, _K(H, W))
        both = (cov > 0.99) & (cov_ref > 0.99)
        both = -torch.nn.functional.max_pool2d(-both.float(), 5, 1, 2) > 0.5
        assert both.float().mean() > 0.5
        assert (out - ref).abs()[both.expand_as(out)].max() < 0.02
        assert (d - d_ref).abs()[both].max() < 0.01

    def test_gradients(self):
        H = W = 6
        g = torch.Generator().manual_seed(3)
        rgba = torch.rand(1, 2, H, W, generator=g, dtype=torch.float64, requires_grad=True)
        disp = (torch.rand(1, 1, H, W, generator=g, dtype=torch.float64) * 0.5 + 0.3).requires_grad_(True)
        R, t, K = _yaw(2.0).double(), torch.tensor([0.031, -0.017, -0.05], dtype=torch.float64), _K(H, W, 8.0).double()
        fn = lambda a: splat(a, disp.detach(), R, t, K)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (rgba,), atol=1e-6)
        out, d, _ = splat(rgba, disp, R, t, K)
        (out.sum() + d.sum()).backward()
        assert rgba.grad.abs().sum() > 0 and disp.grad.abs().sum() > 0
        assert torch.isfinite(disp.grad).all()

    @pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
    def test_shapes_and_dtypes_match_forward_splat(self, dtype):
        rgba = torch.rand(2, 3, 8, 10).to(dtype)
        disp = torch.full((2, 1, 8, 10), 0.5, dtype=dtype)
        a = splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(8, 10))
        b = forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), _K(8, 10))
        for x, y in zip(a, b):
            assert x.shape == y.shape and x.dtype == y.dtype == dtype and x.device == y.device

    def test_errors(self):
        rgba, disp = torch.rand(1, 4, 8, 8), torch.rand(1, 1, 8, 8)
        args = (rgba, disp, torch.eye(3), torch.zeros(3), _K(8))
        with pytest.raises(ValueError, match="radius"):
            splat(*args, radius=0.0)
        with pytest.raises(ValueError, match="points_per_pixel"):
            splat(*args, points_per_pixel=0)
        with pytest.raises(ValueError, match="disparity"):
            splat(rgba, torch.rand(1, 2, 8, 8), torch.eye(3), torch.zeros(3), _K(8))
        with pytest.raises(ValueError, match="weight_range"):
            splat(*args, weight_range=-1.0)

        def per_cloud(points, **kw):  # indices within each cloud instead of packed ones
            idx, z, d2 = reference_rasterize(points, **kw)
            return torch.where(idx >= 0, idx - idx.new_tensor([0, 64]).reshape(2, 1, 1, 1), idx), z, d2

        with pytest.raises(ValueError, match="packed"):
            two = (torch.rand(2, 4, 8, 8), torch.rand(2, 1, 8, 8) + 0.1, torch.eye(3), torch.zeros(3), _K(8))
            splat(*two, rasterizer=per_cloud)
        with pytest.raises(ValueError, match="idx of shape"):
            splat(*args, rasterizer=lambda p, **kw: tuple(x[..., :2] for x in reference_rasterize(p, **kw)))

    @needs_no_pytorch3d
    def test_missing_pytorch3d_raises_import_error(self):
        with pytest.raises(ImportError) as e:
            forward_splat_pytorch3d(torch.rand(1, 4, 8, 8), torch.rand(1, 1, 8, 8), torch.eye(3), torch.zeros(3), _K(8))
        assert str(e.value) == PYTORCH3D_MISSING
        assert "pip install 'infinitenature[pytorch3d]'" in str(e.value) and "backend='torch'" in str(e.value)


# --------------------------------------------------------------------------- dispatch
class TestBackendSelection:
    def test_render_step_default_is_torch_and_unchanged(self):
        rgb, disp = _texture(1, 3, 16, 16), torch.full((1, 1, 16, 16), 0.4)
        t = torch.tensor([0.05, 0.0, 0.0])
        a = render_step(rgb, disp, torch.eye(3), t, _K(16))
        b = render_step(rgb, disp, torch.eye(3), t, _K(16), backend="torch")
        rgba, d, cov = forward_splat(torch.cat([rgb, torch.ones_like(disp)], 1), disp, torch.eye(3), t, _K(16))
        for name in ("rgb", "disparity", "mask", "coverage", "alpha"):
            assert torch.equal(getattr(a, name), getattr(b, name))
        assert torch.equal(a.rgb, rgba[:, :3]) and torch.equal(a.coverage, cov)

    def test_unknown_backend(self):
        rgb, disp = torch.rand(1, 3, 8, 8), torch.full((1, 1, 8, 8), 0.5)
        with pytest.raises(ValueError, match="'torch', 'pytorch3d'") as e:
            render_step(rgb, disp, torch.eye(3), torch.zeros(3), _K(8), backend="opengl")
        assert "'opengl'" in str(e.value)
        with pytest.raises(ValueError, match="'torch', 'pytorch3d'"):
            check_render_backend("Torch")
        assert check_render_backend("torch") == "torch"

    @needs_no_pytorch3d
    def test_pytorch3d_backend_without_pytorch3d(self):
        rgb, disp = torch.rand(1, 3, 8, 8), torch.full((1, 1, 8, 8), 0.5)
        with pytest.raises(ImportError, match="pip install 'infinitenature\\[pytorch3d\\]'"):
            render_step(rgb, disp, torch.eye(3), torch.zeros(3), _K(8), backend="pytorch3d")
        with pytest.raises(ImportError, match="needs pytorch3d"):
            check_render_backend("pytorch3d")

    def test_pytorch3d_backend_dispatch(self, monkeypatch):
        monkeypatch.setattr(rp3d, "pytorch3d_available", lambda: True)
        monkeypatch.setattr(rp3d, "_pytorch3d_rasterize", reference_rasterize)
        rgb, disp = _texture(1, 3, 16, 16), torch.full((1, 1, 16, 16), 0.4)
        res = render_step(rgb, disp, torch.eye(3), torch.zeros(3), _K(16), backend="pytorch3d")
        assert isinstance(res, RenderResult) and res.mask.min() == 1
        torch.testing.assert_close(res.rgb[..., 1:-1, 1:-1], rgb[..., 1:-1, 1:-1], atol=0.02, rtol=0)
        torch.testing.assert_close(res.disparity, disp, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- pipeline and CLI
def _ramp_depth(image):
    B, _, H, W = image.shape
    return torch.linspace(0.1, 1.0, H).view(1, 1, H, 1).expand(B, 1, H, W).clone()


def _no_sky(image):
    B, _, H, W = image.shape
    return torch.zeros(B, 1, H, W)


def _tiny_pipe(**config):
    from infinitenature.models import CoModGenerator, GeneratorConfig

    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=16, latent_dim=8, mapping_layers=1, f_base=64, f_base_style=32, f_max=8)
    config = FlyThroughConfig(mean_latent_samples=16, **config)
    return FlyThrough(CoModGenerator(cfg), _ramp_depth, _no_sky, config=config)


class TestPipelineAndCli:
    def test_config_rejects_unknown_backend(self):
        with pytest.raises(ValueError, match="render_backend must be one of 'torch', 'pytorch3d', got 'opengl'") as e:
            FlyThroughConfig(render_backend="opengl")
        assert "\n" not in str(e.value)
        assert FlyThroughConfig().render_backend == "torch"

    def test_pipeline_checks_backend_when_run(self, monkeypatch):
        pipe = _tiny_pipe()
        pipe.config.render_backend = "opengl"  # set after construction: caught when the run starts
        with pytest.raises(ValueError, match="'torch', 'pytorch3d'"):
            next(pipe.iter_frames(torch.rand(3, 16, 16), 2))
        pipe.config.render_backend = "pytorch3d"
        if not HAVE_PYTORCH3D:
            with pytest.raises(ImportError, match="needs pytorch3d"):
                next(pipe.iter_frames(torch.rand(3, 16, 16), 2))
        calls = []
        monkeypatch.setattr(rp3d, "pytorch3d_available", lambda: True)
        def counting(points, **kw):
            calls.append(1)
            return reference_rasterize(points, **kw)

        monkeypatch.setattr(rp3d, "_pytorch3d_rasterize", counting)
        out = pipe(torch.rand(3, 16, 16), num_frames=3, progress=False)
        assert out.frames.shape == (3, 16, 16, 3) and len(calls) == 2

    def _photo(self, tmp_path):
        path = tmp_path / "p.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
        return path

    def test_cli_rejects_unknown_backend(self, tmp_path, capsys):
        out = tmp_path / "o.mp4"
        code = main(["fly", str(self._photo(tmp_path)), "-o", str(out), "--render-backend", "opengl", "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("infinitenature fly: error: --render-backend"), err
        assert "must be one of 'torch', 'pytorch3d', got 'opengl'" in err[0] and not out.exists()

    @needs_no_pytorch3d
    def test_cli_pytorch3d_missing_is_one_line(self, tmp_path, capsys):
        out = tmp_path / "o.mp4"
        code = main(["fly", str(self._photo(tmp_path)), "-o", str(out), "--render-backend", "pytorch3d", "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and err == [f"infinitenature fly: error: {PYTORCH3D_MISSING}"] and not out.exists()


# --------------------------------------------------------------------------- real pytorch3d
@pytest.mark.skipif(not HAVE_PYTORCH3D, reason="pytorch3d is not installed")
class TestRealPytorch3d:
    @pytest.mark.parametrize("size", [(16, 16), (12, 20), (20, 12)])
    def test_rasterizer_matches_reference(self, size):
        H, W = size
        g = torch.Generator().manual_seed(0)
        pts = torch.rand(2, 300, 3, generator=g) * torch.tensor([2.0 * W / min(H, W), 2.0 * H / min(H, W), 3.0])
        pts = pts - torch.tensor([W / min(H, W), H / min(H, W), 0.5])  # some z < 0
        r = 2.5 / min(H, W)
        real = rp3d._pytorch3d_rasterize(pts, image_size=(H, W), radius=r, points_per_pixel=40)
        ref = reference_rasterize(pts, image_size=(H, W), radius=r, points_per_pixel=40)
        assert torch.equal(real[0].long(), ref[0].long())  # z values are distinct: no ties
        torch.testing.assert_close(real[1], ref[1])
        torch.testing.assert_close(real[2], ref[2], atol=1e-5, rtol=1e-4)

    @pytest.mark.parametrize("shift", [2.0, 2.5])
    def test_backend_matches_reference_and_forward_splat(self, shift):
        H = W = 32
        f, depth = 40.0, 2.0
        rgba = _texture(1, 4, H, W)
        disp = torch.full((1, 1, H, W), 1.0 / depth)
        t = torch.tensor([shift * depth / f, 0.0, 0.0])
        real = forward_splat_pytorch3d(rgba, disp, torch.eye(3), t, _K(H, W, f), points_per_pixel=16)
        ref = splat(rgba, disp, torch.eye(3), t, _K(H, W, f), points_per_pixel=16)
        for a, b in zip(real, ref):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        torch_out, _, _ = forward_splat(rgba, disp, torch.eye(3), t, _K(H, W, f))
        torch.testing.assert_close(real[0][..., 1:-1, 5:-2], torch_out[..., 1:-1, 5:-2], atol=0.03, rtol=0)
