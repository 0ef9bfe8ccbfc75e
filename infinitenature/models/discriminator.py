"""StyleGAN2 residual discriminator with minibatch standard deviation."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..weights import register_model
from .generator import stage_channels
from .layers import ConvLayer, EqualLinear

__all__ = ["DiscriminatorConfig", "Discriminator", "ResBlock", "residual_trunk", "check_resolution", "check_image"]


@dataclasses.dataclass
class DiscriminatorConfig:
    """Sizes of a ``Discriminator``. Widths follow ``clip(f_base / 2**stage, 1, f_max)``."""

    resolution: int = 128
    """Square input size; a power of two >= 8."""
    in_channels: int = 4
    """Input channels (4 = RGBD in [-1, 1])."""
    f_base: int = 8192
    """Width base: 512 channels up to 32 px, 256 at 64 px, 128 at 128 px (StyleGAN2 with channel multiplier 1)."""
    f_max: int = 512
    """Largest feature width."""
    stddev_group: int = 4
    """Largest group size of the minibatch standard-deviation feature."""

    def __post_init__(self) -> None:
        check_resolution(self.resolution)
        if self.in_channels < 1 or self.stddev_group < 1:
            raise ValueError(f"in_channels and stddev_group must be >= 1, got {self.in_channels}, {self.stddev_group}")

    def channels(self, stage: int) -> int:
        return stage_channels(stage, f_base=self.f_base, f_max=self.f_max)


def check_resolution(r: object) -> None:
    """A discriminator's input size must be a power of two >= 8 (``ValueError`` otherwise)."""
    if not isinstance(r, int) or r < 8 or r & (r - 1):
        raise ValueError(f"resolution must be a power of two >= 8, got {r!r}")


def check_image(x: torch.Tensor, in_channels: int, resolution: int) -> None:
    """``x`` must be ``(B, in_channels, resolution, resolution)`` (``ValueError`` otherwise)."""
    if x.ndim != 4 or x.shape[1] != in_channels or x.shape[-2:] != (resolution, resolution):
        raise ValueError(f"x must have shape (B, {in_channels}, {resolution}, {resolution}), got {tuple(x.shape)}")


def residual_trunk(in_channels: int, channels, resolution: int, blocks: int) -> list[nn.Module]:
    """FromRGB (1x1 ConvLayer to ``channels(log2(resolution) - 1)``) and ``blocks`` ``ResBlock``s, each halving.

    ``channels(stage)`` gives the width of a stage (``DiscriminatorConfig.channels``).
    """
    log2 = int(math.log2(resolution))
    layers: list[nn.Module] = [ConvLayer(in_channels, channels(log2 - 1), 1)]
    for r in range(log2, log2 - blocks, -1):
        layers.append(ResBlock(channels(r - 1), channels(r - 2)))
    return layers


class ResBlock(nn.Module):
    """Two 3x3 ConvLayers (the second downsamples) plus a 1x1 downsampling skip, summed and scaled by 1/sqrt 2.

    (B, in, H, W) -> (B, out, H/2, W/2).
    """

    def __init__(self, in_channel: int, out_channel: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, max_group: int) -> torch.Tensor:
    """Append one channel: the mean over (C, H, W) of the per-group standard deviation.

    The group size is the largest divisor of B that is <= ``max_group``.
    (B, C, H, W) -> (B, C + 1, H, W).
    """
    b, c, h, w = x.shape
    group = next(g for g in range(min(b, max_group), 0, -1) if b % g == 0)
    y = x.reshape(group, b // group, c, h, w)
    std = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)  # (B/g, C, H, W)
    std = std.mean(dim=(1, 2, 3))  # (B/g,)
    std = std.repeat(group)[:, None, None, None].expand(b, 1, h, w)
    return torch.cat([x, std.to(x.dtype)], dim=1)


@register_model("discriminator", DiscriminatorConfig)
class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: image (B, in_channels, R, R) in [-1, 1] -> logits (B, 1).

    ``convs`` = FromRGB (1x1) and one ResBlock per halving down to 4x4; then
    minibatch stddev, ``final_conv`` (3x3) and ``final_linear`` (two dense layers).
    Sample i of the batch interacts with the others only through the stddev feature.
    """

    config: DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        config = DiscriminatorConfig() if config is None else config
        if not isinstance(config, DiscriminatorConfig):
            raise TypeError(f"config must be a DiscriminatorConfig, got {type(config).__name__}")
        self.config = config
        c = config.channels
        blocks = int(math.log2(config.resolution)) - 2  # down to 4 x 4
        self.convs = nn.Sequential(*residual_trunk(config.in_channels, c, config.resolution, blocks))
        self.final_conv = ConvLayer(c(1) + 1, c(1), 3)
        self.final_linear = nn.Sequential(
            EqualLinear(c(1) * 16, c(1), activation=True),
            EqualLinear(c(1), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (B, in_channels, R, R) in [-1, 1]. Returns (B, 1) real/fake logits."""
        cfg = self.config
        check_image(x, cfg.in_channels, cfg.resolution)
        out = self.convs(x)
        out = self.final_conv(minibatch_stddev(out, cfg.stddev_group))
        return self.final_linear(out.flatten(1))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
