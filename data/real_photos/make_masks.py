"""Regenerate the hand-checked sky masks in ``sky/`` (and their check overlays).

    python data/real_photos/make_masks.py [NAME ...] [--overlays DIR]

Each mask is made semi-automatically, then corrected by hand:

1. ``sky_above``: a polyline ``[(x, y), ...]`` (pixel coordinates of the stored
   image); everything above it is sky for certain.
2. ``ground_below``: a polyline below which nothing is sky.
3. Between the two lines a per-photo colour rule ``rule(f)`` decides, where
   ``f`` holds float arrays ``r, g, b, lum`` in ``[0, 1]`` and the column-wise
   sky reference ``ref_*`` (the median colour of the sure-sky pixels just above
   the band in each column). With ``connected=True`` only rule pixels that
   connect to the sure sky count (a flood from the sky); with ``False`` isolated
   gaps (sky through branches) count too.
4. ``fixes``: hand-drawn polygons ``(value, [(x, y), ...])`` applied in order:
   255 sky, 0 not sky, 128 uncertain (ignored by the metric).

A photo whose entry is ``None`` has no sky (an all-zero mask). Every mask was checked
by eye at full size on its overlay (sky tinted, boundary drawn in yellow,
uncertain pixels in magenta) and on zoomed tiles of its boundary.

Mask files are 8-bit greyscale PNGs of the image's size with values in
``{0, 128, 255}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

HERE = Path(__file__).resolve().parent
SKY, UNSURE, GROUND = 255, 128, 0


def _line_rows(poly, width: int) -> np.ndarray:
    """y of a polyline ``[(x, y), ...]`` at every column ``0..width-1`` (linear, clamped ends)."""
    xs = np.array([p[0] for p in poly], float)
    ys = np.array([p[1] for p in poly], float)
    return np.interp(np.arange(width), xs, ys)


def _polygon(shape, pts) -> np.ndarray:
    im = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(im).polygon([tuple(map(float, p)) for p in pts], fill=1, outline=1)
    return np.asarray(im, bool)


def _features(rgb: np.ndarray, top: np.ndarray) -> dict:
    r, g, b = (rgb[..., i] for i in range(3))
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    f = {"r": r, "g": g, "b": b, "lum": lum}
    h, w = lum.shape
    rows = np.arange(h)[:, None]
    for name, ch in (("r", r), ("g", g), ("b", b), ("lum", lum)):
        # reference: median of the 12 sure-sky rows just above the band, per column
        ref = np.empty(w)
        for x in range(w):
            y1 = int(max(1, min(h, top[x])))
            ref[x] = np.median(ch[max(0, y1 - 12) : y1, x])
        ref = ndimage.uniform_filter1d(ref, 31, mode="nearest")
        f["ref_" + name] = np.broadcast_to(ref[None, :], (h, w))
    f["y"] = np.broadcast_to(rows, (h, w)).astype(float)
    f["x"] = np.broadcast_to(np.arange(w)[None, :], (h, w)).astype(float)
    return f


def snap_ridge(rgb: np.ndarray, ridge, radius: int = 8, max_step: int = 3, sign: int = 1,
               smooth: float = 0.004) -> np.ndarray:
    """Snap a hand-traced skyline to the strongest vertical edge nearby.

    Dynamic programming over columns: in each column the boundary row lies
    within ``radius`` px of the traced polyline ``ridge``; it moves at most
    ``max_step`` rows between neighbouring columns, with a small penalty
    ``smooth`` per row moved. ``sign=1`` looks for sky brighter than the ground
    below it, ``-1`` darker, ``0`` either. Returns the first non-sky row per
    column, float ``(W,)``.
    """
    h, w = rgb.shape[:2]
    lum = ndimage.gaussian_filter(rgb.mean(-1), 0.8)
    grad = np.zeros_like(lum)
    grad[1:-1] = lum[:-2] - lum[2:]  # above minus below, centred on each row
    if sign == 0:
        grad = np.abs(grad)
    else:
        grad = grad * sign
    guide = _line_rows(ridge, w)
    offs = np.arange(-radius, radius + 1)
    rows = np.clip(np.round(guide)[None, :] + offs[:, None], 1, h - 2).astype(int)  # (K, W)
    cost = -grad[rows, np.arange(w)[None, :]]  # (K, W)
    k = len(offs)
    acc = cost[:, 0].copy()
    back = np.zeros((k, w), int)
    for x in range(1, w):
        best = np.full(k, np.inf)
        arg = np.zeros(k, int)
        for j in range(k):
            lo, hi = max(0, j - max_step), min(k, j + max_step + 1)
            cand = acc[lo:hi] + smooth * np.abs(rows[lo:hi, x - 1] - rows[j, x])
            i = int(np.argmin(cand))
            best[j], arg[j] = cand[i], lo + i
        acc = best + cost[:, x]
        back[:, x] = arg
    path = np.zeros(w, int)
    path[-1] = int(np.argmin(acc))
    for x in range(w - 1, 0, -1):
        path[x - 1] = back[path[x], x]
    return rows[path, np.arange(w)].astype(float)


def refine_two_class(rgb: np.ndarray, line: np.ndarray, radius: int, channels: str = "lum") -> np.ndarray:
    """Re-decide the pixels within ``radius`` rows of a snapped skyline.

    Each pixel in the band goes to the class (sky above / ground below) whose
    local colour it is nearer to: references are per-column medians of rows
    ``line-14..line-3`` (sky) and ``line+10..line+30`` (ground), smoothed over
    31 columns. Only band pixels that connect to the sky above count. This
    recovers the notches and steep flanks the smooth snapped line cuts across.
    """
    h, w = rgb.shape[:2]
    if channels == "lum":
        feat = ndimage.gaussian_filter(rgb.mean(-1), 0.7)[..., None]
    else:
        feat = np.stack([ndimage.gaussian_filter(rgb[..., i], 0.7) for i in range(3)], -1)
    li = np.round(line).astype(int)
    sky_ref = np.empty((w, feat.shape[-1]))
    gnd_ref = np.empty((w, feat.shape[-1]))
    for x in range(w):
        a = feat[max(0, li[x] - 14) : max(1, li[x] - 3), x]
        b = feat[min(h - 1, li[x] + 10) : min(h, li[x] + 30), x]
        sky_ref[x] = np.median(a, 0)
        gnd_ref[x] = np.median(b, 0) if len(b) else sky_ref[x] - 1
    sky_ref = ndimage.uniform_filter1d(sky_ref, 31, axis=0, mode="nearest")
    gnd_ref = ndimage.uniform_filter1d(gnd_ref, 31, axis=0, mode="nearest")
    ds = np.linalg.norm(feat - sky_ref[None], axis=-1)
    dg = np.linalg.norm(feat - gnd_ref[None], axis=-1)
    rows = np.arange(h)[:, None]
    sure = rows < (line - radius)[None, :]
    band = (np.abs(rows - line[None, :]) <= radius)
    cand = band & (ds < dg)
    lab, _ = ndimage.label(cand | sure)
    keep = np.unique(lab[sure])
    return sure | (np.isin(lab, keep[keep > 0]) & band)


def make_mask(rgb: np.ndarray, spec: dict | None) -> np.ndarray:
    """Sky mask ``(H, W)`` uint8 in {0, 128, 255} for ``rgb (H, W, 3)`` float in [0, 1]."""
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    if spec is None:
        return mask
    rows = np.arange(h)[:, None]
    sky = np.zeros((h, w), bool)
    if "ridge" in spec:
        line = snap_ridge(rgb, spec["ridge"], **spec.get("snap", {}))
        sky |= rows < line[None, :]
        if spec.get("refine", 0):
            refined = refine_two_class(rgb, line, spec["refine"], spec.get("channels", "lum"))
            for x0, x1 in spec.get("refine_cols", [(0, w)]):
                sky[:, x0:x1] = refined[:, x0:x1]
    if "sky_above" in spec:
        top = _line_rows(spec["sky_above"], w)
        bottom = _line_rows(spec.get("ground_below", [(0, h), (w, h)]), w)
        sure = rows < top[None, :]
        band = (rows >= top[None, :]) & (rows < bottom[None, :])
        sky |= sure
        if "rule" in spec:
            cand = band & spec["rule"](_features(rgb, top))
            if spec.get("open", 0):
                cand = ndimage.binary_opening(cand, iterations=spec["open"])
            if spec.get("connected", True):
                lab, _ = ndimage.label(cand | sure)
                keep = np.unique(lab[sure])
                cand = np.isin(lab, keep[keep > 0]) & band
            sky |= cand
    for poly, rule in spec.get("regions", []):
        # inside a hand-drawn polygon a colour rule decides (sky through branches)
        inside = _polygon((h, w), poly)
        f = _features(rgb, np.zeros(w))
        sky = np.where(inside, rule(f), sky)
    if spec.get("fill_holes", True):
        # tiny enclosed non-sky specks inside the sky are noise
        holes = ndimage.binary_fill_holes(sky) & ~sky
        lab, n = ndimage.label(holes)
        if n:
            sizes = ndimage.sum(holes, lab, range(1, n + 1))
            sky |= np.isin(lab, 1 + np.flatnonzero(sizes < spec.get("min_hole", 12)))
    mask[sky] = SKY
    for item in spec.get("unsure", []):
        # undecidable pixels (fog merging into sky): a polygon (its non-sky
        # pixels) or a polygon and a colour rule (all pixels the rule selects)
        if isinstance(item, tuple):
            poly, rule, *where = item
            sel = _polygon((h, w), poly) & rule(_features(rgb, np.zeros(w)))
            if where == ["sky"]:
                sel &= sky  # only pixels the steps above call sky (thin twigs against it)
            mask[sel] = UNSURE
        else:
            mask[_polygon((h, w), item) & ~sky] = UNSURE
    for value, pts in spec.get("fixes", []):
        mask[_polygon((h, w), pts)] = value
    return mask


# --------------------------------------------------------------------------
# Per-photo specifications (coordinates in the stored <=1024 px image).
# A photo whose entry is None has no sky (an all-zero mask).
# --------------------------------------------------------------------------

def _shift(poly, dy):
    return [(x, y + dy) for x, y in poly]


# ridge of the farthest hazy range in valendas, traced on 2x zooms
_VALENDAS_RIDGE = [
    (0, 466), (32, 475), (64, 482), (96, 487), (128, 494), (150, 494), (167, 496), (183, 492),
    (200, 491), (217, 488), (233, 485), (250, 482), (267, 477), (280, 470), (293, 469), (320, 468), (340, 462), (356, 450), (384, 450), (430, 440),
    (490, 436), (540, 440), (600, 410), (655, 377), (690, 380), (710, 370), (740, 365),
    (800, 348), (850, 318), (880, 288), (925, 318), (980, 312), (1024, 330),
]

_FOG_LEFT = [(0, 300), (300, 300), (470, 328), (470, 345), (440, 360), (350, 410), (250, 440), (150, 470), (0, 480)]

def _dune_sky(f):
    """Light-blue sky pixels (not on a grass stalk) in dune.jpg."""
    blue = f["b"] - f["r"]
    med = ndimage.median_filter(f["lum"], 15)
    # sky has blue - red ~ 0.25, the stalks ~ -0.3: a pixel is mostly sky above ~0.05
    return (blue > 0.05) & (f["lum"] > med - 0.08)


def _dune_mixed(f):
    """Half-sky pixels on the edges of thin, defocused stalks in dune.jpg."""
    blue = f["b"] - f["r"]
    med = ndimage.median_filter(f["lum"], 15)
    return ~_dune_sky(f) & (blue > -0.05) & (f["lum"] > med - 0.14)


_DUNE_SKY = [(0, 0), (1024, 0), (1024, 199), (0, 199)]  # the sea's horizon is straight at y = 199

def _forest_sky(f):
    """Bright, colourless pixels: the sky seen through the canopy of forest-path.jpg."""
    mx = np.maximum(np.maximum(f["r"], f["g"]), f["b"])
    mn = np.minimum(np.minimum(f["r"], f["g"]), f["b"])
    return (f["lum"] > 0.58) & (mx - mn < 0.15)


def _forest_mixed(f):
    """Half-bright, colourless pixels next to canopy sky: twigs against the sky."""
    mx = np.maximum(np.maximum(f["r"], f["g"]), f["b"])
    mn = np.minimum(np.minimum(f["r"], f["g"]), f["b"])
    near = ndimage.binary_dilation(_forest_sky(f), iterations=2)
    return near & ~_forest_sky(f) & (f["lum"] > 0.4) & (mx - mn < 0.2)


_FOREST_TOP = [(0, 0), (1024, 0), (1024, 200), (0, 200)]  # no sky shows lower than y ~ 160

_CLOUD_CORNER = [(930, 768), (1024, 690), (1024, 768)]

def _sunset_frac(f):
    """sea-sunset: red minus blue relative to the sky just above the sea (rows 228-240) in each column."""
    d = ndimage.gaussian_filter(f["r"] - f["b"], 1.5)
    ref = ndimage.uniform_filter1d(np.median(d[228:240], 0), 31, mode="nearest")
    return d / np.maximum(ref, 0.05)[None, :]


def _sunset_cross(f):
    """sea-sunset: per column, the first row below y = 240 where the sky keeps less than half its colour
    (median over 21 columns: the blurred crests have no sharper detail)."""
    below = _sunset_frac(f) < 0.5
    below[:240] = False
    return ndimage.median_filter(np.argmax(below, 0), 21, mode="nearest")[None, :]


def _sunset_fade(f):
    """sea-sunset: the defocused fade around that row (6 px above to 12 px below) that is neither sky nor sea."""
    c, frac, y = _sunset_cross(f), _sunset_frac(f), f["y"]
    return (y >= c - 6) & (y <= c + 12) & (frac > 0.25) & (frac < 0.75)


_SEA_BAND = [(0, 240), (1024, 240), (1024, 340), (0, 340)]

# skyline of lake-sherburne, traced on 2x zooms
_SHERBURNE_RIDGE = [(0, 104), (20, 106), (30, 110), (40, 115), (50, 125), (55, 140), (80, 148), (100, 143),
               (120, 168), (128, 173), (140, 185), (150, 195), (170, 200), (190, 205), (198, 214),
               (205, 208), (220, 190), (240, 178), (260, 168), (280, 160), (300, 148), (320, 140),
               (340, 148), (360, 150), (380, 165), (400, 180), (420, 195), (440, 205), (460, 212),
               (480, 208), (500, 203), (520, 200), (540, 205), (560, 222), (575, 225), (600, 225),
               (620, 230), (640, 225), (660, 218), (690, 214), (720, 225), (740, 245), (760, 270),
               (780, 280), (800, 275), (840, 278), (860, 292), (870, 298), (885, 290), (900, 300),
               (920, 318), (940, 305), (960, 300), (980, 304), (1000, 310), (1024, 318)]


def _sherburne_sky(f):
    """lake-sherburne: blue, bright pixels (sky, cloud), not neutral snow nor shaded rock."""
    br = ndimage.gaussian_filter(f["b"] - f["r"], 0.7)
    lum = ndimage.gaussian_filter(f["lum"], 0.7)
    return (br > 0.105) & (br > 0.6 * (f["ref_b"] - f["ref_r"])) & (lum > 0.6)


def _desert_br(f):
    """desert-hike: blue minus red, lightly smoothed (sky 0.06-0.27, blown dust -0.15-0.12, sand <= -0.4)."""
    return ndimage.gaussian_filter(f["b"] - f["r"], 0.7)


# the sand blown off the dune's crest, in front of the sky
_DESERT_PLUME = [(300, 290), (420, 280), (560, 300), (640, 380), (660, 470), (560, 450), (420, 370),
                 (300, 350)]

def _wren_br(f):
    """canyon-wren: blue minus red over ~3 px (overcast sky 0.03-0.11, rock and bird -0.08 to -0.22)."""
    return ndimage.gaussian_filter(f["b"] - f["r"], 1.5)


def _wren_fade(f):
    """canyon-wren: half-tone pixels within 4 px of the sky's edge (the sky: bluish pixels joined to the top)."""
    br = _wren_br(f)
    lab, _ = ndimage.label(br > -0.035)
    sky = np.isin(lab, np.unique(lab[0][lab[0] > 0]))
    near = ndimage.binary_dilation(sky, iterations=4) & ~ndimage.binary_erosion(sky, iterations=4)
    return near & (br > -0.065) & (br < -0.005)


