"""Projecting real images into a generator's latent space (GAN inversion by optimisation).

For each target image x we look for the latent z (and, for conditional generators, the class c)
whose image G(z, c) reconstructs x. Adam minimises, per candidate,

    pixel(G(z, c), x) + feature_weight · ‖f(G(z, c)) − f(x)‖² / ‖f(x)‖² + prior_weight · (|z|/√D − 1)²

where `pixel` is the mean squared (or absolute) difference in [-1, 1], f is the penultimate layer
of the shipped domain classifier (MNIST / Fashion-MNIST; other datasets use pixels only), and the
prior term keeps |z| near √D, the shell where standard-normal latents live, so the latent stays one
the generator was trained on. The starting points are the `restarts` best of 16 random latents
per image and class (every class of a conditional generator, or the given one), judged by the same
objective; each is then optimised, and the best of them wins. Everything is batched over images and
candidates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data.datasets import convert_channels, resize_uint8, to_float, to_uint8
from ganforge.errors import GanforgeError
from ganforge.generation.sampling import generate, noise

PIXEL_LOSSES = ("l2", "l1")
DEFAULT_STEPS = 200
DEFAULT_RESTARTS = 2
DEFAULT_LR = 0.1
DEFAULT_FEATURE_WEIGHT = 0.5
DEFAULT_PRIOR_WEIGHT = 0.05
SCREEN = 16  # random latents tried per image and class before choosing the starts
MAX_CANDIDATES = 512  # latents optimised (or screened) at once; more images go in chunks
DATASET_SPEC = re.compile(r"(train|test):(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)")


@dataclass
class Settings:
    steps: int = DEFAULT_STEPS
    restarts: int = DEFAULT_RESTARTS
    lr: float = DEFAULT_LR
    feature_weight: float = DEFAULT_FEATURE_WEIGHT
    prior_weight: float = DEFAULT_PRIOR_WEIGHT
    pixel: str = "l2"
    seed: int = 0

    def check(self) -> None:
        if self.steps < 1:
            raise GanforgeError(f"--steps must be at least 1 (got {self.steps}); a few hundred "
                                f"steps reconstruct well")
        if self.restarts < 1:
            raise GanforgeError(f"--restarts must be at least 1 (got {self.restarts})")
        if not self.lr > 0:
            raise GanforgeError(f"--lr must be > 0 (got {self.lr})")
        if self.feature_weight < 0 or self.prior_weight < 0:
            raise GanforgeError("--feature-weight and --prior-weight must be >= 0")
        if self.pixel not in PIXEL_LOSSES:
            raise GanforgeError(f"unknown pixel loss '{self.pixel}'; choose l2 or l1")


@dataclass
class Projection:
    """Projected latents of named images, with what they reconstruct."""

    names: list[str]
    z: torch.Tensor  # N×D
    labels: torch.Tensor  # N int64 class of each latent; -1 for unconditional generators
    loss: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # N, the final objective
    targets: torch.Tensor | None = None  # N×C×H×W float in [-1, 1]
    reconstructions: torch.Tensor | None = None

    def mse(self) -> torch.Tensor:
        """Per-image mean squared error with pixels scaled to [0, 1]."""
        return ((self.reconstructions - self.targets) / 2).square().mean(dim=(1, 2, 3))

    def psnr(self) -> torch.Tensor:
        """Per-image peak signal-to-noise ratio in dB (peak 1 on the [0, 1] scale)."""
        return -10 * torch.log10(self.mse().clamp_min(1e-10))

    def find(self, name: str, source: str = "") -> tuple[torch.Tensor, int | None]:
        """(latent, class or None) of an image by its name, or by a path whose file name it is."""
        for candidate in (name, Path(name).name):
            if candidate in self.names:
                index = self.names.index(candidate)
                label = int(self.labels[index])
                return self.z[index], (None if label < 0 else label)
        shown = ", ".join(self.names[:8]) + (" …" if len(self.names) > 8 else "")
        raise GanforgeError(f"no projected image '{name}' in {source or 'the projections'} "
                            f"(it holds {shown}); project it first with `ganforge project`")

    def save(self, path: str | Path, checkpoint: str = "") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, names=np.array(self.names), z=self.z.cpu().numpy(),
                 labels=self.labels.cpu().numpy(), loss=self.loss.cpu().numpy(),
                 checkpoint=np.array(checkpoint))
        return path


def load_projection(path: str | Path, latent_dim: int | None = None) -> Projection:
    """A projection saved by Projection.save (names, latents, classes)."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"projection file '{path}' does not exist; write it with "
                            f"`ganforge project --run RUN IMAGE … --out {path}`")
    try:
        with np.load(path) as data:
            names = [str(n) for n in data["names"]]
            z = torch.from_numpy(data["z"]).float()
            labels = torch.from_numpy(data["labels"]).long()
    except (OSError, ValueError, KeyError) as err:
        raise GanforgeError(f"cannot read projection file '{path}' ({err}); write it again with "
                            f"`ganforge project`") from None
    if latent_dim is not None and z.shape[1] != latent_dim:
        raise GanforgeError(f"'{path}' holds {z.shape[1]}-d latents but this generator's are "
                            f"{latent_dim}-d; project the images again with this run")
    return Projection(names, z, labels)


