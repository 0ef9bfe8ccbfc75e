"""Render docs/BENCHMARKS.md from benchmarks/results/*.json (optionally running the benchmarks first).

Usage::

    python benchmarks/make_report.py            # render from the existing JSON files
    python benchmarks/make_report.py --run      # run bench_speed.py and bench_quality.py, then render
    python benchmarks/make_report.py --run --weights path/to/generator.safetensors

``speed.json`` and ``quality.json`` get full tables; every other JSON file in
the results folder (written by the other ``bench_*.py`` scripts) is shown as a
flat key/value table, with the script that wrote it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "BENCHMARKS.md"

__all__ = ["render_report", "main"]


def _fmt(v, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf"
        if v != 0 and abs(v) < 10 ** (-digits):
            return f"{v:.2e}"
        return f"{v:,.{digits}f}"
    return str(v).replace("|", "\\|")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c if isinstance(c, str) else _fmt(c) for c in row) + " |" for row in rows]
    return lines


def _provenance(data: dict, script: str | None) -> list[str]:
    m = data.get("machine") or {}
    if isinstance(m, str):  # some benchmark scripts record the machine as one line
        m = {"cpu": m}
    cmd = data.get("command") or (f"python {script}" if script else "unknown")
    out = [f"- command: `{cmd}`"]
    if data.get("date"):
        out.append(f"- date: {data['date']}")
    if m:
        bits = [m.get("cpu"), f"{m.get('cpu_count')} cores" if m.get("cpu_count") else None,
                f"torch {m.get('torch')}" if m.get("torch") else None,
                f"{m['torch_threads']} thread{'s' if m['torch_threads'] != 1 else ''}" if m.get("torch_threads") else None,
                f"GPU {m['cuda']}" if m.get("cuda") else None,
                f"load average {m['load_average_1min']:.1f} at start" if m.get("load_average_1min") is not None else None,
                m.get("platform")]  # fmt: skip
        out.append("- machine: " + ", ".join(b for b in bits if b))
    if data.get("commit"):
        out.append(f"- commit: `{data['commit']}`")
    return out


def _config_names() -> tuple[dict, dict]:
    """``(published, renamed)``: the defaults of ``FlyThroughConfig()`` and old setting names -> current ones.

    Results files record the loop settings as they were when they were written; the report shows them
    under today's names, and leaves out settings the library no longer has (empty when it cannot be imported).
    """
    try:
        import dataclasses

        from infinitenature import FlyThroughConfig

        try:
            from infinitenature.config import RENAMED_SETTINGS
        except ImportError:
            RENAMED_SETTINGS = {}
        return dataclasses.asdict(FlyThroughConfig()), dict(RENAMED_SETTINGS)
    except Exception:  # noqa: BLE001 - the report renders without the library too
        return {}, {}


def _current_settings(settings: dict, keep: tuple[str, ...] = ()) -> dict:
    """``settings`` under today's names, without the ones ``FlyThroughConfig`` no longer has (``keep``: other keys to keep)."""
    published, renamed = _config_names()
    if not published:
        return dict(settings)
    out = {}
    for k, v in settings.items():
        k = renamed.get(k, k)
        if k in published or k in keep:
            out[k] = v
    return out


