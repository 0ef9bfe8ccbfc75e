"""Periodic noise and baked height-field textures for the procedural landscapes.

Everything here is periodic with a period of ``period`` scene units in x and z,
so a baked tile covers an infinite plane (the far repeats are hidden by haze).

* :class:`NoiseLattice` is 2-D value noise on a periodic lattice (bicubic),
  evaluated in torch at any float coordinates (one ``grid_sample``).
* :func:`fbm` and :func:`ridged` sum octaves of it (fractional Brownian motion
  and Musgrave's ridged multifractal).
* :class:`PeriodicTexture` stores a ``(C, N, N)`` bake of any of these on a
  regular grid and samples it bilinearly (one ``grid_sample`` for all points),
  which is what makes ray marching cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["NoiseLattice", "fbm", "ridged", "PeriodicTexture", "grid_coords", "periodic_blur"]


class NoiseLattice:
    """Periodic 2-D value noise with ``cells`` lattice cells per period.

    Random values in ``[-1, 1]`` on an ``cells x cells`` lattice, interpolated
    bicubically (one ``grid_sample`` for all points, so it is cheap for warped,
    irregular coordinates too).

    Args:
        cells: lattice cells per period (the noise repeats every ``cells`` units
            of its own coordinates).
        generator: CPU ``torch.Generator`` that draws the lattice values.

    Calling it with lattice coordinates ``x, z`` (any equal shapes, float)
    returns noise of the same shape in about ``[-1, 1]``.
    """

    def __init__(self, cells: int, *, generator: torch.Generator) -> None:
        if cells < 1:
            raise ValueError(f"cells must be >= 1, got {cells}")
        self.cells = int(cells)
        values = torch.rand(self.cells, self.cells, generator=generator) * 2.0 - 1.0
        # Wrap two lattice points on each side: bicubic reads a 4 x 4 neighbourhood.
        self.padded = F.pad(values[None, None], (2, 2, 2, 2), mode="circular")

    def __call__(self, x: Tensor, z: Tensor) -> Tensor:
        n = self.cells
        lattice = self.padded.to(x.device, x.dtype)
        scale = 2.0 / (n + 3)
        gx = (torch.remainder(x.reshape(-1), n) + 2.0) * scale - 1.0
        gz = (torch.remainder(z.reshape(-1), n) + 2.0) * scale - 1.0
        grid = torch.stack([gx, gz], dim=-1).reshape(1, 1, -1, 2)
        out = F.grid_sample(lattice, grid, mode="bicubic", padding_mode="border", align_corners=True)
        return out.reshape(x.shape)


def _octaves(base_cells: int, octaves: int, generator: torch.Generator) -> list[NoiseLattice]:
    return [NoiseLattice(base_cells * 2**k, generator=generator) for k in range(octaves)]


def fbm(
    x: Tensor,
    z: Tensor,
    *,
    period: float,
    base_cells: int,
    octaves: int,
    generator: torch.Generator,
    gain: float = 0.5,
) -> Tensor:
    """Fractional Brownian motion of value noise, periodic in x and z.

    Args:
        x, z: world coordinates (any equal shapes).
        period: tile size in world units.
        base_cells: lattice cells per period of the first octave (its feature
            size is ``period / base_cells``); each octave doubles it.
        octaves: number of octaves.
        generator: draws the lattices (consumed in a fixed order).
        gain: amplitude ratio between successive octaves.

    Returns:
        Noise of the shape of ``x``, roughly in ``[-1, 1]``.
    """
    total = torch.zeros_like(x)
    amp, norm = 1.0, 0.0
    for k, lattice in enumerate(_octaves(base_cells, octaves, generator)):
        s = lattice.cells / period
        total = total + amp * lattice(x * s, z * s)
        norm += amp
        amp *= gain
    return total / (0.6 * norm)


def ridged(
    x: Tensor,
    z: Tensor,
    *,
    period: float,
    base_cells: int,
    octaves: int,
    generator: torch.Generator,
    gain: float = 2.0,
    offset: float = 1.0,
    roughness: float = 0.9,
) -> Tensor:
    """Musgrave's ridged multifractal: sharp crests, smooth valleys.

    Each octave is ``(offset - |noise|)^2`` weighted by the previous octave's
    signal, so detail gathers on the ridges (an erosion-like look).

    Returns:
        Heights of the shape of ``x``, roughly in ``[0, 1]``.
    """
    total = torch.zeros_like(x)
    weight = torch.ones_like(x)
    norm = 0.0
    for k, lattice in enumerate(_octaves(base_cells, octaves, generator)):
        s = lattice.cells / period
        signal = (offset - lattice(x * s, z * s).abs()).clamp_min(0.0) ** 2
        amp = 2.0 ** (-roughness * k)
        total = total + signal * weight * amp
        norm += amp
        weight = (signal * gain).clamp(0.0, 1.0)
    return total / norm


def grid_coords(size: int, period: float, *, device=None) -> tuple[Tensor, Tensor]:
    """World ``(x, z)`` of the texel centres of a ``size x size`` periodic bake.

    Texel ``[iz, ix]`` sits at ``(ix, iz) * period / size``. Returns two
    ``(size, size)`` tensors.
    """
    c = torch.arange(size, dtype=torch.float32, device=device) * (period / size)
    z, x = torch.meshgrid(c, c, indexing="ij")
    return x, z


def periodic_blur(field: Tensor, radius: int) -> Tensor:
    """Box blur of a periodic ``(C, N, N)`` field (two separable passes, circular padding)."""
    if radius <= 0:
        return field
    k = 2 * radius + 1
    out = field.unsqueeze(0)
    for _ in range(2):
        out = F.avg_pool2d(F.pad(out, (radius, radius, 0, 0), mode="circular"), (1, k), stride=1)
        out = F.avg_pool2d(F.pad(out, (0, 0, radius, radius), mode="circular"), (k, 1), stride=1)
    return out[0]


@dataclass
class PeriodicTexture:
    """A baked ``(C, N, N)`` field that tiles the x-z plane with period ``period``.

    ``data[c, iz, ix]`` is the value at world ``(x, z) = (ix, iz) * period / N``.
    """

    data: Tensor
    period: float

    def __post_init__(self) -> None:
        if self.data.dim() != 3 or self.data.shape[1] != self.data.shape[2]:
            raise ValueError(f"texture data must be (C, N, N), got {tuple(self.data.shape)}")
        # One wrapped row/column so grid_sample(align_corners=True) covers [0, period].
        # ``data`` becomes a view into the padded copy, so the bake is stored once.
        d = self.data
        n = d.shape[-1]
        d = torch.cat([d, d[:, :1]], dim=1)
        self._padded = torch.cat([d, d[:, :, :1]], dim=2).unsqueeze(0).contiguous()
        self.data = self._padded[0, :, :n, :n]

    @property
    def size(self) -> int:
        return int(self.data.shape[-1])

    @property
    def texel(self) -> float:
        """World size of one texel."""
        return self.period / self.size

    def to(self, device: torch.device | str) -> "PeriodicTexture":
        if self.data.device == torch.device(device):
            return self
        return PeriodicTexture(self.data.to(device), self.period)

    def sample(self, x: Tensor, z: Tensor) -> Tensor:
        """Bilinear lookup at world coordinates.

        Args:
            x, z: equal-shape float tensors (any shape ``S``), world units.

        Returns:
            ``(C, *S)`` values.
        """
        shape = x.shape
        inv = 2.0 / self.period
        gx = torch.remainder(x.reshape(-1), self.period) * inv - 1.0
        gz = torch.remainder(z.reshape(-1), self.period) * inv - 1.0
        grid = torch.stack([gx, gz], dim=-1).reshape(1, 1, -1, 2)
        out = F.grid_sample(self._padded, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(self.data.shape[0], *shape)
