"""Hole fills of several generators side by side on held-out crops: a PNG to look at.

Usage::

    python benchmarks/hole_panels.py OUT.png CANDIDATE [CANDIDATE ...] [--kind blocks|disocclusion]
        [--frames 0 9 18] [--cache-dir DIR] [--threads 2]

A candidate is ``default`` (the shipped generator), ``inpaint`` (the push-pull baseline),
a generator ``.safetensors`` file, or a training checkpoint / run folder
(``infinitenature.weights.generator_file``). Each row is one held-out crop (the crops
and holes of ``bench_holes.py``: ``heldout_crops`` of ``examples/*.jpg``, ``hole_tasks``
with ``--seed``); the columns are the photo, what the refiner is shown (hidden pixels
grey), and each candidate's output. The scores say how much a fill is off on average;
this shows whether it looks like landscape.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infinitenature.estimators import load_depth, load_sky  # noqa: E402
from infinitenature.geometry import intrinsics_from_fov  # noqa: E402
from infinitenature.metrics.baselines import BaselineConfig, BaselineRefiner  # noqa: E402
from infinitenature.metrics.protocol import load_refiner  # noqa: E402
from infinitenature.train import PhotoCache, heldout_crops, hole_tasks  # noqa: E402
from infinitenature.weights import generator_file  # noqa: E402


@torch.no_grad()
def fills(G, task, rgb: torch.Tensor, disp: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``G``'s RGB output ``(N, 3, H, W)`` for ``task`` (a ``HoleTask``), style from the true frames."""
    code = G.encode_style(torch.cat([rgb, disp], 1) * 2 - 1)
    return G.refine(task.rgb, task.disparity, task.mask, code, z[:, : G.config.latent_dim], noise="zero")[:, :3]


def panel(columns: list[torch.Tensor], gap: int = 4) -> np.ndarray:
    """Rows of images (one per frame), one column per tensor ``(N, 3, H, W)``, white gaps: ``(H', W', 3)`` in [0, 1]."""
    N, _, H, W = columns[0].shape
    out = np.ones((N * H + (N - 1) * gap, len(columns) * W + (len(columns) - 1) * gap, 3), dtype=np.float32)
    for j, col in enumerate(columns):
        for i in range(N):
            out[i * (H + gap): i * (H + gap) + H, j * (W + gap): j * (W + gap) + W] = col[i].permute(1, 2, 0).clamp(0, 1).numpy()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="PNG to write (refuses to overwrite unless --force)")
    ap.add_argument("candidates", nargs="+", help="'default', 'inpaint', generator files, checkpoint or run folders")
    ap.add_argument("--kind", choices=("blocks", "disocclusion"), default="blocks")
    ap.add_argument("--frames", type=int, nargs="+", default=[0, 9, 18], help="which held-out crops (rows)")
    ap.add_argument("--photos", nargs="*", default=None, help="held-out photos (default: examples/*.jpg)")
    ap.add_argument("--crops", type=int, default=8, help="random crops per photo, plus the centre crop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default="", help="disparity/sky cache (default: a temporary folder)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="overwrite OUT")
    a = ap.parse_args(argv)
    if Path(a.out).exists() and not a.force:
        print(f"hole_panels: error: {a.out} exists (pass --force to overwrite)", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    try:
        refiners = {c: load_refiner(c if c == "default" else str(generator_file(c))) for c in a.candidates if c != "inpaint"}
    except (OSError, ValueError) as e:
        print(f"hole_panels: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    res = {int(G.config.resolution) for G in refiners.values()} or {128}
    if len(res) != 1:
        print(f"hole_panels: error: the candidates have different resolutions {sorted(res)}", file=sys.stderr)
        return 2
    res = res.pop()
    photos = [Path(p) for p in a.photos] if a.photos else sorted((ROOT / "examples").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        cache = PhotoCache(Path(a.cache_dir or tmp), depth=load_depth("default"), sky=load_sky("default"),
                           estimator_name="default+default", work_size=384)
        rgb, disp, _ = heldout_crops(photos, cache, resolution=res, crops=a.crops)
    bad = [f for f in a.frames if not 0 <= f < rgb.shape[0]]
    if bad:
        print(f"hole_panels: error: --frames {bad} out of range: there are {rgb.shape[0]} crops", file=sys.stderr)
        return 2
    latent = max((int(G.config.latent_dim) for G in refiners.values()), default=1)
    tasks, z = hole_tasks(rgb, disp, intrinsics_from_fov(res, res, 55.0), seed=a.seed, latent_dim=latent)
    rows = torch.tensor(a.frames)
    task = tasks[a.kind]
    sub = type(task)(task.rgb[rows], task.disparity[rows], task.mask[rows])
    shown = sub.rgb * sub.mask + 0.5 * (1 - sub.mask)
    columns = [rgb[rows], shown]
    for c in a.candidates:
        G = refiners.get(c) or BaselineRefiner(BaselineConfig(method="inpaint", resolution=res))
        columns.append(fills(G, sub, rgb[rows], disp[rows], z[rows]))
    iio.imwrite(a.out, (panel(columns) * 255 + 0.5).astype(np.uint8))
    print(f"wrote {a.out}: rows = crops {a.frames} ({a.kind}); columns = photo, input, {', '.join(a.candidates)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
