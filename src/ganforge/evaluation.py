"""Glue between generators/run folders and the metrics package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Config
from ganforge.device import resolve_device
from ganforge.errors import GanforgeError
from ganforge.generation.restore import PRETRAINED_PREFIX
from ganforge.generation.sampling import balanced_labels, generate_uint8
from ganforge.metrics.evaluate import default_protocols, evaluate_images, load_images
from ganforge.metrics.features import FEATURES

log = logging.getLogger("ganforge")


def training_hashes(config: Config) -> torch.Tensor | None:
    """Content hashes of the run's training images, or None (with a warning) when they cannot be
    loaded here; then the overlap check reports "unknown" instead of guessing."""
    from ganforge.data.fingerprint import image_hashes
    from ganforge.data.training_set import load_training_set

    try:
        return image_hashes(load_training_set(config).images)
    except GanforgeError as err:
        log.warning("cannot load the run's training images to check them against the reference "
                    "(%s)", err)
        return None


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
                       extra_protocols: bool = False) -> dict[str, Any]:
    """Sample `n` images (class-balanced for conditional models) and score them. The training
    images' hashes are computed from `config` unless given (the trainer keeps them).
    `extra_protocols` adds metrics.evaluate.default_protocols (second evaluator, other split)."""
    labels = (balanced_labels(n, generator.num_classes) if generator.num_classes else None)
    images = generate_uint8(generator, n, seed, labels=labels)
    if train_hashes is None:
        train_hashes = training_hashes(config)
    features = features or config.features
    also = default_protocols(config.dataset, features, ref) if extra_protocols else ()
    return evaluate_images(images, dataset=config.dataset, data_dir=config.data_dir, ref=ref,
                           features=features, n=n,
                           inception_weights=inception_weights or config.inception_weights or None,
                           labels=labels, device=device, training_hashes=train_hashes,
                           bootstrap=bootstrap, also=also)


def is_generator_source(path: Path) -> bool:
    return ((path.is_dir() and (path / "checkpoints").is_dir()) or path.suffix == ".safetensors"
            or str(path).startswith(PRETRAINED_PREFIX))


def evaluate_source(source: str, dataset: str | None = None, data_dir: str | None = None,
                    n: int = 10000, ref: str = "test", features: str | None = None,
                    which: str = "auto", inception_weights: str | None = None,
                    seed: int = 12345, device: str = "cpu", bootstrap: int = 0,
                    extra_protocols: bool = False) -> dict[str, Any]:
    """Evaluate a run folder / checkpoint (by sampling it), a samples .npz or an image folder."""
    from ganforge.generation.restore import load_generator

    if n <= 0:
        raise GanforgeError(f"--n must be > 0 (got {n})")
    torch_device = resolve_device(device)
    path = Path(source)
    if is_generator_source(path):
        generator, config, _ = load_generator(path, which, device=torch_device)
        config = config.__class__(**{**config.to_dict(), "dataset": dataset or config.dataset,
                                     "data_dir": data_dir or config.data_dir})
        return evaluate_generator(generator, config, n, device=torch_device, seed=seed, ref=ref,
                                  features=features, inception_weights=inception_weights,
                                  bootstrap=bootstrap, extra_protocols=extra_protocols)
    images = load_images(path)[:n]  # checks the path first: a missing file is the first error
    if not dataset:
        raise GanforgeError(f"'{source}' holds images but not which dataset they imitate; give "
                            f"--dataset mnist|fashion-mnist|cifar10|folder:PATH")
    features = features or "domain"
    also = default_protocols(dataset, features, ref) if extra_protocols else ()
    return evaluate_images(images, dataset=dataset, data_dir=data_dir or "data", ref=ref,
                           features=features, n=len(images),
                           inception_weights=inception_weights, device=torch_device,
                           bootstrap=bootstrap, also=also)
