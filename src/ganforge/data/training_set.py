"""The training images a config describes: dataset, size, channels, then classes and subset."""

from __future__ import annotations

from typing import Protocol

import torch

from ganforge.data.datasets import ImageSet, load_dataset, parse_classes, select


class TrainingSetSpec(Protocol):
    """The config fields that pick the training images (ganforge.config.Config has them all)."""

    dataset: str
    data_dir: str
    image_size: int
    channels: int
    classes: str
    subset: float
    seed: int


def load_training_set(config: TrainingSetSpec) -> ImageSet:
    data = load_dataset(config.dataset, config.data_dir, train=True,
                        image_size=config.image_size, channels=config.channels)
    return select(data, parse_classes(config.classes), config.subset, config.seed)


def class_shares(labels: torch.Tensor, num_classes: int) -> list[float]:
    """Each class's share of `labels`, rounded to 6 places (it is kept in checkpoint JSON)."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    return [round(float(share), 6) for share in counts / counts.sum()]
