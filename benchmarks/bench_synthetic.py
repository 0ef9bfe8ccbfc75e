"""Speed of the procedural landscapes: bake time and rendered frames per second.

Usage: python benchmarks/bench_synthetic.py [--threads 2] [--frames 16] [--seeds 0 1 2 3 4]
Writes benchmarks/results/synthetic_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from infinitenature import geometry
from infinitenature.synthetic import Landscape


def _time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--frames", type=int, default=16, help="frames per flythrough")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synthetic_speed.json")
    args = p.parse_args()

    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for seed in args.seeds:
            t0 = time.perf_counter()
            scene = Landscape(seed)
            bake = time.perf_counter() - t0
            row = {"threads": threads, "seed": seed, "style": scene.style.name, "bake_s": round(bake, 3)}
            for size in args.sizes:
                K = geometry.intrinsics_from_fov(size, size)
                pose = scene.start_pose()
                single = _time(lambda: scene.render(pose, K, size, size), args.repeat)
                fly = _time(lambda: scene.flythrough(args.frames, size, size), args.repeat)
                row[f"fps_single_{size}"] = round(1.0 / single, 2)
                row[f"fps_flythrough_{size}"] = round(args.frames / fly, 2)
            results.append(row)
            print(json.dumps(row), flush=True)

    summary = {}
    for threads in args.threads:
        rows = [r for r in results if r["threads"] == threads]
        summary[f"threads_{threads}"] = {
            key: round(statistics.median(r[key] for r in rows), 2)
            for key in rows[0]
            if key.startswith(("fps", "bake"))
        }
    out = {
        "benchmark": "synthetic landscapes (median over seeds; flythrough = straight path, batched 8 frames)",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "note": "the flythrough renders 8 frames per batch; on a shared, overloaded CPU the 2-thread numbers "
        "are dominated by thread-pool stalls (compare with --threads 1)",
        "summary": summary,
        "rows": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
