import dataclasses

import pytest
import torch
from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models import MODELS, ModelSpec, build_models
from ganforge.models.resnet import DownBlock, UpBlock

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


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


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("kernel", [3, 7])
def test_dcgan_kernel_size_keeps_shapes_and_sets_every_kernel(size, kernel):
    config = Config(model="dcgan", width=8, kernel_size=kernel, steps=1)
    generator, discriminator = build_models(config, ModelSpec(1, size, 10))
    labels = torch.randint(0, 10, (3,))
    images = generator(torch.randn(3, 100), labels)
    assert images.shape == (3, 1, size, size)
    assert discriminator(images, labels).shape == (3,)
    convs = [m for m in [*generator.modules(), *discriminator.modules()]
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(m.kernel_size == (kernel, kernel) for m in convs)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_dcgan_even_kernel_halves_and_doubles_exactly(size):
    """Kernel 4 (the DCGAN paper's): stride-2 layers 4×4 and exact ×2 / ÷2 sides; G's stride-1
    layer 5×5; D's maps floor-halve (28 → 14 → 7 → 3)."""
    config = Config(model="dcgan", width=8, kernel_size=4, d_layers=3, steps=1)
    generator, discriminator = build_models(config, ModelSpec(1, size, 10))
    labels = torch.randint(0, 10, (3,))
    images = generator(torch.randn(3, 100), labels)
    assert images.shape == (3, 1, size, size)
    assert discriminator(images, labels).shape == (3,)
    strides = {m.kernel_size: m.stride for m in generator.modules()
               if isinstance(m, nn.ConvTranspose2d)}
    assert strides == {(5, 5): (1, 1), (4, 4): (2, 2)}
    maps = discriminator.net(images)
    assert maps.shape[-1] == {28: 3, 32: 4, 64: 8}[size]


@pytest.mark.parametrize("stem", [1, 3])
def test_dcgan_stem_kernel_sets_only_the_stride_1_layer(stem):
    config = Config(model="dcgan", width=8, kernel_size=4, stem_kernel=stem, steps=1)
    generator, _ = build_models(config, ModelSpec(1, 28, 10))
    assert generator(torch.randn(3, 100), torch.randint(0, 10, (3,))).shape == (3, 1, 28, 28)
    strides = {m.kernel_size: m.stride for m in generator.modules()
               if isinstance(m, nn.ConvTranspose2d)}
    assert strides == {(stem, stem): (1, 1), (4, 4): (2, 2)}


def test_dcgan_g_width_widens_the_generator_only():
    narrow_g, narrow_d = build_models(Config(model="dcgan", width=8, steps=1), ModelSpec(1, 28, 10))
    wide_g, wide_d = build_models(Config(model="dcgan", width=8, g_width=12, steps=1),
                                  ModelSpec(1, 28, 10))
    assert wide_g.start_channels == 48 and narrow_g.start_channels == 32
    assert wide_g(torch.randn(3, 100), torch.randint(0, 10, (3,))).shape == (3, 1, 28, 28)
    assert ([p.shape for p in wide_d.parameters()] == [p.shape for p in narrow_d.parameters()])


def test_g_width_on_another_model_is_refused():
    from ganforge.config import build_config
    with pytest.raises(GanforgeError, match="g_width=48 applies to the dcgan model only"):
        build_config(None, None, {"model": "mlp", "g_width": 48, "steps": 1})


@pytest.mark.parametrize("stem", [2, -1])
def test_even_or_negative_stem_kernel_is_refused(stem):
    from ganforge.config import build_config
    with pytest.raises(GanforgeError, match=f"stem_kernel={stem}; it must be odd"):
        build_config(None, None, {"stem_kernel": stem, "steps": 1})


@pytest.mark.parametrize("kernel", [1, 0])
def test_tiny_kernel_size_is_refused(kernel):
    from ganforge.config import build_config
    with pytest.raises(GanforgeError, match=f"kernel_size={kernel}; it must be >= 2"):
        build_config(None, None, {"kernel_size": kernel, "steps": 1})


@pytest.mark.parametrize("model", ["dcgan", "mlp-conv"])
@pytest.mark.parametrize("size, d_layers, maps", [
    (28, 0, [(8, 14), (16, 7)]),                     # the tutorial's two convolutions
    (28, 3, [(8, 14), (16, 7), (32, 4)]),
    (28, 4, [(8, 14), (16, 7), (32, 4), (64, 2)]),
    (64, 0, [(8, 32), (16, 16), (32, 8)]),
    (64, 2, [(8, 32), (16, 16)]),
])
def test_d_layers_sets_the_discriminator_convolutions(model, size, d_layers, maps):
    """Each stride-2 convolution halves the map (rounding up) and doubles the channels."""
    config = Config(model=model, width=8, hidden_dim=16, d_layers=d_layers, steps=1)
    generator, discriminator = build_models(config, ModelSpec(1, size, 10))
    labels = torch.randint(0, 10, (3,))
    h, seen = generator(torch.randn(3, 100), labels), []
    for layer in discriminator.net:
        h = layer(h)
        if isinstance(layer, nn.Conv2d):
            seen.append((h.shape[1], h.shape[2]))
    assert seen == maps
    assert discriminator(generator(torch.randn(3, 100), labels), labels).shape == (3,)


def test_too_many_d_layers_are_refused_with_the_most_that_fit():
    with pytest.raises(GanforgeError, match="d_layers=5: 28 px images would shrink below 2 px; "
                                            "use at most 4"):
        build_models(Config(model="dcgan", width=8, d_layers=5, steps=1), ModelSpec(1, 28, 0))


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


# ----- architecture options -----
def test_residual_gd_puts_residual_blocks_in_d_and_g_does_not():
    spec = ModelSpec(1, 28, 0)
    for residual, d_blocks in (("g", 0), ("gd", 3)):
        config = Config(model="resnet", width=8, residual=residual, steps=1)
        generator, discriminator = build_models(config, spec)
        assert sum(isinstance(m, UpBlock) for m in generator.modules()) == 2  # 7 → 14 → 28 px
        assert sum(isinstance(m, DownBlock) for m in discriminator.modules()) == d_blocks
        assert discriminator(generator(torch.randn(2, config.latent_dim))).shape == (2,)


@pytest.mark.parametrize("num_classes", [0, 10])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_upconv_generator_is_fully_convolutional(size, num_classes):
    config = Config(model="upconv", width=8, latent_dim=12, steps=1)
    generator, _ = build_models(config, ModelSpec(1, size, num_classes))
    kinds = {type(m) for m in generator.modules()}
    assert nn.Linear not in kinds and nn.Upsample in kinds
    transposed = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 1 and transposed[0].stride == (1, 1)  # only z (1×1) → start size
    assert transposed[0].kernel_size == ((7, 7) if size == 28 else (4, 4))


def spectral_norm(layer: nn.Module) -> float:
    """Largest singular value of the weight as spectral_norm reshapes it (dim 1 for ConvT)."""
    weight = layer.weight.movedim(1, 0) if isinstance(layer, nn.ConvTranspose2d) else layer.weight
    return torch.linalg.matrix_norm(weight.flatten(1), ord=2).item()


@pytest.mark.parametrize("model", MODELS.names())
def test_spectral_norm_gd_also_bounds_the_generator(model):
    torch.manual_seed(0)
    spec = ModelSpec(1, 28, 0)
    config = Config(model=model, width=8, hidden_dim=16, depth=2, latent_dim=12, steps=1)
    generator, _ = build_models(dataclasses.replace(config, spectral_norm="d"), spec)
    assert not any(nn.utils.parametrize.is_parametrized(m) for m in generator.modules())

    generator, _ = build_models(dataclasses.replace(config, spectral_norm="gd"), spec)
    layers = [m for m in generator.modules() if isinstance(m, WEIGHT_LAYERS)]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():
        for _ in range(50):  # power iterations run in training-mode forwards
            generator(torch.randn(4, 12))
    generator.eval()
    with torch.no_grad():
        for layer in layers:
            assert spectral_norm(layer) == pytest.approx(1.0, abs=0.05), layer


@pytest.mark.parametrize("model", MODELS.names())
def test_projection_sees_only_spatially_pooled_features(model):
    """The class term ⟨embed(y), h⟩ must not be a per-class spatial template: moving D's last
    feature map around in space (here: flipping it) leaves it unchanged, for every model."""
    config = Config(model=model, width=16, hidden_dim=32, depth=2, latent_dim=8, conditional=True)
    _, D = build_models(config, ModelSpec(1, 28, 10))
    D.eval()
    images, labels = torch.randn(4, 1, 28, 28), torch.tensor([0, 3, 7, 9])
    h = D.features(images)
    pooled = h.sum(dim=(2, 3)) if h.dim() == 4 else h
    last = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not D.head][-1]
    width = last.out_channels if isinstance(last, nn.Conv2d) else last.out_features
    assert D.projection.weight.shape == (10, width) == (10, pooled.shape[1])
    with torch.no_grad():
        class_term = D(images, labels) - D.head(h.flatten(1)).squeeze(1)
        assert torch.allclose(class_term, (D.projection(labels) * pooled).sum(1), atol=1e-5)
        if h.dim() == 4:
            flipped = h.flip(-1)
            D.features = lambda _: flipped  # type: ignore[method-assign]
            moved = D(images, labels) - D.head(flipped.flatten(1)).squeeze(1)
            assert torch.allclose(moved, class_term, atol=1e-5)


