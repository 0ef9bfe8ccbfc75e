"""Saving and loading our own models as safetensors, and finding shipped weights.

Every model we ship or train is a ``torch.nn.Module`` with a ``config``
attribute that is a dataclass. A checkpoint is one ``.safetensors`` file whose
metadata holds ``{"kind": ..., "config": <json of the dataclass>}``; no pickle is
involved. ``register_model`` ties a kind name to a class so that
``load_model(path)`` can rebuild the module from the file alone.

Shipped weights live in the repository's ``weights/`` folder, installed as the
data package ``infinitenature._weights``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

__all__ = [
    "register_model",
    "save_model",
    "load_model",
    "read_metadata",
    "shipped_weights_dir",
    "resolve_weights",
    "generator_file",
    "read_tensor_file",
    "check_finite",
]

_REGISTRY: dict[str, tuple[type, type]] = {}


def register_model(kind: str, config_cls: type) -> Callable[[type], type]:
    """Class decorator: make ``load_model`` able to rebuild this class.

    The class must accept its config dataclass as the only positional
    argument and expose it as ``self.config``.
    """

    def wrap(cls: type) -> type:
        _REGISTRY[kind] = (cls, config_cls)
        cls._weights_kind = kind
        return cls

    return wrap


def save_model(model: torch.nn.Module, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``model``'s state dict and config to one safetensors file.

    ``extra`` is any JSON-serialisable dict stored beside the config (for
    example training provenance). Returns the path written.
    """
    kind = getattr(model, "_weights_kind", None)
    if kind is None:
        raise TypeError(f"{type(model).__name__} is not a registered model (use @register_model)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {
        "kind": kind,
        "config": json.dumps(dataclasses.asdict(model.config)),
        "extra": json.dumps(extra or {}),
        "format": "pt",
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_metadata(path: str | Path) -> dict:
    """The metadata of a safetensors checkpoint: ``kind``, ``config`` (dict), ``extra`` (dict).

    Raises:
        ValueError: the file is not a readable safetensors file, or its metadata is not
            the JSON objects ``save_model`` writes.
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors file ({' '.join(str(e).split())})") from None
    out = {"kind": meta.get("kind")}
    for key in ("config", "extra"):
        try:
            value = json.loads(meta.get(key, "{}"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: its metadata {key!r} is not valid JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}: its metadata {key!r} is not a JSON object (got {type(value).__name__})")
        out[key] = value
    return out


def check_finite(state: dict, source: str | Path) -> None:
    """Raise ``ValueError`` naming the first floating-point tensor of ``state`` that holds NaN or infinity.

    Such weights come from a diverged training run; every frame they paint would be NaN.
    """
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(
                f"{source}: tensor {name!r} holds {bad} NaN or infinite value(s) of {t.numel()} "
                "(weights of a diverged training run?); they cannot be used"
            )


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in a safetensors file, read from its header (no tensor data)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors file ({' '.join(str(e).split())})") from None


def _check_shapes(path: Path, kind: str, cls: type, config, shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise ``ValueError`` unless the model ``config`` describes has exactly the tensors of the file.

    The model is built on the meta device (no memory), so a config that asks for an absurd
    architecture is refused before anything is allocated.
    """
    try:
        with torch.device("meta"):
            probe = cls(config)
    except (TypeError, ValueError, OverflowError) as e:  # config values of the wrong type or range
        raise ValueError(f"{path}: its stored {kind} config cannot build the model ({' '.join(str(e).split())[:200]})") from None
    except (NotImplementedError, RuntimeError):  # a model that cannot be built without data: load_state_dict checks
        return
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected]
    wrong = [k for k in expected if k in shapes and shapes[k] != expected[k]]
    if not (missing or unexpected or wrong):
        return
    config_text = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    if wrong:
        k = wrong[0]
        what = f"tensor {k!r} is {shapes[k]} in the file but {expected[k]} for the config"
    elif missing:
        what = f"the file lacks tensor {missing[0]!r}"
    else:
        what = f"the file has a tensor {unexpected[0]!r} the config has no place for"
    n = len(wrong) + len(missing) + len(unexpected)
    raise ValueError(
        f"{path}: its tensors cannot be loaded into the {kind} it describes ({what}; {n} tensor(s) differ): "
        f"its stored config ({config_text[:200]}) is damaged or belongs to other weights"
    )


