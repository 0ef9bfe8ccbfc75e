"""The real-photo evaluation set (data/real_photos) is well-formed, and its metrics are right."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infinitenature.metrics.estimators_real import (
    boundary_band,
    load_real_photos,
    pair_accuracy,
    pair_results,
    sky_iou,
    sky_share,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "real_photos"
EXAMPLES = {"hills", "valendas", "fog"}

needs_data = pytest.mark.skipif(not (DATA / "split.json").is_file(), reason="data/real_photos not present")


def _names() -> list[str]:
    return sorted(p.stem for p in (DATA / "images").glob("*.jpg"))


# --------------------------------------------------------------------- the set


@needs_data
def test_images_and_masks_match():
    names = _names()
    assert len(names) >= 20
    for name in names:
        with Image.open(DATA / "images" / f"{name}.jpg") as im:
            assert im.mode == "RGB" and max(im.size) <= 1024, name
            size = im.size
        with Image.open(DATA / "sky" / f"{name}.png") as m:
            assert m.mode == "L" and m.size == size, name
            values = set(np.unique(np.asarray(m)).tolist())
        assert values <= {0, 128, 255}, (name, values)
    assert sorted(p.stem for p in (DATA / "sky").glob("*.png")) == names


@needs_data
def test_every_photo_has_a_licence_row():
    text = (DATA / "LICENSES.md").read_text()
    rows = {m.group(1) for m in re.finditer(r"^\|\s*([\w.-]+\.jpg)\s*\|", text, re.M)}
    assert rows == {f"{n}.jpg" for n in _names()}
    assert "lomiri" not in text.lower()


@needs_data
def test_split_covers_every_photo_once_and_holds_out_the_examples():
    split = json.loads((DATA / "split.json").read_text())
    assert set(split) == {"heldout", "train"}
    both = split["heldout"] + split["train"]
    assert sorted(both) == _names() and len(both) == len(set(both))
    assert EXAMPLES <= set(split["heldout"])
    held = {n: np.asarray(Image.open(DATA / "sky" / f"{n}.png")) for n in split["heldout"]}
    assert any((m == 255).any() for m in held.values()) and any(not (m == 255).any() for m in held.values())


@needs_data
def test_pairs_are_inside_the_image_and_off_the_sky():
    pairs = json.loads((DATA / "depth_pairs.json").read_text())
    assert set(pairs) <= set(_names())
    n_pb = 0
    for name, rows in pairs.items():
        sky = np.asarray(Image.open(DATA / "sky" / f"{name}.png"))
        h, w = sky.shape
        assert 5 <= len(rows) <= 20, name
        for r in rows:
            assert set(r) == {"a", "b", "nearer", "prior_breaking", "note"} and r["nearer"] in ("a", "b")
            for k in "ab":
                x, y = r[k]
                assert 0 <= x < w and 0 <= y < h, (name, r)
                assert sky[y, x] == 0, (name, r)  # surely not sky
            near, far = r[r["nearer"]], r["b" if r["nearer"] == "a" else "a"]
            assert r["prior_breaking"] == (near[1] < far[1]), (name, r)
            n_pb += r["prior_breaking"]
    assert sum(len(v) for v in pairs.values()) >= 120
    assert n_pb >= 25
    held = json.loads((DATA / "split.json").read_text())["heldout"]
    assert sum(r["prior_breaking"] for n in held for r in pairs.get(n, [])) >= 15


@needs_data
def test_folder_stays_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 8 * 2**20


@needs_data
def test_loader_reads_a_split():
    photos = load_real_photos(DATA, "heldout")
    assert {p.name for p in photos} >= EXAMPLES
    p = photos[0]
    assert p.image.dtype == np.float32 and p.image.shape[:2] == p.sky.shape and 0 <= p.image.min() <= p.image.max() <= 1
    with pytest.raises(ValueError):
        load_real_photos(DATA, "validation")


# --------------------------------------------------------------------- metrics


def _half(h=10, w=20, sky_cols=10) -> np.ndarray:
    t = np.zeros((h, w), np.uint8)
    t[:, :sky_cols] = 255
    return t


def test_boundary_band_of_a_straight_boundary():
    band = boundary_band(_half(), 3)
    cols = np.flatnonzero(band.any(0))
    assert cols.tolist() == [7, 8, 9, 10, 11, 12] and band[:, 7:13].all()
    assert not boundary_band(_half(), 0).any()
    assert not boundary_band(np.full((4, 4), 255, np.uint8), 3).any()


def test_uncertain_pixels_make_no_boundary():
    t = _half()
    t[:, 10:12] = 128  # sky | uncertain | ground: the sky/ground gap is 2 px
    band = boundary_band(t, 1)
    assert not band.any()  # nothing within 1 px of the other class
    assert np.flatnonzero(boundary_band(t, 3).any(0)).tolist() == [9, 12]


def test_sky_iou_with_and_without_band():
    t = _half()
    pred = np.zeros_like(t, bool)
    pred[:, :12] = True
    assert sky_iou(pred, t, band=0) == pytest.approx(10 / 12)
    assert sky_iou(pred, t, band=3) == pytest.approx(1.0)  # the 2 wrong columns lie in the band
    pred[:, :15] = True
    assert sky_iou(pred, t, band=3) == pytest.approx(7 / 9)  # scored sky cols 0-6, wrong cols 13-14
    prob = pred.astype(np.float32) * 0.9 + 0.05
    assert sky_iou(prob, t, band=3) == pytest.approx(7 / 9)  # probabilities thresholded at 0.5


def test_sky_iou_ignores_uncertain_pixels():
    t = _half()
    t[:, 15:] = 128
    pred = np.zeros_like(t, bool)
    pred[:, :10] = True
    pred[:, 15:] = True  # predicted sky on uncertain pixels costs nothing
    assert sky_iou(pred, t, band=0) == pytest.approx(1.0)
    assert math.isnan(sky_iou(np.zeros_like(t, bool), np.zeros_like(t), band=3))
    with pytest.raises(ValueError):
        sky_iou(np.zeros((3, 3), bool), t)


def test_sky_share():
    t = np.zeros((10, 10), np.uint8)
    t[:, 8:] = 128
    pred = np.zeros((10, 10), bool)
    pred[0, :4] = True
    assert sky_share(pred) == pytest.approx(0.04)
    assert sky_share(pred, t) == pytest.approx(4 / 80)


def test_pair_accuracy():
    disp = np.tile(np.arange(6, dtype=float)[:, None], (1, 4))  # disparity = row: "lower is nearer"
    pairs = [
        {"a": [0, 5], "b": [0, 1], "nearer": "a", "prior_breaking": False},  # right
        {"a": [1, 0], "b": [2, 4], "nearer": "b", "prior_breaking": False},  # right
        {"a": [3, 1], "b": [3, 3], "nearer": "a", "prior_breaking": True},  # wrong
        {"a": [0, 2], "b": [3, 2], "nearer": "a", "prior_breaking": False},  # tie: wrong
    ]
    assert pair_results(disp, pairs).tolist() == [True, True, False, False]
    assert pair_accuracy(disp, pairs) == (2, 4)
    assert pair_accuracy(disp, pairs, prior_breaking=True) == (0, 1)
    assert pair_accuracy(disp, pairs, prior_breaking=False) == (2, 3)
    assert pair_accuracy(-disp, pairs, prior_breaking=True) == (1, 1)


def test_benchmark_scores_a_baseline_beside_and_draws_both(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_estimators_real

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "sky").mkdir()
    img = np.zeros((48, 64, 3), np.uint8)
    img[:20] = (90, 140, 230)
    img[20:] = (60, 110, 40)
    mask = np.zeros((48, 64), np.uint8)
    mask[:20] = 255
    for name in ("a", "b"):
        Image.fromarray(img).save(root / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(mask).save(root / "sky" / f"{name}.png")
    (root / "split.json").write_text(json.dumps({"train": ["a"], "heldout": ["b"]}))
    pair = {"a": [10, 45], "b": [10, 25], "nearer": "a", "prior_breaking": False, "note": "ground"}
    (root / "depth_pairs.json").write_text(json.dumps({"b": [pair]}))
    out, sheet = tmp_path / "r.json", tmp_path / "s.png"
    args = ["--data", str(root), "--out", str(out), "--sheet", str(sheet), "--baseline-sky", "default", "--threads", "1"]
    assert bench_estimators_real.main(args) == 0
    result = json.loads(out.read_text())
    assert result["baseline"] == {"depth": "default", "sky": "default"}
    assert result["command"].startswith("python benchmarks/bench_estimators_real.py --data")
    same = result["splits"]["heldout"]["summary"], result["splits"]["baseline_heldout"]["summary"]
    assert same[0] == same[1] and same[0]["pairs"] == 1
    plain = tmp_path / "plain.png"
    assert bench_estimators_real.main(["--data", str(root), "--out", str(out), "--sheet", str(plain), "--threads", "1"]) == 0
    with Image.open(sheet) as both, Image.open(plain) as one:  # 6 columns (two skies, two disparities) against 4
        assert both.height == one.height and 1.4 < both.width / one.width < 1.6
