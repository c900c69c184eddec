"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"): the probability p of augmenting each discriminator input follows
D's overfitting.

The heuristic is r_t = E[sign(D(x_real))] on D's raw scores (logits for the BCE losses): 0 when D
cannot tell the real images from the fakes, 1 when it is sure of every real one. Every
`ada_interval` steps, r_t over those steps (averaged over the ranks under torchrun) moves p:

    p ← clamp(p + sign(r_t − ada_target) · images / (ada_kimg · 1000), 0, MAX_P)

where `images` is the number of real images D saw in the interval (batch · d_steps · ranks ·
interval). So p can travel from 0 to 1 within ada_kimg thousand real images. The paper's 500 kimg
suits runs of millions of images; ganforge's default of 100 kimg lets p reach 1 in 1,563 steps of
batch 64 — a sixth of a 10k-step run — and still moves it by only 0.0026 per adjustment.

Everything lives on the training device: no host synchronisation on the hot path (p and r_t are
read only when they are logged).
"""

from __future__ import annotations

import torch

from ganforge.config import Config
from ganforge.data.augment import AdaptiveAugment
from ganforge.training.distributed import DistributedContext

# p stays below 1, so that some D inputs are always left unaugmented: the paper's condition for
# augmentations that do not leak into the generated images (§2.2)
MAX_P = 0.99


class AdaController:
    def __init__(self, augment: AdaptiveAugment, config: Config, device: torch.device,
                 dist: DistributedContext) -> None:
        self.augment, self.dist = augment, dist
        self.target, self.interval = config.ada_target, config.ada_interval
        images = config.batch_size * config.d_steps * dist.world_size * config.ada_interval
        self.adjustment = images / (config.ada_kimg * 1000)
        augment.p = torch.zeros((), device=device)
        self.sign_sum = torch.zeros((), device=device)  # Σ sign(D(real)) in this interval
        self.count = torch.zeros((), device=device)  # real images scored in this interval
        self.rt = torch.zeros((), device=device)  # r_t of the last finished interval

    @property
    def p(self) -> torch.Tensor:
        return self.augment.p

    def observe(self, scores_real: torch.Tensor) -> None:
        """Add one discriminator step's raw scores on real images to the interval's r_t."""
        scores = scores_real.detach().float()
        self.sign_sum += scores.sign().sum()
        self.count += scores.numel()

    def after_step(self, step: int) -> None:
        """After training step `step` (1-based): at the end of an interval, adjust p."""
        if step % self.interval:
            return
        rt = self.dist.mean(self.sign_sum / self.count.clamp_min(1))
        self.rt.copy_(rt)
        p = self.augment.p + torch.sign(rt - self.target) * self.adjustment
        self.augment.p.copy_(p.clamp(0.0, MAX_P))
        self.sign_sum.zero_()
        self.count.zero_()

    def stats(self) -> dict[str, float]:
        """What is logged with every training record (reads the device: log boundaries only)."""
        return {"ada_p": float(self.p), "ada_rt": float(self.rt)}

    def state(self) -> dict[str, torch.Tensor]:
        return {"p": self.p, "sign_sum": self.sign_sum, "count": self.count, "rt": self.rt}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in self.state().items():
            tensor.copy_(state[name])
