"""The CLI's failure paths: one line on stderr, a non-zero exit, nothing overwritten."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from infinitenature.cli import main


def _photo(path, size=(64, 48)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("kind", ["missing", "unreadable", "truncated", "tiny", "folder"])
def test_bad_photo_one_line_error(tmp_path, capsys, kind):
    if kind == "missing":
        src = tmp_path / "nope.jpg"
    elif kind == "unreadable":
        src = tmp_path / "x.jpg"
        src.write_bytes(b"\x00garbage")
    elif kind == "truncated":
        full = _photo(tmp_path / "full.jpg", (300, 200))
        src = tmp_path / "cut.jpg"
        src.write_bytes(full.read_bytes()[:500])
    elif kind == "tiny":
        src = tmp_path / "one.png"
        Image.new("RGB", (1, 1)).save(src)
    else:
        src = tmp_path
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "out.mp4"), "--quiet"], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infinitenature fly: error:"), err
    assert "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()


def test_existing_output_is_kept(tmp_path, capsys):
    src = _photo(tmp_path / "p.jpg")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    code, err = _run(["fly", str(src), "-o", str(out)], capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"


def test_bad_options(tmp_path, capsys):
    src = _photo(tmp_path / "p.jpg")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--frames", "0"], capsys)
    assert code == 2 and "--frames" in err
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--supersample", "0"], capsys)
    assert code == 2 and "--supersample must be an integer in 1..8, got 0" in err and "\n" not in err.strip()
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--anchor-scale", "9"], capsys)
    assert code == 2 and "--anchor-scale must be an integer in 0..8, got 9" in err and "\n" not in err.strip()
    for bad in ("11", "-1", "nan"):
        code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--detail", bad], capsys)
        assert code == 2 and "--detail must be a number in [0, 10]" in err and "\n" not in err.strip()
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--detail", "2", "--anchor-scale", "0"], capsys)
    assert code == 2 and "--detail needs the photo anchor" in err and "\n" not in err.strip()
    for bad in ("5", "-1", "nan"):
        code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--streak-blur", bad], capsys)
        assert code == 2 and "--streak-blur must be a number in [0, 4]" in err and "\n" not in err.strip()
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--streak-blur", "1", "--anchor-scale", "0"], capsys)
    assert code == 2 and "--streak-blur needs the photo anchor" in err and "\n" not in err.strip()
    for bad in ("1.5", "-0.1", "nan"):
        code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--aerial-perspective", bad], capsys)
        assert code == 2 and "--aerial-perspective must be a number in [0, 1]" in err and "\n" not in err.strip()
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.mp4"), "--aerial-perspective", "1", "--anchor-scale", "0"], capsys)
    assert code == 2 and "--aerial-perspective needs the photo anchor" in err and "\n" not in err.strip()


@pytest.mark.parametrize("module", ["infinitenature.cli", "infinitenature"])
def test_subprocess_has_no_traceback(tmp_path, module):
    r = subprocess.run(
        [sys.executable, "-m", module, "fly", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.mp4")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"infinitenature fly: error: {tmp_path / 'missing.png'}: no such file"


def test_delegated_commands_receive_their_options(tmp_path, capsys):
    try:
        code = main(["train", "--help"])
    except SystemExit as e:
        code = e.code
    assert code == 0
    assert "--stage" in capsys.readouterr().out
    # options that start with -- reach the sub-command's own parser
    code = main(["train", "--dry-run", "--data", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err


def test_main_command_on_the_installed_package(tmp_path):
    """`infinitenature fly` as a new user runs it: from another folder, on the installed package."""
    import os
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [sys.executable, "-c", "import infinitenature, sys; sys.stdout.write(infinitenature.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("infinitenature is not installed in this environment (only importable from the source tree)")
    photo = Path(__file__).resolve().parents[1] / "examples" / "hills.jpg"
    r = subprocess.run(
        [sys.executable, "-m", "infinitenature.cli", "fly", str(photo), "-o", "fly.gif", "--frames", "3", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fly.gif").stat().st_size > 1000


def test_anchor_off_on_the_default_weights_turns_detail_off(tmp_path, capsys):
    """The shipped weights ask for detail 1.5, which needs the anchor: `--anchor-scale 0` alone must still run."""
    src = _photo(tmp_path / "p.png")
    out = tmp_path / "o.gif"
    code, err = _run(["fly", str(src), "-o", str(out), "--frames", "2", "--anchor-scale", "0", "--quiet"], capsys)
    assert code == 0, err
    assert out.stat().st_size > 0


def _spy_config(monkeypatch):
    """Record the ``FlyThroughConfig`` every flight starts with."""
    import infinitenature.pipeline as pipeline_module

    seen = []
    real = pipeline_module.FlyThrough.iter_frames

    def spy(self, *args, **kwargs):
        seen.append(dataclasses.replace(self.config))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_module.FlyThrough, "iter_frames", spy)
    return seen


def test_aerial_perspective_reaches_the_loop(tmp_path, capsys, monkeypatch):
    seen = _spy_config(monkeypatch)
    src = _photo(tmp_path / "p.png")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "a.gif"), "--frames", "3", "--aerial-perspective", "0.5", "--quiet"], capsys)
    assert code == 0, err
    assert [c.aerial_perspective for c in seen] == [0.5]


def test_summary_line_names_the_steps_of_the_loop(tmp_path, capsys):
    """The closing line gives the per-frame time of each step of the loop."""
    src = _photo(tmp_path / "p.png")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "a.gif"), "--frames", "2"], capsys)
    assert code == 0, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"wrote 2 frames to {tmp_path / 'a.gif'} (")
    assert all(f"ms {step}" in line for step in ("pose", "warp", "refine", "sky", "emit")) and line.endswith(" per frame)")


def test_warnings_print_as_one_line_and_the_display_is_restored(monkeypatch, capsys):
    import types
    import warnings

    import infinitenature.cli as cli

    def warn_twice(argv):
        warnings.warn("skipped 1 unreadable image(s):\n  broken.jpg", UserWarning, stacklevel=2)
        warnings.warn("second", RuntimeWarning, stacklevel=2)
        return 0

    monkeypatch.setitem(sys.modules, "fake_subcommand", types.SimpleNamespace(main=warn_twice))
    monkeypatch.setitem(cli.DELEGATED, "demo", ("fake_subcommand", "a test command"))
    before = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, err = _run(["demo"], capsys)
    assert code == 0
    assert err.splitlines() == ["infinitenature demo: warning: skipped 1 unreadable image(s): broken.jpg",
                                "infinitenature demo: warning: second"]  # fmt: skip
    assert warnings.showwarning is before


def test_the_loops_own_warnings_print_with_the_command_prefix(tmp_path, capsys):
    """A photo without sky (an all-black sky mask): the loop's note reaches stderr as one prefixed line."""
    src = _photo(tmp_path / "p.png")
    mask = tmp_path / "sky.png"
    Image.fromarray(np.zeros((48, 64), dtype=np.uint8)).save(mask)
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.gif"), "--frames", "2", "--sky", str(mask), "--quiet"], capsys)
    assert code == 0, err
    assert err.splitlines() == ["infinitenature fly: warning: no sky found in the photo: sky correction was off for this run"]


