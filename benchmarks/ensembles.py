"""Every ensemble of the given runs, scored as `ganforge evaluate` scores one generator.

    python benchmarks/ensembles.py RUN_A RUN_B RUN_C RUN_D --sizes 1,2,4 --data-dir ../shared/data

For each group of `--sizes` runs (1 = the runs alone) it builds the mixture `ganforge ensemble`
writes (the same MixtureGenerator, in memory), draws 10,000 samples with `evaluate`'s seed and
class shares, and prints FID against the 10,000 MNIST test images and its ratio to the
real-vs-real floor (train[:10000] vs test[:10000]) under both shipped evaluators, then the mean
per size. Only the training split sets anything (class shares, the floor's first set); the test
split is only compared against. Sampling and features run on the CPU.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

import torch

from ganforge.data.datasets import load_dataset
from ganforge.data.training_set import class_shares
from ganforge.errors import GanforgeError
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate_uint8
from ganforge.metrics.features import feature_net
from ganforge.metrics.maths import frechet_distance, gaussian_stats
from ganforge.models.mixture import MixtureGenerator

EVALUATORS = ("domain", "domain2")
SEED = 12345  # ganforge evaluate's sampling seed


def fid(features: torch.Tensor, reference: tuple) -> float:
    return frechet_distance(*gaussian_stats(features), *reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders or checkpoints (MNIST-like)")
    parser.add_argument("--sizes", default="1,2", help="ensemble sizes, comma-separated")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    try:
        train = load_dataset(args.dataset, args.data_dir, train=True, download=False)
        test = load_dataset(args.dataset, args.data_dir, train=False, download=False)
        generators = [load_generator(run)[0] for run in args.runs]
    except GanforgeError as error:  # no data, a wrong path, a foreign checkpoint: one line
        parser.exit(2, f"ensembles: {error}\n")
    for generator in generators:
        if generator.num_classes and generator.class_prior is None:
            generator.class_prior = class_shares(train.labels, generator.num_classes)

    nets = {name: feature_net(name, args.dataset) for name in EVALUATORS}
    reference = {name: gaussian_stats(net(test.images[:args.n], "cpu")[0])
                 for name, net in nets.items()}
    floor = {name: fid(net(train.images[:args.n], "cpu")[0], reference[name])
             for name, net in nets.items()}
    names = [Path(run).name for run in args.runs]
    print("floors: " + ", ".join(f"{name} {floor[name]:.4f}" for name in EVALUATORS))
    print(f"\n| runs | {' | '.join(f'{name} FID (× floor)' for name in EVALUATORS)} |")
    print("|---|" + "---|" * len(EVALUATORS))
    ratios: dict[int, list[tuple[float, ...]]] = {}
    for size in sizes:
        for group in itertools.combinations(range(len(generators)), size):
            members = [generators[i] for i in group]
            generator = members[0] if size == 1 else MixtureGenerator(members).eval()
            images = generate_uint8(generator, args.n, SEED)
            row = []
            for name, net in nets.items():
                value = fid(net(images, "cpu")[0], reference[name])
                row.append((value, value / floor[name]))
            ratios.setdefault(size, []).append(tuple(r for _, r in row))
            print(f"| {' + '.join(names[i] for i in group)} | "
                  + " | ".join(f"{v:.4f} ({r:.2f}×)" for v, r in row) + " |", flush=True)
    print("\n| ensemble size | groups | " + " | ".join(f"{name} × floor: mean [min, max]"
                                                     for name in EVALUATORS)
          + " | groups ≤ 1.5× under both |")
    print("|---:|---:|" + "---|" * len(EVALUATORS) + "---:|")
    for size, rows in ratios.items():
        cells = []
        for column in range(len(EVALUATORS)):
            values = [row[column] for row in rows]
            cells.append(f"{statistics.mean(values):.2f}× [{min(values):.2f}, {max(values):.2f}]")
        met = sum(all(r <= 1.5 for r in row) for row in rows)
        print(f"| {size} | {len(rows)} | " + " | ".join(cells) + f" | {met} of {len(rows)} |")


if __name__ == "__main__":
    main()
