"""The trainer end to end on real MNIST: exact resume, checkpoint safety, divergence, Ctrl-C."""

import json
import math
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ganforge.errors import GanforgeError
from ganforge.generation import checkpoint as ckpt
from ganforge.training.trainer import Trainer
from tests.conftest import REPO, checkpoint_tensors, cli, tiny_overrides, train


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


def test_conditional_samples_draw_classes_in_training_set_proportions(data_dir, tmp_path,
                                                                       monkeypatch):
    """The checkpoint keeps the training set's class shares; evaluation samples in them (not
    balanced: MNIST's classes are not), says so in every protocol line, and falls back to
    balanced, said as well, for a checkpoint without them."""
    from ganforge import evaluation
    from ganforge.data.training_set import load_training_set
    from ganforge.evaluation import evaluate_generator
    from ganforge.generation.restore import load_generator

    run = tmp_path / "run"
    assert train(data_dir, run, steps=5, conditional=True) == 0
    generator, config, meta = load_generator(run)
    labels = load_training_set(config).labels
    shares = torch.bincount(labels, minlength=10).double() / len(labels)
    assert meta["class_prior"] == pytest.approx(shares.tolist(), abs=1e-6)
    assert generator.class_prior == meta["class_prior"]
    result = evaluate_generator(generator, config, n=200, extra_protocols=True)
    assert result["sample_classes"] == "classes in training-set proportions"
    assert all(result[k].endswith("training-set proportions") for k in result
               if k.endswith("protocol"))
    # a checkpoint written before the shares were kept: read from the run's training set, if it
    # loads here, else balanced
    generator.class_prior = None
    evaluate_generator(generator, config, n=200)
    assert generator.class_prior == meta["class_prior"]
    generator.class_prior = None

    def unloadable(config):
        raise GanforgeError("MNIST not found")

    monkeypatch.setattr(evaluation, "load_training_set", unloadable)
    assert "balanced" in evaluate_generator(generator, config, n=200)["protocol"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_ada_resume_is_bit_exact(data_dir, tmp_path):
    """--augment ada: p, r_t and the half-finished interval's sums (step 10 is inside an interval
    of 3 steps) are saved and restored, so 10 + 10 steps equal 20, and p has moved."""
    ada = dict(augment="ada", ada_interval=3, ada_kimg=0.2)
    assert train(data_dir, tmp_path / "straight", steps=20, **ada) == 0
    assert train(data_dir, tmp_path / "split", steps=10, **ada) == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "20") == 0
    straight, split = checkpoint_tensors(tmp_path / "straight"), checkpoint_tensors(
        tmp_path / "split")
    assert straight.keys() == split.keys()
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []
    assert {"ada/p", "ada/rt", "ada/sign_sum", "ada/count"} <= straight.keys()
    assert 0 < float(straight["ada/p"]) < 1
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text()
               .splitlines()]
    straight_records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl")
                        .read_text().splitlines()]
    assert [(r["ada_p"], r["ada_rt"]) for r in records] == [
        (r["ada_p"], r["ada_rt"]) for r in straight_records]


@pytest.mark.slow
def test_lecam_resume_is_bit_exact(data_dir, tmp_path):
    """--lecam: the score averages are saved and restored, so 10 + 10 steps equal 20."""
    assert train(data_dir, tmp_path / "straight", steps=20, lecam=0.3) == 0
    assert train(data_dir, tmp_path / "split", steps=10, lecam=0.3) == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "20") == 0
    straight, split = checkpoint_tensors(tmp_path / "straight"), checkpoint_tensors(
        tmp_path / "split")
    assert straight.keys() == split.keys()
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []
    assert float(straight["lecam/ema_real"]) != 0 and float(straight["lecam/ema_fake"]) != 0


SIGNAL_POINTS = {  # where inside a step the signal lands: (method, before or after it runs)
    "before D": ("discriminator_step", "before"),
    "after D's update, before G's": ("discriminator_step", "after"),
    "after G's update, before EMA": ("generator_step", "after"),
    "after EMA": ("update_ema", "after"),
}