@pytest.mark.parametrize("command", ["fly", "eval"])
def test_bad_device_is_one_line(tmp_path, capsys, command):
    (tmp_path / "photos").mkdir()
    src = _photo(tmp_path / "photos" / "p.png")
    argv = ["fly", str(src), "-o", str(tmp_path / "o.gif")] if command == "fly" else ["eval", str(tmp_path / "photos")]
    code, err = _run([*argv, "--device", "tpu"], capsys)
    assert code == 2 and err.strip() == f"infinitenature {command}: error: --device: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"
    assert not (tmp_path / "o.gif").exists()


def test_uncached_hub_model_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = _photo(tmp_path / "p.png")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "o.gif"), "--sky", "hf:infinitenature-tests/not-a-real-model"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("infinitenature fly: error: cannot load the sky model 'hf:infinitenature-tests/not-a-real-model'")


@pytest.mark.parametrize(
    "argv, first",
    [
        ([], "infinitenature: error: the following arguments are required: command"),
        (["flyy"], "infinitenature: error: argument command: invalid choice: 'flyy'"),
        (["fly", "p.jpg", "-o", "o.gif", "--frames", "abc"], "infinitenature fly: error: argument --frames: invalid int value: 'abc'"),
        (["eval", "photos", "--frames", "x"], "infinitenature eval: error: argument --frames: invalid int value: 'x'"),
        (["train", "--batch-size", "zero"], "infinitenature train: error: argument --batch-size: invalid int value: 'zero'"),
        (["synthetic", "out", "--style", "moon"], "infinitenature synthetic: error: argument --style: invalid choice: 'moon'"),
        (["fly", "p.jpg", "-o", "o.gif", "--sky-layers", "yes"], "infinitenature fly: error: argument --sky-layers: invalid choice: 'yes'"),
        (["synthetic", "out", "--num", "0"], "infinitenature synthetic: error: --num must be >= 1, got 0"),
    ],
)
def test_parse_errors_are_one_line_without_the_usage_block(argv, first, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse exits from inside parse_args
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(first) and err.rstrip().endswith("--help)"), err


def test_synthetic_refuses_to_overwrite_with_its_prefix(tmp_path, capsys):
    (tmp_path / "seed_0000_rgb.png").write_bytes(b"mine")
    code, err = _run(["synthetic", str(tmp_path), "--num", "1"], capsys)
    assert code == 2 and err.startswith(f"infinitenature synthetic: error: {tmp_path / 'seed_0000_rgb.png'} exists")
    assert (tmp_path / "seed_0000_rgb.png").read_bytes() == b"mine"


@pytest.mark.parametrize("command", ["fly", "eval"])
def test_output_under_a_file_is_one_line(tmp_path, capsys, command):
    """An output path whose folder is an existing file: one line, the file kept."""
    (tmp_path / "photos").mkdir()
    src = _photo(tmp_path / "photos" / "p.png")
    (tmp_path / "notes").write_text("mine")
    if command == "fly":
        argv = ["fly", str(src), "-o", str(tmp_path / "notes" / "o.gif"), "--frames", "2", "--quiet"]
        expected = f"infinitenature fly: error: output folder {tmp_path / 'notes'} is a file, not a folder"
    else:
        argv = ["eval", str(tmp_path / "photos"), "--out", str(tmp_path / "notes" / "sub" / "r.json"), "--quiet"]
        expected = f"infinitenature eval: error: --out: {tmp_path / 'notes'} is a file, not a folder"
    code, err = _run(argv, capsys)
    assert code == 2 and err.strip() == expected
    assert (tmp_path / "notes").read_text() == "mine"


@pytest.mark.parametrize("value, expected", [("on", True), ("off", False)])
def test_sky_layers_reaches_the_loop(tmp_path, capsys, monkeypatch, value, expected):
    seen = _spy_config(monkeypatch)
    src = _photo(tmp_path / "p.png")
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "a.gif"), "--frames", "3", "--sky-layers", value, "--quiet"], capsys)
    assert code == 0, err
    assert [c.sky_layers for c in seen] == [expected]


