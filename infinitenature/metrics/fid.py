"""FID and KID over frame sets with a pluggable feature network.

Statistics first, then the formula: :func:`feature_stats` runs the feature
network once over a frame set and returns a :class:`FeatureStats` (mean,
covariance, optionally the features for KID), which can be saved to ``.npz``
and reused as the reference side of :func:`compute_fid` / :func:`compute_kid`.
:func:`frechet_distance` and :func:`kernel_inception_distance` are the plain
formulas on numpy arrays, as in the standard implementations (pytorch-fid,
Binkowski et al. 2018).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from .features import FeatureExtractor, FrameSource, iter_frame_batches, module_device

__all__ = [
    "FeatureStats",
    "feature_stats",
    "frechet_distance",
    "kernel_inception_distance",
    "compute_fid",
    "compute_kid",
]


@dataclass
class FeatureStats:
    """Statistics of one frame set under one feature network.

    Attributes:
        mu: ``(D,)`` float64 feature mean.
        sigma: ``(D, D)`` float64 feature covariance (``ddof=1``, like ``np.cov``).
        count: number of frames.
        feature_name: ``name`` of the feature network; statistics of different
            networks are never compared.
        features: ``(count, D)`` float32 features, kept for KID; ``None`` when
            only FID is needed.
    """

    mu: np.ndarray
    sigma: np.ndarray
    count: int
    feature_name: str
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.mu = np.asarray(self.mu, dtype=np.float64)
        self.sigma = np.asarray(self.sigma, dtype=np.float64)
        d = self.mu.shape[0] if self.mu.ndim == 1 else -1
        if self.mu.ndim != 1 or self.sigma.shape != (d, d):
            raise ValueError(f"mu must be (D,) and sigma (D, D), got {self.mu.shape} and {self.sigma.shape}")
        if self.features is not None and (self.features.ndim != 2 or self.features.shape[1] != d):
            raise ValueError(f"features must be (N, {d}), got {self.features.shape}")

    @property
    def feature_dim(self) -> int:
        return int(self.mu.shape[0])

    @classmethod
    def from_features(cls, features: np.ndarray | Tensor, *, feature_name: str, keep_features: bool = True) -> FeatureStats:
        """Statistics of an ``(N, D)`` feature matrix, ``N >= 2``."""
        if isinstance(features, Tensor):
            features = features.detach().cpu().numpy()
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"features must be (N, D) with N >= 2, got shape {features.shape}")
        f64 = features.astype(np.float64)
        return cls(
            mu=f64.mean(axis=0),
            sigma=np.cov(f64, rowvar=False),
            count=int(features.shape[0]),
            feature_name=feature_name,
            features=features.astype(np.float32) if keep_features else None,
        )

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (no pickle) and return its path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = dict(mu=self.mu, sigma=self.sigma, count=np.int64(self.count), feature_name=np.str_(self.feature_name))
        if self.features is not None:
            arrays["features"] = self.features
        np.savez(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        """Read statistics written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            missing = {"mu", "sigma", "count", "feature_name"} - set(data.files)
            if missing:
                raise ValueError(f"{path} is not a FeatureStats file: missing {sorted(missing)}")
            return cls(
                mu=data["mu"],
                sigma=data["sigma"],
                count=int(data["count"]),
                feature_name=str(data["feature_name"]),
                features=data["features"] if "features" in data.files else None,
            )


