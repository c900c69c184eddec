"""Model registry: `@MODELS.register("name")` on a `build(config, spec) -> (G, D)` function.

Adding an architecture is one new file in this folder with one decorated builder; it is imported
below so the registry sees it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ganforge.models.base import Discriminator, Generator, ModelSpec
from ganforge.registry import Registry

Builder = Callable[..., tuple[Generator, Discriminator]]
MODELS: Registry[Builder] = Registry("model")

from ganforge.models import dcgan, mlp, mlp_conv, resnet, upconv  # noqa: E402,F401  (registers the models)


def build_models(config, spec: ModelSpec) -> tuple[Generator, Discriminator]:
    """Build G and D for `config.model`, with the minibatch standard deviation and spectral
    normalisation where the config asks."""
    generator, discriminator = MODELS.get(config.model)(config, spec)
    if config.minibatch_std:
        discriminator.use_minibatch_std(config.minibatch_std)
    if config.spectral_norm in ("d", "gd"):
        apply_spectral_norm(discriminator)
    if config.spectral_norm == "gd":
        apply_spectral_norm(generator)
    return generator, discriminator


def apply_spectral_norm(module: nn.Module) -> None:
    layers = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)
    for child in list(module.modules()):
        if isinstance(child, layers):
            nn.utils.parametrizations.spectral_norm(child)


__all__ = ["MODELS", "Discriminator", "Generator", "ModelSpec", "build_models"]
