"""Tests for infinitenature.metrics: known answers, round trips, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from kornia.filters import gaussian_blur2d

from infinitenature.geometry import look_at, pose_from_rt
from infinitenature.metrics import (
    FeatureExtractor,
    FeatureStats,
    InceptionV3Features,
    RandomConvFeatures,
    colour_drift,
    compute_fid,
    compute_kid,
    feature_stats,
    frechet_distance,
    iter_frame_batches,
    kernel_inception_distance,
    per_step_motion,
    psnr,
    relative_sharpness,
    sharpness,
    sky_fraction,
    ssim,
    stability_report,
    to_float_frames,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _frames_u8(T: int = 12, H: int = 24, W: int = 32, seed: int = 0) -> np.ndarray:
    return _rng(seed).integers(0, 256, size=(T, H, W, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def small_net() -> RandomConvFeatures:
    # 2 * (4 + 8) = 24 features: full-rank covariances from a few dozen frames.
    return RandomConvFeatures(seed=0, resolution=32, channels=(4, 8))


# --------------------------------------------------------------------------- FID formula


class TestFrechetDistance:
    def test_identical_is_zero(self):
        f = _rng(1).normal(size=(300, 8))
        s = FeatureStats.from_features(f, feature_name="x")
        assert abs(frechet_distance(s.mu, s.sigma, s.mu, s.sigma)) < 1e-8

    def test_diagonal_closed_form(self):
        a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
        mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
        expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # 5 + 4 + 1
        assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-9)
        assert expected == pytest.approx(10.0)

    def test_general_gaussians_vs_symmetric_form(self):
        rng = _rng(2)
        A, B = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
        s1, s2 = A @ A.T + 0.1 * np.eye(6), B @ B.T + 0.1 * np.eye(6)
        mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
        r1 = scipy.linalg.sqrtm(s1).real
        # tr sqrt(s1 s2) = tr sqrt(s1^1/2 s2 s1^1/2), the symmetric (PSD) form.
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(r1 @ s2 @ r1).real)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)

    def test_singular_covariances_are_finite(self):
        rng = _rng(3)
        s1 = FeatureStats.from_features(rng.normal(size=(10, 64)), feature_name="x")  # rank 9 in 64-d
        s2 = FeatureStats.from_features(rng.normal(size=(10, 64)) + 0.5, feature_name="x")
        d = frechet_distance(s1.mu, s1.sigma, s2.mu, s2.sigma)
        assert math.isfinite(d) and d > 0

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match="shapes do not match"):
            frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# --------------------------------------------------------------------------- KID formula


def _mmd_numpy(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel, written out directly."""
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = lambda K: (K.sum() - np.trace(K)) / (m * (m - 1))  # noqa: E731
    return off(kxx) + off(kyy) - 2 * kxy.mean()


class TestKID:
    def test_full_set_matches_numpy(self):
        rng = _rng(4)
        x, y = rng.normal(size=(40, 16)), rng.normal(size=(40, 16)) + 0.3
        mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=1000)
        assert mean == pytest.approx(_mmd_numpy(x, y), rel=1e-10)
        assert std < 1e-12  # every round uses the whole sets

    def test_random_subsets_match_numpy(self):
        rng = _rng(5)
        x, y = rng.normal(size=(50, 8)), rng.normal(size=(60, 8)) + 0.2
        mean, std = kernel_inception_distance(x, y, subsets=7, subset_size=20, generator=torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(3)
        vals = []
        for _ in range(7):
            i = torch.randperm(50, generator=g)[:20].numpy()
            j = torch.randperm(60, generator=g)[:20].numpy()
            vals.append(_mmd_numpy(x[i], y[j]))
        assert mean == pytest.approx(np.mean(vals), rel=1e-10)
        assert std == pytest.approx(np.std(vals), rel=1e-8)
        assert std > 0

    def test_identical_near_zero_shifted_positive(self):
        x = _rng(6).normal(size=(200, 16))
        same, _ = kernel_inception_distance(x, x.copy(), subsets=20, subset_size=100)
        shifted, _ = kernel_inception_distance(x, x + 1.0, subsets=20, subset_size=100)
        assert abs(same) < 0.02 * shifted
        assert shifted > 0.1

    def test_deterministic_default_seed(self):
        x, y = _rng(7).normal(size=(30, 4)), _rng(8).normal(size=(30, 4))
        assert kernel_inception_distance(x, y, subsets=5, subset_size=10) == kernel_inception_distance(
            x, y, subsets=5, subset_size=10
        )

    def test_errors(self):
        with pytest.raises(ValueError, match="feature dimensions differ"):
            kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4)))
        with pytest.raises(ValueError, match="N >= 2"):
            kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3)))


