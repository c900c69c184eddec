"""`ganforge train`: flags and YAML → Config → ganforge.api.train."""

from __future__ import annotations

import argparse

from ganforge import api
from ganforge.cli.common import add_config_flags
from ganforge.config import CONFIG_FIELDS, PRESETS, build_config
from ganforge.training.distributed import is_main_process


def register(commands) -> None:
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


def cmd_train(args) -> None:
    overrides = {k: v for k, v in vars(args).items() if k in CONFIG_FIELDS}
    if args.resume:
        config = api.resume_config(args.resume, args.config_file, overrides)
    else:
        config = build_config(args.preset, args.config_file, overrides, default_preset="default")
    summary = api.train(config, args.resume)
    if is_main_process():
        print(summary.describe())
