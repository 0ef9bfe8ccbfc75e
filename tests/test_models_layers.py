"""Known answers for the StyleGAN2 blocks in infinitenature.models.layers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from infinitenature.models.layers import (
    Blur,
    ConvLayer,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    StyledConv,
    ToRGB,
    Upsample,
    make_kernel,
)


def ref_upfirdn2d(x: torch.Tensor, k: torch.Tensor, *, up: int = 1, down: int = 1, pad=(0, 0)) -> torch.Tensor:
    """Reference upfirdn2d by its definition: zero insertion, zero pad, true convolution, decimation."""
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, (pad[0], pad[1], pad[0], pad[1]))
    kk = torch.flip(k, (0, 1)).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    out = F.conv2d(z, kk, groups=c)
    return out[:, :, ::down, ::down]


def _x(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


class TestKernels:
    def test_make_kernel_values(self):
        k = make_kernel([1, 3, 3, 1])
        expected = torch.tensor([[1, 3, 3, 1], [3, 9, 9, 3], [3, 9, 9, 3], [1, 3, 3, 1]], dtype=torch.float32) / 64
        assert k.dtype == torch.float32
        torch.testing.assert_close(k, expected)
        assert k.sum().item() == pytest.approx(1.0)

    def test_make_kernel_rejects_3d(self):
        with pytest.raises(ValueError, match="1-D or 2-D"):
            make_kernel(torch.ones(2, 2, 2))

    def test_blur_downsample_pad_matches_upfirdn(self):
        blur = Blur([1, 3, 3, 1], pad=(2, 2))
        x = _x(2, 3, 9, 9)
        out = blur(x)
        assert out.shape == (2, 3, 10, 10)
        torch.testing.assert_close(out, ref_upfirdn2d(x, blur.kernel, pad=(2, 2)), atol=1e-6, rtol=0)
        assert set(blur.state_dict()) == {"kernel"}

    def test_blur_after_upsampling_matches_upfirdn(self):
        blur = Blur([1, 3, 3, 1], pad=(1, 1), upsample_factor=2)
        torch.testing.assert_close(blur.kernel, make_kernel([1, 3, 3, 1]) * 4)
        x = _x(1, 4, 17, 17, seed=1)
        out = blur(x)
        assert out.shape == (1, 4, 16, 16)
        torch.testing.assert_close(out, ref_upfirdn2d(x, blur.kernel, pad=(1, 1)), atol=1e-6, rtol=0)

    def test_blur_asymmetric_pad_and_asymmetric_kernel(self):
        # A non-symmetric kernel checks that the convolution is a true (flipped) one.
        blur = Blur([1, 2, 4], pad=(2, 0))
        x = _x(1, 2, 6, 7, seed=2)
        torch.testing.assert_close(blur(x), ref_upfirdn2d(x, blur.kernel, pad=(2, 0)), atol=1e-6, rtol=0)

    def test_upsample_matches_upfirdn(self):
        up = Upsample([1, 3, 3, 1])
        assert up.pad == (2, 1)
        x = _x(2, 3, 5, 5, seed=3)
        out = up(x)
        assert out.shape == (2, 3, 10, 10)
        torch.testing.assert_close(out, ref_upfirdn2d(x, up.kernel, up=2, pad=up.pad), atol=1e-6, rtol=0)
        # Upsampling a constant keeps it (away from the zero-padded border).
        const = up(torch.ones(1, 1, 6, 6))
        torch.testing.assert_close(const[..., 2:-2, 2:-2], torch.ones(1, 1, 8, 8))

    def test_upsample_odd_kernel_uses_cropping_path(self):
        up = Upsample([1, 2, 4])  # p = 1: pad (2, 0), not expressible as a symmetric transposed-conv padding
        x = _x(1, 2, 4, 6, seed=4)
        out = up(x)
        assert out.shape == (1, 2, 8, 12)
        torch.testing.assert_close(out, ref_upfirdn2d(x, up.kernel, up=2, pad=up.pad), atol=1e-6, rtol=0)


class TestSimpleLayers:
    def test_pixel_norm_unit_rms(self):
        y = PixelNorm()(_x(4, 16) * 7)
        torch.testing.assert_close(y.pow(2).mean(1), torch.ones(4), atol=1e-5, rtol=0)

    def test_fused_leaky_relu_values(self):
        act = FusedLeakyReLU(2)
        with torch.no_grad():
            act.bias.copy_(torch.tensor([0.0, 1.0]))
        x = torch.tensor([[[[-1.0]], [[-3.0]]], [[[2.0]], [[0.0]]]])  # (2, 2, 1, 1)
        expected = torch.tensor([[-0.2, -0.4], [2.0, 1.0]]) * math.sqrt(2)
        torch.testing.assert_close(act(x).flatten(1), expected)

    def test_equal_linear(self):
        lin = EqualLinear(8, 3, lr_mul=0.01, bias_init=0.5)
        x = _x(5, 8)
        w = lin.weight * 0.01 / math.sqrt(8)
        torch.testing.assert_close(lin(x), x @ w.T + 0.005)
        act = EqualLinear(8, 3, lr_mul=0.01, bias_init=0.5, activation=True)
        with torch.no_grad():
            act.weight.copy_(lin.weight)
        torch.testing.assert_close(act(x), F.leaky_relu(x @ w.T + 0.005, 0.2) * math.sqrt(2))
        assert set(lin.state_dict()) == {"weight", "bias"}

    def test_fused_leaky_relu_gradcheck(self):
        x = _x(2, 3, 4, 4, dtype=torch.float64).requires_grad_()
        act = FusedLeakyReLU(3).double()
        assert torch.autograd.gradcheck(lambda a, b: act(a) * b, (x, x.detach() + 1))
        with torch.no_grad():
            act.bias.normal_()
        assert torch.autograd.gradcheck(act, (x,))

    @pytest.mark.parametrize("batch", [1, 600])  # scales the input (small batch) or the weight (big batch)
    def test_equal_linear_both_scaling_orders(self, batch):
        lin = EqualLinear(8, 3, lr_mul=0.1, activation=True)
        x = _x(batch, 8)
        expected = F.leaky_relu(x @ (lin.weight * 0.1 / math.sqrt(8)).T + 0.1 * lin.bias, 0.2) * math.sqrt(2)
        torch.testing.assert_close(lin(x), expected, atol=1e-5, rtol=1e-5)

    def test_equal_conv2d(self):
        conv = EqualConv2d(3, 4, 3, padding=1)
        for x in (_x(2, 3, 6, 6), _x(1, 3, 2, 2)):  # input bigger / smaller than the weight
            torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight / math.sqrt(27), conv.bias, padding=1))

    def test_conv_layer_children(self):
        plain = ConvLayer(3, 4, 3)
        assert list(plain.state_dict()) == ["0.weight", "1.bias"]
        down = ConvLayer(3, 4, 3, downsample=True)
        assert list(down.state_dict()) == ["0.kernel", "1.weight", "2.bias"]
        assert down[0].pad == (2, 2)
        skip = ConvLayer(3, 4, 1, downsample=True, activate=False, bias=False)
        assert list(skip.state_dict()) == ["0.kernel", "1.weight"]

    def test_conv_layer_downsample_known_answer(self):
        layer = ConvLayer(3, 5, 3, downsample=True)
        with torch.no_grad():
            layer[2].bias.normal_()
        x = _x(2, 3, 8, 8)
        out = layer(x)
        assert out.shape == (2, 5, 4, 4)
        ref = ref_upfirdn2d(x, make_kernel([1, 3, 3, 1]), pad=(2, 2))
        ref = F.conv2d(ref, layer[1].weight / math.sqrt(27), stride=2)
        ref = F.leaky_relu(ref + layer[2].bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)

    def test_noise_injection(self):
        inj = NoiseInjection()
        x = _x(2, 3, 4, 4)
        assert inj(x) is x
        with torch.no_grad():
            inj.weight.fill_(0.5)
        n = _x(2, 1, 4, 4, seed=9)
        torch.testing.assert_close(inj(x, n), x + 0.5 * n)


def ref_modulated_conv(mod: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """One sample at a time, from the formulas: modulate, demodulate, convolve (or transpose-conv + blur)."""
    outs = []
    for b in range(x.shape[0]):
        s = style[b : b + 1] @ (mod.modulation.weight / math.sqrt(style.shape[1])).T + mod.modulation.bias
        w = mod.weight[0] / math.sqrt(mod.in_channel * mod.kernel_size**2) * s.view(1, -1, 1, 1)
        if mod.demodulate:
            w = w / torch.sqrt((w**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        xb = x[b : b + 1]
        if mod.upsample:
            y = F.conv_transpose2d(xb, w.transpose(0, 1), stride=2)
            y = ref_upfirdn2d(y, make_kernel([1, 3, 3, 1]) * 4, pad=(1, 1))
        else:
            y = F.conv2d(xb, w, padding=mod.kernel_size // 2)
        outs.append(y)
    return torch.cat(outs)


class TestModulatedConv:
    @pytest.mark.parametrize("upsample", [False, True])
    @pytest.mark.parametrize("demodulate", [True, False])
    def test_matches_per_sample_reference(self, upsample, demodulate):
        torch.manual_seed(0)
        mod = ModulatedConv2d(4, 6, 3, 10, demodulate=demodulate, upsample=upsample)
        x, style = _x(3, 4, 5, 5, seed=1), _x(3, 10, seed=2)
        out = mod(x, style)
        assert out.shape == ((3, 6, 10, 10) if upsample else (3, 6, 5, 5))
        torch.testing.assert_close(out, ref_modulated_conv(mod, x, style), atol=1e-5, rtol=1e-5)

    def test_demodulated_weights_have_unit_norm(self):
        mod = ModulatedConv2d(8, 5, 3, 7)
        w = mod.modulated_weight(_x(4, 7) * 3)
        assert w.shape == (4, 5, 8, 3, 3)
        torch.testing.assert_close(w.pow(2).sum(dim=(2, 3, 4)), torch.ones(4, 5), atol=1e-5, rtol=0)

    def test_state_dict_names(self):
        assert list(ModulatedConv2d(4, 6, 3, 10).state_dict()) == ["weight", "modulation.weight", "modulation.bias"]
        up = ModulatedConv2d(4, 6, 3, 10, upsample=True)
        assert list(up.state_dict()) == ["weight", "blur.kernel", "modulation.weight", "modulation.bias"]
        assert up.weight.shape == (1, 6, 4, 3, 3)
        torch.testing.assert_close(up.modulation.bias, torch.ones(4))

    def test_input_errors(self):
        mod = ModulatedConv2d(4, 6, 3, 10)
        with pytest.raises(ValueError, match="4 input channels"):
            mod(_x(1, 5, 4, 4), _x(1, 10))
        with pytest.raises(ValueError, match="style batch"):
            mod(_x(2, 4, 4, 4), _x(3, 10))

    def test_gradcheck_float64(self):
        torch.manual_seed(0)
        mod = ModulatedConv2d(2, 3, 3, 4, upsample=True).double()
        x = _x(2, 2, 3, 3, dtype=torch.float64).requires_grad_()
        s = _x(2, 4, seed=1, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b: mod(a, b), (x, s))


class TestStyledBlocks:
    def test_styled_conv(self):
        sc = StyledConv(4, 6, 3, 10, upsample=True)
        assert list(sc.state_dict()) == [
            "conv.weight", "conv.blur.kernel", "conv.modulation.weight", "conv.modulation.bias",
            "noise.weight", "activate.bias",
        ]  # fmt: skip
        x, s = _x(2, 4, 4, 4), _x(2, 10, seed=1)
        with torch.no_grad():
            sc.noise.weight.fill_(0.3)
        n = _x(2, 1, 8, 8, seed=2)
        expected = F.leaky_relu(sc.conv(x, s) + 0.3 * n, 0.2) * math.sqrt(2)
        torch.testing.assert_close(sc(x, s, n), expected)

    def test_to_rgb(self):
        rgb = ToRGB(6, 10, output_channel=4)
        assert list(rgb.state_dict()) == [
            "bias", "upsample.kernel", "conv.weight", "conv.modulation.weight", "conv.modulation.bias",
        ]  # fmt: skip
        x, s, skip = _x(2, 6, 8, 8), _x(2, 10, seed=1), _x(2, 4, 4, 4, seed=2)
        out = rgb(x, s, skip)
        assert out.shape == (2, 4, 8, 8)
        torch.testing.assert_close(out, rgb.conv(x, s) + rgb.bias + rgb.upsample(skip))
        first = ToRGB(6, 10, output_channel=4, upsample=False)
        assert "upsample.kernel" not in first.state_dict()
        with pytest.raises(ValueError, match="upsample=False"):
            first(x, s, skip)
