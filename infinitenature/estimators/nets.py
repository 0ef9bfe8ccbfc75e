"""The shipped depth and sky networks: compact U-Nets of depthwise-separable convs.

Both networks share one body (``TinyUNet``): a stride-2 stem, stages of
depthwise-separable residual blocks down to 1/32 resolution, a global-context
term at the bottleneck (landscapes are about the whole layout: where the
horizon is, where the sky is), and a decoder with skip connections back to
1/2 resolution. They differ only in what the single output channel means and
in post-processing:

* ``DepthNet`` -> ``sigmoid`` = disparity roughly in the normalized range
  (larger = nearer), trained scale-and-shift invariantly.
* ``SkyNet`` -> ``sigmoid`` = sky probability at the working resolution;
  optionally (``structure``) the layout and colour rules of
  ``sky_structure.structure_sky`` correct it with the photo's own colours;
  optionally (``top_connected``) regions of sky that do not touch the top
  border are damped (in a landscape the sky reaches the top of the frame);
  then the mask is resized to the photo.

A photo of any size is resized so that its short side is ``working_size``
(keeping its aspect ratio, sides rounded to multiples of 32), and the output is
resized back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..weights import register_model
from .base import check_image, follow_device, resize
from .sky_structure import SkyStructureConfig, structure_sky

__all__ = [
    "UNetConfig",
    "DepthNetConfig",
    "SkyNetConfig",
    "TinyUNet",
    "DepthNet",
    "SkyNet",
    "working_shape",
    "damp_sky_islands",
]


@dataclass
class UNetConfig:
    """Shape of a ``TinyUNet``.

    Attributes:
        working_size: short side of the network's input in pixels (a multiple of 32).
        widths: channels per resolution level, from 1/2 down to ``1/2**len(widths)``.
        blocks: residual blocks per encoder stage.
        max_aspect: the long side is capped at ``max_aspect * working_size``.
    """

    working_size: int = 192
    widths: tuple[int, ...] = (16, 32, 48, 96, 128)
    blocks: int = 2
    max_aspect: float = 3.0

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)  # JSON gives lists back
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise ValueError(f"widths needs >= 2 positive entries, got {self.widths}")
        if self.working_size <= 0 or self.working_size % self.stride:
            raise ValueError(f"working_size must be a positive multiple of {self.stride}, got {self.working_size}")
        if self.blocks < 0:
            raise ValueError(f"blocks must be >= 0, got {self.blocks}")

    @property
    def stride(self) -> int:
        """Total downsampling factor; input sides must be multiples of it."""
        return 2 ** len(self.widths)


@dataclass
class DepthNetConfig(UNetConfig):
    """Config of the shipped depth network (see ``UNetConfig``)."""


@dataclass
class SkyNetConfig(UNetConfig):
    """Config of the shipped sky network.

    Attributes:
        refine, refine_radius, refine_eps: a guided-filter upsampling the shipped weights
            store but the forward does not apply (it resizes bilinearly, as the weights
            were measured); kept so that stored configs load.
        structure: apply ``structure_sky`` (``sky_structure.py``) with the default
            ``SkyStructureConfig`` to the probability at the working resolution, before
            ``top_connected``: predicted ground that does not reach the bottom row becomes
            sky, a per-photo Gaussian colour model (Lab + row) fitted on the sure pixels
            re-decides the others, yellow-green pixels are damped, and a warm sky darker
            than its ground is damped. Inference only; training uses ``logits``. Off by
            default: on the held-out real photos it lowers the shipped network's mean sky
            IoU from 0.687 to 0.678 (cold-ripple 0.864 -> 0.838, dune 0.814 -> 0.730).
        top_connected: multiply the probability of predicted sky regions
            (probability > 0.5 at the working resolution) that do not touch the
            top border by ``island_factor`` (``damp_sky_islands``).
        island_factor: the factor for such regions, in ``[0, 1]``.
    """

    refine: bool = True
    refine_radius: int = 2
    refine_eps: float = 1e-3
    structure: bool = False
    top_connected: bool = False
    island_factor: float = 0.25


def _conv_bn(cin: int, cout: int, *, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 (optionally strided) then pointwise 1x1, each with BN + ReLU."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, act: bool = True) -> None:
        super().__init__(
            _conv_bn(cin, cin, kernel=3, stride=stride, groups=cin),
            _conv_bn(cin, cout, act=act),
        )


class ResidualBlock(nn.Module):
    """``relu(x + sep(sep(x)))`` at constant width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(SeparableConv(width, width), SeparableConv(width, width, act=False))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


