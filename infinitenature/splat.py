"""Where splatted pixels land and how much each weighs: the geometry every render backend shares.

``splat_inputs`` checks and batches a splat's arguments, ``warp_pixels`` moves every
source pixel into the target camera, and ``softmax_importance`` gives the near-wins
weights of softmax splatting. ``render.forward_splat`` (pure PyTorch) and
``render_pytorch3d.forward_splat_pytorch3d`` build on them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .geometry import pixel_grid

__all__ = ["SPLAT_EPS", "Z_EPS", "check_bchw", "batched_matrix", "splat_inputs", "warp_pixels", "softmax_importance"]

#: Added to the summed splatting weight before dividing (as in the reference
#: softmax splatting). With weights ``exp(w)``, ``w`` in ``[-10, 10]``, a pixel
#: that received any noticeable contribution gets coverage ~1.
SPLAT_EPS = 1e-7
#: Points with camera-frame z below this (in scene units) are dropped.
Z_EPS = 1e-6


def check_bchw(x: Tensor, name: str, channels: int | None = None) -> None:
    """``TypeError`` unless ``x`` is a tensor, ``ValueError`` unless it is ``(B, C, H, W)`` (``C = channels`` if given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"{name} must be a {want} tensor, got shape {tuple(x.shape)}")


def batched_matrix(m: Tensor | None, batch: int, size: int, name: str, like: Tensor) -> Tensor:
    """``(size, size)`` or ``(B, size, size)`` -> ``(B, size, size)`` in ``like``'s dtype/device."""
    if not isinstance(m, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(m).__name__}")
    if m.dim() == 2 and m.shape == (size, size):
        m = m.unsqueeze(0)
    if m.dim() != 3 or m.shape[1:] != (size, size) or m.shape[0] not in (1, batch):
        raise ValueError(f"{name} must be ({size}, {size}) or ({batch}, {size}, {size}), got {tuple(m.shape)}")
    return m.to(device=like.device, dtype=like.dtype).expand(batch, size, size)


def splat_inputs(
    rgba: Tensor,
    disparity: Tensor,
    rotation: Tensor,
    translation: Tensor,
    K_src: Tensor,
    K_dst: Tensor | None,
    weight_range: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Argument checks shared by the splatting backends.

    Returns ``(rgba, disparity, R, t, K_src, K_dst)`` in the working dtype
    (float32 for half-precision inputs) on ``rgba``'s device, batched:
    ``(B, C, H, W)``, ``(B, 1, H, W)``, ``(B, 3, 3)``, ``(B, 3)``, ``(B, 3, 3)``,
    ``(B, 3, 3)`` (``K_dst`` defaults to ``K_src``).
    """
    check_bchw(rgba, "rgba")
    check_bchw(disparity, "disparity", 1)
    if disparity.shape[0] != rgba.shape[0] or disparity.shape[2:] != rgba.shape[2:]:
        raise ValueError(
            f"rgba {tuple(rgba.shape)} and disparity {tuple(disparity.shape)} must share batch and size"
        )
    if not 0.0 <= weight_range <= 80.0:
        raise ValueError(f"weight_range must be in [0, 80], got {weight_range}")
    B = rgba.shape[0]
    work = torch.float32 if rgba.dtype in (torch.float16, torch.bfloat16) else rgba.dtype
    rgba = rgba.to(work)
    disparity = disparity.to(work)
    R = batched_matrix(rotation, B, 3, "rotation", rgba)
    if not isinstance(translation, Tensor):
        raise TypeError(f"translation must be a torch.Tensor, got {type(translation).__name__}")
    t = translation.unsqueeze(0) if translation.dim() == 1 else translation
    if t.dim() != 2 or t.shape[1] != 3 or t.shape[0] not in (1, B):
        raise ValueError(f"translation must be (3,) or ({B}, 3), got {tuple(translation.shape)}")
    t = t.to(rgba).expand(B, 3)
    Ks = batched_matrix(K_src, B, 3, "K_src", rgba)
    Kd = Ks if K_dst is None else batched_matrix(K_dst, B, 3, "K_dst", rgba)
    return rgba, disparity, R, t, Ks, Kd


def warp_pixels(
    disparity: Tensor, R: Tensor, t: Tensor, Ks: Tensor, Kd: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Where every source pixel lands: ``K_dst (R K_src^-1 [u, v, 1] / d + t)``.

    Args:
        disparity: ``(B, 1, H, W)``; ``R``, ``t``, ``Ks``, ``Kd`` batched as
            returned by ``splat_inputs``.

    Returns:
        ``(x, y, new_disp, valid)``, each ``(B, 1, H * W)`` in source-pixel order:
        target column and row (pixels), new-view disparity ``1 / z_t``, and
        ``False`` where the disparity is non-finite or ``<= 0`` or the point is
        behind the target camera (``z_t <= 1e-6``). Invalid entries hold safe
        finite values (no NaN reaches the gradient); nothing is checked against
        the image bounds.
    """
    B, _, H, W = disparity.shape
    # Homogeneous form: K_dst X_t = (K_dst R K_src^-1 [u v 1] + d K_dst t) / d, so the
    # target pixel is p_xy / p_z and the new-view disparity is d / p_z with
    # p = M [u v 1] + d k. This works on disparity directly (no 1/d).
    M = Kd @ R @ torch.linalg.inv(Ks)  # (B, 3, 3)
    k = (Kd @ t.unsqueeze(-1))  # (B, 3, 1)
    N = H * W
    grid = pixel_grid(H, W, dtype=disparity.dtype, device=disparity.device).reshape(3, N)  # rows u, v, 1
    d = disparity.reshape(B, 1, N)
    valid = (d > 0) & (d < float("inf"))  # False for NaN too
    d = torch.where(valid, d, torch.ones_like(d))  # safe values, so no NaN reaches the gradient
    p = torch.baddbmm(d * k, M, grid.expand(B, 3, N))  # (B, 3, N)
    z_times_d = p[:, 2:3]  # = z_t * d
    valid = valid & (z_times_d > Z_EPS * d)
    pz = torch.where(valid, z_times_d, torch.ones_like(z_times_d))
    x = p[:, 0:1] / pz  # (B, 1, N) target column
    y = p[:, 1:2] / pz
    new_disp = d / pz  # (B, 1, N) = 1 / z_t
    return x, y, new_disp, valid


def softmax_importance(new_disp: Tensor, valid: Tensor, weight_range: float) -> Tensor:
    """Near-wins splatting weights ``exp(w)`` (no gradient), 0 where not ``valid``.

    ``w`` is the new-view disparity mapped per image linearly onto
    ``[-weight_range, weight_range]`` over the valid points. Shapes ``(B, 1, N)``.
    """
    with torch.no_grad():
        nd = new_disp.detach()
        lo = torch.where(valid, nd, torch.full_like(nd, float("inf"))).amin(dim=2, keepdim=True)
        hi = torch.where(valid, nd, torch.full_like(nd, float("-inf"))).amax(dim=2, keepdim=True)
        lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
        hi = torch.where(torch.isfinite(hi), hi, torch.zeros_like(hi))
        w = (nd - lo) / (hi - lo + 1e-6) * (2.0 * weight_range) - weight_range
        return torch.where(valid, w.clamp(-weight_range, weight_range).exp(), torch.zeros_like(w))
