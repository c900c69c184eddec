"""Training throughput: ganforge's trainer vs a tutorial-style loop, and FLOP/s vs matmul peak.

    python benchmarks/throughput.py --data-dir ../shared/data

On a machine shared with other busy processes, run it with OMP_WAIT_POLICY=PASSIVE: OpenMP's
default spin-waiting then costs 15-30x (docs/benchmarks.md); on an idle machine spinning is faster.

For each setting — `mlp` (preset seed000-mlp: batch 64, z 100, hidden 100, depth 4) and `dcgan`
(preset seed001-dcgan: batch 256, width 64) — it builds, in ONE process:

- ganforge's `Trainer(config, run=None)`, timed over `train_step()` (plus one stats flush);
- optionally the same trainer with `--amp bf16` / `--channels-last` (`--variants`);
- `benchmarks/reference_loop.py`: the DCGAN-tutorial loop (torchvision DataLoader over
  torchvision.datasets.MNIST with ToTensor+Normalize) on the same G/D/loss/Adam settings;

and times them interleaved — every repetition runs each loop for a few steps and then a large fp32
`torch.mm` on the same threads — so load from other processes hits all of them alike. Reported are
medians over the repetitions. FLOPs of one training step are counted with
`torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions, forward and backward);
achieved GFLOP/s = FLOPs / median step time, and "% mm" compares it with the median matmul rate.
Prints one markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_loop import ReferenceLoop  # noqa: E402

from ganforge.config import build_config  # noqa: E402
from ganforge.models import build_models  # noqa: E402
from ganforge.training.trainer import Trainer  # noqa: E402

SETTINGS = {"mlp": "seed000-mlp", "dcgan": "seed001-dcgan"}
VARIANTS = {"fp32": {}, "bf16": {"amp": "bf16"}, "channels-last": {"channels_last": True},
            "bf16+channels-last": {"amp": "bf16", "channels_last": True},
            "compile": {"compile": True}}


class Timed:
    """One contender: a name, a step function, its batch size and its FLOPs per step."""

    def __init__(self, name: str, step, batch: int, flops: float, finish=None) -> None:
        self.name, self.step, self.batch, self.flops = name, step, batch, flops
        self.finish = finish or (lambda: None)
        self.times: list[float] = []

    def run(self, steps: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        self.finish()
        self.times.append((time.perf_counter() - start) / steps)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)


def count_flops(step) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return float(counter.get_total_flops())


def trainer_contender(preset: str, data_dir: str, variant: str, warmup: int) -> Timed:
    config = build_config(preset, None, dict(data_dir=data_dir, device="cpu", progress=False,
                                             tensorboard=False, **VARIANTS[variant]))
    trainer = Trainer(config, run=None)
    for _ in range(warmup):
        trainer.train_step()
    flops = count_flops(trainer.train_step)
    trainer.flush_stats()
    return Timed(f"ganforge {variant}", trainer.train_step, config.batch_size, flops,
                 finish=trainer.flush_stats)


def reference_contender(preset: str, data_dir: str, workers: int, warmup: int) -> Timed:
    config = build_config(preset, None, dict(data_dir=data_dir, device="cpu"))
    probe = Trainer(config, run=None)  # only for the model spec (channels, size, classes)
    torch.manual_seed(config.seed)
    generator, discriminator = build_models(config, probe.spec)
    del probe
    loop = ReferenceLoop(generator, discriminator, config, data_dir, workers)
    for _ in range(warmup):
        loop.train_step()
    flops = count_flops(loop.train_step)
    return Timed(f"reference (workers={workers})", loop.train_step, config.batch_size, flops)


def matmul_contender(size: int) -> Timed:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    return Timed(f"torch.mm {size}x{size} fp32", lambda: torch.mm(a, b), 0, 2.0 * size**3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--variants", nargs="+", default=["fp32"], choices=list(VARIANTS),
                        help="ganforge configurations to time next to each other")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions (median)")
    parser.add_argument("--steps", type=int, nargs=2, default=(20, 2), metavar=("MLP", "DCGAN"),
                        help="training steps per repetition for mlp and dcgan")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--workers", type=int, default=0,
                        help="DataLoader workers of the reference loop (0 = in the main process)")
    parser.add_argument("--mm-size", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for setting in args.settings:
        preset = SETTINGS[setting]
        steps = args.steps[0] if setting == "mlp" else args.steps[1]
        contenders = [trainer_contender(preset, args.data_dir, v, args.warmup)
                      for v in args.variants]
        contenders.append(reference_contender(preset, args.data_dir, args.workers, args.warmup))
        matmul = matmul_contender(args.mm_size)
        for rep in range(args.reps):
            for contender in contenders:
                contender.run(steps)
                matmul.run(3)
            print(f"{setting}: repetition {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
        reference = contenders[-1]
        for contender in contenders:
            rows.append((setting, contender, contender.flops / contender.seconds / 1e9,
                         matmul.flops / matmul.seconds / 1e9, reference.seconds))

    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    print(f"\nthreads={torch.get_num_threads()}, OMP_WAIT_POLICY={policy}, "
          f"torch {torch.__version__}, reps={args.reps} (medians)\n")
    print("| setting | loop | ms/step | steps/s | images/s | GFLOP/step | GFLOP/s | matmul GFLOP/s "
          "| % of matmul | × reference |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for setting, c, gflops, mm_rate, ref_seconds in rows:
        print(f"| {setting} | {c.name} | {c.seconds * 1e3:.1f} | {1 / c.seconds:.2f} | "
              f"{c.batch / c.seconds:.0f} | {c.flops / 1e9:.2f} | {gflops:.1f} | {mm_rate:.1f} | "
              f"{100 * gflops / mm_rate:.0f} % | {ref_seconds / c.seconds:.2f} |")


if __name__ == "__main__":
    main()
