"""Drawing images from a generator without touching the training random streams."""

from __future__ import annotations

import torch

from ganforge.data.datasets import to_uint8


def noise(n: int, latent_dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard-normal latents from their own seeded generator (CPU, so every device agrees)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=generator).to(device)


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """0, 1, …, K-1, 0, 1, … so every class is equally represented."""
    return (torch.arange(n) % num_classes).to(device)


@torch.no_grad()
def generate(generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
             batch_size: int = 500) -> torch.Tensor:
    """Float images in [-1, 1] for latents `z` (and class labels for conditional models)."""
    was_training = generator.training
    generator.eval()
    try:
        parts = []
        for start in range(0, len(z), batch_size):
            part_labels = None if labels is None else labels[start:start + batch_size]
            parts.append(generator(z[start:start + batch_size], part_labels).float())
        return torch.cat(parts)
    finally:
        generator.train(was_training)


def generate_uint8(generator: torch.nn.Module, n: int, seed: int,
                   labels: torch.Tensor | None = None, batch_size: int = 500) -> torch.Tensor:
    """`n` uint8 images (N×C×H×W, on the CPU) from seeded latents. Conditional generators get
    class-balanced labels unless `labels` is given."""
    device = next(generator.parameters()).device
    z = noise(n, generator.latent_dim, seed, device)
    if labels is None and generator.num_classes:
        labels = balanced_labels(n, generator.num_classes, device)
    elif labels is not None:
        labels = labels.to(device)
    return to_uint8(generate(generator, z, labels, batch_size)).cpu()


def class_labels(generator: torch.nn.Module, label: int | None, n: int) -> torch.Tensor | None:
    """`n` copies of class `label` (None → None), refusing a class the generator does not have."""
    from ganforge.errors import GanforgeError

    if label is None:
        return None
    if not generator.num_classes:
        raise GanforgeError("--class needs a conditional model (train with --conditional)")
    if not 0 <= label < generator.num_classes:
        raise GanforgeError(f"--class {label} does not exist; pick 0..{generator.num_classes - 1}")
    return torch.full((n,), label, dtype=torch.int64)
