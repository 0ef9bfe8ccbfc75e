"""Shared evaluation loops: ground-truth sequences, flythrough runs and their scores.

Used by ``benchmarks/bench_quality.py``, ``benchmarks/bench_speed.py`` and the
``infinitenature eval`` command, so that all three run flythroughs the same way.

Ground truth comes from the procedural landscapes (``infinitenature.synthetic``):
a held-out scene is rendered along a valley flight; the first frame's RGB, true
depth and true sky become a :class:`~infinitenature.scene.PreparedScene`, and
every method (the refiner and the baselines of :mod:`.baselines`) flies the
*true* camera path through the unchanged ``FlyThrough`` loop.

Scale: the pipeline works in normalized disparity (nearest content ~0.8). To
keep the true camera path consistent with it, the truth is normalized by a
*pure scale*, ``disparity = s / depth`` with ``s`` chosen so that the 97th
percentile of the first frame's disparity is 0.8. The pipeline's depth is then
``depth / s``: its world is the scene shrunk by ``s``, so camera translations are
divided by ``s``. (The photo normalization ``(d - p1) / (p97 - p1) * 0.8`` also
shifts disparity, which no rescaling of the scene reproduces, so it is not used
here.)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..anchor import anchor_side, build_anchor
from ..haze import estimate_haze
from ..estimators.normalize import NEAR_VALUE, compute_sky_offset, depth_to_disparity
from ..geometry import intrinsics_from_fov, shift_principal_point
from ..config import FlyThroughConfig
from ..pipeline import FlyThrough
from ..scene import PreparedScene
from ..sky import SkyCanvas
from ..step import downsample
from .baselines import BASELINES, BaselineConfig, BaselineRefiner
from .fidelity import psnr, ssim
from .stability import sharpness, stability_report

__all__ = [
    "RANDOM_PRESETS",
    "load_refiner",
    "build_pipeline",
    "method_pipelines",
    "TruthSequence",
    "synthetic_truth",
    "scene_from_truth",
    "fidelity_scores",
    "FlightRecord",
    "fly",
    "stability_steps",
    "flight_stability",
    "machine_info",
]

#: Randomly initialised generators for plumbing and speed runs (``--weights random-small``):
#: not trained, so their pictures mean nothing; their speed is that of a trained model of the same size.
RANDOM_PRESETS: dict[str, dict] = {
    # The released architecture (65.2 M parameters at 128 px).
    "random-official": {},
    # A small CPU-friendly width (as the train brief suggests for the default model).
    "random-small": dict(latent_dim=128, mapping_layers=4, f_max=64),
    # Tests only.
    "random-tiny": dict(latent_dim=16, mapping_layers=2, f_base=128, f_base_style=64, f_max=16),
}


def load_refiner(weights: str | Path = "default", *, resolution: int | None = None, seed: int = 0) -> nn.Module:
    """A refiner by name: shipped weights, a file, or a randomly initialised preset.

    Args:
        weights: ``"default"`` (shipped ``generator-default``), a path to one of our
            ``.safetensors`` files or the official checkpoint, or a key of
            :data:`RANDOM_PRESETS` (random initialisation, seeded by ``seed``).
        resolution: for presets, the frame size (default 128). For weight files it
            must be ``None`` or the file's resolution.
        seed: seed of a preset's random weights.

    Returns:
        A ``CoModGenerator`` in eval mode on the CPU.
    """
    from ..models import CoModGenerator, GeneratorConfig

    name = str(weights)
    if name in RANDOM_PRESETS:
        cfg = GeneratorConfig(resolution=int(resolution or 128), **RANDOM_PRESETS[name])
        with torch.random.fork_rng(devices=[]):  # the layers draw from the global RNG; keep it untouched
            torch.manual_seed(seed)
            return CoModGenerator(cfg).eval()
    from ..pipeline import load_refiner as load_with_settings

    refiner, _ = load_with_settings(name)
    if resolution is not None and int(refiner.config.resolution) != int(resolution):
        raise ValueError(f"{name} is a {refiner.config.resolution} px generator, not {resolution} px")
    return refiner.eval()


def build_pipeline(
    weights: str | Path | nn.Module = "default",
    *,
    depth="default",
    sky="default",
    resolution: int | None = None,
    config: FlyThroughConfig | None = None,
    device: str | torch.device = "cpu",
) -> FlyThrough:
    """``FlyThrough`` from a refiner spec (see :func:`load_refiner`) or module, plus estimators.

    ``depth``/``sky`` are specs for ``estimators.load_depth``/``load_sky``, callables, or
    ``None`` for runs that only start from prepared scenes (e.g. procedural truth).
    Frames come out at the refiner's resolution whatever the weights recommend
    (``frame_size="refiner"``): every score compares them with references of that size.
    """
    from ..estimators import load_depth, load_sky

    refiner = weights if isinstance(weights, nn.Module) else load_refiner(weights, resolution=resolution)
    if config is None and not isinstance(weights, nn.Module) and str(weights) not in RANDOM_PRESETS:
        from ..pipeline import load_refiner as load_with_settings

        config = load_with_settings(weights)[1]  # the loop settings stored with the weights
    if config is not None and config.frame_size != "refiner":
        config = config.replace(frame_size="refiner")
    depth_fn = None if depth is None else (depth if callable(depth) else load_depth(depth))
    sky_fn = None if sky is None else (sky if callable(sky) else load_sky(sky))
    return FlyThrough(refiner, depth_fn, sky_fn, config=config).to(device)


def method_pipelines(pipe: FlyThrough, methods: Sequence[str] = ("refiner", *BASELINES)) -> dict[str, FlyThrough]:
    """The refiner's pipeline and baseline pipelines sharing its estimators, config and device.

    Args:
        pipe: the refiner's pipeline (returned under ``"refiner"``).
        methods: names among ``"refiner"`` (the pipeline as configured), ``"refiner-all"``
            (the same refiner with ``keep_visible=False``, as published), ``"warp"``, ``"inpaint"``
            (the baselines, run with the pipeline's settings).
    """
    out = {}
    for m in methods:
        if m == "refiner":
            out[m] = pipe
        elif m == "refiner-all":  # the published behaviour: the refiner's output for every pixel
            out[m] = FlyThrough(pipe.refiner, pipe.depth, pipe.sky, config=pipe.config.replace(keep_visible=False))
        elif m in BASELINES:
            base = BaselineRefiner(BaselineConfig(method=m, resolution=pipe.resolution))
            out[m] = FlyThrough(base, pipe.depth, pipe.sky, config=pipe.config.replace()).to(pipe.device)
        else:
            raise ValueError(f"unknown method {m!r}; valid: 'refiner', 'refiner-all', {', '.join(map(repr, BASELINES))}")
    return out


# --------------------------------------------------------------------------- ground truth


@dataclass
class TruthSequence:
    """A procedural flight with ground truth, in the pipeline's normalized units.

    Attributes:
        seed: the landscape's seed.
        scene: the first frame as a ``PreparedScene`` (true RGB, disparity ``s / depth``, sky).
        poses: ``(T, 4, 4)`` float64 world-to-camera poses relative to the first
            camera (``poses[0]`` is the identity), translations divided by ``scale``
            (the pipeline's units: depth / ``scale``).
        frames: ``{step: (3, H, W)}`` true RGB in [0, 1] at the evaluated steps.
        scale: ``s``: normalized disparity = ``s / depth`` (scene units).
    """

    seed: int
    scene: PreparedScene
    poses: Tensor
    frames: dict[int, Tensor]
    scale: float


def scene_from_truth(
    canvas_rgb: Tensor, canvas_depth: Tensor, canvas_sky: Tensor, K: Tensor, size: int
) -> tuple[PreparedScene, float]:
    """A ``PreparedScene`` from a true RGB-D-sky rendering of the wider canvas.

    The view is the centred ``size x size`` crop of the canvas; the canvas
    intrinsics are the view's ``K`` with the principal point shifted by the margin.

    Args:
        canvas_rgb: ``(3, Hc, Wc)`` in [0, 1], with ``Hc - size`` and ``Wc - size`` even and ``>= 0``.
        canvas_depth: ``(1, Hc, Wc)`` z-depth in scene units (``inf`` on sky).
        canvas_sky: ``(1, Hc, Wc)`` bool or {0, 1} sky mask.
        K: ``(3, 3)`` intrinsics of the view.
        size: side of the view.

    Returns:
        ``(scene, s)`` with disparity ``clip(s / depth, 0.01, 1)`` (sky 0.01) and
        ``s`` such that the view's 97th disparity percentile is 0.8.
    """
    _, Hc, Wc = canvas_rgb.shape
    dy, dx = (Hc - size) // 2, (Wc - size) // 2
    if min(dy, dx) < 0 or (Hc - size) % 2 or (Wc - size) % 2:
        raise ValueError(f"canvas {Hc}x{Wc} must exceed the view ({size}) by an even margin")

    def crop(x: Tensor) -> Tensor:
        return x[..., dy : dy + size, dx : dx + size]

    disp_true = depth_to_disparity(canvas_depth.float())[None]  # (1, 1, Hc, Wc), sky 0
    q = torch.quantile(crop(disp_true).flatten(), 0.97)
    if not float(q) > 0:
        raise ValueError("the view shows no terrain (97th disparity percentile is 0)")
    scale = NEAR_VALUE / float(q)
    sky = canvas_sky.float()[None]
    disp = (disp_true * scale).clamp(0.01, 1.0)
    disp = torch.where(sky > 0.5, torch.full_like(disp, 0.01), disp)
    rgb = canvas_rgb.float().clamp(0, 1)[None]
    view_disp, view_sky = crop(disp), crop(sky)
    sky_offset = float(compute_sky_offset(view_disp, view_sky)[0])
    canvas = SkyCanvas(rgb=rgb, disparity=disp, K=shift_principal_point(K, dx, dy), sky_offset=sky_offset)
    scene = PreparedScene(rgb=crop(rgb), disparity=view_disp, sky=view_sky, K=K, sky_offset=sky_offset, canvas=canvas)
    return scene, scale


def synthetic_truth(
    seed: int,
    *,
    steps: Sequence[int],
    size: int = 128,
    fov_deg: float = 55.0,
    speed: float = 0.15,
    canvas_scale: float = 1.5,
    terrain_resolution: int = 1024,
    supersample: int = 1,
    antialias: int = 4,
    anchor_scale: int = 0,
) -> TruthSequence:
    """Render a held-out procedural flight: the first frame (with a wider canvas) and the frames at ``steps``.

    The camera flies down the valley centre line (``Landscape.pose_at``), ``speed``
    scene units per step, 1 unit above the ground, looking 6 degrees down.

    Args:
        seed: the landscape (use seeds that training never saw).
        steps: steps (>= 1) whose true frames are rendered.
        size: view side in pixels.
        fov_deg: horizontal field of view.
        speed: scene units per step.
        canvas_scale: side of the first frame's sky canvas relative to the view.
        terrain_resolution: texels per side of the landscape's baked height field.
        supersample: the first frame (``scene``) is rendered at ``size * supersample``
            pixels, for pipelines with ``FlyThroughConfig.supersample``; the true
            frames at ``steps`` stay at ``size``.
        antialias: every image is rendered with at least this many samples per
            output pixel along each axis and area-averaged (colour, disparity and
            sky), so that the truth is free of aliasing whatever ``supersample`` is.
        anchor_scale: also render the first view at ``size * supersample * anchor_scale``
            pixels as the scene's anchor (``FlyThroughConfig.anchor_scale``); 0 = none.
    """
    from ..synthetic.landscape import Landscape

    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ValueError(f"steps must be integers >= 1, got {steps}")
    land = Landscape(int(seed), resolution=terrain_resolution)
    world = torch.stack([land.pose_at(speed * i) for i in range(steps[-1] + 1)]).double()
    supersample, antialias = int(supersample), int(antialias)
    if supersample < 1 or antialias < 1:
        raise ValueError(f"supersample and antialias must be >= 1, got {supersample} and {antialias}")
    f = -(-antialias // supersample)  # render samples per state pixel, per axis
    big = size * supersample
    K_big = intrinsics_from_fov(big, big, fov_deg)
    margin = int(round(big * (canvas_scale - 1.0) / 2.0))
    c_side = big + 2 * margin
    K_render = shift_principal_point(intrinsics_from_fov(big * f, big * f, fov_deg), margin * f, margin * f)
    first = _area_average(land.render(world[0:1].float(), K_render, c_side * f, c_side * f), f)
    scene, scale = scene_from_truth(first["rgb"][0], first["depth"][0], first["sky"][0], K_big, big)
    if anchor_scale:
        a = anchor_side(big, big * int(anchor_scale), int(anchor_scale))
        fa = -(-antialias * big // a)  # samples per anchor pixel, per axis
        view = _area_average(land.render(world[0:1].float(), intrinsics_from_fov(a * fa, a * fa, fov_deg), a * fa, a * fa), fa)
        sky = view["sky"].float()
        disp = (depth_to_disparity(view["depth"].float()) * scale).clamp(0.01, 1.0)
        disp = torch.where(sky > 0.5, torch.full_like(disp, 0.01), disp)
        rgb = view["rgb"].float().clamp(0, 1)
        haze = estimate_haze(rgb, sky.clamp(0, 1))  # estimated from the image, as prepare_scene does for a photo
        anchor = build_anchor(rgb, disp, intrinsics_from_fov(a, a, fov_deg), state_side=big, sky_offset=scene.sky_offset, haze=haze)
        scene = dataclasses.replace(scene, anchor=anchor)
    g = supersample * f  # samples per output pixel, per axis
    later = _area_average(land.render(world[steps].float(), intrinsics_from_fov(size * g, size * g, fov_deg), size * g, size * g), g)
    rel = world @ torch.linalg.inv(world[0])
    rel[:, :3, 3] /= scale  # normalized depth = depth / scale, so the whole world shrinks by scale
    return TruthSequence(
        seed=int(seed),
        scene=scene,
        poses=rel,
        frames={s: later["rgb"][i] for i, s in enumerate(steps)},
        scale=scale,
    )


def _area_average(render: dict[str, Tensor], factor: int) -> dict[str, Tensor]:
    """Average ``factor x factor`` blocks of a ``Landscape.render`` output (batched ``(N, C, H, W)``).

    Colour is averaged as is; depth through disparity (sky, at infinite depth, counts
    as disparity 0 and never makes a pixel nearer); a pixel is sky where most of its
    block is.
    """
    if factor == 1:
        return render
    pool = lambda x: downsample(x.float(), factor)  # noqa: E731
    disp = pool(depth_to_disparity(render["depth"].float()))
    sky = pool(render["sky"].float()) > 0.5
    depth = torch.where(sky | (disp <= 0), torch.full_like(disp, float("inf")), 1.0 / disp.clamp_min(1e-12))
    return {"rgb": pool(render["rgb"]).clamp(0, 1), "depth": depth, "sky": sky}


# --------------------------------------------------------------------------- runs


@dataclass
class FlightRecord:
    """Everything a flythrough produced, kept for scoring.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8.
        disparities: ``(T, H, W)`` float32.
        poses: ``(T, 4, 4)`` float64 world-to-camera.
        sky_fraction: ``(T,)`` share of each frame replaced by the first frame's sky.
        hole_fraction: ``(T,)`` share of each frame the refiner painted (``Frame.hole_fraction``).
        warnings: what the pipeline reported as degraded.
        ms_per_frame: wall-clock milliseconds per generated step (frame 0 excluded).
        stage_ms: milliseconds per generated frame of each step of the loop
            (``StepTimings.per_frame_ms``: pose, warp, refine, sky, emit).
    """

    frames: np.ndarray
    disparities: np.ndarray
    poses: np.ndarray
    sky_fraction: np.ndarray
    hole_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    warnings: list[str] = field(default_factory=list)
    ms_per_frame: float = float("nan")
    stage_ms: dict[str, float] = field(default_factory=dict)


def fly(
    pipe: FlyThrough,
    *,
    num_frames: int,
    scene: PreparedScene | None = None,
    image=None,
    seed: int = 0,
    trajectory="autopilot",
    progress: bool = False,
) -> FlightRecord:
    """Run one flythrough (from a prepared scene or a photo) and keep its frames.

    ``trajectory`` may be an ``(N, 4, 4)`` tensor of per-step poses
    (``N >= num_frames``): step ``i`` then uses exactly ``trajectory[i]``.
    """
    if (scene is None) == (image is None):
        raise ValueError("give exactly one of scene and image")
    if isinstance(trajectory, Tensor):
        poses = trajectory
        if poses.dim() != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < num_frames:
            raise ValueError(f"trajectory must be ({num_frames}+, 4, 4) per-step poses, got {tuple(poses.shape)}")

        def trajectory(step: int) -> Tensor:  # exact pose per step (no keyframe interpolation)
            return poses[step]

    frames, disps, poses_out, sky, holes = [], [], [], [], []
    flight = pipe.iter_frames(image, num_frames, seed=seed, trajectory=trajectory, progress=progress, scene=scene)
    t0 = time.perf_counter()
    for f in flight:
        if f.index == 0:
            t0 = time.perf_counter()
        frames.append(f.image)
        disps.append(f.disparity)
        poses_out.append(f.pose)
        sky.append(f.sky_fraction)
        holes.append(f.hole_fraction)
    wall = time.perf_counter() - t0
    return FlightRecord(
        frames=np.stack(frames),
        disparities=np.stack(disps),
        poses=np.stack(poses_out),
        sky_fraction=np.asarray(sky, dtype=np.float32),
        hole_fraction=np.asarray(holes, dtype=np.float32),
        warnings=list(flight.warnings),
        ms_per_frame=1000.0 * wall / max(num_frames - 1, 1),
        stage_ms=flight.timings.per_frame_ms(),
    )


def fidelity_scores(pipe: FlyThrough, truth: TruthSequence, *, seed: int = 0) -> dict[int, dict[str, float]]:
    """PSNR (dB), SSIM and detail of the generated frames against the true ones, along the true path.

    ``detail`` is the frame's ``stability.sharpness`` (mean squared Sobel gradient)
    over the true frame's: 1 = as much fine structure as the truth, below 1 =
    blurrier. PSNR and SSIM reward a blurry frame over a sharp frame whose texture
    is slightly misplaced; ``detail`` tells the two apart.

    Returns:
        ``{step: {"psnr": ..., "ssim": ..., "detail": ...}}`` for every step in ``truth.frames``.
    """
    last = max(truth.frames)
    rec = fly(pipe, num_frames=last + 1, scene=truth.scene, seed=seed, trajectory=truth.poses)
    steps = sorted(truth.frames)
    pred = torch.from_numpy(rec.frames[steps])  # (S, H, W, 3) uint8
    target = torch.stack([truth.frames[s] for s in steps]).clamp(0, 1)
    target = (target * 255).round().to(torch.uint8).permute(0, 2, 3, 1)  # same quantization as the output
    p, s = psnr(pred, target), ssim(pred, target)
    d = sharpness(pred) / sharpness(target).clamp_min(1e-12)
    return {step: {"psnr": float(p[i]), "ssim": float(s[i]), "detail": float(d[i])} for i, step in enumerate(steps)}


def stability_steps(num_frames: int, wanted: Sequence[int]) -> list[int]:
    """Frame indices to report: 0 and every wanted step that exists in a ``num_frames`` run."""
    return sorted({0, *(int(s) for s in wanted if 0 <= int(s) < num_frames)})


def flight_stability(rec: FlightRecord, steps: Sequence[int]) -> dict:
    """``stability_report`` of a flight at ``steps`` plus its sky-blend fraction, painted share and warnings.

    ``mean_hole_fraction`` is the share of the frame the refiner painted, averaged over
    the generated frames (1 onward).
    """
    rep = stability_report(rec.frames, torch.from_numpy(rec.poses), rec.disparities, steps=list(steps))
    rep["sky_blend_fraction"] = [float(rec.sky_fraction[i]) for i in rep["steps"]]
    if len(rec.hole_fraction) > 1:
        rep["mean_hole_fraction"] = float(np.mean(rec.hole_fraction[1:]))
    rep["warnings"] = rec.warnings
    return rep



def machine_info() -> dict:
    """Where a measurement ran: platform, CPU model, cores, torch version and threads, GPU name."""
    import os
    import platform

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    return info
