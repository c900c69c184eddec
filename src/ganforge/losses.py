"""Adversarial losses (registry) and the gradient penalties that go with them.

Every loss works on raw discriminator scores ("logits"): `discriminator(real, fake)` and
`generator(fake)` return scalar losses to minimise. Adding a loss is one decorated class here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.registry import Registry

LOSSES: Registry[type] = Registry("loss")


class AdversarialLoss:
    #: scores are logits of P(real), so sigmoid(score) is the usual "D(x)"
    probabilistic = True
    #: the loss needs a gradient penalty term (WGAN-GP)
    gradient_penalty = False

    def __init__(self, label_smoothing: float = 0.0, gp_weight: float = 0.0,
                 r1_gamma: float = 0.0, mode_seeking: float = 0.0) -> None:
        self.real_target = 1.0 - label_smoothing
        self.gp_weight, self.r1_gamma, self.mode_seeking = gp_weight, r1_gamma, mode_seeking

    def discriminator_total(self, discriminator: nn.Module, real: torch.Tensor,
                            fake: torch.Tensor, scores_real: torch.Tensor,
                            scores_fake: torch.Tensor, labels: torch.Tensor | None,
                            r1_scale: float = 0.0) -> torch.Tensor:
        """D's loss with its regularisers: the gradient penalty (losses that need one) and R1,
        weighted by `r1_scale` (0 on the steps that skip it; `real` must then require grad)."""
        loss = self.discriminator(scores_real, scores_fake)
        if self.gradient_penalty:
            loss = loss + self.gp_weight * gradient_penalty(discriminator, real.detach(), fake,
                                                            labels)
        if r1_scale:
            loss = loss + 0.5 * self.r1_gamma * r1_scale * r1_penalty(scores_real, real)
        return loss

    def generator_total(self, scores: torch.Tensor, fake: torch.Tensor, z: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """(G's loss with mode seeking, the adversarial part alone — what the logs compare)."""
        adversarial = self.generator(scores)
        loss = adversarial
        if self.mode_seeking:
            loss = loss + self.mode_seeking * mode_seeking_penalty(fake.float(), z)
        return loss, adversarial

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def bce_to_real(scores: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy of logits against target `target` (softplus form, stable)."""
    if target == 1.0:
        return F.softplus(-scores).mean()
    return (target * F.softplus(-scores) + (1 - target) * F.softplus(scores)).mean()


@LOSSES.register("bce")
class NonSaturatingBCE(AdversarialLoss):
    """Goodfellow et al.'s GAN loss with the non-saturating generator objective -log D(G(z))."""

    def discriminator(self, real, fake):
        return bce_to_real(real, self.real_target) + F.softplus(fake).mean()

    def generator(self, fake):
        return bce_to_real(fake)


@LOSSES.register("bce-minimax")
class MinimaxBCE(NonSaturatingBCE):
    """The original minimax objective: G minimises log(1 - D(G(z))) (saturates early on)."""

    def generator(self, fake):
        return -F.softplus(fake).mean()


@LOSSES.register("lsgan")
class LeastSquares(AdversarialLoss):
    """Mao et al. 2017: D regresses real→1, fake→0; G pulls fake→1."""

    probabilistic = False

    def discriminator(self, real, fake):
        return 0.5 * ((real - self.real_target) ** 2).mean() + 0.5 * (fake**2).mean()

    def generator(self, fake):
        return 0.5 * ((fake - 1) ** 2).mean()


@LOSSES.register("hinge")
class Hinge(AdversarialLoss):
    """Geometric-GAN / SNGAN hinge loss."""

    probabilistic = False

    def discriminator(self, real, fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def generator(self, fake):
        return -fake.mean()


@LOSSES.register("wgan-gp")
class Wasserstein(AdversarialLoss):
    """Gulrajani et al. 2017: critic maximises E[D(real)] - E[D(fake)] with a gradient penalty."""

    probabilistic = False
    gradient_penalty = True

    def discriminator(self, real, fake):
        return fake.mean() - real.mean()

    def generator(self, fake):
        return -fake.mean()


class LeCam:
    """LeCam regularisation (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under
    Limited Data"): D's scores on real images are penalised for rising above the moving average of
    its scores on generated ones, and vice versa,

        R = E[relu(D(x) − α_fake)²] + E[relu(α_real − D(G(z)))²],

    with α the exponential moving averages (decay 0.99) of the batch-mean raw scores. It bounds how
    far D can pull the two kinds apart, which is what a discriminator overfitting a small training
    set does. The averages live on the training device (no host synchronisation) and are part of
    the checkpoint, so a resumed run continues them exactly."""

    decay = 0.99

    def __init__(self, device: torch.device, mean_over_ranks=lambda t: t) -> None:
        self.ema_real = torch.zeros((), device=device)
        self.ema_fake = torch.zeros((), device=device)
        self.mean_over_ranks = mean_over_ranks

    def penalty(self, scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
        means = self.mean_over_ranks(torch.stack([scores_real.detach().float().mean(),
                                                  scores_fake.detach().float().mean()]))
        self.ema_real.lerp_(means[0], 1 - self.decay)
        self.ema_fake.lerp_(means[1], 1 - self.decay)
        return (F.relu(scores_real - self.ema_fake).pow(2).mean()
                + F.relu(self.ema_real - scores_fake).pow(2).mean())

    def state(self) -> dict[str, torch.Tensor]:
        return {"ema_real": self.ema_real, "ema_fake": self.ema_fake}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in self.state().items():
            tensor.copy_(state[name])


def build_loss(config) -> AdversarialLoss:
    return LOSSES.get(config.loss)(label_smoothing=config.label_smoothing,
                                   gp_weight=config.gp_weight, r1_gamma=config.r1_gamma,
                                   mode_seeking=config.mode_seeking)


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor | None) -> torch.Tensor:
    """E[(‖∇D(x̂)‖ - 1)²] on random interpolates x̂ of real and fake images."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed, labels).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E[‖∇D(x)‖²] on real images (Mescheder et al. 2018); `real` must require grad."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def mode_seeking_penalty(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's mode-seeking term (Mao et al. 2019) for G: 1 / (mean|G(z1) − G(z2)| / mean|z1 − z2|)
    over the pairs (first half of the batch, second half). It grows without bound as G stops
    using z — the within-class collapse that class-conditional GANs are prone to."""
    half = len(z) // 2
    image_gap = (fake[:half] - fake[half:2 * half]).abs().mean()
    latent_gap = (z[:half] - z[half:2 * half]).abs().mean()
    return 1.0 / (image_gap / latent_gap + eps)
