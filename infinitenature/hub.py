"""Models by name: the official InfiniteNature-Zero checkpoint and well-known hub depth and sky models.

``FlyThrough.from_pretrained("infinite-nature-zero")`` downloads the official
release once (``fetch_official``) and loads its generator; ``depth=`` and
``sky=`` take the short names of ``MODELS`` (for example
``"depth-anything-v2-small"``, ``"segformer-b0-ade"``), downloaded through
``huggingface_hub`` into its usual cache (``hub_snapshot``). ``infinitenature
models`` lists them all (``main``).

Where things go:

- The official checkpoint: ``cache_dir() / "infinite-nature-zero"``, where
  ``cache_dir()`` is ``$INFINITENATURE_CACHE``, else
  ``$XDG_CACHE_HOME/infinitenature``, else ``~/.cache/infinitenature``. The
  release zip is downloaded from ``OFFICIAL_URL`` (``$INFINITENATURE_OFFICIAL_URL``
  overrides it, for mirrors), its ``checkpoints/*latest.tar`` is extracted there
  and the zip is deleted. A zip or a ``*latest.tar`` put there by hand is used
  as it is, without any download.
- Hub models: the Hugging Face cache (``$HF_HOME``, ``$HF_HUB_CACHE``).

Nothing is downloaded when ``HF_HUB_OFFLINE`` or ``INFINITENATURE_OFFLINE`` is
set to 1; a model that is not cached then raises ``OfflineError``, one line
saying what to download and where to put it.

Downloads are safe to interrupt and to run in several processes at once: the
zip goes to a temporary file in the cache folder, is checked (complete length,
a readable zip archive holding a ``*latest.tar``, the checkpoint's CRC), and the
checkpoint appears under its final name only by an atomic rename, under an
exclusive lock (``fcntl.flock`` where available). Left-over temporary files of
an interrupted run are deleted by the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Iterator, Literal, Sequence

__all__ = [
    "HubModel",
    "MODELS",
    "OFFICIAL_NAME",
    "OFFICIAL_URL",
    "OFFICIAL_ZIP",
    "DownloadError",
    "OfflineError",
    "cache_dir",
    "official_dir",
    "official_url",
    "cached_official",
    "fetch_official",
    "file_sha256",
    "checkpoint_source",
    "resolve_refiner",
    "refiner_not_found",
    "names",
    "hub_model_id",
    "hub_snapshot",
    "fetch",
    "main",
]

OFFICIAL_NAME = "infinite-nature-zero"
OFFICIAL_URL = "https://storage.googleapis.com/gresearch/infinite_nature_zero/infinite_nature_zero_ckpts_data.zip"
#: The file name of the release zip (also where a zip downloaded by hand is looked for).
OFFICIAL_ZIP = "infinite_nature_zero_ckpts_data.zip"
#: The record written next to the extracted checkpoint: its URL, zip member and sha256.
RECORD_FILE = "source.json"
#: Seconds a blocking socket operation of the download may take.
TIMEOUT_S = 60.0
_CHUNK = 1 << 20

Kind = Literal["refiner", "depth", "sky"]


@dataclass(frozen=True)
class HubModel:
    """One model ``from_pretrained`` / ``load_depth`` / ``load_sky`` accept by name.

    Attributes:
        name: the short name.
        kind: ``"refiner"``, ``"depth"`` or ``"sky"``.
        source: a download URL (refiner) or a Hugging Face repo id (depth, sky).
        what: one line on what the model is.
        licence: its licence as its publisher states it (read the model card before use).
    """

    name: str
    kind: Kind
    source: str
    what: str
    licence: str


MODELS: dict[str, HubModel] = {
    m.name: m
    for m in (
        HubModel(
            OFFICIAL_NAME, "refiner", OFFICIAL_URL,
            "official InfiniteNature-Zero generator (LHQ, 128 px), published settings",
            "see the google-research release",
        ),
        HubModel(
            "depth-anything-v2-small", "depth", "depth-anything/Depth-Anything-V2-Small-hf",
            "Depth Anything V2 ViT-S (25 M), disparity", "Apache-2.0",
        ),
        HubModel(
            "depth-anything-v2-base", "depth", "depth-anything/Depth-Anything-V2-Base-hf",
            "Depth Anything V2 ViT-B (98 M), disparity", "CC-BY-NC-4.0",
        ),
        HubModel(
            "depth-anything-v2-large", "depth", "depth-anything/Depth-Anything-V2-Large-hf",
            "Depth Anything V2 ViT-L (335 M), disparity", "CC-BY-NC-4.0",
        ),
        HubModel(
            "dpt-hybrid-midas", "depth", "Intel/dpt-hybrid-midas",
            "MiDaS v3 DPT-Hybrid (123 M), disparity", "Apache-2.0",
        ),
        HubModel(
            "dpt-large", "depth", "Intel/dpt-large",
            "MiDaS v3 DPT-Large (343 M), disparity", "Apache-2.0",
        ),
        HubModel(
            "segformer-b0-ade", "sky", "nvidia/segformer-b0-finetuned-ade-512-512",
            "SegFormer-B0 (3.7 M), ADE20K 'sky'", "NVIDIA SegFormer licence",
        ),
        HubModel(
            "segformer-b5-ade", "sky", "nvidia/segformer-b5-finetuned-ade-640-640",
            "SegFormer-B5 (85 M), ADE20K 'sky'", "NVIDIA SegFormer licence",
        ),
        HubModel(
            "mask2former-swin-large-ade", "sky", "facebook/mask2former-swin-large-ade-semantic",
            "Mask2Former Swin-L (216 M), ADE20K 'sky'", "other (see model card)",
        ),
    )
}  # fmt: skip


class DownloadError(OSError):
    """A download that failed or arrived damaged; the message says what to download and where to put it.
    Nothing it fetched is kept."""


class OfflineError(DownloadError, FileNotFoundError):
    """A model that is not in its cache and cannot be downloaded now (offline, or no connection)."""


# ----------------------------------------------------------------------------- names


def names(kind: Kind | None = None) -> list[str]:
    """The short names of ``MODELS`` (of one ``kind`` when given), in table order."""
    return [n for n, m in MODELS.items() if kind is None or m.kind == kind]


def _model(name: str, kind: Kind | None = None) -> HubModel:
    """The ``MODELS`` entry ``name``; ``ValueError`` for an unknown name or one of another kind."""
    m = MODELS.get(name)
    if m is None:
        raise ValueError(f"unknown model name {name!r}; names: {', '.join(names(kind))}")
    if kind is not None and m.kind != kind:
        what = "pass it as FlyThrough.from_pretrained(name)" if m.kind == "refiner" else f"pass it as {m.kind}={name!r}"
        raise ValueError(f"{name!r} is a {m.kind} model, not a {kind} model ({what}); {kind} names: {', '.join(names(kind))}")
    return m


def hub_model_id(name: str) -> str:
    """The Hugging Face repo id behind a depth or sky short name (``"segformer-b0-ade"`` ->
    ``"nvidia/segformer-b0-finetuned-ade-512-512"``).

    Raises:
        ValueError: an unknown name, or the refiner's name (it is a URL, not a hub model).
    """
    m = _model(name)
    if m.kind == "refiner":
        raise ValueError(f"{name!r} is not a Hugging Face model; it is downloaded from {m.source}")
    return m.source


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _offline() -> str | None:
    """The variable that forbids downloads, or ``None``."""
    for var in ("INFINITENATURE_OFFLINE", "HF_HUB_OFFLINE"):
        if _env_true(var):
            return var
    return None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# ----------------------------------------------------------------------------- the official checkpoint


def cache_dir() -> Path:
    """The folder of this library's downloads: ``$INFINITENATURE_CACHE``, else
    ``$XDG_CACHE_HOME/infinitenature``, else ``~/.cache/infinitenature`` (not created here)."""
    if os.environ.get("INFINITENATURE_CACHE"):
        return Path(os.environ["INFINITENATURE_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "infinitenature"
    return Path("~/.cache/infinitenature").expanduser()


def official_dir() -> Path:
    """Where the official checkpoint is kept: ``cache_dir() / "infinite-nature-zero"``."""
    return cache_dir() / OFFICIAL_NAME


def official_url() -> str:
    """The release zip's URL: ``$INFINITENATURE_OFFICIAL_URL`` when set, else ``OFFICIAL_URL``."""
    return os.environ.get("INFINITENATURE_OFFICIAL_URL") or OFFICIAL_URL


