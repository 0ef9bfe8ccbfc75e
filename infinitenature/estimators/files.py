"""User-given disparity, depth and sky maps as estimators.

When a user already has a depth map (from a phone, a renderer, another tool)
or a hand-painted sky mask, these wrap it in the estimator protocols: the map is
resized to whatever image the pipeline passes in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from .base import MAP_SUFFIXES, check_image, resize
from .normalize import depth_to_disparity

__all__ = ["read_map", "DepthFromArray", "SkyFromArray"]


def read_map(path: str | Path) -> np.ndarray:
    """Read a ``.npy`` or image file as a float32 ``(H, W)`` map.

    Integer images are scaled to ``[0, 1]`` by their type's maximum (8- and
    16-bit PNGs); colour images are averaged over channels (alpha dropped).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no map file at {p}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arr = np.load(p, allow_pickle=False)
    elif suffix in MAP_SUFFIXES:
        import imageio.v3 as iio

        arr = np.asarray(iio.imread(p))
        if arr.ndim == 3 and arr.shape[-1] in (2, 4):
            arr = arr[..., :-1]  # drop alpha
        arr = _to_float(arr, str(p))
        if arr.ndim == 3 and arr.shape[-1] in (1, 3):
            arr = arr.mean(-1)
    else:
        raise ValueError(f"cannot read a map from {p.name}: expected one of {', '.join(MAP_SUFFIXES)}")
    return _to_float(arr, str(p))


def _to_float(arr: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr / float(np.iinfo(arr.dtype).max)
    elif not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name}: expected a numeric map, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_maps(value: str | Path | np.ndarray | Tensor, name: str) -> Tensor:
    """Any accepted map value -> float32 ``(N, 1, h, w)`` tensor."""
    if isinstance(value, (str, Path)):
        t = torch.from_numpy(read_map(value))
    elif isinstance(value, np.ndarray):
        t = torch.from_numpy(_to_float(value, name))
    elif isinstance(value, Tensor):
        t = value.detach()
        t = t.float() if (t.dtype == torch.bool or t.is_floating_point()) else (t.double() / torch.iinfo(t.dtype).max).float()
    else:
        raise TypeError(f"{name} must be a path, numpy array or tensor, got {type(value).__name__}")
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3 and t.shape[0] == 1:
        t = t[None]
    elif t.dim() == 3 and t.shape[-1] == 1:
        t = t.permute(2, 0, 1)[None]
    elif not (t.dim() == 4 and t.shape[1] == 1):
        raise ValueError(f"{name} must be (H, W), (1, H, W), (H, W, 1) or (N, 1, H, W), got {tuple(t.shape)}")
    if t.shape[-2] < 1 or t.shape[-1] < 1:
        raise ValueError(f"{name} is empty: shape {tuple(t.shape)}")
    return t.contiguous()


class _FixedMap(nn.Module):
    """A stored ``(N, 1, h, w)`` map handed out resized to each input image."""

    def __init__(self, maps: Tensor) -> None:
        super().__init__()
        self.register_buffer("maps", maps, persistent=False)

    @torch.no_grad()
    def forward(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` image -> the stored map as ``(B, 1, H, W)`` on the image's device."""
        check_image(image)
        n, b = self.maps.shape[0], image.shape[0]
        if n not in (1, b):
            raise ValueError(f"the stored map has batch {n}, which does not match the image batch {b}")
        out = resize(self.maps.to(image.device), tuple(image.shape[-2:]))
        return out.expand(b, -1, -1, -1).to(image.dtype)


class DepthFromArray(_FixedMap):
    """A fixed, user-given disparity or depth map as a ``DepthEstimator``.

    Args:
        value: ``.npy`` / image path, numpy array or tensor of shape ``(H, W)``,
            ``(1, H, W)``, ``(H, W, 1)`` or ``(N, 1, H, W)`` (one map per batch item).
        kind: ``"disparity"`` (larger = nearer, any scale; must be finite) or
            ``"depth"`` (z-depth, any scale; ``inf``, ``nan`` or ``<= 0`` mean sky
            and become disparity 0).

    Calling it with an image ``(B, 3, H, W)`` returns ``(B, 1, H, W)`` disparity,
    bilinearly resized to the image.
    """

    def __init__(self, value: str | Path | np.ndarray | Tensor, *, kind: Literal["disparity", "depth"] = "disparity") -> None:
        if kind not in ("disparity", "depth"):
            raise ValueError(f"kind must be 'disparity' or 'depth', got {kind!r}")
        maps = _as_maps(value, "depth map" if kind == "depth" else "disparity map")
        if kind == "depth":
            maps = depth_to_disparity(torch.where(maps > 0, maps, torch.full_like(maps, float("inf"))).nan_to_num(nan=float("inf")))
        elif not torch.isfinite(maps).all():
            raise ValueError("disparity map has non-finite values; pass kind='depth' for depth maps with inf sky")
        super().__init__(maps)
        self.kind = kind


class SkyFromArray(_FixedMap):
    """A fixed, user-given sky mask (``1`` = sky; bool or values in ``[0, 1]``) as a ``SkyEstimator``.

    Accepts the same values as ``DepthFromArray``; 8/16-bit images are scaled by
    their maximum, so a black/white PNG works.
    """

    def __init__(self, value: str | Path | np.ndarray | Tensor) -> None:
        maps = _as_maps(value, "sky mask")
        if not torch.isfinite(maps).all() or maps.min() < 0 or maps.max() > 1:
            raise ValueError(
                f"sky mask values must lie in [0, 1], got [{maps.min().item():.3g}, {maps.max().item():.3g}]"
            )
        super().__init__(maps)
