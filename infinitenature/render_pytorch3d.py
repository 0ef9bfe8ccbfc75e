"""Optional render backend: forward warping with pytorch3d's point rasterizer.

``forward_splat_pytorch3d`` is a drop-in for ``render.forward_splat``: same
inputs, same ``(rgba, disparity, coverage)`` outputs, same "near wins" softmax
weighting. Instead of splatting every point bilinearly into four pixels, it
hands the moved points to pytorch3d's ``rasterize_points``, which returns for
every pixel the (up to) ``points_per_pixel`` nearest-in-z points whose disk of
``radius`` covers the pixel centre; those candidates are blended with the
softmax weights times a smooth radial kernel.

pytorch3d is never imported when ``infinitenature`` is imported; it is looked
up only when this backend runs without an injected ``rasterizer``.

Conventions (docs/CONVENTIONS.md, "pytorch3d NDC"): our camera frame is OpenCV
(x right, y down, z forward) with pixel intrinsics and pixel centres at integer
coordinates; pytorch3d's rasterizer takes NDC points, +X left, +Y up, +Z into
the scene, with the shorter image side spanning ``[-1, 1]``. With
``s = min(H, W)``::

    x_ndc = ((W - 1) - 2 u) / s        y_ndc = ((H - 1) - 2 v) / s        z = z_cam

``opencv_to_ndc`` / ``ndc_to_opencv`` are that map and its inverse; nothing
else in the package knows about NDC. Row 0 of the rasterizer's output is the
top of the image (+Y) and column 0 its left (+X), the same layout as our
``(B, C, H, W)`` images, so its outputs need no flipping.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .splat import SPLAT_EPS, softmax_importance, splat_inputs, warp_pixels

__all__ = [
    "pytorch3d_available",
    "opencv_to_ndc",
    "ndc_to_opencv",
    "forward_splat_pytorch3d",
    "Rasterizer",
    "PYTORCH3D_MISSING",
]

#: The error message when the backend is asked for and pytorch3d does not import.
PYTORCH3D_MISSING = (
    "render backend 'pytorch3d' needs pytorch3d: pip install 'infinitenature[pytorch3d]' (or use backend='torch')"
)

#: ``rasterizer(points, *, image_size, radius, points_per_pixel) -> (idx, zbuf, dists)``
#: with the semantics of ``pytorch3d.renderer.points.rasterize_points`` applied to
#: ``Pointclouds(points=points)``: ``points`` is ``(N, P, 3)`` float32 NDC, every one of
#: the ``P`` points counts (points with ``z < 0`` are skipped), ``image_size`` is
#: ``(H, W)``, ``radius`` a float in NDC units. It returns ``(N, H, W, K)`` tensors:
#: ``idx`` (integer) indices into the *packed* points (``n * P + p``), ``zbuf`` their z
#: and ``dists`` the squared xy distances to the pixel centre, sorted by ascending z,
#: ``-1`` where a pixel has fewer than ``K`` points.
Rasterizer = Callable[..., "tuple[Tensor, Tensor, Tensor]"]


def pytorch3d_available() -> bool:
    """``True`` if pytorch3d and its compiled point rasterizer import."""
    try:
        from pytorch3d.renderer.points import rasterize_points  # noqa: F401  (loads pytorch3d._C)
        from pytorch3d.structures import Pointclouds  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _check_size(height: int, width: int) -> None:
    if int(height) != height or int(width) != width or height < 1 or width < 1:
        raise ValueError(f"image size must be positive integers, got {height}x{width}")


def _pixel_to_ndc(u: Tensor, v: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Pixel coordinates (centres at integers) -> pytorch3d NDC x, y."""
    s = min(height, width)
    return ((width - 1) - 2.0 * u) / s, ((height - 1) - 2.0 * v) / s


