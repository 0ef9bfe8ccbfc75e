"""Reading odd-but-valid images, rejecting bad ones, writing videos atomically."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from infinitenature.io import ImageError, VideoWriter, load_image, to_uint8, write_frames


def _gradient(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x / (w - 1), y / (h - 1), np.full_like(x, 0.5, dtype=float)], -1)


def test_rgb_jpeg_and_png_roundtrip(tmp_path):
    arr = (_gradient() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    x = load_image(tmp_path / "a.png")
    assert x.shape == (3, 40, 60) and x.dtype == torch.float32
    assert torch.allclose(x, torch.from_numpy(arr).permute(2, 0, 1).float() / 255)
    Image.fromarray(arr).save(tmp_path / "a.jpg", quality=95)
    assert load_image(str(tmp_path / "a.jpg")).shape == (3, 40, 60)


def test_grayscale_16bit_rgba_palette(tmp_path):
    g = (np.linspace(0, 65535, 50 * 30).reshape(30, 50)).astype(np.uint16)
    Image.fromarray(g).save(tmp_path / "g16.png")
    x = load_image(tmp_path / "g16.png")
    assert x.shape == (3, 30, 50)
    assert x.max() == pytest.approx(1.0) and x.min() == 0.0
    assert torch.equal(x[0], x[1])

    Image.fromarray((g >> 8).astype(np.uint8), mode="L").save(tmp_path / "g8.png")
    assert load_image(tmp_path / "g8.png").shape == (3, 30, 50)

    rgba = np.zeros((30, 50, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba[:, :10, 3] = 0  # transparent strip composites onto white
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    x = load_image(tmp_path / "rgba.png")
    assert torch.allclose(x[:, 0, 20], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(x[:, 0, 0], torch.ones(3))

    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (3, 30, 50)


def test_exif_rotation_is_applied(tmp_path):
    arr = (_gradient(20, 40) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (3, 40, 20)


def test_huge_photo_is_downscaled(tmp_path):
    Image.new("RGB", (9000, 3000), (10, 120, 200)).save(tmp_path / "huge.jpg")
    x = load_image(tmp_path / "huge.jpg")
    assert max(x.shape[1:]) <= 4096 and x.shape[2] > x.shape[1]


def test_arrays_tensors_pil():
    arr = _gradient()
    assert load_image(arr.astype(np.float32)).shape == (3, 40, 60)
    assert load_image((arr * 255).astype(np.uint8)).shape == (3, 40, 60)
    assert load_image((arr[..., 0] * 65535).astype(np.uint16)).shape == (3, 40, 60)
    t = torch.rand(1, 3, 20, 24)
    assert torch.equal(load_image(t), t[0])
    assert load_image(Image.fromarray((arr * 255).astype(np.uint8))).shape == (3, 40, 60)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.jpg", "no such file"),
        (lambda p: (p / "t.txt").write_text("not an image") and p / "t.txt", "not a readable image"),
        (lambda p: Image.new("RGB", (1, 1)).save(p / "one.png") or p / "one.png", "at least 16x16"),
        (lambda p: p, "is a folder"),
    ],
)
def test_bad_files_raise_one_line(tmp_path, make, message):
    with pytest.raises(ImageError, match=message) as e:
        load_image(make(tmp_path))
    assert "\n" not in str(e.value)


def test_truncated_jpeg(tmp_path):
    Image.fromarray((np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)).save(tmp_path / "x.jpg")
    data = (tmp_path / "x.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cannot read image"):
        load_image(tmp_path / "cut.jpg")


def test_bad_arrays():
    with pytest.raises(ImageError, match="in \\[0, 1\\]"):
        load_image(np.full((20, 20, 3), 2.0, np.float32))
    with pytest.raises(ImageError, match="unsupported image type"):
        load_image(42)
    with pytest.raises(ImageError, match="NaN"):
        load_image(torch.full((3, 20, 20), float("nan")))


def test_to_uint8():
    x = torch.tensor([0.0, 0.5, 1.0, 2.0]).reshape(1, 1, 4).expand(3, 1, 4)
    u = to_uint8(x)
    assert u.shape == (1, 4, 3) and u.dtype == np.uint8
    assert u[0, :, 0].tolist() == [0, 128, 255, 255]


def _frames(n=5, h=32, w=48):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames"])
def test_video_writers_roundtrip(tmp_path, name):
    import imageio.v3 as iio

    out = write_frames(_frames(), tmp_path / name, fps=10)
    assert out == tmp_path / name and out.exists()
    if name == "frames":
        files = sorted(out.glob("*.png"))
        assert len(files) == 5
        assert np.array_equal(iio.imread(files[2]), _frames()[2])
    else:
        back = iio.imread(out, index=None)
        assert back.shape[0] == 5 and back.shape[1:3] == (32, 48)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames"])
def test_outputs_get_the_users_usual_permissions(tmp_path, name):
    """Not the private 0600 / 0700 of a temporary file: a shared video must be readable by others."""
    mask = os.umask(0o022)
    try:
        out = write_frames(_frames(2), tmp_path / name, fps=10)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == (0o755 if name == "frames" else 0o644)


def test_writer_keeps_existing_and_aborts_cleanly(tmp_path):
    target = tmp_path / "v.mp4"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists"):
        VideoWriter(target)
    with pytest.raises(RuntimeError):
        with VideoWriter(target, overwrite=True) as w:
            w.append(_frames(1)[0])
            raise RuntimeError("crash mid-run")
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    write_frames(_frames(), target, overwrite=True)
    assert target.read_bytes() != b"precious"


def test_writer_rejects_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match="unsupported output type"):
        VideoWriter(tmp_path / "v.txt")


def test_installed_package_carries_the_shipped_weights(tmp_path):
    """A wheel built from the repo holds weights/ as infinitenature/_weights (non-editable installs)."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("infinitenature-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("generator-default.safetensors", "depth-default.safetensors", "sky-default.safetensors"):
        assert f"infinitenature/_weights/{f}" in names