# --------------------------------------------------------------------------- statistics, FID/KID on frames


class TestFeatureStats:
    def test_matches_numpy(self):
        f = _rng(9).normal(size=(20, 5)).astype(np.float32)
        s = FeatureStats.from_features(f, feature_name="n")
        np.testing.assert_allclose(s.mu, f.astype(np.float64).mean(0))
        np.testing.assert_allclose(s.sigma, np.cov(f.astype(np.float64), rowvar=False))
        assert s.count == 20 and s.feature_dim == 5

    @pytest.mark.parametrize("keep", [True, False])
    def test_save_load_round_trip(self, tmp_path, keep):
        f = _rng(10).normal(size=(12, 6))
        s = FeatureStats.from_features(f, feature_name="random-conv(x)", keep_features=keep)
        path = s.save(tmp_path / "ref")
        assert path.suffix == ".npz"
        t = FeatureStats.load(path)
        np.testing.assert_array_equal(t.mu, s.mu)
        np.testing.assert_array_equal(t.sigma, s.sigma)
        assert (t.count, t.feature_name) == (12, "random-conv(x)")
        if keep:
            np.testing.assert_array_equal(t.features, s.features)
        else:
            assert t.features is None

    def test_load_rejects_other_npz(self, tmp_path):
        np.savez(tmp_path / "other.npz", a=np.zeros(3))
        with pytest.raises(ValueError, match="not a FeatureStats file"):
            FeatureStats.load(tmp_path / "other.npz")


