"""Reading images of any common kind, writing videos and frame folders.

``load_image`` turns a path, PIL image, numpy array or tensor into a
``(3, H, W)`` float tensor in ``[0, 1]``: grayscale, 16-bit, RGBA, palette,
CMYK and EXIF-rotated photos all work. Bad input (unreadable, truncated, too
small, NaN or infinite values, more than ``MAX_IMAGE_PIXELS`` to decode)
raises ``ImageError`` (a ``ValueError``) with a one-line message.

``VideoWriter`` streams ``uint8`` frames to ``.mp4``/``.webm``/``.mov``/``.mkv``
(ffmpeg), ``.gif`` or a folder of PNGs. It writes to a hidden temporary file
next to the target and moves it into place only when the finished output has
been checked, so a crash, a signal or a full disk never leaves a half-written
output and never touches an existing one. Without ``overwrite=True`` it never
replaces anything, not even a file that appears while it writes; with it, it
replaces only outputs of a kind it writes (see ``check_output``). Failures to
write raise ``OutputError`` (an ``OSError``) with one line naming the output.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ImageError",
    "OutputError",
    "load_image",
    "to_uint8",
    "check_output",
    "check_fps",
    "VideoWriter",
    "write_frames",
    "VIDEO_SUFFIXES",
    "MIN_IMAGE_SIDE",
    "MAX_IMAGE_PIXELS",
    "MIN_FPS",
    "MAX_FPS",
]

#: Smallest accepted image side in pixels.
MIN_IMAGE_SIDE = 16
#: Photos are decoded at most this large on the long side (we work at 128-512 px).
MAX_DECODE_SIDE = 4096
#: Images that need more pixels than this to decode are refused (a decompression bomb: a few
#: hundred kilobytes of PNG can ask for gigabytes). JPEGs count at the reduced size they are
#: decoded at (``MAX_DECODE_SIDE``), so large photos still load, up to Pillow's own hard limit
#: (twice ``PIL.Image.MAX_IMAGE_PIXELS``, about 179 megapixels in the file).
MAX_IMAGE_PIXELS = 100_000_000
VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".mov", ".mkv")
#: Accepted frame rates of ``VideoWriter`` (frames per second).
MIN_FPS, MAX_FPS = 0.1, 240.0
#: The names ``VideoWriter`` gives the frames of a PNG folder; ``overwrite=True`` replaces only
#: folders that hold nothing else.
FRAME_NAME = re.compile(r"frame_\d{5,}\.png")


class ImageError(ValueError):
    """The input image cannot be used (missing, unreadable, truncated, too small, too large, NaN, wrong type)."""


class OutputError(OSError):
    """The output cannot be written or put in place (full disk, no permission, an incomplete video).

    Its message is one line that names the output path (never the temporary file);
    ``errno`` says what failed (``ENOSPC`` for a full disk, ``EIO`` for an incomplete file).
    """

    def __str__(self) -> str:
        return self.strerror if self.strerror else super().__str__()


def load_image(image, *, max_side: int = MAX_DECODE_SIDE) -> Tensor:
    """Load an image as a ``(3, H, W)`` float32 tensor in ``[0, 1]``.

    Args:
        image: a path (``str``/``Path``), a ``PIL.Image.Image``, a numpy array
            ``(H, W)``, ``(H, W, 1|3|4)`` (uint8, uint16 or float in [0, 1]), or a
            tensor ``(3, H, W)``/``(1, 3, H, W)``/``(1, H, W)`` float in [0, 1] or uint8.
        max_side: photos larger than this on the long side are downscaled while
            decoding (the pipeline works at a few hundred pixels).

    Returns:
        ``(3, H, W)`` float32 tensor in ``[0, 1]`` on the CPU (tensors keep their device).
    """
    if isinstance(image, (str, os.PathLike)):
        return _load_path(Path(image), max_side)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _from_pil(image, max_side, name="PIL image")
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, Tensor):
        return _from_tensor(image)
    raise ImageError(
        f"unsupported image type {type(image).__name__}: pass a file path, a PIL image, a numpy array or a tensor"
    )


def _load_path(path: Path, max_side: int) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, expected an image file")
    try:
        with warnings.catch_warnings():
            # Pillow's own limit only warns below 2x its MAX_IMAGE_PIXELS; _from_pil applies ours
            # (MAX_IMAGE_PIXELS, on the pixels actually decoded) before anything is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _from_pil(im, max_side, name=str(path))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a readable image file") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: {_too_large_message(None)}") from None  # Pillow refuses > 2x its own limit
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot read image ({_one_line(e)})") from None


def _too_large_message(size) -> str:
    what = f"image is {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} megapixels)" if size else "image is too large"
    return (
        f"{what}, more than the {MAX_IMAGE_PIXELS // 1_000_000} megapixels that are decoded at most "
        "(a decompression bomb?); downscale it first"
    )


def _from_pil(im, max_side: int, *, name: str) -> Tensor:
    from PIL import Image, ImageOps

    if im.format == "JPEG" and max(im.size) > max_side:
        im.draft("RGB", (max_side, max_side))  # fast DCT-domain downscale
    w, h = im.size  # the size it decodes at (after the JPEG draft)
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageError(f"{name}: {_too_large_message((w, h))}")
    im.load()  # raises on truncated files
    im = ImageOps.exif_transpose(im)
    if max(im.size) > max_side:
        im = im.copy()
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        rgb = np.clip(arr / peak, 0.0, 1.0)
        return _check_size(torch.from_numpy(np.repeat(rgb[None], 3, 0).astype(np.float32)), name)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ImageError(f"{name}: contains NaN or infinite values")
        arr = np.clip(arr, 0.0, 1.0)
        return _check_size(torch.from_numpy(np.repeat(arr[None], 3, 0)), name)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        return _from_array(np.asarray(im), name=name)
    return _from_array(np.asarray(im.convert("RGB")), name=name)


def _from_array(arr: np.ndarray, name: str = "array") -> Tensor:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{name}: expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(np.float32)
        if not np.isfinite(x).all():
            raise ImageError(f"{name}: contains NaN or infinite values")
        if x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
            raise ImageError(f"{name}: float images must be in [0, 1], got [{x.min():.3g}, {x.max():.3g}]")
    elif arr.dtype == np.bool_:
        x = arr.astype(np.float32)
    else:
        raise ImageError(f"{name}: unsupported dtype {arr.dtype}")
    c = x.shape[2]
    if c == 2:  # gray + alpha
        x = x[..., :1]
    elif c == 4:  # drop alpha (composite onto white where transparent)
        a = x[..., 3:4]
        x = x[..., :3] * a + (1.0 - a)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return _check_size(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), name)


def _from_tensor(t: Tensor) -> Tensor:
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ImageError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ImageError(f"expected a (3, H, W) or (1, H, W) tensor, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    elif t.is_floating_point():
        t = t.float()
        if not torch.isfinite(t).all():
            raise ImageError("tensor image contains NaN or infinite values")
        if t.min() < 0 or t.max() > 1:
            raise ImageError(f"float tensor images must be in [0, 1], got [{t.min():.3g}, {t.max():.3g}]")
    else:
        raise ImageError(f"unsupported tensor dtype {t.dtype}")
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return _check_size(t.contiguous(), "tensor")


def _check_size(x: Tensor, name: str) -> Tensor:
    h, w = x.shape[-2:]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ImageError(f"{name}: image is {w}x{h}, at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels are needed")
    return x


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def to_uint8(images: Tensor) -> np.ndarray:
    """``(..., 3, H, W)`` float in [0, 1] -> ``(..., H, W, 3)`` uint8 numpy array."""
    x = (images.detach().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def check_fps(fps) -> float:
    """``fps`` as a float, or ``ValueError`` unless it is a finite number from ``MIN_FPS`` to ``MAX_FPS``."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {fps!r}") from None
    if not (math.isfinite(value) and MIN_FPS <= value <= MAX_FPS):
        raise ValueError(f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {value:g}")
    return value


def _output_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".png":
        raise ValueError(f"{path}: for PNG frames give a folder name without a suffix")
    if suffix and suffix not in VIDEO_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported output type {suffix!r}; use one of "
            f"{', '.join(VIDEO_SUFFIXES)} or a folder name (no suffix) for PNG frames"
        )
    return "frames" if not suffix else ("gif" if suffix == ".gif" else "video")


