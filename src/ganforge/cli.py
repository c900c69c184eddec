"""Command line: parse → Config (or options) → call one library function.

Every user-fixable problem surfaces as a GanforgeError and is printed as one line on stderr with
exit code 2 (130 after Ctrl-C); nothing deeper reads sys.argv.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from ganforge.config import CHOICES, CONFIG_FIELDS, PRESETS, Config
from ganforge.errors import GanforgeError


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
        choices = CHOICES.get(f.name)
        help_text = f"{f.metadata['help']} (default: {f.default!r})"
        if isinstance(f.default, bool):
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(*flags, dest=f.name, type=type(f.default), choices=choices,
                               default=argparse.SUPPRESS, help=help_text,
                               metavar=f.name.upper() if choices is None else None)


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, evaluate and explore GANs.")
    parser.add_argument("--version", action="version",
                        version=f"ganforge {__import__('ganforge').__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train a GAN (default: the default preset on MNIST)",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--preset", choices=sorted(PRESETS),
                       help="named setup the config file and flags layer on (default: `default`)")
    train.add_argument("--config", dest="config_file", metavar="FILE",
                       help="YAML file of config fields")
    train.add_argument("--resume", metavar="RUN",
                       help="continue a run folder (or checkpoint) exactly where it stopped")
    add_config_flags(train)
    train.set_defaults(handler=cmd_train)

    sample = commands.add_parser("sample", help="write a grid or N samples from a trained run")
    add_source_flags(sample)
    sample.add_argument("--n", type=int, default=64, help="number of images")
    sample.add_argument("--out", help="grid PNG path (default: RUN/samples/sample.png)")
    sample.add_argument("--npz", help="write the images as an .npz (array x, uint8 N×C×H×W)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed")
    sample.add_argument("--class", dest="label", type=int,
                        help="class to draw (conditional models)")
    sample.set_defaults(handler=cmd_sample)

    evaluate = commands.add_parser(
        "evaluate", help="FID/KID/precision/recall/modes of a run, .npz or image folder")
    evaluate.add_argument("source", help="run folder, checkpoint, samples .npz or image folder")
    evaluate.add_argument("--dataset", help="reference dataset (default: the run's, else mnist)")
    evaluate.add_argument("--data-dir", help="dataset folder (default: the run's, else data)")
    evaluate.add_argument("--n", type=int, default=10000, help="images to evaluate")
    evaluate.add_argument("--ref", choices=("train", "test"), default="test",
                          help="reference split")
    evaluate.add_argument("--features", choices=CHOICES["features"],
                          help="feature network (default: the run's; domain for MNIST/Fashion)")
    evaluate.add_argument("--inception-weights", metavar="PATH",
                          help="local pt_inception-2015-12-05 weights file")
    evaluate.add_argument("--which", choices=("auto", "best", "last"), default="auto",
                          help="checkpoint of a run folder")
    evaluate.add_argument("--seed", type=int, default=12345, help="sampling seed")
    evaluate.add_argument("--device", default="auto", help="auto|cpu|cuda|mps for sampling and "
                                                            "features (auto: CUDA, MPS, else CPU)")
    evaluate.add_argument("--bootstrap", type=int, default=100, metavar="N",
                          help="resamples for the 95 %% intervals of FID and KID; 0 = none")
    evaluate.add_argument("--main-only", action="store_true",
                          help="only the main protocol (MNIST/Fashion otherwise also report the "
                               "second evaluator, domain2, and FID against the other split)")
    evaluate.add_argument("--out", help="write the results as JSON here")
    evaluate.set_defaults(handler=cmd_evaluate)

    for name, registry_path in (("models", "ganforge.models:MODELS"),
                                ("losses", "ganforge.losses:LOSSES")):
        listing = commands.add_parser(name, help=f"list the registered {name}")
        listing.set_defaults(handler=cmd_list, registry=registry_path)
    presets = commands.add_parser("presets", help="list the named presets and their settings")
    presets.set_defaults(handler=cmd_presets)
    register_extra_commands(commands)
    return parser


def add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="run folder")
    parser.add_argument("--checkpoint", help="checkpoint file (instead of --run)")
    parser.add_argument("--which", choices=("auto", "best", "last"), default="auto",
                        help="checkpoint of the run folder; auto = best if chosen by FID, else last")
    parser.add_argument("--no-ema", dest="ema", action="store_false",
                        help="use the raw generator weights instead of their moving average")
    parser.add_argument("--device", default="cpu", help="auto|cpu|cuda|mps")


def register_extra_commands(commands) -> None:
    """Commands of the exploration/report modules, each registering its own sub-parser."""
    import importlib

    for module in ("ganforge.latent.cli", "ganforge.report.cli", "ganforge.sweep"):
        try:
            importlib.import_module(module).register(commands)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def generator_source(args) -> str:
    source = args.checkpoint or args.run
    if not source:
        raise GanforgeError("give --run RUN_FOLDER or --checkpoint FILE")
    return source


# ----- handlers -----
def cmd_train(args) -> None:
    from ganforge.config import build_config, config_from_dict
    from ganforge.data.datasets import check_folder_exists
    from ganforge.evaluation import resolve_eval_features
    from ganforge.training.checkpoint import find_checkpoint, load_checkpoint
    from ganforge.training.distributed import DistributedContext
    from ganforge.training.rundir import RunDir, new_run_path
    from ganforge.training.trainer import Trainer

    overrides = {k: v for k, v in vars(args).items() if k in CONFIG_FIELDS}
    resume_from = None
    if args.resume:
        resume_from = find_checkpoint(args.resume, "last")
        _, meta = load_checkpoint(resume_from)
        base = config_from_dict(meta["config"])
        config = build_config(None, args.config_file, overrides, base=base)
        run_path = resume_from.parent.parent
    else:
        config = build_config(args.preset, args.config_file, overrides, default_preset="default")
        run_path = Path(config.run_dir) if config.run_dir else None
        if run_path and (run_path / "checkpoints" / "last.safetensors").exists():
            raise GanforgeError(f"run folder '{run_path}' already holds a run; continue it with "
                                f"--resume {run_path} or pick another --run-dir")
    check_folder_exists(config.dataset)
    config = resolve_eval_features(config)  # before the run folder exists: may refuse the run
    dist = DistributedContext.from_environment(config.device)
    if run_path is None:
        # rank 0 numbers the new folder; the others take its choice (scanning runs/ on every rank
        # would race with rank 0 creating it)
        run_path = Path(dist.broadcast_object(str(new_run_path(config)) if dist.is_main else None))
    config = dataclasses.replace(config, run_dir=str(run_path))
    try:
        trainer = Trainer(config, RunDir(run_path) if dist.is_main else None, dist, resume_from)
        if dist.is_main:
            log_start(trainer)
        summary = trainer.train()
    finally:
        dist.close()
    if dist.is_main:
        print(f"done: {summary.steps} steps in {summary.wall_time_s:.0f} s "
              f"({summary.steps_per_s:.1f} steps/s, {summary.images_per_s:.0f} images/s); "
              f"run folder: {summary.run_dir}")
        if summary.best_eval:
            from ganforge.metrics.evaluate import fid_text

            print(f"best FID {fid_text(summary.best_eval)}: {summary.best_eval['protocol']}")


def log_start(trainer) -> None:
    config = trainer.config
    print(f"training {config.model} on {trainer.data.source}: {len(trainer.data)} images "
          f"{trainer.spec.channels}×{trainer.spec.image_size}×{trainer.spec.image_size}, "
          f"{run_length(trainer)} of batch {config.batch_size} on {trainer.device}; "
          f"run folder: {config.run_dir}", file=sys.stderr)


def run_length(trainer) -> str:
    steps = f"{trainer.total_steps} steps" if trainer.total_steps != sys.maxsize else "steps"
    minutes = trainer.config.minutes
    return f"{steps} for up to {minutes:g} min" if minutes else steps


def cmd_sample(args) -> None:
    import numpy as np
    import torch

    from ganforge.report.images import save_grid
    from ganforge.training.restore import load_generator
    from ganforge.training.sampling import generate_uint8

    if args.n <= 0:
        raise GanforgeError(f"--n must be > 0 (got {args.n})")
    from ganforge.device import resolve_device

    generator, config, meta = load_generator(generator_source(args), args.which, args.ema,
                                             resolve_device(args.device))
    labels = class_labels(generator, args.label, args.n)
    images = generate_uint8(generator, args.n, args.seed, labels=labels)
    if args.npz:
        np.savez_compressed(args.npz, x=images.numpy())
        print(f"wrote {args.n} images to {args.npz}")
    if args.out or not args.npz:
        out = Path(args.out) if args.out else Path(meta["checkpoint_path"]).parent.parent / \
            "samples" / "sample.png"
        save_grid(images, out)
        print(f"wrote a grid of {args.n} images to {out}")
    print(f"(generator: {meta['checkpoint_path']}, step {meta['step']})")
    del torch


def class_labels(generator, label: int | None, n: int):
    import torch

    if label is None:
        return None
    if not generator.num_classes:
        raise GanforgeError("--class needs a conditional model (train with --conditional)")
    if not 0 <= label < generator.num_classes:
        raise GanforgeError(f"--class {label} does not exist; pick 0..{generator.num_classes - 1}")
    return torch.full((n,), label, dtype=torch.int64)


def cmd_evaluate(args) -> None:
    from ganforge.evaluation import evaluate_source
    from ganforge.metrics.evaluate import format_table

    result = evaluate_source(args.source, dataset=args.dataset, data_dir=args.data_dir, n=args.n,
                             ref=args.ref, features=args.features, which=args.which,
                             inception_weights=args.inception_weights, seed=args.seed,
                             device=args.device, bootstrap=args.bootstrap,
                             extra_protocols=not args.main_only)
    print(format_table(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


def cmd_list(args) -> None:
    import importlib

    module, name = args.registry.split(":")
    for item in getattr(importlib.import_module(module), name).names():
        print(item)


def cmd_presets(args) -> None:
    for name, values in PRESETS.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="ganforge: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except GanforgeError as err:
        from ganforge.errors import Interrupted

        sys.stderr.write(f"ganforge: error: {err}\n")
        raise SystemExit(130 if isinstance(err, Interrupted) else 2) from None


if __name__ == "__main__":
    main()
