"""The official-size generator: exact checkpoint keys/shapes (from the spec's pattern) and strict loading.

The official model (~260 MB) is built once per session and run forward once.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from infinitenature.models import CoModGenerator, load_official_generator, official_config
from infinitenature.models.layers import make_kernel

SPEC_SORTED_SHA256 = "494a52b28a578fa8f56e4a33431de0e4129cae4a561d209f8e7243a4cb1e2162"
SPEC_PARAMS = 65_239_843


def spec_key_shapes() -> dict[str, tuple[int, ...]]:
    """The 165 (key, shape) entries, expanded from the compact pattern of the checkpoint spec (section 4.2)."""

    def width(stage: int, f_base: int) -> int:
        return min(512, max(1, int(f_base / 2**stage)))

    out: dict[str, tuple[int, ...]] = {}
    for i in range(8):
        out[f"G_mapping.G_mapping.Dense{i}.weight"] = (512, 512)
        out[f"G_mapping.G_mapping.Dense{i}.bias"] = (512,)
    for prefix, n_in, f_base in (("style_encoder.E.", 4, 4096), ("feature_encoder.E.", 5, 8192)):
        c = lambda s: width(s, f_base)  # noqa: E731
        out[f"{prefix}128x128_0.FromRGB.0.weight"] = (c(6), n_in, 1, 1)
        out[f"{prefix}128x128_0.FromRGB.1.bias"] = (c(6),)
        for res in (128, 64, 32, 16, 8):
            r = res.bit_length() - 1
            p = f"{prefix}{res}x{res}."
            out[p + "Conv0.0.weight"] = (c(r - 1), c(r - 1), 3, 3)
            out[p + "Conv0.1.bias"] = (c(r - 1),)
            out[p + "Conv1_down.0.kernel"] = (4, 4)
            out[p + "Conv1_down.1.weight"] = (c(r - 2), c(r - 1), 3, 3)
            out[p + "Conv1_down.2.bias"] = (c(r - 2),)
        out[f"{prefix}4x4.Conv.0.weight"] = (512, 512, 3, 3)
        out[f"{prefix}4x4.Conv.1.bias"] = (512,)
    out["style_encoder.E.4x4.Dense0.weight"] = (512, 8192)
    out["style_encoder.E.4x4.Dense0.bias"] = (512,)

    def styled(p: str, cin: int, cout: int, up: bool) -> None:
        out[p + "conv.weight"] = (1, cout, cin, 3, 3)
        if up:
            out[p + "conv.blur.kernel"] = (4, 4)
        out[p + "conv.modulation.weight"] = (cin, 1024)
        out[p + "conv.modulation.bias"] = (cin,)
        out[p + "noise.weight"] = (1,)
        out[p + "activate.bias"] = (cout,)

    def to_rgb(p: str, cin: int, up: bool) -> None:
        out[p + "bias"] = (1, 4, 1, 1)
        if up:
            out[p + "upsample.kernel"] = (4, 4)
        out[p + "conv.weight"] = (1, 4, cin, 1, 1)
        out[p + "conv.modulation.weight"] = (cin, 1024)
        out[p + "conv.modulation.bias"] = (cin,)

    styled("G_synthesis.G_4x4.Conv.", 512, 512, False)
    to_rgb("G_synthesis.G_4x4.ToRGB.", 512, False)
    for res in (8, 16, 32, 64, 128):
        r = res.bit_length() - 1
        cin, c = width(r - 2, 8192), width(r - 1, 8192)
        p = f"G_synthesis.G_{res}x{res}."
        styled(p + "Conv0_up.", cin, c, True)
        styled(p + "Conv1.", c, c, False)
        to_rgb(p + "ToRGB.", c, True)
    return out


def sorted_sha256(entries: dict[str, tuple[int, ...]]) -> str:
    lines = sorted(f"{k} {tuple(v)}" for k, v in entries.items())
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@pytest.fixture(scope="session")
def official() -> CoModGenerator:
    torch.manual_seed(0)
    return CoModGenerator(official_config()).eval()


def test_spec_pattern_is_the_spec():
    spec = spec_key_shapes()
    assert len(spec) == 165
    assert sorted_sha256(spec) == SPEC_SORTED_SHA256


def test_official_keys_shapes_and_count(official):
    ours = {k: tuple(v.shape) for k, v in official.state_dict().items()}
    spec = spec_key_shapes()
    assert sorted(set(spec) - set(ours)) == [] and sorted(set(ours) - set(spec)) == []
    assert ours == spec
    assert sorted_sha256(ours) == SPEC_SORTED_SHA256
    assert official.num_parameters() == SPEC_PARAMS
    assert sum(b.numel() for b in official.buffers()) == 320
    per_part = {n: sum(p.numel() for p in m.parameters()) for n, m in official.named_children()}
    assert per_part == {
        "G_mapping": 2_101_248, "style_encoder": 18_317_952,
        "feature_encoder": 18_732_416, "G_synthesis": 26_088_227,
    }  # fmt: skip


def test_official_kernel_buffers(official):
    base = make_kernel([1, 3, 3, 1])
    kernels = {k: v for k, v in official.state_dict().items() if k.endswith("kernel")}
    assert len(kernels) == 20
    for k, v in kernels.items():
        torch.testing.assert_close(v, base * 4 if "G_synthesis" in k else base, msg=k)


def test_official_forward_once(official):
    gen = torch.Generator().manual_seed(0)
    rgb, disp = torch.rand(1, 3, 128, 128, generator=gen), torch.rand(1, 1, 128, 128, generator=gen)
    mask = (torch.rand(1, 1, 128, 128, generator=gen) > 0.5).float()
    with torch.no_grad():
        code = official.encode_style(torch.cat([rgb, disp], 1) * 2 - 1)
        out = official(rgb, disp, mask, code, torch.randn(1, 512, generator=gen), noise="zero")
    assert code.shape == (1, 512)
    assert out.shape == (1, 4, 128, 128) and torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1


def test_load_from_tar_round_trip(official, tmp_path):
    sd = official.state_dict()
    path = tmp_path / "model_latest.tar"
    torch.save({"netG_ema": sd, "global_step": 0, "epoch": 0}, path)
    loaded = load_official_generator(path)
    assert isinstance(loaded, CoModGenerator) and not loaded.training
    assert loaded.config == official_config()
    assert all(p.requires_grad for p in loaded.parameters())
    lsd = loaded.state_dict()
    assert list(lsd) == list(sd)
    assert all(torch.equal(lsd[k], sd[k]) for k in sd)


def test_load_state_dict_with_module_prefix(official):
    sd = {"module." + k: v for k, v in official.state_dict().items()}
    loaded = load_official_generator(sd)
    key = "G_synthesis.G_128x128.Conv1.conv.weight"
    assert torch.equal(loaded.state_dict()[key], official.state_dict()[key])
    # The loaded model owns its tensors: the caller's dict is not aliased.
    assert loaded.state_dict()[key].data_ptr() != sd["module." + key].data_ptr()


def test_nan_weights_are_refused_naming_the_tensor(official, tmp_path):
    """A diverged run's checkpoint is refused at load, naming the tensor (file and state dict alike)."""
    sd = {k: v.clone() for k, v in official.state_dict().items()}
    key = "G_synthesis.G_128x128.Conv1.conv.weight"
    sd[key][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=rf"tensor '{key}' holds \d+ NaN or infinite value"):
        load_official_generator(sd)
    path = tmp_path / "diverged_latest.tar"
    torch.save({"netG_ema": sd, "global_step": 1, "epoch": 1}, path)
    with pytest.raises(ValueError, match=rf"diverged_latest.tar: tensor '{key}'"):
        load_official_generator(path)


