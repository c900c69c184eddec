"""Attribute directions in latent space: mean latent *with* an attribute minus mean latent
*without* it (Radford et al. 2016; Larsen et al. 2016).

The attribute comes from a label per latent — whatever the source: a measurement of the generated
image (`thick` = ink mass, `slant` = shear of the second moments), the domain classifier's verdict
(`class:3`), or a CelebA-style `list_attr_celeba.txt` file labelling generated images by seed. All
of them end in `directions_from_labels(latents, labels)`.

Directions are returned with unit norm: the projection of a standard-normal latent on any unit
vector is N(0, 1), so a strength of s moves a latent s standard deviations along the attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from ganforge.data.datasets import to_uint8
from ganforge.errors import GanforgeError
from ganforge.generation.sampling import generate, noise

MEASURED = ("thick", "slant")
DEFAULT_SAMPLES = 2000
DEFAULT_QUANTILE = 0.2


def directions_from_labels(latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean latent of the samples with the attribute minus the mean of those without.

    latents: N×D. labels: N booleans (or 0/1, or ±1 as in list_attr_celeba.txt) → a D vector; or
    N×A of them for A attributes at once → A×D."""
    labels = torch.as_tensor(labels)
    if len(labels) != len(latents):
        raise GanforgeError(f"{len(labels)} labels for {len(latents)} latents; give one per latent")
    single = labels.ndim == 1
    with_attr = (labels > 0).reshape(len(labels), -1).T  # A×N
    out = []
    for index, mask in enumerate(with_attr):
        if mask.all() or not mask.any():
            raise GanforgeError(f"attribute {index}: every latent is labelled the same, so no "
                                f"direction exists; label some latents with and some without it")
        out.append(latents[mask].mean(0) - latents[~mask].mean(0))
    directions = torch.stack(out)
    return directions[0] if single else directions


def unit(vector: torch.Tensor) -> torch.Tensor:
    return vector / vector.norm(dim=-1, keepdim=True).clamp_min(1e-12)


# ----- attributes measured on images -----
def ink_mass(images: torch.Tensor) -> torch.Tensor:
    """Mean pixel intensity in [0, 1] per image (float [-1, 1] or uint8 N×C×H×W): stroke
    thickness × length; thicker digits have more ink."""
    x = images.float() / 255 if images.dtype == torch.uint8 else (images.float() + 1) / 2
    return x.mean(dim=(1, 2, 3))


def slant(images: torch.Tensor) -> torch.Tensor:
    """Shear of each image's ink distribution: -cov(x, y) / var(y) with x to the right and y down,
    so a digit leaning right (top to the right of its bottom) is positive, upright is 0."""
    x = images.float() / 255 if images.dtype == torch.uint8 else (images.float() + 1) / 2
    ink = x.mean(1)  # N×H×W
    height, width = ink.shape[1:]
    ys = torch.arange(height, dtype=ink.dtype).view(1, -1, 1)
    xs = torch.arange(width, dtype=ink.dtype).view(1, 1, -1)
    mass = ink.sum(dim=(1, 2)).clamp_min(1e-6)
    my = (ink * ys).sum(dim=(1, 2)) / mass
    mx = (ink * xs).sum(dim=(1, 2)) / mass
    dy, dx = ys - my.view(-1, 1, 1), xs - mx.view(-1, 1, 1)
    cov = (ink * dx * dy).sum(dim=(1, 2)) / mass
    var = (ink * dy * dy).sum(dim=(1, 2)) / mass
    return -cov / var.clamp_min(1e-6)


