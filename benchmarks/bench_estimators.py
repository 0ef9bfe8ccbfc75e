"""Speed of the shipped depth and sky estimators on CPU.

    python benchmarks/bench_estimators.py [--threads 1 2] [--repeats 20]

Writes benchmarks/results/estimators_speed.json: median milliseconds per call
(batch 1) for a few input sizes and each thread count, parameter counts and
weight-file sizes, and the machine's load average (the machine is shared: a
busy one slows 2-thread runs much more than 1-thread runs). Uses
the shipped weights when present, else the default configs at random
initialisation (same cost).
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

from infinitenature.estimators import DepthNet, DepthNetConfig, SkyNet, SkyNetConfig, load_depth, load_sky
from infinitenature.weights import shipped_weights_dir

SIZES = [(128, 128), (256, 256), (384, 512), (768, 1024)]


def _median_ms(fn, x: torch.Tensor, repeats: int) -> float:
    for _ in range(3):
        fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "estimators_speed.json")
    args = p.parse_args(argv)

    weights = shipped_weights_dir()
    shipped = (weights / "depth-default.safetensors").is_file() and (weights / "sky-default.safetensors").is_file()
    if shipped:
        nets = {"depth": load_depth("default"), "sky": load_sky("default")}
    else:
        nets = {"depth": DepthNet(DepthNetConfig()).eval(), "sky": SkyNet(SkyNetConfig()).eval()}
    g = torch.Generator().manual_seed(0)
    result = {
        "device": "cpu",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "weights": "shipped" if shipped else "random init (default config)",
        "models": {},
    }
    for name, net in nets.items():
        entry = {
            "params": sum(t.numel() for t in net.parameters()),
            "working_size": net.config.working_size,
            "ms_per_image": {},  # threads -> "HxW" -> ms
        }
        file = weights / f"{name}-default.safetensors"
        if file.is_file():
            entry["file_mb"] = round(file.stat().st_size / 2**20, 3)
        for threads in args.threads:
            torch.set_num_threads(threads)
            times = entry["ms_per_image"][str(threads)] = {}
            for h, w in SIZES:
                times[f"{h}x{w}"] = _median_ms(net, torch.rand(1, 3, h, w, generator=g), args.repeats)
        result["models"][name] = entry
        print(name, json.dumps(entry))
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
