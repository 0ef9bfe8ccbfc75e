"""``FlyThrough``: one photo in, a flythrough out (render, refine, repeat).

Example::

    from infinitenature import FlyThrough

    pipe = FlyThrough.from_pretrained("default")
    out = pipe("examples/valendas.jpg", num_frames=100, seed=0)
    out.save("valendas.mp4")

``FlyThrough`` loads the models and their settings and prepares a photo;
``flight.Flight`` flies the loop frame by frame (``step.py`` holds one step).
"""

from __future__ import annotations

import base64
import io as _bytes_io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from .config import FlyThroughConfig, settings_from_metadata
from .devices import resolve_device
from .flight import Flight, Frame, StepTimings
from .geometry import intrinsics_from_fov
from .io import VideoWriter, load_image
from .render import check_render_backend
from .scene import PreparedScene, prepare_scene

__all__ = ["FlyThrough", "FlyThroughConfig", "FlyThroughOutput", "Frame", "StepTimings", "load_refiner"]

#: File names ``save_pretrained`` writes and ``from_pretrained`` reads in a folder.
GENERATOR_FILE, DEPTH_FILE, SKY_FILE = "generator.safetensors", "depth.safetensors", "sky.safetensors"


@dataclass
class FlyThroughOutput:
    """Result of ``FlyThrough.__call__``.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8; ``frames[0]`` is the prepared input view.
        disparities: ``(T, H, W)`` float32 normalized disparity.
        poses: ``(T, 4, 4)`` world-to-camera poses.
        K: ``(3, 3)`` intrinsics of the frames.
        warnings: what degraded during the run (e.g. skipped sky blends).
        timings: seconds per step of the loop (``StepTimings``).
        source: the refiner's provenance when it was loaded by name (``hub.checkpoint_source``:
            name, file, sha256, url, zip member); empty otherwise.
    """

    frames: np.ndarray
    disparities: np.ndarray
    poses: np.ndarray
    K: np.ndarray
    warnings: list[str] = field(default_factory=list)
    timings: StepTimings = field(default_factory=StepTimings)
    source: dict = field(default_factory=dict)

    def save(self, path: str | Path, *, fps: float = 30.0, overwrite: bool = False) -> Path:
        """Write the frames to ``.mp4``/``.webm``/``.gif`` or a folder of PNGs (no suffix).

        Raises:
            FileExistsError: ``path`` exists and ``overwrite`` is not set.
        """
        with VideoWriter(path, fps=fps, overwrite=overwrite) as w:
            for f in self.frames:
                w.append(f)
        return w.path

    def strip(self, count: int = 5) -> np.ndarray:
        """``count`` frames evenly spaced from first to last, side by side: ``(H, count * W, 3)`` uint8."""
        idx = np.unique(np.linspace(0, len(self.frames) - 1, max(1, min(count, len(self.frames)))).round().astype(int))
        return np.concatenate([self.frames[i] for i in idx], axis=1)

    def _repr_html_(self) -> str:
        """A notebook shows the output as a strip of frames and its warnings."""
        from PIL import Image

        buf = _bytes_io.BytesIO()
        Image.fromarray(self.strip()).save(buf, format="PNG")
        t, h, w = self.frames.shape[:3]
        notes = "".join(f"<br>warning: {x}" for x in self.warnings)
        return (
            f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}" style="max-width:100%">'
            f"<br>{t} frames of {w}x{h} px{notes}"
        )


#: Smallest and largest side of a frame (``FlyThrough.frame_shape``).
MIN_SIDE, MAX_SIDE = 16, 2048


def check_frame_size(height, width) -> None:
    """A ``ValueError`` unless ``height`` and ``width`` are multiples of 8 from ``MIN_SIDE`` to
    ``MAX_SIDE`` with an aspect ratio from 1:2 to 2:1."""
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not MIN_SIDE <= v <= MAX_SIDE or v % 8:
            raise ValueError(f"{name} must be a multiple of 8 from {MIN_SIDE} to {MAX_SIDE}, got {v!r}")
    if not 0.5 <= width / height <= 2.0:
        raise ValueError(f"the aspect ratio must be from 1:2 to 2:1, got {width}x{height}")


