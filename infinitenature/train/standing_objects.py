"""Standing objects pasted into rendered training views: depth for thin and upright things.

Procedural landscapes are height fields: every pixel lies on terrain, so a
depth network trained on them learns that a pixel higher in the frame is
farther away. Real photos break that rule wherever something stands up from
the ground: a tree in front of a valley, a trunk, a post, a grass stalk in
front of the sea, a boulder. Such an object is as far away as the ground it
stands on, all the way up.

``paste_standing`` teaches that rule by example. For each sample it picks a
few base points on the rendered ground, and stands an object on each: a
trunk, a tree (trunk and a round or pointed crown), a thin tilted stalk or a
low rock. Its size in pixels grows with the disparity of its base (nearer
objects look larger), its colours are another view's pixels (so it carries
real texture, not a flat colour, and no colour gives its depth away), its
disparity target is the disparity of its base, and its sky target is 0. The
objects are drawn far to near, and only where they are nearer than what is
already there.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> b = {"rgb": torch.rand(2, 3, 64, 64), "sky": torch.zeros(2, 1, 64, 64),
    ...      "disparity": torch.linspace(0, 1, 64).view(1, 1, 64, 1).expand(2, 1, 64, 64).clone()}
    >>> out = paste_standing(b, 1.0, g)
    >>> sorted(out), out["disparity"].shape
    (['disparity', 'rgb', 'sky'], torch.Size([2, 1, 64, 64]))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["paste_standing", "standing_object"]

#: kinds of objects and how often each is drawn
KINDS = ("trunk", "tree", "stalk", "rock")
KIND_WEIGHTS = (0.3, 0.4, 0.15, 0.15)


def _u(low: float, high: float, g: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand(1, generator=g))


def _soft(distance_inside: Tensor) -> Tensor:
    """Coverage in ``[0, 1]`` of a pixel whose centre lies ``distance_inside`` pixels inside an edge."""
    return (distance_inside + 0.5).clamp(0, 1)


def standing_object(
    kind: str, base_x: float, base_y: float, height: float, size: tuple[int, int], g: torch.Generator | None
) -> Tensor:
    """Coverage ``(H, W)`` in ``[0, 1]`` of one object standing at ``(base_x, base_y)`` (pixels).

    Args:
        kind: one of ``KINDS``.
        base_x, base_y: where the object touches the ground, in pixel coordinates.
        height: its height in pixels (a rock, an ellipse, is 0.24-0.6 of it tall and 0.5-1.2 of it wide).
        size: ``(H, W)`` of the image.
        g: generator for the object's proportions.
    """
    h, w = size
    ys = torch.arange(h, dtype=torch.float32).view(h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, w)
    up = base_y - ys  # height above the base, in pixels

    def pole(top: float, width: float, tilt: float, bend: float = 0.0) -> Tensor:
        t = (up / max(top, 1.0)).clamp(0, 1)
        centre = base_x + up * math.tan(tilt) + bend * top * t * t
        half = 0.5 * width * (1 - 0.4 * t)  # tapers toward the top
        across = _soft(half - (xs - centre).abs())
        along = _soft(torch.minimum(up, top - up))
        return across * along

    if kind == "trunk":
        return pole(height, max(1.0, height * _u(0.03, 0.1, g)), _u(-0.08, 0.08, g))
    if kind == "stalk":
        return pole(height, _u(1.0, 2.5, g), _u(-0.5, 0.5, g), _u(-0.2, 0.2, g))
    if kind == "rock":
        rx, ry = height * _u(0.25, 0.6, g), height * _u(0.12, 0.3, g)
        r = (((xs - base_x) / rx) ** 2 + ((ys - (base_y - 0.6 * ry)) / ry) ** 2).sqrt()
        return _soft((1 - r) * min(rx, ry)) * (ys <= base_y + 0.5).float()
    if kind == "tree":
        trunk_h = height * _u(0.15, 0.45, g)
        cover = pole(trunk_h + 2, max(1.0, height * _u(0.03, 0.07, g)), _u(-0.05, 0.05, g))
        crown_h = height - trunk_h
        if float(torch.rand(1, generator=g)) < 0.5:  # pointed crown (conifer)
            half = crown_h * _u(0.2, 0.4, g)
            t = ((up - trunk_h) / crown_h).clamp(0, 1)  # 0 at the crown's foot, 1 at its tip
            inside = _soft(torch.minimum(half * (1 - t) - (xs - base_x).abs(), torch.minimum(up - trunk_h, height - up)))
        else:  # round crown with a wavy outline
            rx, ry = crown_h * _u(0.3, 0.6, g), crown_h / 2
            cy = base_y - trunk_h - ry
            angle = torch.atan2(ys - cy, xs - base_x)
            wave = 1 + 0.12 * torch.sin(angle * float(torch.randint(3, 8, (1,), generator=g)) + _u(0, 6.3, g))
            r = (((xs - base_x) / rx) ** 2 + ((ys - cy) / ry) ** 2).sqrt()
            inside = _soft((wave - r) * min(rx, ry))
        return torch.maximum(cover, inside)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def paste_standing(
    batch: dict[str, Tensor], prob: float, g: torch.Generator | None, *, max_objects: int = 5
) -> dict[str, Tensor]:
    """Stand up to ``max_objects`` objects on the ground of each sample with probability ``prob``.

    Args:
        batch: ``rgb (B, 3, H, W)`` in ``[0, 1]``, ``disparity (B, 1, H, W)`` normalized
            (larger = nearer, in ``[0, 1]``), ``sky (B, 1, H, W)`` in ``[0, 1]``.
        prob: probability per sample, in ``[0, 1]``.
        g: CPU generator.
        max_objects: objects per chosen sample are drawn from ``1..max_objects``.

    Returns:
        A new dict with the same keys (the same tensors when ``prob`` is 0): objects composited into ``rgb`` (soft edges), their
        base's disparity in ``disparity`` and 0 in ``sky`` where they cover at least half a pixel.
    """
    if not 0 <= prob <= 1:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    if prob == 0:
        return dict(batch)
    rgb, disp, sky = batch["rgb"].clone(), batch["disparity"].clone(), batch["sky"].clone()
    b, _, h, w = rgb.shape
    for i in range(b):
        if float(torch.rand(1, generator=g)) >= prob:
            continue
        ground = torch.nonzero((sky[i, 0] < 0.5) & (disp[i, 0] > 0.05))
        if len(ground) == 0:
            continue
        n = int(torch.randint(1, max_objects + 1, (1,), generator=g))
        picks = ground[torch.randint(0, len(ground), (n,), generator=g)]
        order = torch.argsort(disp[i, 0][picks[:, 0], picks[:, 1]])  # far to near
        for y, x in picks[order].tolist():
            d = float(disp[i, 0, y, x])
            kind = KINDS[int(torch.multinomial(torch.tensor(KIND_WEIGHTS), 1, generator=g))]
            height = min(1.5 * h, max(6.0, h * d * _u(0.3, 2.0, g)))
            cover = standing_object(kind, x + _u(-0.5, 0.5, g), y + 0.5, height, (h, w), g).to(rgb)
            cover = cover * (disp[i, 0] <= d + 1e-3).to(rgb)  # hidden behind anything nearer
            if float(cover.max()) <= 0:
                continue
            # the object's colours: another view's ground pixels, shifted, tinted and darkened or lightened
            j = int(torch.randint(0, b, (1,), generator=g))
            src_ground = (batch["sky"][j] < 0.5).to(rgb)
            mean = (batch["rgb"][j] * src_ground).sum((1, 2), keepdim=True) / src_ground.sum().clamp_min(1)
            src = batch["rgb"][j] * src_ground + mean * (1 - src_ground)
            src = torch.roll(src, (int(torch.randint(0, h, (1,), generator=g)), int(torch.randint(0, w, (1,), generator=g))), (1, 2))
            tint = torch.rand(3, 1, 1, generator=g).to(rgb) * 0.4 + 0.8
            colour = (src * tint * _u(0.35, 1.2, g)).clamp(0, 1)
            rgb[i] = rgb[i] + cover * (colour - rgb[i])
            solid = cover > 0.5
            disp[i, 0].masked_fill_(solid, d)
            sky[i, 0] = sky[i, 0] * (1 - cover)
    return {**batch, "rgb": rgb, "disparity": disp, "sky": sky}
