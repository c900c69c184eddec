"""Residual GAN in the style of SNGAN / BigGAN-lite (Miyato et al. 2018, Brock et al. 2019), as
the training-stability write-up (seed document 003) asks for.

G: z (+ label embedding) → Linear → start×start×c (7 for 28 px, 4 for 32/64 px) → [up-block]
     until the image size → BatchNorm → ReLU → Conv 3×3 → tanh.
     up-block: BN → ReLU → Upsample ×2 → Conv 3×3 → BN → ReLU → Conv 3×3, plus the shortcut
     Upsample ×2 → Conv 1×1.   (28 px, width 64: 7×7×256 → 14×14×128 → 28×28×64 → 28×28×1)
D, `residual: g`:  the plain DCGAN convolutional discriminator (models/dcgan.py).
D, `residual: gd`: [down-block] until ≤ 8×8 px → one block at that size → ReLU → global sum pooling.
     down-block: ReLU → Conv 3×3 → ReLU → Conv 3×3 → AvgPool 2, plus the shortcut Conv 1×1 → AvgPool 2
     (the first block, on raw pixels, has no leading ReLU and pools before its shortcut conv).
                (28 px, width 64: 28×28×1 → 14×14×64 → 7×7×128 → 7×7×128 → 128 features)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.models import MODELS
from ganforge.models.base import Discriminator, Generator, ModelSpec
from ganforge.models.dcgan import DCGANDiscriminator, start_size
from ganforge.models.upconv import generator_widths


class UpBlock(nn.Module):
    """N×c_in×s×s → N×c_out×2s×2s, pre-activation residual block."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(channels_in),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(channels_in, channels_out, 3, 1, 1),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels_out, channels_out, 3, 1, 1),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                      nn.Conv2d(channels_in, channels_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """N×c_in×s×s → N×c_out×⌊s/2⌋×⌊s/2⌋ (or s×s when `downsample` is False)."""

    def __init__(self, channels_in: int, channels_out: int, downsample: bool = True,
                 first: bool = False) -> None:
        super().__init__()
        pool: list[nn.Module] = [nn.AvgPool2d(2)] if downsample else []
        # ReLU before the first conv, except on raw pixels (SNGAN's "optimized" first block)
        self.residual = nn.Sequential(
            *([] if first else [nn.ReLU()]),
            nn.Conv2d(channels_in, channels_out, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels_out, channels_out, 3, 1, 1),
            *pool,
        )
        if first:  # pool, then 1×1 conv: the cheaper order, equal for a linear map
            self.shortcut = nn.Sequential(*pool, nn.Conv2d(channels_in, channels_out, 1))
        elif downsample or channels_in != channels_out:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1), *pool)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResNetGenerator(Generator):
    def __init__(self, latent_dim: int, width: int, channels: int, image_size: int,
                 num_classes: int = 0) -> None:
        super().__init__(latent_dim, num_classes)
        self.start = start_size(image_size)
        widths = generator_widths(width, int(math.log2(image_size // self.start)))
        self.start_channels = widths[0]
        # N×input_dim → N×(c·start·start), viewed as N×c×start×start
        self.project = nn.Linear(self.input_dim, self.start_channels * self.start**2)
        self.blocks = nn.Sequential(*(UpBlock(channels_in, channels_out)
                                      for channels_in, channels_out in zip(widths, widths[1:])))
        # N×width×image_size×image_size → N×channels×image_size×image_size
        self.output = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(inplace=True),
                                    nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh())

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        h = self.project(inputs).view(-1, self.start_channels, self.start, self.start)
        return self.output(self.blocks(h))


class ResNetDiscriminator(Discriminator):
    def __init__(self, width: int, channels: int, image_size: int, dropout: float,
                 num_classes: int = 0) -> None:
        blocks: list[nn.Module] = [DownBlock(channels, width, first=True), nn.Dropout(dropout)]
        size, channels_in = image_size // 2, width
        while size > 8:
            channels_out = min(2 * channels_in, 8 * width)
            blocks += [DownBlock(channels_in, channels_out), nn.Dropout(dropout)]
            size, channels_in = size // 2, channels_out
        blocks += [DownBlock(channels_in, channels_in, downsample=False)]  # N×c×s×s, s ≤ 8
        super().__init__(channels_in, num_classes)
        self.blocks = nn.Sequential(*blocks)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(images)).sum(dim=(2, 3))  # global sum pooling: N×c


@MODELS.register("resnet")
def build(config, spec: ModelSpec) -> tuple[Generator, Discriminator]:
    generator = ResNetGenerator(config.latent_dim, config.width, spec.channels, spec.image_size,
                                spec.num_classes)
    discriminator_class = ResNetDiscriminator if config.residual == "gd" else DCGANDiscriminator
    discriminator = discriminator_class(config.width, spec.channels, spec.image_size,
                                        config.dropout, spec.num_classes)
    return generator, discriminator
