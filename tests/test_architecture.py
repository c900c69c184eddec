"""The package's shape: one-way layers, registries that every list is derived from, and docs that
match them. tools/import_graph.py holds the layer table; docs/architecture.md is generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from ganforge.config import PRESETS
from ganforge.data.augment import AUGMENTATIONS
from ganforge.data.datasets import DATASETS
from ganforge.losses import LOSSES
from ganforge.metrics import catalog
from ganforge.metrics.features import FEATURES
from ganforge.models import MODELS
from tools import import_graph

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


# ----- layers -----
def test_no_module_imports_a_higher_layer():
    assert import_graph.violations() == []


def test_the_parts_of_the_package_import_each_other_one_way_only():
    assert import_graph.package_cycles() == []


def test_the_checker_sees_lazy_imports_inside_functions(tmp_path, monkeypatch):
    package = tmp_path / "ganforge"
    (package / "data").mkdir(parents=True)
    (package / "data" / "__init__.py").write_text("")
    (package / "report").mkdir()
    (package / "report" / "__init__.py").write_text("")
    (package / "data" / "loader.py").write_text(
        "def load():\n    from ganforge.report import html\n    return html\n")
    (package / "report" / "html.py").write_text("")
    monkeypatch.setattr(import_graph, "PACKAGE", package)
    found = import_graph.violations()
    assert found == ["data.loader (core) imports report.html (tools), a higher layer"]


def test_the_checker_reports_a_cycle_between_parts():
    edges = {"metrics.a": {"latent.b"}, "latent.b": {"metrics.a"}}
    assert import_graph.package_cycles(edges) in (
        [["latent", "metrics", "latent"]], [["metrics", "latent", "metrics"]])


def test_every_module_is_in_a_layer():
    for module in import_graph.graph():
        import_graph.layer_of(module)  # raises for a module no layer claims


def test_architecture_doc_shows_the_current_import_graph():
    doc = (REPO / "docs" / "architecture.md").read_text()
    assert import_graph.generated_block() in doc, \
        "docs/architecture.md is stale: run `python tools/import_graph.py --write`"


def test_architecture_doc_names_only_functions_that_exist():
    """The data-flow walk-throughs name real functions, so a rename makes them fail here."""
    import importlib

    doc = (REPO / "docs" / "architecture.md").read_text()
    names = re.findall(r"`(ganforge(?:\.\w+)+)`", doc)
    assert len(names) >= 10
    for dotted in names:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attribute in parts[cut:]:
                assert hasattr(obj, attribute), f"docs/architecture.md names missing {dotted}"
                obj = getattr(obj, attribute)
            break
        else:
            pytest.fail(f"docs/architecture.md names missing module {dotted}")


# ----- registries drive every list -----
def readme_choices(flag: str) -> set[str]:
    match = re.search(rf"`{flag} ([^`]*\\\|[^`]*)`", README)  # the table's `--flag a\|b\|c`
    assert match, f"README lists no choices for {flag}"
    return set(match.group(1).replace("\\|", "|").split("|"))


@pytest.mark.parametrize("flag, registry", [
    ("--model", MODELS), ("--loss", LOSSES), ("--augment", AUGMENTATIONS),
    ("--features", FEATURES)])
def test_readme_choice_lists_match_the_registries(flag, registry):
    assert readme_choices(flag) == set(registry.names())


def test_readme_dataset_list_matches_the_registry():
    listed = {name.replace(":PATH", "") for name in readme_choices("--dataset")}
    assert listed == set(DATASETS.names())


def test_readme_presets_table_matches_the_presets():
    listed = set(re.findall(r"^\| `([\w-]+)` \|", README, flags=re.M)) & (
        set(PRESETS) | {"x"})
    assert listed == set(PRESETS)


def test_evaluation_doc_lists_every_registered_metric_column():
    doc = (REPO / "docs" / "evaluation.md").read_text()
    for column in catalog.columns():
        if column.report or column.sweep:
            assert f"`{column.key}`" in doc, f"docs/evaluation.md does not explain {column.key}"


def test_every_cli_choice_comes_from_its_registry():
    from ganforge.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = {a.dest: list(a.choices) for a in train._actions if a.choices}
    assert choices["augment"] == AUGMENTATIONS.names()
    assert choices["features"] == FEATURES.names()
    # models and losses are checked by their registry, which also suggests the closest name
    from ganforge.config import build_config
    from ganforge.errors import GanforgeError

    for field, registry in (("model", MODELS), ("loss", LOSSES)):
        with pytest.raises(GanforgeError) as err:
            build_config(None, None, {field: "nope"})
        assert str(err.value).endswith("choose one of: " + ", ".join(registry.names()))


def test_a_registered_metric_flows_into_evaluate_the_training_log_and_the_tables(data_dir):
    """One registration, no other edit: the number appears in evaluate's result and table, in
    the keys the trainer logs, and in the sweep and report columns."""
    from ganforge.metrics.evaluate import evaluate_images, format_table

    column = catalog.Column("mean_feature", training_log=True, sweep=True, report=True)
    catalog.metric("mean-feature", column)(lambda inputs: {"mean_feature": float(
        inputs.fake.mean())})
    try:
        images = (torch.rand(64, 1, 28, 28) * 255).to(torch.uint8)
        result = evaluate_images(images, "mnist", data_dir, n=64)
        assert isinstance(result["mean_feature"], float)
        assert "mean_feature" in format_table(result)
        assert "mean_feature" in catalog.training_log_keys()
        assert "mean_feature" in catalog.sweep_keys()
        assert "mean_feature" in catalog.report_keys()
    finally:
        catalog.METRICS._items.pop("mean-feature")
    assert "mean_feature" not in catalog.sweep_keys()


# ----- the library API -----
def test_the_api_doc_example_runs(data_dir, tmp_path, monkeypatch):
    """docs/api.md's example, as written, with a tiny model so it runs in seconds."""
    doc = (REPO / "docs" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, flags=re.S).group(1)
    code = code.replace('"data_dir": "data"', f'"data_dir": {data_dir!r}, "width": 8, '
                        '"latent_dim": 16, "subset": 0.1, "tensorboard": False')
    code = code.replace("n=2000", "n=200")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102
    images, summary = namespace["images"], namespace["summary"]
    assert images.dtype == torch.uint8 and tuple(images.shape) == (16, 1, 28, 28)
    assert summary.steps == 300 and Path(summary.run_dir).parent.name == "runs"
    from ganforge.generation.rundir import RunDir

    run = RunDir(summary.run_dir)
    assert run.checkpoint_meta("last")["step"] == 600
    assert namespace["result"]["n"] == 200
