"""Speed benchmark: frames/s and ms per stage of the full loop, and memory over a long stream.

Usage::

    python benchmarks/bench_speed.py [--weights default] [--resolutions 128,256] [--frames 20] [--long 1000]

Models: the ``--weights`` generator ("default") and the official-size
generator (65.2 M parameters at 128 px, randomly initialised: the speed of a
network does not depend on its weights). At a resolution other than the
weights' own, the same architecture is built at that resolution with random
weights. Each runs the whole loop (pose, warp, refine, sky, emit)
from a held-out procedural scene (no depth/sky estimator involved) on the CPU
with ``--threads`` threads, and on CUDA when present. Memory: the process's
resident set (VmRSS) while streaming ``--long`` frames with ``iter_frames``
from the default model at its own resolution. Every run uses the published loop
settings (``FlyThroughConfig()``: full refinement, no state supersampling);
``bench_supersample.py`` times the loop with the settings stored with the weights.

Writes ``benchmarks/results/speed.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_pipeline import commit, rss_mb  # noqa: E402

from infinitenature import FlyThrough, FlyThroughConfig  # noqa: E402
from infinitenature.metrics.protocol import load_refiner, machine_info, synthetic_truth  # noqa: E402


@dataclass
class SpeedOptions:
    """Options of the speed benchmark."""

    weights: str = "default"  # the default model: 'default', a weights file, or random-small
    resolutions: tuple[int, ...] = (128, 256)
    frames: int = 20  # timed steps per run of the default model (after `warmup`)
    official_frames: int = 6  # timed steps per run of the official-size model
    warmup: int = 3
    long: int = 1000  # frames streamed for the memory check (0 = skip)
    threads: int = 2
    cuda: bool = True  # also time on CUDA when available
    scene_seed: int = 1000  # held-out procedural scene the runs start from
    out: str = str(ROOT / "benchmarks" / "results" / "speed.json")


def _model(weights: str, resolution: int):
    """The refiner at ``resolution``: the weights as they are, or their architecture re-initialised."""
    from infinitenature.models import CoModGenerator

    if weights == "random-official":
        return load_refiner("random-official", resolution=resolution), "random init"
    base = load_refiner(weights)
    if int(base.config.resolution) == resolution:
        return base, "random init" if weights.startswith("random-") else "trained"
    import dataclasses

    cfg = dataclasses.replace(base.config, resolution=resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CoModGenerator(cfg).eval(), "random init (architecture of the weights at this resolution)"


def _time_run(pipe: FlyThrough, scene, *, frames: int, warmup: int) -> dict:
    for _ in pipe.iter_frames(None, warmup + 1, scene=scene):
        pass
    if pipe.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    flight = pipe.iter_frames(None, frames + 1, scene=scene)
    for _ in flight:
        pass  # every frame is copied to the CPU, which synchronises
    wall = time.perf_counter() - t0
    frame_ms = 1000.0 * wall / frames
    return {"frames": frames, "frame_ms": frame_ms, "fps": 1000.0 / frame_ms, "stage_ms": flight.timings.per_frame_ms()}


def run_speed(opts: SpeedOptions, *, progress: bool = True, command: str = "bench_speed.run_speed()") -> dict:
    """Run the benchmark, write ``opts.out`` (JSON) and return the result dict."""
    torch.set_num_threads(opts.threads)
    log = print if progress else (lambda *a, **k: None)
    t_start = time.perf_counter()
    devices = ["cpu"] + (["cuda"] if opts.cuda and torch.cuda.is_available() else [])
    runs = []
    scenes = {}
    for res in opts.resolutions:
        scenes[res] = synthetic_truth(opts.scene_seed, steps=[1], size=res, terrain_resolution=512).scene
        for name, weights, frames in (("default", opts.weights, opts.frames), ("official-size", "random-official", opts.official_frames)):
            refiner, init = _model(weights, res)
            for device in devices:
                pipe = FlyThrough(refiner, None, None, config=FlyThroughConfig()).to(device)
                pipe.mean_latent()
                r = _time_run(pipe, scenes[res].to(device), frames=frames, warmup=opts.warmup)
                runs.append({
                    "model": name,
                    "weights": weights,
                    "init": init,
                    "parameters": sum(p.numel() for p in refiner.parameters()),
                    "resolution": res,
                    "device": device if device == "cuda" else f"cpu ({opts.threads} threads)",
                    **r,
                })  # fmt: skip
                log(f"{name:>14} {res:>4}px {device:>4}: {r['frame_ms']:8.1f} ms/frame ({r['fps']:.2f} frames/s)")
            refiner.to("cpu")
    result = {
        "benchmark": "speed",
        "command": command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "weights": opts.weights,
        "note": "official-size runs use random weights (speed does not depend on the weights); "
        "frame_ms is the wall time of the whole loop per generated frame, stage_ms its steps (pose, warp, refine, sky, emit)",
        "runs": runs,
    }
    if opts.long:
        refiner = load_refiner(opts.weights)
        res = int(refiner.config.resolution)
        scene = scenes.get(res) or synthetic_truth(opts.scene_seed, steps=[1], size=res, terrain_resolution=512).scene
        pipe = FlyThrough(refiner, None, None, config=FlyThroughConfig())
        samples = []
        t0 = time.perf_counter()
        for f in pipe.iter_frames(None, opts.long, scene=scene):
            if f.index % 100 == 0 or f.index == opts.long - 1:
                samples.append([f.index, rss_mb()])
        wall = time.perf_counter() - t0
        result["memory"] = {
            "model": "default",
            "resolution": res,
            "frames": opts.long,
            "rss_mb": samples,
            "growth_mb_after_frame_100": samples[-1][1] - samples[1][1] if len(samples) > 2 else None,
            "frame_ms": 1000.0 * wall / max(opts.long - 1, 1),
        }
        log(f"memory: RSS {samples[0][1]:.0f} MB at frame 0, {samples[-1][1]:.0f} MB at frame {samples[-1][0]}")
    result["runtime_s"] = time.perf_counter() - t_start
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    log(f"wrote {out} ({result['runtime_s']:.0f} s)")
    return result


def parse_args(argv: list[str] | None = None) -> SpeedOptions:
    d = SpeedOptions()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=d.weights, help="'default', a weights file, or random-small")
    ap.add_argument("--resolutions", default=",".join(map(str, d.resolutions)), help="e.g. 128,256")
    ap.add_argument("--frames", type=int, default=d.frames, help="timed steps per run of the default model")
    ap.add_argument("--official-frames", type=int, default=d.official_frames, help="timed steps per official-size run")
    ap.add_argument("--warmup", type=int, default=d.warmup)
    ap.add_argument("--long", type=int, default=d.long, help="frames streamed for the memory check (0 = skip)")
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--no-cuda", action="store_true", help="skip CUDA even when present")
    ap.add_argument("--out", default=d.out)
    a = ap.parse_args(argv)
    return SpeedOptions(
        weights=a.weights, resolutions=tuple(int(r) for r in a.resolutions.split(",") if r.strip()),
        frames=a.frames, official_frames=a.official_frames, warmup=a.warmup, long=a.long, threads=a.threads,
        cuda=not a.no_cuda, out=a.out,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_speed(parse_args(argv), command=" ".join(["python benchmarks/bench_speed.py", *argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
