"""Draw the FID-during-training curves of several runs on one time axis (CPU minutes on 2 cores).

    python benchmarks/plot_fid_curves.py runs/recipes/default runs/recipes/mlp-decay \
        --speeds runs/recipes/speeds.json --out docs/examples/recipes/time_to_fid.png

Each run's `eval_*` lines of metrics.jsonl give (step, FID ÷ floor); a step is the same computation
wherever it ran, so step / (the recipe's measured 2-core CPU steps/s) is the CPU time it takes
(runs of compare_recipes.py may have trained side by side on one thread each). Prints one table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ganforge.generation.rundir import read_metrics  # noqa: E402


def curve(run: Path, steps_per_s: float) -> list[tuple[float, float, float]]:
    """(CPU minutes, FID, FID ÷ floor) of each evaluation during training."""
    return [(r["step"] / steps_per_s / 60, r["eval_fid"], r.get("eval_fid_over_floor") or 0.0)
            for r in read_metrics(run) if "eval_fid" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--speeds", type=Path, required=True,
                        help="JSON {recipe name (the run folder's name): CPU steps/s}")
    parser.add_argument("--labels", help="legend labels separated by ; (default: folder names)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    speeds = json.loads(args.speeds.read_text())
    labels = args.labels.split(";") if args.labels else [run.name for run in args.runs]
    fig, axis = plt.subplots(figsize=(6.4, 3.8))
    print("| run | CPU minutes | FID (5k) | × floor |\n|---|---:|---:|---:|")
    for run, label in zip(args.runs, labels, strict=True):
        points = curve(run, speeds[run.name])
        for minutes, fid, ratio in points:
            print(f"| {label} | {minutes:.1f} | {fid:.3f} | {ratio:.1f} |")
        axis.plot([p[0] for p in points], [p[2] for p in points], marker="o", ms=3, label=label)
    axis.axhline(1.0, color="grey", lw=0.8, ls="--", label="real-vs-real floor")
    axis.set(xlabel="CPU minutes (2 cores)", ylabel="domain FID ÷ floor (5k samples)",
             yscale="log", title="Time to FID")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