class TestFidKidOnFrames:
    def test_formats_batches_and_streams_agree(self, small_net):
        u8 = _frames_u8(T=7)
        ref = feature_stats(u8, small_net, batch_size=50)
        as_float = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
        for other in (
            feature_stats(as_float, small_net, batch_size=3),
            feature_stats(iter(list(u8)), small_net, batch_size=2),  # single frames, streamed
            feature_stats([u8[:2], u8[2:]], small_net, batch_size=4),  # uneven chunks
        ):
            np.testing.assert_allclose(other.features, ref.features, rtol=1e-5, atol=1e-6)
        assert ref.feature_name == small_net.name

    def test_fid_identical_zero_and_different_positive(self, small_net):
        a = _frames_u8(T=40, seed=1)
        b = np.clip(a.astype(np.int16) // 2 + 100, 0, 255).astype(np.uint8)  # washed out
        assert abs(compute_fid(a, a, small_net)) < 1e-6
        assert compute_fid(a, b, small_net) > 1e-3

    def test_fid_with_cached_stats(self, small_net, tmp_path):
        a, b = _frames_u8(T=30, seed=2), _frames_u8(T=30, seed=3)
        ref = FeatureStats.load(feature_stats(b, small_net).save(tmp_path / "b.npz"))
        assert compute_fid(a, ref, small_net) == pytest.approx(compute_fid(a, b, small_net), rel=1e-6)
        assert compute_fid(feature_stats(a, small_net), ref) == pytest.approx(compute_fid(a, b, small_net), rel=1e-6)

    def test_kid_identical_and_shifted(self, small_net):
        a = _frames_u8(T=30, seed=4)
        dark = (a // 4).astype(np.uint8)
        same, _ = compute_kid(a, a, small_net, subsets=5, subset_size=30)
        shifted, _ = compute_kid(a, dark, small_net, subsets=5, subset_size=30)
        assert abs(same) < 0.05 * shifted and shifted > 0

    def test_errors(self, small_net):
        a = _frames_u8(T=4)
        other = RandomConvFeatures(seed=1, resolution=32, channels=(4, 8))
        with pytest.raises(ValueError, match="different feature networks|not"):
            compute_fid(feature_stats(a, other), a, small_net)
        with pytest.raises(ValueError, match="feature_net is required"):
            compute_fid(a, a)
        with pytest.raises(ValueError, match="no features"):
            compute_kid(feature_stats(a, small_net, keep_features=False), a, small_net)
        with pytest.raises(ValueError, match="N >= 2"):
            feature_stats(a[:1], small_net)


class TestFrameInput:
    def test_uint8_to_float(self):
        u8 = _frames_u8(T=2, H=3, W=4)
        f = to_float_frames(u8)
        assert f.shape == (2, 3, 3, 4) and f.dtype == torch.float32
        assert float(f[1, 2, 0, 3]) == pytest.approx(u8[1, 0, 3, 2] / 255)

    def test_errors(self):
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            to_float_frames(torch.full((1, 3, 4, 4), 2.0))
        with pytest.raises(ValueError, match=r"\(T, 3, H, W\)"):
            to_float_frames(torch.rand(1, 4, 4, 3))
        with pytest.raises(TypeError, match="uint8 or floating"):
            to_float_frames(np.zeros((1, 4, 4, 3), dtype=np.int32))
        with pytest.raises(ValueError, match="shape"):
            to_float_frames(np.zeros((4, 4, 3), dtype=np.uint8))
        with pytest.raises(ValueError, match="batch_size"):
            next(iter_frame_batches(np.zeros((1, 4, 4, 3), np.uint8), 0))


# --------------------------------------------------------------------------- feature networks


class TestFeatureNetworks:
    def test_random_conv_deterministic(self):
        x = torch.rand(3, 3, 40, 50, generator=torch.Generator().manual_seed(0))
        a, b, c = RandomConvFeatures(seed=5), RandomConvFeatures(seed=5), RandomConvFeatures(seed=6)
        assert isinstance(a, FeatureExtractor)
        fa = a(x)
        assert fa.shape == (3, a.feature_dim) == (3, 480)
        torch.testing.assert_close(fa, b(x), rtol=0, atol=0)
        assert not torch.allclose(fa, c(x))
        assert a.name != c.name and "seed=5" in a.name
        # batch == one at a time
        torch.testing.assert_close(torch.cat([a(x[i : i + 1]) for i in range(3)]), fa, rtol=1e-5, atol=1e-6)

    def test_random_conv_rejects_bad_input(self):
        with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
            RandomConvFeatures()(torch.rand(2, 1, 16, 16))
        with pytest.raises(ValueError, match="resolution"):
            RandomConvFeatures(resolution=4)

    def test_inception_random_init_shapes_and_weights_round_trip(self, tmp_path):
        torch.manual_seed(0)
        net = InceptionV3Features(None, resize_to=None)
        assert net.name == "inception-v3-random-init"
        assert isinstance(net, FeatureExtractor) and net.feature_dim == 2048
        x = torch.rand(2, 3, 75, 75, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            f = net(x)
        assert f.shape == (2, 2048) and torch.isfinite(f).all() and (f >= 0).all()
        net.train()
        assert not net.training  # BatchNorm keeps its statistics

        # A pytorch-fid style .pth (with the 1008-class fc layer) loads, and so does safetensors.
        state = dict(net.state_dict())
        state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
        torch.save(state, tmp_path / "pt_inception.pth")
        loaded = InceptionV3Features(tmp_path / "pt_inception.pth", resize_to=None)
        assert loaded.name.startswith("inception-v3-fid")
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), f)

        from safetensors.torch import save_file

        del state["Mixed_7c.branch_pool.bn.running_var"]
        save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "broken.safetensors")
        with pytest.raises(ValueError, match="1 missing keys"):
            InceptionV3Features(tmp_path / "broken.safetensors")
        for name in ("junk.pth", "junk.safetensors"):
            (tmp_path / name).write_bytes(b"not weights at all")
            with pytest.raises(ValueError, match=f"{name} is not a readable"):
                InceptionV3Features(tmp_path / name)
        with pytest.raises(ValueError, match="at least 75x75"):
            net(torch.rand(1, 3, 40, 40))


# --------------------------------------------------------------------------- PSNR / SSIM


