"""``infinitenature eval PHOTOS_DIR``: score flythroughs of a folder of photos.

For every photo it runs one autopilot flythrough and reports its stability
(relative sharpness, colour drift, sky fraction, camera motion; see
``metrics.stability_report``), then FID/KID of all generated frames against the
photos themselves (their centred square crops at the generator's resolution,
i.e. the first frame of each run). It prints a table and writes a JSON report.

FID/KID use ``RandomConvFeatures`` unless ``--inception`` gives the FID
Inception weights; the former numbers are comparable only with each other.
With few photos FID is biased upward (KID is not); at least 2 photos are needed.

Examples::

    infinitenature eval my_photos/ --frames 100 --out report.json
    python -m infinitenature.metrics my_photos/ --weights my_generator.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["main", "evaluate_photos"]

EXIT_USAGE = 2
PROG = "infinitenature eval"


class _UsageError(Exception):
    """A user-facing failure: one line on stderr, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    from ..cli import OneLineArgumentParser

    p = OneLineArgumentParser(prog=PROG, description="Score flythroughs of every photo in a folder (stability, FID/KID).")
    p.add_argument("photos_dir", metavar="PHOTOS_DIR", help="folder of photos (jpg, png, webp, bmp; searched recursively)")
    p.add_argument("--weights", default="default", help="generator: 'default', our .safetensors, or the official .tar")
    p.add_argument("--depth", default="default", help="depth model: 'default', 'hf:<model>', or a disparity .npy/image")
    p.add_argument("--sky", default="default", help="sky model: 'default', 'hf:<model>', or a sky mask image")
    p.add_argument("--frames", type=int, default=100, help="frames per flythrough, including the photo (default 100)")
    p.add_argument("--seed", type=int, default=0, help="sequence seed (default 0)")
    p.add_argument("--out", default="report.json", help="JSON report path (default report.json)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--inception", default=None, help="FID Inception weights (pt_inception-2015-12-05) for published-style FID/KID")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    p.add_argument("--quiet", action="store_true", help="print only the table")
    return p


def evaluate_photos(pipe, photos: list[Path], *, frames: int, seed: int = 0, feature_net=None, log=None) -> dict:
    """Fly through every photo and score the runs.

    Args:
        pipe: a ``FlyThrough``.
        photos: photo paths (unreadable ones are reported under ``"failed"``).
        frames: frames per run (>= 2), including the photo.
        seed: sequence seed.
        feature_net: FID/KID feature network (default ``RandomConvFeatures()``).
        log: ``print``-like callable for progress lines, or ``None``.

    Returns:
        A JSON-ready dict: ``"photos"`` (per-photo stability report, warnings,
        ms per frame), ``"failed"``, ``"summary"`` (means at the last frame) and
        ``"fid"`` (``None`` with fewer than 2 photos).
    """
    import torch

    from ..io import ImageError
    from .features import RandomConvFeatures
    from .fid import compute_kid, feature_stats, frechet_distance
    from .protocol import flight_stability, fly

    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    net = RandomConvFeatures() if feature_net is None else feature_net
    steps = sorted({int(round(s)) for s in np.linspace(0, frames - 1, num=min(5, frames))})
    rows, failed, generated, references = [], [], [], []
    for i, photo in enumerate(photos):
        try:
            rec = fly(pipe, num_frames=frames, image=str(photo), seed=seed)
        except ImageError as e:
            failed.append({"photo": str(photo), "error": " ".join(str(e).split())})
            continue
        rows.append({
            "photo": str(photo),
            "ms_per_frame": rec.ms_per_frame,
            "stage_ms": rec.stage_ms,
            "report": flight_stability(rec, steps),
        })  # fmt: skip
        references.append(rec.frames[0])
        generated.append(rec.frames[1:])
        if log:
            log(f"[{i + 1}/{len(photos)}] {Path(photo).name}: {frames} frames, {rec.ms_per_frame:.0f} ms/frame")
    if not rows:
        raise ValueError(f"none of the {len(photos)} photos could be read (first error: {failed[0]['error']})")

    def last(key: str) -> float:
        vals = [r["report"][key][-1] for r in rows if key in r["report"]]
        return float(np.nanmean(vals)) if vals else float("nan")

    summary = {k: last(k) for k in ("relative_sharpness", "colour_drift_lab", "sky_fraction")}
    summary["mean_translation"] = float(np.mean([r["report"]["motion"]["mean_translation"] for r in rows]))
    summary["mean_hole_fraction"] = float(np.mean([r["report"].get("mean_hole_fraction", 0.0) for r in rows]))
    fid = None
    if len(references) >= 2:
        ref = feature_stats(np.stack(references), net, keep_features=True)
        gen = feature_stats(np.concatenate(generated), net, keep_features=True)
        n = min(ref.count, gen.count)
        kid, kid_std = compute_kid(gen, ref, subsets=100, subset_size=n, generator=torch.Generator().manual_seed(seed))
        fid = {
            "feature_net": net.name,
            "fid": frechet_distance(gen.mu, gen.sigma, ref.mu, ref.sigma),
            "kid": kid,
            "kid_std": kid_std,
            "generated_frames": gen.count,
            "reference_photos": ref.count,
        }
    return {"photos": rows, "failed": failed, "summary": summary, "steps": steps, "fid": fid}


