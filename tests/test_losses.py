import math

import pytest
import torch

from ganforge.losses import LOSSES, LeCam, gradient_penalty, mode_seeking_penalty, r1_penalty


def test_bce_at_the_equilibrium_point():
    """With D(x) = 1/2 everywhere, L_D = 2 ln 2 and the non-saturating L_G = ln 2."""
    loss = LOSSES.get("bce")()
    zeros = torch.zeros(8)
    assert loss.discriminator(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert loss.generator(zeros).item() == pytest.approx(math.log(2))


def test_label_smoothing_changes_the_real_target():
    smooth = LOSSES.get("bce")(label_smoothing=0.1)
    logits = torch.full((4,), 3.0)
    expected = -(0.9 * math.log(torch.sigmoid(torch.tensor(3.0)))
                 + 0.1 * math.log(1 - torch.sigmoid(torch.tensor(3.0))))
    assert smooth.discriminator(logits, torch.full((4,), -50.0)).item() == pytest.approx(
        expected, rel=1e-5)


def test_minimax_generator_objective_is_log_one_minus_d():
    loss = LOSSES.get("bce-minimax")()
    logits = torch.tensor([0.3, -1.2])
    expected = torch.log(1 - torch.sigmoid(logits)).mean()
    assert loss.generator(logits).item() == pytest.approx(expected.item(), rel=1e-6)


def test_hinge_lsgan_wgan_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert LOSSES.get("hinge")().discriminator(real, fake).item() == pytest.approx(0.75)
    assert LOSSES.get("lsgan")().discriminator(real, fake).item() == pytest.approx(
        0.5 * (1 + 0.25) / 2 + 0.5 * 4 / 2)
    assert LOSSES.get("wgan-gp")().discriminator(real, fake).item() == pytest.approx(-2.25)


class Linear1Lipschitz(torch.nn.Module):
    """D(x) = <w, x> with ‖w‖ = 1: its gradient norm is exactly 1 everywhere."""

    def __init__(self, dim):
        super().__init__()
        w = torch.randn(dim)
        self.w = torch.nn.Parameter(w / w.norm())

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w


def test_gradient_penalty_vanishes_for_a_one_lipschitz_critic():
    critic = Linear1Lipschitz(3 * 4 * 4)
    real, fake = torch.randn(16, 3, 4, 4), torch.randn(16, 3, 4, 4)
    assert gradient_penalty(critic, real, fake, None).item() < 1e-10
    critic.w.data *= 3  # gradient norm 3 → penalty (3 - 1)² = 4
    assert gradient_penalty(critic, real, fake, None).item() == pytest.approx(4.0, rel=1e-5)


def test_r1_penalty_is_squared_gradient_norm():
    critic = Linear1Lipschitz(8)
    critic.w.data *= 2
    real = torch.randn(5, 8).requires_grad_(True)
    assert r1_penalty(critic(real), real).item() == pytest.approx(4.0, rel=1e-5)


def test_mode_seeking_penalty_is_the_inverse_image_to_latent_gap_ratio():
    z = torch.randn(8, 12)
    images = 3 * z.view(8, 3, 2, 2)  # |G(z1) − G(z2)| = 3 |z1 − z2|
    assert mode_seeking_penalty(images, z).item() == pytest.approx(1 / 3, rel=1e-4)
    ignores_z = torch.ones(8, 3, 2, 2)  # a generator that ignores z: penalty 1/eps
    assert mode_seeking_penalty(ignores_z, z).item() == pytest.approx(1e5, rel=1e-3)


def test_lecam_penalises_only_scores_past_the_other_kinds_average():
    """R = E[relu(D(x) − α_fake)²] + E[relu(α_real − D(G(z)))²], after the averages (decay 0.99,
    from 0) took this batch's means: α_real = 0.01·2 = 0.02, α_fake = 0.01·(−1) = −0.01."""
    lecam = LeCam(torch.device("cpu"))
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, -1.0])
    penalty = lecam.penalty(real, fake)
    assert float(lecam.ema_real) == pytest.approx(0.02)
    assert float(lecam.ema_fake) == pytest.approx(-0.01)
    expected = ((3.01**2 + 1.01**2) / 2) + ((0.02 + 1) ** 2)
    assert penalty.item() == pytest.approx(expected, rel=1e-6)
    # a D that scores real below the fakes' average and fakes above the reals' is not penalised
    assert lecam.penalty(torch.tensor([-5.0]), torch.tensor([5.0])).item() == 0.0


def test_lecam_gradient_pulls_scores_together():
    lecam = LeCam(torch.device("cpu"))
    real = torch.tensor([2.0], requires_grad=True)
    fake = torch.tensor([-2.0], requires_grad=True)
    lecam.penalty(real, fake).backward()
    assert real.grad.item() > 0 and fake.grad.item() < 0  # descent lowers D(x), raises D(G(z))
