"""One step of the render-refine-repeat loop, shared by inference and training.

A step takes the loop's state (``LoopState``: an RGBD frame, its pose and named
per-pixel channels) to the next camera:

1. ``warp``: forward-splat the state into the next view (``render.render_step``);
   every named channel moves with its pixels. What nothing landed on is a hole.
2. ``paint``: the refiner paints the warped frame at its own resolution
   (``refine``; in overlapping squares, ``tiles.refine_tiled``, where that is not
   the refiner's square) and its output is composited with the warped frame
   (``composite``): everywhere as published, or only in the holes with
   ``keep_visible``.

Departures from the published loop plug in at fixed points through two small
interfaces:

- ``Departure``: hooks around a step (``start``, ``before_warp``, ``after_warp``,
  ``after_paint``, ``on_show``); each reads and writes its own named channels of
  the state. The photo anchor (``anchor.PhotoAnchorDeparture``) and surface
  detail (``detail.SurfaceDetail``) are departures.
- ``Layering``: how a linear resampling, the refiner's input and the composite
  treat sky and ground. ``OneLayer`` is the published behaviour;
  ``layers.SkyGroundLayers`` keeps the two apart.

``FlyThrough`` (``flight.py``) flies these steps frame after frame;
``train.cyclic.fly`` flies the same ``warp`` and ``paint`` along virtual
trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .render import render_step, soft_keep_mask
from .tiles import FEW_HOLES, refine_tiled

__all__ = [
    "LoopState",
    "Warped",
    "Departure",
    "Layering",
    "OneLayer",
    "RefinerInputs",
    "warp",
    "paint",
    "refine",
    "composite",
    "downsample",
    "upsample",
    "downsample_intrinsics",
]


@dataclass
class LoopState:
    """What the loop carries from one step to the next.

    Attributes:
        rgb: ``(B, 3, H, W)`` colours in [0, 1] at the state's resolution.
        disparity: ``(B, 1, H, W)`` normalized disparity in [0.01, 1].
        pose: ``(4, 4)`` world-to-camera pose of the frame (float64), or ``None`` in training.
        channels: named per-pixel channels ``(B, C, H, W)`` that move with the pixels
            (e.g. ``"haze"``, ``"texture"``); each departure owns its own names.
        anchor: the photo anchor's sample of this view (``anchor.AnchorSample``), where
            a departure set it (``anchor.PhotoAnchorDeparture.start``).
    """

    rgb: Tensor
    disparity: Tensor
    pose: Tensor | None = None
    channels: dict[str, Tensor] = field(default_factory=dict)
    anchor: object | None = None


@dataclass
class Warped:
    """The state warped to the next camera, as the step's later stages change it.

    Attributes:
        rgb, disparity: ``(B, 3, H, W)`` / ``(B, 1, H, W)`` warped frame (``render.RenderResult``).
        mask: ``(B, 1, H, W)`` float {0, 1}: 1 = a warped pixel, 0 = a hole.
        channels: the state's channels (and those added by ``Departure.before_warp``), warped.
        pose: ``(4, 4)`` pose of the new view (float64), or ``None`` in training.
        anchor: the photo anchor's sample for this view (``anchor.AnchorSample``), when on.
        anchor_weight: ``(B, 1, H, W)`` the share of each pixel taken from the anchor.
        filled: ``(B, 1, H, W)`` in [0, 1]: holes a departure filled before painting (their
            colour and disparity set; e.g. from the outpainted panorama), or ``None``. The
            refiner and the composite treat them as warped pixels (``valid``).
    """

    rgb: Tensor
    disparity: Tensor
    mask: Tensor
    channels: dict[str, Tensor] = field(default_factory=dict)
    pose: Tensor | None = None
    anchor: object | None = None
    anchor_weight: Tensor | None = None
    filled: Tensor | None = None

    @property
    def valid(self) -> Tensor:
        """``(B, 1, H, W)`` in [0, 1]: the pixels the refiner need not paint (warped or ``filled``)."""
        return self.mask if self.filled is None else torch.maximum(self.mask, self.filled)


class Departure:
    """A departure from the published loop: hooks the loop calls at fixed points.

    Every hook is optional (the defaults do nothing). A departure keeps its per-pixel
    data in named channels of the state, so the render moves them with the pixels.
    """

    def start(self, state: LoopState) -> None:
        """Frame 0: add the departure's channels to ``state``."""

    def before_warp(self, state: LoopState) -> dict[str, Tensor]:
        """Extra channels to move with this step's warp only (e.g. the current disparity)."""
        return {}

    def after_warp(self, warped: Warped) -> None:
        """Change the warped frame and channels before the refiner sees them."""

    def after_paint(self, warped: Warped, state: LoopState, keep: Tensor | None, painted: bool) -> None:
        """Update ``state.channels`` after the composite (``painted``: the refiner ran;
        ``keep``: the composite's weights of the warped pixels, ``None`` = the refiner's
        output everywhere)."""

    def on_show(self, rgb: Tensor, state: LoopState) -> Tensor:
        """The frame handed out (``(B, 3, H, W)`` in [0, 1]); the state is not changed."""
        return rgb


