"""Training speed by CPU thread count and OpenMP wait policy, for the presets a user runs.

    python benchmarks/threads.py --data-dir ../shared/data --presets default,hour --rounds 3

Every setting runs in a fresh process (OpenMP reads OMP_WAIT_POLICY once, at start-up): build the
preset's `Trainer` (no run folder), 20 warm-up steps, then `--steps` timed steps. Settings take
turns for `--rounds` rounds, so a shared machine's load hits them alike; the table shows the median
steps/s per setting and its ratio to what `ganforge train` gets with nothing set (torch's own
thread count, OpenMP's default waiting). The last setting trains two runs at once, one thread
each, and counts the steps of both: what the cores give the members of an ensemble trained side
by side (`ganforge ensemble`). Run it on an otherwise idle machine: it measures what training
processes get from the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SETTINGS = {  # name -> the OpenMP variables the child gets (any not named stays unset)
    "torch default (nothing set)": {},
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "2 threads, OMP_WAIT_POLICY=PASSIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "2 threads, OMP_WAIT_POLICY=ACTIVE": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "ACTIVE"},
}
PAIR = "2 runs side by side, 1 thread each (steps of both)"
CHILD = """
import json, sys, time, torch
from ganforge.config import build_config
from ganforge.training.trainer import Trainer
preset, data_dir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = build_config(preset, None, dict(data_dir=data_dir, device="cpu", steps=10**6, minutes=0,
                                         tensorboard=False, progress=False, eval_every=0))
trainer = Trainer(config, None)
for _ in range(20):
    trainer.train_step()
start = time.perf_counter()
for _ in range(steps):
    trainer.train_step()
print(json.dumps({"steps_per_s": steps / (time.perf_counter() - start),
                  "threads": torch.get_num_threads()}))
"""


def child_env(env_changes: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(env_changes)
    return env


def measure(preset: str, data_dir: str, steps: int, env_changes: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, preset, data_dir, str(steps)],
                         env=child_env(env_changes), check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_pair(preset: str, data_dir: str, steps: int) -> dict:
    """Two training processes at once, one thread each: the sum of their steps/s."""
    children = [subprocess.Popen([sys.executable, "-c", CHILD, preset, data_dir, str(steps)],
                                 env=child_env({"OMP_NUM_THREADS": "1"}),
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise SystemExit("threads: a training process of the pair failed")
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    return {"steps_per_s": sum(r["steps_per_s"] for r in results), "threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--presets", default="default,hour")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    presets = args.presets.split(",")
    rates: dict[tuple[str, str], list[float]] = {}
    threads: dict[str, int] = {}
    for _ in range(args.rounds):
        for preset in presets:
            for name, env in SETTINGS.items():
                result = measure(preset, args.data_dir, args.steps, env)
                rates.setdefault((preset, name), []).append(result["steps_per_s"])
                threads[name] = result["threads"]
            result = measure_pair(preset, args.data_dir, args.steps)
            rates.setdefault((preset, PAIR), []).append(result["steps_per_s"])
            threads[PAIR] = result["threads"]
    print(f"{os.cpu_count()} CPUs visible; median of {args.rounds} rounds of {args.steps} steps\n")
    print("| preset | setting | torch threads | steps/s (median) | all rounds | vs nothing set |")
    print("|---|---|---:|---:|---|---:|")
    for preset in presets:
        base = statistics.median(rates[(preset, next(iter(SETTINGS)))])
        for name in [*SETTINGS, PAIR]:
            values = rates[(preset, name)]
            median = statistics.median(values)
            print(f"| {preset} | {name} | {threads[name]} | {median:.2f} | "
                  f"{', '.join(f'{v:.2f}' for v in values)} | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
