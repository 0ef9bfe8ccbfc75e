"""Augmentations that move rendered landscapes toward photos, for estimator training.

Procedural renders are clean: perfect focus, no noise, no compression, one
camera response. Photos are not. ``augment`` applies, per sample and drawn
from an explicit ``torch.Generator``: a random crop/zoom with a small roll and
horizontal flip (applied identically to the targets), sky repainting
(sunset/overcast gradients that keep the clouds), backlit darkening of the
ground, white balance,
brightness, contrast, saturation, hue and gamma changes, extra or less haze
(depth-dependent blend toward a sky-ish colour), blur, sensor noise and JPEG
compression.

Real photos with hand-checked sky masks (``data/real_photos``) join training
through ``load_real_sky`` and ``real_sky_batch``: square crops at many scales
with flips, the same photometric changes (without the depth-driven haze), and
copy-paste compositing: ``sky_plates`` cuts the all-sky top bands of photos and
renders, ``paste_sky`` composites such a band over the sky of another sample
(real skies over procedural ground, procedural or other real skies over real
ground), keeping the target mask.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

__all__ = [
    "AugmentConfig",
    "augment",
    "RealSkyPhotos",
    "load_real_sky",
    "sky_plates",
    "paste_sky",
    "ground_window",
    "real_sky_batch",
    "REAL_PHOTO_AUGMENT",
]


@dataclass
class AugmentConfig:
    """Ranges of the random augmentations (each drawn uniformly per sample).

    Attributes:
        crop_scale: side of the crop as a fraction of the image side.
        aspect: max log-aspect change of the crop (``exp(+-aspect)``).
        max_roll_deg: camera roll in degrees (+-).
        flip: probability of a horizontal flip.
        white_balance: per-channel gain ``1 +- white_balance``.
        brightness, contrast, saturation: factors ``1 +- value``.
        hue: hue shift in radians (+-).
        gamma: ``(low, high)`` exponent range.
        haze: probability of adding haze; haze_strength its max opacity at infinity.
        dehaze: probability of removing some haze instead (contrast boost of the far field).
        blur: probability of a Gaussian blur with sigma up to ``max_blur_sigma`` pixels.
        noise: max std of additive Gaussian noise.
        jpeg: probability of JPEG compression at quality in ``jpeg_quality``.
        sky_recolour: probability of repainting the sky with a random vertical
            colour gradient (sunsets, overcast, dusk) that keeps its cloud texture
            (inverted for half of them: dark storm clouds).
        ground_darken: probability of darkening everything but the sky (backlit
            silhouettes); ground_gain is the darkest factor.
    """

    crop_scale: tuple[float, float] = (0.5, 1.0)
    aspect: float = 0.15
    max_roll_deg: float = 4.0
    flip: float = 0.5
    white_balance: float = 0.08
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.4
    hue: float = 0.08
    gamma: tuple[float, float] = (0.7, 1.4)
    haze: float = 0.3
    haze_strength: float = 0.6
    dehaze: float = 0.2
    blur: float = 0.3
    max_blur_sigma: float = 1.5
    noise: float = 0.03
    jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (25, 95)
    sky_recolour: float = 0.4
    ground_darken: float = 0.2
    ground_gain: float = 0.15


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _geometric(
    batch: dict[str, Tensor], size: int | tuple[int, int], cfg: AugmentConfig, g: torch.Generator | None
) -> dict[str, Tensor]:
    b = batch["rgb"].shape[0]
    out_h, out_w = _hw(size)
    side = _uniform(b, *cfg.crop_scale, g)
    log_aspect = _uniform(b, -cfg.aspect, cfg.aspect, g)
    # A non-square output crops a window of the same aspect (the shorter side shrinks).
    sx = (side * log_aspect.exp() * min(1.0, out_w / out_h)).clamp(max=1.0)
    sy = (side * (-log_aspect).exp() * min(1.0, out_h / out_w)).clamp(max=1.0)
    angle = _uniform(b, -cfg.max_roll_deg, cfg.max_roll_deg, g) * math.pi / 180
    flip = torch.where(torch.rand(b, generator=g) < cfg.flip, -1.0, 1.0)
    # Keep the rotated crop inside the image: shrink the free range by the roll.
    slack = angle.abs().sin()
    tx = _uniform(b, -1, 1, g) * (1 - sx - slack * sy).clamp_min(0)
    ty = _uniform(b, -1, 1, g) * (1 - sy - slack * sx).clamp_min(0)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [
            torch.stack([cos * sx * flip, -sin * sy, tx], -1),
            torch.stack([sin * sx * flip, cos * sy, ty], -1),
        ],
        1,
    ).to(batch["rgb"])
    grid = F.affine_grid(theta, [b, 1, out_h, out_w], align_corners=False)
    return {k: F.grid_sample(v, grid, mode="bilinear", padding_mode="border", align_corners=False) for k, v in batch.items()}


def _jpeg(rgb: Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> Tensor:
    apply = torch.rand(rgb.shape[0], generator=g) < cfg.jpeg
    quality = torch.randint(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1, (rgb.shape[0],), generator=g)
    out = rgb.clone()
    for i in torch.nonzero(apply).flatten().tolist():  # PIL encodes one image at a time
        arr = (rgb[i].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality[i]))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        out[i] = torch.from_numpy(dec.copy()).permute(2, 0, 1).to(rgb) / 255
    return out


def _sky_and_ground(rgb: Tensor, sky: Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> Tensor:
    b, _, h, _ = rgb.shape
    # Repaint the sky: a random top->horizon gradient, modulated by the sky's own luma (clouds).
    top = torch.rand(b, 3, 1, 1, generator=g).to(rgb)
    bottom = torch.rand(b, 3, 1, 1, generator=g).to(rgb)
    rows = torch.linspace(0, 1, h).to(rgb).view(1, 1, h, 1)
    gradient = top + (bottom - top) * rows
    luma = (rgb * rgb.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    mean_luma = (luma * sky).sum((2, 3), keepdim=True) / sky.sum((2, 3), keepdim=True).clamp_min(1)
    texture = (luma / mean_luma.clamp_min(1e-3)).clamp(0, 3)
    # Half of the repainted skies get dark clouds (storms) instead of bright ones.
    invert = (torch.rand(b, generator=g) < 0.5).to(rgb).view(b, 1, 1, 1)
    texture = texture + invert * ((2 - texture).clamp(0, 3) - texture)
    amount = (torch.rand(b, generator=g) < cfg.sky_recolour).to(rgb).view(b, 1, 1, 1) * _uniform(b, 0.5, 1, g).to(rgb).view(b, 1, 1, 1)
    x = rgb + amount * sky * ((gradient * texture).clamp(0, 1) - rgb)
    # Backlit scenes: the ground goes dark under a bright sky.
    dark = torch.rand(b, generator=g) < cfg.ground_darken
    gain = torch.where(dark, _uniform(b, cfg.ground_gain, 0.7, g), torch.ones(b)).to(rgb).view(b, 1, 1, 1)
    return x * (sky + (1 - sky) * gain)


def _photometric(rgb: Tensor, disparity: Tensor, sky: Tensor, cfg: AugmentConfig, g: torch.Generator | None) -> Tensor:
    b = rgb.shape[0]

    def per_sample(low: float, high: float) -> Tensor:
        return _uniform(b, low, high, g).to(rgb).view(b, 1, 1, 1)

    rgb = _sky_and_ground(rgb, sky, cfg, g)
    gains = (torch.rand(b, 3, 1, 1, generator=g).to(rgb) * 2 - 1) * cfg.white_balance + 1
    x = rgb * gains * per_sample(1 - cfg.brightness, 1 + cfg.brightness)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (mean + (x - mean) * per_sample(1 - cfg.contrast, 1 + cfg.contrast)).clamp(0, 1)
    x = kornia.enhance.adjust_saturation(x, per_sample(1 - cfg.saturation, 1 + cfg.saturation).flatten())
    x = kornia.enhance.adjust_hue(x, per_sample(-cfg.hue, cfg.hue).flatten()).clamp(0, 1)
    x = x.clamp_min(1e-6) ** per_sample(*cfg.gamma)

    # Haze: far pixels (low disparity) blend toward a bright, bluish-grey colour.
    far = (1 - disparity.clamp(0, 1)) ** 2
    haze_on = (torch.rand(b, generator=g) < cfg.haze).to(rgb).view(b, 1, 1, 1)
    opacity = haze_on * per_sample(0, cfg.haze_strength) * far
    colour = (0.7 + 0.3 * torch.rand(b, 3, 1, 1, generator=g).to(rgb)) * torch.tensor([0.9, 0.95, 1.0]).to(rgb).view(1, 3, 1, 1)
    x = x * (1 - opacity) + colour * opacity
    # Dehaze: stretch the far field away from its mean colour.
    dehaze_on = (torch.rand(b, generator=g) < cfg.dehaze).to(rgb).view(b, 1, 1, 1)
    far_mean = (x * far).sum((2, 3), keepdim=True) / far.sum((2, 3), keepdim=True).clamp_min(1e-6)
    x = (x + dehaze_on * per_sample(0, 0.5) * far * (x - far_mean)).clamp(0, 1)

    blur_on = torch.rand(b, generator=g) < cfg.blur
    if blur_on.any():
        sigma = _uniform(b, 0.3, cfg.max_blur_sigma, g).to(rgb)
        k = 2 * math.ceil(2 * cfg.max_blur_sigma) + 1
        blurred = kornia.filters.gaussian_blur2d(x, (k, k), torch.stack([sigma, sigma], -1))
        x = torch.where(blur_on.to(x.device).view(b, 1, 1, 1), blurred, x)

    std = per_sample(0, cfg.noise)
    x = x + torch.randn(x.shape, generator=g).to(x) * std
    return _jpeg(x.clamp(0, 1), cfg, g)


def augment(
    batch: dict[str, Tensor],
    *,
    size: int,
    config: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Randomly crop, roll, flip and re-photograph a batch of rendered training samples.

    Args:
        batch: ``rgb (B, 3, S, S)`` in ``[0, 1]``, ``disparity (B, 1, S, S)``
            normalized (larger = nearer), ``sky (B, 1, S, S)`` in ``[0, 1]``.
        size: output side in pixels.
        config: augmentation ranges.
        generator: source of randomness (CPU generator).

    Returns:
        The same keys at ``size x size``; targets follow the geometric part only.
    """
    cfg = config or AugmentConfig()
    for key in ("rgb", "disparity", "sky"):
        if key not in batch:
            raise ValueError(f"batch is missing {key!r}; it has {sorted(batch)}")
    out = _geometric({k: batch[k] for k in ("rgb", "disparity", "sky")}, size, cfg, generator)
    out["rgb"] = _photometric(out["rgb"], out["disparity"], out["sky"], cfg, generator)
    return out