def _table(result: dict) -> str:
    head = f"{'photo':<28}{'ms/frame':>9}{'sharp@end':>10}{'drift@end':>10}{'sky@end':>8}{'move/step':>10}{'painted':>9}"
    lines = [head, "-" * len(head)]
    for r in result["photos"]:
        rep = r["report"]
        lines.append(
            f"{Path(r['photo']).name[:27]:<28}{r['ms_per_frame']:>9.0f}{rep['relative_sharpness'][-1]:>10.3f}"
            f"{rep['colour_drift_lab'][-1]:>10.2f}{rep['sky_fraction'][-1]:>8.2f}{rep['motion']['mean_translation']:>10.3f}"
            f"{rep.get('mean_hole_fraction', 0.0):>9.2%}"
        )
    s = result["summary"]
    lines.append(
        f"{'mean':<28}{'':>9}{s['relative_sharpness']:>10.3f}{s['colour_drift_lab']:>10.2f}{s['sky_fraction']:>8.2f}{s['mean_translation']:>10.3f}"
        f"{s['mean_hole_fraction']:>9.2%}"
    )
    lines.append("painted: share of each frame that was a hole the refiner filled, mean over the run")
    fid = result["fid"]
    if fid is None:
        lines.append("FID/KID: skipped (needs at least 2 photos)")
    else:
        lines.append(
            f"FID {fid['fid']:.2f}  KID {fid['kid']:.4f} +- {fid['kid_std']:.4f}  ({fid['generated_frames']} frames vs "
            f"{fid['reference_photos']} photos, features {fid['feature_net']})"
        )
    for f in result["failed"]:
        reason = f["error"].removeprefix(f"{f['photo']}: ")  # image errors name the file first
        lines.append(f"skipped {f['photo']}: {reason}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from ..train.data import list_photos

    try:
        photos = list_photos(args.photos_dir)
    except ValueError as e:
        raise _UsageError(str(e)) from None
    if args.frames < 2:
        raise _UsageError(f"--frames must be >= 2, got {args.frames}")
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise _UsageError(f"{out} already exists (use --overwrite to replace it)")
    blocking = next((p for p in out.parents if p.exists()), None)
    if blocking is not None and not blocking.is_dir():  # checked before the flights, not after them
        raise _UsageError(f"--out: {blocking} is a file, not a folder")

    import torch

    from ..devices import resolve_device
    from .protocol import build_pipeline, machine_info

    try:
        device = resolve_device(args.device)
    except ValueError as e:
        raise _UsageError(f"--device: {e}") from None
    feature_net = None
    try:
        pipe = build_pipeline(args.weights, depth=args.depth, sky=args.sky, device=device)
        if args.inception:
            from .features import InceptionV3Features

            feature_net = InceptionV3Features(args.inception).to(device)
    except (FileNotFoundError, ValueError, TypeError, ImportError, OSError) as e:
        raise _UsageError(" ".join(str(e).split())) from None
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    t0 = time.perf_counter()
    try:
        result = evaluate_photos(pipe, photos, frames=args.frames, seed=args.seed, feature_net=feature_net, log=log)
    except ValueError as e:
        raise _UsageError(" ".join(str(e).split())) from None
    report = {
        "command": "infinitenature eval " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "weights": str(args.weights),
        "depth": str(args.depth),
        "sky": str(args.sky),
        "frames": args.frames,
        "seed": args.seed,
        "runtime_s": time.perf_counter() - t0,
        **result,
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    except OSError as e:
        raise _UsageError(f"cannot write {out}: {e.strerror or e}") from None
    print(_table(result))
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``infinitenature eval``. Returns the exit code (2 on user errors)."""
    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        return _run(args)
    except _UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
