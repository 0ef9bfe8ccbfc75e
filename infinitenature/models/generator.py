"""The CoModGAN refiner of InfiniteNature-Zero.

``CoModGenerator`` has four parts, named as in the released checkpoint so that
it loads strictly (``official.py``):

- ``G_mapping``: z (B, latent_dim) -> w (B, latent_dim), PixelNorm + 8 dense layers.
- ``style_encoder``: the first RGBD frame (B, 4, H, W) in [-1, 1] -> a global
  code (B, G), computed once per sequence.
- ``feature_encoder``: the masked, warped frame (B, 5, H, W) in [-1, 1] ->
  multi-scale features {r: (B, C, 2^r, 2^r)} for r = 2..log2(H).
- ``G_synthesis``: a StyleGAN2 "skip" synthesis network that starts from the
  4x4 encoder features, adds the encoder features after every upsampling
  convolution and is modulated by ``cat([w', global_code])``.

The output is RGBD in [0, 1]: ``(tanh(y) + 1) / 2``. Two conventions of
``GeneratorConfig`` depart from the release and travel with the weights:
``hole_fill="push_pull"`` (the feature encoder sees a push-pull fill in the holes
instead of black) and ``residual=True`` (the output is the encoder's input plus a
correction, ``clamp(input + tanh(y), 0, 1)``).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from typing import Callable, Literal, Sequence, Union

import torch
from torch import nn

from ..filters import push_pull_fill
from ..weights import register_model
from .layers import ConvLayer, EqualLinear, PixelNorm, StyledConv, ToRGB

__all__ = ["GeneratorConfig", "CoModGenerator", "HOLE_FILLS", "stage_channels"]

#: Values of ``GeneratorConfig.hole_fill``: "zero" (published: holes are black) or
#: "push_pull" (holes hold a push-pull fill of the valid pixels around them).
HOLE_FILLS = ("zero", "push_pull")

NoiseSpec = Union[Literal["random", "zero"], Sequence[torch.Tensor]]


def stage_channels(stage: int, *, f_base: int, f_max: int, f_min: int = 1) -> int:
    """Feature width of a stage: ``clip(int(f_base / 2**stage), f_min, f_max)``.

    A block working at resolution ``2**r`` uses ``stage_channels(r - 1)``.

    Example:
        >>> [stage_channels(s, f_base=8192, f_max=512) for s in range(1, 7)]
        [512, 512, 512, 512, 256, 128]
    """
    return int(min(max(int(f_base / 2.0**stage), f_min), f_max))


@dataclasses.dataclass
class GeneratorConfig:
    """Sizes of a ``CoModGenerator``. ``GeneratorConfig()`` is the released 128 px model (65.2M params)."""

    resolution: int = 128
    """Square input/output size in pixels; a power of two >= 8."""
    latent_dim: int = 512
    """Width of z and of the mapped latent w."""
    mapping_layers: int = 8
    """Dense layers in the mapping network."""
    mapping_lr_mul: float = 0.01
    """Equalized-lr multiplier of the mapping network."""
    f_base: int = 8192
    """Width base of the feature encoder and the synthesis network (width = f_base / 2**stage)."""
    f_base_style: int = 4096
    """Width base of the style encoder."""
    f_max: int = 512
    """Largest feature width (all parts)."""
    f_min: int = 1
    """Smallest feature width (all parts)."""
    image_channels: int = 4
    """Channels of the RGBD frames (the style encoder input and the output)."""
    dropout: float = 0.5
    """Dropout rate after the style encoder's dense layer (used with ``encode_style(dropout=True)``)."""
    hole_fill: str = "zero"
    """What the feature encoder sees in the holes of a warped frame (see ``HOLE_FILLS``).
    ``"zero"`` is the published input (RGBD times the mask); ``"push_pull"`` fills the
    holes' RGB and disparity with ``filters.push_pull_fill`` of the valid pixels around
    them, so the refiner starts from a smooth guess instead of black. The mask channel
    tells the two apart either way. Weights trained with one do not work with the other."""
    residual: bool = False
    """Output the encoder's input RGBD plus a correction, ``clamp(input + tanh(y), 0, 1)``,
    instead of the published ``(tanh(y) + 1) / 2``. With ``hole_fill="push_pull"`` a zero
    correction is push-pull inpainting in the holes and the identity on visible pixels
    (what the published full refinement needs and a small refiner does not learn exactly).
    A new residual generator starts with a zero correction (``zero_correction``)."""

    def __post_init__(self) -> None:
        if self.hole_fill not in HOLE_FILLS:
            raise ValueError(f"hole_fill must be one of {HOLE_FILLS}, got {self.hole_fill!r}")
        if not isinstance(self.residual, bool):
            raise ValueError(f"residual must be True or False, got {self.residual!r}")
        r = self.resolution
        if not isinstance(r, int) or r < 8 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {r!r}")
        if self.latent_dim < 1 or self.mapping_layers < 1:
            raise ValueError(f"latent_dim and mapping_layers must be >= 1, got {self.latent_dim}, {self.mapping_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.global_dim != self.channels(1):
            raise ValueError(
                f"the style encoder width {self.global_dim} (f_base_style={self.f_base_style}) must equal the "
                f"synthesis width {self.channels(1)} (f_base={self.f_base}) at stage 1"
            )

    @property
    def log2_resolution(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_layers(self) -> int:
        """Number of dlatent rows the synthesis network indexes: 2 log2(resolution) - 2."""
        return 2 * self.log2_resolution - 2

    @property
    def global_dim(self) -> int:
        """Width G of the global code from the style encoder."""
        return self.style_channels(1)

    @property
    def style_dim(self) -> int:
        """Width of every modulation vector ``cat([w', global_code])``."""
        return self.latent_dim + self.channels(1)

    def channels(self, stage: int) -> int:
        """Width of the feature encoder / synthesis network at ``stage``."""
        return stage_channels(stage, f_base=self.f_base, f_max=self.f_max, f_min=self.f_min)

    def style_channels(self, stage: int) -> int:
        """Width of the style encoder at ``stage``."""
        return stage_channels(stage, f_base=self.f_base_style, f_max=self.f_max, f_min=self.f_min)


class MappingNetwork(nn.Module):
    """z (B, latent) -> w (B, latent): PixelNorm, then ``layers`` activated EqualLinear (lr_mul 0.01)."""

    def __init__(self, latent_dim: int, layers: int, lr_mul: float) -> None:
        super().__init__()
        blocks: list[tuple[str, nn.Module]] = [("Normalize", PixelNorm())]
        for i in range(layers):
            blocks.append((f"Dense{i}", EqualLinear(latent_dim, latent_dim, lr_mul=lr_mul, activation=True)))
        self.G_mapping = nn.Sequential(OrderedDict(blocks))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G_mapping(z)


class _InputBlock(nn.Module):
    """1x1 ConvLayer from the image channels to the first feature width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.FromRGB = ConvLayer(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.FromRGB(x)


class _DownBlock(nn.Module):
    """``Conv0`` (3x3, same width), then ``Conv1_down`` (blur + stride-2 3x3)."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.Conv0 = ConvLayer(channels, channels, 3)
        self.Conv1_down = ConvLayer(channels, out_channels, 3, downsample=True)


class _FinalBlock(nn.Module):
    """4x4 ``Conv``; for the style encoder also ``Dense0`` on the channel-major flattened map."""

    def __init__(self, in_channels: int, channels: int, *, dense: bool) -> None:
        super().__init__()
        self.Conv = ConvLayer(in_channels, channels, 3)
        if dense:
            self.Dense0 = EqualLinear(channels * 16, channels, activation=True)


class Encoder(nn.Module):
    """The CoModGAN encoder: FromRGB, then one down block per resolution, then a 4x4 block.

    Children of ``E`` are named ``{R}x{R}_0`` (input), ``{R}x{R}`` (R = resolution
    .. 8) and ``4x4``. Used twice: as the style encoder (``dense=True``, returns a
    global code) and as the feature encoder (returns the per-scale features).
    """

    def __init__(self, in_channels: int, resolution: int, width: Callable[[int], int], *, dense: bool) -> None:
        super().__init__()
        log2 = int(math.log2(resolution))
        blocks: list[tuple[str, nn.Module]] = [(f"{resolution}x{resolution}_0", _InputBlock(in_channels, width(log2 - 1)))]
        for r in range(log2, 2, -1):
            blocks.append((f"{2**r}x{2**r}", _DownBlock(width(r - 1), width(r - 2))))
        blocks.append(("4x4", _FinalBlock(width(2), width(1), dense=dense)))
        self.E = nn.Sequential(OrderedDict(blocks))
        self.log2_resolution = log2

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """{r: (B, C(r-1), 2^r, 2^r)}: each block's ``Conv0`` output, and the 4x4 ``Conv`` output at r = 2."""
        blocks = list(self.E.children())
        x = blocks[0](x)
        feats: dict[int, torch.Tensor] = {}
        for r, block in zip(range(self.log2_resolution, 2, -1), blocks[1:-1]):
            x = block.Conv0(x)
            feats[r] = x
            x = block.Conv1_down(x)
        feats[2] = blocks[-1].Conv(x)
        return feats

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened (channel-major) 4x4 map through ``Dense0``: (B, C(1)), before dropout."""
        blocks = list(self.E.children())
        x = blocks[0](x)
        for block in blocks[1:-1]:
            x = block.Conv1_down(block.Conv0(x))
        final = blocks[-1]
        return final.Dense0(final.Conv(x).flatten(1))


class _FirstSynthesisBlock(nn.Module):
    """4x4: ``Conv`` (StyledConv) and ``ToRGB`` without upsampling."""

    def __init__(self, channels: int, style_dim: int, image_channels: int) -> None:
        super().__init__()
        self.Conv = StyledConv(channels, channels, 3, style_dim)
        self.ToRGB = ToRGB(channels, style_dim, output_channel=image_channels, upsample=False)


class _SynthesisBlock(nn.Module):
    """2x: ``Conv0_up`` (upsampling StyledConv), ``Conv1`` (StyledConv), ``ToRGB`` (with skip)."""

    def __init__(self, in_channels: int, channels: int, style_dim: int, image_channels: int) -> None:
        super().__init__()
        self.Conv0_up = StyledConv(in_channels, channels, 3, style_dim, upsample=True)
        self.Conv1 = StyledConv(channels, channels, 3, style_dim)
        self.ToRGB = ToRGB(channels, style_dim, output_channel=image_channels)


class SynthesisNetwork(nn.Module):
    """Skip-architecture StyleGAN2 synthesis driven by encoder features.

    Blocks ``G_4x4``, ``G_8x8``, ... ``G_{R}x{R}``. Block r (>= 3) uses dlatent
    rows 2r-5 (Conv0_up), 2r-4 (Conv1) and 2r-3 (ToRGB); ``G_4x4`` rows 0 and 1.
    The encoder feature of scale r is added after ``Conv0_up`` (after its noise
    and activation).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        c, sd, ic = config.channels, config.style_dim, config.image_channels
        self.log2_resolution = config.log2_resolution
        self.G_4x4 = _FirstSynthesisBlock(c(1), sd, ic)
        for r in range(3, self.log2_resolution + 1):
            setattr(self, f"G_{2**r}x{2**r}", _SynthesisBlock(c(r - 2), c(r - 1), sd, ic))

    def noise_sizes(self) -> list[int]:
        """Spatial size of the noise of every StyledConv, in call order."""
        return [4] + [2**r for r in range(3, self.log2_resolution + 1) for _ in range(2)]

    def forward(
        self,
        features: dict[int, torch.Tensor],
        dlatents: torch.Tensor,
        global_code: torch.Tensor,
        noises: Sequence[torch.Tensor | None],
    ) -> torch.Tensor:
        """Pre-tanh output (B, image_channels, R, R).

        Args:
            features: {r: (B, C, 2^r, 2^r)} from the feature encoder.
            dlatents: (B, num_layers, latent_dim).
            global_code: (B, G).
            noises: one (B|1, 1, s, s) tensor or None per StyledConv (``noise_sizes``).
        """

        def style(i: int) -> torch.Tensor:
            return torch.cat([dlatents[:, i], global_code], dim=1)

        first = self.G_4x4
        x = first.Conv(features[2], style(0), noises[0])
        y = first.ToRGB(x, style(1))
        for r in range(3, self.log2_resolution + 1):
            block: _SynthesisBlock = getattr(self, f"G_{2**r}x{2**r}")
            x = block.Conv0_up(x, style(2 * r - 5), noises[2 * r - 5]) + features[r]
            x = block.Conv1(x, style(2 * r - 4), noises[2 * r - 4])
            y = block.ToRGB(x, style(2 * r - 3), skip=y)
        return y


@register_model("generator", GeneratorConfig)
class CoModGenerator(nn.Module):
    """The InfiniteNature-Zero refiner: a co-modulated StyleGAN2 generator conditioned on a masked RGBD frame.

    Build with ``CoModGenerator(GeneratorConfig(...))``; ``GeneratorConfig()`` is the
    released architecture (``official.load_official_generator`` loads its weights).

    Typical use (one sequence)::

        g = CoModGenerator(GeneratorConfig()).eval()
        mean_w = g.mean_latent(generator=gen)               # once, cache it
        code = g.encode_style(first_rgbd * 2 - 1)           # once per sequence
        z = torch.randn(1, g.config.latent_dim, generator=gen)
        rgbd = g.refine(rgb, disp, mask, code, z, truncation=0.7, truncation_mean=mean_w, noise="zero")
    """

    config: GeneratorConfig

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        config = GeneratorConfig() if config is None else config
        if not isinstance(config, GeneratorConfig):
            raise TypeError(f"config must be a GeneratorConfig, got {type(config).__name__}")
        self.config = config
        self.G_mapping = MappingNetwork(config.latent_dim, config.mapping_layers, config.mapping_lr_mul)
        self.style_encoder = Encoder(config.image_channels, config.resolution, config.style_channels, dense=True)
        self.feature_encoder = Encoder(config.image_channels + 1, config.resolution, config.channels, dense=False)
        self.G_synthesis = SynthesisNetwork(config)
        if config.residual:
            self.zero_correction()

    # ------------------------------------------------------------------ helpers
    @torch.no_grad()
    def zero_correction(self) -> None:
        """Zero the convolution weights and biases of the synthesis network's ToRGB layers: ``y = 0``.

        For ``config.residual``, the refined frame is then exactly the encoder's input
        (the push-pull fill in the holes). Their style modulation and the rest of the
        network keep their weights, so gradients still reach every parameter.
        """
        for name, module in self.G_synthesis.named_modules():
            if name.endswith("ToRGB"):
                module.conv.weight.zero_()
                module.bias.zero_()

    def num_parameters(self) -> int:
        """Number of trainable parameter elements (65,239,843 for the released model)."""
        return sum(p.numel() for p in self.parameters())

    def _check_image(self, x: torch.Tensor, name: str, channels: int) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        r = self.config.resolution
        if x.ndim != 4 or x.shape[1] != channels or x.shape[-2:] != (r, r):
            raise ValueError(f"{name} must have shape (B, {channels}, {r}, {r}), got {tuple(x.shape)}")

    def _param(self) -> torch.Tensor:
        return self.G_synthesis.G_4x4.Conv.conv.weight

    # ------------------------------------------------------------------ parts
    def encode_style(
        self, rgbd: torch.Tensor, *, dropout: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Global code of a sequence's first frame.

        Args:
            rgbd: (B, 4, R, R) RGB + disparity, mapped to [-1, 1] (``x * 2 - 1``).
            dropout: apply Dropout(``config.dropout``) after ``Dense0``, as the released
                inference does (it runs the network in train mode). False is the
                deterministic eval behaviour.
            generator: draws the dropout mask when given.

        Returns:
            (B, G) global code, G = ``config.global_dim``.
        """
        self._check_image(rgbd, "rgbd", self.config.image_channels)
        code = self.style_encoder.code(rgbd)
        p = self.config.dropout
        if dropout and p > 0:
            if generator is None:
                keep = torch.rand(code.shape, device=code.device) >= p
            else:
                keep = torch.rand(code.shape, generator=generator, device=generator.device).to(code.device) >= p
            code = code * keep.to(code.dtype) / (1.0 - p)
        return code

    def encoder_input(self, rgb: torch.Tensor, disparity: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The feature encoder's input for a warped frame: (B, 5, R, R) in [-1, 1].

        ``cat([rgb, disparity, mask]) * 2 - 1`` where the holes of ``rgb`` and of
        ``disparity`` (clamped to [0.01, 1]) hold zeros (``hole_fill="zero"``, the
        published input: both times ``mask``) or ``filters.push_pull_fill`` of the
        valid pixels (``hole_fill="push_pull"``; soft mask values blend the two).
        Shapes and ranges as for ``refine``.
        """
        mask = mask.to(rgb.dtype)
        disparity = disparity.clamp(0.01, 1.0)
        if self.config.hole_fill == "push_pull":
            filled = push_pull_fill(torch.cat([rgb, disparity], dim=1), mask)
        else:
            filled = torch.cat([rgb, disparity], dim=1) * mask
        return torch.cat([filled, mask], dim=1) * 2.0 - 1.0

    def encode_features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Multi-scale features of the masked frame.

        Args:
            x: (B, 5, R, R) from ``encoder_input`` (published: ``cat([rgb * mask,
                disp * mask, mask]) * 2 - 1``), in [-1, 1].

        Returns:
            {r: (B, C(r-1), 2^r, 2^r)} for r = 2 .. log2(R).
        """
        self._check_image(x, "x", self.config.image_channels + 1)
        return self.feature_encoder.features(x)

    def map_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Mapping network: z (B, latent_dim) -> w (B, latent_dim)."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape (B, {self.config.latent_dim}), got {tuple(z.shape)}")
        return self.G_mapping(z)

    @torch.no_grad()
    def mean_latent(
        self, num_samples: int = 50_000, *, generator: torch.Generator | None = None, chunk_size: int = 4096
    ) -> torch.Tensor:
        """Mean mapped latent over ``num_samples`` z ~ N(0, I), computed in chunks: (1, latent_dim).

        z is drawn on ``generator``'s device (CPU by default) and moved to the
        model's device, so a CPU seed gives the same result everywhere. Callers cache it.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        p = self._param()
        total = torch.zeros(1, self.config.latent_dim, dtype=torch.float64, device=p.device)
        draw_device = generator.device if generator is not None else torch.device("cpu")
        for start in range(0, num_samples, chunk_size):
            n = min(chunk_size, num_samples - start)
            z = torch.randn(n, self.config.latent_dim, generator=generator, device=draw_device)
            total += self.G_mapping(z.to(device=p.device, dtype=p.dtype)).sum(0, keepdim=True, dtype=torch.float64)
        return (total / num_samples).to(p.dtype)

    def make_noise(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[torch.Tensor]:
        """Fresh N(0, 1) spatial noise for every StyledConv: list of (B, 1, s, s), in call order.

        Drawn on ``generator``'s device (CPU when None) and moved to ``device``.
        """
        p = self._param()
        device = p.device if device is None else torch.device(device)
        dtype = p.dtype if dtype is None else dtype
        draw_device = generator.device if generator is not None else device
        return [
            torch.randn(batch_size, 1, s, s, generator=generator, device=draw_device).to(device=device, dtype=dtype)
            for s in self.G_synthesis.noise_sizes()
        ]

    def synthesize(
        self,
        features: dict[int, torch.Tensor],
        global_code: torch.Tensor,
        z: torch.Tensor,
        *,
        truncation: float = 1.0,
        truncation_mean: torch.Tensor | None = None,
        noise: NoiseSpec = "random",
        generator: torch.Generator | None = None,
        base: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode encoder features into an RGBD frame.

        Args:
            features: output of ``encode_features`` (batch B).
            global_code: (B, G) or (1, G) from ``encode_style``.
            z: (B, latent_dim) or (1, latent_dim) latent, N(0, I); one per sequence.
            truncation: psi; applied as ``mean + psi (w - mean)`` when psi < 0.999
                (the released inference uses 0.7).
            truncation_mean: (1, latent_dim) from ``mean_latent``; required when truncating.
            noise: ``"random"`` (released behaviour: fresh N(0, 1) per StyledConv per call,
                drawn with ``generator``), ``"zero"`` (deterministic), or an explicit
                list with one (B|1, 1, s, s) tensor per StyledConv (``make_noise``).
            generator: for ``noise="random"``.
            base: (B, 4, R, R) RGBD in [0, 1] that the output corrects (``config.residual``:
                ``refine`` passes the encoder's input); None = the published output.

        Returns:
            (B, 4, R, R) RGB + disparity in [0, 1]: ``(tanh(y) + 1) / 2``, or with ``base``
            ``clamp(base + tanh(y), 0, 1)``.
        """
        cfg = self.config
        if set(features) != set(range(2, cfg.log2_resolution + 1)):
            raise ValueError(f"features must have keys 2..{cfg.log2_resolution}, got {sorted(features)}")
        x4 = features[2]
        batch = x4.shape[0]
        if global_code.ndim != 2 or global_code.shape[1] != cfg.global_dim or global_code.shape[0] not in (1, batch):
            raise ValueError(f"global_code must have shape ({batch}, {cfg.global_dim}), got {tuple(global_code.shape)}")
        if z.ndim != 2 or z.shape[1] != cfg.latent_dim or z.shape[0] not in (1, batch):
            raise ValueError(f"z must have shape ({batch}, {cfg.latent_dim}), got {tuple(z.shape)}")
        w = self.G_mapping(z)
        if truncation < 0.999:
            if truncation_mean is None:
                raise ValueError(f"truncation={truncation} needs truncation_mean (see mean_latent)")
            w = truncation_mean + truncation * (w - truncation_mean)
        dlatents = w.expand(batch, -1)[:, None, :].expand(-1, cfg.num_layers, -1)
        global_code = global_code.expand(batch, -1)
        noises = self._resolve_noise(noise, batch, x4, generator)
        y = self.G_synthesis(features, dlatents, global_code, noises)
        if base is not None:
            return (base + torch.tanh(y)).clamp(0.0, 1.0)
        return (torch.tanh(y) + 1.0) / 2.0

    def _resolve_noise(
        self, noise: NoiseSpec, batch: int, like: torch.Tensor, generator: torch.Generator | None
    ) -> list[torch.Tensor | None]:
        sizes = self.G_synthesis.noise_sizes()
        if isinstance(noise, str):
            if noise == "zero":
                return [None] * len(sizes)
            if noise == "random":
                return list(self.make_noise(batch, generator=generator, device=like.device, dtype=like.dtype))
            raise ValueError(f"noise must be 'random', 'zero' or a list of tensors, got {noise!r}")
        noise = list(noise)
        if len(noise) != len(sizes):
            raise ValueError(f"noise must hold {len(sizes)} tensors (one per StyledConv), got {len(noise)}")
        for n, s in zip(noise, sizes):
            if n.ndim != 4 or n.shape[1] != 1 or n.shape[-2:] != (s, s) or n.shape[0] not in (1, batch):
                raise ValueError(f"noise tensors must be ({batch}, 1, {s}, {s}) here, got {tuple(n.shape)}")
        return noise

    def refine(
        self,
        rgb: torch.Tensor,
        disparity: torch.Tensor,
        mask: torch.Tensor,
        global_code: torch.Tensor,
        z: torch.Tensor,
        *,
        truncation: float = 1.0,
        truncation_mean: torch.Tensor | None = None,
        noise: NoiseSpec = "random",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Fill the holes of a warped frame: ``synthesize(encode_features(...))``.

        Args:
            rgb: (B, 3, R, R) warped colour in [0, 1].
            disparity: (B, 1, R, R) warped disparity; clamped to [0.01, 1].
            mask: (B, 1, R, R) validity, 1 = valid, 0 = hole (what the holes show the
                encoder: ``config.hole_fill``, see ``encoder_input``).
            global_code, z, truncation, truncation_mean, noise, generator: see ``synthesize``.

        Returns:
            (B, 4, R, R) refined RGB + disparity in [0, 1].
        """
        b = rgb.shape[0] if rgb.ndim == 4 else -1
        for name, t, c in (("rgb", rgb, 3), ("disparity", disparity, 1), ("mask", mask, 1)):
            if t.ndim != 4 or t.shape[0] != b or t.shape[1] != c:
                raise ValueError(f"{name} must have shape (B, {c}, H, W) with a common B, got {tuple(t.shape)}")
        x = self.encoder_input(rgb, disparity, mask)
        return self.synthesize(
            self.encode_features(x), global_code, z,
            truncation=truncation, truncation_mean=truncation_mean, noise=noise, generator=generator,
            base=(x[:, :4] + 1.0) / 2.0 if self.config.residual else None,
        )  # fmt: skip

    #: ``module(...)`` is ``refine(...)`` (so that DDP and hooks can wrap the module).
    forward = refine