def class_probability(label: int, dataset: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """P(class = label) from the dataset's domain classifier (MNIST / Fashion-MNIST)."""
    from ganforge.metrics import classifier

    def score(images: torch.Tensor) -> torch.Tensor:
        model, _ = classifier.load_domain_classifier(dataset)
        uint8 = images if images.dtype == torch.uint8 else to_uint8(images)
        return classifier.features_and_probs(model, uint8.cpu(), "cpu")[1][:, label]

    return score


def attribute_scorer(name: str, dataset: str = "mnist") -> Callable[[torch.Tensor], torch.Tensor]:
    """Scores per image (higher = more of the attribute) for `thick`, `slant` or `class:K`."""
    if name == "thick":
        return ink_mass
    if name == "slant":
        return slant
    match = re.fullmatch(r"class:(\d+)", name)
    if match:
        from ganforge.metrics.classifier import DOMAIN_DATASETS

        if dataset not in DOMAIN_DATASETS:
            raise GanforgeError(f"'{name}' needs the domain classifier, which exists only for "
                                f"{' and '.join(DOMAIN_DATASETS)} (this model: {dataset}); "
                                f"use thick or slant")
        label = int(match.group(1))
        if label > 9:
            raise GanforgeError(f"'{name}': the classifier knows classes 0..9; pick one of them")
        return class_probability(label, dataset)
    raise GanforgeError(f"unknown attribute '{name}'; choose thick, slant or class:K (K = 0..9), "
                        f"or label latents yourself with --labels FILE")


@torch.no_grad()
def attribute_direction(generator: torch.nn.Module, attribute: str, dataset: str = "mnist",
                        n: int = DEFAULT_SAMPLES, quantile: float = DEFAULT_QUANTILE,
                        seed: int = 0, label: int | None = None,
                        scorer: Callable[[torch.Tensor], torch.Tensor] | None = None
                        ) -> torch.Tensor:
    """Unit direction: mean latent of the top `quantile` of n sampled latents by the attribute
    score minus the mean latent of the bottom `quantile`. Conditional generators draw every
    sample as class `label` (default 0)."""
    if not 0 < quantile <= 0.5:
        raise GanforgeError(f"--quantile must be in (0, 0.5] (got {quantile})")
    if n < 4:
        raise GanforgeError(f"--samples must be at least 4 (got {n})")
    scorer = scorer or attribute_scorer(attribute, dataset)
    device = next(generator.parameters()).device
    z = noise(n, generator.latent_dim, seed, device)
    labels = None
    if generator.num_classes:
        labels = torch.full((n,), label or 0, dtype=torch.int64, device=device)
    scores = scorer(generate(generator, z, labels)).cpu().float()
    low, high = torch.quantile(scores, quantile), torch.quantile(scores, 1 - quantile)
    top, bottom = scores >= high, scores <= low
    if not top.any() or not bottom.any() or bool((top & bottom).all()):
        raise GanforgeError(f"attribute '{attribute}' is the same for every sample of this "
                            f"generator, so it has no direction; train the model longer")
    chosen = top | bottom
    return unit(directions_from_labels(z.cpu()[chosen], top[chosen]))


# ----- CelebA-style attribute files -----
def read_attribute_file(path: str | Path) -> tuple[list[str], list[str], torch.Tensor]:
    """(attribute names, row names, N×A tensor of labels) from a label file:

    * list_attr_celeba.txt style: an optional count line, a header line of attribute names, then
      `name v1 v2 …` rows of integers (1/-1 or 1/0);
    * CSV (a header line with commas): `file,col1,col2,…`, then `name,v1,v2,…` rows. A column of
      integers is used as it is; a column of words (`file,kind` with rows `a.png,sneaker`) becomes
      one ±1 column per word (`sneaker`: 1 where kind = sneaker, else -1)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise GanforgeError(f"attribute file '{path}' not found; pass a list_attr_celeba.txt-style "
                            f"file or a CSV file,attribute")
    text = [line for line in file.read_text().splitlines() if line.strip()]
    if text and "," in text[0]:
        return read_csv_labels(file, text)
    lines = [line.split() for line in text]
    if lines and len(lines[0]) == 1 and lines[0][0].isdigit():
        lines = lines[1:]
    if len(lines) < 3:
        raise GanforgeError(f"attribute file '{path}' needs a header line and at least two rows")
    names, rows = lines[0], lines[1:]
    try:
        values = torch.tensor([[int(v) for v in row[-len(names):]] for row in rows])
    except ValueError:
        raise GanforgeError(f"attribute file '{path}': values must be integers (1/-1 or 1/0)") from None
    if any(len(row) != len(names) + 1 for row in rows):
        raise GanforgeError(f"attribute file '{path}': every row must be a name followed by "
                            f"{len(names)} values")
    return names, [row[0] for row in rows], values


def read_csv_labels(file: Path, lines: list[str]) -> tuple[list[str], list[str], torch.Tensor]:
    """The CSV form of read_attribute_file (header `file,col1,…`)."""
    import csv

    table = [[cell.strip() for cell in row] for row in csv.reader(lines)]
    header, rows = table[0], table[1:]
    if len(header) < 2 or len(rows) < 2:
        raise GanforgeError(f"CSV label file '{file}' needs a header like file,attribute and at "
                            f"least two rows")
    if any(len(row) != len(header) for row in rows):
        raise GanforgeError(f"CSV label file '{file}': every row must have {len(header)} cells, "
                            f"like its header {','.join(header)}")
    names, columns = [], []
    for index, column in enumerate(header[1:], start=1):
        cells = [row[index] for row in rows]
        if all(re.fullmatch(r"[-+]?\d+", cell) for cell in cells):
            names.append(column)
            columns.append([int(cell) for cell in cells])
            continue
        for word in sorted(set(cells)):
            names.append(word)
            columns.append([1 if cell == word else -1 for cell in cells])
    return names, [row[0] for row in rows], torch.tensor(columns).T


def attribute_column(path: str | Path, names: list[str], attribute: str) -> int:
    """Index of `attribute` among a label file's columns, or a one-line error listing them."""
    if attribute not in names:
        shown = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
        raise GanforgeError(f"attribute '{attribute}' is not in '{path}'; its columns are: {shown}")
    return names.index(attribute)


def direction_from_attribute_file(path: str | Path, attribute: str, latent_dim: int) -> torch.Tensor:
    """Unit direction of `attribute` from a CelebA-style file labelling generated images by seed:
    each row name holds the seed (`123`, `000123.png`, `seed123.png`), whose latent is
    noise(1, latent_dim, seed)."""
    from ganforge.latent.interpolate import seed_latents

    names, rows, values = read_attribute_file(path)
    column = attribute_column(path, names, attribute)
    seeds = []
    for row in rows:
        digits = re.findall(r"\d+", row)
        if not digits:
            raise GanforgeError(f"row '{row}' of '{path}' names no seed; name rows by the seed of "
                                f"the generated image (000123.png), or pass --images DIR if they "
                                f"name real images")
        seeds.append(int(digits[-1]))
    return unit(directions_from_labels(seed_latents(seeds, latent_dim), values[:, column]))


@torch.no_grad()
def traverse(generator: torch.nn.Module, direction: torch.Tensor, seeds: list[int],
             strengths: list[float], label: int | None = None) -> torch.Tensor:
    """Images of z + s·direction for each seed (rows) and strength s (columns):
    len(seeds)×len(strengths)×C×H×W in [-1, 1]."""
    from ganforge.latent.interpolate import seed_latents

    device = next(generator.parameters()).device
    z = seed_latents(seeds, generator.latent_dim)
    s = torch.tensor(strengths, dtype=z.dtype)
    latents = (z[:, None, :] + s[None, :, None] * direction.cpu()[None, None, :]).reshape(
        -1, generator.latent_dim).to(device)
    labels = None
    if generator.num_classes:
        labels = torch.full((len(latents),), label or 0, dtype=torch.int64, device=device)
    images = generate(generator, latents, labels)
    return images.reshape(len(seeds), len(strengths), *images.shape[1:])


def parse_strengths(text: str, steps: int = 7) -> list[float]:
    """'-3..3' → `steps` evenly spaced values; '-2,0,2' → those values."""
    try:
        if ".." in text:
            low, high = (float(part) for part in text.split("..", 1))
            if steps < 2:
                raise GanforgeError(f"--steps must be at least 2 (got {steps})")
            return torch.linspace(low, high, steps).tolist()
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise GanforgeError(f"bad --strength '{text}'; give a range like -3..3 or values like "
                            f"-2,0,2") from None
    if not values:
        raise GanforgeError("--strength is empty; give a range like -3..3 or values like -2,0,2")
    return values
