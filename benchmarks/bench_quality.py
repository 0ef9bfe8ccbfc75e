"""Quality benchmark: the refiner against ground truth, two baselines, and itself over long runs.

Usage::

    python benchmarks/bench_quality.py [--weights default] [--seeds 1000-1007] [--long-frames 500] ...

Three parts, all written to ``benchmarks/results/quality.json``:

1. **Fidelity** on held-out procedural scenes (seeds 1000-1007; the generator's
   training draws synthetic scenes from seeds ``0 .. synthetic_scenes - 1`` = 0-999
   by default, the estimators' from 0-959). Each method starts from the TRUE
   first frame (RGB, depth normalized by a pure scale, sky; canvas = the first
   frame rendered 1.5x wider), flies the TRUE camera path (translations in the
   disparity's units: divided by its scale) and is scored with PSNR/SSIM against the true frames at
   steps 1, 5, 10, 20. Methods: the refiner, ``warp`` (holes left black),
   ``inpaint`` (push-pull hole filling) -- see ``infinitenature.metrics.baselines``.
2. **Stability** of autopilot runs on held-out scenes and on photos (examples/
   and --photo-dir): ``stability_report`` (relative sharpness, colour drift, sky
   fraction, motion) at steps 0, 100 and 500. The refiner runs ``--long-frames``
   steps; the baselines ``--baseline-frames``.
3. **FID/KID** of generated frames (steps 1-100, and the last 100 steps of the
   long refiner runs) against the true procedural frames and against the photos
   (centre crops). The feature network is ``RandomConvFeatures``: numbers are
   comparable only with each other, never with published FID/KID.

The default run is sized for 2 CPU cores (an estimated 12 minutes idle with a small
generator); ``--seeds``, ``--stability-scenes``, ``--max-photos`` and the frame
counts scale it up.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infinitenature.config import NEEDS_ANCHOR  # noqa: E402
from infinitenature.io import load_image  # noqa: E402
from infinitenature.metrics import RandomConvFeatures, compute_kid, feature_stats, frechet_distance  # noqa: E402
from infinitenature.metrics.protocol import (  # noqa: E402
    TruthSequence,
    build_pipeline,
    fidelity_scores,
    flight_stability,
    fly,
    machine_info,
    method_pipelines,
    stability_steps,
    synthetic_truth,
)
from infinitenature.pipeline import FlyThrough  # noqa: E402
from infinitenature.scene import center_square  # noqa: E402
from infinitenature.step import downsample  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pipeline import commit  # noqa: E402

DEFAULT_PHOTO_DIR = Path("/work/shared/data/photos")
METHODS = ("refiner", "refiner-all", "warp", "inpaint")


@dataclass
class QualityOptions:
    """Options of the quality benchmark (defaults = the documented default run)."""

    weights: str = "default"  # generator: 'default', a .safetensors/.tar path, or random-small/random-official
    resolution: int | None = None  # frame size for random presets (weight files fix their own)
    supersample: int | None = None  # FlyThroughConfig.supersample; None = the setting stored with the weights
    anchor_scale: int | None = None  # FlyThroughConfig.anchor_scale; None = the setting stored with the weights
    detail: float | None = None  # FlyThroughConfig.detail; None = the setting stored with the weights
    streak_blur: float | None = None  # FlyThroughConfig.streak_blur; None = the setting stored with the weights
    aerial_perspective: float | None = None  # FlyThroughConfig.aerial_perspective; None = the setting stored with the weights
    depth: str = "default"  # depth estimator for the photos (estimators.load_depth spec)
    sky: str = "default"  # sky estimator for the photos (estimators.load_sky spec)
    seeds: tuple[int, ...] = tuple(range(1000, 1008))  # held-out procedural scenes (training uses < 1000)
    steps: tuple[int, ...] = (1, 5, 10, 20)  # fidelity steps along the true path
    speed: float = 0.15  # true path speed, scene units per step
    terrain_resolution: int = 1024  # baked height-field texels of each landscape
    stability_scenes: int = 1  # first N fidelity scenes also get autopilot stability runs
    photos: tuple[str, ...] = ()  # photo files; empty = examples/*.jpg + photo_dir/*.jpg (deduplicated)
    photo_dir: str = str(DEFAULT_PHOTO_DIR)
    max_photos: int = 1  # photos that get stability runs (0 = all, -1 = none); all photos form the FID reference
    long_frames: int = 500  # autopilot steps of the refiner's stability runs
    baseline_frames: int = 100  # autopilot steps of the baselines' stability runs
    report_steps: tuple[int, ...] = (100, 500)  # stability is reported at 0 and these steps
    fid_window: int = 100  # frames per FID/KID set (steps 1..N and the last N of long runs)
    kid_subsets: int = 100
    feature_channels: tuple[int, ...] = (16, 32, 64, 128)  # RandomConvFeatures stages (feature dim = 2 * sum)
    seed: int = 0  # sequence seed of every run
    threads: int = 2
    out: str = str(ROOT / "benchmarks" / "results" / "quality.json")
    methods: tuple[str, ...] = METHODS
    fidelity: bool = True  # False: skip part 1's scoring (the true flights are still rendered for parts 2 and 3)


def _photo_list(opts: QualityOptions) -> list[Path]:
    if opts.photos:
        return [Path(p) for p in opts.photos]
    candidates = sorted((ROOT / "examples").glob("*.jpg"))
    if Path(opts.photo_dir).is_dir():
        candidates += sorted(Path(opts.photo_dir).glob("*.jpg"))
    seen, out = set(), []
    for p in candidates:
        digest = hashlib.sha1(p.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(p)
    return out


def _centre_crop(path: Path, size: int) -> np.ndarray:
    """The photo's centred square, resized to ``size`` (antialiased): ``(size, size, 3)`` uint8."""
    img = load_image(path)
    top, left, side = center_square(img.shape[1], img.shape[2])
    crop = img[None, :, top : top + side, left : left + side]
    crop = torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (crop[0].clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _fid_kid(frames: np.ndarray, ref_stats, net, *, subsets: int, seed: int) -> dict:
    stats = feature_stats(frames, net, keep_features=True)
    n = min(stats.count, ref_stats.count)
    kid, kid_std = compute_kid(stats, ref_stats, subsets=subsets, subset_size=n, generator=torch.Generator().manual_seed(seed))
    return {
        "n": stats.count,
        "n_ref": ref_stats.count,
        "fid": frechet_distance(stats.mu, stats.sigma, ref_stats.mu, ref_stats.sigma),
        "kid": kid,
        "kid_std": kid_std,
    }


def render_truths(pipe: FlyThrough, opts: QualityOptions) -> list[TruthSequence]:
    """The true flights of the held-out scenes ``opts.seeds`` at ``pipe``'s frame size and loop settings.

    ``supersample`` and ``anchor_scale`` of ``pipe.config`` shape the true first frame, so the
    truths are only valid for pipelines that share them.
    """
    return [
        synthetic_truth(
            seed,
            steps=opts.steps,
            size=pipe.resolution,
            speed=opts.speed,
            terrain_resolution=opts.terrain_resolution,
            supersample=pipe.config.supersample,
            anchor_scale=pipe.config.anchor_scale,
        )
        for seed in opts.seeds
    ]


def fidelity_part(
    pipes: dict[str, FlyThrough], opts: QualityOptions, *, truths: list[TruthSequence] | None = None, log=print
) -> tuple[dict, list[TruthSequence]]:
    """Part 1: PSNR / SSIM / detail of every pipeline along the true paths of ``opts.seeds``.

    The pipelines share one frame size and the loop settings that shape the truth
    (``supersample``, ``anchor_scale``); ``truths`` (from an earlier call with the same
    options and settings) skips rendering them again.

    Returns:
        ``(fidelity, truths)``: ``{"seeds", "steps", "scale", "methods": {name: {"psnr" |
        "ssim" | "detail": {step: mean}, "per_scene": ...}}}`` and the true flights.
    """
    t0 = time.perf_counter()
    per_scene: dict[str, dict] = {m: {} for m in pipes}
    if truths is None:
        truths = render_truths(next(iter(pipes.values())), opts)
    for truth in truths:
        for m, p in pipes.items():
            per_scene[m][str(truth.seed)] = {str(k): v for k, v in fidelity_scores(p, truth, seed=opts.seed).items()}
        log(f"fidelity: scene {truth.seed} done ({time.perf_counter() - t0:.0f} s)")
    fidelity = {"seeds": list(opts.seeds), "steps": list(opts.steps), "scale": [t.scale for t in truths], "methods": {}}
    for m in pipes:
        summary = {}
        for metric in ("psnr", "ssim", "detail"):
            summary[metric] = {str(s): _mean([per_scene[m][str(seed)][str(s)][metric] for seed in opts.seeds]) for s in opts.steps}
        summary["per_scene"] = per_scene[m]
        fidelity["methods"][m] = summary
    return fidelity, truths


def run_quality(opts: QualityOptions, *, progress: bool = True, command: str = "bench_quality.run_quality()") -> dict:
    """Run the benchmark, write ``opts.out`` (JSON) and return the result dict.

    ``command`` is recorded in the JSON as what produced it.
    """
    torch.set_num_threads(opts.threads)
    t_start = time.perf_counter()
    log = print if progress else (lambda *a, **k: None)
    # config=None: the loop settings stored with the weights
    pipe = build_pipeline(opts.weights, depth=None, sky=None, resolution=opts.resolution, config=None)
    # all overrides at once: the config checks them together (detail and streak_blur need the anchor)
    names = ("supersample", "anchor_scale", "detail", "streak_blur", "aerial_perspective")
    overrides = {k: getattr(opts, k) for k in names if getattr(opts, k) is not None}
    if overrides.get("anchor_scale") == 0:  # and the settings that need the anchor, unless given
        overrides = {**{name: off for name, (off, _) in NEEDS_ANCHOR.items()}, **overrides}
    pipe.config = pipe.config.replace(**overrides)
    size = pipe.resolution
    pipes = method_pipelines(pipe, opts.methods)
    result: dict = {
        "benchmark": "quality",
        "command": command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "weights": opts.weights,
        "weights_note": (
            "randomly initialised generator: plumbing only, its images mean nothing"
            if opts.weights.startswith("random-")
            else "trained weights"
        ),
        "resolution": size,
        "loop": pipe.config.to_dict(),
        "refiner_parameters": sum(p.numel() for p in pipe.refiner.parameters()),
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(opts).items()},
        "skipped": [],
        "runtime_s": {},
    }

    # 1. Fidelity along true paths --------------------------------------------------
    t0 = time.perf_counter()
    if opts.fidelity:
        result["fidelity"], truths = fidelity_part(pipes, opts, log=log)
    else:  # the truths still seed the stability runs and form the synthetic FID reference
        truths = render_truths(pipe, opts)
        result["skipped"].append("fidelity (--no-fidelity): true flights rendered for stability and FID only")
    result["runtime_s"]["fidelity"] = time.perf_counter() - t0

    # 2. Stability of autopilot runs -----------------------------------------------
    t0 = time.perf_counter()
    inputs: list[tuple[str, dict]] = [(f"synthetic:{t.seed}", {"scene": t.scene}) for t in truths[: opts.stability_scenes]]
    photos = _photo_list(opts)
    photo_pipes = None
    if photos and opts.max_photos >= 0:
        try:
            photo_pipe = build_pipeline(pipe.refiner, depth=opts.depth, sky=opts.sky, config=pipe.config)
            photo_pipes = method_pipelines(photo_pipe, opts.methods)
        except (FileNotFoundError, ValueError, ImportError) as e:
            result["skipped"].append(f"photo runs: no depth/sky estimator ({' '.join(str(e).split())})")
    if photo_pipes is not None:
        chosen = photos if opts.max_photos == 0 else photos[: opts.max_photos]
        inputs += [(f"photo:{p.name}", {"image": str(p)}) for p in chosen]
    runs, windows = [], []  # windows: (domain, method, window name, frames)
    for name, source in inputs:
        domain = name.split(":")[0]
        for m in pipes:
            p = (photo_pipes if domain == "photo" else pipes)[m]
            n = (opts.long_frames if m == "refiner" else opts.baseline_frames) + 1
            rec = fly(p, num_frames=n, seed=opts.seed, **source)
            rep = flight_stability(rec, stability_steps(n, opts.report_steps))
            runs.append({"input": name, "method": m, "frames": n, "ms_per_frame": rec.ms_per_frame, "report": rep})
            w = min(opts.fid_window, n - 1)
            windows.append((domain, m, f"steps 1-{w}", rec.frames[1 : w + 1]))
            if n - 1 > 2 * w - 1:
                windows.append((domain, m, f"steps {n - w}-{n - 1}", rec.frames[n - w :]))
            log(f"stability: {name} {m} {n} frames ({time.perf_counter() - t0:.0f} s)")
    summary: dict = {}
    for m in pipes:
        mine = [r["report"] for r in runs if r["method"] == m]
        summary[m] = {}
        for key in ("relative_sharpness", "colour_drift_lab", "sky_fraction", "sky_blend_fraction"):
            by_step: dict[str, list[float]] = {}
            for rep in mine:
                for s, v in zip(rep["steps"], rep[key]):
                    by_step.setdefault(str(s), []).append(v)
            summary[m][key] = {s: _mean(v) for s, v in by_step.items()}
        summary[m]["mean_translation"] = _mean([rep["motion"]["mean_translation"] for rep in mine if "motion" in rep])
        summary[m]["mean_hole_fraction"] = _mean([rep["mean_hole_fraction"] for rep in mine if "mean_hole_fraction" in rep])
    result["stability"] = {"summary": summary, "runs": runs}
    result["runtime_s"]["stability"] = time.perf_counter() - t0

    # 3. FID / KID ---------------------------------------------------------------------
    t0 = time.perf_counter()
    net = RandomConvFeatures(channels=opts.feature_channels)
    refs = {}
    views = [downsample(t.scene.rgb, t.scene.rgb.shape[-1] // size)[0] for t in truths]  # first frames at the output size
    syn_ref = [(v.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy() for v in views]
    syn_ref += [(f.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy() for t in truths for f in t.frames.values()]
    if len(syn_ref) >= 2:
        refs["synthetic"] = feature_stats(np.stack(syn_ref), net, keep_features=True)
    if len(photos) >= 2 and any(w[0] == "photo" for w in windows):
        refs["photo"] = feature_stats(np.stack([_centre_crop(p, size) for p in photos]), net, keep_features=True)
    sets = []
    grouped: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for domain, m, window, frames in windows:
        grouped.setdefault((domain, m, window), []).append(frames)
    for (domain, m, window), chunks in grouped.items():
        frames = np.concatenate(chunks)
        if domain in refs and frames.shape[0] >= 2:
            sets.append({"domain": domain, "method": m, "window": window, **_fid_kid(frames, refs[domain], net, subsets=opts.kid_subsets, seed=opts.seed)})
    result["fid"] = {
        "feature_net": net.name,
        "note": "RandomConvFeatures (offline, fixed seed): comparable only within this table, never with published FID/KID. "
        "Reference sets are small (true procedural frames / photo centre crops), so FID is biased upward; KID is unbiased.",
        "sets": sets,
    }
    result["runtime_s"]["fid"] = time.perf_counter() - t0
    result["runtime_s"]["total"] = time.perf_counter() - t_start

    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, allow_nan=True))
    log(f"wrote {out} ({result['runtime_s']['total']:.0f} s)")
    return result


def int_list(text: str) -> tuple[int, ...]:
    """'1000-1007' or '1,5,10' -> ints."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part.strip()[1:]:
            a, b = part.split("-", 1)
            out += list(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return tuple(out)


def parse_args(argv: list[str] | None = None) -> QualityOptions:
    d = QualityOptions()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=d.weights, help="'default', a weights file, or random-small / random-official")
    ap.add_argument("--resolution", type=int, default=None, help="frame size for random presets")
    ap.add_argument("--supersample", type=int, default=None, help="state supersampling (default: the weights' setting)")
    ap.add_argument("--anchor-scale", type=int, default=None, help="photo anchor scale, 0 = off (default: the weights' setting)")
    ap.add_argument("--detail", type=float, default=None,
                    help="surface detail strength, 0 = off (default: the weights' setting)")
    ap.add_argument("--streak-blur", type=float, default=None,
                    help="blur across the anchor's magnification streaks, 0 = off (default: the weights' setting)")
    ap.add_argument("--aerial-perspective", type=float, default=None,
                    help="re-haze the anchor's colours for each surface's new distance, 0 = off (default: the weights' setting)")
    ap.add_argument("--depth", default=d.depth, help="depth estimator for the photos")
    ap.add_argument("--sky", default=d.sky, help="sky estimator for the photos")
    ap.add_argument("--seeds", type=int_list, default=d.seeds, help="held-out scene seeds, e.g. 1000-1007")
    ap.add_argument("--steps", type=int_list, default=d.steps, help="fidelity steps, e.g. 1,5,10,20")
    ap.add_argument("--speed", type=float, default=d.speed)
    ap.add_argument("--terrain-resolution", type=int, default=d.terrain_resolution)
    ap.add_argument("--stability-scenes", type=int, default=d.stability_scenes)
    ap.add_argument("--photo", action="append", default=[], help="a photo for the stability runs (repeatable)")
    ap.add_argument("--photo-dir", default=d.photo_dir)
    ap.add_argument("--max-photos", type=int, default=d.max_photos, help="photos with stability runs (0 = all, -1 = none)")
    ap.add_argument("--long-frames", type=int, default=d.long_frames)
    ap.add_argument("--baseline-frames", type=int, default=d.baseline_frames)
    ap.add_argument("--report-steps", type=int_list, default=d.report_steps)
    ap.add_argument("--fid-window", type=int, default=d.fid_window)
    ap.add_argument("--kid-subsets", type=int, default=d.kid_subsets)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--out", default=d.out)
    ap.add_argument("--no-fidelity", dest="fidelity", action="store_false",
                    help="skip the fidelity scores (part 1); stability and FID/KID still run")
    a = ap.parse_args(argv)
    return QualityOptions(
        weights=a.weights, resolution=a.resolution, supersample=a.supersample, anchor_scale=a.anchor_scale,
        detail=a.detail, streak_blur=a.streak_blur, aerial_perspective=a.aerial_perspective, depth=a.depth, sky=a.sky, seeds=a.seeds, steps=a.steps, speed=a.speed,
        terrain_resolution=a.terrain_resolution, stability_scenes=a.stability_scenes, photos=tuple(a.photo),
        photo_dir=a.photo_dir, max_photos=a.max_photos, long_frames=a.long_frames, baseline_frames=a.baseline_frames,
        report_steps=a.report_steps, fid_window=a.fid_window, kid_subsets=a.kid_subsets, seed=a.seed, threads=a.threads, out=a.out,
        fidelity=a.fidelity,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_quality(parse_args(argv), command=" ".join(["python benchmarks/bench_quality.py", *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
