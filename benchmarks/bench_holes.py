"""Hole filling and identity of generators on held-out photos.

Usage::

    python benchmarks/bench_holes.py [--weights default --weights other.safetensors ...] [--photos a.jpg b.jpg]

``--weights inpaint`` (in the default list) scores the push-pull inpainting baseline
(``infinitenature.metrics.baselines``) on the same holes, at the first generator's
resolution: the bar a learned refiner has to clear.

For each generator, on fixed crops of photos it never trained on (default:
examples/*.jpg, centre crop + ``--crops`` random crops each, at the generator's
resolution, disparity and sky from the shipped estimators):

* ``infinitenature.train.hole_filling_l1``: L1 on the hidden pixels of real
  disocclusion masks and of random block masks (lower is better), and the texture
  of the fill (gradient energy inside the holes over the photo's: 0 = smooth,
  1 = as much fine structure as the photo had there);
* ``infinitenature.train.identity_l1``: L1 between output and input when nothing
  is hidden (0 = perfect; what makes colours drift under full refinement);
* ``infinitenature.train.detail_restoration``: frames blurred as if magnified 1.5x,
  2x and 3x beyond their resolution, restored by the refiner's fine correction
  (its output minus its input, high-passed): RGB L1 to the sharp frame and detail
  (gradient energy over the sharp frame's), before and after.

Writes ``benchmarks/results/holes.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infinitenature.estimators import load_depth, load_sky  # noqa: E402
from infinitenature.geometry import intrinsics_from_fov  # noqa: E402
from infinitenature.metrics.baselines import BaselineConfig, BaselineRefiner  # noqa: E402
from infinitenature.metrics.protocol import load_refiner, machine_info  # noqa: E402
from infinitenature.train import PhotoCache, detail_restoration, heldout_crops, hole_filling_l1, identity_l1  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pipeline import commit  # noqa: E402


def score_refiner(G, rgb, disp, names: list[str], *, seed: int = 0) -> dict:
    """Hole filling, identity and detail restoration of one refiner on held-out crops.

    ``rgb`` ``(N, 3, R, R)`` and ``disp`` ``(N, 1, R, R)`` at the refiner's resolution
    ``R`` (``heldout_crops``), ``names`` the photos they came from. Returns the JSON
    entry this benchmark writes for the refiner.
    """
    res = int(G.config.resolution)
    K = intrinsics_from_fov(res, res, 55.0)
    holes = hole_filling_l1(G, rgb, disp, K, seed=seed)
    ident = identity_l1(G, rgb, disp, seed=seed)
    detail = detail_restoration(G, rgb, disp, seed=seed)
    return {
        "resolution": res,
        "frames": int(rgb.shape[0]),
        "photos": names,
        "hole_filling": {k: dataclasses.asdict(v) for k, v in holes.items()},
        "identity": {"rgb_l1": ident[0], "disparity_l1": ident[1]},
        "detail_restoration": {str(f): dataclasses.asdict(v) for f, v in detail.items()},
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", action="append", default=None,
                    help="generator ('default', a file, or 'inpaint' for the push-pull baseline); repeatable "
                         "(default: default and inpaint)")
    ap.add_argument("--photos", nargs="*", default=None, help="held-out photos (default: examples/*.jpg)")
    ap.add_argument("--crops", type=int, default=8, help="random crops per photo, plus the centre crop")
    ap.add_argument("--seed", type=int, default=0, help="seed of masks, cameras and latents")
    ap.add_argument("--cache-dir", default="", help="disparity/sky cache (default: a temporary folder)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "holes.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    photos = [Path(p) for p in a.photos] if a.photos else sorted((ROOT / "examples").glob("*.jpg"))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cache = PhotoCache(Path(a.cache_dir or tmp), depth=load_depth("default"), sky=load_sky("default"),
                           estimator_name="default+default", work_size=384)
        frames: dict[int, tuple] = {}
        results = {}
        wanted = a.weights or ["default", "inpaint"]
        refiners = {name: load_refiner(name) for name in wanted if name != "inpaint"}
        first = next((int(g.config.resolution) for g in refiners.values()), 128)  # the baseline's resolution
        for name in wanted:
            G = refiners[name] if name != "inpaint" else BaselineRefiner(BaselineConfig(method="inpaint", resolution=first))
            res = int(G.config.resolution)
            if res not in frames:
                frames[res] = heldout_crops(photos, cache, resolution=res, crops=a.crops)
            results[name] = score_refiner(G, *frames[res], seed=a.seed)
            h, detail = results[name]["hole_filling"], results[name]["detail_restoration"]
            print(f"{name}: disocclusion RGB L1 {h['disocclusion']['rgb_l1']:.4f}, blocks {h['blocks']['rgb_l1']:.4f}, "
                  f"identity {results[name]['identity']['rgb_l1']:.4f}, texture in holes "
                  f"{h['disocclusion']['detail']:.3f} / {h['blocks']['detail']:.3f}", flush=True)
            for f, v in detail.items():
                print(f"  magnified {f}x: RGB L1 {v['blurred_l1']:.4f} -> {v['restored_l1']:.4f}, "
                      f"detail {v['blurred_detail']:.3f} -> {v['restored_detail']:.3f}", flush=True)
    out = {
        "benchmark": "holes",
        "command": " ".join(["python benchmarks/bench_holes.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "options": {"crops": a.crops, "seed": a.seed, "threads": a.threads},
        "weights": results,
        "runtime_s": time.perf_counter() - t0,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
