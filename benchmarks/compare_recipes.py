"""Compare training recipes at an equal wall-clock budget on 2 CPU cores.

For each recipe: (1) measure its CPU training speed (steps/s, 2 threads, after warm-up);
(2) train it for the number of steps that fits the budget at that speed — on the CPU itself, or, to
save time, on another device (`--device cuda`): a step is the same computation wherever it runs,
so the quality reached after N steps is what the CPU reaches in N / (steps/s) seconds;
(3) evaluate 10k samples against the MNIST test set with both shipped evaluators (domain and
domain2), each FID with its bootstrap 95 % interval and its distance to the real-vs-real floor.
Prints one Markdown table; a recipe is better only when it wins under both evaluators.

    python benchmarks/compare_recipes.py --data-dir ../shared/data --budget-min 10 \
        --recipes default,seed000-mlp --device cpu
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from ganforge.config import build_config
from ganforge.evaluation import evaluate_generator
from ganforge.generation.rundir import RunDir
from ganforge.training.trainer import Trainer

# name -> (preset, overrides). "dcgan32*" rows are the default preset's DCGAN-32 made
# unconditional (the default was unconditional until the conditional recipe won this comparison).
# Rounds 1-3 measured against a batch-64 default with a two-convolution D and decay over the last
# 30 %; B64 and ROUND3 keep those recipes what they were since the default moved to batch 32
# (round 3), to a 60 % decay and to a three-convolution D (round 4); ROUND4 keeps rounds 1-6's
# recipes on 5x5 kernels without spectral normalisation (the default since round 6) and with G's
# stride-1 layer following kernel_size (3x3 in the default since round 12).
# ROUND12 keeps the recipes of rounds 1-12, and round 13's one-change rows, on Adam lr 1.4e-4 and
# betas (0.5, 0.999); the default has lr 2e-4 and betas (0, 0.99) since round 13.
ROUND12 = {"lr_g": 1.4e-4, "lr_d": 1.4e-4, "beta1": 0.5, "beta2": 0.999}
# round 13's Adam settings (the default's since), pinned so its recipes keep meaning them
ROUND13 = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.99}
ROUND11 = {"stem_kernel": 0, **ROUND12}
ROUND4 = {"kernel_size": 5, "spectral_norm": "none", **ROUND11}
D3 = {**ROUND4, "d_layers": 3}
TWO_CONV_D = {"d_layers": 0, **ROUND4}
ROUND3 = {"lr_decay": 0.3, **TWO_CONV_D}
B64 = {**ROUND3, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4}
UNCONDITIONAL = {**B64, "conditional": False, "mode_seeking": 0.0}
RECIPES: dict[str, tuple[str | None, dict]] = {
    "seed000-mlp": ("seed000-mlp", {}),
    "seed002-mlp": ("seed002-mlp", {}),
    "seed004-mlp-conv": ("seed004-mlp-conv", {}),
    "seed001-dcgan": ("seed001-dcgan", {}),
    "default": ("default", {}),
    "default-b64": ("default", {**B64}),
    "dcgan32": ("default", UNCONDITIONAL),
    "dcgan32-dropout0.3": ("default", {**UNCONDITIONAL, "dropout": 0.3}),
    "dcgan32-hinge-sn": ("default", {**UNCONDITIONAL, "loss": "hinge", "spectral_norm": "d"}),
    "dcgan32-b128": ("default", {**UNCONDITIONAL, "batch_size": 128}),
    "dcgan32-lr5e-4": ("default", {**UNCONDITIONAL, "lr_g": 5e-4, "lr_d": 5e-4}),
    "dcgan48": ("default", {**UNCONDITIONAL, "width": 48}),
    "dcgan32-ms0.3": ("default", {**UNCONDITIONAL, "mode_seeking": 0.3}),
    "dcgan32-cond": ("default", {**B64, "conditional": True, "mode_seeking": 0.0}),
    "dcgan32-cond-ms0.1": ("default", {**B64, "conditional": True, "mode_seeking": 0.1}),
    "dcgan32-cond-ms0.3": ("default", {**B64, "conditional": True, "mode_seeking": 0.3}),
    "dcgan32-cond-ms1": ("default", {**B64, "conditional": True, "mode_seeking": 1.0}),
    "upconv": ("default", {**UNCONDITIONAL, "model": "upconv"}),
    "resnet-g": ("default", {**UNCONDITIONAL, "model": "resnet", "residual": "g"}),
    "resnet-gd": ("default", {**UNCONDITIONAL, "model": "resnet", "residual": "gd"}),
    # issue 12: schedules, and the MLP with conditioning
    "default-decay": ("default", {**B64, "lr_decay": 0.3, "ema_rampup": True}),
    "default-ms0.2-decay": ("default", {**B64, "mode_seeking": 0.2, "lr_decay": 0.3,
                                        "ema_rampup": True}),
    "default-ms0.15-decay": ("default", {**B64, "mode_seeking": 0.15, "lr_decay": 0.3,
                                         "ema_rampup": True}),
    # issue 12, round 2: on top of round 2's default (batch 64; "default-b64")
    "default-b128": ("default", {**B64, "batch_size": 128, "lr_g": 2.8e-4, "lr_d": 2.8e-4}),
    "default-hinge": ("default", {**B64, "loss": "hinge"}),
    "default-w24": ("default", {**B64, "width": 24}),
    "default-b32": ("default", {"batch_size": 32, "lr_g": 1.4e-4, "lr_d": 1.4e-4, **ROUND3}),
    # issue 12, round 3: 3×3 kernels (1.56× faster steps at width 32)
    "default-k3": ("default", {**B64, "kernel_size": 3}),
    # issue 12, round 4: on top of round 3's default ("default-b32": batch 32, two-convolution D,
    # decay over the last 30 %)
    "default-decay0.6": ("default", {"lr_decay": 0.6, **TWO_CONV_D}),
    "default-decay1.0": ("default", {"lr_decay": 1.0, **TWO_CONV_D}),
    "default-decay0.6-r1": ("default", {"lr_decay": 0.6, "r1_gamma": 1.0, "r1_every": 16,
                                        **TWO_CONV_D}),
    "default-decay0.6-r1g0.1": ("default", {"lr_decay": 0.6, "r1_gamma": 0.1, "r1_every": 16,
                                            **TWO_CONV_D}),
    "default-decay0.6-d3": ("default", {**D3, "lr_decay": 0.6}),
    "default-decay0.6-d4": ("default", {**ROUND4, "lr_decay": 0.6, "d_layers": 4}),
    "default-decay0.6-d3-lr2e-4": ("default", {**D3, "lr_decay": 0.6, "lr_g": 2e-4,
                                               "lr_d": 2e-4}),
    "default-decay0.6-d3-lr1e-4": ("default", {**D3, "lr_decay": 0.6, "lr_g": 1e-4,
                                               "lr_d": 1e-4}),
    "default-decay0.6-d3-seed1": ("default", {**D3, "lr_decay": 0.6, "seed": 1}),
    "default-decay0.6-d3-lr1e-4-seed1": ("default", {**D3, "lr_decay": 0.6, "lr_g": 1e-4,
                                                     "lr_d": 1e-4, "seed": 1}),
    "default-decay0.6-d3-lr7e-5": ("default", {**D3, "lr_decay": 0.6, "lr_g": 7e-5,
                                               "lr_d": 7e-5}),
    # issue 12, round 5: on top of round 4's default (the "default" preset: batch 32, three-
    # convolution D, decay over the last 60 %)
    "default-beta0": ("default", {**ROUND4, "beta1": 0.0, "beta2": 0.99}),
    "default-ms0.1": ("default", {**ROUND4, "mode_seeking": 0.1}),
    "default-bf16": ("default", {**ROUND4, "amp": "bf16", "channels_last": True}),
    "default-bf16-only": ("default", {**ROUND4, "amp": "bf16"}),
    "default-channels-last": ("default", {**ROUND4, "channels_last": True}),
    "default-ttur": ("default", {**ROUND4, "lr_g": 1e-4, "lr_d": 2e-4}),
    "default-ada": ("default", {**ROUND4, "augment": "ada"}),
    "default-diffaug": ("default", {**ROUND4, "augment": "diffaug"}),
    # issue 12, round 6: on top of round 4's default
    "round4-default": ("default", {**ROUND4}),
    "default-sn": ("default", {**ROUND4, "spectral_norm": "d"}),
    "default-sn-seed1": ("default", {**ROUND4, "spectral_norm": "d", "seed": 1}),
    "default-k4": ("default", {**ROUND4, "kernel_size": 4}),
    "default-sn-k4": ("default", {**ROUND4, "spectral_norm": "d", "kernel_size": 4}),
    "default-sn-k4-seed1": ("default", {**ROUND4, "spectral_norm": "d", "kernel_size": 4,
                                        "seed": 1}),
    "default-ls0.1": ("default", {**ROUND4, "label_smoothing": 0.1}),
    "default-lecam0.1": ("default", {**ROUND4, "lecam": 0.1}),
    "default-lecam0.01": ("default", {**ROUND4, "lecam": 0.01}),
    "default-mbstd4": ("default", {**ROUND4, "minibatch_std": 4}),
    # issue 12, round 12: on top of round 11's default (5x5 stride-1 layer in G, most of G's
    # arithmetic), a cheaper one for more steps (stem 3 and the 45 % decay: the default since
    # round 12)
    "round11-default": ("default", {**ROUND11}),
    "round11-default-seed1": ("default", {**ROUND11, "seed": 1}),
    "default-stem3": ("default", {**ROUND12, "stem_kernel": 3}),
    "default-stem3-seed1": ("default", {**ROUND12, "stem_kernel": 3, "seed": 1}),
    "default-stem1": ("default", {**ROUND12, "stem_kernel": 1}),
    "default-b16": ("default", {**ROUND11, "batch_size": 16, "lr_g": 1e-4, "lr_d": 1e-4}),
    "default-decay0.8": ("default", {**ROUND12, "lr_decay": 0.8}),
    "default-decay0.45": ("default", {**ROUND12, "lr_decay": 0.45}),
    "default-decay0.45-seed1": ("default", {**ROUND12, "lr_decay": 0.45, "seed": 1}),
    "default-decay0.3": ("default", {**ROUND12, "lr_decay": 0.3}),
    # issue 12, round 13: on top of round 12's default (3x3 stride-1 layer, 45 % decay), Adam
    # settings ("default-adam0-lr2e-4" is the default since round 13)
    "round12-default": ("default", {**ROUND12}),
    "default-lr2e-4": ("default", {**ROUND12, "lr_g": 2e-4, "lr_d": 2e-4}),
    "default-adam0-0.99": ("default", {**ROUND12, "beta1": 0.0, "beta2": 0.99}),
    "default-lr2e-4-seed1": ("default", {**ROUND12, "lr_g": 2e-4, "lr_d": 2e-4, "seed": 1}),
    "default-adam0-0.99-seed1": ("default", {**ROUND12, "beta1": 0.0, "beta2": 0.99,
                                             "seed": 1}),
    "default-adam0-lr2e-4": ("default", {**ROUND13}),
    "default-adam0-lr2e-4-seed1": ("default", {**ROUND13, "seed": 1}),
    "default-lr2.8e-4": ("default", {**ROUND13, "lr_g": 2.8e-4, "lr_d": 2.8e-4}),
    "mlp-decay": ("seed000-mlp", {"lr_decay": 0.3, "ema_rampup": True}),
    "mlp-cond-ms0.1": ("seed000-mlp", {"conditional": True, "mode_seeking": 0.1}),
    "mlp-cond-ms0.3-decay": ("seed000-mlp", {"conditional": True, "mode_seeking": 0.3,
                                             "lr_decay": 0.3, "ema_rampup": True}),
    "mlp-cond-ms0.1-decay": ("seed000-mlp", {"conditional": True, "mode_seeking": 0.1,
                                             "lr_decay": 0.3, "ema_rampup": True}),
    "mlp-b128-decay": ("seed000-mlp", {"batch_size": 128, "lr_g": 4e-4, "lr_d": 4e-4,
                                       "lr_decay": 0.3, "ema_rampup": True}),
}


def make_config(name: str, data_dir: str, device: str, steps: int, run_root: Path, eval_every=0):
    preset, overrides = RECIPES[name]
    values = dict(overrides, data_dir=data_dir, device=device, steps=max(1, steps),
                  run_dir=str(run_root / name), tensorboard=False, progress=False,
                  checkpoint_every=10**9, eval_every=eval_every, eval_n=5000)
    return build_config(preset, None, values)


def warm_cpu_trainer(name: str, data_dir: str, warmup: int) -> Trainer:
    """A recipe's trainer on the CPU after `warmup` steps (allocator, oneDNN kernel selection)."""
    trainer = Trainer(make_config(name, data_dir, "cpu", 1, Path("/tmp")), None)
    for _ in range(warmup):
        trainer.train_step()
    return trainer


