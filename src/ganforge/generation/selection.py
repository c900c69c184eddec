"""Samples chosen by the run's own discriminator: discriminator-weighted resampling.

A trained D scores how real each sample looks; for a well-trained D, exp(logit) estimates the
density ratio p_data / p_G (Azadi et al. 2019, "Discriminator Rejection Sampling"). Drawing
`pool` candidates per requested image and keeping `n` of them without replacement, with
probabilities proportional to exp(beta * logit), moves the samples towards the data. Each class
of a conditional generator keeps exactly the count it was asked for, so the class shares do not
drift towards the classes D likes. beta < 1 tempers a D that is overconfident on its 14k training
images; beta = 0 keeps a uniform random subset (the control). Only G and D are read: no image of
any split picks anything (docs/results.md, rounds 23-24, measure beta and the pool on the hour's runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge.data.datasets import to_uint8
from ganforge.errors import GanforgeError
from ganforge.generation.sampling import generate, noise

# candidates per returned image: 6 beat 3 and 10 on the hour's runs by the FID against the
# training split, which is how a user without a held-out split would choose it (round 24)
DEFAULT_POOL = 6


@dataclass(frozen=True)
class Selection:
    beta: float  # weight of D's logit; 0 = a uniform random subset of the candidates
    pool: int = DEFAULT_POOL  # candidates drawn per returned image

    def __post_init__(self) -> None:
        if not (self.beta >= 0 and self.beta < float("inf")):
            raise GanforgeError(f"--select-by-d {self.beta}: give a weight >= 0 for D's logit "
                                "(0.5 was measured best on the hour's runs), or leave it out")
        if self.pool < 1:
            raise GanforgeError(f"--select-pool {self.pool}: give the number of candidates per "
                                f"image, at least 1 ({DEFAULT_POOL} measured best)")

    def text(self) -> str:
        """For protocol lines."""
        return (f"selected by the run's discriminator (weights exp({self.beta:g} * logit), "
                f"{self.pool} candidates per sample)")


@torch.no_grad()
def logits_of(discriminator: torch.nn.Module, images: torch.Tensor,
              labels: torch.Tensor | None, batch_size: int = 500) -> torch.Tensor:
    """D's logit of each image (N), in eval mode (dropout off)."""
    was_training = discriminator.training
    discriminator.eval()
    try:
        parts = [discriminator(images[i:i + batch_size],
                               None if labels is None else labels[i:i + batch_size]).float()
                 for i in range(0, len(images), batch_size)]
    finally:
        discriminator.train(was_training)
    return torch.cat(parts).cpu()


def pick(logits: torch.Tensor, beta: float, count: int, generator: torch.Generator
         ) -> torch.Tensor:
    """`count` indices of `logits` drawn without replacement, P ∝ exp(beta * logit)."""
    weights = torch.softmax(beta * logits.double(), dim=0)
    return torch.multinomial(weights, count, replacement=False, generator=generator)


def select_uint8(generator: torch.nn.Module, discriminator: torch.nn.Module, n: int, seed: int,
                 labels: torch.Tensor | None, selection: Selection) -> torch.Tensor:
    """`n` uint8 images (on the CPU) chosen by `discriminator` from `selection.pool` × n seeded
    candidates; image i has class labels[i] (conditional generators). D scores what G draws before
    any output levels (what it was trained on); the kept images then go through them."""
    device = next(generator.parameters()).device
    candidates = n * selection.pool
    z = noise(candidates, generator.latent_dim, seed, device)
    pool_labels = None if labels is None else labels.to(device).repeat(selection.pool)
    levels, generator.output_levels = getattr(generator, "output_levels", None), None
    try:
        images = generate(generator, z, pool_labels)
    finally:
        generator.output_levels = levels
    logits = logits_of(discriminator, images, pool_labels)
    rng = torch.Generator().manual_seed(seed + 7)
    if labels is None:
        chosen = pick(logits, selection.beta, n, rng)
    else:
        chosen = torch.empty(n, dtype=torch.long)
        wanted, offered = labels.cpu(), pool_labels.cpu()
        for label in wanted.unique():
            slots = (wanted == label).nonzero().squeeze(1)
            options = (offered == label).nonzero().squeeze(1)
            chosen[slots] = options[pick(logits[options], selection.beta, len(slots), rng)]
    kept = images[chosen.to(images.device)]
    with torch.no_grad():
        kept = kept if levels is None else levels(kept)
    return to_uint8(kept).cpu()