def send_signal_inside_step(monkeypatch, at_step: int, point: str, number=signal.SIGINT, times=1):
    method, when = SIGNAL_POINTS[point]
    original = getattr(Trainer, method)
    sent = []

    def wrapped(self, *args, **kwargs):
        deliver = self.step == at_step and not sent and not getattr(self, "resumed", False)
        if deliver and when == "before":
            sent.append([os.kill(os.getpid(), number) for _ in range(times)])
        result = original(self, *args, **kwargs)
        if deliver and when == "after":
            sent.append([os.kill(os.getpid(), number) for _ in range(times)])
        return result

    monkeypatch.setattr(Trainer, method, wrapped)


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(SIGNAL_POINTS))
def test_ctrl_c_anywhere_in_a_step_saves_the_whole_step_and_resumes_exactly(
        point, data_dir, tmp_path, monkeypatch, capsys):
    send_signal_inside_step(monkeypatch, 7, point)
    assert train(data_dir, tmp_path / "a", steps=20) == 130
    err = capsys.readouterr().err
    assert "SIGINT received: saved step 8" in err
    assert f"continue with: ganforge train --resume {tmp_path / 'a'}" in err
    _, meta = ckpt.load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 8
    monkeypatch.setattr(Trainer, "resumed", True, raising=False)
    assert cli("train", "--resume", str(tmp_path / "a")) == 0
    assert train(data_dir, tmp_path / "b", steps=20) == 0
    a, b = checkpoint_tensors(tmp_path / "a"), checkpoint_tensors(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigterm_from_another_thread_stops_at_a_boundary(data_dir, tmp_path, monkeypatch):
    """A signal at an arbitrary moment (a timer thread): the saved step is still a whole step."""
    import threading

    original = Trainer.train_step

    def slow_step(self):
        if self.step == 3 and not getattr(self, "resumed", False):
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", slow_step)
    assert train(data_dir, tmp_path / "a", steps=200) == 130
    _, meta = ckpt.load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    stopped = meta["step"]
    assert 3 < stopped < 200
    monkeypatch.setattr(Trainer, "resumed", True, raising=False)
    assert cli("train", "--resume", str(tmp_path / "a"), "--steps", str(stopped + 5)) == 0
    assert train(data_dir, tmp_path / "b", steps=stopped + 5) == 0
    a, b = checkpoint_tensors(tmp_path / "a"), checkpoint_tensors(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_ctrl_c_aborts_without_saving_the_half_step(data_dir, tmp_path, monkeypatch,
                                                             capsys):
    send_signal_inside_step(monkeypatch, 13, "after D's update, before G's", times=2)
    assert train(data_dir, tmp_path / "a", steps=20) == 130
    assert "aborted during step 14, nothing saved for it" in capsys.readouterr().err
    _, meta = ckpt.load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 10  # the last regular checkpoint, untouched


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
    with pytest.raises(GanforgeError, match="disk full.*previous one is kept"):
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
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_value"] == pytest.approx(fids[best_step])
    evals = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if "eval_fid" in r]
    for record in evals:  # every logged FID says what it is
        assert record["eval_fid_over_floor"] == pytest.approx(record["eval_fid"]
                                                              / record["eval_floor_fid"])
        assert "domain-mnist features" in record["eval_protocol"] and record["eval_n"] == 50
        # the best checkpoint is chosen against the training split: the test set is evaluate's
        assert "vs mnist train[" in record["eval_protocol"], record["eval_protocol"]
        assert "the reference is the training split" in record["eval_protocol"]
    assert summary["best_eval"]["fid"] == pytest.approx(fids[best_step])
    assert "real-vs-real floor" in summary["best_eval"]["protocol"]


def test_eval_ref_test_measures_the_fid_during_training_against_the_test_split(data_dir,
                                                                                tmp_path):
    run = tmp_path / "run"
    assert train(data_dir, run, steps=10, eval_every=10, eval_n=50, eval_ref="test") == 0
    record = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
              if "eval_fid" in r][-1]
    assert "vs mnist test[" in record["eval_protocol"], record["eval_protocol"]


def test_best_holds_the_lowest_scripted_fid_and_sample_says_its_step(data_dir, tmp_path,
                                                                      monkeypatch, capsys):
    """FIDs scripted to fall then rise: `best` must be the lowest (step 20), not the latest."""
    scripted = iter([5.0, 3.0, 4.0, 6.0])
    original = Trainer.evaluate

    def scripted_evaluate(self):
        return {**original(self), "fid": next(scripted)}

    monkeypatch.setattr(Trainer, "evaluate", scripted_evaluate)
    run = tmp_path / "run"
    assert train(data_dir, run, steps=40, checkpoint_every=10, eval_every=10, eval_n=20) == 0
    _, best = ckpt.load_checkpoint(run / "checkpoints" / "best.safetensors")
    _, last = ckpt.load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert (best["step"], best["best_value"], last["step"]) == (20, 3.0, 40)
    capsys.readouterr()
    assert cli("sample", "--run", str(run), "--n", "8", "--out", str(tmp_path / "g.png")) == 0
    assert "best.safetensors, step 20" in capsys.readouterr().out


