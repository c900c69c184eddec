"""The memorisation check (`ganforge evaluate --nearest`): nearest training images in feature and
pixel space, copy rates against the held-out baseline, the pictures, eval.json and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import build_parser
from ganforge.config import config_from_dict
from ganforge.data.datasets import load_dataset
from ganforge.data.training_set import load_training_set
from ganforge.generation.rundir import RunDir
from ganforge.metrics.evaluate import format_table
from ganforge.metrics.features import feature_net
from ganforge.metrics.nearest import (
    DEFAULT_SAMPLES,
    check_memorisation,
    copy_numbers,
    nearest_neighbours,
    neighbour_grid,
)
from ganforge.report.html import write_report
from tests.conftest import DATA_DIR, HAVE_MNIST, assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def mnist():
    """3,000 training images, and the test split shuffled: 1,000 held-out images for the
    threshold, then other test images to play samples."""
    if not HAVE_MNIST:
        pytest.skip(f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
    train = load_dataset("mnist", DATA_DIR, train=True).images[:3000]
    test = load_dataset("mnist", DATA_DIR, train=False).images
    test = test[torch.randperm(len(test), generator=torch.Generator().manual_seed(1))]
    return train, test[:1000], test[1000:]


@pytest.fixture(scope="module")
def net():
    return feature_net("domain", "mnist")


# ----- nearest neighbours and copy numbers -----
def test_chunked_neighbours_match_brute_force():
    torch.manual_seed(0)
    queries, keys = torch.randn(37, 8), torch.randn(101, 8)
    found = nearest_neighbours(queries, keys, k=4, chunk=10, key_chunk=16)
    brute = torch.cdist(queries.double(), keys.double()).sort(dim=1)
    assert torch.equal(found.indices, brute.indices[:, :4])
    assert torch.allclose(found.distances.double(), brute.values[:, :4], atol=1e-5)


def test_copy_numbers_count_samples_at_or_below_the_held_out_quantile():
    held_out = torch.arange(1, 101, dtype=torch.float32)  # 5th percentile: 5.95
    numbers = copy_numbers(torch.tensor([0.0, 5.0, 6.0, 50.0]), held_out, quantile=0.05)
    assert numbers["threshold"] == pytest.approx(5.95)
    assert numbers["copy_rate"] == 0.5 and numbers["copy_rate_heldout"] == 0.05
    low, high = numbers["copy_rate_ci95"]  # Wilson interval of 2 in 4: 0.150 … 0.850
    assert low == pytest.approx(0.1500, abs=1e-4) and high == pytest.approx(0.8500, abs=1e-4)
    assert numbers["median"] == 5.0 and numbers["median_heldout"] == 50.0


def test_a_training_image_is_its_own_nearest_neighbour_at_distance_zero(mnist, net):
    train, held_out, _ = mnist
    picked = torch.tensor([5, 400, 2999])
    check = check_memorisation(train[picked], train, held_out, net, k=3)
    for space in ("features", "pixels"):
        found = check.neighbours[space]
        assert torch.equal(found.indices[:, 0], picked), space
        assert torch.all(found.distances[:, 0] == 0), space
        assert torch.all(found.distances[:, 1] > 0), space  # MNIST has no exact duplicates here


def test_copies_of_training_images_have_copy_rate_one(mnist, net):
    train, held_out, _ = mnist
    check = check_memorisation(train[1000:1064], train, held_out, net)
    numbers = check.numbers
    assert numbers["nearest_copy_rate"] == 1.0 and numbers["nearest_pixel_copy_rate"] == 1.0
    assert numbers["nearest_median"] == 0.0 and numbers["nearest_median_heldout"] > 0
    assert numbers["nearest_copy_rate_heldout"] == pytest.approx(0.05, abs=0.002)


def test_held_out_images_have_about_the_baseline_copy_rate(mnist, net):
    train, held_out, other_test = mnist
    numbers = check_memorisation(other_test[:1000], train, held_out, net).numbers
    for prefix in ("nearest_", "nearest_pixel_"):
        assert 0.02 <= numbers[prefix + "copy_rate"] <= 0.09, prefix
        assert numbers[prefix + "median"] == pytest.approx(numbers[prefix + "median_heldout"],
                                                           rel=0.1), prefix


def test_neighbour_grid_shows_each_sample_then_its_neighbours(mnist, net):
    train, held_out, _ = mnist
    samples = train[[7, 8]].flip(-1)  # mirrored digits: not copies, but with neighbours
    found = check_memorisation(samples, train, held_out, net, k=4).neighbours["pixels"]
    grid = np.asarray(neighbour_grid(samples, train, found))
    assert grid.shape == (2 * 30 + 2, 5 * 30 + 2)  # 2 rows of sample + 4 neighbours
    closest = found.distances[:, 0].argmin().item()  # the closer sample comes first
    assert np.array_equal(grid[2:30, 2:30], samples[closest, 0].numpy())
    neighbour = train[found.indices[closest, 0], 0].numpy()
    assert np.array_equal(grid[2:30, 32:60], neighbour)


# ----- command line, eval.json, report -----
def test_nearest_flag_defaults_and_bad_values(tmp_path, capsys):
    args = build_parser().parse_args(["evaluate", "x.npz", "--nearest"])
    assert args.nearest == DEFAULT_SAMPLES and args.nearest_k == 5
    np.savez(tmp_path / "s.npz", x=np.zeros((20, 28, 28), np.uint8))
    assert_one_line_error(*run_cli(capsys, "evaluate", tmp_path / "s.npz", "--nearest", "0")[::2],
                          "--nearest must be at least 1")
    assert_one_line_error(*run_cli(capsys, "evaluate", tmp_path / "s.npz", "--nearest",
                                   "--nearest-k", "0")[::2], "--nearest-k must be at least 1")
    assert_one_line_error(*run_cli(capsys, "evaluate", tmp_path / "s.npz", "--nearest")[::2],
                          "--dataset", "--nearest compares them with its training split")
    assert_one_line_error(*run_cli(capsys, "evaluate", tmp_path / "s.npz", "--nearest",
                                   "--dataset", f"folder:{tmp_path}")[::2],
                          "held-out test split")


NEAREST_KEYS = ("nearest_copy_rate", "nearest_copy_rate_ci95", "nearest_copy_rate_heldout",
                "nearest_threshold", "nearest_median", "nearest_median_heldout", "nearest_pixel_copy_rate",
                "nearest_pixel_copy_rate_heldout", "nearest_pixel_median",
                "nearest_pixel_median_heldout", "nearest_n", "nearest_k", "nearest_n_train",
                "nearest_n_heldout", "nearest_features", "nearest_grid", "nearest_pixel_grid")


@pytest.mark.slow
def test_evaluate_nearest_writes_numbers_pictures_and_report(tiny_run, tmp_path,  # noqa: F811
                                                             capsys):
    out = tmp_path / "eval.json"
    code, printed, err = run_cli(capsys, "evaluate", tiny_run, "--nearest", "12", "--nearest-k",
                                 "3", "--n", "200", "--bootstrap", "0", "--main-only",
                                 "--out", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert all(key in result for key in NEAREST_KEYS)
    assert result["nearest_n"] == 12 and result["nearest_k"] == 3
    trained_on = len(load_training_set(config_from_dict(RunDir(tiny_run).read_config())))
    assert result["nearest_n_train"] == trained_on < 2000  # the run's own set (--subset 0.02)
    assert 0 <= result["nearest_copy_rate"] <= 1
    assert f"memorisation: 12 samples vs {trained_on} training images" in printed
    assert not any(line.startswith("nearest_") for line in printed.splitlines())
    for key in ("nearest_grid", "nearest_pixel_grid"):
        assert Image.open(result[key]).size == (4 * 30 + 2, 12 * 30 + 2)
        assert result[key].startswith(str(tmp_path))  # next to --out, not in the run folder
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss_d": 1.0, "loss_g": 1.0,
                                                   "d_real": 0.5, "d_fake": 0.5}) + "\n")
    (run / "eval.json").write_text(out.read_text())
    write_report(run, interpolation=False)
    markdown = (run / "report.md").read_text()
    assert "## Memorisation" in markdown
    assert f"| pixels | {100 * result['nearest_pixel_copy_rate']:.1f} % | " in markdown
    assert (run / "report_files" / "nearest.png").exists()
    assert (run / "report_files" / "nearest_pixels.png").exists()


def test_the_table_shows_memorisation_apart_from_the_main_numbers():
    result = {"fid": 1.0, "n": 100, "protocol": "p", "nearest_n": 64, "nearest_n_train": 143,
              "nearest_quantile": 0.05, "nearest_n_heldout": 2000, "nearest_features": "domain",
              "nearest_grid": "a.png", "nearest_pixel_grid": "b.png"}
    for prefix in ("nearest_", "nearest_pixel_"):
        result.update({prefix + "copy_rate": 0.75, prefix + "copy_rate_heldout": 0.05,
                       prefix + "median": 0.1, prefix + "median_heldout": 1.0,
                       prefix + "threshold": 0.5, prefix + "copy_rate_ci95": [0.6, 0.85]})
    table = format_table(result)
    assert "memorisation: 64 samples vs 143 training images" in table
    assert "pixels  0.75       0.600–0.850" in table and "domain  0.75" in table
    assert "nearest_copy_rate" not in table
