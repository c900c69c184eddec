"""FIDs of runs' samples chosen by their own discriminator (`--select-by-d BETA`), beta by beta.

    python benchmarks/selection.py RUN_A RUN_B --betas 0,0.25,0.5,0.75 --draws 3 --data-dir ../shared/data

For each run and each of `--draws` draws (seeds 12345, 1, 2, ...: `ganforge evaluate`'s first),
10,000 samples (classes in the training set's shares) are kept of `--pool` × 10,000 candidates by
generation/selection.py at every beta; beta 0 is the control, a uniform random subset of the same
candidates. Each set is scored against the 10,000 test images under both shipped evaluators, as a
ratio to their real-vs-real floors, and against all training images (plain FID), which is what a
user without a held-out split could tune beta on. The last table averages the draws. Nothing is
fitted; the test images are only compared against.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from ganforge.data.datasets import load_dataset
from ganforge.data.training_set import class_shares
from ganforge.errors import GanforgeError
from ganforge.generation.restore import load_discriminator, load_generator
from ganforge.generation.sampling import sample_labels
from ganforge.generation.selection import DEFAULT_POOL, Selection, select_uint8
from ganforge.metrics.features import feature_net
from ganforge.metrics.maths import frechet_distance, gaussian_stats

EVALUATORS = ("domain", "domain2")
SEEDS = (12345, 1, 2, 3, 4, 5, 6, 7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders or checkpoints")
    parser.add_argument("--betas", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--pool", type=int, default=DEFAULT_POOL)
    parser.add_argument("--draws", type=int, default=2, choices=range(1, len(SEEDS) + 1),
                        metavar=f"1..{len(SEEDS)}")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--raw", action="store_true",
                        help="score the generators without their tone curves (--calibrate-levels)")
    args = parser.parse_args()
    try:
        betas = [float(beta) for beta in args.betas.split(",")]
        selections = [Selection(beta, args.pool) for beta in betas]
        train = load_dataset(args.dataset, args.data_dir, train=True, download=False)
        test = load_dataset(args.dataset, args.data_dir, train=False, download=False)
        loaded = []
        for run in args.runs:
            generator, _, meta = load_generator(run)
            if args.raw:
                generator.output_levels = None
            loaded.append((Path(run).name, generator, load_discriminator(meta)))
    except ValueError:
        parser.exit(2, f"selection: --betas {args.betas}: give numbers separated by commas\n")
    except GanforgeError as error:  # no data, a wrong path, a shipped generator: one line
        parser.exit(2, f"selection: {error}\n")

    nets = {name: feature_net(name, args.dataset) for name in EVALUATORS}
    test_stats = {name: gaussian_stats(net(test.images[:args.n], "cpu")[0])
                  for name, net in nets.items()}
    train_stats = {name: gaussian_stats(net(train.images, "cpu")[0]) for name, net in nets.items()}
    floor = {name: frechet_distance(*gaussian_stats(net(train.images[:args.n], "cpu")[0]),
                                    *test_stats[name]) for name, net in nets.items()}
    print("floors: " + ", ".join(f"{name} {floor[name]:.4f}" for name in EVALUATORS))
    print("\n| run | draw seed | beta | domain × floor | domain2 × floor "
          "| domain FID vs train | domain2 FID vs train |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows: dict[tuple[str, float], list[list[float]]] = {}
    for name, generator, discriminator in loaded:
        if generator.num_classes and generator.class_prior is None:
            generator.class_prior = class_shares(train.labels, generator.num_classes)
        for seed in SEEDS[:args.draws]:
            labels = sample_labels(generator, args.n)
            for selection in selections:
                images = select_uint8(generator, discriminator, args.n, seed, labels, selection)
                stats = {e: gaussian_stats(net(images, "cpu")[0]) for e, net in nets.items()}
                row = ([frechet_distance(*stats[e], *test_stats[e]) / floor[e] for e in EVALUATORS]
                       + [frechet_distance(*stats[e], *train_stats[e]) for e in EVALUATORS])
                rows.setdefault((name, selection.beta), []).append(row)
                print(f"| {name} | {seed} | {selection.beta:g} | {row[0]:.2f}× | {row[1]:.2f}× "
                      f"| {row[2]:.4f} | {row[3]:.4f} |", flush=True)

    print(f"\n| run | beta | domain × floor (mean of {args.draws}) | domain2 × floor "
          "| domain FID vs train | domain2 FID vs train | ≤ 1.5× under both |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for (name, beta), values in rows.items():
        mean = [statistics.mean(column) for column in zip(*values)]
        met = "yes" if max(mean[:2]) <= 1.5 else "no"
        print(f"| {name} | {beta:g} | {mean[0]:.3f}× | {mean[1]:.3f}× | {mean[2]:.4f} "
              f"| {mean[3]:.4f} | {met} |")
    if len(loaded) > 1:
        for beta in betas:
            values = [statistics.mean(column) for column in
                      zip(*(row for (_, b), rs in rows.items() if b == beta for row in rs))]
            print(f"| mean of the runs | {beta:g} | {values[0]:.3f}× | {values[1]:.3f}× "
                  f"| {values[2]:.4f} | {values[3]:.4f} | |")


if __name__ == "__main__":
    main()
