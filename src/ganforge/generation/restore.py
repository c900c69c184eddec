"""Rebuild a generator from a checkpoint alone (no run folder, no training data needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.config import Config, config_from_dict
from ganforge.errors import GanforgeError
from ganforge.generation.checkpoint import (
    find_checkpoint,
    load_checkpoint,
    load_module,
    read_checkpoint_meta,
)
from ganforge.generation.pretrained import pretrained_path
from ganforge.models import Generator, ModelSpec, build_models
from ganforge.models.levels import OutputLevels
from ganforge.models.mixture import MixtureGenerator

PRETRAINED_PREFIX = "pretrained:"
ENSEMBLE_KEY = "ensemble"  # the metadata entry of an ensemble checkpoint: one entry per member
LEVELS_KEY = "output_levels"  # the metadata entry of a generator's tone curve (models/levels.py)


def default_checkpoint(source: str | Path) -> Path:
    """For a run folder: `best` when it was chosen by FID, else `last` (a lowest-G-loss 'best' is
    often an early, poor model)."""
    source = Path(source)
    if source.is_dir() and (source / "checkpoints" / "best.safetensors").exists():
        meta = read_checkpoint_meta(source / "checkpoints" / "best.safetensors")
        if meta["config"].get("eval_every"):
            return source / "checkpoints" / "best.safetensors"
    return find_checkpoint(source, "last")


def resolve_source(source: str | Path) -> Path:
    """'pretrained:NAME' → the checked file of a shipped generator; anything else as a path."""
    text = str(source)
    if text.startswith(PRETRAINED_PREFIX):
        return pretrained_path(text[len(PRETRAINED_PREFIX):])
    return Path(source)


def load_generator(source: str | Path, which: str = "auto", use_ema: bool = True,
                   device: torch.device | str = "cpu") -> tuple[Generator, Config, dict]:
    """(generator in eval mode, its config, checkpoint metadata) from a run folder, a checkpoint
    file or 'pretrained:NAME'. The metadata's `output_dir` is where figures of it belong: the run
    folder, or ./pretrained-NAME for a shipped generator."""
    text = str(source)
    source = resolve_source(source)
    path = default_checkpoint(source) if which == "auto" else find_checkpoint(source, which)
    tensors, meta = load_checkpoint(path)
    config = config_from_dict(meta["config"])
    generator = build_generator(meta)
    has_ema = any(k.startswith("G_ema/") for k in tensors)
    prefix = "G_ema" if use_ema and has_ema else "G"
    load_module(prefix, generator, tensors)
    if prefix == "G" and has_ema:  # the curve was fitted to the EMA generator's samples
        generator.output_levels = None
    generator.class_prior = meta.get("class_prior")  # None in checkpoints before it was saved
    meta["checkpoint_path"] = str(path)
    meta["output_dir"] = (str(Path(text.replace(":", "-"))) if text.startswith(PRETRAINED_PREFIX)
                          else str(path.parent.parent))
    return generator.to(device).eval(), config, meta


def load_discriminator(meta: dict, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The discriminator saved beside a generator, from the checkpoint `load_generator` returned
    `meta` for (in eval mode). Shipped generators and ensembles have none: one line each."""
    if ENSEMBLE_KEY in meta:
        raise GanforgeError("an ensemble has no discriminator of its own (each member has one); "
                            "select samples of its member runs instead")
    tensors, _ = load_checkpoint(meta["checkpoint_path"])
    if not any(key.startswith("D/") for key in tensors):
        raise GanforgeError(f"'{meta['checkpoint_path']}' holds no discriminator (shipped "
                            "generators keep only G); use a run folder or one of its checkpoints")
    _, discriminator = build_models(config_from_dict(meta["config"]), ModelSpec(**meta["spec"]))
    load_module("D", discriminator, tensors)
    return discriminator.to(device).eval()


def build_generator(meta: dict) -> Generator:
    """The untrained network a checkpoint's weights fit: its model, or an ensemble's members."""
    if ENSEMBLE_KEY in meta:  # written by `ganforge ensemble`; holds its members' sampling weights
        members = meta[ENSEMBLE_KEY]
        if (not isinstance(members, list) or len(members) < 2
                or not all(isinstance(m, dict) and "config" in m and "spec" in m for m in members)):
            raise GanforgeError("the checkpoint's ensemble metadata is damaged (each member needs "
                                "its config and spec); build the ensemble again with "
                                "`ganforge ensemble`")
        return MixtureGenerator([build_generator(member) for member in members])
    generator, _ = build_models(config_from_dict(meta["config"]), ModelSpec(**meta["spec"]))
    if meta.get(LEVELS_KEY) is not None:
        generator.output_levels = OutputLevels.from_meta(meta[LEVELS_KEY])
    return generator
