"""Forward warping of RGBD frames: softmax splatting in plain PyTorch.

The "render" stage of one render-refine-repeat step (see docs/CONVENTIONS.md
and the design notes in ALGORITHM.md):

1. ``edge_alpha``: soft alpha ``exp(-beta |sobel(disp)|)`` so that background can
   show through at depth edges after the camera moves;
2. ``forward_splat``: unproject every pixel with depth ``1 / disp``, move it to
   the target camera, project it, and splat its features bilinearly into the
   four neighbouring target pixels with softmax weights (near wins);
3. ``valid_mask``: ``alpha > 0.3`` and ``coverage > 0.9``; the rest are holes.

``render_step`` runs the three. Everything is batched, differentiable with
respect to the splatted features and the disparity, and runs on whatever
device the inputs live on. No compiled extension is needed.

``render_step(..., backend="pytorch3d")`` replaces step 2 with
``render_pytorch3d.forward_splat_pytorch3d`` (pytorch3d's point rasterizer,
used only where pytorch3d is installed; it is never imported otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
from torch import Tensor

from .filters import min_filter, refill
from .splat import SPLAT_EPS, check_bchw, softmax_importance, splat_inputs, warp_pixels

__all__ = [
    "forward_splat",
    "bilinear_coverage",
    "edge_alpha",
    "valid_mask",
    "render_step",
    "RenderResult",
    "SPLAT_EPS",
    "RENDER_BACKENDS",
    "check_render_backend",
    "soft_keep_mask",
]

#: Names accepted by ``render_step(backend=...)``: ``"torch"`` (``forward_splat``,
#: the default) and ``"pytorch3d"`` (``render_pytorch3d.forward_splat_pytorch3d``).
RENDER_BACKENDS = ("torch", "pytorch3d")


def _check_backend_name(backend: str) -> None:
    if not isinstance(backend, str) or backend not in RENDER_BACKENDS:
        choices = ", ".join(repr(b) for b in RENDER_BACKENDS)
        raise ValueError(f"render backend must be one of {choices}, got {backend!r}")


def check_render_backend(backend: str) -> str:
    """Check that ``backend`` names a render backend that can run here.

    Raises:
        ValueError: ``backend`` is not one of ``RENDER_BACKENDS``.
        ImportError: ``backend`` is ``"pytorch3d"`` and pytorch3d does not import.

    Returns:
        ``backend``, unchanged.
    """
    _check_backend_name(backend)
    if backend == "pytorch3d":
        from .render_pytorch3d import PYTORCH3D_MISSING, pytorch3d_available

        if not pytorch3d_available():
            raise ImportError(PYTORCH3D_MISSING)
    return backend


def _bilinear_corners(x: Tensor, y: Tensor, valid: Tensor, H: int, W: int) -> tuple[Tensor, Tensor, Tensor]:
    """The four target pixels around each landing spot ``(x, y)`` (``(B, 1, N)``).

    Returns ``(corner_w, inside, index)``, each ``(B, 4, N)``: bilinear weights, whether
    the corner is in the image and the point ``valid``, and the flat target index
    (batch offset included; clamped where not ``inside``, so a scatter needs no
    compaction as long as those corners get weight 0).
    """
    B, _, N = x.shape
    x0 = x.detach().floor()
    y0 = y.detach().floor()
    fx = x - x0
    fy = y - y0
    corner_w = torch.cat([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], dim=1)
    cx = torch.cat([x0, x0 + 1, x0, x0 + 1], dim=1)
    cy = torch.cat([y0, y0, y0 + 1, y0 + 1], dim=1)
    inside = (cx >= 0) & (cx <= W - 1) & (cy >= 0) & (cy <= H - 1) & valid
    base = torch.arange(B, device=x.device).reshape(B, 1, 1) * N
    index = (cy.clamp(0, H - 1) * W + cx.clamp(0, W - 1)).long() + base
    return corner_w, inside, index


def _landing_area(x: Tensor, y: Tensor, H: int, W: int) -> Tensor:
    """``(B, 1, N)``: the area, in target pixels, that each source pixel covers where it lands.

    The Jacobian determinant of the warp from finite differences of the landing spots
    ``x``, ``y`` (``(B, 1, H * W)``) along rows and columns. Each axis takes the smaller of
    the backward and forward differences, so a pixel at a depth edge is measured on its
    own surface, not across the jump to its neighbour.
    """
    B = x.shape[0]
    p = torch.cat([x, y], dim=1).reshape(B, 2, H, W)

    def smaller(d: Tensor, dim: int) -> Tensor:  # per pixel, the smaller of the two one-sided differences
        n = d.shape[dim]
        back = torch.cat([d.narrow(dim, 0, 1), d], dim=dim)
        fwd = torch.cat([d, d.narrow(dim, n - 1, 1)], dim=dim)
        # Squared lengths as plain products: linalg.vector_norm over the 2-channel dim was
        # half of the layered render's time on CPU.
        return torch.where((back * back).sum(1, keepdim=True) <= (fwd * fwd).sum(1, keepdim=True), back, fwd)

    # An image one pixel wide (or high) has no differences along that axis: take the unit step.
    du = smaller(p[..., 1:] - p[..., :-1], 3) if W > 1 else p.new_tensor([1.0, 0.0]).view(1, 2, 1, 1).expand_as(p)
    dv = smaller(p[..., 1:, :] - p[..., :-1, :], 2) if H > 1 else p.new_tensor([0.0, 1.0]).view(1, 2, 1, 1).expand_as(p)
    area = (du[:, 0] * dv[:, 1] - du[:, 1] * dv[:, 0]).abs()
    return area.reshape(B, 1, H * W)


def bilinear_coverage(
    values: Tensor, disparity: Tensor, rotation: Tensor, translation: Tensor, K_src: Tensor, K_dst: Tensor | None = None
) -> Tensor:
    """The share of each target pixel that the moved source pixels cover, per channel of ``values``.

    Every source pixel lands where ``forward_splat`` puts it and adds ``value x
    area`` times its bilinear weight to the four target pixels around the spot, with
    ``area`` the target area it covers there (the warp's Jacobian determinant): plain
    sums, no near-wins weighting and no normalisation. With ``values`` the indicator of
    a set of pixels, a target pixel well inside the moved set gets about 1 however
    much the move magnifies or shrinks it, one at its edge about the fraction of it
    that the set covers, one outside 0.

    Args:
        values: ``(B, C, H, W)`` per source pixel (e.g. 0/1 layer indicators).
        disparity, rotation, translation, K_src, K_dst: as in ``forward_splat``.

    Returns:
        ``(B, C, H, W)`` sums, in ``values``' dtype (no gradient).
    """
    values, disparity, R, t, Ks, Kd = splat_inputs(values, disparity, rotation, translation, K_src, K_dst, 0.0)
    x, y, _, valid = warp_pixels(disparity.detach(), R, t, Ks, Kd)
    return _coverage_at(values, x, y, valid)


def _coverage_at(values: Tensor, x: Tensor, y: Tensor, valid: Tensor) -> Tensor:
    """``bilinear_coverage`` from the landing spots ``warp_pixels`` gave (``(B, 1, H * W)`` each)."""
    with torch.no_grad():
        B, C, H, W = values.shape
        x, y = x.detach(), y.detach()
        area = _landing_area(x, y, H, W)
        valid = valid & (x > -1) & (x < W) & (y > -1) & (y < H)
        corner_w, inside, index = _bilinear_corners(x, y, valid, H, W)
        weight = torch.where(inside, corner_w * area, torch.zeros_like(corner_w))
        contrib = (values.reshape(B, C, 1, H * W).transpose(0, 1) * weight.unsqueeze(0)).reshape(C, -1)
        acc = contrib.new_zeros(C, B * H * W).index_add(1, index.reshape(-1), contrib)
        return acc.reshape(C, B, H, W).transpose(0, 1)


def _softmax_sums(
    values: Tensor, disparity: Tensor, R: Tensor, t: Tensor, Ks: Tensor, Kd: Tensor, weight_range: float, layer: Tensor | None = None
) -> Tensor:
    """The scatter behind ``forward_splat`` (inputs as ``splat_inputs`` returns them).

    Every source pixel adds ``[values, new-view disparity, 1]`` times its bilinear corner
    weight times its near-wins softmax weight to the four target pixels around its landing
    spot. With ``layer`` (``(B, 1, H, W)`` bool: the first layer's source pixels) the pixels
    of each layer land in their own copy of the target, and a last row adds each layer's
    ``bilinear_coverage`` (no gradient).

    Returns:
        ``(F, S, B, H, W)``: ``F = C + 2`` sums (``C + 3`` with ``layer``) for ``S = 1`` target
        (2 with ``layer``: the first layer's, then the rest's).
    """
    B, C, H, W = values.shape
    N = H * W
    x, y, new_disp, valid = warp_pixels(disparity, R, t, Ks, Kd)
    valid = valid & (x > -1) & (x < W) & (y > -1) & (y < H)  # also drops NaN / inf positions
    importance = softmax_importance(new_disp, valid, weight_range)
    corner_w, inside, index = _bilinear_corners(x, y, valid, H, W)
    weight = torch.where(inside, corner_w * importance, torch.zeros_like(corner_w))  # (B, 4, N)
    feats = torch.cat([values.reshape(B, C, N), new_disp, torch.ones_like(new_disp)], dim=1)  # (B, C+2, N)
    feats = torch.where(valid, feats, torch.zeros_like(feats))
    # Channel-major (F, B, 4, N) contributions scattered along the pixel axis of a
    # (F, B*H*W) target: the fastest index_add layout on CPU.
    contrib = (feats.transpose(0, 1).unsqueeze(2) * weight.unsqueeze(0)).reshape(C + 2, B * 4 * N)
    if layer is None:
        return contrib.new_zeros(C + 2, B * N).index_add(1, index.reshape(-1), contrib).reshape(C + 2, 1, B, H, W)
    with torch.no_grad():
        area = _landing_area(x.detach(), y.detach(), H, W)
        cover_w = torch.where(inside, corner_w.detach() * area, torch.zeros_like(corner_w))
        index = (index + (~layer.reshape(B, 1, N)).long() * (B * N)).reshape(-1)  # the second layer's copy
    acc = contrib.new_zeros(C + 3, 2 * B * N)
    acc[: C + 2].index_add_(1, index, contrib)
    acc[C + 2 :].index_add_(1, index, cover_w.reshape(1, -1))
    return acc.reshape(C + 3, 2, B, H, W)


def forward_splat(
    rgba: Tensor,
    disparity: Tensor,
    rotation: Tensor,
    translation: Tensor,
    K_src: Tensor,
    K_dst: Tensor | None = None,
    *,
    weight_range: float = 10.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Forward-warp features to another camera with softmax splatting.

    Every source pixel ``(u, v)`` with disparity ``d`` is the camera-frame point
    ``X_s = K_src^-1 [u, v, 1] / d``; it moves to ``X_t = R X_s + t`` and lands
    at ``K_dst X_t``. Its features ``[rgba, 1 / z_t]`` are splatted bilinearly
    into the four neighbouring target pixels, each contribution weighted by
    ``exp(w)`` where ``w`` is the new-view disparity ``1 / z_t`` mapped per image
    linearly onto ``[-weight_range, weight_range]`` (near wins). Each target
    pixel is the weighted sum divided by the summed weights (0 where nothing
    landed). Coverage is a constant 1 splatted as in the reference softmax
    splatting, ``sum_weights / (sum_weights + SPLAT_EPS)``: ~1 where anything
    landed, 0 where nothing did, and below 0.9 only where far content landed
    with a tiny bilinear weight. (The reference also divides the features by
    ``sum_weights + SPLAT_EPS``, which darkens the farthest content by up to
    0.2%; we divide by the exact sum.)

    The exponent is bounded (``exp(10) ~ 2.2e4``), so nothing overflows; the
    computation runs in float32 for half-precision inputs. Points behind the
    target camera (``z_t <= 1e-6``), source pixels with non-finite or
    non-positive disparity, and landing spots outside the image are dropped
    (they contribute nothing and produce no NaN, also in the gradient). The
    softmax weights are treated as constants for autograd (as in the
    reference); gradients flow to ``rgba`` and to ``disparity`` through the
    splatted new-view disparity and the landing positions (bilinear weights).

    Args:
        rgba: ``(B, C, H, W)`` features to move, any ``C`` (typically RGB + alpha
            in ``[0, 1]``).
        disparity: ``(B, 1, H, W)`` source disparity ``1 / z`` in ``(0, 1]``.
        rotation: ``(B, 3, 3)`` or ``(3, 3)``; with ``translation`` it maps
            source-camera points to target-camera points, ``X_t = R X_s + t``
            (``geometry.relative_pose``).
        translation: ``(B, 3)`` or ``(3,)``.
        K_src: ``(B, 3, 3)`` or ``(3, 3)`` source intrinsics in pixels.
        K_dst: target intrinsics, same shapes; defaults to ``K_src``. The output
            has the input's size.
        weight_range: half-width of the softmax exponent range, in ``[0, 80]``;
            0 splats a plain bilinear average (no occlusion ordering).

    Returns:
        ``(rgba_out, disparity_out, coverage)``: ``(B, C, H, W)`` features,
        ``(B, 1, H, W)`` new-view disparity (0 where nothing landed) and
        ``(B, 1, H, W)`` coverage in ``[0, 1]``.

    Example:
        >>> K = torch.tensor([[100.0, 0, 31.5], [0, 100.0, 31.5], [0, 0, 1]])
        >>> rgba, disp = torch.rand(2, 4, 64, 64), torch.full((2, 1, 64, 64), 0.5)
        >>> out, d, cov = forward_splat(rgba, disp, torch.eye(3), torch.zeros(3), K)
        >>> torch.allclose(out, rgba, atol=1e-5), bool((cov > 0.99).all())
        (True, True)
    """
    out_dtype = rgba.dtype
    rgba, disparity, R, t, Ks, Kd = splat_inputs(rgba, disparity, rotation, translation, K_src, K_dst, weight_range)
    C = rgba.shape[1]
    acc = _softmax_sums(rgba, disparity, R, t, Ks, Kd, weight_range)[:, 0].transpose(0, 1)  # (B, C+2, H, W)
    total = acc[:, -1:]
    out = acc[:, : C + 1] / torch.where(total > 0, total, torch.ones_like(total))
    coverage = total / (total + SPLAT_EPS)
    return out[:, :C].to(out_dtype), out[:, C:].to(out_dtype), coverage.to(out_dtype)


def edge_alpha(disparity: Tensor, beta: float = 4.0) -> Tensor:
    """Soft alpha that is low at depth edges: ``exp(-beta * |sobel(disp)|)``.

    Uses ``kornia.filters.sobel(disp, normalized=False)``: the raw 3x3 Sobel
    kernels ``[-1, 0, 1; -2, 0, 2; -1, 0, 1]`` (a unit ramp gives 8), the same
    magnitude as the reference's ``spatial_gradient(normalized=False)``;
    borders are replicate-padded. The square root gets ``eps = 1e-12`` so flat
    regions give alpha ~1 (not ``exp(-beta * 1e-3)`` as with kornia's default
    eps) and the gradient stays finite.

    Args:
        disparity: ``(B, 1, H, W)`` disparity in ``(0, 1]``.
        beta: edge sharpness, ``>= 0`` (4 at inference in the reference).

    Returns:
        ``(B, 1, H, W)`` alpha in ``(0, 1]``.

    Example:
        >>> float(edge_alpha(torch.full((1, 1, 8, 8), 0.5)).min()) > 0.9999
        True
    """
    check_bchw(disparity, "disparity", 1)
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return torch.exp(-beta * kornia.filters.sobel(disparity, normalized=False, eps=1e-12))


def valid_mask(
    alpha: Tensor, coverage: Tensor, *, alpha_threshold: float = 0.3, coverage_threshold: float = 0.9
) -> Tensor:
    """Pixels that a render can be trusted at: ``alpha > 0.3`` and ``coverage > 0.9``.

    Args:
        alpha: ``(B, 1, H, W)`` splatted alpha in ``[0, 1]``.
        coverage: ``(B, 1, H, W)`` coverage from ``forward_splat``.

    Returns:
        ``(B, 1, H, W)`` float mask with values in ``{0, 1}`` (1 = valid).
    """
    check_bchw(alpha, "alpha", 1)
    check_bchw(coverage, "coverage", 1)
    if alpha.shape != coverage.shape:
        raise ValueError(f"alpha {tuple(alpha.shape)} and coverage {tuple(coverage.shape)} must match")
    return ((alpha > alpha_threshold) & (coverage > coverage_threshold)).to(alpha.dtype)


def soft_keep_mask(mask: Tensor, *, scale: int = 1) -> Tensor:
    """Valid-pixel mask shrunk by ``scale`` pixels and feathered (Gaussian, sigma ``scale``).

    The compositing weights of ``keep_visible`` (``FlyThroughConfig`` and cyclic
    training with ``cycle_keep_visible``): ``keep * warped + (1 - keep) * refined``.

    Args:
        mask: ``(B, 1, H, W)`` in {0, 1}, 1 = the warped pixel is valid.
        scale: pixels of ``mask`` per refiner pixel (``FlyThroughConfig.supersample``),
            so that the seam is as wide in the output frames at every setting.

    Returns:
        ``(B, 1, H, W)`` weights in [0, 1] for the warped frame (1 - weight for the refiner).
    """
    shrunk = min_filter(mask, scale)
    k = 4 * scale + 1
    return kornia.filters.gaussian_blur2d(shrunk, (k, k), (float(scale), float(scale)), border_type="replicate").clamp(0, 1) * shrunk


@dataclass
class RenderResult:
    """Output of ``render_step``; all tensors share the batch and size of the input.

    Attributes:
        rgb: ``(B, 3, H, W)`` warped colours in ``[0, 1]`` (0 where nothing landed;
            not multiplied by ``mask``).
        disparity: ``(B, 1, H, W)`` warped disparity clamped to ``[0.01, 1]``.
        mask: ``(B, 1, H, W)`` float ``{0, 1}``, 1 = valid pixel, 0 = hole.
        coverage: ``(B, 1, H, W)`` splat coverage in ``[0, 1]``.
        alpha: ``(B, 1, H, W)`` warped edge alpha in ``[0, 1]``.
        features: ``(B, F, H, W)`` the extra per-pixel features ``render_step`` was
            given, warped the same way (``None`` when it was given none).
    """

    rgb: Tensor
    disparity: Tensor
    mask: Tensor
    coverage: Tensor
    alpha: Tensor
    features: Tensor | None = None


def _splat_layers(
    moved: Tensor, disparity: Tensor, ground: Tensor, R: Tensor, t: Tensor, K: Tensor, weight_range: float = 10.0
) -> tuple[Tensor, Tensor]:
    """``forward_splat`` of ``moved`` with the ground's and the sky's source pixels kept apart.

    One scatter: every source pixel lands in its own layer's copy of the target, so each
    copy holds the softmax-weighted sums of that layer alone, as if it had been splatted
    by itself with the weights of the joint splat (``forward_splat``'s near-wins mapping
    over all valid points), plus the layer's ``bilinear_coverage`` in the same pass.

    Args:
        moved: ``(B, C, H, W)`` values to move; ``disparity`` ``(B, 1, H, W)``;
        ground: ``(B, 1, H, W)`` bool, the source pixels of the ground layer (the rest are
            the sky's); ``R``, ``t``, ``K``: as in ``forward_splat`` (one ``K`` for both views).

    Returns:
        ``(sums, coverage)``: ``(B, 2, C + 3, H, W)`` per layer (ground, then sky) the
        weighted sums of ``moved`` and of the new-view disparity (``C + 1`` channels), the
        summed weight, and the layer's coverage (no gradient); ``(B, 1, H, W)``
        ``forward_splat``'s coverage of both layers together.
    """
    moved, disparity, R, t, Ks, Kd = splat_inputs(moved, disparity, R, t, K, None, weight_range)
    C = moved.shape[1]
    sums = _softmax_sums(moved, disparity, R, t, Ks, Kd, weight_range, layer=ground).permute(2, 1, 0, 3, 4)
    total = sums[:, :, C + 1].sum(dim=1, keepdim=True)
    return sums, total / (total + SPLAT_EPS)


def _splat_layers_generic(
    splat, moved: Tensor, disparity: Tensor, ground: Tensor, R: Tensor, t: Tensor, K: Tensor
) -> tuple[Tensor, Tensor]:
    """``_splat_layers`` through any backend's ``splat(values, disparity, R, t, K)``.

    Each layer's indicator, its values and its new-view disparity are splatted as channels
    of one joint splat (so they share its weights), and the coverage is ``bilinear_coverage``.
    Returns the same ``(sums, coverage)``, the sums scaled by the joint splat's total
    weight (``_pick_layer`` only uses their ratios) and the coverage the backend's.
    """
    d, R_, t_, Ks, Kd = splat_inputs(disparity, disparity, R, t, K, None, 0.0)[1:]
    x, y, new_disp, valid = warp_pixels(d.detach(), R_, t_, Ks, Kd)
    B, C, H, W = moved.shape
    g = ground.to(moved.dtype)
    new_disp = new_disp.reshape(B, 1, H, W).to(moved.dtype)
    layers = [torch.cat([m * moved, m * new_disp, m], dim=1) for m in (g, 1 - g)]
    sums, _, coverage = splat(torch.cat(layers, dim=1), disparity, R, t, K)
    cover = _coverage_at(torch.cat([g, 1 - g], dim=1), x, y, valid).reshape(B, 2, 1, H, W)
    return torch.cat([sums.reshape(B, 2, C + 2, H, W), cover], dim=2), coverage


def _pick_layer(sums: Tensor, sky_level: float) -> tuple[Tensor, Tensor, Tensor]:
    """``render_step``'s two layers from ``_splat_layers``' sums: ``(values, disparity, alpha)``.

    Each target pixel is the softmax-weighted mean of the layer that covers it: the ground
    takes a pixel where the moved ground covers at least half of it, or more of it than the
    moved sky does (``bilinear_coverage``): where the ground moved over the sky it covers
    about all of it; at the edge the boundary sits where the bilinear footprints put it.
    (Deciding by the share of the near-wins softmax weight instead gave every pixel that a
    ground pixel's footprint touched to the ground: the skyline rose by a fraction of a pixel
    at every step.) ``values`` are ``(B, C, H, W)``, ``disparity`` ``(B, 1, H, W)``; ``alpha``
    is channel 3 of ``values`` averaged over both layers together (it only decides the mask).
    """
    c = sums.shape[2] - 3
    weight, cover = sums[:, :, c + 1 : c + 2], sums[:, :, c + 2 :]
    mean = sums[:, :, : c + 1] / weight.clamp_min(1e-30)
    front = (cover[:, 0] >= 0.5) | (cover[:, 0] > cover[:, 1])
    picked = torch.where(front, mean[:, 0], mean[:, 1])
    # A turn changes the sky's planar disparity (1 / z of a point off the optical axis) by up
    # to a few tenths of a percent, which lifts sky pixels just above the sky's level: the sky
    # stays below it (by a hair, so that rounding in later blends cannot lift it either).
    disp = torch.where(front, picked[:, c:], picked[:, c:].clamp_max(sky_level * (1 - 1e-4)))
    total = weight.sum(dim=1)
    alpha = sums[:, :, 3:4].sum(dim=1) / torch.where(total > 0, total, torch.ones_like(total))
    return picked[:, :c], disp, alpha


def render_step(
    rgb: Tensor,
    disparity: Tensor,
    rotation: Tensor,
    translation: Tensor,
    K: Tensor,
    *,
    beta: float = 4.0,
    backend: str = "torch",
    features: Tensor | None = None,
    sky_level: float | None = None,
) -> RenderResult:
    """The render stage of one step: edge alpha, splat RGBA + disparity, valid mask.

    The edge alpha is computed from the detached disparity (the reference does
    the same); the warp itself is differentiable.

    With ``sky_level``, the sky (disparity at or below it) and the ground are splatted
    as two layers that never mix (``layers.py``): each target pixel takes the layer
    that covers it (``_pick_layer``, by ``bilinear_coverage``) and is the
    softmax-weighted mean of that layer alone, colour, disparity and features alike
    (the torch backend scatters each layer into its own copy of the target in one pass,
    ``_splat_layers``; others splat both as channels of one splat). The edge alpha (which only decides the mask) is computed with the sky's disparity
    refilled from the ground's (``filters.refill``): the skyline is where two layers
    meet, not a depth edge, so it opens no holes (it did, and the refiner repainted
    them a little above the sky's disparity, as ground: ``layers.py``).

    Args:
        rgb: ``(B, 3, H, W)`` current frame in ``[0, 1]``.
        disparity: ``(B, 1, H, W)`` current disparity in ``(0, 1]``.
        rotation, translation: ``(B, 3, 3)`` / ``(B, 3)`` (or unbatched) relative
            pose, ``X_next = R X_current + t``.
        K: ``(B, 3, 3)`` or ``(3, 3)`` intrinsics, shared by both views.
        beta: edge-alpha sharpness (``edge_alpha``).
        backend: ``"torch"`` (``forward_splat``, the default) or ``"pytorch3d"``
            (``render_pytorch3d.forward_splat_pytorch3d`` with its defaults; needs
            pytorch3d, else ``ImportError``). Other values raise ``ValueError``.
        features: optional ``(B, F, H, W)`` extra per-pixel values (any range) that
            move with the pixels (splatted with the same weights as the colour).
        sky_level: splat sky and ground as two layers (above); ``None`` = one layer, as
            in the reference (training uses that).

    Returns:
        ``RenderResult`` for the next camera.
    """
    _check_backend_name(backend)
    check_bchw(rgb, "rgb", 3)
    check_bchw(disparity, "disparity", 1)
    if features is not None and (features.dim() != 4 or features.shape[0] != rgb.shape[0] or features.shape[-2:] != rgb.shape[-2:]):
        raise ValueError(f"features must be (B, F, H, W) like rgb {tuple(rgb.shape)}, got {tuple(features.shape)}")
    if backend == "pytorch3d":
        from .render_pytorch3d import forward_splat_pytorch3d as splat
    else:
        splat = forward_splat
    edges = disparity.detach()
    if sky_level is not None:  # the skyline is no depth edge between layers (docstring)
        edges = refill(edges, edges <= sky_level, edges > sky_level)
    alpha = edge_alpha(edges, beta)
    parts = [rgb, alpha.to(rgb.dtype)] + ([] if features is None else [features.to(rgb.dtype)])
    moved = torch.cat(parts, dim=1)
    if sky_level is None:
        rgba, disp, coverage = splat(moved, disparity, rotation, translation, K)
        warped_alpha = rgba[:, 3:4]
    else:
        ground = disparity.detach() > sky_level
        if backend == "torch":
            sums, coverage = _splat_layers(moved, disparity, ground, rotation, translation, K)
        else:
            sums, coverage = _splat_layers_generic(splat, moved, disparity, ground, rotation, translation, K)
        rgba, disp, warped_alpha = _pick_layer(sums, sky_level)
    return RenderResult(
        rgb=rgba[:, :3],
        disparity=disp.clamp(0.01, 1.0),
        mask=valid_mask(warped_alpha, coverage),
        coverage=coverage,
        alpha=warped_alpha,
        features=None if features is None else rgba[:, 4:],
    )
