"""Fully convolutional GAN with upsample + convolution instead of transposed convolutions
(the training-stability write-up, seed document 003).

Nearest-neighbour upsampling followed by a 3×3 convolution avoids the checkerboard artefacts of
strided transposed convolutions (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").

G: z (+ label embedding) → N×input_dim×1×1 → ConvT start×start (7 for 28 px, 4 for 32/64 px)
     → InstanceNorm → ReLU → [Upsample ×2 → Conv 3×3 → InstanceNorm → ReLU] until the image size
     → Conv 3×3 → tanh.  No dense layer anywhere.
                (28 px, width 64: 1×1×100 → 7×7×256 → 14×14×128 → 28×28×64 → 28×28×1)
D: image → Conv 3×3 stride 2 → LeakyReLU → Dropout → [Conv 3×3 stride 2 → InstanceNorm → LeakyReLU
     → Dropout] until 4×4 → Conv 3×3 → LeakyReLU → global average pool → N×channels.
                (28 px, width 64: 28×28×1 → 14×14×64 → 7×7×128 → 4×4×256 → 256 features)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.models import MODELS
from ganforge.models.base import Discriminator, Generator, ModelSpec
from ganforge.models.dcgan import start_size


def generator_widths(width: int, n_up: int) -> list[int]:
    """Channels at each resolution, start size first: halving up to `width` at full size, at most
    8·width (28 px: 4w, 2w, w; 32 px: 8w, 4w, 2w, w; 64 px: 8w, 8w, 4w, 2w, w)."""
    return [width * min(2 ** (n_up - i), 8) for i in range(n_up + 1)]


class UpConvGenerator(Generator):
    def __init__(self, latent_dim: int, width: int, channels: int, image_size: int,
                 num_classes: int = 0) -> None:
        super().__init__(latent_dim, num_classes)
        start = start_size(image_size)
        widths = generator_widths(width, int(math.log2(image_size // start)))
        layers: list[nn.Module] = [
            # N×input_dim×1×1 → N×widths[0]×start×start
            nn.ConvTranspose2d(self.input_dim, widths[0], start, 1, 0, bias=False),
            nn.InstanceNorm2d(widths[0], affine=True),
            nn.ReLU(inplace=True),
        ]
        for channels_in, channels_out in zip(widths, widths[1:]):
            # N×channels_in×s×s → N×channels_out×2s×2s
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(channels_in, channels_out, 3, 1, 1, bias=False),
                nn.InstanceNorm2d(channels_out, affine=True),
                nn.ReLU(inplace=True),
            ]
        # N×width×image_size×image_size → N×channels×image_size×image_size
        layers += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs.view(-1, self.input_dim, 1, 1))


class UpConvDiscriminator(Discriminator):
    def __init__(self, width: int, channels: int, image_size: int, dropout: float,
                 num_classes: int = 0) -> None:
        # N×channels×S×S → N×width×S/2×S/2 (no normalisation on the image layer, as in DCGAN)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 2, 1),
                                   nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout)]
        size, channels_in = (image_size + 1) // 2, width
        while size > 4:
            # N×c×s×s → N×c'×⌈s/2⌉×⌈s/2⌉, c' = 2c up to 8·width
            channels_out = min(2 * channels_in, 8 * width)
            layers += [nn.Conv2d(channels_in, channels_out, 3, 2, 1, bias=False),
                       nn.InstanceNorm2d(channels_out, affine=True),
                       nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout)]
            size, channels_in = (size + 1) // 2, channels_out
        # an unnormalised layer before pooling: the mean of an instance-normalised map is constant
        layers += [nn.Conv2d(channels_in, channels_in, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # N×c×4×4 → N×c
        super().__init__(channels_in, num_classes)
        self.net = nn.Sequential(*layers)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


@MODELS.register("upconv")
def build(config, spec: ModelSpec) -> tuple[Generator, Discriminator]:
    generator = UpConvGenerator(config.latent_dim, config.width, spec.channels, spec.image_size,
                                spec.num_classes)
    discriminator = UpConvDiscriminator(config.width, spec.channels, spec.image_size,
                                        config.dropout, spec.num_classes)
    return generator, discriminator
