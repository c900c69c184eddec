"""`ganforge sweep`: grid parsing, training every combination (in parallel subprocesses), the
tables and heat map, re-runs that skip finished combinations and resume lengthened ones, and
--seeds (mean ± sd per combination, Welch's t-test against the best)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ganforge.config import PRESETS
from ganforge.errors import GanforgeError
from ganforge.sweep import aggregate, cells_table, combination_name, parse_grid, plan
from tests.conftest import DATA_DIR, HAVE_MNIST, RUNS, cli, sweep_args


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
    assert f"lr_g={PRESETS['default']['lr_g']}" in err and "another --out" in err
    assert (sweep / "sweep.json").read_text() == before  # the refused request left no trace


# ----- --seeds -----
def test_plan_with_seeds(tmp_path):
    grid = parse_grid("latent_dim=8,16")
    combos = plan(grid, tmp_path, "seed000-mlp", overrides={"steps": 7}, seeds=3)
    assert [c.name for c in combos] == [f"latent_dim={d}_seed={s}" for d in (8, 16)
                                        for s in (0, 1, 2)]
    assert [c.config.seed for c in combos] == [c.seed for c in combos] == [0, 1, 2] * 2
    assert len({c.config.run_dir for c in combos}) == 6
    assert all(Path(c.config.run_dir) == tmp_path / c.name for c in combos)
    offset = plan(grid, tmp_path, "seed000-mlp", overrides={"seed": 5}, seeds=2)
    assert [c.config.seed for c in offset] == [5, 6, 5, 6]  # --seed S0 is the first seed
    single = plan(grid, tmp_path, "seed000-mlp", seeds=1)  # as without --seeds
    assert [c.name for c in single] == ["latent_dim=8", "latent_dim=16"]
    assert all(c.seed is None for c in single)
    with pytest.raises(GanforgeError, match="--seeds must be >= 1"):
        plan(grid, tmp_path, seeds=0)
    with pytest.raises(GanforgeError, match="'seed' is both in --grid and repeated by --seeds"):
        plan(parse_grid("seed=1,2"), tmp_path, seeds=2)


def fabricated(tmp_path: Path, fids: dict[int, list[float | None]]):
    """A seeded plan of hidden_dim cells with the given FIDs per seed (None: no evaluation)."""
    seeds = len(next(iter(fids.values())))
    combos = plan({"hidden_dim": list(fids)}, tmp_path, "seed000-mlp", seeds=seeds)
    for combo in combos:
        fid = fids[combo.values["hidden_dim"]][combo.seed]
        combo.status, combo.steps = "trained", 7
        if fid is not None:
            combo.metrics = {"fid": fid, "fid_over_floor": fid / 0.5, "precision": 0.5,
                             "protocol": "p"}
    return combos


def test_seeded_aggregation_marks_differences_beyond_noise(tmp_path):
    combos = fabricated(tmp_path, {4: [1.0, 1.1, 0.9],    # best: mean 1, sd 0.1
                                   6: [1.05, 1.25, 0.95],  # overlaps the best: same within noise
                                   8: [2.0, 2.1, 1.9],     # 10 sd away: clearly worse
                                   10: [3.0, None, None]})  # one FID only: cannot be tested
    best, close, far, single = aggregate(combos)
    assert best.metrics["fid"] == pytest.approx(1.0) and best.sd["fid"] == pytest.approx(0.1)
    assert best.metrics["fid_over_floor"] == pytest.approx(2.0)
    assert best.sd["fid_over_floor"] == pytest.approx(0.2)
    assert best.metrics["precision"] == 0.5 and best.sd["precision"] == 0.0
    assert best.metrics["protocol"] == "p" and "protocol" not in best.sd
    assert close.metrics["fid"] == pytest.approx(3.25 / 3)
    assert close.sd["fid"] == pytest.approx((0.07 / 3) ** 0.5)
    assert (best.n, close.n, far.n, single.n) == (3, 3, 3, 1)
    assert (best.mark, close.mark, far.mark, single.mark) == ("best", "≈ best", "worse", "–")
    # Welch: t = 1 / sqrt(0.01/3 + 0.01/3) = 12.2 on 4 degrees of freedom
    assert best.p is None and single.p is None and far.p == pytest.approx(2.6e-4, rel=0.05)
    assert 0.3 < close.p < 0.7
    assert single.metrics["fid"] == 3.0 and "fid" not in single.sd
    rows = cells_table([best, close, far, single], {"hidden_dim": [4, 6, 8, 10]}).splitlines()
    assert rows[2].startswith("| 4 | 3 | **1 ± 0.1 (2.0 ± 0.2× floor)** | best |")
    assert "| ≈ best (p = " in rows[3] and "| worse (p = 0.00026) |" in rows[4]
    assert rows[5].startswith("| 10 | 1 | 3 (6.0× floor) | – |")


def test_seeded_aggregation_picks_the_lowest_mean(tmp_path):
    combos = fabricated(tmp_path, {4: [5.0, 5.2], 6: [1.0, 4.0]})  # best by mean, noisy
    stable, noisy = aggregate(combos)  # grid order
    assert noisy.mark == "best" and stable.mark == "≈ best" and stable.p > 0.05
    assert stable.status == "trained" and stable.steps == "7"


def test_sweep_seeds_zero_is_a_one_line_error(tmp_path, capsys):
    code = cli("sweep", "--out", str(tmp_path / "s"), "--grid", "latent_dim=8", "--seeds", "0")
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 2 and len(lines) == 1 and "--seeds must be >= 1" in lines[0], lines
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_seeded_sweep_end_to_end(tmp_path, capsys):
    if not HAVE_MNIST:
        pytest.skip(f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
    out = tmp_path / "seeded"
    assert cli(*sweep_args(out), "--seeds", "2") == 0
    printed = capsys.readouterr().out
    runs = [f"{run}_seed={seed}" for run in RUNS for seed in (0, 1)]
    with (out / "sweep_runs.csv").open() as f:
        per_run = list(csv.DictReader(f))
    assert [(r["run"], r["seed"]) for r in per_run] == [(run, run[-1]) for run in runs]
    assert all(float(r["fid"]) > 0 and r["status"] == "trained" for r in per_run)
    cells = read_rows(out)
    assert [(r["latent_dim"], r["n_seeds"], r["seeds"]) for r in cells] == [("8", "2", "0 1"),
                                                                           ("16", "2", "0 1")]
    for cell, latent_dim in zip(cells, ("8", "16")):
        fids = [float(r["fid"]) for r in per_run if r["latent_dim"] == latent_dim]
        assert float(cell["fid_mean"]) == pytest.approx(sum(fids) / 2)
        assert float(cell["fid_sd"]) == pytest.approx(abs(fids[0] - fids[1]) / 2 ** 0.5)
    assert sorted(r["vs_best"] for r in cells)[0] == "best"
    text = (out / "sweep.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 3 and "vs best" in table[0]
    assert all(" ± " in line and "× floor)" in line for line in table[1:])
    assert "Welch's t-test" in text and "Best mean FID: **" in text
    assert all(line in printed.splitlines() for line in table)  # printed as in sweep.md
    assert (out / "heatmap.png").stat().st_size > 0
    assert all((out / run / "eval.json").exists() for run in runs)

    assert cli("report", str(out)) == 0
    report = (out / "report.md").read_text()
    assert "4 runs (2 combinations × 2 seeds)" in report and "Welch's t-test" in report
    assert report.count(" ± ") >= 2 and "seed=1_final.png" in report

    capsys.readouterr()
    assert cli(*sweep_args(out), "--seeds", "3") == 0  # one more seed: only the new runs train
    printed = capsys.readouterr().out
    assert "6 runs" in printed and "2 to train, 4 already done" in printed
    assert all(f"skip {run}: already trained" in printed for run in runs)
    assert [r["n_seeds"] for r in read_rows(out)] == ["3", "3"]
