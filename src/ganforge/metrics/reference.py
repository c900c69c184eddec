"""Reference-set features and statistics, computed once and cached on disk.

Every evaluation compares samples with the same real images, so their features, FID statistics,
k-NN radii, per-image hashes and the real-vs-real floor are computed once per (dataset, split,
image count and size, feature network, weights) and kept under `~/.cache/ganforge/reference/` (or
`$GANFORGE_CACHE/reference/`). The key also holds a hash of the reference images themselves, so a
different data directory (e.g. the bundled MNIST test set standing in for a missing download) can
never be served someone else's statistics.

A reference of n images out of a larger split takes them evenly spaced over it, not the first n:
MNIST's test set puts its cleaner half first, so its first 5,000 images would reward clean digits
(and pick "best" checkpoints) that the whole test set does not. The floor is the FID of as many
real images the reference does not hold (the first n of the other split) against the reference,
under the very same protocol: what a perfect generator would score.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganforge.data.datasets import ImageSet, load_dataset
from ganforge.data.fingerprint import content_hash, image_hashes
from ganforge.errors import GanforgeError
from ganforge.metrics.features import FeatureNet
from ganforge.metrics.maths import PRDC_K, frechet_distance, gaussian_stats, kth_neighbour_radii

log = logging.getLogger("ganforge")

SPLITS = ("test", "train")
CACHE_VERSION = 3  # bump when what is stored, or how it is computed, changes


@dataclass
class Reference:
    features: torch.Tensor  # float32 N×D
    mu: np.ndarray  # float64 D
    sigma: np.ndarray  # float64 D×D
    radii: torch.Tensor  # distance of each reference point to its PRDC_K-th neighbour
    hashes: torch.Tensor  # int64 content hash of each reference image
    floor_fid: float | None  # FID of held-out real images against this reference
    floor: str  # what the floor compares, e.g. "train[:10000] vs test[:10000]"
    source: str  # where the reference images came from
    key: str
    cached: bool  # True when read from the cache rather than computed
    selection: str = ""  # which images of the split, e.g. "test[:10000]" or "test[::2]"


def spread(count: int, n: int) -> tuple[torch.Tensor, str]:
    """(indices, a name for them) of min(n, count) images spread evenly over a split of `count`:
    the whole split in order when n >= count, else every (count / n)-th image."""
    if n >= count:
        return torch.arange(count), f"[:{count}]"
    name = f"[::{count // n}]" if count % n == 0 else f"[{n} evenly spaced of {count}]"
    return torch.arange(n) * count // n, name


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else $GANFORGE_CACHE, else ~/.cache/ganforge — then `reference/` inside."""
    from ganforge.cache import ganforge_cache_dir

    return (Path(cache_dir).expanduser() if cache_dir else ganforge_cache_dir()) / "reference"


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise GanforgeError(f"unknown reference split '{split}'; "
                            f"choose one of: {', '.join(SPLITS)}")


def split_images(dataset: str, data_dir: str | Path, split: str,
                 shape: tuple[int, int] | None = None) -> ImageSet:
    """A whole split, at the samples' (channels, side) when `shape` is given: the reference goes
    through the same resize as the training images did, so both reach the features alike."""
    channels, side = shape or (0, 0)
    return load_dataset(dataset, data_dir, train=split == "train", download=True,
                        image_size=side, channels=channels)


def cache_key(dataset: str, split: str, images: torch.Tensor, net: FeatureNet,
              content_key: str | None = None) -> str:
    """`content_key` (an image folder's cache key) already identifies the pixels: no hashing."""
    content = (content_key or content_hash(images))[:12]
    if dataset.startswith("folder:"):
        where = str(Path(dataset.split(":", 1)[1]).expanduser().resolve())
        dataset, split = "folder-" + hashlib.sha1(where.encode()).hexdigest()[:8], "all"
    side = "x".join(map(str, images.shape[1:]))
    return (f"{dataset}-{split}-{len(images)}-{side}-{net.name}-{net.weights_hash[:12]}-{content}"
            f"-k{PRDC_K}-v{CACHE_VERSION}")


def held_out_images(dataset: str, data_dir: str | Path, split: str, n: int, selection: str,
                    shape: tuple[int, int] | None) -> tuple[torch.Tensor | None, str]:
    """Real images the reference (`selection`, n images) does not hold, for the floor: the first
    n training images for a test reference (the documented floors), n test images spread over
    the test split for a training reference (its first half is the cleaner one, as a test
    reference's spread allows for). A folder has one split only, so it has no floor."""
    if dataset.startswith("folder:"):
        return None, "none (an image folder has no held-out split)"
    other = "train" if split == "test" else "test"
    images = split_images(dataset, data_dir, other, shape).images
    if other == "test":
        indices, name = spread(len(images), n)
    else:
        indices, name = torch.arange(min(n, len(images))), f"[:{min(n, len(images))}]"
    return images[indices], f"{other}{name} vs {selection}"


def compute_reference(images: torch.Tensor, net: FeatureNet, key: str,
                      device: str | torch.device, held_out: torch.Tensor | None = None,
                      floor: str = "", source: str = "") -> Reference:
    features = net(images, device)[0]
    mu, sigma = gaussian_stats(features)
    radii = kth_neighbour_radii(features.to(device)).cpu()
    floor_fid = None
    if held_out is not None and len(held_out) > 1:
        floor_fid = frechet_distance(*gaussian_stats(net(held_out, device)[0]), mu, sigma)
    return Reference(features, mu, sigma, radii, image_hashes(images), floor_fid, floor, source,
                     key, cached=False)


def save_reference(reference: Reference, path: Path) -> None:
    """Write to a temporary name, then rename: a crash or parallel run never leaves half a file."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"features": reference.features.contiguous(), "radii": reference.radii.contiguous(),
               "mu": torch.from_numpy(reference.mu), "sigma": torch.from_numpy(reference.sigma),
               "hashes": reference.hashes.contiguous()}
    metadata = {"key": reference.key, "floor": reference.floor, "source": reference.source,
                "selection": reference.selection,
                "floor_fid": "" if reference.floor_fid is None else repr(reference.floor_fid)}
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(temporary), metadata=metadata)
    os.replace(temporary, path)


def read_reference(path: Path, key: str) -> Reference | None:
    """The cached reference, or None when absent or unreadable (it is then recomputed)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        t = load_file(str(path))
        floor_fid = float(meta["floor_fid"]) if meta["floor_fid"] else None
        return Reference(t["features"], t["mu"].numpy(), t["sigma"].numpy(), t["radii"],
                         t["hashes"], floor_fid, meta["floor"], meta["source"], key, cached=True,
                         selection=meta["selection"])
    except (SafetensorError, KeyError, OSError, ValueError) as err:
        log.warning("ignoring unreadable cached reference %s (%s)", path, err)
        return None


def load_reference(dataset: str, data_dir: str | Path, split: str, n: int, net: FeatureNet,
                   cache_dir: str | Path | None = None, device: str | torch.device = "cpu",
                   shape: tuple[int, int] | None = None) -> Reference:
    """Reference statistics for `n` images of `split` spread evenly over it (all of them when n
    is its size or more; resized to `shape` = (channels, side) when given), from the cache when
    possible."""
    check_split(split)
    data = split_images(dataset, data_dir, split, shape)
    if len(data) < PRDC_K + 2:
        raise GanforgeError(f"the reference {dataset} ({split}) has only {len(data)} images; "
                            f"give it at least {PRDC_K + 2} (k-NN metrics need {PRDC_K} neighbours)")
    indices, name = spread(len(data), n)
    images, selection = data.images[indices], split + name
    key = cache_key(dataset, split, images, net, data.content_key)
    path = cache_root(cache_dir) / f"{key}.safetensors"
    reference = read_reference(path, key)
    if reference is None:
        log.info("computing reference features for %s (%s, %d images)", dataset, split, len(images))
        held_out, floor = held_out_images(dataset, data_dir, split, len(images), selection, shape)
        source = f"{data.source}, {selection}"
        reference = compute_reference(images, net, key, device, held_out, floor, source)
        reference.selection = selection
        try:
            save_reference(reference, path)
        except OSError as err:  # a read-only home must not stop an evaluation
            log.warning("could not cache reference statistics in %s (%s)", path.parent, err)
    # the same images may come from another place than when they were cached (the bundled test
    # set and a download share one entry): say where they came from this time
    reference.source = f"{data.source}, {selection}"
    return reference
