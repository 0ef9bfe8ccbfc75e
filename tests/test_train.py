"""Tests for infinitenature.train: data + cache, masks, paths, losses, the loop, resume, DDP, CLI.

Tiny models (64 px, f_max 16, latent 32) and 64 px photos keep the file fast.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from infinitenature.geometry import intrinsics_from_fov
from infinitenature.io import ImageError
from infinitenature.train import (
    PhotoCache,
    PhotoDataset,
    StepSampler,
    TrainConfig,
    Trainer,
    TrainingData,
    d_logistic_loss,
    d_patch_loss,
    d_r1_loss,
    fly,
    g_nonsaturating_loss,
    g_patch_loss,
    heldout_crops,
    hole_filling_l1,
    detail_restoration,
    identity_l1,
    l1_rgbd,
    laplacian_pyramid_l1,
    texture_filters,
    texture_gram_loss,
    list_photos,
    magnify_blur,
    mim_inputs,
    random_block_masks,
    random_crop,
    round_trip,
    sample_cycle,
    sample_relative_poses,
)
from infinitenature.train.__main__ import main
from infinitenature.train.evaluate import hole_interior
from infinitenature.train.trainer import Autocast, DistInfo, EXPORT_NAME
from infinitenature.weights import load_model

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- fixtures
def _write_photos(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rs = np.random.default_rng(0)
    paths = []
    for i in range(n):
        h, w = 72 + 8 * i, 96
        y = np.linspace(0, 1, h)[:, None, None]
        x = np.linspace(0, 1, w)[None, :, None]
        img = np.concatenate([0.3 + 0.5 * y + 0 * x, 0.6 - 0.3 * y + 0.2 * x, 0.9 - 0.5 * y + 0 * x], axis=2)
        img = np.clip(img + 0.05 * rs.standard_normal((h, w, 3)), 0, 1)
        p = folder / f"photo{i}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


class FakeDepth:
    """Disparity growing toward the bottom of the image (ground near, sky far); counts its calls."""

    calls = 0

    def __call__(self, image):
        FakeDepth.calls += 1
        B, _, H, W = image.shape
        rows = torch.linspace(0.05, 1.0, H).view(1, 1, H, 1).expand(B, 1, H, W)
        return rows + 0.1 * image.mean(1, keepdim=True)


def fake_sky(image):
    B, _, H, W = image.shape
    return (torch.arange(H).view(1, 1, H, 1) < 0.3 * H).float().expand(B, 1, H, W)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    _write_photos(d)
    return d


@pytest.fixture(scope="module")
def data(photo_dir, tmp_path_factory) -> TrainingData:
    cache = PhotoCache(tmp_path_factory.mktemp("cache"), depth=FakeDepth(), sky=fake_sky, estimator_name="fake", work_size=64)
    usable = cache.build(list_photos(photo_dir))
    return TrainingData(PhotoDataset(usable, cache, resolution=64))


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(
        data="unused", out_dir=str(tmp_path / "run"), resolution=64, latent_dim=32, mapping_layers=2, g_f_max=16,
        d_f_max=16, batch_size=2, steps=2, log_every=1, ckpt_every=0, sample_every=0, progress=False,
        sample_frames=3, sample_count=2, cycle_steps=1,
    )
    base.update(kw)
    return TrainConfig(**base)


def _stats(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- data
class TestData:
    def test_folder_without_images(self, tmp_path):
        (tmp_path / "notes.txt").write_text("no photos here")
        with pytest.raises(ValueError, match="no images"):
            list_photos(tmp_path)
        with pytest.raises(ValueError, match="does not exist"):
            list_photos(tmp_path / "missing")

    def test_every_format_the_loop_reads_is_listed(self, tmp_path):
        """The folder listing takes what ``fly`` takes: TIFF and upper-case suffixes included, hidden folders not."""
        for name in ("a.JPG", "b.tif", "c.tiff", "d.webp", "sub/e.png", ".hidden/f.png", "g.txt"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(b"")
        assert [p.relative_to(tmp_path).as_posix() for p in list_photos(tmp_path)] == [
            "a.JPG", "b.tif", "c.tiff", "d.webp", "sub/e.png"]  # fmt: skip

    def test_unreadable_files(self, tmp_path):
        good = _write_photos(tmp_path / "p", n=1)
        bad = tmp_path / "p" / "broken.jpg"
        bad.write_bytes(b"this is not a jpeg")
        cache = PhotoCache(tmp_path / "c", depth=FakeDepth(), sky=fake_sky, estimator_name="fake", work_size=32)
        with pytest.warns(UserWarning, match="skipped 1 unreadable image.*broken.jpg"):
            assert cache.build(list_photos(tmp_path / "p")) == good
        with pytest.raises(ImageError, match="broken.jpg"):
            cache.build([bad], skip_unreadable=False)
        with pytest.raises(ValueError, match="none of the 1 image.*broken.jpg"), pytest.warns(UserWarning):
            cache.build([bad])

    def test_cache_computed_once_and_keyed(self, tmp_path):
        photos = _write_photos(tmp_path / "p", n=2)
        FakeDepth.calls = 0
        cache = PhotoCache(tmp_path / "c", depth=FakeDepth(), sky=fake_sky, estimator_name="fake", work_size=32)
        cache.build(photos)
        cache.build(photos)
        assert FakeDepth.calls == 2
        entry = cache.get(photos[1])
        assert min(entry.rgb.shape[:2]) == 32 and entry.rgb.shape[:2] == entry.disparity.shape == entry.sky.shape
        other = PhotoCache(tmp_path / "c", depth=None, sky=None, estimator_name="other", work_size=32)
        assert other.path_for(photos[0]) != cache.path_for(photos[0])
        with pytest.raises(ValueError, match="not cached"):
            other.get(photos[0])

    def test_odd_photo_kinds(self, tmp_path):
        folder = tmp_path / "odd"
        folder.mkdir()
        Image.fromarray(np.full((40, 60), 128, np.uint8), mode="L").save(folder / "gray.png")
        Image.fromarray(np.full((40, 60, 4), 200, np.uint8), mode="RGBA").save(folder / "rgba.png")
        exif = Image.Exif()
        exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees: portrait
        Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(folder / "rotated.jpg", exif=exif)
        Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(folder / "photo.webp")
        cache = PhotoCache(tmp_path / "c", depth=FakeDepth(), sky=fake_sky, estimator_name="fake", work_size=20)
        photos = cache.build(list_photos(folder))
        shapes = {p.name: cache.get(p).rgb.shape for p in photos}
        assert shapes == {"gray.png": (20, 30, 3), "photo.webp": (20, 30, 3), "rgba.png": (20, 30, 3), "rotated.jpg": (30, 20, 3)}

    def test_items(self, data):
        item = data[(0, 123)]
        assert item["rgb"].shape == (3, 64, 64) and item["disparity"].shape == (1, 64, 64) and item["sky"].shape == (1, 64, 64)
        assert 0 <= float(item["rgb"].min()) and float(item["rgb"].max()) <= 1
        d = item["disparity"]
        assert float(d.min()) >= 0.01 - 1e-7 and float(d.max()) <= 1.0
        assert abs(float(d.flatten().quantile(0.97)) - 0.8) < 0.05  # normalized per crop
        for k, v in data[(0, 123)].items():  # same key, same item
            assert torch.equal(v, item[k])
        assert not torch.equal(data[(0, 124)]["rgb"], item["rgb"])
        assert torch.equal(data[1]["rgb"], data[1]["rgb"])  # int key: centre crop

    def test_synthetic_mix(self, data):
        marker = {"rgb": torch.full((3, 64, 64), -1.0), "disparity": torch.full((1, 64, 64), 0.5), "sky": torch.zeros(1, 64, 64)}
        mixed = TrainingData(data.photos, [marker] * 3, synthetic_ratio=0.5)
        from_synthetic = [float(mixed[(0, seed)]["rgb"][0, 0, 0]) == -1.0 for seed in range(200)]
        assert 0.4 < sum(from_synthetic) / 200 < 0.6
        assert [float(mixed[(0, s)]["rgb"][0, 0, 0]) == -1.0 for s in range(20)] == from_synthetic[:20]  # by key
        with pytest.raises(ValueError, match="synthetic_ratio must be 1"):
            TrainingData(None, [marker], synthetic_ratio=0.5)

    def test_procedural_landscapes(self):
        from infinitenature.synthetic import SyntheticDataset

        only = TrainingData(None, SyntheticDataset(range(2), size=32, resolution=64), synthetic_ratio=1.0)
        item = only[(0, 5)]
        assert item["rgb"].shape == (3, 32, 32) and item["disparity"].shape == (1, 32, 32) and item["sky"].shape == (1, 32, 32)
        assert float(item["disparity"].min()) >= 0.01 - 1e-7 and float(item["disparity"].max()) <= 1.0

    def test_crop_keeps_maps_aligned(self):
        # The colour encodes the row; the raw disparity is the same row code: a crop must keep them equal.
        H, W = 50, 80
        rows = torch.linspace(0.1, 0.9, H).view(1, H, 1).expand(1, H, W)
        rgb = rows.expand(3, H, W)
        item = random_crop(rgb, rows.clone(), (rows < 0.3).float(), resolution=32, generator=torch.Generator().manual_seed(3))
        r = item["rgb"][0]
        expected = ((r - r.flatten().quantile(0.01)) / (r.flatten().quantile(0.97) - r.flatten().quantile(0.01) + 1e-6) * 0.8).clamp(0.01, 1)
        assert torch.allclose(item["disparity"][0], expected, atol=1e-4)

    def test_step_sampler_shards(self):
        by_position = {}
        for rank in (0, 1):
            sampler = StepSampler(5, 2, seed=1, rank=rank, world_size=2, num_steps=3)
            for step in range(3):
                for slot, key in enumerate(sampler.keys(step)):
                    by_position[(step * 2 + rank) * 2 + slot] = key
        assert sorted(by_position) == list(range(12))  # ranks take disjoint slices of the global batch
        for epoch in (0, 1):  # each epoch visits every photo once
            assert sorted(by_position[p][0] for p in range(5 * epoch, 5 * epoch + 5)) == [0, 1, 2, 3, 4]
        assert len({key[1] for key in by_position.values()}) == 12  # every position has its own seed
        resumed = list(StepSampler(5, 2, seed=1, rank=1, world_size=2, start_step=1, num_steps=3))
        assert [k for batch in resumed for k in batch] == [by_position[p] for p in (6, 7, 10, 11)]


# ----------------------------------------------------------------------------- masks, paths, losses
class TestMasksAndPaths:
    def test_block_masks_ratio_and_seed(self):
        g = torch.Generator().manual_seed(0)
        m = random_block_masks(4, 64, 64, ratio=(0.75, 0.75), patch=8, generator=g)
        assert m.shape == (4, 1, 64, 64) and set(m.unique().tolist()) <= {0.0, 1.0}
        assert torch.allclose(1 - m.mean((1, 2, 3)), torch.full((4,), 0.75))
        again = random_block_masks(4, 64, 64, ratio=(0.75, 0.75), patch=8, generator=torch.Generator().manual_seed(0))
        assert torch.equal(m, again)
        with pytest.raises(ValueError, match="ratio"):
            random_block_masks(1, 8, 8, ratio=(0.9, 0.1))

    def test_round_trip(self):
        K = intrinsics_from_fov(48, 48)
        yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 48), indexing="ij")
        rgb = torch.stack([xx, yy, 0.5 * (xx + yy)])[None].repeat(2, 1, 1, 1)
        disp = torch.linspace(0.05, 0.8, 48).view(1, 1, 48, 1).repeat(2, 1, 1, 48)
        disp[:, :, 14:30, 14:30] = 0.8  # a near box: its edges disocclude
        same = round_trip(rgb, disp, torch.eye(4).repeat(2, 1, 1), K)
        assert float(same.mask.mean()) > 0.9
        moved = round_trip(rgb, disp, sample_relative_poses(2, forward=(0.3, 0.3), generator=torch.Generator().manual_seed(0)), K)
        valid = moved.mask.bool().expand(-1, 3, -1, -1)
        assert 0.3 < float(moved.mask.mean()) < float(same.mask.mean())  # real holes appear
        assert float((moved.rgb - rgb).abs()[valid].mean()) < 0.01  # what survives is the photo

    def test_magnify_blur(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(3, 4, 24, 24, generator=g)
        out = magnify_blur(x, torch.tensor([1.0, 2.0, 3.0]))
        assert out.shape == x.shape and torch.equal(out[0], x[0])  # factor 1: untouched
        energy = [float((o[:, 1:] - o[:, :-1]).pow(2).mean()) for o in out]
        assert energy[0] > 2 * energy[1] > 2 * energy[2] > 0  # the more magnified, the less detail
        # a 2x-blurred image of 2x2 blocks is the blocks stretched back: means are kept
        assert torch.allclose(out[1].mean((1, 2)), x[1].mean((1, 2)), atol=0.02)
        flat = torch.full((1, 3, 16, 16), 0.3)
        assert torch.allclose(magnify_blur(flat, torch.tensor([2.5])), flat)
        for bad in ([0.5], [1.0, 2.0]):
            with pytest.raises(ValueError, match="factor"):
                magnify_blur(flat, torch.tensor(bad))

    def test_mim_inputs_blur_only_where_asked(self):
        K = intrinsics_from_fov(32, 32)
        g = torch.Generator().manual_seed(0)
        rgb = torch.rand(2, 3, 32, 32, generator=g)
        disp = torch.full((2, 1, 32, 32), 0.5)
        pose = torch.eye(4).repeat(2, 1, 1)
        blocks = torch.tensor([False, False])
        plain = mim_inputs(rgb, disp, K, pose=pose, use_geometric=blocks, generator=torch.Generator().manual_seed(1))
        blurred = mim_inputs(rgb, disp, K, pose=pose, use_geometric=blocks, generator=torch.Generator().manual_seed(1),
                             magnify=torch.tensor([1.0, 2.0]))
        assert torch.equal(plain[2], blurred[2])  # the same masks
        assert torch.equal(blurred[0][0], rgb[0]) and torch.equal(plain[0], rgb)
        assert torch.allclose(blurred[0][1], magnify_blur(rgb[1:], torch.tensor([2.0]))[0])
        assert torch.allclose(blurred[1], disp)  # a flat disparity stays flat

    def test_mim_inputs_refill_the_kept_sky_with_the_kept_ground(self):
        K = intrinsics_from_fov(32, 32)
        rgb = torch.zeros(2, 3, 32, 32)
        rgb[:, 2, :12] = 1.0  # blue sky in rows 0-11
        rgb[:, 1, 12:] = 0.5  # green ground below
        disp = torch.linspace(0.01, 1.0, 32).view(1, 1, 32, 1).expand(2, 1, 32, 32).contiguous()
        sky = (torch.arange(32).view(1, 1, 32, 1) < 12).float().expand(2, 1, 32, 32).contiguous()
        sky[1] = 1.0  # an item that is all sky has no ground to carry in
        pose, blocks = torch.eye(4).repeat(2, 1, 1), torch.tensor([False, False])
        kw = dict(pose=pose, use_geometric=blocks, patch=4)
        plain = mim_inputs(rgb, disp, K, generator=torch.Generator().manual_seed(1), **kw)
        rgb_in, disp_in, mask = mim_inputs(rgb, disp, K, generator=torch.Generator().manual_seed(1), sky=sky, **kw)
        assert torch.equal(mask, plain[2]) and torch.equal(disp_in, plain[1])  # same masks, disparity untouched
        kept_sky = (mask[0, 0] > 0.5) & (sky[0, 0] > 0.5)
        assert kept_sky.any()
        shown = rgb_in[0][:, kept_sky]
        assert torch.allclose(shown, torch.tensor([0.0, 0.5, 0.0]).view(3, 1).expand_as(shown), atol=1e-6)  # no blue
        assert torch.equal(rgb_in[0][:, sky[0, 0] < 0.5], rgb[0][:, sky[0, 0] < 0.5])  # the ground as it was
        assert torch.equal(rgb_in[1], rgb[1])
        with pytest.raises(ValueError, match="sky must be shaped"):
            mim_inputs(rgb, disp, K, sky=sky[:, :, :16], **kw)

    def test_relative_pose_sampling(self):
        P = sample_relative_poses(64, forward=(0.1, 0.2), lateral_max=0.0, yaw_max_deg=0, pitch_max_deg=0,
                                  generator=torch.Generator().manual_seed(0))
        R, t = P[:, :3, :3], P[:, :3, 3]
        assert torch.allclose(R, torch.eye(3).expand(64, 3, 3))
        assert ((-t[:, 2] >= 0.1) & (-t[:, 2] <= 0.2)).all()  # the camera moved forward
        P = sample_relative_poses(64, yaw_max_deg=10, pitch_max_deg=5, generator=torch.Generator().manual_seed(1))
        R = P[:, :3, :3]
        assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(64, 3, 3), atol=1e-5)
        yaw = torch.rad2deg(torch.atan2(R[:, 2, 0], R[:, 2, 2]))  # forward axis of the new camera vs the old
        assert float(yaw.abs().max()) <= 10 + 1e-3

    def test_cycle_is_closed(self):
        P = sample_cycle(3, 2, generator=torch.Generator().manual_seed(0))
        assert P.shape == (3, 4, 4, 4)
        assert torch.equal(P[:, -1], torch.eye(4).expand(3, 4, 4))
        assert torch.allclose(P[:, 0], P[:, 2])  # back through the same poses

    def test_fly_identity_generator_returns_input(self):
        class Copy:  # a "generator" that keeps valid pixels and fills holes with grey
            def refine(self, rgb, disparity, mask, global_code, z, *, noise, generator):
                return torch.cat([rgb * mask + 0.5 * (1 - mask), disparity * mask + 0.01 * (1 - mask)], 1)

        K = intrinsics_from_fov(32, 32)
        rgb = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        disp = torch.full((1, 1, 32, 32), 0.5)
        out = fly(Copy(), rgb, disp, torch.eye(4).expand(1, 2, 4, 4), K, torch.zeros(1, 1), torch.zeros(1, 1))
        assert out.frames.shape == (2, 1, 4, 32, 32) and out.masks.shape == (2, 1, 1, 32, 32)
        inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
        assert torch.allclose(out.last[:, :3][inner], rgb[inner], atol=1e-5)

    def test_fly_keep_visible_keeps_warped_pixels_and_fills_holes(self):
        from infinitenature.geometry import pose_from_rt
        from infinitenature.render import render_step, soft_keep_mask

        class Grey:  # a "generator" that paints everything mid-grey at disparity 0.3
            def refine(self, rgb, disparity, mask, global_code, z, *, noise, generator):
                return torch.cat([torch.full_like(rgb, 0.5), torch.full_like(disparity, 0.3)], 1)

        K = intrinsics_from_fov(32, 32)
        rgb = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        disp = torch.full((1, 1, 32, 32), 0.5)
        pose = pose_from_rt(torch.eye(3, dtype=torch.float64), torch.tensor([-0.3, 0.0, 0.0], dtype=torch.float64)).float()
        poses = pose[None, None]  # one sideways step: a strip of holes opens on one side
        plain = fly(Grey(), rgb, disp, poses, K, torch.zeros(1, 1), torch.zeros(1, 1))
        kept = fly(Grey(), rgb, disp, poses, K, torch.zeros(1, 1), torch.zeros(1, 1), keep_visible=True)
        assert torch.allclose(plain.last, torch.cat([torch.full_like(rgb, 0.5), torch.full_like(disp, 0.3)], 1))
        r = render_step(rgb, disp, pose[:3, :3][None], pose[:3, 3][None], K)
        keep = soft_keep_mask(r.mask)
        assert 0.02 < float(1 - r.mask.mean()) < 0.5  # there are holes, and warped pixels
        inside, hole = keep[0, 0] == 1, r.mask[0, 0] == 0
        assert torch.allclose(kept.last[0, :3][:, inside], r.rgb[0][:, inside])
        assert torch.allclose(kept.last[0, :3][:, hole], torch.full_like(r.rgb[0][:, hole], 0.5))
        assert torch.allclose(kept.last[0, 3][hole], torch.full_like(r.disparity[0, 0][hole], 0.3))


class TestLosses:
    def test_known_values(self):
        zeros = torch.zeros(4, 1)
        assert math.isclose(float(d_logistic_loss(zeros, zeros)), 2 * math.log(2), rel_tol=1e-6)
        assert math.isclose(float(g_nonsaturating_loss(zeros)), math.log(2), rel_tol=1e-6)
        a, b = torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 8)
        b[:, :3] = 0.5
        b[:, 3] = 0.25
        rgb, disp = l1_rgbd(a, b)
        assert math.isclose(float(rgb), 0.5) and math.isclose(float(disp), 0.25)
        assert float(laplacian_pyramid_l1(b[:, :3], b[:, :3])) == 0.0
        assert math.isclose(float(laplacian_pyramid_l1(a[:, :3], b[:, :3], levels=2)), 0.5 / 3, rel_tol=1e-5)
        noise = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        assert float(laplacian_pyramid_l1(noise, torch.zeros_like(noise))) > 0.0
        with pytest.raises(ValueError, match="RGBD"):
            l1_rgbd(a[:, :3], b[:, :3])

    def test_patch_losses_label_painted_patches_fake(self):
        zeros = torch.zeros(2, 1, 4, 4)
        none, every = torch.zeros(2, 1, 16, 16), torch.ones(2, 1, 16, 16)
        # everything painted: the image-level losses, patch by patch
        logits = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(d_patch_loss(zeros, logits, every), d_logistic_loss(zeros, logits))
        torch.testing.assert_close(g_patch_loss(logits, every), g_nonsaturating_loss(logits))
        # nothing painted: a generated frame is the photo, so D must call it real
        torch.testing.assert_close(d_patch_loss(zeros, logits, none), d_logistic_loss(zeros, -logits))
        # G is judged on painted patches only: the top-left patch here
        painted = none.clone()
        painted[:, :, :4, :4] = 1
        fooled = torch.full((2, 1, 4, 4), -9.0)
        fooled[:, :, 0, 0] = 9.0
        assert float(g_patch_loss(fooled, painted)) == pytest.approx(math.log1p(math.exp(-9.0)))
        assert float(g_patch_loss(zeros, painted)) == pytest.approx(math.log(2))
        with pytest.raises(ValueError, match="painted must be"):
            d_patch_loss(zeros, zeros, torch.ones(1, 1, 16, 16))

    def test_texture_loss_measures_the_kind_of_texture_inside_the_mask(self):
        w = texture_filters(8, 5, seed=3)
        assert torch.equal(w, texture_filters(8, 5, seed=3)) and not torch.equal(w, texture_filters(8, 5, seed=4))
        torch.testing.assert_close(w.sum(dim=(1, 2, 3)), torch.zeros(8), atol=1e-6, rtol=0)  # blind to flat brightness
        torch.testing.assert_close(w.flatten(1).norm(dim=1), torch.ones(8))
        # a stationary texture: periodic, band-limited noise
        g = torch.Generator().manual_seed(0)
        spectrum = torch.fft.fft2(torch.randn(1, 1, 64, 64, generator=g))
        f = torch.fft.fftfreq(64)
        band = ((f[:, None] ** 2 + f[None, :] ** 2).sqrt() > 0.1).float()
        tex = torch.fft.ifft2(spectrum * band).real
        img = (0.5 + 0.1 * tex / tex.std()).expand(1, 3, 64, 64).clone()
        full = torch.ones(1, 1, 64, 64)
        assert float(texture_gram_loss(img, img, full, w)) == 0.0
        flat = torch.full_like(img, 0.5)
        assert float(texture_gram_loss(flat, img, full, w)) == pytest.approx(1.0)  # no fine structure at all
        blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(img, (2,) * 4, mode="circular"), 5, stride=1)
        moved = torch.roll(img, shifts=(17, 29), dims=(2, 3))  # the same texture, other pixels
        # measured: 0.12 for the moved texture, 0.93 for the blur
        assert float(texture_gram_loss(moved, img, full, w)) < 0.25 < 0.6 < float(texture_gram_loss(blurred, img, full, w))
        assert float((img - moved).abs().mean()) > float((img - blurred).abs().mean())  # L1 prefers the blur
        # only the masked pixels count (and those within the filters' reach of them)
        mask = torch.zeros(1, 1, 64, 64)
        mask[..., 16:48, 16:48] = 1
        far = img.clone()
        far[..., :4, :] = 0.0
        assert float(texture_gram_loss(far, img, mask, w)) == 0.0
        assert float(texture_gram_loss(flat, img, torch.zeros_like(mask), w)) == 0.0
        pred = flat.clone().requires_grad_(True)
        texture_gram_loss(pred, img, mask, w, scales=1).backward()
        assert float(pred.grad[..., 20:44, 20:44].abs().sum()) > 0 and float(pred.grad[..., :8, :].abs().sum()) == 0
        # colour counts with RGB filters (the default); luminance filters see only brightness
        assert w.shape == (8, 3, 5, 5) and texture_filters(8, 5, colour=False).shape == (8, 1, 5, 5)
        chroma = torch.cat([0.5 + 0.03 * tex, torch.full_like(tex, 0.5), 0.5 - 0.03 * tex * 0.299 / 0.114], dim=1)
        assert float(texture_gram_loss(flat, chroma, full, w)) == pytest.approx(1.0)
        assert float(texture_gram_loss(flat, chroma, full, texture_filters(8, 5, colour=False))) < 1e-3
        with pytest.raises(ValueError, match="mask must be"):
            texture_gram_loss(img, img, full[..., :8], w)
        with pytest.raises(ValueError, match="odd size"):
            texture_filters(8, 4)

    def test_r1_of_linear_discriminator(self):
        w = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
        x = torch.randn(3, 4, 8, 8).requires_grad_(True)
        r1 = d_r1_loss((x * w).flatten(1).sum(1, keepdim=True), x)
        assert torch.allclose(r1, w.pow(2).sum())  # |grad|^2 = |w|^2 for every sample
        with pytest.raises(ValueError, match="require grad"):
            d_r1_loss(torch.zeros(1, 1), torch.zeros(1, 4, 8, 8))


# ----------------------------------------------------------------------------- the loop
def _fixed_rec(trainer: Trainer, real: torch.Tensor) -> float:
    """Reconstruction loss with fixed masks/paths/noise (the trainer's RNG is set aside)."""
    rng = trainer.rng
    trainer.rng = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        _, rec, _, _ = trainer.generate(real)
    trainer.rng = rng
    return float(rec)


@pytest.mark.parametrize(
    "stage,keep_visible,precision",
    [("mim", False, "fp32"), ("cyclic", False, "fp32"), ("cyclic", True, "fp32"), ("mim", False, "bf16"),
     ("cyclic", False, "bf16"), ("mim", False, "patch"), ("cyclic", True, "patch"), ("mim", False, "texture")],
)
def test_steps_reduce_loss_on_fixed_batch(stage, keep_visible, precision, data, tmp_path):
    patch = precision == "patch"  # fp32 with the patch discriminator
    texture = precision == "texture"  # fp32 with the texture loss
    cfg = tiny_config(
        tmp_path, stage=stage, g_lr=0.01, d_lr=0.002, adv_weight=0.01, style_dropout=False, r1_every=4,
        cycle_keep_visible=keep_visible, precision="fp32" if patch or texture else precision,
        discriminator="patch" if patch else "global", texture_weight=0.1 if texture else 0.0,
    )  # fmt: skip
    trainer = Trainer(cfg, data=data, dist_info=DistInfo())
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("rgb", "disparity")}
    real = torch.cat([batch["rgb"], batch["disparity"]], 1)
    before = _fixed_rec(trainer, real)
    for _ in range(6):
        stats = trainer.train_step(batch)
    assert all(math.isfinite(v) for v in stats.values())
    assert ("texture" in stats) == texture
    after = _fixed_rec(trainer, real)
    assert after < 0.9 * before, (before, after)  # measured: about 0.66x (mim), 0.73x (cyclic), 0.61x (keep_visible cycles)
    # bf16 autocast computes in bfloat16 but keeps fp32 parameters (and so fp32 checkpoints)
    assert all(p.dtype == torch.float32 for m in (trainer.G, trainer.G_ema, trainer.D) for p in m.parameters())
    # EMA moved toward G but is a different network
    assert not torch.equal(trainer.G_ema.G_synthesis.G_4x4.Conv.conv.weight, trainer.G.G_synthesis.G_4x4.Conv.conv.weight)


