"""Feature networks behind one interface, so evaluation and the reference cache do not care
which one is in use. Registered by name: `domain` (the shipped per-dataset classifier) and
`inception` (pytorch-fid's InceptionV3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ganforge.metrics import classifier, inception
from ganforge.registry import Registry

FEATURES: Registry = Registry("feature network")


@dataclass
class FeatureNet:
    name: str  # goes into cache keys and result tables
    weights_hash: str  # sha256 of the weights, so new weights never reuse old cached statistics
    # (uint8 images, device) -> (float32 N×D features, N×K class probabilities or None)
    extract: Callable[[torch.Tensor, str | torch.device], tuple[torch.Tensor, torch.Tensor | None]]

    def __call__(self, images: torch.Tensor,
                 device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.extract(images, device)


@FEATURES.register("domain")
def domain_net(dataset: str, inception_weights: str | Path | None = None) -> FeatureNet:
    model, digest = classifier.load_domain_classifier(dataset)
    return FeatureNet(f"domain-{dataset}", digest,
                      lambda images, device: classifier.features_and_probs(model, images, device))


@FEATURES.register("domain2")
def domain2_net(dataset: str, inception_weights: str | Path | None = None) -> FeatureNet:
    """The second, independent domain evaluator (a small ResNet; see classifier.py)."""
    model, digest = classifier.load_domain_classifier(dataset, "domain2")
    return FeatureNet(f"domain2-{dataset}", digest,
                      lambda images, device: classifier.features_and_probs(model, images, device))


@FEATURES.register("inception")
def inception_net(dataset: str, inception_weights: str | Path | None = None) -> FeatureNet:
    path = inception.find_weights(inception_weights)
    digest = inception.checked_weights_hash(str(path))
    model = inception.load_inception(str(path), inception.DIMS)
    return FeatureNet(f"inception-{inception.DIMS}", digest,
                      lambda images, device: (inception.inception_features(model, images, device),
                                              None))


def feature_net(name: str, dataset: str, inception_weights: str | Path | None = None) -> FeatureNet:
    """Look up and build a feature network; unknown names give the registry's one-line error."""
    return FEATURES.get(name)(dataset, inception_weights)
