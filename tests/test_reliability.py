"""The fault list of docs/reliability.md: each fault gets a clear one-line error or a recovery, and
nothing is left half-written."""

from __future__ import annotations

import errno
import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.generation import checkpoint as ckpt
from ganforge.generation.rundir import RunDir, read_metrics
from ganforge.training.trainer import Trainer
from tests.conftest import cli, train


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("ganforge: error")]


def test_disk_full_during_a_checkpoint_write_keeps_the_previous_one(data_dir, tmp_path,
                                                                   monkeypatch, capsys):
    real_save = ckpt.save_file
    calls = []

    def full_disk_on_third_write(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 3:
            with open(filename, "wb") as half:
                half.write(b"\0" * 100)  # a partial file, as a full disk leaves it
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(ckpt, "save_file", full_disk_on_third_write)
    run = tmp_path / "run"
    assert train(data_dir, run, steps=30) == 2
    errors = error_lines(capsys)
    assert len(errors) == 1 and "No space left on device" in errors[0] and "--resume" in errors[0]
    _, meta = ckpt.load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert meta["step"] == 10  # the write at step 20 failed; step 10's checkpoint is intact
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]


def test_inf_in_the_discriminator_stops_the_run(data_dir, tmp_path, monkeypatch, capsys):
    original = Trainer.train_step

    def poison_d(self):
        if self.step == 12:
            for p in self.D.parameters():
                p.data.fill_(float("inf"))
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", poison_d)
    assert train(data_dir, tmp_path / "run", steps=20) == 2
    errors = error_lines(capsys)
    assert len(errors) == 1 and "NaN/inf at step 13" in errors[0]
    tensors, meta = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 10
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if k.startswith("D/"))


def test_run_folder_deleted_mid_run_stops_with_one_line(data_dir, tmp_path, monkeypatch, capsys):
    import shutil

    original = Trainer.train_step

    def delete_at_7(self):
        if self.step == 7:
            shutil.rmtree(tmp_path / "run")
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", delete_at_7)
    assert train(data_dir, tmp_path / "run", steps=20) == 2
    errors = error_lines(capsys)
    assert len(errors) == 1 and "disappeared during training" in errors[0]
    assert not (tmp_path / "run").exists()  # nothing was recreated


def test_a_second_training_of_the_same_folder_is_refused(data_dir, tmp_path, monkeypatch,
                                                         capsys):
    """While one run trains (held here at step 5 by an event), a second command on the same folder
    (a fresh start or a resume) gets one line and changes nothing."""
    started, release = threading.Event(), threading.Event()
    original = Trainer.train_step

    def pause_at_5(self):
        if self.step == 5 and not release.is_set():
            started.set()
            release.wait(60)
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", pause_at_5)
    codes = []
    first = threading.Thread(target=lambda: codes.append(train(data_dir, tmp_path / "run",
                                                               steps=10)))
    first.start()
    assert started.wait(60)
    metrics_before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    try:
        config = __import__("ganforge.config", fromlist=["x"]).build_config(
            None, None, {"run_dir": str(tmp_path / "run"), "steps": 3, "data_dir": data_dir})
        with pytest.raises(GanforgeError, match="is being trained by process"):
            Trainer(config, RunDir.create(tmp_path / "run"))
        assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == metrics_before
    finally:
        release.set()
        first.join()
    assert codes == [0]
    assert cli("train", "--resume", str(tmp_path / "run"), "--steps", "12") == 0  # lock released


def test_report_and_dynamics_with_damaged_metrics(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(data_dir, run, steps=20) == 0
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join(lines) + '\n{"step": 25, "loss_d": 0.6')  # killed mid-write
    assert len(read_metrics(run)) == len(lines)  # the cut-off last line is skipped
    metrics.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    capsys.readouterr()
    for command in (["dynamics", str(run)], ["report", str(run), "--out", str(tmp_path / "r")]):
        assert cli(*command) == 2
        errors = error_lines(capsys)
        assert len(errors) == 1 and "line 2 is not JSON" in errors[0]
    assert not (tmp_path / "r" / "report.html").exists()
    metrics.unlink()
    assert cli("dynamics", str(run)) == 2
    assert len(error_lines(capsys)) == 1


def test_unreadable_reference_cache_is_recomputed(data_dir, tmp_path, monkeypatch):
    from ganforge.data.datasets import load_dataset
    from ganforge.metrics.evaluate import evaluate_images

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    images = load_dataset("mnist", data_dir, train=True).images[:60]
    first = evaluate_images(images, "mnist", data_dir, n=60)
    [cached] = (tmp_path / "cache" / "reference").glob("*.safetensors")
    cached.write_bytes(b"not a safetensors file")
    again = evaluate_images(images, "mnist", data_dir, n=60)
    assert again["fid"] == pytest.approx(first["fid"])
    assert cached.read_bytes()[:8] != b"not a sa"  # rewritten whole


def test_unreadable_folder_cache_is_rebuilt(tmp_path, monkeypatch):
    from ganforge.data.datasets import load_dataset

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(np.full((12, 12), i * 30, np.uint8)).save(folder / f"{i}.png")
    first = load_dataset(f"folder:{folder}", ".").images.clone()
    [array] = (tmp_path / "cache" / "folders").glob("*[0-9a-f].npy")
    array.write_bytes(b"broken")
    assert torch.equal(load_dataset(f"folder:{folder}", ".").images, first)


def test_malformed_samples_for_evaluate_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((20, 5, 28, 28), np.uint8))
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    cases = {"bad.npz": "cannot read", "wrong.npz": "has shape", "pngs": "broken.png"}
    for name, message in cases.items():
        capsys.readouterr()
        assert cli("evaluate", str(tmp_path / name), "--dataset", "mnist", "--n", "10") == 2
        errors = error_lines(capsys)
        assert len(errors) == 1 and message in errors[0], (name, errors)


@pytest.mark.slow
def test_checkpoint_metadata_of_a_finished_run_is_complete(data_dir, tmp_path):
    """summary.json and the checkpoint agree on the step (nothing half-updated at the end)."""
    run = tmp_path / "run"
    assert train(data_dir, run, steps=12) == 0
    summary = json.loads((run / "summary.json").read_text())
    _, meta = ckpt.load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert summary["steps"] == meta["step"] == 12
    RunDir(run).lock()  # the finished run released its lock


def test_a_model_refused_at_setup_leaves_no_run_folder(data_dir, tmp_path, capsys):
    """A value only the data can refute (the default's 4x4 stride-2 convolutions take 28 px to 14,
    7 and 3, so three fit and nine do not) fails in one line, exit code 2, and leaves no empty run
    folder behind; an existing folder is kept."""
    run = tmp_path / "run"
    assert cli("train", "--data-dir", str(data_dir), "--steps", "1", "--d-layers", "9",
               "--run-dir", str(run), "--no-progress") == 2
    assert "d_layers=9: 28 px images would shrink below 2 px; use at most 3" in capsys.readouterr().err
    assert not run.exists()
    kept = tmp_path / "kept"
    (kept / "notes.txt").parent.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert cli("train", "--data-dir", str(data_dir), "--steps", "1", "--d-layers", "9",
               "--run-dir", str(kept), "--no-progress") == 2
    assert (kept / "notes.txt").read_text() == "mine"
