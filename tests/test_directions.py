"""Attribute directions from labelled *real* images (latent/probe.py): label-file formats, the
probe, a direction recovered when the label is a known function of the image, and the
traverse / arithmetic commands with --labels FILE --images DIR."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.generation.sampling import generate, noise
from ganforge.latent.directions import ink_mass, read_attribute_file
from ganforge.latent.probe import (
    direction_from_labelled_images,
    labelled_images,
    names_real_images,
    train_probe,
)
from tests.conftest import assert_one_line_error, run_cli


class BrightnessGenerator(torch.nn.Module):
    """A toy generator whose images are a fixed texture, brightened by z[0] (through tanh); the
    other latent coordinates only add a little unrelated pattern."""

    latent_dim, num_classes = 8, 0

    def __init__(self) -> None:
        super().__init__()
        texture = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
        self.register_buffer("texture", texture)
        self.mix = torch.nn.Linear(7, 1)
        torch.nn.init.constant_(self.mix.weight, 0.1)
        torch.nn.init.zeros_(self.mix.bias)

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        brightness = torch.tanh(z[:, :1]).view(-1, 1, 1, 1)
        pattern = self.mix(z[:, 1:]).view(-1, 1, 1, 1) * (self.texture - 0.5)
        return (0.7 * brightness + 0.25 * self.texture + pattern).clamp(-1, 1)


def write_images(folder, images: torch.Tensor, prefix: str = "img") -> list[str]:
    """uint8 N×1×H×W → PNG files; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index, image in enumerate(images):
        names.append(f"{prefix}{index:04d}.png")
        Image.fromarray(image[0].numpy()).save(folder / names[-1])
    return names


def real_bright_images(folder, n: int = 120, seed: int = 3
                       ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """n 'real' 16×16 images of random brightness, with noise, written to `folder`:
    (names, uint8 images, ink masses)."""
    g = torch.Generator().manual_seed(seed)
    level = torch.rand(n, 1, 1, 1, generator=g) * 0.8 + 0.1
    images = (level + 0.1 * torch.randn(n, 1, 16, 16, generator=g)).clamp(0, 1)
    uint8 = (images * 255).round().to(torch.uint8)
    return write_images(folder, uint8), uint8, ink_mass(uint8)


# ----- label files -----
def test_label_file_formats(tmp_path):
    celeba = tmp_path / "list_attr_celeba.txt"
    celeba.write_text("3\nSmiling Eyeglasses \n000001.jpg 1 -1\n000002.jpg -1 -1\n"
                      "000003.jpg -1 1\n")
    names, rows, values = read_attribute_file(celeba)
    assert names == ["Smiling", "Eyeglasses"] and rows[2] == "000003.jpg"
    assert values.tolist() == [[1, -1], [-1, -1], [-1, 1]]
    csv = tmp_path / "labels.csv"
    csv.write_text("file,boot,kind\na.png,1,ankle_boot\nb.png,0,sneaker\nc.png,1,ankle_boot\n")
    names, rows, values = read_attribute_file(csv)
    assert names == ["boot", "ankle_boot", "sneaker"] and rows == ["a.png", "b.png", "c.png"]
    assert values.tolist() == [[1, 1, -1], [0, -1, 1], [1, 1, -1]]
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("file,boot\na.png,1\nb.png\nc.png,1\n")
    with pytest.raises(GanforgeError, match="2 cells"):
        read_attribute_file(ragged)


def test_real_image_labels_are_detected_by_the_files_in_images_dir(tmp_path):
    folder = tmp_path / "imgs"
    write_images(folder, torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    labels = tmp_path / "labels.txt"
    labels.write_text("boot\nimg0000.png 1\nsub/img0001.png -1\nimg0002.png -1\nmissing.png 1\n")
    assert names_real_images(labels, folder)  # names (or their basenames) are files there
    assert not names_real_images(labels, None)  # no --images: rows are seeds
    assert not names_real_images(labels, tmp_path)  # a folder without those files
    files, has, notes = labelled_images(labels, "boot", folder)
    assert [f.name for f in files] == ["img0000.png", "img0001.png", "img0002.png"]
    assert has.tolist() == [True, False, False]
    assert "1 of the 4 rows" in notes[0]
    files, has, _ = labelled_images(labels, "boot", folder, max_per_label=2)
    assert has.tolist() == [True, False, False]
    with pytest.raises(GanforgeError, match="none of the 4 rows"):
        labelled_images(labels, "boot", tmp_path)
    with pytest.raises(GanforgeError, match="not in"):
        labelled_images(labels, "Smiling", folder)
    labels.write_text("boot\nimg0000.png 1\nimg0001.png 1\nimg0002.png 1\nmissing.png -1\n")
    with pytest.raises(GanforgeError, match="labels all 3 images found with"):
        labelled_images(labels, "boot", folder)


# ----- the probe and the direction -----
def test_probe_learns_a_known_function_of_the_image(tmp_path):
    _, images, mass = real_bright_images(tmp_path / "train", n=200)
    probe = train_probe(images, mass > mass.median(), "bright", features="pixels")
    assert probe.features == "pixels" and probe.n_with == probe.n_without == 100
    assert probe.accuracy > 0.9, probe.describe()
    dim, bright = -torch.ones(1, 1, 16, 16), torch.ones(1, 1, 16, 16) * 0.6
    assert probe.probability(bright) > 0.9 > 0.1 > probe.probability(dim)
    with pytest.raises(GanforgeError, match="labelled the same"):
        train_probe(images, torch.ones(len(images), dtype=torch.bool))


def test_direction_from_labelled_real_images_increases_the_labelled_function(tmp_path):
    """Real images labelled by their ink mass (above the median = 1): the direction found through
    a generator whose brightness is tanh(z[0]) points along z[0] and raises the ink mass of
    latents it never saw."""
    folder = tmp_path / "imgs"
    names, _, mass = real_bright_images(folder)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,bright\n" + "".join(
        f"{name},{1 if m > mass.median() else -1}\n" for name, m in zip(names, mass)))
    generator = BrightnessGenerator()
    direction, probe, notes = direction_from_labelled_images(
        generator, labels, "bright", folder, features="pixels", n=600)
    assert abs(direction.norm() - 1) < 1e-5 and direction[0] > 0.8, direction
    assert "probe 'bright' on pixels features of 120 real images (60 with, 60 without)" in notes[-1]
    z = noise(300, generator.latent_dim, seed=99)
    ink = [ink_mass(generate(generator, z + s * direction)).mean().item() for s in (-2, 0, 2)]
    assert ink[0] < ink[1] < ink[2], ink


