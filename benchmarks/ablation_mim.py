"""Ablation: does the masked-image-modeling warm-up help, at the same number of steps?

Usage::

    python benchmarks/ablation_mim.py --data PHOTOS_DIR [--steps 1200] [--out-dir runs/ablation-mim] ...

Two arms train the same generator from the same seed on the same data for the
same total number of optimizer steps ``S``:

* ``mim+cyclic``: ``S/2`` steps of stage 1 (masked image modeling), then
  ``S/2`` steps of stage 2 (cyclic virtual trajectories) started from them;
* ``cyclic-only``: ``S`` steps of stage 2 from random weights.

Each arm's EMA generator is scored halfway (``S/2``) and at the end (``S``) on

1. **hole filling on held-out photos** (``infinitenature.train.hole_filling_l1``):
   L1 on the hidden pixels of real disocclusion masks and of random block masks,
   on fixed random crops of photos the arms never saw (default: examples/*.jpg);
2. **the quality benchmark's fidelity part** (``infinitenature.metrics.protocol``):
   PSNR / SSIM against ground truth along the true camera path of held-out
   procedural scenes (seeds 1000-1007), with the published full refinement
   (``keep_visible=False``) and with the shipped loop setting (``keep_visible=True``);
3. **the quality benchmark's realism part** (``bench_quality.run_quality`` with the
   refiner alone and the published loop): FID / KID of 500-frame autopilot flights
   from a held-out photo and a held-out procedural scene against photo centre crops and
   true procedural frames (``--quality-frames 0`` skips it).

More training seeds (``--seed 1 --out-dir runs/ablation-mim-seed1 --out
benchmarks/results/ablation_mim_seed1.json``; seed 2 likewise) are scored on the same held-out data
(``--eval-seed`` fixes the masks and latents of the scoring).

Wall-clock seconds of each arm are recorded too: a stage-1 step is cheaper than
a stage-2 step, so the warm-up arm uses less compute for the same steps. Results
go to ``benchmarks/results/ablation_mim.json`` and a Markdown table is printed.
Training is resumable: rerunning the same command skips finished stages.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infinitenature.geometry import intrinsics_from_fov  # noqa: E402
from infinitenature.metrics.protocol import build_pipeline, fidelity_scores, machine_info, method_pipelines, synthetic_truth  # noqa: E402
from infinitenature.config import FlyThroughConfig  # noqa: E402
from infinitenature.train import PhotoCache, Trainer, TrainConfig, heldout_crops, hole_filling_l1  # noqa: E402
from infinitenature.weights import load_model  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pipeline import commit  # noqa: E402
from bench_quality import QualityOptions, int_list, run_quality  # noqa: E402

ARMS = ("mim+cyclic", "cyclic-only")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="training photo folder (the same for both arms)")
    ap.add_argument("--cache-dir", default="", help="disparity/sky cache of the training photos")
    ap.add_argument("--out-dir", default="runs/ablation-mim", help="run folders of both arms")
    ap.add_argument("--steps", type=int, default=1200, help="total optimizer steps per arm (even)")
    ap.add_argument("--heldout", nargs="*", default=None, help="held-out photos (default: examples/*.jpg)")
    ap.add_argument("--heldout-crops", type=int, default=8, help="random crops per held-out photo (plus the centre crop)")
    ap.add_argument("--seeds", type=int_list, default=tuple(range(1000, 1008)), help="held-out procedural scenes")
    ap.add_argument("--fidelity-steps", type=int_list, default=(1, 5, 10, 20))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ablation_mim.json"))
    ap.add_argument("--quality-frames", type=int, default=500,
                    help="autopilot frames per flight of the quality benchmark's realism part (FID/KID); 0 = skip it")
    ap.add_argument("--eval-only", action="store_true", help="score the existing checkpoints, train nothing")
    # the arms' shared model/data options (defaults: a small 64 px model, so both arms fit in an hour of one core)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--g-f-base", type=int, default=1024)
    ap.add_argument("--g-f-max", type=int, default=64)
    ap.add_argument("--latent-dim", type=int, default=128)
    ap.add_argument("--mapping-layers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--synthetic-ratio", type=float, default=0.5)
    ap.add_argument("--synthetic-scenes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="training seed of both arms (weights, data order, masks)")
    ap.add_argument("--eval-seed", type=int, default=0,
                    help="seed of the scoring (hole masks, sequence latents): keep it fixed to compare training seeds")
    a = ap.parse_args(argv)
    if a.steps < 2 or a.steps % 2:
        ap.error("--steps must be an even number >= 2")
    if a.quality_frames != 0 and a.quality_frames < 20:
        ap.error("--quality-frames must be 0 (skip) or at least 20")
    return a


def base_config(a: argparse.Namespace) -> TrainConfig:
    """The options both arms share (stage, steps and run folder are set per arm)."""
    return TrainConfig(
        data=a.data, cache_dir=a.cache_dir, resolution=a.resolution, g_f_base=a.g_f_base, g_f_max=a.g_f_max,
        d_f_base=a.g_f_base, d_f_max=a.g_f_max, latent_dim=a.latent_dim, mapping_layers=a.mapping_layers,
        batch_size=a.batch_size, synthetic_ratio=a.synthetic_ratio, synthetic_scenes=a.synthetic_scenes,
        synthetic_cache_scenes=a.synthetic_scenes, ema_halflife_kimg=0.5, seed=a.seed, log_every=10,
        ckpt_every=a.steps // 2, sample_every=0, keep_checkpoints=0, progress=False,
    )


def _train(config: TrainConfig) -> None:
    """Run (or finish) one training run; a finished run is left as it is (its time is read from stats.jsonl)."""
    out = Path(config.out_dir)
    if (out / "checkpoints" / f"step-{config.steps:07d}").is_dir():
        return
    if any((out / "checkpoints").glob("step-*[0-9]")):
        config = dataclasses.replace(config, resume="latest", init_from="")
    Trainer(config).run()


def _wall_seconds(run_dir: Path, upto: int | None = None) -> float:
    """Training seconds of a run (up to step ``upto``) from its stats.jsonl: logged sec_per_step x interval."""
    total, last = 0.0, 0
    path = run_dir / "stats.jsonl"
    if not path.is_file():
        return float("nan")
    for line in path.read_text().splitlines():
        d = json.loads(line)
        if "sec_per_step" in d and (upto is None or d["step"] <= upto):
            total += d["sec_per_step"] * (d["step"] - last)
            last = d["step"]
    return total


def train_arms(a: argparse.Namespace) -> dict[str, dict[str, Path]]:
    """Train both arms; returns ``{arm: {"half": ckpt, "full": ckpt}}`` checkpoint folders."""
    out, half = Path(a.out_dir), a.steps // 2
    base = base_config(a)
    warm = dataclasses.replace(base, stage="mim", steps=half, out_dir=str(out / "mim-warmup"))
    warm_ckpt = out / "mim-warmup" / "checkpoints" / f"step-{half:07d}"
    cyc = dataclasses.replace(base, stage="cyclic", steps=half, out_dir=str(out / "mim-then-cyclic"), init_from=str(warm_ckpt))
    scratch = dataclasses.replace(base, stage="cyclic", steps=a.steps, out_dir=str(out / "cyclic-only"))
    if not a.eval_only:
        for cfg in (warm, cyc, scratch):
            print(f"training {cfg.out_dir} ({cfg.stage}, {cfg.steps} steps)", flush=True)
            _train(cfg)
    return {
        "mim+cyclic": {"half": warm_ckpt, "full": out / "mim-then-cyclic" / "checkpoints" / f"step-{half:07d}"},
        "cyclic-only": {"half": out / "cyclic-only" / "checkpoints" / f"step-{half:07d}",
                        "full": out / "cyclic-only" / "checkpoints" / f"step-{a.steps:07d}"},
    }


def heldout_frames(a: argparse.Namespace, resolution: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Fixed crops of the held-out photos: ``(N, 3, S, S)``, ``(N, 1, S, S)`` and the photo names."""
    photos = [Path(p) for p in a.heldout] if a.heldout else sorted((ROOT / "examples").glob("*.jpg"))
    from infinitenature.estimators import load_depth, load_sky

    cache = PhotoCache(Path(a.out_dir) / "heldout-cache", depth=load_depth("default"), sky=load_sky("default"),
                       estimator_name="default+default", work_size=384)
    return heldout_crops(photos, cache, resolution=resolution, crops=a.heldout_crops)


