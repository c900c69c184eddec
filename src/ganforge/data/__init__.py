"""Datasets, the in-memory batch loader and batched augmentation."""

from ganforge.data.datasets import ImageSet, load_dataset, select, to_float, to_uint8
from ganforge.data.loader import InMemoryBatches

__all__ = ["ImageSet", "InMemoryBatches", "load_dataset", "select", "to_float", "to_uint8"]
