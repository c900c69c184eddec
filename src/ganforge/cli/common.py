"""Pieces every sub-command shares: the one-line-error parser and the common flags."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ganforge.config import CHOICES, Config
from ganforge.errors import GanforgeError
from ganforge.generation import pretrained
from ganforge.generation.restore import PRETRAINED_PREFIX
from ganforge.generation.selection import DEFAULT_POOL
from ganforge.metrics.features import FEATURES


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"ganforge: error: {message}; see `{self.prog} --help`\n")
        raise SystemExit(2)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One `--field-name` flag per Config field; defaults are applied later, in build_config."""
    group = parser.add_argument_group("config fields (also settable in a --config YAML file)")
    for f in dataclasses.fields(Config):
        flags = [f"--{f.name.replace('_', '-')}"] + (
            [f"--{f.name}"] if "_" in f.name else [])
        choices = field_choices(f.name)
        help_text = f"{f.metadata['help']} (default: {f.default!r})"
        if isinstance(f.default, bool):
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(*flags, dest=f.name, type=type(f.default), choices=choices,
                               default=argparse.SUPPRESS, help=help_text,
                               metavar=f.name.upper() if choices is None else None)


def field_choices(name: str) -> list[str] | tuple[str, ...] | None:
    """The values a config field may take, where they are a closed list."""
    return FEATURES.names() if name == "features" else CHOICES.get(name)


def add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="run folder")
    parser.add_argument("--checkpoint", help="checkpoint file (instead of --run)")
    parser.add_argument("--pretrained", metavar="NAME", choices=pretrained.names() or None,
                        help="a generator shipped with ganforge, no training needed: "
                             + (", ".join(pretrained.names()) or "none installed"))
    parser.add_argument("--which", choices=("auto", "best", "last"), default="auto",
                        help="checkpoint of the run folder; auto = best if chosen by FID, else last")
    parser.add_argument("--no-ema", dest="ema", action="store_false",
                        help="use the raw generator weights instead of their moving average")
    parser.add_argument("--device", default="cpu", help="auto|cpu|cuda|mps")


def add_selection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select-by-d", type=float, default=0.0, metavar="BETA",
                        help="keep, of --select-pool candidates per sample, those the run's own "
                             "discriminator prefers (weights exp(BETA * logit); 0.5 measured "
                             "best on the hour preset's runs); 0 = off")
    parser.add_argument("--select-pool", type=int, default=DEFAULT_POOL, metavar="K",
                        help=f"candidates drawn per sample by --select-by-d (default "
                             f"{DEFAULT_POOL}, measured best)")


def generator_source(args) -> str:
    given = [s for s in (args.run, args.checkpoint, args.pretrained and
                         PRETRAINED_PREFIX + args.pretrained) if s]
    if len(given) != 1:
        raise GanforgeError("give one of --run RUN_FOLDER, --checkpoint FILE or --pretrained NAME"
                            + (f" ({', '.join(pretrained.names())})" if pretrained.names()
                               else ""))
    return given[0]


def load_source_generator(args):
    """(generator, config, meta) named by --run/--checkpoint, --which, --no-ema and --device."""
    from ganforge.device import resolve_device
    from ganforge.generation.restore import load_generator

    return load_generator(generator_source(args), args.which, args.ema,
                          resolve_device(args.device))