@torch.inference_mode()
def feature_stats(
    frames: FrameSource,
    feature_net: FeatureExtractor,
    *,
    batch_size: int = 50,
    keep_features: bool = True,
    device: torch.device | str | None = None,
) -> FeatureStats:
    """Run ``feature_net`` over a frame set and collect its statistics.

    Args:
        frames: ``uint8 (T, H, W, 3)``, float ``(T, 3, H, W)`` in ``[0, 1]``, or
            an iterable of such chunks (see :func:`iter_frame_batches`); ``T >= 2``.
        feature_net: any :class:`FeatureExtractor`.
        batch_size: frames per forward pass.
        keep_features: keep the ``(T, D)`` features (needed for KID).
        device: where the network runs; default: the device of its parameters
            (CPU for networks without any).

    Returns:
        :class:`FeatureStats` named after ``feature_net.name``.
    """
    if device is None:
        device = module_device(feature_net)
    chunks = [feature_net(batch).double().cpu() for batch in iter_frame_batches(frames, batch_size, device=device)]
    if not chunks:
        raise ValueError("frames is empty")
    feats = torch.cat(chunks)
    if feats.dim() != 2 or feats.shape[1] != feature_net.feature_dim:
        raise ValueError(f"{feature_net.name} returned shape {tuple(feats.shape)}, expected (B, {feature_net.feature_dim})")
    return FeatureStats.from_features(feats.numpy(), feature_name=feature_net.name, keep_features=keep_features)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *, eps: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians (the FID formula).

    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))`` with
    ``scipy.linalg.sqrtm``. As in pytorch-fid, a non-finite square root (near
    singular product) is retried with ``eps * I`` added to both covariances, and
    the imaginary round-off of the result is dropped; an imaginary part above
    ``1e-3`` on the diagonal (also retried with the offset first) raises.
    Covariances from fewer frames than feature dimensions are singular; the
    result is still finite, but such FIDs are biased high and only comparable
    at equal frame counts.

    Args:
        mu1, mu2: ``(D,)`` means.
        sigma1, sigma2: ``(D, D)`` covariances.

    Returns:
        The distance (``>= 0`` up to round-off).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"shapes do not match: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, sigma2 {sigma2.shape}"
        )
    diff = mu1 - mu2

    def bad(m: np.ndarray) -> bool:
        return not np.isfinite(m).all() or (np.iscomplexobj(m) and not np.allclose(np.diagonal(m).imag, 0, atol=1e-3))

    with warnings.catch_warnings():  # a singular product is expected for T < D; checked just below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if bad(covmean):
        offset = np.eye(d) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if bad(covmean):
            raise ValueError("sqrt(sigma1 @ sigma2) is not finite or has a large imaginary part; use more frames")
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def kernel_inception_distance(
    feats1: np.ndarray | Tensor,
    feats2: np.ndarray | Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD² with ``k(x, y) = (x·y / D + 1)^3``.

    Each of ``subsets`` rounds draws ``m = min(subset_size, N1, N2)`` rows of
    each set without replacement and computes the unbiased estimate
    ``mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)``.

    Args:
        feats1, feats2: ``(N1, D)`` and ``(N2, D)`` features, ``N >= 2``.
        subsets: number of rounds.
        subset_size: rows per round.
        generator: draws the subsets (CPU); ``None`` uses seed 0, so the result
            is reproducible.

    Returns:
        ``(mean, std)`` of the estimate over the rounds.
    """
    f1 = _as_f64(feats1, "feats1")
    f2 = _as_f64(feats2, "feats2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature dimensions differ: {f1.shape[1]} vs {f2.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"need subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    d = f1.shape[1]
    m = min(subset_size, f1.shape[0], f2.shape[0])
    values = np.empty(subsets)
    for s in range(subsets):
        x = f1[torch.randperm(f1.shape[0], generator=generator)[:m].numpy()]
        y = f2[torch.randperm(f2.shape[0], generator=generator)[:m].numpy()]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[s] = within - 2.0 * kxy.mean()
    return float(values.mean()), float(values.std())


def compute_fid(
    frames_a: FrameSource | FeatureStats,
    frames_b: FrameSource | FeatureStats,
    feature_net: FeatureExtractor | None = None,
    *,
    batch_size: int = 50,
) -> float:
    """FID between two frame sets (either may be cached :class:`FeatureStats`).

    Args:
        frames_a, frames_b: frames as in :func:`feature_stats`, or statistics.
        feature_net: the feature network; needed unless both sides are statistics.
        batch_size: frames per forward pass.

    Example:
        >>> from infinitenature.metrics import RandomConvFeatures
        >>> net = RandomConvFeatures()  # offline; not comparable with published FID
        >>> a = torch.rand(8, 3, 32, 32)
        >>> abs(compute_fid(a, a, net)) < 1e-3
        True
    """
    sa, sb = _stats_pair(frames_a, frames_b, feature_net, batch_size=batch_size, keep_features=False)
    return frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)


def compute_kid(
    frames_a: FrameSource | FeatureStats,
    frames_b: FrameSource | FeatureStats,
    feature_net: FeatureExtractor | None = None,
    *,
    batch_size: int = 50,
    subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """KID ``(mean, std)`` between two frame sets (statistics must hold features).

    Arguments as in :func:`compute_fid` and :func:`kernel_inception_distance`.
    """
    sa, sb = _stats_pair(frames_a, frames_b, feature_net, batch_size=batch_size, keep_features=True)
    for name, s in (("frames_a", sa), ("frames_b", sb)):
        if s.features is None:
            raise ValueError(f"{name} statistics hold no features; compute them with keep_features=True for KID")
    return kernel_inception_distance(
        sa.features, sb.features, subsets=subsets, subset_size=subset_size, generator=generator
    )


def _stats_pair(a, b, feature_net, *, batch_size: int, keep_features: bool) -> tuple[FeatureStats, FeatureStats]:
    out = []
    for name, side in (("frames_a", a), ("frames_b", b)):
        if isinstance(side, FeatureStats):
            if feature_net is not None and side.feature_name != feature_net.name:
                raise ValueError(f"{name} statistics come from {side.feature_name!r}, not {feature_net.name!r}")
            out.append(side)
        elif feature_net is None:
            raise ValueError(f"feature_net is required when {name} is frames rather than FeatureStats")
        else:
            out.append(feature_stats(side, feature_net, batch_size=batch_size, keep_features=keep_features))
    if out[0].feature_name != out[1].feature_name:
        raise ValueError(f"statistics come from different feature networks: {out[0].feature_name!r} vs {out[1].feature_name!r}")
    return out[0], out[1]


def _as_f64(feats: np.ndarray | Tensor, name: str) -> np.ndarray:
    if isinstance(feats, Tensor):
        feats = feats.detach().cpu().numpy()
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"{name} must be (N, D) with N >= 2, got shape {feats.shape}")
    return feats
