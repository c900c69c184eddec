"""Seed 003's augmentation comparison, with numbers: Fashion-MNIST trained on a 10 % subset.

Trains the default recipe made unconditional (DCGAN-32, batch 64, EMA) for the same number of
steps with `--augment none|basic|advanced|diffaug` on 10 % of the Fashion-MNIST training set (6,000 images,
so D sees each image dozens of times: the regime where augmentation matters), plus, with
`--full-reference`, one un-augmented run on the full 60,000 images as the target to close.
Each run is evaluated on 10k samples against the 10k Fashion-MNIST test images (domain
features). Prints one Markdown table.

    python benchmarks/augment_fashion.py --data-dir ../shared/data --steps 4000 --full-reference
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ganforge.config import build_config
from ganforge.evaluation import evaluate_generator
from ganforge.generation.rundir import RunDir
from ganforge.training.trainer import Trainer


def train_and_evaluate(augment: str, subset: float, args) -> dict:
    run = Path(args.out) / f"{augment}-subset{subset:g}"
    config = build_config("default", None, dict(
        dataset="fashion-mnist", data_dir=args.data_dir, subset=subset, augment=augment,
        conditional=False, mode_seeking=0.0,
        steps=args.steps, seed=args.seed, eval_every=0, checkpoint_every=10**9,
        run_dir=str(run), tensorboard=False, progress=False, device=args.device))
    trainer = Trainer(config, RunDir.create(run))
    start = time.perf_counter()
    trainer.train()
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_generator(trainer.sampling_generator(), config, n=args.n,
                                device=trainer.device)
    row = {"augment": augment, "subset": subset, "images": len(trainer.data),
           "minutes": minutes, **{k: result[k] for k in (
               "fid", "kid", "precision", "recall", "coverage", "modes")}}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--augments", default="none,basic,advanced,diffaug")
    parser.add_argument("--subset", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=10000, help="samples per evaluation")
    parser.add_argument("--full-reference", action="store_true",
                        help="also train without augmentation on the full training set")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/augment-fashion")
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 2))

    rows = [train_and_evaluate(a, args.subset, args) for a in args.augments.split(",")]
    if args.full_reference:
        rows.append(train_and_evaluate("none", 1.0, args))
    print(f"\nFashion-MNIST, {args.steps} steps of batch 64 each, {args.n} samples vs the 10k "
          "test images (domain features)\n")
    print("| augment | training images | FID | KID×1000 | precision | recall | coverage | modes "
          "| train min |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['augment']} | {r['images']} | {r['fid']:.2f} | {1000 * r['kid']:.2f} | "
              f"{r['precision']:.3f} | {r['recall']:.3f} | {r['coverage']:.3f} | {r['modes']} | "
              f"{r['minutes']:.1f} |")


if __name__ == "__main__":
    main()
