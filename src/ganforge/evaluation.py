"""Glue between generators/run folders and the metrics package."""

from __future__ import annotations

from typing import Any

import torch

from ganforge.config import Config
from ganforge.metrics.evaluate import evaluate_images
from ganforge.training.sampling import balanced_labels, generate_uint8


def evaluate_generator(generator: torch.nn.Module, config: Config, n: int,
                       device: torch.device | str = "cpu", seed: int = 12345,
                       ref: str = "test", features: str | None = None,
                       inception_weights: str | None = None) -> dict[str, Any]:
    """Sample `n` images (class-balanced for conditional models) and score them."""
    labels = (balanced_labels(n, generator.num_classes) if generator.num_classes else None)
    images = generate_uint8(generator, n, seed, labels=labels)
    return evaluate_images(images, dataset=config.dataset, data_dir=config.data_dir, ref=ref,
                           features=features or config.features, n=n,
                           inception_weights=inception_weights, labels=labels, device=device)


def evaluate_source(source: str, dataset: str | None = None, data_dir: str | None = None,
                    n: int = 10000, ref: str = "test", features: str | None = None,
                    which: str = "auto", inception_weights: str | None = None,
                    seed: int = 12345) -> dict[str, Any]:
    """Evaluate a run folder / checkpoint (by sampling it), a samples .npz or an image folder."""
    from pathlib import Path

    from ganforge.errors import GanforgeError
    from ganforge.metrics.evaluate import load_images
    from ganforge.training.restore import load_generator

    if n <= 0:
        raise GanforgeError(f"--n must be > 0 (got {n})")
    path = Path(source)
    is_generator = (path.is_dir() and (path / "checkpoints").is_dir()) or \
        path.suffix == ".safetensors"
    if is_generator:
        generator, config, _ = load_generator(path, which)
        config = config.__class__(**{**config.to_dict(), "dataset": dataset or config.dataset,
                                     "data_dir": data_dir or config.data_dir})
        return evaluate_generator(generator, config, n, seed=seed, ref=ref, features=features,
                                  inception_weights=inception_weights)
    images = load_images(path)[:n]
    return evaluate_images(images, dataset=dataset or "mnist", data_dir=data_dir or "data",
                           ref=ref, features=features or "domain", n=len(images),
                           inception_weights=inception_weights)
