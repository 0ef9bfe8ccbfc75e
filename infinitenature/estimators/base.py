"""The two estimator protocols and the helpers every estimator shares.

A depth estimator maps a photo to a relative disparity, a sky estimator maps it
to a sky probability. Anything callable with that shape contract works in the
pipeline; ``loading.load_depth`` / ``load_sky`` build the ones we provide.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DepthEstimator", "SkyEstimator", "check_image", "resize", "follow_device", "MAP_SUFFIXES"]

#: File suffixes read as fixed maps (``files.read_map``).
MAP_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@runtime_checkable
class DepthEstimator(Protocol):
    """``image (B, 3, H, W)`` in ``[0, 1]`` -> relative disparity ``(B, 1, H, W)``.

    Larger = nearer, any scale and offset, finite. Runs without gradients and
    returns a tensor on the image's device, for any ``H`` and ``W``.
    """

    def __call__(self, image: Tensor) -> Tensor: ...


@runtime_checkable
class SkyEstimator(Protocol):
    """``image (B, 3, H, W)`` in ``[0, 1]`` -> sky probability ``(B, 1, H, W)`` in ``[0, 1]``.

    Runs without gradients and returns a tensor on the image's device, for any
    ``H`` and ``W``.
    """

    def __call__(self, image: Tensor) -> Tensor: ...


def check_image(image: Tensor) -> None:
    """Raise a one-line error unless ``image`` is a floating ``(B, 3, H, W)`` tensor."""
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor (B, 3, H, W) in [0, 1], got {type(image).__name__}")
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"image must have shape (B, 3, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a floating tensor in [0, 1], got dtype {image.dtype}")
    if image.shape[-2] < 2 or image.shape[-1] < 2:
        raise ValueError(f"image must be at least 2x2 pixels, got {tuple(image.shape[-2:])}")


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def follow_device(module: torch.nn.Module, image: Tensor) -> None:
    """Move ``module`` to ``image``'s device if its parameters/buffers live elsewhere."""
    first = next(iter(module.parameters()), None)
    if first is None:
        first = next(iter(module.buffers()), None)
    if first is not None and first.device != image.device:
        module.to(image.device)
