"""No data loss under faults: what ``--overwrite`` may replace, a full disk, outputs that appear
while a run writes, signals, and bad input that used to reach the renderer as NaN.

Every CLI failure here is one line on stderr and exit code 2 (128 + n for a signal), and
leaves nothing behind: no output, no hidden temporary file, the previous output untouched.
"""

from __future__ import annotations

import errno
import io as _io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import infinitenature.io as io_module
from infinitenature.cli import main
from infinitenature.io import ImageError, OutputError, VideoWriter, load_image, write_frames


def _photo(path, size=(64, 48)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _frames(n=4, h=32, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def _run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------- --overwrite never deletes a user's folder


def _user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    (path / "frame_00000.png").write_bytes(b"not ours either")
    return path


@pytest.mark.parametrize("output", ["SOMEFOLDER", ".", "..", "SOMEFOLDER/..", ""])
def test_overwrite_never_deletes_a_folder_the_user_made(tmp_path, capsys, monkeypatch, output):
    """`-o SOMEFOLDER --overwrite`, `-o .`, `-o ..`: one line, exit 2, every file kept; `-o ""` is an error."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine")
    (tmp_path / "parent.txt").write_text("mine too")
    _user_folder(work / "SOMEFOLDER")
    src = _photo(tmp_path / "p.png")
    monkeypatch.chdir(work)
    code, err = _run(["fly", str(src), "-o", output, "--overwrite", "--frames", "2", "--quiet"], capsys)
    line = _one_error_line(err)
    assert code == 2
    if output == "":
        assert line == "infinitenature fly: error: the output path is empty"
    else:
        assert line.startswith(f"infinitenature fly: error: {Path(output)} already exists and is not replaced: ")
    assert (work / "keep.txt").read_text() == "mine" and (tmp_path / "parent.txt").read_text() == "mine too"
    assert (work / "SOMEFOLDER" / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in work.iterdir()) == ["SOMEFOLDER", "keep.txt"]


def test_overwrite_replaces_a_frame_folder_it_wrote_and_nothing_else(tmp_path):
    out = write_frames(_frames(3), tmp_path / "frames")
    write_frames(_frames(2, seed=1), out, overwrite=True)  # only frame_NNNNN.png inside: replaced
    assert sorted(p.name for p in out.iterdir()) == ["frame_00000.png", "frame_00001.png"]
    assert _hidden(tmp_path) == []
    (out / "notes.txt").write_text("added by the user")
    with pytest.raises(FileExistsError, match="holds 'notes.txt'"):
        write_frames(_frames(2), out, overwrite=True)
    assert (out / "notes.txt").read_text() == "added by the user" and len(list(out.glob("frame_*.png"))) == 2
    (tmp_path / "v.mp4").mkdir()  # a folder named like a video is not a video
    with pytest.raises(FileExistsError, match="it is a folder"):
        VideoWriter(tmp_path / "v.mp4", overwrite=True)
    (tmp_path / "notes").write_text("a file without a suffix is not a frame folder")
    with pytest.raises(FileExistsError, match="not a folder of frames"):
        VideoWriter(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes").read_text().startswith("a file")


def test_overwrite_checks_the_folder_again_when_it_replaces_it(tmp_path):
    """A file the user drops into the old frame folder during the run keeps the folder."""
    out = write_frames(_frames(2), tmp_path / "frames")
    with pytest.raises(FileExistsError, match="holds 'late.txt'"):
        with VideoWriter(out, overwrite=True) as w:
            for f in _frames(2, seed=2):
                w.append(f)
            (out / "late.txt").write_text("mine")
    assert (out / "late.txt").read_text() == "mine" and len(list(out.glob("frame_*.png"))) == 2
    assert _hidden(tmp_path) == []


# ------------------------------------------------------------------------------------------ a full disk


def _fake_ffmpeg(tmp_path: Path, monkeypatch, behaviour: str) -> None:
    """Replace the ffmpeg executable by a script: ``enospc`` (writes part of the file, says so,
    exits 1) or ``no-moov`` / ``cut-short`` (exits 0 after writing an incomplete mp4)."""
    script = tmp_path / "fake-ffmpeg"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "out = sys.argv[-1]\n"
        "sys.stdin.buffer.read()\n"
        "box = lambda kind, n, body=b'': (n).to_bytes(4, 'big') + kind + body\n"
        "ftyp = box(b'ftyp', 24, b'isom' + bytes(12))\n"
        f"behaviour = {behaviour!r}\n"
        "if behaviour == 'enospc':\n"
        "    open(out, 'wb').write(ftyp + box(b'mdat', 0) + bytes(100))\n"
        "    sys.stderr.write('[vost#0:0/libx264 @ 0x55f0] Error submitting a packet to the muxer: No space left on device\\n')\n"
        "    sys.stderr.write('[out#0/mp4 @ 0x55f0] Error writing trailer: No space left on device\\n')\n"
        "    sys.exit(1)\n"
        "if behaviour == 'no-moov':\n"
        "    open(out, 'wb').write(ftyp + box(b'mdat', 108, bytes(100)))\n"
        "else:\n"
        "    open(out, 'wb').write(ftyp + box(b'mdat', 5000, bytes(100)))\n"
    )
    script.chmod(0o755)
    import imageio_ffmpeg

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(script))


@pytest.mark.skipif(os.name != "posix", reason="a fake ffmpeg script")
@pytest.mark.parametrize(
    "behaviour, reason",
    [
        ("enospc", "No space left on device"),
        ("no-moov", "the finished file is incomplete (it has no moov atom"),
        ("cut-short", "the finished file is incomplete (its 'mdat' box is cut short)"),
    ],
)
def test_full_disk_keeps_the_previous_video(tmp_path, monkeypatch, behaviour, reason):
    """ffmpeg failing (or leaving a file without its index) is an error; the old video stays."""
    _fake_ffmpeg(tmp_path, monkeypatch, behaviour)
    out = tmp_path / "out" / "v.mp4"
    out.parent.mkdir()
    out.write_bytes(b"the previous video")
    with pytest.raises(OutputError) as e:
        write_frames(_frames(3), out, overwrite=True)
    assert str(e.value).startswith(f"cannot write {out}: {reason}") and "\n" not in str(e.value)
    assert ".tmp" not in str(e.value)
    assert out.read_bytes() == b"the previous video"
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.mp4"]


@pytest.mark.skipif(os.name != "posix", reason="a fake ffmpeg script")
def test_full_disk_in_the_cli_is_one_line_and_keeps_the_previous_video(tmp_path, capsys, monkeypatch):
    _fake_ffmpeg(tmp_path, monkeypatch, "enospc")
    src = _photo(tmp_path / "p.png")
    out = tmp_path / "v.mp4"
    out.write_bytes(b"the previous video")
    code, err = _run(["fly", str(src), "-o", str(out), "--overwrite", "--frames", "2", "--quiet"], capsys)
    assert code == 2
    assert _one_error_line(err) == f"infinitenature fly: error: cannot write {out}: No space left on device"
    assert out.read_bytes() == b"the previous video" and _hidden(tmp_path) == []


class _FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk (Python-level writes only)."""

    def __init__(self, f, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def fileno(self):
        raise _io.UnsupportedOperation("fileno")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def test_full_disk_with_gif_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr(io_module, "open", lambda path, mode="r": _FullDisk(open(path, mode), 2000), raising=False)
    out = tmp_path / "v.gif"
    out.write_bytes(b"the previous gif")
    with pytest.raises(OutputError) as e:
        write_frames(_frames(6), out, overwrite=True)
    assert str(e.value) == f"cannot write {out}: No space left on device"
    assert out.read_bytes() == b"the previous gif" and _hidden(tmp_path) == []


def test_full_disk_with_a_frame_folder(tmp_path, monkeypatch):
    import imageio.v2 as iio

    real, calls = iio.imwrite, []

    def imwrite(path, frame, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, frame, *args, **kwargs)

    monkeypatch.setattr(iio, "imwrite", imwrite)
    out = tmp_path / "frames"
    with pytest.raises(OutputError) as e:
        write_frames(_frames(5), out)
    assert str(e.value) == f"cannot write {out}: No space left on device"  # not the hidden frame's name
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (root on Linux only; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("name", ["v.mp4", "v.webm", "v.gif", "frames"])
def test_a_real_full_disk_keeps_the_previous_output(tiny_disk, name):
    out = tiny_disk / name
    if name == "frames":
        write_frames(_frames(1, 16, 16), out)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
    else:
        out.write_bytes(b"the previous output")
    with pytest.raises(OutputError, match=f"^cannot write {out}: No space left on device$"):
        write_frames(_frames(60, 128, 128), out, overwrite=True)
    if name == "frames":
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    else:
        assert out.read_bytes() == b"the previous output"
    assert _hidden(tiny_disk) == []


# ---------------------------------------------------------------------- outputs that appear during a run


@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames"])
def test_an_output_that_appears_while_writing_is_kept(tmp_path, name):
    """Two runs on one path without --overwrite: the one that finishes later does not replace the first."""
    out = tmp_path / name
    with pytest.raises(FileExistsError, match="appeared while this run was writing it; it is kept"):
        with VideoWriter(out, fps=10) as w:
            for f in _frames(3):
                w.append(f)
            write_frames(_frames(2, seed=5), out)  # the other run finishes first
            first = out.read_bytes() if out.is_file() else sorted(p.name for p in out.iterdir())
    assert (out.read_bytes() if out.is_file() else sorted(p.name for p in out.iterdir())) == first
    assert _hidden(tmp_path) == []


def test_an_output_that_appears_during_a_cli_run_is_kept(tmp_path, capsys, monkeypatch):
    append = VideoWriter.append

    def append_while_another_run_finishes(self, frame):
        append(self, frame)
        if not self.path.exists():
            self.path.write_bytes(b"the other run's video")

    monkeypatch.setattr(VideoWriter, "append", append_while_another_run_finishes)
    out = tmp_path / "v.gif"
    code, err = _run(["fly", str(_photo(tmp_path / "p.png")), "-o", str(out), "--frames", "2", "--quiet"], capsys)
    assert code == 2 and _one_error_line(err).startswith(f"infinitenature fly: error: {out} appeared while this run was writing it; it is kept")
    assert out.read_bytes() == b"the other run's video" and _hidden(tmp_path) == []


def test_an_output_that_appears_is_replaced_with_overwrite(tmp_path):
    out = tmp_path / "v.gif"
    with VideoWriter(out, fps=10, overwrite=True) as w:
        for f in _frames(3):
            w.append(f)
        out.write_bytes(b"the other run's gif")
    assert out.read_bytes()[:6] == b"GIF89a" and _hidden(tmp_path) == []


def test_without_hard_links_the_final_move_still_never_replaces(tmp_path, monkeypatch):
    """File systems without hard links (FAT, some network mounts): an exclusive create claims the name."""

    def no_links(src, dst, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = write_frames(_frames(2), tmp_path / "a.gif")
    assert out.read_bytes()[:6] == b"GIF89a" and _hidden(tmp_path) == []
    with pytest.raises(FileExistsError, match="appeared"):
        with VideoWriter(tmp_path / "b.gif") as w:
            w.append(_frames(1)[0])
            (tmp_path / "b.gif").write_bytes(b"theirs")
    assert (tmp_path / "b.gif").read_bytes() == b"theirs" and _hidden(tmp_path) == []


# ------------------------------------------------------------------------------ permissions and names


def test_an_unwritable_folder_names_the_output_not_the_temporary_file(tmp_path, capsys, monkeypatch):
    def refuse(parent, prefix, suffix, *, folder):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(parent / f"{prefix}1234{suffix}"))

    monkeypatch.setattr(io_module, "_reserve", refuse)
    out = tmp_path / "v.mp4"
    with pytest.raises(OutputError) as e:
        VideoWriter(out)
    assert str(e.value) == f"cannot write {out}: Permission denied"
    code, err = _run(["fly", str(_photo(tmp_path / "p.png")), "-o", str(out), "--quiet"], capsys)
    assert code == 2 and _one_error_line(err) == f"infinitenature fly: error: cannot write {out}: Permission denied"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, err = _run(["fly", str(_photo(tmp_path / "p.png")), "-o", str(folder / "v.mp4"), "--quiet"], capsys)
    finally:
        folder.chmod(0o755)
    assert code == 2 and _one_error_line(err) == f"infinitenature fly: error: cannot write {folder / 'v.mp4'}: Permission denied"


# ------------------------------------------------------------------------- options checked before loading


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--speed", "nan", "--speed must be a number greater than 0 and at most 10, got nan"),
        ("--speed", "inf", "--speed must be a number greater than 0 and at most 10, got inf"),
        ("--speed", "0", "--speed must be a number greater than 0 and at most 10, got 0"),
        ("--speed", "-1", "--speed must be a number greater than 0 and at most 10, got -1"),
        ("--fps", "inf", "--fps must be a number from 0.1 to 240, got inf"),
        ("--fps", "nan", "--fps must be a number from 0.1 to 240, got nan"),
        ("--fps", "1e-9", "--fps must be a number from 0.1 to 240, got 1e-09"),
        ("--fps", "0", "--fps must be a number from 0.1 to 240, got 0"),
        ("--seed", str(2**64), f"--seed must be a whole number from 0 to 2**63 - 1 ({2**63 - 1}), got {2**64}"),
        ("--seed", "-1", f"--seed must be a whole number from 0 to 2**63 - 1 ({2**63 - 1}), got -1"),
        ("--frames", "100001", "--frames must be a whole number from 1 to 100000, got 100001"),
        ("--trajectory", "spiral", "--trajectory must be one of autopilot, straight, pan, orbit or a .npy file of (N, 4, 4) keyframes, got 'spiral'"),
    ],
)
def test_bad_options_are_one_line_before_any_model_loads(tmp_path, capsys, monkeypatch, option, value, message):
    import infinitenature.pipeline as pipeline_module

    def no_loading(*args, **kwargs):
        raise AssertionError("models were loaded before the options were checked")

    monkeypatch.setattr(pipeline_module.FlyThrough, "from_pretrained", no_loading)
    src = _photo(tmp_path / "p.png")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), option, value, "--quiet"], capsys)
    assert code == 2 and _one_error_line(err) == f"infinitenature fly: error: {message}"
    assert list(tmp_path.iterdir()) == [src]


