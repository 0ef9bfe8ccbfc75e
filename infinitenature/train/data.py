"""Training data from a folder of single photos (plus an optional synthetic mix).

* ``list_photos`` finds the images of a folder.
* ``PhotoCache`` runs the depth and sky estimators ONCE per photo at a fixed
  working size (short side ``work_size``) and stores ``rgb``/``disparity``/``sky``
  in one ``.npz`` per photo, named by the photo's content hash, the estimators'
  names and the working size; later runs (and the other ranks) only read it.
* ``PhotoDataset`` cuts random square crops at several scales, flips, jitters
  colour, resizes to the training resolution and normalizes the disparity per
  crop (``normalize_disparity``): exactly what the pipeline does to a photo.
* ``TrainingData`` mixes photos and procedural landscapes at a ratio.
* ``StepSampler`` gives every (step, rank, slot) its item and its own seed, so
  the data of step ``k`` is a pure function of ``(seed, k, rank)``: a resumed
  run sees exactly the batches an uninterrupted one would, without saving any
  loader state, and ranks see disjoint shards (like ``DistributedSampler``).

Items are dicts: ``rgb`` ``(3, S, S)`` in ``[0, 1]``, ``disparity`` ``(1, S, S)``
normalized to ``[0.01, 1]`` and ``sky`` ``(1, S, S)`` in ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..estimators.normalize import normalize_disparity
from ..io import ImageError, load_image

__all__ = [
    "IMAGE_SUFFIXES",
    "list_photos",
    "file_digest",
    "CachedPhoto",
    "PhotoCache",
    "random_crop",
    "PhotoDataset",
    "TrainingData",
    "StepSampler",
    "item_seed",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

Estimator = Callable[[Tensor], Tensor]


def list_photos(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden folders skipped).

    Raises:
        ValueError: ``folder`` is not a folder or holds no images.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ValueError(f"photo folder {root} does not exist or is not a folder")
    found = sorted(
        p for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not found:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {root}")
    return found


def file_digest(path: str | Path, length: int = 20) -> str:
    """First ``length`` hex digits of the SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


@dataclass
class CachedPhoto:
    """One photo at the working size: ``rgb`` ``(H, W, 3)`` uint8, ``disparity`` ``(H, W)``
    float32 raw estimator output (larger = nearer, any scale), ``sky`` ``(H, W)`` uint8 (255 = sky)."""

    rgb: np.ndarray
    disparity: np.ndarray
    sky: np.ndarray


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
    if len(slug) > 40:  # long paths: keep a readable tail plus a hash of the whole
        slug = slug[-24:] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return slug or "estimator"


class PhotoCache:
    """Disparity and sky of every photo, computed once and stored as ``.npz``.

    Args:
        cache_dir: folder of the ``.npz`` files (created on demand).
        depth, sky: callables ``image (1, 3, H, W) in [0, 1] -> (1, 1, H, W)``
            (``infinitenature.estimators.load_depth/load_sky`` return such).
            Only needed to fill missing entries.
        estimator_name: names the estimators in the cache key (e.g.
            ``"default+default"``); change it when the estimators change.
        work_size: short side in pixels of the cached photo and maps.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        *,
        depth: Estimator | None,
        sky: Estimator | None,
        estimator_name: str,
        work_size: int = 384,
    ) -> None:
        if work_size < 16:
            raise ValueError(f"work_size must be >= 16, got {work_size}")
        self.cache_dir = Path(cache_dir)
        self.depth = depth
        self.sky = sky
        self.estimator_name = estimator_name
        self.work_size = work_size
        self._digests: dict[Path, str] = {}

    def path_for(self, photo: str | Path) -> Path:
        photo = Path(photo)
        if photo not in self._digests:
            self._digests[photo] = file_digest(photo)
        return self.cache_dir / f"{self._digests[photo]}-{_slug(self.estimator_name)}-{self.work_size}.npz"

    def get(self, photo: str | Path) -> CachedPhoto:
        """Read the photo's entry, computing and writing it first if missing."""
        path = self.path_for(photo)
        if not path.is_file():
            self._compute(Path(photo), path)
        with np.load(path) as z:
            return CachedPhoto(rgb=z["rgb"], disparity=z["disparity"], sky=z["sky"])

    def _compute(self, photo: Path, path: Path) -> None:
        rgb = load_image(photo, max_side=4 * self.work_size)  # unreadable files fail here, on every rank alike
        if self.depth is None or self.sky is None:
            raise ValueError(f"{photo} is not cached in {self.cache_dir} and no estimators were given")
        H, W = rgb.shape[-2:]
        scale = self.work_size / min(H, W)
        size = (max(1, round(H * scale)), max(1, round(W * scale)))
        rgb = F.interpolate(rgb[None], size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
        with torch.no_grad():
            disp = self.depth(rgb).float()
            sky = self.sky(rgb).float()
        if disp.shape != (1, 1, *size) or sky.shape != (1, 1, *size):
            raise ValueError(
                f"estimators must return (1, 1, {size[0]}, {size[1]}) maps, got {tuple(disp.shape)} and {tuple(sky.shape)}"
            )
        if not torch.isfinite(disp).all():
            raise ValueError(f"the depth estimator returned non-finite disparity for {photo}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            rgb=(rgb[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8),
            disparity=disp[0, 0].numpy().astype(np.float32),
            sky=(sky[0, 0].clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8),
            source=np.array(str(photo)),
        )
        tmp.replace(path)  # atomic: ranks and workers never see half a file

    def build(self, photos: Sequence[str | Path], *, skip_unreadable: bool = True, progress: bool = False) -> list[Path]:
        """Fill the cache for ``photos``; return the usable ones.

        Unreadable photos are skipped with one warning naming them (or raise
        ``ImageError`` when ``skip_unreadable`` is False). Raises ``ValueError``
        when none remain.
        """
        ok, bad = [], []
        it = photos
        if progress:
            from tqdm import tqdm

            it = tqdm(photos, desc="caching disparity/sky", unit="photo")
        for p in it:
            try:
                self.get(p)
                ok.append(Path(p))
            except ImageError as e:
                if not skip_unreadable:
                    raise
                bad.append(str(e))
        if bad:
            warnings.warn(f"skipped {len(bad)} unreadable image(s): " + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""), stacklevel=2)
        if not ok:
            raise ValueError(f"none of the {len(photos)} image(s) could be read (first error: {bad[0]})")
        return ok


