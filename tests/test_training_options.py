"""Every architecture × loss × conditioning trains on real MNIST, and each training option does
what it says (EMA, d_steps, TTUR, R1, DiffAugment, mode seeking, class-conditional sampling).
The architecture options themselves (residual D, upconv G, spectral norm, projection D) are
tested in test_models.py."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

import ganforge.data.augment as augment
from ganforge.config import build_config
from ganforge.generation import checkpoint as ckpt
from ganforge.losses import LOSSES, r1_penalty
from ganforge.models import MODELS
from ganforge.training.trainer import Trainer
from tests.conftest import cli, tiny_overrides, train

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def trainer(data_dir, tmp_path, **extra) -> Trainer:
    """A Trainer without a run folder (nothing written), on 2% of real MNIST."""
    overrides = tiny_overrides(data_dir, tmp_path / "run", subset=0.02, **extra)
    return Trainer(build_config(overrides=overrides), None)


def adam_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    return {int(state["step"]) for state in optimizer.state.values()}


@pytest.mark.slow
# ----- every architecture × every loss × conditional on/off -----
@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("loss", LOSSES.names())
@pytest.mark.parametrize("model", MODELS.names())
def test_every_model_and_loss_trains_200_steps(data_dir, tmp_path, monkeypatch, model, loss,
                                               conditional):
    # the loss plot and GIF (about 1 s of matplotlib per run) are covered in test_training.py
    monkeypatch.setattr("ganforge.training.outputs.plot_losses", lambda *args: None)
    monkeypatch.setattr("ganforge.training.outputs.save_gif", lambda *args: None)
    run = tmp_path / "run"
    assert train(data_dir, run, model=model, loss=loss, conditional=conditional, steps=200,
                 batch_size=8, width=4, hidden_dim=8, latent_dim=8, log_every=100,
                 checkpoint_every=200, grid_size=4) == 0
    tensors, meta = ckpt.load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert meta["step"] == 200 and meta["spec"]["num_classes"] == (10 if conditional else 0)
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if k.startswith(("G/", "D/")))


# ----- EMA -----
def test_trainer_ema_uses_the_configured_decay(data_dir, tmp_path):
    t = trainer(data_dir, tmp_path, model="resnet", ema_decay=0.9)  # BatchNorm buffers in G
    t.train_step()  # G_ema starts equal to G; after a step they differ
    before = [p.detach().clone() for p in t.G_ema.parameters()]
    t.train_step()
    for old, new, online in zip(before, t.G_ema.parameters(), t.G.parameters(), strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * online)
    assert not all(torch.equal(a, b) for a, b in zip(t.G_ema.parameters(), t.G.parameters()))
    for ema_buffer, buffer in zip(t.G_ema.buffers(), t.G.buffers(), strict=True):
        assert torch.equal(ema_buffer, buffer)


# ----- training options -----
def test_d_steps_3_makes_three_d_updates_per_g_update(data_dir, tmp_path):
    t = trainer(data_dir, tmp_path, d_steps=3)
    for _ in range(2):
        t.train_step()
    assert adam_steps(t.opt_D) == {6} and adam_steps(t.opt_G) == {2}


def test_ttur_learning_rates_reach_the_optimizers(data_dir, tmp_path):
    run = tmp_path / "run"
    assert train(data_dir, run, steps=2, lr_g=1e-4, lr_d=4e-4) == 0
    _, meta = ckpt.load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert [g["lr"] for g in meta["opt_G"]["param_groups"]] == [1e-4]
    assert [g["lr"] for g in meta["opt_D"]["param_groups"]] == [4e-4]


@pytest.mark.parametrize("every, step, weight", [(1, 0, 1), (1, 3, 1), (4, 0, 4), (4, 3, 0),
                                                  (4, 8, 4)])
def test_r1_penalty_adds_its_gradient_to_the_d_update(data_dir, tmp_path, every, step, weight):
    """D's gradient with r1_gamma=γ minus the one without is exactly weight·γ/2·∇θ E‖∇ₓD(x)‖² on
    the real images: weight 1 every step by default; lazy R1 (--r1-every N) applies N times the
    penalty on every N-th step and none on the others."""
    gamma = 4.0
    plain = trainer(data_dir, tmp_path, dropout=0.0)
    r1 = trainer(data_dir, tmp_path, dropout=0.0, r1_gamma=gamma, r1_every=every)
    assert all(torch.equal(a, b) for a, b in zip(plain.D.parameters(), r1.D.parameters()))
    plain.step = r1.step = step
    reference = copy.deepcopy(r1.D)
    real, _ = r1.batches.next()
    fake = torch.rand_like(real) * 2 - 1
    plain.discriminator_step(real, fake, None, None)
    r1.discriminator_step(real, fake, None, None)

    x = real.clone().requires_grad_(True)
    params = list(reference.parameters())
    penalty = r1_penalty(reference(x), x)
    grads = torch.autograd.grad(penalty, params, allow_unused=True)
    expected = [torch.zeros_like(p) if g is None else 0.5 * gamma * weight * g
                for p, g in zip(params, grads)]
    assert sum(g.abs().sum() for g in grads if g is not None) > 0
    for p_plain, p_r1, extra in zip(plain.D.parameters(), r1.D.parameters(), expected, strict=True):
        torch.testing.assert_close(p_r1.grad - p_plain.grad, extra, rtol=1e-3, atol=1e-6)
    same = all(torch.equal(a, b) for a, b in zip(plain.D.parameters(), r1.D.parameters()))
    assert same == (weight == 0)


@pytest.mark.parametrize("name, calls_per_step", [("diffaug", 3), ("none", 0)])
def test_diffaug_is_applied_to_real_and_fake_d_inputs(data_dir, tmp_path, monkeypatch, name,
                                                       calls_per_step):
    """The stand-in augmentation shifts images by +10, out of the [-1, 1] image range: every image
    D sees (real and fake in its own step, fake in G's step) must carry the shift."""
    calls = []

    def marker(images):
        calls.append(images.shape[0])
        return images + 10

    monkeypatch.setattr(augment, "diffaug", marker)
    t = trainer(data_dir, tmp_path, augment=name, batch_size=8)
    seen = []
    t.D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    for _ in range(2):
        t.train_step()
    assert len(calls) == 2 * calls_per_step and all(n == 8 for n in calls)
    assert [len(images) for images in seen] == [16, 8, 16, 8]  # D step: real + fake; G step: fake
    for images in seen:
        assert (images.amin() >= 9) if name == "diffaug" else (images.amax() <= 1)


def test_conditional_model_samples_a_chosen_class(data_dir, tmp_path):
    run = tmp_path / "run"
    assert train(data_dir, run, model="upconv", conditional=True, steps=5) == 0
    images = {}
    for label in (7, 3):
        out = tmp_path / f"class{label}.npz"
        assert cli("sample", "--run", str(run), "--class", str(label), "--n", "6",
                   "--npz", str(out)) == 0
        images[label] = np.load(out)["x"]
        assert images[label].shape == (6, 1, 28, 28) and images[label].dtype == np.uint8
    assert not np.array_equal(images[7], images[3])  # same noise seed, the label changes the images
    assert cli("sample", "--run", str(run), "--class", "10", "--npz", str(tmp_path / "x.npz")) == 2


def test_mode_seeking_pairs_share_their_class_and_reach_g(data_dir, tmp_path):
    """With --mode-seeking, G draws the batch's first-half labels twice (pairs i, i + B/2 share a
    class, so the term measures diversity within a class) and its update changes."""
    seen = []
    plain = trainer(data_dir, tmp_path, conditional=True, dropout=0.0)
    seeking = trainer(data_dir, tmp_path, conditional=True, dropout=0.0, mode_seeking=1.0)
    forward = seeking.G_train.forward
    seeking.G_train.forward = lambda z, labels: seen.append(labels) or forward(z, labels)
    plain.train_step()
    seeking.train_step()
    labels, half = seen[0], len(seen[0]) // 2
    assert torch.equal(labels[:half], labels[half:2 * half]) and len(labels.unique()) > 1
    assert not all(torch.equal(a, b) for a, b in zip(plain.G.parameters(), seeking.G.parameters()))


# ----- adaptive discriminator augmentation -----
def ada_controller(**overrides):
    from ganforge.training.ada import AdaController
    from ganforge.training.distributed import DistributedContext

    config = build_config(overrides=dict(augment="ada", batch_size=16, steps=10, **overrides))
    return AdaController(augment.AdaptiveAugment(), config, torch.device("cpu"),
                         DistributedContext.single())


def run_interval(ada, step: int, scores: list[float]) -> float:
    """Feed the scripted raw real scores to each of the interval's steps; p after the last."""
    for at in range(step - ada.interval + 1, step + 1):
        ada.observe(torch.tensor(scores))
        ada.after_step(at)
    return float(ada.p)


def test_ada_p_rises_when_d_is_overconfident_on_reals_and_falls_otherwise():
    """Batch 16 × 2 steps per interval / (1 kimg · 1000) = 0.032 per adjustment, target 0.6."""
    from ganforge.training.ada import MAX_P

    ada = ada_controller(ada_kimg=1.0, ada_interval=2, ada_target=0.6)
    assert ada.adjustment == pytest.approx(0.032)
    overconfident = [3.0, 0.2, 1.0, 0.1, 5.0, -2.0]  # signs mostly positive: (5 - 1) / 6 > 0.6
    unsure = [3.0, -0.2, 1.0, -0.1, 0.4]  # (3 - 2) / 5 = 0.2 < 0.6
    ada.observe(torch.tensor(overconfident))
    ada.after_step(1)  # mid-interval: nothing changes yet
    assert float(ada.p) == 0
    ada.after_step(2)
    assert float(ada.p) == pytest.approx(0.032) and float(ada.rt) == pytest.approx(4 / 6)
    assert run_interval(ada, 4, overconfident) == pytest.approx(0.064)
    assert run_interval(ada, 6, unsure) == pytest.approx(0.032)
    assert float(ada.rt) == pytest.approx(0.2)
    for step in range(10, 200, 2):  # clamped: never below 0 …
        run_interval(ada, step, unsure)
    assert float(ada.p) == 0
    for step in range(200, 400, 2):  # … and never 1 or more
        run_interval(ada, step, overconfident)
    assert float(ada.p) == pytest.approx(MAX_P) and MAX_P < 1


def test_ada_reads_raw_real_scores_in_the_trainer_and_logs_p_and_rt(data_dir, tmp_path,
                                                                    monkeypatch):
    """D scripted to score every real image +5 (fakes -5): p rises by one adjustment per
    interval; scored -5, it falls back. Both are logged with every training record."""
    t = trainer(data_dir, tmp_path, augment="ada", ada_interval=1, ada_kimg=0.16)
    sign = [1.0]

    def scripted(module, args, scores):
        if len(scores) == 2 * t.config.batch_size:  # D's own step: real then fake
            half = t.config.batch_size
            return torch.cat([torch.full_like(scores[:half], 5 * sign[0]),
                              torch.full_like(scores[half:], -5.0)]) + 0 * scores
        return scores

    t.D.register_forward_hook(scripted)
    for _ in range(3):
        t.train_step()
    assert float(t.ada.p) == pytest.approx(0.3) and float(t.ada.rt) == 1.0
    sign[0] = -1.0
    t.train_step()
    assert float(t.ada.p) == pytest.approx(0.2) and float(t.ada.rt) == -1.0
    stats = t.flush_stats()
    assert stats["ada_p"] == pytest.approx(0.2) and stats["ada_rt"] == -1.0
    other = trainer(data_dir, tmp_path, augment="diffaug")
    other.train_step()
    assert other.ada is None and set(other.flush_stats()) == {"loss_d", "loss_g", "d_real", "d_fake"}


def test_ada_p_and_rt_are_in_metrics_jsonl_and_the_dynamics(data_dir, tmp_path):
    from ganforge.report.dynamics import format_table, run_dynamics

    run = tmp_path / "run"
    assert train(data_dir, run, augment="ada", steps=20, ada_kimg=0.05) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all("ada_p" in r and "ada_rt" in r for r in records)
    assert all(0 <= r["ada_p"] < 1 and -1 <= r["ada_rt"] <= 1 for r in records)
    assert any(r["ada_p"] > 0 for r in records)
    result, figure = run_dynamics(run, window=8)
    assert figure.exists() and "ada_p" in result.signals
    table = format_table(result)
    assert "ADA p" in table and "ADA r_t" in table
    rt_row = next(r for r in result.rows if r["signal"] == "ada_rt")
    assert rt_row["equilibrium"] == 0.6  # r_t's reference is the run's target