def _npy(path: Path, array) -> Path:
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: _npy(p, np.array([["a", "b"], ["c", "d"]])), "keyframes must be numbers, got an array of <U1"),
        (lambda p: _npy(p, np.zeros((2, 3, 4))), "keyframes must be an (N, 4, 4) array, got shape (2, 3, 4)"),
        (lambda p: _npy(p, np.full((2, 4, 4), np.nan)), "keyframes hold NaN or infinite values"),
        (lambda p: _npy(p, np.array([{"pose": 1}], dtype=object)), "cannot read keyframes (Object arrays cannot be loaded when allow_pickle=False)"),
        (lambda p: p.write_bytes(b"junk") and p, "cannot read keyframes"),
        (lambda p: _npy(p, np.stack([np.eye(4), 2 * np.eye(4)])), "keyframe poses"),
    ],
)
def test_bad_keyframes_are_one_line(tmp_path, capsys, make, message):
    npy = make(tmp_path / "path.npy")
    src = _photo(tmp_path / "p.png")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--trajectory", str(npy), "--quiet"], capsys)
    line = _one_error_line(err)
    assert code == 2 and line.startswith(f"infinitenature fly: error: --trajectory {npy}: ") and message in line, line


# --------------------------------------------------------------------------------------- NaN images


def test_nan_images_are_called_what_they_are(tmp_path, capsys):
    arr = np.full((32, 40), 0.5, np.float32)
    arr[3, 4] = np.nan
    with pytest.raises(ImageError, match="^PIL image: contains NaN or infinite values$"):
        load_image(Image.fromarray(arr, mode="F"))
    tif = tmp_path / "float.tif"
    Image.fromarray(arr, mode="F").save(tif)
    with pytest.raises(ImageError, match=f"^{tif}: contains NaN or infinite values$"):
        load_image(tif)
    code, err = _run(["fly", str(tif), "-o", str(tmp_path / "o.mp4"), "--quiet"], capsys)
    assert code == 2 and _one_error_line(err) == f"infinitenature fly: error: {tif}: contains NaN or infinite values"
    arr[3, 4] = 0.25  # a finite float TIFF still loads
    Image.fromarray(arr, mode="F").save(tif)
    assert load_image(tif).shape == (3, 32, 40)


