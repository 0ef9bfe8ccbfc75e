"""Test-time structure for a sky probability: layout rules and this photo's own colours.

A sky network that reads a photo badly is often still right about most of it;
what it gets wrong contradicts simple facts about the photo. ``structure_sky``
applies four such facts to the network's probability at its working
resolution, without retraining anything:

1. **Ground reaches the bottom of the frame** (``fill_ground_islands``):
   connected regions of predicted ground (probability <= 0.5, 8-connectivity)
   with no pixel in the last row are taken for sky read as ground (dark
   clouds, a kite): their probability ``p`` becomes ``1 - p``. Ground that
   hangs into the frame without reaching its bottom edge (a branch entering
   from the side) is turned into sky as well.
2. **The sky of this photo has this photo's colours** (``colour_model``): one
   Gaussian for the sure sky (``p > sure_sky``) and one for the sure ground
   (``p < sure_ground``) are fitted in CIE Lab plus the row position; their
   log-likelihood ratio, clamped to ``[-20, 20]`` and times ``colour_weight``,
   is added to the network's logit at every pixel. Pixels whose colour and
   height belong to one class go to it; the network decides where the
   colours overlap. Step 1 runs again afterwards.
3. **Foliage is not sky** (``foliage_weight``): yellow-green pixels
   (``a* < -foliage_onset`` and ``b* > foliage_onset``) lose up to
   ``foliage_weight`` logits.
4. **A warm "sky" darker than its ground is not sky** (``dark_sky_margin``):
   when the predicted sky's mean L* is more than ``dark_sky_margin`` below the
   ground's and its mean b* is > 0 (not blue), the whole sky is multiplied by
   ``dark_sky_factor``; defocused brown or orange backgrounds of close-ups
   look like a warm sky to the network.

All steps are plain torch ops per photo on ``(h, w)`` maps, except the
connected components of step 1 (``scipy.ndimage.label`` on a CPU copy of a
boolean mask). Their parameters were chosen on the train photos of
``data/real_photos`` for a sky network trained on procedural scenes only (its mean
sky IoU there 0.624 -> 0.710). The shipped network also learns from those photos;
on the held-out photos the rules raise hills (0.984 -> 0.997) and the sunset
(0.115 -> 0.168) but lower cold-ripple (0.864 -> 0.838) and dune (0.814 -> 0.730),
mean 0.687 -> 0.678, so ``SkyNet`` applies them only with
``SkyNetConfig.structure = True``.

Example:
    >>> img = torch.zeros(1, 3, 64, 64); img[:, 2, :32] = 1; img[:, 1, 32:] = 0.4
    >>> p = torch.full((1, 1, 64, 64), 0.05); p[..., :32, :] = 0.95
    >>> p[..., 8:16, 20:40] = 0.05  # a patch of blue sky read as ground
    >>> q = structure_sky(p, img)
    >>> bool(q[0, 0, 12, 30] > 0.5), bool(q[0, 0, 48, 30] < 0.5)
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "SkyStructureConfig",
    "structure_sky",
    "fill_ground_islands",
    "colour_log_ratio",
    "foliage_score",
]

_LLR_CLAMP = 20.0


@dataclass
class SkyStructureConfig:
    """Parameters of ``structure_sky`` (defaults chosen on the train photos).

    Attributes:
        fill_ground_islands: turn predicted ground that does not reach the bottom row into sky.
        colour_model: add the per-photo colour log-likelihood ratio to the logit.
        sure_sky: probability above which a pixel trains the sky colour model, in ``(0.5, 1)``.
        sure_ground: probability below which a pixel trains the ground colour model, in ``(0, 0.5)``.
        colour_weight: multiplier of the clamped log-likelihood ratio (in logits), ``>= 0``.
        row_weight: weight of the row position (0 at the top, 1 at the bottom) beside the
            Lab channels (each divided by 100), ``>= 0``.
        covariance_reg: added to the diagonal of each class covariance, ``> 0``.
        min_share: each class needs at least this share of the pixels to fit a colour
            model; otherwise step 2 is skipped, in ``[0, 1)``.
        foliage_weight: logits taken from fully yellow-green pixels, ``>= 0`` (0 turns it off).
        foliage_onset: ``|a*|`` and ``b*`` above which a pixel starts to count as foliage; it
            counts fully 10 units further.
        dark_sky_margin: L* units by which the predicted sky must be darker than the ground
            (with mean b* > 0) for the whole sky to be damped; ``None`` turns it off.
        dark_sky_factor: multiplier for the sky in that case, in ``[0, 1]``.
    """

    fill_ground_islands: bool = True
    colour_model: bool = True
    sure_sky: float = 0.8
    sure_ground: float = 0.2
    colour_weight: float = 2.0
    row_weight: float = 1.0
    covariance_reg: float = 1e-3
    min_share: float = 0.005
    foliage_weight: float = 8.0
    foliage_onset: float = 5.0
    dark_sky_margin: float | None = 15.0
    dark_sky_factor: float = 0.25

    def __post_init__(self) -> None:
        if not 0.5 < self.sure_sky < 1 or not 0 < self.sure_ground < 0.5:
            raise ValueError(f"need 0.5 < sure_sky < 1 and 0 < sure_ground < 0.5, got {self.sure_sky}, {self.sure_ground}")
        for name in ("colour_weight", "row_weight", "foliage_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.covariance_reg <= 0:
            raise ValueError(f"covariance_reg must be > 0, got {self.covariance_reg}")
        if not 0 <= self.min_share < 1:
            raise ValueError(f"min_share must be in [0, 1), got {self.min_share}")
        if not 0 <= self.dark_sky_factor <= 1:
            raise ValueError(f"dark_sky_factor must be in [0, 1], got {self.dark_sky_factor}")


def _check(prob: Tensor, image: Tensor | None = None) -> None:
    if prob.dim() != 4 or prob.shape[1] != 1:
        raise ValueError(f"prob must be (B, 1, H, W), got {tuple(prob.shape)}")
    if image is not None and (image.dim() != 4 or image.shape[1] != 3 or image.shape[0] != prob.shape[0]
                              or image.shape[-2:] != prob.shape[-2:]):
        raise ValueError(f"image must be (B, 3, H, W) matching prob {tuple(prob.shape)}, got {tuple(image.shape)}")


def fill_ground_islands(prob: Tensor, threshold: float = 0.5) -> Tensor:
    """Flip regions of predicted ground that do not touch the bottom row into sky.

    Connected regions (8-connectivity) of ``prob <= threshold`` without a pixel
    in the last row get ``1 - prob``.

    Args:
        prob: ``(B, 1, H, W)`` sky probabilities in ``[0, 1]``.
        threshold: probability at or below which a pixel is ground.

    Returns:
        ``(B, 1, H, W)``, a new tensor on ``prob``'s device.

    Example:
        >>> p = torch.ones(1, 1, 6, 4); p[..., 4:, :] = 0.1; p[..., 1, 1:3] = 0.2
        >>> fill_ground_islands(p)[0, 0, :, 1]
        tensor([1.0000, 0.8000, 1.0000, 1.0000, 0.1000, 0.1000])
    """
    from scipy import ndimage

    _check(prob)
    out = prob.clone()
    masks = (prob[:, 0] <= threshold).cpu().numpy()
    for i, m in enumerate(masks):
        labels, n = ndimage.label(m, structure=[[1, 1, 1], [1, 1, 1], [1, 1, 1]])
        if n == 0:
            continue
        keep = torch.zeros(n + 1, dtype=torch.bool)
        keep[torch.from_numpy(labels[-1]).long()] = True
        lab = torch.from_numpy(labels).long().to(prob.device)
        island = (lab > 0) & ~keep.to(prob.device)[lab]
        out[i, 0] = torch.where(island, 1 - prob[i, 0], prob[i, 0])
    return out


def _lab(image: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB in ``[0, 1]`` -> CIE Lab (L* in [0, 100], a*, b* about [-128, 127])."""
    from kornia.color import rgb_to_lab

    return rgb_to_lab(image.float().clamp(0, 1))


