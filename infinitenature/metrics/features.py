"""Frame input handling and the feature networks behind FID and KID.

Any object with a ``name: str``, a ``feature_dim: int`` and a call
``images (B, 3, H, W) float in [0, 1] -> features (B, D)`` is a feature network
(:class:`FeatureExtractor`). Two ship here:

* :class:`InceptionV3Features`: the FID Inception network (``pt_inception-2015-12-05``,
  as in pytorch-fid) written in plain torch. It needs the user's weights file
  (it cannot be downloaded here); with those weights the numbers are
  comparable with published FID/KID.
* :class:`RandomConvFeatures`: a small fixed-seed random conv net that needs no
  weights, so FID/KID run offline. Its numbers are only comparable with other
  numbers computed with the same network (same ``name``), **never** with
  published FID.

Frames come in as the library hands them out, ``uint8 (T, H, W, 3)`` numpy
arrays or tensors, or as float tensors/arrays ``(T, 3, H, W)`` in ``[0, 1]``,
or as an iterable of such chunks (single frames ``(H, W, 3)`` / ``(3, H, W)``
allowed), e.g. frames streamed from ``FlyThrough.iter_frames``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FrameSource",
    "FeatureExtractor",
    "to_float_frames",
    "iter_frame_batches",
    "module_device",
    "RandomConvFeatures",
    "InceptionV3Features",
]

FrameSource = Union[np.ndarray, Tensor, Iterable[Union[np.ndarray, Tensor]]]


@runtime_checkable
class FeatureExtractor(Protocol):
    """A feature network: ``(B, 3, H, W)`` float in ``[0, 1]`` -> ``(B, feature_dim)``.

    ``name`` identifies the network and its weights; cached statistics carry it
    so that statistics of different networks are never compared.
    """

    name: str
    feature_dim: int

    def __call__(self, images: Tensor) -> Tensor: ...


# --------------------------------------------------------------------------- frames


def to_float_frames(frames: np.ndarray | Tensor, *, name: str = "frames") -> Tensor:
    """Frames in either library format as a float32 ``(T, 3, H, W)`` tensor in ``[0, 1]``.

    Args:
        frames: ``uint8 (T, H, W, 3)`` (numpy or torch), or float ``(T, 3, H, W)``
            in ``[0, 1]`` (numpy or torch).

    Returns:
        ``(T, 3, H, W)`` float32 tensor on the input's device (CPU for numpy).
    """
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, Tensor):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(frames).__name__}")
    if frames.dim() != 4:
        raise ValueError(f"{name} must be uint8 (T, H, W, 3) or float (T, 3, H, W), got shape {tuple(frames.shape)}")
    if frames.dtype == torch.uint8:
        if frames.shape[-1] != 3:
            raise ValueError(f"uint8 {name} must be (T, H, W, 3), got shape {tuple(frames.shape)}")
        return frames.permute(0, 3, 1, 2).float().div_(255.0)
    if not frames.is_floating_point():
        raise TypeError(f"{name} must be uint8 or floating point, got {frames.dtype}")
    if frames.shape[1] != 3:
        raise ValueError(f"float {name} must be (T, 3, H, W) in [0, 1], got shape {tuple(frames.shape)}")
    if frames.numel():
        lo, hi = float(frames.min()), float(frames.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"float {name} must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return frames.float()


def iter_frame_batches(
    frames: FrameSource, batch_size: int, *, device: torch.device | str | None = None, name: str = "frames"
) -> Iterator[Tensor]:
    """Yield float32 ``(b, 3, H, W)`` batches in ``[0, 1]`` with ``b <= batch_size``.

    Arrays are converted one batch at a time, so a long ``uint8`` video is
    never held as float all at once. An iterable is consumed once; its chunks
    may be single frames or batches of any size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(frames, (np.ndarray, Tensor)):
        for start in range(0, frames.shape[0], batch_size):
            yield to_float_frames(frames[start : start + batch_size], name=name).to(device)
        return
    if not isinstance(frames, Iterable):
        raise TypeError(f"{name} must be an array, a tensor or an iterable of them, got {type(frames).__name__}")
    pending: list[Tensor] = []
    count = 0
    for chunk in frames:
        if isinstance(chunk, (np.ndarray, Tensor)) and chunk.ndim == 3:
            chunk = chunk[None]
        chunk = to_float_frames(chunk, name=name).to(device)
        pending.append(chunk)
        count += chunk.shape[0]
        while count >= batch_size:
            merged = torch.cat(pending)
            yield merged[:batch_size]
            rest = merged[batch_size:]
            pending, count = ([rest] if rest.shape[0] else []), rest.shape[0]
    if count:
        yield torch.cat(pending)


