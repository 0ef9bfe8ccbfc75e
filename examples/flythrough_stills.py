"""Fly into a photo and save every k-th frame side by side as one PNG (for docs and quick looks).

Usage::

    python examples/flythrough_stills.py examples/valendas.jpg docs/flythrough_valendas.png \
        [--frames 61] [--every 10] [--weights default] [--trajectory autopilot] [--seed 0] [--scale 0] [--size 512x288]
        [--set KEY=VALUE ...] [--compare KEY=VALUE ...] [--compare-weights OTHER]

``--set`` overrides a loop setting of the weights (a ``FlyThroughConfig`` field, e.g.
``--set streak_blur=0``); ``--compare`` adds a second row below, flown with that setting
changed as well (e.g. ``--set streak_blur=0 --compare streak_blur=1``: without, then with).
``--compare-weights OTHER`` adds a row flown with other weights and *their* stored loop
settings (e.g. an earlier default: ``git show REV:weights/generator-default.safetensors``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from infinitenature.config import parse_setting


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
    ap.add_argument("--size", default="", metavar="WxH", help="frame size (default: the weights' square)")
    ap.add_argument("--video", default="", help="also write the whole flythrough here (.mp4/.gif)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a loop setting (repeatable)")
    ap.add_argument("--compare", action="append", default=[], metavar="KEY=VALUE", help="a second row with this changed too")
    ap.add_argument("--compare-weights", default="", metavar="OTHER", help="a row flown with these weights and their settings")
    args = ap.parse_args(argv)

    from infinitenature import FlyThrough

    width, height = (int(v) for v in args.size.lower().split("x")) if args.size else (None, None)

    pipe = FlyThrough.from_pretrained(args.weights)
    try:
        pipe.config = _override(pipe.config, args.set)
        configs = [pipe.config] + ([_override(pipe.config, args.compare)] if args.compare else [])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    pipes = [(pipe, config) for config in configs]
    if args.compare_weights:
        try:
            other = FlyThrough.from_pretrained(args.compare_weights)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: --compare-weights: {e}", file=sys.stderr)
            return 2
        pipes.append((other, other.config))
    rows = []
    for p, config in pipes:
        p.config = config
        out = p(args.image, num_frames=args.frames, seed=args.seed, trajectory=args.trajectory, height=height, width=width)
        rows.append(out.frames[:: args.every])
    picks = rows[0]
    gap = 4
    scale = args.scale if args.scale > 0 else max(1, -(-256 // picks.shape[1]))
    h, w = picks.shape[1] * scale, picks.shape[2] * scale
    sheet = np.full((len(rows) * (h + gap) - gap, len(picks) * (w + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for i, f in enumerate(row):
            big = np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.LANCZOS))
            sheet[r * (h + gap) : r * (h + gap) + h, i * (w + gap) : i * (w + gap) + w] = big
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.output)
    if args.video:
        out.save(args.video, overwrite=True)
    print(f"wrote {args.output} (frames {', '.join(str(i) for i in range(0, args.frames, args.every))})")
    for warning in out.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _override(config, items: list[str]):
    """``config`` with ``KEY=VALUE`` items applied (VALUE as JSON: 0, 1.5, true, "state")."""
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for item in items:
        try:
            key, value = parse_setting(item)
        except ValueError:  # no NAME=
            key = value = None
        if key not in fields:
            raise ValueError(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        changes[key] = value
    return dataclasses.replace(config, **changes)


if __name__ == "__main__":
    sys.exit(main())