def load_model(path: str | Path, *, kind: str | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a registered model from a safetensors file written by ``save_model``.

    ``kind``, when given, must match the file's kind (a clear error otherwise).
    The stored config is checked against the tensors' shapes before the model is
    built (nothing is allocated for a config that does not fit them), and every
    tensor must be finite. The model is returned in eval mode on ``device``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a readable safetensors file, metadata that is not valid JSON,
            another kind of model, a config that does not fit the tensors, or tensors
            holding NaN or infinity (named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    meta = read_metadata(path)
    file_kind = meta["kind"]
    if file_kind not in _REGISTRY:
        _import_model_modules()
    if file_kind not in _REGISTRY:
        raise ValueError(f"{path} holds an unknown model kind {file_kind!r}")
    if kind is not None and kind != file_kind:
        raise ValueError(f"{path} holds a {file_kind!r} model, expected {kind!r}")
    cls, config_cls = _REGISTRY[file_kind]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    try:
        config = config_cls(**{k: v for k, v in meta["config"].items() if k in fields})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: its stored {file_kind} config is invalid ({' '.join(str(e).split())[:200]})") from None
    _check_shapes(path, file_kind, cls, config, _file_shapes(path))
    try:
        model = cls(config)
    except (TypeError, ValueError, OverflowError) as e:  # config values of the wrong type or range
        raise ValueError(f"{path}: its stored {file_kind} config cannot build the model ({' '.join(str(e).split())[:200]})") from None
    state = read_tensor_file(path, map_location=device)  # ValueError for a truncated file
    check_finite(state, path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # tensors that do not fit the stored config
        msg = " ".join(str(e).split())
        raise ValueError(f"{path}: its tensors cannot be loaded into the {file_kind} it describes ({msg[:300]})") from None
    return model.to(device).eval()


def _import_model_modules() -> None:
    # Importing these modules registers their classes.
    import importlib

    for name in ("infinitenature.models", "infinitenature.estimators"):
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - a partial install
            pass


def shipped_weights_dir() -> Path:
    """Folder holding the shipped weights.

    An installed package carries them as ``infinitenature/_weights`` (the repo's
    ``weights/`` folder mapped in pyproject.toml); a source checkout uses
    ``weights/`` next to the package.
    """
    package = Path(__file__).resolve().parent
    installed = package / "_weights"
    if installed.is_dir():
        return installed
    return package.parent / "weights"


def resolve_weights(name_or_path: str | Path, default_file: str) -> Path:
    """Map ``"default"`` to ``shipped_weights_dir() / default_file``; other values are paths."""
    if str(name_or_path) == "default":
        p = shipped_weights_dir() / default_file
        if not p.is_file():
            raise FileNotFoundError(
                f"the shipped weights {default_file} are missing from {p.parent}; "
                "reinstall the package or pass a path to a weights file"
            )
        return p
    p = Path(name_or_path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no weights file at {p}")
    return p


def generator_file(path: str | Path) -> Path:
    """The generator file a path names: a training run folder means its exported EMA generator
    (``export/generator_ema.safetensors``), a checkpoint folder its ``G_ema.safetensors``; any
    other path is returned as it is.

    Raises:
        FileNotFoundError: a folder that holds neither.
    """
    path = Path(path)
    if not path.is_dir():
        return path
    for candidate in (path / "export" / "generator_ema.safetensors", path / "G_ema.safetensors"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{path} is a folder without a generator: pass a .safetensors file, a training run folder "
        "(its export/generator_ema.safetensors) or a checkpoint folder (its G_ema.safetensors)"
    )


def read_tensor_file(path: str | Path, map_location: str | torch.device = "cpu"):
    """What a ``.safetensors`` or a PyTorch file (``torch.load``, tensors and plain containers only) holds.

    Raises:
        ValueError: the file cannot be read as either (junk, truncated, a pickle of objects).
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device=str(map_location))
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load raises pickle, zip and runtime errors; safetensors its own
        kind = "safetensors" if path.suffix == ".safetensors" else "PyTorch checkpoint"
        raise ValueError(f"{path} is not a readable {kind} file ({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