def test_sky_refill_trains_on_the_loops_input_and_keeps_the_photos_sky(data, tmp_path):
    cfg = tiny_config(tmp_path, stage="mim", sky_refill=True, g_lr=0.01, d_lr=0.002, adv_weight=0.01, style_dropout=False)
    trainer = Trainer(cfg, data=data, dist_info=DistInfo())
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("rgb", "disparity", "sky")}
    real = torch.cat([batch["rgb"], batch["disparity"]], 1)
    is_sky = batch["sky"] > 0.5
    assert is_sky.any() and (~is_sky).any()
    with torch.no_grad():
        fakes, _, _, painted = trainer.generate(real, batch["sky"])
    sky3 = is_sky.expand(-1, 3, -1, -1)
    assert torch.equal(fakes[:, :3][sky3], real[:, :3][sky3])  # the photo's sky colours stand in for the refiner's
    assert not torch.equal(fakes[:, 3:][is_sky], real[:, 3:][is_sky])  # its sky disparity is its own
    assert not painted[is_sky].any() and painted[~is_sky].any()  # only painted ground counts as painted
    with pytest.raises(ValueError, match="needs the batch's sky"):
        trainer.generate(real)

    def rec() -> float:
        rng, trainer.rng = trainer.rng, torch.Generator().manual_seed(1234)
        with torch.no_grad():
            out = float(trainer.generate(real, batch["sky"])[1])
        trainer.rng = rng
        return out

    before = rec()
    for _ in range(6):
        stats = trainer.train_step(batch)
    assert all(math.isfinite(v) for v in stats.values())
    assert rec() < 0.9 * before
    with pytest.raises(ValueError, match="--sky-refill: is a stage-1 option"):
        tiny_config(tmp_path, stage="cyclic", sky_refill=True).validate()


