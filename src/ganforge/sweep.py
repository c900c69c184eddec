"""`ganforge sweep`: train every combination of a grid of config values, evaluate each, tabulate.

    ganforge sweep --grid "latent_dim=16,100 hidden_dim=16,100" --preset seed000-mlp --jobs 2
    ganforge sweep --grid "hidden_dim=16,100" --preset seed000-mlp --seeds 3

Each combination is an ordinary run folder under the sweep folder (default sweeps/<fields>), trained
from a complete config file written to `configs/<name>.yaml`. Re-running the same command is safe:
a finished combination (summary.json at the full step count) is skipped, an interrupted or
lengthened one is resumed with `train --resume`, and evaluations are cached in each run's
`eval.json`. Outputs: sweep.csv (every number), sweep.md (the table), heatmap.png (2-D grids) and
sweep.json (what was asked, read by `ganforge report`).

With `--seeds S` (S > 1) every combination is trained S times, with seeds S0..S0+S-1 (S0: the
config's `seed`, 0 unless --seed/preset/config file set it), in run folders `<combination>_seed=K`.
sweep.csv, sweep.md and the heat map then hold each combination's mean ± sd over its seeds, and
each combination's FIDs are compared with those of the best one (lowest mean FID) by Welch's t-test:
"worse" when p < 0.05, "≈ best" otherwise. sweep_runs.csv keeps every run's own row.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge import api
from ganforge.config import Config, build_config, check_key, coerce, save_yaml
from ganforge.errors import GanforgeError, Interrupted
from ganforge.generation.checkpoint import read_checkpoint_meta
from ganforge.generation.restore import default_checkpoint
from ganforge.generation.rundir import RunDir
from ganforge.metrics.catalog import PROTOCOL_COLUMNS, sweep_keys

GRID_HELP = 'write --grid "latent_dim=16,100 hidden_dim=16,100" (FIELD=V1,V2,… separated by spaces)'
# fields that may differ between a finished run and a re-run of the sweep without retraining
RUN_ONLY_FIELDS = {"steps", "epochs", "run_dir", "device", "progress", "tensorboard", "eval_n"}
EVAL_CACHE_VERSION = 2  # eval.json results without their protocol (version 1) are recomputed
ALPHA = 0.05  # a combination is "worse" than the best when Welch's t-test on FID gives p < ALPHA


def shared_keys() -> tuple[str, ...]:
    """Sweep columns that are the same for every seed of a combination (the evaluation's
    protocol), so they are shown once, not averaged."""
    return tuple(c.key for c in PROTOCOL_COLUMNS if c.sweep)


def spread_keys() -> tuple[str, ...]:
    """Sweep columns averaged over seeds (mean ± sd): every registered metric's."""
    return tuple(k for k in sweep_keys() if k not in shared_keys())


@dataclass
class Combination:
    name: str
    values: dict[str, Any]
    config: Config
    seed: int | None = None  # set when --seeds repeats each combination
    status: str = ""  # new | resume | done, then trained | skipped | failed (exit code)
    steps: int = 0
    wall_time_s: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.config.run_dir)


# ----- the grid -----
def parse_grid(text: str) -> dict[str, list[Any]]:
    """'latent_dim=16,100 hidden_dim=16,100' → {'latent_dim': [16, 100], 'hidden_dim': [16, 100]}
    with values coerced to each field's type; unknown fields and bad syntax are one-line errors."""
    items = text.split()
    if not items:
        raise GanforgeError(f"--grid is empty; {GRID_HELP}")
    grid: dict[str, list[Any]] = {}
    for item in items:
        if item.count("=") != 1:
            raise GanforgeError(f"bad --grid item '{item}'; {GRID_HELP}")
        key, values = item.split("=")
        key = key.strip().replace("-", "_")
        check_key(key, "--grid")
        if key == "run_dir":
            raise GanforgeError("run_dir cannot be swept: every combination gets its own folder "
                                "under --out")
        if key in grid:
            raise GanforgeError(f"--grid names '{key}' twice; list all its values once: "
                                f"{key}=V1,V2")
        parts = values.split(",")
        if not values or any(not part.strip() for part in parts):
            raise GanforgeError(f"--grid item '{item}' has an empty value; {GRID_HELP}")
        coerced = [coerce(key, part.strip()) for part in parts]
        if len(set(map(str, coerced))) != len(coerced):
            raise GanforgeError(f"--grid item '{item}' repeats a value; list each value once")
        grid[key] = coerced
    return grid


def slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-") or "x"


def combination_name(values: dict[str, Any]) -> str:
    return "_".join(f"{key}={slug(value)}" for key, value in values.items())


def default_out(grid: dict[str, list[Any]]) -> Path:
    return Path("sweeps") / "-".join(grid)


def plan(grid: dict[str, list[Any]], out: Path, preset: str | None = None,
         config_file: str | None = None, overrides: dict[str, Any] | None = None,
         seeds: int = 1) -> list[Combination]:
    """One validated config per combination, or per combination and seed with seeds > 1 (all
    validated before anything trains)."""
    overrides = dict(overrides or {})
    if seeds < 1:
        raise GanforgeError(f"--seeds must be >= 1 (got {seeds}); 1 trains each combination once")
    if "run_dir" in overrides:
        raise GanforgeError("--run-dir cannot be used with sweep; give the sweep folder as --out")
    both = sorted(set(grid) & set(overrides))
    if both:
        raise GanforgeError(f"'{both[0]}' is both in --grid and given as a flag; drop one of them")
    if seeds > 1 and "seed" in grid:
        raise GanforgeError("'seed' is both in --grid and repeated by --seeds; drop one of them "
                            "(--seed S0 sets the first of the --seeds seeds)")
    combos = []
    for values in itertools.product(*grid.values()):
        chosen = dict(zip(grid, values))
        name = combination_name(chosen)
        config = build_config(preset, config_file,
                              {**overrides, **chosen, "run_dir": str(out / name)},
                              default_preset="default")
        if seeds == 1:
            combos.append(Combination(name, chosen, config))
            continue
        for seed in range(config.seed, config.seed + seeds):
            run = f"{name}_seed={seed}"
            combos.append(Combination(run, chosen, build_config(
                preset, config_file, {**overrides, **chosen, "seed": seed,
                                      "run_dir": str(out / run)}, default_preset="default"),
                seed=seed))
    return combos


# ----- what is left to do -----
def target_reached(combo: Combination, meta: dict) -> bool:
    """True when the run finished with the requested length (summary.json at the full steps)."""
    summary = RunDir(combo.path).read_summary()
    if summary is None:
        return False
    saved = meta["config"]
    same_length = (saved.get("steps") == combo.config.steps
                   and saved.get("epochs") == combo.config.epochs)
    return same_length and summary.get("steps") == meta["step"]


def run_state(combo: Combination) -> str:
    """'new', 'resume' or 'done'; a run folder holding a different config is an error."""
    run = RunDir(combo.path)
    if not run.has_checkpoint("last"):
        return "new"
    meta = run.checkpoint_meta("last")
    wanted = combo.config.to_dict()
    for key, value in meta["config"].items():
        if key not in RUN_ONLY_FIELDS and key in wanted and wanted[key] != value:
            raise GanforgeError(f"'{combo.path}' holds a run with {key}={value!r}, but this sweep "
                                f"asks for {key}={wanted[key]!r}; use another --out or delete "
                                f"that folder")
    return "done" if target_reached(combo, meta) else "resume"


# ----- training -----
def train_argv(combo: Combination, config_path: Path) -> list[str]:
    argv = ["train", "--config", str(config_path)]
    if combo.status == "resume":
        argv += ["--resume", str(combo.path)]
    return argv


def train_in_process(combo: Combination, config_path: Path) -> int:
    """ganforge.train on one combination, with the exit code `ganforge train` would give."""
    resume = combo.path if combo.status == "resume" else None
    try:
        config = (api.resume_config(resume, str(config_path)) if resume
                  else build_config(None, str(config_path), {}, default_preset="default"))
        print(api.train(config, resume).describe())
    except GanforgeError as err:
        sys.stderr.write(f"ganforge: error: {err}\n")
        return 130 if isinstance(err, Interrupted) else 2
    return 0


def train_subprocess(argv: list[str], log_file: Path, threads: int) -> int:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as log:
        return subprocess.run([sys.executable, "-m", "ganforge", *argv], stdout=log,
                              stderr=subprocess.STDOUT, env=env).returncode