# ------------------------------------------------------------------------------ decompression bombs


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` RGB pixels (its data is never reached)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_decompression_bombs_are_refused_before_decoding(tmp_path, capsys):
    bomb = _png_header(tmp_path / "bomb.png", 12_000, 9_000)  # 108 MP: Pillow itself only warns
    with pytest.raises(ImageError) as e:
        load_image(bomb)
    assert str(e.value) == (
        f"{bomb}: image is 12000x9000 (108 megapixels), more than the 100 megapixels that are decoded at most "
        "(a decompression bomb?); downscale it first"
    )
    huge = _png_header(tmp_path / "huge.png", 20_000, 20_000)  # 400 MP: Pillow refuses it itself
    with pytest.raises(ImageError, match="more than the 100 megapixels"):
        load_image(huge)
    code, err = _run(["fly", str(bomb), "-o", str(tmp_path / "o.mp4"), "--quiet"], capsys)
    assert code == 2 and "more than the 100 megapixels" in _one_error_line(err)


# ------------------------------------------------------------------------------------------- signals

_FLY_WITH_A_MARKER = """
import sys
from pathlib import Path

import infinitenature.io as io

marker = Path(sys.argv[1])
append = io.VideoWriter.append


def append_and_mark(self, frame):
    append(self, frame)
    marker.touch()  # a frame is written: the run is mid-flight


io.VideoWriter.append = append_and_mark
from infinitenature.cli import main

sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(
    "signum, output, last_line",
    [
        (signal.SIGTERM, "v.mp4", "infinitenature fly: terminated by SIGTERM"),
        (signal.SIGHUP, "frames", "infinitenature fly: terminated by SIGHUP"),
        (signal.SIGINT, "v.gif", "infinitenature fly: interrupted"),
    ],
)
def test_a_signal_mid_flight_leaves_nothing_behind(tmp_path, signum, output, last_line):
    """timeout, docker stop, Slurm (SIGTERM), a closed terminal (SIGHUP), Ctrl-C: exit 128 + n, no files."""
    src = _photo(tmp_path / "p.png")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    marker = tmp_path / "marker"
    argv = ["fly", str(src), "-o", str(out_dir / output), "--frames", "100000", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _FLY_WITH_A_MARKER, str(marker), *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600  # a guard against hanging, not a measurement
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"the run ended before its first frame: {proc.communicate()[1]}"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == last_line, err
    assert list(out_dir.iterdir()) == []  # no output, no hidden temporary file


# ------------------------------------------------------------------------------------- the API's checks


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: __import__("infinitenature.autopilot").autopilot.StraightPath(float("nan")), "speed must be a finite number, got nan"),
        (lambda: __import__("infinitenature.autopilot").autopilot.PanPath(speed=float("inf")), "speed must be a finite number, got inf"),
        (lambda: __import__("infinitenature.autopilot").autopilot.AutopilotConfig(speed=float("nan")), "speed must be a finite number"),
        (lambda: __import__("infinitenature.autopilot").autopilot.make_camera_path("straight", speed=float("nan")), "speed must be a finite number"),
        (lambda: __import__("infinitenature.autopilot").autopilot.OrbitPath(depth=float("nan")), "depth must be a finite number"),
        (lambda: VideoWriter("v.mp4", fps=float("nan")), "fps must be a number from 0.1 to 240, got nan"),
        (lambda: VideoWriter("v.mp4", fps=1e-9), "fps must be a number from 0.1 to 240, got 1e-09"),
        (lambda: VideoWriter("", fps=30), "the output path is empty"),
    ],
)
def test_the_api_refuses_non_finite_speeds_and_rates(tmp_path, monkeypatch, make, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"^{message.replace('(', '[(]').replace(')', '[)]')}"):
        make()
    assert list(tmp_path.iterdir()) == []
