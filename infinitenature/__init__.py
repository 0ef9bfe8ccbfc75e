"""infinitenature: one landscape photo in, a flythrough video out.

Perpetual view generation as in InfiniteNature-Zero (Li et al., ECCV 2022), in
plain PyTorch that runs on a laptop CPU::

    from infinitenature import FlyThrough
    pipe = FlyThrough.from_pretrained("default")
    pipe("examples/valendas.jpg", num_frames=100).save("valendas.mp4")
"""

__version__ = "0.1.0"

from .autopilot import (
    Autopilot,
    AutopilotConfig,
    CallablePath,
    CameraPath,
    KeyframePath,
    OrbitPath,
    PanPath,
    StraightPath,
    make_camera_path,
    skyline_balance,
)
from .estimators import load_depth, load_sky
from .io import load_image
from .models import load_official_generator
from .pipeline import FlyThrough, FlyThroughConfig, FlyThroughOutput, Frame

__all__ = [
    "__version__",
    "FlyThrough",
    "FlyThroughConfig",
    "FlyThroughOutput",
    "Frame",
    "CameraPath",
    "Autopilot",
    "AutopilotConfig",
    "StraightPath",
    "PanPath",
    "OrbitPath",
    "KeyframePath",
    "CallablePath",
    "make_camera_path",
    "skyline_balance",
    "load_depth",
    "load_sky",
    "load_image",
    "load_official_generator",
]
