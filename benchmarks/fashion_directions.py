"""An attribute direction learned from labelled *real* Fashion-MNIST images: 'sneaker → ankle boot'.

    PYTHONPATH=src python benchmarks/fashion_directions.py --checkpoint RUN/checkpoints/last.safetensors \
        --data-dir ../shared/data --out /tmp/fashion-directions

Writes --per-class sneakers (class 7) and ankle boots (class 9) of the Fashion-MNIST *test* split
as PNGs into OUT/images and a list_attr_celeba.txt-style OUT/labels.txt (column `boot`: 1 for an
ankle boot, -1 for a sneaker), then builds the `boot` direction of a conditional Fashion-MNIST
generator drawn as class 7 (sneaker) in up to three ways:

* probe: what `ganforge traverse --labels OUT/labels.txt --images OUT/images --direction boot`
  does (a linear probe on domain-classifier features, then top − bottom quantile of samples);
* project: the labelled images projected into the class-7 generator (project.py, --project-n of
  each label), direction = mean projected latent of the boots − that of the sneakers;
* random: a random unit direction (the control).

Each direction moves --eval-n latents that played no part in building it (seed 999) by each
strength; the table gives the mean P(ankle boot) of the moved images under the shipped domain
classifier and under the independent domain2 ResNet, and the probe's own P(boot).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

from ganforge.data.datasets import load_dataset
from ganforge.generation.restore import load_generator
from ganforge.generation.sampling import generate, noise
from ganforge.latent.directions import directions_from_labels, unit
from ganforge.latent.probe import direction_from_labelled_images
from ganforge.latent.project import Settings, project, read_images
from ganforge.metrics.classifier import features_and_probs, load_domain_classifier

SNEAKER, BOOT = 7, 9


def export(data_dir: str, out: Path, per_class: int) -> Path:
    """OUT/images/testNNNNN_{sneaker,boot}.png and OUT/labels.txt; returns the labels file."""
    data = load_dataset("fashion-mnist", data_dir, train=False, download=False)
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, name, value in ((SNEAKER, "sneaker", -1), (BOOT, "boot", 1)):
        for index in (data.labels == label).nonzero().flatten()[:per_class].tolist():
            file = f"test{index:05d}_{name}.png"
            Image.fromarray(data.images[index, 0].numpy()).save(folder / file)
            rows.append(f"{file} {value}")
    labels = out / "labels.txt"
    labels.write_text(f"{len(rows)}\nboot\n" + "\n".join(rows) + "\n")
    return labels


def projected_direction(generator, labels_file: Path, n: int, steps: int) -> torch.Tensor:
    lines = labels_file.read_text().split("\n")[2:]
    rows = [line.split() for line in lines if line]
    chosen = ([r for r in rows if r[1] == "1"][:n] + [r for r in rows if r[1] == "-1"][:n])
    _, images = read_images([labels_file.parent / "images" / r[0] for r in chosen], 1, 28)
    projection = project(generator, images, dataset="fashion-mnist", label=SNEAKER,
                         settings=Settings(steps=steps))
    print(f"  projected {len(chosen)} images in {steps} steps: mean PSNR "
          f"{projection.psnr().mean():.1f} dB")
    return unit(directions_from_labels(projection.z, torch.tensor([r[1] == "1" for r in chosen])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a conditional Fashion-MNIST generator")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="fashion-directions")
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--eval-n", type=int, default=500)
    parser.add_argument("--strengths", default="-3,-2,-1,0,1,2,3")
    parser.add_argument("--project-n", type=int, default=0,
                        help="images of each label to project (0 = skip the projection row)")
    parser.add_argument("--project-steps", type=int, default=100)
    args = parser.parse_args()
    out = Path(args.out)
    labels_file = export(args.data_dir, out, args.per_class)
    generator, _, _ = load_generator(args.checkpoint)
    strengths = [float(s) for s in args.strengths.split(",")]

    started = time.perf_counter()
    probe_direction, probe, notes = direction_from_labelled_images(
        generator, labels_file, "boot", out / "images", dataset="fashion-mnist", label=SNEAKER)
    print(f"  {notes[-1]} ({time.perf_counter() - started:.1f} s with the direction)")
    directions = {"probe": probe_direction}
    if args.project_n:
        started = time.perf_counter()
        directions["project"] = projected_direction(generator, labels_file, args.project_n,
                                                    args.project_steps)
        print(f"  projection direction: {time.perf_counter() - started:.1f} s; cosine with the "
              f"probe's {directions['project'] @ probe_direction:.2f}")
    directions["random"] = unit(torch.randn(generator.latent_dim,
                                            generator=torch.Generator().manual_seed(5)))

    evaluators = {name: load_domain_classifier("fashion-mnist", name)[0]
                  for name in ("domain", "domain2")}
    z = noise(args.eval_n, generator.latent_dim, seed=999)
    classes = torch.full((args.eval_n,), SNEAKER)
    print(f"\nmean over {args.eval_n} held-out class-{SNEAKER} latents (seed 999) moved by "
          f"strength s:\n")
    print("| direction | measure | " + " | ".join(f"s = {s:+g}" for s in strengths) + " |")
    print("|---|---|" + "---|" * len(strengths))
    for name, direction in directions.items():
        rows = {"P(ankle boot), domain": [], "P(ankle boot), domain2": [], "probe P(boot)": []}
        for strength in strengths:
            images = generate(generator, z + strength * direction, classes)
            uint8 = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            for evaluator, model in evaluators.items():
                p = features_and_probs(model, uint8, "cpu")[1][:, BOOT].mean().item()
                rows[f"P(ankle boot), {evaluator}"].append(p)
            rows["probe P(boot)"].append(probe.probability(images).mean().item())
        for measure, values in rows.items():
            print(f"| {name} | {measure} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


if __name__ == "__main__":
    main()
