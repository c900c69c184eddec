"""Fitting a generator's output levels (models/levels.py) to its training images."""

from __future__ import annotations

import torch

from ganforge.data.datasets import to_float
from ganforge.generation.sampling import generate, noise, sample_labels
from ganforge.models.levels import OutputLevels


def fit_output_levels(generator: torch.nn.Module, training_images: torch.Tensor, n: int,
                      seed: int) -> OutputLevels:
    """The tone curve that maps `n` seeded samples of `generator` (its own levels switched off,
    classes in the shares `sample_labels` draws) onto the pixel levels of `training_images`
    (uint8). Only training images are read: the curve is part of the model, not of its test."""
    device = next(generator.parameters()).device
    previous, generator.output_levels = generator.output_levels, None
    try:
        z = noise(n, generator.latent_dim, seed, device)
        samples = generate(generator, z, sample_labels(generator, n, device))
    finally:
        generator.output_levels = previous
    return OutputLevels.fit(samples.cpu(), to_float(training_images))


def levels_text(generator: torch.nn.Module) -> str | None:
    """What the generator's samples carry of fitted levels, for protocol lines (None: raw)."""
    parts = list(getattr(generator, "members", None) or [generator])
    fitted = sum(getattr(part, "output_levels", None) is not None for part in parts)
    if not fitted:
        return None
    which = "" if fitted == len(parts) else f" ({fitted} of {len(parts)} members)"
    return f"pixel levels mapped onto the training images' (calibrate_levels){which}"
