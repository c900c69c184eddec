"""Wall-clock time for a recipe (default: the `default` preset) to reach FID within 2x of the
real-vs-real floor on MNIST (domain features, 5k-sample evaluations along the way, 10k at the end).

    python benchmarks/time_to_fid.py --data-dir ../shared/data                    # on this CPU
    python benchmarks/time_to_fid.py --device cuda --cpu-steps-per-s 22.2 ...     # CPU-equivalent

On the CPU the time axis is the measured training time (evaluation excluded). With another device,
pass the recipe's measured CPU speed: a training step is the same computation on any device, so the
CPU reaches step N at N / (CPU steps/s). Prints one table (the FID curve) and the time to target.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.config import build_config
from ganforge.evaluation import evaluate_generator
from ganforge.generation.rundir import RunDir, read_metrics
from ganforge.metrics.floor import floors
from ganforge.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, default=0, help="default: the preset's steps")
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cpu-steps-per-s", type=float, default=0.0)
    parser.add_argument("--out", default="runs/time_to_fid")
    args = parser.parse_args()

    floor = next(iter(floors("mnist", args.data_dir).values()))["fid"]
    overrides = dict(data_dir=args.data_dir, device=args.device, eval_every=args.eval_every,
                     eval_n=5000, run_dir=args.out, progress=False, tensorboard=False)
    if args.steps:
        overrides["steps"] = args.steps
    config = build_config(args.preset, None, overrides)
    trainer = Trainer(config, RunDir.create(Path(args.out)))
    trainer.train()
    final = evaluate_generator(trainer.sampling_generator(), config, n=10000,
                               device=trainer.device)

    train_times = {r["step"]: r["time_s"] for r in read_metrics(Path(args.out)) if "loss_d" in r}
    evals = [r for r in read_metrics(Path(args.out)) if "eval_fid" in r]
    print(f"\nreal-vs-real floor (train 10k vs test 10k): FID {floor:.3f}; target 2x = "
          f"{2 * floor:.3f}\n")
    print("| step | CPU minutes | FID (5k) | modes |")
    print("|---|---|---|---|")
    reached = None
    for record in evals:
        step = record["step"]
        minutes = (step / args.cpu_steps_per_s if args.cpu_steps_per_s
                   else train_times.get(step, record["time_s"])) / 60
        print(f"| {step} | {minutes:.1f} | {record['eval_fid']:.3f} | {record['eval_modes']} |")
        if reached is None and record["eval_fid"] <= 2 * floor and record["eval_modes"] == 10:
            reached = minutes
    print(f"\nfinal (10k samples): FID {final['fid']:.3f}, KID {final['kid']:.5f}, "
          f"precision {final['precision']:.3f}, recall {final['recall']:.3f}, "
          f"modes {final['modes']}")
    print("time to FID <= 2x floor with 10 modes: "
          + (f"{reached:.1f} CPU minutes" if reached is not None else "not reached"))


if __name__ == "__main__":
    main()
