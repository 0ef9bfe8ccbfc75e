"""``python -m infinitenature.train``: the training command.

Every ``TrainConfig`` field is a flag (``--batch-size 8``, ``--betas 0,0.99``,
``--no-progress``); the conversion from the command line to the dataclass
happens here and nowhere else. ``--config run/config.json`` starts from a saved
config (flags still override it). ``--dry-run`` prints the resolved config as
JSON and stops. Errors print one line on stderr and exit with code 2.

Examples::

    python -m infinitenature.train --data photos/ --stage mim --out-dir runs/mim --steps 20000
    python -m infinitenature.train --data photos/ --stage cyclic --out-dir runs/cyclic \\
        --init-from runs/mim/checkpoints/step-0020000
    torchrun --nproc_per_node=2 -m infinitenature.train --data photos/ --out-dir runs/ddp
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from .config import TrainConfig

__all__ = ["main", "build_parser", "config_from_args"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line instead of usage + message
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _parse_betas(text: str) -> tuple[float, float]:
    try:
        parts = tuple(float(x) for x in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers like 0,0.99, got {text!r}") from None
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two numbers like 0,0.99, got {text!r}")
    return parts


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``TrainConfig`` field (defaults are filled in later, from the config)."""
    p = _Parser(prog="infinitenature train", description="Train the refiner from a folder of single photos.")
    p.add_argument("--config", default=None, help="JSON file with TrainConfig fields (e.g. a run's config.json)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON and exit")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        help_text = f"{f.metadata.get('help', '')} (default: {f.default})"
        if kind is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif f.name == "betas":
            p.add_argument(flag, dest=f.name, type=_parse_betas, default=None, metavar="B1,B2", help=help_text)
        else:
            p.add_argument(flag, dest=f.name, type=kind, default=None, metavar=kind.__name__.upper(), help=help_text)
    return p


def config_from_args(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    """Parse ``argv`` into a validated ``TrainConfig``; returns ``(config, dry_run)``."""
    args = build_parser().parse_args(argv)
    base: dict = {}
    if args.config:
        path = Path(args.config)
        try:
            base = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"--config: cannot read {path}: {e}") from None
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
    if overrides.get("resume"):
        # Resuming a run that began from other weights (its config.json records where from):
        # the checkpoint holds the weights now, so the starting point no longer applies.
        for name in ("init_from", "init_generator"):
            if name not in overrides:
                base.pop(name, None)
    config = TrainConfig.from_dict({**base, **overrides})
    return config.validate(), args.dry_run


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``infinitenature train``; returns the exit code."""
    try:
        config, dry_run = config_from_args(argv)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except (_UsageError, ValueError) as e:
        print(f"infinitenature train: error: {e}", file=sys.stderr)
        return 2
    if dry_run:
        print(config.to_json())
        return 0

    import torch.distributed as dist

    from ..io import ImageError
    from .trainer import Trainer

    try:
        try:  # bad data, run folder or checkpoint: one line (errors inside the loop keep their traceback)
            trainer = Trainer(config)
        except (ValueError, OSError, ImageError) as e:  # OSError: a folder that cannot be made or read, say
            print(f"infinitenature train: error: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
        trainer.run()
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if trainer.dist.is_main:
        export = Path(config.out_dir) / "export" / "generator_ema.safetensors"
        if trainer.stopped_early:
            print(f"stopped after --max-minutes {config.max_minutes:g} at step {trainer.step} of {config.steps}; "
                  f"EMA generator at {export}; continue with: infinitenature train --config "
                  f"{Path(config.out_dir) / 'config.json'} --resume latest")
        else:
            print(f"done: {trainer.step} steps; EMA generator at {export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