class FlyThrough:
    """Perpetual view generation from a single photo.

    Built from three components: a refiner (``CoModGenerator``), a depth estimator
    and a sky estimator (callables ``(B, 3, H, W) -> (B, 1, H, W)``), and the loop's
    settings (``config``, a ``FlyThroughConfig``). Everything runs in float32 on the
    CPU unless moved with ``.to(device)``.
    """

    def __init__(self, refiner: torch.nn.Module, depth: Callable, sky: Callable, *, config: FlyThroughConfig | None = None) -> None:
        self.refiner = refiner.eval()
        self.depth = depth
        self.sky = sky
        #: The settings in force (a ``FlyThroughConfig``; checked again when a run starts).
        self.config = config or FlyThroughConfig()
        self.resolution = int(refiner.config.resolution)
        self._mean_latent: Tensor | None = None
        self._progress: dict[str, Any] = {}

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path = "default",
        *,
        depth: str | Callable = "default",
        sky: str | Callable = "default",
        device: str | torch.device = "cpu",
        **overrides: Any,
    ) -> "FlyThrough":
        """Load a refiner with the loop settings stored with it, plus depth and sky estimators.

        Args:
            name_or_path: ``"default"`` (the shipped weights), a folder written by
                ``save_pretrained``, one of our ``.safetensors`` generator files, a
                training run or checkpoint folder, or the official InfiniteNature-Zero
                checkpoint (``.tar``/``.pth``/``.pt``/``.ckpt``).
            depth, sky: names for ``estimators.load_depth`` / ``load_sky`` or callables;
                ``"default"`` takes a ``save_pretrained`` folder's own estimators when it has them.
            device: where to run (``"auto"`` picks CUDA when available).
            **overrides: ``FlyThroughConfig`` fields, applied on top of the stored
                settings (e.g. ``detail=0``).

        Raises:
            ValueError: an override names no setting (the message lists them) or is out of range.
        """
        from .estimators import load_depth, load_sky

        if "config" in overrides:
            raise TypeError(
                "from_pretrained takes settings as keyword overrides (e.g. detail=0); "
                "to replace them all, assign pipe.config = FlyThroughConfig(...) after loading"
            )
        refiner, settings = load_refiner(name_or_path)
        config = settings.replace(**overrides)
        folder = Path(name_or_path) if str(name_or_path) != "default" else None
        if folder is not None and folder.is_dir():
            depth = folder / DEPTH_FILE if depth == "default" and (folder / DEPTH_FILE).is_file() else depth
            sky = folder / SKY_FILE if sky == "default" and (folder / SKY_FILE).is_file() else sky
        depth_fn = depth if callable(depth) else load_depth(depth)
        sky_fn = sky if callable(sky) else load_sky(sky)
        return cls(refiner, depth_fn, sky_fn, config=config).to(device)

    def save_pretrained(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the refiner with the settings in force, and our own depth and sky networks, to ``folder``.

        ``FlyThrough.from_pretrained(folder)`` restores the same pipeline. Estimators that
        are not our networks (``hf:`` models, fixed maps, callables) are not saved.

        Raises:
            FileExistsError: ``folder`` already holds one of the files and ``overwrite`` is not set.
        """
        from .weights import save_model

        folder = Path(folder)
        parts = [(GENERATOR_FILE, self.refiner, {"pipeline": self.config.validate().to_dict()})]
        parts += [(name, est, None) for name, est in ((DEPTH_FILE, self.depth), (SKY_FILE, self.sky)) if hasattr(est, "_weights_kind")]
        existing = [str(folder / name) for name, _, _ in parts if (folder / name).exists()]
        if existing and not overwrite:
            raise FileExistsError(f"{existing[0]} already exists (pass overwrite=True to replace it)")
        folder.mkdir(parents=True, exist_ok=True)
        for name, model, extra in parts:
            save_model(model, folder / name, extra=extra)
        return folder

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
    def source(self) -> dict:
        """The refiner's provenance when it was loaded by name (e.g. the official checkpoint's sha256); else empty."""
        return dict(getattr(self.refiner, "source", None) or {})

    @property
    def device(self) -> torch.device:
        return next(self.refiner.parameters()).device

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for the runs' tqdm progress bar (e.g. ``disable=True``, ``desc="hills"``)."""
        self._progress = dict(kwargs)

    # ------------------------------------------------------------------ steps
    def frame_shape(self, height: int | None = None, width: int | None = None) -> tuple[int, int]:
        """The ``(height, width)`` of the frames a run makes, checked (see ``iter_frames``).

        Without a size: square frames of the refiner's resolution (times ``supersample``
        with ``frame_size="state"``), as published.

        Raises:
            ValueError: only one of the two given, sides that are not multiples of 8 in
                ``MIN_SIDE..MAX_SIDE``, an aspect ratio beyond 1:2..2:1, or (with
                ``frame_size="state"``) sides not divisible by ``supersample``.
        """
        cfg = self.config
        if height is None and width is None:
            side = self.resolution * (cfg.supersample if cfg.frame_size == "state" else 1)
            return side, side
        if height is None or width is None:
            raise ValueError("give both height and width, or neither")
        check_frame_size(height, width)
        if cfg.frame_size == "state" and (height % cfg.supersample or width % cfg.supersample):
            raise ValueError(f"with supersample={cfg.supersample} the frame's sides must be multiples of it, got {width}x{height}")
        return int(height), int(width)

    def _state_shape(self, frame: tuple[int, int]) -> tuple[int, int]:
        """The loop state's ``(height, width)`` for frames of ``frame``."""
        k = 1 if self.config.frame_size == "state" else self.config.supersample
        return frame[0] * k, frame[1] * k

    def prepare(self, image, *, height: int | None = None, width: int | None = None) -> PreparedScene:
        """Load and prepare a photo (path, PIL image, array or tensor) on the pipeline's device.

        The scene is the loop's state for frames of ``height x width`` (``frame_shape``;
        default: ``resolution * config.supersample`` square), and carries an anchor when
        ``config.anchor_scale`` is set.
        """
        state = self._state_shape(self.frame_shape(height, width))
        img = load_image(image).to(self.device)
        cfg = self.config
        return prepare_scene(
            img,
            self.depth,
            self.sky,
            size=state,
            fov_deg=cfg.fov_deg,
            canvas_scale=cfg.canvas_scale,
            anchor_scale=cfg.anchor_scale,
            skyline_repair=cfg.skyline_repair,
        )

    def mean_latent(self) -> Tensor:
        """The truncation mean (cached): mean mapped latent of a fixed set of samples."""
        if self._mean_latent is None:
            g = torch.Generator().manual_seed(123456)
            with torch.no_grad():
                self._mean_latent = self.refiner.mean_latent(self.config.mean_latent_samples, generator=g).to(self.device)
        return self._mean_latent

    def iter_frames(
        self,
        image,
        num_frames: int = 100,
        *,
        seed: int = 0,
        generator: torch.Generator | None = None,
        trajectory="autopilot",
        callback: Callable[[Frame], None] | None = None,
        progress: bool | None = False,
        scene: PreparedScene | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> Flight:
        """Start a flight; iterate the returned ``Flight`` for its frames (flat memory at any length).

        Args:
            image: photo as a path, PIL image, numpy array or tensor (ignored when
                ``scene`` is given).
            num_frames: frames to yield, including frame 0 (the prepared input view).
            seed: seeds the sequence latent, the noise when ``stochastic`` and the
                surface detail (ignored when ``generator`` is given).
            generator: a ``torch.Generator`` to draw the latent (and noise) from instead;
                the surface detail then uses its ``initial_seed()``.
            trajectory: ``"autopilot"``, ``"straight"``, ``"pan"``, ``"orbit"``, a
                camera-path object, a callable ``step -> (4, 4)`` pose, or ``(N, 4, 4)``
                keyframe poses (see ``autopilot.make_camera_path``).
            callback: called with every ``Frame`` as it is made.
            progress: show a tqdm progress bar (``None``: unless
                ``set_progress_bar_config(disable=True)``; ``__call__`` passes ``None``,
                a stream shows none unless asked).
            scene: a ``PreparedScene`` to start from (skips loading and estimation).
            height, width: the frames' size in pixels (both or neither): multiples of 8
                from ``MIN_SIDE`` to ``MAX_SIDE``, aspect ratio from 1:2 to 2:1. Frame 0 is
                the widest centred crop of the photo of that shape; ``fov_deg`` spans the
                width. Default: square frames as published (``frame_shape``).

        Returns:
            A ``Flight``: an iterable of ``Frame`` objects whose ``warnings`` and
            ``timings`` fill in as it runs.

        Raises:
            ValueError: a bad argument, setting, photo or scene (before any work on the photo).
        """
        if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
            raise ValueError(f"num_frames must be a whole number >= 1, got {num_frames!r}")
        if generator is None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
                raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
            generator = torch.Generator().manual_seed(int(seed))
        elif not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        else:
            seed = generator.initial_seed()
        cfg = self.config.validate()  # fields may have been set one by one since construction
        check_render_backend(cfg.render_backend)  # ValueError / ImportError before any work
        frame = self.frame_shape(height, width)
        t0 = time.perf_counter()
        state = scene.to(self.device) if scene is not None else self.prepare(image, height=height, width=width)
        _check_scene(state, self._state_shape(frame), self.resolution, cfg)
        show = self._progress.get("disable") is not True if progress is None else bool(progress)
        bar = {k: v for k, v in self._progress.items() if k != "disable"} if show else None
        return Flight(
            self.refiner, cfg, state, int(num_frames), generator=generator, seed=int(seed), trajectory=trajectory,
            callback=callback, progress=bar, prepare_seconds=time.perf_counter() - t0,
            truncation_mean=self.mean_latent() if cfg.truncation < 0.999 else None,
        )

    def __call__(
        self,
        image,
        num_frames: int = 100,
        *,
        seed: int = 0,
        generator: torch.Generator | None = None,
        trajectory="autopilot",
        callback: Callable[[Frame], None] | None = None,
        progress: bool | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> FlyThroughOutput:
        """Generate a flythrough; see ``iter_frames`` for the arguments.

        Returns:
            ``FlyThroughOutput`` with ``frames`` ``(T, H, W, 3)`` uint8,
            ``disparities`` ``(T, H, W)``, ``poses`` ``(T, 4, 4)``, the run's
            ``warnings`` and ``timings``.
        """
        flight = self.iter_frames(
            image, num_frames, seed=seed, generator=generator, trajectory=trajectory, callback=callback, progress=progress,
            height=height, width=width,
        )
        frames = list(flight)
        return FlyThroughOutput(
            frames=np.stack([f.image for f in frames]),
            disparities=np.stack([f.disparity for f in frames]),
            poses=np.stack([f.pose for f in frames]),
            K=intrinsics_from_fov(frames[0].image.shape[0], frames[0].image.shape[1], self.config.fov_deg).numpy(),
            warnings=list(flight.warnings),
            timings=flight.timings,
            source=self.source,
        )


def _check_scene(scene: PreparedScene, want: tuple[int, int], resolution: int, cfg: FlyThroughConfig) -> None:
    """A clear error unless the scene fits the frame size, the refiner and the settings."""
    if tuple(scene.rgb.shape[-2:]) != want:
        h, w = scene.rgb.shape[-2:]
        raise ValueError(
            f"the scene is {w}x{h} px but these frames with a {resolution} px refiner and supersample={cfg.supersample} "
            f"need a {want[1]}x{want[0]} state (prepare it with FlyThrough.prepare(image, height=..., width=...))"
        )
    if cfg.anchor_scale and scene.anchor is None:
        raise ValueError(
            f"anchor_scale={cfg.anchor_scale} needs a scene with an anchor (prepare it with FlyThrough.prepare, "
            "or prepare_scene(anchor_scale=...))"
        )
    if cfg.aerial_perspective > 0 and not scene.anchor.has_haze:
        raise ValueError(
            "aerial_perspective needs a scene whose anchor carries the photo's haze (prepare it with FlyThrough.prepare, "
            "or build_anchor(haze=haze.estimate_haze(...)))"
        )


def load_refiner(name_or_path: str | Path = "default") -> tuple[torch.nn.Module, FlyThroughConfig]:
    """A refiner and the loop settings that go with it.

    Args:
        name_or_path: ``"default"`` (shipped weights), ``"infinite-nature-zero"`` (the
            official checkpoint, downloaded once into ``hub.cache_dir()``; the names are
            ``hub.names("refiner")``), a ``save_pretrained`` folder, one of
            our ``.safetensors`` generator files, a training run folder (its
            ``export/generator_ema.safetensors``), a training checkpoint folder (its
            ``G_ema.safetensors``), or the official checkpoint (``.tar``/``.pth``/``.pt``/``.ckpt``).

    Returns:
        ``(refiner, config)``: the generator in eval mode on the CPU, and the
        ``FlyThroughConfig`` stored with our weights (``extra["pipeline"]`` in the
        safetensors metadata, ``config.settings_from_metadata``) or, for the official
        checkpoint, the release's behaviour (``FlyThroughConfig.published``). A refiner
        loaded by name carries ``refiner.source`` (``hub.checkpoint_source``: name, file, sha256, URL).

    Raises:
        FileNotFoundError: neither a name nor an existing path (the message lists what is accepted);
            ``hub.OfflineError`` for a name that is not cached and cannot be downloaded now.
        hub.DownloadError: the download failed or arrived damaged (nothing of it is kept).
    """
    from . import hub
    from .weights import generator_file, load_model, read_metadata, resolve_weights

    by_name = hub.resolve_refiner(name_or_path)
    if by_name is not None:
        from .models import load_official_generator

        refiner = load_official_generator(by_name)
        refiner.source = hub.checkpoint_source(by_name, name=str(name_or_path))
        return refiner, FlyThroughConfig.published()
    if str(name_or_path) != "default" and not Path(name_or_path).expanduser().exists():
        raise hub.refiner_not_found(name_or_path)
    path = resolve_weights(name_or_path, "generator-default.safetensors")
    if path.is_dir() and (path / GENERATOR_FILE).is_file():
        path = path / GENERATOR_FILE
    path = generator_file(path)
    if path.suffix.lower() in (".tar", ".pth", ".pt", ".ckpt"):
        from .models import load_official_generator

        return load_official_generator(path), FlyThroughConfig.published()
    refiner = load_model(path, kind="generator")
    return refiner, settings_from_metadata(read_metadata(path)["extra"].get("pipeline", {}))
