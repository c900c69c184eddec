"""Real-vs-real floors: what the metrics say when the "samples" are real images.

    python -m ganforge.metrics.floor --dataset mnist --data-dir ../shared/data

No generator can be expected to beat these numbers, so they are the yardstick for every result:
the first 10k training images against the 10k test images (the evaluation protocol with perfect
samples), and the odd-numbered test images against the even-numbered ones, the reference of a
5k-sample evaluation (5k vs 5k: same split, only sampling noise).
"""

from __future__ import annotations

import argparse

import torch

from ganforge.data.datasets import load_dataset
from ganforge.metrics.evaluate import evaluate_images, format_value

COLUMNS = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "score",
           "modes", "kl_uniform", "label_accuracy")


def floors(dataset: str, data_dir: str, features: str = "domain", **kwargs) -> dict[str, dict]:
    """Both real-vs-real comparisons for `dataset`, keyed by a short description."""
    train = load_dataset(dataset, data_dir, train=True)
    test = load_dataset(dataset, data_dir, train=False)
    n_train = min(10_000, len(train))
    half = len(test) // 2
    return {
        f"train[:{n_train}] vs test[:{n_train}]": evaluate_images(
            train.images[:n_train], dataset, data_dir, ref="test", features=features, n=n_train,
            labels=train.labels[:n_train], **kwargs),
        "test[1::2] vs test[::2]": evaluate_images(
            test.images[1::2][:half], dataset, data_dir, ref="test", features=features, n=half,
            labels=test.labels[1::2][:half], **kwargs),
    }


def markdown(dataset: str, rows: dict[str, dict]) -> str:
    lines = [f"| {dataset} | " + " | ".join(COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for name, result in rows.items():
        lines.append(f"| {name} | " + " | ".join(format_value(result.get(c)) for c in COLUMNS)
                     + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--features", default="domain")
    parser.add_argument("--inception-weights", default=None)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = floors(args.dataset, args.data_dir, args.features,
                  inception_weights=args.inception_weights)
    print(markdown(f"{args.dataset} ({args.features})", rows))


if __name__ == "__main__":
    main()
