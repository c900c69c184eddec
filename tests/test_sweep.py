"""`ganforge sweep`: grid parsing, training every combination (in parallel subprocesses), the
tables and heat map, and re-runs that skip finished combinations and resume lengthened ones."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ganforge.errors import GanforgeError
from ganforge.sweep import combination_name, parse_grid, plan
from tests.conftest import DATA_DIR, HAVE_MNIST, tiny_overrides
from tests.test_training import cli, flags

GRID = "latent_dim=8,16 width=4"  # 2×1: two runs, still a 2-D grid (heat map)
RUNS = ["latent_dim=8_width=4", "latent_dim=16_width=4"]


def sweep_args(out: Path, steps: int = 10, jobs: int = 1) -> list[str]:
    values = tiny_overrides(str(DATA_DIR), Path("unused"), steps=steps, subset=0.02)
    for key in ("run_dir", "width", "latent_dim"):
        values.pop(key)
    return ["sweep", "--grid", GRID, "--out", str(out), "--jobs", str(jobs), "--eval-n", "50",
            "--device", "cpu", *flags(values)]


def trained_sweep(base: Path) -> Path:
    """A finished 2×1 sweep trained with --jobs 2, shared by this module and test_report."""
    if not HAVE_MNIST:
        pytest.skip(f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
    out = base / "tiny-sweep"
    if not (out / "sweep.csv").exists():
        assert cli(*sweep_args(out, jobs=2)) == 0
    return out


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    return trained_sweep(tmp_path_factory.getbasetemp())


def read_rows(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "sweep.csv").open() as f:
        return list(csv.DictReader(f))


def test_parse_grid():
    grid = parse_grid("latent_dim=16,100  hidden-dim=8 lr_g=1e-4,2e-4 conditional=true,false")
    assert grid == {"latent_dim": [16, 100], "hidden_dim": [8], "lr_g": [1e-4, 2e-4],
                    "conditional": [True, False]}
    assert combination_name({"latent_dim": 16, "dataset": "folder:/a b"}) == \
        "latent_dim=16_dataset=folder-a-b"
    bad = {"": "empty", "latent_dim": "bad --grid item", "latent_dim=16=3": "bad --grid item",
           "latent_dm=16": "did you mean 'latent_dim'", "latent_dim=16,,3": "empty value",
           "latent_dim=": "empty value", "latent_dim=abc": "not a valid int",
           "latent_dim=1 latent_dim=2": "twice", "latent_dim=4,4": "repeats",
           "run_dir=a,b": "cannot be swept"}
    for text, message in bad.items():
        with pytest.raises(GanforgeError, match=message) as error:
            parse_grid(text)
        assert "\n" not in str(error.value)


def test_plan_validates_every_combination(tmp_path):
    combos = plan(parse_grid("latent_dim=8,16 hidden_dim=4,6,8"), tmp_path, "seed000-mlp",
                  overrides={"steps": 7})
    assert len(combos) == 6 and {c.config.model for c in combos} == {"mlp"}
    assert all(c.config.steps == 7 and Path(c.config.run_dir).parent == tmp_path for c in combos)
    with pytest.raises(GanforgeError, match="both in --grid"):
        plan(parse_grid("latent_dim=8"), tmp_path, overrides={"latent_dim": 4})
    with pytest.raises(GanforgeError, match="must be > 0"):
        plan(parse_grid("latent_dim=0,8"), tmp_path)


def test_sweep_command_errors_are_one_line(tmp_path, capsys):
    for args, fragment in ((["--grid", "latent_dm=8"], "latent_dim"),
                           (["--grid", "latent_dim=8", "--jobs", "0"], "--jobs"),
                           (["--grid", "latent_dim=8", "--run-dir", "x"], "--out")):
        code = cli("sweep", "--out", str(tmp_path / "s"), *args)
        lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert code == 2 and len(lines) == 1 and fragment in lines[0], lines


def test_sweep_outputs(tiny_sweep):
    rows = read_rows(tiny_sweep)
    assert [r["run"] for r in rows] == RUNS
    assert all(r["status"] == "trained" and r["steps"] == "10" and float(r["fid"]) > 0
               for r in rows)
    table = [line for line in (tiny_sweep / "sweep.md").read_text().splitlines()
             if line.startswith("| ")]
    assert len(table) == 1 + len(RUNS) and "FID" in table[0] and "wall time" in table[0]
    assert all("× floor)" in line for line in table[1:])  # every FID with its distance to the floor
    text = (tiny_sweep / "sweep.md").read_text()
    assert "FID protocol: domain-mnist features (weights sha256" in text and "floor" in text
    assert all(r["protocol"] and float(r["fid_over_floor"]) > 0 for r in rows)
    assert (tiny_sweep / "heatmap.png").stat().st_size > 0
    for run in RUNS:  # ordinary run folders, trained in subprocesses with their own log
        for name in ("summary.json", "eval.json", "train.log", "checkpoints/last.safetensors"):
            assert (tiny_sweep / run / name).exists(), (run, name)
        assert (tiny_sweep / "configs" / f"{run}.yaml").exists()


@pytest.mark.slow
def test_rerun_skips_finished_and_resumes_lengthened(tiny_sweep, tmp_path, capsys):
    sweep = tmp_path / "copy"
    shutil.copytree(tiny_sweep, sweep)
    watched = [sweep / run / name for run in RUNS
               for name in ("checkpoints/last.safetensors", "eval.json", "metrics.jsonl")]
    before = [p.stat().st_mtime_ns for p in watched]
    capsys.readouterr()
    assert cli(*sweep_args(sweep)) == 0
    out = capsys.readouterr().out
    assert all(f"skip {run}: already trained" in out for run in RUNS)
    assert "0 to train, 2 already done" in out
    assert [p.stat().st_mtime_ns for p in watched] == before  # nothing retrained or re-evaluated
    assert [r["status"] for r in read_rows(sweep)] == ["skipped", "skipped"]

    assert cli(*sweep_args(sweep, steps=15)) == 0  # longer: both runs continue where they were
    out = capsys.readouterr().out
    assert all(f"resume {run}" in out for run in RUNS)
    rows = read_rows(sweep)
    assert [(r["status"], r["steps"]) for r in rows] == [("trained", "15")] * 2
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in
             (sweep / RUNS[0] / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15]  # logged every 5 steps, without repeats


def test_changed_setting_is_refused(tiny_sweep, tmp_path, capsys):
    sweep = tmp_path / "copy"
    shutil.copytree(tiny_sweep, sweep)
    capsys.readouterr()
    before = (sweep / "sweep.json").read_text()
    assert cli(*sweep_args(sweep), "--lr-g", "0.001") == 2
    err = capsys.readouterr().err
    assert "lr_g=0.0002" in err and "another --out" in err
    assert (sweep / "sweep.json").read_text() == before  # the refused request left no trace
