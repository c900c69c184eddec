"""Shared fixtures: where the real data lives, and tiny configs that train in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("GANFORGE_DATA", REPO.parent / "shared" / "data"))
HAVE_MNIST = (DATA_DIR / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
HAVE_FASHION = (DATA_DIR / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()

needs_mnist = pytest.mark.skipif(
    not HAVE_MNIST, reason=f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
needs_fashion = pytest.mark.skipif(
    not HAVE_FASHION, reason=f"real Fashion-MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")

torch.set_num_threads(min(2, torch.get_num_threads()))


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
                  lr_decay=0.0, ema_rampup=False)
    values.update(extra)
    return values
