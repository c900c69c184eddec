"""What separates a generator's samples from real images, as each evaluator sees it.

    python benchmarks/evaluator_gap.py RUN --data-dir ../shared/data --out-dir gap/
    python benchmarks/evaluator_gap.py pretrained:mnist --data-dir ../shared/data

For each evaluator (domain, domain2) the table splits FID into its two terms, |mu_f - mu_r|^2 (the
samples sit in the wrong place on average) and the covariance term (wrong spread), for the
real-vs-real floor and for the samples, and gives the held-out AUC of a linear probe (Fisher's
discriminant, fitted on a random half of each set, scored on the other half) that tells samples from test
images. A second table compares pixel statistics of samples and real images (ink per image, grey
and saturated pixels), and the FID once the samples' pixel levels are mapped onto the training
split's (quantile matching: what the gap would be if only the pixel levels were wrong).
`--out-dir` gets, per evaluator, the 64 samples and the 64 test images the probe finds most
sample-like. Samples are drawn as `ganforge evaluate` draws them (same seed and class shares), and
only the training split is used to change anything; the test split is only compared against.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import save_image

from ganforge.data.datasets import load_dataset
from ganforge.data.training_set import class_shares
from ganforge.errors import GanforgeError
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate_uint8
from ganforge.metrics.features import feature_net
from ganforge.metrics.maths import frechet_distance, gaussian_stats

EVALUATORS = ("domain", "domain2")


def fid_terms(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, float, float]:
    """(FID, mean term, covariance term) of two feature sets."""
    mu_f, sigma_f = gaussian_stats(fake)
    mu_r, sigma_r = gaussian_stats(real)
    total = frechet_distance(mu_f, sigma_f, mu_r, sigma_r)
    mean_term = float(((mu_f - mu_r) ** 2).sum())
    return total, mean_term, total - mean_term


def probe_auc(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Held-out AUC of Fisher's linear discriminant (fake = positive), and its direction."""
    # random halves: MNIST's splits are ordered (test's first 5,000 images come from other
    # writers than its last 5,000, and even and odd rows differ too), so a split by position
    # fits one population and scores another
    order = torch.Generator().manual_seed(0)
    fake = fake.double()[torch.randperm(len(fake), generator=order)]
    real = real.double()[torch.randperm(len(real), generator=order)]
    fit_f, fit_r = fake[:len(fake) // 2], real[:len(real) // 2]
    centred = torch.cat([fit_f - fit_f.mean(0), fit_r - fit_r.mean(0)])
    covariance = torch.cov(centred.T) + 1e-4 * torch.eye(fake.shape[1], dtype=torch.float64)
    direction = torch.linalg.solve(covariance, fit_f.mean(0) - fit_r.mean(0))
    scores_f, scores_r = fake[len(fake) // 2:] @ direction, real[len(real) // 2:] @ direction
    # Mann-Whitney U: the chance that a random held-out sample outscores a random real image
    ranks = torch.cat([scores_f, scores_r]).argsort().argsort().double() + 1
    n_f, n_r = len(scores_f), len(scores_r)
    auc = (ranks[:n_f].sum() - n_f * (n_f + 1) / 2) / (n_f * n_r)
    return float(auc), direction


def match_pixel_levels(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`images` with each pixel value replaced by the reference value at the same quantile."""
    flat = images.flatten().float()
    levels = reference.flatten().float().sort().values
    at = torch.linspace(0, len(levels) - 1, len(flat)).round().long()
    matched = torch.empty_like(flat)
    matched[flat.argsort(stable=True)] = levels[at]
    return matched.view_as(images).to(torch.uint8)


def pixel_row(name: str, images: torch.Tensor) -> str:
    x = images.float()
    ink = (x > 127).float().sum((1, 2, 3))
    shares = [(x == 0).float().mean(), ((x > 0) & (x <= 3)).float().mean(),
              ((x > 3) & (x <= 250)).float().mean(), (x > 250).float().mean()]
    return (f"{name:34s} {ink.mean():8.1f} {ink.std():7.1f} "
            + " ".join(f"{100 * float(s):9.2f}" for s in shares))


def draw(source: str, n: int, seed: int, which: str, training_labels: torch.Tensor) -> torch.Tensor:
    generator, _, _ = load_generator(source, which)
    if generator.num_classes and getattr(generator, "class_prior", None) is None:
        generator.class_prior = class_shares(training_labels, generator.num_classes)
    return generate_uint8(generator, n, seed)  # classes as sample_labels draws them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="run folder, checkpoint or pretrained:NAME (MNIST-like)")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--which", default="auto", choices=("auto", "best", "last"))
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=12345, help="evaluate's sampling seed")
    parser.add_argument("--out-dir", help="write the probe's pictures here")
    args = parser.parse_args()

    try:
        train = load_dataset(args.dataset, args.data_dir, train=True, download=False)
        test = load_dataset(args.dataset, args.data_dir, train=False, download=False)
        fakes = draw(args.source, args.n, args.seed, args.which, train.labels)
    except GanforgeError as error:  # no data, a wrong path, a foreign checkpoint: one line
        parser.exit(2, f"evaluator_gap: {error}\n")
    real_test, real_train = test.images[:args.n], train.images[:args.n]
    matched = match_pixel_levels(fakes, train.images)

    print(f"{'evaluator':9s} {'images vs test':34s} {'FID':>8s} {'x floor':>7s} {'mean':>8s} "
          f"{'cov':>8s} {'probe AUC':>9s}")
    for name in EVALUATORS:
        net = feature_net(name, args.dataset)
        test_features = net(real_test, "cpu")[0]
        floor = None
        for label, images in (("train (the floor)", real_train), ("samples", fakes),
                              ("samples, pixel levels of train", matched)):
            features = net(images, "cpu")[0]
            total, mean_term, cov_term = fid_terms(features, test_features)
            floor = floor or total
            auc, direction = probe_auc(features, test_features)
            print(f"{name:9s} {label:34s} {total:8.4f} {total / floor:7.2f} {mean_term:8.4f} "
                  f"{cov_term:8.4f} {auc:9.3f}")
            if args.out_dir and label == "samples":
                save_extremes(Path(args.out_dir), name, fakes, features, real_test, test_features,
                              direction)

    print(f"\n{'images':34s} {'ink/img':>8s} {'ink sd':>7s} {'% ==0':>9s} {'% 1..3':>9s} "
          f"{'% 4..250':>9s} {'% >250':>9s}")
    for label, images in (("train", train.images), ("test", test.images), ("samples", fakes),
                          ("samples, pixel levels of train", matched)):
        print(pixel_row(label, images))


def save_extremes(out_dir: Path, name: str, fakes: torch.Tensor, fake_features: torch.Tensor,
                  real: torch.Tensor, real_features: torch.Tensor, direction: torch.Tensor) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for label, images, features in (("samples", fakes, fake_features),
                                    ("test", real, real_features)):
        top = (features.double() @ direction).argsort(descending=True)[:64]
        save_image(images[top].float() / 255, out_dir / f"{name}-most-sample-like-{label}.png",
                   nrow=8, pad_value=0.5)


if __name__ == "__main__":
    main()