class TinyUNet(nn.Module):
    """U-Net body: ``(B, 3, H, W)`` in ``[-1, 1]`` -> ``(B, 1, H, W)`` logits.

    ``H`` and ``W`` must be multiples of ``config.stride``.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        w = config.widths
        self.stem = _conv_bn(3, w[0], kernel=3, stride=2)
        self.down = nn.ModuleList(
            nn.Sequential(SeparableConv(w[i - 1], w[i], stride=2), *[ResidualBlock(w[i]) for _ in range(config.blocks)])
            for i in range(1, len(w))
        )
        self.context = nn.Linear(w[-1], w[-1])
        self.up = nn.ModuleList(SeparableConv(w[i] + w[i - 1], w[i - 1]) for i in range(len(w) - 1, 0, -1))
        self.head = nn.Sequential(SeparableConv(w[0], w[0]), nn.Conv2d(w[0], 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        skips = [self.stem(x)]
        for stage in self.down:
            skips.append(stage(skips[-1]))
        y = skips.pop()
        y = y + self.context(y.mean((2, 3)))[:, :, None, None]
        for block in self.up:
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], 1))
        return F.interpolate(self.head(y), size=size, mode="bilinear", align_corners=False)


def working_shape(height: int, width: int, config: UNetConfig) -> tuple[int, int]:
    """Network input size for a photo: short side ``working_size``, aspect kept, multiples of the stride."""
    s, m = config.working_size, config.stride
    scale = s / min(height, width)
    long_cap = config.max_aspect * s

    def side(n: int) -> int:
        return max(m, int(round(min(n * scale, long_cap) / m)) * m)

    return side(height), side(width)


class _NetEstimator(nn.Module):
    """A ``TinyUNet`` wrapped as an estimator: resize in, sigmoid, resize out."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.net = TinyUNet(config)

    def logits(self, image: Tensor) -> Tensor:
        """Raw output at the input's size (with gradients, for training).

        Args:
            image: ``(B, 3, H, W)`` in ``[0, 1]``, sides multiples of ``config.stride``.

        Returns:
            ``(B, 1, H, W)`` logits.
        """
        return self.net(image * 2 - 1)

    def _at_working_size(self, prob: Tensor, image: Tensor) -> Tensor:
        """The output at the working resolution before it is resized bilinearly to the image (here: as it is).

        ``prob`` is ``(B, 1, h, w)``, ``image`` the ``(B, 3, h, w)`` network input in ``[0, 1]``.
        """
        return prob

    @torch.no_grad()
    def forward(self, image: Tensor) -> Tensor:
        """Estimate at any size: ``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, 1, H, W)`` in ``(0, 1)``."""
        check_image(image)
        follow_device(self, image)
        dtype = next(self.parameters()).dtype
        h, w = image.shape[-2:]
        x = resize(image.to(dtype), working_shape(h, w, self.config))
        prob = self._at_working_size(torch.sigmoid(self.logits(x)), x)
        return resize(prob, (h, w)).to(image.dtype)

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"{dataclasses.asdict(self.config)}, params={n}"


def damp_sky_islands(prob: Tensor, factor: float = 0.25, threshold: float = 0.5) -> Tensor:
    """Damp regions of predicted sky that do not touch the top border.

    Connected regions (8-connectivity) of ``prob > threshold`` are found per
    image; those without a pixel in the first row get their probabilities
    multiplied by ``factor``. Water mirroring the sky, bright ground in photos
    without sky and similar lookalikes below the skyline form such islands.

    Args:
        prob: ``(B, 1, H, W)`` sky probabilities.
        factor: multiplier for the islands (0 removes them, 1 changes nothing).
        threshold: probability above which a pixel belongs to a sky region.

    Returns:
        ``(B, 1, H, W)``, a new tensor.

    Example:
        >>> p = torch.zeros(1, 1, 6, 4); p[..., :2, :] = 0.9; p[..., 4:, 1:3] = 0.8
        >>> damp_sky_islands(p, 0.5)[0, 0, :, 1]
        tensor([0.9000, 0.9000, 0.0000, 0.0000, 0.4000, 0.4000])
    """
    from scipy import ndimage

    if prob.dim() != 4 or prob.shape[1] != 1:
        raise ValueError(f"prob must be (B, 1, H, W), got {tuple(prob.shape)}")
    out = prob.clone()
    masks = (prob[:, 0] > threshold).cpu().numpy()
    for i, m in enumerate(masks):
        labels, n = ndimage.label(m, structure=[[1, 1, 1], [1, 1, 1], [1, 1, 1]])
        if n == 0:
            continue
        keep = torch.zeros(n + 1, dtype=torch.bool)
        keep[torch.from_numpy(labels[0]).long()] = True
        lab = torch.from_numpy(labels).to(prob.device).long()
        island = (lab > 0) & ~keep.to(prob.device)[lab]
        out[i, 0] = torch.where(island, prob[i, 0] * factor, prob[i, 0])
    return out


@register_model("depth", DepthNetConfig)
class DepthNet(_NetEstimator):
    """Shipped depth estimator: photo -> relative disparity in ``(0, 1)`` (larger = nearer).

    Example:
        >>> net = DepthNet(DepthNetConfig(working_size=64, widths=(4, 8), blocks=0)).eval()
        >>> net(torch.rand(2, 3, 50, 75)).shape
        torch.Size([2, 1, 50, 75])
    """

    def __init__(self, config: DepthNetConfig) -> None:
        super().__init__(config)


@register_model("sky", SkyNetConfig)
class SkyNet(_NetEstimator):
    """Shipped sky estimator: photo -> sky probability in ``[0, 1]``.

    ``config.structure = True`` turns on the test-time rules of ``structure_sky``;
    their parameters are ``self.structure_config`` (a ``SkyStructureConfig``).

    Example:
        >>> net = SkyNet(SkyNetConfig(working_size=64, widths=(4, 8), blocks=0)).eval()
        >>> net(torch.rand(1, 3, 33, 47)).shape
        torch.Size([1, 1, 33, 47])
    """

    def __init__(self, config: SkyNetConfig) -> None:
        super().__init__(config)
        #: parameters of ``structure_sky`` when ``config.structure`` is on (not stored with the weights)
        self.structure_config = SkyStructureConfig()

    def _at_working_size(self, prob: Tensor, image: Tensor) -> Tensor:
        if self.config.structure:
            prob = structure_sky(prob, image, self.structure_config)
        # with top_connected, sky not connected to the image's top border is damped (damp_sky_islands)
        return damp_sky_islands(prob, self.config.island_factor) if self.config.top_connected else prob
