"""The example notebook and scripts run as shipped (with fewer frames)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _notebook_code(path: Path) -> str:
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    code = _notebook_code(EXAMPLES / "quickstart.ipynb")
    assert "FRAMES = 60" in code and 'PHOTO = Path("hills.jpg")' in code
    code = code.replace("FRAMES = 60", "FRAMES = 3").replace('PHOTO = Path("hills.jpg")', f"PHOTO = Path({str(EXAMPLES / 'hills.jpg')!r})")
    if "IPython.display" not in sys.modules:
        try:
            import IPython.display  # noqa: F401
        except ImportError:  # not a dependency: stand in for the notebook's display helper
            fake = types.ModuleType("IPython.display")
            fake.Video = lambda *a, **k: None
            monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
            monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "quickstart.ipynb", "exec"), scope)  # noqa: S102
    assert scope["out"].frames.shape == (3, 256, 256, 3)  # the shipped weights ask for 2x state-sized frames
    assert scope["pan"].frames.shape == (3, 512, 512, 3)
    assert (tmp_path / "hills.mp4").stat().st_size > 1000
    assert scope["video"].count == 15 and (tmp_path / "long.mp4").exists()


def test_stills_script(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        import flythrough_stills
    finally:
        sys.path.remove(str(EXAMPLES))
    out = tmp_path / "strip.png"
    assert flythrough_stills.main([str(EXAMPLES / "fog.jpg"), str(out), "--frames", "3", "--every", "2", "--scale", "1"]) == 0
    from PIL import Image

    assert Image.open(out).size == (2 * 256 + 4, 256)
    # a second row with a setting changed; a bad setting is a one-line error
    args = [str(EXAMPLES / "fog.jpg"), str(out), "--frames", "2", "--every", "1", "--scale", "1"]
    assert flythrough_stills.main(args + ["--set", "streak_blur=0", "--compare", "streak_blur=1"]) == 0
    assert Image.open(out).size == (2 * 256 + 4, 2 * 256 + 4)
    # a row flown with other weights (here the same file: the same frames)
    assert flythrough_stills.main(args + ["--compare-weights", "default"]) == 0
    sheet = np.asarray(Image.open(out))
    assert sheet.shape == (2 * 256 + 4, 2 * 256 + 4, 3) and np.array_equal(sheet[:256], sheet[260:])
    assert flythrough_stills.main(args + ["--compare-weights", str(tmp_path / "missing.safetensors")]) == 2
    assert flythrough_stills.main(args + ["--set", "no_such=1"]) == 2
    assert flythrough_stills.main(args + ["--set", "streak_blur=9"]) == 2
    with pytest.raises(SystemExit):
        flythrough_stills.main([])
