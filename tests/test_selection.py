"""`--select-by-d`: samples kept by the run's own discriminator (generation/selection.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge import api
from ganforge.errors import GanforgeError
from ganforge.generation.sampling import generate_uint8, prior_labels
from ganforge.generation.selection import Selection, pick, select_uint8
from ganforge.models.base import Generator
from tests.conftest import assert_one_line_error, run_cli


class Brightness(Generator):
    """A 'generator' whose 4×4 images are grey at tanh(z_0), except pixel (0, 1), which shows the
    class (c / 4): brightness tells samples apart, and the class can be read back."""

    def __init__(self, num_classes: int = 0) -> None:
        super().__init__(latent_dim=4, num_classes=num_classes)
        self.device_marker = torch.nn.Parameter(torch.zeros(()))  # sampling reads the device here
        if num_classes:
            with torch.no_grad():
                self.label_embedding.weight.zero_()
                self.label_embedding.weight[:, 0] = torch.arange(num_classes) / 4

    def synthesize(self, inputs: torch.Tensor) -> torch.Tensor:
        images = inputs[:, :1].tanh().view(-1, 1, 1, 1).repeat(1, 1, 4, 4)
        if self.num_classes:
            images[:, 0, 0, 1] = inputs[:, self.latent_dim]
        return images


class Likes(torch.nn.Module):
    """A 'discriminator' whose logit is 8 × one pixel: (0, 0) brightness, (0, 1) the class."""

    def __init__(self, pixel: tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        self.pixel = pixel

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return images[:, 0, self.pixel[0], self.pixel[1]] * 8


def class_of(images: torch.Tensor) -> torch.Tensor:
    """The class Brightness drew into pixel (0, 1) (uint8 of c / 4 in [-1, 1])."""
    return ((images[:, 0, 0, 1].float() / 255 * 2 - 1) * 4).round().long()


def test_large_weight_keeps_the_highest_logits_and_zero_weight_is_uniform():
    logits = torch.arange(100.0)
    top = pick(logits, 50.0, 10, torch.Generator().manual_seed(0))
    assert sorted(top.tolist()) == list(range(90, 100))
    counts = torch.zeros(100)
    g = torch.Generator().manual_seed(1)
    for _ in range(400):
        counts[pick(logits, 0.0, 10, g)] += 1
    assert counts.min() > 15 and counts.max() < 70  # 40 expected for every index


def test_selection_prefers_what_d_likes_and_keeps_every_class_count():
    generator = Brightness(num_classes=3)
    labels = prior_labels(300, [0.5, 0.3, 0.2])
    plain = generate_uint8(generator, 300, seed=0, labels=labels)
    assert torch.equal(class_of(plain), labels)
    brighter = select_uint8(generator, Likes(), 300, 0, labels, Selection(1.0, pool=4))
    assert brighter.shape == plain.shape and brighter.dtype == torch.uint8
    assert brighter[:, 0, 0, 0].float().mean() > plain[:, 0, 0, 0].float().mean() + 20
    assert torch.equal(class_of(brighter), labels)  # image i is of the class asked for
    # a D that prefers class 2 still gets each class exactly as often as asked
    partial = select_uint8(generator, Likes((0, 1)), 300, 0, labels, Selection(10.0, pool=4))
    assert torch.equal(class_of(partial), labels)


def test_pool_of_one_keeps_the_plain_samples():
    generator = Brightness()
    plain = generate_uint8(generator, 64, seed=3)
    kept = select_uint8(generator, Likes(), 64, 3, None, Selection(5.0, pool=1))
    assert sorted(kept[:, 0, 0, 0].tolist()) == sorted(plain[:, 0, 0, 0].tolist())


def test_selection_is_deterministic_under_its_seed():
    generator = Brightness()
    first = select_uint8(generator, Likes(), 100, 7, None, Selection(0.5))
    assert torch.equal(first, select_uint8(generator, Likes(), 100, 7, None, Selection(0.5)))
    assert not torch.equal(first, select_uint8(generator, Likes(), 100, 8, None,
                                               Selection(0.5)))


@pytest.mark.parametrize("beta, pool, fragment", [
    (-1.0, 3, "--select-by-d -1.0"), (float("nan"), 3, "weight >= 0"), (0.5, 0, "--select-pool 0")])
def test_bad_values_are_refused(beta, pool, fragment):
    with pytest.raises(GanforgeError, match=fragment.replace("-", r"\-").replace(".", r"\.")):
        Selection(beta, pool)


def test_a_conditional_runs_selected_samples_keep_the_training_class_shares(conditional_run):
    images, meta = api.sample(conditional_run, 300, seed=0, select_by_d=0.5)
    plain, _ = api.sample(conditional_run, 300, seed=0)
    assert images.shape == plain.shape and not torch.equal(images, plain)
    again, _ = api.sample(conditional_run, 300, seed=0, select_by_d=0.5)
    assert torch.equal(images, again)


def test_evaluate_says_the_samples_were_selected(conditional_run, capsys):
    code, out, _ = run_cli(capsys, "evaluate", conditional_run, "--n", "200", "--main-only",
                           "--bootstrap", "0", "--select-by-d", "0.5", "--device", "cpu")
    assert code == 0
    protocol = [line for line in out.splitlines() if line.startswith("main:")][0]
    assert "selected by the run's discriminator (weights exp(0.5 * logit), 6 candidates" in protocol


def test_sources_without_a_discriminator_are_one_line(conditional_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", "--pretrained", "mnist", "--select-by-d", "0.5",
                           "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "holds no discriminator", "run folder")
    npz = tmp_path / "samples.npz"
    np.savez(npz, x=np.zeros((10, 1, 28, 28), dtype=np.uint8))
    code, _, err = run_cli(capsys, "evaluate", npz, "--dataset", "mnist", "--select-by-d", "0.5")
    assert_one_line_error(code, err, "--select-by-d", "finished images")
    code, _, err = run_cli(capsys, "sample", "--run", conditional_run, "--select-by-d", "-2")
    assert_one_line_error(code, err, "--select-by-d -2.0", "weight >= 0")
    assert not (tmp_path / "x.png").exists()