@pytest.mark.slow
def test_default_preset_resumes_exactly_from_the_saved_step(data_dir, tmp_path, monkeypatch):
    """The default recipe (conditional, mode seeking, EMA ramp-up, learning-rate decay, evaluation
    during training), with augmentation on: stopped by Ctrl-C after step 6 and resumed, it equals
    12 straight steps, and the resumed process runs only steps 7-12. (Resuming with a different
    --steps would change the decay schedule, so exactness is checked for the same run length.)"""
    common = ["--preset", "default", "--data-dir", data_dir, "--width", "8", "--batch-size", "16",
              "--subset", "0.05", "--eval-every", "3", "--eval-n", "40", "--augment", "basic",
              "--checkpoint-every", "3", "--log-every", "3", "--no-progress", "--no-tensorboard",
              "--steps", "12"]
    assert cli("train", *common, "--run-dir", str(tmp_path / "straight")) == 0
    send_signal_inside_step(monkeypatch, 5, "after D's update, before G's")
    assert cli("train", *common, "--run-dir", str(tmp_path / "split")) == 130
    executed = []
    original = Trainer.train_step

    def counting_step(self):
        executed.append(self.step)
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", counting_step)
    monkeypatch.setattr(Trainer, "resumed", True, raising=False)
    assert cli("train", "--resume", str(tmp_path / "split")) == 0
    assert executed == list(range(6, 12))
    straight, split = checkpoint_tensors(tmp_path / "straight"), checkpoint_tensors(
        tmp_path / "split")
    assert straight.keys() == split.keys()
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []
    evals = [r for r in map(json.loads, (tmp_path / "split" / "metrics.jsonl").read_text()
                            .splitlines()) if "eval_fid" in r]
    assert [r["step"] for r in evals] == [3, 6, 9, 12]  # none lost, none logged twice


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    """A process killed while writing: the old file is still there, whole and loadable."""
    import subprocess
    import sys
    import time

    path = tmp_path / "last.safetensors"
    ckpt.save_checkpoint(path, {"w": torch.zeros(4)}, {"config": {}, "spec": {}, "step": 1})
    writer = (f"import torch, sys; sys.path.insert(0, {str(REPO / 'src')!r})\n"
              "from ganforge.generation import checkpoint as c\n"
              "from pathlib import Path\n"
              "big = {f'w{i}': torch.ones(2_000_000) for i in range(16)}\n"
              "print('ready', flush=True)\n"
              "while True:\n"
              f"    c.save_checkpoint(Path({str(path)!r}), big, "
              "{'config': {}, 'spec': {}, 'step': 2})\n")
    for delay in (0.05, 0.2, 0.4):
        process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        process.kill()
        process.wait()
        tensors, meta = ckpt.load_checkpoint(path)
        assert meta["step"] in (1, 2)
        assert len(tensors) == (1 if meta["step"] == 1 else 16)


# ---------------------------------------------------------------- run length and schedules
def tiny_trainer(data_dir, tmp_path, **extra) -> Trainer:
    from ganforge.config import build_config
    from ganforge.generation.rundir import RunDir

    config = build_config(None, None, tiny_overrides(data_dir, tmp_path / "run", **extra))
    return Trainer(config, RunDir.create(tmp_path / "run"))


def test_minutes_budget_stops_cleanly_and_saves(data_dir, tmp_path):
    """--minutes alone (no step cap): the clock ends the run at a log boundary, which becomes the
    final step: checkpoint, samples and summary as for any finished run."""
    trainer = tiny_trainer(data_dir, tmp_path, steps=0, minutes=0.02, log_every=2)
    summary = trainer.train()
    assert summary.steps >= 2 and summary.steps % 2 == 0
    assert 1.2 <= summary.wall_time_s < 1.2 + 5
    _, meta = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert meta["step"] == summary.steps
    assert (tmp_path / "run" / "samples" / "final.png").exists()


@pytest.mark.slow
def test_a_step_cap_still_holds_under_a_time_budget(data_dir, tmp_path):
    summary = tiny_trainer(data_dir, tmp_path, steps=6, minutes=10).train()
    assert summary.steps == 6


def test_lr_decay_reaches_zero_over_the_final_fraction(data_dir, tmp_path):
    trainer = tiny_trainer(data_dir, tmp_path, steps=20, lr_decay=0.5, lr_g=1e-3, lr_d=2e-3)
    seen = []
    original = trainer.generator_step

    def record_lr(*args):
        seen.append((trainer.step, trainer.opt_G.param_groups[0]["lr"],
                     trainer.opt_D.param_groups[0]["lr"]))
        return original(*args)

    trainer.generator_step = record_lr
    trainer.train()
    lr_at = {step: (g, d) for step, g, d in seen}
    assert lr_at[5] == (1e-3, 2e-3)  # before the last half: untouched
    assert lr_at[15][0] == pytest.approx(1e-3 * (1 - 14 / 20) / 0.5)  # set after step 14
    assert trainer.opt_G.param_groups[0]["lr"] == pytest.approx(1e-3 * (1 - 19 / 20) / 0.5)
    assert trainer.opt_D.param_groups[0]["lr"] == pytest.approx(2e-3 * (1 - 19 / 20) / 0.5)


