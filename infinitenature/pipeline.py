"""``FlyThrough``: one photo in, a flythrough out (render, refine, repeat).

Example::

    from infinitenature import FlyThrough

    pipe = FlyThrough.from_pretrained("default")
    out = pipe("examples/valendas.jpg", num_frames=100, seed=0)
    out.save("valendas.mp4")
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import median_blur
from torch import Tensor

from .anchor import MAX_STREAK_BLUR, sample_anchor
from .devices import resolve_device
from .detail import MAX_DETAIL, anchor_texture, limit_texture, painted_texture, prepare_detail, surface_detail
from .autopilot import make_camera_path
from .filters import push_pull_fill
from .geometry import intrinsics_from_fov, relative_pose
from .haze import rehaze_moved
from .io import VideoWriter, load_image, to_uint8
from .layers import layered, layered_blend, paint_layers, refill, soften_skyline
from .render import RENDER_BACKENDS, check_render_backend, hole_context_mask, render_step, soft_keep_mask
from .scene import PreparedScene, prepare_scene
from .sky import complete_sky, sky_blend

__all__ = ["FlyThrough", "FlyThroughConfig", "FlyThroughOutput", "Frame", "StepTimings", "MAX_SUPERSAMPLE", "MAX_ANCHOR_SCALE", "MAX_DISPARITY_MEDIAN", "MAX_HOLE_CONTEXT"]

#: Largest ``FlyThroughConfig.supersample`` (the state is ``supersample**2`` times the refiner's pixels).
MAX_SUPERSAMPLE = 8
#: Largest ``FlyThroughConfig.anchor_scale``.
MAX_ANCHOR_SCALE = 8
#: Largest ``FlyThroughConfig.disparity_median``.
MAX_DISPARITY_MEDIAN = 9
#: Largest ``FlyThroughConfig.hole_context``.
MAX_HOLE_CONTEXT = 8


@dataclass
class FlyThroughConfig:
    """Options of the render-refine-repeat loop (defaults follow the release).

    Attributes:
        fov_deg: horizontal field of view of the view camera.
        truncation: truncation psi toward the mean mapped latent (0.7 in the release).
        mean_latent_samples: latents averaged for the truncation mean.
        beta: softness of depth edges in the splatting alpha.
        stochastic: ``True`` reproduces the release's randomness (fresh spatial noise
            every step, dropout in the style encoder); ``False`` (default) is
            deterministic inference (noise and dropout off), which flickers less.
        sky_correction: blend the first frame's sky into every frame.
        max_sky_fraction: a sky blend covering more of the frame than this is skipped
            for that step (the release aborted the run there; we warn and go on).
        canvas_scale: width of the sky canvas relative to the view.
        keep_visible: keep the warped pixels that survived the move and use the
            refiner's output only in the holes (and a soft 2-3 px seam around them).
            The published method keeps the refiner's output everywhere (``False``);
            ``True`` is more stable with a small, briefly trained refiner, because
            colours cannot drift where the scene was already seen. A step whose warp
            left no hole then skips the refiner (its output would go unused; the frame
            is the same), which is most steps of a forward flight. See the README.
        supersample: the loop carries its state (the RGBD frame that is warped from
            step to step) at this many times the refiner's resolution; the refiner
            and the output frames see it area-downsampled, and the refiner's output
            is upsampled into the state's holes. With ``keep_visible`` the photo's
            own detail then survives magnification (flying closer) up to this
            factor, and the blur that resampling adds at every step shrinks by it.
            Costs render time (``supersample**2`` times the pixels), not refiner
            time. 1 = the published loop; without ``keep_visible`` it changes
            little. A scene passed to ``iter_frames(scene=...)`` must be
            ``resolution * supersample`` pixels square (``FlyThrough.prepare`` makes it so).
        output: size of the frames handed out: ``"refiner"`` (default) = the refiner's
            resolution; ``"state"`` = the state's, ``supersample`` times larger (e.g.
            512 px for a 128 px refiner at ``supersample=4``): where the photo is still
            visible it shows the photo's own detail, and what the refiner painted is
            upsampled from its resolution.
        anchor_scale: re-sample what the photo still shows from the photo itself
            (``anchor.sample_anchor``), kept at up to this many times the state's
            side (never more than the photo's own pixels), instead of from the
            previous frame alone: a surface in view for ``n`` steps is resampled once,
            not ``n`` times, and flying closer reveals the photo's own finer pixels.
            0 (default) = off, the published loop. Not part of the published method;
            costs a few milliseconds per step and ``anchor_scale**2`` times the
            state's memory for the photo. A scene passed to ``iter_frames(scene=...)``
            must carry an anchor then (``FlyThrough.prepare`` makes one).
        disparity_median: median-filter the refiner's disparity over this many refiner
            pixels square (odd; 0 = off, the published loop). A refiner's painted
            disparity that is rough at the pixel scale makes the next step's edge alpha
            open speckles of holes there, which the refiner paints again, step after
            step; the median keeps its depth edges and removes the speckles (with the
            weights shipped in stops 13-18, 3 cut the painted share of each frame from
            0.79% to 0.18% on ``examples/valendas.jpg``; the residual refiner shipped
            since stop 19 paints smooth disparity, and the median changes nothing there,
            so its weights leave it off; see the README).
        hole_context: the refiner sees a hole opened at a depth edge without the
            near side of that edge, this many refiner pixels deep
            (``render.hole_context_mask``; 0 = off, the published loop; at most
            ``MAX_HOLE_CONTEXT``): the hole shows what lay behind the nearer surface,
            so only the farther side is its context. Only the refiner's input
            changes; the blanked pixels keep their warped values in the frame (also
            in ``keep_visible``'s seam, and without ``keep_visible``).
            Only holes at least 3 pixels wide count, and not those against the sky.
            It curbed the painted blotches that the weights shipped in stops 16-18
            spread over a near hill from the holes behind its ridge (3 cut the painted
            share of each frame on ``examples/valendas.jpg`` from 1.14% to 0.70% over
            the first 60 frames). The residual refiner shipped since stop 19 paints no
            such blotch, and hiding the near side from it costs 0.2-0.4 dB along the
            procedural flights, so its weights leave it off; see the README.
        detail: add surface texture to the frames handed out where their content is
            magnified beyond what it resolves (the photo's pixels, or the refiner's
            where it painted; ``detail.surface_detail``): per-octave strength in units
            of the photo's finest-octave contrast (0 = off, the published loop;
            at most ``detail.MAX_DETAIL``). Needs ``anchor_scale >= 1``. The texture is
            invented, tied to the surface (it moves with it, it does not flicker);
            it breaks up the streaks that magnified slopes turn into. Not part of
            the published method; see the README for what it costs in fidelity.
        streak_blur: filter the photo anchor's lookup along the direction in which the
            view steps through the photo fastest (``anchor.sample_anchor``'s
            ``streak_blur``), so a slope the photo saw at a grazing angle is not drawn as
            streaks when it is flown close to. Where the view magnifies the photo more
            along the flight than across it, the colour is averaged across, to about the
            same softness in every direction (``detail`` then adds the finer octaves as
            texture); where it minifies it unequally, this is anisotropic filtering
            (sharper along the flight than the isotropic pyramid level). 0 = off (the
            published loop has no anchor); at most ``anchor.MAX_STREAK_BLUR``; needs
            ``anchor_scale >= 1``. Not part of the published method; see the README for
            what it does to the benchmarks.
        aerial_perspective: change the colour of every pixel the photo anchor re-samples
            for the change of its surface's distance, by the photo's haze
            (``haze.estimate_haze``, the dark channel prior; ``haze.rehaze``): far
            ground that the camera nears sheds the haze it had in the photo, instead
            of keeping the colour of the horizon. 0 = off (the published loop has no
            anchor), 1 = the haze estimate as it is; in [0, 1]; needs
            ``anchor_scale >= 1``. Not part of the published method; see the README.
        sky_layers: keep the sky's colour out of the ground (``layers.py``): the render
            splats sky and ground as two layers, the refiner's input and output are
            resampled per layer and blended into the warped frame per layer, the refiner
            is shown the ground's colour carried into the sky (never the sky's colour)
            and its painted sky is replaced by the warped sky carried into it, and the
            frame handed out has its hard two-layer skyline anti-aliased
            (``layers.soften_skyline``, display only). Without it, every resampling and
            every refiner pass tints the ground at the skyline toward the sky, and a long
            forward flight, which stretches that farthest ground over the frame, takes
            on the sky's colour (``benchmarks/bench_sky_leak.py``). Not part of the
            published method; see the README.
        sky_completion: give the sky canvas a sky where the photo shows none (behind
            its ground and beyond its edges; ``sky.complete_sky``: each row's mean sky
            colour, continued below the lowest rows of sky, plus the photo's clouds
            carried in), once when a flight starts, so that sky a flight uncovers (past
            a range, after a turn) is blended from the canvas instead of smeared from
            the current frame's sky. Off as published (the release outpainted its
            canvas with a GAN); see the README.
        render_backend: how frames are warped: ``"torch"`` (``render.forward_splat``,
            pure PyTorch, the default) or ``"pytorch3d"`` (pytorch3d's point
            rasterizer, ``render_pytorch3d.forward_splat_pytorch3d``; needs
            ``pip install 'infinitenature[pytorch3d]'``, checked when a run starts).
    """

    fov_deg: float = 55.0
    truncation: float = 0.7
    mean_latent_samples: int = 10_000
    beta: float = 4.0
    stochastic: bool = False
    sky_correction: bool = True
    max_sky_fraction: float = 0.6
    canvas_scale: float = 1.5
    keep_visible: bool = False
    supersample: int = 1
    output: str = "refiner"
    anchor_scale: int = 0
    disparity_median: int = 0
    hole_context: int = 0
    detail: float = 0.0
    streak_blur: float = 0.0
    aerial_perspective: float = 0.0
    sky_layers: bool = False
    sky_completion: bool = False
    render_backend: str = "torch"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "FlyThroughConfig":
        """Check every field (also after fields were assigned one by one); returns ``self``.

        Raises:
            ValueError: naming the first field out of range.
        """
        for name in ("stochastic", "sky_correction", "keep_visible", "sky_layers", "sky_completion"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

        def number(name: str, ok, what: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
                raise ValueError(f"{name} must be {what}, got {v!r}")

        number("fov_deg", lambda v: 0 < v < 180, "a number of degrees in (0, 180)")
        number("truncation", lambda v: True, "a finite number (1 = no truncation)")
        number("beta", lambda v: v > 0, "a positive number")
        number("max_sky_fraction", lambda v: 0 < v <= 1, "a fraction in (0, 1]")
        number("canvas_scale", lambda v: v >= 1, "a number >= 1")
        if isinstance(self.mean_latent_samples, bool) or not isinstance(self.mean_latent_samples, int) or self.mean_latent_samples < 1:
            raise ValueError(f"mean_latent_samples must be a whole number >= 1, got {self.mean_latent_samples!r}")
        if isinstance(self.supersample, bool) or not isinstance(self.supersample, int) or not 1 <= self.supersample <= MAX_SUPERSAMPLE:
            raise ValueError(f"supersample must be an integer in 1..{MAX_SUPERSAMPLE}, got {self.supersample!r}")
        if isinstance(self.anchor_scale, bool) or not isinstance(self.anchor_scale, int) or not 0 <= self.anchor_scale <= MAX_ANCHOR_SCALE:
            raise ValueError(f"anchor_scale must be an integer in 0..{MAX_ANCHOR_SCALE}, got {self.anchor_scale!r}")
        m = self.disparity_median
        if isinstance(m, bool) or not isinstance(m, int) or m < 0 or (m and m % 2 == 0) or m > MAX_DISPARITY_MEDIAN:
            raise ValueError(f"disparity_median must be 0 or an odd integer up to {MAX_DISPARITY_MEDIAN}, got {m!r}")
        g = self.hole_context
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g <= MAX_HOLE_CONTEXT:
            raise ValueError(f"hole_context must be an integer in 0..{MAX_HOLE_CONTEXT}, got {g!r}")
        number("detail", lambda v: 0.0 <= v <= MAX_DETAIL, f"a number in [0, {MAX_DETAIL:g}]")
        if self.detail > 0 and not self.anchor_scale:
            raise ValueError("detail needs the photo anchor: set anchor_scale >= 1 too (detail continues the photo's texture)")
        number("streak_blur", lambda v: 0.0 <= v <= MAX_STREAK_BLUR, f"a number in [0, {MAX_STREAK_BLUR:g}]")
        if self.streak_blur > 0 and not self.anchor_scale:
            raise ValueError("streak_blur needs the photo anchor: set anchor_scale >= 1 too (it filters the anchor's lookup)")
        number("aerial_perspective", lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
        if self.aerial_perspective > 0 and not self.anchor_scale:
            raise ValueError("aerial_perspective needs the photo anchor: set anchor_scale >= 1 too (it changes the anchor's colours)")
        if self.output not in ("refiner", "state"):
            raise ValueError(f"output must be 'refiner' or 'state', got {self.output!r}")
        if self.render_backend not in RENDER_BACKENDS:
            choices = ", ".join(repr(b) for b in RENDER_BACKENDS)
            raise ValueError(f"render_backend must be one of {choices}, got {self.render_backend!r}")
        return self


@dataclass
class Frame:
    """One step of a flythrough.

    Attributes:
        index: step number (0 is the prepared input view).
        image: ``(H, W, 3)`` uint8 (the refiner's resolution, or the state's with
            ``FlyThroughConfig.output="state"``).
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
    """Seconds spent per stage, summed over the steps of a run."""

    prepare: float = 0.0
    autopilot: float = 0.0
    render: float = 0.0
    refine: float = 0.0
    sky: float = 0.0
    detail: float = 0.0
    steps: int = 0

    def per_frame_ms(self) -> dict[str, float]:
        n = max(self.steps, 1)
        return {k: 1000.0 * getattr(self, k) / n for k in ("autopilot", "render", "refine", "sky", "detail")}


