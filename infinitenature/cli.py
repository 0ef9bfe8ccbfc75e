"""The ``infinitenature`` command: ``fly``, ``train``, ``eval``, ``synthetic``.

Every failure the user can cause (a missing or unreadable photo, an existing
output, a bad option) ends with one line on stderr and a non-zero exit code,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

__all__ = ["main"]

EXIT_USAGE = 2


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


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
    p.add_argument("--weights", default="default", help="generator weights: 'default', our .safetensors, a training run or checkpoint folder, or the official .tar")
    p.add_argument("--depth", default="default", help="depth model: 'default', 'hf:<model>', or a disparity .npy/image")
    p.add_argument("--sky", default="default", help="sky model: 'default', 'hf:<model>', or a sky mask image")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of the video (default 30)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, or auto (default)")
    p.add_argument("--stochastic", action="store_true", help="the release's randomness (per-step noise, style dropout)")
    p.add_argument(
        "--refine-all",
        action="store_true",
        help="use the refiner's output for every pixel, as published (default: what the weights recommend)",
    )
    p.add_argument(
        "--supersample",
        type=int,
        default=None,
        metavar="N",
        help="carry the warped frame at N x the refiner's resolution (1-8), which keeps the photo's detail "
        "as the camera flies closer (default: what the weights recommend; 1 = as published)",
    )
    p.add_argument(
        "--anchor-scale",
        type=int,
        default=None,
        metavar="N",
        help="re-sample what the photo still shows from the photo itself, kept at up to N x the state's size "
        "(0-8; sharper, more of the photo's own texture; 0 = off, as published; default: what the weights recommend)",
    )
    p.add_argument(
        "--disparity-median",
        type=int,
        default=None,
        metavar="N",
        help="median-filter the refiner's painted disparity over N x N pixels (odd; fewer speckled holes; "
        "0 = off, as published; default: what the weights recommend)",
    )
    p.add_argument(
        "--hole-context",
        type=int,
        default=None,
        metavar="N",
        help="hide the near side of a depth edge from the refiner, N pixels deep, where it paints the hole "
        "behind that edge (0-8; no painted blotches spreading over near hills; 0 = off, as published; "
        "default: what the weights recommend)",
    )
    p.add_argument(
        "--detail",
        type=float,
        default=None,
        metavar="X",
        help="add texture where flying closer magnifies the photo beyond its pixels, X x the photo's own "
        "fine contrast per octave (0-10; needs the anchor; 0 = off, as published; default: what the "
        "weights recommend; --anchor-scale 0 turns it off too)",
    )
    p.add_argument(
        "--streak-blur",
        type=float,
        default=None,
        metavar="X",
        help="filter the photo's colour along the direction the view steps through it fastest, so slopes "
        "flown close to are not drawn as streaks; X x one view footprint (0-4; needs the anchor; 0 = off; "
        "default: what the weights recommend; --anchor-scale 0 turns it off too)",
    )
    p.add_argument(
        "--aerial-perspective",
        type=float,
        default=None,
        metavar="X",
        help="change the colour of the ground the camera nears for its new distance, by the photo's haze "
        "(dark channel prior), so far ground sheds its haze instead of the flight taking on the horizon's "
        "colour; X = 0-1 of the estimate (needs the anchor; 0 = off, as published; default: what the weights "
        "recommend; --anchor-scale 0 turns it off too)",
    )
    p.add_argument(
        "--sky-layers",
        choices=("on", "off"),
        default=None,
        help="keep sky and ground apart in every resampling and refiner pass, so long flights do not take on "
        "the sky's colour (off = as published; default: what the weights recommend)",
    )
    p.add_argument(
        "--sky-completion",
        choices=("on", "off"),
        default=None,
        help="make up a sky where the photo shows none (behind its ground, beyond its edges), for the sky a "
        "flight uncovers (off = as published; default: what the weights recommend)",
    )
    p.add_argument(
        "--frame-size",
        choices=("refiner", "state"),
        default=None,
        help="size of the written frames: refiner (the refiner's resolution) or state (--supersample x larger, "
        "with the photo's own detail where it is still visible); default: what the weights recommend",
    )
    p.add_argument(
        "--render-backend",
        default=None,
        metavar="{torch,pytorch3d}",
        help="how frames are warped: torch (pure PyTorch, default) or pytorch3d (its point rasterizer; "
        "needs pip install 'infinitenature[pytorch3d]')",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _fly(args) -> int:
    import torch

    from .io import ImageError, VideoWriter, load_image
    from .anchor import MAX_STREAK_BLUR
    from .detail import MAX_DETAIL
    from .devices import resolve_device
    from .pipeline import MAX_ANCHOR_SCALE, MAX_DISPARITY_MEDIAN, MAX_HOLE_CONTEXT, MAX_SUPERSAMPLE, FlyThrough, FlyThroughConfig
    from .render import check_render_backend

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out} already exists (use --overwrite to replace it)")
    if args.frames < 1:
        raise CLIError(f"--frames must be >= 1, got {args.frames}")
    try:
        resolve_device(args.device)
    except ValueError as e:
        raise CLIError(f"--device: {e}") from None
    if args.supersample is not None and not 1 <= args.supersample <= MAX_SUPERSAMPLE:
        raise CLIError(f"--supersample must be an integer from 1 to {MAX_SUPERSAMPLE}, got {args.supersample}")
    if args.anchor_scale is not None and not 0 <= args.anchor_scale <= MAX_ANCHOR_SCALE:
        raise CLIError(f"--anchor-scale must be an integer from 0 to {MAX_ANCHOR_SCALE}, got {args.anchor_scale}")
    if args.disparity_median is not None:
        try:  # FlyThroughConfig holds the rule (0 or odd, at most MAX_DISPARITY_MEDIAN)
            FlyThroughConfig(disparity_median=args.disparity_median)
        except ValueError:
            raise CLIError(
                f"--disparity-median must be 0 or an odd integer up to {MAX_DISPARITY_MEDIAN}, got {args.disparity_median}"
            ) from None
    if args.hole_context is not None and not 0 <= args.hole_context <= MAX_HOLE_CONTEXT:
        raise CLIError(f"--hole-context must be an integer from 0 to {MAX_HOLE_CONTEXT}, got {args.hole_context}")
    if args.detail is not None:
        if not 0.0 <= args.detail <= MAX_DETAIL:
            raise CLIError(f"--detail must be a number from 0 to {MAX_DETAIL:g}, got {args.detail:g}")
        if args.detail > 0 and args.anchor_scale == 0:
            raise CLIError("--detail needs the photo anchor: it cannot be combined with --anchor-scale 0")
    if args.streak_blur is not None:
        if not 0.0 <= args.streak_blur <= MAX_STREAK_BLUR:
            raise CLIError(f"--streak-blur must be a number from 0 to {MAX_STREAK_BLUR:g}, got {args.streak_blur:g}")
        if args.streak_blur > 0 and args.anchor_scale == 0:
            raise CLIError("--streak-blur needs the photo anchor: it cannot be combined with --anchor-scale 0")
    if args.aerial_perspective is not None:
        if not 0.0 <= args.aerial_perspective <= 1.0:
            raise CLIError(f"--aerial-perspective must be a number from 0 to 1, got {args.aerial_perspective:g}")
        if args.aerial_perspective > 0 and args.anchor_scale == 0:
            raise CLIError("--aerial-perspective needs the photo anchor: it cannot be combined with --anchor-scale 0")
    if args.render_backend is not None:
        try:
            check_render_backend(args.render_backend)
        except ValueError:
            raise CLIError(f"--render-backend must be torch or pytorch3d, got {args.render_backend!r}") from None
        except ImportError as e:
            raise CLIError(_one_line(e)) from None
    try:
        image = load_image(args.image)  # fail fast on a bad photo, before loading models
    except ImageError as e:
        raise CLIError(str(e)) from None
    trajectory = args.trajectory
    if trajectory.endswith(".npy"):
        import numpy as np

        try:
            trajectory = torch.from_numpy(np.load(trajectory)).double()
        except (OSError, ValueError) as e:
            raise CLIError(f"--trajectory {args.trajectory}: cannot read keyframes ({e})") from None
    if args.speed is not None:
        from .autopilot import make_camera_path

        if args.speed <= 0:
            raise CLIError(f"--speed must be positive, got {args.speed}")
        if not isinstance(trajectory, str) or trajectory not in ("autopilot", "straight", "pan"):
            raise CLIError("--speed applies to the autopilot, straight and pan trajectories only")
        try:
            trajectory = make_camera_path(trajectory, speed=args.speed)
        except (TypeError, ValueError) as e:
            raise CLIError(_one_line(e)) from None
    try:
        pipe = FlyThrough.from_pretrained(args.weights, depth=args.depth, sky=args.sky, device=args.device)
        if args.stochastic:
            pipe.config.stochastic = True
        if args.refine_all:
            pipe.config.keep_visible = False
        if args.render_backend is not None:
            pipe.config.render_backend = args.render_backend
        if args.supersample is not None:
            pipe.config.supersample = args.supersample
        if args.anchor_scale is not None:
            pipe.config.anchor_scale = args.anchor_scale
            if args.anchor_scale == 0:
                pipe.config.detail = 0.0  # the detail continues the anchor's texture
                pipe.config.streak_blur = 0.0  # and the streak blur filters its lookup
                pipe.config.aerial_perspective = 0.0  # and the haze changes its colours
        if args.detail is not None:
            pipe.config.detail = args.detail
        if args.streak_blur is not None:
            pipe.config.streak_blur = args.streak_blur
        if args.aerial_perspective is not None:
            pipe.config.aerial_perspective = args.aerial_perspective
        if args.sky_layers is not None:
            pipe.config.sky_layers = args.sky_layers == "on"
        if args.sky_completion is not None:
            pipe.config.sky_completion = args.sky_completion == "on"
        if args.disparity_median is not None:
            pipe.config.disparity_median = args.disparity_median
        if args.hole_context is not None:
            pipe.config.hole_context = args.hole_context
        if args.frame_size is not None:
            pipe.config.output = args.frame_size
        check_render_backend(pipe.config.render_backend)
        writer = VideoWriter(out, fps=args.fps, overwrite=args.overwrite)
    except (OSError, ValueError, ImportError) as e:  # OSError: missing files, existing outputs, permissions
        raise CLIError(_one_line(e)) from None
    with writer:
        try:
            for frame in pipe.iter_frames(image, args.frames, seed=args.seed, trajectory=trajectory, progress=not args.quiet):
                writer.append(frame.image)
        except ValueError as e:
            raise CLIError(_one_line(e)) from None
    for w in pipe.warnings:  # the loop's own notes, printed like every other warning of the CLI
        print(f"infinitenature fly: warning: {w}", file=sys.stderr)
    tm = pipe.timings.per_frame_ms()
    if not args.quiet:
        print(
            f"wrote {writer.count} frames to {writer.path} "
            f"({tm['refine']:.0f} ms refine + {tm['render']:.0f} ms render + {tm['sky']:.0f} ms sky"
            + (f" + {tm['detail']:.0f} ms detail" if pipe.config.detail > 0 else "")
            + " per frame)",
            file=sys.stderr,
        )
    return 0


#: Sub-commands whose own ``main(argv)`` parses the rest of the command line.
DELEGATED = {
    "train": ("infinitenature.train.__main__", "train a generator from a folder of photos"),
    "eval": ("infinitenature.metrics.__main__", "score flythroughs of a folder of photos"),
    "synthetic": ("infinitenature.synthetic.__main__", "write procedural landscapes with depth and sky"),
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
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else None
    with warnings.catch_warnings():
        warnings.showwarning = _warning_printer(command)
        return _run(command, argv)


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
    except KeyboardInterrupt:
        print(f"infinitenature {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
