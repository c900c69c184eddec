"""DCGAN as in the TensorFlow DCGAN tutorial (seed document 001), at 28, 32 or 64 px.

G: z → Linear → 7×7×(4·width) (4×4 for 32/64 px) → BatchNorm → LeakyReLU
     → ConvT 5×5 stride 1 → 2·width → then ConvT 5×5 stride 2 blocks, halving channels, up to the
     image size → tanh.                       (28 px, width 64: 7×7×256 → 7×7×128 → 14×14×64 → 28×28×1)
   (--kernel-size sets every kernel; an even one, e.g. 4 as in the DCGAN paper, applies to the
   stride-2 layers, which then have no checkerboard overlap, and the stride-1 layer takes one more)
D: image → [Conv 5×5 stride 2 → LeakyReLU → Dropout(0.3)], doubling channels, until ≤ 8×8 px (two
   convolutions at 28 px, as in the tutorial) or for --d-layers convolutions → flatten → Linear
   (conditional: + projection of the class embedding onto the spatially summed last map).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models import MODELS
from ganforge.models.base import Discriminator, Generator, ModelSpec


def start_size(image_size: int) -> int:
    """Spatial size of the first feature map: image_size / 2^k with k ≥ 1 (7 for 28, 4 for 32)."""
    for size in (7, 4):
        ratio = image_size / size
        if ratio >= 2 and ratio.is_integer() and math.log2(ratio).is_integer():
            return size
    raise GanforgeError(f"image size {image_size} is not supported by this model; "
                        "use 28, 32, 64, 128 (7·2^k or 4·2^k)")


def up_conv(channels_in: int, channels_out: int, kernel: int, stride: int,
            bias: bool = True) -> nn.ConvTranspose2d:
    """A transposed convolution that multiplies the side by `stride`. An even kernel (stride 2
    only) gives every output pixel the same number of kernel taps: no checkerboard pattern."""
    if kernel % 2 == 0:
        return nn.ConvTranspose2d(channels_in, channels_out, kernel, stride,
                                  padding=(kernel - stride) // 2, bias=bias)
    return nn.ConvTranspose2d(channels_in, channels_out, kernel, stride, padding=kernel // 2,
                              output_padding=stride - 1, bias=bias)


def down_conv(channels_in: int, channels_out: int, kernel: int) -> nn.Conv2d:
    """A stride-2 convolution: side n → ceil(n/2) with an odd kernel, floor(n/2) with an even one."""
    padding = kernel // 2 if kernel % 2 else (kernel - 2) // 2
    return nn.Conv2d(channels_in, channels_out, kernel, 2, padding=padding)


def up_block(channels_in: int, channels_out: int, kernel: int, stride: int) -> list[nn.Module]:
    return [
        up_conv(channels_in, channels_out, kernel, stride, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class DCGANGenerator(Generator):
    def __init__(self, latent_dim: int, width: int, channels: int, image_size: int,
                 num_classes: int = 0, kernel: int = 5, stem_kernel: int = 0) -> None:
        super().__init__(latent_dim, num_classes)
        self.start = start_size(image_size)
        self.start_channels = 4 * width
        self.project = nn.Sequential(
            nn.Linear(self.input_dim, self.start_channels * self.start**2, bias=False),
            nn.BatchNorm1d(self.start_channels * self.start**2),
            nn.LeakyReLU(0.2, inplace=True),
        )
        n_up = int(math.log2(image_size // self.start))
        widths = [2 * width] + [max(width // 2**i, 16) for i in range(n_up - 1)]
        # the one stride-1 layer needs an odd kernel for "same" padding
        layers = up_block(self.start_channels, widths[0], stem_kernel or kernel | 1, stride=1)
        for channels_in, channels_out in zip(widths, widths[1:]):
            layers += up_block(channels_in, channels_out, kernel, stride=2)
        layers += [up_conv(widths[-1], channels, kernel, stride=2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        h = self.project(inputs).view(-1, self.start_channels, self.start, self.start)
        return self.net(h)


def discriminator_sizes(image_size: int, n_convs: int = 0, kernel: int = 5) -> list[int]:
    """Side of D's feature map after each of its stride-2 convolutions (`down_conv` with
    `kernel`): `n_convs` of them, or (0) as many as it takes to reach 8 px or less."""
    def halve(size: int) -> int:
        return (size + 1) // 2 if kernel % 2 else size // 2

    sizes = [halve(image_size)]
    while sizes[-1] >= 4:  # every size a convolution could still halve to 2 px or more
        sizes.append(halve(sizes[-1]))
    if n_convs > len(sizes):
        raise GanforgeError(f"bad value d_layers={n_convs}: {image_size} px images would shrink "
                            f"below 2 px; use at most {len(sizes)}")
    if n_convs:
        return sizes[:n_convs]
    return sizes[:next(i for i, size in enumerate(sizes) if size <= 8) + 1]


class DCGANDiscriminator(Discriminator):
    def __init__(self, width: int, channels: int, image_size: int, dropout: float,
                 num_classes: int = 0, kernel: int = 5, n_convs: int = 0) -> None:
        layers: list[nn.Module] = []
        channels_in, channels_out = channels, width
        sizes = discriminator_sizes(image_size, n_convs, kernel)
        for _ in sizes:
            layers += [down_conv(channels_in, channels_out, kernel),
                       nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout)]
            channels_in, channels_out = channels_out, channels_out * 2
        size = sizes[-1]
        super().__init__(channels_in * size * size, num_classes, projection_dim=channels_in)
        self.net = nn.Sequential(*layers)  # features: the last N×C×H×W map (see Discriminator)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


@MODELS.register("dcgan")
def build(config, spec: ModelSpec) -> tuple[Generator, Discriminator]:
    generator = DCGANGenerator(config.latent_dim, config.g_width or config.width, spec.channels,
                               spec.image_size, spec.num_classes, config.kernel_size,
                               config.stem_kernel)
    discriminator = DCGANDiscriminator(config.width, spec.channels, spec.image_size,
                                       config.dropout, spec.num_classes, config.kernel_size,
                                       config.d_layers)
    return generator, discriminator
