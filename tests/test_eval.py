"""Evaluation: baselines, the shared protocol, the quality benchmark, the report and ``infinitenature eval``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import imageio.v3
import numpy as np
import pytest
import torch

from infinitenature import FlyThroughConfig
from infinitenature.geometry import intrinsics_from_fov, pose_from_rt
from infinitenature.metrics.__main__ import main as eval_main
from infinitenature.metrics.baselines import BaselineConfig, BaselineRefiner, push_pull_fill
from infinitenature.metrics.protocol import build_pipeline, fly, load_refiner, method_pipelines, scene_from_truth
from infinitenature.weights import save_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

RES = 32


# --------------------------------------------------------------------------- push-pull


class TestPushPull:
    def test_keeps_valid_pixels_exactly(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(2, 3, 17, 23, generator=g)
        mask = (torch.rand(2, 1, 17, 23, generator=g) > 0.4).float()
        y = push_pull_fill(x, mask)
        assert y.shape == x.shape
        assert torch.equal(y[mask.expand_as(y) > 0], x[mask.expand_as(x) > 0])

    def test_no_holes_is_identity(self):
        x = torch.rand(1, 4, 9, 9)
        assert torch.equal(push_pull_fill(x, torch.ones(1, 1, 9, 9)), x)

    def test_constant_image_is_filled_with_the_constant(self):
        x = torch.full((1, 3, 16, 16), 0.25)
        mask = torch.ones(1, 1, 16, 16)
        mask[..., 3:11, 4:12] = 0
        x_holes = x * mask  # the holes hold garbage (0) that must not leak in
        assert torch.allclose(push_pull_fill(x_holes, mask), x, atol=1e-6)

    def test_hole_between_two_values_gets_values_between_them(self):
        x = torch.zeros(1, 1, 8, 16)
        x[..., 8:] = 1.0
        mask = torch.ones(1, 1, 8, 16)
        mask[..., 6:10] = 0
        y = push_pull_fill(x, mask)[0, 0, :, 6:10]
        assert bool((y > 0).all() and (y < 1).all())
        assert float(y[:, 0].mean()) < float(y[:, -1].mean())  # nearer to the 0 side -> smaller

    def test_all_holes_give_zeros_and_bad_shapes_raise(self):
        assert torch.equal(push_pull_fill(torch.rand(1, 2, 5, 7), torch.zeros(1, 1, 5, 7)), torch.zeros(1, 2, 5, 7))
        with pytest.raises(ValueError, match="mask must be"):
            push_pull_fill(torch.rand(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
        with pytest.raises(ValueError, match="x must be"):
            push_pull_fill(torch.rand(3, 8, 8), torch.ones(1, 1, 8, 8))


# --------------------------------------------------------------------------- baselines


class TestBaselineRefiner:
    def _inputs(self):
        g = torch.Generator().manual_seed(1)
        rgb = torch.rand(2, 3, RES, RES, generator=g) * 0.8 + 0.2
        disp = torch.rand(2, 1, RES, RES, generator=g) * 0.5 + 0.1
        mask = torch.ones(2, 1, RES, RES)
        mask[:, :, 10:20, 5:15] = 0
        return rgb, disp, mask

    def test_warp_leaves_holes_black(self):
        rgb, disp, mask = self._inputs()
        ref = BaselineRefiner(BaselineConfig(method="warp", resolution=RES))
        out = ref.refine(rgb, disp, mask, ref.encode_style(torch.cat([rgb, disp], 1)), torch.zeros(2, 1))
        assert out.shape == (2, 4, RES, RES)
        hole = mask.expand(2, 4, RES, RES) == 0
        assert bool((out[:, :3][hole[:, :3]] == 0).all())
        assert torch.allclose(out[:, 3:][hole[:, 3:]], torch.tensor(0.01))
        assert torch.equal(out[:, :3] * mask, rgb * mask) and torch.equal(out[:, 3:] * mask, disp * mask)

    def test_inpaint_fills_holes_and_keeps_the_rest(self):
        rgb, disp, mask = self._inputs()
        ref = BaselineRefiner(BaselineConfig(method="inpaint", resolution=RES))
        out = ref.refine(rgb, disp, mask, ref.encode_style(torch.cat([rgb, disp], 1)), torch.zeros(2, 1))
        assert bool((out[:, :3] > 0.19).all()), "holes must be filled from the (>= 0.2) surroundings"
        assert torch.equal(out[:, :3] * mask, rgb * mask) and torch.equal(out[:, 3:] * mask, disp * mask)
        full = ref.refine(rgb, disp, torch.ones_like(mask), None, None)
        assert torch.equal(full, torch.cat([rgb, disp], 1))

    def test_config_errors(self):
        with pytest.raises(ValueError, match="method must be one of"):
            BaselineConfig(method="magic")
        with pytest.raises(TypeError, match="BaselineConfig"):
            BaselineRefiner({"method": "warp"})


# --------------------------------------------------------------------------- protocol


def _box_truth(size: int = RES):
    """Canvas 1.5x the view: far ground (depth 10), a near box (depth 1.5), sky (inf) on top."""
    c = size + size // 2
    g = torch.Generator().manual_seed(2)
    rgb = torch.rand(3, c, c, generator=g) * 0.7 + 0.3
    depth = torch.full((1, c, c), 10.0)
    depth[:, c // 2 - 4 : c // 2 + 4, c // 2 - 4 : c // 2 + 4] = 1.5
    sky = torch.zeros(1, c, c, dtype=torch.bool)
    sky[:, : c // 3] = True
    depth[sky] = float("inf")
    return rgb, depth, sky, intrinsics_from_fov(size, size, 55.0)


def test_scene_from_truth_is_a_pure_scale():
    rgb, depth, sky, K = _box_truth()
    scene, s = scene_from_truth(rgb, depth, sky, K, RES)
    m = RES // 4
    view_depth = depth[:, m : m + RES, m : m + RES]
    disp_true = torch.where(torch.isfinite(view_depth), 1.0 / view_depth, torch.zeros_like(view_depth))
    assert math.isclose(s, 0.8 / float(torch.quantile(disp_true.flatten(), 0.97)), rel_tol=1e-5)
    ground = torch.isfinite(view_depth)[None]
    assert torch.allclose(scene.disparity[ground], (s / view_depth[None][ground]).clamp(0.01, 1.0))
    assert bool((scene.disparity[~ground] == 0.01).all())
    assert torch.equal(scene.rgb[0], rgb[:, m : m + RES, m : m + RES])
    assert torch.allclose(scene.canvas.K[:2, 2], K[:2, 2] + m)
    assert scene.canvas.rgb.shape == (1, 3, RES + 2 * m, RES + 2 * m)
    with pytest.raises(ValueError, match="even margin"):
        scene_from_truth(rgb[:, 1:], depth[:, 1:], sky[:, 1:], K, RES)


def test_synthetic_truth_poses_are_in_the_scenes_units():
    """Warping the true first frame along the truth's poses gives the true later frames.

    The scene's disparity is ``s / depth``, so the pipeline's world is the scene shrunk by
    ``s`` and the poses' translations must be divided by ``s`` (multiplied by it, the loop
    would fly ``s**2`` as far as the true frames moved)."""
    from infinitenature.metrics.protocol import synthetic_truth
    from infinitenature.render import render_step

    res = 64
    truth = synthetic_truth(1001, steps=[1, 3], size=res, terrain_resolution=256, antialias=2)
    s, K = truth.scale, truth.scene.K
    assert s > 1.2  # so that a pose in the wrong units is far off
    for k in (1, 3):
        errors = []
        for factor in (1.0, s * s, 0.0):  # as given, in the wrong units (x s^2), no translation at all
            R, t = truth.poses[k, :3, :3].float(), (truth.poses[k, :3, 3] * factor).float()
            r = render_step(truth.scene.rgb, truth.scene.disparity, R[None], t[None], K)
            seen = (r.mask > 0.99).expand(-1, 3, -1, -1)
            errors.append(float((r.rgb - truth.frames[k][None]).abs()[seen].mean()))
        right, wrong_units, still = errors
        assert right < 0.5 * wrong_units and right < 0.5 * still, (k, errors)  # measured at 64 px: 0.3x and 0.3x


def test_synthetic_truth_supersampled_first_frame_and_antialiasing():
    from infinitenature.metrics.protocol import _area_average, synthetic_truth

    plain = synthetic_truth(1000, steps=[1, 2], size=RES, terrain_resolution=32, antialias=2)
    big = synthetic_truth(1000, steps=[1, 2], size=RES, terrain_resolution=32, supersample=2, antialias=2)
    assert plain.scene.rgb.shape[-1] == RES and big.scene.rgb.shape[-1] == 2 * RES
    assert big.scene.canvas.rgb.shape[-1] == 2 * plain.scene.canvas.rgb.shape[-1]
    # both come from the same 2x render: the plain first frame is the big one averaged down
    assert torch.allclose(torch.nn.functional.avg_pool2d(big.scene.rgb, 2), plain.scene.rgb, atol=1e-5)
    assert torch.allclose(big.scene.K[:2, :2], 2 * plain.scene.K[:2, :2])
    for k in (1, 2):  # the true frames do not depend on the state's size
        assert big.frames[k].shape == (3, RES, RES) and torch.allclose(big.frames[k], plain.frames[k], atol=1e-6)
    assert math.isclose(big.scale, plain.scale, rel_tol=0.05)
    # area averaging: colour averaged, depth through disparity, sky by majority
    depth = torch.tensor([[[[1.0, 0.5], [float("inf"), float("inf")]]]])
    sky = torch.tensor([[[[False, False], [True, True]]]])
    avg = _area_average({"rgb": torch.ones(1, 3, 2, 2) * torch.tensor([0.0, 1.0, 0.5]).view(1, 3, 1, 1), "depth": depth, "sky": sky}, 2)
    assert torch.allclose(avg["depth"], torch.tensor([[[[4.0 / 3.0]]]]))  # mean disparity (1 + 2 + 0 + 0) / 4 = 0.75
    assert not bool(avg["sky"].any())  # half sky is not most
    inf = float("inf")
    mostly_sky = {"rgb": torch.zeros(1, 3, 2, 2), "depth": torch.tensor([[[[2.0, inf], [inf, inf]]]]), "sky": torch.tensor([[[[False, True], [True, True]]]])}
    sky_most = _area_average(mostly_sky, 2)
    assert bool(sky_most["sky"].all()) and bool(torch.isinf(sky_most["depth"]).all())


@pytest.fixture(scope="module")
def tiny_pipe():
    return build_pipeline("random-tiny", depth=None, sky=None, resolution=RES, config=FlyThroughConfig(mean_latent_samples=64))


def test_methods_share_the_loop_and_the_baselines_differ_at_disocclusions(tiny_pipe):
    rgb, depth, sky, K = _box_truth()
    scene, s = scene_from_truth(rgb, depth, sky, K, RES)
    # a sideways move: the near box uncovers background
    poses = pose_from_rt(torch.eye(3, dtype=torch.float64).expand(3, 3, 3), torch.tensor([[0.0, 0, 0], [-0.3, 0, 0], [-0.6, 0, 0]], dtype=torch.float64))
    pipes = method_pipelines(tiny_pipe)
    assert set(pipes) == {"refiner", "warp", "inpaint"} and pipes["refiner"] is tiny_pipe
    recs = {m: fly(p, num_frames=3, scene=scene, trajectory=poses) for m, p in pipes.items()}
    for m, rec in recs.items():
        assert rec.frames.shape == (3, RES, RES, 3) and rec.frames.dtype == np.uint8, m
        assert np.allclose(rec.poses, poses.numpy()), m  # the exact per-step poses were flown
        assert np.array_equal(rec.frames[0], recs["refiner"].frames[0]), m
    black = lambda f: int((f.max(axis=-1) == 0).sum())  # noqa: E731
    assert black(recs["warp"].frames[1]) > 0
    assert black(recs["inpaint"].frames[1]) == 0
    with pytest.raises(ValueError, match="unknown method"):
        method_pipelines(tiny_pipe, ["refiner", "dream"])


def test_fly_keeps_the_flights_warnings_and_step_timings(tiny_pipe):
    from infinitenature.flight import StepTimings

    rgb, depth, sky, K = _box_truth()
    with_sky, _ = scene_from_truth(rgb, depth, sky, K, RES)
    no_sky, _ = scene_from_truth(rgb, torch.where(sky, torch.full_like(depth, 20.0), depth), torch.zeros_like(sky), K, RES)
    rec = fly(tiny_pipe, num_frames=3, scene=no_sky)
    assert list(rec.stage_ms) == list(StepTimings.STEPS) == ["pose", "warp", "refine", "sky", "emit"]
    assert all(v >= 0 for v in rec.stage_ms.values()) and rec.stage_ms["refine"] > 0
    assert any("no sky found" in w for w in rec.warnings), rec.warnings
    assert not any("no sky found" in w for w in fly(tiny_pipe, num_frames=2, scene=with_sky).warnings)


def test_load_refiner_presets_are_seeded():
    a, b = load_refiner("random-tiny", resolution=RES), load_refiner("random-tiny", resolution=RES)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(FileNotFoundError):
        load_refiner("/no/such/generator.safetensors")


def test_build_pipeline_keeps_the_weights_loop_settings_but_scores_at_refiner_size(tmp_path):
    path = save_model(
        load_refiner("random-tiny", resolution=RES), tmp_path / "g.safetensors",
        extra={"pipeline": {"keep_visible": True, "supersample": 2, "frame_size": "state"}},
    )  # fmt: skip
    pipe = build_pipeline(str(path), depth=None, sky=None)
    assert pipe.config.keep_visible is True and pipe.config.supersample == 2
    assert pipe.config.frame_size == "refiner"


# --------------------------------------------------------------------------- benchmarks and report


def test_quality_benchmark_end_to_end(tmp_path):
    import bench_quality

    out = tmp_path / "quality.json"
    opts = bench_quality.QualityOptions(
        weights="random-tiny", resolution=RES, seeds=(1000,), steps=(1, 2), terrain_resolution=32,
        stability_scenes=1, max_photos=-1, long_frames=3, baseline_frames=2, report_steps=(2, 3),
        fid_window=2, kid_subsets=3, feature_channels=(4, 8), out=str(out),
    )  # fmt: skip
    result = bench_quality.run_quality(opts, progress=False)
    on_disk = json.loads(out.read_text())
    assert on_disk["fidelity"]["steps"] == [1, 2] and on_disk["resolution"] == RES
    for m in ("refiner", "warp", "inpaint"):
        for metric in ("psnr", "ssim", "detail"):
            vals = on_disk["fidelity"]["methods"][m][metric]
            assert set(vals) == {"1", "2"} and all(np.isfinite(v) for v in vals.values())
        assert -1.0 <= on_disk["fidelity"]["methods"][m]["ssim"]["1"] <= 1.0
    runs = {(r["input"], r["method"]): r for r in on_disk["stability"]["runs"]}
    assert runs[("synthetic:1000", "refiner")]["report"]["steps"] == [0, 2, 3]
    assert runs[("synthetic:1000", "warp")]["report"]["steps"] == [0, 2]
    assert runs[("synthetic:1000", "warp")]["report"]["relative_sharpness"][0] == 1.0
    sets = {(s["domain"], s["method"]) for s in on_disk["fid"]["sets"]}
    assert sets == {("synthetic", "refiner"), ("synthetic", "refiner-all"), ("synthetic", "warp"), ("synthetic", "inpaint")}
    assert on_disk["machine"]["torch"] == torch.__version__
    assert result["fidelity"] == on_disk["fidelity"]


def test_quality_benchmark_without_fidelity_still_scores_stability_and_fid(tmp_path):
    import bench_quality

    opts = bench_quality.QualityOptions(
        weights="random-tiny", resolution=RES, seeds=(1000,), steps=(1, 2), terrain_resolution=32,
        stability_scenes=1, max_photos=-1, long_frames=3, report_steps=(2, 3), fid_window=2, kid_subsets=3,
        feature_channels=(4, 8), methods=("refiner",), fidelity=False, out=str(tmp_path / "q.json"),
    )  # fmt: skip
    result = bench_quality.run_quality(opts, progress=False)
    assert "fidelity" not in result and any(s.startswith("fidelity") for s in result["skipped"])
    assert [r["input"] for r in result["stability"]["runs"]] == ["synthetic:1000"]
    assert {(s["domain"], s["method"]) for s in result["fid"]["sets"]} == {("synthetic", "refiner")}
    assert bench_quality.parse_args(["--no-fidelity"]).fidelity is False
    assert bench_quality.parse_args([]).fidelity is True


def test_checkpoint_benchmark_flies_every_candidate_with_one_loop_setting(tmp_path, capsys):
    import bench_checkpoints

    from infinitenature.models import CoModGenerator, GeneratorConfig

    tiny = dict(resolution=RES, latent_dim=16, mapping_layers=1, f_base=128, f_base_style=64, f_max=8)
    ckpt = tmp_path / "runx" / "checkpoints" / "step-0000002"
    ckpt.mkdir(parents=True)
    save_model(CoModGenerator(GeneratorConfig(**tiny, hole_fill="push_pull")), ckpt / "G_ema.safetensors")  # no loop settings
    settings = save_model(
        CoModGenerator(GeneratorConfig(**tiny)), tmp_path / "other.safetensors",
        extra={"pipeline": {"keep_visible": True, "mean_latent_samples": 64}},
    )  # fmt: skip
    out = tmp_path / "ck.json"
    argv = [str(ckpt), str(settings), "--settings", str(settings), "--seeds", "1000", "--steps", "1,2",
            "--terrain-resolution", "32", "--crops", "0", "--full-refinement", "--out", str(out)]  # fmt: skip
    assert bench_checkpoints.main(argv) == 0
    result = json.loads(out.read_text())
    assert set(result["candidates"]) == {"runx/step-0000002", "other.safetensors"}
    assert result["loop"]["keep_visible"] is True and result["loop"]["mean_latent_samples"] == 64
    for r in result["candidates"].values():
        assert set(r["fidelity"]) == {"refiner", "refiner-all"}
        assert set(r["fidelity"]["refiner"]["psnr"]) == {"1", "2"}
        assert all(np.isfinite(v) for v in r["fidelity"]["refiner"]["psnr"].values())
        assert r["hole_filling"]["frames"] == 3 and r["hole_filling"]["hole_filling"]["blocks"]["rgb_l1"] > 0
        assert r["hole_filling"]["hole_filling"]["blocks"]["detail"] >= 0
    printed = capsys.readouterr().out
    assert "texture in holes" in printed
    assert "| runx/step-0000002 |" in printed and "PSNR 1/2, these settings" in printed and "full refinement" in printed
    assert bench_checkpoints.main([str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "not a generator file, run folder or checkpoint folder" in err and err.count("\n") == 1
    assert bench_checkpoints.main([str(tmp_path)]) == 2  # a folder without a generator
    err = capsys.readouterr().err
    assert "is a folder without a generator" in err and err.count("\n") == 1


def test_hole_panels_show_each_candidate_on_the_same_holes(tmp_path, capsys):
    import hole_panels

    from infinitenature.models import CoModGenerator, GeneratorConfig

    tiny = dict(resolution=RES, latent_dim=16, mapping_layers=1, f_base=128, f_base_style=64, f_max=8)
    ckpt = tmp_path / "runx" / "checkpoints" / "step-0000002"
    ckpt.mkdir(parents=True)
    save_model(CoModGenerator(GeneratorConfig(**tiny, hole_fill="push_pull")), ckpt / "G_ema.safetensors")
    out = tmp_path / "panel.png"
    argv = [str(out), str(ckpt), "inpaint", "--crops", "0", "--frames", "0", "2", "--threads", "1"]
    assert hole_panels.main(argv) == 0
    img = imageio.v3.imread(out)
    assert img.shape == (2 * RES + 4, 4 * RES + 3 * 4, 3)  # 2 crops; photo, input, 2 candidates
    left, right = img[:RES, :RES].astype(int), img[:RES, RES + 4: 2 * RES + 4].astype(int)
    hidden = (right == 128).all(axis=-1)  # the input shows hidden pixels grey
    assert 0.3 < hidden.mean() < 0.95 and np.abs(left[~hidden] - right[~hidden]).max() <= 1
    assert "columns = photo, input" in capsys.readouterr().out
    for bad, msg in (([str(out), "inpaint"], "exists"), ([str(tmp_path / "b.png"), str(tmp_path / "none")], "none"),
                     ([str(tmp_path / "c.png"), "inpaint", "--crops", "0", "--frames", "7"], "out of range")):
        assert hole_panels.main(bad) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err


def test_settings_benchmark_turns_off_one_departure_at_a_time(tmp_path, capsys):
    import bench_settings

    from infinitenature.models import CoModGenerator, GeneratorConfig

    shipped = {"keep_visible": True, "supersample": 2, "anchor_scale": 2, "detail": 1.5, "streak_blur": 1.0,
               "aerial_perspective": 1.0, "sky_layers": True, "mean_latent_samples": 64}  # fmt: skip
    tiny = dict(resolution=RES, latent_dim=16, mapping_layers=1, f_base=128, f_base_style=64, f_max=8)
    path = save_model(CoModGenerator(GeneratorConfig(**tiny)), tmp_path / "g.safetensors", extra={"pipeline": shipped})
    out = tmp_path / "settings.json"
    argv = ["--weights", str(path), "--seeds", "1000", "--steps", "1,2", "--terrain-resolution", "32", "--out", str(out)]
    assert bench_settings.main(argv) == 0
    runs = {r["setting"]: r for r in json.loads(out.read_text())["runs"]}
    assert list(runs) == ["shipped", "keep_visible off", "supersample off", "anchor_scale off", "detail off",
                          "streak_blur off", "aerial_perspective off", "sky_layers off", "published", "inpaint", "warp"]  # fmt: skip
    assert runs["anchor_scale off"]["changes"] == {"anchor_scale": 0, "detail": 0.0, "streak_blur": 0.0, "aerial_perspective": 0.0, "outpaint": False}
    assert runs["published"]["changes"] == bench_settings.PUBLISHED
    assert FlyThroughConfig().replace(**bench_settings.PUBLISHED) == FlyThroughConfig()  # every departure off is the published loop
    assert runs["inpaint"]["changes"] == {"refiner": "inpaint"} and runs["warp"]["changes"] == {"refiner": "warp"}
    for r in runs.values():
        assert set(r["fidelity"]["psnr"]) == {"1", "2"} and all(np.isfinite(v) for v in r["fidelity"]["psnr"].values())
    assert "| detail off | detail=0 |" in capsys.readouterr().out
    assert list(bench_settings.variants(FlyThroughConfig())) == ["shipped", "published"]  # nothing to turn off


def test_quality_benchmark_overrides_are_checked_together(tmp_path):
    """Turning the anchor off with the settings that need it (detail, streak_blur) is one valid change."""
    import bench_quality

    from infinitenature.models import CoModGenerator, GeneratorConfig

    tiny = dict(resolution=RES, latent_dim=16, mapping_layers=1, f_base=128, f_base_style=64, f_max=8)
    stored = {"anchor_scale": 2, "detail": 1.5, "streak_blur": 1.0, "aerial_perspective": 1.0, "mean_latent_samples": 64}
    path = save_model(CoModGenerator(GeneratorConfig(**tiny)), tmp_path / "g.safetensors", extra={"pipeline": stored})
    opts = bench_quality.QualityOptions(
        weights=str(path), anchor_scale=0, detail=0.0, streak_blur=0.0, aerial_perspective=0.0, seeds=(1000,), steps=(1,), terrain_resolution=32,
        stability_scenes=0, max_photos=-1, methods=("refiner",), out=str(tmp_path / "q.json"),
    )  # fmt: skip
    loop = bench_quality.run_quality(opts, progress=False)["loop"]
    assert (loop["anchor_scale"], loop["detail"], loop["streak_blur"], loop["aerial_perspective"]) == (0, 0.0, 0.0, 0.0)


def test_make_report_renders_tables(tmp_path):
    import make_report

    machine = {"cpu": "Test CPU", "cpu_count": 2, "torch": "2.x", "torch_threads": 2, "cuda": None, "load_average_1min": 0.5}
    speed = {
        "benchmark": "speed", "command": "python benchmarks/bench_speed.py", "date": "2025-01-01T00:00:00+00:00",
        "commit": "abc1234", "machine": machine, "note": "n",
        "runs": [{"model": "default", "init": "trained", "parameters": 1000, "resolution": 128, "device": "cpu (2 threads)",
                  "frames": 5, "frame_ms": 40.0, "fps": 25.0,
                  "stage_ms": {"autopilot": 1.0, "render": 5.0, "refine": 30.0, "sky": 4.0}}],
        "memory": {"model": "default", "resolution": 128, "frames": 1000, "rss_mb": [[0, 500.0], [100, 510.0], [999, 511.0]],
                   "growth_mb_after_frame_100": 1.0, "frame_ms": 41.0},
    }  # fmt: skip
    quality = {
        "benchmark": "quality", "command": "python benchmarks/bench_quality.py", "machine": machine, "commit": "abc1234",
        "weights": "default", "weights_note": "trained weights", "resolution": 128, "refiner_parameters": 1000,
        "skipped": [], "runtime_s": {"total": 10.0},
        "fidelity": {"seeds": [1000, 1001], "steps": [1, 5],
                     "methods": {"refiner": {"psnr": {"1": 25.5, "5": 20.25}, "ssim": {"1": 0.8, "5": 0.7}},
                                 "warp": {"psnr": {"1": 22.0, "5": 15.0}, "ssim": {"1": 0.6, "5": 0.4}}}},
        "stability": {"runs": [{"input": "synthetic:1000"}],
                      "summary": {"refiner": {"relative_sharpness": {"0": 1.0, "100": 0.9}, "colour_drift_lab": {"0": 0.0, "100": 3.0},
                                              "sky_fraction": {"0": 0.3, "100": 0.35}, "sky_blend_fraction": {"0": 0.0, "100": 0.2}}}},
        "fid": {"feature_net": "random-conv", "note": "", "sets": [{"domain": "synthetic", "method": "refiner", "window": "steps 1-100",
                                                                     "n": 100, "n_ref": 40, "fid": 12.5, "kid": 0.01, "kid_std": 0.002}]},
    }  # fmt: skip
    (tmp_path / "speed.json").write_text(json.dumps(speed))
    (tmp_path / "quality.json").write_text(json.dumps(quality))
    (tmp_path / "other_speed.json").write_text(json.dumps({"size": 128, "results": {"op": {"median_ms": 1.5}}}))
    md = make_report.render_report(tmp_path)
    assert md.index("## Speed") < md.index("## Quality") < md.index("other_speed")
    assert "| default | trained | 1,000 | 128 px | cpu (2 threads) | 25.00 | 40.00 | 1.00 | 5.00 | 30.00 | 4.00 |" in md
    assert "| refiner | 25.50 / 0.800 | 20.25 / 0.700 |" in md
    assert "| refiner | 100 | 0.90 | 3.00 | 0.35 | 0.20 |" in md
    assert "| synthetic | refiner | steps 1-100 | 100 | 40 | 12.50 | 0.0100 ± 0.0020 |" in md
    assert "| results.op.median_ms | 1.50 |" in md
    assert "Test CPU" in md and "`abc1234`" in md and "`python benchmarks/bench_speed.py`" in md
    supersample = {
        "benchmark": "supersample", "command": "python benchmarks/bench_supersample.py", "machine": machine, "commit": "abc1234",
        "weights": "default", "seeds": [1000, 1007], "steps": ["1", "5"],
        "runs": [{"supersample": s, "speed": {"ms_per_frame": 40.0 * s},
                  "fidelity": {m: {"psnr": {"1": 25.0 + s, "5": 20.0}, "ssim": {"1": 0.8, "5": 0.7}, "detail": {"1": 0.5 * s, "5": 0.25}}
                               for m in ("refiner", "inpaint")}} for s in (1, 2)],
    }  # fmt: skip
    (tmp_path / "supersample.json").write_text(json.dumps(supersample))
    md = make_report.render_report(tmp_path)
    assert "## State supersampling" in md
    assert "| 2 | refiner | 27.00 / 0.800 / 1.00 | 20.00 / 0.700 / 0.25 | 80 |" in md
    assert "| 1 | inpaint | 26.00 / 0.800 / 0.50 | 20.00 / 0.700 / 0.25 |  |" in md
    cells = {"psnr": {"1": 30.0, "5": 25.5}, "ssim": {"1": 0.9, "5": 0.8}, "detail": {"1": 1.0, "5": 0.75}}
    settings = {
        "benchmark": "settings", "command": "python benchmarks/bench_settings.py", "machine": machine, "commit": "abc1234",
        "weights": "default", "seeds": [1000, 1007], "steps": ["1", "5"],
        "runs": [{"setting": "shipped", "changes": {}, "fidelity": cells},
                 {"setting": "detail off", "changes": {"detail": 0.0}, "fidelity": cells}],
    }  # fmt: skip
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    md = make_report.render_report(tmp_path)
    assert "## Loop settings, one at a time" in md
    assert "| shipped | - | 30.00 / 0.900 / 1.00 | 25.50 / 0.800 / 0.75 |" in md and "| detail off | detail=0 |" in md
    assert make_report.main(["--results", str(tmp_path), "--out", str(tmp_path / "B.md")]) == 0
    assert (tmp_path / "B.md").read_text().startswith("# Benchmarks")


def test_make_report_renders_the_real_photo_estimators_with_their_baseline(tmp_path):
    import make_report

    def row(photo, iou, share, right, pb_right):
        return {"photo": photo, "has_sky": iou is not None, "sky_iou": iou, "pred_sky_share": share, "pairs": 10,
                "pairs_right": right, "prior_breaking_pairs": 4, "prior_breaking_right": pb_right}

    def split(rows, mean):
        return {"summary": {"sky_iou_mean": mean, "sky_iou_min": mean, "no_sky_share_max": 0.25, "pair_accuracy": 0.7,
                            "prior_breaking_accuracy": 0.5, "lower_is_nearer_accuracy": 0.68}, "photos": rows}

    data = {"depth": "new.safetensors", "sky": "default", "band_px": 3, "command": "python benchmarks/bench_estimators_real.py",
            "baseline": {"depth": "default", "sky": "default"},
            "splits": {"baseline_heldout": split([row("dune", 0.7, 0.4, 4, 0), row("flowers", None, 0.267, 9, 0)], 0.7),
                       "heldout": split([row("dune", 0.906, 0.3, 8, 4), row("flowers", None, 0.0, 9, 0)], 0.906)}}  # fmt: skip
    (tmp_path / "estimators_real.json").write_text(json.dumps(data))
    md = make_report.render_report(tmp_path)
    assert "## Depth and sky on real photos (`estimators_real.json`)" in md
    assert "| dune | 0.700 → 0.906 | - | 4/10 → 8/10 | 0/4 → 4/4 |" in md
    assert "| flowers | - | 26.7% → 0.0% | 9/10 → 9/10 | 0/4 → 0/4 |" in md
    assert "mean 0.700 → 0.906" in md and "baseline: depth `default`" in md


# --------------------------------------------------------------------------- infinitenature eval


@pytest.fixture(scope="module")
def eval_inputs(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("eval")
    photos = root / "photos"
    photos.mkdir()
    for i in range(2):
        a = (np.random.default_rng(i).random((40, 56, 3)) * 200).astype(np.uint8)
        a[:12, :, 2] = 230
        Image.fromarray(a).save(photos / f"p{i}.png")
    weights = save_model(load_refiner("random-tiny", resolution=RES), root / "g.safetensors")
    np.save(root / "depth.npy", np.linspace(0.0, 1.0, 16, dtype=np.float32)[:, None].repeat(16, 1))
    sky = np.zeros((16, 16), np.float32)
    sky[:5] = 1
    np.save(root / "sky.npy", sky)
    return root, weights


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_eval_cli_errors(tmp_path, capsys, eval_inputs):
    assert eval_main([str(tmp_path / "missing")]) == 2
    assert _err_line(capsys).startswith("infinitenature eval: error: photo folder")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos")
    assert eval_main([str(tmp_path / "empty")]) == 2
    assert "no images" in _err_line(capsys)
    root, _ = eval_inputs
    assert eval_main([str(root / "photos"), "--frames", "1"]) == 2
    assert "--frames must be >= 2" in _err_line(capsys)
    existing = tmp_path / "r.json"
    existing.write_text("{}")
    assert eval_main([str(root / "photos"), "--out", str(existing)]) == 2
    assert "already exists" in _err_line(capsys)
    assert eval_main([str(root / "photos"), "--weights", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "x.json")]) == 2
    assert "no weights file" in _err_line(capsys)


def test_eval_cli_tiny_run(tmp_path, capsys, eval_inputs):
    root, weights = eval_inputs
    out = tmp_path / "report.json"
    argv = [str(root / "photos"), "--weights", str(weights), "--depth", str(root / "depth.npy"), "--sky", str(root / "sky.npy"),
            "--frames", "3", "--out", str(out), "--device", "cpu", "--quiet"]  # fmt: skip
    assert eval_main(argv) == 0
    table = capsys.readouterr().out
    assert "p0.png" in table and "p1.png" in table and "FID" in table
    report = json.loads(out.read_text())
    assert [Path(r["photo"]).name for r in report["photos"]] == ["p0.png", "p1.png"]
    assert report["frames"] == 3 and report["failed"] == []
    rep = report["photos"][0]["report"]
    assert rep["steps"] == [0, 1, 2] and rep["relative_sharpness"][0] == 1.0 and rep["motion"]["mean_translation"] > 0
    assert 0.0 <= rep["mean_hole_fraction"] <= 1.0 and "painted" in table
    assert report["summary"]["mean_hole_fraction"] == np.mean([r["report"]["mean_hole_fraction"] for r in report["photos"]])
    (root / "photos" / "broken.jpg").write_bytes(b"not a jpeg")
    try:
        assert eval_main([*argv[:-3], "--overwrite", "--device", "cpu", "--quiet"]) == 0
    finally:
        (root / "photos" / "broken.jpg").unlink()
    table = capsys.readouterr().out
    broken = str(root / "photos" / "broken.jpg")
    assert table.splitlines()[-1] == f"skipped {broken}: not a readable image file"
    assert json.loads(out.read_text())["failed"] == [{"photo": broken, "error": f"{broken}: not a readable image file"}]
    assert report["fid"]["generated_frames"] == 4 and report["fid"]["reference_photos"] == 2
    assert np.isfinite(report["fid"]["fid"]) and report["command"].startswith("infinitenature eval")


def test_ablation_tables_show_every_scored_checkpoint(capsys):
    import ablation_mim

    def point(steps, stages, l1, fid=None):
        r = {"steps": steps, "stages": stages, "train_seconds": 10.0 * steps,
             "hole_filling": {"disocclusion": {"rgb_l1": l1, "disparity_l1": l1 / 2}, "blocks": {"rgb_l1": 2 * l1}},
             "fidelity": {"full refinement": {"psnr": {"1": 20.0, "5": 15.0}}, "keep_visible": {"psnr": {"1": 30.0, "5": 25.0}}}}  # fmt: skip
        if fid is not None:
            r["quality"] = {"fid": [{"domain": "photo", "window": "steps 1-100", "fid": fid, "kid": fid / 100}]}
        return r

    result = {
        "options": {"fidelity_steps": [1, 5]},
        "arms": {"mim+cyclic": {"half": point(2, "2 mim", 0.125), "full": point(4, "2 mim + 2 cyclic", 0.1, fid=12.5)},
                 "cyclic-only": {"half": point(2, "2 cyclic", 0.3), "full": point(4, "4 cyclic", 0.2, fid=20.0)}},
        "baselines": {"inpaint": {"psnr": {"1": 36.0, "5": 29.0}}},
    }  # fmt: skip
    rows = ablation_mim.table(result).splitlines()
    assert len(rows) == 2 + 4 + 1
    assert rows[3] == "| mim+cyclic | 4 (2 mim + 2 cyclic) | 40 | 0.1000 | 0.2000 | 0.0500 | 20.00 | 15.00 | 30.00 | 25.00 |"
    assert rows[-1] == "| inpaint (baseline) | - | - | - | - | - | 36.00 | 29.00 | - | - |"
    realism = ablation_mim.realism_table(result).splitlines()
    assert realism[0] == "| arm | steps | photo steps 1-100 FID / KID |"
    assert realism[2:] == ["| mim+cyclic | 4 (2 mim + 2 cyclic) | 12.50 / 0.1250 |", "| cyclic-only | 4 (4 cyclic) | 20.00 / 0.2000 |"]
    for arm in result["arms"].values():
        for r in arm.values():
            r.pop("quality", None)
    assert ablation_mim.realism_table(result) == ""
    second = {"options": {"seed": 1}, "arms": {"mim+cyclic": {"full": point(4, "2 mim + 2 cyclic", 0.3)},
                                               "cyclic-only": {"full": point(4, "4 cyclic", 0.2)}}}  # fmt: skip
    assert ablation_mim.seeds_table([result]) == ""
    seeds = ablation_mim.seeds_table([second, {**result, "options": {"seed": 0}}]).splitlines()
    assert seeds[0].startswith("| metric (end of training) | mim+cyclic: mean (seeds 0/1) |")
    assert seeds[2] == "| disocclusion RGB L1 (lower is better) | 0.2000 (0.1000 / 0.3000) | 0.2000 (0.2000 / 0.2000) | 1 of 2 |"
    assert seeds[5] == "| PSNR@1 full (higher is better) | 20.00 (20.00 / 20.00) | 20.00 (20.00 / 20.00) | 0 of 2 |"
    assert not any("FID" in row for row in seeds)  # the realism part was popped above
    with pytest.raises(SystemExit):
        ablation_mim.parse_args(["--data", "x", "--quality-frames", "5"])
    assert "--quality-frames must be 0 (skip) or at least 20" in capsys.readouterr().err


def test_pipeline_benchmark_records_what_it_ran(tmp_path, capsys):
    import bench_pipeline

    out = tmp_path / "pipe.json"
    bench_pipeline.main(["--frames", "3", "--long", "0", "--threads", "1", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["command"] == f"python benchmarks/bench_pipeline.py --frames 3 --long 0 --threads 1 --out {out}"
    assert r["image"] == "valendas.jpg" and r["frames"] == 3 and r["threads"] == 1
    assert 0 <= r["steps_with_holes"] <= 2 and r["frame_ms"] > 0 and "memory_rss_mb" not in r
    assert list(r["stage_ms"]) == ["pose", "warp", "refine", "sky", "emit"] and r["machine"]["torch"] == torch.__version__
    assert math.isclose(r["overhead_ms"], sum(v for k, v in r["stage_ms"].items() if k != "refine"))
    assert math.isclose(r["loop_overhead_fraction"], r["overhead_ms"] / sum(r["stage_ms"].values()))
    assert not {"hole_context", "disparity_median", "sky_completion"} & set(r)
    assert f"refiner ran on {r['steps_with_holes']} of 2 steps" in capsys.readouterr().out
