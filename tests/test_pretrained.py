"""The generators shipped in the package: checksummed, usable straight after install, and the
conditional one draws the class it is asked for (read by the shipped evaluator)."""

from __future__ import annotations

import shutil

import pytest
import torch

import ganforge
from ganforge.errors import GanforgeError
from ganforge.generation import pretrained
from ganforge.metrics.classifier import features_and_probs, load_domain_classifier
from tests.conftest import assert_one_line_error, run_cli

SHIPPED = pretrained.names()
needs_shipped = pytest.mark.skipif("mnist" not in SHIPPED, reason="no pretrained mnist generator")


def test_manifest_records_checksum_training_and_evaluation():
    assert {"mnist", "fashion-mnist"} <= set(SHIPPED)
    for name in SHIPPED:
        entry = pretrained.read_manifest()[name]
        path = pretrained.pretrained_path(name)  # checks the sha256
        assert path.stat().st_size == entry["size_bytes"] < 8_000_000
        assert entry["trained_with"]["command"].startswith("ganforge train")
        assert entry["trained_with"]["step"] > 0
        assert 0 < entry["evaluation"]["fid"] and entry["evaluation"]["protocol"]
        assert entry["evaluation"]["domain2_fid"] > 0


def test_a_damaged_file_is_refused(tmp_path):
    folder = tmp_path / "pretrained"
    shutil.copytree(pretrained.pretrained_dir(), folder)
    path = folder / pretrained.read_manifest()["mnist"]["file"]
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(GanforgeError, match="sha256 .* the manifest expects"):
        pretrained.pretrained_path("mnist", folder)


def test_an_unknown_name_is_one_line_listing_the_shipped_ones(capsys):
    with pytest.raises(GanforgeError, match="did you mean 'mnist'"):
        pretrained.pretrained_path("mnsit")
    assert_one_line_error(*run_cli(capsys, "sample", "--pretrained", "celeba"), "mnist")


@needs_shipped
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_every_class_of_the_conditional_generator_is_drawn_as_asked(name):
    """`sample --class k`: the shipped evaluator reads at least 90 % of 200 images as k."""
    model, _ = load_domain_classifier(name)
    for k in range(10):
        images, meta = ganforge.sample(f"pretrained:{name}", n=200, label=k, seed=k)
        _, probs = features_and_probs(model, images, "cpu")
        accuracy = (probs.argmax(1) == k).double().mean().item()
        assert accuracy >= 0.9, f"{name}: class {k} drawn as {k} only {accuracy:.0%} of the time"
    assert meta["output_dir"] == f"pretrained-{name}"


@needs_shipped
def test_commands_work_with_the_shipped_generator_and_write_to_the_working_folder(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (["sample", "--pretrained", "mnist", "--n", "16"],
                 ["interpolate", "--pretrained", "mnist", "--random", "1", "--steps", "4"],
                 ["arithmetic", "--pretrained", "mnist", "--expr", "[1,2] - [3] + [4]"],
                 ["traverse", "--pretrained", "mnist", "--direction", "class:3", "--steps", "3",
                  "--samples", "200", "--seeds", "0,1"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, err
    written = sorted(p.relative_to(tmp_path / "pretrained-mnist").as_posix()
                     for p in (tmp_path / "pretrained-mnist").rglob("*.png"))
    assert written == ["explore/arithmetic.png", "explore/interpolate.png",
                       "explore/traverse_class_3.png", "samples/sample.png"]


@needs_shipped
def test_run_and_pretrained_together_is_an_error(capsys):
    assert_one_line_error(*run_cli(capsys, "sample", "--pretrained", "mnist", "--run", "x"),
                          "give one of --run")


@needs_shipped
def test_evaluate_accepts_a_shipped_generator(data_dir):
    result = ganforge.evaluate("pretrained:mnist", data_dir=data_dir, n=500, bootstrap=0,
                               extra_protocols=False, device="cpu")
    assert result["n"] == 500 and result["fid"] < 5 and result["label_accuracy"] > 0.9
    assert torch.is_tensor(ganforge.sample("pretrained:mnist", n=4)[0])