def _fmt_setting(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _verdict(methods: dict, steps: list[str]) -> list[str]:
    """One sentence per baseline: does the refiner beat it (PSNR) at these steps?"""
    ref = methods.get("refiner")
    if not ref or not steps:
        return []
    out = [""]
    for base in ("warp", "inpaint"):
        if base not in methods:
            continue
        wins = [s for s in steps if ref["psnr"][s] > methods[base]["psnr"][s]]
        losses = [s for s in steps if s not in wins]
        verdict = "beats it" if not losses else ("does not beat it" if not wins else f"beats it at step {', '.join(wins)} only")
        out.append(f"- `{base}` baseline, PSNR at step(s) {', '.join(steps)}: the refiner **{verdict}**.")
    return out


def _speed(data: dict, script: str) -> list[str]:
    lines = ["## Speed", "", *_provenance(data, script), ""]
    if data.get("note"):
        lines += [f"Note: {data['note']}.", ""]
    # the loop's steps as recorded (StepTimings.STEPS; files written before the loop had named steps hold
    # autopilot / render / refine / sky / detail)
    recorded = {k for r in data.get("runs", []) for k in r["stage_ms"]}
    order = ("pose", "autopilot", "warp", "render", "refine", "sky", "detail", "emit")
    stages = [s for s in order if s in recorded]
    rows = [
        [r["model"], r["init"], r["parameters"], f"{r['resolution']} px", r["device"], r["fps"], r["frame_ms"],
         *[r["stage_ms"].get(s) for s in stages]]
        for r in data.get("runs", [])
    ]  # fmt: skip
    lines += _table(["model", "weights", "parameters", "size", "device", "frames/s", "ms/frame", *[f"{s} ms" for s in stages]], rows)
    mem = data.get("memory")
    if mem:
        samples = ", ".join(f"{i}: {mb:.0f}" for i, mb in mem["rss_mb"])
        lines += ["", f"Memory while streaming {mem['frames']} frames ({mem['model']} model, {mem['resolution']} px, "
                  f"{mem['frame_ms']:.1f} ms/frame): RSS in MB by frame {samples}; growth after frame 100: "
                  f"{_fmt(mem['growth_mb_after_frame_100'], 1)} MB."]  # fmt: skip
    return lines


def _quality(data: dict, script: str) -> list[str]:
    lines = ["## Quality", "", *_provenance(data, script)]
    lines.append(f"- weights: `{data.get('weights')}` ({data.get('weights_note', '')}), {data.get('resolution')} px, "
                 f"{_fmt(data.get('refiner_parameters'))} parameters")  # fmt: skip
    loop = _current_settings(data.get("loop") or {})
    if loop:
        published, _ = _config_names()
        departures = {k: v for k, v in loop.items() if k not in published or published[k] != v}
        text = ", ".join(f"{k}={_fmt_setting(v)}" for k, v in departures.items()) or "the published loop"
        lines.append(f"- loop settings of `refiner` (those that depart from the published loop): {text}")
    rt = data.get("runtime_s", {})
    if rt:
        lines.append("- runtime: " + ", ".join(f"{k} {v:.0f} s" for k, v in rt.items()))
    for s in data.get("skipped", []):
        lines.append(f"- skipped: {s}")
    fid = data.get("fidelity")
    if fid:
        steps = [str(s) for s in fid["steps"]]
        lines += ["", f"### Fidelity along the true camera path ({len(fid['seeds'])} held-out procedural scenes, "
                  f"seeds {fid['seeds'][0]}-{fid['seeds'][-1]})", "",
                  "PSNR (dB) / SSIM / detail of the generated frame against the true frame, mean over scenes "
                  "(detail: gradient energy over the true frame's, 1 = as much fine structure, below 1 = blurrier). "
                  "`refiner-all`: the same refiner repainting every pixel, as published; "
                  "`warp`: the warped frame with its holes left black; `inpaint`: holes filled by push-pull.", ""]  # fmt: skip

        def cell(v: dict, s: str) -> str:
            detail = f" / {_fmt(v['detail'][s])}" if "detail" in v else ""
            return f"{_fmt(v['psnr'][s])} / {_fmt(v['ssim'][s], 3)}{detail}"

        rows = [[m, *[cell(v, s) for s in steps]] for m, v in fid["methods"].items()]
        lines += _table(["method", *[f"step {s}" for s in steps]], rows)
        lines += _verdict(fid["methods"], [s for s in ("1", "5") if s in steps])
    stab = data.get("stability")
    if stab:
        inputs = sorted({r["input"] for r in stab["runs"]})
        lines += ["", f"### Stability of autopilot runs ({', '.join(inputs)})", "",
                  "Mean over inputs at each step: relative sharpness (1 = as sharp as the input), colour drift "
                  "(CIELAB distance of the mean colour from frame 0; ~2.3 is just noticeable), sky fraction "
                  "(disparity < 0.1), share of the frame replaced by the sky blend.", ""]  # fmt: skip
        rows = []
        for m, v in stab["summary"].items():
            for s in v["relative_sharpness"]:
                rows.append([m, s, v["relative_sharpness"][s], v["colour_drift_lab"].get(s), v["sky_fraction"].get(s),
                             v["sky_blend_fraction"].get(s)])  # fmt: skip
        lines += _table(["method", "step", "rel. sharpness", "colour drift (Lab)", "sky fraction", "sky blend"], rows)
        painted = [[m, f"{100 * v['mean_hole_fraction']:.2f}%"] for m, v in stab["summary"].items()
                   if math.isfinite(v.get("mean_hole_fraction", math.nan))]  # nan: no run reported it
        if painted:
            lines += ["", "Share of each frame that was a hole for the refiner to paint, mean over the frames of the runs:", ""]
            lines += _table(["method", "painted"], painted)
    fd = data.get("fid")
    if fd and fd.get("sets"):
        lines += ["", "### FID / KID", "", f"Features: `{fd['feature_net']}`. {fd.get('note', '')}", ""]
        rows = [[s["domain"], s["method"], s["window"], s["n"], s["n_ref"], s["fid"], f"{s['kid']:.4f} ± {s['kid_std']:.4f}"] for s in fd["sets"]]
        lines += _table(["reference", "method", "frames", "n", "n ref", "FID", "KID"], rows)
    return lines


def _ablation(data: dict, script: str | None, name: str = "ablation_mim.json") -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ablation_mim import realism_table, table

    o = data["options"]
    realism = realism_table(data)
    return [
        f"## Ablation: masked-image-modeling warm-up, training seed {o.get('seed', 0)} (`{name}`)",
        "",
        *_provenance(data, script),
        "",
        f"Both arms: {o['steps']} steps of batch {o['batch_size']}, the same data and training seed, a "
        f"{o['resolution']} px generator (f_base {o['g_f_base']}, f_max {o['g_f_max']}, latent {o['latent_dim']}). "
        f"Hole-filling L1 on {data['heldout_frames']} crops of held-out photos ({', '.join(data['heldout_photos'])}), "
        f"hidden pixels only (lower is better); PSNR (dB) along the true path of held-out procedural scenes "
        f"{o['seeds'][0]}-{o['seeds'][-1]} with full refinement and with `keep_visible` (higher is better). "
        "'train s' is the logged training time of the arm up to that point.",
        "",
        table(data),
        *(["", "Quality benchmark's realism part (FID / KID of autopilot flights, the refiner alone with the published "
            "loop; `RandomConvFeatures`, comparable only within this table; lower is better):", "", realism]
          if realism else []),
    ]


def _ablation_seeds(ablations: list[tuple[str, dict]]) -> list[str]:
    """The ablation across training seeds (after the last ablation file; nothing for fewer than two)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ablation_mim import seeds_table

    text = seeds_table([d for _, d in ablations])
    if not text:
        return []
    return [
        "",
        "## Ablation across training seeds",
        "",
        f"The end-of-training checkpoints of {', '.join(f'`{n}`' for n, _ in ablations)}, scored on the same held-out "
        "data: the mean over training seeds, each seed's value in brackets, and in how many seeds the warm-up arm scored better.",
        "",
        text,
    ]


def _runs_section(title: str, data: dict, script: str | None, text: str, table) -> list[str]:
    """A per-setting fidelity benchmark's section (``bench_supersample.write_runs`` JSON): provenance, text, table."""
    return [title, "", *_provenance(data, script), f"- weights: `{data['weights']}`", "", text, "", table(data)]


def _anchor(data: dict, script: str | None) -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_anchor import table

    text = (
        "`FlyThroughConfig.anchor_scale`: what the first view still shows is re-sampled from the photo, kept at up to "
        "this many times the state's size (0 = off). First table: PSNR (dB) / SSIM / detail along the true path of "
        f"held-out procedural scenes {data['seeds'][0]}-{data['seeds'][-1]} (detail: gradient energy over the true "
        "frame's; 1 = as much fine structure). Second table: sharpness relative to frame 0 of 61 autopilot frames "
        "from each held-out example photo (no truth there: how much fine structure is left, not whether it is right), "
        "and ms per frame."
    )
    return _runs_section("## Photo anchor (`anchor.json`)", data, script, text, table)


def _supersample(data: dict, script: str | None) -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_supersample import table

    text = (
        "`FlyThroughConfig.supersample`: the warped state is kept at this many times the refiner's resolution. "
        f"Cells: PSNR (dB) / SSIM / detail along the true path of held-out procedural scenes {data['seeds'][0]}-"
        f"{data['seeds'][-1]} (detail: gradient energy over the true frame's; 1 = as much fine structure). "
        "ms/frame: 30 autopilot steps from examples/hills.jpg with the refiner."
    )
    return _runs_section("## State supersampling (`supersample.json`)", data, script, text, table)


def _settings(data: dict, script: str | None) -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_settings import table

    data = {**data, "runs": [{**r, "changes": _current_settings(r.get("changes", {}), keep=("refiner",))} for r in data.get("runs", [])]}
    text = (
        "The loop settings that depart from the published loop, each turned off alone, then all of them "
        "(`published`), and the two baselines in the shipped loop. Cells: PSNR (dB) / SSIM / detail along the true "
        f"path of held-out procedural scenes {data['seeds'][0]}-{data['seeds'][-1]} (detail: gradient energy over "
        "the true frame's; 1 = as much fine structure)."
    )
    return _runs_section("## Loop settings, one at a time (`settings.json`)", data, script, text, table)


def _flatten(d, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, list) and len(d) <= 8 and all(not isinstance(x, (dict, list)) for x in d):
        out.append((prefix, ", ".join(_fmt(x) for x in d)))
    elif isinstance(d, list):
        for i, v in enumerate(d[:20]):
            out += _flatten(v, f"{prefix}[{i}]")
    else:
        out.append((prefix, d))
    return out


_SKIP_KEYS = {"command", "date", "commit", "machine"}


def _retired_settings() -> set[str]:
    """Names of loop settings the library no longer has (a results file may still record them)."""
    try:
        from infinitenature.config import RETIRED_SETTINGS
    except Exception:  # noqa: BLE001 - the report renders without the library too
        return set()
    return set(RETIRED_SETTINGS)


def _generic(name: str, data: dict, script: str | None) -> list[str]:
    lines = [f"## {name}", "", *_provenance(data, script), ""]
    _, renamed = _config_names()
    skip = _SKIP_KEYS | _retired_settings()
    rows = [[k, v] for k, v in _flatten({renamed.get(k, k): v for k, v in data.items() if k not in skip})][:80]
    return lines + _table(["key", "value"], rows)


def _flights(data: dict, script: str | None, name: str = "flights.json") -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_flights import table

    text = (
        f"Flights of {data['runs'][0]['frames']} frames (seed 0) of photos "
        f"({', '.join(sorted({r['photo'] for r in data['runs']}))}), measured from their "
        "pixels alone with `../shared/tools/flight_measures.py`, relative to frame 0: structure (gradient energy at "
        "shape scale), balance (horizontal over vertical gradient; sideways streaks fall far below 1) and sky kept "
        "(share of sky-coloured pixels, palettes from the photo's hand-checked mask). A flight keeps a landscape when "
        "structure >= 0.5 at frames 60 and 119, balance is within 0.5-2x and sky kept >= 0.7 at frames 50 and 99 "
        "(photos with sky)."
        + (" Contact sheets: docs/flights_*.png." if name == "flights.json" else "")
    )
    overrides = f"- overrides: `{data['overrides']}`" if data.get("overrides") else "- the weights' own settings"
    title = {
        "flights.json": "Long flights",
        "flights_real.json": "Long flights, more real photos (the generator trained on all but cold-ripple)",
        "flights_unseen.json": "Long flights, real photos no model trained on",
    }.get(name, "Long flights, more photos")
    return [f"## {title} (`{name}`)", "", *_provenance(data, script), f"- weights: `{data['weights']}`", overrides, "", text, "", table(data)]


def _sizes(data: dict, script: str | None) -> list[str]:
    text = (
        f"Flights of {data['frames']} frames of {data['image']} at each frame size with the shipped settings, "
        f"{data['threads']} thread(s): frames per second (preparation included), milliseconds per frame after "
        "preparation, that cost relative to the first size, the preparation (estimators, anchor, panorama) and "
        "the milliseconds per frame of each step of the loop."
    )
    steps = list(data["runs"][0]["stage_ms"])
    rows = [
        [r["trajectory"], r["size"], _fmt(r["fps"]), _fmt(r["step_ms"], 1), _fmt(r["relative_to_first"]), _fmt(r["prepare_s"]),
         *(_fmt(r["stage_ms"][k], 1) for k in steps)]
        for r in data["runs"]
    ]  # fmt: skip
    head = ["trajectory", "size", "frames/s", "ms/frame", "x first", "prepare s", *(f"{k} ms" for k in steps)]
    return ["## Frame sizes (`sizes_speed.json`)", "", *_provenance(data, script), "", text, "", *_table(head, rows)]


def _estimators_real(data: dict, script: str | None) -> list[str]:
    """Per-photo sky IoU, sky share and ordinal pairs of bench_estimators_real (baseline beside, if run)."""
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    def iou(v):
        return "-" if v is None else f"{v:.3f}"

    def pairs(r, key=""):
        n, right = r[f"{key}pairs"], r[f"{key}right" if key else "pairs_right"]
        return f"{right}/{n}" if n else "-"

    text = (
        f"The depth estimator `{data['depth']}` and the sky estimator `{data['sky']}` on the real photos of "
        "data/real_photos at their stored size: sky IoU (probability > 0.5; pixels within "
        f"{data['band_px']} px of a true sky boundary and uncertain pixels ignored) on photos with sky, the share "
        "predicted as sky on photos without, and the hand-picked ordinal depth pairs ordered right (all, and those "
        "that break 'lower is nearer'). Targets: IoU >= 0.9 on every held-out photo with sky, < 2% sky on every "
        "held-out photo without, >= 95% of the held-out pairs right."
    )
    lines = ["## Depth and sky on real photos (`estimators_real.json`)", "", *_provenance(data, script)]
    base = data.get("baseline")
    if base:
        lines.append(f"- baseline: depth `{base['depth']}`, sky `{base['sky']}` (left of each arrow)")
    lines += ["", text]
    for split in ("heldout", "train"):
        if split not in data["splits"]:
            continue
        cur = data["splits"][split]
        old = data["splits"].get("baseline_" + split)
        old_rows = {r["photo"]: r for r in old["photos"]} if old else {}

        def both(r, fmt):
            o = old_rows.get(r["photo"])
            return fmt(r) if o is None or fmt(o) == fmt(r) == "-" else f"{fmt(o)} → {fmt(r)}"

        rows = [
            [r["photo"],
             both(r, lambda x: f"{x['sky_iou']:.3f}" if x["has_sky"] else "-"),
             both(r, lambda x: pct(x["pred_sky_share"]) if not x["has_sky"] else "-"),
             both(r, pairs),
             both(r, lambda x: pairs(x, "prior_breaking_"))]
            for r in cur["photos"]
        ]  # fmt: skip
        s = cur["summary"]
        o = old["summary"] if old else None

        def summ(key, fmt=_fmt):
            return fmt(s[key]) if o is None else f"{fmt(o[key])} → {fmt(s[key])}"

        rows.append(["**all**", f"mean {summ('sky_iou_mean', iou)}, min {summ('sky_iou_min', iou)}",
                     f"max {summ('no_sky_share_max', pct)}", summ("pair_accuracy", pct),
                     summ("prior_breaking_accuracy", pct)])  # fmt: skip
        title = "held-out photos" if split == "heldout" else "train photos"
        lines += ["", f"**{title.capitalize()}** (\'lower is nearer\' alone orders {pct(s['lower_is_nearer_accuracy'])} "
                  "of these pairs right):", ""]
        lines += _table(["photo", "sky IoU", "sky share (no sky)", "pairs right", "prior-breaking right"], rows)
    return lines


def _script_for(json_name: str) -> str | None:
    """The benchmark script whose source names this results file."""
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        if script.name != "make_report.py" and json_name in script.read_text(errors="replace"):
            return f"benchmarks/{script.name}"
    return None


def render_report(results_dir: Path = RESULTS) -> str:
    """Markdown for every ``*.json`` in ``results_dir`` (speed and quality first)."""
    files = sorted(Path(results_dir).glob("*.json"))
    order = {"speed.json": 0, "quality.json": 1}
    files.sort(key=lambda p: (order.get(p.name, 2), p.name))
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/make_report.py` from `benchmarks/results/*.json` "
        f"on {datetime.now(timezone.utc).date().isoformat()}; do not edit by hand. "
        "`python benchmarks/make_report.py --run` re-runs the speed and quality benchmarks first "
        "(see benchmarks/README.md). Timings depend on the machine and on its load at the time.",
    ]
    if not files:
        lines += ["", f"No results in `{results_dir}` yet."]
    ablations = []
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            lines += ["", f"## {path.name}", "", f"Unreadable: {e}"]
            continue
        script = _script_for(path.name)
        if not isinstance(data, dict):
            data = {"value": data}
        lines.append("")
        if path.name == "speed.json" and "runs" in data:
            lines += _speed(data, script)
        elif path.name == "quality.json" and "fidelity" in data:
            lines += _quality(data, script)
        elif path.name.startswith("ablation_mim") and "arms" in data:
            lines += _ablation(data, script, path.name)
            ablations.append((path.name, data))
            if len(ablations) == sum(p.name.startswith("ablation_mim") for p in files):
                lines += _ablation_seeds(ablations)
        elif path.name == "supersample.json" and "runs" in data:
            lines += _supersample(data, script)
        elif path.name == "anchor.json" and "runs" in data:
            lines += _anchor(data, script)
        elif path.name == "settings.json" and "runs" in data:
            lines += _settings(data, script)
        elif path.name.startswith("flights") and "runs" in data:
            lines += _flights(data, script, path.name)
        elif path.name == "sizes_speed.json" and "runs" in data:
            lines += _sizes(data, script)
        elif path.name == "estimators_real.json" and "splits" in data:
            lines += _estimators_real(data, script)
        else:
            lines += _generic(f"{path.stem} (`{path.name}`)", data, script)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run bench_speed.py and bench_quality.py first")
    ap.add_argument("--weights", default="default", help="generator for --run ('default', a file, random-small)")
    ap.add_argument("--results", default=str(RESULTS), help="results folder")
    ap.add_argument("--out", default=str(OUT), help="markdown file to write")
    args = ap.parse_args(argv)
    if args.run:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import bench_quality
        import bench_speed

        results = Path(args.results)
        bench_speed.run_speed(
            bench_speed.SpeedOptions(weights=args.weights, out=str(results / "speed.json")),
            command=f"python benchmarks/bench_speed.py --weights {args.weights}",
        )
        bench_quality.run_quality(
            bench_quality.QualityOptions(weights=args.weights, out=str(results / "quality.json")),
            command=f"python benchmarks/bench_quality.py --weights {args.weights}",
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(Path(args.results)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
