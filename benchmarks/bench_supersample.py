"""State supersampling: fidelity and detail along true camera paths, and frame time, for several factors.

Usage::

    python benchmarks/bench_supersample.py [--weights default] [--factors 1,2,4] [--threads 2]

For each ``FlyThroughConfig.supersample`` factor, runs the fidelity part of
``bench_quality.py`` (held-out procedural scenes 1000-1007, the true first frame
rendered at ``128 * factor`` px, the true camera path, true frames at steps 1, 5,
10 and 20, all rendered with 4x4 samples per pixel) with the loop settings stored
with the weights otherwise, and times 30 autopilot steps from ``examples/hills.jpg``.
Writes ``benchmarks/results/supersample.json``.

``detail`` is the frame's gradient energy over the true frame's (1 = as much fine
structure as the truth); PSNR and SSIM as in ``bench_quality.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_pipeline import commit  # noqa: E402
from bench_quality import QualityOptions, int_list, run_quality  # noqa: E402

from infinitenature.metrics.protocol import build_pipeline, machine_info  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "supersample.json"
METHODS = ("refiner", "refiner-all", "inpaint")


def frame_time(weights: str, factor: int, *, frames: int = 30) -> dict:
    """Milliseconds per autopilot step (and per step of the loop: ``StepTimings.per_frame_ms``) from examples/hills.jpg at this factor."""
    pipe = build_pipeline(weights)
    pipe.config = pipe.config.replace(supersample=factor)
    scene = pipe.prepare(ROOT / "examples" / "hills.jpg")
    pipe.mean_latent()
    for _ in pipe.iter_frames(None, 3, scene=scene):  # warm-up
        pass
    t0 = time.perf_counter()
    flight = pipe.iter_frames(None, frames + 1, scene=scene)
    for _ in flight:
        pass
    return {"ms_per_frame": 1000.0 * (time.perf_counter() - t0) / frames, "stage_ms": flight.timings.per_frame_ms()}


def fidelity_cells(v: dict, steps: list[str]) -> list[str]:
    """Table cells ``PSNR / SSIM / detail`` per step of one method's fidelity summary."""
    return [f"{v['psnr'][s]:.2f} / {v['ssim'][s]:.3f} / {v['detail'][s]:.2f}" for s in steps]


def table(data: dict) -> str:
    """Markdown: one row per (factor, method), cells ``PSNR / SSIM / detail`` per step."""
    steps = data["steps"]
    lines = ["| supersample | method | " + " | ".join(f"step {s}" for s in steps) + " | ms/frame |", "|" + "---|" * (len(steps) + 3)]
    for run in data["runs"]:
        for m, v in run["fidelity"].items():
            cells = fidelity_cells(v, steps)
            ms = f"{run['speed']['ms_per_frame']:.0f}" if m == "refiner" else ""
            lines.append(f"| {run['supersample']} | {m} | " + " | ".join(cells) + f" | {ms} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--factors", type=int_list, default=(1, 2, 4))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = []
    for f in args.factors:
        opts = QualityOptions(
            weights=args.weights, supersample=f, max_photos=-1, stability_scenes=0, threads=args.threads,
            methods=METHODS, out=str(Path(args.out).with_suffix(f".s{f}.tmp.json")),
        )  # fmt: skip
        q = run_quality(opts, progress=False)
        Path(opts.out).unlink(missing_ok=True)
        fid = {m: {k: v[k] for k in ("psnr", "ssim", "detail")} for m, v in q["fidelity"]["methods"].items()}
        runs.append({"supersample": f, "fidelity": fid, "speed": frame_time(args.weights, f), "fidelity_runtime_s": q["runtime_s"]["fidelity"]})
        print(f"supersample {f}: done", flush=True)
    write_runs("supersample", argv, args.weights, runs, args.out, table)
    return 0


def write_runs(
    benchmark: str, argv: list[str], weights: str, runs: list[dict], out: str, table, *, seeds=None, steps=None
) -> dict:
    """Write a per-setting fidelity benchmark's JSON (provenance, held-out seeds and steps, runs) and print its table.

    ``seeds``/``steps``: those the runs used (default: ``QualityOptions``' defaults)."""
    data = {
        "benchmark": benchmark,
        "command": " ".join([f"python benchmarks/bench_{benchmark}.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "weights": weights,
        "seeds": list(QualityOptions.seeds if seeds is None else seeds),
        "steps": [str(s) for s in (QualityOptions.steps if steps is None else steps)],
        "runs": runs,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(data, indent=2))
    print(table(data))
    return data


if __name__ == "__main__":
    sys.exit(main())
