"""Training speed: seconds per optimizer step, fp32 vs bf16 autocast (``--precision``).

Builds the shipped default's networks (128 px; ``--width default``) or a tiny pair,
trains on procedural landscapes only (no photo cache needed) and times
``Trainer.train_step`` for each stage and precision. The precisions are timed in
alternating rounds so that both see the same machine load; the first step of each
trainer is a warm-up and is not counted. Also reports how far the bf16 run's losses
are from the fp32 run's on the same batches (same seed: the same data, masks, paths
and noise).

    python benchmarks/bench_train_step.py                 # writes benchmarks/results/train_step_speed.json
    python benchmarks/bench_train_step.py --threads 2 --steps 5 --stages cyclic
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
from infinitenature.metrics.protocol import machine_info  # noqa: E402
from infinitenature.train.config import PRECISIONS, TrainConfig  # noqa: E402
from infinitenature.train.trainer import DistInfo, Trainer  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pipeline import commit  # noqa: E402

#: The shipped default generator/discriminator (weights/MODEL_CARD.md) and a tiny pair.
WIDTHS = {
    "default": dict(resolution=128, latent_dim=256, mapping_layers=4, g_f_base=2048, g_f_max=128, d_f_base=2048, d_f_max=128),
    "tiny": dict(resolution=64, latent_dim=32, mapping_layers=2, g_f_max=16, d_f_max=16),
}


def _trainer(stage: str, precision: str, width: str, batch: int, cycle_steps: int, out_dir: str) -> Trainer:
    cfg = TrainConfig(
        stage=stage, precision=precision, out_dir=out_dir, batch_size=batch, cycle_steps=cycle_steps, steps=1_000,
        synthetic_ratio=1.0, synthetic_scenes=2, synthetic_cache_scenes=2, progress=False, seed=0, **WIDTHS[width],
    )
    return Trainer(cfg, dist_info=DistInfo())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", choices=sorted(WIDTHS), default="default")
    ap.add_argument("--stages", default="mim,cyclic", help="comma-separated stages")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--cycle-steps", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per stage and precision")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_step_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    rows = []
    for stage in args.stages.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            trainers = {p: _trainer(stage, p, args.width, args.batch_size, args.cycle_steps, f"{tmp}/{p}") for p in PRECISIONS}
            data = trainers["fp32"].data
            times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
            losses: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
            for i in range(args.steps + 1):  # step 0 is the warm-up
                batch = {k: torch.stack([data[(i * args.batch_size + j) % len(data)][k] for j in range(args.batch_size)])
                         for k in ("rgb", "disparity")}
                for p, tr in trainers.items():
                    t = time.perf_counter()
                    stats = tr.train_step(batch)
                    if i:
                        times[p].append(time.perf_counter() - t)
                    losses[p].append(stats)
            row = {"stage": stage, "cycle_steps": args.cycle_steps if stage == "cyclic" else None}
            for p in PRECISIONS:
                row[f"{p}_s_per_step"] = statistics.median(times[p])
            row["bf16_speedup"] = row["fp32_s_per_step"] / row["bf16_s_per_step"]
            row["rec_fp32"] = [round(s["rec"], 5) for s in losses["fp32"]]
            row["rec_bf16"] = [round(s["rec"], 5) for s in losses["bf16"]]
            rows.append(row)
            print(f"{stage}: fp32 {row['fp32_s_per_step']:.2f} s/step, bf16 {row['bf16_s_per_step']:.2f} s/step "
                  f"({row['bf16_speedup']:.2f}x); reconstruction fp32 {row['rec_fp32']} vs bf16 {row['rec_bf16']}")

    result = {
        "benchmark": "train_step_speed",
        "command": "python benchmarks/bench_train_step.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine_info(),
        "threads": args.threads,
        "width": args.width,
        "networks": WIDTHS[args.width],
        "batch_size": args.batch_size,
        "note": "procedural landscapes only; the first step of each trainer is a warm-up and is not counted",
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