class TestFidelity:
    def test_psnr_known_mse(self):
        target = torch.full((2, 3, 8, 8), 0.5)
        pred = target + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)  # MSE 1e-2 and 1e-4
        torch.testing.assert_close(psnr(pred, target), torch.tensor([20.0, 40.0]), rtol=1e-4, atol=1e-4)
        assert torch.isinf(psnr(target, target)).all()

    def test_psnr_mask_counts_covered_pixels_only(self):
        target = torch.zeros(1, 3, 4, 4)
        pred = target.clone()
        pred[..., :2] = 0.1  # error on the left half
        pred[..., 2:] = 0.5  # big error on the right half, masked out
        mask = torch.zeros(1, 1, 4, 4)
        mask[..., :2] = 1
        torch.testing.assert_close(psnr(pred, target, mask=mask), torch.tensor([20.0]), rtol=1e-4, atol=1e-4)
        with pytest.raises(ValueError, match="mask must be"):
            psnr(pred, target, mask=torch.ones(1, 1, 3, 3))

    def test_psnr_uint8_matches_float(self):
        a, b = _frames_u8(T=2, H=8, W=8, seed=1), _frames_u8(T=2, H=8, W=8, seed=2)
        torch.testing.assert_close(psnr(a, b), psnr(to_float_frames(a), to_float_frames(b)))

    def test_ssim_identity_and_constant_images(self):
        x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(ssim(x, x), torch.ones(2))
        # Constant images: contrast/structure terms are 1, the luminance term is known.
        a, b = torch.full((1, 3, 16, 16), 0.2), torch.full((1, 3, 16, 16), 0.4)
        c1 = 0.01**2
        expected = (2 * 0.2 * 0.4 + c1) / (0.2**2 + 0.4**2 + c1)
        torch.testing.assert_close(ssim(a, b), torch.tensor([expected]), rtol=1e-4, atol=1e-5)

    def test_ssim_noise_lowers_and_mask(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, 24, 24, generator=g)
        noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
        assert float(ssim(noisy, x)) < 0.9
        torch.testing.assert_close(ssim(noisy, x, mask=torch.ones(1, 1, 24, 24)), ssim(noisy, x))
        with pytest.raises(ValueError, match="window_size"):
            ssim(x[..., :8, :8], x[..., :8, :8])
        with pytest.raises(ValueError, match="shapes differ"):
            ssim(x, x[..., :20])


# --------------------------------------------------------------------------- stability


