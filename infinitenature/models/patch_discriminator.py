"""A patch discriminator: one real/fake logit per image patch instead of one per image.

The published method trains its refiner against StyleGAN2's image-level discriminator
(``Discriminator``). Inpainting work (DeepFill v2's SN-PatchGAN, LaMa's PatchGAN) judges
patches instead, and can tell the discriminator which patches were painted: every
patch is a sample, so it is meant to learn what texture looks like from fewer images
than an image-level one (``TrainConfig.discriminator``). At this project's CPU scale it
does not yet: after 8,000 steps it tells painted patches from real ones by about 0.1 logit.

Built from the same blocks as ``Discriminator`` (equalized convolutions, StyleGAN2
residual blocks with blurred stride-2 downsampling), without the minibatch-stddev and
dense head, so it is fully convolutional.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..weights import register_model
from .discriminator import check_image, check_resolution, residual_trunk
from .generator import stage_channels
from .layers import ConvLayer, EqualConv2d

__all__ = ["PatchDiscriminatorConfig", "PatchDiscriminator"]


@dataclasses.dataclass
class PatchDiscriminatorConfig:
    """Sizes of a ``PatchDiscriminator``.

    Widths follow ``clip(f_base / 2**stage, 1, f_max)`` like ``DiscriminatorConfig``:
    the full-resolution features have the width of stage ``log2(resolution) - 1``.
    """

    resolution: int = 128
    """Square input size; a power of two with ``resolution / 2**levels >= 4``."""
    in_channels: int = 4
    """Input channels (4 = RGBD in [-1, 1])."""
    levels: int = 2
    """Residual blocks, each halving the size: the logit map is ``resolution / 2**levels``
    wide, each logit sees about ``7 * (2**levels - 1) + 2**(levels + 1) + 1`` pixels (30 for 2)."""
    f_base: int = 8192
    f_max: int = 512

    def __post_init__(self) -> None:
        check_resolution(self.resolution)
        r = self.resolution
        if not isinstance(self.levels, int) or self.levels < 1 or r >> self.levels < 4:
            raise ValueError(f"levels must be >= 1 with resolution / 2**levels >= 4, got {self.levels!r} at {r}")
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}")

    def channels(self, stage: int) -> int:
        return stage_channels(stage, f_base=self.f_base, f_max=self.f_max)

    @property
    def receptive_field(self) -> int:
        """Pixels (per side) that one logit depends on."""
        return 7 * (2**self.levels - 1) + 2 ** (self.levels + 1) + 1


@register_model("patch_discriminator", PatchDiscriminatorConfig)
class PatchDiscriminator(nn.Module):
    """Image ``(B, in_channels, R, R)`` in [-1, 1] -> logits ``(B, 1, R / 2**levels, R / 2**levels)``.

    FromRGB (1x1), ``levels`` StyleGAN2 ``ResBlock``s, a 3x3 ConvLayer and a 1x1 logit
    convolution. Samples do not interact (no batch statistics).
    """

    config: PatchDiscriminatorConfig

    def __init__(self, config: PatchDiscriminatorConfig | None = None) -> None:
        super().__init__()
        config = PatchDiscriminatorConfig() if config is None else config
        if not isinstance(config, PatchDiscriminatorConfig):
            raise TypeError(f"config must be a PatchDiscriminatorConfig, got {type(config).__name__}")
        self.config = config
        c = config.channels
        layers = residual_trunk(config.in_channels, c, config.resolution, config.levels)
        width = c(int(math.log2(config.resolution)) - 1 - config.levels)
        layers += [ConvLayer(width, width, 3), EqualConv2d(width, 1, 1)]
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.config.in_channels, self.config.resolution)
        return self.convs(x)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
