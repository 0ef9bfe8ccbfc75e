"""Scene styles: terrain shape, materials, sky and light of a procedural landscape.

A :class:`LandscapeStyle` is a plain frozen dataclass; :func:`style_for_seed`
draws a seed-determined variation of one of the named presets
(``STYLE_NAMES``). Colours are sRGB triples in ``[0, 1]``; heights and lengths
are scene units (see :mod:`infinitenature.synthetic.landscape` for the scale).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["LandscapeStyle", "STYLE_NAMES", "style_for_seed"]

Colour = tuple[float, float, float]

#: The named presets, in the order ``seed % 5`` picks them.
STYLE_NAMES = ("alpine", "hills", "coast", "desert", "dusk")


@dataclass(frozen=True)
class LandscapeStyle:
    """Everything that makes one scene look the way it does.

    Terrain (heights in scene units, up is positive):
        terrain: ``"ridged"`` (mountains), ``"rolling"`` (hills), ``"dunes"``,
            ``"mesa"`` (terraced buttes) or ``"flat"``.
        amplitude: height of the mountains/hills beside the valley.
        feature_size: horizontal size of the largest terrain features.
        floor_amplitude: relief of the valley floor the camera flies over.
        valley_width: half width of the flat-ish corridor along the flight path.
        valley_sides: how much of the relief rises on the (left, right) side.
        meander: sideways amplitude of the valley's centre line.
        base_height: height of the flat ground (``"flat"``) / offset of all terrain.
        sea_side: ``-1`` sea on the left of the valley, ``+1`` on the right, 0 none.
        sea_depth: depth the sea side falls to.
        water_level: height of a water plane, or ``None`` for no water.
        snow_line, tree_line: heights where snow starts and forest stops.
        forest: forest cover in ``[0, 1]``.
        tree_height: height of the forest canopy bumps.
        rock_slope: slope (``1 - cos`` of the incline) where bare rock starts.
    Light and air:
        sun_elevation, sun_azimuth: degrees; azimuth 0 is the initial view
            direction (+z), positive turns right (+x).
        sun_strength, ambient: direct and sky light multipliers.
        fog_density: extinction per scene unit at the valley floor.
        cloud_cover: ``[0, 1]``.
    """

    name: str = "alpine"
    terrain: str = "ridged"
    amplitude: float = 40.0
    feature_size: float = 128.0
    floor_amplitude: float = 1.5
    valley_width: float = 30.0
    valley_sides: tuple[float, float] = (1.0, 1.0)
    meander: float = 30.0
    base_height: float = 0.0
    sea_side: int = 0
    sea_depth: float = 4.0
    water_level: float | None = None
    snow_line: float = 1e9
    tree_line: float = 20.0
    forest: float = 0.4
    tree_height: float = 1.0
    rock_slope: float = 0.28
    grass: Colour = (0.33, 0.42, 0.18)
    dry: Colour = (0.50, 0.48, 0.27)
    rock: Colour = (0.42, 0.40, 0.37)
    sand: Colour = (0.62, 0.57, 0.44)
    snow: Colour = (0.95, 0.96, 1.0)
    tree: Colour = (0.09, 0.16, 0.07)
    water: Colour = (0.04, 0.13, 0.16)
    sky_zenith: Colour = (0.20, 0.42, 0.80)
    sky_horizon: Colour = (0.72, 0.82, 0.92)
    sun_colour: Colour = (1.0, 0.96, 0.88)
    cloud_colour: Colour = (1.0, 1.0, 1.0)
    sun_elevation: float = 35.0
    sun_azimuth: float = 40.0
    sun_strength: float = 2.6
    ambient: float = 0.9
    fog_density: float = 0.006
    cloud_cover: float = 0.4

    def __post_init__(self) -> None:
        if self.terrain not in ("ridged", "rolling", "dunes", "mesa", "flat"):
            raise ValueError(f"terrain must be ridged, rolling, dunes, mesa or flat, got {self.terrain!r}")
        if not 0.0 <= self.cloud_cover <= 1.0:
            raise ValueError(f"cloud_cover must be in [0, 1], got {self.cloud_cover}")
        if self.sea_side not in (-1, 0, 1):
            raise ValueError(f"sea_side must be -1, 0 or 1, got {self.sea_side}")
        if self.fog_density < 0.0:
            raise ValueError(f"fog_density must be >= 0, got {self.fog_density}")


STYLE_PRESETS: dict[str, LandscapeStyle] = {
    "alpine": LandscapeStyle(
        name="alpine", terrain="ridged", amplitude=55.0, feature_size=170.0, floor_amplitude=1.2,
        valley_width=32.0, meander=40.0, snow_line=24.0, tree_line=14.0, forest=0.55,
        grass=(0.30, 0.40, 0.16), rock=(0.40, 0.39, 0.37),
        fog_density=0.005, cloud_cover=0.45, sun_elevation=40.0,
    ),
    "hills": LandscapeStyle(
        name="hills", terrain="rolling", amplitude=9.0, feature_size=90.0, floor_amplitude=1.0,
        valley_width=25.0, valley_sides=(0.8, 0.8), meander=25.0, tree_line=1e9, forest=0.45,
        grass=(0.36, 0.50, 0.15), dry=(0.62, 0.58, 0.28), tree=(0.12, 0.23, 0.08),
        sky_zenith=(0.25, 0.47, 0.82), sky_horizon=(0.74, 0.84, 0.94),
        fog_density=0.008, cloud_cover=0.55, sun_elevation=45.0,
    ),
    "coast": LandscapeStyle(
        name="coast", terrain="rolling", amplitude=16.0, feature_size=110.0, floor_amplitude=0.8,
        valley_width=14.0, valley_sides=(0.0, 1.0), meander=20.0, sea_side=-1, base_height=0.6,
        water_level=0.0, tree_line=1e9, forest=0.25,
        grass=(0.38, 0.46, 0.20), rock=(0.55, 0.50, 0.43), sand=(0.86, 0.79, 0.60),
        water=(0.02, 0.16, 0.22), sky_zenith=(0.20, 0.45, 0.85), sky_horizon=(0.75, 0.86, 0.95),
        fog_density=0.006, cloud_cover=0.3, sun_elevation=50.0,
    ),
    "desert": LandscapeStyle(
        name="desert", terrain="dunes", amplitude=6.0, feature_size=60.0, floor_amplitude=0.6,
        valley_width=20.0, valley_sides=(1.0, 1.0), meander=20.0, tree_line=-1e9, forest=0.0, rock_slope=0.6,
        grass=(0.84, 0.62, 0.38), dry=(0.76, 0.52, 0.32), rock=(0.62, 0.36, 0.24), sand=(0.86, 0.66, 0.42),
        sky_zenith=(0.30, 0.52, 0.85), sky_horizon=(0.88, 0.86, 0.80), sun_colour=(1.0, 0.93, 0.80),
        fog_density=0.007, cloud_cover=0.1, sun_elevation=30.0, sun_strength=2.8,
    ),
    "dusk": LandscapeStyle(
        name="dusk", terrain="ridged", amplitude=35.0, feature_size=150.0, floor_amplitude=1.2,
        valley_width=40.0, meander=35.0, tree_line=16.0, forest=0.5,
        grass=(0.30, 0.38, 0.16), rock=(0.40, 0.37, 0.35),
        sky_zenith=(0.16, 0.20, 0.42), sky_horizon=(0.98, 0.62, 0.36), sun_colour=(1.0, 0.56, 0.26),
        cloud_colour=(0.95, 0.62, 0.50), sun_elevation=4.0, sun_azimuth=10.0, sun_strength=2.4,
        ambient=1.1, fog_density=0.007, cloud_cover=0.45,
    ),
    "flat": LandscapeStyle(
        name="flat", terrain="flat", amplitude=0.0, floor_amplitude=0.0, meander=0.0, forest=0.0,
        fog_density=0.004, cloud_cover=0.3,
    ),
}


def _jitter_colour(c: Colour, rng: np.random.Generator, amount: float) -> Colour:
    scale = 1.0 + rng.uniform(-amount, amount, size=3)
    bright = 1.0 + rng.uniform(-amount, amount)
    return tuple(float(v) for v in np.clip(np.asarray(c) * scale * bright, 0.0, 1.0))  # type: ignore[return-value]


def style_for_seed(seed: int, name: str | None = None) -> LandscapeStyle:
    """The seed's style: preset ``name`` (``STYLE_NAMES[seed % 5]`` if ``None``), jittered.

    The jitter (sun, fog, clouds, relief, water, colours) is drawn from a local
    ``numpy.random.Generator`` seeded with ``seed``, so it is deterministic.
    """
    if name is None:
        name = STYLE_NAMES[seed % len(STYLE_NAMES)]
    if name not in STYLE_PRESETS:
        raise ValueError(f"unknown style {name!r}; expected one of {sorted(STYLE_PRESETS)}")
    base = STYLE_PRESETS[name]
    if name == "flat":
        return base
    rng = np.random.default_rng([seed, 7919])
    u = rng.uniform
    changes: dict = dict(
        amplitude=base.amplitude * u(0.7, 1.3),
        feature_size=base.feature_size * u(0.8, 1.25),
        valley_width=base.valley_width * u(0.7, 1.4),
        meander=base.meander * u(0.3, 1.5),
        fog_density=base.fog_density * u(0.6, 1.6),
        cloud_cover=float(np.clip(base.cloud_cover + u(-0.3, 0.3), 0.0, 0.9)),
        sun_azimuth=float(u(-110.0, 110.0)),
        sun_elevation=base.sun_elevation * u(0.6, 1.3),
        forest=float(np.clip(base.forest * u(0.5, 1.5), 0.0, 1.0)),
    )
    for key in ("grass", "dry", "rock", "tree"):
        changes[key] = _jitter_colour(getattr(base, key), rng, 0.08)
    for key in ("sky_zenith", "sky_horizon"):
        changes[key] = _jitter_colour(getattr(base, key), rng, 0.03)
    if name in ("alpine", "hills", "dusk") and u() < 0.4:
        changes["water_level"] = float(u(-0.6, -0.1)) * base.floor_amplitude  # lakes in the valley floor
    if name == "alpine":
        changes["snow_line"] = base.snow_line * u(0.7, 1.4)
    if name == "desert" and u() < 0.5:
        changes.update(terrain="mesa", amplitude=u(14.0, 24.0), feature_size=u(80.0, 120.0), rock_slope=0.3)
    if name == "dusk":  # the sun ahead (glow, silhouettes) or behind (alpenglow)
        changes["sun_azimuth"] = float(u(-35.0, 35.0)) if u() < 0.5 else float(u(140.0, 220.0))
        changes["terrain"] = "ridged" if u() < 0.6 else "rolling"
        if changes["terrain"] == "rolling":
            changes["amplitude"] = u(8.0, 16.0)
    if name == "coast" and u() < 0.5:
        changes.update(valley_sides=(1.0, 0.0), sea_side=1)  # the sea on the right
    return replace(base, **changes)
