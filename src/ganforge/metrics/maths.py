"""The sample-quality numbers, computed from feature vectors and class probabilities.

Each function is a direct transcription of its paper's definition so the numbers compare with
published ones: FID (Heusel et al. 2017, via pytorch-fid's maintained implementation), KID
(Bińkowski et al. 2018), precision/recall (Kynkäänniemi et al. 2019) with density/coverage
(Naeem et al. 2020), and the Inception-Score formula applied to a domain classifier.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

PRDC_K = 5
KID_SUBSET = 1000
KID_SUBSETS = 100
MODE_THRESHOLD = 0.02


def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance in float64, exactly as pytorch-fid computes them."""
    act = features.double().cpu().numpy()
    return act.mean(axis=0), np.cov(act, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """FID between two Gaussians. pytorch-fid's version handles the near-singular and
    slightly-complex sqrtm cases the way every published FID number did."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    with warnings.catch_warnings():  # SciPy ≥1.16 deprecates the `disp` argument pytorch-fid uses
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x_i, y_j) = (x_i·y_j / d + 1)³ for every pair, computed in place to save memory traffic
    (it dominates KID's run time)."""
    return torch.addmm(torch.ones((), dtype=x.dtype), x, y.T, alpha=1.0 / x.shape[1]).pow_(3)


def polynomial_kernel_sum(x: torch.Tensor, y: torch.Tensor, skip_diagonal: bool) -> torch.Tensor:
    """Σ k(x_i, y_j) for the cubic kernel, without (skip_diagonal) the terms i = j."""
    kernel = polynomial_kernel(x, y)
    total = kernel.sum()
    return total - kernel.diagonal().sum() if skip_diagonal else total


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² with the cubic polynomial kernel (diagonal terms excluded)."""
    m, n = len(x), len(y)
    xx = polynomial_kernel_sum(x, x, skip_diagonal=True) / (m * (m - 1))
    yy = polynomial_kernel_sum(y, y, skip_diagonal=True) / (n * (n - 1))
    return xx + yy - 2 * polynomial_kernel_sum(x, y, skip_diagonal=False) / (m * n)


def kid(real: torch.Tensor, fake: torch.Tensor, subset_size: int = KID_SUBSET,
        subsets: int | None = None, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of the unbiased MMD² over `subsets` (default
    KID_SUBSETS = 100) random subsets of `subset_size`, drawn without replacement within each
    subset, seeded. Unbiased, so small sample counts do not inflate it as they inflate FID."""
    subsets = subsets or KID_SUBSETS
    size = min(subset_size, len(real), len(fake))
    generator = torch.Generator().manual_seed(seed)
    # float32 kernels: twice as fast as float64 on a CPU; on MNIST features the per-subset MMD²
    # moves by < 1e-6, a thousandth of its spread across subsets.
    real, fake = real.float(), fake.float()
    values = torch.stack([
        polynomial_mmd2(real[torch.randperm(len(real), generator=generator)[:size]],
                        fake[torch.randperm(len(fake), generator=generator)[:size]])
        for _ in range(subsets)]).double()
    std = values.std().item() if subsets > 1 else 0.0
    return values.mean().item(), std


def kth_neighbour_radii(x: torch.Tensor, k: int = PRDC_K, chunk: int = 2048) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded),
    chunked so a 10k×10k distance matrix is never held whole."""
    radii = [torch.cdist(part, x).topk(k + 1, dim=1, largest=False).values[:, -1]
             for part in x.split(chunk)]
    return torch.cat(radii)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = PRDC_K, chunk: int = 2048,
         real_radii: torch.Tensor | None = None) -> dict[str, float]:
    """Precision, recall (k-NN manifolds) and density, coverage (Naeem et al.) in one chunked
    pass over the real×fake distances. `real_radii` can come from a cache."""
    real, fake = real.float(), fake.float()
    if real_radii is None:
        real_radii = kth_neighbour_radii(real, k, chunk)
    fake_radii = kth_neighbour_radii(fake, k, chunk)
    real_radii = real_radii.to(real.device)
    inside_real = torch.zeros(len(fake), dtype=torch.bool, device=real.device)
    density_count = torch.zeros(len(fake), dtype=torch.float64, device=real.device)
    recalled, covered = [], []
    for part, radii in zip(real.split(chunk), real_radii.split(chunk), strict=True):
        dist = torch.cdist(part, fake)
        within = dist < radii[:, None]
        inside_real |= within.any(0)
        density_count += within.sum(0)
        recalled.append((dist < fake_radii[None, :]).any(1))
        covered.append(within.any(1))
    return {"precision": inside_real.double().mean().item(),
            "recall": torch.cat(recalled).double().mean().item(),
            "density": (density_count.mean() / k).item(),
            "coverage": torch.cat(covered).double().mean().item()}


def classifier_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))): the Inception-Score form. 1 when every sample gets the same
    prediction, K (10) when predictions are confident and the classes evenly used."""
    p = probs.double()
    marginal = p.mean(0, keepdim=True)
    kl = torch.special.xlogy(p, p) - torch.special.xlogy(p, marginal)
    return math.exp(kl.sum(1).mean().item())


