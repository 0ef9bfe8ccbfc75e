"""``FlyThroughConfig``: the settings of the render-refine-repeat loop, declared once.

Each field carries its own description, range and command-line form in its
``dataclasses.field`` metadata (``Setting``): ``FlyThroughConfig.validate`` checks
every field from it, and the ``infinitenature fly`` command builds one flag per
field from it (``cli.add_setting_flags``). The defaults are the published loop;
the shipped weights store the settings they were measured with, which
``FlyThrough.from_pretrained`` applies (``settings_from_metadata``) before any
keyword overrides (``FlyThroughConfig.replace``).

Internal constants (largest values, numerical tolerances) are module-level
constants of the modules that use them, never fields here.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .anchor import MAX_STREAK_BLUR
from .detail import MAX_DETAIL, TEXTURES
from .render import RENDER_BACKENDS

__all__ = [
    "FlyThroughConfig",
    "Setting",
    "MAX_SUPERSAMPLE",
    "MAX_ANCHOR_SCALE",
    "NEEDS_ANCHOR",
    "settings_from_metadata",
    "parse_setting",
]

#: Largest ``FlyThroughConfig.supersample`` (the state is ``supersample**2`` times the refiner's pixels).
MAX_SUPERSAMPLE = 8
#: Largest ``FlyThroughConfig.anchor_scale``.
MAX_ANCHOR_SCALE = 8

#: Settings that stored weights may still name but the loop no longer has, with the value that
#: meant "off": such a key with that value is ignored; with any other value it is an error.
RETIRED_SETTINGS = {"disparity_median": 0, "hole_context": 0, "sky_completion": False}
#: Settings that need the photo anchor (``anchor_scale >= 1``): name -> (the value that is off,
#: what the setting does with the anchor).
NEEDS_ANCHOR = {
    "detail": (0.0, "continues the photo's texture"),
    "streak_blur": (0.0, "filters the anchor's lookup"),
    "aerial_perspective": (0.0, "changes the anchor's colours"),
    "outpaint": (False, "is looked up like the photo anchor"),
}
#: Stored names of settings that were renamed: old name -> field name.
RENAMED_SETTINGS = {"output": "frame_size"}


@dataclass(frozen=True)
class Setting:
    """How one ``FlyThroughConfig`` field is checked and offered on the command line.

    Attributes:
        help: one line for ``--help`` and the README's settings table.
        kind: ``"bool"``, ``"int"``, ``"float"`` or ``"choice"``.
        low, high: inclusive bounds of a number (``None`` = unbounded).
        low_open, high_open: the bound itself is excluded.
        choices: the allowed strings of a ``"choice"``.
        metavar: the value's name in ``--help``.
    """

    help: str
    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    def describe(self) -> str:
        """The allowed values in words, e.g. ``"an integer in 1..8"`` or ``"a number in [0, 1]"``."""
        if self.kind == "bool":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "int":
            if self.high is None:
                return f"a whole number >= {self.low:g}"
            return f"an integer in {self.low:g}..{self.high:g}"
        if self.low is None and self.high is None:
            return "a finite number"
        if self.high is None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of this setting's kind and inside its range."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int if self.kind == "int" else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True


def _setting(default: Any, help: str, kind: str, **spec: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(help=help, kind=kind, **spec)})


@dataclass
class FlyThroughConfig:
    """Settings of the render-refine-repeat loop; the defaults are the published loop.

    ``FlyThrough.from_pretrained`` applies the settings stored with the weights
    (the shipped weights turn on the departures marked below) and then any keyword
    overrides. ``docs/SETTINGS.md`` gives each setting's measured effect.

    Attributes:
        fov_deg: horizontal field of view of the view camera, in degrees.
        truncation: truncation psi toward the mean mapped latent (1 = none).
        stochastic: the release's randomness (fresh spatial noise every step, dropout
            in the style encoder); ``False`` is deterministic inference.
        sky_correction: blend the first frame's sky, warped by the camera's rotation,
            into every frame (``sky.sky_blend``).
        skyline_repair: when the photo is prepared, move the sky mask's edge onto the
            photo's colour edge and give the ground along the skyline the disparity of
            the ground just below it (``skyline.repair_skyline``), so a forward flight
            neither flies into a row of cloud called ground nor leaves a hill's crest
            at the horizon while its slope comes nearer. Departure (published: ``False``).
        sky_behind: continue the sky canvas behind the photo's ground
            (``sky.continue_sky``), so sky that a flight uncovers behind a crest, or
            below the skyline as the camera pitches down, takes the sky's colours
            rather than the skyline's stretched edge. Departure (published: ``False``).
        keep_visible: keep the warped pixels that survived the move and use the
            refiner's output only in the holes and a 2-3 px seam around them; a step
            without holes skips the refiner. Departure (published: ``False``).
        supersample: carry the warped state at this many times the refiner's
            resolution, so the photo's detail survives flying closer; the refiner sees
            it area-downsampled. Departure (published: 1).
        frame_size: ``"refiner"``: frames at the refiner's resolution; ``"state"``: at
            the state's (``supersample`` times larger).
        anchor_scale: re-sample what the photo still shows from the photo itself, kept
            at up to this many times the state's side (``anchor.py``); 0 = off.
            Departure (published: 0).
        streak_blur: filter the anchor's lookup along the direction the view steps
            through the photo fastest, so slopes flown close to are not drawn as
            streaks; needs ``anchor_scale``. Departure (published: 0).
        aerial_perspective: change the colour of ground the camera nears for its new
            distance by the photo's haze (dark channel prior); needs ``anchor_scale``.
            Departure (published: 0).
        detail: surface texture where the frame magnifies its content beyond what it
            resolves, per octave in units of the photo's fine contrast; needs
            ``anchor_scale``. Departure (published: 0).
        detail_texture: where that texture comes from. ``"noise"``: band-limited 3D
            noise at the photo's local contrast; ``"photo"``: the photo's own ground,
            read where the view shows ground at the same distance as the photo does
            (``detail.photo_detail``), with noise where the photo has none to give.
        outpaint: before the flight, continue the photo all around the first camera
            from its own pixels (``panorama.py``: strips of the photo joined along seams
            of least difference), and show that wherever a view looks beyond the photo;
            the sky canvas becomes that panorama too. Needs ``anchor_scale``.
            Departure (published: ``False``; the release outpainted with a GAN).
        sky_layers: keep sky and ground apart in every resampling and refiner pass
            (``layers.py``), so long flights do not take on the sky's colour.
            Departure (published: ``False``).
        render_backend: ``"torch"`` (pure PyTorch) or ``"pytorch3d"`` (its point rasterizer).
        beta: softness of depth edges in the splatting alpha.
        max_sky_fraction: a sky blend covering more of the frame than this is skipped
            for that step (with a warning on the output).
        canvas_scale: width of the sky canvas (the wider photo) relative to the view.
        mean_latent_samples: latents averaged for the truncation mean.
    """

    fov_deg: float = _setting(55.0, "horizontal field of view in degrees", "float", low=0, high=180, low_open=True, high_open=True, metavar="DEG")
    truncation: float = _setting(0.7, "truncation toward the mean latent (1 = none)", "float", metavar="PSI")
    stochastic: bool = _setting(False, "the release's randomness: per-step noise and style dropout", "bool")
    sky_correction: bool = _setting(True, "blend the first frame's sky into every frame", "bool")
    skyline_repair: bool = _setting(False, "snap the sky mask's edge to the photo and give crests the depth of the slope below", "bool")
    sky_behind: bool = _setting(False, "continue the sky canvas behind the ground, for the sky a flight uncovers", "bool")
    keep_visible: bool = _setting(False, "keep warped pixels; the refiner paints only the holes", "bool")
    supersample: int = _setting(1, "carry the warped frame at N x the refiner's resolution", "int", low=1, high=MAX_SUPERSAMPLE, metavar="N")
    frame_size: str = _setting("refiner", "size of the frames handed out: the refiner's or the state's", "choice", choices=("refiner", "state"))
    anchor_scale: int = _setting(0, "re-sample what the photo still shows from the photo, at up to N x the state's size (0 = off)", "int", low=0, high=MAX_ANCHOR_SCALE, metavar="N")
    streak_blur: float = _setting(0.0, "filter the photo's colour along the flight so near slopes are not streaks (needs the anchor)", "float", low=0, high=MAX_STREAK_BLUR, metavar="X")
    aerial_perspective: float = _setting(0.0, "far ground sheds the photo's haze as the camera nears it (needs the anchor)", "float", low=0, high=1, metavar="X")
    detail: float = _setting(0.0, "texture where the frame magnifies the photo beyond its pixels (needs the anchor)", "float", low=0, high=MAX_DETAIL, metavar="X")
    detail_texture: str = _setting("noise", "where the detail's texture comes from: the photo's own ground, or noise", "choice", choices=TEXTURES)
    outpaint: bool = _setting(False, "continue the photo all around from its own pixels before the flight (needs the anchor)", "bool")
    sky_layers: bool = _setting(False, "keep sky and ground apart so long flights do not take on the sky's colour", "bool")
    render_backend: str = _setting("torch", "how frames are warped", "choice", choices=RENDER_BACKENDS)
    beta: float = _setting(4.0, "softness of depth edges in the splatting alpha", "float", low=0, low_open=True, metavar="X")
    max_sky_fraction: float = _setting(0.6, "skip a sky blend that would cover more of the frame than this", "float", low=0, high=1, low_open=True, metavar="F")
    canvas_scale: float = _setting(1.5, "width of the sky canvas relative to the view", "float", low=1, metavar="X")
    mean_latent_samples: int = _setting(10_000, "latents averaged for the truncation mean", "int", low=1, metavar="N")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "FlyThroughConfig":
        """Check every field (also after fields were assigned one by one); returns ``self``.

        Raises:
            ValueError: naming the first field out of range, or a departure that
                needs ``anchor_scale`` without it.
        """
        for f in dataclasses.fields(self):
            s: Setting = f.metadata["setting"]
            value = getattr(self, f.name)
            if not s.accepts(value):
                raise ValueError(f"{f.name} must be {s.describe()}, got {value!r}")
        for name, (off, what) in NEEDS_ANCHOR.items():
            if getattr(self, name) != off and not self.anchor_scale:
                raise ValueError(f"{name} needs the photo anchor: set anchor_scale >= 1 too (it {what})")
        return self

    def replace(self, **overrides: Any) -> "FlyThroughConfig":
        """A copy with ``overrides`` applied and checked.

        Raises:
            ValueError: an override names no setting (the message lists them all), or
                a value is out of range.
        """
        names = setting_names()
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the settings are: {', '.join(names)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (what ``save_pretrained`` stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def published(cls) -> "FlyThroughConfig":
        """The release's behaviour for the official checkpoint: per-step noise, style dropout,
        a 50,000-sample truncation mean, the refiner's output everywhere."""
        return cls(mean_latent_samples=50_000, stochastic=True)


