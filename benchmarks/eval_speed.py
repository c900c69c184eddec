"""Time a 10k-sample evaluation with domain features (target: < 60 s on 2 CPU cores).

    PYTHONPATH=src python benchmarks/eval_speed.py --data-dir ../shared/data

The first 10k real training images stand in for generated samples. "cold" computes the reference
(10k test images: features, statistics, k-NN radii) into a fresh cache; "warm" reads it back, which
is what every evaluation after the first does. Prints one table.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from ganforge.data.datasets import load_dataset
from ganforge.metrics import evaluate_images


def time_one(images: torch.Tensor, dataset: str, data_dir: str, cache_dir: str,
             n: int) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (all threads; steadier when the cores are shared) and result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = evaluate_images(images, dataset, data_dir, n=n, cache_dir=cache_dir)
    return time.perf_counter() - start, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for dataset in args.datasets:
        samples = load_dataset(dataset, args.data_dir, train=True).images[:args.n]
        with tempfile.TemporaryDirectory() as cache:
            for run in ("cold", "warm"):
                wall, cpu, result = time_one(samples, dataset, args.data_dir, cache, args.n)
                rows.append((dataset, run, result["n"], result["n_ref"], wall, cpu, result["fid"]))
    print(f"{'dataset':<14} {'cache':<5} {'samples':>7} {'ref':>6} {'wall s':>7} {'cpu s':>6} "
          f"{'fid':>7}   (threads={torch.get_num_threads()})")
    for dataset, run, n, n_ref, wall, cpu, fid in rows:
        print(f"{dataset:<14} {run:<5} {n:>7} {n_ref:>6} {wall:>7.1f} {cpu:>6.1f} {fid:>7.3f}")


if __name__ == "__main__":
    main()