def class_histogram(probs: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Fraction of samples assigned (argmax) to each class."""
    k = num_classes or probs.shape[1]
    counts = torch.bincount(probs.argmax(1), minlength=k).double()
    return counts / counts.sum()


def mode_coverage(histogram: torch.Tensor, threshold: float = MODE_THRESHOLD) -> dict:
    """Modes = classes holding at least `threshold` of the samples; kl_uniform = KL(p(y) ‖ U),
    0 for perfectly balanced output, log K when everything falls in one class."""
    h = histogram.double()
    h, k = h / h.sum(), len(h)
    return {"modes": int((h >= threshold).sum().item()),
            "kl_uniform": torch.special.xlogy(h, h * k).sum().item(),
            "class_hist": [round(v, 6) for v in h.tolist()]}


def label_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """How often the classifier agrees with the label a conditional generator was asked for."""
    return (probs.argmax(1).cpu() == labels.cpu()).double().mean().item()


def bootstrap_intervals(fake: torch.Tensor, real: torch.Tensor, real_mu: np.ndarray,
                        real_sigma: np.ndarray, resamples: int, seed: int = 0,
                        chunk: int = 2048) -> dict[str, list[float]]:
    """95 % percentile intervals of FID and KID over `resamples` bootstrap resamples (with
    replacement) of the generated features; the reference stays fixed, so the interval is the
    sampling noise of the generator's side, what differs between two recipes' evaluations.

    A resample is a vector of counts (how often it drew each sample), so every statistic is a
    weighted sum over the original features and nothing is copied: the resample's covariance is
    exactly np.cov of the drawn rows, and its KID is the unbiased MMD² over all its pairs of draws
    (the point estimate's subsets add subset noise that is not the generator's)."""
    generator = torch.Generator().manual_seed(seed)
    n = len(fake)
    draws = torch.randint(n, (resamples, n), generator=generator)
    counts = torch.zeros(resamples, n, dtype=torch.float64).scatter_add_(
        1, draws, torch.ones(resamples, n, dtype=torch.float64))
    fids = resampled_fids(fake, counts, real_mu, real_sigma)
    kids = resampled_kids(fake, real, counts, chunk)
    return {"fid_ci95": [float(np.percentile(fids, 2.5)), float(np.percentile(fids, 97.5))],
            "kid_ci95": [float(np.percentile(kids, 2.5)), float(np.percentile(kids, 97.5))],
            "bootstrap": resamples}


def resampled_fids(fake: torch.Tensor, counts: torch.Tensor, real_mu: np.ndarray,
                   real_sigma: np.ndarray) -> np.ndarray:
    """FID of each resample (a row of `counts`) against fixed reference statistics. With the
    reference fixed, tr sqrt(Σ_f Σ_r) = Σ sqrt(eigenvalues of A Σ_f A), A = Σ_r^½ (similar
    matrices): one symmetric eigenvalue problem per resample instead of a general sqrtm."""
    x = fake.double().cpu()
    n = len(x)
    centre = x.mean(0)
    x = x - centre  # centred first: sums of squares without cancellation
    real_mu_t, real_sigma_t = torch.from_numpy(real_mu), torch.from_numpy(real_sigma)
    values, vectors = torch.linalg.eigh(real_sigma_t)
    root = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    fids = []
    for weights in counts:
        mean = weights @ x / n
        sigma = ((x.T * weights) @ x - n * torch.outer(mean, mean)) / (n - 1)
        product = torch.linalg.eigvalsh(root @ sigma @ root).clamp(min=0)
        diff = mean + centre - real_mu_t
        fids.append((diff @ diff + sigma.trace() + real_sigma_t.trace()
                     - 2 * product.sqrt().sum()).item())
    return np.array(fids)


def resampled_kids(fake: torch.Tensor, real: torch.Tensor, counts: torch.Tensor,
                   chunk: int) -> np.ndarray:
    """Unbiased MMD² (cubic kernel) of each resample against the whole reference, in float64:
    Σ over pairs of distinct draws = wᵀKw − Σ wᵢKᵢᵢ. The kernel matrices are built in row chunks
    and never held whole."""
    x, y = fake.double().cpu(), real.double().cpu()
    n, m = len(x), len(y)
    quadratic = torch.zeros(len(counts), dtype=torch.float64)
    cross = torch.zeros(n, dtype=torch.float64)  # Σ_j k(x_i, y_j)
    real_total = torch.zeros((), dtype=torch.float64)
    for rows in torch.arange(n).split(chunk):
        kernel = polynomial_kernel(x[rows], x)
        quadratic += ((counts[:, rows] @ kernel) * counts).sum(1)
        quadratic -= counts[:, rows] @ kernel[torch.arange(len(rows)), rows]
        cross[rows] = polynomial_kernel(x[rows], y).sum(1)
    for part in y.split(chunk):
        real_total += polynomial_kernel(part, y).sum()
    real_total -= ((y * y).sum(1) / y.shape[1] + 1).pow(3).sum()
    mmd = (quadratic / (n * (n - 1)) + real_total / (m * (m - 1))
           - 2 * (counts @ cross) / (n * m))
    return mmd.numpy()
