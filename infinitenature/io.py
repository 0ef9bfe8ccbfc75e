"""Reading images of any common kind, writing videos and frame folders.

``load_image`` turns a path, PIL image, numpy array or tensor into a
``(3, H, W)`` float tensor in ``[0, 1]``: grayscale, 16-bit, RGBA, palette,
CMYK and EXIF-rotated photos all work. Bad input raises ``ImageError`` (a
``ValueError``) with a one-line message.

``VideoWriter`` streams ``uint8`` frames to ``.mp4``/``.webm``/``.gif`` or to a
folder of PNGs. It writes to a temporary file next to the target and renames it
when closed without error, so a crash never leaves a half-written video, and it
refuses to replace an existing output unless ``overwrite=True``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ImageError",
    "load_image",
    "to_uint8",
    "VideoWriter",
    "write_frames",
    "VIDEO_SUFFIXES",
    "MIN_IMAGE_SIDE",
]

#: Smallest accepted image side in pixels.
MIN_IMAGE_SIDE = 16
#: Photos are decoded at most this large on the long side (we work at 128-512 px).
MAX_DECODE_SIDE = 4096
VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".mov", ".mkv")


class ImageError(ValueError):
    """The input image cannot be used (missing, unreadable, truncated, too small, wrong type)."""


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
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _from_pil(im, max_side, name=str(path))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not a readable image file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"{path}: cannot read image ({_one_line(e)})") from None


def _from_pil(im, max_side: int, *, name: str) -> Tensor:
    from PIL import Image, ImageOps

    if im.format == "JPEG" and max(im.size) > max_side:
        im.draft("RGB", (max_side, max_side))  # fast DCT-domain downscale
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
        arr = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
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


class VideoWriter:
    """Stream ``(H, W, 3)`` uint8 frames to a video file or a folder of PNGs.

    The output kind follows ``path``: ``.mp4``/``.webm``/``.mov``/``.mkv``
    (ffmpeg via imageio-ffmpeg), ``.gif``, or a folder (no suffix) that
    receives ``frame_00000.png`` .... Frames go to a temporary file/folder in the
    same directory, renamed to ``path`` by ``close()``; on an exception inside
    a ``with`` block the temporary output is deleted and nothing is renamed.

    Args:
        path: target file or folder.
        fps: frames per second (videos and gif).
        overwrite: replace an existing ``path``; otherwise ``FileExistsError``.
    """

    def __init__(self, path: str | Path, *, fps: float = 30.0, overwrite: bool = False) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix and suffix not in VIDEO_SUFFIXES and suffix != ".png":
            raise ValueError(
                f"{self.path}: unsupported output type {suffix!r}; use one of "
                f"{', '.join(VIDEO_SUFFIXES)} or a folder name (no suffix) for PNG frames"
            )
        if suffix == ".png":
            raise ValueError(f"{self.path}: for PNG frames give a folder name without a suffix")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists (pass overwrite=True / --overwrite to replace it)")
        parent = self.path.parent
        if not parent.exists():
            raise FileNotFoundError(f"output folder {parent} does not exist")
        if not parent.is_dir():
            raise FileNotFoundError(f"output folder {parent} is a file, not a folder")
        self.fps = float(fps)
        self.overwrite = overwrite
        self.kind = "frames" if not suffix else ("gif" if suffix == ".gif" else "video")
        self.count = 0
        self._closed = False
        if self.kind == "frames":
            self._tmp = _reserve(parent, f".{self.path.name}.", ".tmp", folder=True)
            self._writer = None
        else:
            self._tmp = _reserve(parent, f".{self.path.stem}.", f".tmp{suffix}", folder=False)
            self._writer = None  # opened lazily on the first frame (needs its size)

    def _open(self, frame: np.ndarray) -> None:
        import imageio.v2 as iio

        if self.kind == "gif":
            self._writer = iio.get_writer(self._tmp, mode="I", duration=1000.0 / self.fps, loop=0)
        else:
            h, w = frame.shape[:2]
            if h % 2 or w % 2:
                raise ValueError(f"video frames need even width and height, got {w}x{h}")
            codec = "libvpx-vp9" if self.path.suffix.lower() == ".webm" else "libx264"
            self._writer = iio.get_writer(
                self._tmp,
                fps=self.fps,
                codec=codec,
                quality=8,
                macro_block_size=2,
                pixelformat="yuv420p",
                ffmpeg_log_level="error",
            )

    def append(self, frame: np.ndarray) -> None:
        """Add one ``(H, W, 3)`` uint8 frame."""
        if self._closed:
            raise RuntimeError("VideoWriter is closed")
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self.kind == "frames":
            import imageio.v2 as iio

            iio.imwrite(self._tmp / f"frame_{self.count:05d}.png", frame)
        else:
            if self._writer is None:
                self._open(frame)
            self._writer.append_data(frame)
        self.count += 1

    def close(self) -> Path:
        """Finish the output and move it into place. Returns the final path."""
        if self._closed:
            return self.path
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self.count == 0:
            self._discard()
            raise ValueError("no frames were written")
        if self.path.exists():  # overwrite was allowed at construction
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is left untouched."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the temporary output is deleted anyway
                pass
        self._discard()

    def _discard(self) -> None:
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_frames(frames: Iterable[np.ndarray], path: str | Path, *, fps: float = 30.0, overwrite: bool = False) -> Path:
    """Write ``(H, W, 3)`` uint8 frames (an array ``(T, H, W, 3)`` or any iterable) to ``path``."""
    with VideoWriter(path, fps=fps, overwrite=overwrite) as w:
        for f in frames:
            w.append(np.asarray(f))
    return w.path
