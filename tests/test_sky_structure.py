"""Test-time structure of the sky probability (infinitenature.estimators.sky_structure)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from infinitenature.estimators import SkyNet, SkyNetConfig
from infinitenature.estimators.sky_structure import (
    SkyStructureConfig,
    colour_log_ratio,
    fill_ground_islands,
    foliage_score,
    structure_sky,
)

BLUE, BROWN, GREEN = (0.35, 0.55, 0.9), (0.45, 0.3, 0.15), (0.25, 0.6, 0.1)


def _paint(h: int, w: int, top, bottom, split: int | None = None) -> torch.Tensor:
    """``(1, 3, h, w)``: colour ``top`` above row ``split`` (default h // 2), ``bottom`` below, a little noise."""
    split = h // 2 if split is None else split
    img = torch.empty(1, 3, h, w)
    img[..., :split, :] = torch.tensor(top).view(1, 3, 1, 1)
    img[..., split:, :] = torch.tensor(bottom).view(1, 3, 1, 1)
    g = torch.Generator().manual_seed(0)
    return (img + 0.02 * torch.randn(img.shape, generator=g)).clamp(0, 1)


def _prob(h: int, w: int, split: int | None = None, sky: float = 0.95, ground: float = 0.05) -> torch.Tensor:
    split = h // 2 if split is None else split
    p = torch.full((1, 1, h, w), ground)
    p[..., :split, :] = sky
    return p


class TestFillGroundIslands:
    def test_island_above_the_bottom_becomes_sky_and_ground_at_the_bottom_stays(self):
        p = _prob(40, 40)
        p[..., 5:12, 10:20] = 0.1  # ground inside the sky (a dark cloud)
        p[..., 8:16, 0:3] = 0.2  # touches the left border but not the bottom row
        q = fill_ground_islands(p)
        assert torch.allclose(q[..., 5:12, 10:20], torch.tensor(0.9))
        assert torch.allclose(q[..., 8:16, 0:3], torch.tensor(0.8))
        assert torch.equal(q[..., 20:, :], p[..., 20:, :])  # reaches the bottom: kept
        assert torch.equal(q[..., :5, :], p[..., :5, :])
        assert q.shape == p.shape and q is not p

    def test_diagonal_contact_counts_as_connected(self):
        p = torch.ones(1, 1, 6, 6)
        p[..., 5, 0] = 0.0
        p[..., 4, 1] = 0.0  # touches (5, 0) only diagonally
        assert torch.equal(fill_ground_islands(p), p)

    def test_all_sky_and_all_ground_unchanged(self):
        for v in (0.0, 1.0):
            p = torch.full((2, 1, 8, 8), v)
            assert torch.equal(fill_ground_islands(p), p)

    def test_rejects_bad_shapes(self):
        with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
            fill_ground_islands(torch.rand(1, 8, 8))
        with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
            fill_ground_islands(torch.rand(1, 2, 8, 8))


class TestColourModel:
    def test_uncertain_pixels_follow_the_photo_colours(self):
        img = _paint(48, 64, BLUE, BROWN)
        p = _prob(48, 64)
        p[..., 10:20, 20:40] = 0.35  # blue sky the network doubts
        p[..., 30:40, 20:40] = 0.65  # brown ground the network half takes for sky
        cfg = SkyStructureConfig(fill_ground_islands=False, foliage_weight=0, dark_sky_margin=None)
        q = structure_sky(p, img, cfg)
        assert (q[..., 10:20, 20:40] > 0.9).all()
        assert (q[..., 30:40, 20:40] < 0.1).all()
        assert (q[..., :8, :] > 0.9).all() and (q[..., 42:, :] < 0.1).all()

    def test_log_ratio_sign_and_skip_without_sure_pixels(self):
        from infinitenature.estimators.sky_structure import _lab

        img = _paint(32, 32, BLUE, BROWN)
        lab = _lab(img)[0]
        cfg = SkyStructureConfig()
        llr = colour_log_ratio(_prob(32, 32)[0], lab, cfg)
        assert llr.shape == (32, 32) and llr.dtype == torch.float32
        assert (llr[:12] > 0).all() and (llr[20:] < 0).all()
        assert colour_log_ratio(torch.full((1, 32, 32), 0.5), lab, cfg) is None  # no sure pixels
        assert colour_log_ratio(_prob(32, 32, split=0)[0], lab, cfg) is None  # no sure sky

    def test_nothing_sure_leaves_the_probability_alone(self):
        img = _paint(32, 32, BLUE, BROWN)
        p = torch.linspace(0.3, 0.7, 32).view(1, 1, 32, 1).expand(1, 1, 32, 32).flip(2).contiguous()
        cfg = SkyStructureConfig(fill_ground_islands=False, foliage_weight=0, dark_sky_margin=None)
        assert torch.allclose(structure_sky(p, img, cfg), p, atol=1e-6)


class TestPhotoRules:
    def test_foliage_is_damped(self):
        img = _paint(32, 32, GREEN, GREEN)
        assert (foliage_score(_lab_of(img)) > 0.9).all()
        assert (foliage_score(_lab_of(_paint(32, 32, BLUE, BROWN))) == 0).all()
        p = torch.full((1, 1, 32, 32), 0.9)
        q = structure_sky(p, img, SkyStructureConfig(fill_ground_islands=False, colour_model=False))
        assert (q < 0.1).all()

    def test_warm_sky_darker_than_its_ground_is_damped_blue_is_not(self):
        cfg = SkyStructureConfig(fill_ground_islands=False, colour_model=False, foliage_weight=0)
        p = _prob(32, 32, sky=0.9)
        dark_brown_over_bright = _paint(32, 32, (0.3, 0.18, 0.08), (0.85, 0.75, 0.55))
        q = structure_sky(p, dark_brown_over_bright, cfg)
        assert torch.allclose(q, p * cfg.dark_sky_factor)
        dark_blue_over_bright = _paint(32, 32, (0.1, 0.2, 0.45), (0.85, 0.75, 0.55))
        assert torch.equal(structure_sky(p, dark_blue_over_bright, cfg), p)
        assert torch.equal(structure_sky(p, dark_brown_over_bright, dataclasses.replace(cfg, dark_sky_margin=None)), p)


def _lab_of(img: torch.Tensor) -> torch.Tensor:
    from infinitenature.estimators.sky_structure import _lab

    return _lab(img)


class TestStructureSky:
    def test_shapes_range_dtype_and_determinism(self):
        g = torch.Generator().manual_seed(1)
        img = torch.rand(2, 3, 24, 40, generator=g)
        p = torch.rand(2, 1, 24, 40, generator=g)
        q = structure_sky(p, img)
        assert q.shape == p.shape and q.dtype == p.dtype
        assert q.min() >= 0 and q.max() <= 1
        assert torch.equal(q, structure_sky(p, img))
        assert structure_sky(p.double(), img).dtype == torch.float64

    def test_photos_of_a_batch_are_independent(self):
        a = (_paint(32, 48, BLUE, BROWN), _prob(32, 48))
        b = (_paint(32, 48, (0.3, 0.18, 0.08), (0.85, 0.75, 0.55)), _prob(32, 48, sky=0.7))
        both = structure_sky(torch.cat([a[1], b[1]]), torch.cat([a[0], b[0]]))
        assert torch.allclose(both[:1], structure_sky(a[1], a[0]))
        assert torch.allclose(both[1:], structure_sky(b[1], b[0]))

    def test_everything_off_is_the_identity(self):
        cfg = SkyStructureConfig(fill_ground_islands=False, colour_model=False, foliage_weight=0, dark_sky_margin=None)
        p = torch.rand(1, 1, 16, 16)
        assert torch.allclose(structure_sky(p, torch.rand(1, 3, 16, 16), cfg), p)

    def test_errors(self):
        with pytest.raises(ValueError, match="image must be"):
            structure_sky(torch.rand(1, 1, 8, 8), torch.rand(1, 3, 8, 9))
        with pytest.raises(ValueError, match="image must be"):
            structure_sky(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
        with pytest.raises(ValueError, match="prob must be"):
            structure_sky(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
        for bad in (dict(sure_sky=0.4), dict(sure_ground=0.6), dict(colour_weight=-1), dict(covariance_reg=0),
                    dict(min_share=1.0), dict(dark_sky_factor=2.0)):
            with pytest.raises(ValueError):
                SkyStructureConfig(**bad)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_cuda_matches_cpu(self):
        img, p = _paint(32, 48, BLUE, BROWN), _prob(32, 48)
        p[..., 4:8, 10:20] = 0.1
        q = structure_sky(p.cuda(), img.cuda())
        assert q.device.type == "cuda"
        assert torch.allclose(q.cpu(), structure_sky(p, img), atol=1e-3)


class TestSkyNetOption:
    TINY = dict(working_size=64, widths=(4, 8), blocks=0)

    def test_structure_is_a_config_field_off_by_default(self):
        assert SkyNetConfig().structure is False
        assert "structure" in {f.name for f in dataclasses.fields(SkyNetConfig)}

    def test_structure_changes_the_output_only_when_on(self, monkeypatch):
        torch.manual_seed(0)
        net = SkyNet(SkyNetConfig(**self.TINY, structure=False)).eval()
        x = torch.rand(1, 3, 50, 70)
        off = net(x)
        calls = []
        import infinitenature.estimators.nets as nets

        real = nets.structure_sky

        def spy(prob, image, config=None):
            calls.append((tuple(prob.shape), tuple(image.shape), config))
            return real(prob, image, config)

        monkeypatch.setattr(nets, "structure_sky", spy)
        assert torch.equal(net(x), off) and not calls
        net.config.structure = True
        on = net(x)
        assert len(calls) == 1 and calls[0][0] == (1, 1, 64, 88) and calls[0][1] == (1, 3, 64, 88)
        assert calls[0][2] is net.structure_config
        assert on.shape == off.shape and on.min() >= 0 and on.max() <= 1
