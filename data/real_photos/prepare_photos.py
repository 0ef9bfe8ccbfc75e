"""Rebuild ``images/`` from the original files.

    python data/real_photos/prepare_photos.py --shared ../shared/data/photos --debs /tmp/debs

``--debs`` is a folder holding the Debian packages unpacked with
``dpkg-deb -x PKG.deb DIR`` into ``DIR = x_<package name>`` (see LICENSES.md for
the package versions; gnome-backgrounds 3.38.0-1 of Debian 11 goes to
``x_gnome-backgrounds-3.38``). Every photo is converted to RGB, downscaled with
Lanczos to at most 1024 px on its long side and stored as JPEG quality 90.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
LONG_SIDE = 1024

#: Photos taken from the shared photo folder (already credited there), by name.
SHARED = [
    "hills", "valendas", "fog", "after-the-rain", "beam", "by-the-water",
    "dune", "evening-glow", "forest-path", "storm", "summer-1am",
]

#: name -> path inside the unpacked packages folder.
PACKAGED = {
    "cold-ripple": "x_plasma-workspace-wallpapers/usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg",
    "darkest-hour": "x_plasma-workspace-wallpapers/usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg",
    "kite": "x_plasma-workspace-wallpapers/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg",
    "fallen-leaf": "x_plasma-workspace-wallpapers/usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg",
    "one-stands-out": "x_plasma-workspace-wallpapers/usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg",
    "green-meadow": "x_mate-backgrounds/usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
    "cloud": "x_lxqt-themes/usr/share/lxqt/wallpapers/cloud.png",
    "flowers": "x_lxqt-themes/usr/share/lxqt/wallpapers/flowers.png",
    "drop": "x_lxqt-themes/usr/share/lxqt/wallpapers/drop.png",
    "sea-sunset": "x_gnome-backgrounds-3.38/usr/share/backgrounds/gnome/SeaSunset.jpg",
    "snowy-forest-aerial": "x_gnome-backgrounds-3.38/usr/share/backgrounds/gnome/ColdWarm.jpg",
    "forest-road-aerial": "x_gnome-backgrounds-3.38/usr/share/backgrounds/gnome/Road.jpg",
    "lake-sherburne": "x_budgie-backgrounds/usr/share/backgrounds/budgie/lake-sherburne.jpg",
    "desert-hike": "x_budgie-backgrounds/usr/share/backgrounds/budgie/extreme-desert-hike.jpg",
    "canyon-wren": "x_budgie-backgrounds/usr/share/backgrounds/budgie/canyon-wren.jpg",
    "colosseum": "x_budgie-backgrounds/usr/share/backgrounds/budgie/roman-colosseum.jpg",
    "periwinkle": "x_budgie-backgrounds/usr/share/backgrounds/budgie/blue-periwinkle.jpg",
    "osprey": "x_budgie-backgrounds/usr/share/backgrounds/budgie/perched-osprey.jpg",
    "ladybird": "x_mate-backgrounds/usr/share/backgrounds/mate/nature/LadyBird.jpg",
}


def store(src: Path, name: str) -> Path:
    """Downscale ``src`` to at most 1024 px on the long side; write ``images/NAME.jpg`` (q90)."""
    im = Image.open(src).convert("RGB")
    scale = LONG_SIDE / max(im.size)
    if scale < 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    out = HERE / "images" / f"{name}.jpg"
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out, quality=90)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=HERE.parents[2] / "shared" / "data" / "photos")
    p.add_argument("--debs", type=Path, default=Path("/tmp/debs"))
    args = p.parse_args(argv)
    for name in SHARED:
        out = store(args.shared / f"{name}.jpg", name)
        print(out.name, Image.open(out).size)
    for name, rel in PACKAGED.items():
        out = store(args.debs / rel, name)
        print(out.name, Image.open(out).size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