def _gauss_loglik(x: Tensor, sel: Tensor, reg: float) -> Tensor:
    """Log-density (up to a shared constant) of ``x (N, D)`` under the Gaussian of ``x[sel]``."""
    xs = x[sel]
    mu = xs.mean(0)
    d = xs - mu
    cov = d.T @ d / max(xs.shape[0] - 1, 1) + reg * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    chol = torch.linalg.cholesky(cov)
    z = torch.linalg.solve_triangular(chol, (x - mu).T, upper=False)
    return -0.5 * (z * z).sum(0) - torch.log(torch.diagonal(chol)).sum()


def colour_log_ratio(prob: Tensor, lab: Tensor, config: SkyStructureConfig) -> Tensor | None:
    """Per-photo colour evidence: ``log N_sky(x) - log N_ground(x)`` of every pixel.

    Args:
        prob: ``(1, H, W)`` sky probabilities of one photo (chooses the sure pixels).
        lab: ``(3, H, W)`` the photo in CIE Lab.
        config: ``sure_sky``, ``sure_ground``, ``row_weight``, ``covariance_reg``, ``min_share``.

    Returns:
        ``(H, W)`` float32 log-likelihood ratios (positive = sky-like), unclamped;
        ``None`` when a class has too few sure pixels.
    """
    h, w = lab.shape[-2:]
    p = prob.reshape(-1)
    sky, ground = p > config.sure_sky, p < config.sure_ground
    need = max(int(config.min_share * p.numel()), 8)
    if int(sky.sum()) < need or int(ground.sum()) < need:
        return None
    rows = torch.linspace(0, 1, h, device=lab.device).view(1, h, 1).expand(1, h, w) * config.row_weight
    # float32 is enough: 4 x 4 covariances of centred data, conditioned by covariance_reg
    x = torch.cat([lab / 100, rows], 0).reshape(4, -1).T.float()
    try:
        llr = _gauss_loglik(x, sky, config.covariance_reg) - _gauss_loglik(x, ground, config.covariance_reg)
    except RuntimeError:  # a covariance that is not positive definite (cannot happen with reg > 0 in exact arithmetic)
        return None
    return llr.float().view(h, w)