#: Photometric ranges for real-photo crops: no depth-driven haze (real photos have no disparity target).
REAL_PHOTO_AUGMENT = AugmentConfig(haze=0.0, dehaze=0.0, sky_recolour=0.2, ground_darken=0.1)


@dataclass
class RealSkyPhotos:
    """Real photos with sky masks, resized for training.

    Attributes:
        names: photo names.
        images: ``(3, H, W)`` float in ``[0, 1]`` per photo.
        sky: ``(1, H, W)`` float, 1 where the mask says sky (255).
        valid: ``(1, H, W)`` float, 0 on uncertain (128) pixels.
        plates: ``(3, h, W)`` all-sky top bands (see ``sky_plates``).
    """

    names: list[str]
    images: list[Tensor]
    sky: list[Tensor]
    valid: list[Tensor]
    plates: list[Tensor]


def load_real_sky(root, split: str = "train", *, exclude=(), short_side: int = 320) -> RealSkyPhotos:
    """Load the photos and sky masks of one split of a real-photo set such as ``data/real_photos``.

    Args:
        root: folder with ``images/NAME.jpg``, ``sky/NAME.png`` (255 sky,
            128 uncertain, 0 not sky) and ``split.json``.
        split: a key of ``split.json`` (e.g. ``"train"``).
        exclude: names of the split to leave out (e.g. a validation subset).
        short_side: photos and masks are resized (antialiased) to this short side.

    Returns:
        A ``RealSkyPhotos``.

    Raises:
        ValueError: a missing folder or file, an unknown split or excluded
            name, or nothing left to train on (one-line messages).
    """
    import json
    from pathlib import Path

    root = Path(root)
    split_file = root / "split.json"
    if not split_file.is_file():
        raise ValueError(f"real-photo folder {root} has no split.json")
    parts = json.loads(split_file.read_text())
    if split not in parts:
        raise ValueError(f"split {split!r} is not in {split_file} (it has {sorted(parts)})")
    names = list(parts[split])
    unknown = sorted(set(exclude) - set(names))
    if unknown:
        raise ValueError(f"cannot exclude {unknown}: not in split {split!r}")
    names = [n for n in names if n not in set(exclude)]
    if not names:
        raise ValueError(f"no photos left in split {split!r} of {root}")
    out = RealSkyPhotos([], [], [], [], [])
    for name in names:
        img_path, mask_path = root / "images" / f"{name}.jpg", root / "sky" / f"{name}.png"
        for path in (img_path, mask_path):
            if not path.is_file():
                raise ValueError(f"missing {path}")
        img = torch.from_numpy(np.asarray(Image.open(img_path).convert("RGB"), np.float32) / 255).permute(2, 0, 1)
        mask = torch.from_numpy(np.asarray(Image.open(mask_path).convert("L")).copy())
        if mask.shape != img.shape[-2:]:
            raise ValueError(f"{mask_path} is {tuple(mask.shape)}, the photo {tuple(img.shape[-2:])}")
        h, w = img.shape[-2:]
        scale = short_side / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        maps = torch.stack([(mask == 255).float(), (mask != 128).float()])[None]
        img = F.interpolate(img[None], size=size, mode="bilinear", align_corners=False, antialias=scale < 1)[0]
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)[0]
        out.names.append(name)
        out.images.append(img.clamp(0, 1))
        out.sky.append(maps[:1])
        out.valid.append((maps[1:] > 0.99).float())
        min_rows = max(2, round(0.075 * short_side))  # 24 rows at the default 320
        out.plates.extend(sky_plates(img[None], maps[None, :1] * (maps[None, 1:] > 0.99), min_rows=min_rows))
    return out


