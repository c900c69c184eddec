"""Does the evaluation tell good from bad? Checks 3 and 4 of the evaluation protocol on MNIST.

1. FID ordering: real test images < a good run < a mode-collapsed run < noise, and the mode
   coverage of the collapsed run (trained on digits 0 and 1 only) reports at most 3 modes.
2. Seed stability: FID of 10k samples of the good run drawn with 3 different seeds varies < 5 %.

    python benchmarks/evaluation_checks.py --good runs/00000-dcgan-mnist --data-dir ../shared/data

`--collapsed RUN` reuses a run; otherwise one is trained (default recipe, --classes 0,1).
Prints one table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ganforge.config import build_config
from ganforge.data import load_dataset
from ganforge.evaluation import evaluate_generator
from ganforge.generation.restore import load_generator
from ganforge.generation.rundir import RunDir
from ganforge.metrics.evaluate import evaluate_images
from ganforge.training.trainer import Trainer


def train_collapsed(data_dir: str, out: Path, steps: int) -> Path:
    config = build_config("default", None, dict(
        data_dir=data_dir, classes="0,1", conditional=False, mode_seeking=0.0, steps=steps,
        eval_every=0, run_dir=str(out),
        progress=False, tensorboard=False))
    Trainer(config, RunDir.create(out)).train()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", required=True, help="run folder of a well-trained model")
    parser.add_argument("--collapsed", help="run folder of a collapsed model (else trained)")
    parser.add_argument("--collapsed-steps", type=int, default=1500)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()

    collapsed = Path(args.collapsed) if args.collapsed else train_collapsed(
        args.data_dir, Path("runs/collapsed-0-1"), args.collapsed_steps)
    train = load_dataset("mnist", args.data_dir, train=True)
    noise = torch.randint(0, 256, (args.n, 1, 28, 28), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    rows = {"real (train 10k)": evaluate_images(train.images[:args.n], "mnist", args.data_dir,
                                                n=args.n)}
    good, good_config, _ = load_generator(args.good)
    seeds = (1, 2, 3)
    for seed in seeds:
        rows[f"good run, seed {seed}"] = evaluate_generator(good, good_config, args.n, seed=seed)
    bad, bad_config, _ = load_generator(collapsed)
    rows["collapsed run (digits 0, 1)"] = evaluate_generator(bad, bad_config, args.n, seed=1)
    rows["uniform noise"] = evaluate_images(noise, "mnist", args.data_dir, n=args.n)

    print("\n| images | FID | KID | precision | recall | coverage | modes | KL(p(y)‖U) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['fid']:.3f} | {r['kid']:.4f} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['coverage']:.3f} | {r['modes']} | {r['kl_uniform']:.3f} |")
    fids = [rows[f"good run, seed {s}"]["fid"] for s in seeds]
    spread = (max(fids) - min(fids)) / min(fids)
    order = [rows["real (train 10k)"]["fid"], max(fids), rows["collapsed run (digits 0, 1)"]["fid"],
             rows["uniform noise"]["fid"]]
    print(f"\nFID order real < good < collapsed < noise: {order == sorted(order)} "
          f"({' < '.join(f'{v:.3f}' for v in order)})")
    print(f"collapsed run modes: {rows['collapsed run (digits 0, 1)']['modes']} (target <= 3)")
    print(f"good-run FID over seeds {seeds}: {', '.join(f'{v:.3f}' for v in fids)}; "
          f"spread (max-min)/min = {100 * spread:.2f} % (target < 5 %)")


if __name__ == "__main__":
    main()
