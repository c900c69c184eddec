"""--amp, --channels-last, --compile and the CPU dropout: each trains, and changes only speed."""

import functools
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganforge.config import build_config
from ganforge.training.trainer import FastDropout, Trainer
from tests.conftest import cli, flags, tiny_overrides


def trainer(data_dir, tmp_path, **extra) -> Trainer:
    values = tiny_overrides(data_dir, tmp_path / "run", subset=0.02, **extra)
    return Trainer(build_config(None, None, values), run=None)


def train(t: Trainer, steps: int) -> dict[str, float]:
    for _ in range(steps):
        t.train_step()
    return t.flush_stats()


@pytest.fixture
def one_thread():
    """oneDNN's bf16 convolution weight-gradient spins at thread barriers: on a loaded 2-core
    machine 2 threads take seconds per call (docs/benchmarks.md); tests use one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_bf16_autocast_trains_on_cpu(data_dir, tmp_path, one_thread, model):
    t = trainer(data_dir, tmp_path, model=model, amp="bf16")
    stats = train(t, 4)
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    with t.autocast():
        assert t.G(torch.randn(2, t.config.latent_dim)).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in t.G.parameters())  # master weights stay fp32


def test_fp16_on_cpu_is_a_one_line_error(data_dir, tmp_path, capsys):
    values = tiny_overrides(data_dir, tmp_path / "run", amp="fp16", device="cpu")
    assert cli("train", *flags(values)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fp16 needs a CUDA GPU" in err[0] and "--amp bf16" in err[0]


def test_channels_last_matches_the_default_layout(data_dir, tmp_path):
    # one trainer after the other: they share the global (dropout) random stream, which every
    # Trainer re-seeds when it is built
    plain = trainer(data_dir, tmp_path, dropout=0.3)
    a = train(plain, 5)
    nhwc = trainer(data_dir, tmp_path, dropout=0.3, channels_last=True)
    convs = [m for m in nhwc.G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last)
                         for m in convs)
    b = train(nhwc, 5)
    assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    for (name, x), y in zip(plain.G.state_dict().items(), nhwc.G.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.slow
def test_channels_last_resume_is_bit_exact(data_dir, tmp_path):
    """Checkpoints hold NCHW tensors; the resumed NHWC run (fused Adam moments included) must
    continue exactly."""
    def run(name: str, steps: int) -> list[str]:
        values = tiny_overrides(data_dir, tmp_path / name, subset=0.02, steps=steps,
                                channels_last=True)
        return flags(values)

    assert cli("train", *run("straight", 20)) == 0
    assert cli("train", *run("split", 10)) == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "20") == 0
    straight = load_file(str(tmp_path / "straight" / "checkpoints" / "last.safetensors"))
    split = load_file(str(tmp_path / "split" / "checkpoints" / "last.safetensors"))
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []


def test_channels_last_is_a_no_op_for_mlp(data_dir, tmp_path):
    t = trainer(data_dir, tmp_path, model="mlp", channels_last=True)
    assert not t.inputs_channels_last
    assert all(torch.isfinite(torch.tensor(v)) for v in train(t, 2).values())


def compile_trains_like_eager(data_dir, tmp_path):
    small = dict(model="mlp", depth=1, hidden_dim=16, dropout=0.0)
    eager = trainer(data_dir, tmp_path, **small)
    a = train(eager, 3)
    compiled = trainer(data_dir, tmp_path, compile=True, **small)
    assert compiled.G_train is not compiled.G  # compiled wrapper; checkpoints keep plain names
    b = train(compiled, 3)
    assert list(compiled.state_tensors()[0]) == list(eager.state_tensors()[0])
    assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_compile_wiring_with_the_eager_backend(data_dir, tmp_path, monkeypatch):
    """Dynamo traces G and D (plain and frozen) without inductor code generation: seconds."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    compile_trains_like_eager(data_dir, tmp_path)


@pytest.mark.skipif(not os.environ.get("GANFORGE_TEST_COMPILE"),
                    reason="a cold inductor compile takes ~60 s on 2 busy CPU cores (~3 s with a "
                           "warm cache); set GANFORGE_TEST_COMPILE=1 to run it")
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile (inductor) needs a C++ compiler on the CPU")
def test_compile_trains_like_eager(data_dir, tmp_path):
    compile_trains_like_eager(data_dir, tmp_path)


def test_fast_dropout_has_dropout_semantics():
    torch.manual_seed(0)
    layer = FastDropout(0.3)
    x = torch.ones(1_000_000, requires_grad=True)
    y = layer(x)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.002)
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # gradient = mask / (1 - p)
    layer.eval()
    assert layer(x) is x
    assert FastDropout(0.0)(x) is x


def test_cpu_trainer_uses_fast_dropout_and_fused_adam(data_dir, tmp_path):
    t = trainer(data_dir, tmp_path, device="cpu")
    dropouts = [m for m in t.D.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(type(m) is FastDropout for m in dropouts)
    assert t.opt_D.param_groups[0]["fused"] and t.opt_G.param_groups[0]["fused"]
