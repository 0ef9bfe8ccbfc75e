"""The training loop: one readable GAN loop for both stages.

Per step (rosinality's order, with the fakes generated once):

1. generate: stage "mim" fills masked photos (random blocks or real
   disocclusions); stage "cyclic" flies out along a sampled path and back;
2. D step: logistic loss on real photos vs the (detached) generated frames;
3. lazy R1 every ``r1_every`` steps, scaled by ``r1_every``;
4. G step: reconstruction L1 (RGB, disparity, Laplacian pyramid) against the
   photo + non-saturating adversarial loss through the updated D;
5. EMA of G with a half-life counted in images (EDM).

Scaling out: ``torchrun --nproc_per_node=N -m infinitenature.train ...``. Every
rank builds identical models from the seed, loads a disjoint shard of each
global batch (``StepSampler``) and draws its own masks, paths and noise
(seed + rank). Gradients are averaged with one ``all_reduce`` of the flattened
gradients per network (as NVlabs' StyleGAN2-ADA/3 loops do: R1 needs double
backward and G is called through several methods, both awkward under the
``DistributedDataParallel`` wrapper), then cleaned with ``nan_to_num``. Rank 0
alone logs, samples and writes checkpoints; ``replica_max_diff`` in
``stats.jsonl`` checks at every checkpoint that the replicas stayed identical.

Checkpoints (``checkpoints/step-NNNNNNN/``): ``G.safetensors``,
``G_ema.safetensors``, ``D.safetensors`` (``infinitenature.weights`` format)
and ``state.pt`` (optimizer states, step, every rank's RNG state, the config;
only tensors and plain containers, so ``torch.load(weights_only=True)`` reads
it). Resuming restores all of it, and because the data of a step is a pure
function of ``(seed, step, rank)``, the resumed run takes exactly the steps an
uninterrupted one would. ``export/generator_ema.safetensors`` is the EMA
generator, loadable with ``infinitenature.weights.load_model``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..devices import resolve_device
from ..geometry import intrinsics_from_fov
from ..models import (
    CoModGenerator,
    Discriminator,
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminator,
    PatchDiscriminatorConfig,
)
from ..weights import read_metadata, read_tensor_file, save_model
from .config import TrainConfig
from .cyclic import fly, sample_cycle, sample_relative_poses, straight_poses
from .data import PhotoCache, PhotoDataset, StepSampler, TrainingData, list_photos
from .losses import (
    d_logistic_loss,
    d_patch_loss,
    d_r1_loss,
    g_nonsaturating_loss,
    g_patch_loss,
    l1_rgbd,
    laplacian_pyramid_l1,
    patch_weights,
    texture_filters,
    texture_gram_loss,
)
from .masks import mim_inputs

__all__ = [
    "DistInfo",
    "init_distributed",
    "build_models",
    "build_data",
    "requires_grad",
    "Trainer",
    "find_checkpoint",
    "Autocast",
    "EXPORT_NAME",
]

EXPORT_NAME = "generator_ema.safetensors"


# ----------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Read torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and join the group.

    Uses NCCL on CUDA and gloo on CPU. A plain ``python -m`` run is rank 0 of 1.

    Raises:
        ValueError: ``device`` is not on this machine (CUDA asked for without CUDA, say).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:  # 'auto' or 'cuda': one GPU per local rank
        dev = resolve_device(f"cuda:{local}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        # torch.distributed.nn.functional binds the default group as its functions' default
        # argument when first imported, and torch.optim imports it (through torch._dynamo) on
        # first use. Imported after init, it would keep the group alive past
        # destroy_process_group, and its gloo worker threads could then release tensors during
        # interpreter shutdown (a SIGABRT at exit). Importing it first binds None instead.
        import torch.distributed.nn  # noqa: F401

        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, device=dev)


def _distributed(info: DistInfo) -> bool:
    return info.world_size > 1 and dist.is_available() and dist.is_initialized()


# ----------------------------------------------------------------------------- building
def generator_config(c: TrainConfig) -> GeneratorConfig:
    return GeneratorConfig(
        resolution=c.resolution,
        latent_dim=c.latent_dim,
        mapping_layers=c.mapping_layers,
        f_base=c.g_f_base,
        f_base_style=c.g_f_base // 2,
        f_max=c.g_f_max,
        hole_fill=c.hole_fill,
        residual=c.residual,
    )


def discriminator_config(c: TrainConfig) -> DiscriminatorConfig | PatchDiscriminatorConfig:
    if c.discriminator == "patch":
        return PatchDiscriminatorConfig(resolution=c.resolution, levels=c.d_patch_levels, f_base=c.d_f_base, f_max=c.d_f_max)
    return DiscriminatorConfig(resolution=c.resolution, f_base=c.d_f_base, f_max=c.d_f_max)


def build_models(c: TrainConfig) -> tuple[CoModGenerator, CoModGenerator, Discriminator | PatchDiscriminator]:
    """``(G, G_ema, D)`` initialised from ``c.seed`` alone (identical on every rank).

    Module initialisers draw from torch's global RNG; it is forked and seeded
    here so the caller's global state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(c.seed)
        G = CoModGenerator(generator_config(c))
        d_config = discriminator_config(c)
        D = PatchDiscriminator(d_config) if c.discriminator == "patch" else Discriminator(d_config)
    G_ema = CoModGenerator(generator_config(c))
    G_ema.load_state_dict(G.state_dict())
    return G, G_ema.eval().requires_grad_(False), D


