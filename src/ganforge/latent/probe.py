"""Attribute directions from labelled *real* images: any generator, any image folder.

A label file names real images in a folder: CelebA's list_attr_celeba.txt (`000001.jpg -1 1 …`)
or a CSV (`file,boot` with rows `sneaker_0001.png,-1`). Real images have no latents, so the
direction cannot be a mean of latents as for seed-labelled files. Instead:

1. A linear probe (L2-regularised logistic regression, both classes weighted equally) learns the
   attribute from features of the labelled images, read at the generator's channels and size: the
   penultimate layer of the shipped domain classifier for MNIST / Fashion-MNIST (`domain`), else
   the pixels, averaged down to at most 32×32 (`pixels`). Its accuracy is measured by 5-fold
   cross-validation before it is fitted on all the images.
2. The probe scores `samples` generated images; the direction is the mean latent of the top
   `quantile` minus that of the bottom `quantile` (attribute_direction, as for `thick`).

Projecting each labelled image into the latent space (project.py) would give latents to average,
but costs hundreds of generator passes per image, and a conditional model puts the class in its
embedding rather than in z. The probe needs one feature pass per real image and `samples`
generator passes in all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.data.datasets import to_uint8
from ganforge.errors import GanforgeError
from ganforge.latent.directions import (
    DEFAULT_QUANTILE,
    DEFAULT_SAMPLES,
    attribute_column,
    attribute_direction,
    read_attribute_file,
)

FEATURES = ("auto", "domain", "pixels")
PIXEL_SIDE = 32  # pixel features: images averaged down to at most this side
DEFAULT_MAX_PER_LABEL = 500
FOLDS = 5
WEIGHT_DECAY = 1e-2


# ----- the label file and its images -----
def image_path(folder: Path, name: str) -> Path | None:
    """The file a row names: FOLDER/NAME, else FOLDER/basename(NAME)."""
    for candidate in (folder / name, folder / Path(name).name):
        if candidate.is_file():
            return candidate
    return None


def names_real_images(path: str | Path, images_dir: str | Path | None) -> bool:
    """Whether a label file labels real images: some of its rows name files in `images_dir`.
    Without --images the rows are seeds of generated images (direction_from_attribute_file)."""
    if images_dir is None:
        return False
    folder = Path(images_dir).expanduser()
    if not folder.is_dir():
        raise GanforgeError(f"--images '{images_dir}' is not a folder; give the folder that holds "
                            f"the images the label file names")
    _, rows, _ = read_attribute_file(path)
    return any(image_path(folder, row) for row in rows)


def labelled_images(path: str | Path, attribute: str, images_dir: str | Path,
                    max_per_label: int = DEFAULT_MAX_PER_LABEL
                    ) -> tuple[list[Path], torch.Tensor, list[str]]:
    """(image files, booleans: has the attribute, notes) for one column of a label file whose rows
    name files in `images_dir`: at most `max_per_label` with and without, in file order."""
    if max_per_label < 2:
        raise GanforgeError(f"--max-per-label must be at least 2 (got {max_per_label})")
    folder = Path(images_dir).expanduser()
    if not folder.is_dir():
        raise GanforgeError(f"--images '{images_dir}' is not a folder; give the folder that holds "
                            f"the images the label file names")
    names, rows, values = read_attribute_file(path)
    column = attribute_column(path, names, attribute)
    found = [(image_path(folder, row), value > 0) for row, value in zip(rows, values[:, column])]
    found = [(file, bool(label)) for file, label in found if file is not None]
    if not found:
        raise GanforgeError(f"none of the {len(rows)} rows of '{path}' (first: {rows[0]}) names "
                            f"a file in '{folder}'; pass the image folder as --images DIR")
    notes = []
    if len(found) < len(rows):
        notes.append(f"{len(rows) - len(found)} of the {len(rows)} rows of {path} name no file in "
                     f"{folder}; they are left out")
    with_it = [file for file, label in found if label][:max_per_label]
    without = [file for file, label in found if not label][:max_per_label]
    if not with_it or not without:
        value = "with (> 0)" if with_it else "without (<= 0)"
        raise GanforgeError(f"column '{attribute}' of '{path}' labels all {len(found)} images "
                            f"found {value} it, so it has no direction; label some images 1 and "
                            f"some -1")
    labels = torch.tensor([True] * len(with_it) + [False] * len(without))
    return with_it + without, labels, notes


# ----- features -----
def feature_extractor(kind: str, dataset: str) -> tuple[str, Callable[[torch.Tensor], torch.Tensor]]:
    """(name, uint8 N×C×H×W → float N×D) for `auto`, `domain` or `pixels`."""
    from ganforge.metrics.classifier import DOMAIN_DATASETS

    if kind not in FEATURES:
        raise GanforgeError(f"unknown --probe-features '{kind}'; choose {', '.join(FEATURES)}")
    if kind == "auto":
        kind = "domain" if dataset in DOMAIN_DATASETS else "pixels"
    if kind == "domain":
        if dataset not in DOMAIN_DATASETS:
            raise GanforgeError(f"--probe-features domain needs the domain classifier, which exists "
                                f"only for {' and '.join(DOMAIN_DATASETS)} (this model: {dataset}); "
                                f"use pixels")
        from ganforge.metrics import classifier

        model, _ = classifier.load_domain_classifier(dataset)
        return "domain", lambda images: classifier.features_and_probs(model, images, "cpu")[0]
    return "pixels", pixel_features


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 images averaged down to at most PIXEL_SIDE×PIXEL_SIDE, flattened, in [0, 1]."""
    x = images.float() / 255
    if x.shape[-1] > PIXEL_SIDE:
        x = F.adaptive_avg_pool2d(x, PIXEL_SIDE)
    return x.flatten(1)


