"""Per-call speed of the render stage, the sky blend and one autopilot step.

Usage::

    python benchmarks/bench_render.py [--size 128] [--threads 2] [--repeats 50] [--device cpu]

Writes ``benchmarks/results/render_speed.json`` (median, minimum and 10th/90th
percentile milliseconds per call, plus the machine, the settings and the load
average: on a shared machine the minimum is the most telling number).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infinitenature.autopilot import Autopilot  # noqa: E402
from infinitenature.geometry import intrinsics_from_fov, shift_principal_point  # noqa: E402
from infinitenature.render import forward_splat, render_step  # noqa: E402
from infinitenature.sky import SkyCanvas, sky_blend  # noqa: E402


def _time(fn, repeats: int, device: torch.device) -> dict:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]  # noqa: E731
    return {
        "median_ms": round(statistics.median(times), 3),
        "min_ms": round(times[0], 3),  # closest to an idle machine when others share the CPU
        "p10_ms": round(q(0.1), 3),
        "p90_ms": round(q(0.9), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "render_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    S = args.size
    g = torch.Generator().manual_seed(0)

    K = intrinsics_from_fov(S, S, device=device)
    rgb = torch.rand(1, 3, S, S, generator=g).to(device)
    rgba = torch.cat([rgb, torch.ones(1, 1, S, S, device=device)], 1)
    # A terrain-like disparity: sky on top, ground getting nearer toward the bottom.
    rows = torch.linspace(0, 1, S, device=device).reshape(1, 1, S, 1).expand(1, 1, S, S)
    disp = torch.where(rows < 0.4, torch.full_like(rows, 0.01), 0.05 + 0.75 * (rows - 0.4) / 0.6)
    # One autopilot-like step: yaw 0.02 rad, forward by the reference speed.
    R = axis_angle_to_rotation_matrix(torch.tensor([[0.0, 0.02, 0.0]], device=device))[0]
    t = torch.tensor([0.0, 0.0, -0.1875], device=device)

    margin = S // 4
    canvas = SkyCanvas(
        rgb=torch.rand(1, 3, S + 2 * margin, S + 2 * margin, generator=g).to(device),
        disparity=torch.nn.functional.pad(disp, (margin,) * 4, mode="replicate"),
        K=shift_principal_point(K, margin, margin),
        sky_offset=0.01,
    )
    pilot = Autopilot()
    pilot.reset(torch.eye(4, dtype=torch.float64, device=device))
    step = iter(range(1, 10**9))

    rgba_g = rgba.clone().requires_grad_(True)

    def splat_backward():
        out, d, _ = forward_splat(rgba_g, disp, R, t, K)
        (out.sum() + d.sum()).backward()

    results = {
        "forward_splat": _time(lambda: forward_splat(rgba, disp, R, t, K), args.repeats, device),
        "forward_splat_fwd_bwd": _time(splat_backward, args.repeats, device),
        "render_step": _time(lambda: render_step(rgb, disp, R, t, K), args.repeats, device),
        "sky_blend": _time(lambda: sky_blend(rgb, disp, canvas, R, K), args.repeats, device),
        "autopilot_step": _time(lambda: pilot.next_pose(next(step), disp, K), args.repeats, device),
    }
    report = {
        "size": S,
        "threads": args.threads,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "repeats": args.repeats,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes compete on shared machines
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
