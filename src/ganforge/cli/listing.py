"""`ganforge models`, `ganforge losses`, `ganforge presets`: what can be chosen."""

from __future__ import annotations

from ganforge.config import PRESETS
from ganforge.data.augment import AUGMENTATIONS
from ganforge.data.datasets import DATASETS
from ganforge.losses import LOSSES
from ganforge.metrics.catalog import METRICS
from ganforge.metrics.features import FEATURES
from ganforge.models import MODELS

REGISTRIES = {"models": MODELS, "losses": LOSSES, "datasets": DATASETS,
              "augmentations": AUGMENTATIONS, "features": FEATURES, "metrics": METRICS}


def register(commands) -> None:
    for name, registry in REGISTRIES.items():
        listing = commands.add_parser(name, help=f"list the registered {name}")
        listing.set_defaults(handler=cmd_list, registry=registry)
    presets = commands.add_parser("presets", help="list the named presets and their settings")
    presets.set_defaults(handler=cmd_presets)


def cmd_list(args) -> None:
    for item in args.registry.names():
        print(item)


def cmd_presets(args) -> None:
    for name, values in PRESETS.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