def cached_official() -> Path | None:
    """The cached official checkpoint (the last ``*latest.tar`` in ``official_dir()`` by name, as the
    release's own code picks it), or ``None``. Files appear there complete or not at all."""
    folder = official_dir()
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.glob("*latest.tar") if p.is_file())
    return found[-1] if found else None


def _where_to_put(url: str) -> str:
    folder = official_dir()
    return (
        f"download {url} and put it at {folder / OFFICIAL_ZIP} (or put the checkpoints/*latest.tar it holds "
        f"into {folder}{os.sep}), then run again"
    )


_SHA_CACHE: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes; remembered while its size and modification time stay the same."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _intact(path: Path) -> bool:
    """False when the record written at extraction names this file with another sha256 (damaged since)."""
    record = _read_record(path.parent)
    if record.get("file") != path.name or not record.get("sha256"):
        return True  # put there by hand: nothing to compare with
    return file_sha256(path) == record["sha256"]


@contextlib.contextmanager
def _locked(folder: Path, progress: bool) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder / ".lock"``; yields whether other processes are locked out
    (``False`` where ``fcntl`` is missing: then temporary files are left alone)."""
    try:
        import fcntl
    except ImportError:  # Windows: unique temporary names and atomic renames still keep the cache whole
        yield False
        return
    with open(folder / ".lock", "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"waiting for another process to finish downloading into {folder}", file=sys.stderr)
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove_partials(folder: Path) -> None:
    for p in folder.glob(".*.part"):
        with contextlib.suppress(OSError):
            p.unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _download(url: str, dest: Path, progress: bool) -> None:
    """Write the body of ``url`` to ``dest`` (which exists, empty); check that all of it arrived.

    Raises:
        OfflineError: the server cannot be reached.
        DownloadError: an HTTP error status, or a transfer that broke off.
    """
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "infinitenature"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - http(s) URLs of the user's choosing
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url} answered HTTP {e.code} {e.reason}: nothing was kept; run again later, or {_where_to_put(url)}") from None
    except ValueError as e:  # not a URL urllib can open
        raise DownloadError(f"cannot download {url!r} ({_one_line(e)}): check INFINITENATURE_OFFICIAL_URL, or {_where_to_put(url)}") from None
    except (urllib.error.URLError, OSError) as e:  # no route, refused, DNS, timeout
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        reason = _one_line(reason) if isinstance(reason, BaseException) else " ".join(str(reason).split())
        raise OfflineError(
            f"the official InfiniteNature-Zero checkpoint is not in the cache {official_dir()} and {url} cannot be "
            f"reached ({reason}): {_where_to_put(url)}"
        ) from None
    got = 0
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        try:
            with open(dest, "wb") as f, tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=OFFICIAL_NAME, disable=not progress, leave=False
            ) as bar:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
        except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
            of = f" of {total}" if total is not None else ""
            raise DownloadError(
                f"the download of {url} broke off after {got}{of} bytes ({_one_line(e)}): nothing was kept; "
                f"run again to start afresh, or {_where_to_put(url)}"
            ) from None
    if total is not None and got != total:
        raise DownloadError(
            f"the download of {url} broke off after {got} of {total} bytes: nothing was kept; run again to start afresh, "
            f"or {_where_to_put(url)}"
        )


def _checkpoint_member(zf: zipfile.ZipFile) -> str | None:
    """The zip member the release's code would load: the last ``checkpoints/*latest.tar`` by name
    (any ``*latest.tar`` when there is no ``checkpoints`` folder)."""
    tars = [n for n in zf.namelist() if not n.endswith("/") and PurePosixPath(n).name.endswith("latest.tar")]
    preferred = [n for n in tars if PurePosixPath(n).parent.name == "checkpoints"]
    chosen = sorted(preferred or tars)
    return chosen[-1] if chosen else None


def _extract(archive: Path, folder: Path, url: str, progress: bool, *, downloaded: bool) -> Path:
    """Extract the checkpoint of the release zip ``archive`` into ``folder`` atomically and record its sha256.

    Raises:
        DownloadError: not a complete zip archive, no ``*latest.tar`` inside, or a CRC error.
    """
    from tqdm.auto import tqdm

    if downloaded:
        again = f"nothing was kept; run again to download it afresh, or {_where_to_put(url)}"
    else:
        again = f"delete it and run again to download {url}, or put an intact copy there"
    what = f"the download of {url}" if downloaded else str(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise DownloadError(f"{what} is not a complete zip archive (truncated or damaged: {_one_line(e)}); {again}") from None
    with zf:
        member = _checkpoint_member(zf)
        if member is None:
            raise DownloadError(f"{what} holds no checkpoints/*latest.tar (is it the InfiniteNature-Zero release?); {again}")
        info = zf.getinfo(member)
        target = folder / PurePosixPath(member).name  # the base name only: no path from the archive is followed
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".extract-", suffix=".part")
        tmp = Path(tmp_name)
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as dst, zf.open(info) as src, tqdm(
                total=info.file_size, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"extracting {target.name}", disable=not progress, leave=False,
            ) as bar:  # fmt: skip
                while chunk := src.read(_CHUNK):  # zipfile checks the CRC-32 at the end
                    dst.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
            tmp.unlink(missing_ok=True)
            raise DownloadError(f"{member} in {what} is damaged ({_one_line(e)}); {again}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(folder)
    st = target.stat()
    sha = h.hexdigest()
    _SHA_CACHE[(str(target.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)] = sha
    record = {
        "name": OFFICIAL_NAME,
        "url": url if downloaded else None,
        "archive": (PurePosixPath(urllib.parse.urlparse(url).path).name or OFFICIAL_ZIP) if downloaded else archive.name,
        "member": member,
        "file": target.name,
        "bytes": st.st_size,
        "sha256": sha,
        "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _atomic_write_text(folder / RECORD_FILE, json.dumps(record, indent=2) + "\n")
    return target


def fetch_official(url: str | None = None, *, progress: bool = True) -> Path:
    """The official checkpoint in the cache, downloading and extracting the release zip the first time.

    Looks, in order, for a ``*latest.tar`` in ``official_dir()``, a zip put at
    ``official_dir() / OFFICIAL_ZIP`` by hand (extracted, kept), and otherwise
    downloads ``url`` (default ``official_url()``) with a progress bar to a
    temporary file, checks it, extracts the checkpoint atomically and deletes the
    zip. A cached checkpoint whose sha256 no longer matches the one recorded at
    extraction is deleted and fetched again.

    Args:
        url: the release zip's URL (default ``official_url()``).
        progress: show progress bars on stderr.

    Returns:
        The path of the ``*latest.tar`` checkpoint.

    Raises:
        OfflineError: not cached, and downloads are off (``HF_HUB_OFFLINE`` /
            ``INFINITENATURE_OFFLINE``) or the server cannot be reached; the message
            names the URL and where to put the file.
        DownloadError: an HTTP error, a broken-off transfer, an archive that is not a
            complete zip or holds no ``*latest.tar``. Nothing of it is kept.
        PermissionError: the cache folder cannot be written.
    """
    url = url or official_url()
    found = cached_official()
    if found is not None and _intact(found):
        return found
    folder = official_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, progress) as exclusive:
        found = cached_official()  # another process may have finished meanwhile
        if found is not None:
            if _intact(found):
                return found
            if progress:
                print(f"{found} is damaged (its sha256 differs from the one recorded); fetching it again", file=sys.stderr)
            found.unlink(missing_ok=True)
            (folder / RECORD_FILE).unlink(missing_ok=True)
        if exclusive:
            _remove_partials(folder)  # left by an interrupted run; no other process is writing now
        by_hand = folder / OFFICIAL_ZIP
        if by_hand.is_file():
            return _extract(by_hand, folder, url, progress, downloaded=False)
        var = _offline()
        if var is not None:
            raise OfflineError(
                f"the official InfiniteNature-Zero checkpoint is not in the cache {folder} and {var}=1 forbids downloads: "
                f"{_where_to_put(url)}"
            )
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".zip.part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _download(url, tmp, progress)
            return _extract(tmp, folder, url, progress, downloaded=True)
        finally:
            tmp.unlink(missing_ok=True)


def checkpoint_source(path: str | Path, name: str = OFFICIAL_NAME) -> dict:
    """What to record about a loaded checkpoint: ``{"name", "file", "sha256", "url", "member"}``.

    ``sha256`` is the hash of the file's bytes; ``url`` and ``member`` come from the
    record written at extraction (``None`` for a checkpoint put in the cache by hand).
    """
    path = Path(path)
    record = _read_record(path.parent)
    mine = record.get("file") == path.name
    return {
        "name": name,
        "file": str(path),
        "sha256": file_sha256(path),
        "url": record.get("url") if mine else None,
        "member": record.get("member") if mine else None,
    }


def resolve_refiner(name_or_path, *, progress: bool = True) -> Path | None:
    """The checkpoint file a refiner name stands for, downloaded when needed; ``None`` for anything
    that is not a refiner name (``"default"``, paths, depth and sky names; an existing file or folder
    of that name wins over the name).

    Raises:
        OfflineError, DownloadError: see ``fetch_official``.
    """
    if not isinstance(name_or_path, str) or name_or_path not in MODELS or Path(name_or_path).exists():
        return None
    if MODELS[name_or_path].kind != "refiner":
        return None
    return fetch_official(progress=progress)


def refiner_not_found(name_or_path) -> FileNotFoundError:
    """The one-line error for a refiner spec that is neither a name nor an existing path; it lists what is accepted."""
    accepted = (
        f"from_pretrained accepts 'default' (the shipped weights), {', '.join(repr(n) for n in names('refiner'))} "
        "(the official checkpoint, downloaded once), a save_pretrained folder, one of our .safetensors generator files, "
        "a training run or checkpoint folder, or an official .tar/.pth/.pt/.ckpt checkpoint"
    )
    text = str(name_or_path)
    if text in MODELS:  # a depth or sky name
        return FileNotFoundError(f"{text!r} is a {MODELS[text].kind} model, not a refiner; {accepted}")
    pathlike = any(sep in text for sep in ("/", os.sep)) or bool(Path(text).suffix)
    name = "" if pathlike else f" and no model named {text!r}"
    return FileNotFoundError(f"no weights file at {Path(text).expanduser()}{name}; {accepted}")


# ----------------------------------------------------------------------------- hub models

_SAFETENSORS = ["*.json", "*.safetensors"]
_PICKLES = ["*.json", "pytorch_model*.bin"]


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (
        any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
    )


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - checked before
        return "the Hugging Face cache"
    return str(constants.HF_HUB_CACHE)


def hub_snapshot(name: str, *, kind: Kind | None = None) -> Path:
    """The local folder of a depth or sky short name's hub model, downloaded with
    ``huggingface_hub.snapshot_download`` into its cache the first time.

    Only the configs and one set of weights are fetched (``*.safetensors``, else
    ``pytorch_model*.bin``). ``HF_HUB_OFFLINE=1`` (read when called) or
    ``INFINITENATURE_OFFLINE=1`` means the cache only.

    Raises:
        ValueError: an unknown name, or one of another ``kind``.
        ImportError: ``huggingface_hub`` is not installed (the ``hf`` extra).
        OfflineError: not cached and cannot be downloaded now.
        DownloadError: the hub refused (repository not found, gated, server error).
    """
    m = _model(name, kind)
    if m.kind == "refiner":
        raise ValueError(f"{name!r} is the refiner; it is fetched with fetch_official")
    try:
        import huggingface_hub
        from huggingface_hub import constants
    except ImportError:
        raise ImportError(f"the {m.kind} model {name!r} needs transformers: pip install 'infinitenature[hf]'") from None
    var = _offline() or ("HF_HUB_OFFLINE" if constants.HF_HUB_OFFLINE else None)

    def offline_error(reason: str) -> OfflineError:
        return OfflineError(
            f"the {m.kind} model {name!r} ({m.source}) is not in the Hugging Face cache {_hub_cache()} and {reason}: "
            f"run once online (or `hf download {m.source}`), or pass {m.kind}='hf:<a local folder holding it>'"
        )

    folder = None
    try:
        for patterns in (_SAFETENSORS, _PICKLES):
            folder = Path(huggingface_hub.snapshot_download(m.source, allow_patterns=patterns, local_files_only=var is not None))
            if _has_weights(folder):
                return folder
    except FileNotFoundError as e:  # LocalEntryNotFoundError, IncompleteSnapshotError: not cached, no download possible
        reason = f"{var}=1 forbids downloads" if var else f"the hub cannot be reached ({_one_line(e.__cause__ or e)[:200]})"
        raise offline_error(reason) from None
    except Exception as e:  # noqa: BLE001 - the hub client raises HTTP, connection and its own errors
        raise DownloadError(f"cannot download the {m.kind} model {name!r} from the Hugging Face hub ({m.source}): {_one_line(e)[:300]}") from None
    if var is not None:
        raise offline_error(f"{var}=1 forbids downloads (the cached copy at {folder} lacks config.json or weights)")
    raise DownloadError(f"the hub repository {m.source} of {name!r} holds no config.json with safetensors or pytorch_model.bin weights")


def fetch(name: str, *, progress: bool = True) -> Path:
    """Download a model of ``MODELS`` by name (the official checkpoint or a hub model) and return where it is."""
    m = _model(name)
    return fetch_official(progress=progress) if m.kind == "refiner" else hub_snapshot(name)


def _cached(m: HubModel) -> str:
    """``"yes"`` / ``"no"`` / a note: whether a model is in its cache (nothing is downloaded)."""
    if m.kind == "refiner":
        return "yes" if cached_official() is not None else "no"
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return "needs [hf]"
    try:
        for patterns in (_SAFETENSORS, _PICKLES):
            if _has_weights(Path(snapshot_download(m.source, allow_patterns=patterns, local_files_only=True))):
                return "yes"
    except Exception:  # noqa: BLE001 - any failure to find it locally means "not cached"
        return "no"
    return "no"


def main(argv: Sequence[str] | None = None) -> int:
    """``infinitenature models``: list the models that are accepted by name, or download some of them.

    Prints one row per model (name, kind, cached or not, what it is, licence, source) and
    where the caches are. ``--download NAME ...`` fetches models ahead of an offline run.
    Errors print one line on stderr and return 2.
    """
    parser = argparse.ArgumentParser(
        prog="infinitenature models",
        description="The models FlyThrough.from_pretrained (refiner), depth= and sky= accept by name.",
    )
    parser.add_argument("--kind", choices=("refiner", "depth", "sky"), help="list only this kind")
    parser.add_argument("--download", nargs="+", metavar="NAME", help="download these models into their caches")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.download:
        for name in args.download:
            try:
                where = fetch(name)
            except (OSError, ValueError, ImportError) as e:
                print(f"infinitenature models: error: {' '.join(str(e).split())}", file=sys.stderr)
                return 2
            print(f"{name}: {where}")
        return 0
    rows = [
        (m.name, m.kind, _cached(m), m.what, m.licence, m.source)
        for m in MODELS.values()
        if args.kind is None or m.kind == args.kind
    ]
    head = ("NAME", "KIND", "CACHED", "WHAT", "LICENCE", "SOURCE")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + f"  {r[-1]}")
    print(f"\nofficial checkpoint cache: {official_dir()} (INFINITENATURE_CACHE)")
    print(f"hub model cache: {_hub_cache()} (HF_HOME); no downloads with HF_HUB_OFFLINE=1 or INFINITENATURE_OFFLINE=1")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