def test_autocast_wrapper_runs_bf16_and_returns_fp32(data, tmp_path):
    trainer = Trainer(tiny_config(tmp_path, style_dropout=False), data=data, dist_info=DistInfo())
    G = trainer.G
    item = data[0]
    rgb, disp = item["rgb"][None], item["disparity"][None]
    mask = (torch.arange(64)[None, None, :, None] < 40).float().expand(1, 1, 64, 64)
    z = torch.randn(1, 32, generator=torch.Generator().manual_seed(0))
    wrapped = Autocast(G, "cpu")
    seen = []
    hook = G.G_synthesis.G_4x4.Conv.conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    code = wrapped.encode_style(torch.cat([rgb, disp], 1) * 2 - 1)
    out = wrapped.refine(rgb, disp, mask, code, z, noise="zero")
    hook.remove()
    assert seen == [torch.bfloat16] and code.dtype == out.dtype == torch.float32
    with torch.no_grad():
        ref = G.refine(rgb, disp, mask, G.encode_style(torch.cat([rgb, disp], 1) * 2 - 1), z, noise="zero")
    assert (out - ref).abs().mean() < 0.01  # bfloat16 keeps ~3 significant digits (measured mean 0.002, max 0.06)
    assert not torch.equal(out, ref)
    out.mean().backward()  # gradients reach the fp32 parameters in fp32
    grad = G.G_synthesis.G_4x4.Conv.conv.weight.grad
    assert grad is not None and grad.dtype == torch.float32 and grad.abs().sum() > 0
    assert torch.equal(Autocast(trainer.D, "cpu", enabled=False)(ref * 2 - 1), trainer.D(ref * 2 - 1))


