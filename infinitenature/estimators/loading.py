"""Turning a short specification into a depth or sky estimator.

=====================================  ==========================================
``"default"``                          the shipped tiny networks (offline, CPU-fast)
a short name (``hub.MODELS``)          a well-known hub model, downloaded once
                                       (``"depth-anything-v2-small"``, ``"segformer-b0-ade"``, ...)
``"path/to/file.safetensors"``         one of our networks saved with ``save_model``
``"hf:<model id or local folder>"``    a transformers model (needs ``[hf]`` extra)
``"map.npy"`` / ``"map.png"`` / array  a fixed, user-given map resized to each input
an existing estimator (callable)       returned unchanged
=====================================  ==========================================

``infinitenature models`` lists the short names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from torch import Tensor

from .base import MAP_SUFFIXES, DepthEstimator, SkyEstimator
from .files import DepthFromArray, SkyFromArray

__all__ = ["load_depth", "load_sky"]

_FORMS = (
    "'default', a model name ({names}), 'hf:<model id or local folder>', a .safetensors file of ours, "
    "a .npy or image file, a numpy array, a tensor, or an estimator callable"
)


def _forms(what: str) -> str:
    from ..hub import names

    return _FORMS.format(names=", ".join(names(what)))


def _by_name(what: Literal["depth", "sky"], name: str, kind: str | None):
    """The hub model of a short name, downloaded into the Hugging Face cache when needed."""
    from ..hub import hub_snapshot
    from .hf import HFDepthEstimator, HFSkyEstimator

    folder = str(hub_snapshot(name, kind=what))
    est = HFDepthEstimator(folder, output=kind or "auto") if what == "depth" else HFSkyEstimator(folder)
    est.model_id = name
    return est


def _load(what: Literal["depth", "sky"], spec, kind: str | None):
    if isinstance(spec, (np.ndarray, Tensor)):
        return DepthFromArray(spec, kind=kind or "disparity") if what == "depth" else SkyFromArray(spec)
    if isinstance(spec, (str, Path)):
        s = str(spec)
        if s == "default":
            from ..weights import load_model, resolve_weights

            return load_model(resolve_weights("default", f"{what}-default.safetensors"), kind=what)
        if not Path(s).expanduser().exists():  # an existing file or folder of that name wins
            from ..hub import MODELS

            if s in MODELS:
                return _by_name(what, s, kind)
        if s.startswith("hf:"):
            from .hf import HFDepthEstimator, HFSkyEstimator

            if what == "depth":
                return HFDepthEstimator(s[3:], output=kind or "auto")
            return HFSkyEstimator(s[3:])
        p = Path(s).expanduser()
        suffix = p.suffix.lower()
        if suffix == ".safetensors" or suffix in MAP_SUFFIXES:
            if not p.is_file():
                raise ValueError(f"no {what} file at {s!r}; valid {what} specs: {_forms(what)}")
            if suffix == ".safetensors":
                from ..weights import load_model

                return load_model(p, kind=what)
            return DepthFromArray(p, kind=kind or "disparity") if what == "depth" else SkyFromArray(p)
        raise ValueError(f"unknown {what} estimator {s!r}; valid {what} specs: {_forms(what)}")
    if callable(spec):
        return spec
    raise TypeError(f"cannot make a {what} estimator from {type(spec).__name__}; valid {what} specs: {_forms(what)}")


def load_depth(
    spec: str | Path | np.ndarray | Tensor | DepthEstimator = "default",
    *,
    kind: Literal["auto", "disparity", "depth"] | None = None,
) -> DepthEstimator:
    """Build a depth estimator from a short specification.

    Args:
        spec: ``"default"`` (shipped network), a short name of ``hub.MODELS``
            (``"depth-anything-v2-small"``, ``"dpt-hybrid-midas"``, ...; downloaded
            once into the Hugging Face cache), a path to one of our
            ``.safetensors`` files, ``"hf:<model id or local folder>"`` (a
            transformers depth-estimation model from the local cache), a
            ``.npy`` / image file, a numpy array or tensor (a fixed map resized to
            every input), or an existing estimator (returned unchanged).
        kind: what a user-given map or a transformers model outputs:
            ``"disparity"`` (larger = nearer) or ``"depth"`` (converted with
            ``1 / depth``). ``None`` picks ``"disparity"`` for maps and
            ``"auto"`` (by model type) for transformers models.

    Returns:
        A callable ``image (B, 3, H, W) in [0, 1] -> disparity (B, 1, H, W)``.

    Raises:
        ValueError: an unknown spec, a missing file, or a sky model's name (the message lists the valid specs).
        hub.OfflineError: a short name that is not cached and cannot be downloaded now (``HF_HUB_OFFLINE=1``
            or no connection); ``hub.DownloadError``: the hub refused it.
        ImportError: a hub model without transformers installed.

    Example:
        >>> est = load_depth(torch.linspace(1, 0, 8)[:, None].expand(8, 8))
        >>> est(torch.rand(2, 3, 16, 24)).shape
        torch.Size([2, 1, 16, 24])
    """
    if kind not in (None, "auto", "disparity", "depth"):
        raise ValueError(f"kind must be 'auto', 'disparity' or 'depth', got {kind!r}")
    return _load("depth", spec, kind)


def load_sky(spec: str | Path | np.ndarray | Tensor | SkyEstimator = "default") -> SkyEstimator:
    """Build a sky estimator from a short specification.

    Args:
        spec: ``"default"``, a short name of ``hub.MODELS`` (``"segformer-b0-ade"``,
            ``"segformer-b5-ade"``, ...; downloaded once into the Hugging Face cache),
            a path to one of our ``.safetensors`` files, ``"hf:<model id or local folder>"`` (a transformers semantic
            segmentation model with a label containing "sky"), a ``.npy`` /
            image mask file, a numpy array or tensor in ``[0, 1]`` (or bool), or
            an existing estimator.

    Returns:
        A callable ``image (B, 3, H, W) in [0, 1] -> sky probability (B, 1, H, W) in [0, 1]``.

    Raises:
        ValueError, hub.OfflineError, hub.DownloadError, ImportError: as for ``load_depth``.
    """
    return _load("sky", spec, None)
