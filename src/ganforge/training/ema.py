"""Exponential moving average of the generator's weights (used for sampling and evaluation)."""

from __future__ import annotations

import torch


@torch.no_grad()
def update_ema(ema: torch.nn.Module, online: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·online for parameters; buffers (BatchNorm stats) are copied."""
    ema_params = [p for p in ema.parameters()]
    online_params = [p.detach() for p in online.parameters()]
    torch._foreach_lerp_(ema_params, online_params, 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), online.buffers()):
        ema_buffer.copy_(buffer)