def test_bf16_on_a_cpu_without_bf16_units_warns(data, tmp_path, monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    with pytest.warns(UserWarning, match="no bfloat16 units"):
        Trainer(tiny_config(tmp_path, precision="bf16"), data=data, dist_info=DistInfo())
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(tiny_config(tmp_path / "b", precision="bf16"), data=data, dist_info=DistInfo())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_run_folder_checkpoint_and_exact_resume(precision, data, tmp_path):
    common = dict(stage="cyclic", r1_every=2, ckpt_every=2, sample_every=2, steps=3, precision=precision)
    full = Trainer(tiny_config(tmp_path / "a", **common), data=data, dist_info=DistInfo())
    full.run()
    run_a = Path(full.config.out_dir)
    assert json.loads((run_a / "config.json").read_text())["stage"] == "cyclic"
    assert sorted(p.name for p in (run_a / "checkpoints").iterdir()) == ["step-0000002", "step-0000003"]
    assert (run_a / "samples" / "step-0000002.png").is_file()
    state = torch.load(run_a / "checkpoints" / "step-0000002" / "state.pt", weights_only=True)
    assert state["step"] == 2 and len(state["rng"]) == 1
    exported = load_model(run_a / "export" / EXPORT_NAME, kind="generator")
    for k, v in exported.state_dict().items():
        assert torch.equal(v, full.G_ema.state_dict()[k])

    # a fresh run into the same folder is refused
    with pytest.raises(ValueError, match="already holds a run"):
        Trainer(tiny_config(tmp_path / "a", **common), data=data, dist_info=DistInfo())

    # resume from step 2 in another folder: step 3 must equal the uninterrupted run's step 3
    resumed = Trainer(
        tiny_config(tmp_path / "b", **{**common, "resume": str(run_a / "checkpoints" / "step-0000002")}),
        data=data, dist_info=DistInfo(),
    )
    assert resumed.step == 2
    resumed.run()
    a3 = [s for s in _stats(run_a) if s["step"] == 3 and "g_loss" in s][0]
    b3 = [s for s in _stats(Path(resumed.config.out_dir)) if s["step"] == 3 and "g_loss" in s][0]
    for key in ("d_loss", "r1", "g_loss", "rec", "g_adv"):
        assert a3[key] == b3[key], key
    for name in ("G", "G_ema", "D"):
        a = load_file(str(run_a / "checkpoints" / "step-0000003" / f"{name}.safetensors"))
        b = getattr(resumed, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_max_minutes_stops_with_a_checkpoint_that_resumes_exactly(data, tmp_path):
    common = dict(stage="mim", steps=3, r1_every=2)
    full = Trainer(tiny_config(tmp_path / "full", **common), data=data, dist_info=DistInfo())
    full.run()
    assert not full.stopped_early and full.step == 3

    cut = Trainer(tiny_config(tmp_path / "cut", **common, max_minutes=1e-9), data=data, dist_info=DistInfo())
    cut.run()  # out of time after its first step: checkpoint and export as at the end
    run = Path(cut.config.out_dir)
    assert cut.stopped_early and cut.step == 1
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-0000001"]
    assert (run / "export" / EXPORT_NAME).is_file()
    assert [s["step"] for s in _stats(run) if "g_loss" in s] == [1]

    resumed = Trainer(tiny_config(tmp_path / "cut", **common, resume="latest"), data=data, dist_info=DistInfo())
    assert resumed.step == 1
    resumed.run()
    assert not resumed.stopped_early and resumed.step == 3
    a, b = _stats(Path(full.config.out_dir)), _stats(run)
    assert [s["step"] for s in b if "g_loss" in s] == [1, 2, 3]
    for step in (2, 3):
        sa = [s for s in a if s["step"] == step and "g_loss" in s][0]
        sb = [s for s in b if s["step"] == step and "g_loss" in s][0]
        for key in ("d_loss", "g_loss", "rec", "g_adv"):
            assert sa[key] == sb[key], (step, key)


def test_init_generator_starts_g_and_ema_from_an_exported_file(data, tmp_path):
    src = Trainer(tiny_config(tmp_path / "src", seed=3), data=data, dist_info=DistInfo())
    src.G_ema.G_synthesis.G_4x4.Conv.conv.weight.data.add_(1.0)  # a generator no fresh init can equal
    path = tmp_path / "gen.safetensors"
    from infinitenature.weights import save_model

    save_model(src.G_ema, path)
    fresh_D = Trainer(tiny_config(tmp_path / "plain"), data=data, dist_info=DistInfo()).D
    t = Trainer(tiny_config(tmp_path / "dst", init_generator=str(path)), data=data, dist_info=DistInfo())
    want = src.G_ema.state_dict()
    for module in (t.G, t.G_ema):
        assert all(torch.equal(v, want[k]) for k, v in module.state_dict().items())
    assert all(torch.equal(v, fresh_D.state_dict()[k]) for k, v in t.D.state_dict().items())  # D from the seed
    assert t.step == 0
    t.run()  # and it trains
    assert Path(t.config.out_dir, "checkpoints", "step-0000002").is_dir()

    with pytest.raises(ValueError, match="this run builds"):
        Trainer(tiny_config(tmp_path / "wide", init_generator=str(path), latent_dim=64), data=data, dist_info=DistInfo())
    with pytest.raises(FileNotFoundError, match="--init-generator"):
        Trainer(tiny_config(tmp_path / "none", init_generator=str(tmp_path / "missing.safetensors")), data=data, dist_info=DistInfo())
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        Trainer(tiny_config(tmp_path / "bad", init_generator=str(tmp_path / "bad.safetensors")), data=data, dist_info=DistInfo())
    with pytest.raises(ValueError, match="this run builds"):  # "default" is the shipped 128 px generator
        Trainer(tiny_config(tmp_path / "dflt", init_generator="default"), data=data, dist_info=DistInfo())
    with pytest.raises(ValueError, match="--init-generator"):
        tiny_config(tmp_path, init_generator=str(path), resume="latest").validate()


def test_residual_run_from_published_weights_starts_at_the_fill(data, tmp_path):
    """--residual from non-residual weights: the correction starts at zero (the output is the push-pull fill)."""
    src = Trainer(tiny_config(tmp_path / "src", seed=3, hole_fill="push_pull"), data=data, dist_info=DistInfo())
    from infinitenature.weights import save_model

    path = save_model(src.G_ema, tmp_path / "pp.safetensors")
    cfg = tiny_config(tmp_path / "res", init_generator=str(path), hole_fill="push_pull", residual=True, g_lr=0.001,
                      adv_weight=0.01, style_dropout=False, r1_every=4)  # fmt: skip
    with pytest.warns(UserWarning, match="--residual False, this run uses --residual True"):
        t = Trainer(cfg, data=data, dist_info=DistInfo())
    rgb, disp = torch.stack([data[i]["rgb"] for i in range(2)]), torch.stack([data[i]["disparity"] for i in range(2)])
    mask = torch.ones_like(disp)
    mask[..., 10:40, 5:30] = 0
    for G in (t.G, t.G_ema):
        assert G.config.residual
        with torch.no_grad():
            out = G(rgb, disp, mask, G.encode_style(torch.cat([rgb, disp], 1) * 2 - 1), torch.randn(2, 32), noise="zero")
        torch.testing.assert_close(out, (G.encoder_input(rgb, disp, mask)[:, :4] + 1) / 2, atol=1e-6, rtol=0)
    batch = {"rgb": rgb, "disparity": disp}
    for _ in range(3):
        stats = t.train_step(batch)
    assert all(math.isfinite(v) for v in stats.values())
    # the correction moved off zero (it starts at the fill, which is already close, so the loss of a
    # few steps is no test: Adam's first steps move every weight by about the learning rate)
    assert float(t.G.G_synthesis.G_4x4.ToRGB.conv.weight.detach().abs().max()) > 0


def test_push_pull_hole_fill_run_starts_from_zero_fill_weights_and_learns(data, tmp_path):
    """--hole-fill push_pull: the generator sees push-pull fills in its holes; it may start from weights
    trained on black holes (the one setting --init-generator lets differ), trains, and exports the setting."""
    src = Trainer(tiny_config(tmp_path / "src", seed=3), data=data, dist_info=DistInfo())
    from infinitenature.weights import load_model, save_model

    path = save_model(src.G_ema, tmp_path / "zero.safetensors")
    cfg = tiny_config(
        tmp_path / "pp", init_generator=str(path), hole_fill="push_pull", g_lr=0.01, adv_weight=0.01,
        style_dropout=False, r1_every=4, steps=6,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="trained with --hole-fill zero, this run uses --hole-fill push_pull"):
        t = Trainer(cfg, data=data, dist_info=DistInfo())
    assert t.G.config.hole_fill == t.G_ema.config.hole_fill == "push_pull"
    assert all(torch.equal(v, src.G_ema.state_dict()[k]) for k, v in t.G.state_dict().items())
    batch = {k: torch.stack([data[i][k] for i in range(2)]) for k in ("rgb", "disparity")}
    real = torch.cat([batch["rgb"], batch["disparity"]], 1)
    before = _fixed_rec(t, real)
    for _ in range(6):
        t.train_step(batch)
    after = _fixed_rec(t, real)
    assert after < 0.9 * before, (before, after)
    t.save_checkpoint()
    exported = load_model(Path(cfg.out_dir, "checkpoints", f"step-{t.step:07d}", "G_ema.safetensors"), kind="generator")
    assert exported.config.hole_fill == "push_pull"
    with pytest.raises(ValueError, match="--synthetic-cache-scenes"):
        tiny_config(tmp_path, synthetic_cache_scenes=0).validate()


class _Oracle(torch.nn.Module):
    """A 'refiner' that returns the true frame: zero hole-filling error by construction."""

    def __init__(self, truth: torch.Tensor) -> None:
        super().__init__()
        self.truth = truth
        self.config = type("C", (), {"latent_dim": 4})()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def encode_style(self, x):
        return x.flatten(1)[:, :4]

    def refine(self, rgb, disparity, mask, code, z, noise="zero"):
        return self.truth[: rgb.shape[0]]


class _Copy(_Oracle):
    """Returns its (masked) input: holes come out black, with disparity 0."""

    def refine(self, rgb, disparity, mask, code, z, noise="zero"):
        return torch.cat([rgb, disparity], 1) * mask


def test_hole_filling_l1_scores_hidden_pixels_only():
    H = 32
    y = torch.linspace(0, 1, H).view(1, 1, H, 1).expand(2, 1, H, H)
    rgb = torch.cat([0.2 + 0.6 * y, 0.5 + 0 * y, 0.8 - 0.3 * y], 1)
    disp = (0.05 + 0.9 * y).clamp(0.01, 1)
    K = intrinsics_from_fov(H, H, 55.0)
    truth = torch.cat([rgb, disp], 1)
    oracle = hole_filling_l1(_Oracle(truth), rgb, disp, K, seed=0, batch_size=1)
    assert oracle["blocks"].rgb_l1 == 0.0 and oracle["blocks"].disparity_l1 == 0.0
    assert oracle["disocclusion"].rgb_l1 == 0.0 and 0.0 < oracle["disocclusion"].hole_fraction < 1.0
    assert oracle["blocks"].detail == pytest.approx(1.0)  # the true frame has the true frame's texture
    copy = hole_filling_l1(_Copy(truth), rgb, disp, K, seed=0)
    assert copy["blocks"].detail == 0.0  # flat black holes
    # black holes: the error is the mean of the true values over the hidden pixels
    _, _, mask = _block_masks_for(seed=0, rgb=rgb, disp=disp, K=K)
    hole = 1 - mask
    want_rgb = float((rgb * hole).sum() / (3 * hole.sum()))
    want_disp = float((disp * hole).sum() / hole.sum())
    assert copy["blocks"].rgb_l1 == pytest.approx(want_rgb, rel=1e-5)
    assert copy["blocks"].disparity_l1 == pytest.approx(want_disp, rel=1e-5)
    assert 0.4 - 0.07 <= copy["blocks"].hole_fraction <= 0.9 + 0.07
    # the same seed gives the same holes; another seed other holes
    again = hole_filling_l1(_Copy(truth), rgb, disp, K, seed=0)
    other = hole_filling_l1(_Copy(truth), rgb, disp, K, seed=1)
    assert again == copy and other["blocks"] != copy["blocks"]
    with pytest.raises(ValueError, match="disparity"):
        hole_filling_l1(_Copy(truth), rgb, disp[:1], K)
    # identity: a copying refiner is a perfect identity; a constant one is off by the mean distance
    assert identity_l1(_Copy(truth), rgb, disp) == (0.0, 0.0)
    grey = identity_l1(_Oracle(torch.full_like(truth, 0.5)), rgb, disp)
    assert grey[0] == pytest.approx(float((rgb - 0.5).abs().mean()), rel=1e-5)
    assert grey[1] == pytest.approx(float((disp - 0.5).abs().mean()), rel=1e-5)


def test_hole_detail_measures_texture_in_the_holes_interior():
    # a textured frame: smooth fills score little of its detail, the truth all of it
    H = 48
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(H, dtype=torch.float32), indexing="ij")
    texture = 0.5 + 0.2 * torch.sin(xx * 1.3) * torch.cos(yy * 0.9)
    rgb = texture.expand(2, 3, H, H).clone()
    disp = torch.full((2, 1, H, H), 0.5)
    K = intrinsics_from_fov(H, H, 55.0)
    truth = torch.cat([rgb, disp], 1)
    flat = torch.cat([torch.full_like(rgb, 0.5), disp], 1)
    assert hole_filling_l1(_Oracle(truth), rgb, disp, K)["blocks"].detail == pytest.approx(1.0)
    assert hole_filling_l1(_Oracle(flat), rgb, disp, K)["blocks"].detail == 0.0
    doubled = torch.cat([0.5 + 2 * (rgb - 0.5), disp], 1)
    assert hole_filling_l1(_Oracle(doubled), rgb, disp, K)["blocks"].detail == pytest.approx(4.0)  # energy: squared
    # the interior leaves out hidden pixels within the margin of a visible one
    mask = torch.ones(1, 1, 9, 9)
    mask[..., 1:8, 1:8] = 0
    inner = hole_interior(mask, margin=2)
    assert inner[0, 0].nonzero().tolist() == [[r, c] for r in range(3, 6) for c in range(3, 6)]


def test_detail_restoration_scores_against_the_sharp_frame():
    H = 32
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, H, H, generator=g)
    disp = torch.full((2, 1, H, H), 0.5)
    truth = torch.cat([rgb, disp], 1)
    # a refiner that returns the sharp frame restores all detail finer than the high-pass
    oracle = detail_restoration(_Oracle(truth), rgb, disp, factors=(1.0, 2.0), sigma=1.0)
    assert oracle[1.0].blurred_l1 == 0.0 and oracle[1.0].blurred_detail == pytest.approx(1.0)
    assert oracle[2.0].blurred_detail < 0.6
    assert oracle[2.0].restored_l1 < 0.7 * oracle[2.0].blurred_l1
    assert oracle[2.0].restored_detail > oracle[2.0].blurred_detail + 0.2
    # a copying refiner changes nothing: restored = blurred
    copy = detail_restoration(_Copy(truth), rgb, disp, factors=(2.0,))
    assert copy[2.0].restored_l1 == pytest.approx(copy[2.0].blurred_l1, abs=1e-7)
    assert copy[2.0].restored_detail == pytest.approx(copy[2.0].blurred_detail, rel=1e-5)


