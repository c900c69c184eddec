"""Glue between generators/run folders and the metrics package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Config, parse_classes
from ganforge.data.datasets import ImageSet, load_dataset, select
from ganforge.data.fingerprint import image_hashes
from ganforge.data.training_set import class_shares, load_training_set
from ganforge.device import resolve_device
from ganforge.errors import GanforgeError
from ganforge.generation.levels import levels_text
from ganforge.generation.restore import PRETRAINED_PREFIX
from ganforge.generation.sampling import generate_uint8, sample_labels, sample_labels_text
from ganforge.generation.selection import Selection, select_uint8
from ganforge.metrics.evaluate import default_protocols, evaluate_images, load_images
from ganforge.metrics.features import FEATURES, feature_net
from ganforge.metrics.nearest import (
    DEFAULT_K,
    HELD_OUT,
    check_memorisation,
    check_nearest_args,
    neighbour_grid,
)

log = logging.getLogger("ganforge")


def loadable_training_set(config: Config) -> ImageSet | None:
    """The run's training images, or None (with a warning) when they cannot be loaded here; then
    the overlap check reports "unknown" instead of guessing, and an old checkpoint's classes are
    drawn balanced."""
    try:
        return load_training_set(config)
    except GanforgeError as err:
        log.warning("cannot load the run's training images to check them against the reference "
                    "or read their class shares (%s)", err)
        return None


def lacks_class_prior(generator: torch.nn.Module) -> bool:
    return bool(generator.num_classes) and getattr(generator, "class_prior", None) is None


def check_memorisation_dataset(dataset: str) -> None:
    """Before any work: the copy threshold needs real images the generator never saw."""
    if dataset.startswith("folder:"):
        raise GanforgeError(f"--nearest needs a held-out test split to set its copy threshold and "
                            f"the image folder {dataset} has none; check runs trained on mnist, "
                            f"fashion-mnist or cifar10")


def held_out_images(dataset: str, data_dir: str | Path, classes: list[int],
                    shape: tuple[int, ...]) -> torch.Tensor:
    """HELD_OUT test images (seeded pick, in order) of the training classes, at the training
    images' channels and size."""
    test = load_dataset(dataset, data_dir, train=False, image_size=shape[-1], channels=shape[0])
    test = select(test, classes, 1.0, 0)
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:HELD_OUT]
    return test.images[pick.sort().values]


def memorisation(samples: torch.Tensor, training: ImageSet, classes: list[int],
                 data_dir: str | Path, features: str, inception_weights: str | None, k: int,
                 device: torch.device | str, folder: Path) -> dict[str, Any]:
    """The nearest_* numbers of metrics.nearest for `samples` against `training`, with the
    feature network of the FID; the two neighbour pictures are written into `folder`."""
    net = feature_net(features, training.name, inception_weights)
    held_out = held_out_images(training.name, data_dir, classes, training.shape)
    check = check_memorisation(samples, training.images, held_out, net, k, device)
    folder.mkdir(parents=True, exist_ok=True)
    pictures = {}
    for space, key, name in (("features", "nearest_grid", "nearest.png"),
                             ("pixels", "nearest_pixel_grid", "nearest_pixels.png")):
        neighbour_grid(samples, training.images, check.neighbours[space]).save(folder / name)
        pictures[key] = str((folder / name).resolve())
    log.info("wrote %s and %s", pictures["nearest_grid"], pictures["nearest_pixel_grid"])
    return {**check.numbers, "nearest_train_source": training.source, **pictures}


def resolve_eval_features(config: Config) -> Config:
    """Settle the feature network of --eval-every before training starts, so evaluation can never
    fail mid-run: `domain` where no domain evaluator exists becomes `inception` (said in one
    line), and `inception` needs its checksummed weights now, not at the first evaluation."""
    import dataclasses

    from ganforge.metrics import inception
    from ganforge.metrics.classifier import DOMAIN_DATASETS

    FEATURES.get(config.features)  # an unknown name: one line listing the registered ones
    if not config.eval_every:
        return config
    switch = (config.features in ("domain", "domain2")
              and config.image_dataset_name not in DOMAIN_DATASETS)
    features = "inception" if switch else config.features
    if features == "inception":
        try:
            path = inception.find_weights(config.inception_weights or None)
            inception.checked_weights_hash(str(path))
        except GanforgeError as err:
            raise GanforgeError(f"--eval-every {config.eval_every} evaluates with Inception "
                                f"features here, but {err}; or train with --eval-every 0") from None
    if switch:
        log.warning("no domain evaluator for %s: evaluating with Inception features "
                    "(--features inception)", config.dataset)
    return dataclasses.replace(config, features=features)


