"""Command-line behaviour: every preset/model trains on real data; bad input is one clear line."""

import numpy as np
import pytest

from ganforge.config import PRESETS
from tests.conftest import tiny_overrides
from tests.test_training import cli, flags, train


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("ganforge: error")]


def test_help_lists_every_config_field(capsys):
    assert cli("train", "--help") == 0
    out = capsys.readouterr().out
    for flag in ("--latent-dim", "--d-steps", "--label-smoothing", "--resume", "--preset",
                 "--no-tensorboard", "--device"):
        assert flag in out


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trains_on_real_mnist(preset, data_dir, tmp_path):
    """The preset's own architecture, batch size and learning rate, shortened to a few steps."""
    steps = {"seed001-dcgan": 10}.get(preset, 60)
    code = cli("train", "--preset", preset, "--data-dir", data_dir, "--steps", str(steps),
               "--run-dir", str(tmp_path / preset), "--no-tensorboard", "--no-progress",
               "--log-every", "10")
    assert code == 0
    assert (tmp_path / preset / "samples" / "final.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--model", "transformer"], "unknown model 'transformer'"),
    (["--lr-g", "-0.1"], "lr_g"),
    (["--batch-size", "0"], "batch_size"),
    (["--batch-size", "many"], "invalid int value"),
    (["--dataset", "folder:/no/such/folder"], "does not exist"),
    (["--dataset", "fashion-mnist", "--data-dir", "/no/such/dir"], "FashionMNIST/raw"),
    (["--config", "/no/such.yaml"], "not found"),
    (["--resume", "/no/such/run"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    code = cli("train", "--steps", "1", "--run-dir", str(tmp_path / "r"), *argv)
    errors = error_lines(capsys)
    assert code == 2 and len(errors) == 1 and message in errors[0]


def test_existing_run_is_not_overwritten(data_dir, tmp_path, capsys):
    assert train(data_dir, tmp_path / "run", steps=5) == 0
    before = (tmp_path / "run" / "checkpoints" / "last.safetensors").read_bytes()
    assert train(data_dir, tmp_path / "run", steps=5) == 2
    assert "--resume" in error_lines(capsys)[0]
    assert (tmp_path / "run" / "checkpoints" / "last.safetensors").read_bytes() == before


def test_corrupt_checkpoint_on_resume(data_dir, tmp_path, capsys):
    assert train(data_dir, tmp_path / "run", steps=5) == 0
    (tmp_path / "run" / "checkpoints" / "last.safetensors").write_bytes(b"garbage")
    assert cli("train", "--resume", str(tmp_path / "run")) == 2
    assert "corrupt" in error_lines(capsys)[0]


def test_sample_grid_npz_and_class(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli("train", *flags(tiny_overrides(data_dir, run, conditional=True, steps=5))) == 0
    assert cli("sample", "--run", str(run), "--n", "12", "--out", str(tmp_path / "g.png"),
               "--npz", str(tmp_path / "s.npz"), "--class", "7") == 0
    x = np.load(tmp_path / "s.npz")["x"]
    assert x.shape == (12, 1, 28, 28) and x.dtype == np.uint8
    assert (tmp_path / "g.png").stat().st_size > 0
    assert cli("sample", "--run", str(run), "--class", "10") == 2
    assert "--class 10 does not exist" in error_lines(capsys)[0]
    assert cli("sample", "--checkpoint", str(tmp_path / "nothing.safetensors")) == 2
