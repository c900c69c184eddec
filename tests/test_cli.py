"""Command-line behaviour: every preset/model trains on real data; bad input is one clear line."""

import re

import numpy as np
import pytest
import torch

from ganforge.config import PRESETS
from ganforge.errors import GanforgeError
from tests.conftest import REPO, cli, flags, tiny_overrides, train


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("ganforge: error")]


def test_help_lists_every_config_field(capsys):
    assert cli("train", "--help") == 0
    out = capsys.readouterr().out
    for flag in ("--latent-dim", "--d-steps", "--label-smoothing", "--resume", "--preset",
                 "--no-tensorboard", "--device"):
        assert flag in out


@pytest.mark.slow
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
    (["--augment", "ada", "--ada-target", "1.5"], "ada_target=1.5; it must be in (0, 1)"),
    (["--ada-target", "0"], "ada_target=0.0; it must be in (0, 1)"),
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


@pytest.mark.parametrize("other_data", [("--subset", "0.2"), ("--seed", "1")],
                         ids=["other count", "same count, other images"])
def test_resume_refuses_other_training_images(data_dir, tmp_path, capsys, other_data):
    """A resume that loads other images (here another subset) must stop before any step, not train
    a different run under the old name or fail mid-step; the checkpoint stays as it was."""
    assert train(data_dir, tmp_path / "run", steps=5) == 0
    last = tmp_path / "run" / "checkpoints" / "last.safetensors"
    before = last.read_bytes()
    assert cli("train", "--resume", str(tmp_path / "run"), "--steps", "10", *other_data) == 2
    line = error_lines(capsys)[0]
    assert re.search(r"cannot resume: the run was trained on (\d+) images .* but (\d+) other images", line)
    assert "--data-dir" in line
    assert last.read_bytes() == before


def test_resume_of_a_checkpoint_without_data_identity_still_checks_the_count(data_dir, tmp_path,
                                                                              capsys):
    """Checkpoints written before the training set's identity was saved: the saved data order's
    length must still match, so another set fails in one line instead of an IndexError mid-step."""
    from ganforge.generation import checkpoint as ckpt

    assert train(data_dir, tmp_path / "run", steps=5) == 0
    last = tmp_path / "run" / "checkpoints" / "last.safetensors"
    tensors, meta = ckpt.load_checkpoint(last)
    del meta["data"]
    ckpt.save_checkpoint(last, tensors, meta)
    assert cli("train", "--resume", str(tmp_path / "run"), "--steps", "10", "--subset", "0.2") == 2
    assert "cannot resume" in error_lines(capsys)[0]
    assert cli("train", "--resume", str(tmp_path / "run"), "--steps", "10") == 0


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


# ---------------------------------------------------------------- first commands (issue 11)
def one_error_line(capsys) -> str:
    """The whole of stderr must be exactly one line: the error."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def ganforge_process(*args: str, cwd=None) -> tuple[int, list[str]]:
    """Run the real command in a fresh process (its logging set up as a user sees it): exit code
    and the lines of stderr."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)
    return done.returncode, done.stderr.strip().splitlines()


def test_flags_layer_on_the_default_preset(tmp_path):
    """`--model X` used to drop the default preset (steps and epochs 0 → a refused run)."""
    from ganforge.config import build_config

    config = build_config(None, None, {"model": "resnet", "image_size": 64},
                          default_preset="default")
    assert config.model == "resnet" and config.steps == PRESETS["default"]["steps"]
    assert config.conditional is True and config.width == PRESETS["default"]["width"]


def test_preset_key_inside_a_config_file_is_used(tmp_path):
    from ganforge.config import build_config

    file = tmp_path / "my.yaml"
    file.write_text("preset: seed000-mlp\nlr_d: 0.0004\n")
    config = build_config(None, str(file), {}, default_preset="default")
    assert config.model == "mlp" and config.hidden_dim == 100 and config.lr_d == 4e-4
    explicit = build_config("seed001-dcgan", str(file), {}, default_preset="default")
    assert explicit.batch_size == 256  # --preset wins over the file's preset