def test_strict_load_error_names_keys(official):
    sd = dict(official.state_dict())
    del sd["G_mapping.G_mapping.Dense3.bias"]
    del sd["style_encoder.E.4x4.Dense0.weight"]
    sd["G_synthesis.noises.noise_0"] = torch.zeros(1, 1, 4, 4)
    sd["G_synthesis.G_8x8.ToRGB.bias"] = torch.zeros(1, 3, 1, 1)
    with pytest.raises(ValueError) as info:
        load_official_generator(sd)
    msg = str(info.value)
    assert "2 missing keys" in msg and "G_mapping.G_mapping.Dense3.bias" in msg and "Dense0.weight" in msg
    assert "1 unexpected keys" in msg and "G_synthesis.noises.noise_0" in msg
    assert "1 shape mismatches" in msg and "G_synthesis.G_8x8.ToRGB.bias: checkpoint (1, 3, 1, 1) vs model (1, 4, 1, 1)" in msg


def test_wrong_kernel_buffer_is_rejected(official):
    sd = dict(official.state_dict())
    sd["G_synthesis.G_16x16.ToRGB.upsample.kernel"] = torch.ones(4, 4)
    with pytest.raises(ValueError, match="G_synthesis.G_16x16.ToRGB.upsample.kernel"):
        load_official_generator(sd)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_official_generator(tmp_path / "missing.tar")
    path = tmp_path / "other.tar"
    torch.save({"netD": {"w": torch.zeros(1)}, "epoch": 3}, path)
    with pytest.raises(ValueError, match="no 'netG_ema' entry"):
        load_official_generator(path)
    with pytest.raises(TypeError, match="checkpoint path or a state dict"):
        load_official_generator(42)
    (tmp_path / "junk.tar").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.tar is not a readable PyTorch checkpoint"):
        load_official_generator(tmp_path / "junk.tar")