def _ndc_to_pixel(x: Tensor, y: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Inverse of ``_pixel_to_ndc``."""
    s = min(height, width)
    return ((width - 1) - s * x) / 2.0, ((height - 1) - s * y) / 2.0


def _points_and_K(points: Tensor, K: Tensor, name: str) -> Tensor:
    if not isinstance(points, Tensor) or points.dim() != 3 or points.shape[-1] != 3:
        got = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"{name} must be an (N, P, 3) tensor, got {got}")
    if not isinstance(K, Tensor) or K.shape[-2:] != (3, 3) or K.dim() not in (2, 3):
        raise ValueError(f"K must be (3, 3) or (N, 3, 3), got {tuple(K.shape) if isinstance(K, Tensor) else K}")
    N = points.shape[0]
    K = K.unsqueeze(0) if K.dim() == 2 else K
    if K.shape[0] not in (1, N):
        raise ValueError(f"K must be (3, 3) or ({N}, 3, 3), got {tuple(K.shape)}")
    return K.to(points).expand(N, 3, 3)


def opencv_to_ndc(points: Tensor, K: Tensor, height: int, width: int) -> Tensor:
    """OpenCV camera-frame points -> pytorch3d NDC points for ``rasterize_points``.

    A point ``X = (x, y, z)`` (x right, y down, z forward) projects to the pixel
    ``(u, v) = (K X)_xy / z`` (pixel centres at integer coordinates, as in
    ``geometry``); with ``s = min(height, width)`` its NDC coordinates are
    ``x_ndc = ((W - 1) - 2u) / s`` (+X left), ``y_ndc = ((H - 1) - 2v) / s``
    (+Y up), and ``z`` stays the camera z (pytorch3d's ``PointsRasterizer`` also
    keeps view-space z, and the rasterizer sorts by it, nearest first). The
    principal point ``((W-1)/2, (H-1)/2)`` maps to ``(0, 0)``; the centre of the
    top-left pixel to ``((W-1)/s, (H-1)/s)``, e.g. ``1 - 1/W`` on a square image.

    Args:
        points: ``(N, P, 3)`` camera-frame points with ``z > 0`` (other points give
            non-finite or meaningless x, y; mask them).
        K: ``(3, 3)`` or ``(N, 3, 3)`` pixel intrinsics with last row ``[0, 0, 1]``.
        height, width: image size in pixels.

    Returns:
        ``(N, P, 3)`` ``(x_ndc, y_ndc, z)``; x in about ``[-W/s, W/s]`` and y in
        about ``[-H/s, H/s]`` for points inside the image.

    Example:
        >>> K = torch.tensor([[10.0, 0, 3.5], [0, 10.0, 3.5], [0, 0, 1]])
        >>> opencv_to_ndc(torch.tensor([[[0.0, 0.0, 2.0], [-0.7, -0.7, 2.0]]]), K, 8, 8)
        tensor([[[0.0000, 0.0000, 2.0000],
                 [0.8750, 0.8750, 2.0000]]])
    """
    _check_size(height, width)
    K = _points_and_K(points, K, "points")
    z = points[..., 2:3]
    uv = (points @ K.transpose(1, 2))[..., :2] / z
    x, y = _pixel_to_ndc(uv[..., 0:1], uv[..., 1:2], height, width)
    return torch.cat([x, y, z], dim=-1)


def ndc_to_opencv(points_ndc: Tensor, K: Tensor, height: int, width: int) -> Tensor:
    """Inverse of ``opencv_to_ndc``: pytorch3d NDC points -> OpenCV camera-frame points.

    ``u = ((W - 1) - s x_ndc) / 2``, ``v = ((H - 1) - s y_ndc) / 2`` with
    ``s = min(height, width)``, then ``X = z K^-1 [u, v, 1]``.

    Args:
        points_ndc: ``(N, P, 3)`` ``(x_ndc, y_ndc, z)`` with ``z`` the camera z.
        K: ``(3, 3)`` or ``(N, 3, 3)`` pixel intrinsics with last row ``[0, 0, 1]``.
        height, width: image size in pixels.

    Returns:
        ``(N, P, 3)`` camera-frame points (x right, y down, z forward).
    """
    _check_size(height, width)
    K = _points_and_K(points_ndc, K, "points_ndc")
    u, v = _ndc_to_pixel(points_ndc[..., 0], points_ndc[..., 1], height, width)
    pix = torch.stack([u, v, torch.ones_like(u)], dim=1)  # (N, 3, P)
    rays = torch.linalg.solve(K, pix).transpose(1, 2)  # (N, P, 3), ray z = 1
    return rays * points_ndc[..., 2:3]


def _pytorch3d_rasterize(points: Tensor, *, image_size: tuple[int, int], radius: float, points_per_pixel: int):
    """pytorch3d's real rasterizer behind the ``Rasterizer`` signature."""
    from pytorch3d.renderer.points import rasterize_points
    from pytorch3d.structures import Pointclouds

    return rasterize_points(
        Pointclouds(points=points), image_size=image_size, radius=radius, points_per_pixel=points_per_pixel
    )


def forward_splat_pytorch3d(
    rgba: Tensor,
    disparity: Tensor,
    rotation: Tensor,
    translation: Tensor,
    K_src: Tensor,
    K_dst: Tensor | None = None,
    *,
    radius: float | None = None,
    points_per_pixel: int = 8,
    weight_range: float = 10.0,
    rasterizer: Rasterizer | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Forward-warp features to another camera with pytorch3d's point rasterizer.

    Every source pixel is moved exactly as in ``render.forward_splat``
    (``X_s = K_src^-1 [u, v, 1] / d``, ``X_t = R X_s + t``, landing at
    ``K_dst X_t``); points behind the target camera (``z_t <= 1e-6``), source
    pixels with non-finite or non-positive disparity, and points that cannot
    reach a pixel centre are dropped. The rest go to the rasterizer in
    pytorch3d NDC (the pixel -> NDC map of ``opencv_to_ndc``), with their
    camera z as NDC z. For each target pixel the rasterizer returns up to
    ``points_per_pixel`` points within ``radius`` of the pixel centre, nearest
    in z first; each candidate ``k`` gets the weight
    ``exp(w_k) * (1 - d_k^2 / radius^2)^2``, where ``w_k`` is the softmax
    exponent of ``forward_splat`` (new-view disparity ``1 / z_t`` mapped per
    image onto ``[-weight_range, weight_range]``, near wins) and ``d_k`` the
    candidate's xy distance to the pixel centre in NDC. Features
    ``[rgba, 1 / z_t]`` are the weighted mean of the candidates (0 where there
    are none); coverage is ``sum_weights / (sum_weights + SPLAT_EPS)`` as in
    ``forward_splat``.

    The rasterizer only *selects* the candidates (it runs without gradient, in
    float32); ``d_k^2`` is recomputed in torch from the candidates' positions,
    so gradients flow to ``rgba`` and to ``disparity`` (through the new-view
    disparity and the landing positions) whatever the rasterizer, also in
    float64. The softmax weights are constants for autograd, as in
    ``forward_splat``. The kernel is smooth and is 0 at ``radius``; with the
    default radius (1.5 px) it also weights the 8 neighbours of a pixel (0.31
    at 1 px, 0.01 at the diagonals), a slight blur compared with
    ``forward_splat``, in return for closing gaps of up to ~3 px where the
    surface stretches. ``radius`` of one pixel (``2 / min(H, W)``) gives no
    blur on an unmoved grid. At most ``points_per_pixel`` candidates count (a
    pixel can have 9 within the default radius; the farthest in z is dropped).

    Args:
        rgba: ``(B, C, H, W)`` features, any ``C`` (typically RGB + alpha in ``[0, 1]``).
        disparity: ``(B, 1, H, W)`` source disparity ``1 / z`` in ``(0, 1]``.
        rotation, translation: ``(B, 3, 3)`` / ``(B, 3)`` (or unbatched),
            ``X_t = R X_s + t``.
        K_src: ``(B, 3, 3)`` or ``(3, 3)`` source intrinsics in pixels.
        K_dst: target intrinsics, same shapes; defaults to ``K_src``.
        radius: point radius in NDC units (one pixel is ``2 / min(H, W)``),
            ``> 0``; default 1.5 pixels, ``3 / min(H, W)``.
        points_per_pixel: candidates kept per pixel, ``>= 1`` (pytorch3d's CUDA
            kernel allows at most 150).
        weight_range: half-width of the softmax exponent range, in ``[0, 80]``.
        rasterizer: a callable with the ``Rasterizer`` signature (pytorch3d's
            ``rasterize_points`` semantics on padded NDC points); default:
            pytorch3d's ``Pointclouds`` + ``rasterize_points`` (``ImportError`` if
            pytorch3d is missing).

    Returns:
        ``(rgba_out, disparity_out, coverage)``: ``(B, C, H, W)`` features,
        ``(B, 1, H, W)`` new-view disparity ``1 / z_t`` (0 where nothing landed)
        and ``(B, 1, H, W)`` coverage in ``[0, 1]``, in ``rgba``'s dtype.
    """
    out_dtype = rgba.dtype
    rgba, disparity, R, t, Ks, Kd = splat_inputs(rgba, disparity, rotation, translation, K_src, K_dst, weight_range)
    B, C, H, W = rgba.shape
    N = H * W
    s = min(H, W)
    radius = 3.0 / s if radius is None else float(radius)
    if not 0.0 < radius < float("inf"):
        raise ValueError(f"radius must be positive (NDC units; one pixel is {2.0 / s:.4g}), got {radius}")
    if int(points_per_pixel) != points_per_pixel or points_per_pixel < 1:
        raise ValueError(f"points_per_pixel must be an integer >= 1, got {points_per_pixel}")
    points_per_pixel = int(points_per_pixel)
    if rasterizer is None:
        if not pytorch3d_available():
            raise ImportError(PYTORCH3D_MISSING)
        rasterizer = _pytorch3d_rasterize

    x, y, new_disp, valid = warp_pixels(disparity, R, t, Ks, Kd)  # (B, 1, N) each
    x_ndc, y_ndc = _pixel_to_ndc(x, y, H, W)
    # Only points whose disk can cover a pixel centre (also drops NaN / inf positions).
    valid = valid & (x_ndc.abs() < (W - 1) / s + radius) & (y_ndc.abs() < (H - 1) / s + radius)
    importance = softmax_importance(new_disp, valid, weight_range)

    # Dropped points become (0, 0, -1): pytorch3d skips points with z < 0.
    z_t = torch.where(valid, 1.0 / new_disp, torch.full_like(new_disp, -1.0))
    ndc = torch.cat([x_ndc, y_ndc, z_t], dim=1).transpose(1, 2)  # (B, N, 3)
    ndc = torch.where(valid.transpose(1, 2), ndc, ndc.new_tensor([0.0, 0.0, -1.0]))
    with torch.no_grad():
        idx, _, _ = rasterizer(
            ndc.detach().float().contiguous(), image_size=(H, W), radius=radius, points_per_pixel=points_per_pixel
        )
    if tuple(idx.shape) != (B, H, W, points_per_pixel):
        raise ValueError(f"rasterizer returned idx of shape {tuple(idx.shape)}, expected {(B, H, W, points_per_pixel)}")
    idx = idx.to(device=rgba.device, dtype=torch.long)
    hit = idx >= 0
    first = torch.arange(B, device=idx.device).reshape(B, 1, 1, 1) * N
    if bool((hit & ((idx < first) | (idx >= first + N))).any()):
        raise ValueError(
            "rasterizer returned point indices outside their image: idx must index the packed points (n * P + p)"
        )
    flat = idx.clamp(min=0).reshape(-1)  # (B*H*W*K,) into the (B*N) packed points

    # Gather the candidates; recompute their squared xy distance to the pixel centre.
    cand_xy = torch.cat([x_ndc, y_ndc], dim=1).transpose(1, 2).reshape(B * N, 2)[flat]
    v, u = torch.meshgrid(
        torch.arange(H, dtype=rgba.dtype, device=rgba.device),
        torch.arange(W, dtype=rgba.dtype, device=rgba.device),
        indexing="ij",
    )
    centre = torch.stack(_pixel_to_ndc(u, v, H, W), dim=-1)  # (H, W, 2)
    d2 = (cand_xy.reshape(B, H, W, points_per_pixel, 2) - centre[None, :, :, None]).square().sum(-1)
    kernel = (1.0 - d2 / (radius * radius)).clamp(min=0.0).square()  # (B, H, W, K)
    hit = hit & valid.reshape(B * N)[flat].reshape(hit.shape)
    weight = torch.where(hit, kernel * importance.reshape(B * N)[flat].reshape(hit.shape), torch.zeros_like(kernel))

    feats = torch.cat([rgba.reshape(B, C, N), new_disp], dim=1).transpose(1, 2).reshape(B * N, C + 1)
    cand = feats[flat].reshape(B, H, W, points_per_pixel, C + 1)
    acc = (cand * weight.unsqueeze(-1)).sum(dim=3).permute(0, 3, 1, 2)  # (B, C+1, H, W)
    total = weight.sum(dim=3).unsqueeze(1)  # (B, 1, H, W)
    out = acc / torch.where(total > 0, total, torch.ones_like(total))
    coverage = total / (total + SPLAT_EPS)
    return out[:, :C].to(out_dtype), out[:, C:].to(out_dtype), coverage.to(out_dtype)
