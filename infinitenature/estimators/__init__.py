"""Depth and sky from a photo: two tiny protocols, shipped networks, adapters.

``load_depth(spec)`` / ``load_sky(spec)`` turn ``"default"``, a weights file,
``"hf:<model>"`` or a user-given map into a callable
``image (B, 3, H, W) in [0, 1] -> (B, 1, H, W)``; ``normalize_disparity`` and
``compute_sky_offset`` turn their outputs into the pipeline's state.
"""

from .base import DepthEstimator, SkyEstimator
from .loading import load_depth, load_sky
from .files import DepthFromArray, SkyFromArray, read_map
from .nets import DepthNet, DepthNetConfig, SkyNet, SkyNetConfig
from .normalize import compute_sky_offset, depth_to_disparity, disparity_percentiles, normalize_disparity
from .refine import guided_filter, guided_upsample, refine_mask
from .sky_structure import SkyStructureConfig, structure_sky

__all__ = [
    "DepthEstimator",
    "SkyEstimator",
    "load_depth",
    "load_sky",
    "DepthFromArray",
    "SkyFromArray",
    "read_map",
    "DepthNet",
    "DepthNetConfig",
    "SkyNet",
    "SkyNetConfig",
    "guided_filter",
    "guided_upsample",
    "refine_mask",
    "SkyStructureConfig",
    "structure_sky",
    "normalize_disparity",
    "disparity_percentiles",
    "compute_sky_offset",
    "depth_to_disparity",
]
