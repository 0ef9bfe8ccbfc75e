"""``Flight``: one run of the render-refine-repeat loop, frame by frame.

``FlyThrough.iter_frames`` returns a ``Flight``; iterating it yields ``Frame``
objects. Each frame after the first is made by the same named steps::

    pose   = flight.choose_pose(step)      # the camera path (autopilot, pan, ...)
    warped = flight.warp(pose)             # forward splat; departures adjust the warped frame
    flight.paint(warped)                   # the refiner paints the holes; composite
    flight.blend_sky()                     # the first frame's sky, warped by rotation
    frame  = flight.emit(step)             # the frame handed out

The departures from the published loop that ``FlyThroughConfig`` turns on are
built once per flight by ``departures_for`` (one line each) and plug into these
steps through ``step.Departure`` and ``step.Layering``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from .anchor import PhotoAnchorDeparture
from .autopilot import make_camera_path
from .config import FlyThroughConfig
from .detail import SurfaceDetail, prepare_detail
from .geometry import relative_pose
from .io import to_uint8
from .layers import SkyGroundLayers
from .panorama import Panorama, outpaint_panorama, panorama_canvas
from .scene import PreparedScene
from .sky import continue_sky, sky_blend
from .step import (
    Departure,
    Layering,
    LoopState,
    OneLayer,
    RefinerInputs,
    Warped,
    downsample,
    downsample_intrinsics,
    paint,
    refiner_mask,
    warp,
)

__all__ = ["Flight", "Frame", "StepTimings", "departures_for", "layering_for", "panorama_for", "style_view", "panorama_scale", "PANORAMA_SCALE"]

#: The outpainted panorama's resolution relative to the state's (``FlyThroughConfig.outpaint``) ...
PANORAMA_SCALE = 2
#: ... unless that makes it wider than this many pixels (see ``panorama_scale``).
PANORAMA_MAX_WIDTH = 3200


@dataclass
class Frame:
    """One step of a flythrough.

    Attributes:
        index: step number (0 is the prepared input view).
        image: ``(H, W, 3)`` uint8 (the refiner's resolution, or the state's with
            ``FlyThroughConfig.frame_size="state"``).
        disparity: ``(H, W)`` float32 normalized disparity in [0.01, 1], same size.
        pose: ``(4, 4)`` float64 world-to-camera pose (frame 0 is the identity).
        sky_fraction: fraction of the frame replaced by the first frame's sky.
        hole_fraction: fraction of the refiner's input that was a hole (what the render
            could not fill and the refiner painted; 0 for frame 0).
    """

    index: int
    image: np.ndarray
    disparity: np.ndarray
    pose: np.ndarray
    sky_fraction: float = 0.0
    hole_fraction: float = 0.0


@dataclass
class StepTimings:
    """Seconds spent per step of the loop, summed over a flight's steps (``prepare``: once)."""

    prepare: float = 0.0
    pose: float = 0.0
    warp: float = 0.0
    refine: float = 0.0
    sky: float = 0.0
    emit: float = 0.0
    steps: int = 0

    #: The per-frame steps, in the order the loop runs them.
    STEPS = ("pose", "warp", "refine", "sky", "emit")

    def per_frame_ms(self) -> dict[str, float]:
        """Milliseconds per frame of each step (``STEPS``)."""
        n = max(self.steps, 1)
        return {k: 1000.0 * getattr(self, k) / n for k in self.STEPS}


def panorama_for(cfg: FlyThroughConfig, scene: PreparedScene, *, seed: int) -> Panorama | None:
    """The photo outpainted around the first camera when ``cfg.outpaint`` is on (else ``None``)."""
    if not cfg.outpaint:
        return None
    return outpaint_panorama(scene.anchor, focal=float(scene.K[0, 0]), state_side=scene.rgb.shape[-1], scale=panorama_scale(scene), seed=seed)