def _colosseum_sky(f):
    """colosseum: bright, blue pixels (sky lum >= 0.35, blue minus red >= 0.17); shaded stone is dark (lum <= 0.22), lit stone warm."""
    lum = ndimage.gaussian_filter(f["lum"], 0.7)
    br = ndimage.gaussian_filter(f["b"] - f["r"], 0.7)
    return ((lum > 0.3) & (br > 0.1)) | ((lum > 0.55) & (br > -0.02))


# where sky can be: right of the wall (its edge lies 20-30 px further right) and the top storey's arches
_COLOSSEUM_SKY = [(520, 0), (1024, 0), (1024, 576), (680, 576), (665, 500), (640, 400), (620, 300),
                  (595, 200), (570, 100)]
_COLOSSEUM_ARCHES = [[(190, 0), (310, 0), (310, 105), (190, 105)], [(350, 70), (415, 70), (415, 160), (350, 160)],
                     [(462, 165), (488, 165), (488, 225), (462, 225)]]


SPECS: dict[str, dict | None] = {
    "forest-path": dict(
        # sky only in small gaps of the canopy
        regions=[(_FOREST_TOP, _forest_sky)],
        unsure=[(_FOREST_TOP, _forest_mixed)],
        fill_holes=False,
    ),
    "kite": dict(
        # all sky but the kite (polygon traced on an 8x zoom); its sub-pixel line counts as sky
        sky_above=[(0, 9999), (1024, 9999)],
        fixes=[(GROUND, [(662, 195), (693, 201), (712, 207), (730, 213), (718, 216), (706, 222),
                         (697, 232), (693, 236), (688, 239), (678, 243), (672, 250), (666, 259),
                         (663, 261), (660, 255), (660, 240), (661, 215)])],
    ),
    "cloud": dict(
        # all sky (altocumulus) but a defocused dark object in the bottom-right corner
        sky_above=[(0, 9999), (1024, 9999)],
        regions=[(_CLOUD_CORNER, lambda f: ndimage.gaussian_filter(f["lum"], 1) > 0.4)],
        unsure=[(_CLOUD_CORNER, lambda f: (ndimage.gaussian_filter(f["lum"], 1) > 0.25)
                 & (ndimage.gaussian_filter(f["lum"], 1) < 0.5))],
    ),
    "darkest-hour": dict(
        # wooded islands in fog at blue hour; the lake mirrors the sky. On the
        # right a near, dark shore fades into fog over ~20 px: that fade is
        # uncertain, as is the foggy water line in the gap between the islands.
        ridge=[(0, 392), (30, 390), (64, 392), (128, 393), (160, 390), (192, 393), (230, 395),
               (260, 400), (300, 405), (330, 398), (350, 393), (380, 398), (420, 402), (440, 412),
               (460, 416), (600, 416), (605, 400), (620, 395), (650, 392), (690, 397), (700, 405),
               (720, 410), (730, 395), (760, 388), (780, 385), (820, 372), (870, 360), (920, 348),
               (970, 336), (1024, 325)],
        snap=dict(radius=8, max_step=3),
        refine=8,
        channels="rgb",
        refine_cols=[(0, 780)],
        unsure=[[(450, 404), (600, 404), (600, 418), (450, 418)],
                [(780, 372), (820, 358), (870, 346), (920, 334), (970, 322), (1024, 311), (1024, 340),
                 (970, 350), (920, 362), (870, 374), (820, 386), (780, 398)]],
    ),
    "cold-ripple": dict(
        # A pier in fog: sky and lake fade into one grey with no visible horizon.
        # The pier's edges converge at y ~ 265 (the horizon of a level pier on a
        # flat lake); above y = 240 is sky, 240..290 uncertain, below is lake.
        # The ladder rails (dark) are not sky.
        sky_above=[(0, 240), (1024, 240)],
        unsure=[[(0, 240), (1024, 240), (1024, 290), (0, 290)]],
        fixes=[(GROUND, [(469, 260), (477, 260), (477, 330), (469, 330)]),
               (GROUND, [(514, 260), (521, 260), (521, 330), (514, 330)])],
    ),
    "summer-1am": dict(
        # a faint, hazy far shore (x < 700) and wooded islands under a dawn sky;
        # the lake below mirrors the sky and is not sky
        # (x < 300: the top of a very faint far range, seen on a contrast-stretched 4x zoom)
        ridge=[(0, 404), (20, 402), (40, 404), (55, 401), (70, 403), (90, 405), (115, 404),
               (130, 406), (160, 407), (200, 407), (230, 407), (260, 408), (300, 411), (350, 413),
               (400, 413), (450, 411), (500, 411), (545, 414), (600, 413), (700, 411), (760, 410), (800, 410), (850, 405), (900, 400), (960, 398), (1000, 395),
               (1024, 392)],
        snap=dict(radius=4, max_step=2),
        refine=8,
        refine_cols=[(690, 1024)],
    ),
    "storm": dict(
        # a motion-blurred field edge under a storm sky
        ridge=[(0, 405), (100, 406), (200, 410), (300, 415), (400, 418), (500, 420), (600, 421),
               (700, 420), (800, 418), (900, 418), (1024, 417)],
        snap=dict(radius=8, max_step=2),
        refine=8,
        channels="rgb",
    ),
    "evening-glow": dict(
        ridge=[(0, 182), (30, 182), (64, 178), (96, 174), (112, 171), (128, 174), (160, 183),
               (190, 190), (230, 195), (260, 200), (288, 205), (320, 208), (340, 205), (380, 204),
               (416, 203), (440, 204), (470, 206), (500, 210), (540, 210), (600, 212), (680, 212),
               (760, 212), (770, 210), (800, 195), (830, 190), (860, 192), (880, 185), (900, 175),
               (930, 165), (960, 158), (990, 152), (1010, 150), (1024, 150)],
        snap=dict(radius=10, max_step=3),
        refine=10,
        channels="rgb",
        # thin bare twigs against the sky at the top right: darker than the sky around them
        unsure=[([(955, 118), (1024, 112), (1024, 150), (955, 160)],
                 lambda f: f["lum"] < ndimage.median_filter(f["lum"], 9) - 0.03, "sky")],
    ),
    "dune": dict(
        regions=[(_DUNE_SKY, _dune_sky)],
        unsure=[(_DUNE_SKY, _dune_mixed)],
        min_hole=4,
    ),
    "by-the-water": dict(
        # blurred dark-blue treeline and a tree (top right) against a cream sky:
        # the red channel separates them (sky >= 0.3, trees <= 0.15); the
        # boundary is put where a pixel is more sky than tree
        sky_above=[(0, 85), (900, 85), (920, 0), (1024, 0)],
        ground_below=[(0, 160), (512, 155), (1024, 152)],
        rule=lambda f: ndimage.gaussian_filter(f["r"], 1) > 0.25,
        connected=False,
        open=1,
        # the defocused tree at the top right fades into a dark sky over tens of
        # pixels: its half-tones are uncertain
        unsure=[([(930, 0), (1024, 0), (1024, 150), (965, 150), (895, 110), (895, 30)],
                 lambda f: (ndimage.gaussian_filter(f["r"], 1) > 0.13) & (ndimage.gaussian_filter(f["r"], 1) < 0.32))],
    ),
    "beam": dict(
        ridge=[(0, 440), (30, 437), (60, 432), (75, 428), (100, 433), (128, 437), (150, 428),
               (165, 427), (180, 433), (200, 420), (224, 415), (256, 418), (288, 425), (310, 428),
               (330, 430), (340, 453), (360, 450), (380, 444), (400, 437), (420, 438), (440, 432),
               (460, 428), (480, 425), (500, 424), (520, 420), (540, 417), (552, 414), (576, 410),
               (600, 408), (616, 404), (648, 402), (680, 398), (704, 392), (736, 395), (768, 393),
               (790, 398), (820, 405), (850, 410), (880, 413), (928, 410), (960, 413), (992, 418),
               (1024, 420)],
        snap=dict(radius=5, max_step=3),
        refine=10,
        refine_cols=[(0, 285), (720, 1024)],
        # the sunlit mist rising from the valley (x 300-550) above the near hill:
        # cloud or ground fog in front of hidden hills, undecidable
        unsure=[([(300, 395), (550, 395), (552, 414), (520, 420), (480, 425), (440, 432), (400, 437),
                  (380, 444), (360, 450), (340, 453), (300, 445)],
                 lambda f: ndimage.gaussian_filter(f["lum"], 1) > 0.63)],
    ),
    "after-the-rain": dict(
        # black hills and a tree against a sunset sky: sky lum >= 0.15, ground <= 0.05;
        # sky seen through the tree's crown counts (connected=False)
        sky_above=[(0, 495), (900, 495), (915, 440), (1024, 440)],
        ground_below=[(0, 532), (1024, 532)],
        rule=lambda f: f["lum"] > 0.09,
        connected=False,
    ),
    "fog": dict(
        # right: the treeline on the hilltop against a blue sky
        ridge=[(465, 345), (480, 338), (500, 332), (540, 325), (580, 318), (610, 315), (640, 312),
               (680, 300), (704, 298), (720, 300), (760, 290), (800, 285), (830, 275), (860, 268),
               (880, 262), (930, 258), (960, 255), (990, 248), (1024, 242)],
        snap=dict(radius=10, max_step=3),
        refine=10,
        channels="rgb",
        # left: the hill is hidden in a fog bank that fades into the sky. Clear
        # blue (blue minus red > 0.13, smoothed over ~3 px) is sky; the rest of
        # the fog above the faintly visible hill is uncertain.
        regions=[(_FOG_LEFT, lambda f: ndimage.gaussian_filter(f["b"] - f["r"], 3) > 0.13)],
        unsure=[_FOG_LEFT],
    ),
    "valendas": dict(
        ridge=_VALENDAS_RIDGE,
        snap=dict(radius=8, max_step=3),
        refine=12,
        refine_cols=[(290, 1024)],  # left of it the faint far range is too close to the sky's grey
    ),
    "hills": dict(
        sky_above=[(0, 425), (1024, 425)],
        ground_below=[(0, 470), (300, 470), (512, 505), (700, 500), (1024, 490)],
        rule=lambda f: (f["b"] > f["g"] + 0.02) | ((f["lum"] > 0.55) & (f["b"] > f["g"] - 0.06)) | (f["lum"] > 0.75),
    ),
    # no sky at all
    "fallen-leaf": None,
    "one-stands-out": None,
    "green-meadow": None,
    "flowers": None,
    "drop": None,
    # ---- train photos from gnome-backgrounds 3.38, budgie-backgrounds 3.0 and mate-backgrounds
    "sea-sunset": dict(
        # defocused waves against an orange sunset sky: the sea is grey (red minus
        # blue ~0), the sky orange (~0.2-0.7); the blurred crests fade into the sky
        # over ~20 px, a pixel is sky where it keeps more than half the sky's colour
        sky_above=[(0, 240), (1024, 240)],
        ground_below=[(0, 340), (1024, 340)],
        rule=lambda f: f["y"] < _sunset_cross(f),
        unsure=[(_SEA_BAND, _sunset_fade)],
        # the sun's reflection on the far water (x 600-690) keeps the sky's colour
        # down to y 315: its top, merging into the sky, is uncertain, the rest is sea
        fixes=[(GROUND, [(600, 288), (690, 288), (690, 340), (600, 340)]),
               (UNSURE, [(608, 286), (682, 286), (682, 300), (608, 300)])],
    ),
    "lake-sherburne": dict(
        # snowy peaks against a blue sky with a small cloud on the main peak: sky
        # and cloud are blue (blue minus red 0.12-0.33) and bright, snow is
        # neutral (<= 0.09), shaded rock dark; the lake mirrors the sky and is not sky
        sky_above=_shift(_SHERBURNE_RIDGE, -14),
        ground_below=_shift(_SHERBURNE_RIDGE, 16),
        rule=_sherburne_sky,
        fixes=[
            # the white cloud on the main peak's left flank is sky down to ~3 px above
            # the rock; the band where it merges with the snow rim is uncertain
            (SKY, [(245, 118), (330, 118), (322, 134), (310, 140), (300, 146), (290, 152), (280, 157),
                   (270, 160), (260, 162), (250, 165), (245, 165)]),
            (UNSURE, [(250, 165), (260, 162), (270, 160), (280, 157), (290, 152), (300, 146), (310, 140),
                      (322, 134), (322, 140), (310, 145), (300, 151), (290, 157), (280, 162), (270, 166),
                      (260, 168), (250, 170)]),
            # a blue, hazy rock slope below the skyline
            (GROUND, [(840, 277), (850, 280), (860, 286), (867, 293), (878, 295), (878, 310), (840, 310)]),
        ],
    ),
    "desert-hike": dict(
        # an orange dune against a blue sky; a pixel is sky where it is nearer the
        # sky's colour than the sand's. Sand blown off the crest veils the sky:
        # thin veils count as sky, the dense part (more dust than sky) is uncertain
        sky_above=[(0, 250), (1024, 250)],
        rule=lambda f: _desert_br(f) > -0.2,
        unsure=[(_DESERT_PLUME, lambda f: (_desert_br(f) > -0.35) & (_desert_br(f) < 0.1))],
    ),
    "canyon-wren": dict(
        # a wren on defocused rocks against a pale overcast sky: the sky is bluish
        # grey, rock and bird are brownish; the defocused rock edges are put where a
        # pixel is more sky than rock, their half-tones are uncertain
        sky_above=[(0, 4), (1024, 4)],
        rule=lambda f: _wren_br(f) > -0.035,
        unsure=[([(0, 0), (1024, 0), (1024, 576), (0, 576)], _wren_fade)],
        # the bird is in focus: its outline is traced on a 4x zoom
        fixes=[(SKY, [(360, 125), (490, 125), (490, 238), (360, 238)]),
               (GROUND, [(360, 250), (362, 238), (367, 230), (372, 220), (376, 210), (379, 200), (381, 190),
                         (383, 180), (386, 170), (389, 160), (392, 150), (396, 143), (405, 140), (425, 140),
                         (430, 141), (450, 138), (470, 134), (483, 132), (478, 136), (460, 142), (445, 147),
                         (438, 152), (438, 162), (434, 172), (430, 180), (429, 200), (429, 240), (430, 250)])],
    ),
    "colosseum": dict(
        # the Colosseum's wall against a blue sky with clouds; sky also shows through
        # the arches of the top storey (connected=False)
        regions=[(poly, _colosseum_sky) for poly in [_COLOSSEUM_SKY] + _COLOSSEUM_ARCHES],
        # the top-right corner is a deeper, darker blue (vignetting)
        fixes=[(SKY, [(990, 0), (1024, 0), (1024, 24), (990, 24)])],
    ),
    "osprey": None,
    "periwinkle": None,
    "ladybird": None,
    "snowy-forest-aerial": None,
    "forest-road-aerial": None,
}