class Layering:
    """How resampling, the refiner's input and the composite treat the frame's layers."""

    #: Splat sky and ground as two layers at this disparity level (``render.render_step``); ``None`` = one.
    render_sky_level: float | None = None

    def resample(self, op: Callable[[Tensor], Tensor], rgb: Tensor, disparity: Tensor) -> tuple[Tensor, Tensor]:
        """A linear resampling ``op`` of colour and disparity."""
        return op(rgb), op(disparity)

    def refiner_input(self, rgb: Tensor, disparity: Tensor, mask: Tensor) -> Tensor:
        """The colours the refiner is shown (``mask``: its valid pixels)."""
        return rgb

    def settle(self, rgb: Tensor, disparity: Tensor, warped: Warped, border: int) -> tuple[Tensor, Tensor]:
        """The refiner's upsampled output put in the warped frame's layers."""
        return rgb, disparity

    def blend(self, keep: Tensor, a: Tensor, a_disp: Tensor, b: Tensor, b_disp: Tensor) -> tuple[Tensor, Tensor]:
        """``keep * a + (1 - keep) * b`` for colour and disparity."""
        return keep * a + (1 - keep) * b, keep * a_disp + (1 - keep) * b_disp

    def show(self, rgb: Tensor, disparity: Tensor) -> Tensor:
        """The frame handed out."""
        return rgb

    def carry(self, rgb: Tensor, disparity: Tensor) -> Tensor:
        """The first frame's colours as the loop carries them on (once, after frame 0 is
        handed out as the photo)."""
        return rgb


class OneLayer(Layering):
    """The published loop: the frame is one layer."""


@dataclass
class RefinerInputs:
    """What a step hands the refiner besides the frame (see ``CoModGenerator.refine``).

    Attributes:
        global_code: ``(B, G)`` the sequence's style code; ``z``: ``(B, Z)`` its latent.
        truncation, truncation_mean: truncation toward the mean mapped latent.
        noise: ``"random"`` or ``"zero"`` spatial noise; ``generator``: for the random noise.
    """

    global_code: Tensor
    z: Tensor
    truncation: float = 1.0
    truncation_mean: Tensor | None = None
    noise: str = "zero"
    generator: torch.Generator | None = None


