"""Image folders: centre-crop + LANCZOS at training size, decoded once into a memory-mapped cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import folders, load_dataset
from ganforge.errors import GanforgeError

BLUE, RED = (0, 0, 255), (255, 0, 0)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty cache root."""
    root = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE", str(root))
    return root / "folders"


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The files decoded so far (pass 2), in the order they were decoded."""
    seen: list[Path] = []
    original = folders.decode_image

    def counting(path: Path, side: int, channels: int) -> np.ndarray:
        seen.append(path)
        return original(path, side, channels)

    monkeypatch.setattr(folders, "decode_image", counting)
    return seen


def save(path: Path, pixels: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kwargs)
    return path


def noise_folder(root: Path, count: int = 4, size: tuple[int, int] = (24, 30)) -> Path:
    """`count` random RGB PNGs of width × height `size`."""
    rng = np.random.default_rng(0)
    for i in range(count):
        save(root / f"{i:02d}.png", rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return root


def load(root: Path, image_size: int = 0):
    return load_dataset(f"folder:{root}", ".", image_size=image_size)


def test_wide_image_is_centre_cropped_not_squashed(tmp_path):
    """40×20: red left and right quarters, a blue middle. The centre square is all blue; squashing
    the whole image (or letting the filter reach past the crop) would bring red in."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :] = RED
    pixels[:, 10:30] = BLUE
    save(tmp_path / "images" / "wide.png", pixels)
    data = load(tmp_path / "images", image_size=16)
    assert data.images.shape == (1, 3, 16, 16)
    assert (data.images[0].permute(1, 2, 0) == torch.tensor(BLUE, dtype=torch.uint8)).all()


def test_resize_is_lanczos_of_the_centre_square_as_in_dataset_tool(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (30, 50, 3), dtype=np.uint8)  # 50 wide
    save(tmp_path / "images" / "a.png", pixels)
    expected = Image.fromarray(pixels[:, 10:40]).resize((12, 12), Image.Resampling.LANCZOS)
    data = load(tmp_path / "images", image_size=12)
    assert np.array_equal(data.images[0].permute(1, 2, 0).numpy(), np.asarray(expected))