def overlay(rgb: np.ndarray, mask: np.ndarray) -> Image.Image:
    """Photo with sky tinted red, uncertain tinted magenta and the sky boundary drawn in yellow."""
    out = rgb.copy()
    sky = mask == SKY
    uns = mask == UNSURE
    out[sky] = 0.55 * out[sky] + 0.45 * np.array([1.0, 0.15, 0.1])
    out[uns] = 0.4 * out[uns] + 0.6 * np.array([1.0, 0.0, 1.0])
    edge = sky ^ ndimage.binary_erosion(sky, border_value=1)
    out[edge] = [1.0, 1.0, 0.0]
    return Image.fromarray((out * 255).round().astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="photos to redo (default: all)")
    p.add_argument("--overlays", type=Path, default=None, help="also write check overlays here")
    args = p.parse_args(argv)
    names = args.names or sorted(q.stem for q in (HERE / "images").glob("*.jpg"))
    (HERE / "sky").mkdir(exist_ok=True)
    for name in names:
        if name not in SPECS:
            raise SystemExit(f"{name}: no mask specification in SPECS")
        rgb = np.asarray(Image.open(HERE / "images" / f"{name}.jpg").convert("RGB"), np.float32) / 255
        mask = make_mask(rgb, SPECS[name])
        Image.fromarray(mask, "L").save(HERE / "sky" / f"{name}.png", optimize=True)
        share = (mask == SKY).mean()
        print(f"{name:16s} sky {share:6.1%}  uncertain {(mask == UNSURE).mean():6.2%}")
        if args.overlays:
            args.overlays.mkdir(parents=True, exist_ok=True)
            overlay(rgb, mask).save(args.overlays / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