def write_foreign_checkpoint(run, tmp_path, drop_meta=None, drop_prefix=None):
    """A copy of the run's last checkpoint without one metadata key or one group of tensors."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    source = run / "checkpoints" / "last.safetensors"
    with safe_open(str(source), framework="pt") as f:
        metadata = f.metadata()
    meta = json.loads(metadata["meta"])
    meta.pop(drop_meta, None)
    tensors = {k: v for k, v in load_file(str(source)).items()
               if not (drop_prefix and k.startswith(drop_prefix))}
    out = tmp_path / f"broken-{(drop_meta or drop_prefix).replace('/', '-')}.safetensors"
    save_file(tensors, str(out), metadata={**metadata, "meta": json.dumps(meta)})
    return out


@pytest.mark.slow
def test_first_command_errors_are_one_line_exit_2(data_dir, tmp_path):
    """Each in a fresh process, so any log line before the error would be seen too."""
    run = tmp_path / "run"
    assert train(data_dir, run, steps=5) == 0
    np.savez(tmp_path / "s.npz", x=np.zeros((20, 1, 28, 28), np.uint8))
    cases = [
        (["sample", "--run", str(run), "--device", "tpu"], "unknown device 'tpu'"),
        (["sample", "--checkpoint", str(write_foreign_checkpoint(run, tmp_path, drop_meta="spec"))],
         "lacks 'spec'"),
        (["train", "--resume", str(write_foreign_checkpoint(run, tmp_path,
                                                            drop_prefix="rng/noise"))],
         "lacks 'rng/noise'"),
        (["sample", "--no-ema", "--checkpoint",
          str(write_foreign_checkpoint(run, tmp_path, drop_prefix="G/"))], "holds no 'G' weights"),
        (["evaluate", str(tmp_path / "s.npz")], "give --dataset"),
        (["evaluate", str(tmp_path / "s.npz"), "--dataset", "mnist", "--device", "tpu"],
         "unknown device"),
    ]
    for argv, message in cases:
        code, err = ganforge_process(*argv, cwd=tmp_path)
        assert code == 2 and len(err) == 1 and message in err[0], (argv, err)


def test_default_preset_on_a_dataset_without_domain_evaluator_stops_before_training(
        tmp_path, capsys, monkeypatch):
    """cifar10/folder with --eval-every used to crash at the first evaluation; now the feature
    network is settled before step 1: Inception where its weights are, else one clear line."""
    from PIL import Image

    from ganforge.metrics import inception

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "download_weights", lambda target: (_ for _ in ()).throw(
        GanforgeError(inception.missing_weights_message("offline"))))
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((20, 20, 3), i * 10, np.uint8)).save(folder / f"{i}.png")
    assert cli("train", "--dataset", f"folder:{folder}", "--run-dir", str(tmp_path / "r")) == 2
    message = one_error_line(capsys)
    every = PRESETS["default"]["eval_every"]
    assert f"--eval-every {every} evaluates with Inception features" in message
    assert "--eval-every 0" in message
    assert not (tmp_path / "r" / "checkpoints").exists()
    assert cli("train", "--dataset", f"folder:{folder}", "--run-dir", str(tmp_path / "r2"),
               "--eval-every", "0", "--steps", "2", "--batch-size", "4", "--image-size", "32",
               "--no-progress",
               "--no-tensorboard") == 0


@pytest.mark.parametrize("command, flag", [("train", "--features"), ("evaluate", "--features"),
                                           ("sweep", "--eval-features")])
def test_every_feature_network_is_offered_by_every_command(command, flag, capsys):
    """Choices come from the FEATURES registry, so a new evaluator (domain2) is offered everywhere."""
    from ganforge.metrics.features import FEATURES
    assert cli(command, "--help") == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert f"{flag} {{{','.join(FEATURES.names())}}}" in usage
