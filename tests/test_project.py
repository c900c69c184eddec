"""Projecting real images into the latent space: self-consistency on generated images, the saved
latents feeding `interpolate` and `arithmetic` (real: terms), and one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import Config
from ganforge.data.datasets import to_uint8
from ganforge.errors import GanforgeError
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate, noise
from ganforge.latent.arithmetic import parse_expression
from ganforge.latent.project import (
    Projection,
    Settings,
    load_projection,
    parse_dataset_spec,
    project,
)
from ganforge.models import ModelSpec, build_models
from tests.conftest import assert_one_line_error, run_cli, trained_run
from tests.test_latent import CELL

QUICK = ("--steps", "3", "--restarts", "1")


@pytest.fixture(autouse=True)
def one_thread():
    """Projection runs hundreds of tiny steps; on shared, busy cores two threads make each of
    them wait for the other (measured: 38 s instead of 0.5 s for the class-search test)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """20 steps of a width-8 DCGAN on real MNIST (unconditional)."""
    return trained_run(tmp_path_factory.getbasetemp(), "tiny-project", steps=20)


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory):
    """The latent tests' conditional run (same folder and settings, so trained once)."""
    return trained_run(tmp_path_factory.getbasetemp(), "tiny-conditional", steps=30,
                       conditional=True)


def untrained_generator(conditional: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    config = Config(model="dcgan", width=8, latent_dim=16, conditional=conditional)
    generator, _ = build_models(config, ModelSpec(1, 28, 10 if conditional else 0))
    return generator.eval()


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) / 2).square().mean(dim=(1, 2, 3))


# ----- the optimisation -----
def test_projecting_generated_images_recovers_them():
    """Targets made by G from known latents are reconstructed far better than by random latents."""
    generator = untrained_generator()
    truth = noise(4, 16, seed=123)
    targets = generate(generator, truth)
    settings = Settings(steps=60, restarts=1, feature_weight=0.0, lr=0.1)
    projection = project(generator, targets, ["a", "b", "c", "d"], settings=settings)
    random_error = mse(generate(generator, noise(4, 16, seed=9)), targets)
    error = projection.mse()
    assert (error < 0.2 * random_error).all(), (error, random_error)
    assert torch.allclose(projection.reconstructions, generate(generator, projection.z))
    assert projection.names == ["a", "b", "c", "d"] and projection.labels.tolist() == [-1] * 4


def test_conditional_projection_finds_the_class():
    """An image drawn in class 3 is reconstructed best in class 3; --class pins the class."""
    generator = untrained_generator(conditional=True)
    truth = noise(2, 16, seed=5)
    targets = generate(generator, truth, torch.tensor([3, 3]))
    settings = Settings(steps=60, restarts=1, feature_weight=0.0, lr=0.1)
    found = project(generator, targets, settings=settings)
    pinned = project(generator, targets, label=7, settings=settings)
    assert found.labels.tolist() == [3, 3]
    assert pinned.labels.tolist() == [7, 7]
    assert (found.mse() < pinned.mse()).all()


def test_settings_and_specs_are_checked():
    generator = untrained_generator()
    with pytest.raises(GanforgeError, match="--steps must be at least 1"):
        project(generator, torch.zeros(1, 1, 28, 28, dtype=torch.uint8), settings=Settings(steps=0))
    with pytest.raises(GanforgeError, match="--class needs a conditional model"):
        project(generator, torch.zeros(1, 1, 28, 28, dtype=torch.uint8), label=3)
    assert parse_dataset_spec("test:0-3,7") == ("test", [0, 1, 2, 3, 7])
    assert parse_dataset_spec("train:5") == ("train", [5])
    for bad in ("test", "valid:1", "test:5-2", "test:a"):
        with pytest.raises(GanforgeError):
            parse_dataset_spec(bad)


def test_expressions_take_real_terms():
    terms = parse_expression("real:imgs/a-1.png - 2*real:test:7 + [3]")
    assert [(t.coefficient, t.real, t.seeds) for t in terms] == [
        (1.0, "imgs/a-1.png", ()), (-2.0, "test:7", ()), (1.0, "", (3,))]
    with pytest.raises(GanforgeError, match="names no image"):
        parse_expression("real: + [3]")


def test_saved_projection_round_trips(tmp_path):
    projection = Projection(["a.png", "test:3"], torch.randn(2, 16), torch.tensor([-1, 4]),
                            torch.tensor([0.1, 0.2]))
    loaded = load_projection(projection.save(tmp_path / "p.npz"), latent_dim=16)
    assert loaded.names == ["a.png", "test:3"]
    assert torch.equal(loaded.z, projection.z)
    z, label = loaded.find("some/folder/a.png")  # a path finds its file name
    assert torch.equal(z, projection.z[0]) and label is None
    assert loaded.find("test:3")[1] == 4
    with pytest.raises(GanforgeError, match="no projected image 'b.png'"):
        loaded.find("b.png")
    with pytest.raises(GanforgeError, match="16-d latents"):
        load_projection(tmp_path / "p.npz", latent_dim=100)


