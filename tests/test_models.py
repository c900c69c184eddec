import pytest
import torch

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models import MODELS, ModelSpec, build_models


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_output_range(model, size, channels, num_classes):
    config = Config(model=model, width=8, hidden_dim=16, latent_dim=12, steps=1)
    generator, discriminator = build_models(config, ModelSpec(channels, size, num_classes))
    labels = torch.randint(0, 10, (3,)) if num_classes else None
    images = generator(torch.randn(3, 12), labels)
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1.0
    assert discriminator(images, labels).shape == (3,)


def test_dcgan_follows_seed_001_architecture():
    """Dense → 7×7×256 → ConvT to 7×7×128 → 14×14×64 → 28×28×1. The tutorial's Keras summary
    counts 2,330,944 generator weights, 25,472 of them BatchNorm moving statistics (buffers here)."""
    config = Config(model="dcgan", width=64, steps=1)
    generator, discriminator = build_models(config, ModelSpec(1, 28, 0))
    assert generator.project[0].out_features == 7 * 7 * 256
    shapes = []
    h = generator.project(torch.randn(2, 100)).view(2, 256, 7, 7)
    for layer in generator.net:
        h = layer(h)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(128, 7, 7), (64, 14, 14), (1, 28, 28)]
    assert sum(p.numel() for p in generator.parameters()) == 2_330_944 - 25_472 + 1  # + the output bias
    dropouts = [m.p for m in discriminator.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.3, 0.3]


def test_mlp_widths_follow_hidden_dim_and_depth():
    config = Config(model="mlp", hidden_dim=16, depth=4, latent_dim=100, steps=1)
    generator, _ = build_models(config, ModelSpec(1, 28, 0))
    widths = [m.out_features for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 32, 64, 128, 784]


def test_spectral_norm_bounds_the_largest_singular_value():
    config = Config(model="mlp", hidden_dim=16, depth=2, spectral_norm="d", steps=1)
    _, discriminator = build_models(config, ModelSpec(1, 28, 0))
    for _ in range(30):  # power iterations run in training-mode forwards
        discriminator(torch.randn(4, 1, 28, 28))
    discriminator.eval()
    linears = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    for layer in linears:
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_conditional_generator_depends_on_the_label():
    config = Config(model="dcgan", width=8, latent_dim=8, steps=1)
    generator, _ = build_models(config, ModelSpec(1, 28, 10))
    generator.eval()
    z = torch.randn(1, 8)
    assert not torch.allclose(generator(z, torch.tensor([3])), generator(z, torch.tensor([8])))


def test_unsupported_image_size_is_a_clear_error():
    with pytest.raises(GanforgeError, match="image size 30"):
        build_models(Config(model="dcgan", steps=1), ModelSpec(1, 30, 0))
