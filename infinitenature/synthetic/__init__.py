"""Procedural landscapes with ground-truth depth, sky masks and camera paths.

>>> from infinitenature.synthetic import Landscape
>>> scene = Landscape(0)                      # style from the seed ("alpine")
>>> clip = scene.flythrough(8, 64, 64)        # rgb, depth, sky, poses, K
>>> clip["rgb"].shape
torch.Size([8, 3, 64, 64])

See :mod:`.landscape` for the scene scale and :mod:`.paths` for the paths.
"""

from .dataset import CameraJitter, SyntheticDataset
from .landscape import FAR, PERIOD, Landscape, RenderSettings
from .paths import PATHS, camera_path
from .sheet import contact_sheet, main
from .styles import STYLE_NAMES, LandscapeStyle, style_for_seed

__all__ = [
    "Landscape",
    "LandscapeStyle",
    "RenderSettings",
    "STYLE_NAMES",
    "style_for_seed",
    "camera_path",
    "PATHS",
    "SyntheticDataset",
    "CameraJitter",
    "contact_sheet",
    "main",
    "PERIOD",
    "FAR",
]