def _not_replaceable(path: Path, kind: str) -> str | None:
    """Why the existing ``path`` must not be replaced by an output of ``kind`` (``None``: it may be)."""
    if kind != "frames":
        if path.is_symlink() or path.is_file():
            return None  # a file of a kind we write (its suffix says so); a symlink is replaced, not its target
        return "it is a folder, not a video file" if path.is_dir() else "it is not a regular file"
    if path.is_symlink() or not path.is_dir():
        return "it is not a folder of frames"
    here = Path.cwd().resolve()
    target = path.resolve()
    if target == here or target in here.parents:
        return "it is the current folder or one of its parents"
    try:
        entries = list(os.scandir(target))
    except OSError as e:
        return f"it cannot be listed ({e.strerror})"
    for entry in entries:
        if not (FRAME_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)):
            return f"it holds {entry.name!r}, and only folders of frame_NNNNN.png files are replaced"
    return None


def check_output(path, *, overwrite: bool = False) -> Path:
    """Check that a new output can be written to ``path`` (nothing is created) and return it as a ``Path``.

    The kind follows the suffix: a video or gif file, or a folder of PNG frames (no suffix).
    An existing ``path`` is an error unless ``overwrite`` is set, and even then only a file
    of a kind we write (a video suffix, not a folder) or a folder that holds nothing but
    ``frame_NNNNN.png`` files (what ``VideoWriter`` writes) may be replaced; the current
    folder and its parents never are.

    Raises:
        ValueError: an empty path or an unsupported suffix.
        FileExistsError: ``path`` exists and may not be replaced.
        FileNotFoundError: the folder it would go in does not exist or is a file.
    """
    if path is None or not str(path).strip():
        raise ValueError("the output path is empty")
    path = Path(path)
    kind = _output_kind(path)
    if path.exists() or path.is_symlink():
        why = _not_replaceable(path, kind)
        if why is not None:
            raise FileExistsError(f"{path} already exists and is not replaced: {why}; choose another output name")
        if not overwrite:
            raise FileExistsError(f"{path} already exists (pass overwrite=True / --overwrite to replace it)")
    parent = path.parent
    if not parent.exists():
        raise FileNotFoundError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise FileNotFoundError(f"output folder {parent} is a file, not a folder")
    return path