def train_all(todo: list[Combination], out: Path, jobs: int, log: Callable[[str], None]) -> None:
    configs = out / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    paths = []
    for combo in todo:
        paths.append(configs / f"{combo.name}.yaml")
        save_yaml(combo.config, paths[-1])
        log(f"{'resume' if combo.status == 'resume' else 'train'} {combo.name}")
    interrupted = Interrupted("sweep interrupted; finished runs are kept and the interrupted ones "
                              "saved: run the same command again to resume")
    try:
        if jobs <= 1:
            codes = []
            for combo, path in zip(todo, paths):
                codes.append(train_in_process(combo, path))
                if codes[-1] == 130:
                    raise interrupted
        else:
            # Ctrl-C reaches the subprocesses too (same process group): each saves and exits 130
            threads = max(1, (os.cpu_count() or 1) // jobs)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                codes = list(pool.map(
                    lambda item: train_subprocess(train_argv(*item), item[0].path / "train.log",
                                                  threads),
                    zip(todo, paths)))
            if 130 in codes:
                raise interrupted
    except KeyboardInterrupt:
        raise interrupted from None
    for combo, code in zip(todo, codes):
        combo.status = "trained" if code == 0 else f"failed ({code})"
        if code:
            where = f"; see {combo.path / 'train.log'}" if jobs > 1 else ""
            log(f"{combo.name} failed with exit code {code}{where}")


# ----- evaluation -----
def evaluate_run(combo: Combination, n: int, features: str | None = None) -> dict[str, Any]:
    """evaluate_source on the run, cached in RUN/eval.json per (checkpoint, step, n, features)."""
    checkpoint = default_checkpoint(combo.path)
    meta = read_checkpoint_meta(checkpoint)
    key = {"checkpoint": checkpoint.name, "step": meta["step"], "n": n, "features": features,
           "version": EVAL_CACHE_VERSION}
    run = RunDir(combo.path)
    saved = run.read_eval()
    if saved and saved.get("key") == key:
        return saved["result"]
    result = api.evaluate(combo.path, n=n, features=features, device=combo.config.device,
                          bootstrap=0, extra_protocols=False)
    cache = run.eval_file
    cache.write_text(json.dumps({"key": key, "result": result}, indent=2) + "\n")
    return result


def collect(combo: Combination) -> None:
    summary = RunDir(combo.path).read_summary()
    if summary is not None:
        combo.steps, combo.wall_time_s = summary.get("steps", 0), summary.get("wall_time_s")


# ----- several seeds per combination -----
@dataclass
class Cell:
    """One combination of a seeded sweep: its runs' metrics as mean and sample sd over the seeds."""
    values: dict[str, Any]
    runs: list[Combination]
    metrics: dict[str, Any] = field(default_factory=dict)  # means (spread_keys()), shared values
    sd: dict[str, float] = field(default_factory=dict)
    p: float | None = None  # Welch's t-test of this cell's FIDs against the best cell's
    mark: str = ""  # best | ≈ best | worse | – (fewer than 2 FIDs on a side)

    @property
    def n(self) -> int:
        """Runs with an FID."""
        return len(self.samples("fid"))

    def samples(self, metric: str) -> list[float]:
        return [r.metrics[metric] for r in self.runs if r.metrics.get(metric) is not None]

    @property
    def status(self) -> str:
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        return next(iter(counts)) if len(counts) == 1 else ", ".join(
            f"{n} {status}" for status, n in counts.items())

    @property
    def steps(self) -> str:
        low, high = min(r.steps for r in self.runs), max(r.steps for r in self.runs)
        return str(low) if low == high else f"{low}–{high}"

    @property
    def wall_time_s(self) -> float | None:
        times = [r.wall_time_s for r in self.runs if r.wall_time_s is not None]
        return statistics.fmean(times) if times else None