def cpu_steps_per_second(name: str, data_dir: str, threads: int, seconds: float) -> float:
    torch.set_num_threads(threads)
    trainer = warm_cpu_trainer(name, data_dir, warmup=5)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        trainer.train_step()
        steps += 1
    return steps / (time.perf_counter() - start)


def interleaved_step_ratios(names: list[str], data_dir: str, threads: int, rounds: int = 6,
                            steps: int = 60) -> dict[str, float]:
    """Each recipe's step time ÷ the first one's, timed in one process, taking turns (`rounds` ×
    `steps` steps each): a shared machine's load then slows every contender alike."""
    torch.set_num_threads(threads)
    trainers = {name: warm_cpu_trainer(name, data_dir, warmup=20) for name in names}
    seconds = dict.fromkeys(names, 0.0)
    for _ in range(rounds):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(steps):
                trainer.train_step()
            seconds[name] += time.perf_counter() - start
    return {name: seconds[name] / seconds[names[0]] for name in names}


def track_extra_emas(trainer: Trainer, decays: list[float]) -> list[tuple[str, torch.nn.Module]]:
    """Extra EMA copies of G, updated after the trainer's own one with the same ramp-up (so one
    training run answers "which EMA decay?"); returns (label, copy) pairs."""
    copies = [(decay, copy.deepcopy(trainer.G_ema)) for decay in decays]
    own_update = trainer.update_ema

    @torch.no_grad()
    def update_all() -> None:
        own_update()
        _, params, _, buffers = trainer.ema_pairs
        for decay, module in copies:
            torch._foreach_lerp_([p.detach() for p in module.parameters()], params,
                                 1.0 - trainer.ema_decay_now(decay))
            torch._foreach_copy_(list(module.buffers()), buffers)

    trainer.update_ema = update_all
    return [(f"ema {decay}", module) for decay, module in copies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--budget-min", type=float, default=10.0)
    parser.add_argument("--device", default="cpu", help="where the budgeted training runs")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the speed test")
    parser.add_argument("--train-threads", type=int, default=0,
                        help="CPU threads for the budgeted training (default: --threads); the "
                             "step count comes from the speed test, so two recipes may train "
                             "side by side with one thread each")
    parser.add_argument("--measure-s", type=float, default=20.0)
    parser.add_argument("--step-ratios", action="store_true",
                        help="only print each recipe's step time relative to the first recipe's, "
                             "timed interleaved in one process (--threads threads)")
    parser.add_argument("--speeds", help="JSON file of measured CPU steps/s (skips measuring)")
    parser.add_argument("--measure-only", action="store_true")
    parser.add_argument("--eval-every-min", type=float, default=0,
                        help="also evaluate every this many CPU-equivalent minutes (FID curve)")
    parser.add_argument("--extra-ema", default="",
                        help="comma-separated EMA decays to track besides the recipe's own; each "
                             "is evaluated as its own row")
    parser.add_argument("--out", default="runs/recipes")
    args = parser.parse_args()
    names = args.recipes.split(",")
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from: {', '.join(RECIPES)}")
    if args.step_ratios:
        ratios = interleaved_step_ratios(names, args.data_dir, args.threads)
        for name, ratio in ratios.items():
            print(f"{name}: step time {ratio:.3f}x {names[0]}'s")
        return
    speeds = json.loads(Path(args.speeds).read_text()) if args.speeds else {}
    for name in names:
        if name not in speeds:
            speeds[name] = cpu_steps_per_second(name, args.data_dir, args.threads, args.measure_s)
            print(f"{name}: {speeds[name]:.2f} CPU steps/s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speeds.json").write_text(json.dumps(speeds, indent=2))
    if args.measure_only:
        return
    torch.set_num_threads(args.train_threads or args.threads)
    rows = []
    for name in names:
        steps = int(speeds[name] * args.budget_min * 60)
        eval_every = int(speeds[name] * args.eval_every_min * 60) if args.eval_every_min else 0
        config = make_config(name, args.data_dir, args.device, steps, out, eval_every)
        trainer = Trainer(config, RunDir.create(Path(config.run_dir)))
        extra = track_extra_emas(trainer, [float(d) for d in args.extra_ema.split(",") if d])
        summary = trainer.train()
        for label, generator in [("", trainer.sampling_generator())] + extra:
            result = evaluate_generator(generator, config, n=10000, device=trainer.device,
                                        bootstrap=100, extra_protocols=True)
            row_name = f"{name} ({label})" if label else name
            suffix = "-" + label.replace(" ", "") if label else ""
            (Path(config.run_dir) / f"eval{suffix}.json").write_text(
                json.dumps(result, indent=2) + "\n")
            rows.append((row_name, speeds[name], steps, summary.wall_time_s, result))
            print(json.dumps({"recipe": row_name, "steps": steps, **{k: result.get(k) for k in (
                "fid", "domain2_fid", "recall", "domain2_recall", "modes", "label_accuracy")}}),
                  flush=True)
    print(f"\nProtocol: {rows[0][4]['protocol']}; second evaluator: {rows[0][4]['domain2_protocol']}"
          if rows else "")
    print(f"\n| recipe | CPU steps/s | steps in {args.budget_min:g} min | domain FID [95% CI] (× floor) "
          "| domain2 FID [95% CI] (× floor) | train-split FID | recall (domain / domain2) "
          "| modes | label accuracy | train time here (s) |")
    print("|---|---:|---:|---|---|---:|---|---:|---:|---:|")
    for name, speed, steps, wall, r in rows:
        accuracy = "–" if r.get("label_accuracy") is None else f"{100 * r['label_accuracy']:.1f} %"
        print(f"| {name} | {speed:.2f} | {steps} | {fid_cell(r, '')} | {fid_cell(r, 'domain2_')} | "
              f"{r['train_fid']:.3f} | {r['recall']:.3f} / {r['domain2_recall']:.3f} | "
              f"{r['modes']} | {accuracy} | {wall:.0f} |")


def fid_cell(result: dict, prefix: str) -> str:
    low, high = result[prefix + "fid_ci95"]
    return (f"{result[prefix + 'fid']:.3f} [{low:.3f}, {high:.3f}] "
            f"({result[prefix + 'fid_over_floor']:.1f}×)")


if __name__ == "__main__":
    main()
