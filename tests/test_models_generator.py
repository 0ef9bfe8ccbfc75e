"""CoModGenerator and Discriminator with tiny configs: shapes, ranges, gradients, seeds, save/load."""

from __future__ import annotations

import pytest
import torch

from infinitenature.filters import push_pull_fill
from infinitenature.models import (
    CoModGenerator,
    Discriminator,
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminator,
    PatchDiscriminatorConfig,
)
from infinitenature.models.discriminator import minibatch_stddev
from infinitenature.weights import load_model, save_model

TINY = dict(f_max=16, latent_dim=16, mapping_layers=2)


def tiny_generator(resolution: int = 64, seed: int = 0, **kw) -> CoModGenerator:
    torch.manual_seed(seed)
    g = CoModGenerator(GeneratorConfig(resolution=resolution, **{**TINY, **kw}))
    with torch.no_grad():  # non-zero noise strengths and biases, so that every path matters
        for name, p in g.named_parameters():
            if name.endswith("noise.weight") or name.endswith("activate.bias"):
                p.normal_(0, 0.3)
    return g


def inputs(resolution: int, batch: int = 2, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    r = resolution
    rgb = torch.rand(batch, 3, r, r, generator=gen)
    disp = torch.rand(batch, 1, r, r, generator=gen)
    mask = (torch.rand(batch, 1, r, r, generator=gen) > 0.3).float()
    rgbd = torch.rand(batch, 4, r, r, generator=gen) * 2 - 1
    z = torch.randn(batch, TINY["latent_dim"], generator=gen)
    return rgb, disp, mask, rgbd, z


@pytest.fixture(scope="module")
def g64() -> CoModGenerator:
    return tiny_generator(64).eval()


class TestConfig:
    def test_official_defaults(self):
        cfg = GeneratorConfig()
        assert (cfg.resolution, cfg.latent_dim, cfg.num_layers, cfg.style_dim, cfg.global_dim) == (128, 512, 12, 1024, 512)
        assert [cfg.channels(s) for s in range(1, 7)] == [512, 512, 512, 512, 256, 128]
        assert [cfg.style_channels(s) for s in range(1, 7)] == [512, 512, 512, 256, 128, 64]

    @pytest.mark.parametrize(
        "kw, msg",
        [
            (dict(resolution=96), "power of two"),
            (dict(resolution=4), "power of two"),
            (dict(dropout=1.0), "dropout"),
            (dict(f_base_style=512, f_max=512), "style encoder width"),
            (dict(hole_fill="blur"), "hole_fill must be one of"),
            (dict(residual="yes"), "residual must be True or False"),
        ],
    )
    def test_invalid(self, kw, msg):
        with pytest.raises(ValueError, match=msg):
            GeneratorConfig(**kw)

    def test_wrong_config_type(self):
        with pytest.raises(TypeError, match="GeneratorConfig"):
            CoModGenerator({"resolution": 64})


class TestShapes:
    @pytest.mark.parametrize("resolution", [64, 128, 256])
    def test_refine_shapes_and_range(self, resolution):
        g = tiny_generator(resolution, f_max=8 if resolution == 256 else 16)
        rgb, disp, mask, rgbd, z = inputs(resolution)
        with torch.no_grad():
            code = g.encode_style(rgbd)
            feats = g.encode_features(torch.cat([rgb, disp, mask], 1) * 2 - 1)
            out = g.refine(rgb, disp, mask, code, z, generator=torch.Generator().manual_seed(0))
        assert code.shape == (2, g.config.global_dim)
        log2 = resolution.bit_length() - 1
        assert sorted(feats) == list(range(2, log2 + 1))
        for r, f in feats.items():
            assert f.shape == (2, g.config.channels(r - 1), 2**r, 2**r)
        assert out.shape == (2, 4, resolution, resolution)
        assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()

    def test_make_noise_shapes(self, g64):
        noise = g64.make_noise(3, generator=torch.Generator().manual_seed(0))
        assert [tuple(n.shape) for n in noise] == [(3, 1, s, s) for s in (4, 8, 8, 16, 16, 32, 32, 64, 64)]

    def test_mean_latent(self, g64):
        a = g64.mean_latent(1000, generator=torch.Generator().manual_seed(5), chunk_size=300)
        b = g64.mean_latent(1000, generator=torch.Generator().manual_seed(5), chunk_size=4096)
        assert a.shape == (1, 16)
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        z = torch.randn(1000, 16, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            torch.testing.assert_close(a, g64.map_latent(z).mean(0, keepdim=True), atol=1e-6, rtol=1e-5)


class TestBehaviour:
    def test_zero_noise_is_deterministic_and_batch_independent(self, g64):
        rgb, disp, mask, rgbd, z = inputs(64, batch=3)
        with torch.no_grad():
            code = g64.encode_style(rgbd)
            a = g64(rgb, disp, mask, code, z, noise="zero")
            b = g64(rgb, disp, mask, code, z, noise="zero")
            single = g64(rgb[1:2], disp[1:2], mask[1:2], code[1:2], z[1:2], noise="zero")
        assert torch.equal(a, b)
        torch.testing.assert_close(single, a[1:2], atol=1e-5, rtol=1e-5)

    def test_random_noise_follows_seed(self, g64):
        rgb, disp, mask, rgbd, z = inputs(64)
        with torch.no_grad():
            code = g64.encode_style(rgbd)
            run = lambda s: g64(rgb, disp, mask, code, z, generator=torch.Generator().manual_seed(s))  # noqa: E731
            a, b, c = run(7), run(7), run(8)
            explicit = g64(rgb, disp, mask, code, z, noise=g64.make_noise(2, generator=torch.Generator().manual_seed(7)))
        assert torch.equal(a, b)
        assert not torch.allclose(a, c)
        torch.testing.assert_close(explicit, a)

    def test_truncation_zero_removes_latent(self, g64):
        rgb, disp, mask, rgbd, z = inputs(64)
        mean = g64.mean_latent(500, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            code = g64.encode_style(rgbd)
            a = g64(rgb, disp, mask, code, z, truncation=0.0, truncation_mean=mean, noise="zero")
            b = g64(rgb, disp, mask, code, -3 * z, truncation=0.0, truncation_mean=mean, noise="zero")
            c = g64(rgb, disp, mask, code, z, noise="zero")
            d = g64(rgb, disp, mask, code, -3 * z, noise="zero")
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
        assert not torch.allclose(c, d)
        with pytest.raises(ValueError, match="truncation_mean"):
            g64(rgb, disp, mask, code, z, truncation=0.7)

    @pytest.mark.parametrize("hole_fill", ["zero", "push_pull"])
    def test_holes_ignore_their_content(self, g64, hole_fill):
        g = g64 if hole_fill == "zero" else tiny_generator(64, hole_fill=hole_fill).eval()
        rgb, disp, mask, rgbd, z = inputs(64)
        code = torch.zeros(2, g.config.global_dim)
        other_rgb = torch.where(mask.bool(), rgb, torch.rand_like(rgb))
        other_disp = torch.where(mask.bool(), disp, torch.rand_like(disp))
        with torch.no_grad():
            a = g(rgb, disp, mask, code, z, noise="zero")
            b = g(other_rgb, other_disp, mask, code, z, noise="zero")
        assert torch.equal(a, b)

    def test_push_pull_hole_fill_input(self):
        g = tiny_generator(64, hole_fill="push_pull")
        plain = tiny_generator(64)
        rgb, disp, mask, _, _ = inputs(64)
        x, x0 = g.encoder_input(rgb, disp, mask), plain.encoder_input(rgb, disp, mask)
        assert x.shape == (2, 5, 64, 64) and x.min() >= -1 and x.max() <= 1
        valid = mask.bool().expand_as(x)
        assert torch.equal(x[valid], x0[valid])  # valid pixels and the mask channel: the published input
        assert torch.equal(x[:, 4:], x0[:, 4:])
        filled = push_pull_fill(torch.cat([rgb, disp.clamp(0.01, 1)], 1), mask) * 2 - 1
        assert torch.equal(x[:, :4], filled)
        # a hole inside a flat colour and depth shows the encoder that colour and depth
        flat_rgb, flat_disp = torch.full((1, 3, 64, 64), 0.3), torch.full((1, 1, 64, 64), 0.5)
        hole = torch.ones(1, 1, 64, 64)
        hole[..., 20:40, 10:30] = 0
        x = g.encoder_input(flat_rgb, flat_disp, hole)
        torch.testing.assert_close(x[0, :4, 20:40, 10:30], torch.tensor([-0.4, -0.4, -0.4, 0.0])[:, None, None].expand(4, 20, 20))
        assert float(plain.encoder_input(flat_rgb, flat_disp, hole)[0, 0, 30, 20]) == -1.0  # published: black

    def test_refine_equals_parts(self, g64):
        rgb, disp, mask, rgbd, z = inputs(64)
        code = g64.encode_style(rgbd)
        disp = disp * 3 - 1  # out of range: refine clamps to [0.01, 1]
        x = torch.cat([rgb * mask, disp.clamp(0.01, 1) * mask, mask], 1) * 2 - 1
        with torch.no_grad():
            a = g64.refine(rgb, disp, mask, code, z, noise="zero")
            b = g64.synthesize(g64.encode_features(x), code, z, noise="zero")
        assert torch.equal(a, b)

    def test_style_dropout(self, g64):
        _, _, _, rgbd, _ = inputs(64, batch=8)
        with torch.no_grad():
            plain = g64.encode_style(rgbd)
            d1 = g64.encode_style(rgbd, dropout=True, generator=torch.Generator().manual_seed(3))
            d2 = g64.encode_style(rgbd, dropout=True, generator=torch.Generator().manual_seed(3))
        assert torch.equal(d1, d2)
        kept = d1 != 0
        assert 0.3 < kept.float().mean().item() < 0.7
        torch.testing.assert_close(d1[kept], 2 * plain[kept])

    def test_gradients_reach_every_parameter(self):
        g = tiny_generator(32, f_max=8, latent_dim=16)
        rgb, disp, mask, _, z = inputs(32)
        rgbd = torch.rand(2, 4, 32, 32) * 2 - 1
        mean = g.mean_latent(64, generator=torch.Generator().manual_seed(0))
        code = g.encode_style(rgbd)
        out = g(rgb, disp, mask, code, z, truncation=0.7, truncation_mean=mean, generator=torch.Generator().manual_seed(1))
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        missing = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, missing


class TestErrors:
    def test_bad_inputs(self, g64):
        rgb, disp, mask, rgbd, z = inputs(64)
        code = g64.encode_style(rgbd)
        with pytest.raises(ValueError, match=r"rgbd must have shape \(B, 4, 64, 64\)"):
            g64.encode_style(rgbd[:, :3])
        with pytest.raises(ValueError, match=r"\(B, 5, 64, 64\)"):
            g64.encode_features(torch.zeros(1, 5, 32, 32))
        with pytest.raises(ValueError, match="disparity must have shape"):
            g64(rgb, disp[:1], mask, code, z)
        with pytest.raises(ValueError, match="z must have shape"):
            g64(rgb, disp, mask, code, z[:, :4])
        with pytest.raises(ValueError, match="global_code"):
            g64(rgb, disp, mask, code[:, :3], z)
        with pytest.raises(ValueError, match="9 tensors"):
            g64(rgb, disp, mask, code, z, noise=[torch.zeros(2, 1, 4, 4)])
        with pytest.raises(ValueError, match="noise must be"):
            g64(rgb, disp, mask, code, z, noise="gaussian")
        with pytest.raises(TypeError, match="torch.Tensor"):
            g64.encode_style(rgbd.numpy())


class TestResidual:
    def test_a_new_residual_generator_outputs_its_input(self):
        rgb, disp, mask, rgbd, z = inputs(64)
        for hole_fill in ("push_pull", "zero"):
            g = tiny_generator(64, hole_fill=hole_fill, residual=True)
            with torch.no_grad():  # tiny_generator perturbed noise strengths and biases: still a zero correction
                out = g(rgb, disp, mask, g.encode_style(rgbd), z, noise="random")
            want = (g.encoder_input(rgb, disp, mask)[:, :4] + 1) / 2  # the fill in the holes, the input elsewhere
            torch.testing.assert_close(out, want, atol=1e-6, rtol=0)

    def test_the_correction_is_added_and_learns(self):
        g = tiny_generator(64, hole_fill="push_pull", residual=True)
        rgb, disp, mask, rgbd, z = inputs(64)
        code = g.encode_style(rgbd).detach()
        base = (g.encoder_input(rgb, disp, mask)[:, :4] + 1) / 2
        target = (base + 0.1).clamp(0, 1)
        opt = torch.optim.Adam(g.parameters(), lr=0.01)
        losses = []
        for _ in range(5):
            loss = (g(rgb, disp, mask, code, z, noise="zero") - target).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[-1] < 0.8 * losses[0], losses  # the zeroed ToRGB layers get gradients and move
        feats = g.encode_features(g.encoder_input(rgb, disp, mask))
        with torch.no_grad():
            y = g.synthesize(feats, code, z, noise="zero", base=torch.zeros_like(base))  # clamp(0 + tanh(y))
            published = g.synthesize(feats, code, z, noise="zero")  # (tanh(y) + 1) / 2
        torch.testing.assert_close(y, (published * 2 - 1).clamp(0, 1), atol=1e-6, rtol=0)


def test_safetensors_round_trip(tmp_path, g64):
    path = save_model(g64, tmp_path / "g.safetensors")
    loaded = load_model(path, kind="generator")
    assert isinstance(loaded, CoModGenerator) and loaded.config == g64.config
    filled = load_model(save_model(tiny_generator(64, hole_fill="push_pull"), tmp_path / "p.safetensors"), kind="generator")
    assert filled.config.hole_fill == "push_pull"  # the input convention travels with the weights
    rgb, disp, mask, rgbd, z = inputs(64)
    with torch.no_grad():
        a = g64(rgb, disp, mask, g64.encode_style(rgbd), z, noise="zero")
        b = loaded(rgb, disp, mask, loaded.encode_style(rgbd), z, noise="zero")
    assert torch.equal(a, b)


class TestDiscriminator:
    @pytest.mark.parametrize("resolution", [64, 128, 256])
    def test_shapes(self, resolution):
        d = Discriminator(DiscriminatorConfig(resolution=resolution, f_max=8))
        out = d(torch.rand(3, 4, resolution, resolution) * 2 - 1)
        assert out.shape == (3, 1) and torch.isfinite(out).all()

    def test_default_widths_and_keys(self):
        cfg = DiscriminatorConfig()
        assert [cfg.channels(s) for s in range(1, 7)] == [512, 512, 512, 512, 256, 128]
        keys = Discriminator(DiscriminatorConfig(resolution=16, f_max=8)).state_dict()
        assert "convs.1.skip.0.kernel" in keys and "convs.1.conv2.2.bias" in keys and "final_linear.1.bias" in keys

    def test_minibatch_stddev(self):
        same = torch.ones(4, 3, 2, 2)
        out = minibatch_stddev(same, 4)
        assert out.shape == (4, 4, 2, 2)
        torch.testing.assert_close(out[:, 3], torch.full((4, 2, 2), 1e-4))
        x = torch.tensor([0.0, 2.0, 4.0, 6.0, 1.0, 1.0]).view(6, 1, 1, 1)  # 3 groups of 2 (largest divisor <= 4 is 3)
        out = minibatch_stddev(x, 4)[:, 1].flatten()
        std0 = torch.tensor([0.0, 4.0, 1.0]).std(unbiased=False)  # samples 0, 2, 4 share a statistic
        torch.testing.assert_close(out[0], std0, atol=1e-4, rtol=0)
        torch.testing.assert_close(out[4], std0, atol=1e-4, rtol=0)
        torch.testing.assert_close(out[1], torch.tensor([2.0, 6.0, 1.0]).std(unbiased=False), atol=1e-4, rtol=0)

    def test_gradients_and_round_trip(self, tmp_path):
        torch.manual_seed(0)
        d = Discriminator(DiscriminatorConfig(resolution=16, f_max=8, in_channels=3))
        x = torch.rand(2, 3, 16, 16) * 2 - 1
        d(x).sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())
        loaded = load_model(save_model(d, tmp_path / "d.safetensors"), kind="discriminator")
        with torch.no_grad():
            assert torch.equal(loaded(x), d(x))
        with pytest.raises(ValueError, match=r"x must have shape \(B, 3, 16, 16\)"):
            d(torch.zeros(1, 4, 16, 16))


class TestPatchDiscriminator:
    @pytest.mark.parametrize("levels", [1, 2, 3])
    def test_logit_map_and_receptive_field(self, levels):
        cfg = PatchDiscriminatorConfig(resolution=128, levels=levels, f_base=512, f_max=16)
        d = PatchDiscriminator(cfg)
        x = torch.zeros(2, 4, 128, 128, requires_grad=True)
        out = d(x)
        side = 128 >> levels
        assert out.shape == (2, 1, side, side)
        out[0, 0, side // 2, side // 2].backward()  # one logit depends on a receptive_field-wide window only
        touched = x.grad[0].abs().sum(0).nonzero()
        assert x.grad[1].abs().sum() == 0  # samples do not interact
        for axis in (0, 1):
            assert int(touched[:, axis].max() - touched[:, axis].min() + 1) == cfg.receptive_field
        assert [PatchDiscriminatorConfig(levels=n).receptive_field for n in (1, 2, 3)] == [12, 30, 66]

    def test_bad_configs_and_round_trip(self, tmp_path):
        with pytest.raises(ValueError, match="levels must be >= 1"):
            PatchDiscriminatorConfig(resolution=16, levels=3)
        with pytest.raises(ValueError, match="power of two"):
            PatchDiscriminatorConfig(resolution=96)
        torch.manual_seed(0)
        d = PatchDiscriminator(PatchDiscriminatorConfig(resolution=32, levels=2, f_base=256, f_max=8))
        x = torch.rand(2, 4, 32, 32) * 2 - 1
        d(x).sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())
        loaded = load_model(save_model(d, tmp_path / "pd.safetensors"), kind="patch_discriminator")
        with torch.no_grad():
            assert torch.equal(loaded(x), d(x))
        with pytest.raises(ValueError, match=r"x must have shape \(B, 4, 32, 32\)"):
            d(torch.zeros(1, 4, 16, 16))
