"""Standing objects pasted into rendered training views (train/standing_objects.py)."""

from __future__ import annotations

import pytest
import torch

from infinitenature.train.standing_objects import KINDS, paste_standing, standing_object


def _ground_plane(b: int = 4, h: int = 48, w: int = 64, horizon: int = 16) -> dict[str, torch.Tensor]:
    """Sky above ``horizon``, a ground plane below: disparity grows linearly to 1 at the bottom row."""
    rows = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    disparity = ((rows - horizon) / (h - 1 - horizon)).clamp_min(0).expand(b, 1, h, w).clone()
    sky = (rows < horizon).float().expand(b, 1, h, w).clone()
    g = torch.Generator().manual_seed(1)
    return {"rgb": torch.rand(b, 3, h, w, generator=g), "disparity": disparity, "sky": sky}


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_stands_on_its_base(kind):
    g = torch.Generator().manual_seed(0)
    cover = standing_object(kind, 30.0, 40.0, 24.0, (48, 64), g)
    assert cover.shape == (48, 64) and 0 <= float(cover.min()) and float(cover.max()) <= 1
    rows = torch.nonzero(cover > 0.5)[:, 0]
    assert len(rows) > 0
    assert int(rows.max()) <= 40  # nothing below the base
    assert int(rows.min()) >= 40 - 24 - 1  # nothing above its height


def test_unknown_kind_and_bad_probability_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        standing_object("house", 3.0, 3.0, 3.0, (8, 8), None)
    with pytest.raises(ValueError, match="prob must be in"):
        paste_standing(_ground_plane(), 1.5, None)


def test_objects_take_the_disparity_of_their_base():
    batch = _ground_plane()
    out = paste_standing(batch, 1.0, torch.Generator().manual_seed(3))
    changed = out["disparity"] != batch["disparity"]
    assert changed.any()
    for i in range(out["disparity"].shape[0]):
        for x in range(out["disparity"].shape[-1]):
            col = torch.nonzero(changed[i, 0, :, x]).flatten()
            if len(col) == 0:
                continue
            # an object pixel is nearer than the plane behind it (it stands up from lower ground) ...
            assert bool((out["disparity"][i, 0, col, x] > batch["disparity"][i, 0, col, x]).all())
            # ... and is never nearer than the nearest ground in the frame
            assert float(out["disparity"][i, 0, col, x].max()) <= 1.0
    # where an object covers the sky, the sky target is gone
    assert float(out["sky"].sum()) < float(batch["sky"].sum())
    assert bool(((out["sky"] < batch["sky"]) <= changed | (out["rgb"] != batch["rgb"]).any(1, keepdim=True)).all())


def test_an_object_is_constant_in_depth_up_its_whole_height():
    batch = _ground_plane(b=1)
    out = paste_standing(batch, 1.0, torch.Generator().manual_seed(5), max_objects=1)
    changed = out["disparity"][0, 0] != batch["disparity"][0, 0]
    values = out["disparity"][0, 0][changed]
    assert len(values) > 0 and float(values.max() - values.min()) < 1e-6


def test_objects_hide_behind_nearer_things():
    batch = _ground_plane(b=2)
    # something nearer than all the ground fills the upper part of the frame (marked sky, so
    # that no object stands on it)
    batch["disparity"] *= 0.8
    batch["disparity"][:, :, :30] = 1.0
    batch["sky"][:] = 0
    batch["sky"][:, :, :30] = 1
    out = paste_standing(batch, 1.0, torch.Generator().manual_seed(2))
    assert torch.equal(out["disparity"][:, :, :30], batch["disparity"][:, :, :30])
    assert torch.equal(out["rgb"][:, :, :29], batch["rgb"][:, :, :29])


def test_probability_zero_changes_nothing_and_a_seed_repeats():
    batch = _ground_plane()
    same = paste_standing(batch, 0.0, torch.Generator().manual_seed(0))
    assert all(torch.equal(same[k], batch[k]) for k in batch)
    a = paste_standing(batch, 0.7, torch.Generator().manual_seed(9))
    b = paste_standing(batch, 0.7, torch.Generator().manual_seed(9))
    assert all(torch.equal(a[k], b[k]) for k in batch)
