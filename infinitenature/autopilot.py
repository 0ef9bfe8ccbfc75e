"""Camera paths: the "skyline balance" autopilot and user-defined trajectories.

A camera path is anything with ``reset(initial_pose)`` and
``next_pose(step, disparity, K)`` (the ``CameraPath`` protocol); the pipeline
calls ``reset`` once with the first camera's pose and then ``next_pose`` for
frames ``1, 2, ...``. Poses are ``(4, 4)`` world-to-camera matrices in the
conventions of docs/CONVENTIONS.md (OpenCV axes, y down). The paths return
poses in the dtype and on the device of the initial pose.

``make_camera_path`` turns a user's choice (a name, a path object, a callable or
an array of keyframes) into a path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch
from kornia.geometry.conversions import axis_angle_to_rotation_matrix
from torch import Tensor

from .geometry import camera_center, interpolate_poses, look_at, pose_from_rt

__all__ = [
    "skyline_balance",
    "CameraPath",
    "AutopilotConfig",
    "Autopilot",
    "wander_offset",
    "wander_phases",
    "StraightPath",
    "PanPath",
    "OrbitPath",
    "KeyframePath",
    "CallablePath",
    "make_camera_path",
    "CAMERA_PATH_NAMES",
]

#: Names accepted by ``make_camera_path``.
CAMERA_PATH_NAMES = ("autopilot", "straight", "pan", "orbit")
_EPS = 1e-8


def skyline_balance(
    disparity: Tensor, *, horizon: float = 0.3, sky_threshold: float = 0.1, near_fraction: float = 0.2
) -> tuple[Tensor, Tensor, Tensor]:
    """Where to look and where to move, from the current disparity (the published rule).

    With ``sky = clamp(20 (sky_threshold - D), 0, 1)`` and
    ``ground = clamp(10 (D - 0.4), 0, 1)``:

    * ``y = clamp(0.5 + mean(sky) - horizon, 0, 1)``: look up when there is
      little sky, down when there is a lot;
    * ``x = (sky_right + eps) / (sky_left + sky_right + 2 eps)`` with the mean
      sky of the left half (columns ``< W // 2``) and the right half: turn
      toward open sky, away from mountains;
    * ``h = horizon + near_fraction - mean(ground)``: move target row; move up
      when too much near ground fills the view.

    Targets are image coordinates in ``[0, 1]`` (0 = left / top edge, 1 = right
    / bottom edge); ``h`` is not clamped.

    Args:
        disparity: ``(H, W)`` or ``(B, 1, H, W)`` normalized disparity in ``(0, 1]``.

    Returns:
        ``(x, y, h)``: 0-dim tensors for an ``(H, W)`` input, ``(B,)`` tensors
        for a ``(B, 1, H, W)`` input.

    Example:
        >>> d = torch.full((4, 8), 0.5)
        >>> d[:, 4:] = 0.01  # sky on the right
        >>> x, y, h = skyline_balance(d)
        >>> float(x) > 0.99, round(float(y), 3)
        (True, 0.7)
    """
    if not isinstance(disparity, Tensor):
        raise TypeError(f"disparity must be a torch.Tensor, got {type(disparity).__name__}")
    if disparity.dim() == 2:
        d = disparity.unsqueeze(0)
    elif disparity.dim() == 4 and disparity.shape[1] == 1:
        d = disparity[:, 0]
    else:
        raise ValueError(f"disparity must be (H, W) or (B, 1, H, W), got {tuple(disparity.shape)}")
    if d.shape[-1] < 2:
        raise ValueError(f"disparity needs at least 2 columns, got {tuple(disparity.shape)}")
    W = d.shape[-1]
    sky = (20.0 * (sky_threshold - d)).clamp(0.0, 1.0)
    sky_fraction = sky.mean(dim=(-2, -1))
    y = (0.5 + sky_fraction - horizon).clamp(0.0, 1.0)
    sky_left = sky[..., : W // 2].mean(dim=(-2, -1))
    sky_right = sky[..., W // 2 :].mean(dim=(-2, -1))
    x = (sky_right + _EPS) / (sky_left + sky_right + 2 * _EPS)
    ground = (10.0 * (d - 0.4)).clamp(0.0, 1.0)
    h = horizon + (near_fraction - ground.mean(dim=(-2, -1)))
    if disparity.dim() == 2:
        return x[0], y[0], h[0]
    return x, y, h


@runtime_checkable
class CameraPath(Protocol):
    """What the pipeline needs from a camera path."""

    def reset(self, initial_pose: Tensor) -> None:
        """Start a new sequence at ``initial_pose`` (``(4, 4)`` world-to-camera)."""

    def next_pose(self, step: int, disparity: Tensor, K: Tensor) -> Tensor:
        """Pose ``(4, 4)`` (world-to-camera) of frame ``step`` (1 = the first new frame).

        ``disparity`` is the current frame's ``(1, 1, H, W)`` normalized
        disparity and ``K`` its ``(3, 3)`` intrinsics; paths that do not react to
        the scene ignore them.
        """


def _check_pose(pose: object, name: str = "initial_pose") -> Tensor:
    if not isinstance(pose, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(pose).__name__}")
    if pose.shape != (4, 4):
        raise ValueError(f"{name} must be a (4, 4) world-to-camera pose, got {tuple(pose.shape)}")
    if not pose.is_floating_point() or not bool(torch.isfinite(pose).all()):
        raise ValueError(f"{name} must be a finite floating-point pose")
    _check_rigid(pose[None], name)
    return pose


def _check_rigid(poses: Tensor, name: str, tol: float = 1e-3) -> None:
    """``(N, 4, 4)`` poses must be rigid: a rotation (orthonormal, determinant +1) and a
    translation over a last row of ``0 0 0 1``, each to within ``tol``."""
    p = poses.double()
    eye = torch.eye(3, dtype=p.dtype, device=p.device)
    R = p[:, :3, :3]
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=p.dtype, device=p.device)
    bad = ((p[:, 3] - bottom).abs().amax(dim=1) > tol) | ((R.transpose(1, 2) @ R - eye).abs().amax(dim=(1, 2)) > tol)
    bad |= torch.linalg.det(R) <= 0
    if bool(bad.any()):
        which = f" (pose {int(bad.nonzero()[0])})" if poses.shape[0] > 1 else ""
        raise ValueError(f"{name} must be a rigid world-to-camera transform: rotation, translation, last row 0 0 0 1{which}")


class _FromInitialPose:
    """Shared state of the paths that are a function of the initial pose and the step."""

    def reset(self, initial_pose: Tensor) -> None:
        pose = _check_pose(initial_pose)
        self._pose0 = pose.clone()
        self._R0 = pose[:3, :3]
        self._c0 = camera_center(pose)

    def _initial(self) -> Tensor:
        if not hasattr(self, "_pose0"):
            raise RuntimeError(f"{type(self).__name__}.reset(initial_pose) must be called before next_pose")
        return self._pose0

    def _yawed(self, angle_rad: float | Tensor) -> Tensor:
        """Camera-to-world rotation of the initial camera yawed by ``angle`` about its down axis."""
        pose0 = self._initial()
        axis = self._R0[1] * torch.as_tensor(angle_rad, dtype=pose0.dtype, device=pose0.device)
        return axis_angle_to_rotation_matrix(axis.reshape(1, 3))[0] @ self._R0.T


def _check_finite(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _check_speed(speed) -> float:
    """``speed`` as a float; ``ValueError`` unless it is a finite number >= 0 (NaN would reach the renderer)."""
    value = _check_finite(speed, "speed")
    if value < 0:
        raise ValueError(f"speed must be >= 0, got {value:g}")
    return value


def _check_step(step: int) -> int:
    if int(step) != step or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step}")
    return int(step)


@dataclass
class AutopilotConfig:
    """Options of the skyline-balance autopilot.

    The defaults fly level: the camera holds the sky share of the photo, never
    pitches more than ``max_pitch_deg`` from the first camera's horizontal
    plane, keeps no roll, and climbs, turns and slows away from near content
    ahead. ``AutopilotConfig.published()`` gives the released inference code's
    rule (fixed 40% sky, no pitch limit, no obstacle avoidance), pose for pose.

    Attributes:
        horizon: target share of sky in ``[0, 1]``; the look target row is
            ``0.5 + sky - horizon``. ``None``: hold the sky share of the first
            frame the autopilot reads, clamped to ``horizon_range``
            (published: 0.4).
        horizon_range: ``(low, high)`` clamp of the held sky share, ``0 <= low <= high <= 1``.
        sky_threshold: disparity below which content counts as sky (soft).
        near_fraction: target share of near ground (disparity > 0.4, soft) for
            the move target row ``row0 + near_fraction - ground``, where ``row0``
            is the image centre (0.5) when ``level`` and ``horizon`` otherwise
            (published: 0.3, i.e. climbing when near ground > 0.2 with ``horizon`` 0.4).
        look_lerp: how fast the look direction follows its target, in ``(0, 1]``.
        move_lerp: how fast the move direction follows its target, in ``(0, 1]``.
        speed: distance per step, in the normalized scene units where the
            nearest content sits at disparity ~0.8 (depth 1.25): the reference's
            ``0.025 * 7.5 = 0.1875``.
        level: keep the first camera's down vector (no roll) and centre the
            move target row on the image centre (published: ``False``: re-use
            the previous camera's down vector; a little roll can build up).
        max_pitch_deg: largest angle, in degrees, between the look direction and
            the first camera's horizontal plane, in ``(0, 90]``; 90 = no limit (published).
        max_climb_deg: the same for the move direction (how steeply it climbs or
            descends), in ``(0, 90]``; 90 = no limit (published).
        clearance: disparity above which content in the central half of the
            frame is an obstacle (soft, over 0.1); 0 = no obstacle avoidance (published).
        avoid: how hard an obstacle ahead steers: the move target row rises by
            ``avoid * ahead / 2`` and the look target column moves by
            ``avoid * (left - right) / 2`` away from the nearer side (``ahead``,
            ``left``, ``right``: obstacle shares of the window and its halves).
        slow: speed reduction with an obstacle ahead: ``speed * (1 - slow * ahead)``, in ``[0, 1]``.
        wander: how far the look target column drifts from the rule's, in image widths
            (``wander_offset``: two slow sinusoids whose phases the flight's seed draws),
            so flights with different seeds take different paths; 0 = none (published).
    """

    horizon: float | None = None
    horizon_range: tuple[float, float] = (0.3, 0.6)
    sky_threshold: float = 0.1
    near_fraction: float = 0.2
    look_lerp: float = 0.05
    move_lerp: float = 0.2
    speed: float = 0.1875
    level: bool = True
    max_pitch_deg: float = 10.0
    max_climb_deg: float = 20.0
    clearance: float = 0.5
    avoid: float = 1.0
    slow: float = 0.5
    wander: float = 0.2

    def __post_init__(self) -> None:
        for name in ("look_lerp", "move_lerp"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        _check_speed(self.speed)
        if self.horizon is not None and not 0.0 <= _check_finite(self.horizon, "horizon") <= 1.0:
            raise ValueError(f"horizon must be in [0, 1] or None, got {self.horizon}")
        low, high = (_check_finite(v, "horizon_range") for v in self.horizon_range)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"horizon_range must be (low, high) with 0 <= low <= high <= 1, got {self.horizon_range}")
        for name in ("max_pitch_deg", "max_climb_deg"):
            if not 0.0 < _check_finite(getattr(self, name), name) <= 90.0:
                raise ValueError(f"{name} must be in (0, 90], got {getattr(self, name)}")
        for name, top in (("clearance", 1.0), ("avoid", math.inf), ("slow", 1.0), ("wander", 0.5)):
            if not 0.0 <= _check_finite(getattr(self, name), name) <= top:
                raise ValueError(f"{name} must be in [0, {top:g}], got {getattr(self, name)}")

    @classmethod
    def published(cls, **overrides) -> "AutopilotConfig":
        """The released inference code's rule (any field can still be overridden)."""
        released = dict(horizon=0.4, near_fraction=0.3, level=False, max_pitch_deg=90.0, max_climb_deg=90.0, clearance=0.0, wander=0.0)
        return cls(**{**released, **overrides})


#: Periods in steps of the two sinusoids of ``wander_offset``, and their shares of its amplitude.
WANDER_PERIODS = ((97.0, 0.6), (41.0, 0.4))


def wander_phases(seed: int) -> tuple[float, ...]:
    """The phases (radians) of ``wander_offset``'s sinusoids for a flight's ``seed`` (``torch.Generator``)."""
    g = torch.Generator().manual_seed(int(seed))
    return tuple(float(x) for x in torch.rand(len(WANDER_PERIODS), generator=g, dtype=torch.float64) * 2 * math.pi)


def wander_offset(step: int, phases: tuple[float, ...], amplitude: float) -> float:
    """How far the autopilot's look target column is moved at ``step``, in image widths.

    ``amplitude * sum_i share_i * sin(2 pi step / period_i + phase_i)`` over ``WANDER_PERIODS``:
    within ``[-amplitude, amplitude]``, smooth, and (the look direction following its target
    by ``look_lerp``) a heading that swings left and right by a few degrees over tens of steps.
    """
    return float(amplitude) * sum(share * math.sin(2 * math.pi * step / period + phase) for (period, share), phase in zip(WANDER_PERIODS, phases))


def _limit_elevation(v: Tensor, up: Tensor, max_deg: float) -> Tensor:
    """Unit ``(3,)`` direction ``v`` tilted back to at most ``max_deg`` from the plane normal to ``up``."""
    if max_deg >= 90.0:
        return v
    s, limit = float(v @ up), math.sin(math.radians(max_deg))
    if abs(s) <= limit:
        return v
    horizontal = torch.nn.functional.normalize(v - s * up, dim=0)
    return math.cos(math.radians(max_deg)) * horizontal + math.copysign(limit, s) * up


class Autopilot:
    """The skyline-balance autopilot: steer toward open sky, keep the horizon, fly forward.

    Each ``next_pose`` reads the current disparity with ``skyline_balance``,
    turns the look target ``(x, y)`` and the move target ``(0.5, h)`` into
    world-space rays through ``K^-1`` and the current camera, moves the look
    and move directions toward them by ``look_lerp`` / ``move_lerp``, advances
    the position by ``speed`` along the move direction and looks along the
    look direction (``geometry.look_at``). With the default config the sky
    share to hold is the first frame's, the look and move directions stay
    within ``max_pitch_deg`` / ``max_climb_deg`` of the first camera's
    horizontal plane, the camera keeps the first camera's down vector, and near
    content in the central window (disparity above ``clearance``) raises the
    move target, turns the look target away and slows the camera; see
    ``AutopilotConfig`` (``AutopilotConfig.published()``: the released rule,
    with the previous camera's down vector). ``seed`` draws the phases of the look
    target's ``wander``, so two seeds fly two paths.
    Image coordinate ``x`` in ``[0, 1]`` is pixel ``u = x W - 0.5`` (so 0.5 is the
    image centre for a centred principal point).

    The autopilot is stateful: every call advances one step (``step`` is only
    checked). ``reset`` starts over.

    Example:
        >>> path = Autopilot()
        >>> path.reset(torch.eye(4, dtype=torch.float64))
        >>> K = torch.tensor([[122.9, 0, 63.5], [0, 122.9, 63.5], [0, 0, 1]])
        >>> pose = path.next_pose(1, torch.full((1, 1, 128, 128), 0.3), K)
        >>> pose.shape, pose.dtype
        (torch.Size([4, 4]), torch.float64)
    """

    def __init__(self, config: AutopilotConfig | None = None, *, seed: int = 0) -> None:
        if config is not None and not isinstance(config, AutopilotConfig):
            raise TypeError(f"config must be an AutopilotConfig, got {type(config).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.config = config or AutopilotConfig()
        self.seed = seed
        self._phases = wander_phases(seed)
        self._pose: Tensor | None = None

    def __repr__(self) -> str:
        return f"Autopilot({self.config}, seed={self.seed})"

    def reset(self, initial_pose: Tensor) -> None:
        pose = _check_pose(initial_pose).clone()
        self._pose = pose
        self.position = camera_center(pose)
        self.look_dir = pose[2, :3].clone()
        self.move_dir = pose[2, :3].clone()
        self.down = pose[1, :3].clone()
        self.up = -pose[1, :3].clone()  # the first camera's up: defines level
        self._horizon: float | None = None

    def _world_ray(self, x: Tensor, y: Tensor, K: Tensor, H: int, W: int) -> Tensor:
        pix = torch.stack([x * W - 0.5, y * H - 0.5, torch.ones_like(x)])
        ray = torch.linalg.solve(K, pix)
        ray = torch.nn.functional.normalize(ray, dim=0)
        return self._pose[:3, :3].T @ ray

    def next_pose(self, step: int, disparity: Tensor, K: Tensor) -> Tensor:
        _check_step(step)
        if self._pose is None:
            raise RuntimeError("Autopilot.reset(initial_pose) must be called before next_pose")
        if not isinstance(disparity, Tensor) or disparity.dim() != 4 or disparity.shape[:2] != (1, 1):
            raise ValueError(f"disparity must be (1, 1, H, W), got {getattr(disparity, 'shape', type(disparity).__name__)}")
        if not isinstance(K, Tensor) or K.shape != (3, 3):
            raise ValueError(f"K must be (3, 3), got {getattr(K, 'shape', type(K).__name__)}")
        cfg = self.config
        like = dict(dtype=self._pose.dtype, device=self._pose.device)
        H, W = disparity.shape[-2:]
        d = disparity[0, 0].detach()
        if self._horizon is None:  # the first frame read sets the held sky share
            sky0 = float((20.0 * (cfg.sky_threshold - d)).clamp(0.0, 1.0).mean())
            self._horizon = cfg.horizon if cfg.horizon is not None else min(max(sky0, cfg.horizon_range[0]), cfg.horizon_range[1])
        x, y, h = skyline_balance(d, horizon=self._horizon, sky_threshold=cfg.sky_threshold, near_fraction=cfg.near_fraction)
        if cfg.wander > 0:
            x = x + wander_offset(step, self._phases, cfg.wander)
        if cfg.level:
            h = h + (0.5 - self._horizon)
        speed = cfg.speed
        if cfg.clearance > 0:
            x, h, ahead = _avoid(d, x, h, cfg.clearance, cfg.avoid)
            speed = speed * (1.0 - cfg.slow * ahead)
        x, y, h = (v.to(**like) for v in (x, y, h))
        K = K.detach().to(**like)
        look_target = self._world_ray(x, y, K, H, W)
        move_target = self._world_ray(torch.full_like(h, 0.5), h, K, H, W)
        normalize = torch.nn.functional.normalize
        look = normalize(self.look_dir + cfg.look_lerp * (look_target - self.look_dir), dim=0)
        move = normalize(self.move_dir + cfg.move_lerp * (move_target - self.move_dir), dim=0)
        self.look_dir = _limit_elevation(look, self.up, cfg.max_pitch_deg)
        self.move_dir = _limit_elevation(move, self.up, cfg.max_climb_deg)
        self.position = self.position + speed * self.move_dir
        self._pose = look_at(self.position, self.look_dir, -self.up if cfg.level else self.down)
        self.down = self._pose[1, :3].clone()
        return self._pose.clone()


def _obstacles(d: Tensor, clearance: float) -> Tensor:
    """``clamp(10 (d - clearance), 0, 1)`` in the central window of the ``(H, W)`` disparity ``d``
    (the middle half of the rows and of the columns): near content ahead, in [0, 1]."""
    H, W = d.shape
    return (10.0 * (d[H // 4 : H - H // 4, W // 4 : W - W // 4] - clearance)).clamp(0.0, 1.0)


def _avoid(d: Tensor, x: Tensor, h: Tensor, clearance: float, gain: float) -> tuple[Tensor, Tensor, float]:
    """Steer the look column ``x`` and the move row ``h`` away from near content ahead.

    ``d`` is the ``(H, W)`` disparity; obstacles are ``clamp(10 (d - clearance), 0, 1)``
    in the central window (the middle half of the rows and of the columns).
    Returns ``x + gain (left - right) / 2``, ``h - gain ahead / 2`` and ``ahead``
    (the window's obstacle share in ``[0, 1]``, a float).
    """
    window = _obstacles(d, clearance)
    half = window.shape[1] // 2
    ahead = window.mean()
    x = x + 0.5 * gain * (window[:, :half].mean() - window[:, half:].mean())
    return x, h - 0.5 * gain * ahead, float(ahead)


class StraightPath(_FromInitialPose):
    """Fly straight ahead along the initial viewing direction, ``speed`` per step.

    Example:
        >>> path = StraightPath(0.5)
        >>> path.reset(torch.eye(4))
        >>> path.next_pose(2, None, None)[:3, 3].tolist()  # camera at z = 1 -> t = -1
        [0.0, 0.0, -1.0]
    """

    def __init__(self, speed: float = 0.1875) -> None:
        self.speed = _check_speed(speed)

    def __repr__(self) -> str:
        return f"StraightPath(speed={self.speed})"

    def next_pose(self, step: int, disparity: Tensor | None = None, K: Tensor | None = None) -> Tensor:
        self._initial()
        centre = self._c0 + _check_step(step) * self.speed * self._R0[2]
        return pose_from_rt(self._R0, -(self._R0 @ centre) + 0.0)  # + 0.0: no negative zeros


class PanPath(_FromInitialPose):
    """Pan: yaw by ``degrees_per_step`` about the initial down axis while creeping forward.

    Positive degrees turn right. Each step moves ``speed`` along the current
    viewing direction, so the camera drifts along an arc. Given the disparity of the
    current view, a step creeps ``speed * (1 - ahead)`` instead, where ``ahead`` is
    the share of near content (disparity above ``clearance``, soft) in the middle half
    of the view, as the autopilot measures it: a pan in a forest turns in place rather
    than creeping into a trunk. ``clearance=0`` creeps always (the path is then a
    function of the step alone).
    """

    def __init__(self, degrees_per_step: float = 0.5, speed: float = 0.05, clearance: float = 0.5) -> None:
        self.degrees_per_step = _check_finite(degrees_per_step, "degrees_per_step")
        self.speed = _check_speed(speed)
        self.clearance = _check_finite(clearance, "clearance")
        if not 0.0 <= self.clearance <= 1.0:
            raise ValueError(f"clearance must be in [0, 1], got {clearance}")

    def __repr__(self) -> str:
        return f"PanPath(degrees_per_step={self.degrees_per_step}, speed={self.speed}, clearance={self.clearance})"

    def reset(self, initial_pose: Tensor) -> None:
        super().reset(initial_pose)
        self._creep: list[float] = []  # share of ``speed`` moved at steps 1, 2, ...

    def next_pose(self, step: int, disparity: Tensor | None = None, K: Tensor | None = None) -> Tensor:
        pose0 = self._initial()
        step = _check_step(step)
        creep = 1.0
        if self.clearance > 0 and isinstance(disparity, Tensor) and disparity.dim() == 4 and step > 0:
            creep = 1.0 - float(_obstacles(disparity[0, 0].detach(), self.clearance).mean())
        # Steps 1 .. step - 1 keep their creep (1.0 for any not flown), step gets this one.
        self._creep = (self._creep + [1.0] * step)[: step - 1] + [creep] if step > 0 else []
        angles = torch.arange(1, step + 1, dtype=pose0.dtype, device=pose0.device) * math.radians(self.degrees_per_step)
        # Forward direction of the yawed cameras: cos(a) f0 + sin(a) (down0 x f0) = cos(a) f0 + sin(a) right0.
        forwards = torch.cos(angles)[:, None] * self._R0[2] + torch.sin(angles)[:, None] * self._R0[0]
        shares = torch.tensor(self._creep, dtype=pose0.dtype, device=pose0.device).reshape(-1, 1)
        centre = self._c0 + self.speed * (shares * forwards).sum(0)
        R = self._yawed(math.radians(self.degrees_per_step) * step).T
        return pose_from_rt(R, -(R @ centre))


class OrbitPath(_FromInitialPose):
    """Circle around the point ``depth`` ahead of the initial camera, keeping it centred.

    The camera rotates about the initial down axis through that point by
    ``degrees_per_step``; positive degrees make the camera swing to its left
    while turning right (the point stays at the image centre).
    """

    def __init__(self, depth: float = 2.0, degrees_per_step: float = 0.5) -> None:
        if not _check_finite(depth, "depth") > 0:
            raise ValueError(f"depth must be > 0, got {depth}")
        self.depth = float(depth)
        self.degrees_per_step = _check_finite(degrees_per_step, "degrees_per_step")

    def __repr__(self) -> str:
        return f"OrbitPath(depth={self.depth}, degrees_per_step={self.degrees_per_step})"

    def next_pose(self, step: int, disparity: Tensor | None = None, K: Tensor | None = None) -> Tensor:
        self._initial()
        C = self._yawed(math.radians(self.degrees_per_step) * _check_step(step))  # camera-to-world
        target = self._c0 + self.depth * self._R0[2]
        centre = target - self.depth * C[:, 2]
        R = C.T
        return pose_from_rt(R, -(R @ centre))


class KeyframePath(_FromInitialPose):
    """Smoothly interpolated keyframes (squad rotations, Catmull-Rom positions).

    Keyframe poses are world-to-camera poses *relative to the initial camera*:
    the pose of frame ``s`` is ``interpolate(s) @ initial_pose``, so with the
    pipeline's identity initial pose they are absolute, and the identity
    keyframe is the photo's camera. Frame ``s`` sits at time ``s``; keyframe
    ``i`` at ``times[i]`` or ``i * steps_per_segment``. Before the first and
    after the last keyframe the path holds still.

    Args:
        poses: ``(N, 4, 4)`` keyframes (tensor or array).
        steps_per_segment: frames between consecutive keyframes (default 30
            when ``times`` is not given).
        times: ``(N,)`` strictly increasing frame indices (floats allowed) of the keyframes.
    """

    def __init__(self, poses: Tensor | np.ndarray, *, steps_per_segment: int | None = None, times=None) -> None:
        poses = torch.as_tensor(np.asarray(poses) if not isinstance(poses, Tensor) else poses)
        if poses.dim() != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 1:
            raise ValueError(f"keyframe poses must be (N, 4, 4), got {tuple(poses.shape)}")
        if not bool(torch.isfinite(poses).all()):
            raise ValueError("keyframe poses must be finite")
        _check_rigid(poses, "keyframe poses")
        if steps_per_segment is not None and times is not None:
            raise ValueError("give steps_per_segment or times, not both")
        poses = poses.double()
        if times is None:
            steps_per_segment = 30 if steps_per_segment is None else steps_per_segment
            if int(steps_per_segment) != steps_per_segment or steps_per_segment < 1:
                raise ValueError(f"steps_per_segment must be a positive integer, got {steps_per_segment}")
            times = torch.arange(poses.shape[0], dtype=torch.float64) * steps_per_segment
        times = torch.as_tensor(np.asarray(times, dtype=np.float64) if not isinstance(times, Tensor) else times).double()
        if times.shape != (poses.shape[0],):
            raise ValueError(f"times must have one entry per keyframe ({poses.shape[0]}), got shape {tuple(times.shape)}")
        if poses.shape[0] > 1 and not bool((times[1:] > times[:-1]).all()):
            raise ValueError("times must be strictly increasing")
        self.poses, self.times = poses, times

    def __repr__(self) -> str:
        return f"KeyframePath({self.poses.shape[0]} keyframes, times {self.times[0]:.1f}..{self.times[-1]:.1f})"

    @property
    def num_steps(self) -> int:
        """Index of the last keyframe's frame (rounded up)."""
        return int(math.ceil(float(self.times[-1])))

    def next_pose(self, step: int, disparity: Tensor | None = None, K: Tensor | None = None) -> Tensor:
        pose0 = self._initial()
        query = torch.tensor([float(_check_step(step))], dtype=torch.float64)
        rel = interpolate_poses(self.poses, self.times, query)[0]
        return rel.to(device=pose0.device, dtype=pose0.dtype) @ pose0


class CallablePath:
    """A path given by a function ``fn(step) -> (4, 4)`` world-to-camera pose.

    ``fn`` may return a tensor, an array or nested lists; the result is
    converted to the initial pose's dtype and device. ``fn(0)`` is not called:
    frame 0 is the initial pose.
    """

    def __init__(self, fn: Callable[[int], object]) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self._pose0: Tensor | None = None

    def __repr__(self) -> str:
        return f"CallablePath({getattr(self.fn, '__name__', repr(self.fn))})"

    def reset(self, initial_pose: Tensor) -> None:
        self._pose0 = _check_pose(initial_pose)

    def next_pose(self, step: int, disparity: Tensor | None = None, K: Tensor | None = None) -> Tensor:
        if self._pose0 is None:
            raise RuntimeError("CallablePath.reset(initial_pose) must be called before next_pose")
        out = self.fn(_check_step(step))
        try:
            pose = torch.as_tensor(np.asarray(out, dtype=np.float64) if not isinstance(out, Tensor) else out)
        except (TypeError, ValueError):
            raise ValueError(f"fn({step}) must return a (4, 4) world-to-camera pose, got {type(out).__name__}") from None
        pose = pose.to(device=self._pose0.device, dtype=self._pose0.dtype)
        return _check_pose(pose, f"fn({step})").clone()


def make_camera_path(spec: object = "autopilot", *, seed: int = 0, **kwargs) -> CameraPath:
    """Build a camera path from a name, a path, a callable or keyframes.

    Args:
        spec: one of
            * ``"autopilot"``: ``Autopilot(AutopilotConfig(**kwargs), seed=seed)``;
            * ``"straight"`` / ``"pan"`` / ``"orbit"``: ``StraightPath(**kwargs)``,
              ``PanPath(**kwargs)``, ``OrbitPath(**kwargs)``;
            * an object with ``reset`` and ``next_pose`` (returned as is; no kwargs);
            * a callable ``fn(step) -> (4, 4)`` pose: ``CallablePath(fn)``;
            * an ``(N, 4, 4)`` tensor or array of keyframes: ``KeyframePath(spec, **kwargs)``.
        **kwargs: options of the chosen path.
        seed: the flight's seed; the autopilot's ``wander`` follows it, the other paths ignore it.

    Returns:
        A ``CameraPath``.

    Example:
        >>> make_camera_path("straight", speed=0.1)
        StraightPath(speed=0.1)
    """
    if isinstance(spec, str):
        name = spec.lower()
        if name == "autopilot":
            return Autopilot(AutopilotConfig(**kwargs), seed=seed)
        builders = {"straight": StraightPath, "pan": PanPath, "orbit": OrbitPath}
        if name in builders:
            return builders[name](**kwargs)
        raise ValueError(f"unknown camera path {spec!r}; valid names are {', '.join(CAMERA_PATH_NAMES)}")
    if isinstance(spec, CameraPath):
        if kwargs:
            raise ValueError(f"options {sorted(kwargs)} cannot be applied to an existing camera path object")
        return spec
    if isinstance(spec, (Tensor, np.ndarray)):
        return KeyframePath(spec, **kwargs)
    if callable(spec):
        if kwargs:
            raise ValueError(f"options {sorted(kwargs)} cannot be applied to a callable camera path")
        return CallablePath(spec)
    raise ValueError(
        f"camera path must be one of {', '.join(CAMERA_PATH_NAMES)}, a CameraPath, a callable step -> (4, 4) pose, "
        f"or an (N, 4, 4) array of keyframes; got {type(spec).__name__}"
    )
