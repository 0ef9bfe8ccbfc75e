"""Evaluation metrics: FID/KID with a pluggable feature network, ground-truth
PSNR/SSIM, and stability metrics for long flythroughs.

Example:
    >>> import torch
    >>> from infinitenature.metrics import RandomConvFeatures, compute_fid, feature_stats
    >>> net = RandomConvFeatures()  # offline; for published numbers use InceptionV3Features(weights)
    >>> ref = feature_stats(torch.rand(16, 3, 32, 32), net)  # cache with ref.save("ref.npz")
    >>> compute_fid(torch.rand(16, 3, 32, 32), ref, net) > 0
    True
"""

from .features import (
    FeatureExtractor,
    FrameSource,
    InceptionV3Features,
    RandomConvFeatures,
    iter_frame_batches,
    to_float_frames,
)
from .fid import (
    FeatureStats,
    compute_fid,
    compute_kid,
    feature_stats,
    frechet_distance,
    kernel_inception_distance,
)
from .fidelity import psnr, ssim
from .stability import (
    StepMotion,
    colour_drift,
    per_step_motion,
    relative_sharpness,
    sharpness,
    sky_fraction,
    stability_report,
)

__all__ = [
    "FeatureExtractor",
    "FrameSource",
    "InceptionV3Features",
    "RandomConvFeatures",
    "iter_frame_batches",
    "to_float_frames",
    "FeatureStats",
    "compute_fid",
    "compute_kid",
    "feature_stats",
    "frechet_distance",
    "kernel_inception_distance",
    "psnr",
    "ssim",
    "StepMotion",
    "colour_drift",
    "per_step_motion",
    "relative_sharpness",
    "sharpness",
    "sky_fraction",
    "stability_report",
]
