"""Do long flights stay a landscape? Pixel-only measures and contact sheets of held-out photos.

    python benchmarks/bench_flights.py [--weights default] [--depth default] [--sky default]
        [--frames 120] [--threads 2]
        [--photos examples/hills.jpg,examples/valendas.jpg,examples/fog.jpg]
        [--trajectories autopilot,pan,orbit] [--sheets docs] [--out benchmarks/results/flights.json]

For each photo and trajectory it flies ``--frames`` frames with the weights' settings (seed 0)
and measures the frames from their pixels alone, with the independent measures of
``../shared/tools/flight_measures.py`` (relative to frame 0):

- structure: gradient energy at shape scale (area-averaged to 64 and 32 px), the lower of the two;
- balance: horizontal over vertical gradient on the 64 px grid (sideways streaks fall far below 1);
- sky kept: share of pixels nearer the photo's sky colours than its ground colours, the palettes
  taken with the photo's hand-checked mask from ``data/real_photos/sky``.

A flight keeps a landscape when structure >= 0.5 at frames 60 and 119, balance is within
0.5-2x, and (photos with sky) sky kept >= 0.7 at frames 50 and 99. ``--sheets DIR`` writes one
contact sheet per photo (rows: trajectories; columns: frames 0, 30, 60, 90, 119).
Nothing the loop reports about itself is used.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from infinitenature import FlyThrough, config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import commit  # noqa: E402

MEASURES = ROOT.parent / "shared" / "tools" / "flight_measures.py"
MASKS = ROOT / "data" / "real_photos" / "sky"
SHEET_FRAMES = (0, 30, 60, 90, 119)
DEFAULT_PHOTOS = "examples/hills.jpg,examples/valendas.jpg,examples/fog.jpg"


def load_measures():
    """The shared, independent pixel measures (``../shared/tools/flight_measures.py``)."""
    if not MEASURES.is_file():
        raise SystemExit(f"bench_flights: error: the pixel measures are missing ({MEASURES})")
    spec = importlib.util.spec_from_file_location("flight_measures", MEASURES)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def has_sky(mask: Path) -> bool:
    """Whether a hand-checked mask (255 sky, 128 uncertain, 0 not sky) has any sure sky pixel."""
    from PIL import Image

    with Image.open(mask) as im:
        return bool((np.asarray(im) == 255).any())


def measure(m, frames: np.ndarray, photo: Path, mask: Path | None) -> dict:
    """Structure and balance at frames 30/60/90/119 and sky kept at 50/99, relative to frame 0."""
    first, b0 = frames[0], m.balance(frames[0])
    at = [i for i in (30, 60, 90, 119) if i < len(frames)]
    out = {
        "structure": {i: round(m.structure(frames[i], first), 3) for i in at},
        "balance": {i: round(m.balance(frames[i]) / b0, 3) for i in at},
    }
    if mask is not None:
        pal = m.palettes(str(photo), str(mask))
        k0 = m.sky_share(first, pal)
        out["sky_kept"] = {i: round(m.sky_share(frames[i], pal) / max(k0, 1e-6), 3) for i in (50, 99) if i < len(frames)}
        out["sky_share_frame0"] = round(k0, 3)
    s, b = out["structure"], out["balance"]
    keeps = all(s.get(i, 1) >= 0.5 for i in (60, 119)) and all(0.5 <= v <= 2 for v in b.values())
    if mask is not None and out["sky_share_frame0"] > 0.02:
        keeps = keeps and all(v >= 0.7 for v in out["sky_kept"].values())
    out["keeps_landscape"] = bool(keeps)
    return out


def sheet(rows: list[np.ndarray], path: Path) -> None:
    """Rows of frames (each ``(T, H, W, 3)``) at ``SHEET_FRAMES`` side by side, 4 px gaps."""
    from PIL import Image

    h, w = rows[0].shape[1:3]
    cols = [i for i in SHEET_FRAMES if i < len(rows[0])]
    img = np.full((len(rows) * (h + 4) - 4, len(cols) * (w + 4) - 4, 3), 255, np.uint8)
    for r, frames in enumerate(rows):
        for c, i in enumerate(cols):
            img[r * (h + 4) : r * (h + 4) + h, c * (w + 4) : c * (w + 4) + w] = frames[i]
    Image.fromarray(img).save(path)


def table(data: dict) -> str:
    """Markdown: one row per photo and trajectory, structure / balance / sky kept and the verdict."""
    head = "| photo | trajectory | structure 60 / 119 | balance 30 / 60 / 90 / 119 | sky kept 50 / 99 | keeps a landscape |"
    lines = [head, "|---|---|---|---|---|---|"]

    def cells(d: dict, keys) -> str:
        return " / ".join(f"{d[str(k)] if str(k) in d else d.get(k, float('nan')):.2f}" for k in keys)

    for r in data["runs"]:
        sky = cells(r["sky_kept"], (50, 99)) if "sky_kept" in r else "-"
        lines.append(
            f"| {r['photo']} | {r['trajectory']} | {cells(r['structure'], (60, 119))} | "
            f"{cells(r['balance'], (30, 60, 90, 119))} | {sky} | {'yes' if r['keeps_landscape'] else 'no'} |"
        )
    return "\n".join(lines)


def parse_setting(text: str, ap: argparse.ArgumentParser) -> tuple[str, object]:
    """``--set NAME=VALUE`` to ``(name, value)`` (``config.parse_setting``), or an argparse error."""
    try:
        return config.parse_setting(text)
    except ValueError as e:
        ap.error(f"--set: {e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="default")
    ap.add_argument("--depth", default="default", help="depth estimator (a name or .safetensors path for load_depth)")
    ap.add_argument("--sky", default="default", help="sky estimator (a name or .safetensors path for load_sky)")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photos", default=DEFAULT_PHOTOS)
    ap.add_argument("--trajectories", default="autopilot,pan,orbit")
    ap.add_argument("--sheets", default=None, help="folder for one contact sheet per photo (e.g. docs)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a loop setting override (a JSON value, or a bare string)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "flights.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    m = load_measures()
    overrides = dict(parse_setting(s, ap) for s in a.set)
    pipe = FlyThrough.from_pretrained(a.weights, depth=a.depth, sky=a.sky, **overrides)
    pipe.set_progress_bar_config(disable=True)
    runs = []
    for photo in (ROOT / p if not Path(p).is_absolute() else Path(p) for p in a.photos.split(",")):
        mask = MASKS / f"{photo.stem}.png"
        mask = mask if mask.is_file() and has_sky(mask) else None  # sky kept needs sky to keep
        rows = []
        for traj in a.trajectories.split(","):
            t0 = time.perf_counter()
            out = pipe(photo, num_frames=a.frames, seed=0, trajectory=traj)
            seconds = time.perf_counter() - t0
            r = {"photo": photo.name, "trajectory": traj, "frames": a.frames, "fps": round(a.frames / seconds, 2), **measure(m, out.frames, photo, mask)}
            runs.append(r)
            rows.append(out.frames)
            print(json.dumps(r), flush=True)
        if a.sheets:
            Path(a.sheets).mkdir(parents=True, exist_ok=True)
            sheet(rows, Path(a.sheets) / f"flights_{photo.stem}.png")
    command = shlex.join(["python", "benchmarks/bench_flights.py", *(sys.argv[1:] if argv is None else argv)])
    result = {
        "script": "benchmarks/bench_flights.py",
        "command": command,
        "commit": commit(),
        "weights": a.weights,
        "depth": a.depth,
        "sky": a.sky,
        "overrides": overrides,
        "threads": a.threads,
        "torch": torch.__version__,
        "runs": runs,
    }
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
