"""Does recomputing the generator's BatchNorm statistics change its FID?

The EMA generator's BatchNorm running statistics are copied from the online generator, so they
were gathered on the online weights' activations (and, under `--amp bf16`, on bf16 activations,
while sampling runs in fp32). This script scores a run's generator as saved and again after
recomputing those statistics with its own weights in fp32 (BatchNorm in train mode, cumulative
average over `--batches` batches of random noise and classes), both with the standard protocol
(10k samples vs the 10k test images, both shipped evaluators). Prints one Markdown table.

    python benchmarks/bn_recalibration.py runs/recipes/default-bf16 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import copy

import torch

from ganforge.errors import GanforgeError
from ganforge.evaluation import evaluate_generator
from ganforge.generation.restore import load_generator


@torch.no_grad()
def recalibrated(generator: torch.nn.Module, batches: int, batch_size: int,
                 seed: int = 1) -> torch.nn.Module:
    """A copy of `generator` whose BatchNorm statistics are the plain average over `batches`
    batches of its own fp32 activations."""
    generator = copy.deepcopy(generator)
    for module in generator.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average instead of an exponential one
    generator.train()
    noise = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        z = torch.randn(batch_size, generator.latent_dim, generator=noise)
        labels = (torch.randint(0, generator.num_classes, (batch_size,), generator=noise)
                  if generator.num_classes else None)
        generator(z, labels)
    return generator.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder or checkpoint")
    parser.add_argument("--which", default="last", help="checkpoint: last, best or a file name")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    try:
        generator, config, _ = load_generator(args.run, args.which, use_ema=True)
    except GanforgeError as error:  # a wrong path or a foreign/corrupt checkpoint: one line
        parser.exit(2, f"bn_recalibration: {error}\n")
    config.data_dir = args.data_dir
    print("| generator | domain FID | domain2 FID | precision | recall (domain / domain2) |")
    print("|---|---:|---:|---:|---|")
    for label, candidate in (("EMA, as saved", generator),
                             ("EMA, BatchNorm recomputed in fp32",
                              recalibrated(generator, args.batches, args.batch_size))):
        r = evaluate_generator(candidate, config, n=10000, extra_protocols=True)
        print(f"| {label} | {r['fid']:.3f} | {r['domain2_fid']:.3f} | {r['precision']:.3f} | "
              f"{r['recall']:.2f} / {r['domain2_recall']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
