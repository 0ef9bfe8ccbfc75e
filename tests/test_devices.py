"""Device specs: parsed and checked against the machine where they enter."""

from __future__ import annotations

import pytest
import torch

from infinitenature.devices import resolve_device
from infinitenature.metrics.protocol import build_pipeline


def test_auto_and_cpu():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" cpu ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["tpu", "gpu0", "", "cuda:x"])
def test_unknown_devices_are_value_errors(spec):
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it():
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(spec)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_beyond_the_machine():
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_pipeline_to_raises_value_error():
    pipe = build_pipeline("random-tiny", depth=None, sky=None, resolution=32)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        pipe.to("tpu")
    assert pipe.to("cpu").device == torch.device("cpu")
