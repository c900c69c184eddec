"""What every generator and discriminator shares: the class-conditioning plumbing.

A generator maps `z` (N×latent_dim) — plus, when conditional, a learned label embedding joined to
it — to images in [-1, 1]. A discriminator maps images to a feature vector `h` and scores it with a
linear head; when conditional it adds the projection term ⟨embed(y), h⟩ (Miyato & Koyama 2018).
Subclasses implement only `synthesize(inputs)` and `features(images)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ganforge.models.levels import OutputLevels


@dataclass(frozen=True)
class ModelSpec:
    """What a model builder needs to know besides the config."""

    channels: int
    image_size: int
    num_classes: int  # 0 = unconditional


class Generator(nn.Module):
    def __init__(self, latent_dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.label_embedding = nn.Embedding(num_classes, latent_dim) if num_classes else None
        # how often each class occurs in the training set (set by the trainer, kept in
        # checkpoints): the distribution a conditional generator's samples draw classes from
        self.class_prior: list[float] | None = None
        # a fixed tone curve applied to sampled images (models/levels.py; kept in checkpoints'
        # metadata, never in the weights): None while training
        self.output_levels: OutputLevels | None = None

    @property
    def input_dim(self) -> int:
        """Size of the vector `synthesize` receives: z, plus the label embedding if conditional."""
        return self.latent_dim * (2 if self.num_classes else 1)

    def conditioned_input(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                          embedding: torch.Tensor | None = None) -> torch.Tensor:
        """z joined with the class embedding; pass `embedding` directly to morph between classes."""
        if self.label_embedding is None:
            return z
        if embedding is None:
            if labels is None:
                raise ValueError("a conditional generator needs class labels")
            embedding = self.label_embedding(labels)
        return torch.cat([z, embedding], dim=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.render(self.conditioned_input(z, labels))

    def render(self, inputs: torch.Tensor) -> torch.Tensor:
        """`synthesize`, then the output levels when the generator has them."""
        images = self.synthesize(inputs)
        return images if self.output_levels is None else self.output_levels(images)

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """`features(images)` returns N×feature_dim, or a N×C×H×W map whose flattening is the
    feature vector. The projection term always uses the spatially summed (N×C) vector, as in
    SNGAN/BigGAN: a class embedding over the flattened map would be a per-class spatial template.
    (Neither form alone prevents within-class collapse on MNIST; see `--mode-seeking`.)
    """

    def __init__(self, feature_dim: int, num_classes: int = 0,
                 projection_dim: int | None = None) -> None:
        super().__init__()
        self.head = nn.Linear(feature_dim, 1)
        self.minibatch_std_group = 0
        self.projection = (nn.Embedding(num_classes, projection_dim or feature_dim)
                           if num_classes else None)
        if self.projection is not None:
            # Embedding's default N(0, 1) init makes ⟨embed(y), h⟩ dominate the score from the first
            # step when h is wide, saturating D; SNGAN uses Xavier here.
            nn.init.xavier_uniform_(self.projection.weight)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One unnormalised score (logit) per image, shape N."""
        h = self.features(images)
        flat = h.flatten(1)
        if self.minibatch_std_group:
            flat = torch.cat([flat, minibatch_std(flat, self.minibatch_std_group)], dim=1)
        score = self.head(flat).squeeze(1)
        if self.projection is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs class labels")
            pooled = h.sum(dim=(2, 3)) if h.dim() == 4 else h
            score = score + (self.projection(labels) * pooled).sum(dim=1)
        return score

    def features(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def use_minibatch_std(self, group: int) -> None:
        """Give the head one more input: how varied the image's group of `group` is (ProGAN's
        minibatch standard deviation), so D can tell a collapsed batch of fakes from real ones."""
        self.minibatch_std_group = group
        self.head = nn.Linear(self.head.in_features + 1, 1)


def minibatch_std(features: torch.Tensor, group: int) -> torch.Tensor:
    """N×1: per group of `group` consecutive samples, the standard deviation of each feature over
    the group, averaged over the features. Groups are consecutive so that a batch of real images
    followed by one of fakes (each a multiple of `group`) never mixes the two; a batch that
    `group` does not divide uses the largest common divisor."""
    n = features.shape[0]
    group = math.gcd(n, group)
    grouped = features.float().view(n // group, group, -1)
    spread = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=1)
    return spread.repeat_interleave(group).unsqueeze(1).to(features.dtype)
