"""Weights that must be refused at load, with one line that says why: NaN tensors, a stored
config that does not fit the tensors (checked before anything is allocated), bad metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from infinitenature.cli import main
from infinitenature.models.generator import CoModGenerator, GeneratorConfig
from infinitenature.weights import check_finite, load_model, read_metadata, save_model

TINY = GeneratorConfig(resolution=16, latent_dim=8, mapping_layers=1, f_base=64, f_base_style=64, f_max=8)


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    return save_model(CoModGenerator(TINY), tmp_path / "tiny.safetensors")


def _rewrite(src, dst, *, config=None, meta_config_text=None, tensors=None):
    """A copy of ``src`` with its metadata's config or some tensors changed."""
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    state = load_file(str(src))
    if config is not None:
        meta["config"] = json.dumps({**json.loads(meta["config"]), **config})
    if meta_config_text is not None:
        meta["config"] = meta_config_text
    state.update(tensors or {})
    save_file(state, str(dst), metadata=meta)
    return dst


def test_the_tiny_generator_loads(tiny):
    assert isinstance(load_model(tiny, kind="generator"), CoModGenerator)


def test_nan_weights_are_refused_naming_the_tensor(tiny, tmp_path):
    name = "G_mapping.G_mapping.Dense0.bias"
    bad = load_file(str(tiny))[name].clone()
    bad[1] = float("nan")
    path = _rewrite(tiny, tmp_path / "diverged.safetensors", tensors={name: bad})
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(e.value).startswith(f"{path}: tensor '{name}' holds 1 NaN or infinite value(s) of 8 ")
    with pytest.raises(ValueError, match="'w' holds 1 NaN"):
        check_finite({"ok": torch.zeros(3), "steps": torch.tensor([1, 2]), "w": torch.tensor([1.0, float("inf")])}, "x")


def test_an_absurd_config_is_refused_before_anything_is_allocated(tiny, tmp_path, monkeypatch):
    """latent_dim=200000 would allocate hundreds of GB: the shapes are compared on the meta device first."""
    path = _rewrite(tiny, tmp_path / "absurd.safetensors", config={"latent_dim": 200_000})
    built = []
    real_init = CoModGenerator.__init__

    def record(self, config):
        built.append(torch.empty(0).device.type)  # the default device while it is built
        real_init(self, config)

    monkeypatch.setattr(CoModGenerator, "__init__", record)
    with pytest.raises(ValueError) as e:
        load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: its tensors cannot be loaded into the generator it describes (tensor ")
    assert "latent_dim=200000" in msg and "\n" not in msg
    assert built == ["meta"]  # never built for real


@pytest.mark.parametrize(
    "text, message",
    [
        ("{bad json", "its metadata 'config' is not valid JSON (Expecting property name enclosed in double quotes at character 1)"),
        ("[1, 2]", "its metadata 'config' is not a JSON object (got list)"),
        ('{"latent_dim": "wide"}', "its stored generator config is invalid"),
    ],
)
def test_bad_metadata_is_one_line(tiny, tmp_path, text, message):
    path = _rewrite(tiny, tmp_path / "meta.safetensors", meta_config_text=text)
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(e.value).startswith(f"{path}: {message}") and "\n" not in str(e.value)
    if "JSON" in message:
        with pytest.raises(ValueError, match="JSON"):
            read_metadata(path)


@pytest.mark.parametrize("damage", ["nan", "absurd", "json"])
def test_bad_weights_in_the_cli_are_one_line(tiny, tmp_path, capsys, damage):
    if damage == "nan":
        name = "G_mapping.G_mapping.Dense0.bias"
        path = _rewrite(tiny, tmp_path / "w.safetensors", tensors={name: torch.full((8,), float("nan"))})
        expected = f"tensor '{name}' holds 8 NaN"
    elif damage == "absurd":
        path = _rewrite(tiny, tmp_path / "w.safetensors", config={"latent_dim": 200_000})
        expected = "its tensors cannot be loaded into the generator it describes"
    else:
        path = _rewrite(tiny, tmp_path / "w.safetensors", meta_config_text="{bad")
        expected = "its metadata 'config' is not valid JSON"
    src = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(src)
    code = main(["fly", str(src), "-o", str(tmp_path / "o.gif"), "--weights", str(path), "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"infinitenature fly: error: {path}: ") and expected in lines[0], err
    assert not (tmp_path / "o.gif").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
