"""`--calibrate-levels`: a generator's pixel levels mapped onto its training images'."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from ganforge.config import build_config
from ganforge.errors import GanforgeError
from ganforge.evaluation import evaluate_generator
from ganforge.generation.checkpoint import read_checkpoint_meta, save_checkpoint
from ganforge.generation.ensemble import build_ensemble
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate, noise
from ganforge.models.levels import OutputLevels, level_targets
from tests.conftest import (
    assert_one_line_error,
    checkpoint_tensors,
    cli,
    run_cli,
    tiny_overrides,
    train,
    trained_run,
)


def mnist_like(n: int, seed: int) -> torch.Tensor:
    """n pixels in [-1, 1] (as N×1×10×10 images) with MNIST's shape of histogram: 80 %
    background, 7 % full ink."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g)
    grey = torch.rand(n, generator=g) * 2 - 1
    return torch.where(u < 0.8, -1.0, torch.where(u > 0.93, 1.0, grey)).view(-1, 1, 10, 10)


def images_of(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 10, 10)


def test_fitted_curve_gives_samples_the_reference_pixel_distribution():
    generated = torch.randn(200_000, generator=torch.Generator().manual_seed(0)).tanh() * 0.9
    reference = mnist_like(200_000, 1)
    levels = OutputLevels.fit(images_of(generated), level_targets(reference))
    mapped = levels(torch.randn(200_000, generator=torch.Generator().manual_seed(2)).tanh() * 0.9)
    p = torch.linspace(0.01, 0.99, 99)
    assert torch.allclose(mapped.quantile(p), reference.flatten().quantile(p), atol=0.02)
    assert abs(float((mapped == -1).float().mean()) - 0.8) < 0.01  # the haze is gone
    assert len(levels.curves[0][0]) < 300  # the two flat runs keep only their ends


def test_curve_is_monotone_clamps_outside_its_range_and_keeps_shape_and_dtype():
    levels = OutputLevels.fit(images_of(torch.rand(50_000) * 1.6 - 0.8),
                              level_targets(mnist_like(50_000, 3)))
    x = torch.linspace(-1, 1, 2001)
    y = levels(x)
    assert torch.all(y[1:] >= y[:-1]) and y.min() >= -1 and y.max() <= 1
    assert y[0] == y[:100].max() == -1.0  # below the fitted range: the lowest output
    images = torch.rand(4, 1, 28, 28, dtype=torch.float64) * 2 - 1
    assert levels(images).shape == images.shape and levels(images).dtype == torch.float64


def test_same_distribution_gives_nearly_the_identity():
    values = torch.rand(100_000, generator=torch.Generator().manual_seed(4)) * 2 - 1
    levels = OutputLevels.fit(images_of(values),
                              level_targets(images_of(torch.rand(100_000) * 2 - 1)))
    x = torch.linspace(-0.95, 0.95, 101)
    assert (levels(x) - x).abs().max() < 0.03


def test_samples_of_one_value_cannot_be_calibrated():
    with pytest.raises(GanforgeError, match="single pixel value"):
        OutputLevels.fit(images_of(torch.full((1000,), -1.0)), level_targets(mnist_like(1000, 5)))


def test_colour_channels_are_matched_one_by_one():
    g = torch.Generator().manual_seed(6)
    generated = torch.rand(2000, 3, 8, 8, generator=g) * 2 - 1
    reference = torch.stack([torch.rand(2000, 8, 8, generator=g) * 0.5 - 1,    # dark
                             torch.rand(2000, 8, 8, generator=g) * 2 - 1,      # as generated
                             torch.rand(2000, 8, 8, generator=g) * 0.5 + 0.5], dim=1)  # bright
    mapped = OutputLevels.fit(generated, level_targets(reference))(torch.rand(2000, 3, 8, 8) * 2 - 1)
    for c in range(3):
        assert abs(float(mapped[:, c].mean() - reference[:, c].mean())) < 0.02


def knots(inputs, outputs) -> dict:
    return {"channels": [{"inputs": inputs, "outputs": outputs}]}


@pytest.mark.parametrize("meta", [
    knots([0.0, 0.0], [0.0, 1.0]),           # inputs not increasing
    knots([0.0, 1.0], [1.0, 0.0]),           # outputs decreasing
    knots([0.0, float("nan")], [0.0, 1.0]),  # not finite
    knots([0.0, 1.0, 2.0], [0.0, 1.0]),      # lengths differ
    knots("0 1", [0.0, 1.0]),
    {"channels": [{"outputs": [0.0, 1.0]}]},
    {"channels": []},
    {"inputs": [0.0, 1.0], "outputs": [0.0, 1.0]},
    [0.0, 1.0],
])
def test_damaged_curves_are_refused(meta):
    with pytest.raises(GanforgeError, match="output_levels"):
        OutputLevels.from_meta(meta)


# ----- end to end: training, checkpoints, sampling, evaluation -----
@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory) -> torch.Tensor:
    return trained_run(tmp_path_factory.getbasetemp(), "tiny-calibrated", steps=40,
                       calibrate_levels=500)


def last_meta(run) -> dict:
    return read_checkpoint_meta(run / "checkpoints" / "last.safetensors")


