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


@pytest.mark.parametrize("where", ["repo root", "examples"])
def test_quickstart_notebook_runs(where, tmp_path, monkeypatch):
    """The notebook finds its photo from the repo root and from examples/, and every cell runs."""
    code = _notebook_code(EXAMPLES / "quickstart.ipynb")
    assert "FRAMES = 60" in code and 'PHOTO = EXAMPLES / "hills.jpg"' in code
    code = code.replace("FRAMES = 60", "FRAMES = 3")
    if "IPython.display" not in sys.modules:
        try:
            import IPython.display  # noqa: F401
        except ImportError:  # not a dependency: stand in for the notebook's display helper
            fake = types.ModuleType("IPython.display")
            fake.Video = lambda *a, **k: None
            monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
            monkeypatch.setitem(sys.modules, "IPython.display", fake)
    # a stand-in for the checkout: tmp_path/examples links to the real photos, so the notebook's
    # outputs land in tmp_path; started there (the repo root) or in tmp_path/examples
    (tmp_path / "examples").mkdir()
    for photo in EXAMPLES.glob("*.jpg"):
        (tmp_path / "examples" / photo.name).symlink_to(photo)
    cwd = tmp_path if where == "repo root" else tmp_path / "examples"
    monkeypatch.chdir(cwd)
    scope: dict = {}
    exec(compile(code, "quickstart.ipynb", "exec"), scope)  # noqa: S102
    assert Path(scope["PHOTO"]).resolve() == (EXAMPLES / "hills.jpg").resolve()
    out = scope["out"]
    assert out.frames.shape == (3, 288, 512, 3)  # the 16:9 frames the notebook asks for
    assert "<img" in out._repr_html_()  # what the notebook shows for `out`
    assert scope["pan"].frames.shape == (3, 512, 512, 3)  # the supersample=4 override, state-sized frames
    assert len(scope["sky"]) == 3  # the callback saw every frame
    assert (cwd / "hills.mp4").stat().st_size > 1000
    assert scope["video"].count == 15 and (cwd / "long.mp4").exists()


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
