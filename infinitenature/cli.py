"""The ``infinitenature`` command: ``fly``, ``train``, ``eval``, ``synthetic``, ``models``.

Every failure the user can cause (a missing or unreadable photo, an existing
output, a bad option) ends with one line on stderr and a non-zero exit code,
never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import threading
import warnings

__all__ = ["main"]

EXIT_USAGE = 2


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C (outputs in progress are deleted), exit 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals handled like SIGINT (timeouts, ``docker stop``, Slurm, a closed terminal).
TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _termination_signals():
    """While inside, SIGTERM and SIGHUP raise ``Terminated`` in the main thread (once; a second one is
    ignored so that the clean-up finishes). Yields a dict whose ``"signum"`` is the signal received."""
    received: dict = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):  # noqa: ARG001 (the signature signal calls)
        if received["signum"] is None:
            received["signum"] = signum
            raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in TERMINATION_SIGNALS}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose parse errors are one line, ``PROG: error: message`` (no usage block), exit 2.

    ``--help`` still prints the full usage.
    """

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _fly_parser(sub) -> None:
    p = sub.add_parser("fly", help="turn one photo into a flythrough video")
    p.add_argument("image", help="the photo (jpg, png, webp, tiff, ...)")
    p.add_argument("-o", "--output", required=True, help="output .mp4/.webm/.gif, or a folder name for PNG frames")
    p.add_argument("--frames", type=int, default=100, help="number of frames, including the input view (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--trajectory",
        default="autopilot",
        help="camera path: autopilot, straight, pan, orbit, or a .npy file of (N, 4, 4) keyframe poses (default autopilot)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="camera speed per frame for autopilot/straight/pan, in units where the nearest content is ~1.25 away "
        "(default 0.1875, as published)",
    )
    p.add_argument("--weights", default="default", help="generator: 'default', 'infinite-nature-zero' (the official checkpoint, downloaded once), our .safetensors, a save_pretrained, training run or checkpoint folder, or the official .tar")
    p.add_argument("--depth", default="default", help="depth model: 'default', a name from 'infinitenature models' (e.g. depth-anything-v2-small), 'hf:<model>', or a disparity .npy/image")
    p.add_argument("--sky", default="default", help="sky model: 'default', a name from 'infinitenature models' (e.g. segformer-b0-ade), 'hf:<model>', or a sky mask image")
    p.add_argument("--size", default=None, metavar="WxH", help="frame size, e.g. 512x288: multiples of 8 from 16 to 2048, aspect 1:2 to 2:1 (default: square, the weights' size)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of the video (default 30)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, or auto (default)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_setting_flags(p)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``FlyThroughConfig`` field, made from its ``config.Setting`` metadata.

    ``--keep-visible on|off`` for a switch, ``--frame-size {refiner,state}`` for a choice,
    ``--supersample N`` for a number. Every flag defaults to ``None``: the setting the
    weights store (``setting_overrides`` collects the given ones).
    """
    import dataclasses

    from .config import FlyThroughConfig

    group = parser.add_argument_group("loop settings (default: what the weights store; docs/SETTINGS.md has each one's effect)")
    for f in dataclasses.fields(FlyThroughConfig):
        s = f.metadata["setting"]
        flag = "--" + f.name.replace("_", "-")
        if s.kind == "bool":
            group.add_argument(flag, choices=("on", "off"), default=None, help=s.help)
        elif s.kind == "choice":  # checked by setting_overrides: one line with the allowed values
            group.add_argument(flag, default=None, metavar="{" + ",".join(s.choices) + "}", help=s.help)
        else:
            kind = int if s.kind == "int" else float
            group.add_argument(flag, type=kind, default=None, metavar=s.metavar, help=f"{s.help}; {s.describe()}")


def setting_overrides(args: argparse.Namespace) -> dict:
    """The loop settings given on the command line, each checked against its range.

    ``--anchor-scale 0`` also turns off the departures that need the anchor
    (``config.NEEDS_ANCHOR``: ``detail``, ``streak_blur``, ``aerial_perspective``,
    ``outpaint``) unless they are given too.

    Raises:
        CLIError: a value out of its setting's range (one line naming the flag).
    """
    import dataclasses

    from .config import NEEDS_ANCHOR, FlyThroughConfig

    out = {}
    for f in dataclasses.fields(FlyThroughConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        s = f.metadata["setting"]
        value = value == "on" if s.kind == "bool" else value
        if not s.accepts(value):
            raise CLIError(f"--{f.name.replace('_', '-')} must be {s.describe()}, got {value!r}")
        out[f.name] = value
    if out.get("anchor_scale") == 0:
        for name, (off, _) in NEEDS_ANCHOR.items():
            if out.get(name, off) != off:
                flag = "--" + name.replace("_", "-")
                raise CLIError(f"{flag} needs the photo anchor: it cannot be combined with --anchor-scale 0")
            out[name] = off
    return out


#: Largest ``--frames`` (about an hour of video at 30 fps).
MAX_FRAMES = 100_000
#: Largest ``--seed`` (``FlyThrough.iter_frames`` takes 0 .. 2**63 - 1).
MAX_SEED = 2**63 - 1
#: Largest ``--speed``: 8 x the distance to the nearest content per frame.
MAX_SPEED = 10.0


def _fly(args) -> int:
    """``infinitenature fly``: every option is checked (and the output folder tried) before the models load."""
    from .devices import resolve_device
    from .io import MAX_FPS, MIN_FPS, ImageError, VideoWriter, check_fps, check_output, load_image
    from .render import check_render_backend

    try:
        out = check_output(args.output, overwrite=args.overwrite)
    except (OSError, ValueError) as e:
        raise CLIError(_one_line(e)) from None
    if not 1 <= args.frames <= MAX_FRAMES:
        raise CLIError(f"--frames must be a whole number from 1 to {MAX_FRAMES}, got {args.frames}")
    if not 0 <= args.seed <= MAX_SEED:
        raise CLIError(f"--seed must be a whole number from 0 to 2**63 - 1 ({MAX_SEED}), got {args.seed}")
    size = _size(args.size)
    try:
        check_fps(args.fps)
    except ValueError:
        raise CLIError(f"--fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {args.fps:g}") from None
    try:
        resolve_device(args.device)
    except ValueError as e:
        raise CLIError(f"--device: {e}") from None
    overrides = setting_overrides(args)
    if "render_backend" in overrides:
        try:
            check_render_backend(overrides["render_backend"])
        except ImportError as e:
            raise CLIError(_one_line(e)) from None
    trajectory = _trajectory(args.trajectory, args.speed, args.seed)
    try:
        image = load_image(args.image)  # fail fast on a bad photo, before loading models
    except ImageError as e:
        raise CLIError(str(e)) from None
    try:  # reserves the hidden temporary output: an unwritable folder fails here, not after the flight
        writer = VideoWriter(out, fps=args.fps, overwrite=args.overwrite)
    except (OSError, ValueError) as e:
        raise CLIError(_one_line(e)) from None
    try:
        pipe, flight = _start_flight(args, image, trajectory, overrides, size)
        for frame in flight:
            writer.append(frame.image)
        writer.close()  # checks the finished output, then moves it into place
    except BaseException as e:  # also KeyboardInterrupt and the signals main() turns into it
        writer.abort()  # the temporary output is deleted; OUTPUT is left as it was
        if isinstance(e, (OSError, ValueError, ImportError)):  # OSError: missing files, permissions, a full disk
            raise CLIError(_one_line(e)) from None
        raise
    for w in flight.warnings:  # the loop's own notes, printed like every other warning of the CLI
        print(f"infinitenature fly: warning: {w}", file=sys.stderr)
    if not args.quiet:
        tm = flight.timings.per_frame_ms()
        steps = " + ".join(f"{tm[k]:.0f} ms {k}" for k in flight.timings.STEPS)
        print(f"wrote {writer.count} frames to {writer.path} ({steps} per frame)", file=sys.stderr)
    return 0


def _size(text: str | None) -> tuple[int | None, int | None]:
    """``--size WxH`` as ``(height, width)`` (``(None, None)`` when not given), checked."""
    from .pipeline import check_frame_size

    if text is None:
        return None, None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise CLIError(f"--size must be WIDTHxHEIGHT, e.g. 512x288, got {text!r}")
    width, height = int(m.group(1)), int(m.group(2))
    try:
        check_frame_size(height, width)
    except ValueError as e:
        raise CLIError(f"--size: {e}") from None
    return height, width


def _start_flight(args, image, trajectory, overrides: dict, size: tuple[int | None, int | None] = (None, None)):
    """Load the models with the command line's settings merged onto the stored ones; returns ``(pipe, flight)``."""
    from .pipeline import FlyThrough
    from .render import check_render_backend

    pipe = FlyThrough.from_pretrained(args.weights, depth=args.depth, sky=args.sky, device=args.device, **overrides)
    check_render_backend(pipe.config.render_backend)
    flight = pipe.iter_frames(image, args.frames, seed=args.seed, trajectory=trajectory, progress=not args.quiet, height=size[0], width=size[1])
    return pipe, flight


def _trajectory(spec: str, speed: float | None, seed: int = 0):
    """The camera path of ``--trajectory``, ``--speed`` and ``--seed``, checked: a name, a path object, or keyframes."""
    import math

    import torch

    from .autopilot import CAMERA_PATH_NAMES, make_camera_path

    if spec.lower().endswith(".npy"):
        poses = torch.from_numpy(_keyframes(spec))
        try:
            make_camera_path(poses)  # checks the keyframes (rigid, finite)
        except (TypeError, ValueError) as e:
            raise CLIError(f"--trajectory {spec}: {_one_line(e)}") from None
        trajectory = poses
    elif spec.lower() in CAMERA_PATH_NAMES:
        trajectory = spec.lower()
    else:
        raise CLIError(f"--trajectory must be one of {', '.join(CAMERA_PATH_NAMES)} or a .npy file of (N, 4, 4) keyframes, got {spec!r}")
    if speed is None:
        return trajectory
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise CLIError(f"--speed must be a number greater than 0 and at most {MAX_SPEED:g}, got {speed:g}")
    if not isinstance(trajectory, str) or trajectory not in ("autopilot", "straight", "pan"):
        raise CLIError("--speed applies to the autopilot, straight and pan trajectories only")
    try:
        return make_camera_path(trajectory, speed=speed, seed=seed)
    except (TypeError, ValueError) as e:
        raise CLIError(_one_line(e)) from None


def _keyframes(path: str):
    """The ``(N, 4, 4)`` float64 keyframe poses of a ``.npy`` file (``CLIError`` for anything else)."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CLIError(f"--trajectory {path}: cannot read keyframes ({_one_line(e)})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise CLIError(f"--trajectory {path}: expected one (N, 4, 4) array, got an archive of several")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise CLIError(f"--trajectory {path}: keyframes must be numbers, got an array of {arr.dtype}")
    if arr.ndim != 3 or arr.shape[1:] != (4, 4) or arr.shape[0] < 1:
        raise CLIError(f"--trajectory {path}: keyframes must be an (N, 4, 4) array, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise CLIError(f"--trajectory {path}: keyframes hold NaN or infinite values")
    return arr


#: Sub-commands whose own ``main(argv)`` parses the rest of the command line.
DELEGATED = {
    "train": ("infinitenature.train.__main__", "train a generator from a folder of photos"),
    "eval": ("infinitenature.metrics.__main__", "score flythroughs of a folder of photos"),
    "synthetic": ("infinitenature.synthetic.__main__", "write procedural landscapes with depth and sky"),
    "models": ("infinitenature.hub", "list the models --weights, --depth and --sky accept by name, or download them"),
}


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    if isinstance(e, KeyError):
        msg = msg.strip("'\"")
    return msg or type(e).__name__


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = OneLineArgumentParser(
        prog="infinitenature", description="Perpetual view generation: one landscape photo in, a flythrough video out."
    )
    parser.add_argument("--version", action="version", version=f"infinitenature {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _fly_parser(sub)
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=f"{help_text} (see: infinitenature {name} --help)", add_help=False)
    return parser


def _warning_printer(command: str | None):
    """``warnings.showwarning`` for the command line: one line per warning, no source line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001 (the signature warnings calls)
        print(f"infinitenature {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    return show


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``infinitenature`` command. Returns the exit code.

    Warnings raised while it runs are printed as one line each (``infinitenature CMD:
    warning: ...``); the previous warning display is restored when it returns.
    SIGTERM and SIGHUP are handled like Ctrl-C: whatever is being written is deleted,
    one line goes to stderr and the exit code is 128 + the signal's number (143, 129;
    130 for Ctrl-C).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else None
    with warnings.catch_warnings(), _termination_signals() as received:
        warnings.showwarning = _warning_printer(command)
        code = _run(command, argv)
        return 128 + received["signum"] if received["signum"] is not None else code


def _run(command: str | None, argv: list[str]) -> int:
    try:
        if command in DELEGATED:  # the sub-command parses its own options
            import importlib

            return int(importlib.import_module(DELEGATED[command][0]).main(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        return _fly(args)
    except CLIError as e:
        print(f"infinitenature {command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        what = "interrupted" if signum == signal.SIGINT else f"terminated by {signal.Signals(signum).name}"
        print(f"infinitenature {command}: {what}", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # the reader of stdout went away (e.g. `infinitenature models | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
