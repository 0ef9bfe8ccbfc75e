"""Photo anchor: fidelity and detail along true camera paths, detail on held-out photos, and frame time, per scale.

Usage::

    python benchmarks/bench_anchor.py [--weights default] [--scales 0,2,4] [--threads 2]

For each ``FlyThroughConfig.anchor_scale`` (0 = off, and then also no ``detail``,
``streak_blur`` and ``aerial_perspective``, which need the anchor), with the loop settings stored with the weights
otherwise:

- the fidelity part of ``bench_quality.py`` (held-out procedural scenes 1000-1007,
  the true path, true frames at steps 1, 5, 10 and 20 rendered with 4x4 samples per
  pixel; the anchor is the true first view rendered at ``anchor_scale`` x the
  state's size): PSNR / SSIM / detail (gradient energy over the true frame's);
- on the held-out photos ``examples/*.jpg``: 61 autopilot frames, their sharpness
  relative to frame 0 at frames 10, 20, ..., 60 (``metrics.relative_sharpness``;
  no truth exists there, so this says how much fine structure is left, not whether
  it is right), and milliseconds per frame.

Writes ``benchmarks/results/anchor.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_quality import QualityOptions, int_list, run_quality  # noqa: E402
from bench_supersample import fidelity_cells, write_runs  # noqa: E402

from infinitenature import FlyThrough  # noqa: E402
from infinitenature.config import NEEDS_ANCHOR  # noqa: E402
from infinitenature.metrics.stability import relative_sharpness  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "anchor.json"
PHOTO_FRAMES = (10, 20, 30, 40, 50, 60)


def photo_runs(weights: str, scale: int) -> dict:
    """Relative sharpness at ``PHOTO_FRAMES`` and ms per frame of 61 autopilot frames from each example photo."""
    pipe = FlyThrough.from_pretrained(weights)
    pipe.config = pipe.config.replace(**anchor_off(scale))
    pipe.mean_latent()
    out = {}
    for photo in sorted((ROOT / "examples").glob("*.jpg")):
        scene = pipe.prepare(photo)
        t0 = time.perf_counter()
        frames = [f.image for f in pipe.iter_frames(None, PHOTO_FRAMES[-1] + 1, scene=scene)]
        ms = 1000.0 * (time.perf_counter() - t0) / PHOTO_FRAMES[-1]
        rs = relative_sharpness(np.stack(frames))
        out[photo.name] = {"relative_sharpness": {str(i): float(rs[i]) for i in PHOTO_FRAMES}, "ms_per_frame": ms}
    return out


def anchor_off(scale: int) -> dict:
    """The loop settings for this anchor scale: at 0 also every setting that needs the anchor off (``config.NEEDS_ANCHOR``)."""
    return {"anchor_scale": scale} if scale else {"anchor_scale": 0, **{name: off for name, (off, _) in NEEDS_ANCHOR.items()}}


def table(data: dict) -> str:
    """Markdown: fidelity cells ``PSNR / SSIM / detail`` per step, then photo sharpness per frame."""
    steps = data["steps"]
    lines = ["| anchor_scale | " + " | ".join(f"step {s}" for s in steps) + " |", "|" + "---|" * (len(steps) + 1)]
    for run in data["runs"]:
        v = run["fidelity"]
        lines.append(f"| {run['anchor_scale']} | " + " | ".join(fidelity_cells(v, steps)) + " |")
    lines += ["", "| anchor_scale | photo | " + " | ".join(f"frame {i}" for i in PHOTO_FRAMES) + " | ms/frame |", "|" + "---|" * (len(PHOTO_FRAMES) + 3)]
    for run in data["runs"]:
        for name, p in run["photos"].items():
            cells = " | ".join(f"{p['relative_sharpness'][str(i)]:.2f}" for i in PHOTO_FRAMES)
            lines.append(f"| {run['anchor_scale']} | {name} | {cells} | {p['ms_per_frame']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--scales", type=int_list, default=(0, 2, 4))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = []
    for s in args.scales:
        opts = QualityOptions(
            weights=args.weights, max_photos=-1, stability_scenes=0, threads=args.threads,
            methods=("refiner",), out=str(Path(args.out).with_suffix(f".a{s}.tmp.json")), **anchor_off(s),
        )  # fmt: skip
        q = run_quality(opts, progress=False)
        Path(opts.out).unlink(missing_ok=True)
        fid = {k: q["fidelity"]["methods"]["refiner"][k] for k in ("psnr", "ssim", "detail")}
        runs.append({"anchor_scale": s, "loop": q["loop"], "fidelity": fid, "photos": photo_runs(args.weights, s)})
        print(f"anchor_scale {s}: done", flush=True)
    write_runs("anchor", argv, args.weights, runs, args.out, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