# ----- the probe -----
def fit_logistic(features: torch.Tensor, labels: torch.Tensor,
                 weight_decay: float = WEIGHT_DECAY) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight D, bias) of an L2-regularised logistic regression on standardised features, the
    two classes weighted equally (L-BFGS, full batch)."""
    y = labels.float()
    share = y.mean().clamp(1e-6, 1 - 1e-6)
    sample_weight = torch.where(labels, 0.5 / share, 0.5 / (1 - share))
    weight = torch.zeros(features.shape[1], requires_grad=True)
    bias = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        logits = features @ weight + bias
        loss = (F.binary_cross_entropy_with_logits(logits, y, reduction="none")
                * sample_weight).mean() + weight_decay / 2 * weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return weight.detach(), bias.detach()


@dataclass
class Probe:
    """A linear attribute probe on image features; calling it gives logits (higher = more)."""

    attribute: str
    features: str
    extract: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    mean: torch.Tensor = field(repr=False)
    std: torch.Tensor = field(repr=False)
    weight: torch.Tensor = field(repr=False)
    bias: torch.Tensor = field(repr=False)
    n_with: int = 0
    n_without: int = 0
    accuracy: float = float("nan")  # balanced, cross-validated

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        uint8 = images if images.dtype == torch.uint8 else to_uint8(images)
        x = (self.extract(uint8.cpu()) - self.mean) / self.std
        return x @ self.weight + self.bias

    def probability(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(images))

    def describe(self) -> str:
        return (f"probe '{self.attribute}' on {self.features} features of "
                f"{self.n_with + self.n_without} real images ({self.n_with} with, "
                f"{self.n_without} without): {FOLDS}-fold held-out balanced accuracy "
                f"{100 * self.accuracy:.1f} %")


def standardise(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return features.mean(0), features.std(0).clamp_min(1e-6)


def cross_validated_accuracy(features: torch.Tensor, labels: torch.Tensor,
                             folds: int = FOLDS, seed: int = 0) -> float:
    """Balanced accuracy (mean of the two classes' recalls) of probes fitted on the other folds."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    predicted = torch.zeros(len(labels), dtype=torch.bool)
    for held in order.chunk(folds):
        train = torch.ones(len(labels), dtype=torch.bool)
        train[held] = False
        if labels[train].all() or not labels[train].any():
            continue
        mean, std = standardise(features[train])
        weight, bias = fit_logistic((features[train] - mean) / std, labels[train])
        predicted[held] = ((features[held] - mean) / std) @ weight + bias > 0
    recalls = [(predicted[labels == value] == value).float().mean() for value in (True, False)]
    return float(sum(recalls) / 2)


def train_probe(images: torch.Tensor, labels: torch.Tensor, attribute: str = "attribute",
                features: str = "auto", dataset: str = "") -> Probe:
    """Fit a probe on uint8 images N×C×H×W with boolean labels (True = has the attribute)."""
    labels = torch.as_tensor(labels).bool()
    if labels.all() or not labels.any():
        raise GanforgeError(f"every image is labelled the same for '{attribute}', so no probe can "
                            f"tell them apart; label some images with and some without it")
    name, extract = feature_extractor(features, dataset)
    x = extract(images).float()
    accuracy = cross_validated_accuracy(x, labels) if min(labels.sum(), (~labels).sum()) >= FOLDS \
        else float("nan")
    mean, std = standardise(x)
    weight, bias = fit_logistic((x - mean) / std, labels)
    return Probe(attribute, name, extract, mean, std, weight, bias, int(labels.sum()),
                 int((~labels).sum()), accuracy)


def probe_from_label_file(generator, path: str | Path, attribute: str, images_dir: str | Path,
                          *, dataset: str = "", features: str = "auto",
                          max_per_label: int = DEFAULT_MAX_PER_LABEL) -> tuple[Probe, list[str]]:
    """(probe, notes) for one column of a label file naming real images in `images_dir`, the
    images read at the generator's channels and size as image folders are."""
    from ganforge.latent.project import output_shape, read_images

    files, labels, notes = labelled_images(path, attribute, images_dir, max_per_label)
    channels, _, size = output_shape(generator)
    _, images = read_images(files, channels, size)
    probe = train_probe(images, labels, attribute, features, dataset)
    return probe, notes + [probe.describe()]


def direction_from_labelled_images(generator, path: str | Path, attribute: str,
                                   images_dir: str | Path, *, dataset: str = "",
                                   features: str = "auto",
                                   max_per_label: int = DEFAULT_MAX_PER_LABEL,
                                   n: int = DEFAULT_SAMPLES, quantile: float = DEFAULT_QUANTILE,
                                   seed: int = 0, label: int | None = None
                                   ) -> tuple[torch.Tensor, Probe, list[str]]:
    """(unit direction, probe, notes): the probe of `attribute` trained on the labelled real
    images, then the mean latent of the `quantile` of `n` samples it scores highest minus that of
    the `quantile` it scores lowest (conditional generators: all drawn as class `label`)."""
    probe, notes = probe_from_label_file(generator, path, attribute, images_dir, dataset=dataset,
                                         features=features, max_per_label=max_per_label)
    direction = attribute_direction(generator, attribute, dataset, n=n, quantile=quantile,
                                    seed=seed, label=label, scorer=probe)
    return direction, probe, notes