def _reserve(parent: Path, prefix: str, suffix: str, *, folder: bool) -> Path:
    """Create a new, uniquely named empty file or folder in ``parent`` and return its path.

    Unlike ``tempfile.mkstemp`` / ``mkdtemp`` (private 0600 / 0700), it gets the permissions
    any new file of the user gets (0666 / 0777 less the umask), which the finished output
    keeps when it is moved into place.
    """
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            if folder:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary output next to {parent}")  # pragma: no cover


@contextlib.contextmanager
def _signals_deferred():
    """Hold back SIGINT, SIGTERM and SIGHUP (delivered on exit) so that a signal cannot split a move into place."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _reason(e: BaseException) -> str:
    """An OS error without the file name it carries (that is the temporary file, not the output)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return _one_line(e)


_NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device", as ffmpeg says it too


class _FfmpegPipe:
    """Frames piped to an ffmpeg process (the command imageio-ffmpeg builds for the same options).

    Unlike imageio's writer it keeps ffmpeg's messages and checks its exit status, so a
    failed encode (a full disk) is an error instead of a truncated file.
    """

    QUALITY = 8  # imageio-ffmpeg's 0-10 scale

    def __init__(self, path: Path, width: int, height: int, fps: float, codec: str) -> None:
        import imageio_ffmpeg

        q = 1 - self.QUALITY / 10.0
        quality = ["-crf", str(int(q * 51))] if codec == "libx264" else ["-qscale:v", str(int(q * 30) + 1)]
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y",
            "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{width}x{height}", "-pix_fmt", "rgb24",
            "-r", str(Fraction(fps).limit_denominator()), "-i", "-", "-an",
            "-vcodec", codec, "-pix_fmt", "yuv420p", *quality, "-v", "error", str(path),
        ]  # fmt: skip
        self._log = tempfile.TemporaryFile()
        # Its own session: a Ctrl-C or a signal to the process group reaches us, and we stop it.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except OSError as e:  # ffmpeg stopped (BrokenPipeError): its own message says why
            self._proc.wait()
            message = self._message() or _reason(e)
            raise OSError(errno.ENOSPC if message == _NO_SPACE else e.errno, message) from None

    def close(self) -> None:
        try:
            with contextlib.suppress(OSError):  # ffmpeg already gone: its exit status tells
                self._proc.stdin.close()
            if self._proc.wait() != 0:
                message = self._message() or f"ffmpeg failed with exit status {self._proc.returncode}"
                raise OSError(errno.ENOSPC if message == _NO_SPACE else errno.EIO, message)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        self._proc.wait()
        with contextlib.suppress(OSError, ValueError):
            self._log.close()

    def _message(self) -> str:
        """ffmpeg's last error line, without its ``[muxer @ 0x...]`` prefix."""
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read()[-4000:].decode("utf-8", "replace").splitlines() if ln.strip()]
        for line in reversed(lines):
            if _NO_SPACE in line:
                return _NO_SPACE
        return re.sub(r"^(\[[^\]]*\]\s*)+", "", lines[-1]) if lines else ""