def test_training_never_sees_the_curve_and_calibrate_fits_the_same_one_afterwards(
        data_dir, tmp_path, calibrated_run, capsys):
    """The same run without --calibrate-levels ends with the same weights, bit for bit; `ganforge
    calibrate` then gives it the curve training would have fitted, and --n 0 takes it away."""
    raw = tmp_path / "raw"
    assert train(data_dir, raw, steps=40) == 0
    with_curve, without = checkpoint_tensors(calibrated_run), checkpoint_tensors(raw)
    assert with_curve.keys() == without.keys()
    assert [k for k in with_curve if not torch.equal(with_curve[k], without[k])] == []
    assert "output_levels" not in last_meta(raw)

    code, out, _ = run_cli(capsys, "calibrate", raw, "--n", "500")
    assert code == 0 and "last.safetensors" in out
    assert last_meta(raw)["output_levels"] == last_meta(calibrated_run)["output_levels"]
    after = checkpoint_tensors(raw)
    assert [k for k in without if not torch.equal(without[k], after[k])] == []
    assert run_cli(capsys, "calibrate", raw, "--n", "0")[0] == 0
    assert "output_levels" not in last_meta(raw)
    generator, _, _ = load_generator(raw)
    assert generator.output_levels is None


@pytest.mark.parametrize("args, fragment", [
    (["pretrained:mnist"], "checksummed"),
    (["/nonexistent/run"], "does not exist"),
    (["RUN", "--n", "-1"], "--n -1"),
])
def test_calibrate_refuses_bad_input_in_one_line(calibrated_run, capsys, args, fragment):
    before = last_meta(calibrated_run)
    args = [str(calibrated_run) if a == "RUN" else a for a in args]
    code, _, err = run_cli(capsys, "calibrate", *args)
    assert_one_line_error(code, err, fragment)
    assert last_meta(calibrated_run) == before


def test_calibrate_refuses_an_ensemble(calibrated_run, tiny_run, tmp_path, capsys):
    assert run_cli(capsys, "ensemble", calibrated_run, tiny_run, "--out", tmp_path / "pair")[0] == 0
    code, _, err = run_cli(capsys, "calibrate", tmp_path / "pair")
    assert_one_line_error(code, err, "is an ensemble", "calibrate its members")


@torch.no_grad()
def test_loaded_generator_samples_through_its_saved_curve(calibrated_run):
    meta = read_checkpoint_meta(calibrated_run / "checkpoints" / "last.safetensors")
    curve = OutputLevels.from_meta(meta["output_levels"])
    generator, _, _ = load_generator(calibrated_run)
    assert generator.output_levels is not None
    z = noise(64, generator.latent_dim, 0)
    calibrated = generate(generator, z)
    generator.output_levels = None
    raw = generate(generator, z)
    assert torch.equal(calibrated, curve(raw)) and not torch.equal(calibrated, raw)
    # the curve belongs to the EMA generator it was fitted to
    online, _, _ = load_generator(calibrated_run, use_ema=False)
    assert online.output_levels is None


def test_calibrated_samples_lose_the_background_haze(calibrated_run):
    generator, _, _ = load_generator(calibrated_run)
    z = noise(500, generator.latent_dim, 1)
    calibrated = generate(generator, z)
    generator.output_levels = None
    raw = generate(generator, z)
    # real MNIST: 80 % of pixels are exactly 0; a young generator's tanh never reaches -1
    assert float((calibrated == -1).float().mean()) > 0.6
    assert float((raw == -1).float().mean()) < 0.2


def test_evaluation_protocol_says_the_levels_were_mapped(calibrated_run):
    generator, config, _ = load_generator(calibrated_run)
    result = evaluate_generator(generator, config, n=200)
    assert "pixel levels mapped onto the training images'" in result["protocol"]
    assert result["output_levels"].startswith("pixel levels")
    generator.output_levels = None
    assert "pixel levels" not in evaluate_generator(generator, config, n=200)["protocol"]


def test_ensemble_keeps_each_members_curve(calibrated_run, tiny_run):
    mixture, meta = build_ensemble([str(calibrated_run), str(tiny_run)])
    assert mixture.members[0].output_levels is not None and mixture.members[1].output_levels is None
    assert meta["ensemble"][0]["output_levels"] is not None
    config = build_config(None, overrides=meta["config"])
    result = evaluate_generator(mixture, config, n=200)
    assert "(1 of 2 members)" in result["protocol"]


@pytest.mark.slow
def test_resume_with_calibration_is_bit_exact(data_dir, tmp_path):
    assert train(data_dir, tmp_path / "straight", steps=20, calibrate_levels=300) == 0
    assert train(data_dir, tmp_path / "split", steps=10, calibrate_levels=300) == 0
    assert cli("train", "--resume", str(tmp_path / "split"), "--steps", "20") == 0
    straight, split = (checkpoint_tensors(tmp_path / name) for name in ("straight", "split"))
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []
    metas = [read_checkpoint_meta(tmp_path / name / "checkpoints" / "last.safetensors")
             for name in ("straight", "split")]
    assert metas[0]["output_levels"] == metas[1]["output_levels"]


def test_damaged_curve_in_a_checkpoint_is_one_line(calibrated_run, tmp_path, capsys):
    path = calibrated_run / "checkpoints" / "last.safetensors"
    tensors = load_file(str(path))
    meta = read_checkpoint_meta(path)
    meta["output_levels"]["channels"][0]["outputs"].reverse()
    broken = tmp_path / "broken.safetensors"
    save_checkpoint(broken, tensors, meta)
    code, _, err = run_cli(capsys, "sample", "--checkpoint", str(broken), "--out", str(tmp_path / "s.png"))
    assert_one_line_error(code, err, "output_levels", "damaged")
    assert not (tmp_path / "s.png").exists()


def test_negative_sample_count_is_a_config_error(data_dir, tmp_path, capsys):
    values = tiny_overrides(data_dir, tmp_path / "r")
    code, _, err = run_cli(capsys, "train", "--data-dir", values["data_dir"], "--run-dir",
                           values["run_dir"], "--calibrate-levels", "-5", "--steps", "1")
    assert_one_line_error(code, err, "calibrate_levels", ">= 0")
