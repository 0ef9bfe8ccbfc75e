"""Loading the released InfiniteNature-Zero generator checkpoint (``netG_ema``).

Our ``CoModGenerator(GeneratorConfig())`` has exactly the released parameter and
buffer names and shapes (165 entries, 65,239,843 parameters), so the official
state dict loads strictly with no renaming. The checkpoint is a ``torch.save``
dict read with ``weights_only=True`` (no arbitrary pickle code runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .generator import CoModGenerator, GeneratorConfig
from .layers import BLUR_KERNEL, make_kernel

__all__ = ["official_config", "load_official_generator", "check_state_dict"]


def official_config() -> GeneratorConfig:
    """The released architecture: 128 px, latent 512, f_base 8192 / 4096 (style), f_max 512."""
    return GeneratorConfig()


def _read_state_dict(path_or_state_dict: str | Path | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``netG_ema`` state dict as float32 CPU tensors owned by us, ``module.`` prefixes stripped."""
    if isinstance(path_or_state_dict, (str, Path)):
        path = Path(path_or_state_dict).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint file at {path}")
        from ..weights import read_tensor_file

        ckpt = read_tensor_file(path)
        if not isinstance(ckpt, Mapping):
            raise ValueError(f"{path} does not hold a dict (got {type(ckpt).__name__})")
        if "netG_ema" in ckpt:
            ckpt = ckpt["netG_ema"]
        elif not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            raise ValueError(f"{path} has no 'netG_ema' entry; top-level keys: {sorted(map(str, ckpt))[:10]}")
        state, owned = ckpt, True
    elif isinstance(path_or_state_dict, Mapping):
        state, owned = path_or_state_dict, False
    else:
        raise TypeError(f"expected a checkpoint path or a state dict, got {type(path_or_state_dict).__name__}")
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"state dict entry {k!r} is a {type(v).__name__}, not a tensor")
        # Copy tensors the caller still holds: the model will own them (load_state_dict(assign=True)).
        # contiguous(): a tensor saved as a broadcast view (stride 0) becomes an ordinary one.
        out[k[len("module.") :] if k.startswith("module.") else k] = v.detach().to(
            device="cpu", dtype=torch.float32, memory_format=torch.contiguous_format, copy=not owned
        ).contiguous()
    from ..weights import check_finite

    check_finite(out, path_or_state_dict if isinstance(path_or_state_dict, (str, Path)) else "the state dict")
    return out


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise one ValueError listing missing/unexpected keys and shape mismatches of ``state`` vs ``model``."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {expected[k]}"
        for k in expected
        if k in state and tuple(state[k].shape) != expected[k]
    ]
    if not (missing or unexpected or mismatched):
        return
    lines = ["the state dict does not match the official generator architecture:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            more = f" (and {len(items) - 10} more)" if len(items) > 10 else ""
            lines.append(f"  {len(items)} {title}: " + ", ".join(items[:10]) + more)
    raise ValueError("\n".join(lines))


def _check_kernels(model: torch.nn.Module) -> None:
    base = make_kernel(BLUR_KERNEL)
    allowed = (base, base * 4)  # plain blur; blur / upsample after a 2x zero insertion
    bad = [
        name
        for name, buf in model.named_buffers()
        if name.endswith("kernel") and not any(torch.allclose(buf.float().cpu(), k, atol=1e-6) for k in allowed)
    ]
    if bad:
        raise ValueError(f"{len(bad)} blur kernel buffers differ from the [1,3,3,1] constants: {bad[:10]}")


def load_official_generator(path_or_state_dict: str | Path | Mapping[str, torch.Tensor]) -> CoModGenerator:
    """The released generator with its ``netG_ema`` weights, in eval mode on CPU.

    Args:
        path_or_state_dict: the official ``.tar`` checkpoint (a dict with ``"netG_ema"``),
            a file holding the bare state dict, or the state dict itself. A
            ``module.`` prefix (DataParallel) is stripped.

    Raises:
        ValueError: keys or shapes differ from the released architecture (one
            message naming the missing, unexpected and mismatched entries), or the
            stored blur kernels are not the [1, 3, 3, 1] constants.

    Note: the released inference also applies the style encoder's dropout; use
    ``encode_style(..., dropout=True)`` to reproduce it.
    """
    state = _read_state_dict(path_or_state_dict)
    with torch.device("meta"):  # no random init of 65M parameters: the checkpoint provides them
        model = CoModGenerator(official_config())
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True, assign=True)
    _check_kernels(model)
    return model.eval()
