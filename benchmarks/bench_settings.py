"""Loop settings, one at a time: fidelity with the shipped settings, with each departure turned off, and as published.

Usage::

    python benchmarks/bench_settings.py [--weights default] [--threads 1]

Every row flies the held-out procedural scenes 1000-1007 along their true paths
(the fidelity part of ``bench_quality.py``: PSNR / SSIM / detail against the true
frames at steps 1, 5, 10, 20) with the loop settings stored with the weights, but
for one change:

- ``shipped``: the settings as stored;
- one row per departure from the published loop, turned off alone
  (``keep_visible=False``, ``supersample=1``, ``anchor_scale=0``, which also turns
  off ``detail``, ``streak_blur`` and ``aerial_perspective``, which need it, then ``detail=0``,
  ``streak_blur=0``, ``aerial_perspective=0``, ``sky_layers=False``);
- ``published``: all of them off (the published loop with these weights);
- the two baselines in the shipped loop (``inpaint``: push-pull hole filling,
  ``warp``: holes left black).

Writes ``benchmarks/results/settings.json``; ``make_report.py`` renders it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_quality import QualityOptions, fidelity_part, int_list  # noqa: E402
from bench_supersample import fidelity_cells, write_runs  # noqa: E402

from infinitenature.config import NEEDS_ANCHOR  # noqa: E402
from infinitenature.metrics.protocol import build_pipeline, method_pipelines  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "settings.json"

#: The published loop: every departure off.
PUBLISHED = dict(
    keep_visible=False, supersample=1, anchor_scale=0, detail=0.0, streak_blur=0.0, aerial_perspective=0.0, sky_layers=False,
    outpaint=False, max_sky_fraction=0.6,
)


def variants(config) -> dict[str, dict]:
    """Name -> changes to the stored settings, for the departures the weights ask for."""
    out: dict[str, dict] = {"shipped": {}}
    off = {
        "keep_visible": dict(keep_visible=False),
        "supersample": dict(supersample=1),
        "anchor_scale": dict(anchor_scale=0, **{name: off for name, (off, _) in NEEDS_ANCHOR.items()}),
        "detail": dict(detail=0.0),
        "streak_blur": dict(streak_blur=0.0),
        "aerial_perspective": dict(aerial_perspective=0.0),
        "sky_layers": dict(sky_layers=False),
        "outpaint": dict(outpaint=False),
    }
    for name, changes in off.items():
        if getattr(config, name) != PUBLISHED[name]:
            out[f"{name} off"] = changes
    out["published"] = dict(PUBLISHED)
    return out


def table(data: dict) -> str:
    """Markdown: one row per variant, cells ``PSNR / SSIM / detail`` per step."""
    steps = data["steps"]
    lines = ["| loop | changes | " + " | ".join(f"step {s}" for s in steps) + " |", "|" + "---|" * (len(steps) + 2)]
    for run in data["runs"]:
        changes = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in run["changes"].items()) or "-"
        lines.append(f"| {run['setting']} | {changes} | " + " | ".join(fidelity_cells(run["fidelity"], steps)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--seeds", type=int_list, default=QualityOptions.seeds, help="held-out scene seeds, e.g. 1000-1007")
    ap.add_argument("--steps", type=int_list, default=QualityOptions.steps, help="fidelity steps, e.g. 1,5,10,20")
    ap.add_argument("--terrain-resolution", type=int, default=QualityOptions.terrain_resolution)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    opts = QualityOptions(weights=args.weights, seeds=args.seeds, steps=args.steps, terrain_resolution=args.terrain_resolution)
    base = build_pipeline(args.weights, depth=None, sky=None)
    pipes = {}
    for name, changes in variants(base.config).items():
        pipes[name] = (changes, build_pipeline(base.refiner, depth=None, sky=None, config=base.config.replace(**changes)))
    for m, p in method_pipelines(base, ("inpaint", "warp")).items():
        pipes[m] = ({"refiner": m}, p)
    groups: dict[tuple[int, int], dict] = {}  # the truth depends on the state's size and the anchor
    for name, (_, p) in pipes.items():
        groups.setdefault((p.config.supersample, p.config.anchor_scale), {})[name] = p
    fidelity, t0 = {}, time.perf_counter()
    for key, group in groups.items():
        part, _ = fidelity_part(group, opts, log=lambda *_: None)
        fidelity.update(part["methods"])
        print(f"supersample, anchor_scale = {key}: {', '.join(group)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    runs = [
        {"setting": name, "changes": changes, "fidelity": {k: fidelity[name][k] for k in ("psnr", "ssim", "detail")}}
        for name, (changes, _) in pipes.items()
    ]
    write_runs("settings", argv, args.weights, runs, args.out, table, seeds=opts.seeds, steps=opts.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