def foliage_score(lab: Tensor, onset: float = 5.0) -> Tensor:
    """How yellow-green a pixel is, in ``[0, 1]``: ``ramp(-a* - onset) * ramp(b* - onset)``,
    each ramp rising from 0 to 1 over 10 units.

    Args:
        lab: ``(..., 3, H, W)`` CIE Lab.
        onset: a* below ``-onset`` and b* above ``onset`` start to count.

    Returns:
        ``(..., 1, H, W)``.
    """
    a, b = lab[..., 1:2, :, :], lab[..., 2:3, :, :]
    return ((-a - onset) / 10).clamp(0, 1) * ((b - onset) / 10).clamp(0, 1)


def structure_sky(prob: Tensor, image: Tensor, config: SkyStructureConfig | None = None) -> Tensor:
    """Apply the layout and colour rules of this module to a sky probability.

    Args:
        prob: ``(B, 1, H, W)`` sky probabilities in ``[0, 1]`` (e.g. the network's at its
            working resolution).
        image: ``(B, 3, H, W)`` the photo at the same size, RGB in ``[0, 1]``.
        config: the rules' parameters; ``SkyStructureConfig()`` when ``None``.

    Returns:
        ``(B, 1, H, W)`` sky probabilities in ``[0, 1]``, ``prob``'s dtype and device.
        Deterministic; each photo of the batch is handled on its own.
    """
    _check(prob, image)
    cfg = config or SkyStructureConfig()
    dtype = prob.dtype
    p = prob.float().clamp(0, 1)
    lab = _lab(image)
    eps = 1e-4
    if cfg.fill_ground_islands:
        p = fill_ground_islands(p)
    if cfg.colour_model and cfg.colour_weight > 0:
        outs = []
        for i in range(p.shape[0]):
            llr = colour_log_ratio(p[i], lab[i], cfg)
            if llr is None:
                outs.append(p[i])
                continue
            logit = torch.logit(p[i].clamp(eps, 1 - eps)) + cfg.colour_weight * llr.clamp(-_LLR_CLAMP, _LLR_CLAMP)
            outs.append(torch.sigmoid(logit))
        p = torch.stack(outs)
        if cfg.fill_ground_islands:
            p = fill_ground_islands(p)
    if cfg.foliage_weight > 0:
        p = torch.sigmoid(torch.logit(p.clamp(eps, 1 - eps)) - cfg.foliage_weight * foliage_score(lab, cfg.foliage_onset))
    if cfg.dark_sky_margin is not None:
        sky = p[:, 0] > 0.5
        for i in range(p.shape[0]):
            s, g = sky[i], ~sky[i]
            if not s.any() or not g.any():
                continue
            darker = lab[i, 0][s].mean() - lab[i, 0][g].mean() < -cfg.dark_sky_margin
            if darker and lab[i, 2][s].mean() > 0:
                p[i] = p[i] * cfg.dark_sky_factor
    return p.clamp(0, 1).to(dtype)
