"""Depth and sky estimators on the real-photo evaluation set (data/real_photos).

    python benchmarks/bench_estimators_real.py [--depth default] [--sky default]
        [--split heldout|train|all] [--sky-structure on|off] [--skyline-repair on|off]
        [--out JSON] [--sheet PNG] [--baseline-depth SPEC] [--baseline-sky SPEC] [--threads N]

Runs the estimators on every photo of the split at the photo's stored size
(at most 1024 px) and reports, per photo and over the split:

* sky IoU (sky where the probability is > 0.5) with the pixels within 3 px of
  a true sky boundary and the uncertain (128) pixels ignored, on photos with sky;
* the share of pixels predicted as sky on photos without sky;
* ordinal pair accuracy: a pair is right when the nearer point gets the greater
  disparity; all pairs, and the pairs that break "lower is nearer" separately.
  The accuracy of that prior itself (disparity = row index) is given for scale.

``--skyline-repair on`` scores the maps after ``skyline.repair_skyline`` (what
``FlyThroughConfig.skyline_repair`` does when a photo is prepared): the sky mask's
edge snapped to the photo's colours, the ground along the skyline raised to the
disparity below it.

The targets of issue #34 are checked per split: IoU >= 0.9 on every photo with
sky, < 2 % sky on every photo without, >= 95 % of the pairs right.
Writes benchmarks/results/estimators_real.json by default; ``--sheet`` also
draws a contact sheet (photo | true sky | predicted sky | predicted disparity).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from infinitenature.estimators import load_depth, load_sky
from infinitenature.skyline import repair_skyline
from infinitenature.metrics.estimators_real import (
    load_real_photos,
    pair_results,
    sky_iou,
    sky_share,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "real_photos"
IOU_TARGET, SHARE_TARGET, PAIR_TARGET = 0.9, 0.02, 0.95
BAND_PX = 3


def _rate(ok: list[bool]) -> float | None:
    return round(float(np.mean(ok)), 4) if ok else None


def evaluate(photos, depth, sky, *, skyline_repair: bool = False) -> tuple[list[dict], dict, dict]:
    """Per-photo rows, the maps for the sheet and the split summary."""
    rows, maps = [], {}
    all_ok, pb_ok, prior_ok = [], [], []
    for ph in photos:
        x = torch.from_numpy(ph.image).permute(2, 0, 1)[None].contiguous()
        t0 = time.perf_counter()
        with torch.no_grad():
            d, pr = depth(x).float(), sky(x).float()
            if skyline_repair:
                pr, d = repair_skyline(x, d, pr)
            disp, prob = d[0, 0].cpu().numpy(), pr[0, 0].cpu().numpy()
        seconds = time.perf_counter() - t0
        maps[ph.name] = (disp, prob)
        ok = pair_results(disp, ph.pairs) if ph.pairs else np.zeros(0, bool)
        rows_y = np.broadcast_to(np.arange(disp.shape[0], dtype=float)[:, None], disp.shape)
        prior = pair_results(rows_y, ph.pairs) if ph.pairs else np.zeros(0, bool)
        pb = np.array([bool(p["prior_breaking"]) for p in ph.pairs], bool)
        row = {
            "photo": ph.name,
            "size": [int(ph.image.shape[1]), int(ph.image.shape[0])],
            "has_sky": ph.has_sky,
            "true_sky_share": round(float((ph.sky == 255).mean()), 4),
            "sky_iou": round(sky_iou(prob, ph.sky, band=BAND_PX), 4) if ph.has_sky else None,
            "pred_sky_share": round(sky_share(prob, ph.sky), 4),
            "pairs": int(len(ok)),
            "pairs_right": int(ok.sum()),
            "pair_accuracy": _rate(list(ok)),
            "prior_breaking_pairs": int(pb.sum()),
            "prior_breaking_right": int(ok[pb].sum()),
            "prior_breaking_accuracy": _rate(list(ok[pb])),
            "lower_is_nearer_accuracy": _rate(list(prior)),
            "seconds": round(seconds, 2),
        }
        rows.append(row)
        all_ok += list(ok)
        pb_ok += list(ok[pb])
        prior_ok += list(prior)
    ious = [r["sky_iou"] for r in rows if r["has_sky"]]
    ious = [v for v in ious if v is not None and not math.isnan(v)]
    shares = [r["pred_sky_share"] for r in rows if not r["has_sky"]]
    summary = {
        "photos": len(rows),
        "photos_with_sky": sum(r["has_sky"] for r in rows),
        "sky_iou_mean": round(float(np.mean(ious)), 4) if ious else None,
        "sky_iou_min": round(float(np.min(ious)), 4) if ious else None,
        "photos_iou_ge_0.9": sum(v >= IOU_TARGET for v in ious),
        "no_sky_share_max": round(float(np.max(shares)), 4) if shares else None,
        "pairs": len(all_ok),
        "pair_accuracy": _rate(all_ok),
        "prior_breaking_pairs": len(pb_ok),
        "prior_breaking_accuracy": _rate(pb_ok),
        "other_pairs_accuracy": _rate([o for o, p in zip(all_ok, _pb_flags(photos)) if not p]),
        "lower_is_nearer_accuracy": _rate(prior_ok),
        "targets": {
            "sky_iou_ge_0.9_every_photo": bool(ious) and all(v >= IOU_TARGET for v in ious),
            "no_sky_share_lt_0.02_every_photo": all(v < SHARE_TARGET for v in shares),
            "pair_accuracy_ge_0.95": bool(all_ok) and float(np.mean(all_ok)) >= PAIR_TARGET,
        },
    }
    return rows, maps, summary


def _pb_flags(photos) -> list[bool]:
    return [bool(p["prior_breaking"]) for ph in photos for p in ph.pairs]


def _colormap(v: np.ndarray) -> np.ndarray:
    """Turbo-like colours for ``v`` in [0, 1] (polynomial fit), ``(H, W, 3)`` uint8."""
    v = np.clip(v, 0, 1)[..., None]
    r = 0.1357 + v * (4.5974 - v * (42.3277 - v * (130.5887 - v * (150.5666 - v * 58.1375))))
    g = 0.0914 + v * (2.1856 + v * (4.8052 - v * (14.0195 - v * (4.2109 + v * 2.7747))))
    b = 0.1067 + v * (12.5925 - v * (60.1097 - v * (109.0745 - v * (88.5066 - v * 26.8183))))
    return (np.clip(np.concatenate([r, g, b], -1), 0, 1) * 255).astype(np.uint8)


def contact_sheet(photos, maps, path: Path, row_height: int = 160, baseline_maps: dict | None = None) -> None:
    """One row per photo: photo | true sky (grey = uncertain) | predicted sky probability | disparity.

    With ``baseline_maps`` (the maps of other estimators), each predicted column
    has the baseline's beside it: photo | true sky | sky (baseline) | sky |
    disparity (baseline) | disparity.

    Every cell is ``row_height`` tall and as wide as the widest photo would be;
    narrower photos are centred in their cells. Disparity is colour-mapped per
    photo between its 2nd and 98th percentile (dark blue far, red near).
    """
    from PIL import Image, ImageDraw

    def sky_cell(prob):
        return np.repeat((np.clip(prob, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)

    def disp_cell(disp):
        lo, hi = np.percentile(disp, [2, 98])
        return _colormap((disp - lo) / max(hi - lo, 1e-8))

    cw = max(round(ph.image.shape[1] * row_height / ph.image.shape[0]) for ph in photos)
    gap, head = 4, 16
    labels = ["photo", "true sky (grey: uncertain)", "predicted sky probability", "predicted disparity (red near)"]
    if baseline_maps is not None:
        labels = ["photo", "true sky (grey: uncertain)", "sky, baseline", "sky", "disparity, baseline (red near)", "disparity"]
    sheet = Image.new("RGB", (len(labels) * (cw + gap) - gap, head + len(photos) * (row_height + gap)), "white")
    d = ImageDraw.Draw(sheet)
    for k, label in enumerate(labels):
        d.text((k * (cw + gap) + 4, 2), label, fill=(0, 0, 0))
    for i, ph in enumerate(photos):
        disp, prob = maps[ph.name]
        cells = [(ph.image * 255).astype(np.uint8), np.repeat(ph.sky[..., None], 3, -1)]
        if baseline_maps is None:
            cells += [sky_cell(prob), disp_cell(disp)]
        else:
            base_disp, base_prob = baseline_maps[ph.name]
            cells += [sky_cell(base_prob), sky_cell(prob), disp_cell(base_disp), disp_cell(disp)]
        w = round(ph.image.shape[1] * row_height / ph.image.shape[0])
        y = head + i * (row_height + gap)
        for k, c in enumerate(cells):
            im = Image.fromarray(c).resize((w, row_height), Image.BILINEAR)
            sheet.paste(im, (k * (cw + gap) + (cw - w) // 2, y))
        d.text(((cw - w) // 2 + 4, y + 4), ph.name, fill=(255, 255, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps the PNG small (about a third of the RGB size)
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
        path, optimize=True
    )


def _fmt(v, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def print_table(rows: list[dict], summary: dict) -> None:
    print(f"{'photo':16s} {'sky IoU':>8s} {'sky share':>9s} {'pairs':>12s} {'prior-breaking':>15s} {'lower=nearer':>12s}")
    for r in rows:
        share = _fmt(r["pred_sky_share"], True) if not r["has_sky"] else ""
        pairs = f"{r['pairs_right']}/{r['pairs']}" if r["pairs"] else "-"
        pb = f"{r['prior_breaking_right']}/{r['prior_breaking_pairs']}" if r["prior_breaking_pairs"] else "-"
        print(f"{r['photo']:16s} {_fmt(r['sky_iou']):>8s} {share:>9s} {pairs:>12s} {pb:>15s} "
              f"{_fmt(r['lower_is_nearer_accuracy'], True):>12s}")
    s = summary
    print(f"IoU mean {_fmt(s['sky_iou_mean'])}, min {_fmt(s['sky_iou_min'])}, "
          f">= 0.9 on {s['photos_iou_ge_0.9']}/{s['photos_with_sky']}; "
          f"max sky share without sky {_fmt(s['no_sky_share_max'], True)}; "
          f"pairs {_fmt(s['pair_accuracy'], True)} of {s['pairs']}, "
          f"prior-breaking {_fmt(s['prior_breaking_accuracy'], True)} of {s['prior_breaking_pairs']}, "
          f"others {_fmt(s['other_pairs_accuracy'], True)}; "
          f"'lower is nearer' alone {_fmt(s['lower_is_nearer_accuracy'], True)}")
    print("targets met:", json.dumps(s["targets"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", default="default", help="depth estimator spec for load_depth (default: shipped)")
    p.add_argument("--sky", default="default", help="sky estimator spec for load_sky (default: shipped)")
    p.add_argument("--split", default="heldout", choices=["heldout", "train", "all"])
    p.add_argument("--sky-structure", default=None, choices=["on", "off"],
                   help="set SkyNetConfig.structure of one of our sky networks (default: as stored)")
    p.add_argument("--skyline-repair", default="off", choices=["on", "off"],
                   help="score the maps after skyline.repair_skyline (FlyThroughConfig.skyline_repair)")
    p.add_argument("--data", type=Path, default=DATA, help="folder of the set")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "estimators_real.json")
    p.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG")
    p.add_argument("--baseline-depth", default=None, help="depth estimator to score and draw beside --depth")
    p.add_argument("--baseline-sky", default=None, help="sky estimator to score and draw beside --sky")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    depth, sky = load_depth(args.depth), load_sky(args.sky)
    if args.sky_structure is not None:
        if not hasattr(getattr(sky, "config", None), "structure"):
            p.error("--sky-structure needs one of our sky networks")
        sky.config.structure = args.sky_structure == "on"
    splits = ["heldout", "train"] if args.split == "all" else [args.split]
    result = {
        "command": shlex.join(["python", "benchmarks/bench_estimators_real.py", *(sys.argv[1:] if argv is None else argv)]),
        "depth": args.depth,
        "sky": args.sky,
        "sky_structure": getattr(getattr(sky, "config", None), "structure", None),
        "skyline_repair": args.skyline_repair == "on",
        "split": args.split,
        "band_px": BAND_PX,
        "sky_threshold": 0.5,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "splits": {},
    }
    baseline = None
    if args.baseline_depth is not None or args.baseline_sky is not None:
        baseline = (load_depth(args.baseline_depth or args.depth), load_sky(args.baseline_sky or args.sky))
        result["baseline"] = {"depth": args.baseline_depth or args.depth, "sky": args.baseline_sky or args.sky}
    for split in splits:
        photos = load_real_photos(args.data, split)
        base_maps = None
        if baseline is not None:
            base_rows, base_maps, base_summary = evaluate(photos, *baseline, skyline_repair=args.skyline_repair == "on")
            print(f"== {split}, baseline: depth={result['baseline']['depth']}, sky={result['baseline']['sky']}")
            print_table(base_rows, base_summary)
            result["splits"]["baseline_" + split] = {"summary": base_summary, "photos": base_rows}
        rows, maps, summary = evaluate(photos, depth, sky, skyline_repair=args.skyline_repair == "on")
        print(f"== {split}: {len(photos)} photos (depth={args.depth}, sky={args.sky})")
        print_table(rows, summary)
        result["splits"][split] = {"summary": summary, "photos": rows}
        if args.sheet and split == splits[0]:
            contact_sheet(photos, maps, args.sheet, baseline_maps=base_maps)
            print("wrote", args.sheet)
    result["seconds_total"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} in {result['seconds_total']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
