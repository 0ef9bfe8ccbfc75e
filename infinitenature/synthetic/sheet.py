"""Write procedural landscape samples and contact sheets: ``python -m infinitenature.synthetic``.

For each seed it writes ``seed_XXXX_rgb.png``, ``seed_XXXX_disparity.png``
(normalized disparity, white = near) and ``seed_XXXX_sky.png`` (white = sky),
then ``contact_sheet.png`` (the RGB images in a grid) and
``contact_sheet_depth.png`` (disparity with the sky tinted blue).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .. import geometry
from ..estimators.normalize import depth_to_disparity, normalize_disparity
from .landscape import Landscape
from .styles import STYLE_NAMES

__all__ = ["contact_sheet", "main"]


def contact_sheet(images: Sequence[Tensor], *, columns: int = 4, gap: int = 4) -> np.ndarray:
    """Tile ``(3, H, W)`` images in ``[0, 1]`` into one ``uint8`` ``(H', W', 3)`` array (white gaps)."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    _, h, w = images[0].shape
    rows = math.ceil(len(images) / columns)
    cols = min(columns, len(images))
    sheet = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = _to_uint8(img)
    return sheet


def _to_uint8(img: Tensor) -> np.ndarray:
    return (img.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


PROG = "infinitenature synthetic"


def _parser() -> argparse.ArgumentParser:
    from ..cli import OneLineArgumentParser

    p = OneLineArgumentParser(
        prog=PROG,
        description="Render procedural landscapes with ground-truth disparity and sky masks.",
    )
    p.add_argument("out_dir", type=Path, help="folder to write the PNGs into (created if missing)")
    p.add_argument("--num", type=int, default=16, help="number of scenes (default 16)")
    p.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--size", type=int, default=256, help="square image size in pixels (default 256)")
    p.add_argument("--style", choices=[*STYLE_NAMES, "flat"], default=None, help="force one style (default: from the seed)")
    p.add_argument("--fov", type=float, default=55.0, help="horizontal field of view in degrees (default 55)")
    p.add_argument("--resolution", type=int, default=1024, help="height-field texels per side (default 1024)")
    p.add_argument("--columns", type=int, default=4, help="contact sheet columns (default 4)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 2 bad arguments or refused overwrite)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f"--num must be >= 1, got {args.num}")
    if not 8 <= args.size <= 4096:
        parser.error(f"--size must be in [8, 4096], got {args.size}")
    if not 0.0 < args.fov < 180.0:
        parser.error(f"--fov must be in (0, 180), got {args.fov}")
    if args.resolution < 16:
        parser.error(f"--resolution must be >= 16, got {args.resolution}")
    if args.columns < 1:
        parser.error(f"--columns must be >= 1, got {args.columns}")
    out: Path = args.out_dir
    if out.exists() and not out.is_dir():
        print(f"{PROG}: error: {out} exists and is not a folder", file=sys.stderr)
        return 2
    seeds = range(args.start, args.start + args.num)
    names = [f"seed_{s:04d}_{kind}.png" for s in seeds for kind in ("rgb", "disparity", "sky")]
    names += ["contact_sheet.png", "contact_sheet_depth.png"]
    existing = [n for n in names if (out / n).exists()]
    if existing and not args.overwrite:
        print(f"{PROG}: error: {out / existing[0]} exists ({len(existing)} files would be replaced); pass --overwrite", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    K = geometry.intrinsics_from_fov(args.size, args.size, args.fov)
    rgbs, depth_views = [], []
    sky_tint = torch.tensor([0.55, 0.75, 1.0]).reshape(3, 1, 1)
    for seed in seeds:
        scene = Landscape(seed, style=args.style, resolution=args.resolution)
        res = scene.render(scene.start_pose(), K, args.size, args.size)
        disp = normalize_disparity(depth_to_disparity(res["depth"][None]))[0]
        sky = res["sky"].float()
        Image.fromarray(_to_uint8(res["rgb"])).save(out / f"seed_{seed:04d}_rgb.png")
        Image.fromarray(_to_uint8(disp.expand(3, -1, -1))).save(out / f"seed_{seed:04d}_disparity.png")
        Image.fromarray(_to_uint8(sky.expand(3, -1, -1))).save(out / f"seed_{seed:04d}_sky.png")
        rgbs.append(res["rgb"])
        depth_views.append(torch.where(sky > 0.5, sky_tint.expand(3, -1, -1), disp.expand(3, -1, -1)))
        print(f"seed {seed}: {scene.style.name} ({scene.style.terrain})", flush=True)
    Image.fromarray(contact_sheet(rgbs, columns=args.columns)).save(out / "contact_sheet.png")
    Image.fromarray(contact_sheet(depth_views, columns=args.columns)).save(out / "contact_sheet_depth.png")
    print(f"wrote {3 * len(seeds) + 2} files to {out}")
    return 0
