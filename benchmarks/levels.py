"""FIDs of runs with and without output levels mapped onto the training images' (`--calibrate-levels`).

    python benchmarks/levels.py RUN_A RUN_B --data-dir ../shared/data --draws 3

For each run it scores the raw generator and the same generator through a tone curve
(models/levels.py): the run's own curve when its checkpoint has one, else one fitted here exactly
as `ganforge train --calibrate-levels N` fits it (N samples, seed = the run's seed + 5, against the
training split). Each of `--draws` draws of 10,000 samples (seeds 12345, 1, 2, ...; classes in the
training set's shares, as `ganforge evaluate` draws them) is scored raw and calibrated on the same
latents, against the 10,000 test images, under both shipped evaluators, with ratios to the
real-vs-real floors. The last table averages the draws. Only the training split fits anything; the
test split is only compared against. Sampling and features run on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from ganforge.data.datasets import load_dataset
from ganforge.data.training_set import class_shares
from ganforge.errors import GanforgeError
from ganforge.generation.levels import fit_output_levels, training_targets
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate_uint8
from ganforge.metrics.features import feature_net
from ganforge.metrics.maths import frechet_distance, gaussian_stats

EVALUATORS = ("domain", "domain2")
SEEDS = (12345, 1, 2, 3, 4, 5, 6, 7)  # ganforge evaluate's sampling seed first


def fid(features: torch.Tensor, reference: tuple) -> float:
    return frechet_distance(*gaussian_stats(features), *reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders, checkpoints or pretrained:NAME")
    parser.add_argument("--draws", type=int, default=2, choices=range(1, len(SEEDS) + 1),
                        metavar=f"1..{len(SEEDS)}")
    parser.add_argument("--fit-n", type=int, default=5000,
                        help="samples a curve is fitted from, where a run has none")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    try:
        train = load_dataset(args.dataset, args.data_dir, train=True, download=False)
        test = load_dataset(args.dataset, args.data_dir, train=False, download=False)
        loaded = [load_generator(run) for run in args.runs]
    except GanforgeError as error:  # no data, a wrong path, a foreign checkpoint: one line
        parser.exit(2, f"levels: {error}\n")

    targets = training_targets(train.images)
    nets = {name: feature_net(name, args.dataset) for name in EVALUATORS}
    reference = {name: gaussian_stats(net(test.images[:args.n], "cpu")[0])
                 for name, net in nets.items()}
    floor = {name: fid(net(train.images[:args.n], "cpu")[0], reference[name])
             for name, net in nets.items()}
    print("floors: " + ", ".join(f"{name} {floor[name]:.4f}" for name in EVALUATORS))
    header = " | ".join(f"{name} raw | {name} levels" for name in EVALUATORS)
    print(f"\n| run | curve | draw seed | {header} |")
    print("|---|---|---:|" + "---|" * 2 * len(EVALUATORS))
    means = []
    for run, (generator, config, _) in zip(args.runs, loaded):
        if generator.num_classes and generator.class_prior is None:
            generator.class_prior = class_shares(train.labels, generator.num_classes)
        curve, origin = generator.output_levels, "saved"
        if curve is None:
            curve = fit_output_levels(generator, targets, args.fit_n, config.seed + 5)
            origin = f"fitted ({args.fit_n})"
        ratios = []
        for seed in SEEDS[:args.draws]:
            generator.output_levels = None
            raw = generate_uint8(generator, args.n, seed)
            generator.output_levels = curve
            mapped = generate_uint8(generator, args.n, seed)
            row = []
            for name, net in nets.items():
                for images in (raw, mapped):
                    row.append(fid(net(images, "cpu")[0], reference[name]) / floor[name])
            ratios.append(row)
            print(f"| {Path(run).name} | {origin} | {seed} | "
                  + " | ".join(f"{r:.2f}×" for r in row) + " |", flush=True)
        means.append((Path(run).name, [statistics.mean(column) for column in zip(*ratios)]))

    print(f"\n| run (mean of {args.draws} draws) | {header} | ≤ 1.5× under both: raw / levels |")
    print("|---|" + "---:|" * 2 * len(EVALUATORS) + "---|")
    for name, row in means:
        met = [all(row[i + k] <= 1.5 for i in range(0, len(row), 2)) for k in (0, 1)]
        print(f"| {name} | " + " | ".join(f"{r:.2f}×" for r in row)
              + f" | {'yes' if met[0] else 'no'} / {'yes' if met[1] else 'no'} |")
    if len(means) > 1:
        average = [statistics.mean(column) for column in zip(*(row for _, row in means))]
        print("| mean of the runs | " + " | ".join(f"{r:.2f}×" for r in average) + " | |")


if __name__ == "__main__":
    main()
