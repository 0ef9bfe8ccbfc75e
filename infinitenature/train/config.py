"""``TrainConfig``: every training option in one typed dataclass.

The command line (``python -m infinitenature.train``) is generated from these
fields in one place (``infinitenature.train.__main__``); each field's ``help``
is its comment. Numbers follow StyleGAN2 (Adam betas (0, 0.99), lazy R1 every
16 D steps) and EDM (EMA half-life counted in images, so that it does not
depend on the batch size).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..models.generator import HOLE_FILLS

__all__ = ["TrainConfig", "STAGES", "PRECISIONS", "DISCRIMINATORS"]

#: "mim": masked image modeling (fill random blocks and real disocclusion holes).
#: "cyclic": fly out along a sampled path and back; the returned frame must equal the photo.
STAGES = ("mim", "cyclic")

#: Discriminators of ``TrainConfig.discriminator``: image-level (published) or per patch.
DISCRIMINATORS = ("global", "patch")

#: Compute precisions of ``TrainConfig.precision`` ("bf16" = bfloat16 autocast).
PRECISIONS = ("fp32", "bf16")


def _opt(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    """A dataclass field whose ``help`` text the CLI shows."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """All training options. ``validate()`` names the first bad field."""

    # --- run -----------------------------------------------------------------------------
    stage: str = _opt("mim", "training stage: 'mim' (masked image modeling) or 'cyclic' (virtual trajectories)")
    out_dir: str = _opt("runs/train", "run folder: config.json, stats.jsonl, checkpoints/, samples/, export/")
    resume: str = _opt("", "'' = fresh run; 'latest' = newest checkpoint in out_dir; or a checkpoint folder")
    init_from: str = _opt("", "checkpoint folder whose G, G_ema and D weights start a fresh run (stage 1 -> 2)")
    init_generator: str = _opt("", "'default' (the shipped generator), a generator .safetensors, a run folder (its "
                               "export/) or a checkpoint folder (its G_ema) whose weights start G and G_ema of a "
                               "fresh run; D starts from scratch")
    steps: int = _opt(20_000, "number of optimizer steps (each = one D step + one G step)")
    max_minutes: float = _opt(0.0, "stop this invocation after N minutes of wall time, with a checkpoint and export "
                              "as at the end (0 = no limit); continue with --config OUT/config.json --resume latest")
    seed: int = _opt(0, "seed of weights, data order, masks, paths and noise (rank r adds r for its draws)")
    device: str = _opt("auto", "'auto' (cuda:LOCAL_RANK if available, else cpu), 'cpu' or 'cuda'")
    num_workers: int = _opt(0, "DataLoader worker processes per rank (0 = load in the training process)")
    # --- data ----------------------------------------------------------------------------
    data: str = _opt("", "folder of photos (jpg/png/webp/bmp, searched recursively)")
    cache_dir: str = _opt("", "disparity/sky cache folder ('' = <data>/.infinitenature-cache)")
    depth_model: str = _opt("default", "depth estimator for the cache (see infinitenature.estimators.load_depth)")
    sky_model: str = _opt("default", "sky estimator for the cache (see infinitenature.estimators.load_sky)")
    work_size: int = _opt(384, "short side (px) at which photos, disparity and sky are cached")
    crop_scale_min: float = _opt(0.6, "random square crops span this..1 of the photo's short side")
    color_jitter: float = _opt(0.05, "strength of brightness/contrast/saturation jitter (0 = off)")
    synthetic_ratio: float = _opt(0.0, "fraction of each batch drawn from procedural landscapes")
    synthetic_scenes: int = _opt(64, "procedural scenes (seeds 0..N-1) in the synthetic mix")
    synthetic_cache_scenes: int = _opt(64, "baked procedural scenes kept in memory per process (~22 MB each; a "
                                       "scene not in memory is baked again, ~0.3 s)")
    synthetic_views: int = _opt(64, "random camera views per procedural scene")
    # --- models --------------------------------------------------------------------------
    resolution: int = _opt(128, "training resolution (square; 64, 128 or 256)")
    latent_dim: int = _opt(512, "generator latent / style width")
    mapping_layers: int = _opt(8, "generator mapping network depth")
    g_f_max: int = _opt(512, "generator channel cap (512 = published size)")
    g_f_base: int = _opt(8192, "generator width base: width = f_base / 2**stage (8192 = published; the style encoder uses half)")
    hole_fill: str = _opt(
        "zero", "what the generator sees in the holes: 'zero' (published: black) or 'push_pull' (a smooth fill of the "
        "valid pixels around them; see GeneratorConfig.hole_fill). --init-generator may start from weights trained "
        "with the other one (the network then learns the new input)"
    )
    residual: bool = _opt(
        False, "the generator outputs its input plus a correction (see GeneratorConfig.residual; with --hole-fill "
        "push_pull a zero correction is push-pull inpainting). --init-generator from non-residual weights starts "
        "the correction at zero"
    )
    d_f_max: int = _opt(512, "discriminator channel cap")
    d_f_base: int = _opt(8192, "discriminator width base")
    discriminator: str = _opt(
        "global", "'global' (published: StyleGAN2's image-level discriminator) or 'patch' (one logit per patch; "
        "painted patches are the fakes, see infinitenature.models.patch_discriminator)"
    )
    d_patch_levels: int = _opt(2, "patch discriminator: downsampling blocks (2 = 30-px patches, 3 = 66-px)")
    fov_deg: float = _opt(55.0, "horizontal field of view of the training camera")
    # --- optimisation --------------------------------------------------------------------
    batch_size: int = _opt(8, "photos per step PER RANK (global batch = batch_size * world size)")
    g_lr: float = _opt(0.002, "generator Adam learning rate")
    d_lr: float = _opt(0.002, "discriminator Adam learning rate")
    betas: tuple[float, float] = _opt((0.0, 0.99), "Adam betas for both networks")
    r1_gamma: float = _opt(0.1, "R1 penalty weight (gamma; the loss is gamma/2 * |grad D(real)|^2)")
    r1_every: int = _opt(16, "lazy R1: apply every N D steps, scaled by N (0 = never)")
    ema_halflife_kimg: float = _opt(10.0, "EMA half-life of G_ema in thousands of images")
    ema_rampup: float = _opt(0.05, "EMA half-life is at most this fraction of images seen so far (0 = off)")
    grad_clip: float = _opt(0.0, "clip each network's gradient norm to this (0 = off)")
    precision: str = _opt(
        "fp32", "compute precision of the networks: 'fp32', or 'bf16' (autocast: convolutions and matmuls of G and D "
        "in bfloat16; parameters, optimizers, rendering, losses and R1 stay fp32). bf16 is faster only where the "
        "hardware has bf16 units (recent GPUs; CPUs with AVX512-BF16 or AMX), and much slower elsewhere"
    )
    # --- losses --------------------------------------------------------------------------
    rgb_weight: float = _opt(1.0, "L1 reconstruction weight on RGB")
    disparity_weight: float = _opt(1.0, "L1 reconstruction weight on disparity")
    pyramid_weight: float = _opt(1.0, "Laplacian-pyramid L1 weight on RGB (cheap perceptual-ish term, 0 = off)")
    adv_weight: float = _opt(0.1, "non-saturating adversarial weight for G")
    texture_weight: float = _opt(0.0, "weight of the texture (Gram) loss on fixed random RGB filters: "
                                 "painted pixels against the photo's (stage 2: the returning frame); 0 = off")
    style_dropout: bool = _opt(True, "dropout in the style encoder while training (released behaviour)")
    # --- stage 1: masks ------------------------------------------------------------------
    mask_ratio_min: float = _opt(0.4, "random block masks hide between this ...")
    mask_ratio_max: float = _opt(0.9, "... and this fraction of the image")
    mask_patch: int = _opt(8, "block size in pixels of random block masks")
    geometric_mask_prob: float = _opt(0.5, "probability that an item gets a disocclusion mask instead of blocks")
    magnify_prob: float = _opt(0.0, "probability that an item's input is also blurred as if magnified beyond its "
                               "resolution, the target sharp, to teach restoring detail (0 = off; it does not help "
                               "at the shipped scale)")
    magnify_max: float = _opt(3.0, "largest magnification of that blur (drawn log-uniformly from 1..this)")
    sky_refill: bool = _opt(
        False, "show the refiner no sky colour, the visible ground's carried into the sky, as the loop does with "
        "sky_layers (stage 1 only); its sky colours are then replaced by the photo's for the losses and D, as the "
        "loop replaces them by the warped sky, so only its sky disparity is learned"
    )
    # --- camera sampling (disocclusion masks and stage 2) ---------------------------------
    forward_min: float = _opt(0.05, "sampled forward motion per step, min (units; nearest content at ~1.25)")
    forward_max: float = _opt(0.3, "sampled forward motion per step, max")
    lateral_max: float = _opt(0.05, "sampled sideways/vertical motion per step, max abs")
    yaw_max_deg: float = _opt(8.0, "sampled yaw per step, max abs (degrees)")
    pitch_max_deg: float = _opt(4.0, "sampled pitch per step, max abs (degrees)")
    render_beta: float = _opt(4.0, "edge softness of the splatting alpha (exp(-beta |sobel disp|))")
    # --- stage 2: cyclic trajectories ----------------------------------------------------
    cycle_steps: int = _opt(2, "steps flown out before flying back along the same poses")
    cycle_detach_every: int = _opt(0, "truncated backprop: cut the graph every N steps (0 = full cycle)")
    cycle_keep_visible: bool = _opt(
        False, "fly the cycles as the keep_visible loop does: warped pixels kept, the refiner's output only in the holes "
        "(published: False, the refiner's output everywhere)"
    )
    # --- logging -------------------------------------------------------------------------
    log_every: int = _opt(10, "append a stats.jsonl line every N steps")
    ckpt_every: int = _opt(1000, "write a checkpoint every N steps (and at the end)")
    sample_every: int = _opt(1000, "write a flythrough PNG strip every N steps (0 = never)")
    sample_frames: int = _opt(6, "frames per sample flythrough")
    sample_count: int = _opt(4, "photos per sample strip")
    keep_checkpoints: int = _opt(3, "keep the newest N checkpoints (0 = keep all)")
    progress: bool = _opt(True, "show a tqdm progress bar on rank 0")

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the first bad option; return ``self``."""

        def bad(name: str, why: str) -> None:
            raise ValueError(f"--{name.replace('_', '-')}: {why}, got {getattr(self, name)!r}")

        if self.stage not in STAGES:
            bad("stage", f"must be one of {', '.join(STAGES)}")
        if self.precision not in PRECISIONS:
            bad("precision", f"must be one of {', '.join(PRECISIONS)}")
        if self.discriminator not in DISCRIMINATORS:
            bad("discriminator", f"must be one of {', '.join(DISCRIMINATORS)}")
        if self.discriminator == "patch" and not (self.d_patch_levels >= 1 and self.resolution >> self.d_patch_levels >= 4):
            bad("d_patch_levels", "must be >= 1 and leave a logit map of at least 4 x 4")
        if self.hole_fill not in HOLE_FILLS:
            bad("hole_fill", f"must be one of {', '.join(HOLE_FILLS)}")
        if self.resolution not in (64, 128, 256):
            bad("resolution", "must be 64, 128 or 256")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            bad("device", "must be auto, cpu, cuda or cuda:N")
        for name in ("steps", "batch_size", "latent_dim", "mapping_layers", "g_f_max", "d_f_max", "g_f_base", "d_f_base",
                     "work_size", "mask_patch", "cycle_steps", "sample_frames", "sample_count", "synthetic_scenes",
                     "synthetic_views", "synthetic_cache_scenes"):
            if getattr(self, name) < 1:
                bad(name, "must be >= 1")
        for name in ("num_workers", "r1_every", "log_every", "ckpt_every", "sample_every",
                     "keep_checkpoints", "cycle_detach_every"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        if not 0.0 <= self.max_minutes < float("inf"):
            bad("max_minutes", "must be a number >= 0 (0 = no limit)")
        for name in ("g_lr", "d_lr", "ema_halflife_kimg"):
            if not getattr(self, name) > 0:
                bad(name, "must be > 0")
        for name in ("r1_gamma", "ema_rampup", "grad_clip", "rgb_weight", "disparity_weight",
                     "pyramid_weight", "adv_weight", "texture_weight", "color_jitter", "lateral_max", "yaw_max_deg",
                     "pitch_max_deg", "render_beta"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        for name in ("synthetic_ratio", "geometric_mask_prob", "magnify_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(name, "must be in [0, 1]")
        if not self.magnify_max >= 1.0:
            bad("magnify_max", "must be >= 1")
        if self.sky_refill and self.stage != "mim":
            bad("sky_refill", "is a stage-1 option (--stage mim)")
        if not 0.0 < self.crop_scale_min <= 1.0:
            bad("crop_scale_min", "must be in (0, 1]")
        if not 0.0 <= self.mask_ratio_min <= self.mask_ratio_max < 1.0:
            bad("mask_ratio_min", "need 0 <= mask_ratio_min <= mask_ratio_max < 1")
        if not 0.0 < self.forward_min <= self.forward_max:
            bad("forward_min", "need 0 < forward_min <= forward_max")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            bad("betas", "must be two numbers in [0, 1)")
        if not 0.0 < self.fov_deg < 180.0:
            bad("fov_deg", "must be in (0, 180)")
        if self.synthetic_ratio < 1.0 and not self.data:
            bad("data", "a photo folder is required unless --synthetic-ratio is 1")
        if self.resume and self.init_from:
            bad("init_from", "cannot be combined with --resume")
        if self.init_generator and (self.resume or self.init_from):
            bad("init_generator", "cannot be combined with --resume or --init-from")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of ``to_dict``; unknown keys are an error (they hide typos)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig option(s): {', '.join(unknown)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(float(b) for b in d["betas"])
        return cls(**d)