def sky_plates(rgb: Tensor, sky: Tensor, *, min_rows: int = 24, min_share: float = 0.995) -> list[Tensor]:
    """The all-sky top bands of images: rows from the top while ``min_share`` of the row is sky.

    Args:
        rgb: ``(B, 3, H, W)``.
        sky: ``(B, 1, H, W)`` in ``[0, 1]``.
        min_rows: bands shorter than this are dropped.

    Returns:
        ``(3, r, W)`` tensors, one per image whose band has at least ``min_rows`` rows.
    """
    plates = []
    row_ok = (sky[:, 0] > 0.5).float().mean(-1) >= min_share  # (B, H)
    for i in range(rgb.shape[0]):
        bad = torch.nonzero(~row_ok[i]).flatten()
        r = int(bad[0]) if len(bad) else rgb.shape[-2]
        if r >= min_rows:
            plates.append(rgb[i, :, :r].clone())
    return plates


def _plate_crop(plate: Tensor, size: tuple[int, int], g: torch.Generator | None) -> Tensor:
    """A random window of a sky plate, as wide as 1-2x its height, stretched to ``size``, maybe flipped."""
    _, h, w = plate.shape
    cw = min(w, int(h * float(_uniform(1, 1.0, 2.0, g))))
    x0 = int(torch.randint(0, w - cw + 1, (1,), generator=g))
    crop = plate[None, :, :, x0 : x0 + cw]
    if float(torch.rand(1, generator=g)) < 0.5:
        crop = crop.flip(-1)
    return F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)[0]


