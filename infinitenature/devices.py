"""Device specs from users ("auto", "cpu", "cuda", "cuda:1", "mps") checked once, where they enter."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(spec: str | torch.device) -> torch.device:
    """The ``torch.device`` a user's device spec names, checked against this machine.

    ``"auto"`` is CUDA when present, else the CPU.

    Raises:
        ValueError: ``spec`` is no device torch knows, or names CUDA / MPS (or a CUDA
            index) this machine does not have.
    """
    if isinstance(spec, str) and spec.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec.strip() if isinstance(spec, str) else spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {str(spec)!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(spec)!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(spec)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(spec)!r}: MPS is not available on this machine")
    return device
