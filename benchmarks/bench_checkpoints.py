"""Score training checkpoints side by side: held-out hole filling and fidelity with the shipped loop.

Usage::

    python benchmarks/bench_checkpoints.py CANDIDATE [CANDIDATE ...] [--settings default]
        [--full-refinement] [--threads 1] [--out benchmarks/results/checkpoints.json]

A candidate is ``default`` (the shipped generator), a generator ``.safetensors`` file, a
training checkpoint folder (``runs/x/checkpoints/step-0001500``: its ``G_ema.safetensors``) or a
run folder (its exported EMA generator).
Every candidate is flown with the same loop settings: those stored with ``--settings``
(default: the shipped weights'), whatever its own file says, so that only the weights differ.
Checkpoint files hold no loop settings, and without this they would fly the published loop.

For each candidate:

* hole filling, identity and detail restoration on the 27 held-out crops of
  ``examples/*.jpg`` (``bench_holes.score_refiner``);
* PSNR / SSIM / detail along the true paths of the held-out procedural scenes
  1000-1007 at steps 1, 5, 10, 20 (``bench_quality.fidelity_part``), with those loop
  settings, and with ``--full-refinement`` also as published (``keep_visible=False``).

It prints a Markdown table and writes the JSON (about 70 s per candidate on one thread).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_holes import score_refiner  # noqa: E402
from bench_pipeline import commit  # noqa: E402
from bench_quality import QualityOptions, int_list, fidelity_part  # noqa: E402

from infinitenature.estimators import load_depth, load_sky  # noqa: E402
from infinitenature.metrics.protocol import build_pipeline, machine_info, method_pipelines  # noqa: E402
from infinitenature.pipeline import load_refiner as load_with_settings  # noqa: E402
from infinitenature.train import PhotoCache, heldout_crops  # noqa: E402
from infinitenature.weights import generator_file, load_model  # noqa: E402


def candidate_file(spec: str) -> Path | str:
    """``default``, or the generator file a path names (``weights.generator_file``: a run folder's
    export, a checkpoint folder's ``G_ema.safetensors``, or the file itself)."""
    if spec == "default":
        return spec
    path = generator_file(spec)  # FileNotFoundError for a folder without a generator
    if not path.is_file():
        raise FileNotFoundError(f"{spec}: not a generator file, run folder or checkpoint folder")
    return path


def label(spec: str) -> str:
    """A short name: ``run/step-N`` for checkpoint folders, the file name otherwise."""
    path = Path(spec)
    if path.is_dir() and path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/{path.name}"
    return spec if spec == "default" else path.name


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candidates", nargs="+", help="'default', generator .safetensors files or checkpoint folders")
    ap.add_argument("--settings", default="default", help="weights whose stored loop settings every candidate flies with")
    ap.add_argument("--full-refinement", action="store_true", help="also score the published loop (keep_visible=False)")
    ap.add_argument("--crops", type=int, default=8, help="random crops per held-out photo, plus the centre crop")
    ap.add_argument("--seeds", type=int_list, default=QualityOptions.seeds, help="held-out scene seeds, e.g. 1000-1007")
    ap.add_argument("--steps", type=int_list, default=QualityOptions.steps, help="fidelity steps, e.g. 1,5,10,20")
    ap.add_argument("--terrain-resolution", type=int, default=QualityOptions.terrain_resolution)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default="", help="disparity/sky cache of the held-out photos (default: temporary)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "checkpoints.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        files = {label(c): candidate_file(c) for c in a.candidates}
        settings = load_with_settings(a.settings)[1].replace(frame_size="refiner")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    methods = ("refiner", "refiner-all") if a.full_refinement else ("refiner",)
    opts = QualityOptions(seed=a.seed, seeds=a.seeds, steps=a.steps, terrain_resolution=a.terrain_resolution)
    photos = sorted((ROOT / "examples").glob("*.jpg"))
    t0 = time.perf_counter()
    results, truths, crops = {}, None, {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = PhotoCache(Path(a.cache_dir or tmp), depth=load_depth("default"), sky=load_sky("default"),
                           estimator_name="default+default", work_size=384)
        for name, path in files.items():
            G = load_with_settings(path)[0] if path == "default" else load_model(path, kind="generator")
            res = int(G.config.resolution)
            if res not in crops:
                crops[res] = heldout_crops(photos, cache, resolution=res, crops=a.crops)
            holes = score_refiner(G, *crops[res], seed=a.seed)
            pipes = method_pipelines(build_pipeline(G, depth=None, sky=None, config=settings), methods)
            fidelity, truths = fidelity_part(pipes, opts, truths=truths, log=lambda *_: None)
            results[name] = {"file": str(path), "hole_filling": holes, "fidelity": fidelity["methods"]}
            print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(table(results, methods))
    out = {
        "benchmark": "checkpoints",
        "command": " ".join(["python benchmarks/bench_checkpoints.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "loop": settings.to_dict(),
        "options": {"crops": a.crops, "seed": a.seed, "threads": a.threads, "seeds": list(opts.seeds),
                    "steps": list(opts.steps)},
        "candidates": results,
        "runtime_s": time.perf_counter() - t0,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


def table(results: dict, methods: tuple[str, ...]) -> str:
    """Markdown: hole-filling L1 (disocclusion, blocks, disocclusion disparity, identity) and PSNR per method."""
    head = ("| candidate | disocclusion RGB L1 | blocks RGB L1 | disocclusion disparity L1 | identity RGB L1 "
            "| texture in holes, disocclusions / blocks |")
    steps = "/".join(sorted(next(iter(results.values()))["fidelity"]["refiner"]["psnr"], key=int)) if results else ""
    head += "".join(f" PSNR {steps}, {'these settings' if m == 'refiner' else 'full refinement'} |" for m in methods)
    lines = [head, "|---" * (6 + len(methods)) + "|"]
    for name, r in results.items():
        h = r["hole_filling"]["hole_filling"]
        cells = [name, f"{h['disocclusion']['rgb_l1']:.4f}", f"{h['blocks']['rgb_l1']:.4f}",
                 f"{h['disocclusion']['disparity_l1']:.4f}", f"{r['hole_filling']['identity']['rgb_l1']:.4f}",
                 f"{h['disocclusion'].get('detail', math.nan):.3f} / {h['blocks'].get('detail', math.nan):.3f}"]
        for m in methods:
            psnr = r["fidelity"][m]["psnr"]
            cells.append(" / ".join(f"{psnr[s]:.2f}" for s in sorted(psnr, key=int)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
