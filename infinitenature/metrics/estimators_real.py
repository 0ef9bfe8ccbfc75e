"""Metrics and loader for the real-photo evaluation set of the depth and sky estimators.

The set lives in ``data/real_photos/`` of the repository (see its README):
``images/NAME.jpg`` (RGB, at most 1024 px on the long side), ``sky/NAME.png``
(8-bit, 255 sky, 0 not sky, 128 uncertain), ``depth_pairs.json`` (ordinal
depth pairs in pixel coordinates) and ``split.json`` (``heldout`` / ``train``).

Example:
    >>> import numpy as np
    >>> truth = np.zeros((8, 8), np.uint8); truth[:4] = 255
    >>> sky_iou(truth == 255, truth, band=0)
    1.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = [
    "SKY",
    "UNCERTAIN",
    "NOT_SKY",
    "RealPhoto",
    "load_real_photos",
    "read_split",
    "boundary_band",
    "sky_iou",
    "sky_share",
    "pair_results",
    "pair_accuracy",
]

#: Values of a true sky mask.
SKY, UNCERTAIN, NOT_SKY = 255, 128, 0


@dataclass
class RealPhoto:
    """One photo of the set.

    Attributes:
        name: file stem, e.g. ``"hills"``.
        image: ``(H, W, 3)`` float32 RGB in ``[0, 1]``.
        sky: ``(H, W)`` uint8 true mask with values in ``{0, 128, 255}``.
        pairs: list of ``{"a": [x, y], "b": [x, y], "nearer": "a" | "b",
            "prior_breaking": bool, "note": str}`` in pixel coordinates.
    """

    name: str
    image: np.ndarray
    sky: np.ndarray
    pairs: list = field(default_factory=list)

    @property
    def has_sky(self) -> bool:
        """Whether any pixel is surely sky (value 255)."""
        return bool((self.sky == SKY).any())


def read_split(root: str | Path) -> dict[str, list[str]]:
    """``split.json`` of the set at ``root``: ``{"heldout": [...], "train": [...]}``."""
    return json.loads((Path(root) / "split.json").read_text())


def load_real_photos(root: str | Path, split: str = "all") -> list[RealPhoto]:
    """Load the photos of ``split`` (``"heldout"``, ``"train"`` or ``"all"``), sorted by name."""
    from PIL import Image

    root = Path(root)
    if split == "all":
        names = sorted(p.stem for p in (root / "images").glob("*.jpg"))
    else:
        parts = read_split(root)
        if split not in parts:
            raise ValueError(f"split must be 'heldout', 'train' or 'all', got {split!r}")
        names = sorted(parts[split])
    pairs = json.loads((root / "depth_pairs.json").read_text())
    photos = []
    for name in names:
        image = np.asarray(Image.open(root / "images" / f"{name}.jpg").convert("RGB"), np.float32) / 255
        sky = np.asarray(Image.open(root / "sky" / f"{name}.png"))
        photos.append(RealPhoto(name, image, sky, pairs.get(name, [])))
    return photos


def boundary_band(truth: np.ndarray, width: float = 3) -> np.ndarray:
    """Pixels within ``width`` px of a true sky / not-sky boundary.

    Args:
        truth: ``(H, W)`` true mask (255 sky, 0 not sky, 128 uncertain).
        width: Euclidean distance in pixels; a sky pixel is in the band when a
            not-sky pixel lies within ``width`` of it, and the other way round.
            Uncertain pixels neither make nor join a boundary. ``0`` gives an
            empty band.

    Returns:
        ``(H, W)`` bool. For a straight vertical boundary the band is
        ``2 * floor(width)`` columns wide (``floor(width)`` on each side).
    """
    sky, ground = truth == SKY, truth == NOT_SKY
    if width <= 0 or not sky.any() or not ground.any():
        return np.zeros(truth.shape, bool)
    to_ground = ndimage.distance_transform_edt(~ground)  # distance to the nearest not-sky pixel
    to_sky = ndimage.distance_transform_edt(~sky)
    return (sky & (to_ground <= width)) | (ground & (to_sky <= width))


def _as_bool(pred: np.ndarray, threshold: float) -> np.ndarray:
    pred = np.asarray(pred)
    if pred.ndim != 2:
        raise ValueError(f"prediction must be (H, W), got shape {pred.shape}")
    return pred if pred.dtype == bool else pred > threshold


def sky_iou(pred: np.ndarray, truth: np.ndarray, band: float = 3, threshold: float = 0.5) -> float:
    """Intersection over union of predicted and true sky.

    Args:
        pred: ``(H, W)`` sky probability in ``[0, 1]`` (sky where ``> threshold``)
            or a bool mask.
        truth: ``(H, W)`` uint8 true mask (255 sky, 0 not sky, 128 uncertain).
        band: pixels within this many px of a true boundary are ignored
            (``boundary_band``); uncertain pixels are always ignored.
        threshold: probability above which a pixel counts as sky.

    Returns:
        IoU in ``[0, 1]`` over the scored pixels; ``nan`` when neither the truth
        nor the prediction has sky there (use ``sky_share`` for photos without sky).
    """
    p = _as_bool(pred, threshold)
    if p.shape != truth.shape:
        raise ValueError(f"prediction {p.shape} and truth {truth.shape} differ in size")
    scored = (truth != UNCERTAIN) & ~boundary_band(truth, band)
    t = truth == SKY
    union = ((p | t) & scored).sum()
    if union == 0:
        return float("nan")
    return float(((p & t) & scored).sum() / union)


def sky_share(pred: np.ndarray, truth: np.ndarray | None = None, threshold: float = 0.5) -> float:
    """Fraction of pixels predicted as sky (uncertain true pixels excluded when ``truth`` is given).

    Args:
        pred: ``(H, W)`` sky probability in ``[0, 1]`` or bool mask.
        truth: optional ``(H, W)`` true mask; its 128 pixels are not counted.
        threshold: probability above which a pixel counts as sky.

    Returns:
        Share in ``[0, 1]``.
    """
    p = _as_bool(pred, threshold)
    scored = np.ones(p.shape, bool) if truth is None else truth != UNCERTAIN
    n = scored.sum()
    return float((p & scored).sum() / n) if n else float("nan")


def pair_results(disparity: np.ndarray, pairs: list) -> np.ndarray:
    """Whether each ordinal pair is ordered right by ``disparity``.

    Args:
        disparity: ``(H, W)`` predicted disparity (larger = nearer; any scale).
        pairs: ``[{"a": [x, y], "b": [x, y], "nearer": "a" | "b", ...}, ...]``
            with integer pixel coordinates (column ``x``, row ``y``).

    Returns:
        ``(N,)`` bool: True where the nearer point has the strictly greater
        disparity (a tie is wrong).
    """
    d = np.asarray(disparity)
    out = np.zeros(len(pairs), bool)
    for i, pr in enumerate(pairs):
        near = pr[pr["nearer"]]
        far = pr["b" if pr["nearer"] == "a" else "a"]
        out[i] = d[near[1], near[0]] > d[far[1], far[0]]
    return out


def pair_accuracy(disparity: np.ndarray, pairs: list, prior_breaking: bool | None = None) -> tuple[int, int]:
    """``(right, total)`` over ``pairs``; ``prior_breaking`` True/False keeps only those pairs."""
    if prior_breaking is not None:
        pairs = [p for p in pairs if bool(p["prior_breaking"]) == prior_breaking]
    ok = pair_results(disparity, pairs)
    return int(ok.sum()), len(pairs)
