"""Adapters for transformers depth-estimation and semantic-segmentation models.

``load_depth("hf:depth-anything/Depth-Anything-V2-Small-hf")`` or
``load_sky("hf:nvidia/segformer-b0-finetuned-ade-512-512")`` wrap models people
already use. They are optional: transformers must be installed
(``pip install 'infinitenature[hf]'``) and the model must be in the local
Hugging Face cache or a local folder, because nothing is downloaded at run time
(``local_files_only=True``). Download a model once with ``HF_HUB_OFFLINE`` unset,
e.g. ``python -c "from transformers import AutoModel; AutoModel.from_pretrained('<id>')"``.
The short names of ``hub.MODELS`` (``load_depth("depth-anything-v2-small")``,
``load_sky("segformer-b0-ade")``) are downloaded once through ``huggingface_hub``
into its cache and then loaded from there with these adapters.

Pre-processing is done here in torch (resize, mean/std from the model's
``preprocessor_config.json`` when present), so inputs stay batched tensors on
their device; no image-processor classes are needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from .base import check_image, follow_device, resize
from .refine import refine_mask

__all__ = ["HFDepthEstimator", "HFSkyEstimator", "Preprocess", "sky_label_ids"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: transformers depth models whose ``predicted_depth`` is relative inverse depth (disparity).
DISPARITY_MODEL_TYPES = ("dpt", "depth_anything", "prompt_depth_anything")
#: transformers depth models whose ``predicted_depth`` is (metric) depth.
DEPTH_MODEL_TYPES = ("zoedepth", "glpn", "depth_pro")
#: universal (mask-query) segmenters we can turn into per-class probabilities.
MASK_MODEL_TYPES = ("mask2former", "maskformer")

#: Fallback pre-processing by model type when a model folder has no preprocessor config.
_DEFAULTS = {
    "dpt": dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), size=(384, 384)),
    "depth_anything": dict(size=(518, 518), keep_aspect_ratio=True, multiple=14),
    "prompt_depth_anything": dict(size=(518, 518), keep_aspect_ratio=True, multiple=14),
    "segformer": dict(size=(512, 512)),
    "mask2former": dict(size=(384, 384), multiple=32),
}


@dataclass
class Preprocess:
    """How to feed a transformers vision model.

    Attributes:
        mean, std: per-channel normalization of the ``[0, 1]`` image.
        size: ``(height, width)`` target, or ``None`` with ``shortest_edge``.
        shortest_edge: resize so the short side has this length (aspect kept).
        keep_aspect_ratio: with ``size``, scale both sides by the factor closer to 1 (as DPT does).
        multiple: round the input sides to a multiple of this.
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    size: tuple[int, int] | None = (384, 384)
    shortest_edge: int | None = None
    keep_aspect_ratio: bool = False
    multiple: int = 1

    @classmethod
    def from_config(cls, cfg: dict, model_type: str) -> "Preprocess":
        """Read an image processor's JSON config (missing keys fall back to model-type defaults)."""
        d = dict(_DEFAULTS.get(model_type, {}))
        if cfg.get("do_normalize", True) is False:
            d["mean"], d["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        else:
            if "image_mean" in cfg:
                d["mean"] = tuple(float(v) for v in cfg["image_mean"])
            if "image_std" in cfg:
                d["std"] = tuple(float(v) for v in cfg["image_std"])
        size = cfg.get("size")
        if isinstance(size, int):
            d["size"] = (size, size)
        elif isinstance(size, dict):
            if "height" in size and "width" in size:
                d["size"] = (int(size["height"]), int(size["width"]))
            elif "shortest_edge" in size:
                d["size"], d["shortest_edge"] = None, int(size["shortest_edge"])
        if "keep_aspect_ratio" in cfg:
            d["keep_aspect_ratio"] = bool(cfg["keep_aspect_ratio"])
        for key in ("ensure_multiple_of", "size_divisor", "size_divisibility"):
            if cfg.get(key):
                d["multiple"] = int(cfg[key])
        return cls(**d)

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        """Model input ``(h, w)`` for an image of ``height x width``."""
        if self.shortest_edge is not None:
            s = self.shortest_edge / min(height, width)
            h, w = height * s, width * s
        elif self.keep_aspect_ratio:
            sh, sw = self.size[0] / height, self.size[1] / width
            s = sh if abs(1 - sh) < abs(1 - sw) else sw
            h, w = height * s, width * s
        else:
            h, w = self.size
        m = self.multiple
        return max(m, int(round(h / m)) * m), max(m, int(round(w / m)) * m)

    def __call__(self, image: Tensor, size: tuple[int, int]) -> Tensor:
        x = resize(image, size)
        mean = x.new_tensor(self.mean).view(1, 3, 1, 1)
        std = x.new_tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


def _missing(model: str, what: str, reason: str, kind: type[Exception] = FileNotFoundError) -> Exception:
    """The one-line error for a hub model that cannot be loaded: ``FileNotFoundError`` when
    its files are not here, ``ImportError`` (``kind``) when transformers is not installed."""
    install = "pip install 'infinitenature[hf]' and " if kind is ImportError else ""
    return kind(
        f"cannot load the {what} model 'hf:{model}' ({reason}): {install}"
        f"download the model once with HF_HUB_OFFLINE unset "
        f"(python -c \"from transformers import AutoModel; AutoModel.from_pretrained('{model}')\"), "
        "or pass a local folder"
    )


def _import_transformers(model: str, what: str):
    try:
        import transformers
    except ImportError:
        raise _missing(model, what, "transformers is not installed", ImportError) from None
    return transformers


def _preprocessor_json(model: str) -> dict:
    local = Path(model).expanduser()
    if local.is_dir():
        path = local / "preprocessor_config.json"
        return json.loads(path.read_text()) if path.is_file() else {}
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return {}
    path = try_to_load_from_cache(model, "preprocessor_config.json")
    return json.loads(Path(path).read_text()) if isinstance(path, str) else {}


def _load(model: str, what: str, auto_classes: dict[str, str], default_auto: str):
    """(config, model in eval mode) from a local folder or the local cache."""
    transformers = _import_transformers(model, what)
    src = str(Path(model).expanduser()) if Path(model).expanduser().is_dir() else model
    try:
        config = transformers.AutoConfig.from_pretrained(src, local_files_only=True)
        auto = getattr(transformers, auto_classes.get(config.model_type, default_auto))
        net = auto.from_pretrained(src, local_files_only=True)
    except (OSError, EnvironmentError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise _missing(model, what, f"not found locally: {first}") from None
    return config, net.eval()


class _HFEstimator(nn.Module):
    """Shared part: input checks, device, pre-processing, resizing back."""

    def __init__(self, model: str, net: nn.Module, model_type: str, input_size: int | tuple[int, int] | None) -> None:
        super().__init__()
        self.model_id = model
        self.net = net
        self.model_type = model_type
        self.preprocess = Preprocess.from_config(_preprocessor_json(model), model_type)
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        self.input_size = input_size

    def _inputs(self, image: Tensor) -> Tensor:
        check_image(image)
        follow_device(self, image)
        dtype = next(self.net.parameters()).dtype
        h, w = image.shape[-2:]
        size = self.input_size or self.preprocess.target_size(h, w)
        return self.preprocess(image.to(dtype), size)

    def extra_repr(self) -> str:
        return f"model={self.model_id!r}, type={self.model_type!r}"


class HFDepthEstimator(_HFEstimator):
    """A transformers depth-estimation model as a ``DepthEstimator``.

    Args:
        model: Hub model id in the local cache, or a local folder saved with
            ``save_pretrained`` (DPT, Depth Anything, ZoeDepth, GLPN, ...).
        output: what ``predicted_depth`` means: ``"disparity"`` (relative
            inverse depth: DPT, Depth Anything), ``"depth"`` (converted with
            ``1/depth``: ZoeDepth, GLPN, DepthPro) or ``"auto"`` (by model type).
        input_size: override the model input ``(h, w)`` (default: from the
            model's preprocessor config).

    Calling it with ``(B, 3, H, W)`` in ``[0, 1]`` returns ``(B, 1, H, W)``
    disparity (larger = nearer, non-negative).
    """

    def __init__(
        self,
        model: str,
        *,
        output: Literal["auto", "disparity", "depth"] = "auto",
        input_size: int | tuple[int, int] | None = None,
    ) -> None:
        config, net = _load(model, "depth", {}, "AutoModelForDepthEstimation")
        if output == "auto":
            if config.model_type in DISPARITY_MODEL_TYPES:
                output = "disparity"
            elif config.model_type in DEPTH_MODEL_TYPES:
                output = "depth"
            else:
                raise ValueError(
                    f"unknown output kind of {config.model_type!r} depth models; pass kind='disparity' or kind='depth'"
                )
        if output not in ("disparity", "depth"):
            raise ValueError(f"output must be 'auto', 'disparity' or 'depth', got {output!r}")
        super().__init__(model, net, config.model_type, input_size)
        self.output = output

    @torch.no_grad()
    def forward(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> disparity ``(B, 1, H, W)``."""
        pred = self.net(pixel_values=self._inputs(image)).predicted_depth
        if pred.dim() == 3:
            pred = pred[:, None]
        pred = resize(pred.float(), tuple(image.shape[-2:]))
        if self.output == "depth":
            pred = 1.0 / pred.clamp_min(1e-6)
        else:
            pred = pred.clamp_min(0.0)
        return pred.nan_to_num(0.0).to(image.dtype)


def sky_label_ids(id2label: dict) -> list[int]:
    """Class ids whose label mentions sky or clouds (ADE20K "sky", COCO-Stuff "sky-other", "clouds")."""
    return sorted(int(i) for i, name in id2label.items() if "sky" in str(name).lower() or "cloud" in str(name).lower())


class HFSkyEstimator(_HFEstimator):
    """A transformers semantic-segmentation model as a ``SkyEstimator``.

    The sky probability is the softmax mass of the classes whose names contain
    "sky" or "cloud" (``config.id2label``). Works with per-pixel segmenters
    (SegFormer, UperNet, BEiT, DPT, MobileViT) and mask-query ones
    (Mask2Former, MaskFormer).

    Args:
        model: Hub model id in the local cache, or a local folder.
        refine: snap the mask to the photo's edges with a guided filter.
        input_size: override the model input ``(h, w)``.
    """

    def __init__(self, model: str, *, refine: bool = True, input_size: int | tuple[int, int] | None = None) -> None:
        autos = {t: "AutoModelForUniversalSegmentation" for t in MASK_MODEL_TYPES}
        config, net = _load(model, "sky", autos, "AutoModelForSemanticSegmentation")
        ids = sky_label_ids(getattr(config, "id2label", {}) or {})
        if not ids:
            raise ValueError(f"'hf:{model}' has no class named like 'sky' in config.id2label; use a model trained on ADE20K or COCO-Stuff")
        super().__init__(model, net, config.model_type, input_size)
        self.register_buffer("sky_ids", torch.tensor(ids), persistent=False)
        self.refine = refine

    def class_probabilities(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> per-class probabilities ``(B, C, h, w)`` at the model's output size."""
        out = self.net(pixel_values=self._inputs(image))
        if self.model_type in MASK_MODEL_TYPES:
            cls = out.class_queries_logits.float().softmax(-1)[..., :-1]  # drop "no object"
            masks = out.masks_queries_logits.float().sigmoid()
            seg = torch.einsum("bqc,bqhw->bchw", cls, masks)
            return seg / seg.sum(1, keepdim=True).clamp_min(1e-6)
        return out.logits.float().softmax(1)

    @torch.no_grad()
    def forward(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> sky probability ``(B, 1, H, W)`` in ``[0, 1]``."""
        probs = self.class_probabilities(image)
        sky = probs.index_select(1, self.sky_ids.to(probs.device)).sum(1, keepdim=True)
        if self.refine:
            return refine_mask(sky, image.float()).to(image.dtype)
        return resize(sky, tuple(image.shape[-2:])).clamp(0.0, 1.0).to(image.dtype)