def paste_sky(rgb: Tensor, sky: Tensor, plates: list[Tensor], prob: float, g: torch.Generator | None) -> Tensor:
    """Composite random sky plates over the sky of each sample with probability ``prob``.

    The mask (soft at its edges) is the alpha: ``rgb' = sky * plate + (1 - sky) * rgb``;
    targets do not change.

    Args:
        rgb: ``(B, 3, H, W)``; sky: ``(B, 1, H, W)`` in ``[0, 1]``.
        plates: candidate plates (``sky_plates``); nothing happens when empty.
    """
    if not plates or prob <= 0:
        return rgb
    out = rgb.clone()
    apply = torch.rand(rgb.shape[0], generator=g) < prob
    for i in torch.nonzero(apply).flatten().tolist():
        plate = _plate_crop(plates[int(torch.randint(0, len(plates), (1,), generator=g))], tuple(rgb.shape[-2:]), g)
        out[i] = sky[i] * plate.to(rgb) + (1 - sky[i]) * rgb[i]
    return out


def ground_window(
    sky: Tensor, valid: Tensor, size: tuple[int, int], f: float, f_min: float, g: torch.Generator | None
) -> tuple[int, int, int, int] | None:
    """A random window of ``size``'s aspect with no sky and no uncertain pixel, or ``None``.

    Args:
        sky: ``(1, H, W)`` in ``[0, 1]``; any value above 0 counts as sky.
        valid: ``(1, H, W)``, 0 on uncertain pixels.
        size: output ``(h, w)``; the window is ``f * size`` pixels.
        f: wanted scale; shrunk by 0.8 at a time down to ``f_min`` until a window fits.

    Returns:
        ``(y0, x0, ch, cw)`` of a window inside the photo's sure ground, uniformly
        among the positions where one fits, or ``None``.
    """
    h, w = sky.shape[-2:]
    bad = ((sky[0] > 0) | (valid[0] < 1)).double()
    if not bool((bad == 0).any()):
        return None
    integral = F.pad(bad.cumsum(0).cumsum(1), (1, 0, 1, 0))
    while True:
        ch, cw = max(4, min(h, round(f * size[0]))), max(4, min(w, round(f * size[1])))
        box = integral[ch:, cw:] - integral[:-ch, cw:] - integral[ch:, :-cw] + integral[:-ch, :-cw]
        free = torch.nonzero(box < 0.5)
        if len(free):
            y0, x0 = free[int(torch.randint(0, len(free), (1,), generator=g))].tolist()
            return y0, x0, ch, cw
        if f * 0.8 < f_min or (ch == 4 and cw == 4):
            return None
        f *= 0.8