def panorama_scale(scene: PreparedScene) -> int:
    """The panorama's resolution relative to the state: ``PANORAMA_SCALE``, less where the
    panorama would be wider than ``PANORAMA_MAX_WIDTH`` pixels (large frames), at least 1."""
    circle = 2 * math.pi * float(scene.K[0, 0])
    return max(1, min(PANORAMA_SCALE, int(PANORAMA_MAX_WIDTH // circle)))


def departures_for(cfg: FlyThroughConfig, scene: PreparedScene, *, seed: int, sky_level: float, panorama: Panorama | None = None) -> list[Departure]:
    """The departures ``cfg`` turns on, in the order their hooks run (one line each)."""
    K = scene.K
    out: list[Departure] = []
    if cfg.anchor_scale:
        out.append(PhotoAnchorDeparture(scene.anchor, K, streak_blur=cfg.streak_blur, aerial_perspective=cfg.aerial_perspective, panorama=panorama))
    if cfg.detail > 0:
        out.append(SurfaceDetail(prepare_detail(scene.anchor, seed, texture=cfg.detail_texture), K, strength=cfg.detail, seed=seed, scale=cfg.supersample, sky_level=sky_level))
    return out


def layering_for(cfg: FlyThroughConfig, sky_level: float) -> Layering:
    """``SkyGroundLayers`` when ``cfg.sky_layers`` is on and the photo has sky, else ``OneLayer``."""
    return SkyGroundLayers(sky_level) if cfg.sky_layers and sky_level > 0 else OneLayer()


def style_view(rgbd: Tensor, resolution: int) -> Tensor:
    """What the refiner's style encoder sees of the first frame: its centred square, at the
    refiner's ``resolution`` (the frame itself when it is that square already).

    Args:
        rgbd: ``(B, 4, h, w)`` the first frame at the refiner's scale.
        resolution: the refiner's side ``R``.

    Returns:
        ``(B, 4, R, R)``.
    """
    h, w = rgbd.shape[-2:]
    if (h, w) == (resolution, resolution):
        return rgbd
    s = min(h, w)
    square = rgbd[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return torch.nn.functional.interpolate(square, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=s > resolution)


class Flight:
    """One flight over a prepared scene; iterate it for ``Frame`` objects (flat memory).

    Made by ``FlyThrough.iter_frames``, which checks the arguments: ``refiner`` (a
    ``CoModGenerator``), the settings, the scene on the refiner's device, a generator
    for the latent (and noise), the detail's ``seed``, the camera path's ``trajectory``,
    a per-frame ``callback``, tqdm options (``None`` = no bar) and the truncation mean.

    Attributes:
        config: the ``FlyThroughConfig`` it flies with.
        timings: ``StepTimings`` of the steps flown so far.
        warnings: what degraded during the flight (complete once it has ended).
    """

    def __init__(
        self,
        refiner: torch.nn.Module,
        config: FlyThroughConfig,
        scene: PreparedScene,
        num_frames: int,
        *,
        generator: torch.Generator,
        seed: int,
        trajectory,
        callback: Callable[[Frame], None] | None = None,
        progress: dict | None = None,
        prepare_seconds: float = 0.0,
        truncation_mean: Tensor | None = None,
    ) -> None:
        cfg = self.config = config
        self.num_frames = num_frames
        self.timings = StepTimings(prepare=prepare_seconds)
        self.warnings: list[str] = []
        self._callback, self._progress = callback, progress
        device = scene.rgb.device
        self.scale = ss = cfg.supersample
        self.scene = scene
        self.K_state = scene.K
        #: intrinsics of the refiner-size frames (what the refiner and the autopilot see)
        self.K = downsample_intrinsics(scene.K, ss)
        self.sky_level = scene.sky_offset + 1e-6 if scene.sky_offset > 0 else 0.0  # disparity at or below it is sky
        self.use_sky = cfg.sky_correction and scene.sky_offset > 0.0
        self.path = make_camera_path(trajectory, seed=seed)
        pose = torch.eye(4, dtype=torch.float64, device=device)
        self.path.reset(pose.clone())
        self.layering = layering_for(cfg, self.sky_level)
        t0 = time.perf_counter()
        self.panorama = panorama_for(cfg, scene, seed=seed)
        self.timings.prepare += time.perf_counter() - t0
        #: the sky canvas: the wider photo, or the panorama around it
        self.canvas = scene.canvas if self.panorama is None else panorama_canvas(self.panorama)
        if cfg.sky_behind:
            self.canvas = continue_sky(self.canvas)
        self.departures = departures_for(cfg, scene, seed=seed, sky_level=self.sky_level, panorama=self.panorama)
        self.refiner = refiner
        z = torch.randn(1, refiner.config.latent_dim, generator=generator, device=generator.device).to(device)
        rgbd0 = style_view(torch.cat([downsample(scene.rgb, ss), downsample(scene.disparity, ss)], dim=1), refiner.config.resolution) * 2 - 1
        on_cpu = device.type == "cpu" and generator.device.type == "cpu"
        global_code = refiner.encode_style(rgbd0, dropout=cfg.stochastic, generator=generator if on_cpu else None)
        self.inputs = RefinerInputs(
            global_code=global_code,
            z=z,
            truncation=cfg.truncation,
            truncation_mean=truncation_mean if cfg.truncation < 0.999 else None,
            noise="random" if cfg.stochastic else "zero",
            generator=generator if (cfg.stochastic and on_cpu) else None,
        )
        self.state = LoopState(rgb=scene.rgb, disparity=scene.disparity, pose=pose)
        for d in self.departures:
            d.start(self.state)
        self._skipped_sky = 0
        self._fraction = self._holes = 0.0
        self._view_disparity: Tensor | None = None

    # ------------------------------------------------------------------ steps
    def choose_pose(self, step: int) -> Tensor:
        """The next camera's ``(4, 4)`` world-to-camera pose from the camera path."""
        s = self.state
        return self.path.next_pose(step, self._view_disparity, self.K).to(device=s.rgb.device, dtype=torch.float64)

    def warp(self, pose: Tensor) -> Warped:
        """The state forward-splatted to ``pose``; each departure adjusts the warped frame."""
        s, cfg = self.state, self.config
        R, t = relative_pose(s.pose, pose)
        extra = {}
        for d in self.departures:
            extra.update(d.before_warp(s))
        # Edge alpha per refiner-resolution pixel: a disparity ramp spans `scale` state pixels.
        w = warp(
            s, R.float()[None], t.float()[None], self.K_state, beta=cfg.beta * self.scale, backend=cfg.render_backend,
            layering=self.layering, extra=extra, pose=pose,
        )
        for d in self.departures:
            d.after_warp(w)
        return w

    def paint(self, warped: Warped) -> None:
        """The refiner paints the holes and its output is composited into the new state."""
        cfg = self.config
        rgb, disp, keep, painted = paint(self.refiner, warped, self.inputs, keep_visible=cfg.keep_visible, scale=self.scale, layering=self.layering)
        self.state = LoopState(rgb=rgb, disparity=disp, pose=warped.pose, channels=dict(warped.channels), anchor=warped.anchor)
        for d in self.departures:
            d.after_paint(warped, self.state, keep, painted)
        self._holes = float(1.0 - refiner_mask(warped.valid, self.scale).mean())

    def blend_sky(self) -> None:
        """The first frame's sky, warped by the camera's rotation, blended into the state."""
        self._fraction = 0.0
        if not self.use_sky:
            return
        s = self.state
        R0, _ = relative_pose(torch.eye(4, dtype=torch.float64, device=s.pose.device), s.pose)
        blended = sky_blend(s.rgb, s.disparity, self.canvas, R0.float()[None], self.K_state)
        if blended.fraction <= self.config.max_sky_fraction:
            s.rgb, s.disparity, self._fraction = blended.rgb, blended.disparity, float(blended.fraction)
        else:
            self._skipped_sky += 1

    def emit(self, index: int) -> Frame:
        """The frame handed out: the state with each departure's display-only layer."""
        s, ss = self.state, self.scale
        rgb = s.rgb
        for d in self.departures:
            rgb = d.on_show(rgb, s)
        if index > 0:
            rgb = self.layering.show(rgb, s.disparity)
        self._view_disparity = downsample(s.disparity, ss)  # what the autopilot reads next
        if self.config.frame_size == "refiner":
            rgb, disp = downsample(rgb, ss), self._view_disparity
        else:
            disp = s.disparity
        return Frame(
            index=index,
            image=to_uint8(rgb[0]),
            disparity=disp[0, 0].float().cpu().numpy(),
            pose=s.pose.cpu().numpy(),
            sky_fraction=self._fraction if index else 0.0,
            hole_fraction=self._holes if index else 0.0,
        )

    # -------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[Frame]:
        bar = None
        if self._progress is not None:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.num_frames, **{"desc": "flythrough", "unit": "frame", **self._progress})
        try:
            with torch.no_grad():
                t = time.perf_counter()
                frame = self.emit(0)
                s = self.state
                s.rgb = self.layering.carry(s.rgb, s.disparity)
                self.timings.emit += time.perf_counter() - t
            yield self._done(frame, bar)
            for step in range(1, self.num_frames):
                with torch.no_grad():
                    frame = self._step(step)
                yield self._done(frame, bar)
        finally:
            if bar is not None:
                bar.close()
            self._finish()

    def _step(self, step: int) -> Frame:
        tm, t0 = self.timings, time.perf_counter()
        pose = self.choose_pose(step)
        t1 = time.perf_counter()
        warped = self.warp(pose)
        t2 = time.perf_counter()
        self.paint(warped)
        t3 = time.perf_counter()
        self.blend_sky()
        t4 = time.perf_counter()
        frame = self.emit(step)
        t5 = time.perf_counter()
        tm.pose += t1 - t0
        tm.warp += t2 - t1
        tm.refine += t3 - t2
        tm.sky += t4 - t3
        tm.emit += t5 - t4
        tm.steps += 1
        return frame

    def _done(self, frame: Frame, bar) -> Frame:
        if self._callback is not None:
            self._callback(frame)
        if bar is not None:
            bar.update(1)
        return frame

    def _finish(self) -> None:
        cfg = self.config
        self.warnings = []
        if self._skipped_sky:
            self.warnings.append(
                f"sky correction skipped on {self._skipped_sky} step(s): the sky blend would cover more than "
                f"{cfg.max_sky_fraction:.0%} of the frame (the camera looks mostly at the sky)"
            )
        if cfg.sky_correction and self.scene.sky_offset <= 0.0:
            self.warnings.append("no sky found in the photo: sky correction was off for this run")