def build_data(c: TrainConfig, info: DistInfo = DistInfo()) -> TrainingData:
    """Photos (cache filled once, by rank 0) mixed with synthetic landscapes per ``c.synthetic_ratio``."""
    photos = None
    if c.synthetic_ratio < 1.0:
        files = list_photos(c.data)
        cache_dir = Path(c.cache_dir) if c.cache_dir else Path(c.data) / ".infinitenature-cache"
        cache = PhotoCache(
            cache_dir, depth=None, sky=None, estimator_name=f"{c.depth_model}+{c.sky_model}", work_size=c.work_size
        )
        if info.is_main and not all(cache.path_for(p).is_file() for p in files):
            from ..estimators import load_depth, load_sky

            cache.depth, cache.sky = load_depth(c.depth_model), load_sky(c.sky_model)
        if _distributed(info):  # rank 0 fills the cache, the others wait and then only read
            if info.is_main:
                usable = cache.build(files, progress=c.progress)
            dist.barrier()
            if not info.is_main:
                usable = cache.build(files)
        else:
            usable = cache.build(files, progress=c.progress)
        photos = PhotoDataset(
            usable, cache, resolution=c.resolution, crop_scale=(c.crop_scale_min, 1.0), color_jitter=c.color_jitter
        )
    synthetic = None
    if c.synthetic_ratio > 0:
        from ..synthetic import SyntheticDataset

        # Baking a scene costs ~0.3 s, rendering a view ~0.05 s (128 px, one core): keep scenes baked.
        synthetic = SyntheticDataset(
            range(c.synthetic_scenes), size=c.resolution, fov_deg=c.fov_deg, views_per_scene=c.synthetic_views,
            cache_scenes=min(c.synthetic_scenes, c.synthetic_cache_scenes),
        )
    return TrainingData(photos, synthetic, synthetic_ratio=c.synthetic_ratio)


def requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def find_checkpoint(spec: str | Path, out_dir: str | Path) -> Path:
    """``"latest"`` -> the newest ``out_dir/checkpoints/step-*``; otherwise a checkpoint folder."""
    if str(spec) == "latest":
        found = sorted((Path(out_dir) / "checkpoints").glob("step-*[0-9]"))
        if not found:
            raise FileNotFoundError(f"--resume latest: no checkpoint in {Path(out_dir) / 'checkpoints'}")
        return found[-1]
    p = Path(spec).expanduser()
    if not (p / "state.pt").is_file():
        raise FileNotFoundError(f"{p} is not a checkpoint folder (no state.pt)")
    return p


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); ``True`` when torch cannot tell."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    probes = [p for p in probes if p is not None]
    if not probes:
        return True
    return any(bool(p()) for p in probes)