@dataclass
class FlyThroughOutput:
    """Result of ``FlyThrough.__call__``.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8; ``frames[0]`` is the prepared input view.
        disparities: ``(T, H, W)`` float32 normalized disparity.
        poses: ``(T, 4, 4)`` world-to-camera poses.
        K: ``(3, 3)`` intrinsics of the frames.
        warnings: what degraded during the run (e.g. skipped sky blends).
    """

    frames: np.ndarray
    disparities: np.ndarray
    poses: np.ndarray
    K: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def save(self, path: str | Path, *, fps: float = 30.0, overwrite: bool = False) -> Path:
        """Write the frames to ``.mp4``/``.webm``/``.gif`` or a folder of PNGs (no suffix)."""
        with VideoWriter(path, fps=fps, overwrite=overwrite) as w:
            for f in self.frames:
                w.append(f)
        return w.path


class FlyThrough:
    """Perpetual view generation from a single photo.

    Built from three components: a refiner (``CoModGenerator``), a depth
    estimator and a sky estimator (callables ``(B, 3, H, W) -> (B, 1, H, W)``).
    Everything runs in float32 on the CPU unless moved with ``.to(device)``.
    """

    def __init__(self, refiner: torch.nn.Module, depth: Callable, sky: Callable, *, config: FlyThroughConfig | None = None) -> None:
        self.refiner = refiner.eval()
        self.depth = depth
        self.sky = sky
        self.config = config or FlyThroughConfig()
        self.resolution = int(refiner.config.resolution)
        self._mean_latent: Tensor | None = None
        #: Seconds per stage of the latest run (``iter_frames`` or ``__call__``).
        self.timings = StepTimings()
        #: What degraded during the latest run (filled when it ends).
        self.warnings: list[str] = []

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path = "default",
        *,
        depth: str | Callable = "default",
        sky: str | Callable = "default",
        config: FlyThroughConfig | None = None,
        device: str | torch.device = "cpu",
    ) -> "FlyThrough":
        """Load a refiner by name or path, plus depth and sky estimators.

        Args:
            name_or_path: ``"default"`` (the shipped weights), a path to one of our
                ``.safetensors`` generator files, or a path to the official
                InfiniteNature-Zero checkpoint (``.tar``/``.pth``/``.pt``).
            config: loop options; by default the settings stored with the weights
                (``extra["pipeline"]`` in the safetensors metadata), and for the
                official checkpoint the release's behaviour.
            depth, sky: names for ``estimators.load_depth``/``load_sky`` or callables.
            device: where to run (``"auto"`` picks CUDA when available).
        """
        from .estimators import load_depth, load_sky

        refiner, settings = load_refiner(name_or_path)
        config = config or settings
        depth_fn = load_depth(depth) if not callable(depth) else depth
        sky_fn = load_sky(sky) if not callable(sky) else sky
        return cls(refiner, depth_fn, sky_fn, config=config).to(device)

    def to(self, device: str | torch.device) -> "FlyThrough":
        """Move the refiner (and estimators that are modules) to ``device``; ``"auto"`` = CUDA if present.

        Raises:
            ValueError: ``device`` is unknown or not on this machine (``devices.resolve_device``).
        """
        device = resolve_device(device)
        self.refiner.to(device)
        for est in (self.depth, self.sky):
            if hasattr(est, "to"):
                est.to(device)
        self._mean_latent = None if self._mean_latent is None else self._mean_latent.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.refiner.parameters()).device

    # ------------------------------------------------------------------ steps
    def prepare(self, image) -> PreparedScene:
        """Load and prepare a photo (path, PIL image, array or tensor) on the pipeline's device.

        The scene is ``resolution * config.supersample`` pixels wide, and carries an
        anchor when ``config.anchor_scale`` is set.
        """
        img = load_image(image).to(self.device)
        cfg = self.config
        return prepare_scene(
            img,
            self.depth,
            self.sky,
            size=self.resolution * cfg.supersample,
            fov_deg=cfg.fov_deg,
            canvas_scale=cfg.canvas_scale,
            anchor_scale=cfg.anchor_scale,
        )

    def mean_latent(self) -> Tensor:
        """The truncation mean (cached): mean mapped latent of a fixed set of samples."""
        if self._mean_latent is None:
            g = torch.Generator().manual_seed(123456)
            with torch.no_grad():
                self._mean_latent = self.refiner.mean_latent(self.config.mean_latent_samples, generator=g).to(self.device)
        return self._mean_latent

    def _paint(self, r, in_mask: Tensor, global_code: Tensor, z: Tensor, truncation_mean, gen: torch.Generator, sky_level: float):
        """One refiner pass on a warped state ``r`` (``render.RenderResult``): the new state's
        ``(rgb, disparity)`` and the ``keep`` weights of its warped pixels (``None`` = the
        refiner's output everywhere). ``in_mask`` is ``r.mask`` at the refiner's resolution."""
        cfg, ss = self.config, self.config.supersample
        layers = cfg.sky_layers and sky_level > 0

        def resample(op, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
            return layered(op, x, d, sky_level) if layers else (op(x), op(d))

        in_rgb, in_disp = (r.rgb, r.disparity) if ss == 1 else resample(lambda x: downsample(x, ss), r.rgb, r.disparity)
        refiner_mask = in_mask
        if cfg.hole_context:
            refiner_mask = hole_context_mask(in_mask, in_disp, grow=cfg.hole_context, sky_level=sky_level)
        if layers:  # the refiner sees no sky colour (in its holes neither): the sky it is shown is the ground carried on
            in_rgb = refill(in_rgb, in_disp <= sky_level, (in_disp > sky_level) & (in_mask >= 1))
        out = self.refiner.refine(
            in_rgb,
            in_disp,
            refiner_mask,
            global_code,
            z,
            truncation=cfg.truncation,
            truncation_mean=truncation_mean,
            noise="random" if cfg.stochastic else "zero",
            generator=gen if (cfg.stochastic and in_rgb.device.type == "cpu") else None,
        )
        out_disp = out[:, 3:4]
        if cfg.disparity_median > 1:
            out_disp = median_blur(out_disp, cfg.disparity_median)
        rgb, disp = resample(lambda x: upsample(x, ss), out[:, :3], out_disp)
        disp = disp.clamp(0.01, 1.0)
        if layers:  # warped pixels and edge holes keep their layer (paint_layers); each layer's colour is its warped one carried on
            rgb, disp = paint_layers(rgb, disp, r.rgb, r.disparity, r.mask >= 1, sky_level, border=4 * ss)
        keep = soft_keep_mask(r.mask, scale=ss) if cfg.keep_visible else None
        if cfg.hole_context:  # what the refiner was not shown stays as warped (also in keep_visible's seam)
            hidden = upsample_nearest(in_mask - refiner_mask, ss)
            keep = hidden if keep is None else torch.maximum(keep, hidden)
        if keep is not None and layers:
            rgb, disp = layered_blend(keep, r.rgb, r.disparity, rgb, disp, sky_level)
        elif keep is not None:
            rgb = keep * r.rgb + (1 - keep) * rgb
            disp = keep * r.disparity + (1 - keep) * disp
        return rgb, disp, keep

    @torch.no_grad()
    def iter_frames(
        self,
        image,
        num_frames: int = 100,
        *,
        seed: int = 0,
        trajectory="autopilot",
        progress: bool = False,
        scene: PreparedScene | None = None,
    ) -> Iterator[Frame]:
        """Stream frames one by one (flat memory for runs of any length).

        Args:
            image: photo as a path, PIL image, numpy array or tensor (ignored when
                ``scene`` is given).
            num_frames: frames to yield, including frame 0 (the prepared input view).
            seed: seeds the sequence latent (and the noise when ``stochastic``).
            trajectory: ``"autopilot"``, ``"straight"``, ``"pan"``, ``"orbit"``, a
                camera-path object, a callable ``step -> (4, 4)`` pose, or ``(N, 4, 4)``
                keyframe poses (see ``autopilot.make_camera_path``).
            progress: show a tqdm progress bar.
            scene: a ``PreparedScene`` to start from (skips loading and estimation).

        Yields:
            ``Frame`` objects.
        """
        if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
            raise ValueError(f"num_frames must be a whole number >= 1, got {num_frames!r}")
        num_frames = int(num_frames)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be a whole number, got {seed!r}")
        cfg = self.config.validate()  # fields may have been set one by one since construction
        check_render_backend(cfg.render_backend)  # ValueError / ImportError before any work
        device = self.device
        t0 = time.perf_counter()
        state = scene.to(device) if scene is not None else self.prepare(image)
        self.timings = StepTimings(prepare=time.perf_counter() - t0)
        ss = cfg.supersample
        _check_scene_size(state, self.resolution, ss)
        anchor = state.anchor if cfg.anchor_scale else None
        if cfg.anchor_scale and anchor is None:
            raise ValueError(
                f"anchor_scale={cfg.anchor_scale} needs a scene with an anchor (prepare it with FlyThrough.prepare, "
                "or prepare_scene(anchor_scale=...))"
            )
        if cfg.aerial_perspective > 0 and not anchor.has_haze:
            raise ValueError(
                "aerial_perspective needs a scene whose anchor carries the photo's haze (prepare it with FlyThrough.prepare, "
                "or build_anchor(haze=haze.estimate_haze(...)))"
            )
        detail = prepare_detail(anchor, seed) if cfg.detail > 0 else None  # validate(): detail needs the anchor
        canvas = state.canvas
        if cfg.sky_completion and cfg.sky_correction:  # the canvas is only read by the sky correction
            c_rgb, c_disp = complete_sky(canvas.rgb, canvas.disparity, canvas.sky_offset)
            canvas = dataclasses.replace(canvas, rgb=c_rgb, disparity=c_disp)
        path = make_camera_path(trajectory)
        pose = torch.eye(4, dtype=torch.float64, device=device)
        path.reset(pose.clone())
        K_state = state.K  # intrinsics of the state (ss x the refiner's resolution)
        K = downsample_intrinsics(K_state, ss)  # intrinsics of the frames the refiner (and the autopilot) see

        def emit(index: int, rgb: Tensor, disp: Tensor, pose: Tensor, fraction: float, holes: float) -> tuple[Frame, Tensor]:
            """The frame handed out, and the refiner-size disparity the autopilot reads next."""
            view_disp = downsample(disp, ss)
            if texture is not None:  # the detail is a layer on the frame, never part of the state
                t = time.perf_counter()
                ground = (disp > sky_level).float() if state.sky_offset > 0 else None
                delta = surface_detail(texture, disp, pose, K_state, detail, strength=cfg.detail, seed=seed, weight=ground)
                rgb = (rgb * (1 + delta)).clamp(0, 1)
                self.timings.detail += time.perf_counter() - t
            if index > 0 and cfg.sky_layers and sky_level > 0:  # the state's skyline is a hard edge: shown anti-aliased
                rgb = soften_skyline(rgb, disp, sky_level)
            if cfg.output == "state":
                return self._frame(index, rgb, disp, pose, fraction, holes), view_disp
            return self._frame(index, downsample(rgb, ss), view_disp, pose, fraction, holes), view_disp

        gen = torch.Generator().manual_seed(int(seed))
        z = torch.randn(1, self.refiner.config.latent_dim, generator=gen).to(device)
        rgbd0 = torch.cat([downsample(state.rgb, ss), downsample(state.disparity, ss)], dim=1) * 2 - 1
        global_code = self.refiner.encode_style(rgbd0, dropout=cfg.stochastic, generator=gen if device.type == "cpu" else None)
        truncation_mean = self.mean_latent() if cfg.truncation < 0.999 else None
        rgb, disp = state.rgb, state.disparity
        use_sky = cfg.sky_correction and state.sky_offset > 0.0
        sky_level = state.sky_offset + 1e-6 if state.sky_offset > 0 else 0.0  # disparity at or below it is sky
        skipped_sky = 0
        # With detail: per state pixel, log2 of the finest wavelength its content resolves (world
        # units) and its contrast, warped along with the state (see detail.py).
        texture = None
        # With aerial_perspective: per state pixel, the haze's density along its ray (haze.py), warped too.
        haze = None
        if detail is not None or cfg.aerial_perspective > 0:
            a0 = sample_anchor(anchor, disp, K_state, pose)
        if detail is not None:
            painted0 = painted_texture(disp, K_state, detail, pixels=ss)
            texture = limit_texture(a0.weight * anchor_texture(a0, detail, K_state) + (1 - a0.weight) * painted0, disp, K_state)
        if cfg.aerial_perspective > 0:
            haze = a0.weight * a0.haze_density

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=num_frames, desc="flythrough", unit="frame")
        try:
            frame, view_disp = emit(0, rgb, disp, pose, 0.0, 0.0)
            yield frame
            if bar:
                bar.update(1)
            for step in range(1, num_frames):
                t = time.perf_counter()
                next_pose = path.next_pose(step, view_disp, K).to(device=device, dtype=torch.float64)
                t_auto = time.perf_counter()
                R, tr = relative_pose(pose, next_pose)
                # Edge alpha per refiner-resolution pixel: a disparity ramp spans ss x the state's pixels.
                carried = [x for x in (texture, haze, None if haze is None else disp) if x is not None]
                r = render_step(
                    rgb, disp, R.float()[None], tr.float()[None], K_state, beta=cfg.beta * ss, backend=cfg.render_backend,
                    features=torch.cat(carried, dim=1) if carried else None,
                    sky_level=sky_level if cfg.sky_layers and state.sky_offset > 0 else None,
                )
                if haze is not None:  # every warped surface's colour at its new distance (haze.rehaze_moved)
                    n = 0 if texture is None else texture.shape[1]
                    haze, moved_from = r.features[:, n : n + 1], r.features[:, n + 1 : n + 2]
                    rehazed = rehaze_moved(r.rgb, haze, moved_from, r.disparity, anchor.airlight, cfg.aerial_perspective)
                    r = dataclasses.replace(r, rgb=r.mask * rehazed + (1 - r.mask) * r.rgb, features=r.features[:, :n] if n else None)
                if anchor is not None:
                    a = sample_anchor(
                        anchor, r.disparity, K_state, next_pose, streak_blur=cfg.streak_blur, aerial_perspective=cfg.aerial_perspective
                    )
                    w = a.weight * r.mask
                    r = dataclasses.replace(r, rgb=w * a.rgb + (1 - w) * r.rgb)
                    if haze is not None:
                        haze = w * a.haze_density + (1 - w) * haze
                    if texture is not None:  # holes get theirs once the refiner has painted them (below)
                        texture = w * anchor_texture(a, detail, K_state) + (1 - w) * r.features
                t_render = time.perf_counter()
                in_mask = r.mask if ss == 1 else -F.max_pool2d(-r.mask, ss)  # valid only where every state pixel is
                # Nothing to paint: keep_visible keeps every warped pixel, so the refiner's output would go unused.
                whole = cfg.keep_visible and bool(r.mask.min() >= 1)
                if whole:
                    rgb, disp = r.rgb, r.disparity
                else:
                    rgb, disp, keep = self._paint(r, in_mask, global_code, z, truncation_mean, gen, sky_level)
                    if haze is not None:  # what the refiner painted: the density of the surfaces around it
                        haze = push_pull_fill(haze, r.mask)
                t_refine = time.perf_counter()
                if texture is not None and whole:
                    texture = limit_texture(texture, disp, K_state)
                elif texture is not None:
                    # Holes: what the refiner painted there. Elsewhere, where its output replaced the
                    # warped pixels (all of them without keep_visible), nothing finer than its pixels.
                    texture = r.mask * texture + (1 - r.mask) * painted_texture(disp, K_state, detail, pixels=ss)
                    repainted = limit_texture(texture, disp, K_state, pixels=ss)
                    texture = repainted if keep is None else keep * texture + (1 - keep) * repainted
                    texture = limit_texture(texture, disp, K_state)
                t_detail = time.perf_counter()
                fraction = 0.0
                if use_sky:
                    R0, _ = relative_pose(torch.eye(4, dtype=torch.float64, device=device), next_pose)
                    blended = sky_blend(rgb, disp, canvas, R0.float()[None], K_state)
                    if blended.fraction <= cfg.max_sky_fraction:
                        rgb, disp, fraction = blended.rgb, blended.disparity, float(blended.fraction)
                    else:
                        skipped_sky += 1
                t_sky = time.perf_counter()
                pose = next_pose
                tm = self.timings
                tm.autopilot += t_auto - t
                tm.render += t_render - t_auto
                tm.refine += t_refine - t_render
                tm.sky += t_sky - t_detail
                tm.detail += t_detail - t_refine
                tm.steps += 1
                frame, view_disp = emit(step, rgb, disp, pose, fraction, float(1.0 - in_mask.mean()))
                yield frame
                if bar:
                    bar.update(1)
        finally:
            if bar:
                bar.close()
            self.warnings = []
            if skipped_sky:
                self.warnings.append(
                    f"sky correction skipped on {skipped_sky} step(s): the sky blend would cover more than "
                    f"{cfg.max_sky_fraction:.0%} of the frame (the camera looks mostly at the sky)"
                )
            if cfg.sky_correction and state.sky_offset <= 0.0:
                self.warnings.append("no sky found in the photo: sky correction was off for this run")

    @staticmethod
    def _frame(index: int, rgb: Tensor, disp: Tensor, pose: Tensor, fraction: float, holes: float) -> Frame:
        return Frame(
            index=index,
            image=to_uint8(rgb[0]),
            disparity=disp[0, 0].float().cpu().numpy(),
            pose=pose.cpu().numpy(),
            sky_fraction=fraction,
            hole_fraction=holes,
        )

    def __call__(
        self,
        image,
        num_frames: int = 100,
        *,
        seed: int = 0,
        trajectory="autopilot",
        progress: bool = True,
    ) -> FlyThroughOutput:
        """Generate a flythrough; see ``iter_frames`` for the arguments.

        Returns:
            ``FlyThroughOutput`` with ``frames`` ``(T, H, W, 3)`` uint8,
            ``disparities`` ``(T, H, W)``, ``poses`` ``(T, 4, 4)``.
        """
        frames, disps, poses = [], [], []
        for f in self.iter_frames(image, num_frames, seed=seed, trajectory=trajectory, progress=progress):
            frames.append(f.image)
            disps.append(f.disparity)
            poses.append(f.pose)
        return FlyThroughOutput(
            frames=np.stack(frames),
            disparities=np.stack(disps),
            poses=np.stack(poses),
            K=intrinsics_from_fov(frames[0].shape[0], frames[0].shape[1], self.config.fov_deg).numpy(),
            warnings=list(self.warnings),
        )


