"""Models by name: the official release zip served from 127.0.0.1, and short hub names with local model folders.

The release zip holds ``checkpoints/model_latest.tar``, a checkpoint rebuilt from the
official spec (the 165 ``netG_ema`` keys and shapes of ``test_models_official``). Its
weights are saved as broadcast views (one number per tensor, stride 0), so the file is
small while every key and shape is the released one. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from test_models_official import spec_key_shapes

from infinitenature import hub
from infinitenature.config import FlyThroughConfig
from infinitenature.estimators import load_depth, load_sky
from infinitenature.models import official_config
from infinitenature.models.layers import make_kernel
from infinitenature.pipeline import FlyThrough, load_refiner

REPO = Path(__file__).resolve().parents[1]
MEMBER = "checkpoints/model_latest.tar"
ZIP_PATH = "/gresearch/infinite_nature_zero/infinite_nature_zero_ckpts_data.zip"


# ----------------------------------------------------------------------------- the release, served


@pytest.fixture(scope="module")
def release():
    """``(zip bytes, checkpoint bytes, netG_ema state dict)`` laid out like the official release."""
    base = make_kernel([1, 3, 3, 1])
    state = {}
    for i, (key, shape) in enumerate(spec_key_shapes().items()):
        if key.endswith("kernel"):
            state[key] = base * 4 if "G_synthesis" in key else base.clone()
        else:
            state[key] = torch.full((1,), (i + 1) / 1000).expand(shape)  # one distinct number per tensor
    buf = io.BytesIO()
    torch.save({"netG_ema": state, "global_step": 600000, "epoch": 42}, buf)
    ckpt = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("checkpoints/", b"")
        zf.writestr(MEMBER, ckpt)
        zf.writestr("test-data/lhq/0001.png", os.urandom(2048))
    return out.getvalue(), ckpt, state


class Server:
    """An HTTP server on 127.0.0.1 whose answers the test sets: ``routes[path] = (status, body, declared length)``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.hits: list[str] = []
        self.stall: threading.Event | None = None  # when set up: hold each body after 100 bytes until it is set
        self.body_started = threading.Event()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                state.hits.append(self.path)
                status, body, declared = state.routes.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if declared is None else declared))
                self.end_headers()
                try:
                    if state.stall is not None:
                        self.wfile.write(body[:100])
                        self.wfile.flush()
                        state.body_started.set()
                        state.stall.wait(60)
                        body = body[100:]
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{ZIP_PATH}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.running = True

    def serve(self, body: bytes, status: int = 200, declared: int | None = None) -> None:
        self.routes[ZIP_PATH] = (status, body, declared)

    def stop(self) -> None:
        if self.running:
            if self.stall is not None:
                self.stall.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            self.running = False