# ----- targets -----
def read_images(paths: list[str | Path], channels: int, size: int) -> tuple[list[str], torch.Tensor]:
    """(names, uint8 N×C×S×S) from image files, centre-cropped and resized as image folders are."""
    from ganforge.data.folders import decode_image

    names, images = [], []
    for path in map(Path, paths):
        if not path.is_file():
            raise GanforgeError(f"image '{path}' does not exist; check the path")
        images.append(torch.from_numpy(decode_image(path, size, channels).copy()))
        names.append(path.name if path.name not in names else str(path))
    return names, torch.stack(images)


def parse_dataset_spec(spec: str) -> tuple[str, list[int]]:
    """'test:0-99' → ('test', [0, …, 99]); 'train:3,7,10-12' → ('train', [3, 7, 10, 11, 12])."""
    match = DATASET_SPEC.fullmatch(spec.strip())
    if not match:
        raise GanforgeError(f"bad --from-dataset '{spec}'; write SPLIT:INDICES like test:0-99 or "
                            f"train:3,7,10-12")
    indices = []
    for part in match.group(2).split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if last < first:
            raise GanforgeError(f"bad range '{part}' in --from-dataset; write LOW-HIGH with LOW <= HIGH")
        indices.extend(range(first, last + 1))
    return match.group(1), indices


def dataset_images(config, spec: str, data_dir: str | None = None) -> tuple[list[str], torch.Tensor]:
    """(names like 'test:7', uint8 images) of the run's dataset split, at the run's size/channels."""
    from ganforge.data.datasets import load_dataset

    split, indices = parse_dataset_spec(spec)
    data = load_dataset(config.dataset, data_dir or config.data_dir, train=split == "train",
                        download=False, image_size=config.image_size, channels=config.channels)
    if max(indices) >= len(data):
        raise GanforgeError(f"index {max(indices)} is past the end of the {split} split of "
                            f"{config.dataset} ({len(data)} images); pick indices below {len(data)}")
    return [f"{split}:{i}" for i in indices], data.images[torch.tensor(indices)]


