"""The trainer end to end on real MNIST: exact resume, checkpoint safety, divergence, Ctrl-C."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.training import checkpoint as ckpt
from ganforge.training.trainer import Trainer
from tests.conftest import REPO, tiny_overrides


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0


def flags(values: dict) -> list[str]:
    out = []
    for key, value in values.items():
        name = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            out.append(name if value else f"--no-{key.replace('_', '-')}")
        else:
            out += [name, str(value)]
    return out


def train(data_dir, run_dir, **extra) -> int:
    return cli("train", *flags(tiny_overrides(data_dir, run_dir, subset=0.02, **extra)))


def checkpoint_tensors(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / "last.safetensors"))


def test_run_folder_outputs(data_dir, tmp_path):
    run = tmp_path / "run"
    assert train(data_dir, run, steps=40, tensorboard=True) == 0
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "losses.png",
                 "checkpoints/last.safetensors", "checkpoints/best.safetensors",
                 "samples/epoch_0001.png", "samples/final.png", "samples/progress.gif"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 8  # every 5 steps
    assert '"d_real"' in lines[0] and '"d_fake"' in lines[0]


def test_resume_is_bit_exact(data_dir, tmp_path):
    """10 steps + resume + 10 steps == 20 steps, for every tensor in the checkpoint (weights,
    EMA, Adam moments, RNG states, data order). 17 batches per epoch: resume crosses an epoch."""
    assert train(data_dir, tmp_path / "straight", steps=20) == 0
    assert train(data_dir, tmp_path / "split", steps=10) == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "20") == 0
    straight, split = checkpoint_tensors(tmp_path / "straight"), checkpoint_tensors(
        tmp_path / "split")
    assert straight.keys() == split.keys()
    different = [k for k in straight if not torch.equal(straight[k], split[k])]
    assert different == []
    assert any(k.startswith("opt_G/") for k in straight) and "rng/torch" in straight


def test_ctrl_c_saves_and_resumes_exactly(data_dir, tmp_path, monkeypatch, capsys):
    original = Trainer.train_step

    def interrupt_at_7(self):
        if self.step == 7 and not getattr(self, "resumed", False):
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", interrupt_at_7)
    assert train(data_dir, tmp_path / "a", steps=20) == 130
    assert "interrupted at step 7" in capsys.readouterr().err
    _, meta = ckpt.load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 7
    monkeypatch.setattr(Trainer, "resumed", True, raising=False)
    assert cli("train", "--resume", str(tmp_path / "a")) == 0
    assert train(data_dir, tmp_path / "b", steps=20) == 0
    a, b = checkpoint_tensors(tmp_path / "a"), checkpoint_tensors(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_keeps_last_good_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    original = Trainer.train_step

    def poison_at_12(self):
        if self.step == 12:
            for p in self.G.parameters():
                p.data.fill_(math.nan)
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", poison_at_12)
    assert train(data_dir, tmp_path / "run", steps=20) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ganforge: error")]
    assert len(errors) == 1 and re.search(r"NaN/inf at step 13\b", errors[0])
    tensors, meta = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 10 and all(torch.isfinite(v).all() for k, v in tensors.items()
                                      if k.startswith("G/"))


def test_atomic_write_keeps_old_checkpoint_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    ckpt.save_checkpoint(path, {"w": torch.ones(3)}, {"step": 1})
    before = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", crash)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(path, {"w": torch.zeros(3)}, {"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp files left


class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "code-ran"
    pickle_file = tmp_path / "evil.safetensors"
    torch.save({"G": Payload(marker)}, pickle_file)
    with pytest.raises(GanforgeError, match="corrupt or not a safetensors file"):
        ckpt.load_checkpoint(pickle_file)
    assert not marker.exists()


def test_foreign_and_corrupt_checkpoints_are_refused(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.ones(2)}, str(foreign))
    with pytest.raises(GanforgeError, match="not a ganforge checkpoint"):
        ckpt.load_checkpoint(foreign)
    good = tmp_path / "good.safetensors"
    ckpt.save_checkpoint(good, {"w": torch.ones(1000)}, {"step": 1})
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(GanforgeError, match="corrupt"):
        ckpt.load_checkpoint(corrupt)


def test_source_never_calls_torch_load_without_weights_only():
    for file in (REPO / "src" / "ganforge").rglob("*.py"):
        text = file.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{file}: {call}"
        assert "import pickle" not in text, file


def test_best_checkpoint_is_the_lowest_fid_when_evaluating(data_dir, tmp_path):
    """Checkpoints between evaluations must not compete on another quantity (e.g. loss_g)."""
    run = tmp_path / "run"
    assert train(data_dir, run, steps=20, checkpoint_every=5, eval_every=10, eval_n=50) == 0
    fids = {r["step"]: r["eval_fid"] for r in map(json.loads, (
        run / "metrics.jsonl").read_text().splitlines()) if "eval_fid" in r}
    assert sorted(fids) == [10, 20]
    _, meta = ckpt.load_checkpoint(run / "checkpoints" / "best.safetensors")
    best_step = min(fids, key=fids.get)
    assert meta["step"] == best_step and meta["best_value"] == pytest.approx(fids[best_step])
    assert json.loads((run / "summary.json").read_text())["best_value"] == pytest.approx(
        fids[best_step])