@pytest.fixture
def server(monkeypatch):
    s = Server()
    monkeypatch.setenv("INFINITENATURE_OFFICIAL_URL", s.url)
    yield s
    s.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache; downloads allowed. Returns the official checkpoint's folder (not created)."""
    monkeypatch.setenv("INFINITENATURE_CACHE", str(tmp_path / "cache"))
    for var in ("INFINITENATURE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "cache" / hub.OFFICIAL_NAME


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------------------- the official checkpoint


def test_first_call_downloads_and_loads_second_works_offline(release, server, cache):
    zip_bytes, ckpt, state = release
    server.serve(zip_bytes)
    pipe = FlyThrough.from_pretrained("infinite-nature-zero")
    assert server.hits == [ZIP_PATH]
    # The published loop's settings, and the netG_ema weights loaded strictly into the released architecture.
    assert pipe.config == FlyThroughConfig.published()
    assert pipe.refiner.config == official_config() and not pipe.refiner.training
    loaded = pipe.refiner.state_dict()
    assert sorted(loaded) == sorted(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    sha = hashlib.sha256(ckpt).hexdigest()
    assert pipe.refiner.source == {
        "name": "infinite-nature-zero", "file": str(cache / "model_latest.tar"), "sha256": sha,
        "url": server.url, "member": MEMBER,
    }  # fmt: skip
    # Only the checkpoint, its record and the lock stay: the zip and the temporary files are gone.
    assert _files(cache) == {"model_latest.tar", hub.RECORD_FILE, ".lock"}
    record = json.loads((cache / hub.RECORD_FILE).read_text())
    assert record["sha256"] == sha and record["bytes"] == len(ckpt) and record["member"] == MEMBER

    # the flight's output records which file made it
    quick = FlyThrough.from_pretrained("infinite-nature-zero", truncation=1.0)  # no 50,000-sample mean latent
    assert quick.source == pipe.refiner.source
    out = quick(torch.rand(3, 64, 64), num_frames=2, progress=False)
    assert out.source["sha256"] == sha and out.frames.shape == (2, 128, 128, 3)

    server.stop()
    again, config = load_refiner("infinite-nature-zero")
    assert config == FlyThroughConfig.published() and again.source["sha256"] == sha
    assert hub.fetch_official() == cache / "model_latest.tar"
    assert server.hits == [ZIP_PATH]


def test_truncated_zip_is_refused_and_leaves_nothing(release, server, cache):
    zip_bytes, ckpt, _ = release
    server.serve(zip_bytes[: len(zip_bytes) // 2])
    with pytest.raises(hub.DownloadError, match="not a complete zip archive") as e:
        hub.fetch_official(progress=False)
    assert server.url in _one_line(e) and "nothing was kept" in str(e.value)
    assert _files(cache) == {".lock"} and hub.cached_official() is None
    server.serve(zip_bytes)  # a retry starts afresh and succeeds
    assert hub.file_sha256(hub.fetch_official(progress=False)) == hashlib.sha256(ckpt).hexdigest()


def test_transfer_that_breaks_off(release, server, cache):
    zip_bytes, _, _ = release
    server.serve(zip_bytes[:5000], declared=len(zip_bytes))  # the connection closes early
    with pytest.raises(hub.DownloadError, match=f"broke off after 5000 of {len(zip_bytes)} bytes") as e:
        hub.fetch_official(progress=False)
    _one_line(e)
    assert _files(cache) == {".lock"}


def test_server_error(server, cache):
    server.serve(b"internal error", status=500)
    with pytest.raises(hub.DownloadError, match="answered HTTP 500") as e:
        hub.fetch_official(progress=False)
    assert not isinstance(e.value, hub.OfflineError)
    assert str(cache / hub.OFFICIAL_ZIP) in _one_line(e)  # where to put a copy downloaded by hand
    assert _files(cache) == {".lock"}


def test_damaged_member_and_archive_without_checkpoint(release, server, cache):
    _, ckpt, _ = release
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(MEMBER, ckpt)
    damaged = bytearray(out.getvalue())
    at = damaged.index(ckpt[:64]) + len(ckpt) // 2
    damaged[at] ^= 0xFF  # the central directory is intact; the member's CRC-32 is not
    server.serve(bytes(damaged))
    with pytest.raises(hub.DownloadError, match="is damaged"):
        hub.fetch_official(progress=False)
    assert _files(cache) == {".lock"}

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("checkpoints/model_0100.tar", ckpt)
    server.serve(out.getvalue())
    with pytest.raises(hub.DownloadError, match=r"holds no checkpoints/\*latest.tar"):
        hub.fetch_official(progress=False)
    assert _files(cache) == {".lock"}


def test_offline_with_empty_cache_then_a_zip_put_by_hand(release, server, cache, monkeypatch):
    zip_bytes, ckpt, _ = release
    server.serve(zip_bytes)
    server.stop()  # nothing listens on the port any more
    with pytest.raises(hub.OfflineError) as e:
        FlyThrough.from_pretrained("infinite-nature-zero")
    msg = _one_line(e)
    assert isinstance(e.value, FileNotFoundError)
    assert "cannot be reached" in msg and f"download {server.url} and put it at {cache / hub.OFFICIAL_ZIP}" in msg
    monkeypatch.setenv("INFINITENATURE_OFFLINE", "1")
    with pytest.raises(hub.OfflineError, match="INFINITENATURE_OFFLINE=1 forbids downloads"):
        hub.fetch_official()
    # Doing what the message says works without any server.
    (cache / hub.OFFICIAL_ZIP).write_bytes(zip_bytes)
    path = hub.fetch_official(progress=False)
    assert path == cache / "model_latest.tar" and hub.file_sha256(path) == hashlib.sha256(ckpt).hexdigest()
    assert (cache / hub.OFFICIAL_ZIP).is_file()  # a file put there by hand is left alone
    assert server.hits == []


def test_leftovers_removed_and_damaged_cache_fetched_again(release, server, cache):
    zip_bytes, ckpt, _ = release
    server.serve(zip_bytes)
    cache.mkdir(parents=True)
    (cache / ".download-interrupted.zip.part").write_bytes(zip_bytes[:100])
    (cache / ".extract-interrupted.part").write_bytes(ckpt[:100])
    path = hub.fetch_official(progress=False)
    assert _files(cache) == {"model_latest.tar", hub.RECORD_FILE, ".lock"}
    path.write_bytes(ckpt[:-10] + b"x" * 10)  # bit rot after extraction
    assert hub.fetch_official(progress=False) == path
    assert len(server.hits) == 2 and hub.file_sha256(path) == hashlib.sha256(ckpt).hexdigest()


def test_concurrent_process_waits_and_does_not_corrupt(release, server, cache):
    zip_bytes, ckpt, _ = release
    server.serve(zip_bytes)
    server.stall = threading.Event()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = (
        "import sys\nfrom infinitenature.hub import fetch_official\nprint('ready', flush=True)\n"
        "sys.stdin.readline()\nprint(fetch_official(progress=True), flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=env, cwd=REPO, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "ready"
        result = {}
        here = threading.Thread(target=lambda: result.update(path=hub.fetch_official(progress=False)), daemon=True)
        here.start()  # holds the lock while the server holds the body back
        assert server.body_started.wait(60)
        child.stdin.write("go\n")
        child.stdin.flush()
        waiting = ""
        while "waiting for another process" not in waiting:  # the child is now blocked on the lock
            waiting = child.stderr.readline()
            assert waiting, "the child exited without waiting for the lock"
        server.stall.set()
        here.join(60)
        out, err = child.communicate(timeout=60)
    finally:
        server.stall.set()
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert Path(out.strip()) == result["path"] == cache / "model_latest.tar"
    assert server.hits == [ZIP_PATH]  # the second process used the first one's download
    assert hub.file_sha256(result["path"]) == hashlib.sha256(ckpt).hexdigest()
    assert _files(cache) == {"model_latest.tar", hub.RECORD_FILE, ".lock"}


def test_unknown_names_list_what_is_accepted(cache, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as e:
        FlyThrough.from_pretrained("infinite-nature")
    msg = _one_line(e)
    assert "no model named 'infinite-nature'" in msg and "'default'" in msg and "'infinite-nature-zero'" in msg
    assert "save_pretrained folder" in msg and ".tar" in msg
    with pytest.raises(FileNotFoundError, match="no weights file at .*missing.safetensors; from_pretrained accepts"):
        load_refiner(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match="'segformer-b0-ade' is a sky model, not a refiner"):
        load_refiner("segformer-b0-ade")
    with pytest.raises(ValueError, match="'infinite-nature-zero' is a refiner model"):
        load_depth("infinite-nature-zero")
    # A folder of that name in the working directory wins over the name.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "infinite-nature-zero").mkdir()
    assert hub.resolve_refiner("infinite-nature-zero") is None
    assert hub.resolve_refiner("default") is None and hub.resolve_refiner(Path("x.tar")) is None


# ----------------------------------------------------------------------------- short hub names


def _tiny_depth_anything(path: Path) -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=28,
        patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )  # fmt: skip
    cfg = DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 8, 8, 8], fusion_hidden_size=8, reassemble_hidden_size=16, head_hidden_size=8
    )
    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(cfg).save_pretrained(path)
    (path / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 28, "width": 28}, "keep_aspect_ratio": False}))
    return path


