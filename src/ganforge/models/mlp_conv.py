"""A fully connected generator against a convolutional discriminator (the latent-interpolation
write-up, seed document 004)."""

from __future__ import annotations

from ganforge.models import MODELS
from ganforge.models.base import Discriminator, Generator, ModelSpec
from ganforge.models.dcgan import DCGANDiscriminator
from ganforge.models.mlp import MLPGenerator


@MODELS.register("mlp-conv")
def build(config, spec: ModelSpec) -> tuple[Generator, Discriminator]:
    shape = (spec.channels, spec.image_size, spec.image_size)
    generator = MLPGenerator(config.latent_dim, config.hidden_dim, config.depth, shape,
                             spec.num_classes)
    discriminator = DCGANDiscriminator(config.width, spec.channels, spec.image_size,
                                       config.dropout, spec.num_classes,
                                       n_convs=config.d_layers)
    return generator, discriminator