def setting_names() -> list[str]:
    """The names of ``FlyThroughConfig``'s fields, in declaration order."""
    return [f.name for f in dataclasses.fields(FlyThroughConfig)]


def parse_setting(text: str) -> tuple[str, Any]:
    """A ``NAME=VALUE`` assignment from a command line, as ``(name, value)``.

    The value is read as JSON (``0``, ``1.5``, ``true``, ``"state"``, ``[1, 2]``), and taken as
    the bare string when it is not JSON (``detail_texture=photo``). The name is not checked
    here; ``FlyThroughConfig.replace`` checks it.

    Raises:
        ValueError: ``text`` has no ``=`` or no name before it.

    Example:
        >>> parse_setting("detail=0.5"), parse_setting("detail_texture=photo")
        (('detail', 0.5), ('detail_texture', 'photo'))
    """
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def settings_from_metadata(stored: dict[str, Any]) -> FlyThroughConfig:
    """The ``FlyThroughConfig`` that weights' stored loop settings ask for.

    Names the loop no longer has are accepted when they hold their "off" value
    (``RETIRED_SETTINGS``); renamed ones are mapped (``RENAMED_SETTINGS``).

    Raises:
        ValueError: a stored setting is unknown, retired but on, or out of range.
    """
    settings = {}
    for key, value in stored.items():
        if key in RETIRED_SETTINGS:
            if value != RETIRED_SETTINGS[key]:
                raise ValueError(f"these weights ask for {key}={value!r}, a setting this version of infinitenature no longer has")
            continue
        settings[RENAMED_SETTINGS.get(key, key)] = value
    return FlyThroughConfig().replace(**settings)