def _tiny_segformer(path: Path, *, safe: bool) -> Path:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    labels = {0: "tree", 1: "sky", 2: "water"}
    cfg = SegformerConfig(
        num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], num_attention_heads=[1], patch_sizes=[7],
        strides=[4], decoder_hidden_size=8, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(cfg).save_pretrained(path)
    if not safe:  # the layout of older hub repositories: pytorch_model.bin only
        from safetensors.torch import load_file

        torch.save(load_file(path / "model.safetensors"), path / "pytorch_model.bin")
        (path / "model.safetensors").unlink()
    (path / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 32, "width": 32}}))
    return path


def _fake_download(monkeypatch, folder: Path) -> list:
    """Replace ``huggingface_hub.snapshot_download`` with one that returns ``folder``, keeping only the files
    the patterns ask for (as the hub does); returns the list of calls."""
    import fnmatch
    import shutil

    huggingface_hub = pytest.importorskip("huggingface_hub")
    calls = []

    def snapshot_download(repo_id, *, allow_patterns=None, local_files_only=False, **kwargs):
        calls.append((repo_id, tuple(allow_patterns), local_files_only))
        out = folder.parent / "snapshot"
        out.mkdir(exist_ok=True)
        for f in folder.iterdir():
            if any(fnmatch.fnmatch(f.name, p) for p in allow_patterns):
                shutil.copy(f, out / f.name)
        return str(out)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_depth_short_name_downloads_through_the_hub(tmp_path, cache, monkeypatch):
    pytest.importorskip("transformers")
    calls = _fake_download(monkeypatch, _tiny_depth_anything(tmp_path / "da"))
    est = load_depth("depth-anything-v2-small")
    assert calls == [("depth-anything/Depth-Anything-V2-Small-hf", ("*.json", "*.safetensors"), False)]
    assert est.model_id == "depth-anything-v2-small" and est.output == "disparity"
    out = est(torch.rand(1, 3, 30, 45))
    assert out.shape == (1, 1, 30, 45) and torch.isfinite(out).all() and (out >= 0).all()


