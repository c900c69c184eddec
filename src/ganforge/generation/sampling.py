"""Drawing images from a generator without touching the training random streams."""

from __future__ import annotations

import torch

from ganforge.data.datasets import to_uint8


def noise(n: int, latent_dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard-normal latents from their own seeded generator (CPU, so every device agrees)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=generator).to(device)


GOLDEN = (5 ** 0.5 - 1) / 2


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """0, 1, …, K-1, 0, 1, … so every class is equally represented (sample grids)."""
    return (torch.arange(n) % num_classes).to(device)


def prior_labels(n: int, prior: list[float], device: torch.device | str = "cpu") -> torch.Tensor:
    """`n` labels whose class counts follow `prior` in every prefix (within a few labels), without
    randomness: label i is the class whose cumulative-frequency interval holds frac((i+1)·φ), a
    low-discrepancy sequence. So the first n of a longer draw are exactly the n-label draw."""
    cumulative = torch.tensor(prior, dtype=torch.float64).cumsum(0)
    cumulative /= cumulative[-1].item()
    points = torch.remainder(torch.arange(1, n + 1, dtype=torch.float64) * GOLDEN, 1.0)
    labels = torch.searchsorted(cumulative, points, right=True).clamp_(max=len(prior) - 1)
    return labels.to(device)


def sample_labels(generator: torch.nn.Module, n: int,
                  device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Classes for drawing `n` samples of a conditional generator's distribution: in its training
    set's proportions when known (what it was trained on, and what an unconditional model
    reproduces; MNIST's differ from balanced enough to add ~0.03 to a domain FID), else balanced.
    None for an unconditional generator."""
    if not generator.num_classes:
        return None
    prior = getattr(generator, "class_prior", None)
    if prior is None:
        return balanced_labels(n, generator.num_classes, device)
    return prior_labels(n, prior, device)


def sample_labels_text(generator: torch.nn.Module) -> str | None:
    """How `sample_labels` draws classes for this generator, for protocol lines."""
    if not generator.num_classes:
        return None
    if getattr(generator, "class_prior", None) is None:
        return "classes balanced (no training class frequencies in the checkpoint)"
    return "classes in training-set proportions"


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


@torch.no_grad()
def recompute_batchnorm(generator: torch.nn.Module, n: int, seed: int,
                        batch_size: int = 500) -> bool:
    """Set the generator's BatchNorm running statistics to their averages over `n` of its own
    samples (seeded latents, classes as `sample_labels` draws them), as
    torch.optim.swa_utils.update_bn does for averaged weights; that helper cannot hand a
    conditional generator its labels. Nothing else changes mode, so dropout draws no random
    numbers. False when there is no BatchNorm layer to set."""
    layers = [m for m in generator.modules()
              if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not layers:
        return False
    was_training, momenta = generator.training, [m.momentum for m in layers]
    generator.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over all batches, not a moving one
        layer.train()
    device = next(generator.parameters()).device
    z = noise(n, generator.latent_dim, seed, device)
    labels = sample_labels(generator, n, device)
    try:
        for start in range(0, n, batch_size):
            generator(z[start:start + batch_size],
                      None if labels is None else labels[start:start + batch_size])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        generator.train(was_training)
    return True


def generate_uint8(generator: torch.nn.Module, n: int, seed: int,
                   labels: torch.Tensor | None = None, batch_size: int = 500) -> torch.Tensor:
    """`n` uint8 images (N×C×H×W, on the CPU) from seeded latents. Conditional generators get
    `sample_labels` unless `labels` is given."""
    device = next(generator.parameters()).device
    z = noise(n, generator.latent_dim, seed, device)
    if labels is None:
        labels = sample_labels(generator, n, device)
    else:
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
