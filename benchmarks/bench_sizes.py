"""Per-frame time of the loop at several frame sizes, split by step.

    python benchmarks/bench_sizes.py [--sizes 256x256,512x288,768x432,1024x576] [--frames 100]
        [--trajectories autopilot,pan] [--threads 2] [--image examples/valendas.jpg] [--out JSON]

Flies ``--frames`` frames of each size and trajectory with the shipped settings (seed 0; one
short warm-up flight first) and reports frames per second, the milliseconds per frame of each
step of the loop (``StepTimings``: pose, warp, refine, sky, emit), the one-off preparation
(estimators, anchor, panorama) and each size's cost per frame relative to the first size's.
Writes benchmarks/results/sizes_speed.json by default.
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
from infinitenature import FlyThrough  # noqa: E402
from infinitenature.metrics.protocol import machine_info  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import commit  # noqa: E402


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"512x288,256x256"`` -> ``[(288, 512), (256, 256)]`` as ``(height, width)``."""
    out = []
    for part in text.split(","):
        w, h = part.lower().split("x")
        out.append((int(h), int(w)))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--image", default=str(ROOT / "examples" / "valendas.jpg"))
    ap.add_argument("--sizes", default="256x256,512x288,768x432,1024x576")
    ap.add_argument("--trajectories", default="autopilot,pan")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sizes_speed.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    pipe = FlyThrough.from_pretrained(a.weights)
    pipe.set_progress_bar_config(disable=True)
    pipe.mean_latent()
    runs = []
    for traj in a.trajectories.split(","):
        base = None
        for h, w in parse_sizes(a.sizes):
            pipe(a.image, 3, height=h, width=w, trajectory=traj)  # warm-up
            t0 = time.perf_counter()
            out = pipe(a.image, a.frames, height=h, width=w, trajectory=traj)
            wall = time.perf_counter() - t0
            tm = out.timings
            step_ms = 1000.0 * (wall - tm.prepare) / max(a.frames - 1, 1)
            base = base or step_ms
            r = {
                "trajectory": traj, "size": f"{w}x{h}", "fps": round(a.frames / wall, 2), "step_ms": round(step_ms, 1),
                "relative_to_first": round(step_ms / base, 2), "prepare_s": round(tm.prepare, 2),
                "stage_ms": {k: round(v, 1) for k, v in tm.per_frame_ms().items()},
            }  # fmt: skip
            runs.append(r)
            print(json.dumps(r), flush=True)
    result = {
        "benchmark": "sizes_speed", "command": " ".join(["python benchmarks/bench_sizes.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit(), "image": Path(a.image).name,
        "weights": a.weights, "threads": a.threads, "frames": a.frames, "torch": torch.__version__, "machine": machine_info(), "runs": runs,
    }  # fmt: skip
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