# ----- the commands, on tiny models trained on real MNIST -----
def write_digits(folder, run, count: int = 2) -> list[str]:
    """PNG files of the run's first test digits (what a user would bring)."""
    from ganforge.data.datasets import load_dataset
    from tests.conftest import DATA_DIR

    images = load_dataset("mnist", DATA_DIR, train=False, download=False).images[:count]
    paths = []
    for index, image in enumerate(images):
        path = folder / f"digit_{index}.png"
        Image.fromarray(image[0].numpy()).save(path)
        paths.append(str(path))
    return paths


def grid_cell(path, column: int, row: int = 0) -> np.ndarray:
    grid = np.asarray(Image.open(path).convert("L"))
    top, left = 2 + row * CELL, 2 + column * CELL
    return grid[top:top + 28, left:left + 28]


def test_project_then_interpolate_and_arithmetic(tiny_run, tmp_path, capsys):
    first, second = write_digits(tmp_path, tiny_run)
    out = tmp_path / "projected.npz"
    code, stdout, _ = run_cli(capsys, "project", "--run", tiny_run, first, second, *QUICK,
                              "--out", out)
    assert code == 0 and "digit_0.png: MSE" in stdout and "2 images: mean MSE" in stdout
    assert out.is_file() and out.with_suffix(".png").is_file()
    saved = load_projection(out)
    assert saved.names == ["digit_0.png", "digit_1.png"] and saved.z.shape == (2, 16)

    generator, _, _ = load_generator(tiny_run)
    code, _, _ = run_cli(capsys, "interpolate", "--run", tiny_run, "--latents", out,
                         "--from", f"real:{first}", "--to", "real:digit_1.png", "--steps", 5,
                         "--out", tmp_path / "interp.png")
    assert code == 0
    ends = to_uint8(generate(generator, saved.z))[:, 0].numpy()
    assert np.array_equal(grid_cell(tmp_path / "interp.png", 0), ends[0])
    assert np.array_equal(grid_cell(tmp_path / "interp.png", 4), ends[1])

    code, stdout, _ = run_cli(capsys, "arithmetic", "--run", tiny_run, "--latents", out,
                              "--expr", "real:digit_0.png - real:digit_1.png + [3]",
                              "--out", tmp_path / "arith.png")
    assert code == 0 and "projected latent of real image digit_0.png" in stdout
    expected = saved.z[0] - saved.z[1] + noise(1, 16, 3)[0]
    norm = float(re.search(r"= result\s+\|z\| = ([\d.]+)", stdout).group(1))
    assert norm == pytest.approx(expected.norm().item(), abs=0.01)


def test_real_endpoints_are_projected_on_the_fly(conditional_run, tmp_path, capsys):
    """Without --latents, real:test:K is projected from the run's dataset; a conditional run
    morphs the class along with z."""
    code, stdout, _ = run_cli(capsys, "interpolate", "--run", conditional_run, "--from",
                              "real:test:0", "--to", "real:test:1", "--project-steps", 3,
                              "--steps", 4, "--out", tmp_path / "i.png")
    assert code == 0, stdout
    assert "real:test:0: projected in 3 steps" in stdout
    assert re.search(r"\(class \d→\d\)", stdout)
    code, stdout, _ = run_cli(capsys, "project", "--run", conditional_run, "--from-dataset",
                              "test:0-2", "--class", 7, *QUICK, "--out", tmp_path / "p.npz")
    assert code == 0 and stdout.count("class 7") == 3
    assert load_projection(tmp_path / "p.npz").labels.tolist() == [7, 7, 7]


def test_project_errors_are_one_line(tiny_run, tmp_path, capsys):
    garbage = tmp_path / "broken.png"
    garbage.write_bytes(b"not an image")
    saved = tmp_path / "saved.npz"
    Projection(["x.png"], torch.zeros(1, 16), torch.tensor([-1])).save(saved)
    cases = [
        (("project", "--run", tiny_run, tmp_path / "missing.png"), "does not exist"),
        (("project", "--run", tiny_run, garbage), "cannot read image"),
        (("project", "--run", tiny_run, "--from-dataset", "test:0", "--steps", 0),
         "--steps must be at least 1"),
        (("project", "--run", tiny_run, "--from-dataset", "test:0", "--class", 3),
         "--class needs a conditional model"),
        (("project", "--run", tiny_run), "give image files"),
        (("project", "--run", tiny_run, "--from-dataset", "test:99999"), "past the end"),
        (("project", "--run", tiny_run, "--from-dataset", "test:0", "--out", tmp_path / "x.png"),
         "must end in .npz"),
        (("interpolate", "--run", tiny_run, "--from", "real:x.png", "--to", "abc"),
         "neither a seed nor a real image"),
        (("interpolate", "--run", tiny_run, "--latents", saved, "--from", "real:x.png",
          "--to", "real:y.png"), "no projected image 'y.png'"),
        (("arithmetic", "--run", tiny_run, "--latents", tmp_path / "none.npz", "--expr",
          "real:x.png"), "projection file"),
        (("arithmetic", "--run", tiny_run, "--expr", "real:x.png+[3]"), "leave a space"),
    ]
    for args, fragment in cases:
        assert_one_line_error(*run_cli(capsys, *args)[::2], fragment)
