"""Fly into a photo and save every k-th frame side by side as one PNG (for docs and quick looks).

Usage::

    python examples/flythrough_stills.py examples/valendas.jpg docs/flythrough_valendas.png \
        [--frames 61] [--every 10] [--weights default] [--trajectory autopilot] [--seed 0] [--scale 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("output", help="PNG file to write")
    ap.add_argument("--frames", type=int, default=61)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--weights", default="default")
    ap.add_argument("--trajectory", default="autopilot")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=0, help="upscale factor of each still (0 = to at least 256 px)")
    ap.add_argument("--video", default="", help="also write the whole flythrough here (.mp4/.gif)")
    args = ap.parse_args(argv)

    from infinitenature import FlyThrough

    pipe = FlyThrough.from_pretrained(args.weights)
    out = pipe(args.image, num_frames=args.frames, seed=args.seed, trajectory=args.trajectory)
    picks = out.frames[:: args.every]
    gap = 4
    scale = args.scale if args.scale > 0 else max(1, -(-256 // picks.shape[1]))
    h, w = picks.shape[1] * scale, picks.shape[2] * scale
    sheet = np.full((h, len(picks) * (w + gap) - gap, 3), 255, np.uint8)
    for i, f in enumerate(picks):
        big = np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.LANCZOS))
        sheet[:, i * (w + gap) : i * (w + gap) + w] = big
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.output)
    if args.video:
        out.save(args.video, overwrite=True)
    print(f"wrote {args.output} (frames {', '.join(str(i) for i in range(0, args.frames, args.every))})")
    for warning in out.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
