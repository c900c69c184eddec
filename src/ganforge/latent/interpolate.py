"""Walking between latents: slerp/lerp on batches (pure torch) and the interpolation figures.

Gaussian latents in high dimension concentrate on a shell of radius ≈ √latent_dim, and two of them
are almost orthogonal. A straight line (lerp) between them cuts through the inside of the shell —
its midpoint has norm ≈ √(latent_dim/2), a latent the generator never saw during training — while a
great-circle arc (slerp, White 2016) stays on the shell. Endpoints are reproduced exactly by both.
"""

from __future__ import annotations

import torch
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.generation.sampling import generate, noise

METHODS = ("slerp", "lerp")


def as_times(t: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`t` as a tensor broadcastable against latents of shape (..., D): shape (..., 1)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.unsqueeze(-1) if t.ndim else t


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """(1 - t)·a + t·b along the last dimension; `t` is a scalar or has the batch shape of a/b."""
    t = as_times(t, a)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor,
          eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation of the latents a and b (shape (..., D)) at time(s) t.

    sin((1-t)ω)/sin ω · a + sin(tω)/sin ω · b, with ω the angle between a and b; it falls back to
    lerp where a and b are (anti)parallel (sin ω ≈ 0). At t = 0 and t = 1 it returns a and b
    exactly."""
    t = as_times(t, a)
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b_unit = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    omega = torch.arccos((a_unit * b_unit).sum(-1, keepdim=True).clamp(-1, 1))
    sin_omega = torch.sin(omega)
    degenerate = sin_omega.abs() < eps
    safe = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    spherical = (torch.sin((1 - t) * omega) / safe) * a + (torch.sin(t * omega) / safe) * b
    out = torch.where(degenerate, (1 - t) * a + t * b, spherical)
    # sin(ω)/sin(ω) is exactly 1 and sin(0) exactly 0 in floating point, but make it explicit
    return torch.where(t == 0, a, torch.where(t == 1, b, out))


def interpolation_path(a: torch.Tensor, b: torch.Tensor, steps: int,
                       method: str = "slerp") -> torch.Tensor:
    """`steps` evenly spaced latents from a to b (both ends included) for each pair:
    a, b of shape N×D → N×steps×D (a, b of shape D → steps×D)."""
    check_method(method)
    if steps < 2:
        raise GanforgeError(f"--steps must be at least 2 (got {steps}); the path includes both ends")
    single = a.ndim == 1
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    times = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    path = (slerp if method == "slerp" else lerp)(a[:, None], b[:, None], times[None, :])
    return path[0] if single else path


def check_method(method: str) -> None:
    if method not in METHODS:
        raise GanforgeError(f"unknown interpolation method '{method}'; choose slerp or lerp")


def seed_latents(seeds: list[int], latent_dim: int) -> torch.Tensor:
    """The latent of each seed: seed S ↦ noise(1, latent_dim, S)[0] (len(seeds)×latent_dim)."""
    if not seeds:
        return torch.zeros(0, latent_dim)
    return torch.cat([noise(1, latent_dim, int(seed)) for seed in seeds])


def random_pairs(k: int, seed: int = 0) -> list[tuple[int, int]]:
    """k pairs of distinct seeds, reproducibly drawn from `seed`."""
    if k <= 0:
        raise GanforgeError(f"--random must be > 0 (got {k})")
    g = torch.Generator().manual_seed(seed)
    seeds = torch.randperm(100_000, generator=g)[:2 * k].tolist()
    return list(zip(seeds[0::2], seeds[1::2]))


def device_of(generator: torch.nn.Module) -> torch.device:
    return next(generator.parameters()).device


@torch.no_grad()
def pair_rows(generator, pairs: list[tuple[int, int]], steps: int, method: str = "slerp",
              labels: list[int] | None = None) -> torch.Tensor:
    """Images of each seed pair's path: len(pairs)×steps×C×H×W in [-1, 1]. Conditional generators
    draw row i as class labels[i] (default: class i mod num_classes)."""
    dim = generator.latent_dim
    a = seed_latents([p[0] for p in pairs], dim)
    b = seed_latents([p[1] for p in pairs], dim)
    path = interpolation_path(a, b, steps, method).reshape(-1, dim).to(device_of(generator))
    row_labels = None
    if generator.num_classes:
        classes = labels or [i % generator.num_classes for i in range(len(pairs))]
        row_labels = torch.tensor(classes, device=path.device).repeat_interleave(steps)
    images = generate(generator, path, row_labels)
    return images.reshape(len(pairs), steps, *images.shape[1:])


@torch.no_grad()
def latent_row(generator, a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp",
               class_a: int | None = None, class_b: int | None = None) -> torch.Tensor:
    """Images along the path from latent a to latent b (steps×C×H×W), e.g. projected real images.
    A conditional generator's class embedding moves from class_a's to class_b's on the way (lerp),
    so two images of different classes morph into each other."""
    device = device_of(generator)
    path = interpolation_path(a.reshape(-1).cpu(), b.reshape(-1).cpu(), steps, method).to(device)
    if not generator.num_classes:
        return generate(generator, path)
    class_a = 0 if class_a is None else class_a
    class_b = class_a if class_b is None else class_b
    check_class(generator, class_a)
    check_class(generator, class_b)
    if class_a == class_b:  # no morph: the plain class label (an ensemble has no single table)
        return generate(generator, path, torch.full((steps,), class_a, device=device))
    table = class_embeddings(generator)
    embedding = interpolation_path(table[class_a], table[class_b], steps, "lerp").to(device)
    return synthesize(generator, generator.conditioned_input(path, embedding=embedding))


@torch.no_grad()
def class_morph_row(generator, seed: int, class_a: int, class_b: int, steps: int,
                    method: str = "lerp") -> torch.Tensor:
    """z held fixed while the class embedding moves from class_a's to class_b's (steps×C×H×W)."""
    check_class(generator, class_a)
    check_class(generator, class_b)
    device = device_of(generator)
    table = class_embeddings(generator)
    path = interpolation_path(table[class_a], table[class_b], steps, method).to(device)
    z = seed_latents([seed], generator.latent_dim).to(device).expand(steps, -1)
    return synthesize(generator, generator.conditioned_input(z, embedding=path))


@torch.no_grad()
def class_sweep_row(generator, seed: int) -> torch.Tensor:
    """z held fixed, class 0, 1, …, K-1 (K×C×H×W)."""
    device = device_of(generator)
    z = seed_latents([seed], generator.latent_dim).to(device).expand(generator.num_classes, -1)
    return generate(generator, z, torch.arange(generator.num_classes, device=device))


def synthesize(generator, inputs: torch.Tensor) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    try:
        return generator.render(inputs).float()
    finally:
        generator.train(was_training)


def class_embeddings(generator) -> torch.Tensor:
    """The generator's class-embedding table (num_classes×latent_dim), which morphs move along."""
    if generator.label_embedding is None:
        raise GanforgeError("an ensemble has one class embedding per member, so it cannot morph "
                            "between classes; morph one of its member runs instead")
    return generator.label_embedding.weight


def check_class(generator, label: int) -> None:
    if not generator.num_classes:
        raise GanforgeError("class interpolation needs a conditional model (train with --conditional)")
    if not 0 <= label < generator.num_classes:
        raise GanforgeError(f"class {label} does not exist; pick 0..{generator.num_classes - 1}")


def rows_to_grid(rows: list[torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Rows of possibly different lengths → one image batch padded with white, and its width."""
    width = max(len(row) for row in rows)
    padded = []
    for row in rows:
        if len(row) < width:
            blank = torch.ones(width - len(row), *row.shape[1:], dtype=row.dtype, device=row.device)
            row = torch.cat([row, blank])
        padded.append(row.cpu())
    return torch.cat(padded), width


def gif_frames(rows: list[torch.Tensor], scale: int = 2) -> list[Image.Image]:
    """One frame per step, stacking every row's image at that step; played forth and back."""
    from ganforge.generation.images import grid_image

    width = max(len(row) for row in rows)
    frames = []
    for step in range(width):
        column = torch.stack([row[min(step * len(row) // width, len(row) - 1)].cpu()
                              for row in rows])
        frame = grid_image(column, nrow=len(rows))
        frames.append(frame.resize((frame.width * scale, frame.height * scale), Image.NEAREST))
    return frames + frames[-2:0:-1]