def test_every_setting_has_a_flag_generated_from_the_config():
    """`fly` offers one flag per FlyThroughConfig field, with the field's own help and range."""
    from infinitenature.cli import build_parser
    from infinitenature.config import FlyThroughConfig

    fly = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "fly")[1]
    flags = {opt: act for act in fly._actions for opt in act.option_strings}
    for f in dataclasses.fields(FlyThroughConfig):
        act = flags["--" + f.name.replace("_", "-")]
        s = f.metadata["setting"]
        assert act.default is None and act.help.startswith(s.help)
        if s.kind == "bool":
            assert act.choices == ("on", "off")


def test_generated_flags_reach_the_loop_merged_onto_the_stored_settings(tmp_path, capsys, monkeypatch):
    """Given flags override the weights' settings; the rest keep what the weights store."""
    from infinitenature import FlyThrough

    seen = _spy_config(monkeypatch)
    stored = FlyThrough.from_pretrained("default").config
    src = _photo(tmp_path / "p.png")
    argv = ["fly", str(src), "-o", str(tmp_path / "a.gif"), "--frames", "2", "--quiet", "--keep-visible", "off",
            "--frame-size", "refiner", "--fov-deg", "60", "--truncation", "1", "--beta", "3", "--stochastic", "on"]  # fmt: skip
    code, err = _run(argv, capsys)
    assert code == 0, err
    want = dataclasses.replace(stored, keep_visible=False, frame_size="refiner", fov_deg=60.0, truncation=1.0, beta=3.0, stochastic=True)
    assert seen == [want]
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "b.gif"), "--frame-size", "huge"], capsys)
    assert code == 2 and err.strip() == "infinitenature fly: error: --frame-size must be one of 'refiner', 'state', got 'huge'"
    code, err = _run(["fly", str(src), "-o", str(tmp_path / "b.gif"), "--fov-deg", "180"], capsys)
    assert code == 2 and err.strip() == "infinitenature fly: error: --fov-deg must be a number in (0, 180), got 180.0"


def test_a_closed_pipe_ends_quietly():
    """`infinitenature models | head -1`: the reader goes away; no traceback, exit 0."""
    r = subprocess.run(f"{sys.executable} -m infinitenature models | head -1", shell=True, capture_output=True, text=True)
    assert r.stdout.startswith("NAME") and r.stderr == ""
