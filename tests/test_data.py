import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import InMemoryBatches, load_dataset, select
from ganforge.data.augment import (
    AdaptiveAugment,
    advanced,
    basic,
    build_augmentation,
    diff_cutout,
    random_shift,
)
from ganforge.data.datasets import bundled_mnist, to_float, to_uint8
from ganforge.errors import GanforgeError
from tests.conftest import needs_fashion, needs_mnist


def test_bundled_mnist_test_split_is_the_official_test_set():
    data = bundled_mnist(train=False)
    assert data.images.shape == (10000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]  # the published first labels
    assert torch.bincount(data.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                     974, 1009]


def test_bundled_mnist_training_subset_is_genuine_and_disjoint_from_the_test_set():
    train = bundled_mnist(train=True)
    assert train.images.shape == (10000, 1, 28, 28)
    assert train.labels[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # the published first labels
    test_hashes = {bytes(image) for image in bundled_mnist(train=False).images.flatten(1).numpy()}
    assert not any(bytes(image) in test_hashes for image in train.images.flatten(1).numpy())


@needs_mnist
def test_real_mnist_and_bundled_agree(data_dir):
    test = load_dataset("mnist", data_dir, train=False)
    assert torch.equal(test.images, bundled_mnist(train=False).images)
    train = load_dataset("mnist", data_dir, train=True)
    assert len(train) >= 10000  # 60,000 for the full download; any genuine prefix works here
    assert torch.equal(train.images[:10000], bundled_mnist(train=True).images)
    assert torch.equal(train.labels[:10000], bundled_mnist(train=True).labels)


@needs_fashion
def test_fashion_mnist_loads(data_dir):
    data = load_dataset("fashion-mnist", data_dir)
    assert data.images.shape == (60000, 1, 28, 28) and data.flips_allowed


def test_offline_mnist_trains_on_the_bundled_training_subset(tmp_path, caplog):
    data = load_dataset("mnist", tmp_path / "nowhere", train=True, download=False)
    assert len(data) == 10000 and "training subset" in data.source
    assert "bundled MNIST training subset" in caplog.text
    reference = load_dataset("mnist", tmp_path / "nowhere", train=False, download=False)
    assert "test set" in reference.source
    assert not torch.equal(data.images, reference.images)


def test_missing_dataset_names_files_and_folder(tmp_path):
    with pytest.raises(GanforgeError, match=r"FashionMNIST/raw.*--data-dir"):
        load_dataset("fashion-mnist", tmp_path, download=False)


def test_resize_and_channels():
    data = load_dataset("mnist", "/nonexistent", download=False, image_size=32, channels=3)
    assert data.images.shape == (10000, 3, 32, 32)


def test_image_folder_with_classes_and_bad_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))  # holds no image files
    for label, value in (("a", 0), ("b", 255)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 40), value, np.uint8)).save(tmp_path / label / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path}", "", image_size=32)
    assert data.images.shape == (6, 1, 32, 32)  # grayscale files stay one channel
    assert data.num_classes == 2 and data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(GanforgeError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}", "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match="holds no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}", "")


def test_select_classes_and_subset():
    data = bundled_mnist(train=False)
    two = select(data, [0, 1], 1.0, seed=0)
    assert set(two.labels.tolist()) == {0, 1} and len(two) == 980 + 1135
    tenth = select(data, [], 0.1, seed=0)
    assert len(tenth) == 1000 and torch.equal(tenth.images, select(data, [], 0.1, 0).images)
    with pytest.raises(GanforgeError, match="classes"):
        select(data, [12], 1.0, seed=0)


def test_loader_visits_every_image_once_per_epoch():
    data = select(bundled_mnist(train=False), [], 0.01, seed=0)  # 100 images
    data.images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 1, 2, 2)
    batches = InMemoryBatches(data, batch_size=10, seed=0, device=torch.device("cpu"))
    seen = [batches.next()[0] for _ in range(10)]
    values = torch.cat(seen)[:, 0, 0, 0].add(1).mul(127.5).round().long()
    assert sorted(values.tolist()) == list(range(100))


def test_two_ranks_split_each_global_batch():
    data = bundled_mnist(train=False)
    single = InMemoryBatches(data, 32, seed=3, device=torch.device("cpu"))
    ranks = [InMemoryBatches(data, 16, seed=3, device=torch.device("cpu"), rank=r, world_size=2)
             for r in (0, 1)]
    for _ in range(5):
        whole = single.next()[0]
        parts = torch.cat([r.next()[0] for r in ranks])
        assert torch.equal(whole, parts)


