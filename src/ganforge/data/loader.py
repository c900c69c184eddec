"""Batches drawn by index from a dataset held as one uint8 tensor on the training device.

No per-sample Python work: each step slices a precomputed permutation, gathers the images in one
indexing op and scales them to [-1, 1]. Under torchrun every rank walks the same global permutation
and takes its own slice of each global batch, so N ranks × batch B see exactly the images that one
process with batch N·B would.
"""

from __future__ import annotations

import torch

from ganforge.data.datasets import ImageSet, to_float


class InMemoryBatches:
    def __init__(self, data: ImageSet, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world_size: int = 1) -> None:
        global_batch = batch_size * world_size
        if len(data) < global_batch:
            from ganforge.errors import GanforgeError

            raise GanforgeError(f"the training set has {len(data)} images, fewer than one batch "
                                f"({global_batch}); lower --batch-size or use more data")
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.batches_per_epoch = len(data) // global_batch
        self.epoch, self.batch_in_epoch = 0, 0
        self.permutation = torch.randperm(len(data), generator=self.generator)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch: float images in [-1, 1] (B×C×H×W) and int64 labels (B)."""
        if self.batch_in_epoch == self.batches_per_epoch:
            self.permutation = torch.randperm(len(self.images), generator=self.generator)
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        start = (self.batch_in_epoch * self.world_size + self.rank) * self.batch_size
        index = self.permutation[start:start + self.batch_size].to(self.device, non_blocking=True)
        self.batch_in_epoch += 1
        return to_float(self.images[index]), self.labels[index]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "generator": self.generator.get_state(),
            "permutation": self.permutation,
            "position": torch.tensor([self.epoch, self.batch_in_epoch], dtype=torch.int64),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].clone()
        self.epoch, self.batch_in_epoch = (int(v) for v in state["position"])