def _mean_fidelity(pipe, truths, a: argparse.Namespace) -> dict:
    """``{"psnr"|"ssim": {step: mean over scenes}}`` of one pipeline along the true paths."""
    per = [fidelity_scores(pipe, t, seed=a.eval_seed) for t in truths]
    return {k: {str(s): float(sum(q[s][k] for q in per) / len(per)) for s in a.fidelity_steps} for k in ("psnr", "ssim")}


def realism_scores(ckpt: Path, a: argparse.Namespace, name: str) -> dict:
    """The quality benchmark's stability and FID/KID part for one checkpoint (the refiner alone, its stored loop).

    The full result goes to ``<out-dir>/quality/<name>.json``; returned: the FID/KID sets and
    the stability summary.
    """
    frames = a.quality_frames
    opts = QualityOptions(
        weights=str(ckpt / "G_ema.safetensors"), methods=("refiner",), seeds=a.seeds, steps=a.fidelity_steps,
        long_frames=frames, report_steps=(frames // 5, frames), fid_window=min(100, frames // 2),
        seed=a.eval_seed, threads=a.threads, out=str(Path(a.out_dir) / "quality" / f"{name}.json"),
        fidelity=False,  # score_checkpoint measures fidelity itself (both loop modes)
    )
    q = run_quality(opts, progress=False, command=f"ablation_mim.realism_scores({name})")
    return {"file": opts.out, "fid": q["fid"]["sets"], "stability": q["stability"]["summary"]["refiner"]}


def score_checkpoint(ckpt: Path, a: argparse.Namespace, frames, truths, name: str = "") -> dict:
    G = load_model(ckpt / "G_ema.safetensors", kind="generator").eval()
    K = intrinsics_from_fov(G.config.resolution, G.config.resolution, 55.0)
    holes = hole_filling_l1(G, frames[0], frames[1], K, seed=a.eval_seed)
    result: dict = {"checkpoint": str(ckpt), "hole_filling": {k: dataclasses.asdict(v) for k, v in holes.items()}, "fidelity": {}}
    for label, keep in (("full refinement", False), ("keep_visible", True)):
        pipe = build_pipeline(G, depth=None, sky=None, config=FlyThroughConfig(keep_visible=keep))
        result["fidelity"][label] = _mean_fidelity(pipe, truths, a)
    if a.quality_frames:
        result["quality"] = realism_scores(ckpt, a, name or ckpt.parent.parent.name)
    return result


def baseline_scores(resolution: int, a: argparse.Namespace, truths) -> dict:
    pipe = build_pipeline("random-tiny", depth=None, sky=None, resolution=resolution)
    out = {}
    for m, p in method_pipelines(pipe, ("warp", "inpaint")).items():
        if m not in ("warp", "inpaint"):
            continue
        out[m] = _mean_fidelity(p, truths, a)
    return out


def table(result: dict) -> str:
    steps = result["options"]["fidelity_steps"]
    lines = [
        "| arm | steps | train s | disocclusion RGB L1 | blocks RGB L1 | disocclusion disp L1 | "
        + " | ".join(f"PSNR@{s} full" for s in steps) + " | " + " | ".join(f"PSNR@{s} keep" for s in steps) + " |",
        "|---" * (6 + 2 * len(steps)) + "|",
    ]
    for arm, points in result["arms"].items():
        for when, r in points.items():
            h = r["hole_filling"]
            full = r["fidelity"]["full refinement"]["psnr"]
            keep = r["fidelity"]["keep_visible"]["psnr"]
            lines.append(
                f"| {arm} | {r['steps']} ({r['stages']}) | {r['train_seconds']:.0f} | {h['disocclusion']['rgb_l1']:.4f} | "
                f"{h['blocks']['rgb_l1']:.4f} | {h['disocclusion']['disparity_l1']:.4f} | "
                + " | ".join(f"{full[str(s)]:.2f}" for s in steps) + " | "
                + " | ".join(f"{keep[str(s)]:.2f}" for s in steps) + " |"
            )
    for m, r in result["baselines"].items():
        lines.append(f"| {m} (baseline) | - | - | - | - | - | " + " | ".join(f"{r['psnr'][str(s)]:.2f}" for s in steps) + " | "
                     + " | ".join("-" for _ in steps) + " |")
    return "\n".join(lines)


def realism_table(result: dict) -> str:
    """FID / KID of each scored checkpoint (lower is better); empty when the realism part was skipped."""
    scored = [(arm, r) for arm, points in result["arms"].items() for r in points.values() if "quality" in r]
    if not scored:
        return ""
    sets = [(q["domain"], q["window"]) for q in scored[0][1]["quality"]["fid"]]
    lines = [
        "| arm | steps | " + " | ".join(f"{d} {w} FID / KID" for d, w in sets) + " |",
        "|---" * (2 + len(sets)) + "|",
    ]
    for arm, r in scored:
        got = {(q["domain"], q["window"]): q for q in r["quality"]["fid"]}
        cells = [f"{got[k]['fid']:.2f} / {got[k]['kid']:.4f}" if k in got else "-" for k in sets]
        lines.append(f"| {arm} | {r['steps']} ({r['stages']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _full_metrics(result: dict, arm: str) -> dict[str, tuple[float, bool]]:
    """``{metric: (value, lower_is_better)}`` of one arm's end-of-training checkpoint."""
    r = result["arms"][arm]["full"]
    h = r["hole_filling"]
    out = {
        "disocclusion RGB L1": (h["disocclusion"]["rgb_l1"], True),
        "blocks RGB L1": (h["blocks"]["rgb_l1"], True),
        "disocclusion disp L1": (h["disocclusion"]["disparity_l1"], True),
    }
    for label, key in (("full", "full refinement"), ("keep", "keep_visible")):
        for step, v in r["fidelity"][key]["psnr"].items():
            out[f"PSNR@{step} {label}"] = (v, False)
    for q in r.get("quality", {}).get("fid", []):
        out[f"FID {q['domain']} {q['window']}"] = (q["fid"], True)
    return out


def seeds_table(results: list[dict]) -> str:
    """Both arms' end-of-training scores across training seeds: the mean, each seed's value, and
    in how many seeds the warm-up arm is better. Only metrics every result has are listed;
    empty for fewer than two results."""
    if len(results) < 2:
        return ""
    results = sorted(results, key=lambda r: r["options"].get("seed", 0))
    a = [_full_metrics(r, "mim+cyclic") for r in results]
    b = [_full_metrics(r, "cyclic-only") for r in results]
    names = [k for k in a[0] if all(k in m for m in a + b)]
    seeds = "/".join(str(r["options"].get("seed", 0)) for r in results)
    lines = [
        f"| metric (end of training) | mim+cyclic: mean (seeds {seeds}) | cyclic-only: mean (seeds {seeds}) | warm-up better in |",
        "|---|---|---|---|",
    ]
    for k in names:
        va, vb = [m[k][0] for m in a], [m[k][0] for m in b]
        lower = a[0][k][1]
        wins = sum((x < y) if lower else (x > y) for x, y in zip(va, vb))
        fmt = "{:.4f}" if "L1" in k else "{:.2f}"
        cell = lambda v: fmt.format(sum(v) / len(v)) + " (" + " / ".join(fmt.format(x) for x in v) + ")"  # noqa: E731
        arrow = "lower" if lower else "higher"
        lines.append(f"| {k} ({arrow} is better) | {cell(va)} | {cell(vb)} | {wins} of {len(results)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    ckpts = train_arms(a)
    out, half = Path(a.out_dir), a.steps // 2
    seconds = {
        "mim+cyclic": {"half": _wall_seconds(out / "mim-warmup"),
                       "full": _wall_seconds(out / "mim-warmup") + _wall_seconds(out / "mim-then-cyclic")},
        "cyclic-only": {"half": _wall_seconds(out / "cyclic-only", upto=half), "full": _wall_seconds(out / "cyclic-only")},
    }
    stages = {"mim+cyclic": {"half": f"{half} mim", "full": f"{half} mim + {half} cyclic"},
              "cyclic-only": {"half": f"{half} cyclic", "full": f"{a.steps} cyclic"}}

    frames = heldout_frames(a, a.resolution)
    truths = [synthetic_truth(s, steps=a.fidelity_steps, size=a.resolution, speed=0.15) for s in a.seeds]
    result: dict = {
        "benchmark": "ablation_mim",
        "command": " ".join(["python benchmarks/ablation_mim.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "options": {**vars(a), "seeds": list(a.seeds), "fidelity_steps": list(a.fidelity_steps)},
        "heldout_photos": frames[2],
        "heldout_frames": int(frames[0].shape[0]),
        "arms": {},
    }
    for arm in ARMS:
        result["arms"][arm] = {}
        for when in ("half", "full"):
            r = score_checkpoint(ckpts[arm][when], a, frames, truths, name=f"{arm}-{when}")
            r.update(steps=half if when == "half" else a.steps, stages=stages[arm][when], train_seconds=seconds[arm][when])
            result["arms"][arm][when] = r
            print(f"scored {arm} {when} ({time.perf_counter() - t_start:.0f} s)", flush=True)
    result["baselines"] = baseline_scores(a.resolution, a, truths)
    result["runtime_s"] = time.perf_counter() - t_start
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(table(result))
    print(realism_table(result))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