def test_ema_rampup_follows_the_online_weights_early(data_dir, tmp_path):
    """With the ramp-up the first EMA update keeps 1/10 of the initial weights, not 0.999."""
    distances = {}
    for rampup in (False, True):
        trainer = tiny_trainer(data_dir, tmp_path / str(rampup), steps=1, ema_rampup=rampup)
        initial = [p.detach().clone() for p in trainer.G_ema.parameters()]
        trainer.train_step()
        for p0, ema, online in zip(initial, trainer.G_ema.parameters(), trainer.G.parameters()):
            expected = p0 + (1 - (0.1 if rampup else 0.999)) * (online.detach() - p0)
            torch.testing.assert_close(ema.detach(), expected)
        distances[rampup] = sum((e - o).abs().sum().item() for e, o in zip(
            trainer.G_ema.parameters(), trainer.G.parameters()))
    assert distances[True] < distances[False] / 5


def small_generator(model: str = "dcgan"):
    from ganforge.config import build_config
    from ganforge.models import ModelSpec, build_models

    config = build_config(None, None, dict(model=model, width=8, latent_dim=16, conditional=True,
                                           dropout=0.3, steps=1))
    generator, _ = build_models(config, ModelSpec(1, 28, 10))
    generator.class_prior = [0.05] * 5 + [0.15] * 5
    return generator


def test_recompute_batchnorm_uses_the_generators_own_samples():
    """One batch: the running mean and (unbiased) variance of that batch exactly; four batches of
    a quarter: their cumulative average, i.e. the same mean. No global random number is drawn,
    and every layer's mode and momentum come back."""
    from ganforge.generation.sampling import recompute_batchnorm

    generator = small_generator().eval()
    first = next(m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm1d))
    seen = []
    hook = first.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    rng = torch.get_rng_state()
    assert recompute_batchnorm(generator, 200, seed=5, batch_size=200)
    hook.remove()
    torch.testing.assert_close(first.running_mean, seen[0].mean(0))
    torch.testing.assert_close(first.running_var, seen[0].var(0))
    assert torch.equal(torch.get_rng_state(), rng)
    assert first.momentum == 0.1 and not any(m.training for m in generator.modules())
    one_batch = first.running_mean.clone()
    recompute_batchnorm(generator, 200, seed=5, batch_size=50)
    torch.testing.assert_close(first.running_mean, one_batch)
    recompute_batchnorm(generator, 200, seed=6, batch_size=200)
    assert not torch.allclose(first.running_mean, one_batch)
    assert recompute_batchnorm(small_generator("upconv"), 200, seed=5) is False  # instance norm


@pytest.mark.parametrize("samples", [400, 0])
def test_checkpoints_keep_the_ema_generators_own_batchnorm_statistics(data_dir, tmp_path,
                                                                      samples):
    """--ema-bn-samples N: G_ema's saved statistics are those of N of its own samples; 0: the
    online G's, copied at the last step."""
    from ganforge.generation.sampling import recompute_batchnorm

    trainer = tiny_trainer(data_dir, tmp_path, steps=10, ema_bn_samples=samples)
    trainer.train()
    tensors = checkpoint_tensors(tmp_path / "run")
    names = [f"G_ema/{name}" for name, _ in trainer.G_ema.named_buffers() if "running" in name]
    assert names
    expected = trainer.G_ema
    recompute_batchnorm(expected, 400, trainer.config.seed + 3)
    for name in names:
        own = torch.equal(tensors[name], expected.get_buffer(name[len("G_ema/"):]))
        copied = torch.equal(tensors[name], tensors["G/" + name[len("G_ema/"):]])
        assert (own, copied) == ((True, False) if samples else (False, True)), name


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="--amp fp16 needs a CUDA GPU")
def test_fp16_default_preset_resumes_exactly_on_a_gpu(data_dir, tmp_path):
    """GradScaler state included: 6 + 6 steps equal 12 under --amp fp16."""
    common = ["--preset", "default", "--data-dir", data_dir, "--device", "cuda", "--amp", "fp16",
              "--width", "8", "--subset", "0.05", "--eval-every", "0", "--checkpoint-every", "3",
              "--log-every", "3", "--no-progress", "--no-tensorboard",
              "--lr-decay", "0"]  # extending --steps would change the decay schedule
    assert cli("train", *common, "--steps", "12", "--run-dir", str(tmp_path / "straight")) == 0
    assert cli("train", *common, "--steps", "6", "--run-dir", str(tmp_path / "split")) == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "12") == 0
    straight, split = checkpoint_tensors(tmp_path / "straight"), checkpoint_tensors(
        tmp_path / "split")
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []
