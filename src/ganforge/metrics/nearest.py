"""Memorisation check: how close generated samples come to the images the generator trained on.

Each sample's k nearest training images are found twice: in the evaluator's feature space (the
network the FID uses) and in pixel space (Euclidean distance of [0, 1] pixel values). A sample
counts as a **copy** when its nearest training image is closer than all but the closest 5 % of
held-out real images come to theirs: the threshold is the 5th percentile (`QUANTILE`) of the
held-out test images' nearest-training-image distances. Held-out real images therefore have a copy
rate of about 5 % by construction (reported next to the samples' rate as the baseline); a
generator that reproduces its training images scores far above it. The medians of the two
nearest-neighbour distances (samples vs held-out images) are reported too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.generation.images import grid_image
from ganforge.metrics.features import FeatureNet

QUANTILE = 0.05
DEFAULT_SAMPLES = 64
DEFAULT_K = 5
HELD_OUT = 2000  # held-out images behind the threshold: its 5th percentile rests on ~100 of them
GRID_ROWS = 32
SPACES = ("features", "pixels")


@dataclass
class Neighbours:
    distances: torch.Tensor  # N×k, ascending along each row
    indices: torch.Tensor  # N×k indices into the training set


@dataclass
class Memorisation:
    numbers: dict  # flat `nearest_*` keys, see copy_numbers and check_memorisation
    neighbours: dict[str, Neighbours]  # per space: the samples' nearest training images


def check_nearest_args(n: int, k: int) -> None:
    if n < 1:
        raise GanforgeError(f"--nearest must be at least 1 sample (got {n}); give e.g. "
                            f"--nearest {DEFAULT_SAMPLES}, or leave the flag out")
    if k < 1:
        raise GanforgeError(f"--nearest-k must be at least 1 neighbour (got {k}); give e.g. "
                            f"--nearest-k {DEFAULT_K}")


def embed(images: torch.Tensor, space: str, net: FeatureNet,
          device: str | torch.device) -> torch.Tensor:
    """Feature vectors of the evaluator, or [0, 1] pixel values, on `device`."""
    vectors = net(images, device)[0] if space == "features" else images.flatten(1).float() / 255
    return vectors.to(device)


def nearest_neighbours(queries: torch.Tensor, keys: torch.Tensor, k: int, chunk: int = 512,
                       key_chunk: int = 16384) -> Neighbours:
    """The k nearest keys of every query (Euclidean), chunked on both sides so that 60k training
    images never need a whole distance matrix."""
    k = min(k, len(keys))
    distances, indices = [], []
    for part in queries.split(chunk):
        best_d = best_i = None
        for start in range(0, len(keys), key_chunk):
            block = torch.cdist(part, keys[start:start + key_chunk])
            top = block.topk(min(k, block.shape[1]), dim=1, largest=False)
            top_i = top.indices + start
            if best_d is not None:
                merged_d, merged_i = torch.cat([best_d, top.values], 1), torch.cat([best_i, top_i], 1)
                order = merged_d.topk(k, dim=1, largest=False).indices
                top_d, top_i = merged_d.gather(1, order), merged_i.gather(1, order)
            else:
                top_d = top.values
            best_d, best_i = top_d, top_i
        # cdist computes large blocks via matrix products, whose rounding leaves an exact copy at
        # a small non-zero distance; the k chosen distances are recomputed exactly
        exact = (part[:, None, :] - keys[best_i]).norm(dim=2)
        exact, order = exact.sort(dim=1)
        distances.append(exact)
        indices.append(best_i.gather(1, order))
    return Neighbours(torch.cat(distances), torch.cat(indices))


def copy_numbers(sample_nn: torch.Tensor, held_out_nn: torch.Tensor,
                 quantile: float = QUANTILE) -> dict:
    """Copy rate of the samples and of the held-out images against the same threshold, and the
    median nearest-neighbour distance of each, from their distances to the nearest training
    image."""
    threshold = torch.quantile(held_out_nn.double().cpu(), quantile).item()
    copies = int((sample_nn <= threshold).sum())
    return {"copy_rate": copies / len(sample_nn),
            "copy_rate_ci95": wilson_interval(copies, len(sample_nn)),
            "copy_rate_heldout": (held_out_nn <= threshold).double().mean().item(),
            "threshold": threshold,
            "median": sample_nn.double().median().item(),
            "median_heldout": held_out_nn.double().median().item()}


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> list[float]:
    """95 % Wilson score interval of a proportion: 64 samples pin a copy rate down to about
    ±10 points, which decides whether 3 copies in 64 differ from the 5 % baseline (they do not)."""
    rate, z2 = successes / trials, z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials ** 2)) / (1 + z2 / trials)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def check_memorisation(samples: torch.Tensor, training: torch.Tensor, held_out: torch.Tensor,
                       net: FeatureNet, k: int = DEFAULT_K, device: str | torch.device = "cpu",
                       quantile: float = QUANTILE) -> Memorisation:
    """uint8 N×C×H×W `samples` against the `training` images they might copy, with `held_out`
    real images (never trained on) setting the copy threshold; see the module docstring. Keys:
    nearest_{copy_rate, copy_rate_ci95, copy_rate_heldout, threshold, median, median_heldout}
    for feature space,
    the same with nearest_pixel_ for pixel space, and what was compared."""
    if len(held_out) < 2:
        raise GanforgeError(f"the memorisation check needs held-out real images for its threshold, "
                            f"got {len(held_out)}; use a dataset with a test split")
    numbers = {"nearest_n": len(samples), "nearest_k": min(k, len(training)),
               "nearest_n_train": len(training), "nearest_n_heldout": len(held_out),
               "nearest_quantile": quantile, "nearest_features": net.name}
    neighbours = {}
    for space in SPACES:
        keys = embed(training, space, net, device)
        found = nearest_neighbours(embed(samples, space, net, device), keys, k)
        held_out_nn = nearest_neighbours(embed(held_out, space, net, device), keys,
                                         1).distances[:, 0]
        prefix = "nearest_" if space == "features" else "nearest_pixel_"
        numbers.update({prefix + key: value for key, value in
                        copy_numbers(found.distances[:, 0], held_out_nn, quantile).items()})
        neighbours[space] = Neighbours(found.distances.cpu(), found.indices.cpu())
    return Memorisation(numbers, neighbours)


def shown_rows(distances: torch.Tensor, rows: int = GRID_ROWS) -> torch.Tensor:
    """Indices of the samples a picture shows, from the closest to the farthest from the training
    set; at most `rows` of them, evenly spread over that order."""
    order = distances[:, 0].argsort()
    if len(order) <= rows:
        return order
    return order[torch.linspace(0, len(order) - 1, rows).round().long()]


def neighbour_grid(samples: torch.Tensor, training: torch.Tensor, found: Neighbours,
                   rows: int = GRID_ROWS) -> Image.Image:
    """One row per sample: the sample, then its k nearest training images, nearest first."""
    tiles = [torch.cat([samples[i:i + 1], training[found.indices[i]]])
             for i in shown_rows(found.distances, rows).tolist()]
    return grid_image(torch.cat(tiles), nrow=found.indices.shape[1] + 1)