def test_side_defaults_to_the_smallest_image_side(tmp_path):
    rng = np.random.default_rng(2)
    save(tmp_path / "images" / "big.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    save(tmp_path / "images" / "small.png", rng.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    assert load(tmp_path / "images").images.shape == (2, 3, 20, 20)


def test_second_load_decodes_nothing(tmp_path, monkeypatch, decodes, cache):
    root = noise_folder(tmp_path / "images")
    first = load(root, image_size=16)
    assert len(decodes) == 4 and len(list(cache.glob("*.npy"))) == 1

    def fail(*args):
        raise AssertionError("a cache hit must not open an image")

    monkeypatch.setattr(folders, "decode_image", fail)
    monkeypatch.setattr(folders, "read_header", fail)
    second = load(root, image_size=16)
    assert torch.equal(first.images, second.images)
    assert second.content_key == first.content_key is not None


def test_size_zero_and_the_same_explicit_size_share_one_cache(tmp_path, decodes):
    root = noise_folder(tmp_path / "images", size=(24, 30))
    native = load(root)
    explicit = load(root, image_size=24)
    assert native.images.shape[-1] == 24 and len(decodes) == 4
    assert explicit.content_key == native.content_key


@pytest.mark.parametrize("change", ["touch", "add", "remove"])
def test_changed_added_or_removed_file_gives_a_new_key(tmp_path, decodes, change):
    root = noise_folder(tmp_path / "images")
    before = load(root, image_size=16)
    if change == "touch":
        stat = (root / "01.png").stat()
        os.utime(root / "01.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    elif change == "add":
        save(root / "99.png", np.zeros((30, 24, 3), np.uint8))
    else:
        (root / "02.png").unlink()
    decodes.clear()
    after = load(root, image_size=16)
    assert after.content_key != before.content_key
    assert len(decodes) == len(after) == {"touch": 4, "add": 5, "remove": 3}[change]


def test_grey_files_give_one_channel_and_any_colour_file_three(tmp_path):
    grey = np.arange(400, dtype=np.uint8).reshape(20, 20)
    save(tmp_path / "grey" / "a.png", grey)
    save(tmp_path / "grey" / "b.jpg", grey, quality=95)
    data = load(tmp_path / "grey")
    assert data.images.shape == (2, 1, 20, 20)
    assert np.array_equal(data.images[0, 0].numpy(), grey)  # PNG: lossless, no resize at 20 px
    save(tmp_path / "grey" / "c.png", np.stack([grey] * 3, axis=-1))  # RGB mode, grey content
    mixed = load(tmp_path / "grey")
    assert mixed.images.shape == (3, 3, 20, 20)
    assert all(torch.equal(mixed.images[0, c], data.images[0, 0]) for c in range(3))


def test_class_sub_folders_give_labels_aligned_with_images(tmp_path):
    colours = {"cat": (10, 200, 30), "dog": (250, 5, 90)}
    counts = {"cat": 2, "dog": 3}
    for name, colour in colours.items():
        for i in range(counts[name]):
            save(tmp_path / "images" / name / f"{i}.png", np.full((20, 20, 3), colour, np.uint8))
    data = load(tmp_path / "images")
    assert data.num_classes == 2 and data.labels.tolist() == [0, 0, 1, 1, 1]
    for image, label in zip(data.images, data.labels):
        colour = colours[["cat", "dog"][label]]
        assert (image.permute(1, 2, 0) == torch.tensor(colour, dtype=torch.uint8)).all()
    flat = load(noise_folder(tmp_path / "flat"))
    assert flat.num_classes == 0 and flat.labels.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unreadable_file_is_a_one_line_error_naming_it(tmp_path, cache, damage):
    root = noise_folder(tmp_path / "images")
    bad = save(root / "bad.jpg", np.random.default_rng(3).integers(0, 256, (64, 64, 3), np.uint8))
    data = bad.read_bytes()
    bad.write_bytes(b"not an image" if damage == "garbage" else data[:len(data) // 2])
    if damage == "truncated":  # the header still reads: this one fails while decoding (pass 2)
        assert folders.read_header(bad) == ((64, 64), "RGB")
    with pytest.raises(GanforgeError, match=rf"cannot read image '{bad}'.*remove or replace it"):
        load(root)
    assert not list(cache.glob("*.npy"))  # no cache, not even a temporary one


def test_interrupted_decode_leaves_no_cache(tmp_path, monkeypatch, cache):
    root = noise_folder(tmp_path / "images")
    original = folders.decode_image

    def interrupted(path: Path, side: int, channels: int) -> np.ndarray:
        if path.name == "02.png":
            raise KeyboardInterrupt
        return original(path, side, channels)

    monkeypatch.setattr(folders, "decode_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load(root)
    assert not list(cache.glob("*.npy"))
    monkeypatch.setattr(folders, "decode_image", original)
    assert len(load(root)) == 4


def test_unwritable_cache_still_loads_in_memory(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")  # fails even for root
    monkeypatch.setenv("GANFORGE_CACHE", str(blocker))
    root = noise_folder(tmp_path / "images")
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        data = load(root, image_size=16)
    assert data.images.shape == (4, 3, 16, 16) and data.images.float().std() > 10
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeping it in memory" in warnings[0].getMessage()


def test_content_key_is_dropped_when_the_pixels_are_converted(tmp_path):
    root = noise_folder(tmp_path / "images")
    assert load(root).content_key is not None
    assert load_dataset(f"folder:{root}", ".", channels=1).content_key is None


def test_reference_key_uses_the_folder_key_instead_of_hashing(tmp_path, monkeypatch):
    from ganforge.metrics import reference

    class Net:
        name, weights_hash = "net", "0" * 64

    data = load(noise_folder(tmp_path / "images"))
    hashed = reference.cache_key(f"folder:{tmp_path}", "test", data.images, Net())

    def fail(images):
        raise AssertionError("the folder key identifies the pixels already")

    monkeypatch.setattr(reference, "content_hash", fail)
    keyed = reference.cache_key(f"folder:{tmp_path}", "test", data.images, Net(), data.content_key)
    assert data.content_key[:12] in keyed and keyed != hashed