def upsample_nearest(x: Tensor, factor: int) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H * factor, W * factor)``, each pixel repeated ``factor x factor`` times."""
    return x if factor == 1 else x.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def downsample(x: Tensor, factor: int) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H / factor, W / factor)`` by averaging ``factor x factor`` blocks."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def upsample(x: Tensor, factor: int) -> Tensor:
    """``(B, C, h, w)`` -> ``(B, C, h * factor, w * factor)``, bilinear on pixel centres (``downsample``'s grid)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def downsample_intrinsics(K: Tensor, factor: int) -> Tensor:
    """Intrinsics ``(3, 3)`` of a frame ``downsample``-d by ``factor`` (pixel centres stay pixel centres)."""
    if factor == 1:
        return K
    S = K.new_tensor([[1.0 / factor, 0.0, -(factor - 1) / (2.0 * factor)], [0.0, 1.0 / factor, -(factor - 1) / (2.0 * factor)], [0.0, 0.0, 1.0]])
    return S @ K


def _check_scene_size(scene: PreparedScene, resolution: int, supersample: int) -> None:
    """A clear error unless the scene is ``resolution * supersample`` pixels square."""
    want = resolution * supersample
    if tuple(scene.rgb.shape[-2:]) != (want, want):
        h, w = scene.rgb.shape[-2:]
        raise ValueError(
            f"the scene is {w}x{h} px but a {resolution} px refiner with supersample={supersample} needs {want}x{want} "
            "(prepare it with FlyThrough.prepare, or prepare_scene(size=resolution * supersample))"
        )


def load_refiner(name_or_path: str | Path = "default") -> tuple[torch.nn.Module, FlyThroughConfig]:
    """A refiner and the loop settings that go with it.

    Args:
        name_or_path: ``"default"`` (shipped weights), one of our ``.safetensors``
            generator files, a training run folder (its ``export/generator_ema.safetensors``),
            a training checkpoint folder (its ``G_ema.safetensors``), or the official
            checkpoint (``.tar``/``.pth``/``.pt``/``.ckpt``).

    Returns:
        ``(refiner, config)``: the generator in eval mode on the CPU, and the
        ``FlyThroughConfig`` stored with our weights (``extra["pipeline"]`` in the
        safetensors metadata) or, for the official checkpoint, the release's behaviour
        (per-step noise, style dropout, 50,000-sample truncation mean, full refinement).
    """
    from .weights import generator_file, load_model, read_metadata, resolve_weights

    path = generator_file(resolve_weights(name_or_path, "generator-default.safetensors"))
    if path.suffix.lower() in (".tar", ".pth", ".pt", ".ckpt"):
        from .models import load_official_generator

        return load_official_generator(path), FlyThroughConfig(mean_latent_samples=50_000, stochastic=True)
    refiner = load_model(path, kind="generator")
    settings = read_metadata(path)["extra"].get("pipeline", {})
    known = {f.name for f in dataclasses.fields(FlyThroughConfig)}
    return refiner, FlyThroughConfig(**{k: v for k, v in settings.items() if k in known})
