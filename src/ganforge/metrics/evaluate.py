"""One call from generated uint8 images to every sample-quality number, against a cached reference.

Protocol (docs/evaluation.md): the first `n` samples (default 10,000) against `n` images spread
evenly over the reference split (all of it when `n` is its size or more; resized to the samples'
size), features from the
dataset's own classifier ("domain", MNIST/Fashion-MNIST) or pytorch-fid's InceptionV3
("inception"). Every result carries that protocol, the real-vs-real floor measured under it, FID ÷
floor, and whether any reference image was also a training image. Class-based numbers
(score, modes, histogram, label accuracy) always use the domain classifier, when one exists.
"""

from __future__ import annotations

import logging
import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from ganforge.data.datasets import load_dataset, to_uint8
from ganforge.data.fingerprint import overlap_count
from ganforge.errors import GanforgeError
from ganforge.metrics import classifier, maths
from ganforge.metrics.catalog import METRICS, MetricInputs, table_order
from ganforge.metrics.features import feature_net
from ganforge.metrics.reference import load_reference

log = logging.getLogger("ganforge")

DEFAULT_N = 10_000
MIN_IMAGES = maths.PRDC_K + 2  # k-NN radii need k neighbours besides the point itself


def check_images(images: torch.Tensor, labels: torch.Tensor | None) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(
            images).__name__
        raise GanforgeError(f"evaluation needs uint8 images shaped N×C×H×W, got {got}; "
                            f"convert with ganforge.data.datasets.to_uint8")
    if len(images) < MIN_IMAGES:
        raise GanforgeError(f"evaluation needs at least {MIN_IMAGES} images, got {len(images)}; "
                            f"generate more samples")
    if labels is not None and len(labels) != len(images):
        raise GanforgeError(f"{len(labels)} labels for {len(images)} images; give one intended "
                            f"label per image")


