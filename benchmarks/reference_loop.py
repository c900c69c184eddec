"""The baseline for benchmarks/throughput.py: a GAN training loop written the way tutorials write it.

The PyTorch DCGAN tutorial's loop (https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html)
on ganforge's own networks, loss and optimiser settings, so only the loop differs:

- data: `torchvision.datasets.MNIST` with `ToTensor()` + `Normalize((0.5,), (0.5,))` through a
  `DataLoader(shuffle=True, drop_last=True)` — PIL image → tensor, per sample, every step;
- D update: one forward/backward on the real batch, one on the fake batch (two backward passes);
- G update: D(fake) with D's weights still requiring gradients (its weight gradients are computed
  and thrown away by the next zero_grad);
- loss: `nn.BCEWithLogitsLoss` against label tensors (= ganforge's `bce` loss on logits);
- optimiser: `torch.optim.Adam(params, lr, betas)` with PyTorch's defaults otherwise;
- bookkeeping: `.item()` of both losses every step (the tutorial appends them to lists).

No EMA of G (ganforge keeps one; that is extra work on ganforge's side of the comparison).
"""

from __future__ import annotations

import torch
from torch import nn


class ReferenceLoop:
    def __init__(self, generator: nn.Module, discriminator: nn.Module, config, data_dir: str,
                 workers: int = 0) -> None:
        import torchvision.datasets as tvd
        import torchvision.transforms as tvt

        self.G, self.D = generator, discriminator
        self.latent_dim = config.latent_dim
        self.criterion = nn.BCEWithLogitsLoss()
        betas = (config.beta1, config.beta2)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=betas)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=betas)
        transform = tvt.Compose([tvt.ToTensor(), tvt.Normalize((0.5,), (0.5,))])
        self.dataset = tvd.MNIST(data_dir, train=True, download=False, transform=transform)
        self.loader = torch.utils.data.DataLoader(self.dataset, batch_size=config.batch_size,
                                                  shuffle=True, drop_last=True,
                                                  num_workers=workers,
                                                  persistent_workers=workers > 0)
        self.batches = iter(self.loader)
        self.G_losses: list[float] = []
        self.D_losses: list[float] = []

    def next_batch(self) -> torch.Tensor:
        try:
            return next(self.batches)[0]
        except StopIteration:  # next epoch
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def train_step(self) -> None:
        real = self.next_batch()
        b = real.size(0)
        # (1) update D: maximise log(D(x)) + log(1 - D(G(z)))
        self.D.zero_grad()
        label = torch.full((b,), 1.0)
        output = self.D(real).view(-1)
        err_d_real = self.criterion(output, label)
        err_d_real.backward()
        noise = torch.randn(b, self.latent_dim)
        fake = self.G(noise)
        label.fill_(0.0)
        output = self.D(fake.detach()).view(-1)
        err_d_fake = self.criterion(output, label)
        err_d_fake.backward()
        self.opt_D.step()
        # (2) update G: maximise log(D(G(z)))
        self.G.zero_grad()
        label.fill_(1.0)
        output = self.D(fake).view(-1)
        err_g = self.criterion(output, label)
        err_g.backward()
        self.opt_G.step()
        self.G_losses.append(err_g.item())
        self.D_losses.append((err_d_real + err_d_fake).item())
