"""Data-parallel training under torchrun: one process per device, gradients averaged by DDP.

Every rank builds identical networks (same seed), walks the same global data permutation and the
same global noise stream, and keeps only its own slice of each global batch, so N ranks with batch
B compute what one process with batch N·B computes (up to dropout masks, which are per rank):

- gradients: DDP all-reduces (averages) them after every backward pass;
- BatchNorm: statistics over the global batch — `nn.SyncBatchNorm` on GPUs, `GlobalBatchNorm`
  below on CPU/gloo (SyncBatchNorm refuses CPU tensors);
- logged statistics: averaged over the ranks at each log interval (one small all-reduce);
- random states: each rank's own (dropout) stream is gathered into the checkpoint, so a resume
  under torchrun with the same number of processes is exact.

Only rank 0 writes files; every rank reads the checkpoint on --resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def is_main_process() -> bool:
    """Rank 0 of a torchrun launch, or a plain single process."""
    return os.environ.get("RANK", "0") == "0"


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
        """DDP with synchronised BatchNorm when running on several processes; else unchanged.

        BatchNorm layers are replaced inside `module` itself (they share its parameters and
        buffers), so the unwrapped module also normalises over the global batch."""
        if self.world_size == 1:
            return module
        if any(isinstance(m, _BatchNorm) for m in module.modules()):
            if self.device.type == "cpu":
                module = GlobalBatchNorm.convert(module)
            else:
                module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Element-wise mean of `tensor` over the ranks (a copy; the input is unchanged)."""
        if self.world_size == 1:
            return tensor
        total = tensor.clone()
        torch_dist.all_reduce(total)
        return total / self.world_size

    def gather_rng_states(self) -> list[dict[str, torch.Tensor]] | None:
        """Every rank's random-generator states (collective: all ranks must call it)."""
        if self.world_size == 1:
            return None
        from ganforge.generation.checkpoint import rng_tensors

        states: list[dict[str, torch.Tensor] | None] = [None] * self.world_size
        torch_dist.all_gather_object(states, rng_tensors())
        return states  # type: ignore[return-value]

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank (collective: all ranks must call it)."""
        if self.world_size == 1:
            return obj
        holder = [obj]
        torch_dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def barrier(self) -> None:
        if self.world_size > 1:
            torch_dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


class AllReduceSum(torch.autograd.Function):
    """Sum over the ranks, differentiable: the gradient of a sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        torch_dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return AllReduceSum.apply(grad)


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics cover the batches of all ranks (CPU/gloo SyncBatchNorm).

    Mean and variance come from two differentiable all-reduces (sum, then sum of squared
    deviations), so the backward pass sees the global batch too: N ranks × batch B give the
    gradients of one process with batch N·B (to float rounding). Outside training, or without a
    process group, it is an ordinary BatchNorm. Parameter and buffer names are BatchNorm's, so
    checkpoints are interchangeable.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch_dist.is_available() and torch_dist.is_initialized()
                and torch_dist.get_world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        x = input.float()
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        local_count = x.numel() // x.shape[1]
        sums = AllReduceSum.apply(torch.cat([x.sum(dims), x.new_tensor([local_count])]))
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centered = x - mean.view(shape)
        var = AllReduceSum.apply(centered.square().sum(dims)) / count
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self.update_running_stats(mean.detach(), var.detach(), count)
        return out.to(input.dtype)

    @torch.no_grad()
    def update_running_stats(self, mean: torch.Tensor, var: torch.Tensor,
                             count: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                  else self.momentum)
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(var * count / (count - 1).clamp_min(1), factor)

    @classmethod
    def convert(cls, module: nn.Module) -> nn.Module:
        """Replace every BatchNorm in `module` (in place where possible) by a GlobalBatchNorm that
        shares its parameters and buffers."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats)
            if module.affine:
                new.weight, new.bias = module.weight, module.bias
            if module.track_running_stats:
                new.running_mean, new.running_var = module.running_mean, module.running_var
                new.num_batches_tracked = module.num_batches_tracked
            new.train(module.training)
            return new
        for name, child in module.named_children():
            new_child = cls.convert(child)
            if new_child is not child:
                setattr(module, name, new_child)
        return module
