"""Tests of infinitenature.estimators: protocols, shipped nets, maps, adapters, losses, training."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
import torch

from infinitenature.estimators import (
    DepthEstimator,
    DepthFromArray,
    DepthNet,
    DepthNetConfig,
    SkyEstimator,
    SkyFromArray,
    SkyNet,
    SkyNetConfig,
    guided_filter,
    load_depth,
    refine_mask,
    load_sky,
)
from infinitenature.train.estimator_augment import AugmentConfig, augment
from infinitenature.train.estimator_losses import (
    align_scale_shift,
    gradient_matching_loss,
    ordinal_agreement_counts,
    sky_iou_counts,
    sky_loss,
    ssi_loss,
)
from infinitenature.estimators.nets import working_shape
from infinitenature.estimators.refine import box_filter
from infinitenature.weights import save_model, shipped_weights_dir

TINY = dict(working_size=32, widths=(4, 8, 8), blocks=1)


def _one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    return msg


@pytest.fixture
def tiny_depth() -> DepthNet:
    torch.manual_seed(0)
    return DepthNet(DepthNetConfig(**TINY)).eval()


@pytest.fixture
def tiny_sky() -> SkyNet:
    torch.manual_seed(1)
    return SkyNet(SkyNetConfig(**TINY)).eval()


# ----------------------------------------------------------------------------- networks


class TestNets:
    @pytest.mark.parametrize("size", [(32, 32), (37, 53), (61, 29), (5, 7)])
    def test_shapes_and_ranges(self, tiny_depth, tiny_sky, size):
        image = torch.rand(2, 3, *size)
        d, s = tiny_depth(image), tiny_sky(image)
        assert d.shape == s.shape == (2, 1, *size)
        assert torch.isfinite(d).all() and (d > 0).all() and (d < 1).all()
        assert (s >= 0).all() and (s <= 1).all()
        assert not d.requires_grad and not s.requires_grad

    def test_protocols(self, tiny_depth, tiny_sky):
        assert isinstance(tiny_depth, DepthEstimator)
        assert isinstance(tiny_sky, SkyEstimator)

    def test_batch_equals_single(self, tiny_depth, tiny_sky):
        image = torch.rand(3, 3, 40, 56)
        for net in (tiny_depth, tiny_sky):
            whole = net(image)
            one = torch.cat([net(image[i : i + 1]) for i in range(3)])
            torch.testing.assert_close(whole, one, atol=1e-5, rtol=1e-5)

    def test_dtype_follows_input(self, tiny_depth):
        out = tiny_depth(torch.rand(1, 3, 32, 32, dtype=torch.float64))
        assert out.dtype == torch.float64

    def test_working_shape_keeps_aspect(self):
        cfg = DepthNetConfig(working_size=192)
        assert working_shape(480, 640, cfg) == (192, 256)
        assert working_shape(1000, 1000, cfg) == (192, 192)
        assert working_shape(100, 10000, cfg) == (192, 576)  # long side capped at 3x

    def test_bad_inputs(self, tiny_depth):
        with pytest.raises(ValueError, match=r"\(B, 3, H, W\)") as e:
            tiny_depth(torch.rand(1, 1, 8, 8))
        _one_line_error(e)
        with pytest.raises(TypeError, match="floating"):
            tiny_depth(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
        with pytest.raises(TypeError, match="torch.Tensor"):
            tiny_depth(np.zeros((1, 3, 8, 8)))

    def test_bad_config(self):
        with pytest.raises(ValueError, match="multiple of 8"):
            DepthNetConfig(working_size=30, widths=(4, 8, 8))

    def test_save_load_roundtrip(self, tmp_path, tiny_depth, tiny_sky):
        image = torch.rand(1, 3, 33, 45)
        save_model(tiny_depth, tmp_path / "d.safetensors")
        save_model(tiny_sky, tmp_path / "s.safetensors")
        torch.testing.assert_close(load_depth(tmp_path / "d.safetensors")(image), tiny_depth(image))
        torch.testing.assert_close(load_sky(str(tmp_path / "s.safetensors"))(image), tiny_sky(image))
        with pytest.raises(ValueError, match="expected 'sky'"):
            load_sky(tmp_path / "d.safetensors")

    def test_broken_weight_files_are_value_errors(self, tmp_path, tiny_depth):
        """Junk, a truncated file, and tensors that do not fit the stored config: one clear ValueError each."""
        from safetensors.torch import save_file

        from infinitenature.weights import load_model, read_metadata

        (tmp_path / "junk.safetensors").write_bytes(b"junk")
        with pytest.raises(ValueError, match="junk.safetensors is not a readable safetensors file"):
            load_depth(tmp_path / "junk.safetensors")
        whole = save_model(tiny_depth, tmp_path / "d.safetensors").read_bytes()
        (tmp_path / "cut.safetensors").write_bytes(whole[: len(whole) // 2])
        with pytest.raises(ValueError, match="cut.safetensors"):
            load_model(tmp_path / "cut.safetensors")
        state = {k: v.contiguous() for k, v in tiny_depth.state_dict().items()}
        first = next(iter(state))
        state[first] = torch.zeros(1)
        meta = read_metadata(tmp_path / "d.safetensors")
        save_file(state, str(tmp_path / "bad.safetensors"), metadata={"kind": meta["kind"], "config": json.dumps(meta["config"])})
        with pytest.raises(ValueError, match="cannot be loaded into the depth it describes"):
            load_model(tmp_path / "bad.safetensors")

    def test_shipped_weights(self):
        assert (shipped_weights_dir() / "depth-default.safetensors").is_file(), "shipped weights missing from the install"
        depth, sky = load_depth("default"), load_sky("default")
        image = torch.rand(1, 3, 97, 131)
        d, s = depth(image), sky(image)
        assert d.shape == s.shape == (1, 1, 97, 131)
        assert torch.isfinite(d).all() and (d > 0).all()
        assert (s >= 0).all() and (s <= 1).all()
        # A blue top half over a green bottom half: the top is sky and farther.
        scene = torch.zeros(1, 3, 96, 128)
        scene[:, :, :48] = torch.tensor([0.45, 0.65, 0.95]).view(1, 3, 1, 1)
        scene[:, :, 48:] = torch.tensor([0.25, 0.4, 0.15]).view(1, 3, 1, 1)
        s = sky(scene)
        d = depth(scene)
        assert s[..., :40, :].mean() > 0.8 and s[..., 56:, :].mean() < 0.2
        assert d[..., 56:, :].mean() > d[..., :40, :].mean()


# ----------------------------------------------------------------------------- loaders and maps


class TestLoaders:
    def test_bad_specs(self):
        with pytest.raises(ValueError, match="valid depth specs") as e:
            load_depth("midas")
        assert "hf:" in _one_line_error(e)
        with pytest.raises(ValueError, match="no sky file"):
            load_sky("/nonexistent/mask.png")
        with pytest.raises(TypeError, match="valid depth specs"):
            load_depth(3)
        with pytest.raises(ValueError, match="kind"):
            load_depth("default", kind="inverse")

    def test_callable_passes_through(self):
        fn = lambda image: image[:, :1]  # noqa: E731
        assert load_depth(fn) is fn and load_sky(fn) is fn

    def test_disparity_array_resized(self):
        ramp = np.linspace(1.0, 0.0, 16, dtype=np.float32)[:, None].repeat(24, 1)
        est = load_depth(ramp)
        assert isinstance(est, DepthFromArray)
        same = est(torch.rand(2, 3, 16, 24))
        assert same.shape == (2, 1, 16, 24)
        torch.testing.assert_close(same[0, 0], torch.from_numpy(ramp))
        half = est(torch.rand(1, 3, 8, 12))
        assert half.shape == (1, 1, 8, 12)
        assert (half[0, 0, :-1, 0] > half[0, 0, 1:, 0]).all()  # still decreasing downward

    def test_depth_kind(self):
        depth = torch.tensor([[2.0, 4.0], [float("inf"), 0.0]])
        est = DepthFromArray(depth, kind="depth")
        out = est(torch.rand(1, 3, 2, 2))[0, 0]
        torch.testing.assert_close(out, torch.tensor([[0.5, 0.25], [0.0, 0.0]]))

    def test_files(self, tmp_path):
        import imageio.v3 as iio

        disp = np.random.default_rng(0).random((10, 14)).astype(np.float32)
        np.save(tmp_path / "d.npy", disp)
        torch.testing.assert_close(load_depth(tmp_path / "d.npy")(torch.rand(1, 3, 10, 14))[0, 0], torch.from_numpy(disp))
        png16 = (disp * 65535).round().astype(np.uint16)
        iio.imwrite(tmp_path / "d.png", png16)
        out = load_depth(str(tmp_path / "d.png"))(torch.rand(1, 3, 10, 14))[0, 0]
        torch.testing.assert_close(out, torch.from_numpy(png16 / 65535.0).float())
        mask = np.zeros((10, 14), np.uint8)
        mask[:4] = 255
        iio.imwrite(tmp_path / "sky.png", mask)
        sky = load_sky(tmp_path / "sky.png")(torch.rand(3, 3, 10, 14))
        assert sky.shape == (3, 1, 10, 14)
        assert (sky[:, :, :4] == 1).all() and (sky[:, :, 4:] == 0).all()

    def test_per_item_maps_and_errors(self):
        maps = torch.stack([torch.full((1, 4, 4), 0.2), torch.full((1, 4, 4), 0.7)])
        out = SkyFromArray(maps)(torch.rand(2, 3, 6, 6))
        torch.testing.assert_close(out[:, 0, 0, 0], torch.tensor([0.2, 0.7]))
        with pytest.raises(ValueError, match="does not match the image batch"):
            SkyFromArray(maps)(torch.rand(3, 3, 6, 6))
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            SkyFromArray(np.full((4, 4), 2.0))
        with pytest.raises(ValueError, match="non-finite"):
            DepthFromArray(np.array([[1.0, np.inf]]))
        with pytest.raises(ValueError, match="must be"):
            DepthFromArray(np.zeros((2, 3, 4, 4)))
        assert SkyFromArray(np.ones((4, 4), bool))(torch.rand(1, 3, 4, 4)).min() == 1


# ----------------------------------------------------------------------------- guided filter


class TestGuidedFilter:
    def test_box_filter_matches_avg_pool(self):
        x = torch.rand(2, 3, 17, 23)
        ref = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
        torch.testing.assert_close(box_filter(x, 3), ref, atol=1e-6, rtol=1e-5)

    def test_constant_stays_constant(self):
        out = guided_filter(torch.rand(1, 3, 20, 20), torch.full((1, 1, 20, 20), 0.3), radius=3)
        torch.testing.assert_close(out, torch.full_like(out, 0.3), atol=1e-5, rtol=0)

    def test_keeps_edges(self):
        # A photo with a wavy skyline and a blurry quarter-resolution sky mask of it.
        yy, xx = torch.meshgrid(torch.arange(96), torch.arange(128), indexing="ij")
        truth = (yy < 40 + 8 * torch.sin(xx / 9.0)).float()[None, None]
        sky_rgb, ground_rgb = torch.tensor([0.5, 0.7, 0.95]), torch.tensor([0.3, 0.35, 0.2])
        image = torch.where(truth > 0, sky_rgb.view(1, 3, 1, 1), ground_rgb.view(1, 3, 1, 1))
        low = torch.nn.functional.interpolate(truth, size=(24, 32), mode="area")
        low = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(low, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        bilinear = torch.nn.functional.interpolate(low, size=(96, 128), mode="bilinear")
        refined = refine_mask(low, image)
        assert refined.shape == truth.shape and refined.min() >= 0 and refined.max() <= 1
        assert (refined - truth).abs().mean() < 0.6 * (bilinear - truth).abs().mean()
        # The full-resolution guided filter smooths the blurry mask less across the edge than a box blur.
        full = guided_filter(image, bilinear, radius=4, eps=1e-4)
        assert (full - truth).abs().mean() < 1.1 * (bilinear - truth).abs().mean()
        assert (box_filter(bilinear, 4) - truth).abs().mean() > 1.1 * (full - truth).abs().mean()

    def test_grey_and_colour_guides_agree_on_grey_images(self):
        grey = torch.rand(1, 1, 20, 24)
        src = torch.rand(1, 1, 20, 24)
        torch.testing.assert_close(
            guided_filter(grey, src, radius=2, eps=1e-2),
            guided_filter(grey.expand(-1, 3, -1, -1), src, radius=2, eps=3e-2),  # Sherman-Morrison: eps / 3
            atol=1e-4, rtol=0,
        )  # fmt: skip

    def test_bad_shapes(self):
        with pytest.raises(ValueError, match="guide"):
            guided_filter(torch.rand(1, 2, 8, 8), torch.rand(1, 1, 8, 8), radius=1)
        with pytest.raises(ValueError, match="src"):
            guided_filter(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 8, 9), radius=1)


# ----------------------------------------------------------------------------- losses and metrics


class TestLosses:
    def test_scale_shift_invariance(self):
        target = torch.rand(2, 1, 16, 16) + 0.1
        pred = (target - 0.3) / 2.5
        torch.testing.assert_close(align_scale_shift(pred, target), target, atol=1e-5, rtol=1e-5)
        assert ssi_loss(pred, target) < 1e-5
        assert gradient_matching_loss(pred, target) < 1e-5
        assert ssi_loss(torch.rand(2, 1, 16, 16), target) > 0.05

    def test_gradient_matching_sees_misplaced_edges(self):
        target = torch.zeros(1, 1, 16, 16)
        target[..., 8:] = 1
        shifted = torch.zeros(1, 1, 16, 16)
        shifted[..., 10:] = 1
        assert gradient_matching_loss(shifted, target) > 0.05

    def test_sky_loss_prefers_right_answer(self):
        target = (torch.rand(2, 1, 8, 8) > 0.5).float()
        assert sky_loss(target * 20 - 10, target) < 0.01 < sky_loss(10 - target * 20, target)

    def test_metrics(self):
        target = torch.linspace(0.01, 1, 64).view(1, 1, 8, 8)
        g = torch.Generator().manual_seed(0)
        c, t = ordinal_agreement_counts(target * 3 + 1, target, generator=g)
        assert t > 1000 and c == t
        c, t = ordinal_agreement_counts(-target, target, generator=g)
        assert c == 0
        flat = torch.full((1, 1, 8, 8), 0.5)
        assert ordinal_agreement_counts(flat, flat, generator=g)[1] == 0  # equal pairs are not counted
        prob = torch.zeros(1, 1, 4, 4)
        prob[..., :2, :] = 0.9
        truth = torch.zeros(1, 1, 4, 4)
        truth[..., :1, :] = 1
        assert sky_iou_counts(prob, truth) == (4, 8)


# ----------------------------------------------------------------------------- augmentation


class TestAugment:
    def _batch(self):
        disp = torch.rand(2, 1, 24, 24)
        return {"rgb": disp.expand(-1, 3, -1, -1).contiguous(), "disparity": disp, "sky": (disp > 0.5).float()}

    def test_deterministic_by_seed(self):
        b = self._batch()
        a1 = augment(b, size=16, generator=torch.Generator().manual_seed(3))
        a2 = augment(b, size=16, generator=torch.Generator().manual_seed(3))
        a3 = augment(b, size=16, generator=torch.Generator().manual_seed(4))
        for k in a1:
            assert a1[k].shape[-2:] == (16, 16)
            torch.testing.assert_close(a1[k], a2[k])
        assert not torch.equal(a1["rgb"], a3["rgb"])
        assert a1["rgb"].min() >= 0 and a1["rgb"].max() <= 1

    def test_targets_follow_the_crop(self):
        off = AugmentConfig(
            white_balance=0, brightness=0, contrast=0, saturation=0, hue=0, gamma=(1, 1),
            haze=0, dehaze=0, blur=0, noise=0, jpeg=0, sky_recolour=0, ground_darken=0,
        )  # fmt: skip
        out = augment(self._batch(), size=16, config=off, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(out["rgb"][:, :1], out["disparity"], atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- transformers adapters


def _tiny_dpt(path):
    from transformers import DPTConfig, DPTForDepthEstimation

    cfg = DPTConfig(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=32,
        patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
        reassemble_factors=[4, 2, 1, 0.5],
    )  # fmt: skip
    torch.manual_seed(0)
    DPTForDepthEstimation(cfg).save_pretrained(path)
    (path / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "size": {"height": 32, "width": 32}})
    )


class TestHF:
    def test_dpt_depth(self, tmp_path):
        pytest.importorskip("transformers")
        _tiny_dpt(tmp_path / "dpt")
        est = load_depth(f"hf:{tmp_path / 'dpt'}")
        assert est.output == "disparity" and est.preprocess.size == (32, 32)
        out = est(torch.rand(2, 3, 37, 51))
        assert out.shape == (2, 1, 37, 51) and torch.isfinite(out).all() and (out >= 0).all()
        assert isinstance(est, DepthEstimator)

    def test_depth_anything(self, tmp_path):
        pytest.importorskip("transformers")
        from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

        backbone = Dinov2Config(
            hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=28,
            patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
        )  # fmt: skip
        cfg = DepthAnythingConfig(
            backbone_config=backbone, neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8,
            reassemble_hidden_size=16, head_hidden_size=8,
        )  # fmt: skip
        DepthAnythingForDepthEstimation(cfg).save_pretrained(tmp_path / "da")
        # No preprocessor config: Depth Anything defaults (518, keep aspect, multiple of 14), overridden here.
        est = load_depth(f"hf:{tmp_path / 'da'}")
        assert est.preprocess.multiple == 14 and est.preprocess.target_size(480, 640) == (518, 686)
        est.input_size = (28, 42)
        out = est(torch.rand(1, 3, 30, 45))
        assert out.shape == (1, 1, 30, 45) and torch.isfinite(out).all() and (out >= 0).all()

    def test_segformer_sky(self, tmp_path):
        pytest.importorskip("transformers")
        from transformers import SegformerConfig, SegformerForSemanticSegmentation

        labels = {0: "tree", 1: "sky", 2: "water"}
        cfg = SegformerConfig(
            num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 2],
            patch_sizes=[7, 3], strides=[4, 2], decoder_hidden_size=16, num_labels=3, id2label=labels,
            label2id={v: k for k, v in labels.items()},
        )  # fmt: skip
        torch.manual_seed(0)
        SegformerForSemanticSegmentation(cfg).save_pretrained(tmp_path / "seg")
        (tmp_path / "seg" / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 64, "width": 64}}))
        est = load_sky(f"hf:{tmp_path / 'seg'}")
        image = torch.rand(2, 3, 37, 51)
        out = est(image)
        assert out.shape == (2, 1, 37, 51) and (out >= 0).all() and (out <= 1).all()
        # Unrefined output = the softmax mass of label 1, resized.
        est.refine = False
        with torch.no_grad():
            logits = est.net(pixel_values=est.preprocess(image, (64, 64))).logits
        expected = torch.nn.functional.interpolate(logits.softmax(1)[:, 1:2], size=(37, 51), mode="bilinear")
        torch.testing.assert_close(est(image), expected, atol=1e-5, rtol=1e-4)

    def test_no_sky_label(self, tmp_path):
        pytest.importorskip("transformers")
        from transformers import SegformerConfig, SegformerForSemanticSegmentation

        cfg = SegformerConfig(
            num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], num_attention_heads=[1],
            patch_sizes=[7], strides=[4], decoder_hidden_size=8, num_labels=2, id2label={0: "cat", 1: "dog"},
        )  # fmt: skip
        SegformerForSemanticSegmentation(cfg).save_pretrained(tmp_path / "seg")
        with pytest.raises(ValueError, match="no class named like 'sky'"):
            load_sky(f"hf:{tmp_path / 'seg'}")

    def test_model_not_cached(self, monkeypatch):
        pytest.importorskip("transformers")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE unset") as e:
            load_depth("hf:infinitenature-tests/not-a-real-model")
        assert "pip install" not in _one_line_error(e)  # transformers is here: only the model is missing

    def test_transformers_missing(self, monkeypatch):
        real_import = builtins.__import__

        def fake_import(name, *args, **kwargs):
            if name == "transformers" or name.startswith("transformers."):
                raise ImportError("No module named 'transformers'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)
        for loader in (load_depth, load_sky):
            with pytest.raises(ImportError, match="transformers is not installed") as e:
                loader("hf:Intel/dpt-large")
            assert "pip install 'infinitenature[hf]'" in _one_line_error(e)


# ----------------------------------------------------------------------------- training command


def test_training_command_end_to_end(tmp_path, monkeypatch):
    """Train two steps on a fake pool, save, evaluate, reload through load_depth/load_sky."""
    from infinitenature.train import estimators as te

    def fake_pool(first_seed, scenes, views, size, cache_dir=None):
        count = scenes * views
        g = torch.Generator().manual_seed(first_seed)
        rows = torch.linspace(0, 1, size).view(1, 1, size, 1).expand(count, 1, size, size)
        sky = (rows < 0.4).float()
        disp = torch.where(sky > 0, torch.full_like(rows, 0.01), rows.clamp(0.01, 1))
        rgb = torch.rand(count, 3, size, size, generator=g) * 0.2 + sky * 0.7
        return {"rgb": rgb, "disparity": disp, "sky": sky}

    monkeypatch.setattr(te, "render_pool", fake_pool)
    out = tmp_path / "w"
    args = ["--out", str(out), "--run-dir", str(tmp_path / "run"), "--train-scenes", "4", "--eval-scenes", "2",
            "--render-size", "40", "--working-size", "32", "--train-size", "32", "--widths", "4", "8", "--blocks", "0", "--batch", "2",
            "--steps", "2", "--eval-size", "24", "--threads", "1", "--standing", "1"]  # fmt: skip
    assert te.main(args) == 0
    metrics = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert 0 <= metrics["sky_iou"] <= 1 and 0 <= metrics["ordinal_agreement"] <= 1
    assert len((tmp_path / "run" / "stats.jsonl").read_text().splitlines()) == 1
    depth = load_depth(out / "depth-default.safetensors")
    assert depth(torch.rand(1, 3, 20, 30)).shape == (1, 1, 20, 30)
    from infinitenature.weights import read_metadata

    extra = read_metadata(out / "sky-default.safetensors")["extra"]
    assert extra["steps"] == 2 and "infinitenature.train.estimators" in extra["command"]
    assert "standing objects pasted on 100% of the rendered views" in extra["train_data"]


def test_dry_run(capsys):
    from infinitenature.train.estimators import main

    assert main(["--dry-run", "--steps", "7"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 7
    assert main(["--dry-run", "--standing", "1.5"]) == 2
    assert "--standing must lie in [0, 1]" in capsys.readouterr().err


def test_photo_sheet(tmp_path, tiny_depth, tiny_sky):
    import imageio.v3 as iio

    from infinitenature.train.estimators import photo_sheet

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    iio.imwrite(photos / "a.jpg", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    iio.imwrite(photos / "b.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    out = photo_sheet(photos, tmp_path / "sheet.png", tiny_depth, tiny_sky, height=16)
    sheet = iio.imread(out)
    assert sheet.shape == (32, 3 * round(40 * 16 / 30), 3)


# ----------------------------------------------------------------------------- real-photo sky training


def _fake_real_set(root, names=("a", "b", "c"), size=(48, 64)):
    """A tiny real-photo folder: blue sky over a green, textured ground; a band of uncertain pixels."""
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "sky").mkdir()
    rng = np.random.default_rng(0)
    h, w = size
    for k, name in enumerate(names):
        horizon = 16 + 6 * k
        img = np.zeros((h, w, 3), np.uint8)
        img[:horizon] = (90, 140, 230)
        img[horizon:] = rng.integers(20, 120, (h - horizon, w, 3))
        mask = np.zeros((h, w), np.uint8)
        mask[:horizon] = 255
        mask[horizon - 1 : horizon + 1, : w // 4] = 128
        Image.fromarray(img).save(root / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(mask).save(root / "sky" / f"{name}.png")
    (root / "split.json").write_text(json.dumps({"train": list(names[:-1]), "heldout": [names[-1]]}))
    return root


class TestRealSkyTraining:
    def test_load_validates_inputs(self, tmp_path):
        from infinitenature.train.estimator_augment import load_real_sky

        root = _fake_real_set(tmp_path / "real")
        real = load_real_sky(root, "train", short_side=24)
        assert real.names == ["a", "b"] and real.images[0].shape == (3, 24, 32)
        assert real.valid[0].min() == 0 and real.sky[0][0, 0].min() == 1  # uncertain band left out; top is sky
        assert len(real.plates) == 2 and real.plates[0].shape[-1] == 32
        for kwargs, match in [
            (dict(split="test"), "split 'test' is not in"),
            (dict(split="train", exclude=["c"]), r"cannot exclude \['c'\]"),
            (dict(split="train", exclude=["a", "b"]), "no photos left"),
        ]:
            with pytest.raises(ValueError, match=match) as e:
                load_real_sky(root, **kwargs)
            _one_line_error(e)
        with pytest.raises(ValueError, match="no split.json"):
            load_real_sky(tmp_path)
        (root / "sky" / "b.png").unlink()
        with pytest.raises(ValueError, match="missing"):
            load_real_sky(root, "train")

    def test_cli_rejects_bad_real_options(self, tmp_path, capsys):
        from infinitenature.train.estimators import main

        root = _fake_real_set(tmp_path / "real")
        assert main(["--dry-run", "--real-photos", str(root), "--real-exclude", "c"]) == 2
        assert "cannot exclude" in capsys.readouterr().err
        assert main(["--dry-run", "--real-photos", str(tmp_path / "nowhere")]) == 2
        assert main(["--dry-run", "--real-share", "1.5"]) == 2
        assert main(["--dry-run", "--sky-only", "--real-photos", str(root), "--real-exclude", "a"]) == 0
        opts = json.loads(capsys.readouterr().out)
        assert opts["sky_only"] is True and opts["real_exclude"] == "a"

    def test_real_batch_and_weighted_loss(self, tmp_path):
        from infinitenature.train.estimator_augment import load_real_sky, real_sky_batch

        real = load_real_sky(_fake_real_set(tmp_path / "real"), "train", short_side=32)
        g = torch.Generator().manual_seed(0)
        b = real_sky_batch(real, 6, size=32, plates=real.plates, paste=0.5, generator=g)
        assert b["rgb"].shape == (6, 3, 32, 32) and b["sky"].shape == b["valid"].shape == (6, 1, 32, 32)
        assert 0 <= b["rgb"].min() and b["rgb"].max() <= 1 and set(b["valid"].unique().tolist()) <= {0.0, 1.0}
        # Pixels with weight 0 do not count: a wrong answer there costs nothing.
        target = b["sky"].round()
        logits = target * 20 - 10
        wrong = torch.where(b["valid"] > 0, logits, -logits)
        assert sky_loss(wrong, target, weight=b["valid"]) == pytest.approx(float(sky_loss(logits, target, weight=b["valid"])), abs=1e-4)

    def test_a_few_steps_on_real_crops_reduce_the_loss(self, tmp_path):
        from infinitenature.train.estimator_augment import load_real_sky, real_sky_batch

        real = load_real_sky(_fake_real_set(tmp_path / "real"), "train", short_side=32)
        g = torch.Generator().manual_seed(0)
        b = real_sky_batch(real, 8, size=32, generator=g)
        torch.manual_seed(0)
        net = SkyNet(SkyNetConfig(**TINY)).train()
        optim = torch.optim.Adam(net.parameters(), lr=1e-2)
        losses = []
        for _ in range(20):
            loss = sky_loss(net.logits(b["rgb"]), b["sky"], weight=b["valid"])
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
        assert losses[-1] < 0.7 * losses[0]

    def test_sky_only_command_with_real_photos(self, tmp_path, monkeypatch):
        from infinitenature.train import estimators as te
        from infinitenature.weights import read_metadata

        def fake_pool(first_seed, scenes, views, size, cache_dir=None):
            count = scenes * views
            rows = torch.linspace(0, 1, size).view(1, 1, size, 1).expand(count, 1, size, size)
            sky = (rows < 0.4).float()
            rgb = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(first_seed)) * 0.2 + sky * 0.7
            return {"rgb": rgb, "disparity": torch.where(sky > 0, 0.01, rows.clamp(0.01, 1)), "sky": sky}

        monkeypatch.setattr(te, "render_pool", fake_pool)
        root = _fake_real_set(tmp_path / "real")
        out = tmp_path / "w"
        args = ["--out", str(out), "--run-dir", str(tmp_path / "run"), "--train-scenes", "2", "--eval-scenes", "1",
                "--render-size", "40", "--working-size", "32", "--train-size", "32", "--widths", "4", "8", "--blocks", "0",
                "--batch", "4", "--steps", "2", "--eval-size", "24", "--threads", "1", "--sky-only",
                "--real-photos", str(root), "--real-split", "train", "--copy-paste", "0.5"]  # fmt: skip
        assert te.main(args) == 0
        assert not (out / "depth-default.safetensors").exists()
        extra = read_metadata(out / "sky-default.safetensors")["extra"]
        assert extra["steps"] == 2 and "real crops of 2 photos" in extra["train_data"] and "hardware" in extra
        assert load_sky(out / "sky-default.safetensors")(torch.rand(1, 3, 20, 30)).shape == (1, 1, 20, 30)


class TestSkyIslands:
    def test_islands_are_damped_and_top_regions_kept(self):
        from infinitenature.estimators.nets import damp_sky_islands

        p = torch.full((2, 1, 12, 10), 0.1)
        p[0, :, :4] = 0.9  # sky along the top
        p[0, :, 8:11, 2:5] = 0.8  # a lookalike below the skyline (a reflection)
        p[1, :, 3:6, 3:6] = 0.7  # no sky at the top at all
        out = damp_sky_islands(p, 0.0)
        assert torch.equal(out[0, :, :8], p[0, :, :8]) and out[0, :, 8:11, 2:5].max() == 0
        assert out[1].max() == pytest.approx(0.1)
        assert torch.equal(damp_sky_islands(p, 1.0), p)
        with pytest.raises(ValueError, match="must be"):
            damp_sky_islands(torch.rand(1, 12, 10))

    def test_sky_net_options(self):
        torch.manual_seed(0)
        image = torch.rand(2, 3, 40, 56)
        plain = SkyNet(SkyNetConfig(**TINY, refine=False)).eval()
        for kw in (dict(refine=True), dict(refine=False, top_connected=True), dict(top_connected=True, island_factor=0.0)):
            net = SkyNet(SkyNetConfig(**TINY, **kw)).eval()
            net.load_state_dict(plain.state_dict())
            out = net(image)
            assert out.shape == (2, 1, 40, 56) and 0 <= out.min() and out.max() <= 1
        # Damping only ever lowers the probability.
        damped = SkyNet(SkyNetConfig(**TINY, refine=False, top_connected=True, island_factor=0.0)).eval()
        damped.load_state_dict(plain.state_dict())
        assert (damped(image) <= plain(image) + 1e-6).all()


class TestRealGroundCrops:
    def test_ground_crops_hold_no_sky(self, tmp_path):
        from infinitenature.train.estimator_augment import ground_window, load_real_sky, real_sky_batch

        real = load_real_sky(_fake_real_set(tmp_path / "real"), "train", short_side=32)
        g = torch.Generator().manual_seed(0)
        b = real_sky_batch(real, 12, size=16, plates=real.plates, paste=0.5, generator=g, ground=1.0)
        assert b["rgb"].shape == (12, 3, 16, 16)
        assert b["sky"].max() == 0 and b["valid"].min() == 1  # no sky, no uncertain pixel in any crop
        mixed = real_sky_batch(real, 12, size=16, generator=torch.Generator().manual_seed(0), ground=0.0)
        assert mixed["sky"].flatten(1).amax(1).max() > 0.5  # without the option crops do show sky
        # A photo that is all sky has no ground window: None (real_sky_batch then takes a normal crop).
        assert ground_window(torch.ones(1, 20, 20), torch.ones(1, 20, 20), (8, 8), 1.0, 0.5, g) is None
        y0, x0, ch, cw = ground_window(real.sky[0], real.valid[0], (16, 16), 1.0, 0.5, g)
        assert real.sky[0][:, y0 : y0 + ch, x0 : x0 + cw].max() == 0 and ch == cw >= 8

    def test_cli_rejects_bad_ground_crops(self, tmp_path, capsys):
        from infinitenature.train.estimators import main

        root = _fake_real_set(tmp_path / "real")
        for bad in ("1.5", "-0.1", "nan"):
            assert main(["--dry-run", "--real-photos", str(root), "--real-ground-crops", bad]) == 2
            err = capsys.readouterr().err
            assert "--real-ground-crops must lie in [0, 1]" in err and err.count("\n") == 1
        assert main(["--dry-run", "--real-ground-crops", "0.5"]) == 2  # needs --real-photos
        capsys.readouterr()
        assert main(["--dry-run", "--real-photos", str(root), "--real-ground-crops", "0.5"]) == 0
        assert json.loads(capsys.readouterr().out)["real_ground_crops"] == 0.5
