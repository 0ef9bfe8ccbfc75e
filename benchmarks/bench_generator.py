"""Generator speed on CPU: ms per 128 px frame, GFLOPs, and efficiency against a plain conv.

For the official-size CoModGenerator and two small widths, measures one refine
step (feature encoder + synthesis, batch 1, no grad) and the style encoder
(once per sequence), counts FLOPs with ``torch.utils.flop_counter.FlopCounterMode``,
and compares the achieved GFLOP/s with that of a plain 3x3 conv2d
(256 -> 256 channels, 64 x 64, batch 1) measured in the same run, interleaved
with the model runs so that both see the same machine load.

    python benchmarks/bench_generator.py            # writes benchmarks/results/generator_speed.json
    python benchmarks/bench_generator.py --repeats 9 --threads 2 --memory-format both
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from infinitenature.models import CoModGenerator, GeneratorConfig  # noqa: E402

VARIANTS: dict[str, GeneratorConfig] = {
    "official (f_max=512, latent 512)": GeneratorConfig(),
    "small (f_max=128, latent 256)": GeneratorConfig(f_max=128, latent_dim=256),
    "tiny (f_max=64, latent 128)": GeneratorConfig(f_max=64, latent_dim=128),
    "shipped default (f_base 2048, f_max 128, latent 256)": GeneratorConfig(
        f_base=2048, f_base_style=1024, f_max=128, latent_dim=256, mapping_layers=4
    ),
}


def count_gflops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def bench_variant(
    name: str, config: GeneratorConfig, *, repeats: int, channels_last: bool, conv_fn, threads: int, clock
) -> dict:
    torch.set_num_threads(threads)

    def time_once(fn) -> float:
        t = clock()
        fn()
        return clock() - t

    torch.manual_seed(0)
    g = CoModGenerator(config).eval()
    mf = torch.channels_last if channels_last else torch.contiguous_format
    for p in g.parameters():  # to(memory_format=...) rejects the 5-D modulated weights
        if p.ndim == 4:
            p.data = p.data.contiguous(memory_format=mf)
    r = config.resolution
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, r, r, generator=gen)
    disp = torch.rand(1, 1, r, r, generator=gen)
    mask = (torch.rand(1, 1, r, r, generator=gen) > 0.3).float()
    x = (torch.cat([rgb * mask, disp * mask, mask], 1) * 2 - 1).contiguous(memory_format=mf)
    rgbd = (torch.cat([rgb, disp], 1) * 2 - 1).contiguous(memory_format=mf)
    z = torch.randn(1, config.latent_dim, generator=gen)
    noise_gen = torch.Generator().manual_seed(1)

    with torch.no_grad():
        code = g.encode_style(rgbd)

        def frame():
            return g.synthesize(g.encode_features(x), code, z, noise="random", generator=noise_gen)

        def style():
            return g.encode_style(rgbd)

        gflops_frame = count_gflops(frame)
        gflops_style = count_gflops(style)
        for _ in range(2):  # warm-up (oneDNN primitive caches, allocator)
            frame()
            style()
        frame_s, style_s, conv_s = [], [], []
        for _ in range(repeats):
            conv_s.append(min(time_once(conv_fn) for _ in range(3)))
            frame_s.append(time_once(frame))
            style_s.append(time_once(style))

    conv_gflops = CONV_GFLOP
    med_frame, min_frame = statistics.median(frame_s), min(frame_s)
    med_conv, min_conv = statistics.median(conv_s), min(conv_s)
    return {
        "variant": name,
        "config": dataclasses.asdict(config),
        "memory_format": "channels_last" if channels_last else "contiguous",
        "threads": threads,
        "clock": "process CPU time" if clock is time.process_time else "wall clock",
        "parameters": g.num_parameters(),
        "gflops_per_frame": round(gflops_frame, 3),
        "gflops_style_encoder": round(gflops_style, 3),
        "ms_per_frame_median": round(med_frame * 1e3, 2),
        "ms_per_frame_min": round(min_frame * 1e3, 2),
        "ms_style_encoder_median": round(statistics.median(style_s) * 1e3, 2),
        "gflops_per_s_median": round(gflops_frame / med_frame, 2),
        "gflops_per_s_best": round(gflops_frame / min_frame, 2),
        "plain_conv_gflops_per_s_median": round(conv_gflops / med_conv, 2),
        "plain_conv_gflops_per_s_best": round(conv_gflops / min_conv, 2),
        "ratio_to_plain_conv_median": round((gflops_frame / med_frame) / (conv_gflops / med_conv), 3),
        "ratio_to_plain_conv_best": round((gflops_frame / min_frame) / (conv_gflops / min_conv), 3),
        "repeats": repeats,
    }


CONV_GFLOP = 2 * 256 * 256 * 9 * 64 * 64 / 1e9  # multiply-adds counted as 2 FLOPs, as FlopCounterMode does


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--no-single-thread",
        action="store_true",
        help="skip the extra 1-thread run timed with process CPU time (robust to other jobs on the machine)",
    )
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--memory-format", choices=["contiguous", "channels_last", "both"], default="both")
    ap.add_argument("--variants", nargs="*", default=None, help="substrings of variant names to run (default: all)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "generator_speed.json")
    args = ap.parse_args()

    load_before = os.getloadavg()
    gen = torch.Generator().manual_seed(0)
    conv_x = torch.randn(1, 256, 64, 64, generator=gen)
    conv_w = torch.randn(256, 256, 3, 3, generator=gen) / 48

    def conv_fn():
        with torch.no_grad():
            return F.conv2d(conv_x, conv_w, padding=1)

    assert abs(count_gflops(conv_fn) - CONV_GFLOP) < 1e-6
    formats = {"contiguous": [False], "channels_last": [True], "both": [False, True]}[args.memory_format]
    timings = [(args.threads, time.perf_counter)]
    if not args.no_single_thread:
        timings.append((1, time.process_time))
    rows = []
    for name, cfg in VARIANTS.items():
        if args.variants and not any(v in name for v in args.variants):
            continue
        for cl in formats:
            for threads, clock in timings:
                row = bench_variant(
                    name, cfg, repeats=args.repeats, channels_last=cl, conv_fn=conv_fn, threads=threads, clock=clock
                )
                rows.append(row)
                print(
                    f"{row['variant']:<34} {row['memory_format']:<13} {threads}T {row['clock'][:4]} "
                    f"{row['parameters'] / 1e6:6.2f}M  "
                    f"{row['gflops_per_frame']:6.2f} GFLOP  {row['ms_per_frame_median']:8.1f} ms/frame "
                    f"(best {row['ms_per_frame_min']:7.1f})  style {row['ms_style_encoder_median']:6.1f} ms  "
                    f"{row['gflops_per_s_median']:6.1f} GFLOP/s  conv {row['plain_conv_gflops_per_s_median']:6.1f}  "
                    f"ratio {row['ratio_to_plain_conv_median']:.3f} (best {row['ratio_to_plain_conv_best']:.3f})",
                    flush=True,
                )
    result = {
        "benchmark": "generator forward per 128 px frame (feature encoder + synthesis), batch 1, no grad",
        "note": (
            "CPU shared with other engineers' jobs: the machine may have been loaded (see load averages); "
            "medians over interleaved repeats, the plain conv timed next to each model run."
        ),
        "torch": torch.__version__,
        "single_thread_note": "rows with threads=1 are timed with process CPU time, which other jobs barely disturb",
        "cpu": _cpu_name(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "plain_conv": "conv2d 3x3, 256 -> 256 channels, 64 x 64, batch 1, 4.832 GFLOP",
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
