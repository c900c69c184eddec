"""An ensemble of trained generators as one generator: the uniform mixture of their distributions.

Each sample comes from one member. Which one is read from the latent itself, so a latent always
draws the same image: z has one coordinate more than the members' latents, its first, u ~ N(0, 1),
and Φ(u) split into K equal intervals picks the member, which receives the remaining coordinates.
Every member is therefore drawn with probability 1/K, independently of the latent it receives.

Separately trained runs err partly in different directions, so their mixture is somewhat closer
to the data than the average run: 0.03-0.08x the floor for four MNIST hour runs; a bias they
share stays (docs/results.md, round 22). Not a training architecture: `ganforge ensemble` builds
one from finished runs; it is sampled, evaluated and explored like any generator.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.base import Generator


class MixtureGenerator(Generator):
    def __init__(self, members: list[Generator]) -> None:
        if len(members) < 2:
            raise ValueError("a mixture needs at least two generators")
        first = members[0]
        super().__init__(first.latent_dim + 1)  # no label embedding of its own: each member has one
        self.num_classes = first.num_classes
        self.class_prior = first.class_prior  # members of one training set share its class shares
        self.members = nn.ModuleList(members)

    def member_of(self, z: torch.Tensor) -> torch.Tensor:
        """The member each latent draws from (N, long), from its first coordinate."""
        k = len(self.members)
        return (torch.special.ndtr(z[:, 0].float()) * k).long().clamp_(0, k - 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        member = self.member_of(z)
        images = None
        for index, generator in enumerate(self.members):
            rows = (member == index).nonzero().squeeze(1)
            if not len(rows) and images is not None:
                continue
            part = generator(z[rows, 1:], None if labels is None else labels[rows])
            if images is None:
                images = part.new_empty((len(z), *part.shape[1:]))
            images[rows] = part
        return images

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        raise TypeError("an ensemble has no single class embedding to feed; give it latents and "
                        "labels (forward), or explore one of its members")
