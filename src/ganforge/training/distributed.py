"""Data-parallel training under torchrun: one process per device, gradients averaged by DDP.

Every rank builds identical networks (same seed), walks the same global data permutation and the
same global noise stream, and keeps only its own slice of each global batch, so N ranks with batch
B compute what one process with batch N·B computes (up to dropout masks, which are per rank).
Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None  # None: let the config's --device decide

    @classmethod
    def single(cls) -> DistributedContext:
        return cls()

    @classmethod
    def from_environment(cls, device_name: str) -> DistributedContext:
        """Join the process group torchrun describes in the environment (single process if none)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls.single()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        if not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if use_cuda else "gloo")
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        return cls(torch_dist.get_rank(), world_size, device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP with synchronised BatchNorm when running on several processes; else unchanged."""
        if self.world_size == 1:
            return module
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def close(self) -> None:
        if self.world_size > 1 and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
