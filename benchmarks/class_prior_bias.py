"""What drawing a conditional generator's classes balanced costs in FID, with no generator at all.

The real test images' features are split by class; the Gaussian a sample set with class shares w
would have, if every class were drawn perfectly, is the mixture's mean and covariance
(mu = sum w_k mu_k, Sigma = sum w_k (Sigma_k + mu_k mu_k^T) - mu mu^T). Its Fréchet distance to
the test set's own shares is the FID a perfect class-conditional generator pays for its class
shares alone: balanced (what evaluation used until round 7), or the training set's (what the
generator is trained on, and what evaluation draws now). Prints one table, both evaluators.

    python benchmarks/class_prior_bias.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ganforge.data.datasets import load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.features import feature_net
from ganforge.metrics.maths import frechet_distance
from ganforge.metrics.reference import load_reference


def mixture_stats(features: np.ndarray, labels: np.ndarray, shares: np.ndarray):
    """Mean and covariance of the class mixture with these shares (per-class moments kept)."""
    classes = range(len(shares))
    means = np.stack([features[labels == k].mean(0) for k in classes])
    second = np.stack([features[labels == k].T @ features[labels == k] / (labels == k).sum()
                       for k in classes])
    mu = shares @ means
    return mu, np.tensordot(shares, second, axes=1) - np.outer(mu, mu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    args = parser.parse_args()
    try:
        test = load_dataset(args.dataset, args.data_dir, train=False, download=False)
        train = load_dataset(args.dataset, args.data_dir, train=True, download=False)
    except GanforgeError as error:  # no data there: one line, not a traceback
        parser.exit(2, f"class_prior_bias: {error}\n")
    labels = test.labels.numpy()
    k = int(labels.max()) + 1
    shares = {
        "test set's own (zero by construction)": np.bincount(labels, minlength=k) / len(labels),
        "balanced": np.full(k, 1.0 / k),
        f"training set's ({len(train)} images)":
            np.bincount(train.labels.numpy(), minlength=k) / len(train),
    }
    print(f"{args.dataset}: class shares, test {np.round(shares[next(iter(shares))], 4)}; "
          f"training {np.round(shares[list(shares)[2]], 4)}\n")
    print("| classes drawn | " + " | ".join(f"{net} FID (÷ floor)" for net in ("domain", "domain2"))
          + " |")
    print("|---|---:|---:|")
    rows = {name: [] for name in shares}
    for net_name in ("domain", "domain2"):
        net = feature_net(net_name, args.dataset)
        features = net(test.images, "cpu")[0].double().numpy()
        reference = mixture_stats(features, labels, shares[next(iter(shares))])
        floor = load_reference(args.dataset, args.data_dir, "test", len(test), net).floor_fid
        for name, w in shares.items():
            fid = max(0.0, frechet_distance(*mixture_stats(features, labels, w), *reference))
            rows[name].append(f"{fid:.4f} ({fid / floor:.2f}×)" if floor else f"{fid:.4f}")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    main()
