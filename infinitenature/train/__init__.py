"""Training the refiner from single photos: masked image modeling, then cyclic virtual trajectories.

``python -m infinitenature.train --help`` (or ``infinitenature train``) runs it;
``Trainer(TrainConfig(...)).run()`` does the same from Python.
"""

from .config import STAGES, TrainConfig
from .cyclic import CycleResult, fly, render_refine, sample_cycle, sample_relative_poses, straight_poses
from .data import PhotoCache, PhotoDataset, StepSampler, TrainingData, list_photos, random_crop
from .evaluate import (
    DetailScore,
    HoleFillingScore,
    HoleTask,
    detail_restoration,
    heldout_crops,
    hole_filling_l1,
    hole_tasks,
    identity_l1,
)
from .losses import (
    d_logistic_loss,
    d_patch_loss,
    d_r1_loss,
    g_nonsaturating_loss,
    g_patch_loss,
    l1_rgbd,
    laplacian_pyramid_l1,
    texture_filters,
    texture_gram_loss,
)
from .masks import RoundTrip, magnify_blur, mim_inputs, random_block_masks, round_trip
from .trainer import DistInfo, Trainer, build_data, build_models, find_checkpoint, init_distributed

__all__ = [
    "STAGES",
    "TrainConfig",
    "Trainer",
    "DistInfo",
    "init_distributed",
    "build_models",
    "build_data",
    "find_checkpoint",
    "PhotoCache",
    "PhotoDataset",
    "TrainingData",
    "StepSampler",
    "list_photos",
    "random_crop",
    "random_block_masks",
    "round_trip",
    "RoundTrip",
    "mim_inputs",
    "magnify_blur",
    "sample_relative_poses",
    "sample_cycle",
    "straight_poses",
    "render_refine",
    "fly",
    "CycleResult",
    "HoleFillingScore",
    "hole_filling_l1",
    "hole_tasks",
    "HoleTask",
    "identity_l1",
    "DetailScore",
    "detail_restoration",
    "heldout_crops",
    "l1_rgbd",
    "laplacian_pyramid_l1",
    "texture_filters",
    "texture_gram_loss",
    "d_logistic_loss",
    "g_nonsaturating_loss",
    "d_r1_loss",
    "d_patch_loss",
    "g_patch_loss",
]