def _resize(x: Tensor, size: int) -> Tensor:
    return F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]


def random_crop(
    rgb: Tensor,
    disparity: Tensor,
    sky: Tensor,
    *,
    resolution: int,
    scale: tuple[float, float] = (0.6, 1.0),
    flip: bool = True,
    color_jitter: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """One square crop of a photo and its maps, cut identically, resized and normalized.

    Args:
        rgb: ``(3, H, W)`` in ``[0, 1]``; disparity ``(1, H, W)`` raw (larger = nearer);
            sky ``(1, H, W)`` in ``[0, 1]``.
        resolution: output side ``S``.
        scale: the crop side is ``U(scale) * min(H, W)``.
        generator: draws crop, flip and jitter; ``None`` gives the deterministic
            centre crop of side ``scale[1] * min(H, W)`` without flip or jitter.
        color_jitter: brightness, contrast and saturation factors ``1 + U(-j, j)``.

    Returns:
        dict ``rgb (3, S, S)``, ``disparity (1, S, S)`` normalized per crop, ``sky (1, S, S)``.
    """
    H, W = rgb.shape[-2:]
    if generator is None:  # centre crop at the largest scale, no flip, no jitter
        u = torch.tensor([1.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5])
    else:
        u = torch.rand(7, generator=generator)
    side = max(1, round(min(H, W) * (scale[0] + (scale[1] - scale[0]) * float(u[0]))))
    top, left = round((H - side) * float(u[1])), round((W - side) * float(u[2]))
    crop = torch.cat([rgb, disparity, sky], dim=0)[:, top : top + side, left : left + side]
    crop = _resize(crop, resolution)
    if flip and float(u[3]) < 0.5:
        crop = crop.flip(-1)
    out_rgb = crop[:3].clamp(0, 1)
    if color_jitter > 0:
        b, c, s = (1.0 + color_jitter * (2 * u[4:7] - 1)).tolist()
        gray = (out_rgb * torch.tensor([0.299, 0.587, 0.114]).reshape(3, 1, 1)).sum(0, keepdim=True)
        out_rgb = gray + s * (out_rgb - gray)  # saturation
        out_rgb = out_rgb.mean() + c * (out_rgb - out_rgb.mean())  # contrast
        out_rgb = (b * out_rgb).clamp(0, 1)  # brightness
    return {
        "rgb": out_rgb.contiguous(),
        "disparity": normalize_disparity(crop[None, 3:4])[0].contiguous(),
        "sky": crop[4:5].clamp(0, 1).contiguous(),
    }


class PhotoDataset(torch.utils.data.Dataset):
    """Random crops of cached photos.

    ``dataset[i]`` is the centre crop of photo ``i`` (deterministic, used for
    sample strips); ``dataset[(i, seed)]`` is a random crop drawn with a
    generator seeded by ``seed``.
    """

    def __init__(
        self,
        photos: Sequence[str | Path],
        cache: PhotoCache,
        *,
        resolution: int = 128,
        crop_scale: tuple[float, float] = (0.6, 1.0),
        color_jitter: float = 0.05,
    ) -> None:
        if not photos:
            raise ValueError("PhotoDataset needs at least one photo")
        self.photos = [Path(p) for p in photos]
        self.cache = cache
        self.resolution = resolution
        self.crop_scale = crop_scale
        self.color_jitter = color_jitter

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        index, seed = (key, None) if isinstance(key, int) else key
        c = self.cache.get(self.photos[index])
        rgb = torch.from_numpy(c.rgb).permute(2, 0, 1).float() / 255.0
        disp = torch.from_numpy(c.disparity)[None].float()
        sky = torch.from_numpy(c.sky)[None].float() / 255.0
        if seed is None:
            return random_crop(rgb, disp, sky, resolution=self.resolution, scale=(1.0, 1.0), flip=False)
        g = torch.Generator().manual_seed(seed)
        return random_crop(
            rgb, disp, sky, resolution=self.resolution, scale=self.crop_scale,
            color_jitter=self.color_jitter, generator=g,
        )


class TrainingData(torch.utils.data.Dataset):
    """Photos mixed with procedural landscapes.

    Args:
        photos: a ``PhotoDataset`` (or ``None`` for synthetic only).
        synthetic: any dataset whose items are dicts with ``rgb``, ``disparity``
            (normalized) and ``sky`` at the training resolution, e.g.
            ``infinitenature.synthetic.SyntheticDataset`` (or ``None``).
        synthetic_ratio: probability that an item comes from ``synthetic``.

    ``data[(i, seed)]``: the seed decides the source, the synthetic index and
    the flip, so items stay a pure function of the key.
    """

    def __init__(self, photos: PhotoDataset | None, synthetic=None, *, synthetic_ratio: float = 0.0) -> None:
        if photos is None and synthetic is None:
            raise ValueError("TrainingData needs photos, synthetic data or both")
        if synthetic_ratio > 0 and synthetic is None:
            raise ValueError("synthetic_ratio > 0 needs a synthetic dataset")
        if photos is None and synthetic_ratio < 1:
            raise ValueError("without photos synthetic_ratio must be 1")
        self.photos = photos
        self.synthetic = synthetic
        self.synthetic_ratio = synthetic_ratio

    def __len__(self) -> int:
        return len(self.photos) if self.photos is not None else len(self.synthetic)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        if isinstance(key, int):
            return self.photos[key] if self.photos is not None else self._synthetic(key, flip=False)
        index, seed = key
        g = torch.Generator().manual_seed(seed)
        u = torch.rand(2, generator=g)
        if self.synthetic is not None and float(u[0]) < self.synthetic_ratio:
            j = int(torch.randint(len(self.synthetic), (1,), generator=g))
            return self._synthetic(j, flip=float(u[1]) < 0.5)
        return self.photos[(index % len(self.photos), seed)]

    def _synthetic(self, index: int, *, flip: bool) -> dict[str, Tensor]:
        item = self.synthetic[index]
        out = {k: item[k].float() for k in ("rgb", "disparity", "sky")}
        return {k: (v.flip(-1) if flip else v).contiguous() for k, v in out.items()}


def item_seed(seed: int, position: int) -> int:
    """A 63-bit seed for the item at global ``position`` of a run seeded by ``seed``."""
    h = hashlib.blake2b(f"{seed}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


class StepSampler(torch.utils.data.Sampler):
    """Batches of ``(index, item_seed)`` keys for steps ``start_step, ..., num_steps - 1``.

    Global position ``p = step * batch_size * world_size + rank * batch_size + j``;
    the index is ``perm_e[p mod N]`` with a fresh permutation per epoch
    ``e = p // N`` (seeded by ``(seed, e)``), so each epoch visits every item
    once across all ranks, and the key is a pure function of ``(seed, p)``.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
        num_steps: int,
    ) -> None:
        if num_items < 1 or batch_size < 1:
            raise ValueError(f"num_items and batch_size must be >= 1, got {num_items}, {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step
        self.num_steps = num_steps
        self._perm_cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return max(0, self.num_steps - self.start_step)

    def _perm(self, epoch: int) -> Tensor:
        if epoch not in self._perm_cache:
            self._perm_cache = {epoch: torch.randperm(self.num_items, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))}
        return self._perm_cache[epoch]

    def keys(self, step: int) -> list[tuple[int, int]]:
        """The keys this rank loads at ``step``."""
        base = (step * self.world_size + self.rank) * self.batch_size
        out = []
        for p in range(base, base + self.batch_size):
            epoch, offset = divmod(p, self.num_items)
            out.append((int(self._perm(epoch)[offset]), item_seed(self.seed, p)))
        return out

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.num_steps):
            yield self.keys(step)