def test_heldout_crops_are_fixed_and_skip_unreadable(photo_dir, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    photos = [*list_photos(photo_dir), tmp_path / "broken.jpg"]
    cache = PhotoCache(tmp_path / "cache", depth=FakeDepth(), sky=fake_sky, estimator_name="fake", work_size=64)
    with pytest.warns(UserWarning):
        rgb, disp, names = heldout_crops(photos, cache, resolution=32, crops=2)
    assert names == ["photo0.png", "photo1.png", "photo2.png"]
    assert rgb.shape == (9, 3, 32, 32) and disp.shape == (9, 1, 32, 32)
    assert 0.0 <= float(rgb.min()) and float(rgb.max()) <= 1.0 and float(disp.min()) > 0.0
    again = heldout_crops(photos[:3], cache, resolution=32, crops=2)
    assert torch.equal(again[0], rgb) and torch.equal(again[1], disp)
    assert not torch.equal(rgb[1], rgb[2])  # the random crops differ from each other


def _block_masks_for(*, seed, rgb, disp, K):
    """The block masks ``hole_filling_l1`` draws for ``seed`` (same generator order: poses, then blocks)."""
    g = torch.Generator().manual_seed(seed)
    sample_relative_poses(rgb.shape[0], generator=g)
    masks = random_block_masks(rgb.shape[0], rgb.shape[2], rgb.shape[3], generator=g)
    return rgb, disp, masks


# ----------------------------------------------------------------------------- CLI and DDP
def test_cli_dry_run_and_errors(capsys, tmp_path):
    assert main(["--dry-run", "--data", "photos", "--batch-size", "4", "--betas", "0,0.9", "--no-progress"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["batch_size"] == 4 and cfg["betas"] == [0.0, 0.9] and cfg["progress"] is False
    (tmp_path / "cfg.json").write_text(json.dumps({"stage": "cyclic", "data": "x", "steps": 7}))
    assert main(["--dry-run", "--config", str(tmp_path / "cfg.json"), "--steps", "9"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["stage"] == "cyclic" and cfg["steps"] == 9
    # a run that began from other weights resumes from its own config.json: the checkpoint supersedes them
    (tmp_path / "run.json").write_text(json.dumps({"data": "x", "init_generator": "default", "init_from": ""}))
    assert main(["--dry-run", "--config", str(tmp_path / "run.json"), "--resume", "latest"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["resume"] == "latest" and cfg["init_generator"] == ""
    assert main(["--dry-run", "--data", "x", "--init-generator", "default", "--resume", "latest"]) == 2  # both asked for
    assert "--init-generator: cannot be combined" in capsys.readouterr().err
    for argv, msg in (
        (["--stage", "video", "--data", "x"], "--stage: must be one of mim, cyclic"),
        (["--precision", "fp16", "--data", "x"], "--precision: must be one of fp32, bf16"),
        (["--hole-fill", "blur", "--data", "x"], "--hole-fill: must be one of zero, push_pull"),
        (["--data", "x", "--batch-size", "zero"], "invalid int value"),
        (["--steps", "5"], "--data"),
        (["--data", str(tmp_path)], "no images"),
        (["--data", "x", "--magnify-prob", "1.5"], "--magnify-prob: must be in [0, 1]"),
        (["--data", "x", "--magnify-max", "0.5"], "--magnify-max: must be >= 1"),
        (["--data", "x", "--max-minutes", "-1"], "--max-minutes: must be a number >= 0"),
        (["--data", "x", "--discriminator", "local"], "--discriminator: must be one of global, patch"),
        (["--data", "x", "--discriminator", "patch", "--resolution", "64", "--d-patch-levels", "5"],
         "--d-patch-levels: must be >= 1 and leave a logit map of at least 4 x 4"),
        (["--data", "x", "--max-minutes", "nan"], "--max-minutes: must be a number >= 0"),
        *([] if torch.cuda.is_available() else [(["--data", "x", "--device", "cuda"], "CUDA is not available")]),
    ):
        assert main(argv + ["--out-dir", str(tmp_path / "run"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    (tmp_path / "a-file").write_text("mine")
    for argv, msg in ((["--out-dir", str(tmp_path / "a-file")], "--out-dir: "),
                      (["--out-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "a-file")], "--cache-dir: ")):  # fmt: skip
        assert main(["--data", "x", "--no-progress", *argv]) == 2
        err = capsys.readouterr().err
        assert err == f"infinitenature train: error: {msg}{tmp_path / 'a-file'} exists and is not a folder\n"
    assert (tmp_path / "a-file").read_text() == "mine"


_RELEASE_SCRIPT = """
import torch, torch.distributed as dist
from infinitenature.train import init_distributed
init_distributed("cpu")
torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # imports torch.distributed.nn (via torch._dynamo)
import torch.distributed.nn.functional as F
held = [d for d in F.all_reduce.__defaults__ if isinstance(d, dist.ProcessGroup)]
assert not held, "torch.distributed.nn.functional holds the process group"
dist.destroy_process_group()
"""


def test_ddp_group_is_released_at_destroy(tmp_path):
    # a group that outlives destroy_process_group lets gloo's worker threads release tensors
    # during interpreter shutdown: rank 1 then aborted at exit in about 1 run of 40
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(tmp_path / "release.py")]
    (tmp_path / "release.py").write_text(_RELEASE_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_ddp_two_ranks_gloo(photo_dir, tmp_path):
    np.save(tmp_path / "disp.npy", np.linspace(1.0, 0.05, 24)[:, None].repeat(24, 1).astype(np.float32))
    np.save(tmp_path / "sky.npy", (np.arange(24)[:, None] < 8).repeat(24, 1).astype(np.float32))
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "infinitenature.train", "--data", str(photo_dir), "--cache-dir", str(tmp_path / "cache"),
        "--depth-model", str(tmp_path / "disp.npy"), "--sky-model", str(tmp_path / "sky.npy"), "--work-size", "64",
        "--out-dir", str(run), "--resolution", "64", "--latent-dim", "32", "--mapping-layers", "2",
        "--g-f-max", "16", "--d-f-max", "16", "--batch-size", "1", "--steps", "2", "--r1-every", "2",
        "--log-every", "1", "--ckpt-every", "2", "--sample-every", "0", "--no-progress", "--device", "cpu",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = _stats(run)
    assert [s["step"] for s in stats if "g_loss" in s] == [1, 2]
    assert stats[-1] == {"step": 2, "replica_max_diff": 0.0}  # parameters equal on both ranks
    assert [s["kimg"] for s in stats if "g_loss" in s] == [0.002, 0.004]  # global batch = 2 ranks x 1
    assert len(torch.load(run / "checkpoints" / "step-0000002" / "state.pt", weights_only=True)["rng"]) == 2

    # --max-minutes: the ranks agree to stop at the same step, save it in sync and say how to go on
    more = [*cmd[:cmd.index("--steps")], "--steps", "5", *cmd[cmd.index("--steps") + 2:], "--resume", "latest",
            "--max-minutes", "1e-9"]
    proc = subprocess.run(more, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "stopped after --max-minutes 1e-09 at step 3 of 5" in proc.stdout and "--resume latest" in proc.stdout
    stats = _stats(run)
    assert [s["step"] for s in stats if "g_loss" in s] == [1, 2, 3]
    assert stats[-1] == {"step": 3, "replica_max_diff": 0.0}
    assert (run / "checkpoints" / "step-0000003" / "G_ema.safetensors").is_file()
