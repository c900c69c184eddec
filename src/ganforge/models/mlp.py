"""Fully connected GAN (seeds 000 and 002).

G: z → [Linear → BatchNorm → ReLU] × depth, widths hidden_dim·2^i (i = 0…depth-1) → Linear → tanh.
D: image → [Linear → LeakyReLU(0.2) → Dropout] × depth, the same widths in reverse → Linear → logit.
`hidden_dim` and `latent_dim` are the two knobs the MLP-GAN write-up (seed document 000) sweeps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.models import MODELS
from ganforge.models.base import Discriminator, Generator, ModelSpec


def layer_widths(hidden_dim: int, depth: int) -> list[int]:
    return [hidden_dim * 2**i for i in range(depth)]


class MLPGenerator(Generator):
    def __init__(self, latent_dim: int, hidden_dim: int, depth: int, image_shape: tuple[int, ...],
                 num_classes: int = 0) -> None:
        super().__init__(latent_dim, num_classes)
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        width_in = self.input_dim
        for width in layer_widths(hidden_dim, depth):
            layers += [nn.Linear(width_in, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            width_in = width
        layers += [nn.Linear(width_in, math.prod(self.image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs).view(-1, *self.image_shape)  # N×C×H×W


class MLPDiscriminator(Discriminator):
    def __init__(self, hidden_dim: int, depth: int, image_shape: tuple[int, ...],
                 dropout: float, num_classes: int = 0) -> None:
        widths = layer_widths(hidden_dim, depth)[::-1]
        super().__init__(widths[-1], num_classes)
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = math.prod(image_shape)
        for width in widths:
            layers += [nn.Linear(width_in, width), nn.LeakyReLU(0.2, inplace=True),
                       nn.Dropout(dropout)]
            width_in = width
        self.net = nn.Sequential(*layers)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # N×hidden_dim


@MODELS.register("mlp")
def build(config, spec: ModelSpec) -> tuple[Generator, Discriminator]:
    shape = (spec.channels, spec.image_size, spec.image_size)
    generator = MLPGenerator(config.latent_dim, config.hidden_dim, config.depth, shape,
                             spec.num_classes)
    discriminator = MLPDiscriminator(config.hidden_dim, config.depth, shape, config.dropout,
                                     spec.num_classes)
    return generator, discriminator
