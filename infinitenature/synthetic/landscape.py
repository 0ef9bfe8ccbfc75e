"""Procedural landscapes with exact depth, sky masks and camera paths.

A :class:`Landscape` is a height-field world built from a seed: fractal
terrain baked once into a periodic texture (so an endless plane), an optional
water plane with reflections, grass/rock/sand/snow/forest materials picked by
height and slope, a sky with sun and clouds, and aerial perspective (haze that
tints far terrain toward the sky colour).

Scale (scene units):
    The camera flies about 1 unit above a valley floor with a 55 degree field
    of view and looks a few degrees down, so the nearest ground in view is at
    z-depth ~1.5, the valley recedes to the horizon and mountains 10-70 units
    high stand 30-300 units away. A flight moves 0.1-0.2 units per frame (the
    autopilot's 0.1875 with the nearest content at depth ~1.25). The terrain
    tile repeats every 512 units; rays are marched to 900 units, where the haze
    has made terrain and sky the same colour.

Axes follow docs/CONVENTIONS.md: world y points down, a terrain height ``h`` is
the world point ``y = -h``, and the identity pose is a level camera at the
origin looking along +z. Every random choice is drawn from a local
``torch.Generator``/``numpy.random.Generator`` seeded with the scene's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import geometry
from .styles import LandscapeStyle, STYLE_PRESETS, style_for_seed
from .terrain import PeriodicTexture, fbm, grid_coords, periodic_blur, ridged

__all__ = ["Landscape", "RenderSettings", "PERIOD", "FAR"]

#: Tile size of the terrain in scene units.
PERIOD = 512.0
#: Rays that hit nothing before this z-depth are sky.
FAR = 900.0
#: Height of the cloud layer above the valley floor.
CLOUD_HEIGHT = 150.0

# Channels of the baked terrain texture.
_H, _HX, _HZ, _SHADOW, _AO, _FOREST, _VARY, _MAT = range(8)
# Channels of the baked detail tile.
_D_GRASS, _D_BX, _D_BZ, _D_BLOB = range(4)
_DETAIL_PERIOD = 8.0


@dataclass(frozen=True)
class RenderSettings:
    """Ray-marching budget.

    Attributes:
        steps: maximum march steps per ray (the loop stops early once every ray
            has hit or left the scene).
        relative_step: smallest step as a fraction of the distance travelled.
        slope: assumed steepest terrain slope; steps never exceed
            ``gap / (slope * horizontal + descent)`` beyond the relative step.
        refine: bisection steps after the hit, then one secant step.
        reflection_steps: march budget of the water reflections.
    """

    steps: int = 160
    relative_step: float = 0.03
    slope: float = 1.3
    refine: int = 10
    reflection_steps: int = 60


def _srgb_to_linear(c) -> Tensor:
    return torch.as_tensor(c, dtype=torch.float32).clamp(0, 1) ** 2.2


def _smoothstep(e0: float, e1: float, x: Tensor) -> Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gradient(h: Tensor, texel: float) -> tuple[Tensor, Tensor]:
    """Central differences of a periodic ``(N, N)`` field: ``(dh/dx, dh/dz)``."""
    hx = (torch.roll(h, -1, dims=1) - torch.roll(h, 1, dims=1)) / (2.0 * texel)
    hz = (torch.roll(h, -1, dims=0) - torch.roll(h, 1, dims=0)) / (2.0 * texel)
    return hx, hz


def _unit(v: Tensor) -> Tensor:
    return F.normalize(v, dim=-1)


class Landscape:
    """A deterministic procedural landscape.

    Args:
        seed: the scene; the same seed always gives the same scene.
        style: a preset name (``"alpine"``, ``"hills"``, ``"coast"``,
            ``"desert"``, ``"dusk"``, ``"flat"``), a :class:`LandscapeStyle`, or
            ``None`` to pick the preset from the seed (``seed % 5``).
        resolution: texels per side of the baked height field (the tile is
            ``PERIOD`` units wide, so 1024 gives 0.5-unit texels).
        settings: ray-marching budget.

    Example:
        >>> scene = Landscape(3)
        >>> K = geometry.intrinsics_from_fov(64, 64)
        >>> out = scene.render(scene.start_pose(), K, 64, 64)
        >>> out["rgb"].shape, out["depth"].shape, out["sky"].dtype
        (torch.Size([3, 64, 64]), torch.Size([1, 64, 64]), torch.bool)
    """

    def __init__(
        self,
        seed: int,
        *,
        style: str | LandscapeStyle | None = None,
        resolution: int = 1024,
        settings: RenderSettings | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if not isinstance(resolution, int) or resolution < 16:
            raise ValueError(f"resolution must be an int >= 16, got {resolution!r}")
        if style is None or isinstance(style, str):
            style = style_for_seed(seed, style)
        elif not isinstance(style, LandscapeStyle):
            raise TypeError(f"style must be a str, LandscapeStyle or None, got {type(style).__name__}")
        self.seed = seed
        self.style = style
        self.settings = settings or RenderSettings()
        gen = torch.Generator().manual_seed(seed)
        self._phase = float(torch.rand((), generator=gen)) * 2.0 * math.pi
        self.terrain = self._bake_terrain(resolution, gen)
        self.detail = self._bake_detail(gen)
        self.clouds = self._bake_clouds(gen)
        h = self.terrain.data[_H]
        self.min_height = float(h.min())
        self.max_height = float(h.max())
        if style.water_level is not None:
            self.max_height = max(self.max_height, style.water_level)
        self._device_cache: dict[torch.device, tuple[PeriodicTexture, PeriodicTexture, PeriodicTexture]] = {}

    @classmethod
    def flat(cls, height: float = 0.0, *, seed: int = 0, resolution: int = 64) -> "Landscape":
        """A flat textured ground at ``height`` under the sky (for analytic tests)."""
        return cls(seed, style=replace(STYLE_PRESETS["flat"], base_height=float(height)), resolution=resolution)

    def __repr__(self) -> str:
        return f"Landscape(seed={self.seed}, style={self.style.name!r}, terrain={self.style.terrain!r})"

    # ------------------------------------------------------------------ baking
    def valley_x(self, z: Tensor) -> Tensor:
        """x of the valley centre line at ``z`` (the corridor the paths follow)."""
        return self.style.meander * torch.sin(z * (2.0 * math.pi / PERIOD) + self._phase)

    def _relief(self, x: Tensor, z: Tensor, gen: torch.Generator) -> Tensor:
        """Relief in ``[0, 1]`` of the terrain kind at the ``(N, N)`` world ``(x, z)``."""
        s = self.style
        cells = max(1, round(PERIOD / s.feature_size))
        # Octaves up to the bake's Nyquist limit (lattice cells <= N / 2).
        octaves = max(1, min(9, int(math.log2(x.shape[-1] / 2 / cells)) + 1))
        if s.terrain == "ridged":
            r = ridged(x, z, period=PERIOD, base_cells=cells, octaves=octaves, generator=gen)
        elif s.terrain == "rolling":
            r = fbm(x, z, period=PERIOD, base_cells=cells, octaves=min(octaves, 7), generator=gen, gain=0.45)
        elif s.terrain == "dunes":  # stretched crests across the flight direction
            r = ridged(x, 3.0 * z, period=PERIOD, base_cells=cells, octaves=4, generator=gen, roughness=1.3)
            r = r + 0.5 * fbm(x, z, period=PERIOD, base_cells=cells, octaves=3, generator=gen)
        else:  # mesa: terraced fBm (flat tops, steep sides)
            v = fbm(x, z, period=PERIOD, base_cells=cells, octaves=6, generator=gen, gain=0.45)
            v = (v - v.min()) / (v.max() - v.min()) * 3.0
            r = torch.floor(v) + _smoothstep(0.35, 0.55, v - torch.floor(v))
        r = (r - r.min()) / (r.max() - r.min() + 1e-6)
        return r**1.4 if s.terrain == "ridged" else r

    def _bake_terrain(self, n: int, gen: torch.Generator) -> PeriodicTexture:
        s = self.style
        x, z = grid_coords(n, PERIOD)
        texel = PERIOD / n
        if s.terrain == "flat":
            h = torch.full_like(x, s.base_height)
        else:
            warp = s.feature_size * 0.2
            cells = max(1, round(PERIOD / s.feature_size))
            xw = x + warp * fbm(x, z, period=PERIOD, base_cells=cells, octaves=3, generator=gen)
            zw = z + warp * fbm(x, z, period=PERIOD, base_cells=cells, octaves=3, generator=gen)
            floor = s.floor_amplitude * fbm(xw, zw, period=PERIOD, base_cells=round(PERIOD / 48), octaves=6, generator=gen)
            relief = self._relief(xw, zw, gen)
            dx = torch.remainder(x - self.valley_x(z) + PERIOD / 2, PERIOD) - PERIOD / 2
            w = s.valley_width
            side = torch.where(dx < 0, s.valley_sides[0], s.valley_sides[1])
            mask = _smoothstep(0.3 * w, 2.2 * w, dx.abs()) ** 1.5 * side
            h = s.base_height + floor + s.amplitude * relief * mask
            if s.sea_side != 0:
                h = h - s.sea_depth * _smoothstep(0.2 * w, 0.8 * w, dx * s.sea_side)
        hx, hz = _gradient(h, texel)
        slope = 1.0 - torch.rsqrt(1.0 + hx * hx + hz * hz)
        # Forest: a patchy cover on gentle slopes between the shore and the tree line.
        cover = fbm(x, z, period=PERIOD, base_cells=32, octaves=4, generator=gen)
        if s.forest > 0.0:
            sub = cover.flatten()[:: max(1, cover.numel() // 65536)]
            thr = torch.quantile(sub, 1.0 - s.forest)
            forest = _smoothstep(float(thr), float(thr) + 0.15, cover)
        else:
            forest = torch.zeros_like(h)
        forest = forest * (1.0 - _smoothstep(0.15, 0.35, slope))
        forest = forest * (1.0 - _smoothstep(s.tree_line - 3.0, s.tree_line + 3.0, h))
        low = s.water_level if s.water_level is not None else -1e9
        forest = forest * _smoothstep(low + 0.3, low + 0.8, h)
        canopy = fbm(x, z, period=PERIOD, base_cells=round(PERIOD / 1.8), octaves=2, generator=gen)
        h = h + forest * s.tree_height * (0.6 + 0.5 * canopy)
        hx, hz = _gradient(h, texel)
        shadow = self._bake_shadow(h)
        ao = 1.0 + 0.15 * (h - periodic_blur(h[None], 3)[0]) + 0.03 * (h - periodic_blur(h[None], 12)[0])
        ao = ao.clamp(0.35, 1.0)
        vary = fbm(x, z, period=PERIOD, base_cells=64, octaves=4, generator=gen)
        mat = fbm(x, z, period=PERIOD, base_cells=128, octaves=3, generator=gen)
        data = torch.stack([h, hx, hz, shadow, ao, forest, vary, mat])
        return PeriodicTexture(data.contiguous(), PERIOD)

    def _bake_shadow(self, h: Tensor, steps: int = 26) -> Tensor:
        """Soft sun visibility in ``[0, 1]`` per texel (marched at half resolution)."""
        s = self.style
        if s.terrain == "flat":
            return torch.ones_like(h)
        half = F.avg_pool2d(h[None, None], 2)[0, 0] if h.shape[0] >= 64 else h
        tex = PeriodicTexture(half[None], PERIOD)
        x, z = grid_coords(half.shape[0], PERIOD)
        az, el = math.radians(s.sun_azimuth), math.radians(max(s.sun_elevation, 0.5))
        sx, sz, rise = math.sin(az), math.cos(az), math.tan(el)
        vis = torch.ones_like(half)
        dist = 0.4
        for _ in range(steps):
            ray = half + 0.1 + dist * rise
            ground = tex.sample(x + dist * sx, z + dist * sz)[0]
            vis = torch.minimum(vis, (6.0 * (ray - ground) / dist).clamp(0.0, 1.0))
            dist *= 1.25
        vis = vis * vis * (3.0 - 2.0 * vis)
        if half.shape != h.shape:
            vis = F.interpolate(F.pad(vis[None, None], (1, 1, 1, 1), mode="circular"), scale_factor=2, mode="bilinear", align_corners=False)[0, 0, 2:-2, 2:-2]
        return vis

    @staticmethod
    def _bake_detail(gen: torch.Generator, n: int = 512) -> PeriodicTexture:
        x, z = grid_coords(n, _DETAIL_PERIOD)
        grass = fbm(x, z, period=_DETAIL_PERIOD, base_cells=48, octaves=3, generator=gen, gain=0.8)
        bump = 0.12 * fbm(x, z, period=_DETAIL_PERIOD, base_cells=16, octaves=4, generator=gen)
        bx, bz = _gradient(bump, _DETAIL_PERIOD / n)
        blob = fbm(x, z, period=_DETAIL_PERIOD, base_cells=24, octaves=2, generator=gen)
        return PeriodicTexture(torch.stack([grass, bx, bz, blob]).contiguous(), _DETAIL_PERIOD)

    @staticmethod
    def _bake_clouds(gen: torch.Generator, n: int = 256) -> PeriodicTexture:
        period = 2048.0
        x, z = grid_coords(n, period)
        c = fbm(x, z, period=period, base_cells=6, octaves=6, generator=gen, gain=0.55)
        return PeriodicTexture(c[None].contiguous(), period)

    def _textures(self, device: torch.device) -> tuple[PeriodicTexture, PeriodicTexture, PeriodicTexture]:
        if device not in self._device_cache:
            self._device_cache[device] = (self.terrain.to(device), self.detail.to(device), self.clouds.to(device))
        return self._device_cache[device]

    # ------------------------------------------------------------- queries
    def ground_height(self, x: Tensor | float, z: Tensor | float, *, include_water: bool = True) -> Tensor:
        """Height of the surface (terrain, or water where it is higher) at world ``(x, z)``.

        Args:
            x, z: floats or broadcastable tensors in scene units.
            include_water: take the water plane as the surface where it is higher.

        Returns:
            Heights (up is positive; the world point is ``y = -h``), float32.
        """
        x, z = torch.broadcast_tensors(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(z, dtype=torch.float32))
        tex = self._textures(x.device)[0]
        h = tex.sample(x, z)[_H]
        if include_water and self.style.water_level is not None:
            h = h.clamp_min(self.style.water_level)
        return h

    def _surface(self, tex: PeriodicTexture, x: Tensor, z: Tensor) -> Tensor:
        h = tex.sample(x, z)[_H]
        if self.style.water_level is not None:
            h = h.clamp_min(self.style.water_level)
        return h

    def sun_direction(self, device=None) -> Tensor:
        """Unit world vector ``(3,)`` toward the sun (y down, so its y is negative)."""
        az, el = math.radians(self.style.sun_azimuth), math.radians(self.style.sun_elevation)
        return torch.tensor(
            [math.cos(el) * math.sin(az), -math.sin(el), math.cos(el) * math.cos(az)], device=device
        )

    # ------------------------------------------------------------- poses
    def pose_at(
        self,
        distance: float = 0.0,
        *,
        clearance: float = 1.0,
        yaw_deg: float = 0.0,
        pitch_deg: float = -6.0,
    ) -> Tensor:
        """A camera on the valley centre line, ``distance`` units north of the start.

        Args:
            distance: position along z.
            clearance: height above the highest surface within 2 units ahead.
            yaw_deg: turn right of the valley direction.
            pitch_deg: look up (positive) or down (negative).

        Returns:
            ``(4, 4)`` world-to-camera pose.
        """
        if clearance <= 0.0:
            raise ValueError(f"clearance must be positive, got {clearance}")
        z = torch.tensor(float(distance))
        x = self.valley_x(z)
        dxdz = self.style.meander * (2.0 * math.pi / PERIOD) * torch.cos(z * (2.0 * math.pi / PERIOD) + self._phase)
        heading = math.atan2(float(dxdz), 1.0) + math.radians(yaw_deg)
        fwd_h = torch.tensor([math.sin(heading), 0.0, math.cos(heading)])
        ahead = torch.linspace(-0.5, 2.0, 11)
        h = self.ground_height(x + ahead * fwd_h[0], z + ahead * fwd_h[2]).max()
        position = torch.stack([x, -(h + clearance), z])
        pitch = math.radians(pitch_deg)
        forward = torch.stack([fwd_h[0] * math.cos(pitch), torch.tensor(-math.sin(pitch)), fwd_h[2] * math.cos(pitch)])
        return geometry.look_at(position, forward, torch.tensor([0.0, 1.0, 0.0]))

    def start_pose(self) -> Tensor:
        """The default first camera: 1 unit above ground, looking 6 degrees down the valley. ``(4, 4)``."""
        return self.pose_at(0.0)

    def flythrough(
        self,
        num_frames: int,
        height: int = 128,
        width: int = 128,
        *,
        path: str = "straight",
        speed: float = 0.15,
        fov_deg: float = 55.0,
        clearance: float = 1.0,
        pitch_deg: float = -6.0,
        turn_deg: float = 3.0,
        batch_size: int = 8,
        device: torch.device | str | None = None,
    ) -> dict[str, Tensor]:
        """Render a flight along one of the camera paths (see :mod:`.paths`).

        Args:
            num_frames: ``T``.
            height, width: frame size in pixels.
            path: ``"straight"``, ``"curve"`` or ``"terrain"``.
            speed: scene units per frame.
            fov_deg: horizontal field of view.
            clearance, pitch_deg, turn_deg: see :func:`.paths.camera_path`.
            batch_size: frames rendered together (memory vs. speed).
            device: where to render (default CPU).

        Returns:
            dict with ``rgb`` ``(T, 3, H, W)`` in ``[0, 1]``, ``depth``
            ``(T, 1, H, W)`` (``inf`` on sky), ``sky`` ``(T, 1, H, W)`` bool,
            ``poses`` ``(T, 4, 4)`` world-to-camera and ``K`` ``(3, 3)``.
        """
        from .paths import camera_path

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        poses = camera_path(
            self, num_frames, path=path, speed=speed, clearance=clearance, pitch_deg=pitch_deg, turn_deg=turn_deg
        ).to(device)
        K = geometry.intrinsics_from_fov(height, width, fov_deg, device=device)
        chunks = [self.render(poses[i : i + batch_size], K, height, width) for i in range(0, num_frames, batch_size)]
        out = {k: torch.cat([c[k] for c in chunks]) for k in ("rgb", "depth", "sky")}
        out.update(poses=poses, K=K)
        return out

    # ------------------------------------------------------------- rendering
    def _march(
        self, tex: PeriodicTexture, o: Tensor, d: Tensor, steps: int, t_near: float = 0.02
    ) -> tuple[Tensor, Tensor]:
        """Intersect rays ``o + t d`` (``(R, 3)`` each) with the surface.

        A fixed budget of steps whose size grows with distance (and with the
        gap above the terrain); rays that hit or leave the scene are dropped
        from the working set every few steps; then bisection and one secant
        step refine each hit (exact for planar ground).

        Returns:
            ``(t, hit)``: ``(R,)`` ray parameter of the hit and ``(R,)`` bool.
        """
        cfg = self.settings
        n = o.shape[0]
        dev, dt = o.device, o.dtype
        horiz = torch.sqrt(d[:, 0] ** 2 + d[:, 2] ** 2)
        # Upper bound of how fast the gap above the terrain can shrink per unit t.
        limit = (cfg.slope * horiz + d[:, 1].clamp_min(0.0)).clamp_min(1e-6)
        t0 = torch.full((n,), t_near, dtype=dt, device=dev)
        # Working state as rows of one tensor: compaction is a single gather.
        OX, OY, OZ, DX, DY, DZ, LIM, T, LO = range(9)
        state = torch.stack([o[:, 0], o[:, 1], o[:, 2], d[:, 0], d[:, 1], d[:, 2], limit, t0, t0])
        final = state[T:].clone()  # (2, R): t and lo of every ray
        idx = torch.arange(n, device=dev)
        for it in range(steps):
            ox, oy, oz, dx, dy, dz, lim, t, lo = state.unbind(0)
            py = oy + t * dy
            gap = -py - self._surface(tex, ox + t * dx, oz + t * dz)
            done = (gap < 0.0) | (t > FAR) | ((dy <= 0.0) & (-py > self.max_height))
            step = torch.maximum(cfg.relative_step * t, gap / lim)
            state[LO] = torch.where(done, lo, t)
            state[T] = torch.where(done, t, t + step)
            if it % 8 == 7 or it == steps - 1:
                final.index_copy_(1, idx, state[T:])
                keep = (~done).nonzero()[:, 0]
                if keep.numel() == 0:
                    break
                state, idx = state.index_select(1, keep), idx.index_select(0, keep)
        t, lo = final[0], final[1]

        def gap_at(oo: Tensor, dd: Tensor, tt: Tensor) -> Tensor:
            return -(oo[1] + tt * dd[1]) - self._surface(tex, oo[0] + tt * dd[0], oo[2] + tt * dd[2])

        ot, dtr = o.t(), d.t()
        hit = (gap_at(ot, dtr, t) < 0.0) & (t <= FAR)
        hidx = hit.nonzero()[:, 0]
        if hidx.numel():
            oh, dh = ot.index_select(1, hidx), dtr.index_select(1, hidx)
            a, b = lo.index_select(0, hidx), t.index_select(0, hidx)
            for _ in range(cfg.refine):
                mid = 0.5 * (a + b)
                under = gap_at(oh, dh, mid) < 0.0
                b = torch.where(under, mid, b)
                a = torch.where(under, a, mid)
            ga, gb = gap_at(oh, dh, a), gap_at(oh, dh, b)
            t = t.index_copy(0, hidx, a + (b - a) * (ga / (ga - gb).clamp_min(1e-12)))
        return t, hit

    def _sky_colour(self, d: Tensor, o: Tensor, clouds: PeriodicTexture) -> Tensor:
        """Linear sky radiance ``(R, 3)`` for unit directions ``d`` from origins ``o``."""
        s = self.style
        sun = self.sun_direction(d.device)
        zen, hor = _srgb_to_linear(s.sky_zenith).to(d.device), _srgb_to_linear(s.sky_horizon).to(d.device)
        sun_c = _srgb_to_linear(s.sun_colour).to(d.device)
        e = -d[:, 1]
        g = (e.clamp_min(0.0) / 0.5).clamp(0.0, 1.0) ** 0.5
        col = hor + (zen - hor) * g[:, None]
        mu = (d @ sun).clamp_min(0.0)
        col = col + self._haze_glow(d, sun)[:, None] * sun_c
        # Clouds: a textured layer CLOUD_HEIGHT above the floor, fading toward the horizon.
        if s.cloud_cover > 0.0:
            up = e.clamp_min(1e-3)
            dist = (CLOUD_HEIGHT + o[:, 1]) / up
            cx, cz = o[:, 0] + dist * d[:, 0], o[:, 2] + dist * d[:, 2]
            c = clouds.sample(cx, cz)[0]
            thr = 0.9 - 1.2 * s.cloud_cover
            dens = _smoothstep(thr, thr + 0.35, c) * _smoothstep(0.02, 0.2, e)
            shade = _smoothstep(thr, thr + 0.8, c)  # thicker = darker underside
            cloud_c = _srgb_to_linear(s.cloud_colour).to(d.device)
            lit = cloud_c * (0.55 + 0.45 * s.ambient) * (1.0 - 0.45 * shade)[:, None]
            lit = lit + sun_c * (0.5 * mu**4 * (1.0 - shade))[:, None]
            lit = lit + (hor - lit) * (1.0 - _smoothstep(0.0, 0.25, e))[:, None] * 0.6
            col = col + (lit - col) * (0.92 * dens)[:, None]
        disc = _smoothstep(math.cos(math.radians(1.0)), math.cos(math.radians(0.6)), mu)
        return col + (6.0 * disc)[:, None] * sun_c

    def _haze_glow(self, d: Tensor, sun: Tensor) -> Tensor:
        """Forward scattering around the sun (stronger for a low sun), ``(R,)``."""
        mu = (d @ sun).clamp_min(0.0)
        low = 1.0 - _smoothstep(0.0, 0.6, sun[1].neg())
        return (0.25 + 0.5 * low) * mu**6 + 0.6 * mu**64

    def _fog_colour(self, d: Tensor) -> Tensor:
        s = self.style
        hor = _srgb_to_linear(s.sky_horizon).to(d.device)
        sun = self.sun_direction(d.device)
        return hor + self._haze_glow(d, sun)[:, None] * _srgb_to_linear(s.sun_colour).to(d.device)

    def _shade(self, tex: PeriodicTexture, detail: PeriodicTexture, p: Tensor, d: Tensor, dist: Tensor, pixel_angle: float) -> Tensor:
        """Linear radiance ``(R, 3)`` of terrain/water points ``p`` seen along unit ``d``."""
        s = self.style
        dev = p.device
        x, z = p[:, 0], p[:, 2]
        tx = tex.sample(x, z)
        h, hx, hz = tx[_H], tx[_HX], tx[_HZ]
        n0 = _unit(torch.stack([-hx, -torch.ones_like(hx), -hz], dim=1))
        foot = dist * pixel_angle / (-(n0 * d).sum(1)).abs().clamp_min(0.2)
        fine = (1.0 - foot / 0.08).clamp(0.0, 1.0)
        coarse = (1.0 - foot / 0.4).clamp(0.0, 1.0)
        d1 = detail.sample(x, z)
        d2 = detail.sample(x * 0.25 + 3.1, z * 0.25 + 1.7)
        bx = hx + d1[_D_BX] * fine + d2[_D_BX] * coarse
        bz = hz + d1[_D_BZ] * fine + d2[_D_BZ] * coarse
        n = _unit(torch.stack([-bx, -torch.ones_like(bx), -bz], dim=1))
        slope = 1.0 - (-n0[:, 1])
        vary, mat = tx[_VARY], tx[_MAT]
        grain = d1[_D_GRASS] * fine + d2[_D_GRASS] * coarse * 0.5

        def c(col) -> Tensor:
            return _srgb_to_linear(col).to(dev)

        # Base: grass with patches of dry grass and darker lush hollows, tufts near by.
        dry = _smoothstep(0.2, 0.9, vary + 0.3 * mat)[:, None]
        albedo = c(s.grass) + (c(s.dry) - c(s.grass)) * dry
        lush = _smoothstep(0.0, -0.8, mat)[:, None] * 0.35
        albedo = albedo * (1.0 - lush)
        albedo = albedo * (1.0 + 0.7 * grain).clamp_min(0.2)[:, None]
        # Sand near the water line.
        if s.water_level is not None:
            beach = 1.0 - _smoothstep(s.water_level + 0.1, s.water_level + 0.35 + 0.2 * mat, h)
            albedo = albedo + (c(s.sand) * (1.0 + 0.15 * grain)[:, None] - albedo) * beach[:, None]
        # Forest: dark canopy with blobby tree crowns.
        forest = tx[_FOREST]
        crowns = (0.75 + 0.5 * (d1[_D_BLOB] * fine + d2[_D_BLOB] * coarse))[:, None]
        albedo = albedo + (c(s.tree) * crowns - albedo) * forest[:, None]
        # Rock on steep slopes, with strata.
        rock_w = _smoothstep(s.rock_slope, s.rock_slope + 0.14, slope + 0.12 * mat + 0.05 * grain)[:, None]
        strata = 1.0 + 0.15 * torch.sin(h * 2.3 + 3.0 * mat)
        rock = c(s.rock) * (strata * (1.0 + 0.3 * grain))[:, None]
        albedo = albedo + (rock - albedo) * rock_w
        # Snow on the flatter parts above the snow line.
        snow_w = _smoothstep(s.snow_line - 2.0, s.snow_line + 2.0, h + 5.0 * mat)
        snow_w = (snow_w * (1.0 - _smoothstep(0.45, 0.65, slope)))[:, None]
        albedo = albedo + (c(s.snow) - albedo) * snow_w

        sun = self.sun_direction(dev)
        lambert = (n @ sun).clamp_min(0.0) * tx[_SHADOW]
        sky_amb = 0.7 * c(s.sky_zenith) + 0.3 * c(s.sky_horizon)
        up = (-n[:, 1]).clamp(0.0, 1.0)
        ambient = sky_amb * (s.ambient * tx[_AO] * (0.55 + 0.45 * up))[:, None]
        light = c(s.sun_colour) * (s.sun_strength * lambert)[:, None] + ambient
        return albedo * light

    def _water(self, tex, detail, clouds, p: Tensor, d: Tensor, dist: Tensor, pixel_angle: float) -> Tensor:
        """Linear radiance ``(R, 3)`` of water points: reflections mixed by Fresnel."""
        s = self.style
        dev = p.device
        fine = (1.0 - dist * pixel_angle / 0.3).clamp(0.0, 1.0)
        w = detail.sample(p[:, 0] * 0.5, p[:, 2] * 0.5)
        r = d * torch.tensor([1.0, -1.0, 1.0], device=dev)
        r = _unit(r + torch.stack([w[_D_BX], torch.zeros_like(fine), w[_D_BZ]], 1) * (0.8 * fine)[:, None])
        r = torch.cat([r[:, :1], -r[:, 1:2].abs().clamp_min(1e-3), r[:, 2:]], 1)
        o = p - r * 1e-3 + torch.tensor([0.0, -0.01, 0.0], device=dev)
        t, hit = self._march(tex, o, r, self.settings.reflection_steps)
        refl = self._sky_colour(r, o, clouds)
        hidx = hit.nonzero()[:, 0]
        if hidx.numel():
            q = o[hidx] + t[hidx, None] * r[hidx]
            rd = t[hidx] + dist[hidx]
            col = self._shade(tex, detail, q, r[hidx], rd, pixel_angle)
            refl[hidx] = self._apply_fog(col, r[hidx], t[hidx], q)
        cos = (-d[:, 1]).abs().clamp(0.0, 1.0)
        fres = (0.02 + 0.98 * (1.0 - cos) ** 5)[:, None]
        body = _srgb_to_linear(s.water).to(dev) * (s.ambient * 0.8 + 0.4)
        return body * (1.0 - fres) + refl * fres * 0.9

    def _apply_fog(self, col: Tensor, d: Tensor, dist: Tensor, p: Tensor) -> Tensor:
        """Aerial perspective: mix toward the haze colour by ``1 - exp(-density * dist)``."""
        s = self.style
        height = (-p[:, 1] - self.min_height).clamp_min(0.0)
        density = s.fog_density * torch.exp(-height / 60.0)
        f = 1.0 - torch.exp(-density * dist)
        return col + (self._fog_colour(d) - col) * f[:, None]

    @torch.no_grad()
    def render(self, world_to_camera: Tensor, K: Tensor, height: int, width: int) -> dict[str, Tensor]:
        """Render colour, z-depth and sky mask from one or a batch of cameras.

        Args:
            world_to_camera: ``(4, 4)`` or ``(B, 4, 4)`` poses (docs/CONVENTIONS.md).
            K: ``(3, 3)`` or ``(B, 3, 3)`` pixel intrinsics.
            height, width: image size in pixels.

        Returns:
            dict with ``rgb`` ``(3, H, W)`` in ``[0, 1]``, ``depth`` ``(1, H, W)``
            z-depth in scene units (``inf`` on sky), ``sky`` ``(1, H, W)`` bool;
            each with a leading ``B`` when the poses are batched. The output
            device follows ``world_to_camera``.
        """
        if not isinstance(world_to_camera, Tensor) or world_to_camera.shape[-2:] != (4, 4) or world_to_camera.dim() not in (2, 3):
            raise ValueError(f"world_to_camera must be a (4, 4) or (B, 4, 4) tensor, got {getattr(world_to_camera, 'shape', type(world_to_camera).__name__)}")
        if not isinstance(K, Tensor) or K.shape[-2:] != (3, 3) or K.dim() not in (2, 3):
            raise ValueError(f"K must be a (3, 3) or (B, 3, 3) tensor, got {getattr(K, 'shape', type(K).__name__)}")
        if int(height) < 1 or int(width) < 1:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        batched = world_to_camera.dim() == 3
        pose = world_to_camera.float().reshape(-1, 4, 4)
        B, H, W = pose.shape[0], int(height), int(width)
        dev = pose.device
        Kb = K.to(dev).float().expand(B, 3, 3) if K.dim() == 2 else K.to(dev).float()
        if Kb.shape[0] != B:
            raise ValueError(f"K has batch {Kb.shape[0]} but world_to_camera has batch {B}")
        tex, detail, clouds = self._textures(dev)

        pix = geometry.pixel_grid(H, W, device=dev).reshape(1, 3, H * W).expand(B, 3, H * W)
        cam = torch.linalg.solve(Kb, pix)  # (B, 3, HW) with z = 1
        R = pose[:, :3, :3]
        d = (R.transpose(1, 2) @ cam).transpose(1, 2).reshape(-1, 3)
        o = geometry.camera_center(pose).repeat_interleave(H * W, dim=0)
        t, hit = self._march(tex, o, d, self.settings.steps)

        norm = d.norm(dim=1)
        du = d / norm[:, None]
        dist = t * norm
        pixel_angle = float(1.0 / Kb[:, 0, 0].min())
        col = self._sky_colour(du, o, clouds)
        hidx = hit.nonzero()[:, 0]
        if hidx.numel():
            p = o[hidx] + t[hidx, None] * d[hidx]
            dh, disth = du[hidx], dist[hidx]
            surf = self._shade(tex, detail, p, dh, disth, pixel_angle)
            if self.style.water_level is not None:
                wet = tex.sample(p[:, 0], p[:, 2])[_H] < self.style.water_level
                widx = wet.nonzero()[:, 0]
                if widx.numel():
                    surf[widx] = self._water(tex, detail, clouds, p[widx], dh[widx], disth[widx], pixel_angle)
            col[hidx] = self._apply_fog(surf, dh, disth, p)
        rgb = col.clamp(0.0, 1.0) ** (1.0 / 2.2)
        rgb = rgb.reshape(B, H, W, 3).permute(0, 3, 1, 2).contiguous()
        depth = torch.where(hit, t, torch.full_like(t, float("inf"))).reshape(B, 1, H, W)
        sky = (~hit).reshape(B, 1, H, W)
        out = {"rgb": rgb, "depth": depth, "sky": sky}
        return out if batched else {k: v[0] for k, v in out.items()}