def evaluate_generator(generator: torch.nn.Module, config: Config, n: int,
                       device: torch.device | str = "cpu", seed: int = 12345,
                       ref: str = "test", features: str | None = None,
                       inception_weights: str | None = None,
                       train_hashes: torch.Tensor | None = None, bootstrap: int = 0,
                       extra_protocols: bool = False, nearest: int = 0, nearest_k: int = DEFAULT_K,
                       nearest_dir: Path | None = None, selection: Selection | None = None,
                       discriminator: torch.nn.Module | None = None) -> dict[str, Any]:
    """Sample `n` images (conditional models: classes as `sampling.sample_labels` draws them, said
    in the protocol lines) and score them. The training
    images' hashes are computed from `config` unless given (the trainer keeps them).
    `extra_protocols` adds metrics.evaluate.default_protocols (second evaluator, other split).
    `nearest` > 0 adds the memorisation check of that many samples against the run's own training
    images (nearest_* keys; its pictures go to `nearest_dir`, default the run folder).
    `selection` keeps the samples `discriminator` prefers (generation/selection.py), said in the
    protocol lines."""
    training = load_training_set(config) if nearest else None  # a failure stops before sampling
    known = training
    if known is None and (train_hashes is None or lacks_class_prior(generator)):
        known = loadable_training_set(config)
    if known is not None and lacks_class_prior(generator):  # a checkpoint from before they were kept
        generator.class_prior = class_shares(known.labels, generator.num_classes)
    if train_hashes is None and known is not None:
        train_hashes = image_hashes(known.images)
    count = max(n, nearest)  # more samples only when needed: the first n stay those of seed
    labels = sample_labels(generator, count)
    images = (generate_uint8(generator, count, seed, labels=labels) if selection is None
              else select_uint8(generator, discriminator, count, seed, labels, selection))
    features = features or config.features
    inception_weights = inception_weights or config.inception_weights or None
    also = default_protocols(config.dataset, features, ref) if extra_protocols else ()
    result = evaluate_images(images, dataset=config.dataset, data_dir=config.data_dir, ref=ref,
                             features=features, n=n, inception_weights=inception_weights,
                             labels=labels, device=device, training_hashes=train_hashes,
                             bootstrap=bootstrap, also=also)
    drawn = sample_labels_text(generator)
    if drawn:
        result["sample_classes"] = drawn
    levels = levels_text(generator)
    if levels:
        result["output_levels"] = levels
    if selection is not None:
        result["selection"] = selection.text()
    for note in filter(None, (drawn, levels, selection and selection.text())):
        for key in [k for k in result if k.endswith("protocol")]:
            result[key] += f"; {note}"
    if training is not None:
        result.update(memorisation(images[:nearest], training, parse_classes(config.classes),
                                   config.data_dir, features, inception_weights, nearest_k, device,
                                   nearest_dir or Path(config.run_dir or ".")))
    return result


def is_generator_source(path: Path) -> bool:
    return ((path.is_dir() and (path / "checkpoints").is_dir()) or path.suffix == ".safetensors"
            or str(path).startswith(PRETRAINED_PREFIX))


def run_folder(path: Path) -> Path:
    """The run folder of a run folder or of a checkpoint (RUN/checkpoints/x.safetensors)."""
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def evaluate_source(source: str, dataset: str | None = None, data_dir: str | None = None,
                    n: int = 10000, ref: str = "test", features: str | None = None,
                    which: str = "auto", inception_weights: str | None = None,
                    seed: int = 12345, device: str = "cpu", bootstrap: int = 0,
                    extra_protocols: bool = False, nearest: int | None = None,
                    nearest_k: int = DEFAULT_K, nearest_dir: str | Path | None = None,
                    selection: Selection | None = None) -> dict[str, Any]:
    """Evaluate a run folder / checkpoint (by sampling it), a samples .npz or an image folder.
    `nearest` adds the memorisation check (metrics.nearest) of that many samples against the
    training images: a run's own (its subset and classes), else `dataset`'s training split; its
    pictures go to `nearest_dir`, default the run folder (else the folder holding the source).
    `selection` (generators only) keeps the samples the run's discriminator prefers."""
    from ganforge.generation.restore import load_discriminator, load_generator

    if n <= 0:
        raise GanforgeError(f"--n must be > 0 (got {n})")
    if nearest is not None:
        check_nearest_args(nearest, nearest_k)
    torch_device = resolve_device(device)
    path = Path(source)
    if is_generator_source(path):
        generator, config, meta = load_generator(path, which, device=torch_device)
        discriminator = (None if selection is None
                         else load_discriminator(meta, device=torch_device))
        config = config.__class__(**{**config.to_dict(), "dataset": dataset or config.dataset,
                                     "data_dir": data_dir or config.data_dir})
        if nearest:
            check_memorisation_dataset(config.dataset)
        return evaluate_generator(generator, config, n, device=torch_device, seed=seed, ref=ref,
                                  features=features, inception_weights=inception_weights,
                                  bootstrap=bootstrap, extra_protocols=extra_protocols,
                                  nearest=nearest or 0, nearest_k=nearest_k,
                                  nearest_dir=Path(nearest_dir or run_folder(path)),
                                  selection=selection, discriminator=discriminator)
    all_images = load_images(path)  # checks the path first: a missing file is the first error
    if selection is not None:
        raise GanforgeError(f"--select-by-d chooses among a run's samples with its discriminator, "
                            f"and '{source}' holds finished images; give a run folder or a "
                            f"checkpoint")
    images = all_images[:n]
    if not dataset:
        needs = "; --nearest compares them with its training split" if nearest else ""
        raise GanforgeError(f"'{source}' holds images but not which dataset they imitate; give "
                            f"--dataset mnist|fashion-mnist|cifar10|folder:PATH{needs}")
    data_dir = data_dir or "data"
    training = None
    if nearest:
        check_memorisation_dataset(dataset)
        shape = all_images.shape[1:]
        training = load_dataset(dataset, data_dir, train=True, image_size=shape[-1],
                                channels=shape[0])
    features = features or "domain"
    also = default_protocols(dataset, features, ref) if extra_protocols else ()
    result = evaluate_images(images, dataset=dataset, data_dir=data_dir, ref=ref,
                             features=features, n=len(images),
                             inception_weights=inception_weights, device=torch_device,
                             bootstrap=bootstrap, also=also)
    if training is not None:
        result.update(memorisation(all_images[:nearest], training, [], data_dir, features,
                                   inception_weights, nearest_k, torch_device,
                                   Path(nearest_dir or path.resolve().parent)))
    return result