class _GifWriter:
    """Frames collected in memory and written as one gif by Pillow on ``close`` (what imageio's
    gif writer does; Pillow's gif encoder needs every frame at once)."""

    def __init__(self, path: Path, fps: float) -> None:
        self._path = path
        self._duration = 1000.0 / fps
        self._frames: list = []

    def write(self, frame: np.ndarray) -> None:
        from PIL import Image

        self._frames.append(Image.fromarray(frame))

    def close(self) -> None:
        frames, self._frames = self._frames, []
        options = {"save_all": True, "append_images": frames[1:]} if len(frames) > 1 else {}
        with open(self._path, "wb") as fh:
            frames[0].save(fh, format="GIF", duration=self._duration, loop=0, **options)

    def kill(self) -> None:
        self._frames = []


def _incomplete(path: Path, kind: str) -> str | None:
    """Why the finished file at ``path`` is not a complete video (``None``: it is)."""
    size = path.stat().st_size
    if size == 0:
        return "it is empty"
    with open(path, "rb") as f:
        suffix = path.suffix.lower()
        if kind == "gif":
            head = f.read(6)
            f.seek(-1, os.SEEK_END)
            if head not in (b"GIF87a", b"GIF89a") or f.read(1) != b"\x3b":
                return "the gif has no trailer"
            return None
        if suffix in (".mp4", ".mov"):
            return _incomplete_mp4(f, size)
        return _incomplete_matroska(f, size)


def _incomplete_mp4(f, size: int) -> str | None:
    """ISO media (mp4, mov): top-level boxes that tile the file, one of them the ``moov`` index."""
    pos, kinds = 0, set()
    while pos < size:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return "it ends inside a box header"
        n, kind = struct.unpack(">I4s", head)
        if n == 1:
            large = f.read(8)
            if len(large) < 8:
                return "it ends inside a box header"
            n = struct.unpack(">Q", large)[0]
        elif n == 0:
            n = size - pos
        if n < 8 or pos + n > size:
            return f"its {kind.decode('latin-1')!r} box is cut short"
        kinds.add(kind)
        pos += n
    return None if b"moov" in kinds else "it has no moov atom (the index written last)"


def _incomplete_matroska(f, size: int) -> str | None:
    """Matroska (webm, mkv): the EBML header, then a Segment whose size ffmpeg writes last."""

    def vint(keep_marker: bool):
        first = f.read(1)
        if not first:
            return None, 0
        b = first[0]
        length = 8 - b.bit_length() + 1 if b else 9
        if length > 8:
            return None, 0
        rest = f.read(length - 1)
        if len(rest) < length - 1:
            return None, 0
        value = b if keep_marker else b & ((1 << (8 - length)) - 1)
        for c in rest:
            value = (value << 8) | c
        return value, length

    ebml, _ = vint(True)
    if ebml != 0x1A45DFA3:
        return "it has no Matroska header"
    n, _ = vint(False)
    if n is None:
        return "it ends inside its header"
    f.seek(n, os.SEEK_CUR)
    seg, _ = vint(True)
    if seg != 0x18538067:
        return "it has no Matroska segment"
    n, length = vint(False)
    if n is None or n == (1 << (7 * length)) - 1:
        return "its segment size was never written (the index written last)"
    if f.tell() + n != size:
        return "its segment does not match the file's size"
    return None


