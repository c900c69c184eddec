"""Which torch device a run or command uses: `auto` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from ganforge.errors import GanforgeError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """The device for `name`, or one clear error when it is unknown or not present here."""
    base = str(name).split(":", 1)[0]
    if base not in DEVICES:
        raise GanforgeError(f"unknown device '{name}'; choose one of: {', '.join(DEVICES)}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda requested but CUDA is not available; use --device auto")
    if base == "mps" and not torch.backends.mps.is_available():
        raise GanforgeError("--device mps requested but MPS is not available; use --device auto")
    return torch.device(name)