def aggregate(combos: list[Combination], metric: str = "fid") -> list[Cell]:
    """The runs of each combination (grid order) as one Cell, marked against the best by `metric`."""
    cells: dict[str, Cell] = {}
    for combo in combos:
        key = combination_name(combo.values)
        cells.setdefault(key, Cell(combo.values, [])).runs.append(combo)
    for cell in cells.values():
        for key in spread_keys():
            values = cell.samples(key)
            if values:
                cell.metrics[key] = statistics.fmean(values)
            if len(values) > 1:
                cell.sd[key] = statistics.stdev(values)
        for key in shared_keys():
            shared = [r.metrics[key] for r in cell.runs if key in r.metrics]
            if shared:
                cell.metrics[key] = shared[0]
    mark_noise(list(cells.values()), metric)
    return list(cells.values())


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test (unequal variances); None with fewer than 2 values on a
    side or no spread at all."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy.stats import ttest_ind

    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def mark_noise(cells: list[Cell], metric: str = "fid") -> None:
    """Marks the cell with the lowest mean `metric` 'best', and every other one 'worse' when
    Welch's t-test on the seeds' values gives p < ALPHA against the best, else '≈ best'."""
    scored = [c for c in cells if c.metrics.get(metric) is not None]
    if not scored:
        return
    best = min(scored, key=lambda c: c.metrics[metric])
    best.mark = "best"
    for cell in scored:
        if cell is not best:
            cell.p = welch_p(cell.samples(metric), best.samples(metric))
            cell.mark = "–" if cell.p is None else "worse" if cell.p < ALPHA else "≈ best"


def mean_sd(mean: float | None, sd: float | None, digits: int = 4) -> str:
    """'0.3031 ± 0.012'; the mean alone when there is no sd (one seed)."""
    if mean is None:
        return "–"
    return f"{mean:.{digits}g}" + (f" ± {sd:.2g}" if sd is not None else "")


def fid_spread_text(metrics: dict[str, Any], sd: dict[str, Any]) -> str:
    """'0.3031 ± 0.012 (7.3 ± 0.3× floor)': fid_text for a mean and sd over seeds."""
    if metrics.get("fid") is None:
        return "–"
    text = mean_sd(metrics["fid"], sd.get("fid"))
    ratio = metrics.get("fid_over_floor")
    if ratio is not None:
        spread = sd.get("fid_over_floor")
        text += f" ({ratio:.1f}" + (f" ± {spread:.1f}" if spread is not None else "") + "× floor)"
    return text


def mark_text(mark: str, p: float | None) -> str:
    return mark + (f" (p = {p:.2g})" if p is not None else "")


def cells_csv_header(grid: dict[str, list[Any]]) -> list[str]:
    spread = [f"{k}_{stat}" for k in spread_keys() for stat in ("mean", "sd")]
    return [*grid, "n_seeds", "seeds", "vs_best", "p_vs_best", "status", "steps", "wall_time_s",
            *spread, *shared_keys()]


def write_cells_csv(cells: list[Cell], grid: dict[str, list[Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(cells_csv_header(grid))
        for c in cells:
            spread = [value for k in spread_keys() for value in (c.metrics.get(k), c.sd.get(k))]
            writer.writerow([*c.values.values(), c.n, " ".join(str(r.seed) for r in c.runs),
                             c.mark, c.p, c.status, c.steps, c.wall_time_s, *spread,
                             *(c.metrics.get(k) for k in shared_keys())])


CELL_HEAD = ["seeds", "FID", "vs best", "KID", "modes", "precision", "recall", "steps",
             "wall time", "status"]


def cell_texts(metrics: dict[str, Any], sd: dict[str, Any], mark: str, p: float | None
               ) -> list[str]:
    """The FID, vs best, KID, modes, precision and recall cells of a seeded table's row (also used
    by `ganforge report`)."""
    fid = fid_spread_text(metrics, sd)
    return [f"**{fid}**" if mark == "best" else fid, mark_text(mark, p),
            *(mean_sd(metrics.get(k), sd.get(k), 3) for k in ("kid", "modes", "precision",
                                                               "recall"))]


def cells_table(cells: list[Cell], grid: dict[str, list[Any]]) -> str:
    """sweep.md's table for a seeded sweep: mean ± sd over the seeds of each combination."""
    head = [*grid, *CELL_HEAD]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(
        "---" if h in ("vs best", "status") else "---:" for h in head) + "|"]
    for c in cells:
        row = [*(str(v) for v in c.values.values()), str(c.n),
               *cell_texts(c.metrics, c.sd, c.mark, c.p), c.steps, format_duration(c.wall_time_s),
               c.status]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def noise_note(seeds: list[int]) -> str:
    return (f"Seeds {', '.join(map(str, seeds))} for every combination; each number is the mean ± "
            f"sample sd over its seeds (column *seeds*: how many have an FID). *vs best*: Welch's "
            f"t-test (two-sided, unequal variances) of a combination's FIDs against those of the "
            f"best one (lowest mean FID): **worse** when p < {ALPHA}, **≈ best** when the "
            f"difference is within the seed-to-seed noise. Each run's numbers: sweep_runs.csv.")


def is_seeded(combos: list[Combination]) -> bool:
    return any(c.seed is not None for c in combos)


def sweep_table(combos: list[Combination], grid: dict[str, list[Any]]) -> str:
    """The printed table: one row per run, or per combination (mean ± sd) with --seeds."""
    return cells_table(aggregate(combos), grid) if is_seeded(combos) else markdown_table(combos,
                                                                                          grid)


# ----- tables and figures -----
def format_number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def write_csv(combos: list[Combination], grid: dict[str, list[Any]], path: Path) -> None:
    """One row per run (a `seed` column after the grid fields in seeded sweeps)."""
    seed = ["seed"] if is_seeded(combos) else []
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*grid, *seed, "run", "status", "steps", "wall_time_s", *sweep_keys()])
        for c in combos:
            writer.writerow([*c.values.values(), *([c.seed] if seed else []), c.name, c.status,
                             c.steps, c.wall_time_s, *(c.metrics.get(k) for k in sweep_keys())])


