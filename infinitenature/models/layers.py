"""StyleGAN2 building blocks (equalized learning rate, modulated convolutions).

Explicit small layers in the style of rosinality/stylegan2-pytorch, written
once in plain PyTorch and composed by the generator and the discriminator.
Attribute and child names are chosen so that the official InfiniteNature-Zero
checkpoint loads strictly (see ``official.py``): do not rename them.

Resampling follows the ``upfirdn2d`` definition (zero-insertion upsampling,
zero padding, true convolution with a fixed FIR kernel, decimation), expressed
with standard depthwise ``conv2d`` / ``conv_transpose2d`` calls so that it runs
on every device without compiled extensions.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "make_kernel",
    "fused_leaky_relu",
    "PixelNorm",
    "EqualLinear",
    "FusedLeakyReLU",
    "EqualConv2d",
    "Blur",
    "Upsample",
    "ConvLayer",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv",
    "ToRGB",
]

BLUR_KERNEL: tuple[int, ...] = (1, 3, 3, 1)
"""The FIR taps StyleGAN2 uses for every blur and upsampling filter."""

_SQRT2 = math.sqrt(2.0)


def make_kernel(k: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """A 2-D FIR kernel that sums to 1, float32.

    A 1-D ``k`` of length n becomes the (n, n) outer product ``k k^T``; a 2-D
    ``k`` is used as is. Either way the result is divided by its sum.

    Example:
        >>> make_kernel([1, 3, 3, 1]) * 64
        tensor([[1., 3., 3., 1.],
                [3., 9., 9., 3.],
                [3., 9., 9., 3.],
                [1., 3., 3., 1.]])
    """
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    if k.ndim != 2:
        raise ValueError(f"make_kernel expects a 1-D or 2-D kernel, got shape {tuple(k.shape)}")
    return k / k.sum()


def fused_leaky_relu(
    x: torch.Tensor, bias: torch.Tensor | None = None, *, negative_slope: float = 0.2, scale: float = _SQRT2
) -> torch.Tensor:
    """``scale * leaky_relu(x + bias)``, the bias broadcast over dim 1.

    Computed as ``leaky_relu_(scale * x + scale * bias)`` (equal for scale > 0):
    one new tensor and two passes over it.

    Args:
        x: (B, C, ...) or (B, C).
        bias: (C,) or None.
    """
    if bias is None:
        y = x * scale
    else:
        y = torch.add(bias.view(1, -1, *([1] * (x.ndim - 2))) * scale, x, alpha=scale)
    return F.leaky_relu_(y, negative_slope)


def _scaled_linear_op(op, x: torch.Tensor, weight: torch.Tensor, scale: float, bias, **kw) -> torch.Tensor:
    """``op(x, scale * weight, bias)`` for a linear ``op``, scaling whichever of x and weight is smaller."""
    if x.numel() < weight.numel():
        return op(x * scale, weight, bias, **kw)
    return op(x, weight * scale, bias, **kw)


class PixelNorm(nn.Module):
    """Normalize each feature vector to unit root-mean-square over dim 1 (eps 1e-8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate.

    ``y = x (lr_mul / sqrt(in_dim) W)^T + lr_mul b``, followed by
    ``sqrt(2) * leaky_relu(., 0.2)`` when ``activation`` is true.

    Args:
        in_dim, out_dim: feature sizes; input (B, in_dim) -> output (B, out_dim).
        bias: whether to learn a bias (initialised to ``bias_init``).
        lr_mul: learning-rate multiplier (0.01 in the mapping network).
        activation: apply the fused leaky ReLU.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(_scaled_linear_op(F.linear, x, self.weight, self.scale, None), bias)
        return _scaled_linear_op(F.linear, x, self.weight, self.scale, bias)

    def extra_repr(self) -> str:
        out_dim, in_dim = self.weight.shape
        return f"{in_dim}, {out_dim}, lr_mul={self.lr_mul}, activation={self.activation}"


class FusedLeakyReLU(nn.Module):
    """Learned per-channel bias, then ``scale * leaky_relu(., negative_slope)``.

    Input (B, C, H, W) or (B, C); parameter ``bias`` (C,) initialised to 0
    (absent when ``bias=False``).
    """

    def __init__(
        self, channel: int, *, bias: bool = True, negative_slope: float = 0.2, scale: float = _SQRT2
    ) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, negative_slope=self.negative_slope, scale=self.scale)