def test_sky_short_name_with_pickle_weights(tmp_path, cache, monkeypatch):
    pytest.importorskip("transformers")
    calls = _fake_download(monkeypatch, _tiny_segformer(tmp_path / "seg", safe=False))
    est = load_sky("segformer-b0-ade")
    # No safetensors in the repository: the second call fetches pytorch_model.bin.
    assert [c[1] for c in calls] == [("*.json", "*.safetensors"), ("*.json", "pytorch_model*.bin")]
    assert {c[0] for c in calls} == {"nvidia/segformer-b0-finetuned-ade-512-512"}
    out = est(torch.rand(2, 3, 37, 51))
    assert out.shape == (2, 1, 37, 51) and (out >= 0).all() and (out <= 1).all()
    with pytest.raises(ValueError, match="'segformer-b0-ade' is a sky model, not a depth model.*depth names: depth-anything-v2-small"):
        load_depth("segformer-b0-ade")
    with pytest.raises(ValueError, match="valid sky specs: 'default', a model name \\(segformer-b0-ade, segformer-b5-ade"):
        load_sky("segformer-b9")


def test_hub_offline_setting_is_honoured(tmp_path, monkeypatch):
    hf = pytest.importorskip("huggingface_hub")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read when the model is asked for, not only at import
    monkeypatch.setattr(hf.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(hub.OfflineError) as e:
        load_sky("segformer-b5-ade")
    msg = _one_line(e)
    assert "'segformer-b5-ade' (nvidia/segformer-b5-finetuned-ade-640-640) is not in the Hugging Face cache" in msg
    assert "HF_HUB_OFFLINE=1 forbids downloads" in msg and "hf download nvidia/segformer-b5-finetuned-ade-640-640" in msg
    # A model in the hub's cache layout is used offline.
    snapshot = tmp_path / "hf" / "models--depth-anything--Depth-Anything-V2-Base-hf" / "snapshots" / ("a" * 40)
    _tiny_depth_anything(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    est = load_depth("depth-anything-v2-base")
    assert est(torch.rand(1, 3, 28, 28)).shape == (1, 1, 28, 28)


def test_fresh_process_offline_messages(tmp_path):
    """``HF_HUB_OFFLINE=1`` with empty caches: both kinds of names fail with one line naming what to fetch."""
    code = (
        "from infinitenature import hub\n"
        "from infinitenature.estimators import load_depth\n"
        "from infinitenature.pipeline import load_refiner\n"
        "for load, name in ((load_refiner, 'infinite-nature-zero'), (load_depth, 'dpt-hybrid-midas')):\n"
        "    try:\n"
        "        load(name)\n"
        "    except hub.OfflineError as e:\n"
        "        print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "INFINITENATURE_CACHE": str(tmp_path / "cache")}  # fmt: skip
    env.pop("INFINITENATURE_OFFICIAL_URL", None)
    env.pop("HF_HUB_CACHE", None)
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    refiner, depth = run.stdout.strip().split("\n")
    assert f"download {hub.OFFICIAL_URL} and put it at {tmp_path / 'cache' / 'infinite-nature-zero' / hub.OFFICIAL_ZIP}" in refiner
    assert "HF_HUB_OFFLINE=1 forbids downloads" in refiner
    assert f"'dpt-hybrid-midas' (Intel/dpt-hybrid-midas) is not in the Hugging Face cache {tmp_path / 'hf' / 'hub'}" in depth
    assert not (tmp_path / "cache" / "infinite-nature-zero" / "model_latest.tar").exists()


def test_models_command(capsys, cache, tmp_path, monkeypatch):
    hf = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(hf.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    assert hub.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["NAME", "KIND", "CACHED"]
    rows = {line.split()[0]: line.split()[1:3] for line in out[1 : 1 + len(hub.MODELS)]}
    assert rows == {n: [m.kind, "no"] for n, m in hub.MODELS.items()}
    assert any(str(cache) in line for line in out)
    assert hub.main(["--kind", "depth"]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:6]} == set(hub.names("depth"))
    monkeypatch.setenv("INFINITENATURE_OFFLINE", "1")
    assert hub.main(["--download", "infinite-nature-zero"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infinitenature models: error: the official InfiniteNature-Zero checkpoint") and "\n" not in err
    assert hub.hub_model_id("segformer-b0-ade") == "nvidia/segformer-b0-finetuned-ade-512-512"
    with pytest.raises(ValueError, match="unknown model name 'nope'"):
        hub.hub_model_id("nope")