def fit_to_generator(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 images → float [-1, 1] at the generator's channels and size."""
    channels, size = shape[0], shape[-1]
    return to_float(resize_uint8(convert_channels(images, channels), size))


# ----- the objective -----
def differentiable_features(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Domain-classifier features of float [-1, 1] images, with gradients: luma, 28×28."""
    from ganforge.metrics.classifier import IMAGE_SIZE

    if images.shape[1] == 3:
        luma = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
        images = (images * luma).sum(1, keepdim=True)
    if images.shape[-1] != IMAGE_SIZE:
        images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear",
                               antialias=True, align_corners=False)
    return model.features(images.contiguous(memory_format=torch.channels_last)).float()


def feature_model(dataset: str, weight: float) -> torch.nn.Module | None:
    """The dataset's domain classifier, or None (pixels only) where none ships or weight is 0."""
    from ganforge.metrics.classifier import DOMAIN_DATASETS, load_domain_classifier

    if weight == 0 or dataset not in DOMAIN_DATASETS:
        return None
    return load_domain_classifier(dataset)[0]


class Objective:
    """Per-candidate loss against the target image of each candidate."""

    def __init__(self, targets: torch.Tensor, settings: Settings,
                 features: torch.Tensor | None = None) -> None:
        self.targets, self.settings, self.model = targets, settings, features
        self.target_features = None
        if self.model is not None:
            with torch.no_grad():
                self.target_features = differentiable_features(self.model, targets)

    def __call__(self, images: torch.Tensor, z: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        s = self.settings
        difference = images - self.targets[image]
        pixel = difference.square() if s.pixel == "l2" else difference.abs()
        loss = pixel.mean(dim=(1, 2, 3))
        if self.model is not None and s.feature_weight:
            target = self.target_features[image]
            distance = (differentiable_features(self.model, images) - target).square().sum(1)
            loss = loss + s.feature_weight * distance / target.square().sum(1).clamp_min(1e-6)
        radius = z.norm(dim=1) / math.sqrt(z.shape[1])
        return loss + s.prior_weight * (radius - 1).square()


# ----- optimisation -----
def optimise(generator, z: torch.Tensor, labels: torch.Tensor | None, image: torch.Tensor,
             objective: Objective, settings: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on the latents, learning rate decaying on a cosine: (latents, final losses)."""
    z = z.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=settings.lr)
    for step in range(settings.steps):
        optimiser.param_groups[0]["lr"] = settings.lr * 0.5 * (
            1 + math.cos(math.pi * step / settings.steps))
        loss = objective(generator(z, labels).float(), z, image)
        (z.grad,) = torch.autograd.grad(loss.sum(), [z])
        optimiser.step()
    with torch.no_grad():
        return z.detach(), objective(generator(z, labels).float(), z, image)


def keep_best(loss: torch.Tensor, image: torch.Tensor, n_images: int, per_image: int) -> torch.Tensor:
    """Indices of the `per_image` lowest-loss candidates of each image."""
    keep = []
    for index in range(n_images):
        mine = (image == index).nonzero().flatten()
        keep.append(mine[loss[mine].argsort()[:per_image]])
    return torch.cat(keep)


def candidate_classes(generator, label: int | None) -> list[int | None]:
    if label is None:
        return list(range(generator.num_classes)) if generator.num_classes else [None]
    if not generator.num_classes:
        raise GanforgeError("--class needs a conditional model (train with --conditional); an "
                            "unconditional model has no classes to choose from")
    if not 0 <= label < generator.num_classes:
        raise GanforgeError(f"--class {label} does not exist; pick 0..{generator.num_classes - 1}")
    return [label]


def project_batch(generator, targets: torch.Tensor, classes: list[int | None], settings: Settings,
                  features: torch.nn.Module | None, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(latents, classes or -1, losses) of the best candidate for each target image."""
    device = targets.device
    n = len(targets)
    objective = Objective(targets, settings, features)
    z, labels, image = screen(generator, objective, n, classes, settings, seed)
    z, loss = optimise(generator, z, labels, image, objective, settings)
    best = keep_best(loss, image, n, 1)
    chosen = labels[best] if labels is not None else torch.full((n,), -1, device=device)
    return z[best], chosen.long(), loss[best]


@torch.no_grad()
def screen(generator, objective: Objective, n: int, classes: list[int | None],
           settings: Settings, seed: int
           ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The `restarts` best of SCREEN random latents per class and image, by the objective, as
    starting points: (latents, their classes or None, the image of each)."""
    device = objective.targets.device
    image = torch.arange(n, device=device).repeat_interleave(SCREEN * len(classes))
    z = noise(len(image), generator.latent_dim, seed, device)
    labels = None
    if classes[0] is not None:
        labels = torch.tensor(classes, device=device).repeat_interleave(SCREEN).repeat(n)
    losses = []
    for part in torch.arange(len(z), device=device).split(MAX_CANDIDATES):
        part_labels = None if labels is None else labels[part]
        losses.append(objective(generator(z[part], part_labels).float(), z[part], image[part]))
    keep = keep_best(torch.cat(losses), image, n, settings.restarts)
    return z[keep], None if labels is None else labels[keep], image[keep]


def project(generator, images: torch.Tensor, names: list[str] | None = None, *, dataset: str = "",
            label: int | None = None, settings: Settings | None = None) -> Projection:
    """Project uint8 (or float [-1, 1]) images N×C×H×W into the generator's latent space.

    `dataset` names the domain classifier whose features join the loss (mnist, fashion-mnist);
    `label` fixes the class of a conditional generator (default: the best of every class)."""
    settings = settings or Settings()
    settings.check()
    classes = candidate_classes(generator, label)
    if len(images) == 0:
        raise GanforgeError("no images to project; give image files or --from-dataset test:0-9")
    names = names or [str(i) for i in range(len(images))]
    device = next(generator.parameters()).device
    shape = output_shape(generator)
    targets = images if images.is_floating_point() else fit_to_generator(images, shape)
    targets = targets.float().to(device)
    if targets.shape[1:] != shape:
        raise GanforgeError(f"images of shape {tuple(targets.shape[1:])} do not fit the "
                            f"generator's {shape}; pass uint8 images to have them converted")
    features = feature_model(dataset, settings.feature_weight)
    if features is not None:
        features = features.to(device)
    chunk = max(1, MAX_CANDIDATES // settings.restarts)
    parts = []
    was_training = generator.training
    generator.eval()
    try:
        for start in range(0, len(targets), chunk):
            parts.append(project_batch(generator, targets[start:start + chunk], classes,
                                       settings, features, settings.seed + start))
    finally:
        generator.train(was_training)
    z, labels, loss = (torch.cat(p) for p in zip(*parts))
    projection = Projection(list(names), z.cpu(), labels.cpu(), loss.cpu(), targets.cpu())
    projection.reconstructions = reconstruct(generator, projection).cpu()
    return projection


def output_shape(generator) -> tuple[int, int, int]:
    """C×H×W of the generator's images."""
    device = next(generator.parameters()).device
    labels = torch.zeros(1, dtype=torch.long, device=device) if generator.num_classes else None
    return tuple(generate(generator, noise(1, generator.latent_dim, 0, device), labels).shape[1:])


def reconstruct(generator, projection: Projection) -> torch.Tensor:
    device = next(generator.parameters()).device
    labels = projection.labels.to(device) if generator.num_classes else None
    return generate(generator, projection.z.to(device), labels)


def same_class_share(projection: Projection, dataset: str,
                     true_labels: torch.Tensor | None = None) -> float | None:
    """Share of images whose reconstruction the domain classifier assigns to the target's class:
    `true_labels`, else the classifier's reading of the target (None where no classifier exists)."""
    from ganforge.metrics.classifier import (
        DOMAIN_DATASETS,
        features_and_probs,
        load_domain_classifier,
    )

    if dataset not in DOMAIN_DATASETS:
        return None
    model, _ = load_domain_classifier(dataset)
    target = true_labels
    if target is None:
        target = features_and_probs(model, to_uint8(projection.targets), "cpu")[1].argmax(1)
    recon = features_and_probs(model, to_uint8(projection.reconstructions), "cpu")[1].argmax(1)
    return (target == recon).float().mean().item()


def save_figure(projection: Projection, out: str | Path, per_row: int = 10) -> Path:
    """Pairs of rows: targets above their reconstructions, `per_row` images a row."""
    from ganforge.generation.images import save_grid

    rows, per_row = [], min(per_row, len(projection.names))
    for start in range(0, len(projection.names), per_row):
        for images in (projection.targets, projection.reconstructions):
            row = images[start:start + per_row]
            blank = torch.ones(per_row - len(row), *row.shape[1:])
            rows.append(torch.cat([row, blank]))
    return save_grid(torch.cat(rows), Path(out), nrow=per_row)


# ----- from a run folder, and real images named in other commands -----
def load_targets(config, spec: dict, image_paths: list[str], from_dataset: str | None = None,
                 data_dir: str | None = None) -> tuple[list[str], torch.Tensor]:
    """(names, uint8 images) at the channels and size of the run (its checkpoint's model spec):
    image files, then dataset images."""
    channels, size = spec["channels"], spec["image_size"]
    names, images = [], []
    if image_paths:
        file_names, files = read_images(image_paths, channels, size)
        names, images = file_names, [files]
    if from_dataset:
        data_names, data = dataset_images(config, from_dataset, data_dir)
        names, images = names + data_names, images + [fit_uint8(data, channels, size)]
    if not names:
        raise GanforgeError("no images to project; give image files (PNG/JPEG) or "
                            "--from-dataset test:0-9")
    return names, torch.cat(images)


def fit_uint8(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    return resize_uint8(convert_channels(images, channels), size)


def project_source(source: str | Path, image_paths: list[str] = (), from_dataset: str | None = None,
                   *, label: int | None = None, which: str = "auto", ema: bool = True,
                   device: str = "cpu", data_dir: str | None = None,
                   settings: Settings | None = None) -> tuple[Projection, dict]:
    """Project image files and/or dataset images into the generator of a run folder or
    checkpoint: (the projection, the checkpoint's metadata)."""
    from ganforge.device import resolve_device
    from ganforge.generation.restore import load_generator

    (settings or Settings()).check()
    generator, config, meta = load_generator(source, which, ema, resolve_device(device))
    candidate_classes(generator, label)  # refuse a bad --class before reading any image
    names, images = load_targets(config, meta["spec"], list(image_paths), from_dataset, data_dir)
    projection = project(generator, images, names, dataset=config.image_dataset_name,
                         label=label, settings=settings)
    return projection, meta


REAL_PREFIX = "real:"
DATASET_ITEM = re.compile(r"(train|test):\d+")


class RealImages:
    """Latents of the real images that commands name as `real:NAME`: looked up in a saved
    projection file (`latents`), else projected on the fly — NAME is an image file, or SPLIT:INDEX
    (e.g. test:7) of the run's dataset. Each image is projected once per command."""

    def __init__(self, generator, config, spec: dict, latents: str | None = None,
                 data_dir: str | None = None, settings: Settings | None = None) -> None:
        self.generator, self.config, self.spec = generator, config, spec
        self.saved = load_projection(latents, generator.latent_dim) if latents else None
        self.source = latents or ""
        self.data_dir, self.settings = data_dir, settings or Settings()
        self.cache: dict[str, tuple[torch.Tensor, int | None]] = {}
        self.notes: list[str] = []

    def __call__(self, name: str) -> torch.Tensor:
        return self.get(name)[0]

    def label(self, name: str) -> int | None:
        return self.get(name)[1]

    def get(self, name: str) -> tuple[torch.Tensor, int | None]:
        name = name.removeprefix(REAL_PREFIX)
        if not name:
            raise GanforgeError("'real:' names no image; write real:FILE.png or real:test:7")
        if name not in self.cache:
            self.cache[name] = self.lookup(name) if self.saved else self.project(name)
        return self.cache[name]

    def lookup(self, name: str) -> tuple[torch.Tensor, int | None]:
        z, label = self.saved.find(name, self.source)
        self.notes.append(f"real:{name}: latent from {self.source}")
        return z, label

    def project(self, name: str) -> tuple[torch.Tensor, int | None]:
        from_file = not DATASET_ITEM.fullmatch(name) or Path(name).exists()
        if from_file and not Path(name).exists() and re.search(r"[-+*\[]", name[1:]):
            raise GanforgeError(f"image '{name}' does not exist; if it is more than a file name, "
                                f"leave a space after the real: term, as in real:a.png - [3]")
        names, images = load_targets(self.config, self.spec, [name] if from_file else [],
                                     None if from_file else name, self.data_dir)
        projection = project(self.generator, images, names,
                             dataset=self.config.image_dataset_name, settings=self.settings)
        label = int(projection.labels[0])
        self.notes.append(f"real:{name}: projected in {self.settings.steps} steps, MSE "
                          f"{projection.mse()[0]:.4f}, PSNR {projection.psnr()[0]:.1f} dB"
                          + (f", class {label}" if label >= 0 else ""))
        return projection.z[0], (None if label < 0 else label)
