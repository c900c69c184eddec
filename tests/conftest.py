"""Shared fixtures: where the real data lives, and tiny configs that train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganforge.cli import main

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("GANFORGE_DATA", REPO.parent / "shared" / "data"))
HAVE_MNIST = (DATA_DIR / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
HAVE_FASHION = (DATA_DIR / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()

needs_mnist = pytest.mark.skipif(
    not HAVE_MNIST, reason=f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
needs_fashion = pytest.mark.skipif(
    not HAVE_FASHION, reason=f"real Fashion-MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")

# Under pytest-xdist (pyproject's addopts start one worker per core) each worker keeps to one
# thread: these small models gain little from a second one, and two workers of two threads on two
# cores wait on each other's spinning OpenMP threads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"  # and the subprocesses the tests start
    torch.set_num_threads(1)
else:
    torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): one worker per core, at most 4, each importing torch and
    its own copy of the real data; PYTEST_XDIST_AUTO_NUM_WORKERS, when set, decides instead."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, cores or 1))  # sched_getaffinity is Linux-only (not macOS, Windows)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Reference statistics and decoded folders go to a cache of this session's own, so tests
    never read a stale user cache nor leave files in ~/.cache (subprocesses inherit it)."""
    previous = os.environ.get("GANFORGE_CACHE")
    os.environ["GANFORGE_CACHE"] = str(tmp_path_factory.mktemp("ganforge-cache"))
    yield
    if previous is None:
        os.environ.pop("GANFORGE_CACHE", None)
    else:
        os.environ["GANFORGE_CACHE"] = previous


@pytest.fixture
def data_dir() -> str:
    if not HAVE_MNIST:
        pytest.skip(f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
    return str(DATA_DIR)


def tiny_overrides(data_dir: str, run_dir: Path, **extra) -> dict:
    """A config that trains a real (small) model on real MNIST in well under a second per step."""
    values = dict(data_dir=data_dir, run_dir=str(run_dir), model="dcgan", width=8, hidden_dim=16,
                  depth=2, latent_dim=16, batch_size=16, steps=20, log_every=5,
                  checkpoint_every=10, grid_size=16, tensorboard=False, progress=False,
                  subset=0.1, conditional=False, mode_seeking=0.0, eval_every=0, dropout=0.3,
                  lr_decay=0.0, ema_rampup=False, ema_bn_samples=400)
    values.update(extra)
    return values


# ----- running the command line in-process -----
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


# ----- shared tiny runs (trained once per session, cached on disk under pytest's basetemp) -----
def trained_run(base: Path, name: str, **extra) -> Path:
    """A tiny real model, trained once per test session and shared by the test modules."""
    if not HAVE_MNIST:
        pytest.skip(f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
    run = base / name
    if not (run / "summary.json").exists():
        assert train(str(DATA_DIR), run, **extra) == 0
    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """200 steps of a width-8 DCGAN, FID evaluated every 100 steps, 10 log records per 100 steps."""
    return trained_run(tmp_path_factory.getbasetemp(), "tiny-run", steps=200, log_every=10,
                       checkpoint_every=100, eval_every=100, eval_n=50)


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.getbasetemp(), "tiny-conditional", steps=30,
                       conditional=True)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(*map(str, args))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("ganforge: error")]
    assert code == 2 and len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ----- a shared tiny sweep -----
GRID = "latent_dim=8,16 width=4"  # 2×1: two runs, still a 2-D grid (heat map)
RUNS = ["latent_dim=8_width=4", "latent_dim=16_width=4"]


def sweep_args(out: Path, steps: int = 10, jobs: int = 1) -> list[str]:
    values = tiny_overrides(str(DATA_DIR), Path("unused"), steps=steps, subset=0.02)
    for key in ("run_dir", "width", "latent_dim"):
        values.pop(key)
    return ["sweep", "--grid", GRID, "--out", str(out), "--jobs", str(jobs), "--eval-n", "50",
            "--device", "cpu", *flags(values)]


def trained_sweep(base: Path) -> Path:
    """A finished 2×1 sweep trained with --jobs 2, shared by this module and test_report."""
    if not HAVE_MNIST:
        pytest.skip(f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
    out = base / "tiny-sweep"
    if not (out / "sweep.csv").exists():
        assert cli(*sweep_args(out, jobs=2)) == 0
    return out


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    return trained_sweep(tmp_path_factory.getbasetemp())
