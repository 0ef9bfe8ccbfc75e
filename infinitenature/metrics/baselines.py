"""Baselines for the refiner: what a flythrough looks like without the generator.

Two stand-ins for ``CoModGenerator`` that plug into the unchanged
``FlyThrough`` loop (render, refine, sky correction, repeat), so that the
quality benchmark compares the refiner with them under exactly the same
camera paths, rendering and sky blending:

* ``"warp"``: no refinement at all. The warped frame is passed on with its
  holes left as they are (black RGB, disparity at the 0.01 floor).
* ``"inpaint"``: a simple non-learned inpainting. Holes are filled by
  push-pull (pyramid diffusion, :func:`push_pull_fill`) for RGB and disparity;
  valid pixels are kept exactly.

Example:
    >>> import torch
    >>> from infinitenature import FlyThrough
    >>> from infinitenature.metrics.baselines import BaselineConfig, BaselineRefiner
    >>> refiner = BaselineRefiner(BaselineConfig(method="inpaint", resolution=32))
    >>> rgb, disp = torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32)
    >>> mask = torch.ones(1, 1, 32, 32)
    >>> out = refiner.refine(rgb, disp, mask, refiner.encode_style(torch.cat([rgb, disp], 1)), torch.zeros(1, 1))
    >>> out.shape, torch.equal(out[:, :3], rgb)
    (torch.Size([1, 4, 32, 32]), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from ..filters import push_pull_fill

__all__ = ["BASELINES", "BaselineConfig", "BaselineRefiner", "push_pull_fill"]

#: Names of the baselines, in the order the benchmarks report them.
BASELINES = ("warp", "inpaint")


@dataclass
class BaselineConfig:
    """Options of a baseline refiner.

    Attributes:
        method: ``"warp"`` (holes left black) or ``"inpaint"`` (push-pull fill).
        resolution: square frame size in pixels (``FlyThrough`` reads it).
        latent_dim: width of the (ignored) sequence latent the loop draws.
    """

    method: Literal["warp", "inpaint"] = "inpaint"
    resolution: int = 128
    latent_dim: int = 1

    def __post_init__(self) -> None:
        if self.method not in BASELINES:
            raise ValueError(f"method must be one of {BASELINES}, got {self.method!r}")
        if not isinstance(self.resolution, int) or self.resolution < 8:
            raise ValueError(f"resolution must be an int >= 8, got {self.resolution!r}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")


class BaselineRefiner(nn.Module):
    """A non-learned stand-in for ``CoModGenerator`` in ``FlyThrough``.

    It has the generator's inference interface (``config.resolution``,
    ``config.latent_dim``, ``encode_style``, ``mean_latent``, ``refine``) and
    ignores the global code, latent, truncation and noise.

    Args:
        config: :class:`BaselineConfig`.
    """

    config: BaselineConfig

    def __init__(self, config: BaselineConfig | None = None) -> None:
        super().__init__()
        config = BaselineConfig() if config is None else config
        if not isinstance(config, BaselineConfig):
            raise TypeError(f"config must be a BaselineConfig, got {type(config).__name__}")
        self.config = config
        # FlyThrough finds its device from the refiner's parameters: an empty one carries it.
        self.device_anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def extra_repr(self) -> str:
        return f"method={self.config.method!r}, resolution={self.config.resolution}"

    def encode_style(self, rgbd: Tensor, *, dropout: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """No global code: ``(B, 4, R, R) -> (B, 0)``."""
        if not isinstance(rgbd, Tensor) or rgbd.dim() != 4:
            raise ValueError(f"rgbd must be a (B, 4, R, R) tensor, got {getattr(rgbd, 'shape', type(rgbd).__name__)}")
        return rgbd.new_zeros(rgbd.shape[0], 0)

    def mean_latent(self, num_samples: int = 1, *, generator: torch.Generator | None = None) -> Tensor:
        """Zeros ``(1, latent_dim)`` (nothing to truncate toward)."""
        return self.device_anchor.new_zeros(1, self.config.latent_dim)

    @torch.no_grad()
    def refine(
        self,
        rgb: Tensor,
        disparity: Tensor,
        mask: Tensor,
        global_code: Tensor,
        z: Tensor,
        *,
        truncation: float = 1.0,
        truncation_mean: Tensor | None = None,
        noise: str = "zero",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The baseline's "refined" frame.

        Args:
            rgb: ``(B, 3, R, R)`` warped colour in [0, 1].
            disparity: ``(B, 1, R, R)`` warped disparity in (0, 1].
            mask: ``(B, 1, R, R)`` validity, 1 = valid, 0 = hole.
            global_code, z, truncation, truncation_mean, noise, generator: ignored
                (the generator's interface).

        Returns:
            ``(B, 4, R, R)`` RGB + disparity in [0, 1] (disparity in [0.01, 1]).
        """
        b = rgb.shape[0] if isinstance(rgb, Tensor) and rgb.dim() == 4 else -1
        for name, t, c in (("rgb", rgb, 3), ("disparity", disparity, 1), ("mask", mask, 1)):
            if not isinstance(t, Tensor) or t.dim() != 4 or t.shape[0] != b or t.shape[1] != c or t.shape[-2:] != rgb.shape[-2:]:
                raise ValueError(f"{name} must have shape (B, {c}, H, W) with a common B, H, W, got {tuple(getattr(t, 'shape', ()))}")
        mask = mask.to(rgb.dtype)
        if self.config.method == "warp":
            rgb_out, disp_out = rgb * mask, disparity * mask
        else:
            rgb_out = push_pull_fill(rgb, mask)
            disp_out = push_pull_fill(disparity, mask)
        return torch.cat([rgb_out.clamp(0.0, 1.0), disp_out.clamp(0.01, 1.0)], dim=1)