def real_sky_batch(
    real: RealSkyPhotos,
    n: int,
    *,
    size: int | tuple[int, int],
    scale: tuple[float, float] = (0.3, 1.0),
    plates: list[Tensor] = (),
    paste: float = 0.0,
    config: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    ground: float = 0.0,
) -> dict[str, Tensor]:
    """``n`` random square crops of real photos with their sky masks, re-photographed.

    Crops (of ``size``'s aspect) take a short side of ``scale`` (log-uniform)
    times what fits in the photo, anywhere in the photo, flip half of the time, get sky plates pasted over
    their sky with probability ``paste``, then the photometric changes of
    ``config`` (default ``REAL_PHOTO_AUGMENT``).

    With probability ``ground`` a crop is instead taken entirely inside the
    ground of a photo that has room for one (a window with no sky and no uncertain
    pixel, see ``ground_window``) at a random scale and position: close-up,
    sky-free views of real ground. The window shrinks from the drawn scale
    down to half the output size (2x zoom) until one fits; a photo with no
    such window gives a normal crop.

    Returns:
        ``rgb (n, 3, H, W)``, ``sky (n, 1, H, W)`` in ``[0, 1]``,
        ``valid (n, 1, H, W)`` (0 where the mask is uncertain), ``(H, W) = size``.
    """
    cfg = config or REAL_PHOTO_AUGMENT
    g = generator
    rgbs, skies, valids = [], [], []
    lo, hi = math.log(scale[0]), math.log(scale[1])
    out_h, out_w = _hw(size)
    # Photos with a sure-ground window of at least half the output size (ground crops are drawn from these).
    probe = torch.Generator()
    has_ground = [
        i for i, (s, v) in enumerate(zip(real.sky, real.valid)) if ground_window(s, v, (out_h, out_w), 0.5, 0.5, probe) is not None
    ] if ground > 0 else []
    for _ in range(n):
        want_ground = ground > 0 and bool(has_ground) and float(torch.rand(1, generator=g)) < ground
        pool = has_ground if want_ground else range(len(real.images))
        k = pool[int(torch.randint(0, len(pool), (1,), generator=g))]
        img, sky, valid = real.images[k], real.sky[k], real.valid[k]
        h, w = img.shape[-2:]
        fit = min(h / out_h, w / out_w)  # largest window of the output's aspect: fit * (out_h, out_w)
        f = fit * math.exp(float(_uniform(1, lo, hi, g)))
        ch, cw = max(4, min(h, round(f * out_h))), max(4, min(w, round(f * out_w)))
        window = None
        if want_ground:  # down to half the output size (at most 2x zoom) when the ground is a thin band
            window = ground_window(sky, valid, (out_h, out_w), f, min(fit * scale[0], 0.5), g)
        if window is not None:
            y0, x0, ch, cw = window
        else:
            y0 = int(torch.randint(0, h - ch + 1, (1,), generator=g))
            x0 = int(torch.randint(0, w - cw + 1, (1,), generator=g))
        stack = torch.cat([img, sky, valid])[None, :, y0 : y0 + ch, x0 : x0 + cw]
        stack = F.interpolate(stack, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=ch > out_h)
        if float(torch.rand(1, generator=g)) < cfg.flip:
            stack = stack.flip(-1)
        rgbs.append(stack[:, :3])
        skies.append(stack[:, 3:4])
        valids.append(stack[:, 4:5])
    rgb, sky, valid = torch.cat(rgbs).clamp(0, 1), torch.cat(skies).clamp(0, 1), (torch.cat(valids) > 0.99).float()
    rgb = paste_sky(rgb, sky * valid, list(plates), paste, g)
    rgb = _photometric(rgb, torch.full_like(sky, 0.5), sky, cfg, g)
    return {"rgb": rgb, "sky": sky, "valid": valid}