def test_minibatch_std_is_the_mean_feature_spread_of_each_group():
    from ganforge.models.base import minibatch_std
    features = torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    spread = minibatch_std(features, 2).squeeze(1)
    # group 1: per-feature std 1 and 2 -> 1.5; group 2: identical samples -> 0 (+ the epsilon)
    assert spread[:2].tolist() == pytest.approx([1.5, 1.5])
    assert spread[2:].tolist() == pytest.approx([1e-4, 1e-4], abs=1e-6)
    assert minibatch_std(features, 3).shape == (4, 1)  # 3 does not divide 4: groups of 1


def test_minibatch_std_groups_never_mix_real_and_generated_images():
    """D scores a [real; fake] batch (as the trainer concatenates them) exactly as it scores
    each half alone; and the score depends on the group's spread."""
    torch.manual_seed(0)
    config = Config(model="dcgan", width=8, minibatch_std=4, d_layers=3, dropout=0.0, steps=1)
    _, discriminator = build_models(config, ModelSpec(1, 28, 10))
    assert discriminator.head.in_features == 32 * 4 * 4 + 1
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    labels = torch.randint(0, 10, (16,))
    together = discriminator(torch.cat([real, fake]), labels)
    apart = torch.cat([discriminator(real, labels[:8]), discriminator(fake, labels[8:])])
    assert torch.allclose(together, apart, atol=1e-6)
    collapsed = fake[:1].expand(8, -1, -1, -1)
    first = discriminator(collapsed, labels[8:])[0]
    assert first != discriminator(torch.cat([collapsed[:1], fake[1:]]), labels[8:])[0]
