"""Reconstruction error of `ganforge project` on the first 100 MNIST test digits.

    PYTHONPATH=src python benchmarks/projection.py --run runs/default --data-dir ../shared/data

Rows: a random latent (of the digit's true class for conditional runs: what sampling gives), the
best of the screened random starts alone (1 Adam step), the projection with the pixel loss only,
and the projection with pixel + domain-feature loss (the default). Columns: mean MSE (pixels in
[0, 1]), mean PSNR, the share of reconstructions the shipped MNIST classifier reads as the target's
true digit, the share projected into the true class (conditional runs) and the wall time. Prints
one table.
"""

from __future__ import annotations

import argparse
import time

import torch

from ganforge.data.datasets import load_dataset, to_float
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate, noise
from ganforge.latent.project import (
    Projection,
    Settings,
    dataset_images,
    project,
    same_class_share,
)

ROWS = ("random", "screen", "pixel", "full")


def random_row(generator, targets: torch.Tensor, labels: torch.Tensor) -> Projection:
    z = noise(len(targets), generator.latent_dim, seed=2024)
    classes = labels if generator.num_classes else torch.full_like(labels, -1)
    projection = Projection([str(i) for i in range(len(targets))], z, classes,
                            targets=to_float(targets))
    projection.reconstructions = generate(generator, z, labels if generator.num_classes else None)
    return projection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a run folder trained on MNIST")
    parser.add_argument("--data-dir", default=None, help="default: the run's data_dir")
    parser.add_argument("--n", type=int, default=100, help="test digits 0..n-1")
    parser.add_argument("--steps", type=int, default=Settings.steps)
    parser.add_argument("--restarts", type=int, default=Settings.restarts)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"subset of {','.join(ROWS)}")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, config, meta = load_generator(args.run)
    if config.image_dataset_name != "mnist":
        raise SystemExit(f"{args.run} was trained on {config.dataset}; give an MNIST run")
    names, targets = dataset_images(config, f"test:0-{args.n - 1}", args.data_dir)
    truth = load_dataset("mnist", args.data_dir or config.data_dir, train=False,
                         download=False).labels[:args.n]
    settings = {"screen": Settings(steps=1, restarts=1),
                "pixel": Settings(steps=args.steps, restarts=args.restarts, feature_weight=0.0),
                "full": Settings(steps=args.steps, restarts=args.restarts)}
    results = []
    for row in args.rows.split(","):
        start = time.perf_counter()
        if row == "random":
            projection = random_row(generator, targets, truth)
        else:
            projection = project(generator, targets, names, dataset="mnist",
                                 settings=settings[row])
        seconds = time.perf_counter() - start
        results.append((row, projection, seconds))
        print(f"  {row}: done in {seconds:.0f} s", flush=True)
    print(f"\n{args.n} MNIST test digits, run {args.run} (step {meta['step']}), "
          f"{args.steps} steps × {args.restarts} restarts, threads={torch.get_num_threads()}")
    print(f"{'method':<8} {'MSE':>7} {'PSNR dB':>8} {'same digit':>10} {'class':>6} {'wall s':>7}")
    for row, projection, seconds in results:
        same = same_class_share(projection, "mnist", truth)
        right_class = (f"{(projection.labels == truth).float().mean():.0%}"
                       if generator.num_classes else "-")
        print(f"{row:<8} {projection.mse().mean():>7.4f} {projection.psnr().mean():>8.2f} "
              f"{same:>10.0%} {right_class:>6} {seconds:>7.0f}")


if __name__ == "__main__":
    main()