def markdown_table(combos: list[Combination], grid: dict[str, list[Any]]) -> str:
    from ganforge.metrics.evaluate import fid_text

    fids = [c.metrics.get("fid") for c in combos if c.metrics.get("fid") is not None]
    best = min(fids) if fids else None
    head = [*grid, "FID", "KID", "modes", "precision", "recall", "steps", "wall time", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(
        "---:" if h not in ("status",) else "---" for h in head) + "|"]
    for c in combos:
        fid = fid_text(c.metrics) if c.metrics.get("fid") is not None else "–"
        if best is not None and c.metrics.get("fid") == best:
            fid = f"**{fid}**"
        cells = [*(str(v) for v in c.values.values()), fid, format_number(c.metrics.get("kid")),
                 format_number(c.metrics.get("modes")), format_number(c.metrics.get("precision"), 3),
                 format_number(c.metrics.get("recall"), 3), str(c.steps),
                 format_duration(c.wall_time_s), c.status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_markdown(combos: list[Combination], grid: dict[str, list[Any]], path: Path,
                   settings: dict[str, Any]) -> None:
    """sweep.md: what was swept, the best combination, the table (per run, or per combination with
    --seeds) and the heat map."""
    grid_text = " ".join(f"{k}={','.join(map(str, v))}" for k, v in grid.items())
    lines = [f"# Sweep {path.parent.name}", "",
             f"Grid: `{grid_text}`" + (f"; preset `{settings['preset']}`" if settings.get("preset")
                                        else ""),
             ""]
    if settings.get("overrides"):
        lines += ["Overrides: " + ", ".join(f"`{k}={v}`" for k, v in settings["overrides"].items()),
                  ""]
    cells = aggregate(combos) if is_seeded(combos) else None
    evaluated = [c for c in cells or combos if c.metrics.get("fid") is not None]
    if evaluated:
        from ganforge.metrics.evaluate import fid_text

        best = min(evaluated, key=lambda c: c.metrics["fid"])
        text = fid_spread_text(best.metrics, best.sd) if cells else fid_text(best.metrics)
        lines += [f"Best {'mean ' if cells else ''}FID: **{text}** with "
                  + ", ".join(f"{k}={v}" for k, v in best.values.items()) + ".", "",
                  f"FID protocol: {best.metrics.get('protocol', 'not recorded')}.", ""]
    if cells:
        seeds = sorted({r.seed for c in cells for r in c.runs})
        lines += [noise_note(seeds), "", cells_table(cells, grid), ""]
    else:
        lines += [markdown_table(combos, grid), ""]
    if (path.parent / "heatmap.png").exists():
        lines += ["![FID heat map](heatmap.png)", ""]
    path.write_text("\n".join(lines))


def write_heatmap(combos: list[Combination] | list[Cell], grid: dict[str, list[Any]], path: Path,
                  metric: str = "fid") -> Path | None:
    """FID of a 2-D grid as a heat map (rows: first field, columns: second); None otherwise.
    Given Cells (a seeded sweep) it shows each mean, annotated mean ± sd."""
    if len(grid) != 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    (row_key, row_values), (col_key, col_values) = grid.items()
    table = np.full((len(row_values), len(col_values)), np.nan)
    labels = {}
    for c in combos:
        value = c.metrics.get(metric)
        if value is not None:
            at = (row_values.index(c.values[row_key]), col_values.index(c.values[col_key]))
            table[at] = value
            labels[at] = (mean_sd(value, c.sd.get(metric), 3).replace(" ± ", "\n± ")
                          if isinstance(c, Cell) else f"{value:.3g}")
    if np.isnan(table).all():
        return None
    fig, axis = plt.subplots(figsize=(1.2 * len(col_values) + 2.5, 0.9 * len(row_values) + 1.8))
    image = axis.imshow(table, cmap="viridis_r")
    axis.set_xticks(range(len(col_values)), [str(v) for v in col_values])
    axis.set_yticks(range(len(row_values)), [str(v) for v in row_values])
    seeded = any(isinstance(c, Cell) for c in combos)
    axis.set(xlabel=col_key, ylabel=row_key, title=f"{'mean ' if seeded else ''}{metric.upper()} "
                                                   f"(lower is better)")
    finite = table[~np.isnan(table)]
    middle = (finite.min() + finite.max()) / 2
    for (i, j), value in np.ndenumerate(table):
        if not np.isnan(value):
            axis.text(j, i, labels[i, j], ha="center", va="center", fontsize=9,
                      color="white" if value > middle else "black")
    fig.colorbar(image, ax=axis, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----- the whole sweep -----
def run_sweep(grid: dict[str, list[Any]], out: Path, preset: str | None = None,
              config_file: str | None = None, overrides: dict[str, Any] | None = None,
              jobs: int = 1, eval_n: int = 10_000, features: str | None = None,
              log: Callable[[str], None] | None = None, seeds: int = 1) -> list[Combination]:
    log = log or (lambda message: print(f"sweep: {message}", flush=True))
    if jobs < 1:
        raise GanforgeError(f"--jobs must be >= 1 (got {jobs})")
    if eval_n < 0:
        raise GanforgeError(f"--eval-n must be >= 0 (got {eval_n}); 0 skips evaluation")
    overrides = dict(overrides or {})
    if jobs > 1:
        overrides.setdefault("progress", False)
    combos = plan(grid, out, preset, config_file, overrides, seeds)
    for combo in combos:  # refuses run folders of another setting before anything is written
        combo.status = run_state(combo)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"grid": grid, "preset": preset, "config_file": config_file,
                "overrides": {k: v for k, v in overrides.items() if k != "progress"},
                "runs": [c.name for c in combos], "eval_n": eval_n}
    if seeds > 1:
        settings["seeds"] = sorted({c.seed for c in combos})
    (out / "sweep.json").write_text(json.dumps(settings, indent=2) + "\n")
    for combo in combos:
        if combo.status == "done":
            log(f"skip {combo.name}: already trained")
    todo = [c for c in combos if c.status != "done"]
    what = "runs" if seeds > 1 else "combinations"
    log(f"{len(combos)} {what} in {out}: {len(todo)} to train, "
        f"{len(combos) - len(todo)} already done")
    start = time.perf_counter()
    if todo:
        train_all(todo, out, jobs, log)
    for combo in combos:
        if combo.status == "done":
            combo.status = "skipped"
        collect(combo)
        if eval_n and not combo.status.startswith("failed") and combo.steps:
            combo.metrics = evaluate_run(combo, eval_n, features)
    if seeds > 1:
        cells = aggregate(combos)
        write_csv(combos, grid, out / "sweep_runs.csv")
        write_cells_csv(cells, grid, out / "sweep.csv")
        heatmap = write_heatmap(cells, grid, out / "heatmap.png")
    else:
        write_csv(combos, grid, out / "sweep.csv")
        heatmap = write_heatmap(combos, grid, out / "heatmap.png")
    if heatmap is None and (out / "heatmap.png").exists():
        (out / "heatmap.png").unlink()
    write_markdown(combos, grid, out / "sweep.md", settings)
    log(f"finished in {time.perf_counter() - start:.0f} s; wrote {out / 'sweep.csv'}, "
        + (f"{out / 'sweep_runs.csv'}, " if seeds > 1 else "")
        + f"{out / 'sweep.md'}" + (f", {heatmap}" if heatmap else ""))
    return combos