# ----- commands -----
@pytest.fixture
def mnist_like_labels(tmp_path):
    """28×28 'real' images of random brightness in imgs/, labelled `bright` in labels.txt."""
    g = torch.Generator().manual_seed(0)
    level = torch.rand(40, 1, 1, 1, generator=g)
    images = ((level + 0.2 * torch.rand(40, 1, 28, 28, generator=g)).clamp(0, 1) * 255).to(torch.uint8)
    names = write_images(tmp_path / "imgs", images)
    mass = ink_mass(images)
    labels = tmp_path / "labels.txt"
    labels.write_text(f"{len(names)}\nbright constant\n" + "".join(
        f"{name} {1 if m > mass.median() else -1} 1\n" for name, m in zip(names, mass)))
    return labels, tmp_path / "imgs"


def test_traverse_and_arithmetic_with_real_image_labels(tiny_run, mnist_like_labels, tmp_path,
                                                        capsys):
    labels, images = mnist_like_labels
    out = tmp_path / "bright.png"
    code, stdout, err = run_cli(capsys, "traverse", "--run", tiny_run, "--labels", labels,
                                "--images", images, "--direction", "bright", "--samples", 200,
                                "--strength=-2,0,2", "--seeds", "0,1", "--out", out)
    assert code == 0, err
    assert "probe 'bright' on domain features of 40 real images (20 with, 20 without)" in stdout
    assert "mean probe P(bright) per column: " in stdout and out.exists()
    code, stdout, err = run_cli(capsys, "arithmetic", "--run", tiny_run, "--labels", labels,
                                "--images", images, "--expr", "[1] + 2*bright - thick",
                                "--samples", 200, "--probe-features", "pixels",
                                "--out", tmp_path / "arith.png")
    assert code == 0, err
    assert "on pixels features" in stdout and "+ 2*direction 'bright'" in stdout


def test_real_image_label_errors_are_one_line(tiny_run, mnist_like_labels, tmp_path, capsys):
    labels, images = mnist_like_labels
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ("traverse", "--run", tiny_run, "--labels", labels, "--samples", 50)
    cases = [
        (("--images", empty, "--direction", "bright"), "none of the 40 rows"),
        (("--images", images, "--direction", "Smiling"), "'Smiling' is not in"),
        (("--images", images, "--direction", "constant"), "labels all 40 images found with"),
        (("--images", tmp_path / "nowhere", "--direction", "bright"), "is not a folder"),
        (("--images", images, "--direction", "bright", "--max-per-label", 1), "at least 2"),
    ]
    for extra, fragment in cases:
        assert_one_line_error(*run_cli(capsys, *base, *extra)[::2], fragment)
