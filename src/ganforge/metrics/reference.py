"""Reference-set features and statistics, computed once and cached on disk.

Every evaluation compares samples with the same real images, so their features, FID statistics and
k-NN radii are computed once per (dataset, split, image count, feature network, weights) and kept
under `~/.cache/ganforge/reference/` (or `$GANFORGE_CACHE/reference/`). The key also holds a hash of
the reference images themselves, so a different data directory (e.g. the bundled MNIST test set
standing in for a missing download) can never be served someone else's statistics.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganforge.data.datasets import load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.features import FeatureNet
from ganforge.metrics.maths import PRDC_K, gaussian_stats, kth_neighbour_radii

log = logging.getLogger("ganforge")

SPLITS = ("test", "train")
CACHE_VERSION = 1  # bump when what is stored, or how it is computed, changes


@dataclass
class Reference:
    features: torch.Tensor  # float32 N×D
    mu: np.ndarray  # float64 D
    sigma: np.ndarray  # float64 D×D
    radii: torch.Tensor  # distance of each reference point to its PRDC_K-th neighbour
    key: str
    cached: bool  # True when read from the cache rather than computed


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else $GANFORGE_CACHE, else ~/.cache/ganforge — then `reference/` inside."""
    root = cache_dir or os.environ.get("GANFORGE_CACHE") or "~/.cache/ganforge"
    return Path(root).expanduser() / "reference"


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise GanforgeError(f"unknown reference split '{split}'; "
                            f"choose one of: {', '.join(SPLITS)}")


def reference_images(dataset: str, data_dir: str | Path, split: str, n: int) -> torch.Tensor:
    """The first `n` images of the split (all of it when smaller): a fixed, documented choice."""
    check_split(split)
    data = load_dataset(dataset, data_dir, train=split == "train", download=True)
    if len(data) < PRDC_K + 2:
        raise GanforgeError(f"the reference {dataset} ({split}) has only {len(data)} images; "
                            f"give it at least {PRDC_K + 2} (k-NN metrics need {PRDC_K} neighbours)")
    return data.images[:n]


def cache_key(dataset: str, split: str, images: torch.Tensor, net: FeatureNet) -> str:
    content = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()[:12]
    if dataset.startswith("folder:"):
        where = str(Path(dataset.split(":", 1)[1]).expanduser().resolve())
        dataset, split = "folder-" + hashlib.sha1(where.encode()).hexdigest()[:8], "all"
    return (f"{dataset}-{split}-{len(images)}-{net.name}-{net.weights_hash[:12]}-{content}"
            f"-k{PRDC_K}-v{CACHE_VERSION}")


def compute_reference(images: torch.Tensor, net: FeatureNet, key: str,
                      device: str | torch.device) -> Reference:
    features = net(images, device)[0]
    mu, sigma = gaussian_stats(features)
    radii = kth_neighbour_radii(features.to(device)).cpu()
    return Reference(features, mu, sigma, radii, key, cached=False)


def save_reference(reference: Reference, path: Path) -> None:
    """Write to a temporary name, then rename: a crash or parallel run never leaves half a file."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"features": reference.features.contiguous(), "radii": reference.radii.contiguous(),
               "mu": torch.from_numpy(reference.mu), "sigma": torch.from_numpy(reference.sigma)}
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(temporary), metadata={"key": reference.key})
    os.replace(temporary, path)


def read_reference(path: Path, key: str) -> Reference | None:
    """The cached reference, or None when absent or unreadable (it is then recomputed)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    try:
        t = load_file(str(path))
        return Reference(t["features"], t["mu"].numpy(), t["sigma"].numpy(), t["radii"], key,
                         cached=True)
    except (SafetensorError, KeyError, OSError) as err:
        log.warning("ignoring unreadable cached reference %s (%s)", path, err)
        return None


def load_reference(dataset: str, data_dir: str | Path, split: str, n: int, net: FeatureNet,
                   cache_dir: str | Path | None = None,
                   device: str | torch.device = "cpu") -> Reference:
    """Reference statistics for the first `n` images of `split`, from the cache when possible."""
    images = reference_images(dataset, data_dir, split, n)
    key = cache_key(dataset, split, images, net)
    path = cache_root(cache_dir) / f"{key}.safetensors"
    reference = read_reference(path, key)
    if reference is None:
        log.info("computing reference features for %s (%s, %d images)", dataset, split, len(images))
        reference = compute_reference(images, net, key, device)
        try:
            save_reference(reference, path)
        except OSError as err:  # a read-only home must not stop an evaluation
            log.warning("could not cache reference statistics in %s (%s)", path.parent, err)
    return reference