class Autocast:
    """Runs a network's forward calls under bfloat16 autocast and hands back fp32 tensors.

    ``Autocast(G, "cpu")(x)``, ``.refine(...)`` and ``.encode_style(...)`` call the
    wrapped module's own methods with ``torch.autocast(device_type, torch.bfloat16)``:
    convolutions and matmuls run in bfloat16 while parameters (and their gradients)
    stay fp32. Outputs are cast back to fp32 so that everything downstream (the
    forward-splat renderer, whose pixel coordinates need fp32, the losses) is
    unchanged. ``enabled=False`` calls straight through.
    """

    def __init__(self, module: nn.Module, device_type: str, *, enabled: bool = True) -> None:
        self.module = module
        self.device_type = device_type
        self.enabled = enabled

    def _call(self, fn, *args, **kwargs):
        if not self.enabled:
            return fn(*args, **kwargs)
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out = fn(*args, **kwargs)
        return out.float()

    def __call__(self, *args, **kwargs) -> Tensor:
        return self._call(self.module, *args, **kwargs)

    def refine(self, *args, **kwargs) -> Tensor:
        return self._call(self.module.refine, *args, **kwargs)

    def encode_style(self, *args, **kwargs) -> Tensor:
        return self._call(self.module.encode_style, *args, **kwargs)


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Owns the networks, optimizers, RNG, data and run folder of one training run.

    Args:
        config: the run's options (validated here).
        data: training data; built from ``config`` (``build_data``) when omitted.
        dist_info: this process's rank and device; ``init_distributed(config.device)`` when omitted.

    ``run()`` trains to ``config.steps``; ``train_step(batch)`` is one step (used by tests).
    """

    def __init__(self, config: TrainConfig, *, data: TrainingData | None = None, dist_info: DistInfo | None = None) -> None:
        self.config = c = config.validate()
        for flag, folder in (("--out-dir", c.out_dir), ("--cache-dir", c.cache_dir)):
            if folder and Path(folder).expanduser().exists() and not Path(folder).expanduser().is_dir():
                raise ValueError(f"{flag}: {folder} exists and is not a folder")
        self.dist = dist_info if dist_info is not None else init_distributed(c.device)
        self.device = self.dist.device
        self.out_dir = Path(c.out_dir)
        self.data = data if data is not None else build_data(c, self.dist)

        self.G, self.G_ema, self.D = build_models(c)
        for m in (self.G, self.G_ema, self.D):
            m.to(self.device)
        # The training step calls the networks through these (bf16 autocast when asked;
        # R1, the EMA, checkpoints and samples use the fp32 modules themselves).
        bf16 = c.precision == "bf16"
        if bf16 and self.device.type == "cpu" and not cpu_has_bf16():
            warnings.warn(
                "--precision bf16: this CPU has no bfloat16 units (AVX512-BF16 or AMX), so bf16 will likely be "
                "slower than fp32", stacklevel=2,
            )
        self._G_compute = Autocast(self.G, self.device.type, enabled=bf16)
        self._D_compute = Autocast(self.D, self.device.type, enabled=bf16)
        # Lazy regularisation: D is updated with R1 only every r1_every steps, so its
        # Adam lr and betas are rescaled to keep the effective values (StyleGAN2 App. B).
        ratio = c.r1_every / (c.r1_every + 1) if c.r1_every else 1.0
        self.g_opt = torch.optim.Adam(self.G.parameters(), lr=c.g_lr, betas=c.betas)
        self.d_opt = torch.optim.Adam(
            self.D.parameters(), lr=c.d_lr * ratio, betas=(c.betas[0] ** ratio, c.betas[1] ** ratio)
        )
        self.K = intrinsics_from_fov(c.resolution, c.resolution, c.fov_deg, device=self.device)
        self.texture_filters = texture_filters().to(self.device)
        # All randomness of a step (latents, style dropout, masks, paths, noise) comes from here.
        self.rng = torch.Generator().manual_seed(c.seed * 1_000_003 + self.dist.rank)
        self.step = 0  # completed optimizer steps
        self.stopped_early = False  # set by run() when --max-minutes ended it before config.steps
        self.global_batch = c.batch_size * self.dist.world_size

        if c.resume:
            self.load_checkpoint(find_checkpoint(c.resume, self.out_dir))
        elif c.init_from:
            self.load_weights(find_checkpoint(c.init_from, self.out_dir))
        elif c.init_generator:
            self.load_generator(c.init_generator)
        if self.dist.is_main:
            self._prepare_run_dir()

    # ------------------------------------------------------------------ run folder
    def _prepare_run_dir(self) -> None:
        c = self.config
        ckpts = self.out_dir / "checkpoints"
        if not c.resume and ckpts.is_dir() and any(ckpts.glob("step-*")):
            raise ValueError(f"{self.out_dir} already holds a run; pass --resume latest or choose another --out-dir")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.json").write_text(c.to_json() + "\n")
        stats = self.out_dir / "stats.jsonl"
        if stats.is_file():  # drop lines past the checkpoint we resume from
            keep = [ln for ln in stats.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= self.step]
            stats.write_text("".join(ln + "\n" for ln in keep))

    def _log(self, stats: dict) -> None:
        with open(self.out_dir / "stats.jsonl", "a") as f:
            f.write(json.dumps(stats) + "\n")

    # ------------------------------------------------------------------ randomness helpers
    def _randn(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.rng).to(self.device)

    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(shape, generator=self.rng).to(self.device)

    def _pose_kwargs(self) -> dict:
        c = self.config
        return dict(
            forward=(c.forward_min, c.forward_max), lateral_max=c.lateral_max, yaw_max_deg=c.yaw_max_deg,
            pitch_max_deg=c.pitch_max_deg, generator=self.rng, device=self.device,
        )

    # ------------------------------------------------------------------ one step
    def _reconstruction(self, out: Tensor, real: Tensor, painted: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The weighted reconstruction loss of ``out`` against ``real`` and its terms (texture: inside ``painted``)."""
        c = self.config
        rgb_l1, disp_l1 = l1_rgbd(out, real)
        total = c.rgb_weight * rgb_l1 + c.disparity_weight * disp_l1
        terms = {"rgb_l1": rgb_l1, "disp_l1": disp_l1}
        if c.pyramid_weight > 0:
            terms["pyramid"] = laplacian_pyramid_l1(out[:, :3], real[:, :3])
            total = total + c.pyramid_weight * terms["pyramid"]
        if c.texture_weight > 0:
            terms["texture"] = texture_gram_loss(out.float(), real, painted, self.texture_filters)
            total = total + c.texture_weight * terms["texture"]
        return total, terms

    def generate(self, real: Tensor, sky: Tensor | None = None) -> tuple[Tensor, Tensor, dict[str, Tensor], Tensor]:
        """Generated frames for one batch of real RGBD ``(B, 4, H, W)`` in ``[0, 1]``.

        ``sky`` ``(B, 1, H, W)`` in ``[0, 1]`` is the batch's sky probability, needed
        with ``sky_refill``: the refiner's input then shows no sky colour, and its
        output's sky colours (above 0.5) are the photo's.

        Returns:
            ``(fakes, rec_loss, terms, painted)``: ``(N, 4, H, W)`` frames in ``[0, 1]``
            for D (``N = B`` for "mim", ``2 * cycle_steps * B`` for "cyclic"), the
            weighted reconstruction loss against ``real``, its named terms, and
            ``(N, 1, H, W)``: 1 where the generator painted the pixel (the holes in
            "mim" and in cycles flown with ``cycle_keep_visible``, every pixel in
            published cycles; the patch discriminator's fake labels).
        """
        c = self.config
        B = real.shape[0]
        G = self._G_compute
        code = G.encode_style(real * 2 - 1, dropout=c.style_dropout, generator=self.rng)
        z = self._randn(B, c.latent_dim)
        if c.stage == "mim":
            if c.sky_refill and sky is None:
                raise ValueError("sky_refill needs the batch's sky")
            pose = sample_relative_poses(B, **self._pose_kwargs())
            use_geometric = self._rand(B) < c.geometric_mask_prob
            magnify = None
            if c.magnify_prob > 0:
                factor = torch.exp(self._rand(B) * math.log(c.magnify_max))
                magnify = torch.where(self._rand(B) < c.magnify_prob, factor, torch.ones_like(factor))
            rgb_in, disp_in, mask = mim_inputs(
                real[:, :3], real[:, 3:], self.K, pose=pose, use_geometric=use_geometric,
                ratio=(c.mask_ratio_min, c.mask_ratio_max), patch=c.mask_patch, beta=c.render_beta, generator=self.rng,
                magnify=magnify, sky=sky if c.sky_refill else None,
            )
            out = G.refine(rgb_in, disp_in, mask, code, z, noise="random", generator=self.rng)
            painted = 1.0 - mask
            if c.sky_refill:  # the loop keeps none of the refiner's sky colour: the photo's stands in for it
                is_sky = sky > 0.5
                out = torch.cat([torch.where(is_sky, real[:, :3], out[:, :3]), out[:, 3:]], dim=1)
                painted = painted * (~is_sky).to(painted.dtype)
            rec, terms = self._reconstruction(out, real, painted)
            terms["hole_fraction"] = 1.0 - mask.mean()
            return out, rec, terms, painted
        poses = sample_cycle(B, c.cycle_steps, **self._pose_kwargs())
        cycle = fly(
            G, real[:, :3], real[:, 3:], poses, self.K, code, z,
            beta=c.render_beta, detach_every=c.cycle_detach_every, keep_visible=c.cycle_keep_visible,
            noise="random", generator=self.rng,
        )
        rec, terms = self._reconstruction(cycle.last, real, torch.ones_like(real[:, :1]))
        terms["hole_fraction"] = 1.0 - cycle.masks.mean()
        painted = 1.0 - cycle.masks if c.cycle_keep_visible else torch.ones_like(cycle.masks)
        return cycle.frames.flatten(0, 1), rec, terms, painted.flatten(0, 1)

    def _sync_and_step(self, module: nn.Module, opt: torch.optim.Optimizer) -> Tensor:
        """Average gradients over ranks (one flat all_reduce), clean them, clip, step. Returns the grad norm."""
        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:  # keep the flat layout identical on every rank
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.flatten() for p in params])
        if _distributed(self.dist):
            dist.all_reduce(flat)
            flat /= self.dist.world_size
        torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
        norm = flat.norm()
        if self.config.grad_clip > 0:
            flat *= (self.config.grad_clip / (norm + 1e-6)).clamp(max=1.0)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.view_as(p))
        opt.step()
        return norm

    @torch.no_grad()
    def _update_ema(self) -> float:
        c = self.config
        nimg = (self.step + 1) * self.global_batch
        halflife = c.ema_halflife_kimg * 1000.0
        if c.ema_rampup > 0:
            halflife = min(halflife, nimg * c.ema_rampup)
        beta = 0.5 ** (self.global_batch / max(halflife, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)
        return beta

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One D step (+ lazy R1), one G step and the EMA update; returns this rank's losses."""
        c = self.config
        real = torch.cat([batch["rgb"], batch["disparity"]], dim=1).to(self.device, non_blocking=True)
        sky = batch["sky"].to(self.device, non_blocking=True) if c.sky_refill else None
        self.G.train()
        self.D.train()

        # 1. generate (the graph is kept for the G step)
        requires_grad(self.G, True)
        fakes, rec, terms, painted = self.generate(real, sky)
        patch = c.discriminator == "patch"

        # 2. D step: real photos vs generated frames (patch D: the painted patches are the fakes)
        requires_grad(self.D, True)
        real_pred = self._D_compute(real * 2 - 1)
        fake_pred = self._D_compute(fakes.detach() * 2 - 1)
        d_loss = d_patch_loss(real_pred, fake_pred, painted) if patch else d_logistic_loss(real_pred, fake_pred)
        self.D.zero_grad(set_to_none=True)
        d_loss.backward()
        self._sync_and_step(self.D, self.d_opt)
        if patch:  # D's mean verdict on the painted patches
            w = patch_weights(fake_pred, painted)
            d_fake = (w * fake_pred).sum() / w.sum().clamp(min=1e-6)
        else:
            d_fake = fake_pred.mean()
        stats = {"d_loss": d_loss, "d_real": real_pred.mean(), "d_fake": d_fake}

        # 3. lazy R1 on real photos
        if c.r1_every and c.r1_gamma > 0 and self.step % c.r1_every == 0:
            x = (real * 2 - 1).detach().requires_grad_(True)
            r1 = d_r1_loss(self.D(x), x)
            self.D.zero_grad(set_to_none=True)
            (c.r1_gamma / 2 * r1 * c.r1_every).backward()
            self._sync_and_step(self.D, self.d_opt)
            stats["r1"] = r1

        # 4. G step: reconstruction + adversarial through the updated D
        requires_grad(self.D, False)
        fake_pred = self._D_compute(fakes * 2 - 1)
        adv = g_patch_loss(fake_pred, painted) if patch else g_nonsaturating_loss(fake_pred)
        g_loss = rec + c.adv_weight * adv
        self.G.zero_grad(set_to_none=True)
        g_loss.backward()
        g_norm = self._sync_and_step(self.G, self.g_opt)
        stats.update(g_loss=g_loss, g_adv=adv, rec=rec, g_grad_norm=g_norm, **terms)

        # 5. EMA
        stats["ema_beta"] = self._update_ema()
        self.step += 1
        return {k: float(v.detach()) if isinstance(v, Tensor) else float(v) for k, v in stats.items()}

    # ------------------------------------------------------------------ loop
    def run(self) -> dict[str, float]:
        """Train from ``self.step`` to ``config.steps``; returns the last step's stats (rank-averaged).

        With ``config.max_minutes`` > 0 the run also stops once that much wall time has
        passed since this call (all ranks at the same step), after writing a checkpoint
        and the export as at the end; ``self.stopped_early`` then says so, and
        ``--resume latest`` continues exactly from there.
        """
        c = self.config
        deadline = time.monotonic() + 60.0 * c.max_minutes if c.max_minutes > 0 else None
        self.stopped_early = False
        sampler = StepSampler(
            len(self.data), c.batch_size, seed=c.seed, rank=self.dist.rank, world_size=self.dist.world_size,
            start_step=self.step, num_steps=c.steps,
        )
        loader = torch.utils.data.DataLoader(
            self.data, batch_sampler=sampler, num_workers=c.num_workers, pin_memory=self.device.type == "cuda",
        )
        from tqdm.auto import tqdm

        bar = tqdm(total=c.steps, initial=self.step, disable=not (self.dist.is_main and c.progress), unit="step")
        last: dict[str, float] = {}
        tick = time.perf_counter()
        tick_step = self.step
        for batch in loader:
            stats = self.train_step(batch)
            bar.update(1)
            if deadline is not None and self.step < c.steps:
                self.stopped_early = self._any_rank(time.monotonic() >= deadline)
            done = self.step == c.steps or self.stopped_early
            if c.log_every and (self.step % c.log_every == 0 or done):
                last = self._reduce_stats(stats)
                now = time.perf_counter()
                last["sec_per_step"] = (now - tick) / max(1, self.step - tick_step)
                tick, tick_step = now, self.step
                if self.dist.is_main:
                    self._log({"step": self.step, "kimg": self.step * self.global_batch / 1000, **last})
                    bar.set_postfix(g=f"{last['g_loss']:.3f}", d=f"{last['d_loss']:.3f}", rec=f"{last['rec']:.3f}")
            if c.sample_every and (self.step % c.sample_every == 0 or done) and self.dist.is_main:
                self.write_samples()
            if (c.ckpt_every and self.step % c.ckpt_every == 0) or done:
                self.save_checkpoint()
            if done:
                break
        bar.close()
        return last

    def _any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank (so all ranks stop at the same step)."""
        if not _distributed(self.dist):
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _reduce_stats(self, stats: dict[str, float]) -> dict[str, float]:
        if not _distributed(self.dist):
            return dict(stats)
        keys = sorted(stats)
        t = torch.tensor([stats[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {k: float(v) / self.dist.world_size for k, v in zip(keys, t)}

    # ------------------------------------------------------------------ replicas
    @torch.no_grad()
    def replica_max_diff(self) -> float:
        """Largest difference of any G, G_ema or D parameter across ranks (0.0 when in sync)."""
        flat = torch.cat([p.detach().flatten().double() for m in (self.G, self.G_ema, self.D) for p in m.parameters()])
        if not _distributed(self.dist):
            return 0.0
        hi, lo = flat.clone(), flat.clone()
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        return float((hi - lo).abs().max())

    # ------------------------------------------------------------------ checkpoints
    def _gather_rng_states(self) -> list[Tensor]:
        state = self.rng.get_state()
        if not _distributed(self.dist):
            return [state]
        out: list = [None] * self.dist.world_size
        dist.all_gather_object(out, state)
        return out

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/step-NNNNNNN`` and ``export/generator_ema.safetensors`` (rank 0; all ranks must call)."""
        c = self.config
        diff = self.replica_max_diff()
        rng_states = self._gather_rng_states()
        if not self.dist.is_main:
            return None
        if diff != 0.0:
            warnings.warn(f"replicas out of sync at step {self.step}: max parameter difference {diff:.3g}", stacklevel=2)
        self._log({"step": self.step, "replica_max_diff": diff})
        root = self.out_dir / "checkpoints"
        final = root / f"step-{self.step:07d}"
        tmp = root / f".tmp-step-{self.step:07d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        extra = {"step": self.step, "kimg": self.step * self.global_batch / 1000, "stage": c.stage}
        save_model(self.G, tmp / "G.safetensors", extra=extra)
        save_model(self.G_ema, tmp / "G_ema.safetensors", extra=extra)
        save_model(self.D, tmp / "D.safetensors", extra=extra)
        torch.save(
            {
                "step": self.step,
                "world_size": self.dist.world_size,
                "g_opt": self.g_opt.state_dict(),
                "d_opt": self.d_opt.state_dict(),
                "rng": rng_states,
                "config": json.dumps(c.to_dict()),
            },
            tmp / "state.pt",
        )
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        save_model(self.G_ema, self.out_dir / "export" / EXPORT_NAME, extra={**extra, "train_config": c.to_dict()})
        if c.keep_checkpoints:
            for old in sorted(root.glob("step-*[0-9]"))[: -c.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        return final

    def load_weights(self, ckpt: Path) -> None:
        """Load G, G_ema and D weights from a checkpoint folder (not the optimizers or step)."""
        for name, module in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D)):
            path = Path(ckpt) / f"{name}.safetensors"
            saved = read_metadata(path)["config"]
            if saved != dataclasses.asdict(module.config):
                raise ValueError(f"{path} was trained with {saved}, this run builds {dataclasses.asdict(module.config)}")
            module.load_state_dict(read_tensor_file(path, map_location=self.device))  # ValueError when damaged

    def load_generator(self, path: str | Path) -> None:
        """Start G and G_ema from an exported generator file or ``"default"`` (D keeps its fresh initialisation)."""
        from ..weights import generator_file, resolve_weights

        try:
            path = generator_file(resolve_weights(path, "generator-default.safetensors"))
        except FileNotFoundError as e:
            raise FileNotFoundError(f"--init-generator: {e}") from None
        if not path.is_file():
            raise FileNotFoundError(f"--init-generator: {path} is not a file")
        try:
            meta = read_metadata(path)
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise ValueError(f"--init-generator: {path} is not a readable safetensors file ({' '.join(str(e).split())})") from None
        if meta.get("kind") != "generator":
            raise ValueError(f"--init-generator: {path} holds a {meta.get('kind')!r} model, not a generator")
        # What the generator is shown in the holes and whether it outputs a correction are conventions the
        # weights do not fix: a run may teach them the other one.
        conventions = {"hole_fill": "zero", "residual": False}
        mine = dataclasses.asdict(self.G.config)
        theirs = {**conventions, **meta["config"]}
        if {k: v for k, v in theirs.items() if k not in conventions} != {k: v for k, v in mine.items() if k not in conventions}:
            raise ValueError(
                f"--init-generator: {path} was trained with {meta['config']}, this run builds "
                f"{mine} (match --resolution, --latent-dim, --mapping-layers, --g-f-base, --g-f-max)"
            )
        for key in conventions:
            if theirs[key] != mine[key] and self.dist.rank == 0:
                flag = "--" + key.replace("_", "-")
                warnings.warn(
                    f"--init-generator: {path.name} was trained with {flag} {theirs[key]}, this run uses "
                    f"{flag} {mine[key]}: the generator starts on a convention it has not learned", stacklevel=2,
                )
        state = read_tensor_file(path, map_location=self.device)  # ValueError when damaged
        for module in (self.G, self.G_ema):
            module.load_state_dict(state)
            if mine["residual"] and not theirs["residual"]:
                module.zero_correction()  # start from a zero correction: the fill itself

    def load_checkpoint(self, ckpt: Path) -> None:
        """Restore weights, optimizer states, step and this rank's RNG state (exact resume)."""
        self.load_weights(ckpt)
        state = read_tensor_file(Path(ckpt) / "state.pt", map_location=self.device)  # ValueError when damaged
        self.g_opt.load_state_dict(state["g_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        self.step = int(state["step"])
        rngs = state["rng"]
        if len(rngs) == self.dist.world_size:
            self.rng.set_state(rngs[self.dist.rank].cpu())
        else:
            warnings.warn(
                f"{ckpt} was written by {len(rngs)} rank(s), this run has {self.dist.world_size}: "
                "training continues but not bit-exactly", stacklevel=2,
            )
            self.rng.manual_seed(self.config.seed * 1_000_003 + self.dist.rank + 7919 * self.step)

    # ------------------------------------------------------------------ samples
    @torch.no_grad()
    def flythrough(self, rgb: Tensor, disparity: Tensor, *, frames: int, speed: float = 0.1) -> Tensor:
        """G_ema flying straight ahead from real frames: ``(frames, B, 4, H, W)`` in ``[0, 1]``, frame 0 = input."""
        c = self.config
        B = rgb.shape[0]
        real = torch.cat([rgb, disparity], 1)
        g = torch.Generator().manual_seed(c.seed)
        code = self.G_ema.encode_style(real * 2 - 1)
        z = torch.randn(B, c.latent_dim, generator=g).to(self.device)
        poses = straight_poses(B, frames - 1, speed=speed, device=self.device)
        out = fly(self.G_ema, rgb, disparity, poses, self.K, code, z, beta=c.render_beta, noise="zero")
        return torch.cat([real[None], out.frames], dim=0)

    def write_samples(self) -> Path:
        """``samples/step-NNNNNNN.png``: per photo one RGB row and one disparity row of a flythrough."""
        from PIL import Image

        c = self.config
        n = min(c.sample_count, len(self.data))
        items = [self.data[i] for i in range(n)]
        rgb = torch.stack([it["rgb"] for it in items]).to(self.device)
        disp = torch.stack([it["disparity"] for it in items]).to(self.device)
        frames = self.flythrough(rgb, disp, frames=c.sample_frames).cpu()  # (T, B, 4, H, W)
        rows = []
        for b in range(n):
            rows.append(torch.cat(list(frames[:, b, :3]), dim=-1))
            rows.append(torch.cat(list(frames[:, b, 3:].expand(-1, 3, -1, -1)), dim=-1))
        grid = torch.cat(rows, dim=-2).clamp(0, 1)
        path = self.out_dir / "samples" / f"step-{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(path)
        return path
