"""The training images a config describes: dataset, size, channels, then classes and subset."""

from __future__ import annotations

from ganforge.config import Config, parse_classes
from ganforge.data.datasets import ImageSet, load_dataset, select


def load_training_set(config: Config) -> ImageSet:
    data = load_dataset(config.dataset, config.data_dir, train=True,
                        image_size=config.image_size, channels=config.channels)
    return select(data, parse_classes(config.classes), config.subset, config.seed)