class EqualConv2d(nn.Module):
    """2-D convolution with equalized learning rate (weight scale ``1/sqrt(in * k * k)``).

    Input (B, in, H, W) -> (B, out, H', W') with the usual conv2d size rule.
    """

    def __init__(
        self, in_channel: int, out_channel: int, kernel_size: int, *, stride: int = 1, padding: int = 0, bias: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _scaled_linear_op(
            F.conv2d, x, self.weight, self.scale, self.bias, stride=self.stride, padding=self.padding
        )

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"


def _depthwise(kernel: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """A (kh, kw) kernel as a depthwise conv weight (channels, 1, kh, kw)."""
    return kernel.to(dtype)[None, None].expand(channels, 1, *kernel.shape)


class Blur(nn.Module):
    """Fixed FIR filter: ``upfirdn2d(x, kernel, up=1, down=1, pad=pad)``.

    Zero-pads ``pad = (before, after)`` on both spatial axes and takes a true
    (flipped) depthwise convolution with the stored ``kernel`` buffer.
    (B, C, H, W) -> (B, C, H + p0 + p1 - kh + 1, W + p0 + p1 - kw + 1).

    Args:
        kernel: 1-D taps, e.g. (1, 3, 3, 1).
        pad: (before, after) zero padding.
        upsample_factor: the stored kernel is multiplied by its square (keeps the
            mean after a zero-inserting upsampling).
    """

    kernel: torch.Tensor

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], *, upsample_factor: int = 1) -> None:
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor**2
        self.register_buffer("kernel", k)
        self.pad = (int(pad[0]), int(pad[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.pad
        weight = _depthwise(self.kernel.flip(0, 1), x.shape[1], x.dtype)
        if p0 == p1:
            return F.conv2d(x, weight, padding=p0, groups=x.shape[1])
        return F.conv2d(F.pad(x, (p0, p1, p0, p1)), weight, groups=x.shape[1])

    def extra_repr(self) -> str:
        return f"kernel={tuple(self.kernel.shape)}, pad={self.pad}"


class Upsample(nn.Module):
    """Upsample by ``factor`` with a fixed FIR filter: ``upfirdn2d(x, kernel, up=factor, pad=(p0, p1))``.

    Implemented as a depthwise ``conv_transpose2d`` (a true convolution of the
    zero-inserted signal). (B, C, H, W) -> (B, C, factor*H, factor*W).
    The ``kernel`` buffer is ``make_kernel(kernel) * factor**2``.
    """

    kernel: torch.Tensor

    def __init__(self, kernel: Sequence[float] = BLUR_KERNEL, *, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel) * factor**2
        self.register_buffer("kernel", k)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel.shape[0]
        weight = _depthwise(self.kernel, x.shape[1], x.dtype)
        # conv_transpose2d(padding=0) is upfirdn2d with pad (k-1, k-factor) on each axis;
        # crop the difference to reach (p0, p1).
        c0, c1 = k - 1 - self.pad[0], k - self.factor - self.pad[1]
        if c0 == c1:
            return F.conv_transpose2d(x, weight, stride=self.factor, padding=c0, groups=x.shape[1])
        out = F.conv_transpose2d(x, weight, stride=self.factor, groups=x.shape[1])
        return F.pad(out, (-c0, -c1, -c0, -c1))

    def extra_repr(self) -> str:
        return f"factor={self.factor}, pad={self.pad}"


class ConvLayer(nn.Sequential):
    """Equalized conv, optional blur + stride-2 downsampling, optional fused leaky ReLU.

    Children (these indices are part of the checkpoint format):
      - ``downsample=False``: ``0`` EqualConv2d (padding k//2), ``1`` FusedLeakyReLU.
      - ``downsample=True``: ``0`` Blur, ``1`` EqualConv2d (stride 2), ``2`` FusedLeakyReLU.
    The activation carries the bias; without activation the conv has it.
    (B, in, H, W) -> (B, out, H, W), or (B, out, H/2, W/2) when downsampling.
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        *,
        downsample: bool = False,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        bias: bool = True,
        activate: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(
                in_channel, out_channel, kernel_size, stride=stride, padding=padding, bias=bias and not activate
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias))
        super().__init__(*layers)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (optionally demodulated, optionally 2x upsampling).

    For each sample b: ``w_b[o, i] = scale * weight[0, o, i] * s_b[i]`` with
    ``s = modulation(style)``; demodulation divides by
    ``sqrt(sum_{i,ky,kx} w_b[o]^2 + 1e-8)``. The whole batch runs as ONE grouped
    convolution (groups = B). With ``upsample`` the convolution is a stride-2
    transposed convolution (weight used as (in, out, k, k), no flip) followed by
    a 4x4 blur, giving exactly 2x the input size.

    Args:
        in_channel, out_channel, kernel_size: conv sizes; weight (1, out, in, k, k).
        style_dim: width of the style vector; ``modulation`` is
            ``EqualLinear(style_dim, in_channel, bias_init=1)``.

    Shapes: x (B, in, H, W), style (B, style_dim) -> (B, out, H, W) or (B, out, 2H, 2W).
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        *,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)

    def _factors(self, style: torch.Tensor) -> torch.Tensor:
        """Per-sample multipliers of ``weight``: (B, out, in) with demodulation, else (B, 1, in).

        ``w_b[o, i] = weight[0, o, i] * f[b, o, i]`` with ``f = scale * s_i * d_o``. The
        demodulation sum is taken as ``(scale * s)^2 @ (sum_k weight^2)^T``, which
        reads the big weight twice instead of materialising several copies.
        """
        s = self.modulation(style) * self.scale  # (B, in)
        if not self.demodulate:
            return s[:, None, :]
        wsq = torch.linalg.vector_norm(self.weight[0], dim=(2, 3)).square()  # (out, in)
        demod = torch.rsqrt(s.square() @ wsq.T + 1e-8)  # (B, out)
        return s[:, None, :] * demod[:, :, None]

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """The per-sample (modulated, demodulated) weight, shape (B, out, in, k, k)."""
        return self.weight * self._factors(style)[..., None, None]

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c != self.in_channel:
            raise ValueError(f"ModulatedConv2d expects {self.in_channel} input channels, got {c}")
        if style.shape[0] != b:
            raise ValueError(f"style batch {style.shape[0]} does not match input batch {b}")
        k = self.kernel_size
        factors = self._factors(style)
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            # conv_transpose2d wants (in, out, k, k) per group: build the weight in that layout.
            weight = self.weight[0].transpose(0, 1)[None] * factors.transpose(1, 2)[..., None, None]
            out = F.conv_transpose2d(x, weight.reshape(b * c, self.out_channel, k, k), stride=2, groups=b)
            out = self.blur(out.reshape(b, self.out_channel, *out.shape[-2:]))
        else:
            weight = self.weight[0][None] * factors[..., None, None]
            out = F.conv2d(x, weight.reshape(b * self.out_channel, c, k, k), padding=self.padding, groups=b)
            out = out.reshape(b, self.out_channel, *out.shape[-2:])
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, "
            f"demodulate={self.demodulate}, upsample={self.upsample}"
        )


class NoiseInjection(nn.Module):
    """Add learned-strength spatial noise: ``x + weight * noise``.

    ``noise`` is (B or 1, 1, H, W), broadcast over channels; ``None`` adds nothing
    (the same as zero noise). Drawing random noise is the caller's job, so that
    it can use a ``torch.Generator``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            return x
        return x + self.weight * noise


class StyledConv(nn.Module):
    """Modulated conv, then noise injection, then biased leaky ReLU (x sqrt 2).

    Children ``conv`` (ModulatedConv2d), ``noise`` (NoiseInjection), ``activate``
    (FusedLeakyReLU). x (B, in, H, W), style (B, style_dim), noise (B|1, 1, H', W')
    or None -> (B, out, H', W') with H' = 2H when ``upsample``.
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        *,
        upsample: bool = False,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        demodulate: bool = True,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channel, out_channel, kernel_size, style_dim,
            demodulate=demodulate, upsample=upsample, blur_kernel=blur_kernel,
        )  # fmt: skip
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to ``output_channel`` channels, plus bias and upsampled skip.

    x (B, in, H, W), style (B, style_dim), skip (B, output_channel, H/2, W/2) or
    None -> (B, output_channel, H, W). Without ``upsample`` there is no
    ``upsample`` child and a skip is an error.
    """

    def __init__(
        self,
        in_channel: int,
        style_dim: int,
        *,
        output_channel: int = 3,
        upsample: bool = True,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, output_channel, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, output_channel, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            if not hasattr(self, "upsample"):
                raise ValueError("this ToRGB was built with upsample=False and takes no skip input")
            out = out + self.upsample(skip)
        return out
