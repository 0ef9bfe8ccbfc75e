"""Per-frame time of the render-refine-repeat loop, split by step, and memory over a long run.

Usage::

    python benchmarks/bench_pipeline.py [--weights default] [--frames 100] [--long 1000] [--threads 2] [--supersample N] [--detail X] [--detail-texture noise|photo] [--streak-blur X] [--aerial-perspective X] [--sky-layers 0|1]

Writes ``benchmarks/results/pipeline_speed.json`` and prints a table. ``stage_ms``
holds the milliseconds per frame of each step of the loop (``StepTimings``: pose,
warp, refine, sky, emit). The loop's own overhead (``overhead_ms``) is everything
but the refine step (pose + warp + sky + emit); ``loop_overhead_fraction`` is its
share of the steps' time. Memory is the process's resident set size (VmRSS) sampled while
streaming ``--long`` frames with ``iter_frames``; flat memory means the last
sample is close to the one taken after the first 100 frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infinitenature import FlyThrough  # noqa: E402
from infinitenature.metrics.protocol import machine_info  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def commit() -> str:
    try:
        return subprocess.check_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--image", default=str(ROOT / "examples" / "valendas.jpg"))
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--long", type=int, default=1000, help="frames streamed for the memory check (0 = skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--supersample", type=int, default=None, help="state supersampling (default: the weights' setting)")
    ap.add_argument("--detail", type=float, default=None, help="surface detail strength, 0 = off (default: the weights' setting)")
    ap.add_argument("--detail-texture", choices=("noise", "photo"), default=None,
                    help="FlyThroughConfig.detail_texture (default: the weights' setting)")
    ap.add_argument("--streak-blur", type=float, default=None, help="FlyThroughConfig.streak_blur, 0 = off (default: the weights' setting)")
    ap.add_argument("--aerial-perspective", type=float, default=None,
                    help="FlyThroughConfig.aerial_perspective, 0 = off (default: the weights' setting)")
    ap.add_argument("--sky-layers", type=int, choices=(0, 1), default=None, help="FlyThroughConfig.sky_layers (default: the weights' setting)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    flags = {"supersample": args.supersample, "detail": args.detail, "detail_texture": args.detail_texture, "streak_blur": args.streak_blur,
             "aerial_perspective": args.aerial_perspective, "sky_layers": None if args.sky_layers is None else bool(args.sky_layers)}
    pipe = FlyThrough.from_pretrained(args.weights, **{k: v for k, v in flags.items() if v is not None})
    scene = pipe.prepare(args.image)
    pipe.mean_latent()
    # warm-up
    for _ in pipe.iter_frames(None, 5, scene=scene):
        pass
    t0 = time.perf_counter()
    painted = 0  # steps on which the render left holes, so the refiner ran
    flight = pipe.iter_frames(None, args.frames, scene=scene)
    for f in flight:
        painted += f.hole_fraction > 0
    wall = time.perf_counter() - t0
    ms = flight.timings.per_frame_ms()
    frame_ms = 1000.0 * wall / max(args.frames - 1, 1)
    overhead_ms = sum(v for k, v in ms.items() if k != "refine")
    overhead = overhead_ms / max(sum(ms.values()), 1e-9)
    result = {
        "benchmark": "pipeline_speed",
        "command": " ".join(["python benchmarks/bench_pipeline.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "image": Path(args.image).name,
        "weights": args.weights,
        "resolution": pipe.resolution,
        "supersample": pipe.config.supersample,
        "detail": pipe.config.detail,
        "detail_texture": pipe.config.detail_texture,
        "streak_blur": pipe.config.streak_blur,
        "aerial_perspective": pipe.config.aerial_perspective,
        "sky_layers": pipe.config.sky_layers,
        "threads": args.threads,
        "frames": args.frames,
        "frame_ms": frame_ms,
        "fps": 1000.0 / frame_ms,
        "stage_ms": ms,
        "steps_with_holes": painted,
        "overhead_ms": overhead_ms,
        "loop_overhead_fraction": overhead,
        "refiner_parameters": sum(p.numel() for p in pipe.refiner.parameters()),
    }
    if args.long:
        samples = []
        for f in pipe.iter_frames(None, args.long, scene=scene):
            if f.index % 100 == 0 or f.index == args.long - 1:
                samples.append((f.index, rss_mb()))
        result["memory_rss_mb"] = samples
        result["memory_growth_mb_after_frame_100"] = samples[-1][1] - samples[1][1] if len(samples) > 2 else None
    result["machine"] = machine_info()
    result["commit"] = commit()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'stage':<12}{'ms/frame':>10}")
    for k, v in ms.items():
        print(f"{k:<12}{v:>10.2f}")
    print(f"{'total':<12}{frame_ms:>10.2f}  ({1000 / frame_ms:.1f} frames/s), loop overhead (all but refine) {overhead_ms:.2f} ms = {overhead:.1%}")
    print(f"refiner ran on {painted} of {args.frames - 1} steps (the others had no holes)")
    if args.long:
        print("RSS (MB) by frame:", ", ".join(f"{i}:{m:.0f}" for i, m in result["memory_rss_mb"]))


if __name__ == "__main__":
    main()
