"""A torch ``Dataset`` of procedural landscape views with ground truth."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .. import geometry
from ..estimators.normalize import depth_to_disparity, normalize_disparity
from .landscape import Landscape

__all__ = ["CameraJitter", "SyntheticDataset"]


@dataclass(frozen=True)
class CameraJitter:
    """Ranges of the per-item random camera (uniform draws).

    Attributes:
        distance: how far along the valley the camera stands.
        clearance: height above the ground.
        yaw_deg: heading relative to the valley direction.
        pitch_deg: look up (positive) or down (negative).
    """

    distance: tuple[float, float] = (0.0, 512.0)
    clearance: tuple[float, float] = (0.7, 2.0)
    yaw_deg: tuple[float, float] = (-25.0, 25.0)
    pitch_deg: tuple[float, float] = (-12.0, 2.0)

    def __post_init__(self) -> None:
        for name in ("distance", "clearance", "yaw_deg", "pitch_deg"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} range must be (low, high) with low <= high, got {(lo, hi)}")
        if self.clearance[0] <= 0.0:
            raise ValueError(f"clearance must be positive, got {self.clearance}")


class SyntheticDataset(Dataset):
    """Views of procedural landscapes with exact disparity and sky masks.

    Item ``i`` shows scene ``seeds[i // views_per_scene]`` from a camera drawn
    with a generator seeded by ``(seed, i)``, so every index always gives the
    same sample, in any order and in any worker.

    Args:
        seeds: scene seeds (e.g. ``range(1000)``).
        size: square image size ``S``.
        views_per_scene: items per scene (consecutive indices share a scene).
        fov_deg: horizontal field of view.
        jitter: ranges of the random camera.
        resolution: height-field texels per side of each scene.
        cache_scenes: how many baked scenes to keep in memory per worker.

    Each item is a dict of float tensors: ``rgb`` ``(3, S, S)`` in ``[0, 1]``,
    ``disparity`` ``(1, S, S)`` normalized to ``[0.01, 1]`` (nearest content
    about 0.8, docs/CONVENTIONS.md), ``sky`` ``(1, S, S)`` in ``{0, 1}``,
    ``depth`` ``(1, S, S)`` z-depth (``inf`` on sky), ``K`` ``(3, 3)`` and
    ``pose`` ``(4, 4)`` world-to-camera.
    """

    def __init__(
        self,
        seeds: Sequence[int] = range(1000),
        size: int = 128,
        *,
        views_per_scene: int = 1,
        fov_deg: float = 55.0,
        jitter: CameraJitter | None = None,
        resolution: int = 512,
        cache_scenes: int = 2,
    ) -> None:
        self.seeds = list(seeds)
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        if size < 8:
            raise ValueError(f"size must be >= 8, got {size}")
        if views_per_scene < 1:
            raise ValueError(f"views_per_scene must be >= 1, got {views_per_scene}")
        self.size = int(size)
        self.views_per_scene = int(views_per_scene)
        self.fov_deg = float(fov_deg)
        self.jitter = jitter or CameraJitter()
        self.resolution = int(resolution)
        self.cache_scenes = max(1, int(cache_scenes))
        self._scenes: OrderedDict[int, Landscape] = OrderedDict()

    def __len__(self) -> int:
        return len(self.seeds) * self.views_per_scene

    def scene(self, seed: int) -> Landscape:
        """The (cached) scene of ``seed``."""
        if seed in self._scenes:
            self._scenes.move_to_end(seed)
            return self._scenes[seed]
        scene = Landscape(seed, resolution=self.resolution)
        self._scenes[seed] = scene
        while len(self._scenes) > self.cache_scenes:
            self._scenes.popitem(last=False)
        return scene

    def camera(self, index: int) -> Tensor:
        """The world-to-camera pose ``(4, 4)`` of item ``index``."""
        seed = self.seeds[index // self.views_per_scene]
        gen = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(index)) % 2**63)
        r = torch.rand(4, generator=gen, dtype=torch.float64).tolist()
        j = self.jitter

        def pick(rng: tuple[float, float], u: float) -> float:
            return rng[0] + (rng[1] - rng[0]) * u

        return self.scene(seed).pose_at(
            pick(j.distance, r[0]),
            clearance=pick(j.clearance, r[1]),
            yaw_deg=pick(j.yaw_deg, r[2]),
            pitch_deg=pick(j.pitch_deg, r[3]),
        )

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index = index % len(self)
        seed = self.seeds[index // self.views_per_scene]
        pose = self.camera(index)
        K = geometry.intrinsics_from_fov(self.size, self.size, self.fov_deg)
        out = self.scene(seed).render(pose, K, self.size, self.size)
        disparity = normalize_disparity(depth_to_disparity(out["depth"][None]))[0]
        return {
            "rgb": out["rgb"],
            "disparity": disparity,
            "sky": out["sky"].float(),
            "depth": out["depth"],
            "K": K,
            "pose": pose,
        }
