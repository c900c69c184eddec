"""Latent exploration: slerp/lerp properties, latent arithmetic, attribute directions, and the
interpolate / arithmetic / traverse commands on a tiny model trained on real MNIST."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate, noise
from ganforge.latent import (
    attribute_direction,
    direction_from_attribute_file,
    directions_from_labels,
    evaluate_expression,
    ink_mass,
    interpolation_path,
    lerp,
    parse_expression,
    seed_latents,
    slant,
    slerp,
)
from tests.conftest import assert_one_line_error, run_cli

CELL = 28 + 2  # one image in a grid: 28 px plus the 2 px padding


# ----- slerp / lerp -----
def test_slerp_endpoints_are_exact_and_it_keeps_gaussian_norms():
    torch.manual_seed(0)
    dim = 512
    a, b = torch.randn(64, dim), torch.randn(64, dim)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    path = interpolation_path(a, b, 9, "slerp")
    assert path.shape == (64, 9, dim)
    assert torch.equal(path[:, 0], a) and torch.equal(path[:, -1], b)
    norms = path.norm(dim=-1) / math.sqrt(dim)  # a standard-normal latent has norm ≈ √dim
    assert (norms - 1).abs().max() < 0.12
    middle = lerp(a, b, 0.5).norm(dim=-1) / math.sqrt(dim)
    assert (middle - math.sqrt(0.5)).abs().max() < 0.08  # lerp cuts inside the shell
    line = interpolation_path(a, b, 9, "lerp")
    assert torch.equal(line[:, 0], a) and torch.allclose(line[:, -1], b)


def test_slerp_handles_batched_times_and_parallel_vectors():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    t = torch.tensor([0.0, 0.5, 1.0])
    out = slerp(a, b, t)
    assert torch.equal(out[0], a[0]) and torch.equal(out[2], b[2])
    assert torch.allclose(out[1], slerp(a[1], b[1], 0.5))
    parallel = slerp(a, 2 * a, 0.5)  # sin ω = 0: falls back to lerp instead of dividing by 0
    assert torch.isfinite(parallel).all() and torch.allclose(parallel, 1.5 * a, atol=1e-5)
    with pytest.raises(GanforgeError, match="slerp or lerp"):
        interpolation_path(a, b, 5, "cubic")
    with pytest.raises(GanforgeError, match="at least 2"):
        interpolation_path(a, b, 1)


# ----- arithmetic -----
def test_expression_parsing():
    terms = parse_expression("[1, 5,9] - [2] + 2*thick - 0.5*class:3 + 7")
    assert [(t.coefficient, t.seeds, t.direction) for t in terms] == [
        (1.0, (1, 5, 9), ""), (-1.0, (2,), ""), (2.0, (), "thick"), (-0.5, (), "class:3"),
        (1.0, (7,), "")]
    assert parse_expression("-[3]")[0].coefficient == -1.0
    for bad in ("", "[1,5", "[]", "[1] [2]", "[1] +", "2*", "[1] * [2]", "[a]", "[1] / [2]"):
        with pytest.raises(GanforgeError) as error:
            parse_expression(bad)
        assert "\n" not in str(error.value)


def test_arithmetic_on_group_means_is_linear():
    dim = 32
    z = {s: seed_latents([s], dim)[0] for s in range(1, 6)}
    _, vectors, result = evaluate_expression("[1,2] + [3] - [4,5]", dim)
    expected = (z[1] + z[2]) / 2 + z[3] - (z[4] + z[5]) / 2
    assert torch.allclose(result, expected, atol=1e-6)
    assert torch.allclose(vectors[0], (z[1] + z[2]) / 2)
    a = evaluate_expression("2*[1,2] - 0.5*[3,4,5]", dim)[2]
    b = evaluate_expression("2*[1,2]", dim)[2] + evaluate_expression("-0.5*[3,4,5]", dim)[2]
    assert torch.allclose(a, b, atol=1e-6)
    # the mean of a group is the equal-weight sum of its members
    assert torch.allclose(evaluate_expression("3*[1,2,3]", dim)[2],
                          evaluate_expression("1 + 2 + 3", dim)[2], atol=1e-5)
    # seed S stands for the latent noise(1, latent_dim, S)
    assert torch.equal(seed_latents([4], dim)[0], noise(1, dim, 4)[0])


# ----- directions -----
def test_directions_from_labels_recovers_a_planted_direction():
    torch.manual_seed(0)
    latents = torch.randn(4000, 16)
    planted = torch.zeros(16)
    planted[3] = 1.0
    labels = latents @ planted > 0
    direction = directions_from_labels(latents, labels)
    assert torch.nn.functional.cosine_similarity(direction, planted, dim=0) > 0.95
    signed = torch.where(labels, 1, -1)  # list_attr_celeba.txt style
    assert torch.allclose(directions_from_labels(latents, signed), direction)
    both = directions_from_labels(latents, torch.stack([labels, ~labels], 1))
    assert both.shape == (2, 16) and torch.allclose(both[1], -direction)
    with pytest.raises(GanforgeError, match="labelled the same"):
        directions_from_labels(latents, torch.ones(4000))


def test_attribute_file_gives_a_direction(tmp_path):
    dim = 16
    planted = torch.zeros(dim)
    planted[5] = 1.0
    seeds = list(range(300))
    latents = seed_latents(seeds, dim)
    rows = [f"{s:06d}.png {1 if z @ planted > 0 else -1} {1 if s % 2 else -1}"
            for s, z in zip(seeds, latents)]
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(f"{len(rows)}\nSmiling Odd\n" + "\n".join(rows) + "\n")
    direction = direction_from_attribute_file(path, "Smiling", dim)
    assert abs(direction.norm() - 1) < 1e-5 and direction @ planted > 0.8
    with pytest.raises(GanforgeError, match="not in"):
        direction_from_attribute_file(path, "Eyeglasses", dim)


def test_image_attributes():
    thin, thick = -torch.ones(1, 1, 28, 28), -torch.ones(1, 1, 28, 28)
    thin[..., 4:24, 13:15] = 1
    thick[..., 4:24, 11:17] = 1
    assert ink_mass(thick) > ink_mass(thin) > 0
    assert torch.allclose(ink_mass(((thin + 1) * 127.5).round().to(torch.uint8)), ink_mass(thin))
    leaning = -torch.ones(1, 1, 28, 28)
    for row in range(4, 24):  # top of the stroke to the right of its bottom
        column = 20 - (row - 4) // 2
        leaning[..., row, column - 1:column + 1] = 1
    assert slant(leaning) > 0.3 and abs(slant(thin)) < 1e-6
    assert slant(leaning.flip(-1)) < -0.3


@pytest.mark.slow
def test_thick_direction_increases_ink_mass(tiny_run):
    """Moving along `thick` (built from 2000 samples) raises the mean ink mass of 200 other
    samples monotonically across strengths -2, 0, 2."""
    generator, config, _ = load_generator(tiny_run)
    direction = attribute_direction(generator, "thick", config.dataset, n=2000, seed=0)
    assert abs(direction.norm() - 1) < 1e-5
    z = noise(200, generator.latent_dim, seed=999)
    ink = [ink_mass(generate(generator, z + s * direction)).mean().item() for s in (-2, 0, 2)]
    assert ink[0] < ink[1] < ink[2], ink


# ----- commands -----
def test_interpolate_command(tiny_run, tmp_path, capsys):
    out = tmp_path / "pair.png"
    code, stdout, _ = run_cli(capsys, "interpolate", "--run", tiny_run, "--from", 1, "--to", 2,
                              "--steps", 5, "--out", out)
    assert code == 0 and "seeds 1→2" in stdout
    assert Image.open(out).size == (5 * CELL + 2, CELL + 2)
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.n_frames == 2 * 5 - 2  # forth and back
    code, _, _ = run_cli(capsys, "interpolate", "--checkpoint",
                         tiny_run / "checkpoints" / "last.safetensors", "--random", 3,
                         "--method", "lerp", "--steps", 4, "--out", tmp_path / "random.png")
    assert code == 0 and Image.open(tmp_path / "random.png").size == (4 * CELL + 2, 3 * CELL + 2)
    code, stdout, _ = run_cli(capsys, "interpolate", "--run", tiny_run)  # default output path
    assert code == 0 and (tiny_run / "explore" / "interpolate.png").exists()


def test_interpolate_conditional_rows(conditional_run, tmp_path, capsys):
    out = tmp_path / "classes.png"
    code, stdout, _ = run_cli(capsys, "interpolate", "--run", conditional_run, "--from", 4,
                              "--to", 5, "--steps", 6, "--classes", "3,8", "--out", out)
    assert code == 0 and "class 3→8" in stdout and "classes 0..9" in stdout
    # the seed row, the class-embedding morph and the 10-class row (padded to 10 columns)
    assert Image.open(out).size == (10 * CELL + 2, 3 * CELL + 2)
    generator, _, _ = load_generator(conditional_run)
    from ganforge.latent import class_morph_row, class_sweep_row

    morph = class_morph_row(generator, 4, 3, 8, 6)
    sweep = class_sweep_row(generator, 4)
    assert torch.allclose(morph[0], sweep[3], atol=1e-5)  # the morph starts at class 3 …
    assert torch.allclose(morph[-1], sweep[8], atol=1e-5)  # … and ends at class 8


def test_arithmetic_and_traverse_commands(tiny_run, tmp_path, capsys):
    out = tmp_path / "arith.png"
    code, stdout, _ = run_cli(capsys, "arithmetic", "--run", tiny_run, "--expr",
                              "[1,5,9] - [2,4] + [7] + 2*thick", "--samples", 400, "--out", out)
    assert code == 0 and out.exists()
    assert "+ mean latent of seeds [1,5,9]" in stdout and "- mean latent of seeds [2,4]" in stdout
    assert "+ 2*direction 'thick'" in stdout and "= result" in stdout
    code, stdout, _ = run_cli(capsys, "arithmetic", "--run", tiny_run, "--direction", "slant",
                              "--strength=-2..2", "--steps", 5, "--seeds", "0,1", "--samples", 400,
                              "--out", tmp_path / "slant.png")
    assert code == 0 and Image.open(tmp_path / "slant.png").size == (5 * CELL + 2, 2 * CELL + 2)
    code, stdout, _ = run_cli(capsys, "traverse", "--run", tiny_run, "--direction", "class:3",
                              "--strength=-1,0,1", "--samples", 400)
    assert code == 0 and (tiny_run / "explore" / "traverse_class_3.png").exists()


def test_command_errors_are_one_line(tiny_run, tmp_path, capsys):
    cases = [
        (("interpolate",), "--run"),
        (("interpolate", "--run", tiny_run, "--from", 1), "--to"),
        (("interpolate", "--run", tiny_run, "--classes", "3,8"), "conditional"),
        (("interpolate", "--run", tiny_run, "--steps", 1), "at least 2"),
        (("arithmetic", "--run", tiny_run), "--expr"),
        (("arithmetic", "--run", tiny_run, "--expr", "[1] +"), "operator"),
        (("arithmetic", "--run", tiny_run, "--expr", "[1] + smile"), "unknown attribute"),
        (("traverse", "--run", tiny_run, "--direction", "thick", "--strength", "big"), "--strength"),
        (("traverse", "--run", tiny_run, "--direction", "class:12"), "0..9"),
        (("traverse", "--run", tmp_path / "missing", "--direction", "thick"), "missing"),
    ]
    for args, fragment in cases:
        assert_one_line_error(*run_cli(capsys, *args)[::2], fragment)