def module_device(net: object) -> torch.device | None:
    """Device of the first parameter or buffer of an ``nn.Module``; ``None`` otherwise."""
    if isinstance(net, nn.Module):
        for tensor in (*net.parameters(), *net.buffers()):
            return tensor.device
    return None


# --------------------------------------------------------------------------- random conv features


class RandomConvFeatures(nn.Module):
    """Fixed-seed random conv net with global pooling: FID/KID without weights.

    The images are resized to ``resolution`` (bilinear, antialiased) and mapped
    to ``[-1, 1]``; each stage is a 3x3 stride-2 convolution with He-normal
    random weights drawn from ``torch.Generator().manual_seed(seed)`` on the
    CPU (so the same seed gives the same network on every machine) and a ReLU.
    The features are the spatial mean and standard deviation of every stage,
    ``feature_dim = 2 * sum(channels)``.

    The numbers it gives are comparable only with numbers from the same
    network (same ``name``), not with published FID or KID.

    Args:
        seed: seed of the weights.
        resolution: square side the images are resized to.
        channels: output channels of the stages.

    Example:
        >>> net = RandomConvFeatures()
        >>> net(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 480])
    """

    def __init__(self, *, seed: int = 0, resolution: int = 128, channels: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        if resolution < 2 ** len(channels):
            raise ValueError(f"resolution must be >= 2**len(channels) = {2 ** len(channels)}, got {resolution}")
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive ints, got {channels}")
        self.seed = int(seed)
        self.resolution = int(resolution)
        self.channels = tuple(int(c) for c in channels)
        self.feature_dim = 2 * sum(self.channels)
        self.name = f"random-conv(seed={self.seed},res={self.resolution},ch={'-'.join(map(str, self.channels))})"
        gen = torch.Generator().manual_seed(self.seed)
        c_in = 3
        for i, c_out in enumerate(self.channels):
            fan_in = c_in * 9
            w = torch.randn(c_out, c_in, 3, 3, generator=gen) * (2.0 / fan_in) ** 0.5
            self.register_buffer(f"weight{i}", w)
            c_in = c_out

    def forward(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, feature_dim)``."""
        _check_images(images)
        x = F.interpolate(images, size=(self.resolution,) * 2, mode="bilinear", align_corners=False, antialias=True)
        x = x * 2.0 - 1.0
        pooled = []
        for i in range(len(self.channels)):
            x = F.relu(F.conv2d(x, getattr(self, f"weight{i}"), stride=2, padding=1))
            pooled += [x.mean(dim=(2, 3)), x.std(dim=(2, 3), correction=0)]
        return torch.cat(pooled, dim=1)

    def extra_repr(self) -> str:
        return f"seed={self.seed}, resolution={self.resolution}, channels={self.channels}"


# --------------------------------------------------------------------------- FID Inception v3


class _ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU; keys ``conv.*`` and ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: Tensor) -> Tensor:
    # TensorFlow's average pool ignores the zero padding.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _InceptionA(nn.Module):
    def __init__(self, c_in: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 64, 1)
        self.branch5x5_1 = _ConvBN(c_in, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(c_in, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool_3x3(x)),
            ],
            1,
        )


class _InceptionB(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = _ConvBN(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            1,
        )


class _InceptionC(nn.Module):
    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(c_in, 192, 1)
        self.branch7x7_1 = _ConvBN(c_in, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _ConvBN(c_in, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _ConvBN(c_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        dbl = x
        for i in range(1, 6):
            dbl = getattr(self, f"branch7x7dbl_{i}")(dbl)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                dbl,
                self.branch_pool(_avg_pool_3x3(x)),
            ],
            1,
        )


class _InceptionD(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = _ConvBN(c_in, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(c_in, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _InceptionE(nn.Module):
    """``max_pool=True`` is the FID network's last block (Mixed_7c), which pools with max."""

    def __init__(self, c_in: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _ConvBN(c_in, 320, 1)
        self.branch3x3_1 = _ConvBN(c_in, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(c_in, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(c_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_3x3(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_3a(dbl),
                self.branch3x3dbl_3b(dbl),
                self.branch_pool(pool),
            ],
            1,
        )


class InceptionV3Features(nn.Module):
    """The FID Inception v3 network: 2048-d pool3 features.

    The architecture of ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's
    port of the TensorFlow FID graph): torchvision's Inception v3 with
    TensorFlow's average pooling (padding excluded) and max pooling in the last
    block. Input ``[0, 1]`` images are resized to 299 (bilinear,
    ``align_corners=False``) and scaled to ``[-1, 1]``, as in pytorch-fid. The
    module always stays in eval mode.

    Args:
        weights_path: the pytorch-fid weights (``.pth`` state dict, read with
            ``weights_only=True``) or the same tensors as ``.safetensors``.
            Keys follow torchvision's names; ``fc.*`` and ``AuxLogits.*`` are
            ignored. ``None`` keeps a random initialisation, for tests only: its
            ``name`` says so and its numbers mean nothing.
        resize_to: square input size; ``None`` feeds the images at their own
            size (at least 75 px; not comparable with published FID).

    Example:
        >>> net = InceptionV3Features(None, resize_to=None)
        >>> net(torch.rand(1, 3, 75, 75)).shape
        torch.Size([1, 2048])
    """

    feature_dim = 2048

    def __init__(self, weights_path: str | Path | None = None, *, resize_to: int | None = 299) -> None:
        super().__init__()
        if resize_to is not None and resize_to < 75:
            raise ValueError(f"resize_to must be >= 75 or None, got {resize_to}")
        self.resize_to = resize_to
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _InceptionA(192, 32)
        self.Mixed_5c = _InceptionA(256, 64)
        self.Mixed_5d = _InceptionA(288, 64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, 128)
        self.Mixed_6c = _InceptionC(768, 160)
        self.Mixed_6d = _InceptionC(768, 160)
        self.Mixed_6e = _InceptionC(768, 192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)
        if weights_path is None:
            self.name = "inception-v3-random-init"
        else:
            self.load_weights(weights_path)
            self.name = "inception-v3-fid" if resize_to == 299 else f"inception-v3-fid(resize={resize_to})"
        self.eval()

    def load_weights(self, path: str | Path) -> None:
        """Load a pytorch-fid Inception state dict (``.pth``) or safetensors file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Inception weights not found: {path}")
        from ..weights import read_tensor_file

        state = read_tensor_file(path)
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a state dict")
        state = {
            k: v
            for k, v in state.items()
            if not k.startswith(("fc.", "AuxLogits.")) and not k.endswith("num_batches_tracked")
        }
        own = {k: v for k, v in self.state_dict().items() if not k.endswith("num_batches_tracked")}
        missing = sorted(own.keys() - state.keys())
        unexpected = sorted(state.keys() - own.keys())
        wrong = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
        if missing or unexpected or wrong:
            raise ValueError(
                f"{path} is not an FID Inception state dict: {len(missing)} missing keys {missing[:3]}, "
                f"{len(unexpected)} unexpected keys {unexpected[:3]}, {len(wrong)} shape mismatches {wrong[:3]}"
            )
        self.load_state_dict(state, strict=False)

    def train(self, mode: bool = True) -> InceptionV3Features:
        """Stays in eval mode: BatchNorm must use its stored statistics."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, 2048)`` pool3 features."""
        _check_images(images)
        x = images
        if self.resize_to is not None:
            x = F.interpolate(x, size=(self.resize_to,) * 2, mode="bilinear", align_corners=False)
        elif min(x.shape[-2:]) < 75:
            raise ValueError(f"images must be at least 75x75 without resizing, got {tuple(x.shape[-2:])}")
        x = x * 2.0 - 1.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{block}")(x)
        return x.mean(dim=(2, 3))


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a (B, 3, H, W) tensor in [0, 1], got {shape}")