class TestStability:
    def test_sharpness_of_ramp(self):
        a, W = 0.01, 32
        ramp = (torch.arange(W) * a).expand(1, 3, 16, W).contiguous()
        # normalized Sobel: slope a inside, a / 2 at the replicated borders
        expected = ((W - 2) * a**2 + 2 * (a / 2) ** 2) / W
        torch.testing.assert_close(sharpness(ramp), torch.tensor([expected]), rtol=1e-4, atol=1e-9)

    def test_blur_lowers_sharpness(self):
        x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        frames = torch.cat([x, gaussian_blur2d(x, (7, 7), (1.5, 1.5)), gaussian_blur2d(x, (15, 15), (4.0, 4.0))])
        s = sharpness(frames)
        assert s[0] > s[1] > s[2] > 0
        r = relative_sharpness(frames)
        assert float(r[0]) == pytest.approx(1.0) and r[2] < 0.2

    def test_streamed_frames_match_array(self):
        u8 = _frames_u8(T=5, H=16, W=16)
        torch.testing.assert_close(sharpness(iter(list(u8)), batch_size=2), sharpness(u8))

    def test_colour_drift(self):
        frames = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.8
        same = frames[:1].expand(3, -1, -1, -1)
        torch.testing.assert_close(colour_drift(same), torch.zeros(3))
        shifted = torch.stack([frames[0], frames[0] + 0.1, frames[0] + 0.2])
        torch.testing.assert_close(
            colour_drift(shifted, space="rgb"), torch.tensor([0.0, 0.1, 0.2]) * math.sqrt(3), rtol=1e-5, atol=1e-6
        )

    def test_colour_drift_lab_of_greys(self):
        def lightness(srgb: float) -> float:  # CIE L* of an sRGB grey, written out
            lin = srgb / 12.92 if srgb <= 0.04045 else ((srgb + 0.055) / 1.055) ** 2.4
            f = lin ** (1 / 3) if lin > (6 / 29) ** 3 else lin / (3 * (6 / 29) ** 2) + 4 / 29
            return 116 * f - 16

        greys = torch.tensor([0.5, 0.6, 0.2]).view(3, 1, 1, 1).expand(3, 3, 4, 4)
        expected = torch.tensor([0.0, lightness(0.6) - lightness(0.5), lightness(0.5) - lightness(0.2)])
        torch.testing.assert_close(colour_drift(greys), expected, rtol=1e-3, atol=1e-3)
        with pytest.raises(ValueError, match="space"):
            colour_drift(greys, space="hsv")

    def test_sky_fraction(self):
        d = torch.full((2, 1, 4, 8), 0.5)
        d[0, :, :1] = 0.05  # top row of frame 0 is sky
        d[1, :, :2] = 0.01
        torch.testing.assert_close(sky_fraction(d), torch.tensor([0.25, 0.5]))
        torch.testing.assert_close(sky_fraction(d[:, 0], threshold=0.02), torch.tensor([0.0, 0.5]))
        with pytest.raises(ValueError, match="disparities"):
            sky_fraction(torch.zeros(2, 3, 4, 4))

    def test_motion_straight_path(self):
        T, step = 6, 0.25
        pos = torch.zeros(T, 3)
        pos[:, 2] = torch.arange(T) * step
        pos[:, 0] = 1.0
        poses = look_at(pos, torch.tensor([0.0, 0.0, 1.0]).expand(T, 3), torch.tensor([0.0, 1.0, 0.0]).expand(T, 3))
        m = per_step_motion(poses)
        torch.testing.assert_close(m.translation, torch.full((T - 1,), step))
        torch.testing.assert_close(m.rotation_deg, torch.zeros(T - 1), atol=1e-4, rtol=0)

    def test_motion_turning_in_place(self):
        yaw = torch.deg2rad(torch.tensor([0.0, 2.0, 5.0, 4.0]))
        c, s, z, o = yaw.cos(), yaw.sin(), torch.zeros(4), torch.ones(4)
        R = torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1), torch.stack([-s, z, c], -1)], -2)
        m = per_step_motion(pose_from_rt(R, torch.zeros(4, 3)))
        torch.testing.assert_close(m.rotation_deg, torch.tensor([2.0, 3.0, 1.0]), atol=1e-3, rtol=0)
        torch.testing.assert_close(m.translation, torch.zeros(3))
        with pytest.raises(ValueError, match="poses"):
            per_step_motion(torch.eye(4)[None])

    def test_report(self):
        T = 9
        frames = _frames_u8(T=T, H=16, W=16)
        pos = torch.zeros(T, 3)
        pos[:, 2] = torch.arange(T) * 0.1
        poses = look_at(pos, torch.tensor([0.0, 0, 1]).expand(T, 3), torch.tensor([0.0, 1, 0]).expand(T, 3))
        disp = torch.full((T, 1, 16, 16), 0.5)
        rep = stability_report(frames, poses, disp)
        json.dumps(rep)
        assert rep["num_frames"] == T and rep["steps"] == [0, 2, 4, 6, 8]
        assert rep["relative_sharpness"][0] == pytest.approx(1.0) and rep["colour_drift_lab"][0] == 0.0
        assert rep["sky_fraction"] == [0.0] * 5
        assert rep["motion"]["path_length"] == pytest.approx(0.8, rel=1e-5)
        assert rep["motion"]["max_rotation_deg"] < 1e-3
        assert stability_report(frames, steps=[-1])["steps"] == [T - 1]
        with pytest.raises(ValueError, match="steps"):
            stability_report(frames, steps=[T])
        with pytest.raises(ValueError, match="poses hold"):
            stability_report(frames, poses[:3])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_follows_inputs(small_net):
    net = RandomConvFeatures(seed=0, resolution=32, channels=(4, 8)).cuda()
    a = _frames_u8(T=30, seed=5)
    assert compute_fid(a, a, net) == pytest.approx(compute_fid(a, a, small_net), abs=1e-4)
    x = torch.rand(2, 3, 16, 16, device="cuda")
    assert psnr(x, x.flip(-1)).device.type == "cuda" and ssim(x, x).device.type == "cuda"
    assert sharpness(x).device.type == "cuda" and colour_drift(x).device.type == "cuda"
