"""Write ``depth_pairs.json`` from the hand-picked ordinal depth pairs below.

    python data/real_photos/make_pairs.py [--check DIR]

Each pair is ``(nearer_xy, farther_xy, note)`` in pixel coordinates ``(x, y)``
of the stored image (<= 1024 px). The points were read off zoomed grids of each
photo and checked on renders of the pairs (``--check DIR`` draws them: the
nearer point green, the farther red, numbered). A pair is kept only where the
order is certain; points sit well inside a surface, never on sky.

In the JSON the nearer point is stored as ``a`` or ``b`` alternately, so that a
metric cannot score by position in the pair. ``prior_breaking`` is true when
the nearer point lies higher in the image (smaller y) than the farther one,
i.e. when "lower is nearer" gets the pair wrong.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> [((x, y) nearer, (x, y) farther, note), ...]
PAIRS: dict[str, list] = {
    "hills": [
        ((500, 720), (200, 520), "ploughed field vs sunlit hill"),
        ((150, 700), (900, 540), "field vs shaded hill on the right"),
        ((300, 745), (300, 642), "near field vs dark hedge band"),
        ((400, 600), (250, 470), "foot of the sunlit hill vs its upper slope"),
        ((800, 700), (738, 590), "field vs birch trunk"),
        ((100, 580), (860, 485), "foot of the sunlit hill vs top of the far right hill"),
        ((600, 760), (600, 680), "near field vs farther field"),
        ((700, 645), (880, 500), "hedge band vs shaded hill"),
        ((738, 585), (800, 612), "birch trunk vs shaded hill foot behind the trees"),
        ((682, 588), (650, 612), "birch trunk vs shaded hill foot behind the trees"),
        ((922, 595), (980, 612), "lone birch trunk vs hill foot behind it"),
        ((590, 600), (540, 614), "birch trunk vs sunlit hill foot behind it"),
    ],
    "valendas": [
        ((100, 600), (330, 490), "near forest vs far hazy range"),
        ((800, 600), (880, 330), "near forest vs face of the far peak"),
        ((500, 570), (650, 420), "dark middle hill vs hazy range above it"),
        ((950, 520), (700, 420), "near forest vs hazy range"),
        ((300, 650), (200, 530), "lower vs upper part of the near forested slope"),
        ((700, 640), (900, 380), "near forest vs far range below the peak"),
        ((520, 600), (560, 470), "dark middle hill vs hazy layer behind it"),
        ((880, 470), (520, 560), "near forest ridge on the right vs middle hill across the valley"),
        ((150, 520), (480, 560), "near forest ridge on the left vs middle hill across the valley"),
        ((1000, 470), (470, 550), "near forest ridge vs middle hill"),
    ],
    "fog": [
        ((600, 700), (800, 480), "near field vs rising field on the hill"),
        ((300, 620), (300, 490), "field vs hill in the fog"),
        ((900, 620), (900, 300), "field vs forest on the hilltop"),
        ((500, 740), (500, 600), "near field vs farther field"),
        ((700, 580), (600, 330), "field vs treeline"),
        ((100, 545), (400, 450), "foot of the hill vs hill higher up in the fog"),
        ((800, 520), (960, 330), "field on the hill vs forest in the fog above it"),
        ((400, 660), (150, 505), "field vs foot of the hill"),
        ((800, 700), (700, 500), "near field vs rising field on the hill"),
        ((1000, 600), (1000, 450), "field vs field higher on the hill"),
        ((150, 600), (250, 470), "field vs hill in the fog"),
    ],
    "after-the-rain": [
        ((1000, 495), (500, 528), "tree crown vs distant ridge"),
        ((1010, 490), (300, 530), "tree crown vs distant ridge"),
        ((1015, 502), (700, 528), "tree crown vs distant ridge"),
        ((500, 650), (500, 532), "valley floor vs distant ridge"),
        ((200, 660), (800, 535), "valley floor vs distant ridge"),
        ((800, 640), (200, 540), "valley floor vs distant hills"),
        ((100, 600), (400, 532), "valley vs distant ridge"),
        ((600, 670), (600, 560), "near valley floor vs farther valley"),
        ((300, 600), (300, 535), "valley vs distant hills"),
        ((900, 640), (700, 545), "near valley floor vs distant hills"),
    ],
    "beam": [
        ((300, 720), (100, 455), "foreground trees vs far ridge"),
        ((700, 700), (800, 420), "near hillside vs far ridge"),
        ((500, 650), (500, 445), "near hillside vs wooded hill in the mist"),
        ((150, 620), (150, 470), "foreground trees vs hills behind"),
        ((900, 600), (950, 430), "near hillside vs far ridge"),
        ((400, 560), (600, 430), "hillside vs far hill with mist"),
        ((800, 560), (700, 420), "hillside vs far ridge"),
        ((600, 740), (600, 560), "foreground vs hillside"),
        ((25, 500), (250, 520), "foreground tree top vs misty hill behind it"),
        ((120, 530), (300, 545), "foreground tree top vs misty hill behind it"),
        ((40, 480), (200, 500), "foreground tree top vs misty hill behind it"),
    ],
    "by-the-water": [
        ((500, 550), (300, 200), "boardwalk vs lake"),
        ((200, 400), (300, 140), "boardwalk vs far treeline"),
        ((400, 250), (500, 150), "lake vs far treeline"),
        ((800, 600), (800, 300), "near vs farther boardwalk plank"),
        ((300, 450), (100, 230), "boardwalk vs lake"),
        ((700, 230), (995, 60), "lake vs tree on the far shore"),
        ((600, 400), (995, 60), "boardwalk vs tree on the far shore"),
        ((100, 600), (600, 180), "boardwalk vs lake"),
        ((200, 280), (200, 180), "near vs far lake surface"),
        ((950, 500), (500, 330), "near vs farther boardwalk"),
    ],
    "dune": [
        ((436, 150), (450, 255), "grass stalk vs sea"),
        ((526, 150), (580, 250), "grass stalk vs sea"),
        ((673, 150), (710, 250), "grass stalk vs sea"),
        ((818, 180), (960, 255), "grass stalk vs sea"),
        ((330, 180), (170, 250), "grass stalk vs sea"),
        ((898, 180), (980, 340), "grass stalk vs blurred vegetation behind it"),
        ((500, 600), (450, 255), "foreground grass vs sea"),
        ((950, 380), (960, 250), "vegetation vs sea"),
        ((800, 560), (980, 340), "foreground grass vs vegetation behind"),
        ((100, 600), (170, 250), "foreground grass vs sea"),
    ],
    "evening-glow": [
        ((600, 560), (300, 280), "pebbles vs lake"),
        ((120, 450), (200, 280), "boat vs lake"),
        ((800, 500), (600, 380), "pebbles vs boat"),
        ((400, 300), (300, 230), "lake vs far shore trees"),
        ((200, 225), (100, 185), "far shore trees vs mountain"),
        ((717, 266), (850, 205), "post in the lake vs mountain"),
        ((500, 300), (652, 266), "lake vs post"),
        ((985, 200), (820, 212), "tree vs mountain behind it"),
        ((1000, 180), (800, 214), "tree vs mountain behind it"),
        ((970, 185), (810, 210), "tree vs mountain behind it"),
    ],
    "forest-path": [
        ((150, 230), (660, 290), "big near trunk vs far forest floor"),
        ((592, 220), (540, 300), "trunk vs forest floor behind it"),
        ((718, 230), (672, 285), "trunk vs far forest floor"),
        ((895, 250), (800, 330), "trunk vs forest floor behind it"),
        ((80, 250), (200, 305), "big trunk vs forest floor behind it"),
        ((230, 600), (300, 330), "near vs far path"),
        ((600, 550), (560, 310), "near vs far forest floor"),
        ((900, 600), (897, 400), "forest floor vs trunk"),
        ((100, 550), (150, 300), "forest floor vs trunk"),
        ((300, 560), (540, 320), "near vs far forest floor"),
        ((750, 500), (718, 300), "forest floor vs trunk"),
        ((350, 450), (660, 290), "forest floor vs far forest floor"),
    ],
    "storm": [
        ((500, 660), (500, 440), "road vs far field"),
        ((200, 640), (200, 490), "road vs guard rail"),
        ((600, 545), (800, 430), "verge vs far field"),
        ((500, 505), (100, 415), "guard rail vs far treeline"),
        ((900, 670), (900, 540), "road vs verge"),
        ((300, 455), (800, 425), "dark field vs far horizon"),
        ((700, 620), (700, 455), "road vs field"),
        ((100, 670), (300, 440), "road vs far field"),
        ((400, 600), (600, 490), "road vs guard rail"),
        ((800, 600), (800, 505), "road vs guard rail"),
    ],
    "summer-1am": [
        ((300, 600), (300, 450), "near vs far lake"),
        ((500, 560), (730, 418), "lake vs island"),
        ((900, 490), (950, 415), "reeds vs treeline"),
        ((200, 520), (200, 418), "lake vs far shore"),
        ((760, 480), (730, 418), "reeds vs island"),
        ((800, 600), (800, 480), "lake vs reeds"),
        ((100, 470), (100, 414), "lake vs hazy far shore"),
        ((600, 480), (650, 420), "lake with sparse reeds vs island"),
        ((450, 445), (450, 418), "lake vs far shore"),
        ((900, 600), (900, 490), "lake vs reeds"),
    ],
    "cold-ripple": [
        ((500, 600), (500, 420), "near vs far walkway"),
        ((300, 560), (250, 365), "walkway vs front of the pier head"),
        ((700, 520), (473, 300), "walkway vs ladder rail"),
        ((500, 450), (600, 340), "walkway vs pier head deck"),
        ((100, 420), (250, 365), "lake vs front of the pier head"),
        ((950, 420), (780, 365), "lake vs front of the pier head"),
        ((200, 620), (950, 400), "walkway vs lake"),
        ((250, 365), (517, 300), "front of the pier head vs ladder at its back edge"),
        ((850, 600), (600, 400), "near vs far walkway"),
        ((100, 600), (300, 340), "walkway vs top of the pier head"),
        ((900, 560), (700, 340), "walkway vs top of the pier head"),
    ],
    "darkest-hour": [
        ((500, 600), (650, 405), "lake vs island"),
        ((300, 500), (200, 400), "lake vs trees"),
        ((500, 470), (500, 425), "near vs far lake"),
        ((150, 560), (100, 400), "lake vs trees"),
        ((700, 520), (370, 415), "lake vs island"),
        ((850, 520), (900, 405), "lake vs wooded shore on the right"),
        ((300, 600), (300, 470), "near vs far lake"),
        ((550, 520), (550, 440), "near vs far lake"),
        ((200, 600), (650, 470), "near vs far lake"),
        ((800, 470), (740, 408), "lake vs wooded island"),
    ],
    "fallen-leaf": [
        ((700, 330), (180, 130), "maple leaf vs blurred red leaf behind"),
        ((650, 400), (500, 40), "maple leaf vs background"),
        ((200, 380), (300, 60), "blurred leaves vs background"),
        ((800, 300), (900, 80), "maple leaf vs background"),
        ((100, 560), (100, 250), "near vs far leaves"),
        ((500, 500), (500, 150), "near vs far leaves"),
        ((900, 560), (900, 200), "near blurred leaves vs background"),
        ((350, 450), (350, 100), "leaves vs background"),
    ],
    "one-stands-out": [
        # seen from above: the centre of a moss shoot is nearer than the bare soil next to it
        ((350, 542), (420, 565), "moss shoot vs bare soil beside it, seen from above"),
        ((530, 465), (500, 545), "moss shoot vs bare soil below it, seen from above"),
        ((580, 467), (600, 540), "moss shoot vs bare soil, seen from above"),
        ((690, 505), (640, 570), "moss shoot vs bare soil, seen from above"),
        ((465, 482), (440, 580), "small moss shoot vs bare soil, seen from above"),
        ((735, 592), (640, 600), "moss shoot vs bare soil, seen from above"),
        ((645, 460), (620, 530), "withered moss shoot vs bare soil, seen from above"),
        ((765, 468), (655, 612), "moss shoot vs bare soil, seen from above"),
        ((355, 437), (400, 520), "moss shoot vs bare soil, seen from above"),
    ],
    "flowers": [
        ((620, 255), (500, 50), "flower vs meadow background"),
        ((810, 295), (850, 60), "flower vs meadow background"),
        ((560, 600), (615, 345), "blurred foreground flowers vs flower in focus"),
        ((300, 620), (620, 255), "foreground vs flower in focus"),
        ((800, 560), (200, 60), "foreground vs background"),
        ((770, 245), (700, 40), "flower vs meadow background"),
        ((150, 640), (150, 80), "foreground vs background"),
        ((450, 660), (800, 100), "foreground vs background"),
        ((615, 345), (600, 60), "flower vs meadow background"),
    ],
    "green-meadow": [
        ((500, 780), (500, 80), "near blades vs blurred background"),
        ((200, 700), (300, 60), "near blades vs background"),
        ((800, 650), (700, 100), "blades vs background"),
        ((450, 500), (450, 80), "blades in focus vs background"),
        ((100, 780), (900, 50), "near blades vs background"),
        ((300, 500), (300, 150), "blades vs blurred background"),
        ((700, 780), (600, 200), "near blades vs background"),
    ],
    "sea-sunset": [
        ((300, 620), (300, 450), "near wave vs farther wave"),
        ((500, 600), (700, 340), "near water vs far water under the sun"),
        ((800, 640), (800, 470), "near water vs farther water"),
        ((150, 640), (400, 340), "near water vs far water"),
        ((600, 560), (600, 430), "near water vs wave farther out"),
    ],
    "lake-sherburne": [
        ((720, 300), (950, 330), "near mountain vs far range behind its ridge"),
        ((760, 340), (900, 350), "near mountain vs far range behind its ridge"),
        ((700, 260), (1000, 320), "near mountain vs far range behind its ridge"),
        ((500, 540), (500, 410), "lake vs forest on the far shore"),
        ((150, 370), (330, 250), "forested slope vs mountain behind it"),
        ((200, 520), (200, 455), "near vs far lake"),
    ],
    "desert-hike": [
        ((820, 590), (950, 617), "shaded dune slope vs far dune behind it"),
        ((700, 560), (990, 638), "shaded dune slope vs far dune behind it"),
        ((880, 650), (960, 620), "shaded dune slope vs far dune behind it"),
        ((300, 650), (340, 380), "front spur vs upper slope of the main dune"),
        ((450, 470), (350, 380), "sunlit dune face vs its upper slope"),
    ],
    "canyon-wren": [
        ((960, 230), (770, 400), "defocused right rock vs big rock it hides"),
        ((940, 330), (720, 420), "defocused right rock vs big rock it hides"),
        ((985, 205), (408, 225), "right rock vs bird behind the big rock"),
        ((900, 480), (700, 500), "defocused right rock vs big rock it hides"),
        ((450, 330), (410, 215), "big rock vs bird half hidden behind it"),
        ((300, 400), (420, 160), "big rock vs bird behind it"),
    ],
    "colosseum": [
        ((130, 140), (630, 470), "near upper wall vs receding lower wall on the right"),
        ((345, 300), (560, 510), "pillar vs receding lower wall"),
        ((60, 430), (600, 420), "near wall vs receding wall"),
        ((140, 250), (600, 300), "near wall vs receding wall"),
        ((100, 520), (620, 530), "near wall vs receding wall"),
    ],
    "osprey": [
        ((420, 260), (560, 450), "osprey vs blurred hillside"),
        ((410, 160), (520, 250), "osprey head vs blurred hillside"),
        ((340, 300), (500, 330), "osprey wing vs blurred hillside"),
        ((850, 358), (600, 470), "dead branch vs blurred hillside"),
        ((345, 440), (560, 540), "osprey tail vs blurred hillside"),
        ((400, 300), (520, 300), "osprey vs blurred hillside"),
    ],
    "ladybird": [
        ((720, 310), (680, 460), "ladybird vs blurred flower below"),
        ((640, 335), (650, 450), "stem vs blurred flower below"),
        ((560, 304), (560, 420), "stem vs blurred background"),
        ((760, 387), (700, 560), "stem vs blurred flower"),
        ((940, 470), (830, 530), "leaf vs blurred flower"),
    ],
}


def build() -> dict:
    """The pairs as stored in depth_pairs.json: ``{name: [{"a", "b", "nearer", "prior_breaking", "note"}, ...]}``."""
    out = {}
    for name in sorted(PAIRS):
        rows = []
        for i, (near, far, note) in enumerate(PAIRS[name]):
            a, b, nearer = (near, far, "a") if i % 2 == 0 else (far, near, "b")
            rows.append({
                "a": [int(a[0]), int(a[1])],
                "b": [int(b[0]), int(b[1])],
                "nearer": nearer,
                "prior_breaking": bool(near[1] < far[1]),
                "note": note,
            })
        out[name] = rows
    return out


def render(name: str, rows: list, path: Path) -> None:
    """Draw the pairs of one photo: nearer point green, farther red, pair number at the nearer point."""
    from PIL import Image, ImageDraw

    im = Image.open(HERE / "images" / f"{name}.jpg").convert("RGB")
    d = ImageDraw.Draw(im)
    for k, r in enumerate(rows):
        near = r[r["nearer"]]
        far = r["b" if r["nearer"] == "a" else "a"]
        colour = (255, 0, 255) if r["prior_breaking"] else (255, 255, 0)
        d.line([tuple(near), tuple(far)], fill=colour, width=1)
        for p, c in ((near, (0, 255, 0)), (far, (255, 0, 0))):
            d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], outline=c, width=2)
        d.text((near[0] + 5, near[1] - 5), str(k), fill=(255, 255, 255))
    im.save(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", type=Path, default=None, help="write pair renders here")
    args = p.parse_args(argv)
    data = build()
    (HERE / "depth_pairs.json").write_text(json.dumps(data, indent=1) + "\n")
    total = sum(len(v) for v in data.values())
    pb = sum(r["prior_breaking"] for v in data.values() for r in v)
    print(f"{len(data)} photos, {total} pairs, {pb} prior-breaking")
    if args.check:
        args.check.mkdir(parents=True, exist_ok=True)
        for name, rows in data.items():
            render(name, rows, args.check / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
