"""`ganforge ensemble`: the mixture of trained generators, sampled like one generator."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from ganforge.config import build_config
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate_uint8, noise
from ganforge.models import ModelSpec, build_models
from ganforge.models.mixture import MixtureGenerator
from tests.conftest import assert_one_line_error, run_cli, trained_run


def small_generator(seed: int, latent_dim: int = 8):
    torch.manual_seed(seed)
    config = build_config(None, overrides=dict(model="dcgan", width=4, latent_dim=latent_dim,
                                               conditional=True, steps=1))
    return build_models(config, ModelSpec(channels=1, image_size=28, num_classes=10))[0].eval()


@torch.no_grad()
def test_each_latent_draws_its_member_image_and_members_are_equally_likely():
    members = [small_generator(seed) for seed in (0, 1, 2)]
    mixture = MixtureGenerator(members).eval()
    z, labels = noise(3000, mixture.latent_dim, 7), torch.arange(3000) % 10
    chosen = mixture.member_of(z)
    counts = torch.bincount(chosen, minlength=3).float() / len(z)
    assert torch.all((counts - 1 / 3).abs() < 0.03), counts
    images = mixture(z, labels)
    for index, member in enumerate(members):
        rows = chosen == index
        # the member sees the latent without its first coordinate, and the same labels
        assert torch.allclose(images[rows], member(z[rows, 1:], labels[rows]), atol=1e-6)
    # a latent draws the same image alone as in a batch: the choice is the latent's own
    assert torch.allclose(mixture(z[:1], labels[:1]), images[:1], atol=1e-6)


def test_a_mixture_of_one_is_refused():
    with pytest.raises(ValueError, match="at least two"):
        MixtureGenerator([small_generator(0)])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    return [trained_run(base, f"ensemble-member-{seed}", steps=20, conditional=True, seed=seed)
            for seed in (0, 1)]


def test_the_ensemble_folder_samples_its_members(two_runs, tmp_path, capsys):
    out = tmp_path / "pair"
    code, stdout, _ = run_cli(capsys, "ensemble", *two_runs, "--out", out)
    assert code == 0 and "2 generators" in stdout
    mixture, config, meta = load_generator(out)
    members = [load_generator(run)[0] for run in two_runs]
    assert isinstance(mixture, MixtureGenerator) and meta["step"] == 40
    assert mixture.class_prior == members[0].class_prior is not None
    assert [m["source"] for m in meta["ensemble"]] == [str(run) for run in two_runs]
    z = noise(200, mixture.latent_dim, 3)
    labels = torch.arange(200) % 10
    chosen = mixture.member_of(z)
    with torch.no_grad():
        images = mixture(z, labels)
        for index, member in enumerate(members):
            rows = chosen == index
            assert torch.equal(images[rows], member(z[rows, 1:], labels[rows]))
    # the folder is taken like a run folder
    code, stdout, _ = run_cli(capsys, "sample", "--run", out, "--n", "16")
    assert code == 0 and (out / "samples" / "sample.png").is_file()
    assert generate_uint8(mixture, 8, 0).shape == (8, 1, 28, 28)


def test_one_run_is_one_line_error(two_runs, tmp_path, capsys):
    code, _, err = run_cli(capsys, "ensemble", two_runs[0], "--out", tmp_path / "one")
    assert_one_line_error(code, err, "at least two")
    assert not (tmp_path / "one").exists()


def test_members_of_different_latent_sizes_are_refused(two_runs, tmp_path, capsys):
    other = trained_run(tmp_path, "latent8", steps=10, conditional=True, latent_dim=8)
    code, _, err = run_cli(capsys, "ensemble", two_runs[0], other, "--out", tmp_path / "mixed")
    assert_one_line_error(code, err, "latent_dim 8", "same data")
    assert not (tmp_path / "mixed").exists()


def test_an_existing_ensemble_is_not_overwritten(two_runs, tmp_path, capsys):
    out = tmp_path / "pair"
    assert run_cli(capsys, "ensemble", *two_runs, "--out", out)[0] == 0
    before = (out / "checkpoints" / "last.safetensors").read_bytes()
    code, _, err = run_cli(capsys, "ensemble", two_runs[1], two_runs[0], "--out", out)
    assert_one_line_error(code, err, "already holds a checkpoint")
    assert (out / "checkpoints" / "last.safetensors").read_bytes() == before


def test_damaged_ensemble_metadata_is_one_line_error(two_runs, tmp_path, capsys):
    out = tmp_path / "pair"
    assert run_cli(capsys, "ensemble", *two_runs, "--out", out)[0] == 0
    path = out / "checkpoints" / "last.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    meta = json.loads(metadata["meta"])
    meta["ensemble"] = meta["ensemble"][:1]
    save_file(load_file(str(path)), str(path), metadata={**metadata, "meta": json.dumps(meta)})
    code, _, err = run_cli(capsys, "sample", "--run", out, "--n", "4")
    assert_one_line_error(code, err, "ensemble metadata is damaged", "ganforge ensemble")


def test_class_morphs_of_an_ensemble_are_one_line_error(two_runs, tmp_path, capsys):
    out = tmp_path / "pair"
    assert run_cli(capsys, "ensemble", *two_runs, "--out", out)[0] == 0
    code, _, err = run_cli(capsys, "interpolate", "--run", out, "--classes", "3,8")
    assert_one_line_error(code, err, "cannot morph", "member")


def test_seed_interpolation_of_an_ensemble_skips_the_class_morph(two_runs, tmp_path, capsys):
    out = tmp_path / "pair"
    assert run_cli(capsys, "ensemble", *two_runs, "--out", out)[0] == 0
    code, stdout, err = run_cli(capsys, "interpolate", "--run", out, "--from", "1", "--to", "2",
                                "--steps", "3")
    assert code == 0, err
    assert "seeds 1→2; classes 0..9" in stdout and "class 0→9" not in stdout
