"""Train, evaluate and look at the shipped depth and sky networks.

Train on procedural landscapes (``infinitenature.synthetic``) with
photo-like augmentations, then evaluate on scenes whose seeds training never
used::

    python -m infinitenature.train.estimators --out weights/ --minutes 15
    python -m infinitenature.train.estimators --eval-only --out weights/
    python -m infinitenature.train.estimators --sheet docs/estimators_photos.png \\
        --photos /work/shared/data/photos

With ``--real-photos data/real_photos --real-split train`` a share of every
batch (``--real-share``) comes from real photos with hand-checked sky masks
(crops at many scales, flips, colour changes, JPEG; uncertain mask pixels are
left out of the loss), and sky bands are copy-pasted between real photos and
renders (``--copy-paste``). ``--real-ground-crops P`` takes that share of the
real crops entirely inside a photo's sure ground (no sky, no uncertain pixel):
close-up, sky-free negatives. ``--sky-only`` trains and saves the sky network
alone (e.g. fine-tuning it from ``--init``)::

    python -m infinitenature.train.estimators --sky-only --init weights/ --out runs/sky \\
        --real-photos data/real_photos --real-split train --minutes 20

``--standing P`` stands trunks, trees, stalks and rocks on the ground of that
share of the rendered views (``standing_objects.paste_standing``), each as
far away as the ground under it, all the way up: procedural terrain alone
teaches that higher in the frame is farther, which upright things break.

Training renders a pool of random views of procedural scenes once (cached as
safetensors in the run folder), then draws random augmented crops from it. Each run folder gets the
resolved options (``options.json``) and one JSON line of statistics per log
interval (``stats.jsonl``). ``--dry-run`` prints the options and stops.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..weights import load_model, read_metadata, save_model
from .estimator_augment import AugmentConfig, _geometric, _photometric, augment, load_real_sky, paste_sky, real_sky_batch, sky_plates
from .standing_objects import paste_standing
from .estimator_losses import gradient_matching_loss, ordinal_agreement_counts, sky_iou_counts, sky_loss, ssi_loss
from ..estimators.nets import DepthNet, DepthNetConfig, SkyNet, SkyNetConfig

__all__ = ["TrainOptions", "render_views", "render_pool", "train", "evaluate", "photo_sheet", "main"]

#: Held-out evaluation scenes use seeds from here on; training uses seeds below it.
EVAL_SEED_OFFSET = 1_000_000


@dataclass
class TrainOptions:
    """Options of one training run (defaults are those of the shipped weights)."""

    out: Path = Path("weights")  # where depth-default / sky-default .safetensors go
    run_dir: Path = Path("runs/estimators")  # render cache, options.json, stats.jsonl
    train_scenes: int = 48  # training scenes: seeds 0 .. train_scenes-1
    views: int = 16  # random cameras per training scene
    eval_scenes: int = 32  # held-out scenes: seeds EVAL_SEED_OFFSET + i
    eval_views: int = 2  # random cameras per held-out scene
    render_size: int = 224  # side of the rendered training images
    working_size: int = 192  # network input side at inference (multiple of 32)
    train_size: int = 128  # side of the training crops (cheaper; crops zoom 0.5-1x, so scales overlap)
    train_sizes: tuple[int, ...] = ()  # if given: each step draws crop height and width from these (sky-only runs)
    widths: tuple[int, ...] = (16, 32, 48, 96, 128)  # U-Net channels per level
    blocks: int = 2  # residual blocks per encoder stage
    batch: int = 16
    steps: int = 3000  # upper bound on optimizer steps
    minutes: float = 15.0  # wall-clock budget for the optimization loop
    lr: float = 3e-3  # AdamW peak learning rate (cosine decay, 100 warm-up steps)
    weight_decay: float = 1e-4
    grad_weight: float = 0.5  # gradient-matching term of the depth loss
    anchor_weight: float = 0.1  # plain L1 to the normalized target: keeps outputs in (0, 1] range
    dice_weight: float = 0.5  # dice term of the sky loss
    threads: int = 1  # torch CPU threads (1 is fastest on a shared, busy machine)
    seed: int = 0  # seeds initialisation, batches and augmentations
    log_every: int = 25
    init: Path | None = None  # continue from the depth-/sky-default.safetensors in this folder
    sky_only: bool = False  # train and save only the sky network
    real_photos: Path | None = None  # real-photo set (images/, sky/, split.json) mixed into sky training
    real_split: str = "train"  # split of --real-photos to train on
    real_exclude: str = ""  # comma-separated photos of that split to leave out (validation)
    real_share: float = 0.5  # fraction of each sky batch drawn from the real photos
    copy_paste: float = 0.3  # probability per sample of pasting another image's sky band over its sky
    real_ground_crops: float = 0.0  # probability per real crop of a window entirely inside a photo's sure ground (no sky)
    standing: float = 0.0  # probability per rendered sample of objects stood on its ground (paste_standing)
    sky_top_connected: bool = False  # save the sky net with SkyNetConfig.top_connected (damp sky islands at inference)


# ----------------------------------------------------------------------------- data


def render_views(seed: int, views: int, size: int) -> dict[str, Tensor]:
    """Render ``views`` random cameras in the procedural scene ``seed`` (deterministic).

    Cameras sit 0.4-6 units above the valley floor anywhere along it, yaw
    +-35 degrees off the valley direction, pitch -14..+6 degrees, field of view
    45-75 degrees: the spread of landscape photos.

    Returns:
        ``rgb (V, 3, S, S)`` in ``[0, 1]``, ``disparity (V, 1, S, S)`` normalized
        (``depth_to_disparity`` then ``normalize_disparity``), ``sky (V, 1, S, S)`` in ``{0, 1}``.
    """
    from ..geometry import intrinsics_from_fov
    from ..synthetic.landscape import Landscape
    from ..estimators.normalize import depth_to_disparity, normalize_disparity

    scene = Landscape(seed)
    g = torch.Generator().manual_seed(seed)
    out: dict[str, list[Tensor]] = {"rgb": [], "disparity": [], "sky": []}
    for _ in range(views):
        u = torch.rand(5, generator=g).tolist()
        pose = scene.pose_at(
            400.0 * u[0],
            clearance=0.4 * 15.0 ** u[1],
            yaw_deg=70.0 * u[2] - 35.0,
            pitch_deg=20.0 * u[3] - 14.0,
        )
        K = intrinsics_from_fov(size, size, 45.0 + 30.0 * u[4])
        r = scene.render(pose, K, size, size)
        out["rgb"].append(r["rgb"].clamp(0, 1))
        out["disparity"].append(normalize_disparity(depth_to_disparity(r["depth"])[None])[0])
        out["sky"].append(r["sky"].float())
    return {k: torch.stack(v) for k, v in out.items()}


def render_pool(first_seed: int, scenes: int, views: int, size: int, cache_dir: Path | None = None) -> dict[str, Tensor]:
    """``render_views`` for scenes ``first_seed .. first_seed + scenes - 1``, cached as safetensors.

    Returns:
        ``rgb (N, 3, S, S)`` float in ``[0, 1]``, ``disparity (N, 1, S, S)``,
        ``sky (N, 1, S, S)`` with ``N = scenes * views``.
    """
    from safetensors.torch import load_file, save_file

    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"pool_{first_seed}_{scenes}x{views}_{size}.safetensors"
    if cache is not None and cache.is_file():
        data = load_file(str(cache))
    else:
        parts: dict[str, list[Tensor]] = {"rgb": [], "disparity": [], "sky": []}
        t0 = time.perf_counter()
        for i in range(scenes):
            r = render_views(first_seed + i, views, size)
            parts["rgb"].append((r["rgb"] * 255).round().to(torch.uint8))
            parts["disparity"].append(r["disparity"].to(torch.float16))
            parts["sky"].append(r["sky"].to(torch.uint8))
            print(f"rendered scene {i + 1}/{scenes} ({time.perf_counter() - t0:.0f} s)", flush=True)
        data = {k: torch.cat(v) for k, v in parts.items()}
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_file(data, str(cache))
    return {"rgb": data["rgb"].float() / 255, "disparity": data["disparity"].float(), "sky": data["sky"].float()}


# ----------------------------------------------------------------------------- training


def depth_loss(logits: Tensor, target: Tensor, opts: TrainOptions) -> Tensor:
    """SSI L1 + gradient matching on the predicted disparity + a light anchor to the target."""
    pred = torch.sigmoid(logits)
    return (
        ssi_loss(pred, target)
        + opts.grad_weight * gradient_matching_loss(pred, target)
        + opts.anchor_weight * (pred - target).abs().mean()
    )


def _lr(step: int, progress: float, opts: TrainOptions) -> float:
    """Linear warm-up over 100 steps, then cosine decay over ``progress`` in ``[0, 1]``."""
    warm = min(1.0, (step + 1) / 100)
    return opts.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(opts: TrainOptions) -> dict:
    """Train both networks, save them to ``opts.out`` and return the run summary."""
    torch.set_num_threads(opts.threads)
    run_dir = Path(opts.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "options.json").write_text(json.dumps(_jsonable(opts), indent=2))
    t_render = time.perf_counter()
    pool = render_pool(0, opts.train_scenes, opts.views, opts.render_size, run_dir)
    render_s = time.perf_counter() - t_render

    real = None
    if opts.real_photos is not None:
        exclude = [x.strip() for x in opts.real_exclude.split(",") if x.strip()]
        real = load_real_sky(opts.real_photos, opts.real_split, exclude=exclude)
    n_real = round(opts.batch * opts.real_share) if real is not None else 0

    torch.manual_seed(opts.seed)  # CLI entry point: seeds the layers' default initialisation
    net_kw = dict(working_size=opts.working_size, widths=tuple(opts.widths), blocks=opts.blocks)
    depth = None if opts.sky_only else DepthNet(DepthNetConfig(**net_kw)).train()
    sky = SkyNet(SkyNetConfig(**net_kw)).train()
    previous_steps = 0
    if opts.init is not None:
        if depth is not None:
            depth = load_model(Path(opts.init) / "depth-default.safetensors", kind="depth").train()
        sky = load_model(Path(opts.init) / "sky-default.safetensors", kind="sky").train()
        first = "sky" if opts.sky_only else "depth"
        previous_steps = int(read_metadata(Path(opts.init) / f"{first}-default.safetensors")["extra"].get("total_steps", 0))
    params = ([] if depth is None else list(depth.parameters())) + list(sky.parameters())
    optim = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    g = torch.Generator().manual_seed(opts.seed)
    aug = AugmentConfig()
    n = pool["rgb"].shape[0]
    # Sky bands for copy-paste: real ones go over rendered ground, rendered and real ones over real ground.
    real_plates = real.plates if real is not None else []
    render_plates = sky_plates(pool["rgb"], pool["sky"]) if real is not None else []

    # The schedule runs on progress = the larger of the step and time fractions,
    # so a busy machine shortens the run instead of cutting it off mid-decay.
    stats_path = run_dir / "stats.jsonl"
    stats_path.write_text("")
    t0 = time.perf_counter()
    running = {"depth": 0.0, "sky": 0.0}
    step, progress, since_log = 0, 0.0, 0
    while progress < 1.0:
        idx = torch.randint(0, n, (opts.batch,), generator=g)
        crop: int | tuple[int, int] = opts.train_size
        if opts.train_sizes:
            pick = torch.randint(0, len(opts.train_sizes), (2,), generator=g).tolist()
            crop = (opts.train_sizes[pick[0]], opts.train_sizes[pick[1]])
        if real is None and opts.standing == 0:
            batch = augment({k: v[idx] for k, v in pool.items()}, size=opts.train_size, config=aug, generator=g)
        else:
            batch = _geometric({k: v[idx] for k, v in pool.items()}, crop, aug, g)
            batch = paste_standing(batch, opts.standing, g)
            batch["rgb"] = paste_sky(batch["rgb"], batch["sky"], real_plates, opts.copy_paste, g)
            batch["rgb"] = _photometric(batch["rgb"], batch["disparity"], batch["sky"], aug, g)
        if real is None:
            sky_rgb, sky_target, sky_weight = batch["rgb"], batch["sky"], None
        else:
            rb = real_sky_batch(
                real,
                n_real,
                size=crop,
                plates=real_plates + render_plates,
                paste=opts.copy_paste,
                generator=g,
                ground=opts.real_ground_crops,
            )
            keep = opts.batch - n_real  # rendered samples in the sky batch
            sky_rgb = torch.cat([batch["rgb"][:keep], rb["rgb"]])
            sky_target = torch.cat([batch["sky"][:keep], rb["sky"]])
            sky_weight = torch.cat([torch.ones_like(batch["sky"][:keep]), rb["valid"]])
        ld = depth_loss(depth.logits(batch["rgb"]), batch["disparity"], opts) if depth is not None else torch.zeros(())
        ls = sky_loss(sky.logits(sky_rgb), sky_target, dice_weight=opts.dice_weight, weight=sky_weight)
        lr = _lr(step, progress, opts)
        for group in optim.param_groups:
            group["lr"] = lr
        optim.zero_grad(set_to_none=True)
        (ld + ls).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        step += 1
        since_log += 1
        running["depth"] += ld.item()
        running["sky"] += ls.item()
        elapsed = time.perf_counter() - t0
        progress = max(step / opts.steps, elapsed / (opts.minutes * 60))
        if step % opts.log_every == 0 or progress >= 1.0:
            line = {"step": step, "seconds": round(elapsed, 1), "progress": round(progress, 4), "lr": round(lr, 6)}
            line.update({f"loss_{key}": round(v / since_log, 5) for key, v in running.items()})
            running, since_log = {"depth": 0.0, "sky": 0.0}, 0
            with stats_path.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)
    train_s = time.perf_counter() - t0

    if depth is not None:
        depth.eval()
    sky.eval()
    if opts.sky_top_connected:
        sky.config.top_connected = True
    summary = {
        "command": "python -m infinitenature.train.estimators " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "steps": step,
        "total_steps": previous_steps + step,
        "init": str(opts.init) if opts.init is not None else None,
        "batch": opts.batch,
        "train_size": opts.train_size,
        "train_sizes": list(opts.train_sizes),
        "train_seconds": round(train_s, 1),
        "render_seconds": round(render_s, 1),
        "threads": opts.threads,
        "train_data": f"synthetic seeds 0..{opts.train_scenes - 1} x {opts.views} views at {opts.render_size} px",
        "torch": torch.__version__,
        "hardware": _hardware(opts.threads),
    }
    if real is not None:
        summary["train_data"] += (
            f"; sky: {n_real}/{opts.batch} of each batch real crops of {len(real.names)} photos of"
            f" {opts.real_photos} split {opts.real_split!r} ({', '.join(real.names)}), copy-paste {opts.copy_paste}"
        )
        if opts.real_ground_crops > 0:
            summary["train_data"] += f", ground-only crops {opts.real_ground_crops}"
    if opts.standing > 0:
        summary["train_data"] += f"; standing objects pasted on {opts.standing:.0%} of the rendered views"
    out = Path(opts.out)
    if depth is not None:
        save_model(depth, out / "depth-default.safetensors", extra=summary)
    save_model(sky, out / "sky-default.safetensors", extra=summary)
    return summary


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    depth, sky, *, scenes: int = 32, views: int = 2, size: int = 256, cache_dir: Path | None = None, seed: int = 0
) -> dict:
    """Held-out synthetic metrics of a depth and a sky estimator.

    Scenes use seeds ``EVAL_SEED_OFFSET ...`` (never used for training). The
    estimators see the clean renders through their public ``__call__``.

    Returns:
        ``{"sky_iou": ..., "ordinal_agreement": ..., "scenes": ..., "size": ...}``.
    """
    pool = render_pool(EVAL_SEED_OFFSET, scenes, views, size, cache_dir)
    g = torch.Generator().manual_seed(seed)
    inter = union = correct = total = 0
    for start in range(0, pool["rgb"].shape[0], 16):
        rgb = pool["rgb"][start : start + 16]
        i, u = sky_iou_counts(sky(rgb), pool["sky"][start : start + 16])
        c, t = ordinal_agreement_counts(depth(rgb), pool["disparity"][start : start + 16], generator=g)
        inter, union, correct, total = inter + i, union + u, correct + c, total + t
    return {
        "sky_iou": round(inter / max(union, 1), 4),
        "ordinal_agreement": round(correct / max(total, 1), 4),
        "scenes": scenes,
        "views": views,
        "size": size,
        "first_seed": EVAL_SEED_OFFSET,
    }


# ----------------------------------------------------------------------------- contact sheet


@torch.no_grad()
def photo_sheet(photos: Path, out: Path, depth, sky, *, height: int = 192) -> Path:
    """Write a contact sheet: one row per photo with photo | disparity | sky probability."""
    import imageio.v3 as iio
    import numpy as np

    rows = []
    for path in sorted(p for p in Path(photos).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        img = torch.from_numpy(np.asarray(iio.imread(path))[..., :3].copy()).permute(2, 0, 1)[None].float() / 255
        h, w = img.shape[-2:]
        img = torch.nn.functional.interpolate(img, size=(height, round(w * height / h)), mode="area")
        d = depth(img)
        d = (d - d.amin()) / (d.amax() - d.amin() + 1e-8)
        s = sky(img)
        row = torch.cat([img, _colourize(d), s.expand(-1, 3, -1, -1)], -1)
        rows.append(row)
    width = max(r.shape[-1] for r in rows)
    rows = [torch.nn.functional.pad(r, (0, width - r.shape[-1]), value=1.0) for r in rows]
    sheet = torch.cat(rows, -2)[0].permute(1, 2, 0).clamp(0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, (sheet * 255).round().byte().numpy())
    return out


def _colourize(x: Tensor) -> Tensor:
    """``(B, 1, H, W)`` in ``[0, 1]`` -> ``(B, 3, H, W)`` with a magma-like ramp (dark = far)."""
    stops = torch.tensor(
        [[0.0, 0.0, 0.02], [0.23, 0.06, 0.44], [0.55, 0.16, 0.51], [0.87, 0.32, 0.39], [0.99, 0.64, 0.36], [0.99, 0.99, 0.75]]
    )
    pos = x.clamp(0, 1) * (len(stops) - 1)
    lo = pos.floor().long().clamp(max=len(stops) - 2)
    frac = pos - lo
    c0 = stops[lo.squeeze(1)].permute(0, 3, 1, 2)
    c1 = stops[(lo + 1).squeeze(1)].permute(0, 3, 1, 2)
    return c0 * (1 - frac) + c1 * frac


# ----------------------------------------------------------------------------- CLI


def _hardware(threads: int) -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu}, {os.cpu_count()} cores, {threads} torch thread(s)"


def _jsonable(opts: TrainOptions) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(opts).items()}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infinitenature.train.estimators", description=__doc__.split("\n\n")[0])
    d = TrainOptions()
    for f in dataclasses.fields(TrainOptions):
        default = getattr(d, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, action="store_true", help="(default: off)")
        elif isinstance(default, tuple):
            p.add_argument(flag, type=int, nargs="+", default=list(default), help=f"(default: {' '.join(map(str, default))})")
        else:
            kind = Path if (isinstance(default, Path) or f.name in ("init", "real_photos")) else type(default)
            p.add_argument(flag, type=kind, default=default, help=f"(default: {default})")
    p.add_argument("--eval-only", action="store_true", help="evaluate the weights in --out on held-out scenes")
    p.add_argument("--eval-size", type=int, default=256, help="render size of the held-out scenes (default: 256)")
    p.add_argument("--sheet", type=Path, default=None, help="write a photo / disparity / sky contact sheet here and stop")
    p.add_argument("--photos", type=Path, default=None, help="folder of photos for --sheet")
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    opts = TrainOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainOptions)})
    opts.widths = tuple(opts.widths)
    opts.train_sizes = tuple(opts.train_sizes)
    for name in ("working_size", "train_size"):
        if getattr(opts, name) % 2 ** len(opts.widths):
            print(f"error: --{name.replace('_', '-')} must be a multiple of {2 ** len(opts.widths)}", file=sys.stderr)
            return 2
    if any(s <= 0 or s % 2 ** len(opts.widths) for s in opts.train_sizes):
        print(f"error: --train-sizes must be positive multiples of {2 ** len(opts.widths)}", file=sys.stderr)
        return 2
    if opts.train_sizes and opts.real_photos is None:
        print("error: --train-sizes needs --real-photos (it applies to the mixed sky batches)", file=sys.stderr)
        return 2
    if not 0 <= opts.real_share <= 1 or not 0 <= opts.copy_paste <= 1:
        print("error: --real-share and --copy-paste must lie in [0, 1]", file=sys.stderr)
        return 2
    if not 0 <= opts.real_ground_crops <= 1:
        print(f"error: --real-ground-crops must lie in [0, 1] (got {opts.real_ground_crops})", file=sys.stderr)
        return 2
    if not 0 <= opts.standing <= 1:
        print(f"error: --standing must lie in [0, 1] (got {opts.standing})", file=sys.stderr)
        return 2
    if opts.real_ground_crops > 0 and opts.real_photos is None:
        print("error: --real-ground-crops needs --real-photos", file=sys.stderr)
        return 2
    if opts.real_photos is not None:
        from .estimator_augment import load_real_sky as _check_real

        try:
            _check_real(opts.real_photos, opts.real_split, exclude=[x.strip() for x in opts.real_exclude.split(",") if x.strip()], short_side=8)
        except ValueError as e:
            print(f"error: --real-photos: {e}", file=sys.stderr)
            return 2
    if args.dry_run:
        print(json.dumps(_jsonable(opts), indent=2))
        return 0
    torch.set_num_threads(opts.threads)
    if args.sheet is not None:
        if args.photos is None or not args.photos.is_dir():
            print("error: --sheet needs --photos pointing to a folder of photos", file=sys.stderr)
            return 2
        depth = load_model(Path(opts.out) / "depth-default.safetensors", kind="depth")
        sky = load_model(Path(opts.out) / "sky-default.safetensors", kind="sky")
        print(photo_sheet(args.photos, args.sheet, depth, sky))
        return 0
    if not args.eval_only:
        print(json.dumps(train(opts)), flush=True)
    depth_file = Path(opts.out) / "depth-default.safetensors"
    if opts.sky_only and not depth_file.is_file():  # evaluate the new sky net next to the depth net it started with
        depth_file = Path(opts.init) / "depth-default.safetensors" if opts.init is not None else None
    if depth_file is None or not depth_file.is_file():
        from ..estimators import load_depth

        depth = load_depth("default")
    else:
        depth = load_model(depth_file, kind="depth")
    sky = load_model(Path(opts.out) / "sky-default.safetensors", kind="sky")
    metrics = evaluate(
        depth, sky, scenes=opts.eval_scenes, views=opts.eval_views, size=args.eval_size, cache_dir=opts.run_dir, seed=opts.seed
    )
    Path(opts.run_dir).mkdir(parents=True, exist_ok=True)
    (Path(opts.run_dir) / "eval.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