class VideoWriter:
    """Stream ``(H, W, 3)`` uint8 frames to a video file or a folder of PNGs.

    The output kind follows ``path``: ``.mp4``/``.webm``/``.mov``/``.mkv``
    (ffmpeg, from imageio-ffmpeg), ``.gif``, or a folder (no suffix) that
    receives ``frame_00000.png`` .... Frames go to a hidden temporary file/folder
    (``.NAME.XXXXXXXX.tmp...``) in the same directory. ``close()`` checks the
    finished output (ffmpeg's exit status and a complete file: the ``moov`` index
    of mp4/mov, the segment size of webm/mkv, the trailer of gif) and only then
    moves it to ``path``. Without ``overwrite`` the move never replaces anything:
    a file that appeared at ``path`` while frames were written is kept and this
    output is discarded (``FileExistsError``). Any failure deletes the temporary
    output and leaves ``path`` as it was; on an exception inside a ``with`` block
    nothing is moved.

    ``.mp4``/``.webm``/``.mov``/``.mkv`` and frame folders are streamed; a
    ``.gif`` keeps every frame in memory until ``close()`` (``H * W * 3`` bytes a
    frame: about 200 MB for 1,000 frames of 256 x 256), so long flights are
    better written as ``.mp4``.

    Args:
        path: target file or folder (``check_output`` says which may be replaced).
        fps: frames per second (videos and gif), from ``MIN_FPS`` to ``MAX_FPS``.
        overwrite: replace an existing output of a kind we write (a video file, or a
            folder holding only ``frame_NNNNN.png`` files); otherwise ``FileExistsError``.

    Raises:
        ValueError: an empty path, an unsupported suffix, or ``fps`` out of range.
        FileExistsError: ``path`` exists and may not be replaced (``check_output``).
        FileNotFoundError: the output folder does not exist.
        OutputError: the temporary output cannot be created (no permission, full disk);
            ``append`` and ``close`` raise it too when writing fails.
    """

    def __init__(self, path: str | Path, *, fps: float = 30.0, overwrite: bool = False) -> None:
        self.path = check_output(path, overwrite=overwrite)
        self.fps = check_fps(fps)
        self.overwrite = overwrite
        self.kind = _output_kind(self.path)
        self.count = 0
        self._closed = False
        self._writer = None  # opened lazily on the first frame (needs its size)
        parent, suffix = self.path.parent, self.path.suffix.lower()
        try:
            if self.kind == "frames":
                self._tmp = _reserve(parent, f".{self.path.name}.", ".tmp", folder=True)
            else:
                self._tmp = _reserve(parent, f".{self.path.stem}.", f".tmp{suffix}", folder=False)
        except OSError as e:
            raise OutputError(e.errno, f"cannot write {self.path}: {_reason(e)}") from None

    def _open(self, frame: np.ndarray) -> None:
        if self.kind == "gif":
            self._writer = _GifWriter(self._tmp, self.fps)
        else:
            h, w = frame.shape[:2]
            if h % 2 or w % 2:
                raise ValueError(f"video frames need even width and height, got {w}x{h}")
            codec = "libvpx-vp9" if self.path.suffix.lower() == ".webm" else "libx264"
            self._writer = _FfmpegPipe(self._tmp, w, h, self.fps, codec)

    def append(self, frame: np.ndarray) -> None:
        """Add one ``(H, W, 3)`` uint8 frame.

        Raises:
            ValueError: a frame of another shape or dtype (nothing is written).
            OutputError: writing failed (full disk, ...): the temporary output is deleted.
        """
        if self._closed:
            raise RuntimeError("VideoWriter is closed")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        failure = None
        try:
            if self.kind == "frames":
                import imageio.v2 as iio

                iio.imwrite(self._tmp / f"frame_{self.count:05d}.png", frame)
            else:
                if self._writer is None:
                    self._open(frame)
                self._writer.write(frame)
        except OSError as e:
            failure = OutputError(e.errno, f"cannot write {self.path}: {_reason(e)}")
        if failure is not None:  # raised here, not as the OSError's context: its traceback holds the open file
            self.abort()
            raise failure
        self.count += 1

    def close(self) -> Path:
        """Finish the output, check it and move it into place. Returns the final path.

        Raises:
            ValueError: no frames were written.
            OutputError: the output could not be finished (full disk, ffmpeg failed, an
                incomplete file); ``path`` is left as it was.
            FileExistsError: something appeared at ``path`` while writing (without
                ``overwrite``), or ``path`` turned into something that is not replaced.
        """
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._finish()
            with _signals_deferred():
                self._place()
        except BaseException:
            with _signals_deferred():  # a second Ctrl-C does not leave the temporary output behind
                writer, self._writer = self._writer, None
                try:
                    if writer is not None:  # interrupted while finishing: ffmpeg is stopped
                        writer.kill()
                finally:
                    self._discard()
            raise
        return self.path

    def _finish(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        except OSError as e:
            raise OutputError(e.errno, f"cannot write {self.path}: {_reason(e)}") from None
        except Exception as e:  # noqa: BLE001 - the gif encoder raises its own errors too
            raise OutputError(errno.EIO, f"cannot write {self.path}: {_one_line(e)}") from None
        if self.count == 0:
            raise ValueError("no frames were written")
        if self.kind != "frames":
            why = _incomplete(self._tmp, self.kind)
            if why is not None:
                raise OutputError(errno.EIO, f"cannot write {self.path}: the finished file is incomplete ({why})")
            try:
                fd = os.open(self._tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)  # on disk before it takes the output's name
                finally:
                    os.close(fd)
            except OSError as e:
                raise OutputError(e.errno, f"cannot write {self.path}: {_reason(e)}") from None

    def _appeared(self) -> FileExistsError:
        return FileExistsError(
            f"{self.path} appeared while this run was writing it; it is kept and this run's output is discarded "
            "(pass overwrite=True / --overwrite to replace it)"
        )

    def _place(self) -> None:
        path, tmp = self.path, self._tmp
        exists = path.exists() or path.is_symlink()
        if exists and not self.overwrite:
            raise self._appeared()
        if exists:
            why = _not_replaceable(path, self.kind)
            if why is not None:
                raise FileExistsError(f"{path} is not replaced: {why}")
        try:
            if self.kind != "frames":
                if self.overwrite:
                    os.replace(tmp, path)
                else:
                    _link_no_replace(tmp, path, self._appeared)
            elif exists:
                _swap_frame_folder(tmp, path)
            else:
                try:
                    os.rename(tmp, path)  # fails on an existing file or non-empty folder (an empty one is replaced)
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    raise self._appeared() from None
                except OSError as e:
                    if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise self._appeared() from None
                    raise
        except FileExistsError:
            raise
        except OSError as e:
            raise OutputError(e.errno, f"cannot write {self.path}: {_reason(e)}") from None

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is left untouched."""
        if self._closed:
            return
        self._closed = True
        with _signals_deferred():  # a second Ctrl-C does not leave the temporary output behind
            writer, self._writer = self._writer, None
            try:
                if writer is not None:
                    writer.kill()
            finally:
                self._discard()

    def _discard(self) -> None:
        if self._tmp.is_dir() and not self._tmp.is_symlink():
            shutil.rmtree(self._tmp, ignore_errors=True)  # our own temporary folder
        else:
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


#: ``os.link`` errors that mean "no hard links here" (FAT, some network and FUSE file systems).
_NO_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _link_no_replace(tmp: Path, path: Path, appeared) -> None:
    """Move the file ``tmp`` to ``path`` unless something is at ``path`` (then ``appeared()`` is raised).

    A hard link is atomic and never replaces; where the file system has none, ``path`` is
    claimed with an exclusive create and then replaced by ``tmp``.
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise appeared() from None
    except OSError as e:
        if e.errno not in _NO_LINKS:
            raise
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise appeared() from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _swap_frame_folder(tmp: Path, path: Path) -> None:
    """Replace the frame folder ``path`` by ``tmp``: the old one is moved aside, then only its frames are deleted."""
    old = path.parent / f".{path.name}.old.{secrets.token_hex(4)}"
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    for entry in os.scandir(old):
        if FRAME_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
    try:
        os.rmdir(old)
    except OSError:  # something else appeared in it meanwhile: it is kept, not deleted
        warnings.warn(f"kept {old}: files other than frames appeared in the replaced folder", RuntimeWarning, stacklevel=3)


def write_frames(frames: Iterable[np.ndarray], path: str | Path, *, fps: float = 30.0, overwrite: bool = False) -> Path:
    """Write ``(H, W, 3)`` uint8 frames (an array ``(T, H, W, 3)`` or any iterable) to ``path`` (see ``VideoWriter``)."""
    with VideoWriter(path, fps=fps, overwrite=overwrite) as w:
        for f in frames:
            w.append(np.asarray(f))
    return w.path