def test_loader_state_round_trip_continues_identically():
    data = bundled_mnist(train=False)
    a = InMemoryBatches(data, 64, seed=1, device=torch.device("cpu"))
    for _ in range(200):  # crosses an epoch boundary (156 batches per epoch)
        a.next()
    b = InMemoryBatches(data, 64, seed=99, device=torch.device("cpu"))
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        assert torch.equal(a.next()[1], b.next()[1])


def test_uint8_float_round_trip():
    images = torch.randint(0, 256, (4, 1, 5, 5), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(images)), images)


def test_shift_moves_content_by_whole_pixels():
    images = -torch.ones(64, 1, 28, 28)
    images[:, :, 14, 14] = 1.0
    torch.manual_seed(0)
    shifted = random_shift(images, 2)
    assert shifted.shape == images.shape
    assert torch.all((shifted == 1).flatten(1).sum(1) == 1)  # the dot moves, intact
    assert (shifted[:, :, 14, 14] != 1).any()


def test_augmentations_keep_shape_range_and_respect_flips():
    images = torch.rand(32, 1, 28, 28) * 2 - 1
    for augment in (basic, advanced(False), advanced(True), diff_cutout):
        out = augment(images)
        assert out.shape == images.shape and out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5
    asymmetric = -torch.ones(256, 1, 28, 28)
    asymmetric[:, :, :, :4] = 1  # a bar on the left edge
    torch.manual_seed(0)
    no_flip = advanced(False)(asymmetric)
    assert no_flip[:, :, :, 20:].max() < 0.5  # never mirrored to the right
    assert advanced(True)(asymmetric)[:, :, :, 24:].max() > 0.5
    real, d_input = build_augmentation("diffaug", True)
    assert real(images) is images and not torch.equal(d_input(images), images)


# ---------------------------------------------------------------- labels stay with their images
@needs_mnist
def test_labels_stay_paired_with_images_through_subset_classes_and_shuffling(data_dir, tmp_path):
    """Every batch the trainer draws (shuffled, subset, two classes, several epochs) is looked
    up by image content in the full training set: each label must be that image's own."""
    from ganforge.config import build_config
    from ganforge.data.fingerprint import image_hashes
    from ganforge.training.trainer import Trainer
    from tests.conftest import tiny_overrides

    full = load_dataset("mnist", data_dir, train=True)
    label_of = dict(zip(image_hashes(full.images).tolist(), full.labels.tolist()))
    config = build_config(None, None, tiny_overrides(
        data_dir, tmp_path / "run", classes="3,7", subset=0.2, conditional=True, augment="basic",
        batch_size=32))
    trainer = Trainer(config, None)
    epochs_seen = set()
    for _ in range(3 * trainer.batches.batches_per_epoch):
        images, labels = trainer.batches.next()
        epochs_seen.add(trainer.batches.epoch)
        hashes = image_hashes(to_uint8(images.cpu()))
        assert [label_of[h] for h in hashes.tolist()] == labels.tolist()
        assert set(labels.tolist()) <= {3, 7}
    assert len(epochs_seen) == 3


@pytest.mark.parametrize("mode", ["basic", "advanced", "diffaug"])
def test_augmentation_transforms_each_image_in_place(mode):
    """Batch augmentation must not reorder images (their labels are not moved with them): image
    i of constant grey v_i > -1 still has v_i as its brightest pixel (shifts and cutouts only
    bring in background, -1)."""
    torch.manual_seed(0)
    values = torch.linspace(-0.9, 0.9, 32)
    images = values.view(32, 1, 1, 1).expand(32, 1, 28, 28).contiguous()
    augment_real, augment_d = build_augmentation(mode, flips_allowed=True)
    out = augment_d(augment_real(images))
    torch.testing.assert_close(out.flatten(1).max(dim=1).values, values, atol=1e-4, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_ada_augmentation_is_the_identity_at_p0_and_changes_every_image_at_p1(channels):
    torch.manual_seed(0)
    images = torch.rand(256, channels, 28, 28) * 2 - 1
    real, d_input = build_augmentation("ada", flips_allowed=False)
    assert real(images) is images and isinstance(d_input, AdaptiveAugment)
    assert torch.equal(d_input(images), images)  # ADA starts at p = 0
    changed = (AdaptiveAugment(1.0)(images) != images).flatten(1).any(1)
    assert changed.all()
    # each transform is drawn per image: at p = ½ about (½)^transforms images are left as they are
    untouched = (AdaptiveAugment(0.5)(images) == images).flatten(1).all(1).float().mean()
    expected = 0.5 ** (2 if channels == 1 else 3)
    assert expected - 0.1 < untouched < expected + 0.1
    # differentiable, like DiffAugment: G's gradient passes through it
    fakes = images.clone().requires_grad_(True)
    AdaptiveAugment(1.0)(fakes).sum().backward()
    assert fakes.grad is not None and fakes.grad.abs().sum() > 0