def downsample(x: Tensor, factor: int) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H / factor, W / factor)`` by averaging ``factor x factor`` blocks."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def upsample(x: Tensor, factor: int) -> Tensor:
    """``(B, C, h, w)`` -> ``(B, C, h * factor, w * factor)``, bilinear on pixel centres (``downsample``'s grid)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def downsample_intrinsics(K: Tensor, factor: int) -> Tensor:
    """Intrinsics ``(3, 3)`` of a frame ``downsample``-d by ``factor`` (pixel centres stay pixel centres)."""
    if factor == 1:
        return K
    S = K.new_tensor([[1.0 / factor, 0.0, -(factor - 1) / (2.0 * factor)], [0.0, 1.0 / factor, -(factor - 1) / (2.0 * factor)], [0.0, 0.0, 1.0]])
    return S @ K


def warp(
    state: LoopState,
    rotation: Tensor,
    translation: Tensor,
    K: Tensor,
    *,
    beta: float,
    backend: str = "torch",
    layering: Layering = OneLayer(),
    extra: dict[str, Tensor] | None = None,
    pose: Tensor | None = None,
) -> Warped:
    """Step 1: the state forward-splatted to the next camera, its channels with it.

    Args:
        state: the current ``LoopState``.
        rotation, translation: ``(B, 3, 3)`` / ``(B, 3)`` relative pose, ``X_next = R X + t``.
        K: ``(3, 3)`` or ``(B, 3, 3)`` intrinsics of the state (both views).
        beta: edge-alpha sharpness in the state's pixels (``render.edge_alpha``).
        backend: ``"torch"`` or ``"pytorch3d"``.
        layering: ``Layering.render_sky_level`` decides one- or two-layer splatting.
        extra: channels moved with this warp only (``Departure.before_warp``).
        pose: the new view's pose, recorded on the result.

    Returns:
        ``Warped``; holes have ``mask`` 0.
    """
    channels = {**state.channels, **(extra or {})}
    names = list(channels)
    r = render_step(
        state.rgb, state.disparity, rotation, translation, K, beta=beta, backend=backend,
        features=torch.cat([channels[n] for n in names], dim=1) if names else None,
        sky_level=layering.render_sky_level,
    )
    moved, start = {}, 0
    for n in names:
        c = channels[n].shape[1]
        moved[n] = r.features[:, start : start + c]
        start += c
    return Warped(rgb=r.rgb, disparity=r.disparity, mask=r.mask, channels=moved, pose=pose)


def refine(
    refiner, warped: Warped, inputs: RefinerInputs, *, scale: int = 1, layering: Layering = OneLayer(), skip_hole_free: bool = False
) -> tuple[Tensor, Tensor]:
    """Step 2a: the refiner's painting of the warped frame, at the state's resolution.

    The refiner sees the frame area-downsampled by ``scale`` (per layer), with a pixel
    valid only where every state pixel under it is, and its output is upsampled back.
    The refiner paints ``R x R`` squares (``R = refiner.config.resolution``): a frame
    whose downsampled size is ``R x R`` is painted whole; any other size (e.g. a
    non-square flight) tile by tile, blended without seams (``tiles.refine_tiled``).

    Args:
        refiner: a generator with ``refine(rgb, disparity, mask, global_code, z, *, noise,
            generator)`` (and ``truncation``, ``truncation_mean`` where ``inputs`` truncates);
            tiled where it has a ``config.resolution`` (``refiner_resolution``) that the
            downsampled frame is not.
        warped: the warped frame at the state's resolution.
        inputs: codes, truncation and noise (``RefinerInputs``).
        scale: state pixels per refiner pixel (``FlyThroughConfig.supersample``).
        layering: ``OneLayer`` or ``layers.SkyGroundLayers``.
        skip_hole_free: when tiling, don't run the tiles without a hole nearby (their
            pixels keep the refiner's input) or with at most ``tiles.FEW_HOLES`` hole
            pixels (a push-pull fill); for ``keep_visible``, which uses the painting only
            in and around the holes.

    Returns:
        ``(rgb, disparity)``: ``(B, 3, H, W)`` in [0, 1] and ``(B, 1, H, W)`` in [0.01, 1].
    """
    H, W = warped.rgb.shape[-2:]
    if H % scale or W % scale:
        raise ValueError(f"the frame's size ({H} x {W}) must be a multiple of scale={scale}")
    in_mask = refiner_mask(warped.valid, scale)
    in_rgb, in_disp = (warped.rgb, warped.disparity) if scale == 1 else layering.resample(lambda x: downsample(x, scale), warped.rgb, warped.disparity)
    in_rgb = layering.refiner_input(in_rgb, in_disp, in_mask)
    truncate = {} if inputs.truncation_mean is None else {"truncation": inputs.truncation, "truncation_mean": inputs.truncation_mean}

    def refine_fn(rgb: Tensor, disp: Tensor, mask: Tensor) -> Tensor:
        return refiner.refine(rgb, disp, mask, inputs.global_code, inputs.z, noise=inputs.noise, generator=inputs.generator, **truncate)

    res = refiner_resolution(refiner)
    if res is None or in_rgb.shape[-2:] == (res, res):
        out = refine_fn(in_rgb, in_disp, in_mask)
    else:
        out = refine_tiled(refine_fn, in_rgb, in_disp, in_mask, res, skip_hole_free=skip_hole_free, few_holes=FEW_HOLES)
    rgb, disp = layering.resample(lambda x: upsample(x, scale), out[:, :3], out[:, 3:4])
    disp = disp.clamp(0.01, 1.0)
    return layering.settle(rgb, disp, warped, border=4 * scale)


def composite(
    warped: Warped, rgb: Tensor, disparity: Tensor, *, keep_visible: bool, scale: int = 1, layering: Layering = OneLayer()
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Step 2b: the new state from the warped frame and the refiner's painting.

    Returns:
        ``(rgb, disparity, keep)``: the painting everywhere (``keep`` is ``None``, as
        published), or with ``keep_visible`` the warped pixels kept with weights ``keep``
        (``render.soft_keep_mask``: the holes and a 2-3 px seam take the painting).
    """
    if not keep_visible:
        return rgb, disparity, None
    keep = soft_keep_mask(warped.valid, scale=scale)
    rgb, disparity = layering.blend(keep, warped.rgb, warped.disparity, rgb, disparity)
    return rgb, disparity, keep


def paint(
    refiner, warped: Warped, inputs: RefinerInputs, *, keep_visible: bool, scale: int = 1, layering: Layering = OneLayer()
) -> tuple[Tensor, Tensor, Tensor | None, bool]:
    """Step 2: refine and composite; with ``keep_visible`` a frame without holes skips the refiner.

    Returns:
        ``(rgb, disparity, keep, painted)``: the new state's colour and disparity, the
        composite's weights of the warped pixels (``None`` = the painting everywhere),
        and whether the refiner ran.
    """
    if keep_visible and bool(warped.valid.min() >= 1):  # every pixel kept: the painting would go unused
        return warped.rgb, warped.disparity, None, False
    rgb, disp = refine(refiner, warped, inputs, scale=scale, layering=layering, skip_hole_free=keep_visible)
    rgb, disp, keep = composite(warped, rgb, disp, keep_visible=keep_visible, scale=scale, layering=layering)
    return rgb, disp, keep, True


def refiner_resolution(refiner) -> int | None:
    """The side ``R`` of the squares a refiner paints: ``config.resolution`` of it or of the
    module it wraps (``train.trainer.Autocast``, DDP); ``None`` when it declares none."""
    for m in (refiner, getattr(refiner, "module", None)):
        res = getattr(getattr(m, "config", None), "resolution", None)
        if res is not None:
            return int(res)
    return None


def refiner_mask(mask: Tensor, scale: int) -> Tensor:
    """The refiner's valid mask: a refiner pixel is valid only where all ``scale x scale`` state pixels are."""
    return mask if scale == 1 else -F.max_pool2d(-mask, scale)
