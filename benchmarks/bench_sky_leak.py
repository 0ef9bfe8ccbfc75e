"""How much of the sky's colour ends up in the ground along a long flight (a dye test).

Usage::

    python benchmarks/bench_sky_leak.py [--photos hills.jpg,dune.jpg] [--frames 241] [--every 40] [--threads 2]
        [--compare KEY=VALUE ...]

``--compare`` flies every photo a second time with those loop settings changed (a
``FlyThroughConfig`` field, VALUE as JSON, e.g. ``--compare sky_layers=true``).

Long autopilot flights over hills drift toward the sky's colour (olive hills turn
teal after about 150 frames). This measures that leak directly. Each photo is
prepared as usual, then flown twice with the same seed: once as it is, once with
the sky of the loop's state and of the sky canvas repainted a "dye" colour (every
pixel at or below the sky offset; the photo anchor and the haze estimate are left
as they are, so the dye can reach the ground only through the loop itself). At
every reported frame, with ``c`` the mean colour of the frame's ground pixels
(disparity above the sky offset) and ``s`` the mean colour of the sky that was
repainted::

    transfer = (c_dyed - c_plain) . (dye - s) / |dye - s|^2

the share of a change in the sky's colour that shows up in the ground: 0 = the
ground's colour owes nothing to the sky, 1 = the ground has the sky's colour. Both
flights follow nearly the same path (the autopilot reads disparity, not colour),
so the difference is the leak.

Writes ``benchmarks/results/sky_leak.json`` (``runs[setting][photo]``: ``"shipped"`` is the
weights' own settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_pipeline import commit  # noqa: E402

from infinitenature import FlyThrough  # noqa: E402
from infinitenature.config import parse_setting  # noqa: E402
from infinitenature.metrics.protocol import machine_info  # noqa: E402
from infinitenature.scene import PreparedScene  # noqa: E402
from infinitenature.sky import SkyCanvas  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "sky_leak.json"
#: The dye: a red no landscape photo's sky has.
DYE = (0.9, 0.1, 0.1)


def dye_sky(scene: PreparedScene, dye: tuple[float, float, float]) -> tuple[PreparedScene, np.ndarray]:
    """A copy of ``scene`` with its state's and canvas's sky painted ``dye``, and the sky's mean colour before."""
    colour = torch.tensor(dye, dtype=scene.rgb.dtype).view(1, 3, 1, 1)
    level = scene.sky_offset + 1e-6
    sky = (scene.disparity <= level).to(scene.rgb.dtype)
    before = (scene.rgb * sky).sum(dim=(0, 2, 3)) / sky.sum().clamp_min(1)
    c = scene.canvas
    c_sky = (c.disparity <= level).to(c.rgb.dtype)
    canvas = SkyCanvas(rgb=c_sky * colour + (1 - c_sky) * c.rgb, disparity=c.disparity, K=c.K, sky_offset=c.sky_offset)
    dyed = PreparedScene(
        rgb=sky * colour + (1 - sky) * scene.rgb, disparity=scene.disparity, sky=scene.sky, K=scene.K,
        sky_offset=scene.sky_offset, canvas=canvas, anchor=scene.anchor,
    )
    return dyed, before.numpy()


def ground_means(pipe: FlyThrough, scene: PreparedScene, frames: int, every: int, seed: int) -> dict[int, list[float] | None]:
    """Mean RGB in [0, 1] of the ground pixels of every ``every``-th frame (``None`` if a frame has no ground)."""
    level = scene.sky_offset + 1e-6
    out = {}
    for f in pipe.iter_frames(None, frames, scene=scene, seed=seed):
        if f.index % every == 0:
            ground = f.disparity > level
            out[f.index] = (f.image[ground].astype(np.float64) / 255.0).mean(0).tolist() if ground.any() else None
    return out


def measure(pipe: FlyThrough, photo: Path, frames: int, every: int, seed: int) -> dict:
    scene = pipe.prepare(photo)
    if scene.sky_offset <= 0:
        return {"error": "no sky found in the photo"}
    dyed, sky_mean = dye_sky(scene, DYE)
    plain = ground_means(pipe, scene, frames, every, seed)
    tinted = ground_means(pipe, dyed, frames, every, seed)
    axis = np.asarray(DYE) - sky_mean
    transfer = {}
    for i, c in plain.items():
        if c is not None and tinted.get(i) is not None:
            transfer[str(i)] = float((np.asarray(tinted[i]) - np.asarray(c)) @ axis / (axis @ axis))
    return {"sky_mean_rgb": sky_mean.tolist(), "ground_rgb": {str(k): v for k, v in plain.items()},
            "ground_rgb_dyed": {str(k): v for k, v in tinted.items()}, "transfer": transfer}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--photos", default="hills.jpg,dune.jpg", help="comma-separated names in ../shared/data/photos or paths")
    ap.add_argument("--frames", type=int, default=241)
    ap.add_argument("--every", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compare", action="append", default=[], metavar="KEY=VALUE", help="a second flight with these settings")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    if args.frames < 2 or args.every < 1:
        ap.error("--frames must be >= 2 and --every >= 1")
    torch.set_num_threads(args.threads)
    pipe = FlyThrough.from_pretrained(args.weights)
    settings = {"shipped": {}}
    if args.compare:
        fields = {f.name for f in dataclasses.fields(pipe.config)}
        changes = {}
        for item in args.compare:
            try:
                key, value = parse_setting(item)
            except ValueError:  # no NAME=
                key = value = None
            if key not in fields:
                ap.error(f"--compare {item!r}: expected KEY=VALUE with KEY a FlyThroughConfig field")
            changes[key] = value
        settings[",".join(args.compare)] = changes
    shipped = pipe.config
    runs = {}
    for label, changes in settings.items():
        pipe.config = shipped.replace(**changes)
        runs[label] = {}
        for name in [p for p in args.photos.split(",") if p]:
            path = Path(name)
            if not path.exists():
                path = ROOT.parent / "shared" / "data" / "photos" / name
            if not path.exists():
                ap.error(f"photo not found: {name}")
            runs[label][path.name] = measure(pipe, path, args.frames, args.every, args.seed)
            t = runs[label][path.name].get("transfer", {})
            print(label, path.name, "transfer", " ".join(f"{k}:{v:.3f}" for k, v in t.items()))
    data = {
        "benchmark": "sky_leak",
        "command": " ".join(["python benchmarks/bench_sky_leak.py", *argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "weights": args.weights,
        "dye": list(DYE),
        "frames": args.frames,
        "seed": args.seed,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