def check_device(device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("device 'cuda' requested but no CUDA GPU is available; "
                            "use --device cpu")
    return device


def domain_probs(dataset: str, images: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    if dataset not in classifier.DOMAIN_DATASETS:
        return None
    model, _ = classifier.load_domain_classifier(dataset)
    return classifier.features_and_probs(model, images, device)[1]


def evaluate_images(images: torch.Tensor, dataset: str, data_dir: str | Path = "data",
                    ref: str = "test", features: str = "domain", n: int | None = None,
                    inception_weights: str | Path | None = None,
                    labels: torch.Tensor | None = None, cache_dir: str | Path | None = None,
                    device: str | torch.device = "cpu",
                    training_hashes: torch.Tensor | None = None, bootstrap: int = 0,
                    also: tuple[tuple[str, str], ...] = ()) -> dict:
    """FID, KID, precision/recall/density/coverage, classifier score and mode coverage of uint8
    `images` (N×C×H×W) against the real `dataset`, with the protocol that makes them comparable
    (feature network and weights, counts, reference, real-vs-real floor); a flat dict, see the
    module docstring. `training_hashes` (data.fingerprint.image_hashes of the generator's
    training images) enables the check that no reference image was trained on. `bootstrap` > 0
    adds 95 % intervals (`fid_ci95`, `kid_ci95`) from that many resamples of the samples'
    features. Each (features, ref) of `also` is scored too, its keys prefixed (`domain2_fid`,
    `train_fid`, …), so one call can report several protocols side by side."""
    check_images(images, labels)
    device = check_device(device)
    count = n or DEFAULT_N
    samples = images[:count]
    labels = None if labels is None else labels[:count]
    if len(samples) < count:
        log.warning("evaluating %d samples against up to %d reference images (n=%d); FID is "
                    "biased upwards at small sample counts", len(samples), count, count)
    extracted: dict[str, tuple] = {}  # features of the samples, once per network
    result: dict = {}
    for index, (name, split) in enumerate(((features, ref), *also)):
        if name not in extracted:
            net = feature_net(name, dataset, inception_weights)
            extracted[name] = (net, *net(samples, device))
        net, fake, probs = extracted[name]
        prefix = "" if index == 0 else protocol_prefix(name, split, features, ref)
        scores = score(fake, probs, samples, labels, net, dataset, data_dir, split, count,
                       cache_dir, device, training_hashes, bootstrap if index == 0 or
                       split == ref else 0)
        result.update({prefix + key: value for key, value in scores.items()})
    return result


def protocol_prefix(features: str, split: str, primary_features: str, primary_ref: str) -> str:
    """'domain2_' for another network, 'train_' for another reference split, or both."""
    return ((f"{features}_" if features != primary_features else "")
            + (f"{split}_" if split != primary_ref else ""))


def score(fake: torch.Tensor, probs: torch.Tensor | None, samples: torch.Tensor,
          labels: torch.Tensor | None, net, dataset: str, data_dir: str | Path, ref: str,
          count: int, cache_dir, device: torch.device, training_hashes: torch.Tensor | None,
          bootstrap: int) -> dict:
    """Every number for one protocol: the samples' features against one cached reference."""
    shape = (samples.shape[1], samples.shape[-1])
    reference = load_reference(dataset, data_dir, ref, count, net, cache_dir, device, shape)
    if probs is None:
        probs = domain_probs(dataset, samples, device)
    inputs = MetricInputs(fake, probs, labels, reference, device)
    result = {}
    for metric in METRICS.values():
        result.update(metric.compute(inputs))
    result.update({"n": len(samples), "n_ref": len(reference.features), "features": net.name,
                   "features_sha256": net.weights_hash, "ref": ref, "dataset": dataset,
                   "ref_source": reference.source, "ref_selection": reference.selection,
                   "image_shape": list(samples.shape[1:]),
                   **overlap_numbers(reference, training_hashes, ref)})
    if bootstrap:
        result.update(maths.bootstrap_intervals(fake, reference.features, reference.mu,
                                                reference.sigma, bootstrap))
    result["protocol"] = protocol_text(result)
    return result


def default_protocols(dataset: str, features: str, ref: str) -> tuple[tuple[str, str], ...]:
    """What `ganforge evaluate` reports besides the main protocol: for MNIST/Fashion-MNIST with
    domain features, the independent second evaluator and FID against the other split (the
    training split is what papers use); nothing else elsewhere."""
    if dataset not in classifier.DOMAIN_DATASETS or features != "domain":
        return ()
    other = "train" if ref == "test" else "test"
    return (("domain2", ref), (features, other))


def overlap_numbers(reference, training_hashes: torch.Tensor | None, ref: str) -> dict:
    """Whether the reference holds images the generator was trained on (None: not known). An
    overlap rewards memorisation, so it is reported with the numbers, not only logged (and
    warned about unless the reference is the training split on purpose)."""
    if training_hashes is None:
        return {"reference_overlaps_training": None}
    shared = overlap_count(reference.hashes, training_hashes)
    if shared and ref != "train":
        log.warning("%d of the %d reference images are also training images: FID rewards "
                    "memorisation here; evaluate against held-out images", shared,
                    len(reference.hashes))
    return {"reference_overlaps_training": shared > 0, "reference_overlap_count": shared}


def protocol_text(result: dict) -> str:
    """One line that makes an FID comparable: features and weights, counts, reference, floor."""
    shape = "×".join(map(str, result["image_shape"]))
    floor = ("no real-vs-real floor" if result["floor_fid"] is None else
             f"real-vs-real floor {result['floor_fid']:.4g} ({result['floor']})")
    overlap = ""
    if result["reference_overlaps_training"]:
        overlap = ("; the reference is the training split (not held out)" if result["ref"] == "train"
                   else "; REFERENCE OVERLAPS TRAINING")
    selection = result.get("ref_selection") or f"{result['ref']}[:{result['n_ref']}]"
    return (f"{result['features']} features (weights sha256 {result['features_sha256'][:12]}), "
            f"{result['n']} samples {shape} vs {result['dataset']} {selection}; {floor}{overlap}")


def fid_text(result: dict) -> str:
    """'0.303 (7.3× floor)': an FID with its distance to the floor of the same protocol."""
    fid = result.get("fid")
    if fid is None:
        return "–"
    ratio = result.get("fid_over_floor")
    return f"{fid:.4g}" + (f" ({ratio:.1f}× floor)" if ratio is not None else "")


def load_images(source: str | Path) -> torch.Tensor:
    """uint8 N×C×H×W images from a `.npz` file (array `x`: uint8, or float in [-1, 1]; N×C×H×W,
    N×H×W×C or N×H×W) or from an image folder."""
    path = Path(source).expanduser()
    if not path.exists():
        raise GanforgeError(f"'{path}' does not exist; pass a .npz file with an array 'x' or an "
                            f"image folder")
    if path.is_dir():
        return load_dataset(f"folder:{path}", ".").images
    if path.suffix.lower() != ".npz":
        raise GanforgeError(f"cannot read images from '{path}'; pass a .npz file with an array "
                            f"'x' or an image folder")
    return array_to_uint8(read_npz(path, "x"), path)


def read_npz(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            if key not in data.files:
                raise GanforgeError(f"'{path}' has no array '{key}' (it holds: "
                                    f"{', '.join(data.files) or 'nothing'}); save the images "
                                    f"as np.savez(path, {key}=images)")
            return data[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise GanforgeError(f"cannot read '{path}' as .npz ({err}); save images with "
                            f"np.savez(path, x=images)") from None


def array_to_uint8(array: np.ndarray, path: Path) -> torch.Tensor:
    """Accept the usual layouts and dtypes; refuse anything that would silently mean garbage."""
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or (array.shape[1] not in (1, 3) and array.shape[3] not in (1, 3)):
        raise GanforgeError(f"array 'x' in '{path}' has shape {array.shape}; expected N×C×H×W "
                            f"(or N×H×W×C) with 1 or 3 channels")
    if array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype == torch.uint8:
        return tensor
    if not tensor.is_floating_point():
        raise GanforgeError(f"array 'x' in '{path}' has dtype {array.dtype}; save uint8 [0, 255] "
                            f"or float [-1, 1] images")
    low, high = tensor.min().item(), tensor.max().item()
    if low < -1.01 or high > 1.01 or math.isnan(low + high):
        raise GanforgeError(f"float array 'x' in '{path}' spans [{low:.3g}, {high:.3g}]; float "
                            f"images must lie in [-1, 1] (or save uint8 [0, 255])")
    return to_uint8(tensor.float())


def format_value(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return " ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


def protocol_prefixes(result: dict) -> list[str]:
    """'' for the main protocol, then each extra one's key prefix ('domain2_', 'train_', …)."""
    return [key[: -len("protocol")] for key in result if key.endswith("protocol")]


def format_table(result: dict) -> str:
    """The main protocol's numbers as a two-column table, then one comparison row per protocol
    (FID, its 95 % interval and distance to the floor, KID, precision, recall, label accuracy)
    and each protocol in words."""
    order = table_order()
    extra = [p for p in protocol_prefixes(result) if p]
    main = {k: v for k, v in result.items()
            if k != "protocol" and not any(k.startswith(p) for p in (*extra, "nearest_"))}
    keys = [k for k in order if k in main] + [k for k in main if k not in order]
    width = max(len(k) for k in keys)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 10}"]
    lines += [f"{k:<{width}}  {format_value(main[k])}" for k in keys]
    if extra:
        lines += ["", comparison_table(result)]
    if "nearest_copy_rate" in result:
        lines += ["", memorisation_table(result)]
    lines += [""] + [f"{p.rstrip('_') or 'main'}: {result[p + 'protocol']}"
                     for p in protocol_prefixes(result)]
    return "\n".join(lines)


def memorisation_table(result: dict) -> str:
    """The copy rates and nearest-neighbour distances of the samples next to those of held-out
    real images, per space (metrics/nearest.py)."""
    head = ("space", "copy rate", "95% CI", "held-out", "median NN", "held-out median",
            "threshold")
    rows = [(space, format_value(result[prefix + "copy_rate"]),
             "–" if result.get(prefix + "copy_rate_ci95") is None else
             "{:.3f}–{:.3f}".format(*result[prefix + "copy_rate_ci95"]),
             *(format_value(result[prefix + key]) for key in (
                 "copy_rate_heldout", "median", "median_heldout", "threshold")))
        for space, prefix in ((result["nearest_features"], "nearest_"),
                              ("pixels", "nearest_pixel_"))]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    table = ["  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)) for row in
             (head, tuple("-" * w for w in widths), *rows)]
    return "\n".join([
        f"memorisation: {result['nearest_n']} samples vs {result['nearest_n_train']} training "
        f"images; a copy is closer to one than {1 - result['nearest_quantile']:.0%} of "
        f"{result['nearest_n_heldout']} held-out real images come to theirs", *table,
        f"nearest training images: {result['nearest_grid']} (features), "
        f"{result['nearest_pixel_grid']} (pixels)"])


def comparison_table(result: dict) -> str:
    head = ("protocol", "FID", "95% CI", "× floor", "KID", "precision", "recall", "label acc")
    rows = [comparison_row(result, prefix) for prefix in protocol_prefixes(result)]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    return "\n".join("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)) for row in
                     (head, tuple("-" * w for w in widths), *rows))


def comparison_row(result: dict, prefix: str) -> tuple[str, ...]:
    def value(key: str):
        return result.get(prefix + key)

    interval, ratio = value("fid_ci95"), value("fid_over_floor")
    return (prefix.rstrip("_") or "main", format_value(value("fid")),
            "–" if interval is None else f"{interval[0]:.4g}–{interval[1]:.4g}",
            "–" if ratio is None else f"{ratio:.1f}", format_value(value("kid")),
            format_value(value("precision")), format_value(value("recall")),
            format_value(value("label_accuracy")))
