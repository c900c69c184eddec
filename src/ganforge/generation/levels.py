"""Fitting a generator's output levels (models/levels.py) to its training images: while it trains
(`--calibrate-levels`), or afterwards into a run's checkpoints (`ganforge calibrate`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ganforge.data.datasets import to_float
from ganforge.data.training_set import load_training_set
from ganforge.errors import GanforgeError
from ganforge.generation.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from ganforge.generation.restore import (
    ENSEMBLE_KEY,
    LEVELS_KEY,
    PRETRAINED_PREFIX,
    load_generator,
)
from ganforge.generation.sampling import generate, noise, sample_labels
from ganforge.models.levels import OutputLevels, level_targets


def fit_output_levels(generator: torch.nn.Module, targets: list[torch.Tensor], n: int,
                      seed: int) -> OutputLevels:
    """The tone curve that maps `n` seeded samples of `generator` (its own levels switched off,
    classes in the shares `sample_labels` draws) onto the pixel levels `targets` of its training
    images (`training_targets`). Only training images are read: the curve is part of the model,
    not of its test."""
    device = next(generator.parameters()).device
    previous, generator.output_levels = generator.output_levels, None
    try:
        z = noise(n, generator.latent_dim, seed, device)
        samples = generate(generator, z, sample_labels(generator, n, device))
    finally:
        generator.output_levels = previous
    return OutputLevels.fit(samples.cpu(), targets)


def training_targets(training_images: torch.Tensor) -> list[torch.Tensor]:
    """What fits map samples onto: the levels of the training images (uint8 N×C×H×W)."""
    return level_targets(to_float(training_images))


def levels_text(generator: torch.nn.Module) -> str | None:
    """What the generator's samples carry of fitted levels, for protocol lines (None: raw)."""
    parts = list(getattr(generator, "members", None) or [generator])
    fitted = sum(getattr(part, "output_levels", None) is not None for part in parts)
    if not fitted:
        return None
    which = "" if fitted == len(parts) else f" ({fitted} of {len(parts)} members)"
    return f"pixel levels mapped onto the training images' (calibrate_levels){which}"


def calibrate_checkpoints(source: str | Path, n: int, data_dir: str | None = None) -> list[Path]:
    """Fit (`n` > 0) or remove (`n` = 0) the output levels of every checkpoint of a run folder,
    or of one checkpoint file, exactly as `train --calibrate-levels n` fits them (same samples,
    same training images: the run's own, read from `data_dir` or the run's config). The weights
    and the rest of each file stay as they were; returns the files rewritten."""
    if n < 0:
        raise GanforgeError(f"--n {n}: give the number of samples to fit from, or 0 to remove "
                            "the curves")
    if str(source).startswith(PRETRAINED_PREFIX):
        raise GanforgeError("shipped generators are checksummed and cannot be changed; sample "
                            "one into a run of your own, or calibrate a run folder")
    source = Path(source)
    paths = (sorted((source / "checkpoints").glob("*.safetensors")) if source.is_dir()
             else [find_checkpoint(source)])
    if not paths:
        find_checkpoint(source)  # raises: a folder without checkpoints
    for path in paths:
        tensors, meta = load_checkpoint(path)
        if ENSEMBLE_KEY in meta:
            raise GanforgeError(f"'{path}' is an ensemble; calibrate its members' runs, then "
                                "build the ensemble again")
        meta.pop(LEVELS_KEY, None)
        if n:
            generator, config, _ = load_generator(path)
            training = load_training_set(dataclasses.replace(
                config, data_dir=data_dir or config.data_dir))
            curve = fit_output_levels(generator, training_targets(training.images), n,
                                      config.seed + 5)
            meta[LEVELS_KEY] = curve.to_meta()
        save_checkpoint(path, tensors, meta)
    return paths
